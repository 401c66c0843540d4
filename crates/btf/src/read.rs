//! Parsing BTF wire bytes into a [`Btf`].
//!
//! The parser checks what it needs to walk the data safely (header, section bounds, record
//! sizes, kinds) and keeps everything else as read, so that `check` can judge it by the kernel's
//! rules and a write gives back the same bytes. Every error names the offset or type id.

// This module reads untrusted bytes: every access goes through `get` or a measured
// `read_u32` (docs/reliability.md).
#![deny(clippy::indexing_slicing)]

use std::sync::Arc;

use crate::btf::{info_kind, read_u32, Btf, Endian, Header, HEADER_LEN, MAGIC};
use crate::bytes::Bytes;
use crate::error::ParseError;
use crate::kind::Kind;
use crate::strings::StringTable;
use crate::types::*;

/// Bits of `btf_type.info` that carry meaning: vlen, kind, kind_flag.
const INFO_MASK: u32 = 0x9f00_ffff;
/// Bits of an INT's data word the kernel allows (`BTF_INT_MASK`): encoding, offset, bits, and
/// bits 8..16, which 6.1 accepts and ignores (kept in [`Btf`] so that a write gives them back).
const INT_DATA_MASK: u32 = 0x0fff_ffff;

/// Reads the header and tells the byte order.
///
/// As Linux 6.1's `btf_parse_hdr`: `hdr_len` (at offset 4) must be present and within the
/// blob; a header shorter than 24 bytes is read as far as it goes, the fields it leaves out
/// (or cuts in the middle: a 22-byte header holds the two low bytes of `str_len`) are 0. Only
/// 21- to 23-byte headers can be valid that way: a shorter one has no string section.
pub fn parse_header(data: &[u8]) -> Result<(Endian, Header), ParseError> {
    let &[m0, m1, _, _, _, _, _, _, ..] = data else {
        return Err(ParseError::TooShort { len: data.len() });
    };
    let endian = if u16::from_le_bytes([m0, m1]) == MAGIC {
        Endian::Little
    } else if u16::from_be_bytes([m0, m1]) == MAGIC {
        Endian::Big
    } else {
        return Err(ParseError::BadMagic {
            magic: u16::from_le_bytes([m0, m1]),
        });
    };
    let hdr_len = read_u32(endian, data, 4);
    if hdr_len as usize > data.len() {
        return Err(ParseError::BadHeaderLen {
            hdr_len,
            len: data.len(),
        });
    }
    let mut full = [0u8; HEADER_LEN];
    for (to, from) in full.iter_mut().zip(data.iter().take(hdr_len as usize)) {
        *to = *from;
    }
    let h = Header {
        version: full[2],
        flags: full[3],
        hdr_len,
        type_off: read_u32(endian, &full, 8),
        type_len: read_u32(endian, &full, 12),
        str_off: read_u32(endian, &full, 16),
        str_len: read_u32(endian, &full, 20),
    };
    if h.version != 1 {
        return Err(ParseError::BadVersion(h.version));
    }
    if h.flags != 0 {
        return Err(ParseError::BadFlags(h.flags));
    }
    if (h.hdr_len as usize) < 8 {
        return Err(ParseError::BadHeaderLen {
            hdr_len: h.hdr_len,
            len: data.len(),
        });
    }
    Ok((endian, h))
}

pub(crate) fn parse(data: &[u8], base: Option<Arc<Btf>>) -> Result<Btf, ParseError> {
    parse_owned(std::borrow::Cow::Borrowed(data), base)
}

/// [`parse`], keeping `data` itself (without a copy) when it is owned.
pub(crate) fn parse_owned(
    data: std::borrow::Cow<'_, [u8]>,
    base: Option<Arc<Btf>>,
) -> Result<Btf, ParseError> {
    // Shared, so that the string table borrows its part of the blob instead of a copy.
    parse_bytes(Bytes::share(data.into_owned()), base)
}

/// [`parse`] of bytes kept as they are (borrowed from a mapped file, say): the object's blob
/// and its string table are views of them, copied only if changed.
pub(crate) fn parse_bytes(data: Bytes, base: Option<Arc<Btf>>) -> Result<Btf, ParseError> {
    parse_bytes_known(data, base, None)
}

/// [`parse_bytes`], taking the result of the per-record checks from `known` (what
/// [`Btf::type_check`] gave for these very bytes) instead of walking the records again.
pub(crate) fn parse_bytes_known(
    data: Bytes,
    base: Option<Arc<Btf>>,
    known: Option<&crate::btf::TypeCheck>,
) -> Result<Btf, ParseError> {
    let (endian, h) = parse_header(&data)?;
    if let Some(b) = &base {
        if b.endian() != endian {
            return Err(ParseError::EndianMismatch {
                base: b.endian().name(),
                split: endian.name(),
            });
        }
    }
    let body = data
        .get(h.hdr_len as usize..)
        .ok_or(ParseError::BadHeaderLen {
            hdr_len: h.hdr_len,
            len: data.len(),
        })?;
    let section = |name: &'static str, off: u32, size: u32| -> Result<&[u8], ParseError> {
        let end = off as u64 + size as u64;
        body.get(off as usize..end as usize)
            .ok_or(ParseError::SectionOutOfBounds {
                section: name,
                off,
                size,
                avail: body.len(),
            })
    };
    let type_sec = section("type", h.type_off, h.type_len)?;
    let str_sec = section("string", h.str_off, h.str_len)?;
    let (t0, t1) = (h.type_off as u64, h.type_off as u64 + h.type_len as u64);
    let (s0, s1) = (h.str_off as u64, h.str_off as u64 + h.str_len as u64);
    if h.type_len > 0 && h.str_len > 0 && t0 < s1 && s0 < t1 {
        return Err(ParseError::SectionsOverlap);
    }
    if h.type_off % 4 != 0 {
        return Err(ParseError::TypeSectionMisaligned(h.type_off));
    }

    let str_start = base.as_ref().map_or(0, |b| b.strings_end());
    if base.is_none() || !str_sec.is_empty() {
        if str_sec.last() != Some(&0) {
            return Err(ParseError::StringsNotTerminated);
        }
        if base.is_none() && str_sec.first() != Some(&0) {
            return Err(ParseError::StringsNoLeadingNul);
        }
    }
    let str_at = h.hdr_len as usize + h.str_off as usize;
    let strings = StringTable::from_shared(
        str_start,
        data.slice(str_at..str_at + str_sec.len())
            .unwrap_or_else(|| str_sec.to_vec().into()),
    );

    let start_id = base.as_ref().map_or(1, |b| b.end_id());
    let (count, int_pad) = match known {
        Some(k) => (k.count, k.int_pad.clone()),
        None => check_types(endian, type_sec, start_id)?,
    };
    let types_at = h.hdr_len as usize + h.type_off as usize;

    // Whatever lies past both sections is a newer trailing section; keep it as is.
    let end = t1.max(s1) as usize;
    let tail = body.get(end..).unwrap_or_default().to_vec();
    let header_ext = data
        .get(HEADER_LEN..h.hdr_len as usize)
        .unwrap_or_default()
        .to_vec();
    let types_range = types_at..types_at + type_sec.len();
    let raw = crate::btf::Raw {
        blob: data,
        types: types_range,
        count,
        standard: h.type_off == 0 && h.str_off == h.type_len,
        memo: Default::default(),
    };
    let mut btf = Btf::from_parts(endian, base, raw, strings, header_ext, tail, h);
    btf.set_int_pad(int_pad);
    Ok(btf)
}

/// `(index, bits 8..16)` of INTs whose data word has those bits set.
type IntPad = Vec<(usize, u8)>;

/// Checks every record of the type section as [`parse_types`] would, without building the
/// types; returns how many there are, and `(index, bits 8..16)` of the INTs whose data word
/// has those ignored bits set.
fn check_types(e: Endian, sec: &[u8], start_id: TypeId) -> Result<(u32, IntPad), ParseError> {
    let mut off = 0usize;
    let mut n = 0u32;
    let mut int_pad = Vec::new();
    while off < sec.len() {
        let id = start_id.saturating_add(n);
        let (len, pad) = check_type(e, sec, off, id)?;
        if pad != 0 {
            int_pad.push((n as usize, pad));
        }
        off += len;
        n += 1;
    }
    Ok((n, int_pad))
}

pub(crate) fn parse_types(
    e: Endian,
    sec: &[u8],
    start_id: TypeId,
) -> Result<Vec<Type>, ParseError> {
    let mut types = Vec::new();
    let mut off = 0usize;
    while off < sec.len() {
        let id = start_id.saturating_add(types.len() as u32);
        let (t, len) = parse_type(e, sec, off, id)?;
        types.push(t);
        off += len;
    }
    Ok(types)
}

/// Checks the record at `off` as [`parse_type`] does, returning its length in bytes,
/// and an INT's bits 8..16 (which Linux 6.1 ignores; 0 for other kinds).
fn check_type(e: Endian, sec: &[u8], off: usize, id: TypeId) -> Result<(usize, u8), ParseError> {
    let (kind, rec_len) = check_header(e, sec, off, id)?;
    let st = read_u32(e, sec, off + 8);
    let mut pad = 0;
    match kind {
        Kind::Int => {
            let w = read_u32(e, sec, off + 12);
            if w & !INT_DATA_MASK != 0 {
                return Err(ParseError::BadIntData { id, off, data: w });
            }
            pad = (w >> 8) as u8;
        }
        Kind::Array if st != 0 => {
            return Err(ParseError::ArraySizeNotZero { id, off, size: st });
        }
        _ => {}
    }
    Ok((rec_len, pad))
}

/// The checks of a record's header: its kind and length.
fn check_header(
    e: Endian,
    sec: &[u8],
    off: usize,
    id: TypeId,
) -> Result<(Kind, usize), ParseError> {
    let need = |n: usize, what: &'static str| -> Result<(), ParseError> {
        if sec.len() - off < n {
            Err(ParseError::TruncatedType { id, off, what })
        } else {
            Ok(())
        }
    };
    need(12, "btf_type")?;
    let info = read_u32(e, sec, off + 4);
    let kind = info_kind(info).ok_or(ParseError::UnknownKind {
        id,
        off,
        kind: (info >> 24) & 0x1f,
    })?;
    let bad_info = |why| ParseError::BadInfo {
        id,
        kind: kind.name(),
        off,
        info,
        why,
    };
    if info & !INFO_MASK != 0 {
        return Err(bad_info("unused bits set"));
    }
    let vlen = (info & 0xffff) as usize;
    let uses_vlen = matches!(
        kind,
        Kind::Struct
            | Kind::Union
            | Kind::Enum
            | Kind::Enum64
            | Kind::FuncProto
            | Kind::Datasec
            | Kind::Func
    );
    if !uses_vlen && vlen != 0 {
        return Err(bad_info("vlen must be 0 for this kind"));
    }
    let rec_len = 12
        + match kind {
            Kind::Int | Kind::Var | Kind::DeclTag => 4,
            Kind::Array => 12,
            Kind::Struct | Kind::Union | Kind::Datasec | Kind::Enum64 => 12 * vlen,
            Kind::Enum | Kind::FuncProto => 8 * vlen,
            _ => 0,
        };
    need(rec_len, "trailing data")?;
    Ok((kind, rec_len))
}

/// Parses the record at `off`, returning it and its length in bytes.
fn parse_type(e: Endian, sec: &[u8], off: usize, id: TypeId) -> Result<(Type, usize), ParseError> {
    let (kind, rec_len) = check_header(e, sec, off, id)?;
    let name_off = read_u32(e, sec, off);
    let info = read_u32(e, sec, off + 4);
    let st = read_u32(e, sec, off + 8);
    let vlen = (info & 0xffff) as usize;
    let kind_flag = info >> 31 != 0;
    let d = off + 12;
    let word = |i: usize| read_u32(e, sec, d + 4 * i);
    match kind {
        Kind::Int if word(0) & !INT_DATA_MASK != 0 => {
            return Err(ParseError::BadIntData {
                id,
                off,
                data: word(0),
            });
        }
        // The kernel rejects a non-zero size word ("size != 0"); the model has no room for
        // it, so it is refused here rather than silently dropped.
        Kind::Array if st != 0 => {
            return Err(ParseError::ArraySizeNotZero { id, off, size: st });
        }
        _ => {}
    }
    let data = TypeData::from_words(kind, st, vlen, word);
    Ok((
        Type {
            name_off,
            kind_flag,
            data,
        },
        rec_len,
    ))
}
