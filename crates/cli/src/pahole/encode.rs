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
    let base = match &a.btf_base {
        Some(p) => {
            let _t = kbtf_btf::timing::stage("read base");
            Some(crate::basecache::read_base(p).context("reading --btf_base")?)
        }
        None => None,
    };
    // The bases the module's current .BTF may be split on, to make sense of a .BTF_ids that
    // was resolved (and its kfunc sets sorted) against it.
    let mut ids_bases = Vec::new();
    if let Some(p) = &a.btf_ids_base {
        ids_bases.push(kbtf_btf::read_base(p).context("reading --btf_ids_base")?);
    }
    let t = kbtf_btf::timing::stage("read input");
    let data = kbtf_btf::file::map_file(file)?;
    drop(t);
    let done_with = |part: &[u8]| data.release(part);
    let written = encode_file(
        file,
        &data,
        data.file(),
        &done_with,
        a,
        base,
        &ids_bases,
        key.as_ref(),
    )?;
    if a.detached.is_none() {
        crate::sign::report_written(file, written.stripped_signature, key.as_ref());
    }
    Ok(())
}

/// Files at least this large written into (a vmlinux, not a module) are copied to their
/// temp file while their DWARF is encoded: 590 MB of vmlinux take 0.24 s to copy even on
/// tmpfs, which would otherwise follow the encoding.
const PRECOPY_MIN: usize = 64 << 20;

/// Overrides [`PRECOPY_MIN`] (bytes), so that `cargo xtask crash-safety` can kill the pre-copy
/// path on a module; the output is the same bytes either way.
const PRECOPY_MIN_ENV: &str = "KBTF_PRECOPY_MIN";

fn precopy_min() -> usize {
    std::env::var(PRECOPY_MIN_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PRECOPY_MIN)
}

/// What [`encode_file`] wrote.
#[derive(Debug, Clone, Copy)]
pub struct Encoded {
    /// Bytes of `.BTF` plus `.BTF.base` written.
    pub btf_bytes: u64,
    /// Whether the file's module signature was removed (it no longer matched).
    pub stripped_signature: bool,
}

/// `-J` on one file whose bytes are `data`: encodes its DWARF with the flags of `a` on `base`
/// (already read: `a.btf_base` is not looked at, so that `kbtf regen` reads a base once for
/// every module) and writes the result into `file`, atomically, or to `a.detached`.
/// `ids_bases` are further vmlinux BTFs the module's `.BTF_ids` may have been resolved against.
/// With `key`, the module is signed after the rewrite. `source` is the open file `data` is
/// mapped from, if it is.
#[allow(clippy::too_many_arguments)]
pub fn encode_file(
    file: &Path,
    data: &[u8],
    source: Option<&std::fs::File>,
    done_with: &(dyn Fn(&[u8]) + Sync),
    a: &PaholeArgs,
    mut base: Option<Arc<Btf>>,
    ids_bases: &[Arc<Btf>],
    key: Option<&kbtf_modsign::SigningKey>,
) -> Result<Encoded> {
    let f = &a.features;
    // With --standalone, a --btf_base is only a hint of which kernel types the kernels the
    // module will meet have: nothing in the output refers to it.
    let hint = if f.standalone { base.take() } else { None };
    if f.distilled_base && !f.standalone && base.is_none() {
        bail!("--btf_features=distilled_base needs --btf_base (the vmlinux the module is built against); without a vmlinux use --standalone");
    }
    // A large file written into: its copy starts now, beside the encoding, rather than after
    // it (`PreCopy`).
    use crate::distilled::Unchanged;
    let from = match source {
        Some(src) if a.detached.is_none() && key.is_none() && data.len() >= precopy_min() => {
            Unchanged::Copied(kbtf_emit::PreCopy::start(file, src)?)
        }
        Some(src) => Unchanged::File(src),
        None => Unchanged::Bytes,
    };
    let kbtf_dedup::Deduped { btf, spent, .. } =
        encode_btf(file, data, done_with, base.clone(), a)?;
    let layout = if f.standalone {
        Layout::Distilled(crate::distilled::standalone(
            file,
            data,
            &btf,
            hint.as_deref(),
        )?)
    } else if f.distilled_base {
        Layout::Distilled(crate::distilled::from_split(file, data, &btf)?)
    } else {
        Layout::Split(btf)
    };
    let t = kbtf_btf::timing::stage("serialize");
    let (bytes, base_bytes) = match &layout {
        Layout::Split(btf) => (btf.to_bytes(), None),
        Layout::Distilled(d) => (d.split.to_bytes(), Some(d.base.to_bytes())),
    };
    let btf_bytes = (bytes.len() + base_bytes.as_ref().map_or(0, Vec::len)) as u64;
    drop(t);
    // Dedup's working memory goes back while the result is written and synced, not while it
    // was serialized (see `Spent`).
    drop(spent);
    let _t = kbtf_btf::timing::stage("write");
    if let Some(out) = &a.detached {
        if base_bytes.is_some() {
            bail!("distilled and standalone BTF are two sections (.BTF and .BTF.base); --btf_encode_detached cannot write them to one raw file");
        }
        kbtf_emit::write_raw(out, &bytes)?;
        return Ok(Encoded {
            btf_bytes,
            stripped_signature: false,
        });
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
    let mut bases = ids_bases.to_vec();
    bases.extend(base.iter().cloned());
    bases.extend(hint.iter().cloned());
    let stripped_signature =
        crate::distilled::write_module(file, data, from, &out, new_btf, &bases, strict, key)?;
    Ok(Encoded {
        btf_bytes,
        stripped_signature,
    })
}

/// What `-J` writes into the module.
enum Layout {
    /// `.BTF` as split BTF on the vmlinux given (or base BTF without one).
    Split(Btf),
    /// `.BTF` on a distilled `.BTF.base`.
    Distilled(kbtf_dedup::Distilled),
}

/// DWARF to deduplicated BTF, with `a`'s features and thread count (`a.btf_base` is not read).
/// `done_with` is told of parts of `data` the encoder no longer needs
/// ([`kbtf_encoder::Hooks::done_with`]). The id map is not made.
pub fn encode_btf(
    path: &Path,
    data: &[u8],
    done_with: &(dyn Fn(&[u8]) + Sync),
    base: Option<Arc<Btf>>,
    a: &PaholeArgs,
) -> Result<kbtf_dedup::Deduped> {
    let f = &a.features;
    let threads = match a.jobs {
        None => 1,
        Some(0) => std::thread::available_parallelism().map_or(1, |n| n.get()),
        Some(n) => n,
    };
    // `-jN` is at most N: a small input is faster on one.
    let asked = threads;
    let threads = kbtf_encoder::useful_threads(data, asked);
    if threads < asked {
        kbtf_btf::timing::note(|| {
            format!(
                "one thread of {asked}: .debug_info under {} KiB",
                kbtf_encoder::PARALLEL_MIN_DEBUG_INFO >> 10
            )
        });
    }
    let rules = super::run::rules_version()?;
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
        decl_tag_kfuncs: f.decl_tag_kfuncs,
        pahole_128_vars: rules >= (1, 28),
        pahole_130_lookup: rules >= (1, 30),
        threads,
    };
    // With worker threads, dedup's first passes run on each unit as it is merged, while the
    // workers read later units; on one thread that would only interleave the same work.
    // Only the BTF is wanted: `.BTF_ids` are patched by name, not through the id map.
    let dedup_opts = kbtf_dedup::DedupOptions::btf_only();
    let mut dedup =
        (threads > 1).then(|| kbtf_dedup::Incremental::for_base(base.clone(), &dedup_opts));
    let hooks = kbtf_encoder::Hooks {
        merged: &mut |flat, refs| {
            if let Some(d) = dedup.as_mut() {
                d.advance_unit(flat, kbtf_dedup::Added::new(refs.below_end, refs.own_only))
            }
        },
        // A vmlinux's DWARF is hundreds of megabytes: what was read gives its memory back.
        done_with,
    };
    let (raw, _) = kbtf_encoder::encode_flat_with(path, data, base, &opts, hooks)?;
    kbtf_btf::timing::note(|| {
        format!(
            "raw BTF: {} types, {} string bytes",
            raw.end_id() - raw.start_id(),
            raw.strings.as_bytes().len()
        )
    });
    let _t = kbtf_btf::timing::stage("dedup");
    let deduped = match dedup {
        Some(d) => d.finish(raw),
        None => kbtf_dedup::dedup_flat(raw, &dedup_opts),
    }
    .with_context(|| format!("deduplicating the BTF of {}", path.display()))?;
    Ok(deduped)
}
