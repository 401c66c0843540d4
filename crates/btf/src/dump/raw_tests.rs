//! Golden tests of the raw dump on synthetic BTF: every kind, every kind_flag meaning and
//! every named value bpftool 7.1 prints (checked against it by hand and by the real-data
//! tests).

use std::sync::Arc;

use expect_test::{expect, Expect};

use super::dump_raw;
use crate::btf::Btf;
use crate::synth::Builder as TestBtf;
use crate::types::*;

fn check(btf: &Btf, expect: Expect) {
    let mut out = Vec::new();
    dump_raw(btf, &mut out).unwrap();
    expect.assert_eq(&String::from_utf8(out).unwrap());
}

#[test]
fn int_encodings() {
    let mut b = TestBtf::new();
    b.int("unsigned int", 4, 0);
    b.int("int", 4, INT_SIGNED);
    b.int("char", 1, INT_CHAR);
    b.int("_Bool", 1, INT_BOOL);
    b.int("signed char?", 1, INT_SIGNED | INT_CHAR);
    b.add(
        "u3",
        TypeData::Int {
            size: 1,
            encoding: 0,
            offset: 2,
            bits: 3,
        },
    );
    check(
        &b.btf,
        expect![[r#"
            [1] INT 'unsigned int' size=4 bits_offset=0 nr_bits=32 encoding=(none)
            [2] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED
            [3] INT 'char' size=1 bits_offset=0 nr_bits=8 encoding=CHAR
            [4] INT '_Bool' size=1 bits_offset=0 nr_bits=8 encoding=BOOL
            [5] INT 'signed char?' size=1 bits_offset=0 nr_bits=8 encoding=UNKN
            [6] INT 'u3' size=1 bits_offset=2 nr_bits=3 encoding=(none)
        "#]],
    );
}

#[test]
fn references_and_modifiers() {
    let mut b = TestBtf::new();
    let int = b.int("int", 4, INT_SIGNED);
    b.ptr(int);
    b.array(int, int, 16);
    b.typedef("int_t", int);
    b.add("", TypeData::Volatile { ty: int });
    b.add("", TypeData::Const { ty: int });
    b.add("", TypeData::Restrict { ty: 2 });
    b.add("user", TypeData::TypeTag { ty: int });
    b.add("double", TypeData::Float { size: 8 });
    check(
        &b.btf,
        expect![[r#"
            [1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED
            [2] PTR '(anon)' type_id=1
            [3] ARRAY '(anon)' type_id=1 index_type_id=1 nr_elems=16
            [4] TYPEDEF 'int_t' type_id=1
            [5] VOLATILE '(anon)' type_id=1
            [6] CONST '(anon)' type_id=1
            [7] RESTRICT '(anon)' type_id=2
            [8] TYPE_TAG 'user' type_id=1
            [9] FLOAT 'double' size=8
        "#]],
    );
}

#[test]
fn structs_unions_and_bitfields() {
    let mut b = TestBtf::new();
    let int = b.int("int", 4, INT_SIGNED);
    let members = vec![b.m("a", int, 0), b.m("", int, 32)];
    b.struct_of("plain", 8, false, members);
    // With kind_flag, the offset word splits into bitfield size and bit offset.
    let members = vec![
        b.bf("x", int, 0, 3),
        b.bf("y", int, 3, 29),
        b.bf("z", int, 32, 0),
    ];
    b.struct_of("bits", 8, true, members);
    let members = vec![b.m("i", int, 0), b.m("j", int, 0)];
    b.union_of("", 4, false, members);
    let members = vec![b.bf("k", int, 0, 1)];
    b.add_kf("ubits", TypeData::Union { size: 4, members });
    b.struct_of("empty", 0, false, vec![]);
    check(
        &b.btf,
        expect![[r#"
            [1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED
            [2] STRUCT 'plain' size=8 vlen=2
            	'a' type_id=1 bits_offset=0
            	'(anon)' type_id=1 bits_offset=32
            [3] STRUCT 'bits' size=8 vlen=3
            	'x' type_id=1 bits_offset=0 bitfield_size=3
            	'y' type_id=1 bits_offset=3 bitfield_size=29
            	'z' type_id=1 bits_offset=32
            [4] UNION '(anon)' size=4 vlen=2
            	'i' type_id=1 bits_offset=0
            	'j' type_id=1 bits_offset=0
            [5] UNION 'ubits' size=4 vlen=1
            	'k' type_id=1 bits_offset=0 bitfield_size=1
            [6] STRUCT 'empty' size=0 vlen=0
        "#]],
    );
}

#[test]
fn enums_signed_and_unsigned() {
    let mut b = TestBtf::new();
    b.enum_of("e", 4, false, &[("A", 0), ("B", u32::MAX)]);
    b.enum_of("se", 4, true, &[("M", (-1i32) as u32), ("N", 7)]);
    b.enum_of("", 1, false, &[]);
    b.enum64_of("e64", false, &[("BIG", 1 << 63), ("ONE", 1)]);
    b.enum64_of(
        "se64",
        true,
        &[("NEG", (-128i64) as u64), ("MAX", i64::MAX as u64)],
    );
    check(
        &b.btf,
        expect![[r#"
            [1] ENUM 'e' encoding=UNSIGNED size=4 vlen=2
            	'A' val=0
            	'B' val=4294967295
            [2] ENUM 'se' encoding=SIGNED size=4 vlen=2
            	'M' val=-1
            	'N' val=7
            [3] ENUM '(anon)' encoding=UNSIGNED size=1 vlen=0
            [4] ENUM64 'e64' encoding=UNSIGNED size=8 vlen=2
            	'BIG' val=9223372036854775808ULL
            	'ONE' val=1ULL
            [5] ENUM64 'se64' encoding=SIGNED size=8 vlen=2
            	'NEG' val=-128LL
            	'MAX' val=9223372036854775807LL
        "#]],
    );
}

#[test]
fn forward_declarations() {
    let mut b = TestBtf::new();
    b.add("s", TypeData::Fwd { raw: 0 });
    b.add_kf("u", TypeData::Fwd { raw: 0 });
    check(
        &b.btf,
        expect![[r#"
            [1] FWD 's' fwd_kind=struct
            [2] FWD 'u' fwd_kind=union
        "#]],
    );
}

#[test]
fn functions_and_prototypes() {
    let mut b = TestBtf::new();
    let int = b.int("int", 4, INT_SIGNED);
    let proto = b.proto(int, &[("a", int), ("", 0)]);
    b.proto(0, &[]);
    for (name, linkage) in [
        ("f_static", 0),
        ("f_global", 1),
        ("f_extern", 2),
        ("f_odd", 3),
    ] {
        b.add(name, TypeData::Func { proto, linkage });
    }
    check(
        &b.btf,
        expect![[r#"
            [1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED
            [2] FUNC_PROTO '(anon)' ret_type_id=1 vlen=2
            	'a' type_id=1
            	'(anon)' type_id=0
            [3] FUNC_PROTO '(anon)' ret_type_id=0 vlen=0
            [4] FUNC 'f_static' type_id=2 linkage=static
            [5] FUNC 'f_global' type_id=2 linkage=global
            [6] FUNC 'f_extern' type_id=2 linkage=extern
            [7] FUNC 'f_odd' type_id=2 linkage=(unknown)
        "#]],
    );
}

#[test]
fn variables_sections_and_tags() {
    let mut b = TestBtf::new();
    let int = b.int("int", 4, INT_SIGNED);
    for (name, linkage) in [
        ("v_static", 0),
        ("v_global", 1),
        ("v_extern", 2),
        ("v_odd", 9),
    ] {
        b.add(name, TypeData::Var { ty: int, linkage });
    }
    // Entries name their type when the id is in range, void as libbpf's zeroed type.
    let vars = vec![
        VarSecinfo {
            ty: 2,
            offset: 0,
            size: 4,
        },
        VarSecinfo {
            ty: 0,
            offset: 4,
            size: 4,
        },
        VarSecinfo {
            ty: 1000,
            offset: 8,
            size: 4,
        },
    ];
    b.add(".data", TypeData::Datasec { size: 12, vars });
    b.add(
        "tag",
        TypeData::DeclTag {
            ty: 2,
            component_idx: -1,
        },
    );
    b.add(
        "arg_tag",
        TypeData::DeclTag {
            ty: 2,
            component_idx: 1,
        },
    );
    check(
        &b.btf,
        expect![[r#"
            [1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED
            [2] VAR 'v_static' type_id=1, linkage=static
            [3] VAR 'v_global' type_id=1, linkage=global
            [4] VAR 'v_extern' type_id=1, linkage=extern
            [5] VAR 'v_odd' type_id=1, linkage=(unknown)
            [6] DATASEC '.data' size=12 vlen=3
            	type_id=2 offset=0 size=4 (VAR 'v_static')
            	type_id=0 offset=4 size=4 (UNKNOWN '(anon)')
            	type_id=1000 offset=8 size=4
            [7] DECL_TAG 'tag' type_id=2 component_idx=-1
            [8] DECL_TAG 'arg_tag' type_id=2 component_idx=1
        "#]],
    );
}

#[test]
fn names_out_of_range_are_invalid() {
    let mut b = TestBtf::new();
    // An offset past the string section, and one inside a string (which names its tail).
    b.btf.add_type(Type::new(
        10_000,
        TypeData::Int {
            size: 4,
            encoding: 0,
            offset: 0,
            bits: 32,
        },
    ));
    let off = b.s("prefix_name");
    b.btf.add_type(Type::new(off + 7, TypeData::Ptr { ty: 1 }));
    let members = vec![Member {
        name_off: 20_000,
        ty: 1,
        offset: 0,
    }];
    b.struct_of("s", 4, false, members);
    check(
        &b.btf,
        expect![[r#"
            [1] INT '(invalid)' size=4 bits_offset=0 nr_bits=32 encoding=(none)
            [2] PTR 'name' type_id=1
            [3] STRUCT 's' size=4 vlen=1
            	'(invalid)' type_id=1 bits_offset=0
        "#]],
    );
}

#[test]
fn split_btf_prints_only_its_own_types() {
    let mut base = TestBtf::new();
    let int = base.int("int", 4, INT_SIGNED);
    base.add(
        "base_var",
        TypeData::Var {
            ty: int,
            linkage: 1,
        },
    );
    let base = Arc::new(base.btf);
    let mut b = TestBtf::split(base);
    let p = b.ptr(int);
    let members = vec![b.m("p", p, 0), b.m("int", int, 64)];
    b.struct_of("int", 16, false, members);
    let vars = vec![
        VarSecinfo {
            ty: 2,
            offset: 0,
            size: 4,
        },
        VarSecinfo {
            ty: 4,
            offset: 8,
            size: 16,
        },
    ];
    b.add(".bss", TypeData::Datasec { size: 24, vars });
    check(
        &b.btf,
        expect![[r#"
            [3] PTR '(anon)' type_id=1
            [4] STRUCT 'int' size=16 vlen=2
            	'p' type_id=3 bits_offset=0
            	'int' type_id=1 bits_offset=64
            [5] DATASEC '.bss' size=24 vlen=2
            	type_id=2 offset=0 size=4 (VAR 'base_var')
            	type_id=4 offset=8 size=16 (STRUCT 'int')
        "#]],
    );
}
