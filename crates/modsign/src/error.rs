//! Typed errors of module signature handling. None of them carries key material.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModsignError {
    #[error("{path}: {err}")]
    Io {
        path: PathBuf,
        /// Kept out of `source()`: the message already says it.
        err: std::io::Error,
    },
    #[error(transparent)]
    Trailer(#[from] kbtf_emit::EmitError),
    /// The signature blob is not the PKCS#7 `SignedData` sign-file writes.
    #[error("PKCS#7 signature: {0}")]
    Pkcs7(String),
    #[error("{path}: certificate: {what}")]
    Cert { path: PathBuf, what: String },
    #[error("{path}: private key: {what}")]
    Key { path: PathBuf, what: String },
    #[error("the private key {key} does not belong to the certificate {cert} (their public keys differ)")]
    KeyMismatch { key: PathBuf, cert: PathBuf },
    #[error("signing: {0}")]
    Sign(String),
}
