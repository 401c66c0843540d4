//! Round trip on real kernel BTF: reading then writing gives the same bytes, for vmlinux's BTF
//! and for the shipped `.BTF` of every module of the 6.1 cloud kernel (and of 6.12).
//!
//! Ignored by default: `cargo xtask test` runs them with `KBTF_VMLINUX_BTF`,
//! `KBTF_MODULES_DIR`, `KBTF_612_VMLINUX_BTF` and `KBTF_612_MODULES_DIR` set from the cache.

use std::path::Path;
use std::sync::Arc;

use kbtf_btf::Btf;
use kbtf_testkit::{env_path, every_module};
use object::{Object, ObjectSection};

/// The raw bytes of a module's `.BTF` section.
fn section_bytes(ko: &Path) -> Vec<u8> {
    let data = std::fs::read(ko).unwrap();
    let elf = object::File::parse(&*data).unwrap_or_else(|e| panic!("{}: {e}", ko.display()));
    let sec = elf
        .section_by_name(".BTF")
        .unwrap_or_else(|| panic!("{}: no .BTF", ko.display()));
    sec.data().unwrap().to_vec()
}

fn round_trip_tree(vmlinux_var: &str, modules_var: &str) {
    let vmlinux = std::fs::read(env_path(vmlinux_var)).unwrap();
    let base = Btf::parse(&vmlinux, None).expect("parse vmlinux BTF");
    assert!(
        base.to_bytes() == vmlinux,
        "vmlinux BTF does not round-trip"
    );
    let base = Arc::new(base);
    let kos = every_module(&env_path(modules_var));
    let mut bad = Vec::new();
    for ko in &kos {
        let bytes = section_bytes(ko);
        match Btf::parse(&bytes, Some(base.clone())) {
            Ok(btf) if btf.to_bytes() == bytes => {}
            Ok(_) => bad.push(format!("{}: bytes differ after a round trip", ko.display())),
            Err(e) => bad.push(format!("{}: {e}", ko.display())),
        }
    }
    eprintln!(
        "{}: vmlinux and {} modules round-trip, {} failed",
        modules_var,
        kos.len(),
        bad.len()
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
#[ignore]
fn kernel_6_1_vmlinux_and_every_module_round_trip() {
    round_trip_tree("KBTF_VMLINUX_BTF", "KBTF_MODULES_DIR");
}

#[test]
#[ignore]
fn kernel_6_12_vmlinux_and_every_module_round_trip() {
    round_trip_tree("KBTF_612_VMLINUX_BTF", "KBTF_612_MODULES_DIR");
}
