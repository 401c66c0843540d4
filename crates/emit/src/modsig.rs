//! The signature the kernel's `scripts/sign-file` appends to a module:
//! `<module> <signature> <struct module_signature> "~Module signature appended~\n"`.
//!
//! `struct module_signature` is 12 bytes: algo, hash, id_type, signer_len, key_id_len (u8 each),
//! 3 bytes of padding, and sig_len (big-endian u32). For PKCS#7 signatures (id_type 2) signer
//! and key id are empty and everything is in the signature blob.

// This module reads untrusted bytes: no indexing (docs/reliability.md).
#![deny(clippy::indexing_slicing)]

use crate::elf::MODULE_SIG_MAGIC;
use crate::error::EmitError;

/// Size of `struct module_signature`.
const INFO_LEN: usize = 12;

/// What the trailer says about a module's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSignature {
    /// Length of the module without its signature.
    pub module_len: usize,
    pub algo: u8,
    pub hash: u8,
    pub id_type: u8,
    /// Length of the signature blob (PKCS#7 for id_type 2).
    pub sig_len: usize,
}

/// The signature appended to `data`, if any; an error if the trailer is there but malformed.
pub fn parse(data: &[u8]) -> Result<Option<ModuleSignature>, EmitError> {
    if !data.ends_with(MODULE_SIG_MAGIC) {
        return Ok(None);
    }
    let bad = |what: &str| EmitError::BadElf(format!("module signature trailer: {what}"));
    let info_end = data.len() - MODULE_SIG_MAGIC.len();
    let info_start = info_end
        .checked_sub(INFO_LEN)
        .ok_or_else(|| bad("truncated"))?;
    let Some(&[algo, hash, id_type, signer_len, key_id_len, _, _, _, l0, l1, l2, l3]) =
        data.get(info_start..info_end)
    else {
        return Err(bad("truncated"));
    };
    let sig_len = u32::from_be_bytes([l0, l1, l2, l3]) as usize;
    let extra = sig_len + signer_len as usize + key_id_len as usize;
    let module_len = info_start
        .checked_sub(extra)
        .ok_or_else(|| bad("lengths exceed the file"))?;
    Ok(Some(ModuleSignature {
        module_len,
        algo,
        hash,
        id_type,
        sig_len,
    }))
}

/// `data` without its appended signature (unchanged if it has none).
pub fn strip(data: &[u8]) -> Result<&[u8], EmitError> {
    Ok(match parse(data)? {
        Some(sig) => data.get(..sig.module_len).unwrap_or_default(),
        None => data,
    })
}
