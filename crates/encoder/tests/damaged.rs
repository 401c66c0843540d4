//! Damaged DWARF gives an error naming the file, the unit and the offset, never a panic.

mod common;

use std::path::Path;

use kbtf_encoder::{encode, EncodeOptions, ErrorKind};
use object::{Object, ObjectSection};

/// shapes-dwarf5.o, its bytes, and the file range of its `.debug_info`.
fn fixture() -> (Vec<u8>, std::ops::Range<usize>) {
    let path = common::repo().join("testdata/encoder/shapes-dwarf5.o");
    let data = std::fs::read(path).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let (off, size) = file
        .section_by_name(".debug_info")
        .unwrap()
        .file_range()
        .unwrap();
    (data.clone(), off as usize..(off + size) as usize)
}

fn encode_err(data: &[u8]) -> String {
    let path = Path::new("damaged.o");
    match encode(path, data, None, &EncodeOptions::default()) {
        Ok(_) => panic!("damaged input encoded without error"),
        Err(e) => {
            assert!(matches!(e.kind, ErrorKind::Dwarf { .. }), "{e}");
            e.to_string()
        }
    }
}

/// The offset of the first DIE after the unit's root (`.debug_info` DWARF 5 header: 12 bytes
/// for a 32-bit unit, then the root DIE).
fn root_abbrev_byte(info: &std::ops::Range<usize>) -> usize {
    info.start + 12
}

#[test]
fn bad_abbreviation_code() {
    let (mut data, info) = fixture();
    data[root_abbrev_byte(&info)] = 0x7f;
    expect_test::expect!["damaged.o: malformed DWARF in .debug_info (CU at 0x0, DIE at 0xc): invalid abbreviation code: 127"]
        .assert_eq(&encode_err(&data));
}

#[test]
fn truncated_section() {
    let (data, info) = fixture();
    // Cut .debug_info in the middle by shrinking the section header's size: rewrite the
    // 64-bit sh_size of the section whose sh_offset is info.start.
    let mut data = data;
    let shoff = u64::from_le_bytes(data[0x28..0x30].try_into().unwrap()) as usize;
    let shnum = u16::from_le_bytes(data[0x3c..0x3e].try_into().unwrap()) as usize;
    for i in 0..shnum {
        let h = shoff + i * 64;
        let off = u64::from_le_bytes(data[h + 0x18..h + 0x20].try_into().unwrap()) as usize;
        if off == info.start {
            let half = (info.len() / 2) as u64;
            data[h + 0x20..h + 0x28].copy_from_slice(&half.to_le_bytes());
        }
    }
    let msg = encode_err(&data);
    assert!(
        msg.starts_with("damaged.o: malformed DWARF in .debug_info ("),
        "{msg}"
    );
}

/// Every `DW_AT_type` in DW_FORM_ref4 of the fixture's first unit, in order: the file offset
/// of its 4 bytes, the offset of its DIE and the DIE's tag. (The unit starts the section, so
/// unit offsets are section offsets.)
fn type_refs(data: &[u8], info: &std::ops::Range<usize>) -> Vec<(usize, usize, gimli::DwTag)> {
    let endian = gimli::RunTimeEndian::Little;
    let section = gimli::DebugInfo::new(&data[info.clone()], endian);
    let file = object::File::parse(data).unwrap();
    let abbrevs_data = file
        .section_by_name(".debug_abbrev")
        .unwrap()
        .data()
        .unwrap();
    let debug_abbrev = gimli::DebugAbbrev::new(abbrevs_data, endian);
    let header = section.units().next().unwrap().unwrap();
    let abbrevs = header.abbreviations(&debug_abbrev).unwrap();
    let mut raw = header.entries_raw(&abbrevs, None).unwrap();
    let mut out = Vec::new();
    while !raw.is_empty() {
        let die = raw.next_offset().0;
        let Some(abbrev) = raw.read_abbreviation().unwrap() else {
            continue;
        };
        for spec in abbrev.attributes() {
            let before = raw.next_offset().0;
            let attr = raw.read_attribute(*spec).unwrap();
            if attr.name() == gimli::DW_AT_type && spec.form() == gimli::DW_FORM_ref4 {
                out.push((info.start + before, die, abbrev.tag()));
            }
        }
    }
    assert!(!out.is_empty(), "no DW_AT_type in DW_FORM_ref4");
    out
}

#[test]
fn reference_out_of_range() {
    let (mut data, info) = fixture();
    // Point the first DW_AT_type in DW_FORM_ref4 past the end of the unit.
    let (at, _, _) = type_refs(&data, &info)[0];
    data[at..at + 4].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
    expect_test::expect!["damaged.o: malformed DWARF in .debug_info (CU at 0x0, DIE at 0x2e): invalid offset: 0xffffff"]
        .assert_eq(&encode_err(&data));
}

/// Random byte damage in the debug sections never panics.
#[test]
fn random_damage_never_panics() {
    let (data, info) = fixture();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..300 {
        let mut d = data.clone();
        for _ in 0..4 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = info.start + (seed as usize % info.len());
            d[at] = (seed >> 32) as u8;
        }
        let _ = encode(Path::new("damaged.o"), &d, None, &EncodeOptions::default());
    }
}

/// The file range of `.debug_info` in a fixture whose debug sections are SHF_COMPRESSED
/// (Elf64_Chdr: ch_type u32, reserved u32, ch_size u64, ch_addralign u64, then the payload).
fn compressed_fixture(name: &str) -> (Vec<u8>, std::ops::Range<usize>) {
    let path = common::repo().join("testdata/encoder").join(name);
    let data = std::fs::read(path).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let sec = file.section_by_name(".debug_info").unwrap();
    assert_ne!(
        sec.compressed_data().unwrap().format,
        object::CompressionFormat::None
    );
    let (off, size) = sec.file_range().unwrap();
    (data.clone(), off as usize..(off + size) as usize)
}

fn section_err(data: &[u8]) -> String {
    match encode(
        Path::new("damaged.o"),
        data,
        None,
        &EncodeOptions::default(),
    ) {
        Ok(_) => panic!("damaged input encoded without error"),
        Err(e) => {
            assert!(matches!(e.kind, ErrorKind::Section { .. }), "{e}");
            e.to_string()
        }
    }
}

/// Compressed debug info whose payload does not inflate (zlib and zstd): an error naming the
/// file and section.
#[test]
fn compressed_debug_info_that_does_not_inflate() {
    for (fixture, what) in [
        ("shapes-zlib.o", "Invalid zlib compressed data"),
        ("shapes-zstd.o", "Invalid zstd compressed data"),
    ] {
        let (mut data, info) = compressed_fixture(fixture);
        // Garble the payload after the 24-byte header.
        for b in &mut data[info.start + 24..info.start + 40] {
            *b ^= 0x5a;
        }
        let err = section_err(&data);
        assert!(err.starts_with("damaged.o: section .debug_info: "), "{err}");
        assert!(err.contains(what), "{fixture}: {err}");
        // A header claiming one byte more than the payload holds.
        let (mut data, info) = compressed_fixture(fixture);
        let size_at = info.start + 8;
        let size = u64::from_le_bytes(data[size_at..size_at + 8].try_into().unwrap());
        data[size_at..size_at + 8].copy_from_slice(&(size + 1).to_le_bytes());
        let err = section_err(&data);
        assert!(
            err.contains("does not match") || err.contains(what),
            "{fixture}: {err}"
        );
    }
}

/// Found by the dwarf fuzz target: a compression header claiming gigabytes made the reader
/// allocate (and zero) them before finding out the payload holds less. Such a claim is
/// refused before any allocation.
#[test]
fn compressed_section_claiming_an_implausible_size() {
    let (mut data, info) = compressed_fixture("shapes-zstd.o");
    let size_at = info.start + 8;
    data[size_at..size_at + 8].copy_from_slice(&(3u64 << 30).to_le_bytes());
    let err = section_err(&data);
    assert!(
        err.starts_with(
            "damaged.o: section .debug_info: compressed section claims 3221225472 bytes from "
        ),
        "{err}"
    );
    assert!(err.ends_with("(over 2048:1); not inflating it"), "{err}");
}

/// DWARF whose type references loop: every pointer, const, volatile and typedef DIE made to
/// refer to itself (`DW_AT_type` in DW_FORM_ref4 patched to the DIE's own offset). The encoder
/// neither hangs nor recurses without end: it encodes the loops as they are, and the
/// validator reports them as the kernel would ("Loop detected").
#[test]
fn dwarf_reference_loops() {
    let (mut data, info) = fixture();
    let patches: Vec<(usize, u32)> = type_refs(&data, &info)
        .into_iter()
        .filter(|&(_, _, tag)| {
            matches!(
                tag,
                gimli::DW_TAG_pointer_type
                    | gimli::DW_TAG_const_type
                    | gimli::DW_TAG_volatile_type
                    | gimli::DW_TAG_typedef
            )
        })
        .map(|(at, die, _)| (at, die as u32))
        .collect();
    assert!(patches.len() > 5, "{} DIEs patched", patches.len());
    for (at, die) in patches {
        data[at..at + 4].copy_from_slice(&die.to_le_bytes());
    }
    let btf = encode(Path::new("loops.o"), &data, None, &EncodeOptions::default())
        .expect("loops are encoded as they are");
    let problems = kbtf_btf::validate::validate(&btf);
    assert!(
        problems.iter().any(|p| p.rule == "Loop detected"),
        "{problems:?}"
    );
    // `kbtf -J` dedups next: a cycle through no struct is an error naming the type.
    let err = kbtf_dedup::dedup(&btf, &Default::default()).unwrap_err();
    assert!(err.to_string().contains("cycle"), "{err}");
    assert!(err.to_string().starts_with("type ["), "{err}");
}
