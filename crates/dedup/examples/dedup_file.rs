//! Deduplicates a BTF file and writes the raw result, printing type counts and the time
//! taken: `cargo run --release -p kbtf-dedup --example dedup_file -- IN OUT [--base BASE]`.
//!
//! `IN` and `BASE` are anything `kbtf_btf::read_file` reads (raw BTF or ELF with `.BTF`).
//! With `--copies N`, `IN` is first concatenated with N - 1 shuffled copies of itself (a
//! synthetic stand-in for an encoder's raw, duplicated output; base BTF only). With
//! `--save-input PATH` the input as deduplicated is written there too (raw BTF).

use std::time::Instant;

use kbtf_btf::diff::testing::shuffle;
use kbtf_btf::{Btf, Type};
use kbtf_dedup::{dedup, DedupOptions};

fn usage() -> ! {
    eprintln!("usage: dedup_file IN OUT [--base BASE] [--copies N] [--save-input PATH]");
    std::process::exit(2)
}

/// `btf` followed by `n - 1` shuffled copies of its types (ids shifted, strings re-added).
fn copies(btf: &Btf, n: usize) -> Btf {
    let mut out = btf.clone();
    for i in 1..n {
        let copy = shuffle(btf, i as u64);
        let shift = out.end_id() - 1;
        for (_, t) in copy.iter() {
            let mut t: Type = t.clone();
            t.for_each_ref_mut(|r| {
                if *r != 0 {
                    *r += shift
                }
            });
            let name = |off: u32| copy.str_bytes(off).unwrap_or_default().to_vec();
            let mut strs = Vec::new();
            t.for_each_str_off(|o| strs.push(name(o)));
            let mut new = strs
                .into_iter()
                .map(|s| out.strings_mut().add(&s))
                .collect::<Vec<_>>()
                .into_iter();
            t.name_off = new.next().unwrap_or(0);
            match &mut t.data {
                kbtf_btf::TypeData::Struct { members, .. }
                | kbtf_btf::TypeData::Union { members, .. } => members
                    .iter_mut()
                    .for_each(|m| m.name_off = new.next().unwrap_or(0)),
                kbtf_btf::TypeData::Enum { values, .. } => values
                    .iter_mut()
                    .for_each(|v| v.name_off = new.next().unwrap_or(0)),
                kbtf_btf::TypeData::Enum64 { values, .. } => values
                    .iter_mut()
                    .for_each(|v| v.name_off = new.next().unwrap_or(0)),
                kbtf_btf::TypeData::FuncProto { params, .. } => params
                    .iter_mut()
                    .for_each(|p| p.name_off = new.next().unwrap_or(0)),
                _ => {}
            }
            out.add_type(t);
        }
    }
    out
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut input, mut output, mut base, mut n) = (None, None, None, 1usize);
    let mut save_input = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--base" => base = Some(args.next().unwrap_or_else(|| usage())),
            "--save-input" => save_input = Some(args.next().unwrap_or_else(|| usage())),
            "--copies" => {
                n = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            _ if input.is_none() => input = Some(a),
            _ if output.is_none() => output = Some(a),
            _ => usage(),
        }
    }
    let (Some(input), Some(output)) = (input, output) else {
        usage()
    };
    let base = base.map(|b| {
        kbtf_btf::read_base(b.as_ref()).unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2)
        })
    });
    let btf = kbtf_btf::read_file(input.as_ref(), base.clone()).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let mut btf = btf.btf;
    if n > 1 {
        btf = copies(&btf, n);
    }
    if let Some(p) = save_input {
        std::fs::write(&p, btf.to_bytes()).unwrap_or_else(|e| {
            eprintln!("{p}: {e}");
            std::process::exit(2)
        });
    }
    let types_in = btf.own_types().len();
    let t0 = Instant::now();
    let d = dedup(&btf, &DedupOptions::default()).unwrap_or_else(|e| {
        eprintln!("dedup: {e}");
        std::process::exit(1)
    });
    let dt = t0.elapsed();
    eprintln!(
        "{} types in, {} types out, {:.3} s",
        types_in,
        d.btf.own_types().len(),
        dt.as_secs_f64()
    );
    std::fs::write(&output, d.btf.to_bytes()).unwrap_or_else(|e| {
        eprintln!("{output}: {e}");
        std::process::exit(2)
    });
}
