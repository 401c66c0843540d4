//! `-J` with a distilled base: `--btf_features=+distilled_base` (split BTF against the given
//! vmlinux, then distilled as libbpf's `btf__distill_base` does) and `--standalone` (no
//! vmlinux: the base is distilled from the module's own DWARF).

use std::path::Path;

use anyhow::{Context, Result};
use kbtf_btf::Btf;
use kbtf_dedup::Distilled;
use kbtf_emit::ElfOutput;

/// Distills deduplicated split BTF.
pub fn from_split(path: &Path, _elf: &[u8], split: &Btf) -> Result<Distilled> {
    kbtf_dedup::distill(split, &[])
        .with_context(|| format!("{}: distilling the base of its BTF", path.display()))
}

/// Distills deduplicated BTF encoded without a base.
pub fn standalone(path: &Path, _elf: &[u8], _btf: &Btf) -> Result<Distilled> {
    anyhow::bail!("{}: --standalone is not wired up yet", path.display())
}

/// Writes `out` into the module at `path` (atomically). Returns whether a signature was
/// stripped.
pub fn rewrite_file(path: &Path, out: &ElfOutput<'_>, _ids: Option<&Btf>) -> Result<bool> {
    Ok(kbtf_emit::rewrite_file(path, out)?.is_some())
}
