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
//!    With `decl_tag_kfuncs`, `kfuncs` lists the kfunc sets of `.BTF_ids` first, and each
//!    kfunc's FUNC is followed by its `bpf_kfunc` (and `bpf_fastcall`) DECL_TAG.
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
mod fastattr;
mod functions;
mod input;
mod kfuncs;
mod loader;
mod merge;
mod origins;
mod packed;
mod pipeline;
mod proto;
mod registers;
mod types;
mod variables;

use std::path::Path;
use std::sync::Arc;

use kbtf_btf::{Btf, Flat, FlatBtf};

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
    /// `--btf_features=decl_tag_kfuncs` (pahole 1.27): a DECL_TAG `bpf_kfunc` on the FUNC of
    /// every kfunc listed in `.BTF_ids`, and `bpf_fastcall` on those flagged `KF_FASTCALL`
    /// (pahole 1.28). Nothing without decl tags (`skip_decl_tag`), as in pahole.
    pub decl_tag_kfuncs: bool,
    /// Per-CPU variables by pahole 1.28's rule: its variable encoder (`global_var`'s),
    /// restricted to `.data..percpu`, instead of pahole 1.24's match against the per-CPU
    /// symbols (it also finds a variable at address 0 whose symbol is another's, such as
    /// `fixed_percpu_data`). kbtf sets it when it reports pahole 1.28 or later
    /// (`KBTF_PAHOLE_VERSION`).
    pub pahole_128_vars: bool,
    /// Look DWARF names up in the function symbols as pahole 1.30 does
    /// ([`input::PaholeTable`]): its binary search misses some names that have a suffixed
    /// copy (`foo.part.0` beside `foo`), which it then leaves out unless `optimized_func`
    /// finds them by their prefix. kbtf sets it when it reports pahole 1.30 or later
    /// (`KBTF_PAHOLE_VERSION`).
    pub pahole_130_lookup: bool,
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
            decl_tag_kfuncs: false,
            pahole_128_vars: false,
            pahole_130_lookup: false,
            threads: 0,
        }
    }
}

impl EncodeOptions {
    /// What the input must read for these options: variable locations, for the functions
    /// held back by `optimized_func` and `consistent_func`.
    fn load_options(&self) -> input::LoadOptions {
        input::LoadOptions {
            locations: self.optimized_func || self.consistent_func,
        }
    }

    /// Whether the per-CPU variables are encoded (pahole 1.24's VARs and their DATASEC).
    fn percpu(&self) -> bool {
        !self.skip_encoding_vars && !self.global_var && !self.pahole_128_vars
    }

    /// What the encoder needs of the symbol table.
    fn symbols_wanted(&self) -> input::SymbolsWanted {
        input::SymbolsWanted {
            percpu: self.percpu(),
            pahole_table: self.pahole_130_lookup,
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
    encode_flat(path, data, base, opts).map(|(flat, stats)| (flat.to_btf(), stats))
}

/// [`encode_with_stats`] giving the BTF in compact form, as [`kbtf_dedup`'s `dedup_flat`]
/// takes it: the millions of types of a vmlinux never exist as [`kbtf_btf::Type`]s.
///
/// Units are read and encoded by `opts.threads` worker threads, in CU order as far as they
/// get them, and merged by the calling thread in CU order as they arrive, so that only a
/// window of units is ever held (never the whole DWARF's DIEs, nor all units' types at
/// once). The result is the same for every thread count.
///
/// [`kbtf_dedup`'s `dedup_flat`]: https://docs.rs/kbtf-dedup
pub fn encode_flat(
    path: &Path,
    data: &[u8],
    base: Option<Arc<Btf>>,
    opts: &EncodeOptions,
) -> Result<(FlatBtf, SavedStats), EncodeError> {
    encode_flat_with(
        path,
        data,
        base,
        opts,
        Hooks {
            merged: &mut |_, _| {},
            done_with: &|_| {},
        },
    )
}

/// What the merge found out about the references of a unit's types ([`Hooks::merged`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitRefs {
    /// Every type of the unit refers only to types before the end.
    pub below_end: bool,
    /// Every type of the unit refers only to the unit's own types, to `void`, and to the
    /// array index type (an INT, possibly of an earlier unit).
    pub own_only: bool,
}

/// What [`encode_flat_with`] tells its caller while it works.
pub struct Hooks<'a> {
    /// Called on the merging thread after each unit is merged, with the types merged so far
    /// (every id from void, the base's included) and what is known of the unit's
    /// references ([`UnitRefs`]): the caller can start working on them
    /// (`kbtf_dedup::Incremental`) while later units are still being read. It must not
    /// change them.
    pub merged: &'a mut dyn FnMut(&mut Flat, UnitRefs),
    /// Called on the merging thread with a part of the input that is not needed for now
    /// (`.debug_info` of the units done, and the whole of it once the unit headers are
    /// read; in a relocatable file, each section copied to be relocated and its
    /// relocations): a caller that mapped the file can give the pages back
    /// (`kbtf_btf::file::MappedFile::release`). It is only a hint for memory.
    pub done_with: &'a (dyn Fn(&[u8]) + Sync),
}

/// [`encode_flat`], telling `hooks` of its progress.
pub fn encode_flat_with(
    path: &Path,
    data: &[u8],
    base: Option<Arc<Btf>>,
    opts: &EncodeOptions,
    hooks: Hooks<'_>,
) -> Result<(FlatBtf, SavedStats), EncodeError> {
    let Hooks { merged, done_with } = hooks;
    let (load, wanted) = (opts.load_options(), opts.symbols_wanted());
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let t = kbtf_btf::timing::stage("elf input");
    let input = input::Input::load_releasing(path, data, load, done_with)?;
    drop(t);
    let dwarf = input.plain_dwarf();
    let err = |kind| EncodeError::new(path, kind);
    // With more than one thread, the symbol table of a large input is read on a second
    // thread meanwhile, which then also writes the string memo.
    let t = kbtf_btf::timing::stage("symbols, unit headers");
    let debug_str: &[u8] = &input.sections[2];
    // The memo pays where the linker merged `.debug_str` (a vmlinux). A relocatable
    // object keeps each unit's copy of its names, so lookups by offset seldom hit, and the
    // memo (4 bytes per byte: 44 MB for mlx5_core.ko) would cost more than the rest of the
    // module's encoding; its names are found by content instead (see `StrMemo`).
    let memo_len = if input.relocatable {
        0
    } else {
        debug_str.len()
    };
    let read_symbols = || input::Symbols::read(path, data, wanted);
    let (symbols, headers, memo) = if threads > 1 && input.sections[0].len() >= SYMBOLS_ASIDE_MIN {
        std::thread::scope(|scope| {
            let aside = scope.spawn(|| (read_symbols(), merge::StrMemo::new(memo_len)));
            let headers = unit_headers(&dwarf);
            let (symbols, memo) = aside
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (symbols, headers, Some(memo))
        })
    } else {
        (read_symbols(), unit_headers(&dwarf), None)
    };
    // The symbols' errors first, as when they were read before the headers.
    let symbols = symbols?;
    if input.sections[0].is_empty() {
        return Err(err(ErrorKind::NoDwarf));
    }
    let headers = headers.map_err(err)?;
    drop(t);
    let t = kbtf_btf::timing::stage("merge setup");
    let registers = registers::register_params(input.machine);
    let section_names = input.elf_sections.iter().map(|s| s.name.clone()).collect();
    let memo = memo.unwrap_or_else(|| merge::StrMemo::new(memo_len));
    let endian = if input.little_endian {
        kbtf_btf::Endian::Little
    } else {
        kbtf_btf::Endian::Big
    };
    let mut merger = merge::Merger::new(
        base,
        section_names,
        opts.global_var,
        debug_str,
        &memo,
        endian,
    );
    merger.reserve_for(input.sections[0].len());
    if opts.decl_tag_kfuncs && !opts.skip_decl_tag {
        merger.tag_kfuncs(kfuncs::Kfuncs::read(path, data)?);
    }
    drop(t);
    let t = kbtf_btf::timing::stage("encode and merge units");
    // With workers, they resolve the strings already interned (see `StrMemo`).
    let resolve = (threads > 1 && headers.len() > 1).then_some(&memo);
    let encode = unit_encoder(|header, scratch| {
        let mut unit = encode_unit(&dwarf, header, &input, &symbols, &registers, opts, scratch)?;
        if let (Some(memo), Some(unit)) = (resolve, unit.as_mut()) {
            memo.resolve_unit(unit);
        }
        Ok(unit)
    });
    // Where each unit ends in `.debug_info`, to give back what was read (reading the unit
    // headers above already mapped most of it, see `MappedFile::release`).
    let info: &[u8] = &input.sections[0];
    let ends: Vec<usize> = headers
        .iter()
        .map(|h| h.offset().0.saturating_add(h.length_including_self()))
        .collect();
    done_with(info);
    let mut released = 0usize;
    let mut merge_time = std::time::Duration::ZERO;
    let mut hook_time = std::time::Duration::ZERO;
    let mut add = unit_merger(|index, unit| {
        if let Some(unit) = unit {
            let t0 = std::time::Instant::now();
            merger.add_unit(unit)?;
            let t1 = std::time::Instant::now();
            let refs = UnitRefs {
                below_end: merger.unit_refs_below_end(),
                own_only: merger.unit_refs_own(),
            };
            merged(merger.types_mut(), refs);
            merge_time += t1 - t0;
            hook_time += t1.elapsed();
        }
        // Every unit up to this one is done: give back their bytes, and again the 64 KiB
        // below them that reading later units may have mapped anew.
        let end = ends[index].min(info.len());
        if end >= released + RELEASE_STEP || index + 1 == ends.len() {
            done_with(&info[released.saturating_sub(RELEASE_MARGIN)..end]);
            released = end;
        }
        Ok(())
    });
    if threads <= 1 || headers.len() <= 1 {
        let mut scratch = loader::Scratch::default();
        for (i, header) in headers.into_iter().enumerate() {
            let mut unit = encode(header, &mut scratch).map_err(err)?;
            add(i, unit.as_mut()).map_err(err)?;
        }
    } else {
        pipeline::run(headers, threads, encode, add).map_err(err)?;
    }
    drop(t);
    kbtf_btf::timing::note(|| format!("merging thread: merge {merge_time:?}, hook {hook_time:?}"));
    let _t = kbtf_btf::timing::stage("finish merge");
    Ok(merger.finish())
}

/// Entry points for the micro-benchmarks (`benches/`): internal stages, not an API.
#[doc(hidden)]
pub mod bench {
    use super::*;

    /// Reads every unit's DIEs into pahole's tables and drops them; the number of DIEs.
    pub fn walk_units(
        path: &Path,
        data: &[u8],
        opts: &EncodeOptions,
    ) -> Result<usize, EncodeError> {
        let input = input::Input::load(path, data, input::LoadOptions::default())?;
        let dwarf = input.plain_dwarf();
        let mut units = dwarf.units();
        let mut scratch = loader::Scratch::default();
        let mut n = 0;
        while let Ok(Some(h)) = units.next() {
            if let Ok(loader::Loaded::Cu(cu)) = loader::load_unit(&dwarf, h, opts, &mut scratch) {
                n += cu.nodes.len();
                scratch.recycle(cu);
            }
        }
        Ok(n)
    }

    /// Reads every unit's DIEs into pahole's tables and keeps them all (for a vmlinux that is
    /// gigabytes), then calls `f` with a function that converts them all to BTF types,
    /// functions and variables, unit by unit as the encoder does, and returns the number of
    /// types made: type conversion timed without the DWARF walk. A unit that does not
    /// convert is an error (naming the input), as when encoding.
    pub fn with_walked_units<R>(
        path: &Path,
        data: &[u8],
        opts: &EncodeOptions,
        f: impl FnOnce(&(dyn Fn() -> usize + Sync)) -> R,
    ) -> Result<R, EncodeError> {
        let input = input::Input::load(path, data, opts.load_options())?;
        let symbols = input::Symbols::read(path, data, opts.symbols_wanted())?;
        let registers = registers::register_params(input.machine);
        let dwarf = input.plain_dwarf();
        let headers = unit_headers(&dwarf).map_err(|kind| EncodeError::new(path, kind))?;
        let mut cus = Vec::new();
        for header in headers {
            let mut scratch = loader::Scratch::default();
            match loader::load_unit(&dwarf, header, opts, &mut scratch) {
                Ok(loader::Loaded::Cu(cu)) => cus.push(cu),
                Ok(loader::Loaded::Skipped) => {}
                Err(kind) => return Err(EncodeError::new(path, kind)),
            }
        }
        // A unit that does not convert is an error here, once, rather than a unit the
        // measured runs would leave out.
        for cu in &cus {
            encode_loaded(cu, &input, &symbols, &registers, opts)
                .map_err(|kind| EncodeError::new(path, kind))?;
        }
        let convert = || {
            cus.iter()
                .map(|cu| {
                    encode_loaded(cu, &input, &symbols, &registers, opts)
                        .map_or(0, |unit| unit.types.len())
                })
                .sum()
        };
        Ok(f(&convert))
    }
}

/// The `.debug_info` size under which an input is encoded on one thread, however many
/// [`useful_threads`] is allowed. Below it the units are few or one dominates, and a second
/// thread costs more (starting it, resolving strings twice, dedup run unit by unit) than it
/// gives: over Debian's 6.1 and 6.12 modules on two cores, `-j2` took 6% to 13% longer than
/// `-j1` for modules under 1 MiB and about 9% less for those above (docs/benchmarks.md).
pub const PARALLEL_MIN_DEBUG_INFO: u64 = 1 << 20;

/// How many threads are worth using to encode the ELF file `data` when up to `threads` may
/// run: `threads`, or one if its `.debug_info` (uncompressed) is under
/// [`PARALLEL_MIN_DEBUG_INFO`]. The output is the same either way. Data that does not
/// parse as ELF keeps `threads`: loading it reports the error.
pub fn useful_threads(data: &[u8], threads: usize) -> usize {
    if threads <= 1 {
        // Not worth parsing the ELF file for.
        return threads;
    }
    match input::debug_info_size(data) {
        Some(size) if size < PARALLEL_MIN_DEBUG_INFO => 1,
        _ => threads,
    }
}

/// The `.debug_info` size from which the symbol table is read on a thread of its own (with
/// `-j2` and up) while the unit headers are read: a vmlinux's 120,000 symbols take as long
/// as its 2,000 unit headers, a module's few hundred not the cost of starting a thread.
const SYMBOLS_ASIDE_MIN: usize = 16 << 20;

/// The headers of every unit of `dwarf`, in order.
pub(crate) fn unit_headers<R: gimli::Reader<Offset = usize>>(
    dwarf: &gimli::Dwarf<R>,
) -> Result<Vec<gimli::UnitHeader<R>>, ErrorKind> {
    let mut headers = Vec::new();
    let mut iter = dwarf.units();
    loop {
        match iter.next() {
            Ok(Some(h)) => headers.push(h),
            Ok(None) => return Ok(headers),
            Err(error) => {
                return Err(ErrorKind::Dwarf {
                    loc: DwarfLocation {
                        cu: headers
                            .last()
                            .map(|h: &gimli::UnitHeader<R>| h.offset().0 as u64),
                        die: None,
                    },
                    error,
                })
            }
        }
    }
}

/// Input given back (`Hooks::done_with`) in steps of at least this many bytes, each step
/// also covering this margin below it again.
const RELEASE_STEP: usize = 1 << 20;
const RELEASE_MARGIN: usize = 128 << 10;

/// Ties the lifetimes of a unit-merging closure together (closures cannot name them).
fn unit_merger<'d, F>(f: F) -> F
where
    F: FnMut(usize, Option<&mut merge::UnitOutput<'d>>) -> Result<(), ErrorKind>,
{
    f
}

/// Ties the lifetimes of a unit-encoding closure together (closures cannot name them).
fn unit_encoder<'d, F>(f: F) -> F
where
    F: Fn(
        gimli::UnitHeader<input::PlainReader<'d>>,
        &mut loader::Scratch<'d>,
    ) -> Result<Option<merge::UnitOutput<'d>>, ErrorKind>,
{
    f
}

fn encode_unit<'d>(
    dwarf: &gimli::Dwarf<input::PlainReader<'d>>,
    header: gimli::UnitHeader<input::PlainReader<'d>>,
    input: &'d input::Input<'_>,
    symbols: &'d input::Symbols<'_>,
    registers: &[Option<u8>],
    opts: &EncodeOptions,
    scratch: &mut loader::Scratch<'d>,
) -> Result<Option<merge::UnitOutput<'d>>, ErrorKind> {
    let cu = match loader::load_unit(dwarf, header, opts, scratch)? {
        loader::Loaded::Cu(cu) => cu,
        loader::Loaded::Skipped => return Ok(None),
    };
    let out = encode_loaded(&cu, input, symbols, registers, opts);
    scratch.recycle(cu);
    out.map(Some)
}

fn encode_loaded<'d>(
    cu: &loader::Cu<'d>,
    input: &'d input::Input<'_>,
    symbols: &'d input::Symbols<'_>,
    registers: &[Option<u8>],
    opts: &EncodeOptions,
) -> Result<merge::UnitOutput<'d>, ErrorKind> {
    let debug_str: &'d [u8] = &input.sections[2];
    let mut strings = types::Strings::new(debug_str);
    let t = types::encode_types(cu, opts, input.little_endian, &mut strings)?;
    let functions = functions::candidates(cu, &symbols.functions, registers, opts, &mut strings)?;
    let sections = &input.elf_sections;
    let vars = if opts.global_var {
        variables::global_vars(cu, sections, None, opts, &mut strings)?
    } else if opts.pahole_128_vars && !opts.skip_encoding_vars {
        let percpu = Some(input::PERCPU_SECTION);
        variables::global_vars(cu, sections, percpu, opts, &mut strings)?
    } else {
        match (&symbols.percpu, opts.skip_encoding_vars) {
            (Some(percpu), false) => variables::percpu_vars(cu, percpu, opts, &mut strings)?,
            _ => Vec::new(),
        }
    };
    Ok(merge::UnitOutput {
        strings: strings.list,
        types: t.types,
        int_id: t.int_id,
        has_arrays: t.has_arrays,
        decl_tags: t.decl_tags,
        functions,
        vars,
    })
}
