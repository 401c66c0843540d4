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
    /// `root` is an unpacked linux-image package (has boot/vmlinuz-*).
    pub fn open(root: &Path) -> Result<KernelTree> {
        let vmlinuz = util::single_entry(&root.join("boot"), "vmlinuz-").with_context(|| {
            format!(
                "{}: not an unpacked linux-image package (no boot/vmlinuz-*)",
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
        let release = fname.strip_prefix("vmlinuz-").unwrap_or("").to_string();
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
