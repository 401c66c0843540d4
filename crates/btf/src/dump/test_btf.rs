//! A small builder for synthetic BTF in the dump tests.

use std::sync::Arc;

use crate::btf::Btf;
use crate::types::*;

pub(crate) struct TestBtf {
    pub btf: Btf,
}

impl TestBtf {
    pub fn new() -> TestBtf {
        TestBtf { btf: Btf::new() }
    }

    pub fn split(base: Arc<Btf>) -> TestBtf {
        TestBtf {
            btf: Btf::new_split(base),
        }
    }

    /// The offset of `s` in the string section ("" is 0).
    pub fn s(&mut self, s: &str) -> u32 {
        self.btf.add_str(s)
    }

    /// Adds a type named `name` ("" for anonymous) with kind_flag clear.
    pub fn add(&mut self, name: &str, data: TypeData) -> TypeId {
        let name_off = self.s(name);
        self.btf.add_type(Type::new(name_off, data))
    }

    /// Adds a type named `name` with kind_flag set.
    pub fn add_kf(&mut self, name: &str, data: TypeData) -> TypeId {
        let name_off = self.s(name);
        self.btf.add_type(Type {
            name_off,
            kind_flag: true,
            data,
        })
    }

    pub fn int(&mut self, name: &str, size: u32, encoding: u8) -> TypeId {
        self.add(
            name,
            TypeData::Int {
                size,
                encoding,
                offset: 0,
                bits: (size * 8) as u8,
            },
        )
    }

    pub fn ptr(&mut self, ty: TypeId) -> TypeId {
        self.add("", TypeData::Ptr { ty })
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

    pub fn typedef(&mut self, name: &str, ty: TypeId) -> TypeId {
        self.add(name, TypeData::Typedef { ty })
    }

    /// A member at `bit_offset`, for a struct without kind_flag.
    pub fn m(&mut self, name: &str, ty: TypeId, bit_offset: u32) -> Member {
        Member {
            name_off: self.s(name),
            ty,
            offset: bit_offset,
        }
    }

    /// A member of a struct with kind_flag set: `bits` of bitfield (0 for none).
    pub fn bf(&mut self, name: &str, ty: TypeId, bit_offset: u32, bits: u32) -> Member {
        Member {
            name_off: self.s(name),
            ty,
            offset: bits << 24 | bit_offset,
        }
    }

    pub fn strukt(&mut self, name: &str, size: u32, members: Vec<Member>) -> TypeId {
        self.add(name, TypeData::Struct { size, members })
    }

    /// A struct with kind_flag set, whose members come from [`TestBtf::bf`].
    pub fn strukt_kf(&mut self, name: &str, size: u32, members: Vec<Member>) -> TypeId {
        self.add_kf(name, TypeData::Struct { size, members })
    }

    pub fn union(&mut self, name: &str, size: u32, members: Vec<Member>) -> TypeId {
        self.add(name, TypeData::Union { size, members })
    }

    pub fn enum32(
        &mut self,
        name: &str,
        size: u32,
        signed: bool,
        values: &[(&str, u32)],
    ) -> TypeId {
        let values = values
            .iter()
            .map(|&(n, val)| EnumValue {
                name_off: self.s(n),
                val,
            })
            .collect();
        let data = TypeData::Enum { size, values };
        if signed {
            self.add_kf(name, data)
        } else {
            self.add(name, data)
        }
    }

    pub fn enum64(&mut self, name: &str, signed: bool, values: &[(&str, u64)]) -> TypeId {
        let values = values
            .iter()
            .map(|&(n, val)| Enum64Value {
                name_off: self.s(n),
                val,
            })
            .collect();
        let data = TypeData::Enum64 { size: 8, values };
        if signed {
            self.add_kf(name, data)
        } else {
            self.add(name, data)
        }
    }

    pub fn proto(&mut self, ret: TypeId, params: &[(&str, TypeId)]) -> TypeId {
        let params = params
            .iter()
            .map(|&(n, ty)| Param {
                name_off: self.s(n),
                ty,
            })
            .collect();
        self.add("", TypeData::FuncProto { ret, params })
    }
}
