//! `cargo xtask kernel-test`: boot a kernel under qemu (TCG) with a busybox initramfs,
//! load modules (insmod, or `kbtf load` with `--kbtf-load`), and report what the kernel made
//! of their BTF.

use crate::args::{Args, Positionals};
use crate::cache::{self, Index};
use crate::guest::{self, Machine, TempDir};
use crate::ktree::{self, KernelTree};
use crate::{btf, console, elf, install_rule, modsig, static_kbtf, util};
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};

pub const USAGE: &str = "\
cargo xtask kernel-test [options] [MODULE...]

Boots a kernel in qemu (TCG) with a busybox initramfs, insmods MODULEs in the given
order, and prints per module `ok NAME btf_types=N` or `FAIL NAME: MESSAGE`.
MODULE is a .ko file (also .ko.xz/.ko.zst/.ko.gz) or a module name looked up in the
kernel's modules.dep. Default modules: dummy veth tun.
  --kernel DIR|FILE   unpacked linux-image package root, or a vmlinuz file
                      (default: kernel61_dir from the cache index)
  --modprobe          load dependencies from modules.dep first
  --strip-sig         strip appended signatures from the given modules (needed
                      after rewriting a signed module's .BTF)
  --kbtf-load         load the given modules with `kbtf load` (a static kbtf, built
                      with `-C target-feature=+crt-static`, at /bin/kbtf in the
                      initramfs) instead of insmod; dependencies (--modprobe) still
                      use insmod
  --kbtf PATH         the static kbtf for --kbtf-load (default: build it)
  --install-rule      like --kbtf-load, but through the real modprobe (kmod, with
                      its libraries) and a modprobe.d rule per given module:
                      `install NAME /bin/kbtf load .../NAME.ko $CMDLINE_OPTS`; kmod
                      loads the dependencies (implies --kbtf-load and --modprobe)
  --module-args ARGS  parameters for each given module (insmod/kbtf load/modprobe)
  --exec CMD          a shell command run in the guest after the loads; its
                      output is printed
  --keep-btf DIR      save each /sys/kernel/btf/NAME as DIR/NAME
  --timeout SECS      hard limit for the whole qemu run (default 120)
  --memory MB         guest memory (default 1024)
  --append ARGS       extra kernel command line
  --log FILE          save the serial console log to FILE
  --busybox PATH      static busybox (default /bin/busybox)
  --qemu PATH         qemu binary (default qemu-system-x86_64)
  --arm64             an arm64 kernel (`cargo xtask arm64` fetches Debian's):
                      qemu-system-aarch64 -M virt, console ttyAMA0, 2048 MB, the
                      arm64 busybox of the cache (default --busybox)
  --s390x             an s390x kernel (`cargo xtask s390x` fetches Debian's):
                      qemu-system-s390x -M s390-ccw-virtio, console ttysclp0,
                      2048 MB, the s390x busybox of the cache (default --busybox)
  --ppc64el           a ppc64el kernel (`cargo xtask ppc64el` fetches Debian's):
                      qemu-system-ppc64 -M pseries (VOF firmware), console hvc0,
                      2048 MB, the ppc64el busybox of the cache (default --busybox)
  --riscv64           a riscv64 kernel (`cargo xtask riscv64` fetches Debian 13's):
                      qemu-system-riscv64 -M virt (OpenSBI), console ttyS0,
                      2048 MB, the riscv64 busybox of the cache (default --busybox)";

const DEFAULT_MODULES: &[&str] = &["dummy", "veth", "tun"];

struct Module {
    name: String,
    src: PathBuf,
    requested: bool,
    /// Loaded for a `softdep ... pre:`: modprobe goes on when it fails, and so does the
    /// verdict.
    soft: bool,
}

/// What one kernel-test run does (see USAGE).
#[derive(Default)]
pub struct Options {
    pub kernel: Option<PathBuf>,
    pub modules: Vec<String>,
    pub modprobe: bool,
    pub strip_sig: bool,
    /// Load the requested modules with `kbtf load` instead of insmod.
    pub kbtf_load: bool,
    /// A static kbtf for `kbtf_load` (None: build one).
    pub kbtf: Option<PathBuf>,
    /// Load the requested modules with the real modprobe and a modprobe.d install rule
    /// that runs `kbtf load` (see install_rule.rs).
    pub install_rule: bool,
    /// Parameters for each requested module.
    pub module_args: Option<String>,
    /// A shell command the guest runs after the loads.
    pub exec: Option<String>,
    pub keep_btf: Option<PathBuf>,
    /// How to run the guest.
    pub machine: Machine,
}

/// The verdict for one module, as printed.
pub struct Outcome {
    pub name: String,
    pub ok: bool,
    pub line: String,
    /// The kernel's messages about this module (dmesg lines naming it, and those between
    /// its load markers).
    pub kmsg: Vec<String>,
}

pub fn main(raw: &[String]) -> Result<()> {
    let Some(a) = Args::task(
        raw,
        &[
            "kernel",
            "keep-btf",
            "timeout",
            "memory",
            "append",
            "log",
            "busybox",
            "qemu",
            "kbtf",
            "module-args",
            "exec",
        ],
        &[
            "modprobe",
            "strip-sig",
            "kbtf-load",
            "install-rule",
            "arm64",
            "s390x",
            "ppc64el",
            "riscv64",
        ],
        Positionals::Any,
        USAGE,
    )?
    else {
        return Ok(());
    };
    let d = if a.flag("arm64") {
        Machine::arm64(crate::arm64::busybox()?)
    } else if a.flag("s390x") {
        crate::kernel612::S390X.guest(crate::mirror::DEFAULT)?
    } else if a.flag("ppc64el") {
        crate::kernel612::PPC64EL.guest(crate::mirror::DEFAULT)?
    } else if a.flag("riscv64") {
        crate::kernel612::RISCV64.guest(crate::mirror::DEFAULT)?
    } else {
        Machine::default()
    };
    let o = Options {
        kernel: a.opt("kernel").map(PathBuf::from),
        modules: a.positional.clone(),
        modprobe: a.flag("modprobe"),
        strip_sig: a.flag("strip-sig"),
        kbtf_load: a.flag("kbtf-load"),
        kbtf: a.opt("kbtf").map(PathBuf::from),
        install_rule: a.flag("install-rule"),
        module_args: a.opt("module-args").map(str::to_string),
        exec: a.opt("exec").map(str::to_string),
        keep_btf: a.opt("keep-btf").map(PathBuf::from),
        machine: Machine {
            timeout: match a.opt("timeout") {
                Some(t) => parse_num(t, "--timeout")?,
                None => d.timeout,
            },
            memory: match a.opt("memory") {
                Some(m) => parse_num(m, "--memory")?,
                None => d.memory,
            },
            append: a.opt("append").map(str::to_string),
            log: a.opt("log").map(PathBuf::from),
            busybox: a.opt("busybox").map(PathBuf::from).unwrap_or(d.busybox),
            qemu: a.opt("qemu").map(str::to_string).unwrap_or(d.qemu),
            ..d
        },
    };
    let failures = run(&o)?.iter().filter(|r| !r.ok).count();
    if failures > 0 {
        bail!("{failures} module(s) failed");
    }
    Ok(())
}

/// The kernel tree for `--kernel` (default: kernel61_dir from the cache index).
pub fn kernel_tree(kernel: Option<&Path>) -> Result<KernelTree> {
    let kernel = match kernel {
        Some(k) => k.to_path_buf(),
        None => cache::KERNEL61.path(&Index::load()?, "dir")?,
    };
    if kernel.is_file() {
        KernelTree::from_vmlinuz(&kernel, None)
    } else if kernel.is_dir() {
        KernelTree::open(&kernel)
    } else {
        bail!("--kernel {}: no such file or directory", kernel.display());
    }
}

/// Boots once, prints and returns one outcome per module (dependencies only if they fail).
pub fn run(o: &Options) -> Result<Vec<Outcome>> {
    let tree = kernel_tree(o.kernel.as_deref())?;
    let names: Vec<String> = if o.modules.is_empty() {
        DEFAULT_MODULES.iter().map(|s| s.to_string()).collect()
    } else {
        o.modules.clone()
    };

    let kbtf = if o.kbtf_load || o.install_rule {
        Some(match &o.kbtf {
            Some(k) => {
                static_kbtf::check_static(k)?;
                k.clone()
            }
            None => static_kbtf::build()?,
        })
    } else {
        None
    };
    let work = TempDir::new("kernel-test")?;
    let modules = plan(&tree, &names, o.modprobe || o.install_rule)?;
    let initrd = work.path.join("initramfs.cpio");
    build_initramfs(&initrd, o, &tree, &modules, kbtf.as_deref(), &work.path)?;

    println!(
        "boot {} with {} module(s){}: {}",
        tree.vmlinuz.display(),
        modules.len(),
        if o.install_rule {
            " (requested ones by modprobe with a kbtf load install rule)"
        } else if kbtf.is_some() {
            " (requested ones by kbtf load)"
        } else {
            ""
        },
        modules
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = guest::boot(&o.machine, &tree.vmlinuz, &initrd, &work.path)?;
    let parsed = console::parse(&out.text);
    if !parsed.done {
        guest::print_console_tail(&out.text, 40);
    }
    if let Some(k) = &o.keep_btf {
        std::fs::create_dir_all(k).with_context(|| format!("creating {}", k.display()))?;
    }
    for l in &parsed.exec_out {
        println!("exec: {l}");
    }
    Ok(report(
        &modules,
        &parsed,
        o.keep_btf.as_deref(),
        o.install_rule,
    ))
}

fn parse_num(s: &str, what: &str) -> Result<u64> {
    s.parse()
        .with_context(|| format!("{what}: not a number: {s:?}"))
}

/// Resolves names/paths to module files, with dependencies first if `modprobe`.
fn plan(tree: &KernelTree, names: &[String], modprobe: bool) -> Result<Vec<Module>> {
    let have_tree = tree.has_modules();
    if have_tree {
        tree.ensure_depmod()?;
    }
    let mut requested = Vec::new();
    for n in names {
        let p = Path::new(n);
        if p.is_file() {
            let file = p
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let stem = ktree::module_stem(&file)
                .with_context(|| format!("{n}: not a .ko/.ko.xz/.ko.zst/.ko.gz file"))?;
            let name = if file.ends_with(".ko") {
                elf::module_name(p)?.unwrap_or_else(|| ktree::norm(stem))
            } else {
                ktree::norm(stem)
            };
            requested.push(Module {
                name,
                src: p.to_path_buf(),
                requested: true,
                soft: false,
            });
        } else if !n.contains('/') && !n.ends_with(".ko") {
            ensure!(
                have_tree,
                "module {n:?} given by name, but {} has no lib/modules/{}",
                tree.root.display(),
                tree.release
            );
            let Some((path, _)) = tree.find_module(n)? else {
                bail!(
                    "module {n:?} not in {}/modules.dep",
                    tree.modules_base().display()
                );
            };
            requested.push(Module {
                name: ktree::norm(n),
                src: path,
                requested: true,
                soft: false,
            });
        } else {
            bail!("{n}: no such module file");
        }
    }
    for m in &requested {
        ensure!(
            !m.name.is_empty()
                && m.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "{}: unusable module name {:?}",
            m.src.display(),
            m.name
        );
    }
    let mut out: Vec<Module> = Vec::new();
    for (i, m) in requested.iter().enumerate() {
        if loaded(&out, &m.name) {
            continue;
        }
        let deps = if have_tree {
            tree.find_module(&m.name)?
                .map(|(_, d)| d)
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        // modprobe loads the last-listed dependency first.
        for d in deps.iter().rev() {
            let dname = file_module_name(d);
            if loaded(&out, &dname) {
                continue;
            }
            if !modprobe {
                eprintln!(
                    "note: {} depends on {dname} (modules.dep), which is not loaded before it; \
                     list it first or pass --modprobe",
                    m.name
                );
                continue;
            }
            push_soft_pre_deps(tree, &mut out, &dname)?;
            // A dependency the user also gave explicitly: use the user's file, here.
            match requested[i + 1..]
                .iter()
                .find(|r| ktree::norm(&r.name) == dname)
            {
                Some(r) => out.push(Module {
                    name: r.name.clone(),
                    src: r.src.clone(),
                    requested: true,
                    soft: false,
                }),
                None => out.push(Module {
                    name: dname,
                    src: d.clone(),
                    requested: false,
                    soft: false,
                }),
            }
        }
        if modprobe && have_tree {
            push_soft_pre_deps(tree, &mut out, &m.name)?;
        }
        out.push(Module {
            name: m.name.clone(),
            src: m.src.clone(),
            requested: true,
            soft: false,
        });
    }
    Ok(out)
}

/// Whether module `name` is in `out` already.
fn loaded(out: &[Module], name: &str) -> bool {
    out.iter()
        .any(|m| ktree::norm(&m.name) == ktree::norm(name))
}

/// The module name of a module file's path (`nf_conntrack` of `.../nf_conntrack.ko.xz`).
fn file_module_name(p: &Path) -> String {
    let file = p
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    ktree::norm(ktree::module_stem(&file).unwrap_or(&file))
}

/// Before `name`, what modprobe loads for its `softdep ... pre:` (with their own
/// dependencies) unless already there.
fn push_soft_pre_deps(tree: &KernelTree, out: &mut Vec<Module>, name: &str) -> Result<()> {
    for (src, deps) in tree.soft_pre_deps(name)? {
        for p in deps.iter().rev().chain(std::iter::once(&src)) {
            let n = file_module_name(p);
            if !loaded(out, &n) {
                out.push(Module {
                    name: n,
                    src: p.clone(),
                    requested: false,
                    soft: true,
                });
            }
        }
    }
    Ok(())
}

fn build_initramfs(
    out: &Path,
    o: &Options,
    tree: &KernelTree,
    modules: &[Module],
    kbtf: Option<&Path>,
    work: &Path,
) -> Result<()> {
    let mut c = guest::base_initramfs(&o.machine.busybox)?;
    c.dir("mod");
    if let Some(k) = kbtf {
        c.file("bin/kbtf", 0o755, &util::read(k)?);
    }
    let args = match &o.module_args {
        Some(a) => format!(" {a}"),
        None => String::new(),
    };
    let mut script = String::from(guest::INIT_PRELUDE);
    script.push_str(INIT_FUNCTIONS);
    let mut tree_modules = Vec::new();
    for (i, m) in modules.iter().enumerate() {
        // `kbtf load` takes a compressed module as kmod installs it (it decompresses in
        // memory): hand it over as it is, unless its signature is to be stripped first.
        let src_name = m.src.to_string_lossy();
        let compressed = ktree::MODULE_SUFFIXES
            .iter()
            .find(|(suffix, tool)| tool.is_some() && src_name.ends_with(suffix));
        if let (Some((suffix, _)), Some(_), true, false, false) =
            (compressed, kbtf, m.requested, o.strip_sig, o.install_rule)
        {
            let file = format!("{i:02}-{}{suffix}", m.name);
            println!(
                "{}: handed to kbtf load as it is, compressed (/mod/{file})",
                m.name
            );
            c.file(&format!("mod/{file}"), 0o644, &util::read(&m.src)?);
            script.push_str(&format!(
                "load {} /bin/kbtf load /mod/{file}{args}\n",
                m.name
            ));
            continue;
        }
        let file = format!("{i:02}-{}.ko", m.name);
        let tmp = work.join(&file);
        ktree::decompress_module(&m.src, &tmp)?;
        let mut data = util::read(&tmp)?;
        if o.strip_sig && m.requested {
            let n = modsig::strip(&data)
                .with_context(|| format!("stripping signature of {}", m.src.display()))?
                .len();
            data.truncate(n);
        }
        if o.install_rule {
            // kmod loads the dependencies from the tree; the script asks only for the
            // requested modules.
            if m.requested {
                script.push_str(&format!(
                    "load {} {} {}{args}\n",
                    m.name,
                    install_rule::MODPROBE,
                    m.name
                ));
            }
            tree_modules.push((m.name.clone(), data));
            continue;
        }
        c.file(&format!("mod/{file}"), 0o644, &data);
        let how = if kbtf.is_some() && m.requested {
            "/bin/kbtf load"
        } else {
            "insmod"
        };
        let args = if m.requested { args.as_str() } else { "" };
        script.push_str(&format!("load {} {how} /mod/{file}{args}\n", m.name));
    }
    if o.install_rule {
        let mut dirs = install_rule::Dirs::default();
        install_rule::add_kmod(&mut c, &mut dirs)?;
        install_rule::add_module_tree(
            &mut c,
            &mut dirs,
            &work.join("stage"),
            &tree.release,
            &tree.modules_base(),
            &tree_modules,
        )?;
        let rules: String = modules
            .iter()
            .filter(|m| m.requested)
            .map(|m| install_rule::rule(&m.name))
            .collect();
        dirs.parents(&mut c, "etc/modprobe.d/kbtf.conf");
        c.file("etc/modprobe.d/kbtf.conf", 0o644, rules.as_bytes());
    }
    script.push_str("echo KBTF-INSMODS-DONE > /dev/kmsg\n");
    if let Some(cmd) = &o.exec {
        c.file("exec.sh", 0o755, cmd.as_bytes());
        script.push_str("sh /exec.sh 2>&1 | sed 's/^/KBTF-EXEC-OUT /'\n");
    }
    script.push_str("report vmlinux nodump\n");
    for m in modules.iter().filter(|m| m.requested) {
        script.push_str(&format!("report {}\n", m.name));
    }
    script.push_str(guest::INIT_EPILOGUE);
    c.file("init", 0o755, script.as_bytes());
    c.write_to(out)
}

/// Shell functions of the kernel-test /init: `load NAME COMMAND...` (runs the command that
/// loads module NAME, `insmod FILE` or `/bin/kbtf load FILE`, and reports its exit status and
/// output) and `report NAME [nodump]` (the size and base64 of /sys/kernel/btf/NAME).
pub const INIT_FUNCTIONS: &str = r#"load() {
    name=$1
    shift
    echo "KBTF-INSMOD $name" > /dev/kmsg
    out=$("$@" 2>&1)
    rc=$?
    echo "KBTF-INSMOD-RC $name $rc"
    [ -n "$out" ] && echo "$out" | sed "s/^/KBTF-INSMOD-OUT $name /"
}
report() {
    f=/sys/kernel/btf/$1
    if [ -e "$f" ]; then
        echo "KBTF-RESULT $1 present=1 size=$(wc -c < "$f")"
        [ "$2" = nodump ] && return
        echo "KBTF-BTF-BEGIN $1"
        base64 "$f"
        echo "KBTF-BTF-END $1"
    else
        echo "KBTF-RESULT $1 present=0 size=0"
    fi
}
"#;

/// Prints (and returns) one verdict per requested module, plus failed dependencies, each
/// with the kernel's messages about it.
fn report(
    modules: &[Module],
    p: &console::Parsed,
    keep: Option<&Path>,
    install_rule: bool,
) -> Vec<Outcome> {
    let mut out = verdicts(modules, p, keep, install_rule);
    for o in &mut out {
        o.kmsg = p.kmsg_for(&o.name);
    }
    out
}

fn verdicts(
    modules: &[Module],
    p: &console::Parsed,
    keep: Option<&Path>,
    install_rule: bool,
) -> Vec<Outcome> {
    let mut out = Vec::new();
    let mut say = |name: &str, ok: bool, line: String| {
        println!("{line}");
        out.push(Outcome {
            name: name.to_string(),
            ok,
            line,
            kmsg: Vec::new(),
        });
    };
    if !p.done {
        let why = if p.booted {
            "guest did not finish (see console above)"
        } else {
            "guest did not boot to /init (see console above)"
        };
        for m in modules.iter().filter(|m| m.requested) {
            say(&m.name, false, format!("FAIL {}: {why}", m.name));
        }
        return out;
    }
    if let Some(r) = p.results.get("vmlinux") {
        if !r.present {
            println!("note: the kernel has no /sys/kernel/btf/vmlinux");
        }
    }
    for m in modules {
        let rc = p.insmod_rc.get(&m.name).copied();
        let insmod_out = p.insmod_out.get(&m.name).cloned().unwrap_or_default();
        let kmsg = p.kmsg_for(&m.name);
        if !m.requested && rc.is_none() && install_rule {
            // Loaded by kmod for the module that needs it (checked by that module loading).
            continue;
        }
        if rc != Some(0) {
            let what = if m.requested { "" } else { " (dependency)" };
            let msg = match rc {
                None => "the load command did not run".to_string(),
                Some(rc) if insmod_out.is_empty() => format!("the load command exited {rc}"),
                Some(_) => insmod_out.join("; "),
            };
            if m.soft {
                println!("note: soft dependency {} not loaded: {msg}", m.name);
                continue;
            }
            say(&m.name, false, format!("FAIL {}{what}: {msg}", m.name));
            print_dmesg(kmsg.iter());
            continue;
        }
        if !m.requested {
            continue;
        }
        let Some(r) = p.results.get(&m.name) else {
            say(
                &m.name,
                false,
                format!("FAIL {}: no result line from the guest", m.name),
            );
            continue;
        };
        if !r.present {
            // 6.1 says "failed to validate module [x] BTF: -22"; 6.12 (with
            // ALLOW_BTF_MISMATCH) says "Kernel module BTF mismatch detected" once.
            // The verifier's reason is in the BPF: lines before it.
            let lines: Vec<&String> = kmsg.iter().filter(|l| l.trim() != "BPF:").collect();
            const JOIN: usize = 6;
            let msg = if lines.is_empty() {
                format!("no /sys/kernel/btf/{} and no kernel message", m.name)
            } else {
                lines
                    .iter()
                    .take(JOIN)
                    .map(|l| l.as_str())
                    .collect::<Vec<_>>()
                    .join(" | ")
            };
            say(&m.name, false, format!("FAIL {}: {msg}", m.name));
            print_dmesg(lines.into_iter().skip(JOIN));
            continue;
        }
        let check = p
            .btf
            .get(&m.name)
            .context("no BTF bytes in the console output")
            .and_then(|b| {
                ensure!(
                    b.len() as u64 == r.size,
                    "got {} BTF bytes over the console, the guest said {}",
                    b.len(),
                    r.size
                );
                let s = btf::summarize(b)?;
                if let Some(dir) = keep {
                    let path = dir.join(&m.name);
                    std::fs::write(&path, b)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
                Ok(s.types)
            });
        match check {
            Ok(n) => say(&m.name, true, format!("ok {} btf_types={n}", m.name)),
            Err(e) => say(
                &m.name,
                false,
                format!(
                    "FAIL {}: /sys/kernel/btf/{} present but unreadable: {e:#}",
                    m.name, m.name
                ),
            ),
        }
    }
    out
}

fn print_dmesg<'a>(lines: impl Iterator<Item = &'a String>) {
    const MAX: usize = 12;
    let lines: Vec<_> = lines.collect();
    for l in lines.iter().take(MAX) {
        println!("    dmesg: {l}");
    }
    if lines.len() > MAX {
        println!("    dmesg: ... {} more line(s)", lines.len() - MAX);
    }
}
