//! Shared pieces of the fuzz targets: the fixed bases they parse split BTF against, and the
//! invariants every target checks on what it got.

use std::sync::{Arc, OnceLock};

use kbtf_btf::validate::BaseInfo;
use kbtf_btf::Btf;

/// The 6.1 vmlinux BTF fixture: the base of real module BTF (`btf_split`, `btf_ids`).
pub fn vmlinux() -> &'static (Arc<Btf>, BaseInfo) {
    static V: OnceLock<(Arc<Btf>, BaseInfo)> = OnceLock::new();
    V.get_or_init(|| {
        let bytes = include_bytes!("../../testdata/vmlinux-6.1.btf");
        let btf = Arc::new(Btf::parse(bytes, None).expect("the vmlinux fixture parses"));
        let info = BaseInfo::new(&btf);
        (btf, info)
    })
}

/// A small base (pahole's BTF of `testdata/dwarf/types.c`) for the targets that do whole-base
/// work per input (dedup, distill, relocate): `cargo xtask fuzz` seeds them with split BTF
/// that kbtf encoded on it.
pub const SMALL_BASE: &[u8] = include_bytes!("../../testdata/dwarf/types.dwarf5.pahole.btf");

pub fn small_base() -> &'static Arc<Btf> {
    static B: OnceLock<Arc<Btf>> = OnceLock::new();
    B.get_or_init(|| Arc::new(Btf::parse(SMALL_BASE, None).expect("the small base parses")))
}

/// What must hold for any BTF that parsed: it writes, the written bytes parse, and writing
/// those again gives the same bytes; validation, both dumps and a diff with itself run.
pub fn check_parsed(btf: &Btf) {
    let bytes = btf.to_bytes();
    let again = Btf::parse(&bytes, btf.base().cloned()).expect("written BTF parses again");
    assert_eq!(
        again.to_bytes(),
        bytes,
        "write(parse(write(x))) == write(x)"
    );
    let _ = kbtf_btf::validate::validate(btf);
    let mut sink = std::io::sink();
    let _ = kbtf_btf::dump::dump_raw(btf, &mut sink);
    if c_dump_is_small(btf) {
        let _ = kbtf_btf::dump::dump_c(btf, &mut sink);
    }
}

/// The C dump pads structs with `long: 64;` lines up to their declared size, as bpftool
/// does, so its output grows with the sizes in the input (a 4 GiB struct is 2^29 lines, and so do gaps
/// between member offsets):
/// that is the format, not a hang. The targets dump only BTF whose structs are small.
pub fn c_dump_is_small(btf: &Btf) -> bool {
    btf.own_types()
        .iter()
        .map(|t| {
            let last = t
                .members()
                .iter()
                .map(|m| m.bit_offset(t.kind_flag) as u64 / 8);
            last.chain([t.size().unwrap_or(0) as u64])
                .max()
                .unwrap_or(0)
        })
        .sum::<u64>()
        < 1 << 20
}

/// Splits an input into a mode byte and the rest.
pub fn mode(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(m, rest)| (*m, rest))
}

/// The certificates of `$KBTF_FUZZ_CERTS` (every `*.der` in that directory, which
/// `cargo xtask fuzz` fills with certificates of the keys that signed the `modsign` seeds);
/// none without it.
pub fn certs() -> &'static [kbtf_modsign::Cert] {
    static C: OnceLock<Vec<kbtf_modsign::Cert>> = OnceLock::new();
    C.get_or_init(|| {
        let Some(dir) = std::env::var_os("KBTF_FUZZ_CERTS") else {
            return Vec::new();
        };
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .expect("$KBTF_FUZZ_CERTS is a directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "der"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| {
                let der = std::fs::read(p).expect("a certificate of $KBTF_FUZZ_CERTS reads");
                kbtf_modsign::Cert::from_der(&der, p.display().to_string())
                    .expect("a certificate of $KBTF_FUZZ_CERTS parses")
            })
            .collect()
    })
}
