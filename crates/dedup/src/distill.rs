//! Distilling: rewriting split BTF so that it depends on a small *distilled base* instead of
//! the whole vmlinux BTF it was built against, with the semantics of libbpf's
//! `btf__distill_base` (what pahole writes for `--btf_features=distilled_base` and Linux 6.11+
//! relocates at module load time).
//!
//! Of the base types the split types reach, named INT, FLOAT and FWD go into the distilled
//! base as they are, named STRUCT and UNION as empty types of the same size, named ENUM and
//! ENUM64 as an ENUM with no values and the same size. Everything else reached (pointers,
//! typedefs, arrays, prototypes, modifiers, anonymous structs and enums) is copied into the
//! split BTF, after the split types, and the walk continues through it. A named struct ends
//! the walk: its members do not matter, only its name and size.
//!
//! [`distill_standalone`] does the same for a module encoded without any base: the caller
//! says which named types stand for kernel types (those defined in kernel headers), and those
//! become the distilled base; the module's own types stay whole.

use std::collections::HashMap;
use std::sync::Arc;

use kbtf_btf::{Btf, Kind, Type, TypeData, TypeId};

use crate::error::DistillError;

/// Split BTF on a distilled base.
#[derive(Debug, Clone)]
pub struct Distilled {
    /// The distilled base (the contents of `.BTF.base`).
    pub base: Arc<Btf>,
    /// The module's types, split BTF on [`Distilled::base`] (the contents of `.BTF`).
    pub split: Btf,
    /// For every input id (`0..input.end_id()`), its id in the distilled numbering (base
    /// and split), or 0 for types the distilled BTF no longer holds.
    pub id_map: Vec<TypeId>,
}

/// Where a type reached by the walk goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Unused,
    Base,
    Split,
}

/// Whether `t` can stand in a distilled base (named INT, FLOAT, FWD, STRUCT, UNION, ENUM,
/// ENUM64).
pub fn is_distillable(t: &Type) -> bool {
    t.name_off != 0
        && matches!(
            t.kind(),
            Kind::Int
                | Kind::Float
                | Kind::Fwd
                | Kind::Struct
                | Kind::Union
                | Kind::Enum
                | Kind::Enum64
        )
}

/// `btf__distill_base`: `split` (split BTF on its vmlinux) as split BTF on a distilled base.
/// `extra_roots` are further base ids that must be kept (types named by the module's
/// `.BTF_ids`, which resolve_btfids looks up by name).
pub fn distill(split: &Btf, extra_roots: &[TypeId]) -> Result<Distilled, DistillError> {
    if split.base().is_none() {
        return Err(DistillError::NotSplit);
    }
    let start = split.start_id();
    let roots: Vec<TypeId> = (start..split.end_id())
        .chain(extra_roots.iter().copied())
        .collect();
    distill_by(split, |id| id >= start, &roots)
}

/// Distills a module encoded on its own (no base): the named types for which `is_kernel`
/// holds (it is only asked about named STRUCT, UNION, ENUM, ENUM64, INT and FLOAT types) go
/// into the distilled base; the types reachable from `roots` (functions, variables, the
/// module's own named types) that are not kernel types stay in the split BTF, in their
/// order. Types reachable only through a kernel struct's members are dropped.
pub fn distill_standalone(
    btf: &Btf,
    roots: &[TypeId],
    is_kernel: impl Fn(TypeId, &Type) -> bool,
) -> Result<Distilled, DistillError> {
    if btf.base().is_some() {
        return Err(DistillError::IsSplit);
    }
    distill_by(
        btf,
        |id| match btf.type_by_id(id) {
            Some(t) => !(is_distillable(t) && t.kind() != Kind::Fwd && is_kernel(id, t)),
            None => true,
        },
        roots,
    )
}

/// The common walk. `own(id)` says whether a type belongs to the module (kept in full in the
/// split BTF, in id order, before the copied base types); other reached types go to the
/// distilled base when [`is_distillable`], else are copied into the split BTF.
fn distill_by(
    src: &Btf,
    own: impl Fn(TypeId) -> bool,
    roots: &[TypeId],
) -> Result<Distilled, DistillError> {
    let end = src.end_id();
    let mut place = vec![Place::Unused; end as usize];
    let mut stack: Vec<TypeId> = Vec::new();
    for &r in roots {
        if r == 0 || r >= end {
            return Err(DistillError::BadTypeId { id: r, from: 0 });
        }
        stack.push(r);
    }
    while let Some(id) = stack.pop() {
        if place[id as usize] != Place::Unused {
            continue;
        }
        let t = src
            .type_by_id(id)
            .ok_or(DistillError::BadTypeId { id, from: 0 })?;
        if !own(id) && is_distillable(t) {
            place[id as usize] = Place::Base;
            // Named structs, unions and enums end the walk; ints, floats, fwds refer to
            // nothing.
            continue;
        }
        if !own(id) {
            check_copyable(id, t)?;
        }
        place[id as usize] = Place::Split;
        let mut bad = None;
        t.for_each_ref(|r| {
            if r >= end {
                bad.get_or_insert(r);
            } else if r != 0 && place[r as usize] == Place::Unused {
                stack.push(r);
            }
        });
        if let Some(r) = bad {
            return Err(DistillError::BadTypeId { id: r, from: id });
        }
    }

    // Number the distilled base, then the split: own types first, then copied ones, each
    // in id order.
    let mut id_map = vec![0 as TypeId; end as usize];
    let mut base = Btf::new();
    base.set_endian(src.endian());
    for id in 1..end {
        if place[id as usize] != Place::Base {
            continue;
        }
        let t = src
            .type_by_id(id)
            .ok_or(DistillError::BadTypeId { id, from: 0 })?;
        let name = src.str_bytes(t.name_off).unwrap_or_default();
        let name_off = base.strings_mut().add(name);
        let data = match &t.data {
            TypeData::Struct { size, .. } => TypeData::Struct {
                size: *size,
                members: Vec::new(),
            },
            TypeData::Union { size, .. } => TypeData::Union {
                size: *size,
                members: Vec::new(),
            },
            TypeData::Enum { size, .. } | TypeData::Enum64 { size, .. } => TypeData::Enum {
                size: *size,
                values: Vec::new(),
            },
            other => other.clone(),
        };
        let kind_flag = match t.kind() {
            Kind::Int | Kind::Float | Kind::Fwd => t.kind_flag,
            _ => false,
        };
        id_map[id as usize] = base.add_type(Type {
            name_off,
            kind_flag,
            data,
        });
    }
    let base = Arc::new(base);
    let mut split = Btf::new_split(base.clone());
    let order: Vec<TypeId> = (1..end)
        .filter(|&id| place[id as usize] == Place::Split && own(id))
        .chain((1..end).filter(|&id| place[id as usize] == Place::Split && !own(id)))
        .collect();
    for (new_id, &id) in (split.start_id()..).zip(&order) {
        id_map[id as usize] = new_id;
    }
    let base_strings = StrIndex::of(&base);
    for &id in &order {
        let mut t = src
            .type_by_id(id)
            .ok_or(DistillError::BadTypeId { id, from: 0 })?
            .clone();
        t.for_each_ref_mut(|r| *r = id_map[*r as usize]);
        map_strs(&mut t, |off| {
            let s = src
                .str_bytes(off)
                .ok_or(DistillError::BadStringOffset { id, off })?;
            Ok::<u32, DistillError>(base_strings.intern(&mut split, s))
        })?;
        split.add_type(t);
    }
    Ok(Distilled {
        base,
        split,
        id_map,
    })
}

/// Base types that may be copied into split BTF: what a split type can reach besides the
/// distillable kinds.
fn check_copyable(id: TypeId, t: &Type) -> Result<(), DistillError> {
    match t.kind() {
        Kind::Int
        | Kind::Float
        | Kind::Fwd
        | Kind::Array
        | Kind::Struct
        | Kind::Union
        | Kind::Typedef
        | Kind::Enum
        | Kind::Enum64
        | Kind::Ptr
        | Kind::Const
        | Kind::Restrict
        | Kind::Volatile
        | Kind::FuncProto
        | Kind::TypeTag => Ok(()),
        kind => Err(DistillError::UnexpectedBaseKind { id, kind }),
    }
}

/// Looks strings up in a base string table, so that split BTF refers to the base's copy of a
/// string instead of repeating it (as libbpf's `btf__add_str` does for split BTF).
pub(crate) struct StrIndex {
    map: HashMap<Vec<u8>, u32>,
}

impl StrIndex {
    pub(crate) fn of(base: &Btf) -> StrIndex {
        let mut map = HashMap::new();
        for (off, s) in base.strings().iter() {
            map.entry(s.to_vec()).or_insert(off);
        }
        StrIndex { map }
    }

    pub(crate) fn intern(&self, split: &mut Btf, s: &[u8]) -> u32 {
        if s.is_empty() {
            return 0;
        }
        match self.map.get(s) {
            Some(&off) => off,
            None => split.strings_mut().add(s),
        }
    }
}

/// Rewrites every string offset of `t` (its name, then member, value and parameter names).
pub(crate) fn map_strs<E>(t: &mut Type, mut f: impl FnMut(u32) -> Result<u32, E>) -> Result<(), E> {
    if t.name_off != 0 {
        t.name_off = f(t.name_off)?;
    }
    let mut g = |off: &mut u32| -> Result<(), E> {
        if *off != 0 {
            *off = f(*off)?;
        }
        Ok(())
    };
    match &mut t.data {
        TypeData::Struct { members, .. } | TypeData::Union { members, .. } => {
            for m in members {
                g(&mut m.name_off)?;
            }
        }
        TypeData::Enum { values, .. } => {
            for v in values {
                g(&mut v.name_off)?;
            }
        }
        TypeData::Enum64 { values, .. } => {
            for v in values {
                g(&mut v.name_off)?;
            }
        }
        TypeData::FuncProto { params, .. } => {
            for p in params {
                g(&mut p.name_off)?;
            }
        }
        _ => {}
    }
    Ok(())
}
