//! `kbtf dump`: print BTF as bpftool does (`raw`) or as C declarations (`c`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;

use crate::input;

/// Print the types of a BTF file, as bpftool does (raw) or as C.
#[derive(clap::Args)]
pub struct Args {
    /// Raw BTF file (/sys/kernel/btf/*) or ELF file with a .BTF section (vmlinux, .ko).
    file: PathBuf,
    /// Base BTF for split BTF (a module's vmlinux): raw BTF or ELF.
    #[arg(long, short = 'B')]
    base: Option<PathBuf>,
    /// Output format: `raw` matches `bpftool btf dump ... format raw` line for line; `c`
    /// prints compilable C declarations.
    #[arg(long, value_enum, default_value_t = Format::Raw)]
    format: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Raw,
    C,
}

pub fn run(args: Args) -> Result<u8> {
    let base = input::base(args.base.as_deref())?;
    let file = input::btf(&args.file, base)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let res = match args.format {
        Format::Raw => kbtf_btf::dump::dump_raw(&file.btf, &mut out),
        Format::C => kbtf_btf::dump::dump_c(&file.btf, &mut out),
    }
    .and_then(|()| out.flush());
    match res {
        // A closed pipe (`kbtf dump ... | head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(crate::EXIT_OK),
        Err(e) => Err(anyhow::Error::new(e).context("writing to stdout")),
        Ok(()) => Ok(crate::EXIT_OK),
    }
}
