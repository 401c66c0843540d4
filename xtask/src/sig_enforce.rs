//! `cargo xtask sig-enforce`: issue 9's qemu acceptance. The 6.1 kernel boots with
//! `module.sig_enforce=1`, and kbtf must not weaken it:
//!
//! - `dummy`, distilled (so `kbtf load` relocates it, and the relocated bytes are unsigned):
//!   `kbtf load` exits non-zero with a message naming sig_enforce, and never calls
//!   finit_module: the kernel logs nothing about it (it logs "Loading of unsigned module is
//!   rejected" for every unsigned module it is handed, as the `tun` control shows).
//! - `veth`, distilled, loaded with `kbtf load --sign-key/--sign-cert` and the test key of
//!   testdata/sign: kbtf signs the relocated bytes and loads them; the kernel, which does not
//!   trust the test key, refuses with EKEYREJECTED ("Key was rejected by service", dmesg
//!   "Loading of module with unavailable key is rejected").
//! - `ifb`, distilled and relocated on the host by `kbtf relocate --sign-key/--sign-cert`,
//!   insmod'ed: the same refusal, in insmod's words.
//! - Controls: `tun` with its signature stripped (insmod: the kernel itself refuses unsigned
//!   modules, so enforcement is on), and `nlmon` as Debian shipped it (insmod: the kernel
//!   verifies Debian's signature and loads it, with its BTF).

use crate::args::{Args, Positionals};
use crate::cache::{self, Index};
use crate::guest::{self, Machine, TempDir};
use crate::{console, fixtures, kernel_test, ktree, modsig, static_kbtf, util};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const USAGE: &str = "\
cargo xtask sig-enforce [--kbtf PATH] [--static-kbtf PATH] [--log FILE]

Boots the 6.1 kernel with module.sig_enforce=1 and checks that kbtf load refuses an
unsigned relocated module before finit_module (naming sig_enforce), that a module kbtf
re-signs with the test key (kbtf load --sign-key, kbtf relocate --sign-key) is refused by
the kernel with \"Key was rejected by service\", and, as controls, that the kernel refuses
an unsigned module itself and loads a module with Debian's signature.
  --kbtf PATH         host kbtf (default: cargo build --release)
  --static-kbtf PATH  static kbtf for the guest (default: build it)
  --log FILE          save the serial console log";

/// The kernel's notice for an unsigned module under enforcement (kernel/module/signing.c).
const KERNEL_UNSIGNED: &str = "Loading of unsigned module is rejected";
/// ... and for a signature by a key the kernel does not have.
const KERNEL_UNKNOWN_KEY: &str = "Loading of module with unavailable key is rejected";
/// strerror(EKEYREJECTED).
const KEY_REJECTED: &str = "Key was rejected by service";

pub fn main(raw: &[String]) -> Result<()> {
    let Some(a) = Args::task(
        raw,
        &["kbtf", "static-kbtf", "log"],
        &[],
        Positionals::None,
        USAGE,
    )?
    else {
        return Ok(());
    };
    let index = Index::load()?;
    let tree = kernel_test::kernel_tree(None)?;
    let kbtf = match a.opt("kbtf") {
        Some(p) => PathBuf::from(p),
        None => crate::test::kbtf_release_bin()?,
    };
    let guest_kbtf = match a.opt("static-kbtf") {
        Some(p) => {
            let p = PathBuf::from(p);
            static_kbtf::check_static(&p)?;
            p
        }
        None => static_kbtf::build()?,
    };
    let work = TempDir::new("sig-enforce")?;
    let w = &work.path;
    let vmlinux_btf = cache::KERNEL61.path(&index, "vmlinux_btf")?;
    let keys = fixtures::repo_root().join("testdata/sign");
    let (key, cert) = (keys.join("test-key.pem"), keys.join("test-cert.pem"));

    let shipped = |name: &str| -> Result<PathBuf> {
        let (src, _) = tree
            .find_module(name)?
            .with_context(|| format!("{name} not in the 6.1 modules.dep"))?;
        let dst = w.join(format!("{name}.ko"));
        ktree::decompress_module(&src, &dst)?;
        Ok(dst)
    };
    let host = |args: &[&std::ffi::OsStr]| util::run(Command::new(&kbtf).args(args));
    let os = |p: &Path| p.as_os_str().to_owned();
    let distill = |name: &str| -> Result<PathBuf> {
        let out = w.join(format!("{name}-distilled.ko"));
        host(&[
            "distill".as_ref(),
            "-B".as_ref(),
            &os(&vmlinux_btf),
            &os(&shipped(name)?),
            "-o".as_ref(),
            &os(&out),
        ])?;
        Ok(out)
    };
    let dummy = distill("dummy")?;
    let veth = distill("veth")?;
    let ifb = w.join("ifb-resigned.ko");
    host(&[
        "relocate".as_ref(),
        "-B".as_ref(),
        &os(&vmlinux_btf),
        &os(&distill("ifb")?),
        "-o".as_ref(),
        &os(&ifb),
        "--sign-key".as_ref(),
        &os(&key),
        "--sign-cert".as_ref(),
        &os(&cert),
    ])?;
    let tun = shipped("tun")?;
    let nlmon = shipped("nlmon")?;

    let mut c = guest_initramfs(
        &guest_kbtf,
        &[("test-key.pem", &key), ("test-cert.pem", &cert)],
        &[
            ("dummy-distilled.ko", &dummy),
            ("veth-distilled.ko", &veth),
            ("ifb-resigned.ko", &ifb),
        ],
    )?;
    let tun_bytes = util::read(&tun)?;
    c.file("mod/tun-unsigned.ko", 0o644, modsig::strip(&tun_bytes)?);
    c.file("mod/nlmon.ko", 0o644, &util::read(&nlmon)?);
    let mut script = String::from(guest::INIT_PRELUDE);
    script.push_str(kernel_test::INIT_FUNCTIONS);
    script.push_str(
        "echo \"KBTF-EXEC-OUT sig_enforce=$(cat /sys/module/module/parameters/sig_enforce)\"\n\
         load dummy /bin/kbtf load /mod/dummy-distilled.ko\n\
         load veth /bin/kbtf load --sign-key /keys/test-key.pem --sign-cert /keys/test-cert.pem /mod/veth-distilled.ko\n\
         load ifb insmod /mod/ifb-resigned.ko\n\
         load tun insmod /mod/tun-unsigned.ko\n\
         load nlmon insmod /mod/nlmon.ko\n\
         echo KBTF-INSMODS-DONE > /dev/kmsg\n\
         echo \"KBTF-EXEC-OUT loaded: $(cut -d' ' -f1 /proc/modules | tr '\\n' ' ')\"\n\
         report nlmon nodump\n",
    );
    script.push_str(guest::INIT_EPILOGUE);
    c.file("init", 0o755, script.as_bytes());
    let initrd = w.join("initramfs.cpio");
    c.write_to(&initrd)?;

    let m = Machine {
        append: Some("module.sig_enforce=1".into()),
        log: a.opt("log").map(PathBuf::from),
        ..Machine::default()
    };
    println!(
        "boot {} with module.sig_enforce=1: dummy (kbtf load), veth (kbtf load --sign-key), ifb (re-signed by kbtf relocate), tun (unsigned), nlmon (Debian's signature)",
        tree.vmlinuz.display()
    );
    let out = guest::boot(&m, &tree.vmlinuz, &initrd, w)?;
    let p = console::parse(&out.text);
    if !p.done {
        guest::print_console_tail(&out.text, 40);
        bail!("sig-enforce: the guest did not finish");
    }
    let failures = judge(&p);
    if !failures.is_empty() {
        bail!("sig-enforce: {}", failures.join("; "));
    }
    println!("sig-enforce: all checks passed");
    Ok(())
}

/// A busybox initramfs with the static kbtf at /bin/kbtf, `keys` under /keys (the first, a
/// private key, readable by root only) and `modules` under /mod.
pub fn guest_initramfs(
    guest_kbtf: &Path,
    keys: &[(&str, &Path)],
    modules: &[(&str, &Path)],
) -> Result<crate::initramfs::Cpio> {
    let mut c = guest::base_initramfs(&Machine::default().busybox)?;
    c.dir("mod");
    c.dir("keys");
    c.file("bin/kbtf", 0o755, &util::read(guest_kbtf)?);
    for (i, (name, path)) in keys.iter().enumerate() {
        let mode = if i == 0 { 0o600 } else { 0o644 };
        c.file(&format!("keys/{name}"), mode, &util::read(path)?);
    }
    for (name, path) in modules {
        c.file(&format!("mod/{name}"), 0o644, &util::read(path)?);
    }
    Ok(c)
}

/// The verdicts, printed; returns the failures.
fn judge(p: &console::Parsed) -> Vec<String> {
    let mut bad = Vec::new();
    let mut check = |ok: bool, what: String| {
        println!("{} {what}", if ok { "ok" } else { "FAIL" });
        if !ok {
            bad.push(what);
        }
    };
    let exec = |prefix: &str| {
        p.exec_out
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or("")
            .to_string()
    };
    let enforce = exec("sig_enforce=");
    check(
        enforce == "Y",
        format!("the kernel enforces signatures (sig_enforce={enforce})"),
    );
    let loaded = exec("loaded: ");
    let is_loaded = |m: &str| loaded.split_whitespace().any(|l| l == m);
    let (rc, out) = (|m: &str| p.rc(m), |m: &str| p.out(m));
    let kmsg = |m: &str| p.kmsg_for(m).join(" | ");

    // kbtf load refuses first: no finit_module, so no kernel notice.
    check(
        rc("dummy").is_some_and(|r| r != 0)
            && out("dummy").contains("sig_enforce")
            && !kmsg("dummy").contains("is rejected")
            && !is_loaded("dummy"),
        format!(
            "dummy: kbtf load refuses the unsigned relocated module before finit_module (exit {:?}: {}; kernel: {:?})",
            rc("dummy"),
            out("dummy"),
            kmsg("dummy")
        ),
    );
    for (m, how) in [
        ("veth", "kbtf load --sign-key"),
        ("ifb", "kbtf relocate --sign-key, insmod"),
    ] {
        check(
            rc(m).is_some_and(|r| r != 0)
                && out(m).contains(KEY_REJECTED)
                && kmsg(m).contains(KERNEL_UNKNOWN_KEY)
                && !is_loaded(m),
            format!(
                "{m}: re-signed with the test key ({how}), the kernel refuses it (exit {:?}: {}; kernel: {})",
                rc(m),
                out(m),
                kmsg(m)
            ),
        );
    }
    check(
        rc("tun").is_some_and(|r| r != 0)
            && out("tun").contains(KEY_REJECTED)
            && kmsg("tun").contains(KERNEL_UNSIGNED),
        format!(
            "tun (control): the kernel itself refuses an unsigned module (exit {:?}: {}; kernel: {})",
            rc("tun"),
            out("tun"),
            kmsg("tun")
        ),
    );
    let btf = p.results.get("nlmon").is_some_and(|r| r.present);
    check(
        rc("nlmon") == Some(0) && is_loaded("nlmon") && btf,
        format!(
            "nlmon (control): Debian's signature verifies and the module loads with BTF (exit {:?}, /sys/kernel/btf/nlmon present: {btf})",
            rc("nlmon")
        ),
    );
    bad
}
