//! `.BTF_ids` resolution: on objects made here with object's writer (ids, a set, a set8 that
//! the sort reorders, an unresolved name, both byte orders, a vmlinux-style ET_EXEC), on
//! malformed ones (errors, no panic), and, in the real-kernel tier, against what the kernel's
//! resolve_btfids wrote into Debian's shipped 6.1 (and 6.12) modules and 6.1 vmlinux.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use kbtf_btf::synth::Builder;
use kbtf_btf::{Btf, Kind, Type, TypeData, INT_SIGNED};
use kbtf_emit::btf_ids::{
    entries, re_resolve, re_resolve_elf, resolve, resolve_elf, EntryKind, SECTION,
};
use kbtf_emit::elf::section;
use object::write::{Object as WObject, Symbol, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, Object, ObjectSection, ObjectSymbol, SectionKind,
    SymbolFlags, SymbolKind, SymbolScope,
};

// ---------------------------------------------------------------------------------------------
// A small object, as the BTF_ID macros would lay it out.

/// Base: [1] int, [2] struct task_struct, [3] typedef pid_t, [4] proto, [5] func alpha,
/// [6] struct task_struct (again: the lower id wins), [7] fwd u1 (not a union).
/// Split: [8] union u1, [9] struct zeta (not a func), [10] func zeta, [11] func alpha (again).
fn test_btf() -> Btf {
    let static_func = |proto| TypeData::Func { proto, linkage: 0 };
    let mut base = Builder::new();
    let int = base.int("int", 4, INT_SIGNED);
    base.strukt("task_struct", 0, &[]);
    base.typedef("pid_t", int);
    let proto = base.proto(int, &[]);
    base.add("alpha", static_func(proto));
    base.strukt("task_struct", 8, &[]);
    base.fwd("u1", false);
    let mut split = Builder::split(Arc::new(base.btf));
    split.union("u1", 4, &[]);
    split.strukt("zeta", 0, &[]);
    split.add("zeta", static_func(proto));
    split.add("alpha", static_func(proto));
    assert_eq!(split.btf.type_by_id(10).unwrap().kind(), Kind::Func);
    split.btf
}

const JUNK: u32 = 0x5a5a_5a5a;

/// `(symbol, offset, size)`.
type Sym = (&'static str, u64, u64);

/// The fixture's `.BTF_ids` symbols.
const SYMS: &[Sym] = &[
    ("__BTF_ID__struct__task_struct__1", 0, 4),
    ("__BTF_ID__func__missing_fn__2", 4, 4),
    ("__BTF_ID__set__myset", 8, 16),
    ("__BTF_ID__func__zeta__3", 12, 4),
    ("__BTF_ID__func__alpha__4", 16, 4),
    ("__BTF_ID__typedef__pid_t__5", 20, 4),
    ("__BTF_ID__set8__kf", 24, 32),
    ("__BTF_ID__func__zeta__6", 32, 4),
    ("__BTF_ID__func__alpha__7", 40, 4),
    ("__BTF_ID__union__u1__8", 48, 4),
    // 56: a BTF_ID_UNUSED word, no symbol.
    ("__BTF_ID__struct__task_struct__9", 60, 4),
    // A BTF_ID_LIST's own label: not a __BTF_ID__ symbol.
    ("mylist", 0, 0),
];

/// The section as compiled: junk in every word resolution writes, flags in the set8.
fn compiled_words() -> Vec<u32> {
    let mut w = vec![JUNK; 16];
    w[7] = 0xab; // set8 flags
    w[8] = 0; // zeta's pair id: 0 as BTF_ID_FLAGS emits it
    w[9] = 0x11; // zeta's pair flags
    w[10] = 0;
    w[11] = 0x22; // alpha's
    w[12] = 0;
    w[13] = 0x33; // u1's
    w[14] = 0xcafe_f00d; // unused
    w
}

/// What resolve_btfids makes of it with [`test_btf`].
fn expected_words() -> Vec<u32> {
    vec![
        2, // struct task_struct: the lower of 2 and 6
        0, // missing_fn: unresolved
        3, // set cnt
        3,
        5,
        10, // set: pid_t, alpha, zeta sorted
        3,
        0xab, // set8 cnt, flags kept
        5,
        0x22, // alpha with its flags
        8,
        0x33, // u1 with its flags
        10,
        0x11, // zeta with its flags
        0xcafe_f00d,
        2, // struct task_struct again
    ]
}

fn bytes(words: &[u32], endian: Endianness) -> Vec<u8> {
    words
        .iter()
        .flat_map(|w| match endian {
            Endianness::Little => w.to_le_bytes(),
            Endianness::Big => w.to_be_bytes(),
        })
        .collect()
}

/// An ET_REL with `.BTF_ids` holding `data` and the given symbols in it, plus a `__BTF_ID__`
/// symbol in `.data` (to be ignored).
fn object_with(
    arch: Architecture,
    endian: Endianness,
    data: &[u8],
    syms: &[(&str, u64, u64)],
) -> Vec<u8> {
    let mut o = WObject::new(BinaryFormat::Elf, arch, endian);
    let ids = o.add_section(
        vec![],
        SECTION.as_bytes().to_vec(),
        SectionKind::ReadOnlyData,
    );
    o.append_section_data(ids, data, 1);
    let other = o.add_section(vec![], b".data".to_vec(), SectionKind::Data);
    o.append_section_data(other, &[0xee; 8], 4);
    let mut add = |name: &str, section, value, size| {
        o.add_symbol(Symbol {
            name: name.as_bytes().to_vec(),
            value,
            size,
            kind: SymbolKind::Data,
            scope: SymbolScope::Compilation,
            weak: false,
            section: SymbolSection::Section(section),
            flags: SymbolFlags::None,
        });
    };
    for &(name, value, size) in syms {
        add(name, ids, value, size);
    }
    add("__BTF_ID__func__zeta__99", other, 0, 4);
    o.write().unwrap()
}

fn fixture(arch: Architecture, endian: Endianness) -> Vec<u8> {
    object_with(arch, endian, &bytes(&compiled_words(), endian), SYMS)
}

#[test]
fn resolves_ids_sets_and_set8_in_both_byte_orders() {
    let btf = test_btf();
    for (arch, endian) in [
        (Architecture::X86_64, Endianness::Little),
        (Architecture::PowerPc64, Endianness::Big),
        (Architecture::I386, Endianness::Little),
    ] {
        let elf = fixture(arch, endian);
        let r = resolve(&elf, &btf).unwrap().unwrap();
        assert_eq!(
            r.data,
            bytes(&expected_words(), endian),
            "{arch:?} {endian:?}"
        );
        assert_eq!(r.unresolved, vec!["__BTF_ID__func__missing_fn__2"]);

        // The whole file: only the section's bytes change, in place.
        let out = resolve_elf(&elf, &btf).unwrap().unwrap();
        assert_eq!(out.elf.len(), elf.len());
        assert_eq!(section(&out.elf, SECTION).unwrap(), Some(&r.data[..]));
        let off = object::File::parse(&*elf)
            .unwrap()
            .section_by_name(SECTION)
            .unwrap()
            .file_range()
            .unwrap()
            .0 as usize;
        let differing: Vec<usize> = (0..elf.len()).filter(|&i| elf[i] != out.elf[i]).collect();
        assert!(differing.iter().all(|&i| (off..off + 64).contains(&i)));
        // Once sorted, the set8's flags sit at other functions' symbols: resolve refuses,
        // re_resolve against the same BTF gives the same bytes.
        let err = resolve(&out.elf, &btf).unwrap_err().to_string();
        assert!(
            err.contains("__BTF_ID__set8__kf at offset 0x18: set8 already resolved"),
            "{err}"
        );
        let again = re_resolve(&out.elf, &btf, &btf).unwrap().unwrap();
        assert_eq!(again.data, r.data);
        assert_eq!(again.unresolved, r.unresolved);
    }
}

/// Re-resolving onto a BTF with other ids: every id names the same type as before, lowest id
/// first, and each set8 pair keeps its function's flags.
#[test]
fn re_resolves_onto_moved_ids() {
    let btf = test_btf();
    let elf = fixture(Architecture::X86_64, Endianness::Little);
    let once = resolve_elf(&elf, &btf).unwrap().unwrap().elf;
    let mut seen_orders = std::collections::HashSet::new();
    for seed in 0..20 {
        let moved = kbtf_btf::diff::testing::shuffle_with_base(&btf, seed);
        let r = re_resolve(&once, &btf, &moved).unwrap().unwrap();
        check_moved(&once, &btf, &r.data, &moved);
        // The set8's order follows the new ids.
        seen_orders.insert(r.data[32..56].to_vec());
        let out = re_resolve_elf(&once, &btf, &moved).unwrap().unwrap();
        assert_eq!(section(&out.elf, SECTION).unwrap(), Some(&r.data[..]));
    }
    assert!(seen_orders.len() > 1, "the shuffles reordered the set8");
}

/// A set with a `BTF_ID_UNUSED` word between its members (the kernel's `btf_id_deny` opens
/// with one): the word has no symbol and stays 0, and once the set is sorted the 0 moves to
/// the front, so the word where it was compiled then holds a member's id. Re-resolving must
/// put the 0 back there, as compiled, and give what resolving the compiled set gives.
#[test]
fn re_resolves_a_set_with_an_unused_word() {
    let btf = test_btf();
    let syms: &[Sym] = &[
        ("__BTF_ID__set__deny", 0, 16),
        ("__BTF_ID__func__zeta__1", 4, 4),
        // 8: BTF_ID_UNUSED.
        ("__BTF_ID__func__alpha__2", 12, 4),
    ];
    for endian in [Endianness::Little, Endianness::Big] {
        let arch = match endian {
            Endianness::Little => Architecture::X86_64,
            Endianness::Big => Architecture::S390x,
        };
        let compiled = object_with(arch, endian, &bytes(&[JUNK, 0, 0, 0], endian), syms);
        let once = resolve_elf(&compiled, &btf).unwrap().unwrap();
        assert_eq!(
            section(&once.elf, SECTION).unwrap().unwrap(),
            bytes(&[3, 0, 5, 10], endian),
            "{endian:?}: the count, then 0 and the ids, sorted"
        );
        let again = re_resolve(&once.elf, &btf, &btf).unwrap().unwrap();
        assert_eq!(again.data, bytes(&[3, 0, 5, 10], endian), "{endian:?}");
        for seed in 0..5 {
            let moved = kbtf_btf::diff::testing::shuffle_with_base(&btf, seed);
            let want = resolve(&compiled, &moved).unwrap().unwrap().data;
            let got = re_resolve(&once.elf, &btf, &moved).unwrap().unwrap().data;
            assert_eq!(got, want, "{endian:?} seed {seed}");
        }
    }
}

#[test]
fn re_resolve_refuses_a_section_not_resolved_against_previous() {
    let btf = test_btf();
    let elf = fixture(Architecture::X86_64, Endianness::Little);
    let once = resolve_elf(&elf, &btf).unwrap().unwrap().elf;
    let other = kbtf_btf::diff::testing::shuffle_with_base(&btf, 3);
    let err = re_resolve(&once, &other, &btf).unwrap_err().to_string();
    assert!(err.contains("not resolved against"), "{err}");
    // A compiled section is not a resolved one either (its words are junk).
    let err = re_resolve(&elf, &btf, &btf).unwrap_err().to_string();
    assert!(err.contains("not resolved against"), "{err}");
}

/// `.BTF_ids` is SHF_ALLOC: set_section replaces it in place at the same size (or smaller),
/// and refuses to grow it, which would move it away from where it is mapped.
#[test]
fn alloc_section_is_replaced_in_place_and_never_grown() {
    use kbtf_emit::elf::{set_section, SectionSpec, SHT_PROGBITS};
    let elf = fixture(Architecture::X86_64, Endianness::Little);
    let f = object::File::parse(&*elf).unwrap();
    let sec = f.section_by_name(SECTION).unwrap();
    let object::SectionFlags::Elf { sh_flags, .. } = sec.flags() else {
        panic!("ELF flags")
    };
    assert_ne!(sh_flags.0 & object::elf::SHF_ALLOC.0, 0);
    let (off, len) = sec.file_range().unwrap();
    let spec = |data| SectionSpec {
        name: SECTION,
        data,
        sh_type: SHT_PROGBITS,
        flags: object::elf::SHF_ALLOC.0,
        align: 1,
    };
    let same = vec![0x42; len as usize];
    let out = set_section(&elf, &spec(&same)).unwrap();
    assert_eq!(out.len(), elf.len());
    assert_eq!(&out[off as usize..(off + len) as usize], &same[..]);
    let bigger = vec![0x42; len as usize + 4];
    let err = set_section(&elf, &spec(&bigger)).unwrap_err().to_string();
    assert!(err.contains("allocated"), "{err}");
}

#[test]
fn lists_entries() {
    let elf = fixture(Architecture::X86_64, Endianness::Little);
    let list = entries(&elf).unwrap().unwrap();
    let text: Vec<String> = list
        .iter()
        .map(|e| {
            format!(
                "{:?} {} @{} size {} now {:#x} ({})",
                e.kind, e.name, e.offset, e.size, e.current, e.symbol
            )
        })
        .collect();
    expect_test::expect![[r#"
        Struct task_struct @0 size 4 now 0x5a5a5a5a (__BTF_ID__struct__task_struct__1)
        Func missing_fn @4 size 4 now 0x5a5a5a5a (__BTF_ID__func__missing_fn__2)
        Set myset @8 size 16 now 0x5a5a5a5a (__BTF_ID__set__myset)
        Func zeta @12 size 4 now 0x5a5a5a5a (__BTF_ID__func__zeta__3)
        Func alpha @16 size 4 now 0x5a5a5a5a (__BTF_ID__func__alpha__4)
        Typedef pid_t @20 size 4 now 0x5a5a5a5a (__BTF_ID__typedef__pid_t__5)
        Set8 kf @24 size 32 now 0x5a5a5a5a (__BTF_ID__set8__kf)
        Func zeta @32 size 4 now 0x0 (__BTF_ID__func__zeta__6)
        Func alpha @40 size 4 now 0x0 (__BTF_ID__func__alpha__7)
        Union u1 @48 size 4 now 0x0 (__BTF_ID__union__u1__8)
        Struct task_struct @60 size 4 now 0x5a5a5a5a (__BTF_ID__struct__task_struct__9)
    "#]]
    .assert_eq(&(text.join("\n") + "\n"));
    assert_eq!(list[6].kind, EntryKind::Set8);
}

/// Turns the x86-64 fixture into a linked-image-like ET_EXEC: `.BTF_ids` at address `addr`,
/// its symbols' values addresses.
fn as_exec(elf: &[u8], addr: u64) -> Vec<u8> {
    let f = object::File::parse(elf).unwrap();
    let ids = f.section_by_name(SECTION).unwrap().index().0;
    let (symtab_off, symtab_len) = f.section_by_name(".symtab").unwrap().file_range().unwrap();
    let mut out = elf.to_vec();
    out[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    let shoff = u64::from_le_bytes(out[40..48].try_into().unwrap()) as usize;
    let sh = shoff + ids * 64;
    out[sh + 16..sh + 24].copy_from_slice(&addr.to_le_bytes());
    for s in (symtab_off..symtab_off + symtab_len).step_by(24) {
        let s = s as usize;
        let shndx = u16::from_le_bytes(out[s + 6..s + 8].try_into().unwrap()) as usize;
        if shndx == ids {
            let v = u64::from_le_bytes(out[s + 8..s + 16].try_into().unwrap());
            out[s + 8..s + 16].copy_from_slice(&(v + addr).to_le_bytes());
        }
    }
    out
}

#[test]
fn linked_image_symbol_values_are_addresses() {
    let elf = as_exec(
        &fixture(Architecture::X86_64, Endianness::Little),
        0xffff_ffff_8282_5e2c,
    );
    let f = object::File::parse(&*elf).unwrap();
    assert_eq!(f.kind(), object::ObjectKind::Executable);
    let r = resolve(&elf, &test_btf()).unwrap().unwrap();
    assert_eq!(r.data, bytes(&expected_words(), Endianness::Little));
    let list = entries(&elf).unwrap().unwrap();
    assert_eq!(list[2].offset, 8);
}

#[test]
fn no_section_is_none() {
    let mut o = WObject::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
    let t = o.add_section(vec![], b".text".to_vec(), SectionKind::Text);
    o.append_section_data(t, &[0x90; 4], 1);
    let elf = o.write().unwrap();
    assert_eq!(resolve(&elf, &test_btf()).unwrap(), None);
    assert_eq!(entries(&elf).unwrap(), None);
    assert!(resolve_elf(&elf, &test_btf()).unwrap().is_none());
}

/// A standalone BTF (no base) works the same.
#[test]
fn standalone_btf() {
    let mut btf = Btf::new();
    let n = btf.add_str("task_struct");
    btf.add_type(Type::new(
        n,
        TypeData::Struct {
            size: 0,
            members: vec![],
        },
    ));
    let elf = object_with(
        Architecture::X86_64,
        Endianness::Little,
        &[0; 8],
        &[
            ("__BTF_ID__struct__task_struct__1", 0, 4),
            ("__BTF_ID__func__alpha__2", 4, 4),
        ],
    );
    let r = resolve(&elf, &btf).unwrap().unwrap();
    assert_eq!(r.data, bytes(&[1, 0], Endianness::Little));
    assert_eq!(r.unresolved, vec!["__BTF_ID__func__alpha__2"]);
}

#[test]
fn malformed_symbols_are_errors() {
    let btf = test_btf();
    let cases: &[(&[Sym], &str)] = &[
        (
            &[("__BTF_ID__func__alpha__1", 64, 4)],
            "symbol __BTF_ID__func__alpha__1 at offset 0x40: word out of the section",
        ),
        (
            &[("__BTF_ID__func__alpha__1", 62, 4)],
            "offset is not a multiple of 4",
        ),
        (
            &[("__BTF_ID__func__alpha__1", 6, 4)],
            "offset is not a multiple of 4",
        ),
        (
            &[("__BTF_ID__set__s", 0, 10)],
            "set size 10 is not a 4-byte header",
        ),
        (
            &[("__BTF_ID__set8__s", 0, 12)],
            "set size 12 is not a 8-byte header",
        ),
        (
            &[("__BTF_ID__set8__s", 0, 0)],
            "set size 0 is not a 8-byte header",
        ),
        (
            &[("__BTF_ID__set__s", 0, 0)],
            "set size 0 is not a 4-byte header",
        ),
        (
            &[("__BTF_ID__set__s", 56, 12)],
            "runs past the section's end",
        ),
        (
            &[("__BTF_ID__set__s", 0, 8), ("__BTF_ID__set8__s", 8, 8)],
            "set name also used by __BTF_ID__set__s",
        ),
        (&[("__BTF_ID__enum__e__1", 0, 4)], "unsupported kind"),
        (&[("__BTF_ID__func__alpha", 0, 4)], "no `__<n>` suffix"),
        (&[("__BTF_ID__set__", 0, 4)], "no name after the kind"),
    ];
    for (syms, want) in cases {
        let elf = object_with(Architecture::X86_64, Endianness::Little, &[0; 64], syms);
        let err = resolve(&elf, &btf).unwrap_err().to_string();
        assert!(err.contains(want), "{syms:?}: {err}");
        assert!(err.starts_with("section .BTF_ids: "), "{err}");
        assert_eq!(
            entries(&elf).unwrap_err().to_string(),
            err,
            "the listing checks the same"
        );
    }
}

/// Truncated or corrupted files give errors or results, never a panic.
#[test]
fn truncated_and_corrupted_files_do_not_panic() {
    let btf = test_btf();
    let elf = fixture(Architecture::X86_64, Endianness::Little);
    for n in 0..elf.len() {
        let _ = resolve(&elf[..n], &btf);
        let _ = entries(&elf[..n]);
    }
    for i in 0..elf.len() {
        for v in [0x00, 0xff, 0x7f] {
            let mut bad = elf.clone();
            bad[i] = v;
            let _ = resolve(&bad, &btf);
            let _ = resolve_elf(&bad, &btf);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Judging results with code written here, apart from the library's.

/// `__BTF_ID__` symbols of a file's `.BTF_ids`: (name, offset, size), by offset.
fn btf_id_symbols(elf: &[u8]) -> Vec<(String, usize, usize)> {
    let f = object::File::parse(elf).unwrap();
    let sec = f.section_by_name(SECTION).unwrap();
    let addr = sec.address();
    let mut syms: Vec<(String, usize, usize)> = f
        .symbols()
        .filter(|s| s.section_index() == Some(sec.index()))
        .filter_map(|s| {
            let name = s.name().ok()?;
            name.starts_with("__BTF_ID__").then(|| {
                (
                    name.to_string(),
                    (s.address() - addr) as usize,
                    s.size() as usize,
                )
            })
        })
        .collect();
    syms.sort_by_key(|s| s.1);
    syms
}

/// The lowest id of every (kind, name) of the four kinds, over all of `btf`'s ids.
fn first_ids(btf: &Btf) -> HashMap<(Kind, String), u32> {
    let mut m = HashMap::new();
    for id in 1..btf.end_id() {
        let t = btf.type_by_id(id).unwrap();
        if matches!(
            t.kind(),
            Kind::Func | Kind::Struct | Kind::Union | Kind::Typedef
        ) {
            m.entry((t.kind(), btf.name_of(id).into_owned()))
                .or_insert(id);
        }
    }
    m
}

/// The (kind, name) a `__BTF_ID__<kind>__<name>__<n>` symbol names.
fn named(sym: &str) -> (Kind, String) {
    let rest = sym.strip_prefix("__BTF_ID__").unwrap();
    let (kind, tail) = rest.split_once("__").unwrap();
    let kind = match kind {
        "func" => Kind::Func,
        "struct" => Kind::Struct,
        "union" => Kind::Union,
        "typedef" => Kind::Typedef,
        k => panic!("{sym}: kind {k}"),
    };
    (kind, tail[..tail.rfind("__").unwrap()].to_string())
}

fn word(d: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(d[o..o + 4].try_into().unwrap())
}

/// `after` (resolved against `new`) against `before` (resolved against `prev`), for a
/// little-endian file `elf`: every id symbol's word is the lowest id of its type in `new`; each
/// set holds the new ids of its members, sorted, with the same count; each set8 holds the
/// new ids sorted, and every function keeps the flags it had in `before`; nothing else moved.
fn check_moved(elf: &[u8], prev: &Btf, after: &[u8], new: &Btf) {
    let before = section(elf, SECTION).unwrap().unwrap();
    assert_eq!(before.len(), after.len());
    let (old_ids, new_ids) = (first_ids(prev), first_ids(new));
    let syms = btf_id_symbols(elf);
    let mut labelled = vec![false; before.len()];
    let id_of =
        |ids: &HashMap<(Kind, String), u32>, sym: &str| ids.get(&named(sym)).copied().unwrap_or(0);
    let in_set = |off: usize| {
        syms.iter()
            .any(|(n, o, sz)| n.starts_with("__BTF_ID__set") && off > *o && off < o + sz)
    };
    for (name, off, size) in &syms {
        labelled[*off..off + 4].fill(true);
        if name.starts_with("__BTF_ID__set8__") {
            assert_eq!(word(after, *off), word(before, *off), "{name} cnt");
            // (new id, flags) of each member: its old id's pair in `before` gives its flags.
            let mut left: Vec<Option<(u32, &[u8])>> = (off + 8..off + size)
                .step_by(8)
                .map(|o| Some((word(before, o), &before[o + 4..o + 8])))
                .collect();
            let mut want: Vec<(u32, &[u8])> = Vec::new();
            for o in (off + 8..off + size).step_by(8) {
                let (m, _, _) = syms.iter().find(|s| s.1 == o).unwrap();
                let old = id_of(&old_ids, m);
                let j = left
                    .iter()
                    .position(|p| p.is_some_and(|p| p.0 == old))
                    .unwrap_or_else(|| panic!("{name}: no pair for {m} (id {old})"));
                want.push((id_of(&new_ids, m), left[j].take().unwrap().1));
            }
            want.sort_by_key(|p| p.0);
            let got: Vec<(u32, &[u8])> = (off + 8..off + size)
                .step_by(8)
                .map(|o| (word(after, o), &after[o + 4..o + 8]))
                .collect();
            assert_eq!(got, want, "{name}");
            labelled[off + 8..off + size].fill(true);
        } else if name.starts_with("__BTF_ID__set__") {
            assert_eq!(word(after, *off), word(before, *off), "{name} cnt");
            let mut want: Vec<u32> = (off + 4..off + size)
                .step_by(4)
                .map(|o| {
                    syms.iter()
                        .find(|s| s.1 == o)
                        .map_or(word(before, o), |(m, _, _)| id_of(&new_ids, m))
                })
                .collect();
            want.sort();
            let got: Vec<u32> = (off + 4..off + size)
                .step_by(4)
                .map(|o| word(after, o))
                .collect();
            assert_eq!(got, want, "{name}");
            labelled[off + 4..off + size].fill(true);
        } else if !in_set(*off) {
            assert_eq!(word(after, *off), id_of(&new_ids, name), "{name}");
        }
    }
    for (i, l) in labelled.iter().enumerate() {
        if !l {
            assert_eq!(after[i], before[i], "unlabelled byte {i:#x} changed");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Real-kernel tier: the shipped `.BTF_ids` is resolve_btfids' output.

/// What the compiler emitted before resolve_btfids ran, rebuilt from a shipped file: every
/// word resolve_btfids writes (ids and set counts) zeroed, as the BTF_ID macros emit them, and
/// each set8 pair's flags moved back from its sorted place to its function's symbol (the
/// function found by a lookup written here). Returns the file and how many set8 flags moved.
fn unresolve(elf: &[u8], btf: &Btf) -> (Vec<u8>, usize) {
    let f = object::File::parse(elf).unwrap();
    assert!(f.is_little_endian(), "these kernels are x86-64");
    let (file_off, _) = f.section_by_name(SECTION).unwrap().file_range().unwrap();
    let file_off = file_off as usize;
    let shipped = section(elf, SECTION).unwrap().unwrap();
    let syms = btf_id_symbols(elf);
    let ids = first_ids(btf);
    let mut data = shipped.to_vec();
    for (_, off, _) in &syms {
        data[*off..*off + 4].fill(0);
    }
    let mut moved = 0;
    for (name, off, size) in &syms {
        if !name.starts_with("__BTF_ID__set8__") {
            continue;
        }
        let mut pairs: Vec<Option<(u32, &[u8])>> = (off + 8..off + size)
            .step_by(8)
            .map(|o| Some((word(shipped, o), &shipped[o + 4..o + 8])))
            .collect();
        for o in (off + 8..off + size).step_by(8) {
            let (sym, _, _) = syms
                .iter()
                .find(|s| s.1 == o)
                .unwrap_or_else(|| panic!("set8 {name}: no symbol at {o:#x}"));
            let id = ids.get(&named(sym)).copied().unwrap_or(0);
            let j = pairs
                .iter()
                .position(|p| p.is_some_and(|p| p.0 == id))
                .unwrap_or_else(|| panic!("set8 {name}: no pair with id {id} for {sym}"));
            let (_, flags) = pairs[j].take().unwrap();
            if flags != &shipped[o + 4..o + 8] {
                moved += 1;
            }
            data[o + 4..o + 8].copy_from_slice(flags);
        }
    }
    let mut out = elf.to_vec();
    out[file_off..file_off + data.len()].copy_from_slice(&data);
    (out, moved)
}

#[derive(Default, Debug)]
struct Tally {
    files: usize,
    symbols: usize,
    sets: usize,
    set8s: usize,
    unresolved: usize,
    moved_flags: usize,
}

fn first_difference(ours: &[u8], shipped: &[u8]) -> String {
    let at = ours
        .iter()
        .zip(shipped)
        .position(|(a, b)| a != b)
        .unwrap_or(0)
        / 4
        * 4;
    format!(
        "differs first at offset {at:#x}: ours {:02x?}, shipped {:02x?}",
        &ours[at..(at + 4).min(ours.len())],
        &shipped[at..(at + 4).min(shipped.len())]
    )
}

/// One shipped file: unresolved then resolved gives the shipped section; re-resolved onto the
/// same BTF too; re-resolved onto `moved` (the same BTF with other ids) keeps every meaning.
fn check_file(path: &Path, elf: &[u8], btf: &Btf, moved: &Btf, t: &mut Tally) -> Vec<String> {
    let shipped = section(elf, SECTION).unwrap().unwrap();
    let (zeroed, moved_flags) = unresolve(elf, btf);
    assert_ne!(
        section(&zeroed, SECTION).unwrap().unwrap(),
        shipped,
        "{}: nothing was unresolved",
        path.display()
    );
    let list = entries(&zeroed).unwrap().unwrap();
    t.files += 1;
    t.symbols += list.len();
    t.sets += list.iter().filter(|e| e.kind == EntryKind::Set).count();
    t.set8s += list.iter().filter(|e| e.kind == EntryKind::Set8).count();
    t.moved_flags += moved_flags;
    let mut bad = Vec::new();
    match resolve(&zeroed, btf) {
        Ok(Some(r)) if r.data == shipped => t.unresolved += r.unresolved.len(),
        Ok(Some(r)) => bad.push(format!(
            "{}: resolve {}",
            path.display(),
            first_difference(&r.data, shipped)
        )),
        Ok(None) => bad.push(format!("{}: resolve found no section", path.display())),
        Err(e) => bad.push(format!("{}: resolve: {e}", path.display())),
    }
    match re_resolve(elf, btf, btf) {
        Ok(Some(r)) if r.data == shipped => {}
        Ok(Some(r)) => bad.push(format!(
            "{}: re_resolve onto the same BTF {}",
            path.display(),
            first_difference(&r.data, shipped)
        )),
        Ok(None) => bad.push(format!("{}: re_resolve found no section", path.display())),
        Err(e) => bad.push(format!("{}: re_resolve: {e}", path.display())),
    }
    match re_resolve(elf, btf, moved) {
        Ok(Some(r)) => check_moved(elf, btf, &r.data, moved),
        Ok(None) => bad.push(format!("{}: re_resolve found no section", path.display())),
        Err(e) => bad.push(format!(
            "{}: re_resolve onto moved ids: {e}",
            path.display()
        )),
    }
    bad
}

fn check_modules(vmlinux_var: &str, modules_var: &str) {
    let base = kbtf_btf::read_base(&kbtf_testkit::env_path(vmlinux_var)).unwrap();
    let kos = kbtf_testkit::every_module(&kbtf_testkit::env_path(modules_var));
    let mut tally = Tally::default();
    let mut bad = Vec::new();
    for ko in &kos {
        let elf = std::fs::read(ko).unwrap();
        if section(&elf, SECTION).unwrap().is_none() {
            continue;
        }
        let btf = kbtf_btf::read_file(ko, Some(base.clone()))
            .unwrap_or_else(|e| panic!("{e}"))
            .btf;
        let moved = kbtf_btf::diff::testing::shuffle_with_base(&btf, tally.files as u64);
        bad.extend(check_file(ko, &elf, &btf, &moved, &mut tally));
    }
    eprintln!(
        "{modules_var}: {} modules, {} with {SECTION} ({} symbols, {} sets, {} set8s, {} \
         unresolved, {} set8 flags moved by the sort), {} problems",
        kos.len(),
        tally.files,
        tally.symbols,
        tally.sets,
        tally.set8s,
        tally.unresolved,
        tally.moved_flags,
        bad.len()
    );
    assert!(tally.files > 0, "no module has {SECTION}");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
#[ignore]
fn kernel_6_1_modules_match_resolve_btfids() {
    check_modules("KBTF_VMLINUX_BTF", "KBTF_MODULES_DIR");
}

#[test]
#[ignore]
fn kernel_6_12_modules_match_resolve_btfids() {
    check_modules("KBTF_612_VMLINUX_BTF", "KBTF_612_MODULES_DIR");
}

/// The -dbg vmlinux: ET_EXEC, symbol values are addresses, and its own `.BTF`.
#[test]
#[ignore]
fn kernel_6_1_vmlinux_matches_resolve_btfids() {
    let path = kbtf_testkit::env_path("KBTF_VMLINUX");
    let elf = std::fs::read(&path).unwrap();
    let btf = kbtf_btf::read_file(&path, None)
        .unwrap_or_else(|e| panic!("{e}"))
        .btf;
    let moved = kbtf_btf::diff::testing::shuffle(&btf, 1);
    let mut tally = Tally::default();
    let bad = check_file(&path, &elf, &btf, &moved, &mut tally);
    eprintln!("vmlinux: {tally:?}");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
