//! Signing modules as `scripts/sign-file HASH KEY X509 MODULE` does.
//!
//! The key is an unencrypted PEM private key (`PRIVATE KEY`, PKCS#8, as kbuild's
//! `certs/signing_key.pem` holds it, or `RSA PRIVATE KEY`, PKCS#1); the certificate is DER or
//! PEM (sign-file's rule: DER when the file starts like DER). The key must be the certificate's:
//! like OpenSSL's `CMS_add1_signer`, kbtf refuses a pair that does not belong together.
//!
//! The key file is read into memory that is zeroized when dropped; the decoded key lives only in
//! the [`SigningKey`] (`rsa` zeroizes it on drop). Nothing writes, prints or formats the key:
//! errors say which file and what is wrong with it, never its contents.

use std::path::{Path, PathBuf};

use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::{RsaPrivateKey, RsaPublicKey};
use zeroize::Zeroizing;

use crate::cert::{self, Cert};
use crate::error::ModsignError;
use crate::hash::HashAlg;

/// A private key with its certificate and the digest to sign with.
pub struct SigningKey {
    key: RsaPrivateKey,
    cert: Cert,
    hash: HashAlg,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("SigningKey")
            .field("cert", &self.cert.describe())
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads the private key at `key_path` and the certificate at `cert_path` (the same file
    /// may hold both, as kbuild's `signing_key.pem` does), and checks that they belong together.
    pub fn load(
        key_path: &Path,
        cert_path: &Path,
        hash: HashAlg,
    ) -> Result<SigningKey, ModsignError> {
        let cert = cert::load_one(cert_path)?;
        let key = read_private_key(key_path)?;
        let public = cert.rsa_public_key().map_err(|what| ModsignError::Cert {
            path: cert_path.to_owned(),
            what,
        })?;
        if RsaPublicKey::from(&key) != public {
            return Err(ModsignError::KeyMismatch {
                key: key_path.to_owned(),
                cert: cert_path.to_owned(),
            });
        }
        Ok(SigningKey { key, cert, hash })
    }

    pub fn cert(&self) -> &Cert {
        &self.cert
    }

    pub fn hash(&self) -> HashAlg {
        self.hash
    }

    /// The DER PKCS#7 signature of `content`, as sign-file makes it (see `pkcs7::build`).
    /// RSA PKCS#1 v1.5 is deterministic: the same key, hash and content give the same bytes.
    pub fn pkcs7(&self, content: &[u8]) -> Result<Vec<u8>, ModsignError> {
        let digest = self.hash.digest(content);
        // With an RNG, rsa blinds the private-key operation (the result is the same).
        let signature = self
            .key
            .sign_with_rng(&mut rsa::rand_core::OsRng, self.hash.pkcs1v15(), &digest)
            .map_err(|e| ModsignError::Sign(format!("RSA: {e}")))?;
        crate::pkcs7::build(self.hash, self.cert.issuer(), self.cert.serial(), signature)
    }

    /// `module` signed: its bytes (without any signature it carried), the PKCS#7 signature,
    /// `struct module_signature` and the magic, exactly what sign-file writes.
    pub fn sign_module(&self, module: &[u8]) -> Result<Vec<u8>, ModsignError> {
        let unsigned = kbtf_emit::modsig::strip(module)?;
        let sig = self.pkcs7(unsigned)?;
        Ok(kbtf_emit::modsig::append(unsigned, &sig)?)
    }
}

fn read_private_key(path: &Path) -> Result<RsaPrivateKey, ModsignError> {
    let err = |what: &str| ModsignError::Key {
        path: PathBuf::from(path),
        what: what.to_string(),
    };
    if path.to_string_lossy().starts_with("pkcs11:") {
        return Err(err(
            "PKCS#11 URIs are not supported; sign with the kernel's scripts/sign-file, or give a PEM key file",
        ));
    }
    let data = Zeroizing::new(std::fs::read(path).map_err(|e| ModsignError::Io {
        path: path.to_owned(),
        err: e,
    })?);
    let blocks = cert::pem_blocks(&data);
    if blocks.is_empty() {
        return Err(err(
            "not a PEM file (no -----BEGIN line); kbtf reads PEM private keys",
        ));
    }
    for (label, block) in blocks {
        let pkcs8 = match label.as_str() {
            "PRIVATE KEY" => true,
            "RSA PRIVATE KEY" => false,
            "ENCRYPTED PRIVATE KEY" => {
                return Err(err(
                    "the key is encrypted; kbtf takes unencrypted PEM keys (sign-file's KBUILD_SIGN_PIN is not supported)",
                ))
            }
            "EC PRIVATE KEY" => {
                return Err(err("an EC key; kbtf signs with RSA keys only"));
            }
            _ => continue,
        };
        if block.windows(9).any(|w| w == b"Proc-Type") {
            return Err(err(
                "the key is encrypted (Proc-Type header); kbtf takes unencrypted PEM keys",
            ));
        }
        let der = decode_pem(block).ok_or_else(|| err("its PEM block is malformed"))?;
        let key = if pkcs8 {
            RsaPrivateKey::from_pkcs8_der(&der).map_err(|e| {
                err(&format!(
                    "not an RSA PKCS#8 key ({e}); kbtf signs with RSA keys only"
                ))
            })?
        } else {
            RsaPrivateKey::from_pkcs1_der(&der)
                .map_err(|e| err(&format!("not a valid PKCS#1 RSA key ({e})")))?
        };
        return Ok(key);
    }
    Err(err(
        "no PRIVATE KEY or RSA PRIVATE KEY block in the PEM file",
    ))
}

/// The DER of one PEM block, into zeroized memory allocated once (no copies left behind).
fn decode_pem(block: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let mut decoder = der::pem::Decoder::new(block).ok()?;
    let mut buf = Zeroizing::new(vec![0u8; decoder.remaining_len()]);
    let n = decoder.decode(&mut buf).ok()?.len();
    if !decoder.is_finished() {
        return None;
    }
    buf.truncate(n);
    Some(buf)
}
