//! The BTF string section: NUL-terminated strings addressed by byte offset, with interning.
//!
//! Interning uses an open-addressing table of offsets into the section itself (no copy of the
//! strings, no allocation per string): each slot holds an offset and 32 bits of its string's
//! hash, so most probes compare two integers. A vmlinux encode interns millions of names.

/// One BTF object's own string section. Offsets below [`StringTable::start`] belong to the
/// base BTF's strings (split BTF); this table holds offsets `start..start + len`.
#[derive(Debug, Clone, Default)]
pub struct StringTable {
    start: u32,
    /// The section's bytes: owned, or borrowed from a mapped file until changed.
    data: crate::bytes::Bytes,
    /// Interning index, built on the first [`StringTable::add`].
    index: Option<Index>,
}

impl PartialEq for StringTable {
    fn eq(&self, other: &Self) -> bool {
        self.start == other.start && *self.data == *other.data
    }
}
impl Eq for StringTable {}

impl StringTable {
    /// The string table of a base BTF: just the empty string at offset 0.
    pub fn new_base() -> StringTable {
        StringTable {
            start: 0,
            data: vec![0].into(),
            index: None,
        }
    }

    /// The empty string table of a split BTF whose base's strings end at `start`. The empty
    /// string is the base's offset 0, so the table starts with no bytes, as libbpf's does.
    pub fn new_split(start: u32) -> StringTable {
        StringTable {
            start,
            data: Vec::new().into(),
            index: None,
        }
    }

    /// A table over existing section bytes. The caller has checked that `data` ends in NUL.
    pub fn from_bytes(start: u32, data: Vec<u8>) -> StringTable {
        StringTable::from_shared(start, data.into())
    }

    /// [`StringTable::from_bytes`] over bytes that may be borrowed (from a mapped file): they
    /// are copied only if the table is changed.
    pub fn from_shared(start: u32, data: crate::bytes::Bytes) -> StringTable {
        StringTable {
            start,
            data,
            index: None,
        }
    }

    /// The first offset this table holds.
    pub fn start(&self) -> u32 {
        self.start
    }

    /// One past the last offset this table holds: where a split BTF on top starts.
    pub fn end(&self) -> u32 {
        self.start + self.data.len() as u32
    }

    /// The raw bytes of the section.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// Whether `off` falls inside this table.
    pub fn contains(&self, off: u32) -> bool {
        off >= self.start && ((off - self.start) as usize) < self.data.len()
    }

    /// The bytes of the string at `off` (without its NUL), or `None` if `off` is outside this
    /// table.
    pub fn get(&self, off: u32) -> Option<&[u8]> {
        if !self.contains(off) {
            return None;
        }
        let rest = &self.data[(off - self.start) as usize..];
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        Some(&rest[..end])
    }

    /// Whether `off` is the start of a string (offset 0 of the table, or just after a NUL).
    pub fn is_string_start(&self, off: u32) -> bool {
        self.contains(off) && (off == self.start || self.data[(off - self.start - 1) as usize] == 0)
    }

    /// Interns `s`, returning its offset. Equal strings get equal offsets (the first one's,
    /// for a table read with duplicates).
    pub fn add(&mut self, s: &[u8]) -> u32 {
        self.add_hashed(s, hash_bytes(s))
    }

    /// [`StringTable::add`] with `hash == hash_bytes(s)` computed already (say, in parallel).
    pub fn add_hashed(&mut self, s: &[u8], hash: u64) -> u32 {
        if s.is_empty() && (self.start > 0 || self.data.first() == Some(&0)) {
            // Offset 0 is "" in every BTF: the base's first byte is a NUL.
            return 0;
        }
        if self.index.is_none() {
            self.index = Some(Index::build(&self.data));
        }
        let Some(index) = self.index.as_mut() else {
            return 0;
        };
        let at = self.data.len();
        let data = &self.data;
        match index.find_or_insert(data, s, hash, at as u32) {
            Some(rel) => self.start + rel,
            None => {
                let data = self.data.make_mut();
                data.extend_from_slice(s);
                data.push(0);
                self.start + at as u32
            }
        }
    }

    /// The offset of `s` if the table holds it as a whole string (the first one), without
    /// adding it.
    pub fn find(&mut self, s: &[u8]) -> Option<u32> {
        self.find_hashed(s, hash_bytes(s))
    }

    /// [`StringTable::find`] with `hash == hash_bytes(s)` computed already.
    pub fn find_hashed(&mut self, s: &[u8], hash: u64) -> Option<u32> {
        if s.is_empty() && (self.start > 0 || self.data.first() == Some(&0)) {
            return Some(0);
        }
        if self.index.is_none() {
            self.index = Some(Index::build(&self.data));
        }
        let index = self.index.as_ref()?;
        index.find(&self.data, s, hash).map(|rel| self.start + rel)
    }

    /// Iterates over `(offset, bytes)` of every string in section order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &[u8])> + '_ {
        let mut pos = 0usize;
        std::iter::from_fn(move || {
            if pos >= self.data.len() {
                return None;
            }
            let end = self.data[pos..]
                .iter()
                .position(|&b| b == 0)
                .map_or(self.data.len(), |e| pos + e);
            let item = (self.start + pos as u32, &self.data[pos..end]);
            pos = end + 1;
            Some(item)
        })
    }
}

/// The strings of a BTF and its bases by content, each at its first offset, the lowest base
/// first: where split BTF on top of it refers to a string it shares with them (as libbpf's
/// string dedup and `btf__add_str` on split BTF do).
#[derive(Debug, Clone)]
pub struct StringIndex {
    btf: std::sync::Arc<crate::Btf>,
    slots: Slots,
}

/// The slots of a [`StringIndex`]: `(1 + offset, 32 bits of the hash)`, open addressing, a
/// power of two of them, at most half full. Built, or read from a cache file as little-endian
/// word pairs.
#[derive(Debug, Clone)]
pub(crate) enum Slots {
    Built(std::sync::Arc<Vec<(u32, u32)>>),
    Bytes(crate::bytes::Bytes),
}

impl Slots {
    /// Slots of a cache file: `None` unless they are a power of two (at least 16) of pairs.
    pub(crate) fn from_bytes(b: crate::bytes::Bytes) -> Option<Slots> {
        let n = b.len() / 8;
        (b.len().is_multiple_of(8) && n >= 16 && n.is_power_of_two()).then_some(Slots::Bytes(b))
    }

    /// The slots as little-endian word pairs (what [`Slots::from_bytes`] reads).
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        match self {
            Slots::Bytes(b) => b.to_vec(),
            Slots::Built(v) => {
                let mut out = Vec::with_capacity(v.len() * 8);
                for &(a, b) in v.iter() {
                    out.extend_from_slice(&a.to_le_bytes());
                    out.extend_from_slice(&b.to_le_bytes());
                }
                out
            }
        }
    }

    #[inline]
    fn len(&self) -> usize {
        match self {
            Slots::Built(v) => v.len(),
            Slots::Bytes(b) => b.len() / 8,
        }
    }

    /// The slots to read (a view of a mapped file goes through its owner once).
    #[inline]
    fn view(&self) -> SlotsView<'_> {
        match self {
            Slots::Built(v) => SlotsView::Built(v),
            Slots::Bytes(b) => SlotsView::Bytes(b),
        }
    }

    /// The slots of the strings of `btf` and its bases.
    pub(crate) fn build(btf: &crate::Btf) -> Slots {
        let mut chain = vec![btf];
        while let Some(b) = chain.last().and_then(|b| b.base()) {
            chain.push(b.as_ref());
        }
        let count: usize = chain
            .iter()
            .map(|b| count_nuls(b.strings().as_bytes()))
            .sum();
        let mut slots = crate::mem::written((count * 2).next_power_of_two().max(16), (0u32, 0u32));
        let mask = slots.len() - 1;
        for b in chain.iter().rev() {
            let table = b.strings();
            let data = table.as_bytes();
            let mut pos = 0usize;
            while pos < data.len() {
                let end = find_nul(data, pos);
                let st = &data[pos..end];
                let h = hash_bytes(st);
                let mut i = slot_of(slots.len(), h);
                loop {
                    let (off1, h32) = slots[i];
                    if off1 == 0 {
                        slots[i] = (table.start() + pos as u32 + 1, check(h));
                        break;
                    }
                    // Equal strings: the first one (lowest base, first offset) stays.
                    if h32 == check(h) && btf.str_bytes(off1 - 1) == Some(st) {
                        break;
                    }
                    i = (i + 1) & mask;
                }
                pos = end + 1;
            }
        }
        Slots::Built(std::sync::Arc::new(slots))
    }
}

#[derive(Clone, Copy)]
enum SlotsView<'a> {
    Built(&'a [(u32, u32)]),
    Bytes(&'a [u8]),
}

impl SlotsView<'_> {
    #[inline]
    fn get(self, i: usize) -> (u32, u32) {
        match self {
            SlotsView::Built(v) => v.get(i).copied().unwrap_or((0, 0)),
            SlotsView::Bytes(b) => match b.get(i * 8..i * 8 + 8) {
                Some(&[a0, a1, a2, a3, b0, b1, b2, b3]) => (
                    u32::from_le_bytes([a0, a1, a2, a3]),
                    u32::from_le_bytes([b0, b1, b2, b3]),
                ),
                _ => (0, 0),
            },
        }
    }
}

impl StringIndex {
    /// The index of the strings of `btf` and its bases. An object unchanged since it was
    /// parsed builds it once (or takes it from a cache, [`crate::Btf::preset_string_index`]).
    pub fn new(btf: std::sync::Arc<crate::Btf>) -> StringIndex {
        let slots = btf.string_slots();
        StringIndex { btf, slots }
    }

    /// The offset of `s` in the BTF or its bases, if they hold it as a whole string.
    pub fn get(&self, s: &[u8]) -> Option<u32> {
        self.get_hashed(s, hash_bytes(s))
    }

    /// [`StringIndex::get`] with `hash == hash_bytes(s)` computed already.
    pub fn get_hashed(&self, s: &[u8], hash: u64) -> Option<u32> {
        let btf = &self.btf;
        find_in(&self.slots, hash, s, |o| {
            let t = btf.string_table_for(o)?;
            let rel = (o - t.start()) as usize;
            let d = t.as_bytes();
            let hit = d.get(rel..rel + s.len()) == Some(s) && d.get(rel + s.len()) == Some(&0);
            hit.then_some(s)
        })
    }
}

/// The number of NUL bytes of `data`.
fn count_nuls(data: &[u8]) -> usize {
    let mut n = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        n += (zero_bytes(w)).count_ones() as usize;
    }
    n + chunks.remainder().iter().filter(|&&b| b == 0).count()
}

/// A bit set at bit 7 of each byte of `w` that is zero (exact, no false positives).
#[inline]
fn zero_bytes(w: u64) -> u64 {
    const LO: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    !(((w & LO).wrapping_add(LO)) | w | LO)
}

/// The position of the first NUL at or after `from` (or `data.len()`).
#[inline]
fn find_nul(data: &[u8], from: usize) -> usize {
    let mut i = from;
    while i + 8 <= data.len() {
        let c = &data[i..i + 8];
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let z = zero_bytes(w);
        if z != 0 {
            return i + (z.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < data.len() && data[i] != 0 {
        i += 1;
    }
    i
}

fn slot_of(len: usize, hash: u64) -> usize {
    (hash.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - len.trailing_zeros())) as usize
}

fn find_in<'a>(
    slots: &Slots,
    hash: u64,
    s: &[u8],
    bytes: impl Fn(u32) -> Option<&'a [u8]>,
) -> Option<u32> {
    let n = slots.len();
    let mask = n - 1;
    let mut i = slot_of(n, hash);
    let slots = slots.view();
    // At most every slot once: a table read from a cache file might have no empty one.
    for _ in 0..n {
        let (off1, h) = slots.get(i);
        if off1 == 0 {
            return None;
        }
        if h == check(hash) && bytes(off1 - 1) == Some(s) {
            return Some(off1 - 1);
        }
        i = (i + 1) & mask;
    }
    None
}

/// The 32 bits of a hash kept in a slot to tell strings apart before comparing them: the
/// high ones (the low bits of a multiplicative hash depend only on the low bits of the
/// input words).
#[inline]
fn check(hash: u64) -> u32 {
    (hash >> 32) as u32
}

/// The hash [`StringTable::add_hashed`] expects: FxHash's multiply-rotate over 8-byte words,
/// then the length.
#[inline]
pub fn hash_bytes(s: &[u8]) -> u64 {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    let mut h = 0u64;
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(buf)).wrapping_mul(K);
    }
    (h.rotate_left(5) ^ s.len() as u64).wrapping_mul(K)
}

/// The interning index: open addressing with linear probing over `(offset + 1, hash)` slots
/// (offset 0 + 1 never collides with an empty slot's 0), at most half full.
#[derive(Debug, Clone)]
struct Index {
    slots: Vec<(u32, u32)>,
    len: usize,
}

impl Index {
    /// Every string start of `data` (offset 0 and each offset after a NUL), first one winning.
    fn build(data: &[u8]) -> Index {
        let mut index = Index {
            slots: vec![(0, 0); 16],
            len: 0,
        };
        let mut pos = 0usize;
        while pos < data.len() {
            let end = data[pos..]
                .iter()
                .position(|&b| b == 0)
                .map_or(data.len(), |e| pos + e);
            let s = &data[pos..end];
            let h = hash_bytes(s);
            if index.find(data, s, h).is_none() {
                index.insert(data, pos as u32, h);
            }
            pos = end + 1;
        }
        index
    }

    #[inline]
    fn slot_of(&self, hash: u64) -> usize {
        let bits = self.slots.len().trailing_zeros();
        (hash.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as usize
    }

    /// The string of `data` at `rel`, without its NUL.
    #[inline]
    fn string_at(data: &[u8], rel: u32) -> &[u8] {
        let tail = &data[rel as usize..];
        &tail[..tail.iter().position(|&b| b == 0).unwrap_or(tail.len())]
    }

    #[inline]
    fn matches(data: &[u8], rel: u32, s: &[u8]) -> bool {
        let rel = rel as usize;
        data.get(rel..rel + s.len()) == Some(s)
            && !matches!(data.get(rel + s.len()), Some(&b) if b != 0)
    }

    fn find(&self, data: &[u8], s: &[u8], hash: u64) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut i = self.slot_of(hash);
        loop {
            let (off1, h) = self.slots[i];
            if off1 == 0 {
                return None;
            }
            if h == check(hash) && Index::matches(data, off1 - 1, s) {
                return Some(off1 - 1);
            }
            i = (i + 1) & mask;
        }
    }

    /// The offset of `s`, or `None` after recording that it will be at `at` (the caller
    /// appends it there).
    fn find_or_insert(&mut self, data: &[u8], s: &[u8], hash: u64, at: u32) -> Option<u32> {
        if let Some(rel) = self.find(data, s, hash) {
            return Some(rel);
        }
        self.insert(data, at, hash);
        None
    }

    fn insert(&mut self, data: &[u8], rel: u32, hash: u64) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow(data);
        }
        let mask = self.slots.len() - 1;
        let mut i = self.slot_of(hash);
        while self.slots[i].0 != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = (rel + 1, check(hash));
        self.len += 1;
    }

    fn grow(&mut self, data: &[u8]) {
        let n = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, crate::mem::written(n, (0, 0)));
        let mask = self.slots.len() - 1;
        for (off1, _) in old {
            if off1 == 0 {
                continue;
            }
            // The slot keeps only 32 bits of the hash; the full one picks the new slot.
            let h = hash_bytes(Index::string_at(data, off1 - 1));
            let mut i = self.slot_of(h);
            while self.slots[i].0 != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = (off1, check(h));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_reuses_offsets() {
        let mut t = StringTable::new_base();
        let a = t.add(b"foo");
        let b = t.add(b"bar");
        assert_eq!((a, b), (1, 5));
        assert_eq!(t.add(b"foo"), 1);
        assert_eq!(t.add(b""), 0);
        assert_eq!(t.get(5), Some(&b"bar"[..]));
        assert_eq!(t.get(2), Some(&b"oo"[..]));
        assert!(!t.is_string_start(2));
        assert!(t.is_string_start(5));
        assert_eq!(t.get(9), None);
    }

    #[test]
    fn interning_many_strings_and_duplicates_in_read_tables() {
        let mut t = StringTable::new_base();
        let offs: Vec<u32> = (0..5000)
            .map(|i| t.add(format!("s{i}").as_bytes()))
            .collect();
        for (i, &o) in offs.iter().enumerate() {
            assert_eq!(t.add(format!("s{i}").as_bytes()), o);
            assert_eq!(t.get(o), Some(format!("s{i}").as_bytes()));
            assert_eq!(t.find(format!("s{i}").as_bytes()), Some(o));
        }
        assert_eq!(t.find(b"s5000"), None);
        assert_eq!(t.find(b"1"), None, "a tail is not a whole string");
        // A table read with a duplicate: the first occurrence wins.
        let mut r = StringTable::from_bytes(0, b"\0a\0b\0a\0".to_vec());
        assert_eq!(r.add(b"a"), 1);
        assert_eq!(r.add(b"b"), 3);
        assert_eq!(r.add(b"c"), 7);
    }

    #[test]
    fn string_index_finds_base_strings_first_occurrence_lowest_base_first() {
        use crate::Btf;
        use std::sync::Arc;
        let mut b0 = Btf::new();
        b0.add_str("x");
        let b0 = Arc::new(b0);
        let mut b1 = Btf::new_split(b0.clone());
        *b1.strings_mut() = StringTable::from_bytes(b0.strings_end(), b"y\0x\0y\0".to_vec());
        let idx = StringIndex::new(Arc::new(b1));
        assert_eq!(idx.get(b""), Some(0));
        assert_eq!(idx.get(b"x"), Some(1), "the lowest base wins");
        assert_eq!(idx.get(b"y"), Some(3), "the first occurrence wins");
        assert_eq!(idx.get(b"z"), None);
        let many: Vec<String> = (0..3000).map(|i| format!("n{i}")).collect();
        let mut b2 = Btf::new();
        let offs: Vec<u32> = many.iter().map(|m| b2.add_str(m)).collect();
        let idx = StringIndex::new(Arc::new(b2));
        for (m, o) in many.iter().zip(offs) {
            assert_eq!(idx.get(m.as_bytes()), Some(o));
        }
    }

    #[test]
    fn nul_scans_agree_with_bytewise() {
        let data = b"\0ab\0\0cdefghijklmnop\0q\x80\xff\0r";
        assert_eq!(count_nuls(data), data.iter().filter(|&&b| b == 0).count());
        for from in 0..data.len() {
            let want = data[from..]
                .iter()
                .position(|&b| b == 0)
                .map_or(data.len(), |p| from + p);
            assert_eq!(find_nul(data, from), want, "from {from}");
        }
    }

    #[test]
    fn split_table_continues_offsets() {
        let mut t = StringTable::new_split(100);
        assert_eq!(t.add(b""), 0);
        assert_eq!(t.add(b"x"), 100);
        assert_eq!(t.end(), 102);
        assert_eq!(t.get(50), None);
    }
}
