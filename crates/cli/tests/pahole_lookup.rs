//! `KBTF_PAHOLE_VERSION=v1.30`: function names looked up as pahole 1.30 looks them up
//! (`kbtf_encoder::input::PaholeTable`). An object where a local `foo.part.0` comes before
//! the global `foo` in the symbol table, and the table's binary search meets the copy first:
//! pahole 1.30 misses `foo` and, without `optimized_func`, leaves its FUNC out; reporting
//! v1.24 (the default), kbtf encodes it, byte-identical to pahole 1.24. The real tier holds
//! kbtf to pahole 1.30 itself on every Debian module (`real_pahole_next.rs`).
//!
//! Needs gcc (and pahole 1.24 for the default's reference).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use kbtf_btf::{Btf, TypeData};

/// `a`, `foo` and a local `foo.part.0` (the symbol gcc gives a split-off part of `foo`).
const SOURCE: &str = r#"
int a(int x) { return x + 1; }
int foo(int y) { return y * 2; }
__asm__(".text\n.local foo.part.0\n.type foo.part.0, @function\nfoo.part.0:\nret\n.size foo.part.0, 1\n");
"#;

fn object(dir: &Path) -> PathBuf {
    let c = dir.join("lookup.c");
    std::fs::write(&c, SOURCE).unwrap();
    let o = dir.join("lookup.o");
    let status = Command::new("gcc")
        .args(["-O0", "-g", "-c", "-o"])
        .arg(&o)
        .arg(&c)
        .status()
        .expect("running gcc");
    assert!(status.success(), "gcc {}", c.display());
    o
}

/// FUNC names of `kbtf -J` on `obj` with `features`, reporting `version` (or the default).
fn funcs(obj: &Path, out: &Path, version: Option<&str>, features: &str) -> BTreeSet<String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kbtf"));
    cmd.env_remove("KBTF_PAHOLE_VERSION");
    if let Some(v) = version {
        cmd.env("KBTF_PAHOLE_VERSION", v);
    }
    let o = cmd
        .arg("-J")
        .arg(format!("--btf_features={features}"))
        .arg(format!("--btf_encode_detached={}", out.display()))
        .arg(obj)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let btf = Btf::parse(&std::fs::read(out).unwrap(), None).unwrap();
    btf.iter()
        .filter(|(_, t)| matches!(t.data, TypeData::Func { .. }))
        .map(|(_, t)| btf.str_at(t.name_off).into_owned())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn pahole_1_30_misses_a_name_after_its_suffixed_copy() {
    let dir = tempfile::tempdir().unwrap();
    let obj = object(dir.path());
    let out = dir.path().join("out.btf");
    let plain = "encode_force,var,float,enum64,decl_tag,type_tag";
    assert_eq!(funcs(&obj, &out, None, plain), set(&["a", "foo"]));
    assert_eq!(funcs(&obj, &out, Some("v1.29"), plain), set(&["a", "foo"]));
    assert_eq!(funcs(&obj, &out, Some("v1.30"), plain), set(&["a"]));
    assert_eq!(funcs(&obj, &out, Some("1.31"), plain), set(&["a"]));
    // `optimized_func` finds it by its prefix, as pahole 1.30 does.
    let optimized = format!("{plain},optimized_func");
    assert_eq!(
        funcs(&obj, &out, Some("v1.30"), &optimized),
        set(&["a", "foo"])
    );
}

#[test]
fn default_lookup_is_pahole_1_24s() {
    let dir = tempfile::tempdir().unwrap();
    let obj = object(dir.path());
    let (ours, theirs) = (dir.path().join("k.btf"), dir.path().join("p.btf"));
    let o = Command::new(env!("CARGO_BIN_EXE_kbtf"))
        .env_remove("KBTF_PAHOLE_VERSION")
        .args(["-J", "--btf_gen_floats"])
        .arg(format!("--btf_encode_detached={}", ours.display()))
        .arg(&obj)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let status = Command::new("pahole")
        .args(["-J", "--btf_gen_floats"])
        .arg(format!("--btf_encode_detached={}", theirs.display()))
        .arg(&obj)
        .status()
        .expect("running pahole");
    assert!(status.success());
    assert_eq!(
        std::fs::read(&ours).unwrap(),
        std::fs::read(&theirs).unwrap()
    );
}

#[test]
fn a_reported_version_that_is_not_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let obj = object(dir.path());
    let o = Command::new(env!("CARGO_BIN_EXE_kbtf"))
        .env("KBTF_PAHOLE_VERSION", "latest")
        .arg("-J")
        .arg(format!(
            "--btf_encode_detached={}",
            dir.path().join("x.btf").display()
        ))
        .arg(&obj)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("KBTF_PAHOLE_VERSION") && err.contains("v1.30"),
        "{err}"
    );
}
