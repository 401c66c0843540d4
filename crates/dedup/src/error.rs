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

/// Why split BTF could not be distilled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DistillError {
    /// `distill` was given BTF with no base.
    #[error("the BTF to distill is not split BTF (it has no base)")]
    NotSplit,
    /// `distill_standalone` was given split BTF.
    #[error("standalone distilling takes BTF without a base, but this BTF is split")]
    IsSplit,
    /// A type refers to a type id that does not exist (`from` 0: a root given by the caller).
    #[error("type [{from}] refers to type [{id}], which does not exist")]
    BadTypeId { id: TypeId, from: TypeId },
    /// A string offset that names no string.
    #[error("type [{id}] holds string offset {off}, outside the string sections")]
    BadStringOffset { id: TypeId, off: u32 },
    /// The split BTF reaches a base type of a kind a module type cannot refer to (a FUNC,
    /// VAR, DATASEC or DECL_TAG of vmlinux). libbpf refuses these too.
    #[error("split BTF refers to base type [{id}] of kind {kind}, which cannot be distilled")]
    UnexpectedBaseKind { id: TypeId, kind: Kind },
}

/// Why distilled BTF could not be relocated onto a base.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelocateError {
    /// The BTF to relocate is not split BTF on a distilled base.
    #[error("the module BTF is not split BTF on a distilled base (.BTF.base)")]
    NotSplit,
    /// The distilled base holds a type no distilled base can hold.
    #[error("distilled base type [{id}] is invalid: {why}")]
    BadDistilledType { id: TypeId, why: String },
    /// The base has no type matching a distilled base type.
    #[error("{what} (distilled base type [{id}]) has no match in the base BTF")]
    Missing { what: String, id: TypeId },
    /// The base has the type, but of another size.
    #[error("{what} changed size: {module_size} bytes in the module's distilled base, {base_size} bytes in the base BTF (type [{base_id}])")]
    SizeMismatch {
        what: String,
        module_size: u32,
        base_size: u32,
        base_id: TypeId,
    },
    /// Two base types match equally well.
    #[error("{what} is ambiguous: base types [{first}] and [{second}] both match")]
    Ambiguous {
        what: String,
        first: TypeId,
        second: TypeId,
    },
    /// A type refers to a type id that does not exist.
    #[error("type [{from}] refers to type [{id}], which does not exist")]
    BadTypeId { id: TypeId, from: TypeId },
    /// A string offset that names no string.
    #[error("type [{id}] holds string offset {off}, outside the string sections")]
    BadStringOffset { id: TypeId, off: u32 },
    /// Deduplicating the relocated types against the base failed.
    #[error("deduplicating the relocated BTF: {0}")]
    Dedup(#[from] DedupError),
}
