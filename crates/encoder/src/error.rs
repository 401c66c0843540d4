//! Typed errors of the encoder. Every error names the input file; errors inside DWARF also name
//! the compile unit (by its `.debug_info` offset) and, when known, the DIE offset.

use std::path::PathBuf;

/// Where in the DWARF an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DwarfLocation {
    /// Offset of the compile unit's header in `.debug_info`.
    pub cu: Option<u64>,
    /// Offset of the DIE in `.debug_info`.
    pub die: Option<u64>,
}

impl DwarfLocation {
    /// The DIE at `die` (when known) of the unit whose header is at `cu`.
    pub fn in_unit(cu: usize, die: Option<usize>) -> DwarfLocation {
        DwarfLocation {
            cu: Some(cu as u64),
            die: die.map(|d| d as u64),
        }
    }

    /// Makes a gimli error met here an [`ErrorKind::Dwarf`]: for `map_err`.
    pub fn dwarf_error(self) -> impl FnOnce(gimli::Error) -> ErrorKind {
        move |error| ErrorKind::Dwarf { loc: self, error }
    }
}

impl std::fmt::Display for DwarfLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.cu, self.die) {
            (Some(cu), Some(die)) => write!(f, "CU at {cu:#x}, DIE at {die:#x}"),
            (Some(cu), None) => write!(f, "CU at {cu:#x}"),
            (None, Some(die)) => write!(f, "DIE at {die:#x}"),
            (None, None) => write!(f, "unit headers"),
        }
    }
}

/// What went wrong, without the file name (see [`EncodeError`]).
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    #[error("not a readable ELF file: {0}")]
    Elf(#[from] object::read::Error),
    #[error("not an ELF file")]
    NotElf,
    #[error("section {section}: {error}")]
    Section {
        section: String,
        error: kbtf_btf::file::SectionDataError,
    },
    #[error("cannot start the worker threads: {0}")]
    ThreadPool(String),
    #[error("no .debug_info section: the file has no DWARF (was it stripped?)")]
    NoDwarf,
    #[error("malformed DWARF in .debug_info ({loc}): {error}")]
    Dwarf {
        loc: DwarfLocation,
        error: gimli::Error,
    },
    #[error("DWARF nesting deeper than {limit} levels ({loc})")]
    TooDeep { loc: DwarfLocation, limit: usize },
    #[error("{what} ({loc}), which pahole 1.24 cannot encode either")]
    Unsupported { loc: DwarfLocation, what: String },
    #[error("DW_AT_decl_file {index} ({loc}): {why}")]
    DeclFile {
        loc: DwarfLocation,
        index: u64,
        why: String,
    },
    #[error("per-CPU symbol {name:?}: {why}")]
    PercpuSymbol { name: String, why: &'static str },
    #[error("section .BTF_ids: the pair of kfunc {name:?} at offset {offset:#x} is not inside the section")]
    Kfunc { name: String, offset: u64 },
    #[error("too many types: more than {0}")]
    TooManyTypes(u32),
}

/// An error of [`crate::encode`]: what went wrong and in which file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", path.display())]
pub struct EncodeError {
    pub path: PathBuf,
    pub kind: ErrorKind,
}

impl EncodeError {
    pub(crate) fn new(path: &std::path::Path, kind: ErrorKind) -> EncodeError {
        EncodeError {
            path: path.to_path_buf(),
            kind,
        }
    }
}
