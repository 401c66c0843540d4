//! The PKCS#7 (CMS, RFC 5652) `SignedData` of a module signature: reading what is there, and
//! building the one `scripts/sign-file` builds (OpenSSL's `CMS_sign` with `CMS_NOCERTS |
//! CMS_BINARY | CMS_DETACHED`, one signer added with `CMS_NOATTR | CMS_NOSMIMECAP`):
//!
//! ```text
//! ContentInfo { signedData, SignedData {
//!   version 1, digestAlgorithms { hash (no parameters) },
//!   encapContentInfo { data } (detached: no content), no certificates, no CRLs,
//!   signerInfos { SignerInfo { version 1, issuerAndSerialNumber of the certificate,
//!     digestAlgorithm hash, no signedAttrs, signatureAlgorithm rsaEncryption (NULL)
//!     or ecdsa-with-<hash> (no parameters), signature } } } }
//! ```
//!
//! in DER, so the bytes are determined by the certificate, the hash and the signature.

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{Any, OctetString, SetOfVec};
use der::oid::ObjectIdentifier;
use der::{Decode, Encode};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::error::ModsignError;
use crate::hash::{hex, HashAlg};

pub const OID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
pub const OID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
pub const OID_RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
pub const OID_MESSAGE_DIGEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");

/// `sha*WithRSAEncryption`, which some signers name instead of `rsaEncryption`.
const RSA_WITH_HASH: &[&str] = &[
    "1.2.840.113549.1.1.5",  // sha1
    "1.2.840.113549.1.1.11", // sha256
    "1.2.840.113549.1.1.12", // sha384
    "1.2.840.113549.1.1.13", // sha512
    "1.2.840.113549.1.1.14", // sha224
];

/// Other signature algorithms the kernel knows for modules, by name, for messages.
const OTHER_SIG_ALGS: &[(&str, &str)] = &[
    ("1.2.840.10045.4.1", "ecdsa-with-SHA1"),
    ("1.2.840.10045.4.3.1", "ecdsa-with-SHA224"),
    ("1.2.840.10045.4.3.2", "ecdsa-with-SHA256"),
    ("1.2.840.10045.4.3.3", "ecdsa-with-SHA384"),
    ("1.2.840.10045.4.3.4", "ecdsa-with-SHA512"),
    ("1.2.840.10045.2.1", "ecPublicKey"),
    ("1.2.156.10197.1.501", "SM2-with-SM3"),
    ("1.3.101.112", "Ed25519"),
];

/// Digest algorithms the kernel knows that kbtf does not compute, by name, for messages.
const OTHER_DIGESTS: &[(&str, &str)] = &[
    ("1.3.14.3.2.26", "sha1"),
    ("2.16.840.1.101.3.4.2.8", "sha3-256"),
    ("2.16.840.1.101.3.4.2.9", "sha3-384"),
    ("2.16.840.1.101.3.4.2.10", "sha3-512"),
    ("1.2.156.10197.1.401", "sm3"),
];

/// How a signer names its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerId {
    /// The certificate's issuer and serial number (sign-file's default).
    IssuerSerial { issuer: Name, serial: Vec<u8> },
    /// The certificate's subject key identifier (`sign-file -k`).
    KeyId(Vec<u8>),
}

impl std::fmt::Display for SignerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignerId::IssuerSerial { issuer, serial } => {
                write!(f, "{issuer}, serial {}", hex(serial))
            }
            SignerId::KeyId(id) => write!(f, "subject key id {}", hex(id)),
        }
    }
}

/// One `SignerInfo`.
#[derive(Debug, Clone)]
pub struct Signer {
    pub id: SignerId,
    pub digest_oid: ObjectIdentifier,
    /// The digest algorithm, if kbtf computes it.
    pub hash: Option<HashAlg>,
    pub sig_oid: ObjectIdentifier,
    /// Whether the signature algorithm is RSA PKCS#1 v1.5.
    pub rsa: bool,
    /// Whether the signature algorithm is ECDSA (`ecdsa-with-SHA*`; the value is a DER
    /// `Ecdsa-Sig-Value`).
    pub ecdsa: bool,
    /// The DER of the signed attributes (as signed: a SET OF), if any.
    pub signed_attrs: Option<Vec<u8>>,
    /// The `messageDigest` signed attribute, if any.
    pub message_digest: Option<Vec<u8>>,
    pub signature: Vec<u8>,
}

impl Signer {
    /// `sha256`, or the digest's name or OID when kbtf does not compute it.
    pub fn digest_name(&self) -> String {
        match self.hash {
            Some(h) => h.name().to_string(),
            None => name_of(&self.digest_oid, OTHER_DIGESTS),
        }
    }

    /// `RSA`, or the signature algorithm's name or OID.
    pub fn sig_alg_name(&self) -> String {
        if self.rsa {
            "RSA".to_string()
        } else {
            name_of(&self.sig_oid, OTHER_SIG_ALGS)
        }
    }
}

fn name_of(oid: &ObjectIdentifier, table: &[(&str, &str)]) -> String {
    let s = oid.to_string();
    table
        .iter()
        .find(|(o, _)| *o == s)
        .map(|(_, n)| n.to_string())
        .unwrap_or(s)
}

/// What a module's PKCS#7 blob holds.
#[derive(Debug, Clone)]
pub struct Pkcs7 {
    /// Whether the content type is `data` (the kernel requires it of module signatures).
    pub content_is_data: bool,
    /// Whether the content is left out (detached), as for modules.
    pub detached: bool,
    /// How many certificates the blob carries (sign-file puts none).
    pub certificates: usize,
    pub signers: Vec<Signer>,
}

/// Parses a DER PKCS#7 `SignedData` blob.
pub fn parse(blob: &[u8]) -> Result<Pkcs7, ModsignError> {
    let bad = |what: &str, e: der::Error| ModsignError::Pkcs7(format!("{what}: {e}"));
    let ci = ContentInfo::from_der(blob).map_err(|e| bad("ContentInfo", e))?;
    if ci.content_type != OID_SIGNED_DATA {
        return Err(ModsignError::Pkcs7(format!(
            "content type {} is not signedData ({OID_SIGNED_DATA})",
            ci.content_type
        )));
    }
    let sd: SignedData = ci.content.decode_as().map_err(|e| bad("SignedData", e))?;
    let mut signers = Vec::new();
    for si in sd.signer_infos.0.iter() {
        signers.push(signer(si)?);
    }
    if signers.is_empty() {
        return Err(ModsignError::Pkcs7("no SignerInfo".into()));
    }
    Ok(Pkcs7 {
        content_is_data: sd.encap_content_info.econtent_type == OID_DATA,
        detached: sd.encap_content_info.econtent.is_none(),
        certificates: sd.certificates.as_ref().map_or(0, |c| c.0.len()),
        signers,
    })
}

fn signer(si: &SignerInfo) -> Result<Signer, ModsignError> {
    let id = match &si.sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => SignerId::IssuerSerial {
            issuer: isn.issuer.clone(),
            serial: isn.serial_number.as_bytes().to_vec(),
        },
        SignerIdentifier::SubjectKeyIdentifier(ski) => SignerId::KeyId(ski.0.as_bytes().to_vec()),
    };
    let sig_oid = si.signature_algorithm.oid;
    let s = sig_oid.to_string();
    let rsa = sig_oid == OID_RSA_ENCRYPTION || RSA_WITH_HASH.contains(&s.as_str());
    let (signed_attrs, message_digest) = match &si.signed_attrs {
        None => (None, None),
        Some(attrs) => {
            let der = attrs
                .to_der()
                .map_err(|e| ModsignError::Pkcs7(format!("signed attributes: {e}")))?;
            let md = attrs
                .iter()
                .find(|a| a.oid == OID_MESSAGE_DIGEST)
                .and_then(|a| a.values.iter().next())
                .and_then(|v| v.decode_as::<OctetString>().ok())
                .map(|o| o.as_bytes().to_vec());
            (Some(der), md)
        }
    };
    Ok(Signer {
        id,
        digest_oid: si.digest_alg.oid,
        hash: HashAlg::from_oid(&si.digest_alg.oid),
        sig_oid,
        rsa,
        ecdsa: crate::ec::is_ecdsa(&sig_oid),
        signed_attrs,
        message_digest,
        signature: si.signature.as_bytes().to_vec(),
    })
}

/// A signature algorithm of [`build`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlg {
    /// RSA PKCS#1 v1.5: `rsaEncryption` with NULL parameters, as OpenSSL writes it.
    Rsa,
    /// ECDSA: `ecdsa-with-<hash>` without parameters, as OpenSSL writes it; the signature is a
    /// DER `Ecdsa-Sig-Value`.
    Ecdsa,
}

impl SigAlg {
    fn identifier(self, hash: HashAlg) -> AlgorithmIdentifierOwned {
        match self {
            SigAlg::Rsa => AlgorithmIdentifierOwned {
                oid: OID_RSA_ENCRYPTION,
                parameters: Some(Any::null()),
            },
            SigAlg::Ecdsa => AlgorithmIdentifierOwned {
                oid: crate::ec::ecdsa_with(hash),
                parameters: None,
            },
        }
    }
}

/// The DER `SignedData` sign-file makes: detached, no certificates, no signed attributes, one
/// signer named by `issuer` and `serial`, with the `alg` `signature` over the content's `hash`.
pub fn build(
    hash: HashAlg,
    alg: SigAlg,
    issuer: &Name,
    serial: &SerialNumber,
    signature: Vec<u8>,
) -> Result<Vec<u8>, ModsignError> {
    let err = |what: &str, e: der::Error| ModsignError::Sign(format!("encoding {what}: {e}"));
    let digest_alg = AlgorithmIdentifierOwned {
        oid: hash.oid(),
        parameters: None,
    };
    let si = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: issuer.clone(),
            serial_number: serial.clone(),
        }),
        digest_alg: digest_alg.clone(),
        signed_attrs: None,
        signature_algorithm: alg.identifier(hash),
        signature: OctetString::new(signature).map_err(|e| err("the signature", e))?,
        unsigned_attrs: None,
    };
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![digest_alg])
            .map_err(|e| err("digestAlgorithms", e))?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: OID_DATA,
            econtent: None,
        },
        certificates: None,
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![si]).map_err(|e| err("signerInfos", e))?),
    };
    let ci = ContentInfo {
        content_type: OID_SIGNED_DATA,
        content: Any::encode_from(&sd).map_err(|e| err("SignedData", e))?,
    };
    ci.to_der().map_err(|e| err("ContentInfo", e))
}
