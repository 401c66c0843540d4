//! `useful_threads`: how many threads `-jN` starts depends on the size of `.debug_info`,
//! uncompressed. The larger objects are built by `gcc` at test time (skipped, with a note,
//! when there is none, unless `KBTF_REQUIRE_TOOLS` is set, as `cargo xtask test` sets it).

mod common;

use common::{compile, repo};
use kbtf_encoder::{encode, useful_threads, EncodeOptions, PARALLEL_MIN_DEBUG_INFO};
use object::{Object, ObjectSection};

/// A C source with `n` structs of 40 members each, and a variable of each: about 600 bytes
/// of `.debug_info` a struct.
fn many_structs(n: usize) -> String {
    let members: String = (0..40).map(|i| format!("  long member_{i};\n")).collect();
    (0..n)
        .map(|s| format!("struct s{s} {{\n{members}}};\nstruct s{s} v{s};\n"))
        .collect()
}

/// The size of `.debug_info` in the file, as stored (compressed or not).
fn stored_debug_info(data: &[u8]) -> u64 {
    let file = object::File::parse(data).unwrap();
    file.section_by_name(".debug_info").unwrap().size()
}

#[test]
fn a_small_module_gets_one_thread() {
    let data = std::fs::read(repo().join("testdata/modules-6.1-dbg/dummy.ko")).unwrap();
    assert!(stored_debug_info(&data) < PARALLEL_MIN_DEBUG_INFO);
    for (asked, got) in [(1, 1), (2, 1), (16, 1)] {
        assert_eq!(useful_threads(&data, asked), got, "-j{asked}");
    }
}

#[test]
fn what_is_not_elf_keeps_the_count() {
    assert_eq!(useful_threads(b"not an ELF file", 4), 4);
    assert_eq!(useful_threads(&[], 2), 2);
}

#[test]
fn a_large_object_gets_every_thread_compressed_or_not() {
    let source = many_structs(3_000);
    let Some((_dir, plain)) = compile(&source, &[]) else {
        return;
    };
    let data = std::fs::read(&plain).unwrap();
    assert!(stored_debug_info(&data) >= PARALLEL_MIN_DEBUG_INFO);
    assert_eq!(useful_threads(&data, 2), 2);
    assert_eq!(useful_threads(&data, 1), 1);

    // Compressed, the section is stored smaller than the limit; its size is read from the
    // compression header.
    let Some((_dir_z, packed)) = compile(&source, &["-gz=zlib"]) else {
        return;
    };
    let packed_data = std::fs::read(&packed).unwrap();
    assert!(stored_debug_info(&packed_data) < PARALLEL_MIN_DEBUG_INFO);
    assert_eq!(useful_threads(&packed_data, 2), 2);

    // Either way the same BTF, at any thread count.
    let at = |data: &[u8], threads| {
        let opts = EncodeOptions {
            threads,
            ..EncodeOptions::default()
        };
        encode(&plain, data, None, &opts).unwrap().to_bytes()
    };
    let one = at(&data, 1);
    assert_eq!(at(&data, 2), one);
    assert_eq!(at(&packed_data, 2), one);
}
