//! Objects of other architectures, built by Debian's cross compilers at test time and
//! compared with pahole 1.24's BTF of the same objects, byte for byte.
//!
//! A big-endian input (s390x, which Debian builds with BTF) gets big-endian BTF, as pahole
//! writes it (`btf__set_endianness` from the ELF header): an s390x kernel reads its BTF in
//! its own byte order only. Before, kbtf wrote little-endian BTF for every input: the same
//! types, by meaning, but not BTF an s390x kernel would load. riscv64 and ppc64el objects
//! bring their own relocation types for the debug sections.
//!
//! The cross compilers (`gcc-s390x-linux-gnu`, `gcc-riscv64-linux-gnu`,
//! `gcc-powerpc64le-linux-gnu`, installed by `.ci/run`) and pahole are required under
//! `KBTF_REQUIRE_TOOLS` (`cargo xtask test` sets it), skipped with a note otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use kbtf_testkit::testdata;
use object::{Object, ObjectSection};

const S390X: &str = "s390x-linux-gnu-gcc";

fn kbtf(args: &[&str]) -> (i32, String, String) {
    kbtf_testkit::run(env!("CARGO_BIN_EXE_kbtf"), args)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `testdata/dwarf/src/STEM.c` compiled by `cc -O2 -gdwarf-VERSION` into `dir`.
fn compile(cc: &str, version: u8, dir: &Path, stem: &str) -> PathBuf {
    let o = dir.join(format!("{cc}.{stem}.dwarf{version}.o"));
    let status = Command::new(cc)
        .args(["-O2", &format!("-gdwarf-{version}"), "-c", "-o"])
        .arg(&o)
        .arg(testdata(&format!("dwarf/src/{stem}.c")))
        .status()
        .unwrap_or_else(|e| panic!("running {cc}: {e}"));
    assert!(status.success(), "{cc} failed on {stem}.c");
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
    if !kbtf_testkit::have_tool(S390X) || !kbtf_testkit::have_tool("pahole") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let records = compile(S390X, 5, dir.path(), "records");
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
    let types = compile(S390X, 5, dir.path(), "types");
    let base = dir.path().join("base.btf");
    pahole(&[], &types, &base);
    let funcs = compile(S390X, 5, dir.path(), "funcs");
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

/// riscv64 and ppc64el objects, DWARF 4 and 5, every fixture source: kbtf's BTF is pahole's,
/// detached and written into the object.
#[test]
fn riscv64_and_ppc64el_objects_equal_pahole() {
    if !kbtf_testkit::have_tool("pahole") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for cc in ["riscv64-linux-gnu-gcc", "powerpc64le-linux-gnu-gcc"] {
        if !kbtf_testkit::have_tool(cc) {
            continue;
        }
        for stem in ["enums", "funcs", "records", "types", "vars"] {
            for version in [4, 5] {
                let o = compile(cc, version, dir.path(), stem);
                let what = o.file_name().unwrap().to_string_lossy().into_owned();
                let want = pahole(&[], &o, &o.with_extension("pahole.btf"));
                let out = o.with_extension("btf");
                let detached = format!("--btf_encode_detached={}", out.display());
                let (code, _, err) = kbtf(&["-J", "--btf_gen_floats", &detached, &s(&o)]);
                assert_eq!(code, 0, "{what}: {err}");
                same(&std::fs::read(&out).unwrap(), &want, &what);
                let (code, _, err) = kbtf(&["-J", "--btf_gen_floats", &s(&o)]);
                assert_eq!(code, 0, "{what}: {err}");
                let data = std::fs::read(&o).unwrap();
                let file = object::File::parse(&*data).unwrap();
                let btf = file.section_by_name(".BTF").unwrap().data().unwrap();
                same(btf, &want, &format!("{what}, into the ELF file"));
            }
        }
    }
}
