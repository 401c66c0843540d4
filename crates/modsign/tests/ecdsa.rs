//! ECDSA module signatures (the kind Debian's 6.12 kernels carry), on keys, certificates and
//! signatures that `openssl` makes at test time as kbuild and scripts/sign-file make them (see
//! kbtf_testkit::openssl): valid on P-256 and P-384 with every digest, bytes changed under the
//! signature, another key of the same curve, of another curve or algorithm, damaged values.

use kbtf_modsign::cert::{self, PublicKey};
use kbtf_modsign::ec::EcRefusal;
use kbtf_modsign::{inspect, verify, HashAlg, SigningKey, Verdict};
use kbtf_testkit::openssl::{ec_key, new_key, sign_module, SignOpts, TestKey};
use kbtf_testkit::testdata;

const SUBJECT: &str = "/CN=kbtf ECDSA test key (public and never trusted)";
const SERIAL: &str = "0x5eed0001";

/// dummy.ko without its signature: the bytes to sign.
fn module() -> Vec<u8> {
    let ko = std::fs::read(testdata("modules-6.1/dummy.ko")).unwrap();
    kbtf_emit::modsig::strip(&ko).unwrap().to_vec()
}

fn certs(key: &TestKey) -> Vec<kbtf_modsign::Cert> {
    cert::load(&key.cert).unwrap()
}

fn hash(name: &str) -> HashAlg {
    HashAlg::from_name(name).unwrap()
}

#[test]
fn ecdsa_signatures_verify_on_p256_and_p384_with_each_digest() {
    let dir = tempfile::tempdir().unwrap();
    let unsigned = module();
    for curve in ["P-256", "P-384"] {
        let key = ec_key(dir.path(), curve, curve, SUBJECT, SERIAL);
        for h in ["sha224", "sha256", "sha384", "sha512"] {
            let signed = sign_module(&unsigned, &key, h, SignOpts::default());
            let sig = inspect(&signed).unwrap().unwrap();
            let s = sig.signer();
            assert!(s.ecdsa && !s.rsa, "{curve} {h}: {s:?}");
            assert_eq!(s.hash, Some(hash(h)));
            assert_eq!(s.sig_alg_name(), format!("ecdsa-with-{}", h.to_uppercase()));
            assert!(
                sig.kernel_problems().is_empty(),
                "{:?}",
                sig.kernel_problems()
            );
            match verify(&signed, &sig, &certs(&key)) {
                Verdict::Valid { cert, .. } => {
                    assert!(cert.starts_with("CN=kbtf ECDSA test key"), "{cert}")
                }
                v => panic!("{curve} {h}: expected valid, got {v:?}"),
            }
        }
        // The signer named by subject key identifier (sign-file -k).
        let opts = SignOpts {
            keyid: true,
            ..SignOpts::default()
        };
        let signed = sign_module(&unsigned, &key, "sha256", opts);
        let sig = inspect(&signed).unwrap().unwrap();
        assert!(sig.signer().id.to_string().starts_with("subject key id "));
        assert!(matches!(
            verify(&signed, &sig, &certs(&key)),
            Verdict::Valid { .. }
        ));
    }
}

#[test]
fn bytes_changed_under_an_ecdsa_signature_do_not_verify() {
    let dir = tempfile::tempdir().unwrap();
    for (curve, h) in [("P-256", "sha256"), ("P-384", "sha384")] {
        let key = ec_key(dir.path(), curve, curve, SUBJECT, SERIAL);
        let mut signed = sign_module(&module(), &key, h, SignOpts::default());
        signed[100] ^= 1;
        let sig = inspect(&signed).unwrap().unwrap();
        match verify(&signed, &sig, &certs(&key)) {
            Verdict::StaleOrOtherKey { cert, hash, actual } => {
                assert!(cert.starts_with("CN=kbtf ECDSA test key"), "{cert}");
                assert_eq!(hash, self::hash(h));
                assert_eq!(actual, hash.digest(&signed[..sig.trailer.module_len]));
            }
            v => panic!("{curve}: expected stale-or-other-key, got {v:?}"),
        }
    }
}

#[test]
fn another_key_of_the_same_curve_does_not_verify() {
    let dir = tempfile::tempdir().unwrap();
    let signer = ec_key(dir.path(), "signer", "P-384", SUBJECT, SERIAL);
    let other = ec_key(dir.path(), "other", "P-384", SUBJECT, SERIAL);
    let signed = sign_module(&module(), &signer, "sha256", SignOpts::default());
    let sig = inspect(&signed).unwrap().unwrap();
    // The other certificate names the signer (same issuer and serial) but holds another key.
    assert!(matches!(
        verify(&signed, &sig, &certs(&other)),
        Verdict::StaleOrOtherKey { .. }
    ));
    // Its own certificate verifies it.
    assert!(matches!(
        verify(&signed, &sig, &certs(&signer)),
        Verdict::Valid { .. }
    ));
}

#[test]
fn another_curve_or_algorithm_is_another_key() {
    let dir = tempfile::tempdir().unwrap();
    let p256 = ec_key(dir.path(), "p256", "P-256", SUBJECT, SERIAL);
    let p384 = ec_key(dir.path(), "p384", "P-384", SUBJECT, SERIAL);
    let rsa = new_key(dir.path(), "rsa", &["rsa:2048"], SUBJECT, SERIAL);
    let why = |signed: &[u8], certs: &[kbtf_modsign::Cert]| {
        let sig = inspect(signed).unwrap().unwrap();
        match verify(signed, &sig, certs) {
            Verdict::OtherKey { why: Some(why), .. } => why,
            v => panic!("expected another key, got {v:?}"),
        }
    };
    let by384 = sign_module(&module(), &p384, "sha384", SignOpts::default());
    let by256 = sign_module(&module(), &p256, "sha256", SignOpts::default());
    let w = why(&by384, &certs(&p256));
    assert!(
        w.contains("wider than any of P-256") && w.contains("larger curve"),
        "{w}"
    );
    let w = why(&by256, &certs(&p384));
    assert!(
        w.contains("where P-384's are 384-bit") && w.contains("smaller curve"),
        "{w}"
    );
    let w = why(&by384, &certs(&rsa));
    assert_eq!(
        w,
        "an ECDSA signature, and the certificate holds an RSA key"
    );
    // An RSA signature (kbtf's, with the committed test key) and an EC certificate of its name.
    let test_name = ec_key(
        dir.path(),
        "test-name",
        "P-256",
        "/O=kbtf tests/CN=kbtf test module signing key (public, never trust it)",
        "0x147B3ECC76FBCE48713B91448995E9A6872267F5",
    );
    let by_rsa = SigningKey::load(
        &testdata("sign/test-key.pem"),
        &testdata("sign/test-cert.pem"),
        HashAlg::Sha256,
    )
    .unwrap()
    .sign_module(&module())
    .unwrap();
    let w = why(&by_rsa, &certs(&test_name));
    assert_eq!(
        w,
        "an RSA signature, and the certificate holds an ECDSA P-256 key"
    );
}

#[test]
fn damaged_ecdsa_values_are_no_signature_by_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = ec_key(dir.path(), "p384", "P-384", SUBJECT, SERIAL);
    let mut signed = sign_module(&module(), &key, "sha384", SignOpts::default());
    let sig = inspect(&signed).unwrap().unwrap();
    // The signature value is the last thing in the PKCS#7 blob: make it no SEQUENCE.
    let at = sig.trailer.blob_range().end - sig.signer().signature.len();
    assert_eq!(signed[at], 0x30);
    signed[at] = 0x31;
    let sig = inspect(&signed).unwrap().unwrap();
    match verify(&signed, &sig, &certs(&key)) {
        Verdict::OtherKey { why: Some(w), .. } => {
            assert!(w.contains("not a DER Ecdsa-Sig-Value"), "{w}")
        }
        v => panic!("expected another key (damaged), got {v:?}"),
    }

    // r and s out of the curve's range, checked on the key directly.
    let Ok(PublicKey::Ec(ec)) = certs(&key)[0].public_key() else {
        panic!("an EC key")
    };
    let digest = HashAlg::Sha384.digest(b"x");
    let value = |r: &[u8], s: &[u8]| {
        let int = |v: &[u8]| {
            let mut out = vec![0x02, v.len() as u8];
            out.extend_from_slice(v);
            out
        };
        let body = [int(r), int(s)].concat();
        [vec![0x30, body.len() as u8], body].concat()
    };
    // The order of P-384.
    let n = hex("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973");
    let n_der = [vec![0], n].concat();
    let one = [1u8];
    let refusal = |r: &[u8], s: &[u8]| ec.verify_prehash(&digest, &value(r, s)).unwrap_err();
    for (r, s) in [(&n_der[..], &one[..]), (&one[..], &n_der[..])] {
        match refusal(r, s) {
            EcRefusal::NotThisKey(w) => assert!(w.contains("not below the order"), "{w}"),
            r => panic!("{r:?}"),
        }
    }
    let zero = [0u8];
    let big = [0x7fu8; 48];
    match refusal(&zero, &big) {
        EcRefusal::NotThisKey(w) => assert!(w.contains("zero"), "{w}"),
        r => panic!("{r:?}"),
    }
    // In range but wrong: nothing tells why.
    assert_eq!(refusal(&big, &big), EcRefusal::Undecided);
}

#[test]
fn signed_attributes_record_the_digest_so_stale_is_proven() {
    let dir = tempfile::tempdir().unwrap();
    let key = ec_key(dir.path(), "p256", "P-256", SUBJECT, SERIAL);
    let opts = SignOpts {
        signed_attrs: true,
        ..SignOpts::default()
    };
    let unsigned = module();
    let mut signed = sign_module(&unsigned, &key, "sha256", opts);
    let sig = inspect(&signed).unwrap().unwrap();
    assert!(sig.signer().signed_attrs.is_some());
    assert!(
        sig.kernel_problems()
            .iter()
            .any(|p| p.contains("has authattrs")),
        "the kernel refuses these, and kbtf says so"
    );
    assert!(matches!(
        verify(&signed, &sig, &certs(&key)),
        Verdict::Valid { .. }
    ));
    signed[100] ^= 1;
    let sig = inspect(&signed).unwrap().unwrap();
    match verify(&signed, &sig, &certs(&key)) {
        Verdict::Stale { signed, .. } => {
            assert_eq!(signed, HashAlg::Sha256.digest(&unsigned))
        }
        v => panic!("expected stale, got {v:?}"),
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// kbtf signs with ECDSA keys: what sign-file (OpenSSL's CMS) makes, but for the signature
/// value itself, which OpenSSL draws with a random nonce and kbtf with RFC 6979's.
#[test]
fn kbtf_signs_with_ecdsa_keys_as_sign_file_does() {
    use kbtf_modsign::pkcs7::{self, SigAlg};
    use kbtf_testkit::openssl::{cms_sign, cms_verify, openssl};
    let dir = tempfile::tempdir().unwrap();
    let unsigned = module();
    for curve in ["P-256", "P-384"] {
        let key = ec_key(dir.path(), curve, curve, SUBJECT, SERIAL);
        // The same key as SEC 1 (`EC PRIVATE KEY`), as `openssl ec` writes it.
        let sec1 = dir.path().join(format!("{curve}.sec1.pem"));
        openssl(&[
            "ec".as_ref(),
            "-in".as_ref(),
            key.key.as_os_str(),
            "-out".as_ref(),
            sec1.as_os_str(),
        ]);
        assert!(std::fs::read_to_string(&sec1)
            .unwrap()
            .starts_with("-----BEGIN EC PRIVATE KEY-----"));
        for h in ["sha256", "sha384", "sha512"] {
            let k = SigningKey::load(&key.key, &key.cert, hash(h)).unwrap();
            let signed = k.sign_module(&unsigned).unwrap();
            assert!(signed.starts_with(&unsigned));
            let sig = inspect(&signed).unwrap().unwrap();
            let s = sig.signer();
            assert!(s.ecdsa && s.hash == Some(hash(h)), "{s:?}");
            assert!(sig.kernel_problems().is_empty());
            assert!(matches!(
                verify(&signed, &sig, &certs(&key)),
                Verdict::Valid { .. }
            ));
            // Deterministic, and the same from the SEC 1 form of the key.
            assert!(k.sign_module(&unsigned).unwrap() == signed);
            let k1 = SigningKey::load(&sec1, &key.cert, hash(h)).unwrap();
            assert!(k1.sign_module(&unsigned).unwrap() == signed);
            // OpenSSL accepts it.
            let blob = kbtf_emit::modsig::blob(&signed, &sig.trailer);
            assert!(cms_verify(&unsigned, blob, &key.cert), "{curve} {h}");
            // OpenSSL's own signature of the same bytes is the same DER around its value.
            let theirs = cms_sign(&unsigned, &key, h, SignOpts::default());
            let their_value = pkcs7::parse(&theirs).unwrap().signers[0].signature.clone();
            let c = &certs(&key)[0];
            let rebuilt =
                pkcs7::build(hash(h), SigAlg::Ecdsa, c.issuer(), c.serial(), their_value).unwrap();
            assert!(
                rebuilt == theirs,
                "{curve} {h}: the DER differs from OpenSSL's"
            );
        }
    }
}

#[test]
fn ecdsa_keys_that_do_not_belong_to_the_certificate() {
    use kbtf_testkit::openssl::openssl;
    let dir = tempfile::tempdir().unwrap();
    let p256 = ec_key(dir.path(), "p256", "P-256", SUBJECT, SERIAL);
    let p384 = ec_key(dir.path(), "p384", "P-384", SUBJECT, SERIAL);
    let other384 = ec_key(dir.path(), "other384", "P-384", SUBJECT, SERIAL);
    let rsa_key = testdata("sign/test-key.pem");
    let rsa_cert = testdata("sign/test-cert.pem");
    let sec1 = dir.path().join("p256.sec1.pem");
    openssl(&[
        "ec".as_ref(),
        "-in".as_ref(),
        p256.key.as_os_str(),
        "-out".as_ref(),
        sec1.as_os_str(),
    ]);
    let p521 = dir.path().join("p521.pem");
    openssl(&[
        "genpkey".as_ref(),
        "-algorithm".as_ref(),
        "EC".as_ref(),
        "-pkeyopt".as_ref(),
        "ec_paramgen_curve:P-521".as_ref(),
        "-out".as_ref(),
        p521.as_os_str(),
    ]);
    let err = |key: &std::path::Path, cert: &std::path::Path| {
        let e = SigningKey::load(key, cert, HashAlg::Sha256)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("BEGIN"), "{e}");
        e
    };
    for (key, cert) in [
        (&p256.key, &p384.cert),
        (&p384.key, &p256.cert),
        (&p384.key, &other384.cert),
        (&p384.key, &rsa_cert),
        (&rsa_key, &p384.cert),
        (&sec1, &p384.cert),
    ] {
        let e = err(key, cert);
        assert!(e.contains("does not belong to the certificate"), "{e}");
    }
    let e = err(&sec1, &rsa_cert);
    assert!(e.contains("the certificate's key is RSA"), "{e}");
    let e = err(&p521, &p384.cert);
    assert!(e.contains("an EC key on P-521"), "{e}");
    // Its Debug names the certificate, never the key.
    let k = SigningKey::load(&p384.key, &p384.cert, HashAlg::Sha384).unwrap();
    let debug = format!("{k:?}");
    assert!(debug.contains("kbtf ECDSA test key") && !debug.contains("PRIVATE"));
}
