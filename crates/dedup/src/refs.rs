//! Pass 5: reference types (libbpf's `btf_dedup_ref_types`): PTR, TYPEDEF, CONST, VOLATILE,
//! RESTRICT, TYPE_TAG, FUNC, DECL_TAG, ARRAY and FUNC_PROTO.
//!
//! Once primitives and structs have representatives, a reference type is deduplicated by
//! first deduplicating the types it refers to and replacing its referenced ids with their
//! representatives (in place), then comparing it, ids included, with the candidates sharing
//! its hash. Chains of reference types end at a primitive, a struct or `void`: in C a cycle
//! needs a struct, so a reference type met again while in progress is an error
//! ([`DedupError::ReferenceLoop`], libbpf's `-ELOOP`).
//!
//! libbpf recurses; this walks with an explicit stack in the same post-order (an ARRAY's
//! element type before its index type, a FUNC_PROTO's return type before its parameters), so
//! that representatives are chosen and candidates filed in the same order, and a long chain
//! of references cannot overflow the call stack.

use kbtf_btf::Kind;

use crate::error::DedupError;
use crate::flat::*;
use crate::sig::*;
use crate::state::{State, IN_PROGRESS, MAX_ID};

pub(crate) fn dedup_ref_types(s: &mut State) -> Result<(), DedupError> {
    let mut stack = Vec::new();
    for id in s.start..s.end() {
        // Primitives, structs and the references already met as someone's target have
        // their representative: `dedup_ref_type` would only look it up.
        if s.map[id as usize] <= MAX_ID {
            continue;
        }
        dedup_ref_type(s, id, &mut stack)?;
    }
    Ok(())
}

/// Number of referenced ids of a reference type, in the order they are deduplicated.
fn child_count(s: &State, id: u32) -> usize {
    let r = s.flat.rec(id);
    match r.kind() {
        ARRAY => 2,
        FUNC_PROTO => 1 + r.vlen(),
        _ => 1,
    }
}

/// The `k`-th referenced id of reference type `id`.
fn child(s: &State, id: u32, k: usize) -> u32 {
    let r = s.flat.rec(id);
    match r.kind() {
        ARRAY => s.flat.words(id)[k],
        FUNC_PROTO if k > 0 => s.flat.words(id)[2 * (k - 1) + 1],
        _ => r.st,
    }
}

/// Replaces the `k`-th referenced id of `id` by `to`.
fn set_child(s: &mut State, id: u32, k: usize, to: u32) {
    match s.flat.kind(id) {
        ARRAY => s.flat.words_mut(id)[k] = to,
        FUNC_PROTO if k > 0 => s.flat.words_mut(id)[2 * (k - 1) + 1] = to,
        _ => s.flat.recs[id as usize].st = to,
    }
}

/// Marks unprocessed type `id` in progress; it must be a reference kind.
fn begin(s: &mut State, id: u32) -> Result<(), DedupError> {
    s.map[id as usize] = IN_PROGRESS;
    match s.flat.kind(id) {
        CONST | VOLATILE | RESTRICT | PTR | TYPEDEF | FUNC | TYPE_TAG | DECL_TAG | ARRAY
        | FUNC_PROTO => Ok(()),
        k => Err(DedupError::Internal {
            id,
            what: match Kind::from_u32(k) {
                Some(_) => "type without a representative after the struct pass",
                None => "type of no kind",
            },
        }),
    }
}

/// With the referenced ids of `id` canonical: finds its representative among the candidates
/// or makes it one.
fn finish(s: &mut State, id: u32) -> u32 {
    let f = &s.flat;
    let r = *f.rec(id);
    let (h, found) = match r.kind() {
        DECL_TAG => {
            let h = hash_int_decl_tag(f, id);
            (h, s.table.candidates(h).find(|&c| equal_int_tag(f, id, c)))
        }
        ARRAY => {
            let h = hash_array(f, id);
            (h, s.table.candidates(h).find(|&c| equal_array(f, id, c)))
        }
        FUNC_PROTO => {
            let h = hash_fnproto(f, id);
            (h, s.table.candidates(h).find(|&c| equal_fnproto(f, id, c)))
        }
        _ => {
            let h = hash_common(&r);
            (
                h,
                s.table.candidates(h).find(|&c| equal_common(&r, f.rec(c))),
            )
        }
    };
    let new_id = found.unwrap_or(id);
    s.map[id as usize] = new_id;
    if new_id == id {
        s.table.add(h, id);
    }
    new_id
}

/// Deduplicates `root` and everything it refers to that is not done yet; returns the
/// representative of `root` (`btf_dedup_ref_type`).
fn dedup_ref_type(
    s: &mut State,
    root: u32,
    stack: &mut Vec<(u32, usize)>,
) -> Result<u32, DedupError> {
    match s.map[root as usize] {
        IN_PROGRESS => return Err(DedupError::ReferenceLoop { id: root }),
        m if m <= MAX_ID => return Ok(s.resolve(root)),
        _ => {}
    }
    // Most references refer to one type that already has its representative (a pointer to
    // a struct, a typedef of an int): done here, as the walk below would do it.
    let r = *s.flat.rec(root);
    if matches!(
        r.kind(),
        CONST | VOLATILE | RESTRICT | PTR | TYPEDEF | FUNC | TYPE_TAG | DECL_TAG
    ) && s.map.get(r.st as usize).is_some_and(|&m| m <= MAX_ID)
    {
        let rep = s.resolve(r.st);
        s.flat.recs[root as usize].st = rep;
        return Ok(finish(s, root));
    }
    begin(s, root)?;
    stack.clear();
    stack.push((root, 0));
    loop {
        let Some(&(id, k)) = stack.last() else {
            return Err(DedupError::Internal {
                id: root,
                what: "empty stack in the reference pass",
            });
        };
        if k < child_count(s, id) {
            let target = child(s, id, k);
            match s.map[target as usize] {
                IN_PROGRESS => return Err(DedupError::ReferenceLoop { id: target }),
                m if m <= MAX_ID => {
                    let rep = s.resolve(target);
                    set_child(s, id, k, rep);
                    if let Some(top) = stack.last_mut() {
                        top.1 += 1;
                    }
                }
                _ => {
                    begin(s, target)?;
                    stack.push((target, 0));
                }
            }
            continue;
        }
        let rep = finish(s, id);
        stack.pop();
        match stack.last_mut() {
            None => return Ok(rep),
            Some(parent) => {
                let (pid, pk) = *parent;
                parent.1 += 1;
                set_child(s, pid, pk, rep);
            }
        }
    }
}
