//! Reading BTF out of ELF files: a module's `.BTF`, and a `.BTF.base` section taken as the base.

use std::path::Path;
use std::process::Command;

use kbtf_btf::{read_base, read_file, Source};

fn testdata(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

#[test]
fn module_btf_from_elf_equals_raw_section() {
    let base = read_base(&testdata("vmlinux-6.1.btf")).unwrap();
    let elf = read_file(&testdata("modules-6.1/dummy.ko"), Some(base.clone())).unwrap();
    let raw = read_file(&testdata("modules-6.1/dummy.btf"), Some(base)).unwrap();
    assert_eq!(elf.source, Source::ElfSection);
    assert_eq!(raw.source, Source::Raw);
    assert_eq!(
        elf.btf.to_bytes(),
        std::fs::read(testdata("modules-6.1/dummy.btf")).unwrap()
    );
    assert_eq!(elf.btf.start_id(), 95247);
}

/// A module carrying its own base in `.BTF.base` (as 6.11+ distilled module BTF does) is read
/// on top of that base, whatever base the caller passes.
#[test]
fn btf_base_section_is_the_base() {
    let dir = tempfile::tempdir().unwrap();
    let ko = dir.path().join("dummy.ko");
    let status = Command::new("objcopy")
        .arg(format!(
            "--add-section=.BTF.base={}",
            testdata("vmlinux-6.1.btf").display()
        ))
        .arg(testdata("modules-6.1-dbg/dummy.ko"))
        .arg(&ko)
        .status()
        .expect("objcopy (binutils) is needed by this test");
    assert!(status.success());
    let f = read_file(&ko, None).unwrap();
    assert_eq!(f.source, Source::ElfWithDistilledBase);
    assert_eq!(f.btf.base().unwrap().own_types().len(), 95246);
    assert_eq!(f.btf.name_of(95250), "dummy_cleanup_module");
}
