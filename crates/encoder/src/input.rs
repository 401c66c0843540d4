//! The ELF side of the input: debug sections (decompressed, and for relocatable objects with
//! their relocations) in [`Input`], and the symbol table facts pahole's encoder uses in
//! [`Symbols`]. The two are read apart so that the encoder can read the symbols (a
//! vmlinux has over 100,000) on a second thread while it reads the unit headers.
//!
//! # Sections
//!
//! Each DWARF section is looked up by name; `object` also finds the old GNU-style `.zdebug_*`
//! name and decompresses both that form and `SHF_COMPRESSED` (zlib and zstd) sections. Only
//! the sections the encoder reads are loaded: `.debug_info`, `.debug_abbrev`, `.debug_str`,
//! `.debug_str_offsets`, `.debug_line_str`, `.debug_addr`, and `.debug_line` (gimli reads
//! each unit's line program header when it opens the unit); with `optimized_func` or
//! `consistent_func` also the location lists (`.debug_loc`, `.debug_loclists`), whose first
//! entry says which register holds a parameter.
//!
//! # Relocations
//!
//! In a relocatable object (`ET_REL`: `.o`, `.ko`) the debug sections are incomplete until
//! their `.rela.debug_*` relocations are applied. They are applied only there: a Debian `-dbg`
//! vmlinux (`ET_EXEC`) also carries `.rela.debug_info` (from `--emit-relocs`), and applying
//! those would corrupt offsets that the linker already resolved.
//!
//! They are applied once, to a copy of each section that has any, as libdwfl does for pahole:
//! each relocated field (of the relocation's size) is overwritten with the symbol's value plus
//! the explicit addend (`RELA`), or has the symbol's value added to it (`REL`, implicit
//! addend). Reading is then plain, and sections without relocations stay borrowed from the
//! input (a mapped file).
//!
//! Relocated addresses follow elfutils' libdwfl, which pahole uses: the allocated sections of
//! a relocatable file are laid out one after the other, each at its alignment, from a non-zero
//! base, and a symbol's value is its section's address plus `st_value`. The layout matters for
//! one thing: telling a per-CPU variable (in `.data..percpu`) from a variable at the same
//! offset of another section. References into debug sections stay section offsets.
//!
//! Relocations of kinds other than absolute ones are skipped one by one instead of failing
//! the whole section. None of them lands on a value the encoder reads: riscv64's
//! `R_RISCV_ADD64`/`R_RISCV_SUB64` pairs in `.debug_info` (gcc's `DW_AT_high_pc` lengths,
//! left to the linker because of relaxation) are the ones found in kernel modules, and no
//! rule reads `DW_AT_high_pc`. (All 3,103 modules of Debian 13's riscv64 6.12 kernel encode
//! byte-identical to pahole 1.24's BTF, whose libdwfl applies them.)

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::Path;

use object::read::elf::{ElfFile, FileHeader, SectionHeader, Sym};
use object::{elf, Endianness, Object, ObjectSection, RelocationKind, RelocationTarget};

use crate::error::{EncodeError, ErrorKind};

/// Where libdwfl starts its layout of a relocatable file's sections (its offline redzone).
const REL_LAYOUT_BASE: u64 = 0x10000;

/// The name of the per-CPU section.
pub const PERCPU_SECTION: &str = ".data..percpu";

/// The debug sections the encoder reads, in the order of [`Input::sections`]. The last
/// [`LOCATION_SECTIONS`] are only loaded when parameter locations are wanted.
pub const DEBUG_SECTIONS: [&str; 9] = [
    ".debug_info",
    ".debug_abbrev",
    ".debug_str",
    ".debug_str_offsets",
    ".debug_line_str",
    ".debug_addr",
    ".debug_line",
    ".debug_loc",
    ".debug_loclists",
];

/// How many of the last [`DEBUG_SECTIONS`] hold location lists.
const LOCATION_SECTIONS: usize = 2;

/// What [`Input::load`] collects besides the always-read DWARF sections.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// The location list sections (`optimized_func`, `consistent_func`).
    pub locations: bool,
}

/// One per-CPU variable symbol: `STT_OBJECT`, in `.data..percpu`, of non-zero size.
#[derive(Debug, Clone)]
pub struct PercpuSymbol {
    /// Section-relative address: `st_value`, less the section's address outside `ET_REL`
    /// (where `st_value` is absolute: an arm64 vmlinux's `.data..percpu` is not at 0 as
    /// x86_64's is).
    pub addr: u64,
    pub size: u32,
    pub name: String,
}

/// The per-CPU section and its variables, sorted by address.
#[derive(Debug, Clone, Default)]
pub struct Percpu {
    /// The section's index in the section header table.
    pub index: usize,
    /// The section's address as libdwfl sees it (the layout address for `ET_REL`).
    pub base_addr: u64,
    pub size: u64,
    pub vars: Vec<PercpuSymbol>,
}

impl Percpu {
    /// The symbol at `addr` (section-relative), as pahole's binary search finds it.
    pub fn find(&self, addr: u64) -> Option<&PercpuSymbol> {
        self.vars
            .binary_search_by(|v| v.addr.cmp(&addr))
            .ok()
            .map(|i| &self.vars[i])
    }
}

/// A set of byte strings borrowed from the input, hashed with the interner's hash (the
/// default SipHash was a fifth of reading a vmlinux's ELF before the first unit).
pub type ByteSet<'data> =
    HashSet<&'data [u8], std::hash::BuildHasherDefault<crate::merge::BytesHasher>>;

/// The `STT_FUNC` symbols of `.symtab`, as pahole's function table matches DWARF names
/// against them.
#[derive(Debug, Clone, Default)]
pub struct FunctionSymbols<'data> {
    /// Every name, for exact matches.
    pub names: ByteSet<'data>,
    /// For the names with a dot (`foo.isra.0`, `foo.constprop.0`, `foo.part.0`,
    /// `foo.cold`): the part before the first dot, when not empty (pahole's `prefixlen`).
    pub clone_prefixes: ByteSet<'data>,
    /// Whether any name has a dot (pahole's `suffix_cnt != 0`).
    pub has_suffixed: bool,
    /// With [`SymbolsWanted::pahole_table`]: pahole 1.30's function table, to look names up
    /// as it does ([`FunctionSymbols::pahole_finds`]).
    pub pahole_table: Option<PaholeTable<'data>>,
}

impl<'data> FunctionSymbols<'data> {
    fn add(&mut self, name: &'data [u8]) {
        if let Some(dot) = name.iter().position(|&c| c == b'.') {
            self.has_suffixed = true;
            if dot > 0 {
                self.clone_prefixes.insert(&name[..dot]);
            }
        }
        self.names.insert(name);
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Whether pahole 1.30's exact lookup finds `name`: with the table, by its binary search
    /// ([`PaholeTable`]); without, whether a symbol has the name.
    pub fn pahole_finds(&self, name: &[u8]) -> bool {
        match &self.pahole_table {
            Some(t) => t.finds(name),
            None => self.names.contains(name),
        }
    }
}

/// pahole 1.30's table of function symbols (`struct elf_functions`), kept to look names up as
/// pahole does, misses included.
///
/// Each `STT_FUNC` symbol, in symbol table order, is an entry with a *prefix length*: the
/// length of the name before its first dot, or of the whole name. pahole sorts the entries
/// with `qsort` (glibc's: a stable top-down merge sort) and a comparison that, when both
/// prefix lengths are equal, compares only that many bytes (`strncmp`), else whole names
/// (`strcmp`). So `foo` and `foo.part.0` compare equal and keep their symbol table order, a
/// local `foo.part.0` before a global `foo`. The exact lookup of a DWARF name then
/// binary-searches (glibc's `bsearch`) with a key of prefix length 0, so by `strcmp`; where
/// a `foo.part.0` sits just before `foo`, the search may step past `foo` and miss it, and
/// without `optimized_func` the function is not encoded. Whether it misses depends on where
/// the search's midpoints fall, so the table is searched as pahole searches it.
#[derive(Debug, Clone, Default)]
pub struct PaholeTable<'data> {
    /// (name, prefix length), in pahole's sorted order.
    entries: Vec<(&'data [u8], usize)>,
}

impl<'data> PaholeTable<'data> {
    /// The table of `names`, in symbol table order.
    pub fn new(names: impl IntoIterator<Item = &'data [u8]>) -> Self {
        let mut entries: Vec<(&[u8], usize)> = names
            .into_iter()
            .map(|n| (n, n.iter().position(|&c| c == b'.').unwrap_or(n.len())))
            .collect();
        let mut tmp = entries.clone();
        merge_sort(&mut entries, &mut tmp, &|a, b| table_cmp(a, b));
        PaholeTable { entries }
    }

    /// glibc's `bsearch` for `name` with a key of prefix length 0.
    pub fn finds(&self, name: &[u8]) -> bool {
        let (mut l, mut u) = (0, self.entries.len());
        while l < u {
            let idx = (l + u) / 2;
            match table_cmp(&(name, 0), &self.entries[idx]) {
                std::cmp::Ordering::Less => u = idx,
                std::cmp::Ordering::Greater => l = idx + 1,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }
}

/// pahole's `functions_cmp`: `strncmp` over the prefix when both prefix lengths are equal
/// (and not 0), else `strcmp`.
fn table_cmp(a: &(&[u8], usize), b: &(&[u8], usize)) -> std::cmp::Ordering {
    if a.1 != 0 && a.1 == b.1 {
        a.0[..a.1.min(a.0.len())].cmp(&b.0[..a.1.min(b.0.len())])
    } else {
        a.0.cmp(b.0)
    }
}

/// glibc's `msort_with_tmp`: halves (the first `n / 2` elements, then the rest) sorted in
/// turn, then merged taking from the first while it compares less or equal.
fn merge_sort<T: Copy>(v: &mut [T], tmp: &mut [T], cmp: &dyn Fn(&T, &T) -> std::cmp::Ordering) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    {
        let (a, b) = v.split_at_mut(n1);
        let (ta, tb) = tmp.split_at_mut(n1);
        merge_sort(a, ta, cmp);
        merge_sort(b, tb, cmp);
    }
    let (mut i, mut j, mut k) = (0, n1, 0);
    while i < n1 && j < n {
        if cmp(&v[i], &v[j]) != std::cmp::Ordering::Greater {
            tmp[k] = v[i];
            i += 1;
        } else {
            tmp[k] = v[j];
            j += 1;
        }
        k += 1;
    }
    // What is left of the first half goes before the rest of the second, which is in place.
    tmp[k..k + (n1 - i)].copy_from_slice(&v[i..n1]);
    k += n1 - i;
    v[..k].copy_from_slice(&tmp[..k]);
}

/// The kind of an ELF section, as far as variables go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    /// `SHT_PROGBITS` or `SHT_NOBITS`: a section variables can live in.
    Data,
    Other,
}

/// One entry of the section header table.
#[derive(Debug, Clone)]
pub struct ElfSection {
    pub name: String,
    /// The address as libdwfl sees it (the layout address for `ET_REL`).
    pub addr: u64,
    pub size: u64,
    pub kind: SectionKind,
}

/// Everything the encoder takes from the ELF file.
pub struct Input<'data> {
    pub little_endian: bool,
    /// `e_machine`, for the registers that carry parameters.
    pub machine: elf::Machine,
    /// Section data for each name of [`DEBUG_SECTIONS`] (empty when missing), relocated for
    /// `ET_REL`.
    pub sections: Vec<Cow<'data, [u8]>>,
    /// The section header table, index 0 included; empty without a symbol table (pahole's
    /// variable encoder gives up then).
    pub elf_sections: Vec<ElfSection>,
    /// A relocatable object (`ET_REL`: `.o`, `.ko`).
    pub relocatable: bool,
}

impl<'data> Input<'data> {
    /// Reads the ELF facts the encoder needs.
    pub fn load(path: &Path, data: &'data [u8], opts: LoadOptions) -> Result<Self, EncodeError> {
        Self::load_releasing(path, data, opts, &|_| {})
    }

    /// [`Input::load`], telling `done_with` of the parts of `data` it read and no longer
    /// needs: in a relocatable file, each relocated section's own bytes (it was copied) and
    /// its relocation section's (see [`crate::Hooks::done_with`]).
    pub fn load_releasing(
        path: &Path,
        data: &'data [u8],
        opts: LoadOptions,
        done_with: &dyn Fn(&[u8]),
    ) -> Result<Self, EncodeError> {
        let err = |kind| EncodeError::new(path, kind);
        let file = object::File::parse(data).map_err(|e| err(ErrorKind::Elf(e)))?;
        match file {
            object::File::Elf32(f) => load_elf(path, &f, opts, done_with),
            object::File::Elf64(f) => load_elf(path, &f, opts, done_with),
            _ => Err(err(ErrorKind::NotElf)),
        }
    }
}

/// What the encoder takes from the symbol table.
#[derive(Debug, Default)]
pub struct Symbols<'data> {
    /// The `STT_FUNC` symbols of `.symtab`.
    pub functions: FunctionSymbols<'data>,
    /// The per-CPU section, if the file has one and a symbol table (and `percpu` was asked
    /// for).
    pub percpu: Option<Percpu>,
}

/// What [`Symbols::read`] collects besides the function names.
#[derive(Debug, Clone, Copy, Default)]
pub struct SymbolsWanted {
    /// The per-CPU variable symbols (pahole does not collect them with
    /// `--skip_encoding_btf_vars`).
    pub percpu: bool,
    /// [`FunctionSymbols::pahole_table`].
    pub pahole_table: bool,
}

impl<'data> Symbols<'data> {
    /// Reads the function symbols, and what `wanted` asks for.
    pub fn read(
        path: &Path,
        data: &'data [u8],
        wanted: SymbolsWanted,
    ) -> Result<Self, EncodeError> {
        let err = |kind| EncodeError::new(path, kind);
        let file = object::File::parse(data).map_err(|e| err(ErrorKind::Elf(e)))?;
        match file {
            object::File::Elf32(f) => read_symbols(path, &f, wanted),
            object::File::Elf64(f) => read_symbols(path, &f, wanted),
            _ => Err(err(ErrorKind::NotElf)),
        }
    }
}

/// The reader of the debug sections (relocated already for `ET_REL`).
pub type PlainReader<'a> = gimli::EndianSlice<'a, gimli::RunTimeEndian>;

impl Input<'_> {
    /// The byte order of the file, for gimli.
    pub fn endian(&self) -> gimli::RunTimeEndian {
        if self.little_endian {
            gimli::RunTimeEndian::Little
        } else {
            gimli::RunTimeEndian::Big
        }
    }

    /// The DWARF sections, ready to read.
    pub fn plain_dwarf(&self) -> gimli::Dwarf<PlainReader<'_>> {
        let endian = self.endian();
        gimli::Dwarf::load(|id| -> Result<_, std::convert::Infallible> {
            let data = section_index(id).map_or(&[][..], |i| &*self.sections[i]);
            Ok(gimli::EndianSlice::new(data, endian))
        })
        .unwrap_or_else(|never| match never {})
    }
}

/// The uncompressed size of `.debug_info` (or `.zdebug_info`) in the ELF file `data`: 0
/// without one, `None` if `data` does not parse.
pub fn debug_info_size(data: &[u8]) -> Option<u64> {
    let file = object::File::parse(data).ok()?;
    Some(file.section_by_name(DEBUG_SECTIONS[0]).map_or(0, |s| {
        s.compressed_file_range()
            .map_or(s.size(), |r| r.uncompressed_size)
    }))
}

/// The index in [`DEBUG_SECTIONS`] of a gimli section.
fn section_index(id: gimli::SectionId) -> Option<usize> {
    DEBUG_SECTIONS.iter().position(|n| *n == id.name())
}

fn load_elf<'data, Elf>(
    path: &Path,
    file: &ElfFile<'data, Elf>,
    opts: LoadOptions,
    done_with: &dyn Fn(&[u8]),
) -> Result<Input<'data>, EncodeError>
where
    Elf: FileHeader<Endian = Endianness>,
{
    let endian = file.endian();
    let is_rel = file.elf_header().e_type(endian) == elf::ET_REL;
    let section_err = |name: &str, error| {
        EncodeError::new(
            path,
            ErrorKind::Section {
                section: name.to_string(),
                error,
            },
        )
    };

    let headers: Vec<&Elf::SectionHeader> = file.elf_section_table().iter().collect();
    let addrs = section_addrs(file, &headers);

    let symtab = file.elf_symbol_table();
    let mut sections = Vec::with_capacity(DEBUG_SECTIONS.len());
    for (i, name) in DEBUG_SECTIONS.into_iter().enumerate() {
        let wanted = opts.locations || i < DEBUG_SECTIONS.len() - LOCATION_SECTIONS;
        let Some(section) = file.section_by_name(name).filter(|_| wanted) else {
            sections.push(Cow::Borrowed(&[][..]));
            continue;
        };
        let mut data = kbtf_btf::file::section_data(&section).map_err(|e| section_err(name, e))?;
        if is_rel {
            // A section with relocations is copied whole before the first is applied: the
            // copy's memory is backed at once, as it is about to be written whole.
            if let Cow::Borrowed(bytes) = data {
                if section.relocations().next().is_some() {
                    let mut copy = Vec::new();
                    kbtf_btf::mem::reserve_populated(&mut copy, bytes.len());
                    copy.extend_from_slice(bytes);
                    data = Cow::Owned(copy);
                }
            }
            for (offset, reloc) in section.relocations() {
                if reloc.kind() != RelocationKind::Absolute {
                    continue;
                }
                let value = match reloc.target() {
                    RelocationTarget::Symbol(index) => {
                        let Ok(sym) = symtab.symbol(index) else {
                            continue;
                        };
                        let st_value: u64 = sym.st_value(endian).into();
                        let sec = symtab.symbol_section(endian, sym, index).ok().flatten();
                        let base = sec.and_then(|s| addrs.get(s.0)).copied().unwrap_or(0);
                        base.wrapping_add(st_value)
                    }
                    RelocationTarget::Section(index) => addrs.get(index.0).copied().unwrap_or(0),
                    _ => continue,
                };
                let Ok(offset) = usize::try_from(offset) else {
                    continue;
                };
                let value = value.wrapping_add(reloc.addend() as u64);
                let width = usize::from(reloc.size() / 8);
                let fits = matches!(offset.checked_add(width), Some(end) if end <= data.len());
                if !matches!(width, 1 | 2 | 4 | 8) || !fits {
                    continue;
                }
                let field = &mut data.to_mut()[offset..offset + width];
                let value = if reloc.has_implicit_addend() {
                    read_uint(field, endian).wrapping_add(value)
                } else {
                    value
                };
                write_uint(field, endian, value);
            }
            // Read from the copy from now on: the file's bytes of the section and of its
            // relocations (for a large module, more than the copy) are not needed again.
            if let Cow::Owned(_) = data {
                if let Ok(bytes) = section.data() {
                    done_with(bytes);
                }
                if let Ok(Some(rela)) = section.elf_relocation_section() {
                    if let Ok(bytes) = rela.data(endian, file.data()) {
                        done_with(bytes);
                    }
                }
            }
        }
        sections.push(data);
    }

    let has_symtab = !symtab.is_empty();
    let mut elf_sections = Vec::new();
    if has_symtab {
        let table = file.elf_section_table();
        for (i, sh) in headers.iter().enumerate() {
            let name = table
                .section_name(endian, sh)
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_default();
            let sh_type = sh.sh_type(endian);
            elf_sections.push(ElfSection {
                name,
                addr: addrs[i],
                size: sh.sh_size(endian).into(),
                kind: if sh_type == elf::SHT_PROGBITS || sh_type == elf::SHT_NOBITS {
                    SectionKind::Data
                } else {
                    SectionKind::Other
                },
            });
        }
    }

    Ok(Input {
        little_endian: endian == Endianness::Little,
        machine: file.elf_header().e_machine(endian),
        sections,
        elf_sections,
        relocatable: is_rel,
    })
}

/// Section addresses: the file's own, or libdwfl's layout for relocatable files.
fn section_addrs<'data, Elf>(
    file: &ElfFile<'data, Elf>,
    headers: &[&Elf::SectionHeader],
) -> Vec<u64>
where
    Elf: FileHeader<Endian = Endianness>,
{
    let endian = file.endian();
    let is_rel = file.elf_header().e_type(endian) == elf::ET_REL;
    let mut addrs = vec![0u64; headers.len()];
    let mut cursor = REL_LAYOUT_BASE;
    for (i, sh) in headers.iter().enumerate() {
        let addr: u64 = sh.sh_addr(endian).into();
        let flags = sh.sh_flags(endian);
        if is_rel && flags.contains(elf::SHF_ALLOC) && addr == 0 {
            let align: u64 = sh.sh_addralign(endian).into();
            let align = align.max(1);
            let at = cursor.div_ceil(align).saturating_mul(align);
            addrs[i] = at;
            cursor = at.saturating_add(sh.sh_size(endian).into());
        } else {
            addrs[i] = addr;
        }
    }
    addrs
}

fn read_symbols<'data, Elf>(
    path: &Path,
    file: &ElfFile<'data, Elf>,
    wanted: SymbolsWanted,
) -> Result<Symbols<'data>, EncodeError>
where
    Elf: FileHeader<Endian = Endianness>,
{
    let percpu = wanted.percpu;
    let endian = file.endian();
    let headers: Vec<&Elf::SectionHeader> = file.elf_section_table().iter().collect();
    let addrs = section_addrs(file, &headers);
    let is_rel = file.elf_header().e_type(endian) == elf::ET_REL;
    let symtab = file.elf_symbol_table();
    // The symbol table: pahole reads `.symtab` only.
    let has_symtab = !symtab.is_empty();
    let mut functions = FunctionSymbols::default();
    let percpu_index = file
        .section_by_name(PERCPU_SECTION)
        .map(|s| s.index().0)
        .filter(|_| has_symtab);
    let mut percpu_vars = Vec::new();
    functions.names.reserve(symtab.symbols().len() / 2);
    // With `wanted.pahole_table`: every function name, in symbol table order.
    let mut table = Vec::new();
    for (i, sym) in symtab.symbols().iter().enumerate() {
        let index = object::SymbolIndex(i);
        let st_type = sym.st_type();
        if st_type == elf::STT_FUNC {
            if let Ok(name) = symtab.symbol_name(endian, sym) {
                functions.add(name);
                if wanted.pahole_table {
                    table.push(name);
                }
            }
        }
        let Some(percpu_index) = percpu_index.filter(|_| percpu) else {
            continue;
        };
        let sec = symtab.symbol_section(endian, sym, index).ok().flatten();
        if sec.map(|s| s.0) != Some(percpu_index) || st_type != elf::STT_OBJECT {
            continue;
        }
        let size: u64 = sym.st_size(endian).into();
        if size == 0 {
            continue;
        }
        let name = symtab.symbol_name(endian, sym).unwrap_or_default();
        let name = String::from_utf8_lossy(name).into_owned();
        if !btf_name_valid(&name) {
            return Err(EncodeError::new(
                path,
                ErrorKind::PercpuSymbol {
                    name,
                    why: "not a valid BTF name (pahole stops here unless --btf_encode_force)",
                },
            ));
        }
        if percpu_vars.len() == MAX_PERCPU_VARS {
            return Err(EncodeError::new(
                path,
                ErrorKind::PercpuSymbol {
                    name,
                    why: "more than 4096 per-CPU variables, pahole 1.24's limit",
                },
            ));
        }
        let value: u64 = sym.st_value(endian).into();
        // pahole 1.24 makes it section-relative the same way (wrapping, as its u64 does).
        let addr = if is_rel {
            value
        } else {
            value.wrapping_sub(addrs[percpu_index])
        };
        percpu_vars.push(PercpuSymbol {
            addr,
            size: size as u32,
            name,
        });
    }
    if wanted.pahole_table {
        functions.pahole_table = Some(PaholeTable::new(table));
    }
    // pahole sorts with qsort by address; glibc's qsort is a stable merge sort here.
    percpu_vars.sort_by_key(|v| v.addr);
    let percpu = percpu_index.map(|i| Percpu {
        index: i,
        base_addr: addrs[i],
        size: headers[i].sh_size(endian).into(),
        vars: percpu_vars,
    });

    Ok(Symbols { functions, percpu })
}

/// An unsigned field of 1, 2, 4 or 8 bytes in the file's byte order.
fn read_uint(field: &[u8], endian: Endianness) -> u64 {
    let mut v = 0u64;
    for i in 0..field.len() {
        let b = match endian {
            Endianness::Little => field[field.len() - 1 - i],
            Endianness::Big => field[i],
        };
        v = v << 8 | u64::from(b);
    }
    v
}

/// Writes the low bytes of `value` into a field of 1, 2, 4 or 8 bytes.
fn write_uint(field: &mut [u8], endian: Endianness, value: u64) {
    let n = field.len();
    for i in 0..n {
        let b = (value >> (8 * i)) as u8;
        match endian {
            Endianness::Little => field[i] = b,
            Endianness::Big => field[n - 1 - i] = b,
        }
    }
}

/// pahole 1.24's limit on per-CPU variables (`MAX_PERCPU_VAR_CNT`).
const MAX_PERCPU_VARS: usize = 4096;

/// pahole's `btf_name_valid`: a C identifier (dots allowed) of at most 128 characters.
pub fn btf_name_valid(name: &str) -> bool {
    let b = name.as_bytes();
    let ok = |c: u8, first: bool| {
        c == b'_'
            || c == b'.'
            || if first {
                c.is_ascii_alphabetic()
            } else {
                c.is_ascii_alphanumeric()
            }
    };
    match b.split_first() {
        Some((&first, rest)) => {
            ok(first, true) && rest.len() < 128 && rest.iter().all(|&c| ok(c, false))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(names: &[&'static str]) -> PaholeTable<'static> {
        PaholeTable::new(names.iter().map(|n| n.as_bytes()))
    }

    #[test]
    fn pahole_table_misses_a_name_after_its_suffixed_copy() {
        // Sorted: a, foo.part.0, foo (the last two compare equal and keep their order).
        // The search for `foo` meets `foo.part.0` first, which strcmp puts after it, and
        // goes left: pahole 1.30 does not find `foo`.
        let t = table(&["a", "foo.part.0", "foo"]);
        assert!(!t.finds(b"foo"));
        assert!(t.finds(b"a") && t.finds(b"foo.part.0"));
        // The same pair, where the first midpoint is `foo` itself: found.
        let t = table(&["foo.part.0", "foo", "z"]);
        assert!(t.finds(b"foo"));
        // Without a suffixed copy every name is found.
        let names = ["vfree", "kmalloc", "a.b", "zz", "kfree", "b"];
        let t = table(&names);
        assert!(names.iter().all(|n| t.finds(n.as_bytes())));
        assert!(!t.finds(b"missing"));
    }

    #[test]
    fn merge_sort_is_stable_as_glibc_msort() {
        // With a consistent comparison, a stable sort: the same order as Rust's.
        let mut x: u32 = 12345;
        let v: Vec<(u32, usize)> = (0..1000)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                ((x >> 16) % 50, i)
            })
            .collect();
        let mut ours = v.clone();
        let mut tmp = v.clone();
        merge_sort(&mut ours, &mut tmp, &|a, b| a.0.cmp(&b.0));
        let mut std = v;
        std.sort_by_key(|e| e.0);
        assert_eq!(ours, std);
    }
}
