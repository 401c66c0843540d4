//! X.509 certificates: the signer's, to verify a module signature with, and the signing
//! certificate that names the signer in a new signature.
//!
//! [`load`] reads every certificate of a file: PEM (any number of `CERTIFICATE` blocks; other
//! blocks, such as the private key in kbuild's `certs/signing_key.pem`, are skipped unread),
//! DER (one certificate, or several back to back as in the kernel's `x509_certificate_list`),
//! or an ELF vmlinux, whose built-in keyring is `system_certificate_list`
//! (`system_certificate_list_size` bytes of DER certificates, certs/system_certificates.S).
//! Debian signs its modules with a key made at build time whose certificate exists only there,
//! so the `-dbg` package's vmlinux is where `kbtf check --cert` finds it.

use std::path::{Path, PathBuf};

use der::{Decode, Encode};
use object::{Object, ObjectSection, ObjectSymbol};
use rsa::pkcs8::DecodePublicKey;
use rsa::RsaPublicKey;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;

use crate::ec::{self, Curve, EcKey};
use crate::error::ModsignError;
use crate::hash::hex;
use crate::pkcs7::{SignerId, OID_RSA_ENCRYPTION};

/// A certificate's public key, of a kind kbtf verifies with.
#[derive(Debug, Clone)]
pub enum PublicKey {
    Rsa(RsaPublicKey),
    Ec(EcKey),
}

impl PublicKey {
    /// `RSA` or `ECDSA P-384`, for messages.
    pub fn describe(&self) -> String {
        match self {
            PublicKey::Rsa(_) => "RSA".into(),
            PublicKey::Ec(k) => format!("ECDSA {}", k.curve()),
        }
    }
}

/// One certificate, and where it came from.
#[derive(Debug, Clone)]
pub struct Cert {
    pub cert: Certificate,
    /// Where it was read: the file, and for lists which one.
    pub origin: String,
}

/// `2.5.29.14`, subjectKeyIdentifier.
const OID_SKID: der::oid::ObjectIdentifier = der::oid::ObjectIdentifier::new_unwrap("2.5.29.14");

impl Cert {
    pub fn from_der(der: &[u8], origin: String) -> Result<Cert, der::Error> {
        Ok(Cert {
            cert: Certificate::from_der(der)?,
            origin,
        })
    }

    /// The certificate's DER.
    pub fn to_der(&self) -> Result<Vec<u8>, der::Error> {
        self.cert.to_der()
    }

    pub fn subject(&self) -> String {
        self.cert.tbs_certificate.subject.to_string()
    }

    pub fn issuer(&self) -> &Name {
        &self.cert.tbs_certificate.issuer
    }

    pub fn serial(&self) -> &SerialNumber {
        &self.cert.tbs_certificate.serial_number
    }

    /// The subject key identifier extension, if any.
    pub fn key_id(&self) -> Option<Vec<u8>> {
        let exts = self.cert.tbs_certificate.extensions.as_ref()?;
        let ext = exts.iter().find(|e| e.extn_id == OID_SKID)?;
        SubjectKeyIdentifier::from_der(ext.extn_value.as_bytes())
            .ok()
            .map(|k| k.0.as_bytes().to_vec())
    }

    /// The certificate's RSA public key; an error saying what it is otherwise.
    pub fn rsa_public_key(&self) -> Result<RsaPublicKey, String> {
        let spki = &self.cert.tbs_certificate.subject_public_key_info;
        let der = spki.to_der().map_err(|e| e.to_string())?;
        RsaPublicKey::from_public_key_der(&der).map_err(|e| {
            format!(
                "its public key ({}) is not an RSA key kbtf can use: {e}",
                spki.algorithm.oid
            )
        })
    }

    /// The certificate's public key, RSA or ECDSA on P-256 or P-384; an error saying what it
    /// is otherwise.
    pub fn public_key(&self) -> Result<PublicKey, String> {
        let spki = &self.cert.tbs_certificate.subject_public_key_info;
        let alg = &spki.algorithm;
        if alg.oid == OID_RSA_ENCRYPTION {
            return self.rsa_public_key().map(PublicKey::Rsa);
        }
        if alg.oid != ec::OID_EC_PUBLIC_KEY {
            return Err(format!(
                "its public key algorithm {} is neither RSA nor EC (id-ecPublicKey)",
                alg.oid
            ));
        }
        let curve_oid = alg
            .parameters
            .as_ref()
            .ok_or_else(|| "its EC public key has no curve parameters".to_string())?
            .decode_as::<der::oid::ObjectIdentifier>()
            .map_err(|e| format!("its EC public key does not name its curve (namedCurve): {e}"))?;
        let Some(curve) = Curve::from_oid(&curve_oid) else {
            return Err(format!(
                "its public key is on the curve {}; kbtf verifies ECDSA on P-256 and P-384",
                ec::curve_name(&curve_oid)
            ));
        };
        let point = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| "its EC public key is not a whole number of bytes".to_string())?;
        EcKey::from_sec1(curve, point).map(PublicKey::Ec)
    }

    /// Whether this is the certificate a signer names.
    pub fn matches(&self, id: &SignerId) -> bool {
        match id {
            SignerId::IssuerSerial { issuer, serial } => {
                self.serial().as_bytes() == serial.as_slice() && self.issuer() == issuer
            }
            SignerId::KeyId(k) => self.key_id().as_deref() == Some(k.as_slice()),
        }
    }

    /// `CN=..., serial ...` for messages.
    pub fn describe(&self) -> String {
        format!(
            "{}, serial {}",
            self.subject(),
            hex(self.serial().as_bytes())
        )
    }
}

/// Every certificate in the file at `path` (PEM, DER, or an ELF vmlinux). An error when there
/// is none.
pub fn load(path: &Path) -> Result<Vec<Cert>, ModsignError> {
    let io = |err| ModsignError::Io {
        path: path.to_owned(),
        err,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    // SAFETY: the file is only read, and a vmlinux is not modified while kbtf runs; a
    // concurrent truncation could fault, as for any mapped input.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    let data: &[u8] = &map;
    let certs = if data.starts_with(b"\x7fELF") {
        from_elf(path, data)?
    } else if is_der_cert_start(data) {
        from_der_list(path, data, &path.display().to_string())?
    } else {
        from_pem(path, data)?
    };
    if certs.is_empty() {
        return Err(cert_err(path, "no certificate in the file"));
    }
    Ok(certs)
}

/// The first certificate of the file at `path`, as sign-file reads its `x509` argument:
/// DER when the file starts like a DER certificate, else PEM.
pub fn load_one(path: &Path) -> Result<Cert, ModsignError> {
    let data = std::fs::read(path).map_err(|err| ModsignError::Io {
        path: path.to_owned(),
        err,
    })?;
    let mut certs = if is_der_cert_start(&data) {
        from_der_list(path, &data, &path.display().to_string())?
    } else {
        from_pem(path, &data)?
    };
    if certs.is_empty() {
        return Err(cert_err(path, "no certificate (PEM or DER) in the file"));
    }
    Ok(certs.swap_remove(0))
}

fn cert_err(path: &Path, what: impl Into<String>) -> ModsignError {
    ModsignError::Cert {
        path: PathBuf::from(path),
        what: what.into(),
    }
}

/// sign-file's test: a SEQUENCE with a long-form length.
fn is_der_cert_start(data: &[u8]) -> bool {
    data.len() >= 2 && data[0] == 0x30 && (0x81..=0x84).contains(&data[1])
}

/// The length of the DER TLV at the start of `data` (tag, length and value), if it is a
/// SEQUENCE whose length fits.
fn der_seq_len(data: &[u8]) -> Option<usize> {
    if data.len() < 2 || data[0] != 0x30 {
        return None;
    }
    let (len, hdr) = match data[1] {
        n @ 0..=0x7f => (n as usize, 2),
        n @ 0x81..=0x84 => {
            let k = (n & 0x7f) as usize;
            let bytes = data.get(2..2 + k)?;
            (
                bytes.iter().fold(0usize, |acc, &b| (acc << 8) | b as usize),
                2 + k,
            )
        }
        _ => return None,
    };
    let total = hdr.checked_add(len)?;
    (total <= data.len()).then_some(total)
}

/// Certificates back to back, as the kernel's `x509_load_certificate_list` reads them.
fn from_der_list(path: &Path, data: &[u8], origin: &str) -> Result<Vec<Cert>, ModsignError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let Some(len) = der_seq_len(&data[at..]) else {
            return Err(cert_err(
                path,
                format!("offset {at:#x}: not a DER certificate (SEQUENCE)"),
            ));
        };
        let n = out.len() + 1;
        let c = Cert::from_der(&data[at..at + len], format!("{origin} #{n}"))
            .map_err(|e| cert_err(path, format!("offset {at:#x}: {e}")))?;
        out.push(c);
        at += len;
    }
    if out.len() == 1 {
        out[0].origin = origin.to_string();
    }
    Ok(out)
}

/// The `-----BEGIN L-----` ... `-----END L-----` blocks of a PEM file: (label, block text).
pub(crate) fn pem_blocks(text: &[u8]) -> Vec<(String, &[u8])> {
    let mut out = Vec::new();
    let mut start: Option<(usize, String)> = None;
    let mut pos = 0;
    for line in text.split_inclusive(|&b| b == b'\n') {
        let trimmed = line.trim_ascii();
        if let Some(label) = trimmed
            .strip_prefix(b"-----BEGIN ")
            .and_then(|l| l.strip_suffix(b"-----"))
        {
            start = Some((pos, String::from_utf8_lossy(label).into_owned()));
        } else if let Some(label) = trimmed
            .strip_prefix(b"-----END ")
            .and_then(|l| l.strip_suffix(b"-----"))
        {
            if let Some((s, l)) = start.take() {
                if l.as_bytes() == label {
                    out.push((l, &text[s..pos + line.len()]));
                }
            }
        }
        pos += line.len();
    }
    out
}

fn from_pem(path: &Path, data: &[u8]) -> Result<Vec<Cert>, ModsignError> {
    let mut out = Vec::new();
    let blocks = pem_blocks(data);
    if blocks.is_empty() {
        return Err(cert_err(
            path,
            "neither a DER certificate nor PEM (no -----BEGIN line)",
        ));
    }
    for (label, block) in blocks {
        if label != "CERTIFICATE" && label != "X509 CERTIFICATE" {
            continue;
        }
        let n = out.len() + 1;
        let (_, der) = der::pem::decode_vec(block)
            .map_err(|e| cert_err(path, format!("PEM CERTIFICATE block {n}: {e}")))?;
        let c = Cert::from_der(&der, format!("{} #{n}", path.display()))
            .map_err(|e| cert_err(path, format!("PEM CERTIFICATE block {n}: {e}")))?;
        out.push(c);
    }
    if out.len() == 1 {
        out[0].origin = path.display().to_string();
    }
    Ok(out)
}

/// The certificates built into a vmlinux: by its symbols, or, for a vmlinux without a symbol
/// table (the one inside vmlinuz), by finding DER certificates in `.init.data`.
fn from_elf(path: &Path, data: &[u8]) -> Result<Vec<Cert>, ModsignError> {
    let file = object::File::parse(data).map_err(|e| cert_err(path, format!("ELF: {e}")))?;
    let sym = |name: &str| file.symbols().find(|s| s.name() == Ok(name));
    let read = |addr: u64, len: u64| -> Option<&[u8]> {
        file.sections()
            .find(|s| s.address() <= addr && addr < s.address() + s.size())
            .and_then(|s| s.data_range(addr, len).ok().flatten())
    };
    let origin = format!("{}: system_certificate_list", path.display());
    if let (Some(list), Some(size)) = (
        sym("system_certificate_list"),
        sym("system_certificate_list_size"),
    ) {
        let size_bytes = read(size.address(), 8).ok_or_else(|| {
            cert_err(
                path,
                "system_certificate_list_size: no data at its address (a debug-only vmlinux?)",
            )
        })?;
        let b: [u8; 8] = size_bytes.try_into().unwrap_or([0; 8]);
        let len = if file.is_little_endian() {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        };
        if len == 0 {
            return Err(cert_err(
                path,
                "system_certificate_list is empty: the kernel has no built-in certificate",
            ));
        }
        let bytes = read(list.address(), len).ok_or_else(|| {
            cert_err(
                path,
                format!(
                    "system_certificate_list: {len} bytes at {:#x} are not in the file",
                    list.address()
                ),
            )
        })?;
        return from_der_list(path, bytes, &origin);
    }
    let Some(init) = file.section_by_name(".init.data") else {
        return Err(cert_err(
            path,
            "an ELF file without system_certificate_list symbols or .init.data: not a vmlinux with built-in certificates",
        ));
    };
    let bytes = init
        .data()
        .map_err(|e| cert_err(path, format!(".init.data: {e}")))?;
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 < bytes.len() {
        // A certificate starts SEQUENCE(long) SEQUENCE(long) (the TBSCertificate).
        if bytes[at] == 0x30 && bytes[at + 1] == 0x82 && bytes[at + 4] == 0x30 {
            if let Some(len) = der_seq_len(&bytes[at..]) {
                let origin = format!(
                    "{}: certificate found in .init.data at offset {at:#x}",
                    path.display()
                );
                if let Ok(c) = Cert::from_der(&bytes[at..at + len], origin) {
                    out.push(c);
                    at += len;
                    continue;
                }
            }
        }
        at += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_are_split_by_label() {
        let text = b"junk\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n\
            -----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n";
        let blocks = pem_blocks(text);
        let labels: Vec<&str> = blocks.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, ["PRIVATE KEY", "CERTIFICATE"]);
        assert!(blocks[1].1.starts_with(b"-----BEGIN CERTIFICATE-----"));
        assert!(blocks[1].1.ends_with(b"-----END CERTIFICATE-----\n"));
    }

    #[test]
    fn der_lengths() {
        assert_eq!(der_seq_len(&[0x30, 0x03, 1, 2, 3]), Some(5));
        assert_eq!(der_seq_len(&[0x30, 0x82, 0x00, 0x02, 1, 2]), Some(6));
        assert_eq!(der_seq_len(&[0x30, 0x82, 0x01, 0x00, 1]), None);
        assert_eq!(der_seq_len(&[0x31, 0x00]), None);
    }
}
