//! `kbtf diff`: compare two BTFs by meaning, independent of type ids.

use std::path::PathBuf;

use anyhow::{Context, Result};
use kbtf_btf::diff::{diff, DiffOptions};

use crate::input;

/// Compare two BTFs by meaning, independent of type ids.
///
/// Equal means the same multiset of types, each compared through its references by structure
/// and name, whatever the type ids and string order. Exit 0 when they hold the same types, 1
/// (with one line per difference) when not, 2 when an input cannot be read.
#[derive(clap::Args)]
pub struct Args {
    /// First BTF: raw BTF or ELF with a .BTF section.
    a: PathBuf,
    /// Second BTF: raw BTF or ELF with a .BTF section.
    b: PathBuf,
    /// Base BTF for both A and B when they are split BTF (module BTF).
    #[arg(long, short = 'B')]
    base: Option<PathBuf>,
    /// Base for A only (overrides --base), e.g. when comparing modules built for two kernels.
    #[arg(long)]
    base_a: Option<PathBuf>,
    /// Base for B only (overrides --base).
    #[arg(long)]
    base_b: Option<PathBuf>,
    /// Also compare the bases' types, not only the split BTF's own.
    #[arg(long)]
    include_base: bool,
}

pub fn run(args: Args) -> Result<u8> {
    let base = input::base(args.base.as_deref())?;
    let base_a = match &args.base_a {
        Some(p) => input::base(Some(p)).context("reading --base-a")?,
        None => base.clone(),
    };
    let base_b = match &args.base_b {
        Some(p) => input::base(Some(p)).context("reading --base-b")?,
        None => base,
    };
    let a = input::btf(&args.a, base_a)?;
    let b = input::btf(&args.b, base_b)?;
    let d = diff(
        &a.btf,
        &b.btf,
        &DiffOptions {
            include_base: args.include_base,
        },
    );
    if d.is_empty() {
        println!("identical by meaning: {} types", d.stats.types_a);
        return Ok(crate::EXIT_OK);
    }
    print!("{d}");
    println!(
        "{} difference{}",
        d.len(),
        if d.len() == 1 { "" } else { "s" }
    );
    Ok(crate::EXIT_FOUND)
}
