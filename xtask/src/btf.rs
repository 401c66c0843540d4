//! Just enough BTF parsing to check a blob and count its types.

use crate::elf::u32at;
use anyhow::{bail, ensure, Result};

pub const MAGIC: u16 = 0xeb9f;

#[derive(Debug, Clone, Copy)]
pub struct Header {
    /// The blob is big-endian (its magic reads 0xeb9f in big-endian: an s390x kernel's).
    pub big_endian: bool,
    pub version: u8,
    pub flags: u8,
    pub hdr_len: u32,
    pub type_off: u32,
    pub type_len: u32,
    pub str_off: u32,
    pub str_len: u32,
}

#[derive(Debug)]
pub struct Summary {
    pub header: Header,
    pub types: u32,
    /// Count per kind, indexed by kind number (0..=19).
    pub per_kind: [u32; 20],
}

pub const KIND_NAMES: [&str; 20] = [
    "UNKN",
    "INT",
    "PTR",
    "ARRAY",
    "STRUCT",
    "UNION",
    "ENUM",
    "FWD",
    "TYPEDEF",
    "VOLATILE",
    "CONST",
    "RESTRICT",
    "FUNC",
    "FUNC_PROTO",
    "VAR",
    "DATASEC",
    "FLOAT",
    "DECL_TAG",
    "TYPE_TAG",
    "ENUM64",
];

pub fn header(b: &[u8]) -> Result<Header> {
    ensure!(
        b.len() >= 24,
        "BTF too short for a header ({} bytes)",
        b.len()
    );
    let magic = u16::from_le_bytes([b[0], b[1]]);
    let big = magic == MAGIC.swap_bytes();
    ensure!(
        magic == MAGIC || big,
        "bad BTF magic {magic:#06x} (want 0xeb9f, in either byte order)"
    );
    let h = Header {
        big_endian: big,
        version: b[2],
        flags: b[3],
        hdr_len: u32at(b, 4, big),
        type_off: u32at(b, 8, big),
        type_len: u32at(b, 12, big),
        str_off: u32at(b, 16, big),
        str_len: u32at(b, 20, big),
    };
    ensure!(
        h.hdr_len >= 24 && h.hdr_len as usize <= b.len(),
        "bad hdr_len {}",
        h.hdr_len
    );
    let data = b.len() as u64 - h.hdr_len as u64;
    ensure!(
        h.type_off as u64 + h.type_len as u64 <= data,
        "type section {}+{} past end of data ({data})",
        h.type_off,
        h.type_len
    );
    ensure!(
        h.str_off as u64 + h.str_len as u64 <= data,
        "string section {}+{} past end of data ({data})",
        h.str_off,
        h.str_len
    );
    Ok(h)
}

/// Walks the type section and counts types (type ids 1..=N of this blob).
pub fn summarize(b: &[u8]) -> Result<Summary> {
    let h = header(b)?;
    let start = h.hdr_len as usize + h.type_off as usize;
    let types = &b[start..start + h.type_len as usize];
    let mut off = 0usize;
    let mut n = 0u32;
    let mut per_kind = [0u32; 20];
    while off < types.len() {
        ensure!(
            off + 12 <= types.len(),
            "truncated type #{} at type offset {off}",
            n + 1
        );
        let info = u32at(types, off + 4, h.big_endian);
        let kind = (info >> 24) & 0x1f;
        let vlen = (info & 0xffff) as usize;
        let extra = match kind {
            1 => 4,
            3 => 12,
            4 | 5 => 12 * vlen,
            6 => 8 * vlen,
            13 => 8 * vlen,
            14 => 4,
            15 => 12 * vlen,
            17 => 4,
            19 => 12 * vlen,
            2 | 7 | 8 | 9 | 10 | 11 | 12 | 16 | 18 => 0,
            _ => bail!("type #{} at type offset {off}: unknown kind {kind}", n + 1),
        };
        off += 12 + extra;
        ensure!(
            off <= types.len(),
            "type #{} (kind {kind}) runs past the type section",
            n + 1
        );
        per_kind[kind as usize] += 1;
        n += 1;
    }
    Ok(Summary {
        header: h,
        types: n,
        per_kind,
    })
}

impl Summary {
    pub fn kinds_line(&self) -> String {
        let mut parts = Vec::new();
        for (k, &c) in self.per_kind.iter().enumerate() {
            if c > 0 {
                parts.push(format!("{}={c}", KIND_NAMES[k]));
            }
        }
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> Vec<u8> {
        std::fs::read(kbtf_testkit::fixture(rel)).unwrap()
    }

    #[test]
    fn counts_types_like_bpftool() {
        // Counts checked against `bpftool btf dump file ... format raw`.
        assert_eq!(summarize(&fixture("vmlinux-6.1.btf")).unwrap().types, 95246);
        assert_eq!(
            summarize(&fixture("modules-6.1/tun.btf")).unwrap().types,
            116
        );
        assert_eq!(
            summarize(&fixture("modules-6.1/dummy.btf")).unwrap().types,
            16
        );
    }

    #[test]
    fn big_endian_blobs_count_alike() {
        // The same object built for x86_64 and for s390x, encoded by pahole 1.30.
        let le = summarize(&fixture("encoder/kfuncs.pahole130.btf")).unwrap();
        let be = summarize(&fixture("encoder/kfuncs-s390x.pahole130.btf")).unwrap();
        assert!(!le.header.big_endian && be.header.big_endian);
        assert!(le.types > 10);
        assert_eq!(le.per_kind, be.per_kind);
    }

    #[test]
    fn truncated_or_bad_blobs_are_errors_not_panics() {
        let b = fixture("modules-6.1/veth.btf");
        for n in 0..b.len() {
            let _ = summarize(&b[..n]);
        }
        let mut bad = b.clone();
        bad[0] = 0;
        assert!(summarize(&bad).unwrap_err().to_string().contains("magic"));
        let mut bad = b;
        bad[24 + 4 + 3] = 0x1f; // kind 31 in type #1's info
        assert!(summarize(&bad)
            .unwrap_err()
            .to_string()
            .contains("unknown kind"));
    }
}
