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

use crate::fx::FxHashMap;

/// libbpf's `hash_combine`: `h * 31 + value` in (wrapping) 64-bit signed arithmetic.
#[inline]
pub(crate) fn hash_combine(h: i64, value: u32) -> i64 {
    h.wrapping_mul(31).wrapping_add(value as i64)
}

/// Canonical type ids by signature hash, in libbpf's visiting order.
#[derive(Debug, Default)]
pub(crate) struct CandTable {
    /// Per key: the type ids, the one visited first last.
    lists: FxHashMap<i64, Vec<u32>>,
    /// Keys whose list has two or more entries: the ones a grow reverses.
    multi: Vec<i64>,
    /// Entries in libbpf's map (`sz`) and its capacity (`cap`).
    size: usize,
    cap: usize,
}

impl CandTable {
    pub fn new() -> CandTable {
        CandTable::default()
    }

    /// libbpf's map grows before an insertion that would fill it over 75%.
    #[inline]
    fn grow_if_needed(&mut self) {
        if self.cap == 0 || (self.size + 1) * 4 / 3 > self.cap {
            self.cap = if self.cap == 0 { 4 } else { self.cap * 2 };
            for k in &self.multi {
                if let Some(list) = self.lists.get_mut(k) {
                    list.reverse();
                }
            }
        }
    }

    /// Counts `n` insertions made into libbpf's one map that this table does not hold (the
    /// other kinds' candidates, when each class of kinds has a table of its own): the map's
    /// growth, and so the order of this table's lists, depends on them.
    pub fn skip(&mut self, n: usize) {
        for _ in 0..n {
            self.grow_if_needed();
            self.size += 1;
        }
    }

    /// Insertions counted so far (held or skipped): libbpf's `hashmap__size`.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Appends `id` under `key` (`hashmap__append`).
    pub fn add(&mut self, key: i64, id: u32) {
        self.grow_if_needed();
        let list = self.lists.entry(key).or_default();
        list.push(id);
        if list.len() == 2 {
            self.multi.push(key);
        }
        self.size += 1;
    }

    /// Number of candidates under `key`.
    #[inline]
    pub fn count(&self, key: i64) -> usize {
        self.lists.get(&key).map_or(0, Vec::len)
    }

    /// The `i`-th candidate under `key` in libbpf's visiting order (`i < count(key)`).
    #[inline]
    pub fn get(&self, key: i64, i: usize) -> u32 {
        let list = &self.lists[&key];
        list[list.len() - 1 - i]
    }

    /// The candidates under `key`, in libbpf's visiting order.
    pub fn candidates(&self, key: i64) -> impl Iterator<Item = u32> + '_ {
        self.lists
            .get(&key)
            .into_iter()
            .flat_map(|l| l.iter().rev().copied())
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

    #[test]
    fn visiting_order_matches_libbpf_hashmap_model() {
        let mut rng = kbtf_btf::diff::testing::Rng::new(7);
        let mut t = CandTable::new();
        let mut m = Model {
            buckets: Vec::new(),
            bits: 0,
            size: 0,
        };
        for id in 0..5000u32 {
            // Few distinct keys, so that lists are long and cross many grows; some keys
            // are negative, as libbpf's signed hashes can be.
            let key = rng.below(40) as i64 - 20;
            t.add(key, id);
            m.add(key, id);
            if id % 97 == 0 || id > 4990 {
                for k in -20..20 {
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
