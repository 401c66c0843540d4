//! `kbtf -J` on Debian's 6.1 and 6.12 `-dbg` kernels, end to end through the binary: encode,
//! deduplicate, write. Compared with pahole 1.24 run single-threaded on the same input (the
//! reference; `cargo xtask pahole-ref`) and with the `.BTF` Debian shipped.
//!
//! Ignored by default: `cargo xtask test` runs them with the cache paths in `KBTF_*`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use kbtf_btf::diff::{diff, DiffOptions};
use kbtf_btf::validate::validate;
use kbtf_btf::{read_base, read_file, Btf};
use kbtf_testkit::{env_path, every_module};

/// One of Debian's kernels, as the real-kernel tier's variables name its parts.
struct Kernel {
    /// The `-dbg` vmlinux (DWARF and `.BTF`).
    dbg_vmlinux: PathBuf,
    /// The `-dbg` modules' directory.
    dbg_modules: PathBuf,
    /// The raw vmlinux BTF of the shipped image: the base modules are encoded against.
    vmlinux_btf: PathBuf,
    /// The shipped modules' directory (signed, with Debian's `.BTF`; 6.12's decompressed).
    modules: PathBuf,
    /// pahole 1.24's single-threaded vmlinux BTF and modules' BTF (`cargo xtask pahole-ref`).
    pahole_vmlinux_btf: PathBuf,
    pahole_modules: PathBuf,
}

fn kernel61() -> Kernel {
    Kernel {
        dbg_vmlinux: env_path("KBTF_VMLINUX"),
        dbg_modules: env_path("KBTF_DBG_MODULES_DIR"),
        vmlinux_btf: env_path("KBTF_VMLINUX_BTF"),
        modules: env_path("KBTF_MODULES_DIR"),
        pahole_vmlinux_btf: env_path("KBTF_PAHOLE_REF_VMLINUX_BTF"),
        pahole_modules: env_path("KBTF_PAHOLE_REF_MODULES_DIR"),
    }
}

fn kernel612() -> Kernel {
    Kernel {
        dbg_vmlinux: env_path("KBTF_612_DBG_VMLINUX"),
        dbg_modules: env_path("KBTF_612_DBG_MODULES_DIR"),
        vmlinux_btf: env_path("KBTF_612_VMLINUX_BTF"),
        modules: env_path("KBTF_612_MODULES_DIR"),
        pahole_vmlinux_btf: env_path("KBTF_PAHOLE_REF_612_VMLINUX_BTF"),
        pahole_modules: env_path("KBTF_PAHOLE_REF_612_MODULES_DIR"),
    }
}

fn kbtf(args: &[&str]) {
    let (code, _, stderr) = kbtf_testkit::run(env!("CARGO_BIN_EXE_kbtf"), args);
    assert_eq!(code, 0, "kbtf {args:?}: {stderr}");
}

/// The only ways kbtf may differ from what Debian shipped, both from pahole 1.24's `-j`
/// (docs/encoder.md, "Differences from Debian's shipped BTF"):
/// * which static function of several sharing a name got its FUNC: each `-j` thread tracks
///   encoded names on its own, so Debian's BTF holds some functions twice, with different
///   prototypes;
/// * which copies of base types a module keeps: libbpf's split dedup depends on type order,
///   which `-j` varies, so Debian's module BTF keeps other base-equal copies than a
///   single-threaded run (kbtf equals the single-threaded run).
fn only_pahole_j_effects(d: &kbtf_btf::diff::Diff) -> bool {
    d.changed.is_empty()
        && d.only_in_a
            .iter()
            .chain(&d.only_in_b)
            .all(|l| l.starts_with("func static ") || l.ends_with("(same as a base type)"))
}

/// What a reader sees of an ELF file besides the sections kbtf writes: every other section's
/// name, kind, flags and contents, every symbol, and every relocation.
fn elf_summary(path: &Path) -> Vec<String> {
    use object::{Object, ObjectSection, ObjectSymbol};
    let data = std::fs::read(path).unwrap();
    let f = object::File::parse(&*data).unwrap();
    let mut out = Vec::new();
    for s in f.sections() {
        let name = s.name().unwrap_or("?").to_string();
        if matches!(
            name.as_str(),
            ".BTF" | ".shstrtab" | kbtf_btf::fingerprint::SECTION
        ) {
            continue;
        }
        let relocs: Vec<String> = s
            .relocations()
            .map(|(o, r)| format!("{o}:{:?}:{:?}:{}", r.flags(), r.target(), r.addend()))
            .collect();
        // `.BTF_ids` follows the new BTF's ids (kbtf resolves it again): its size stays, its
        // contents are checked by `kbtf check` instead.
        let data = if name == ".BTF_ids" {
            None
        } else {
            s.data().ok()
        };
        out.push(format!(
            "{} {name} {:?} {:?} {:?} {} {relocs:?}",
            s.index().0,
            s.kind(),
            s.flags(),
            data,
            s.size()
        ));
    }
    for sym in f.symbols() {
        out.push(format!(
            "{:?} {:?} {:?} {} {}",
            sym.name(),
            sym.section(),
            sym.kind(),
            sym.address(),
            sym.size()
        ));
    }
    out
}

/// Every section but `.BTF`, `.BTF_ids` and the name table: index, name, kind, flags,
/// address, size and a hash of its contents (symbol tables and relocation sections
/// included). For a vmlinux, whose 10 M relocations `elf_summary` would spell out one by
/// one. (`.BTF_ids` is resolved again onto the new BTF: `kbtf check` judges it.)
fn sections_summary(path: &Path) -> Vec<String> {
    use object::{Object, ObjectSection};
    use std::hash::{Hash, Hasher};
    let data = std::fs::read(path).unwrap();
    let f = object::File::parse(&*data).unwrap();
    f.sections()
        .filter(|s| !matches!(s.name(), Ok(".BTF" | ".BTF_ids" | ".shstrtab")))
        .map(|s| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            s.data().unwrap_or_default().hash(&mut h);
            format!(
                "{} {:?} {:?} {:?} {:#x} {} {:x}",
                s.index().0,
                s.name(),
                s.kind(),
                s.flags(),
                s.address(),
                s.size(),
                h.finish()
            )
        })
        .collect()
}

#[test]
#[ignore]
fn vmlinux_equals_pahole_and_is_deterministic() {
    vmlinux_equals_pahole(&kernel61());
}

#[test]
#[ignore]
fn vmlinux_612_equals_pahole_and_is_deterministic() {
    vmlinux_equals_pahole(&kernel612());
}

/// `k`'s `-dbg` vmlinux encoded at `-j1` and `-j2` (the same bytes), and written into a copy of
/// the ELF: equal to pahole 1.24's, and to Debian's shipped BTF but for pahole -j's effects.
fn vmlinux_equals_pahole(k: &Kernel) {
    let vmlinux = &k.dbg_vmlinux;
    let dir = tempfile::tempdir().unwrap();
    let out = |n: &str| dir.path().join(n).display().to_string();
    let v = vmlinux.display().to_string();
    let flags = ["-J", "--btf_gen_floats", "--lang_exclude=rust"];
    for (jobs, name) in [("-j1", "j1.btf"), ("-j2", "j2.btf")] {
        let detached = format!("--btf_encode_detached={}", out(name));
        let mut args: Vec<&str> = flags.to_vec();
        args.extend([jobs, &detached, &v]);
        kbtf(&args);
    }
    let j1 = std::fs::read(out("j1.btf")).unwrap();
    assert!(
        j1 == std::fs::read(out("j2.btf")).unwrap(),
        "-j1 and -j2 give different bytes"
    );

    // Into the ELF (written as edits over the old file, copied file to file): `.BTF` holds
    // the same bytes, every other section, symbol and relocation is as it was, and the file
    // keeps its mode.
    // The 590 MB copy goes to memory where there is a tmpfs: CI machines are short of disk.
    let shm = Path::new("/dev/shm");
    let copy_dir = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let copy = copy_dir.path().join("vmlinux").display().to_string();
    std::fs::copy(vmlinux, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o640)).unwrap();
    let mut args: Vec<&str> = flags.to_vec();
    args.extend(["-j2", &copy]);
    kbtf(&args);
    let written = std::fs::read(&copy).unwrap();
    assert!(
        kbtf_emit::elf::section(&written, ".BTF").unwrap() == Some(&j1[..]),
        ".BTF written into the ELF differs from the detached output"
    );
    drop(written);
    assert!(
        sections_summary(Path::new(&copy)) == sections_summary(vmlinux),
        "writing .BTF into vmlinux changed other sections (symbols and relocations included)"
    );
    // `.BTF_ids`, resolved against the shipped `.BTF`, now names the same types in kbtf's.
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_kbtf"))
        .args(["check", &copy])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && text.contains("symbols, each names its type"),
        "kbtf check of the vmlinux kbtf wrote: {text}"
    );
    assert_eq!(
        std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777,
        0o640
    );

    let ours = read_file(Path::new(&out("j1.btf")), None).unwrap().btf;
    let reference = read_file(&k.pahole_vmlinux_btf, None).unwrap().btf;
    let d = diff(&ours, &reference, &DiffOptions::default());
    assert!(d.is_empty(), "kbtf and pahole 1.24 differ:\n{d}");
    assert!(
        validate(&ours).is_empty(),
        "kbtf's vmlinux BTF has problems"
    );

    let shipped = read_file(&k.vmlinux_btf, None).unwrap().btf;
    let d = diff(&ours, &shipped, &DiffOptions::default());
    eprintln!(
        "vmlinux: {} types; against Debian's shipped BTF: {} differences",
        ours.own_types().len(),
        d.len()
    );
    assert!(
        only_pahole_j_effects(&d),
        "differences beyond pahole -j's effects:\n{d}"
    );
}

#[test]
#[ignore]
fn every_module_equals_pahole_and_shipped() {
    modules_equal_pahole_and_shipped(&kernel61());
}

#[test]
#[ignore]
fn every_612_module_equals_pahole_and_shipped() {
    modules_equal_pahole_and_shipped(&kernel612());
}

/// Every `-dbg` module of `k`: `kbtf -J --btf_base vmlinux` on a copy equals pahole 1.24's BTF
/// for it, equals Debian's shipped `.BTF` but for pahole -j's effects, and passes `check`.
fn modules_equal_pahole_and_shipped(k: &Kernel) {
    let base_path = &k.vmlinux_btf;
    let base: Arc<Btf> = read_base(base_path).unwrap();
    let (dbg, shipped, reference) = (&k.dbg_modules, &k.modules, &k.pahole_modules);
    let kos = every_module(dbg);
    let dir = tempfile::tempdir().unwrap();
    let next = AtomicUsize::new(0);
    let bad = Mutex::new(Vec::new());
    let not_as_shipped = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for worker in 0..2 {
            let (kos, next, bad, base, dir) = (&kos, &next, &bad, &base, &dir);
            let (dbg, shipped, reference, base_path) = (dbg, shipped, reference, base_path);
            let not_as_shipped = &not_as_shipped;
            s.spawn(move || {
                while let Some(ko) = kos.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let rel = ko.strip_prefix(dbg).unwrap();
                    let copy: PathBuf = dir.path().join(format!("w{worker}.ko"));
                    std::fs::copy(ko, &copy).unwrap();
                    let out = Command::new(env!("CARGO_BIN_EXE_kbtf"))
                        .args([
                            "-J",
                            "-j1",
                            "--btf_gen_floats",
                            "--lang_exclude=rust",
                            "--btf_base",
                        ])
                        .arg(base_path)
                        .arg(&copy)
                        .output()
                        .unwrap();
                    let mut problems = Vec::new();
                    if !out.status.success() {
                        problems.push(format!(
                            "kbtf -J failed: {}",
                            String::from_utf8_lossy(&out.stderr)
                        ));
                    } else {
                        let ours = read_file(&copy, Some(base.clone())).unwrap();
                        let pahole = read_file(
                            &reference.join(rel).with_extension("btf"),
                            Some(base.clone()),
                        )
                        .unwrap();
                        let d = diff(&ours.btf, &pahole.btf, &DiffOptions::default());
                        if !d.is_empty() {
                            problems.push(format!("differs from pahole 1.24:\n{d}"));
                        }
                        let theirs = read_file(&shipped.join(rel), Some(base.clone())).unwrap();
                        let d = diff(&ours.btf, &theirs.btf, &DiffOptions::default());
                        if !d.is_empty() {
                            not_as_shipped.fetch_add(1, Ordering::Relaxed);
                            if !only_pahole_j_effects(&d) {
                                problems.push(format!("differs from Debian's .BTF:\n{d}"));
                            }
                        }
                        if !validate(&ours.btf).is_empty() {
                            problems.push("kbtf check finds problems".into());
                        }
                        if ours.base_fingerprint.is_none() {
                            problems.push("no base fingerprint note".into());
                        }
                        if elf_summary(ko) != elf_summary(&copy) {
                            problems.push("sections, symbols or relocations changed".into());
                        }
                        // Its .BTF_ids (kfunc sets, id lists) name the right types in the new BTF.
                        let check = Command::new(env!("CARGO_BIN_EXE_kbtf"))
                            .args(["check", "--base"])
                            .arg(base_path)
                            .arg(&copy)
                            .output()
                            .unwrap();
                        let text = String::from_utf8_lossy(&check.stdout);
                        if text.contains(".BTF_ids: ") && !text.contains("each names its type") {
                            problems.push(format!("kbtf check on its .BTF_ids:\n{text}"));
                        }
                    }
                    if !problems.is_empty() {
                        bad.lock().unwrap().push(format!(
                            "{}: {}",
                            rel.display(),
                            problems.join("; ")
                        ));
                    }
                }
            });
        }
    });
    let bad = bad.into_inner().unwrap();
    eprintln!(
        "{} modules: {} differ from pahole or fail; {} differ from Debian's .BTF only by pahole -j's effects",
        kos.len(),
        bad.len(),
        not_as_shipped.load(Ordering::Relaxed)
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Every `-dbg` module encoded by kbtf against the older build's vmlinux BTF (the field bug, as
/// a stale build host would make it): `kbtf check` against the right vmlinux says for certain,
/// from the base fingerprint note, that it was built against a different vmlinux BTF.
#[test]
#[ignore]
fn fingerprint_flags_every_module_built_against_the_other_vmlinux() {
    let right = env_path("KBTF_VMLINUX_BTF").display().to_string();
    let old = env_path("KBTF_OLD_VMLINUX_BTF").display().to_string();
    let dbg = env_path("KBTF_DBG_MODULES_DIR");
    let kos = every_module(&dbg);
    let dir = tempfile::tempdir().unwrap();
    let next = AtomicUsize::new(0);
    let missed = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for worker in 0..2 {
            let (kos, next, missed, dir, right, old) = (&kos, &next, &missed, &dir, &right, &old);
            s.spawn(move || {
                while let Some(ko) = kos.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let copy = dir.path().join(format!("f{worker}.ko"));
                    std::fs::copy(ko, &copy).unwrap();
                    let c = copy.display().to_string();
                    kbtf(&[
                        "-J",
                        "--btf_gen_floats",
                        "--lang_exclude=rust",
                        "--btf_base",
                        old,
                        &c,
                    ]);
                    let out = Command::new(env!("CARGO_BIN_EXE_kbtf"))
                        .args(["check", "--base", right, &c])
                        .output()
                        .unwrap();
                    let text = String::from_utf8_lossy(&out.stdout);
                    if out.status.code() != Some(1)
                        || !text
                            .lines()
                            .find(|l| !l.starts_with("signature: "))
                            .is_some_and(|l| l.starts_with("built against a different vmlinux BTF"))
                    {
                        missed
                            .lock()
                            .unwrap()
                            .push(format!("{}: {text}", ko.display()));
                    }
                }
            });
        }
    });
    let missed = missed.into_inner().unwrap();
    eprintln!(
        "{} modules built against the older vmlinux: {} not flagged",
        kos.len(),
        missed.len()
    );
    assert!(missed.is_empty(), "{}", missed.join("\n"));
}
