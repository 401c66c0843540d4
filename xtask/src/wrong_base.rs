//! `cargo xtask wrong-base`: reproduce the field bug of module BTF built against another
//! build's vmlinux.
//!
//! For every module of the 6.1 `-dbg` package (the modules with DWARF), pahole 1.24 regenerates
//! the module's `.BTF` against the OLDER build's vmlinux BTF (`kernel61_old_vmlinux_btf`), as a
//! distro build host with a stale vmlinux would. The resulting split BTF is saved under
//! `<cache>/wrong-base/<path inside kernel/>.btf`; the real-kernel tests check it against the
//! RIGHT vmlinux (`kbtf check` must reject every one), and `--modules` builds loadable copies of
//! the shipped modules carrying that BTF (signature stripped) for the qemu boot.

use crate::args::{Args, Positionals};
use crate::cache::{self, Index};
use crate::util;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

pub const USAGE: &str = "\
cargo xtask wrong-base [--limit N] [--modules DIR NAME...]

Regenerates every 6.1 module's .BTF with pahole against the older build's vmlinux BTF
into <cache>/wrong-base (skipping those already there) and records wrong_base_dir in the
index. With --modules DIR, also writes DIR/NAME.ko for each NAME: the shipped module with
its .BTF replaced by the wrong-base one and its signature stripped, ready for kernel-test.";

pub fn main(raw: &[String]) -> Result<()> {
    let Some(a) = Args::task(raw, &["limit", "modules"], &[], Positionals::Any, USAGE)? else {
        return Ok(());
    };
    let limit: usize = match a.opt("limit") {
        Some(n) => n.parse().with_context(|| format!("--limit {n}"))?,
        None => usize::MAX,
    };
    let mut index = Index::load()?;
    let out_dir = generate(&index, limit)?;
    index.set_path("wrong_base_dir", &out_dir);
    index.save()?;
    if let Some(dir) = a.opt("modules") {
        for name in &a.positional {
            let p = loadable_module(&index, &out_dir, name, Path::new(dir))?;
            println!("{}", p.display());
        }
    } else if !a.positional.is_empty() {
        bail!("module names need --modules DIR\n{USAGE}");
    }
    Ok(())
}

/// All `.ko` files under `dir`, as paths relative to it, sorted.
fn modules_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let p = e
                .with_context(|| format!("listing {}", d.display()))?
                .path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "ko") {
                out.push(p.strip_prefix(dir).unwrap_or(&p).to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

fn generate(index: &Index, limit: usize) -> Result<PathBuf> {
    let old_base = index.path("kernel61_old_vmlinux_btf")?;
    let out_dir = cache::root()?.join("wrong-base");
    let dbg = index.path("kernel61_dbg_modules_dir")?;
    regen_modules(&dbg, &old_base, &out_dir, limit, &[])?;
    Ok(out_dir)
}

/// Regenerates the `.BTF` of every `-dbg` module under `dbg` (at most `limit`) with pahole 1.24
/// against `base`, into `out_dir/<path under kernel/>.btf`, skipping those already there.
pub fn regen_modules(
    dbg: &Path,
    base: &Path,
    out_dir: &Path,
    limit: usize,
    flags: &'static [&'static str],
) -> Result<()> {
    let dbg = dbg.to_path_buf();
    let old_base = base.to_path_buf();
    let out_dir = out_dir.to_path_buf();
    let work = out_dir.join(".work");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let mods: Vec<PathBuf> = modules_under(&dbg)?.into_iter().take(limit).collect();
    let next = AtomicUsize::new(0);
    let errors = Mutex::new(Vec::new());
    let made = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for worker in 0..2 {
            let (mods, next, errors, made, work) = (&mods, &next, &errors, &made, &work);
            let (dbg, old_base, out_dir) = (&dbg, &old_base, &out_dir);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(rel) = mods.get(i) else { break };
                let dest = out_dir.join(rel).with_extension("btf");
                if dest.exists() {
                    continue;
                }
                let tmp_ko = work.join(format!("w{worker}.ko"));
                match regenerate(&dbg.join(rel), old_base, flags, &tmp_ko, &dest) {
                    Ok(()) => {
                        made.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("{e:#}")),
                }
            });
        }
    });
    let errors = errors.into_inner().unwrap_or_else(|p| p.into_inner());
    // The scratch copies must not be taken for results by tests walking out_dir.
    std::fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;
    println!(
        "pahole -J --btf_base {}: {} modules, {} regenerated now, {} failed, in {}",
        old_base.display(),
        mods.len(),
        made.load(Ordering::Relaxed),
        errors.len(),
        out_dir.display()
    );
    for e in errors.iter().take(10) {
        eprintln!("  {e}");
    }
    if !errors.is_empty() {
        bail!("{} module(s) could not be regenerated", errors.len());
    }
    Ok(())
}

/// pahole -J --btf_base OLD on a copy of the -dbg module, then saves its .BTF atomically.
fn regenerate(
    src: &Path,
    old_base: &Path,
    flags: &[&str],
    tmp_ko: &Path,
    dest: &Path,
) -> Result<()> {
    std::fs::copy(src, tmp_ko).with_context(|| format!("copying {}", src.display()))?;
    util::output(
        Command::new("pahole")
            .env("LLVM_OBJCOPY", "objcopy")
            .arg("-J")
            .args(flags)
            .arg("--btf_base")
            .arg(old_base)
            .arg(tmp_ko),
    )
    .with_context(|| format!("pahole on {}", src.display()))?;
    let tmp_btf = tmp_ko.with_extension("btf");
    util::output(
        Command::new("objcopy")
            .arg(format!("--dump-section=.BTF={}", tmp_btf.display()))
            .arg(tmp_ko),
    )?;
    util::write_atomic(dest, &util::read(&tmp_btf)?)
}

/// The shipped module NAME (found in modules.dep) with its .BTF replaced by the wrong-base
/// one and the signature stripped, written to `dir/NAME.ko`.
fn loadable_module(index: &Index, out_dir: &Path, name: &str, dir: &Path) -> Result<PathBuf> {
    let shipped = index.path("kernel61_modules_dir")?;
    let rel = modules_under(&shipped)?
        .into_iter()
        .find(|p| {
            p.file_stem()
                .is_some_and(|s| s.to_string_lossy().replace('-', "_") == name.replace('-', "_"))
        })
        .with_context(|| format!("no module {name} under {}", shipped.display()))?;
    let btf = out_dir.join(&rel).with_extension("btf");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dest = dir.join(format!("{name}.ko"));
    let signed = util::read(&shipped.join(&rel))?;
    let unsigned = crate::modsig::strip(&signed)?;
    let tmp = util::tmp_sibling(&dest);
    std::fs::write(&tmp, unsigned).with_context(|| format!("writing {}", tmp.display()))?;
    util::output(
        Command::new("objcopy")
            .arg(format!("--update-section=.BTF={}", btf.display()))
            .arg(&tmp)
            .arg(&dest),
    )?;
    let _ = std::fs::remove_file(&tmp);
    Ok(dest)
}
