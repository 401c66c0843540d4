//! `cargo xtask differential`: differential testing of `kbtf check` against the real kernel's
//! BTF verifier (docs/reliability.md).
//!
//! Mutated BTF blobs, valid ones and ones broken in each way the 6.1 verifier checks, are made
//! here from the committed fixtures by a seeded generator that knows the wire format (its own
//! reader, no help from the crates under test), then judged twice: by `bpf(BPF_BTF_LOAD)` in
//! one boot of the 6.1 kernel per base (`btf-load --report`), and by `kbtf check`. Split
//! blobs (split BTF on a small base, encoded by kbtf from the DWARF fixtures) are flattened onto
//! their base in the guest and given to `kbtf check --base`, which is judged by its count of
//! problems "the kernel would reject" (its base-mismatch signs are not the kernel's business).
//! Every blob on which the two disagree is listed; the task fails if there is any.

use crate::args::{Args, Positionals};
use crate::btf_load::{self, Blob, Options, Verdict};
use crate::fixtures::repo_root;
use crate::guest::Machine;
use crate::util::Rng;
use anyhow::{ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

pub const USAGE: &str = "\
cargo xtask differential [--count N] [--split-count N] [--seed S] [--out DIR] [--no-qemu]
                         [--kernel DIR|FILE] [--keep]

Generates N (default 10000) mutated base BTF blobs and N/5 (--split-count) mutated split
blobs on a small base from testdata/, loads them with BPF_BTF_LOAD in the 6.1 kernel (one
boot per base) and runs `kbtf check` on each; prints the agreement and every disagreement,
and fails if there is one. --no-qemu only generates the blobs and runs kbtf check.
--out keeps the blobs and the verdicts (default: a directory under the target dir).";

/// The small base of the split blobs.
const SMALL_BASE: &str = "testdata/dwarf/types.dwarf5.pahole.btf";

fn u32at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn put32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}

/// A BTF blob in the standard layout (24-byte header, types, strings), taken apart.
#[derive(Clone)]
struct Parts {
    /// Each type's record bytes.
    types: Vec<Vec<u8>>,
    strings: Vec<u8>,
}

fn record_len(rec_head: &[u8]) -> Option<usize> {
    let info = u32at(rec_head, 4);
    let vlen = (info & 0xffff) as usize;
    Some(
        12 + match (info >> 24) & 0x1f {
            1 | 14 | 17 => 4,
            3 => 12,
            4 | 5 | 15 | 19 => 12 * vlen,
            6 | 13 => 8 * vlen,
            2 | 7..=12 | 16 | 18 => 0,
            _ => return None,
        },
    )
}

impl Parts {
    fn parse(b: &[u8]) -> Result<Parts> {
        let h = crate::btf::header(b)?;
        ensure!(h.hdr_len == 24 && h.type_off == 0 && h.str_off == h.type_len);
        let t0 = 24usize;
        let types_b = &b[t0..t0 + h.type_len as usize];
        let mut types = Vec::new();
        let mut off = 0;
        while off < types_b.len() {
            let n = record_len(&types_b[off..]).context("unknown kind in a fixture")?;
            types.push(types_b[off..off + n].to_vec());
            off += n;
        }
        let s0 = t0 + h.str_off as usize;
        Ok(Parts {
            types,
            strings: b[s0..s0 + h.str_len as usize].to_vec(),
        })
    }

    fn bytes(&self) -> Vec<u8> {
        let tl: usize = self.types.iter().map(Vec::len).sum();
        let mut out = Vec::new();
        out.extend_from_slice(&crate::btf::MAGIC.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        for w in [24u32, 0, tl as u32, tl as u32, self.strings.len() as u32] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        for t in &self.types {
            out.extend_from_slice(t);
        }
        out.extend_from_slice(&self.strings);
        out
    }

    /// Offsets at which a string starts.
    fn string_starts(&self) -> Vec<u32> {
        let mut v = vec![0u32];
        for (i, &c) in self.strings.iter().enumerate() {
            if c == 0 && i + 1 < self.strings.len() {
                v.push(i as u32 + 1);
            }
        }
        v
    }
}

/// A hand-made blob with the kinds gcc 12's DWARF never gives pahole: TYPE_TAG, DECL_TAG,
/// ENUM64, FLOAT, a FUNC with a global linkage, a VAR and its DATASEC.
fn extra_kinds() -> Parts {
    let mut strings = vec![0u8];
    let mut s = |t: &str| {
        let o = strings.len() as u32;
        strings.extend_from_slice(t.as_bytes());
        strings.push(0);
        o
    };
    let (int, tag, user, st, a, b, e64, v1, flt, f, x, var, sec) = (
        s("int"),
        s("tag"),
        s("user"),
        s("s"),
        s("a"),
        s("b"),
        s("e64"),
        s("V1"),
        s("float"),
        s("f"),
        s("x"),
        s("v"),
        s(".data"),
    );
    let rec = |words: &[u32]| {
        words
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect::<Vec<u8>>()
    };
    let info = |kind: u32, vlen: u32, kf: bool| (kind << 24) | vlen | if kf { 1 << 31 } else { 0 };
    let types = vec![
        rec(&[int, info(1, 0, false), 4, (1 << 24) | 32]), // [1] int
        rec(&[user, info(18, 0, false), 1]),               // [2] type_tag user -> int
        rec(&[0, info(2, 0, false), 2]),                   // [3] ptr -> [2]
        rec(&[st, info(4, 2, false), 16, a, 1, 0, b, 3, 64]), // [4] struct s {int a; ptr b}
        rec(&[tag, info(17, 0, false), 4, 1]),             // [5] decl_tag on member 1 of s
        rec(&[e64, info(19, 1, true), 8, v1, 0xffff_fff0, 0xffff_ffff]), // [6] enum64
        rec(&[flt, info(16, 0, false), 8]),                // [7] float
        rec(&[0, info(13, 2, false), 1, x, 1, 0, 0]),      // [8] proto int(int x, ...)
        rec(&[f, info(12, 1, false), 8]),                  // [9] func f global
        rec(&[tag, info(17, 0, false), 9, 0xffff_ffff]),   // [10] decl_tag on f
        rec(&[var, info(14, 0, false), 4, 1]),             // [11] var v: struct s, global
        rec(&[sec, info(15, 1, false), 16, 11, 0, 16]),    // [12] datasec .data
        rec(&[0, info(3, 0, false), 0, 1, 1, 4]),          // [13] int[4]
        rec(&[0, info(10, 0, false), 13]),                 // [14] const int[4]
    ];
    Parts { types, strings }
}

/// One mutation of `p`, described.
fn mutate_parts(rng: &mut Rng, p: &mut Parts) -> String {
    let n = p.types.len();
    let ids = |rng: &mut Rng| -> u32 {
        let n = n as u32;
        *[
            0,
            1,
            n,
            n + 1,
            rng.below(n as usize + 1) as u32,
            0x000f_ffff,
            0xffff_ffff,
        ]
        .get(rng.below(7))
        .unwrap_or(&0)
    };
    let starts = p.string_starts();
    let str_len = p.strings.len() as u32;
    let name = |rng: &mut Rng| -> u32 {
        match rng.below(6) {
            0 => 0,
            1 | 2 => rng.pick(&starts),
            3 => rng.pick(&starts) + 1,
            4 => str_len - 1,
            _ => str_len + rng.below(4) as u32,
        }
    };
    let what = rng.below(17);
    match what {
        0..=2 if n > 0 => {
            // A word of a record: its name, info, size/type, or a trailing word.
            let i = rng.below(n);
            let words = p.types[i].len() / 4;
            let w = rng.below(words);
            let old = u32at(&p.types[i], 4 * w);
            let kind = (u32at(&p.types[i], 4) >> 24) & 0x1f;
            let new = match (w, rng.below(4)) {
                (0, _) => name(rng),
                (1, 0) => (old & !0x1f00_0000) | ((rng.below(20) as u32) << 24),
                (1, 1) => old ^ (1 << 31),
                (1, 2) => old ^ [1 << 16, 1 << 29, 1 << 30, 1 << 23][rng.below(4)],
                (1, _) => (old & !0xffff) | (rng.below(4) as u32),
                (2, 0 | 1) => ids(rng),
                (2, _) => rng.pick(&[0, 1, 2, 3, 4, 5, 8, 12, 16, 17, 32, 0xffff_ffff]),
                (_, 0) => ids(rng),
                (_, 1) => name(rng),
                (_, 2) => rng.pick(&[0, 1, 7, 8, 31, 32, 33, 64, 128, 0x8000_0000, 0xffff_ffff]),
                (_, _) => old ^ (1 << rng.below(32)),
            };
            // A vlen change makes the record's length wrong: keep it only for the parser's sake
            // sometimes, else fix the record up to its new length.
            let mut t = p.types[i].clone();
            put32(&mut t, 4 * w, new);
            if w == 1 && !rng.chance(20) {
                if let Some(len) = record_len(&t) {
                    t.resize(len, 0);
                }
            }
            p.types[i] = t;
            format!(
                "type {} (kind {kind}) word {w}: {old:#x} -> {new:#x}",
                i + 1
            )
        }
        15 if n > 0 => {
            // A name (of the type, or of a member, value or parameter) set to a new string on
            // the edge of the identifier and section-name rules.
            let names: [&[u8]; 12] = [
                b"a.b",
                b".a",
                b"a-b",
                b"a b",
                b"1a",
                b"_",
                b"\x7f",
                b"\xe9t\xe9",
                b"a\tb",
                b".data..percpu",
                b"A_1",
                b"?",
            ];
            let mut new: Vec<u8> = rng.pick(&names).to_vec();
            if rng.chance(5) {
                new = vec![b'x'; rng.pick(&[511usize, 512, 513])];
            }
            let off = p.strings.len() as u32;
            p.strings.extend_from_slice(&new);
            p.strings.push(0);
            let i = rng.below(n);
            let kind = (u32at(&p.types[i], 4) >> 24) & 0x1f;
            let vlen = (u32at(&p.types[i], 4) & 0xffff) as usize;
            let w = match kind {
                4 | 5 | 19 if vlen > 0 && rng.chance(50) => 3 + 3 * rng.below(vlen),
                6 | 13 if vlen > 0 && rng.chance(50) => 3 + 2 * rng.below(vlen),
                _ => 0,
            };
            put32(&mut p.types[i], 4 * w, off);
            format!(
                "type {} (kind {kind}) word {w} named {:?}",
                i + 1,
                String::from_utf8_lossy(&new[..new.len().min(16)])
            )
        }
        3 if n > 1 => {
            let (i, j) = (rng.below(n), rng.below(n));
            p.types.swap(i, j);
            format!("swap types {} and {}", i + 1, j + 1)
        }
        4 if n > 0 => {
            let i = rng.below(n);
            p.types.remove(i);
            format!("drop type {}", i + 1)
        }
        5 if n > 0 => {
            let i = rng.below(n);
            let t = p.types[i].clone();
            p.types.push(t);
            format!("duplicate type {} at the end", i + 1)
        }
        6 => {
            // A string byte: an invalid identifier character, an early NUL, or none at the end.
            let i = rng.below(p.strings.len());
            let c = rng.pick(&[b'-', b' ', b'.', b'0', 0, b'A', 0xff, b'_']);
            if rng.chance(10) {
                let l = p.strings.len();
                p.strings[l - 1] = b'x';
                "last string byte not NUL".into()
            } else {
                p.strings[i] = c;
                format!("string byte {i} -> {c:#x}")
            }
        }
        7 => {
            p.strings[0] = b'a';
            "first string byte not NUL".into()
        }
        8 if n > 0 => {
            // A member, parameter or entry pointing at a record of another kind.
            let i = rng.below(n);
            let words = p.types[i].len() / 4;
            if words > 3 {
                let w = 3 + rng.below(words - 3);
                let v = ids(rng);
                put32(&mut p.types[i], 4 * w, v);
                format!("type {} trailing word {w} -> {v:#x}", i + 1)
            } else {
                let v = ids(rng);
                put32(&mut p.types[i], 8, v);
                format!("type {} size/type -> {v:#x}", i + 1)
            }
        }
        _ if n > 0 => {
            // One to three random bit flips in the type records.
            let k = 1 + rng.below(3);
            let mut d = Vec::new();
            for _ in 0..k {
                let i = rng.below(n);
                let bit = rng.below(p.types[i].len() * 8);
                p.types[i][bit / 8] ^= 1 << (bit % 8);
                d.push(format!("type {} bit {bit}", i + 1));
            }
            format!("flip {}", d.join(", "))
        }
        _ => "unchanged".into(),
    }
}

/// A mutation of the header or the section layout of the written blob.
fn mutate_layout(rng: &mut Rng, b: &mut Vec<u8>) -> String {
    let tl = u32at(b, 12);
    let sl = u32at(b, 20);
    match rng.below(14) {
        0 => {
            b[rng.below(2)] ^= 1 << rng.below(8);
            "magic".into()
        }
        1 => {
            b[2] = rng.pick(&[0, 2, 255]);
            format!("version {}", b[2])
        }
        2 => {
            b[3] = rng.pick(&[1, 0x80]);
            format!("flags {:#x}", b[3])
        }
        3 => {
            // A short header, as 6.1 reads it: the first hdr_len bytes, the rest cut.
            let h = rng.pick(&[8u32, 12, 16, 20, 21, 22, 23]);
            let mut out = b[..h as usize].to_vec();
            put32(&mut out, 4, h);
            out.extend_from_slice(&b[24..]);
            *b = out;
            format!("hdr_len {h}")
        }
        4 => {
            // A longer header: zeros, or a non-zero byte in it.
            let extra = rng.pick(&[4usize, 8, 1, 3]);
            let mut ext = vec![0u8; extra];
            let nonzero = rng.chance(50);
            if nonzero {
                ext[rng.below(extra)] = 1;
            }
            let mut out = b[..24].to_vec();
            put32(&mut out, 4, 24 + extra as u32);
            out.extend_from_slice(&ext);
            out.extend_from_slice(&b[24..]);
            *b = out;
            format!(
                "hdr_len {} ({})",
                24 + extra,
                if nonzero { "non-zero" } else { "zeros" }
            )
        }
        5 => {
            let d = rng.pick(&[1i64, -1, 4, -4, 12, -12]);
            let v = (tl as i64 + d).max(0) as u32;
            put32(b, 12, v);
            format!("type_len {tl} -> {v}")
        }
        6 => {
            let d = rng.pick(&[1i64, -1, 4, 2]);
            let v = (u32at(b, 16) as i64 + d).max(0) as u32;
            put32(b, 16, v);
            format!("str_off -> {v}")
        }
        7 => {
            let v = rng.pick(&[0, 1, sl.saturating_sub(1), sl + 1, 0x100_0000, 0xffff_ffff]);
            put32(b, 20, v);
            format!("str_len {sl} -> {v}")
        }
        8 => {
            let k = rng.pick(&[1usize, 4, 8]);
            b.extend(std::iter::repeat_n(0, k));
            format!("{k} trailing bytes")
        }
        9 => {
            // Strings before types.
            let (t, s) = (
                b[24..24 + tl as usize].to_vec(),
                b[24 + tl as usize..].to_vec(),
            );
            let mut out = b[..24].to_vec();
            put32(&mut out, 8, sl);
            put32(&mut out, 16, 0);
            out.extend_from_slice(&s);
            out.extend_from_slice(&t);
            *b = out;
            "strings before types".into()
        }
        10 => {
            // A gap of 4 before the types.
            let mut out = b[..24].to_vec();
            put32(&mut out, 8, 4);
            put32(&mut out, 16, tl + 4);
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(&b[24..]);
            *b = out;
            "gap before the type section".into()
        }
        11 => {
            put32(b, 12, 0);
            put32(b, 16, 0);
            let s = b[24 + tl as usize..].to_vec();
            b.truncate(24);
            b.extend_from_slice(&s);
            "no types".into()
        }
        12 => {
            let cut = rng.below(b.len());
            b.truncate(cut);
            format!("cut at {cut}")
        }
        _ => {
            let i = rng.below(b.len());
            b[i] ^= 1 << rng.below(8);
            format!("flip a bit of byte {i}")
        }
    }
}

/// A generated blob and how it was made.
struct Generated {
    name: String,
    bytes: Vec<u8>,
    how: String,
}

/// `layout`: also mutate the header and section layout (base blobs only: the guest flattens
/// split blobs onto their base by their header, which must be sound for that).
fn generate(
    rng: &mut Rng,
    originals: &[(String, Parts)],
    count: usize,
    prefix: &str,
    layout: bool,
) -> Vec<Generated> {
    let mut out = Vec::with_capacity(count);
    for (name, p) in originals {
        out.push(Generated {
            name: format!("{prefix}{:05}-orig-{name}", out.len()),
            bytes: p.bytes(),
            how: "unchanged".into(),
        });
    }
    while out.len() < count {
        let (oname, orig) = &originals[rng.below(originals.len())];
        let mut p = orig.clone();
        let mut how = Vec::new();
        let k = 1 + rng.below(2);
        for _ in 0..k {
            if p.types.is_empty() {
                break;
            }
            how.push(mutate_parts(rng, &mut p));
        }
        let mut bytes = p.bytes();
        if layout && rng.chance(12) {
            how.push(mutate_layout(rng, &mut bytes));
        }
        out.push(Generated {
            name: format!("{prefix}{:05}", out.len()),
            bytes,
            how: format!("{oname}: {}", how.join("; ")),
        });
    }
    out
}

/// kbtf check's verdict: Some(true) accept, Some(false) reject (for split BTF, only problems
/// the kernel would reject count), None: trouble.
fn kbtf_verdict(kbtf: &Path, file: &Path, base: Option<&Path>) -> Result<(bool, String)> {
    let mut cmd = Command::new(kbtf);
    cmd.arg("check").arg(file).args(["--max-problems", "1"]);
    if let Some(b) = base {
        cmd.arg("--base").arg(b);
    }
    let out = cmd
        .output()
        .with_context(|| format!("running {}", crate::util::show(&cmd)))?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let first = text.lines().next().unwrap_or("").to_string();
    match out.status.code() {
        Some(0) => Ok((true, first)),
        Some(1) => {
            if text.contains("invalid: the kernel would reject") {
                return Ok((false, first));
            }
            // "N problems: M the kernel would reject (...), K signs of a different base"
            let m = text
                .lines()
                .find_map(|l| {
                    let (_, rest) = l
                        .split_once(" problems: ")
                        .or_else(|| l.split_once(" problem: "))?;
                    rest.split_whitespace().next()?.parse::<u64>().ok()
                })
                .with_context(|| {
                    format!("kbtf check {}: no summary in {text:?}", file.display())
                })?;
            Ok((m == 0, first))
        }
        // Exit 2: kbtf could not read it as BTF at all (bad magic...): not valid BTF either.
        Some(2) if text.contains(&file.display().to_string()) => Ok((false, first)),
        _ => anyhow::bail!("kbtf check {} failed: {text}", file.display()),
    }
}

pub fn main(raw: &[String]) -> Result<()> {
    let Some(a) = Args::task(
        raw,
        &["count", "split-count", "seed", "out", "kernel"],
        &["no-qemu", "keep"],
        Positionals::None,
        USAGE,
    )?
    else {
        return Ok(());
    };
    let count: usize = a.opt("count").unwrap_or("10000").parse()?;
    let split_count: usize = match a.opt("split-count") {
        Some(v) => v.parse()?,
        None => count / 5,
    };
    let seed: u64 = a.opt("seed").unwrap_or("8").parse()?;
    let root = repo_root();
    let out_dir = match a.opt("out") {
        Some(d) => PathBuf::from(d),
        None => crate::fuzz::target_dir(&root).join("differential"),
    };
    if out_dir.exists() {
        std::fs::remove_dir_all(&out_dir)?;
    }
    let kbtf = crate::test::kbtf_release_bin()?;

    // Originals: every base BTF fixture of the C and DWARF objects, and the extra kinds.
    let mut base_orig = vec![("extra-kinds".to_string(), extra_kinds())];
    let mut seen = std::collections::HashSet::new();
    for dir in ["testdata/c", "testdata/dwarf"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".btf"))
            .collect();
        files.sort();
        for f in files {
            let bytes = std::fs::read(&f)?;
            if seen.insert(bytes.clone()) {
                let name = f
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                base_orig.push((name, Parts::parse(&bytes)?));
            }
        }
    }
    // Split originals: kbtf's split BTF of DWARF fixtures on the small base.
    let small_base = root.join(SMALL_BASE);
    let mut split_orig = Vec::new();
    let seeds_dir = out_dir.join("split-originals");
    std::fs::create_dir_all(&seeds_dir)?;
    for obj in [
        "linked.o",
        "linked-mixed.o",
        "funcs.dwarf5.o",
        "records.dwarf5.o",
        "enums.dwarf5.o",
        "vars.dwarf5.o",
    ] {
        let raw = seeds_dir.join(format!("{obj}.btf"));
        crate::util::run(
            Command::new(&kbtf)
                .args(["-J", "--btf_base"])
                .arg(&small_base)
                .arg("--btf_encode_detached")
                .arg(&raw)
                .arg(root.join("testdata/dwarf").join(obj)),
        )?;
        split_orig.push((obj.to_string(), split_parts(&std::fs::read(&raw)?)?));
    }

    let mut rng = Rng::new(seed);
    let base_blobs = generate(&mut rng, &base_orig, count, "b", true);
    let split_blobs = generate(&mut rng, &split_orig, split_count, "s", false);
    let dirs = [out_dir.join("base"), out_dir.join("split")];
    for (d, blobs) in dirs.iter().zip([&base_blobs, &split_blobs]) {
        std::fs::create_dir_all(d)?;
        let mut index = String::new();
        for g in blobs.iter() {
            std::fs::write(d.join(&g.name), &g.bytes)?;
            index.push_str(&format!("{}\t{}\n", g.name, g.how));
        }
        std::fs::write(d.with_extension("index.tsv"), index)?;
    }
    println!(
        "differential: {} base and {} split blobs in {}",
        base_blobs.len(),
        split_blobs.len(),
        out_dir.display()
    );

    // kbtf check on each.
    let mut kb = Vec::new();
    for (d, blobs, base) in [
        (&dirs[0], &base_blobs, None),
        (&dirs[1], &split_blobs, Some(small_base.as_path())),
    ] {
        let mut v = Vec::new();
        for g in blobs.iter() {
            v.push(kbtf_verdict(&kbtf, &d.join(&g.name), base)?);
        }
        kb.push(v);
    }
    let accepted = kb.iter().flatten().filter(|(ok, _)| *ok).count();
    println!(
        "kbtf check: {accepted} accepted, {} rejected",
        kb.iter().map(Vec::len).sum::<usize>() - accepted
    );
    if a.flag("no-qemu") {
        return Ok(());
    }

    // The kernel's verdicts: one boot per base.
    let small = Arc::new(std::fs::read(&small_base)?);
    let mut disagreements = Vec::new();
    let mut agree = 0;
    let mut kernel_ok = 0;
    for (k, (blobs, base)) in [(&base_blobs, None), (&split_blobs, Some(small.clone()))]
        .into_iter()
        .enumerate()
    {
        let o = Options {
            kernel: a.opt("kernel").map(PathBuf::from),
            blobs: blobs
                .iter()
                .map(|g| Blob {
                    name: g.name.clone(),
                    bytes: g.bytes.clone(),
                    base: base.clone(),
                })
                .collect(),
            lines: 2,
            timeout: None,
            memory: None,
            machine: Machine::default(),
        };
        let run = btf_load::run_quiet(&o)?;
        ensure!(
            run.kernel_trouble.is_empty(),
            "the kernel logged warnings: {:?}",
            run.kernel_trouble
        );
        let mut report = String::new();
        for (i, o) in run.outcomes.iter().enumerate() {
            report.push_str(&o.report_line());
            report.push('\n');
            let g = &blobs[i];
            let (kbtf_ok, kbtf_says) = &kb[k][i];
            let kernel = match &o.verdict {
                Verdict::Ok => true,
                Verdict::Err { .. } => false,
                v => anyhow::bail!("{}: no kernel verdict: {v:?}", g.name),
            };
            kernel_ok += kernel as usize;
            if kernel == *kbtf_ok {
                agree += 1;
            } else {
                disagreements.push(format!(
                    "{} ({}): kernel {} / kbtf check {}: {}",
                    g.name,
                    g.how,
                    o.line(),
                    if *kbtf_ok { "accepts" } else { "rejects" },
                    kbtf_says
                ));
            }
        }
        std::fs::write(dirs[k].with_extension("kernel.tsv"), report)?;
    }
    let total = base_blobs.len() + split_blobs.len();
    println!(
        "differential: {total} blobs ({} base, {} split), the kernel loaded {kernel_ok}; kbtf check agrees on {agree}, disagrees on {}",
        base_blobs.len(),
        split_blobs.len(),
        disagreements.len()
    );
    for d in &disagreements {
        println!("DISAGREE {d}");
    }
    ensure!(
        disagreements.is_empty(),
        "{} disagreement(s)",
        disagreements.len()
    );
    Ok(())
}

/// Split BTF's parts: like [`Parts::parse`], but its strings need not start with NUL.
fn split_parts(b: &[u8]) -> Result<Parts> {
    Parts::parse(b)
}
