//! Rewriting a module file: signature stripped and reported, sections set, file replaced
//! atomically with its mode; on error the file is unchanged.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use kbtf_emit::elf::section;
use kbtf_emit::{rewrite_file, ElfOutput};

fn testdata(rel: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata")
            .join(rel),
    )
    .unwrap()
}

#[test]
fn signed_module_rewritten_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("dummy.ko");
    std::fs::write(&p, testdata("modules-6.1/dummy.ko")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    let btf = testdata("modules-6.1/dummy.btf");
    let note = [0u8; 8];
    let out = ElfOutput {
        btf: &btf,
        btf_base: Some(b"base"),
        fingerprint_note: Some((".note.test", &note)),
    };
    let sig = rewrite_file(&p, &out).unwrap();
    assert!(sig.is_some(), "the signature was stripped and reported");
    let new = std::fs::read(&p).unwrap();
    assert_eq!(section(&new, ".BTF").unwrap(), Some(&btf[..]));
    assert_eq!(section(&new, ".BTF.base").unwrap(), Some(&b"base"[..]));
    assert_eq!(section(&new, ".note.test").unwrap(), Some(&note[..]));
    assert_eq!(kbtf_emit::modsig::parse(&new).unwrap(), None);
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn errors_leave_the_file_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("not-elf.ko");
    std::fs::write(
        &p,
        b"this is not an ELF file, but it is long enough to look at",
    )
    .unwrap();
    let before = std::fs::read(&p).unwrap();
    let out = ElfOutput {
        btf: b"x",
        btf_base: None,
        fingerprint_note: None,
    };
    let err = rewrite_file(&p, &out).unwrap_err().to_string();
    assert!(
        err.contains("not-elf.ko") && err.contains("not an ELF file"),
        "{err}"
    );
    assert_eq!(std::fs::read(&p).unwrap(), before);
    let missing = dir.path().join("missing.ko");
    let err = rewrite_file(&missing, &out).unwrap_err().to_string();
    assert!(err.contains("missing.ko"), "{err}");
    assert!(!missing.exists());
}
