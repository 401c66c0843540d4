//! Cache locations (`~/.cache/kbtf` or `$KBTF_CACHE`) and the key=value index file.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub fn root() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("KBTF_CACHE") {
        return Ok(PathBuf::from(d));
    }
    let home = std::env::var_os("HOME").context("neither KBTF_CACHE nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cache/kbtf"))
}

pub fn debs_dir() -> Result<PathBuf> {
    Ok(root()?.join("debs"))
}

pub fn kernels_dir() -> Result<PathBuf> {
    Ok(root()?.join("kernels"))
}

pub fn index_path() -> Result<PathBuf> {
    Ok(kernels_dir()?.join("index.txt"))
}

/// One of the two Debian kernels the tasks run on: its version, and the prefix of its keys in
/// the index (`kernel61_dbg_vmlinux`, `kernel612_dir`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernel {
    pub name: &'static str,
    pub key: &'static str,
    /// How tasks' `--kernel` flags and the out-of-tree keys (`oot61_ko`) name it.
    pub flag: &'static str,
}

/// Debian's 6.1 cloud kernel, on which issue 6's targets are stated.
pub const KERNEL61: Kernel = Kernel {
    name: "6.1",
    key: "kernel61",
    flag: "61",
};

/// Debian's 6.12 cloud kernel (bookworm-backports).
pub const KERNEL612: Kernel = Kernel {
    name: "6.12",
    key: "kernel612",
    flag: "612",
};

/// Both kernels, 6.1 first.
pub const KERNELS: [Kernel; 2] = [KERNEL61, KERNEL612];

impl Kernel {
    /// The kernel a `--kernel` flag names (`61`, `612`).
    pub fn from_flag(flag: &str) -> Result<Kernel> {
        match KERNELS.iter().find(|k| k.flag == flag) {
            Some(k) => Ok(*k),
            None => bail!(
                "--kernel {flag}: expected one of {}",
                KERNELS.map(|k| k.flag).join(", ")
            ),
        }
    }

    /// The index's value for this kernel's `what` (`dbg_vmlinux`, `vmlinux_btf`, ...), as a
    /// path.
    pub fn path(&self, index: &Index, what: &str) -> Result<PathBuf> {
        index.path(&format!("{}_{what}", self.key))
    }
}

/// Ordered key=value pairs, as written to `index.txt`.
#[derive(Debug, Default)]
pub struct Index {
    pub entries: Vec<(String, String)>,
}

impl Index {
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = value,
            None => self.entries.push((key.to_string(), value)),
        }
    }

    pub fn set_path(&mut self, key: &str, p: &Path) {
        self.set(key, p.display().to_string());
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn load() -> Result<Index> {
        let p = index_path()?;
        let text = std::fs::read_to_string(&p).with_context(|| {
            format!("reading {} (run `cargo xtask testdata` first)", p.display())
        })?;
        Self::parse(&text).with_context(|| format!("parsing {}", p.display()))
    }

    pub fn parse(text: &str) -> Result<Index> {
        let mut idx = Index::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                bail!("line {}: expected key=value, got {line:?}", n + 1);
            };
            idx.set(k.trim(), v.trim());
        }
        Ok(idx)
    }

    /// Writes atomically (temp file + rename).
    pub fn save(&self) -> Result<PathBuf> {
        let p = index_path()?;
        let mut text = String::from(
            "# kbtf test kernels, written by `cargo xtask testdata`; key=value, one per line\n",
        );
        for (k, v) in &self.entries {
            text.push_str(&format!("{k}={v}\n"));
        }
        crate::util::write_atomic(&p, text.as_bytes())?;
        Ok(p)
    }

    /// Value for `key`, as a path, with an error naming the index if it is absent.
    pub fn path(&self, key: &str) -> Result<PathBuf> {
        match self.get(key) {
            Some(v) => Ok(PathBuf::from(v)),
            None => bail!("key {key} missing from {}", index_path()?.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_parse() {
        let i = Index::parse("# c\n\na=1\nb = /x/y\na=2\n").unwrap();
        assert_eq!(i.get("a"), Some("2"));
        assert_eq!(i.get("b"), Some("/x/y"));
        assert!(Index::parse("junk\n").is_err());
    }

    #[test]
    fn kernel_keys() {
        let i = Index::parse("kernel61_dir=/k61\nkernel612_dbg_vmlinux=/v612\n").unwrap();
        assert_eq!(KERNEL61.path(&i, "dir").unwrap(), PathBuf::from("/k61"));
        assert_eq!(
            KERNEL612.path(&i, "dbg_vmlinux").unwrap(),
            PathBuf::from("/v612")
        );
        let missing = KERNEL612.path(&i, "dir").unwrap_err().to_string();
        assert!(missing.contains("kernel612_dir"), "{missing}");
        assert_eq!(Kernel::from_flag("612").unwrap(), KERNEL612);
        let bad = Kernel::from_flag("6.1").unwrap_err().to_string();
        assert!(bad.contains("61, 612"), "{bad}");
    }
}
