//! The BTF string section: NUL-terminated strings addressed by byte offset, with interning.

use std::collections::HashMap;

/// One BTF object's own string section. Offsets below [`StringTable::start`] belong to the
/// base BTF's strings (split BTF); this table holds offsets `start..start + len`.
#[derive(Debug, Clone, Default)]
pub struct StringTable {
    start: u32,
    data: Vec<u8>,
    /// Interning index, built on the first [`StringTable::add`].
    index: Option<HashMap<Box<[u8]>, u32>>,
}

impl PartialEq for StringTable {
    fn eq(&self, other: &Self) -> bool {
        self.start == other.start && self.data == other.data
    }
}
impl Eq for StringTable {}

impl StringTable {
    /// The string table of a base BTF: just the empty string at offset 0.
    pub fn new_base() -> StringTable {
        StringTable {
            start: 0,
            data: vec![0],
            index: None,
        }
    }

    /// The empty string table of a split BTF whose base's strings end at `start`. The empty
    /// string is the base's offset 0, so the table starts with no bytes, as libbpf's does.
    pub fn new_split(start: u32) -> StringTable {
        StringTable {
            start,
            data: Vec::new(),
            index: None,
        }
    }

    /// A table over existing section bytes. The caller has checked that `data` ends in NUL.
    pub fn from_bytes(start: u32, data: Vec<u8>) -> StringTable {
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

    /// Interns `s`, returning its offset. Equal strings get equal offsets.
    pub fn add(&mut self, s: &[u8]) -> u32 {
        if s.is_empty() && (self.start > 0 || self.data.first() == Some(&0)) {
            // Offset 0 is "" in every BTF: the base's first byte is a NUL.
            return 0;
        }
        let start = self.start;
        let data = &self.data;
        let index = self.index.get_or_insert_with(|| {
            let mut map = HashMap::new();
            let mut pos = 0usize;
            while pos < data.len() {
                let end = data[pos..]
                    .iter()
                    .position(|&b| b == 0)
                    .map_or(data.len(), |e| pos + e);
                map.entry(data[pos..end].into())
                    .or_insert(start + pos as u32);
                pos = end + 1;
            }
            map
        });
        if let Some(&off) = index.get(s) {
            return off;
        }
        let off = start + self.data.len() as u32;
        self.data.extend_from_slice(s);
        self.data.push(0);
        index.insert(s.into(), off);
        off
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
    fn split_table_continues_offsets() {
        let mut t = StringTable::new_split(100);
        assert_eq!(t.add(b""), 0);
        assert_eq!(t.add(b"x"), 100);
        assert_eq!(t.end(), 102);
        assert_eq!(t.get(50), None);
    }
}
