//! Dedup of base BTF (mode byte even) or of split BTF on the small base (odd). When dedup
//! succeeds its output writes and parses, and a second dedup keeps every type or merges
//! some more, never adds one; keeping every type, it changes nothing by meaning (libbpf's
//! string order is that of first use before dedup, so a second pass may reorder the strings
//! of types the first one removed). libbpf 1.1's dedup is not idempotent either: a forward
//! declaration resolved at the end of one pass can make types equal that the next pass
//! merges (docs/reliability.md), and kbtf matches it byte for byte on both passes.
//!
//! Base BTF is also fed to `Incremental` in chunks (their size from the mode byte), each
//! said to be closed when it is (its reference types refer to no reference type of an
//! earlier chunk), so that the reference pass splits in two threads where it can: the
//! result must be `dedup_flat`'s, bytes or error.
#![no_main]
use std::sync::Arc;

use kbtf_btf::diff::{diff, DiffOptions};
use kbtf_btf::flat::{Flat, FlatBtf};
use kbtf_btf::Btf;
use kbtf_dedup::{dedup, dedup_flat, Added, DedupOptions, Incremental};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((mode, blob)) = kbtf_fuzz::mode(data) else {
        return;
    };
    let base = (mode & 1 == 1).then(|| Arc::clone(kbtf_fuzz::small_base()));
    let Ok(btf) = Btf::parse(blob, base.clone()) else {
        return;
    };
    if base.is_none() {
        incremental_is_dedup(&btf, 1 + (mode >> 1) as u32);
    }
    let Ok(d) = dedup(&btf, &DedupOptions::default()) else {
        return;
    };
    assert_eq!(d.id_map.len(), btf.end_id() as usize);
    let bytes = d.btf.to_bytes();
    let again = Btf::parse(&bytes, base).expect("dedup output parses");
    let d2 = dedup(&again, &DedupOptions::default()).expect("dedup output dedups");
    let (before, after) = (again.own_types().len(), d2.btf.own_types().len());
    assert!(
        after <= before,
        "a second dedup added types: {before} to {after}"
    );
    if after == before {
        assert!(
            diff(&again, &d2.btf, &DiffOptions::default()).is_empty(),
            "a second dedup that keeps every type changes nothing by meaning"
        );
    }
});

/// Whether `kind` is one the reference pass deduplicates.
fn is_ref_kind(kind: u32) -> bool {
    use kbtf_btf::flat::*;
    matches!(
        kind,
        PTR | TYPEDEF
            | VOLATILE
            | CONST
            | RESTRICT
            | FUNC
            | FUNC_PROTO
            | ARRAY
            | DECL_TAG
            | TYPE_TAG
    )
}

/// `btf` through `Incremental` in chunks of `chunk` types, against `dedup_flat`.
fn incremental_is_dedup(btf: &Btf, chunk: u32) {
    let mut whole = FlatBtf::from_btf(btf);
    // Both sides then skip the string pass alike.
    whole.strings_first_use = true;
    let end = whole.types.len() as u32;
    let opts = DedupOptions::default();
    let want = dedup_flat(whole.clone(), &opts);
    let mut inc = Incremental::new(1, &opts).split_refs_from(1);
    let mut growing = Flat::new();
    let mut from = 1;
    while from < end {
        let to = (from + chunk).min(end);
        let mut below_end = true;
        let mut closed = true;
        for id in from..to {
            let ref_kind = is_ref_kind(whole.types.kind(id));
            whole.types.for_each_ref(id, |r| {
                below_end &= r < to;
                if ref_kind && r != 0 && r < from && r < end {
                    closed &= !is_ref_kind(whole.types.kind(r));
                }
            });
        }
        assert!(growing.grow_from(&whole.types, to));
        inc.advance_unit(&mut growing, Added::new(below_end, closed && below_end));
        from = to;
    }
    let got = inc.finish(FlatBtf {
        types: growing,
        ..whole
    });
    match (&want, &got) {
        (Ok(a), Ok(b)) => {
            assert!(a.btf.to_bytes() == b.btf.to_bytes(), "incremental differs");
            assert!(a.id_map == b.id_map, "incremental id map differs");
        }
        (Err(a), Err(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
        _ => panic!("{want:?} against {got:?}"),
    }
}
