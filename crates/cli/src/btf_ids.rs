//! Keeping a module's `.BTF_ids` (kfunc sets, `BTF_ID_LIST`s) true when its BTF changes: after
//! `-J` writes new BTF, after distilling, and after relocation, every `__BTF_ID__` symbol is
//! resolved again by name, as resolve_btfids does (`kbtf_emit::btf_ids`).

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use kbtf_btf::{Btf, Kind, TypeId};
use kbtf_emit::btf_ids::{self, EntryKind};

/// Base ids of `split`'s base named by the module's `.BTF_ids` (structs, unions, typedefs; the
/// lowest id of each name, as resolve_btfids picks): distilling must keep them, or the
/// distilled BTF could not name them.
pub fn base_roots(elf: &[u8], split: &Btf) -> Result<Vec<TypeId>> {
    let Some(entries) = btf_ids::entries(elf)? else {
        return Ok(Vec::new());
    };
    let Some(base) = split.base() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in &entries {
        let kind = match e.kind {
            EntryKind::Struct => Kind::Struct,
            EntryKind::Union => Kind::Union,
            EntryKind::Typedef => Kind::Typedef,
            _ => continue,
        };
        if let Some(id) = (1..base.end_id()).find(|&id| {
            base.type_by_id(id)
                .is_some_and(|t| t.kind() == kind && base.name_of(id) == e.name)
        }) {
            out.push(id);
        }
    }
    Ok(out)
}

/// The module `elf` with `.BTF_ids` resolved against `new` (the BTF the module now carries),
/// or `None` when it has no `.BTF_ids`. `previous` are the BTFs the section may have been
/// resolved against before (needed once a kfunc set was sorted by its old ids); the first
/// one that explains the section is used. Unresolved names are reported on stderr, as
/// resolve_btfids does.
pub fn resolve(
    path: &Path,
    elf: &[u8],
    new: &Btf,
    previous: &[Arc<Btf>],
) -> Result<Option<Vec<u8>>> {
    let first = match btf_ids::resolve_elf(elf, new) {
        Ok(r) => return Ok(r.map(|r| report(path, r))),
        Err(e) => e,
    };
    for p in previous {
        if let Ok(r) = btf_ids::re_resolve_elf(elf, p, new) {
            return Ok(r.map(|r| report(path, r)));
        }
    }
    Err(anyhow!(
        "{}: {first}; none of the BTFs it may have been resolved against ({}) explains it",
        path.display(),
        previous.len()
    ))
}

fn report(path: &Path, r: btf_ids::ResolvedElf) -> Vec<u8> {
    for s in &r.unresolved {
        eprintln!(
            "kbtf: warning: {}: .BTF_ids: unresolved symbol {s}",
            path.display()
        );
    }
    r.elf
}

/// The module's current `.BTF`, read on each base that might be its own: its `.BTF.base` if
/// it has one, else each of `bases` in turn. Parse failures just drop a candidate.
pub fn previous_btfs(elf: &[u8], bases: &[Arc<Btf>]) -> Vec<Arc<Btf>> {
    let Ok(Some(btf)) = kbtf_emit::elf::section(elf, ".BTF") else {
        return Vec::new();
    };
    if let Ok(Some(dbase)) = kbtf_emit::elf::section(elf, ".BTF.base") {
        return Btf::parse(dbase, None)
            .and_then(|b| Btf::parse(btf, Some(Arc::new(b))))
            .map(|b| vec![Arc::new(b)])
            .unwrap_or_default();
    }
    bases
        .iter()
        .filter_map(|b| Btf::parse(btf, Some(b.clone())).ok().map(Arc::new))
        .collect()
}
