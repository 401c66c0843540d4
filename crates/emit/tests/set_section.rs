//! The append-only section writer on real and generated ELF files: the new section reads back,
//! and every other section, symbol and relocation is unchanged.

use std::path::Path;

use kbtf_emit::elf::{section, set_section, SectionSpec};
use object::{Object, ObjectSection, ObjectSymbol};

fn testdata(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Everything a reader sees of a file except the named section: every other section's name,
/// kind, flags and contents, every symbol, and every relocation.
fn summary(elf: &[u8], except: &str) -> Vec<String> {
    let f = object::File::parse(elf).unwrap();
    let mut out = Vec::new();
    for s in f.sections() {
        let name = s.name().unwrap().to_string();
        if name == except || name == ".shstrtab" {
            continue;
        }
        let relocs: Vec<String> = s
            .relocations()
            .map(|(o, r)| format!("{o}:{:?}:{:?}", r.kind(), r.target()))
            .collect();
        out.push(format!(
            "{} {} {:?} {:?} {} bytes {:x?} relocs {:?}",
            s.index().0,
            name,
            s.kind(),
            s.flags(),
            s.size(),
            s.data().map(|d| d
                .iter()
                .fold(0u64, |h, &b| h.wrapping_mul(31).wrapping_add(b as u64))),
            relocs
        ));
    }
    for sym in f.symbols() {
        out.push(format!(
            "sym {:?} {:?} {:?} {}",
            sym.name(),
            sym.section(),
            sym.kind(),
            sym.address()
        ));
    }
    out
}

fn check_set(elf: &[u8], name: &str, data: &[u8]) -> Vec<u8> {
    let out = set_section(elf, &SectionSpec::progbits(name, data)).unwrap();
    assert_eq!(section(&out, name).unwrap(), Some(data));
    assert_eq!(
        summary(&out, name),
        summary(elf, name),
        "other sections, symbols, relocations kept"
    );
    // The section-name table may only grow by the new name.
    let names = |e: &[u8]| section(e, ".shstrtab").unwrap().unwrap().to_vec();
    assert!(names(&out).starts_with(&names(elf)));
    let f = object::File::parse(&*out).unwrap();
    let s = f.section_by_name(name).unwrap();
    assert_eq!(s.data().unwrap(), data);
    out
}

#[test]
fn add_btf_to_relocatable_object() {
    let obj = testdata("c/kinds.o");
    assert_eq!(section(&obj, ".BTF").unwrap(), None);
    let btf = testdata("c/kinds.pahole.btf");
    let out = check_set(&obj, ".BTF", &btf);
    // The new section comes last, so existing indices (symbols, relocations) are unchanged.
    let f = object::File::parse(&*out).unwrap();
    let last = f.sections().last().unwrap();
    assert_eq!(last.name().unwrap(), ".BTF");
}

#[test]
fn replace_module_btf_smaller_bigger_and_again() {
    let ko = testdata("modules-6.1-dbg/dummy.ko");
    let old = section(&ko, ".BTF").unwrap().unwrap().to_vec();
    // Smaller: rewritten in place, file size unchanged.
    let small = check_set(&ko, ".BTF", &old[..100]);
    assert_eq!(small.len(), ko.len());
    // Bigger: appended at the end.
    let mut big = old.clone();
    big.extend_from_slice(&[0xaa; 4000]);
    let grown = check_set(&ko, ".BTF", &big);
    assert!(grown.len() >= ko.len() + big.len());
    // The same contents again: no growth.
    let again = check_set(&grown, ".BTF", &big);
    assert_eq!(again.len(), grown.len());
}

#[test]
fn signed_module_is_refused() {
    let ko = testdata("modules-6.1/dummy.ko");
    let err = set_section(&ko, &SectionSpec::progbits(".BTF", b"x")).unwrap_err();
    assert!(err.to_string().contains("module signature"), "{err}");
}

#[test]
fn not_elf_is_an_error() {
    let err = set_section(
        b"definitely not an ELF file at all, no no no no no no no",
        &SectionSpec::progbits(".BTF", b"x"),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "ELF: not an ELF file");
    let ko = testdata("modules-6.1-dbg/dummy.ko");
    let err = set_section(&ko[..200], &SectionSpec::progbits(".BTF", b"x")).unwrap_err();
    assert!(err.to_string().contains("out of bounds"), "{err}");
}

/// ELF32 little-endian and ELF64 big-endian objects made by object's writer, with a symbol and
/// a relocation.
#[test]
fn other_classes_and_byte_orders() {
    use object::write::{Object as WObject, Relocation, Symbol, SymbolSection};
    use object::{
        Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
    };
    for (arch, endian) in [
        (Architecture::I386, Endianness::Little),
        (Architecture::PowerPc64, Endianness::Big),
    ] {
        let mut o = WObject::new(BinaryFormat::Elf, arch, endian);
        let text = o.add_section(vec![], b".text".to_vec(), SectionKind::Text);
        o.append_section_data(text, &[0x90; 16], 4);
        let data = o.add_section(vec![], b".data".to_vec(), SectionKind::Data);
        o.append_section_data(data, &[0; 8], 4);
        let sym = o.add_symbol(Symbol {
            name: b"f".to_vec(),
            value: 0,
            size: 16,
            kind: SymbolKind::Text,
            scope: SymbolScope::Linkage,
            weak: false,
            section: SymbolSection::Section(text),
            flags: SymbolFlags::None,
        });
        let flags = match arch {
            Architecture::I386 => object::RelocationFlags::Elf {
                r_type: object::elf::R_386_32,
            },
            _ => object::RelocationFlags::Elf {
                r_type: object::elf::R_PPC64_ADDR64,
            },
        };
        o.add_relocation(
            data,
            Relocation {
                offset: 0,
                symbol: sym,
                addend: 0,
                flags,
            },
        )
        .unwrap();
        let elf = o.write().unwrap();
        let out = check_set(&elf, ".BTF", b"\x9f\xeb\x01\x00hello");
        let again = check_set(&out, ".BTF", b"\x9f\xeb\x01\x00bye");
        assert_eq!(again.len(), out.len());
    }
}

#[test]
fn signed_module_strips_to_the_unsigned_one() {
    let signed = testdata("modules-6.1/dummy.ko");
    let sig = kbtf_emit::modsig::parse(&signed)
        .unwrap()
        .expect("the shipped module is signed");
    assert_eq!(sig.id_type, 2, "PKCS#7");
    let unsigned = kbtf_emit::modsig::strip(&signed).unwrap();
    assert_eq!(unsigned.len(), sig.module_len);
    assert!(object::File::parse(unsigned).is_ok());
    assert_eq!(kbtf_emit::modsig::parse(unsigned).unwrap(), None);
    // Rewriting the stripped module works.
    check_set(unsigned, ".BTF", b"\x9f\xeb\x01\x00");
    // A lying trailer is an error, not a panic.
    let mut bad = signed[signed.len() - 40..].to_vec();
    bad[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(kbtf_emit::modsig::parse(&bad).is_err());
}

#[test]
fn drop_section_leaves_an_unnamed_null_section() {
    let signed = testdata("modules-6.1-dbg/dummy.ko");
    let elf = kbtf_emit::modsig::strip(&signed).unwrap();
    let with_base = set_section(elf, &SectionSpec::progbits(".BTF.base", b"distilled")).unwrap();
    let out = kbtf_emit::elf::drop_section(&with_base, ".BTF.base")
        .unwrap()
        .expect("the section is there");
    assert_eq!(section(&out, ".BTF.base").unwrap(), None);
    assert_eq!(out.len(), with_base.len());
    // Every other section, symbol and relocation is as it was.
    let f = object::File::parse(&*out).unwrap();
    let dropped: Vec<_> = f.sections().filter(|s| s.name() == Ok("")).collect();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].size(), 0);
    assert_eq!(summary(&out, ""), summary(&with_base, ".BTF.base"));
    assert_eq!(
        kbtf_emit::elf::drop_section(elf, ".BTF.base").unwrap(),
        None
    );
}

/// Section headers of an ELF64 little-endian file: (index of the header, offset of its
/// sh_name, sh_offset, sh_size fields).
fn shdr_fields64(elf: &[u8]) -> Vec<(usize, usize, usize, usize)> {
    let shoff = u64::from_le_bytes(elf[0x28..0x30].try_into().unwrap()) as usize;
    let shnum = u16::from_le_bytes(elf[0x3c..0x3e].try_into().unwrap()) as usize;
    (0..shnum)
        .map(|i| {
            let at = shoff + 64 * i;
            (i, at, at + 24, at + 32)
        })
        .collect()
}

/// Found by the elf_write fuzz target: a section whose name offset lies past the name table
/// came to be named `.BTF` once `.BTF` was appended to the table, so the output had two
/// `.BTF` sections. Such a file is refused.
#[test]
fn name_offset_past_the_name_table_is_refused() {
    let mut obj = testdata("c/kinds.o");
    let (_, name_at, _, _) = shdr_fields64(&obj)[1];
    obj[name_at..name_at + 4].copy_from_slice(&0x7000_0000u32.to_le_bytes());
    let err = set_section(&obj, &SectionSpec::progbits(".BTF", b"x")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ELF: section 1: name offset 0x70000000 is past the section name table (0xc6 bytes)"
    );
}

/// Found by the elf_write fuzz target: a section replaced in place whose data overlapped the
/// section header table overwrote the table; and a section whose data overlapped the ELF
/// header changed when a new section was added (the header's e_shoff and e_shnum are in it).
/// Files whose sections overlap the headers or each other are refused, for every change.
#[test]
fn section_data_over_the_headers_is_refused() {
    let ko = testdata("modules-6.1-dbg/dummy.ko");
    let shoff = u64::from_le_bytes(ko[0x28..0x30].try_into().unwrap());
    let file = object::File::parse(&*ko).unwrap();
    let btf = file.section_by_name(".BTF").unwrap().index().0;
    let text = file.section_by_name(".text").unwrap().index().0;
    let (_, _, off_at, size_at) = shdr_fields64(&ko)[btf];
    let mut bad = ko.clone();
    bad[off_at..off_at + 8].copy_from_slice(&shoff.to_le_bytes());
    bad[size_at..size_at + 8].copy_from_slice(&64u64.to_le_bytes());
    let err = set_section(&bad, &SectionSpec::progbits(".BTF", b"x")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "ELF: the section header table [{shoff:#x}, {:#x}) overlaps section {btf}'s data [{shoff:#x}, {:#x})",
            shoff + 64 * shdr_fields64(&ko).len() as u64,
            shoff + 64
        )
    );
    let err = kbtf_emit::elf::drop_section(&bad, ".BTF").unwrap_err();
    assert!(err.to_string().contains("overlaps section"), "{err}");
    // .text over the ELF header, and a new section added.
    let (_, _, off_at, size_at) = shdr_fields64(&ko)[text];
    let mut bad = ko.clone();
    bad[off_at..off_at + 8].copy_from_slice(&0x20u64.to_le_bytes());
    bad[size_at..size_at + 8].copy_from_slice(&0x40u64.to_le_bytes());
    let err = set_section(&bad, &SectionSpec::progbits(".new", b"x")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("ELF: section {text}'s data [0x20, 0x60) overlaps the ELF header [0x0, 0x40)")
    );
}

/// Found by the elf_write fuzz target: extended numbering (e_shnum 0) with a section header
/// offset near the top of the address space overflowed while checking it.
#[test]
fn huge_section_header_offset_is_an_error() {
    let mut obj = testdata("c/kinds.o");
    obj[0x28..0x30].copy_from_slice(&(u64::MAX - 8).to_le_bytes());
    obj[0x3c..0x3e].copy_from_slice(&0u16.to_le_bytes());
    let err = set_section(&obj, &SectionSpec::progbits(".BTF", b"x")).unwrap_err();
    assert!(err.to_string().contains("out of bounds"), "{err}");
}

/// Found by the elf_write fuzz target: with extended numbering, `e_shstrndx` 0 made section 0
/// both the holder of the section count (its `sh_size`) and the name table, so adding a
/// section overwrote one with the other and the new section could not be found by name.
/// `SHN_UNDEF` means the file has no section name table; such a file is refused.
#[test]
fn no_section_name_table_is_refused() {
    let mut obj = testdata("c/kinds.o");
    let n = shdr_fields64(&obj).len() as u64;
    let (_, _, _, size0) = shdr_fields64(&obj)[0];
    obj[size0..size0 + 8].copy_from_slice(&n.to_le_bytes());
    obj[0x3c..0x3e].copy_from_slice(&0u16.to_le_bytes());
    obj[0x3e..0x40].copy_from_slice(&0u16.to_le_bytes());
    let err = set_section(&obj, &SectionSpec::progbits(".BTF", b"x")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ELF: no section name table (e_shstrndx is SHN_UNDEF)"
    );
    assert!(section(&obj, ".text").is_err());
}

/// A name table typed SHT_NULL is still read as the names: its data may not overlap a
/// section that is rewritten in place, or the rewrite would rename sections.
#[test]
fn name_table_over_a_section_is_refused() {
    let ko = testdata("modules-6.1-dbg/dummy.ko");
    let file = object::File::parse(&*ko).unwrap();
    let btf = file.section_by_name(".BTF").unwrap();
    let (btf_off, _) = btf.file_range().unwrap();
    let shstrndx = u16::from_le_bytes(ko[0x3e..0x40].try_into().unwrap()) as usize;
    let (_, _, off_at, _) = shdr_fields64(&ko)[shstrndx];
    let mut bad = ko.clone();
    // The name table typed SHT_NULL and moved over `.BTF`'s data.
    bad[off_at - 20..off_at - 16].copy_from_slice(&0u32.to_le_bytes());
    bad[off_at..off_at + 8].copy_from_slice(&btf_off.to_le_bytes());
    let err = set_section(&bad, &SectionSpec::progbits(".BTF", b"x")).unwrap_err();
    assert!(err.to_string().contains("overlaps"), "{err}");
}

/// Found by the elf_write fuzz target: the section name table was itself called `.BTF`, so
/// replacing `.BTF` replaced the names. Rewriting or dropping the name table is refused,
/// whatever it is called.
#[test]
fn rewriting_the_name_table_is_refused() {
    let obj = testdata("c/kinds.o");
    let shstrndx = u16::from_le_bytes(obj[0x3e..0x40].try_into().unwrap()) as usize;
    let want = format!("ELF: section {shstrndx} (.shstrtab) is the section name table");
    let err = set_section(&obj, &SectionSpec::progbits(".shstrtab", b"x")).unwrap_err();
    assert_eq!(err.to_string(), want);
    let err = kbtf_emit::elf::drop_section(&obj, ".shstrtab").unwrap_err();
    assert_eq!(err.to_string(), want);
}

/// Found by the elf_write fuzz target: a `.text`-named `SHT_NULL` header over the ELF header
/// "changed" when a section was added. An `SHT_NULL` header is inactive: it names no section
/// to read, replace or drop, and adding a section of its name adds a new one.
#[test]
fn null_headers_name_no_section() {
    let mut obj = testdata("c/kinds.o");
    let (_, name_at, off_at, size_at) = shdr_fields64(&obj)[1];
    let ty_at = name_at + 4;
    // Section 1 (.text): inactive, over the ELF header.
    obj[ty_at..ty_at + 4].copy_from_slice(&0u32.to_le_bytes());
    obj[off_at..off_at + 8].copy_from_slice(&0u64.to_le_bytes());
    obj[size_at..size_at + 8].copy_from_slice(&0x40u64.to_le_bytes());
    assert_eq!(section(&obj, ".text").unwrap(), None);
    assert_eq!(kbtf_emit::elf::drop_section(&obj, ".text").unwrap(), None);
    let out = set_section(&obj, &SectionSpec::progbits(".text", b"new")).unwrap();
    assert_eq!(section(&out, ".text").unwrap(), Some(&b"new"[..]));
    let f = object::File::parse(&*out).unwrap();
    assert_eq!(f.sections().filter(|s| s.name() == Ok(".text")).count(), 2);
}
