//! Typed errors for writing BTF out.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    #[error("{path}: {err}")]
    Io {
        path: PathBuf,
        /// Kept out of `source()`: the message already says it.
        err: std::io::Error,
    },
    #[error("ELF: {0}")]
    BadElf(String),
    #[error("ELF: section header {index} at offset {offset:#x} out of bounds")]
    SectionHeaderOutOfBounds { index: usize, offset: u64 },
    #[error("ELF: section {name} exists but is {found}, not SHT_PROGBITS")]
    WrongSectionType { name: String, found: u32 },
    #[error("section .BTF_ids: {0}")]
    BtfIds(String),
    #[error("section .BTF_ids: symbol {symbol} at offset {offset:#x}: {problem}")]
    BtfIdsSymbol {
        symbol: String,
        offset: u64,
        problem: String,
    },
    #[error("ELF: output would exceed the format's limits ({0})")]
    TooLarge(&'static str),
}
