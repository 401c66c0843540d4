//! `cargo xtask btf-info FILE...`: check raw BTF (or an ELF's .BTF) and count types.

use crate::elf::Elf;
use crate::{btf, util};
use anyhow::{bail, Context, Result};
use std::path::Path;

pub const USAGE: &str = "\
cargo xtask btf-info FILE...

For each FILE (raw BTF such as /sys/kernel/btf/NAME, or an ELF file with .BTF)
prints the header, the number of types and the count per kind.";

pub fn main(raw: &[String]) -> Result<()> {
    if raw.is_empty() || raw.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    for f in raw {
        let p = Path::new(f);
        let data = util::read(p)?;
        let b = if data.starts_with(b"\x7fELF") {
            Elf::open(p)?.section_bytes(".BTF")?
        } else if data.starts_with(&[0x9f, 0xeb]) {
            data
        } else {
            bail!("{f}: neither raw BTF (9f eb) nor ELF");
        };
        let s = btf::summarize(&b).with_context(|| format!("parsing BTF of {f}"))?;
        let h = s.header;
        println!(
            "{f}: {} bytes, version {} flags {:#x} hdr_len {} types {} (type_len {}, str_len {})",
            b.len(),
            h.version,
            h.flags,
            h.hdr_len,
            s.types,
            h.type_len,
            h.str_len
        );
        println!("  {}", s.kinds_line());
    }
    Ok(())
}
