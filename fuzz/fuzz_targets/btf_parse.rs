//! Base BTF: parse, validate, dump (raw and C), write back, and compare with itself.
#![no_main]
use kbtf_btf::diff::{diff, DiffOptions};
use kbtf_btf::Btf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(btf) = Btf::parse(data, None) else {
        return;
    };
    // Unchanged parsed BTF in the standard layout writes back to the same bytes.
    if let Some(h) = btf.header() {
        let standard = h.hdr_len as usize == 24 + btf.header_ext().len()
            && h.type_off == 0
            && h.str_off == h.type_len
            && btf.trailing().is_empty();
        if standard && h.hdr_len == 24 {
            assert_eq!(btf.to_bytes(), data, "parse then write is the identity");
        }
    }
    kbtf_fuzz::check_parsed(&btf);
    if btf.own_types().len() < 2000 {
        assert!(
            diff(&btf, &btf, &DiffOptions::default()).is_empty(),
            "diff(x, x) is empty"
        );
    }
});
