//! Module signatures on mutated input. Mode byte 0: the rest is a module; its appended
//! signature is parsed (`inspect`), described, checked for what the kernel refuses, and
//! verified against every certificate of `$KBTF_FUZZ_CERTS` (RSA, P-256 and P-384 ones that
//! `cargo xtask fuzz` makes with openssl, and whose keys signed the seeds). Mode byte 1: the
//! rest is a DER certificate; its name, key id and public key are read.
#![no_main]
use kbtf_modsign::{inspect, verify, Cert};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(Some(sig)) = inspect(rest) {
            let _ = sig.kernel_problems();
            let s = sig.signer();
            let _ = (s.digest_name(), s.sig_alg_name());
            let certs = kbtf_fuzz::certs();
            let _ = verify(rest, &sig, certs).is_problem();
            for c in certs {
                let _ = verify(rest, &sig, std::slice::from_ref(c));
            }
        }
    } else if let Ok(c) = Cert::from_der(rest, "fuzz".into()) {
        let _ = (c.describe(), c.subject(), c.key_id());
        let _ = c.public_key();
        if let Ok(der) = c.to_der() {
            let again = Cert::from_der(&der, "again".into()).expect("a written certificate reads");
            assert_eq!(again.to_der().ok(), Some(der), "certificate DER round trip");
        }
    }
});
