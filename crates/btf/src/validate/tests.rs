//! Unit tests: one small synthetic BTF per rule, checked against the exact problem lines.
//!
//! Each expectation was worked out from the 6.1 kernel's code for the same input; the `rule`
//! printed in brackets is the kernel's log message for it.

use std::sync::Arc;

use expect_test::{expect, Expect};

use super::*;
use crate::types::*;

use crate::synth::Builder as B;

/// The builder's one extra: the `int` most tests use.
trait Int32 {
    fn int32(&mut self) -> TypeId;
}

impl Int32 for B {
    fn int32(&mut self) -> TypeId {
        self.int("int", 4, INT_SIGNED)
    }
}

fn render(problems: &[Problem]) -> String {
    let mut s = String::new();
    for p in problems {
        let class = match p.class {
            ProblemClass::Invalid => "invalid",
            ProblemClass::WrongBase => "wrong base",
        };
        s += &format!("{class}, {}: {p}  <{}>\n", p.phase.name(), p.rule);
    }
    if s.is_empty() {
        s = "ok\n".into();
    }
    s
}

fn check(b: &B, expect: Expect) {
    expect.assert_eq(&render(&validate(&b.btf)));
}

/// A BTF with one type of every kind, and no problem.
fn every_kind() -> B {
    let mut b = B::new();
    let int = b.int32();
    let chr = b.int_bits("char", 1, 8, INT_CHAR);
    let long = b.int_bits("long", 8, 64, 0);
    let node = b.add("node", TypeData::Fwd { raw: 0 });
    let pnode = b.ptr(node);
    let arr = b.array(chr, int, 16);
    let flt = b.add("double", TypeData::Float { size: 8 });
    let en = b.add(
        "color",
        TypeData::Enum {
            size: 4,
            values: vec![EnumValue {
                name_off: 0,
                val: 0,
            }],
        },
    );
    let red = b.s("RED");
    if let TypeData::Enum { values, .. } = &mut b.btf.own_types_mut()[(en - 1) as usize].data {
        values[0].name_off = red;
    }
    let s = b.strukt(
        "s",
        48,
        &[
            ("a", int, 0),
            ("name", arr, 32),
            ("next", pnode, 192),
            ("d", flt, 256),
            ("c", en, 320),
        ],
    );
    let bits = b.strukt("bits", 8, &[("x", int, 3 << 24), ("y", long, 0)]);
    b.kflag(bits);
    let cs = b.konst(s);
    let ps = b.ptr(cs);
    let t = b.typedef("s_t", s);
    let proto = b.proto(int, &[("p", ps), ("t", t), ("", 0)]);
    let f = b.func("f", proto);
    let tag = b.s("tag");
    b.btf.add_type(Type::new(
        tag,
        TypeData::DeclTag {
            ty: f,
            component_idx: 1,
        },
    ));
    let tt = b.add("user", TypeData::TypeTag { ty: long });
    b.ptr(tt);
    let v = b.var("v", long);
    let v2 = b.var("v.dot", int);
    b.datasec(".data..x", 16, &[(v, 0, 8), (v2, 8, 4)]);
    b.union("u", 8, &[("a", int, 0), ("b", long, 0)]);
    b
}

#[test]
fn a_clean_btf_of_every_kind_has_no_problem() {
    let b = every_kind();
    check(
        &b,
        expect![[r#"
        ok
    "#]],
    );
}

// ---- Meta phase. ----

#[test]
fn int_rules() {
    let mut b = B::new();
    b.int_bits("bad_enc", 4, 32, 3);
    b.int_bits("too_wide", 4, 40, 0);
    b.add(
        "too_many_bits",
        TypeData::Int {
            size: 16,
            encoding: 0,
            offset: 8,
            bits: 128,
        },
    );
    let k = b.int_bits("kflag", 4, 32, 0);
    b.kflag(k);
    b.int_bits("", 0, 0, 0);
    check(
        &b,
        expect![[r#"
        invalid, meta: [1] INT 'bad_enc': encoding 0x3 is not one of none, SIGNED, CHAR, BOOL  <Unsupported encoding>
        invalid, meta: [2] INT 'too_wide': bit offset 0 + 40 bits do not fit in 4 bytes  <nr_bits exceeds type_size>
        invalid, meta: [3] INT 'too_many_bits': bit offset 8 + 128 bits exceed 128 bits  <nr_bits exceeds 128>
        invalid, meta: [4] INT 'kflag': kind_flag is set, which INT does not allow  <Invalid btf_info kind_flag>
    "#]],
    );
}

#[test]
fn names_per_kind() {
    let mut b = B::new();
    let int = b.int32();
    b.add("p", TypeData::Ptr { ty: int });
    b.typedef("", int);
    b.typedef("1x", int);
    b.add("", TypeData::Fwd { raw: 0 });
    b.add(
        "n",
        TypeData::Array {
            elem: int,
            index: int,
            nelems: 1,
        },
    );
    b.strukt("a-b", 4, &[]);
    b.strukt("s", 4, &[("m.x", int, 0)]);
    b.add(
        "",
        TypeData::Func {
            proto: 0,
            linkage: 0,
        },
    );
    b.var("", int);
    b.var("v.ok", int);
    b.datasec("not a section", 4, &[]);
    b.add("", TypeData::TypeTag { ty: int });
    b.add(
        "",
        TypeData::DeclTag {
            ty: int,
            component_idx: -1,
        },
    );
    b.add(
        "name",
        TypeData::FuncProto {
            ret: 0,
            params: vec![],
        },
    );
    // Offset 4 is the NUL that ends "int": a valid offset, but an empty name.
    b.btf.add_type(Type::new(4, TypeData::Typedef { ty: int }));
    check(
        &b,
        expect![[r#"
            invalid, meta: [2] PTR 'p': PTR must be anonymous but has name offset 5 ('p')  <Invalid name>
            invalid, meta: [3] TYPEDEF (anon): name is missing  <Invalid name>
            invalid, meta: [4] TYPEDEF '1x': name '1x' is not a valid C identifier  <Invalid name>
            invalid, meta: [5] FWD (anon): name is missing  <Invalid name>
            invalid, meta: [6] ARRAY 'n': ARRAY must be anonymous but has name offset 10 ('n')  <Invalid name>
            invalid, meta: [7] STRUCT 'a-b': name 'a-b' is not a valid C identifier  <Invalid name>
            invalid, meta: [9] FUNC (anon): name is missing  <Invalid name>
            invalid, meta: [10] VAR (anon): name is missing  <Invalid name>
            invalid, meta: [12] DATASEC 'not a section': name 'not a section' is not a valid section name  <Invalid name>
            invalid, meta: [13] TYPE_TAG (anon): value is empty (name offset 0)  <Invalid name>
            invalid, meta: [14] DECL_TAG (anon): value is empty (name offset 0)  <Invalid value>
            invalid, meta: [15] FUNC_PROTO 'name': FUNC_PROTO must be anonymous but has name offset 41 ('name')  <Invalid name>
            invalid, meta: [16] TYPEDEF (anon): name is empty (name offset 4 points at a NUL)  <Invalid name>
        "#]],
    );
}

#[test]
fn name_offset_outside_the_strings() {
    let mut b = B::new();
    let int = b.int32();
    b.btf.add_type(Type::new(1000, TypeData::Const { ty: int }));
    let s = b.strukt("s", 4, &[("a", int, 0)]);
    if let TypeData::Struct { members, .. } = &mut b.btf.own_types_mut()[(s - 1) as usize].data {
        members[0].name_off = 0x0100_0000;
    }
    check(
        &b,
        expect![[r#"
        invalid, meta: [2] CONST (anon): name offset 1000 is outside the string section (which ends at 9)  <Invalid name_offset>
        invalid, meta: [3] STRUCT 's': member #1 name offset 16777216 is outside the string section (which ends at 9)  <Invalid member name_offset>
    "#]],
    );
}

#[test]
fn kind_flag_is_allowed_only_where_the_kernel_allows_it() {
    let mut b = B::new();
    let int = b.int32();
    let mut flagged = vec![
        b.ptr(int),
        b.array(int, int, 1),
        b.konst(int),
        b.typedef("t", int),
        b.proto(0, &[]),
        b.var("v", int),
        b.add("f", TypeData::Float { size: 4 }),
        b.add("tag", TypeData::TypeTag { ty: int }),
    ];
    let f = b.proto(0, &[]);
    flagged.push(b.func("fn", f));
    // Allowed: STRUCT/UNION (bitfields), FWD (union), ENUM/ENUM64 (signed).
    flagged.push(b.strukt("s", 4, &[("a", int, 0)]));
    flagged.push(b.add("fw", TypeData::Fwd { raw: 0 }));
    flagged.push(b.add(
        "e",
        TypeData::Enum64 {
            size: 8,
            values: vec![],
        },
    ));
    for id in flagged {
        b.kflag(id);
    }
    check(
        &b,
        expect![[r#"
        invalid, meta: [2] PTR (anon): kind_flag is set, which PTR does not allow  <Invalid btf_info kind_flag>
        invalid, meta: [3] ARRAY (anon): kind_flag is set, which ARRAY does not allow  <Invalid btf_info kind_flag>
        invalid, meta: [4] CONST (anon): kind_flag is set, which CONST does not allow  <Invalid btf_info kind_flag>
        invalid, meta: [5] TYPEDEF 't': kind_flag is set, which TYPEDEF does not allow  <Invalid btf_info kind_flag>
        invalid, meta: [6] FUNC_PROTO (anon): kind_flag is set, which FUNC_PROTO does not allow  <Invalid btf_info kind_flag>
        invalid, meta: [7] VAR 'v': kind_flag is set, which VAR does not allow  <Invalid btf_info kind_flag>
        invalid, meta: [8] FLOAT 'f': kind_flag is set, which FLOAT does not allow  <Invalid btf_info kind_flag>
        invalid, meta: [9] TYPE_TAG 'tag': kind_flag is set, which TYPE_TAG does not allow  <Invalid btf_info kind_flag>
        invalid, meta: [11] FUNC 'fn': kind_flag is set, which FUNC does not allow  <Invalid btf_info kind_flag>
    "#]],
    );
}

#[test]
fn struct_member_offsets() {
    let mut b = B::new();
    let int = b.int32();
    b.strukt("backwards", 8, &[("a", int, 32), ("b", int, 0)]);
    b.strukt("beyond", 4, &[("a", int, 0), ("b", int, 40)]);
    b.union("u", 4, &[("a", int, 0), ("b", int, 8)]);
    b.strukt("void_member", 4, &[("a", 0, 0)]);
    b.strukt("huge_id", 4, &[("a", 0x10_0000, 0)]);
    // A last member right at the end ("char a[0]") is fine.
    let zero = b.array(int, int, 0);
    b.strukt("flex", 4, &[("a", int, 0), ("b", zero, 32)]);
    check(
        &b,
        expect![[r#"
        invalid, meta: [2] STRUCT 'backwards': member 'b' at bit offset 0 comes before the previous member at bit offset 32  <Invalid member bits_offset>
        invalid, meta: [3] STRUCT 'beyond': member 'b' at bit offset 40 is beyond the struct size of 4 bytes  <Member bits_offset exceeds its struct size>
        invalid, meta: [4] UNION 'u': union member 'b' is at bit offset 8, must be 0  <Invalid member bits_offset>
        invalid, meta: [5] STRUCT 'void_member': member 'a' is void (type id 0)  <Invalid type_id>
        invalid, meta: [6] STRUCT 'huge_id': member 'a' has type id 1048576, beyond the largest possible id 1048575  <Invalid type_id>
    "#]],
    );
}

#[test]
fn enum_func_var_datasec_float_decl_tag_rules() {
    let mut b = B::new();
    let int = b.int32();
    b.add(
        "e3",
        TypeData::Enum {
            size: 3,
            values: vec![],
        },
    );
    b.add(
        "e_unnamed",
        TypeData::Enum64 {
            size: 8,
            values: vec![Enum64Value {
                name_off: 0,
                val: 1,
            }],
        },
    );
    let p = b.proto(0, &[]);
    b.add(
        "ext",
        TypeData::Func {
            proto: p,
            linkage: FUNC_EXTERN,
        },
    );
    b.add(
        "ev",
        TypeData::Var {
            ty: int,
            linkage: VAR_GLOBAL_EXTERN,
        },
    );
    b.var("vv", 0);
    b.datasec(".empty", 0, &[]);
    let v = b.var("v", int);
    b.datasec(".overlap", 8, &[(v, 0, 4), (v, 2, 4)]);
    b.datasec(".beyond", 8, &[(v, 6, 4)]);
    b.datasec(".zero", 8, &[(v, 0, 0)]);
    b.add("half", TypeData::Float { size: 6 });
    b.add("fw", TypeData::Fwd { raw: 3 });
    b.add(
        "t",
        TypeData::DeclTag {
            ty: int,
            component_idx: -2,
        },
    );
    check(
        &b,
        expect![[r#"
            invalid, meta: [2] ENUM 'e3': size 3 is not 1, 2, 4 or 8  <Unexpected size>
            invalid, meta: [3] ENUM64 'e_unnamed': value #1 name is missing  <Invalid name>
            invalid, meta: [5] FUNC 'ext': linkage 2 is not static (0) or global (1)  <Invalid func linkage>
            invalid, meta: [6] VAR 'ev': linkage 2 is not static (0) or global allocated (1)  <Linkage not supported>
            invalid, meta: [7] VAR 'vv': variable type is void (type id 0)  <Invalid type_id>
            invalid, meta: [8] DATASEC '.empty': size is 0  <size == 0>
            invalid, meta: [10] DATASEC '.overlap': entry #1 (type id 9, offset 2, size 4) overlaps the previous entry, which ends at 4  <Invalid offset>
            invalid, meta: [11] DATASEC '.beyond': entry #0 (type id 9, offset 6, size 4) ends at 10, beyond the section size 8  <Invalid offset+size>
            invalid, meta: [12] DATASEC '.zero': entry #0 (type id 9, offset 0, size 0) has a size of 0 or more than the section size 8  <Invalid size>
            invalid, meta: [13] FLOAT 'half': size 6 is not 2, 4, 8, 12 or 16  <Invalid type_size>
            invalid, meta: [14] FWD 'fw': type/size word is 3, must be 0  <type != 0>
            invalid, meta: [15] DECL_TAG 't': component_idx -2 is below -1  <Invalid component_idx>
        "#]],
    );
}

#[test]
fn type_count_limit_follows_the_kernels_array_growth() {
    // A base holds void and ids 1..=0xffffe: 0xffffe types, the next one is refused.
    assert_eq!(meta::first_type_over_limit(0, true, 0xffffe), None);
    assert_eq!(meta::first_type_over_limit(0, true, 0xfffff), Some(0xffffe));
    // Split BTF: the limit depends on where the growth lands relative to the base's count.
    assert_eq!(meta::first_type_over_limit(95247, false, 10_000), None);
    assert!(meta::first_type_over_limit(95247, false, 0x10_0000).is_some());
}

// ---- Resolve phase. ----

#[test]
fn references_out_of_range_or_to_the_wrong_kind() {
    let mut b = B::new();
    let int = b.int32();
    b.ptr(99);
    let v = b.var("v", int);
    b.konst(v);
    let p = b.proto(0, &[]);
    b.strukt("s", 8, &[("f", p, 0)]);
    b.typedef("t", 77);
    check(
        &b,
        expect![[r#"
        invalid, resolve: [2] PTR (anon): referenced type [99] (out of range, last id is 7) does not exist  <Invalid type_id>
        invalid, resolve: [4] CONST (anon): referenced type [3] VAR 'v' cannot be referenced  <Invalid type_id>
        invalid, resolve: [6] STRUCT 's': member 'f': type [5] FUNC_PROTO (anon) has no size  <Invalid member>
        invalid, resolve: [7] TYPEDEF 't': referenced type [77] (out of range, last id is 7) does not exist  <Invalid type_id>
        invalid, type tags: [7] TYPEDEF 't': chain of modifiers reaches [77] (out of range, last id is 7)  <Invalid type_id>
    "#]],
    );
}

#[test]
fn loops_are_rejected_except_through_pointers() {
    let mut b = B::new();
    let int = b.int32();
    // struct a { struct b b; }; struct b { struct a a; };
    let a = b.strukt("a", 4, &[("b", 3, 0)]);
    b.strukt("b", 4, &[("a", a, 0)]);
    // struct list { int v; struct list *next; } is fine.
    b.strukt("list", 16, &[("v", int, 0), ("next", 5, 64)]);
    b.ptr(4);
    // const -> ptr -> const -> ptr ...: a pointer loop.
    b.konst(7);
    b.ptr(6);
    check(
        &b,
        expect![[r#"
        invalid, resolve: [2] STRUCT 'a': reference loop: a type contains itself (not through a pointer)  <Loop detected>
        invalid, resolve: [6] CONST (anon): reference loop: a type contains itself (not through a pointer)  <Loop detected>
    "#]],
    );
}

#[test]
fn resolving_deeper_than_32_is_rejected() {
    let mut b = B::new();
    let int = b.int32();
    // typedef t33 -> t32 -> ... -> t1 -> int, declared from the top so nothing is resolved
    // before the walk: 33 modifiers on the stack at once.
    let first = b.btf.end_id();
    for i in 0..33u32 {
        let next = if i == 32 { int } else { first + i + 1 };
        b.typedef(&format!("t{i}"), next);
    }
    check(
        &b,
        expect![[r#"
        invalid, resolve: [2] TYPEDEF 't0': references nest deeper than 32 levels  <Exceeded max resolving depth>
        invalid, type tags: [2] TYPEDEF 't0': chain of modifiers is longer than 32 or a cycle  <Max chain length or cycle detected>
    "#]],
    );
}

#[test]
fn member_checks() {
    let mut b = B::new();
    let int = b.int32();
    let big = b.strukt("big", 16, &[]);
    b.strukt("holds_big", 8, &[("b", big, 0)]);
    let p = b.ptr(int);
    b.strukt("unaligned_ptr", 16, &[("p", p, 4)]);
    let kp = b.strukt("ptr_bitfield", 16, &[("p", p, 3 << 24)]);
    b.kflag(kp);
    let kw = b.strukt("wide_bitfield", 8, &[("x", int, 33 << 24)]);
    b.kflag(kw);
    // Non-kflag INT bitfield: int with bit offset 30 and 8 bits in a 4-byte struct.
    let bf = b.add(
        "bf",
        TypeData::Int {
            size: 8,
            encoding: 0,
            offset: 30,
            bits: 8,
        },
    );
    b.strukt("int_bits_beyond", 4, &[("x", bf, 0)]);
    let flt = b.add("double", TypeData::Float { size: 8 });
    b.strukt("float_misaligned", 16, &[("d", flt, 32)]);
    // A kflag bitfield of 16 bits at bit 24 of a 4-byte struct ends at bit 40.
    let kb = b.strukt("kflag_bits_beyond", 4, &[("x", int, 16 << 24 | 24)]);
    b.kflag(kb);
    // Bits copied from whole bytes: 124 bits at bit 7 (member 3 plus the INT's 4) span 131.
    let wide = b.add(
        "wide",
        TypeData::Int {
            size: 16,
            encoding: 0,
            offset: 4,
            bits: 124,
        },
    );
    b.strukt("copy_bits_over_128", 32, &[("w", wide, 3)]);
    // The same with kind_flag: a 128-bit bitfield of a 128-bit INT at bit 3.
    let i128 = b.add(
        "__int128",
        TypeData::Int {
            size: 16,
            encoding: 1,
            offset: 0,
            bits: 128,
        },
    );
    let kc = b.strukt(
        "kflag_copy_bits_over_128",
        32,
        &[("w", i128, 128 << 24 | 3)],
    );
    b.kflag(kc);
    check(
        &b,
        expect![[r#"
        invalid, resolve: [3] STRUCT 'holds_big': member 'b' (bit offset 0, type [2] STRUCT 'big'): ends at bit 128, beyond the struct size of 8 bytes  <Member exceeds struct_size>
        invalid, resolve: [5] STRUCT 'unaligned_ptr': member 'p' (bit offset 4, type [4] PTR (anon)): not byte aligned  <Member is not byte aligned>
        invalid, resolve: [6] STRUCT 'ptr_bitfield': member 'p' (bit offset 0, bitfield size 3, type [4] PTR (anon)): a PTR cannot be a bitfield  <Invalid member bitfield_size>
        invalid, resolve: [7] STRUCT 'wide_bitfield': member 'x' (bit offset 0, bitfield size 33, type [1] INT 'int'): bitfield of 33 bits is wider than its 32-bit INT  <Invalid member bitfield_size>
        invalid, resolve: [9] STRUCT 'int_bits_beyond': member 'x' (bit offset 0, type [8] INT 'bf'): ends at bit 38, beyond the struct size of 4 bytes  <Member exceeds struct_size>
        invalid, resolve: [11] STRUCT 'float_misaligned': member 'd' (bit offset 32, type [10] FLOAT 'double'): FLOAT not aligned to 8 bytes  <Member is not properly aligned>
        invalid, resolve: [12] STRUCT 'kflag_bits_beyond': member 'x' (bit offset 24, bitfield size 16, type [1] INT 'int'): ends at bit 40, beyond the struct size of 4 bytes  <Member exceeds struct_size>
        invalid, resolve: [14] STRUCT 'copy_bits_over_128': member 'w' (bit offset 3, type [13] INT 'wide'): 131 bits to copy, more than 128  <nr_copy_bits exceeds 128>
        invalid, resolve: [16] STRUCT 'kflag_copy_bits_over_128': member 'w' (bit offset 3, bitfield size 128, type [15] INT '__int128'): 131 bits to copy, more than 128  <nr_copy_bits exceeds 128>
    "#]],
    );
}

#[test]
fn array_rules() {
    let mut b = B::new();
    let int = b.int32();
    let s = b.strukt("s", 4, &[("a", int, 0)]);
    b.array(int, s, 4);
    let odd = b.int_bits("odd", 4, 12, 0);
    b.array(odd, int, 4);
    b.array(int, int, 0x4000_0001);
    b.array(int, 0, 1);
    check(
        &b,
        expect![[r#"
        invalid, meta: [7] ARRAY (anon): index type is void (type id 0)  <Invalid index>
        invalid, resolve: [3] ARRAY (anon): index type [2] STRUCT 's' is not a regular INT (8, 16, 32, 64 or 128 bits at offset 0)  <Invalid index>
        invalid, resolve: [5] ARRAY (anon): element type [4] INT 'odd' is an INT bitfield or of irregular size  <Invalid array of int>
        invalid, resolve: [6] ARRAY (anon): 1073741825 elements of 4 bytes overflow 32 bits  <Array size overflows U32_MAX>
    "#]],
    );
}

#[test]
fn func_and_func_proto_rules() {
    let mut b = B::new();
    let int = b.int32();
    b.func("not_proto", int);
    let unnamed = b.proto(int, &[("", int)]);
    b.func("unnamed_arg", unnamed);
    b.proto(int, &[("a", 0), ("b", int)]);
    b.proto(int, &[("a", int), ("va", 0)]);
    b.proto(int, &[("1a", int)]);
    let v = b.var("v", int);
    b.proto(v, &[]);
    let fw = b.add("fw", TypeData::Fwd { raw: 0 });
    b.proto(fw, &[]);
    check(
        &b,
        expect![[r#"
        invalid, resolve: [2] FUNC 'not_proto': FUNC's type [1] INT 'int' is not a FUNC_PROTO  <Invalid type_id>
        invalid, resolve: [4] FUNC 'unnamed_arg': parameter #1 of [3] FUNC_PROTO (anon) has no name  <Invalid arg#>
        invalid, resolve: [5] FUNC_PROTO (anon): parameter #1 is void but not the last parameter  <Invalid arg#>
        invalid, resolve: [6] FUNC_PROTO (anon): vararg (last parameter, type void) #2 has a name  <Invalid arg#>
        invalid, resolve: [7] FUNC_PROTO (anon): parameter #1 name '1a' is not a valid C identifier  <Invalid arg#>
        invalid, resolve: [9] FUNC_PROTO (anon): return type [8] VAR 'v' cannot be referenced  <Invalid return type>
        invalid, resolve: [11] FUNC_PROTO (anon): return type [10] FWD 'fw' has no size  <Invalid return type>
    "#]],
    );
}

#[test]
fn var_datasec_decl_tag_rules() {
    let mut b = B::new();
    let int = b.int32();
    let fw = b.add("fw", TypeData::Fwd { raw: 0 });
    b.var("of_fwd", fw);
    let v = b.var("v", int);
    b.datasec(".not_var", 8, &[(int, 0, 4)]);
    b.datasec(".small", 8, &[(v, 0, 2)]);
    let s = b.strukt("s", 4, &[("a", int, 0)]);
    let tag = b.s("tag");
    b.btf.add_type(Type::new(
        tag,
        TypeData::DeclTag {
            ty: s,
            component_idx: 1,
        },
    ));
    b.btf.add_type(Type::new(
        tag,
        TypeData::DeclTag {
            ty: v,
            component_idx: 0,
        },
    ));
    b.btf.add_type(Type::new(
        tag,
        TypeData::DeclTag {
            ty: int,
            component_idx: -1,
        },
    ));
    check(
        &b,
        expect![[r#"
        invalid, resolve: [3] VAR 'of_fwd': variable type [2] FWD 'fw' has no size  <Invalid type_id>
        invalid, resolve: [5] DATASEC '.not_var': entry #0 (offset 0, size 4) is [1] INT 'int', not a VAR  <Not a VAR kind member>
        invalid, resolve: [6] DATASEC '.small': entry #0 (offset 0, size 2) is smaller than the 4 bytes of [4] VAR 'v'  <Invalid size>
        invalid, resolve: [8] DECL_TAG 'tag': component_idx 1 is beyond the 1 members or parameters of [7] STRUCT 's'  <Invalid component_idx>
        invalid, resolve: [9] DECL_TAG 'tag': component_idx 0 on [4] VAR 'v', which has no components (must be -1)  <Invalid component_idx>
        invalid, resolve: [10] DECL_TAG 'tag': tagged type [1] INT 'int' is not a FUNC, STRUCT, UNION, VAR or TYPEDEF  <Invalid type_id>
    "#]],
    );
}

#[test]
fn a_broken_type_is_reported_once_not_through_its_users() {
    let mut b = B::new();
    let bad = b.int_bits("bad", 4, 32, 7);
    b.strukt("s", 4, &[("a", bad, 0)]);
    let p = b.ptr(bad);
    b.konst(p);
    check(
        &b,
        expect![[r#"
        invalid, meta: [1] INT 'bad': encoding 0x7 is not one of none, SIGNED, CHAR, BOOL  <Unsupported encoding>
    "#]],
    );
}

#[test]
fn the_first_problem_is_the_one_the_kernel_reports() {
    // The kernel checks all metas before resolving: the bad ENUM [3] comes first although
    // the dangling PTR [2] has the lower id.
    let mut b = B::new();
    b.int32();
    b.ptr(50);
    b.add(
        "e",
        TypeData::Enum {
            size: 0,
            values: vec![],
        },
    );
    let problems = validate(&b.btf);
    expect![[r#"[3] ENUM 'e': size 0 is not 1, 2, 4 or 8"#]].assert_eq(&problems[0].to_string());
}

// ---- Type tags. ----

#[test]
fn type_tags_must_precede_other_modifiers() {
    let mut b = B::new();
    let int = b.int32();
    let tag = b.add("user", TypeData::TypeTag { ty: int });
    let c = b.konst(tag);
    b.ptr(c);
    let c2 = b.konst(int);
    let tag2 = b.add("rcu", TypeData::TypeTag { ty: c2 });
    b.ptr(tag2);
    check(
        &b,
        expect![[r#"
        invalid, type tags: [3] CONST (anon): TYPE_TAG [2] TYPE_TAG 'user' follows a non-tag modifier in the chain  <Type tags don't precede modifiers>
    "#]],
    );
}

// ---- Header and sections. ----

fn parse_back(b: &B, patch: impl FnOnce(&mut Vec<u8>)) -> Btf {
    let mut bytes = b.btf.to_bytes();
    patch(&mut bytes);
    Btf::parse(&bytes, None).expect("parses")
}

fn put(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn header_and_section_layout() {
    let mut b = B::new();
    b.int32();
    let trailing = parse_back(&b, |bytes| bytes.extend_from_slice(&[1, 2, 3, 4]));
    expect![[r#"
        invalid, header: header: 4 bytes of unknown data after the type and string sections  <Unsupported section found>
        invalid, strings: string section: string section ends at 21 but the data after the header is 25 bytes  <String section is not at the end>
    "#]]
    .assert_eq(&render(&validate(&trailing)));

    // A 32-byte header with a non-zero field the kernel does not know.
    let long_header = parse_back(&b, |bytes| {
        bytes.splice(24..24, [0, 0, 0, 0, 9, 0, 0, 0]);
        put(bytes, 4, 32);
    });
    expect![[r#"
        invalid, header: header: header is 32 bytes and byte 28 is not zero: 6.1 knows only the first 24  <Unsupported btf_header>
    "#]]
    .assert_eq(&render(&validate(&long_header)));

    // Strings first, then types: allowed by the layout rules, but strings must come last.
    let swapped = parse_back(&b, |bytes| {
        let types = bytes[24..40].to_vec();
        let mut strings = bytes[40..].to_vec();
        // Pad with NULs so that the type section after it stays 4-byte aligned.
        strings.resize(strings.len().next_multiple_of(4), 0);
        bytes.truncate(24);
        bytes.extend_from_slice(&strings);
        bytes.extend_from_slice(&types);
        put(bytes, 8, strings.len() as u32);
        put(bytes, 16, 0);
        put(bytes, 20, strings.len() as u32);
    });
    expect![[r#"
        invalid, strings: string section: string section ends at 8 but the data after the header is 24 bytes  <String section is not at the end>
    "#]]
    .assert_eq(&render(&validate(&swapped)));
}

// ---- Split BTF and signs of a wrong base. ----

fn base() -> B {
    let mut b = B::new();
    let int = b.int32(); // [1]
    let lh = b.strukt("list_head", 16, &[]); // [2]
    let p = b.proto(int, &[("x", int)]); // [3]
    b.func("base_fn", p); // [4]
    let _ = lh;
    b
}

#[test]
fn split_btf_refers_to_base_ids_and_strings() {
    let mut s = B::split(Arc::new(base().btf));
    let lh_name = 5; // "list_head" in the base's strings.
    s.btf.add_type(Type::new(0, TypeData::Ptr { ty: 2 }));
    s.btf.add_type(Type::new(lh_name, TypeData::Fwd { raw: 0 }));
    let own = s.strukt("own", 24, &[("head", 2, 0), ("p", 5, 128)]);
    s.ptr(own);
    check(
        &s,
        expect![[r#"
        ok
    "#]],
    );
}

#[test]
fn split_refers_past_its_end_or_to_wrong_base_kinds() {
    let mut s = B::split(Arc::new(base().btf));
    s.ptr(20);
    s.strukt("s", 8, &[("f", 4, 0)]);
    s.func("g", 1);
    s.array(1, 2, 4);
    check(
        &s,
        expect![[r#"
            invalid, resolve: [5] PTR (anon): referenced type [20] (out of range, last id is 8) does not exist  <Invalid type_id>
            invalid, resolve: [6] STRUCT 's': member 'f': type [4] FUNC 'base_fn' has no size  <Invalid member>
            invalid, resolve: [7] FUNC 'g': FUNC's type [1] INT 'int' is not a FUNC_PROTO  <Invalid type_id>
            invalid, resolve: [8] ARRAY (anon): index type [2] STRUCT 'list_head' is not a regular INT (8, 16, 32, 64 or 128 bits at offset 0)  <Invalid index>
            wrong base, base match: [6] STRUCT 's': member 'f' type is [4] FUNC 'base_fn' from the base, which cannot be used here  <base-kind>
            wrong base, base match: [7] FUNC 'g': prototype is [1] INT 'int' from the base, which cannot be used here  <base-kind>
            wrong base, base match: [8] ARRAY (anon): index type is [2] STRUCT 'list_head' from the base, which cannot be used here  <base-kind>
        "#]],
    );
}

#[test]
fn names_inside_base_strings_are_a_wrong_base() {
    let mut s = B::split(Arc::new(base().btf));
    // Offset 7 is "st_head", inside the base's "list_head" at 5.
    s.btf.add_type(Type::new(7, TypeData::Fwd { raw: 0 }));
    let own = s.strukt("own", 16, &[("a", 1, 0)]);
    if let TypeData::Struct { members, .. } = &mut s.btf.own_types_mut()[1].data {
        members[0].name_off = 6;
    }
    let _ = own;
    check(
        &s,
        expect![[r#"
        wrong base, base match: [5] FWD 'st_head': name offset 7 ('st_head') points inside a base string, 'list_head' at offset 5  <name-inside-string>
        wrong base, base match: [6] STRUCT 'own': member #1 name offset 6 ('ist_head') points inside a base string, 'list_head' at offset 5  <name-inside-string>
    "#]],
    );
}

#[test]
fn shifted_own_strings_are_recognized() {
    // Built against a base whose strings were 3 bytes longer: every own offset is 3 too big.
    let mut s = B::split(Arc::new(base().btf));
    let names = ["alpha", "beta", "gamma", "delta"];
    let offs: Vec<u32> = names.iter().map(|n| s.s(n)).collect();
    for off in offs {
        s.btf.add_type(Type::new(off + 3, TypeData::Fwd { raw: 0 }));
    }
    // Pad the own strings so that the shifted offsets stay inside them.
    s.s("pad");
    let problems = validate(&s.btf);
    let shift: Vec<String> = problems
        .iter()
        .filter(|p| p.rule == "string-shift")
        .map(|p| p.to_string())
        .collect();
    expect![[r#"
        [
            "BTF: 4 own string offsets fit only if this BTF's strings start at 28, but the given base's strings end at 25 (+3 bytes): built against a different base",
        ]
    "#]]
    .assert_debug_eq(&shift);
}

#[test]
fn pointer_to_func_overlapping_members_and_var_sizes() {
    let mut s = B::split(Arc::new(base().btf));
    s.ptr(4);
    // A base 'list_head' of 16 bytes at offset 0, then an int at 8: they overlap.
    s.strukt("ovl", 24, &[("head", 2, 0), ("x", 1, 64)]);
    let v = s.var("v", 2);
    s.datasec(".data", 32, &[(v, 0, 24)]);
    check(
        &s,
        expect![[r#"
            wrong base, base match: [5] PTR (anon): points to [4] FUNC 'base_fn' (from the base), not to a FUNC_PROTO  <ptr-to-func>
            wrong base, base match: [6] STRUCT 'ovl': member 'head' (bits 0..128, type [2] STRUCT 'list_head' (from the base)) overlaps member 'x' at bit 64  <member-overlap>
            wrong base, base match: [8] DATASEC '.data': entry #0 [7] VAR 'v' has size 24 but its type [2] STRUCT 'list_head' (from the base) is 16 bytes  <var-size>
        "#]],
    );
}

#[test]
fn report_caps_and_summarizes() {
    let mut s = B::split(Arc::new(base().btf));
    s.ptr(4);
    s.ptr(99);
    s.add("", TypeData::Ptr { ty: 1 });
    let mut problems = validate(&s.btf);
    problems.push(problems[0].clone());
    let report = Report::new(problems, 2);
    expect![[r#"
        [6] PTR (anon): referenced type [99] (out of range, last id is 7) does not exist
        [5] PTR (anon): points to [4] FUNC 'base_fn' (from the base), not to a FUNC_PROTO
        ... and 1 more
        3 problems: 2 the kernel would reject (0 also when loading module or vmlinux BTF in 6.1), 1 sign of a different base; this split BTF looks built against a different base than the one given
    "#]]
    .assert_eq(&report.to_string());
}

#[test]
fn mutated_btf_never_panics() {
    // Overwrite every 32-bit word of the type and string sections with a few values and
    // validate whatever still parses, as a base and as split BTF.
    let bytes = every_kind().btf.to_bytes();
    let base = Arc::new(base().btf);
    let values = [
        0u32,
        1,
        2,
        7,
        0xff,
        0x8000_0000,
        0x0100_0000,
        0xffff_ffff,
        33,
        1 << 24,
    ];
    let mut parsed = 0;
    for at in (24..bytes.len().saturating_sub(3)).step_by(4) {
        for &v in &values {
            let mut m = bytes.clone();
            m[at..at + 4].copy_from_slice(&v.to_le_bytes());
            if let Ok(btf) = Btf::parse(&m, None) {
                parsed += 1;
                let _ = Report::new(validate(&btf), 10).to_string();
            }
            if let Ok(btf) = Btf::parse(&m, Some(base.clone())) {
                let _ = Report::new(validate(&btf), 10).to_string();
            }
        }
    }
    assert!(parsed > 100);
}
