//! A big-endian input (s390x, which Debian builds with BTF) gets big-endian BTF, as pahole
//! writes it (`btf__set_endianness` from the ELF header): an s390x kernel reads its BTF in
//! its own byte order only. Before, kbtf wrote little-endian BTF for every input: the same
//! types, by meaning, but not BTF an s390x kernel would load.
//!
//! The objects are compiled at test time by Debian's s390x cross compiler
//! (`gcc-s390x-linux-gnu`) and compared with pahole 1.24's BTF of the same objects; both
//! tools are required under `KBTF_REQUIRE_TOOLS` (`cargo xtask test` sets it), skipped with a
//! note otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use kbtf_testkit::testdata;
use object::{Object, ObjectSection};

const CC: &str = "s390x-linux-gnu-gcc";

fn kbtf(args: &[&str]) -> (i32, String, String) {
    kbtf_testkit::run(env!("CARGO_BIN_EXE_kbtf"), args)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `testdata/dwarf/src/STEM.c` compiled for s390x into `dir`.
fn compile(dir: &Path, stem: &str) -> PathBuf {
    let o = dir.join(format!("{stem}.o"));
    let status = Command::new(CC)
        .args(["-O2", "-gdwarf-5", "-c", "-o"])
        .arg(&o)
        .arg(testdata(&format!("dwarf/src/{stem}.c")))
        .status()
        .expect("running the s390x compiler");
    assert!(status.success(), "{CC} failed on {stem}.c");
    o
}

/// `pahole -J --btf_gen_floats [extra] --btf_encode_detached=OUT OBJ`, OUT's bytes.
fn pahole(extra: &[&str], obj: &Path, out: &Path) -> Vec<u8> {
    let status = Command::new("pahole")
        .args(["-J", "--btf_gen_floats"])
        .args(extra)
        .arg(format!("--btf_encode_detached={}", out.display()))
        .arg(obj)
        .status()
        .expect("running pahole");
    assert!(status.success(), "pahole -J {}", obj.display());
    std::fs::read(out).unwrap()
}

/// Byte-identical, or a failure that shows how the two begin (the magic says the order).
fn same(got: &[u8], want: &[u8], what: &str) {
    assert!(
        got == want,
        "{what}: kbtf's BTF ({} bytes, starting {:02x?}) differs from pahole's ({} bytes, \
         starting {:02x?})",
        got.len(),
        &got[..got.len().min(8)],
        want.len(),
        &want[..want.len().min(8)]
    );
}

#[test]
fn big_endian_input_gets_big_endian_btf_as_pahole_writes_it() {
    if !kbtf_testkit::have_tool(CC) || !kbtf_testkit::have_tool("pahole") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let records = compile(dir.path(), "records");
    let want = pahole(&[], &records, &dir.path().join("records.pahole.btf"));
    assert_eq!(&want[..2], &[0xeb, 0x9f], "pahole's BTF is big-endian");

    // Detached.
    let out = dir.path().join("records.btf");
    let detached = format!("--btf_encode_detached={}", out.display());
    let (code, _, err) = kbtf(&["-J", "--btf_gen_floats", &detached, &s(&records)]);
    assert_eq!(code, 0, "{err}");
    same(&std::fs::read(&out).unwrap(), &want, "detached");

    // Into the object's `.BTF`.
    let (code, _, err) = kbtf(&["-J", "--btf_gen_floats", &s(&records)]);
    assert_eq!(code, 0, "{err}");
    let data = std::fs::read(&records).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let btf = file.section_by_name(".BTF").unwrap().data().unwrap();
    same(btf, &want, "into the ELF file");

    // Split on a big-endian base.
    let types = compile(dir.path(), "types");
    let base = dir.path().join("base.btf");
    pahole(&[], &types, &base);
    let funcs = compile(dir.path(), "funcs");
    let with_base = ["--btf_base", &s(&base)];
    let want = pahole(&with_base, &funcs, &dir.path().join("funcs.pahole.btf"));
    let out = dir.path().join("funcs.btf");
    let detached = format!("--btf_encode_detached={}", out.display());
    let (code, _, err) = kbtf(&[
        "-J",
        "--btf_gen_floats",
        "--btf_base",
        &s(&base),
        &detached,
        &s(&funcs),
    ]);
    assert_eq!(code, 0, "{err}");
    same(
        &std::fs::read(&out).unwrap(),
        &want,
        "split on a big-endian base",
    );
}
