//! Dedup on random type graphs: compilation units of random types (names from a small pool,
//! so that many shallowly equal structs meet), repeated in shuffled copies, some with structs
//! replaced by forward declarations and enums by enum forward declarations. Every result must
//! be libbpf's byte for byte (when the oracle is available), or both must fail; dedup never
//! panics, and is idempotent. `KBTF_DEDUP_CASES=N` runs N cases instead of 300 (for hunting
//! differences; a run of 20,000 found none).

mod common;

use common::{append, raw, B};
use kbtf_btf::diff::testing::{shuffle, Rng};
use kbtf_btf::flat::{Flat, FlatBtf};
use kbtf_btf::{Btf, Type, TypeData, TypeId, INT_SIGNED};
use kbtf_dedup::{dedup, dedup_flat, Added, DedupOptions, Incremental};

const NAMES: &[&str] = &["", "", "a", "b", "c", "list", "node"];

fn name(rng: &mut Rng) -> &'static str {
    NAMES[rng.below(NAMES.len())]
}

/// One random compilation unit of about `n` types. Types a struct holds by value (member
/// types, array elements) come earlier, so that no struct contains itself; pointers go
/// anywhere, which can make pointer cycles without a struct (an error for both libbpf and
/// us). No VAR, DATASEC or DECL_TAG is referenced from a data type.
fn random_cu(rng: &mut Rng, n: usize) -> Btf {
    let mut b = B::new();
    b.int("int", 4, INT_SIGNED);
    b.int("long", 8, INT_SIGNED);
    b.int("char", 1, 0);
    // Only ids of data types may be referenced.
    let mut data: Vec<TypeId> = vec![0, 1, 2, 3];
    let total = 3 + n as u32;
    while (b.next() as usize) < total as usize + 1 {
        let before = |rng: &mut Rng, data: &Vec<TypeId>| data[rng.below(data.len())];
        let id = match rng.below(14) {
            0 => {
                let t = before(rng, &data);
                b.konst(t)
            }
            1 => {
                let t = before(rng, &data);
                b.volatile(t)
            }
            2 | 3 => {
                // A pointer to any id, even a later one.
                let t = rng.below(total as usize + 1) as u32;
                b.ptr(t)
            }
            4 => {
                let t = before(rng, &data);
                let nm = name(rng);
                b.typedef(if nm.is_empty() { "t" } else { nm }, t)
            }
            5 => {
                let t = before(rng, &data);
                b.array(t, 1, rng.below(3) as u32)
            }
            6..=8 => {
                let k = rng.below(4);
                let mut ms = Vec::new();
                for i in 0..k {
                    let t = before(rng, &data);
                    ms.push((["x", "y", "z", ""][rng.below(4)], t, 32 * i as u32));
                }
                let nm = name(rng);
                if rng.below(4) == 0 {
                    b.union(nm, 4 * k as u32, &ms)
                } else {
                    b.strukt(nm, 4 * k as u32, &ms)
                }
            }
            9 => {
                let nm = name(rng);
                b.fwd(if nm.is_empty() { "a" } else { nm }, rng.below(3) == 0)
            }
            10 => {
                let v = rng.below(3) as u32;
                let values: Vec<(&str, u32)> =
                    (0..v).map(|i| (["A", "B"][i as usize % 2], i)).collect();
                let nm = name(rng);
                b.enum32(nm, 4, &values)
            }
            11 => {
                let r = before(rng, &data);
                let k = rng.below(3);
                let ps: Vec<(&str, TypeId)> = (0..k)
                    .map(|_| (["p", "q"][rng.below(2)], before(rng, &data)))
                    .collect();
                b.proto(r, &ps)
            }
            12 => {
                // A FUNC needs a FUNC_PROTO: make one.
                let p = b.proto(1, &[("p", 1)]);
                data.push(p);
                b.func("f", p)
            }
            _ => b.float("double", 8),
        };
        if !matches!(b.btf.type_by_id(id).unwrap().data, TypeData::Func { .. }) {
            data.push(id);
        }
    }
    // Pointers past the end are retargeted to `int`.
    let end = b.btf.end_id();
    for t in b.btf.own_types_mut() {
        t.for_each_ref_mut(|r| {
            if *r >= end {
                *r = 1
            }
        });
    }
    b.btf
}

/// `cu` with some structs and unions replaced by FWDs and some enums emptied (forward
/// declarations), as another compilation unit that only declares them would have them.
fn declare_only(cu: &Btf, rng: &mut Rng) -> Btf {
    let mut out = cu.clone();
    for t in out.own_types_mut() {
        match &t.data {
            TypeData::Struct { .. } | TypeData::Union { .. } if rng.below(3) == 0 => {
                let union = matches!(t.data, TypeData::Union { .. });
                *t = Type {
                    name_off: t.name_off,
                    kind_flag: union,
                    data: TypeData::Fwd { raw: 0 },
                };
            }
            TypeData::Enum { size, .. } if rng.below(2) == 0 => {
                t.data = TypeData::Enum {
                    size: *size,
                    values: Vec::new(),
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn random_graphs_dedup_like_libbpf() {
    let mut rng = Rng::new(2024);
    let (mut ok, mut failed) = (0, 0);
    for case in 0..std::env::var("KBTF_DEDUP_CASES").map_or(300, |v| v.parse().unwrap()) {
        let n = 5 + rng.below(40);
        let cu = random_cu(&mut rng, n);
        let mut input = Btf::new();
        for copy in 0..1 + rng.below(4) {
            let mut c = shuffle(&cu, case * 10 + copy as u64);
            if rng.below(2) == 0 {
                c = declare_only(&c, &mut rng);
            }
            append(&mut input, &c, |_, _| true, |id| id);
        }
        let ours = dedup(&input, &DedupOptions::default());
        let theirs = common::libbpf::libbpf_dedup(&input);
        match (&ours, theirs) {
            (Ok(d), Some(Ok(bytes))) => {
                assert!(
                    d.btf.to_bytes() == bytes,
                    "case {case}: differs from libbpf\ninput:\n{}\nours:\n{}",
                    raw(&input),
                    raw(&d.btf)
                );
            }
            (Err(e), Some(Ok(_))) => panic!("case {case}: we failed ({e}), libbpf did not"),
            (Ok(_), Some(Err(e))) => {
                panic!(
                    "case {case}: libbpf failed ({e}), we did not\n{}",
                    raw(&input)
                )
            }
            _ => {}
        }
        match ours {
            Ok(d) => {
                ok += 1;
                let again = dedup(&d.btf, &DedupOptions::default()).unwrap();
                assert_eq!(raw(&again.btf), raw(&d.btf), "case {case}: not idempotent");
            }
            Err(_) => failed += 1,
        }
    }
    // Both outcomes are exercised.
    eprintln!("{ok} ok, {failed} failed");
    assert!(ok > 100 && failed > 10, "{ok} ok, {failed} failed");
}

/// Deduplication fed unit by unit ([`Incremental`]), its reference pass split in two
/// parts on two threads wherever the units allow, gives what [`dedup_flat`] gives on the
/// whole input: the same bytes, or the same error.
#[test]
fn incremental_dedup_with_split_references_equals_dedup() {
    let mut rng = Rng::new(77);
    let (mut same, mut failed) = (0, 0);
    for case in 0..300u64 {
        let mut input = Btf::new();
        let mut ends = Vec::new();
        for _ in 0..2 + rng.below(5) {
            let n = 5 + rng.below(40);
            let cu = random_cu(&mut rng, n);
            for copy in 0..1 + rng.below(3) {
                let mut c = shuffle(&cu, case * 10 + copy as u64);
                if rng.below(2) == 0 {
                    c = declare_only(&c, &mut rng);
                }
                append(&mut input, &c, |_, _| true, |id| id);
                ends.push(input.end_id());
            }
        }
        let mut whole = FlatBtf::from_btf(&input);
        // Both sides then skip the string pass alike.
        whole.strings_first_use = true;
        let opts = DedupOptions::default();
        let want = dedup_flat(whole.clone(), &opts);
        let mut inc = Incremental::new(1, &opts).split_refs_from(1);
        let mut growing = Flat::new();
        for &end in &ends {
            assert!(growing.grow_from(&whole.types, end));
            inc.advance_unit(&mut growing, Added::new(true, true));
        }
        let got = inc.finish(FlatBtf {
            types: growing,
            ..whole
        });
        match (&want, &got) {
            (Ok(a), Ok(b)) => {
                assert_eq!(
                    a.btf.to_bytes(),
                    b.btf.to_bytes(),
                    "case {case}: differs\ninput:\n{}",
                    raw(&input)
                );
                assert_eq!(a.id_map, b.id_map, "case {case}: id maps differ");
                same += 1;
            }
            (Err(a), Err(b)) => {
                assert_eq!(format!("{a:?}"), format!("{b:?}"), "case {case}");
                failed += 1;
            }
            _ => panic!("case {case}: {want:?} against {got:?}"),
        }
    }
    eprintln!("{same} equal, {failed} failed alike");
    assert!(
        same > 100 && failed > 10,
        "{same} equal, {failed} failed alike"
    );
}

/// Whether `t` may be referenced from a data type (not a VAR, DATASEC, DECL_TAG or FUNC).
fn is_data(t: &Type) -> bool {
    !matches!(
        t.data,
        TypeData::Var { .. }
            | TypeData::Datasec { .. }
            | TypeData::DeclTag { .. }
            | TypeData::Func { .. }
    )
}

#[test]
fn random_split_graphs_dedup_like_libbpf() {
    let mut rng = Rng::new(77);
    let cases = std::env::var("KBTF_DEDUP_CASES").map_or(150, |v| v.parse().unwrap());
    let mut compared = 0;
    for case in 0..cases {
        // A base: one random unit, deduplicated.
        let n = 5 + rng.below(30);
        let Ok(base) = dedup(&random_cu(&mut rng, n), &DedupOptions::default()) else {
            continue;
        };
        let base = std::sync::Arc::new(base.btf);
        let base_data: Vec<TypeId> = base
            .iter()
            .filter(|(_, t)| is_data(t))
            .map(|(id, _)| id)
            .collect();
        // A module: copies of the base's types (some only declared), and a unit of its own
        // whose references go partly to base types.
        let mut split = Btf::new_split(base.clone());
        for copy in 0..rng.below(3) {
            let mut c = shuffle(&base, case * 7 + copy as u64);
            if rng.below(2) == 0 {
                c = declare_only(&c, &mut rng);
            }
            append(&mut split, &c, |_, _| true, |id| id);
        }
        let n = 5 + rng.below(30);
        let own = random_cu(&mut rng, n);
        let ids = append(&mut split, &own, |_, _| true, |id| id);
        let start = split.start_id() + (split.own_types().len() - ids.len()) as u32;
        for t in split
            .own_types_mut()
            .iter_mut()
            .skip((start - base.end_id()) as usize)
        {
            if !is_data(t) || base_data.is_empty() {
                continue;
            }
            t.for_each_ref_mut(|r| {
                if *r != 0 && rng.below(3) == 0 {
                    *r = base_data[rng.below(base_data.len())];
                }
            });
        }
        let ours = dedup(&split, &DedupOptions::default());
        match (&ours, common::libbpf::libbpf_dedup(&split)) {
            (Ok(d), Some(Ok(bytes))) => {
                compared += 1;
                assert!(
                    d.btf.to_bytes() == bytes,
                    "case {case}: differs from libbpf\nbase:\n{}\ninput:\n{}\nours:\n{}",
                    raw(&base),
                    raw(&split),
                    raw(&d.btf)
                );
            }
            (Err(e), Some(Ok(_))) => panic!("case {case}: we failed ({e}), libbpf did not"),
            (Ok(_), Some(Err(e))) => panic!("case {case}: libbpf failed ({e}), we did not"),
            _ => {}
        }
        if let Ok(d) = ours {
            let again = dedup(&d.btf, &DedupOptions::default()).unwrap();
            assert_eq!(raw(&again.btf), raw(&d.btf), "case {case}: not idempotent");
        }
    }
    eprintln!("{compared} split cases compared with libbpf");
}
