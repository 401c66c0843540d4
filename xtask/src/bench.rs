//! `cargo xtask bench`: kbtf against Debian's pahole 1.24 on the same inputs, on this machine.
//!
//! Inputs (a cloud `-dbg` kernel from the cache, 6.1 unless `--kernel 6.12`, run with the
//! pahole flags Debian builds both with): the vmlinux (detached raw output, and written into
//! a copy of the ELF), every module one process per module with `--btf_base vmlinux` as
//! kbuild runs them (on copies in /dev/shm), and the five largest modules alone. Each measurement runs kbtf and pahole interleaved
//! (A B A B ...), one warm-up round first, then `--runs` rounds; every child is measured
//! with `wait4`'s rusage (wall clock around it, user + system CPU, peak RSS). It prints
//! medians and kbtf/pahole ratios at each `-j`, the module set's cost against
//! `.debug_info` size (a least-squares line and size quartiles), and writes them into
//! docs/benchmarks.md between the kernel's markers.

use crate::args::{Args, Positionals};
use crate::cache::{self, Index};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub const USAGE: &str = "\
cargo xtask bench [--runs N] [--quick] [--jobs 1,2] [--only vmlinux,large,modules]
                  [--every K] [--kbtf PATH] [--out FILE] [--no-write] [--elf-dir DIR]
                  [--kernel 6.1|6.12]

Runs kbtf and pahole 1.24 interleaved on the 6.1 -dbg vmlinux and modules (--kernel 6.12:
Debian's 6.12 -dbg kernel instead; copies in /dev/shm), one warm-up round then --runs
rounds (default 5), and writes medians and ratios (wall, CPU = user + system, peak RSS) to
docs/benchmarks.md (--out), between that kernel's markers. --quick: 1 round and
every 10th module. --every K: only every K-th module of the module set. --elf-dir DIR:
also write into a copy of the vmlinux ELF in DIR (another filesystem: btrfs or XFS, where kbtf
clones the old file's extents rather than copying them; the rows name the filesystem).";

/// Debian's pahole flags for BTF, less `-j`: 6.1's scripts/pahole-flags.sh and 6.12's
/// scripts/Makefile.btf give these for pahole 1.24.
const FLAGS: &[&str] = &["-J", "--btf_gen_floats", "--lang_exclude=rust"];
/// The modules the issue names as the largest; the five largest present are used.
const LARGE: &[&str] = &["mlx5_core", "xfs", "btrfs", "cifs", "kvm"];

/// A kernel the bench can run on, and the markers of its table in docs/benchmarks.md.
struct Kernel {
    kernel: cache::Kernel,
    begin: &'static str,
    end: &'static str,
}

const KERNELS: &[Kernel] = &[
    // Issue 6's targets are stated on this one.
    Kernel {
        kernel: cache::KERNEL61,
        begin: "<!-- bench:begin -->",
        end: "<!-- bench:end -->",
    },
    Kernel {
        kernel: cache::KERNEL612,
        begin: "<!-- bench-6.12:begin -->",
        end: "<!-- bench-6.12:end -->",
    },
];

/// One child's cost.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    wall: f64,
    cpu: f64,
    /// Peak RSS in KiB.
    rss: u64,
}

impl Sample {
    fn add(self, o: Sample) -> Sample {
        Sample {
            wall: self.wall + o.wall,
            cpu: self.cpu + o.cpu,
            rss: self.rss.max(o.rss),
        }
    }
}

/// Runs `cmd` to completion and measures it with `wait4`. Fails if it fails.
fn measure(cmd: &mut Command) -> Result<Sample> {
    let shown = crate::util::show(cmd);
    let start = Instant::now();
    let child = cmd
        .stdout(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("starting {shown}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills in; `pid` is our own child, reaped
    // here (the `Child` is dropped without waiting, which std allows).
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall = start.elapsed().as_secs_f64();
    drop(child);
    if r != pid {
        bail!("wait4 on {shown}: {}", std::io::Error::last_os_error());
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        bail!("{shown} failed (status {status:#x})");
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    Ok(Sample {
        wall,
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        rss: ru.ru_maxrss as u64,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Tool {
    Kbtf,
    Pahole,
}

struct Ctx {
    kernel: &'static Kernel,
    kbtf: PathBuf,
    vmlinux: PathBuf,
    work: PathBuf,
    /// `--elf-dir`: where the vmlinux written into goes, and its filesystem's name.
    elf_dir: Option<(PathBuf, String)>,
    runs: usize,
}

impl Ctx {
    fn command(&self, tool: Tool, jobs: usize) -> Command {
        let mut c = match tool {
            Tool::Kbtf => Command::new(&self.kbtf),
            Tool::Pahole => Command::new("pahole"),
        };
        c.env("LLVM_OBJCOPY", "objcopy")
            .args(FLAGS)
            .arg(format!("-j{jobs}"));
        c
    }
}

/// One table row: an input at one `-j`, each tool's samples.
struct Row {
    input: String,
    jobs: usize,
    samples: [Vec<Sample>; 2],
}

impl Row {
    fn med(&self, t: usize) -> Sample {
        let s = &self.samples[t];
        Sample {
            wall: median(s.iter().map(|x| x.wall).collect()),
            cpu: median(s.iter().map(|x| x.cpu).collect()),
            rss: median(s.iter().map(|x| x.rss as f64).collect()) as u64,
        }
    }
}

/// Runs `round` for both tools, interleaved, one warm-up then `runs` times; `prepare` runs
/// before each measured call, untimed, and its writes are synced before the call.
fn interleave(
    ctx: &Ctx,
    input: &str,
    jobs: usize,
    mut prepare: impl FnMut(Tool) -> Result<()>,
    mut round: impl FnMut(Tool) -> Result<Sample>,
) -> Result<Row> {
    let mut row = Row {
        input: input.to_string(),
        jobs,
        samples: [Vec::new(), Vec::new()],
    };
    for r in 0..=ctx.runs {
        for (i, tool) in [Tool::Kbtf, Tool::Pahole].into_iter().enumerate() {
            prepare(tool)?;
            // The copies `prepare` made go to disk before the clock starts: their writeback
            // is not part of either tool's time.
            // SAFETY: sync(2) takes no arguments and cannot fail.
            unsafe { libc::sync() };
            let s = round(tool)?;
            if r > 0 {
                row.samples[i].push(s);
            }
        }
    }
    let (k, p) = (row.med(0), row.med(1));
    println!(
        "  {input} -j{jobs}: kbtf {:.2} s {:.2} s cpu {} MB | pahole {:.2} s {:.2} s cpu {} MB | wall ratio {:.2}",
        k.wall,
        k.cpu,
        k.rss / 1024,
        p.wall,
        p.cpu,
        p.rss / 1024,
        k.wall / p.wall
    );
    Ok(row)
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// The name of the filesystem `dir` is on, as `stat -f` prints it (`xfs`, `btrfs`, `tmpfs`).
fn fs_type(dir: &Path) -> Result<String> {
    let out = Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(dir)
        .output()
        .with_context(|| format!("stat -f {}", dir.display()))?;
    if !out.status.success() {
        bail!("stat -f {} failed", dir.display());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The `.debug_info` size of an ELF file.
fn debug_info_size(p: &Path) -> u64 {
    crate::elf::Elf::open(p)
        .ok()
        .and_then(|e| e.section(".debug_info").map(|s| s.size))
        .unwrap_or(0)
}

pub fn main(raw: &[String]) -> Result<()> {
    let Some(a) = Args::task(
        raw,
        &[
            "runs", "jobs", "only", "every", "kbtf", "out", "elf-dir", "kernel",
        ],
        &["quick", "no-write"],
        Positionals::None,
        USAGE,
    )?
    else {
        return Ok(());
    };
    let quick = a.flag("quick");
    let kernel_name = a.opt("kernel").unwrap_or("6.1");
    let Some(kernel) = KERNELS.iter().find(|k| k.kernel.name == kernel_name) else {
        bail!("--kernel {kernel_name}: the bench knows 6.1 and 6.12");
    };
    let runs: usize = match a.opt("runs") {
        Some(r) => r.parse().context("--runs")?,
        None if quick => 1,
        None => 5,
    };
    let every: usize = match a.opt("every") {
        Some(k) => k.parse().context("--every")?,
        None if quick => 10,
        None => 1,
    };
    let jobs: Vec<usize> = a
        .opt("jobs")
        .unwrap_or("1,2")
        .split(',')
        .map(|j| j.parse().context("--jobs"))
        .collect::<Result<_>>()?;
    let only: Vec<String> = a
        .opt("only")
        .unwrap_or("vmlinux,large,modules")
        .split(',')
        .map(str::to_string)
        .collect();
    let root = crate::fixtures::repo_root();
    let kbtf = match a.opt("kbtf") {
        Some(p) => PathBuf::from(p),
        None => {
            crate::util::run(
                Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
                    .current_dir(&root)
                    .args(["build", "--release", "-p", "kbtf"]),
            )?;
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target"));
            target.join("release/kbtf")
        }
    };
    let index = Index::load()?;
    let vmlinux = kernel.kernel.path(&index, "dbg_vmlinux")?;
    let mods_dir = kernel.kernel.path(&index, "dbg_modules_dir")?;
    let work = Path::new("/dev/shm").join(format!("kbtf-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let elf_dir = match a.opt("elf-dir") {
        Some(d) => {
            let dir = PathBuf::from(d).join(format!("kbtf-bench-{}", std::process::id()));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let fs = fs_type(&dir)?;
            Some((dir, fs))
        }
        None => None,
    };
    let ctx = Ctx {
        kernel,
        kbtf,
        vmlinux: vmlinux.clone(),
        work: work.clone(),
        elf_dir: elf_dir.clone(),
        runs,
    };
    let load_before = loadavg();
    let started = Instant::now();
    let result = run_all(&ctx, &only, &jobs, every, &mods_dir);
    let _ = std::fs::remove_dir_all(&work);
    if let Some((dir, _)) = &elf_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    let (rows, fit, large_note, n_mods) = result?;
    let load_after = loadavg();
    let text = render(
        &ctx,
        &rows,
        &fit,
        &large_note,
        n_mods,
        every,
        &load_before,
        &load_after,
        started.elapsed().as_secs_f64(),
    );
    println!("{text}");
    if !a.flag("no-write") {
        let out = a
            .opt("out")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("docs/benchmarks.md"));
        write_section(&out, kernel, &text)?;
        println!("written to {}", out.display());
    }
    Ok(())
}

/// Per-module medians for the size analysis: (.debug_info bytes, kbtf s, pahole s).
type Fit = Vec<(u64, f64, f64)>;

#[allow(clippy::type_complexity)]
fn run_all(
    ctx: &Ctx,
    only: &[String],
    jobs: &[usize],
    every: usize,
    mods_dir: &Path,
) -> Result<(Vec<Row>, Fit, String, usize)> {
    let mut rows = Vec::new();
    let has = |s: &str| only.iter().any(|o| o == s);
    let out = ctx.work.join("out.btf");
    if has("vmlinux") {
        println!("vmlinux ({})", ctx.vmlinux.display());
        for &j in jobs {
            rows.push(interleave(
                ctx,
                "vmlinux, detached",
                j,
                |_| Ok(()),
                |t| {
                    measure(
                        ctx.command(t, j)
                            .arg(format!("--btf_encode_detached={}", out.display()))
                            .arg(&ctx.vmlinux),
                    )
                },
            )?);
        }
        let mut targets = vec![(
            ctx.work.join("vmlinux"),
            "vmlinux, into the ELF".to_string(),
        )];
        if let Some((dir, fs)) = &ctx.elf_dir {
            targets.push((
                dir.join("vmlinux"),
                format!("vmlinux, into the ELF on {fs}"),
            ));
        }
        for (copy_path, label) in &targets {
            for &j in jobs {
                rows.push(interleave(
                    ctx,
                    label,
                    j,
                    |_| copy(&ctx.vmlinux, copy_path),
                    |t| measure(ctx.command(t, j).arg(copy_path)),
                )?);
            }
            let _ = std::fs::remove_file(copy_path);
        }
    }
    let all = crate::encode_test::find_modules(mods_dir)?;
    let mut large_note = String::new();
    if has("large") {
        let by_name = |n: &str| {
            all.iter()
                .find(|p| p.file_stem().is_some_and(|s| s == n))
                .cloned()
        };
        let mut large: Vec<PathBuf> = LARGE.iter().filter_map(|n| by_name(n)).collect();
        if large.len() < LARGE.len() {
            let mut sized: Vec<(u64, PathBuf)> = all
                .iter()
                .map(|p| (std::fs::metadata(p).map_or(0, |m| m.len()), p.clone()))
                .collect();
            sized.sort_by_key(|e| std::cmp::Reverse(e.0));
            large = sized
                .into_iter()
                .take(LARGE.len())
                .map(|(_, p)| p)
                .collect();
            large_note = "Not all of mlx5_core, xfs, btrfs, cifs and kvm are in this package: \
                          the five largest modules are used instead."
                .into();
        }
        println!("largest modules");
        let m = ctx.work.join("m.ko");
        for p in &large {
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            for &j in jobs {
                rows.push(interleave(
                    ctx,
                    &format!("{name}.ko"),
                    j,
                    |_| copy(p, &m),
                    |t| {
                        measure(
                            ctx.command(t, j)
                                .arg("--btf_base")
                                .arg(&ctx.vmlinux)
                                .arg(&m),
                        )
                    },
                )?);
            }
        }
    }
    let mut fit = Vec::new();
    let mods: Vec<PathBuf> = all.iter().step_by(every.max(1)).cloned().collect();
    if has("modules") {
        println!("{} modules, one process each", mods.len());
        let src = ctx.work.join("src");
        let dst = ctx.work.join("mods");
        std::fs::create_dir_all(&src)?;
        for (i, p) in mods.iter().enumerate() {
            copy(p, &src.join(format!("{i}.ko")))?;
        }
        let sizes: Vec<u64> = mods.iter().map(|p| debug_info_size(p)).collect();
        // Per module, per tool: its samples over the rounds of the first -j.
        let mut per: Vec<[Vec<f64>; 2]> = vec![[Vec::new(), Vec::new()]; mods.len()];
        for (ji, &j) in jobs.iter().enumerate() {
            let mut round_no = 0usize;
            let row = interleave(
                ctx,
                "all modules, one process each",
                j,
                |_| {
                    let _ = std::fs::remove_dir_all(&dst);
                    std::fs::create_dir_all(&dst)?;
                    for i in 0..mods.len() {
                        copy(&src.join(format!("{i}.ko")), &dst.join(format!("{i}.ko")))?;
                    }
                    Ok(())
                },
                |t| {
                    let mut total = Sample::default();
                    for (i, per_mod) in per.iter_mut().enumerate() {
                        let s = measure(
                            ctx.command(t, j)
                                .arg("--btf_base")
                                .arg(&ctx.vmlinux)
                                .arg(dst.join(format!("{i}.ko"))),
                        )?;
                        // The warm-up round (the first two calls) is not kept.
                        if ji == 0 && round_no >= 2 {
                            per_mod[(t == Tool::Pahole) as usize].push(s.wall);
                        }
                        total = total.add(s);
                    }
                    round_no += 1;
                    Ok(total)
                },
            )?;
            rows.push(row);
        }
        let _ = std::fs::remove_dir_all(&dst);
        let _ = std::fs::remove_dir_all(&src);
        for (i, s) in per.into_iter().enumerate() {
            let [k, p] = s;
            fit.push((sizes[i], median(k), median(p)));
        }
    }
    Ok((rows, fit, large_note, mods.len()))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "?".into())
}

/// Least squares `t = a + b * x` (x in MiB, t in ms).
fn line(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    if points.len() < 2 {
        return (f64::NAN, f64::NAN);
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let b = if sxx > 0.0 { sxy / sxx } else { f64::NAN };
    (my - b * mx, b)
}

#[allow(clippy::too_many_arguments)]
fn render(
    ctx: &Ctx,
    rows: &[Row],
    fit: &Fit,
    large_note: &str,
    n_mods: usize,
    every: usize,
    load_before: &str,
    load_after: &str,
    secs: f64,
) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pahole =
        crate::util::stdout_string(Command::new("pahole").arg("--version")).unwrap_or_default();
    let _ = writeln!(
        o,
        "Measured by `cargo xtask bench` on {cores} cores ({}), {} measured rounds after one \
         warm-up, kbtf and pahole {} interleaved; medians. Load average before: {load_before}, \
         after: {load_after}; the run took {:.0} s. Inputs: the {} cloud `-dbg` kernel \
         ({}); flags `{} -jN`, modules with `--btf_base vmlinux` on copies in /dev/shm, \
         {n_mods} modules{}.",
        cpu_model(),
        ctx.runs,
        pahole.trim(),
        secs,
        ctx.kernel.kernel.name,
        ctx.vmlinux.display(),
        FLAGS.join(" "),
        if every > 1 {
            format!(" (every {every}th)")
        } else {
            String::new()
        },
    );
    if let Some((dir, fs)) = &ctx.elf_dir {
        let _ = writeln!(
            o,
            "\nThe vmlinux is written into on /dev/shm (tmpfs: the whole file is copied) and \
             on {} ({fs}; where the filesystem shares extents, \
             kbtf clones the old file instead of copying it; pahole's objcopy copies it).",
            dir.parent().unwrap_or(dir).display()
        );
    }
    if !large_note.is_empty() {
        let _ = writeln!(o, "\n{large_note}");
    }
    let _ = writeln!(
        o,
        "\n| input | -j | kbtf wall | pahole wall | wall ratio | kbtf CPU | pahole CPU | CPU ratio | kbtf peak RSS | pahole peak RSS | RSS ratio |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let (k, p) = (r.med(0), r.med(1));
        let _ = writeln!(
            o,
            "| {} | {} | {:.2} s | {:.2} s | {:.2} | {:.2} s | {:.2} s | {:.2} | {} MB | {} MB | {:.2} |",
            r.input,
            r.jobs,
            k.wall,
            p.wall,
            k.wall / p.wall,
            k.cpu,
            p.cpu,
            k.cpu / p.cpu,
            k.rss / 1024,
            p.rss / 1024,
            k.rss as f64 / p.rss as f64
        );
    }
    // -j1 / -j2 of each tool, per input.
    let mut scaling = String::new();
    for r1 in rows.iter().filter(|r| r.jobs == 1) {
        if let Some(r2) = rows.iter().find(|r| r.jobs == 2 && r.input == r1.input) {
            let _ = writeln!(
                scaling,
                "| {} | {:.2} | {:.2} |",
                r1.input,
                r1.med(0).wall / r2.med(0).wall,
                r1.med(1).wall / r2.med(1).wall
            );
        }
    }
    if !scaling.is_empty() {
        let _ = writeln!(
            o,
            "\nSpeed-up from `-j1` to `-j2` (wall at -j1 / wall at -j2):\n\n| input | kbtf | pahole |\n|---|---|---|\n{scaling}"
        );
    }
    if !fit.is_empty() {
        let pts = |t: usize| -> Vec<(f64, f64)> {
            fit.iter()
                .map(|&(x, k, p)| {
                    (
                        x as f64 / (1 << 20) as f64,
                        if t == 0 { k } else { p } * 1e3,
                    )
                })
                .filter(|p| p.1.is_finite())
                .collect()
        };
        let (ka, kb) = line(&pts(0));
        let (pa, pb) = line(&pts(1));
        let _ = writeln!(
            o,
            "Cost against `.debug_info` size over the module set (per-module medians at -j{}): \
             least squares, kbtf {ka:.1} ms + {kb:.1} ms/MiB, pahole {pa:.1} ms + {pb:.1} ms/MiB.\n",
            rows.iter()
                .find(|r| r.input.starts_with("all modules"))
                .map_or(1, |r| r.jobs)
        );
        let mut sorted = fit.clone();
        sorted.sort_by_key(|f| f.0);
        let _ = writeln!(
            o,
            "| `.debug_info` quartile | modules | mean size | kbtf mean | pahole mean | ratio |\n|---|---|---|---|---|---|"
        );
        let n = sorted.len();
        for q in 0..4 {
            let part = &sorted[q * n / 4..(q + 1) * n / 4];
            if part.is_empty() {
                continue;
            }
            let m = part.len() as f64;
            let size = part.iter().map(|f| f.0 as f64).sum::<f64>() / m / 1024.0;
            let k = part.iter().map(|f| f.1).sum::<f64>() / m * 1e3;
            let p = part.iter().map(|f| f.2).sum::<f64>() / m * 1e3;
            let _ = writeln!(
                o,
                "| {} | {} | {size:.0} KiB | {k:.1} ms | {p:.1} ms | {:.2} |",
                q + 1,
                part.len(),
                k / p
            );
        }
    }
    o
}

/// Puts `text` between the kernel's bench markers in `path` (appending them if missing).
fn write_section(path: &Path, kernel: &Kernel, text: &str) -> Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let (begin, end) = (kernel.begin, kernel.end);
    let new = match (old.find(begin), old.find(end)) {
        (Some(b), Some(e)) if e > b => format!("{}{begin}\n{text}{}", &old[..b], &old[e..]),
        _ => format!("{old}\n{begin}\n{text}{end}\n"),
    };
    crate::util::write_atomic(path, new.as_bytes())
}
