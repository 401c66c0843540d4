//! The meta phase (`btf_check_all_metas`): each type checked on its own by `btf_check_meta`
//! and its kind's `check_meta`, in the kernel's order of checks, plus the type count limit of
//! `btf_add_type`.

use super::names::{self, why_invalid, Escaped};
use super::{problem, Phase, Problem, ProblemClass};
use crate::btf::{Btf, MAX_TYPE};
use crate::kind::Kind;
use crate::types::*;

/// A broken rule: the kernel's message and ours.
type Broken = (&'static str, String);

fn kflag_broken(t: &Type) -> Broken {
    (
        "Invalid btf_info kind_flag",
        format!("kind_flag is set, which {} does not allow", t.kind()),
    )
}

fn check_kflag(t: &Type) -> Result<(), Broken> {
    if t.kind_flag {
        Err(kflag_broken(t))
    } else {
        Ok(())
    }
}

/// `BTF_TYPE_ID_VALID`, and for ids that may not be void also `id != 0`.
fn check_id(id: TypeId, void_ok: bool, rule: &'static str, what: &str) -> Result<(), Broken> {
    if !void_ok && id == 0 {
        Err((rule, format!("{what} is void (type id 0)")))
    } else if id > MAX_TYPE {
        Err((
            rule,
            format!("{what} has type id {id}, beyond the largest possible id {MAX_TYPE}"),
        ))
    } else {
        Ok(())
    }
}

/// A name that must be a (dotted, for VAR and DATASEC) identifier.
fn check_required_name(btf: &Btf, off: u32, dot_ok: bool, what: &str) -> Result<(), Broken> {
    if off == 0 || !names::valid(btf, off, dot_ok) {
        Err(("Invalid name", why_invalid(btf, off, what)))
    } else {
        Ok(())
    }
}

/// A name that may be absent but must otherwise be an identifier.
fn check_optional_name(btf: &Btf, off: u32, what: &str) -> Result<(), Broken> {
    if off != 0 && !names::valid(btf, off, false) {
        Err(("Invalid name", why_invalid(btf, off, what)))
    } else {
        Ok(())
    }
}

fn check_no_name(btf: &Btf, t: &Type) -> Result<(), Broken> {
    if t.name_off != 0 {
        Err((
            "Invalid name",
            format!(
                "{} must be anonymous but has name offset {} ('{}')",
                t.kind(),
                t.name_off,
                Escaped(names::bytes(btf, t.name_off))
            ),
        ))
    } else {
        Ok(())
    }
}

/// A non-empty value (TYPE_TAG, DECL_TAG).
fn check_value(btf: &Btf, off: u32, rule: &'static str) -> Result<(), Broken> {
    if names::bytes(btf, off).is_empty() {
        Err((rule, format!("value is empty (name offset {off})")))
    } else {
        Ok(())
    }
}

fn member_name(btf: &Btf, off: u32) -> String {
    if names::offset_valid(btf, off) {
        format!("'{}'", Escaped(names::bytes(btf, off)))
    } else {
        format!("with name offset {off}")
    }
}

/// `btf_check_meta` for one type.
fn check_type(btf: &Btf, t: &Type) -> Result<(), Broken> {
    if !names::offset_valid(btf, t.name_off) {
        return Err((
            "Invalid name_offset",
            format!(
                "name offset {} is outside the string section (which ends at {})",
                t.name_off,
                btf.strings_end()
            ),
        ));
    }
    match &t.data {
        TypeData::Int {
            size,
            encoding,
            offset,
            bits,
        } => {
            check_kflag(t)?;
            let nr_bits = *bits as u32 + *offset as u32;
            if nr_bits > 128 {
                return Err((
                    "nr_bits exceeds 128",
                    format!("bit offset {offset} + {bits} bits exceed 128 bits"),
                ));
            }
            if nr_bits.div_ceil(8) > *size {
                return Err((
                    "nr_bits exceeds type_size",
                    format!("bit offset {offset} + {bits} bits do not fit in {size} bytes"),
                ));
            }
            if !matches!(*encoding, 0 | INT_SIGNED | INT_CHAR | INT_BOOL) {
                return Err((
                    "Unsupported encoding",
                    format!("encoding {encoding:#x} is not one of none, SIGNED, CHAR, BOOL"),
                ));
            }
            Ok(())
        }
        TypeData::Ptr { ty }
        | TypeData::Typedef { ty }
        | TypeData::Volatile { ty }
        | TypeData::Const { ty }
        | TypeData::Restrict { ty }
        | TypeData::TypeTag { ty } => {
            check_kflag(t)?;
            check_id(*ty, true, "Invalid type_id", "referenced type")?;
            match t.kind() {
                Kind::Typedef => check_required_name(btf, t.name_off, false, "name"),
                Kind::TypeTag => check_value(btf, t.name_off, "Invalid name"),
                _ => check_no_name(btf, t),
            }
        }
        TypeData::Fwd { raw } => {
            if *raw != 0 {
                return Err(("type != 0", format!("type/size word is {raw}, must be 0")));
            }
            check_required_name(btf, t.name_off, false, "name")
        }
        TypeData::Array { elem, index, .. } => {
            check_no_name(btf, t)?;
            check_kflag(t)?;
            check_id(*elem, false, "Invalid elem", "element type")?;
            check_id(*index, false, "Invalid index", "index type")
        }
        TypeData::Struct { size, members } | TypeData::Union { size, members } => {
            check_optional_name(btf, t.name_off, "name")?;
            let is_union = t.kind() == Kind::Union;
            let mut last_offset = 0u32;
            for (i, m) in members.iter().enumerate() {
                if !names::offset_valid(btf, m.name_off) {
                    return Err((
                        "Invalid member name_offset",
                        format!(
                            "member #{} name offset {} is outside the string section (which ends at {})",
                            i + 1,
                            m.name_off,
                            btf.strings_end()
                        ),
                    ));
                }
                let mname = member_name(btf, m.name_off);
                check_optional_name(btf, m.name_off, &format!("member #{} name", i + 1))?;
                check_id(m.ty, false, "Invalid type_id", &format!("member {mname}"))?;
                let offset = m.bit_offset(t.kind_flag);
                if is_union && offset != 0 {
                    return Err((
                        "Invalid member bits_offset",
                        format!("union member {mname} is at bit offset {offset}, must be 0"),
                    ));
                }
                if last_offset > offset {
                    return Err((
                        "Invalid member bits_offset",
                        format!(
                            "member {mname} at bit offset {offset} comes before the previous member at bit offset {last_offset}"
                        ),
                    ));
                }
                if offset.div_ceil(8) > *size {
                    return Err((
                        "Member bits_offset exceeds its struct size",
                        format!(
                            "member {mname} at bit offset {offset} is beyond the {} size of {size} bytes",
                            t.kind().name().to_lowercase()
                        ),
                    ));
                }
                last_offset = offset;
            }
            Ok(())
        }
        TypeData::Enum { size, values } => {
            check_enum(btf, t, *size, values.iter().map(|v| v.name_off))
        }
        TypeData::Enum64 { size, values } => {
            check_enum(btf, t, *size, values.iter().map(|v| v.name_off))
        }
        TypeData::FuncProto { .. } => {
            check_no_name(btf, t)?;
            check_kflag(t)
        }
        TypeData::Func { linkage, .. } => {
            check_required_name(btf, t.name_off, false, "name")?;
            if *linkage > FUNC_GLOBAL {
                return Err((
                    "Invalid func linkage",
                    format!("linkage {linkage} is not static (0) or global (1)"),
                ));
            }
            check_kflag(t)
        }
        TypeData::Var { ty, linkage } => {
            check_kflag(t)?;
            check_required_name(btf, t.name_off, true, "name")?;
            check_id(*ty, false, "Invalid type_id", "variable type")?;
            if *linkage != VAR_STATIC && *linkage != VAR_GLOBAL_ALLOCATED {
                return Err((
                    "Linkage not supported",
                    format!("linkage {linkage} is not static (0) or global allocated (1)"),
                ));
            }
            Ok(())
        }
        TypeData::Datasec { size, vars } => {
            if *size == 0 {
                return Err(("size == 0", "size is 0".into()));
            }
            check_kflag(t)?;
            if t.name_off == 0 || !names::valid(btf, t.name_off, true) {
                return Err((
                    "Invalid name",
                    if t.name_off == 0 {
                        why_invalid(btf, t.name_off, "name")
                    } else {
                        format!(
                            "name '{}' is not a valid section name",
                            Escaped(names::bytes(btf, t.name_off))
                        )
                    },
                ));
            }
            check_datasec_vars(*size, vars)
        }
        TypeData::Float { size } => {
            check_kflag(t)?;
            if !matches!(size, 2 | 4 | 8 | 12 | 16) {
                return Err((
                    "Invalid type_size",
                    format!("size {size} is not 2, 4, 8, 12 or 16"),
                ));
            }
            Ok(())
        }
        TypeData::DeclTag { component_idx, .. } => {
            check_value(btf, t.name_off, "Invalid value")?;
            check_kflag(t)?;
            if *component_idx < -1 {
                return Err((
                    "Invalid component_idx",
                    format!("component_idx {component_idx} is below -1"),
                ));
            }
            Ok(())
        }
    }
}

fn check_enum_size(size: u32) -> Result<(), Broken> {
    if size > 8 || !size.is_power_of_two() {
        Err((
            "Unexpected size",
            format!("size {size} is not 1, 2, 4 or 8"),
        ))
    } else {
        Ok(())
    }
}

/// An ENUM or ENUM64: its size, its optional name, and each value's required name.
fn check_enum(
    btf: &Btf,
    t: &Type,
    size: u32,
    value_names: impl Iterator<Item = u32>,
) -> Result<(), Broken> {
    check_enum_size(size)?;
    check_optional_name(btf, t.name_off, "name")?;
    value_names
        .enumerate()
        .try_for_each(|(i, off)| check_enum_value(btf, i, off))
}

fn check_enum_value(btf: &Btf, i: usize, off: u32) -> Result<(), Broken> {
    if !names::offset_valid(btf, off) {
        return Err((
            "Invalid name_offset",
            format!(
                "value #{} name offset {off} is outside the string section (which ends at {})",
                i + 1,
                btf.strings_end()
            ),
        ));
    }
    check_required_name(btf, off, false, &format!("value #{} name", i + 1))
}

fn check_datasec_vars(size: u32, vars: &[VarSecinfo]) -> Result<(), Broken> {
    let mut last_end: u64 = 0;
    let mut sum: u64 = 0;
    for (i, v) in vars.iter().enumerate() {
        let what = format!(
            "entry #{i} (type id {}, offset {}, size {})",
            v.ty, v.offset, v.size
        );
        check_id(v.ty, false, "Invalid type_id", &what)?;
        if (v.offset as u64) < last_end || v.offset >= size {
            return Err((
                "Invalid offset",
                if v.offset >= size {
                    format!("{what} starts beyond the section size {size}")
                } else {
                    format!("{what} overlaps the previous entry, which ends at {last_end}")
                },
            ));
        }
        if v.size == 0 || v.size > size {
            return Err((
                "Invalid size",
                format!("{what} has a size of 0 or more than the section size {size}"),
            ));
        }
        last_end = v.offset as u64 + v.size as u64;
        if last_end > size as u64 {
            return Err((
                "Invalid offset+size",
                format!("{what} ends at {last_end}, beyond the section size {size}"),
            ));
        }
        sum += v.size as u64;
    }
    if (size as u64) < sum {
        return Err((
            "Invalid btf_info size",
            format!("entries total {sum} bytes, more than the section size {size}"),
        ));
    }
    Ok(())
}

/// The index (among `n` own types) of the first type `btf_add_type` refuses, reproducing its
/// array growth. `kernel_start` is the kernel's `start_id`: 0 for a base (whose array also
/// holds void), the base's type count for split BTF.
pub(super) fn first_type_over_limit(kernel_start: u32, is_base: bool, n: usize) -> Option<usize> {
    let max = MAX_TYPE as u64;
    let (mut size, mut nr) = (0u64, 0u64);
    for i in 0..n {
        if size == nr {
            if kernel_start as u64 + size == max {
                return Some(i);
            }
            let new_size = max.min(size + (size >> 2).max(16));
            if new_size <= size {
                // 6.1 would write past its array here (split BTF with 2^20 types).
                return Some(i);
            }
            if nr == 0 && is_base {
                nr = 1;
            }
            size = new_size;
        }
        nr += 1;
    }
    None
}

pub(super) fn check(btf: &Btf, failed: &mut [bool], out: &mut Vec<Problem>) {
    let is_base = btf.base().is_none();
    let kernel_start = if is_base { 0 } else { btf.start_id() };
    let over = first_type_over_limit(kernel_start, is_base, btf.own_types().len());
    for (i, (id, t)) in btf.iter().enumerate() {
        let result = check_type(btf, t).and_then(|()| {
            if over == Some(i) {
                Err((
                    "Exceeded max num of types",
                    format!(
                        "type [{id}] is one too many: the kernel holds at most {MAX_TYPE} type ids"
                    ),
                ))
            } else {
                Ok(())
            }
        });
        if let Err((rule, message)) = result {
            if let Some(f) = failed.get_mut(i) {
                *f = true;
            }
            out.push(problem(
                btf,
                id,
                t,
                ProblemClass::Invalid,
                Phase::Meta,
                rule,
                message,
            ));
        }
    }
}
