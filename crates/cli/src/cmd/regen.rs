//! `kbtf regen`: regenerate the BTF of every module of a built kernel tree, or of an installed
//! module tree given its vmlinux, in parallel, on one base read once.
//!
//! Each module is what `kbtf -J [--btf_base VMLINUX] [mode flags] FILE` makes of it (the same
//! code: [`crate::pahole::encode::encode_file`]), so the result is byte for byte that of a
//! serial loop. Worker threads take the modules one at a time, biggest first, so that two
//! large ones at the end do not leave the other workers idle; each encodes one module at a
//! time, single-threaded.
//!
//! Interruption: the first SIGINT or SIGTERM stops handing out modules; those being encoded
//! are finished (each is written to a temp file in its directory and renamed over the module,
//! so a module is always either the old or the new file), then the summary is printed and kbtf
//! exits with status 130. A second signal kills kbtf at once, with the same guarantee for the
//! module files; at worst a `.NAME.*.kbtf-tmp` file is left beside one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kbtf_btf::Btf;

use crate::pahole::args::PaholeArgs;

/// Regenerate the BTF of every module (*.ko) under a directory, in parallel.
///
/// TREE is a built kernel tree (its top holds vmlinux) or any directory of modules (an
/// installed /lib/modules/RELEASE, a -dbg package's tree) given --vmlinux. In a built tree,
/// vmlinux's DWARF is also encoded again and compared with the .BTF the image was linked with.
/// Modules without DWARF are skipped; compressed modules too (decompress them first).
#[derive(clap::Args)]
pub struct Args {
    /// A built kernel tree, or a directory of modules (with --vmlinux).
    tree: PathBuf,
    /// Sign every rewritten module (else their signatures, which no longer match, go).
    #[command(flatten)]
    sign: crate::sign::SignArgs,
    /// The vmlinux the modules are for: an ELF file with .BTF (vmlinux, a -dbg vmlinux) or raw
    /// BTF (/sys/kernel/btf/vmlinux). Default: TREE/vmlinux. With --mode standalone it is
    /// only a hint (see `kbtf -J --standalone`) and may be left out.
    #[arg(long)]
    vmlinux: Option<PathBuf>,
    /// split: .BTF split on vmlinux (what kbuild makes); distilled: plus a distilled
    /// .BTF.base; standalone: no vmlinux needed, the base is distilled from the module's own
    /// DWARF.
    #[arg(long, value_enum, default_value_t = Mode::Split)]
    mode: Mode,
    /// Worker threads (default: one per CPU).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// pahole's encoding flags, as kbuild passes them (Linux 6.1 with pahole 1.24: the
    /// default). `-j` is ignored: kbtf regen runs modules in parallel instead.
    #[arg(
        long,
        default_value = "--btf_gen_floats --lang_exclude=rust",
        allow_hyphen_values = true
    )]
    pahole_flags: String,
    /// No progress bar (it is drawn on stderr only when stderr is a terminal anyway).
    #[arg(long)]
    no_progress: bool,
    /// List the modules that would be regenerated and exit.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    Split,
    Distilled,
    Standalone,
}

/// The outcome for one module.
enum Outcome {
    Done {
        btf_before: u64,
        btf_after: u64,
        file_before: u64,
        file_after: u64,
        stripped_signature: bool,
    },
    Skipped(String),
    Failed(String),
}

/// Stack size of each worker thread: dedup recurses along type chains and runs on the
/// worker, so it gets more than the main thread's 8 MiB.
const WORKER_STACK: usize = 64 << 20;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
    // The next one kills at once: signal(2) is async-signal-safe.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
    }
}

/// Catches SIGINT and SIGTERM (see the module doc).
fn catch_signals() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic and resets the disposition.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

pub fn run(args: Args) -> Result<u8> {
    let started = Instant::now();
    if !args.tree.is_dir() {
        bail!("{}: not a directory", args.tree.display());
    }
    let top_vmlinux = args.tree.join("vmlinux");
    let built_tree = args.vmlinux.is_none() && top_vmlinux.is_file();
    let vmlinux = match (&args.vmlinux, built_tree) {
        (Some(v), _) => Some(v.clone()),
        (None, true) => Some(top_vmlinux.clone()),
        (None, false) if args.mode == Mode::Standalone => None,
        (None, false) => bail!(
            "{}: no vmlinux at its top, so not a built kernel tree: give the vmlinux the modules are for with --vmlinux (or use --mode standalone)",
            args.tree.display()
        ),
    };
    let key = args.sign.load()?;
    let mut pahole = pahole_args(&args)?;
    let threads = match args.jobs {
        Some(0) | None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        Some(n) => n,
    };

    let mut modules = Vec::new();
    let mut skipped_early = Vec::new();
    find_modules(&args.tree, &mut modules, &mut skipped_early)?;
    // Biggest first: the long ones start early and the short ones fill the gaps at the end.
    modules.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if args.dry_run {
        for (p, size) in &modules {
            println!("{} ({size} bytes)", p.display());
        }
        for (p, why) in &skipped_early {
            println!("skip {}: {why}", p.display());
        }
        return Ok(crate::EXIT_OK);
    }

    let base = match &vmlinux {
        Some(v) => Some(
            // Through the base index cache, as a module process of kbuild reads it: each
            // module's encoder then maps the base's types instead of parsing them again.
            crate::basecache::read_base(v)
                .with_context(|| format!("reading the vmlinux BTF {}", v.display()))?,
        ),
        None => None,
    };
    let mode = match args.mode {
        Mode::Split => "split .BTF",
        Mode::Distilled => "split .BTF on a distilled .BTF.base",
        Mode::Standalone => "standalone .BTF on a .BTF.base from the module's own DWARF",
    };
    println!(
        "kbtf regen: {} module(s) under {}, {mode}, {} thread(s), base {}",
        modules.len(),
        args.tree.display(),
        threads,
        match (&vmlinux, &base) {
            (Some(v), Some(b)) => format!(
                "{} ({} types){}",
                v.display(),
                b.end_id() - 1,
                if args.mode == Mode::Standalone {
                    ", as a hint"
                } else {
                    ""
                }
            ),
            _ => "none".to_string(),
        }
    );

    let mut vmlinux_problem = None;
    if built_tree {
        if let Some(b) = &base {
            pahole.jobs = Some(threads);
            vmlinux_problem = check_vmlinux(&top_vmlinux, b, &pahole)?;
            pahole.jobs = None;
        }
    }

    catch_signals();
    let bar = progress_bar(modules.len() as u64, args.no_progress);
    let results: Mutex<Vec<(PathBuf, Outcome)>> = Mutex::new(Vec::new());
    let counts = Counts::default();
    let bytes_in = AtomicU64::new(0);
    let loop_start = Instant::now();
    // Plain threads taking the next module from a shared counter, not a rayon pool: the
    // encoder runs each module in a rayon pool of its own, and a rayon worker waiting for
    // another pool steals its own pool's jobs meanwhile, which would start every module at
    // once (and make an interruption stop nothing).
    let next = AtomicUsize::new(0);
    let worker = || loop {
        if INTERRUPTED.load(Ordering::SeqCst) {
            return;
        }
        let Some((path, size)) = modules.get(next.fetch_add(1, Ordering::SeqCst)) else {
            return;
        };
        let outcome = regen_one(path, &pahole, base.clone(), key.as_ref());
        counts.add(&outcome);
        let done_bytes = bytes_in.fetch_add(*size, Ordering::Relaxed) + size;
        let secs = loop_start.elapsed().as_secs_f64().max(1e-3);
        bar.inc(1);
        bar.set_message(format!(
            "{:.1} modules/s, {:.1} MiB/s | {} | {}",
            bar.position() as f64 / secs,
            done_bytes as f64 / secs / (1 << 20) as f64,
            counts.show(),
            short_name(&args.tree, path)
        ));
        results
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((path.clone(), outcome));
    };
    std::thread::scope(|scope| -> Result<()> {
        for i in 0..threads.min(modules.len()) {
            std::thread::Builder::new()
                .name(format!("regen-{i}"))
                .stack_size(WORKER_STACK)
                .spawn_scoped(scope, worker)
                .context("starting a worker thread")?;
        }
        Ok(())
    })?;
    bar.finish_and_clear();

    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let not_started = modules.len() - results.len();
    // A signal that came after the last module was handed out interrupted nothing.
    let interrupted = not_started > 0;
    for (p, why) in skipped_early {
        results.push((p, Outcome::Skipped(why)));
    }
    print_summary(
        &args.tree,
        &results,
        started.elapsed(),
        interrupted.then_some(not_started),
        vmlinux_problem.as_deref(),
    );
    let failed =
        results.iter().any(|(_, o)| matches!(o, Outcome::Failed(_))) || vmlinux_problem.is_some();
    Ok(if interrupted {
        130
    } else if failed {
        crate::EXIT_FOUND
    } else {
        crate::EXIT_OK
    })
}

/// The pahole flags every module is encoded with.
fn pahole_args(args: &Args) -> Result<PaholeArgs> {
    let mut argv = vec!["-J".to_string()];
    argv.extend(args.pahole_flags.split_whitespace().map(str::to_string));
    let mut a = crate::pahole::args::parse(&argv).context("--pahole-flags")?;
    if a.btf_base.is_some() || a.detached.is_some() || !a.files.is_empty() {
        bail!("--pahole-flags: give encoding flags only (no --btf_base, --btf_encode_detached or files)");
    }
    a.jobs = None;
    match args.mode {
        Mode::Split => {
            if a.features.distilled_base || a.features.standalone {
                bail!("--pahole-flags ask for distilled or standalone BTF: use --mode instead");
            }
        }
        Mode::Distilled => a.features.distilled_base = true,
        Mode::Standalone => {
            a.features.standalone = true;
            a.standalone = true;
        }
    }
    Ok(a)
}

/// Every `*.ko` file under `dir` (symlinks not followed) with its size; compressed modules
/// and links named `*.ko` go to `skipped`. A link's module is another tree's (SUSE's
/// `weak-updates/` links to modules built for another kernel) or is regenerated under its
/// own name here; writing through the link could write it twice, or against the wrong base.
fn find_modules(
    dir: &Path,
    out: &mut Vec<(PathBuf, u64)>,
    skipped: &mut Vec<(PathBuf, String)>,
) -> Result<()> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let e = e.with_context(|| format!("listing {}", d.display()))?;
            let ft = e.file_type()?;
            let p = e.path();
            if ft.is_dir() {
                stack.push(p);
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if ft.is_symlink() && name.ends_with(".ko") {
                skipped.push((
                    p,
                    "a symbolic link: regenerate the module it points to, with its own vmlinux"
                        .to_owned(),
                ));
                continue;
            }
            if !ft.is_file() {
                continue;
            }
            if name.ends_with(".ko") {
                out.push((p, e.metadata()?.len()));
            } else if let Some(z) = [".ko.xz", ".ko.zst", ".ko.gz"]
                .iter()
                .find(|z| name.ends_with(*z))
            {
                skipped.push((
                    p,
                    format!("compressed ({z}): decompress it, regenerate, compress again"),
                ));
            }
        }
    }
    Ok(())
}

/// Encodes one module in place.
fn regen_one(
    path: &Path,
    a: &PaholeArgs,
    base: Option<Arc<Btf>>,
    key: Option<&kbtf_modsign::SigningKey>,
) -> Outcome {
    // Mapped, not read: the DWARF's pages are given back as units are done, and the new
    // file is written as edits over the old one (the rest copied file to file).
    // An empty file cannot be mapped: it is no ELF file either.
    if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
        return Outcome::Skipped("not an ELF file".into());
    }
    let data = match kbtf_btf::file::map_file(path) {
        Ok(d) => d,
        Err(e) => return Outcome::Failed(format!("reading: {e}")),
    };
    if !data.starts_with(b"\x7fELF") {
        return Outcome::Skipped("not an ELF file".into());
    }
    let unsigned = match kbtf_emit::modsig::strip(&data) {
        Ok(u) => u,
        Err(e) => return Outcome::Failed(format!("module signature: {e}")),
    };
    let section_len = |name: &str| -> Result<Option<u64>, String> {
        kbtf_emit::elf::section(unsigned, name)
            .map(|s| s.map(|b| b.len() as u64))
            .map_err(|e| format!("reading ELF: {e}"))
    };
    let has_dwarf = match section_len(".debug_info") {
        Ok(s) => s.is_some_and(|n| n > 0),
        Err(e) => return Outcome::Failed(e),
    };
    if !has_dwarf {
        return Outcome::Skipped(
            "no DWARF (.debug_info): a stripped module; use the build tree's or the -dbg package's copy"
                .into(),
        );
    }
    let btf_before = match (section_len(".BTF"), section_len(".BTF.base")) {
        (Ok(a), Ok(b)) => a.unwrap_or(0) + b.unwrap_or(0),
        (Err(e), _) | (_, Err(e)) => return Outcome::Failed(e),
    };
    match crate::pahole::encode::encode_file(
        path,
        &data,
        data.file(),
        &|part| data.release(part),
        a,
        base,
        &[],
        key,
    ) {
        Ok(enc) => Outcome::Done {
            btf_before,
            btf_after: enc.btf_bytes,
            file_before: data.len() as u64,
            file_after: std::fs::metadata(path).map_or(0, |m| m.len()),
            stripped_signature: enc.stripped_signature,
        },
        Err(e) => Outcome::Failed(format!("{e:#}")),
    }
}

/// Encodes vmlinux's DWARF again and compares it with the `.BTF` it was linked with (which
/// is what the kernel image carries, and what the modules are split on). Returns the problem,
/// if any.
fn check_vmlinux(vmlinux: &Path, linked: &Btf, a: &PaholeArgs) -> Result<Option<String>> {
    let t = Instant::now();
    let data = kbtf_btf::file::map_file(vmlinux)?;
    let has_dwarf = kbtf_emit::elf::section(&data, ".debug_info")
        .with_context(|| format!("{}: reading ELF", vmlinux.display()))?
        .is_some();
    if !has_dwarf {
        println!(
            "vmlinux: no DWARF, its .BTF ({} types) is used as it is",
            linked.end_id() - 1
        );
        return Ok(None);
    }
    let fresh =
        crate::pahole::encode::encode_btf(vmlinux, &data, &|part| data.release(part), None, a)?.btf;
    let (old, new) = (linked.to_bytes(), fresh.to_bytes());
    let secs = t.elapsed().as_secs_f64();
    if old == new {
        println!(
            "vmlinux: its DWARF encodes to the .BTF it was linked with ({} types, {} bytes; {secs:.1} s)",
            fresh.end_id() - 1,
            new.len()
        );
        Ok(None)
    } else {
        let msg = format!(
            "its DWARF encodes to other BTF ({} bytes) than the .BTF it was linked with ({} bytes): relink it (`make PAHOLE=kbtf`) so that the kernel image carries it; the modules were split on the linked .BTF",
            new.len(),
            old.len()
        );
        println!("vmlinux: {msg}");
        Ok(Some(msg))
    }
}

#[derive(Default)]
struct Counts {
    done: AtomicUsize,
    skipped: AtomicUsize,
    failed: AtomicUsize,
}

impl Counts {
    fn add(&self, o: &Outcome) {
        let c = match o {
            Outcome::Done { .. } => &self.done,
            Outcome::Skipped(_) => &self.skipped,
            Outcome::Failed(_) => &self.failed,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    fn show(&self) -> String {
        format!(
            "done {} skipped {} failed {}",
            self.done.load(Ordering::Relaxed),
            self.skipped.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed)
        )
    }
}

fn progress_bar(len: u64, hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    // Hidden by indicatif itself when stderr is not a terminal.
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {pos}/{len} modules, ETA {eta} | {wide_msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

fn short_name(tree: &Path, p: &Path) -> String {
    p.strip_prefix(tree).unwrap_or(p).display().to_string()
}

fn mib(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
}

fn print_summary(
    tree: &Path,
    results: &[(PathBuf, Outcome)],
    elapsed: Duration,
    not_started: Option<usize>,
    vmlinux_problem: Option<&str>,
) {
    let (mut done, mut stripped) = (0usize, 0usize);
    let (mut btf_before, mut btf_after, mut file_before, mut file_after) = (0u64, 0u64, 0u64, 0u64);
    let mut skipped: BTreeMap<&str, Vec<&Path>> = BTreeMap::new();
    let mut failed = Vec::new();
    for (p, o) in results {
        match o {
            Outcome::Done {
                btf_before: bb,
                btf_after: ba,
                file_before: fb,
                file_after: fa,
                stripped_signature,
            } => {
                done += 1;
                btf_before += bb;
                btf_after += ba;
                file_before += fb;
                file_after += fa;
                stripped += usize::from(*stripped_signature);
            }
            Outcome::Skipped(why) => skipped.entry(why.as_str()).or_default().push(p),
            Outcome::Failed(why) => failed.push((p, why)),
        }
    }
    let n_skipped: usize = skipped.values().map(Vec::len).sum();
    println!("kbtf regen: summary after {:.1} s", elapsed.as_secs_f64());
    println!(
        "  done     {done:>5}  BTF {} -> {}, files {} -> {}",
        mib(btf_before),
        mib(btf_after),
        mib(file_before),
        mib(file_after)
    );
    if stripped > 0 {
        println!("           {stripped:>5}  of them had a signature, which no longer matched and was removed");
    }
    println!("  skipped  {n_skipped:>5}");
    for (why, paths) in &skipped {
        println!("           {:>5}  {why}", paths.len());
        const SHOW: usize = 5;
        for p in paths.iter().take(SHOW) {
            println!("                  {}", short_name(tree, p));
        }
        if paths.len() > SHOW {
            println!("                  ... and {} more", paths.len() - SHOW);
        }
    }
    println!(
        "  failed   {:>5}",
        failed.len() + usize::from(vmlinux_problem.is_some())
    );
    if let Some(v) = vmlinux_problem {
        println!("           vmlinux: {v}");
    }
    for (p, why) in &failed {
        println!("           {}: {why}", short_name(tree, p));
    }
    if let Some(n) = not_started {
        println!("  interrupted: {n} module(s) not started, left as they were");
    }
}
