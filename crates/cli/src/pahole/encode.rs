//! `kbtf -J`: encode the DWARF of one ELF file into BTF, deduplicate it, and write it as pahole
//! does: into the file's `.BTF` section (atomically, in place), or as a raw file with
//! `--btf_encode_detached`.
//!
//! With `--btf_base` the result is split BTF on that base (a module on its vmlinux), and the
//! module also gets kbtf's base fingerprint note, so that `kbtf check` can later tell for
//! certain whether a vmlinux is the one it was built against.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use kbtf_btf::fingerprint::{self, Fingerprint};
use kbtf_btf::Btf;
use kbtf_emit::ElfOutput;

use super::args::PaholeArgs;

pub fn run(a: &PaholeArgs) -> Result<()> {
    let [file] = a.files.as_slice() else {
        bail!("-J takes exactly one input file, got {}", a.files.len());
    };
    let key = crate::sign::load(a.sign_key.as_deref(), a.sign_cert.as_deref(), a.sign_hash)?;
    if key.is_some() && a.detached.is_some() {
        bail!("--sign-key signs a module; --btf_encode_detached writes raw BTF, which has no signature");
    }
    let mut base = match &a.btf_base {
        Some(p) => Some(kbtf_btf::read_base(p).context("reading --btf_base")?),
        None => None,
    };
    let f = &a.features;
    // With --standalone, a --btf_base is only a hint of which kernel types the kernels the
    // module will meet have: nothing in the output refers to it.
    let hint = if f.standalone { base.take() } else { None };
    if f.distilled_base && !f.standalone && base.is_none() {
        bail!("--btf_features=distilled_base needs --btf_base (the vmlinux the module is built against); without a vmlinux use --standalone");
    }
    let data = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let btf = encode(file, &data, base.clone(), a)?;
    let layout = if f.standalone {
        Layout::Distilled(crate::distilled::standalone(
            file,
            &data,
            &btf,
            hint.as_deref(),
        )?)
    } else if f.distilled_base {
        Layout::Distilled(crate::distilled::from_split(file, &data, &btf)?)
    } else {
        Layout::Split(btf)
    };
    let (bytes, base_bytes) = match &layout {
        Layout::Split(btf) => (btf.to_bytes(), None),
        Layout::Distilled(d) => (d.split.to_bytes(), Some(d.base.to_bytes())),
    };
    if let Some(out) = &a.detached {
        if base_bytes.is_some() {
            bail!("distilled and standalone BTF are two sections (.BTF and .BTF.base); --btf_encode_detached cannot write them to one raw file");
        }
        kbtf_emit::write_raw(out, &bytes)?;
        return Ok(());
    }
    // A distilled module describes its base itself; only split BTF records which vmlinux it
    // was built on.
    let note = match (&layout, &base) {
        (Layout::Split(btf), Some(b)) => Some(Fingerprint::of(b).to_note(btf.endian())),
        _ => None,
    };
    let out = ElfOutput {
        btf: &bytes,
        btf_base: base_bytes.as_deref(),
        fingerprint_note: note.as_deref().map(|n| (fingerprint::SECTION, n)),
    };
    let (new_btf, strict) = match &layout {
        Layout::Distilled(d) => (&d.split, true),
        Layout::Split(btf) => (btf, false),
    };
    // The bases the module's current .BTF may be split on, to make sense of a .BTF_ids that
    // was resolved (and its kfunc sets sorted) against it.
    let mut bases = Vec::new();
    if let Some(p) = &a.btf_ids_base {
        bases.push(kbtf_btf::read_base(p).context("reading --btf_ids_base")?);
    }
    bases.extend(base.iter().cloned());
    bases.extend(hint.iter().cloned());
    let stripped =
        crate::distilled::write_module(file, &out, new_btf, &bases, strict, key.as_ref())?;
    crate::sign::report_written(file, stripped, key.as_ref());
    Ok(())
}

/// What `-J` writes into the module.
enum Layout {
    /// `.BTF` as split BTF on the vmlinux given (or base BTF without one).
    Split(Btf),
    /// `.BTF` on a distilled `.BTF.base`.
    Distilled(kbtf_dedup::Distilled),
}

/// DWARF to deduplicated BTF.
fn encode(path: &Path, data: &[u8], base: Option<Arc<Btf>>, a: &PaholeArgs) -> Result<Btf> {
    let f = &a.features;
    let threads = match a.jobs {
        None => 1,
        Some(0) => std::thread::available_parallelism().map_or(1, |n| n.get()),
        Some(n) => n,
    };
    let opts = kbtf_encoder::EncodeOptions {
        gen_floats: f.float,
        lang_exclude_rust: a.lang_exclude.iter().any(|l| l == "rust"),
        skip_encoding_vars: !f.var,
        skip_decl_tag: !f.decl_tag,
        skip_type_tag: !f.type_tag,
        skip_enum64: !f.enum64,
        global_var: f.global_var,
        optimized_func: f.optimized_func,
        consistent_func: f.consistent_func,
        threads,
    };
    let raw = kbtf_encoder::encode(path, data, base, &opts)?;
    let deduped = kbtf_dedup::dedup(&raw, &kbtf_dedup::DedupOptions::default())
        .with_context(|| format!("deduplicating the BTF of {}", path.display()))?;
    Ok(deduped.btf)
}
