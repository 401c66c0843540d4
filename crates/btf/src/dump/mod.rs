//! Text dumps of BTF: [`dump_raw`], the type-by-type listing bpftool prints with
//! `format raw`, and [`dump_c`], compilable C declarations like bpftool's `format c`.

mod c;
mod raw;

pub use c::dump_c;
pub use raw::{dump_raw, dump_raw_type};

#[cfg(test)]
mod c_tests;
#[cfg(test)]
mod raw_tests;
#[cfg(test)]
mod real_data_tests;
