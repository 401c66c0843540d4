//! Type signatures: libbpf's hash and equality functions, on [`Flat`] types.
//!
//! Three strengths of comparison, as in libbpf (`btf_hash_*`, `btf_equal_*`,
//! `btf_compat_*`, `btf_shallow_equal_*`):
//!
//! - *equal*: everything equal, referenced type ids included. Used once the referenced ids
//!   are canonical (primitives have none; reference types are compared after their targets
//!   were deduplicated).
//! - *shallow equal* / *compat*: everything but referenced type ids equal; the graph
//!   equivalence check compares the referenced types itself.
//! - the *hash* covers what the matching comparison covers, minus what must not split
//!   candidates: struct hashes leave out member types (not canonical yet), enum hashes are
//!   the name alone so that an enum forward declaration (no enumerators) meets the full enum
//!   of either kind (libbpf 1.1).
//!
//! Hashes are libbpf's exactly (`h * 31 + word`, 64-bit): the candidate table is keyed by
//! them, and the set of candidates sharing a key decides, in rare ties, which one wins.

use crate::flat::{Flat, Rec, ENUM, ENUM64};
use crate::table::hash_combine;

/// Hash of name, info and size/type (`btf_hash_common`).
#[inline]
pub(crate) fn hash_common(r: &Rec) -> i64 {
    let h = hash_combine(0, r.name_off);
    let h = hash_combine(h, r.info);
    hash_combine(h, r.st)
}

/// Name, info and size/type equal (`btf_equal_common`).
#[inline]
pub(crate) fn equal_common(a: &Rec, b: &Rec) -> bool {
    a.name_off == b.name_off && a.info == b.info && a.st == b.st
}

/// INT and DECL_TAG: the common words plus the one trailing word.
pub(crate) fn hash_int_decl_tag(f: &Flat, id: u32) -> i64 {
    hash_combine(hash_common(f.rec(id)), f.words(id)[0])
}

/// INT or DECL_TAG equality (`btf_equal_int_tag`). The caller knows `a` is an INT or
/// DECL_TAG; `b` may be anything (a hash collision), which the info comparison rejects.
pub(crate) fn equal_int_tag(f: &Flat, a: u32, b: u32) -> bool {
    equal_common(f.rec(a), f.rec(b)) && f.words(a)[0] == f.words(b)[0]
}

/// ENUM and ENUM64: the name only (libbpf 1.1 `btf_hash_enum`).
#[inline]
pub(crate) fn hash_enum(r: &Rec) -> i64 {
    hash_combine(0, r.name_off)
}

/// Two ENUMs or two ENUM64s with the same name, size, flags and enumerators
/// (`btf_equal_enum`).
pub(crate) fn equal_enum(f: &Flat, a: u32, b: u32) -> bool {
    equal_common(f.rec(a), f.rec(b)) && f.words(a) == f.words(b)
}

fn is_any_enum(r: &Rec) -> bool {
    matches!(r.kind(), ENUM | ENUM64)
}

/// An enum without enumerators: what a forward-declared enum becomes (`btf_is_enum_fwd`).
#[inline]
pub(crate) fn is_enum_fwd(r: &Rec) -> bool {
    is_any_enum(r) && r.vlen() == 0
}

/// Enum compatibility (`btf_compat_enum`, libbpf 1.1): equal, or one of them is an enum
/// forward declaration and both are enums of either kind with the same name (size and kind
/// may differ: a forward `enum e;` is compatible with an 8-byte ENUM64 `e`).
pub(crate) fn compat_enum(f: &Flat, a: u32, b: u32) -> bool {
    let (ra, rb) = (f.rec(a), f.rec(b));
    if !is_enum_fwd(ra) && !is_enum_fwd(rb) {
        return equal_enum(f, a, b);
    }
    ra.name_off == rb.name_off && is_any_enum(ra) && is_any_enum(rb)
}

/// STRUCT/UNION: common words plus member names and offsets, not member types
/// (`btf_hash_struct`).
pub(crate) fn hash_struct(f: &Flat, id: u32) -> i64 {
    let mut h = hash_common(f.rec(id));
    for m in f.words(id).chunks_exact(3) {
        h = hash_combine(h, m[0]);
        h = hash_combine(h, m[2]);
    }
    h
}

/// Everything of two STRUCTs/UNIONs but the member types (`btf_shallow_equal_struct`).
/// `b` may be of any kind: the info comparison rejects other kinds.
pub(crate) fn shallow_equal_struct(f: &Flat, a: u32, b: u32) -> bool {
    if !equal_common(f.rec(a), f.rec(b)) {
        return false;
    }
    f.words(a)
        .chunks_exact(3)
        .zip(f.words(b).chunks_exact(3))
        .all(|(x, y)| x[0] == y[0] && x[2] == y[2])
}

/// Whether the members of two shallowly equal structs refer to types of the same names,
/// member by member: a cheap test that the graph equivalence check can succeed. Not
/// libbpf's, and it changes no result: every way the check accepts a pair of types implies
/// equal names (representatives always have the name of the types mapped to them, and the
/// check compares names first), and the check visits every member pair of the two structs
/// before it can succeed. A failed check leaves nothing behind, so skipping one is
/// invisible. It saves most of the work on groups of anonymous structs of one layout (the
/// kernel has 693 `union { event; handler; }` whose member types differ).
pub(crate) fn member_names_match(f: &Flat, a: u32, b: u32) -> bool {
    f.words(a)
        .chunks_exact(3)
        .zip(f.words(b).chunks_exact(3))
        .all(|(x, y)| f.rec(x[1]).name_off == f.rec(y[1]).name_off)
}

/// ARRAY: common words, element and index types, count (`btf_hash_array`).
pub(crate) fn hash_array(f: &Flat, id: u32) -> i64 {
    let w = f.words(id);
    let h = hash_combine(hash_common(f.rec(id)), w[0]);
    let h = hash_combine(h, w[1]);
    hash_combine(h, w[2])
}

/// Two ARRAYs equal, element and index type ids included (`btf_equal_array`).
pub(crate) fn equal_array(f: &Flat, a: u32, b: u32) -> bool {
    equal_common(f.rec(a), f.rec(b)) && f.words(a) == f.words(b)
}

/// Two ARRAYs with the same count, types not compared (`btf_compat_array`).
pub(crate) fn compat_array(f: &Flat, a: u32, b: u32) -> bool {
    equal_common(f.rec(a), f.rec(b)) && f.words(a)[2] == f.words(b)[2]
}

/// FUNC_PROTO: common words (the return type among them), parameter names and types
/// (`btf_hash_fnproto`).
pub(crate) fn hash_fnproto(f: &Flat, id: u32) -> i64 {
    let mut h = hash_common(f.rec(id));
    for p in f.words(id).chunks_exact(2) {
        h = hash_combine(h, p[0]);
        h = hash_combine(h, p[1]);
    }
    h
}

/// Two FUNC_PROTOs with the same name, info and parameter names (`btf_compat_fnproto`).
pub(crate) fn compat_fnproto(f: &Flat, a: u32, b: u32) -> bool {
    let (ra, rb) = (f.rec(a), f.rec(b));
    if ra.name_off != rb.name_off || ra.info != rb.info {
        return false;
    }
    f.words(a)
        .chunks_exact(2)
        .zip(f.words(b).chunks_exact(2))
        .all(|(x, y)| x[0] == y[0])
}
