//! `kbtf check`: validate BTF by the kernel's rules, catch a module built against a different
//! vmlinux, and report a module's signature (unsigned, valid, or no longer matching its bytes).

use std::path::PathBuf;

use anyhow::Result;
use kbtf_btf::fingerprint::Fingerprint;
use kbtf_btf::validate::{validate, Report};
use kbtf_btf::ReadError;

use crate::input;

/// Validate BTF by the kernel's rules, and catch a module built against another vmlinux.
///
/// Applies the rules of the kernel's BTF verifier (kernel/bpf/btf.c, Linux 6.1), then for split
/// BTF checks that it was built against the given base. For a module it also reports the
/// appended signature: unsigned, or signed by whom, and with --cert whether the signature
/// still covers the module's bytes. Exit 0 when valid, 1 when not (a signature that no longer
/// matches included), 2 when the input cannot be read.
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
    /// Certificates to verify a module's signature with: PEM or DER files, or a vmlinux ELF
    /// whose built-in keyring (system_certificate_list) holds them, such as Debian's -dbg
    /// vmlinux, whose build key signed its modules. Repeatable.
    #[arg(long, value_name = "FILE")]
    cert: Vec<std::path::PathBuf>,
}

pub fn run(args: Args) -> Result<u8> {
    let certs = crate::sign::load_certs(&args.cert)?;
    let signature_ok = check_signature(&args.file, &certs)?;
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
    let fingerprint_ok = check_fingerprint(&file);
    let ids_ok = check_btf_ids(&file)?;
    let report = Report::new(validate(&file.btf), args.max_problems);
    print!("{report}");
    Ok(
        if report.is_ok() && fingerprint_ok && ids_ok && signature_ok {
            crate::EXIT_OK
        } else {
            crate::EXIT_FOUND
        },
    )
}

/// For an ELF file, prints its signature state; true unless that is a problem (a signature
/// that no longer matches, that does not verify with the certificates given, or that the
/// kernel would refuse whatever its keys).
fn check_signature(path: &std::path::Path, certs: &[kbtf_modsign::Cert]) -> Result<bool> {
    let data =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    let is_module = crate::distilled::is_relocatable(&data);
    if !is_module && !data.ends_with(kbtf_emit::elf::MODULE_SIG_MAGIC) {
        if !certs.is_empty() {
            println!("signature: none (not a kernel module)");
        }
        return Ok(true);
    }
    let (lines, problem) = crate::sign::check_lines(&data, certs);
    for l in lines {
        println!("{l}");
    }
    Ok(!problem)
}

/// Compares the base fingerprint kbtf recorded in a module with the base given, and prints
/// the verdict. True when there is nothing to compare or they match.
fn check_fingerprint(file: &kbtf_btf::BtfFile) -> bool {
    let (Some(recorded), Some(base)) = (file.base_fingerprint, file.btf.base()) else {
        return true;
    };
    if file.source == kbtf_btf::Source::ElfWithDistilledBase {
        // The module carries its own base; the fingerprint is about the vmlinux given, which
        // is not what its .BTF is read against here.
        return true;
    }
    let given = Fingerprint::of(base);
    if given == recorded {
        println!("base fingerprint matches: built against this vmlinux BTF");
        return true;
    }
    println!(
        "built against a different vmlinux BTF: the module records a base of {} types, {} string bytes, sha256 {}; the given base has {} types, {} string bytes, sha256 {}",
        recorded.type_count,
        recorded.str_len,
        recorded.sha256_hex(),
        given.type_count,
        given.str_len,
        given.sha256_hex()
    );
    false
}

/// For an ELF file with `.BTF_ids` (a module's kfunc sets and id lists): every id names a
/// type of the symbol's kind and name in the BTF read, every set's count is its size and its
/// ids are sorted (the kernel bsearches them). Prints the problems; true when there are none.
fn check_btf_ids(file: &kbtf_btf::BtfFile) -> Result<bool> {
    if file.source == kbtf_btf::Source::Raw {
        return Ok(true);
    }
    let elf = std::fs::read(&file.path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.path.display()))?;
    let Some(entries) = kbtf_emit::btf_ids::entries(&elf)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.path.display()))?
    else {
        return Ok(true);
    };
    let problems = crate::btf_ids::check(&elf, &entries, &file.btf);
    for p in &problems {
        println!(".BTF_ids: {p}");
    }
    if problems.is_empty() {
        println!(".BTF_ids: {} symbols, each names its type", entries.len());
    }
    Ok(problems.is_empty())
}
