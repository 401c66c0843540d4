//! `cargo xtask sizes`: what each module BTF layout costs, over every module of the 6.1 cloud
//! `-dbg` package: split `.BTF` (on vmlinux), distilled (`.BTF` + `.BTF.base`, against
//! vmlinux), standalone (`.BTF` + `.BTF.base`, no vmlinux) and full (the module's types with
//! everything they use, no base: what carrying "standalone" BTF without a distilled base
//! would cost). Writes a Markdown table to stdout (and to --out).

use crate::args::{Args, Positionals};
use crate::cache::{self, Index};
use crate::elf::Elf;
use crate::util;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

pub const USAGE: &str = "\
cargo xtask sizes [--kbtf PATH] [--jobs N] [--limit N] [--out FILE]

Encodes every 6.1 -dbg module four ways with kbtf (split, distilled, standalone, full) in
copies under /dev/shm and reports the total bytes of each, plus the failures.";

#[derive(Default, Clone, Copy)]
struct Sizes {
    split: u64,
    distilled: u64,
    distilled_base: u64,
    standalone: u64,
    standalone_base: u64,
    full: u64,
    /// Modules whose standalone / distilled BTF relocates onto the vmlinux.
    stand_relocates: u64,
    stand_hint_relocates: u64,
    dist_relocates: u64,
}

const FLAGS: &[&str] = &["-J", "-j1", "--btf_gen_floats", "--lang_exclude=rust"];
/// FLAGS' feature set (pahole 1.24's, with floats) plus distilled_base.
const DISTILLED: &str = "--btf_features=var,float,decl_tag,type_tag,enum64,distilled_base";

pub fn main(raw: &[String]) -> Result<()> {
    let Some(a) = Args::task(
        raw,
        &["kbtf", "jobs", "limit", "out"],
        &[],
        Positionals::None,
        USAGE,
    )?
    else {
        return Ok(());
    };
    let kbtf = crate::test::kbtf_bin(a.opt("kbtf"))?;
    let jobs: usize = match a.opt("jobs") {
        Some(j) => j.parse().context("--jobs")?,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let index = Index::load()?;
    let vmlinux = cache::KERNEL61.path(&index, "vmlinux_btf")?;
    let mut mods =
        crate::encode_test::find_modules(&cache::KERNEL61.path(&index, "dbg_modules_dir")?)?;
    mods.sort();
    if let Some(l) = a.opt("limit") {
        mods.truncate(l.parse().context("--limit")?);
    }
    let work = Path::new("/dev/shm").join(format!("kbtf-sizes-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let next = AtomicUsize::new(0);
    let totals = Mutex::new((Sizes::default(), Vec::<String>::new(), 0usize));
    std::thread::scope(|s| {
        for w in 0..jobs {
            let (mods, next, totals, kbtf, vmlinux, work) =
                (&mods, &next, &totals, &kbtf, &vmlinux, &work);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(m) = mods.get(i) else { break };
                let r = one(kbtf, vmlinux, m, &work.join(format!("w{w}")));
                let mut t = totals.lock().unwrap_or_else(|e| e.into_inner());
                match r {
                    Ok(s) => {
                        t.0.split += s.split;
                        t.0.distilled += s.distilled;
                        t.0.distilled_base += s.distilled_base;
                        t.0.standalone += s.standalone;
                        t.0.standalone_base += s.standalone_base;
                        t.0.full += s.full;
                        t.0.stand_relocates += s.stand_relocates;
                        t.0.stand_hint_relocates += s.stand_hint_relocates;
                        t.0.dist_relocates += s.dist_relocates;
                        t.2 += 1;
                    }
                    Err(e) => t.1.push(format!("{}: {e:#}", m.display())),
                }
                let done = t.2 + t.1.len();
                if done % 100 == 0 {
                    eprintln!("{done}/{}", mods.len());
                }
            });
        }
    });
    let _ = std::fs::remove_dir_all(&work);
    let (t, failed, n) = totals.into_inner().unwrap_or_else(|e| e.into_inner());
    let kib = |b: u64| format!("{:.1} KiB", b as f64 / 1024.0);
    let avg = |b: u64| format!("{:.0} B", b as f64 / n.max(1) as f64);
    let rel = |b: u64| format!("{:.2}×", b as f64 / t.split.max(1) as f64);
    let mut out = String::new();
    out.push_str(&format!(
        "{n} modules of {} (of {} found; {} failed)\n\n",
        index
            .get("kernel61_dbg_pkg")
            .unwrap_or("the 6.1 -dbg package"),
        mods.len(),
        failed.len()
    ));
    out.push_str("| layout | `.BTF` | `.BTF.base` | total | per module | vs split |\n");
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: |\n");
    let mut row = |name: &str, btf: u64, base: Option<u64>| {
        let total = btf + base.unwrap_or(0);
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} |\n",
            kib(btf),
            base.map_or("–".into(), kib),
            kib(total),
            avg(total),
            rel(total)
        ));
    };
    row("split (on vmlinux)", t.split, None);
    row("distilled base", t.distilled, Some(t.distilled_base));
    row("standalone", t.standalone, Some(t.standalone_base));
    row("full, no base", t.full, None);
    out.push_str(&format!(
        "\nRelocate onto the same vmlinux (`kbtf relocate`): distilled {} of {n}; standalone {} of {n}, \
         standalone with the vmlinux as a hint (`--standalone --btf_base`) {} of {n}.\n",
        t.dist_relocates, t.stand_relocates, t.stand_hint_relocates
    ));
    for f in &failed {
        out.push_str(&format!("\nfailed: {f}"));
    }
    println!("{out}");
    if let Some(p) = a.opt("out") {
        util::write_atomic(Path::new(p), out.as_bytes())?;
    }
    if !failed.is_empty() {
        bail!("{} module(s) failed", failed.len());
    }
    Ok(())
}

fn one(kbtf: &Path, vmlinux: &Path, m: &Path, dir: &Path) -> Result<Sizes> {
    std::fs::create_dir_all(dir)?;
    let copy = dir.join("m.ko");
    let run = |extra: &[&str]| -> Result<Elf> {
        std::fs::copy(m, &copy).with_context(|| format!("copying {}", m.display()))?;
        util::output(Command::new(kbtf).args(FLAGS).args(extra).arg(&copy))?;
        Elf::open(&copy)
    };
    let len = |e: &Elf, name: &str| e.section(name).map_or(0, |s| s.size);
    let vm = vmlinux.to_str().context("vmlinux path is not UTF-8")?;
    // The -dbg modules' .BTF_ids were resolved against this vmlinux at Debian's build.
    let split = run(&["--btf_base", vm, "--btf_ids_base", vm])?;
    let dist = run(&["--btf_base", vm, "--btf_ids_base", vm, DISTILLED])?;
    let stand = run(&["--standalone", "--btf_ids_base", vm])?;
    let raw = dir.join("full.btf");
    util::output(
        Command::new(kbtf)
            .args(FLAGS)
            .arg("--btf_encode_detached")
            .arg(&raw)
            .arg(m),
    )?;
    // Does it relocate onto the vmlinux (kbtf relocate)? Standalone fails where the module
    // uses a kernel-header type that vmlinux's BTF lacks.
    let relocates = |extra: &[&str], why: &mut Vec<String>| -> Result<u64> {
        std::fs::copy(m, &copy)?;
        util::output(Command::new(kbtf).args(FLAGS).args(extra).arg(&copy))?;
        let out = util::output_any(
            Command::new(kbtf)
                .args(["relocate", "--base", vm])
                .arg(&copy)
                .arg("-o")
                .arg(dir.join("rel.ko")),
        )?;
        if out.status.success() {
            return Ok(1);
        }
        let err = String::from_utf8_lossy(&out.stderr);
        why.push(
            err.rsplit(": ")
                .take(2)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join(": ")
                .trim()
                .to_string(),
        );
        Ok(0)
    };
    let mut why = Vec::new();
    let stand_relocates = relocates(&["--standalone", "--btf_ids_base", vm], &mut why)?;
    let mut hwhy = Vec::new();
    let stand_hint_relocates = relocates(
        &["--standalone", "--btf_base", vm, "--btf_ids_base", vm],
        &mut hwhy,
    )?;
    if let Some(w) = hwhy.first() {
        eprintln!(
            "standalone with a hint does not relocate: {}: {w}",
            m.display()
        );
    }
    let mut dwhy = Vec::new();
    let dist_relocates = relocates(
        &["--btf_base", vm, "--btf_ids_base", vm, DISTILLED],
        &mut dwhy,
    )?;
    if let Some(w) = why.first() {
        eprintln!("standalone does not relocate: {}: {w}", m.display());
    }
    if let Some(w) = dwhy.first() {
        eprintln!("distilled does not relocate: {}: {w}", m.display());
    }
    Ok(Sizes {
        stand_relocates,
        stand_hint_relocates,
        dist_relocates,
        split: len(&split, ".BTF"),
        distilled: len(&dist, ".BTF"),
        distilled_base: len(&dist, ".BTF.base"),
        standalone: len(&stand, ".BTF"),
        standalone_base: len(&stand, ".BTF.base"),
        full: std::fs::metadata(&raw)?.len(),
    })
}
