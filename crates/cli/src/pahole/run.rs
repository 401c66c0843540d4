//! Running a pahole-style invocation: `--version`, `--supported_btf_features`, and `-J`.

use std::process::ExitCode;

use anyhow::{bail, Result};

use super::args::parse;
use super::features::Features;

/// The pahole version kbtf reports by default. kbuild turns `--version` into a number
/// (`scripts/pahole-version.sh`) and enables BTF flags by it; 1.24 is the version whose
/// behaviour kbtf's defaults follow.
pub const DEFAULT_PAHOLE_VERSION: &str = "v1.24";
/// Environment variable to report another pahole version (e.g. `v1.28` to make kbuild pass
/// `--btf_features`).
pub const VERSION_ENV: &str = "KBTF_PAHOLE_VERSION";

/// Whether this invocation is pahole's rather than one of kbtf's subcommands.
pub fn is_pahole_invocation(argv0: &str, first: Option<&str>) -> bool {
    let name = std::path::Path::new(argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    name == "pahole" || first.is_some_and(|a| a.starts_with('-') && a != "-h" && a != "--help")
}

pub fn main(args: &[String]) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kbtf: error: {e:#}");
            ExitCode::from(crate::EXIT_TROUBLE)
        }
    }
}

/// The pahole version kbtf reports: `KBTF_PAHOLE_VERSION`, or [`DEFAULT_PAHOLE_VERSION`].
fn reported_version() -> String {
    std::env::var(VERSION_ENV).unwrap_or_else(|_| DEFAULT_PAHOLE_VERSION.to_owned())
}

/// `(major, minor)` of the version kbtf reports, whose rules it follows where pahole's
/// defaults changed (1.28's per-CPU variables, 1.30's function lookup). An unset variable
/// is 1.24.
pub fn rules_version() -> Result<(u32, u32)> {
    let v = reported_version();
    parse_version(&v)
        .ok_or_else(|| anyhow::anyhow!("{VERSION_ENV}={v:?}: not a pahole version such as v1.30"))
}

/// `v1.30` (or `1.30`) as `(1, 30)`.
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.strip_prefix('v').unwrap_or(v).split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

fn run(args: &[String]) -> Result<()> {
    let a = parse(args)?;
    if a.version {
        println!("{}", reported_version());
        return Ok(());
    }
    if a.supported_features {
        println!("{}", Features::NAMES.join(","));
        return Ok(());
    }
    if !a.encode {
        bail!("kbtf only encodes BTF in pahole mode: pass -J (or --btf_encode_detached=FILE)");
    }
    super::encode::run(&a)
}
