//! pahole's command line, as kbuild and distro scripts pass it (Linux 6.1 to 6.19).
//!
//! clap cannot take both `-j` (bare: as many threads as CPUs) and `-j16` (attached count)
//! while leaving a following file name alone, so this is a small hand parser over a table of
//! the flags we know. Unknown flags are an error naming the flag, never ignored silently.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use super::features::Features;

/// What a pahole-style invocation asks for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PaholeArgs {
    /// `-J` / `--btf_encode`.
    pub encode: bool,
    /// `-j` (0 = one thread per CPU) or `-jN` / `--jobs=N`; `None` = single-threaded. At most:
    /// a small input runs on one (`kbtf_encoder::useful_threads`).
    pub jobs: Option<usize>,
    /// `--btf_base FILE`: encode split BTF on top of this base (vmlinux ELF or raw BTF).
    pub btf_base: Option<PathBuf>,
    /// `--btf_encode_detached FILE`: write raw BTF here instead of into the input.
    pub detached: Option<PathBuf>,
    /// `--lang_exclude LANGS` (comma-separated).
    pub lang_exclude: Vec<String>,
    /// `--btf_encode_force`: keep going past functions or variables that cannot be encoded.
    pub encode_force: bool,
    /// `--supported_btf_features`: print them and exit.
    pub supported_features: bool,
    /// `--version`.
    pub version: bool,
    /// `-V` / `--verbose`.
    pub verbose: bool,
    /// The effective BTF feature set, from the classic flags and `--btf_features`.
    pub features: Features,
    /// `--btf_ids_base FILE` (kbtf's own flag).
    pub btf_ids_base: Option<PathBuf>,
    /// `--standalone` (kbtf's own flag): module BTF on a base distilled from its own DWARF.
    pub standalone: bool,
    /// `--sign-key KEY` (kbtf's own): sign the rewritten module with this PEM private key.
    pub sign_key: Option<PathBuf>,
    /// `--sign-cert CERT` (kbtf's own): the signing key's certificate.
    pub sign_cert: Option<PathBuf>,
    /// `--sign-hash HASH` (kbtf's own): sha256 (default), sha384, sha512.
    pub sign_hash: Option<kbtf_modsign::HashAlg>,
    /// Input files.
    pub files: Vec<PathBuf>,
}

/// Flags taking a value, by their long name; `=value` or the next argument.
const WITH_VALUE: &[&str] = &[
    "btf_base",
    "btf_ids_base",
    "btf_encode_detached",
    "lang_exclude",
    "btf_features",
    "btf_features_strict",
    "jobs",
    "sign-key",
    "sign-cert",
    "sign-hash",
];

/// Parses pahole's arguments (without argv[0]).
pub fn parse(args: &[String]) -> Result<PaholeArgs> {
    let mut out = PaholeArgs::default();
    let mut features = super::features::Parser::default();
    let mut it = args.iter().peekable();
    while let Some(arg) = it.next() {
        if let Some(long) = arg.strip_prefix("--") {
            if long.is_empty() {
                out.files.extend(it.by_ref().map(PathBuf::from));
                break;
            }
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let value = if WITH_VALUE.contains(&name) {
                match inline {
                    Some(v) => Some(v),
                    None => Some(
                        it.next()
                            .with_context(|| format!("--{name} needs a value"))?
                            .clone(),
                    ),
                }
            } else {
                if inline.is_some() && name != "jobs" {
                    bail!("--{name} takes no value");
                }
                None
            };
            let value = value.unwrap_or_default();
            match name {
                "btf_encode" => out.encode = true,
                "btf_base" => out.btf_base = Some(value.into()),
                // kbtf's own: the vmlinux BTF a module's .BTF_ids were last resolved against,
                // when it is not --btf_base (re-encoding a module built for another vmlinux).
                "btf_ids_base" => out.btf_ids_base = Some(value.into()),
                "btf_encode_detached" => {
                    out.encode = true;
                    out.detached = Some(value.into())
                }
                "jobs" => out.jobs = Some(parse_jobs(&value)?),
                "lang_exclude" => out.lang_exclude.extend(value.split(',').map(str::to_owned)),
                "btf_gen_floats" => features.classic.float = true,
                "btf_gen_all" => features.classic.float = true,
                "btf_gen_optimized" => features.classic.optimized_func = true,
                "skip_encoding_btf_vars" => features.classic.var = false,
                "skip_encoding_btf_decl_tag" => features.classic.decl_tag = false,
                "skip_encoding_btf_type_tag" => features.classic.type_tag = false,
                "skip_encoding_btf_enum64" => features.classic.enum64 = false,
                "skip_encoding_btf_inconsistent_proto" => features.classic.consistent_func = true,
                "btf_encode_force" => out.encode_force = true,
                "btf_features" => features.add_list(&value, false)?,
                "btf_features_strict" => features.add_list(&value, true)?,
                "supported_btf_features" => out.supported_features = true,
                "version" => out.version = true,
                // kbtf's own: the same as --btf_features=+standalone.
                "standalone" => out.standalone = true,
                "verbose" => out.verbose = true,
                // kbtf's own: re-sign the module after writing its BTF (see crate::sign).
                "sign-key" => out.sign_key = Some(value.into()),
                "sign-cert" => out.sign_cert = Some(value.into()),
                "sign-hash" => {
                    out.sign_hash =
                        Some(crate::sign::parse_hash(&value).map_err(anyhow::Error::msg)?)
                }
                _ => bail!("unknown pahole flag --{name}: kbtf implements pahole's BTF encoding flags only (see `kbtf --help`)"),
            }
        } else if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            let chars = short.char_indices();
            for (i, c) in chars {
                match c {
                    'J' => out.encode = true,
                    'V' => out.verbose = true,
                    'j' => {
                        // The rest of this argument is the count, if any: `-j`, `-j16`, `-Jj8`.
                        let rest = &short[i + 1..];
                        out.jobs = Some(if rest.is_empty() { 0 } else { parse_jobs(rest)? });
                        break;
                    }
                    _ => bail!("unknown pahole flag -{c} in {arg}: kbtf implements pahole's BTF encoding flags only"),
                }
            }
        } else {
            out.files.push(PathBuf::from(arg));
        }
    }
    out.features = features.finish();
    out.features.encode_force |= out.encode_force;
    out.features.standalone |= out.standalone;
    Ok(out)
}

fn parse_jobs(s: &str) -> Result<usize> {
    s.parse()
        .with_context(|| format!("bad thread count {s:?} for -j"))
}
