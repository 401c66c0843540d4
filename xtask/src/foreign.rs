//! What `cargo xtask arm64` and `cargo xtask s390x` check on a Debian kernel of another
//! architecture, against pahole 1.24 run single-threaded on the same files:
//!
//! 1. the `-dbg` vmlinux, detached, at `-j1` and `-j2`: byte for byte. (Not the `.BTF`
//!    Debian's build wrote: pahole 1.24 ran there with `-j`, which keeps some static
//!    functions single-threaded pahole drops; on arm64 6.1, 119 of them.)
//! 2. every `-dbg` module (or every K-th), detached split BTF on that vmlinux: byte for byte;
//! 3. the kernel itself in qemu (TCG) judges modules kbtf rewrote in place (the sample of
//!    `encode-test`, with their dependencies as shipped): each must get
//!    `/sys/kernel/btf/<module>`; and, as the control that the check can fail, dummy.ko
//!    with its first type's name offset corrupted must not;
//! 4. on a kernel that relocates module BTF itself (Linux 6.11+), the same modules rewritten
//!    with distilled BTF (`.BTF.base`) on another build's vmlinux BTF (a `pahole -j`
//!    re-encode, whose ids differ) load with `/sys/kernel/btf/<module>` too, and what the
//!    kernel made of each must mean what the module's split BTF means, but for the copies of
//!    vmlinux types the relocation leaves unmerged (`resilience::beyond_unmerged`).

use crate::guest::Machine;
use crate::kernel_test::{self, Options};
use crate::{elf, encode_test, kernel_selftest, util};
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// kbuild 6.1's and 6.12's flags for pahole 1.24, less `-j`.
pub const FLAGS: &[&str] = &["--btf_gen_floats", "--lang_exclude=rust"];

/// One unpacked foreign kernel.
pub struct Kernel {
    /// How messages name it (`arm64`, `s390x 6.12`).
    pub label: String,
    /// The image package's root: boot/vmlinuz-*, lib/modules/RELEASE.
    pub image: PathBuf,
    /// The `-dbg` vmlinux.
    pub vmlinux: PathBuf,
    /// The `-dbg` modules (`.../lib/modules/RELEASE/kernel`).
    pub dbg_modules: PathBuf,
    /// The kernel relocates a module's BTF onto its own through `.BTF.base` (Linux 6.11+).
    pub relocates: bool,
}

impl Kernel {
    /// The kernel of an unpacked image package `image` and `-dbg` package `dbg` of release
    /// `release`, checked to have the `-dbg` package's layout.
    pub fn unpacked(
        label: String,
        relocates: bool,
        image: PathBuf,
        dbg: &Path,
        release: &str,
    ) -> Result<Kernel> {
        let kernel = Kernel {
            label,
            relocates,
            image,
            vmlinux: dbg.join(format!("usr/lib/debug/boot/vmlinux-{release}")),
            dbg_modules: dbg.join(format!("usr/lib/debug/lib/modules/{release}/kernel")),
        };
        ensure!(
            kernel.vmlinux.is_file() && kernel.dbg_modules.is_dir(),
            "{}: not the -dbg package's layout",
            dbg.display()
        );
        Ok(kernel)
    }
}

/// The guest `machine` with `--timeout` (default 300 s: debug modules, emulated), or none
/// with `--no-qemu`.
pub fn guest(
    a: &crate::args::Args,
    machine: impl FnOnce() -> Result<Machine>,
) -> Result<Option<Machine>> {
    if a.flag("no-qemu") {
        return Ok(None);
    }
    let mut machine = machine()?;
    machine.timeout = match a.opt("timeout") {
        Some(t) => t
            .parse()
            .with_context(|| format!("--timeout: not a number: {t:?}"))?,
        None => 300,
    };
    Ok(Some(machine))
}

/// Runs checks 1 to 3 (3 only with a `machine`) on every `every`-th module.
pub fn check(
    kbtf: &Path,
    k: &Kernel,
    min_modules: usize,
    every: usize,
    machine: Option<Machine>,
    work: &Path,
) -> Result<()> {
    let all = crate::regen::list_modules(&k.dbg_modules)?;
    ensure!(
        all.len() >= min_modules,
        "{}: {} modules, expected at least {min_modules} ({})",
        k.dbg_modules.display(),
        all.len(),
        k.label
    );
    vmlinux(kbtf, k, work)?;
    modules(kbtf, k, &all, every, work)?;
    if let Some(machine) = machine {
        boot(kbtf, k, &all, machine, work)?;
    }
    Ok(())
}

/// `--every K`, default 1.
pub fn every(opt: Option<&str>) -> Result<usize> {
    match opt {
        Some(k) => k
            .parse()
            .ok()
            .filter(|&k| k > 0)
            .with_context(|| format!("--every: not a positive number: {k:?}")),
        None => Ok(1),
    }
}

/// `tool -J FLAGS [extra] --btf_encode_detached OUT INPUT`, OUT removed first: pahole 1.24
/// opens it without truncating, so a shorter BTF would keep the old file's tail.
fn detached(tool: &Path, extra: &[&str], input: &Path, out: &Path) -> Result<()> {
    match std::fs::remove_file(out) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", out.display()))
        }
        _ => {}
    }
    util::run(
        Command::new(tool)
            .arg("-J")
            .args(FLAGS)
            .args(extra)
            .arg(format!("--btf_encode_detached={}", out.display()))
            .arg(input),
    )
}

fn vmlinux(kbtf: &Path, k: &Kernel, work: &Path) -> Result<()> {
    let label = &k.label;
    let reference = work.join("vmlinux.pahole.btf");
    detached(Path::new("pahole"), &[], &k.vmlinux, &reference)?;
    let want = util::read(&reference)?;
    for j in ["-j1", "-j2"] {
        let out = work.join(format!("vmlinux{j}.btf"));
        detached(kbtf, &[j], &k.vmlinux, &out)?;
        ensure!(
            util::read(&out)? == want,
            "{label} vmlinux {j}: kbtf's BTF differs from pahole 1.24's (kbtf diff {} {})",
            out.display(),
            reference.display()
        );
    }
    println!(
        "{label} vmlinux: kbtf -j1 and -j2 byte-identical to pahole 1.24 ({} bytes)",
        want.len()
    );
    Ok(())
}

/// Every `every`-th `-dbg` module of `all`, kbtf and pahole each writing detached split BTF
/// on the vmlinux, two modules at a time.
fn modules(kbtf: &Path, k: &Kernel, all: &[PathBuf], every: usize, work: &Path) -> Result<()> {
    let chosen: Vec<&PathBuf> = all.iter().step_by(every).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let base = k.vmlinux.display().to_string();
    let results: Vec<Result<Vec<String>>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let (next, chosen, base) = (&next, &chosen, &base);
                s.spawn(move || -> Result<Vec<String>> {
                    let mut differ = Vec::new();
                    let (kout, pout) = (
                        work.join(format!("m{w}.kbtf.btf")),
                        work.join(format!("m{w}.pahole.btf")),
                    );
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(m) = chosen.get(i) else {
                            return Ok(differ);
                        };
                        let extra = ["--btf_base", base.as_str()];
                        detached(kbtf, &extra, m, &kout)?;
                        detached(Path::new("pahole"), &extra, m, &pout)?;
                        if util::read(&kout)? != util::read(&pout)? {
                            differ.push(m.display().to_string());
                            if differ.len() == 10 {
                                return Ok(differ);
                            }
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a worker panicked")))
            })
            .collect()
    });
    let mut differ = Vec::new();
    for r in results {
        differ.extend(r?);
    }
    let label = &k.label;
    ensure!(
        differ.is_empty(),
        "{label} modules differ from pahole 1.24 (a worker stops at its tenth): {}",
        differ.join(" ")
    );
    println!(
        "{label} modules: {} of {} (every {every}), each byte-identical to pahole 1.24",
        chosen.len(),
        all.len()
    );
    Ok(())
}

/// The kernel loads the sample modules (from `dbg`, the `-dbg` modules) kbtf rewrote, and
/// refuses a corrupted one. A sample module the architecture does not build is left out.
fn boot(kbtf: &Path, k: &Kernel, dbg: &[PathBuf], machine: Machine, work: &Path) -> Result<()> {
    let label = &k.label;
    let names: Vec<&str> = encode_test::SAMPLE
        .iter()
        .copied()
        .filter(|name| {
            let there = find(dbg, name).is_some();
            if !there {
                println!("{label}: no {name}.ko among the -dbg modules, left out");
            }
            there
        })
        .collect();
    if !names.contains(&"dummy") {
        bail!("{label}: dummy.ko, the control's module, is not among the -dbg modules");
    }
    ensure!(
        names.len() * 4 >= encode_test::SAMPLE.len() * 3,
        "{label}: only {} of the {} sample modules are built",
        names.len(),
        encode_test::SAMPLE.len()
    );
    let dir = work.join("rewritten");
    let paths = rewrite(kbtf, dbg, &names, &k.vmlinux, &[], &dir)?;
    load_all(k, &names, paths, &machine, "split BTF", None)?;
    if k.relocates {
        // Another build's vmlinux BTF: pahole -j's type order differs from run to run.
        let other = work.join("vmlinux-other.btf");
        detached(Path::new("pahole"), &["-j"], &k.vmlinux, &other)?;
        ensure!(
            util::read(&other)? != elf::Elf::open(&k.vmlinux)?.section_bytes(".BTF")?,
            "{}: the re-encode is the vmlinux's own .BTF; it does not stand for another build",
            other.display()
        );
        let dir = work.join("distilled");
        let vmlinux = k.vmlinux.to_str().context("vmlinux path")?;
        let extra = ["--btf_ids_base", vmlinux, crate::resilience::DISTILLED];
        let paths = rewrite(kbtf, dbg, &names, &other, &extra, &dir)?;
        for p in &paths {
            ensure!(
                elf::Elf::open(Path::new(p))?.section(".BTF.base").is_some(),
                "{p}: kbtf wrote no .BTF.base with distilled_base"
            );
        }
        let kept = work.join("relocated");
        let _ = std::fs::remove_dir_all(&kept);
        load_all(
            k,
            &names,
            paths,
            &machine,
            "BTF distilled on another build's vmlinux, relocated by the kernel",
            Some(kept.clone()),
        )?;
        // The kernel's word is not proof: what it made of each module must mean what the
        // split BTF on its own vmlinux means.
        let mut wrong = Vec::new();
        let mut copies = 0;
        for name in &names {
            let right = work.join(format!("rewritten/{name}.ko"));
            let (unmerged, other) =
                crate::resilience::beyond_unmerged(kbtf, &k.vmlinux, &right, &kept.join(name))?;
            copies += unmerged;
            if !other.is_empty() {
                wrong.push(format!("{name}:\n  {}", other.join("\n  ")));
            }
        }
        ensure!(
            wrong.is_empty(),
            "{label}: relocated module BTF differs from the split BTF beyond unmerged copies of \
             vmlinux types:\n{}",
            wrong.join("\n")
        );
        println!(
            "{label} kernel: each relocated module BTF means what its split BTF means (besides \
             {copies} unmerged copies of vmlinux types in all)"
        );
    }

    // The control: the same check must fail for BTF the kernel refuses.
    let bad = work.join("dummy.ko");
    kernel_selftest::corrupt_first_name(&work.join("rewritten/dummy.ko"), &bad)?;
    let r = kernel_test::run(&Options {
        modules: vec![bad.display().to_string()],
        kernel: Some(k.image.clone()),
        machine,
        ..Options::default()
    })?;
    ensure!(
        r.len() == 1 && !r[0].ok && r[0].line.contains("Invalid name_offset"),
        "the {label} kernel was expected to refuse dummy.ko's corrupted BTF with \
         `Invalid name_offset`; got: {}",
        r.iter()
            .map(|o| o.line.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    );
    println!("{label} kernel: a corrupted module BTF is refused (Invalid name_offset)");
    Ok(())
}

fn find<'a>(dbg: &'a [PathBuf], name: &str) -> Option<&'a PathBuf> {
    let file = format!("{name}.ko");
    dbg.iter()
        .find(|p| p.file_name().is_some_and(|f| f == file.as_str()))
}

/// Copies of the `-dbg` modules `names` in `dir`, each rewritten in place by `kbtf -J`
/// (FLAGS and `extra`) on the BTF of `base`.
fn rewrite(
    kbtf: &Path,
    dbg: &[PathBuf],
    names: &[&str],
    base: &Path,
    extra: &[&str],
    dir: &Path,
) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut paths = Vec::new();
    for name in names {
        let src = find(dbg, name).with_context(|| format!("{name}: not a -dbg module"))?;
        let dst = dir.join(format!("{name}.ko"));
        std::fs::copy(src, &dst).with_context(|| format!("copying {}", src.display()))?;
        util::run(
            Command::new(kbtf)
                .arg("-J")
                .args(FLAGS)
                .args(extra)
                .arg("--btf_base")
                .arg(base)
                .arg(&dst),
        )?;
        paths.push(dst.display().to_string());
    }
    Ok(paths)
}

/// One boot loading `paths` (the modules `names`, with their dependencies as shipped):
/// each must get `/sys/kernel/btf/<module>` (kept in `keep_btf` if given).
fn load_all(
    k: &Kernel,
    names: &[&str],
    paths: Vec<String>,
    machine: &Machine,
    what: &str,
    keep_btf: Option<PathBuf>,
) -> Result<()> {
    let label = &k.label;
    let r = kernel_test::run(&Options {
        modules: paths,
        modprobe: true,
        kernel: Some(k.image.clone()),
        machine: machine.clone(),
        keep_btf,
        ..Options::default()
    })?;
    let requested = r
        .iter()
        .filter(|o| names.contains(&o.name.as_str()))
        .count();
    let failed: Vec<&str> = r
        .iter()
        .filter(|o| !o.ok)
        .map(|o| o.line.as_str())
        .collect();
    ensure!(
        failed.is_empty() && requested == names.len(),
        "the {label} kernel did not take kbtf's {what} of every sample module ({requested} \
         of {} reported): {}",
        names.len(),
        failed.join("; ")
    );
    println!(
        "{label} kernel: {requested} modules rewritten by kbtf ({what}) loaded, each with \
         /sys/kernel/btf"
    );
    Ok(())
}
