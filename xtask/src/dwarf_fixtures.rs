//! The DWARF fixtures of `cargo xtask fixtures`: testdata/dwarf/src/*.c compiled by gcc into
//! objects of each DWARF shape the encoder must read, each with pahole 1.24's BTF for it.
//!
//! For every source `S.c`:
//! - `S.dwarf4.o` and `S.dwarf5.o`: `gcc -O2 -gdwarf-N -c`, debug sections uncompressed
//!   (not for the sources in [`CLANG_ONLY`]).
//! - `S.clang.dwarf4.o` and `S.clang.dwarf5.o`: the same with clang 14, Debian 12's, whose
//!   DWARF differs in shape (and which has the BTF tag attributes gcc 12 lacks).
//!
//! For the sources in [`COMPRESSED`], the object of the given DWARF version also as:
//! - `S.dwarfN.zlib.o`: `gcc -gz=zlib` (the assembler writes SHF_COMPRESSED sections, zlib).
//! - `S.dwarfN.zstd.o`: `objcopy --compress-debug-sections=zstd` of `S.dwarfN.o` (gcc 12 has
//!   no `-gz=zstd`; binutils 2.40 compresses with zstd).
//! - `S.dwarfN.zdebug.o`: `objcopy --compress-debug-sections=zlib-gnu`: the old GNU style,
//!   `.zdebug_*` sections starting with `ZLIB` and the big-endian size.
//!
//! binutils compresses a section only when that makes it smaller, so every compressed object
//! still has some uncompressed debug sections (.debug_aranges, small ones): a reader must
//! handle both in one file. The build checks that `.debug_info` itself is compressed.
//!
//! And [`LINKED`]: `ld -r` of two objects, so one object holds several compile units and the
//! merged `.rela.debug_*` sections (one of them mixes a DWARF 4 and a DWARF 5 unit).
//!
//! For each object `X.o`: `X.pahole.btf`, the `.BTF` that `pahole -J --btf_gen_floats` (what
//! Linux 6.1's scripts/pahole-flags.sh passes to pahole 1.24, less `-j`: the single-threaded
//! run is the deterministic reference) adds to a copy of it, and `X.pahole.txt`, bpftool's
//! `format raw` dump of that BTF, for reading. pahole 1.24 with Debian 12's elfutils 0.188
//! cannot read zstd-compressed debug sections (it fails with "Invalid argument"), so for the
//! `.zstd.o` objects pahole reads a copy decompressed by `objcopy --decompress-debug-sections`.
//!
//! Reproducible: fixed flags, the source directory mapped to `.` in the DWARF
//! (`-fdebug-prefix-map`), no timestamps anywhere. Running the task twice leaves git clean.

use crate::elf::Elf;
use crate::fixtures::{first_line, Entry, Origin};
use crate::{btf, util};
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// pahole's flags for the reference BTF (6.1's scripts/pahole-flags.sh for pahole 1.24,
/// without `-j`).
pub const PAHOLE_FLAGS: &[&str] = &["--btf_gen_floats"];

/// The C compiler of the clang objects (Debian 12's package `clang-14`).
const CLANG: &str = "clang-14";

/// Sources (stems) built by clang only: what they test, gcc 12 drops.
const CLANG_ONLY: &[&str] = &["tags"];

/// Sources (stems) whose object of the given DWARF version is also built compressed.
const COMPRESSED: &[(&str, u8)] = &[("records", 5), ("funcs", 4)];

/// `ld -r` outputs and their inputs (object stems).
const LINKED: &[(&str, &[&str])] = &[
    ("linked", &["types.dwarf5", "funcs.dwarf5"]),
    ("linked-mixed", &["records.dwarf4", "enums.dwarf5"]),
];

/// SHF_COMPRESSED.
const SHF_COMPRESSED: u64 = 0x800;

/// How one object is made.
enum Recipe {
    /// A C compiler (`gcc` or [`CLANG`]) on a source, with extra flags after `-O2 -gdwarf-N`.
    Cc {
        cc: &'static str,
        src: String,
        version: u8,
        extra: &'static [&'static str],
    },
    /// objcopy of another object with `--compress-debug-sections=<how>`.
    Objcopy { input: String, how: &'static str },
    /// `ld -r` of other objects.
    Ld { inputs: Vec<String> },
}

/// What the compressed debug sections of an object must look like.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Compression {
    None,
    /// SHF_COMPRESSED with this ch_type (1 zlib, 2 zstd).
    Gabi(u32),
    /// `.zdebug_*`.
    Gnu,
}

struct Object {
    /// File stem: `records.dwarf5.zlib`.
    stem: String,
    recipe: Recipe,
    compression: Compression,
}

fn plan(sources: &[String]) -> Result<Vec<Object>> {
    for s in CLANG_ONLY {
        ensure!(
            sources.iter().any(|x| x == s),
            "CLANG_ONLY names {s}.c, which is not in testdata/dwarf/src"
        );
    }
    let mut objs = Vec::new();
    for s in sources {
        for (cc, infix) in [("gcc", ""), (CLANG, ".clang")] {
            if cc == "gcc" && CLANG_ONLY.contains(&s.as_str()) {
                continue;
            }
            for version in [4u8, 5] {
                objs.push(Object {
                    stem: format!("{s}{infix}.dwarf{version}"),
                    recipe: Recipe::Cc {
                        cc,
                        src: s.clone(),
                        version,
                        extra: &[],
                    },
                    compression: Compression::None,
                });
            }
        }
    }
    for (s, version) in COMPRESSED {
        ensure!(
            sources.iter().any(|x| x == s),
            "COMPRESSED names {s}.c, which is not in testdata/dwarf/src"
        );
        let plain = format!("{s}.dwarf{version}");
        objs.push(Object {
            stem: format!("{plain}.zlib"),
            recipe: Recipe::Cc {
                cc: "gcc",
                src: s.to_string(),
                version: *version,
                extra: &["-gz=zlib"],
            },
            compression: Compression::Gabi(1),
        });
        objs.push(Object {
            stem: format!("{plain}.zstd"),
            recipe: Recipe::Objcopy {
                input: plain.clone(),
                how: "zstd",
            },
            compression: Compression::Gabi(2),
        });
        objs.push(Object {
            stem: format!("{plain}.zdebug"),
            recipe: Recipe::Objcopy {
                input: plain,
                how: "zlib-gnu",
            },
            compression: Compression::Gnu,
        });
    }
    for (name, inputs) in LINKED {
        for i in inputs.iter() {
            ensure!(
                objs.iter().any(|o| o.stem == *i),
                "LINKED input {i}.o is not built"
            );
        }
        objs.push(Object {
            stem: name.to_string(),
            recipe: Recipe::Ld {
                inputs: inputs.iter().map(|s| s.to_string()).collect(),
            },
            compression: Compression::None,
        });
    }
    Ok(objs)
}

/// Builds testdata/dwarf (under `out`) and appends its PROVENANCE entries.
pub fn build(out: &Path, entries: &mut Vec<Entry>) -> Result<()> {
    let src_dir = crate::fixtures::repo_root().join("testdata/dwarf/src");
    let mut sources: Vec<String> = std::fs::read_dir(&src_dir)
        .with_context(|| format!("listing {}", src_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    sources.sort();
    ensure!(!sources.is_empty(), "no *.c in {}", src_dir.display());
    let dst = out.join("dwarf");
    std::fs::create_dir_all(&dst).with_context(|| format!("creating {}", dst.display()))?;
    let gcc = first_line(Command::new("gcc").arg("--version"))?;
    let clang = first_line(Command::new(CLANG).arg("--version"))
        .with_context(|| format!("{CLANG} builds the clang objects (apt-get install {CLANG})"))?;
    let binutils = first_line(Command::new("objcopy").arg("--version"))?;
    let ld = first_line(Command::new("ld").arg("--version"))?;
    let pahole = format!(
        "pahole {}",
        first_line(Command::new("pahole").arg("--version"))?
    );
    let bpftool = first_line(Command::new("bpftool").arg("--version"))?;

    let objs = plan(&sources)?;
    let mut made: Vec<String> = Vec::new();
    for o in &objs {
        let path = dst.join(format!("{}.o", o.stem));
        let tmp = util::tmp_sibling(&path);
        let (tool, how, source) = match &o.recipe {
            Recipe::Cc {
                cc,
                src,
                version,
                extra,
            } => {
                let mut cmd = Command::new(cc);
                cmd.arg("-O2")
                    .arg(format!("-gdwarf-{version}"))
                    .args(*extra)
                    .arg(format!("-fdebug-prefix-map={}=.", src_dir.display()))
                    .arg("-c")
                    .arg(format!("{src}.c"))
                    .arg("-o")
                    .arg(&tmp)
                    .current_dir(&src_dir);
                util::output(&mut cmd)?;
                let flags = extra.join(" ");
                (
                    if *cc == "gcc" {
                        gcc.clone()
                    } else {
                        clang.clone()
                    },
                    format!(
                        "{cc} -O2 -gdwarf-{version}{}{flags} -fdebug-prefix-map=<dir>=. -c {src}.c",
                        if flags.is_empty() { "" } else { " " }
                    ),
                    format!("testdata/dwarf/src/{src}.c"),
                )
            }
            Recipe::Objcopy { input, how } => {
                util::output(
                    Command::new("objcopy")
                        .arg(format!("--compress-debug-sections={how}"))
                        .arg(dst.join(format!("{input}.o")))
                        .arg(&tmp),
                )?;
                (
                    binutils.clone(),
                    format!("objcopy --compress-debug-sections={how} {input}.o"),
                    format!("testdata/dwarf/{input}.o"),
                )
            }
            Recipe::Ld { inputs } => {
                let mut cmd = Command::new("ld");
                cmd.arg("-r").arg("-o").arg(&tmp);
                for i in inputs {
                    cmd.arg(dst.join(format!("{i}.o")));
                }
                util::output(&mut cmd)?;
                let files: Vec<String> = inputs.iter().map(|i| format!("{i}.o")).collect();
                (
                    ld.clone(),
                    format!("ld -r {}", files.join(" ")),
                    files
                        .iter()
                        .map(|f| format!("testdata/dwarf/{f}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            }
        };
        check_compression(&tmp, o.compression).with_context(|| format!("building {}.o", o.stem))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
        let rel = format!("dwarf/{}.o", o.stem);
        made.push(rel.clone());
        entries.push(Entry {
            rel,
            origin: Origin {
                package: "(built here)".into(),
                version: tool,
                inner: source,
                how,
            },
        });

        // pahole's BTF for it, and bpftool's dump of that.
        let decompress = o.compression == Compression::Gabi(2);
        let b = pahole_btf(&path, &dst, decompress)
            .with_context(|| format!("pahole on {}", path.display()))?;
        btf::summarize(&b).with_context(|| format!("pahole's BTF for {}.o", o.stem))?;
        let btf_rel = format!("dwarf/{}.pahole.btf", o.stem);
        let btf_path = out.join(&btf_rel);
        util::write_atomic(&btf_path, &b)?;
        made.push(btf_rel.clone());
        entries.push(Entry {
            rel: btf_rel,
            origin: Origin {
                package: "(built here)".into(),
                version: pahole.clone(),
                inner: format!("testdata/dwarf/{}.o", o.stem),
                how: format!(
                    "{}LLVM_OBJCOPY=objcopy pahole -J {} on a copy, section .BTF (raw)",
                    if decompress {
                        "objcopy --decompress-debug-sections (pahole 1.24 with elfutils 0.188 cannot read zstd), then "
                    } else {
                        ""
                    },
                    PAHOLE_FLAGS.join(" ")
                ),
            },
        });
        let txt = util::output(
            Command::new("bpftool")
                .args(["btf", "dump", "file"])
                .arg(&btf_path)
                .args(["format", "raw"]),
        )?
        .stdout;
        let txt_rel = format!("dwarf/{}.pahole.txt", o.stem);
        util::write_atomic(&out.join(&txt_rel), &txt)?;
        made.push(txt_rel.clone());
        entries.push(Entry {
            rel: txt_rel,
            origin: Origin {
                package: "(built here)".into(),
                version: bpftool.clone(),
                inner: format!("testdata/dwarf/{}.pahole.btf", o.stem),
                how: format!("bpftool btf dump file {}.pahole.btf format raw", o.stem),
            },
        });
    }
    remove_stale(&dst, &made)?;
    Ok(())
}

/// pahole's `.BTF` for `obj`, from a scratch copy in `dir` (decompressed first if asked).
fn pahole_btf(obj: &Path, dir: &Path, decompress: bool) -> Result<Vec<u8>> {
    let name = obj
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let copy = dir.join(format!(".{name}.pahole-{}", std::process::id()));
    let res = (|| {
        if decompress {
            util::output(
                Command::new("objcopy")
                    .arg("--decompress-debug-sections")
                    .arg(obj)
                    .arg(&copy),
            )?;
        } else {
            std::fs::copy(obj, &copy).with_context(|| format!("copying to {}", copy.display()))?;
        }
        util::output(
            Command::new("pahole")
                .env("LLVM_OBJCOPY", "objcopy")
                .arg("-J")
                .args(PAHOLE_FLAGS)
                .arg(&copy),
        )?;
        Elf::open(&copy)?.section_bytes(".BTF")
    })();
    let _ = std::fs::remove_file(&copy);
    res
}

/// Checks that the object's debug sections are stored as `want` says: `.debug_info` (or
/// `.zdebug_info`) must exist and be compressed that way; with `None`, nothing may be
/// compressed.
fn check_compression(obj: &Path, want: Compression) -> Result<()> {
    let elf = Elf::open(obj)?;
    let debug: Vec<_> = elf
        .sections
        .iter()
        .filter(|s| s.name.starts_with(".debug_") || s.name.starts_with(".zdebug_"))
        .collect();
    let info = match want {
        Compression::Gnu => ".zdebug_info",
        _ => ".debug_info",
    };
    let Some(s) = debug.iter().find(|s| s.name == info) else {
        bail!("{}: no {info} section", obj.display());
    };
    match want {
        Compression::None => {
            for s in &debug {
                ensure!(
                    s.sh_flags & SHF_COMPRESSED == 0 && !s.name.starts_with(".zdebug_"),
                    "{}: {} is compressed",
                    obj.display(),
                    s.name
                );
            }
        }
        Compression::Gabi(ch_type) => {
            ensure!(
                s.sh_flags & SHF_COMPRESSED != 0,
                "{}: {info} is not SHF_COMPRESSED",
                obj.display()
            );
            let b = elf.section_bytes(info)?;
            ensure!(b.len() >= 4, "{}: {info} too short", obj.display());
            let got = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            ensure!(
                got == ch_type,
                "{}: {info} ch_type {got}, want {ch_type}",
                obj.display()
            );
        }
        Compression::Gnu => {
            let b = elf.section_bytes(info)?;
            ensure!(
                b.starts_with(b"ZLIB"),
                "{}: {info} does not start with ZLIB",
                obj.display()
            );
        }
    }
    Ok(())
}

/// Removes generated files of `dir` (`*.o`, `*.pahole.btf`, `*.pahole.txt`) that this run did
/// not make (left by a source or recipe that is gone).
fn remove_stale(dir: &Path, made: &[String]) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let p: PathBuf = e?.path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let generated =
            name.ends_with(".o") || name.ends_with(".pahole.btf") || name.ends_with(".pahole.txt");
        if generated && p.is_file() && !made.iter().any(|m| *m == format!("dwarf/{name}")) {
            println!("removing stale {}", p.display());
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata() -> PathBuf {
        crate::fixtures::repo_root().join("testdata")
    }

    fn sources() -> Vec<String> {
        let mut s: Vec<String> = std::fs::read_dir(testdata().join("dwarf/src"))
            .expect("testdata/dwarf/src")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "c"))
            .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .collect();
        s.sort();
        s
    }

    /// Every object the plan builds is committed, with its two pahole files, and its debug
    /// sections are stored the way its name says.
    #[test]
    fn committed_objects_match_the_plan() {
        let objs = plan(&sources()).unwrap();
        assert!(objs.len() >= 10, "{} objects", objs.len());
        for o in &objs {
            let dir = testdata().join("dwarf");
            let obj = dir.join(format!("{}.o", o.stem));
            check_compression(&obj, o.compression)
                .unwrap_or_else(|e| panic!("{}: {e:#}", obj.display()));
            let b = std::fs::read(dir.join(format!("{}.pahole.btf", o.stem)))
                .unwrap_or_else(|e| panic!("{}.pahole.btf: {e}", o.stem));
            assert!(btf::summarize(&b).unwrap().types > 0, "{}", o.stem);
            assert!(dir.join(format!("{}.pahole.txt", o.stem)).is_file());
        }
    }

    /// Every generated file under testdata/dwarf is listed in PROVENANCE with its size and
    /// sha256, and every listed one exists with them.
    #[test]
    fn provenance_lists_every_dwarf_fixture() {
        let listed = crate::fixtures::checked_provenance("dwarf/");
        assert!(!listed.is_empty(), "no dwarf/ entries in PROVENANCE");
        for e in std::fs::read_dir(testdata().join("dwarf")).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                let rel = format!(
                    "dwarf/{}",
                    p.file_name().unwrap_or_default().to_string_lossy()
                );
                assert!(listed.contains(&rel), "{rel} is not in PROVENANCE");
            }
        }
    }
}
