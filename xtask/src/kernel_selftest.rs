//! `cargo xtask kernel-selftest`: checks the kernel-test harness itself on a real kernel:
//! shipped modules load with BTF, a corrupted .BTF is reported with the kernel's message.

use crate::args::{Args, Positionals};
use crate::elf::Elf;
use crate::guest::Machine;
use crate::kernel_test::{self, Options, Outcome};
use crate::{btf, util};
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};

pub const USAGE: &str = "\
cargo xtask kernel-selftest [--kernel DIR|FILE] [--timeout SECS]

Three boots: (1) dummy veth tun as shipped must all be ok; (2) dummy.ko with the
name offset of its first BTF type corrupted, signature stripped, must FAIL with
the verifier's `Invalid name_offset`; (3) the same module still signed must
FAIL insmod (`Key was rejected by service`).";

pub fn main(raw: &[String]) -> Result<()> {
    let Some(a) = Args::task(raw, &["kernel", "timeout"], &[], Positionals::None, USAGE)? else {
        return Ok(());
    };
    let kernel = a.opt("kernel").map(PathBuf::from);
    let timeout = match a.opt("timeout") {
        Some(t) => t
            .parse()
            .with_context(|| format!("--timeout: not a number: {t:?}"))?,
        None => Machine::default().timeout,
    };
    let tree = kernel_test::kernel_tree(kernel.as_deref())?;
    let Some((dummy, _)) = tree.find_module("dummy")? else {
        bail!("no dummy module in {}", tree.modules_base().display());
    };
    let work = std::env::temp_dir().join(format!("kbtf-selftest-{}", std::process::id()));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let res = checks(kernel, timeout, &dummy, &work);
    let _ = std::fs::remove_dir_all(&work);
    let (passed, failed) = res?;
    println!("kernel-selftest: {passed} passed, {failed} failed");
    if failed > 0 {
        bail!("kernel-selftest failed");
    }
    Ok(())
}

fn checks(kernel: Option<PathBuf>, timeout: u64, dummy: &Path, work: &Path) -> Result<(u32, u32)> {
    let bad = work.join("dummy.ko");
    let plain = work.join("dummy.plain.ko");
    crate::ktree::decompress_module(dummy, &plain)?;
    corrupt_first_name(&plain, &bad)?;
    let base = Options {
        kernel,
        machine: Machine {
            timeout,
            ..Machine::default()
        },
        ..Options::default()
    };
    let mut passed = 0;
    let mut failed = 0;
    let mut check = |what: &str, ok: bool| {
        println!("{} {what}", if ok { "PASS" } else { "FAILED" });
        if ok {
            passed += 1
        } else {
            failed += 1
        }
    };

    let r = kernel_test::run(&base)?;
    check(
        "shipped dummy veth tun load with BTF",
        r.len() == 3 && r.iter().all(|o| o.ok),
    );

    let bad_arg = bad.display().to_string();
    let r = kernel_test::run(&Options {
        modules: vec![bad_arg.clone()],
        strip_sig: true,
        ..clone(&base)
    })?;
    check(
        "corrupted .BTF (unsigned) is reported with the kernel's message",
        single_fail(&r, "Invalid name_offset"),
    );

    let r = kernel_test::run(&Options {
        modules: vec![bad_arg],
        ..clone(&base)
    })?;
    check(
        "corrupted module with its old signature is rejected",
        single_fail(&r, "Key was rejected"),
    );
    Ok((passed, failed))
}

fn clone(o: &Options) -> Options {
    Options {
        kernel: o.kernel.clone(),
        machine: o.machine.clone(),
        ..Options::default()
    }
}

fn single_fail(r: &[Outcome], needle: &str) -> bool {
    r.len() == 1 && !r[0].ok && r[0].name == "dummy" && r[0].line.contains(needle)
}

/// Copies `src` to `dst` with the name offset of BTF type #1 set past the string section.
pub fn corrupt_first_name(src: &Path, dst: &Path) -> Result<()> {
    let elf = Elf::open(src)?;
    let sec = elf
        .section(".BTF")
        .with_context(|| format!("{}: no .BTF", src.display()))?
        .clone();
    let mut data = util::read(src)?;
    let off = sec.offset as usize;
    let btf_bytes = data
        .get(off..off + sec.size as usize)
        .with_context(|| format!("{}: .BTF out of file", src.display()))?;
    let h = btf::header(btf_bytes)?;
    ensure!(h.type_len >= 12, "{}: no BTF types", src.display());
    let t = off + h.hdr_len as usize + h.type_off as usize;
    let bad = 0x7f_ffffu32;
    let bad = if h.big_endian {
        bad.to_be_bytes()
    } else {
        bad.to_le_bytes()
    };
    data[t..t + 4].copy_from_slice(&bad);
    std::fs::write(dst, data).with_context(|| format!("writing {}", dst.display()))
}
