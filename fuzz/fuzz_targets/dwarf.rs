//! The DWARF reader and encoder on mutated objects, with the default and pahole 1.25+ rules
//! (the kfunc sets of `.BTF_ids` too), and the type origins of `--standalone`. Whatever it
//! encodes must write and parse.
#![no_main]
use std::path::Path;

use kbtf_btf::Btf;
use kbtf_encoder::{encode, EncodeOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((mode, obj)) = kbtf_fuzz::mode(data) else {
        return;
    };
    let mut opts = EncodeOptions {
        threads: 1,
        ..EncodeOptions::default()
    };
    if mode & 1 == 1 {
        opts.gen_floats = true;
        opts.consistent_func = true;
        opts.optimized_func = true;
    }
    if mode & 2 == 2 {
        opts.global_var = true;
    }
    if mode & 8 == 8 {
        opts.decl_tag_kfuncs = true;
    }
    let path = Path::new("fuzz.o");
    if let Ok(btf) = encode(path, obj, None, &opts) {
        let bytes = btf.to_bytes();
        Btf::parse(&bytes, None).expect("encoded BTF parses");
        let _ = kbtf_dedup::dedup(&btf, &Default::default());
    }
    if mode & 4 == 4 {
        let _ = kbtf_encoder::type_origins(path, obj);
    }
});
