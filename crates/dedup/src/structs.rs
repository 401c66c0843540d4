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
    for cand in s.table.candidates(h) {
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

/// [`dedup_struct_type`] without relying on the candidates' order, for the incremental dedup,
/// whose table cannot know libbpf's order yet (it depends on how many primitive types the
/// whole input has). The order decides nothing when at most one candidate passes the graph
/// check; then this does exactly what libbpf does and returns `Ok(true)`. When two or more
/// pass (or one passes only by adjusting the base), it changes nothing and returns
/// `Ok(false)`: the caller must then deduplicate in libbpf's order.
pub(crate) fn dedup_struct_type_any_order(
    s: &mut State,
    id: u32,
    stack: &mut Vec<(u32, u32)>,
    passing: &mut Vec<u32>,
) -> Result<bool, DedupError> {
    if s.is_mapped(id) || !matches!(s.flat.kind(id), STRUCT | UNION) {
        return Ok(true);
    }
    let h = hash_struct(&s.flat, id);
    passing.clear();
    passing.extend(s.table.candidates(h).filter(|&cand| {
        shallow_equal_struct(&s.flat, id, cand) && member_names_match(&s.flat, id, cand)
    }));
    let mut new_id = id;
    if let [cand] = passing[..] {
        // One candidate: libbpf's loop, whatever the order.
        s.clear_hypot();
        if s.is_equiv(id, cand, stack)? {
            s.merge_hypot();
            if !s.hypot_adjust_canon {
                new_id = cand;
            }
        }
    } else if passing.len() > 1 {
        let mut found = None;
        for &cand in passing.iter() {
            s.clear_hypot();
            if s.is_equiv(id, cand, stack)? {
                if found.is_some() || s.hypot_adjust_canon {
                    s.clear_hypot();
                    return Ok(false);
                }
                found = Some(cand);
            }
        }
        if let Some(cand) = found {
            s.clear_hypot();
            if !s.is_equiv(id, cand, stack)? {
                return Err(DedupError::Internal {
                    id,
                    what: "a graph check gave two answers",
                });
            }
            s.merge_hypot();
            new_id = cand;
        }
    }
    s.map[id as usize] = new_id;
    if new_id == id {
        s.table.add(h, id);
    }
    Ok(true)
}
