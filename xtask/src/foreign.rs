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
//!    with its first type's name offset corrupted must not.

use crate::guest::Machine;
use crate::kernel_test::{self, Options};
use crate::{encode_test, kernel_selftest, util};
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
    let dir = work.join("rewritten");
    std::fs::create_dir_all(&dir)?;
    let mut paths = Vec::new();
    let mut names = Vec::new();
    for name in encode_test::SAMPLE {
        let file = format!("{name}.ko");
        let Some(src) = dbg
            .iter()
            .find(|p| p.file_name().is_some_and(|f| f == file.as_str()))
        else {
            println!("{label}: no {file} among the -dbg modules, left out");
            continue;
        };
        let dst = dir.join(&file);
        std::fs::copy(src, &dst).with_context(|| format!("copying {}", src.display()))?;
        util::run(
            Command::new(kbtf)
                .arg("-J")
                .args(FLAGS)
                .arg("--btf_base")
                .arg(&k.vmlinux)
                .arg(&dst),
        )?;
        paths.push(dst.display().to_string());
        names.push(*name);
    }
    if !names.contains(&"dummy") {
        bail!("{label}: dummy.ko, the control's module, is not among the -dbg modules");
    }
    ensure!(
        names.len() * 4 >= encode_test::SAMPLE.len() * 3,
        "{label}: only {} of the {} sample modules are built",
        names.len(),
        encode_test::SAMPLE.len()
    );
    let r = kernel_test::run(&Options {
        modules: paths,
        modprobe: true,
        kernel: Some(k.image.clone()),
        machine: machine.clone(),
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
        "the {label} kernel did not take kbtf's BTF of every sample module ({requested} of {} \
         reported): {}",
        names.len(),
        failed.join("; ")
    );
    println!(
        "{label} kernel: {requested} modules rewritten by kbtf loaded, each with /sys/kernel/btf"
    );

    // The control: the same check must fail for BTF the kernel refuses.
    let bad = work.join("dummy.ko");
    kernel_selftest::corrupt_first_name(&dir.join("dummy.ko"), &bad)?;
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
