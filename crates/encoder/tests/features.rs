//! The `--btf_features` modes that change what is encoded: `consistent_func`,
//! `optimized_func` (pahole 1.25 to 1.27) and `global_var` (pahole 1.28), on the fixtures of
//! `testdata/encoder` built for them (`protos-ldr.o`, `clones.o`, `globals.o`; see its
//! README). No pahole of those versions is installable here, so the expectations were
//! worked out from pahole's source, rule by rule, in the fixtures' comments and
//! docs/encoder.md.
//!
//! Two kinds of checks: which FUNCs and VARs each mode keeps, as one line per mode (short
//! enough to read in a review), and the raw, un-deduplicated output of the interesting modes
//! in bpftool's `format raw` (golden files, to see where the held-back functions and the
//! DATASECs land). Update with `UPDATE_EXPECT=1 cargo test -p kbtf-encoder --test features`.

mod common;

use expect_test::{expect, expect_file, Expect, ExpectFile};
use kbtf_btf::{Btf, TypeData};
use kbtf_encoder::{encode_with_stats, EncodeOptions, SavedStats};

/// The modes, by pahole's feature names.
fn opts(features: &str) -> EncodeOptions {
    let mut o = EncodeOptions::default();
    for f in features.split(',').filter(|f| !f.is_empty()) {
        match f {
            "optimized_func" => o.optimized_func = true,
            "consistent_func" => o.consistent_func = true,
            "global_var" => o.global_var = true,
            other => panic!("unknown feature {other}"),
        }
    }
    o
}

fn encode_fixture(object: &str, features: &str) -> (Btf, SavedStats) {
    encode_threads(object, features, 0)
}

fn encode_threads(object: &str, features: &str, threads: usize) -> (Btf, SavedStats) {
    let path = common::repo().join("testdata/encoder").join(object);
    let data = std::fs::read(&path).unwrap();
    let o = EncodeOptions {
        threads,
        ..opts(features)
    };
    encode_with_stats(&path, &data, None, &o).unwrap()
}

/// The FUNC names in output order, then the VARs with their DATASEC, then the held-back
/// function counts when any were held back.
fn summary(btf: &Btf, stats: &SavedStats) -> String {
    let name = |off| btf.str_at(off).into_owned();
    let mut funcs = Vec::new();
    let mut secs = Vec::new();
    for (_, t) in btf.iter() {
        match &t.data {
            TypeData::Func { .. } => funcs.push(name(t.name_off)),
            TypeData::Datasec { vars, .. } => {
                let vars = common::datasec_entries(btf, vars);
                secs.push(format!("{}: {}", name(t.name_off), vars.join(" ")));
            }
            _ => {}
        }
    }
    let mut out = format!("funcs: {}\n", funcs.join(" "));
    for s in secs {
        out.push_str(&s);
        out.push('\n');
    }
    if *stats != SavedStats::default() {
        out.push_str(&format!(
            "held back: encoded {} (clones {}, optimized parameters {}), dropped for unexpected registers {}, inconsistent {}\n",
            stats.encoded,
            stats.encoded_clones,
            stats.optimized_parms,
            stats.unexpected_reg,
            stats.inconsistent
        ));
    }
    out
}

fn check(object: &str, features: &str, expected: Expect) {
    let (btf, stats) = encode_fixture(object, features);
    expected.assert_eq(&summary(&btf, &stats));
}

fn raw(object: &str, features: &str, expected: ExpectFile) {
    let (btf, _) = encode_fixture(object, features);
    let mut out = Vec::new();
    kbtf_btf::dump::dump_raw(&btf, &mut out).unwrap();
    expected.assert_eq(&String::from_utf8(out).unwrap());
}

#[test]
fn protos_default_keeps_the_first_of_each_name() {
    check(
        "protos-ldr.o",
        "",
        expect![[r#"
        funcs: proto_a_entry measure reset pick show area proto_b_entry
    "#]],
    );
}

#[test]
fn protos_consistent_func_drops_names_whose_prototypes_differ() {
    check(
        "protos-ldr.o",
        "consistent_func",
        expect![[r#"
        funcs: area measure proto_a_entry proto_b_entry reset
        held back: encoded 5 (clones 0, optimized parameters 0), dropped for unexpected registers 0, inconsistent 2
    "#]],
    );
}

#[test]
fn protos_consistent_func_raw() {
    raw(
        "protos-ldr.o",
        "consistent_func",
        expect_file!["golden/protos-ldr-consistent.raw"],
    );
}

#[test]
fn clones_default_has_no_clone() {
    check(
        "clones.o",
        "",
        expect![[r#"
        funcs: clones_entry plain
    "#]],
    );
}

#[test]
fn clones_optimized_func_adds_clones_with_expected_registers() {
    check(
        "clones.o",
        "optimized_func",
        expect![[r#"
        funcs: clones_entry plain drop_first scale
        held back: encoded 2 (clones 2, optimized parameters 2), dropped for unexpected registers 1, inconsistent 0
    "#]],
    );
}

#[test]
fn clones_optimized_and_consistent_func() {
    check(
        "clones.o",
        "optimized_func,consistent_func",
        expect![[r#"
        funcs: clones_entry drop_first plain scale
        held back: encoded 4 (clones 2, optimized parameters 2), dropped for unexpected registers 1, inconsistent 0
    "#]],
    );
}

/// DWARF 4 keeps its location lists in `.debug_loc` (DWARF 5: `.debug_loclists`); the
/// registers read from them, and so the outcome, are the same.
#[test]
fn clones_dwarf4_location_lists_give_the_same_result() {
    for features in ["optimized_func", "optimized_func,consistent_func"] {
        let (b4, s4) = encode_fixture("clones-dwarf4.o", features);
        let (b5, s5) = encode_fixture("clones.o", features);
        assert_eq!(summary(&b4, &s4), summary(&b5, &s5), "{features}");
    }
}

#[test]
fn clones_optimized_func_raw() {
    raw(
        "clones.o",
        "optimized_func,consistent_func",
        expect_file!["golden/clones-optimized-consistent.raw"],
    );
}

#[test]
fn globals_default_has_only_per_cpu_variables() {
    check(
        "globals.o",
        "",
        expect![[r#"
        funcs: globals_entry
        .data..percpu: percpu_counter(global)@0+16
    "#]],
    );
}

#[test]
fn globals_global_var_encodes_each_section() {
    check(
        "globals.o",
        "global_var",
        expect![[r#"
            funcs: globals_entry
            .data: overridden(global)@8+8 declared_then_defined(global)@16+4 data_static(static)@24+8 data_global(global)@32+4
            .bss: bss_counters(global)@32+64 bss_buffer(static)@128+64
            .data..percpu: percpu_counter(global)@0+16
            .rodata: rodata_banner(global)@0+5
        "#]],
    );
}

/// A weak definition overridden by a strong one: two DIEs, one address. pahole 1.28 would
/// encode both (a DATASEC the kernel refuses); the first in unit order is kept.
#[test]
fn globals_overridden_weak_definition_is_encoded_once() {
    check(
        "globals-ldr.o",
        "global_var",
        expect![[r#"
        funcs: globals_entry globals_weak_entry
        .rodata: rodata_banner(global)@0+5
        .data: overridden(global)@8+8 declared_then_defined(global)@16+4 data_static(static)@24+8 data_global(global)@32+4
        .data..percpu: percpu_counter(global)@0+16
        .bss: bss_counters(global)@32+64 bss_buffer(static)@128+64
    "#]],
    );
}

#[test]
fn globals_global_var_raw() {
    raw(
        "globals.o",
        "global_var",
        expect_file!["golden/globals-global-var.raw"],
    );
}

/// The held-back functions are decided after every unit is read, in unit order: the output
/// is the same for any thread count.
#[test]
fn output_does_not_depend_on_threads() {
    for object in ["protos-ldr.o", "clones.o", "globals-ldr.o"] {
        let features = "optimized_func,consistent_func,global_var";
        let (one, _) = encode_threads(object, features, 1);
        let (four, _) = encode_threads(object, features, 4);
        assert_eq!(one.to_bytes(), four.to_bytes(), "{object}");
    }
}
