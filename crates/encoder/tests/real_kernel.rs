//! The encoder on Debian's 6.1 kernel, compared by meaning with pahole 1.24 run here.
//!
//! Ignored by default: `cargo xtask test` runs them in release mode with `KBTF_VMLINUX` (the
//! `-dbg` vmlinux) and `KBTF_DBG_MODULES_DIR` set from the cache. They need `pahole`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use kbtf_btf::diff::{diff, DiffOptions};
use kbtf_btf::Btf;
use kbtf_encoder::{encode, EncodeOptions};

fn env_path(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(p) => PathBuf::from(p),
        None => panic!("{var} is not set: run the real-kernel tier with `cargo xtask test`"),
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kbtf-encoder-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// pahole 1.24 on `file`, single-threaded, raw BTF out.
fn pahole(file: &Path, base: Option<&Path>, extra: &[&str]) -> PathBuf {
    let out = scratch(&format!(
        "{}.pahole.btf",
        file.file_name().unwrap().to_string_lossy()
    ));
    let mut cmd = Command::new("pahole");
    cmd.arg("-J")
        .arg(format!("--btf_encode_detached={}", out.display()))
        .args(extra);
    if let Some(b) = base {
        cmd.arg("--btf_base").arg(b);
    }
    let status = cmd.arg(file).status().expect("running pahole");
    assert!(status.success(), "pahole failed on {}", file.display());
    out
}

#[test]
#[ignore]
fn vmlinux_matches_pahole() {
    let vmlinux = env_path("KBTF_VMLINUX");
    let reference = pahole(&vmlinux, None, &["--btf_gen_floats", "--lang_exclude=rust"]);
    let pahole = kbtf_btf::read_file(&reference, None).unwrap().btf;
    let data = std::fs::read(&vmlinux).unwrap();
    let opts = EncodeOptions {
        gen_floats: true,
        lang_exclude_rust: true,
        ..Default::default()
    };
    let ours = encode(&vmlinux, &data, None, &opts).unwrap();
    let ours = common::structural_dedup(&ours);
    let d = diff(&ours, &pahole, &DiffOptions::default());
    let _ = std::fs::remove_file(&reference);
    assert!(d.is_empty(), "{} lines of differences:\n{d}", d.len());
}

/// Every `step`-th module of the `-dbg` package (sorted by path), against pahole.
fn modules_sample(step: usize) -> Vec<PathBuf> {
    let dir = env_path("KBTF_DBG_MODULES_DIR");
    let mut all = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "ko") {
                all.push(p);
            }
        }
    }
    all.sort();
    all.into_iter().step_by(step).collect()
}

/// Modules whose types meet a FWD of the base that libbpf matches with the module's struct
/// (see tests/common): the test-only dedup cannot tell, so they are only encoded here until
/// the comparison goes through `kbtf_dedup`.
const HELPER_LIMITS: [&str; 2] = ["nfs.ko", "ip_vs_rr.ko"];

#[test]
#[ignore]
fn modules_match_pahole() {
    let base_path = env_path("KBTF_VMLINUX_BTF");
    let base: Arc<Btf> = kbtf_btf::read_base(&base_path).unwrap();
    let mut failures = Vec::new();
    let sample = modules_sample(40);
    for module in &sample {
        let reference = pahole(module, Some(&base_path), &[]);
        let pahole = kbtf_btf::read_file(&reference, Some(base.clone()))
            .unwrap()
            .btf;
        let _ = std::fs::remove_file(&reference);
        let data = std::fs::read(module).unwrap();
        let ours = encode(module, &data, Some(base.clone()), &EncodeOptions::default()).unwrap();
        let d = diff(
            &common::structural_dedup(&ours),
            &pahole,
            &DiffOptions::default(),
        );
        // Differences that only involve forward declarations come from the test-only
        // dedup (see tests/common); anything else is a real difference.
        let real: Vec<&String> = d
            .changed
            .iter()
            .chain(&d.only_in_a)
            .chain(&d.only_in_b)
            .filter(|l| !l.contains("FWD -> STRUCT") && !l.contains("FWD -> UNION"))
            .filter(|l| !l.contains("(same as a base type)"))
            .collect();
        let name = module.file_name().unwrap().to_string_lossy();
        if !real.is_empty() && !HELPER_LIMITS.contains(&&*name) {
            failures.push(format!(
                "{}: {} differences\n{d}",
                module.display(),
                d.len()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} modules differ:\n{}",
        failures.len(),
        sample.len(),
        failures.join("\n")
    );
}
