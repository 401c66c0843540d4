//! [`CandTable`]: the index of canonical types by signature hash (libbpf's `dedup_table`),
//! including the order in which libbpf visits the candidates of one hash.
//!
//! libbpf keeps its candidates in its generic `hashmap`, appending one entry per canonical
//! type and iterating the entries of a key with `hashmap__for_each_key_entry`. Which
//! candidate is tried first matters whenever two candidates could both match (it decides
//! which one a struct maps to, and through that which types survive), so for output equal to
//! libbpf's byte for byte we reproduce that order exactly:
//!
//! - a new entry is put at the head of its bucket's list, so the newest entry of a key is
//!   visited first;
//! - when the map grows (before an insertion that would take it over 75% of its capacity:
//!   `(size + 1) * 4 / 3 > capacity`, capacity starting at 4 and doubling), every bucket is
//!   walked from its head and each entry is put at the head of its new bucket: entries of the
//!   same key (which always share a bucket) end up in reverse order.
//!
//! Only the relative order of the entries of one key is observable, so the table stores, per
//! key, the list in reverse visiting order (a push is a prepend) and reverses every list of
//! two or more entries when libbpf's map would grow. The number of grows is logarithmic in
//! the number of entries, and only multi-entry keys are touched.

use crate::baseindex::BaseCands;

/// libbpf's `hash_combine`: `h * 31 + value` in (wrapping) 64-bit signed arithmetic.
#[inline]
pub(crate) fn hash_combine(h: i64, value: u32) -> i64 {
    h.wrapping_mul(31).wrapping_add(value as i64)
}

/// Canonical type ids by signature hash, in libbpf's visiting order.
///
/// Entries are kept in insertion order, each with its position among all insertions, chained
/// per slot of a head table (no allocation per key). The visiting order of a key is worked
/// out when it is looked up, from its entries' positions and the positions at which libbpf's
/// map grew, which are fixed: before insertions 0, 3, 6, 12, 24, ... (`3 * 2^k`). So counting
/// insertions this table does not hold ([`CandTable::skip`]) costs nothing.
#[derive(Debug, Default)]
pub(crate) struct CandTable {
    /// Per slot: 1 + the index in `entries` of the slot's newest entry (0: none).
    heads: Vec<u32>,
    entries: Vec<Entry>,
    /// Insertions counted (held or skipped): libbpf's `hashmap__size`.
    size: usize,
    /// The base's candidates, filed before every entry of this table
    /// ([`CandTable::attach_base`]).
    base: Option<BaseCands>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: i64,
    id: u32,
    /// Its position among all insertions.
    pos: u32,
    /// 1 + the index of the slot's previous entry (0: none).
    next: u32,
}

/// How many times libbpf's map grew before the insertions `0..=n`.
#[inline]
fn grows_through(n: u32) -> u32 {
    // Before insertion 0, then before 3 * 2^k for every k with 3 * 2^k <= n.
    if n < 3 {
        1
    } else {
        2 + (n / 3).ilog2()
    }
}

/// Whether libbpf's map grew an odd number of times between insertions `a` and `b` (each
/// growth reverses the lists).
#[inline]
fn flips(a: u32, b: u32) -> bool {
    (grows_through(b) - grows_through(a)) % 2 == 1
}

/// Puts the ids of `newest_first` (id, insertion position; newest first) into `out`, which
/// has room for exactly them, in libbpf's visiting order: replayed oldest first, each put
/// at the head of the list, the list reversed at each growth between two insertions and, with
/// `flip_after`, once more for growths since the newest. The list is the tail of `out` while
/// it grows, so it ends up filling it, without an allocation of its own.
fn replay(newest_first: &[(u32, u32)], flip_after: bool, out: &mut [u32]) {
    let cap = out.len();
    let mut len = 0usize;
    let mut last_pos = None;
    for &(id, pos) in newest_first.iter().rev().take(cap) {
        if let Some(p) = last_pos {
            if flips(p, pos) {
                out[cap - len..].reverse();
            }
        }
        len += 1;
        out[cap - len] = id;
        last_pos = Some(pos);
    }
    if flip_after {
        out[cap - len..].reverse();
    }
}

/// The candidates of one key in visiting order.
pub(crate) struct Cands {
    small: [u32; 8],
    len: usize,
    pos: usize,
    big: Vec<u32>,
}

impl Iterator for Cands {
    type Item = u32;
    #[inline]
    fn next(&mut self) -> Option<u32> {
        let v = if self.len <= self.small.len() {
            *self.small[..self.len].get(self.pos)?
        } else {
            *self.big.get(self.pos)?
        };
        self.pos += 1;
        Some(v)
    }
}

impl CandTable {
    pub fn new() -> CandTable {
        CandTable::default()
    }

    #[inline]
    fn slot(&self, key: i64) -> usize {
        let bits = self.heads.len().trailing_zeros();
        ((key as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as usize
    }

    /// Appends `id` under `key` (`hashmap__append`).
    pub fn add(&mut self, key: i64, id: u32) {
        self.add_at(key, id, self.size as u32);
        self.size += 1;
    }

    /// Files `id` under `key` as the insertion at position `pos` (counted separately).
    fn add_at(&mut self, key: i64, id: u32, pos: u32) {
        if (self.entries.len() + 1) * 2 > self.heads.len() {
            self.rehash();
        }
        let slot = self.slot(key);
        self.entries.push(Entry {
            key,
            id,
            pos,
            next: self.heads[slot],
        });
        self.heads[slot] = self.entries.len() as u32;
    }

    /// Makes room for `n` more entries.
    pub fn reserve(&mut self, n: usize) {
        self.entries.reserve(n);
        let want = ((self.entries.len() + n) * 2).next_power_of_two().max(1024);
        if want > self.heads.len() {
            self.rehash_to(want);
        }
    }

    fn rehash(&mut self) {
        self.rehash_to((self.heads.len() * 2).max(1024));
    }

    fn rehash_to(&mut self, n: usize) {
        self.heads.clear();
        self.heads.resize(n, 0);
        for i in 0..self.entries.len() {
            let slot = self.slot(self.entries[i].key);
            self.entries[i].next = self.heads[slot];
            self.heads[slot] = i as u32 + 1;
        }
    }

    /// Makes `base`'s candidates those filed first, as if added one by one: only before
    /// anything else was counted.
    pub fn attach_base(&mut self, base: BaseCands) {
        debug_assert!(self.size == 0 && self.entries.is_empty());
        self.size += base.len();
        self.base = Some(base);
    }

    /// Counts `n` insertions made into libbpf's one map that this table does not hold (the
    /// other kinds' candidates, when each class of kinds has a table of its own): the map's
    /// growth, and so the order of this table's lists, depends on them.
    pub fn skip(&mut self, n: usize) {
        self.size += n;
    }

    /// Insertions counted so far (held or skipped): libbpf's `hashmap__size`.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The candidates under `key`, in libbpf's visiting order: each new entry goes first, and
    /// each growth of the map reverses the list (its rehash walks a bucket from its head and
    /// prepends).
    pub fn candidates(&self, key: i64) -> Cands {
        let mut c = Cands {
            small: [0; 8],
            len: 0,
            pos: 0,
            big: Vec::new(),
        };
        // The key's entries, newest first: this table's, then the base's.
        let mut found: [(u32, u32); 8] = [(0, 0); 8];
        let mut more: Vec<(u32, u32)> = Vec::new();
        let mut n = 0usize;
        let mut push = |id: u32, pos: u32| {
            if n < found.len() {
                found[n] = (id, pos);
            } else {
                if n == found.len() {
                    more.extend_from_slice(&found);
                }
                more.push((id, pos));
            }
            n += 1;
        };
        if !self.heads.is_empty() {
            let mut e = self.heads[self.slot(key)];
            while e != 0 {
                let entry = &self.entries[e as usize - 1];
                if entry.key == key {
                    push(entry.id, entry.pos);
                }
                e = entry.next;
            }
        }
        if let Some(b) = &self.base {
            b.for_key(key, &mut push);
        }
        if n == 0 {
            return c;
        }
        let newest_first: &[(u32, u32)] = if n <= found.len() { &found[..n] } else { &more };
        debug_assert!(newest_first.windows(2).all(|w| w[0].1 > w[1].1));
        // Growths before the insertions after the newest one, up to the next.
        let now = self.size.saturating_sub(1) as u32;
        let newest = newest_first[0].1;
        let flip_after = now > newest && flips(newest, now);
        c.len = n;
        if n == 1 {
            // Most lookups: one candidate, whatever the growths.
            c.small[0] = newest_first[0].0;
        } else if n <= c.small.len() {
            replay(newest_first, flip_after, &mut c.small[..n]);
        } else {
            c.big = vec![0; n];
            replay(newest_first, flip_after, &mut c.big);
        }
        c
    }

    /// Number of candidates under `key`.
    #[cfg(test)]
    pub fn count(&self, key: i64) -> usize {
        self.candidates(key).count()
    }

    /// The `i`-th candidate under `key` in libbpf's visiting order (`i < count(key)`).
    #[cfg(test)]
    pub fn get(&self, key: i64, i: usize) -> u32 {
        self.candidates(key).nth(i).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model of libbpf's hashmap: buckets of singly linked lists, prepend on insert, a
    /// grow that re-prepends every entry walking the old buckets in order. Bucket choice is
    /// libbpf's `hash_bits` (the Fibonacci multiplier, upper bits).
    struct Model {
        buckets: Vec<Vec<(i64, u32)>>, // each Vec in list order (head first)
        bits: u32,
        size: usize,
    }

    impl Model {
        fn bucket(key: i64, bits: u32) -> usize {
            if bits == 0 {
                return 0;
            }
            ((key as u64).wrapping_mul(11400714819323198485) >> (64 - bits)) as usize
        }
        fn add(&mut self, key: i64, id: u32) {
            let cap = if self.bits == 0 {
                0
            } else {
                1usize << self.bits
            };
            if cap == 0 || (self.size + 1) * 4 / 3 > cap {
                let bits = (self.bits + 1).max(2);
                let mut nb: Vec<Vec<(i64, u32)>> = vec![Vec::new(); 1 << bits];
                for b in &self.buckets {
                    for &(k, v) in b {
                        nb[Model::bucket(k, bits)].insert(0, (k, v));
                    }
                }
                self.buckets = nb;
                self.bits = bits;
            }
            let b = Model::bucket(key, self.bits);
            self.buckets[b].insert(0, (key, id));
            self.size += 1;
        }
        fn candidates(&self, key: i64) -> Vec<u32> {
            if self.bits == 0 {
                return Vec::new();
            }
            self.buckets[Model::bucket(key, self.bits)]
                .iter()
                .filter(|e| e.0 == key)
                .map(|e| e.1)
                .collect()
        }
    }

    /// Split tables (one per class of keys, each counting the others' insertions with
    /// `skip`) visit each key's candidates as the one table does.
    #[test]
    fn split_tables_with_skips_match_one_table() {
        let mut rng = kbtf_btf::diff::testing::Rng::new(11);
        let mut one = CandTable::new();
        let mut split = [CandTable::new(), CandTable::new()];
        for id in 0..3000u32 {
            let key = rng.below(30) as i64;
            let class = (key % 2) as usize;
            one.add(key, id);
            split[class].add(key, id);
            split[1 - class].skip(1);
        }
        for k in 0..30 {
            let a: Vec<u32> = one.candidates(k).collect();
            let b: Vec<u32> = split[(k % 2) as usize].candidates(k).collect();
            assert_eq!(a, b, "key {k}");
        }
    }

    /// Room for nothing still gives a working table.
    #[test]
    fn reserving_nothing() {
        let mut t = CandTable::new();
        t.reserve(0);
        assert_eq!(t.candidates(5).count(), 0);
        t.add(5, 1);
        t.add(5, 2);
        assert_eq!(t.candidates(5).collect::<Vec<_>>(), vec![2, 1]);
    }

    /// Long lists (few keys, crossing many grows) and short ones (many keys, each with a
    /// handful of entries, replayed in place), some keys negative as libbpf's signed hashes
    /// can be.
    #[test]
    fn visiting_order_matches_libbpf_hashmap_model() {
        for (keys, seed) in [(40usize, 7u64), (1500, 8), (400, 9)] {
            let mut rng = kbtf_btf::diff::testing::Rng::new(seed);
            let mut t = CandTable::new();
            let mut m = Model {
                buckets: Vec::new(),
                bits: 0,
                size: 0,
            };
            let half = (keys / 2) as i64;
            for id in 0..5000u32 {
                let key = rng.below(keys) as i64 - half;
                t.add(key, id);
                m.add(key, id);
                if id % 97 == 0 || id > 4990 {
                    for k in -half..half {
                        let ours: Vec<u32> = t.candidates(k).collect();
                        assert_eq!(ours, m.candidates(k), "key {k} after {id} insertions");
                        assert_eq!(t.count(k), ours.len());
                        for (i, &c) in ours.iter().enumerate() {
                            assert_eq!(t.get(k, i), c);
                        }
                    }
                }
            }
        }
    }
}
