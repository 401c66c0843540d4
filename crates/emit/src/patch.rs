//! A file's new contents described as edits over its old bytes, so that a large file (a 590 MB
//! vmlinux) gets a new `.BTF` without its bytes being copied in memory.
//!
//! The new contents are the old bytes up to `keep`, with some ranges of them overwritten, then
//! appended bytes. [`Patched::write_to`] copies the kept bytes file to file
//! (`copy_file_range` where the kernel offers it, through `std::io::copy`), so the old bytes
//! never pass through this process's memory; only the headers, the edits and the appended
//! sections do.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::error::EmitError;

/// The old bytes, the edits over them, and what follows them.
#[derive(Debug, Clone)]
pub struct Patched<'a> {
    old: &'a [u8],
    /// The new contents start with `old[..keep]` (edits applied).
    keep: usize,
    /// Non-overlapping, non-adjacent overwrites inside `[0, keep)`, by start offset.
    edits: BTreeMap<usize, Vec<u8>>,
    /// The bytes after `keep`.
    tail: Vec<u8>,
}

impl<'a> Patched<'a> {
    /// `old`, unchanged.
    pub fn new(old: &'a [u8]) -> Patched<'a> {
        Patched {
            old,
            keep: old.len(),
            edits: BTreeMap::new(),
            tail: Vec::new(),
        }
    }

    /// Length of the new contents.
    pub fn len(&self) -> usize {
        self.keep + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes `[off, off + n)` of the new contents, or `None` past the end. Borrowed from
    /// the old bytes where no edit touches them.
    pub fn read(&self, off: usize, n: usize) -> Option<Cow<'a, [u8]>> {
        let end = off.checked_add(n)?;
        if end > self.len() {
            return None;
        }
        if off >= self.keep {
            return Some(Cow::Owned(
                self.tail[off - self.keep..end - self.keep].to_vec(),
            ));
        }
        let touched = self.edits_touching(off, end.min(self.keep));
        if end <= self.keep && touched.is_empty() {
            return self.old.get(off..end).map(Cow::Borrowed);
        }
        let mut buf = Vec::with_capacity(n);
        buf.extend_from_slice(self.old.get(off..end.min(self.keep))?);
        for (at, data) in touched {
            copy_overlap(&mut buf, off, at, data);
        }
        if end > self.keep {
            buf.extend_from_slice(&self.tail[..end - self.keep]);
        }
        Some(Cow::Owned(buf))
    }

    /// Overwrites `[off, off + data.len())`, which must lie inside the current contents.
    pub fn write(&mut self, off: usize, data: &[u8]) -> Result<(), EmitError> {
        let end = off
            .checked_add(data.len())
            .filter(|&e| e <= self.len())
            .ok_or_else(|| {
                EmitError::BadElf(format!(
                    "a write of {} bytes at offset {off:#x} is past the end ({:#x})",
                    data.len(),
                    self.len()
                ))
            })?;
        if end > self.keep {
            let from = off.max(self.keep);
            self.tail[from - self.keep..end - self.keep].copy_from_slice(&data[from - off..]);
        }
        if off >= self.keep {
            return Ok(());
        }
        let end = end.min(self.keep);
        let data = &data[..end - off];
        // Merge with every edit that overlaps or touches [off, end).
        let touched: Vec<usize> = self
            .edits
            .range(..=end)
            .filter(|(&at, d)| at + d.len() >= off)
            .map(|(&at, _)| at)
            .collect();
        let mut start = off;
        let mut stop = end;
        for at in &touched {
            let len = self.edits.get(at).map_or(0, Vec::len);
            start = start.min(*at);
            stop = stop.max(at + len);
        }
        let mut buf = self.old[start..stop].to_vec();
        for at in touched {
            if let Some(d) = self.edits.remove(&at) {
                copy_overlap(&mut buf, start, at, &d);
            }
        }
        buf[off - start..end - start].copy_from_slice(data);
        self.edits.insert(start, buf);
        Ok(())
    }

    /// Appends `data` to the new contents.
    pub fn append(&mut self, data: &[u8]) {
        self.tail.extend_from_slice(data);
    }

    /// Appends zeros up to length `len` (no-op if the contents are that long already).
    pub fn pad_to(&mut self, len: usize) {
        if len > self.len() {
            self.tail.resize(len - self.keep, 0);
        }
    }

    /// The new contents, in memory.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        out.extend_from_slice(&self.old[..self.keep]);
        for (&at, d) in &self.edits {
            out[at..at + d.len()].copy_from_slice(d);
        }
        out.extend_from_slice(&self.tail);
        out
    }

    /// Writes the new contents to `dst` (an empty file, at offset 0). With `src`, an open
    /// file whose first `keep` bytes are the old bytes (the file they were mapped from), the
    /// kept bytes are copied file to file, not through memory.
    pub fn write_to(&self, src: Option<&File>, dst: &mut File) -> io::Result<()> {
        match src {
            Some(mut f) => {
                f.seek(SeekFrom::Start(0))?;
                let copied = io::copy(&mut f.take(self.keep as u64), dst)?;
                if copied != self.keep as u64 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "the input file is shorter than when it was read ({copied} of {} bytes)",
                            self.keep
                        ),
                    ));
                }
            }
            None => dst.write_all(&self.old[..self.keep])?,
        }
        dst.write_all(&self.tail)?;
        use std::os::unix::fs::FileExt;
        for (&at, d) in &self.edits {
            dst.write_all_at(d, at as u64)?;
        }
        Ok(())
    }

    /// Makes `dst`, which holds a whole copy of the old file (`copied` bytes of it), the new
    /// contents: cut to the kept bytes, the edits written over them and the appended bytes
    /// after them. For a copy made before the new contents were known
    /// ([`crate::atomic::PreCopy`]).
    pub fn write_over_copy(&self, dst: &mut File, copied: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        if copied < self.keep as u64 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the input file is shorter than when it was read ({copied} of {} bytes)",
                    self.keep
                ),
            ));
        }
        dst.set_len(self.keep as u64)?;
        dst.write_all_at(&self.tail, self.keep as u64)?;
        for (&at, d) in &self.edits {
            dst.write_all_at(d, at as u64)?;
        }
        Ok(())
    }

    /// The edits overlapping `[off, end)`, in order.
    fn edits_touching(&self, off: usize, end: usize) -> Vec<(usize, &[u8])> {
        if off >= end {
            return Vec::new();
        }
        self.edits
            .range(..end)
            .filter(|(&at, d)| at + d.len() > off)
            .map(|(&at, d)| (at, d.as_slice()))
            .collect()
    }
}

/// Copies the part of `data` (which starts at file offset `at`) that overlaps `buf` (which
/// starts at file offset `off`) into `buf`.
fn copy_overlap(buf: &mut [u8], off: usize, at: usize, data: &[u8]) {
    let start = at.max(off);
    let end = (at + data.len()).min(off + buf.len());
    if start < end {
        buf[start - off..end - off].copy_from_slice(&data[start - at..end - at]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reference model: the same operations on a plain vector.
    fn check(p: &Patched<'_>, model: &[u8]) {
        assert_eq!(p.to_vec(), model);
        assert_eq!(p.len(), model.len());
        for off in 0..=model.len() {
            for n in 0..=(model.len() - off) {
                assert_eq!(p.read(off, n).as_deref(), Some(&model[off..off + n]));
            }
        }
        assert!(p.read(model.len(), 1).is_none());
    }

    #[test]
    fn edits_reads_and_appends_agree_with_a_vector() {
        let old: Vec<u8> = (0..40).collect();
        let mut p = Patched::new(&old);
        let mut model = old.clone();
        let step = |p: &mut Patched<'_>, model: &mut Vec<u8>, off: usize, data: &[u8]| {
            p.write(off, data).unwrap();
            model[off..off + data.len()].copy_from_slice(data);
            check(p, model);
        };
        step(&mut p, &mut model, 5, &[100, 101, 102]);
        step(&mut p, &mut model, 10, &[110; 4]);
        // Touching, overlapping and covering earlier edits.
        step(&mut p, &mut model, 8, &[120, 121]);
        step(&mut p, &mut model, 3, &[130; 12]);
        step(&mut p, &mut model, 30, &[140]);
        p.pad_to(45);
        model.resize(45, 0);
        check(&p, &model);
        p.append(b"tail");
        model.extend_from_slice(b"tail");
        check(&p, &model);
        // Across the old end into the tail, and inside the tail.
        step(&mut p, &mut model, 38, &[150; 5]);
        step(&mut p, &mut model, 46, &[160; 2]);
    }

    #[test]
    fn write_to_copies_the_kept_bytes_from_the_source_file() {
        let dir = tempfile::tempdir().unwrap();
        let src_path = dir.path().join("src");
        let old: Vec<u8> = (0..=255).cycle().take(100_000).collect();
        std::fs::write(&src_path, &old).unwrap();
        let mut p = Patched::new(&old);
        p.write(4096, b"edited").unwrap();
        p.write(99_997, b"xyz").unwrap();
        assert!(p.write(99_998, b"xyz").is_err());
        p.append(b"appended");
        let expect = p.to_vec();
        for from_file in [true, false] {
            let src = std::fs::File::open(&src_path).unwrap();
            let dst_path = dir.path().join(format!("dst{from_file}"));
            let mut dst = std::fs::File::create(&dst_path).unwrap();
            p.write_to(from_file.then_some(&src), &mut dst).unwrap();
            drop(dst);
            assert_eq!(std::fs::read(&dst_path).unwrap(), expect);
        }
        // Over a whole copy of the old file, as a pre-copy leaves it.
        let copy_path = dir.path().join("copy");
        let over_copy = |p: &Patched<'_>| {
            std::fs::copy(&src_path, &copy_path).unwrap();
            let mut copy = std::fs::OpenOptions::new()
                .write(true)
                .open(&copy_path)
                .unwrap();
            p.write_over_copy(&mut copy, old.len() as u64).unwrap();
            drop(copy);
            std::fs::read(&copy_path).unwrap()
        };
        assert_eq!(over_copy(&p), expect);
        // Keeping less than the old file (a stripped signature): the rest of the copy goes.
        let mut q = Patched::new(&old[..50_000]);
        q.write(40_000, b"edit").unwrap();
        q.append(b"after");
        assert_eq!(over_copy(&q), q.to_vec());
        // A copy shorter than the kept bytes is an error.
        let mut copy = std::fs::OpenOptions::new()
            .write(true)
            .open(&copy_path)
            .unwrap();
        assert!(p.write_over_copy(&mut copy, 5000).is_err());
        // A source file shorter than the kept bytes is an error, not a short output.
        std::fs::write(&src_path, &old[..5000]).unwrap();
        let src = std::fs::File::open(&src_path).unwrap();
        let mut dst = std::fs::File::create(dir.path().join("short")).unwrap();
        assert!(p.write_to(Some(&src), &mut dst).is_err());
    }
}
