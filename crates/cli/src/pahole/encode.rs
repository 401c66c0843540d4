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
    let base = match &a.btf_base {
        Some(p) => Some(kbtf_btf::read_base(p).context("reading --btf_base")?),
        None => None,
    };
    for (on, name) in [
        (a.features.distilled_base, "distilled_base"),
        (a.features.standalone, "standalone"),
    ] {
        if on {
            // Issue 5: until then the module gets ordinary split BTF, and the user is told.
            eprintln!("kbtf: warning: BTF feature '{name}' is not implemented yet; writing ordinary split BTF");
        }
    }
    let data = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let btf = encode(file, &data, base.clone(), a)?;
    let bytes = btf.to_bytes();
    if let Some(out) = &a.detached {
        kbtf_emit::write_raw(out, &bytes)?;
        return Ok(());
    }
    let note = base
        .as_ref()
        .map(|b| Fingerprint::of(b).to_note(btf.endian()));
    let out = ElfOutput {
        btf: &bytes,
        btf_base: None,
        fingerprint_note: note.as_deref().map(|n| (fingerprint::SECTION, n)),
    };
    if kbtf_emit::rewrite_file(file, &out)?.is_some() {
        eprintln!(
            "kbtf: warning: {}: its module signature no longer matched and was removed; the module is now unsigned",
            file.display()
        );
    }
    Ok(())
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
