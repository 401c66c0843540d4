//! Text dumps of BTF: [`dump_raw`], the type-by-type listing bpftool prints with
//! `format raw`.

mod raw;

pub use raw::{dump_raw, dump_raw_type};

#[cfg(test)]
mod raw_tests;
#[cfg(test)]
mod test_btf;
