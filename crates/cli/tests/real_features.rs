//! `kbtf -J --btf_features=...` with the features that change what is encoded
//! (`consistent_func`, `optimized_func`: pahole 1.25 to 1.27; `global_var`: pahole 1.28) on
//! Debian's 6.1 `-dbg` vmlinux, end to end through the binary. No pahole of those versions is
//! installable here to compare with, so the checks are: the kernel's rules (`validate`), the
//! counts each mode gives on this fixed kernel (docs/encoder.md, "`--btf_features`"), how the
//! modes relate to the default output, and the same bytes for 1 and 2 threads. The 6.1
//! kernel itself loading these outputs is `cargo xtask btf-load` (docs/encoder.md).
//!
//! Ignored by default: `cargo xtask test` runs them with the cache paths in `KBTF_*`.

use std::collections::BTreeSet;

use kbtf_btf::validate::validate;
use kbtf_btf::{read_file, Btf, TypeData};
use kbtf_testkit::env_path;

const FLAGS: &str = "encode_force,var,float,enum64,decl_tag,type_tag";

fn encode(features: &str, jobs: &str, out: &std::path::Path) -> Btf {
    let vmlinux = env_path("KBTF_VMLINUX");
    let features = format!("--btf_features={FLAGS}{features}");
    let detached = format!("--btf_encode_detached={}", out.display());
    let vmlinux = vmlinux.display().to_string();
    let args = [
        "-J",
        "--lang_exclude=rust",
        jobs,
        &features,
        &detached,
        &vmlinux,
    ];
    let (code, _, stderr) = kbtf_testkit::run(env!("CARGO_BIN_EXE_kbtf"), &args);
    assert_eq!(code, 0, "kbtf -J {features}: {stderr}");
    read_file(out, None).unwrap().btf
}

/// FUNC names, VAR count, DATASEC names.
fn census(btf: &Btf) -> (BTreeSet<String>, usize, Vec<String>) {
    let mut funcs = BTreeSet::new();
    let mut vars = 0;
    let mut secs = Vec::new();
    for (_, t) in btf.iter() {
        match t.data {
            TypeData::Func { .. } => {
                funcs.insert(btf.str_at(t.name_off).into_owned());
            }
            TypeData::Var { .. } => vars += 1,
            TypeData::Datasec { .. } => secs.push(btf.str_at(t.name_off).into_owned()),
            _ => {}
        }
    }
    (funcs, vars, secs)
}

#[test]
#[ignore]
fn vmlinux_feature_modes() {
    let dir = tempfile::tempdir().unwrap();
    let out = |n: &str| dir.path().join(n);
    let default = encode("", "-j", &out("default.btf"));
    let (default_funcs, default_vars, _) = census(&default);
    assert_eq!((default_funcs.len(), default_vars), (41605, 356));

    let consistent = encode(",consistent_func", "-j", &out("c.btf"));
    let optimized = encode(",optimized_func", "-j", &out("o.btf"));
    let both = encode(",optimized_func,consistent_func", "-j1", &out("oc1.btf"));
    let both2 = encode(",optimized_func,consistent_func", "-j2", &out("oc2.btf"));
    let all = encode(
        ",optimized_func,consistent_func,global_var",
        "-j",
        &out("all.btf"),
    );
    assert_eq!(
        std::fs::read(out("oc1.btf")).unwrap(),
        std::fs::read(out("oc2.btf")).unwrap(),
        "optimized_func,consistent_func: -j1 and -j2 differ"
    );
    for (name, btf) in [
        ("consistent_func", &consistent),
        ("optimized_func", &optimized),
        ("optimized_func,consistent_func", &both2),
        ("all", &all),
    ] {
        let report = validate(btf);
        assert!(
            report.is_empty(),
            "{name}: {} problems, first {:?}",
            report.len(),
            report.first()
        );
    }

    let (c, _, _) = census(&consistent);
    let (o, _, _) = census(&optimized);
    let (oc, _, _) = census(&both);
    let (a, all_vars, secs) = census(&all);
    // consistent_func only removes names; optimized_func only adds (clones); together they do
    // both, and global_var changes no function.
    assert!(c.is_subset(&default_funcs) && default_funcs.is_subset(&o));
    let dropped: BTreeSet<String> = default_funcs.difference(&c).cloned().collect();
    assert_eq!(oc, o.difference(&dropped).cloned().collect());
    assert_eq!(a, oc);
    assert_eq!((c.len(), o.len(), oc.len()), (41526, 42316, 42237));
    // Dropped for an inconsistent prototype: `strnlen` (fortify's inline with
    // `__kernel_size_t`, lib/string.c's with `size_t`) and `wakeup_show` (kobject and device
    // attributes); kept as consistent: `memset` (one prototype everywhere).
    for dropped in ["strnlen", "wakeup_show"] {
        assert!(
            default_funcs.contains(dropped) && !c.contains(dropped),
            "{dropped}"
        );
    }
    assert!(c.contains("memset"));
    assert_eq!(all_vars, 22158);
    for sec in [".data", ".bss", ".rodata", ".data..percpu", ".init.data"] {
        assert!(secs.iter().any(|s| s == sec), "no DATASEC {sec}: {secs:?}");
    }
}
