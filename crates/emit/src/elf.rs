//! Replacing or adding one section of an ELF file, computing the new file bytes.
//!
//! This is an append-only writer. It never moves or renumbers an existing section, so symbols,
//! relocations, COMDAT groups (`SHT_GROUP`), program headers and sections this code does not
//! understand (LLVM's, vendors') stay exactly as they were:
//!
//! * a section that exists and whose new contents fit in its old place is rewritten there (the
//!   slack is zeroed and `sh_size` shrinks), so regenerating the same BTF does not grow the file;
//! * otherwise the new contents go at the end of the file and the section header points there;
//! * a new section is appended after the existing ones (so it gets the next index), with a copy
//!   of the section-name table grown by its name and a new section header table at the end.
//!
//! ELF32 and ELF64, little- and big-endian, and extended section numbering (`e_shnum == 0`,
//! `e_shstrndx == SHN_XINDEX`) are handled. A module with an appended signature is refused:
//! the caller must strip (or redo) the signature, which would otherwise no longer be at the end.

use std::borrow::Cow;

use crate::error::EmitError;
use crate::patch::Patched;

/// `SHT_PROGBITS`.
pub const SHT_PROGBITS: u32 = 1;
const SHT_NOBITS: u32 = 8;
const SHT_NULL: u32 = 0;
const SHN_XINDEX: u32 = 0xffff;
const SHN_LORESERVE: usize = 0xff00;
/// The trailer the kernel's sign-file appends to a signed module.
pub const MODULE_SIG_MAGIC: &[u8] = b"~Module signature appended~\n";

/// What to put into the file: the section's name, contents and header fields for a new one.
#[derive(Debug, Clone)]
pub struct SectionSpec<'a> {
    pub name: &'a str,
    pub data: &'a [u8],
    /// `sh_type` of a new section; an existing one must already have this type.
    pub sh_type: u32,
    /// `sh_flags` of a new section (0 for `.BTF` in a module: not SHF_ALLOC, as pahole writes it).
    pub flags: u64,
    /// `sh_addralign` of a new section.
    pub align: u64,
}

impl<'a> SectionSpec<'a> {
    /// A `.BTF`-like section: PROGBITS, no flags, alignment 1, as pahole adds it.
    pub fn progbits(name: &'a str, data: &'a [u8]) -> SectionSpec<'a> {
        SectionSpec {
            name,
            data,
            sh_type: SHT_PROGBITS,
            flags: 0,
            align: 1,
        }
    }
}

#[derive(Clone, Copy)]
struct Layout {
    is64: bool,
    le: bool,
}

impl Layout {
    fn shdr_size(self) -> usize {
        if self.is64 {
            64
        } else {
            40
        }
    }
    fn get(self, d: &[u8], off: usize, n: usize) -> Result<u64, EmitError> {
        let b = d
            .get(off..off + n)
            .ok_or_else(|| EmitError::BadElf(format!("truncated at offset {off:#x}")))?;
        let mut v = 0u64;
        for i in 0..n {
            let byte = if self.le { b[n - 1 - i] } else { b[i] };
            v = v << 8 | byte as u64;
        }
        Ok(v)
    }
    /// Reads an `n`-byte field at `off` of the new contents.
    fn read(self, p: &Patched<'_>, off: usize, n: usize) -> Result<u64, EmitError> {
        let b = p
            .read(off, n)
            .ok_or_else(|| EmitError::BadElf(format!("truncated at offset {off:#x}")))?;
        self.get(&b, 0, n)
    }
    /// Writes an `n`-byte field (n <= 8) at `off`.
    fn put(self, p: &mut Patched<'_>, off: usize, n: usize, v: u64) -> Result<(), EmitError> {
        let mut b = [0u8; 8];
        for (i, slot) in b.iter_mut().take(n).enumerate() {
            let shift = if self.le { i } else { n - 1 - i };
            *slot = (v >> (8 * shift)) as u8;
        }
        p.write(off, b.get(..n).unwrap_or_default())
    }
    /// Width of an address-sized field (sh_flags, sh_offset, sh_size, sh_addralign, e_shoff).
    fn word(self) -> usize {
        if self.is64 {
            8
        } else {
            4
        }
    }
}

/// Offsets of the header fields that differ between ELF32 and ELF64.
struct HeaderFields {
    shoff: usize,
    shentsize: usize,
    shnum: usize,
    shstrndx: usize,
}

fn header_fields(l: Layout) -> HeaderFields {
    if l.is64 {
        HeaderFields {
            shoff: 40,
            shentsize: 58,
            shnum: 60,
            shstrndx: 62,
        }
    } else {
        HeaderFields {
            shoff: 32,
            shentsize: 46,
            shnum: 48,
            shstrndx: 50,
        }
    }
}

/// Offsets within a section header of its fields.
struct ShdrFields {
    name: usize,
    ty: usize,
    flags: usize,
    offset: usize,
    size: usize,
    align: usize,
}

fn shdr_fields(l: Layout) -> ShdrFields {
    if l.is64 {
        ShdrFields {
            name: 0,
            ty: 4,
            flags: 8,
            offset: 24,
            size: 32,
            align: 48,
        }
    } else {
        ShdrFields {
            name: 0,
            ty: 4,
            flags: 8,
            offset: 16,
            size: 20,
            align: 32,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Shdr {
    name: u32,
    ty: u32,
    flags: u64,
    offset: u64,
    size: u64,
}

/// `SHF_ALLOC`: the section is mapped at run time (vmlinux's `.BTF` after kbuild's objcopy).
const SHF_ALLOC: u64 = 2;

struct Parsed {
    l: Layout,
    shoff: usize,
    shnum: usize,
    shstrndx: usize,
    shdrs: Vec<Shdr>,
}

fn parse(elf: &Patched<'_>) -> Result<Parsed, EmitError> {
    let ident = match elf.read(0, 6) {
        Some(id) if elf.len() >= 52 && id.starts_with(b"\x7fELF") => id,
        _ => return Err(EmitError::BadElf("not an ELF file".into())),
    };
    let is64 = match ident[4] {
        1 => false,
        2 => true,
        c => return Err(EmitError::BadElf(format!("unknown ELF class {c}"))),
    };
    let le = match ident[5] {
        1 => true,
        2 => false,
        d => return Err(EmitError::BadElf(format!("unknown ELF data encoding {d}"))),
    };
    let l = Layout { is64, le };
    let h = header_fields(l);
    let shoff = l.read(elf, h.shoff, l.word())? as usize;
    let shentsize = l.read(elf, h.shentsize, 2)? as usize;
    if shoff == 0 {
        return Err(EmitError::BadElf("no section header table".into()));
    }
    if shentsize != l.shdr_size() {
        return Err(EmitError::BadElf(format!(
            "section header size {shentsize}, expected {}",
            l.shdr_size()
        )));
    }
    let f = shdr_fields(l);
    let read_shdr = |i: usize| -> Result<Shdr, EmitError> {
        let at = shoff
            .checked_add(
                i.checked_mul(shentsize)
                    .ok_or(EmitError::TooLarge("section count"))?,
            )
            .ok_or(EmitError::TooLarge("section header offset"))?;
        if at.saturating_add(shentsize) > elf.len() {
            return Err(EmitError::SectionHeaderOutOfBounds {
                index: i,
                offset: at as u64,
            });
        }
        let hdr = elf
            .read(at, shentsize)
            .ok_or(EmitError::SectionHeaderOutOfBounds {
                index: i,
                offset: at as u64,
            })?;
        Ok(Shdr {
            name: l.get(&hdr, f.name, 4)? as u32,
            ty: l.get(&hdr, f.ty, 4)? as u32,
            flags: l.get(&hdr, f.flags, l.word())?,
            offset: l.get(&hdr, f.offset, l.word())?,
            size: l.get(&hdr, f.size, l.word())?,
        })
    };
    // Extended numbering: the real count and name-table index live in section 0.
    let mut shnum = l.read(elf, h.shnum, 2)? as usize;
    let mut shstrndx = l.read(elf, h.shstrndx, 2)? as u32;
    if shnum == 0 || shstrndx == SHN_XINDEX {
        let at = shoff;
        if at.saturating_add(shentsize) > elf.len() {
            return Err(EmitError::SectionHeaderOutOfBounds {
                index: 0,
                offset: at as u64,
            });
        }
        if shnum == 0 {
            shnum = l.read(elf, at + f.size, l.word())? as usize;
        }
        if shstrndx == SHN_XINDEX {
            let link = if l.is64 { 40 } else { 24 };
            shstrndx = l.read(elf, at + link, 4)? as u32;
        }
    }
    let shdrs = (0..shnum).map(read_shdr).collect::<Result<Vec<_>, _>>()?;
    // `SHN_UNDEF`: the file has no section name table. Section 0 is reserved (with extended
    // numbering its `sh_size` holds the section count), so it cannot hold one either.
    if shstrndx == 0 {
        return Err(EmitError::BadElf(
            "no section name table (e_shstrndx is SHN_UNDEF)".into(),
        ));
    }
    if shstrndx as usize >= shnum {
        return Err(EmitError::BadElf(format!(
            "section name table index {shstrndx} out of range"
        )));
    }
    Ok(Parsed {
        l,
        shoff,
        shnum,
        shstrndx: shstrndx as usize,
        shdrs,
    })
}

fn section_bytes<'a>(elf: &Patched<'a>, s: &Shdr) -> Result<Cow<'a, [u8]>, EmitError> {
    let (off, size) = (s.offset as usize, s.size as usize);
    elf.read(off, size).ok_or_else(|| out_of_bounds(s))
}

fn out_of_bounds(s: &Shdr) -> EmitError {
    EmitError::BadElf(format!(
        "section data [{:#x}, +{:#x}) out of bounds",
        s.offset, s.size
    ))
}

/// That a section's data lies inside the file, without reading it.
fn check_bounds(elf: &Patched<'_>, s: &Shdr) -> Result<(), EmitError> {
    let end = s
        .offset
        .checked_add(s.size)
        .ok_or_else(|| out_of_bounds(s))?;
    if end > elf.len() as u64 {
        return Err(out_of_bounds(s));
    }
    Ok(())
}

fn name_at(strtab: &[u8], off: u32) -> &[u8] {
    let rest = strtab.get(off as usize..).unwrap_or_default();
    &rest[..rest.iter().position(|&b| b == 0).unwrap_or(rest.len())]
}

/// The contents of the section called `name`, if the file has one. An `SHT_NULL` header is
/// inactive (its other fields mean nothing) and names no section; an `SHT_NOBITS` section has
/// no contents in the file.
pub fn section<'a>(elf: &'a [u8], name: &str) -> Result<Option<&'a [u8]>, EmitError> {
    let whole = Patched::new(elf);
    let p = parse(&whole)?;
    let strtab = section_bytes(&whole, &p.shdrs[p.shstrndx])?;
    for s in &p.shdrs {
        if name_at(&strtab, s.name) == name.as_bytes() && s.ty != SHT_NOBITS && s.ty != SHT_NULL {
            let (off, size) = (s.offset as usize, s.size as usize);
            return elf
                .get(off..off.saturating_add(size))
                .map(Some)
                .ok_or_else(|| out_of_bounds(s));
        }
    }
    Ok(None)
}

/// Every section's name lies inside the section name table, which ends with NUL. A new
/// name is appended to the table, so a name offset past its end would come to read as the
/// new name (or a glued-on one).
fn check_names(p: &Parsed, strtab: &[u8]) -> Result<(), EmitError> {
    if strtab.last() != Some(&0) {
        return Err(EmitError::BadElf(
            "the section name table is empty or does not end with NUL".into(),
        ));
    }
    for (i, s) in p.shdrs.iter().enumerate() {
        if s.name as usize >= strtab.len() {
            return Err(EmitError::BadElf(format!(
                "section {i}: name offset {:#x} is past the section name table ({:#x} bytes)",
                s.name,
                strtab.len()
            )));
        }
    }
    Ok(())
}

/// No two of the ELF header, the section header table and the sections' data (but for
/// SHT_NULL, SHT_NOBITS and empty sections; the name table counts whatever its type) share a
/// byte. Linkers never make such files (none of Debian's 6.1 and 6.12 modules or vmlinux has
/// one); in one, replacing a section in place or updating the headers would change another
/// section's bytes too.
fn check_layout(p: &Parsed) -> Result<(), EmitError> {
    let ehdr = if p.l.is64 { 64 } else { 52 };
    let table_end = p
        .shoff
        .saturating_add(p.shnum.saturating_mul(p.l.shdr_size()));
    let mut ranges: Vec<(u64, u64, String)> = vec![
        (0, ehdr, "the ELF header".into()),
        (
            p.shoff as u64,
            table_end as u64,
            "the section header table".into(),
        ),
    ];
    for (i, s) in p.shdrs.iter().enumerate() {
        // The name table is read as data whatever its type says.
        let data = i == p.shstrndx || (s.ty != SHT_NULL && s.ty != SHT_NOBITS);
        if !data || s.size == 0 {
            continue;
        }
        ranges.push((
            s.offset,
            s.offset.saturating_add(s.size),
            format!("section {i}'s data"),
        ));
    }
    ranges.sort();
    for w in ranges.windows(2) {
        if let [(a0, a1, a), (b0, b1, b)] = w {
            if b0 < a1 {
                return Err(EmitError::BadElf(format!(
                    "{b} [{b0:#x}, {b1:#x}) overlaps {a} [{a0:#x}, {a1:#x})"
                )));
            }
        }
    }
    Ok(())
}

fn align_up(n: usize, a: usize) -> usize {
    if a <= 1 {
        n
    } else {
        n.div_ceil(a) * a
    }
}

/// The bytes of `elf` with section `spec.name` holding `spec.data`, replaced or added.
pub fn set_section(elf: &[u8], spec: &SectionSpec<'_>) -> Result<Vec<u8>, EmitError> {
    let mut out = Patched::new(elf);
    set_section_in(&mut out, spec)?;
    Ok(out.to_vec())
}

/// [`set_section`] on contents held as edits over a file's bytes ([`Patched`]), so that a
/// large file is not copied in memory.
pub fn set_section_in(out: &mut Patched<'_>, spec: &SectionSpec<'_>) -> Result<(), EmitError> {
    refuse_signed(out)?;
    let p = parse(out)?;
    let l = p.l;
    let f = shdr_fields(l);
    let strtab = section_bytes(out, &p.shdrs[p.shstrndx])?.into_owned();
    check_names(&p, &strtab)?;
    check_layout(&p)?;
    let existing = find_named(&p, &strtab, spec.name);
    let shdr_at = |i: usize| p.shoff + i * l.shdr_size();

    if let Some(i) = existing {
        refuse_name_table(&p, i, spec.name)?;
        let s = p.shdrs[i];
        if s.ty != spec.sh_type {
            return Err(EmitError::WrongSectionType {
                name: spec.name.into(),
                found: s.ty,
            });
        }
        let (off, old) = (s.offset as usize, s.size as usize);
        check_bounds(out, &s)?;
        if s.flags & SHF_ALLOC != 0 && spec.data.len() > old {
            return Err(EmitError::BadElf(format!(
                "section {} is allocated (mapped at run time) and cannot grow from {old} to {} bytes in place",
                spec.name,
                spec.data.len()
            )));
        }
        let new_off = if spec.data.len() <= old {
            let mut data = spec.data.to_vec();
            data.resize(old, 0);
            out.write(off, &data)?;
            off
        } else {
            let at = align_up(out.len(), 8);
            out.pad_to(at);
            out.append(spec.data);
            at
        };
        l.put(out, shdr_at(i) + f.offset, l.word(), new_off as u64)?;
        l.put(out, shdr_at(i) + f.size, l.word(), spec.data.len() as u64)?;
        return Ok(());
    }

    // A new section: its data, a grown name table, and a new header table, all appended.
    if p.shnum + 1 >= SHN_LORESERVE && p.shnum < SHN_LORESERVE {
        return Err(EmitError::TooLarge(
            "switching to extended section numbering",
        ));
    }
    let old_table = out
        .read(p.shoff, p.shnum * l.shdr_size())
        .ok_or(EmitError::SectionHeaderOutOfBounds {
            index: p.shnum,
            offset: p.shoff as u64,
        })?
        .into_owned();
    let ext_numbering = l.read(out, header_fields(l).shnum, 2)? == 0;
    let data_off = align_up(out.len(), spec.align.max(1) as usize);
    out.pad_to(data_off);
    out.append(spec.data);
    let name_off = strtab.len();
    let strtab_off = out.len();
    out.append(&strtab);
    out.append(spec.name.as_bytes());
    out.append(&[0]);
    let strtab_size = out.len() - strtab_off;
    let new_shoff = align_up(out.len(), 8);
    out.pad_to(new_shoff);
    out.append(&old_table);
    let new_hdr = out.len();
    out.pad_to(new_hdr + l.shdr_size());
    l.put(out, new_hdr + f.name, 4, name_off as u64)?;
    l.put(out, new_hdr + f.ty, 4, spec.sh_type as u64)?;
    l.put(out, new_hdr + f.flags, l.word(), spec.flags)?;
    l.put(out, new_hdr + f.offset, l.word(), data_off as u64)?;
    l.put(out, new_hdr + f.size, l.word(), spec.data.len() as u64)?;
    l.put(out, new_hdr + f.align, l.word(), spec.align)?;
    // Point the name table's header at its grown copy.
    let strhdr = new_shoff + p.shstrndx * l.shdr_size();
    l.put(out, strhdr + f.offset, l.word(), strtab_off as u64)?;
    l.put(out, strhdr + f.size, l.word(), strtab_size as u64)?;
    // The file header: new table offset and one more section.
    let h = header_fields(l);
    if !l.is64 && new_shoff > u32::MAX as usize {
        return Err(EmitError::TooLarge("ELF32 file over 4 GiB"));
    }
    l.put(out, h.shoff, l.word(), new_shoff as u64)?;
    let shnum = p.shnum + 1;
    if ext_numbering {
        l.put(out, new_shoff + f.size, l.word(), shnum as u64)?;
    } else {
        l.put(out, h.shnum, 2, shnum as u64)?;
    }
    Ok(())
}

/// The index of the first active (not `SHT_NULL`) section called `name`.
fn find_named(p: &Parsed, strtab: &[u8], name: &str) -> Option<usize> {
    p.shdrs
        .iter()
        .position(|s| s.ty != SHT_NULL && name_at(strtab, s.name) == name.as_bytes())
}

/// Section `i`, called `name`, must not be the section name table: rewriting or dropping
/// it would rename every section.
fn refuse_name_table(p: &Parsed, i: usize, name: &str) -> Result<(), EmitError> {
    if i == p.shstrndx {
        return Err(EmitError::BadElf(format!(
            "section {i} ({name}) is the section name table"
        )));
    }
    Ok(())
}

fn refuse_signed(out: &Patched<'_>) -> Result<(), EmitError> {
    let n = MODULE_SIG_MAGIC.len();
    let signed = out.len() >= n
        && out
            .read(out.len() - n, n)
            .is_some_and(|t| *t == *MODULE_SIG_MAGIC);
    if signed {
        return Err(EmitError::BadElf(
            "the file ends with a module signature; strip or redo the signature first".into(),
        ));
    }
    Ok(())
}

/// The bytes of `elf` with section `name` emptied and turned into an unnamed `SHT_NULL`
/// section, or `None` if there is no such section. Section indexes stay as they are (so
/// symbols and relocations still point where they did); loaders, the kernel's among them,
/// skip `SHT_NULL` sections. Used to take `.BTF.base` out of a module whose `.BTF` was
/// relocated onto a full vmlinux BTF, so that a 6.11+ kernel does not relocate it again.
pub fn drop_section(elf: &[u8], name: &str) -> Result<Option<Vec<u8>>, EmitError> {
    let mut out = Patched::new(elf);
    refuse_signed(&out)?;
    let p = parse(&out)?;
    let l = p.l;
    let f = shdr_fields(l);
    let strtab = section_bytes(&out, &p.shdrs[p.shstrndx])?;
    check_layout(&p)?;
    let Some(i) = find_named(&p, &strtab, name) else {
        return Ok(None);
    };
    refuse_name_table(&p, i, name)?;
    let s = p.shdrs[i];
    if s.flags & SHF_ALLOC != 0 {
        return Err(EmitError::BadElf(format!(
            "section {name} is allocated (mapped at run time) and cannot be dropped"
        )));
    }
    if s.ty != SHT_NOBITS {
        check_bounds(&out, &s)?;
        out.write(s.offset as usize, &vec![0; s.size as usize])?;
    }
    let at = p.shoff + i * l.shdr_size();
    l.put(&mut out, at + f.name, 4, 0)?;
    l.put(&mut out, at + f.ty, 4, 0)?;
    l.put(&mut out, at + f.size, l.word(), 0)?;
    Ok(Some(out.to_vec()))
}
