//! ECDSA module signatures, as the kernel checks them (`crypto/ecdsa.c` through
//! `crypto/asymmetric_keys/public_key.c`, encoding `x962`): the signer's certificate holds an
//! `id-ecPublicKey` on a named curve, the PKCS#7 signature value is a DER `Ecdsa-Sig-Value`
//! (`SEQUENCE { r INTEGER, s INTEGER }`), and it signs the digest of the module bytes, cut to
//! the curve's size when longer (SEC 1's bits2int, which the kernel and `ecdsa` both do).
//!
//! kbtf verifies on NIST P-256 and P-384, the curves of the kernel's ECDSA module keys
//! (kbuild makes P-384 ones). The arithmetic is RustCrypto's (`p256`, `p384`).
//!
//! Unlike RSA, an ECDSA signature cannot be opened: for any key and any well-formed (r, s)
//! there is a digest it verifies against, so a signature that fails does not tell whether the
//! bytes changed after signing or another key of the same curve made it. What it can tell is
//! that it is no signature by this key at all: a value that is not an `Ecdsa-Sig-Value`, an r
//! or s out of the curve's range, or r and s both far shorter than the curve's numbers (a
//! smaller curve's signature). [`EcKey::verify_prehash`] says which.

use der::asn1::UintRef;
use der::oid::ObjectIdentifier;
use der::{Decode, Reader, SliceReader};
use p256::ecdsa::signature::hazmat::PrehashVerifier;

use crate::hash::HashAlg;

/// `1.2.840.10045.2.1`, id-ecPublicKey.
pub const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `1.2.840.10045.3.1.7`, secp256r1 (P-256).
pub const OID_SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// `1.3.132.0.34`, secp384r1 (P-384).
pub const OID_SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// `ecdsa-with-SHA*`: the signature algorithms the kernel's PKCS#7 parser takes as ECDSA
/// (`pkcs7_sig_note_pkey_algo`); the digest itself is the SignerInfo's digestAlgorithm.
const ECDSA_WITH_HASH: &[&str] = &[
    "1.2.840.10045.4.1",   // sha1
    "1.2.840.10045.4.3.1", // sha224
    "1.2.840.10045.4.3.2", // sha256
    "1.2.840.10045.4.3.3", // sha384
    "1.2.840.10045.4.3.4", // sha512
];

/// `ecdsa-with-<hash>`, the signature algorithm OpenSSL (so sign-file) names for ECDSA.
pub fn ecdsa_with(hash: HashAlg) -> ObjectIdentifier {
    const SHA224: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.1");
    const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
    const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
    const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
    match hash {
        HashAlg::Sha224 => SHA224,
        HashAlg::Sha256 => SHA256,
        HashAlg::Sha384 => SHA384,
        HashAlg::Sha512 => SHA512,
    }
}

/// Whether a SignerInfo's signature algorithm is ECDSA.
pub fn is_ecdsa(sig_oid: &ObjectIdentifier) -> bool {
    ECDSA_WITH_HASH.contains(&sig_oid.to_string().as_str())
}

/// Named curves the kernel knows for ECDSA keys, by OID, for messages.
const CURVE_NAMES: &[(&str, &str)] = &[
    ("1.2.840.10045.3.1.1", "P-192"),
    ("1.2.840.10045.3.1.7", "P-256"),
    ("1.3.132.0.34", "P-384"),
    ("1.3.132.0.35", "P-521"),
];

/// The name of a named curve, or its OID.
pub fn curve_name(oid: &ObjectIdentifier) -> String {
    let s = oid.to_string();
    CURVE_NAMES
        .iter()
        .find(|(o, _)| *o == s)
        .map_or(s, |(_, n)| n.to_string())
}

/// A curve kbtf verifies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
}

impl Curve {
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Curve> {
        if *oid == OID_SECP256R1 {
            Some(Curve::P256)
        } else if *oid == OID_SECP384R1 {
            Some(Curve::P384)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
        }
    }

    /// The size of the curve's order (and field) in bytes.
    pub fn bytes(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }
}

impl std::fmt::Display for Curve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An ECDSA public key from a certificate.
#[derive(Debug, Clone)]
pub enum EcKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

/// Why an ECDSA signature does not verify with a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcRefusal {
    /// It is no signature by this key, whatever the bytes: why.
    NotThisKey(String),
    /// It is a well-formed signature for this curve that does not verify: the bytes changed
    /// after signing, or another key of the curve made it; the signature cannot tell which.
    Undecided,
}

impl EcKey {
    /// The key of a SubjectPublicKeyInfo whose algorithm is id-ecPublicKey with the named
    /// curve `curve`: `point` is the SEC 1 encoded point (the BIT STRING's bytes).
    pub fn from_sec1(curve: Curve, point: &[u8]) -> Result<EcKey, String> {
        let bad = |e| format!("its {curve} public key is not a point of the curve: {e}");
        Ok(match curve {
            Curve::P256 => {
                EcKey::P256(p256::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(bad)?)
            }
            Curve::P384 => {
                EcKey::P384(p384::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(bad)?)
            }
        })
    }

    pub fn curve(&self) -> Curve {
        match self {
            EcKey::P256(_) => Curve::P256,
            EcKey::P384(_) => Curve::P384,
        }
    }

    /// Checks the DER `Ecdsa-Sig-Value` `sig` over the digest `prehash` (at least half the
    /// curve's size, as every digest kbtf computes is for P-256 and P-384).
    pub fn verify_prehash(&self, prehash: &[u8], sig: &[u8]) -> Result<(), EcRefusal> {
        let curve = self.curve();
        let (r, s) = sig_value(sig).map_err(|e| {
            EcRefusal::NotThisKey(format!(
                "the signature value is not a DER Ecdsa-Sig-Value (SEQUENCE of r and s): {e}"
            ))
        })?;
        let size = curve.bytes();
        let bits = |v: &[u8]| {
            v.iter()
                .position(|&b| b != 0)
                .map_or(0, |i| (v.len() - i) * 8 - v[i].leading_zeros() as usize)
        };
        let (r_bits, s_bits) = (bits(r), bits(s));
        let widest = r_bits.max(s_bits);
        if widest > size * 8 {
            return Err(EcRefusal::NotThisKey(format!(
                "its r and s are {r_bits}- and {s_bits}-bit numbers, wider than any of {curve}: made on a larger curve, or damaged"
            )));
        }
        // r and s of a signature on this curve are close to uniform below its order: both 64
        // or more bits short of it happens once in 2^128 signatures.
        if widest + 64 <= size * 8 {
            return Err(EcRefusal::NotThisKey(format!(
                "its r and s are {r_bits}- and {s_bits}-bit numbers, where {curve}'s are {}-bit: made on a smaller curve, or damaged",
                size * 8
            )));
        }
        let out_of_range = || {
            EcRefusal::NotThisKey(format!(
                "its r or s is zero or not below the order of {curve}: made on another curve, or damaged"
            ))
        };
        let ok = match self {
            EcKey::P256(k) => {
                let sig = p256::ecdsa::Signature::from_scalars(
                    field_bytes::<32>(r).ok_or_else(out_of_range)?,
                    field_bytes::<32>(s).ok_or_else(out_of_range)?,
                )
                .map_err(|_| out_of_range())?;
                k.verify_prehash(prehash, &sig).is_ok()
            }
            EcKey::P384(k) => {
                let sig = p384::ecdsa::Signature::from_scalars(
                    field_bytes::<48>(r).ok_or_else(out_of_range)?,
                    field_bytes::<48>(s).ok_or_else(out_of_range)?,
                )
                .map_err(|_| out_of_range())?;
                k.verify_prehash(prehash, &sig).is_ok()
            }
        };
        if ok {
            Ok(())
        } else {
            Err(EcRefusal::Undecided)
        }
    }
}

/// `v` (big endian, no leading zeros) left-padded to `N` bytes, if it fits.
fn field_bytes<const N: usize>(v: &[u8]) -> Option<[u8; N]> {
    let pad = N.checked_sub(v.len())?;
    let mut out = [0u8; N];
    out[pad..].copy_from_slice(v);
    Some(out)
}

/// r and s of a DER `Ecdsa-Sig-Value` (RFC 3279), without leading zeros; the whole input must
/// be that one SEQUENCE.
pub fn sig_value(der: &[u8]) -> Result<(&[u8], &[u8]), der::Error> {
    let mut reader = SliceReader::new(der)?;
    let (r, s) = reader.sequence(|seq| {
        let r = UintRef::decode(seq)?;
        let s = UintRef::decode(seq)?;
        Ok((r.as_bytes(), s.as_bytes()))
    })?;
    reader.finish((r, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sig_value_reads_r_and_s() {
        // SEQUENCE { INTEGER 0x00ff (positive 255), INTEGER 0x01 }
        let der = [0x30, 0x07, 0x02, 0x02, 0x00, 0xff, 0x02, 0x01, 0x01];
        assert_eq!(sig_value(&der).unwrap(), (&[0xff][..], &[0x01][..]));
        // Trailing bytes, a negative integer, a missing s: refused.
        assert!(sig_value(&[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00]).is_err());
        assert!(sig_value(&[0x30, 0x06, 0x02, 0x01, 0x80, 0x02, 0x01, 0x01]).is_err());
        assert!(sig_value(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_err());
    }

    #[test]
    fn field_bytes_pads_on_the_left() {
        assert_eq!(field_bytes::<4>(&[1, 2]), Some([0, 0, 1, 2]));
        assert_eq!(field_bytes::<2>(&[1, 2, 3]), None);
    }

    #[test]
    fn ecdsa_oids() {
        assert!(is_ecdsa(&ObjectIdentifier::new_unwrap(
            "1.2.840.10045.4.3.3"
        )));
        assert!(!is_ecdsa(&ObjectIdentifier::new_unwrap(
            "1.2.840.113549.1.1.1"
        )));
        assert_eq!(curve_name(&OID_SECP384R1), "P-384");
        assert_eq!(Curve::from_oid(&OID_SECP256R1), Some(Curve::P256));
        assert_eq!(
            Curve::from_oid(&ObjectIdentifier::new_unwrap("1.3.132.0.35")),
            None
        );
    }
}
