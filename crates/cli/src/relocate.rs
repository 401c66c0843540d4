//! Turning a module's BTF into ordinary split BTF for one running kernel's vmlinux BTF, in
//! memory: what `kbtf relocate` writes to a file and `kbtf load` hands to `finit_module`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Result};
use kbtf_btf::Btf;

/// The module `elf` (read from `path`), rewritten so that its `.BTF` is split BTF on `base`,
/// its `.BTF_ids` name the same types by the new ids, and it carries no `.BTF.base` and no
/// stale signature. A module without `.BTF.base` is returned unchanged.
pub fn for_kernel(path: &Path, elf: &[u8], base: Arc<Btf>) -> Result<Vec<u8>> {
    let _ = base;
    if kbtf_emit::elf::section(elf, ".BTF.base")?.is_none() {
        return Ok(elf.to_vec());
    }
    bail!(
        "{}: relocating distilled BTF is not implemented yet",
        path.display()
    )
}
