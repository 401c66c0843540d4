//! `cargo xtask crash-safety`: kbtf killed at random points while it rewrites a module, and
//! several kbtf runs on one module at once (make -j races). The module must always be the old
//! bytes or the new, complete bytes (docs/reliability.md).
//!
//! Two rewrites are exercised: `kbtf -J --btf_base vmlinux MODULE` (encode and replace `.BTF`)
//! and `kbtf relocate --base vmlinux MODULE` (a distilled module relocated in place). For each,
//! one undisturbed run gives the new bytes; then, many times, a fresh copy of the old module
//! is rewritten and the process gets SIGKILL after a random delay: a third anywhere in the
//! run, a third near its end, and a third within half a millisecond of the temp file's
//! appearing, while it is written, synced and renamed.
//! Each outcome is classified: old bytes and no temp file left (killed before writing), old
//! bytes with a temp file left (killed while writing or before the rename), new bytes (killed
//! after the rename, or not at all). Anything else fails the task.

use crate::args::{Args, Positionals};
use crate::fixtures::repo_root;
use crate::util::Rng;
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const USAGE: &str = "\
cargo xtask crash-safety [--kills N] [--races N] [--seed S] [--kbtf PATH]

Kills `kbtf -J`, `kbtf -J` by the pre-copy path of a large file (KBTF_PRECOPY_MIN=0) and
`kbtf relocate` (each N times, default 200) with SIGKILL at random points while they
rewrite a module, and checks the module is always either the old or the new complete
bytes; then runs 4 `kbtf -J` at once on one module N/8 times (--races), with and without
the pre-copy, and checks the result is the new bytes. Uses the release kbtf (built here)
unless --kbtf.";

/// One kind of rewrite: the command to run on a module, and its old and new bytes.
struct Case {
    name: &'static str,
    args: Vec<String>,
    /// Environment variables set for kbtf.
    env: Vec<(&'static str, &'static str)>,
    old: Vec<u8>,
    new: Vec<u8>,
    /// How long an undisturbed run takes.
    took: Duration,
}

#[derive(Default, Debug)]
struct Tally {
    old_clean: usize,
    old_with_temp: usize,
    new: usize,
}

fn temp_files(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".kbtf-tmp"))
        .collect())
}

fn run_to_end(
    kbtf: &Path,
    args: &[String],
    env: &[(&str, &str)],
    module: &Path,
) -> Result<Duration> {
    let t = Instant::now();
    let out = Command::new(kbtf)
        .args(args)
        .envs(env.iter().copied())
        .arg(module)
        .output()
        .context("running kbtf")?;
    ensure!(
        out.status.success(),
        "kbtf {} {} failed: {}",
        args.join(" "),
        module.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(t.elapsed())
}

fn prepare(kbtf: &Path, work: &Path) -> Result<Vec<Case>> {
    let root = repo_root();
    let vmlinux = root.join("testdata/vmlinux-6.1.btf");
    let module = root.join("testdata/modules-6.1-dbg/dummy.ko");
    let base = ["--btf_base".to_string(), vmlinux.display().to_string()];
    let mut cases = Vec::new();

    // kbtf -J: the -dbg module, as shipped, re-encoded against the vmlinux fixture.
    let old = std::fs::read(&module)?;
    let m = work.join("encode.ko");
    std::fs::write(&m, &old)?;
    let mut args = vec!["-J".to_string()];
    args.extend(base.iter().cloned());
    let took = run_to_end(kbtf, &args, &[], &m)?;
    let new = std::fs::read(&m)?;
    ensure!(new != old, "kbtf -J left {} unchanged", module.display());
    cases.push(Case {
        name: "kbtf -J",
        args: args.clone(),
        env: Vec::new(),
        old: old.clone(),
        new: new.clone(),
        took,
    });

    // kbtf -J by the path a vmlinux written into takes (`PreCopy`: the temp file made first
    // and filled with a copy of the old file while the DWARF is encoded, by direct I/O where
    // the file system allows it), forced on the module by lowering its size threshold.
    let env = vec![("KBTF_PRECOPY_MIN", "0")];
    let p = work.join("precopy.ko");
    std::fs::write(&p, &old)?;
    let took = run_to_end(kbtf, &args, &env, &p)?;
    ensure!(
        std::fs::read(&p)? == new,
        "kbtf -J with the pre-copy gave other bytes than without"
    );
    cases.push(Case {
        name: "kbtf -J (pre-copy)",
        args,
        env,
        old,
        new,
        took,
    });

    // kbtf relocate: the same module with distilled BTF, relocated in place.
    let d = work.join("distilled.ko");
    std::fs::write(&d, std::fs::read(&module)?)?;
    let mut dargs = vec![
        "-J".to_string(),
        "--btf_features=+distilled_base".to_string(),
    ];
    dargs.extend(base.iter().cloned());
    run_to_end(kbtf, &dargs, &[], &d)?;
    let old = std::fs::read(&d)?;
    let args = vec![
        "relocate".to_string(),
        "--base".to_string(),
        vmlinux.display().to_string(),
    ];
    let took = run_to_end(kbtf, &args, &[], &d)?;
    let new = std::fs::read(&d)?;
    ensure!(new != old, "kbtf relocate left the module unchanged");
    cases.push(Case {
        name: "kbtf relocate",
        args,
        env: Vec::new(),
        old,
        new,
        took,
    });
    Ok(cases)
}

/// `kills` runs of `case`, each killed after a random delay.
fn kill_runs(kbtf: &Path, case: &Case, dir: &Path, kills: usize, rng: &mut Rng) -> Result<Tally> {
    let mut tally = Tally::default();
    let module = dir.join("module.ko");
    let end = case.took.as_micros() as u64;
    for i in 0..kills {
        for t in temp_files(dir)? {
            std::fs::remove_file(t)?;
        }
        std::fs::write(&module, &case.old)?;
        let mut child = Command::new(kbtf)
            .args(&case.args)
            .envs(case.env.iter().copied())
            .arg(&module)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting kbtf")?;
        let delay = match i % 3 {
            0 => rng.micros(0, end + end / 10),
            1 => rng.micros(end * 6 / 10, end + end / 5),
            // Wait for the temp file to appear, then kill within half a millisecond: while the
            // new bytes are written, synced, or renamed.
            _ => {
                let t = Instant::now();
                while temp_files(dir)?.is_empty()
                    && child.try_wait()?.is_none()
                    && t.elapsed() < 10 * case.took
                {}
                rng.micros(0, 500)
            }
        };
        std::thread::sleep(delay);
        // SIGKILL (a no-op error if it already exited).
        let _ = child.kill();
        let status = child.wait()?;
        let now = std::fs::read(&module)
            .with_context(|| format!("{}: the module is missing after a kill", case.name))?;
        let temps = temp_files(dir)?;
        if now == case.new {
            tally.new += 1;
        } else if now == case.old {
            if temps.is_empty() {
                tally.old_clean += 1;
            } else {
                tally.old_with_temp += 1;
            }
        } else {
            let keep = dir.join(format!("corrupt-{i}.ko"));
            std::fs::write(&keep, &now)?;
            bail!(
                "{}: kill {i} after {delay:?} ({status}) left a module that is neither the old nor the new bytes ({} bytes, kept as {})",
                case.name,
                now.len(),
                keep.display()
            );
        }
    }
    Ok(tally)
}

/// `rounds` times, 4 kbtf at once on one copy of the old module: the result is the new bytes
/// (both rewrites give the same bytes again when run on their own output), with no temp file
/// left.
fn races(kbtf: &Path, case: &Case, dir: &Path, rounds: usize) -> Result<()> {
    let module = dir.join("race.ko");
    for r in 0..rounds {
        std::fs::write(&module, &case.old)?;
        let children: Vec<_> = (0..4)
            .map(|_| {
                Command::new(kbtf)
                    .args(&case.args)
                    .envs(case.env.iter().copied())
                    .arg(&module)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
            })
            .collect::<std::io::Result<_>>()?;
        for c in children {
            let out = c.wait_with_output()?;
            // A run that read the module after another's rename works on the new bytes; it
            // must still succeed.
            ensure!(
                out.status.success(),
                "{} race {r}: a run failed: {}",
                case.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let now = std::fs::read(&module)?;
        ensure!(
            now == case.new,
            "{} race {r}: 4 concurrent runs left {} bytes, not the new module",
            case.name,
            now.len()
        );
        let temps = temp_files(dir)?;
        ensure!(
            temps.is_empty(),
            "{} race {r}: temp files left: {temps:?}",
            case.name
        );
    }
    Ok(())
}

pub fn main(raw: &[String]) -> Result<()> {
    let Some(a) = Args::task(
        raw,
        &["kills", "races", "seed", "kbtf"],
        &[],
        Positionals::None,
        USAGE,
    )?
    else {
        return Ok(());
    };
    let kills: usize = a.opt("kills").unwrap_or("200").parse()?;
    let rounds: usize = match a.opt("races") {
        Some(v) => v.parse()?,
        None => (kills / 8).max(1),
    };
    let seed: u64 = a.opt("seed").unwrap_or("88").parse()?;
    let kbtf = match a.opt("kbtf") {
        Some(p) => PathBuf::from(p),
        None => crate::test::kbtf_release_bin()?,
    };
    let work = crate::guest::TempDir::new("crash-safety")?;
    let cases = prepare(&kbtf, &work.path)?;
    // The races use -J, which gives the same bytes again when run on its own output (a
    // relocated module has no .BTF.base left to relocate).
    let mut rng = Rng::new(seed);
    let mut total = 0;
    for case in &cases {
        let dir = work.path.join(case.name.replace(' ', "-"));
        std::fs::create_dir_all(&dir)?;
        let t = kill_runs(&kbtf, case, &dir, kills, &mut rng)?;
        total += kills;
        println!(
            "{}: {kills} SIGKILLs (an undisturbed run takes {:?}): {} left the old module untouched, {} the old module and a temp file (killed while writing or before the rename), {} the new module; none corrupt or missing",
            case.name, case.took, t.old_clean, t.old_with_temp, t.new
        );
        // The pre-copy makes its temp file within the first milliseconds, so a kill that
        // leaves no temp file behind is rare there and not required.
        let pre_copy = !case.env.is_empty();
        ensure!(
            (t.old_clean > 0 || pre_copy) && t.old_with_temp > 0 && t.new > 0,
            "{}: the kills did not reach every phase ({t:?}); the delays need retuning",
            case.name
        );
    }
    for case in cases.iter().filter(|c| c.name.starts_with("kbtf -J")) {
        let dir = work.path.join(format!("races-{}", case.env.len()));
        std::fs::create_dir_all(&dir)?;
        races(&kbtf, case, &dir, rounds)?;
        println!(
            "{}: {rounds} rounds of 4 concurrent runs on one module: always the new module, no temp file left",
            case.name
        );
    }
    println!("crash-safety: {total} kills, no corrupt or missing module");
    Ok(())
}
