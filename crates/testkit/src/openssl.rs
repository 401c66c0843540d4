//! Test keys, certificates and module signatures made with the `openssl` command at test time,
//! as the kernel's build makes them (`certs/Makefile`: `openssl req -new -x509 -newkey ...`)
//! and as `scripts/sign-file` signs (OpenSSL's CMS, detached, no certificates, no signed
//! attributes). ECDSA signatures are randomized, so they are made fresh rather than committed.
//! Nothing made here is trusted by any kernel; the keys live in the test's temporary directory.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A private key (PEM, PKCS#8) and its self-signed certificate (PEM).
#[derive(Debug, Clone)]
pub struct TestKey {
    pub key: PathBuf,
    pub cert: PathBuf,
}

/// Runs `openssl` with `args`; panics with its output when it fails.
pub fn openssl<S: AsRef<std::ffi::OsStr>>(args: &[S]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running openssl (needed by this test): {e}"));
    assert!(
        out.status.success(),
        "openssl {:?}: {}{}",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A new key made with `openssl req -newkey NEWKEY` (`ec -pkeyopt ec_paramgen_curve:P-384`,
/// `rsa:2048`, ...) and its self-signed certificate with subject (and issuer) `subject`
/// (`/CN=...`) and serial number `serial` (`0x...`), in `dir` as `NAME.key` and `NAME.crt`.
pub fn new_key(dir: &Path, name: &str, newkey: &[&str], subject: &str, serial: &str) -> TestKey {
    let key = dir.join(format!("{name}.key"));
    let cert = dir.join(format!("{name}.crt"));
    let mut args: Vec<std::ffi::OsString> = ["req", "-new", "-x509", "-nodes", "-utf8", "-batch"]
        .iter()
        .map(Into::into)
        .collect();
    args.push("-newkey".into());
    args.extend(newkey.iter().map(Into::into));
    for a in [
        "-days",
        "36500",
        "-sha256",
        "-subj",
        subject,
        "-set_serial",
        serial,
        "-addext",
        "subjectKeyIdentifier=hash",
        "-keyout",
    ] {
        args.push(a.into());
    }
    args.push(key.clone().into());
    args.push("-out".into());
    args.push(cert.clone().into());
    openssl(&args);
    TestKey { key, cert }
}

/// A new ECDSA key on `curve` (`P-256`, `P-384`) and its certificate, as [`new_key`].
pub fn ec_key(dir: &Path, name: &str, curve: &str, subject: &str, serial: &str) -> TestKey {
    let opt = format!("ec_paramgen_curve:{curve}");
    new_key(dir, name, &["ec", "-pkeyopt", &opt], subject, serial)
}

/// How [`cms_sign`] departs from sign-file's defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignOpts {
    /// Name the signer by subject key identifier (`sign-file -k`, `openssl cms -keyid`).
    pub keyid: bool,
    /// Add signed attributes (no `-noattr`), which the kernel refuses in module signatures.
    pub signed_attrs: bool,
}

/// The DER PKCS#7 signature of `content` as sign-file makes it (`CMS_sign` with
/// `CMS_NOCERTS | CMS_BINARY | CMS_DETACHED`, signer added with `CMS_NOATTR |
/// CMS_NOSMIMECAP`), by `openssl cms -sign`.
pub fn cms_sign(content: &[u8], key: &TestKey, hash: &str, opts: SignOpts) -> Vec<u8> {
    let dir = tempfile_dir();
    let (input, output) = (dir.join("content"), dir.join("sig.p7s"));
    std::fs::write(&input, content).unwrap();
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    for a in [
        "cms",
        "-sign",
        "-binary",
        "-nocerts",
        "-nosmimecap",
        "-outform",
        "DER",
        "-md",
        hash,
    ] {
        args.push(a.into());
    }
    if !opts.signed_attrs {
        args.push("-noattr".into());
    }
    if opts.keyid {
        args.push("-keyid".into());
    }
    for (opt, path) in [
        ("-signer", &key.cert),
        ("-inkey", &key.key),
        ("-in", &input),
        ("-out", &output),
    ] {
        args.push(opt.into());
        args.push(path.into());
    }
    openssl(&args);
    let sig = std::fs::read(&output).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    sig
}

/// Whether `openssl cms -verify` accepts the DER PKCS#7 `sig` as a detached signature of
/// `content` by the certificate at `cert` (not checked against any CA: `-noverify`).
pub fn cms_verify(content: &[u8], sig: &[u8], cert: &Path) -> bool {
    let dir = tempfile_dir();
    let (c, p7s) = (dir.join("content"), dir.join("sig.p7s"));
    std::fs::write(&c, content).unwrap();
    std::fs::write(&p7s, sig).unwrap();
    let ok = Command::new("openssl")
        .args([
            "cms",
            "-verify",
            "-binary",
            "-noverify",
            "-inform",
            "DER",
            "-in",
        ])
        .arg(&p7s)
        .arg("-content")
        .arg(&c)
        .arg("-certfile")
        .arg(cert)
        .args(["-out", "/dev/null"])
        .output()
        .unwrap_or_else(|e| panic!("running openssl (needed by this test): {e}"))
        .status
        .success();
    let _ = std::fs::remove_dir_all(&dir);
    ok
}

/// `module` with the PKCS#7 `sig` appended as sign-file appends it: the blob, then `struct
/// module_signature` (algo, hash, id_type 2 = PKEY_ID_PKCS7, signer_len, key_id_len, 3 bytes of
/// padding, sig_len as big-endian u32), then the magic. Written here by hand, apart from kbtf's
/// own trailer code, from include/linux/module_signature.h.
pub fn append_signature(module: &[u8], sig: &[u8]) -> Vec<u8> {
    let mut out = module.to_vec();
    out.extend_from_slice(sig);
    out.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&u32::try_from(sig.len()).unwrap().to_be_bytes());
    out.extend_from_slice(b"~Module signature appended~\n");
    out
}

/// `module` signed by `key` with `hash`, as sign-file signs it.
pub fn sign_module(module: &[u8], key: &TestKey, hash: &str, opts: SignOpts) -> Vec<u8> {
    append_signature(module, &cms_sign(module, key, hash, opts))
}

/// A fresh directory under the system's temporary directory.
fn tempfile_dir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "kbtf-openssl-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}
