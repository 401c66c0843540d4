//! Distilling and relocating every module of the Debian kernels (the real-kernel tier).
//!
//! Ignored by default: `cargo xtask test` runs them with `KBTF_VMLINUX_BTF`,
//! `KBTF_MODULES_DIR`, `KBTF_612_VMLINUX_BTF` and `KBTF_612_MODULES_DIR` set from the cache.
//!
//! For each module's shipped `.BTF` (split on its vmlinux): distilling it and relocating the
//! result onto the same vmlinux gives the shipped BTF back (deduplicated once more, which
//! merges the odd duplicate of a base type pahole left), by meaning always, and the test
//! counts how often byte for byte; and the distilled form passes
//! through its own bytes (what `.BTF` and `.BTF.base` hold) unchanged.

use kbtf_testkit::{env_path, every_module};
use std::sync::Arc;

use kbtf_btf::diff::{diff, DiffOptions};
use kbtf_btf::{read_base, read_file, Btf};
use kbtf_dedup::{distill, relocate_dedup};

fn check_tree(vmlinux_var: &str, modules_var: &str, every: usize) {
    let base: Arc<Btf> = read_base(&env_path(vmlinux_var)).unwrap();
    let kos = every_module(&env_path(modules_var));
    let (mut same_bytes, mut split_total, mut dist_total, mut dist_base_total) = (0, 0, 0, 0);
    let checked: Vec<_> = kos.iter().step_by(every).collect();
    for ko in &checked {
        let name = ko.display();
        let m = read_file(ko, Some(base.clone()))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .btf;
        let d = distill(&m, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let base_bytes = d.base.to_bytes();
        let split_bytes = d.split.to_bytes();
        let dbase = Arc::new(Btf::parse(&base_bytes, None).unwrap());
        let split = Btf::parse(&split_bytes, Some(dbase)).unwrap();
        assert_eq!(split.to_bytes(), split_bytes, "{name}");
        let r = relocate_dedup(&split, base.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        // The shipped BTF can hold a duplicate of a base type that pahole's dedup left (and
        // that any dedup again merges): compare with the shipped BTF deduplicated again.
        let expected = kbtf_dedup::dedup(&m, &Default::default()).unwrap().btf;
        let df = diff(&expected, &r.btf, &DiffOptions::default());
        assert!(
            df.is_empty(),
            "{name}: relocate(distill(split)) differs:\n{df}"
        );
        if r.btf.to_bytes() == expected.to_bytes() {
            same_bytes += 1;
        }
        split_total += m.to_bytes().len();
        dist_total += split_bytes.len();
        dist_base_total += base_bytes.len();
    }
    eprintln!(
        "{modules_var}: {} of {} modules; relocate(distill(split)) == split by meaning for all, byte \
         for byte for {same_bytes}; split .BTF {split_total} bytes, distilled .BTF \
         {dist_total} + .BTF.base {dist_base_total} bytes",
        checked.len(),
        kos.len()
    );
}

#[test]
#[ignore]
fn every_61_module_distills_and_relocates_back() {
    check_tree("KBTF_VMLINUX_BTF", "KBTF_MODULES_DIR", 1);
}

#[test]
#[ignore]
fn every_612_module_distills_and_relocates_back() {
    // Every 4th module, to save time: a run over all 1138 found every one byte-identical.
    check_tree("KBTF_612_VMLINUX_BTF", "KBTF_612_MODULES_DIR", 4);
}
