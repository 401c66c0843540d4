//! Module signatures in the binary: `--sign-key/--sign-cert/--sign-hash` on every command that
//! rewrites a module (`-J`, `distill`, `relocate`, `load`), and the signature report of
//! `kbtf check`. The cryptography is in `kbtf_modsign`; the key is read there, kept in memory
//! only, and never printed (messages name the certificate, never the key).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use kbtf_modsign::{Cert, HashAlg, Signature, SigningKey, Verdict};

/// Re-signing a rewritten module, as the kernel's scripts/sign-file does.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct SignArgs {
    /// Sign the rewritten module with this private key (unencrypted PEM: PRIVATE KEY, RSA
    /// PRIVATE KEY or EC PRIVATE KEY; RSA, or ECDSA on P-256 or P-384), as the kernel's
    /// scripts/sign-file does. Needs --sign-cert. The key is only read, never written or
    /// printed.
    #[arg(long, value_name = "KEY", requires = "sign_cert")]
    pub sign_key: Option<PathBuf>,
    /// The signing key's X.509 certificate (DER or PEM; e.g. kbuild's certs/signing_key.x509).
    #[arg(long, value_name = "CERT", requires = "sign_key")]
    pub sign_cert: Option<PathBuf>,
    /// Digest of the signature: sha256 (default), sha384 or sha512 (the kernel's
    /// CONFIG_MODULE_SIG_HASH).
    #[arg(long, value_name = "HASH", requires = "sign_key", value_parser = parse_hash)]
    pub sign_hash: Option<HashAlg>,
}

pub fn parse_hash(s: &str) -> Result<HashAlg, String> {
    HashAlg::from_name(s).ok_or_else(|| format!("unknown hash {s:?}: sha256, sha384 or sha512"))
}

impl SignArgs {
    /// The key, read and checked against its certificate, if signing was asked for.
    pub fn load(&self) -> Result<Option<SigningKey>> {
        load(
            self.sign_key.as_deref(),
            self.sign_cert.as_deref(),
            self.sign_hash,
        )
    }
}

/// Reads the signing key (both paths or neither).
pub fn load(
    key: Option<&Path>,
    cert: Option<&Path>,
    hash: Option<HashAlg>,
) -> Result<Option<SigningKey>> {
    match (key, cert) {
        (None, None) => {
            anyhow::ensure!(
                hash.is_none(),
                "--sign-hash needs --sign-key and --sign-cert"
            );
            Ok(None)
        }
        (Some(k), Some(c)) => Ok(Some(
            SigningKey::load(k, c, hash.unwrap_or(HashAlg::Sha256))
                .context("reading the signing key (--sign-key, --sign-cert)")?,
        )),
        _ => anyhow::bail!("--sign-key and --sign-cert go together"),
    }
}

/// `bytes` (a module, rewritten) signed with `key`, replacing any signature they carry.
pub fn sign(path: &Path, bytes: &[u8], key: &SigningKey) -> Result<Vec<u8>> {
    key.sign_module(bytes)
        .with_context(|| format!("{}: signing", path.display()))
}

/// `signed with CN=..., serial ... (sha256)` for messages.
pub fn signed_with(key: &SigningKey) -> String {
    format!("signed with {} ({})", key.cert().describe(), key.hash())
}

/// The warning, or note, after writing a rewritten module whose old signature was dropped.
pub fn report_written(path: &Path, had_signature: bool, key: Option<&SigningKey>) {
    match key {
        Some(k) => eprintln!("kbtf: {}: {}", path.display(), signed_with(k)),
        None if had_signature => eprintln!(
            "kbtf: warning: {}: its module signature no longer matched and was removed; the module is now unsigned (re-sign it with --sign-key/--sign-cert or scripts/sign-file)",
            path.display()
        ),
        None => {}
    }
}

/// Every certificate of the `--cert` files.
pub fn load_certs(paths: &[PathBuf]) -> Result<Vec<Cert>> {
    let mut out = Vec::new();
    for p in paths {
        out.extend(kbtf_modsign::cert::load(p).context("reading --cert")?);
    }
    Ok(out)
}

/// `kbtf check`'s lines about the signature of `module` (the bytes of an ELF file), and
/// whether they report a problem.
pub fn check_lines(module: &[u8], certs: &[Cert]) -> (Vec<String>, bool) {
    let sig = match kbtf_modsign::inspect(module) {
        Ok(None) => return (vec!["signature: unsigned".into()], false),
        Ok(Some(s)) => s,
        Err(e) => {
            return (
                vec![format!(
                    "signature: malformed: {e}; the kernel would refuse the module (EBADMSG)"
                )],
                true,
            )
        }
    };
    let mut lines = Vec::new();
    let by = signer(&sig);
    let verdict = kbtf_modsign::verify(module, &sig, certs);
    let mut problem = verdict.is_problem();
    lines.push(match verdict {
        Verdict::Valid { origin, .. } => {
            format!("signature: signed, valid: by {by}; verified with the certificate from {origin}")
        }
        Verdict::Stale {
            hash,
            signed,
            actual,
        } => format!(
            "signature: signed, signature no longer matches: by {by}; it covers {hash} {}, the module's bytes now hash to {} (the module changed after signing: re-sign it, or strip the signature)",
            kbtf_modsign::hash::hex(&signed),
            kbtf_modsign::hash::hex(&actual)
        ),
        Verdict::OtherKey { cert, why: None } => format!(
            "signature: signed, does not verify: by {by}, but it does not open with the key of the certificate {cert}: made with another key, or damaged"
        ),
        Verdict::OtherKey {
            cert,
            why: Some(why),
        } => format!(
            "signature: signed, does not verify: by {by}, but it is no signature by the key of the certificate {cert} ({why}): made with another key, or damaged"
        ),
        Verdict::StaleOrOtherKey { cert, hash, actual } => format!(
            "signature: signed, does not verify: by {by}, with the key of the certificate {cert}; either the module changed after signing (its bytes now hash to {hash} {}) or another key made the signature, and an ECDSA signature does not record which (re-sign the module, or strip the signature)",
            kbtf_modsign::hash::hex(&actual)
        ),
        Verdict::UnknownSigner { given } => format!(
            "signature: signed, not verified: by {by}, and none of the {given} certificate(s) given is the signer's (a kernel with only these keys refuses it under enforcement)"
        ),
        Verdict::NotVerified(why) => {
            format!("signature: signed, not verified: by {by}; {why}")
        }
    });
    for p in sig.kernel_problems() {
        lines.push(format!("signature: {p}"));
        problem = true;
    }
    (lines, problem)
}

fn signer(sig: &Signature) -> String {
    let s = sig.signer();
    format!("{} ({}, {})", s.id, s.digest_name(), s.sig_alg_name())
}
