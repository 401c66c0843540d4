//! kbtf against pahole 1.30 (Debian 13's, unpacked by `cargo xtask pahole-next`;
//! `KBTF_PAHOLE_NEXT` names its wrapper), run single-threaded with the same flags, on Debian's
//! 6.1 and 6.12 `-dbg` kernels. kbtf runs with `KBTF_PAHOLE_VERSION=v1.30`, and so looks
//! function names up as pahole 1.30 does (`kbtf_encoder::input::PaholeTable`: its binary
//! search misses some names beside a suffixed copy, `foo.part.0` or `foo.cold`, and leaves
//! those functions out) and finds per-CPU variables by pahole 1.28's rule:
//!
//! - `decl_tag_kfuncs`: the vmlinux's and every module's kfunc tags, as (tag, FUNC name)
//!   pairs, equal pahole 1.30's; the vmlinux's name the same functions as the kernel's own
//!   kfunc sets resolved through the ids resolve_btfids wrote into `.BTF_ids` (read against
//!   Debian's `.BTF`: independent of the symbols kbtf reads). 6.12's sets carry
//!   `BTF_SET8_KFUNCS` (Linux 6.9+); 6.1's do not, and neither tool tags anything there.
//! - Everything else, by meaning: the vmlinux (kbtf's at `-j1` and `-j2` the same bytes, and
//!   valid by the kernel's rules) and every module equal pahole 1.30's BTF. Any difference
//!   fails. (Reporting v1.24, kbtf's differs: the FUNCs pahole 1.30's lookup misses, and in
//!   vmlinux the per-CPU VAR at address 0 that pahole 1.28's variable rule finds.)
//! - Modules as kbuild builds out-of-tree ones (`distilled_base`, into the ELF):
//!   `.BTF.base` byte for byte pahole 1.30's, `.BTF` the same by meaning as above.
//!
//! Ignored by default: `cargo xtask test` runs them.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use kbtf_btf::diff::{diff, DiffOptions};
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

/// Runs `cmd` (kbtf or pahole on `input`), which must succeed.
fn run_tool(cmd: &mut std::process::Command, input: &Path) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} on {}: {}",
        cmd.get_program(),
        input.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `tool` (kbtf or pahole 1.30) with `--btf_encode_detached OUT` on `input`, split on
/// `base` if given, and reads what it wrote. The file is removed first: pahole does not
/// truncate it.
fn detached(tool: &Path, input: &Path, out: &Path, base: Option<&Path>, jobs: Option<&str>) -> Btf {
    let _ = std::fs::remove_file(out);
    let mut cmd = std::process::Command::new(tool);
    cmd.env("LLVM_OBJCOPY", "objcopy")
        .env("KBTF_PAHOLE_VERSION", "v1.30")
        .arg("--btf_encode_detached")
        .arg(out)
        .args(["--lang_exclude=rust", FEATURES])
        .args(jobs);
    if let Some(b) = base {
        cmd.arg("--btf_base").arg(b);
    }
    run_tool(cmd.arg(input), input);
    read_file(out, base.map(base_btf)).unwrap().btf
}

fn kbtf(input: &Path, out: &Path, base: Option<&Path>, jobs: &str) -> Btf {
    let tool = Path::new(env!("CARGO_BIN_EXE_kbtf"));
    detached(tool, input, out, base, Some(jobs))
}

fn pahole_next(input: &Path, out: &Path, base: Option<&Path>) -> Btf {
    detached(&env_path("KBTF_PAHOLE_NEXT"), input, out, base, None)
}

/// Runs `tool` (kbtf or pahole 1.30) as kbuild runs it on an out-of-tree module, `-J
/// --btf_base BASE` with `distilled_base`, on a copy of `module` at `copy`; returns the copy's
/// `.BTF.base` bytes and its `.BTF` on that distilled base.
fn distilled(tool: &Path, module: &Path, copy: &Path, base: &Path) -> (Vec<u8>, Btf) {
    std::fs::copy(module, copy).unwrap();
    run_tool(
        std::process::Command::new(tool)
            .env("LLVM_OBJCOPY", "objcopy")
            .env("KBTF_PAHOLE_VERSION", "v1.30")
            .args(["-J", "--lang_exclude=rust"])
            .arg(format!("{FEATURES},distilled_base"))
            .arg("--btf_base")
            .arg(base)
            .arg(copy),
        module,
    );
    let data = std::fs::read(copy).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let section = |name: &str| {
        let s = file.section_by_name(name);
        let s =
            s.unwrap_or_else(|| panic!("{}: no {name} from {}", module.display(), tool.display()));
        s.data().unwrap().to_vec()
    };
    let base_bytes = section(".BTF.base");
    let on = Arc::new(Btf::parse(&base_bytes, None).unwrap());
    let split = Btf::parse(&section(".BTF"), Some(on)).unwrap();
    (base_bytes, split)
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

/// One of Debian's kernels: the variables naming its `-dbg` vmlinux, its `-dbg` modules and
/// the vmlinux BTF they are split on, and how many kfunc tags it must at least have.
struct Kernel {
    dbg_vmlinux: &'static str,
    dbg_modules: &'static str,
    vmlinux_btf: &'static str,
    /// In vmlinux; then the modules with kfunc sets, and their tags.
    vmlinux_tags: usize,
    kfunc_modules: usize,
    module_tags: usize,
}

/// 6.1: no kfunc set has `BTF_SET8_KFUNCS` yet, so no tags at all.
const K61: Kernel = Kernel {
    dbg_vmlinux: "KBTF_VMLINUX",
    dbg_modules: "KBTF_DBG_MODULES_DIR",
    vmlinux_btf: "KBTF_VMLINUX_BTF",
    vmlinux_tags: 0,
    kfunc_modules: 0,
    module_tags: 0,
};

/// 6.12: 132 kfuncs in vmlinux; nf_conntrack, nf_nat, nf_flow_table, tcp_bbr, tcp_dctcp, fou
/// and xfrm_interface have 30 between them.
const K612: Kernel = Kernel {
    dbg_vmlinux: "KBTF_612_DBG_VMLINUX",
    dbg_modules: "KBTF_612_DBG_MODULES_DIR",
    vmlinux_btf: "KBTF_612_VMLINUX_BTF",
    vmlinux_tags: 100,
    kfunc_modules: 7,
    module_tags: 30,
};

fn vmlinux_matches(k: &Kernel) {
    let vmlinux = env_path(k.dbg_vmlinux);
    let dir = tempfile::tempdir().unwrap();
    let ours = kbtf(&vmlinux, &dir.path().join("j1.btf"), None, "-j1");
    kbtf(&vmlinux, &dir.path().join("j2.btf"), None, "-j2");
    assert!(
        std::fs::read(dir.path().join("j1.btf")).unwrap()
            == std::fs::read(dir.path().join("j2.btf")).unwrap(),
        "-j1 and -j2 differ"
    );
    let problems = validate(&ours);
    assert!(problems.is_empty(), "{problems:?}");
    let theirs = pahole_next(&vmlinux, &dir.path().join("p.btf"), None);
    // The kfunc tags: pahole 1.30's, and the kernel's own kfunc sets.
    let tags = kfunc_tags(&ours);
    assert!(
        tags.len() >= k.vmlinux_tags,
        "only {} kfunc tags",
        tags.len()
    );
    assert_eq!(
        tags,
        kfunc_tags(&theirs),
        "kfunc tags differ from pahole 1.30's"
    );
    let tagged: BTreeSet<String> = tags
        .iter()
        .filter(|(t, _)| t == "bpf_kfunc")
        .map(|(_, f)| f.clone())
        .collect();
    assert_eq!(tagged, kernel_kfunc_names(&vmlinux));
    // Everything else, by meaning.
    let left = unexplained(&ours, &theirs);
    assert!(left.is_empty(), "{}", left.join("\n"));
}

#[test]
#[ignore]
fn vmlinux_61_matches_pahole_1_30() {
    vmlinux_matches(&K61);
}

#[test]
#[ignore]
fn vmlinux_612_matches_pahole_1_30() {
    vmlinux_matches(&K612);
}

/// kbtf's BTF (A) against pahole 1.30's (B): every difference by meaning.
fn unexplained(ours: &Btf, theirs: &Btf) -> Vec<String> {
    let d = diff(ours, theirs, &DiffOptions::default());
    let a = d.only_in_a.iter().map(|l| format!("only in kbtf's: {l}"));
    let b = d
        .only_in_b
        .iter()
        .map(|l| format!("only in pahole 1.30's: {l}"));
    a.chain(b).chain(d.changed.iter().cloned()).collect()
}

fn modules_match(k: &Kernel) {
    let dir = env_path(k.dbg_modules);
    let base = env_path(k.vmlinux_btf);
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let (mut with_kfuncs, mut tags) = (Vec::new(), 0);
    let modules = kbtf_testkit::every_module(&dir);
    for m in &modules {
        let ours = kbtf(m, &tmp.path().join("k.btf"), Some(&base), "-j1");
        let theirs = pahole_next(m, &tmp.path().join("p.btf"), Some(&base));
        let left = unexplained(&ours, &theirs);
        if !left.is_empty() {
            failures.push(format!("{}:\n  {}", m.display(), left.join("\n  ")));
        }
        // Tags are types like the others; these say the comparison saw some.
        let ours = kfunc_tags(&ours);
        if !ours.is_empty() {
            assert_eq!(ours, kfunc_tags(&theirs), "{}: kfunc tags", m.display());
            tags += ours.len();
            with_kfuncs.push(m.file_stem().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        with_kfuncs.len() >= k.kfunc_modules && tags >= k.module_tags,
        "{with_kfuncs:?}: {tags} tags"
    );
    println!(
        "{} modules match pahole 1.30; {tags} kfunc tags in {with_kfuncs:?}",
        modules.len()
    );
}

#[test]
#[ignore]
fn modules_61_match_pahole_1_30() {
    modules_match(&K61);
}

#[test]
#[ignore]
fn modules_612_match_pahole_1_30() {
    modules_match(&K612);
}

/// What kbuild makes of an out-of-tree module with pahole 1.26+: `.BTF` on a distilled
/// `.BTF.base`. The distilled base must be pahole 1.30's byte for byte (libbpf 1.5's
/// `btf__distill_base`) and `.BTF` the same by meaning.
fn distilled_match(k: &Kernel) {
    let dir = env_path(k.dbg_modules);
    let base = env_path(k.vmlinux_btf);
    let pahole = env_path("KBTF_PAHOLE_NEXT");
    let kbtf = Path::new(env!("CARGO_BIN_EXE_kbtf"));
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let modules = kbtf_testkit::every_module(&dir);
    for m in &modules {
        let (our_base, ours) = distilled(kbtf, m, &tmp.path().join("k.ko"), &base);
        let (their_base, theirs) = distilled(&pahole, m, &tmp.path().join("p.ko"), &base);
        let mut left = unexplained(&ours, &theirs);
        if our_base != their_base {
            left.push(".BTF.base differs from pahole 1.30's".into());
        }
        if !left.is_empty() {
            failures.push(format!("{}:\n  {}", m.display(), left.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!(
        "{} modules: distilled bases byte-identical to pahole 1.30's",
        modules.len()
    );
}

#[test]
#[ignore]
fn modules_61_distilled_match_pahole_1_30() {
    distilled_match(&K61);
}

#[test]
#[ignore]
fn modules_612_distilled_match_pahole_1_30() {
    distilled_match(&K612);
}
