//! `-J` with a distilled base: `--btf_features=+distilled_base` (split BTF against the given
//! vmlinux, then distilled as libbpf's `btf__distill_base` does) and `--standalone` (no
//! vmlinux: the base is distilled from the module's own DWARF).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use kbtf_btf::{Btf, Kind, TypeId};
use kbtf_dedup::Distilled;
use kbtf_emit::ElfOutput;

/// Distills deduplicated split BTF, keeping the base types the module's `.BTF_ids` name.
pub fn from_split(path: &Path, elf: &[u8], split: &Btf) -> Result<Distilled> {
    let roots = crate::btf_ids::base_roots(elf, split)
        .with_context(|| format!("{}: reading .BTF_ids", path.display()))?;
    kbtf_dedup::distill(split, &roots)
        .with_context(|| format!("{}: distilling the base of its BTF", path.display()))
}

/// Distills deduplicated BTF encoded without a base (`--standalone`): named structs, unions
/// and enums whose definitions come from kernel headers (`kbtf_encoder::type_origins`), and
/// the base types, become the distilled base; the module's functions, variables and own types,
/// and everything they reach short of a kernel type, stay in `.BTF`. With a `hint` (a vmlinux
/// BTF of the kernel the module is for, given as `--btf_base`), a kernel type goes into the
/// base only if the hint has a type of its kind, name and size: the others (types of other
/// modules' headers) stay whole in `.BTF`, so that relocation does not look for them in
/// vmlinux. Nothing in the output refers to the hint. docs/distilled.md has the rule.
pub fn standalone(path: &Path, elf: &[u8], btf: &Btf, hint: Option<&Btf>) -> Result<Distilled> {
    use kbtf_encoder::{Origin, TypeKind};
    let origins = kbtf_encoder::type_origins(path, elf)?;
    let kind_of = |k: Kind| match k {
        Kind::Struct => Some(TypeKind::Struct),
        Kind::Union => Some(TypeKind::Union),
        Kind::Enum | Kind::Enum64 => Some(TypeKind::Enum),
        Kind::Typedef => Some(TypeKind::Typedef),
        _ => None,
    };
    let module_named = |id: TypeId, t: &kbtf_btf::Type| {
        t.name_off != 0
            && kind_of(t.kind())
                .is_some_and(|k| origins.origin(k, &btf.name_of(id)) == Some(Origin::Module))
    };
    let named_by_ids = crate::btf_ids::named_types(elf)?;
    let roots: Vec<TypeId> = btf
        .iter()
        .filter(|&(id, t)| {
            matches!(
                t.kind(),
                Kind::Func | Kind::Var | Kind::Datasec | Kind::DeclTag
            ) || module_named(id, t)
                || named_by_ids
                    .iter()
                    .any(|(k, n)| *k == t.kind() && *n == btf.name_of(id))
        })
        .map(|(id, _)| id)
        .collect();
    let in_hint = hint.map(hint_index);
    let hinted = |id: TypeId, t: &kbtf_btf::Type| match &in_hint {
        None => true,
        Some(h) => h.contains(&(hint_kind(t.kind()), btf.name_of(id).into_owned(), t.size())),
    };
    kbtf_dedup::distill_standalone(btf, &roots, |id, t| {
        let kernel = match t.kind() {
            Kind::Int | Kind::Float => true,
            k => kind_of(k)
                .is_some_and(|k| origins.origin(k, &btf.name_of(id)) == Some(Origin::Kernel)),
        };
        kernel && hinted(id, t)
    })
    .with_context(|| format!("{}: distilling a base from its own DWARF", path.display()))
}

/// ENUM64 counts as ENUM: relocation matches either.
fn hint_kind(k: Kind) -> Kind {
    if k == Kind::Enum64 {
        Kind::Enum
    } else {
        k
    }
}

/// (kind, name, size) of every named type of `hint` a distilled base can stand for.
fn hint_index(hint: &Btf) -> std::collections::HashSet<(Kind, String, Option<u32>)> {
    (1..hint.end_id())
        .filter_map(|id| {
            let t = hint.type_by_id(id)?;
            (t.name_off != 0)
                .then(|| (hint_kind(t.kind()), hint.name_of(id).into_owned(), t.size()))
        })
        .collect()
}

/// Writes `out` into the module at `path`, whose bytes are `elf` (atomically), with its `.BTF_ids` resolved again
/// against `new_btf` (the BTF `out` holds) when it is a relocatable object (a module), or a
/// linked image whose ids were resolved already (a finished vmlinux). `bases`
/// are the vmlinux BTFs the module's current `.BTF` may be split on. When `strict`, a
/// `.BTF_ids` that cannot be resolved is an error; otherwise (plain split BTF, where kbuild
/// runs resolve_btfids afterwards anyway) a warning that leaves the section as it was.
/// With `key`, the module is signed (it must be a module). Returns whether a signature was
/// stripped. `from` says where the bytes that do not change come from ([`Unchanged`]).
#[allow(clippy::too_many_arguments)]
pub fn write_module(
    path: &Path,
    elf: &[u8],
    from: Unchanged<'_>,
    out: &ElfOutput<'_>,
    new_btf: &Btf,
    bases: &[Arc<Btf>],
    strict: bool,
    key: Option<&kbtf_modsign::SigningKey>,
) -> Result<bool> {
    if key.is_some() && !is_relocatable(elf) {
        anyhow::bail!(
            "{}: --sign-key: not a kernel module (ELF ET_REL); only modules carry signatures",
            path.display()
        );
    }
    // The new file as edits over the old one: of a large file (vmlinux, a -dbg module) only
    // headers and new sections pass through memory; the rest is copied file to file.
    let (mut patched, stripped) = kbtf_emit::rewrite_patched(elf, out)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if !is_relocatable(elf) {
        // A vmlinux's .BTF_ids is kbuild's to resolve: resolve_btfids runs after pahole, on
        // an image whose ids are still 0, and those are left be. A finished vmlinux's ids name
        // types of its old .BTF; they are resolved again, or a `kbtf check` of the file
        // kbtf wrote finds them wrong wherever the ids moved.
        let t = kbtf_btf::timing::stage("write: .BTF_ids");
        let ids = crate::btf_ids::re_resolve_image(path, elf, new_btf);
        drop(t);
        if let Some(ids) = ids {
            kbtf_emit::set_section_in(&mut patched, &kbtf_emit::btf_ids::section_spec(&ids))
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
    } else {
        // Read from the old bytes: the rewrite leaves .BTF_ids, symbols and relocations be.
        let unsigned = kbtf_emit::modsig::strip(elf)?;
        let previous = || crate::btf_ids::previous_btfs(unsigned, bases);
        match crate::btf_ids::resolve_section_with(path, unsigned, new_btf, previous) {
            Ok(Some(ids)) => {
                kbtf_emit::set_section_in(&mut patched, &kbtf_emit::btf_ids::section_spec(&ids))
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            }
            Ok(None) => {}
            Err(e) if strict => return Err(e.context("resolving .BTF_ids against the new BTF")),
            Err(e) => eprintln!("kbtf: warning: .BTF_ids left as it was: {e:#}"),
        }
    }
    match (key, from) {
        // A signed module is assembled in memory: the signature covers all of it. (A copy
        // made already is dropped, which removes it.)
        (Some(k), _) => {
            let bytes = crate::sign::sign(path, &patched.to_vec(), k)?;
            kbtf_emit::write_atomic(path, &bytes)?;
        }
        (None, Unchanged::Copied(pre)) => {
            pre.finish(|f, copied| patched.write_over_copy(f, copied))?
        }
        (None, Unchanged::File(src)) => {
            kbtf_emit::write_atomic_with(path, |f| patched.write_to(Some(src), f))?
        }
        (None, Unchanged::Bytes) => {
            kbtf_emit::write_atomic_with(path, |f| patched.write_to(None, f))?
        }
    }
    Ok(stripped.is_some())
}

/// Where [`write_module`] takes the bytes of the file that do not change from. Of a large
/// file (vmlinux, a -dbg module) only headers and new sections then pass through memory.
pub enum Unchanged<'a> {
    /// From the mapped bytes only.
    Bytes,
    /// Copied file to file from the open file the bytes are mapped from.
    File(&'a std::fs::File),
    /// Already copied beside the file, while the DWARF was encoded ([`kbtf_emit::PreCopy`]).
    Copied(kbtf_emit::PreCopy),
}

/// Whether `elf` is an `ET_REL` object (a kernel module), by its header.
pub fn is_relocatable(elf: &[u8]) -> bool {
    let e_type = match elf.get(5) {
        Some(1) => elf.get(16..18).map(|b| u16::from_le_bytes([b[0], b[1]])),
        Some(2) => elf.get(16..18).map(|b| u16::from_be_bytes([b[0], b[1]])),
        _ => None,
    };
    elf.starts_with(b"\x7fELF") && e_type == Some(1)
}
