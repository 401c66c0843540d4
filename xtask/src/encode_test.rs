//! `cargo xtask encode-test`: the real kernel judges BTF that kbtf itself encoded, on Debian's
//! 6.1 and 6.12 kernels, each judging its own:
//!
//! * vmlinux: `kbtf -J -j --btf_gen_floats --lang_exclude=rust --btf_encode_detached` on the
//!   `-dbg` vmlinux (Debian's flags); the kernel's `BPF_BTF_LOAD` must load the result, and
//!   `bpftool btf dump ... format c` of it must compile as a vmlinux.h (`gcc -fsyntax-only`).
//! * modules: a sample of `-dbg` modules rewritten in place by `kbtf -J --btf_base`; every
//!   section, symbol and relocation they had is still there (`readelf`), `modinfo` reads them,
//!   and the kernel loads them with `/sys/kernel/btf/<mod>` present for each.

use crate::args::{Args, Positionals};
use crate::cache::{self, Index};
use crate::util;
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const USAGE: &str = "\
cargo xtask encode-test [--kbtf PATH]

Encodes the 6.1 and the 6.12 -dbg vmlinux and a sample of each kernel's modules with kbtf
(default: the release binary, built first) and has that kernel in qemu judge them
(BPF_BTF_LOAD for vmlinux, insmod and /sys/kernel/btf for modules); also checks vmlinux.h
compiles and the rewritten modules keep their sections, symbols and relocations.";

/// One of the kernels judged, and the modules of `SAMPLE` it has built in (so has no `.ko`
/// for).
struct Kernel {
    kernel: cache::Kernel,
    builtin: &'static [&'static str],
}

const KERNELS: &[Kernel] = &[
    Kernel {
        kernel: cache::KERNEL61,
        builtin: &[],
    },
    Kernel {
        kernel: cache::KERNEL612,
        // CONFIG_FUSE_FS=y
        builtin: &["fuse"],
    },
];

/// The module sample: small and large, network and storage drivers, filesystems.
pub const SAMPLE: &[&str] = &[
    "dummy",
    "nlmon",
    "ifb",
    "sch_netem",
    "vhost_net",
    "tap",
    "macvlan",
    "veth",
    "geneve",
    "sd_mod",
    "tun",
    "virtio_net",
    "ipvlan",
    "isofs",
    "vxlan",
    "ena",
    "overlay",
    "squashfs",
    "fuse",
    "bonding",
    "wireguard",
    "openvswitch",
    "nf_tables",
    "xfs",
];

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

pub fn main(raw: &[String]) -> Result<()> {
    let Some(a) = Args::task(raw, &["kbtf"], &[], Positionals::None, USAGE)? else {
        return Ok(());
    };
    let root = crate::fixtures::repo_root();
    let kbtf = crate::test::kbtf_bin(a.opt("kbtf"))?;
    let index = Index::load()?;
    let out = cache::root()?.join("kbtf-out");
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("removing {}", out.display()))?;
    }
    for k in KERNELS {
        let out = out.join(k.kernel.name);
        std::fs::create_dir_all(out.join("modules"))
            .with_context(|| format!("creating {}", out.display()))?;
        vmlinux(&root, &kbtf, &index, k, &out)?;
        let n = modules(&root, &kbtf, &index, k, &out)?;
        println!(
            "encode-test: kbtf's vmlinux and {n} modules accepted by the {} kernel",
            k.kernel.name
        );
    }
    Ok(())
}

fn vmlinux(root: &Path, kbtf: &Path, index: &Index, k: &Kernel, out: &Path) -> Result<()> {
    let btf = out.join("vmlinux.btf");
    println!("== kbtf -J on the {} -dbg vmlinux", k.kernel.name);
    util::run(
        Command::new(kbtf)
            .args(["-J", "-j", "--btf_gen_floats", "--lang_exclude=rust"])
            .arg(format!("--btf_encode_detached={}", btf.display()))
            .arg(k.kernel.path(index, "dbg_vmlinux")?),
    )?;
    println!("== vmlinux.h from kbtf's BTF compiles");
    let header = util::output(
        Command::new("bpftool")
            .args(["btf", "dump", "file"])
            .arg(&btf)
            .args(["format", "c"]),
    )?;
    std::fs::write(out.join("vmlinux.h"), &header.stdout)?;
    std::fs::write(
        out.join("use.c"),
        "#include \"vmlinux.h\"\nint main(void) { return sizeof(struct sk_buff) == 0; }\n",
    )?;
    util::run(
        Command::new("gcc")
            .args(["-fsyntax-only", "use.c"])
            .current_dir(out),
    )?;
    println!("== BPF_BTF_LOAD of kbtf's {} vmlinux BTF", k.kernel.name);
    util::run(
        cargo()
            .current_dir(root)
            .args(["xtask", "btf-load", "--kernel"])
            .arg(k.kernel.path(index, "dir")?)
            .arg(&btf),
    )?;
    Ok(())
}

/// Rewrites `k`'s modules of `SAMPLE` and has `k` load them; returns how many.
fn modules(root: &Path, kbtf: &Path, index: &Index, k: &Kernel, out: &Path) -> Result<usize> {
    let dbg = k.kernel.path(index, "dbg_modules_dir")?;
    let base = k.kernel.path(index, "vmlinux_btf")?;
    let all = find_modules(&dbg)?;
    let mut paths = Vec::new();
    let sample: Vec<&str> = SAMPLE
        .iter()
        .copied()
        .filter(|n| !k.builtin.contains(n))
        .collect();
    println!(
        "== kbtf -J --btf_base on {} {} -dbg modules",
        sample.len(),
        k.kernel.name
    );
    for name in sample {
        let src = all
            .iter()
            .find(|p| p.file_stem().is_some_and(|s| s == name))
            .with_context(|| format!("no {name}.ko under {}", dbg.display()))?;
        let dest = out.join("modules").join(format!("{name}.ko"));
        std::fs::copy(src, &dest).with_context(|| format!("copying {}", src.display()))?;
        util::run(
            Command::new(kbtf)
                .args([
                    "-J",
                    "-j",
                    "--btf_gen_floats",
                    "--lang_exclude=rust",
                    "--btf_base",
                ])
                .arg(&base)
                .arg(&dest),
        )?;
        same_elf_contents(src, &dest)?;
        util::output(Command::new("modinfo").arg(&dest))
            .with_context(|| format!("modinfo {}", dest.display()))?;
        paths.push(dest);
    }
    println!(
        "== the {} kernel loads the rewritten modules",
        k.kernel.name
    );
    let mut cmd = cargo();
    cmd.current_dir(root)
        .args(["xtask", "kernel-test", "--kernel"])
        .arg(k.kernel.path(index, "dir")?)
        .args(["--modprobe", "--memory", "2048", "--timeout", "300"]);
    cmd.args(&paths);
    util::run(&mut cmd)?;
    Ok(paths.len())
}

pub fn find_modules(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "ko") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `readelf` of the module before and after: the same sections (name, type, flags, size;
/// `.BTF`, kbtf's note and the section-name table aside), symbols and relocations.
fn same_elf_contents(before: &Path, after: &Path) -> Result<()> {
    let sections = |p: &Path| -> Result<Vec<String>> {
        let text = util::stdout_string(Command::new("readelf").args(["-W", "-S"]).arg(p))?;
        Ok(text
            .lines()
            .filter(|l| l.trim_start().starts_with('['))
            .filter_map(|l| {
                let f: Vec<&str> = l.split(']').nth(1)?.split_whitespace().collect();
                // name type address offset size entsize flags...: drop address and offset.
                let name = *f.first()?;
                if matches!(name, ".BTF" | ".shstrtab" | ".note.kbtf.btf_base" | "Name") {
                    return None;
                }
                Some(format!(
                    "{} {} {} {}",
                    name,
                    f.get(1)?,
                    f.get(4)?,
                    f[5..].join(" ")
                ))
            })
            .collect())
    };
    let symbols = |p: &Path| util::stdout_string(Command::new("readelf").args(["-W", "-s"]).arg(p));
    let relocs = |p: &Path| -> Result<String> {
        let t = util::stdout_string(Command::new("readelf").args(["-W", "-r"]).arg(p))?;
        // The header lines name each relocation section's file offset, which may move.
        Ok(t.lines()
            .map(|l| l.split(" at offset ").next().unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n"))
    };
    ensure!(
        sections(before)? == sections(after)?,
        "{}: sections changed",
        after.display()
    );
    ensure!(
        symbols(before)? == symbols(after)?,
        "{}: symbols changed",
        after.display()
    );
    ensure!(
        relocs(before)? == relocs(after)?,
        "{}: relocations changed",
        after.display()
    );
    if !util::stdout_string(Command::new("readelf").args(["-W", "-S"]).arg(after))?
        .contains(".note.kbtf.btf_base")
    {
        bail!("{}: no base fingerprint note", after.display());
    }
    Ok(())
}
