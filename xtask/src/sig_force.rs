//! `cargo xtask sig-force`: issue 9's last acceptance line, on the kernel `kbuild-test` built
//! (CONFIG_MODULE_SIG_FORCE=y, signed with its own build-time key): a module whose BTF
//! `kbtf distill` rewrote (so unsigned) is refused by `kbtf load` without a key, and loaded
//! with its BTF by `kbtf load --sign-key/--sign-cert` with the kernel's own signing key.

use crate::args::{Args, Positionals};
use crate::cache::Index;
use crate::guest::{self, Machine, TempDir};
use crate::{console, kernel_test, static_kbtf, util};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const USAGE: &str = "\
cargo xtask sig-force [--kbtf PATH] [--static-kbtf PATH]

Boots the kernel built by `cargo xtask kbuild-test` (MODULE_SIG_FORCE, its own key): kbtf
load refuses an unsigned distilled dummy (naming sig_enforce), and loads a distilled veth
re-signed with the build's signing key (--sign-key/--sign-cert), with its BTF.";

pub fn main(raw: &[String]) -> Result<()> {
    let Some(a) = Args::task(raw, &["kbtf", "static-kbtf"], &[], Positionals::None, USAGE)? else {
        return Ok(());
    };
    let index = Index::load()?;
    let kbtf = crate::test::kbtf_bin(a.opt("kbtf"))?;
    let guest_kbtf = match a.opt("static-kbtf") {
        Some(p) => PathBuf::from(p),
        None => static_kbtf::build()?,
    };
    let dir = index
        .path("kbuild61_dir")
        .context("no kernel from `cargo xtask kbuild-test` in the cache: run it first")?;
    let root = index.path("kbuild61_root")?;
    let release = index
        .get("kbuild61_release")
        .context("kbuild61_release")?
        .to_string();
    let vmlinuz = index.path("kbuild61_vmlinuz")?;
    let key = index.path("kbuild61_signing_key")?;
    let cert = index.path("kbuild61_signing_cert")?;
    let vmlinux = dir.join("vmlinux");
    let mods = root.join(format!("lib/modules/{release}/kernel/drivers/net"));

    let work = TempDir::new("sig-force")?;
    let w = &work.path;
    let distill = |name: &str| -> Result<PathBuf> {
        let out = w.join(format!("{name}-distilled.ko"));
        util::run(
            Command::new(&kbtf)
                .args(["distill", "-B"])
                .arg(&vmlinux)
                .arg(mods.join(format!("{name}.ko")))
                .arg("-o")
                .arg(&out),
        )?;
        Ok(out)
    };
    let dummy = distill("dummy")?;
    let veth = distill("veth")?;

    let mut c = crate::sig_enforce::guest_initramfs(
        &guest_kbtf,
        &[("key.pem", &key), ("cert.x509", &cert)],
        &[("dummy-distilled.ko", &dummy), ("veth-distilled.ko", &veth)],
    )?;
    let mut script = String::from(guest::INIT_PRELUDE);
    script.push_str(kernel_test::INIT_FUNCTIONS);
    script.push_str(
        "echo \"KBTF-EXEC-OUT sig_enforce=$(cat /sys/module/module/parameters/sig_enforce)\"\n\
         load dummy /bin/kbtf load /mod/dummy-distilled.ko\n\
         load veth /bin/kbtf load --sign-key /keys/key.pem --sign-cert /keys/cert.x509 /mod/veth-distilled.ko\n\
         echo KBTF-INSMODS-DONE > /dev/kmsg\n\
         report veth nodump\n",
    );
    script.push_str(guest::INIT_EPILOGUE);
    c.file("init", 0o755, script.as_bytes());
    let initrd = w.join("initramfs.cpio");
    c.write_to(&initrd)?;
    println!(
        "boot {} (MODULE_SIG_FORCE): dummy (kbtf load, unsigned), veth (kbtf load --sign-key with the build's key)",
        vmlinuz.display()
    );
    let out = guest::boot(&Machine::default(), &vmlinuz, &initrd, w)?;
    let p = console::parse(&out.text);
    if !p.done {
        guest::print_console_tail(&out.text, 40);
        bail!("sig-force: the guest did not finish");
    }
    judge(&p, &vmlinux)
}

fn judge(p: &console::Parsed, _vmlinux: &Path) -> Result<()> {
    let mut bad = Vec::new();
    let mut check = |ok: bool, what: String| {
        println!("{} {what}", if ok { "ok" } else { "FAIL" });
        if !ok {
            bad.push(what);
        }
    };
    let enforce = p
        .exec_out
        .iter()
        .find_map(|l| l.strip_prefix("sig_enforce="))
        .unwrap_or("")
        .to_string();
    check(
        enforce == "Y",
        format!("the kernel enforces signatures (sig_enforce={enforce})"),
    );
    let (rc, out) = (|m: &str| p.rc(m), |m: &str| p.out(m));
    check(
        rc("dummy").is_some_and(|r| r != 0) && out("dummy").contains("sig_enforce"),
        format!(
            "dummy: kbtf load refuses the unsigned distilled module (exit {:?}: {})",
            rc("dummy"),
            out("dummy")
        ),
    );
    let btf = p.results.get("veth").is_some_and(|r| r.present);
    check(
        rc("veth") == Some(0) && btf,
        format!(
            "veth: kbtf load --sign-key (the build's own key) relocates, signs and loads it; /sys/kernel/btf/veth present={btf} (exit {:?} {}; kernel: {})",
            rc("veth"),
            out("veth"),
            p.kmsg_for("veth").join(" | ")
        ),
    );
    if !bad.is_empty() {
        bail!("sig-force: {}", bad.join("; "));
    }
    println!("sig-force: all checks passed");
    Ok(())
}
