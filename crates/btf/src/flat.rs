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
pub struct Rec {
    pub name_off: u32,
    pub info: u32,
    /// The `size` / `type` union.
    pub st: u32,
    /// Index of the first trailing word in [`Flat::extra`].
    pub extra: u32,
}

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
pub fn extra_len(info: u32) -> usize {
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

/// Types by id, from `void` (0), in wire layout.
///
/// The lower ids may be a base's types held as its type section was read ([`SharedBase`]):
/// every [`Flat`] on that base reads the same section, and none copies it. They are
/// read-only: the first change to one of them copies them in ([`Flat::unshare`]), so that
/// every method works on every id, but dedup and the encoder only change their own types.
#[derive(Clone)]
pub struct Flat {
    /// Ids `0..own_from`, when shared.
    shared: Option<Arc<SharedBase>>,
    /// The first id held in `recs` (0 when nothing is shared).
    own_from: u32,
    /// Ids `own_from..`.
    recs: Vec<Rec>,
    /// The trailing words of the types in `recs` (their [`Rec::extra`] index into it).
    extra: Vec<u32>,
}

impl Default for Flat {
    fn default() -> Self {
        Flat::new()
    }
}

impl PartialEq for Flat {
    /// The same types under the same ids, wherever their words are held.
    fn eq(&self, other: &Flat) -> bool {
        self.len() == other.len()
            && (0..self.len() as u32).all(|id| {
                let (a, b) = (self.rec(id), other.rec(id));
                (a.name_off, a.info, a.st) == (b.name_off, b.info, b.st)
                    && self.words(id) == other.words(id)
            })
    }
}
impl Eq for Flat {}

impl std::fmt::Debug for Flat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flat")
            .field("shared", &self.own_from)
            .field("recs", &self.recs)
            .field("extra", &self.extra)
            .finish()
    }
}

impl Flat {
    /// Just `void`.
    pub fn new() -> Flat {
        Flat {
            shared: None,
            own_from: 0,
            recs: vec![Rec::default()],
            extra: Vec::new(),
        }
    }

    /// The types of `base` (ids `0..base.end_id()`), shared with every other [`Flat`] on it
    /// where `base` is held as it was read (and has no base of its own), copied otherwise.
    pub fn on_base(base: &Btf) -> Flat {
        match base.shared_flat() {
            Some(shared) => Flat::with_shared(shared),
            None => Flat::from_btf(base),
        }
    }

    fn with_shared(shared: Arc<SharedBase>) -> Flat {
        Flat {
            own_from: shared.len(),
            shared: Some(shared),
            recs: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// Copies every type of `btf`, bases included: ids `0..btf.end_id()`. Types still held
    /// as the bytes they were read from are copied from those, without building them; the
    /// types of the base of a split object held so are shared ([`Flat::on_base`]).
    pub fn from_btf(btf: &Btf) -> Flat {
        if let Some(shared) = btf.base().and_then(|b| b.shared_flat()) {
            let mut flat = Flat::with_shared(shared);
            match btf.raw_types() {
                Some(own) => flat.append_raw(btf.endian(), own),
                None => flat.push_own_types(btf),
            }
            if flat.len() as u32 == btf.end_id() {
                return flat;
            }
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
        for b in chain {
            flat.set_int_ignored_bits(b);
        }
        flat
    }

    /// Appends the own types of `btf` (which continue this object's ids) from the model.
    fn push_own_types(&mut self, btf: &Btf) {
        for id in btf.start_id()..btf.end_id() {
            match btf.type_by_id(id) {
                Some(t) => self.push(t),
                // Unreachable for a well-formed `Btf`, as in `from_types`.
                None => self.push_words(0, 0, 0, &[]),
            };
        }
        self.set_int_ignored_bits(btf);
    }

    /// The model has no room for an INT's ignored bits 8..16: the object keeps them apart,
    /// and they are put back here, for `btf`'s own types.
    fn set_int_ignored_bits(&mut self, btf: &Btf) {
        for (id, bits) in btf.int_ignored_bits() {
            if self.kind(id) == INT {
                if let Some(w) = self.words_mut(id).first_mut() {
                    *w |= u32::from(bits) << 8;
                }
            }
        }
    }

    /// Whether the lower ids are still a shared base's, not copied.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Copies the shared ids in (if any), so that every id can be changed.
    pub fn unshare(&mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        let n = self.own_from as usize;
        let words = shared.words();
        let mut recs = Vec::with_capacity(n + self.recs.len());
        let mut extra = Vec::with_capacity(words.len() + self.extra.len());
        recs.push(Rec::default());
        for id in 1..self.own_from {
            let r = shared.rec(id);
            let w = shared.words_of(&r);
            recs.push(Rec {
                extra: extra.len() as u32,
                ..r
            });
            extra.extend_from_slice(w);
        }
        let shift = extra.len() as u32;
        recs.extend(self.recs.iter().map(|r| Rec {
            extra: r.extra + shift,
            ..*r
        }));
        extra.extend_from_slice(&self.extra);
        self.recs = recs;
        self.extra = extra;
        self.own_from = 0;
    }

    /// Room for `recs` more types and `words` more trailing words, if memory allows (a
    /// hint: nothing fails if it does not).
    pub fn reserve(&mut self, recs: usize, words: usize) {
        let _ = self.recs.try_reserve(recs);
        let _ = self.extra.try_reserve(words);
    }

    /// The trailing words of the types held here (not the shared ones), to append a type's
    /// words to before [`Flat::push_written`].
    pub fn own_words(&mut self) -> &mut Vec<u32> {
        &mut self.extra
    }

    /// The types held here, from id [`Flat::own_from`], and their trailing words, which
    /// the records' [`Rec::extra`] index (for passes that split them between threads).
    pub fn own_parts_mut(&mut self) -> (&mut [Rec], &mut [u32]) {
        (&mut self.recs, &mut self.extra)
    }

    /// The first id held in this object's own storage: 0 when nothing is shared.
    pub fn own_from(&self) -> u32 {
        self.own_from
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
        let mut flat = Flat::new();
        flat.reserve(n, words);
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
        self.len() as u32 - 1
    }

    /// Appends a type given as its three header words and its trailing words (which must be
    /// as many as `info` says), returning its id.
    pub fn push_words(&mut self, name_off: u32, info: u32, st: u32, words: &[u32]) -> TypeId {
        let start = self.extra.len();
        self.extra.extend_from_slice(words);
        self.push_written(name_off, info, st, start)
    }

    /// Appends a type whose trailing words the caller has already appended to
    /// [`Flat::own_words`], from `start` on (as many as `info` says), returning its id: a
    /// producer can write a type's members in place, with no vector of its own.
    pub fn push_written(&mut self, name_off: u32, info: u32, st: u32, start: usize) -> TypeId {
        debug_assert_eq!(self.extra.len() - start, extra_len(info));
        self.recs.push(Rec {
            name_off,
            info,
            st,
            extra: start as u32,
        });
        self.len() as u32 - 1
    }

    /// Calls `f` with every type id field of type `id`, in wire order, for rewriting.
    pub fn for_each_ref_mut(&mut self, id: TypeId, mut f: impl FnMut(&mut u32)) {
        match self.kind(id) {
            PTR | TYPEDEF | VOLATILE | CONST | RESTRICT | FUNC | VAR | DECL_TAG | TYPE_TAG => {
                f(&mut self.rec_mut(id).st)
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
                f(&mut self.rec_mut(id).st);
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

    /// Grows this object, a prefix of `other` (its first ids), to `other`'s ids up to `to`,
    /// as an encoder grows it unit by unit (for feeding `kbtf_dedup::Incremental` in tests).
    /// `false`, and nothing added, if `to` is past `other`'s end or before this one's.
    pub fn grow_from(&mut self, other: &Flat, to: u32) -> bool {
        let from = self.len() as u32;
        if to < from || to as usize > other.len() {
            return false;
        }
        for id in from..to {
            let r = other.rec(id);
            self.push_words(r.name_off, r.info, r.st, other.words(id));
        }
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
        let other_words: usize = (1..other.len() as u32)
            .map(|id| other.words(id).len())
            .sum();
        if u32::try_from(self.extra.len() + other_words).is_err() {
            return false;
        }
        if other.shared.is_none() {
            self.recs.extend(other.recs.iter().skip(1).map(|r| Rec {
                extra: r.extra + shift,
                ..*r
            }));
            self.extra.extend_from_slice(&other.extra);
        } else {
            for id in 1..other.len() as u32 {
                let r = other.rec(id);
                self.push_words(r.name_off, r.info, r.st, other.words(id));
            }
        }
        true
    }

    /// Number of ids, `void` included.
    #[allow(clippy::len_without_is_empty)]
    #[inline]
    pub fn len(&self) -> usize {
        self.own_from as usize + self.recs.len()
    }

    /// The record of type `id` (its `extra` indexes the words of the part holding it).
    #[inline]
    pub fn rec(&self, id: TypeId) -> Rec {
        match id.checked_sub(self.own_from) {
            Some(i) => self.recs[i as usize],
            None => self.shared_part().rec(id),
        }
    }

    /// The record of type `id`, to change it (copying the shared ids in first if `id` is
    /// one of them).
    #[inline]
    pub fn rec_mut(&mut self, id: TypeId) -> &mut Rec {
        if id < self.own_from {
            self.unshare();
        }
        &mut self.recs[(id - self.own_from) as usize]
    }

    #[inline]
    pub fn kind(&self, id: TypeId) -> u32 {
        self.rec(id).kind()
    }

    /// The trailing words of type `id`.
    #[inline]
    pub fn words(&self, id: TypeId) -> &[u32] {
        match id.checked_sub(self.own_from) {
            Some(i) => {
                let r = &self.recs[i as usize];
                let start = r.extra as usize;
                &self.extra[start..start + extra_len(r.info)]
            }
            None => {
                let shared = self.shared_part();
                shared.words_of(&shared.rec(id))
            }
        }
    }

    /// The trailing words of type `id`, for rewriting type ids in place (copying the shared
    /// ids in first if `id` is one of them).
    #[inline]
    pub fn words_mut(&mut self, id: TypeId) -> &mut [u32] {
        let r = *self.rec_mut(id);
        let start = r.extra as usize;
        &mut self.extra[start..start + extra_len(r.info)]
    }

    /// The shared part, for an id below `own_from` (which is 0 without one).
    #[inline]
    fn shared_part(&self) -> &SharedBase {
        match &self.shared {
            Some(s) => s,
            // `own_from` is 0 whenever nothing is shared: no id is below it.
            None => unreachable!("an id below own_from without a shared part"),
        }
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
        f(&mut self.rec_mut(id).name_off);
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

/// The types of a base BTF as every [`Flat`] on it reads them: its type section as words, in
/// place in the bytes read (a mapped vmlinux) where this host can read them so, and where
/// each type's record starts in them. Built once per base object ([`Btf::shared_flat`]):
/// a module process then holds 0.4 MB of starts for the vmlinux's 95 k types instead of a
/// 2.7 MB copy of them.
pub struct SharedBase {
    /// The word index of the record of each id from 1.
    starts: Vec<u32>,
    words: Words,
}

/// A type section as 32-bit words.
enum Words {
    /// Converted (another byte order, or bytes not aligned or not shared).
    Owned(Vec<u32>),
    /// The bytes as read, in place.
    InPlace {
        /// Keeps the bytes alive, and where they are (a shared owner's bytes never move).
        _bytes: crate::bytes::Bytes,
        ptr: *const u32,
        len: usize,
    },
}

// SAFETY: `InPlace` points into bytes that `_bytes` keeps alive and that nothing changes
// (a shared owner's bytes are immutable); reading them from any thread is as safe as
// reading a `&[u32]`.
unsafe impl Send for Words {}
unsafe impl Sync for Words {}

impl std::fmt::Debug for SharedBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = match self.words {
            Words::Owned(_) => "converted",
            Words::InPlace { .. } => "in place",
        };
        write!(f, "SharedBase({} types, {how})", self.starts.len())
    }
}

impl SharedBase {
    /// The types of the type section `bytes[range]` in byte order `e`, which must hold
    /// `count` types (checked already, as [`Btf::parse`] does); `None` if they do not fit.
    pub(crate) fn build(
        e: Endian,
        bytes: &crate::bytes::Bytes,
        range: std::ops::Range<usize>,
        count: u32,
    ) -> Option<SharedBase> {
        let sec = bytes.get(range.clone())?;
        let words = match Self::in_place(e, bytes, sec) {
            Some(w) => w,
            None => {
                let word = match e {
                    Endian::Little => u32::from_le_bytes,
                    Endian::Big => u32::from_be_bytes,
                };
                Words::Owned(
                    sec.chunks_exact(4)
                        .map(|c| word([c[0], c[1], c[2], c[3]]))
                        .collect(),
                )
            }
        };
        let mut base = SharedBase {
            starts: Vec::new(),
            words,
        };
        let w = base.words();
        let mut starts = Vec::with_capacity(count as usize);
        let mut at = 0usize;
        while at + 3 <= w.len() {
            starts.push(at as u32);
            at += 3 + extra_len(w[at + 1]);
        }
        if at != w.len() || starts.len() != count as usize || sec.len() % 4 != 0 {
            return None;
        }
        base.starts = starts;
        Some(base)
    }

    /// The words of `sec` (a range of `bytes`) in place, where they can be read so.
    fn in_place(e: Endian, bytes: &crate::bytes::Bytes, sec: &[u8]) -> Option<Words> {
        if !cfg!(target_endian = "little") || e != Endian::Little || !bytes.is_shared() {
            return None;
        }
        // SAFETY: every bit pattern is a valid `u32`; `align_to` only hands out the aligned
        // middle part.
        let (head, words, tail) = unsafe { sec.align_to::<u32>() };
        if !head.is_empty() || !tail.is_empty() {
            return None;
        }
        Some(Words::InPlace {
            _bytes: bytes.clone(),
            ptr: words.as_ptr(),
            len: words.len(),
        })
    }

    /// Number of ids, `void` included.
    fn len(&self) -> u32 {
        self.starts.len() as u32 + 1
    }

    #[inline]
    fn words(&self) -> &[u32] {
        match &self.words {
            Words::Owned(v) => v,
            // SAFETY: see `Words`: `ptr` and `len` are the aligned words of bytes that
            // `_bytes` keeps alive, unchanged.
            Words::InPlace { ptr, len, .. } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
        }
    }

    /// The record of `id` (below [`SharedBase::len`]); its `extra` indexes [`Self::words`].
    #[inline]
    fn rec(&self, id: TypeId) -> Rec {
        let Some(&at) = id.checked_sub(1).and_then(|i| self.starts.get(i as usize)) else {
            return Rec::default();
        };
        let at = at as usize;
        match self.words().get(at..at + 3) {
            Some(&[name_off, info, st]) => Rec {
                name_off,
                info,
                st,
                extra: at as u32 + 3,
            },
            _ => Rec::default(),
        }
    }

    #[inline]
    fn words_of(&self, r: &Rec) -> &[u32] {
        let start = r.extra as usize;
        self.words()
            .get(start..start + extra_len(r.info))
            .unwrap_or_default()
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
    /// An empty base BTF, or split BTF on `base` (whose types are shared where they can be:
    /// [`Flat::on_base`]).
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
                types: Flat::on_base(&b),
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
        let btf = every_kind();
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

    /// A type of every kind, the INT with bits the kernel ignores set.
    fn every_kind() -> Btf {
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
        btf.set_int_ignored_bits(1, 0x5a);
        btf
    }

    /// `base` written in byte order `e` and read back from bytes as a mapped file would give
    /// them, starting at an address 4-aligned or not (`aligned`).
    fn reread(base: &Btf, e: Endian, aligned: bool) -> Btf {
        let mut b = base.clone();
        b.set_endian(e);
        let skip = usize::from(!aligned);
        let mut bytes = vec![0u8; skip];
        bytes.extend(b.to_bytes());
        let len = bytes.len();
        let view = crate::bytes::Bytes::share(bytes).slice(skip..len).unwrap();
        Btf::parse_bytes(view, None).unwrap()
    }

    /// Every id of `a` and `b` has the same header words and trailing words.
    fn assert_same_types(a: &Flat, b: &Flat) {
        assert_eq!(a.len(), b.len());
        for id in 0..a.len() as u32 {
            let (ra, rb) = (a.rec(id), b.rec(id));
            assert_eq!(
                (ra.name_off, ra.info, ra.st),
                (rb.name_off, rb.info, rb.st),
                "type [{id}]"
            );
            assert_eq!(a.words(id), b.words(id), "words of type [{id}]");
        }
        assert_eq!(a, b);
    }

    /// A base read from bytes is shared, not copied, by every `Flat` on it (read in place
    /// from an aligned little-endian blob on a little-endian host, converted otherwise), and reads
    /// as its copy does: its own ids, those of a split object on it, and after a change,
    /// which copies it in and leaves the other `Flat`s on it as they were.
    #[test]
    fn shared_base_reads_as_its_copy() {
        let built = every_kind();
        for (e, aligned) in [
            (Endian::Little, true),
            (Endian::Little, false),
            (Endian::Big, true),
        ] {
            let base = Arc::new(reread(&built, e, aligned));
            let how = format!("{:?}", base.shared_flat().unwrap());
            let expect = if aligned && e == Endian::Little && cfg!(target_endian = "little") {
                "in place"
            } else {
                "converted"
            };
            assert!(how.contains(expect), "{e:?} aligned {aligned}: {how}");
            // A standalone object is copied, not shared.
            let copy = Flat::from_btf(&base);
            assert!(!copy.is_shared());
            assert_eq!(copy.int_ignored_bits(1), 0x5a);
            let flat = Flat::on_base(&base);
            assert!(flat.is_shared());
            assert_eq!(flat.own_from(), base.end_id());
            assert_same_types(&flat, &copy);
            // Two Flats on the base share one set of starts.
            assert!(Arc::ptr_eq(
                &base.shared_flat().unwrap(),
                &base.shared_flat().unwrap()
            ));

            // A split object read on the base: its own types follow the shared ones.
            let mut split = Btf::new_split(base.clone());
            let m = split.add_str("m");
            let own = split.add_type(Type {
                name_off: m,
                kind_flag: false,
                data: TypeData::Struct {
                    size: 8,
                    members: vec![Member {
                        name_off: m,
                        ty: 4,
                        offset: 0,
                    }],
                },
            });
            split.add_type(Type {
                name_off: 0,
                kind_flag: false,
                data: TypeData::Ptr { ty: own },
            });
            split.set_endian(e);
            let split = Btf::parse_vec(split.to_bytes(), Some(base.clone())).unwrap();
            let flat_split = Flat::from_btf(&split);
            assert!(flat_split.is_shared());
            let mut chain_copy = copy.clone();
            for id in split.start_id()..split.end_id() {
                chain_copy.push(split.type_by_id(id).unwrap());
            }
            assert_same_types(&flat_split, &chain_copy);

            // Changing a base type copies the base in; the change is the only difference.
            let mut changed = flat_split.clone();
            changed.for_each_ref_mut(2, |r| *r = 3);
            assert!(!changed.is_shared());
            assert!(flat_split.is_shared());
            chain_copy.for_each_ref_mut(2, |r| *r = 3);
            assert_same_types(&changed, &chain_copy);
            assert_ne!(changed, flat_split);
            assert_eq!(changed.to_type(own), flat_split.to_type(own));
        }
    }

    /// Appending and growing read the shared ids as any other.
    #[test]
    fn append_and_grow_from_a_shared_base() {
        let base = Arc::new(reread(&every_kind(), Endian::Little, true));
        let shared = Flat::on_base(&base);
        let copy = Flat::from_btf(&base);
        let mut grown = Flat::new();
        assert!(grown.grow_from(&shared, shared.len() as u32));
        assert_same_types(&grown, &copy);
        let mut a = Flat::new();
        let mut b = Flat::new();
        assert!(a.append(&shared));
        assert!(b.append(&copy));
        assert_same_types(&a, &b);
    }

    /// `append` puts another object's types (not its void) after this one's, their trailing
    /// words shifted past this one's, and leaves both forms readable.
    #[test]
    fn append_shifts_trailing_words() {
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
}
