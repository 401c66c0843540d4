//! Concatenating the units' encodings into one BTF, in CU order, with the decisions that
//! depend on earlier units.
//!
//! For each unit, as pahole 1.24's single encoder does:
//!
//! 1. Its types get the ids after everything already encoded (the base's types included for
//!    a module): unit-local id `i` becomes `offset + i`.
//! 2. The array index type is chosen once: the first unit with a base type named `int` gives
//!    its `int`. Until then, a unit without `int` points its arrays at the id right after its
//!    own types, and if arrays were encoded (in it or any earlier unit) a 4-byte INT named
//!    `__ARRAY_SIZE_TYPE__` is added there.
//! 3. DECL_TAGs of its structs, unions and typedefs.
//! 4. Its candidate functions whose name no earlier function took: FUNC_PROTO, then FUNC,
//!    then the function's DECL_TAGs.
//! 5. Its per-CPU VARs (and their DECL_TAGs).
//!
//! At the end, if any VAR was encoded, the `.data..percpu` DATASEC: its entries sorted by
//! offset (stable, so equal offsets keep encoding order), its size the end of the last
//! entry.

use std::collections::HashSet;
use std::sync::Arc;

use kbtf_btf::{Btf, Type, TypeData, VarSecinfo};

use crate::error::ErrorKind;
use crate::functions::Candidate;
use crate::types::INDEX_TYPE;
use crate::variables::VarOut;

/// libbpf's `BTF_MAX_NR_TYPES`.
const MAX_TYPES: u32 = 0x7fff_ffff;

/// Everything one unit contributes.
pub struct UnitOutput {
    pub strings: Vec<String>,
    pub types: Vec<Type>,
    pub int_id: Option<u32>,
    pub has_arrays: bool,
    pub decl_tags: Vec<Type>,
    pub functions: Vec<Candidate>,
    pub vars: Vec<VarOut>,
}

pub struct Merger {
    btf: Btf,
    generated: HashSet<String>,
    has_index_type: bool,
    need_index_type: bool,
    index_id: u32,
    secinfo: Vec<VarSecinfo>,
}

impl Merger {
    pub fn new(base: Option<Arc<Btf>>) -> Merger {
        Merger {
            btf: match base {
                Some(b) => Btf::new_split(b),
                None => Btf::new(),
            },
            generated: HashSet::new(),
            has_index_type: false,
            need_index_type: false,
            index_id: 0,
            secinfo: Vec::new(),
        }
    }

    pub fn add_unit(&mut self, unit: UnitOutput) -> Result<(), ErrorKind> {
        let btf = &mut self.btf;
        let strings: Vec<u32> = unit.strings.iter().map(|s| btf.add_str(s)).collect();
        let str_of = |i: u32| strings.get(i as usize).copied().unwrap_or(0);
        // pahole's type_id_off: the number of types so far, base included.
        let off = btf.end_id() - 1;
        if !self.has_index_type {
            if let Some(int) = unit.int_id {
                self.has_index_type = true;
                self.index_id = off + int;
            } else {
                self.index_id = off + unit.types.len() as u32 + 1;
            }
        }
        let index_id = self.index_id;
        let remap = |id: u32| match id {
            0 => 0,
            INDEX_TYPE => index_id,
            i => off + i,
        };
        let add = |btf: &mut Btf, mut t: Type| -> Result<u32, ErrorKind> {
            t.name_off = str_of(t.name_off);
            remap_strings(&mut t, &str_of);
            t.for_each_ref_mut(|r| *r = remap(*r));
            // libbpf's in-memory limit: the un-deduplicated BTF of vmlinux is over the
            // kernel's 2^20 types; dedup brings it back under.
            if btf.end_id() >= MAX_TYPES {
                return Err(ErrorKind::TooManyTypes(MAX_TYPES));
            }
            Ok(btf.add_type(t))
        };
        for t in unit.types {
            add(btf, t)?;
        }
        if unit.has_arrays {
            self.need_index_type = true;
        }
        if self.need_index_type && !self.has_index_type {
            let name = btf.add_str("__ARRAY_SIZE_TYPE__");
            btf.add_type(Type::new(
                name,
                TypeData::Int {
                    size: 4,
                    encoding: 0,
                    offset: 0,
                    bits: 32,
                },
            ));
            self.has_index_type = true;
        }
        for t in unit.decl_tags {
            add(btf, t)?;
        }
        for f in unit.functions {
            if !self.generated.insert(f.name.clone()) {
                continue;
            }
            let proto = add(btf, f.proto)?;
            let name = btf.add_str(&f.name);
            let func = btf.add_type(Type::new(
                name,
                TypeData::Func {
                    proto,
                    linkage: kbtf_btf::FUNC_STATIC,
                },
            ));
            for (value, component_idx) in f.decl_tags {
                btf.add_type(Type::new(
                    str_of(value),
                    TypeData::DeclTag {
                        ty: func,
                        component_idx,
                    },
                ));
            }
        }
        for v in unit.vars {
            let var = btf.add_type(Type::new(
                str_of(v.name),
                TypeData::Var {
                    ty: remap(v.ty),
                    linkage: v.linkage,
                },
            ));
            for (value, component_idx) in v.decl_tags {
                btf.add_type(Type::new(
                    str_of(value),
                    TypeData::DeclTag {
                        ty: var,
                        component_idx,
                    },
                ));
            }
            self.secinfo.push(VarSecinfo {
                ty: var,
                offset: v.offset,
                size: v.size,
            });
        }
        Ok(())
    }

    pub fn finish(mut self) -> Btf {
        if !self.secinfo.is_empty() {
            self.secinfo.sort_by_key(|v| v.offset);
            let last = self.secinfo[self.secinfo.len() - 1];
            let name = self.btf.add_str(crate::input::PERCPU_SECTION);
            self.btf.add_type(Type::new(
                name,
                TypeData::Datasec {
                    size: last.offset.wrapping_add(last.size),
                    vars: self.secinfo,
                },
            ));
        }
        self.btf
    }
}

/// Rewrites the member, value and parameter names of `t` from unit-local string indices.
fn remap_strings(t: &mut Type, str_of: &impl Fn(u32) -> u32) {
    match &mut t.data {
        TypeData::Struct { members, .. } | TypeData::Union { members, .. } => {
            for m in members {
                m.name_off = str_of(m.name_off);
            }
        }
        TypeData::Enum { values, .. } => {
            for v in values {
                v.name_off = str_of(v.name_off);
            }
        }
        TypeData::Enum64 { values, .. } => {
            for v in values {
                v.name_off = str_of(v.name_off);
            }
        }
        TypeData::FuncProto { params, .. } => {
            for p in params {
                p.name_off = str_of(p.name_off);
            }
        }
        _ => {}
    }
}
