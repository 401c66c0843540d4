//! Typed errors of [`dedup`](crate::dedup).
//!
//! Deduplication works on a [`Btf`](kbtf_btf::Btf) that is already parsed, so there is no byte
//! offset to report: every error names the type id (in the input's numbering) where the
//! problem was found. libbpf's `btf__dedup` fails on the same inputs (with `-EINVAL` or
//! `-ELOOP`, or by reading out of bounds); we check first and say where.

use kbtf_btf::{Kind, TypeId};

/// Why an input could not be deduplicated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DedupError {
    /// A type refers to a type id that does not exist.
    #[error("type [{id}] refers to type [{target}], but the last type id is {last}")]
    BadTypeId {
        id: TypeId,
        target: TypeId,
        last: TypeId,
    },
    /// A type holds a string offset outside the string sections.
    #[error(
        "type [{id}] holds string offset {off}, outside the string sections (which end at {end})"
    )]
    BadStringOffset { id: TypeId, off: u32, end: u32 },
    /// A chain of reference types (pointers, typedefs, modifiers, arrays, function
    /// prototypes) leads back to itself without passing through a struct or union, which C
    /// cannot express. libbpf fails with `-ELOOP` here.
    #[error("type [{id}] is part of a reference cycle that passes through no struct or union")]
    ReferenceLoop { id: TypeId },
    /// A struct or union graph reaches a kind that no struct member, array element or
    /// function parameter can have (VAR, DATASEC, DECL_TAG). libbpf fails with `-EINVAL`.
    #[error("type [{id}] ({kind}) is referenced where only a data type can be (reached from type [{from}])")]
    UnexpectedKind {
        id: TypeId,
        kind: Kind,
        from: TypeId,
    },
    /// More types than a BTF id can number.
    #[error("too many types: {count} (the largest BTF type id is {max})")]
    TooManyTypes { count: usize, max: u32 },
    /// An internal invariant did not hold. This is a bug in kbtf, reported rather than
    /// panicking.
    #[error("internal error in dedup at type [{id}]: {what}")]
    Internal { id: TypeId, what: &'static str },
}
