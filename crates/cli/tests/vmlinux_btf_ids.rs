//! `kbtf -J` into a linked image with `.BTF_ids` (a vmlinux): ids still 0, as in kbuild's
//! image before resolve_btfids, are left be; ids resolved against the image's old `.BTF`
//! are resolved again onto the new one, so that `kbtf check` accepts the file kbtf wrote.
//! (Before, they kept naming the old BTF's types: `kbtf -J` on Debian's 6.1 `-dbg` vmlinux
//! gave a file `kbtf check` refused.)
//!
//! The image is an executable gcc links from C with `.BTF_ids` entries as the kernel's
//! `BTF_ID` macros emit them. Needs gcc and objcopy (binutils).

use std::path::{Path, PathBuf};
use std::process::Command;

use kbtf_btf::Btf;
use kbtf_emit::btf_ids;

fn kbtf(args: &[&str]) -> (i32, String, String) {
    kbtf_testkit::run(env!("CARGO_BIN_EXE_kbtf"), args)
}

/// `.BTF_ids` as `BTF_ID(struct, foo)`, `BTF_ID(func, baz)` and a sorted set of both emit
/// them (local labelled words, the set's count first).
const BTF_IDS: &str = r#"
__asm__(".pushsection .BTF_ids,\"a\"\n"
        ".local __BTF_ID__struct__foo__1\n.type __BTF_ID__struct__foo__1, STT_OBJECT\n"
        ".size __BTF_ID__struct__foo__1, 4\n__BTF_ID__struct__foo__1:\n.long 0\n"
        ".local __BTF_ID__func__baz__2\n.type __BTF_ID__func__baz__2, STT_OBJECT\n"
        ".size __BTF_ID__func__baz__2, 4\n__BTF_ID__func__baz__2:\n.long 0\n"
        ".global __BTF_ID__set__pair\n__BTF_ID__set__pair:\n.zero 4\n"
        ".local __BTF_ID__func__baz__3\n.type __BTF_ID__func__baz__3, STT_OBJECT\n"
        ".size __BTF_ID__func__baz__3, 4\n__BTF_ID__func__baz__3:\n.long 0\n"
        ".local __BTF_ID__struct__foo__4\n.type __BTF_ID__struct__foo__4, STT_OBJECT\n"
        ".size __BTF_ID__struct__foo__4, 4\n__BTF_ID__struct__foo__4:\n.long 0\n"
        ".size __BTF_ID__set__pair, . - __BTF_ID__set__pair\n"
        ".popsection\n");
"#;

const MAIN: &str = r#"
struct foo { int a; };
int baz(struct foo *f) { return f->a; }
int main(void) { struct foo f = { 1 }; return baz(&f); }
"#;

/// The same types with others first: their ids come after these.
const OLD: &str = r#"
struct first { long x; };
struct second { struct first *p; char c; };
int use_them(struct second *s) { return s->c; }
struct foo { int a; };
int baz(struct foo *f) { return f->a; }
int main(void) { struct second s = { 0, 1 }; struct foo f = { 1 }; return baz(&f) + use_them(&s); }
"#;

fn link(dir: &Path, stem: &str, source: &str) -> PathBuf {
    let c = dir.join(format!("{stem}.c"));
    std::fs::write(&c, format!("{source}{BTF_IDS}")).unwrap();
    let exe = dir.join(stem);
    let status = Command::new("gcc")
        .args(["-O0", "-g", "-fno-inline", "-o"])
        .arg(&exe)
        .arg(&c)
        .status()
        .expect("running gcc");
    assert!(status.success(), "gcc {}", c.display());
    exe
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The words of `.BTF_ids` (little-endian: the host's gcc).
fn words(elf: &Path) -> Vec<u32> {
    let data = std::fs::read(elf).unwrap();
    let ids = kbtf_emit::elf::section(&data, ".BTF_ids")
        .unwrap()
        .expect(".BTF_ids");
    ids.chunks(4)
        .map(|w| u32::from_le_bytes(w.try_into().unwrap()))
        .collect()
}

fn own_btf(elf: &Path) -> Btf {
    let data = std::fs::read(elf).unwrap();
    let bytes = kbtf_emit::elf::section(&data, ".BTF")
        .unwrap()
        .expect(".BTF");
    Btf::parse(bytes, None).unwrap()
}

fn id_of(btf: &Btf, kind: kbtf_btf::Kind, name: &str) -> u32 {
    btf.iter()
        .find(|&(id, t)| t.kind() == kind && btf.name_of(id) == name)
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("no {kind:?} {name}"))
}

#[test]
fn vmlinux_btf_ids_follow_the_new_btf() {
    let dir = tempfile::tempdir().unwrap();
    let image = link(dir.path(), "image", MAIN);
    let old = link(dir.path(), "old", OLD);

    // kbuild's case: ids still 0 stay 0 (resolve_btfids comes after).
    let (code, _, err) = kbtf(&["-J", &s(&image)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(words(&image), vec![0; 5]);

    // A finished image: its .BTF is the old build's, and its ids were resolved against it.
    let old_btf = dir.path().join("old.btf");
    let (code, _, err) = kbtf(&[
        "-J",
        &format!("--btf_encode_detached={}", s(&old_btf)),
        &s(&old),
    ]);
    assert_eq!(code, 0, "{err}");
    let status = Command::new("objcopy")
        .arg(format!("--update-section=.BTF={}", s(&old_btf)))
        .arg(&image)
        .status()
        .expect("running objcopy");
    assert!(status.success());
    let previous = own_btf(&image);
    let resolved = btf_ids::resolve_elf(&std::fs::read(&image).unwrap(), &previous)
        .unwrap()
        .unwrap();
    assert!(resolved.unresolved.is_empty());
    std::fs::write(&image, &resolved.elf).unwrap();
    let (old_foo, old_baz) = (
        id_of(&previous, kbtf_btf::Kind::Struct, "foo"),
        id_of(&previous, kbtf_btf::Kind::Func, "baz"),
    );
    let sorted = |a: u32, b: u32| if a < b { [a, b] } else { [b, a] };
    let [lo, hi] = sorted(old_foo, old_baz);
    assert_eq!(words(&image), vec![old_foo, old_baz, 2, lo, hi]);
    let (code, out, _) = kbtf(&["check", &s(&image)]);
    assert_eq!(code, 0, "the image as resolved against its old BTF: {out}");

    // Rewritten: the ids name the same types in the new BTF, where they moved.
    let (code, _, err) = kbtf(&["-J", &s(&image)]);
    assert_eq!(code, 0, "{err}");
    let new = own_btf(&image);
    let (foo, baz) = (
        id_of(&new, kbtf_btf::Kind::Struct, "foo"),
        id_of(&new, kbtf_btf::Kind::Func, "baz"),
    );
    assert!(
        foo != old_foo && baz != old_baz,
        "the ids must move for this test to mean anything"
    );
    let [lo, hi] = sorted(foo, baz);
    assert_eq!(words(&image), vec![foo, baz, 2, lo, hi]);
    let (code, out, _) = kbtf(&["check", &s(&image)]);
    assert_eq!(code, 0, "kbtf check of the image kbtf rewrote: {out}");
}
