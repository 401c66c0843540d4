//! `cargo xtask pahole-next`: Debian 13's pahole (1.30), the reference for the `--btf_features`
//! that pahole 1.24 does not have (`decl_tag_kfuncs`), run on Debian 12 without installing
//! anything.
//!
//! It reads trixie's package index from the mirror, downloads `pahole` and the libraries it
//! runs with (trixie's own C library and loader included), checks each `.deb` against the
//! index's SHA-256, unpacks them with `dpkg -x` under `~/.cache/kbtf/pahole-next/root`, and
//! writes `~/.cache/kbtf/pahole-next/pahole`: a script that runs the binary through trixie's
//! loader with trixie's libraries only (`--inhibit-cache`, so the host's `ld.so.cache` is not
//! read). Done once; later runs check the wrapper's `--version` and return.

use crate::args::{Args, Positionals};
use crate::{cache, mirror, util};
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const USAGE: &str = "\
cargo xtask pahole-next [--mirror URL]

Fetches Debian 13 (trixie)'s pahole and the libraries it needs into ~/.cache/kbtf/pahole-next,
checked against trixie's package index, and writes ~/.cache/kbtf/pahole-next/pahole, which runs
it through trixie's own loader; nothing is installed. Prints the wrapper's path and version.
--mirror: the Debian mirror (default http://deb.debian.org/debian).";

const SUITE: &str = "trixie";
/// `pahole` and what its binary links, recursively (checked when it runs).
const PACKAGES: &[&str] = &[
    "pahole",
    "libc6",
    "libgcc-s1",
    "libdw1t64",
    "libelf1t64",
    "libbpf1",
    "zlib1g",
    "libzstd1",
    "liblzma5",
    "libbz2-1.0",
];

pub fn main(raw: &[String]) -> Result<()> {
    let Some(a) = Args::task(raw, &["mirror"], &[], Positionals::None, USAGE)? else {
        return Ok(());
    };
    let mirror = a.opt("mirror").unwrap_or(mirror::DEFAULT);
    let (wrapper, version) = fetch(mirror)?;
    println!("{} ({version})", wrapper.display());
    Ok(())
}

/// The cache directory everything goes into.
fn dir() -> Result<PathBuf> {
    Ok(cache::root()?.join("pahole-next"))
}

/// Where the wrapper is once fetched.
pub fn wrapper_path() -> Result<PathBuf> {
    Ok(dir()?.join("pahole"))
}

/// The wrapper's `--version` (`v1.30`).
pub fn version(wrapper: &Path) -> Result<String> {
    Ok(util::stdout_string(Command::new(wrapper).arg("--version"))?
        .trim()
        .to_string())
}

/// Fetches and unpacks what is missing; returns the wrapper and its version.
fn fetch(mirror: &str) -> Result<(PathBuf, String)> {
    let wrapper = wrapper_path()?;
    if wrapper.is_file() {
        if let Ok(v) = version(&wrapper) {
            return Ok((wrapper, v));
        }
    }
    let dir = dir()?;
    let debs = dir.join("debs");
    let root = dir.join("root");
    let index = mirror::Index::fetch(mirror, SUITE, "amd64", &dir.join("Packages.xz"))?;
    if root.exists() {
        std::fs::remove_dir_all(&root).with_context(|| format!("removing {}", root.display()))?;
    }
    for name in PACKAGES {
        let deb = index.download(index.stanza(name)?, &debs)?;
        util::run(Command::new("dpkg").arg("-x").arg(&deb).arg(&root))?;
    }
    let loader = root.join("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
    let libs = root.join("usr/lib/x86_64-linux-gnu");
    let binary = root.join("usr/bin/pahole");
    for p in [&loader, &binary] {
        ensure!(p.exists(), "{}: not unpacked", p.display());
    }
    let script = format!(
        "#!/bin/sh\n# Debian {SUITE}'s pahole through {SUITE}'s loader and libraries (cargo xtask pahole-next).\nexec '{}' --inhibit-cache --library-path '{}' --argv0 pahole '{}' \"$@\"\n",
        loader.display(),
        libs.display(),
        binary.display()
    );
    util::write_atomic(&wrapper, script.as_bytes())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("chmod {}", wrapper.display()))?;
    let v = version(&wrapper).context("the unpacked pahole does not run")?;
    if !v.starts_with("v1.") {
        bail!("{}: unexpected version {v:?}", wrapper.display());
    }
    Ok((wrapper, v))
}
