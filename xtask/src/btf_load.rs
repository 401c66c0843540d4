//! `cargo xtask btf-load`: hand raw BTF blobs to a real kernel's BPF_BTF_LOAD, the bpf(2)
//! command that runs the kernel's full BTF verifier (resolve pass included), all in one qemu
//! boot, and report the kernel's verdict on each.
//!
//! The guest side is `xtask/guest/btf_load.c`, compiled here with `gcc -static -O2` and put in
//! the initramfs with the blobs. It prints one `BTFLOAD <name> ...` line per blob on the
//! console (see the comment at its top); this module maps them back to the blobs.
//!
//! Linux 6.1's BPF_BTF_LOAD has no way to name a base BTF: every blob is parsed as standalone
//! BTF, so split BTF (a module's `.BTF`) loaded as it is fails with `Invalid string section`
//! (its string section does not start with the empty string, which lives in the base). With a
//! base, the guest program flattens each split blob onto it first (base types then the blob's,
//! base strings then the blob's: split ids and string offsets already continue the base's, so
//! nothing is renumbered) and the kernel checks the module's types with the full verifier.

use crate::args::{Args, Positionals};
use crate::elf::Elf;
use crate::guest::{self, Machine, TempDir};
use crate::{console, kernel_test, util};
use anyhow::{ensure, Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const USAGE: &str = "\
cargo xtask btf-load [options] FILE...

Boots a kernel in qemu (TCG) once and loads each FILE with bpf(BPF_BTF_LOAD) (the
kernel's full BTF verifier), printing per blob `ok NAME` or
`FAIL NAME: ERRNO: <tail of the kernel's verifier log>`.
FILE is raw BTF, an ELF file with a .BTF section (its .BTF is loaded), or a
directory (every file under it, recursively, in name order).
  --kernel DIR|FILE   unpacked linux-image package root, or a vmlinuz file
                      (default: kernel61_dir from the cache index)
  --base FILE         the FILEs are split BTF on FILE (raw or ELF): each is
                      flattened onto it in the guest and loaded standalone
                      (6.1's BPF_BTF_LOAD cannot take a base)
  --expect-fail       every blob must be refused by the kernel (exit 1 if one loads)
  --report FILE       write one verdict per blob, tab-separated: name, ok|err|bad|none,
                      errno, log tail; exit 0 if every blob got a kernel verdict
  --lines N           verifier log lines quoted per failure (default 3)
  --timeout SECS      hard limit for the whole qemu run (default: 120 + 20 per MiB)
  --memory MB         guest memory (default: 1024, more for large inputs)
  --append ARGS       extra kernel command line
  --log FILE          save the serial console log to FILE
  --busybox PATH      static busybox (default /bin/busybox)
  --qemu PATH         qemu binary (default qemu-system-x86_64)
  --acceptance        instead of FILEs: the real-kernel tier's check (vmlinux and
                      module BTF load, kbtf's BTF of the clang tag fixtures loads,
                      broken blobs are refused, kbtf check agrees)

Without --report or --expect-fail the exit status is non-zero if any blob FAILs.";

/// One blob to load: where it comes from and, for split BTF, its base.
#[derive(Clone, Debug)]
pub struct Blob {
    /// The name printed in verdicts (the path as given, or under a given directory).
    pub name: String,
    pub bytes: Vec<u8>,
    /// For split BTF, its base's bytes. Blobs with equal bases share one copy in the guest.
    pub base: Option<std::sync::Arc<Vec<u8>>>,
}

/// What one btf-load run does.
pub struct Options {
    pub kernel: Option<PathBuf>,
    pub blobs: Vec<Blob>,
    pub lines: u32,
    /// `None`: sized from the blobs (see [`default_timeout`]).
    pub timeout: Option<u64>,
    /// `None`: sized from the blobs (see [`default_memory`]).
    pub memory: Option<u64>,
    pub machine: Machine,
}

/// The kernel's verdict on one blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Loaded: the kernel returned a BTF fd.
    Ok,
    /// Refused: the errno (`EINVAL(22)`) and the tail of the verifier log.
    Err { errno: String, log: String },
    /// The blob never reached the kernel (unreadable, or not flattenable onto its base).
    Bad { why: String },
    /// No line for it came back (the guest stopped early, or a harness bug).
    None,
}

pub struct Outcome {
    pub name: String,
    pub verdict: Verdict,
}

impl Outcome {
    /// The line printed for this verdict.
    pub fn line(&self) -> String {
        match &self.verdict {
            Verdict::Ok => format!("ok {}", self.name),
            Verdict::Err { errno, log } => format!("FAIL {}: {errno}: {log}", self.name),
            Verdict::Bad { why } => format!("FAIL {}: not loaded: {why}", self.name),
            Verdict::None => format!("FAIL {}: no verdict from the guest", self.name),
        }
    }

    /// The `--report` line: name, ok|err|bad|none, errno, log (tabs never occur in the
    /// fields: the guest writes them as spaces).
    pub fn report_line(&self) -> String {
        let name = self.name.replace(['\t', '\n'], " ");
        match &self.verdict {
            Verdict::Ok => format!("{name}\tok\t-\t-"),
            Verdict::Err { errno, log } => format!("{name}\terr\t{errno}\t{log}"),
            Verdict::Bad { why } => format!("{name}\tbad\t-\t{why}"),
            Verdict::None => format!("{name}\tnone\t-\t-"),
        }
    }
}

/// The result of a run: verdicts in blob order, and kernel trouble seen in dmesg.
pub struct Run {
    pub outcomes: Vec<Outcome>,
    /// dmesg lines that say the kernel itself went wrong (WARNING, BUG, Oops...).
    pub kernel_trouble: Vec<String>,
}

pub fn main(raw: &[String]) -> Result<()> {
    let Some(a) = Args::task(
        raw,
        &[
            "kernel", "base", "report", "lines", "timeout", "memory", "append", "log", "busybox",
            "qemu",
        ],
        &["expect-fail", "acceptance"],
        Positionals::Any,
        USAGE,
    )?
    else {
        return Ok(());
    };
    if a.flag("acceptance") {
        ensure!(
            a.positional.is_empty(),
            "--acceptance takes no FILE\n{USAGE}"
        );
        let kbtf = crate::test::kbtf_release_bin()?;
        return acceptance(&kbtf, a.opt("kernel").map(Path::new));
    }
    ensure!(!a.positional.is_empty(), "no FILE given\n{USAGE}");
    let base = match a.opt("base") {
        Some(b) => Some(std::sync::Arc::new(read_btf(Path::new(b))?)),
        None => None,
    };
    let mut blobs = Vec::new();
    for f in &a.positional {
        collect(Path::new(f), &base, &mut blobs)?;
    }
    ensure!(!blobs.is_empty(), "no files found in {:?}", a.positional);
    let num = |name: &str| -> Result<Option<u64>> {
        a.opt(name)
            .map(|v| {
                v.parse()
                    .with_context(|| format!("--{name}: not a number: {v:?}"))
            })
            .transpose()
    };
    let d = Machine::default();
    let o = Options {
        kernel: a.opt("kernel").map(PathBuf::from),
        blobs,
        lines: num("lines")?.unwrap_or(3) as u32,
        timeout: num("timeout")?,
        memory: num("memory")?,
        machine: Machine {
            append: a.opt("append").map(str::to_string),
            log: a.opt("log").map(PathBuf::from),
            busybox: a.opt("busybox").map(PathBuf::from).unwrap_or(d.busybox),
            qemu: a.opt("qemu").map(str::to_string).unwrap_or(d.qemu),
            ..Machine::default()
        },
    };
    let run = run(&o)?;
    if let Some(path) = a.opt("report") {
        let mut t = String::from("# name\tverdict\terrno\tlog\n");
        for o in &run.outcomes {
            t.push_str(&o.report_line());
            t.push('\n');
        }
        for k in &run.kernel_trouble {
            t.push_str(&format!("# kernel: {k}\n"));
        }
        util::write_atomic(Path::new(path), t.as_bytes())?;
        println!("wrote {} verdict(s) to {path}", run.outcomes.len());
    }
    let count =
        |f: &dyn Fn(&Verdict) -> bool| run.outcomes.iter().filter(|o| f(&o.verdict)).count();
    let ok = count(&|v| *v == Verdict::Ok);
    let err = count(&|v| matches!(v, Verdict::Err { .. }));
    let other = run.outcomes.len() - ok - err;
    println!(
        "btf-load: {} blob(s): {ok} ok, {err} refused by the kernel, {other} without a kernel verdict",
        run.outcomes.len()
    );
    ensure!(
        run.kernel_trouble.is_empty(),
        "the kernel logged {} warning/bug line(s) (see `kernel:` lines above)",
        run.kernel_trouble.len()
    );
    ensure!(other == 0, "{other} blob(s) got no kernel verdict");
    if a.flag("expect-fail") {
        ensure!(
            ok == 0,
            "{ok} blob(s) loaded, expected the kernel to refuse all"
        );
    } else if a.opt("report").is_none() {
        ensure!(err == 0, "{err} blob(s) refused by the kernel");
    }
    Ok(())
}

/// Raw BTF bytes of `path`: the file itself, or the `.BTF` section of an ELF file.
pub fn read_btf(path: &Path) -> Result<Vec<u8>> {
    let data = util::read(path)?;
    if data.starts_with(b"\x7fELF") {
        Elf::open(path)?.section_bytes(".BTF")
    } else {
        Ok(data)
    }
}

/// Adds `path` (a file, or every file under a directory in name order) to `out`.
fn collect(path: &Path, base: &Option<std::sync::Arc<Vec<u8>>>, out: &mut Vec<Blob>) -> Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("listing {}", path.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("listing {}", path.display()))?;
        entries.sort();
        for e in entries {
            collect(&e, base, out)?;
        }
        return Ok(());
    }
    ensure!(path.is_file(), "{}: no such file", path.display());
    out.push(Blob {
        name: path.display().to_string(),
        bytes: read_btf(path)?,
        base: base.clone(),
    });
    Ok(())
}

/// Default timeout: boot and slack, plus time for the verifier in TCG (a vmlinux-sized blob
/// with its 10 MB log takes a few seconds).
pub fn default_timeout(total_bytes: u64) -> u64 {
    120 + 20 * (total_bytes >> 20)
}

/// Default guest memory: the initramfs is held twice (the cpio and the unpacked files), the
/// kernel copies each blob once more, and flattened split blobs are built in the guest.
pub fn default_memory(total_bytes: u64) -> u64 {
    Machine::default().memory.max(768 + 3 * (total_bytes >> 20))
}

/// Boots once, loads every blob, prints and returns one verdict per blob.
pub fn run(o: &Options) -> Result<Run> {
    run_inner(o, true)
}

/// Like [`run`], without printing a line per blob (for runs of thousands).
pub fn run_quiet(o: &Options) -> Result<Run> {
    run_inner(o, false)
}

fn run_inner(o: &Options, verbose: bool) -> Result<Run> {
    let tree = kernel_test::kernel_tree(o.kernel.as_deref())?;
    let work = TempDir::new("btf-load")?;
    let loader = compile_loader(&work.path)?;

    // Distinct bases, in order of first use; blob i goes to /btf/<group>/<i>.
    let mut bases: Vec<std::sync::Arc<Vec<u8>>> = Vec::new();
    let mut group_of = Vec::with_capacity(o.blobs.len());
    for b in &o.blobs {
        group_of.push(match &b.base {
            None => 0,
            Some(base) => match bases
                .iter()
                .position(|x| std::sync::Arc::ptr_eq(x, base) || x == base)
            {
                Some(i) => i + 1,
                None => {
                    bases.push(base.clone());
                    bases.len()
                }
            },
        });
    }
    let mut c = guest::base_initramfs(&o.machine.busybox)?;
    c.file("bin/btf_load", 0o755, &util::read(&loader)?);
    c.dir("btf");
    let mut total: u64 = 0;
    for g in 0..=bases.len() {
        if group_of.contains(&g) {
            c.dir(&format!("btf/{g}"));
        }
    }
    for (i, base) in bases.iter().enumerate() {
        c.file(&format!("btf/base-{}", i + 1), 0o644, base);
        total += base.len() as u64;
    }
    for (i, b) in o.blobs.iter().enumerate() {
        c.file(
            &format!("btf/{}/{}", group_of[i], guest_name(i)),
            0o644,
            &b.bytes,
        );
        total += b.bytes.len() as u64;
        if let Some(base) = &b.base {
            // The flattened copy the guest builds.
            total += (base.len() + b.bytes.len()) as u64;
        }
    }
    let mut script = String::from(guest::INIT_PRELUDE);
    for g in 0..=bases.len() {
        if !group_of.contains(&g) {
            continue;
        }
        let base = if g == 0 {
            String::new()
        } else {
            format!("-b /btf/base-{g} ")
        };
        script.push_str(&format!(
            "/bin/btf_load -v -n {} {base}/btf/{g}\necho \"KBTF-BTFLOAD-RC {g} $?\"\n",
            o.lines
        ));
    }
    script.push_str(guest::INIT_EPILOGUE);
    c.file("init", 0o755, script.as_bytes());
    let initrd = work.path.join("initramfs.cpio");
    c.write_to(&initrd)?;

    let machine = Machine {
        timeout: o.timeout.unwrap_or_else(|| default_timeout(total)),
        memory: o.memory.unwrap_or_else(|| default_memory(total)),
        ..o.machine.clone()
    };
    println!(
        "boot {} to load {} blob(s) ({}{}) with BPF_BTF_LOAD",
        tree.vmlinuz.display(),
        o.blobs.len(),
        util::human(total),
        if bases.is_empty() {
            String::new()
        } else {
            format!(
                ", {} split on {} base(s)",
                group_of.iter().filter(|g| **g > 0).count(),
                bases.len()
            )
        }
    );
    let out = guest::boot(&machine, &tree.vmlinuz, &initrd, &work.path)?;
    let parsed = console::parse(&out.text);
    let verdicts = parse_verdicts(&out.text);
    if !parsed.done || verdicts.len() < o.blobs.len() {
        guest::print_console_tail(&out.text, 40);
    }
    let kernel_trouble: Vec<String> = parsed
        .dmesg
        .iter()
        .filter(|l| is_trouble(l))
        .cloned()
        .collect();
    for k in &kernel_trouble {
        println!("kernel: {k}");
    }
    let mut outcomes = Vec::with_capacity(o.blobs.len());
    for (i, b) in o.blobs.iter().enumerate() {
        let verdict = verdicts
            .get(&guest_name(i))
            .cloned()
            .unwrap_or(Verdict::None);
        let oc = Outcome {
            name: b.name.clone(),
            verdict,
        };
        if verbose {
            println!("{}", oc.line());
        }
        outcomes.push(oc);
    }
    Ok(Run {
        outcomes,
        kernel_trouble,
    })
}

/// The file name of blob `i` in the guest (also the name the guest prints).
fn guest_name(i: usize) -> String {
    format!("{:06}", i + 1)
}

/// dmesg lines that mean the kernel itself went wrong.
fn is_trouble(line: &str) -> bool {
    [
        "WARNING:",
        "BUG:",
        "Oops",
        "general protection",
        "Kernel panic",
        "Call Trace:",
    ]
    .iter()
    .any(|p| line.contains(p))
}

/// Compiles xtask/guest/btf_load.c into `dir` (static, so it runs in the busybox initramfs).
fn compile_loader(dir: &Path) -> Result<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("guest/btf_load.c");
    let out = dir.join("btf_load");
    util::output(
        Command::new("gcc")
            .args(["-static", "-O2", "-Wall", "-o"])
            .arg(&out)
            .arg(&src),
    )
    .context("compiling the guest loader (needs gcc and libc6-dev for the static libc)")?;
    Ok(out)
}

/// Parses the guest's `BTFLOAD <name> ...` lines into verdicts by guest name.
pub fn parse_verdicts(text: &str) -> HashMap<String, Verdict> {
    let mut out = HashMap::new();
    for line in text.lines() {
        // Kernel messages can share a line with ours; find our marker anywhere.
        let Some(i) = line.find("BTFLOAD ") else {
            continue;
        };
        let rest = &line[i + "BTFLOAD ".len()..];
        let Some((name, rest)) = rest.split_once(' ') else {
            continue;
        };
        let v = if rest.starts_with("ok") {
            Verdict::Ok
        } else if let Some(r) = rest.strip_prefix("err=") {
            let (errno, log) = r.split_once(' ').unwrap_or((r, ""));
            Verdict::Err {
                errno: errno.to_string(),
                log: log.strip_prefix("log=").unwrap_or(log).to_string(),
            }
        } else if let Some(why) = rest.strip_prefix("bad why=") {
            Verdict::Bad {
                why: why.to_string(),
            }
        } else {
            continue;
        };
        out.insert(name.to_string(), v);
    }
    out
}

/// One expectation of [`acceptance`]: a blob, what the kernel must say, and what
/// `kbtf check` must say (its exit code) on the same file.
struct Expect {
    blob: Blob,
    /// `None`: loads; `Some(text)`: refused with `text` in the log tail.
    kernel: Option<&'static str>,
    /// `kbtf check FILE [--base BASE]`: 0 valid, 1 invalid; `None`: not compared.
    check: Option<i32>,
    /// The files `kbtf check` reads (the blob, and its base).
    file: PathBuf,
    base_file: Option<PathBuf>,
}

/// The real-kernel tier's BPF_BTF_LOAD step (`cargo xtask test`): in one boot of the 6.1
/// kernel, the shipped vmlinux BTF loads; a shipped module's split BTF flattened onto it loads;
/// the same split BTF alone is refused (`Invalid string section`: 6.1's BPF_BTF_LOAD has no
/// base); kbtf's BTF of the clang tag fixtures (`testdata/dwarf/tags.clang.*.o`) loads; each
/// hand-broken blob of `broken.rs` is refused with the expected message. Then
/// `kbtf check` (the release binary, `kbtf_bin`) must give the same verdict on each file.
pub fn acceptance(kbtf_bin: &Path, kernel: Option<&Path>) -> Result<()> {
    let root = crate::fixtures::repo_root().join("testdata");
    let vmlinux = root.join("vmlinux-6.1.btf");
    let dummy = root.join("modules-6.1/dummy.btf");
    let tun = root.join("modules-6.1/tun.btf");
    let base = std::sync::Arc::new(util::read(&vmlinux)?);
    let work = TempDir::new("btf-load-acceptance")?;
    let blob = |name: &str, path: &Path, base: Option<&std::sync::Arc<Vec<u8>>>| -> Result<Blob> {
        Ok(Blob {
            name: name.to_string(),
            bytes: util::read(path)?,
            base: base.cloned(),
        })
    };
    let mut expects = vec![
        Expect {
            blob: blob("vmlinux-6.1.btf", &vmlinux, None)?,
            kernel: None,
            check: Some(0),
            file: vmlinux.clone(),
            base_file: None,
        },
        Expect {
            blob: blob("dummy.btf on vmlinux-6.1.btf", &dummy, Some(&base))?,
            kernel: None,
            check: Some(0),
            file: dummy.clone(),
            base_file: Some(vmlinux.clone()),
        },
        Expect {
            blob: blob("tun.btf on vmlinux-6.1.btf", &tun, Some(&base))?,
            kernel: None,
            check: Some(0),
            file: tun.clone(),
            base_file: Some(vmlinux.clone()),
        },
        Expect {
            blob: blob("dummy.btf alone", &dummy, None)?,
            kernel: Some("Invalid string section"),
            check: None,
            file: dummy.clone(),
            base_file: None,
        },
    ];
    // kbtf's own BTF with every tag shape clang writes (DECL_TAG, TYPE_TAG).
    for v in [4, 5] {
        let obj = root.join(format!("dwarf/tags.clang.dwarf{v}.o"));
        let file = work.path.join(format!("tags.clang.dwarf{v}.kbtf.btf"));
        util::run(
            Command::new(kbtf_bin)
                .args(["-J", "--btf_gen_floats", "--btf_encode_detached"])
                .arg(&file)
                .arg(&obj),
        )?;
        expects.push(Expect {
            blob: blob(&format!("kbtf -J tags.clang.dwarf{v}.o"), &file, None)?,
            kernel: None,
            check: Some(0),
            file,
            base_file: None,
        });
    }
    for b in crate::broken::all() {
        let file = work.path.join(b.name);
        std::fs::write(&file, &b.bytes).with_context(|| format!("writing {}", file.display()))?;
        expects.push(Expect {
            blob: Blob {
                name: b.name.to_string(),
                bytes: b.bytes,
                base: None,
            },
            kernel: Some(b.kernel_says),
            check: Some(1),
            file,
            base_file: None,
        });
    }
    let run = run(&Options {
        kernel: kernel.map(Path::to_path_buf),
        blobs: expects.iter().map(|e| e.blob.clone()).collect(),
        lines: 3,
        timeout: None,
        memory: None,
        machine: Machine::default(),
    })?;
    let mut bad = Vec::new();
    for (e, o) in expects.iter().zip(&run.outcomes) {
        let kernel_ok = match (&o.verdict, e.kernel) {
            (Verdict::Ok, None) => true,
            (Verdict::Err { log, .. }, Some(want)) => log.contains(want),
            _ => false,
        };
        if !kernel_ok {
            bad.push(format!(
                "{}: kernel: expected {}, got `{}`",
                e.blob.name,
                e.kernel
                    .map_or("ok".to_string(), |w| format!("a refusal saying {w:?}")),
                o.line()
            ));
        }
        let Some(want) = e.check else { continue };
        let mut cmd = Command::new(kbtf_bin);
        cmd.arg("check").arg(&e.file);
        if let Some(b) = &e.base_file {
            cmd.arg("--base").arg(b);
        }
        let out = cmd
            .output()
            .with_context(|| format!("running `{}`", util::show(&cmd)))?;
        let got = out.status.code().unwrap_or(-1);
        let first = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| !l.trim().is_empty() && !l.starts_with("signature: "))
            .unwrap_or("")
            .to_string();
        println!("kbtf check {}: exit {got}: {first}", e.blob.name);
        if got != want {
            bad.push(format!(
                "{}: `{}` exited {got}, expected {want} (the kernel's verdict)",
                e.blob.name,
                util::show(&cmd)
            ));
        }
    }
    bad.extend(run.kernel_trouble.iter().map(|k| format!("kernel: {k}")));
    ensure!(
        bad.is_empty(),
        "btf-load acceptance:\n  {}",
        bad.join("\n  ")
    );
    println!(
        "btf-load acceptance: {} verdicts as expected, kbtf check agrees",
        expects.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_guest_lines() {
        let t = "KBTF-BOOTED 6.1\n\
                 BTFLOAD 000001 ok fd=3\n\
                 [ 1.0] noise BTFLOAD 000002 err=EINVAL(22) log=str_len: 185 | Invalid string section\n\
                 BTFLOAD 000003 bad why=no BTF magic (9f eb)\n\
                 BTFLOAD-END total=3 ok=1 err=1 bad=1\n";
        let v = parse_verdicts(t);
        assert_eq!(v.len(), 3);
        assert_eq!(v["000001"], Verdict::Ok);
        assert_eq!(
            v["000002"],
            Verdict::Err {
                errno: "EINVAL(22)".into(),
                log: "str_len: 185 | Invalid string section".into()
            }
        );
        assert_eq!(
            v["000003"],
            Verdict::Bad {
                why: "no BTF magic (9f eb)".into()
            }
        );
        let o = Outcome {
            name: "a b".into(),
            verdict: v["000002"].clone(),
        };
        assert_eq!(
            o.line(),
            "FAIL a b: EINVAL(22): str_len: 185 | Invalid string section"
        );
        assert_eq!(
            o.report_line(),
            "a b\terr\tEINVAL(22)\tstr_len: 185 | Invalid string section"
        );
    }
}
