//! Test helpers: a small structural deduplicator, so that the encoder's un-deduplicated
//! output can be compared with pahole's deduplicated BTF before (and independently of)
//! `kbtf_dedup`.
//!
//! It merges types that are equal in everything but ids, all the way down (the coarsest
//! bisimulation, by partition refinement), and maps a split BTF's types equal to a base type
//! onto that base type. Like libbpf, it resolves a FWD to the struct or union of its name and
//! an empty enum (a forward-declared one) to the enum of its name, preferring the first one.
//!
//! For split BTF it is coarser than libbpf in one place: libbpf treats a base FWD as equal to
//! the split's struct of that name while it compares structs (and keeps the base's FWD
//! elsewhere); this helper does not, so a module whose types meet such a base FWD shows
//! `FWD -> STRUCT` differences that are the helper's, not the encoder's. `kbtf_dedup`
//! replaces this helper once it lands.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kbtf_btf::{Btf, Type, TypeData};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The local part of a type's meaning: everything but the ids it refers to.
fn signature(btf: &Btf, t: &Type) -> String {
    let s = |off: u32| btf.str_at(off).into_owned();
    let mut out = format!("{:?}|{}|{}|", t.kind(), t.kind_flag, s(t.name_off));
    match &t.data {
        TypeData::Int {
            size,
            encoding,
            offset,
            bits,
        } => out += &format!("{size},{encoding},{offset},{bits}"),
        TypeData::Array { nelems, .. } => out += &format!("{nelems}"),
        TypeData::Struct { size, members } | TypeData::Union { size, members } => {
            out += &format!("{size}");
            for m in members {
                out += &format!(";{}@{}", s(m.name_off), m.offset);
            }
        }
        TypeData::Enum { size, values } => {
            out += &format!("{size}");
            for v in values {
                out += &format!(";{}={}", s(v.name_off), v.val);
            }
        }
        TypeData::Enum64 { size, values } => {
            out += &format!("{size}");
            for v in values {
                out += &format!(";{}={}", s(v.name_off), v.val);
            }
        }
        TypeData::Fwd { .. } => {}
        TypeData::Func { linkage, .. } => out += &format!("{linkage}"),
        TypeData::FuncProto { params, .. } => {
            for p in params {
                out += &format!(";{}", s(p.name_off));
            }
        }
        TypeData::Var { linkage, .. } => out += &format!("{linkage}"),
        TypeData::Datasec { size, vars } => {
            out += &format!("{size}");
            for v in vars {
                out += &format!(";{}+{}", v.offset, v.size);
            }
        }
        TypeData::Float { size } => out += &format!("{size}"),
        TypeData::DeclTag { component_idx, .. } => out += &format!("{component_idx}"),
        _ => {}
    }
    out
}

/// Deduplicates `btf` structurally (see the module documentation).
pub fn structural_dedup(btf: &Btf) -> Btf {
    let end = btf.end_id();
    let start = btf.start_id();
    let all: Vec<Option<&Type>> = (0..end).map(|id| btf.type_by_id(id)).collect();
    // Forward declarations resolved to the one full type of their name.
    let mut full: HashMap<(String, u8), Vec<u32>> = HashMap::new();
    for (id, t) in all.iter().enumerate() {
        let Some(t) = t else { continue };
        let key = match &t.data {
            TypeData::Struct { .. } => 0,
            TypeData::Union { .. } => 1,
            TypeData::Enum { values, .. } if !values.is_empty() => 2,
            TypeData::Enum64 { values, .. } if !values.is_empty() => 2,
            _ => continue,
        };
        full.entry((btf.str_at(t.name_off).into_owned(), key))
            .or_default()
            .push(id as u32);
    }
    // Only the split's own forward declarations: libbpf never changes the base, and a base
    // FWD is equal to a split struct only inside struct comparisons, which this does not
    // model.
    let mut alias: Vec<u32> = (0..end).collect();
    for id in start..end {
        let t = all[id as usize].unwrap();
        let key = match &t.data {
            TypeData::Fwd { .. } => t.kind_flag as u8,
            TypeData::Enum { values, .. } if values.is_empty() => 2,
            TypeData::Enum64 { values, .. } if values.is_empty() => 2,
            _ => continue,
        };
        if let Some(c) = full.get(&(btf.str_at(t.name_off).into_owned(), key)) {
            // libbpf prefers the base's definition; the first one will do here.
            alias[id as usize] = c[0];
        }
    }
    // Initial classes by signature; void is its own class 0.
    let mut sig_ids: HashMap<String, u32> = HashMap::new();
    let mut class: Vec<u32> = all
        .iter()
        .map(|t| match t {
            None => 0,
            Some(t) => {
                let n = sig_ids.len() as u32 + 1;
                *sig_ids.entry(signature(btf, t)).or_insert(n)
            }
        })
        .collect();
    let mut count = sig_ids.len() + 1;
    loop {
        let mut keys: HashMap<(u32, Vec<u32>), u32> = HashMap::new();
        let next: Vec<u32> = all
            .iter()
            .enumerate()
            .map(|(i, t)| match t {
                None => 0,
                Some(t) => {
                    if alias[i] != i as u32 {
                        return u32::MAX - alias[i];
                    }
                    let refs: Vec<u32> = t
                        .referenced_ids()
                        .iter()
                        .map(|&r| class[alias[r as usize] as usize])
                        .collect();
                    let n = keys.len() as u32 + 1;
                    *keys.entry((class[i], refs)).or_insert(n)
                }
            })
            .collect();
        let new_count = keys.len() + 1;
        class = next;
        for i in 0..class.len() {
            if alias[i] != i as u32 {
                class[i] = class[alias[i] as usize];
            }
        }
        if new_count == count {
            break;
        }
        count = new_count;
    }
    // Representatives: a base type (not a resolved FWD) if the class has one, else the first
    // own type that is no resolved FWD.
    let mut rep: HashMap<u32, u32> = HashMap::new();
    for id in 1..start {
        if alias[id as usize] == id {
            rep.entry(class[id as usize]).or_insert(id);
        }
    }
    let mut out = match btf.base() {
        Some(b) => Btf::new_split(Arc::clone(b)),
        None => Btf::new(),
    };
    let mut new_id: HashMap<u32, u32> = HashMap::new();
    let mut kept = Vec::new();
    for id in start..end {
        if alias[id as usize] != id {
            continue;
        }
        let c = class[id as usize];
        if rep.contains_key(&c) {
            continue;
        }
        rep.insert(c, id);
        new_id.insert(id, start + kept.len() as u32);
        kept.push(id);
    }
    // Where any type ends up: its class's representative, renumbered if it is an own type.
    let final_id = |id: u32| -> u32 {
        if id == 0 {
            return 0;
        }
        match rep.get(&class[alias[id as usize] as usize]) {
            Some(&r) if r < start => r,
            Some(&r) => new_id[&r],
            None => id,
        }
    };
    for id in kept {
        let mut t = btf.type_by_id(id).unwrap().clone();
        let mut strs = Vec::new();
        t.for_each_str_off(|o| strs.push(btf.str_at(o).into_owned()));
        let mut it = strs.into_iter();
        let mut put = |_: u32| out.add_str(&it.next().unwrap());
        t.name_off = put(t.name_off);
        match &mut t.data {
            TypeData::Struct { members, .. } | TypeData::Union { members, .. } => members
                .iter_mut()
                .for_each(|m| m.name_off = put(m.name_off)),
            TypeData::Enum { values, .. } => {
                values.iter_mut().for_each(|v| v.name_off = put(v.name_off))
            }
            TypeData::Enum64 { values, .. } => {
                values.iter_mut().for_each(|v| v.name_off = put(v.name_off))
            }
            TypeData::FuncProto { params, .. } => {
                params.iter_mut().for_each(|p| p.name_off = put(p.name_off))
            }
            _ => {}
        }
        t.for_each_ref_mut(|r| *r = final_id(*r));
        out.add_type(t);
    }
    out
}
