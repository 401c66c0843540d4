//! `kbtf -J` through the binary on the committed DWARF fixtures (testdata/dwarf, see
//! testdata/PROVENANCE and docs/testing.md): DWARF 4 and 5, zlib, zstd and `.zdebug`
//! compressed sections, and `ld -r` objects, each compared by meaning with pahole 1.24's BTF.
//! Damaged input fails cleanly and leaves the file as it was.

use std::process::Command;

use kbtf_testkit::{files_with_ext, testdata};

fn kbtf(args: &[&str]) -> (i32, String, String) {
    kbtf_testkit::run(env!("CARGO_BIN_EXE_kbtf"), args)
}

#[test]
fn every_dwarf_fixture_equals_pahole() {
    let objects = files_with_ext(&testdata("dwarf"), &["o"]);
    assert!(objects.len() >= 18, "fixtures missing: {objects:?}");
    let dir = tempfile::tempdir().unwrap();
    let mut bad = Vec::new();
    for obj in &objects {
        let name = obj.file_stem().unwrap().to_string_lossy().into_owned();
        let out = dir.path().join(format!("{name}.btf"));
        let detached = format!("--btf_encode_detached={}", out.display());
        // The fixtures' pahole references were made with --btf_gen_floats (docs/testing.md).
        let (code, _, err) = kbtf(&[
            "-J",
            "--btf_gen_floats",
            &detached,
            &obj.display().to_string(),
        ]);
        if code != 0 {
            bad.push(format!("{name}: kbtf -J failed: {err}"));
            continue;
        }
        let reference = obj.with_file_name(format!("{name}.pahole.btf"));
        let (code, out, _) = kbtf(&[
            "diff",
            &out.display().to_string(),
            &reference.display().to_string(),
        ]);
        if code != 0 {
            bad.push(format!("{name}: differs from pahole 1.24:\n{out}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn in_place_encoding_of_an_object() {
    let dir = tempfile::tempdir().unwrap();
    let obj = dir.path().join("records.o");
    std::fs::copy(testdata("dwarf/records.dwarf5.o"), &obj).unwrap();
    let (code, _, err) = kbtf(&["-J", "--btf_gen_floats", &obj.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    let reference = testdata("dwarf/records.dwarf5.pahole.btf");
    let (code, out, _) = kbtf(&[
        "diff",
        &obj.display().to_string(),
        &reference.display().to_string(),
    ]);
    assert_eq!(code, 0, "{out}");
}

/// Detached output to `/dev/stdout`, as with pahole: into a pipe the bytes arrive, the same
/// as those written to a file; a module reached through a symbolic link is rewritten where
/// the link points, and the link stays. The test's own link to `/proc/self/fd/1` stands
/// for `/dev/stdout`: a regression must not replace the machine's (as root, kbtf before
/// e8056f2 renamed a regular file over it).
#[test]
fn detached_to_stdout_and_in_place_through_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let obj = testdata("dwarf/records.dwarf5.o");
    let file = dir.path().join("records.btf");
    let (code, _, err) = kbtf(&[
        "-J",
        &format!("--btf_encode_detached={}", file.display()),
        &obj.display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    let stdout = dir.path().join("stdout");
    std::os::unix::fs::symlink("/proc/self/fd/1", &stdout).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kbtf"))
        .arg("-J")
        .arg(format!("--btf_encode_detached={}", stdout.display()))
        .arg(&obj)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, std::fs::read(&file).unwrap());

    let real = dir.path().join("real.o");
    std::fs::copy(&obj, &real).unwrap();
    let link = dir.path().join("link.o");
    std::os::unix::fs::symlink("real.o", &link).unwrap();
    let (code, _, err) = kbtf(&["-J", &link.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let (code, out, _) = kbtf(&[
        "diff",
        &real.display().to_string(),
        &file.display().to_string(),
    ]);
    assert_eq!(code, 0, "{out}");
}

/// Damaged DWARF: one line naming the file, the unit and the DIE; exit 2; the input file is
/// unchanged and no detached output is written.
#[test]
fn damaged_dwarf_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let obj = dir.path().join("damaged.o");
    let mut data = std::fs::read(testdata("encoder/shapes-dwarf5.o")).unwrap();
    let info = {
        use object::{Object, ObjectSection};
        let f = object::File::parse(&*data).unwrap();
        f.section_by_name(".debug_info")
            .unwrap()
            .file_range()
            .unwrap()
            .0 as usize
    };
    // The root DIE's abbreviation code, right after the 12-byte DWARF 5 unit header.
    data[info + 12] = 0x7f;
    std::fs::write(&obj, &data).unwrap();
    let out = dir.path().join("out.btf");
    let o = obj.display().to_string();
    for args in [
        vec!["-J", &o],
        vec!["-J", "--btf_encode_detached", out.to_str().unwrap(), &o],
    ] {
        let (code, _, err) = kbtf(&args);
        assert_eq!(code, 2, "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&o) && err.contains("CU at 0x0") && err.contains("DIE at 0xc"),
            "{err}"
        );
        assert_eq!(
            std::fs::read(&obj).unwrap(),
            data,
            "the input file is unchanged"
        );
        assert!(!out.exists(), "no output written");
    }
}

/// Inputs that are not what -J needs: a missing file, a directory, a module without DWARF.
#[test]
fn bad_inputs_to_encode() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.ko").display().to_string();
    let (code, _, err) = kbtf(&["-J", &missing]);
    assert_eq!(code, 2);
    assert!(err.contains("missing.ko"), "{err}");
    let (code, _, err) = kbtf(&["-J", &dir.path().display().to_string()]);
    assert_eq!(code, 2, "{err}");
    // The shipped module is stripped of DWARF.
    let ko = dir.path().join("dummy.ko");
    std::fs::copy(testdata("modules-6.1/dummy.ko"), &ko).unwrap();
    let before = std::fs::read(&ko).unwrap();
    let base = testdata("vmlinux-6.1.btf").display().to_string();
    let (code, _, err) = kbtf(&["-J", "--btf_base", &base, &ko.display().to_string()]);
    eprintln!("{err}");
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        std::fs::read(&ko).unwrap(),
        before,
        "the module is unchanged"
    );
    // A base that is not BTF.
    let ko2 = dir.path().join("dummy2.ko");
    std::fs::copy(testdata("modules-6.1-dbg/dummy.ko"), &ko2).unwrap();
    let before = std::fs::read(&ko2).unwrap();
    let (code, _, err) = kbtf(&[
        "-J",
        "--btf_base",
        &ko2.display().to_string().replace("dummy2", "missing"),
        &ko2.display().to_string(),
    ]);
    assert_eq!(code, 2, "{err}");
    let not_btf = testdata("c/kinds.c").display().to_string();
    let (code, _, err) = kbtf(&["-J", "--btf_base", &not_btf, &ko2.display().to_string()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--btf_base") && err.contains("kinds.c"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&ko2).unwrap(),
        before,
        "the module is unchanged"
    );
}

/// A module on a read-only file system: `kbtf -J` fails with one line naming the file and the
/// reason, and the module is unchanged. Mounting a read-only tmpfs needs root, so this runs in
/// the real-kernel tier (`cargo xtask test`, as CI does), where a failure to mount fails it.
#[test]
#[ignore = "needs root to mount a tmpfs: run by `cargo xtask test`"]
fn unwritable_module_is_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("ro");
    std::fs::create_dir(&mnt).unwrap();
    let run = |args: &[&str]| {
        let st = Command::new(args[0]).args(&args[1..]).status().unwrap();
        assert!(st.success(), "{args:?}");
    };
    let m = mnt.display().to_string();
    run(&["mount", "-t", "tmpfs", "-o", "size=4M", "none", &m]);
    let ko = mnt.join("dummy.ko");
    std::fs::copy(testdata("modules-6.1-dbg/dummy.ko"), &ko).unwrap();
    run(&["mount", "-o", "remount,ro", &m]);
    let before = std::fs::read(&ko).unwrap();
    let base = testdata("vmlinux-6.1.btf").display().to_string();
    let (code, _, err) = kbtf(&["-J", "--btf_base", &base, &ko.display().to_string()]);
    let after = std::fs::read(&ko).unwrap();
    run(&["umount", &m]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("dummy.ko") && err.contains("Read-only file system"),
        "{err}"
    );
    assert_eq!(after, before, "the module is unchanged");
}

/// A full disk (ENOSPC, simulated by a tmpfs just big enough for the module): `kbtf -J`
/// fails with one line naming the file and the reason, the module is unchanged and no temp
/// file is left. Needs root to mount the tmpfs: run in the real-kernel tier.
#[test]
#[ignore = "needs root to mount a tmpfs: run by `cargo xtask test`"]
fn full_disk_leaves_the_module_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("full");
    std::fs::create_dir(&mnt).unwrap();
    let run = |args: &[&str]| {
        let st = Command::new(args[0]).args(&args[1..]).status().unwrap();
        assert!(st.success(), "{args:?}");
    };
    let m = mnt.display().to_string();
    let src = testdata("modules-6.1-dbg/dummy.ko");
    let size = std::fs::metadata(&src).unwrap().len();
    // Room for the module and a few pages, not for a second copy of it.
    let opt = format!("size={}k", size / 1024 + 64);
    run(&["mount", "-t", "tmpfs", "-o", &opt, "none", &m]);
    let ko = mnt.join("dummy.ko");
    std::fs::copy(&src, &ko).unwrap();
    let before = std::fs::read(&ko).unwrap();
    let base = testdata("vmlinux-6.1.btf").display().to_string();
    let (code, _, err) = kbtf(&["-J", "--btf_base", &base, &ko.display().to_string()]);
    let after = std::fs::read(&ko).unwrap();
    let left: Vec<_> = std::fs::read_dir(&mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    run(&["umount", &m]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("dummy.ko") && err.contains("No space left on device"),
        "{err}"
    );
    assert_eq!(after, before, "the module is unchanged");
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("dummy.ko")],
        "no temp file left"
    );
}

/// A read-only module file (mode 0444, owned by root) in a directory anyone may write to,
/// rewritten by another user: refused with one line naming the file (pahole's in-place write
/// would fail the same way), not replaced through the directory. Needs root to run kbtf as
/// `nobody` (setpriv): run in the real-kernel tier.
#[test]
#[ignore = "needs root to run kbtf as another user: run by `cargo xtask test`"]
fn read_only_module_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let ko = dir.path().join("dummy.ko");
    std::fs::copy(testdata("modules-6.1-dbg/dummy.ko"), &ko).unwrap();
    std::fs::set_permissions(&ko, std::fs::Permissions::from_mode(0o444)).unwrap();
    let base = dir.path().join("vmlinux.btf");
    std::fs::copy(testdata("vmlinux-6.1.btf"), &base).unwrap();
    let before = std::fs::read(&ko).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_kbtf"))
        .args(["-J", "--btf_base"])
        .arg(&base)
        .arg(&ko)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("dummy.ko") && err.contains("Permission denied"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&ko).unwrap(),
        before,
        "the module is unchanged"
    );
    let mode = std::fs::metadata(&ko).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o444);
}

/// The base index cache (crates/cli/src/basecache.rs) never changes output: a module encoded
/// with no cache, a cold one, a warm one and a damaged one is the same file, byte for byte;
/// a damaged cache file is replaced by a good one.
#[test]
fn base_index_cache_never_changes_output() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let base = testdata("vmlinux-6.1.btf").display().to_string();
    let run = |tag: &str, envs: &[(&str, &std::path::Path)]| -> Vec<u8> {
        let ko = dir.path().join(format!("dummy-{tag}.ko"));
        std::fs::copy(testdata("modules-6.1-dbg/dummy.ko"), &ko).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_kbtf"))
            .args(["-J", "--btf_gen_floats", "--btf_base", &base])
            .arg(&ko)
            .env_remove("KBTF_BASE_CACHE")
            .env_remove("KBTF_BASE_CACHE_DIR")
            .envs(envs.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{tag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(&ko).unwrap()
    };
    let off = std::path::Path::new("off");
    let none = run("none", &[("KBTF_BASE_CACHE", off)]);
    let on = [("KBTF_BASE_CACHE_DIR", cache.as_path())];
    let cold = run("cold", &on);
    let files = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    };
    assert_eq!(
        files().len(),
        1,
        "one cache file, no temp file: {:?}",
        files()
    );
    let good = std::fs::read(&files()[0]).unwrap();
    let warm = run("warm", &on);
    assert_eq!(
        std::fs::read(&files()[0]).unwrap(),
        good,
        "a hit leaves it as it is"
    );
    for at in [20, good.len() / 3, good.len() / 2, good.len() - 4] {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        std::fs::write(&files()[0], &bad).unwrap();
        let damaged = run("damaged", &on);
        assert_eq!(damaged, none, "damaged at {at}");
        assert_eq!(
            std::fs::read(&files()[0]).unwrap(),
            good,
            "rewritten after damage at {at}"
        );
    }
    std::fs::write(&files()[0], b"short").unwrap();
    assert_eq!(run("short", &on), none);
    assert_eq!(cold, none, "cold cache");
    assert_eq!(warm, none, "warm cache");
    // An unwritable cache location is no cache, silently.
    let blocked = dir.path().join("a-file");
    std::fs::write(&blocked, b"").unwrap();
    let sub = blocked.join("cache");
    assert_eq!(
        run("blocked", &[("KBTF_BASE_CACHE_DIR", sub.as_path())]),
        none
    );
}

/// `-jN` is at most N threads: a module whose `.debug_info` is under a MiB is encoded on one
/// (`kbtf_encoder::useful_threads`), into the same bytes as `-j1`.
#[test]
fn small_module_runs_on_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    let base = testdata("vmlinux-6.1.btf").display().to_string();
    let run = |jobs: &str| -> (Vec<u8>, String) {
        let out = dir.path().join(format!("dummy{jobs}.btf"));
        let detached = format!("--btf_encode_detached={}", out.display());
        let o = Command::new(env!("CARGO_BIN_EXE_kbtf"))
            .args([
                "-J",
                jobs,
                "--btf_gen_floats",
                "--btf_base",
                &base,
                &detached,
            ])
            .arg(testdata("modules-6.1-dbg/dummy.ko"))
            .env("KBTF_TIMINGS", "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{jobs}: {err}");
        (std::fs::read(&out).unwrap(), err)
    };
    let (one, one_err) = run("-j1");
    let (two, two_err) = run("-j2");
    assert!(two_err.contains("one thread of 2"), "{two_err}");
    assert!(!two_err.contains("pipeline waits"), "{two_err}");
    assert!(!one_err.contains("one thread of"), "{one_err}");
    assert!(one == two, "-j1 and -j2 give different bytes");
}
