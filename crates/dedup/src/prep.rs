//! Preparation for split BTF (libbpf's `btf_dedup_prep`): every base type is its own
//! representative, fixed, and a candidate for the split's types.
//!
//! Base types go into the candidate table before any split type, each under the hash the
//! later passes compute for its kind, so that a split type equal to a base type maps to it.
//! VARs and DATASECs are never candidates.

use crate::flat::*;
use crate::fx::{FxHashMap, FxHashSet};
use crate::sig::*;
use crate::state::State;

/// The signature hash of type `id` under which the candidate table files it, or `None` for
/// the kinds never filed (VAR, DATASEC).
pub(crate) fn hash_any(s: &State, id: u32) -> Option<i64> {
    let f = &s.flat;
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

/// What must be equal between two types for any of libbpf's comparisons to find them equal
/// (name, info, and the size or referenced type), and what the candidate table is keyed by
/// without it: a split type never meets a base candidate that differs in it. Enums are
/// matched by name alone (an enum forward declaration meets enums of either kind and any
/// size), so their key is the name.
pub(crate) fn match_key(r: &Rec) -> (u32, u32, u32) {
    match r.kind() {
        ENUM | ENUM64 => (r.name_off, u32::MAX, 0),
        _ => (r.name_off, r.info, r.st),
    }
}

/// Base types that are candidates only once a split type asks for them (libbpf files every
/// base type at the start; filing only the ones some split type can meet, at the positions
/// libbpf filed them, gives every lookup the same candidates in the same order).
#[derive(Default)]
pub(crate) struct LazyBase {
    /// Position among libbpf's insertions, by base id (`u32::MAX`: never filed).
    pos: Vec<u32>,
    /// Reference types by [`match_key`], not filed yet.
    refs: FxHashMap<(u32, u32, u32), Vec<u32>>,
}

/// Makes every base type (ids below `s.start`) canonical, and files as candidates the base
/// primitives and structs that some split type can meet; base reference types are filed
/// when the reference pass first looks for their key ([`file_base_refs`]).
pub(crate) fn prepare_base(s: &mut State) {
    if s.start <= 1 {
        return;
    }
    if std::env::var_os("KBTF_EAGER_BASE").is_some() {
        s.table.reserve(s.start as usize);
        for id in 1..s.start {
            s.map[id as usize] = id;
            if let Some(h) = hash_any(s, id) {
                s.table.add(h, id);
            }
        }
        return;
    }
    let start = s.start as usize;
    let mut lazy = LazyBase {
        pos: vec![u32::MAX; start],
        refs: FxHashMap::default(),
    };
    let mut filed = 0u32;
    for id in 1..s.start {
        s.map[id as usize] = id;
        if !matches!(s.flat.kind(id), VAR | DATASEC) {
            lazy.pos[id as usize] = filed;
            filed += 1;
        }
    }
    let mut wanted: FxHashSet<(u32, u32, u32)> = FxHashSet::default();
    for id in s.start..s.end() {
        let r = s.flat.rec(id);
        if matches!(r.kind(), INT | FLOAT | FWD | ENUM | ENUM64 | STRUCT | UNION) {
            wanted.insert(match_key(r));
        }
    }
    for id in 1..s.start {
        let r = *s.flat.rec(id);
        match r.kind() {
            VAR | DATASEC => {}
            INT | FLOAT | FWD | ENUM | ENUM64 | STRUCT | UNION => {
                if wanted.contains(&match_key(&r)) {
                    if let Some(h) = hash_any(s, id) {
                        s.table.add_at(h, id, lazy.pos[id as usize]);
                    }
                }
            }
            _ => lazy.refs.entry(match_key(&r)).or_default().push(id),
        }
    }
    s.table.skip(filed as usize);
    s.lazy_base = Some(lazy);
}

/// Files the base reference types that a split type of `key` can meet, if not done yet.
pub(crate) fn file_base_refs(s: &mut State, key: (u32, u32, u32)) {
    let Some(ids) = s.lazy_base.as_mut().and_then(|l| l.refs.remove(&key)) else {
        return;
    };
    for id in ids {
        if let Some(h) = hash_any(s, id) {
            let pos = s.lazy_base.as_ref().map_or(0, |l| l.pos[id as usize]);
            s.table.add_at(h, id, pos);
        }
    }
}
