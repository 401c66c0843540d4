//! `cargo xtask arm64`: kbtf on another architecture, Debian's arm64 6.1 cloud kernel.
//!
//! An arm64 vmlinux is `ET_DYN` and links `.data..percpu` among its other data, not at
//! address 0 as x86_64's; its modules relocate their debug sections with `R_AARCH64_*`
//! relocations. The checks are `foreign.rs`'s: the vmlinux and every module against
//! pahole 1.24, then (unless `--no-qemu`) the kernel in `qemu-system-aarch64` judges 24
//! modules kbtf rewrote, and refuses a corrupted one.
//!
//! The packages (`linux-image-6.1.0-N-cloud-arm64-dbg`, `-unsigned`, `busybox-static`, all
//! `:arm64`) are fetched into the cache like the amd64 ones; apt must know the architecture
//! (`dpkg --add-architecture arm64 && apt-get update`, as `.ci/run` does).

use crate::args::{Args, Positionals};
use crate::foreign::{self, Kernel};
use crate::guest::{Machine, TempDir};
use crate::{cache, debs};
use anyhow::{ensure, Result};
use std::path::PathBuf;

pub const USAGE: &str = "\
cargo xtask arm64 [--no-qemu] [--every K] [--kbtf PATH] [--timeout SECS]

kbtf on Debian's arm64 6.1 cloud kernel (fetched into the cache): the -dbg vmlinux at
-j1 and -j2 and every K-th -dbg module (default every one) must be byte-identical to
pahole 1.24's single-threaded BTF; then (unless --no-qemu) the arm64 kernel in
qemu-system-aarch64 must load the encode-test sample modules, rewritten by kbtf -J, each
with /sys/kernel/btf/<module>, and refuse a corrupted one's BTF. Needs the arm64
architecture in apt (dpkg --add-architecture arm64 && apt-get update).";

const ARCH: &str = "arm64";

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
    Kernel::unpacked(ARCH.to_string(), false, image, &dbg, &release)
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
    let every = foreign::every(a.opt("every"))?;
    let kbtf = crate::test::kbtf_bin(a.opt("kbtf"))?;
    let k = fetch()?;
    let machine = foreign::guest(&a, || Ok(Machine::arm64(busybox()?)))?;
    let work = TempDir::new("arm64")?;
    // Debian's arm64 cloud set has 992 modules.
    foreign::check(&kbtf, &k, 900, every, machine, &work.path)?;
    println!("arm64: passed");
    Ok(())
}
