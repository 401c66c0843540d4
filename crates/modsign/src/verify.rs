//! A module's signature state: [`inspect`] reads it, [`verify`] checks it against the bytes it
//! should cover.
//!
//! The kernel (`mod_verify_sig`, then `pkcs7_verify` for `VERIFYING_MODULE_SIGNATURE`) hashes the
//! module bytes before the signature, requires the PKCS#7 content type to be `data` and the
//! signer to have no authenticated (signed) attributes, finds the signer's key in its keyrings by
//! issuer and serial (or key id) and checks the RSA or ECDSA signature of the digest with it.
//! kbtf does the same with the certificates it is given.
//!
//! Without signed attributes (every module signature the kernel accepts), the only record of
//! the digest is inside the signature, so proving an RSA signature stale takes the signer's
//! public key. With it, an RSA signature that does not verify is told apart: if the signature
//! opens (`s^e mod n`) to a well-formed PKCS#1 v1.5 block for the same digest algorithm, the
//! module bytes changed after signing ([`Verdict::Stale`], with both digests); otherwise it was
//! made with another key or is damaged ([`Verdict::OtherKey`]). The accept/reject decision
//! itself is `rsa`'s PKCS#1 v1.5 verification; opening the block only explains a rejection.
//!
//! An ECDSA signature records no digest that a public key can recover: for any key of the
//! curve some digest verifies, so a failure after bytes changed and one by another key of the
//! same curve are the same to any verifier ([`Verdict::StaleOrOtherKey`]). Only a signature
//! that is none by this key whatever the bytes (of another curve or algorithm, or damaged) is
//! [`Verdict::OtherKey`]; see [`crate::ec`]. The decision is `p256`'s or `p384`'s ECDSA
//! verification of the digest, cut to the curve's size as the kernel does.

use kbtf_emit::modsig::{self, ModuleSignature};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPublicKey};

use crate::cert::{Cert, PublicKey};
use crate::ec::EcRefusal;
use crate::error::ModsignError;
use crate::hash::HashAlg;
use crate::pkcs7::{self, Pkcs7, Signer};

/// A module's appended signature, parsed.
#[derive(Debug, Clone)]
pub struct Signature {
    pub trailer: ModuleSignature,
    pub pkcs7: Pkcs7,
}

impl Signature {
    /// The (first) signer; sign-file makes exactly one.
    pub fn signer(&self) -> &Signer {
        &self.pkcs7.signers[0]
    }

    /// Why Linux 6.1 refuses this signature whatever its keys, if it does.
    pub fn kernel_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(why) = self.trailer.kernel_refuses() {
            out.push(why);
        }
        if !self.pkcs7.content_is_data {
            out.push(
                "the PKCS#7 content type is not data: the kernel refuses it (\"Invalid module sig (not pkcs7-data)\")"
                    .into(),
            );
        }
        if !self.pkcs7.detached {
            out.push("the PKCS#7 message carries content of its own: the kernel refuses it (the module is the detached content)".into());
        }
        if self.pkcs7.signers.iter().any(|s| s.signed_attrs.is_some()) {
            out.push(
                "the signer has signed attributes: the kernel refuses module signatures with them (\"Invalid module sig (has authattrs)\")"
                    .into(),
            );
        }
        out
    }
}

/// The signature appended to `module`, if any. An error when the trailer or the PKCS#7 blob
/// is malformed (the kernel would refuse the module with EBADMSG).
pub fn inspect(module: &[u8]) -> Result<Option<Signature>, ModsignError> {
    let Some(trailer) = modsig::parse(module)? else {
        return Ok(None);
    };
    let pkcs7 = pkcs7::parse(modsig::blob(module, &trailer))?;
    Ok(Some(Signature { trailer, pkcs7 }))
}

/// Whether a signature covers the bytes it is appended to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Verified with this certificate ([`Cert::describe`] and where it came from).
    Valid { cert: String, origin: String },
    /// The signature was made over other bytes: `signed` is the digest it covers, `actual` the
    /// digest of the module bytes now.
    Stale {
        hash: HashAlg,
        signed: Vec<u8>,
        actual: Vec<u8>,
    },
    /// The signer's certificate was found but the signature does not open with its key: made
    /// with another key, or damaged; `why`, when more is known (a signature of another
    /// algorithm or curve than the key's, or a malformed ECDSA value).
    OtherKey { cert: String, why: Option<String> },
    /// An ECDSA signature that does not verify with the signer's certificate, where nothing
    /// tells why: either the module changed after signing (`actual` is the digest of its bytes
    /// now) or another key of the same curve made the signature. Unlike RSA's, an ECDSA
    /// signature cannot be opened to the digest it covers: for any key there is a digest it
    /// verifies against, so the two cases look the same (see [`crate::ec`]).
    StaleOrOtherKey {
        cert: String,
        hash: HashAlg,
        actual: Vec<u8>,
    },
    /// Certificates were given, and none is the signer's.
    UnknownSigner { given: usize },
    /// Nothing can be said (no certificate, an algorithm kbtf does not compute): why.
    NotVerified(String),
}

impl Verdict {
    /// Whether this is a finding (the signature is wrong for these bytes, or cannot be
    /// checked with the certificates the user gave).
    pub fn is_problem(&self) -> bool {
        matches!(
            self,
            Verdict::Stale { .. }
                | Verdict::OtherKey { .. }
                | Verdict::StaleOrOtherKey { .. }
                | Verdict::UnknownSigner { .. }
        )
    }
}

/// Checks `sig` (from [`inspect`] of `module`) against `module`'s bytes with `certs`.
pub fn verify(module: &[u8], sig: &Signature, certs: &[Cert]) -> Verdict {
    let s = sig.signer();
    let Some(hash) = s.hash else {
        return Verdict::NotVerified(format!(
            "digest algorithm {}: kbtf computes sha224, sha256, sha384 and sha512",
            s.digest_name()
        ));
    };
    let content = &module[..sig.trailer.module_len];
    let actual = hash.digest(content);
    // A messageDigest attribute records the digest in the clear: no key needed.
    if let Some(md) = &s.message_digest {
        if *md != actual {
            return Verdict::Stale {
                hash,
                signed: md.clone(),
                actual,
            };
        }
    }
    if !s.rsa && !s.ecdsa {
        return Verdict::NotVerified(format!(
            "a {} signature: kbtf verifies RSA and ECDSA signatures",
            s.sig_alg_name()
        ));
    }
    if certs.is_empty() {
        return Verdict::NotVerified(
            "no certificate given (--cert: the signer's certificate, or the kernel's vmlinux with its built-in keyring)".into(),
        );
    }
    let Some(cert) = certs.iter().find(|c| c.matches(&s.id)) else {
        return Verdict::UnknownSigner { given: certs.len() };
    };
    let public = match cert.public_key() {
        Ok(k) => k,
        Err(e) => {
            return Verdict::NotVerified(format!("the signer's certificate: {e}"));
        }
    };
    let signed_input = match &s.signed_attrs {
        Some(attrs) => hash.digest(attrs),
        None => actual.clone(),
    };
    let valid = || Verdict::Valid {
        cert: cert.describe(),
        origin: cert.origin.clone(),
    };
    let other_key = |why: Option<String>| Verdict::OtherKey {
        cert: cert.describe(),
        why,
    };
    match public {
        PublicKey::Rsa(public) if s.rsa => {
            if public
                .verify(hash.pkcs1v15(), &signed_input, &s.signature)
                .is_ok()
            {
                return valid();
            }
            match (open(&public, hash, &s.signature), &s.signed_attrs) {
                (Some(signed), None) => Verdict::Stale {
                    hash,
                    signed,
                    actual,
                },
                _ => other_key(None),
            }
        }
        PublicKey::Ec(public) if s.ecdsa => {
            match (
                public.verify_prehash(&signed_input, &s.signature),
                &s.signed_attrs,
            ) {
                (Ok(()), _) => valid(),
                (Err(EcRefusal::Undecided), None) => Verdict::StaleOrOtherKey {
                    cert: cert.describe(),
                    hash,
                    actual,
                },
                // With signed attributes, their messageDigest is the module's digest (checked
                // above), so what fails is the key (or the signature is damaged).
                (Err(EcRefusal::Undecided), Some(_)) => other_key(None),
                (Err(EcRefusal::NotThisKey(why)), _) => other_key(Some(why)),
            }
        }
        public => other_key(Some(format!(
            "an {} signature, and the certificate holds an {} key",
            if s.rsa { "RSA" } else { "ECDSA" },
            public.describe()
        ))),
    }
}

/// The digest inside an RSA PKCS#1 v1.5 signature block for `hash`, if `sig` opens with
/// `key` to such a block (`00 01 FF.. 00 DigestInfo-prefix digest`).
fn open(key: &RsaPublicKey, hash: HashAlg, sig: &[u8]) -> Option<Vec<u8>> {
    let k = key.size();
    if sig.len() != k {
        return None;
    }
    let s = BigUint::from_bytes_be(sig);
    if &s >= key.n() {
        return None;
    }
    let m = s.modpow(key.e(), key.n()).to_bytes_be();
    let mut em = vec![0u8; k.checked_sub(m.len())?];
    em.extend_from_slice(&m);
    let padding = hash.pkcs1v15();
    let hash_len = padding.hash_len?;
    let t_len = padding.prefix.len() + hash_len;
    let ps_len = k.checked_sub(t_len + 3)?;
    let mut head = vec![0x00, 0x01];
    head.extend(std::iter::repeat_n(0xff, ps_len));
    head.push(0x00);
    head.extend_from_slice(&padding.prefix);
    let (got_head, digest) = em.split_at(k - hash_len);
    (got_head == head.as_slice()).then(|| digest.to_vec())
}
