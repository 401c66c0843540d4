//! Debian's `linux-headers-RELEASE` packages (with their `-common` and `linux-kbuild-*`
//! companions) unpacked into the cache so that `make -C <headers dir> M=...` works in place,
//! without installing them: absolute symlinks and the flavour Makefile's absolute
//! `include /usr/src/...` are rewritten to point inside the unpacked tree.

use crate::cache::Index;
use crate::debs;
use anyhow::{bail, Context, Result};
use std::path::{Component, Path, PathBuf};

/// Fetches and unpacks the headers of kernel `release` (package version `version`) into
/// `kernels/linux-headers-RELEASE`, and records `{prefix}_headers_*` in `idx`.
pub fn fetch(
    debs_dir: &Path,
    kernels: &Path,
    release: &str,
    version: &str,
    prefix: &str,
    idx: &mut Index,
) -> Result<PathBuf> {
    let pkg = format!("linux-headers-{release}");
    let deb = debs::fetch_version(debs_dir, &pkg, version)?;
    let depends = debs::deb_field(&deb, "Depends")?;
    let (common, kbuild) = debs::headers_companions(&depends)
        .with_context(|| format!("reading the Depends of {}", deb.display()))?;
    // The companions are built from the same source package, at the same version.
    let common_deb = debs::fetch_version(debs_dir, &common, version)?;
    let kbuild_deb = debs::fetch_version(debs_dir, &kbuild, version)?;
    let root = kernels.join(&pkg);
    let rel_dir = Path::new("usr/src").join(&pkg);
    debs::unpack_all(&[&deb, &common_deb, &kbuild_deb], &root, |tmp| {
        make_usable_in_place(tmp, &rel_dir)
    })?;
    let dir = root.join(&rel_dir);
    if !dir.join("Makefile").is_file() {
        bail!(
            "{}: no Makefile; is {} a linux-headers package?",
            dir.display(),
            deb.display()
        );
    }
    idx.set(
        &format!("{prefix}_headers_pkgs"),
        format!("{pkg}={version} {common}={version} {kbuild}={version}"),
    );
    idx.set_path(&format!("{prefix}_headers_root"), &root);
    idx.set_path(&format!("{prefix}_headers_dir"), &dir);
    Ok(dir)
}

/// Rewrites, under the unpacked tree `root`, every absolute symlink whose target is inside
/// the tree to a relative one, and the `include /ABS/Makefile` lines of the flavour's
/// `Makefile` (`root/flavour_dir/Makefile`) to includes relative to that Makefile.
fn make_usable_in_place(root: &Path, flavour_dir: &Path) -> Result<()> {
    let mut rewritten = 0;
    let mut outside = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let e = e.with_context(|| format!("listing {}", dir.display()))?;
            let ft = e.file_type()?;
            let p = e.path();
            if ft.is_dir() {
                stack.push(p);
                continue;
            }
            if !ft.is_symlink() {
                continue;
            }
            let target =
                std::fs::read_link(&p).with_context(|| format!("reading link {}", p.display()))?;
            let Ok(inner) = target.strip_prefix("/") else {
                continue;
            };
            if !root.join(inner).exists() {
                outside.push(format!("{} -> {}", p.display(), target.display()));
                continue;
            }
            let link_dir = p
                .parent()
                .and_then(|d| d.strip_prefix(root).ok())
                .context("symlink outside the unpacked tree")?;
            let rel = relative(link_dir, inner);
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            std::os::unix::fs::symlink(&rel, &p)
                .with_context(|| format!("linking {} -> {}", p.display(), rel.display()))?;
            rewritten += 1;
        }
    }
    for o in &outside {
        println!("note     absolute symlink left as is (target not in the package): {o}");
    }

    let mk = root.join(flavour_dir).join("Makefile");
    let text = std::fs::read_to_string(&mk).with_context(|| format!("reading {}", mk.display()))?;
    let mut out = String::new();
    let mut includes = 0;
    for line in text.lines() {
        let abs = line
            .strip_prefix("include ")
            .map(str::trim)
            .filter(|t| t.starts_with('/'));
        match abs {
            Some(t) if root.join(&t[1..]).is_file() => {
                let rel = relative(flavour_dir, Path::new(&t[1..]));
                // Relative to this Makefile, so that it works with any -C or -f.
                out.push_str(&format!(
                    "include $(dir $(lastword $(MAKEFILE_LIST))){}\n",
                    rel.display()
                ));
                includes += 1;
            }
            Some(t) => bail!(
                "{}: includes {t}, which is not in the unpacked packages",
                mk.display()
            ),
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    if includes > 0 {
        std::fs::write(&mk, out).with_context(|| format!("writing {}", mk.display()))?;
    }
    println!(
        "fix      {rewritten} absolute symlink(s) and {includes} include(s) made relative in {}",
        root.display()
    );
    Ok(())
}

/// The relative path from directory `from` to `to`, both relative to the same root.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let f: Vec<Component> = from.components().collect();
    let t: Vec<Component> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        let r = |a: &str, b: &str| relative(Path::new(a), Path::new(b)).display().to_string();
        assert_eq!(
            r(
                "lib/modules/6.1.0-56-cloud-amd64",
                "usr/src/linux-headers-6.1.0-56-cloud-amd64"
            ),
            "../../../usr/src/linux-headers-6.1.0-56-cloud-amd64"
        );
        assert_eq!(
            r(
                "usr/src/linux-headers-x",
                "usr/src/linux-headers-common/Makefile"
            ),
            "../linux-headers-common/Makefile"
        );
        assert_eq!(r("a/b", "a/b/c"), "c");
        assert_eq!(r("a/b", "a/b"), ".");
    }

    #[test]
    fn rewrites_absolute_links_and_includes() {
        let t = std::env::temp_dir().join(format!("kbtf-headers-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&t);
        let flav = Path::new("usr/src/linux-headers-x-cloud");
        std::fs::create_dir_all(t.join(flav)).unwrap();
        std::fs::create_dir_all(t.join("usr/src/linux-headers-x-common")).unwrap();
        std::fs::create_dir_all(t.join("lib/modules/x")).unwrap();
        std::fs::write(t.join("usr/src/linux-headers-x-common/Makefile"), "all:\n").unwrap();
        std::fs::write(
            t.join(flav).join("Makefile"),
            "include /usr/src/linux-headers-x-common/Makefile\n",
        )
        .unwrap();
        std::os::unix::fs::symlink(
            "/usr/src/linux-headers-x-cloud",
            t.join("lib/modules/x/build"),
        )
        .unwrap();
        std::os::unix::fs::symlink("/nowhere", t.join("lib/modules/x/source")).unwrap();
        make_usable_in_place(&t, flav).unwrap();
        assert_eq!(
            std::fs::read_link(t.join("lib/modules/x/build")).unwrap(),
            Path::new("../../../usr/src/linux-headers-x-cloud")
        );
        assert!(t.join("lib/modules/x/build/Makefile").is_file());
        assert_eq!(
            std::fs::read_link(t.join("lib/modules/x/source")).unwrap(),
            Path::new("/nowhere")
        );
        assert_eq!(
            std::fs::read_to_string(t.join(flav).join("Makefile")).unwrap(),
            "include $(dir $(lastword $(MAKEFILE_LIST)))../linux-headers-x-common/Makefile\n"
        );
        std::fs::write(
            t.join(flav).join("Makefile"),
            "include /usr/src/gone/Makefile\n",
        )
        .unwrap();
        assert!(make_usable_in_place(&t, flav).is_err());
        std::fs::remove_dir_all(&t).unwrap();
    }
}
