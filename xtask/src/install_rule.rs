//! `kernel-test --install-rule`: the guest loads the requested modules the way a distribution
//! would with kbtf wired in, through a modprobe.d `install` rule run by the real modprobe
//! (kmod's, which busybox's modprobe is not: it has no `install` rules).
//!
//! The initramfs gets kmod with the shared libraries it needs (`ldd`), a
//! `/lib/modules/RELEASE` tree of the planned modules with depmod's indexes (made by the
//! host's `depmod -b`), and `/etc/modprobe.d/kbtf.conf` with one
//! `install NAME /bin/kbtf load /lib/modules/$(uname -r)/kernel/NAME.ko $CMDLINE_OPTS` rule per
//! requested module. kmod loads the dependencies itself (from modules.dep, by plain insert)
//! before it runs a module's install rule.

use crate::initramfs::Cpio;
use crate::util;
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the guest finds the real modprobe.
pub const MODPROBE: &str = "/sbin/modprobe";

/// The modprobe.d rule for module `name`, whose file is `kernel/NAME.ko` in the tree.
pub fn rule(name: &str) -> String {
    format!(
        "install {name} /bin/kbtf load /lib/modules/$(uname -r)/kernel/{name}.ko $CMDLINE_OPTS\n"
    )
}

/// Adds directories once each (the cpio writer does not track them).
#[derive(Default)]
pub struct Dirs(BTreeSet<String>);

impl Dirs {
    /// Adds every parent directory of `path` (relative, `/`-separated) not added yet.
    pub fn parents(&mut self, c: &mut Cpio, path: &str) {
        let mut at = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            if !at.is_empty() {
                at.push('/');
            }
            at.push_str(part);
            if self.0.insert(at.clone()) {
                c.dir(&at);
            }
        }
    }
}

/// Adds kmod as /sbin/kmod and /sbin/modprobe, with the shared libraries and dynamic loader
/// that `ldd` lists for it, each at its own path.
pub fn add_kmod(c: &mut Cpio, dirs: &mut Dirs) -> Result<()> {
    let kmod = ["/usr/bin/kmod", "/bin/kmod", "/sbin/kmod"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .context("no kmod on the host (apt-get install kmod)")?;
    dirs.parents(c, "sbin/kmod");
    c.file("sbin/kmod", 0o755, &util::read(&kmod)?);
    c.symlink("sbin/modprobe", "kmod");
    let ldd = util::stdout_string(Command::new("ldd").arg(&kmod))?;
    for lib in shared_libraries(&ldd) {
        let rel = lib.trim_start_matches('/');
        dirs.parents(c, rel);
        // Read through symlinks: the guest gets the library under the name the loader asks.
        c.file(rel, 0o755, &util::read(Path::new(&lib))?);
    }
    Ok(())
}

/// The absolute paths in `ldd` output: `libz.so.1 => /lib/.../libz.so.1 (0x...)` and the
/// loader's `/lib64/ld-linux-x86-64.so.2 (0x...)`.
fn shared_libraries(ldd: &str) -> Vec<String> {
    ldd.lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = match l.split_once("=>") {
                Some((_, rest)) => rest.trim(),
                None => l,
            };
            let path = path.split_whitespace().next()?;
            path.starts_with('/').then(|| path.to_string())
        })
        .collect()
}

/// Writes `modules` (name, bytes) as `lib/modules/RELEASE/kernel/NAME.ko` under `stage`, runs
/// `depmod -b` there (with the real tree's modules.builtin files, so that kmod knows what is
/// built in), and adds the tree to the initramfs.
pub fn add_module_tree(
    c: &mut Cpio,
    dirs: &mut Dirs,
    stage: &Path,
    release: &str,
    real_base: &Path,
    modules: &[(String, Vec<u8>)],
) -> Result<()> {
    let base_rel = format!("lib/modules/{release}");
    let base = stage.join(&base_rel);
    std::fs::create_dir_all(base.join("kernel"))
        .with_context(|| format!("creating {}", base.display()))?;
    for (name, data) in modules {
        let p = base.join("kernel").join(format!("{name}.ko"));
        std::fs::write(&p, data).with_context(|| format!("writing {}", p.display()))?;
    }
    for f in ["modules.builtin", "modules.builtin.modinfo"] {
        let src = real_base.join(f);
        if src.is_file() {
            std::fs::copy(&src, base.join(f))
                .with_context(|| format!("copying {}", src.display()))?;
        }
    }
    util::output(Command::new("depmod").arg("-b").arg(stage).arg(release))
        .context("depmod for the guest's module tree (is kmod installed?)")?;
    let mut entries: Vec<PathBuf> = Vec::new();
    for dir in [base.clone(), base.join("kernel")] {
        for e in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let p = e?.path();
            if p.is_file() {
                entries.push(p);
            }
        }
    }
    entries.sort();
    if entries.is_empty() {
        bail!("depmod wrote nothing into {}", base.display());
    }
    for p in entries {
        let rel = p
            .strip_prefix(stage)
            .with_context(|| format!("{} outside {}", p.display(), stage.display()))?
            .to_string_lossy()
            .into_owned();
        dirs.parents(c, &rel);
        c.file(&rel, 0o644, &util::read(&p)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_paths() {
        let ldd = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                   \tlibzstd.so.1 => /lib/x86_64-linux-gnu/libzstd.so.1 (0x00007f)\n\
                   \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(
            shared_libraries(ldd),
            [
                "/lib/x86_64-linux-gnu/libzstd.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
        );
    }

    #[test]
    fn rule_passes_modprobe_options() {
        assert_eq!(
            rule("dummy"),
            "install dummy /bin/kbtf load /lib/modules/$(uname -r)/kernel/dummy.ko $CMDLINE_OPTS\n"
        );
    }
}
