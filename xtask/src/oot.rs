//! `cargo xtask oot-build`: build the out-of-tree test module `testdata/oot/kbtf_sample`
//! against Debian's headers packages only (`cargo xtask testdata` unpacks them), as a user
//! without the kernel's vmlinux would: kbuild then gives the module DWARF and an unresolved
//! `.BTF_ids` section, but no `.BTF`.

use crate::args::{Args, Positionals};
use crate::cache::{self, Index, Kernel};
use crate::util;
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const USAGE: &str = "\
cargo xtask oot-build [--kernel 61|612] [--with-vmlinux | --hook | --dkms] [--kbtf PATH]

Builds testdata/oot/kbtf_sample with `make -C <headers dir> M=<copy>` against the Debian
headers packages of the 6.1 (default) or 6.12 cloud kernel (`cargo xtask testdata`
unpacks them; index key kernel61_headers_dir / kernel612_headers_dir), checks with
readelf that the .ko has .debug_info and a .BTF_ids section with __BTF_ID__ symbols,
records its path in the index (oot61_ko / oot612_ko) and prints it on the last line.

Without vmlinux (the default) the module gets no .BTF: kbuild prints `Skipping BTF
generation ... due to unavailability of vmlinux`. The 6.12 headers package ships a
vmlinux (.BTF and .BTF_ids only); the build hides it behind a directory of symlinks
to the headers (everything but vmlinux). --with-vmlinux builds against the headers
as they are instead: kbuild then runs pahole and resolve_btfids, the module gets
split .BTF and resolved .BTF_ids (6.12 only; index key oot612_vmlinux_ko).

--hook builds as the module's own Makefile would with kbtf's make hook:
`make -C <headers> M=<dir> modules && contrib/kbtf-module-btf --kernel <release> <dir>`
(index key oot61_hook_ko / oot612_hook_ko). --dkms does a real `dkms add` and `dkms
build` (dkms 3.0, apt-get install dkms) in a scratch DKMS tree with
contrib/dkms/dkms.conf, whose MAKE[0] runs the same hook, against the headers
(--kernelsourcedir); the module DKMS saved (stripped) is index key oot61_dkms_ko /
oot612_dkms_ko. Either way the module must come out with .BTF and .BTF.base and pass
`kbtf check`. --kbtf: the kbtf the hook runs (default: cargo build --release).";

/// The module's source directory in the repository.
pub fn source_dir() -> PathBuf {
    crate::fixtures::repo_root().join("testdata/oot/kbtf_sample")
}

pub fn main(raw: &[String]) -> Result<()> {
    let Some(a) = Args::task(
        raw,
        &["kernel", "kbtf"],
        &["with-vmlinux", "hook", "dkms"],
        Positionals::None,
        USAGE,
    )?
    else {
        return Ok(());
    };
    let kernel = Kernel::from_flag(a.opt("kernel").unwrap_or(cache::KERNEL61.flag))?;
    let hook = match (a.flag("hook"), a.flag("dkms")) {
        (false, false) => None,
        (true, false) => Some(Hook::Make),
        (false, true) => Some(Hook::Dkms),
        (true, true) => bail!("--hook and --dkms: choose one"),
    };
    let ko = match hook {
        None => build(kernel, a.flag("with-vmlinux"))?,
        Some(h) => {
            ensure!(
                !a.flag("with-vmlinux"),
                "--with-vmlinux and --{}: choose one",
                h.name()
            );
            let kbtf = match a.opt("kbtf") {
                Some(k) => PathBuf::from(k),
                None => crate::test::kbtf_release_bin()?,
            };
            build_with_hook(kernel, &kbtf, h)?
        }
    };
    println!("{}", ko.display());
    Ok(())
}

/// Builds the module against `kernel`'s headers; returns the `.ko`.
pub fn build(kernel: Kernel, with_vmlinux: bool) -> Result<PathBuf> {
    let mut index = Index::load()?;
    let (headers, release) = headers_and_release(&index, kernel)?;
    let has_vmlinux = headers.join("vmlinux").is_file();
    if with_vmlinux && !has_vmlinux {
        bail!(
            "--with-vmlinux: the headers package of {release} has no vmlinux ({})",
            headers.display()
        );
    }
    let work = cache::root()?.join("oot").join(if with_vmlinux {
        format!("{release}-with-vmlinux")
    } else {
        release.clone()
    });
    let objtree = if has_vmlinux && !with_vmlinux {
        let shadow = work.join("headers-without-vmlinux");
        shadow_headers(&headers, &shadow)?;
        shadow
    } else {
        headers.clone()
    };
    let mdir = work.join("kbtf_sample");
    copy_source(&source_dir(), &mdir)?;

    let mut make = Command::new("make");
    make.arg("-C")
        .arg(&objtree)
        .arg(format!("M={}", mdir.display()))
        .arg("modules");
    println!("build    {}", util::show(&make));
    let out = make
        .output()
        .with_context(|| format!("starting `{}`", util::show(&make)))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for l in stdout.lines().chain(stderr.lines()) {
        println!("  | {l}");
    }
    if !out.status.success() {
        bail!("`{}` failed: {}", util::show(&make), out.status);
    }
    let ko = mdir.join("kbtf_sample.ko");
    ensure!(ko.is_file(), "make succeeded but left no {}", ko.display());
    let skipped = stderr.contains("Skipping BTF generation");
    let check = inspect(&ko)?;
    println!(
        "check    {}: .debug_info {} bytes, .BTF_ids {} bytes with {} __BTF_ID__ symbol(s), .BTF {}",
        ko.display(),
        check.debug_info,
        check.btf_ids,
        check.btf_id_symbols,
        match check.btf {
            Some(n) => format!("{n} bytes"),
            None => "absent".into(),
        }
    );
    ensure!(check.debug_info > 0, "{}: no .debug_info", ko.display());
    ensure!(
        check.btf_ids > 0 && check.btf_id_symbols > 0,
        "{}: no .BTF_ids section or no __BTF_ID__ symbols",
        ko.display()
    );
    if with_vmlinux {
        ensure!(
            check.btf.is_some(),
            "{}: built against the headers' vmlinux, but kbuild wrote no .BTF",
            ko.display()
        );
    } else {
        ensure!(
            check.btf.is_none(),
            "{}: has .BTF although no vmlinux was available",
            ko.display()
        );
        ensure!(
            skipped,
            "kbuild did not say `Skipping BTF generation ... due to unavailability of vmlinux`"
        );
    }
    let key = if with_vmlinux {
        format!("oot{}_vmlinux_ko", kernel.flag)
    } else {
        format!("oot{}_ko", kernel.flag)
    };
    index.set_path(&key, &ko);
    index.save()?;
    Ok(ko)
}

/// How the module BTF hook is run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Hook {
    /// The module's Makefile: kbuild, then `contrib/kbtf-module-btf`.
    Make,
    /// A real `dkms build` with `contrib/dkms/dkms.conf`.
    Dkms,
}

impl Hook {
    pub fn name(self) -> &'static str {
        match self {
            Hook::Make => "hook",
            Hook::Dkms => "dkms",
        }
    }
}

/// Whether `dkms` is installed.
pub fn dkms_available() -> bool {
    Command::new("dkms")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Builds the sample against the headers of `kernel` (without their vmlinux)
/// with kbtf's module BTF hook ([`Hook`]), running `kbtf`; returns the `.ko` (plain), checked
/// to have `.BTF` and `.BTF.base` and to pass `kbtf check`.
pub fn build_with_hook(kernel: Kernel, kbtf: &Path, hook: Hook) -> Result<PathBuf> {
    let mut index = Index::load()?;
    let (headers, release) = headers_and_release(&index, kernel)?;
    let work = cache::root()?
        .join("oot")
        .join(format!("{release}-{}", hook.name()));
    let objtree = if headers.join("vmlinux").is_file() {
        let shadow = work.join("headers-without-vmlinux");
        shadow_headers(&headers, &shadow)?;
        shadow
    } else {
        headers.clone()
    };
    let script = crate::fixtures::repo_root().join("contrib/kbtf-module-btf");
    let env = |c: &mut Command| {
        c.env("KBTF", kbtf)
            .env("KBTF_MODULE_BTF", &script)
            // Not the build host's kernel: no hint from /sys/kernel/btf/vmlinux.
            .env_remove("KBTF_BTF_BASE");
    };
    let (ko, log) = match hook {
        Hook::Make => {
            let mdir = work.join("kbtf_sample");
            copy_source(&source_dir(), &mdir)?;
            // What the module's Makefile runs with the hook (docs/integration.md).
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg("make -C \"$1\" M=\"$2\" modules && \"$KBTF_MODULE_BTF\" --kernel \"$3\" \"$2\"")
                .arg("sh")
                .arg(&objtree)
                .arg(&mdir)
                .arg(&release);
            env(&mut c);
            println!("build    {} (with KBTF={})", util::show(&c), kbtf.display());
            let out = util::output(&mut c)?;
            let log = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            (mdir.join("kbtf_sample.ko"), log)
        }
        Hook::Dkms => {
            ensure!(
                dkms_available(),
                "--dkms: dkms is not installed (apt-get install dkms)"
            );
            let (src, tree) = (work.join("src"), work.join("dkms-tree"));
            for d in [&src, &tree] {
                if d.exists() {
                    std::fs::remove_dir_all(d)
                        .with_context(|| format!("removing {}", d.display()))?;
                }
            }
            let pkg = src.join("kbtf_sample-0.1");
            copy_source(&source_dir(), &pkg)?;
            let conf = crate::fixtures::repo_root().join("contrib/dkms/dkms.conf");
            std::fs::copy(&conf, pkg.join("dkms.conf"))
                .with_context(|| format!("copying {}", conf.display()))?;
            std::fs::create_dir_all(&tree)?;
            let dkms = |args: &[&str]| -> Result<String> {
                let mut c = Command::new("dkms");
                c.args(args)
                    .args(["-m", "kbtf_sample", "-v", "0.1"])
                    .arg("--sourcetree")
                    .arg(&src)
                    .arg("--dkmstree")
                    .arg(&tree);
                env(&mut c);
                println!("run      {}", util::show(&c));
                let out = util::output(&mut c)?;
                Ok(String::from_utf8_lossy(&out.stdout).into_owned()
                    + &String::from_utf8_lossy(&out.stderr))
            };
            let mut log = dkms(&["add"])?;
            log += &dkms(&[
                "build",
                "-k",
                &release,
                "--kernelsourcedir",
                &objtree.display().to_string(),
            ])?;
            let built = tree
                .join("kbtf_sample/0.1")
                .join(&release)
                .join("x86_64/log/make.log");
            if let Ok(t) = std::fs::read_to_string(&built) {
                log += &t;
            }
            let mdir = tree
                .join("kbtf_sample/0.1")
                .join(&release)
                .join("x86_64/module");
            let plain = mdir.join("kbtf_sample.ko");
            // DKMS compresses the module as the kernel's own are (6.12: .ko.xz).
            for (suffix, tool) in [(".ko.xz", "xz"), (".ko.zst", "zstd"), (".ko.gz", "gzip")] {
                let z = mdir.join(format!("kbtf_sample{suffix}"));
                if z.is_file() && !plain.is_file() {
                    util::run(Command::new(tool).arg("-dkq").arg(&z))?;
                }
            }
            (plain, log)
        }
    };
    for l in log.lines() {
        println!("  | {l}");
    }
    ensure!(
        log.contains("kbtf-module-btf: ") && log.contains(": standalone BTF"),
        "the hook did not run (no `kbtf-module-btf: ...: standalone BTF` line)"
    );
    ensure!(ko.is_file(), "no {} after the build", ko.display());
    let check = inspect(&ko)?;
    ensure!(
        check.btf.is_some(),
        "{}: no .BTF after the hook",
        ko.display()
    );
    let text = util::stdout_string(Command::new("readelf").args(["-S", "-W"]).arg(&ko))?;
    ensure!(
        text.contains(" .BTF.base "),
        "{}: no .BTF.base after the hook",
        ko.display()
    );
    util::run(Command::new(kbtf).arg("check").arg(&ko))?;
    println!(
        "check    {}: .BTF {} bytes and .BTF.base from the hook, .debug_info {} bytes",
        ko.display(),
        check.btf.unwrap_or(0),
        check.debug_info
    );
    index.set_path(&format!("oot{}_{}_ko", kernel.flag, hook.name()), &ko);
    index.save()?;
    Ok(ko)
}

/// `kernel`'s headers directory and release, from the index.
fn headers_and_release(index: &Index, kernel: Kernel) -> Result<(PathBuf, String)> {
    let headers = kernel
        .path(index, "headers_dir")
        .context("the headers packages are not in the cache: run `cargo xtask testdata` first")?;
    let release_key = format!("{}_release", kernel.key);
    let release = index
        .get(&release_key)
        .with_context(|| format!("{release_key} missing from the index"))?
        .to_string();
    Ok((headers, release))
}

/// `shadow`: a directory of symlinks to every entry of `headers` but `vmlinux`, and a
/// Makefile including the headers' Makefile, so that kbuild (whose module BTF step tests
/// for `vmlinux` in its object tree) sees headers without a vmlinux.
fn shadow_headers(headers: &Path, shadow: &Path) -> Result<()> {
    if shadow.exists() {
        std::fs::remove_dir_all(shadow)
            .with_context(|| format!("removing {}", shadow.display()))?;
    }
    std::fs::create_dir_all(shadow).with_context(|| format!("creating {}", shadow.display()))?;
    for e in std::fs::read_dir(headers).with_context(|| format!("listing {}", headers.display()))? {
        let e = e.with_context(|| format!("listing {}", headers.display()))?;
        let name = e.file_name();
        if name == "vmlinux" || name == "Makefile" {
            continue;
        }
        let link = shadow.join(&name);
        std::os::unix::fs::symlink(e.path(), &link)
            .with_context(|| format!("linking {}", link.display()))?;
    }
    std::fs::write(
        shadow.join("Makefile"),
        format!(
            "# {} without its vmlinux (cargo xtask oot-build)\ninclude {}\n",
            headers.display(),
            headers.join("Makefile").display()
        ),
    )
    .with_context(|| format!("writing {}/Makefile", shadow.display()))?;
    Ok(())
}

/// A fresh copy of the module's sources (regular files only) in `dest`.
fn copy_source(src: &Path, dest: &Path) -> Result<()> {
    if dest.exists() {
        std::fs::remove_dir_all(dest).with_context(|| format!("removing {}", dest.display()))?;
    }
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    let mut n = 0;
    for e in std::fs::read_dir(src).with_context(|| format!("listing {}", src.display()))? {
        let e = e.with_context(|| format!("listing {}", src.display()))?;
        if e.file_type()?.is_file() {
            let to = dest.join(e.file_name());
            std::fs::copy(e.path(), &to)
                .with_context(|| format!("copying {} to {}", e.path().display(), to.display()))?;
            n += 1;
        }
    }
    ensure!(n > 0, "{}: no source files", src.display());
    Ok(())
}

struct Inspection {
    debug_info: u64,
    btf_ids: u64,
    btf: Option<u64>,
    btf_id_symbols: usize,
}

/// Section sizes and `__BTF_ID__` symbols of `ko`, as `readelf -S -s -W` shows them.
fn inspect(ko: &Path) -> Result<Inspection> {
    let text = util::stdout_string(Command::new("readelf").args(["-S", "-s", "-W"]).arg(ko))?;
    let section_size = |name: &str| util::readelf_section_size(&text, name);
    let btf_id_symbols = text
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .last()
                .is_some_and(|s| s.starts_with("__BTF_ID__"))
        })
        .count();
    Ok(Inspection {
        debug_info: section_size(".debug_info").unwrap_or(0),
        btf_ids: section_size(".BTF_ids").unwrap_or(0),
        btf: section_size(".BTF"),
        btf_id_symbols,
    })
}

#[cfg(test)]
mod tests {
    /// Every file of testdata/oot/kbtf_sample is in testdata/PROVENANCE with its size and
    /// sha256 (`cargo xtask fixtures` rewrites them).
    #[test]
    fn provenance_lists_the_module_sources() {
        let listed = crate::fixtures::checked_provenance("oot/kbtf_sample/");
        let mut files: Vec<String> = std::fs::read_dir(super::source_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                format!("oot/kbtf_sample/{name}")
            })
            .collect();
        files.sort();
        assert_eq!(listed, files);
    }
}
