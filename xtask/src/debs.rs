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
    local_deb_ending(debs, pkg, ".deb")
}

/// [`local_deb`] for names ending in `suffix` (`_arm64.deb` for one architecture's).
fn local_deb_ending(debs: &Path, pkg: &str, suffix: &str) -> Result<Option<PathBuf>> {
    if !debs.is_dir() {
        return Ok(None);
    }
    let prefix = format!("{pkg}_");
    let mut found: Vec<PathBuf> = Vec::new();
    for e in std::fs::read_dir(debs).with_context(|| format!("listing {}", debs.display()))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(suffix) {
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

/// Returns the `.deb` of `pkg` for the foreign architecture `arch` (`arm64`) in `debs`,
/// downloading it with `apt-get download PKG:ARCH` if absent. apt must know the
/// architecture: `dpkg --add-architecture ARCH && apt-get update` (`.ci/run` does it).
pub fn fetch_foreign(debs: &Path, pkg: &str, arch: &str) -> Result<PathBuf> {
    let suffix = format!("_{arch}.deb");
    let find = || local_deb_ending(debs, pkg, &suffix);
    if let Some(p) = find()? {
        println!("have     {}", p.display());
        return Ok(p);
    }
    let foreign = util::stdout_string(Command::new("dpkg").arg("--print-foreign-architectures"))?;
    if !foreign.split_whitespace().any(|a| a == arch) {
        bail!(
            "apt does not know the {arch} architecture, needed for {pkg}:{arch}: run \
             `dpkg --add-architecture {arch} && apt-get update` (as .ci/run does)"
        );
    }
    std::fs::create_dir_all(debs).with_context(|| format!("creating {}", debs.display()))?;
    println!("download {pkg}:{arch} into {}", debs.display());
    util::run(
        Command::new("apt-get")
            .args(["download", &format!("{pkg}:{arch}")])
            .current_dir(debs),
    )
    .with_context(|| format!("downloading {pkg}:{arch} (apt-get update may be needed)"))?;
    match find()? {
        Some(p) => Ok(p),
        None => bail!(
            "apt-get download {pkg}:{arch} left no {pkg}_*_{arch}.deb in {}",
            debs.display()
        ),
    }
}

/// The `.deb` file name `apt-get download` gives `pkg` at `version` (an epoch's `:` is
/// written `%3a`), without the architecture part.
fn deb_prefix(pkg: &str, version: &str) -> String {
    format!("{pkg}_{}_", version.replace(':', "%3a"))
}

/// Returns the `.deb` of `pkg` at exactly `version` in `debs`, downloading it with
/// `apt-get download PKG=VERSION` if absent. For packages with several versions in the
/// archive (`linux-kbuild-6.1`), where [`fetch`] could pick the wrong one.
pub fn fetch_version(debs: &Path, pkg: &str, version: &str) -> Result<PathBuf> {
    let prefix = deb_prefix(pkg, version);
    let find = || -> Result<Option<PathBuf>> {
        if !debs.is_dir() {
            return Ok(None);
        }
        for e in std::fs::read_dir(debs).with_context(|| format!("listing {}", debs.display()))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) && name.ends_with(".deb") {
                return Ok(Some(e.path()));
            }
        }
        Ok(None)
    };
    if let Some(p) = find()? {
        println!("have     {}", p.display());
        return Ok(p);
    }
    std::fs::create_dir_all(debs).with_context(|| format!("creating {}", debs.display()))?;
    println!("download {pkg}={version} into {}", debs.display());
    util::run(
        Command::new("apt-get")
            .arg("download")
            .arg(format!("{pkg}={version}"))
            .current_dir(debs),
    )
    .with_context(|| format!("downloading {pkg}={version} (apt-get update may be needed)"))?;
    match find()? {
        Some(p) => Ok(p),
        None => bail!(
            "apt-get download {pkg}={version} left no {prefix}*.deb in {}",
            debs.display()
        ),
    }
}

/// `dpkg-deb -f DEB FIELD`, trimmed (empty when the field is absent).
pub fn deb_field(deb: &Path, field: &str) -> Result<String> {
    Ok(
        util::stdout_string(Command::new("dpkg-deb").arg("-f").arg(deb).arg(field))?
            .trim()
            .to_string(),
    )
}

/// Package names in a `Depends` field (`a (= 1), b | c, d`), alternatives included,
/// version constraints and architecture qualifiers dropped.
pub fn depends_names(depends: &str) -> Vec<String> {
    depends
        .split([',', '|'])
        .filter_map(|d| {
            let name = d.trim().split([' ', '(', ':']).next()?.trim();
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

/// The packages a `linux-headers-RELEASE` package needs besides itself to build modules:
/// its `linux-headers-*-common` and `linux-kbuild-*` dependencies, by name.
pub fn headers_companions(depends: &str) -> Result<(String, String)> {
    let names = depends_names(depends);
    let common = names
        .iter()
        .find(|n| n.starts_with("linux-headers-") && n.ends_with("-common"))
        .with_context(|| format!("no linux-headers-*-common in Depends: {depends}"))?;
    let kbuild = names
        .iter()
        .find(|n| n.starts_with("linux-kbuild-"))
        .with_context(|| format!("no linux-kbuild-* in Depends: {depends}"))?;
    Ok((common.clone(), kbuild.clone()))
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
    unpack_all(&[deb], dest, finish)
}

/// [`unpack`] for several packages unpacked into one tree (`dpkg -x` each in turn).
pub fn unpack_all(
    debs: &[&Path],
    dest: &Path,
    finish: impl FnOnce(&Path) -> Result<()>,
) -> Result<bool> {
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
    for deb in debs {
        println!("unpack   {} -> {}", deb.display(), dest.display());
        util::run(Command::new("dpkg").arg("-x").arg(deb).arg(&tmp))?;
    }
    finish(&tmp).with_context(|| format!("preparing {} unpacked", dest.display()))?;
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

    #[test]
    fn finds_the_companions_of_a_headers_package() {
        // The Depends fields of Debian's 6.1.0-56 and 6.12.117 cloud headers packages.
        let d61 = "linux-headers-6.1.0-56-common (= 6.1.192-2), linux-kbuild-6.1 (>= 6.1.192-2), \
                   linux-compiler-gcc-12-x86";
        assert_eq!(
            headers_companions(d61).unwrap(),
            (
                "linux-headers-6.1.0-56-common".to_string(),
                "linux-kbuild-6.1".to_string()
            )
        );
        let d612 =
            "linux-base (>= 4.12~), linux-headers-6.12.117+deb12-common (= 6.12.117-1~deb12u1), \
                    linux-image-6.12.117+deb12-cloud-amd64 (= 6.12.117-1~deb12u1) | \
                    linux-image-6.12.117+deb12-cloud-amd64-unsigned (= 6.12.117-1~deb12u1), \
                    linux-kbuild-6.12.117+deb12, gcc-12";
        assert_eq!(
            headers_companions(d612).unwrap(),
            (
                "linux-headers-6.12.117+deb12-common".to_string(),
                "linux-kbuild-6.12.117+deb12".to_string()
            )
        );
        assert_eq!(
            depends_names("a:any (>= 1) | b, c"),
            ["a", "b", "c"].map(String::from)
        );
        assert!(headers_companions("linux-kbuild-6.1").is_err());
        assert_eq!(deb_prefix("p", "1:2.0-1~x"), "p_1%3a2.0-1~x_");
    }
}
