//! Micro-benchmarks of the encoder's hot stages: the DWARF walk (reading every unit's DIEs
//! into pahole's tables), type conversion (those tables to BTF, unit by unit) and the whole
//! encode (walk, type conversion, string interning and merge), on the committed `-dbg`
//! module fixture split on the vmlinux BTF fixture, or on the ELF file named by
//! `KBTF_BENCH_ELF` (with `KBTF_BENCH_BASE` as its base, if any). `cargo bench -p
//! kbtf-encoder`.

use std::path::PathBuf;
use std::sync::Arc;

use kbtf_btf::Btf;
use kbtf_encoder::{EncodeOptions, Hooks};

fn main() {
    divan::main();
}

fn input() -> (PathBuf, Vec<u8>, Option<Arc<Btf>>) {
    let (path, base) = match std::env::var_os("KBTF_BENCH_ELF") {
        Some(p) => (
            PathBuf::from(p),
            std::env::var_os("KBTF_BENCH_BASE").map(PathBuf::from),
        ),
        None => (
            kbtf_testkit::testdata("modules-6.1-dbg/dummy.ko"),
            Some(kbtf_testkit::testdata("vmlinux-6.1.btf")),
        ),
    };
    let data = std::fs::read(&path).expect("the benchmark input");
    let base = base.map(|b| kbtf_btf::read_base(&b).expect("the base"));
    (path, data, base)
}

fn opts(threads: usize) -> EncodeOptions {
    EncodeOptions {
        gen_floats: true,
        lang_exclude_rust: true,
        threads,
        ..EncodeOptions::default()
    }
}

/// Reading every unit's DIEs and building pahole's tables, nothing encoded.
#[divan::bench(sample_count = 10)]
fn dwarf_walk(b: divan::Bencher) {
    let (path, data, _) = input();
    b.bench(|| kbtf_encoder::bench::walk_units(&path, &data, &opts(1)).unwrap());
}

/// Type conversion alone: every unit's tables, read beforehand, to BTF types, functions
/// and variables with unit-local ids and strings (no merge).
#[divan::bench(sample_count = 10)]
fn type_conversion(b: divan::Bencher) {
    let (path, data, _) = input();
    kbtf_encoder::bench::with_walked_units(&path, &data, &opts(1), |convert| {
        assert!(convert() > 0, "no types converted");
        b.bench(convert)
    })
    .unwrap();
}

/// The whole encoder: walk, type conversion, string interning, merge into flat BTF.
#[divan::bench(sample_count = 10, args = [1, 2])]
fn encode(b: divan::Bencher, threads: usize) {
    let (path, data, base) = input();
    b.bench(|| {
        let hooks = Hooks {
            merged: &mut |_, _| {},
            done_with: &|_| {},
        };
        let (flat, _) =
            kbtf_encoder::encode_flat_with(&path, &data, base.clone(), &opts(threads), hooks)
                .unwrap();
        flat.end_id()
    });
}
