//! Preparation for split BTF (libbpf's `btf_dedup_prep`): every base type is its own
//! representative, fixed, and a candidate for the split's types.
//!
//! Base types go into the candidate table before any split type, each under the hash the
//! later passes compute for its kind, so that a split type equal to a base type maps to it.
//! VARs and DATASECs are never candidates.

use crate::baseindex::BaseCands;
use crate::flat::*;
use crate::sig::*;
use crate::state::State;

/// The signature hash of type `id` under which the candidate table files it, or `None` for
/// the kinds never filed (VAR, DATASEC).
pub(crate) fn hash_any(f: &Flat, id: u32) -> Option<i64> {
    let r = f.rec(id);
    Some(match r.kind() {
        VAR | DATASEC => return None,
        CONST | VOLATILE | RESTRICT | PTR | FWD | TYPEDEF | FUNC | FLOAT | TYPE_TAG => {
            hash_common(r)
        }
        INT | DECL_TAG => hash_int_decl_tag(f, id),
        ENUM | ENUM64 => hash_enum(r),
        STRUCT | UNION => hash_struct(f, id),
        ARRAY => hash_array(f, id),
        FUNC_PROTO => hash_fnproto(f, id),
        _ => return None,
    })
}

/// Makes every base type (ids below `s.start`) canonical and a candidate, as libbpf's
/// `btf_dedup_prep` does: with `cands` (the base's filing worked out once), by looking
/// through to them.
pub(crate) fn prepare_base(s: &mut State, cands: Option<BaseCands>) {
    if s.start <= 1 {
        return;
    }
    for id in 1..s.start {
        s.map[id as usize] = id;
    }
    if let Some(c) = cands {
        s.table.attach_base(c);
        return;
    }
    s.table.reserve(s.start as usize);
    for id in 1..s.start {
        if let Some(h) = hash_any(&s.flat, id) {
            s.table.add(h, id);
        }
    }
}
