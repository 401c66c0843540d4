//! The digest algorithms of module signatures: those of the kernel's `CONFIG_MODULE_SIG_HASH`
//! choices that RustCrypto's SHA-2 covers.

use der::oid::ObjectIdentifier;
use rsa::pkcs1v15::Pkcs1v15Sign;
use rsa::sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

/// A digest algorithm of a module signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlg {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

pub const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
pub const OID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
pub const OID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
pub const OID_SHA224: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.4");

impl HashAlg {
    pub const ALL: [HashAlg; 4] = [
        HashAlg::Sha224,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
    ];

    /// The name sign-file takes (`sha256`).
    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Sha224 => "sha224",
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha384 => "sha384",
            HashAlg::Sha512 => "sha512",
        }
    }

    pub fn from_name(name: &str) -> Option<HashAlg> {
        HashAlg::ALL.into_iter().find(|h| h.name() == name)
    }

    pub fn oid(self) -> ObjectIdentifier {
        match self {
            HashAlg::Sha224 => OID_SHA224,
            HashAlg::Sha256 => OID_SHA256,
            HashAlg::Sha384 => OID_SHA384,
            HashAlg::Sha512 => OID_SHA512,
        }
    }

    pub fn from_oid(oid: &ObjectIdentifier) -> Option<HashAlg> {
        HashAlg::ALL.into_iter().find(|h| h.oid() == *oid)
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlg::Sha224 => Sha224::digest(data).to_vec(),
            HashAlg::Sha256 => Sha256::digest(data).to_vec(),
            HashAlg::Sha384 => Sha384::digest(data).to_vec(),
            HashAlg::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// RSA PKCS#1 v1.5 signature padding with this digest's `DigestInfo` prefix.
    pub fn pkcs1v15(self) -> Pkcs1v15Sign {
        match self {
            HashAlg::Sha224 => Pkcs1v15Sign::new::<Sha224>(),
            HashAlg::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
            HashAlg::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
            HashAlg::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
        }
    }
}

impl std::fmt::Display for HashAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
