//! Distill then relocate. Mode byte even: split BTF on the small base is distilled, and the
//! result relocated (with dedup) back onto the small base. Odd: the rest is
//! `[u32 LE length][distilled base][split BTF on it]`, relocated onto the small base.
#![no_main]
use std::sync::Arc;

use kbtf_btf::Btf;
use kbtf_dedup::{distill, relocate, relocate_dedup};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = kbtf_fuzz::mode(data) else {
        return;
    };
    let base = kbtf_fuzz::small_base();
    if mode & 1 == 0 {
        let Ok(split) = Btf::parse(rest, Some(base.clone())) else {
            return;
        };
        let Ok(d) = distill(&split, &[]) else {
            return;
        };
        let bytes = d.split.to_bytes();
        let dbase = d.base.to_bytes();
        let dbase2 = Arc::new(Btf::parse(&dbase, None).expect("distilled base parses"));
        Btf::parse(&bytes, Some(dbase2)).expect("distilled split parses");
        if let Ok(r) = relocate_dedup(&d.split, base.clone()) {
            r.btf.to_bytes();
        }
    } else {
        let Some((len, rest)) = rest.split_first_chunk::<4>() else {
            return;
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > rest.len() {
            return;
        }
        let (dbase, split) = rest.split_at(len);
        let Ok(dbase) = Btf::parse(dbase, None) else {
            return;
        };
        let Ok(module) = Btf::parse(split, Some(Arc::new(dbase))) else {
            return;
        };
        if let Ok(r) = relocate(&module, base.clone()) {
            let bytes = r.btf.to_bytes();
            Btf::parse(&bytes, Some(base.clone())).expect("relocated BTF parses");
        }
        let _ = relocate_dedup(&module, base.clone());
    }
});
