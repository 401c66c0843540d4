//! Dump tests on real kernel BTF and against real tools:
//!
//! - the committed fixtures under `testdata/` at the repository root (Debian's
//!   6.1.0-56-cloud-amd64 vmlinux BTF and some of its modules' split BTF), which must be
//!   there;
//! - the tools below, without which a test is skipped with a note on stderr, unless
//!   `KBTF_REQUIRE_TOOLS` is set (as `cargo xtask test` sets it; see `kbtf_testkit::have_tool`);
//! - `gcc` on PATH, to check that C dumps compile and reproduce every struct's size and
//!   member offsets;
//! - `bpftool` on PATH with `KBTF_VMLINUX_BTF` naming a vmlinux BTF (an ignored test of the
//!   real-kernel tier), to check the raw dump is byte for byte bpftool's and the C dump is
//!   bpftool's apart from what bpftool 7.1 gets wrong: enum `mode`s, packed and aligned
//!   unions, alignment markers in packed structs.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use expect_test::expect;

use super::{dump_c, dump_raw};
use crate::btf::Btf;
use crate::file::{read_base, read_file};
use crate::synth::Builder as TestBtf;
use crate::types::*;
use kbtf_testkit::{fixture, have_tool};

fn raw_text(btf: &Btf) -> String {
    let mut out = Vec::new();
    dump_raw(btf, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn c_text(btf: &Btf) -> String {
    let mut out = Vec::new();
    dump_c(btf, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// `_Static_assert`s of the size and of every named, non-bitfield member's offset of each
/// named struct and union whose tag no other struct, union, enum or forward declaration
/// shares (those keep their name in the C dump).
fn layout_asserts(btf: &Btf) -> (String, usize) {
    let mut tag_uses: HashMap<&[u8], usize> = HashMap::new();
    for id in 1..btf.end_id() {
        let t = btf.type_by_id(id).unwrap();
        let tagged = matches!(
            t.data,
            TypeData::Struct { .. }
                | TypeData::Union { .. }
                | TypeData::Enum { .. }
                | TypeData::Enum64 { .. }
                | TypeData::Fwd { .. }
        );
        if tagged && t.name_off != 0 {
            *tag_uses
                .entry(btf.str_bytes(t.name_off).unwrap())
                .or_default() += 1;
        }
    }
    let mut out = String::new();
    let mut n = 0;
    for id in 1..btf.end_id() {
        let t = btf.type_by_id(id).unwrap();
        let kw = match t.data {
            TypeData::Struct { .. } => "struct",
            TypeData::Union { .. } => "union",
            _ => continue,
        };
        let name = btf.str_bytes(t.name_off).unwrap();
        if t.name_off == 0 || tag_uses[name] != 1 {
            continue;
        }
        let name = String::from_utf8_lossy(name);
        let size = t.size().unwrap();
        out += &format!("_Static_assert(sizeof({kw} {name}) == {size}, \"{name}\");\n");
        n += 1;
        for m in t.members() {
            if m.name_off == 0 || m.bitfield_size(t.kind_flag) != 0 {
                continue;
            }
            let field = btf.str_at(m.name_off);
            let off = m.bit_offset(t.kind_flag);
            if off % 8 != 0 {
                continue;
            }
            out += &format!(
                "_Static_assert(__builtin_offsetof({kw} {name}, {field}) == {}, \"{name}.{field}\");\n",
                off / 8
            );
            n += 1;
        }
    }
    (out, n)
}

/// Compiles `source` with `gcc -fsyntax-only`, failing the test with gcc's messages (the
/// first few) if it reports anything.
fn gcc_accepts(source: &str) {
    let mut child = Command::new("gcc")
        .args(["-fsyntax-only", "-x", "c", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(source.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let msgs = String::from_utf8_lossy(&out.stderr);
    let first: String = msgs.lines().take(20).collect::<Vec<_>>().join("\n");
    assert!(
        out.status.success() && msgs.is_empty(),
        "gcc rejected the C dump:\n{first}"
    );
}

/// Runs `bpftool btf dump file FILE [-B BASE] format FORMAT`.
fn bpftool_dump(file: &Path, base: Option<&Path>, format: &str) -> String {
    let mut cmd = Command::new("bpftool");
    cmd.args(["btf", "dump", "file"]).arg(file);
    if let Some(b) = base {
        cmd.arg("-B").arg(b);
    }
    let out = cmd.args(["format", format]).output().unwrap();
    assert!(out.status.success(), "bpftool failed on {}", file.display());
    String::from_utf8(out.stdout).unwrap()
}

/// Attributes the C dump writes where bpftool 7.1 does not: enum sizes, packed unions.
const EXTRA_ATTRIBUTES: [&str; 3] = [
    " __attribute__((mode(byte)))",
    " __attribute__((mode(word)))",
    " __attribute__((packed))",
];

/// A line without the attributes the C dump adds to bpftool's (those above and union
/// alignments).
fn without_extra_attributes(line: &str) -> String {
    let mut l = EXTRA_ATTRIBUTES
        .iter()
        .fold(line.to_owned(), |l, a| l.replace(a, ""));
    while let Some(start) = l.find(" __attribute__((aligned(") {
        let Some(len) = l[start..].find(")))") else {
            break;
        };
        l.replace_range(start..start + len + 3, "");
    }
    l
}

/// Whether `line` is an alignment marker (`long: 0;`) the C dump adds in packed structs.
fn is_alignment_marker(line: &str) -> bool {
    ["long: 0;", "int: 0;", "short: 0;", "char: 0;"].contains(&line.trim())
}

/// Asserts that a C dump is bpftool's, line for line, except for attributes and alignment
/// markers the C dump adds where bpftool's layout is wrong.
fn assert_same_c_but_attributes(ours: &str, theirs: &str, what: &str) {
    let ours_lines: Vec<&str> = ours.lines().collect();
    let theirs_lines: Vec<&str> = theirs.lines().collect();
    let (mut i, mut j) = (0, 0);
    while i < ours_lines.len() || j < theirs_lines.len() {
        let (a, b) = (ours_lines.get(i), theirs_lines.get(j));
        if a == b
            || a.zip(b)
                .is_some_and(|(a, b)| without_extra_attributes(a) == **b)
        {
            i += 1;
            j += 1;
        } else if a.is_some_and(|a| is_alignment_marker(a)) {
            i += 1;
        } else {
            panic!(
                "{what}: differs from bpftool at our line {}:\n  ours:    {a:?}\n  bpftool: {b:?}",
                i + 1
            );
        }
    }
}

/// Asserts two long texts are equal, reporting the first differing line.
fn assert_same_text(ours: &str, theirs: &str, what: &str) {
    if ours == theirs {
        return;
    }
    let line = ours
        .lines()
        .zip(theirs.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| ours.lines().count().min(theirs.lines().count()));
    panic!(
        "{what}: differs from bpftool at line {}:\n  ours:    {:?}\n  bpftool: {:?}",
        line + 1,
        ours.lines().nth(line),
        theirs.lines().nth(line)
    );
}

#[test]
fn vmlinux_fixture_raw_dump() {
    let path = fixture("vmlinux-6.1.btf");
    let btf = read_file(&path, None).unwrap().btf;
    let text = raw_text(&btf);
    let headers = text.lines().filter(|l| l.starts_with('[')).count();
    assert_eq!(headers, btf.own_types().len());
    let head: String = text.lines().take(12).map(|l| format!("{l}\n")).collect();
    expect![[r#"
        [1] FUNC_PROTO '(anon)' ret_type_id=0 vlen=0
        [2] FUNC 'verify_cpu' type_id=1 linkage=static
        [3] FUNC 'sev_verify_cbit' type_id=1 linkage=static
        [4] FUNC 'xen_hypercall_hvm' type_id=1 linkage=static
        [5] FUNC 'xen_hypercall_amd' type_id=1 linkage=static
        [6] FUNC 'xen_hypercall_intel' type_id=1 linkage=static
        [7] INT 'long unsigned int' size=8 bits_offset=0 nr_bits=64 encoding=(none)
        [8] CONST '(anon)' type_id=7
        [9] VOLATILE '(anon)' type_id=8
        [10] ARRAY '(anon)' type_id=7 index_type_id=28 nr_elems=2
        [11] PTR '(anon)' type_id=14
        [12] CONST '(anon)' type_id=11
    "#]]
    .assert_eq(&head);
    let list_head: String = text
        .lines()
        .skip_while(|l| !l.contains("STRUCT 'list_head'"))
        .take(4)
        .map(|l| format!("{l}\n"))
        .collect();
    expect![[r#"
        [96] STRUCT 'list_head' size=16 vlen=2
        	'next' type_id=97 bits_offset=0
        	'prev' type_id=97 bits_offset=64
        [97] PTR '(anon)' type_id=96
    "#]]
    .assert_eq(&list_head);
    if have_tool("bpftool") {
        assert_same_text(&text, &bpftool_dump(&path, None, "raw"), "vmlinux raw");
    }
}

#[test]
fn module_fixture_raw_dump() {
    let (base_path, path) = (fixture("vmlinux-6.1.btf"), fixture("modules-6.1/dummy.btf"));
    let base = read_base(&base_path).unwrap();
    let btf = read_file(&path, Some(base)).unwrap().btf;
    let text = raw_text(&btf);
    expect![[r#"
        [95247] CONST '(anon)' type_id=62482
        [95248] ARRAY '(anon)' type_id=95247 index_type_id=28 nr_elems=36
        [95249] CONST '(anon)' type_id=95248
        [95250] FUNC 'dummy_cleanup_module' type_id=1 linkage=static
        [95251] FUNC 'dummy_init_module' type_id=112 linkage=static
        [95252] FUNC_PROTO '(anon)' ret_type_id=28 vlen=3
        	'tb' type_id=2586
        	'data' type_id=2586
        	'extack' type_id=2409
        [95253] FUNC 'dummy_validate' type_id=95252 linkage=static
        [95254] FUNC 'dummy_setup' type_id=28353 linkage=static
        [95255] FUNC_PROTO '(anon)' ret_type_id=0 vlen=2
        	'dev' type_id=2084
        	'info' type_id=18930
        [95256] FUNC 'dummy_get_drvinfo' type_id=95255 linkage=static
        [95257] FUNC 'dummy_change_carrier' type_id=30325 linkage=static
        [95258] FUNC 'dummy_dev_uninit' type_id=28353 linkage=static
        [95259] FUNC 'dummy_dev_init' type_id=28365 linkage=static
        [95260] FUNC 'dummy_xmit' type_id=28359 linkage=static
        [95261] FUNC 'dummy_get_stats64' type_id=28369 linkage=static
        [95262] FUNC 'set_multicast_list' type_id=28353 linkage=static
    "#]]
    .assert_eq(&text);
    if have_tool("bpftool") {
        for m in ["dummy", "veth", "tun"] {
            let p = fixture(&format!("modules-6.1/{m}.btf"));
            let btf = read_file(&p, btf.base().cloned()).unwrap().btf;
            let theirs = bpftool_dump(&p, Some(&base_path), "raw");
            assert_same_text(&raw_text(&btf), &theirs, m);
        }
    }
}

#[test]
fn vmlinux_fixture_c_dump_compiles_with_the_recorded_layout() {
    let path = fixture("vmlinux-6.1.btf");
    if !have_tool("gcc") {
        return;
    }
    let btf = read_file(&path, None).unwrap().btf;
    let header = c_text(&btf);
    let (asserts, n) = layout_asserts(&btf);
    assert!(n > 40_000, "only {n} layout checks");
    gcc_accepts(&format!("{header}\n{asserts}"));
}

#[test]
fn synthetic_layouts_compile_with_gcc() {
    if !have_tool("gcc") {
        return;
    }
    let mut b = TestBtf::new();
    let int = b.int("int", 4, INT_SIGNED);
    let uch = b.int("unsigned char", 1, 0);
    let long = b.int("long int", 8, INT_SIGNED);
    let ushort = b.int("short unsigned int", 2, 0);
    let members = vec![
        b.bf("a", int, 0, 3),
        b.bf("b", int, 3, 5),
        b.bf("c", int, 12, 4),
        b.bf("d", long, 64, 0),
        b.bf("e", uch, 128, 0),
        b.bf("f", long, 136, 40),
        b.bf("g", ushort, 200, 0),
    ];
    let flags = b.struct_of("flags", 32, true, members);
    let members = vec![b.m("x", uch, 0), b.m("y", long, 128)];
    b.struct_of("gap", 24, false, members);
    let members = vec![b.m("tag", uch, 0), b.m("val", int, 8), b.m("fl", flags, 40)];
    b.struct_of("wire", 37, false, members);
    // A one-byte enum inside a struct: without mode(byte), `after` would move.
    let small = b.enum_of("small", 1, false, &[("S0", 0), ("S1", 1)]);
    let members = vec![b.m("s", small, 0), b.m("after", uch, 8)];
    b.struct_of("with_small_enum", 2, false, members);
    let members = vec![b.m("big", long, 0), b.m("c", uch, 64)];
    b.struct_of("tail_padded", 16, false, members);
    let members = vec![b.m("lo", uch, 0), b.m("hi", ushort, 64)];
    b.struct_of("aligned_hole", 16, false, members);
    // A packed union inside a struct: without the attribute, `u` would grow to 8 bytes.
    let bytes = b.array(uch, int, 7);
    let members = vec![b.m("w", int, 0), b.m("bytes", bytes, 0)];
    let odd = b.union_of("odd_union", 7, false, members);
    let members = vec![b.m("tag", uch, 0), b.m("u", odd, 8)];
    b.struct_of("holds_odd_union", 8, false, members);
    // A packed struct with a tail: its padding must not rely on bitfields moving to the
    // next boundary, which they do not do in packed structs.
    let members = vec![b.m("tag", uch, 0), b.m("val", int, 8)];
    b.struct_of("packed_tail", 16, false, members);
    // Over-aligned unions, alone and inside a struct.
    let members = vec![b.m("w", int, 0), b.m("bytes", bytes, 0)];
    let aligned = b.union_of("cacheline_union", 128, false, members);
    let members = vec![
        b.m("tag", uch, 0),
        b.m("u", aligned, 1024),
        b.m("n", int, 2048),
    ];
    b.struct_of("holds_cacheline_union", 384, false, members);
    let (asserts, n) = layout_asserts(&b.btf);
    assert!(n > 10);
    gcc_accepts(&format!("{}\n{asserts}", c_text(&b.btf)));
}

/// The 6.1 vmlinux BTF from the test-kernel cache against bpftool, raw and C. (The raw dump
/// of every module is compared with bpftool by the kbtf binary's real-kernel tests.)
#[test]
#[ignore = "real-kernel tier: run by `cargo xtask test`"]
fn dumps_match_bpftool_on_cached_vmlinux() {
    let Some(vmlinux) = std::env::var_os("KBTF_VMLINUX_BTF") else {
        panic!("KBTF_VMLINUX_BTF is not set: run the real-kernel tier with `cargo xtask test`");
    };
    assert!(
        have_tool("bpftool"),
        "bpftool is needed by the real-kernel tier"
    );
    let vmlinux = PathBuf::from(vmlinux);
    let base: Arc<Btf> = read_base(&vmlinux).unwrap();
    assert_same_text(
        &raw_text(&base),
        &bpftool_dump(&vmlinux, None, "raw"),
        "vmlinux raw",
    );
    assert_same_c_but_attributes(
        &c_text(&base),
        &bpftool_dump(&vmlinux, None, "c"),
        "vmlinux C",
    );
}
