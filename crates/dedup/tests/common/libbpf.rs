//! The libbpf oracle: `libbpf_dedup.c`, built against the system's libbpf 1.1 shared
//! library (Debian's `libbpf1`, which Debian's pahole 1.24 uses), runs libbpf's own
//! `btf__dedup` on the same input so that tests can require our output to be libbpf's byte
//! for byte.
//!
//! The oracle is skipped, with a note on stderr, when `gcc` or `libbpf.so.1` is missing or
//! the library is not libbpf 1.1 (other versions deduplicate differently by design; see
//! docs/dedup.md), unless `KBTF_REQUIRE_LIBBPF` is set. Everything it writes goes under
//! Cargo's `CARGO_TARGET_TMPDIR`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use kbtf_btf::Btf;

/// Where the shared library may be, when `ldconfig -p` does not say.
const LIB_PATHS: &[&str] = &[
    "/lib/x86_64-linux-gnu/libbpf.so.1",
    "/usr/lib/x86_64-linux-gnu/libbpf.so.1",
    "/usr/lib64/libbpf.so.1",
    "/usr/lib/libbpf.so.1",
];

fn find_lib() -> Option<PathBuf> {
    if let Ok(out) = Command::new("ldconfig").arg("-p").output() {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if line.trim_start().starts_with("libbpf.so.1 ") {
                if let Some((_, path)) = line.split_once("=> ") {
                    return Some(PathBuf::from(path.trim()));
                }
            }
        }
    }
    LIB_PATHS.iter().map(PathBuf::from).find(|p| p.is_file())
}

fn build() -> Result<PathBuf, String> {
    let lib = find_lib().ok_or("libbpf.so.1 not found")?;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let exe = dir.join("libbpf_dedup");
    // Built under a name of its own, then renamed: another test binary may be using `exe`.
    let tmp = dir.join(format!("libbpf_dedup-{}", std::process::id()));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/libbpf_dedup.c");
    let out = Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(&tmp)
        .arg(&src)
        .arg(&lib)
        .output()
        .map_err(|e| format!("gcc: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "gcc failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::rename(&tmp, &exe).map_err(|e| format!("{}: {e}", exe.display()))?;
    let v = Command::new(&exe)
        .arg("--version")
        .output()
        .map_err(|e| format!("{}: {e}", exe.display()))?;
    let version = String::from_utf8_lossy(&v.stdout).trim().to_string();
    if !version.starts_with("v1.1") {
        return Err(format!("{} is libbpf {version}, not 1.1", lib.display()));
    }
    Ok(exe)
}

/// The oracle program, or `None` (with a note, once) when it cannot be had. With
/// `KBTF_REQUIRE_LIBBPF` set in the environment, not having it fails instead.
pub fn oracle() -> Option<&'static Path> {
    static EXE: OnceLock<Option<PathBuf>> = OnceLock::new();
    EXE.get_or_init(|| match build() {
        Ok(p) => Some(p),
        Err(e) if std::env::var_os("KBTF_REQUIRE_LIBBPF").is_some() => {
            panic!("KBTF_REQUIRE_LIBBPF is set, but the libbpf oracle is unavailable: {e}")
        }
        Err(e) => {
            eprintln!("skipping the libbpf comparison: {e}");
            None
        }
    })
    .as_deref()
}

/// libbpf's dedup of `input` as raw bytes (`Err` with libbpf's message if it failed), or
/// `None` without the oracle. Split BTF is passed with its base (one level).
pub fn libbpf_dedup(input: &Btf) -> Option<Result<Vec<u8>, String>> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let exe = oracle()?;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let tag = format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let (inp, outp, basep) = (
        dir.join(format!("in-{tag}.btf")),
        dir.join(format!("out-{tag}.btf")),
        dir.join(format!("base-{tag}.btf")),
    );
    std::fs::write(&inp, input.to_bytes()).unwrap();
    let mut cmd = Command::new(exe);
    cmd.arg(&inp).arg(&outp);
    if let Some(base) = input.base() {
        std::fs::write(&basep, base.to_bytes()).unwrap();
        cmd.arg(&basep);
    }
    let out = cmd.output().unwrap();
    let res = if out.status.success() {
        Ok(std::fs::read(&outp).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    };
    for p in [&inp, &outp, &basep] {
        let _ = std::fs::remove_file(p);
    }
    Some(res)
}

/// Asserts that `ours`, our dedup of `input`, is byte for byte libbpf's (when the oracle is
/// available). On a mismatch, both raw dumps are written next to the test binary's temp
/// files for inspection.
pub fn assert_same(input: &Btf, ours: &Btf) {
    let Some(theirs) = libbpf_dedup(input) else {
        return;
    };
    let theirs = theirs.unwrap_or_else(|e| panic!("libbpf failed where we did not: {e}"));
    let mine = ours.to_bytes();
    if mine == theirs {
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let theirs_btf = Btf::parse(&theirs, input.base().cloned()).unwrap();
    let (a, b) = (dir.join("ours.txt"), dir.join("libbpf.txt"));
    std::fs::write(&a, super::raw(ours)).unwrap();
    std::fs::write(&b, super::raw(&theirs_btf)).unwrap();
    panic!(
        "output differs from libbpf's ({} vs {} bytes, {} vs {} types); dumps: {} {}",
        mine.len(),
        theirs.len(),
        ours.own_types().len(),
        theirs_btf.own_types().len(),
        a.display(),
        b.display()
    );
}
