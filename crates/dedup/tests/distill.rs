//! Distilling and relocating on the committed fixtures (Debian's 6.1.0-56-cloud-amd64 vmlinux
//! BTF and some of its modules), and on small hand-built BTF for the rules.

mod common;

use std::sync::Arc;

use common::*;
use kbtf_btf::diff::testing::shuffle;
use kbtf_btf::{Btf, Kind, TypeData, INT_SIGNED};
use kbtf_dedup::{distill, relocate, relocate_dedup, RelocateError};

/// Every distilled base type is one of the kinds libbpf's distill writes, named, and structs
/// and enums carry no members or values.
fn assert_distilled_shape(base: &Btf) {
    for (id, t) in base.iter() {
        assert_ne!(t.name_off, 0, "[{id}] anonymous");
        match &t.data {
            TypeData::Struct { members, .. } | TypeData::Union { members, .. } => {
                assert!(members.is_empty(), "[{id}]")
            }
            TypeData::Enum { values, .. } => assert!(values.is_empty(), "[{id}]"),
            TypeData::Int { .. } | TypeData::Float { .. } | TypeData::Fwd { .. } => {}
            other => panic!("[{id}] unexpected {other:?}"),
        }
    }
}

#[test]
fn distill_then_relocate_gives_back_the_module() {
    let vmlinux = vmlinux();
    for name in ["dummy", "veth", "tun"] {
        let m = module(name, &vmlinux);
        let d = distill(&m, &[]).unwrap();
        assert_distilled_shape(&d.base);
        assert!(
            d.base.own_types().len() < 200,
            "{name}: {}",
            d.base.own_types().len()
        );
        // The distilled form parses back from its own bytes.
        let base2 = Arc::new(Btf::parse(&d.base.to_bytes(), None).unwrap());
        let split2 = Btf::parse(&d.split.to_bytes(), Some(base2)).unwrap();
        let r = relocate_dedup(&split2, vmlinux.clone()).unwrap();
        assert_eq!(
            r.btf.to_bytes(),
            m.to_bytes(),
            "{name}: relocate(distill(split)) is not the split BTF"
        );
    }
}

#[test]
fn relocate_onto_a_reordered_vmlinux_means_the_same() {
    let vmlinux = vmlinux();
    let shuffled = Arc::new(shuffle(&vmlinux, 7));
    for name in ["dummy", "veth", "tun"] {
        let m = module(name, &vmlinux);
        let d = distill(&m, &[]).unwrap();
        let r = relocate_dedup(&d.split, shuffled.clone()).unwrap();
        // The same module encoded against the shuffled vmlinux: its types, relocated by
        // meaning. Compare the own types of both sides, with what they reach in their bases.
        let opts = kbtf_btf::diff::DiffOptions {
            include_base: false,
        };
        let report = kbtf_btf::diff::diff(&m, &r.btf, &opts);
        assert!(report.is_empty(), "{name}:\n{report}");
        assert_eq!(r.btf.own_types().len(), m.own_types().len(), "{name}");
    }
}

#[test]
fn plain_relocate_keeps_copied_reference_types() {
    // Without dedup, the pointers and typedefs distill copied out of vmlinux stay in the
    // module: what a 6.11+ kernel's own relocation gives.
    let vmlinux = vmlinux();
    let m = module("veth", &vmlinux);
    let d = distill(&m, &[]).unwrap();
    let r = relocate(&d.split, vmlinux.clone()).unwrap();
    assert_eq!(r.btf.own_types().len(), d.split.own_types().len());
    assert!(r.btf.own_types().len() > m.own_types().len());
}

fn tiny_pair(vm_size: u32, mod_size: u32) -> (Arc<Btf>, Btf) {
    let mut v = B::new();
    let int = v.int("int", 4, INT_SIGNED);
    v.strukt("foo", vm_size, &[("a", int, 0)]);
    let vm = Arc::new(v.btf);
    // The module was built against a vmlinux whose struct foo had `mod_size` bytes.
    let mut o = B::new();
    let int = o.int("int", 4, INT_SIGNED);
    let foo_id = o.strukt("foo", mod_size, &[("a", int, 0)]);
    let old = Arc::new(o.btf);
    let mut s = B::split(old.clone());
    let p = s.ptr(foo_id);
    let proto = s.proto(int, &[("f", p)]);
    s.func("use_foo", proto);
    let m = s.btf;
    let d = distill(&m, &[]).unwrap();
    (vm, d.split)
}

#[test]
fn a_struct_that_changed_size_is_refused_by_name() {
    let (vm, split) = tiny_pair(8, 4);
    let err = relocate(&split, vm).unwrap_err();
    assert!(matches!(err, RelocateError::SizeMismatch { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "struct foo changed size: 4 bytes in the module's distilled base, 8 bytes in the base BTF (type [2])"
    );
}

#[test]
fn a_missing_struct_is_refused_by_name() {
    let mut v = B::new();
    v.int("int", 4, INT_SIGNED);
    let vm = Arc::new(v.btf);
    let (_, split) = tiny_pair(4, 4);
    let err = relocate(&split, vm).unwrap_err();
    assert_eq!(
        err.to_string(),
        "struct foo (distilled base type [2]) has no match in the base BTF"
    );
}

#[test]
fn two_equal_candidates_are_ambiguous() {
    let mut v = B::new();
    let int = v.int("int", 4, INT_SIGNED);
    v.strukt("foo", 4, &[("a", int, 0)]);
    v.strukt("foo", 4, &[("b", int, 0)]);
    let vm = Arc::new(v.btf);
    let (_, split) = tiny_pair(4, 4);
    let err = relocate(&split, vm).unwrap_err();
    assert!(matches!(err, RelocateError::Ambiguous { .. }), "{err:?}");
}

#[test]
fn same_name_different_sizes_pick_by_size() {
    let mut v = B::new();
    let int = v.int("int", 4, INT_SIGNED);
    v.strukt("foo", 8, &[("a", int, 0), ("b", int, 32)]);
    let foo4 = v.strukt("foo", 4, &[("a", int, 0)]);
    let vm = Arc::new(v.btf);
    let (_, split) = tiny_pair(4, 4);
    let r = relocate(&split, vm).unwrap();
    let ptr = r
        .btf
        .iter()
        .find(|(_, t)| t.kind() == Kind::Ptr)
        .map(|(_, t)| t.ref_type())
        .unwrap();
    assert_eq!(ptr, Some(foo4));
}
