//! An unpacked kernel image package: vmlinuz, release, module tree, modules.dep.

use crate::util;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Module file suffixes, plain first, and the tool that decompresses each.
pub const MODULE_SUFFIXES: &[(&str, Option<&[&str]>)] = &[
    (".ko", None),
    (".ko.xz", Some(&["xz", "-dc"])),
    (".ko.zst", Some(&["zstd", "-dc"])),
    (".ko.gz", Some(&["gzip", "-dc"])),
];

pub fn module_stem(file_name: &str) -> Option<&str> {
    MODULE_SUFFIXES
        .iter()
        .find_map(|(s, _)| file_name.strip_suffix(s))
}

/// Normalized module name: the kernel treats '-' and '_' alike.
pub fn norm(name: &str) -> String {
    name.replace('-', "_")
}

/// Writes a decompressed copy of `src` (a .ko[.xz|.zst|.gz]) to `dst`.
pub fn decompress_module(src: &Path, dst: &Path) -> Result<()> {
    let name = src
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tool = MODULE_SUFFIXES
        .iter()
        .find(|(s, _)| name.ends_with(s))
        .and_then(|(_, t)| *t);
    match tool {
        None => {
            std::fs::copy(src, dst)
                .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
        }
        Some(t) => {
            let out = util::output(Command::new(t[0]).args(&t[1..]).arg(src))?;
            std::fs::write(dst, &out.stdout)
                .with_context(|| format!("writing {}", dst.display()))?;
        }
    }
    Ok(())
}

pub struct KernelTree {
    pub root: PathBuf,
    pub vmlinuz: PathBuf,
    pub release: String,
}

impl KernelTree {
    /// `root` is an unpacked linux-image package (has boot/vmlinuz-*, or boot/vmlinux-*
    /// where the image is not compressed, as ppc64el's).
    pub fn open(root: &Path) -> Result<KernelTree> {
        let boot = root.join("boot");
        let vmlinuz = util::single_entry(&boot, "vmlinuz-")
            .or_else(|_| util::single_entry(&boot, "vmlinux-"))
            .with_context(|| {
                format!(
                    "{}: not an unpacked linux-image package (no boot/vmlinuz-* or boot/vmlinux-*)",
                    root.display()
                )
            })?;
        Self::from_vmlinuz(&vmlinuz, Some(root))
    }

    pub fn from_vmlinuz(vmlinuz: &Path, root: Option<&Path>) -> Result<KernelTree> {
        let fname = vmlinuz
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let release = fname
            .strip_prefix("vmlinuz-")
            .or_else(|| fname.strip_prefix("vmlinux-"))
            .unwrap_or("")
            .to_string();
        let root = match root {
            Some(r) => r.to_path_buf(),
            // .../boot/vmlinuz-X -> ...
            None => vmlinuz
                .parent()
                .and_then(|b| b.parent())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
        };
        Ok(KernelTree {
            root,
            vmlinuz: vmlinuz.to_path_buf(),
            release,
        })
    }

    pub fn modules_base(&self) -> PathBuf {
        self.root.join("lib/modules").join(&self.release)
    }

    pub fn has_modules(&self) -> bool {
        !self.release.is_empty() && self.modules_base().join("kernel").is_dir()
    }

    /// Runs `depmod -b ROOT RELEASE` if modules.dep is missing (Debian generates it at
    /// install time, so the package does not ship it).
    pub fn ensure_depmod(&self) -> Result<()> {
        if self.modules_base().join("modules.dep").is_file() {
            return Ok(());
        }
        util::run(
            Command::new("depmod")
                .arg("-b")
                .arg(&self.root)
                .arg(&self.release),
        )
        .context("generating modules.dep (is kmod installed?)")
    }

    /// modules.dep as (module path relative to modules_base, deps relative paths).
    pub fn modules_dep(&self) -> Result<Vec<(String, Vec<String>)>> {
        let p = self.modules_base().join("modules.dep");
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        let mut out = Vec::new();
        for line in text.lines() {
            let Some((m, deps)) = line.split_once(':') else {
                continue;
            };
            out.push((
                m.trim().to_string(),
                deps.split_whitespace().map(str::to_string).collect(),
            ));
        }
        Ok(out)
    }

    /// The modules `name` asks to have loaded before it (`softdep NAME pre: A B` in
    /// modules.softdep, which depmod gathers from each module's `.modinfo`), each resolved
    /// through modules.alias (to every module an alias names) where it is not a module's
    /// own name, as modprobe does: their files and modules.dep dependencies. (s390x's
    /// libcrc32c wants the module `crc32c`, which x86_64 and arm64 build in.)
    pub fn soft_pre_deps(&self, name: &str) -> Result<Vec<(PathBuf, Vec<PathBuf>)>> {
        let read = |file: &str| -> Result<String> {
            let p = self.modules_base().join(file);
            match std::fs::read_to_string(&p) {
                Ok(t) => Ok(t),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
                Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
            }
        };
        let softdep = read("modules.softdep")?;
        let want = norm(name);
        let mut pre = Vec::new();
        for line in softdep.lines() {
            let mut words = line.split_whitespace();
            if words.next() != Some("softdep") || words.next().map(norm) != Some(want.clone()) {
                continue;
            }
            let mut in_pre = false;
            for w in words {
                match w {
                    "pre:" => in_pre = true,
                    "post:" => in_pre = false,
                    _ if in_pre => pre.push(w.to_string()),
                    _ => {}
                }
            }
        }
        if pre.is_empty() {
            return Ok(Vec::new());
        }
        let aliases = read("modules.alias")?;
        let mut out = Vec::new();
        for p in pre {
            // Every module the alias names, as modprobe tries each (x86_64's `crc32c` is
            // crc32c_intel, which a CPU without SSE 4.2 refuses, and crc32c_generic).
            let mut targets: Vec<&str> = aliases
                .lines()
                .filter_map(|l| l.strip_prefix("alias "))
                .filter_map(|l| {
                    let (alias, module) = l.split_once(' ')?;
                    (alias == p).then_some(module.trim())
                })
                .collect();
            if targets.is_empty() {
                targets.push(&p);
            }
            for t in targets {
                if let Some(found) = self.find_module(t)? {
                    out.push(found);
                }
            }
        }
        Ok(out)
    }

    /// The modules.dep entry for module `name` (normalized compare).
    pub fn find_module(&self, name: &str) -> Result<Option<(PathBuf, Vec<PathBuf>)>> {
        let want = norm(name);
        for (m, deps) in self.modules_dep()? {
            let file = m.rsplit('/').next().unwrap_or(&m);
            if module_stem(file).map(norm).as_deref() == Some(want.as_str()) {
                let base = self.modules_base();
                return Ok(Some((
                    base.join(&m),
                    deps.iter().map(|d| base.join(d)).collect(),
                )));
            }
        }
        Ok(None)
    }

    /// Writes plain `.ko` copies of every compressed module into `dest` (same layout),
    /// plus a modules.dep with the suffixes rewritten. Returns how many were written.
    pub fn write_plain_modules(&self, dest: &Path) -> Result<usize> {
        let src = self.modules_base().join("kernel");
        let mut n = 0;
        let mut stack = vec![src.clone()];
        while let Some(dir) = stack.pop() {
            for e in
                std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
            {
                let e = e?;
                let p = e.path();
                if e.file_type()?.is_dir() {
                    stack.push(p);
                    continue;
                }
                let name = e.file_name().to_string_lossy().into_owned();
                let Some(stem) = module_stem(&name) else {
                    continue;
                };
                let rel = p.strip_prefix(&src)?;
                let out = dest
                    .join("kernel")
                    .join(rel)
                    .with_file_name(format!("{stem}.ko"));
                if let Some(parent) = out.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                decompress_module(&p, &out)?;
                n += 1;
            }
        }
        let dep = self.modules_base().join("modules.dep");
        if dep.is_file() {
            let text = std::fs::read_to_string(&dep)
                .with_context(|| format!("reading {}", dep.display()))?;
            let text = text
                .replace(".ko.xz", ".ko")
                .replace(".ko.zst", ".ko")
                .replace(".ko.gz", ".ko");
            std::fs::write(dest.join("modules.dep"), text)
                .with_context(|| format!("writing {}", dest.join("modules.dep").display()))?;
        }
        Ok(n)
    }

    /// True if any module under the tree is compressed (checks a few levels quickly).
    pub fn modules_compressed(&self) -> Result<bool> {
        let dep = self.modules_base().join("modules.dep");
        if dep.is_file() {
            let text = std::fs::read_to_string(&dep)
                .with_context(|| format!("reading {}", dep.display()))?;
            return Ok(text.lines().next().is_some_and(|l| {
                l.split(':')
                    .next()
                    .is_some_and(|m| !m.trim_end().ends_with(".ko"))
            }));
        }
        bail!("{} missing", dep.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_pre_deps_follow_aliases_to_every_module() {
        let dir = std::env::temp_dir().join(format!("kbtf-ktree-test-{}", std::process::id()));
        let tree = KernelTree {
            root: dir.clone(),
            vmlinuz: dir.join("boot/vmlinuz-9.9"),
            release: "9.9".to_string(),
        };
        let base = tree.modules_base();
        std::fs::create_dir_all(&base).unwrap();
        let files = [
            (
                "modules.dep",
                "kernel/lib/libcrc32c.ko.xz:\nkernel/arch/crc32c_intel.ko.xz:\n\
                 kernel/crypto/crc32c_generic.ko.xz: kernel/crypto/hash.ko.xz\n\
                 kernel/crypto/hash.ko.xz:\nkernel/fs/xfs.ko.xz: kernel/lib/libcrc32c.ko.xz\n",
            ),
            (
                "modules.softdep",
                "# comment\nsoftdep libcrc32c pre: crc32c post: hash\nsoftdep xfs post: hash\n",
            ),
            (
                "modules.alias",
                "alias crc32c crc32c_intel\nalias crc32c-generic crc32c_generic\n\
                 alias crc32c crc32c_generic\n",
            ),
        ];
        for (name, text) in files {
            std::fs::write(base.join(name), text).unwrap();
        }
        let got = tree.soft_pre_deps("libcrc32c").unwrap();
        let names: Vec<String> = got
            .iter()
            .map(|(p, d)| format!("{} {}", p.display(), d.len()))
            .collect();
        let none = tree.soft_pre_deps("xfs").unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(none.is_empty(), "xfs has only a post: softdep");
        assert_eq!(
            names,
            [
                format!(
                    "{} 0",
                    base.join("kernel/arch/crc32c_intel.ko.xz").display()
                ),
                format!(
                    "{} 1",
                    base.join("kernel/crypto/crc32c_generic.ko.xz").display()
                ),
            ]
        );
    }
}
