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
    // One pass over the types: the own FWDs still alone, and per name the single
    // representative struct/union of that name (base types included), 0 if several.
    let mut fwds: Vec<u32> = Vec::new();
    let mut names: FxHashMap<u32, u32> = FxHashMap::default();
    for id in 1..s.end() {
        let r = s.flat.rec(id);
        let kind = r.kind();
        if !matches!(kind, FWD | STRUCT | UNION) || s.map[id as usize] != id {
            continue;
        }
        if kind == FWD {
            if id >= s.start {
                fwds.push(id);
            }
            continue;
        }
        names.entry(r.name_off).and_modify(|v| *v = 0).or_insert(id);
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
