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
//!
//! # Candidates without libbpf's visiting order
//!
//! Reference types are compared with *equal*, which is exact: every field, referenced ids
//! included (made canonical first). It never holds between types of different kinds, so no
//! primitive or struct in the table can match, and two representatives are never equal to
//! each other (the second would have found the first). So at most one candidate of a key
//! can match, and the order in which they are tried cannot change which. Without a base,
//! the pass therefore files its candidates in a table of its own ([`RefTable`]): open
//! addressing, one probe sequence per type for both the lookup and the insertion, and no
//! primitives or structs to walk past. With a base, the base's reference types are
//! candidates too, and which of two equal base types wins depends on libbpf's order: the
//! shared [`CandTable`](crate::table::CandTable) is used as before.

use kbtf_btf::Kind;

use crate::error::DedupError;
use crate::flat::*;
use crate::sig::*;
use crate::state::{State, IN_PROGRESS, MAX_ID};

pub(crate) fn dedup_ref_types(s: &mut State) -> Result<(), DedupError> {
    let mut stack = Vec::new();
    let mut own = (s.start == 1).then(RefTable::new);
    for id in s.start..s.end() {
        // Primitives, structs and the references already met as someone's target have
        // their representative: `dedup_ref_type` would only look it up.
        if s.map[id as usize] <= MAX_ID {
            continue;
        }
        dedup_ref_type(s, id, &mut stack, own.as_mut())?;
    }
    Ok(())
}

/// The representatives among reference types, by hash: open addressing with linear
/// probing on the hash's low 32 bits. A slot holds those bits (to skip other keys without
/// reading their types) above the id; 0 is an empty slot (no reference type is `void`).
struct RefTable {
    slots: Vec<u64>,
    len: usize,
}

impl RefTable {
    fn new() -> RefTable {
        RefTable {
            slots: vec![0; 1 << 14],
            len: 0,
        }
    }

    /// Where the probe for a key with low bits `tag` starts.
    #[inline]
    fn home(tag: u32, slots: usize) -> usize {
        let bits = slots.trailing_zeros();
        ((tag as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as usize
    }

    /// The representative under `key` that `equal` accepts, or, if there is none, `id` filed
    /// as a new one.
    #[inline]
    fn find_or_add(&mut self, key: i64, id: u32, equal: impl Fn(u32) -> bool) -> u32 {
        let tag = key as u32;
        let mask = self.slots.len() - 1;
        let mut i = RefTable::home(tag, self.slots.len());
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                break;
            }
            if (slot >> 32) as u32 == tag && equal(slot as u32) {
                return slot as u32;
            }
            i = (i + 1) & mask;
        }
        self.slots[i] = (tag as u64) << 32 | id as u64;
        self.len += 1;
        if self.len * 2 > self.slots.len() {
            self.grow();
        }
        id
    }

    /// Doubles the slots, keeping each entry's probe order among those of its key.
    fn grow(&mut self) {
        let n = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![0; n]);
        for slot in old.into_iter().filter(|&s| s != 0) {
            let mut i = RefTable::home((slot >> 32) as u32, n);
            while self.slots[i] != 0 {
                i = (i + 1) & (n - 1);
            }
            self.slots[i] = slot;
        }
    }
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
/// or makes it one, in the pass's own table when it has one.
fn finish(s: &mut State, id: u32, own: Option<&mut RefTable>) -> u32 {
    let f = &s.flat;
    let r = *f.rec(id);
    if let Some(t) = own {
        let new_id = match r.kind() {
            DECL_TAG => t.find_or_add(hash_int_decl_tag(f, id), id, |c| equal_int_tag(f, id, c)),
            ARRAY => t.find_or_add(hash_array(f, id), id, |c| equal_array(f, id, c)),
            FUNC_PROTO => t.find_or_add(hash_fnproto(f, id), id, |c| equal_fnproto(f, id, c)),
            _ => t.find_or_add(hash_common(&r), id, |c| equal_common(&r, f.rec(c))),
        };
        s.map[id as usize] = new_id;
        return new_id;
    }
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
    mut own: Option<&mut RefTable>,
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
        return Ok(finish(s, root, own));
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
        let rep = finish(s, id, own.as_deref_mut());
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

#[cfg(test)]
mod tests {
    use super::RefTable;

    /// The table finds the one equal representative under a key (the first id of its
    /// class), and files the others, through growths and keys that share their low 32 bits
    /// or all their bits.
    #[test]
    fn ref_table_finds_the_first_of_each_class() {
        let mut rng = kbtf_btf::diff::testing::Rng::new(5);
        let mut t = RefTable::new();
        let mut first = std::collections::HashMap::new();
        // A type's content is a class number; 50,000 classes on 20,000 low halves of keys.
        let class_of = |id: u32| (id.wrapping_mul(7919)) % 50_000;
        let key_of = |class: u32| ((class as i64 % 3) << 40) | (class as i64 % 20_000);
        for n in 1..60_000u32 {
            let id = n * 3 + rng.below(3) as u32;
            let class = class_of(id);
            let want = *first.entry(class).or_insert(id);
            let got = t.find_or_add(key_of(class), id, |c| class_of(c) == class);
            assert_eq!(got, want, "id {id}");
        }
        assert!(t.slots.len() > 1 << 14, "the table grew");
        assert_eq!(t.len, first.len());
    }
}
