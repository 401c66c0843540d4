//! Test support: rewriting a BTF into another one of the same meaning, with its types in
//! another order (all ids remapped) and its strings in another order, as a different encoder
//! run (or pahole's multi-threaded encoding) would produce. Property tests of the encoder and
//! of [`diff`](super::diff) use it; it is deterministic for a given seed.

use std::collections::HashMap;
use std::sync::Arc;

use crate::btf::Btf;
use crate::types::TypeId;

/// A small deterministic pseudo-random generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Shuffles `v` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// Rebuilds the own types of `btf` on `new_base` (or as a base BTF), in a shuffled order and
/// with a shuffled string table. `base_map` maps ids below `btf.start_id()` to ids of
/// `new_base`. Returns the new BTF and the map from old own ids to new ids.
fn rebuild(
    btf: &Btf,
    new_base: Option<Arc<Btf>>,
    base_map: &dyn Fn(TypeId) -> TypeId,
    rng: &mut Rng,
) -> (Btf, HashMap<TypeId, TypeId>) {
    let own = btf.own_types();
    let start = btf.start_id();
    let new_start = new_base.as_ref().map_or(1, |b| b.end_id());

    // order[new position] = old index.
    let mut order: Vec<usize> = (0..own.len()).collect();
    rng.shuffle(&mut order);
    let mut new_pos = vec![0u32; own.len()];
    for (pos, &old) in order.iter().enumerate() {
        new_pos[old] = pos as u32;
    }
    let map_id = |id: TypeId| -> TypeId {
        if id == 0 {
            0
        } else if id < start {
            base_map(id)
        } else if let Some(&p) = new_pos.get((id - start) as usize) {
            new_start + p
        } else {
            // An id out of range stays out of range, the same distance past the end.
            (id - start).saturating_add(new_start)
        }
    };

    // Every string the own types use, added in shuffled order. Strings of the base that the
    // split refers to are copied into the split's own table (a valid encoding of the same
    // names). Offsets that lead nowhere become the empty string.
    let mut strings: Vec<Vec<u8>> = Vec::new();
    {
        let mut seen = std::collections::HashSet::new();
        for t in own {
            t.for_each_str_off(|off| {
                let s = btf.str_bytes(off).unwrap_or_default();
                if seen.insert(s) {
                    strings.push(s.to_vec());
                }
            });
        }
    }
    strings.sort();
    rng.shuffle(&mut strings);
    let mut out = match new_base {
        Some(b) => Btf::new_split(b),
        None => Btf::new(),
    };
    let mut str_map: HashMap<Vec<u8>, u32> = HashMap::new();
    for s in strings {
        let off = out.strings_mut().add(&s);
        str_map.insert(s, off);
    }

    for &old in &order {
        let mut t = own[old].clone();
        t.for_each_ref_mut(|r| *r = map_id(*r));
        t.for_each_str_off_mut(|off| {
            let s = btf.str_bytes(*off).unwrap_or_default();
            *off = str_map.get(s).copied().unwrap_or(0);
        });
        out.add_type(t);
    }
    let ids = (0..own.len())
        .map(|i| (start + i as u32, new_start + new_pos[i]))
        .collect();
    (out, ids)
}

/// `btf` with its own types shuffled and all ids remapped, and its strings in another order.
/// A split BTF keeps its base.
pub fn shuffle(btf: &Btf, seed: u64) -> Btf {
    let mut rng = Rng::new(seed);
    rebuild(btf, btf.base().cloned(), &|id| id, &mut rng).0
}

/// Like [`shuffle`], but for split BTF the base is shuffled as well (one level), and the split
/// is rebuilt on the shuffled base: the result means the same but shares no ids with `btf`.
pub fn shuffle_with_base(btf: &Btf, seed: u64) -> Btf {
    let Some(base) = btf.base() else {
        return shuffle(btf, seed);
    };
    let mut rng = Rng::new(seed);
    let (new_base, base_ids) = rebuild(base, base.base().cloned(), &|id| id, &mut rng);
    let base_map = |id: TypeId| base_ids.get(&id).copied().unwrap_or(id);
    rebuild(btf, Some(Arc::new(new_base)), &base_map, &mut rng).0
}
