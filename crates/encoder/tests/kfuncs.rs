//! `decl_tag_kfuncs`: the kfuncs of `.BTF_ids` get DECL_TAGs `bpf_kfunc` (and `bpf_fastcall`)
//! on their FUNCs. The fixture `testdata/encoder/kfuncs.o` lays out kfunc sets as Linux 6.9+
//! does, with the cases in its source's comments; its reference is pahole 1.30's BTF of it
//! (`kfuncs.pahole130.btf`, see testdata/encoder/README.md). Update the golden dump with
//! `UPDATE_EXPECT=1 cargo test -p kbtf-encoder --test kfuncs`.

mod common;

use expect_test::{expect, expect_file, Expect};
use kbtf_btf::diff::{diff, DiffOptions};
use kbtf_btf::{Btf, TypeData};
use kbtf_encoder::{encode, EncodeOptions, ErrorKind};

fn fixture(name: &str) -> (std::path::PathBuf, Vec<u8>) {
    let path = common::repo().join("testdata/encoder").join(name);
    let data = std::fs::read(&path).unwrap();
    (path, data)
}

fn kfunc_opts() -> EncodeOptions {
    EncodeOptions {
        decl_tag_kfuncs: true,
        ..EncodeOptions::default()
    }
}

fn encode_kfuncs(opts: &EncodeOptions) -> Btf {
    let (path, data) = fixture("kfuncs.o");
    encode(&path, &data, None, opts).unwrap()
}

/// Each FUNC, with the values of the DECL_TAGs on it.
fn func_tags(btf: &Btf) -> String {
    let name = |off| btf.str_at(off).into_owned();
    let mut out = String::new();
    for (id, t) in btf.iter() {
        if !matches!(t.data, TypeData::Func { .. }) {
            continue;
        }
        let tags: Vec<String> = btf
            .iter()
            .filter(
                |(_, d)| matches!(d.data, TypeData::DeclTag { ty, component_idx: -1 } if ty == id),
            )
            .map(|(_, d)| name(d.name_off))
            .collect();
        out.push_str(&format!("{}: {}\n", name(t.name_off), tags.join(" ")));
    }
    out
}

fn check_tags(opts: &EncodeOptions, expected: Expect) {
    expected.assert_eq(&func_tags(&encode_kfuncs(opts)));
}

#[test]
fn kfuncs_in_flagged_sets_are_tagged() {
    check_tags(
        &kfunc_opts(),
        expect![[r#"
            plain_function: 
            not_kfunc_list: 
            not_kfunc_old_set: 
            kf_twice: bpf_kfunc
            kf__odd: bpf_kfunc
            kf_release: bpf_kfunc
            kf_fast: bpf_kfunc bpf_fastcall
            kf_acquire: bpf_kfunc
        "#]],
    );
}

#[test]
fn without_the_feature_or_without_decl_tags_nothing_is_tagged() {
    let plain = func_tags(&encode_kfuncs(&EncodeOptions::default()));
    assert!(!plain.contains("bpf_"), "{plain}");
    let no_decl_tags = EncodeOptions {
        skip_decl_tag: true,
        ..kfunc_opts()
    };
    assert_eq!(func_tags(&encode_kfuncs(&no_decl_tags)), plain);
    assert_eq!(plain.lines().count(), 8);
}

/// Where the tags land: right after their FUNC, as pahole 1.28 and later put them.
#[test]
fn kfuncs_raw() {
    let mut out = Vec::new();
    kbtf_btf::dump::dump_raw(&encode_kfuncs(&kfunc_opts()), &mut out).unwrap();
    expect_file!["golden/kfuncs.raw"].assert_eq(&String::from_utf8(out).unwrap());
}

/// `ours`, deduplicated, equals pahole 1.30's BTF in `reference` by meaning; returns that BTF.
fn assert_matches_pahole(ours: &Btf, reference: &str) -> Btf {
    let (path, _) = fixture(reference);
    let pahole = kbtf_btf::read_file(&path, None).unwrap().btf;
    let d = diff(
        &kbtf_dedup::dedup(ours, &Default::default()).unwrap().btf,
        &pahole,
        &DiffOptions::default(),
    );
    assert!(
        d.is_empty(),
        "differences with pahole 1.30 ({reference}):\n{d}"
    );
    pahole
}

#[test]
fn kfuncs_match_pahole_1_30() {
    let pahole = assert_matches_pahole(&encode_kfuncs(&kfunc_opts()), "kfuncs.pahole130.btf");
    // The comparison would pass without tags on either side only if both had none.
    assert_eq!(func_tags(&pahole).matches("bpf_kfunc").count(), 5);
}

/// Big-endian: the sets' words are read in the file's byte order, and the BTF is written in it.
#[test]
fn big_endian_kfuncs_match_pahole_1_30() {
    let (path, data) = fixture("kfuncs-s390x.o");
    let ours = encode(&path, &data, None, &kfunc_opts()).unwrap();
    assert_eq!(ours.endian(), kbtf_btf::Endian::Big);
    assert_matches_pahole(&ours, "kfuncs-s390x.pahole130.btf");
    assert_eq!(func_tags(&ours), func_tags(&encode_kfuncs(&kfunc_opts())));
}

#[test]
fn kfuncs_threads_give_the_same_bytes() {
    let one = encode_kfuncs(&EncodeOptions {
        threads: 1,
        ..kfunc_opts()
    });
    let two = encode_kfuncs(&EncodeOptions {
        threads: 2,
        ..kfunc_opts()
    });
    assert_eq!(one.to_bytes(), two.to_bytes());
}

#[test]
fn a_pair_outside_the_section_is_an_error_naming_it() {
    let (path, data) = fixture("kfuncs-truncated.o");
    let e = encode(&path, &data, None, &kfunc_opts()).unwrap_err();
    assert!(
        matches!(e.kind, ErrorKind::Kfunc { ref name, offset: 8 } if name == "kf_cut"),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.contains("kfuncs-truncated.o") && text.contains(".BTF_ids") && text.contains("0x8"),
        "{text}"
    );
    // Without the feature the section is not read.
    encode(&path, &data, None, &EncodeOptions::default()).unwrap();
}

/// With `consistent_func` the FUNCs are held back and written after the last unit (sorted by
/// name): the tags follow them there.
#[test]
fn held_back_functions_are_tagged_too() {
    let held = EncodeOptions {
        consistent_func: true,
        optimized_func: true,
        ..kfunc_opts()
    };
    let sorted = |s: String| {
        let mut lines: Vec<String> = s.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    assert_eq!(
        sorted(func_tags(&encode_kfuncs(&held))),
        sorted(func_tags(&encode_kfuncs(&kfunc_opts())))
    );
}
