//! Pass 3: structs and unions (libbpf's `btf_dedup_struct_types`).
//!
//! Each own STRUCT/UNION not mapped yet, in id order, is compared with the candidates
//! sharing its hash (name, size, member names and offsets), in the table's order. A
//! candidate that is not shallowly equal (a hash collision, possibly a FWD) is skipped, so a
//! struct never maps to a FWD; so is one whose member types have other names than the
//! struct's (a shortcut of ours that changes no result, see `member_names_match`). For the
//! others the graph equivalence check runs
//! ([`State::is_equiv`]); on success the hypothetical map is merged, and unless the match
//! would have needed a base type changed, the candidate becomes the representative. With no
//! match the struct becomes a representative and a candidate itself.

use crate::error::DedupError;
use crate::flat::{STRUCT, UNION};
use crate::sig::{hash_struct, member_names_match, shallow_equal_struct};
use crate::state::State;

pub(crate) fn dedup_struct_types(s: &mut State) -> Result<(), DedupError> {
    let mut stack = Vec::new();
    for id in s.start..s.end() {
        dedup_struct_type(s, id, &mut stack)?;
    }
    Ok(())
}

fn dedup_struct_type(
    s: &mut State,
    id: u32,
    stack: &mut Vec<(u32, u32)>,
) -> Result<(), DedupError> {
    // Already mapped: by an earlier merge of a hypothetical map.
    if s.is_mapped(id) {
        return Ok(());
    }
    if !matches!(s.flat.kind(id), STRUCT | UNION) {
        return Ok(());
    }
    let h = hash_struct(&s.flat, id);
    let mut new_id = id;
    // The table does not change during the loop (merging only touches the canonical map).
    for i in 0..s.table.count(h) {
        let cand = s.table.get(h, i);
        if !shallow_equal_struct(&s.flat, id, cand) || !member_names_match(&s.flat, id, cand) {
            continue;
        }
        s.clear_hypot();
        if !s.is_equiv(id, cand, stack)? {
            continue;
        }
        s.merge_hypot();
        if s.hypot_adjust_canon {
            continue;
        }
        new_id = cand;
        break;
    }
    s.map[id as usize] = new_id;
    if new_id == id {
        s.table.add(h, id);
    }
    Ok(())
}
