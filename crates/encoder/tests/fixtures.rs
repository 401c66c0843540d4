//! The encoder on the committed C fixtures and the dummy module, compared by meaning with
//! pahole 1.24's output after a structural deduplication of ours.

mod common;

use std::path::Path;
use std::sync::Arc;

use kbtf_btf::diff::{diff, DiffOptions};
use kbtf_encoder::{encode, EncodeOptions};

fn encode_file(path: &Path, base: Option<Arc<kbtf_btf::Btf>>) -> kbtf_btf::Btf {
    let data = std::fs::read(path).unwrap();
    encode(path, &data, base, &EncodeOptions::default()).unwrap()
}

fn check_c_fixture(name: &str) {
    check_against_pahole("testdata/c", name, name);
}

#[test]
fn c_kinds_matches_pahole() {
    check_c_fixture("kinds");
}

#[test]
fn c_bitfields_matches_pahole() {
    check_c_fixture("bitfields");
}

#[test]
fn c_funcs_matches_pahole() {
    check_c_fixture("funcs");
}

#[test]
fn dummy_module_matches_pahole() {
    let repo = common::repo();
    let base = kbtf_btf::read_base(&repo.join("testdata/vmlinux-6.1.btf")).unwrap();
    let ours = encode_file(
        &repo.join("testdata/modules-6.1-dbg/dummy.ko"),
        Some(base.clone()),
    );
    // Debian's dummy.ko .BTF is what pahole 1.24 gives on this .ko against this vmlinux.
    let pahole = kbtf_btf::read_file(&repo.join("testdata/modules-6.1/dummy.btf"), Some(base))
        .unwrap()
        .btf;
    let d = diff(
        &kbtf_dedup::dedup(&ours, &Default::default()).unwrap().btf,
        &pahole,
        &DiffOptions::default(),
    );
    assert!(d.is_empty(), "differences with pahole:\n{d}");
}

/// An encoder fixture of testdata/encoder against pahole's BTF of `reference`.
fn check_encoder_fixture(name: &str, reference: &str) {
    check_against_pahole("testdata/encoder", name, reference);
}

/// `dir/name.o` encoded and deduplicated equals `dir/reference.pahole.btf` by meaning.
fn check_against_pahole(dir: &str, name: &str, reference: &str) {
    let dir = common::repo().join(dir);
    let ours = encode_file(&dir.join(format!("{name}.o")), None);
    let pahole = kbtf_btf::read_file(&dir.join(format!("{reference}.pahole.btf")), None)
        .unwrap()
        .btf;
    let d = diff(
        &kbtf_dedup::dedup(&ours, &Default::default()).unwrap().btf,
        &pahole,
        &DiffOptions::default(),
    );
    assert!(d.is_empty(), "{name}: differences with pahole:\n{d}");
}

#[test]
fn dwarf5_matches_pahole() {
    check_encoder_fixture("shapes-dwarf5", "shapes-dwarf5");
}

#[test]
fn dwarf4_bit_offset_bitfields_match_pahole() {
    check_encoder_fixture("shapes-dwarf4", "shapes-dwarf4");
}

#[test]
fn zdebug_sections_match_pahole() {
    check_encoder_fixture("shapes-zdebug", "shapes-zdebug");
}

#[test]
fn zlib_compressed_sections_match_pahole() {
    check_encoder_fixture("shapes-zlib", "shapes-zlib");
}

#[test]
fn zstd_compressed_sections_match_uncompressed() {
    check_encoder_fixture("shapes-zstd", "shapes-dwarf5");
}

#[test]
fn ld_r_object_matches_pahole() {
    check_encoder_fixture("shapes-ldr", "shapes-ldr");
}

/// The encoding is the same whatever the thread count.
#[test]
fn output_does_not_depend_on_threads() {
    let path = common::repo().join("testdata/encoder/shapes-ldr.o");
    let data = std::fs::read(&path).unwrap();
    let one = encode(
        &path,
        &data,
        None,
        &EncodeOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let four = encode(
        &path,
        &data,
        None,
        &EncodeOptions {
            threads: 4,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(one.to_bytes(), four.to_bytes());
}
