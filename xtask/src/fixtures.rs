//! `cargo xtask fixtures`: regenerate the small committed fixtures under testdata/
//! from the kernel cache (see `cargo xtask testdata`), testdata/c/*.c and testdata/dwarf/src/*.c
//! (the DWARF fixtures: `dwarf_fixtures.rs`).

use crate::args::{Args, Positionals};
use crate::cache::Index;
use crate::elf::Elf;
use crate::{btf, util};
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const USAGE: &str = "\
cargo xtask fixtures [--out DIR]

Regenerates testdata/ (or DIR) from the kernel cache, testdata/c/*.c and
testdata/dwarf/src/*.c, and rewrites testdata/PROVENANCE. Run `cargo xtask
testdata` first.";

/// vmlinux BTF is committed raw only up to this size.
const MAX_VMLINUX_BTF: u64 = 6 << 20;
/// Whole modules are committed only up to this size.
const MAX_MODULE: u64 = 1 << 20;

/// Where a fixture came from, for PROVENANCE. For files built here, `package` is
/// `(built here)`, `version` the tool's version line and `inner` the input.
pub struct Origin {
    pub package: String,
    pub version: String,
    pub inner: String,
    pub how: String,
}

/// One PROVENANCE entry: a file under testdata/ and where it came from.
pub struct Entry {
    pub rel: String,
    pub origin: Origin,
}

pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

pub fn main(raw: &[String]) -> Result<()> {
    let Some(a) = Args::task(raw, &["out"], &[], Positionals::None, USAGE)? else {
        return Ok(());
    };
    let out = a
        .opt("out")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("testdata"));
    let idx = Index::load()?;
    let mut entries = Vec::new();
    kernel_fixtures(&idx, &out, &mut entries)?;
    c_fixtures(&out, &mut entries)?;
    crate::dwarf_fixtures::build(&out, &mut entries)?;
    oot_sources(&out, &mut entries)?;
    oot_module(&out, &idx, &mut entries)?;
    sign_fixtures(&out, &idx, &mut entries)?;
    write_provenance(&out, &idx, &entries)?;
    let mut total = 0;
    for e in &entries {
        let n = std::fs::metadata(out.join(&e.rel))?.len();
        total += n;
        println!("{:>10}  {}", util::human(n), e.rel);
    }
    println!(
        "{:>10}  total ({} files) in {}",
        util::human(total),
        entries.len(),
        out.display()
    );
    Ok(())
}

fn get(idx: &Index, key: &str) -> Result<String> {
    match idx.get(key) {
        Some(v) => Ok(v.to_string()),
        None => bail!("key {key} missing from the cache index; rerun `cargo xtask testdata`"),
    }
}

/// Path of `p` inside the unpacked package rooted at `root`, as dpkg lists it.
fn inner(root: &Path, p: &Path) -> String {
    match p.strip_prefix(root) {
        Ok(r) => format!("./{}", r.display()),
        Err(_) => p.display().to_string(),
    }
}

fn write(out: &Path, rel: &str, data: &[u8]) -> Result<()> {
    let p = out.join(rel);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    util::write_atomic(&p, data)
}

fn kernel_fixtures(idx: &Index, out: &Path, entries: &mut Vec<Entry>) -> Result<()> {
    let origin = |prefix: &str, file: &Path, how: &str| -> Result<Origin> {
        let root = PathBuf::from(get(idx, &format!("{prefix}_dir"))?);
        Ok(Origin {
            package: get(idx, &format!("{prefix}_pkg"))?,
            version: get(idx, &format!("{prefix}_pkg_version"))?,
            inner: inner(&root, file),
            how: how.to_string(),
        })
    };

    // vmlinux BTF of the main 6.1 build.
    let vmlinuz = PathBuf::from(get(idx, "kernel61_vmlinuz")?);
    let vbtf = util::read(Path::new(&get(idx, "kernel61_vmlinux_btf")?))?;
    btf::summarize(&vbtf).context("vmlinux BTF in the cache")?;
    if vbtf.len() as u64 <= MAX_VMLINUX_BTF {
        write(out, "vmlinux-6.1.btf", &vbtf)?;
        entries.push(Entry {
            rel: "vmlinux-6.1.btf".into(),
            origin: origin(
                "kernel61",
                &vmlinuz,
                "vmlinux decompressed from the bzImage payload, section .BTF (raw, same format as /sys/kernel/btf/vmlinux)",
            )?,
        });
    } else {
        println!(
            "skip vmlinux-6.1.btf: {} is over the limit",
            util::human(vbtf.len() as u64)
        );
    }

    // Shipped (signed) modules: raw .BTF of each, and dummy.ko whole.
    let mods = PathBuf::from(get(idx, "kernel61_modules_dir")?);
    for m in ["dummy", "veth", "tun"] {
        let ko = mods.join("drivers/net").join(format!("{m}.ko"));
        let b = Elf::open(&ko)?.section_bytes(".BTF")?;
        btf::summarize(&b).with_context(|| format!(".BTF of {}", ko.display()))?;
        let rel = format!("modules-6.1/{m}.btf");
        write(out, &rel, &b)?;
        entries.push(Entry {
            rel,
            origin: origin("kernel61", &ko, "section .BTF (raw)")?,
        });
    }
    copy_module(
        &mods,
        "kernel61",
        "modules-6.1",
        out,
        entries,
        &origin,
        "whole file (signed)",
    )?;
    // A small module with a kfunc set and a .BTF_ids resolved by resolve_btfids.
    let bbr = mods.join("net/ipv4/tcp_bbr.ko");
    write(out, "modules-6.1/tcp_bbr.ko", &util::read(&bbr)?)?;
    entries.push(Entry {
        rel: "modules-6.1/tcp_bbr.ko".into(),
        origin: origin(
            "kernel61",
            &bbr,
            "whole file (signed; .BTF_ids with a kfunc set8)",
        )?,
    });

    // The -dbg build of dummy.ko: same build, full DWARF, unsigned.
    let dbg_root = PathBuf::from(get(idx, "kernel61_dbg_dir")?);
    let dbg_ko = PathBuf::from(get(idx, "kernel61_dbg_modules_dir")?).join("drivers/net/dummy.ko");
    let n = std::fs::metadata(&dbg_ko)
        .with_context(|| format!("reading {}", dbg_ko.display()))?
        .len();
    if n <= MAX_MODULE {
        write(out, "modules-6.1-dbg/dummy.ko", &util::read(&dbg_ko)?)?;
        entries.push(Entry {
            rel: "modules-6.1-dbg/dummy.ko".into(),
            origin: Origin {
                package: get(idx, "kernel61_dbg_pkg")?,
                version: get(idx, "kernel61_dbg_pkg_version")?,
                inner: inner(&dbg_root, &dbg_ko),
                how: "whole file (unstripped: DWARF and .BTF, no signature)".into(),
            },
        });
    }

    // The older 6.1 build: its dummy.ko and .BTF (for base-mismatch tests).
    let old_mods = PathBuf::from(get(idx, "kernel61_old_modules_dir")?);
    let old_ko = old_mods.join("drivers/net/dummy.ko");
    let b = Elf::open(&old_ko)?.section_bytes(".BTF")?;
    btf::summarize(&b).with_context(|| format!(".BTF of {}", old_ko.display()))?;
    write(out, "modules-6.1-old/dummy.btf", &b)?;
    entries.push(Entry {
        rel: "modules-6.1-old/dummy.btf".into(),
        origin: origin("kernel61_old", &old_ko, "section .BTF (raw)")?,
    });
    copy_module(
        &old_mods,
        "kernel61_old",
        "modules-6.1-old",
        out,
        entries,
        &origin,
        "whole file (signed)",
    )?;

    // Module BTF regenerated by pahole against the older build's vmlinux (`cargo xtask
    // wrong-base`): the field bug. The kernel refuses sd_mod's and takes dummy's by luck.
    let wrong =
        PathBuf::from(get(idx, "wrong_base_dir").context("run `cargo xtask wrong-base` first")?);
    let dbg_mods = PathBuf::from(get(idx, "kernel61_dbg_modules_dir")?);
    for rel in ["drivers/net/dummy", "drivers/scsi/sd_mod"] {
        let src = wrong.join(format!("{rel}.btf"));
        let b = util::read(&src)?;
        let name = rel.rsplit('/').next().unwrap_or(rel);
        let dest = format!("modules-6.1-wrong-base/{name}.btf");
        write(out, &dest, &b)?;
        entries.push(Entry {
            rel: dest,
            origin: Origin {
                package: get(idx, "kernel61_dbg_pkg")?,
                version: get(idx, "kernel61_dbg_pkg_version")?,
                inner: inner(&dbg_root, &dbg_mods.join(format!("{rel}.ko"))),
                how: format!(
                    "section .BTF after `pahole -J --btf_base <vmlinux BTF of {} {}>` (pahole 1.24): split BTF built against the older build's vmlinux",
                    get(idx, "kernel61_old_pkg")?,
                    get(idx, "kernel61_old_pkg_version")?
                ),
            },
        });
    }
    Ok(())
}

fn copy_module(
    mods: &Path,
    prefix: &str,
    dir: &str,
    out: &Path,
    entries: &mut Vec<Entry>,
    origin: &dyn Fn(&str, &Path, &str) -> Result<Origin>,
    how: &str,
) -> Result<()> {
    let ko = mods.join("drivers/net/dummy.ko");
    let data = util::read(&ko)?;
    if data.len() as u64 > MAX_MODULE {
        println!("skip {}: too big", ko.display());
        return Ok(());
    }
    let rel = format!("{dir}/dummy.ko");
    write(out, &rel, &data)?;
    entries.push(Entry {
        rel,
        origin: origin(prefix, &ko, how)?,
    });
    Ok(())
}

/// testdata/c/*.c -> *.o (gcc -g -O2) and *.pahole.btf (pahole -J on a copy).
fn c_fixtures(out: &Path, entries: &mut Vec<Entry>) -> Result<()> {
    let src_dir = repo_root().join("testdata/c");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&src_dir)
        .with_context(|| format!("listing {}", src_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    let gcc = first_line(Command::new("gcc").arg("--version"))?;
    let pahole = format!(
        "pahole {}",
        first_line(Command::new("pahole").arg("--version"))?
    );
    let dst_dir = out.join("c");
    std::fs::create_dir_all(&dst_dir).with_context(|| format!("creating {}", dst_dir.display()))?;
    for src in sources {
        let stem = src
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let obj = dst_dir.join(format!("{stem}.o"));
        let tmp = util::tmp_sibling(&obj);
        util::run(
            Command::new("gcc")
                .args(["-g", "-O2", "-c"])
                .arg(format!("-fdebug-prefix-map={}=.", src_dir.display()))
                .arg(src.file_name().unwrap_or_default())
                .arg("-o")
                .arg(&tmp)
                .current_dir(&src_dir),
        )?;
        std::fs::rename(&tmp, &obj).with_context(|| format!("renaming to {}", obj.display()))?;
        let cfile = format!("{stem}.c");
        entries.push(Entry {
            rel: format!("c/{stem}.o"),
            origin: Origin {
                package: "(built here)".into(),
                version: gcc.clone(),
                inner: format!("testdata/c/{cfile}"),
                how: format!("gcc -g -O2 -fdebug-prefix-map=<dir>=. -c {cfile}"),
            },
        });
        let pj = dst_dir.join(format!(".{stem}.pahole.o"));
        std::fs::copy(&obj, &pj).with_context(|| format!("copying to {}", pj.display()))?;
        let res = util::output(Command::new("pahole").arg("-J").arg(&pj))
            .and_then(|_| Elf::open(&pj)?.section_bytes(".BTF"));
        let _ = std::fs::remove_file(&pj);
        let b = res?;
        btf::summarize(&b).with_context(|| format!("pahole's BTF for {stem}.o"))?;
        let rel = format!("c/{stem}.pahole.btf");
        write(out, &rel, &b)?;
        entries.push(Entry {
            rel,
            origin: Origin {
                package: "(built here)".into(),
                version: pahole.clone(),
                inner: format!("testdata/c/{stem}.o"),
                how: format!("pahole -J on a copy of {stem}.o, section .BTF (raw)"),
            },
        });
    }
    Ok(())
}

/// `Origin::package` of files written by hand for kbtf (their `how` says what they are).
const WRITTEN_HERE: &str = "(written here)";

/// testdata/oot/kbtf_sample: the out-of-tree test module's sources, written for kbtf; listed
/// (and copied when `out` is not testdata/) so that PROVENANCE covers them.
/// The out-of-tree sample built against 6.1's headers (no vmlinux, so no .BTF): the fast
/// tier's `--standalone` input.
fn oot_module(out: &Path, idx: &Index, entries: &mut Vec<Entry>) -> Result<()> {
    let ko = crate::oot::build(crate::cache::KERNEL61, false)?;
    let rel = "oot/kbtf_sample-6.1.ko";
    write(out, rel, &util::read(&ko)?)?;
    let gcc = first_line(Command::new("gcc").arg("--version"))?;
    entries.push(Entry {
        rel: rel.into(),
        origin: Origin {
            package: "(built here)".into(),
            version: gcc,
            inner: format!(
                "testdata/oot/kbtf_sample built by `cargo xtask oot-build --kernel 61` against {} only (no vmlinux, so no .BTF; .BTF_ids unresolved)",
                get(idx, "kernel61_headers_pkgs")?
            ),
            how: "whole file (unsigned: DWARF and .BTF_ids, no .BTF)".into(),
        },
    });
    Ok(())
}

fn oot_sources(out: &Path, entries: &mut Vec<Entry>) -> Result<()> {
    let src = crate::oot::source_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&src)
        .with_context(|| format!("listing {}", src.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for f in files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let rel = format!("oot/kbtf_sample/{name}");
        let dest = out.join(&rel);
        if dest != f {
            write(out, &rel, &util::read(&f)?)?;
        }
        entries.push(Entry {
            rel,
            origin: Origin {
                package: WRITTEN_HERE.into(),
                version: String::new(),
                inner: String::new(),
                how:
                    "written for kbtf: out-of-tree test module (issue 5, \"Without vmlinux\"), \
                      built against Debian's linux-headers packages only by `cargo xtask oot-build`"
                        .into(),
            },
        });
    }
    Ok(())
}

/// The test signing files written here once (testdata/sign; not regenerated: the sign-file
/// outputs below depend on them), with what each is.
const SIGN_WRITTEN: &[(&str, &str)] = &[
    ("x509.genkey", "openssl req config for the test key: the kernel's certs/default_x509.genkey with another subject and 2048 bits"),
    ("test-key.pem", "TEST-ONLY RSA-2048 private key (PKCS#8), public by being committed, trusted by no kernel: never sign anything real with it. Made with `openssl req -new -nodes -utf8 -sha256 -days 36500 -batch -x509 -config x509.genkey -outform PEM -out test-cert.pem -keyout test-key.pem` (OpenSSL 3.0.19)"),
    ("test-cert.pem", "the test key's self-signed certificate (same command as test-key.pem)"),
    ("test-cert.der", "test-cert.pem in DER (`openssl x509 -in test-cert.pem -outform DER`), as kbuild's certs/signing_key.x509"),
    ("test-key-pkcs1.pem", "test-key.pem as PKCS#1 (`openssl rsa -in test-key.pem -traditional`)"),
    ("other-key-same-name-cert.pem", "a certificate with test-cert.pem's subject, issuer and serial (`-set_serial`) but another key (thrown away): names the signer, cannot verify it"),
];

/// testdata/sign: the 6.1 build's module signing certificate, from the -dbg vmlinux's built-in
/// keyring; the test key files; and what Debian's sign-file appends to the shipped dummy.ko
/// (its signature stripped) with the test key, per hash.
fn sign_fixtures(out: &Path, idx: &Index, entries: &mut Vec<Entry>) -> Result<()> {
    let dbg = PathBuf::from(get(idx, "kernel61_dbg_vmlinux")?);
    let elf = Elf::open(&dbg)?;
    let sym = |name: &str| -> Result<u64> {
        elf.symbol_value(name)?
            .with_context(|| format!("{}: no symbol {name}", dbg.display()))
    };
    let size = elf.read_at_addr(sym("system_certificate_list_size")?, 8)?;
    let size = u64::from_le_bytes(size.as_slice().try_into()?);
    let der = elf.read_at_addr(sym("system_certificate_list")?, size)?;
    ensure!(
        der.starts_with(&[0x30, 0x82]),
        "system_certificate_list is not DER"
    );
    let rel = "sign/kernel61-system-certificates.der";
    write(out, rel, &der)?;
    entries.push(Entry {
        rel: rel.into(),
        origin: Origin {
            package: get(idx, "kernel61_dbg_pkg")?,
            version: get(idx, "kernel61_dbg_pkg_version")?,
            inner: inner(&PathBuf::from(get(idx, "kernel61_dbg_dir")?), &dbg),
            how: format!(
                "system_certificate_list ({size} bytes, system_certificate_list_size): the built-in keyring, DER; the certificate of the key made during the build that signed the modules"
            ),
        },
    });

    let src = repo_root().join("testdata/sign");
    for (name, how) in SIGN_WRITTEN {
        let rel = format!("sign/{name}");
        let dest = out.join(&rel);
        if dest != src.join(name) {
            write(out, &rel, &util::read(&src.join(name))?)?;
        }
        entries.push(Entry {
            rel,
            origin: Origin {
                package: WRITTEN_HERE.into(),
                version: String::new(),
                inner: String::new(),
                how: how.to_string(),
            },
        });
    }

    let sign_file = crate::test::sign_file(idx)?;
    let kbuild = get(idx, "kernel61_headers_pkgs")?
        .split_whitespace()
        .find_map(|p| p.strip_prefix("linux-kbuild-6.1="))
        .context("kernel61_headers_pkgs names no linux-kbuild-6.1")?
        .to_string();
    let shipped = util::read(&out.join("modules-6.1/dummy.ko"))?;
    let unsigned = crate::modsig::strip(&shipped)?;
    let tmp = tempfile_dir()?;
    let input = tmp.path.join("dummy.ko");
    std::fs::write(&input, unsigned)?;
    for hash in ["sha256", "sha512"] {
        let signed = tmp.path.join(format!("dummy.{hash}.ko"));
        util::run(
            Command::new(&sign_file)
                .arg(hash)
                .arg(src.join("test-key.pem"))
                .arg(src.join("test-cert.pem"))
                .arg(&input)
                .arg(&signed),
        )?;
        let signed = util::read(&signed)?;
        ensure!(
            signed.starts_with(unsigned),
            "sign-file changed the module bytes"
        );
        let rel = format!("sign/sign-file-dummy-{hash}.tail");
        write(out, &rel, &signed[unsigned.len()..])?;
        entries.push(Entry {
            rel,
            origin: Origin {
                package: "linux-kbuild-6.1".into(),
                version: kbuild.clone(),
                inner: "./usr/lib/linux-kbuild-6.1/scripts/sign-file".into(),
                how: format!(
                    "`sign-file {hash} test-key.pem test-cert.pem` on modules-6.1/dummy.ko without its signature: \
                     the bytes it appended (PKCS#7 signature, struct module_signature, magic)"
                ),
            },
        });
    }
    Ok(())
}

fn tempfile_dir() -> Result<crate::guest::TempDir> {
    crate::guest::TempDir::new("fixtures-sign")
}

pub fn first_line(cmd: &mut Command) -> Result<String> {
    Ok(util::stdout_string(cmd)?
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string())
}

fn write_provenance(out: &Path, idx: &Index, entries: &[Entry]) -> Result<()> {
    let mut t = String::from(
        "# Provenance of the files in testdata/. Written by `cargo xtask fixtures`;\n\
         # regenerate with `cargo xtask testdata && cargo xtask fixtures`.\n\
         # Packages are Debian 12 (bookworm) amd64 .debs from the Debian archive\n\
         # (bookworm); `path` is the member path inside the .deb.\n\
         # sha256 is of the file here; deb_sha256 of the .deb it came from.\n\n",
    );
    let mut deb_sums: Vec<(String, String)> = Vec::new();
    for e in entries {
        let sha = util::sha256(&out.join(&e.rel))?;
        let size = std::fs::metadata(out.join(&e.rel))?.len();
        t.push_str(&format!("file: {}\n", e.rel));
        if e.origin.package == WRITTEN_HERE {
            t.push_str(&format!("  source: {}\n", e.origin.how));
            t.push_str(&format!("  size: {size}\n  sha256: {sha}\n\n"));
            continue;
        }
        if e.origin.package.starts_with('(') {
            t.push_str(&format!(
                "  source: {}\n  tool: {}\n",
                e.origin.inner, e.origin.version
            ));
        } else {
            t.push_str(&format!(
                "  package: {}\n  version: {}\n  path: {}\n",
                e.origin.package, e.origin.version, e.origin.inner
            ));
            let key = [
                ("kernel61_dbg", "kernel61_dbg"),
                ("kernel61_old", "kernel61_old"),
                ("kernel61", "kernel61"),
            ]
            .iter()
            .find(|(_, p)| idx.get(&format!("{p}_pkg")) == Some(e.origin.package.as_str()))
            .map(|(k, _)| *k);
            if let Some(k) = key {
                let deb = get(idx, &format!("{k}_deb"))?;
                let sum = match deb_sums.iter().find(|(d, _)| *d == deb) {
                    Some((_, s)) => s.clone(),
                    None => {
                        let s = util::sha256(Path::new(&deb))?;
                        deb_sums.push((deb.clone(), s.clone()));
                        s
                    }
                };
                let name = Path::new(&deb)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                t.push_str(&format!("  deb: {name}\n  deb_sha256: {sum}\n"));
            }
        }
        t.push_str(&format!(
            "  derivation: {}\n  size: {size}\n  sha256: {sha}\n\n",
            e.origin.how
        ));
    }
    util::write_atomic(&out.join("PROVENANCE"), t.as_bytes())
}

/// The files under `prefix` (`dwarf/`) that testdata/PROVENANCE lists, in its order, after
/// checking that each is in testdata/ with the size and sha256 given there (for the tests of
/// the tasks that make those files).
#[cfg(test)]
pub(crate) fn checked_provenance(prefix: &str) -> Vec<String> {
    let testdata = repo_root().join("testdata");
    let prov = std::fs::read_to_string(testdata.join("PROVENANCE")).unwrap();
    let mut listed = Vec::new();
    let mut cur: Option<(String, Option<u64>)> = None;
    for line in prov.lines() {
        if let Some(f) = line.strip_prefix("file: ") {
            cur = Some((f.to_string(), None));
        } else if let Some(n) = line.trim().strip_prefix("size: ") {
            if let Some(c) = &mut cur {
                c.1 = n.parse().ok();
            }
        } else if let Some(h) = line.trim().strip_prefix("sha256: ") {
            if let Some((f, size)) = cur.take() {
                if f.starts_with(prefix) {
                    listed.push((f, size, h.to_string()));
                }
            }
        }
    }
    for (f, size, sha) in &listed {
        let p = testdata.join(f);
        let len = std::fs::metadata(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .len();
        assert_eq!(Some(len), *size, "{f}: size (rerun `cargo xtask fixtures`)");
        assert_eq!(
            &util::sha256(&p).unwrap(),
            sha,
            "{f}: sha256 (rerun `cargo xtask fixtures`)"
        );
    }
    listed.into_iter().map(|(f, _, _)| f).collect()
}
