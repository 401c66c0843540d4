//! Writing BTF out: raw BTF files (`--btf_encode_detached`) and the `.BTF` (and `.BTF.base`)
//! sections of ELF files, in place.
//!
//! The work is split in two, as object splits reading from writing: [`elf`] computes the new
//! bytes of an ELF file with a section replaced or added, without touching any file; [`atomic`]
//! puts bytes into a file: a temp file in the same directory, then a rename, keeping the mode.
//! Nothing here interprets DWARF or BTF.

pub mod atomic;
pub mod elf;
pub mod error;
pub mod modsig;
pub mod output;

pub use atomic::write_atomic;
pub use elf::{set_section, SectionSpec};
pub use error::EmitError;
pub use output::{rewrite, rewrite_file, write_raw, ElfOutput, Rewritten};
