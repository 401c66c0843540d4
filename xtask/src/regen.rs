//! `cargo xtask regen`: `kbtf regen` with the release binary, and its acceptance over the
//! Debian 6.1 cloud `-dbg` module tree (every module rewritten; in parallel, faster than a
//! serial loop of `kbtf -J`, and byte for byte the same result).

use crate::args::Args;
use crate::cache::{self, Index};
use crate::util;
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub const USAGE: &str = "\
cargo xtask regen TREE [kbtf regen options...]
cargo xtask regen --acceptance [--scratch DIR] [--jobs N]

The first form builds the release kbtf and runs `kbtf regen TREE ...` (see `kbtf regen
--help`). --acceptance copies the 6.1 -dbg module tree (kernel61_dbg_modules_dir) twice
into DIR (default /dev/shm/kbtf-regen), runs `kbtf regen -jN` (default 2) over one copy
and a serial shell loop of `kbtf -J --btf_base` over the other, times both, checks that
every module was rewritten and that both copies are byte for byte the same.";

/// The flags kbuild 6.1 passes to pahole 1.24 (`-j` aside): kbtf regen's default.
const KBUILD_FLAGS: &str = "--btf_gen_floats --lang_exclude=rust";

pub fn main(raw: &[String]) -> Result<()> {
    if raw.first().map(String::as_str) != Some("--acceptance") {
        if raw.is_empty() || raw.iter().any(|a| a == "--help" || a == "-h") {
            println!("{USAGE}");
            return Ok(());
        }
        let kbtf = crate::test::kbtf_release_bin()?;
        let status = Command::new(&kbtf)
            .arg("regen")
            .args(raw)
            .status()
            .with_context(|| format!("starting {}", kbtf.display()))?;
        if !status.success() {
            bail!("kbtf regen: {status}");
        }
        return Ok(());
    }
    let a = Args::parse(&raw[1..], &["scratch", "jobs", "kbtf"], &[])?;
    let scratch = PathBuf::from(a.opt("scratch").unwrap_or("/dev/shm/kbtf-regen"));
    let jobs = a.opt("jobs").unwrap_or("2");
    let kbtf = match a.opt("kbtf") {
        Some(k) => PathBuf::from(k),
        None => crate::test::kbtf_release_bin()?,
    };
    acceptance(&kbtf, &scratch, jobs)
}

fn acceptance(kbtf: &Path, scratch: &Path, jobs: &str) -> Result<()> {
    let index = Index::load()?;
    let tree = cache::KERNEL61.path(&index, "dbg_modules_dir")?;
    let vmlinux = cache::KERNEL61.path(&index, "vmlinux_btf")?;
    let modules = list_modules(&tree)?;
    println!("{} modules in {}", modules.len(), tree.display());
    // A copy of the binary: a rebuild while the serial loop runs must not change it.
    std::fs::create_dir_all(scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let copy = scratch.join("kbtf");
    std::fs::copy(kbtf, &copy).with_context(|| format!("copying {}", kbtf.display()))?;
    let kbtf = copy.as_path();
    let (par, ser) = (scratch.join("parallel"), scratch.join("serial"));
    for d in [&par, &ser] {
        if d.exists() {
            std::fs::remove_dir_all(d).with_context(|| format!("removing {}", d.display()))?;
        }
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        util::run(
            Command::new("cp")
                .arg("-a")
                .arg(format!("{}/.", tree.display()))
                .arg(d),
        )?;
    }

    println!(
        "== kbtf regen {} --vmlinux {} -j{jobs}",
        par.display(),
        vmlinux.display()
    );
    let (t, cpu) = (Instant::now(), util::children_cpu());
    let out = util::output_any(
        Command::new(kbtf)
            .arg("regen")
            .arg(&par)
            .arg("--vmlinux")
            .arg(&vmlinux)
            .arg(format!("-j{jobs}")),
    )?;
    let parallel = t.elapsed().as_secs_f64();
    let parallel_cpu = util::children_cpu() - cpu;
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    ensure!(out.status.success(), "kbtf regen failed: {}", out.status);
    let done: usize = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("done")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .context("no `done N` line in kbtf regen's summary")?;
    ensure!(
        done == modules.len(),
        "kbtf regen rewrote {done} of {} modules",
        modules.len()
    );

    println!(
        "== serial loop: kbtf -J {KBUILD_FLAGS} --btf_base {} MODULE, one module after the other",
        vmlinux.display()
    );
    let (t, cpu) = (Instant::now(), util::children_cpu());
    let script = format!(
        "set -e; find \"$1\" -name '*.ko' | while read -r m; do \"$2\" -J {KBUILD_FLAGS} --btf_base \"$3\" \"$m\"; done"
    );
    util::run(
        Command::new("sh")
            .args(["-c", &script, "sh"])
            .arg(&ser)
            .arg(kbtf)
            .arg(&vmlinux),
    )?;
    let serial = t.elapsed().as_secs_f64();
    let serial_cpu = util::children_cpu() - cpu;

    let mut differ = Vec::new();
    let mut changed = 0;
    for m in &modules {
        let rel = m.strip_prefix(&tree)?;
        let (p, s) = (util::read(&par.join(rel))?, util::read(&ser.join(rel))?);
        if p != s {
            differ.push(rel.display().to_string());
        }
        if p != util::read(m)? {
            changed += 1;
        }
    }
    println!(
        "kbtf regen -j{jobs}: {parallel:.1} s (CPU {parallel_cpu:.1} s); serial loop: {serial:.1} s (CPU {serial_cpu:.1} s); {:.2}x faster; {} of {} modules byte-identical between the two, {changed} differ from the original files",
        serial / parallel,
        modules.len() - differ.len(),
        modules.len()
    );
    ensure!(
        differ.is_empty(),
        "regen and the serial loop differ for: {}",
        differ.join(" ")
    );
    ensure!(
        parallel < serial,
        "kbtf regen ({parallel:.1} s) was not faster than the serial loop ({serial:.1} s)"
    );
    for d in [&par, &ser] {
        let _ = std::fs::remove_dir_all(d);
    }
    println!("regen acceptance: passed");
    Ok(())
}

/// Every `*.ko` under `dir`, sorted.
pub fn list_modules(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else if e.file_name().to_string_lossy().ends_with(".ko") {
                out.push(e.path());
            }
        }
    }
    out.sort();
    Ok(out)
}
