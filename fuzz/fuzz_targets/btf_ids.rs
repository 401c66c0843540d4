//! `.BTF_ids` on mutated modules: list the entries, resolve against the module's own BTF on
//! the 6.1 vmlinux fixture, and re-resolve as `kbtf relocate` does.
#![no_main]
use kbtf_btf::Btf;
use kbtf_emit::btf_ids::{entries, re_resolve_elf, resolve, resolve_elf};
use kbtf_emit::elf::section;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = entries(data);
    let (base, _) = kbtf_fuzz::vmlinux();
    let btf = match section(data, ".BTF") {
        Ok(Some(b)) => match Btf::parse(b, Some(base.clone())) {
            Ok(b) => b,
            Err(_) => return,
        },
        _ => return,
    };
    let _ = resolve(data, &btf);
    if let Ok(Some(r)) = resolve_elf(data, &btf) {
        let _ = entries(&r.elf);
    }
    let _ = re_resolve_elf(data, &btf, &btf);
});
