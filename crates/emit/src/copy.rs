//! Copying a large file into a new one, from the page cache straight to the disk.
//!
//! [`crate::PreCopy`] copies a whole vmlinux (590 MB) to change a few MB of it. A buffered copy
//! (`copy_file_range` on a filesystem that cannot share extents) costs the CPU twice: the
//! kernel copies every page into new page-cache pages, then writes those back. Written with
//! `O_DIRECT` from a mapping of the source, the disk reads the source's own pages and no new
//! pages are made. That matters when the copy runs beside the encoding on a machine whose
//! every core is busy (`-j2` on two cores): a vmlinux written into on ext4 took 0.42 s of
//! system time with the buffered copy, 0.25 s with this one.
//!
//! Where `O_DIRECT` is refused (tmpfs before Linux 6.6, some network filesystems, a device
//! with blocks larger than 4 KiB), the copy falls back to the buffered one, from the start
//! or from where the direct writes stopped; the bytes written are the same either way.
//!
//! Before either, the copy asks the filesystem to share the source's extents with the new
//! file (`FICLONE`: btrfs, XFS with reflink, bcachefs, OCFS2, NFS 4.2 servers that clone).
//! Nothing is then copied at all, and the section `finish` rewrites is the only part that gets
//! blocks of its own. A direct copy on such a filesystem would write the whole file again.
//! Where cloning is refused (ext4, tmpfs, another filesystem than the source's), nothing was
//! written and the copy goes on as above.

use std::fs::File;
use std::io;
use std::path::Path;

/// Bytes per direct write; a multiple of every logical block size.
const CHUNK: usize = 8 << 20;
/// The alignment asked of direct writes' offsets and lengths: 4096 is a multiple of any
/// device's logical block size up to a page.
const ALIGN: usize = 4096;

/// Copies all of `src` into `dst` (empty, open for writing at `dst_path`) and makes the copy
/// durable (`fdatasync`). Returns the number of bytes copied.
pub(crate) fn copy_durable(src: &File, dst: &mut File, dst_path: &Path) -> io::Result<u64> {
    let copied = match clone_whole(src, dst)? {
        Some(n) => n,
        None => match copy_direct(src, dst, dst_path)? {
            Some(n) => n,
            None => copy_buffered(src, dst)?,
        },
    };
    dst.sync_data()?;
    Ok(copied)
}

/// Makes `dst` (empty) share all of `src`'s extents; `None` if the filesystem cannot (the
/// caller then copies the bytes), with `dst` still empty.
#[cfg(target_os = "linux")]
fn clone_whole(src: &File, dst: &File) -> io::Result<Option<u64>> {
    use std::os::fd::AsRawFd;
    if std::env::var_os("KBTF_NO_REFLINK").is_some() {
        return Ok(None);
    }
    let len = src.metadata()?.len();
    // SAFETY: FICLONE reads one int, the source descriptor, passed by value; both
    // descriptors are open for the whole call.
    let r = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) };
    if r == 0 {
        return Ok(Some(len));
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        // Not a filesystem that shares extents (ENOTTY: no such ioctl here, tmpfs;
        // EOPNOTSUPP: the filesystem or this mount cannot; EXDEV: another filesystem;
        // EINVAL: sizes or offsets the filesystem will not clone; EPERM/EACCES: a source
        // marked append-only or swap, or a policy against it). A failed clone leaves the
        // destination as it was.
        Some(libc::ENOTTY)
        | Some(libc::EOPNOTSUPP)
        | Some(libc::EXDEV)
        | Some(libc::EINVAL)
        | Some(libc::EPERM)
        | Some(libc::EACCES)
        | Some(libc::ETXTBSY) => Ok(None),
        _ => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn clone_whole(_src: &File, _dst: &File) -> io::Result<Option<u64>> {
    Ok(None)
}

/// The buffered copy, from the start of `src` into `dst` from its start.
fn copy_buffered(src: &File, dst: &mut File) -> io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    // A clone shares the offset: read from the start, not from wherever the source is.
    let mut src = src.try_clone()?;
    src.seek(SeekFrom::Start(0))?;
    dst.set_len(0)?;
    dst.seek(SeekFrom::Start(0))?;
    std::io::copy(&mut src, dst)
}

/// The direct copy; `None` if the filesystem refuses direct writes before any byte is
/// written (the caller then copies buffered).
#[cfg(target_os = "linux")]
fn copy_direct(src: &File, dst: &File, dst_path: &Path) -> io::Result<Option<u64>> {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};

    let len = src.metadata()?.len();
    let Ok(len_usize) = usize::try_from(len) else {
        return Ok(None);
    };
    if len_usize < ALIGN {
        return Ok(None);
    }
    let direct = match std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(dst_path)
    {
        Ok(f) => f,
        Err(e) if refused(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    // SAFETY: the mapping is only read, and only while this function runs. A source changed
    // underneath by another process gives a copy of mixed bytes (or SIGBUS if it shrinks),
    // as the mapping the encoder reads from already would.
    let Ok(map) = (unsafe { memmap2::Mmap::map(src) }) else {
        // A source that cannot be mapped is read through the page cache instead.
        return Ok(None);
    };
    let data: &[u8] = &map;
    let aligned = len_usize - len_usize % ALIGN;
    let mut at = 0;
    while at < aligned {
        let end = (at + CHUNK).min(aligned);
        let Some(chunk) = data.get(at..end) else {
            break;
        };
        let written = direct.write_at(chunk, at as u64);
        // The write mapped the chunk's pages into this process; they are not read again, so
        // they are given back, and the copy adds one chunk to the resident size, not the
        // whole file. (A read-only shared mapping: MADV_DONTNEED only unmaps.)
        // SAFETY: nothing borrows the chunk past this point; a later read would map the
        // file's bytes again, unchanged.
        let _ =
            unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, at, end - at) };
        match written {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            // A short direct write ends on a block boundary; the loop goes on from there.
            Ok(n) => at += n,
            Err(e) if at == 0 && refused(&e) => return Ok(None),
            // Refused further on: the rest goes through the page cache, below.
            Err(e) if refused(&e) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if at % ALIGN != 0 {
            break;
        }
    }
    // The unaligned rest (and anything after a short write that left an unaligned offset,
    // or after a refused write) through the page cache.
    if let Some(rest) = data.get(at..) {
        dst.write_all_at(rest, at as u64)?;
    }
    Ok(Some(len))
}

#[cfg(not(target_os = "linux"))]
fn copy_direct(_src: &File, _dst: &File, _dst_path: &Path) -> io::Result<Option<u64>> {
    Ok(None)
}

/// Whether `e` says direct writes are not supported here, rather than that writing failed.
#[cfg(target_os = "linux")]
fn refused(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::EOPNOTSUPP)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    /// Source sizes around the edges: empty, under one block, whole blocks, a tail, and more
    /// than one chunk with a tail.
    const SIZES: &[usize] = &[0, 100, ALIGN, 3 * ALIGN + 77, 2 * CHUNK + ALIGN + 5];

    fn source(len: usize) -> (tempfile::NamedTempFile, Vec<u8>) {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + i / 4096) as u8).collect();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&bytes).unwrap();
        // Left at the end: the copy must read from the start all the same.
        (f, bytes)
    }

    #[test]
    fn durable_copy_is_byte_for_byte() {
        for &len in SIZES {
            let (src, want) = source(len);
            let mut dst = tempfile::NamedTempFile::new().unwrap();
            let path = dst.path().to_owned();
            let n = copy_durable(src.as_file(), dst.as_file_mut(), &path).unwrap();
            assert_eq!(n, len as u64);
            assert_eq!(std::fs::read(&path).unwrap(), want, "{len} bytes");
        }
    }

    /// Where the filesystem takes direct writes, they give the same bytes; where it refuses
    /// them, nothing is written and the caller is told so.
    #[test]
    fn direct_copy_is_byte_for_byte_or_refused_untouched() {
        for &len in SIZES {
            let (src, want) = source(len);
            let dst = tempfile::NamedTempFile::new().unwrap();
            match copy_direct(src.as_file(), dst.as_file(), dst.path()).unwrap() {
                Some(n) => {
                    assert_eq!(n, len as u64);
                    assert_eq!(std::fs::read(dst.path()).unwrap(), want, "{len} bytes");
                }
                None => assert_eq!(std::fs::metadata(dst.path()).unwrap().len(), 0),
            }
        }
    }

    /// Where the filesystem shares extents (run with `TMPDIR` on btrfs or XFS to see it
    /// do so), the clone has the source's bytes; where it cannot, the file is left empty.
    #[test]
    fn clone_is_byte_for_byte_or_refused_untouched() {
        for &len in SIZES {
            let (src, want) = source(len);
            let dst = tempfile::NamedTempFile::new().unwrap();
            match clone_whole(src.as_file(), dst.as_file()).unwrap() {
                Some(n) => {
                    assert_eq!(n, len as u64);
                    assert_eq!(std::fs::read(dst.path()).unwrap(), want, "{len} bytes");
                }
                None => assert_eq!(std::fs::metadata(dst.path()).unwrap().len(), 0),
            }
        }
    }

    /// The fallback starts over from an empty file whatever the two offsets are.
    #[test]
    fn buffered_copy_starts_from_the_start() {
        let (src, want) = source(3 * ALIGN + 77);
        let mut dst = tempfile::NamedTempFile::new().unwrap();
        dst.write_all(b"stale bytes").unwrap();
        dst.as_file_mut().seek(SeekFrom::Start(4)).unwrap();
        let n = copy_buffered(src.as_file(), dst.as_file_mut()).unwrap();
        assert_eq!(n, want.len() as u64);
        assert_eq!(std::fs::read(dst.path()).unwrap(), want);
    }
}
