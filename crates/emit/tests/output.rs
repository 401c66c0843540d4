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

/// Writing the rewritten file as edits over the old one, the kept bytes copied file to file
/// (how kbtf writes a vmlinux), gives the same bytes as rewriting it in memory: `.BTF`
/// replaced in place (smaller), moved to the end (larger), and new sections added.
#[test]
fn streamed_rewrite_equals_the_in_memory_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let src_path = dir.path().join("dummy.ko");
    let old = testdata("modules-6.1/dummy.ko");
    std::fs::write(&src_path, &old).unwrap();
    let small = b"\x9f\xeb\x01\x00tiny".to_vec();
    let large = testdata("modules-6.1/tun.btf");
    let note = [7u8; 12];
    for (btf, base, note) in [
        (&small, None, None),
        (&large, None, None),
        (
            &large,
            Some(&b"distilled base"[..]),
            Some((".note.test", &note[..])),
        ),
        (&small, Some(&b"distilled base"[..]), None),
    ] {
        let out = ElfOutput {
            btf,
            btf_base: base,
            fingerprint_note: note,
        };
        let in_memory = kbtf_emit::rewrite(&old, &out).unwrap().bytes;
        let (patched, sig) = kbtf_emit::rewrite_patched(&old, &out).unwrap();
        assert!(sig.is_some());
        let src = std::fs::File::open(&src_path).unwrap();
        let dst_path = dir.path().join("out.ko");
        kbtf_emit::write_atomic_with(&dst_path, |f| patched.write_to(Some(&src), f)).unwrap();
        let streamed = std::fs::read(&dst_path).unwrap();
        assert!(
            streamed == in_memory,
            "streamed and in-memory rewrites differ"
        );
        assert_eq!(section(&streamed, ".BTF").unwrap(), Some(&btf[..]));
    }
}
