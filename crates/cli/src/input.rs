//! Reading the BTF named on the command line, with the base given by `--base`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use kbtf_btf::{Btf, BtfFile, ParseError, ReadError};

/// Reads the base BTF named by `--base`, if any.
pub fn base(path: Option<&Path>) -> Result<Option<Arc<Btf>>> {
    path.map(|p| kbtf_btf::read_base(p).context("reading --base"))
        .transpose()
}

/// Reads the BTF of `path` (raw or ELF) on top of `base`.
pub fn btf(path: &Path, base: Option<Arc<Btf>>) -> Result<BtfFile> {
    let had_base = base.is_some();
    kbtf_btf::read_file(path, base).map_err(|e| anyhow::anyhow!("{}", describe(&e, had_base)))
}

/// The error's message, with a hint when split BTF was read without its base.
pub fn describe(e: &ReadError, had_base: bool) -> String {
    let missing_base = matches!(
        e,
        ReadError::Parse {
            err: ParseError::StringsNoLeadingNul,
            ..
        }
    );
    if missing_base && !had_base {
        format!("{e}; pass the module's vmlinux with --base")
    } else {
        e.to_string()
    }
}
