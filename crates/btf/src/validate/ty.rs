//! [`Ty`]: a type as the kernel's verifier sees it, `void` included, with the kernel's kind
//! predicates (`btf_type_is_modifier`, `btf_type_nosize`, `btf_type_needs_resolve`, ...).

use std::fmt;

use crate::btf::Btf;
use crate::kind::Kind;
use crate::types::{Type, TypeData, TypeId};

/// A type or `void` (id 0), which the kernel keeps as a real `btf_type` of kind UNKN.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ty<'a> {
    Void,
    T(&'a Type),
}

/// `btf_type_by_id`: id 0 is void, ids out of range are `None`.
pub(crate) fn by_id(btf: &Btf, id: TypeId) -> Option<Ty<'_>> {
    if id == 0 {
        Some(Ty::Void)
    } else {
        btf.type_by_id(id).map(Ty::T)
    }
}

impl<'a> Ty<'a> {
    pub fn kind(self) -> Option<Kind> {
        match self {
            Ty::Void => None,
            Ty::T(t) => Some(t.kind()),
        }
    }
    pub fn ty(self) -> Option<&'a Type> {
        match self {
            Ty::Void => None,
            Ty::T(t) => Some(t),
        }
    }
    fn is(self, k: Kind) -> bool {
        self.kind() == Some(k)
    }
    pub fn is_void(self) -> bool {
        matches!(self, Ty::Void)
    }
    pub fn is_int(self) -> bool {
        self.is(Kind::Int)
    }
    pub fn is_ptr(self) -> bool {
        self.is(Kind::Ptr)
    }
    pub fn is_array(self) -> bool {
        self.is(Kind::Array)
    }
    /// `btf_type_is_struct`: STRUCT or UNION.
    pub fn is_struct(self) -> bool {
        self.is(Kind::Struct) || self.is(Kind::Union)
    }
    pub fn is_fwd(self) -> bool {
        self.is(Kind::Fwd)
    }
    pub fn is_typedef(self) -> bool {
        self.is(Kind::Typedef)
    }
    pub fn is_func(self) -> bool {
        self.is(Kind::Func)
    }
    pub fn is_func_proto(self) -> bool {
        self.is(Kind::FuncProto)
    }
    pub fn is_var(self) -> bool {
        self.is(Kind::Var)
    }
    pub fn is_datasec(self) -> bool {
        self.is(Kind::Datasec)
    }
    pub fn is_decl_tag(self) -> bool {
        self.is(Kind::DeclTag)
    }
    pub fn is_type_tag(self) -> bool {
        self.is(Kind::TypeTag)
    }
    /// `btf_type_is_modifier`: TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG.
    pub fn is_modifier(self) -> bool {
        matches!(
            self.kind(),
            Some(Kind::Typedef | Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag)
        )
    }
    /// `btf_type_nosize`: void, FWD, FUNC, FUNC_PROTO.
    pub fn nosize(self) -> bool {
        self.is_void() || self.is_fwd() || self.is_func() || self.is_func_proto()
    }
    /// `btf_type_is_resolve_source_only`: VAR, DECL_TAG, DATASEC.
    pub fn source_only(self) -> bool {
        self.is_var() || self.is_decl_tag() || self.is_datasec()
    }
    /// `btf_type_needs_resolve`.
    pub fn needs_resolve(self) -> bool {
        self.is_modifier()
            || self.is_ptr()
            || self.is_struct()
            || self.is_array()
            || self.is_var()
            || self.is_func()
            || self.is_decl_tag()
            || self.is_datasec()
    }
    /// `btf_type_has_size`: the size word is a size.
    pub fn has_size(self) -> bool {
        matches!(
            self.kind(),
            Some(
                Kind::Int
                    | Kind::Struct
                    | Kind::Union
                    | Kind::Enum
                    | Kind::Datasec
                    | Kind::Float
                    | Kind::Enum64
            )
        )
    }
    /// `btf_type_is_decl_tag_target`: FUNC, STRUCT, UNION, VAR, TYPEDEF.
    pub fn is_decl_tag_target(self) -> bool {
        self.is_func() || self.is_struct() || self.is_var() || self.is_typedef()
    }
    /// The size word for kinds that have one, else 0.
    pub fn size(self) -> u32 {
        self.ty().and_then(Type::size).unwrap_or(0)
    }
    /// The `type` word (the referenced type of PTR, modifiers, FUNC, VAR, DECL_TAG; the return
    /// type of FUNC_PROTO), else 0.
    pub fn type_word(self) -> TypeId {
        match self.ty() {
            Some(t) => match &t.data {
                TypeData::FuncProto { ret, .. } => *ret,
                _ => t.ref_type().unwrap_or(0),
            },
            None => 0,
        }
    }
    /// `btf_type_vlen`.
    pub fn vlen(self) -> u32 {
        self.ty().map_or(0, Type::vlen)
    }
}

/// Writes a referenced type for messages: `[12] STRUCT 'foo'`, `void`, or `[99999] (out of
/// range)`.
pub(crate) struct Describe<'a> {
    pub btf: &'a Btf,
    pub id: TypeId,
}

impl fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match by_id(self.btf, self.id) {
            Some(Ty::Void) => f.write_str("void"),
            None => write!(
                f,
                "[{}] (out of range, last id is {})",
                self.id,
                self.btf.end_id().saturating_sub(1)
            ),
            Some(Ty::T(t)) => {
                let name = if super::names::offset_valid(self.btf, t.name_off) {
                    self.btf.str_at(t.name_off)
                } else {
                    "".into()
                };
                if name.is_empty() {
                    write!(f, "[{}] {} (anon)", self.id, t.kind())
                } else {
                    write!(
                        f,
                        "[{}] {} '{}'",
                        self.id,
                        t.kind(),
                        super::names::Escaped(name.as_bytes())
                    )
                }
            }
        }
    }
}

/// Shorthand for [`Describe`].
pub(crate) fn describe(btf: &Btf, id: TypeId) -> Describe<'_> {
    Describe { btf, id }
}
