//! Test support: a builder of synthetic BTF, one type per call. The model's own tests, the
//! diff and dedup tests use it to write small inputs by hand; each method adds one type (or
//! makes one member) and returns its id. Names are added to the string section as they come
//! ("" is offset 0, an anonymous type).

use std::sync::Arc;

use crate::btf::Btf;
use crate::types::*;

/// A BTF being built by hand (see the module doc). `btf` is the result.
#[derive(Debug)]
pub struct Builder {
    pub btf: Btf,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// A base BTF (its first type gets id 1).
    pub fn new() -> Builder {
        Builder { btf: Btf::new() }
    }

    /// Split BTF continuing `base`.
    pub fn split(base: Arc<Btf>) -> Builder {
        Builder {
            btf: Btf::new_split(base),
        }
    }

    /// The id the next added type gets.
    pub fn next(&self) -> TypeId {
        self.btf.end_id()
    }

    /// The offset of `s` in the string section.
    pub fn s(&mut self, s: &str) -> u32 {
        self.btf.add_str(s)
    }

    /// Adds a type named `name`, kind_flag clear.
    pub fn add(&mut self, name: &str, data: TypeData) -> TypeId {
        self.flagged(name, false, data)
    }

    /// Adds a type named `name`, kind_flag set.
    pub fn add_kf(&mut self, name: &str, data: TypeData) -> TypeId {
        self.flagged(name, true, data)
    }

    /// Sets the kind_flag of the own type `id`.
    ///
    /// # Panics
    /// If `id` is not one of the builder's own types.
    pub fn kflag(&mut self, id: TypeId) {
        let i = (id - self.btf.start_id()) as usize;
        self.btf.own_types_mut()[i].kind_flag = true;
    }

    /// An INT of `size` bytes, all bits used.
    pub fn int(&mut self, name: &str, size: u32, encoding: u8) -> TypeId {
        self.int_bits(name, size, (size * 8) as u8, encoding)
    }

    /// An INT of `size` bytes of which `bits` are used.
    pub fn int_bits(&mut self, name: &str, size: u32, bits: u8, encoding: u8) -> TypeId {
        self.add(
            name,
            TypeData::Int {
                size,
                encoding,
                offset: 0,
                bits,
            },
        )
    }

    pub fn float(&mut self, name: &str, size: u32) -> TypeId {
        self.add(name, TypeData::Float { size })
    }

    pub fn ptr(&mut self, ty: TypeId) -> TypeId {
        self.add("", TypeData::Ptr { ty })
    }

    pub fn konst(&mut self, ty: TypeId) -> TypeId {
        self.add("", TypeData::Const { ty })
    }

    pub fn volatile(&mut self, ty: TypeId) -> TypeId {
        self.add("", TypeData::Volatile { ty })
    }

    pub fn restrict(&mut self, ty: TypeId) -> TypeId {
        self.add("", TypeData::Restrict { ty })
    }

    pub fn typedef(&mut self, name: &str, ty: TypeId) -> TypeId {
        self.add(name, TypeData::Typedef { ty })
    }

    pub fn type_tag(&mut self, name: &str, ty: TypeId) -> TypeId {
        self.add(name, TypeData::TypeTag { ty })
    }

    pub fn decl_tag(&mut self, name: &str, ty: TypeId, component_idx: i32) -> TypeId {
        self.add(name, TypeData::DeclTag { ty, component_idx })
    }

    pub fn array(&mut self, elem: TypeId, index: TypeId, nelems: u32) -> TypeId {
        self.add(
            "",
            TypeData::Array {
                elem,
                index,
                nelems,
            },
        )
    }

    /// A member at `bit_offset`, for a struct or union without kind_flag.
    pub fn m(&mut self, name: &str, ty: TypeId, bit_offset: u32) -> Member {
        Member {
            name_off: self.s(name),
            ty,
            offset: bit_offset,
        }
    }

    /// A member of a struct or union with kind_flag set: `bits` of bitfield (0 for none)
    /// at `bit_offset`.
    pub fn bf(&mut self, name: &str, ty: TypeId, bit_offset: u32, bits: u32) -> Member {
        Member {
            name_off: self.s(name),
            ty,
            offset: bits << 24 | bit_offset,
        }
    }

    /// Members from (name, type, bit offset).
    pub fn members(&mut self, members: &[(&str, TypeId, u32)]) -> Vec<Member> {
        members
            .iter()
            .map(|&(name, ty, offset)| self.m(name, ty, offset))
            .collect()
    }

    /// Members from (name, type, bit offset, bitfield size), and whether any is a bitfield
    /// (then every offset is encoded for a kind_flag struct).
    pub fn bitfield_members(
        &mut self,
        members: &[(&str, TypeId, u32, u32)],
    ) -> (bool, Vec<Member>) {
        let kind_flag = members.iter().any(|m| m.3 != 0);
        let members = members
            .iter()
            .map(|&(name, ty, offset, bits)| {
                if kind_flag {
                    self.bf(name, ty, offset, bits)
                } else {
                    self.m(name, ty, offset)
                }
            })
            .collect();
        (kind_flag, members)
    }

    /// A struct; members are (name, type, bit offset).
    pub fn strukt(&mut self, name: &str, size: u32, members: &[(&str, TypeId, u32)]) -> TypeId {
        let members = self.members(members);
        self.add(name, TypeData::Struct { size, members })
    }

    /// A union; members are (name, type, bit offset).
    pub fn union(&mut self, name: &str, size: u32, members: &[(&str, TypeId, u32)]) -> TypeId {
        let members = self.members(members);
        self.add(name, TypeData::Union { size, members })
    }

    /// A struct of members made by [`Builder::m`] (kind_flag clear) or [`Builder::bf`]
    /// (`kind_flag` set).
    pub fn struct_of(
        &mut self,
        name: &str,
        size: u32,
        kind_flag: bool,
        members: Vec<Member>,
    ) -> TypeId {
        self.flagged(name, kind_flag, TypeData::Struct { size, members })
    }

    /// A union of members made by [`Builder::m`] or [`Builder::bf`] (as [`Builder::struct_of`]).
    pub fn union_of(
        &mut self,
        name: &str,
        size: u32,
        kind_flag: bool,
        members: Vec<Member>,
    ) -> TypeId {
        self.flagged(name, kind_flag, TypeData::Union { size, members })
    }

    /// A forward declaration of a struct, or of a union if `union`.
    pub fn fwd(&mut self, name: &str, union: bool) -> TypeId {
        self.flagged(name, union, TypeData::Fwd { raw: 0 })
    }

    /// An unsigned ENUM of `size` bytes.
    pub fn enum32(&mut self, name: &str, size: u32, values: &[(&str, u32)]) -> TypeId {
        self.enum_of(name, size, false, values)
    }

    /// An ENUM of `size` bytes, signed (kind_flag set) or not.
    pub fn enum_of(
        &mut self,
        name: &str,
        size: u32,
        signed: bool,
        values: &[(&str, u32)],
    ) -> TypeId {
        let values = self.named(values, |name_off, val| EnumValue { name_off, val });
        self.flagged(name, signed, TypeData::Enum { size, values })
    }

    /// An unsigned ENUM64.
    pub fn enum64(&mut self, name: &str, values: &[(&str, u64)]) -> TypeId {
        self.enum64_of(name, false, values)
    }

    /// An ENUM64, signed (kind_flag set) or not.
    pub fn enum64_of(&mut self, name: &str, signed: bool, values: &[(&str, u64)]) -> TypeId {
        let values = self.named(values, |name_off, val| Enum64Value { name_off, val });
        self.flagged(name, signed, TypeData::Enum64 { size: 8, values })
    }

    /// A FUNC_PROTO; parameters are (name, type), a last `("", 0)` for varargs.
    pub fn proto(&mut self, ret: TypeId, params: &[(&str, TypeId)]) -> TypeId {
        let params = self.named(params, |name_off, ty| Param { name_off, ty });
        self.add("", TypeData::FuncProto { ret, params })
    }

    /// A global FUNC.
    pub fn func(&mut self, name: &str, proto: TypeId) -> TypeId {
        self.add(
            name,
            TypeData::Func {
                proto,
                linkage: FUNC_GLOBAL,
            },
        )
    }

    /// A global allocated VAR.
    pub fn var(&mut self, name: &str, ty: TypeId) -> TypeId {
        self.add(
            name,
            TypeData::Var {
                ty,
                linkage: VAR_GLOBAL_ALLOCATED,
            },
        )
    }

    /// A DATASEC; entries are (var, offset, size).
    pub fn datasec(&mut self, name: &str, size: u32, vars: &[(TypeId, u32, u32)]) -> TypeId {
        let vars = vars
            .iter()
            .map(|&(ty, offset, size)| VarSecinfo { ty, offset, size })
            .collect();
        self.add(name, TypeData::Datasec { size, vars })
    }

    /// `make(name offset, value)` for each (name, value).
    fn named<T: Copy, V>(&mut self, items: &[(&str, T)], make: impl Fn(u32, T) -> V) -> Vec<V> {
        items
            .iter()
            .map(|&(name, value)| make(self.s(name), value))
            .collect()
    }

    /// Adds a type named `name` with the kind_flag given.
    fn flagged(&mut self, name: &str, kind_flag: bool, data: TypeData) -> TypeId {
        let name_off = self.s(name);
        self.btf.add_type(Type {
            name_off,
            kind_flag,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_what_it_says() {
        let mut b = Builder::new();
        let int = b.int("int", 4, INT_SIGNED);
        assert_eq!(int, 1);
        let s = b.bitfield_members(&[("a", int, 0, 3), ("b", int, 3, 0)]);
        let st = b.struct_of("s", 4, s.0, s.1);
        let fwd = b.fwd("u", true);
        let e = b.enum_of("e", 4, true, &[("A", 1)]);
        assert_eq!(b.next(), 5);
        let t = b.btf.type_by_id(st).unwrap();
        assert!(t.kind_flag);
        let TypeData::Struct { members, .. } = &t.data else {
            panic!("not a struct: {t:?}")
        };
        assert_eq!(members[0].offset, 3 << 24);
        assert_eq!(members[1].offset, 3);
        assert!(b.btf.type_by_id(fwd).unwrap().kind_flag);
        assert!(b.btf.type_by_id(e).unwrap().kind_flag);
        let split = Builder::split(Arc::new(b.btf));
        assert_eq!(split.next(), 5);
    }
}
