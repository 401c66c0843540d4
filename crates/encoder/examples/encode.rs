//! Encodes an ELF file's DWARF as (un-deduplicated) raw BTF, for inspection:
//! `cargo run --release -p kbtf-encoder --example encode -- FILE OUT [--base BTF] [--floats]
//! [--no-rust] [--optimized-func] [--consistent-func] [--global-var] [-j N]`.
//!
//! With `--optimized-func` or `--consistent-func` it also reports what happened to the
//! functions held back until every unit was read.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = kbtf_encoder::EncodeOptions::default();
    let mut base = None;
    let mut pos = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--base" => {
                i += 1;
                base = Some(kbtf_btf::read_base(std::path::Path::new(&args[i])).expect("base"));
            }
            "--floats" => opts.gen_floats = true,
            "--no-rust" => opts.lang_exclude_rust = true,
            "--optimized-func" => opts.optimized_func = true,
            "--consistent-func" => opts.consistent_func = true,
            "--global-var" => opts.global_var = true,
            "-j" => {
                i += 1;
                opts.threads = args[i].parse().expect("threads");
            }
            a => pos.push(a.to_string()),
        }
        i += 1;
    }
    let path = std::path::Path::new(&pos[0]);
    let data = std::fs::read(path).expect("read");
    let t = std::time::Instant::now();
    match kbtf_encoder::encode_with_stats(path, &data, base, &opts) {
        Ok((btf, stats)) => {
            eprintln!("{} types in {:?}", btf.own_types().len(), t.elapsed());
            if opts.optimized_func || opts.consistent_func {
                eprintln!("held-back functions: {stats:?}");
            }
            std::fs::write(&pos[1], btf.to_bytes()).expect("write");
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
