//! Packages straight from a Debian mirror's index, for what this machine's apt sources do
//! not list: trixie's pahole (`pahole-next`), bookworm-backports' s390x kernel (`s390x`).
//! Each `.deb` is checked against the index's SHA-256; nothing is installed.

use crate::util;
use anyhow::{ensure, Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const DEFAULT: &str = "http://deb.debian.org/debian";

/// Downloads `url` to `to`.
pub fn curl(url: &str, to: &Path) -> Result<()> {
    util::run(
        Command::new("curl")
            .args(["-fsSL", "--retry", "3", "-o"])
            .arg(to)
            .arg(url),
    )
}

/// One suite's package index for one architecture (`dists/SUITE/main/binary-ARCH/Packages.xz`).
pub struct Index {
    mirror: String,
    url: String,
    text: String,
}

impl Index {
    /// Fetches the index into `save_as` (kept as the last index read) and reads it.
    pub fn fetch(mirror: &str, suite: &str, arch: &str, save_as: &Path) -> Result<Index> {
        let url = format!("{mirror}/dists/{suite}/main/binary-{arch}/Packages.xz");
        println!("== {url}");
        if let Some(dir) = save_as.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        curl(&url, save_as)?;
        let text = util::stdout_string(Command::new("xz").arg("-dc").arg(save_as))
            .with_context(|| format!("reading {url}"))?;
        Ok(Index {
            mirror: mirror.to_string(),
            url,
            text,
        })
    }

    /// The stanzas by package name (the last one where a name has several).
    pub fn packages(&self) -> HashMap<&str, &str> {
        packages(&self.text)
    }

    /// The stanza of `name`.
    pub fn stanza(&self, name: &str) -> Result<&str> {
        self.packages()
            .get(name)
            .copied()
            .with_context(|| format!("{name}: not in {}", self.url))
    }

    /// Downloads the `.deb` of `stanza` into `debs` unless a file of the right SHA-256 is
    /// there already; returns its path.
    pub fn download(&self, stanza: &str, debs: &Path) -> Result<PathBuf> {
        let (file, sha) = (field(stanza, "Filename")?, field(stanza, "SHA256")?);
        std::fs::create_dir_all(debs).with_context(|| format!("creating {}", debs.display()))?;
        let deb = debs.join(file.rsplit('/').next().unwrap_or(file));
        if !deb.is_file() || util::sha256(&deb)? != sha {
            println!(
                "== {} {}",
                field(stanza, "Package")?,
                field(stanza, "Version")?
            );
            curl(&format!("{}/{file}", self.mirror), &deb)?;
        }
        let got = util::sha256(&deb)?;
        ensure!(
            got == sha,
            "{}: SHA-256 {got}, the index says {sha}",
            deb.display()
        );
        Ok(deb)
    }
}

/// The stanzas of an index's text by package name.
fn packages(index: &str) -> HashMap<&str, &str> {
    index
        .split("\n\n")
        .filter_map(|s| {
            let name = s.lines().find_map(|l| l.strip_prefix("Package: "))?;
            Some((name.trim(), s))
        })
        .collect()
}

/// The value of field `name` in `stanza`.
pub fn field<'a>(stanza: &'a str, name: &str) -> Result<&'a str> {
    let prefix = format!("{name}: ");
    stanza
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(str::trim)
        .with_context(|| format!("no {name} in the index's stanza:\n{stanza}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanzas_and_fields() {
        let index =
            "Package: a\nVersion: 1\nFilename: pool/a.deb\nSHA256: 00\n\nPackage: b\nVersion: 2\n";
        let p = packages(index);
        assert_eq!(field(p["a"], "Filename").unwrap(), "pool/a.deb");
        assert_eq!(field(p["b"], "Version").unwrap(), "2");
        assert!(field(p["b"], "SHA256").is_err());
        assert!(!p.contains_key("c"));
    }
}
