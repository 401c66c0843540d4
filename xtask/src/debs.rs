//! Which Debian kernel packages to use, and fetching/unpacking them into the cache.

use crate::util;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const DEFAULT_K61: &str = "6.1.0-56";
pub const DEFAULT_K61_OLD: &str = "6.1.0-55";
pub const DEFAULT_K612: &str = "6.12.117+deb12";

pub fn image_pkg(abi: &str) -> String {
    format!("linux-image-{abi}-cloud-amd64")
}

pub fn dbg_pkg(abi: &str) -> String {
    format!("linux-image-{abi}-cloud-amd64-dbg")
}

/// A `.deb` of `pkg` already in `debs`, newest version first if several.
pub fn local_deb(debs: &Path, pkg: &str) -> Result<Option<PathBuf>> {
    if !debs.is_dir() {
        return Ok(None);
    }
    let prefix = format!("{pkg}_");
    let mut found: Vec<PathBuf> = Vec::new();
    for e in std::fs::read_dir(debs).with_context(|| format!("listing {}", debs.display()))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(".deb") {
            found.push(e.path());
        }
    }
    found.sort();
    Ok(found.pop())
}

fn in_archive(pkg: &str) -> bool {
    Command::new("apt-cache")
        .args(["show", "--no-all-versions", pkg])
        .output()
        .map(|o| o.status.success() && !o.stdout.is_empty())
        .unwrap_or(false)
}

fn available(debs: &Path, pkg: &str) -> Result<bool> {
    Ok(local_deb(debs, pkg)?.is_some() || in_archive(pkg))
}

/// Package names from `apt-cache search --names-only RE`.
fn search(re: &str) -> Result<Vec<String>> {
    let out = util::stdout_string(Command::new("apt-cache").args(["search", "--names-only", re]))?;
    Ok(out
        .lines()
        .filter_map(|l| l.split(" - ").next())
        .map(|s| s.trim().to_string())
        .collect())
}

/// ABI numbers N of `linux-image-6.1.0-N-cloud-amd64` in the archive (image, and with -dbg).
fn archive_61() -> Result<(Vec<u32>, Vec<u32>)> {
    Ok(parse_61(&search("linux-image-6.1.0-.*-cloud-amd64")?))
}

/// Sorted ABI numbers of 6.1 cloud images and of their -dbg packages among `names`.
fn parse_61(names: &[String]) -> (Vec<u32>, Vec<u32>) {
    let mut img = Vec::new();
    let mut dbg = Vec::new();
    for name in names {
        let Some(rest) = name.strip_prefix("linux-image-6.1.0-") else {
            continue;
        };
        let Some((n, tail)) = rest.split_once('-') else {
            continue;
        };
        let Ok(n) = n.parse::<u32>() else { continue };
        match tail {
            "cloud-amd64" => img.push(n),
            "cloud-amd64-dbg" => dbg.push(n),
            _ => {}
        }
    }
    img.sort();
    dbg.sort();
    (img, dbg)
}

/// Newest `linux-image-6.12.X+deb12-cloud-amd64` (signed image) in the archive.
fn archive_612() -> Result<Option<String>> {
    Ok(parse_612(&search("linux-image-6.12.*-cloud-amd64")?))
}

/// ABI (`6.12.X+deb12`) of the newest signed 6.12 cloud image among `names`.
fn parse_612(names: &[String]) -> Option<String> {
    names
        .iter()
        .filter_map(|name| {
            let x = name
                .strip_prefix("linux-image-6.12.")?
                .strip_suffix("+deb12-cloud-amd64")?;
            x.parse::<u32>().ok()
        })
        .max()
        .map(|x| format!("6.12.{x}+deb12"))
}

#[derive(Debug, Clone)]
pub struct Versions {
    pub k61: String,
    pub k61_old: String,
    pub k612: String,
}

/// Resolves the ABI versions to use. Explicit choices (flag or env) are used as given;
/// defaults fall back to the nearest available in the archive when missing.
pub fn resolve(
    debs: &Path,
    k61: Option<String>,
    k61_old: Option<String>,
    k612: Option<String>,
) -> Result<Versions> {
    let explicit61 = k61.is_some();
    let mut v61 = k61.unwrap_or_else(|| DEFAULT_K61.to_string());
    let have = |v: &str| -> Result<bool> {
        Ok(available(debs, &image_pkg(v))? && available(debs, &dbg_pkg(v))?)
    };
    if !explicit61 && !have(&v61)? {
        let (img, dbg) = archive_61()?;
        let Some(n) = img.iter().rev().find(|n| dbg.contains(n)) else {
            bail!("no linux-image-6.1.0-N-cloud-amd64 with a -dbg package found (run apt-get update?)");
        };
        eprintln!("note: {} not available, using 6.1.0-{n}", image_pkg(&v61));
        v61 = format!("6.1.0-{n}");
    }
    let v61_old = match k61_old {
        Some(v) => v,
        None => {
            let default_ok = v61 == DEFAULT_K61 && available(debs, &image_pkg(DEFAULT_K61_OLD))?;
            if default_ok {
                DEFAULT_K61_OLD.to_string()
            } else {
                let cur: u32 = v61
                    .strip_prefix("6.1.0-")
                    .and_then(|n| n.parse().ok())
                    .with_context(|| format!("cannot parse ABI number from {v61}"))?;
                let (img, _) = archive_61()?;
                let Some(n) = img.iter().rev().find(|&&n| n < cur) else {
                    bail!("no linux-image-6.1.0-N-cloud-amd64 older than {v61} in the archive");
                };
                eprintln!("note: using 6.1.0-{n} as the older 6.1 build");
                format!("6.1.0-{n}")
            }
        }
    };
    let v612 = match k612 {
        Some(v) => v,
        None if available(debs, &image_pkg(DEFAULT_K612))? => DEFAULT_K612.to_string(),
        None => {
            let Some(v) = archive_612()? else {
                bail!("no linux-image-6.12.*+deb12-cloud-amd64 found (run apt-get update?)");
            };
            eprintln!("note: {} not available, using {v}", image_pkg(DEFAULT_K612));
            v
        }
    };
    Ok(Versions {
        k61: v61,
        k61_old: v61_old,
        k612: v612,
    })
}

/// Returns the `.deb` of `pkg` in `debs`, downloading it with `apt-get download` if absent.
pub fn fetch(debs: &Path, pkg: &str) -> Result<PathBuf> {
    if let Some(p) = local_deb(debs, pkg)? {
        println!("have     {}", p.display());
        return Ok(p);
    }
    std::fs::create_dir_all(debs).with_context(|| format!("creating {}", debs.display()))?;
    println!("download {pkg} into {}", debs.display());
    util::run(
        Command::new("apt-get")
            .args(["download", pkg])
            .current_dir(debs),
    )
    .with_context(|| format!("downloading {pkg} (apt-get update may be needed)"))?;
    match local_deb(debs, pkg)? {
        Some(p) => Ok(p),
        None => bail!(
            "apt-get download {pkg} left no {pkg}_*.deb in {}",
            debs.display()
        ),
    }
}

/// `dpkg-deb -f DEB Version`.
pub fn deb_version(deb: &Path) -> Result<String> {
    Ok(
        util::stdout_string(Command::new("dpkg-deb").arg("-f").arg(deb).arg("Version"))?
            .trim()
            .to_string(),
    )
}

/// Unpacks `deb` into `dest` unless `dest` exists. Unpacks into a temp sibling, runs
/// `finish` on it, then renames, so an interrupted run never looks done.
pub fn unpack(deb: &Path, dest: &Path, finish: impl FnOnce(&Path) -> Result<()>) -> Result<bool> {
    if dest.is_dir() {
        return Ok(false);
    }
    let parent = dest.parent().context("unpack destination has no parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let name = dest
        .file_name()
        .context("unpack destination has no name")?
        .to_string_lossy();
    // Leftovers of interrupted runs.
    let stale = format!(".unpack-{name}-");
    for e in std::fs::read_dir(parent)? {
        let e = e?;
        if e.file_name().to_string_lossy().starts_with(&stale) {
            eprintln!("removing leftover {}", e.path().display());
            std::fs::remove_dir_all(e.path())
                .with_context(|| format!("removing {}", e.path().display()))?;
        }
    }
    let tmp = parent.join(format!("{stale}{}", std::process::id()));
    println!("unpack   {} -> {}", deb.display(), dest.display());
    util::run(Command::new("dpkg").arg("-x").arg(deb).arg(&tmp))?;
    finish(&tmp).with_context(|| format!("preparing unpacked {}", deb.display()))?;
    std::fs::rename(&tmp, dest)
        .with_context(|| format!("renaming {} to {}", tmp.display(), dest.display()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn picks_versions_from_apt_cache_names() {
        let n = names(
            "linux-image-6.1.0-47-cloud-amd64-dbg linux-image-6.1.0-47-cloud-amd64-unsigned \
             linux-image-6.1.0-47-cloud-amd64 linux-image-6.1.0-56-cloud-amd64 \
             linux-image-6.1.0-55-cloud-amd64-dbg linux-image-6.1.0-55-cloud-amd64",
        );
        let (img, dbg) = parse_61(&n);
        assert_eq!(img, [47, 55, 56]);
        assert_eq!(dbg, [47, 55]);
        let n = names(
            "linux-image-6.12-cloud-amd64 linux-image-6.12.117+deb12-cloud-amd64-dbg \
             linux-image-6.12.99+deb12-cloud-amd64 linux-image-6.12.115+deb12-cloud-amd64 \
             linux-image-6.12.117+deb12-cloud-amd64-unsigned",
        );
        assert_eq!(parse_612(&n).as_deref(), Some("6.12.115+deb12"));
        assert_eq!(parse_612(&[]), None);
    }
}
