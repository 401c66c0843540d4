//! `cargo xtask s390x`: kbtf on a big-endian kernel, Debian's s390x 6.12 kernel from
//! bookworm-backports (Debian's s390x 6.1 kernel is built without BTF; its 6.12 has it).
//!
//! s390x is the one Debian architecture whose ELF files, and so whose BTF, are big-endian:
//! kbtf reads big-endian DWARF and relocations (`R_390_*`), writes BTF in the file's byte
//! order, and edits a big-endian ELF in place. The checks are `foreign.rs`'s: the vmlinux
//! and every module against pahole 1.24, then (unless `--no-qemu`) the big-endian kernel in `qemu-system-s390x`
//! (package qemu-system-misc) judges the sample modules kbtf rewrote in place, and refuses
//! a corrupted one.
//!
//! The packages are not in this machine's apt sources (bookworm-backports, s390x): they
//! come from the mirror's index, checked against its SHA-256 (`mirror.rs`), into the cache.
//! A kernel already unpacked there is used without asking the mirror.

use crate::args::{Args, Positionals};
use crate::foreign::{self, Kernel};
use crate::guest::{Machine, TempDir};
use crate::{cache, debs, mirror};
use anyhow::{ensure, Context, Result};
use std::path::PathBuf;

pub const USAGE: &str = "\
cargo xtask s390x [--no-qemu] [--every K] [--kbtf PATH] [--timeout SECS] [--mirror URL]

kbtf on Debian's big-endian s390x 6.12 kernel (bookworm-backports, fetched from the mirror's
index into the cache): the -dbg vmlinux at -j1 and -j2 must be byte-identical to pahole
1.24's single-threaded BTF; every K-th -dbg module (default every one) byte-identical to pahole 1.24's; then (unless
--no-qemu) the s390x kernel in qemu-system-s390x must load the encode-test sample modules,
rewritten by kbtf -J, each with /sys/kernel/btf/<module>, and refuse a corrupted one's BTF.
--mirror: the Debian mirror (default http://deb.debian.org/debian).";

const ARCH: &str = "s390x";
const SUITE: &str = "bookworm-backports";

pub fn main(raw: &[String]) -> Result<()> {
    let Some(a) = Args::task(
        raw,
        &["every", "kbtf", "timeout", "mirror"],
        &["no-qemu"],
        Positionals::None,
        USAGE,
    )?
    else {
        return Ok(());
    };
    let every = foreign::every(a.opt("every"))?;
    let kbtf = match a.opt("kbtf") {
        Some(k) => PathBuf::from(k),
        None => crate::test::kbtf_release_bin()?,
    };
    let mirror = a.opt("mirror").unwrap_or(mirror::DEFAULT);
    let k = fetch(mirror)?;
    let machine = if a.flag("no-qemu") {
        None
    } else {
        let mut machine = Machine::s390x(busybox(mirror)?);
        machine.timeout = match a.opt("timeout") {
            Some(t) => t
                .parse()
                .with_context(|| format!("--timeout: not a number: {t:?}"))?,
            None => 300,
        };
        Some(machine)
    };
    let work = TempDir::new("s390x")?;
    // Debian's s390x 6.12 flavour has about 2,240 modules.
    foreign::check(&kbtf, &k, 2000, every, machine, &work.path)?;
    println!("s390x: passed");
    Ok(())
}

/// `X` of a package `linux-image-6.12.X+deb12-s390x{suffix}`.
fn patch_level(name: &str, suffix: &str) -> Option<u32> {
    name.strip_prefix("linux-image-6.12.")?
        .strip_suffix(&format!("+deb12-{ARCH}{suffix}"))?
        .parse()
        .ok()
}

/// The unpacked kernel: the newest one of the cache, or else the newest of the index.
fn fetch(mirror: &str) -> Result<Kernel> {
    let kernels = cache::kernels_dir()?;
    let cached = std::fs::read_dir(&kernels)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| patch_level(&e.ok()?.file_name().to_string_lossy(), "-dbg"))
        .filter(|&x| kernels.join(image_pkg(x)).is_dir())
        .max();
    let x = match cached {
        Some(x) => x,
        None => {
            let index = index(mirror, SUITE)?;
            let packages = index.packages();
            let x = packages
                .keys()
                .filter_map(|n| patch_level(n, "-dbg"))
                .filter(|&x| packages.contains_key(image_pkg(x).as_str()))
                .max()
                .with_context(|| {
                    format!("no linux-image-6.12.*+deb12-{ARCH}(-dbg) in {SUITE}'s index")
                })?;
            for pkg in [image_pkg(x), dbg_pkg(x)] {
                let deb = index.download(index.stanza(&pkg)?, &cache::debs_dir()?)?;
                debs::unpack(&deb, &kernels.join(&pkg), |_| Ok(()))?;
            }
            x
        }
    };
    let release = format!("6.12.{x}+deb12-{ARCH}");
    let dbg = kernels.join(dbg_pkg(x));
    let kernel = Kernel {
        label: format!("{ARCH} 6.12"),
        relocates: true,
        image: kernels.join(image_pkg(x)),
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

fn image_pkg(x: u32) -> String {
    format!("linux-image-6.12.{x}+deb12-{ARCH}")
}

fn dbg_pkg(x: u32) -> String {
    format!("{}-dbg", image_pkg(x))
}

fn index(mirror: &str, suite: &str) -> Result<mirror::Index> {
    let save_as = cache::debs_dir()?.join(format!("Packages-{suite}-{ARCH}.xz"));
    mirror::Index::fetch(mirror, suite, ARCH, &save_as)
}

/// The s390x static busybox of the cache (bookworm's), fetched if missing.
pub fn busybox(mirror: &str) -> Result<PathBuf> {
    let dir = cache::kernels_dir()?.join(format!("busybox-static-{ARCH}"));
    let bb = dir.join("bin/busybox");
    if !bb.is_file() {
        let index = index(mirror, "bookworm")?;
        let deb = index.download(index.stanza("busybox-static")?, &cache::debs_dir()?)?;
        debs::unpack(&deb, &dir, |_| Ok(()))?;
    }
    ensure!(bb.is_file(), "{}: no bin/busybox", dir.display());
    Ok(bb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_levels() {
        assert_eq!(
            patch_level("linux-image-6.12.95+deb12-s390x-dbg", "-dbg"),
            Some(95)
        );
        assert_eq!(patch_level("linux-image-6.12.95+deb12-s390x", ""), Some(95));
        assert_eq!(patch_level("linux-image-6.12.95+deb12-s390x", "-dbg"), None);
        assert_eq!(patch_level("linux-image-6.12.95+deb12-s390x-dbg", ""), None);
        assert_eq!(
            patch_level("linux-image-6.12.95+deb12-cloud-amd64-dbg", "-dbg"),
            None
        );
    }
}
