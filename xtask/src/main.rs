//! kbtf developer tasks: `cargo xtask <task>`.

mod args;
mod arm64;
mod bench;
mod broken;
mod btf;
mod btf_info;
mod btf_load;
mod cache;
mod console;
mod crash_safety;
mod debs;
mod differential;
mod dwarf_fixtures;
mod elf;
mod encode_test;
mod fixtures;
mod foreign;
mod fuzz;
mod guest;
mod headers;
mod initramfs;
mod install_rule;
mod kbuild;
mod kernel612;
mod kernel_selftest;
mod kernel_test;
mod ktree;
mod mirror;
mod modsig;
mod oot;
mod pahole_next;
mod pahole_ref;
mod regen;
mod resilience;
mod sig_enforce;
mod sig_force;
mod sizes;
mod static_kbtf;
mod test;
mod testdata;
mod util;
mod vmlinuz;
mod wrong_base;

use anyhow::Result;

const USAGE: &str = "\
usage: cargo xtask <task> [options]
tasks:
  testdata      fetch/unpack test kernels into the cache, write kernels/index.txt
  fixtures      regenerate testdata/ fixtures from the cache
  kernel-test   boot a kernel in qemu, insmod modules, report their /sys/kernel/btf
  kernel-selftest  check the kernel-test harness (good and corrupted module BTF)
  btf-info      FILE...: check raw BTF files and count their types
  pahole-next   Debian 13's pahole 1.30, unpacked and run without installing (decl_tag_kfuncs' reference)
  pahole-ref    pahole 1.24's BTF of the 6.1 -dbg vmlinux and modules (the encoder's reference)
  resilience    issue 5's acceptance: distilled module BTF across rebuilds, judged by 6.1 and 6.12
  sig-enforce   issue 9's acceptance: 6.1 with module.sig_enforce=1 refuses what kbtf must not load
  sig-force     issue 9: the kbuild-test kernel (MODULE_SIG_FORCE) loads a module kbtf load re-signed
  sizes         bytes of split, distilled, standalone and full module BTF over all 6.1 modules
  btf-load      FILE...: boot a kernel, load raw BTF blobs with BPF_BTF_LOAD, report verdicts
  wrong-base    regenerate module BTF against the older build's vmlinux (the field bug)
  encode-test   the 6.1 kernel judges BTF kbtf encoded: vmlinux (BPF_BTF_LOAD) and 24 modules
  arm64         Debian's arm64 6.1 kernel: vmlinux and modules equal pahole's, the kernel judges 24
  s390x         Debian's big-endian s390x 6.12 kernel: vmlinux and modules equal pahole's, the kernel judges them
  ppc64el       Debian's ppc64el 6.12 kernel: vmlinux and modules equal pahole's, the kernel judges them
  riscv64       Debian 13's riscv64 6.12 kernel: vmlinux and modules equal pahole's, the kernel judges them
  oot-build     build testdata/oot/kbtf_sample against Debian's headers only (no vmlinux)
  kbuild-test   build linux-source-6.1 with PAHOLE=kbtf, boot it, load every module; compare with pahole
  regen         TREE [kbtf regen options]: kbtf regen (--acceptance: the 6.1 -dbg modules, timed)
  crash-safety  SIGKILL kbtf -J / relocate at random points (200 each): module old or new, never torn
  differential  10,000 mutated BTF blobs: kbtf check against the 6.1 kernel's BPF_BTF_LOAD
  fuzz          run the cargo-fuzz targets of fuzz/ (--seconds N each), print executions
  test          the README's test command: fast tier, then the real-kernel tier
  bench         kbtf against pahole 1.24 (vmlinux, every module, the largest): docs/benchmarks.md
run `cargo xtask <task> --help` for a task's options";

fn main() {
    if let Err(e) = real_main() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((task, rest)) = argv.split_first() else {
        println!("{USAGE}");
        std::process::exit(2);
    };
    match task.as_str() {
        "testdata" => testdata::main(rest),
        "kernel-test" => kernel_test::main(rest),
        "kernel-selftest" => kernel_selftest::main(rest),
        "fixtures" => fixtures::main(rest),
        "fuzz" => fuzz::main(rest),
        "differential" => differential::main(rest),
        "crash-safety" => crash_safety::main(rest),
        "btf-info" => btf_info::main(rest),
        "btf-load" => btf_load::main(rest),
        "test" => test::main(rest),
        "encode-test" => encode_test::main(rest),
        "arm64" => arm64::main(rest),
        "s390x" => kernel612::main(&kernel612::S390X, rest),
        "ppc64el" => kernel612::main(&kernel612::PPC64EL, rest),
        "riscv64" => kernel612::main(&kernel612::RISCV64, rest),
        "wrong-base" => wrong_base::main(rest),
        "pahole-ref" => pahole_ref::main(rest),
        "pahole-next" => pahole_next::main(rest),
        "sizes" => sizes::main(rest),
        "resilience" => resilience::main(rest),
        "sig-enforce" => sig_enforce::main(rest),
        "sig-force" => sig_force::main(rest),
        "oot-build" => oot::main(rest),
        "kbuild-test" => kbuild::main(rest),
        "regen" => regen::main(rest),
        "bench" => bench::main(rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => {
            eprintln!("unknown task {other:?}\n{USAGE}");
            std::process::exit(2);
        }
    }
}
