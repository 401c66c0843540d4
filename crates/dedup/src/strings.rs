//! Pass 1: strings (libbpf's `btf_dedup_strings`).
//!
//! The output string section holds each string the own types use, once, in the order libbpf
//! produces: types in id order, and within a type its name, then its member, enumerator or
//! parameter names. For a base BTF the section starts with the empty string at offset 0.
//! For split BTF a string the base already holds keeps the base's offset (the first one, if
//! the base holds it twice; bases of bases are searched first), offsets that already point
//! into the base are left alone, and only the other strings go into the split's own section,
//! whose offsets continue after the base's. Offset 0 is always the empty string.
//!
//! Strings are compared by content, so an offset into the middle of a string stands for its
//! tail, as in libbpf. Strings no type uses are dropped.

use std::sync::Arc;

use kbtf_btf::{Btf, StringTable};

use crate::error::DedupError;
use crate::flat::Flat;
use crate::fx::FxHashMap;

/// Rewrites the string offsets of the own types (ids `start..`) of `flat`, whose strings are
/// `own` on top of `base`, and returns the new string section.
pub(crate) fn dedup_strings(
    own: &StringTable,
    base: Option<&Arc<Btf>>,
    flat: &mut Flat,
    start: u32,
) -> Result<StringTable, DedupError> {
    let own_start = own.start();
    let own_bytes = own.as_bytes();
    let end = own.end();
    let split = base.is_some();

    // Strings of the bases, by content; bottom base first so that it wins.
    let mut base_index: FxHashMap<&[u8], u32> = FxHashMap::default();
    if let Some(base) = base {
        let mut chain = vec![base.as_ref()];
        while let Some(b) = chain.last().and_then(|b| b.base()) {
            chain.push(b.as_ref());
        }
        for b in chain.iter().rev() {
            for (off, s) in b.strings().iter() {
                base_index.entry(s).or_insert(off);
            }
        }
    }

    let mut data: Vec<u8> = if split { Vec::new() } else { vec![0] };
    let mut index: FxHashMap<&[u8], u32> = FxHashMap::default();
    if !split {
        index.insert(b"", 0);
    }
    // New offset by old own offset, filled on first use.
    let mut memo: Vec<u32> = vec![u32::MAX; own_bytes.len()];
    let mut err = None;

    for id in start..flat.len() as u32 {
        flat.for_each_str_mut(id, |off| {
            if *off == 0 || *off < own_start || err.is_some() {
                return;
            }
            let rel = (*off - own_start) as usize;
            if rel >= own_bytes.len() {
                err = Some(DedupError::BadStringOffset { id, off: *off, end });
                return;
            }
            if memo[rel] != u32::MAX {
                *off = memo[rel];
                return;
            }
            let tail = &own_bytes[rel..];
            let s = &tail[..tail.iter().position(|&b| b == 0).unwrap_or(tail.len())];
            let new = match base_index.get(s) {
                Some(&b) => b,
                None => *index.entry(s).or_insert_with(|| {
                    let o = own_start + data.len() as u32;
                    data.extend_from_slice(s);
                    data.push(0);
                    o
                }),
            };
            memo[rel] = new;
            *off = new;
        });
        if let Some(e) = err {
            return Err(e);
        }
    }
    Ok(StringTable::from_bytes(own_start, data))
}
