//! Pass 2: primitive types (libbpf's `btf_dedup_prim_types`): INT, FLOAT, ENUM, ENUM64 and
//! FWD, the kinds that refer to no other type.
//!
//! Each own type of these kinds, in id order, is compared with the candidates sharing its
//! hash, in the table's order; the first equal one becomes its representative, and if none
//! is equal the type becomes a representative and a candidate itself.
//!
//! Enums also resolve forward declarations (libbpf 1.1): an enum without enumerators (what
//! `enum e;` becomes) takes as representative the first candidate that is an enum or enum64
//! of the same name, whatever its size; and a full enum meeting candidates that are such
//! forward declarations redirects each of them to itself, then goes on looking for an equal
//! candidate. FWDs (of structs and unions) are only merged with equal FWDs here; they meet
//! their structs in the struct pass and in the forward resolution pass.

use crate::flat::*;
use crate::sig::*;
use crate::state::State;

pub(crate) fn dedup_prim_types(s: &mut State) {
    for id in s.start..s.end() {
        dedup_prim_type(s, id);
    }
}

pub(crate) fn dedup_prim_type(s: &mut State, id: u32) {
    let r = *s.flat.rec(id);
    let mut new_id = id;
    let h = match r.kind() {
        INT => {
            let h = hash_int_decl_tag(&s.flat, id);
            if let Some(c) = s
                .table
                .candidates(h)
                .find(|&c| equal_int_tag(&s.flat, id, c))
            {
                new_id = c;
            }
            h
        }
        ENUM | ENUM64 => {
            let h = hash_enum(&r);
            for c in s.table.candidates(h) {
                if equal_enum(&s.flat, id, c) {
                    new_id = c;
                    break;
                }
                if compat_enum(&s.flat, id, c) {
                    if is_enum_fwd(&r) {
                        // A forward declaration takes the full enum.
                        new_id = c;
                        break;
                    }
                    // A representative forward declaration takes this full enum.
                    s.map[c as usize] = id;
                }
            }
            h
        }
        FWD | FLOAT => {
            let h = hash_common(&r);
            if let Some(c) = s
                .table
                .candidates(h)
                .find(|&c| equal_common(&r, s.flat.rec(c)))
            {
                new_id = c;
            }
            h
        }
        _ => return,
    };
    s.map[id as usize] = new_id;
    if new_id == id {
        s.table.add(h, id);
    }
}
