//! Types BTF cannot hold give an error naming the file and the DIE, not a BTF type whose
//! count of members wrapped around. The objects are built by `gcc` at test time (skipped,
//! with a note, when there is none).

use std::path::{Path, PathBuf};
use std::process::Command;

use kbtf_encoder::{encode, EncodeOptions, ErrorKind};

/// Compiles `source` with `gcc -g -c` into a temp directory; `None` without gcc.
fn compile(source: &str) -> Option<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("t.c");
    let o = dir.path().join("t.o");
    std::fs::write(&c, source).unwrap();
    let status = match Command::new("gcc")
        .args(["-g", "-O0", "-c", "-o"])
        .arg(&o)
        .arg(&c)
        .status()
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("note: skipped, no gcc: {e}");
            return None;
        }
    };
    assert!(status.success(), "gcc failed on the test source");
    Some((dir, o))
}

fn encode_error(path: &Path) -> String {
    let data = std::fs::read(path).unwrap();
    match encode(path, &data, None, &EncodeOptions::default()) {
        Ok(_) => panic!("encoded a type BTF cannot hold"),
        Err(e) => {
            assert!(matches!(e.kind, ErrorKind::Unsupported { .. }), "{e}");
            e.to_string()
        }
    }
}

#[test]
fn too_many_members() {
    let mut src = String::from("struct wide {\n");
    for i in 0..65_536 {
        src.push_str(&format!("  char m{i};\n"));
    }
    src.push_str("};\nstruct wide w;\n");
    let Some((_dir, o)) = compile(&src) else {
        return;
    };
    let err = encode_error(&o);
    assert!(
        err.contains("a type with 65536 members (BTF holds at most 65535)"),
        "{err}"
    );
}

#[test]
fn too_many_enumerators() {
    let mut src = String::from("enum wide {\n");
    for i in 0..65_536 {
        src.push_str(&format!("  E{i},\n"));
    }
    src.push_str("};\nenum wide e;\n");
    let Some((_dir, o)) = compile(&src) else {
        return;
    };
    let err = encode_error(&o);
    assert!(
        err.contains("a type with 65536 enumerators (BTF holds at most 65535)"),
        "{err}"
    );
}

#[test]
fn the_most_members_btf_holds() {
    let mut src = String::from("struct wide {\n");
    for i in 0..65_535 {
        src.push_str(&format!("  char m{i};\n"));
    }
    src.push_str("};\nstruct wide w;\n");
    let Some((_dir, o)) = compile(&src) else {
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
