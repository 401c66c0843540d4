//! DWARF to BTF, following pahole 1.24's rules (`pahole -J`).
//!
//! [`encode`] reads an ELF file's DWARF and returns one [`Btf`] (base BTF for vmlinux, split
//! BTF on `base` for a module) holding every compile unit's types, concatenated in CU order,
//! then the selected functions (FUNC_PROTO + FUNC) and the per-CPU variables (VAR, and a
//! `.data..percpu` DATASEC at the end). The result is **not deduplicated**: that is
//! `kbtf_dedup`'s job, as libbpf's `btf__dedup` is pahole's.
//!
//! # Pipeline
//!
//! 1. `input`: the ELF file's debug sections (decompressed, relocated for `ET_REL`) and its
//!    symbol table facts.
//! 2. For each unit, in parallel: `loader` reads its DIEs and builds pahole's tables;
//!    `types`, `functions` and `variables` encode them with unit-local ids. With
//!    `optimized_func` or `consistent_func`, `registers` finds the parameters passed in
//!    unexpected registers and `proto` prints the prototypes pahole 1.25 compares.
//! 3. `merge`, sequentially in CU order: ids become global, the array index type is chosen,
//!    functions keep the first of each name (or are held back and decided after the last
//!    unit), the DATASECs close the object.
//!
//! The output is the same, byte for byte, for any thread count: units are encoded
//! independently and merged in order.
//!
//! [`type_origins`] classifies a module's named types as coming from kernel headers or from
//! the module's own sources, for `--standalone` (docs/encoder.md, "Type origins").
//!
//! docs/encoder.md lists every rule and each place where kbtf differs from pahole on purpose.

// No unwrap()/expect() outside tests: input must never panic (docs/reliability.md).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod die;
mod error;
mod functions;
mod input;
mod loader;
mod merge;
mod origins;
mod proto;
mod registers;
mod types;
mod variables;

use std::path::Path;
use std::sync::Arc;

use gimli::Reader;
use kbtf_btf::Btf;
use rayon::prelude::*;

pub use error::{DwarfLocation, EncodeError, ErrorKind};
pub use merge::SavedStats;
pub use origins::{type_origins, Origin, TypeKind, TypeOrigin, TypeOrigins};

/// Encoder options, named after pahole's flags.
#[derive(Debug, Clone)]
pub struct EncodeOptions {
    /// `--btf_gen_floats`: float base types as FLOAT instead of INT.
    pub gen_floats: bool,
    /// `--lang_exclude=rust`: skip compile units whose language is Rust.
    pub lang_exclude_rust: bool,
    /// `--skip_encoding_btf_vars`: no VAR and no DATASEC.
    pub skip_encoding_vars: bool,
    /// `--skip_encoding_btf_decl_tag`.
    pub skip_decl_tag: bool,
    /// `--skip_encoding_btf_type_tag`.
    pub skip_type_tag: bool,
    /// `--skip_encoding_btf_enum64`: 64-bit enums as 8-byte ENUMs with truncated values.
    pub skip_enum64: bool,
    /// `--btf_features=global_var` (pahole 1.28): every global variable with a static
    /// address, in the DATASEC of its ELF section, by pahole 1.28's rules (which then also
    /// decide the per-CPU ones).
    pub global_var: bool,
    /// `--btf_features=optimized_func` (`--btf_gen_optimized`, pahole 1.25 to 1.27): also
    /// encode functions known only by a compiler clone's symbol (`foo.isra.0`), unless a
    /// parameter sits in an unexpected register or their definitions disagree.
    pub optimized_func: bool,
    /// `--btf_features=consistent_func` (`--skip_encoding_btf_inconsistent_proto`, pahole
    /// 1.25 to 1.27): hold every function back until all units are read, and drop a name
    /// whose definitions disagree or pass a parameter in an unexpected register.
    pub consistent_func: bool,
    /// Worker threads; 0 means rayon's default. The output does not depend on it.
    pub threads: usize,
}

impl Default for EncodeOptions {
    /// pahole 1.24's defaults: everything encoded, floats as INT, no language excluded.
    fn default() -> Self {
        EncodeOptions {
            gen_floats: false,
            lang_exclude_rust: false,
            skip_encoding_vars: false,
            skip_decl_tag: false,
            skip_type_tag: false,
            skip_enum64: false,
            global_var: false,
            optimized_func: false,
            consistent_func: false,
            threads: 0,
        }
    }
}

/// Encodes the DWARF of the ELF file `data` (read from `path`, which errors name) as BTF.
///
/// With `base`, the result is split BTF on top of it (a module on vmlinux's BTF).
pub fn encode(
    path: &Path,
    data: &[u8],
    base: Option<Arc<Btf>>,
    opts: &EncodeOptions,
) -> Result<Btf, EncodeError> {
    encode_with_stats(path, data, base, opts).map(|(btf, _)| btf)
}

/// [`encode`], also saying what happened to the functions held back by `optimized_func` and
/// `consistent_func`.
pub fn encode_with_stats(
    path: &Path,
    data: &[u8],
    base: Option<Arc<Btf>>,
    opts: &EncodeOptions,
) -> Result<(Btf, SavedStats), EncodeError> {
    let load = input::LoadOptions {
        percpu: !opts.skip_encoding_vars && !opts.global_var,
        locations: opts.optimized_func || opts.consistent_func,
    };
    let input = input::Input::load(path, data, load)?;
    if input.sections[0].is_empty() {
        return Err(EncodeError::new(path, ErrorKind::NoDwarf));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()
        .map_err(|e| EncodeError::new(path, ErrorKind::ThreadPool(e.to_string())))?;
    pool.install(|| {
        if input.is_rel {
            encode_dwarf(path, &input.relocated_dwarf(), &input, base, opts)
        } else {
            encode_dwarf(path, &input.plain_dwarf(), &input, base, opts)
        }
    })
}

fn encode_dwarf<R>(
    path: &Path,
    dwarf: &gimli::Dwarf<R>,
    input: &input::Input<'_>,
    base: Option<Arc<Btf>>,
    opts: &EncodeOptions,
) -> Result<(Btf, SavedStats), EncodeError>
where
    R: Reader<Offset = usize> + Send + Sync,
{
    let err = |kind| EncodeError::new(path, kind);
    let mut headers = Vec::new();
    let mut iter = dwarf.units();
    loop {
        match iter.next() {
            Ok(Some(h)) => headers.push(h),
            Ok(None) => break,
            Err(error) => {
                return Err(err(ErrorKind::Dwarf {
                    loc: DwarfLocation {
                        cu: headers
                            .last()
                            .map(|h: &gimli::UnitHeader<R>| h.offset().0 as u64),
                        die: None,
                    },
                    error,
                }))
            }
        }
    }
    let registers = registers::register_params(input.machine);
    let outputs: Vec<Result<Option<merge::UnitOutput>, ErrorKind>> = headers
        .into_par_iter()
        .map(|header| encode_unit(dwarf, header, input, &registers, opts))
        .collect();
    let section_names = input.elf_sections.iter().map(|s| s.name.clone()).collect();
    let mut merger = merge::Merger::new(base, section_names, opts.global_var);
    for out in outputs {
        if let Some(unit) = out.map_err(err)? {
            merger.add_unit(unit).map_err(err)?;
        }
    }
    Ok(merger.finish())
}

fn encode_unit<R: Reader<Offset = usize>>(
    dwarf: &gimli::Dwarf<R>,
    header: gimli::UnitHeader<R>,
    input: &input::Input<'_>,
    registers: &[Option<u8>],
    opts: &EncodeOptions,
) -> Result<Option<merge::UnitOutput>, ErrorKind> {
    let cu = match loader::load_unit(dwarf, header, opts)? {
        loader::Loaded::Cu(cu) => cu,
        loader::Loaded::Skipped => return Ok(None),
    };
    let mut strings = types::Strings::new();
    let t = types::encode_types(&cu, opts, input.little_endian, &mut strings)?;
    let functions = functions::candidates(&cu, &input.functions, registers, opts, &mut strings)?;
    let vars = if opts.global_var {
        variables::global_vars(&cu, &input.elf_sections, opts, &mut strings)?
    } else {
        match (&input.percpu, opts.skip_encoding_vars) {
            (Some(percpu), false) => variables::percpu_vars(&cu, percpu, opts, &mut strings)?,
            _ => Vec::new(),
        }
    };
    Ok(Some(merge::UnitOutput {
        strings: strings.list,
        types: t.types,
        int_id: t.int_id,
        has_arrays: t.has_arrays,
        decl_tags: t.decl_tags,
        functions,
        vars,
    }))
}
