//! Type origins (`--standalone`): which named types come from kernel headers and which from
//! the module's own sources (docs/encoder.md, "Type origins").
//!
//! The fast tests read testdata/encoder/origins-*.o (built by testdata/encoder/build.sh from
//! testdata/encoder/origins/, as kbuild compiles an in-tree and an out-of-tree module) and
//! Debian's dummy.ko. The ignored ones read Debian's 6.1 `-dbg` modules from
//! `KBTF_DBG_MODULES_DIR` (`cargo xtask test`).

use std::path::Path;
use std::time::Instant;

use kbtf_encoder::{type_origins, ErrorKind, Origin, TypeKind, TypeOrigins};
use kbtf_testkit::{env_path, every_module, testdata};
use object::{Object, ObjectSection};

fn origins_of(path: &Path) -> TypeOrigins {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    type_origins(path, &data).unwrap_or_else(|e| panic!("{e}"))
}

/// Every classified type, one a line, with the module directories first.
fn render(o: &TypeOrigins) -> String {
    let mut out = String::new();
    for d in &o.module_dirs {
        out += &format!("module dir {d}\n");
    }
    for ((kind, name), t) in &o.types {
        let origin = match t.origin {
            Origin::Kernel => "kernel",
            Origin::Module => "module",
        };
        let path = t.path.as_deref().unwrap_or("-");
        out += &format!("{origin} {kind} {name}: {path}\n");
    }
    out
}

const INTREE: &str = "\
module dir /usr/src/linux/drivers/mymod
kernel base type char: -
kernel base type float: -
kernel base type int: -
kernel base type long int: -
kernel base type unsigned int: -
module struct fn_local: /usr/src/linux/drivers/mymod/mymod.c
kernel struct kobj: /usr/src/linux/include/linux/kobj.h
module struct kshared: /usr/src/linux/drivers/mymod/helper.c
module struct mymod_deep: /usr/src/linux/drivers/mymod/sub/deep.h
module struct mymod_local: /usr/src/linux/drivers/mymod/mymod.c
module struct mymod_priv: /usr/src/linux/drivers/mymod/mymod.h
kernel union kval: /usr/src/linux/include/linux/kobj.h
module union mymod_u: /usr/src/linux/drivers/mymod/mymod.h
kernel enum kstate: /usr/src/linux/include/linux/kobj.h
module enum mymod_mode: /usr/src/linux/drivers/mymod/mymod.h
kernel typedef kgfp_t: /usr/src/linux/include/linux/kobj.h
module typedef mymod_priv_t: /usr/src/linux/drivers/mymod/mymod.h
";

/// An in-tree module: compiled from the kernel tree (`/usr/src/linux`) by relative paths,
/// headers through `-I./include` and `../`. Kernel header types are kernel; the module's
/// header, a subdirectory's header, `.c` files and a function-local struct are the
/// module's; `struct kshared`, defined by the kernel header (seen first, in mymod.c) and by
/// helper.c, is the module's; `struct knever`, only declared, is absent.
#[test]
fn intree_module_dwarf5() {
    let o = origins_of(&testdata("encoder/origins-intree-dwarf5.o"));
    assert_eq!(render(&o), INTREE);
}

#[test]
fn intree_module_dwarf4() {
    let o = origins_of(&testdata("encoder/origins-intree-dwarf4.o"));
    assert_eq!(render(&o), INTREE);
}

const EXTMOD: &str = "\
module dir /home/user/extmod/src
kernel base type char: -
kernel base type int: -
kernel base type long int: -
kernel base type unsigned int: -
module struct ext_priv: /home/user/extmod/src/ext.h
kernel struct ext_top: /home/user/extmod/ext_top.h
kernel struct kobj: /usr/src/linux/include/linux/kobj.h
kernel typedef kgfp_t: /usr/src/linux/include/linux/kobj.h
";

/// An out-of-tree module (`M=/home/user/extmod`, sources in `src/`): compiled from the
/// kernel tree by absolute paths. Its generated `ext.mod.c` sits in M's top directory and
/// does not count, so `ext_top.h` there is outside the module's directories: kernel, by the
/// rule (the documented limitation).
#[test]
fn out_of_tree_module_dwarf5() {
    let o = origins_of(&testdata("encoder/origins-extmod-dwarf5.o"));
    assert_eq!(render(&o), EXTMOD);
}

#[test]
fn out_of_tree_module_dwarf4() {
    let o = origins_of(&testdata("encoder/origins-extmod-dwarf4.o"));
    assert_eq!(render(&o), EXTMOD);
}

/// Debian's dummy.ko: relative comp_dir (`-fdebug-prefix-map`), DWARF 5, `ET_REL` with
/// relocated `.debug_line_str` references.
fn check_dummy(o: &TypeOrigins) {
    let dirs: Vec<&str> = o.module_dirs.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        dirs,
        ["debian/build/build_amd64_none_cloud-amd64/drivers/net"]
    );
    for (name, header) in [
        ("net_device", "include/linux/netdevice.h"),
        ("sk_buff", "include/linux/skbuff.h"),
    ] {
        let t = o.get(TypeKind::Struct, name).expect(name);
        assert_eq!(t.origin, Origin::Kernel, "struct {name}");
        let path = t.path.as_deref().unwrap();
        assert!(path.ends_with(header), "struct {name}: {path}");
    }
    assert_eq!(o.origin(TypeKind::Base, "int"), Some(Origin::Kernel));
}

#[test]
fn debian_dummy_committed() {
    check_dummy(&origins_of(&testdata("modules-6.1-dbg/dummy.ko")));
}

/// A decl_file beyond the file table is an error naming the index and the DIE.
#[test]
fn decl_file_out_of_range_is_located() {
    let path = testdata("encoder/origins-intree-dwarf4.o");
    let mut data = std::fs::read(&path).unwrap();
    // End mymod.c's unit's DWARF 4 file table at its first entry, "mymod.c".
    let file = object::File::parse(&*data).unwrap();
    let (off, size) = file
        .section_by_name(".debug_line")
        .unwrap()
        .file_range()
        .unwrap();
    let (off, size) = (off as usize, size as usize);
    let at = data[off..off + size]
        .windows(8)
        .position(|w| w == b"mymod.c\0")
        .unwrap();
    data[off + at] = 0;
    let err = type_origins(Path::new("damaged.o"), &data).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::DeclFile { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.starts_with("damaged.o: DW_AT_decl_file "), "{msg}");
    assert!(msg.contains("CU at 0x0, DIE at 0x"), "{msg}");
    assert!(
        msg.contains("not in the line program's file table (0 files"),
        "{msg}"
    );
}

/// Damaged line programs and DIEs give errors or results, never a panic.
#[test]
fn damage_never_panics() {
    let path = testdata("encoder/origins-intree-dwarf5.o");
    let data = std::fs::read(&path).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let mut ranges = Vec::new();
    for name in [".debug_line", ".debug_line_str", ".debug_info"] {
        let (off, size) = file.section_by_name(name).unwrap().file_range().unwrap();
        ranges.push(off as usize..(off + size) as usize);
    }
    let (mut ok, mut err) = (0, 0);
    for r in ranges {
        for i in r {
            for v in [0x00, 0xff, 0x7f] {
                let mut d = data.clone();
                if d[i] == v {
                    continue;
                }
                d[i] = v;
                match type_origins(Path::new("damaged.o"), &d) {
                    Ok(_) => ok += 1,
                    Err(e) => {
                        assert!(e.to_string().starts_with("damaged.o: "), "{e}");
                        err += 1;
                    }
                }
            }
        }
    }
    assert!(ok > 0 && err > 0, "{ok} ok, {err} errors");
}

fn dbg_module(rel: &str) -> TypeOrigins {
    origins_of(&env_path("KBTF_DBG_MODULES_DIR").join(rel))
}

#[test]
#[ignore = "real-kernel tier: run by `cargo xtask test`"]
fn debian_dummy() {
    check_dummy(&dbg_module("drivers/net/dummy.ko"));
}

/// bonding.ko: `struct bonding` and `struct slave` are defined in include/net/bonding.h, a
/// kernel header, so the rule calls them kernel (vmlinux's BTF lacks them: relocation will
/// name them); the structs of drivers/net/bonding/*.c are the module's.
#[test]
#[ignore = "real-kernel tier: run by `cargo xtask test`"]
fn debian_bonding() {
    let o = dbg_module("drivers/net/bonding/bonding.ko");
    println!(
        "{}",
        render(&o)
            .lines()
            .filter(|l| !l.starts_with("kernel base"))
            .filter(|l| l.starts_with("module") || l.contains("bonding"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let dir = "debian/build/build_amd64_none_cloud-amd64/drivers/net/bonding";
    assert_eq!(o.module_dirs.iter().collect::<Vec<_>>(), [dir]);
    for name in ["bonding", "slave"] {
        let t = o.get(TypeKind::Struct, name).expect(name);
        assert_eq!(t.origin, Origin::Kernel, "struct {name}");
        assert!(t
            .path
            .as_deref()
            .unwrap()
            .ends_with("/include/net/bonding.h"));
    }
    for name in [
        "alb_walk_data",
        "arp_pkt",
        "learning_pkt",
        "slave_attribute",
    ] {
        let t = o.get(TypeKind::Struct, name).expect(name);
        assert_eq!(t.origin, Origin::Module, "struct {name}");
        let path = t.path.as_deref().unwrap();
        assert!(path.starts_with(dir) && path.ends_with(".c"), "{path}");
    }
    let module = o
        .types
        .values()
        .filter(|t| t.origin == Origin::Module)
        .count();
    println!(
        "bonding.ko: {} types, {module} of the module",
        o.types.len()
    );
}

/// Every 6.1 `-dbg` module, without error. Each has a directory of its own, which is the
/// build tree (Debian's comp_dir) joined with the `.ko`'s directory; every decl_file
/// resolves into that tree; a type defined under the tree's `include/` or `arch/*/include/`
/// is the kernel's; none defined in a `.c` file is (no module includes another directory's
/// `.c` file in Debian's 6.1 set).
#[test]
#[ignore = "real-kernel tier: run by `cargo xtask test`"]
fn debian_all_modules() {
    let root = env_path("KBTF_DBG_MODULES_DIR");
    let mods = every_module(&root);
    let start = Instant::now();
    let all: Vec<TypeOrigins> = mods.iter().map(|m| origins_of(m)).collect();
    let elapsed = start.elapsed();
    let (mut kernel, mut module, mut paths) = (0usize, 0usize, 0usize);
    let mut c_kernel = Vec::new();
    let mut elsewhere = Vec::new();
    let mut odd_dirs = Vec::new();
    for (m, o) in mods.iter().zip(&all) {
        let rel = m.parent().unwrap().strip_prefix(&root).unwrap();
        let rel = format!("/{}", rel.display());
        // The build trees: a module's sources are in the .ko's directory or below it.
        let trees: Vec<&str> = o
            .module_dirs
            .iter()
            .filter_map(|d| match d.find(&format!("{rel}/")) {
                Some(i) => Some(&d[..i]),
                None => d.strip_suffix(&rel),
            })
            .collect();
        if trees.is_empty() {
            odd_dirs.push(format!("{}: {:?}", m.display(), o.module_dirs));
        }
        for ((kind, name), t) in &o.types {
            match t.origin {
                Origin::Kernel => kernel += 1,
                Origin::Module => module += 1,
            }
            let Some(path) = t.path.as_deref() else {
                assert!(*kind == TypeKind::Base || t.origin == Origin::Module);
                continue;
            };
            paths += 1;
            let what = || format!("{}: {kind} {name} ({path})", m.display());
            let in_tree = trees
                .iter()
                .find_map(|t| path.strip_prefix(t).and_then(|p| p.strip_prefix('/')));
            let Some(in_tree) = in_tree else {
                elsewhere.push(what());
                continue;
            };
            let header_dir = in_tree.starts_with("include/")
                || (in_tree.starts_with("arch/") && in_tree.split('/').nth(2) == Some("include"));
            if header_dir {
                assert_eq!(t.origin, Origin::Kernel, "{}", what());
            }
            if path.ends_with(".c") && t.origin == Origin::Kernel {
                c_kernel.push(what());
            }
        }
    }
    println!(
        "{} modules in {elapsed:.2?}: {kernel} (kind, name) of kernel origin, {module} of the \
         modules' ({paths} with a path)",
        mods.len()
    );
    println!(
        "{} types of kernel origin defined in .c files:",
        c_kernel.len()
    );
    for l in &c_kernel {
        println!("  {l}");
    }
    assert!(
        elsewhere.is_empty(),
        "paths outside the build tree:\n{}",
        elsewhere.join("\n")
    );
}
