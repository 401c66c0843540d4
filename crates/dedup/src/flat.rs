//! The types being deduplicated: [`kbtf_btf::flat`]'s compact wire-like storage (one 16-byte
//! record per id and one vector of trailing words), which dedup hashes, compares and rewrites
//! in place as libbpf does on its raw type section.

pub(crate) use kbtf_btf::flat::*;
