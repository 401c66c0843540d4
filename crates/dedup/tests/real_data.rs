//! Dedup on inputs built from real kernel BTF (the committed fixtures: Debian's
//! 6.1.0-56-cloud-amd64 vmlinux BTF and some of its modules): duplicated, shuffled, with
//! structs replaced by forward declarations, with base types copied into modules. Each
//! result is compared by meaning with the original (`kbtf_btf::diff`), and byte for byte
//! with libbpf's dedup of the same input when the libbpf oracle is available.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::*;
use kbtf_btf::diff::testing::shuffle;
use kbtf_btf::{Btf, Type, TypeData, TypeId};
use kbtf_dedup::{dedup, DedupOptions};

const VMLINUX_TYPES: usize = 95_246;

#[test]
fn vmlinux_dedups_to_itself() {
    let vmlinux = vmlinux();
    let d = run(&vmlinux);
    assert_eq!(d.btf.own_types().len(), VMLINUX_TYPES);
    // Same types in the same order: only the string section may be ordered differently.
    assert_eq!(d.btf.own_types().len(), vmlinux.own_types().len());
    assert_same_meaning(&vmlinux, &d.btf);
    assert!((0..vmlinux.end_id()).all(|id| d.id_map[id as usize] == id));
}

#[test]
fn doubled_vmlinux_gives_back_vmlinux() {
    let vmlinux = vmlinux();
    for seed in [1, 2] {
        let input = doubled(&vmlinux, seed);
        assert!(input.own_types().len() > 2 * VMLINUX_TYPES - 500);
        let d = run(&input);
        assert_eq!(d.btf.own_types().len(), VMLINUX_TYPES, "seed {seed}");
        assert_same_meaning(&vmlinux, &d.btf);
        assert_id_map_plausible(&input, &d.btf, &d.id_map);
    }
}

#[test]
fn shuffled_copy_first_gives_back_vmlinux() {
    // The shuffled copy first, then the original: representatives come from the shuffled
    // copy, and the output is in its order.
    let vmlinux = vmlinux();
    let mut input = shuffle(&vmlinux, 3);
    append(&mut input, &vmlinux, |_, t| !is_var_or_datasec(t), |id| id);
    let d = run(&input);
    assert_eq!(d.btf.own_types().len(), VMLINUX_TYPES);
    assert_same_meaning(&vmlinux, &d.btf);
}

/// Names of structs and unions that no other struct, union or FWD shares.
fn unique_composites(btf: &Btf) -> HashMap<TypeId, String> {
    let mut count: HashMap<String, usize> = HashMap::new();
    for (_, t) in btf.iter() {
        if matches!(
            t.data,
            TypeData::Struct { .. } | TypeData::Union { .. } | TypeData::Fwd { .. }
        ) && t.name_off != 0
        {
            *count
                .entry(btf.str_at(t.name_off).into_owned())
                .or_default() += 1;
        }
    }
    btf.iter()
        .filter(|(_, t)| matches!(t.data, TypeData::Struct { .. } | TypeData::Union { .. }))
        .map(|(id, t)| (id, btf.str_at(t.name_off).into_owned()))
        .filter(|(_, n)| !n.is_empty() && count[n] == 1)
        .collect()
}

/// `btf` with every `step`-th uniquely named struct or union replaced by its forward
/// declaration, as in a compilation unit that only declares it.
fn with_fwds(btf: &Btf, step: usize) -> (Btf, usize) {
    let unique = unique_composites(btf);
    let mut ids: Vec<TypeId> = unique.keys().copied().collect();
    ids.sort_unstable();
    let mut out = btf.clone();
    let mut replaced = 0;
    for id in ids.into_iter().step_by(step) {
        let t = btf.type_by_id(id).unwrap();
        let union = matches!(t.data, TypeData::Union { .. });
        out.own_types_mut()[(id - btf.start_id()) as usize] = Type {
            name_off: t.name_off,
            kind_flag: union,
            data: TypeData::Fwd { raw: 0 },
        };
        replaced += 1;
    }
    (out, replaced)
}

#[test]
fn forward_declarations_in_a_copy_resolve_to_the_structs() {
    let vmlinux = vmlinux();
    let (copy, replaced) = with_fwds(&shuffle(&vmlinux, 4), 5);
    assert!(replaced > 1000, "{replaced} structs replaced");
    // The copy with FWDs first: its FWDs are the first seen, the structs come later.
    let mut input = copy;
    append(&mut input, &vmlinux, |_, t| !is_var_or_datasec(t), |id| id);
    let d = run(&input);
    assert_eq!(d.btf.own_types().len(), VMLINUX_TYPES);
    assert_same_meaning(&vmlinux, &d.btf);
    assert_id_map_plausible(&input, &d.btf, &d.id_map);
    // And with the full copy first.
    let (copy, _) = with_fwds(&shuffle(&vmlinux, 5), 3);
    let mut input = vmlinux.as_ref().clone();
    append(&mut input, &copy, |_, t| !is_var_or_datasec(t), |id| id);
    let d = run(&input);
    assert_eq!(d.btf.own_types().len(), VMLINUX_TYPES);
    assert_same_meaning(&vmlinux, &d.btf);
}

#[test]
fn dedup_is_idempotent_on_real_data() {
    let vmlinux = vmlinux();
    let (copy, _) = with_fwds(&shuffle(&vmlinux, 6), 7);
    let mut input = copy;
    append(&mut input, &vmlinux, |_, _| true, |id| id);
    assert_idempotent(&input);
}

/// Dedup is idempotent: applied again it keeps every type, in order, with the same names;
/// only the string section's order may change the first time (libbpf orders strings by
/// first use in the input, and a first use can be in a type that was dropped), and from
/// then on the bytes are the same.
fn assert_idempotent(input: &Btf) {
    let once = dedup(input, &DedupOptions::default()).unwrap().btf;
    let twice = dedup(&once, &DedupOptions::default()).unwrap();
    assert_eq!(raw(&once), raw(&twice.btf));
    let start = once.start_id();
    assert!((start..once.end_id()).all(|id| twice.id_map[id as usize] == id));
    let thrice = dedup(&twice.btf, &DedupOptions::default()).unwrap().btf;
    assert_eq!(twice.btf.to_bytes(), thrice.to_bytes());
}

#[test]
fn module_dedups_to_itself() {
    let vmlinux = vmlinux();
    for name in ["dummy", "veth", "tun"] {
        let m = module(name, &vmlinux);
        let d = run(&m);
        assert_eq!(d.btf.own_types().len(), m.own_types().len(), "{name}");
        assert_same_meaning(&m, &d.btf);
    }
}

#[test]
fn module_with_copies_of_base_types_maps_them_to_the_base() {
    let vmlinux = vmlinux();
    for name in ["dummy", "veth", "tun"] {
        let m = module(name, &vmlinux);
        let (input, copies) = with_base_copies(&m);
        assert!(copies > 1000, "{name}: {copies} base types copied");
        let d = run(&input);
        assert_eq!(
            d.btf.own_types().len(),
            m.own_types().len(),
            "{name}: every copy of a base type maps to the base"
        );
        assert_same_meaning(&m, &d.btf);
        assert!(Arc::ptr_eq(d.btf.base().unwrap(), &vmlinux));
        // The copies map to base ids.
        let start = input.start_id();
        for id in start..start + copies as u32 {
            assert!(d.id_map[id as usize] < start, "{name}: copy [{id}] kept");
        }
        assert_id_map_plausible(&input, &d.btf, &d.id_map);
    }
}

#[test]
fn modules_flattened_onto_vmlinux_dedup_like_libbpf() {
    // vmlinux followed by the types of several modules (re-added as base types), each module
    // preceded by a shuffled copy of the vmlinux types it uses, as its encoder would emit.
    let vmlinux = vmlinux();
    let mut input = vmlinux.as_ref().clone();
    let mut module_types = 0;
    for (i, name) in ["dummy", "veth", "tun"].into_iter().enumerate() {
        let m = module(name, &vmlinux);
        let (with_copies, _) = with_base_copies(&m);
        let shuffled = kbtf_btf::diff::testing::shuffle(&with_copies, 10 + i as u64);
        append(&mut input, &shuffled, |_, _| true, |id| id);
        module_types += m.own_types().len();
    }
    let d = run(&input);
    let n = d.btf.own_types().len();
    // Modules' types that vmlinux already has merge with it; VARs and DATASECs do not.
    assert!(
        n > VMLINUX_TYPES && n <= VMLINUX_TYPES + module_types,
        "{n} types"
    );
    assert_id_map_plausible(&input, &d.btf, &d.id_map);
    let again = dedup(&d.btf, &DedupOptions::default()).unwrap();
    assert_eq!(again.btf.to_bytes(), d.btf.to_bytes());
}

#[test]
fn split_dedup_is_idempotent() {
    let vmlinux = vmlinux();
    let (input, _) = with_base_copies(&module("tun", &vmlinux));
    assert_idempotent(&input);
}

#[test]
fn oracle_notices_a_difference() {
    // The libbpf comparison can fail: libbpf's dedup of vmlinux is not vmlinux with one type
    // dropped.
    if common::libbpf::oracle().is_none() {
        return;
    }
    let vmlinux = vmlinux();
    let mut wrong = dedup(&vmlinux, &DedupOptions::default()).unwrap().btf;
    let last = wrong.own_types().len() - 1;
    wrong.own_types_mut()[last].name_off = 0;
    let r = std::panic::catch_unwind(|| common::libbpf::assert_same(&vmlinux, &wrong));
    assert!(r.is_err());
}
