//! Typed errors for reading BTF.

use std::path::PathBuf;

/// What went wrong while reading BTF bytes. Every variant says where: a byte offset within
/// the BTF blob, or a type id.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ParseError {
    #[error("BTF too short: {len} bytes, its header needs at least 8 (up to hdr_len)")]
    TooShort { len: usize },
    #[error("bad BTF magic {magic:#06x} at offset 0 (want 0xeb9f)")]
    BadMagic { magic: u16 },
    #[error("unsupported BTF version {0} (want 1)")]
    BadVersion(u8),
    #[error("unsupported BTF header flags {0:#x}")]
    BadFlags(u8),
    #[error("BTF header length {hdr_len} out of bounds (blob is {len} bytes)")]
    BadHeaderLen { hdr_len: u32, len: usize },
    #[error("BTF header has non-zero unknown fields after byte 24")]
    UnknownHeaderFields,
    #[error("BTF {section} section [{off}, {off}+{size}) out of bounds (data is {avail} bytes after the header)")]
    SectionOutOfBounds {
        section: &'static str,
        off: u32,
        size: u32,
        avail: usize,
    },
    #[error("BTF type and string sections overlap")]
    SectionsOverlap,
    #[error("BTF type section offset {0} is not 4-byte aligned")]
    TypeSectionMisaligned(u32),
    #[error("BTF string section is empty or does not end with NUL")]
    StringsNotTerminated,
    #[error("BTF string section does not start with NUL, as a base BTF's must (split BTF read without its base?)")]
    StringsNoLeadingNul,
    #[error("BTF string section too large: {0} bytes")]
    StringsTooLarge(u32),
    #[error("type [{id}] at type section offset {off}: truncated {what}")]
    TruncatedType {
        id: u32,
        off: usize,
        what: &'static str,
    },
    #[error("type [{id}] at type section offset {off}: unknown kind {kind}")]
    UnknownKind { id: u32, off: usize, kind: u32 },
    #[error("type [{id}] {kind} at type section offset {off}: invalid btf_type.info {info:#010x}: {why}")]
    BadInfo {
        id: u32,
        kind: &'static str,
        off: usize,
        info: u32,
        why: &'static str,
    },
    #[error("type [{id}] INT at type section offset {off}: invalid int data {data:#010x}")]
    BadIntData { id: u32, off: usize, data: u32 },
    #[error("type [{id}] ARRAY at type section offset {off}: size word is {size}, must be 0")]
    ArraySizeNotZero { id: u32, off: usize, size: u32 },
    #[error("too many types: more than {0}")]
    TooManyTypes(u32),
    #[error("base BTF is {base} endian but split BTF is {split} endian")]
    EndianMismatch {
        base: &'static str,
        split: &'static str,
    },
}

/// Errors from reading BTF out of a file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {err}")]
    Io {
        path: PathBuf,
        /// Kept out of `source()`: the message already says it.
        err: std::io::Error,
    },
    #[error("{path}: is a directory")]
    IsDirectory { path: PathBuf },
    #[error("{path}: not an ELF file and not raw BTF (first bytes {head})")]
    UnknownFormat { path: PathBuf, head: String },
    #[error("{path}: bad ELF: {msg}")]
    BadElf { path: PathBuf, msg: String },
    #[error("{path}: ELF has no {section} section")]
    NoSection {
        path: PathBuf,
        section: &'static str,
    },
    #[error("{path}: {}{err}", section.as_ref().map(|s| format!("section {s}: ")).unwrap_or_default())]
    Parse {
        path: PathBuf,
        section: Option<String>,
        /// Kept out of `source()`: the message already says it.
        err: ParseError,
    },
}
