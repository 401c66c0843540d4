//! Micro-benchmarks of dedup's hot stages: signature hashing of every type, the
//! primitive and struct passes (graph equivalence), and the whole dedup, on the committed
//! vmlinux BTF doubled (two copies as one BTF: every type meets its twin), and the split
//! dedup of the `-dbg` module fixture on it. `cargo bench -p kbtf-dedup`.

use std::sync::Arc;

use kbtf_btf::{Btf, FlatBtf};
use kbtf_dedup::DedupOptions;

fn main() {
    divan::main();
}

fn vmlinux() -> Btf {
    kbtf_btf::read_file(&kbtf_testkit::testdata("vmlinux-6.1.btf"), None)
        .expect("testdata/vmlinux-6.1.btf")
        .btf
}

/// vmlinux's types twice over, the second copy's ids shifted.
fn doubled() -> FlatBtf {
    let v = vmlinux();
    let mut out = v.clone();
    let n = v.end_id() - 1;
    for (_, t) in v.iter() {
        let mut t = t.clone();
        t.for_each_ref_mut(|r| {
            if *r != 0 {
                *r += n
            }
        });
        out.add_type(t);
    }
    FlatBtf::from_btf(&out)
}

/// libbpf's signature hash of every type (what files candidates).
#[divan::bench(sample_count = 10)]
fn hashing(b: divan::Bencher) {
    let input = doubled();
    b.bench(|| kbtf_dedup::bench::hash_all(&input));
}

/// Strings, primitives and structs (the graph equivalence checks), no reference pass.
#[divan::bench(sample_count = 10)]
fn equivalence(b: divan::Bencher) {
    let input = doubled();
    b.bench_local(|| kbtf_dedup::bench::up_to_structs(input.clone()).unwrap());
}

/// The whole dedup of the doubled vmlinux.
#[divan::bench(sample_count = 10)]
fn dedup_base(b: divan::Bencher) {
    let input = doubled();
    b.bench_local(|| {
        kbtf_dedup::dedup_flat(input.clone(), &DedupOptions::default())
            .unwrap()
            .btf
            .end_id()
    });
}

/// Split dedup of the `-dbg` module fixture's encoding on the vmlinux fixture: what every
/// module process pays, base filing included.
#[divan::bench(sample_count = 10)]
fn dedup_module(b: divan::Bencher) {
    let base = Arc::new(vmlinux());
    let path = kbtf_testkit::testdata("modules-6.1-dbg/dummy.ko");
    let data = std::fs::read(&path).unwrap();
    let opts = kbtf_encoder::EncodeOptions {
        gen_floats: true,
        ..Default::default()
    };
    let (raw, _) = kbtf_encoder::encode_flat(&path, &data, Some(base), &opts).unwrap();
    b.bench_local(|| {
        kbtf_dedup::dedup_flat(raw.clone(), &DedupOptions::default())
            .unwrap()
            .btf
            .end_id()
    });
}
