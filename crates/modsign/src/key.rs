//! Signing modules as `scripts/sign-file HASH KEY X509 MODULE` does.
//!
//! The key is an unencrypted PEM private key: RSA or ECDSA on P-256 or P-384 (kbuild's
//! `CONFIG_MODULE_SIG_KEY_TYPE_ECDSA` makes P-384 keys), as `PRIVATE KEY` (PKCS#8, as kbuild's
//! `certs/signing_key.pem` holds it), `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC 1);
//! the certificate is DER or PEM (sign-file's rule: DER when the file starts like DER). The key
//! must be the certificate's: like OpenSSL's `CMS_add1_signer`, kbtf refuses a pair that does
//! not belong together.
//!
//! An ECDSA signature is made with RFC 6979's deterministic nonce (`p256`, `p384`), so the same
//! key, hash and content give the same bytes; sign-file's (OpenSSL's) nonce is random, so its
//! signature values differ from kbtf's while everything around them is the same DER.
//!
//! The key file is read into memory that is zeroized when dropped; the decoded key lives only in
//! the [`SigningKey`] (`rsa`, `p256` and `p384` zeroize it on drop). Nothing writes, prints or
//! formats the key: errors say which file and what is wrong with it, never its contents.

use std::path::{Path, PathBuf};

use p256::ecdsa::signature::hazmat::PrehashSigner;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, PrivateKeyInfo};
use rsa::{RsaPrivateKey, RsaPublicKey};
use zeroize::Zeroizing;

use crate::cert::{self, Cert, PublicKey};
use crate::ec::{self, Curve, EcKey};
use crate::error::ModsignError;
use crate::hash::HashAlg;
use crate::pkcs7::OID_RSA_ENCRYPTION;

/// A private key of a kind kbtf signs with.
enum Key {
    Rsa(RsaPrivateKey),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

impl Key {
    /// Whether `public` is this key's public key.
    fn is_pair_of(&self, public: &PublicKey) -> bool {
        match (self, public) {
            (Key::Rsa(k), PublicKey::Rsa(p)) => RsaPublicKey::from(k) == *p,
            (Key::P256(k), PublicKey::Ec(EcKey::P256(p))) => k.verifying_key() == p,
            (Key::P384(k), PublicKey::Ec(EcKey::P384(p))) => k.verifying_key() == p,
            _ => false,
        }
    }
}

/// A private key with its certificate and the digest to sign with.
pub struct SigningKey {
    key: Key,
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
        let public = cert.public_key().map_err(|what| ModsignError::Cert {
            path: cert_path.to_owned(),
            what,
        })?;
        let curve = match &public {
            PublicKey::Ec(k) => Some(k.curve()),
            PublicKey::Rsa(_) => None,
        };
        let key = read_private_key(key_path, curve)?;
        if !key.is_pair_of(&public) {
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
    /// RSA PKCS#1 v1.5, and ECDSA with RFC 6979's nonce, are deterministic: the same key, hash
    /// and content give the same bytes.
    pub fn pkcs7(&self, content: &[u8]) -> Result<Vec<u8>, ModsignError> {
        let digest = self.hash.digest(content);
        let ecdsa_err = |e| ModsignError::Sign(format!("ECDSA: {e}"));
        let (alg, signature) = match &self.key {
            Key::Rsa(k) => {
                // With an RNG, rsa blinds the private-key operation (the result is the same).
                let sig = k
                    .sign_with_rng(&mut rsa::rand_core::OsRng, self.hash.pkcs1v15(), &digest)
                    .map_err(|e| ModsignError::Sign(format!("RSA: {e}")))?;
                (crate::pkcs7::SigAlg::Rsa, sig)
            }
            Key::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign_prehash(&digest).map_err(ecdsa_err)?;
                (
                    crate::pkcs7::SigAlg::Ecdsa,
                    sig.to_der().as_bytes().to_vec(),
                )
            }
            Key::P384(k) => {
                let sig: p384::ecdsa::Signature = k.sign_prehash(&digest).map_err(ecdsa_err)?;
                (
                    crate::pkcs7::SigAlg::Ecdsa,
                    sig.to_der().as_bytes().to_vec(),
                )
            }
        };
        crate::pkcs7::build(
            self.hash,
            alg,
            self.cert.issuer(),
            self.cert.serial(),
            signature,
        )
    }

    /// `module` signed: its bytes (without any signature it carried), the PKCS#7 signature,
    /// `struct module_signature` and the magic, exactly what sign-file writes.
    pub fn sign_module(&self, module: &[u8]) -> Result<Vec<u8>, ModsignError> {
        let unsigned = kbtf_emit::modsig::strip(module)?;
        let sig = self.pkcs7(unsigned)?;
        Ok(kbtf_emit::modsig::append(unsigned, &sig)?)
    }
}

/// The private key in the PEM file at `path`. `curve` is the certificate's, for a SEC 1 `EC
/// PRIVATE KEY` (PKCS#8 keys name their algorithm and curve themselves).
fn read_private_key(path: &Path, curve: Option<Curve>) -> Result<Key, ModsignError> {
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
        match label.as_str() {
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {}
            "ENCRYPTED PRIVATE KEY" => {
                return Err(err(
                    "the key is encrypted; kbtf takes unencrypted PEM keys (sign-file's KBUILD_SIGN_PIN is not supported)",
                ))
            }
            _ => continue,
        }
        if block.windows(9).any(|w| w == b"Proc-Type") {
            return Err(err(
                "the key is encrypted (Proc-Type header); kbtf takes unencrypted PEM keys",
            ));
        }
        let der = decode_pem(block).ok_or_else(|| err("its PEM block is malformed"))?;
        return match label.as_str() {
            "RSA PRIVATE KEY" => RsaPrivateKey::from_pkcs1_der(&der)
                .map(Key::Rsa)
                .map_err(|e| err(&format!("not a valid PKCS#1 RSA key ({e})"))),
            "EC PRIVATE KEY" => {
                // SEC 1 keys name their curve only optionally: the certificate's curve first,
                // then the other (a key of that one does not belong to the certificate).
                let Some(curve) = curve else {
                    return Err(err(
                        "an EC key, and the certificate's key is RSA: they do not belong together",
                    ));
                };
                let other = match curve {
                    Curve::P256 => Curve::P384,
                    Curve::P384 => Curve::P256,
                };
                sec1_key(&der, curve)
                    .or_else(|_| sec1_key(&der, other))
                    .map_err(|e| err(&format!("not a valid SEC 1 EC key on P-256 or P-384 ({e})")))
            }
            _ => pkcs8_key(&der).map_err(|what| err(&what)),
        };
    }
    Err(err(
        "no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block in the PEM file",
    ))
}

/// A SEC 1 `ECPrivateKey` on `curve`.
fn sec1_key(der: &[u8], curve: Curve) -> Result<Key, p256::elliptic_curve::Error> {
    Ok(match curve {
        Curve::P256 => Key::P256(p256::SecretKey::from_sec1_der(der)?.into()),
        Curve::P384 => Key::P384(p384::SecretKey::from_sec1_der(der)?.into()),
    })
}

/// A PKCS#8 `PrivateKeyInfo`: RSA, or EC on P-256 or P-384.
fn pkcs8_key(der: &[u8]) -> Result<Key, String> {
    let info = PrivateKeyInfo::try_from(der).map_err(|e| format!("not a PKCS#8 key ({e})"))?;
    let alg = info.algorithm.oid;
    if alg == OID_RSA_ENCRYPTION {
        return RsaPrivateKey::from_pkcs8_der(der)
            .map(Key::Rsa)
            .map_err(|e| format!("not a valid RSA PKCS#8 key ({e})"));
    }
    if alg != ec::OID_EC_PUBLIC_KEY {
        return Err(format!(
            "its algorithm {alg} is neither RSA nor EC; kbtf signs with RSA and ECDSA (P-256, P-384) keys"
        ));
    }
    let curve_oid = info
        .algorithm
        .parameters_oid()
        .map_err(|e| format!("an EC key that does not name its curve ({e})"))?;
    let bad = |e| format!("not a valid EC PKCS#8 key ({e})");
    match Curve::from_oid(&curve_oid) {
        Some(Curve::P256) => p256::SecretKey::from_pkcs8_der(der)
            .map(|k| Key::P256(k.into()))
            .map_err(bad),
        Some(Curve::P384) => p384::SecretKey::from_pkcs8_der(der)
            .map(|k| Key::P384(k.into()))
            .map_err(bad),
        None => Err(format!(
            "an EC key on {}; kbtf signs with ECDSA on P-256 and P-384",
            ec::curve_name(&curve_oid)
        )),
    }
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
