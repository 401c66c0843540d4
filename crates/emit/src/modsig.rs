//! The signature the kernel's `scripts/sign-file` appends to a module:
//! `<module> <signature> <struct module_signature> "~Module signature appended~\n"`.
//!
//! `struct module_signature` is 12 bytes: algo, hash, id_type, signer_len, key_id_len (u8 each),
//! 3 bytes of padding, and sig_len (big-endian u32). For PKCS#7 signatures (id_type 2, the only
//! kind Linux still accepts) algo, hash, signer and key id are zero and everything is in the
//! signature blob, a DER PKCS#7/CMS `SignedData` (crates/modsign reads and makes it).
//!
//! This module only reads and writes the trailer; it knows no cryptography.

// This module reads untrusted bytes: no indexing (docs/reliability.md).
#![deny(clippy::indexing_slicing)]

use std::ops::Range;

use crate::elf::MODULE_SIG_MAGIC;
use crate::error::EmitError;

/// Size of `struct module_signature`.
pub const INFO_LEN: usize = 12;
/// `id_type` of a PKCS#7 signature (the kernel's `PKEY_ID_PKCS7`).
pub const PKEY_ID_PKCS7: u8 = 2;

/// What the trailer says about a module's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSignature {
    /// Length of the module without its signature: the bytes the signature covers.
    pub module_len: usize,
    pub algo: u8,
    pub hash: u8,
    pub id_type: u8,
    /// Length of the signer's name (0 for PKCS#7).
    pub signer_len: u8,
    /// Length of the key identifier (0 for PKCS#7).
    pub key_id_len: u8,
    /// `__pad[3]`, which the kernel requires to be zero.
    pub pad: [u8; 3],
    /// Length of the signature blob (PKCS#7 for id_type 2).
    pub sig_len: usize,
}

impl ModuleSignature {
    /// Where the signature blob lies in the signed file: after the signer name and key id,
    /// right before the 12-byte struct.
    pub fn blob_range(&self) -> Range<usize> {
        let start = self.module_len + self.signer_len as usize + self.key_id_len as usize;
        start..start + self.sig_len
    }

    /// Why the kernel (`mod_check_sig`, kernel/module_signature.c) would refuse this trailer
    /// before looking at the signature itself, if it would.
    pub fn kernel_refuses(&self) -> Option<String> {
        if self.id_type != PKEY_ID_PKCS7 {
            return Some(format!(
                "id_type {} is not PKCS#7 ({PKEY_ID_PKCS7}): the kernel refuses it (ENOPKG, \"not signed with expected PKCS#7 message\")",
                self.id_type
            ));
        }
        if self.algo != 0
            || self.hash != 0
            || self.signer_len != 0
            || self.key_id_len != 0
            || self.pad != [0; 3]
        {
            return Some(format!(
                "struct module_signature has non-zero fields (algo {}, hash {}, signer_len {}, key_id_len {}, pad {:?}): the kernel refuses it (EBADMSG)",
                self.algo, self.hash, self.signer_len, self.key_id_len, self.pad
            ));
        }
        None
    }
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
    let Some(&[algo, hash, id_type, signer_len, key_id_len, p0, p1, p2, l0, l1, l2, l3]) =
        data.get(info_start..info_end)
    else {
        return Err(bad("truncated"));
    };
    let sig_len = u32::from_be_bytes([l0, l1, l2, l3]) as usize;
    let extra = sig_len + signer_len as usize + key_id_len as usize;
    let module_len = info_start.checked_sub(extra).ok_or_else(|| {
        bad(&format!(
            "signature lengths ({extra} bytes at offset {info_start:#x}) exceed the file"
        ))
    })?;
    Ok(Some(ModuleSignature {
        module_len,
        algo,
        hash,
        id_type,
        signer_len,
        key_id_len,
        pad: [p0, p1, p2],
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

/// The signature blob of a signed `data` (as [`parse`] found it; empty if `sig` does not
/// fit `data`).
pub fn blob<'a>(data: &'a [u8], sig: &ModuleSignature) -> &'a [u8] {
    data.get(sig.blob_range()).unwrap_or_default()
}

/// `module` with the PKCS#7 signature `pkcs7` appended as `scripts/sign-file` does: the blob,
/// `struct module_signature { 0, 0, PKEY_ID_PKCS7, 0, 0, {0}, htonl(len) }`, the magic.
/// `module` must not carry a signature already (sign-file would sign the old one with it).
pub fn append(module: &[u8], pkcs7: &[u8]) -> Result<Vec<u8>, EmitError> {
    if module.ends_with(MODULE_SIG_MAGIC) {
        return Err(EmitError::BadElf(
            "the module is signed already; strip its signature before signing it again".into(),
        ));
    }
    let len = u32::try_from(pkcs7.len()).map_err(|_| EmitError::TooLarge("signature length"))?;
    let mut out =
        Vec::with_capacity(module.len() + pkcs7.len() + INFO_LEN + MODULE_SIG_MAGIC.len());
    out.extend_from_slice(module);
    out.extend_from_slice(pkcs7);
    out.extend_from_slice(&[0, 0, PKEY_ID_PKCS7, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(MODULE_SIG_MAGIC);
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn append_then_parse_round_trips() {
        let signed = append(b"\x7fELF body", b"sig!").unwrap();
        let sig = parse(&signed).unwrap().unwrap();
        assert_eq!(sig.module_len, 9);
        assert_eq!(sig.sig_len, 4);
        assert_eq!(blob(&signed, &sig), b"sig!");
        assert_eq!(sig.kernel_refuses(), None);
        assert_eq!(strip(&signed).unwrap(), b"\x7fELF body");
        assert!(append(&signed, b"again").is_err());
    }

    #[test]
    fn kernel_rules_for_the_trailer() {
        let mut signed = append(b"m", b"s").unwrap();
        let info = signed.len() - MODULE_SIG_MAGIC.len() - INFO_LEN;
        signed[info + 2] = 1;
        let why = parse(&signed).unwrap().unwrap().kernel_refuses().unwrap();
        assert!(why.contains("ENOPKG"), "{why}");
        signed[info + 2] = PKEY_ID_PKCS7;
        signed[info + 6] = 9;
        let why = parse(&signed).unwrap().unwrap().kernel_refuses().unwrap();
        assert!(why.contains("EBADMSG"), "{why}");
    }
}
