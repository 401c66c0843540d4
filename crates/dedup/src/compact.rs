//! Passes 6 and 7: compaction and remapping (libbpf's `btf_dedup_compact_types` and
//! `btf_dedup_remap_types`).
//!
//! The output keeps the representatives among the own types, in input id order, numbered
//! from the input's first own id (1 for a base BTF, the base's end for split BTF); base types
//! keep their ids. Every referenced id is replaced by the new id of its representative.
//! Input ids that were duplicates map, in [`Deduped::id_map`](crate::Deduped), to the new id
//! of their representative.

use std::sync::Arc;

use kbtf_btf::{Btf, Endian, StringTable, TypeId};

use crate::error::DedupError;
use crate::state::{State, MAX_ID, UNPROCESSED};

/// Builds the output BTF from the final state, and with `id_map` the map of every input id
/// (else an empty one). `strings` is the new string section. The state's hypothetical map,
/// unused after the struct pass, holds the new ids meanwhile.
pub(crate) fn compact(
    s: &mut State,
    base: Option<Arc<Btf>>,
    endian: Endian,
    strings: StringTable,
    id_map: bool,
) -> Result<(Btf, Vec<TypeId>), DedupError> {
    // Every entry is UNPROCESSED already: each check clears what it set. Reusing it saves
    // writing, and faulting in, a fresh array as large as the input.
    let mut new_id = std::mem::take(&mut s.hypot);
    if new_id.len() != s.end() as usize || !s.hypot_list.is_empty() {
        new_id.clear();
        new_id.resize(s.end() as usize, UNPROCESSED);
    }
    let r = compact_with(s, &mut new_id, base, endian, strings, id_map);
    // Given back to be freed with the state (on a thread of its own for a large input).
    s.hypot = new_id;
    r
}

fn compact_with(
    s: &State,
    new_id: &mut [u32],
    base: Option<Arc<Btf>>,
    endian: Endian,
    strings: StringTable,
    id_map: bool,
) -> Result<(Btf, Vec<TypeId>), DedupError> {
    let n = s.end();
    for (id, slot) in new_id.iter_mut().enumerate().take(s.start as usize) {
        *slot = id as u32;
    }
    // The representatives, in order: the output's types.
    let mut kept = Vec::new();
    let mut next = s.start;
    for id in s.start..n {
        if s.map[id as usize] == id {
            new_id[id as usize] = next;
            next += 1;
            kept.push(id);
        }
    }
    let final_id = |id: u32| -> Result<u32, DedupError> {
        let r = new_id[s.resolve(id) as usize];
        if r > MAX_ID {
            return Err(DedupError::Internal {
                id,
                what: "a referenced type has no representative in the output",
            });
        }
        Ok(r)
    };

    let mut out = match base {
        Some(base) => Btf::new_split(base),
        None => Btf::new(),
    };
    out.set_endian(endian);
    *out.strings_mut() = strings;
    for id in kept {
        let mut t = s.flat.to_type(id).ok_or(DedupError::Internal {
            id,
            what: "unknown kind in the flat copy",
        })?;
        let mut err = None;
        t.for_each_ref_mut(|r| match final_id(*r) {
            Ok(v) => *r = v,
            Err(e) => err = Some(e),
        });
        if let Some(e) = err {
            return Err(e);
        }
        let new = out.add_type(t);
        out.set_int_ignored_bits(new, s.flat.int_ignored_bits(id));
    }
    let id_map = if id_map {
        (0..n).map(final_id).collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    if s.broken.get() {
        return Err(DedupError::Internal {
            id: 0,
            what: "the canonical map has a cycle",
        });
    }
    Ok((out, id_map))
}
