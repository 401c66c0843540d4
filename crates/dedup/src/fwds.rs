//! Pass 4: unambiguous forward declarations (libbpf 1.1's `btf_dedup_resolve_fwds`).
//!
//! The struct pass resolves a FWD only when it meets the struct within two graphs being
//! compared. A FWD used on its own (`struct foo; struct foo *global;` in one compilation
//! unit, the full `struct foo` in another) is still its own representative afterwards. This
//! pass maps each such own FWD to the struct or union of the same name and matching kind
//! (kind_flag set: union) when exactly one representative struct or union, base types
//! included, has that name. Names shared by several representatives (say a struct `foo` and
//! a union `foo`, or two different `struct foo`) are ambiguous and leave the FWD alone.
//!
//! libbpf 1.0 (the library embedded in upstream pahole 1.24) has no such pass; libbpf 1.1,
//! which Debian's pahole 1.24 uses and which built Debian's 6.1 kernel BTF, has it.

use crate::flat::{FWD, STRUCT, UNION};
use crate::fx::FxHashMap;
use crate::state::State;

pub(crate) fn resolve_fwds(s: &mut State) {
    // One pass over the own types: the FWDs still alone, and per name the single
    // representative struct/union of that name, 0 if several.
    let mut names = Names::default();
    let mut fwds: Vec<u32> = Vec::new();
    for id in s.start..s.end() {
        if file(s, &mut names.0, id) {
            fwds.push(id);
        }
    }
    resolve_filed(s, names, fwds);
}

/// Per name, the single representative struct or union of that name among the own types
/// filed so far, 0 if several: what [`resolve_fwds`] gathers, gathered by a caller as
/// it goes ([`Names::file_struct`]). A struct or union that is its own representative once
/// the struct pass has looked at it stays one (only FWDs and types not yet mapped are mapped
/// later), so it can be filed as soon as its own step of the struct pass is done.
#[derive(Default)]
pub(crate) struct Names(FxHashMap<u32, u32>);

impl Names {
    /// Files `id`, a STRUCT or UNION the struct pass is done with, if it is a representative.
    #[inline]
    pub(crate) fn file_struct(&mut self, s: &State, id: u32) {
        file(s, &mut self.0, id);
    }
}

/// [`resolve_fwds`] given `names`, every own representative struct and union filed,
/// and `fwds`, which include every own FWD still alone (others are passed over).
pub(crate) fn resolve_filed(s: &mut State, names: Names, fwds: impl IntoIterator<Item = u32>) {
    let mut names = names.0;
    let fwds: Vec<u32> = fwds
        .into_iter()
        .filter(|&id| s.flat.kind(id) == FWD && s.map[id as usize] == id)
        .collect();
    // Without own FWDs left (most modules), the base's structs need not be looked at.
    if fwds.is_empty() {
        return;
    }
    // The base's structs and unions count too; its FWDs are not resolved here.
    for id in 1..s.start {
        file(s, &mut names, id);
    }
    for id in fwds {
        let r = *s.flat.rec(id);
        let Some(&cand) = names.get(&r.name_off) else {
            continue;
        };
        if cand == 0 {
            continue;
        }
        let want = if r.kflag() { UNION } else { STRUCT };
        if s.flat.kind(cand) == want {
            s.map[id as usize] = cand;
        }
    }
}

/// Files type `id` under its name in `names` if it is a representative struct or union (the
/// id, or 0 once a second one has the name); says whether it is a FWD still alone.
// Inlined into the loops: as a call it made the vmlinux's pass about a third slower.
#[inline(always)]
fn file(s: &State, names: &mut FxHashMap<u32, u32>, id: u32) -> bool {
    let r = s.flat.rec(id);
    let kind = r.kind();
    if !matches!(kind, FWD | STRUCT | UNION) || s.map[id as usize] != id {
        return false;
    }
    if kind != FWD {
        names.entry(r.name_off).and_modify(|v| *v = 0).or_insert(id);
    }
    kind == FWD
}
