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
//!
//! # Two parts on two threads ([`dedup_ref_types_split`])
//!
//! Without a base, the representative of a class of equal reference types is the member
//! finished first, and finishing goes id by id. When the ids `p..q` are *closed*, their
//! reference types referring to no reference type below `p` (the encoder's compilation
//! units are: a unit's types refer to its own types, to `void` and to one INT), the walk of
//! `1..p` never enters `p..q` and the walk of `p..q` never enters `1..p`, and the two can
//! run at once, each with a table of its own. Joining them is exact: going through the
//! representatives of `p..q` in the order they were filed (targets before the types that
//! refer to them), each one's referenced ids are made final and it is looked up among the
//! first part's: found, its class began below `p` and that member stays; not found, its
//! class begins here, as on one thread, and it is filed for what follows. Two classes of
//! the second part never meet the same class of the first (their members would be equal,
//! and so would they). The ids from `q` (the functions and sections added after the last
//! unit) then go on one thread as before.

use std::cell::Cell;
use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};

use kbtf_btf::Kind;

use crate::error::DedupError;
use crate::flat::*;
use crate::sig::*;
use crate::state::{State, IN_PROGRESS, MAX_ID};
use crate::table::hash_combine;

pub(crate) fn dedup_ref_types(s: &mut State) -> Result<(), DedupError> {
    let mut stack = Vec::new();
    let mut own = (s.start == 1).then(RefTable::new);
    let ids = s.start..s.end();
    run(s, ids, &mut stack, own.as_mut())
}

/// [`dedup_ref_types`] for BTF without a base whose ids `p..q` are closed (module docs), on
/// two threads: `1..p` on this one, `p..q` on another, then the rest here. The result is the
/// same, byte for byte. Falls back to one thread where the parts are not as expected.
pub(crate) fn dedup_ref_types_split(s: &mut State, p: u32, q: u32) -> Result<(), DedupError> {
    let end = s.end();
    if s.start != 1 || p <= 1 || p >= q || q > end || s.flat.len() != end as usize {
        return dedup_ref_types(s);
    }
    // The trailing words of ids below `p` come before those of `p..q`, which come before
    // those of later ids: the encoder appends them in id order.
    let elo = s.flat.recs[p as usize].extra as usize;
    let ehi = match s.flat.recs.get(q as usize) {
        Some(r) => r.extra as usize,
        None => s.flat.extra.len(),
    };
    let last_a = s.flat.recs[p as usize - 1];
    if last_a.extra as usize + extra_len(last_a.info) > elo || elo > ehi || ehi > s.flat.extra.len()
    {
        return dedup_ref_types(s);
    }
    let mut table_a = RefTable::new();
    let mut table_b = RefTable::new();
    let (first, second) = {
        let State { flat, map, .. } = &mut *s;
        let map = atomic_view(map);
        let (recs_a, rest) = flat.recs.split_at_mut(p as usize);
        let recs_b = &mut rest[..(q - p) as usize];
        let (extra_a, rest) = flat.extra.split_at_mut(elo);
        let extra_b = &mut rest[..ehi - elo];
        let mut a = Part::new(0, recs_a, extra_a, 0, map);
        let b = Part::new(p, recs_b, extra_b, elo, map);
        std::thread::scope(|scope| {
            let tb = &mut table_b;
            let other = std::thread::Builder::new()
                .name("kbtf-refs".into())
                .spawn_scoped(scope, move || {
                    let mut b = b;
                    let r = run(&mut b, p..q, &mut Vec::new(), Some(tb));
                    (r, b.broken.get())
                });
            let r = run(&mut a, 1..p, &mut Vec::new(), Some(&mut table_a));
            let first = (r, a.broken.get());
            let second = match other {
                Ok(h) => Some(h.join()),
                Err(_) => None,
            };
            (first, second)
        })
    };
    let broken = |id| DedupError::Internal {
        id,
        what: "a part of the reference pass reached a type outside it",
    };
    first.0?;
    if first.1 {
        return Err(broken(1));
    }
    match second {
        Some(Ok((r, b_broken))) => {
            r?;
            if b_broken {
                return Err(broken(p));
            }
        }
        Some(Err(_)) => {
            return Err(DedupError::Internal {
                id: p,
                what: "the thread of the reference pass's second part panicked",
            })
        }
        // No thread: the second part runs here, after the first, into its own table as
        // it would have there.
        None => run(s, p..q, &mut Vec::new(), Some(&mut table_b))?,
    }
    // The second part's representatives, in the order they were filed, join the first's.
    for i in 0..table_b.added.len() {
        let r = table_b.added[i];
        for k in 0..child_count(s, r) {
            let c = child(s, r, k);
            let rep = s.resolve(c);
            if rep != c {
                set_child(s, r, k, rep);
            }
        }
        let h = ref_hash(s, r);
        let sr: &State = s;
        let found = table_a.find_or_add(h, r, |c| ref_equal(sr, r, c));
        if found != r {
            s.map[r as usize] = found;
        }
    }
    run(s, q..end, &mut Vec::new(), Some(&mut table_a))
}

/// `map` as atomics, for two threads to share: each writes its own entries and reads
/// others' only where no thread writes.
fn atomic_view(map: &mut [u32]) -> &[AtomicU32] {
    // SAFETY: `AtomicU32` has the size, alignment and bit validity of `u32`, and the view
    // holds the exclusive borrow of `map` for as long as it lives, so nothing else reads or
    // writes the entries meanwhile.
    unsafe { &*(map as *mut [u32] as *const [AtomicU32]) }
}

/// Deduplicates every reference type of `ids` not done yet, in id order.
fn run<T: Types>(
    s: &mut T,
    ids: Range<u32>,
    stack: &mut Vec<(u32, usize)>,
    mut own: Option<&mut RefTable>,
) -> Result<(), DedupError> {
    for id in ids {
        // Primitives, structs and the references already met as someone's target have
        // their representative: `dedup_ref_type` would only look it up.
        if s.map(id).is_some_and(|m| m <= MAX_ID) {
            continue;
        }
        dedup_ref_type(s, id, stack, own.as_deref_mut())?;
    }
    Ok(())
}

/// What the pass reads and writes: all of [`State`], or a [`Part`] of it.
trait Types {
    fn rec(&self, id: u32) -> Rec;
    fn words(&self, id: u32) -> &[u32];
    fn set_st(&mut self, id: u32, to: u32);
    fn set_word(&mut self, id: u32, k: usize, to: u32);
    /// The canonical map's entry for `id`; `None` if there is no such type.
    fn map(&self, id: u32) -> Option<u32>;
    fn set_map(&mut self, id: u32, to: u32);
    fn resolve(&self, id: u32) -> u32;
    /// Finds the representative of `id` (its referenced ids canonical) in the shared
    /// candidate table, or files it there.
    fn file_shared(&mut self, id: u32) -> u32;
}

impl Types for State {
    #[inline]
    fn rec(&self, id: u32) -> Rec {
        *self.flat.rec(id)
    }
    #[inline]
    fn words(&self, id: u32) -> &[u32] {
        self.flat.words(id)
    }
    #[inline]
    fn set_st(&mut self, id: u32, to: u32) {
        self.flat.recs[id as usize].st = to;
    }
    #[inline]
    fn set_word(&mut self, id: u32, k: usize, to: u32) {
        if let Some(w) = self.flat.words_mut(id).get_mut(k) {
            *w = to;
        }
    }
    #[inline]
    fn map(&self, id: u32) -> Option<u32> {
        self.map.get(id as usize).copied()
    }
    #[inline]
    fn set_map(&mut self, id: u32, to: u32) {
        self.map[id as usize] = to;
    }
    #[inline]
    fn resolve(&self, id: u32) -> u32 {
        State::resolve(self, id)
    }
    fn file_shared(&mut self, id: u32) -> u32 {
        let h = ref_hash(self, id);
        let found = self.table.candidates(h).find(|&c| ref_equal(self, id, c));
        match found {
            Some(c) => c,
            None => {
                self.table.add(h, id);
                id
            }
        }
    }
}

/// The ids `lo..lo + recs.len()` of a [`State`], their records and trailing words, for one
/// thread, with the canonical map of every id shared between the threads: a part writes
/// only its own entries, and reads others only of types whose entries no part writes
/// (primitives and structs, final by now). Anything outside the part is an error
/// (`broken`), which the caller reports.
struct Part<'a> {
    lo: u32,
    recs: &'a mut [Rec],
    /// Trailing words from index `elo` of the whole vector.
    extra: &'a mut [u32],
    elo: usize,
    map: &'a [AtomicU32],
    broken: Cell<bool>,
}

impl<'a> Part<'a> {
    fn new(
        lo: u32,
        recs: &'a mut [Rec],
        extra: &'a mut [u32],
        elo: usize,
        map: &'a [AtomicU32],
    ) -> Part<'a> {
        Part {
            lo,
            recs,
            extra,
            elo,
            map,
            broken: Cell::new(false),
        }
    }

    #[inline]
    fn index(&self, id: u32) -> Option<usize> {
        let i = id.checked_sub(self.lo)? as usize;
        (i < self.recs.len()).then_some(i)
    }

    #[inline]
    fn span(&self, r: &Rec) -> Option<Range<usize>> {
        let from = (r.extra as usize).checked_sub(self.elo)?;
        let to = from + extra_len(r.info);
        (to <= self.extra.len()).then_some(from..to)
    }
}

impl Types for Part<'_> {
    #[inline]
    fn rec(&self, id: u32) -> Rec {
        match self.index(id) {
            Some(i) => self.recs[i],
            None => {
                self.broken.set(true);
                Rec::default()
            }
        }
    }
    #[inline]
    fn words(&self, id: u32) -> &[u32] {
        let r = self.rec(id);
        match self.span(&r) {
            Some(span) => &self.extra[span],
            None => {
                self.broken.set(true);
                &[]
            }
        }
    }
    #[inline]
    fn set_st(&mut self, id: u32, to: u32) {
        match self.index(id) {
            Some(i) => self.recs[i].st = to,
            None => self.broken.set(true),
        }
    }
    #[inline]
    fn set_word(&mut self, id: u32, k: usize, to: u32) {
        let r = self.rec(id);
        match self.span(&r) {
            Some(span) if k < span.len() => self.extra[span.start + k] = to,
            _ => self.broken.set(true),
        }
    }
    #[inline]
    fn map(&self, id: u32) -> Option<u32> {
        self.map.get(id as usize).map(|m| m.load(Ordering::Relaxed))
    }
    #[inline]
    fn set_map(&mut self, id: u32, to: u32) {
        match (self.index(id), self.map.get(id as usize)) {
            (Some(_), Some(m)) => m.store(to, Ordering::Relaxed),
            _ => self.broken.set(true),
        }
    }
    fn resolve(&self, mut id: u32) -> u32 {
        for _ in 0..=self.map.len() {
            match self.map(id) {
                Some(next) if next <= MAX_ID && next != id => id = next,
                _ => return id,
            }
        }
        self.broken.set(true);
        id
    }
    fn file_shared(&mut self, id: u32) -> u32 {
        self.broken.set(true);
        id
    }
}

/// libbpf's signature hash of reference type `id` (`btf_hash_common`, `btf_hash_int_decl_tag`,
/// `btf_hash_array`, `btf_hash_fnproto`): the common words, then DECL_TAG's component index,
/// or every trailing word of an ARRAY or FUNC_PROTO.
#[inline]
fn ref_hash<T: Types>(s: &T, id: u32) -> i64 {
    let r = s.rec(id);
    let h = hash_common(&r);
    match r.kind() {
        DECL_TAG => hash_combine(h, s.words(id).first().copied().unwrap_or(0)),
        ARRAY | FUNC_PROTO => s.words(id).iter().fold(h, |h, &w| hash_combine(h, w)),
        _ => h,
    }
}

/// Reference types `a` and `b` equal, referenced ids included (`btf_equal_common`,
/// `btf_equal_int_tag`, `btf_equal_array`, `btf_equal_fnproto`). `b` may be of any kind (a
/// hash collision): the info comparison rejects it.
#[inline]
fn ref_equal<T: Types>(s: &T, a: u32, b: u32) -> bool {
    let (ra, rb) = (s.rec(a), s.rec(b));
    if !equal_common(&ra, &rb) {
        return false;
    }
    match ra.kind() {
        DECL_TAG => s.words(a).first() == s.words(b).first(),
        ARRAY | FUNC_PROTO => s.words(a) == s.words(b),
        _ => true,
    }
}

/// The representatives among reference types, by hash: open addressing with linear
/// probing on the hash's low 32 bits. A slot holds those bits (to skip other keys without
/// reading their types) above the id; 0 is an empty slot (no reference type is `void`).
struct RefTable {
    slots: Vec<u64>,
    len: usize,
    /// The representatives in the order they were filed.
    added: Vec<u32>,
}

impl RefTable {
    fn new() -> RefTable {
        RefTable {
            slots: kbtf_btf::mem::written(1 << 14, 0),
            len: 0,
            added: Vec::new(),
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
        self.added.push(id);
        if self.len * 2 > self.slots.len() {
            self.grow();
        }
        id
    }

    /// Doubles the slots, keeping each entry's probe order among those of its key.
    fn grow(&mut self) {
        let n = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, kbtf_btf::mem::written(n, 0));
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
#[inline]
fn child_count<T: Types>(s: &T, id: u32) -> usize {
    let r = s.rec(id);
    match r.kind() {
        ARRAY => 2,
        FUNC_PROTO => 1 + r.vlen(),
        _ => 1,
    }
}

/// The `k`-th referenced id of reference type `id`.
#[inline]
fn child<T: Types>(s: &T, id: u32, k: usize) -> u32 {
    let r = s.rec(id);
    match r.kind() {
        ARRAY => s.words(id).get(k).copied().unwrap_or(0),
        FUNC_PROTO if k > 0 => s.words(id).get(2 * (k - 1) + 1).copied().unwrap_or(0),
        _ => r.st,
    }
}

/// Replaces the `k`-th referenced id of `id` by `to`.
#[inline]
fn set_child<T: Types>(s: &mut T, id: u32, k: usize, to: u32) {
    match s.rec(id).kind() {
        ARRAY => s.set_word(id, k, to),
        FUNC_PROTO if k > 0 => s.set_word(id, 2 * (k - 1) + 1, to),
        _ => s.set_st(id, to),
    }
}

/// Marks unprocessed type `id` in progress; it must be a reference kind.
fn begin<T: Types>(s: &mut T, id: u32) -> Result<(), DedupError> {
    s.set_map(id, IN_PROGRESS);
    match s.rec(id).kind() {
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
#[inline]
fn finish<T: Types>(s: &mut T, id: u32, own: Option<&mut RefTable>) -> u32 {
    let new_id = match own {
        Some(t) => {
            let h = ref_hash(s, id);
            let sr: &T = s;
            t.find_or_add(h, id, |c| ref_equal(sr, id, c))
        }
        None => s.file_shared(id),
    };
    s.set_map(id, new_id);
    new_id
}

/// Deduplicates `root` and everything it refers to that is not done yet; returns the
/// representative of `root` (`btf_dedup_ref_type`).
fn dedup_ref_type<T: Types>(
    s: &mut T,
    root: u32,
    stack: &mut Vec<(u32, usize)>,
    mut own: Option<&mut RefTable>,
) -> Result<u32, DedupError> {
    match s.map(root) {
        Some(IN_PROGRESS) => return Err(DedupError::ReferenceLoop { id: root }),
        Some(m) if m <= MAX_ID => return Ok(s.resolve(root)),
        Some(_) => {}
        None => return Err(no_type(root)),
    }
    // Most references refer to one type that already has its representative (a pointer to
    // a struct, a typedef of an int): done here, as the walk below would do it.
    let r = s.rec(root);
    if matches!(
        r.kind(),
        CONST | VOLATILE | RESTRICT | PTR | TYPEDEF | FUNC | TYPE_TAG | DECL_TAG
    ) && s.map(r.st).is_some_and(|m| m <= MAX_ID)
    {
        let rep = s.resolve(r.st);
        s.set_st(root, rep);
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
            match s.map(target) {
                Some(IN_PROGRESS) => return Err(DedupError::ReferenceLoop { id: target }),
                Some(m) if m <= MAX_ID => {
                    let rep = s.resolve(target);
                    set_child(s, id, k, rep);
                    if let Some(top) = stack.last_mut() {
                        top.1 += 1;
                    }
                }
                Some(_) => {
                    begin(s, target)?;
                    stack.push((target, 0));
                }
                None => return Err(no_type(target)),
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

fn no_type(id: u32) -> DedupError {
    DedupError::Internal {
        id,
        what: "a referenced id names no type",
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
