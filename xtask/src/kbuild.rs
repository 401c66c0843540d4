//! `cargo xtask kbuild-test`: a real kbuild with `PAHOLE=kbtf` (issue 7's acceptance).
//!
//! Debian's `linux-source-6.1` is fetched with `apt-get download` and its tarball unpacked
//! into `~/.cache/kbtf/kbuild/linux-source-6.1` once. A small x86_64 configuration
//! (`make tinyconfig` plus `xtask/kbuild/kbtf-6.1.config`, every line of which is checked in
//! the final `.config`) is built twice, out of tree: `6.1-kbtf` with `PAHOLE=<kbtf release
//! binary>` and `6.1-pahole` with `PAHOLE=pahole` (Debian's 1.24), sharing a ccache (when
//! ccache is installed) so that the second build compiles nothing. The kernel's scripts are
//! used unchanged. Both trees are kept in the cache, so a second run only relinks what
//! changed (a new kbtf changes every BTF step).
//!
//! The kbtf build is installed (`make modules_install`: the modules are signed with the
//! build's own key, `CONFIG_MODULE_SIG_FORCE=y`), booted in qemu with every module loaded by
//! insmod, each with `/sys/kernel/btf/<mod>`; then its vmlinux and module BTF are compared
//! with the pahole build's by `kbtf diff` (and bytes).
//!
//! `--cc clang-14` builds the same with clang, in `6.1-kbtf-clang-14` and
//! `6.1-pahole-clang-14`: its DWARF carries `btf_type_tag` annotations, and the run fails
//! unless the vmlinux BTF has TYPE_TAGs.

use crate::args::{Args, Positionals};
use crate::cache::{self, Index};
use crate::guest::Machine;
use crate::kernel_test::{self, Options};
use crate::{debs, ktree, util};
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub const USAGE: &str = "\
cargo xtask kbuild-test [--jobs N] [--cc CC] [--no-boot] [--no-pahole] [--kbtf PATH]

Builds Debian's linux-source-6.1 (a small qemu configuration with BTF, module BTF,
signed modules and a few modules: dummy, veth, fuse, tcp_bbr, nf_conntrack with its
kfuncs) with `make PAHOLE=<kbtf>`, boots it in qemu and loads every module (each must
show /sys/kernel/btf/<mod>), builds the same tree with PAHOLE=pahole (1.24) and compares
vmlinux and module BTF with `kbtf diff`. The source, both build trees and a ccache stay
in ~/.cache/kbtf/kbuild, so a second run is incremental. Prints how long each phase took.
Index keys (gcc builds only): kbuild61_dir, kbuild61_root, kbuild61_release,
kbuild61_vmlinuz, kbuild61_signing_key, kbuild61_signing_cert, kbuild61_pahole_dir.
  --jobs N     make -jN (default 2)
  --cc CC      the compiler (default gcc); `--cc clang-14` builds a clang kernel, whose
               DWARF has btf_type_tag annotations (__user, __rcu, ...: TYPE_TAG in its
               BTF, as in Android's kernels), in 6.1-kbtf-CC and 6.1-pahole-CC
  --no-boot    skip the qemu boot
  --no-pahole  skip the pahole build and the comparison
  --kbtf PATH  the kbtf binary kbuild runs as PAHOLE (default: cargo build --release)";

/// The configuration on top of `make tinyconfig`.
const FRAGMENT: &str = include_str!("../kbuild/kbtf-6.1.config");
/// The source package.
const SOURCE_PKG: &str = "linux-source-6.1";
/// Host tools kbuild needs beyond gcc and make, with their Debian packages.
const HOST_TOOLS: &[(&str, &str)] = &[
    ("flex", "flex"),
    ("bison", "bison"),
    ("bc", "bc"),
    ("openssl", "openssl"),
    ("perl", "perl"),
];

pub fn main(raw: &[String]) -> Result<()> {
    let Some(a) = Args::task(
        raw,
        &["jobs", "kbtf", "cc"],
        &["no-boot", "no-pahole"],
        Positionals::None,
        USAGE,
    )?
    else {
        return Ok(());
    };
    let jobs: u32 = match a.opt("jobs") {
        Some(j) => j.parse().with_context(|| format!("--jobs {j:?}"))?,
        None => 2,
    };
    let mut t = Timings::default();
    let kbtf = t.phase("kbtf release binary", || match a.opt("kbtf") {
        Some(k) => Ok(PathBuf::from(k)),
        None => crate::test::kbtf_release_bin(),
    })?;
    let cc = a.opt("cc").unwrap_or("gcc").to_string();
    ensure!(
        on_path(&cc),
        "--cc {cc}: not on PATH (clang-14 is Debian 12's package clang-14)"
    );
    // The gcc trees keep their names (sig-force uses the kbtf one through the index).
    let suffix = if cc == "gcc" {
        String::new()
    } else {
        format!("-{cc}")
    };
    check_host_tools()?;
    let src = t.phase("linux-source-6.1: fetch and unpack (cached)", source_tree)?;
    let root = kbuild_dir()?;
    let ccache = ccache_available();
    if !ccache {
        println!("note: ccache not installed (apt-get install ccache): the second build compiles everything again");
    }

    let kb = Build {
        src: src.clone(),
        out: root.join(format!("6.1-kbtf{suffix}")),
        pahole: kbtf.clone(),
        pahole_flags: None,
        jobs,
        ccache,
        cc: cc.clone(),
    };
    println!(
        "kbuild runs `{} --version`: {}; scripts/pahole-flags.sh gives: {}",
        kbtf.display(),
        util::stdout_string(Command::new(&kbtf).arg("--version"))?.trim(),
        kb.pahole_flags()?
    );
    t.phase("kbtf build: configure", || kb.configure())?;
    t.phase("kbtf build: make (PAHOLE=kbtf)", || kb.make())?;
    let install = t.phase("kbtf build: modules_install (signs)", || kb.install())?;
    let mods = kb.modules()?;
    ensure!(
        !mods.is_empty(),
        "{}: the build made no modules",
        kb.out.display()
    );
    let mut written = 0;
    for m in &mods {
        // kbtf writes its base fingerprint note into split module BTF; pahole does not: the
        // note proves kbuild ran kbtf.
        ensure!(
            section_size(m, ".note.kbtf.btf_base")?.is_some(),
            "{}: no .note.kbtf.btf_base, so kbtf did not write its BTF",
            m.display()
        );
        written += 1;
    }
    println!("kbtf wrote the BTF of vmlinux and of {written} module(s) (each has kbtf's .note.kbtf.btf_base)");

    let mut index = Index::load()?;
    let gcc = cc == "gcc";
    if gcc {
        index.set_path("kbuild61_dir", &kb.out);
        index.set_path("kbuild61_root", &install.root);
        index.set("kbuild61_release", &install.release);
        index.set_path("kbuild61_vmlinuz", &install.vmlinuz);
        index.set_path(
            "kbuild61_signing_key",
            &kb.out.join("certs/signing_key.pem"),
        );
        index.set_path(
            "kbuild61_signing_cert",
            &kb.out.join("certs/signing_key.x509"),
        );
        index.save()?;
    }

    let mut failed = Vec::new();
    if !a.flag("no-boot") {
        let names: Vec<String> = mods
            .iter()
            .map(|m| {
                let f = m.file_name().map(|f| f.to_string_lossy().into_owned());
                ktree::norm(f.as_deref().and_then(ktree::module_stem).unwrap_or(""))
            })
            .collect();
        let outcomes = t.phase("qemu: boot, insmod every installed (signed) module", || {
            kernel_test::run(&Options {
                kernel: Some(install.root.clone()),
                modules: names.clone(),
                modprobe: true,
                exec: Some(
                    "echo sig_enforce=$(cat /sys/module/module/parameters/sig_enforce); ls /sys/kernel/btf | tr '\\n' ' '; echo"
                        .into(),
                ),
                machine: Machine {
                    timeout: 180,
                    ..Machine::default()
                },
                ..Options::default()
            })
        })?;
        let bad: Vec<&str> = outcomes
            .iter()
            .filter(|o| !o.ok)
            .map(|o| o.name.as_str())
            .collect();
        let ok = outcomes.iter().filter(|o| o.ok).count();
        println!(
            "qemu: {ok} of {} module(s) loaded with /sys/kernel/btf/<mod>",
            names.len()
        );
        if !bad.is_empty() || ok != names.len() {
            failed.push(format!("modules not loaded with BTF: {}", bad.join(" ")));
        }
    }

    if !a.flag("no-pahole") {
        // pahole 1.24 with -j is not reproducible: each thread has its own table of the
        // functions already encoded, so which of several static functions of one name get a
        // FUNC changes from run to run (two runs on this vmlinux differed by 39 functions).
        // kbtf's output does not depend on -j and follows single-threaded pahole, so the
        // reference build runs pahole with kbuild's flags less -j.
        let mut pb = Build {
            src,
            out: root.join(format!("6.1-pahole{suffix}")),
            pahole: PathBuf::from("pahole"),
            pahole_flags: None,
            jobs,
            ccache,
            cc: cc.clone(),
        };
        let flags = pb.pahole_flags()?;
        let without_j: Vec<&str> = flags.split_whitespace().filter(|f| *f != "-j").collect();
        println!(
            "pahole reference build: PAHOLE_FLAGS=\"{}\" (kbuild's \"{flags}\" less -j)",
            without_j.join(" ")
        );
        pb.pahole_flags = Some(without_j.join(" "));
        t.phase("pahole build: configure", || pb.configure())?;
        t.phase("pahole build: make (PAHOLE=pahole 1.24)", || pb.make())?;
        if gcc {
            index.set_path("kbuild61_pahole_dir", &pb.out);
            index.save()?;
        }
        let problems = t.phase("kbtf diff: kbtf's BTF against pahole 1.24's", || {
            compare(&kbtf, &kb, &pb)
        })?;
        failed.extend(problems);
    }
    t.print();
    if ccache {
        if let Ok(s) = util::stdout_string(ccache_cmd().arg("--show-stats")) {
            println!(
                "ccache: {}",
                s.lines()
                    .filter(|l| l.contains("Hits")
                        || l.contains("Misses")
                        || l.contains("Cache size"))
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
    }
    if !failed.is_empty() {
        bail!("kbuild-test: {}", failed.join("; "));
    }
    println!("kbuild-test: passed");
    Ok(())
}

/// `~/.cache/kbtf/kbuild`.
pub fn kbuild_dir() -> Result<PathBuf> {
    Ok(cache::root()?.join("kbuild"))
}

fn check_host_tools() -> Result<()> {
    let mut missing: Vec<&str> = HOST_TOOLS
        .iter()
        .filter(|(tool, _)| !on_path(tool))
        .map(|(_, pkg)| *pkg)
        .collect();
    for (header, pkg) in [
        ("/usr/include/libelf.h", "libelf-dev"),
        ("/usr/include/openssl/opensslv.h", "libssl-dev"),
    ] {
        if !Path::new(header).is_file() {
            missing.push(pkg);
        }
    }
    ensure!(
        missing.is_empty(),
        "building a kernel needs: apt-get install {}",
        missing.join(" ")
    );
    Ok(())
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

fn ccache_available() -> bool {
    on_path("ccache")
}

/// ccache with the cache's settings: its own directory, and hits across the two build
/// trees (paths relative to the kbuild directory, the current directory not hashed).
fn ccache_cmd() -> Command {
    let mut c = Command::new("ccache");
    if let Ok(root) = kbuild_dir() {
        c.env("CCACHE_DIR", root.join("ccache"))
            .env("CCACHE_BASEDIR", &root)
            .env("CCACHE_NOHASHDIR", "1")
            .env("CCACHE_MAXSIZE", "6G");
    }
    c
}

/// The unpacked source tree, fetched and unpacked on first use.
fn source_tree() -> Result<PathBuf> {
    let root = kbuild_dir()?;
    let src = root.join("linux-source-6.1");
    if src.join("Makefile").is_file() {
        println!("have     {}", src.display());
        return Ok(src);
    }
    let deb = debs::fetch(&cache::debs_dir()?, SOURCE_PKG)?;
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let tmp = root.join(".unpack-tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
    }
    std::fs::create_dir_all(&tmp)?;
    println!(
        "unpack   {} (the tarball inside) into {}",
        deb.display(),
        src.display()
    );
    // dpkg-deb --fsys-tarfile | tar -xO <the .tar.xz> | tar -xJ
    let script = "dpkg-deb --fsys-tarfile \"$1\" | tar -xO ./usr/src/linux-source-6.1.tar.xz | tar -xJ -C \"$2\"";
    util::run(
        Command::new("sh")
            .args(["-c", script, "sh"])
            .arg(&deb)
            .arg(&tmp),
    )?;
    let unpacked = tmp.join("linux-source-6.1");
    ensure!(
        unpacked.join("Makefile").is_file(),
        "{}: no linux-source-6.1/Makefile in the tarball",
        deb.display()
    );
    std::fs::rename(&unpacked, &src)
        .with_context(|| format!("renaming {} to {}", unpacked.display(), src.display()))?;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(src)
}

/// One out-of-tree build of the source.
struct Build {
    src: PathBuf,
    out: PathBuf,
    /// What kbuild runs as `$(PAHOLE)`.
    pahole: PathBuf,
    /// `PAHOLE_FLAGS=...` on the make command line instead of what pahole-flags.sh gives.
    pahole_flags: Option<String>,
    jobs: u32,
    ccache: bool,
    /// The C compiler: `gcc` or, say, `clang-14`.
    cc: String,
}

/// An installed build: `boot/vmlinuz-RELEASE` and `lib/modules/RELEASE` under `root`, as
/// `kernel-test --kernel` takes it.
struct Installed {
    root: PathBuf,
    release: String,
    vmlinuz: PathBuf,
}

impl Build {
    /// `make -C SRC O=OUT PAHOLE=... CC="[ccache ]CC"` with reproducible build stamps.
    fn make_cmd(&self) -> Command {
        let mut c = Command::new("make");
        c.arg("-C")
            .arg(&self.src)
            .arg(format!("O={}", self.out.display()))
            .arg(format!("PAHOLE={}", self.pahole.display()));
        if let Some(f) = &self.pahole_flags {
            c.arg(format!("PAHOLE_FLAGS={f}"));
        }
        if self.ccache {
            c.arg(format!("CC=ccache {}", self.cc));
            let cc = ccache_cmd();
            for (k, v) in cc.get_envs() {
                if let Some(v) = v {
                    c.env(k, v);
                }
            }
        } else {
            c.arg(format!("CC={}", self.cc));
        }
        c.env("KBUILD_BUILD_TIMESTAMP", "Thu Jan  1 00:00:00 UTC 2026")
            .env("KBUILD_BUILD_USER", "kbtf")
            .env("KBUILD_BUILD_HOST", "kbtf")
            .env("KBUILD_BUILD_VERSION", "1");
        c
    }

    /// What kbuild passes to `$(PAHOLE) -J` besides the file (and `--btf_base vmlinux` for
    /// modules): `scripts/pahole-flags.sh` run as the Makefile runs it.
    fn pahole_flags(&self) -> Result<String> {
        Ok(util::stdout_string(
            Command::new("sh")
                .arg(self.src.join("scripts/pahole-flags.sh"))
                .env("PAHOLE", &self.pahole),
        )?
        .trim()
        .to_string())
    }

    /// tinyconfig + the fragment + olddefconfig, unless `.config` already came from this
    /// fragment; then every fragment line is checked in `.config`.
    fn configure(&self) -> Result<()> {
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("creating {}", self.out.display()))?;
        let stamp = self.out.join("kbtf-fragment.config");
        let config = self.out.join(".config");
        let current = std::fs::read_to_string(&stamp).unwrap_or_default();
        if current == FRAGMENT && config.is_file() {
            println!("have     {} (from the same fragment)", config.display());
        } else {
            let frag = self.out.join("kbtf-fragment.config.new");
            std::fs::write(&frag, FRAGMENT)
                .with_context(|| format!("writing {}", frag.display()))?;
            run_logged(
                self.make_cmd().arg("tinyconfig"),
                &self.out.join("kbtf-config.log"),
            )?;
            run_logged(
                Command::new(self.src.join("scripts/kconfig/merge_config.sh"))
                    .current_dir(&self.src)
                    .arg("-m")
                    .arg("-O")
                    .arg(&self.out)
                    .arg(&config)
                    .arg(&frag),
                &self.out.join("kbtf-config.log"),
            )?;
            run_logged(
                self.make_cmd().arg("olddefconfig"),
                &self.out.join("kbtf-config.log"),
            )?;
            std::fs::rename(&frag, &stamp)
                .with_context(|| format!("renaming {}", frag.display()))?;
        }
        let text = std::fs::read_to_string(&config)
            .with_context(|| format!("reading {}", config.display()))?;
        let have: std::collections::HashSet<&str> = text.lines().collect();
        let missing: Vec<&str> = FRAGMENT
            .lines()
            .filter(|l| l.starts_with("CONFIG_") || l.starts_with("# CONFIG_"))
            .filter(|l| !have.contains(l))
            .collect();
        ensure!(
            missing.is_empty(),
            "{}: Kconfig did not take {}",
            config.display(),
            missing.join(", ")
        );
        Ok(())
    }

    /// `make -jN` (vmlinux, bzImage, modules), its output in OUT/kbtf-build.log.
    fn make(&self) -> Result<()> {
        // kbuild does not relink vmlinux (nor redo module BTF) when only $(PAHOLE) or its
        // flags change: a stamp of both (the binary's sha256 and `--version`) removes vmlinux
        // when they did, so that every BTF step runs again with the new encoder.
        let stamp = self.out.join("kbtf-pahole.stamp");
        let pahole_path = if self.pahole.components().count() > 1 {
            self.pahole.clone()
        } else {
            PathBuf::from(
                util::stdout_string(
                    Command::new("sh")
                        .arg("-c")
                        .arg(format!("command -v {}", self.pahole.display())),
                )?
                .trim(),
            )
        };
        let want = format!(
            "{} {} sha256={} flags={}\n",
            self.pahole.display(),
            util::stdout_string(Command::new(&self.pahole).arg("--version"))?.trim(),
            util::sha256(&pahole_path)?,
            self.pahole_flags
                .clone()
                .unwrap_or_else(|| self.pahole_flags().unwrap_or_default())
        );
        let vmlinux = self.out.join("vmlinux");
        if std::fs::read_to_string(&stamp).unwrap_or_default() != want && vmlinux.exists() {
            println!("         $(PAHOLE) or its flags changed since the last build: removing vmlinux so that kbuild encodes all BTF again");
            std::fs::remove_file(&vmlinux)
                .with_context(|| format!("removing {}", vmlinux.display()))?;
        }
        let log = self.out.join("kbtf-build.log");
        let mut c = self.make_cmd();
        c.arg(format!("-j{}", self.jobs));
        run_logged(&mut c, &log)?;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let btf_steps = text
            .lines()
            .filter(|l| l.trim_start().starts_with("BTF"))
            .count();
        println!(
            "         {} BTF and BTFIDS step(s) in this make run (log: {})",
            btf_steps,
            log.display()
        );
        ensure!(
            !text.contains("Skipping BTF generation"),
            "kbuild skipped BTF generation (see {})",
            log.display()
        );
        std::fs::write(&stamp, want).with_context(|| format!("writing {}", stamp.display()))?;
        Ok(())
    }

    /// `make modules_install INSTALL_MOD_PATH=OUT-install` (which signs the modules) and
    /// the bzImage as OUT-install/boot/vmlinuz-RELEASE. Beside the build tree, not in it, so
    /// that `kbtf regen OUT` finds only the built modules.
    fn install(&self) -> Result<Installed> {
        let mut name = self.out.file_name().unwrap_or_default().to_os_string();
        name.push("-install");
        let root = self.out.with_file_name(name);
        let old = self.out.join("install");
        if old.is_dir() {
            std::fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
        }
        let release = std::fs::read_to_string(self.out.join("include/config/kernel.release"))
            .context("reading include/config/kernel.release")?
            .trim()
            .to_string();
        let mods = root.join("lib/modules").join(&release);
        if mods.exists() {
            std::fs::remove_dir_all(&mods)
                .with_context(|| format!("removing {}", mods.display()))?;
        }
        run_logged(
            self.make_cmd()
                .arg(format!("INSTALL_MOD_PATH={}", root.display()))
                .arg("modules_install"),
            &self.out.join("kbtf-install.log"),
        )?;
        let boot = root.join("boot");
        std::fs::create_dir_all(&boot)?;
        let vmlinuz = boot.join(format!("vmlinuz-{release}"));
        std::fs::copy(self.out.join("arch/x86/boot/bzImage"), &vmlinuz)
            .with_context(|| format!("copying bzImage to {}", vmlinuz.display()))?;
        Ok(Installed {
            root,
            release,
            vmlinuz,
        })
    }

    /// The built (unsigned) modules, from modules.order.
    fn modules(&self) -> Result<Vec<PathBuf>> {
        let order = self.out.join("modules.order");
        let text = std::fs::read_to_string(&order)
            .with_context(|| format!("reading {}", order.display()))?;
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                let ko = l
                    .strip_suffix(".o")
                    .map(|s| format!("{s}.ko"))
                    .unwrap_or(l.to_string());
                self.out.join(ko)
            })
            .collect())
    }
}

/// Runs `cmd` with stdout and stderr appended to `log`; on failure prints the log's tail.
fn run_logged(cmd: &mut Command, log: &Path) -> Result<()> {
    println!("run      {} (log: {})", util::show(cmd), log.display());
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let status = cmd
        .stdout(f.try_clone()?)
        .stderr(f)
        .status()
        .with_context(|| format!("starting `{}`", util::show(cmd)))?;
    if !status.success() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for l in &lines[lines.len().saturating_sub(30)..] {
            println!("  | {l}");
        }
        bail!(
            "`{}` failed: {status} (log: {})",
            util::show(cmd),
            log.display()
        );
    }
    Ok(())
}

/// The size of section `name` of `file`, by `readelf -S -W`.
fn section_size(file: &Path, name: &str) -> Result<Option<u64>> {
    let text = util::stdout_string(Command::new("readelf").args(["-S", "-W"]).arg(file))?;
    Ok(util::readelf_section_size(&text, name))
}

/// The raw bytes of section `name` of `file` (`objcopy -O binary --only-section`).
fn section_bytes(file: &Path, name: &str, tmp: &Path) -> Result<Vec<u8>> {
    util::run(
        Command::new("objcopy")
            .args(["-O", "binary", "--only-section", name])
            .arg(file)
            .arg(tmp),
    )?;
    util::read(tmp)
}

/// `kbtf diff` of vmlinux and every module of the two builds; also says which are
/// byte-identical. Returns the problems.
fn compare(kbtf: &Path, kb: &Build, pb: &Build) -> Result<Vec<String>> {
    let work = crate::guest::TempDir::new("kbuild-diff")?;
    let mut problems = Vec::new();
    let (va, vb) = (kb.out.join("vmlinux"), pb.out.join("vmlinux"));
    let diff = |a: &Path, b: &Path, base: Option<(&Path, &Path)>| -> Result<(bool, String)> {
        let mut c = Command::new(kbtf);
        c.arg("diff").arg(a).arg(b);
        if let Some((ba, bb)) = base {
            c.arg("--base-a").arg(ba).arg("--base-b").arg(bb);
        }
        let out = util::output_any(&mut c)?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => Ok((true, text)),
            Some(1) => Ok((false, text)),
            _ => bail!("`{}` failed: {}", util::show(&c), text.trim()),
        }
    };
    let bytes_equal = |a: &Path, b: &Path| -> Result<bool> {
        Ok(section_bytes(a, ".BTF", &work.path.join("a"))?
            == section_bytes(b, ".BTF", &work.path.join("b"))?)
    };
    let (same, text) = diff(&va, &vb, None)?;
    let identical = bytes_equal(&va, &vb)?;
    println!(
        "vmlinux: {} ({} .BTF bytes){}",
        if same {
            "equal by kbtf diff"
        } else {
            "DIFFERENT"
        },
        section_size(&va, ".BTF")?.unwrap_or(0),
        if identical { ", byte-identical" } else { "" }
    );
    if !same {
        println!("{}", text.trim_end());
        problems.push("vmlinux BTF differs from pahole's".to_string());
    }
    // BTF kinds 17 and 18. A clang kernel's DWARF annotates pointers (`__user`, `__rcu`, ...)
    // and kbuild asks for them (CONFIG_PAHOLE_HAS_BTF_TAG): without TYPE_TAGs the clang run
    // would not test what it is for.
    let kinds = crate::btf::summarize(&section_bytes(&va, ".BTF", &work.path.join("a"))?)?;
    let (decl_tags, type_tags) = (kinds.per_kind[17], kinds.per_kind[18]);
    println!("vmlinux: {type_tags} TYPE_TAG(s), {decl_tags} DECL_TAG(s)");
    if kb.cc != "gcc" && type_tags == 0 {
        problems.push(format!("the {} build's vmlinux BTF has no TYPE_TAG", kb.cc));
    }
    let (mut n_same, mut n_identical) = (0, 0);
    let mods = kb.modules()?;
    for m in &mods {
        let rel = m.strip_prefix(&kb.out)?;
        let other = pb.out.join(rel);
        let (same, text) = diff(m, &other, Some((&va, &vb)))?;
        let identical = bytes_equal(m, &other)?;
        n_same += usize::from(same);
        n_identical += usize::from(identical);
        println!(
            "{}: {}{}",
            rel.display(),
            if same {
                "equal by kbtf diff"
            } else {
                "DIFFERENT"
            },
            if identical { ", byte-identical" } else { "" }
        );
        if !same {
            println!("{}", text.trim_end());
            problems.push(format!("{}: BTF differs from pahole's", rel.display()));
        }
    }
    println!(
        "modules: {n_same} of {} equal to pahole 1.24's by kbtf diff, {n_identical} byte-identical",
        mods.len()
    );
    Ok(problems)
}

/// How long each phase took: wall-clock time, and the CPU time (user + system) of the
/// programs it ran, which does not depend on what else the machine is doing: a `make -j2`
/// on an otherwise idle 2-core machine takes about half its CPU time.
#[derive(Default)]
struct Timings {
    phases: Vec<(String, f64, f64)>,
}

impl Timings {
    fn phase<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        println!("== {name}");
        let (t, cpu) = (Instant::now(), util::children_cpu());
        let r = f();
        let (secs, cpu) = (t.elapsed().as_secs_f64(), util::children_cpu() - cpu);
        println!("   {name}: {secs:.1} s (CPU {cpu:.1} s)");
        self.phases.push((name.to_string(), secs, cpu));
        r
    }

    fn print(&self) {
        println!("timings (wall, CPU of the programs run):");
        for (n, s, c) in &self.phases {
            println!("  {s:>8.1} s {c:>8.1} s  {n}");
        }
        let total: f64 = self.phases.iter().map(|p| p.1).sum();
        let cpu: f64 = self.phases.iter().map(|p| p.2).sum();
        println!("  {total:>8.1} s {cpu:>8.1} s  total");
    }
}
