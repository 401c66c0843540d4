//! Counts at the edge of their fields (a 65535-member struct, an array of 2^32 - 1 elements,
//! nested arrays whose total size overflows 64 bits, a 4 GiB struct) go through every
//! consumer (parse, validate, both dumps, diff, dedup, distill) with errors or problems that
//! say what is wrong, never an overflow panic or an allocation sized by the count.

use std::sync::Arc;

use kbtf_btf::diff::{diff, DiffOptions};
use kbtf_btf::dump::dump_raw;
use kbtf_btf::{Btf, Member, Type, TypeData};
use kbtf_dedup::{dedup, distill, DedupOptions};

fn huge() -> Btf {
    let mut b = Btf::new();
    let int = b.add_str("int");
    let int = b.add_type(Type::new(
        int,
        TypeData::Int {
            size: 4,
            encoding: 1,
            offset: 0,
            bits: 32,
        },
    ));
    let arr = b.add_type(Type::new(
        0,
        TypeData::Array {
            elem: int,
            index: int,
            nelems: u32::MAX,
        },
    ));
    // An array of those arrays: 2^32 - 1 squared elements of 4 bytes.
    let arr2 = b.add_type(Type::new(
        0,
        TypeData::Array {
            elem: arr,
            index: int,
            nelems: u32::MAX,
        },
    ));
    let m = b.add_str("m");
    let members: Vec<Member> = (0..u16::MAX as u32)
        .map(|i| Member {
            name_off: m,
            ty: if i % 2 == 0 { int } else { arr2 },
            offset: i.wrapping_mul(32),
        })
        .collect();
    let s = b.add_str("wide");
    b.add_type(Type::new(
        s,
        TypeData::Struct {
            size: u32::MAX,
            members,
        },
    ));
    b
}

#[test]
fn huge_counts_are_problems_not_panics() {
    let b = huge();
    let bytes = b.to_bytes();
    let b = Btf::parse(&bytes, None).unwrap();
    assert_eq!(b.own_types()[3].members().len(), 65535);
    let problems = kbtf_btf::validate::validate(&b);
    let rules: Vec<&str> = problems.iter().map(|p| p.rule).collect();
    assert!(rules.contains(&"Array size overflows U32_MAX"), "{rules:?}");
    let mut out = Vec::new();
    dump_raw(&b, &mut out).unwrap();
    assert!(String::from_utf8_lossy(&out).contains("nr_elems=4294967295"));
    // The C dump of a 4 GiB struct is 2^29 padding lines, as bpftool writes it: only the raw
    // dump is asked for here (the fuzz targets skip the C dump of such sizes).
    assert!(diff(&b, &b, &DiffOptions::default()).is_empty());
    let d = dedup(&b, &DedupOptions::default()).unwrap();
    assert_eq!(d.btf.own_types().len(), 4);
    // The same as split BTF on a small base, distilled.
    let base = Arc::new(Btf::parse(&huge().to_bytes(), None).unwrap());
    let mut split = Btf::new_split(base.clone());
    let p = split.add_type(Type::new(0, TypeData::Ptr { ty: 4 }));
    split.add_type(Type::new(0, TypeData::Const { ty: p }));
    let dist = distill(&split, &[]).unwrap();
    assert_eq!(dist.split.own_types().len(), 2);
}
