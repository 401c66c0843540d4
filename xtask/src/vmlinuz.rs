//! Getting the vmlinux ELF out of a bzImage, like the kernel's scripts/extract-vmlinux.
//!
//! First try the boot protocol header (payload_offset/payload_length, >= 2.08): the
//! payload is `compressed data ++ le32 uncompressed size`. If that does not give an ELF,
//! scan for every known compression magic and try each hit with the system tool.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::{Command, Stdio};

struct Format {
    name: &'static str,
    magic: &'static [u8],
    tool: &'static [&'static str],
}

const FORMATS: &[Format] = &[
    Format {
        name: "zstd",
        magic: b"\x28\xb5\x2f\xfd",
        tool: &["zstd", "-dc"],
    },
    Format {
        name: "xz",
        magic: b"\xfd7zXZ\x00",
        tool: &["xz", "-dc"],
    },
    Format {
        name: "gzip",
        magic: b"\x1f\x8b\x08",
        tool: &["gzip", "-dc"],
    },
    Format {
        name: "lz4",
        magic: b"\x02\x21\x4c\x18",
        tool: &["lz4", "-dc"],
    },
    Format {
        name: "bzip2",
        magic: b"BZh",
        tool: &["bzip2", "-dc"],
    },
    Format {
        name: "lzma",
        magic: b"\x5d\x00\x00\x00",
        tool: &["xz", "--format=lzma", "-dc"],
    },
    Format {
        name: "lzo",
        magic: b"\x89\x4c\x5a\x4f",
        tool: &["lzop", "-dc"],
    },
];

/// Decompresses `data` with `fmt`'s tool. Returns the output if it is an ELF file,
/// even if the tool complained (trailing bytes make most of them exit non-zero).
fn try_decompress(fmt: &Format, data: &[u8], tmp: &Path) -> Result<Option<Vec<u8>>> {
    std::fs::write(tmp, data).with_context(|| format!("writing {}", tmp.display()))?;
    let out = match Command::new(fmt.tool[0])
        .args(&fmt.tool[1..])
        .arg(tmp)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "  note: cannot run {} for {} payload: {e}",
                fmt.tool[0], fmt.name
            );
            return Ok(None);
        }
    };
    if out.stdout.starts_with(b"\x7fELF") {
        Ok(Some(out.stdout))
    } else {
        Ok(None)
    }
}

/// Returns (format name, vmlinux ELF bytes).
pub fn extract(vmlinuz: &Path, workdir: &Path) -> Result<(&'static str, Vec<u8>)> {
    let img = crate::util::read(vmlinuz)?;
    let tmp = workdir.join(format!(".kbtf-payload-{}", std::process::id()));
    let res = extract_inner(&img, &tmp)
        .with_context(|| format!("extracting vmlinux from {}", vmlinuz.display()));
    let _ = std::fs::remove_file(&tmp);
    res
}

fn extract_inner(img: &[u8], tmp: &Path) -> Result<(&'static str, Vec<u8>)> {
    // Boot protocol header.
    if img.len() > 0x250 && &img[0x202..0x206] == b"HdrS" {
        let version = u16::from_le_bytes([img[0x206], img[0x207]]);
        let setup_sects = match img[0x1f1] {
            0 => 4,
            n => n as usize,
        };
        if version >= 0x208 {
            let po = u32::from_le_bytes(img[0x248..0x24c].try_into()?) as usize;
            let pl = u32::from_le_bytes(img[0x24c..0x250].try_into()?) as usize;
            let start = (setup_sects + 1) * 512 + po;
            if pl > 4 && start.checked_add(pl).is_some_and(|e| e <= img.len()) {
                let payload = &img[start..start + pl];
                let (data, size) = payload.split_at(pl - 4);
                let want = u32::from_le_bytes(size.try_into()?) as usize;
                for fmt in FORMATS.iter().filter(|f| data.starts_with(f.magic)) {
                    if let Some(elf) = try_decompress(fmt, data, tmp)? {
                        if elf.len() != want {
                            eprintln!(
                                "  note: {} payload decompressed to {} bytes, header says {want}",
                                fmt.name,
                                elf.len()
                            );
                        }
                        return Ok((fmt.name, elf));
                    }
                }
            }
        }
    }
    // Fallback: scan for magics, as extract-vmlinux does.
    for fmt in FORMATS {
        let mut from = 0;
        let mut tries = 0;
        while let Some(pos) = find(&img[from..], fmt.magic) {
            let at = from + pos;
            if let Some(elf) = try_decompress(fmt, &img[at..], tmp)? {
                return Ok((fmt.name, elf));
            }
            from = at + 1;
            tries += 1;
            if tries > 64 {
                break;
            }
        }
    }
    bail!("no compressed vmlinux ELF found (tried zstd, xz, gzip, lz4, bzip2, lzma, lzo)")
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
