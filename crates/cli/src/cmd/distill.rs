//! `kbtf distill`: give an already built module (split `.BTF` on its vmlinux, no DWARF
//! needed) a distilled base, as `-J --btf_features=+distilled_base` would have.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use kbtf_emit::ElfOutput;

/// Rewrite a module's split BTF as split BTF on a distilled base (.BTF + .BTF.base).
///
/// Reads the module's .BTF on BASE (the vmlinux it was built against), distills it as libbpf's
/// btf__distill_base does, and writes .BTF and .BTF.base back with .BTF_ids resolved against
/// the distilled ids: the module then relocates natively on Linux 6.11+ and with `kbtf
/// relocate` / `kbtf load` elsewhere. The module is rewritten in place (atomically) or to -o;
/// its signature, which no longer matches, is removed, or made again with
/// --sign-key/--sign-cert.
#[derive(clap::Args)]
pub struct Args {
    /// The module (.ko) with split .BTF.
    module: PathBuf,
    /// The vmlinux BTF the module's .BTF was built against (raw BTF or ELF).
    #[arg(long, short = 'B')]
    base: PathBuf,
    /// Write the result here instead of rewriting the module in place.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    #[command(flatten)]
    sign: crate::sign::SignArgs,
}

pub fn run(args: Args) -> Result<u8> {
    let at = |what: &str| format!("{}: {what}", args.module.display());
    let key = args.sign.load()?;
    let base = kbtf_btf::read_base(&args.base).context("reading --base")?;
    let elf = std::fs::read(&args.module).with_context(|| at("reading"))?;
    let unsigned = kbtf_emit::modsig::strip(&elf).with_context(|| at("module signature"))?;
    if kbtf_emit::elf::section(unsigned, ".BTF.base")
        .with_context(|| at("reading ELF"))?
        .is_some()
    {
        bail!("{}", at("already has .BTF.base: its BTF is distilled"));
    }
    let btf_bytes = kbtf_emit::elf::section(unsigned, ".BTF")
        .with_context(|| at("reading ELF"))?
        .with_context(|| at("no .BTF section"))?;
    let split = kbtf_btf::Btf::parse(btf_bytes, Some(base.clone()))
        .with_context(|| at("section .BTF, read on --base"))?;
    let d = crate::distilled::from_split(&args.module, unsigned, &split)?;
    let (btf, dbase) = (d.split.to_bytes(), d.base.to_bytes());
    let out = ElfOutput {
        btf: &btf,
        btf_base: Some(&dbase),
        fingerprint_note: None,
    };
    let rewritten = kbtf_emit::rewrite(unsigned, &out).with_context(|| at("writing"))?;
    let previous = [Arc::new(split)];
    let bytes = crate::btf_ids::resolve(&args.module, &rewritten.bytes, &d.split, &previous)?
        .unwrap_or(rewritten.bytes);
    let dest = args.output.as_ref().unwrap_or(&args.module);
    let bytes = match &key {
        Some(k) => crate::sign::sign(dest, &bytes, k)?,
        None => bytes,
    };
    kbtf_emit::write_atomic(dest, &bytes)?;
    crate::sign::report_written(dest, unsigned.len() != elf.len(), key.as_ref());
    println!(
        "{}: .BTF {} bytes on a distilled .BTF.base of {} types ({} bytes); split .BTF was {} bytes",
        dest.display(),
        btf.len(),
        d.base.own_types().len(),
        dbase.len(),
        btf_bytes.len()
    );
    Ok(crate::EXIT_OK)
}
