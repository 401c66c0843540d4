//! Concatenating the units' encodings into one BTF, in CU order, with the decisions that
//! depend on earlier units.
//!
//! For each unit, as pahole 1.24's single encoder does:
//!
//! 1. Its types get the ids after everything already encoded (the base's types included for
//!    a module): unit-local id `i` becomes `offset + i`.
//! 2. The array index type is chosen once: the first unit with a base type named `int` gives
//!    its `int`. Until then, a unit without `int` points its arrays at the id right after its
//!    own types, and if arrays were encoded (in it or any earlier unit) a 4-byte INT named
//!    `__ARRAY_SIZE_TYPE__` is added there.
//! 3. DECL_TAGs of its structs, unions and typedefs.
//! 4. Its candidate functions whose name no earlier function took: FUNC_PROTO, then FUNC,
//!    then the function's DECL_TAGs.
//! 5. Its per-CPU VARs (and their DECL_TAGs).
//!
//! At the end, if any VAR was encoded, the `.data..percpu` DATASEC: its entries sorted by
//! offset (stable, so equal offsets keep encoding order), its size the end of the last
//! entry.
//!
//! # Saved functions (`consistent_func`, `optimized_func`)
//!
//! A saved candidate (see `functions`) is not encoded in its unit. The first one of each
//! name is kept, with its prototype (ids made global) and DECL_TAGs; each later one of the
//! name is compared with that first one, as pahole 1.25 to 1.27's `btf_encoder__save_func`
//! and `funcs__match` do:
//!
//! - the name is marked *unexpected* if any of its definitions passes a parameter in an
//!   unexpected register (`registers`);
//! - unless already unexpected or inconsistent, it becomes *inconsistent* when the later
//!   definition does not match the first: a different number of parameters (varargs not
//!   counted); with the same number, not zero, they match when the two return types have the
//!   same small id (an id local to each unit: pahole compares them as they are, so two
//!   functions returning `void`, or types that happen to share a number, match without
//!   looking at their parameters), and otherwise when their printed prototypes (`proto`:
//!   type names, qualifiers dropped) are equal.
//!
//! After the last unit, the saved names that are neither unexpected nor inconsistent are
//! encoded, with the first definition's prototype, in the order of pahole's sorted symbol
//! table (the clone's symbol for a clone: `foo.` sorts where `foo.isra.0` does). A function
//! whose parameters are only optimized out is kept: it may still be called with the right
//! values, it just does not use them.
//!
//! # Sections (`global_var`)
//!
//! Each VAR goes into the DATASEC of its ELF section; the DATASECs follow the saved
//! functions, in section-header order. With `global_var`, a variable whose bytes overlap a
//! variable already encoded in its section (an earlier unit, or earlier in its unit) is
//! dropped: a weak definition overridden by a strong one keeps its DWARF, at the strong
//! one's address (6.1: `init_uts_ns`, `bpf_snprintf_btf_proto`, `ms_hyperv`). pahole 1.28
//! encodes both, and the kernel refuses a DATASEC whose entries overlap ("Invalid offset").

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use kbtf_btf::{Btf, Flat, FlatBtf, Param, StringIndex, StringTable, Type, TypeData, VarSecinfo};

use crate::error::ErrorKind;
use crate::functions::Candidate;
use crate::kfuncs::Kfuncs;
use crate::types::{DEBUG_STR, INDEX_TYPE, RESOLVED};
use crate::variables::VarOut;

/// libbpf's `BTF_MAX_NR_TYPES`.
const MAX_TYPES: u32 = 0x7fff_ffff;

/// Everything one unit contributes. Strings are handles of `types::Strings`.
pub struct UnitOutput<'d> {
    pub strings: Vec<Cow<'d, [u8]>>,
    /// The unit's types with unit-local ids (index 0 is void).
    pub types: Flat,
    pub int_id: Option<u32>,
    pub has_arrays: bool,
    pub decl_tags: Vec<Type>,
    pub functions: Vec<Candidate>,
    pub vars: Vec<VarOut>,
}

/// A saved function: its first definition and what the later ones showed.
struct Saved {
    /// Where pahole's sorted symbol table has it: the name, or `name.` for a clone.
    key: Vec<u8>,
    /// The first definition's return type and parameters, with global ids.
    ret: u32,
    params: Vec<(String, u32)>,
    decl_tags: Vec<(String, i32)>,
    /// The first definition's comparison facts.
    nr_parms: usize,
    ret_small: u32,
    proto_text: String,
    unexpected_reg: bool,
    inconsistent: bool,
}

/// What happened to the saved functions, for reports and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SavedStats {
    /// Saved names encoded.
    pub encoded: usize,
    /// Saved names encoded that were matched through a clone's symbol.
    pub encoded_clones: usize,
    /// Names dropped for an unexpected register.
    pub unexpected_reg: usize,
    /// Names dropped for prototypes that differ between definitions.
    pub inconsistent: usize,
    /// Encoded names whose parameters are partly optimized out.
    pub optimized_parms: usize,
}

/// Turns string handles into offsets of the output's string section, interning each string
/// when it is first used (so that the section holds the used strings in first-use order, as
/// dedup's string pass would lay them out anyway). A `.debug_str` offset is looked up in an
/// array, not hashed: in a vmlinux the linker merged `.debug_str`, so most names of every
/// unit are found there by offset (a relocatable object gets an empty array, [`StrMemo`]).
struct Interner<'d> {
    debug_str: &'d [u8],
    /// For split BTF: the base's strings, which keep the base's offsets.
    base: Option<StringIndex>,
    /// Output offset by `.debug_str` offset.
    memo: &'d StrMemo,
    /// Output offset by index of the current unit's list.
    unit_memo: Vec<u32>,
    /// Output offset by content, for `.debug_str` strings: a module's `.debug_str` is not
    /// merged across its units, so the same names come at many offsets.
    by_content: HashMap<&'d [u8], u32, std::hash::BuildHasherDefault<BytesHasher>>,
}

/// The output offset of each `.debug_str` string interned so far, by its `.debug_str`
/// offset. Only the merging thread sets entries, each once; workers read them to resolve
/// their unit's handles before the merge ([`StrMemo::resolve_unit`]), taking those memory
/// accesses off the merging thread. What a worker sees depends on timing, but an entry never
/// changes once set, so the output does not. An empty memo (made for a relocatable object,
/// whose `.debug_str` is not merged across units) finds nothing and keeps nothing.
pub struct StrMemo(Vec<AtomicU32>);

/// A memo entry not set yet.
const UNSEEN: u32 = u32::MAX;

impl StrMemo {
    /// A memo for a `.debug_str` of `len` bytes. Every entry is written now: calloc'd pages
    /// read before written map the zero page and fault again on the write, and with workers
    /// running that second fault flushes their TLBs too (an interrupt to every core).
    pub fn new(len: usize) -> StrMemo {
        StrMemo((0..len).map(|_| AtomicU32::new(UNSEEN)).collect())
    }

    #[inline]
    fn get(&self, off: u32) -> Option<u32> {
        let m = self.0.get(off as usize)?.load(Ordering::Relaxed);
        (m != UNSEEN).then_some(m)
    }

    #[inline]
    fn set(&self, off: u32, v: u32) {
        if let Some(m) = self.0.get(off as usize) {
            m.store(v, Ordering::Relaxed);
        }
    }

    /// Replaces the `.debug_str` handles of `unit`'s types whose strings are already
    /// interned by `DEBUG_STR | RESOLVED | offset` (offsets that fit).
    pub fn resolve_unit(&self, unit: &mut UnitOutput<'_>) {
        let types = &mut unit.types;
        for id in 1..types.len() as u32 {
            types.for_each_str_mut(id, |h| {
                if *h & (DEBUG_STR | RESOLVED) == DEBUG_STR {
                    if let Some(m) = self.get(*h & !DEBUG_STR) {
                        if m < RESOLVED {
                            *h = DEBUG_STR | RESOLVED | m;
                        }
                    }
                }
            });
        }
    }
}

/// Hashes byte strings with [`kbtf_btf::strings::hash_bytes`].
#[derive(Default)]
pub(crate) struct BytesHasher(u64);

impl std::hash::Hasher for BytesHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = (self.0.rotate_left(5) ^ kbtf_btf::strings::hash_bytes(bytes))
            .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(5) ^ n as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl<'d> Interner<'d> {
    fn new(debug_str: &'d [u8], base: Option<StringIndex>, memo: &'d StrMemo) -> Interner<'d> {
        Interner {
            debug_str,
            base,
            memo,
            unit_memo: Vec::new(),
            by_content: HashMap::default(),
        }
    }

    fn start_unit(&mut self, list_len: usize) {
        self.unit_memo.clear();
        self.unit_memo.resize(list_len, u32::MAX);
    }

    /// The bytes of a handle (not of a `RESOLVED` one: those are only in a unit's types,
    /// which only [`Interner::intern`] sees).
    fn bytes<'a>(&'a self, h: u32, list: &'a [Cow<'d, [u8]>]) -> &'a [u8] {
        if h & DEBUG_STR != 0 {
            self.debug_str_at(h & !DEBUG_STR)
        } else {
            list.get(h as usize).map_or(&[][..], |c| c)
        }
    }

    /// The string at `off` in `.debug_str`, without its NUL (empty past the end).
    fn debug_str_at(&self, off: u32) -> &'d [u8] {
        let tail = self.debug_str.get(off as usize..).unwrap_or_default();
        &tail[..tail.iter().position(|&b| b == 0).unwrap_or(tail.len())]
    }

    /// A handle's text, invalid UTF-8 replaced.
    fn text(&self, h: u32, list: &[Cow<'d, [u8]>]) -> String {
        String::from_utf8_lossy(self.bytes(h, list)).into_owned()
    }

    /// The offset of `s`: the base's, or in `table`, added there at its first use.
    fn add(&self, table: &mut StringTable, s: &[u8]) -> u32 {
        let h = kbtf_btf::strings::hash_bytes(s);
        // A string already in the own table is not in the base (the base was asked first):
        // most strings of a module whose `.debug_str` was not merged come again and again.
        if let Some(off) = table.find_hashed(s, h) {
            return off;
        }
        match self.base.as_ref().and_then(|b| b.get_hashed(s, h)) {
            Some(off) => off,
            None => table.add_hashed(s, h),
        }
    }

    /// The output offset of handle `h`: inlined for the handles a worker resolved (most of a
    /// unit's, with workers), the rest in [`Interner::intern_new`].
    #[inline]
    fn intern(&mut self, table: &mut StringTable, h: u32, list: &[Cow<'d, [u8]>]) -> u32 {
        if h & (DEBUG_STR | RESOLVED) == DEBUG_STR | RESOLVED {
            // Resolved by the worker (only in a unit's types).
            return h & !(DEBUG_STR | RESOLVED);
        }
        self.intern_new(table, h, list)
    }

    fn intern_new(&mut self, table: &mut StringTable, h: u32, list: &[Cow<'d, [u8]>]) -> u32 {
        if h == 0 {
            return 0;
        }
        if h & DEBUG_STR != 0 {
            if let Some(m) = self.memo.get(h & !DEBUG_STR) {
                return m;
            }
        } else if let Some(&m) = self.unit_memo.get(h as usize) {
            if m != u32::MAX {
                return m;
            }
        }
        // `.debug_str` strings are cached by content. The unit's other strings are not: an
        // inline name (`DW_FORM_string`) lies in `.debug_info`, and a cache key there would
        // read its page again (with its neighbours, up to a 2 MiB folio) at every later
        // lookup of the same name, after the encoder gave those pages back. They are short,
        // and `add` finds them in the output table, whose bytes are its own.
        let input = (h & DEBUG_STR != 0).then(|| self.debug_str_at(h & !DEBUG_STR));
        let cached = input.and_then(|b| self.by_content.get(b).copied());
        let off = match cached {
            Some(off) => off,
            None => {
                let b = self.bytes(h, list);
                // Names are text: invalid UTF-8 is replaced, as the encoder always did.
                let off = match std::str::from_utf8(b) {
                    Ok(_) => self.add(table, b),
                    Err(_) => self.add(table, String::from_utf8_lossy(b).as_bytes()),
                };
                if let Some(b) = input {
                    self.by_content.insert(b, off);
                }
                off
            }
        };
        if h & DEBUG_STR != 0 {
            self.memo.set(h & !DEBUG_STR, off);
        } else if let Some(m) = self.unit_memo.get_mut(h as usize) {
            *m = off;
        }
        off
    }
}

pub struct Merger<'d> {
    out: FlatBtf,
    strings: Interner<'d>,
    generated: HashSet<String>,
    has_index_type: bool,
    need_index_type: bool,
    index_id: u32,
    /// Section index to (section name, entries).
    secinfo: BTreeMap<usize, (String, Vec<VarSecinfo>)>,
    section_names: Vec<String>,
    saved: HashMap<String, Saved>,
    /// Saved names whose first match was a clone, and whose parameters were optimized.
    saved_clone: HashSet<String>,
    saved_optimized: HashSet<String>,
    stats: SavedStats,
    /// With `global_var`: per section, the byte ranges (start to end) of the VARs encoded.
    kept_ranges: Option<HashMap<usize, BTreeMap<u64, u64>>>,
    /// The highest id that a type of the last unit merged refers to.
    unit_ref_max: u32,
    /// Whether the types of the last unit merged refer only to its own types, `void` and the
    /// array index type (an INT).
    unit_refs_own: bool,
    /// With `decl_tag_kfuncs`: the kfuncs whose FUNCs get tags.
    kfuncs: Option<Kfuncs>,
}

impl<'d> Merger<'d> {
    /// `section_names` names the DATASECs, by section index; `drop_overlaps` skips a VAR that
    /// overlaps one already encoded in its section (`global_var`); `debug_str` is the input's
    /// `.debug_str` (what string handles point into); `endian` is the input ELF file's byte
    /// order, which the BTF is written in (as pahole's `btf__set_endianness`: an s390x
    /// kernel reads only big-endian BTF).
    pub fn new(
        base: Option<Arc<Btf>>,
        section_names: Vec<String>,
        drop_overlaps: bool,
        debug_str: &'d [u8],
        memo: &'d StrMemo,
        endian: kbtf_btf::Endian,
    ) -> Merger<'d> {
        let mut out = FlatBtf::new(base.clone());
        out.endian = endian;
        Merger {
            strings: Interner::new(debug_str, base.map(StringIndex::new), memo),
            out,
            generated: HashSet::new(),
            has_index_type: false,
            need_index_type: false,
            index_id: 0,
            secinfo: BTreeMap::new(),
            section_names,
            saved: HashMap::new(),
            saved_clone: HashSet::new(),
            saved_optimized: HashSet::new(),
            stats: SavedStats::default(),
            kept_ranges: drop_overlaps.then(HashMap::new),
            unit_ref_max: 0,
            unit_refs_own: false,
            kfuncs: None,
        }
    }

    /// Tags the FUNCs of `kfuncs` (`decl_tag_kfuncs`).
    pub fn tag_kfuncs(&mut self, kfuncs: Kfuncs) {
        self.kfuncs = Some(kfuncs);
    }

    /// Whether every type of the last unit merged refers only to types before the end (the
    /// check that early deduplication needs, made while the references were rewritten).
    pub fn unit_refs_below_end(&self) -> bool {
        self.unit_ref_max < self.out.end_id()
    }

    /// Whether every type of the last unit merged refers only to the unit's own types, to
    /// `void`, and to the array index type, an INT (what lets dedup's reference pass take
    /// the unit on another thread: `kbtf_dedup::Added::own_refs_only`).
    pub fn unit_refs_own(&self) -> bool {
        self.unit_refs_own
    }

    pub fn add_unit(&mut self, unit: &mut UnitOutput<'d>) -> Result<(), ErrorKind> {
        let list = &unit.strings;
        self.strings.start_unit(list.len());
        // pahole's type_id_off: the number of types so far, base included.
        let off = self.out.end_id() - 1;
        if !self.has_index_type {
            if let Some(int) = unit.int_id {
                self.has_index_type = true;
                self.index_id = off + int;
            } else {
                self.index_id = off + unit.types.len() as u32;
            }
        }
        let index_id = self.index_id;
        // Every referenced id of the unit goes through `remap` (the others are of types
        // just added), which keeps the highest.
        let ref_max = std::cell::Cell::new(0u32);
        // The lowest id a reference other than to void or the index type goes to.
        let ref_min = std::cell::Cell::new(u32::MAX);
        let remap = |id: u32| {
            let to = match id {
                0 => 0,
                INDEX_TYPE => index_id,
                i => {
                    let to = off.saturating_add(i);
                    ref_min.set(ref_min.get().min(to));
                    to
                }
            };
            ref_max.set(ref_max.get().max(to));
            to
        };
        self.add_flat(&mut unit.types, &remap, list)?;
        if unit.has_arrays {
            self.need_index_type = true;
        }
        if self.need_index_type && !self.has_index_type {
            let name = self
                .strings
                .add(&mut self.out.strings, b"__ARRAY_SIZE_TYPE__");
            self.out.types.push(&Type::new(
                name,
                TypeData::Int {
                    size: 4,
                    encoding: 0,
                    offset: 0,
                    bits: 32,
                },
            ));
            self.has_index_type = true;
        }
        for t in &unit.decl_tags {
            self.add_type(t.clone(), &remap, list)?;
        }
        let mut to_save = Vec::new();
        for f in &unit.functions {
            if f.saved {
                to_save.push(f);
                continue;
            }
            if !self.generated.insert(f.name.clone()) {
                continue;
            }
            let proto = self.add_type(f.proto.clone(), &remap, list)?;
            let name = self.strings.add(&mut self.out.strings, f.name.as_bytes());
            let func = self.out.types.push(&Type::new(
                name,
                TypeData::Func {
                    proto,
                    linkage: kbtf_btf::FUNC_STATIC,
                },
            ));
            push_kfunc_tags(
                &mut self.out,
                &self.strings,
                self.kfuncs.as_ref(),
                &f.name,
                func,
            );
            for &(value, component_idx) in &f.decl_tags {
                let value = self.strings.intern(&mut self.out.strings, value, list);
                self.out.types.push(&Type::new(
                    value,
                    TypeData::DeclTag {
                        ty: func,
                        component_idx,
                    },
                ));
            }
        }
        for v in &unit.vars {
            if let Some(kept) = self.kept_ranges.as_mut() {
                let ranges = kept.entry(v.section).or_default();
                let start = v.offset as u64;
                let end = start + v.size as u64;
                let before = ranges.range(..=start).next_back();
                let after = ranges.range(start..).next();
                if before.is_some_and(|(_, &e)| e > start) || after.is_some_and(|(&s, _)| s < end) {
                    continue;
                }
                ranges.insert(start, end);
            }
            let name = self.strings.intern(&mut self.out.strings, v.name, list);
            let var = self.out.types.push(&Type::new(
                name,
                TypeData::Var {
                    ty: remap(v.ty),
                    linkage: v.linkage,
                },
            ));
            for &(value, component_idx) in &v.decl_tags {
                let value = self.strings.intern(&mut self.out.strings, value, list);
                self.out.types.push(&Type::new(
                    value,
                    TypeData::DeclTag {
                        ty: var,
                        component_idx,
                    },
                ));
            }
            let section = v.section;
            let name = self
                .section_names
                .get(section)
                .cloned()
                .unwrap_or_else(|| crate::input::PERCPU_SECTION.to_string());
            self.secinfo
                .entry(section)
                .or_insert_with(|| (name, Vec::new()))
                .1
                .push(VarSecinfo {
                    ty: var,
                    offset: v.offset,
                    size: v.size,
                });
        }
        for f in to_save {
            self.save(f, &remap, list);
        }
        self.unit_ref_max = ref_max.get();
        // The index type is in this unit, or an INT of an earlier one.
        let index_own = index_id > off
            || (self.out.types.len() > index_id as usize
                && self.out.types.kind(index_id) == kbtf_btf::flat::INT);
        self.unit_refs_own = ref_min.get() > off && index_own;
        Ok(())
    }

    /// Appends a unit's types (all but void): unit-local ids through `remap`, string handles
    /// interned (the name first, then member, enumerator or parameter names: first-use
    /// order). They are rewritten in `types`, then copied.
    fn add_flat(
        &mut self,
        types: &mut Flat,
        remap: &impl Fn(u32) -> u32,
        list: &[Cow<'d, [u8]>],
    ) -> Result<(), ErrorKind> {
        let out = &mut self.out;
        // libbpf's in-memory limit: the un-deduplicated BTF of vmlinux is over the kernel's
        // 2^20 types; dedup brings it back under.
        let n = types.len().saturating_sub(1);
        if out.end_id() as usize + n > MAX_TYPES as usize {
            return Err(ErrorKind::TooManyTypes(MAX_TYPES));
        }
        // Rewritten in place, then appended in two copies. The trailing words keep their
        // layout, shifted.
        let (table, strings) = (&mut out.strings, &mut self.strings);
        for id in 1..types.len() as u32 {
            types.for_each_str_mut(id, |h| *h = strings.intern(table, *h, list));
            types.for_each_ref_mut(id, |r| *r = remap(*r));
        }
        if !out.types.append(types) {
            return Err(ErrorKind::TooManyTypes(MAX_TYPES));
        }
        Ok(())
    }

    /// Appends a unit's type: unit-local ids through `remap`, string handles interned (the
    /// name first, then member, enumerator or parameter names: first-use order).
    fn add_type(
        &mut self,
        mut t: Type,
        remap: &impl Fn(u32) -> u32,
        list: &[Cow<'d, [u8]>],
    ) -> Result<u32, ErrorKind> {
        // libbpf's in-memory limit: the un-deduplicated BTF of vmlinux is over the
        // kernel's 2^20 types; dedup brings it back under.
        if self.out.end_id() >= MAX_TYPES {
            return Err(ErrorKind::TooManyTypes(MAX_TYPES));
        }
        let table = &mut self.out.strings;
        let strings = &mut self.strings;
        t.name_off = strings.intern(table, t.name_off, list);
        remap_strings(&mut t, &mut |h| strings.intern(table, h, list));
        t.for_each_ref_mut(|r| *r = remap(*r));
        Ok(self.out.types.push(&t))
    }

    /// `btf_encoder__save_func`: keeps the first definition of a saved name and merges what
    /// the later ones show.
    fn save(&mut self, f: &Candidate, remap: &impl Fn(u32) -> u32, list: &[Cow<'d, [u8]>]) {
        let interner = &self.strings;
        let text = |h: u32| interner.text(h, list);
        if f.flags.optimized_parms {
            self.saved_optimized.insert(f.name.clone());
        }
        if let Some(s) = self.saved.get_mut(&f.name) {
            s.unexpected_reg |= f.flags.unexpected_reg;
            if !s.unexpected_reg && !s.inconsistent && !funcs_match(s, f) {
                s.inconsistent = true;
            }
            return;
        }
        let TypeData::FuncProto { ret, params } = &f.proto.data else {
            return;
        };
        let mut key = f.name.as_bytes().to_vec();
        if f.clone {
            key.push(b'.');
            self.saved_clone.insert(f.name.clone());
        }
        let saved = Saved {
            key,
            ret: remap(*ret),
            params: params
                .iter()
                .map(|p| (text(p.name_off), remap(p.ty)))
                .collect(),
            decl_tags: f.decl_tags.iter().map(|&(v, c)| (text(v), c)).collect(),
            nr_parms: f.nr_parms,
            ret_small: f.ret,
            proto_text: f.proto_text.clone(),
            unexpected_reg: f.flags.unexpected_reg,
            inconsistent: false,
        };
        self.saved.insert(f.name.clone(), saved);
    }

    /// Reserves room for the types of `info_len` bytes of `.debug_info` (vmlinux: about one
    /// type per 50 bytes and 28 trailing words per KiB), so that millions of types are not
    /// copied each time the vectors grow. Room never written to costs no memory.
    pub fn reserve_for(&mut self, info_len: usize) {
        let t = &mut self.out.types;
        let _ = t.recs.try_reserve(info_len / 40);
        let _ = t.extra.try_reserve(info_len / 30);
    }

    /// The types merged so far (void and the base's included).
    pub fn types_mut(&mut self) -> &mut Flat {
        &mut self.out.types
    }

    /// `btf_encoder__add_saved_funcs`, then the DATASECs.
    pub fn finish(mut self) -> (FlatBtf, SavedStats) {
        let mut saved: Vec<(String, Saved)> = std::mem::take(&mut self.saved).into_iter().collect();
        saved.sort_by(|a, b| a.1.key.cmp(&b.1.key));
        for (name, s) in saved {
            if s.unexpected_reg {
                self.stats.unexpected_reg += 1;
                continue;
            }
            if s.inconsistent {
                self.stats.inconsistent += 1;
                continue;
            }
            self.stats.encoded += 1;
            if self.saved_clone.contains(&name) {
                self.stats.encoded_clones += 1;
            }
            if self.saved_optimized.contains(&name) {
                self.stats.optimized_parms += 1;
            }
            let out = &mut self.out;
            let strings = &self.strings;
            let params = s
                .params
                .iter()
                .map(|(n, ty)| Param {
                    name_off: strings.add(&mut out.strings, n.as_bytes()),
                    ty: *ty,
                })
                .collect();
            let proto = out
                .types
                .push(&Type::new(0, TypeData::FuncProto { ret: s.ret, params }));
            let name_off = strings.add(&mut out.strings, name.as_bytes());
            let func = out.types.push(&Type::new(
                name_off,
                TypeData::Func {
                    proto,
                    linkage: kbtf_btf::FUNC_STATIC,
                },
            ));
            push_kfunc_tags(out, strings, self.kfuncs.as_ref(), &name, func);
            for (value, component_idx) in &s.decl_tags {
                let value = strings.add(&mut out.strings, value.as_bytes());
                out.types.push(&Type::new(
                    value,
                    TypeData::DeclTag {
                        ty: func,
                        component_idx: *component_idx,
                    },
                ));
            }
        }
        for (_, (name, mut vars)) in std::mem::take(&mut self.secinfo) {
            vars.sort_by_key(|v| v.offset);
            let last = vars[vars.len() - 1];
            let name = self.strings.add(&mut self.out.strings, name.as_bytes());
            self.out.types.push(&Type::new(
                name,
                TypeData::Datasec {
                    size: last.offset.wrapping_add(last.size),
                    vars,
                },
            ));
        }
        // Every string was interned when a type first used it, base strings at the base's
        // offsets: what dedup's string pass would make of the section.
        self.out.strings_first_use = true;
        (self.out, self.stats)
    }
}

/// The DECL_TAGs of a kfunc after its FUNC `func` (pahole 1.28's `btf__tag_kfunc`): none
/// unless `name` is one of `kfuncs`.
fn push_kfunc_tags(
    out: &mut FlatBtf,
    strings: &Interner<'_>,
    kfuncs: Option<&Kfuncs>,
    name: &str,
    func: u32,
) {
    let Some(kfuncs) = kfuncs else { return };
    for value in kfuncs.tags(name) {
        let value = strings.add(&mut out.strings, value);
        out.types.push(&Type::new(
            value,
            TypeData::DeclTag {
                ty: func,
                component_idx: -1,
            },
        ));
    }
}

/// pahole 1.25 to 1.27's `funcs__match` between the first definition of a name and a later
/// one.
fn funcs_match(first: &Saved, f: &Candidate) -> bool {
    if first.nr_parms != f.nr_parms {
        return false;
    }
    if first.nr_parms == 0 || first.ret_small == f.ret {
        return true;
    }
    first.proto_text == f.proto_text
}

/// Rewrites the member, value and parameter names of `t` from string handles.
fn remap_strings(t: &mut Type, str_of: &mut impl FnMut(u32) -> u32) {
    match &mut t.data {
        TypeData::Struct { members, .. } | TypeData::Union { members, .. } => {
            for m in members {
                m.name_off = str_of(m.name_off);
            }
        }
        TypeData::Enum { values, .. } => {
            for v in values {
                v.name_off = str_of(v.name_off);
            }
        }
        TypeData::Enum64 { values, .. } => {
            for v in values {
                v.name_off = str_of(v.name_off);
            }
        }
        TypeData::FuncProto { params, .. } => {
            for p in params {
                p.name_off = str_of(p.name_off);
            }
        }
        _ => {}
    }
}
