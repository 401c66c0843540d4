//! Shared test support: a builder for synthetic BTF, text dumps, input construction from real
//! BTF (concatenated and shuffled copies), and the libbpf oracle ([`libbpf`]).

#![allow(dead_code)]

pub mod libbpf;

use std::collections::HashMap;
use std::sync::Arc;

use kbtf_btf::diff::{diff, DiffOptions};
use kbtf_btf::dump::dump_raw;
use kbtf_btf::*;
use kbtf_dedup::{dedup, DedupOptions, Deduped};

/// The builder of synthetic BTF: each method adds one type and returns its id.
#[allow(unused_imports)] // not every test file builds BTF by hand
pub use kbtf_btf::synth::Builder as B;

/// bpftool's raw dump of the own types of `btf`.
pub fn raw(btf: &Btf) -> String {
    let mut out = Vec::new();
    dump_raw(btf, &mut out).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// Deduplicates `input`, and checks the result is byte for byte libbpf's when the libbpf
/// oracle is available.
pub fn run(input: &Btf) -> Deduped {
    let d = dedup(input, &DedupOptions::default()).expect("dedup");
    libbpf::assert_same(input, &d.btf);
    d
}

/// The raw dump of the deduplicated `input`, followed by the id map of the own input types
/// (`old->new`, one line).
pub fn run_text(input: &Btf) -> String {
    let d = run(input);
    let map: Vec<String> = (input.start_id()..input.end_id())
        .map(|id| format!("{id}->{}", d.id_map[id as usize]))
        .collect();
    format!("{}map: {}\n", raw(&d.btf), map.join(" "))
}

pub use kbtf_testkit::fixture;

/// The committed vmlinux BTF fixture (Debian 6.1.0-56-cloud-amd64, 95,246 types).
pub fn vmlinux() -> Arc<Btf> {
    read_base(&fixture("vmlinux-6.1.btf")).unwrap()
}

/// A committed module BTF fixture (split on [`vmlinux`]).
pub fn module(name: &str, base: &Arc<Btf>) -> Btf {
    read_file(
        &fixture(&format!("modules-6.1/{name}.btf")),
        Some(base.clone()),
    )
    .unwrap()
    .btf
}

/// Appends to `out` the own types of `src` for which `keep` holds, with their strings
/// re-added to `out`'s table and their references remapped: references to `src`'s own types
/// go to the appended copies (or to `dropped(id)` when that type was not kept), references
/// below `src.start_id()` go through `base_map`. Returns the map from `src` own ids to ids
/// in `out` (0 for types not kept).
pub fn append(
    out: &mut Btf,
    src: &Btf,
    keep: impl Fn(TypeId, &Type) -> bool,
    base_map: impl Fn(TypeId) -> TypeId,
) -> HashMap<TypeId, TypeId> {
    let mut ids = HashMap::new();
    let mut next = out.end_id();
    for (id, t) in src.iter() {
        if keep(id, t) {
            ids.insert(id, next);
            next += 1;
        }
    }
    let start = src.start_id();
    for (id, t) in src.iter() {
        if !ids.contains_key(&id) {
            continue;
        }
        let mut t = t.clone();
        t.for_each_ref_mut(|r| {
            *r = if *r == 0 {
                0
            } else if *r < start {
                base_map(*r)
            } else {
                *ids.get(r)
                    .unwrap_or_else(|| panic!("type [{id}] refers to dropped [{r}]"))
            }
        });
        t.for_each_str_off_mut(|off| {
            let s = src.str_bytes(*off).unwrap_or_default().to_vec();
            *off = out.strings_mut().add(&s);
        });
        out.add_type(t);
    }
    ids
}

/// Whether `t` is a VAR or DATASEC: kinds libbpf never deduplicates, which a realistic
/// duplicated input holds once.
pub fn is_var_or_datasec(t: &Type) -> bool {
    matches!(t.data, TypeData::Var { .. } | TypeData::Datasec { .. })
}

/// `btf` (a base BTF) followed by a copy of its types shuffled with `seed` (all but VARs and
/// DATASECs): what an encoder gives for two compilation units that saw the same headers.
pub fn doubled(btf: &Btf, seed: u64) -> Btf {
    let mut out = btf.clone();
    let copy = kbtf_btf::diff::testing::shuffle(btf, seed);
    append(&mut out, &copy, |_, t| !is_var_or_datasec(t), |id| id);
    out
}

/// Number of types of each kind among the own types of `btf`, as `KIND:n` words.
pub fn kind_counts(btf: &Btf) -> String {
    let mut counts: std::collections::BTreeMap<Kind, usize> = Default::default();
    for (_, t) in btf.iter() {
        *counts.entry(t.kind()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(k, n)| format!("{k}:{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Asserts `a` and `b` hold the same types by meaning, printing the first differences.
pub fn assert_same_meaning(a: &Btf, b: &Btf) {
    let d = diff(a, b, &DiffOptions::default());
    assert!(
        d.is_empty(),
        "{} differences, first ones:\n{}",
        d.len(),
        d.to_string()
            .lines()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Every input type maps to an output type of the same kind and name, or (a FWD, an enum
/// forward declaration) to the struct, union or enum it declares.
pub fn assert_id_map_plausible(input: &Btf, out: &Btf, id_map: &[TypeId]) {
    assert_eq!(id_map.len(), input.end_id() as usize);
    for id in 1..input.end_id() {
        let t = input.type_by_id(id).unwrap();
        let new = id_map[id as usize];
        let u = out
            .type_by_id(new)
            .unwrap_or_else(|| panic!("[{id}] maps to [{new}], which does not exist"));
        let (tn, un) = (input.str_at(t.name_off), out.str_at(u.name_off));
        assert_eq!(tn, un, "[{id}] {} maps to [{new}] {}", t.kind(), u.kind());
        let ok = t.kind() == u.kind()
            || matches!(
                (&t.data, &u.data),
                (
                    TypeData::Fwd { .. },
                    TypeData::Struct { .. } | TypeData::Union { .. }
                ) | (TypeData::Enum { .. }, TypeData::Enum64 { .. })
                    | (TypeData::Enum64 { .. }, TypeData::Enum { .. })
            );
        assert!(
            ok,
            "[{id}] {} '{tn}' maps to [{new}] {}",
            t.kind(),
            u.kind()
        );
    }
}

/// The base types `module` refers to, and everything they refer to.
pub fn base_closure(module: &Btf) -> Vec<bool> {
    let base = module.base().unwrap();
    let mut need = vec![false; base.end_id() as usize];
    let mut stack: Vec<TypeId> = Vec::new();
    for (_, t) in module.iter() {
        t.for_each_ref(|r| {
            if r != 0 && r < module.start_id() {
                stack.push(r)
            }
        });
    }
    while let Some(id) = stack.pop() {
        if std::mem::replace(&mut need[id as usize], true) {
            continue;
        }
        base.type_by_id(id).unwrap().for_each_ref(|r| {
            if r != 0 {
                stack.push(r)
            }
        });
    }
    need
}

/// `module` as a module encoder would emit it: first a copy of every base type it uses
/// (transitively), then its own types referring to the copies.
pub fn with_base_copies(module: &Btf) -> (Btf, usize) {
    let base = module.base().unwrap().clone();
    let need = base_closure(module);
    let mut out = Btf::new_split(base.clone());
    let copies = append(&mut out, &base, |id, _| need[id as usize], |id| id);
    append(&mut out, module, |_, _| true, |id| copies[&id]);
    (out, copies.len())
}
