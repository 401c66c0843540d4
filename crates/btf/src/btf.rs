//! [`Btf`]: a parsed BTF object (base or split), and conversion from and to its wire bytes.

use std::sync::Arc;

use crate::error::ParseError;
use crate::kind::Kind;
use crate::strings::StringTable;
use crate::types::*;

/// `BTF_MAGIC` as read in the file's own byte order.
pub const MAGIC: u16 = 0xeb9f;
/// Size of the original `struct btf_header`.
pub const HEADER_LEN: usize = 24;
/// The kernel's `BTF_MAX_TYPE`: the largest type id.
pub const MAX_TYPE: u32 = 0x000f_ffff;

/// Byte order of a BTF blob, told by how its magic reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    Little,
    Big,
}

impl Endian {
    pub fn name(self) -> &'static str {
        match self {
            Endian::Little => "little",
            Endian::Big => "big",
        }
    }
    fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        }
    }
    fn put_u16(self, out: &mut Vec<u8>, v: u16) {
        out.extend_from_slice(&match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        })
    }
    fn put_u32(self, out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        })
    }
}

/// The fields of `struct btf_header` as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub flags: u8,
    pub hdr_len: u32,
    pub type_off: u32,
    pub type_len: u32,
    pub str_off: u32,
    pub str_len: u32,
}

/// A BTF object: its own types and strings, and for split BTF the base it continues.
///
/// Type ids run from [`Btf::start_id`] to [`Btf::end_id`] (exclusive); lower ids, and string
/// offsets below `strings().start()`, resolve through the base.
///
/// A parsed object keeps the bytes it was read from and builds its [`Type`]s on first use:
/// a vmlinux BTF read as the base of a module is often only needed as wire words
/// ([`crate::flat::Flat::from_btf`]) and bytes ([`Btf::raw_bytes`]).
#[derive(Debug, Clone)]
pub struct Btf {
    endian: Endian,
    base: Option<Arc<Btf>>,
    types: Types,
    strings: StringTable,
    /// Header bytes after the first 24 (a newer, longer header), kept verbatim.
    header_ext: Vec<u8>,
    /// Bytes after the type and string sections (newer trailing sections), kept verbatim.
    tail: Vec<u8>,
    /// The header as read, if this object was parsed.
    header: Option<Header>,
    /// Bits 8..16 of INT data words as read, by index into `types`, where not 0: Linux 6.1
    /// accepts and ignores them (`BTF_INT_MASK`), and a write gives them back. Types built or
    /// rewritten in memory have none.
    int_pad: Vec<(usize, u8)>,
}

/// The own types of a [`Btf`]: built, or still only the checked bytes they were read from.
#[derive(Debug, Clone, Default)]
struct Types {
    list: std::sync::OnceLock<Vec<Type>>,
    /// The bytes read, while they still say what the object holds (until a change).
    raw: Option<Arc<Raw>>,
}

/// A parsed object's bytes.
#[derive(Debug)]
pub(crate) struct Raw {
    /// The whole BTF blob as read (borrowed from a mapped file, or owned).
    pub blob: crate::bytes::Bytes,
    /// Where the type section lies in `blob`.
    pub types: std::ops::Range<usize>,
    /// How many types it holds.
    pub count: u32,
    /// Whether the blob is laid out as [`Btf::to_bytes`] writes it (header, types, strings,
    /// trailing sections), so that it can stand for those bytes.
    pub standard: bool,
    /// What is worked out from the unchanged object once (or taken from a cache file).
    pub memo: Memo,
}

/// What the per-record checks of parsing found: the number of types, and `(index, bits
/// 8..16)` of the INTs whose data word has those ignored bits set. Kept in a cache file with
/// a hash of the bytes they were found in, so that parsing the same bytes again can skip them
/// ([`Btf::parse_bytes_known`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeCheck {
    pub count: u32,
    pub int_pad: Vec<(usize, u8)>,
}

/// Results computed from an unchanged parsed object: they live as long as its bytes say
/// what it holds (a change drops them with the bytes).
#[derive(Debug, Default)]
pub(crate) struct Memo {
    /// SHA-256 of the blob (the base fingerprint's hash).
    pub sha256: std::sync::OnceLock<[u8; 32]>,
    /// The [`crate::StringIndex`] slots of the object's strings and its bases'.
    pub str_slots: std::sync::OnceLock<crate::strings::Slots>,
    /// Bytes another crate derives from the object (kbtf_dedup's base candidate index).
    pub derived: std::sync::OnceLock<crate::bytes::Bytes>,
    /// A mapped copy of the object's types in [`crate::Flat`]'s layout.
    pub flat_image: std::sync::OnceLock<crate::flat::FlatImage>,
}

impl Types {
    fn built(list: Vec<Type>) -> Types {
        Types {
            list: list.into(),
            raw: None,
        }
    }

    fn get(&self, endian: Endian, start_id: TypeId) -> &Vec<Type> {
        self.list.get_or_init(|| match &self.raw {
            // The bytes were checked when read: building cannot fail.
            Some(raw) => crate::read::parse_types(endian, &raw.blob[raw.types.clone()], start_id)
                .unwrap_or_default(),
            None => Vec::new(),
        })
    }

    // `OnceLock::get_mut_or_init` is not stable: the list is set on the line before the
    // `expect`, whatever the input.
    #[allow(clippy::expect_used)]
    fn get_mut(&mut self, endian: Endian, start_id: TypeId) -> &mut Vec<Type> {
        self.detach(endian, start_id);
        self.list.get_or_init(Vec::new);
        self.list.get_mut().expect("initialized just above")
    }

    /// Builds the types and forgets the bytes (which stop saying what the object holds).
    fn detach(&mut self, endian: Endian, start_id: TypeId) {
        self.get(endian, start_id);
        self.raw = None;
    }

    fn len(&self) -> usize {
        match (&self.raw, self.list.get()) {
            (_, Some(l)) => l.len(),
            (Some(raw), None) => raw.count as usize,
            (None, None) => 0,
        }
    }
}

impl Btf {
    /// An empty base BTF.
    pub fn new() -> Btf {
        Btf {
            endian: Endian::Little,
            base: None,
            types: Types::built(Vec::new()),
            strings: StringTable::new_base(),
            header_ext: Vec::new(),
            tail: Vec::new(),
            header: None,
            int_pad: Vec::new(),
        }
    }

    /// An empty split BTF on top of `base`.
    pub fn new_split(base: Arc<Btf>) -> Btf {
        Btf {
            endian: base.endian,
            strings: StringTable::new_split(base.strings_end()),
            base: Some(base),
            types: Types::built(Vec::new()),
            header_ext: Vec::new(),
            tail: Vec::new(),
            header: None,
            int_pad: Vec::new(),
        }
    }

    pub fn endian(&self) -> Endian {
        self.endian
    }
    /// Sets the byte order [`Btf::to_bytes`] writes (a BTF built in memory is little
    /// endian). Split BTF must keep its base's byte order.
    pub fn set_endian(&mut self, endian: Endian) {
        let start = self.start_id();
        self.types.detach(self.endian, start);
        self.endian = endian;
    }
    pub fn base(&self) -> Option<&Arc<Btf>> {
        self.base.as_ref()
    }
    /// The header as parsed, or `None` for a BTF built in memory.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }
    /// Header bytes after the first 24 as read (a newer, longer header); empty if none.
    pub fn header_ext(&self) -> &[u8] {
        &self.header_ext
    }
    /// Bytes after the type and string sections as read (unknown trailing sections).
    pub fn trailing(&self) -> &[u8] {
        &self.tail
    }
    /// This object's own types, in id order starting at [`Btf::start_id`].
    pub fn own_types(&self) -> &[Type] {
        self.types.get(self.endian, self.start_id())
    }
    pub fn own_types_mut(&mut self) -> &mut [Type] {
        let start = self.start_id();
        self.types.get_mut(self.endian, start)
    }
    pub fn strings(&self) -> &StringTable {
        &self.strings
    }
    pub fn strings_mut(&mut self) -> &mut StringTable {
        let start = self.start_id();
        self.types.detach(self.endian, start);
        &mut self.strings
    }

    /// The bytes this object was parsed from, while nothing was changed since: what
    /// [`Btf::to_bytes`] gives, without writing them again.
    pub fn raw_bytes(&self) -> Option<&[u8]> {
        self.types
            .raw
            .as_ref()
            .filter(|r| r.standard)
            .map(|r| &r.blob[..])
    }

    /// SHA-256 of [`Btf::raw_bytes`], computed once per object (or given by
    /// [`Btf::preset_sha256`]); `None` once the object was changed, or when its bytes are not
    /// laid out as [`Btf::to_bytes`] writes them.
    pub fn raw_sha256(&self) -> Option<[u8; 32]> {
        use sha2::{Digest, Sha256};
        let raw = self.types.raw.as_ref().filter(|r| r.standard)?;
        Some(
            *raw.memo
                .sha256
                .get_or_init(|| Sha256::digest(&raw.blob[..]).into()),
        )
    }

    /// Gives [`Btf::raw_sha256`] its value, from a cache file that recorded it for these
    /// very bytes. Returns whether it was taken (an object changed since it was parsed, or
    /// whose hash is known already, keeps its own).
    pub fn preset_sha256(&self, sha256: [u8; 32]) -> bool {
        match self.types.raw.as_ref().filter(|r| r.standard) {
            Some(raw) => raw.memo.sha256.set(sha256).is_ok(),
            None => false,
        }
    }

    /// The slots of [`crate::StringIndex::new`] over this object's strings and its bases':
    /// built once for an object unchanged since it was parsed, every time otherwise.
    pub(crate) fn string_slots(&self) -> crate::strings::Slots {
        match self.types.raw.as_ref() {
            Some(raw) => raw
                .memo
                .str_slots
                .get_or_init(|| crate::strings::Slots::build(self))
                .clone(),
            None => crate::strings::Slots::build(self),
        }
    }

    /// The string index of this object and its bases as bytes, for a cache file (read back by
    /// [`Btf::preset_string_index`]).
    pub fn string_index_bytes(&self) -> Vec<u8> {
        self.string_slots().to_bytes()
    }

    /// Gives the string index its slots from a cache file that recorded
    /// [`Btf::string_index_bytes`] for these very bytes. Returns whether they were taken:
    /// not for an object changed since it was parsed, nor for bytes that cannot be slots.
    /// Slots that are wrong can only make lookups miss (every hit is checked against the
    /// strings themselves); the cache file's checksum is what keeps them right.
    pub fn preset_string_index(&self, bytes: crate::bytes::Bytes) -> bool {
        let Some(raw) = self.types.raw.as_ref() else {
            return false;
        };
        match crate::strings::Slots::from_bytes(bytes) {
            Some(slots) => raw.memo.str_slots.set(slots).is_ok(),
            None => false,
        }
    }

    /// Bytes another crate derives from this object and its bases (kbtf_dedup's index of
    /// the base's dedup candidates), built by `build` once for an object unchanged since it
    /// was parsed (or given by [`Btf::preset_derived_index`]); `None` for an object changed
    /// since, where the caller builds them itself.
    pub fn derived_index(&self, build: impl FnOnce() -> Vec<u8>) -> Option<crate::bytes::Bytes> {
        let raw = self.types.raw.as_ref()?;
        Some(
            raw.memo
                .derived
                .get_or_init(|| crate::bytes::Bytes::share(build()))
                .clone(),
        )
    }

    /// Gives [`Btf::derived_index`] its bytes, from a cache file that recorded them for these
    /// very bytes. Returns whether they were taken. The crate that reads them checks them
    /// again before use.
    pub fn preset_derived_index(&self, bytes: crate::bytes::Bytes) -> bool {
        match self.types.raw.as_ref() {
            Some(raw) => raw.memo.derived.set(bytes).is_ok(),
            None => false,
        }
    }

    /// Gives [`crate::Flat::from_btf`] an image of this object's types (bases included) to
    /// map instead of building them, from a cache file that recorded
    /// [`crate::Flat::image_bytes`] for these very bytes. Returns whether it was taken: not
    /// for an object changed since it was parsed. The image's layout is checked again
    /// before use.
    pub fn preset_flat_image(&self, image: crate::flat::FlatImage) -> bool {
        match self.types.raw.as_ref() {
            Some(raw) => raw.memo.flat_image.set(image).is_ok(),
            None => false,
        }
    }

    /// The image [`Btf::preset_flat_image`] gave, while nothing was changed since.
    pub(crate) fn flat_image(&self) -> Option<&crate::flat::FlatImage> {
        self.types.raw.as_ref()?.memo.flat_image.get()
    }

    /// The type section as read, while nothing was changed since.
    pub(crate) fn raw_types(&self) -> Option<&[u8]> {
        self.types.raw.as_ref().map(|r| &r.blob[r.types.clone()])
    }
    /// The first id of this object's own types.
    pub fn start_id(&self) -> TypeId {
        self.base.as_ref().map_or(1, |b| b.end_id())
    }
    /// One past this object's last type id.
    pub fn end_id(&self) -> TypeId {
        self.start_id() + self.types.len() as u32
    }
    /// One past the last string offset, base included.
    pub fn strings_end(&self) -> u32 {
        self.strings.end()
    }
    /// Whether `id` names a type here or in the base (0, void, counts).
    pub fn contains_id(&self, id: TypeId) -> bool {
        id < self.end_id()
    }

    /// The type with this id, looking through the base; `None` for void (0) and ids out of
    /// range.
    pub fn type_by_id(&self, id: TypeId) -> Option<&Type> {
        let start = self.start_id();
        if id >= start {
            self.own_types().get((id - start) as usize)
        } else {
            self.base.as_ref()?.type_by_id(id)
        }
    }

    /// Iterates over `(id, type)` of this object's own types.
    pub fn iter(&self) -> impl Iterator<Item = (TypeId, &Type)> + '_ {
        let start = self.start_id();
        self.own_types()
            .iter()
            .enumerate()
            .map(move |(i, t)| (start + i as u32, t))
    }

    /// The string at `off`, looking through the base; `None` if out of range.
    pub fn str_bytes(&self, off: u32) -> Option<&[u8]> {
        if off >= self.strings.start() {
            self.strings.get(off)
        } else {
            self.base.as_ref()?.str_bytes(off)
        }
    }

    /// The string at `off` as text (invalid UTF-8 replaced); "" if out of range.
    pub fn str_at(&self, off: u32) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.str_bytes(off).unwrap_or_default())
    }

    /// The string table (own or base) that holds `off`.
    pub fn string_table_for(&self, off: u32) -> Option<&StringTable> {
        if off >= self.strings.start() {
            self.strings.contains(off).then_some(&self.strings)
        } else {
            self.base.as_ref()?.string_table_for(off)
        }
    }

    /// The name of type `id` ("" for void, anonymous or unknown ids).
    pub fn name_of(&self, id: TypeId) -> std::borrow::Cow<'_, str> {
        match self.type_by_id(id) {
            Some(t) => self.str_at(t.name_off),
            None => "".into(),
        }
    }

    /// Appends a type, returning its id.
    pub fn add_type(&mut self, t: Type) -> TypeId {
        let start = self.start_id();
        self.types.get_mut(self.endian, start).push(t);
        self.end_id() - 1
    }

    /// Interns a string in this object's own table (or finds "" at 0), returning its offset.
    pub fn add_str(&mut self, s: &str) -> u32 {
        self.strings_mut().add(s.as_bytes())
    }

    /// Parses BTF bytes. `base` must be given for split BTF; its byte order must match.
    pub fn parse(data: &[u8], base: Option<Arc<Btf>>) -> Result<Btf, ParseError> {
        crate::read::parse(data, base)
    }

    /// [`Btf::parse`] of bytes it may keep without copying them.
    pub fn parse_vec(data: Vec<u8>, base: Option<Arc<Btf>>) -> Result<Btf, ParseError> {
        crate::read::parse_owned(std::borrow::Cow::Owned(data), base)
    }

    /// What the per-record checks found when this object was parsed; `None` once it was
    /// changed.
    pub fn type_check(&self) -> Option<TypeCheck> {
        let raw = self.types.raw.as_ref()?;
        Some(TypeCheck {
            count: raw.count,
            int_pad: self.int_pad.clone(),
        })
    }

    /// [`Btf::parse_bytes`] of bytes whose per-record checks gave `known` before
    /// ([`Btf::type_check`] of an object parsed from the same bytes, as a cache file that
    /// holds a hash of them records it): the header and section checks run, the walk over
    /// every record does not. `known` must be for these bytes.
    pub fn parse_bytes_known(
        data: crate::bytes::Bytes,
        base: Option<Arc<Btf>>,
        known: &TypeCheck,
    ) -> Result<Btf, ParseError> {
        crate::read::parse_bytes_known(data, base, Some(known))
    }

    /// [`Btf::parse`] of bytes kept as they are: a view of a mapped file stays one (the
    /// object's string table included) until the object is changed.
    pub fn parse_bytes(
        data: crate::bytes::Bytes,
        base: Option<Arc<Btf>>,
    ) -> Result<Btf, ParseError> {
        crate::read::parse_bytes(data, base)
    }

    pub(crate) fn from_parts(
        endian: Endian,
        base: Option<Arc<Btf>>,
        raw: Raw,
        strings: StringTable,
        header_ext: Vec<u8>,
        tail: Vec<u8>,
        header: Header,
    ) -> Btf {
        Btf {
            endian,
            base,
            types: Types {
                list: std::sync::OnceLock::new(),
                raw: Some(Arc::new(raw)),
            },
            strings,
            header_ext,
            tail,
            header: Some(header),
            int_pad: Vec::new(),
        }
    }

    pub(crate) fn set_int_pad(&mut self, int_pad: Vec<(usize, u8)>) {
        self.int_pad = int_pad;
    }

    /// Sets bits 8..16 of INT `id`'s data word, which the kernel ignores and [`Btf::to_bytes`]
    /// writes back (dedup keeps them, as libbpf does: they make INTs unequal). `id` must be an
    /// own type; ids must be given in increasing order.
    pub fn set_int_ignored_bits(&mut self, id: TypeId, bits: u8) {
        let Some(i) = id.checked_sub(self.start_id()) else {
            return;
        };
        let i = i as usize;
        if bits != 0 && self.int_pad.last().is_none_or(|&(j, _)| j < i) {
            self.int_pad.push((i, bits));
        }
    }

    /// INTs whose data word has bits 8..16 set, as read: `(type id, those bits)`. The kernel
    /// ignores them; [`Btf::to_bytes`] writes them back.
    pub fn int_ignored_bits(&self) -> impl Iterator<Item = (TypeId, u8)> + '_ {
        let start = self.start_id();
        self.int_pad
            .iter()
            .map(move |&(i, b)| (start + i as u32, b))
    }

    /// Serializes to wire bytes in this object's byte order: header, types, strings, then any
    /// trailing sections that were read. Unchanged parsed BTF gives back the same bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        if let Some(raw) = self.raw_bytes() {
            return raw.to_vec();
        }
        let e = self.endian;
        let types = self.own_types();
        let type_len: usize = types.iter().map(Type::encoded_len).sum();
        let str_len = self.strings.as_bytes().len();
        let mut hdr_len = HEADER_LEN + self.header_ext.len();
        // A header shorter than 24 bytes as read (the kernel zero-fills the rest) is written
        // short again when the string length still fits into the bytes it holds.
        if let Some(h) = self.header {
            let short = h.hdr_len as usize;
            if e == Endian::Little
                && (21..HEADER_LEN).contains(&short)
                && (str_len as u64) < 1u64 << (8 * (short - 20))
            {
                hdr_len = short;
            }
        }
        let mut out = Vec::with_capacity(hdr_len + type_len + str_len + self.tail.len());
        e.put_u16(&mut out, MAGIC);
        let (version, flags) = self.header.map_or((1, 0), |h| (h.version, h.flags));
        out.push(version);
        out.push(flags);
        e.put_u32(&mut out, hdr_len as u32);
        e.put_u32(&mut out, 0);
        e.put_u32(&mut out, type_len as u32);
        e.put_u32(&mut out, type_len as u32);
        e.put_u32(&mut out, str_len as u32);
        // The low bytes of str_len come first only in little-endian, the one order a kernel
        // reads BTF in on the machines this matters for; big-endian is written whole.
        out.truncate(hdr_len);
        out.extend_from_slice(&self.header_ext);
        let mut pad = self.int_pad.iter().peekable();
        for (i, t) in types.iter().enumerate() {
            let start = out.len();
            write_type(e, &mut out, t);
            if let Some(&(_, bits)) = pad.next_if(|(j, _)| *j == i) {
                if matches!(t.data, TypeData::Int { .. }) {
                    let w = read_u32(e, &out, start + 12) | (bits as u32) << 8;
                    out.truncate(start + 12);
                    e.put_u32(&mut out, w);
                }
            }
        }
        out.extend_from_slice(self.strings.as_bytes());
        out.extend_from_slice(&self.tail);
        out
    }
}

impl Default for Btf {
    fn default() -> Self {
        Btf::new()
    }
}

fn write_type(e: Endian, out: &mut Vec<u8>, t: &Type) {
    e.put_u32(out, t.name_off);
    e.put_u32(out, t.info());
    e.put_u32(out, t.size_or_type());
    t.for_each_trailing_word(|w| e.put_u32(out, w));
}

pub(crate) fn read_u32(e: Endian, d: &[u8], off: usize) -> u32 {
    e.u32([d[off], d[off + 1], d[off + 2], d[off + 3]])
}

/// The kind a raw `info` word names, if known.
pub(crate) fn info_kind(info: u32) -> Option<Kind> {
    Kind::from_u32((info >> 24) & 0x1f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Btf {
        let mut b = Btf::new();
        let n = b.add_str("int");
        b.add_type(Type::new(
            n,
            TypeData::Int {
                size: 4,
                encoding: 1,
                offset: 0,
                bits: 32,
            },
        ));
        b.add_type(Type::new(0, TypeData::Ptr { ty: 1 }));
        b
    }

    /// A parsed object builds its types on first use, gives back the bytes it was read from
    /// until changed, and keeps its types through a change of its strings.
    #[test]
    fn parsed_types_are_built_lazily_and_survive_changes() {
        let bytes = sample().to_bytes();
        let parsed = Btf::parse(&bytes, None).unwrap();
        assert_eq!(parsed.raw_bytes(), Some(&bytes[..]));
        assert_eq!(parsed.end_id(), 3);
        assert_eq!(parsed.own_types(), sample().own_types());
        let mut changed = parsed.clone();
        changed.add_str("long");
        assert_eq!(changed.raw_bytes(), None);
        assert_eq!(changed.own_types(), sample().own_types());
        assert_ne!(changed.to_bytes(), bytes);
        let mut retyped = Btf::parse(&bytes, None).unwrap();
        retyped.add_type(Type::new(0, TypeData::Ptr { ty: 2 }));
        assert_eq!(retyped.end_id(), 4);
        assert_eq!(retyped.own_types().len(), 3);
    }

    /// Bytes laid out otherwise than `to_bytes` writes (strings first) are not handed back:
    /// writing gives the standard layout.
    #[test]
    fn non_standard_layout_is_written_anew() {
        let std_bytes = sample().to_bytes();
        let (e, h) = crate::read::parse_header(&std_bytes).unwrap();
        let types = &std_bytes[24..24 + h.type_len as usize];
        let strs = &std_bytes[24 + h.type_len as usize..];
        // Strings, padded to 4 bytes, then types.
        let type_off = h.str_len.div_ceil(4) * 4;
        let mut moved = std_bytes[..24].to_vec();
        moved[8..12].copy_from_slice(&type_off.to_le_bytes());
        moved[16..20].copy_from_slice(&0u32.to_le_bytes());
        moved.extend_from_slice(strs);
        moved.resize(24 + type_off as usize, 0);
        moved.extend_from_slice(types);
        assert_eq!(e, Endian::Little);
        let parsed = Btf::parse(&moved, None).unwrap();
        assert_eq!(parsed.raw_bytes(), None);
        assert_eq!(parsed.to_bytes(), std_bytes);
    }
}
