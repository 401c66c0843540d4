//! `cargo xtask s390x`, `cargo xtask ppc64el` and `cargo xtask riscv64`: kbtf on Debian's
//! 6.12 kernels for s390x and ppc64el (from bookworm-backports) and for riscv64 (from Debian
//! 13, trixie: Debian 12 has no riscv64 release). (Debian builds its 6.1 kernels for s390x
//! and ppc64el without BTF; their 6.12 kernels have it.)
//!
//! s390x is the one Debian architecture whose ELF files, and so whose BTF, are big-endian:
//! kbtf reads big-endian DWARF and relocations (`R_390_*`), writes BTF in the file's byte
//! order, and edits a big-endian ELF in place. ppc64el relocates its modules' debug sections
//! with `R_PPC64_*`, riscv64 with `R_RISCV_*`. The checks are `foreign.rs`'s: the vmlinux and
//! every module against pahole 1.24, then (unless `--no-qemu`) the kernel in
//! `qemu-system-s390x` (package qemu-system-misc), `qemu-system-ppc64` (qemu-system-ppc) or
//! `qemu-system-riscv64` (qemu-system-misc, with the OpenSBI firmware qemu ships) judges the
//! sample modules kbtf rewrote in place, split and distilled, and refuses a corrupted one.
//!
//! The packages are not in this machine's apt sources (other suites, and architectures apt
//! does not know): they come from the mirror's index, checked against its SHA-256
//! (`mirror.rs`), into the cache. A kernel already unpacked there is used without asking
//! the mirror.

use crate::args::{Args, Positionals};
use crate::foreign::{self, Kernel};
use crate::guest::{Machine, TempDir};
use crate::{cache, debs, mirror};
use anyhow::{Context, Result};
use std::path::PathBuf;

/// One architecture's 6.12 kernel.
pub struct Arch {
    /// Debian's architecture name.
    pub name: &'static str,
    /// The kernel flavour (`linux-image-6.12.X+DEBIAN-FLAVOUR`).
    flavour: &'static str,
    /// The suite the kernel comes from.
    suite: &'static str,
    /// Its release tag in package names (`deb12`, `deb13`).
    debian: &'static str,
    /// The suite of the static busybox.
    busybox_suite: &'static str,
    /// Fewer `-dbg` modules than this is not that flavour.
    min_modules: usize,
    /// The guest, given its static busybox.
    machine: fn(PathBuf) -> Machine,
    /// The kernel and the guest, for `--help`.
    kernel: &'static str,
    guest: &'static str,
}

pub const S390X: Arch = Arch {
    name: "s390x",
    flavour: "s390x",
    suite: "bookworm-backports",
    debian: "deb12",
    busybox_suite: "bookworm",
    // Debian's s390x 6.12 flavour has about 2,240 modules.
    min_modules: 2000,
    machine: Machine::s390x,
    kernel: "Debian's big-endian s390x 6.12 kernel (bookworm-backports",
    guest: "qemu-system-s390x",
};

pub const PPC64EL: Arch = Arch {
    name: "ppc64el",
    flavour: "powerpc64le",
    suite: "bookworm-backports",
    debian: "deb12",
    busybox_suite: "bookworm",
    // Debian's powerpc64le 6.12 flavour has about 3,200 modules.
    min_modules: 2800,
    machine: Machine::ppc64el,
    kernel: "Debian's ppc64el 6.12 kernel (bookworm-backports",
    guest: "qemu-system-ppc64 (pseries, VOF)",
};

pub const RISCV64: Arch = Arch {
    name: "riscv64",
    flavour: "riscv64",
    suite: "trixie",
    debian: "deb13",
    busybox_suite: "trixie",
    // Debian's riscv64 6.12 flavour has about 3,100 modules.
    min_modules: 2700,
    machine: Machine::riscv64,
    kernel: "Debian 13's riscv64 6.12 kernel (trixie",
    guest: "qemu-system-riscv64 (virt, OpenSBI)",
};

pub fn main(arch: &Arch, raw: &[String]) -> Result<()> {
    let Some(a) = Args::task(
        raw,
        &["every", "kbtf", "timeout", "mirror"],
        &["no-qemu"],
        Positionals::None,
        &arch.usage(),
    )?
    else {
        return Ok(());
    };
    let every = foreign::every(a.opt("every"))?;
    let kbtf = crate::test::kbtf_bin(a.opt("kbtf"))?;
    let mirror = a.opt("mirror").unwrap_or(mirror::DEFAULT);
    let k = fetch(arch, mirror)?;
    let machine = foreign::guest(&a, || arch.guest(mirror))?;
    let work = TempDir::new(arch.name)?;
    foreign::check(&kbtf, &k, arch.min_modules, every, machine, &work.path)?;
    println!("{}: passed", arch.name);
    Ok(())
}

impl Arch {
    fn usage(&self) -> String {
        format!(
            "\
cargo xtask {} [--no-qemu] [--every K] [--kbtf PATH] [--timeout SECS] [--mirror URL]

kbtf on {}, fetched from the mirror's index
into the cache), booted in {}:
- the -dbg vmlinux at -j1 and -j2 must be byte-identical to pahole 1.24's single-threaded BTF;
- every K-th -dbg module (default every one) must be byte-identical to pahole 1.24's;
- unless --no-qemu, the kernel must load the encode-test sample modules rewritten by kbtf -J,
  each with /sys/kernel/btf/<module>; then the same with BTF distilled on another build's
  vmlinux, relocated by the kernel and meaning what the split BTF means; and it must refuse
  a corrupted one's BTF.
--mirror: the Debian mirror (default {}).",
            self.name,
            self.kernel,
            self.guest,
            mirror::DEFAULT
        )
    }

    /// The guest machine for this architecture's kernel, with its busybox (fetched if
    /// missing).
    pub fn guest(&self, mirror: &str) -> Result<Machine> {
        Ok((self.machine)(busybox(self, mirror)?))
    }

    /// `X` of a package `linux-image-6.12.X+DEBIAN-FLAVOUR{suffix}`.
    fn patch_level(&self, name: &str, suffix: &str) -> Option<u32> {
        name.strip_prefix("linux-image-6.12.")?
            .strip_suffix(&format!("+{}-{}{suffix}", self.debian, self.flavour))?
            .parse()
            .ok()
    }

    /// The kernel release of patch level `x`: `6.12.X+DEBIAN-FLAVOUR`.
    fn release(&self, x: u32) -> String {
        format!("6.12.{x}+{}-{}", self.debian, self.flavour)
    }

    fn image_pkg(&self, x: u32) -> String {
        format!("linux-image-{}", self.release(x))
    }

    fn dbg_pkg(&self, x: u32) -> String {
        format!("{}-dbg", self.image_pkg(x))
    }
}

/// The unpacked kernel: the newest one of the cache, or else the newest of the index.
fn fetch(arch: &Arch, mirror: &str) -> Result<Kernel> {
    let kernels = cache::kernels_dir()?;
    let cached = std::fs::read_dir(&kernels)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| arch.patch_level(&e.ok()?.file_name().to_string_lossy(), "-dbg"))
        .filter(|&x| kernels.join(arch.image_pkg(x)).is_dir())
        .max();
    let x = match cached {
        Some(x) => x,
        None => {
            let index = index(arch, mirror, arch.suite)?;
            let packages = index.packages();
            let x = packages
                .keys()
                .filter_map(|n| arch.patch_level(n, "-dbg"))
                .filter(|&x| packages.contains_key(arch.image_pkg(x).as_str()))
                .max()
                .with_context(|| {
                    format!(
                        "no linux-image-6.12.*+{}-{}(-dbg) in {}'s index",
                        arch.debian, arch.flavour, arch.suite
                    )
                })?;
            for pkg in [arch.image_pkg(x), arch.dbg_pkg(x)] {
                let deb = index.download(index.stanza(&pkg)?, &cache::debs_dir()?)?;
                debs::unpack(&deb, &kernels.join(&pkg), |_| Ok(()))?;
            }
            x
        }
    };
    let release = arch.release(x);
    let dbg = kernels.join(arch.dbg_pkg(x));
    let image = kernels.join(arch.image_pkg(x));
    link_merged_usr(&image)?;
    Kernel::unpacked(format!("{} 6.12", arch.name), true, image, &dbg, &release)
}

/// Gives an image package of Debian 13, whose modules are in `usr/lib/modules`, the
/// `lib/modules` of Debian 12's: a symbolic link `lib` to `usr/lib`, as on a merged-`/usr`
/// system. Debian 12's `depmod -b ROOT` (kmod 30) and `KernelTree` look in `ROOT/lib/modules`.
fn link_merged_usr(image: &std::path::Path) -> Result<()> {
    let lib = image.join("lib");
    if image.join("usr/lib/modules").is_dir() && std::fs::symlink_metadata(&lib).is_err() {
        std::os::unix::fs::symlink("usr/lib", &lib)
            .with_context(|| format!("linking {} to usr/lib", lib.display()))?;
    }
    Ok(())
}

fn index(arch: &Arch, mirror: &str, suite: &str) -> Result<mirror::Index> {
    let save_as = cache::debs_dir()?.join(format!("Packages-{suite}-{}.xz", arch.name));
    mirror::Index::fetch(mirror, suite, arch.name, &save_as)
}

/// The architecture's static busybox of the cache, fetched if missing.
/// (bookworm's package has `bin/busybox`, trixie's `usr/bin/busybox`.)
fn busybox(arch: &Arch, mirror: &str) -> Result<PathBuf> {
    let dir = cache::kernels_dir()?.join(format!("busybox-static-{}", arch.name));
    let found = || {
        ["bin/busybox", "usr/bin/busybox"]
            .map(|p| dir.join(p))
            .into_iter()
            .find(|bb| bb.is_file())
    };
    if found().is_none() {
        let index = index(arch, mirror, arch.busybox_suite)?;
        let deb = index.download(index.stanza("busybox-static")?, &cache::debs_dir()?)?;
        debs::unpack(&deb, &dir, |_| Ok(()))?;
    }
    found().with_context(|| format!("{}: no bin/busybox or usr/bin/busybox", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_levels() {
        let s = &S390X;
        assert_eq!(
            s.patch_level("linux-image-6.12.95+deb12-s390x-dbg", "-dbg"),
            Some(95)
        );
        assert_eq!(
            s.patch_level("linux-image-6.12.95+deb12-s390x", ""),
            Some(95)
        );
        assert_eq!(
            s.patch_level("linux-image-6.12.95+deb12-s390x", "-dbg"),
            None
        );
        assert_eq!(
            s.patch_level("linux-image-6.12.95+deb12-s390x-dbg", ""),
            None
        );
        assert_eq!(
            s.patch_level("linux-image-6.12.95+deb12-cloud-amd64-dbg", "-dbg"),
            None
        );
        assert_eq!(
            PPC64EL.patch_level("linux-image-6.12.95+deb12-powerpc64le-dbg", "-dbg"),
            Some(95)
        );
        assert_eq!(
            PPC64EL.image_pkg(95),
            "linux-image-6.12.95+deb12-powerpc64le"
        );
        assert_eq!(
            RISCV64.patch_level("linux-image-6.12.107+deb13-riscv64-dbg", "-dbg"),
            Some(107)
        );
        assert_eq!(
            RISCV64.patch_level("linux-image-6.12.107+deb12-riscv64-dbg", "-dbg"),
            None
        );
        assert_eq!(RISCV64.release(107), "6.12.107+deb13-riscv64");
    }
}
