//! Signs that split BTF was built against a different base than the one it is read with
//! ([`ProblemClass::WrongBase`]), which the kernel lets through when it is lucky.
//!
//! Split BTF refers to its base by position only: type ids below its first id and string
//! offsets below its own strings mean the base's. Built against a base with N' types and S'
//! bytes of strings, and read on top of one with N and S, every own type id it uses is off by
//! N' - N and every own string offset by S' - S, and its references into the base land on
//! whatever the other base has there. 6.1 loads module BTF checking each type only on its own
//! (names, sizes, offsets) and never follows references, so this often goes unnoticed. The
//! resolve phase catches references to impossible kinds; here we add what is legal for the
//! kernel but does not happen in BTF built against the right base:
//!
//! * a name offset that does not point at the start of a string: pahole and libbpf only ever
//!   add whole strings, so a name starting inside a base string (or inside an own string) means
//!   the offsets are shifted ("name-inside-string");
//! * if so, the shift itself: the own string offsets that do not fit the given base may fit a
//!   base whose strings end elsewhere ("string-shift");
//! * a reference into the base that lands on a kind the referrer cannot use, e.g. a member of
//!   a FUNC, a FUNC of an INT ("base-kind"; the kernel's resolve pass rejects these too, as
//!   Invalid, but 6.1 does not run it for modules);
//! * a PTR to a FUNC (C pointers to functions point to a FUNC_PROTO; "ptr-to-func");
//! * STRUCT members that overlap each other, which C layouts never do; a member whose type came
//!   from a different base has the wrong size ("member-overlap");
//! * a DATASEC entry whose size differs from its variable's type ("var-size").

use std::collections::HashSet;

use super::names::{self, Escaped};
use super::resolve::Tables;
use super::ty::{by_id, describe, Ty};
use super::{problem, Phase, Problem, ProblemClass};
use crate::btf::Btf;
use crate::strings::StringTable;
use crate::types::*;

fn push(out: &mut Vec<Problem>, btf: &Btf, id: TypeId, t: &Type, rule: &'static str, msg: String) {
    out.push(problem(
        btf,
        id,
        t,
        ProblemClass::WrongBase,
        Phase::BaseMatch,
        rule,
        msg,
    ));
}

pub(super) fn check(btf: &Btf, tables: &Tables, out: &mut Vec<Problem>) {
    if btf.base().is_none() {
        return;
    }
    let misplaced = check_name_offsets(btf, out);
    if misplaced > 0 {
        if let Some(p) = infer_string_shift(btf) {
            out.push(p);
        }
    }
    for (id, t) in btf.iter() {
        if let Some(msg) = base_kind_misuse(btf, t) {
            push(out, btf, id, t, "base-kind", msg);
        }
        match &t.data {
            TypeData::Ptr { ty } if by_id(btf, *ty).is_some_and(|p| p.is_func()) => {
                push(
                    out,
                    btf,
                    id,
                    t,
                    "ptr-to-func",
                    format!(
                        "points to {}{}, not to a FUNC_PROTO",
                        describe(btf, *ty),
                        from_base(btf, *ty)
                    ),
                );
            }
            TypeData::Struct { members, .. } => {
                if let Some(msg) = member_overlap(btf, tables, t.kind_flag, members) {
                    push(out, btf, id, t, "member-overlap", msg);
                }
            }
            TypeData::Datasec { vars, .. } => {
                if let Some(msg) = var_size_mismatch(btf, tables, vars) {
                    push(out, btf, id, t, "var-size", msg);
                }
            }
            _ => {}
        }
    }
}

/// " (from the base)" for ids below the split's own.
fn from_base(btf: &Btf, id: TypeId) -> &'static str {
    if id != 0 && id < btf.start_id() {
        " (from the base)"
    } else {
        ""
    }
}

/// Every string offset of a type with what it names: "name", "member #1", ...
fn named_offsets(t: &Type) -> Vec<(String, u32)> {
    let mut v = vec![("name".to_string(), t.name_off)];
    let mut add = |what: &str, offs: &mut dyn Iterator<Item = u32>| {
        for (i, off) in offs.enumerate() {
            v.push((format!("{what} #{}", i + 1), off));
        }
    };
    match &t.data {
        TypeData::Struct { members, .. } | TypeData::Union { members, .. } => {
            add("member", &mut members.iter().map(|m| m.name_off))
        }
        TypeData::Enum { values, .. } => add("value", &mut values.iter().map(|v| v.name_off)),
        TypeData::Enum64 { values, .. } => add("value", &mut values.iter().map(|v| v.name_off)),
        TypeData::FuncProto { params, .. } => {
            add("parameter", &mut params.iter().map(|p| p.name_off))
        }
        _ => {}
    }
    v
}

/// The whole string that contains `off` in `table`: (its offset, its bytes).
fn containing_string(table: &StringTable, off: u32) -> (u32, &[u8]) {
    let data = table.as_bytes();
    let rel = (off - table.start()) as usize;
    let begin = data
        .get(..rel)
        .and_then(|d| d.iter().rposition(|&b| b == 0))
        .map_or(0, |p| p + 1);
    let rest = data.get(begin..).unwrap_or_default();
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    (table.start() + begin as u32, &rest[..end])
}

/// Reports, per type, the first name offset that is not at the start of a string. Returns how
/// many such offsets there are in all.
fn check_name_offsets(btf: &Btf, out: &mut Vec<Problem>) -> usize {
    let own_start = btf.strings().start();
    let mut count = 0;
    for (id, t) in btf.iter() {
        let mut first = None;
        for (what, off) in named_offsets(t) {
            if off == 0 || !names::offset_valid(btf, off) {
                continue;
            }
            let Some(table) = btf.string_table_for(off) else {
                continue;
            };
            if table.is_string_start(off) {
                continue;
            }
            count += 1;
            if first.is_none() {
                let (start, whole) = containing_string(table, off);
                let whose = if off < own_start {
                    "a base string"
                } else {
                    "a string of this BTF's own"
                };
                let what = if what == "name" {
                    String::new()
                } else {
                    format!("{what} ")
                };
                first = Some(format!(
                    "{what}name offset {off} ('{}') points inside {whose}, '{}' at offset {start}",
                    Escaped(names::bytes(btf, off)),
                    Escaped(whole)
                ));
            }
        }
        if let Some(msg) = first {
            push(out, btf, id, t, "name-inside-string", msg);
        }
    }
    count
}

/// Finds where the split's own strings must have started for its offsets to fit, if that is
/// not where the given base's strings end.
fn infer_string_shift(btf: &Btf) -> Option<Problem> {
    let own = btf.strings();
    let actual = own.start();
    let starts: Vec<u32> = own.iter().map(|(off, _)| off - actual).collect();
    let start_set: HashSet<u32> = starts.iter().copied().collect();
    let offs: Vec<u32> = btf
        .iter()
        .flat_map(|(_, t)| named_offsets(t).into_iter().map(|(_, off)| off))
        .filter(|&off| off != 0)
        .collect();
    let max = *offs.iter().max()?;
    // Offsets at or above `own_start` must fall on own string starts.
    let fits = |own_start: u32| -> (usize, usize) {
        let mut total = 0;
        let mut good = 0;
        for &o in offs.iter().filter(|&&o| o >= own_start) {
            total += 1;
            if start_set.contains(&(o - own_start)) {
                good += 1;
            }
        }
        (good, total)
    };
    let (good_actual, total_actual) = fits(actual);
    if good_actual == total_actual {
        return None;
    }
    // The largest offset is most likely the last own string, or one of the last few.
    let best = starts
        .iter()
        .rev()
        .take(16)
        .filter_map(|&r| max.checked_sub(r))
        .filter(|&c| c != actual)
        .map(|c| (c, fits(c)))
        .filter(|&(_, (good, total))| total > 0 && good == total)
        .max_by_key(|&(_, (_, total))| total)?;
    let (guess, (_, total)) = best;
    let diff = guess as i64 - actual as i64;
    Some(Problem {
        id: None,
        kind: None,
        name: String::new(),
        class: ProblemClass::WrongBase,
        phase: Phase::BaseMatch,
        rule: "string-shift",
        message: format!(
            "{total} own string offsets fit only if this BTF's strings start at {guess}, but the \
             given base's strings end at {actual} ({diff:+} bytes): built against a different base"
        ),
    })
}

/// `btf_type_id_size` on final tables: the size of `id` in bytes, if it has one.
fn sized(btf: &Btf, tables: &Tables, id: TypeId) -> Option<u32> {
    let size_of = |id: TypeId, t: Ty| -> Option<u32> {
        if t.nosize() {
            None
        } else if t.has_size() {
            Some(t.size())
        } else if t.is_array() {
            Some(tables.resolved_size(id))
        } else if t.is_ptr() {
            Some(super::resolve::PTR_SIZE)
        } else {
            None
        }
    };
    let t = by_id(btf, id)?;
    if t.is_modifier() || t.is_var() {
        let rid = tables.resolved_id(id);
        size_of(rid, by_id(btf, rid)?)
    } else {
        size_of(id, t)
    }
}

/// The INT a member's type stands for, following modifiers.
fn int_of(btf: &Btf, mut id: TypeId) -> Option<&Type> {
    for _ in 0..32 {
        let t = by_id(btf, id)?;
        if t.is_modifier() {
            id = t.type_word();
        } else {
            return t.ty().filter(|t| t.kind() == crate::kind::Kind::Int);
        }
    }
    None
}

/// The bits a member covers: [start, end).
fn member_bits(btf: &Btf, tables: &Tables, kflag: bool, m: &Member) -> Option<(u64, u64)> {
    let start = m.bit_offset(kflag) as u64;
    let bfs = m.bitfield_size(kflag) as u64;
    if bfs > 0 {
        return Some((start, start + bfs));
    }
    if !kflag {
        if let Some(TypeData::Int { offset, bits, .. }) = int_of(btf, m.ty).map(|t| &t.data) {
            let s = start + *offset as u64;
            return Some((s, s + *bits as u64));
        }
    }
    let size = sized(btf, tables, m.ty)? as u64;
    Some((start, start + 8 * size))
}

fn member_overlap(btf: &Btf, tables: &Tables, kflag: bool, members: &[Member]) -> Option<String> {
    let mut prev: Option<(&Member, u64, u64)> = None;
    for m in members {
        let Some((start, end)) = member_bits(btf, tables, kflag, m) else {
            prev = None;
            continue;
        };
        if start == end {
            // Zero-sized members (flexible arrays, markers) take no room.
            continue;
        }
        if let Some((p, pstart, pend)) = prev {
            if pend > start {
                return Some(format!(
                    "member {} (bits {pstart}..{pend}, type {}{}) overlaps member {} at bit {start}",
                    member_name(btf, p.name_off),
                    describe(btf, p.ty),
                    from_base(btf, p.ty),
                    member_name(btf, m.name_off),
                ));
            }
        }
        prev = Some((m, start, end));
    }
    None
}

fn member_name(btf: &Btf, off: u32) -> String {
    if off == 0 {
        "(anon)".into()
    } else {
        format!("'{}'", Escaped(names::bytes(btf, off)))
    }
}

fn var_size_mismatch(btf: &Btf, tables: &Tables, vars: &[VarSecinfo]) -> Option<String> {
    for (i, v) in vars.iter().enumerate() {
        let Some(var) = by_id(btf, v.ty).filter(|t| t.is_var()) else {
            continue;
        };
        let Some(size) = sized(btf, tables, var.type_word()) else {
            continue;
        };
        if size != v.size {
            return Some(format!(
                "entry #{i} {} has size {} but its type {}{} is {size} bytes",
                describe(btf, v.ty),
                v.size,
                describe(btf, var.type_word()),
                from_base(btf, var.type_word())
            ));
        }
    }
    None
}

/// What a reference is used for, and so which kinds it may land on.
#[derive(Clone, Copy)]
enum Use {
    /// PTR (to a FUNC is "ptr-to-func").
    Pointer,
    /// TYPEDEF, CONST, VOLATILE, RESTRICT, TYPE_TAG.
    Modifier,
    /// A STRUCT/UNION member, an ARRAY element, a VAR's type: must have a size.
    Sized,
    /// An ARRAY index: an INT (through modifiers).
    Index,
    /// FUNC_PROTO return and parameter types.
    Param,
    /// A FUNC's prototype.
    Proto,
    /// A DATASEC entry.
    Var,
    /// A DECL_TAG's target.
    Tagged,
}

impl Use {
    fn allows(self, btf: &Btf, t: Ty) -> bool {
        match self {
            Use::Pointer => !t.source_only(),
            Use::Modifier => !t.source_only() && !t.is_func(),
            Use::Sized => !t.source_only() && !t.nosize(),
            Use::Index => {
                let mut t = t;
                for _ in 0..32 {
                    if !t.is_modifier() {
                        break;
                    }
                    match by_id(btf, t.type_word()) {
                        Some(next) => t = next,
                        None => return false,
                    }
                }
                t.is_int()
            }
            Use::Param => !t.source_only() && !t.is_func() && !t.is_func_proto(),
            Use::Proto => t.is_func_proto(),
            Use::Var => t.is_var(),
            Use::Tagged => t.is_decl_tag_target(),
        }
    }

    fn what(self) -> &'static str {
        match self {
            Use::Pointer | Use::Modifier => "referenced type",
            Use::Sized => "type",
            Use::Index => "index type",
            Use::Param => "return or parameter type",
            Use::Proto => "prototype",
            Use::Var => "DATASEC entry",
            Use::Tagged => "tagged type",
        }
    }
}

/// The first reference of `t` into the base that lands on a kind it cannot use.
fn base_kind_misuse(btf: &Btf, t: &Type) -> Option<String> {
    let mut refs: Vec<(String, TypeId, Use)> = Vec::new();
    match &t.data {
        TypeData::Ptr { ty } => refs.push((String::new(), *ty, Use::Pointer)),
        TypeData::Typedef { ty }
        | TypeData::Volatile { ty }
        | TypeData::Const { ty }
        | TypeData::Restrict { ty }
        | TypeData::TypeTag { ty } => refs.push((String::new(), *ty, Use::Modifier)),
        TypeData::Array { elem, index, .. } => {
            refs.push(("element ".into(), *elem, Use::Sized));
            refs.push((String::new(), *index, Use::Index));
        }
        TypeData::Struct { members, .. } | TypeData::Union { members, .. } => {
            for m in members {
                refs.push((
                    format!("member {} ", member_name(btf, m.name_off)),
                    m.ty,
                    Use::Sized,
                ));
            }
        }
        TypeData::Var { ty, .. } => refs.push(("variable ".into(), *ty, Use::Sized)),
        TypeData::Func { proto, .. } => refs.push((String::new(), *proto, Use::Proto)),
        TypeData::FuncProto { ret, params } => {
            refs.push((String::new(), *ret, Use::Param));
            for p in params {
                refs.push((String::new(), p.ty, Use::Param));
            }
        }
        TypeData::Datasec { vars, .. } => {
            for v in vars {
                refs.push((String::new(), v.ty, Use::Var));
            }
        }
        TypeData::DeclTag { ty, .. } => refs.push((String::new(), *ty, Use::Tagged)),
        TypeData::Int { .. }
        | TypeData::Enum { .. }
        | TypeData::Enum64 { .. }
        | TypeData::Fwd { .. }
        | TypeData::Float { .. } => {}
    }
    refs.into_iter().find_map(|(prefix, id, use_)| {
        if id == 0 || id >= btf.start_id() {
            return None;
        }
        let target = by_id(btf, id)?;
        (!use_.allows(btf, target)).then(|| {
            format!(
                "{prefix}{} is {} from the base, which cannot be used here",
                use_.what(),
                describe(btf, id)
            )
        })
    })
}
