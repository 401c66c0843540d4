//! Reading BTF from files: raw BTF (`/sys/kernel/btf/*`, detached pahole output) or the `.BTF`
//! section of an ELF file (vmlinux, `.ko`), with `.BTF.base` as the base where present.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object::{Object, ObjectSection};
use std::borrow::Cow;

use crate::btf::{Btf, Endian};
use crate::bytes::Bytes;
use crate::error::ReadError;
use crate::fingerprint::{self, Fingerprint};

/// The largest ratio of uncompressed to compressed size believed for a compressed ELF section
/// (`SHF_COMPRESSED`, `.zdebug_*`). Deflate cannot exceed about 1032:1; zstd can in principle
/// (long runs of one byte), but debug info and BTF compress by 3 to 10. A section that claims
/// more is refused before anything is allocated: the size in its header is not checked until
/// after the whole buffer is.
pub const MAX_COMPRESSION_RATIO: u64 = 2048;

/// Why a section's contents could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SectionDataError {
    #[error("{0}")]
    Object(#[from] object::read::Error),
    #[error("compressed section claims {claimed} bytes from {compressed} compressed bytes (over {MAX_COMPRESSION_RATIO}:1); not inflating it")]
    Implausible { claimed: u64, compressed: u64 },
}

/// The contents of an ELF section, decompressed if it is compressed, after checking that
/// the size its compression header claims is plausible ([`MAX_COMPRESSION_RATIO`]).
pub fn section_data<'d, S: ObjectSection<'d>>(sec: &S) -> Result<Cow<'d, [u8]>, SectionDataError> {
    let c = sec.compressed_data()?;
    if c.format != object::CompressionFormat::None {
        let compressed = c.data.len() as u64;
        if c.uncompressed_size > compressed.saturating_mul(MAX_COMPRESSION_RATIO) {
            return Err(SectionDataError::Implausible {
                claimed: c.uncompressed_size,
                compressed,
            });
        }
    }
    Ok(c.decompress()?)
}

/// Where the BTF of a file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The whole file is BTF.
    Raw,
    /// The `.BTF` section of an ELF file.
    ElfSection,
    /// The `.BTF` section of an ELF file, split on top of the file's own `.BTF.base`.
    ElfWithDistilledBase,
}

/// BTF read from a file.
#[derive(Debug, Clone)]
pub struct BtfFile {
    pub path: PathBuf,
    pub source: Source,
    pub btf: Btf,
    /// The base fingerprint note of an ELF file written by kbtf (see [`crate::fingerprint`]).
    pub base_fingerprint: Option<Fingerprint>,
}

/// The bytes of a file, mapped read-only (or read into anonymous memory for files that
/// cannot be mapped, such as sysfs's). Errors name the file.
pub fn map_file(path: &Path) -> Result<MappedFile, ReadError> {
    let (map, file) = map_inner(path)?;
    Ok(MappedFile { map, file })
}

/// A file's bytes, mapped ([`map_file`]).
pub struct MappedFile {
    map: memmap2::Mmap,
    /// The open file the map is of, when it is (not when the bytes were read instead).
    file: Option<std::fs::File>,
}

impl std::ops::Deref for MappedFile {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map
    }
}

impl AsRef<[u8]> for MappedFile {
    fn as_ref(&self) -> &[u8] {
        &self.map
    }
}

impl MappedFile {
    /// The open file whose bytes these are, when they are mapped from it (not read): a
    /// writer can copy them file to file ([`std::io::copy`]) without reading them in.
    pub fn file(&self) -> Option<&std::fs::File> {
        self.file.as_ref()
    }

    /// Gives back the memory of the pages lying wholly inside `part` (a slice of this
    /// file's bytes) that were read: a reader done with part of a large file keeps its
    /// resident memory down. They are read again from the file if touched later. A no-op
    /// for files that were read rather than mapped, and for slices of other memory.
    ///
    /// Linux maps up to 64 KiB of cached pages around each page read ("fault-around"), so
    /// reading one part also maps its neighbours: give back generously.
    pub fn release(&self, part: &[u8]) {
        if self.file.is_none() || part.is_empty() {
            return;
        }
        let base = self.map.as_ptr() as usize;
        let start = (part.as_ptr() as usize).wrapping_sub(base);
        let Some(end) = start.checked_add(part.len()) else {
            return;
        };
        if end > self.map.len() {
            return;
        }
        const PAGE: usize = 4096;
        // Whole pages only (the map starts on a page boundary), so that neighbours that
        // are still in use keep theirs; a larger real page size only makes the call fail.
        let first = start.div_ceil(PAGE) * PAGE;
        let last = end / PAGE * PAGE;
        if last > first {
            // SAFETY: the map is a read-only shared mapping of a file: MADV_DONTNEED only
            // drops pages from this process, and a later access reads them again from the
            // page cache, unchanged (kbtf replaces files by rename, never in place).
            let _ = unsafe {
                self.map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    first,
                    last - first,
                )
            };
        }
    }
}

/// The bytes of a file, mapped.
fn map(path: &Path) -> Result<memmap2::Mmap, ReadError> {
    map_inner(path).map(|(m, _)| m)
}

/// The bytes of a file, and the open file when they map it (rather than a copy).
fn map_inner(path: &Path) -> Result<(memmap2::Mmap, Option<std::fs::File>), ReadError> {
    let io = |err| ReadError::Io {
        path: path.to_owned(),
        err,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        return Err(ReadError::IsDirectory {
            path: path.to_owned(),
        });
    }
    let f = std::fs::File::open(path).map_err(io)?;
    if meta.len() == 0 {
        // Some files (sysfs) report size 0; read them instead of mapping.
        return map_by_reading(path, f).map(|m| (m, None));
    }
    // SAFETY: the map is read-only and private; a concurrent truncation of the input by
    // another process is outside what this tool defends against, as for every mmap reader.
    match unsafe { memmap2::Mmap::map(&f) } {
        Ok(m) => Ok((m, Some(f))),
        // Some files cannot be mapped though they report a size: sysfs binary files such as
        // /sys/kernel/btf/vmlinux fail with ENODEV. Read them instead.
        Err(_) => map_by_reading(path, f).map(|m| (m, None)),
    }
}

fn map_by_reading(path: &Path, mut f: std::fs::File) -> Result<memmap2::Mmap, ReadError> {
    use std::io::Read;
    let io = |err| ReadError::Io {
        path: path.to_owned(),
        err,
    };
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).map_err(io)?;
    let mut m = memmap2::MmapMut::map_anon(buf.len().max(1)).map_err(io)?;
    m[..buf.len()].copy_from_slice(&buf);
    let m = m.make_read_only().map_err(io)?;
    if buf.is_empty() {
        return Err(ReadError::UnknownFormat {
            path: path.to_owned(),
            head: "(empty file)".into(),
        });
    }
    Ok(m)
}

fn is_elf(d: &[u8]) -> bool {
    d.starts_with(b"\x7fELF")
}

fn is_raw_btf(d: &[u8]) -> bool {
    d.starts_with(&[0x9f, 0xeb]) || d.starts_with(&[0xeb, 0x9f])
}

/// Reads BTF from `path`. `base` is the base for split BTF; it is ignored for an ELF file that
/// carries its own `.BTF.base`, whose `.BTF` is split on top of that.
pub fn read_file(path: &Path, base: Option<Arc<Btf>>) -> Result<BtfFile, ReadError> {
    read_file_with(path, base, &mut |_| None)
}

/// [`read_file`], asking `known` with the bytes of the (split or raw) BTF for the result of
/// its per-record checks, as a cache of them may know it ([`Btf::parse_bytes_known`]).
fn read_file_with(
    path: &Path,
    base: Option<Arc<Btf>>,
    known: &mut dyn FnMut(&[u8]) -> Option<crate::btf::TypeCheck>,
) -> Result<BtfFile, ReadError> {
    let map = Arc::new(map(path)?);
    let owner: Arc<dyn crate::bytes::Owner> = map.clone();
    let data: &[u8] = &map;
    // The bytes of `part` (a slice of `data`) as a view of the mapped file, not a copy.
    let view = |part: &[u8]| -> Option<Bytes> {
        let start = (part.as_ptr() as usize).checked_sub(data.as_ptr() as usize)?;
        Bytes::shared(owner.clone(), start..start.checked_add(part.len())?)
    };
    let parse_err = |section: Option<&str>, err| ReadError::Parse {
        path: path.to_owned(),
        section: section.map(str::to_owned),
        err,
    };
    if is_raw_btf(data) {
        let bytes = view(data).unwrap_or_else(|| data.to_vec().into());
        let btf = match known(data) {
            Some(k) => Btf::parse_bytes_known(bytes, base, &k),
            None => Btf::parse_bytes(bytes, base),
        }
        .map_err(|e| parse_err(None, e))?;
        return Ok(BtfFile {
            path: path.to_owned(),
            source: Source::Raw,
            btf,
            base_fingerprint: None,
        });
    }
    if !is_elf(data) {
        let head = data
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ");
        return Err(ReadError::UnknownFormat {
            path: path.to_owned(),
            head,
        });
    }
    let elf = object::File::parse(data).map_err(|e| ReadError::BadElf {
        path: path.to_owned(),
        msg: e.to_string(),
    })?;
    let section_bytes = |name: &'static str| -> Result<Option<Vec<u8>>, ReadError> {
        let Some(sec) = elf.section_by_name(name) else {
            return Ok(None);
        };
        let bytes = section_data(&sec).map_err(|e| ReadError::BadElf {
            path: path.to_owned(),
            msg: format!("section {name}: {e}"),
        })?;
        Ok(Some(bytes.into_owned()))
    };
    let endian = if elf.is_little_endian() {
        Endian::Little
    } else {
        Endian::Big
    };
    let base_fingerprint =
        section_bytes(fingerprint::SECTION)?.and_then(|note| Fingerprint::from_note(&note, endian));
    let btf_sec = elf.section_by_name(".BTF").ok_or(ReadError::NoSection {
        path: path.to_owned(),
        section: ".BTF",
    })?;
    let btf_data = section_data(&btf_sec).map_err(|e| ReadError::BadElf {
        path: path.to_owned(),
        msg: format!("section .BTF: {e}"),
    })?;
    if let Some(base_bytes) = section_bytes(".BTF.base")? {
        let dbase = Btf::parse(&base_bytes, None).map_err(|e| parse_err(Some(".BTF.base"), e))?;
        let btf =
            Btf::parse(&btf_data, Some(Arc::new(dbase))).map_err(|e| parse_err(Some(".BTF"), e))?;
        return Ok(BtfFile {
            path: path.to_owned(),
            source: Source::ElfWithDistilledBase,
            btf,
            base_fingerprint,
        });
    }
    // The big one (a vmlinux's 4 MB, read by every module process): a view of the mapped
    // file when it is stored uncompressed, not a copy.
    let btf = match btf_data {
        Cow::Borrowed(b) => match (view(b), known(b)) {
            (Some(bytes), Some(k)) => Btf::parse_bytes_known(bytes, base, &k),
            (Some(bytes), None) => Btf::parse_bytes(bytes, base),
            (None, _) => Btf::parse(b, base),
        },
        Cow::Owned(v) => Btf::parse_vec(v, base),
    }
    .map_err(|e| parse_err(Some(".BTF"), e))?;
    Ok(BtfFile {
        path: path.to_owned(),
        source: Source::ElfSection,
        btf,
        base_fingerprint,
    })
}

/// Reads a base BTF (vmlinux ELF or raw) for use under split BTF.
pub fn read_base(path: &Path) -> Result<Arc<Btf>, ReadError> {
    Ok(Arc::new(read_file(path, None)?.btf))
}

/// [`read_base`], asking `known` with the BTF's bytes (when they are a view of the file)
/// for the result of their per-record checks, which a cache keyed by a hash of them may
/// hold: see [`Btf::parse_bytes_known`].
pub fn read_base_with(
    path: &Path,
    known: &mut dyn FnMut(&[u8]) -> Option<crate::btf::TypeCheck>,
) -> Result<Arc<Btf>, ReadError> {
    Ok(Arc::new(read_file_with(path, None, known)?.btf))
}
