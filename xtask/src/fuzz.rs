//! `cargo xtask fuzz`: runs the cargo-fuzz targets of `fuzz/` (docs/reliability.md) for a
//! while each, on stable Rust (`cargo fuzz run -s none`), with a corpus seeded from the
//! committed fixtures, and prints the executions per target.
//!
//! The corpus lives in the target directory (`<target>/fuzz/corpus/<target>`), not in the
//! repository: each run starts from what earlier runs found plus the seeds, which are made
//! here from `testdata/` (split BTF on the small base is encoded by the kbtf binary).
//! A crash, a timeout (one input running over `--timeout` seconds) or an out-of-memory
//! (over 2 GiB) stops that target; its input lands in `<target>/fuzz/artifacts/<target>/`
//! and the task fails after the others have run.

use crate::args::{Args, Positionals};
use crate::fixtures::repo_root;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const USAGE: &str = "\
cargo xtask fuzz [--seconds N] [--target T]... [--timeout S] [--seed N] [--list]

Runs each fuzz target of fuzz/ for N seconds (default 60) with cargo-fuzz on stable
(`-s none`; installs cargo-fuzz if it is missing), the corpus seeded from testdata/, and
prints executions per target. Fails if any target found a crash, a hang (an input over
S seconds, default 20) or an out-of-memory (2 GiB). --seed makes libFuzzer's choices
repeatable for a given corpus (CI passes one, so that a fresh clone fuzzes the same way).";

/// The targets, in the order they run. The base of the split targets is fixed in the target
/// (fuzz/src/lib.rs): the 6.1 vmlinux fixture or the small base below.
pub const TARGETS: &[&str] = &[
    "btf_parse",
    "btf_split",
    "dedup",
    "distill_relocate",
    "elf_write",
    "btf_ids",
    "dwarf",
    "modsign",
];

/// The small base of `dedup` and `distill_relocate` (must match fuzz/src/lib.rs).
const SMALL_BASE: &str = "testdata/dwarf/types.dwarf5.pahole.btf";

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The workspace's target directory.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => root.join("target"),
    }
}

fn ensure_cargo_fuzz() -> Result<()> {
    let have = cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        println!("== installing cargo-fuzz (cargo install cargo-fuzz --locked)");
        crate::util::run(cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}

pub struct Outcome {
    pub target: String,
    pub seconds: u64,
    pub execs: u64,
    pub corpus: usize,
    pub problem: Option<String>,
}

pub fn main(raw: &[String]) -> Result<()> {
    let Some(args) = Args::task(
        raw,
        &["seconds", "target", "timeout", "seed"],
        &["list"],
        Positionals::None,
        USAGE,
    )?
    else {
        return Ok(());
    };
    if args.flag("list") {
        for t in TARGETS {
            println!("{t}");
        }
        return Ok(());
    }
    let seconds: u64 = args.opt("seconds").unwrap_or("60").parse()?;
    let timeout: u64 = args.opt("timeout").unwrap_or("20").parse()?;
    let targets: Vec<String> = match args.opt("target") {
        Some(_) => raw
            .windows(2)
            .filter(|w| w[0] == "--target")
            .map(|w| w[1].clone())
            .chain(
                raw.iter()
                    .filter_map(|a| a.strip_prefix("--target=").map(String::from)),
            )
            .collect(),
        None => TARGETS.iter().map(|s| s.to_string()).collect(),
    };
    for t in &targets {
        if !TARGETS.contains(&t.as_str()) {
            bail!("unknown fuzz target {t} (have: {})", TARGETS.join(", "));
        }
    }
    let seed: Option<u64> = args.opt("seed").map(str::parse).transpose()?;
    let outcomes = run(&targets, seconds, timeout, seed)?;
    print_table(&outcomes);
    let bad: Vec<_> = outcomes.iter().filter(|o| o.problem.is_some()).collect();
    if !bad.is_empty() {
        bail!(
            "fuzzing found problems: {}",
            bad.iter()
                .map(|o| format!("{}: {}", o.target, o.problem.as_deref().unwrap_or("")))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    Ok(())
}

pub fn print_table(outcomes: &[Outcome]) {
    println!(
        "\n{:<18} {:>8} {:>12} {:>9} {:>7}  result",
        "target", "seconds", "executions", "exec/s", "corpus"
    );
    for o in outcomes {
        println!(
            "{:<18} {:>8} {:>12} {:>9} {:>7}  {}",
            o.target,
            o.seconds,
            o.execs,
            o.execs / o.seconds.max(1),
            o.corpus,
            o.problem.as_deref().unwrap_or("ok")
        );
    }
}

/// Builds the targets, seeds the corpora and runs each target for `seconds`.
pub fn run(
    targets: &[String],
    seconds: u64,
    timeout: u64,
    seed: Option<u64>,
) -> Result<Vec<Outcome>> {
    let root = repo_root();
    ensure_cargo_fuzz()?;
    let work = target_dir(&root).join("fuzz");
    let fuzz_target_dir = work.join("build");
    println!("== building the fuzz targets");
    crate::util::run(
        cargo()
            .current_dir(root.join("fuzz"))
            .args(["fuzz", "build", "-s", "none", "--target-dir"])
            .arg(&fuzz_target_dir),
    )?;
    let seeds = Seeds::make(&root, &work)?;
    let mut out = Vec::new();
    for t in targets {
        let corpus = work.join("corpus").join(t);
        std::fs::create_dir_all(&corpus)?;
        seeds.put(t, &corpus)?;
        let artifacts = work.join("artifacts").join(t);
        std::fs::create_dir_all(&artifacts)?;
        let mut cmd = cargo();
        cmd.current_dir(root.join("fuzz"))
            .args(["fuzz", "run", "-s", "none", "--target-dir"])
            .arg(&fuzz_target_dir)
            .arg(t)
            .arg(&corpus)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            // A fixed seed: a short pass explores the same mutations on every machine (a
            // slower one a prefix of them), so CI does not find new things at random.
            .arg("-seed=1")
            .arg(format!("-timeout={timeout}"))
            .arg("-rss_limit_mb=2048")
            .arg("-malloc_limit_mb=2048")
            .arg("-max_len=65536")
            .arg("-print_final_stats=1")
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .env("KBTF_FUZZ_CERTS", &seeds.certs);
        if let Some(seed) = seed {
            cmd.arg(format!("-seed={seed}"));
        }
        println!("== fuzz {t}: {seconds} s");
        let log = work.join(format!("{t}.log"));
        let output = cmd
            .output()
            .with_context(|| format!("running {}", crate::util::show(&cmd)))?;
        std::fs::write(&log, [&output.stdout[..], &output.stderr[..]].concat())?;
        let text = String::from_utf8_lossy(&output.stderr);
        let execs = text
            .lines()
            .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let problem = if output.status.success() {
            None
        } else {
            let why = text
                .lines()
                .find(|l| {
                    l.contains("ERROR: libFuzzer")
                        || l.contains("panicked at")
                        || l.contains("deadly signal")
                })
                .unwrap_or("non-zero exit")
                .trim()
                .to_string();
            let artifact = text
                .lines()
                .find_map(|l| l.split("Test unit written to ").nth(1))
                .unwrap_or("")
                .trim()
                .to_string();
            Some(format!("{why} (input {artifact}; log {})", log.display()))
        };
        let n = std::fs::read_dir(&corpus)?.count();
        println!(
            "{t}: {execs} executions, corpus {n}{}",
            problem
                .as_deref()
                .map(|p| format!(", FOUND: {p}"))
                .unwrap_or_default()
        );
        out.push(Outcome {
            target: t.clone(),
            seconds,
            execs,
            corpus: n,
            problem,
        });
    }
    Ok(out)
}

/// A seed input: a file name and its bytes.
type Seed = (String, Vec<u8>);

/// Seed inputs, by target, made from the committed fixtures.
struct Seeds {
    by_target: Vec<(&'static str, Vec<Seed>)>,
    /// The certificates (DER) of the keys that signed the `modsign` seeds.
    certs: PathBuf,
}

impl Seeds {
    fn make(root: &Path, work: &Path) -> Result<Seeds> {
        let td = root.join("testdata");
        let read = |rel: &str| -> Result<Seed> {
            let p = td.join(rel);
            let name = rel.replace('/', "_");
            Ok((
                name,
                std::fs::read(&p).with_context(|| p.display().to_string())?,
            ))
        };
        let glob = |dir: &str, ext: &str| -> Result<Vec<String>> {
            let mut v: Vec<String> = std::fs::read_dir(td.join(dir))?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(ext))
                .map(|n| format!("{dir}/{n}"))
                .collect();
            v.sort();
            Ok(v)
        };
        let prefixed = |mode: u8, (n, b): &Seed| -> Seed {
            let mut v = vec![mode];
            v.extend_from_slice(b);
            (format!("{mode}-{n}"), v)
        };

        // Base BTF: pahole's output for the C fixtures, and the broken blobs of btf-load.
        let mut base_btf = Vec::new();
        for rel in glob("c", ".btf")?
            .iter()
            .chain(&glob("dwarf", ".pahole.btf")?)
        {
            base_btf.push(read(rel)?);
        }
        for b in crate::broken::all() {
            base_btf.push((b.name.to_string(), b.bytes));
        }
        // Split BTF on the 6.1 vmlinux: the shipped modules' and the broken ones'.
        let mut split_vmlinux = Vec::new();
        for dir in ["modules-6.1", "modules-6.1-old", "modules-6.1-wrong-base"] {
            for rel in glob(dir, ".btf")? {
                split_vmlinux.push(read(&rel)?);
            }
        }
        // Split BTF on the small base, and distilled pairs, encoded by kbtf.
        let (split_small, distilled) = small_base_seeds(root, work)?;
        // Objects with DWARF.
        let mut objects = Vec::new();
        for rel in glob("dwarf", ".o")?.iter().chain(&glob("c", ".o")?) {
            objects.push(read(rel)?);
        }
        // Modules (ELF with .BTF, one with .BTF_ids, one signed).
        let modules: Vec<_> = [
            "modules-6.1/dummy.ko",
            "modules-6.1/tcp_bbr.ko",
            "modules-6.1-old/dummy.ko",
        ]
        .iter()
        .map(|r| read(r))
        .collect::<Result<_>>()?;

        let mut dedup: Vec<_> = base_btf.iter().map(|s| prefixed(0, s)).collect();
        dedup.extend(split_small.iter().map(|s| prefixed(1, s)));
        let mut distill: Vec<_> = split_small.iter().map(|s| prefixed(0, s)).collect();
        distill.extend(distilled.iter().map(|s| prefixed(1, s)));
        let mut dwarf = Vec::new();
        for o in &objects {
            for mode in [0u8, 1, 6] {
                dwarf.push(prefixed(mode, o));
            }
        }
        // The kfunc sets of `.BTF_ids` (decl_tag_kfuncs, mode bit 8).
        for rel in ["encoder/kfuncs.o", "encoder/kfuncs-truncated.o"] {
            dwarf.push(prefixed(8, &read(rel)?));
        }
        let mut elves = modules.clone();
        elves.extend(objects.iter().take(4).cloned());
        // Signed modules: Debian's dummy.ko, and a small payload signed as sign-file signs
        // with RSA, P-256 and P-384 test keys (mode 0); the keys' certificates (mode 1).
        let (signed, certs_der, certs) = modsign_seeds(work)?;
        let mut modsign = vec![prefixed(0, &modules[0])];
        modsign.extend(signed.iter().map(|s| prefixed(0, s)));
        modsign.extend(certs_der.iter().map(|s| prefixed(1, s)));
        Ok(Seeds {
            certs,
            by_target: vec![
                ("btf_parse", base_btf),
                ("btf_split", split_vmlinux),
                ("dedup", dedup),
                ("distill_relocate", distill),
                ("elf_write", elves),
                ("btf_ids", modules),
                ("dwarf", dwarf),
                ("modsign", modsign),
            ],
        })
    }

    fn put(&self, target: &str, corpus: &Path) -> Result<()> {
        let Some((_, seeds)) = self.by_target.iter().find(|(t, _)| *t == target) else {
            bail!("no seeds for {target}");
        };
        for (name, bytes) in seeds {
            std::fs::write(corpus.join(format!("seed-{name}")), bytes)?;
        }
        Ok(())
    }
}

/// Test keys (RSA 2048, P-256, P-384) and their certificates, made with openssl once and
/// kept in `WORK/modsign/` (the corpus signed with them stays valid across runs); a 1 KiB
/// payload signed by each as `scripts/sign-file` signs (`kbtf_testkit::openssl`, as the tests
/// sign; by issuer and serial, and once by subject key id), with the module signature
/// trailer appended. Returns the signed payloads, the certificates' DER and the directory
/// holding them (`$KBTF_FUZZ_CERTS` of the target).
fn modsign_seeds(work: &Path) -> Result<(Vec<Seed>, Vec<Seed>, PathBuf)> {
    use kbtf_testkit::openssl::{ec_key, new_key, openssl, sign_module, SignOpts, TestKey};
    let dir = work.join("modsign");
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs)?;
    let payload: Vec<u8> = (0..1024u32).map(|i| (i * 7 + i / 256) as u8).collect();
    let mut signed = Vec::new();
    let mut der = Vec::new();
    for name in ["rsa", "p256", "p384"] {
        let key = TestKey {
            key: dir.join(format!("{name}.key")),
            cert: dir.join(format!("{name}.crt")),
        };
        let cert_der = certs.join(format!("{name}.der"));
        if !cert_der.is_file() || !key.key.is_file() {
            let subject = format!("/CN=kbtf fuzz {name}");
            match name {
                "rsa" => new_key(&dir, name, &["rsa:2048"], &subject, "0x1234"),
                "p256" => ec_key(&dir, name, "P-256", &subject, "0x1234"),
                _ => ec_key(&dir, name, "P-384", &subject, "0x1234"),
            };
            let (crt, out) = (key.cert.as_os_str(), cert_der.as_os_str());
            openssl(&[
                "x509".as_ref(),
                "-in".as_ref(),
                crt,
                "-outform".as_ref(),
                "DER".as_ref(),
                "-out".as_ref(),
                out,
            ]);
        }
        der.push((format!("{name}.der"), std::fs::read(&cert_der)?));
        let hashes: &[&str] = if name == "p384" {
            &["sha256", "sha384"]
        } else {
            &["sha256"]
        };
        for (i, hash) in hashes.iter().enumerate() {
            for keyid in [false, true] {
                if keyid && (name != "rsa" || i > 0) {
                    continue;
                }
                let opts = SignOpts {
                    keyid,
                    ..SignOpts::default()
                };
                let module = sign_module(&payload, &key, hash, opts);
                signed.push((format!("{name}-{hash}-{keyid}.signed"), module));
            }
        }
    }
    Ok((signed, der, certs))
}

/// Split BTF on the small base for each DWARF fixture (`kbtf -J --btf_base ...
/// --btf_encode_detached`), and `[u32 LE length][.BTF.base][.BTF]` of the same objects encoded
/// with `--btf_features=+distilled_base`.
fn small_base_seeds(root: &Path, work: &Path) -> Result<(Vec<Seed>, Vec<Seed>)> {
    // The release binary: `cargo xtask test` has built it already for crash-safety.
    let kbtf = crate::test::kbtf_release_bin()?;
    let base = root.join(SMALL_BASE);
    let dir = work.join("seeds");
    std::fs::create_dir_all(&dir)?;
    let mut split = Vec::new();
    let mut distilled = Vec::new();
    for obj in [
        "linked.o",
        "linked-mixed.o",
        "funcs.dwarf5.o",
        "records.dwarf5.o",
        "vars.dwarf5.o",
        "enums.dwarf5.o",
    ] {
        let src = root.join("testdata/dwarf").join(obj);
        let raw = dir.join(format!("{obj}.split.btf"));
        crate::util::run(
            Command::new(&kbtf)
                .args(["-J", "--btf_base"])
                .arg(&base)
                .arg("--btf_encode_detached")
                .arg(&raw)
                .arg(&src),
        )?;
        split.push((format!("{obj}.split"), std::fs::read(&raw)?));
        let copy = dir.join(format!("{obj}.distilled.o"));
        std::fs::copy(&src, &copy)?;
        crate::util::run(
            Command::new(&kbtf)
                .args(["-J", "--btf_features=+distilled_base", "--btf_base"])
                .arg(&base)
                .arg(&copy),
        )?;
        let bytes = std::fs::read(&copy)?;
        let (b, s) = (
            elf_section(&bytes, ".BTF.base"),
            elf_section(&bytes, ".BTF"),
        );
        if let (Some(b), Some(s)) = (b, s) {
            let mut v = (b.len() as u32).to_le_bytes().to_vec();
            v.extend_from_slice(b);
            v.extend_from_slice(s);
            distilled.push((format!("{obj}.distilled"), v));
        }
    }
    anyhow::ensure!(!distilled.is_empty(), "no distilled seed came out of kbtf");
    Ok((split, distilled))
}

/// A section of an ELF64 little-endian file held in memory (the seeds' objects).
fn elf_section<'a>(b: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let u16at = |o: usize| Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?));
    let u32at = |o: usize| Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?));
    let u64at = |o: usize| Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?));
    let shoff = u64at(0x28)? as usize;
    let shentsize = u16at(0x3a)? as usize;
    let shnum = u16at(0x3c)? as usize;
    let shstrndx = u16at(0x3e)? as usize;
    let sh = |i: usize| -> Option<(u32, usize, usize)> {
        let o = shoff + i * shentsize;
        Some((
            u32at(o)?,
            u64at(o + 0x18)? as usize,
            u64at(o + 0x20)? as usize,
        ))
    };
    let (_, stroff, strsize) = sh(shstrndx)?;
    let strtab = b.get(stroff..stroff + strsize)?;
    (0..shnum).find_map(|i| {
        let (n, off, size) = sh(i)?;
        let rest = strtab.get(n as usize..)?;
        let end = rest.iter().position(|&c| c == 0)?;
        (&rest[..end] == name.as_bytes()).then(|| b.get(off..off + size))?
    })
}
