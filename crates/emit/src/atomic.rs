//! Replacing a file's contents atomically: a temp file in the same directory, written and
//! synced, then renamed over the target, with the target's permission bits, owner and group
//! kept.
//!
//! A reader (or a crash) sees either the old bytes or the new, complete bytes, never a
//! half-written file; a process killed between writing the temp file and the rename leaves
//! that temp file (`.NAME.XXXXXX.kbtf-tmp`) beside the old file. A file the caller may not
//! write is refused, not replaced through its directory. Concurrent writers of the same file
//! each rename a complete file; the last rename wins.
//!
//! What is replaced is the file a path names after symbolic links: a symlink is written
//! through, as pahole (by objcopy) and any `open` for writing do, so the link stays a link
//! and its target gets the new bytes (the temp file then lies beside the target). Other
//! hard links of the file keep the old bytes: the rename gives the path a new inode. That is
//! the price of never writing a file in place, and it is what an OSTree deployment, whose
//! files are hard links into its object store, needs (`sed -i` and rpm do the same). The
//! owner and group are kept where the process may set them (as root); elsewhere the new file
//! is the caller's, as a file the caller creates would be.

use std::io::Write;
use std::path::Path;

use crate::error::EmitError;

/// Writes `data` to `path` atomically. If `path` exists, its mode is kept; otherwise the new
/// file gets the default mode (0644 less the umask).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), EmitError> {
    write_atomic_with(path, |f| f.write_all(data))
}

/// [`write_atomic`] with the contents written by `fill` into the temp file (empty, at offset
/// 0), for contents that are not in memory as one slice ([`crate::Patched::write_to`]).
///
/// A path that names something other than a regular file or a directory (a FIFO, a
/// terminal, `/dev/stdout`, `/dev/null`) has nothing to replace: it is opened and written
/// as it stands, as pahole writes `--btf_encode_detached /dev/stdout`.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), EmitError> {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|err| io_error(path, err))?;
        return fill(&mut f).map_err(|err| io_error(path, err));
    }
    let (mut tmp, old) = prepare(path)?;
    fill(tmp.as_file_mut()).map_err(|err| io_error(path, err))?;
    commit(path, tmp, old)
}

/// A temp file beside `path` being filled, on a thread of its own, with a copy of the file
/// `path` is read from, started before the new contents are known: for a large file (a
/// 590 MB vmlinux) the copy then overlaps the work that decides them instead of following
/// it. [`PreCopy::finish`] makes the copy the new contents and renames it over `path`.
/// Dropped unfinished, it waits for the copy and removes the temp file. A process killed
/// meanwhile leaves the temp file, as [`write_atomic`] does when killed before its rename.
pub struct PreCopy {
    path: std::path::PathBuf,
    old: Old,
    copy: Option<std::thread::JoinHandle<std::io::Result<(tempfile::NamedTempFile, u64)>>>,
}

impl PreCopy {
    /// Starts copying `source` (the open file `path` is read from) to a temp file beside
    /// `path`. Fails, as [`write_atomic`] would, if `path` may not be written.
    pub fn start(path: &Path, source: &std::fs::File) -> Result<PreCopy, EmitError> {
        let (mut tmp, old) = prepare(path)?;
        let src = source.try_clone().map_err(|err| io_error(path, err))?;
        let copy = std::thread::Builder::new()
            .name("kbtf-precopy".into())
            .spawn(move || {
                // The copy goes to disk now, while the new contents are still being worked
                // out: the sync before the rename then has only what `finish` changed to
                // write, not the whole file.
                let tmp_path = tmp.path().to_owned();
                let n = crate::copy::copy_durable(&src, tmp.as_file_mut(), &tmp_path)?;
                Ok((tmp, n))
            })
            .map_err(|err| io_error(path, err))?;
        Ok(PreCopy {
            path: path.to_owned(),
            old,
            copy: Some(copy),
        })
    }

    /// Waits for the copy, lets `fill` make it the new contents (given the temp file and the
    /// number of bytes copied), then syncs and renames it over the path, keeping its mode.
    pub fn finish(
        mut self,
        fill: impl FnOnce(&mut std::fs::File, u64) -> std::io::Result<()>,
    ) -> Result<(), EmitError> {
        let (mut tmp, copied) = self.wait()?;
        fill(tmp.as_file_mut(), copied).map_err(|err| io_error(&self.path, err))?;
        let old = std::mem::take(&mut self.old);
        commit(&self.path, tmp, old)
    }

    fn wait(&mut self) -> Result<(tempfile::NamedTempFile, u64), EmitError> {
        let Some(copy) = self.copy.take() else {
            return Err(io_error(
                &self.path,
                std::io::Error::other("the copy was already taken"),
            ));
        };
        match copy.join() {
            Ok(r) => r.map_err(|err| io_error(&self.path, err)),
            Err(_) => Err(io_error(
                &self.path,
                std::io::Error::other("the thread copying the file panicked"),
            )),
        }
    }
}

impl Drop for PreCopy {
    fn drop(&mut self) {
        // Not left running past the process's other work: the temp file is removed when the
        // copy is dropped here.
        if let Some(copy) = self.copy.take() {
            let _ = copy.join();
        }
    }
}

fn io_error(path: &Path, err: std::io::Error) -> EmitError {
    EmitError::Io {
        path: path.to_owned(),
        err,
    }
}

/// What is kept of the file being replaced: where it is (`path` with symbolic links
/// followed) and, if it exists, its permissions, owner and group.
#[derive(Default)]
struct Old {
    target: Option<std::path::PathBuf>,
    kept: Option<Kept>,
}

/// The permissions, owner and group of a file being replaced.
struct Kept {
    perm: std::fs::Permissions,
    uid: u32,
    gid: u32,
}

impl Kept {
    fn of(m: &std::fs::Metadata) -> Kept {
        use std::os::unix::fs::MetadataExt;
        Kept {
            perm: m.permissions(),
            uid: m.uid(),
            gid: m.gid(),
        }
    }
}

/// Symbolic links longer than this chain are refused (Linux's own limit, `ELOOP`).
const MAX_LINKS: usize = 40;

/// `path` with the symbolic links of its last component followed, to a path that is not a
/// link (which need not exist: writing through a dangling link creates its target, as
/// `open(O_CREAT)` does).
fn follow_links(path: &Path) -> std::io::Result<std::path::PathBuf> {
    let mut p = path.to_owned();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            Ok(_) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(p),
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::from_raw_os_error(libc::ELOOP))
}

/// Checks that `path` may be written and makes an empty temp file beside the file it names
/// (symbolic links followed); returns it and what is kept of the old file.
fn prepare(path: &Path) -> Result<(tempfile::NamedTempFile, Old), EmitError> {
    let io = |err| io_error(path, err);
    let target = follow_links(path).map_err(io)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let meta = match std::fs::metadata(&target) {
        Ok(m) => Some(Kept::of(&m)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    // A file we may not write is not replaced behind its back through the directory: opening
    // it for writing (without truncating) asks the kernel, as pahole's in-place write would
    // (EACCES for a read-only file of another user, EROFS on a read-only mount).
    if meta.is_some() {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&target)
            .map_err(io)?;
    }
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".kbtf-tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    Ok((
        tmp,
        Old {
            target: Some(target),
            kept: meta,
        },
    ))
}

/// Syncs the filled temp file, gives it the old file's owner, group and permissions (or
/// the usual mode of a new file) and renames it over the file `path` names.
fn commit(path: &Path, tmp: tempfile::NamedTempFile, old: Old) -> Result<(), EmitError> {
    let io = |err| io_error(path, err);
    tmp.as_file().sync_all().map_err(io)?;
    match &old.kept {
        Some(m) => {
            keep_owner(tmp.as_file(), m).map_err(io)?;
            // After the owner: a change of owner clears set-user-ID and set-group-ID bits.
            tmp.as_file().set_permissions(m.perm.clone()).map_err(io)?;
        }
        None => {
            // tempfile creates 0600; give a new file the usual mode instead.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let umask = current_umask();
                let mode = 0o666 & !umask;
                tmp.as_file()
                    .set_permissions(std::fs::Permissions::from_mode(mode))
                    .map_err(io)?;
            }
        }
    }
    let target = old.target.unwrap_or_else(|| path.to_owned());
    tmp.persist(&target).map_err(|e| io(e.error))?;
    Ok(())
}

/// Gives `file` the owner and group of `old` where they differ and the process may set
/// them; a process that may not (not root, or a filesystem without owners) leaves the file
/// its own, as the `EPERM` of any other caller's `chown` would.
#[cfg(unix)]
fn keep_owner(file: &std::fs::File, old: &Kept) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let now = file.metadata()?;
    if (now.uid(), now.gid()) == (old.uid, old.gid) {
        return Ok(());
    }
    match std::os::unix::fs::fchown(file, Some(old.uid), Some(old.gid)) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            // Not allowed the owner: the group alone may still be ours to give.
            match std::os::unix::fs::fchown(file, None, Some(old.gid)) {
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => Ok(()),
                r => r,
            }
        }
        r => r,
    }
}

#[cfg(not(unix))]
fn keep_owner(_file: &std::fs::File, _old: &Kept) -> std::io::Result<()> {
    Ok(())
}

/// The process umask, read without changing it for longer than the call.
#[cfg(unix)]
fn current_umask() -> u32 {
    // std has no umask getter; /proc/self/status carries it on Linux.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}
