//! The candidates of a base BTF ([`BaseCands`]), worked out once per base instead of once
//! per module.
//!
//! Split dedup files every base type in the candidate table before any own type (libbpf's
//! `btf_dedup_prep`): for a vmlinux base, 95 k signature hashes and table entries, the same
//! in every module process. [`BaseCands`] is that filing as an immutable chained table in
//! bytes: built from the base's types and kept on the base object
//! ([`kbtf_btf::Btf::derived_index`]) or read from the base index cache of the `kbtf`
//! binary; a [`crate::table::CandTable`] holds the module's own entries and looks through
//! to it. It also records whether every reference of the base's types names a base type, so
//! that the reference check of every module need not walk the base again.
//!
//! Layout (little endian): magic, version, the base's end id, entry count, head count (a
//! power of two), the reference flag; then the heads (1 + index of the newest entry of each
//! slot, 0 for none); then the entries, 24 bytes each: key (i64), id, position among the
//! insertions, 1 + index of the slot's previous entry, class of the kind
//! ([`class`]). Bytes that do not fit the layout are not used; every read is checked, so
//! that even bytes damaged past the cache's checksum cannot make dedup panic or loop.

use kbtf_btf::flat::Flat;
use kbtf_btf::{Btf, Bytes};

use crate::flat::*;

const MAGIC: u32 = 0x5844_424b; // "KBDX"
const VERSION: u32 = 1;
const HEADER: usize = 24;
const ENTRY: usize = 24;

/// Which class of kinds a type belongs to for [`crate::Incremental`]'s tables: primitives
/// 0, structs 1, references 2.
pub(crate) fn class(kind: u32) -> u32 {
    match kind {
        INT | FLOAT | ENUM | ENUM64 | FWD => 0,
        STRUCT | UNION => 1,
        _ => 2,
    }
}

/// The base's candidates, as filed by `btf_dedup_prep`, in bytes.
#[derive(Debug, Clone)]
pub(crate) struct BaseCands {
    bytes: Bytes,
    /// The base's end id: entries naming other ids are ignored.
    end: u32,
    entries: u32,
    heads: u32,
    /// Every reference of the base's types is below `end`.
    pub refs_ok: bool,
    /// Only entries of this class are candidates (a per-class table of the incremental
    /// dedup); all of them when `None`.
    class: Option<u32>,
}

impl BaseCands {
    /// The bytes for the base whose types are ids `1..end` of `flat`.
    pub fn build(flat: &Flat, end: u32) -> Vec<u8> {
        let end = end.min(flat.len() as u32);
        let mut refs_ok = true;
        let mut keys: Vec<(i64, u32)> = Vec::with_capacity(end as usize);
        for id in 1..end {
            flat.for_each_ref(id, |r| refs_ok &= r < end);
            if let Some(h) = crate::prep::hash_any(flat, id) {
                keys.push((h, id));
            }
        }
        let heads = (keys.len() * 2).next_power_of_two().max(16);
        let mut head = vec![0u32; heads];
        let mut out = Vec::with_capacity(HEADER + heads * 4 + keys.len() * ENTRY);
        for v in [
            MAGIC,
            VERSION,
            end,
            keys.len() as u32,
            heads as u32,
            refs_ok as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let mut entries = Vec::with_capacity(keys.len() * ENTRY);
        for (i, &(key, id)) in keys.iter().enumerate() {
            let slot = slot(key, heads);
            entries.extend_from_slice(&key.to_le_bytes());
            for v in [id, i as u32, head[slot], class(flat.kind(id))] {
                entries.extend_from_slice(&v.to_le_bytes());
            }
            head[slot] = i as u32 + 1;
        }
        for h in head {
            out.extend_from_slice(&h.to_le_bytes());
        }
        out.extend_from_slice(&entries);
        out
    }

    /// Reads bytes made by [`BaseCands::build`] for a base ending at `end`; `None` if they
    /// do not fit.
    pub fn parse(bytes: Bytes, end: u32) -> Option<BaseCands> {
        let w = |i: usize| -> Option<u32> {
            Some(u32::from_le_bytes(
                bytes.get(i * 4..i * 4 + 4)?.try_into().ok()?,
            ))
        };
        if w(0)? != MAGIC || w(1)? != VERSION || w(2)? != end {
            return None;
        }
        let (entries, heads, refs_ok) = (w(3)?, w(4)?, w(5)?);
        if !heads.is_power_of_two() || refs_ok > 1 {
            return None;
        }
        let len = HEADER
            .checked_add((heads as usize).checked_mul(4)?)?
            .checked_add((entries as usize).checked_mul(ENTRY)?)?;
        if bytes.len() != len {
            return None;
        }
        Some(BaseCands {
            bytes,
            end,
            entries,
            heads,
            refs_ok: refs_ok == 1,
            class: None,
        })
    }

    /// The same candidates, those of one class only.
    pub fn of_class(&self, class: u32) -> BaseCands {
        BaseCands {
            class: Some(class),
            ..self.clone()
        }
    }

    /// How many insertions the base's filing made (libbpf's map size after it).
    pub fn len(&self) -> usize {
        self.entries as usize
    }

    /// Calls `f(id, position)` for the candidates under `key`, newest first.
    #[inline]
    pub fn for_key(&self, key: i64, mut f: impl FnMut(u32, u32)) {
        // The bytes once (a view of a mapped file goes through its owner).
        let b: &[u8] = &self.bytes;
        let word = |at: usize| -> u32 {
            match b.get(at..at + 4) {
                Some(&[x0, x1, x2, x3]) => u32::from_le_bytes([x0, x1, x2, x3]),
                _ => 0,
            }
        };
        let mut e = word(HEADER + slot(key, self.heads as usize) * 4);
        let entries_at = HEADER + self.heads as usize * 4;
        // A chain visits each entry at most once; damaged bytes cannot make it loop.
        for _ in 0..self.entries {
            if e == 0 || e > self.entries {
                return;
            }
            let at = entries_at + (e as usize - 1) * ENTRY;
            let Some(&[k0, k1, k2, k3, k4, k5, k6, k7]) = b.get(at..at + 8) else {
                return;
            };
            let k = i64::from_le_bytes([k0, k1, k2, k3, k4, k5, k6, k7]);
            let next = word(at + 16);
            if k == key {
                let (id, pos, class) = (word(at + 8), word(at + 12), word(at + 20));
                if id > 0 && id < self.end && self.class.is_none_or(|c| c == class) {
                    f(id, pos);
                }
            }
            e = next;
        }
    }
}

#[inline]
fn slot(key: i64, heads: usize) -> usize {
    let bits = heads.trailing_zeros();
    if bits == 0 {
        return 0;
    }
    ((key as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as usize
}

/// The candidates of `base`, whose types are ids `1..base.end_id()` of `flat`: worked out
/// once per unchanged base object, or taken from what a cache gave it.
pub(crate) fn base_cands(base: &Btf, flat: &Flat) -> Option<BaseCands> {
    let end = base.end_id();
    if (flat.len() as u32) < end {
        return None;
    }
    let bytes = base
        .derived_index(|| BaseCands::build(flat, end))
        .unwrap_or_else(|| Bytes::share(BaseCands::build(flat, end)));
    BaseCands::parse(bytes, end)
}

/// The bytes of [`base_cands`] for `base` (worked out now if they are not known yet), for
/// the base index cache of the `kbtf` binary; `None` if `base` was changed since it was
/// parsed.
pub fn base_index(base: &Btf) -> Option<Bytes> {
    base.derived_index(|| BaseCands::build(&Flat::from_btf(base), base.end_id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::CandTable;

    /// A base of many types sharing few hashes (INTs, PTRs, FWDs and STRUCTs by a handful of
    /// names), some VARs (never filed) and a reference out of range.
    fn base_flat(n: u32, bad_ref: bool) -> Flat {
        let mut rng = kbtf_btf::diff::testing::Rng::new(5);
        let mut f = Flat::new();
        for id in 1..n {
            let name = rng.below(6) as u32 * 4;
            let st = if bad_ref && id == n / 2 {
                n + 7
            } else {
                rng.below(id as usize) as u32
            };
            match rng.below(5) {
                0 => f.push_words(name, INT << 24, 4, &[32]),
                1 => f.push_words(0, PTR << 24, st, &[]),
                2 => f.push_words(name, FWD << 24, 0, &[]),
                3 => f.push_words(name, STRUCT << 24 | 1, 8, &[name, st, 0]),
                _ => f.push_words(name, VAR << 24, st, &[1]),
            };
        }
        f
    }

    /// Looking through to the base's candidates gives every key's candidates in the order of
    /// filing them all into one table, for the one table and for the per-class tables, with
    /// own entries added after the base (across libbpf's map growths).
    #[test]
    fn looking_through_equals_filing() {
        let n = 3000;
        let flat = base_flat(n, false);
        let cands = BaseCands::parse(Bytes::share(BaseCands::build(&flat, n)), n).unwrap();
        assert!(cands.refs_ok);
        for class_of in [None, Some(0), Some(1), Some(2)] {
            let mut filed = CandTable::new();
            let mut through = CandTable::new();
            for id in 1..n {
                if let Some(h) = crate::prep::hash_any(&flat, id) {
                    match class_of {
                        Some(c) if class(flat.kind(id)) != c => filed.skip(1),
                        _ => filed.add(h, id),
                    }
                }
            }
            through.attach_base(match class_of {
                Some(c) => cands.of_class(c),
                None => cands.clone(),
            });
            assert_eq!(filed.size(), through.size());
            let keys: Vec<i64> = (1..n)
                .filter_map(|id| crate::prep::hash_any(&flat, id))
                .collect();
            for (i, &k) in keys.iter().enumerate().take(5000) {
                // Own entries under existing keys, past several growths of libbpf's map.
                filed.add(k, n + i as u32);
                through.add(k, n + i as u32);
            }
            for &k in &keys {
                let a: Vec<u32> = filed.candidates(k).collect();
                let b: Vec<u32> = through.candidates(k).collect();
                assert_eq!(a, b, "key {k}, class {class_of:?}");
            }
        }
    }

    #[test]
    fn bad_references_and_damaged_bytes() {
        let n = 500;
        let flat = base_flat(n, true);
        let bytes = BaseCands::build(&flat, n);
        assert!(
            !BaseCands::parse(Bytes::share(bytes.clone()), n)
                .unwrap()
                .refs_ok
        );
        assert!(
            BaseCands::parse(Bytes::share(bytes.clone()), n + 1).is_none(),
            "other base"
        );
        assert!(BaseCands::parse(Bytes::share(bytes[..bytes.len() - 1].to_vec()), n).is_none());
        // Damaged chains and ids: lookups end, and never name an id outside the base.
        let mut rng = kbtf_btf::diff::testing::Rng::new(9);
        for _ in 0..200 {
            let mut bad = bytes.clone();
            for _ in 0..20 {
                let i = HEADER + rng.below(bad.len() - HEADER);
                bad[i] = rng.below(256) as u8;
            }
            let Some(c) = BaseCands::parse(Bytes::share(bad), n) else {
                continue;
            };
            for id in 1..n {
                if let Some(h) = crate::prep::hash_any(&flat, id) {
                    c.for_key(h, |id, _| assert!(id > 0 && id < n));
                }
            }
        }
    }
}
