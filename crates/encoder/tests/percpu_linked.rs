//! Per-CPU variables of a linked image whose `.data..percpu` is not at address 0. An x86_64
//! vmlinux links that section at 0, so a symbol's `st_value` is already its offset in it; an
//! arm64 vmlinux (`ET_DYN`) links it among the other data, and pahole 1.24 makes every
//! symbol outside `ET_REL` section-relative before matching DWARF addresses against it.
//! Before that was done here too, Debian's arm64 6.1 vmlinux lost all 291 of its per-CPU
//! VARs and the `.data..percpu` DATASEC; it is now byte-identical to pahole's.
//!
//! The images are linked by gcc at test time (skipped, with a note, without gcc, unless
//! `KBTF_REQUIRE_TOOLS` is set, as `cargo xtask test` sets it) and, where pahole is on PATH
//! (also required under `KBTF_REQUIRE_TOOLS`), compared with pahole's BTF for them.

mod common;

use std::path::Path;
use std::process::Command;

use kbtf_btf::{Btf, TypeData};
use kbtf_encoder::{encode, EncodeOptions};
use object::{Object, ObjectSection};

const SOURCE: &str = r#"
int plain_data = 1;
__attribute__((section(".data..percpu"))) int pcpu_first = 2;
__attribute__((section(".data..percpu"))) long pcpu_second[3] = { 1, 2, 3 };
static __attribute__((section(".data..percpu"), used)) short pcpu_static = 4;
void entry(void) {}
"#;

/// The `.data..percpu` DATASEC as `name(linkage)@offset+size` entries, or "none".
fn percpu_datasec(btf: &Btf) -> String {
    for (_, t) in btf.iter() {
        if let TypeData::Datasec { vars, .. } = &t.data {
            if btf.str_at(t.name_off) == ".data..percpu" {
                return common::datasec_entries(btf, vars).join(" ");
            }
        }
    }
    "none".to_owned()
}

/// Where the image's sections go: gcc's default script would merge `.data..percpu` into
/// `.data` (its `.data.*`), as the kernel's own script does not.
const LINKER_SCRIPT: &str = "SECTIONS {
  . = 0x400000;
  .text : { *(.text*) }
  .data : { *(.data) }
  .data..percpu : { *(.data..percpu) }
  .bss : { *(.bss*) }
}
";

/// Links `object` with `gcc -nostdlib`, [`LINKER_SCRIPT`] and `how` into `out`.
fn link(object: &Path, how: &[&str], out: &Path) {
    let script = out.with_extension("lds");
    std::fs::write(&script, LINKER_SCRIPT).unwrap();
    let status = Command::new("gcc")
        .arg("-nostdlib")
        .arg(format!("-Wl,-T,{}", script.display()))
        .args(how)
        .arg("-o")
        .arg(out)
        .arg(object)
        .status()
        .expect("running gcc");
    assert!(status.success(), "gcc {how:?} failed");
}

#[test]
fn per_cpu_section_away_from_address_zero() {
    let Some((dir, o)) = common::compile(SOURCE, &[]) else {
        return;
    };
    let with_pahole = kbtf_testkit::have_tool("pahole");
    let want = "pcpu_first(global)@0+4 pcpu_second(global)@16+24 pcpu_static(static)@40+2";
    for (kind, how) in [
        ("ET_EXEC", &["-static", "-Wl,-e,entry"][..]),
        ("ET_DYN", &["-shared"][..]),
    ] {
        let image = dir.path().join(kind);
        link(&o, how, &image);
        let data = std::fs::read(&image).unwrap();
        let file = object::File::parse(&*data).unwrap();
        let addr = file.section_by_name(".data..percpu").unwrap().address();
        assert_ne!(addr, 0, "{kind}: the test needs the section away from 0");

        let btf = encode(&image, &data, None, &EncodeOptions::default()).unwrap();
        assert_eq!(percpu_datasec(&btf), want, "{kind}");
        // The relocatable object, whose symbols are section-relative already.
        let obj = std::fs::read(&o).unwrap();
        let btf = encode(&o, &obj, None, &EncodeOptions::default()).unwrap();
        assert_eq!(percpu_datasec(&btf), want, "{kind}: ET_REL");

        if with_pahole {
            let out = dir.path().join(format!("{kind}.pahole.btf"));
            let status = Command::new("pahole")
                .arg("-J")
                .arg(format!("--btf_encode_detached={}", out.display()))
                .arg(&image)
                .status()
                .expect("running pahole");
            assert!(status.success(), "pahole -J {kind}");
            let theirs = Btf::parse(&std::fs::read(&out).unwrap(), None).unwrap();
            assert_eq!(percpu_datasec(&theirs), want, "{kind}: pahole");
        }
    }
}

/// pahole 1.28's rule (`pahole_128_vars`, kbtf reporting v1.28 or later) takes per-CPU
/// variables from their DWARF locations; pahole 1.24's needs each one's ELF symbol. With
/// `pcpu_static`'s symbol stripped, only the newer rule finds it.
#[test]
fn pahole_1_28_rule_needs_no_symbol() {
    let Some((dir, o)) = common::compile(SOURCE, &[]) else {
        return;
    };
    let image = dir.path().join("image");
    link(&o, &["-static", "-Wl,-e,entry"], &image);
    let status = Command::new("objcopy")
        .arg("--strip-symbol=pcpu_static")
        .arg(&image)
        .status()
        .expect("running objcopy");
    assert!(status.success());
    let data = std::fs::read(&image).unwrap();
    let btf = encode(&image, &data, None, &EncodeOptions::default()).unwrap();
    assert_eq!(
        percpu_datasec(&btf),
        "pcpu_first(global)@0+4 pcpu_second(global)@16+24"
    );
    let newer = EncodeOptions {
        pahole_128_vars: true,
        ..EncodeOptions::default()
    };
    let btf = encode(&image, &data, None, &newer).unwrap();
    assert_eq!(
        percpu_datasec(&btf),
        "pcpu_first(global)@0+4 pcpu_second(global)@16+24 pcpu_static(static)@40+2"
    );
    // Only the per-CPU section: `plain_data` (in `.data`) has no VAR.
    assert!(!btf
        .iter()
        .any(|(id, t)| matches!(t.data, TypeData::Var { .. }) && btf.name_of(id) == "plain_data"));
}
