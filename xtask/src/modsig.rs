//! Appended module signatures (`~Module signature appended~\n`).

use anyhow::{ensure, Result};

pub const MAGIC: &[u8] = b"~Module signature appended~\n";

/// Length of the unsigned module if `data` carries an appended signature.
///
/// Layout at the end: signer, key_id, signature (lengths from the struct), then
/// `struct module_signature { u8 algo, hash, id_type, signer_len, key_id_len; u8 pad[3];
/// __be32 sig_len; }` (12 bytes), then the 28-byte magic.
pub fn signed_len(data: &[u8]) -> Result<Option<usize>> {
    if !data.ends_with(MAGIC) {
        return Ok(None);
    }
    let end = data.len() - MAGIC.len();
    ensure!(end >= 12, "signature trailer truncated");
    let ms = &data[end - 12..end];
    let signer_len = ms[3] as usize;
    let key_id_len = ms[4] as usize;
    let sig_len = u32::from_be_bytes([ms[8], ms[9], ms[10], ms[11]]) as usize;
    let total = 12 + signer_len + key_id_len + sig_len;
    ensure!(total <= end, "signature lengths ({total} bytes) exceed the module size");
    Ok(Some(end - total))
}

/// `data` without its appended signature (unchanged if unsigned).
pub fn strip(data: &[u8]) -> Result<&[u8]> {
    Ok(match signed_len(data)? {
        Some(n) => &data[..n],
        None => data,
    })
}
