//! `kbtf distill`, `kbtf relocate` and `kbtf check`'s `.BTF_ids` check on a shipped module
//! with a kfunc set (testdata/modules-6.1/tcp_bbr.ko, see testdata/PROVENANCE).

use std::path::{Path, PathBuf};

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

fn kbtf(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    kbtf_testkit::run(env!("CARGO_BIN_EXE_kbtf"), args)
}

macro_rules! run {
    ($($a:expr),* $(,)?) => { kbtf(&[$(std::ffi::OsStr::new($a)),*]) };
}

fn section(path: &Path, name: &str) -> Option<Vec<u8>> {
    let elf = std::fs::read(path).unwrap();
    kbtf_emit::elf::section(&elf, name)
        .unwrap()
        .map(<[u8]>::to_vec)
}

#[test]
fn distill_then_relocate_gives_back_the_shipped_module_btf_and_btf_ids() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = testdata("modules-6.1/tcp_bbr.ko");
    let vmlinux = testdata("vmlinux-6.1.btf");
    let m = dir.path().join("tcp_bbr.ko");
    std::fs::copy(&shipped, &m).unwrap();

    let (code, out, err) = run!("distill", "--base", &vmlinux, &m);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("signature no longer matched and was removed"),
        "{err}"
    );
    assert!(section(&m, ".BTF.base").is_some());
    // The distilled module is valid on its own base, and its .BTF_ids name distilled ids.
    let (code, out, _) = run!("check", &m);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(".BTF_ids: 9 symbols, each names its type"),
        "{out}"
    );

    let rel = dir.path().join("rel.ko");
    let (code, out, err) = run!("relocate", "--base", &vmlinux, &m, "-o", &rel);
    assert_eq!(code, 0, "{out}{err}");
    assert!(section(&rel, ".BTF.base").is_none());
    let (code, out, _) = run!("check", "--base", &vmlinux, &rel);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("base fingerprint matches"), "{out}");
    // Back to what resolve_btfids and pahole made, byte for byte.
    assert_eq!(section(&rel, ".BTF"), section(&shipped, ".BTF"));
    assert_eq!(section(&rel, ".BTF_ids"), section(&shipped, ".BTF_ids"));
}

#[test]
fn check_reports_a_btf_ids_entry_naming_the_wrong_type() {
    let dir = tempfile::tempdir().unwrap();
    let vmlinux = testdata("vmlinux-6.1.btf");
    let m = dir.path().join("tcp_bbr.ko");
    let mut elf = std::fs::read(testdata("modules-6.1/tcp_bbr.ko")).unwrap();
    // Bump the first id of the kfunc set8 (after its count and flags words) by one.
    let ids = kbtf_emit::btf_ids::entries(&elf).unwrap().unwrap();
    let set = ids
        .iter()
        .find(|e| e.kind == kbtf_emit::btf_ids::EntryKind::Set8)
        .expect("tcp_bbr has a set8");
    let data = kbtf_emit::elf::section(&elf, ".BTF_ids").unwrap().unwrap();
    let sec_off = data.as_ptr() as usize - elf.as_ptr() as usize;
    let at = sec_off + set.offset as usize + 8;
    let id = u32::from_le_bytes(elf[at..at + 4].try_into().unwrap());
    elf[at..at + 4].copy_from_slice(&(id + 1).to_le_bytes());
    std::fs::write(&m, &elf).unwrap();
    let (code, out, _) = run!("check", "--base", &vmlinux, &m);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(".BTF_ids: __BTF_ID__set8__tcp_bbr_check_kfunc_ids: its ids name"),
        "{out}"
    );
}

#[test]
fn relocate_refuses_a_module_without_a_distilled_base() {
    let vmlinux = testdata("vmlinux-6.1.btf");
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("o.ko");
    let (code, _, err) = run!(
        "relocate",
        "--base",
        &vmlinux,
        &testdata("modules-6.1/tcp_bbr.ko"),
        "-o",
        &out_path
    );
    assert_eq!(code, 2);
    assert!(err.contains("no .BTF.base section"), "{err}");
    assert!(!out_path.exists());
}

/// A file that is no ELF, or an ELF cut short, is refused by `distill` and `relocate` with
/// one line naming it, and left as it was.
#[test]
fn distill_and_relocate_name_a_damaged_module() {
    let vmlinux = testdata("vmlinux-6.1.btf");
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(testdata("modules-6.1/tcp_bbr.ko")).unwrap();
    for (name, bytes) in [("text.ko", &b"hi\n"[..]), ("cut.ko", &whole[..100])] {
        let m = dir.path().join(name);
        std::fs::write(&m, bytes).unwrap();
        for cmd in ["distill", "relocate"] {
            let (code, _, err) = run!(cmd, "--base", &vmlinux, &m);
            assert_eq!(code, 2, "{cmd} {name}: {err}");
            assert!(
                err.starts_with(&format!("kbtf: error: {}: ", m.display())),
                "{cmd} {name}: {err}"
            );
            assert_eq!(err.lines().count(), 1, "{cmd} {name}: {err}");
            assert_eq!(std::fs::read(&m).unwrap(), bytes);
        }
    }
}

#[test]
fn relocate_names_a_struct_that_changed_size() {
    // tcp_bbr distilled against the real vmlinux, relocated onto a copy where one of the
    // structs it uses has another size.
    let dir = tempfile::tempdir().unwrap();
    let vmlinux = testdata("vmlinux-6.1.btf");
    let m = dir.path().join("tcp_bbr.ko");
    std::fs::copy(testdata("modules-6.1/tcp_bbr.ko"), &m).unwrap();
    assert_eq!(run!("distill", "--base", &vmlinux, &m).0, 0);
    let mut v = kbtf_btf::Btf::parse(&std::fs::read(&vmlinux).unwrap(), None).unwrap();
    let sock_id = (1..v.end_id())
        .find(|&id| {
            v.name_of(id) == "sock" && v.type_by_id(id).unwrap().kind() == kbtf_btf::Kind::Struct
        })
        .unwrap();
    let start = v.start_id();
    if let kbtf_btf::TypeData::Struct { size, .. } =
        &mut v.own_types_mut()[(sock_id - start) as usize].data
    {
        *size += 8;
    }
    let changed = dir.path().join("changed.btf");
    std::fs::write(&changed, v.to_bytes()).unwrap();
    let out_path = dir.path().join("o.ko");
    let (code, _, err) = run!("relocate", "--base", &changed, &m, "-o", &out_path);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("struct sock changed size: 776 bytes in the module's distilled base, 784 bytes in the base BTF"),
        "{err}"
    );
    assert!(!out_path.exists());
}

/// The type `id` refers to (PTR/TYPEDEF/FUNC...), looked up in `btf`.
fn target(btf: &kbtf_btf::Btf, id: kbtf_btf::TypeId) -> Option<kbtf_btf::TypeId> {
    btf.type_by_id(id)?.ref_type()
}

fn find(btf: &kbtf_btf::Btf, kind: kbtf_btf::Kind, name: &str) -> Option<kbtf_btf::TypeId> {
    (1..btf.end_id())
        .find(|&id| btf.type_by_id(id).is_some_and(|t| t.kind() == kind) && btf.name_of(id) == name)
}

#[test]
fn standalone_out_of_tree_module_relocates_onto_vmlinux() {
    use kbtf_btf::{Kind, TypeData};
    let dir = tempfile::tempdir().unwrap();
    let vmlinux = testdata("vmlinux-6.1.btf");
    let m = dir.path().join("kbtf_sample.ko");
    std::fs::copy(testdata("oot/kbtf_sample-6.1.ko"), &m).unwrap();
    let (code, out, err) = run!("-J", "--btf_gen_floats", "--standalone", &m);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = run!("check", &m);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(".BTF_ids: 5 symbols, each names its type"),
        "{out}"
    );

    // Kernel types by name and size in .BTF.base, the module's own struct whole in .BTF.
    let f = kbtf_btf::read_file(&m, None).unwrap();
    let dbase = f.btf.base().unwrap().clone();
    let skb = find(&dbase, Kind::Struct, "sk_buff").expect("sk_buff in .BTF.base");
    assert!(dbase.type_by_id(skb).unwrap().members().is_empty());
    assert_eq!(find(&dbase, Kind::Struct, "kbtf_sample_stats"), None);
    let stats = find(&f.btf, Kind::Struct, "kbtf_sample_stats").unwrap();
    assert!(stats >= f.btf.start_id());
    assert_eq!(f.btf.type_by_id(stats).unwrap().members().len(), 7);

    // Relocated: the kfunc's skb parameter is vmlinux's pointer to vmlinux's sk_buff.
    let rel = dir.path().join("rel.ko");
    let (code, out, err) = run!("relocate", "--base", &vmlinux, &m, "-o", &rel);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = run!("check", "--base", &vmlinux, &rel);
    assert_eq!(code, 0, "{out}");
    let base = kbtf_btf::read_base(&vmlinux).unwrap();
    let r = kbtf_btf::read_file(&rel, Some(base.clone())).unwrap().btf;
    let vm_skb = find(&base, Kind::Struct, "sk_buff").unwrap();
    let func = find(&r, Kind::Func, "kbtf_sample_kfunc_packets").unwrap();
    let proto = target(&r, func).unwrap();
    let TypeData::FuncProto { params, .. } = &r.type_by_id(proto).unwrap().data else {
        panic!("not a prototype");
    };
    let ptr = params[0].ty;
    assert!(ptr < base.end_id(), "the pointer is vmlinux's own");
    assert_eq!(target(&r, ptr), Some(vm_skb));
}

#[test]
fn standalone_with_a_hint_keeps_kernel_types_the_hint_lacks_whole() {
    use kbtf_btf::Kind;
    let dir = tempfile::tempdir().unwrap();
    let vmlinux = testdata("vmlinux-6.1.btf");
    // A vmlinux BTF without `struct rtnl_link_stats64` (renamed), standing for a kernel where
    // that header type lives in a module.
    let mut v = kbtf_btf::Btf::parse(&std::fs::read(&vmlinux).unwrap(), None).unwrap();
    let ops = find(&v, Kind::Struct, "rtnl_link_stats64").unwrap();
    let renamed = v.add_str("rtnl_link_stats64_elsewhere");
    let start = v.start_id();
    v.own_types_mut()[(ops - start) as usize].name_off = renamed;
    let hint = dir.path().join("hint.btf");
    std::fs::write(&hint, v.to_bytes()).unwrap();

    let plain = dir.path().join("plain.ko");
    let hinted = dir.path().join("hinted.ko");
    for (m, extra) in [(&plain, None), (&hinted, Some(&hint))] {
        std::fs::copy(testdata("modules-6.1-dbg/dummy.ko"), m).unwrap();
        let (code, out, err) = match extra {
            None => run!("-J", "--btf_gen_floats", "--standalone", m),
            Some(h) => run!("-J", "--btf_gen_floats", "--standalone", "--btf_base", h, m),
        };
        assert_eq!(code, 0, "{out}{err}");
    }
    let p = kbtf_btf::read_file(&plain, None).unwrap().btf;
    let h = kbtf_btf::read_file(&hinted, None).unwrap().btf;
    // Without the hint, a kernel type by name and size in the base; with it, whole in .BTF.
    let in_base = |b: &kbtf_btf::Btf| find(b.base().unwrap(), Kind::Struct, "rtnl_link_stats64");
    assert!(in_base(&p).is_some());
    assert!(in_base(&h).is_none());
    let whole = find(&h, Kind::Struct, "rtnl_link_stats64").unwrap();
    assert!(whole >= h.start_id());
    assert!(!h.type_by_id(whole).unwrap().members().is_empty());
    // Types the hint has stay in the base either way, and both relocate onto the real one.
    assert!(find(h.base().unwrap(), Kind::Struct, "net_device").is_some());
    for m in [&plain, &hinted] {
        let (code, out, err) = run!("relocate", "--base", &vmlinux, m);
        assert_eq!(code, 0, "{out}{err}");
    }
}
