//! pahole compatibility: `kbtf -J ...` (or kbtf installed as `pahole`) takes pahole's flags, so
//! kbuild can run it as `PAHOLE=kbtf`.

pub mod args;
pub mod encode;
pub mod features;
pub mod run;
#[cfg(test)]
mod tests;
