//! Re-resolving an object's `.BTF_ids` section against its BTF, as the kernel's
//! `tools/bpf/resolve_btfids` does at build time (Linux 6.1 and later).
//!
//! The kernel's `BTF_ID*` / `BTF_SET*` macros (include/linux/btf_ids.h) reserve zeroed words
//! in `.BTF_ids` and label each with a local symbol:
//!
//! * `__BTF_ID__<kind>__<name>__<n>` (kind `struct`, `union`, `typedef`, `func`): one `u32`,
//!   the id of the first type of that kind and name (lowest id, base types included);
//! * `__BTF_ID__set__<name>`: a `struct btf_id_set { u32 cnt; u32 ids[]; }` whose symbol size
//!   covers it: `cnt = size / 4 - 1`, then the ids sorted ascending;
//! * `__BTF_ID__set8__<name>`: a `struct btf_id_set8 { u32 cnt; u32 flags; struct { u32 id;
//!   u32 flags; } pairs[]; }`: `cnt = size / 8 - 1`, then the pairs sorted by id, each pair's
//!   flags (written by the compiler from `BTF_ID_FLAGS`) moving with its id. The set's own
//!   `flags` word is left alone.
//!
//! The ids inside a set are ordinary `func`/`struct` symbols; resolution writes them first, then
//! the counts, then sorts (the 6.1 kernel bsearches module sets and does not sort them itself).
//! An unresolved name gets id 0, as resolve_btfids writes it (with a warning), and is reported in
//! [`Resolved::unresolved`]. Words nothing points at (`BTF_ID_UNUSED`, a set's flags, a pair's
//! flags) keep their bytes; [`re_resolve`] puts a set's `BTF_ID_UNUSED` words back to 0 first,
//! as compiled, since sorting moved the 0 away from them.
//!
//! [`resolve`] takes the section as the compiler left it (every labelled word 0). A shipped
//! module's section is resolved already and its set8s sorted, so the pair at a function's
//! symbol may hold another function's flags: [`re_resolve`] first puts each pair's flags back at
//! its function's symbol, by the function's id under the BTF the section was resolved against
//! (checking that resolving against that BTF gives the section exactly), then resolves.
//!
//! Offsets are symbol values minus the section's `sh_addr`: 0 in a relocatable module, so the
//! value is the offset; an address in a linked `vmlinux`. Words are in the ELF file's byte order.
//!
//! Where resolve_btfids is lenient with malformed input (it rounds a misaligned offset down to a
//! word, takes `<kind>` as a bare prefix, sorts past a set whose size is too small), this module
//! refuses with an error naming the section, symbol and offset instead: such an object was not
//! built by kbuild. (It has no limit of 100 symbols per name, where resolve_btfids fails.)

use std::collections::HashMap;

use kbtf_btf::{Btf, Kind};
use object::{Object, ObjectSection, ObjectSymbol};

use crate::elf::{set_section, SectionSpec, SHT_PROGBITS};
use crate::error::EmitError;

/// The section's name.
pub const SECTION: &str = ".BTF_ids";
/// The prefix of every symbol resolve_btfids looks at.
pub const SYMBOL_PREFIX: &str = "__BTF_ID__";
/// `SHF_ALLOC`: `.BTF_ids` is mapped at run time.
const SHF_ALLOC: u64 = 2;

/// What a `__BTF_ID__` symbol labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    Struct,
    Union,
    Typedef,
    Func,
    /// `struct btf_id_set`.
    Set,
    /// `struct btf_id_set8`.
    Set8,
}

impl EntryKind {
    /// The word in the symbol name (`__BTF_ID__<word>__...`).
    pub fn word(self) -> &'static str {
        match self {
            EntryKind::Struct => "struct",
            EntryKind::Union => "union",
            EntryKind::Typedef => "typedef",
            EntryKind::Func => "func",
            EntryKind::Set => "set",
            EntryKind::Set8 => "set8",
        }
    }

    /// The BTF kind an id symbol resolves to; `None` for the sets.
    pub fn btf_kind(self) -> Option<Kind> {
        match self {
            EntryKind::Struct => Some(Kind::Struct),
            EntryKind::Union => Some(Kind::Union),
            EntryKind::Typedef => Some(Kind::Typedef),
            EntryKind::Func => Some(Kind::Func),
            EntryKind::Set | EntryKind::Set8 => None,
        }
    }

    fn is_set(self) -> bool {
        matches!(self, EntryKind::Set | EntryKind::Set8)
    }
}

/// One `__BTF_ID__` symbol of `.BTF_ids`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The whole symbol name, e.g. `__BTF_ID__func__bbr_init__824`.
    pub symbol: String,
    pub kind: EntryKind,
    /// The type name to look up (`bbr_init`), or the set's name.
    pub name: String,
    /// Offset of the labelled word in the section.
    pub offset: u64,
    /// The symbol's size (the whole set for a set; 4 for an id, as the macros emit it).
    pub size: u64,
    /// The `u32` at `offset` now: the id, or a set's count.
    pub current: u32,
    name_bytes: Vec<u8>,
}

/// A resolved `.BTF_ids`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The new contents of `.BTF_ids` (same size as the old).
    pub data: Vec<u8>,
    /// Symbols (whole names, in symbol-table order) whose type was not found; their words are 0.
    pub unresolved: Vec<String>,
}

/// A whole ELF file with its `.BTF_ids` resolved.
#[derive(Debug, Clone)]
pub struct ResolvedElf {
    pub elf: Vec<u8>,
    pub unresolved: Vec<String>,
}

/// The section and its symbols, as read.
struct Table {
    data: Vec<u8>,
    le: bool,
    entries: Vec<Entry>,
}

fn bad(problem: impl Into<String>) -> EmitError {
    EmitError::BtfIds(problem.into())
}

fn bad_symbol(symbol: &[u8], offset: u64, problem: impl Into<String>) -> EmitError {
    EmitError::BtfIdsSymbol {
        symbol: String::from_utf8_lossy(symbol).into_owned(),
        offset,
        problem: problem.into(),
    }
}

/// Splits a symbol name after [`SYMBOL_PREFIX`] into its kind and name, as resolve_btfids
/// reads it: `<kind>__<name>__<n>` for ids (the name is what comes before the last `__`),
/// `set__<name>` / `set8__<name>` for sets.
fn parse_name(rest: &[u8]) -> Result<(EntryKind, &[u8]), String> {
    const KINDS: [EntryKind; 6] = [
        EntryKind::Struct,
        EntryKind::Union,
        EntryKind::Typedef,
        EntryKind::Func,
        EntryKind::Set8,
        EntryKind::Set,
    ];
    let (kind, tail) = KINDS
        .iter()
        .find_map(|&k| {
            let w = k.word().as_bytes();
            (rest.starts_with(w) && rest[w.len()..].starts_with(b"__"))
                .then(|| (k, &rest[w.len() + 2..]))
        })
        .ok_or("unsupported kind (not struct, union, typedef, func, set or set8)")?;
    if tail.is_empty() {
        return Err("no name after the kind".into());
    }
    if kind.is_set() {
        return Ok((kind, tail));
    }
    // `<name>__<n>`: the last '_' must be the second of a "__" that ends the name.
    let last = tail.iter().rposition(|&b| b == b'_');
    match last {
        Some(i) if i >= 2 && tail[i - 1] == b'_' => Ok((kind, &tail[..i - 1])),
        _ => Err("no `__<n>` suffix after the name".into()),
    }
}

/// The word at `off`; `read_table` has checked that every entry's words lie in the section.
fn read_u32(data: &[u8], off: usize, le: bool) -> u32 {
    let b = word_at(data, off);
    if le {
        u32::from_le_bytes(b)
    } else {
        u32::from_be_bytes(b)
    }
}

fn word_at(data: &[u8], off: usize) -> [u8; 4] {
    [data[off], data[off + 1], data[off + 2], data[off + 3]]
}

fn write_u32(data: &mut [u8], off: usize, le: bool, v: u32) {
    let b = if le { v.to_le_bytes() } else { v.to_be_bytes() };
    data[off..off + 4].copy_from_slice(&b);
}

fn read_table(elf: &[u8]) -> Result<Option<Table>, EmitError> {
    let file = object::File::parse(elf).map_err(|e| EmitError::BadElf(e.to_string()))?;
    if file.format() != object::BinaryFormat::Elf {
        return Err(EmitError::BadElf("not an ELF file".into()));
    }
    let mut found = file
        .sections()
        .filter(|s| s.name_bytes().ok() == Some(SECTION.as_bytes()));
    let Some(sec) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err(bad("more than one section of that name"));
    }
    let data = sec
        .data()
        .map_err(|e| bad(format!("section data: {e}")))?
        .to_vec();
    if (data.len() as u64) != sec.size() {
        return Err(bad(format!(
            "section has no contents in the file (size {:#x}, SHT_NOBITS?)",
            sec.size()
        )));
    }
    let le = file.is_little_endian();
    let base = sec.address();
    let index = sec.index();
    if file.symbol_table().is_none() {
        return Err(bad("the file has no symbol table to resolve it with"));
    }
    let mut entries = Vec::new();
    let mut set_names: HashMap<Vec<u8>, String> = HashMap::new();
    for sym in file.symbols() {
        if sym.section_index() != Some(index) {
            continue;
        }
        let name = sym.name_bytes().map_err(|e| {
            bad(format!(
                "symbol {} in the section: unreadable name: {e}",
                sym.index().0
            ))
        })?;
        let Some(rest) = name.strip_prefix(SYMBOL_PREFIX.as_bytes()) else {
            continue;
        };
        let value = sym.address();
        let offset = value.checked_sub(base).ok_or_else(|| {
            bad_symbol(
                name,
                value,
                format!("value below the section's address {base:#x}"),
            )
        })?;
        let (kind, type_name) =
            parse_name(rest).map_err(|problem| bad_symbol(name, offset, problem))?;
        let size = sym.size();
        let len = data.len() as u64;
        if offset % 4 != 0 {
            return Err(bad_symbol(name, offset, "offset is not a multiple of 4"));
        }
        if len < 4 || offset > len - 4 {
            return Err(bad_symbol(
                name,
                offset,
                format!("word out of the section ({len:#x} bytes)"),
            ));
        }
        match kind {
            EntryKind::Set | EntryKind::Set8 => {
                let (unit, header) = if kind == EntryKind::Set {
                    (4, 4)
                } else {
                    (8, 8)
                };
                if size < header || size % unit != 0 {
                    return Err(bad_symbol(
                        name,
                        offset,
                        format!(
                            "set size {size} is not a {header}-byte header plus {unit}-byte entries"
                        ),
                    ));
                }
                if size > len - offset {
                    return Err(bad_symbol(
                        name,
                        offset,
                        format!("set of {size} bytes runs past the section's end ({len:#x})"),
                    ));
                }
                let sym_name = String::from_utf8_lossy(name).into_owned();
                if let Some(other) = set_names.insert(type_name.to_vec(), sym_name.clone()) {
                    return Err(bad_symbol(
                        name,
                        offset,
                        format!("set name also used by {other} (sets are unique)"),
                    ));
                }
            }
            _ => {}
        }
        entries.push(Entry {
            symbol: String::from_utf8_lossy(name).into_owned(),
            kind,
            name: String::from_utf8_lossy(type_name).into_owned(),
            offset,
            size,
            current: read_u32(&data, offset as usize, le),
            name_bytes: type_name.to_vec(),
        });
    }
    Ok(Some(Table { data, le, entries }))
}

/// Every `__BTF_ID__` symbol of the file's `.BTF_ids`, in symbol-table order; `None` when the
/// file has no `.BTF_ids`.
pub fn entries(elf: &[u8]) -> Result<Option<Vec<Entry>>, EmitError> {
    Ok(read_table(elf)?.map(|t| t.entries))
}

/// Lowest ids by kind and name, for the four kinds resolve_btfids looks up.
#[derive(Default)]
struct Found<'a> {
    by_kind: [HashMap<&'a [u8], u32>; 4],
}

fn kind_slot(kind: Kind) -> Option<usize> {
    match kind {
        Kind::Func => Some(0),
        Kind::Struct => Some(1),
        Kind::Union => Some(2),
        Kind::Typedef => Some(3),
        _ => None,
    }
}

impl Found<'_> {
    /// The id found for (kind, name), 0 if none.
    fn get(&self, kind: Kind, name: &[u8]) -> u32 {
        kind_slot(kind)
            .and_then(|k| self.by_kind[k].get(name).copied())
            .unwrap_or(0)
    }
}

/// The lowest id of each wanted (kind, name), over every type of `btf` and its bases.
fn lookup<'a>(
    btf: &Btf,
    wanted: impl Iterator<Item = (Kind, &'a [u8])>,
) -> Result<Found<'a>, EmitError> {
    let mut found = Found::default();
    for (kind, name) in wanted {
        if let Some(k) = kind_slot(kind) {
            found.by_kind[k].insert(name, 0);
        }
    }
    let mut left: usize = found.by_kind.iter().map(HashMap::len).sum();
    // Base first: lower ids, so the first match is the lowest id.
    let mut chain = vec![btf];
    while let Some(b) = chain.last().and_then(|b| b.base()) {
        chain.push(b);
    }
    for obj in chain.iter().rev() {
        for (id, t) in obj.iter() {
            if left == 0 {
                return Ok(found);
            }
            let Some(k) = kind_slot(t.kind()) else {
                continue;
            };
            let name = obj.str_bytes(t.name_off).ok_or_else(|| {
                bad(format!(
                    "BTF type [{id}]: name offset {:#x} out of range",
                    t.name_off
                ))
            })?;
            if let Some(slot) = found.by_kind[k].get_mut(name) {
                if *slot == 0 {
                    *slot = id;
                    left -= 1;
                }
            }
        }
    }
    Ok(found)
}

/// Resolution proper, on section bytes laid out as compiled: ids, then counts, then sorting,
/// in resolve_btfids' order.
fn apply(entries: &[Entry], data: Vec<u8>, le: bool, btf: &Btf) -> Result<Resolved, EmitError> {
    let ids = lookup(btf, wanted(entries))?;
    apply_ids(entries, data, le, &ids)
}

/// The (kind, name) of every id entry.
fn wanted(entries: &[Entry]) -> impl Iterator<Item = (Kind, &[u8])> {
    entries
        .iter()
        .filter_map(|e| Some((e.kind.btf_kind()?, e.name_bytes.as_slice())))
}

/// [`apply`] with the ids already looked up.
fn apply_ids(
    entries: &[Entry],
    mut data: Vec<u8>,
    le: bool,
    ids: &Found<'_>,
) -> Result<Resolved, EmitError> {
    let mut unresolved = Vec::new();
    for e in entries {
        let Some(kind) = e.kind.btf_kind() else {
            continue;
        };
        let id = ids.get(kind, &e.name_bytes);
        if id == 0 {
            unresolved.push(e.symbol.clone());
        }
        write_u32(&mut data, e.offset as usize, le, id);
    }
    let sets: Vec<&Entry> = entries.iter().filter(|e| e.kind.is_set()).collect();
    for e in &sets {
        let cnt = u32::try_from(e.size / e.unit() - 1)
            .map_err(|_| bad_symbol(e.symbol.as_bytes(), e.offset, "set count over u32"))?;
        write_u32(&mut data, e.offset as usize, le, cnt);
    }
    for e in &sets {
        let off = e.offset as usize;
        let end = off + e.size as usize;
        match e.kind {
            EntryKind::Set => {
                let mut v: Vec<u32> = (off + 4..end)
                    .step_by(4)
                    .map(|o| read_u32(&data, o, le))
                    .collect();
                v.sort_unstable();
                for (i, id) in v.into_iter().enumerate() {
                    write_u32(&mut data, off + 4 + 4 * i, le, id);
                }
            }
            _ => {
                // Stable: pairs of equal id keep their order, as glibc's merge sort (behind
                // qsort) keeps them.
                let mut v = pairs(&data, e, le);
                v.sort_by_key(|&(id, _)| id);
                for (i, (id, flags)) in v.into_iter().enumerate() {
                    let o = off + 8 + 8 * i;
                    write_u32(&mut data, o, le, id);
                    data[o + 4..o + 8].copy_from_slice(&flags);
                }
            }
        }
    }
    Ok(Resolved { data, unresolved })
}

/// A set8's `(id, flags)` pairs as they are in `data`.
fn pairs(data: &[u8], set8: &Entry, le: bool) -> Vec<(u32, [u8; 4])> {
    let off = set8.offset as usize;
    (off + 8..off + set8.size as usize)
        .step_by(8)
        .map(|o| {
            let flags = word_at(data, o + 4);
            (read_u32(data, o, le), flags)
        })
        .collect()
}

impl Entry {
    /// A set's entry size: 4 for a set, 8 for a set8's pairs.
    fn unit(&self) -> u64 {
        if self.kind == EntryKind::Set8 {
            8
        } else {
            4
        }
    }
}

/// The contents of the file's `.BTF_ids` with every id resolved against `btf` (split BTF with
/// its base, or standalone), every set's count written and its entries sorted; `None` when the
/// file has no `.BTF_ids`.
///
/// The section must be as the compiler left it, or resolved but with no set8 whose pair flags
/// could have been reordered: once a set8 is sorted, the pair at a function's symbol holds
/// another function's flags, and only the BTF it was resolved against tells which. A set8 whose
/// pairs have ids already and flags that differ is an error; [`re_resolve`] handles it.
pub fn resolve(elf: &[u8], btf: &Btf) -> Result<Option<Resolved>, EmitError> {
    let Some(t) = read_table(elf)? else {
        return Ok(None);
    };
    for e in t.entries.iter().filter(|e| e.kind == EntryKind::Set8) {
        let p = pairs(&t.data, e, t.le);
        if p.iter().any(|&(id, _)| id != 0) && p.windows(2).any(|w| w[0].1 != w[1].1) {
            return Err(bad_symbol(
                e.symbol.as_bytes(),
                e.offset,
                "set8 already resolved (its pairs have ids) and its pairs' flags differ: which \
                 flags go with which function is known only from the BTF it was resolved \
                 against (re_resolve)",
            ));
        }
    }
    apply(&t.entries, t.data, t.le, btf).map(Some)
}

/// Like [`resolve`], for a section already resolved against `previous` (a shipped module
/// whose BTF is being replaced): each set8 pair's flags are first moved back to the function
/// they belong to, found by its id under `previous`, then everything is resolved against `btf`.
///
/// The section must be exactly what resolving against `previous` gives (checked: otherwise the
/// flags could go to the wrong functions); every set8 pair must have its symbol.
pub fn re_resolve(elf: &[u8], previous: &Btf, btf: &Btf) -> Result<Option<Resolved>, EmitError> {
    let Some(t) = read_table(elf)? else {
        return Ok(None);
    };
    let prev = lookup(previous, wanted(&t.entries))?;
    let by_offset: HashMap<u64, &Entry> = t
        .entries
        .iter()
        .filter(|e| !e.kind.is_set())
        .map(|e| (e.offset, e))
        .collect();
    // The section as compiled: labelled words 0, each set8 pair's flags at its own symbol.
    let mut compiled = t.data.clone();
    for e in &t.entries {
        write_u32(&mut compiled, e.offset as usize, t.le, 0);
    }
    // A set's word without a symbol is a `BTF_ID_UNUSED`, compiled 0; sorting moved the 0
    // to the front, so the word may now hold a member's id.
    for set in t.entries.iter().filter(|e| e.kind == EntryKind::Set) {
        for at in (set.offset + 4..set.offset + set.size).step_by(4) {
            if !by_offset.contains_key(&at) {
                write_u32(&mut compiled, at as usize, t.le, 0);
            }
        }
    }
    for set in t.entries.iter().filter(|e| e.kind == EntryKind::Set8) {
        let mut now: Vec<Option<(u32, [u8; 4])>> =
            pairs(&t.data, set, t.le).into_iter().map(Some).collect();
        for i in 0..now.len() as u64 {
            let at = set.offset + 8 + 8 * i;
            let sym = by_offset.get(&at).ok_or_else(|| {
                bad_symbol(
                    set.symbol.as_bytes(),
                    set.offset,
                    format!("pair {i} (offset {at:#x}) has no __BTF_ID__ symbol"),
                )
            })?;
            // `by_offset` holds no sets, and every other entry names a BTF kind.
            let Some(kind) = sym.kind.btf_kind() else {
                continue;
            };
            let id = prev.get(kind, &sym.name_bytes);
            // Equal ids keep their order in a stable sort: take the first one left.
            let (_, flags) = now
                .iter_mut()
                .find(|p| p.is_some_and(|(pid, _)| pid == id))
                .and_then(Option::take)
                .ok_or_else(|| {
                    bad_symbol(
                        sym.symbol.as_bytes(),
                        at,
                        format!(
                            "set8 {} has no pair with id {id}, the id under the previous BTF: \
                             the section was not resolved against it",
                            set.name
                        ),
                    )
                })?;
            let o = at as usize;
            compiled[o + 4..o + 8].copy_from_slice(&flags);
        }
    }
    let check = apply_ids(&t.entries, compiled.clone(), t.le, &prev)?;
    if let Some(i) = check.data.iter().zip(&t.data).position(|(a, b)| a != b) {
        return Err(bad(format!(
            "offset {:#x} is not what resolving against the previous BTF gives: the section \
             was not resolved against it",
            i / 4 * 4
        )));
    }
    apply(&t.entries, compiled, t.le, btf).map(Some)
}

/// How `.BTF_ids` holding `data` is written ([`crate::elf::set_section_in`]): in place, at
/// the same size.
pub fn section_spec(data: &[u8]) -> SectionSpec<'_> {
    SectionSpec {
        name: SECTION,
        data,
        sh_type: SHT_PROGBITS,
        flags: SHF_ALLOC,
        align: 1,
    }
}

fn with_section(elf: &[u8], r: Resolved) -> Result<ResolvedElf, EmitError> {
    Ok(ResolvedElf {
        elf: set_section(elf, &section_spec(&r.data))?,
        unresolved: r.unresolved,
    })
}

/// The whole file with `.BTF_ids` replaced by [`resolve`]'s result (in place: same size);
/// `None` when the file has no `.BTF_ids`. A signed module is refused by [`set_section`]:
/// strip (or redo) the signature first.
pub fn resolve_elf(elf: &[u8], btf: &Btf) -> Result<Option<ResolvedElf>, EmitError> {
    resolve(elf, btf)?.map(|r| with_section(elf, r)).transpose()
}

/// The whole file with `.BTF_ids` replaced by [`re_resolve`]'s result, as [`resolve_elf`].
pub fn re_resolve_elf(
    elf: &[u8],
    previous: &Btf,
    btf: &Btf,
) -> Result<Option<ResolvedElf>, EmitError> {
    re_resolve(elf, previous, btf)?
        .map(|r| with_section(elf, r))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_as_resolve_btfids_splits_them() {
        let p = |s: &str| {
            parse_name(s.as_bytes()).map(|(k, n)| (k, String::from_utf8(n.to_vec()).unwrap()))
        };
        assert_eq!(
            p("func__vfs_truncate__0"),
            Ok((EntryKind::Func, "vfs_truncate".into()))
        );
        assert_eq!(
            p("struct__nf_conn___init__773209"),
            Ok((EntryKind::Struct, "nf_conn___init".into()))
        );
        assert_eq!(
            p("typedef__pid_t__12"),
            Ok((EntryKind::Typedef, "pid_t".into()))
        );
        assert_eq!(p("union__u__1"), Ok((EntryKind::Union, "u".into())));
        assert_eq!(
            p("set8__nf_ct_kfunc_set"),
            Ok((EntryKind::Set8, "nf_ct_kfunc_set".into()))
        );
        assert_eq!(
            p("set__btf_allowlist_d_path"),
            Ok((EntryKind::Set, "btf_allowlist_d_path".into()))
        );
        assert!(p("func__noid").is_err());
        assert!(p("func__a__1_2").is_err());
        assert!(p("func__").is_err());
        assert!(p("func____1").is_err());
        assert!(p("set__").is_err());
        assert!(p("enum__x__1").is_err());
        assert!(p("structx__y__1").is_err());
    }
}
