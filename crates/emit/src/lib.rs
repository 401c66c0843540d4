//! Writing BTF out: raw BTF files (`--btf_encode_detached`) and the `.BTF` (and `.BTF.base`)
//! sections of ELF files, in place; re-resolving `.BTF_ids` ([`btf_ids`]) when type ids move.
//!
//! The work is split in two, as object splits reading from writing: [`elf`] computes the new
//! bytes of an ELF file with a section replaced or added, without touching any file; [`atomic`]
//! puts bytes into a file: a temp file in the same directory, then a rename, keeping the mode.
//! Nothing here interprets DWARF; [`btf_ids`] reads BTF only to look type ids up by name.

// No unwrap()/expect() outside tests: input must never panic (docs/reliability.md).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod atomic;
pub mod btf_ids;
mod copy;
pub mod elf;
pub mod error;
pub mod modsig;
pub mod output;
pub mod patch;

pub use atomic::{write_atomic, write_atomic_with, PreCopy};
pub use elf::{set_section, set_section_in, SectionSpec};
pub use error::EmitError;
pub use output::{rewrite, rewrite_file, rewrite_patched, write_raw, ElfOutput, Rewritten};
pub use patch::Patched;
