//! The base index cache: what every module process would otherwise work out again from the
//! same vmlinux BTF, kept in a file.
//!
//! kbuild runs `pahole -J --btf_base vmlinux MOD` once per module (1121 times for Debian's
//! 6.1), and each process would walk the base's 95 k records to check them, hash its 4 MB
//! for the fingerprint note (SHA-256), index its 1.7 MB of strings, and file its types in
//! dedup's candidate table (`kbtf_dedup::base_index`, which also records that the base's
//! references were checked), and copy its types into the vectors the encoder and dedup
//! work in (`kbtf_btf::Flat`). The cache holds all five, the last as those vectors lie in
//! memory at page-aligned offsets so that they are mapped rather than copied
//! (`kbtf_btf::mapvec`), keyed by the base file's identity,
//! a hash of its BTF bytes and this kbtf executable's identity, and is checked before
//! anything in it is used:
//!
//! - where: `$KBTF_BASE_CACHE_DIR`, else `$XDG_CACHE_HOME/kbtf/base-index`, else
//!   `$HOME/.cache/kbtf/base-index`; `KBTF_BASE_CACHE=off` turns it off. A directory that
//!   cannot be created or written means no cache, silently.
//! - key: the base file's device, inode, size and modification time (ns), this
//!   executable's device, inode, size and modification time and kbtf's version (so that any
//!   rebuild of kbtf, which may compute differently, misses), then the length and a 64-bit
//!   content hash of the base's BTF bytes (so that a base rewritten in place under the same
//!   identity still misses). The bytes are hashed before they are parsed: a hit stands for
//!   the walk over every record (`Btf::parse_bytes_known`).
//! - check: magic, format version, the whole key, section bounds, and a 64-bit checksum of
//!   the whole file; then each library checks the shape of its own section again (and reads
//!   it with bounds checks only). Anything else means the file is ignored (and rewritten).
//! - write: a temp file in the same directory, then a rename, so that a reader sees a
//!   whole file or none; processes racing to write it write the same bytes. A write keeps
//!   the 8 newest cache files of the directory and removes the others.
//!
//! Whatever the cache says only replaces a computation of the same value; a file that fails
//! a check changes nothing, and output is byte-identical with a cold, a warm or no cache.
//! The checksum tells damage, not forgery: the cache directory is trusted as the user's own
//! files are (a forged file that passes every check could make the base's references look
//! checked).

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kbtf_btf::{Btf, Bytes, TypeCheck};

const MAGIC: &[u8; 8] = b"KBTFBIX\0";
/// Bumped whenever the layout or the meaning of a section changes.
const FORMAT: u32 = 4;
/// Where the mapped sections start: a multiple of any page size Linux uses.
const MAP_ALIGN: usize = 64 << 10;

/// Reads `--btf_base` from `path`, taking what the cache holds for it, or filling the cache.
pub fn read_base(path: &Path) -> Result<Arc<Btf>, kbtf_btf::ReadError> {
    let Some(dir) = cache_dir() else {
        return kbtf_btf::read_base(path);
    };
    let ident = identity(path);
    // Asked with the BTF's bytes before they are parsed: the key, and a cache file that
    // passed its checks, whose record of the per-record checks then stands for them.
    let mut found: Option<(Vec<u8>, Option<Cached>)> = None;
    let base = kbtf_btf::file::read_base_with(path, &mut |blob| {
        let mut key = ident.clone()?;
        key.extend_from_slice(&(blob.len() as u64).to_le_bytes());
        kbtf_btf::mem::prefault_read(blob);
        key.extend_from_slice(&hash64(blob).to_le_bytes());
        let c = load(&dir.join(file_name(&key)), &key);
        let known = c.as_ref().map(|c| c.check.clone());
        found = Some((key, c));
        known
    })?;
    let _t = kbtf_btf::timing::stage("base index cache");
    if let Some((key, cached)) = found {
        use_cache(&dir, &key, cached, &base);
    }
    Ok(base)
}

/// The cache directory, unless the cache is turned off.
fn cache_dir() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if env("KBTF_BASE_CACHE").is_some_and(|v| v == "off" || v == "0") {
        return None;
    }
    if let Some(d) = env("KBTF_BASE_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    let root = match env("XDG_CACHE_HOME") {
        Some(x) => PathBuf::from(x),
        None => PathBuf::from(env("HOME")?).join(".cache"),
    };
    Some(root.join("kbtf").join("base-index"))
}

/// The cache file's name for `key`.
fn file_name(key: &[u8]) -> String {
    format!("{:016x}.idx", hash64(key))
}

/// Gives `base` the values of `cached` (the file for `key` in `dir`, checked), or computes
/// them and writes the file. Never fails: without a usable cache, the values are computed
/// when used.
fn use_cache(dir: &Path, key: &[u8], cached: Option<Cached>, base: &Btf) {
    let file = dir.join(file_name(key));
    if let Some(c) = cached {
        if adopt(base, &c) {
            kbtf_btf::timing::note(|| format!("base index cache: hit {}", file.display()));
            return;
        }
    }
    kbtf_btf::timing::note(|| format!("base index cache: miss {}", file.display()));
    let (Some(sha), Some(check)) = (base.raw_sha256(), base.type_check()) else {
        return;
    };
    let slots = base.string_index_bytes();
    let Some(cands) = kbtf_dedup::base_index(base) else {
        return;
    };
    let check = encode_check(&check);
    let (recs, words) = kbtf_btf::Flat::from_btf(base).image_bytes();
    let sections: [(&[u8], usize); 5] = [
        (&slots, 8),
        (&cands, 8),
        (&check, 8),
        (&recs, MAP_ALIGN),
        (&words, MAP_ALIGN),
    ];
    if store(dir, &file, &encode(key, &sha, &sections)).is_ok() {
        prune(dir, &file);
    }
}

/// The per-record checks' result as bytes: the type count, the number of INTs with ignored
/// bits, then `(index, bits)` of each.
fn encode_check(c: &TypeCheck) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 8 * c.int_pad.len());
    out.extend_from_slice(&c.count.to_le_bytes());
    out.extend_from_slice(&(c.int_pad.len() as u32).to_le_bytes());
    for &(i, b) in &c.int_pad {
        out.extend_from_slice(&(i as u32).to_le_bytes());
        out.extend_from_slice(&u32::from(b).to_le_bytes());
    }
    out
}

fn decode_check(d: &[u8]) -> Option<TypeCheck> {
    let mut r = Reader { d, at: 0 };
    let count = r.u32()?;
    let n = r.u32()? as usize;
    let mut int_pad = Vec::with_capacity(n.min(d.len() / 8));
    for _ in 0..n {
        let i = r.u32()?;
        let b = u8::try_from(r.u32()?).ok()?;
        if i >= count || int_pad.last().is_some_and(|&(j, _)| j >= i as usize) {
            return None;
        }
        int_pad.push((i as usize, b));
    }
    (r.at == d.len()).then_some(TypeCheck { count, int_pad })
}

/// How many cache files a directory keeps (one per base and kbtf build in use).
const KEEP: usize = 8;

/// Removes all but the [`KEEP`] newest cache files of `dir` (each new vmlinux or kbtf build
/// writes one), and temp files an interrupted writer left an hour ago or more.
fn prune(dir: &Path, just_written: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let now = std::time::SystemTime::now();
    let mut files = Vec::new();
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(mtime) = e.metadata().ok().and_then(|m| m.modified().ok()) else {
            continue;
        };
        if name.starts_with('.') && name.ends_with(".tmp") {
            if now.duration_since(mtime).is_ok_and(|d| d.as_secs() >= 3600) {
                let _ = std::fs::remove_file(&p);
            }
        } else if name.ends_with(".idx") && p != just_written {
            files.push((mtime, p));
        }
    }
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (_, p) in files.into_iter().skip(KEEP - 1) {
        let _ = std::fs::remove_file(p);
    }
}

/// The first part of the key, before the BTF's own length and hash: the base file's
/// identity and this executable's.
fn identity(path: &Path) -> Option<Vec<u8>> {
    let m = std::fs::metadata(path).ok()?;
    let exe = std::env::current_exe().ok()?;
    let e = std::fs::metadata(exe).ok()?;
    let mut k = Vec::with_capacity(128);
    // The base file's identity, then the executable's.
    for md in [&m, &e] {
        for v in [
            md.dev(),
            md.ino(),
            md.size(),
            md.mtime() as u64,
            md.mtime_nsec() as u64,
        ] {
            k.extend_from_slice(&v.to_le_bytes());
        }
    }
    k.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
    k.push(0);
    Some(k)
}

/// The file: magic, format, key length and key, the SHA-256, then each section (the string
/// index, dedup's base candidates, the per-record checks, the base's `Flat` records and
/// trailing words) as its length, 8-aligned, then zeros up to the section's alignment and
/// its bytes; then the checksum of everything before it.
fn encode(key: &[u8], sha: &[u8; 32], sections: &[(&[u8], usize)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        64 + key.len() + sections.iter().map(|s| s.0.len() + s.1 + 16).sum::<usize>(),
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(sha);
    for &(sec, align) in sections {
        while out.len() % 8 != 0 {
            out.push(0);
        }
        out.extend_from_slice(&(sec.len() as u64).to_le_bytes());
        out.resize(out.len().next_multiple_of(align), 0);
        out.extend_from_slice(sec);
    }
    let sum = hash64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// A cache file that passed every check.
struct Cached {
    sha: [u8; 32],
    slots: Bytes,
    cands: Bytes,
    check: TypeCheck,
    /// The base's types in `Flat`'s layout: where the records and the trailing words lie.
    flat: kbtf_btf::flat::FlatImage,
}

/// Reads and checks the cache file; `None` if it is missing or fails any check.
fn load(file: &Path, key: &[u8]) -> Option<Cached> {
    let map = Arc::new(kbtf_btf::file::map_file(file).ok()?);
    let d: &[u8] = &map;
    // The checksum reads it all, and the encoding then uses its every section.
    kbtf_btf::mem::prefault_read(d);
    let (body, sum) = d.split_at_checked(d.len().checked_sub(8)?)?;
    if hash64(body) != u64::from_le_bytes(sum.try_into().ok()?) {
        return None;
    }
    let mut r = Reader { d: body, at: 0 };
    if r.take(8)? != MAGIC || r.u32()? != FORMAT {
        return None;
    }
    let klen = r.u32()? as usize;
    if r.take(klen)? != key {
        return None;
    }
    let sha: [u8; 32] = r.take(32)?.try_into().ok()?;
    let owner: Arc<dyn kbtf_btf::bytes::Owner> = map.clone();
    let mut range = |align: usize| -> Option<std::ops::Range<usize>> {
        r.take((8 - r.at % 8) % 8)?;
        let len = usize::try_from(r.u64()?).ok()?;
        r.take(r.at.next_multiple_of(align) - r.at)?;
        let start = r.at;
        r.take(len)?;
        Some(start..start + len)
    };
    let slots = range(8)?;
    let cands = range(8)?;
    let check = range(8)?;
    let (recs, words) = (range(MAP_ALIGN)?, range(MAP_ALIGN)?);
    if r.at != body.len() {
        return None;
    }
    Some(Cached {
        sha,
        slots: Bytes::shared(owner.clone(), slots)?,
        cands: Bytes::shared(owner, cands)?,
        check: decode_check(body.get(check)?)?,
        flat: kbtf_btf::flat::FlatImage::new(map.clone(), recs, words),
    })
}

/// Gives `base` the cached values; `false` if it would not take them all.
fn adopt(base: &Btf, c: &Cached) -> bool {
    base.preset_string_index(c.slots.clone())
        && base.preset_sha256(c.sha)
        && base.preset_derived_index(c.cands.clone())
        && base.preset_flat_image(c.flat.clone())
}

struct Reader<'a> {
    d: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.d.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// Writes `bytes` to `file` through a temp file in `dir` and a rename.
fn store(dir: &Path, file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        std::fs::rename(&tmp, file)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A 64-bit hash of `d` (not cryptographic: it tells a changed or damaged file, not a
/// forged one): eight multiply-rotate lanes over 8-byte words, so that the 4 MB base and the
/// cache file take a fraction of a millisecond.
fn hash64(d: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    #[inline(always)]
    fn mix(lane: u64, w: &[u8]) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        (lane ^ u64::from_le_bytes(b))
            .wrapping_mul(K)
            .rotate_left(29)
    }
    let mut h: [u64; 8] = [
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
        0x4528_21e6_38d0_1377,
        0xbe54_66cf_34e9_0c6c,
        0xc0ac_29b7_c97c_50dd,
        0x3f84_d5b5_b547_0917,
    ];
    let mut blocks = d.chunks_exact(64);
    for b in &mut blocks {
        for (i, lane) in h.iter_mut().enumerate() {
            *lane = mix(*lane, &b[i * 8..i * 8 + 8]);
        }
    }
    let mut tail = [0u8; 64];
    let rest = blocks.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    for (i, lane) in h.iter_mut().enumerate() {
        *lane = mix(*lane, &tail[i * 8..i * 8 + 8]);
    }
    let mut out = d.len() as u64;
    for lane in h {
        out = (out.rotate_left(23) ^ lane).wrapping_mul(K);
    }
    out ^ (out >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_sees_every_byte_and_the_length() {
        let d: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let h = hash64(&d);
        for i in [0, 31, 32, 63, 64, 500, 999] {
            let mut e = d.clone();
            e[i] ^= 1;
            assert_ne!(hash64(&e), h, "byte {i}");
        }
        assert_ne!(hash64(&d[..999]), h);
        let mut z = d.clone();
        z.push(0);
        assert_ne!(hash64(&z), h);
    }

    #[test]
    fn file_round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let key = b"some key".to_vec();
        let slots: Vec<u8> = (0..16 * 8).map(|i| i as u8).collect();
        let cands = b"candidates".to_vec();
        let check = TypeCheck {
            count: 10,
            int_pad: vec![(2, 1), (7, 255)],
        };
        assert_eq!(decode_check(&encode_check(&check)), Some(check.clone()));
        let (recs, words) = (vec![0u8; 32], vec![9u8; 12]);
        let check_bytes = encode_check(&check);
        let bytes = encode(
            &key,
            &[7; 32],
            &[
                (&slots, 8),
                (&cands, 8),
                (&check_bytes, 8),
                (&recs, MAP_ALIGN),
                (&words, MAP_ALIGN),
            ],
        );
        let file = dir.path().join("x.idx");
        store(dir.path(), &file, &bytes).unwrap();
        let c = load(&file, &key).unwrap();
        assert_eq!(c.sha, [7; 32]);
        assert_eq!(&*c.slots, &slots[..]);
        assert_eq!(&*c.cands, &cands[..]);
        assert_eq!(c.check, check);
        let (r, w) = c.flat.offsets();
        assert_eq!(
            (r % MAP_ALIGN, w % MAP_ALIGN),
            (0, 0),
            "{r}, {w}: mapped sections"
        );
        assert_eq!(c.flat.bytes(), Some((&recs[..], &words[..])));
        assert!(load(&file, b"other key").is_none(), "another key");
        for i in [0, 9, 20, bytes.len() / 2, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            std::fs::write(&file, &bad).unwrap();
            assert!(load(&file, &key).is_none(), "byte {i} damaged");
        }
        std::fs::write(&file, &bytes[..bytes.len() - 3]).unwrap();
        assert!(load(&file, &key).is_none(), "truncated");
        std::fs::write(&file, b"").unwrap();
        assert!(load(&file, &key).is_none(), "empty");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp left"
        );
    }
}
