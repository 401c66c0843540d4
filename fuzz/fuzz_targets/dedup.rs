//! Dedup of base BTF (mode byte even) or of split BTF on the small base (odd). When dedup
//! succeeds its output writes and parses, and a second dedup changes nothing by meaning: the
//! same types (libbpf's string order is that of first use before dedup, so a second pass may
//! reorder the strings of types the first one removed).
#![no_main]
use std::sync::Arc;

use kbtf_btf::diff::{diff, DiffOptions};
use kbtf_btf::Btf;
use kbtf_dedup::{dedup, DedupOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((mode, blob)) = kbtf_fuzz::mode(data) else {
        return;
    };
    let base = (mode & 1 == 1).then(|| Arc::clone(kbtf_fuzz::small_base()));
    let Ok(btf) = Btf::parse(blob, base.clone()) else {
        return;
    };
    let Ok(d) = dedup(&btf, &DedupOptions::default()) else {
        return;
    };
    assert_eq!(d.id_map.len(), btf.end_id() as usize);
    let bytes = d.btf.to_bytes();
    let again = Btf::parse(&bytes, base).expect("dedup output parses");
    let d2 = dedup(&again, &DedupOptions::default()).expect("dedup output dedups");
    assert_eq!(
        d2.btf.own_types().len(),
        again.own_types().len(),
        "dedup is idempotent"
    );
    assert!(
        diff(&again, &d2.btf, &DiffOptions::default()).is_empty(),
        "dedup is idempotent by meaning"
    );
});
