//! Golden dumps of the encoder's raw, un-deduplicated output on small DWARF inputs, in
//! bpftool's `format raw`. They show exactly what the encoder emits before dedup: every
//! unit's types in DIE order (nested types first), then its functions, in CU order.
//! Update with `UPDATE_EXPECT=1 cargo test -p kbtf-encoder --test golden`.

mod common;

use kbtf_encoder::{encode, EncodeOptions};

fn raw_dump(object: &str, opts: &EncodeOptions) -> String {
    let path = common::repo().join("testdata/encoder").join(object);
    let data = std::fs::read(&path).unwrap();
    let btf = encode(&path, &data, None, opts).unwrap();
    let mut out = Vec::new();
    kbtf_btf::dump::dump_raw(&btf, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn ld_r_object_raw() {
    expect_test::expect_file!["golden/shapes-ldr.raw"]
        .assert_eq(&raw_dump("shapes-ldr.o", &EncodeOptions::default()));
}

#[test]
fn floats_and_no_enum64_raw() {
    let opts = EncodeOptions {
        gen_floats: true,
        skip_enum64: true,
        ..Default::default()
    };
    expect_test::expect_file!["golden/shapes-floats-noenum64.raw"]
        .assert_eq(&raw_dump("shapes-dwarf4.o", &opts));
}
