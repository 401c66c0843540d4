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

/// The (kind, name) of every struct, union and typedef the module's `.BTF_ids` name.
pub fn named_types(elf: &[u8]) -> Result<Vec<(Kind, String)>> {
    let Some(entries) = btf_ids::entries(elf)? else {
        return Ok(Vec::new());
    };
    Ok(entries
        .into_iter()
        .filter_map(|e| match e.kind {
            EntryKind::Struct => Some((Kind::Struct, e.name)),
            EntryKind::Union => Some((Kind::Union, e.name)),
            EntryKind::Typedef => Some((Kind::Typedef, e.name)),
            _ => None,
        })
        .collect())
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
    resolve_with(path, elf, new, || previous.to_vec())
}

/// [`resolve`], finding the previous BTFs only when they are needed (reading them costs more
/// than resolving a section that was never sorted, or than finding there is none).
pub fn resolve_with(
    path: &Path,
    elf: &[u8],
    new: &Btf,
    previous: impl FnOnce() -> Vec<Arc<Btf>>,
) -> Result<Option<Vec<u8>>> {
    let Some(data) = resolve_section_with(path, elf, new, previous)? else {
        return Ok(None);
    };
    let spec = btf_ids::section_spec(&data);
    Ok(Some(kbtf_emit::set_section(elf, &spec)?))
}

/// The new contents of `.BTF_ids` (same size), resolved as [`resolve_with`] does, or `None`
/// when `elf` has none.
pub fn resolve_section_with(
    path: &Path,
    elf: &[u8],
    new: &Btf,
    previous: impl FnOnce() -> Vec<Arc<Btf>>,
) -> Result<Option<Vec<u8>>> {
    let first = match btf_ids::resolve(elf, new) {
        Ok(r) => return Ok(r.map(|r| report(path, r))),
        Err(e) => e,
    };
    let previous = previous();
    for p in &previous {
        if let Ok(r) = btf_ids::re_resolve(elf, p, new) {
            return Ok(r.map(|r| report(path, r)));
        }
    }
    Err(anyhow!(
        "{}: {first}; none of the BTFs it may have been resolved against ({}) explains it",
        path.display(),
        previous.len()
    ))
}

/// The new contents of a linked image's `.BTF_ids` (a vmlinux), re-resolved from its own
/// `.BTF` onto `new`, when its ids were resolved already (some `__BTF_ID__` id is not 0);
/// `None` when it has none, or none resolved (kbuild's image before resolve_btfids), or
/// when they cannot be re-resolved (a warning says why, and the section stays as it was).
pub fn re_resolve_image(path: &Path, elf: &[u8], new: &Btf) -> Option<Vec<u8>> {
    let entries = btf_ids::entries(elf).ok().flatten()?;
    let resolved = entries
        .iter()
        .any(|e| e.kind.btf_kind().is_some() && e.current != 0);
    if !resolved {
        return None;
    }
    let old = match kbtf_emit::elf::section(elf, ".BTF") {
        Ok(Some(bytes)) => Btf::parse(bytes, None).map_err(|e| anyhow!("its .BTF: {e}")),
        Ok(None) => Err(anyhow!("it has no .BTF they were resolved against")),
        Err(e) => Err(anyhow!("{e}")),
    };
    match old.and_then(|old| btf_ids::re_resolve(elf, &old, new).map_err(|e| anyhow!("{e}"))) {
        Ok(r) => r.map(|r| report(path, r)),
        Err(e) => {
            eprintln!(
                "kbtf: warning: {}: .BTF_ids left as it was (its ids name types of the old .BTF): {e:#}",
                path.display()
            );
            None
        }
    }
}

fn report(path: &Path, r: btf_ids::Resolved) -> Vec<u8> {
    for s in &r.unresolved {
        eprintln!(
            "kbtf: warning: {}: .BTF_ids: unresolved symbol {s}",
            path.display()
        );
    }
    r.data
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

/// What is wrong with a resolved `.BTF_ids` read against `btf`: ids that name no type or a
/// type of another kind or name, unresolved ids, set counts that are not the set's size,
/// unsorted sets. A set is sorted by id, so the id at a member's symbol is not that member's:
/// a set is right when its ids name exactly the types its member symbols name, and hold a 0
/// for each of its words no symbol labels (`BTF_ID_UNUSED`). Empty when it is right.
pub fn check(elf: &[u8], entries: &[btf_ids::Entry], btf: &Btf) -> Vec<String> {
    let mut out = Vec::new();
    let data = match kbtf_emit::elf::section(elf, btf_ids::SECTION) {
        Ok(Some(d)) => d,
        _ => return vec!["cannot read the section".into()],
    };
    let le = elf.get(5) != Some(&2);
    let word = |off: u64| -> Option<u32> {
        let b = data.get(off as usize..off as usize + 4)?;
        let b = [b[0], b[1], b[2], b[3]];
        Some(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let describe = |id: u32| -> String {
        match btf.type_by_id(id) {
            Some(t) => format!("{} '{}'", t.kind(), btf.name_of(id)),
            None if id == 0 => "unresolved (0)".into(),
            None => format!("no type ({id})"),
        }
    };
    let sets: Vec<(&btf_ids::Entry, u64, u64)> = entries
        .iter()
        .filter(|e| e.kind.btf_kind().is_none())
        .map(|e| {
            let (head, stride) = if e.kind == EntryKind::Set8 {
                (8, 8)
            } else {
                (4, 4)
            };
            (e, head, stride)
        })
        .collect();
    let in_set = |off: u64| {
        sets.iter()
            .any(|(s, head, _)| off >= s.offset + head && off < s.offset + s.size)
    };
    for e in entries {
        let Some(kind) = e.kind.btf_kind() else {
            continue;
        };
        if in_set(e.offset) {
            continue;
        }
        let want = format!("{kind} '{}'", e.name);
        let got = describe(e.current);
        if got != want {
            out.push(format!(
                "{}: id {} is {got}, not {want}",
                e.symbol, e.current
            ));
        }
    }
    for (set, head, stride) in &sets {
        let n = set.size.saturating_sub(*head) / stride;
        if u64::from(set.current) != n {
            out.push(format!(
                "{}: count {} but the set has room for {n}",
                set.symbol, set.current
            ));
        }
        let ids: Vec<u32> = (0..n)
            .filter_map(|i| word(set.offset + head + i * stride))
            .collect();
        if ids.windows(2).any(|w| w[0] > w[1]) {
            out.push(format!("{}: ids not sorted: {ids:?}", set.symbol));
        }
        let mut have: Vec<String> = ids.iter().map(|&id| describe(id)).collect();
        let mut want: Vec<String> = entries
            .iter()
            .filter(|e| {
                e.kind.btf_kind().is_some()
                    && e.offset >= set.offset + head
                    && e.offset < set.offset + set.size
            })
            .filter_map(|e| Some(format!("{} '{}'", e.kind.btf_kind()?, e.name)))
            .collect();
        // A word of a set no symbol labels is a `BTF_ID_UNUSED` (the kernel's `btf_id_deny`
        // has one): it holds 0.
        if set.kind != EntryKind::Set8 {
            let unused = (0..n)
                .map(|i| set.offset + head + i * stride)
                .filter(|&at| {
                    !entries
                        .iter()
                        .any(|e| e.kind.btf_kind().is_some() && e.offset == at)
                })
                .count();
            want.extend(std::iter::repeat_n(describe(0), unused));
        }
        have.sort();
        want.sort();
        if have != want {
            out.push(format!(
                "{}: its ids name [{}], its members are [{}]",
                set.symbol,
                have.join(", "),
                want.join(", ")
            ));
        }
    }
    out
}
