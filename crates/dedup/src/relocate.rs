//! Relocation: turning split BTF on a distilled base (`.BTF` + `.BTF.base`) into split BTF on
//! a real vmlinux BTF, with the matching rules of libbpf's and Linux's `btf_relocate`, made
//! stricter where they would let misleading BTF through.
//!
//! Each distilled base type is matched to the vmlinux type of the same name and kind:
//!
//! - INT: same size and encoding; FLOAT: same size; ENUM: an ENUM or ENUM64 of the same size;
//! - FWD: a FWD of the same flavour (struct or union), or a STRUCT (UNION) for a struct
//!   (union) forward declaration;
//! - STRUCT, UNION: the same size. libbpf and the kernel only compare sizes when the struct
//!   is embedded by value in a module type or vmlinux has several structs of that name; kbtf
//!   always does, because a module built against a struct of another size was built against
//!   another ABI, and BTF saying otherwise would mislead every BPF program that reads it.
//!
//! No match, or two equally good matches, is an error that names the type. Split ids move to
//! start after vmlinux's last id, and split strings are copied into the new split string
//! table. [`relocate`] does not deduplicate; run [`crate::dedup`] on its output so that
//! pointers, typedefs and prototypes equal to vmlinux's fold into vmlinux's ids, which is
//! what makes the result equal ordinary split BTF built against that vmlinux.

use std::collections::HashMap;
use std::sync::Arc;

use kbtf_btf::{Btf, Kind, Type, TypeData, TypeId};

use crate::distill::{is_distillable, map_strs};
use crate::error::RelocateError;

/// Split BTF on the new base.
#[derive(Debug, Clone)]
pub struct Relocated {
    /// The module's types as split BTF on the new base (not deduplicated).
    pub btf: Btf,
    /// For every input id (`0..input.end_id()`, distilled base ids included), its id in
    /// [`Relocated::btf`].
    pub id_map: Vec<TypeId>,
}

/// Relocates `module` (split BTF on a distilled base) onto `base`.
pub fn relocate(module: &Btf, base: Arc<Btf>) -> Result<Relocated, RelocateError> {
    let dist = module.base().ok_or(RelocateError::NotSplit)?;
    if dist.base().is_some() {
        return Err(RelocateError::NotSplit);
    }
    let n_dist = dist.end_id();
    let end = module.end_id();
    let mut id_map = vec![0 as TypeId; end as usize];

    // Base types by name, for the kinds a distilled base can hold.
    let mut by_name: HashMap<&[u8], Vec<TypeId>> = HashMap::new();
    for id in 1..base.end_id() {
        let Some(t) = base.type_by_id(id) else {
            continue;
        };
        if is_distillable(t) {
            if let Some(name) = base.str_bytes(t.name_off) {
                by_name.entry(name).or_default().push(id);
            }
        }
    }

    for id in 1..n_dist {
        let d = dist
            .type_by_id(id)
            .ok_or(RelocateError::BadTypeId { id, from: 0 })?;
        let name = dist.str_bytes(d.name_off).unwrap_or_default();
        let name_s = String::from_utf8_lossy(name).into_owned();
        if d.name_off == 0 || name.is_empty() {
            return Err(RelocateError::BadDistilledType {
                id,
                why: "anonymous".into(),
            });
        }
        let dkind = d.kind();
        if !matches!(
            dkind,
            Kind::Int | Kind::Float | Kind::Fwd | Kind::Struct | Kind::Union | Kind::Enum
        ) {
            return Err(RelocateError::BadDistilledType {
                id,
                why: format!("kind {dkind} cannot be in a distilled base"),
            });
        }
        let cands = by_name.get(name).map(Vec::as_slice).unwrap_or_default();
        let same_kind: Vec<TypeId> = cands
            .iter()
            .copied()
            .filter(|&c| base.type_by_id(c).is_some_and(|b| kind_matches(d, b)))
            .collect();
        let dsize = d.size();
        let sized: Vec<TypeId> = same_kind
            .iter()
            .copied()
            .filter(|&c| dkind == Kind::Fwd || base.type_by_id(c).and_then(Type::size) == dsize)
            .collect();
        let found = match sized.as_slice() {
            [one] => *one,
            [] => {
                let what = describe(dkind, d.kind_flag, &name_s);
                if let (Some(&other), Some(dsize)) = (same_kind.first(), dsize) {
                    let bsize = base.type_by_id(other).and_then(Type::size).unwrap_or(0);
                    return Err(RelocateError::SizeMismatch {
                        what,
                        module_size: dsize,
                        base_size: bsize,
                        base_id: other,
                    });
                }
                return Err(RelocateError::Missing { what, id });
            }
            [first, second, ..] => {
                return Err(RelocateError::Ambiguous {
                    what: describe(dkind, d.kind_flag, &name_s),
                    first: *first,
                    second: *second,
                })
            }
        };
        id_map[id as usize] = found;
    }

    let shift_to = base.end_id();
    for id in n_dist..end {
        id_map[id as usize] = shift_to + (id - n_dist);
    }

    let mut out = Btf::new_split(base.clone());
    for (id, t) in module.iter() {
        let mut t = t.clone();
        let mut bad = None;
        t.for_each_ref_mut(|r| {
            if *r >= end {
                bad.get_or_insert(*r);
            } else {
                *r = id_map[*r as usize];
            }
        });
        if let Some(target) = bad {
            return Err(RelocateError::BadTypeId {
                id: target,
                from: id,
            });
        }
        map_strs(&mut t, |off| {
            let s = module
                .str_bytes(off)
                .ok_or(RelocateError::BadStringOffset { id, off })?;
            Ok::<u32, RelocateError>(out.strings_mut().add(s))
        })?;
        out.add_type(t);
    }
    Ok(Relocated { btf: out, id_map })
}

/// Whether vmlinux type `b` is of a kind distilled type `d` can stand for.
fn kind_matches(d: &Type, b: &Type) -> bool {
    match (&d.data, &b.data) {
        (TypeData::Int { encoding: de, .. }, TypeData::Int { encoding: be, .. }) => de == be,
        (TypeData::Float { .. }, TypeData::Float { .. }) => true,
        (TypeData::Enum { .. }, TypeData::Enum { .. } | TypeData::Enum64 { .. }) => true,
        (TypeData::Struct { .. }, TypeData::Struct { .. }) => true,
        (TypeData::Union { .. }, TypeData::Union { .. }) => true,
        (TypeData::Fwd { .. }, TypeData::Fwd { .. }) => d.kind_flag == b.kind_flag,
        (TypeData::Fwd { .. }, TypeData::Struct { .. }) => !d.kind_flag,
        (TypeData::Fwd { .. }, TypeData::Union { .. }) => d.kind_flag,
        _ => false,
    }
}

/// "struct sk_buff", "union foo", "int", "enum bar" for messages.
fn describe(kind: Kind, kind_flag: bool, name: &str) -> String {
    match kind {
        Kind::Struct => format!("struct {name}"),
        Kind::Union => format!("union {name}"),
        Kind::Enum => format!("enum {name}"),
        Kind::Fwd if kind_flag => format!("union {name} (forward declaration)"),
        Kind::Fwd => format!("struct {name} (forward declaration)"),
        Kind::Float => format!("float type {name}"),
        _ => format!("int type {name}"),
    }
}

/// [`relocate`], then [`crate::dedup`] against the base: ordinary split BTF on `base`, with
/// every module type equal to a vmlinux type folded onto it. The id map covers the input ids
/// (distilled base included) and gives their final ids.
pub fn relocate_dedup(module: &Btf, base: Arc<Btf>) -> Result<Relocated, RelocateError> {
    let r = relocate(module, base)?;
    let d = crate::dedup(&r.btf, &crate::DedupOptions::default())?;
    let id_map = r
        .id_map
        .iter()
        .map(|&id| d.id_map.get(id as usize).copied().unwrap_or(0))
        .collect();
    Ok(Relocated { btf: d.btf, id_map })
}
