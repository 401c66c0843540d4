//! Small helpers: running tools, atomic writes, checksums.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A printable form of a command line, for error messages.
pub fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd`, inheriting stdout/stderr; fails on non-zero exit.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("starting `{}` (is it installed?)", show(cmd)))?;
    if !status.success() {
        bail!("`{}` failed: {status}", show(cmd));
    }
    Ok(())
}

/// Runs `cmd` and returns its output whatever its exit status (for commands whose status
/// is an answer, like `kbtf diff`).
pub fn output_any(cmd: &mut Command) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting `{}` (is it installed?)", show(cmd)))
}

/// Runs `cmd` capturing output; fails on non-zero exit, with stderr in the message.
pub fn output(cmd: &mut Command) -> Result<Output> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting `{}` (is it installed?)", show(cmd)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}: {}",
            show(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

pub fn stdout_string(cmd: &mut Command) -> Result<String> {
    Ok(String::from_utf8_lossy(&output(cmd)?.stdout).into_owned())
}

/// Writes `data` to `path` via a temp file in the same directory and a rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = tmp_sibling(path);
    std::fs::write(&tmp, data).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// `dir/.name.tmp-PID`, a sibling used for write-then-rename.
pub fn tmp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

pub fn sha256(path: &Path) -> Result<String> {
    let out = stdout_string(Command::new("sha256sum").arg(path))?;
    match out.split_whitespace().next() {
        Some(h) if h.len() == 64 => Ok(h.to_string()),
        _ => bail!(
            "unexpected sha256sum output for {}: {out:?}",
            path.display()
        ),
    }
}

/// The only entry of `dir` whose file name starts with `prefix`.
pub fn single_entry(dir: &Path, prefix: &str) -> Result<PathBuf> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let e = e.with_context(|| format!("listing {}", dir.display()))?;
        if e.file_name().to_string_lossy().starts_with(prefix) {
            found.push(e.path());
        }
    }
    found.sort();
    match found.len() {
        1 => Ok(found.pop().unwrap_or_default()),
        0 => bail!("no {prefix}* in {}", dir.display()),
        _ => bail!("several {prefix}* in {}: {found:?}", dir.display()),
    }
}

pub fn human(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// User + system CPU seconds of this process's waited-for children (`/proc/self/stat`
/// fields cutime and cstime, in clock ticks of 1/100 s on Linux).
pub fn children_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); cutime is field 16, cstime 17.
    let tick = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(16) + tick(17)) / 100.0
}

/// A seeded xorshift generator for the tasks that make random cases (differential,
/// crash-safety): the same seed gives the same cases on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Spread small seeds over the state; xorshift's state must not be 0.
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `[0, n)`; 0 when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// One of `v` (not empty).
    pub fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())]
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// Uniform in `[lo, hi)` microseconds.
    pub fn micros(&mut self, lo: u64, hi: u64) -> std::time::Duration {
        std::time::Duration::from_micros(lo + self.next() % (hi - lo).max(1))
    }
}

/// The size of section `name` in `readelf -S -W`'s output `text`.
pub fn readelf_section_size(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        // "  [35] .debug_info  PROGBITS  0000000000000000 000b40 015127 00 ..."
        let rest = l.trim_start().strip_prefix('[')?;
        let (_, rest) = rest.split_once(']')?;
        let f: Vec<&str> = rest.split_whitespace().collect();
        (f.first() == Some(&name))
            .then(|| f.get(4).and_then(|s| u64::from_str_radix(s, 16).ok()))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_section_size_from_readelf() {
        let text = "\
Section Headers:
  [Nr] Name              Type            Address          Off    Size   ES Flg Lk Inf Al
  [ 0]                   NULL            0000000000000000 000000 000000 00      0   0  0
  [35] .debug_info       PROGBITS        0000000000000000 000b40 015127 00      0   0  1
  [36] .BTF              PROGBITS        0000000000000000 015c67 0003a0 00      0   0  1
";
        assert_eq!(
            super::readelf_section_size(text, ".debug_info"),
            Some(0x15127)
        );
        assert_eq!(super::readelf_section_size(text, ".BTF"), Some(0x3a0));
        assert_eq!(super::readelf_section_size(text, ".BTF.base"), None);
    }
}
