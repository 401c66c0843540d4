//! `cargo xtask test`: the README's test command. The fast tier (`cargo test --workspace`,
//! committed fixtures only), then the real-kernel tier: the acceptance tests on every module of
//! Debian's kernels (ignored tests, run in release with the cache paths in the environment),
//! then boots of the real kernel in qemu.

use crate::args::Args;
use crate::cache::Index;
use anyhow::{Context, Result};
use std::process::Command;

pub const USAGE: &str = "\
cargo xtask test [--fast] [--no-qemu]

Runs the fast tier (`cargo test --workspace`), then, unless --fast, fetches the test
kernels if needed (`cargo xtask testdata`) and runs the real-kernel tier: the ignored
tests in release mode with KBTF_* paths set from the cache index, then kernel boots in
qemu (unless --no-qemu).";

/// Environment variables the real-kernel tests read, and the index keys they come from.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("KBTF_VMLINUX_BTF", "kernel61_vmlinux_btf"),
    ("KBTF_VMLINUX", "kernel61_dbg_vmlinux"),
    ("KBTF_MODULES_DIR", "kernel61_modules_dir"),
    ("KBTF_DBG_MODULES_DIR", "kernel61_dbg_modules_dir"),
    ("KBTF_OLD_VMLINUX_BTF", "kernel61_old_vmlinux_btf"),
    ("KBTF_612_VMLINUX_BTF", "kernel612_vmlinux_btf"),
    ("KBTF_612_MODULES_DIR", "kernel612_modules_dir"),
    ("KBTF_KERNEL61_DIR", "kernel61_dir"),
];

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn step(name: &str, cmd: &mut Command) -> Result<()> {
    println!("== {name}: {}", crate::util::show(cmd));
    crate::util::run(cmd).with_context(|| format!("test step `{name}` failed"))
}

pub fn main(raw: &[String]) -> Result<()> {
    let args = Args::parse(raw, &[], &["fast", "no-qemu", "help"])?;
    if args.flag("help") {
        println!("{USAGE}");
        return Ok(());
    }
    let root = crate::fixtures::repo_root();
    step(
        "fast tier",
        cargo().current_dir(&root).args(["test", "--workspace"]),
    )?;
    if args.flag("fast") {
        return Ok(());
    }

    println!("== test kernels: cargo xtask testdata");
    crate::testdata::main(&[])?;
    let index = Index::load()?;
    let mut real = cargo();
    real.current_dir(&root)
        .args(["test", "--release", "--workspace", "--", "--ignored"]);
    for (var, key) in ENV_KEYS {
        real.env(var, index.path(key)?);
    }
    step("real-kernel tier", &mut real)?;

    if !args.flag("no-qemu") {
        step(
            "qemu: harness self-test",
            cargo()
                .current_dir(&root)
                .args(["xtask", "kernel-selftest"]),
        )?;
        step(
            "qemu: shipped modules load with BTF",
            cargo()
                .current_dir(&root)
                .args(["xtask", "kernel-test", "dummy", "veth", "tun"]),
        )?;
    }
    println!("== all tiers passed");
    Ok(())
}
