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
    let io = |err| EmitError::Io {
        path: path.to_owned(),
        err,
    };
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
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".kbtf-tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    fill(tmp.as_file_mut()).map_err(io)?;
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
