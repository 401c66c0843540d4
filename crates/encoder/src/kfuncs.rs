//! The kfuncs listed in `.BTF_ids`, for `--btf_features=decl_tag_kfuncs`: each one's FUNC
//! gets a DECL_TAG `bpf_kfunc` (pahole 1.27), and also `bpf_fastcall` when its flags say
//! `KF_FASTCALL` (pahole 1.28).
//!
//! Since Linux 6.9, `BTF_KFUNCS_START(set)` opens a `struct btf_id_set8` in `.BTF_ids` under
//! the local symbol `__BTF_ID__set8__set` (`{ u32 cnt; u32 flags; { u32 id; u32 flags; }
//! pairs[]; }`), whose size `BTF_KFUNCS_END` sets and whose flags word has
//! `BTF_SET8_KFUNCS`. Each `BTF_ID_FLAGS(func, name, flags)` inside it is a pair labelled
//! `__BTF_ID__func__name__N`. pahole's rules (`btf_encoder__collect_kfuncs`), followed here:
//!
//! - A *kfunc set* is a symbol of `.BTF_ids` named `__BTF_ID__set8__*` whose set's flags word
//!   (4 bytes after the symbol) has bit 0. It covers `[st_value, st_value + st_size)`. Sets
//!   of older kernels have no flags and hold no kfunc; a symbol outside the section is not a
//!   set.
//! - A *kfunc* is a symbol of `.BTF_ids` named `__BTF_ID__func__NAME__N` (the last `__`
//!   and what follows it are dropped; a name without `__` after the prefix is not one) whose
//!   address lies in a kfunc set. Its pair's flags word is 4 bytes after the symbol; a pair
//!   that does not fit in the section is an error, as pahole stops there. A name listed in
//!   several sets keeps the flags of the last symbol in symbol table order.
//! - Addresses are `st_value` less the section's own `sh_addr` (both section-relative in a
//!   `.ko`, both absolute in a vmlinux); words are in the file's byte order.
//!
//! The tags follow the FUNC of that name, before its `btf_decl_tag` annotations, wherever
//! the FUNC is encoded (`merge`). Without `.BTF_ids` or a symbol table there is no kfunc.

use std::collections::HashMap;
use std::path::Path;

use object::read::elf::{ElfFile, FileHeader, Sym};
use object::{Endianness, Object, ObjectSection};

use crate::error::{EncodeError, ErrorKind};

const SECTION: &str = ".BTF_ids";
const SET8_PREFIX: &[u8] = b"__BTF_ID__set8__";
const FUNC_PREFIX: &[u8] = b"__BTF_ID__func__";
/// `BTF_SET8_KFUNCS` in a set's flags word.
const SET8_KFUNCS: u32 = 1 << 0;
/// `KF_FASTCALL` in a kfunc's flags (include/linux/btf.h, Linux 6.13).
const KF_FASTCALL: u32 = 1 << 12;

/// The kfuncs of one ELF file: name to the flags of its pair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kfuncs(HashMap<String, u32>);

impl Kfuncs {
    /// Reads the kfunc sets of `.BTF_ids` in the ELF file `data` (read from `path`).
    pub fn read(path: &Path, data: &[u8]) -> Result<Kfuncs, EncodeError> {
        let err = |kind| EncodeError::new(path, kind);
        let file = object::File::parse(data).map_err(|e| err(ErrorKind::Elf(e)))?;
        match file {
            object::File::Elf32(f) => read_elf(&f).map_err(err),
            object::File::Elf64(f) => read_elf(&f).map_err(err),
            _ => Err(err(ErrorKind::NotElf)),
        }
    }

    /// The DECL_TAG values for the FUNC named `name`, in pahole's order.
    pub fn tags(&self, name: &str) -> impl Iterator<Item = &'static [u8]> {
        let flags = self.0.get(name).copied();
        let kfunc = flags.map(|_| &b"bpf_kfunc"[..]);
        let fastcall = flags
            .filter(|f| f & KF_FASTCALL != 0)
            .map(|_| &b"bpf_fastcall"[..]);
        kfunc.into_iter().chain(fastcall)
    }
}

/// `NAME` of `__BTF_ID__func__NAME__N`, as pahole's `get_func_name` cuts it.
fn kfunc_name(symbol: &[u8]) -> Option<&[u8]> {
    let rest = symbol.strip_prefix(FUNC_PREFIX)?;
    if !rest.windows(2).any(|w| w == b"__") {
        return None;
    }
    let last = rest.iter().rposition(|&c| c == b'_')?;
    (last > 0 && rest[last - 1] == b'_').then(|| &rest[..last - 1])
}

/// The word 4 bytes after `off` in `data` (a set's or a pair's flags), if it fits.
fn flags_at(data: &[u8], off: u64, endian: Endianness) -> Option<u32> {
    let at = usize::try_from(off).ok()?.checked_add(4)?;
    let word: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(match endian {
        Endianness::Little => u32::from_le_bytes(word),
        Endianness::Big => u32::from_be_bytes(word),
    })
}

fn read_elf<'data, Elf>(file: &ElfFile<'data, Elf>) -> Result<Kfuncs, ErrorKind>
where
    Elf: FileHeader<Endian = Endianness>,
{
    let endian = file.endian();
    let symtab = file.elf_symbol_table();
    let Some(section) = file.section_by_name(SECTION) else {
        return Ok(Kfuncs::default());
    };
    if symtab.is_empty() {
        return Ok(Kfuncs::default());
    }
    let index = section.index();
    let addr = section.address();
    let data = kbtf_btf::file::section_data(&section).map_err(|error| ErrorKind::Section {
        section: SECTION.into(),
        error,
    })?;
    let data: &[u8] = &data;
    // The symbols of the section, with their names and addresses relative to it.
    let in_section = || {
        symtab
            .symbols()
            .iter()
            .enumerate()
            .filter_map(move |(i, sym)| {
                let sec = symtab
                    .symbol_section(endian, sym, object::SymbolIndex(i))
                    .ok()
                    .flatten()?;
                if sec != index {
                    return None;
                }
                let name = symtab.symbol_name(endian, sym).ok()?;
                let value: u64 = sym.st_value(endian).into();
                let size: u64 = sym.st_size(endian).into();
                Some((name, value, size))
            })
    };
    let sets: Vec<(u64, u64)> = in_section()
        .filter(|(name, value, _)| {
            name.starts_with(SET8_PREFIX)
                && value
                    .checked_sub(addr)
                    .filter(|&off| off < data.len() as u64)
                    .and_then(|off| flags_at(data, off, endian))
                    .is_some_and(|flags| flags & SET8_KFUNCS != 0)
        })
        .map(|(_, value, size)| (value, value.saturating_add(size)))
        .collect();
    let mut kfuncs = HashMap::new();
    if sets.is_empty() {
        return Ok(Kfuncs(kfuncs));
    }
    for (name, value, _) in in_section() {
        let Some(func) = kfunc_name(name) else {
            continue;
        };
        if !sets
            .iter()
            .any(|&(start, end)| start <= value && value < end)
        {
            continue;
        }
        let flags = value
            .checked_sub(addr)
            .and_then(|off| flags_at(data, off, endian))
            .ok_or_else(|| ErrorKind::Kfunc {
                name: String::from_utf8_lossy(func).into_owned(),
                offset: value.wrapping_sub(addr),
            })?;
        kfuncs.insert(String::from_utf8_lossy(func).into_owned(), flags);
    }
    Ok(Kfuncs(kfuncs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cut_as_pahole_cuts_them() {
        assert_eq!(
            kfunc_name(b"__BTF_ID__func__vfs_close__1"),
            Some(&b"vfs_close"[..])
        );
        assert_eq!(
            kfunc_name(b"__BTF_ID__func__bpf_obj_new_impl__917"),
            Some(&b"bpf_obj_new_impl"[..])
        );
        assert_eq!(kfunc_name(b"__BTF_ID__func__a__b__2"), Some(&b"a__b"[..]));
        assert_eq!(kfunc_name(b"__BTF_ID__func___"), None);
        assert_eq!(kfunc_name(b"__BTF_ID__func__noseparator_1"), None);
        assert_eq!(kfunc_name(b"__BTF_ID__func__x__"), Some(&b"x"[..]));
        assert_eq!(kfunc_name(b"__BTF_ID__struct__task_struct__1"), None);
    }

    #[test]
    fn flags_words_out_of_the_section_are_none() {
        let data = [1, 0, 0, 0, 2, 0, 0, 0];
        assert_eq!(flags_at(&data, 0, Endianness::Little), Some(2));
        assert_eq!(flags_at(&data, 0, Endianness::Big), Some(2 << 24));
        assert_eq!(flags_at(&data, 1, Endianness::Little), None);
        assert_eq!(flags_at(&data, u64::MAX, Endianness::Little), None);
    }
}
