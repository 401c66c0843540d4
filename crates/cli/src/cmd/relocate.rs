//! `kbtf relocate`: give a module with distilled BTF (`.BTF` + `.BTF.base`) ordinary split
//! BTF for one vmlinux, so that kernels without native relocation (before 6.11) load it.

use std::path::PathBuf;

use anyhow::{Context, Result};

/// Relocate a module's distilled BTF onto a vmlinux BTF.
///
/// Turns `.BTF` on `.BTF.base` into split BTF on BASE: base types matched by name, kind and
/// size, module types equal to vmlinux types folded onto them, `.BTF_ids` resolved again.
/// The module is rewritten in place (atomically), or written to -o. Its signature, which no
/// longer matches, is removed, or made again with --sign-key/--sign-cert.
#[derive(clap::Args)]
pub struct Args {
    /// The module (.ko) with `.BTF` and `.BTF.base`.
    module: PathBuf,
    /// The vmlinux BTF to relocate onto: /sys/kernel/btf/vmlinux, raw BTF or a vmlinux ELF.
    #[arg(long, short = 'B', default_value = "/sys/kernel/btf/vmlinux")]
    base: PathBuf,
    /// Write the result here instead of rewriting the module in place.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    #[command(flatten)]
    sign: crate::sign::SignArgs,
}

pub fn run(args: Args) -> Result<u8> {
    let key = args.sign.load()?;
    let base = kbtf_btf::read_base(&args.base).context("reading --base")?;
    let elf = std::fs::read(&args.module)
        .with_context(|| format!("reading {}", args.module.display()))?;
    let r = crate::relocate::for_kernel(&args.module, &elf, base)?;
    if !r.relocated {
        anyhow::bail!(
            "{}: no .BTF.base section: its BTF is not distilled, so there is nothing to relocate (build it with --btf_features=+distilled_base or --standalone)",
            args.module.display()
        );
    }
    let out = args.output.as_ref().unwrap_or(&args.module);
    let bytes = match &key {
        Some(k) => crate::sign::sign(out, &r.bytes, k)?,
        None => r.bytes,
    };
    kbtf_emit::write_atomic(out, &bytes)?;
    crate::sign::report_written(out, r.stripped_signature, key.as_ref());
    println!(
        "{}: relocated onto {}: {} module types",
        out.display(),
        args.base.display(),
        r.own_types
    );
    Ok(crate::EXIT_OK)
}
