//! `kbtf load`: load a kernel module with its BTF made to fit the running kernel, for kernels
//! that do not relocate `.BTF.base` themselves (before 6.11).
//!
//! The module is read, rewritten in memory by [`crate::relocate::for_kernel`] against the
//! running kernel's vmlinux BTF, and handed to `finit_module` through a memfd
//! ([`crate::kmod::load`]). Nothing is written to disk unless `-o` asks for it.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use kbtf_emit::modsig;

use crate::kmod::{self, SigPolicy};

/// Load a kernel module with BTF relocated onto the running kernel's BTF (Linux before 6.11).
///
/// A module with distilled BTF (`.BTF.base`) is rewritten in memory so that its `.BTF` is split
/// BTF on the running kernel's vmlinux BTF, then loaded with finit_module(2) from a memfd.
/// A module without `.BTF.base` is loaded as it is. kbtf never loads a module without BTF
/// instead. A rewritten module carries no signature: on a kernel that enforces signatures
/// (module.sig_enforce, lockdown) kbtf refuses before asking the kernel, unless
/// --sign-key/--sign-cert sign the rewritten bytes (the kernel then checks that signature
/// against its own keys, as for any module).
#[derive(clap::Args)]
pub struct Args {
    /// The module file: .ko, or .ko.xz/.ko.zst/.ko.gz as the kernel's `make modules_install`
    /// compresses them (decompressed in memory).
    module: PathBuf,
    /// Module parameters, as for insmod: NAME=VALUE ...
    params: Vec<String>,
    /// The running kernel's vmlinux BTF: raw BTF or ELF.
    #[arg(long, short = 'B', default_value = "/sys/kernel/btf/vmlinux")]
    base: PathBuf,
    /// Do everything but the finit_module call (and loading dependencies), and print what
    /// would be done.
    #[arg(long)]
    dry_run: bool,
    /// Also write the bytes that are (or would be) loaded to this file, for inspection.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Load the module's dependencies first (`depends=` in its .modinfo), each with
    /// `modprobe NAME`, skipping those already loaded.
    #[arg(long)]
    deps: bool,
    /// With --sign-key/--sign-cert, bytes that do not carry the file's own valid signature
    /// (rewritten by the relocation, or unsigned to begin with) are signed before loading.
    #[command(flatten)]
    sign: crate::sign::SignArgs,
}

pub fn run(args: Args) -> Result<u8> {
    let path = &args.module;
    let key = args.sign.load()?;
    let input = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let input = decompress(path, input)?;
    if !input.starts_with(b"\x7fELF") {
        bail!(
            "{}: not an ELF file, so not a kernel module",
            path.display()
        );
    }
    let info = ModInfo::read(path, &input)?;
    let name = info.name.clone();

    let base = kbtf_btf::read_base(&args.base).map_err(|e| {
        anyhow::anyhow!(
            "reading the running kernel's BTF (--base {}): {e}; kbtf load never loads a module without its BTF",
            args.base.display()
        )
    })?;
    let relocated = elf_has_btf_base(path, &input)?;
    let mut bytes = crate::relocate::for_kernel(path, &input, base)?.bytes;
    let mut signature = Signature::of(&input, &bytes)
        .with_context(|| format!("{}: reading the module signature", path.display()))?;
    if let (Some(k), false) = (&key, signature.is_valid()) {
        bytes = crate::sign::sign(path, &bytes, k)?;
        signature = Signature::Resigned;
    }

    if args.dry_run {
        println!("module {name}: {}, {} bytes", path.display(), input.len());
        if relocated {
            println!(
                "btf: .BTF.base relocated onto {}: {} bytes to load",
                args.base.display(),
                bytes.len()
            );
        } else {
            println!("btf: no .BTF.base; the module is loaded as it is");
        }
        let by = key.as_ref().map(crate::sign::signed_with);
        println!("signature: {}", signature.describe(by.as_deref()));
    }
    if let Some(out) = &args.output {
        kbtf_emit::write_atomic(out, &bytes)?;
        if args.dry_run {
            println!("wrote {} ({} bytes)", out.display(), bytes.len());
        }
    }

    if !signature.is_valid() {
        let policy = SigPolicy::read();
        if args.dry_run {
            println!("kernel: {}", policy.describe());
        }
        if let Some(why) = policy.refuses_unsigned() {
            bail!("{}", refusal(&name, signature, &why));
        }
    }

    let params = CString::new(args.params.join(" ")).context("a module parameter holds a NUL")?;
    if args.deps {
        load_deps(&info.depends, args.dry_run)?;
    }
    if args.dry_run {
        println!(
            "dry run: would call finit_module(memfd of {} bytes, {params:?}, 0) for {name}",
            bytes.len()
        );
        return Ok(crate::EXIT_OK);
    }
    let resigned = match (&key, signature) {
        (Some(k), Signature::Resigned) => Some(k.cert().describe()),
        _ => None,
    };
    kmod::load(&bytes, &params)
        .map_err(|e| anyhow::anyhow!("{}", explain(&e, &info, resigned.as_deref())))?;
    Ok(crate::EXIT_OK)
}

/// Largest decompressed module accepted: far above any real module (a -dbg mlx5_core.ko is
/// 61 MB), low enough that a crafted file cannot exhaust memory.
const MAX_DECOMPRESSED: u64 = 1 << 30;

/// The module's bytes: `data` itself, or decompressed when it is xz, zstd or gzip data (as
/// kbuild's `modules_install` compresses modules with `CONFIG_MODULE_COMPRESS_*`). A signed
/// module was signed before it was compressed, so its signature comes out whole.
fn decompress(path: &Path, data: Vec<u8>) -> Result<Vec<u8>> {
    use std::io::Read;
    let Some(kind) = compression(&data) else {
        return Ok(data);
    };
    let mut out = Vec::new();
    let bad = |e: &dyn std::fmt::Display| {
        anyhow::anyhow!(
            "{}: the module is {kind}-compressed and does not decompress: {e}",
            path.display()
        )
    };
    let read = if kind == "xz" {
        lzma_rs::xz_decompress(&mut &data[..], &mut Limited(&mut out)).map_err(|e| bad(&e))
    } else {
        let reader: Box<dyn Read + '_> = if kind == "zstd" {
            Box::new(ruzstd::decoding::StreamingDecoder::new(&data[..]).map_err(|e| bad(&e))?)
        } else {
            Box::new(flate2::read::GzDecoder::new(&data[..]))
        };
        reader
            .take(MAX_DECOMPRESSED + 1)
            .read_to_end(&mut out)
            .map(drop)
            .map_err(|e| bad(&e))
    };
    if out.len() as u64 > MAX_DECOMPRESSED {
        bail!(
            "{}: the module is {kind}-compressed and decompresses to more than {} MiB",
            path.display(),
            MAX_DECOMPRESSED >> 20
        );
    }
    read?;
    Ok(out)
}

/// A writer into a vector that refuses to grow it past [`MAX_DECOMPRESSED`].
struct Limited<'a>(&'a mut Vec<u8>);

impl std::io::Write for Limited<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = (MAX_DECOMPRESSED as usize + 1).saturating_sub(self.0.len());
        let n = buf.len().min(room);
        self.0.extend_from_slice(buf.get(..n).unwrap_or_default());
        if n < buf.len() {
            return Err(std::io::Error::other("output too large"));
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The compression a module file is in, by magic, if any.
fn compression(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"\xfd7zXZ\0") {
        Some("xz")
    } else if data.starts_with(b"\x28\xb5\x2f\xfd") {
        Some("zstd")
    } else if data.starts_with(b"\x1f\x8b") {
        Some("gzip")
    } else {
        None
    }
}

fn elf_has_btf_base(path: &Path, elf: &[u8]) -> Result<bool> {
    Ok(kbtf_emit::elf::section(elf, ".BTF.base")
        .with_context(|| format!("{}: reading the ELF section headers", path.display()))?
        .is_some())
}

/// What the module's `.modinfo` says about it.
struct ModInfo {
    /// `name=`, or the file name without `.ko` for modules too old to carry it.
    name: String,
    /// `depends=`, split at commas.
    depends: Vec<String>,
}

impl ModInfo {
    fn read(path: &Path, elf: &[u8]) -> Result<ModInfo> {
        let modinfo = kbtf_emit::elf::section(elf, ".modinfo")
            .with_context(|| format!("{}: reading the ELF section headers", path.display()))?
            .with_context(|| {
                format!(
                    "{}: no .modinfo section, so not a kernel module",
                    path.display()
                )
            })?;
        let field = |key: &str| {
            modinfo.split(|&b| b == 0).find_map(|f| {
                f.strip_prefix(key.as_bytes())
                    .and_then(|v| v.strip_prefix(b"="))
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            })
        };
        let name = match field("name") {
            Some(n) if !n.is_empty() => n,
            _ => {
                let file = path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                file.strip_suffix(".ko").unwrap_or(&file).replace('-', "_")
            }
        };
        let depends = field("depends")
            .map(|d| {
                d.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Ok(ModInfo { name, depends })
    }
}

/// The signature state of the bytes kbtf would load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signature {
    /// The file's signature, on the file's own bytes: the kernel checks it.
    Unchanged,
    /// The file was signed, but kbtf rewrote it, so it carries no (valid) signature.
    Dropped,
    /// The file had no signature to begin with.
    None,
    /// kbtf signed the bytes with the key the user gave (`--sign-key`).
    Resigned,
}

impl Signature {
    fn of(input: &[u8], output: &[u8]) -> Result<Signature> {
        let signed_in = modsig::parse(input)?.is_some();
        let signed_out = modsig::parse(output)?.is_some();
        Ok(if signed_out && output == input {
            Signature::Unchanged
        } else if signed_in {
            // Rewritten bytes: a signature still appended would be stale, and the kernel
            // rejects a bad signature even when it does not enforce signing.
            Signature::Dropped
        } else {
            Signature::None
        })
    }

    /// Whether the kernel may accept the signature (it checks it against its keys).
    fn is_valid(self) -> bool {
        matches!(self, Signature::Unchanged | Signature::Resigned)
    }

    /// One line for `--dry-run`; `by` says with which key kbtf signed.
    fn describe(self, by: Option<&str>) -> String {
        match self {
            Signature::Unchanged => "kept, on unchanged bytes; the kernel checks it".into(),
            Signature::Dropped => {
                "dropped: kbtf rewrote the module, so the old signature no longer covers it".into()
            }
            Signature::None => "none".into(),
            Signature::Resigned => format!(
                "made by kbtf: {}; the kernel checks it against its own keys",
                by.unwrap_or("signed with --sign-key")
            ),
        }
    }
}

/// The message for a module kbtf will not hand to a kernel that enforces signatures.
fn refusal(name: &str, signature: Signature, why: &str) -> String {
    let what = match signature {
        Signature::Dropped => "kbtf rewrote its BTF, so its signature no longer covers it",
        _ => "it carries no signature",
    };
    format!(
        "not loading {name}: {what}, and the kernel only accepts validly signed modules ({why}); \
         re-sign the module with a key the kernel trusts (kbtf load --sign-key KEY --sign-cert \
         CERT, or scripts/sign-file), or use a kernel of 6.11 or later, which relocates the \
         module's .BTF.base itself, and load the signed module unchanged with modprobe"
    )
}

/// `modprobe DEP` for each dependency not loaded yet.
fn load_deps(depends: &[String], dry_run: bool) -> Result<()> {
    for dep in depends {
        if Path::new("/sys/module").join(dep).exists() {
            if dry_run {
                println!("dependency {dep}: already loaded");
            }
            continue;
        }
        if dry_run {
            println!("dependency {dep}: would run `modprobe {dep}`");
            continue;
        }
        let status = Command::new("modprobe")
            .arg(dep)
            .status()
            .with_context(|| format!("running `modprobe {dep}` for a dependency"))?;
        if !status.success() {
            bail!("loading dependency {dep} with `modprobe {dep}` failed ({status})");
        }
    }
    Ok(())
}

/// One line explaining why finit_module failed; `resigned` names the certificate of the key
/// kbtf signed the module with, if it did.
fn explain(e: &std::io::Error, info: &ModInfo, resigned: Option<&str>) -> String {
    let name = &info.name;
    let deps = if info.depends.is_empty() {
        String::new()
    } else {
        format!(" ({} per its .modinfo)", info.depends.join(", "))
    };
    match e.raw_os_error().unwrap_or(0) {
        libc::EEXIST => format!("{name} is already loaded (finit_module: EEXIST)"),
        libc::ENOENT => format!(
            "the kernel does not know symbols {name} uses (finit_module: ENOENT; dmesg says \
             \"Unknown symbol\"): load its dependencies first{deps} with modprobe, or pass --deps"
        ),
        libc::EKEYREJECTED => match resigned {
            Some(cert) => format!(
                "the kernel rejected the signature kbtf made for {name} with the key of {cert} \
                 (finit_module: EKEYREJECTED, \"Key was rejected by service\"; see dmesg): the \
                 kernel enforces signatures and does not trust that key (it is in none of its \
                 keyrings); sign with a key it trusts, or enroll the certificate (built in, or \
                 as a machine owner key)"
            ),
            None => format!(
                "the kernel rejected {name}'s signature (finit_module: EKEYREJECTED, \"Key was \
                 rejected by service\"; see dmesg): the module is unsigned or its signature is \
                 not valid for these bytes, and the kernel enforces signatures; re-sign it with \
                 a key the kernel trusts"
            ),
        },
        libc::ENOKEY => {
            format!("{name} is signed with a key the kernel does not have (finit_module: ENOKEY)")
        }
        libc::EPERM => format!(
            "the kernel does not permit loading {name} (finit_module: EPERM): loading modules \
             needs root (CAP_SYS_MODULE), module loading may be disabled \
             (/proc/sys/kernel/modules_disabled), or lockdown refuses a module without a valid \
             signature"
        ),
        libc::ENOEXEC => format!(
            "the kernel says {name} is not a valid module for it (finit_module: ENOEXEC; see \
             dmesg): built for another kernel, or a damaged file"
        ),
        _ => format!("loading {name} failed: finit_module: {e} (see dmesg)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_states() {
        let signed = [
            b"\x7fELF module".as_slice(),
            &[0; 12],
            kbtf_emit::elf::MODULE_SIG_MAGIC,
        ]
        .concat();
        assert_eq!(
            Signature::of(&signed, &signed).unwrap(),
            Signature::Unchanged
        );
        assert_eq!(
            Signature::of(&signed, b"\x7fELF rewritten").unwrap(),
            Signature::Dropped
        );
        assert_eq!(
            Signature::of(b"\x7fELF x", b"\x7fELF x").unwrap(),
            Signature::None
        );
        // A rewrite that kept the old signature appended is no better than none.
        let stale = [
            b"\x7fELF other!".as_slice(),
            &[0; 12],
            kbtf_emit::elf::MODULE_SIG_MAGIC,
        ]
        .concat();
        assert_eq!(Signature::of(&signed, &stale).unwrap(), Signature::Dropped);
        assert!(!Signature::Dropped.is_valid() && !Signature::None.is_valid());
    }

    #[test]
    fn errno_messages_name_the_way_out() {
        let info = ModInfo {
            name: "vxlan".into(),
            depends: vec!["udp_tunnel".into(), "ip6_udp_tunnel".into()],
        };
        let msg = |errno| explain(&std::io::Error::from_raw_os_error(errno), &info, None);
        assert_eq!(
            msg(libc::EEXIST),
            "vxlan is already loaded (finit_module: EEXIST)"
        );
        assert!(msg(libc::ENOENT).contains("(udp_tunnel, ip6_udp_tunnel per its .modinfo)"));
        assert!(msg(libc::ENOENT).contains("--deps"));
        assert!(msg(libc::EKEYREJECTED).contains("re-sign"));
        assert!(msg(libc::EKEYREJECTED).contains("Key was rejected by service"));
        let resigned = explain(
            &std::io::Error::from_raw_os_error(libc::EKEYREJECTED),
            &info,
            Some("CN=test, serial 01"),
        );
        assert!(resigned.contains("CN=test") && resigned.contains("does not trust"));
        assert!(msg(libc::EPERM).contains("lockdown"));
    }

    #[test]
    fn refusal_names_sig_enforce_and_the_two_ways_out() {
        let msg = refusal("dummy", Signature::Dropped, "module.sig_enforce=Y");
        assert!(msg.contains("module.sig_enforce=Y"), "{msg}");
        assert!(msg.contains("--sign-key KEY --sign-cert"), "{msg}");
        assert!(msg.contains("6.11") && msg.contains(".BTF.base"), "{msg}");
        assert!(refusal("x", Signature::None, "lockdown=integrity").contains("no signature"));
        assert!(Signature::Resigned.is_valid());
    }

    #[test]
    fn compressed_modules_are_named() {
        assert_eq!(compression(b"\xfd7zXZ\0rest"), Some("xz"));
        assert_eq!(compression(b"\x28\xb5\x2f\xfdrest"), Some("zstd"));
        assert_eq!(compression(b"\x7fELF"), None);
    }
}
