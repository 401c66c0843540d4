//! Dedup on every module of the Debian kernels (the real-kernel tier).
//!
//! Ignored by default: `cargo xtask test` runs them with `KBTF_VMLINUX_BTF`,
//! `KBTF_MODULES_DIR`, `KBTF_612_VMLINUX_BTF` and `KBTF_612_MODULES_DIR` set from the cache.
//! A run without them fails rather than passing silently.
//!
//! For each module's shipped `.BTF` (split on its vmlinux): deduplicating it again keeps
//! every type but the odd duplicate of a base type libbpf's first dedup left; and the module
//! with a copy of every vmlinux type it uses put in front (as a module encoder emits them)
//! deduplicates to a BTF holding all of those types, almost all copies mapped to their base
//! ids. (Where the module defines a struct the base only declares, libbpf keeps a few
//! hybrid types; the test lists them.) Both are compared byte for byte with libbpf 1.1.2
//! when the oracle is available, for every 6.1 module and every 4th 6.12 module (whoever
//! built the 6.12 BTF, the oracle runs libbpf 1.1.2 on the same input as ours).

mod common;

use kbtf_testkit::{env_path, every_module};
use std::sync::Arc;

use common::*;
use kbtf_btf::diff::{diff, DiffOptions};
use kbtf_btf::{read_base, read_file, Btf};

/// Checks every module of `modules_var` against the vmlinux of `vmlinux_var`, comparing every
/// `oracle_every`-th one with the libbpf oracle.
fn check_tree(vmlinux_var: &str, modules_var: &str, oracle_every: usize) {
    let base: Arc<Btf> = read_base(&env_path(vmlinux_var)).unwrap();
    let kos = every_module(&env_path(modules_var));
    let (mut copied, mut checked) = (0usize, 0usize);
    let mut shrunk = Vec::new();
    let mut to_module = 0usize;
    let mut hybrids = Vec::new();
    for (i, ko) in kos.iter().enumerate() {
        let name = ko.display();
        let libbpf = i % oracle_every == 0;
        let m = match read_file(ko, Some(base.clone())) {
            Ok(f) => f.btf,
            Err(e) => panic!("{name}: {e}"),
        };
        let again = if libbpf {
            run(&m)
        } else {
            kbtf_dedup::dedup(&m, &Default::default()).unwrap()
        };
        // The shipped BTF can still hold a duplicate of a base type that libbpf's dedup did
        // not merge in the module's first, messier input; dedup again (ours and libbpf's
        // alike) merges it then. Nothing else may change.
        let n = again.btf.own_types().len();
        assert!(n <= m.own_types().len(), "{name}: dedup adds types");
        if n < m.own_types().len() {
            shrunk.push(format!("{name}: {} -> {n}", m.own_types().len()));
        }
        assert_id_map_plausible(&m, &again.btf, &again.id_map);

        let (input, copies) = with_base_copies(&m);
        let d = if libbpf {
            run(&input)
        } else {
            kbtf_dedup::dedup(&input, &Default::default()).unwrap()
        };
        // Everything the module has is there; a few extra types are possible where the
        // module defines a struct the base only declares: libbpf points the base's FWD at the
        // module's struct, so copies of base types leading to that FWD become hybrids (base
        // struct on one side, module struct on the other) that neither had.
        let df = diff(&again.btf, &d.btf, &DiffOptions::default());
        assert!(
            df.changed.is_empty() && df.only_in_a.is_empty(),
            "{name}: the module's types are not all there:\n{df}"
        );
        if !df.only_in_b.is_empty() {
            hybrids.push(format!("{name}: {} extra", df.only_in_b.len()));
        }
        assert_id_map_plausible(&input, &d.btf, &d.id_map);
        // Copies map to base ids, but for copies of base declarations the module defines
        // (libbpf points the base FWD at the module's struct) and of the types that lead to
        // them: those map to the module's own types, which the shipped module has too (the
        // counts and meanings above are equal).
        let start = input.start_id();
        let outside = (start..start + copies as u32)
            .filter(|&id| d.id_map[id as usize] >= start)
            .count();
        assert!(
            outside * 20 <= copies,
            "{name}: {outside} of {copies} copies kept"
        );
        to_module += outside;
        copied += copies;
        checked += 1;
    }
    eprintln!(
        "{modules_var}: {checked} modules, {copied} copies of base types, {to_module} of them \
         mapped to the module's definitions of base declarations, the others to the base; \
         dedup again merged more in {} modules:\n{}\nwith copies, hybrid types in {} modules:\n{}",
        shrunk.len(),
        shrunk.join("\n"),
        hybrids.len(),
        hybrids.join("\n")
    );
}

#[test]
#[ignore]
fn every_61_module_dedups_back_to_itself() {
    check_tree("KBTF_VMLINUX_BTF", "KBTF_MODULES_DIR", 1);
}

#[test]
#[ignore]
fn every_612_module_dedups_back_to_itself() {
    // Every 4th module only, to save time: a run comparing all of them found no difference.
    check_tree("KBTF_612_VMLINUX_BTF", "KBTF_612_MODULES_DIR", 4);
}
