//! The command lines kbuild and distro scripts pass to pahole, parsed.

use super::args::{parse, PaholeArgs};
use super::features::Features;

fn args(s: &str) -> anyhow::Result<PaholeArgs> {
    parse(&s.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
}

#[test]
fn linux_6_1_vmlinux_and_module() {
    let a = args("-J -j --btf_gen_floats --lang_exclude=rust .tmp_vmlinux.btf").unwrap();
    assert!(a.encode);
    assert_eq!(a.jobs, Some(0));
    assert_eq!(a.lang_exclude, vec!["rust"]);
    assert!(a.features.float && a.features.var && a.features.enum64);
    assert_eq!(a.files, vec![std::path::PathBuf::from(".tmp_vmlinux.btf")]);

    let m =
        args("-J -j --btf_gen_floats --lang_exclude=rust --btf_base vmlinux drivers/net/dummy.ko")
            .unwrap();
    assert_eq!(m.btf_base.as_deref(), Some(std::path::Path::new("vmlinux")));
    assert_eq!(m.files.len(), 1);
}

#[test]
fn attached_and_bare_jobs() {
    assert_eq!(args("-J -j16 x").unwrap().jobs, Some(16));
    assert_eq!(args("-J -j x").unwrap().jobs, Some(0));
    assert_eq!(args("-Jj4 x").unwrap().jobs, Some(4));
    assert_eq!(args("--jobs=3 -J x").unwrap().jobs, Some(3));
    assert_eq!(args("-J x").unwrap().jobs, None);
    // kbuild can pass both; the last wins.
    assert_eq!(args("-J -j -j16 x").unwrap().jobs, Some(16));
}

#[test]
fn btf_features_replace_the_defaults() {
    let a = args("-J --btf_features=encode_force,var,float,enum64,decl_tag,type_tag,optimized_func,consistent_func,decl_tag_kfuncs x").unwrap();
    assert!(
        a.features.var
            && a.features.float
            && a.features.optimized_func
            && a.features.decl_tag_kfuncs
    );
    assert!(!a.features.distilled_base);
    // Only the listed ones.
    let b = args("-J --btf_features=float x").unwrap();
    assert!(b.features.float && !b.features.var && !b.features.enum64);
    // Repeated options add up (kbuild's module line adds distilled_base).
    let c = args("-J --btf_features=var,float --btf_features=distilled_base x").unwrap();
    assert!(c.features.var && c.features.float && c.features.distilled_base);
    // `+` adds to the standard set; `all` is the standard set.
    let d = args("-J --btf_features=+distilled_base x").unwrap();
    assert!(d.features.var && d.features.consistent_func && d.features.distilled_base);
    let e = args("-J --btf_features=all x").unwrap();
    assert!(e.features.decl_tag_kfuncs && !e.features.reproducible_build && !e.features.global_var);
    // Unknown names are ignored, unless strict.
    assert!(
        args("-J --btf_features=var,nonesuch x")
            .unwrap()
            .features
            .var
    );
    let err = args("-J --btf_features_strict=var,nonesuch x")
        .unwrap_err()
        .to_string();
    assert!(err.contains("'nonesuch' is not supported"), "{err}");
}

#[test]
fn classic_skip_flags() {
    let a = args("-J --skip_encoding_btf_vars --skip_encoding_btf_enum64 --skip_encoding_btf_decl_tag --skip_encoding_btf_type_tag x").unwrap();
    assert_eq!(
        a.features,
        Features {
            var: false,
            enum64: false,
            decl_tag: false,
            type_tag: false,
            ..Features::default()
        }
    );
    let b = args("-J --skip_encoding_btf_inconsistent_proto --btf_gen_optimized x").unwrap();
    assert!(b.features.consistent_func && b.features.optimized_func);
}

#[test]
fn detached_output() {
    let a = args("--btf_encode_detached out.btf vmlinux").unwrap();
    assert!(a.encode);
    assert_eq!(a.detached.as_deref(), Some(std::path::Path::new("out.btf")));
    let b = args("-J --btf_encode_detached=out.btf vmlinux").unwrap();
    assert_eq!(b.detached.as_deref(), Some(std::path::Path::new("out.btf")));
}

#[test]
fn unknown_flags_are_errors() {
    let e = args("-J --reorganize x").unwrap_err().to_string();
    assert!(e.contains("unknown pahole flag --reorganize"), "{e}");
    let e = args("-J -C foo x").unwrap_err().to_string();
    assert!(e.contains("unknown pahole flag -C"), "{e}");
    let e = args("-J --btf_base").unwrap_err().to_string();
    assert!(e.contains("--btf_base needs a value"), "{e}");
    let e = args("-J -jx f").unwrap_err().to_string();
    assert!(e.contains("bad thread count"), "{e}");
}

/// scripts/Makefile.btf of newer kernels (6.8 to 7.0): `-j$(JOBS)` (bare `-j` when JOBS is
/// empty), the feature list, and later additions kbtf does not know yet (`attributes`,
/// `kind_layout`), which pahole ignores and so must we.
#[test]
fn newer_kbuild_lines() {
    let line = "-J -j --btf_features=encode_force,var,float,enum64,decl_tag,type_tag,optimized_func,consistent_func,decl_tag_kfuncs \
                --btf_features=attributes,kind_layout --btf_features=reproducible_build \
                --btf_features=distilled_base --btf_base vmlinux --lang_exclude=rust mod.ko";
    let a = args(line).unwrap();
    assert_eq!(a.jobs, Some(0));
    let f = a.features;
    assert!(
        f.encode_force && f.var && f.float && f.enum64 && f.consistent_func && f.optimized_func
    );
    assert!(f.decl_tag_kfuncs && f.reproducible_build && f.distilled_base && !f.global_var);
    assert_eq!(a.files, vec![std::path::PathBuf::from("mod.ko")]);
    let b = args("-J -j16 --btf_gen_floats --skip_encoding_btf_inconsistent_proto --btf_gen_optimized .tmp_vmlinux1").unwrap();
    assert_eq!(b.jobs, Some(16));
    assert!(b.features.float && b.features.consistent_func && b.features.optimized_func);
}
