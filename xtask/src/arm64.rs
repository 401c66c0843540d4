//! `cargo xtask arm64`: kbtf on another architecture, Debian's arm64 6.1 cloud kernel.
//!
//! An arm64 vmlinux is `ET_DYN` and links `.data..percpu` among its other data, not at
//! address 0 as x86_64's; its modules relocate their debug sections with `R_AARCH64_*`
//! relocations. The task checks, against pahole 1.24 run single-threaded on the same files:
//!
//! 1. the vmlinux, detached, at `-j1` and `-j2`: byte for byte;
//! 2. every `-dbg` module (or every K-th), detached split BTF on that vmlinux: byte for byte;
//! 3. unless `--no-qemu`, the arm64 kernel in `qemu-system-aarch64` (TCG) judges modules kbtf
//!    rewrote in place (the sample of `encode-test`, with their dependencies as shipped):
//!    each must get `/sys/kernel/btf/<module>`; and, as the control that the check can
//!    fail, dummy.ko with its first type's name offset corrupted must not.
//!
//! The packages (`linux-image-6.1.0-N-cloud-arm64-dbg`, `-unsigned`, `busybox-static`, all
//! `:arm64`) are fetched into the cache like the amd64 ones; apt must know the architecture
//! (`dpkg --add-architecture arm64 && apt-get update`, as `.ci/run` does).

use crate::args::{Args, Positionals};
use crate::guest::{Machine, TempDir};
use crate::kernel_test::{self, Options};
use crate::{cache, debs, encode_test, kernel_selftest, util};
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const USAGE: &str = "\
cargo xtask arm64 [--no-qemu] [--every K] [--kbtf PATH] [--timeout SECS]

kbtf on Debian's arm64 6.1 cloud kernel (fetched into the cache): the -dbg vmlinux at
-j1 and -j2 and every K-th -dbg module (default every one) must be byte-identical to
pahole 1.24's single-threaded BTF; then (unless --no-qemu) the arm64 kernel in
qemu-system-aarch64 must load the encode-test sample modules, rewritten by kbtf -J, each
with /sys/kernel/btf/<module>, and refuse a corrupted one's BTF. Needs the arm64
architecture in apt (dpkg --add-architecture arm64 && apt-get update).";

const ARCH: &str = "arm64";

/// kbuild 6.1's flags for pahole 1.24, less `-j`.
const FLAGS: &[&str] = &["--btf_gen_floats", "--lang_exclude=rust"];

/// The unpacked arm64 packages.
struct Kernel {
    /// The unsigned image package: boot/vmlinuz-*, lib/modules/RELEASE (with modules.dep).
    image: PathBuf,
    vmlinux: PathBuf,
    /// The `-dbg` modules (`.../lib/modules/RELEASE/kernel`).
    dbg_modules: PathBuf,
}

fn release() -> String {
    format!("{}-cloud-{ARCH}", debs::DEFAULT_K61)
}

/// The arm64 static busybox of the cache, fetched if missing.
pub fn busybox() -> Result<PathBuf> {
    let deb = debs::fetch_foreign(&cache::debs_dir()?, "busybox-static", ARCH)?;
    let dir = cache::kernels_dir()?.join(format!("busybox-static-{ARCH}"));
    debs::unpack(&deb, &dir, |_| Ok(()))?;
    let bb = dir.join("bin/busybox");
    ensure!(bb.is_file(), "{}: no bin/busybox", dir.display());
    Ok(bb)
}

fn fetch() -> Result<Kernel> {
    let (debs_dir, kernels) = (cache::debs_dir()?, cache::kernels_dir()?);
    let release = release();
    let image_pkg = format!("linux-image-{release}-unsigned");
    let dbg_pkg = format!("linux-image-{release}-dbg");
    let image = kernels.join(&image_pkg);
    let deb = debs::fetch_foreign(&debs_dir, &image_pkg, ARCH)?;
    debs::unpack(&deb, &image, |_| Ok(()))?;
    let dbg = kernels.join(&dbg_pkg);
    let deb = debs::fetch_foreign(&debs_dir, &dbg_pkg, ARCH)?;
    debs::unpack(&deb, &dbg, |_| Ok(()))?;
    let kernel = Kernel {
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

pub fn main(raw: &[String]) -> Result<()> {
    let Some(a) = Args::task(
        raw,
        &["every", "kbtf", "timeout"],
        &["no-qemu"],
        Positionals::None,
        USAGE,
    )?
    else {
        return Ok(());
    };
    let every: usize = match a.opt("every") {
        Some(k) => k
            .parse()
            .ok()
            .filter(|&k| k > 0)
            .with_context(|| format!("--every: not a positive number: {k:?}"))?,
        None => 1,
    };
    let kbtf = match a.opt("kbtf") {
        Some(k) => PathBuf::from(k),
        None => crate::test::kbtf_release_bin()?,
    };
    let k = fetch()?;
    let all = crate::regen::list_modules(&k.dbg_modules)?;
    ensure!(
        all.len() >= 900,
        "{}: {} modules, expected Debian's arm64 cloud set (992)",
        k.dbg_modules.display(),
        all.len()
    );
    let work = TempDir::new("arm64")?;
    vmlinux(&kbtf, &k, &work.path)?;
    modules(&kbtf, &k, &all, every, &work.path)?;
    if !a.flag("no-qemu") {
        let mut machine = Machine::arm64(busybox()?);
        if let Some(t) = a.opt("timeout") {
            machine.timeout = t
                .parse()
                .with_context(|| format!("--timeout: not a number: {t:?}"))?;
        } else {
            machine.timeout = 300;
        }
        boot(&kbtf, &k, &all, machine, &work.path)?;
    }
    println!("arm64: passed");
    Ok(())
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
    let reference = work.join("vmlinux.pahole.btf");
    detached(Path::new("pahole"), &[], &k.vmlinux, &reference)?;
    let want = util::read(&reference)?;
    for j in ["-j1", "-j2"] {
        let out = work.join(format!("vmlinux{j}.btf"));
        detached(kbtf, &[j], &k.vmlinux, &out)?;
        ensure!(
            util::read(&out)? == want,
            "arm64 vmlinux {j}: kbtf's BTF differs from pahole 1.24's (kbtf diff {} {})",
            out.display(),
            reference.display()
        );
    }
    println!(
        "arm64 vmlinux: kbtf -j1 and -j2 byte-identical to pahole 1.24 ({} bytes)",
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
    ensure!(
        differ.is_empty(),
        "arm64 modules differ from pahole 1.24 (a worker stops at its tenth): {}",
        differ.join(" ")
    );
    println!(
        "arm64 modules: {} of {} (every {every}), each byte-identical to pahole 1.24",
        chosen.len(),
        all.len()
    );
    Ok(())
}

/// The arm64 kernel loads the sample modules (from `dbg`, the `-dbg` modules) kbtf rewrote,
/// and refuses a corrupted one.
fn boot(kbtf: &Path, k: &Kernel, dbg: &[PathBuf], machine: Machine, work: &Path) -> Result<()> {
    let dir = work.join("rewritten");
    std::fs::create_dir_all(&dir)?;
    let mut paths = Vec::new();
    for name in encode_test::SAMPLE {
        let file = format!("{name}.ko");
        let Some(src) = dbg
            .iter()
            .find(|p| p.file_name().is_some_and(|f| f == file.as_str()))
        else {
            bail!("{name}: not among the arm64 -dbg modules");
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
    }
    let r = kernel_test::run(&Options {
        modules: paths,
        modprobe: true,
        kernel: Some(k.image.clone()),
        machine: machine.clone(),
        ..Options::default()
    })?;
    let requested = r
        .iter()
        .filter(|o| encode_test::SAMPLE.contains(&o.name.as_str()))
        .count();
    let failed: Vec<&str> = r
        .iter()
        .filter(|o| !o.ok)
        .map(|o| o.line.as_str())
        .collect();
    ensure!(
        failed.is_empty() && requested == encode_test::SAMPLE.len(),
        "the arm64 kernel did not take kbtf's BTF of every sample module ({requested} of {} \
         reported): {}",
        encode_test::SAMPLE.len(),
        failed.join("; ")
    );
    println!(
        "arm64 kernel: {} modules rewritten by kbtf loaded, each with /sys/kernel/btf",
        requested
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
        "the arm64 kernel was expected to refuse dummy.ko's corrupted BTF with \
         `Invalid name_offset`; got: {}",
        r.iter()
            .map(|o| o.line.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    );
    println!("arm64 kernel: a corrupted module BTF is refused (Invalid name_offset)");
    Ok(())
}
