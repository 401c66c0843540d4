//! `cargo xtask test`: the README's test command. The fast tier (`cargo test --workspace`,
//! committed fixtures only), then the real-kernel tier: the acceptance tests on every module of
//! Debian's kernels (ignored tests, run in release with the cache paths in the environment),
//! then boots of the real kernel in qemu.

use crate::args::{Args, Positionals};
use crate::cache::Index;
use anyhow::{Context, Result};
use std::process::Command;

pub const USAGE: &str = "\
cargo xtask test [--fast] [--no-qemu] [--fuzz-seconds N]

Runs the fast tier (`cargo test --workspace`, then `cargo clippy --workspace`, which
denies unwrap/expect in the library crates), then, unless --fast, the reliability checks
that need no download (`crash-safety`: 200 SIGKILLs each of kbtf -J and kbtf relocate;
`fuzz --seconds N`, default 20 per target, 0 to skip), fetches the test kernels if needed
(`cargo xtask testdata`) and runs the real-kernel tier: the ignored tests in release mode
with KBTF_* paths set from the cache index, and the `mem::` tests of kbtf-btf optimized,
then kernel boots in qemu (unless --no-qemu): the harness self-test, shipped modules,
BPF_BTF_LOAD of the vmlinux fixture, module BTF and broken blobs (`btf-load --acceptance`),
wrong-base modules, kbtf's own BTF (`encode-test`), distilled BTF across rebuilds
(`resilience`), module signature enforcement (`sig-enforce`), and the differential test of
10,000 mutated blobs (`differential`). Between the two, `arm64`: Debian's arm64 6.1 kernel,
its vmlinux and modules against pahole 1.24, and (unless --no-qemu) 24 modules kbtf rewrote
judged by that kernel in qemu-system-aarch64.";

/// Environment variables the real-kernel tests read, and the index keys they come from.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("KBTF_VMLINUX_BTF", "kernel61_vmlinux_btf"),
    ("KBTF_VMLINUX", "kernel61_dbg_vmlinux"),
    ("KBTF_MODULES_DIR", "kernel61_modules_dir"),
    ("KBTF_DBG_MODULES_DIR", "kernel61_dbg_modules_dir"),
    ("KBTF_OLD_VMLINUX_BTF", "kernel61_old_vmlinux_btf"),
    ("KBTF_612_VMLINUX_BTF", "kernel612_vmlinux_btf"),
    ("KBTF_612_MODULES_DIR", "kernel612_modules_dir"),
    ("KBTF_612_VMLINUX", "kernel612_vmlinux"),
    ("KBTF_KERNEL61_DIR", "kernel61_dir"),
    ("KBTF_WRONG_BASE_DIR", "wrong_base_dir"),
    ("KBTF_PAHOLE_REF_VMLINUX_BTF", "pahole_ref_vmlinux_btf"),
    ("KBTF_PAHOLE_REF_MODULES_DIR", "pahole_ref_modules_dir"),
    ("KBTF_612_DBG_VMLINUX", "kernel612_dbg_vmlinux"),
    ("KBTF_612_DBG_MODULES_DIR", "kernel612_dbg_modules_dir"),
    (
        "KBTF_PAHOLE_REF_612_VMLINUX_BTF",
        "pahole_ref612_vmlinux_btf",
    ),
    (
        "KBTF_PAHOLE_REF_612_MODULES_DIR",
        "pahole_ref612_modules_dir",
    ),
];

/// Modules whose wrong-base BTF is loaded on the real kernel. The kernel refuses some of
/// them (`failed to validate module [sd_mod] BTF: -22`, the field bug) and takes others by
/// luck; `kbtf check` must reject all of them (the real-kernel tier asserts that).
const WRONG_BASE_BOOT: &[&str] = &["dummy", "veth", "tun", "sd_mod"];
/// Of those, the ones the 6.1 kernel is known to refuse.
const WRONG_BASE_KERNEL_REFUSES: &[&str] = &["tun", "sd_mod"];

/// Debian's `scripts/sign-file` from the linux-kbuild-6.1 package (unpacked with the headers).
pub fn sign_file(index: &Index) -> Result<std::path::PathBuf> {
    let p = index
        .path("kernel61_headers_root")?
        .join("usr/lib/linux-kbuild-6.1/scripts/sign-file");
    anyhow::ensure!(
        p.is_file(),
        "{}: no sign-file in the linux-kbuild-6.1 package",
        p.display()
    );
    Ok(p)
}

/// Debian's `scripts/sign-file` from the 6.12 kernel's linux-kbuild package (its name carries
/// the ABI: linux-kbuild-6.12.117+deb12), unpacked with the headers.
pub fn sign_file_612(index: &Index) -> Result<std::path::PathBuf> {
    let lib = index.path("kernel612_headers_root")?.join("usr/lib");
    let mut found = Vec::new();
    for e in std::fs::read_dir(&lib).with_context(|| format!("reading {}", lib.display()))? {
        let p = e?.path().join("scripts/sign-file");
        let kbuild = p
            .parent()
            .and_then(|d| d.parent())
            .and_then(|d| d.file_name())
            .is_some_and(|n| n.to_string_lossy().starts_with("linux-kbuild-6.12"));
        if kbuild && p.is_file() {
            found.push(p);
        }
    }
    anyhow::ensure!(
        found.len() == 1,
        "{}: expected one linux-kbuild-6.12*/scripts/sign-file, found {found:?}",
        lib.display()
    );
    Ok(found.swap_remove(0))
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The kbtf binary a task was given with `--kbtf PATH`, else the release build (built first).
pub fn kbtf_bin(given: Option<&str>) -> Result<std::path::PathBuf> {
    match given {
        Some(p) => Ok(std::path::PathBuf::from(p)),
        None => kbtf_release_bin(),
    }
}

/// Builds the release `kbtf` binary and returns its path.
pub fn kbtf_release_bin() -> Result<std::path::PathBuf> {
    let root = crate::fixtures::repo_root();
    crate::util::run(
        cargo()
            .current_dir(&root)
            .args(["build", "--release", "-p", "kbtf"]),
    )?;
    let meta = crate::util::stdout_string(cargo().current_dir(&root).args([
        "metadata",
        "--format-version",
        "1",
        "--no-deps",
    ]))?;
    // The one field needed, without a JSON parser: "target_directory":"<path>".
    let key = "\"target_directory\":\"";
    let start = meta
        .find(key)
        .map(|i| i + key.len())
        .context("no target_directory in `cargo metadata`")?;
    let end = meta[start..]
        .find('"')
        .map(|i| start + i)
        .context("bad target_directory in `cargo metadata`")?;
    let bin = std::path::PathBuf::from(meta[start..end].replace("\\\\", "\\")).join("release/kbtf");
    anyhow::ensure!(bin.is_file(), "no {} after cargo build", bin.display());
    Ok(bin)
}

fn step(name: &str, cmd: &mut Command) -> Result<()> {
    println!("== {name}: {}", crate::util::show(cmd));
    crate::util::run(cmd).with_context(|| format!("test step `{name}` failed"))
}

pub fn main(raw: &[String]) -> Result<()> {
    let Some(args) = Args::task(
        raw,
        &["fuzz-seconds"],
        &["fast", "no-qemu"],
        Positionals::None,
        USAGE,
    )?
    else {
        return Ok(());
    };
    let root = crate::fixtures::repo_root();
    // The dedup tests compare with libbpf's own btf__dedup, and the dump tests with bpftool
    // and gcc; here neither may be skipped.
    step(
        "fast tier",
        cargo()
            .current_dir(&root)
            .args(["test", "--workspace"])
            .env("KBTF_REQUIRE_LIBBPF", "1")
            .env("KBTF_REQUIRE_TOOLS", "1"),
    )?;
    step(
        "clippy (unwrap/expect denied in the library crates)",
        cargo()
            .current_dir(&root)
            .args(["clippy", "--workspace", "-q"]),
    )?;
    if args.flag("fast") {
        return Ok(());
    }
    step(
        "crash safety: SIGKILL mid-rewrite, concurrent runs",
        cargo().current_dir(&root).args(["xtask", "crash-safety"]),
    )?;
    let fuzz_seconds = args.opt("fuzz-seconds").unwrap_or("20");
    if fuzz_seconds != "0" {
        step(
            "fuzz: a short pass over every target",
            cargo().current_dir(&root).args([
                "xtask",
                "fuzz",
                "--seed",
                "1",
                "--seconds",
                fuzz_seconds,
            ]),
        )?;
    }

    println!("== test kernels: cargo xtask testdata");
    crate::testdata::main(&[])?;
    println!("== wrong-base module BTF: cargo xtask wrong-base");
    crate::wrong_base::main(&[])?;
    println!("== pahole 1.24's reference BTF: cargo xtask pahole-ref");
    crate::pahole_ref::main(&[])?;
    println!("== Debian 13's pahole 1.30, decl_tag_kfuncs' reference: cargo xtask pahole-next");
    crate::pahole_next::main(&[])?;
    let index = Index::load()?;
    let mut real = cargo();
    real.current_dir(&root)
        .args(["test", "--release", "--workspace", "--", "--ignored"]);
    for (var, key) in ENV_KEYS {
        real.env(var, index.path(key)?);
    }
    real.env("KBTF_SIGN_FILE", sign_file(&index)?);
    real.env("KBTF_612_SIGN_FILE", sign_file_612(&index)?);
    real.env("KBTF_PAHOLE_NEXT", crate::pahole_next::wrapper_path()?);
    step("real-kernel tier", &mut real)?;
    // The fast tier runs unoptimized; what `mem::written` guards against (a zero fill turned
    // into `calloc`) happens only when optimized.
    step(
        "optimized build: mem::written maps every page",
        cargo()
            .current_dir(&root)
            .args(["test", "--release", "-p", "kbtf-btf", "--lib", "mem::"]),
    )?;

    let mut arm64 = cargo();
    arm64.current_dir(&root).args(["xtask", "arm64"]);
    if args.flag("no-qemu") {
        arm64.arg("--no-qemu");
    }
    step(
        "arm64: Debian's arm64 6.1 vmlinux and every module equal pahole 1.24's BTF; qemu-system-aarch64 judges 24 rewritten modules",
        &mut arm64,
    )?;

    for (arch, what) in [
        (
            "s390x",
            "Debian's big-endian s390x 6.12 vmlinux and every module",
        ),
        ("ppc64el", "Debian's ppc64el 6.12 vmlinux and every module"),
        (
            "riscv64",
            "Debian 13's riscv64 6.12 vmlinux and every module",
        ),
    ] {
        let mut cmd = cargo();
        cmd.current_dir(&root).args(["xtask", arch]);
        if args.flag("no-qemu") {
            cmd.arg("--no-qemu");
        }
        step(
            &format!(
                "{arch}: {what} equal pahole 1.24's BTF; the kernel in qemu judges the sample modules rewritten in place, split and distilled"
            ),
            &mut cmd,
        )?;
    }

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
        step(
            "qemu: BPF_BTF_LOAD of vmlinux, module and broken BTF; kbtf check agrees",
            cargo()
                .current_dir(&root)
                .args(["xtask", "btf-load", "--acceptance"]),
        )?;
        wrong_base_boot(&root)?;
        step(
            "qemu: the kernel judges kbtf's own BTF (vmlinux via BPF_BTF_LOAD, 24 modules)",
            cargo().current_dir(&root).args(["xtask", "encode-test"]),
        )?;
        step(
            "qemu: differential test, kbtf check against BPF_BTF_LOAD on 10,000 mutated blobs",
            cargo().current_dir(&root).args(["xtask", "differential"]),
        )?;
        step(
            "qemu: distilled module BTF across rebuilds (6.1 with kbtf load, 6.12 natively) and the out-of-tree --standalone sample",
            cargo().current_dir(&root).args(["xtask", "resilience"]),
        )?;
        step(
            "qemu: module.sig_enforce=1: kbtf load refuses unsigned relocated modules, the kernel refuses modules kbtf re-signed with an untrusted key",
            cargo().current_dir(&root).args(["xtask", "sig-enforce"]),
        )?;
    }
    println!("== all tiers passed");
    Ok(())
}

/// Boots the 6.1 kernel with shipped modules carrying wrong-base BTF and checks that the
/// kernel shows the field bug for the modules it is known to refuse.
fn wrong_base_boot(root: &std::path::Path) -> Result<()> {
    let dir = crate::cache::root()?.join("wrong-base-modules");
    let mut args: Vec<String> = vec!["--modules".into(), dir.display().to_string()];
    args.extend(WRONG_BASE_BOOT.iter().map(|s| s.to_string()));
    crate::wrong_base::main(&args)?;
    let mut cmd = cargo();
    cmd.current_dir(root)
        .args(["xtask", "kernel-test", "--modprobe"]);
    cmd.args(WRONG_BASE_BOOT.iter().map(|m| dir.join(format!("{m}.ko"))));
    println!("== qemu: wrong-base modules: {}", crate::util::show(&cmd));
    // kernel-test exits non-zero when a module FAILs, which is expected here.
    let out = cmd.output().context("running kernel-test")?;
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    let mut bad = Vec::new();
    for m in WRONG_BASE_BOOT {
        let failed = text.lines().any(|l| {
            l.starts_with(&format!("FAIL {m}:"))
                && l.contains(&format!("failed to validate module [{m}] BTF: -22"))
        });
        let expected = WRONG_BASE_KERNEL_REFUSES.contains(m);
        match (expected, failed) {
            (true, true) => {
                println!("field bug reproduced: the kernel refuses {m}'s wrong-base BTF")
            }
            (false, false) => {
                println!("the kernel accepts {m}'s wrong-base BTF by luck (kbtf check rejects it)")
            }
            (true, false) => bad.push(format!("{m}: expected the kernel to refuse its BTF")),
            (false, true) => bad.push(format!(
                "{m}: the kernel now refuses it; update WRONG_BASE_KERNEL_REFUSES"
            )),
        }
    }
    anyhow::ensure!(bad.is_empty(), "wrong-base boot: {}", bad.join("; "));
    Ok(())
}
