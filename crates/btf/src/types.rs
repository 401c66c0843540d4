//! The BTF type model: one [`Type`] per `struct btf_type` record with its trailing data.
//!
//! Fields hold the exact values of the wire format (string offsets, raw member offsets), so that a
//! parse followed by a write gives back the same bytes. Interpretation (bitfield offsets, enum
//! signedness) lives in methods.

use crate::kind::Kind;

/// A type id. 0 is `void`; ids of a split BTF continue after its base's last id.
pub type TypeId = u32;

/// `BTF_INT_SIGNED`: the integer is signed.
pub const INT_SIGNED: u8 = 1 << 0;
/// `BTF_INT_CHAR`: the integer is a character type.
pub const INT_CHAR: u8 = 1 << 1;
/// `BTF_INT_BOOL`: the integer is a boolean.
pub const INT_BOOL: u8 = 1 << 2;

/// Function linkage stored in a FUNC's vlen (`BTF_FUNC_STATIC` ...).
pub const FUNC_STATIC: u16 = 0;
pub const FUNC_GLOBAL: u16 = 1;
pub const FUNC_EXTERN: u16 = 2;

/// Variable linkage stored in a VAR's trailing `btf_var.linkage`.
pub const VAR_STATIC: u32 = 0;
pub const VAR_GLOBAL_ALLOCATED: u32 = 1;
pub const VAR_GLOBAL_EXTERN: u32 = 2;

/// One BTF type: the common `btf_type` header fields and kind-specific data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Type {
    /// Offset of the name in the (possibly base-continued) string section; 0 for anonymous.
    pub name_off: u32,
    /// Bit 31 of `info`. Its meaning depends on the kind: bitfield member offsets for
    /// STRUCT/UNION, "union" for FWD, signedness for ENUM/ENUM64.
    pub kind_flag: bool,
    pub data: TypeData,
}

/// Kind-specific content of a [`Type`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeData {
    Int {
        size: u32,
        encoding: u8,
        offset: u8,
        bits: u8,
    },
    Ptr {
        ty: TypeId,
    },
    Array {
        elem: TypeId,
        index: TypeId,
        nelems: u32,
    },
    Struct {
        size: u32,
        members: Vec<Member>,
    },
    Union {
        size: u32,
        members: Vec<Member>,
    },
    Enum {
        size: u32,
        values: Vec<EnumValue>,
    },
    /// `raw` is the unused `size_type` field, kept for an exact round trip.
    Fwd {
        raw: u32,
    },
    Typedef {
        ty: TypeId,
    },
    Volatile {
        ty: TypeId,
    },
    Const {
        ty: TypeId,
    },
    Restrict {
        ty: TypeId,
    },
    Func {
        proto: TypeId,
        linkage: u16,
    },
    FuncProto {
        ret: TypeId,
        params: Vec<Param>,
    },
    Var {
        ty: TypeId,
        linkage: u32,
    },
    Datasec {
        size: u32,
        vars: Vec<VarSecinfo>,
    },
    Float {
        size: u32,
    },
    DeclTag {
        ty: TypeId,
        component_idx: i32,
    },
    TypeTag {
        ty: TypeId,
    },
    Enum64 {
        size: u32,
        values: Vec<Enum64Value>,
    },
}

/// A STRUCT or UNION member (`struct btf_member`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Member {
    pub name_off: u32,
    pub ty: TypeId,
    /// The raw `offset` word. With the parent's kind_flag set, bits 24..32 hold the bitfield
    /// size and bits 0..24 the bit offset; otherwise it is the bit offset.
    pub offset: u32,
}

impl Member {
    /// Bit offset of the member within its parent.
    pub fn bit_offset(&self, kind_flag: bool) -> u32 {
        if kind_flag {
            self.offset & 0x00ff_ffff
        } else {
            self.offset
        }
    }

    /// Bitfield size in bits, or 0 if the member is not a bitfield (or the parent's kind_flag
    /// is clear, in which case bitfields are described by INT offset/bits instead).
    pub fn bitfield_size(&self, kind_flag: bool) -> u32 {
        if kind_flag {
            self.offset >> 24
        } else {
            0
        }
    }
}

/// An ENUM value (`struct btf_enum`); signed or unsigned by the parent's kind_flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnumValue {
    pub name_off: u32,
    pub val: u32,
}

/// An ENUM64 value (`struct btf_enum64`, stored as two 32-bit halves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Enum64Value {
    pub name_off: u32,
    pub val: u64,
}

/// A FUNC_PROTO parameter (`struct btf_param`). A last parameter with name 0 and type 0
/// marks varargs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Param {
    pub name_off: u32,
    pub ty: TypeId,
}

/// A DATASEC entry (`struct btf_var_secinfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VarSecinfo {
    pub ty: TypeId,
    pub offset: u32,
    pub size: u32,
}

impl TypeData {
    /// The data of a type of `kind` from its wire words: `st` (the size/type word), `vlen`
    /// (the low 16 bits of `info`) and `word(i)`, the `i`-th 32-bit word after the common
    /// header. The one decoder of the wire layout, for BTF being read (`read.rs`) and for
    /// the compact copy ([`crate::flat::Flat`]); the checks the kernel makes of the words
    /// are the reader's.
    pub(crate) fn from_words(
        kind: Kind,
        st: u32,
        vlen: usize,
        word: impl Fn(usize) -> u32,
    ) -> TypeData {
        match kind {
            Kind::Int => {
                let w = word(0);
                TypeData::Int {
                    size: st,
                    encoding: (w >> 24) as u8,
                    offset: (w >> 16) as u8,
                    bits: w as u8,
                }
            }
            Kind::Ptr => TypeData::Ptr { ty: st },
            Kind::Array => TypeData::Array {
                elem: word(0),
                index: word(1),
                nelems: word(2),
            },
            Kind::Struct | Kind::Union => {
                let members = (0..vlen)
                    .map(|i| Member {
                        name_off: word(3 * i),
                        ty: word(3 * i + 1),
                        offset: word(3 * i + 2),
                    })
                    .collect();
                if kind == Kind::Struct {
                    TypeData::Struct { size: st, members }
                } else {
                    TypeData::Union { size: st, members }
                }
            }
            Kind::Enum => TypeData::Enum {
                size: st,
                values: (0..vlen)
                    .map(|i| EnumValue {
                        name_off: word(2 * i),
                        val: word(2 * i + 1),
                    })
                    .collect(),
            },
            Kind::Enum64 => TypeData::Enum64 {
                size: st,
                values: (0..vlen)
                    .map(|i| Enum64Value {
                        name_off: word(3 * i),
                        val: word(3 * i + 1) as u64 | (word(3 * i + 2) as u64) << 32,
                    })
                    .collect(),
            },
            Kind::Fwd => TypeData::Fwd { raw: st },
            Kind::Typedef => TypeData::Typedef { ty: st },
            Kind::Volatile => TypeData::Volatile { ty: st },
            Kind::Const => TypeData::Const { ty: st },
            Kind::Restrict => TypeData::Restrict { ty: st },
            Kind::Func => TypeData::Func {
                proto: st,
                linkage: vlen as u16,
            },
            Kind::FuncProto => TypeData::FuncProto {
                ret: st,
                params: (0..vlen)
                    .map(|i| Param {
                        name_off: word(2 * i),
                        ty: word(2 * i + 1),
                    })
                    .collect(),
            },
            Kind::Var => TypeData::Var {
                ty: st,
                linkage: word(0),
            },
            Kind::Datasec => TypeData::Datasec {
                size: st,
                vars: (0..vlen)
                    .map(|i| VarSecinfo {
                        ty: word(3 * i),
                        offset: word(3 * i + 1),
                        size: word(3 * i + 2),
                    })
                    .collect(),
            },
            Kind::Float => TypeData::Float { size: st },
            Kind::DeclTag => TypeData::DeclTag {
                ty: st,
                component_idx: word(0) as i32,
            },
            Kind::TypeTag => TypeData::TypeTag { ty: st },
        }
    }
}

impl Type {
    pub fn new(name_off: u32, data: TypeData) -> Type {
        Type {
            name_off,
            kind_flag: false,
            data,
        }
    }

    pub fn kind(&self) -> Kind {
        use TypeData::*;
        match &self.data {
            Int { .. } => Kind::Int,
            Ptr { .. } => Kind::Ptr,
            Array { .. } => Kind::Array,
            Struct { .. } => Kind::Struct,
            Union { .. } => Kind::Union,
            Enum { .. } => Kind::Enum,
            Fwd { .. } => Kind::Fwd,
            Typedef { .. } => Kind::Typedef,
            Volatile { .. } => Kind::Volatile,
            Const { .. } => Kind::Const,
            Restrict { .. } => Kind::Restrict,
            Func { .. } => Kind::Func,
            FuncProto { .. } => Kind::FuncProto,
            Var { .. } => Kind::Var,
            Datasec { .. } => Kind::Datasec,
            Float { .. } => Kind::Float,
            DeclTag { .. } => Kind::DeclTag,
            TypeTag { .. } => Kind::TypeTag,
            Enum64 { .. } => Kind::Enum64,
        }
    }

    /// The `vlen` field of `info`: number of trailing records, or the linkage for FUNC.
    pub fn vlen(&self) -> u32 {
        use TypeData::*;
        match &self.data {
            Struct { members, .. } | Union { members, .. } => members.len() as u32,
            Enum { values, .. } => values.len() as u32,
            Enum64 { values, .. } => values.len() as u32,
            FuncProto { params, .. } => params.len() as u32,
            Datasec { vars, .. } => vars.len() as u32,
            Func { linkage, .. } => *linkage as u32,
            _ => 0,
        }
    }

    /// The `info` word as written.
    pub fn info(&self) -> u32 {
        info_word(self.kind() as u32, self.kind_flag, self.vlen())
    }

    /// The `size`/`type` union word as written.
    pub fn size_or_type(&self) -> u32 {
        use TypeData::*;
        match &self.data {
            Int { size, .. }
            | Struct { size, .. }
            | Union { size, .. }
            | Enum { size, .. }
            | Enum64 { size, .. }
            | Datasec { size, .. }
            | Float { size } => *size,
            Ptr { ty }
            | Typedef { ty }
            | Volatile { ty }
            | Const { ty }
            | Restrict { ty }
            | TypeTag { ty }
            | Var { ty, .. }
            | DeclTag { ty, .. } => *ty,
            Func { proto, .. } => *proto,
            FuncProto { ret, .. } => *ret,
            Array { .. } => 0,
            Fwd { raw } => *raw,
        }
    }

    /// Calls `f` with each 32-bit word of the kind-specific data that follows the 12-byte
    /// `btf_type` record on the wire, in order (none for kinds without such data).
    pub fn for_each_trailing_word(&self, mut f: impl FnMut(u32)) {
        use TypeData::*;
        match &self.data {
            Int {
                encoding,
                offset,
                bits,
                ..
            } => f((*encoding as u32) << 24 | (*offset as u32) << 16 | *bits as u32),
            Array {
                elem,
                index,
                nelems,
            } => [*elem, *index, *nelems].into_iter().for_each(f),
            Struct { members, .. } | Union { members, .. } => members
                .iter()
                .flat_map(|m| [m.name_off, m.ty, m.offset])
                .for_each(f),
            Enum { values, .. } => values.iter().flat_map(|v| [v.name_off, v.val]).for_each(f),
            Enum64 { values, .. } => values
                .iter()
                .flat_map(|v| [v.name_off, v.val as u32, (v.val >> 32) as u32])
                .for_each(f),
            FuncProto { params, .. } => params.iter().flat_map(|p| [p.name_off, p.ty]).for_each(f),
            Var { linkage, .. } => f(*linkage),
            Datasec { vars, .. } => vars
                .iter()
                .flat_map(|v| [v.ty, v.offset, v.size])
                .for_each(f),
            DeclTag { component_idx, .. } => f(*component_idx as u32),
            Ptr { .. }
            | Fwd { .. }
            | Typedef { .. }
            | Volatile { .. }
            | Const { .. }
            | Restrict { .. }
            | Func { .. }
            | Float { .. }
            | TypeTag { .. } => {}
        }
    }

    /// The size in bytes for kinds that carry one in `btf_type.size`.
    pub fn size(&self) -> Option<u32> {
        use TypeData::*;
        match &self.data {
            Int { size, .. }
            | Struct { size, .. }
            | Union { size, .. }
            | Enum { size, .. }
            | Enum64 { size, .. }
            | Datasec { size, .. }
            | Float { size } => Some(*size),
            _ => None,
        }
    }

    /// The single referenced type of PTR, TYPEDEF, modifiers, TYPE_TAG, VAR, FUNC, DECL_TAG.
    pub fn ref_type(&self) -> Option<TypeId> {
        use TypeData::*;
        match &self.data {
            Ptr { ty }
            | Typedef { ty }
            | Volatile { ty }
            | Const { ty }
            | Restrict { ty }
            | TypeTag { ty }
            | Var { ty, .. }
            | DeclTag { ty, .. } => Some(*ty),
            Func { proto, .. } => Some(*proto),
            _ => None,
        }
    }

    /// Members of a STRUCT or UNION.
    pub fn members(&self) -> &[Member] {
        match &self.data {
            TypeData::Struct { members, .. } | TypeData::Union { members, .. } => members,
            _ => &[],
        }
    }

    /// Every type id this type refers to, in wire order.
    pub fn referenced_ids(&self) -> Vec<TypeId> {
        let mut out = Vec::new();
        self.for_each_ref(|id| out.push(id));
        out
    }

    /// Calls `f` with every type id this type refers to, in wire order.
    pub fn for_each_ref(&self, mut f: impl FnMut(TypeId)) {
        use TypeData::*;
        match &self.data {
            Array { elem, index, .. } => {
                f(*elem);
                f(*index);
            }
            Struct { members, .. } | Union { members, .. } => members.iter().for_each(|m| f(m.ty)),
            FuncProto { ret, params } => {
                f(*ret);
                params.iter().for_each(|p| f(p.ty));
            }
            Datasec { vars, .. } => vars.iter().for_each(|v| f(v.ty)),
            _ => {
                if let Some(t) = self.ref_type() {
                    f(t)
                }
            }
        }
    }

    /// Calls `f` on every type id field, allowing it to be rewritten (for remapping ids).
    pub fn for_each_ref_mut(&mut self, mut f: impl FnMut(&mut TypeId)) {
        use TypeData::*;
        match &mut self.data {
            Array { elem, index, .. } => {
                f(elem);
                f(index);
            }
            Struct { members, .. } | Union { members, .. } => {
                members.iter_mut().for_each(|m| f(&mut m.ty))
            }
            FuncProto { ret, params } => {
                f(ret);
                params.iter_mut().for_each(|p| f(&mut p.ty));
            }
            Datasec { vars, .. } => vars.iter_mut().for_each(|v| f(&mut v.ty)),
            Ptr { ty }
            | Typedef { ty }
            | Volatile { ty }
            | Const { ty }
            | Restrict { ty }
            | TypeTag { ty }
            | Var { ty, .. }
            | DeclTag { ty, .. } => f(ty),
            Func { proto, .. } => f(proto),
            Int { .. } | Enum { .. } | Enum64 { .. } | Fwd { .. } | Float { .. } => {}
        }
    }

    /// Every string offset this type holds (its name, then member/value/param names).
    pub fn for_each_str_off(&self, mut f: impl FnMut(u32)) {
        f(self.name_off);
        match &self.data {
            TypeData::Struct { members, .. } | TypeData::Union { members, .. } => {
                members.iter().for_each(|m| f(m.name_off))
            }
            TypeData::Enum { values, .. } => values.iter().for_each(|v| f(v.name_off)),
            TypeData::Enum64 { values, .. } => values.iter().for_each(|v| f(v.name_off)),
            TypeData::FuncProto { params, .. } => params.iter().for_each(|p| f(p.name_off)),
            _ => {}
        }
    }

    /// Every string offset this type holds, as [`Type::for_each_str_off`], to rewrite.
    pub fn for_each_str_off_mut(&mut self, mut f: impl FnMut(&mut u32)) {
        f(&mut self.name_off);
        match &mut self.data {
            TypeData::Struct { members, .. } | TypeData::Union { members, .. } => {
                members.iter_mut().for_each(|m| f(&mut m.name_off))
            }
            TypeData::Enum { values, .. } => values.iter_mut().for_each(|v| f(&mut v.name_off)),
            TypeData::Enum64 { values, .. } => values.iter_mut().for_each(|v| f(&mut v.name_off)),
            TypeData::FuncProto { params, .. } => {
                params.iter_mut().for_each(|p| f(&mut p.name_off))
            }
            _ => {}
        }
    }

    /// Size in bytes of this type's record in the type section.
    pub fn encoded_len(&self) -> usize {
        12 + match &self.data {
            TypeData::Int { .. } | TypeData::Var { .. } | TypeData::DeclTag { .. } => 4,
            TypeData::Array { .. } => 12,
            TypeData::Struct { members, .. } | TypeData::Union { members, .. } => {
                12 * members.len()
            }
            TypeData::Enum { values, .. } => 8 * values.len(),
            TypeData::Enum64 { values, .. } => 12 * values.len(),
            TypeData::FuncProto { params, .. } => 8 * params.len(),
            TypeData::Datasec { vars, .. } => 12 * vars.len(),
            _ => 0,
        }
    }
}

/// The `info` word of a type of BTF kind number `kind`: its kind flag, kind and the low 16
/// bits of `vlen`.
pub fn info_word(kind: u32, kind_flag: bool, vlen: u32) -> u32 {
    ((kind_flag as u32) << 31) | (kind << 24) | (vlen & 0xffff)
}
