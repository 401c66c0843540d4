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
