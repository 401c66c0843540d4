//! BTF deduplication, equivalent to libbpf's `btf__dedup` (libbpf 1.1), for base BTF
//! (vmlinux) and for split BTF on top of a base (modules).
//!
//! The encoder turns each DWARF compilation unit into BTF types on its own and concatenates
//! them: every unit repeats `int`, `struct list_head` and all the headers it includes, and a
//! struct only forward-declared in one unit is complete in another. [`dedup`] turns that into
//! the compact BTF pahole writes: one type per distinct C type, forward declarations resolved
//! to their structs where that is unambiguous, strings stored once.
//!
//! The algorithm is libbpf's, step by step, and the output is meant to be libbpf's byte for
//! byte (a test compares with libbpf 1.1.2 itself when it is installed). The passes, one
//! module each:
//!
//! 1. `strings`: one copy of each used string, in first-use order; for split BTF strings
//!    the base holds keep the base's offsets.
//! 2. `prim`: INT, FLOAT, ENUM, ENUM64, FWD by signature; enum forward declarations meet
//!    their full enums.
//! 3. `structs`: STRUCT and UNION by graph equivalence (`equiv`), resolving FWDs met on
//!    the way.
//! 4. `fwds`: FWDs left alone that name exactly one struct or union resolve to it.
//! 5. `refs`: PTR, TYPEDEF, modifiers, TYPE_TAG, FUNC, DECL_TAG, ARRAY, FUNC_PROTO by
//!    signature once their targets are canonical.
//! 6. `compact`: keep the representatives in input order, renumber, remap references.
//!
//! For split BTF, `prep` first makes every base type a fixed representative: split types
//! equal to base types map to the base ids, and the base is never modified.
//!
//! Types are handled in a compact wire-like copy (`flat`); candidates are found by
//! libbpf's signature hashes in a table that reproduces libbpf's visiting order (`table`),
//! because in rare ties the order decides which type survives. docs/dedup.md lists every rule
//! and every deliberate difference from libbpf.
//!
//! Dedup is pure and deterministic: the same input gives the same output, byte for byte.
//! [`dedup`] runs on one thread; [`Incremental`] runs its early passes while the encoder
//! works, and the reference pass of a base BTF on two threads (docs/dedup.md).

// No unwrap()/expect() outside tests: input must never panic (docs/reliability.md).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod baseindex;
mod compact;
pub mod distill;
mod equiv;
mod error;
mod flat;
mod fwds;
mod fx;
mod incremental;
mod prep;
mod prim;
mod refs;
pub mod relocate;
mod sig;
mod state;
mod strings;
mod structs;
mod table;

pub use baseindex::base_index;
pub use distill::{distill, distill_standalone, Distilled};
pub use error::{DedupError, DistillError, RelocateError};
pub use incremental::{Added, Incremental};
pub use relocate::{relocate, relocate_dedup, Relocated};

use kbtf_btf::{Btf, FlatBtf, TypeId};

/// Options of [`dedup`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DedupOptions {
    /// Leave [`Deduped::id_map`] empty, for a caller that only wants the BTF: on a vmlinux
    /// it is millions of entries, each resolved through the canonical map.
    pub skip_id_map: bool,
}

impl DedupOptions {
    /// The default options, but without [`Deduped::id_map`].
    pub fn btf_only() -> DedupOptions {
        DedupOptions { skip_id_map: true }
    }
}

/// The result of [`dedup`].
#[derive(Debug, Clone)]
pub struct Deduped {
    /// The deduplicated BTF: a base BTF for a base input, or split BTF on the input's own
    /// base (the same `Arc`) for a split input.
    pub btf: Btf,
    /// For every input type id (`0..input.end_id()`, `void` and base ids included), the id
    /// that stands for it in [`Deduped::btf`]: its own new id if it was kept, else that of the
    /// type it was merged with (a FWD's struct, an enum forward declaration's enum, an equal
    /// type, possibly a base type). Base ids map to themselves, except a base FWD that
    /// resolved to a struct of the split BTF, which maps to that struct. For patching
    /// `.BTF_ids` and anything else that recorded input ids. Empty with
    /// [`DedupOptions::skip_id_map`].
    pub id_map: Vec<TypeId>,
    /// What dedup worked on, freed when this is dropped ([`Spent`]).
    pub spent: Spent,
}

/// What dedup worked on: for a vmlinux the whole un-deduplicated BTF and the maps, about
/// 160 MB. Dropped, it is given back on a thread of its own when it is large, which the
/// caller need not wait for; a module's is freed at once (a thread would cost more).
///
/// When to drop it is the caller's choice: freeing on another thread interrupts this one
/// (each unmapping flushes the TLBs of every core running the process), which slows the
/// thread down while it faults in new memory (serializing the result) but not while it
/// waits (writing and syncing the file). A clone holds nothing.
#[derive(Default)]
pub struct Spent {
    what: Option<Box<dyn std::any::Any + Send>>,
    types: usize,
}

impl Spent {
    fn new<T: Send + 'static>(what: T, types: usize) -> Spent {
        Spent {
            what: Some(Box::new(what)),
            types,
        }
    }
}

impl Drop for Spent {
    fn drop(&mut self) {
        const LARGE: usize = 1 << 20;
        let Some(what) = self.what.take() else {
            return;
        };
        if self.types < LARGE {
            return drop(what);
        }
        // If no thread can be started, the closure, and with it `what`, is dropped here.
        let _ = std::thread::Builder::new()
            .name("kbtf-free".into())
            .spawn(move || drop(what));
    }
}

impl Clone for Spent {
    fn clone(&self) -> Spent {
        Spent::default()
    }
}

impl std::fmt::Debug for Spent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spent")
            .field("holds", &self.what.is_some())
            .field("types", &self.types)
            .finish()
    }
}

/// Deduplicates the own types of `input` (all types for a base BTF; the types after the base
/// for split BTF, which are compared with the base's and mapped to them where equal).
///
/// Fails, naming the type id, on input libbpf would also reject or misread: references to
/// ids that do not exist, string offsets outside the string sections, reference cycles that
/// pass through no struct, struct graphs that reach a VAR, DATASEC or DECL_TAG.
pub fn dedup(input: &Btf, opts: &DedupOptions) -> Result<Deduped, DedupError> {
    let end = input.end_id();
    if end > state::MAX_ID {
        return Err(DedupError::TooManyTypes {
            count: end as usize - 1,
            max: state::MAX_ID,
        });
    }
    dedup_flat(FlatBtf::from_btf(input), opts)
}

/// [`dedup`] on BTF held in compact form (what the encoder builds), taking it over: no copy
/// of its millions of types is made.
pub fn dedup_flat(input: FlatBtf, opts: &DedupOptions) -> Result<Deduped, DedupError> {
    use kbtf_btf::timing::stage;
    let end = input.end_id();
    if end > state::MAX_ID {
        return Err(DedupError::TooManyTypes {
            count: end as usize - 1,
            max: state::MAX_ID,
        });
    }
    let start = input.start_id();
    let FlatBtf {
        endian,
        base,
        types: mut flat,
        strings: own_strings,
        strings_first_use,
    } = input;
    let t = stage("dedup: check refs");
    // The base's filing in the candidate table, worked out once per base (or cached); it
    // also knows whether the base's references were checked already.
    let cands = base.as_ref().and_then(|b| baseindex::base_cands(b, &flat));
    let from = match &cands {
        Some(c) if c.refs_ok => start,
        _ => 1,
    };
    check_refs(&flat, from)?;
    drop(t);
    let t = stage("dedup: strings");
    // A producer that interned strings in first-use order already did what this pass does.
    let strings = if strings_first_use {
        own_strings
    } else {
        strings::dedup_strings(&own_strings, base.as_ref(), &mut flat, start)?
    };
    drop(t);

    let t = stage("dedup: prep + prim");
    let mut s = state::State::new(flat, start);
    prep::prepare_base(&mut s, cands);
    prim::dedup_prim_types(&mut s);
    drop(t);
    let t = stage("dedup: structs");
    structs::dedup_struct_types(&mut s)?;
    fwds::resolve_fwds(&mut s);
    drop(t);
    let t = stage("dedup: refs");
    refs::dedup_ref_types(&mut s)?;
    drop(t);
    let t = stage("dedup: compact");
    let (btf, id_map) = compact::compact(&mut s, base, endian, strings, !opts.skip_id_map)?;
    drop(t);
    let n = s.map.len();
    Ok(Deduped {
        btf,
        id_map,
        spent: Spent::new(s, n),
    })
}

/// Entry points for the micro-benchmarks (`benches/`): internal stages, not an API.
#[doc(hidden)]
pub mod bench {
    use super::*;

    /// libbpf's signature hash of every type, combined.
    pub fn hash_all(input: &FlatBtf) -> i64 {
        let s = state::State::new(input.types.clone(), input.start_id());
        (1..s.end())
            .filter_map(|id| prep::hash_any(&s.flat, id))
            .fold(0i64, |a, h| a.wrapping_add(h))
    }

    /// Strings, base filing, primitives and structs; the number of struct representatives.
    pub fn up_to_structs(input: FlatBtf) -> Result<usize, DedupError> {
        let start = input.start_id();
        let mut flat = input.types;
        check_refs(&flat, 1)?;
        strings::dedup_strings(&input.strings, input.base.as_ref(), &mut flat, start)?;
        let mut s = state::State::new(flat, start);
        prep::prepare_base(&mut s, None);
        prim::dedup_prim_types(&mut s);
        structs::dedup_struct_types(&mut s)?;
        Ok((start..s.end())
            .filter(|&id| s.map[id as usize] == id)
            .count())
    }
}

/// Every referenced id of types `from..`, own and base types alike, names a type (`from` is
/// past the base when the base's references are known to be right).
fn check_refs(flat: &flat::Flat, from: u32) -> Result<(), DedupError> {
    let end = flat.len() as u32;
    for id in from.max(1)..end {
        let mut bad = None;
        flat.for_each_ref(id, |r| {
            if r >= end && bad.is_none() {
                bad = Some(r);
            }
        });
        if let Some(target) = bad {
            return Err(DedupError::BadTypeId {
                id,
                target,
                last: end - 1,
            });
        }
    }
    Ok(())
}
