//! Split BTF on the 6.1 vmlinux fixture: parse, validate (base-match checks included), raw
//! dump, write back. (The C dump of split BTF names all 95,000 base types on every input, which
//! took 3/4 of the time; `btf_parse` covers the C dump.)
#![no_main]
use kbtf_btf::Btf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (base, info) = kbtf_fuzz::vmlinux();
    let Ok(btf) = Btf::parse(data, Some(base.clone())) else {
        return;
    };
    let _ = kbtf_btf::validate::validate_with(&btf, Some(info));
    let bytes = btf.to_bytes();
    let again = Btf::parse(&bytes, Some(base.clone())).expect("written split BTF parses again");
    assert_eq!(again.to_bytes(), bytes);
    let mut sink = std::io::sink();
    let _ = kbtf_btf::dump::dump_raw(&btf, &mut sink);
});
