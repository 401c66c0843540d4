//! Booting a kernel under qemu (TCG) with a busybox initramfs: the part of the harness that
//! `kernel-test` (insmod modules) and `btf-load` (BPF_BTF_LOAD of raw blobs) share.
//!
//! A task builds its initramfs from [`base_initramfs`] (busybox, /dev nodes, mount points),
//! adds its own files and an `/init` made of [`INIT_PRELUDE`], its commands and
//! [`INIT_EPILOGUE`], then calls [`boot`]. The guest talks back over the serial console only:
//! `KBTF-BOOTED` once /init runs, the task's own lines, `dmesg` between `KBTF-DMESG-BEGIN` and
//! `KBTF-DMESG-END`, and `KBTF-DONE` when it finished (see `console.rs`).

use crate::initramfs::Cpio;
use crate::{elf, util};
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How to run the guest machine. The defaults suit the 6.1 cloud kernel.
#[derive(Clone, Debug)]
pub struct Machine {
    /// Hard limit for the whole qemu run, in seconds; the guest is killed on expiry.
    pub timeout: u64,
    /// Guest memory in MiB.
    pub memory: u64,
    /// Extra kernel command line.
    pub append: Option<String>,
    /// Where to keep a copy of the serial console log.
    pub log: Option<PathBuf>,
    /// A statically linked busybox.
    pub busybox: PathBuf,
    /// The qemu binary.
    pub qemu: String,
    /// qemu arguments choosing the machine (none for x86_64's default PC).
    pub qemu_args: Vec<String>,
    /// The serial console device the kernel writes to.
    pub console: String,
}

impl Default for Machine {
    fn default() -> Machine {
        Machine {
            timeout: 120,
            memory: 1024,
            append: None,
            log: None,
            busybox: PathBuf::from("/bin/busybox"),
            qemu: "qemu-system-x86_64".to_string(),
            qemu_args: Vec::new(),
            console: "ttyS0".to_string(),
        }
    }
}

impl Machine {
    /// An arm64 guest (`qemu-system-aarch64 -M virt`, its PL011 serial console) for an
    /// arm64 kernel, with `busybox`, an arm64 static busybox. Debug modules fill a larger
    /// initramfs: 2 GiB of memory.
    pub fn arm64(busybox: PathBuf) -> Machine {
        Machine::emulated(
            busybox,
            "qemu-system-aarch64",
            &["-M", "virt", "-cpu", "max"],
            "ttyAMA0",
        )
    }

    /// An s390x guest (`qemu-system-s390x -M s390-ccw-virtio`, whose `-serial` is the SCLP
    /// console `ttysclp0`) for a big-endian s390x kernel, with `busybox`, an s390x static
    /// busybox; 2 GiB of memory, as for arm64.
    pub fn s390x(busybox: PathBuf) -> Machine {
        let m = ["-M", "s390-ccw-virtio", "-cpu", "max"];
        Machine::emulated(busybox, "qemu-system-s390x", &m, "ttysclp0")
    }

    /// A ppc64el guest (`qemu-system-ppc64 -M pseries` with qemu's small firmware, VOF,
    /// instead of SLOF; its `-serial` is the hypervisor console `hvc0`), with `busybox`, a
    /// ppc64el static busybox; 2 GiB of memory.
    pub fn ppc64el(busybox: PathBuf) -> Machine {
        Machine::emulated(
            busybox,
            "qemu-system-ppc64",
            &["-M", "pseries,x-vof=on"],
            "hvc0",
        )
    }

    /// A riscv64 guest (`qemu-system-riscv64 -M virt`, booted by the OpenSBI firmware qemu
    /// ships; its `-serial` is the 16550 UART `ttyS0`), with `busybox`, a riscv64 static
    /// busybox; 2 GiB of memory.
    pub fn riscv64(busybox: PathBuf) -> Machine {
        let m = ["-M", "virt", "-bios", "default"];
        Machine::emulated(busybox, "qemu-system-riscv64", &m, "ttyS0")
    }

    /// A guest of another architecture: `qemu` with `machine`'s arguments, its serial
    /// console `console`, and 2 GiB of memory (debug modules fill a larger initramfs).
    fn emulated(busybox: PathBuf, qemu: &str, machine: &[&str], console: &str) -> Machine {
        Machine {
            memory: 2048,
            busybox,
            qemu: qemu.to_string(),
            qemu_args: machine.iter().map(|a| a.to_string()).collect(),
            console: console.to_string(),
            ..Machine::default()
        }
    }
}

/// The first lines of every test /init: mounts, quiet console, the boot marker.
pub const INIT_PRELUDE: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
dmesg -n 1
echo "KBTF-BOOTED $(uname -r)"
"#;

/// The last lines of every test /init: the kernel log, the end marker, power off.
pub const INIT_EPILOGUE: &str = r#"echo KBTF-DMESG-BEGIN
dmesg
echo KBTF-DMESG-END
echo KBTF-DONE
poweroff -f
sleep 5
echo o > /proc/sysrq-trigger
"#;

/// An initramfs holding busybox (checked to be static), `/bin/sh`, `/dev/console`,
/// `/dev/null` and the directories bin dev proc sys tmp. The caller adds `/init`.
pub fn base_initramfs(busybox: &Path) -> Result<Cpio> {
    let bb = elf::Elf::open(busybox).with_context(|| format!("busybox {}", busybox.display()))?;
    ensure!(
        !bb.has_interp()?,
        "{} is dynamically linked; install busybox-static",
        busybox.display()
    );
    let mut c = Cpio::new();
    for d in ["bin", "dev", "proc", "sys", "tmp"] {
        c.dir(d);
    }
    c.chardev("dev/console", 0o600, 5, 1);
    c.chardev("dev/null", 0o666, 1, 3);
    c.file("bin/busybox", 0o755, &util::read(busybox)?);
    c.symlink("bin/sh", "busybox");
    Ok(c)
}

/// What came back from one boot.
pub struct Console {
    /// The serial console output, carriage returns removed.
    pub text: String,
}

/// Boots `vmlinuz` with `initrd` (whose /init must end with [`INIT_EPILOGUE`]) and returns the
/// console output. Prints how qemu ended (`qemu exited (...) after N s`, or `qemu KILLED at
/// the N s timeout ...`). `work` holds qemu's stdout, stderr and
/// the console log.
pub fn boot(m: &Machine, vmlinuz: &Path, initrd: &Path, work: &Path) -> Result<Console> {
    let log = work.join("console.log");
    let mut append = format!("console={} panic=-1 loglevel=1 nokaslr", m.console);
    if let Some(extra) = &m.append {
        append.push(' ');
        append.push_str(extra);
    }
    let started = Instant::now();
    let outcome = run_qemu(m, vmlinuz, initrd, &append, &log, work)?;
    let secs = started.elapsed().as_secs_f64();
    if let Some(dst) = &m.log {
        std::fs::copy(&log, dst)
            .with_context(|| format!("copying console log to {}", dst.display()))?;
    }
    let text = String::from_utf8_lossy(&util::read(&log)?).replace('\r', "");
    println!("qemu {outcome} after {secs:.1} s");
    Ok(Console { text })
}

/// Prints the last `n` console lines, framed, for a guest that did not finish.
pub fn print_console_tail(text: &str, n: usize) {
    println!("--- last console lines ---");
    let lines: Vec<&str> = text.lines().collect();
    for l in &lines[lines.len().saturating_sub(n)..] {
        println!("{l}");
    }
    println!("--- end ---");
}

fn run_qemu(
    m: &Machine,
    vmlinuz: &Path,
    initrd: &Path,
    append: &str,
    log: &Path,
    work: &Path,
) -> Result<String> {
    let mut cmd = Command::new(&m.qemu);
    cmd.args(&m.qemu_args)
        .args(["-accel", "tcg", "-m", &m.memory.to_string(), "-smp", "1"])
        .args([
            "-nodefaults",
            "-display",
            "none",
            "-monitor",
            "none",
            "-no-reboot",
        ])
        .arg("-serial")
        .arg(format!("file:{}", log.display()))
        .arg("-kernel")
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", append])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(work.join("qemu.out"))?)
        .stderr(std::fs::File::create(work.join("qemu.err"))?);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting `{}`", util::show(&cmd)))?;
    let deadline = Instant::now() + Duration::from_secs(m.timeout);
    // A kernel without a power-off method (no ACPI: the small kbuild-test kernel) halts on
    // `poweroff -f` ("reboot: System halted") and qemu runs on: once the guest said
    // KBTF-DONE, it gets a grace period to exit, then it is stopped.
    let mut done_at: Option<Instant> = None;
    let mut seen_len = 0;
    loop {
        if let Some(status) = child.try_wait()? {
            let err = std::fs::read_to_string(work.join("qemu.err")).unwrap_or_default();
            if !status.success() {
                bail!("qemu failed ({status}): {}", err.trim());
            }
            if !log.exists() {
                bail!("qemu wrote no console log: {}", err.trim());
            }
            return Ok(format!("exited ({status})"));
        }
        let len = std::fs::metadata(log).map_or(0, |m| m.len());
        if done_at.is_none() && len != seen_len {
            seen_len = len;
            if console_says_done(log) {
                done_at = Some(Instant::now());
            }
        }
        if let Some(t) = done_at {
            if t.elapsed() >= DONE_GRACE {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(format!(
                    "stopped {} s after KBTF-DONE (the guest did not power off)",
                    DONE_GRACE.as_secs()
                ));
            }
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            if !log.exists() {
                std::fs::write(log, b"")?;
            }
            return Ok(format!("KILLED at the {} s timeout", m.timeout));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How long a guest that printed KBTF-DONE may take to power off before it is stopped.
const DONE_GRACE: Duration = Duration::from_secs(10);

/// Whether the console log so far has the KBTF-DONE line (the guest's last word).
fn console_says_done(log: &Path) -> bool {
    std::fs::read(log).is_ok_and(|b| b.windows(b"\nKBTF-DONE".len()).any(|w| w == b"\nKBTF-DONE"))
}

/// A temp directory removed on drop (kept if KBTF_KEEP_TMP is set).
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    /// A new directory `<tmp>/kbtf-<what>-<pid>-<n>`.
    pub fn new(what: &str) -> Result<TempDir> {
        let base = std::env::temp_dir();
        for i in 0..100 {
            let path = base.join(format!("kbtf-{what}-{}-{i}", std::process::id()));
            if std::fs::create_dir(&path).is_ok() {
                return Ok(TempDir { path });
            }
        }
        bail!("cannot create a temp dir in {}", base.display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("KBTF_KEEP_TMP").is_some() {
            eprintln!("kept {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
