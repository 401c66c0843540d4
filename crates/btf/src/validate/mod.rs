//! Validation of BTF by the rules of the Linux 6.1 kernel's BTF verifier, and detection of split
//! BTF that was built against a different base than the one it is checked with.
//!
//! [`validate`] returns every [`Problem`] found; [`Report`] caps and summarizes them for printing.
//! Each problem is one line, e.g.
//! `[95301] STRUCT 'foo': member 'bar' at bit offset 64 is beyond the struct size of 4 bytes`.
//!
//! # Which kernel does what
//!
//! The rules are those of `kernel/bpf/btf.c` in Linux 6.1. The kernel verifies BTF in phases and
//! stops at the first error; we run every phase and report everything, one problem per type and
//! phase (the first rule the type breaks, as the kernel would report it), in the kernel's order:
//! header, string section, metas (type by type), resolve (type by type), type tags. So the first
//! problem of the list is the one `BPF_BTF_LOAD` reports, and the first one not of phase
//! Resolve is the one the 6.1 module loader reports. A type that failed an earlier phase is
//! skipped by later ones, and types that refer to it are not blamed for it (no cascades).
//!
//! Linux 6.1 runs different subsets of its rules depending on where the BTF comes from:
//!
//! * `BPF_BTF_LOAD` (`btf_parse`): header, string section, `btf_parse_type_sec` (metas and
//!   `btf_check_all_types`, the resolve pass with `btf_func_proto_check`), type tags.
//! * vmlinux (`btf_parse_vmlinux`) and modules (`btf_parse_module`): header, string section,
//!   metas and type tags only. The resolve pass is not run for kernel BTF in 6.1, so a module
//!   built against the wrong vmlinux often loads "by luck".
//!
//! Every problem carries its [`Phase`]; [`Phase::Resolve`] problems are those the 6.1 module
//! loader does not see. They are still [`ProblemClass::Invalid`]: the kernel's full verifier
//! rejects them. For the resolve pass of split BTF we first resolve the base the same way (what
//! the kernel would have in `resolved_ids`/`resolved_sizes` had it verified the base fully).
//!
//! # Rules and where they are enforced
//!
//! Enforced by the parser ([`crate::read`]), so they surface as parse errors, not problems here:
//! bad magic, version, flags and "No data" (`btf_parse_hdr`); sections out of bounds and overlapping
//! non-empty sections (`btf_check_sec_info`); misaligned type section ("Unaligned type_off");
//! string section not NUL-terminated or, for a base, not starting with NUL
//! (`btf_parse_str_sec`); truncated records ("meta_left"); unknown kind ("Invalid kind");
//! unused `info` bits ("Invalid btf_info"); `vlen != 0` for kinds without members; INT data
//! bits outside `BTF_INT_MASK` (`0x0fffffff`: bits 8..16 are allowed and ignored, as by 6.1,
//! and kept for the write). A header shorter than 24 bytes is read as 6.1 reads it, the fields
//! it leaves out (or cuts) 0, so only 21 to 23 bytes can hold a string section. It refuses an
//! ARRAY whose unused size word is not 0, as the kernel does ("size != 0").
//!
//! Enforced here, as [`ProblemClass::Invalid`]:
//!
//! * `header.rs` (phases Header and Strings): non-zero bytes in a longer header ("Unsupported
//!   btf_header"); gaps, overlaps and trailing data around the sections ("Unsupported section
//!   found", "Section overlap found"); string section not last ("String section is not at the
//!   end"); string section larger than `BTF_MAX_NAME_OFFSET` ("Invalid string section"); a base
//!   with no types ("No type found", `BPF_BTF_LOAD` only).
//! * `meta.rs` (phase Meta, `btf_check_all_metas` and each kind's `check_meta`): the type count
//!   limit (`btf_add_type`, `BTF_MAX_TYPE`); name offsets inside the string sections and at most
//!   `BTF_MAX_NAME_OFFSET`; names per kind (see `names.rs`); kind_flag only on STRUCT, UNION,
//!   ENUM, ENUM64 and FWD; INT bits and offset within 128 bits and within the size, encoding
//!   none, SIGNED, CHAR or BOOL; referenced ids at most `BTF_MAX_TYPE` and not void where void is
//!   not allowed (members, ARRAY element and index, VAR, DATASEC entries); FWD's type word 0;
//!   ARRAY anonymous; STRUCT/UNION member offsets non-decreasing, within the size, 0 in unions;
//!   ENUM/ENUM64 size 1, 2, 4 or 8 with named values; FUNC linkage static or global; VAR linkage
//!   static or global-allocated; DATASEC size non-zero, entries sorted, non-overlapping, of
//!   non-zero size and within the section; FLOAT size 2, 4, 8, 12 or 16; DECL_TAG value
//!   non-empty and `component_idx >= -1`.
//! * `resolve.rs` and `members.rs` (phase Resolve, `btf_check_all_types`): a port of the kernel's
//!   resolve stack with its visit states, modes and depth limit of 32 ("Loop detected",
//!   "Exceeded max resolving depth"); every referenced id exists and has a kind the referrer
//!   may use ("Invalid type_id", "Invalid member", "Invalid elem", "Invalid index", "Not a VAR
//!   kind member"); sizes resolve (`btf_type_id_size`); ARRAY index a regular INT, element no
//!   irregular INT, total size within `u32`; each member's `check_member` or
//!   `check_kflag_member` (bitfield sizes, byte alignment, member within the struct size);
//!   FUNC points to a FUNC_PROTO whose parameters are all named; FUNC_PROTO return and
//!   parameter types sized, void only as the last (vararg) parameter, parameter names valid;
//!   DATASEC entries are VARs whose type fits the entry; DECL_TAG targets a FUNC, STRUCT, UNION,
//!   VAR or TYPEDEF with a `component_idx` within its members or parameters; the final
//!   "Invalid resolve state" check.
//! * `type_tags.rs` (phase TypeTags, `btf_check_type_tags`): in a chain of modifiers, TYPE_TAGs
//!   come first; chains are at most 32 long. Otherwise 6.1 treats TYPE_TAG as a modifier with a
//!   non-empty (not necessarily identifier) value and kind_flag 0; it does not require it to
//!   follow a PTR. DECL_TAG's kind_flag must be 0 in 6.1 too (later kernels use it).
//!
//! Beyond the kernel, `base_match.rs` reports [`ProblemClass::WrongBase`]: signs that split BTF
//! was built against a different base (see there).
//!
//! # Deliberate differences from the kernel
//!
//! * We report all problems, not only the first, and run the resolve pass for split BTF (which
//!   6.1 never does for modules).
//! * `sizeof(void *)` is taken as 8 (the kernel uses its own, 8 on every 64-bit target).
//! * The kernel's type count check (`btf_add_type`) is reproduced with its array growth; for
//!   split BTF that makes the effective limit depend on the base's type count, as in 6.1.
//! * Where the kernel would dereference a missing type (it cannot happen once earlier checks
//!   passed), we report the reference as out of range instead. A modifier chain leaving the
//!   type range fails `btf_check_type_tags` silently in the kernel (-EINVAL); we report it with
//!   the rule "Invalid type_id".
//! * `BTF_MAX_SIZE` (16 MiB, `BPF_BTF_LOAD` only) is not checked: kernel BTF is not bound by it.
//! * Rules that libbpf has but 6.1 has not (INT size 1..16, INT name required) are not checked.

mod base_match;
mod header;
mod members;
mod meta;
pub mod names;
mod report;
mod resolve;
mod ty;
mod type_tags;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::btf::Btf;
use crate::kind::Kind;
use crate::types::{Type, TypeId};

pub use report::Report;
use resolve::Tables;

/// What kind of problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProblemClass {
    /// The Linux 6.1 kernel's BTF verifier rejects this.
    Invalid,
    /// A sign that split BTF was built against a different base than the one given; the
    /// kernel may well accept it, with wrong types.
    WrongBase,
}

/// The verifier phase a problem comes from, in the kernel's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// `btf_parse_hdr` and `btf_check_sec_info`.
    Header,
    /// `btf_parse_str_sec`.
    Strings,
    /// `btf_check_all_metas`: each type on its own.
    Meta,
    /// `btf_check_all_types`: references, sizes and members. Not run by 6.1 for vmlinux and
    /// module BTF, only for `BPF_BTF_LOAD`.
    Resolve,
    /// `btf_check_type_tags`.
    TypeTags,
    /// Our own checks for a mismatched base.
    BaseMatch,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Header => "header",
            Phase::Strings => "strings",
            Phase::Meta => "meta",
            Phase::Resolve => "resolve",
            Phase::TypeTags => "type tags",
            Phase::BaseMatch => "base match",
        }
    }

    /// Whether the 6.1 kernel checks this phase when it loads vmlinux or module BTF.
    pub fn checked_for_kernel_btf(self) -> bool {
        matches!(
            self,
            Phase::Header | Phase::Strings | Phase::Meta | Phase::TypeTags
        )
    }
}

/// One problem: which type, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The type at fault, or `None` for the header and string section.
    pub id: Option<TypeId>,
    pub kind: Option<Kind>,
    /// The type's name ("" if anonymous or its name offset is invalid).
    pub name: String,
    pub class: ProblemClass,
    pub phase: Phase,
    /// For [`ProblemClass::Invalid`], the kernel's verifier log message for this rejection (or
    /// "Invalid name" where the kernel only has a `pr_debug`); for
    /// [`ProblemClass::WrongBase`], a short name of our rule. Stable, for tests and tools.
    pub rule: &'static str,
    /// What is wrong, in full.
    pub message: String,
}

/// Resolved ids and sizes of a base BTF, computed once and shared by every split BTF checked
/// against it.
#[derive(Debug, Clone)]
pub struct BaseInfo {
    base: Arc<Btf>,
    tables: Arc<Tables>,
}

impl BaseInfo {
    /// Resolves `base` (and its own base, if any) as the kernel's resolve pass would.
    pub fn new(base: &Arc<Btf>) -> BaseInfo {
        let parent = base.base().map(BaseInfo::new);
        let tables = resolve::base_tables(base, parent.as_ref().map(|p| &p.tables));
        BaseInfo {
            base: base.clone(),
            tables,
        }
    }

    pub fn base(&self) -> &Arc<Btf> {
        &self.base
    }
}

/// Checks `btf`'s own types, header and strings by the 6.1 kernel's rules, and, for split BTF,
/// for signs of a mismatched base. Returns every problem, in the kernel's order, kernel
/// rejections before base-mismatch signs.
pub fn validate(btf: &Btf) -> Vec<Problem> {
    validate_with(btf, None)
}

/// Like [`validate`], reusing `base_info` (from [`BaseInfo::new`] on `btf`'s base) instead of
/// resolving the base again. A `base_info` for another base is ignored.
pub fn validate_with(btf: &Btf, base_info: Option<&BaseInfo>) -> Vec<Problem> {
    let computed;
    let base_tables = match btf.base() {
        None => None,
        Some(b) => match base_info {
            Some(info) if Arc::ptr_eq(&info.base, b) => Some(info.tables.clone()),
            _ => {
                computed = BaseInfo::new(b);
                Some(computed.tables.clone())
            }
        },
    };
    let mut out = Vec::new();
    header::check(btf, &mut out);
    let mut failed = vec![false; btf.own_types().len()];
    meta::check(btf, &mut failed, &mut out);
    let tables = resolve::check(btf, base_tables, &failed, &mut out);
    type_tags::check(btf, &mut out);
    base_match::check(btf, &tables, &mut out);
    out
}

/// Builds problems about one type, filling in its kind and name.
pub(crate) fn problem(
    btf: &Btf,
    id: TypeId,
    t: &Type,
    class: ProblemClass,
    phase: Phase,
    rule: &'static str,
    message: String,
) -> Problem {
    let name = if names::offset_valid(btf, t.name_off) {
        btf.str_at(t.name_off).into_owned()
    } else {
        String::new()
    };
    Problem {
        id: Some(id),
        kind: Some(t.kind()),
        name,
        class,
        phase,
        rule,
        message,
    }
}
