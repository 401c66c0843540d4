//! Test helpers shared by the encoder's test files.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (fixtures live in `testdata/`).
#[allow(dead_code)] // not every test file reads fixtures
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Compiles `source` with `gcc -g -O0 -c` and `flags` into a temp directory; `None`, with a
/// note, without gcc (a failure with `KBTF_REQUIRE_TOOLS` set: `kbtf_testkit::have_tool`).
#[allow(dead_code)] // not every test file compiles C
pub fn compile(source: &str, flags: &[&str]) -> Option<(tempfile::TempDir, PathBuf)> {
    if !kbtf_testkit::have_tool("gcc") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("t.c");
    let o = dir.path().join("t.o");
    std::fs::write(&c, source).unwrap();
    let status = Command::new("gcc")
        .args(["-g", "-O0"])
        .args(flags)
        .arg("-c")
        .arg("-o")
        .arg(&o)
        .arg(&c)
        .status()
        .expect("running gcc");
    assert!(status.success(), "gcc failed on the test source");
    Some((dir, o))
}

/// A DATASEC's entries as `name(linkage)@offset+size`, linkage `static` or `global`.
#[allow(dead_code)] // not every test file looks at variables
pub fn datasec_entries(btf: &kbtf_btf::Btf, vars: &[kbtf_btf::VarSecinfo]) -> Vec<String> {
    vars.iter()
        .map(|v| {
            let var = btf.type_by_id(v.ty).unwrap();
            let linkage = match var.data {
                kbtf_btf::TypeData::Var { linkage, .. } if linkage == kbtf_btf::VAR_STATIC => {
                    "static"
                }
                _ => "global",
            };
            let name = btf.str_at(var.name_off);
            format!("{name}({linkage})@{}+{}", v.offset, v.size)
        })
        .collect()
}
