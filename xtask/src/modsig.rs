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
    ensure!(
        total <= end,
        "signature lengths ({total} bytes) exceed the module size"
    );
    Ok(Some(end - total))
}

/// `data` without its appended signature (unchanged if unsigned).
pub fn strip(data: &[u8]) -> Result<&[u8]> {
    Ok(match signed_len(data)? {
        Some(n) => &data[..n],
        None => data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> Vec<u8> {
        std::fs::read(kbtf_testkit::fixture(rel)).unwrap()
    }

    #[test]
    fn strips_the_signature_of_a_signed_module() {
        let ko = fixture("modules-6.1/dummy.ko");
        let n = signed_len(&ko)
            .unwrap()
            .expect("shipped dummy.ko is signed");
        assert!(n < ko.len() - MAGIC.len() - 12);
        let stripped = strip(&ko).unwrap();
        assert!(!stripped.ends_with(MAGIC));
        assert_eq!(&stripped[..4], b"\x7fELF");
        // The stripped module is still a readable ELF with the same .BTF.
        let tmp = std::env::temp_dir().join(format!("kbtf-modsig-test-{}.ko", std::process::id()));
        std::fs::write(&tmp, stripped).unwrap();
        let btf = crate::elf::Elf::open(&tmp)
            .unwrap()
            .section_bytes(".BTF")
            .unwrap();
        let _ = std::fs::remove_file(&tmp);
        assert_eq!(btf, fixture("modules-6.1/dummy.btf"));
    }

    #[test]
    fn unsigned_and_bogus_trailers() {
        assert_eq!(
            signed_len(&fixture("modules-6.1-dbg/dummy.ko")).unwrap(),
            None
        );
        let mut bogus = vec![0u8; 8];
        bogus.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        bogus.extend_from_slice(MAGIC);
        assert!(signed_len(&bogus).is_err());
        assert!(signed_len(MAGIC).is_err());
    }
}
