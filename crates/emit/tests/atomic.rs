//! Atomic replacement keeps the mode, leaves no temp file, and refuses what it cannot write.

use std::os::unix::fs::PermissionsExt;

use kbtf_emit::write_atomic;

#[test]
fn replaces_and_keeps_mode() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mod.ko");
    std::fs::write(&p, b"old").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
    write_atomic(&p, b"new contents").unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"new contents");
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("mod.ko")],
        "no temp file left"
    );
}

#[test]
fn new_file_gets_the_usual_mode() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("out.btf");
    write_atomic(&p, b"x").unwrap();
    let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    assert_ne!(mode, 0o600, "not the temp file's private mode");
}

#[test]
fn missing_directory_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nope/out.btf");
    let err = write_atomic(&p, b"x").unwrap_err().to_string();
    assert!(err.starts_with(&p.display().to_string()), "{err}");
}

/// The names in `dir`, sorted.
fn names(dir: &std::path::Path) -> Vec<std::ffi::OsString> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    v.sort();
    v
}

/// A pre-copy finished over the old bytes gives the new contents, keeps the mode and leaves
/// no temp file; dropped unfinished, it leaves the file as it was and no temp file either.
#[test]
fn pre_copy_finishes_or_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("vmlinux");
    let old: Vec<u8> = (0..=255u8).cycle().take(3 << 20).collect();
    std::fs::write(&p, &old).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
    let mut patched = kbtf_emit::Patched::new(&old);
    patched.write(1000, b"edited").unwrap();
    patched.append(b"appended");
    let want = patched.to_vec();

    // Dropped: nothing changes.
    let src = std::fs::File::open(&p).unwrap();
    drop(kbtf_emit::PreCopy::start(&p, &src).unwrap());
    assert_eq!(std::fs::read(&p).unwrap(), old);
    assert_eq!(names(dir.path()), vec![std::ffi::OsString::from("vmlinux")]);

    // Finished: the new contents, by the same edits as a plain rewrite.
    let pre = kbtf_emit::PreCopy::start(&p, &src).unwrap();
    pre.finish(|f, copied| {
        assert_eq!(copied, old.len() as u64);
        patched.write_over_copy(f, copied)
    })
    .unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), want);
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert_eq!(names(dir.path()), vec![std::ffi::OsString::from("vmlinux")]);
}

/// A pre-copy whose temp file cannot be made (the directory is gone) fails at the start,
/// naming the file, before anything is copied.
#[test]
fn pre_copy_fails_at_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let src_path = dir.path().join("src");
    std::fs::write(&src_path, b"old").unwrap();
    let src = std::fs::File::open(&src_path).unwrap();
    let p = dir.path().join("gone").join("vmlinux");
    let err = kbtf_emit::PreCopy::start(&p, &src).err().unwrap();
    assert!(err.to_string().contains("vmlinux"), "{err}");
}
