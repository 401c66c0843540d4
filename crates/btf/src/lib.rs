//! The BTF model: kinds, types and the string table, and reading and writing BTF in its wire
//! format, as a base or as split BTF continuing a base.
//!
//! Layers, from the bottom: [`kind`] and [`types`] describe records; [`strings`] holds the
//! string section; [`btf::Btf`] ties types and strings to a base; [`read`] parses wire bytes
//! and [`file`] finds them in raw or ELF files.
//!
//! Nothing here panics on input: malformed bytes give a [`ParseError`] naming the offset or
//! type id.

// No unwrap()/expect() outside tests: input must never panic (docs/reliability.md).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod btf;
pub mod bytes;
pub mod diff;
pub mod dump;
pub mod error;
pub mod file;
pub mod fingerprint;
pub mod flat;
pub mod kind;
pub mod mapvec;
pub mod mem;
pub mod read;
pub mod strings;
pub mod synth;
pub mod timing;
pub mod types;
pub mod validate;

pub use btf::{Btf, Endian, Header, TypeCheck};
pub use bytes::Bytes;
pub use error::{ParseError, ReadError};
pub use file::{read_base, read_file, BtfFile, Source};
pub use flat::{Flat, FlatBtf};
pub use kind::Kind;
pub use strings::{StringIndex, StringTable};
pub use types::*;
