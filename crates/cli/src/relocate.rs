//! Turning a module's BTF into ordinary split BTF for one running kernel's vmlinux BTF, in
//! memory: what `kbtf relocate` writes to a file and `kbtf load` hands to `finit_module`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use kbtf_btf::fingerprint::{self, Fingerprint};
use kbtf_btf::Btf;
use kbtf_emit::elf::{drop_section, section, set_section, SectionSpec};

/// A module rewritten for one vmlinux.
#[derive(Debug)]
pub struct ForKernel {
    /// The new module bytes (unsigned when anything changed).
    pub bytes: Vec<u8>,
    /// Whether the module had distilled BTF that was relocated (false: returned unchanged).
    pub relocated: bool,
    /// Whether an appended signature was removed.
    pub stripped_signature: bool,
    /// The module's own types after relocation (0 when not relocated).
    pub own_types: usize,
}

/// The module `elf` (read from `path`), rewritten so that its `.BTF` is split BTF on `base`,
/// its `.BTF_ids` name the same types by the new ids, and it carries no `.BTF.base` and no
/// stale signature. A module without `.BTF.base` is returned unchanged.
pub fn for_kernel(path: &Path, elf: &[u8], base: Arc<Btf>) -> Result<ForKernel> {
    let at = |what: &str| format!("{}: {what}", path.display());
    let unsigned = kbtf_emit::modsig::strip(elf).with_context(|| at("module signature"))?;
    let Some(dbase_bytes) = section(unsigned, ".BTF.base").with_context(|| at("reading ELF"))?
    else {
        return Ok(ForKernel {
            bytes: elf.to_vec(),
            relocated: false,
            stripped_signature: false,
            own_types: 0,
        });
    };
    let btf_bytes = section(unsigned, ".BTF")
        .with_context(|| at("reading ELF"))?
        .with_context(|| at("it has .BTF.base but no .BTF section"))?;
    let dbase = Btf::parse(dbase_bytes, None).with_context(|| at("section .BTF.base"))?;
    let module =
        Btf::parse(btf_bytes, Some(Arc::new(dbase))).with_context(|| at("section .BTF"))?;
    let r = kbtf_dedup::relocate_dedup(&module, base.clone())
        .with_context(|| at("relocating its BTF onto the base"))?;
    let new_btf = r.btf.to_bytes();
    let mut out = set_section(unsigned, &SectionSpec::progbits(".BTF", &new_btf))
        .with_context(|| at("writing .BTF"))?;
    if let Some(dropped) =
        drop_section(&out, ".BTF.base").with_context(|| at("dropping .BTF.base"))?
    {
        out = dropped;
    }
    // .BTF_ids were resolved against the distilled BTF (by `-J`), or not at all.
    let module = Arc::new(module);
    if let Some(b) = crate::btf_ids::resolve(path, &out, &r.btf, &[module])? {
        out = b;
    }
    let note = Fingerprint::of(&base).to_note(r.btf.endian());
    out = set_section(
        &out,
        &SectionSpec {
            name: fingerprint::SECTION,
            data: &note,
            sh_type: 7, // SHT_NOTE
            flags: 0,
            align: 4,
        },
    )
    .with_context(|| at("writing the base fingerprint note"))?;
    Ok(ForKernel {
        bytes: out,
        relocated: true,
        stripped_signature: unsigned.len() != elf.len(),
        own_types: r.btf.own_types().len(),
    })
}
