//! Micro-benchmarks of the BTF model's hot stages: string interning, parsing (the base of
//! every module), the flat copy dedup works on, and serialization. Input: the committed
//! vmlinux BTF fixture. `cargo bench -p kbtf-btf`.

use std::sync::Arc;

use kbtf_btf::{Btf, Flat, StringIndex, StringTable};

fn main() {
    divan::main();
}

fn vmlinux_bytes() -> Vec<u8> {
    std::fs::read(kbtf_testkit::testdata("vmlinux-6.1.btf")).expect("testdata/vmlinux-6.1.btf")
}

/// Every string of vmlinux's BTF interned into a new table (each once, then each again).
#[divan::bench(sample_count = 20)]
fn string_interning(b: divan::Bencher) {
    let btf = Btf::parse(&vmlinux_bytes(), None).unwrap();
    let strings: Vec<Vec<u8>> = btf.strings().iter().map(|(_, s)| s.to_vec()).collect();
    b.bench(|| {
        let mut t = StringTable::new_base();
        let mut sum = 0u64;
        for _ in 0..2 {
            for s in &strings {
                sum += t.add(s) as u64;
            }
        }
        sum
    });
}

/// The index of a base's strings that split BTF refers to (built once per module process).
#[divan::bench(sample_count = 20)]
fn base_string_index(b: divan::Bencher) {
    let btf = Arc::new(Btf::parse(&vmlinux_bytes(), None).unwrap());
    b.bench(|| StringIndex::new(btf.clone()));
}

/// Parsing vmlinux's BTF (checked; types built on first use) and building its types.
#[divan::bench(sample_count = 20)]
fn parse_and_build(b: divan::Bencher) {
    let bytes = vmlinux_bytes();
    b.bench(|| {
        let btf = Btf::parse(&bytes, None).unwrap();
        btf.own_types().len()
    });
}

/// The flat copy (wire-like records) of a parsed base, as every module's encode makes it.
#[divan::bench(sample_count = 20)]
fn flat_copy(b: divan::Bencher) {
    let btf = Btf::parse(&vmlinux_bytes(), None).unwrap();
    b.bench(|| Flat::from_btf(&btf).len());
}

/// Serialization of a BTF built in memory (not the bytes it was read from).
#[divan::bench(sample_count = 20)]
fn serialization(b: divan::Bencher) {
    let mut btf = Btf::parse(&vmlinux_bytes(), None).unwrap();
    btf.add_str("changed");
    b.bench(|| btf.to_bytes().len());
}
