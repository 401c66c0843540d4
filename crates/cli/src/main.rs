//! `kbtf`: a BTF encoder for the Linux kernel. This binary only parses flags and calls the
//! libraries; see docs/ARCHITECTURE.md.

// No unwrap()/expect() outside tests: input must never panic (docs/reliability.md).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod basecache;
mod btf_ids;
mod cmd;
mod distilled;
mod input;
mod kmod;
mod pahole;
mod relocate;
mod sign;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status for "no problem / same", following diff(1).
pub const EXIT_OK: u8 = 0;
/// Exit status for "problems found / different".
pub const EXIT_FOUND: u8 = 1;
/// Exit status for trouble: unreadable input, bad flags.
pub const EXIT_TROUBLE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "kbtf",
    version,
    about = "BTF for the Linux kernel: encode, check, dump, compare, load modules"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Dump(cmd::dump::Args),
    Check(cmd::check::Args),
    Diff(cmd::diff::Args),
    Distill(cmd::distill::Args),
    Relocate(cmd::relocate::Args),
    Load(cmd::load::Args),
    Regen(cmd::regen::Args),
}

fn main() -> ExitCode {
    // Die quietly of SIGPIPE, as cat and grep do, when the reader of our output goes away
    // (`kbtf dump ... | head`), instead of panicking in println!.
    // SAFETY: setting a signal's disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let argv0 = argv.first().map(String::as_str).unwrap_or("kbtf");
    if pahole::run::is_pahole_invocation(argv0, argv.get(1).map(String::as_str)) {
        return pahole::run::main(&argv[1..]);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dump(a) => cmd::dump::run(a),
        Command::Check(a) => cmd::check::run(a),
        Command::Diff(a) => cmd::diff::run(a),
        Command::Distill(a) => cmd::distill::run(a),
        Command::Relocate(a) => cmd::relocate::run(a),
        Command::Load(a) => cmd::load::run(a),
        Command::Regen(a) => cmd::regen::run(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("kbtf: error: {e:#}");
            ExitCode::from(EXIT_TROUBLE)
        }
    }
}
