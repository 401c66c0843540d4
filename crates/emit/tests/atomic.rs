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

/// A path that is a symbolic link is written through, as pahole (by objcopy) writes it: the
/// link stays, its target gets the new bytes and keeps its mode, and the temp file lay
/// beside the target (none is left in either directory). Relative, absolute and chained
/// links alike.
#[test]
fn writes_through_symbolic_links() {
    use std::ffi::OsString;
    use std::os::unix::fs::symlink;
    let (links, targets) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let target = targets.path().join("real.ko");
    std::fs::write(&target, b"old").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    // links/abs.ko -> /…/targets/real.ko; links/rel.ko -> abs.ko (relative, a chain).
    symlink(&target, links.path().join("abs.ko")).unwrap();
    symlink("abs.ko", links.path().join("rel.ko")).unwrap();

    for (name, data) in [("abs.ko", &b"first"[..]), ("rel.ko", &b"second"[..])] {
        let p = links.path().join(name);
        write_atomic(&p, data).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), data, "{name}");
        assert!(is_link(&p), "{name} is still a link");
        assert_eq!(
            std::fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o640
        );
    }
    assert_eq!(
        names(links.path()),
        vec![OsString::from("abs.ko"), OsString::from("rel.ko")]
    );
    assert_eq!(names(targets.path()), vec![OsString::from("real.ko")]);

    // A pre-copy through a link, too.
    let src = std::fs::File::open(&target).unwrap();
    let p = links.path().join("rel.ko");
    kbtf_emit::PreCopy::start(&p, &src)
        .unwrap()
        .finish(|f, copied| {
            use std::io::{Seek, Write};
            f.seek(std::io::SeekFrom::Start(copied))?;
            f.write_all(b"+")
        })
        .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"second+");
    assert!(is_link(&p));
    assert_eq!(names(targets.path()), vec![OsString::from("real.ko")]);
}

fn is_link(p: &std::path::Path) -> bool {
    std::fs::symlink_metadata(p)
        .unwrap()
        .file_type()
        .is_symlink()
}

/// A dangling link is written through too, creating its target, as `open(O_CREAT)` would;
/// a loop of links is an error that names the path, and nothing is created.
#[test]
fn dangling_link_creates_its_target_and_a_loop_is_refused() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    symlink("new.btf", dir.path().join("out.btf")).unwrap();
    write_atomic(&dir.path().join("out.btf"), b"x").unwrap();
    assert_eq!(std::fs::read(dir.path().join("new.btf")).unwrap(), b"x");

    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    symlink("b", &a).unwrap();
    symlink("a", &b).unwrap();
    let err = write_atomic(&a, b"x").unwrap_err().to_string();
    assert!(err.starts_with(&a.display().to_string()), "{err}");
    assert!(err.contains("symbolic links"), "{err}");
    assert_eq!(names(dir.path()).len(), 4, "a, b, new.btf, out.btf only");
}

/// Another hard link of the file keeps the old bytes: the rename gives the path a new inode
/// rather than writing the shared one in place (see the module's documentation).
#[test]
fn other_hard_links_keep_the_old_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (p, other) = (dir.path().join("mod.ko"), dir.path().join("store"));
    std::fs::write(&p, b"old").unwrap();
    std::fs::hard_link(&p, &other).unwrap();
    write_atomic(&p, b"new").unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"new");
    assert_eq!(std::fs::read(&other).unwrap(), b"old");
}

/// The owner and group are kept. Giving a file to another user takes root: as another user
/// the test checks that the write still succeeds and the file is the caller's.
#[test]
fn keeps_owner_and_group() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mod.ko");
    std::fs::write(&p, b"old").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    let me = std::fs::metadata(&p).unwrap();
    let root = std::os::unix::fs::chown(&p, Some(4321), Some(8765)).is_ok();
    write_atomic(&p, b"new").unwrap();
    let m = std::fs::metadata(&p).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"new");
    assert_eq!(m.mode() & 0o7777, 0o644);
    if root {
        assert_eq!((m.uid(), m.gid()), (4321, 8765));
    } else {
        eprintln!("note: not root: only the caller's own file was checked");
        assert_eq!((m.uid(), m.gid()), (me.uid(), me.gid()));
    }
}

/// What is not a regular file is written as it stands, not replaced: a FIFO stays a FIFO
/// and its reader gets the bytes, reached directly or through a link (as `/dev/stdout`
/// links to `/proc/self/fd/1`). Only files the test made are written: a regression here
/// must not replace a device of the machine's.
#[test]
fn special_files_are_written_not_replaced() {
    use std::io::Read;
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path and a mode.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let link = dir.path().join("stdout");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    for (path, data) in [
        (&fifo, &b"through the pipe"[..]),
        (&link, &b"and the link"[..]),
    ] {
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                std::fs::File::open(&fifo)
                    .unwrap()
                    .read_to_end(&mut got)
                    .unwrap();
                got
            })
        };
        write_atomic(path, data).unwrap();
        assert_eq!(reader.join().unwrap(), data);
    }
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(is_link(&link));
    assert_eq!(
        names(dir.path()),
        vec![
            std::ffi::OsString::from("fifo"),
            std::ffi::OsString::from("stdout")
        ]
    );
}
