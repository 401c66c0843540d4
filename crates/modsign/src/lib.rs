//! Kernel module signatures: what `scripts/sign-file` appends to a module, read, checked and
//! made again.
//!
//! A signed module ends with a DER PKCS#7 (CMS) `SignedData`, detached (the module is the
//! content), without certificates and without signed attributes (the kernel refuses module
//! signatures that have them), then the 12-byte `struct module_signature` and the magic
//! (`kbtf_emit::modsig` reads and writes that trailer). The one signer is named by issuer and
//! serial number (or subject key id), and its signature is over the digest of the module bytes:
//! RSA PKCS#1 v1.5 (Debian's 6.1 kernels), or ECDSA, a DER `Ecdsa-Sig-Value`, with a key on
//! NIST P-256 or P-384 (Debian's 6.12 kernels sign with a P-384 key; [`ec`]).
//!
//! - [`inspect`] parses a module's signature: trailer, signer, algorithms.
//! - [`verify()`] recomputes the digest and checks the signature with the signer's certificate
//!   ([`cert::load`] reads certificates from PEM, DER, or a vmlinux's built-in
//!   `system_certificate_list`). For RSA it tells a stale signature (signed digest differs from
//!   the bytes') from one made by another key. An ECDSA signature cannot be opened to the
//!   digest it covers, so one that fails is either, and [`Verdict::StaleOrOtherKey`] says so,
//!   unless it is no signature by the key at all (another curve or algorithm, a damaged value:
//!   [`Verdict::OtherKey`]).
//! - [`SigningKey`] signs module bytes as sign-file does: with an RSA key the same DER byte for
//!   byte; with an ECDSA key (P-256, P-384) the same DER around a signature value whose nonce
//!   is RFC 6979's, where OpenSSL's is random.
//!
//! The cryptography is RustCrypto's (`rsa`, `p256`, `p384`, `cms`, `x509-cert`, `der`, `sha2`);
//! nothing here is hand-written cryptography. A private key is read from its file into zeroized
//! memory, kept only inside [`SigningKey`] (zeroized on drop by `rsa`, `p256`, `p384`), never
//! written, printed or put into an error message.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod cert;
pub mod ec;
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
