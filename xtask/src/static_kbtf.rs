//! A statically linked kbtf for the qemu guest, whose busybox initramfs has no shared
//! libraries: `cargo build --release -p kbtf` with glibc's static C runtime
//! (`-C target-feature=+crt-static`), in a target directory of its own so that the changed
//! RUSTFLAGS do not invalidate the normal build's cache.

use crate::{elf, fixtures, util};
use anyhow::{ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target triple: an explicit `--target` keeps RUSTFLAGS away from build scripts and
/// proc macros, which cannot be linked statically.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// Where the static build goes: `static-kbtf/` in the normal target directory
/// ($CARGO_TARGET_DIR, else `target/`).
pub fn target_dir() -> PathBuf {
    let normal = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => fixtures::repo_root().join("target"),
    };
    normal.join("static-kbtf")
}

/// Builds the static kbtf (cargo rebuilds only what changed) and returns the binary's path,
/// checked to be statically linked.
pub fn build() -> Result<PathBuf> {
    let root = fixtures::repo_root();
    let dir = target_dir();
    let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
    if !flags.is_empty() {
        flags.push(' ');
    }
    flags.push_str("-C target-feature=+crt-static");
    println!(
        "== static kbtf (RUSTFLAGS=\"{flags}\") in {}",
        dir.display()
    );
    util::run(
        Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(&root)
            .env("RUSTFLAGS", &flags)
            // It would take precedence over RUSTFLAGS.
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .args(["build", "--release", "-p", "kbtf", "--target", TARGET])
            .arg("--target-dir")
            .arg(&dir),
    )
    .context("building the static kbtf (needs glibc's static libraries: libc6-dev)")?;
    let bin = dir.join(TARGET).join("release").join("kbtf");
    check_static(&bin)?;
    Ok(bin)
}

/// Fails unless `bin` is a statically linked executable, by `file` and by its program
/// headers (no PT_INTERP).
pub fn check_static(bin: &Path) -> Result<()> {
    let says = util::stdout_string(Command::new("file").arg("-b").arg(bin))?;
    ensure!(
        says.contains("statically linked") || says.contains("static-pie linked"),
        "{} is not statically linked; file(1) says: {}",
        bin.display(),
        says.trim()
    );
    ensure!(
        !elf::Elf::open(bin)?.has_interp()?,
        "{} has a program interpreter (PT_INTERP), so it is not static",
        bin.display()
    );
    Ok(())
}
