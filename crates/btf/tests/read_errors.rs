//! Bad input gives one clear error naming the file and the problem, never a panic.

use std::io::Write;
use std::path::Path;

use expect_test::{expect, Expect};
use kbtf_btf::synth::Builder;
use kbtf_btf::{read_file, Btf, TypeData, INT_SIGNED};

/// A small valid base BTF: `int` and `struct s { int a; }`.
fn sample() -> Vec<u8> {
    let mut b = Builder::new();
    let int = b.int("int", 4, INT_SIGNED);
    b.strukt("s", 4, &[("a", int, 0)]);
    b.btf.to_bytes()
}

/// Writes `bytes` to a temp file and checks the error message from reading it, with the temp
/// path replaced by `FILE`.
fn check(bytes: &[u8], expect: Expect) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
    check_path(&path, expect);
}

fn check_path(path: &Path, expect: Expect) {
    let err = read_file(path, None).expect_err("reading bad input must fail");
    let msg = err.to_string().replace(&path.display().to_string(), "FILE");
    assert!(!msg.contains('\n'), "one-line error: {msg}");
    expect.assert_eq(&msg);
}

fn patch_u32(bytes: &mut [u8], off: usize, v: u32) {
    bytes[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn sample_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.btf");
    std::fs::write(&path, sample()).unwrap();
    let f = read_file(&path, None).unwrap();
    assert_eq!(f.btf.own_types().len(), 2);
    assert_eq!(f.btf.to_bytes(), sample());
}

#[test]
fn empty_file() {
    check(
        b"",
        expect!["FILE: not an ELF file and not raw BTF (first bytes (empty file))"],
    );
}

#[test]
fn wrong_magic() {
    check(
        b"hello world, not btf",
        expect!["FILE: not an ELF file and not raw BTF (first bytes 68 65 6c 6c 6f 20 77 6f)"],
    );
}

#[test]
fn truncated_header() {
    check(
        &sample()[..10],
        expect!["FILE: BTF header length 24 out of bounds (blob is 10 bytes)"],
    );
}

#[test]
fn truncated_types() {
    // Cut into the second type's member record; the header still claims the full sections.
    let s = sample();
    check(
        &s[..24 + 30],
        expect![
            "FILE: BTF type section [0, 0+40) out of bounds (data is 30 bytes after the header)"
        ],
    );
}

#[test]
fn type_record_cut_short() {
    // Shrink type_len so that the struct's member record is cut off.
    let mut s = sample();
    patch_u32(&mut s, 12, 36);
    check(
        &s,
        expect!["FILE: type [2] at type section offset 16: truncated trailing data"],
    );
}

#[test]
fn string_section_out_of_bounds() {
    let mut s = sample();
    patch_u32(&mut s, 16, 4000);
    check(
        &s,
        expect!["FILE: BTF string section [4000, 4000+9) out of bounds (data is 49 bytes after the header)"],
    );
}

#[test]
fn unknown_kind() {
    let mut s = sample();
    patch_u32(&mut s, 24 + 4, 25 << 24);
    check(
        &s,
        expect!["FILE: type [1] at type section offset 0: unknown kind 25"],
    );
}

#[test]
fn vlen_larger_than_data() {
    let mut s = sample();
    patch_u32(&mut s, 24 + 16 + 4, (4 << 24) | 0xffff);
    check(
        &s,
        expect!["FILE: type [2] at type section offset 16: truncated trailing data"],
    );
}

#[test]
fn strings_not_terminated() {
    let mut s = sample();
    let n = s.len();
    s[n - 1] = b'x';
    check(
        &s,
        expect!["FILE: BTF string section is empty or does not end with NUL"],
    );
}

#[test]
fn elf_without_btf() {
    // A minimal 64-bit little-endian ELF header with no sections.
    let mut elf = vec![0u8; 64];
    elf[..4].copy_from_slice(b"\x7fELF");
    elf[4] = 2; // ELFCLASS64
    elf[5] = 1; // ELFDATA2LSB
    elf[6] = 1; // EV_CURRENT
    elf[16] = 1; // ET_REL
    elf[18] = 62; // EM_X86_64
    elf[20] = 1; // e_version
    elf[52] = 64; // e_ehsize
    elf[58] = 64; // e_shentsize
    check(&elf, expect!["FILE: ELF has no .BTF section"]);
}

#[test]
fn truncated_elf() {
    check(
        b"\x7fELF\x02\x01\x01",
        expect!["FILE: bad ELF: Could not read file magic"],
    );
}

#[test]
fn directory() {
    let dir = tempfile::tempdir().unwrap();
    check_path(dir.path(), expect!["FILE: is a directory"]);
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    check_path(
        &dir.path().join("nope"),
        expect!["FILE: No such file or directory (os error 2)"],
    );
}

#[test]
fn split_without_base() {
    // A split BTF's strings do not start with NUL; read without a base that is caught.
    let mut base = Builder::new();
    let int = base.int("int", 4, INT_SIGNED);
    let mut split = Builder::split(std::sync::Arc::new(base.btf));
    split.typedef("p", int);
    let split = split.btf;
    check(
        &split.to_bytes(),
        expect![
            "FILE: BTF string section does not start with NUL, as a base BTF's must (split BTF read without its base?)"
        ],
    );
}

#[test]
fn big_endian_round_trip() {
    // Flip every u32 of the sample's header and type section to big-endian.
    let s = sample();
    let mut be = s.clone();
    be[0] = 0xeb;
    be[1] = 0x9f;
    let type_end = 24 + 40;
    for off in (4..type_end).step_by(4) {
        let v = u32::from_le_bytes(s[off..off + 4].try_into().unwrap());
        be[off..off + 4].copy_from_slice(&v.to_be_bytes());
    }
    let btf = Btf::parse(&be, None).unwrap();
    assert_eq!(btf.endian(), kbtf_btf::Endian::Big);
    assert_eq!(btf.name_of(2), "s");
    assert_eq!(btf.to_bytes(), be);
}

#[test]
fn longer_header_and_trailing_section_round_trip() {
    // A 32-byte header (as the newer kind-layout header) and 8 trailing bytes after strings.
    let s = sample();
    let mut long = Vec::new();
    long.extend_from_slice(&s[..24]);
    patch_u32(&mut long, 4, 32);
    let body_len = (s.len() - 24) as u32;
    long.extend_from_slice(&body_len.to_le_bytes());
    long.extend_from_slice(&8u32.to_le_bytes());
    long.extend_from_slice(&s[24..]);
    long.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    let btf = Btf::parse(&long, None).unwrap();
    assert_eq!(btf.own_types().len(), 2);
    assert_eq!(btf.to_bytes(), long);
}

#[test]
fn array_size_word_not_zero() {
    let mut b = Builder::new();
    let int = b.int("int", 4, INT_SIGNED);
    b.array(int, int, 2);
    let mut bytes = b.btf.to_bytes();
    // The ARRAY record starts after the 16-byte INT; its size word is at +8.
    patch_u32(&mut bytes, 24 + 16 + 8, 8);
    check(
        &bytes,
        expect!["FILE: type [2] ARRAY at type section offset 16: size word is 8, must be 0"],
    );
}

#[test]
fn shorter_than_hdr_len_field() {
    check(
        &sample()[..6],
        expect!["FILE: BTF too short: 6 bytes, its header needs at least 8 (up to hdr_len)"],
    );
}

/// Linux 6.1 reads a header shorter than 24 bytes as far as it goes (the rest 0): a 22-byte
/// header holds the low two bytes of str_len. The kernel takes such BTF (the differential
/// test against BPF_BTF_LOAD found it), so kbtf reads it too, and writes it back the same.
#[test]
fn short_header_as_the_kernel_reads_it() {
    let full = sample();
    let str_len = u32::from_le_bytes(full[20..24].try_into().unwrap());
    assert!(str_len < 1 << 16);
    let mut short = full[..22].to_vec();
    patch_u32(&mut short, 4, 22);
    short.extend_from_slice(&full[24..]);
    let btf = Btf::parse(&short, None).unwrap();
    assert_eq!(btf.own_types().len(), 2);
    assert_eq!(btf.header().unwrap().str_len, str_len);
    assert_eq!(btf.to_bytes(), short, "written back as read");
    assert!(kbtf_btf::validate::validate(&btf).is_empty());
    // A 20-byte header has no str_len at all: no string section, which the kernel refuses too.
    let mut none = full[..20].to_vec();
    patch_u32(&mut none, 4, 20);
    none.extend_from_slice(&full[24..]);
    check(
        &none,
        expect!["FILE: BTF string section is empty or does not end with NUL"],
    );
}

/// 6.1's BTF_INT_MASK is 0x0fffffff: bits 8..16 of an INT's data word are allowed and
/// ignored. kbtf reads them the same way and gives them back on write.
#[test]
fn int_data_bits_8_to_16_are_ignored() {
    let mut s = sample();
    // The INT's data word: header 24, then name_off, info, size.
    let at = 24 + 12;
    let w = u32::from_le_bytes(s[at..at + 4].try_into().unwrap());
    patch_u32(&mut s, at, w | 0xab00);
    let btf = Btf::parse(&s, None).unwrap();
    assert_eq!(
        btf.own_types()[0].data,
        TypeData::Int {
            size: 4,
            encoding: 1,
            offset: 0,
            bits: 32
        }
    );
    assert_eq!(btf.int_ignored_bits().collect::<Vec<_>>(), vec![(1, 0xab)]);
    assert_eq!(btf.to_bytes(), s);
    assert!(kbtf_btf::validate::validate(&btf).is_empty());
    // Bits 28..32 stay refused, as by the kernel ("Invalid int_data").
    patch_u32(&mut s, at, w | 0x1000_0000);
    check(
        &s,
        expect!["FILE: type [1] INT at type section offset 0: invalid int data 0x11000020"],
    );
}

/// A base of the other byte order than its split BTF: one error that says so, from the
/// parser and from `read_file`.
#[test]
fn base_of_the_wrong_endianness() {
    let mut b = Builder::new();
    let int = b.int("int", 4, INT_SIGNED);
    let mut base = b.btf;
    let mut split = Builder::split(std::sync::Arc::new(base.clone()));
    split.typedef("p", int);
    let split_bytes = split.btf.to_bytes();
    base.set_endian(kbtf_btf::Endian::Big);
    let be_base = std::sync::Arc::new(Btf::parse(&base.to_bytes(), None).unwrap());
    assert_eq!(be_base.endian(), kbtf_btf::Endian::Big);
    let err = Btf::parse(&split_bytes, Some(be_base.clone())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "base BTF is big endian but split BTF is little endian"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input");
    std::fs::write(&path, &split_bytes).unwrap();
    let err = read_file(&path, Some(be_base)).unwrap_err();
    assert_eq!(
        err.to_string().replace(&path.display().to_string(), "FILE"),
        "FILE: base BTF is big endian but split BTF is little endian"
    );
}
