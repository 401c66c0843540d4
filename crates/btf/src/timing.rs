//! Stage timings for profiling: with `KBTF_TIMINGS` set in the environment, each
//! [`stage`] prints one line to stderr when it ends: its name, wall time, and the process's
//! current and peak resident memory (from `/proc/self/status`). Without the variable a stage
//! costs one cached environment lookup. `cargo xtask bench` and docs/benchmarks.md use it
//! to say where time and memory go.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("KBTF_TIMINGS").is_some())
}

/// A running stage; prints its line when dropped (if timings are enabled).
pub struct Stage {
    name: &'static str,
    start: Option<(Instant, f64)>,
}

/// Starts timing the stage `name`.
pub fn stage(name: &'static str) -> Stage {
    Stage {
        name,
        start: enabled().then(|| (Instant::now(), cpu_seconds())),
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if let Some((start, cpu)) = self.start {
            let (rss, hwm, file) = memory();
            eprintln!(
                "kbtf: timing {:<24} {:>8.1} ms  cpu {:>8.1} ms  rss {:>6} MB (file {:>4})  peak {:>6} MB",
                self.name,
                start.elapsed().as_secs_f64() * 1e3,
                (cpu_seconds() - cpu) * 1e3,
                rss / 1024,
                file / 1024,
                hwm / 1024
            );
        }
    }
}

/// Current and peak resident set size, and the part of the current one that maps files, in
/// KiB (0 where unknown).
fn memory() -> (u64, u64, u64) {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return (0, 0, 0);
    };
    let field = |key: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"), field("RssFile:"))
}

/// Prints `what` as a timing note (a count, a size), if timings are enabled.
pub fn note(what: impl FnOnce() -> String) {
    if enabled() {
        eprintln!("kbtf: note {}", what());
    }
}

/// User plus system CPU time of the whole process so far, in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}
