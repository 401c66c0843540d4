//! [`Flat`]: compact type storage in a form close to the wire format, and [`FlatBtf`], a BTF
//! object whose types are held that way.
//!
//! [`Type`] holds one heap vector per struct, which is convenient to build and read but large
//! and slow to walk by the million. The un-deduplicated BTF of a vmlinux has 3.4 million types:
//! the encoder builds it as a [`FlatBtf`], and dedup (which hashes and compares types millions
//! of times and rewrites their ids in place, as libbpf does on its raw type section) works on
//! it directly. Two vectors: one 16-byte [`Rec`] per id holding the three words of
//! `struct btf_type`, and one vector of the trailing words of all types (members, enumerators,
//! parameters, ...) exactly as the wire format lays them out. Comparing two structs is then
//! comparing two word slices.
//!
//! Index 0 is `void`: all zero, kind 0, as libbpf's `btf_void`. A [`Flat`] holds every id from
//! 0, base types included (candidates of split dedup live there).

use std::sync::Arc;

use crate::btf::{Btf, Endian};
use crate::kind::Kind;
use crate::mapvec::MapVec;
use crate::strings::StringTable;
use crate::types::{Type, TypeData, TypeId};

/// Kind numbers as stored in bits 24..29 of `info` (see [`kbtf_btf::Kind`]).
pub const INT: u32 = 1;
pub const PTR: u32 = 2;
pub const ARRAY: u32 = 3;
pub const STRUCT: u32 = 4;
pub const UNION: u32 = 5;
pub const ENUM: u32 = 6;
pub const FWD: u32 = 7;
pub const TYPEDEF: u32 = 8;
pub const VOLATILE: u32 = 9;
pub const CONST: u32 = 10;
pub const RESTRICT: u32 = 11;
pub const FUNC: u32 = 12;
pub const FUNC_PROTO: u32 = 13;
pub const VAR: u32 = 14;
pub const DATASEC: u32 = 15;
pub const FLOAT: u32 = 16;
pub const DECL_TAG: u32 = 17;
pub const TYPE_TAG: u32 = 18;
pub const ENUM64: u32 = 19;

/// The three words of a `struct btf_type`, plus where its trailing words start in
/// [`Flat::extra`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Rec {
    pub name_off: u32,
    pub info: u32,
    /// The `size` / `type` union.
    pub st: u32,
    /// Index of the first trailing word in [`Flat::extra`].
    pub extra: u32,
}

// SAFETY: four `u32`s, `repr(C)`: no padding, every bit pattern valid.
unsafe impl crate::mapvec::Plain for Rec {}

impl Rec {
    pub fn kind(&self) -> u32 {
        (self.info >> 24) & 0x1f
    }
    pub fn vlen(&self) -> usize {
        (self.info & 0xffff) as usize
    }
    pub fn kflag(&self) -> bool {
        self.info >> 31 != 0
    }
}

/// Number of trailing 32-bit words of a type with this `info`.
#[inline]
pub const fn extra_len(info: u32) -> usize {
    let vlen = (info & 0xffff) as usize;
    match (info >> 24) & 0x1f {
        INT | VAR | DECL_TAG => 1,
        ARRAY => 3,
        STRUCT | UNION | DATASEC => 3 * vlen,
        ENUM | FUNC_PROTO => 2 * vlen,
        ENUM64 => 3 * vlen,
        _ => 0,
    }
}

/// [`extra_len`] by a table: for each kind, the trailing words it has whatever its vlen and
/// those it has per vlen.
const EXTRA_LEN_PARTS: [(u8, u8); 32] = {
    let mut t = [(0u8, 0u8); 32];
    let mut k = 0;
    while k < 32 {
        let fixed = extra_len(k << 24);
        t[k as usize] = (fixed as u8, (extra_len(k << 24 | 1) - fixed) as u8);
        k += 1;
    }
    t
};

/// Types by id, from `void` (0), in wire layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flat {
    pub recs: MapVec<Rec>,
    pub extra: MapVec<u32>,
}

impl Default for Flat {
    fn default() -> Self {
        Flat::new()
    }
}

impl Flat {
    /// Just `void`.
    pub fn new() -> Flat {
        Flat {
            recs: MapVec::from_slice(&[Rec::default()]),
            extra: MapVec::new(),
        }
    }

    /// Copies every type of `btf`, bases included: ids `0..btf.end_id()`. Types still held
    /// as the bytes they were read from are copied from those, without building them.
    pub fn from_btf(btf: &Btf) -> Flat {
        if let Some(flat) = btf
            .flat_image()
            .and_then(|img| Flat::from_image(img, btf.end_id()))
        {
            return flat;
        }
        let mut chain = vec![btf];
        while let Some(b) = chain.last().and_then(|b| b.base()) {
            chain.push(b);
        }
        if chain.iter().all(|b| b.raw_types().is_some()) {
            let mut flat = Flat::new();
            for b in chain.iter().rev() {
                flat.append_raw(b.endian(), b.raw_types().unwrap_or_default());
            }
            if flat.len() as u32 == btf.end_id() {
                return flat;
            }
        }
        let mut flat = Flat::from_types(btf);
        // The model has no room for an INT's ignored bits 8..16: the object keeps them apart.
        for b in chain {
            for (id, bits) in b.int_ignored_bits() {
                if flat.kind(id) == INT {
                    if let Some(w) = flat.words_mut(id).first_mut() {
                        *w |= u32::from(bits) << 8;
                    }
                }
            }
        }
        flat
    }

    /// The two vectors as a [`FlatImage`] holds them: each record's four words, then the
    /// trailing words, little-endian (which is how they lie in memory where a mapped image is
    /// used; see [`Flat::from_image`]).
    pub fn image_bytes(&self) -> (Vec<u8>, Vec<u8>) {
        let mut recs = Vec::with_capacity(self.recs.len() * 16);
        for r in self.recs.iter() {
            for w in [r.name_off, r.info, r.st, r.extra] {
                recs.extend_from_slice(&w.to_le_bytes());
            }
        }
        let extra = self.extra.iter().flat_map(|w| w.to_le_bytes()).collect();
        (recs, extra)
    }

    /// The `n` ids of an image, mapped rather than copied (see [`crate::mapvec`]); `None`
    /// (the caller then builds them) on a big-endian host, for an image of another count,
    /// whose records' trailing words are not laid out one after another as
    /// [`Flat::push_written`] lays them out, or that the system will not map.
    fn from_image(img: &FlatImage, n: u32) -> Option<Flat> {
        if cfg!(target_endian = "big") {
            return None;
        }
        let file = img.file.file()?;
        let (recs, extra) = img.bytes()?;
        let words = extra.len() / 4;
        if recs.len() != n as usize * 16 || extra.len() % 4 != 0 || n == 0 {
            return None;
        }
        // What makes every `words(id)` in bounds: record 0 is void and each record's words
        // start where the last one's end, the last ending at the end. (What the records say
        // is the cache file checksum's to keep right, as for the rest of the cache.)
        let mut rest = recs.chunks_exact(16);
        if rest.next().is_none_or(|void| void.iter().any(|&b| b != 0)) {
            return None;
        }
        let (mut next, mut bad) = (0usize, false);
        for r in rest {
            let info = u32::from_le_bytes([r[4], r[5], r[6], r[7]]);
            let start = u32::from_le_bytes([r[12], r[13], r[14], r[15]]);
            bad |= start as usize != next;
            // Branch-free: kinds vary from record to record.
            let (fixed, per) = EXTRA_LEN_PARTS[(info >> 24 & 0x1f) as usize];
            next += usize::from(fixed) + usize::from(per) * (info & 0xffff) as usize;
        }
        if bad || next != words {
            return None;
        }
        #[cfg(target_os = "linux")]
        {
            let (recs_at, words_at) = (img.recs.start as u64, img.extra.start as u64);
            // SAFETY: the image is a file kbtf wrote by a rename and never writes in place
            // (the base index cache), as every mapped input is trusted not to change.
            let recs = unsafe { MapVec::map_file(file, recs_at, n as usize, IMAGE_ROOM) }.ok()?;
            // SAFETY: as above.
            let extra = unsafe { MapVec::map_file(file, words_at, words, IMAGE_ROOM) }.ok()?;
            Some(Flat { recs, extra })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = file;
            None
        }
    }

    /// Appends the types of a type section (checked already, as [`Btf::parse`] does).
    fn append_raw(&mut self, e: Endian, sec: &[u8]) {
        match e {
            Endian::Little => self.append_raw_with(sec, u32::from_le_bytes),
            Endian::Big => self.append_raw_with(sec, u32::from_be_bytes),
        }
    }

    #[inline(always)]
    fn append_raw_with(&mut self, sec: &[u8], word: impl Fn([u8; 4]) -> u32 + Copy) {
        // Each record is at least 12 bytes: an upper bound on the count, and exact room for
        // the trailing words of a vmlinux (whose records average about 25 bytes).
        self.recs.reserve(sec.len() / 24);
        self.extra.reserve(sec.len() / 8);
        let mut rest = sec;
        while let Some((head, tail)) = rest.split_first_chunk::<12>() {
            let [a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3] = *head;
            let (name_off, info, st) = (
                word([a0, a1, a2, a3]),
                word([b0, b1, b2, b3]),
                word([c0, c1, c2, c3]),
            );
            let n = extra_len(info) * 4;
            let Some(words) = tail.get(..n) else {
                return;
            };
            self.recs.push(Rec {
                name_off,
                info,
                st,
                extra: self.extra.len() as u32,
            });
            self.extra.extend(
                words
                    .chunks_exact(4)
                    .map(|c| word([c[0], c[1], c[2], c[3]])),
            );
            rest = &tail[n..];
        }
    }

    fn from_types(btf: &Btf) -> Flat {
        let n = btf.end_id() as usize;
        let mut words = 0usize;
        for id in 1..btf.end_id() {
            if let Some(t) = btf.type_by_id(id) {
                words += t.encoded_len() / 4 - 3;
            }
        }
        let mut flat = Flat {
            recs: MapVec::with_capacity(n),
            extra: MapVec::with_capacity(words),
        };
        flat.recs.push(Rec::default());
        for id in 1..btf.end_id() {
            match btf.type_by_id(id) {
                Some(t) => {
                    flat.push(t);
                }
                // Unreachable for a well-formed `Btf`; an all-zero record is `void`-like
                // and compares unequal to every real type.
                None => flat.recs.push(Rec::default()),
            }
        }
        flat
    }

    /// Appends `t`, returning its id.
    pub fn push(&mut self, t: &Type) -> TypeId {
        let extra = self.extra.len() as u32;
        self.recs.push(Rec {
            name_off: t.name_off,
            info: t.info(),
            st: t.size_or_type(),
            extra,
        });
        let e = &mut self.extra;
        t.for_each_trailing_word(|w| e.push(w));
        self.recs.len() as u32 - 1
    }

    /// Appends a type given as its three header words and its trailing words (which must be
    /// as many as `info` says), returning its id.
    pub fn push_words(&mut self, name_off: u32, info: u32, st: u32, words: &[u32]) -> TypeId {
        let start = self.extra.len();
        self.extra.extend_from_slice(words);
        self.push_written(name_off, info, st, start)
    }

    /// Appends a type whose trailing words the caller has already appended to `extra`, from
    /// `start` on (as many as `info` says), returning its id: a producer can write a type's
    /// members in place, with no vector of its own.
    pub fn push_written(&mut self, name_off: u32, info: u32, st: u32, start: usize) -> TypeId {
        debug_assert_eq!(self.extra.len() - start, extra_len(info));
        self.recs.push(Rec {
            name_off,
            info,
            st,
            extra: start as u32,
        });
        self.recs.len() as u32 - 1
    }

    /// Calls `f` with every type id field of type `id`, in wire order, for rewriting.
    pub fn for_each_ref_mut(&mut self, id: TypeId, mut f: impl FnMut(&mut u32)) {
        let r = self.recs[id as usize];
        match r.kind() {
            PTR | TYPEDEF | VOLATILE | CONST | RESTRICT | FUNC | VAR | DECL_TAG | TYPE_TAG => {
                f(&mut self.recs[id as usize].st)
            }
            ARRAY => {
                let w = self.words_mut(id);
                f(&mut w[0]);
                f(&mut w[1]);
            }
            STRUCT | UNION => self
                .words_mut(id)
                .chunks_exact_mut(3)
                .for_each(|m| f(&mut m[1])),
            FUNC_PROTO => {
                f(&mut self.recs[id as usize].st);
                self.words_mut(id)
                    .chunks_exact_mut(2)
                    .for_each(|p| f(&mut p[1]));
            }
            DATASEC => self
                .words_mut(id)
                .chunks_exact_mut(3)
                .for_each(|v| f(&mut v[0])),
            _ => {}
        }
    }

    /// Grows this object, a prefix of `other` (its first ids and their trailing words), to
    /// `other`'s ids up to `to`, as an encoder grows it unit by unit (for feeding
    /// `kbtf_dedup::Incremental` in tests). `false`, and nothing added, if `to` is past
    /// `other`'s end or before this one's.
    pub fn grow_from(&mut self, other: &Flat, to: u32) -> bool {
        let (from, to) = (self.recs.len(), to as usize);
        let words_to = match other.recs.get(to) {
            Some(r) => r.extra as usize,
            None => other.extra.len(),
        };
        let (Some(recs), Some(words)) = (
            other.recs.get(from..to),
            other.extra.get(self.extra.len()..words_to),
        ) else {
            return false;
        };
        self.recs.extend_from_slice(recs);
        self.extra.extend_from_slice(words);
        true
    }

    /// Appends `other`'s types (all but its void, id 0) after this object's, their trailing
    /// words after this one's, as an encoder merges a unit's types into the whole. References
    /// and string offsets are copied as they are: the caller rewrites them first. `false`,
    /// and nothing added, if the trailing words would pass `u32` offsets.
    pub fn append(&mut self, other: &Flat) -> bool {
        let Ok(shift) = u32::try_from(self.extra.len()) else {
            return false;
        };
        if u32::try_from(self.extra.len() + other.extra.len()).is_err() {
            return false;
        }
        self.recs.extend(other.recs.iter().skip(1).map(|r| Rec {
            extra: r.extra + shift,
            ..*r
        }));
        self.extra.extend_from_slice(&other.extra);
        true
    }

    /// Number of ids, `void` included.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.recs.len()
    }

    #[inline]
    pub fn rec(&self, id: TypeId) -> &Rec {
        &self.recs[id as usize]
    }

    #[inline]
    pub fn kind(&self, id: TypeId) -> u32 {
        self.recs[id as usize].kind()
    }

    /// The trailing words of type `id`.
    #[inline]
    pub fn words(&self, id: TypeId) -> &[u32] {
        let r = &self.recs[id as usize];
        let start = r.extra as usize;
        &self.extra[start..start + extra_len(r.info)]
    }

    /// The trailing words of type `id`, for rewriting type ids in place.
    #[inline]
    pub fn words_mut(&mut self, id: TypeId) -> &mut [u32] {
        let r = self.recs[id as usize];
        let start = r.extra as usize;
        &mut self.extra[start..start + extra_len(r.info)]
    }

    /// Calls `f` with every type id field of type `id`, in wire order.
    pub fn for_each_ref(&self, id: TypeId, mut f: impl FnMut(u32)) {
        let r = self.rec(id);
        let w = self.words(id);
        match r.kind() {
            PTR | TYPEDEF | VOLATILE | CONST | RESTRICT | FUNC | VAR | DECL_TAG | TYPE_TAG => {
                f(r.st)
            }
            ARRAY => {
                f(w[0]);
                f(w[1]);
            }
            STRUCT | UNION => w.chunks_exact(3).for_each(|m| f(m[1])),
            FUNC_PROTO => {
                f(r.st);
                w.chunks_exact(2).for_each(|p| f(p[1]));
            }
            DATASEC => w.chunks_exact(3).for_each(|v| f(v[0])),
            _ => {}
        }
    }

    /// Calls `f` on every string offset field of type `id`, in libbpf's order
    /// (`btf_type_visit_str_offs`): the name, then member, enumerator or parameter names.
    pub fn for_each_str_mut(&mut self, id: TypeId, mut f: impl FnMut(&mut u32)) {
        f(&mut self.recs[id as usize].name_off);
        match self.kind(id) {
            STRUCT | UNION | ENUM64 => self
                .words_mut(id)
                .chunks_exact_mut(3)
                .for_each(|m| f(&mut m[0])),
            ENUM | FUNC_PROTO => self
                .words_mut(id)
                .chunks_exact_mut(2)
                .for_each(|m| f(&mut m[0])),
            _ => {}
        }
    }

    /// Bits 8..16 of type `id`'s data word if it is an INT (the kernel ignores them; the
    /// model of [`Type`] has no room for them), else 0.
    pub fn int_ignored_bits(&self, id: TypeId) -> u8 {
        if self.kind(id) != INT {
            return 0;
        }
        self.words(id).first().map_or(0, |w| (w >> 8) as u8)
    }

    /// Type `id` in the model of [`Type`]; `None` for `void` or a record of no known kind.
    pub fn to_type(&self, id: TypeId) -> Option<Type> {
        let r = self.rec(id);
        let kind = Kind::from_u32(r.kind())?;
        let w = self.words(id);
        let data = TypeData::from_words(kind, r.st, r.vlen(), |i| w.get(i).copied().unwrap_or(0));
        Some(Type {
            name_off: r.name_off,
            kind_flag: r.kflag(),
            data,
        })
    }
}

/// How many elements a mapped [`Flat`] vector may grow by before it moves to the heap: the
/// address range reserved for it (512 MiB of records, 128 MiB of words, never touched
/// unless used) outlasts the raw types of the largest module.
const IMAGE_ROOM: usize = 32 << 20;

/// Where a file (the base index cache) holds a [`Flat`] of a base's types, as
/// [`Flat::image_bytes`] wrote them, at offsets that are multiples of the page size: given
/// to the base with [`Btf::preset_flat_image`], it makes [`Flat::from_btf`] map them.
#[derive(Clone)]
pub struct FlatImage {
    file: Arc<crate::file::MappedFile>,
    recs: std::ops::Range<usize>,
    extra: std::ops::Range<usize>,
}

impl FlatImage {
    /// The records at bytes `recs` of `file`, the trailing words at `extra`.
    pub fn new(
        file: Arc<crate::file::MappedFile>,
        recs: std::ops::Range<usize>,
        extra: std::ops::Range<usize>,
    ) -> FlatImage {
        FlatImage { file, recs, extra }
    }

    /// Where the records and the trailing words start in the file.
    pub fn offsets(&self) -> (usize, usize) {
        (self.recs.start, self.extra.start)
    }

    /// The records' and the trailing words' bytes; `None` if they are not in the file.
    pub fn bytes(&self) -> Option<(&[u8], &[u8])> {
        Some((
            self.file.get(self.recs.clone())?,
            self.file.get(self.extra.clone())?,
        ))
    }
}

impl std::fmt::Debug for FlatImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlatImage")
            .field("recs", &self.recs)
            .field("extra", &self.extra)
            .finish()
    }
}

/// A BTF object (base, or split on `base`) whose types are held in a [`Flat`]: what the
/// encoder builds and dedup takes, without a [`Type`] per type in between.
#[derive(Debug, Clone)]
pub struct FlatBtf {
    pub endian: Endian,
    pub base: Option<Arc<Btf>>,
    /// Every id from `void`, the base's types included: this object's own types are ids
    /// [`FlatBtf::start_id`] and up.
    pub types: Flat,
    /// This object's own string section (starting at the base's end for split BTF).
    pub strings: StringTable,
    /// Set by a producer whose string section holds exactly the strings its own types use,
    /// each once, in the order of first use (types by id; in a type its name, then member,
    /// enumerator or parameter names), and which refers to every string the base holds by
    /// the base's (first) offset: what libbpf's string dedup would make of it. Dedup then
    /// skips that pass. Only set it when it holds by construction.
    pub strings_first_use: bool,
}

impl FlatBtf {
    /// An empty base BTF, or split BTF on `base` (whose types are copied in).
    pub fn new(base: Option<Arc<Btf>>) -> FlatBtf {
        match base {
            None => FlatBtf {
                endian: Endian::Little,
                base: None,
                types: Flat::new(),
                strings: StringTable::new_base(),
                strings_first_use: false,
            },
            Some(b) => FlatBtf {
                endian: b.endian(),
                types: Flat::from_btf(&b),
                strings: StringTable::new_split(b.strings_end()),
                base: Some(b),
                strings_first_use: false,
            },
        }
    }

    /// The types and strings of `btf` (a copy).
    pub fn from_btf(btf: &Btf) -> FlatBtf {
        FlatBtf {
            endian: btf.endian(),
            base: btf.base().cloned(),
            types: Flat::from_btf(btf),
            strings: btf.strings().clone(),
            strings_first_use: false,
        }
    }

    /// The first id of this object's own types.
    pub fn start_id(&self) -> TypeId {
        self.base.as_ref().map_or(1, |b| b.end_id())
    }

    /// One past the last id.
    pub fn end_id(&self) -> TypeId {
        self.types.len() as u32
    }

    /// The string at `off`, own or the base's.
    pub fn str_bytes(&self, off: u32) -> Option<&[u8]> {
        if off >= self.strings.start() {
            self.strings.get(off)
        } else {
            self.base.as_ref()?.str_bytes(off)
        }
    }

    /// The same BTF in the [`Type`] model. Records of no known kind (which a [`Flat`] built
    /// from [`Type`]s never holds) are left out.
    pub fn to_btf(&self) -> Btf {
        let mut out = match &self.base {
            Some(b) => Btf::new_split(b.clone()),
            None => Btf::new(),
        };
        out.set_endian(self.endian);
        *out.strings_mut() = self.strings.clone();
        for id in self.start_id()..self.end_id() {
            if let Some(t) = self.types.to_type(id) {
                let new_id = out.add_type(t);
                out.set_int_ignored_bits(new_id, self.types.int_ignored_bits(id));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Enum64Value, EnumValue, Member, Param, VarSecinfo};

    /// Every kind survives the trip into the flat form and back unchanged.
    #[test]
    fn round_trip_every_kind() {
        let mut btf = Btf::new();
        let n = btf.add_str("n");
        let types = vec![
            TypeData::Int {
                size: 4,
                encoding: 1,
                offset: 3,
                bits: 17,
            },
            TypeData::Ptr { ty: 1 },
            TypeData::Array {
                elem: 1,
                index: 1,
                nelems: 7,
            },
            TypeData::Struct {
                size: 8,
                members: vec![Member {
                    name_off: n,
                    ty: 1,
                    offset: 0x0300_0005,
                }],
            },
            TypeData::Union {
                size: 4,
                members: vec![],
            },
            TypeData::Enum {
                size: 4,
                values: vec![EnumValue {
                    name_off: n,
                    val: 0xffff_fffe,
                }],
            },
            TypeData::Enum64 {
                size: 8,
                values: vec![Enum64Value {
                    name_off: n,
                    val: 0x1234_5678_9abc_def0,
                }],
            },
            TypeData::Fwd { raw: 0 },
            TypeData::Typedef { ty: 2 },
            TypeData::Volatile { ty: 1 },
            TypeData::Const { ty: 1 },
            TypeData::Restrict { ty: 2 },
            TypeData::FuncProto {
                ret: 1,
                params: vec![Param { name_off: n, ty: 1 }, Param { name_off: 0, ty: 0 }],
            },
            TypeData::Func {
                proto: 13,
                linkage: 1,
            },
            TypeData::Var { ty: 1, linkage: 2 },
            TypeData::Datasec {
                size: 16,
                vars: vec![VarSecinfo {
                    ty: 15,
                    offset: 8,
                    size: 4,
                }],
            },
            TypeData::Float { size: 8 },
            TypeData::DeclTag {
                ty: 4,
                component_idx: -1,
            },
            TypeData::TypeTag { ty: 1 },
        ];
        for (i, data) in types.into_iter().enumerate() {
            btf.add_type(Type {
                name_off: n,
                kind_flag: i % 2 == 0,
                data,
            });
        }
        let flat = Flat::from_btf(&btf);
        assert_eq!(flat.len() as u32, btf.end_id());
        let fb = FlatBtf::from_btf(&btf);
        assert_eq!(fb.to_btf().to_bytes(), btf.to_bytes());
        for (id, t) in btf.iter() {
            assert_eq!(&flat.to_type(id).unwrap(), t, "type [{id}]");
            let mut refs_mut = Vec::new();
            let mut copy = flat.clone();
            copy.for_each_ref_mut(id, |r| refs_mut.push(*r));
            assert_eq!(refs_mut, t.referenced_ids(), "refs_mut of type [{id}]");
            assert_eq!(flat.rec(id).info, t.info());
            let mut refs = Vec::new();
            flat.for_each_ref(id, |r| refs.push(r));
            assert_eq!(refs, t.referenced_ids(), "refs of type [{id}]");
        }
    }

    /// An INT, a struct of it, a pointer to the struct and a prototype taking the pointer:
    /// records with and without trailing words.
    fn four_types() -> Btf {
        let mut btf = Btf::new();
        let n = btf.add_str("n");
        for data in [
            TypeData::Int {
                size: 4,
                encoding: 1,
                offset: 0,
                bits: 32,
            },
            TypeData::Struct {
                size: 4,
                members: vec![Member {
                    name_off: n,
                    ty: 1,
                    offset: 0,
                }],
            },
            TypeData::Ptr { ty: 2 },
            TypeData::FuncProto {
                ret: 1,
                params: vec![Param { name_off: n, ty: 3 }],
            },
        ] {
            btf.add_type(Type {
                name_off: n,
                kind_flag: false,
                data,
            });
        }
        btf
    }

    /// `append` puts another object's types (not its void) after this one's, their trailing
    /// words shifted past this one's, and leaves both forms readable.
    #[test]
    fn append_shifts_trailing_words() {
        let btf = four_types();
        let unit = Flat::from_btf(&btf);
        let mut whole = Flat::from_btf(&btf);
        assert!(whole.append(&unit));
        let k = unit.len() as u32 - 1;
        assert_eq!(whole.len() as u32, 1 + 2 * k);
        for id in 1..=k {
            let t = unit.to_type(id).unwrap();
            assert_eq!(whole.to_type(id).unwrap(), t, "type [{id}]");
            assert_eq!(whole.to_type(id + k).unwrap(), t, "type [{}]", id + k);
            assert_eq!(whole.words(id + k), unit.words(id));
        }
    }

    #[test]
    fn extra_len_parts_agree() {
        for kind in 0..32u32 {
            for vlen in [0u32, 1, 2, 7, 0xffff] {
                let info = kind << 24 | vlen | 1 << 31;
                let (fixed, per) = EXTRA_LEN_PARTS[kind as usize];
                let by_table = usize::from(fixed) + usize::from(per) * vlen as usize;
                assert_eq!(by_table, extra_len(info), "kind {kind}, vlen {vlen}");
            }
        }
    }

    /// A base given an image of its types (as the base index cache holds them) maps them:
    /// the same records and words as built, growing as before; an image that does not fit
    /// the base, or whose trailing words are not laid out one after another, is not used.
    #[test]
    fn an_image_maps_the_same_types() {
        let btf = four_types();
        let bytes = btf.to_bytes();
        let built = Flat::from_btf(&Btf::parse(&bytes, None).unwrap());
        let (recs, words) = built.image_bytes();
        let dir = tempfile::tempdir().unwrap();
        let with_image = |recs: &[u8], words: &[u8]| -> Flat {
            const AT: usize = 64 << 10;
            let mut file = vec![0x5au8; AT];
            file.extend_from_slice(recs);
            file.resize(2 * AT, 0);
            file.extend_from_slice(words);
            let path = dir.path().join("image");
            std::fs::write(&path, &file).unwrap();
            let map = Arc::new(crate::file::map_file(&path).unwrap());
            let img = FlatImage::new(map, AT..AT + recs.len(), 2 * AT..2 * AT + words.len());
            let base = Btf::parse(&bytes, None).unwrap();
            assert!(base.preset_flat_image(img));
            Flat::from_btf(&base)
        };
        let mut mapped = with_image(&recs, &words);
        assert_eq!(mapped, built);
        #[cfg(all(target_os = "linux", target_endian = "little"))]
        assert!(mapped.recs.is_mapped() && mapped.extra.is_mapped());
        // It grows as a built one does.
        let mut grown = built.clone();
        assert!(grown.append(&built) && mapped.append(&built));
        assert_eq!(mapped, grown);
        // An image of another count, or whose second record's words do not start where the
        // first one's end, is built instead.
        for (recs, words) in [
            (recs[..recs.len() - 16].to_vec(), words.clone()),
            (recs.clone(), words[..words.len() - 4].to_vec()),
            (
                {
                    let mut r = recs.clone();
                    r[2 * 16 + 12] ^= 1;
                    r
                },
                words.clone(),
            ),
        ] {
            let f = with_image(&recs, &words);
            assert_eq!(f, built);
            assert!(!f.recs.is_mapped());
        }
    }
}
