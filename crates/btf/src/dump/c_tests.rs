//! Golden tests of the C dump on synthetic BTF. Each output was also checked to compile
//! with gcc and to match bpftool 7.1 (apart from the enum mode attributes it lacks).

use std::sync::Arc;

use expect_test::{expect, Expect};

use super::dump_c;
use crate::btf::Btf;
use crate::synth::Builder as TestBtf;
use crate::types::*;

const PROLOGUE: &str = "#ifndef __VMLINUX_H__
#define __VMLINUX_H__

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
#endif

";

const EPILOGUE: &str = "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute pop
#endif

#endif /* __VMLINUX_H__ */
";

fn dump(btf: &Btf) -> String {
    let mut out = Vec::new();
    dump_c(btf, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// Checks the declarations between bpftool's header prologue and epilogue.
fn check(btf: &Btf, expect: Expect) {
    let out = dump(btf);
    let body = out
        .strip_prefix(PROLOGUE)
        .and_then(|s| s.strip_suffix(EPILOGUE))
        .unwrap_or_else(|| panic!("no header guard and pragmas around:\n{out}"));
    expect.assert_eq(body);
}

#[test]
fn empty_btf_is_just_the_header() {
    assert_eq!(dump(&Btf::new()), format!("{PROLOGUE}{EPILOGUE}"));
}

#[test]
fn typedefs_pointers_and_arrays() {
    let mut b = TestBtf::new();
    let int = b.int("int", 4, INT_SIGNED);
    let long = b.int("long int", 8, INT_SIGNED);
    let ch = b.int("char", 1, INT_SIGNED);
    let s32 = b.typedef("s32", int);
    b.typedef("my_s32", s32);
    let cch = b.add("", TypeData::Const { ty: ch });
    let pcch = b.ptr(cch);
    let cpcch = b.add("", TypeData::Const { ty: pcch });
    b.typedef("cstr_const", cpcch);
    let pp = b.ptr(pcch);
    b.typedef("strv", pp);
    let row = b.array(int, int, 3);
    let grid = b.array(row, int, 2);
    b.typedef("grid_t", grid);
    let pgrid = b.ptr(row);
    b.typedef("rowp_t", pgrid);
    let vlong = b.add("", TypeData::Volatile { ty: long });
    let rptr = b.ptr(vlong);
    let rp = b.add("", TypeData::Restrict { ty: rptr });
    b.typedef("vlp_t", rp);
    check(
        &b.btf,
        expect![[r#"
            typedef int s32;

            typedef s32 my_s32;

            typedef const char * const cstr_const;

            typedef const char **strv;

            typedef int grid_t[2][3];

            typedef int (*rowp_t)[3];

            typedef volatile long int * restrict vlp_t;

        "#]],
    );
}

#[test]
fn function_pointers_and_prototypes() {
    let mut b = TestBtf::new();
    let int = b.int("int", 4, INT_SIGNED);
    let ch = b.int("char", 1, INT_SIGNED);
    let pch = b.ptr(ch);
    let cb = b.proto(int, &[("name", pch), ("", 0)]);
    let pcb = b.ptr(cb);
    b.typedef("printf_fn", pcb);
    let noargs = b.proto(0, &[]);
    // GCC records noreturn functions as volatile; C cannot say that and the dump drops it.
    let vnoargs = b.add("", TypeData::Volatile { ty: noargs });
    let vpnoargs = b.ptr(vnoargs);
    let voidarg = b.proto(int, &[("", 0)]);
    let pvoidarg = b.ptr(voidarg);
    let table = b.array(pcb, int, 4);
    // A function returning a pointer to a function.
    let getter = b.proto(pcb, &[("which", int)]);
    let pgetter = b.ptr(getter);
    let members = vec![
        b.m("die", vpnoargs, 0),
        b.m("count", pvoidarg, 64),
        b.m("table", table, 128),
        b.m("get", pgetter, 384),
    ];
    b.struct_of("ops", 56, false, members);
    let va_tag = b.struct_of("__va_list_tag", 24, false, vec![]);
    let va_arr = b.array(va_tag, int, 1);
    let builtin = b.typedef("__builtin_va_list", va_arr);
    b.typedef("va_list", builtin);
    b.typedef("__gnuc_va_list", 0);
    check(
        &b.btf,
        expect![[r#"
            typedef int (*printf_fn)(char *name, ...);

            struct ops {
            	void (*die)(void);
            	int (*count)(void);
            	int (*table[4])(char *name, ...);
            	int (* (*get)(int which))(char *name, ...);
            };

            struct __va_list_tag {
            	long: 64;
            	long: 64;
            	long: 64;
            };

            typedef __builtin_va_list va_list;

            typedef __builtin_va_list __gnuc_va_list;

        "#]],
    );
}

#[test]
fn struct_layout_padding_bitfields_and_packing() {
    let mut b = TestBtf::new();
    let int = b.int("int", 4, INT_SIGNED);
    let uch = b.int("unsigned char", 1, 0);
    let long = b.int("long int", 8, INT_SIGNED);
    let ushort = b.int("short unsigned int", 2, 0);
    // Bitfields, a hole the compiler fills by itself, and trailing padding.
    let members = vec![
        b.bf("a", int, 0, 3),
        b.bf("b", int, 3, 5),
        b.bf("c", int, 12, 4),
        b.bf("d", long, 64, 0),
        b.bf("e", uch, 128, 0),
    ];
    b.struct_of("flags", 32, true, members);
    // A member at an offset natural alignment does not reach.
    let members = vec![b.m("x", uch, 0), b.m("y", long, 128)];
    b.struct_of("gap", 24, false, members);
    // A misaligned member needs packing; in a packed struct, padding needs explicit
    // alignment markers.
    let members = vec![b.m("tag", uch, 0), b.m("val", int, 8)];
    b.struct_of("wire", 5, false, members);
    let members = vec![b.m("tag", uch, 0), b.m("val", int, 8)];
    b.struct_of("wire_tail", 16, false, members);
    // Anonymous union and struct written inline.
    let inner_members = vec![b.m("lo", ushort, 0), b.m("hi", ushort, 16)];
    let inner = b.struct_of("", 4, false, inner_members);
    let un_members = vec![b.m("word", int, 0), b.m("", inner, 0)];
    let un = b.union_of("", 4, false, un_members);
    let members = vec![b.m("kind", int, 0), b.m("", un, 32)];
    b.struct_of("reg", 8, false, members);
    b.struct_of("lock_class_key", 0, false, vec![]);
    // A union whose size is not a multiple of its members' alignment was packed (libbpf
    // never packs unions, so bpftool writes a 12-byte union here).
    let u32t = b.int("unsigned int", 4, 0);
    let crc_members = vec![b.m("front", u32t, 0), b.m("back", u32t, 32)];
    let crcs = b.struct_of("", 8, false, crc_members);
    let pad = b.array(uch, int, 11);
    let members = vec![b.m("", crcs, 0), b.m("pad", pad, 0)];
    let tail = b.union_of("", 11, false, members);
    let members = vec![b.m("status", uch, 0), b.m("", tail, 8)];
    b.struct_of("epilogue", 12, false, members);
    // A union with an alignment attribute (`____cacheline_aligned`): only an alignment
    // gives it its recorded size back.
    let members = vec![b.m("count", int, 0), b.m("bytes", pad, 0)];
    let cacheline = b.union_of("", 64, false, members);
    let members = vec![b.m("tag", uch, 0), b.m("", cacheline, 512)];
    b.struct_of("ring", 128, false, members);
    check(
        &b.btf,
        expect![[r#"
            struct flags {
            	int a: 3;
            	int b: 5;
            	char: 4;
            	int c: 4;
            	long int d;
            	unsigned char e;
            	long: 64;
            };

            struct gap {
            	unsigned char x;
            	long: 64;
            	long int y;
            };

            struct wire {
            	unsigned char tag;
            	int val;
            } __attribute__((packed));

            struct wire_tail {
            	unsigned char tag;
            	int val;
            	long: 0;
            	long: 64;
            } __attribute__((packed));

            struct reg {
            	int kind;
            	union {
            		int word;
            		struct {
            			short unsigned int lo;
            			short unsigned int hi;
            		};
            	};
            };

            struct lock_class_key {};

            struct epilogue {
            	unsigned char status;
            	union {
            		struct {
            			unsigned int front;
            			unsigned int back;
            		};
            		unsigned char pad[11];
            	} __attribute__((packed));
            };

            struct ring {
            	unsigned char tag;
            	long: 64;
            	long: 64;
            	long: 64;
            	long: 64;
            	long: 64;
            	long: 64;
            	long: 64;
            	union {
            		int count;
            		unsigned char bytes[11];
            	} __attribute__((aligned(64)));
            };

        "#]],
    );
}

#[test]
fn enums() {
    let mut b = TestBtf::new();
    let int = b.int("int", 4, INT_SIGNED);
    b.enum_of("color", 4, false, &[("RED", 0), ("GREEN", 1)]);
    // An anonymous enum nothing refers to declares constants on its own.
    b.enum_of("", 4, false, &[("MAX_THINGS", 16)]);
    b.enum_of("sign", 4, true, &[("NEG", (-1i32) as u32), ("POS", 1)]);
    // Enumerator names are one namespace: the second RED is renamed.
    b.enum_of("light", 4, false, &[("RED", 2)]);
    let inline = b.enum_of("", 4, false, &[("MODE_A", 0), ("MODE_B", 1)]);
    let members = vec![b.m("mode", inline, 0), b.m("n", int, 32)];
    b.struct_of("cfg", 8, false, members);
    b.enum64_of("wide", false, &[("W_HI", 1 << 40), ("W_LO", 1)]);
    b.enum64_of("neg64", true, &[("N64", (-5i64) as u64)]);
    // Sizes other than 4 need a mode attribute for the compiler to agree.
    b.enum_of("small", 1, false, &[("S0", 0), ("S1", 1)]);
    b.enum64_of("narrow64", false, &[("NW", 3)]);
    b.enum_of("decl_only", 4, false, &[]);
    check(
        &b.btf,
        expect![[r#"
            enum color {
            	RED = 0,
            	GREEN = 1,
            };

            enum {
            	MAX_THINGS = 16,
            };

            enum sign {
            	NEG = -1,
            	POS = 1,
            };

            enum light {
            	RED___2 = 2,
            };

            struct cfg {
            	enum {
            		MODE_A = 0,
            		MODE_B = 1,
            	} mode;
            	int n;
            };

            enum wide {
            	W_HI = 1099511627776ULL,
            	W_LO = 1ULL,
            };

            enum neg64 {
            	N64 = -5LL,
            };

            enum small {
            	S0 = 0,
            	S1 = 1,
            } __attribute__((mode(byte)));

            enum narrow64 {
            	NW = 3ULL,
            } __attribute__((mode(word)));

            enum decl_only;

        "#]],
    );
}

#[test]
fn forward_declarations_and_cycles() {
    let mut b = TestBtf::new();
    let int = b.int("int", 4, INT_SIGNED);
    // struct node { struct node *next; struct tree *owner; }, referring forward to
    // struct tree { struct node root; union value *v; struct opaque *o; }.
    let node_ptr = b.ptr(4);
    let tree_ptr = b.ptr(6);
    let members = vec![b.m("next", node_ptr, 0), b.m("owner", tree_ptr, 64)];
    let node = b.struct_of("node", 16, false, members);
    let opaque = b.add("opaque", TypeData::Fwd { raw: 0 });
    let members = vec![b.m("root", node, 0), b.m("v", 8, 128), b.m("o", 9, 192)];
    let tree = b.struct_of("tree", 32, false, members);
    let members = vec![b.m("i", int, 0)];
    let value = b.union_of("value", 4, false, members);
    let value_ptr = b.ptr(value);
    let opaque_ptr = b.ptr(opaque);
    assert_eq!((node, tree, value_ptr, opaque_ptr), (4, 6, 8, 9));
    b.add_kf("uval", TypeData::Fwd { raw: 0 });
    check(
        &b.btf,
        expect![[r#"
            struct tree;

            struct node {
            	struct node *next;
            	struct tree *owner;
            };

            struct opaque;

            union value;

            struct tree {
            	struct node root;
            	union value *v;
            	struct opaque *o;
            };

            union value {
            	int i;
            };

            union uval;

        "#]],
    );
}

#[test]
fn duplicate_names_get_suffixes() {
    let mut b = TestBtf::new();
    let int = b.int("int", 4, INT_SIGNED);
    let long = b.int("long int", 8, INT_SIGNED);
    let members = vec![b.m("a", int, 0)];
    b.struct_of("foo", 4, false, members);
    let members = vec![b.m("b", long, 0)];
    let foo2 = b.struct_of("foo", 8, false, members);
    b.typedef("foo_t", int);
    b.typedef("foo_t", long);
    let members = vec![b.m("f", foo2, 0)];
    b.struct_of("user", 8, false, members);
    check(
        &b.btf,
        expect![[r#"
            struct foo {
            	int a;
            };

            struct foo___2 {
            	long int b;
            };

            typedef int foo_t;

            typedef long int foo_t___2;

            struct user {
            	struct foo___2 f;
            };

        "#]],
    );
}

#[test]
fn type_tags_and_kinds_c_does_not_show() {
    let mut b = TestBtf::new();
    let int = b.int("int", 4, INT_SIGNED);
    let tagged = b.add("user", TypeData::TypeTag { ty: int });
    let p = b.ptr(tagged);
    let attr = b.add_kf("address_space(1)", TypeData::TypeTag { ty: int });
    let pa = b.ptr(attr);
    let members = vec![b.m("u", p, 0), b.m("a", pa, 64)];
    let s = b.struct_of("tagged", 16, false, members);
    let proto = b.proto(int, &[("s", s)]);
    b.add("func", TypeData::Func { proto, linkage: 1 });
    b.add("var", TypeData::Var { ty: s, linkage: 1 });
    b.add(
        "decl",
        TypeData::DeclTag {
            ty: s,
            component_idx: -1,
        },
    );
    b.add("float", TypeData::Float { size: 4 });
    check(
        &b.btf,
        expect![[r#"
            struct tagged {
            	int __attribute__((btf_type_tag("user"))) *u;
            	int __attribute__((address_space(1))) *a;
            };

        "#]],
    );
}

#[test]
fn split_btf_includes_base_types() {
    let mut base = TestBtf::new();
    let int = base.int("int", 4, INT_SIGNED);
    let members = vec![base.m("x", int, 0)];
    let bs = base.struct_of("base_s", 4, false, members);
    let base = Arc::new(base.btf);
    let mut b = TestBtf::split(base);
    let members = vec![b.m("b", bs, 0), b.m("y", int, 32)];
    b.struct_of("mod_s", 8, false, members);
    check(
        &b.btf,
        expect![[r#"
            struct base_s {
            	int x;
            };

            struct mod_s {
            	struct base_s b;
            	int y;
            };

        "#]],
    );
}

#[test]
fn malformed_btf_does_not_panic() {
    let mut b = TestBtf::new();
    let int = b.int("int", 4, INT_SIGNED);
    // A member of a type that does not exist, and a pointer to one.
    let dangling = b.ptr(999);
    let members = vec![b.m("missing", 999, 0), b.m("p", dangling, 64)];
    b.struct_of("broken", 16, false, members);
    // A struct that embeds itself, and pointers that point at each other.
    let members = vec![b.m("me", 4, 0), b.m("i", int, 32)];
    b.struct_of("self", 8, false, members);
    let p1 = b.ptr(6);
    assert_eq!(p1, 5);
    b.ptr(5);
    b.typedef("loop_t", 5);
    // An anonymous struct that points to itself: C cannot write it inline.
    let anon_ptr = b.ptr(9);
    let members = vec![b.m("next", anon_ptr, 0)];
    let anon = b.struct_of("", 8, false, members);
    assert_eq!(anon, 9);
    b.typedef("anon_loop_t", anon_ptr);
    let members = vec![b.m("p", anon_ptr, 0)];
    b.struct_of("holder", 8, false, members);
    // A name offset outside the strings.
    b.btf.add_type(Type::new(50_000, TypeData::Fwd { raw: 0 }));
    check(
        &b.btf,
        expect![[r#"
            struct broken {
            	void missing;
            	long: 64;
            	void *p;
            };

            /* kbtf: skipping type [4]: unsatisfiable type cycle at [4] */

            /* kbtf: skipping type [5]: type references nest too deep at [6] */

            /* kbtf: skipping type [6]: type references nest too deep at [5] */

            /* kbtf: skipping type [7]: type references nest too deep at [5] */

            /* kbtf: skipping type [8]: unsatisfiable type cycle at [9] */

            /* kbtf: skipping type [9]: unsatisfiable type cycle at [9] */

            /* kbtf: skipping type [10]: unsatisfiable type cycle at [9] */

            /* kbtf: skipping type [11]: unsatisfiable type cycle at [9] */

            struct ;

        "#]],
    );
}

#[test]
fn absurdly_deep_declarators_are_cut_off() {
    let mut b = TestBtf::new();
    let int = b.int("int", 4, INT_SIGNED);
    let mut arr = int;
    for _ in 0..300 {
        arr = b.array(arr, int, 2);
    }
    b.typedef("deep_arr", arr);
    // int (*)(int (*)(int (*)(...)))
    let leaf = b.proto(int, &[]);
    let mut fp = b.ptr(leaf);
    for _ in 0..300 {
        let proto = b.proto(int, &[("f", fp)]);
        fp = b.ptr(proto);
    }
    b.typedef("deep_fn", fp);
    let out = dump(&b.btf);
    assert!(out.contains("typedef void /* kbtf: declarator too long at [45] */ deep_arr;\n"));
    assert!(out.contains("(void /* kbtf: declarations nest too deep */ f)"));
    assert!(out.ends_with(EPILOGUE));
}

/// A small deterministic generator (64-bit LCG) for the robustness test.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u32) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as u32
    }
}

#[test]
fn random_references_never_panic() {
    for seed in 0..300 {
        let mut r = Lcg(seed);
        let mut b = TestBtf::new();
        let names: Vec<u32> = ["", "a", "b", "int", "long int", "__builtin_va_list"]
            .iter()
            .map(|n| b.s(n))
            .collect();
        let n = 24;
        for _ in 0..n {
            // References reach past the last type, and names past the strings.
            let mut id = || r.next(n + 4);
            let data = match id() % 12 {
                0 => TypeData::Int {
                    size: 1 << (id() % 4),
                    encoding: (id() % 8) as u8,
                    offset: 0,
                    bits: 8,
                },
                1 => TypeData::Ptr { ty: id() },
                2 => TypeData::Array {
                    elem: id(),
                    index: id(),
                    nelems: id(),
                },
                3 | 4 => {
                    let members = (0..id() % 4)
                        .map(|i| Member {
                            name_off: i,
                            ty: id(),
                            offset: id() * 8,
                        })
                        .collect();
                    TypeData::Struct {
                        size: id(),
                        members,
                    }
                }
                5 => TypeData::Enum {
                    size: 1 << (id() % 4),
                    values: vec![EnumValue {
                        name_off: 1,
                        val: id(),
                    }],
                },
                6 => TypeData::Typedef { ty: id() },
                7 => TypeData::Const { ty: id() },
                8 => TypeData::FuncProto {
                    ret: id(),
                    params: vec![Param {
                        name_off: 2,
                        ty: id(),
                    }],
                },
                9 => TypeData::Fwd { raw: 0 },
                10 => TypeData::Var {
                    ty: id(),
                    linkage: id(),
                },
                _ => TypeData::Datasec {
                    size: 8,
                    vars: vec![VarSecinfo {
                        ty: id(),
                        offset: 0,
                        size: 4,
                    }],
                },
            };
            let name_off = match r.next(8) {
                7 => 10_000,
                k => names[(k % 6) as usize],
            };
            b.btf.add_type(Type {
                name_off,
                kind_flag: r.next(2) == 1,
                data,
            });
        }
        let mut out = Vec::new();
        super::dump_raw(&b.btf, &mut out).unwrap();
        out.clear();
        dump_c(&b.btf, &mut out).unwrap();
        assert!(out.ends_with(EPILOGUE.as_bytes()), "seed {seed}");
    }
}
