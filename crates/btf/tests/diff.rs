//! Tests of diffing BTF by meaning: shuffled copies compare equal, single mutations give the
//! exact report lines, cycles and duplicates are handled, split BTF compares through its base.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use expect_test::{expect, Expect};
use kbtf_btf::diff::testing::{shuffle, shuffle_with_base, Rng};
use kbtf_btf::diff::{diff, DiffOptions};
use kbtf_btf::synth::Builder;
use kbtf_btf::*;

/// What this file adds to the builder: members with bitfield sizes, and a 4-byte enum.
trait DiffBuilder {
    /// A struct of (name, type, bit offset, bitfield size); a bitfield sets the kind_flag.
    fn strukt_bf(&mut self, name: &str, size: u32, ms: &[(&str, TypeId, u32, u32)]) -> TypeId;
    /// A union, as [`DiffBuilder::strukt_bf`].
    fn union_bf(&mut self, name: &str, size: u32, ms: &[(&str, TypeId, u32, u32)]) -> TypeId;
    fn enumeration(&mut self, name: &str, vs: &[(&str, u32)]) -> TypeId;
}

impl DiffBuilder for Builder {
    fn strukt_bf(&mut self, name: &str, size: u32, ms: &[(&str, TypeId, u32, u32)]) -> TypeId {
        let (kind_flag, members) = self.bitfield_members(ms);
        self.struct_of(name, size, kind_flag, members)
    }
    fn union_bf(&mut self, name: &str, size: u32, ms: &[(&str, TypeId, u32, u32)]) -> TypeId {
        let (kind_flag, members) = self.bitfield_members(ms);
        self.union_of(name, size, kind_flag, members)
    }
    fn enumeration(&mut self, name: &str, vs: &[(&str, u32)]) -> TypeId {
        self.enum32(name, 4, vs)
    }
}

/// A small kernel-like BTF: cycles through pointers, anonymous unions, bitfields, duplicated
/// anonymous structs, functions, varargs, a forward declaration, variables.
fn sample() -> Btf {
    let mut b = Builder::new();
    let int = b.int("int", 4, INT_SIGNED);
    let uint = b.int("unsigned int", 4, 0);
    let chr = b.int("char", 1, INT_SIGNED | INT_CHAR);
    let long = b.int("long long int", 8, INT_SIGNED);
    let ulong = b.int("long long unsigned int", 8, 0);
    let u8_ = b.int("unsigned char", 1, 0);
    let u64_ = b.typedef("u64", ulong);
    let ktime = b.typedef("ktime_t", long);

    // struct list_head { struct list_head *next, *prev; }
    let list = b.next();
    let plist = list + 1;
    b.strukt_bf(
        "list_head",
        16,
        &[("next", plist, 0, 0), ("prev", plist, 64, 0)],
    );
    b.ptr(list);

    // struct sk_buff and struct sock refer to each other.
    let skb = b.next();
    let sock = skb + 1;
    let pskb = skb + 2;
    let psock = skb + 3;
    let tunion = skb + 4;
    b.strukt_bf(
        "sk_buff",
        40,
        &[
            ("", tunion, 0, 0),
            ("sk", psock, 64, 0),
            ("len", uint, 128, 0),
            ("list", list, 192, 0),
        ],
    );
    b.strukt_bf("sock", 16, &[("head", pskb, 0, 0), ("refcnt", int, 64, 0)]);
    b.ptr(skb);
    b.ptr(sock);
    b.union_bf(
        "",
        8,
        &[("tstamp", ktime, 0, 0), ("skb_mstamp_ns", u64_, 0, 0)],
    );

    // Bitfields.
    b.strukt_bf(
        "flags",
        4,
        &[("a", u8_, 0, 3), ("b", u8_, 3, 5), ("c", uint, 8, 0)],
    );

    // Two identical anonymous structs behind two typedefs.
    let anon1 = b.strukt_bf("", 4, &[("x", int, 0, 0)]);
    b.typedef("a_t", anon1);
    let anon2 = b.strukt_bf("", 4, &[("x", int, 0, 0)]);
    b.typedef("b_t", anon2);

    let e = b.enumeration("e", &[("X", 0), ("Y", 1), ("Z", 2)]);
    let p = b.proto(int, &[("skb", pskb), ("len", int)]);
    b.func("f", p);
    let cchar = b.konst(chr);
    let pcchar = b.ptr(cchar);
    let pv = b.proto(int, &[("fmt", pcchar), ("", 0)]);
    b.func("printk", pv);
    let opaque = b.fwd("opaque", false);
    let popaque = b.ptr(opaque);
    let name = b.array(chr, int, 16);
    let cb = b.proto(0, &[("", pskb)]);
    let pcb = b.ptr(cb);
    b.strukt_bf(
        "holder",
        40,
        &[
            ("o", popaque, 0, 0),
            ("name", name, 64, 0),
            ("cb", pcb, 192, 0),
            ("kind", e, 256, 0),
        ],
    );
    let v = b.var("cpu_number", int);
    b.datasec(".data..percpu", 4, &[(v, 0, 4)]);
    b.btf
}

/// The id of the own type named `name` (of kind `kind`).
fn find(btf: &Btf, kind: Kind, name: &str) -> TypeId {
    btf.iter()
        .find(|(_, t)| t.kind() == kind && btf.str_at(t.name_off) == name)
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// The own type `id`, to change.
fn type_mut(btf: &mut Btf, id: TypeId) -> &mut Type {
    let start = btf.start_id();
    &mut btf.own_types_mut()[(id - start) as usize]
}

fn members_mut(t: &mut Type) -> &mut Vec<Member> {
    match &mut t.data {
        TypeData::Struct { members, .. } | TypeData::Union { members, .. } => members,
        _ => panic!("not a struct or union"),
    }
}

/// Index of the member called `name` in struct `id`.
fn member_index(btf: &Btf, id: TypeId, name: &str) -> usize {
    let t = btf.type_by_id(id).unwrap();
    t.members()
        .iter()
        .position(|m| btf.str_at(m.name_off) == name)
        .unwrap_or_else(|| panic!("no member {name}"))
}

/// Applies `mutate` to a copy of the sample, shuffles it, and checks the report of comparing
/// the sample with it (and that comparing the other way round agrees on emptiness).
fn check(mutate: impl FnOnce(&mut Btf), expect: Expect) {
    let a = sample();
    let mut b = a.clone();
    mutate(&mut b);
    let b = shuffle(&b, 7);
    let d = diff(&a, &b, &DiffOptions::default());
    expect.assert_eq(&d.to_string());
    let back = diff(&b, &a, &DiffOptions::default());
    assert_eq!(d.is_empty(), back.is_empty());
    assert_eq!(d.changed.len(), back.changed.len());
}

#[test]
fn shuffled_copies_are_identical() {
    let a = sample();
    for seed in 0..20 {
        let b = shuffle(&a, seed);
        let d = diff(&a, &b, &DiffOptions::default());
        assert!(d.is_empty(), "seed {seed}:\n{d}");
        let c = shuffle(&b, seed + 100);
        assert!(diff(&b, &c, &DiffOptions::default()).is_empty());
    }
    // The shuffle does move types: the sample's first struct is elsewhere after it.
    let b = shuffle(&a, 1);
    assert_ne!(
        find(&a, Kind::Struct, "list_head"),
        find(&b, Kind::Struct, "list_head")
    );
}

#[test]
fn single_mutations_are_reported_exactly() {
    check(|_| {}, expect![[""]]);
    check(
        |b| {
            let id = find(b, Kind::Struct, "sk_buff");
            let i = member_index(b, id, "len");
            let n = b.add_str("length");
            members_mut(type_mut(b, id))[i].name_off = n;
        },
        expect![[r#"
            struct sk_buff: member 'len' renamed to 'length'
        "#]],
    );
    check(
        |b| {
            let id = find(b, Kind::Struct, "sock");
            if let TypeData::Struct { size, .. } = &mut type_mut(b, id).data {
                *size = 24;
            }
        },
        expect![[r#"
            struct sock: size changed 16 -> 24
        "#]],
    );
    check(
        |b| {
            let id = find(b, Kind::Enum, "e");
            if let TypeData::Enum { values, .. } = &mut type_mut(b, id).data {
                values.remove(1);
            }
        },
        expect![[r#"
            enum e: value 'Y' removed
        "#]],
    );
    check(
        |b| {
            // sk_buff's tstamp (in an anonymous union) becomes a u64.
            let skb = find(b, Kind::Struct, "sk_buff");
            let u = b.type_by_id(skb).unwrap().members()[0].ty;
            let u64_ = find(b, Kind::Typedef, "u64");
            members_mut(type_mut(b, u))[0].ty = u64_;
        },
        expect![[r#"
            struct sk_buff: anonymous union at offset 0: member 'tstamp' type changed (ktime_t -> u64)
        "#]],
    );
    check(
        |b| {
            // f's second parameter becomes a long long, and a third one is added.
            let f = find(b, Kind::Func, "f");
            let TypeData::Func { proto, .. } = b.type_by_id(f).unwrap().data else {
                unreachable!()
            };
            let long = find(b, Kind::Int, "long long int");
            let n = b.add_str("flags");
            if let TypeData::FuncProto { params, .. } = &mut type_mut(b, proto).data {
                params[1].ty = long;
                params.push(Param {
                    name_off: n,
                    ty: long,
                });
            }
        },
        expect![[r#"
            func f: parameter 2 type changed (int -> long long int)
            func f: parameter 3 added (long long int flags)
        "#]],
    );
    check(
        |b| {
            // A member changes from a named struct to a pointer to it.
            let skb = find(b, Kind::Struct, "sk_buff");
            let i = member_index(b, skb, "list");
            let plist = find_ptr_to(b, find(b, Kind::Struct, "list_head"));
            members_mut(type_mut(b, skb))[i].ty = plist;
        },
        expect![[r#"
            struct sk_buff: member 'list' type changed (struct list_head -> struct list_head *)
        "#]],
    );
}

/// The pointer type to `target`.
fn find_ptr_to(btf: &Btf, target: TypeId) -> TypeId {
    btf.iter()
        .find(|(_, t)| matches!(t.data, TypeData::Ptr { ty } if ty == target))
        .map(|(id, _)| id)
        .unwrap()
}

#[test]
fn more_mutations() {
    check(
        |b| {
            // A change deep down is reported once, where it is, not at every type that reaches
            // it through pointers.
            let int = find(b, Kind::Int, "int");
            if let TypeData::Int { size, bits, .. } = &mut type_mut(b, int).data {
                *size = 8;
                *bits = 64;
            }
        },
        expect![[r#"
            int 'int': bits changed 32 -> 64
            int 'int': size changed 4 -> 8
        "#]],
    );
    check(
        |b| {
            // One of two identical anonymous structs changes: the other still matches.
            let t = find(b, Kind::Typedef, "b_t");
            let TypeData::Typedef { ty } = b.type_by_id(t).unwrap().data else {
                unreachable!()
            };
            let n = b.add_str("y");
            members_mut(type_mut(b, ty))[0].name_off = n;
        },
        expect![[r#"
            typedef b_t: member 'x' renamed to 'y'
        "#]],
    );
    check(
        |b| {
            // A bitfield grows, the next one moves.
            let id = find(b, Kind::Struct, "flags");
            let ms = members_mut(type_mut(b, id));
            ms[1].offset = 4 << 24 | 4;
            ms[0].offset = 4 << 24;
        },
        expect![[r#"
            struct flags: member 'a' bitfield size changed 3 -> 4
            struct flags: member 'b' bit offset changed 3 -> 4
            struct flags: member 'b' bitfield size changed 5 -> 4
        "#]],
    );
    check(
        |b| {
            // The callback member's prototype changes, and a member disappears.
            let holder = find(b, Kind::Struct, "holder");
            let int = find(b, Kind::Int, "int");
            let cb = member_index(b, holder, "cb");
            let pcb = b.type_by_id(holder).unwrap().members()[cb].ty;
            let TypeData::Ptr { ty: proto } = b.type_by_id(pcb).unwrap().data else {
                unreachable!()
            };
            if let TypeData::FuncProto { ret, .. } = &mut type_mut(b, proto).data {
                *ret = int;
            }
            members_mut(type_mut(b, holder)).remove(0);
        },
        expect![[r#"
            struct holder: member 'cb' type changed (void (*)(struct sk_buff *) -> int (*)(struct sk_buff *))
            struct holder: member 'o' removed
        "#]],
    );
    check(
        |b| {
            // A variable changes type and moves; a function becomes static.
            let v = find(b, Kind::Var, "cpu_number");
            let long = find(b, Kind::Int, "long long int");
            if let TypeData::Var { ty, .. } = &mut type_mut(b, v).data {
                *ty = long;
            }
            let sec = find(b, Kind::Datasec, ".data..percpu");
            if let TypeData::Datasec { vars, size } = &mut type_mut(b, sec).data {
                *size = 16;
                vars[0].offset = 8;
                vars[0].size = 8;
            }
            let f = find(b, Kind::Func, "printk");
            if let TypeData::Func { linkage, .. } = &mut type_mut(b, f).data {
                *linkage = FUNC_STATIC;
            }
        },
        expect![[r#"
            datasec .data..percpu: size changed 4 -> 16
            datasec .data..percpu: var 'cpu_number' offset changed 0 -> 8
            datasec .data..percpu: var 'cpu_number' size changed 4 -> 8
            func printk: linkage changed global -> static
            var cpu_number: type changed (int -> long long int)
        "#]],
    );
    check(
        |b| {
            // A new type and a new duplicate of an anonymous struct.
            let int = find(b, Kind::Int, "int");
            let mut bb = Builder { btf: b.clone() };
            bb.strukt_bf("", 4, &[("x", int, 0, 0)]);
            bb.strukt_bf("added", 8, &[("p", int, 0, 0), ("q", int, 32, 0)]);
            *b = bb.btf;
        },
        expect![[r#"
            only in B: anonymous struct { int x; } (size 4) (1 more than in A)
            only in B: struct added (size 8, 2 members)
        "#]],
    );
}

#[test]
fn changes_seen_through_unreferenced_types_are_not_repeated() {
    // vmlinux BTF holds many types nobody refers to (pointer types, anonymous unions of
    // tracepoint maps). One that changes only because a named type it leads to changed is not
    // reported: the named type is.
    check(
        |b| {
            let mut bb = Builder { btf: b.clone() };
            let skb = find(&bb.btf, Kind::Struct, "sk_buff");
            let pskb = find_ptr_to(&bb.btf, skb);
            let _ = bb.ptr(pskb);
            *b = bb.btf;
        },
        expect![[r#"
            only in B: ptr 'struct sk_buff **'
        "#]],
    );
    let with_orphans = |b: &mut Btf| {
        let mut bb = Builder { btf: b.clone() };
        let skb = find(&bb.btf, Kind::Struct, "sk_buff");
        let pskb = find_ptr_to(&bb.btf, skb);
        let int = find(&bb.btf, Kind::Int, "int");
        let _ = bb.ptr(pskb);
        bb.union_bf("", 8, &[("skb", pskb, 0, 0), ("n", int, 0, 0)]);
        *b = bb.btf;
    };
    let mut a = sample();
    with_orphans(&mut a);
    let mut b = a.clone();
    let skb = find(&b, Kind::Struct, "sk_buff");
    let i = member_index(&b, skb, "len");
    let n = b.add_str("length");
    members_mut(type_mut(&mut b, skb))[i].name_off = n;
    let d = diff(&a, &shuffle(&b, 5), &DiffOptions::default());
    expect![[r#"
        struct sk_buff: member 'len' renamed to 'length'
    "#]]
    .assert_eq(&d.to_string());
}

#[test]
fn static_functions_sharing_a_name() {
    // Static functions of different files share names. A changed one pairs with its close
    // counterpart; unrelated ones of the same name are reported on each side.
    let build = |third: u32| {
        let mut b = Builder::new();
        let int = b.int("int", 4, INT_SIGNED);
        let long = b.int("long", 8, INT_SIGNED);
        let chr = b.int("char", 1, INT_SIGNED | INT_CHAR);
        let pc = b.ptr(chr);
        let static_func = |b: &mut Builder, params: &[(&str, TypeId)]| {
            let p = b.proto(int, params);
            let f = b.func("score", p);
            if let TypeData::Func { linkage, .. } = &mut type_mut(&mut b.btf, f).data {
                *linkage = FUNC_STATIC;
            }
        };
        static_func(&mut b, &[("a", int)]);
        static_func(
            &mut b,
            &[
                ("x", int),
                ("y", int),
                ("z", if third == 0 { int } else { long }),
            ],
        );
        match third {
            0 | 1 => static_func(&mut b, &[("s", pc), ("n", long)]),
            _ => static_func(&mut b, &[("p", long), ("q", pc), ("r", pc), ("t", pc)]),
        }
        b.btf
    };
    let a = build(0);
    let d = diff(&a, &shuffle(&build(1), 1), &DiffOptions::default());
    expect![[r#"
        func score: parameter 3 type changed (int -> long)
    "#]]
    .assert_eq(&d.to_string());
    let d = diff(&a, &shuffle(&build(2), 1), &DiffOptions::default());
    expect![[r#"
        func score: parameter 3 type changed (int -> long)
        only in A: func static int score(char *, long)
        only in B: func static int score(long, char *, char *, char *)
    "#]]
    .assert_eq(&d.to_string());
}

#[test]
fn anonymous_members_match_by_offset() {
    // An anonymous union is inserted before another one: the existing one is matched by its
    // offset, not by being the first anonymous member.
    let build = |insert: bool| {
        let mut b = Builder::new();
        let int = b.int("int", 4, INT_SIGNED);
        let long = b.int("long", 8, INT_SIGNED);
        let u1 = b.union_bf("", 8, &[("a", int, 0, 0), ("b", long, 0, 0)]);
        let u2 = b.union_bf("", 4, &[("c", int, 0, 0)]);
        let mut ms = vec![("", u1, 64, 0), ("tail", int, 128, 0)];
        if insert {
            ms.insert(0, ("", u2, 0, 0));
        }
        b.strukt_bf("s", 24, &ms);
        b.btf
    };
    let d = diff(
        &build(false),
        &shuffle(&build(true), 1),
        &DiffOptions::default(),
    );
    expect![[r#"
        struct s: anonymous union at offset 0 added
    "#]]
    .assert_eq(&d.to_string());
}

/// Two structs that differ only in which of two same-named definitions they point to.
#[test]
fn references_to_duplicate_definitions() {
    let build = |second: bool| {
        let mut b = Builder::new();
        let int = b.int("int", 4, INT_SIGNED);
        let long = b.int("long", 8, INT_SIGNED);
        let x1 = b.strukt_bf("x", 4, &[("v", int, 0, 0)]);
        let x2 = b.strukt_bf("x", 8, &[("v", long, 0, 0)]);
        let p1 = b.ptr(x1);
        let p2 = b.ptr(x2);
        b.strukt_bf("user", 8, &[("p", if second { p2 } else { p1 }, 0, 0)]);
        b.btf
    };
    let (a, b) = (build(false), build(true));
    assert!(diff(&a, &shuffle(&a, 3), &DiffOptions::default()).is_empty());
    let d = diff(&a, &shuffle(&b, 3), &DiffOptions::default());
    expect![[r#"
        struct user: member 'p': refers to a different definition of struct x
    "#]]
    .assert_eq(&d.to_string());
}

#[test]
fn cycles() {
    // struct a { struct b *b; }; struct b { struct a *a; int n; };
    let build = |n_size: u32| {
        let mut b = Builder::new();
        let int = b.int("int", n_size, INT_SIGNED);
        let sa = b.next();
        let (sb, pa, pb) = (sa + 1, sa + 2, sa + 3);
        b.strukt_bf("a", 8, &[("b", pb, 0, 0)]);
        b.strukt_bf("b", 16, &[("a", pa, 0, 0), ("n", int, 64, 0)]);
        b.ptr(sa);
        b.ptr(sb);
        // An anonymous struct in the cycle, reached only through a typedef.
        let anon = b.next();
        b.strukt_bf("", 8, &[("a", pa, 0, 0)]);
        b.typedef("anon_t", anon);
        b.btf
    };
    let a = build(4);
    for seed in 0..10 {
        let d = diff(&a, &shuffle(&a, seed), &DiffOptions::default());
        assert!(d.is_empty(), "{d}");
    }
    let d = diff(&a, &shuffle(&build(8), 5), &DiffOptions::default());
    expect![[r#"
        int 'int': bits changed 32 -> 64
        int 'int': size changed 4 -> 8
    "#]]
    .assert_eq(&d.to_string());

    // Renaming a member of one struct in the cycle is reported at that struct only.
    let mut b = a.clone();
    let sb = find(&b, Kind::Struct, "b");
    let n = b.add_str("count");
    members_mut(type_mut(&mut b, sb))[1].name_off = n;
    let d = diff(&a, &shuffle(&b, 9), &DiffOptions::default());
    expect![[r#"
        struct b: member 'n' renamed to 'count'
    "#]]
    .assert_eq(&d.to_string());
}

/// A small module on top of the sample as its base.
fn module(base: Arc<Btf>) -> Btf {
    let skb = find(&base, Kind::Struct, "sk_buff");
    let int = find(&base, Kind::Int, "int");
    let pskb = find_ptr_to(&base, skb);
    let mut b = Builder::split(base);
    let priv_ = b.strukt_bf("dummy_priv", 16, &[("skb", pskb, 0, 0), ("n", int, 64, 0)]);
    let pp = b.ptr(priv_);
    let p = b.proto(int, &[("p", pp), ("skb", pskb)]);
    b.func("dummy_xmit", p);
    b.btf
}

#[test]
fn split_btf_compares_through_its_base() {
    let base = Arc::new(sample());
    let m = module(base.clone());
    // Same base object; module shuffled.
    assert!(diff(&m, &shuffle(&m, 1), &DiffOptions::default()).is_empty());
    // Base and module shuffled: no id is shared, the meaning is.
    let m2 = shuffle_with_base(&m, 2);
    assert_ne!(m2.base().unwrap().end_id(), 0);
    let d = diff(&m, &m2, &DiffOptions::default());
    assert!(d.is_empty(), "{d}");
    assert!(diff(&m, &m2, &DiffOptions { include_base: true }).is_empty());

    // A module built on a base whose sk_buff differs: the base difference is reported once.
    let mut base2 = sample();
    let skb = find(&base2, Kind::Struct, "sk_buff");
    let i = member_index(&base2, skb, "len");
    let n = base2.add_str("length");
    members_mut(type_mut(&mut base2, skb))[i].name_off = n;
    let m3 = module(Arc::new(base2));
    let d = diff(&m, &shuffle_with_base(&m3, 4), &DiffOptions::default());
    expect![[r#"
        struct sk_buff (base): member 'len' renamed to 'length'
    "#]]
    .assert_eq(&d.to_string());

    // A module holding its own copy of a base type (one deduplication did not fold into the
    // base) differs from one without, and the report says what the copy is.
    let mut bb = Builder { btf: m.clone() };
    let list = find(&base, Kind::Struct, "list_head");
    let plist = find_ptr_to(&base, list);
    bb.strukt_bf(
        "list_head",
        16,
        &[("next", plist, 0, 0), ("prev", plist, 64, 0)],
    );
    let d = diff(&shuffle(&bb.btf, 3), &m, &DiffOptions::default());
    expect![[r#"
        only in A: struct list_head (size 16, 2 members) (same as a base type)
    "#]]
    .assert_eq(&d.to_string());

    // A module change shows as usual.
    let mut m4 = m.clone();
    let id = find(&m4, Kind::Struct, "dummy_priv");
    if let TypeData::Struct { size, .. } = &mut type_mut(&mut m4, id).data {
        *size = 24;
    }
    let d = diff(&m, &m4, &DiffOptions::default());
    expect![[r#"
        struct dummy_priv: size changed 16 -> 24
    "#]]
    .assert_eq(&d.to_string());
}

/// Shuffling a real vmlinux BTF keeps its meaning, and renaming one member is reported as
/// exactly that.
fn check_real_vmlinux(path: &Path) {
    let a = read_file(path, None).unwrap().btf;
    let b = shuffle(&a, 11);
    let d = diff(&a, &b, &DiffOptions::default());
    assert!(d.is_empty(), "{d}");

    let mut c = b.clone();
    let skb = find(&c, Kind::Struct, "sk_buff");
    let i = member_index(&c, skb, "len");
    let n = c.add_str("len_renamed");
    members_mut(type_mut(&mut c, skb))[i].name_off = n;
    let d = diff(&a, &c, &DiffOptions::default());
    assert_eq!(
        d.to_string(),
        "struct sk_buff: member 'len' renamed to 'len_renamed'\n"
    );

    // A few random changes of meaning, each found.
    let mut rng = Rng::new(5);
    let mut tried = 0;
    while tried < 5 {
        let mut c = b.clone();
        let Some(what) = mutate_randomly(&mut c, &mut rng) else {
            continue;
        };
        tried += 1;
        let d = diff(&a, &c, &DiffOptions::default());
        assert!(!d.is_empty(), "{what}: no difference found");
    }
}

/// The vmlinux BTF fixture at the repository root, if present.
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/vmlinux-6.1.btf")
}

#[test]
fn real_vmlinux_fixture() {
    // The fixture is committed (testdata/PROVENANCE); its absence is a failure.
    check_real_vmlinux(&fixture());
}

/// The 6.12 vmlinux BTF from the test-kernel cache; `cargo xtask test` sets the variable.
#[test]
#[ignore = "real-kernel tier: run by `cargo xtask test`"]
fn real_vmlinux_6_12() {
    let Some(p) = std::env::var_os("KBTF_612_VMLINUX_BTF") else {
        panic!("KBTF_612_VMLINUX_BTF is not set: run the real-kernel tier with `cargo xtask test`");
    };
    check_real_vmlinux(Path::new(&p));
}

/// Applies one random change of meaning to a random own type of `btf`: a new name, a size, an
/// offset, a value, a linkage or an element count. Returns a description, or `None` if the
/// chosen type has nothing the chosen change applies to.
fn mutate_randomly(btf: &mut Btf, rng: &mut Rng) -> Option<String> {
    let n = btf.own_types().len();
    let id = btf.start_id() + rng.below(n) as u32;
    let fresh = btf.add_str(&format!("mutated{}", rng.next_u64()));
    let which = rng.below(4);
    let pick = |rng: &mut Rng, len: usize| if len == 0 { None } else { Some(rng.below(len)) };
    let t = type_mut(btf, id);
    let kind = t.kind();
    let what = match (&mut t.data, which) {
        (_, 0) if t.name_off != 0 => {
            t.name_off = fresh;
            "name"
        }
        (TypeData::Struct { members, .. } | TypeData::Union { members, .. }, 1) => {
            let i = pick(rng, members.len())?;
            members[i].name_off = fresh;
            "member name"
        }
        (TypeData::Struct { members, .. }, 2) => {
            let i = pick(rng, members.len())?;
            members[i].offset += 8;
            "member offset"
        }
        (TypeData::Enum { values, .. }, 1 | 2) => {
            let i = pick(rng, values.len())?;
            values[i].val ^= 0x100;
            "enumerator value"
        }
        (TypeData::FuncProto { params, .. }, 1) => {
            let i = pick(rng, params.len())?;
            if params[i].ty == 0 {
                return None;
            }
            params[i].name_off = fresh;
            "parameter name"
        }
        (TypeData::Func { linkage, .. }, _) => {
            *linkage = if *linkage == FUNC_STATIC {
                FUNC_GLOBAL
            } else {
                FUNC_STATIC
            };
            "linkage"
        }
        (TypeData::Array { nelems, .. }, _) => {
            *nelems += 1;
            "element count"
        }
        (
            TypeData::Int { size, .. }
            | TypeData::Struct { size, .. }
            | TypeData::Union { size, .. }
            | TypeData::Enum { size, .. }
            | TypeData::Datasec { size, .. }
            | TypeData::Float { size },
            _,
        ) => {
            *size += 1;
            "size"
        }
        _ => return None,
    };
    Some(format!("{kind} [{id}] {what}"))
}

#[test]
fn random_changes_of_meaning_always_show() {
    let a = sample();
    let mut rng = Rng::new(1);
    let mut tried = 0;
    while tried < 300 {
        let mut b = a.clone();
        let Some(what) = mutate_randomly(&mut b, &mut rng) else {
            continue;
        };
        tried += 1;
        let b = shuffle(&b, rng.next_u64());
        let d = diff(&a, &b, &DiffOptions::default());
        assert!(!d.is_empty(), "{what}: no difference found");
        assert!(!d.to_string().is_empty());
        assert!(!diff(&b, &a, &DiffOptions::default()).is_empty());
    }
}
