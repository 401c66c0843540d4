//! `cargo xtask resilience`: module BTF that survives a rebuild of the kernel (issue 5's
//! acceptance), judged by the real kernels in qemu.
//!
//! Two "other builds" of vmlinux BTF stand for a kernel the modules were NOT built against:
//! the older 6.1 build (`kernel61_old_vmlinux_btf`, 6.1.0-55) and a re-encode of the same
//! `-dbg` vmlinux by pahole 1.24 with `-j` (whose type order and static-function set change
//! from run to run, as a rebuild of the same source does).
//!
//! * 6.1 (no native relocation): the sample modules, encoded by kbtf with
//!   `--btf_features=+distilled_base` against each other build, are loaded in the guest by
//!   `kbtf load` (a static kbtf in the initramfs), which relocates them onto the running
//!   kernel's `/sys/kernel/btf/vmlinux`. Every one must have `/sys/kernel/btf/<mod>`, equal by
//!   `kbtf diff` to the split BTF built against the right vmlinux. The same modules with plain
//!   split BTF against the other build show the field bug: the kernel refuses most of them.
//! * 6.12 (native `.BTF.base` relocation): the sample modules of the 6.12 `-dbg` package,
//!   distilled against a pahole `-j` re-encode of 6.12's vmlinux, loaded with plain insmod:
//!   `/sys/kernel/btf/<mod>` is present for each and differs from the right split BTF only by
//!   reference types equal to vmlinux types, which the kernel's relocation does not merge.

use crate::args::{Args, Positionals};
use crate::cache::{self, Index};
use crate::guest::Machine;
use crate::kernel_test::{self, Options, Outcome};
use crate::util;
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const USAGE: &str = "\
cargo xtask resilience [--kbtf PATH] [--only 61|612|oot] [MODULE...]

Encodes the sample modules with distilled BTF against other builds of vmlinux and has the
6.1 kernel (kbtf load in the guest) and the 6.12 kernel (native relocation, insmod) load
them; compares what the kernels show with the right split BTF, and boots the plain
split-BTF-against-the-wrong-base modules to show the field bug.";

/// The sample (at least 20 modules): network and storage drivers, filesystems, netfilter.
pub const SAMPLE: &[&str] = &[
    "dummy",
    "veth",
    "tun",
    "sch_netem",
    "nlmon",
    "ifb",
    "macvlan",
    "geneve",
    "vxlan",
    "ipvlan",
    "tap",
    "isofs",
    "squashfs",
    "fuse",
    "overlay",
    "xfs",
    "bonding",
    "ena",
    "sd_mod",
    "nf_conntrack",
    "nf_tables",
    "wireguard",
];

/// The kinds (as `kbtf diff` words them) of the vmlinux types distilling copies into a
/// module's `.BTF`, which the kernel's relocation leaves there unmerged.
const UNMERGED_KINDS: &[&str] = &[
    "ptr",
    "typedef",
    "func_proto",
    "array",
    "const",
    "volatile",
    "restrict",
    "type_tag",
    "anonymous",
];

/// Debian's flags for pahole 1.24 (both kernels were built with it).
const FLAGS: &[&str] = &["-J", "-j", "--btf_gen_floats", "--lang_exclude=rust"];
/// The same feature set as FLAGS (pahole 1.24's, with floats) plus distilled_base. Not
/// `+distilled_base`: `+` adds to pahole 1.26+'s default set, whose optimized_func encodes
/// more functions, and the comparison with the right split BTF would then see those.
pub const DISTILLED: &str = "--btf_features=var,float,decl_tag,type_tag,enum64,distilled_base";

struct Ctx {
    kbtf: PathBuf,
    work: PathBuf,
    names: Vec<String>,
}

pub fn main(raw: &[String]) -> Result<()> {
    let Some(a) = Args::task(raw, &["kbtf", "only"], &[], Positionals::Any, USAGE)? else {
        return Ok(());
    };
    let root = crate::fixtures::repo_root();
    let kbtf = crate::test::kbtf_bin(a.opt("kbtf"))?;
    let names: Vec<String> = if a.positional.is_empty() {
        SAMPLE.iter().map(|s| s.to_string()).collect()
    } else {
        a.positional.clone()
    };
    let work = cache::root()?.join("resilience");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let c = Ctx { kbtf, work, names };
    let index = Index::load()?;
    let only = a.opt("only");
    let mut failures = Vec::new();
    if only.is_none_or(|o| o == cache::KERNEL61.flag) {
        failures.extend(linux61(&c, &index, &root)?);
    }
    if only.is_none_or(|o| o == cache::KERNEL612.flag) {
        failures.extend(linux612(&c, &index)?);
    }
    if only.is_none_or(|o| o == "oot") {
        failures.extend(oot(&c, &index)?);
    }
    if !failures.is_empty() {
        bail!("resilience: {}", failures.join("\n"));
    }
    println!("resilience: all checks passed");
    Ok(())
}

/// pahole 1.24 `-j` re-encode of a `-dbg` vmlinux (cached).
fn reordered(c: &Ctx, vmlinux: &Path, right: &Path, name: &str) -> Result<PathBuf> {
    let out = c.work.join(name);
    if !out.exists() {
        let tmp = util::tmp_sibling(&out);
        util::run(
            Command::new("pahole")
                .env("LLVM_OBJCOPY", "objcopy")
                .args(FLAGS)
                .arg("--btf_encode_detached")
                .arg(&tmp)
                .arg(vmlinux),
        )?;
        std::fs::rename(&tmp, &out)?;
    }
    ensure!(
        util::read(&out)? != util::read(right)?,
        "{}: the re-encode is byte-identical to the kernel's BTF; it does not stand for another build",
        out.display()
    );
    Ok(out)
}

/// A copy of module `name` from `dbg_dir`, encoded by kbtf with `extra` flags into
/// `dir/name.ko`, debug info stripped (as installed modules are). The `-dbg` modules' `.BTF_ids`
/// were resolved (kfunc sets sorted) against the right vmlinux at Debian's build; callers pass
/// it as `--btf_ids_base` so that kbtf can resolve them again for the new BTF.
fn encode(c: &Ctx, dbg_dir: &Path, name: &str, dir: &Path, extra: &[&str]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let src = find(dbg_dir, name)?;
    let dest = dir.join(format!("{name}.ko"));
    std::fs::copy(&src, &dest).with_context(|| format!("copying {}", src.display()))?;
    util::run(Command::new(&c.kbtf).args(FLAGS).args(extra).arg(&dest))?;
    util::run(Command::new("objcopy").arg("--strip-debug").arg(&dest))?;
    Ok(dest)
}

fn find(dir: &Path, name: &str) -> Result<PathBuf> {
    let all = crate::encode_test::find_modules(dir)?;
    all.into_iter()
        .find(|p| {
            p.file_stem()
                .is_some_and(|s| s.to_string_lossy().replace('-', "_") == name.replace('-', "_"))
        })
        .with_context(|| format!("no {name}.ko under {}", dir.display()))
}

fn boot(
    kernel: &Path,
    modules: Vec<String>,
    kbtf_load: bool,
    keep: Option<PathBuf>,
) -> Result<Vec<Outcome>> {
    let o = Options {
        kernel: Some(kernel.to_path_buf()),
        modules,
        modprobe: true,
        kbtf_load,
        keep_btf: keep,
        machine: Machine {
            memory: 2048,
            timeout: 600,
            ..Machine::default()
        },
        ..Options::default()
    };
    kernel_test::run(&o)
}

/// `kbtf diff --base B right kept`: its output lines and whether it found no difference.
fn diff(kbtf: &Path, base: &Path, right: &Path, kept: &Path) -> Result<(bool, Vec<String>)> {
    let out = util::output_any(
        Command::new(kbtf)
            .arg("diff")
            .arg("--base")
            .arg(base)
            .arg(right)
            .arg(kept),
    )?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    match out.status.code() {
        Some(0) => Ok((true, text.lines().map(str::to_owned).collect())),
        Some(1) => Ok((false, text.lines().map(str::to_owned).collect())),
        _ => bail!(
            "kbtf diff {} {}: {}",
            right.display(),
            kept.display(),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// How the module BTF the kernel relocated (`kept`, read from `/sys/kernel/btf`) differs
/// from the right split BTF (`right`, a module encoded on the kernel's own vmlinux BTF
/// `base`): the number of unmerged copies of vmlinux types the relocation leaves (on
/// `kept`'s side: reference types and anonymous structs, unions and enums that distilling
/// copied out of vmlinux, and, on `right`'s, the odd copy its own dedup kept), and every
/// other `kbtf diff` line, which should be none.
pub fn beyond_unmerged(
    kbtf: &Path,
    base: &Path,
    right: &Path,
    kept: &Path,
) -> Result<(usize, Vec<String>)> {
    let (_, lines) = diff(kbtf, base, right, kept)?;
    let other = lines
        .iter()
        .filter(|l| l.contains(": ") && !l.starts_with("identical by meaning"))
        .filter(|l| {
            let copy = l.ends_with("same as a base type)");
            let b_kind = l
                .strip_prefix("only in B: ")
                .and_then(|r| r.split_whitespace().next());
            let copied_kind = b_kind.is_some_and(|k| UNMERGED_KINDS.contains(&k));
            !(copy && (copied_kind || l.starts_with("only in A: ")))
        })
        .cloned()
        .collect();
    let unmerged = lines
        .iter()
        .filter(|l| l.starts_with("only in B: "))
        .count();
    Ok((unmerged, other))
}

fn linux61(c: &Ctx, index: &Index, _root: &Path) -> Result<Vec<String>> {
    let dbg = cache::KERNEL61.path(index, "dbg_modules_dir")?;
    let right = cache::KERNEL61.path(index, "vmlinux_btf")?;
    let kernel = cache::KERNEL61.path(index, "dir")?;
    let others = [
        ("old", index.path("kernel61_old_vmlinux_btf")?),
        (
            "reordered",
            reordered(
                c,
                &cache::KERNEL61.path(index, "dbg_vmlinux")?,
                &right,
                "vmlinux61-reordered.btf",
            )?,
        ),
    ];
    let mut failures = Vec::new();
    println!("== 6.1: the right split BTF (against the kernel's own vmlinux)");
    let right_dir = c.work.join("61/right");
    let right_vm = right.to_str().context("path")?;
    for n in &c.names {
        encode(
            c,
            &dbg,
            n,
            &right_dir,
            &["--btf_base", right_vm, "--btf_ids_base", right_vm],
        )?;
    }
    for (label, other) in &others {
        let other_s = other.to_str().context("path")?;
        println!("== 6.1: distilled against the {label} vmlinux BTF, loaded by `kbtf load`");
        let dir = c.work.join(format!("61/distilled-{label}"));
        let mut paths = Vec::new();
        for n in &c.names {
            let p = encode(
                c,
                &dbg,
                n,
                &dir,
                &["--btf_base", other_s, "--btf_ids_base", right_vm, DISTILLED],
            )?;
            paths.push(p.display().to_string());
        }
        let keep = dir.join("kept");
        let _ = std::fs::remove_dir_all(&keep);
        let outcomes = boot(&kernel, paths, true, Some(keep.clone()))?;
        for n in &c.names {
            let o = outcomes.iter().find(|o| &o.name == n);
            match o {
                Some(o) if o.ok => {
                    let (_, lines) = diff(
                        &c.kbtf,
                        &right,
                        &right_dir.join(format!("{n}.ko")),
                        &keep.join(n),
                    )?;
                    // The right split BTF can keep a copy of a vmlinux type that pahole's
                    // (and kbtf's, libbpf's) split dedup left; relocation's dedup merges it.
                    // Anything else is a difference.
                    let (merged, other): (Vec<&String>, Vec<&String>) = lines
                        .iter()
                        .filter(|l| l.contains(": ") && !l.starts_with("identical by meaning"))
                        .partition(|l| {
                            l.starts_with("only in A: ") && l.ends_with("same as a base type)")
                        });
                    if other.is_empty() {
                        let note = if merged.is_empty() {
                            String::new()
                        } else {
                            format!(" (but for {} copies of vmlinux types the right split BTF kept and relocation merged)", merged.len())
                        };
                        println!("ok {n}: loaded by kbtf load; /sys/kernel/btf/{n} equals the right split BTF{note}");
                    } else {
                        failures.push(format!(
                            "6.1 {label} {n}: the kernel's BTF differs from the right split BTF:\n  {}",
                            lines.join("\n  ")
                        ));
                    }
                }
                Some(o) => failures.push(format!("6.1 {label}: {}", o.line)),
                None => failures.push(format!("6.1 {label} {n}: no outcome")),
            }
        }

        println!("== 6.1: plain split BTF against the {label} vmlinux BTF (the field bug)");
        let dir = c.work.join(format!("61/split-{label}"));
        let mut paths = Vec::new();
        for n in &c.names {
            let p = encode(
                c,
                &dbg,
                n,
                &dir,
                &["--btf_base", other_s, "--btf_ids_base", right_vm],
            )?;
            paths.push(p.display().to_string());
        }
        let outcomes = boot(&kernel, paths, false, None)?;
        let refused: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| c.names.contains(&o.name) && !o.ok)
            .collect();
        let invalid_name = refused
            .iter()
            .filter(|o| o.line.contains("Invalid name"))
            .count();
        println!(
            "field bug: the 6.1 kernel refused the wrong-base split BTF of {} of {} modules ({} with `BPF: Invalid name`); it accepted {} by luck",
            refused.len(),
            c.names.len(),
            invalid_name,
            c.names.len() - refused.len()
        );
        if refused.is_empty() {
            failures.push(format!("6.1 {label}: the kernel accepted every wrong-base split module; the field bug did not reproduce"));
        }
    }
    Ok(failures)
}

fn linux612(c: &Ctx, index: &Index) -> Result<Vec<String>> {
    let dbg = cache::KERNEL612.path(index, "dbg_modules_dir")?;
    let right = cache::KERNEL612.path(index, "vmlinux_btf")?;
    let kernel = cache::KERNEL612.path(index, "dir")?;
    let other = reordered(
        c,
        &cache::KERNEL612.path(index, "dbg_vmlinux")?,
        &right,
        "vmlinux612-reordered.btf",
    )?;
    let mut failures = Vec::new();
    let right_dir = c.work.join("612/right");
    let dir = c.work.join("612/distilled-reordered");
    let (right_s, other_s) = (
        right.to_str().context("path")?,
        other.to_str().context("path")?,
    );
    let mut paths = Vec::new();
    println!(
        "== 6.12: distilled against a re-encoded vmlinux, loaded by insmod (native relocation)"
    );
    // Modules built into 6.12 (fuse, for one) are not in its package: skip them.
    let names: Vec<&String> = c.names.iter().filter(|n| find(&dbg, n).is_ok()).collect();
    for n in c.names.iter().filter(|n| !names.contains(n)) {
        println!("note: {n} is not a module of 6.12 (built in); skipped");
    }
    if c.names.len() >= 20 && names.len() < 20 {
        failures.push(format!(
            "6.12: only {} of the sample are modules",
            names.len()
        ));
    }
    for &n in &names {
        encode(
            c,
            &dbg,
            n,
            &right_dir,
            &["--btf_base", right_s, "--btf_ids_base", right_s],
        )?;
        let p = encode(
            c,
            &dbg,
            n,
            &dir,
            &["--btf_base", other_s, "--btf_ids_base", right_s, DISTILLED],
        )?;
        paths.push(p.display().to_string());
    }
    let keep = dir.join("kept");
    let _ = std::fs::remove_dir_all(&keep);
    let outcomes = boot(&kernel, paths, false, Some(keep.clone()))?;
    for &n in &names {
        match outcomes.iter().find(|o| &o.name == n) {
            Some(o) if o.ok => {
                let (unmerged, other_lines) = beyond_unmerged(
                    &c.kbtf,
                    &right,
                    &right_dir.join(format!("{n}.ko")),
                    &keep.join(n),
                )?;
                if other_lines.is_empty() {
                    println!("ok {n}: relocated by the 6.12 kernel; differs from the right split BTF only by {unmerged} unmerged copies of vmlinux types");
                } else {
                    failures.push(format!(
                        "6.12 {n}: differs from the right split BTF beyond unmerged vmlinux copies:\n  {}",
                        other_lines.join("\n  ")
                    ));
                }
            }
            Some(o) => failures.push(format!("6.12: {}", o.line)),
            None => failures.push(format!("6.12 {n}: no outcome")),
        }
    }
    Ok(failures)
}

/// One type of a `kbtf dump --format raw` listing: kind, name, the rest of its line, and
/// its member/parameter lines as (name, type id).
struct Dumped {
    kind: String,
    name: String,
    rest: String,
    params: Vec<(String, u32)>,
}

/// Parses `kbtf dump` (bpftool raw format) output by id.
fn parse_dump(text: &str) -> std::collections::HashMap<u32, Dumped> {
    let mut out = std::collections::HashMap::new();
    let mut cur: Option<u32> = None;
    for l in text.lines() {
        if let Some(r) = l.strip_prefix('[') {
            let Some((id, rest)) = r.split_once("] ") else {
                continue;
            };
            let Ok(id) = id.parse::<u32>() else { continue };
            let (kind, rest) = rest.split_once(' ').unwrap_or((rest, ""));
            let (name, rest) = match rest.strip_prefix('\'').and_then(|r| r.split_once('\'')) {
                Some((n, r)) => (n.to_string(), r.trim().to_string()),
                None => (String::new(), rest.to_string()),
            };
            out.insert(
                id,
                Dumped {
                    kind: kind.to_string(),
                    name,
                    rest,
                    params: Vec::new(),
                },
            );
            cur = Some(id);
        } else if let (Some(id), Some(r)) = (cur, l.trim_start().strip_prefix('\'')) {
            if let Some((n, r)) = r.split_once('\'') {
                let ty = r
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("type_id="))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if let Some(d) = out.get_mut(&id) {
                    d.params.push((n.to_string(), ty));
                }
            }
        }
    }
    out
}

fn type_ref(rest: &str) -> Option<u32> {
    rest.split_whitespace()
        .find_map(|w| w.strip_prefix("type_id="))
        .and_then(|v| v.parse().ok())
}

fn dump(c: &Ctx, file: &Path, base: Option<&Path>) -> Result<String> {
    let mut cmd = Command::new(&c.kbtf);
    cmd.arg("dump").arg(file);
    if let Some(b) = base {
        cmd.arg("--base").arg(b);
    }
    Ok(String::from_utf8_lossy(&util::output(&mut cmd)?.stdout).into_owned())
}

/// The out-of-tree sample (testdata/oot/kbtf_sample), built against a headers package only,
/// given `--standalone` BTF by the DKMS/make hook (contrib/kbtf-module-btf): on 6.1 loaded by
/// `kbtf load`, on 6.12 by insmod.
fn oot(c: &Ctx, index: &Index) -> Result<Vec<String>> {
    let mut failures = Vec::new();
    for (k, kbtf_load) in [(cache::KERNEL61, true), (cache::KERNEL612, false)] {
        let kernel = k.name;
        // Built against the headers only, the BTF from the documented hook: a real
        // `dkms build` when dkms is installed, else the module Makefile's make hook.
        let hook = if crate::oot::dkms_available() {
            crate::oot::Hook::Dkms
        } else {
            println!("note: dkms is not installed; the make hook stands in for DKMS");
            crate::oot::Hook::Make
        };
        let built = crate::oot::build_with_hook(k, &c.kbtf, hook)?;
        let dir = c.work.join(format!("oot{}", k.flag));
        std::fs::create_dir_all(&dir)?;
        let ko = dir.join("kbtf_sample.ko");
        std::fs::copy(&built, &ko).with_context(|| format!("copying {}", built.display()))?;
        util::run(Command::new(&c.kbtf).arg("check").arg(&ko))?;
        let vmlinux = k.path(index, "vmlinux_btf")?;
        let kernel_dir = k.path(index, "dir")?;
        // For `kbtf load`, the module as DKMS installs it on a kernel whose modules are
        // xz-compressed (compressed as kbuild's modules_install does); kbtf load decompresses.
        let (given, how) = if kbtf_load {
            let xz = dir.join("kbtf_sample.ko.xz");
            let out = util::output(
                Command::new("xz")
                    .args(["--check=crc32", "--lzma2=dict=1MiB", "-c"])
                    .arg(&ko),
            )?;
            std::fs::write(&xz, &out.stdout)
                .with_context(|| format!("writing {}", xz.display()))?;
            (xz, "kbtf load (xz-compressed)")
        } else {
            (ko.clone(), "insmod")
        };
        println!("== {kernel}: out-of-tree kbtf_sample, --standalone, loaded by {how}");
        let keep = dir.join("kept");
        let _ = std::fs::remove_dir_all(&keep);
        let outcomes = boot(
            &kernel_dir,
            vec![given.display().to_string()],
            kbtf_load,
            Some(keep.clone()),
        )?;
        let Some(o) = outcomes.iter().find(|o| o.name == "kbtf_sample") else {
            failures.push(format!("{kernel} oot: no outcome"));
            continue;
        };
        for l in &o.kmsg {
            println!("  kernel: {l}");
        }
        if !o.ok {
            failures.push(format!("{kernel} oot: {}", o.line));
            continue;
        }
        if o.kmsg.iter().any(|l| l.contains("missing module BTF")) {
            failures.push(format!(
                "{kernel} oot: the kernel says the module has no BTF"
            ));
        }
        // Its sk_buff is vmlinux's: the kfunc's `skb` parameter points at vmlinux's
        // struct sk_buff, and (6.1, after kbtf load) .BTF_ids names vmlinux's id.
        let vm = parse_dump(&dump(c, &vmlinux, None)?);
        let skb_id = vm
            .iter()
            .find(|(_, d)| d.kind == "STRUCT" && d.name == "sk_buff")
            .map(|(id, _)| *id)
            .context("vmlinux has no struct sk_buff")?;
        let kept = parse_dump(&dump(c, &keep.join("kbtf_sample"), Some(&vmlinux))?);
        let all = |id: u32| kept.get(&id).or_else(|| vm.get(&id));
        let skb_param = kept
            .values()
            .find(|d| d.kind == "FUNC" && d.name == "kbtf_sample_kfunc_packets")
            .and_then(|f| type_ref(&f.rest))
            .and_then(all)
            .and_then(|proto| proto.params.iter().find(|(n, _)| n == "skb").map(|p| p.1));
        let target = skb_param
            .and_then(all)
            .filter(|p| p.kind == "PTR")
            .and_then(|p| type_ref(&p.rest));
        if target == Some(skb_id) {
            println!("ok {kernel} oot: kbtf_sample_kfunc_packets(struct sk_buff *skb) points at vmlinux's struct sk_buff [{skb_id}]");
        } else {
            failures.push(format!(
                "{kernel} oot: the kfunc's skb parameter (type {skb_param:?}) does not point at vmlinux's struct sk_buff [{skb_id}] but at {target:?}"
            ));
        }
        let stats_id = kept
            .iter()
            .find(|(_, d)| d.kind == "STRUCT" && d.name == "kbtf_sample_stats")
            .map(|(id, _)| *id);
        let ids_line = o.kmsg.iter().find(|l| l.contains("btf_ids: sk_buff="));
        if kbtf_load {
            let want = format!(
                "btf_ids: sk_buff={skb_id} kbtf_sample_stats={}",
                stats_id.unwrap_or(0)
            );
            match ids_line {
                Some(l) if l.contains(&want) => {
                    println!("ok {kernel} oot: .BTF_ids after relocation: {want}")
                }
                other => failures.push(format!(
                    "{kernel} oot: expected the module to print `{want}`, it printed {other:?}"
                )),
            }
        } else if let Some(l) = ids_line {
            // Linux relocates kfunc sets itself but leaves BTF_ID_LIST entries with the
            // distilled ids the module was built with.
            println!("note {kernel} oot: the module's BTF_ID_LIST as the kernel left it: {l}");
        }
    }
    Ok(failures)
}
