//! Helpers shared by kbtf's tests: where the committed fixtures are, and the inputs of the
//! real-kernel tier, which `cargo xtask test` passes in `KBTF_*` environment variables.

use std::path::{Path, PathBuf};

pub mod openssl;

/// A path under the repository's `testdata/` (see testdata/PROVENANCE).
pub fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

/// A committed fixture under `testdata/`: missing, it fails the test rather than skipping it
/// (see testdata/PROVENANCE).
pub fn fixture(rel: &str) -> PathBuf {
    let p = testdata(rel);
    assert!(
        p.is_file(),
        "fixture {} is missing (see testdata/PROVENANCE)",
        p.display()
    );
    p
}

/// Whether the program `tool` runs (`tool --version`). A test that compares with it skips
/// without it, saying so, unless `KBTF_REQUIRE_TOOLS` is set, as `cargo xtask test` sets it:
/// then a missing tool fails the test.
pub fn have_tool(tool: &str) -> bool {
    let ok = std::process::Command::new(tool)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("KBTF_REQUIRE_TOOLS").is_none(),
            "KBTF_REQUIRE_TOOLS is set, but {tool} is not on PATH"
        );
        eprintln!("skipping: {tool} is not on PATH");
    }
    ok
}

/// A path from the environment of the real-kernel tier. Those tests only run on purpose
/// (they are `#[ignore]`d), so a missing variable fails the test rather than skipping it.
pub fn env_path(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(p) => PathBuf::from(p),
        None => panic!("{var} is not set: run the real-kernel tier with `cargo xtask test`"),
    }
}

/// Every file under `dir` whose extension is one of `exts`, sorted.
pub fn files_with_ext(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for e in entries {
            let p = e.unwrap_or_else(|e| panic!("{}: {e}", d.display())).path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| exts.iter().any(|e| x == *e)) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every `.ko` under `dir`, sorted.
pub fn modules(dir: &Path) -> Vec<PathBuf> {
    files_with_ext(dir, &["ko"])
}

/// Every `.ko` of a real kernel's module tree, sorted. Fails when there are fewer than 1,000:
/// the trees of the real-kernel tier hold over 1,100 modules, so fewer means a wrong or
/// half-unpacked directory, over which a test would prove little.
pub fn every_module(dir: &Path) -> Vec<PathBuf> {
    let kos = modules(dir);
    assert!(
        kos.len() >= 1000,
        "expected every module of a kernel under {}, found {}",
        dir.display(),
        kos.len()
    );
    kos
}

/// Runs the program `bin` (a test's `env!("CARGO_BIN_EXE_kbtf")`) with `args`: its exit code
/// (-1 when killed by a signal), stdout and stderr (invalid UTF-8 replaced).
pub fn run<S: AsRef<std::ffi::OsStr>>(bin: &str, args: &[S]) -> (i32, String, String) {
    let out = std::process::Command::new(bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {bin}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
