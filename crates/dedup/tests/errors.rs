//! Inputs dedup refuses, each with a typed error naming the type, as libbpf also fails (or
//! misreads) on them.

mod common;

use common::B;
use kbtf_btf::{Kind, Type, TypeData, INT_SIGNED};
use kbtf_dedup::{dedup, DedupError, DedupOptions};

fn err(b: &B) -> DedupError {
    let e = dedup(&b.btf, &DedupOptions::default()).unwrap_err();
    if let Some(Ok(_)) = common::libbpf::libbpf_dedup(&b.btf) {
        // libbpf reads out of bounds on some of these and may "succeed"; on those we only
        // require our error. The ones it detects are checked below.
        if matches!(
            e,
            DedupError::ReferenceLoop { .. } | DedupError::UnexpectedKind { .. }
        ) {
            panic!("libbpf accepted what we refused with: {e}");
        }
    }
    e
}

#[test]
fn reference_to_a_missing_type() {
    let mut b = B::new();
    let int = b.int("int", 4, INT_SIGNED);
    b.ptr(int + 5);
    assert_eq!(
        err(&b),
        DedupError::BadTypeId {
            id: 2,
            target: 6,
            last: 2
        }
    );
    expect_test::expect!["type [2] refers to type [6], but the last type id is 2"]
        .assert_eq(&err(&b).to_string());
}

#[test]
fn string_offset_outside_the_strings() {
    let mut b = B::new();
    b.int("int", 4, INT_SIGNED);
    let end = b.btf.strings_end();
    b.btf
        .add_type(Type::new(end + 10, TypeData::Float { size: 8 }));
    let e = err(&b);
    assert_eq!(
        e,
        DedupError::BadStringOffset {
            id: 2,
            off: end + 10,
            end
        }
    );
}

#[test]
fn member_name_offset_outside_the_strings() {
    let mut b = B::new();
    let int = b.int("int", 4, INT_SIGNED);
    let s = b.strukt("s", 4, &[("a", int, 0)]);
    if let TypeData::Struct { members, .. } = &mut b.btf.own_types_mut()[s as usize - 1].data {
        members[0].name_off = 1 << 20;
    }
    assert!(matches!(
        err(&b),
        DedupError::BadStringOffset {
            id: 2,
            off: 0x10_0000,
            ..
        }
    ));
}

#[test]
fn pointer_cycle_without_a_struct() {
    let mut b = B::new();
    let p = b.next();
    b.ptr(p + 1);
    b.konst(p + 2);
    b.typedef("t", p);
    assert_eq!(err(&b), DedupError::ReferenceLoop { id: 1 });
    let mut b = B::new();
    let p = b.next();
    b.ptr(p);
    assert_eq!(err(&b), DedupError::ReferenceLoop { id: 1 });
}

#[test]
fn struct_member_of_a_kind_no_member_can_have() {
    let mut b = B::new();
    let int = b.int("int", 4, INT_SIGNED);
    let v = b.var("v", int);
    b.strukt("s", 4, &[("a", v, 0)]);
    let v = b.var("v", int);
    b.strukt("s", 4, &[("a", v, 0)]);
    assert_eq!(
        err(&b),
        DedupError::UnexpectedKind {
            id: 4,
            kind: Kind::Var,
            from: 5
        }
    );
}

#[test]
fn errors_do_not_depend_on_the_base_being_fine() {
    // A split BTF referring past its own end.
    let base = std::sync::Arc::new(B::new().btf);
    let mut b = B::split(base);
    b.ptr(7);
    assert!(matches!(
        err(&b),
        DedupError::BadTypeId {
            id: 1,
            target: 7,
            ..
        }
    ));
}
