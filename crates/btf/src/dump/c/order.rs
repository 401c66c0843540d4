//! Ordering: which named definitions a root type needs, in an order C accepts.
//!
//! A type Y that a definition X needs is either a *strong* dependency, when Y must be fully
//! defined before X (Y is embedded by value, or reached through an anonymous type that is
//! written inline), or a *weak* one, when a forward declaration is enough (the path from X
//! to Y goes through a pointer and Y is named). A depth-first walk collects strong
//! dependencies before their users; weak ones are left to emission, which declares them
//! forward when needed.
//!
//! Only types that can be a definition of their own (struct, union, enum, forward
//! declaration, typedef) take part in cycle detection. Pointers, arrays, modifiers and
//! function prototypes just lead to them; ints and floats need nothing; functions,
//! variables, sections and tags are not written by the C dump.

use std::fmt;

use super::{CDump, OrderState};
use crate::types::*;

/// The deepest chain of references the walk follows; only reference cycles without a
/// named struct in them (pointer to pointer to itself) in malformed BTF get this deep.
pub(super) const MAX_DEPTH: u32 = 1000;

/// Why a root type cannot be written as C.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OrderError {
    /// Type `id` needs its own full definition before itself.
    Cycle(TypeId),
    /// References nest deeper than [`MAX_DEPTH`] at type `id`.
    TooDeep(TypeId),
}

impl fmt::Display for OrderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderError::Cycle(id) => write!(f, "unsatisfiable type cycle at [{id}]"),
            OrderError::TooDeep(id) => write!(f, "type references nest too deep at [{id}]"),
        }
    }
}

impl CDump<'_> {
    fn set_ordered(&mut self, id: TypeId) {
        if let Some(s) = self.state(id) {
            s.order = OrderState::Ordered;
        }
    }

    /// Orders type `id` and what it needs, appending named definitions to the queue.
    /// `through_ptr` tells whether the path from the definition being ordered went through a
    /// pointer. Returns whether the dependency on `id` is strong.
    pub(super) fn order(
        &mut self,
        id: TypeId,
        through_ptr: bool,
        depth: u32,
    ) -> Result<bool, OrderError> {
        if depth > MAX_DEPTH {
            return Err(OrderError::TooDeep(id));
        }
        let Some(state) = self.states.get(id as usize).copied() else {
            // A reference to a type that does not exist needs nothing.
            return Ok(false);
        };
        if state.order == OrderState::Ordered {
            return Ok(true);
        }
        let btf = self.btf;
        let Some(t) = btf.type_by_id(id) else {
            return Ok(false);
        };
        if state.order == OrderState::Ordering {
            let composite = matches!(t.data, TypeData::Struct { .. } | TypeData::Union { .. });
            if composite && through_ptr && t.name_off != 0 {
                // A loop back to a named struct through a pointer: a forward declaration
                // breaks it.
                return Ok(false);
            }
            return Err(OrderError::Cycle(id));
        }
        match &t.data {
            TypeData::Int { .. } | TypeData::Float { .. } => {
                self.set_ordered(id);
                Ok(false)
            }
            TypeData::Ptr { ty } => {
                // A pointer is done with once what it points to is, whichever way that went,
                // except when that failed: then users of the pointer fail too.
                let strong = self.order(*ty, true, depth + 1)?;
                self.set_ordered(id);
                Ok(strong)
            }
            TypeData::Array { elem, .. } => self.order(*elem, false, depth + 1),
            TypeData::Struct { members, .. } | TypeData::Union { members, .. } => {
                if through_ptr && t.name_off != 0 {
                    return Ok(false);
                }
                if let Some(s) = self.state(id) {
                    s.order = OrderState::Ordering;
                }
                for m in members {
                    self.order(m.ty, false, depth + 1)?;
                }
                if t.name_off != 0 {
                    self.queue.push(id);
                }
                self.set_ordered(id);
                Ok(true)
            }
            TypeData::Enum { .. } | TypeData::Enum64 { .. } | TypeData::Fwd { .. } => {
                // Named enums and forward declarations stand on their own; so do anonymous
                // enums nothing refers to (they declare constants). Anonymous enums that
                // are used somewhere are written inline there.
                if t.name_off != 0 || !state.referenced {
                    self.queue.push(id);
                }
                self.set_ordered(id);
                Ok(true)
            }
            TypeData::Typedef { ty } => {
                let strong = self.order(*ty, through_ptr, depth + 1)?;
                if through_ptr && !strong {
                    return Ok(false);
                }
                self.queue.push(id);
                self.set_ordered(id);
                Ok(true)
            }
            TypeData::Volatile { ty }
            | TypeData::Const { ty }
            | TypeData::Restrict { ty }
            | TypeData::TypeTag { ty } => self.order(*ty, through_ptr, depth + 1),
            TypeData::FuncProto { ret, params } => {
                let mut strong = self.order(*ret, through_ptr, depth + 1)?;
                for p in params {
                    strong |= self.order(p.ty, through_ptr, depth + 1)?;
                }
                Ok(strong)
            }
            TypeData::Func { .. }
            | TypeData::Var { .. }
            | TypeData::Datasec { .. }
            | TypeData::DeclTag { .. } => {
                self.set_ordered(id);
                Ok(false)
            }
        }
    }
}
