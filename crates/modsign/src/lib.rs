//! Kernel module signatures: what `scripts/sign-file` appends to a module, read, checked and
//! made again.
//!
//! A signed module ends with a DER PKCS#7 (CMS) `SignedData`, detached (the module is the
//! content), without certificates and without signed attributes (the kernel refuses module
//! signatures that have them), then the 12-byte `struct module_signature` and the magic
//! (`kbtf_emit::modsig` reads and writes that trailer). The one signer is named by issuer and
//! serial number (or subject key id), and its signature is RSA PKCS#1 v1.5 over the digest of
//! the module bytes.
//!
//! - [`inspect`] parses a module's signature: trailer, signer, algorithms.
//! - [`verify`] recomputes the digest and checks the signature with the signer's certificate
//!   ([`cert::load`] reads certificates from PEM, DER, or a vmlinux's built-in
//!   `system_certificate_list`), telling a stale signature (signed digest differs from the
//!   bytes') from one made by another key.
//! - [`SigningKey`] signs module bytes exactly as sign-file does (same DER, byte for byte).
//!
//! The cryptography is RustCrypto's (`rsa`, `cms`, `x509-cert`, `der`, `sha2`); nothing here is
//! hand-written cryptography. A private key is read from its file into zeroized memory, kept
//! only inside [`SigningKey`] (zeroized on drop by `rsa`), never written, printed or put into an
//! error message.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod cert;
pub mod error;
pub mod hash;
pub mod key;
pub mod pkcs7;
pub mod verify;

pub use cert::Cert;
pub use error::ModsignError;
pub use hash::HashAlg;
pub use key::SigningKey;
pub use verify::{inspect, verify, Signature, Verdict};
