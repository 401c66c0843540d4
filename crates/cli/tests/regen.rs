//! `kbtf regen` through the binary on the committed module fixtures: every mode gives what
//! `kbtf -J` gives for the same module, byte for byte; modules without DWARF, compressed
//! modules and non-ELF `.ko` files are skipped with their reason; an unreadable module fails
//! with its reason and the others are still done.

use std::path::Path;

use kbtf_testkit::testdata;

fn kbtf(args: &[&str]) -> (i32, String, String) {
    kbtf_testkit::run(env!("CARGO_BIN_EXE_kbtf"), args)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A tree: two copies of the -dbg dummy.ko (with DWARF), the shipped (stripped) dummy.ko,
/// a `.ko.xz` name, a `.ko` that is not ELF, an empty one, and a link to a module (as in
/// SUSE's `weak-updates/`).
fn tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("kernel/drivers/net")).unwrap();
    std::fs::create_dir_all(dir.join("extra")).unwrap();
    let dbg = testdata("modules-6.1-dbg/dummy.ko");
    std::fs::copy(&dbg, dir.join("kernel/drivers/net/dummy.ko")).unwrap();
    std::fs::copy(&dbg, dir.join("extra/dummy2.ko")).unwrap();
    std::fs::copy(
        testdata("modules-6.1/dummy.ko"),
        dir.join("extra/stripped.ko"),
    )
    .unwrap();
    std::fs::write(dir.join("extra/packed.ko.xz"), b"\xfd7zXZ\0").unwrap();
    std::fs::write(dir.join("extra/text.ko"), b"not an ELF file").unwrap();
    std::fs::write(dir.join("extra/empty.ko"), b"").unwrap();
    std::os::unix::fs::symlink("../kernel/drivers/net/dummy.ko", dir.join("extra/link.ko"))
        .unwrap();
}

#[test]
fn regen_equals_encoding_each_module_and_reports_skips() {
    let base = testdata("vmlinux-6.1.btf");
    for (mode, flags) in [
        ("split", vec!["--btf_base", base.to_str().unwrap()]),
        (
            "distilled",
            vec![
                "--btf_features=var,decl_tag,type_tag,enum64,float,distilled_base",
                "--btf_base",
                base.to_str().unwrap(),
            ],
        ),
        (
            "standalone",
            vec!["--standalone", "--btf_base", base.to_str().unwrap()],
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("tree");
        tree(&dir);
        let (code, out, err) = kbtf(&[
            "regen",
            &s(&dir),
            "--vmlinux",
            &s(&base),
            "--mode",
            mode,
            "-j2",
        ]);
        assert_eq!(code, 0, "{mode}: {out}{err}");
        assert!(out.contains("done         2 "), "{mode}: {out}");
        assert!(out.contains("skipped      5"), "{mode}: {out}");
        assert!(out.contains("a symbolic link"), "{mode}: {out}");
        assert!(out.contains("no DWARF (.debug_info)"), "{mode}: {out}");
        assert!(out.contains("compressed (.ko.xz)"), "{mode}: {out}");
        assert!(out.contains("2  not an ELF file"), "{mode}: {out}");
        assert!(out.contains("failed       0"), "{mode}: {out}");

        // The same module through `kbtf -J` with the flags regen uses.
        let one = tmp.path().join("one.ko");
        std::fs::copy(testdata("modules-6.1-dbg/dummy.ko"), &one).unwrap();
        let mut args = vec!["-J", "--btf_gen_floats", "--lang_exclude=rust"];
        args.extend(flags.iter().copied());
        let one_s = s(&one);
        args.push(&one_s);
        let (code, out, err) = kbtf(&args);
        assert_eq!(code, 0, "{mode}: {out}{err}");
        let want = std::fs::read(&one).unwrap();
        for m in ["kernel/drivers/net/dummy.ko", "extra/dummy2.ko"] {
            assert!(
                std::fs::read(dir.join(m)).unwrap() == want,
                "{mode}: {m} differs from kbtf -J's output"
            );
        }
        assert_eq!(
            std::fs::read(dir.join("extra/stripped.ko")).unwrap(),
            std::fs::read(testdata("modules-6.1/dummy.ko")).unwrap(),
            "{mode}: a skipped module was changed"
        );
    }
}

#[test]
fn regen_reports_failures_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tree");
    tree(&dir);
    // An ELF header and nothing else: unreadable as ELF.
    let mut broken = std::fs::read(testdata("modules-6.1-dbg/dummy.ko")).unwrap();
    broken.truncate(80);
    std::fs::write(dir.join("extra/broken.ko"), &broken).unwrap();
    let base = testdata("vmlinux-6.1.btf");
    let (code, out, err) = kbtf(&["regen", &s(&dir), "--vmlinux", &s(&base), "-j2"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("done         2 "), "{out}");
    assert!(out.contains("failed       1"), "{out}");
    assert!(out.contains("extra/broken.ko: "), "{out}");
    assert_eq!(std::fs::read(dir.join("extra/broken.ko")).unwrap(), broken);
}

#[test]
fn regen_needs_a_vmlinux_outside_a_built_tree() {
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path());
    let (code, _, err) = kbtf(&["regen", &s(tmp.path())]);
    assert_eq!(code, 2);
    assert!(err.contains("--vmlinux"), "{err}");
}
