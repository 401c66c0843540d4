//! `Hooks::done_with`: which parts of a mapped input the encoder says it no longer needs. In a
//! relocatable object each relocated section is read from a copy, so the file's bytes of the
//! section and of its relocations can be given back; the sections read in place cannot.

mod common;

use std::ops::Range;
use std::sync::Mutex;

use common::repo;
use kbtf_encoder::{encode_flat_with, EncodeOptions, Hooks};
use object::{Object, ObjectSection};

/// The file ranges of `data` that encoding it reports through `done_with`.
fn released(data: &[u8]) -> Vec<Range<usize>> {
    let parts = Mutex::new(Vec::new());
    let base = data.as_ptr() as usize;
    let done_with = |part: &[u8]| {
        let start = (part.as_ptr() as usize).wrapping_sub(base);
        if start < data.len() {
            parts.lock().unwrap().push(start..start + part.len());
        }
    };
    encode_flat_with(
        "dummy.ko".as_ref(),
        data,
        None,
        &EncodeOptions::default(),
        Hooks {
            merged: &mut |_, _| {},
            done_with: &done_with,
        },
    )
    .unwrap();
    parts.into_inner().unwrap()
}

/// The file range of the section `name`.
fn range(data: &[u8], name: &str) -> Range<usize> {
    let file = object::File::parse(data).unwrap();
    let section = file.section_by_name(name).unwrap();
    let (off, len) = section.file_range().unwrap();
    off as usize..(off + len) as usize
}

fn covered(parts: &[Range<usize>], r: &Range<usize>) -> bool {
    parts.iter().any(|p| p.start <= r.start && r.end <= p.end)
}

fn touches(parts: &[Range<usize>], r: &Range<usize>) -> bool {
    parts.iter().any(|p| p.start < r.end && r.start < p.end)
}

#[test]
fn a_module_gives_back_its_relocated_sections_and_their_relocations() {
    let data = std::fs::read(repo().join("testdata/modules-6.1-dbg/dummy.ko")).unwrap();
    let parts = released(&data);
    for name in [
        ".debug_info",
        ".rela.debug_info",
        ".debug_line",
        ".rela.debug_line",
    ] {
        assert!(
            covered(&parts, &range(&data, name)),
            "{name} not given back: {parts:?}"
        );
    }
    // Read in place until the end: never given back.
    for name in [".debug_str", ".debug_abbrev", ".symtab", ".strtab"] {
        assert!(
            !touches(&parts, &range(&data, name)),
            "{name} given back: {parts:?}"
        );
    }
}
