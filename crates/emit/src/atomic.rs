//! Replacing a file's contents atomically: a temp file in the same directory, written and
//! synced, then renamed over the target, with the target's permission bits kept.
//!
//! A reader (or a crash) sees either the old bytes or the new, complete bytes, never a
//! half-written file; a process killed between writing the temp file and the rename leaves
//! that temp file (`.NAME.XXXXXX.kbtf-tmp`) beside the old file. A file the caller may not
//! write is refused, not replaced through its directory. Concurrent writers of the same file each rename a complete file; the last
//! rename wins.

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
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), EmitError> {
    let (mut tmp, old_perm) = prepare(path)?;
    fill(tmp.as_file_mut()).map_err(|err| io_error(path, err))?;
    commit(path, tmp, old_perm)
}

/// A temp file beside `path` being filled, on a thread of its own, with a copy of the file
/// `path` is read from, started before the new contents are known: for a large file (a
/// 590 MB vmlinux) the copy then overlaps the work that decides them instead of following
/// it. [`PreCopy::finish`] makes the copy the new contents and renames it over `path`.
/// Dropped unfinished, it waits for the copy and removes the temp file. A process killed
/// meanwhile leaves the temp file, as [`write_atomic`] does when killed before its rename.
pub struct PreCopy {
    path: std::path::PathBuf,
    old_perm: Option<std::fs::Permissions>,
    copy: Option<std::thread::JoinHandle<std::io::Result<(tempfile::NamedTempFile, u64)>>>,
}

impl PreCopy {
    /// Starts copying `source` (the open file `path` is read from) to a temp file beside
    /// `path`. Fails, as [`write_atomic`] would, if `path` may not be written.
    pub fn start(path: &Path, source: &std::fs::File) -> Result<PreCopy, EmitError> {
        let (mut tmp, old_perm) = prepare(path)?;
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
            old_perm,
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
        commit(&self.path, tmp, self.old_perm.take())
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

/// Checks that `path` may be written and makes an empty temp file beside it; returns it and
/// `path`'s permissions (if it exists).
fn prepare(
    path: &Path,
) -> Result<(tempfile::NamedTempFile, Option<std::fs::Permissions>), EmitError> {
    let io = |err| io_error(path, err);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let old_perm = match std::fs::metadata(path) {
        Ok(m) => Some(m.permissions()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    // A file we may not write is not replaced behind its back through the directory: opening
    // it for writing (without truncating) asks the kernel, as pahole's in-place write would
    // (EACCES for a read-only file of another user, EROFS on a read-only mount).
    if old_perm.is_some() {
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".kbtf-tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    Ok((tmp, old_perm))
}

/// Syncs the filled temp file, gives it `old_perm` (or the usual mode of a new file) and
/// renames it over `path`.
fn commit(
    path: &Path,
    tmp: tempfile::NamedTempFile,
    old_perm: Option<std::fs::Permissions>,
) -> Result<(), EmitError> {
    let io = |err| io_error(path, err);
    tmp.as_file().sync_all().map_err(io)?;
    match old_perm {
        Some(p) => tmp.as_file().set_permissions(p).map_err(io)?,
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
    tmp.persist(path).map_err(|e| io(e.error))?;
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
