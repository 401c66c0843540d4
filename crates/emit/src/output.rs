//! Putting encoded BTF into an ELF file: `.BTF`, optionally `.BTF.base` and kbtf's base
//! fingerprint note, with the module signature handled.
//!
//! [`rewrite`] computes the new bytes; [`rewrite_file`] reads a file, rewrites it and replaces
//! it atomically. A module's appended signature no longer covers rewritten bytes (and would no
//! longer be at the end), so it is stripped and reported to the caller, who warns that the
//! module is now unsigned.

use std::path::Path;

use crate::atomic::{write_atomic, write_atomic_with};
use crate::elf::{set_section_in, SectionSpec};
use crate::error::EmitError;
use crate::modsig::{self, ModuleSignature};
use crate::patch::Patched;

/// `SHT_NOTE`.
const SHT_NOTE: u32 = 7;

/// The sections to write.
#[derive(Debug, Clone, Copy)]
pub struct ElfOutput<'a> {
    /// Contents of `.BTF`.
    pub btf: &'a [u8],
    /// Contents of `.BTF.base` (distilled base), if any.
    pub btf_base: Option<&'a [u8]>,
    /// Name and contents of the base fingerprint note section, if any.
    pub fingerprint_note: Option<(&'a str, &'a [u8])>,
}

/// New file bytes, and the signature that was stripped to make them, if any.
#[derive(Debug)]
pub struct Rewritten {
    pub bytes: Vec<u8>,
    pub stripped_signature: Option<ModuleSignature>,
}

/// The bytes of `elf` with the sections of `out` replaced or added.
pub fn rewrite(elf: &[u8], out: &ElfOutput<'_>) -> Result<Rewritten, EmitError> {
    let (patched, stripped_signature) = rewrite_patched(elf, out)?;
    Ok(Rewritten {
        bytes: patched.to_vec(),
        stripped_signature,
    })
}

/// [`rewrite`] as edits over the bytes of `elf` ([`Patched`]): nothing of the file is copied
/// in memory but headers and the new sections. [`Patched::write_to`] writes the result.
pub fn rewrite_patched<'a>(
    elf: &'a [u8],
    out: &ElfOutput<'_>,
) -> Result<(Patched<'a>, Option<ModuleSignature>), EmitError> {
    let stripped_signature = modsig::parse(elf)?;
    let unsigned = modsig::strip(elf)?;
    let mut patched = Patched::new(unsigned);
    set_section_in(&mut patched, &SectionSpec::progbits(".BTF", out.btf))?;
    if let Some(base) = out.btf_base {
        set_section_in(&mut patched, &SectionSpec::progbits(".BTF.base", base))?;
    }
    if let Some((name, note)) = out.fingerprint_note {
        let spec = SectionSpec {
            name,
            data: note,
            sh_type: SHT_NOTE,
            flags: 0,
            align: 4,
        };
        set_section_in(&mut patched, &spec)?;
    }
    Ok((patched, stripped_signature))
}

/// Rewrites the ELF file at `path` in place, atomically, keeping its mode. On any error the
/// file is unchanged. Returns the stripped signature, if the file had one.
pub fn rewrite_file(
    path: &Path,
    out: &ElfOutput<'_>,
) -> Result<Option<ModuleSignature>, EmitError> {
    let io = |err| EmitError::Io {
        path: path.to_owned(),
        err,
    };
    let elf = std::fs::read(path).map_err(io)?;
    let (new, stripped_signature) = rewrite_patched(&elf, out).map_err(|e| match e {
        EmitError::Io { .. } => e,
        other => EmitError::BadElf(format!("{}: {other}", path.display())),
    })?;
    write_atomic_with(path, |f| new.write_to(None, f))?;
    Ok(stripped_signature)
}

/// Writes raw BTF to `path` atomically (`--btf_encode_detached`).
pub fn write_raw(path: &Path, btf: &[u8]) -> Result<(), EmitError> {
    write_atomic(path, btf)
}
