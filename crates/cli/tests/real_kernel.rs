//! The `kbtf` binary on Debian's real kernels, against bpftool. Ignored by default:
//! `cargo xtask test` runs them with the cache paths in `KBTF_*` variables.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use kbtf_testkit::{env_path, every_module};

fn stdout_of(cmd: &mut Command) -> Result<Vec<u8>, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out.stdout)
}

/// `kbtf dump --format raw` and `bpftool btf dump ... format raw` print the same bytes.
fn same_dump(file: &Path, base: Option<&Path>) -> Result<(), String> {
    let mut ours = Command::new(env!("CARGO_BIN_EXE_kbtf"));
    ours.arg("dump").arg("--format").arg("raw").arg(file);
    let mut theirs = Command::new("bpftool");
    theirs.args(["btf", "dump", "file"]).arg(file);
    if let Some(b) = base {
        ours.arg("--base").arg(b);
        theirs.arg("-B").arg(b);
    }
    theirs.args(["format", "raw"]);
    let (a, b) = (stdout_of(&mut ours)?, stdout_of(&mut theirs)?);
    if a == b {
        return Ok(());
    }
    let (a, b) = (String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
    let at = a
        .lines()
        .zip(b.lines())
        .position(|(x, y)| x != y)
        .unwrap_or(a.lines().count().min(b.lines().count()));
    Err(format!(
        "{}: dumps differ at line {}:\n  kbtf:    {}\n  bpftool: {}",
        file.display(),
        at + 1,
        a.lines().nth(at).unwrap_or("<end>"),
        b.lines().nth(at).unwrap_or("<end>")
    ))
}

fn dump_tree(vmlinux_var: &str, modules_var: &str) {
    let vmlinux = env_path(vmlinux_var);
    same_dump(&vmlinux, None).unwrap();
    let kos = every_module(&env_path(modules_var));
    let next = AtomicUsize::new(0);
    let bad = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while let Some(ko) = kos.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if let Err(e) = same_dump(ko, Some(&vmlinux)) {
                        bad.lock().unwrap().push(e);
                    }
                }
            });
        }
    });
    let bad = bad.into_inner().unwrap();
    eprintln!(
        "{modules_var}: vmlinux and {} modules, {} dumps differ from bpftool",
        kos.len(),
        bad.len()
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
#[ignore]
fn raw_dump_equals_bpftool_on_6_1_vmlinux_and_every_module() {
    dump_tree("KBTF_VMLINUX_BTF", "KBTF_MODULES_DIR");
}

#[test]
#[ignore]
fn raw_dump_equals_bpftool_on_6_12_vmlinux_and_every_module() {
    dump_tree("KBTF_612_VMLINUX_BTF", "KBTF_612_MODULES_DIR");
}

/// `kbtf check` (the binary, as a packager runs it) accepts every shipped module.
#[test]
#[ignore]
fn check_accepts_shipped_modules() {
    let vmlinux = env_path("KBTF_VMLINUX_BTF");
    let kos = every_module(&env_path("KBTF_MODULES_DIR"));
    let mut bad = Vec::new();
    for ko in kos.iter().step_by(10) {
        let out = Command::new(env!("CARGO_BIN_EXE_kbtf"))
            .arg("check")
            .arg("--base")
            .arg(&vmlinux)
            .arg(ko)
            .output()
            .unwrap();
        if !out.status.success() {
            bad.push(format!(
                "{}: {}",
                ko.display(),
                String::from_utf8_lossy(&out.stdout)
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// `kbtf check` accepts Debian's `-dbg` vmlinux files as shipped, `.BTF_ids` included: their
/// `btf_id_deny` set holds a `BTF_ID_UNUSED` word, a 0 no symbol labels (kbtf check used to
/// call that set wrong, and exit 1, on every Debian kernel).
#[test]
#[ignore]
fn check_accepts_shipped_vmlinux() {
    for var in ["KBTF_VMLINUX", "KBTF_612_DBG_VMLINUX"] {
        let vmlinux = env_path(var);
        let out = Command::new(env!("CARGO_BIN_EXE_kbtf"))
            .arg("check")
            .arg(&vmlinux)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("symbols, each names its type"),
            "{}: {text}{}",
            vmlinux.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
