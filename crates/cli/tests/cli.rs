//! The `kbtf` binary on the committed fixtures (testdata/, see testdata/PROVENANCE): exit
//! codes and output, as a user sees them.

use std::path::{Path, PathBuf};
use std::process::Command;

use expect_test::{expect, Expect};

fn testdata(rel: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    root.join(rel).display().to_string()
}

/// Runs kbtf; returns (exit code, stdout, stderr) with the testdata path shortened.
fn kbtf(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kbtf"))
        .args(args)
        .output()
        .expect("run kbtf");
    let root = PathBuf::from(testdata(""));
    let clean =
        |b: &[u8]| String::from_utf8_lossy(b).replace(&root.display().to_string(), "testdata/");
    (
        out.status.code().unwrap_or(-1),
        clean(&out.stdout),
        clean(&out.stderr),
    )
}

/// Checks the exit code and the combined output (stdout, then stderr after `--- stderr`).
fn check(args: &[&str], code: i32, expect: Expect) {
    let (got, stdout, stderr) = kbtf(args);
    let mut text = stdout;
    if !stderr.is_empty() {
        text.push_str("--- stderr\n");
        text.push_str(&stderr);
    }
    expect.assert_eq(&text);
    assert_eq!(got, code, "exit code of kbtf {args:?}");
}

#[test]
fn check_vmlinux() {
    check(
        &["check", &testdata("vmlinux-6.1.btf")],
        0,
        expect![[r#"
        no problems
    "#]],
    );
}

#[test]
fn check_shipped_module() {
    let base = testdata("vmlinux-6.1.btf");
    check(
        &["check", "--base", &base, &testdata("modules-6.1/dummy.ko")],
        0,
        expect![[r#"
        no problems
    "#]],
    );
    check(
        &["check", "--base", &base, &testdata("modules-6.1/tun.btf")],
        0,
        expect![[r#"
        no problems
    "#]],
    );
}

/// sd_mod's BTF built by pahole against the older 6.1.0-55 vmlinux, checked against 6.1.0-56:
/// the kernel refuses it ("failed to validate module [sd_mod] BTF: -22").
#[test]
fn sd_mod_wrong_base() {
    let (code, out, _) = kbtf(&[
        "check",
        "--max-problems",
        "3",
        "--base",
        &testdata("vmlinux-6.1.btf"),
        &testdata("modules-6.1-wrong-base/sd_mod.btf"),
    ]);
    assert_eq!(code, 1);
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.contains("looks built against a different base"),
        "{out}"
    );
}

/// dummy's BTF built against the older vmlinux: the 6.1 kernel takes it by luck; we must not.
#[test]
fn dummy_wrong_base_accepted_by_kernel_luck() {
    check(
        &[
            "check",
            "--max-problems",
            "4",
            "--base",
            &testdata("vmlinux-6.1.btf"),
            &testdata("modules-6.1-wrong-base/dummy.btf"),
        ],
        1,
        expect![[r#"
            [95249] FUNC_PROTO (anon): parameter #1 name is empty (name offset 337358 points at a NUL)
            [95250] FUNC 'my_validate': FUNC's type [95192] FUNC 'pirq_sis497_get' is not a FUNC_PROTO
            [95251] FUNC 'my_setup': FUNC's type [20328] ENUM 'evm_ima_xattr_type' is not a FUNC_PROTO
            [95252] FUNC_PROTO (anon): parameter #2 [13462] FUNC 'setup_slab_merge' has no size
            ... and 29 more
            33 problems: 10 the kernel would reject (0 also when loading module or vmlinux BTF in 6.1), 23 signs of a different base; this split BTF looks built against a different base than the one given
        "#]],
    );
}

/// The older build's own dummy.ko loaded on the newer kernel.
#[test]
fn old_build_module_on_new_vmlinux() {
    let (code, out, _) = kbtf(&[
        "check",
        "--base",
        &testdata("vmlinux-6.1.btf"),
        &testdata("modules-6.1-old/dummy.ko"),
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("different base"), "{out}");
}

#[test]
fn diff_same_module_from_elf_and_raw() {
    let base = testdata("vmlinux-6.1.btf");
    check(
        &[
            "diff",
            "--base",
            &base,
            &testdata("modules-6.1/dummy.ko"),
            &testdata("modules-6.1/dummy.btf"),
        ],
        0,
        expect![[r#"
            identical by meaning: 16 types
        "#]],
    );
}

#[test]
fn diff_different_modules() {
    let base = testdata("vmlinux-6.1.btf");
    let (code, out, _) = kbtf(&[
        "diff",
        "--base",
        &base,
        &testdata("modules-6.1/dummy.btf"),
        &testdata("modules-6.1/veth.btf"),
    ]);
    assert_eq!(code, 1);
    assert!(out.lines().any(|l| l.starts_with("only in B: ")), "{out}");
}

#[test]
fn bad_inputs_give_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    std::fs::write(p("wrong-magic"), b"not btf at all, no").unwrap();
    let vmlinux = std::fs::read(testdata("vmlinux-6.1.btf")).unwrap();
    std::fs::write(p("truncated"), &vmlinux[..1000]).unwrap();
    let mut oob = vmlinux[..64].to_vec();
    oob[16..20].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    std::fs::write(p("out-of-bounds"), &oob).unwrap();
    let cases = [
        ("dump", p("wrong-magic"), "not an ELF file and not raw BTF"),
        ("dump", p("truncated"), "out of bounds"),
        ("dump", p("out-of-bounds"), "out of bounds"),
        ("dump", p("missing"), "No such file"),
        ("dump", dir.path().display().to_string(), "is a directory"),
        ("dump", testdata("c/kinds.o"), "ELF has no .BTF section"),
        ("check", p("missing"), "No such file"),
        ("diff", p("wrong-magic"), "not an ELF file"),
    ];
    for (cmd, file, want) in cases {
        let args: Vec<&str> = if cmd == "diff" {
            vec![cmd, &file, &file]
        } else {
            vec![cmd, &file]
        };
        let (code, out, err) = kbtf(&args);
        assert_eq!(code, 2, "kbtf {args:?}: {out}{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("kbtf: error: "), "{err}");
        assert!(
            err.contains(&file.replace(&testdata(""), "testdata/")) || err.contains(&file),
            "names the file: {err}"
        );
        assert!(err.contains(want), "kbtf {args:?}: want {want:?} in {err}");
    }
}

/// `check` on BTF that does not parse reports it invalid (exit 1), not as trouble.
#[test]
fn check_unparsable_btf_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.btf");
    let vmlinux = std::fs::read(testdata("vmlinux-6.1.btf")).unwrap();
    std::fs::write(&path, &vmlinux[..1000]).unwrap();
    let (code, out, _) = kbtf(&["check", &path.display().to_string()]);
    assert_eq!(code, 1);
    assert!(
        out.ends_with("invalid: the kernel would reject this BTF\n"),
        "{out}"
    );
}

#[test]
fn split_btf_without_base_hints_at_base() {
    let (code, _, err) = kbtf(&["dump", &testdata("modules-6.1/dummy.btf")]);
    assert_eq!(code, 2);
    assert!(
        err.contains("pass the module's vmlinux with --base"),
        "{err}"
    );
}

/// The binary prints what the library's raw dump prints (whose golden text and bpftool
/// comparisons live with the library, crates/btf/src/dump).
#[test]
fn dump_raw_of_shipped_module() {
    let base = testdata("vmlinux-6.1.btf");
    let module = testdata("modules-6.1/dummy.ko");
    let (code, out, err) = kbtf(&["dump", "--base", &base, &module]);
    assert_eq!(code, 0, "{err}");
    let base = kbtf_btf::read_base(Path::new(&base)).unwrap();
    let btf = kbtf_btf::read_file(Path::new(&module), Some(base))
        .unwrap()
        .btf;
    let mut want = Vec::new();
    kbtf_btf::dump::dump_raw(&btf, &mut want).unwrap();
    assert_eq!(out, String::from_utf8(want).unwrap());
    assert!(
        out.starts_with("[95247] CONST '(anon)' type_id=62482\n"),
        "{out}"
    );
}

#[test]
fn dump_c_of_shipped_module() {
    let base = testdata("vmlinux-6.1.btf");
    let (code, out, err) = kbtf(&[
        "dump",
        "--format",
        "c",
        "--base",
        &base,
        &testdata("modules-6.1/dummy.ko"),
    ]);
    assert_eq!(code, 0, "{err}");
    // Like bpftool, the C dump of split BTF declares the base types it needs too.
    assert!(out.starts_with("#ifndef __VMLINUX_H__\n"), "{out}");
    assert!(out.contains("\nstruct net_device {\n"), "{out}");
    assert!(
        out.trim_end().ends_with("#endif /* __VMLINUX_H__ */"),
        "{out}"
    );
}

/// Real vmlinux BTF against a copy with its types shuffled and strings reordered, then
/// single-type mutations of that copy: `kbtf diff` finds nothing, then exactly the change.
#[test]
fn diff_vmlinux_shuffled_and_mutated() {
    use kbtf_btf::diff::testing::shuffle;
    use kbtf_btf::{Btf, Kind, TypeData};

    let orig_path = testdata("vmlinux-6.1.btf");
    let orig = Btf::parse(&std::fs::read(&orig_path).unwrap(), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, btf: &Btf| {
        let p = dir.path().join(name);
        std::fs::write(&p, btf.to_bytes()).unwrap();
        p.display().to_string()
    };
    let find = |btf: &Btf, kind: Kind, name: &str| {
        btf.iter()
            .find(|(_, t)| t.kind() == kind && btf.str_at(t.name_off) == name)
            .unwrap()
            .0
    };
    let shuffled = shuffle(&orig, 7);
    let shuffled_path = write("shuffled", &shuffled);
    assert_ne!(
        std::fs::read(&shuffled_path).unwrap(),
        std::fs::read(&orig_path).unwrap()
    );
    check(
        &["diff", &orig_path, &shuffled_path],
        0,
        expect![[r#"
        identical by meaning: 95246 types
    "#]],
    );

    // Rename one member of struct sk_buff.
    let mut renamed = shuffled.clone();
    let skb = find(&renamed, Kind::Struct, "sk_buff");
    let len = renamed.type_by_id(skb).unwrap().members().iter();
    let len = len
        .clone()
        .position(|m| renamed.str_at(m.name_off) == "len")
        .unwrap();
    let new_name = renamed.add_str("length");
    let start = renamed.start_id();
    if let TypeData::Struct { members, .. } =
        &mut renamed.own_types_mut()[(skb - start) as usize].data
    {
        members[len].name_off = new_name;
    }
    check(
        &["diff", &orig_path, &write("renamed", &renamed)],
        1,
        expect![[r#"
        struct sk_buff: member 'len' renamed to 'length'
        1 difference
    "#]],
    );

    // Change the size of struct callback_head.
    let mut resized = shuffled.clone();
    let lh = find(&resized, Kind::Struct, "callback_head");
    if let TypeData::Struct { size, .. } = &mut resized.own_types_mut()[(lh - start) as usize].data
    {
        *size += 8;
    }
    check(
        &["diff", &orig_path, &write("resized", &resized)],
        1,
        expect![[r#"
        struct callback_head: size changed 16 -> 24
        1 difference
    "#]],
    );

    // Drop one value of enum pid_type.
    let mut dropped = shuffled.clone();
    let e = find(&dropped, Kind::Enum, "pid_type");
    if let TypeData::Enum { values, .. } = &mut dropped.own_types_mut()[(e - start) as usize].data {
        values.pop();
    }
    check(
        &["diff", &orig_path, &write("dropped", &dropped)],
        1,
        expect![[r#"
        enum pid_type: value 'PIDTYPE_MAX' removed
        1 difference
    "#]],
    );
}

/// A module carrying kbtf's base fingerprint note: `check` says for certain whether the given
/// base is the one it was built against.
#[test]
fn base_fingerprint_note() {
    use kbtf_btf::fingerprint::{Fingerprint, SECTION};
    use kbtf_emit::elf::{set_section, SectionSpec};

    let vmlinux = kbtf_btf::read_base(Path::new(&testdata("vmlinux-6.1.btf"))).unwrap();
    let right = Fingerprint::of(&vmlinux);
    let ko = std::fs::read(testdata("modules-6.1-dbg/dummy.ko")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let with_note = |fp: Fingerprint, name: &str| {
        let note = fp.to_note(kbtf_btf::Endian::Little);
        let spec = SectionSpec {
            name: SECTION,
            data: &note,
            sh_type: 7,
            flags: 0,
            align: 4,
        };
        let p = dir.path().join(name);
        std::fs::write(&p, set_section(&ko, &spec).unwrap()).unwrap();
        p.display().to_string()
    };
    let base = testdata("vmlinux-6.1.btf");
    check(
        &["check", "--base", &base, &with_note(right, "right.ko")],
        0,
        expect![[r#"
        base fingerprint matches: built against this vmlinux BTF
        no problems
    "#]],
    );
    let wrong = Fingerprint {
        type_count: right.type_count - 57,
        ..right
    };
    let (code, out, _) = kbtf(&["check", "--base", &base, &with_note(wrong, "wrong.ko")]);
    assert_eq!(code, 1);
    assert!(
        out.starts_with(
            "built against a different vmlinux BTF: the module records a base of 95189 types"
        ),
        "{out}"
    );
}

/// Installed as `pahole` (argv[0]), kbtf takes pahole's command line; `--version` is what
/// kbuild's scripts/pahole-version.sh turns into 124.
#[test]
fn invoked_as_pahole() {
    let dir = tempfile::tempdir().unwrap();
    let pahole = dir.path().join("pahole");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kbtf"), &pahole).unwrap();
    let out = std::process::Command::new(&pahole)
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "v1.24\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kbtf"))
        .arg("--version")
        .env("KBTF_PAHOLE_VERSION", "v1.28")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "v1.28\n");
    let ko = dir.path().join("dummy.ko");
    std::fs::copy(testdata("modules-6.1-dbg/dummy.ko"), &ko).unwrap();
    let st = std::process::Command::new(&pahole)
        .args([
            "-J",
            "-j",
            "--btf_gen_floats",
            "--lang_exclude=rust",
            "--btf_base",
            &testdata("vmlinux-6.1.btf"),
        ])
        .arg(&ko)
        .status()
        .unwrap();
    assert!(st.success());
    check(
        &[
            "diff",
            "--base",
            &testdata("vmlinux-6.1.btf"),
            &ko.display().to_string(),
            &testdata("modules-6.1/dummy.btf"),
        ],
        0,
        expect![[r#"
            identical by meaning: 16 types
        "#]],
    );
    let out = std::process::Command::new(&pahole)
        .args(["-J", "--reorganize", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown pahole flag --reorganize"));
}

/// `kbtf load --dry-run -o` on a signed module without `.BTF.base`: the module passes through
/// unchanged, signature included, and nothing is loaded. (The kernel's signature policy is not
/// printed: it matters only for modules without a valid signature.)
#[test]
fn load_dry_run_passes_signed_module_through() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ko");
    let out_s = out.display().to_string();
    let (code, stdout, stderr) = kbtf(&[
        "load",
        "--dry-run",
        "-o",
        &out_s,
        "--base",
        &testdata("vmlinux-6.1.btf"),
        &testdata("modules-6.1/dummy.ko"),
        "numdummies=2",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(stderr, "");
    expect![[r#"
        module dummy: testdata/modules-6.1/dummy.ko, 17497 bytes
        btf: no .BTF.base; the module is loaded as it is
        signature: kept, on unchanged bytes; the kernel checks it
        wrote OUT (17497 bytes)
        dry run: would call finit_module(memfd of 17497 bytes, "numdummies=2", 0) for dummy
    "#]]
    .assert_eq(&stdout.replace(&out_s, "OUT"));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(testdata("modules-6.1/dummy.ko")).unwrap(),
        "a module without .BTF.base is loaded byte for byte as it is"
    );
}

/// `kbtf load` refuses, with one line and exit 2, what it cannot load: a compressed module,
/// a file that is not a module, a missing base (it never loads a module without its BTF).
#[test]
fn load_bad_inputs_give_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    std::fs::write(p("m.ko.xz"), b"\xfd7zXZ\0 the rest").unwrap();
    std::fs::write(p("text.ko"), b"not a module").unwrap();
    let base = testdata("vmlinux-6.1.btf");
    let dummy = testdata("modules-6.1/dummy.ko");
    let obj = testdata("c/kinds.o");
    let (xz, text, missing) = (p("m.ko.xz"), p("text.ko"), p("no-vmlinux"));
    let cases: [(Vec<&str>, &str); 4] = [
        (vec!["--base", &base, &xz], "xz-compressed"),
        (vec!["--base", &base, &text], "not an ELF file"),
        (vec!["--base", &base, &obj], "no .modinfo section"),
        (
            vec!["--base", &missing, &dummy],
            "never loads a module without its BTF",
        ),
    ];
    for (args, want) in cases {
        let args: Vec<&str> = ["load", "--dry-run"].into_iter().chain(args).collect();
        let (code, out, err) = kbtf(&args);
        assert_eq!(code, 2, "kbtf {args:?}: {out}{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(want), "kbtf {args:?}: want {want:?} in {err}");
    }
}
