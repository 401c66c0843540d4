//! Types BTF cannot hold give an error naming the file and the DIE, not a BTF type whose
//! count of members wrapped around. The objects are built by `gcc` at test time (skipped,
//! with a note, when there is none, unless `KBTF_REQUIRE_TOOLS` is set, as `cargo xtask test`
//! sets it).

mod common;

use common::compile;
use kbtf_encoder::{encode, EncodeOptions, ErrorKind};

/// A C source declaring a struct of `n` members and a variable of it.
fn wide_struct(n: usize) -> String {
    let members: String = (0..n).map(|i| format!("  char m{i};\n")).collect();
    format!("struct wide {{\n{members}}};\nstruct wide w;\n")
}

/// A C source declaring an enum of `n` enumerators and a variable of it.
fn wide_enum(n: usize) -> String {
    let values: String = (0..n).map(|i| format!("  E{i},\n")).collect();
    format!("enum wide {{\n{values}}};\nenum wide e;\n")
}

/// Compiles `source` and checks that encoding it fails with an `Unsupported` error whose
/// message holds `message`.
fn assert_refused(source: &str, message: &str) {
    let Some((_dir, o)) = compile(source, &[]) else {
        return;
    };
    let data = std::fs::read(&o).unwrap();
    match encode(&o, &data, None, &EncodeOptions::default()) {
        Ok(_) => panic!("encoded a type BTF cannot hold"),
        Err(e) => {
            assert!(matches!(e.kind, ErrorKind::Unsupported { .. }), "{e}");
            let err = e.to_string();
            assert!(err.contains(message), "{err}");
        }
    }
}

#[test]
fn too_many_members() {
    assert_refused(
        &wide_struct(65_536),
        "a type with 65536 members (BTF holds at most 65535)",
    );
}

#[test]
fn too_many_enumerators() {
    assert_refused(
        &wide_enum(65_536),
        "a type with 65536 enumerators (BTF holds at most 65535)",
    );
}

#[test]
fn the_most_members_btf_holds() {
    let Some((_dir, o)) = compile(&wide_struct(65_535), &[]) else {
        return;
    };
    let data = std::fs::read(&o).unwrap();
    let btf = encode(&o, &data, None, &EncodeOptions::default()).unwrap();
    let wide = btf
        .own_types()
        .iter()
        .find(|t| matches!(&t.data, kbtf_btf::TypeData::Struct { members, .. } if members.len() == 65_535));
    assert!(wide.is_some(), "no struct of 65535 members encoded");
}
