//! Deduplication while the encoder is still producing types ([`Incremental`]).
//!
//! The encoder merges compilation units in order on one thread while others read DWARF. The
//! first passes of dedup only look backwards (each type is compared with candidates of lower
//! ids), so they can run on each unit as soon as it is merged, overlapping the DWARF work
//! of later units, and only the reference pass and compaction remain once the last unit is
//! in. The result is the same, byte for byte, as [`crate::dedup_flat`] on the finished
//! input, which is what runs instead whenever an early pass cannot be sure of it.
//!
//! # Why running early is exact
//!
//! - **Primitives** are deduplicated in id order in both cases, against the same
//!   candidates in the same order: libbpf's one candidate table is modelled as one table
//!   per class of kinds (primitives, structs, references), each counting the insertions of
//!   the others ([`crate::table::CandTable::skip`]), which keeps each key's visiting order
//!   exact (a key's candidates of another class never match anyway: every comparison
//!   checks the kind).
//! - **Structs** of a unit are compared only with types of that unit and earlier ones (and
//!   the base). What the primitive pass decides for later units cannot change what these
//!   comparisons see: a later type changes an earlier type's representative only when a
//!   full enum meets an enum forward declaration that is a representative, and then every
//!   enum of that name up to this unit resolved to that declaration and now resolves to the
//!   full enum: pairs of them resolve to one type either way.
//! - What is not known early is the order of struct candidates, which in libbpf depends on
//!   how many primitive types precede them in its table. It only matters when two or more
//!   candidates pass the graph check; the early struct pass checks every candidate of a key
//!   when several pass the cheap filters, and gives up when more than one passes
//!   ([`crate::structs::dedup_struct_type_any_order`]). On the 6.1 kernel this never
//!   happens; when it does, [`Incremental::finish`] deduplicates from scratch.
//! - **Forward declarations** are resolved after the last unit, but what that pass looks at
//!   is filed as units go: a struct or union that is its own representative once its
//!   unit's struct pass is done stays one (later steps only map FWDs and types not mapped
//!   yet), and a FWD that is not its own representative after the primitive pass never
//!   becomes one again. So each unit's representative structs are filed by name, and its
//!   FWDs still alone kept, as the unit is done ([`crate::fwds::Names`]).
//! - The string pass is skipped: the encoder interns strings in first-use order with base
//!   strings at their base offsets ([`FlatBtf::strings_first_use`]), which is exactly what
//!   the pass would produce.

use kbtf_btf::flat::Flat;
use kbtf_btf::FlatBtf;

use crate::error::DedupError;
use crate::flat::{FWD, STRUCT, UNION};
use crate::state::{State, MAX_ID};
use crate::table::CandTable;
use crate::{compact, fwds, prep, refs, structs, DedupOptions, Deduped};

/// Which table (primitives 0, structs 1, references 2) files a type of kind `kind`.
fn class(kind: u32) -> usize {
    crate::baseindex::class(kind) as usize
}

/// Deduplication fed unit by unit: [`Incremental::advance`] after each merged unit,
/// [`Incremental::finish`] with the complete input.
pub struct Incremental {
    s: State,
    /// The base of split BTF, whose candidate filing is worked out once per base.
    base: Option<std::sync::Arc<kbtf_btf::Btf>>,
    /// That filing, once the base's types are there.
    cands: Option<crate::baseindex::BaseCands>,
    opts: DedupOptions,
    /// The candidate tables of primitives, structs and references.
    tables: [CandTable; 3],
    /// Base types filed (the tables' common size after preparation).
    base_entries: usize,
    /// Ids below this have gone through the early passes.
    done: u32,
    /// The early passes gave up: `finish` deduplicates from scratch.
    failed: bool,
    stack: Vec<(u32, u32)>,
    passing: Vec<u32>,
    /// The structs and unions of the step being run.
    structs: Vec<u32>,
    /// The FWDs so far that were their own representatives after the primitive pass, and the
    /// representative structs and unions by name, filed as each step's struct pass is done:
    /// the forward declaration pass then visits neither every id nor every struct.
    fwds: Vec<u32>,
    names: fwds::Names,
    /// Where each call of [`Incremental::advance_unit`] started, and whether its types
    /// were closed (see [`Added::own_refs_only`]): the reference pass may split there.
    chunks: Vec<(u32, bool)>,
    /// The fewest types the reference pass's second thread takes ([`MIN_SPLIT`]).
    min_split: u32,
}

/// What the caller of [`Incremental::advance_unit`] knows of the types added since the
/// last call (the encoder finds it out while it merges a unit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Added {
    /// Every added type refers only to types before the end.
    pub refs_below_end: bool,
    /// Every added type refers only to added types, to `void`, and to earlier types of no
    /// reference kind (INT, FLOAT, ENUM, STRUCT, UNION, FWD): what the encoder's units do
    /// (the one reference out of a unit is the array index type, an INT). The reference
    /// pass can then work on these types on a thread of its own.
    pub own_refs_only: bool,
}

impl Added {
    pub fn new(refs_below_end: bool, own_refs_only: bool) -> Added {
        Added {
            refs_below_end,
            own_refs_only,
        }
    }
}

impl Incremental {
    /// For BTF whose own types start at `start` (1 for a base BTF, the base's end for split
    /// BTF).
    pub fn new(start: u32, opts: &DedupOptions) -> Incremental {
        Incremental {
            s: State::empty(start),
            base: None,
            cands: None,
            opts: opts.clone(),
            tables: [CandTable::new(), CandTable::new(), CandTable::new()],
            base_entries: 0,
            done: 0,
            failed: false,
            stack: Vec::new(),
            passing: Vec::new(),
            structs: Vec::new(),
            fwds: Vec::new(),
            names: fwds::Names::default(),
            chunks: Vec::new(),
            min_split: MIN_SPLIT,
        }
    }

    /// For split BTF on `base` (or base BTF, without one): as [`Incremental::new`], and
    /// the base's filing in the candidate tables is worked out once per base object.
    pub fn for_base(
        base: Option<std::sync::Arc<kbtf_btf::Btf>>,
        opts: &DedupOptions,
    ) -> Incremental {
        let start = base.as_ref().map_or(1, |b| b.end_id());
        Incremental {
            base,
            ..Incremental::new(start, opts)
        }
    }

    /// Lets the reference pass split off a second part of as few as `min` types (for
    /// tests, whose inputs are small; the default is [`MIN_SPLIT`]).
    #[doc(hidden)]
    pub fn split_refs_from(mut self, min: u32) -> Incremental {
        self.min_split = min;
        self
    }

    /// Runs the early passes on the types of `flat` not seen yet. `flat` must be the same
    /// growing object at every call, holding every id from 0 (base types included).
    pub fn advance(&mut self, flat: &mut Flat) {
        self.advance_checked(flat, false)
    }

    /// [`Incremental::advance`], told by the caller whether every type added since the last
    /// call refers only to types before the end (the encoder finds out while it merges a
    /// unit): then that is not checked again.
    pub fn advance_checked(&mut self, flat: &mut Flat, refs_below_end: bool) {
        self.advance_unit(flat, Added::new(refs_below_end, false))
    }

    /// [`Incremental::advance`], told by the caller what it knows of the added types.
    pub fn advance_unit(&mut self, flat: &mut Flat, added: Added) {
        if self.failed {
            return;
        }
        let from = self.done.max(self.s.start);
        if (flat.len() as u32) > from {
            self.chunks.push((from, added.own_refs_only));
        }
        let refs_below_end = added.refs_below_end;
        std::mem::swap(&mut self.s.flat, flat);
        let ok = self.step(refs_below_end);
        std::mem::swap(&mut self.s.flat, flat);
        if !matches!(ok, Ok(true)) {
            kbtf_btf::timing::note(|| format!("incremental dedup gives up: {ok:?}"));
            self.failed = true;
        }
    }

    fn step(&mut self, refs_below_end: bool) -> Result<bool, DedupError> {
        let end = self.s.flat.len() as u32;
        if end > MAX_ID || end < self.s.start {
            return Ok(false);
        }
        let mut from = self.s.map.len() as u32;
        if self.done == 0 {
            self.cands = match &self.base {
                Some(b) if b.end_id() == self.s.start => {
                    crate::baseindex::base_cands(b, &self.s.flat)
                }
                _ => None,
            };
            if self.cands.as_ref().is_some_and(|c| c.refs_ok) {
                from = from.max(self.s.start);
            }
        }
        // Every reference of the new types must name a type that is already there: checked
        // here for the base's types, and for the others in the same pass as the primitives
        // (which refer to nothing), before the struct pass follows any reference, unless the
        // caller already knows. Giving up halfway is harmless: `finish` then starts from
        // scratch.
        let first_new = if self.done == 0 {
            self.s.start
        } else {
            self.done
        };
        for id in from.max(1)..first_new.min(end) {
            if refers_ahead(&self.s.flat, id, end) {
                return Ok(false);
            }
        }
        self.s.extend();
        if self.done == 0 {
            self.prepare();
            self.done = self.s.start;
        }
        let range = self.done..end;
        let s = &mut self.s;
        std::mem::swap(&mut s.table, &mut self.tables[0]);
        let mut ahead = false;
        // The structs and unions, for the struct pass not to visit every id again.
        let structs = &mut self.structs;
        structs.clear();
        for id in range {
            if !refs_below_end && refers_ahead(&s.flat, id, end) {
                ahead = true;
                break;
            }
            match s.flat.kind(id) {
                STRUCT | UNION => structs.push(id),
                kind => {
                    crate::prim::dedup_prim_type(s, id);
                    // One that is not its own representative now never is again.
                    if kind == FWD && s.map[id as usize] == id {
                        self.fwds.push(id);
                    }
                }
            }
        }
        std::mem::swap(&mut s.table, &mut self.tables[0]);
        if ahead {
            return Ok(false);
        }
        std::mem::swap(&mut s.table, &mut self.tables[1]);
        let mut result = Ok(true);
        for &id in structs.iter() {
            match structs::dedup_struct_type_any_order(s, id, &mut self.stack, &mut self.passing) {
                Ok(true) => {}
                other => {
                    result = other;
                    break;
                }
            }
        }
        std::mem::swap(&mut s.table, &mut self.tables[1]);
        if matches!(result, Ok(true)) {
            for &id in structs.iter() {
                self.names.file_struct(s, id);
            }
        }
        self.done = end;
        result
    }

    /// `prep::prepare_base` with one table per class.
    fn prepare(&mut self) {
        if let Some(c) = self.cands.take() {
            for id in 1..self.s.start {
                self.s.map[id as usize] = id;
            }
            for (i, t) in self.tables.iter_mut().enumerate() {
                t.attach_base(c.of_class(i as u32));
            }
            self.base_entries = c.len();
            return;
        }
        let mut per_class = [0usize; 3];
        for id in 1..self.s.start {
            per_class[class(self.s.flat.kind(id))] += 1;
        }
        for (t, n) in self.tables.iter_mut().zip(per_class) {
            t.reserve(n);
        }
        for id in 1..self.s.start {
            self.s.map[id as usize] = id;
            if let Some(h) = prep::hash_any(&self.s.flat, id) {
                let c = class(self.s.flat.kind(id));
                for (i, t) in self.tables.iter_mut().enumerate() {
                    if i == c {
                        t.add(h, id);
                    } else {
                        t.skip(1);
                    }
                }
                self.base_entries += 1;
            }
        }
    }

    /// Deduplicates `input`, the complete BTF whose types were fed to
    /// [`Incremental::advance`].
    pub fn finish(mut self, input: FlatBtf) -> Result<Deduped, DedupError> {
        if self.failed || !input.strings_first_use {
            kbtf_btf::timing::note(|| "dedup from scratch".to_string());
            return crate::dedup_flat(input, &self.opts);
        }
        let FlatBtf {
            endian,
            base,
            types: mut flat,
            strings,
            strings_first_use,
        } = input;
        // What the encoder adds after its last unit (functions kept for the end, sections)
        // refers back into the units: the reference pass does that part last, on one thread.
        let tail = self.done.max(self.s.start);
        self.advance(&mut flat);
        if self.failed {
            let input = FlatBtf {
                endian,
                base,
                types: flat,
                strings,
                strings_first_use,
            };
            return crate::dedup_flat(input, &self.opts);
        }
        let t = kbtf_btf::timing::stage("dedup: fwds");
        self.s.flat = flat;
        let s = &mut self.s;
        let names = std::mem::take(&mut self.names);
        fwds::resolve_filed(s, names, self.fwds.iter().copied());
        drop(t);
        let t = kbtf_btf::timing::stage("dedup: refs");
        // libbpf files references after every primitive and struct representative.
        let earlier = self.tables[0].size() + self.tables[1].size() - 2 * self.base_entries;
        let mut refs_table = std::mem::take(&mut self.tables[2]);
        refs_table.skip(earlier);
        s.table = refs_table;
        match split_point(&self.chunks, tail, s.start, self.min_split) {
            Some(p) => refs::dedup_ref_types_split(s, p, tail)?,
            None => refs::dedup_ref_types(s)?,
        }
        drop(t);
        let t = kbtf_btf::timing::stage("dedup: compact");
        let (btf, id_map) = compact::compact(s, base, endian, strings, !self.opts.skip_id_map)?;
        drop(t);
        let n = self.s.map.len();
        Ok(Deduped {
            btf,
            id_map,
            spent: crate::Spent::new(self, n),
        })
    }
}

/// Fewer types than this after the split point are not worth a thread.
const MIN_SPLIT: u32 = 1 << 16;

/// Where the reference pass can split `start..tail` in two for two threads: the start of
/// the first chunk from the middle on after which every chunk up to `tail` is closed, if
/// at least `min` types follow it. Only for BTF without a base (the order of a base's
/// candidates is libbpf's, on one table).
fn split_point(chunks: &[(u32, bool)], tail: u32, start: u32, min: u32) -> Option<u32> {
    if start != 1 {
        return None;
    }
    let mut lowest = tail;
    for &(from, closed) in chunks.iter().rev() {
        if from >= tail {
            continue;
        }
        if !closed {
            break;
        }
        lowest = from;
    }
    let middle = tail / 2;
    let p = chunks
        .iter()
        .map(|&(from, _)| from)
        .find(|&from| from >= lowest.max(middle) && from < tail)?;
    (p > 1 && tail - p >= min.max(1)).then_some(p)
}

/// Whether type `id` refers to an id at or past `end` (noted for the timing report).
#[inline]
fn refers_ahead(flat: &Flat, id: u32, end: u32) -> bool {
    let mut bad = false;
    flat.for_each_ref(id, |r| bad |= r >= end);
    if bad {
        kbtf_btf::timing::note(|| format!("incremental dedup: type [{id}] refers ahead"));
    }
    bad
}
