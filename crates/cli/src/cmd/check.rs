//! `kbtf check`: validate BTF by the kernel's rules, and catch a module built against a
//! different vmlinux.

use std::path::PathBuf;

use anyhow::Result;
use kbtf_btf::validate::{validate, Report};
use kbtf_btf::ReadError;

use crate::input;

/// Validate BTF by the kernel's rules, and catch a module built against another vmlinux.
///
/// Applies the rules of the kernel's BTF verifier (kernel/bpf/btf.c, Linux 6.1), then for split
/// BTF checks that it was built against the given base. Exit 0 when valid, 1 when not, 2 when
/// the input cannot be read.
#[derive(clap::Args)]
pub struct Args {
    /// Raw BTF file or ELF file with a .BTF section (vmlinux, .ko).
    file: PathBuf,
    /// Base BTF for split BTF (the vmlinux the module will be loaded with): raw BTF
    /// (/sys/kernel/btf/vmlinux) or ELF.
    #[arg(long, short = 'B')]
    base: Option<PathBuf>,
    /// Print at most this many problems (all are counted).
    #[arg(long, default_value_t = 100)]
    max_problems: usize,
}

pub fn run(args: Args) -> Result<u8> {
    let base = input::base(args.base.as_deref())?;
    let had_base = base.is_some();
    let file = match kbtf_btf::read_file(&args.file, base) {
        Ok(f) => f,
        // BTF that cannot even be parsed is invalid BTF; anything else is trouble.
        Err(e @ ReadError::Parse { .. }) => {
            println!("{}", input::describe(&e, had_base));
            println!("invalid: the kernel would reject this BTF");
            return Ok(crate::EXIT_FOUND);
        }
        Err(e) => anyhow::bail!("{}", input::describe(&e, had_base)),
    };
    let report = Report::new(validate(&file.btf), args.max_problems);
    print!("{report}");
    Ok(if report.is_ok() {
        crate::EXIT_OK
    } else {
        crate::EXIT_FOUND
    })
}
