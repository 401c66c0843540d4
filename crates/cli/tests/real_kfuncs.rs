//! `--btf_features=...,decl_tag_kfuncs` on Debian's 6.12 `-dbg` kernel, whose kfunc sets carry
//! `BTF_SET8_KFUNCS` (Linux 6.9+), against pahole 1.30 (Debian 13's, unpacked by `cargo xtask
//! pahole-next`; `KBTF_PAHOLE_NEXT` names its wrapper) run single-threaded with the same flags:
//!
//! - vmlinux: the same (tag, FUNC name) pairs as pahole 1.30, the same kfunc names as the
//!   kernel's own kfunc sets resolved through the ids resolve_btfids wrote into `.BTF_ids`
//!   (read against Debian's `.BTF`: independent of the symbols kbtf reads), the kernel's rules,
//!   and the same bytes for `-j1` and `-j2`;
//! - every module with a kfunc set, split on Debian's vmlinux BTF: the same pairs as pahole 1.30.
//!
//! The rest of pahole 1.30's output differs by its newer function rules (docs/encoder.md), so
//! only the tags are compared. Ignored by default: `cargo xtask test` runs them.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use kbtf_btf::validate::validate;
use kbtf_btf::{read_file, Btf, TypeData};
use kbtf_testkit::env_path;
use object::{Object, ObjectSection, ObjectSymbol};

const FEATURES: &str =
    "--btf_features=encode_force,var,float,enum64,decl_tag,type_tag,decl_tag_kfuncs";

/// `(tag, FUNC name)` of every `bpf_kfunc` and `bpf_fastcall` DECL_TAG.
fn kfunc_tags(btf: &Btf) -> BTreeSet<(String, String)> {
    btf.iter()
        .filter_map(|(_, t)| match t.data {
            TypeData::DeclTag {
                ty,
                component_idx: -1,
            } => {
                let tag = btf.str_at(t.name_off).into_owned();
                let func = btf.type_by_id(ty)?;
                (matches!(func.data, TypeData::Func { .. })
                    && (tag == "bpf_kfunc" || tag == "bpf_fastcall"))
                    .then(|| (tag, btf.str_at(func.name_off).into_owned()))
            }
            _ => None,
        })
        .collect()
}

fn run_ok(bin: &str, args: &[&str]) {
    let (code, _, stderr) = kbtf_testkit::run(bin, args);
    assert_eq!(code, 0, "{bin} {args:?}: {stderr}");
}

fn kbtf(input: &Path, out: &Path, base: Option<&Path>, jobs: &str) -> Btf {
    let out_arg = format!("--btf_encode_detached={}", out.display());
    let mut args = vec!["-J", "--lang_exclude=rust", jobs, FEATURES, &out_arg];
    let base_s;
    if let Some(b) = base {
        base_s = b.display().to_string();
        args.extend(["--btf_base", &base_s]);
    }
    let input = input.display().to_string();
    args.push(&input);
    run_ok(env!("CARGO_BIN_EXE_kbtf"), &args);
    read_file(out, base.map(base_btf)).unwrap().btf
}

fn pahole_next(input: &Path, out: &Path, base: Option<&Path>) -> Btf {
    let pahole = env_path("KBTF_PAHOLE_NEXT");
    let _ = std::fs::remove_file(out);
    let mut cmd = std::process::Command::new(&pahole);
    cmd.env("LLVM_OBJCOPY", "objcopy")
        .arg("--btf_encode_detached")
        .arg(out)
        .args(["--lang_exclude=rust", FEATURES]);
    if let Some(b) = base {
        cmd.arg("--btf_base").arg(b);
    }
    let status = cmd.arg(input).output().unwrap();
    assert!(
        status.status.success(),
        "{} on {}: {}",
        pahole.display(),
        input.display(),
        String::from_utf8_lossy(&status.stderr)
    );
    read_file(out, base.map(base_btf)).unwrap().btf
}

fn base_btf(path: &Path) -> Arc<Btf> {
    Arc::new(read_file(path, None).unwrap().btf)
}

/// The names of the kfuncs in the kernel's own kfunc sets: each set's ids, written by
/// resolve_btfids, looked up in the vmlinux's `.BTF`.
fn kernel_kfunc_names(vmlinux: &Path) -> BTreeSet<String> {
    let data = std::fs::read(vmlinux).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let ids = file.section_by_name(".BTF_ids").unwrap();
    let (addr, bytes) = (ids.address(), ids.data().unwrap());
    let btf = Btf::parse(file.section_by_name(".BTF").unwrap().data().unwrap(), None).unwrap();
    let word = |at: u64| {
        let at = at as usize;
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
    };
    let mut names = BTreeSet::new();
    for sym in file.symbols() {
        let name = sym.name().unwrap_or("");
        if sym.section_index() != Some(ids.index()) || !name.starts_with("__BTF_ID__set8__") {
            continue;
        }
        let off = sym.address() - addr;
        if word(off + 4) & 1 == 0 {
            continue;
        }
        for i in 0..u64::from(word(off)) {
            let id = word(off + 8 + 8 * i);
            names.insert(btf.name_of(id).into_owned());
        }
    }
    names
}

#[test]
#[ignore]
fn vmlinux_612_kfunc_tags_match_pahole_1_30_and_the_kernel() {
    let vmlinux = env_path("KBTF_612_DBG_VMLINUX");
    let dir = tempfile::tempdir().unwrap();
    let one = kbtf(&vmlinux, &dir.path().join("j1.btf"), None, "-j1");
    let two = kbtf(&vmlinux, &dir.path().join("j2.btf"), None, "-j2");
    assert!(
        std::fs::read(dir.path().join("j1.btf")).unwrap()
            == std::fs::read(dir.path().join("j2.btf")).unwrap(),
        "-j1 and -j2 differ"
    );
    drop(two);
    let problems = validate(&one);
    assert!(problems.is_empty(), "{problems:?}");
    let ours = kfunc_tags(&one);
    assert!(ours.len() >= 100, "only {} kfunc tags", ours.len());
    let theirs = kfunc_tags(&pahole_next(&vmlinux, &dir.path().join("p.btf"), None));
    assert_eq!(ours, theirs, "kfunc tags differ from pahole 1.30's");
    let tagged: BTreeSet<String> = ours
        .iter()
        .filter(|(t, _)| t == "bpf_kfunc")
        .map(|(_, f)| f.clone())
        .collect();
    assert_eq!(tagged, kernel_kfunc_names(&vmlinux));
}

#[test]
#[ignore]
fn modules_612_kfunc_tags_match_pahole_1_30() {
    let dir = env_path("KBTF_612_DBG_MODULES_DIR");
    let base = env_path("KBTF_612_VMLINUX_BTF");
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = Vec::new();
    let mut tags = 0;
    for m in kbtf_testkit::every_module(&dir) {
        let data = std::fs::read(&m).unwrap();
        let file = object::File::parse(&*data).unwrap();
        if !file
            .symbols()
            .any(|s| s.name().is_ok_and(|n| n.starts_with("__BTF_ID__set8__")))
        {
            continue;
        }
        let ours = kfunc_tags(&kbtf(&m, &tmp.path().join("k.btf"), Some(&base), "-j1"));
        let theirs = kfunc_tags(&pahole_next(&m, &tmp.path().join("p.btf"), Some(&base)));
        assert_eq!(
            ours,
            theirs,
            "{}: kfunc tags differ from pahole 1.30's",
            m.display()
        );
        tags += ours.len();
        checked.push(m.file_stem().unwrap().to_string_lossy().into_owned());
    }
    // Debian's 6.12: nf_conntrack, nf_nat, nf_flow_table, tcp_bbr, tcp_dctcp, fou,
    // xfrm_interface.
    assert!(checked.len() >= 7 && tags >= 30, "{checked:?}: {tags} tags");
    println!("{} modules, {tags} kfunc tags: {checked:?}", checked.len());
}
