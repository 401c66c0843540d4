//! Validation of real kernel BTF (ignored by default: needs data outside the repository).
//!
//! `cargo xtask test` runs them with paths from the test-kernel cache in the environment:
//!
//! * `KBTF_VMLINUX_BTF`: a vmlinux BTF, which must have no problem;
//! * `KBTF_MODULES_DIR`: a tree of `.ko` files whose `.BTF` is split on that vmlinux, which
//!   must have no problem;
//! * `KBTF_WRONG_BASE_DIR`: a tree of module BTF (`.btf` raw split BTF or `.ko`) built against a
//!   different vmlinux (`cargo xtask wrong-base`), which must all be rejected.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kbtf_btf::validate::{validate_with, BaseInfo, ProblemClass, Report};
use kbtf_btf::{read_base, read_file};
use kbtf_testkit::{env_path, every_module};

fn modules(dir: &Path) -> Vec<PathBuf> {
    kbtf_testkit::files_with_ext(dir, &["ko", "btf"])
}

fn base() -> (Arc<kbtf_btf::Btf>, BaseInfo) {
    let path = env_path("KBTF_VMLINUX_BTF");
    let base = read_base(&path).expect("read vmlinux BTF");
    let info = BaseInfo::new(&base);
    (base, info)
}

#[test]
#[ignore]
fn vmlinux_has_no_problem() {
    let (base, info) = base();
    let t = std::time::Instant::now();
    let problems = validate_with(&base, Some(&info));
    let report = Report::new(problems, 50);
    eprintln!(
        "vmlinux: {} types, {:?}",
        base.own_types().len(),
        t.elapsed()
    );
    eprint!("{report}");
    assert!(report.is_ok());
}

#[test]
#[ignore]
fn shipped_modules_have_no_problem() {
    let (base, info) = base();
    let kos = every_module(&env_path("KBTF_MODULES_DIR"));
    let mut bad = 0;
    for ko in &kos {
        let file = match read_file(ko, Some(base.clone())) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{e}");
                bad += 1;
                continue;
            }
        };
        let report = Report::new(validate_with(&file.btf, Some(&info)), 5);
        if !report.is_ok() {
            bad += 1;
            eprint!("{}:\n{report}", ko.display());
        }
    }
    eprintln!("{} modules, {bad} with problems", kos.len());
    assert_eq!(bad, 0);
}

#[test]
#[ignore]
fn mismatched_modules_are_rejected() {
    let (base, info) = base();
    let dir = env_path("KBTF_WRONG_BASE_DIR");
    let kos = modules(&dir);
    let (mut parse_err, mut invalid, mut kernel_btf, mut wrong_base, mut accepted) =
        (0, 0, 0, 0, 0);
    // How many modules break each rule.
    let mut rules = std::collections::BTreeMap::new();
    for ko in &kos {
        let file = match read_file(ko, Some(base.clone())) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{}: parse error: {e}", ko.display());
                parse_err += 1;
                continue;
            }
        };
        let problems = validate_with(&file.btf, Some(&info));
        let mut seen = std::collections::BTreeSet::new();
        for p in &problems {
            seen.insert((p.class, p.phase.name(), p.rule));
        }
        for r in seen {
            *rules.entry(r).or_insert(0) += 1;
        }
        let report = Report::new(problems.clone(), 3);
        if report.is_ok() {
            accepted += 1;
            eprintln!("{}: ACCEPTED", ko.display());
            continue;
        }
        if report.invalid > 0 {
            invalid += 1;
        }
        if report.invalid_for_kernel_btf > 0 {
            kernel_btf += 1;
        }
        if problems.iter().any(|p| p.class == ProblemClass::WrongBase) {
            wrong_base += 1;
        }
        if std::env::var_os("KBTF_VERBOSE").is_some() {
            eprint!("{}:\n{report}", ko.display());
        }
    }
    eprintln!(
        "{} modules: {parse_err} parse errors, {invalid} with kernel-invalid problems ({kernel_btf} \
         rejected by 6.1's module loader itself), {wrong_base} with wrong-base signs, {accepted} accepted",
        kos.len()
    );
    for ((class, phase, rule), n) in &rules {
        eprintln!("{n:5} modules: {class:?}, {phase}: {rule}");
    }
    assert!(
        kos.len() >= 1000,
        "expected every 6.1 module, found {}",
        kos.len()
    );
    assert_eq!(accepted, 0);
}

#[test]
#[ignore]
fn mutated_module_btf_never_panics() {
    let (base, info) = base();
    let kos = every_module(&env_path("KBTF_MODULES_DIR"));
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut tried, mut parsed, mut with_problems) = (0, 0, 0);
    for ko in kos.iter().step_by(37) {
        let Ok(file) = read_file(ko, Some(base.clone())) else {
            continue;
        };
        let bytes = file.btf.to_bytes();
        for _ in 0..200 {
            let mut m = bytes.clone();
            for _ in 0..1 + next() % 4 {
                let at = 24 + (next() as usize % (m.len() - 27)) / 4 * 4;
                let v = match next() % 4 {
                    0 => next() as u32,
                    1 => (next() % 64) as u32,
                    2 => base.end_id() + (next() % 64) as u32 - 32,
                    _ => {
                        u32::from_le_bytes([m[at], m[at + 1], m[at + 2], m[at + 3]])
                            ^ (1 << (next() % 32))
                    }
                };
                m[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
            tried += 1;
            if let Ok(btf) = kbtf_btf::Btf::parse(&m, Some(base.clone())) {
                parsed += 1;
                if !validate_with(&btf, Some(&info)).is_empty() {
                    with_problems += 1;
                }
            }
        }
    }
    eprintln!("{tried} mutations, {parsed} parsed, {with_problems} with problems");
    assert!(tried > 0, "no module's BTF could be read to mutate");
}
