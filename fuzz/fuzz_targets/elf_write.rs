//! The ELF section writer on mutated objects: replace, add and drop sections, strip the module
//! signature. Whatever it writes must read back with the new contents, and the rewrite held
//! as edits over the old bytes must read as the file it assembles to.
#![no_main]
use kbtf_emit::elf::{drop_section, section, set_section, SectionSpec};
use kbtf_emit::output::{rewrite, rewrite_patched, ElfOutput};
use libfuzzer_sys::fuzz_target;

fn check(elf: &[u8], name: &str, data: &[u8]) {
    let Ok(out) = set_section(elf, &SectionSpec::progbits(name, data)) else {
        return;
    };
    let got = section(&out, name).expect("set_section's output parses");
    assert_eq!(got, Some(data), "section {name} reads back");
    // Another section keeps its bytes: `.text`, unless the input named its section name
    // table `.text`, which then grew by the new name.
    if let Ok(Some(old)) = section(elf, ".text") {
        if name != ".text" {
            let grown = [old, name.as_bytes(), b"\0"].concat();
            let now = section(&out, ".text").ok().flatten();
            assert!(
                now == Some(old) || now == Some(&grown[..]),
                ".text changed: {old:?} -> {now:?}"
            );
        }
    }
    if let Ok(Some(dropped)) = drop_section(&out, name) {
        let _ = section(&dropped, name);
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = kbtf_emit::modsig::parse(data);
    let Ok(elf) = kbtf_emit::modsig::strip(data) else {
        return;
    };
    check(elf, ".BTF", b"\x9f\xeb\x01\0small");
    check(elf, ".BTF", &[0x5a; 3000]);
    check(elf, ".BTF.base", b"");
    let _ = drop_section(elf, ".BTF");
    let out = ElfOutput {
        btf: b"btf",
        btf_base: Some(b"base"),
        fingerprint_note: Some((".note.kbtf.btf_base", &[0; 16])),
    };
    let _ = rewrite(data, &out);
    // The edits over the old bytes read back as the assembled file does, at any range.
    if let Ok((patched, _)) = rewrite_patched(data, &out) {
        let whole = patched.to_vec();
        assert_eq!(patched.len(), whole.len());
        let step = (whole.len() / 64).max(1);
        for off in (0..whole.len()).step_by(step) {
            for n in [1, 7, 64, 4096] {
                let end = (off + n).min(whole.len());
                let got = patched.read(off, end - off).expect("in bounds");
                assert_eq!(&got[..], &whole[off..end], "read at {off:#x}+{n}");
            }
        }
    }
});
