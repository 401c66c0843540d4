//! The raw dump: one block of text per type, in the format of
//! `bpftool btf dump file F [-B BASE] format raw` (bpftool 7.1 with libbpf 1.1).
//!
//! Every type starts a line `[ID] KIND 'NAME'` followed by its kind's fields; kinds with
//! trailing records (members, enum values, parameters, section entries) print one line per
//! record, indented by a tab. Names print as their raw bytes; an offset of 0 prints as
//! `(anon)` and an offset outside the string sections as `(invalid)`, as bpftool does when
//! libbpf's `btf__name_by_offset` returns NULL. For split BTF only the split's own types are
//! printed, with ids continuing after the base, and names and ids resolve through the base.

use std::io::{self, Write};

use crate::btf::Btf;
use crate::types::*;

/// Bytes gathered before each write to the output, so that the output does not see one small
/// write per field.
const CHUNK: usize = 64 * 1024;

/// Writes the raw dump of `btf`'s own types to `out`, byte for byte as bpftool 7.1 prints it.
pub fn dump_raw(btf: &Btf, out: &mut dyn Write) -> io::Result<()> {
    let mut buf = Vec::with_capacity(CHUNK + 4096);
    for (id, t) in btf.iter() {
        write_type(btf, id, t, &mut buf)?;
        if buf.len() >= CHUNK {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)
}

/// Writes the dump of the single type `id` (one header line plus any record lines).
pub fn dump_raw_type(btf: &Btf, id: TypeId, t: &Type, out: &mut dyn Write) -> io::Result<()> {
    let mut buf = Vec::new();
    write_type(btf, id, t, &mut buf)?;
    out.write_all(&buf)
}

/// Appends the name at `off` as bpftool prints it: `(anon)` for 0, `(invalid)` when the
/// offset is outside the string sections, else the raw bytes.
fn put_name(btf: &Btf, off: u32, buf: &mut Vec<u8>) {
    if off == 0 {
        buf.extend_from_slice(b"(anon)");
        return;
    }
    match btf.str_bytes(off) {
        Some(s) => buf.extend_from_slice(s),
        None => buf.extend_from_slice(b"(invalid)"),
    }
}

/// bpftool's name for an INT encoding; combined or unknown bits print as `UNKN`.
fn int_encoding_name(encoding: u8) -> &'static str {
    match encoding {
        0 => "(none)",
        INT_SIGNED => "SIGNED",
        INT_CHAR => "CHAR",
        INT_BOOL => "BOOL",
        _ => "UNKN",
    }
}

fn func_linkage_name(linkage: u16) -> &'static str {
    match linkage {
        FUNC_STATIC => "static",
        FUNC_GLOBAL => "global",
        FUNC_EXTERN => "extern",
        _ => "(unknown)",
    }
}

fn var_linkage_name(linkage: u32) -> &'static str {
    match linkage {
        VAR_STATIC => "static",
        VAR_GLOBAL_ALLOCATED => "global",
        VAR_GLOBAL_EXTERN => "extern",
        _ => "(unknown)",
    }
}

/// The `SIGNED`/`UNSIGNED` word bpftool prints for ENUM and ENUM64, from the kind_flag.
fn enum_encoding_name(kind_flag: bool) -> &'static str {
    if kind_flag {
        "SIGNED"
    } else {
        "UNSIGNED"
    }
}

/// What bpftool prints after an ENUM's or ENUM64's name.
fn write_enum_head(t: &Type, size: u32, buf: &mut Vec<u8>) -> io::Result<()> {
    write!(
        buf,
        " encoding={} size={size} vlen={}",
        enum_encoding_name(t.kind_flag),
        t.vlen() & 0xffff
    )
}

/// The start of a member's, parameter's or enumerator's line: a new line, a tab and the
/// quoted name, left open.
fn put_item_name(btf: &Btf, name_off: u32, buf: &mut Vec<u8>) {
    buf.extend_from_slice(b"\n\t'");
    put_name(btf, name_off, buf);
}

fn write_type(btf: &Btf, id: TypeId, t: &Type, buf: &mut Vec<u8>) -> io::Result<()> {
    write!(buf, "[{id}] {} '", t.kind().name())?;
    put_name(btf, t.name_off, buf);
    buf.push(b'\'');
    match &t.data {
        TypeData::Int {
            size,
            encoding,
            offset,
            bits,
        } => write!(
            buf,
            " size={size} bits_offset={offset} nr_bits={bits} encoding={}",
            int_encoding_name(*encoding)
        )?,
        TypeData::Ptr { ty }
        | TypeData::Const { ty }
        | TypeData::Volatile { ty }
        | TypeData::Restrict { ty }
        | TypeData::Typedef { ty }
        | TypeData::TypeTag { ty } => write!(buf, " type_id={ty}")?,
        TypeData::Array {
            elem,
            index,
            nelems,
        } => write!(
            buf,
            " type_id={elem} index_type_id={index} nr_elems={nelems}"
        )?,
        TypeData::Struct { size, members } | TypeData::Union { size, members } => {
            write!(buf, " size={size} vlen={}", t.vlen() & 0xffff)?;
            for m in members {
                put_item_name(btf, m.name_off, buf);
                write!(
                    buf,
                    "' type_id={} bits_offset={}",
                    m.ty,
                    m.bit_offset(t.kind_flag)
                )?;
                let bits = m.bitfield_size(t.kind_flag);
                if bits != 0 {
                    write!(buf, " bitfield_size={bits}")?;
                }
            }
        }
        TypeData::Enum { size, values } => {
            write_enum_head(t, *size, buf)?;
            for v in values {
                put_item_name(btf, v.name_off, buf);
                if t.kind_flag {
                    write!(buf, "' val={}", v.val as i32)?;
                } else {
                    write!(buf, "' val={}", v.val)?;
                }
            }
        }
        TypeData::Enum64 { size, values } => {
            write_enum_head(t, *size, buf)?;
            for v in values {
                put_item_name(btf, v.name_off, buf);
                if t.kind_flag {
                    write!(buf, "' val={}LL", v.val as i64)?;
                } else {
                    write!(buf, "' val={}ULL", v.val)?;
                }
            }
        }
        TypeData::Fwd { .. } => {
            let fwd_kind = if t.kind_flag { "union" } else { "struct" };
            write!(buf, " fwd_kind={fwd_kind}")?;
        }
        TypeData::Func { proto, linkage } => write!(
            buf,
            " type_id={proto} linkage={}",
            func_linkage_name(*linkage)
        )?,
        TypeData::FuncProto { ret, params } => {
            write!(buf, " ret_type_id={ret} vlen={}", t.vlen() & 0xffff)?;
            for p in params {
                put_item_name(btf, p.name_off, buf);
                write!(buf, "' type_id={}", p.ty)?;
            }
        }
        TypeData::Var { ty, linkage } => {
            write!(buf, " type_id={ty}, linkage={}", var_linkage_name(*linkage))?
        }
        TypeData::Datasec { size, vars } => {
            write!(buf, " size={size} vlen={}", t.vlen() & 0xffff)?;
            for v in vars {
                write!(
                    buf,
                    "\n\ttype_id={} offset={} size={}",
                    v.ty, v.offset, v.size
                )?;
                // bpftool names the entry's type when the id is in range; id 0 is libbpf's
                // all-zero void type, of kind UNKNOWN and without a name.
                if v.ty < btf.end_id() {
                    match btf.type_by_id(v.ty) {
                        Some(vt) => {
                            write!(buf, " ({} '", vt.kind().name())?;
                            put_name(btf, vt.name_off, buf);
                            buf.extend_from_slice(b"')");
                        }
                        None => buf.extend_from_slice(b" (UNKNOWN '(anon)')"),
                    }
                }
            }
        }
        TypeData::Float { size } => write!(buf, " size={size}")?,
        TypeData::DeclTag { ty, component_idx } => {
            write!(buf, " type_id={ty} component_idx={component_idx}")?
        }
    }
    buf.push(b'\n');
    Ok(())
}
