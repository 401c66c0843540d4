//! [`State`]: what the passes share: the types, the canonical map, the hypothetical map of
//! the graph equivalence check and the candidate table.
//!
//! The canonical map (libbpf's `d->map`) sends each type id to the id of an equivalent type
//! chosen as its representative. It is built pass by pass: unprocessed ids hold
//! [`UNPROCESSED`], a reference type being deduplicated holds [`IN_PROGRESS`], and a
//! representative maps to itself. Maps can chain (a FWD maps to a STRUCT which later maps to
//! its own representative); [`State::resolve`] follows the chain. Every assignment points at
//! an id that is, at that moment, a representative or unprocessed, so chains never loop;
//! `resolve` still stops after as many steps as there are ids and flags the state broken
//! rather than hang, should that reasoning ever be wrong.

use std::cell::Cell;

use crate::flat::{Flat, DATASEC, VAR};
use crate::table::CandTable;

/// Not mapped yet (libbpf's `BTF_UNPROCESSED_ID`).
pub(crate) const UNPROCESSED: u32 = u32::MAX;
/// A reference type whose targets are being deduplicated (libbpf's `BTF_IN_PROGRESS_ID`).
pub(crate) const IN_PROGRESS: u32 = u32::MAX - 1;
/// Values up to this are type ids (libbpf's `BTF_MAX_NR_TYPES`); above are markers.
pub(crate) const MAX_ID: u32 = 0x7fff_ffff;

pub(crate) struct State {
    /// All types, bases included. Own types get their string offsets rewritten by the
    /// strings pass and their referenced ids made canonical by the reference pass.
    pub flat: Flat,
    /// The first id of the types being deduplicated; lower ids are the base's, fixed.
    pub start: u32,
    /// The canonical map, by id.
    pub map: Vec<u32>,
    /// The hypothetical map of one graph equivalence check: canonical-side id to
    /// candidate-side id ([`UNPROCESSED`] when unset), and the ids set, in order.
    pub hypot: Vec<u32>,
    pub hypot_list: Vec<u32>,
    /// The entries of `hypot_list` whose merge can change anything (a FWD, STRUCT or UNION
    /// on either side), in the same order: see [`State::merge_hypot`].
    pub hypot_merge: Vec<u32>,
    /// Set by the equivalence check when accepting it would need a base FWD resolved to a
    /// struct of the split BTF: the base is fixed, so the types are not merged.
    pub hypot_adjust_canon: bool,
    pub table: CandTable,
    /// Set if [`State::resolve`] ever met a cycle (a bug; reported as an internal error).
    pub broken: Cell<bool>,
}

impl State {
    /// The initial state: `void`, the base's types (ids below `start`: fixed, as
    /// [`crate::prep::prepare_base`] also says), VARs and DATASECs are their own
    /// representatives (they are never deduplicated), everything else is unprocessed.
    pub fn new(flat: Flat, start: u32) -> State {
        // `empty` already maps void to itself, as `extend` would.
        let mut s = State::empty(start);
        s.flat = flat;
        s.extend();
        s
    }

    /// A state for ids `0..start` of `flat` being added later with [`State::extend`]: the
    /// incremental dedup holds its types elsewhere between steps.
    pub fn empty(start: u32) -> State {
        State {
            flat: Flat::new(),
            start,
            map: vec![0],
            hypot: vec![UNPROCESSED],
            hypot_list: Vec::new(),
            hypot_merge: Vec::new(),
            hypot_adjust_canon: false,
            table: CandTable::new(),
            broken: Cell::new(false),
        }
    }

    /// Grows the maps to cover every id of `self.flat`, each set as [`State::new`] says.
    pub fn extend(&mut self) {
        let n = self.flat.len();
        let from = self.map.len() as u32;
        let (flat, start) = (&self.flat, self.start);
        // Both are about to be written up to `n`.
        kbtf_btf::mem::reserve_populated(&mut self.map, n.saturating_sub(from as usize));
        let more = n.saturating_sub(self.hypot.len());
        kbtf_btf::mem::reserve_populated(&mut self.hypot, more);
        self.map.extend((from..n as u32).map(|id| {
            if id < start || matches!(flat.kind(id), VAR | DATASEC) {
                id
            } else {
                UNPROCESSED
            }
        }));
        self.hypot.resize(n, UNPROCESSED);
    }

    /// One past the last id.
    pub fn end(&self) -> u32 {
        self.map.len() as u32
    }

    /// Whether `id` has a representative (possibly itself) (`is_type_mapped`).
    #[inline]
    pub fn is_mapped(&self, id: u32) -> bool {
        self.map[id as usize] <= MAX_ID
    }

    /// Follows the canonical map from `id` to a representative, or to an id not mapped yet
    /// (`resolve_type_id`).
    #[inline]
    pub fn resolve(&self, mut id: u32) -> u32 {
        let mut steps = 0usize;
        loop {
            let next = self.map[id as usize];
            if next > MAX_ID || next == id {
                return id;
            }
            id = next;
            steps += 1;
            if steps > self.map.len() {
                self.broken.set(true);
                return id;
            }
        }
    }

    /// For a FWD that already resolves to a struct or union, that struct or union; otherwise
    /// `id` itself (`resolve_fwd_id`).
    #[inline]
    pub fn resolve_fwd(&self, id: u32) -> u32 {
        use crate::flat::FWD;
        if self.flat.kind(id) != FWD {
            return id;
        }
        let r = self.resolve(id);
        if self.flat.kind(r) != FWD {
            r
        } else {
            id
        }
    }
}
