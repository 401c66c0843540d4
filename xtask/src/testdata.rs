//! `cargo xtask testdata`: fetch and unpack the test kernels, extract vmlinux BTF,
//! and write the cache index.

use crate::args::{Args, Positionals};
use crate::cache::{self, Index};
use crate::debs::{self, Versions};
use crate::elf::Elf;
use crate::ktree::KernelTree;
use crate::{btf, util, vmlinuz};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const USAGE: &str = "\
cargo xtask testdata [--k61 ABI] [--k61-old ABI] [--k612 ABI]
cargo xtask testdata --print KEY

Fetches Debian cloud kernels into ~/.cache/kbtf (or $KBTF_CACHE), unpacks them,
extracts vmlinux BTF, and writes kernels/index.txt (key=path lines).
  --k61 ABI      main 6.1 build, e.g. 6.1.0-56 (env KBTF_K61)
  --k61-old ABI  older 6.1 build for mismatch tests, e.g. 6.1.0-55 (env KBTF_K61_OLD)
  --k612 ABI     6.12 build, e.g. 6.12.117+deb12 (env KBTF_K612)
  --print KEY    print one value from the index and exit";

pub fn main(raw: &[String]) -> Result<()> {
    let Some(a) = Args::task(
        raw,
        &["k61", "k61-old", "k612", "print"],
        &[],
        Positionals::None,
        USAGE,
    )?
    else {
        return Ok(());
    };
    if let Some(key) = a.opt("print") {
        let idx = Index::load()?;
        match idx.get(key) {
            Some(v) => {
                println!("{v}");
                return Ok(());
            }
            None => bail!("no key {key} in {}", cache::index_path()?.display()),
        }
    }
    let pick = |flag: &str, env: &str| {
        a.opt(flag)
            .map(str::to_string)
            .or_else(|| std::env::var(env).ok())
    };
    let debs_dir = cache::debs_dir()?;
    let versions = debs::resolve(
        &debs_dir,
        pick("k61", "KBTF_K61"),
        pick("k61-old", "KBTF_K61_OLD"),
        pick("k612", "KBTF_K612"),
    )?;
    run(&versions)
}

fn run(v: &Versions) -> Result<()> {
    let debs_dir = cache::debs_dir()?;
    let kernels = cache::kernels_dir()?;
    let mut idx = Index::default();
    idx.set_path("cache_dir", &cache::root()?);

    let image = |abi: &str, prefix: &str, idx: &mut Index| -> Result<KernelTree> {
        let pkg = debs::image_pkg(abi);
        let deb = debs::fetch(&debs_dir, &pkg)?;
        let root = kernels.join(&pkg);
        debs::unpack(&deb, &root, prepare_image)?;
        let kt = KernelTree::open(&root)?;
        let (vmlinux, btf_path) = vmlinux_btf(&kt)?;
        idx.set(&format!("{prefix}_pkg"), pkg.as_str());
        idx.set(&format!("{prefix}_pkg_version"), debs::deb_version(&deb)?);
        idx.set(&format!("{prefix}_release"), kt.release.as_str());
        idx.set_path(&format!("{prefix}_deb"), &deb);
        idx.set_path(&format!("{prefix}_dir"), &root);
        idx.set_path(&format!("{prefix}_vmlinuz"), &kt.vmlinuz);
        idx.set_path(
            &format!("{prefix}_config"),
            &root.join("boot").join(format!("config-{}", kt.release)),
        );
        idx.set_path(&format!("{prefix}_vmlinux"), &vmlinux);
        idx.set_path(&format!("{prefix}_vmlinux_btf"), &btf_path);
        let plain = root.join("plain-modules").join(&kt.release);
        if plain.is_dir() {
            idx.set_path(&format!("{prefix}_modules_dir"), &plain.join("kernel"));
            idx.set_path(&format!("{prefix}_modules_dep"), &plain.join("modules.dep"));
            idx.set_path(
                &format!("{prefix}_modules_orig_dir"),
                &kt.modules_base().join("kernel"),
            );
        } else {
            idx.set_path(
                &format!("{prefix}_modules_dir"),
                &kt.modules_base().join("kernel"),
            );
            idx.set_path(
                &format!("{prefix}_modules_dep"),
                &kt.modules_base().join("modules.dep"),
            );
        }
        Ok(kt)
    };

    // The index keys' prefixes, which the other tasks read through `cache::Kernel`.
    let (p61, p612) = (cache::KERNEL61.key, cache::KERNEL612.key);
    let k61 = image(&v.k61, p61, &mut idx)?;
    dbg(&debs_dir, &kernels, &v.k61, &k61, p61, &mut idx)?;
    headers(&debs_dir, &kernels, &k61, p61, &mut idx)?;
    image(&v.k61_old, "kernel61_old", &mut idx)?;
    let k612 = image(&v.k612, p612, &mut idx)?;
    headers(&debs_dir, &kernels, &k612, p612, &mut idx)?;
    dbg(&debs_dir, &kernels, &v.k612, &k612, p612, &mut idx)?;

    for (k, val) in &idx.entries {
        if val.starts_with('/') && !Path::new(val).exists() {
            bail!("index entry {k}={val} does not exist");
        }
    }
    // Keys other tasks write (wrong-base, pahole-ref, ...) survive a new testdata run.
    if let Ok(old) = Index::load() {
        for (k, val) in &old.entries {
            if !k.starts_with("kernel") && idx.get(k).is_none() {
                idx.set(k, val.as_str());
            }
        }
    }
    let p = idx.save()?;
    println!();
    for (k, val) in &idx.entries {
        println!("{k}={val}");
    }
    println!("\nwrote {}", p.display());
    Ok(())
}

/// The `-dbg` package of the image `kt` (ABI `abi`): vmlinux and modules with DWARF (and
/// `.BTF`). Records `{prefix}_dbg_*`, and whether its vmlinux `.BTF` equals the one
/// extracted from the image's vmlinuz.
fn dbg(
    debs_dir: &Path,
    kernels: &Path,
    abi: &str,
    kt: &KernelTree,
    prefix: &str,
    idx: &mut Index,
) -> Result<()> {
    let dbg_pkg = debs::dbg_pkg(abi);
    let dbg_deb = debs::fetch(debs_dir, &dbg_pkg)?;
    let dbg_root = kernels.join(&dbg_pkg);
    debs::unpack(&dbg_deb, &dbg_root, |_| Ok(()))?;
    let dbg_vmlinux = dbg_root
        .join("usr/lib/debug/boot")
        .join(format!("vmlinux-{}", kt.release));
    let dbg_btf = dbg_root.join("vmlinux.btf");
    if !dbg_btf.is_file() {
        let b = Elf::open(&dbg_vmlinux)?.section_bytes(".BTF")?;
        btf::summarize(&b)
            .with_context(|| format!("checking .BTF of {}", dbg_vmlinux.display()))?;
        util::write_atomic(&dbg_btf, &b)?;
    }
    let same = util::read(&dbg_btf)? == util::read(&kt.root.join("vmlinux.btf"))?;
    if same {
        println!(
            "check    .BTF of the {} -dbg vmlinux equals the one extracted from vmlinuz",
            kt.release
        );
    } else {
        println!(
            "WARNING  .BTF of the {} -dbg vmlinux DIFFERS from the one extracted from vmlinuz",
            kt.release
        );
    }
    idx.set(&format!("{prefix}_dbg_pkg"), dbg_pkg.as_str());
    idx.set(
        &format!("{prefix}_dbg_pkg_version"),
        debs::deb_version(&dbg_deb)?,
    );
    idx.set_path(&format!("{prefix}_dbg_deb"), &dbg_deb);
    idx.set_path(&format!("{prefix}_dbg_dir"), &dbg_root);
    idx.set_path(&format!("{prefix}_dbg_vmlinux"), &dbg_vmlinux);
    idx.set_path(&format!("{prefix}_dbg_vmlinux_btf"), &dbg_btf);
    idx.set_path(
        &format!("{prefix}_dbg_modules_dir"),
        &dbg_root
            .join("usr/lib/debug/lib/modules")
            .join(&kt.release)
            .join("kernel"),
    );
    idx.set(
        &format!("{prefix}_dbg_btf_matches_vmlinuz"),
        if same { "yes" } else { "no" },
    );
    Ok(())
}

/// The headers packages matching the image `kt` (same release, same package version), for
/// building out-of-tree modules without a vmlinux (`cargo xtask oot-build`).
fn headers(
    debs_dir: &Path,
    kernels: &Path,
    kt: &KernelTree,
    prefix: &str,
    idx: &mut Index,
) -> Result<()> {
    let version = idx
        .get(&format!("{prefix}_pkg_version"))
        .with_context(|| format!("{prefix}_pkg_version not recorded yet"))?
        .to_string();
    crate::headers::fetch(debs_dir, kernels, &kt.release, &version, prefix, idx)?;
    Ok(())
}

/// Runs on a freshly unpacked image package before it is renamed into place:
/// generates modules.dep and plain copies of compressed modules.
fn prepare_image(tmp: &Path) -> Result<()> {
    let kt = KernelTree::open(tmp)?;
    if !kt.has_modules() {
        return Ok(());
    }
    kt.ensure_depmod()?;
    if kt.modules_compressed()? {
        let dest = tmp.join("plain-modules").join(&kt.release);
        println!(
            "decompress modules of {} into plain-modules/ (originals kept)",
            kt.release
        );
        let n = kt.write_plain_modules(&dest)?;
        println!("         {n} modules");
    }
    Ok(())
}

/// Extracts vmlinux (ELF) and its raw .BTF next to the unpacked package; checks the BTF.
fn vmlinux_btf(kt: &KernelTree) -> Result<(PathBuf, PathBuf)> {
    let vmlinux = kt.root.join("vmlinux");
    let out = kt.root.join("vmlinux.btf");
    if !vmlinux.is_file() {
        let (fmt, elf) = vmlinuz::extract(&kt.vmlinuz, &kt.root)?;
        println!(
            "extract  vmlinux from {} ({fmt}, {})",
            kt.vmlinuz.display(),
            util::human(elf.len() as u64)
        );
        util::write_atomic(&vmlinux, &elf)?;
    }
    if !out.is_file() {
        let b = Elf::open(&vmlinux)?.section_bytes(".BTF")?;
        util::write_atomic(&out, &b)?;
    }
    let b = util::read(&out)?;
    let s = btf::summarize(&b).with_context(|| format!("checking {}", out.display()))?;
    println!(
        "btf      {} ({}, {} types, magic {:02x} {:02x})",
        out.display(),
        util::human(b.len() as u64),
        s.types,
        b[0],
        b[1]
    );
    bpftool_check(&out)?;
    Ok((vmlinux, out))
}

/// `bpftool btf dump file X format raw` must work and start with type [1].
fn bpftool_check(path: &Path) -> Result<()> {
    let out = match Command::new("bpftool")
        .args(["btf", "dump", "file"])
        .arg(path)
        .args(["format", "raw"])
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            println!("WARNING  bpftool not runnable ({e}); skipped the bpftool check");
            return Ok(());
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or("");
    if !out.status.success() || !first.starts_with("[1] ") {
        bail!(
            "bpftool btf dump file {} failed: {} {}",
            path.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    println!("bpftool  ok: {first}");
    Ok(())
}
