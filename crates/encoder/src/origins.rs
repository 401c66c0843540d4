//! Where a module's named types come from: kernel headers or the module's own sources.
//!
//! `--standalone` (issue 5) splits a module's BTF without any vmlinux: the named types whose
//! definition comes from a kernel header go into the distilled `.BTF.base` by name and size
//! (and are matched with the running kernel's vmlinux BTF at load time), the module's own
//! types stay in full in `.BTF`. [`type_origins`] makes that split, from the DWARF alone.
//!
//! # The rule
//!
//! 1. **The module's directories.** For every compile unit (`DW_TAG_compile_unit`), its
//!    primary source file (`DW_AT_name`, made absolute with `DW_AT_comp_dir` when relative,
//!    then normalized) has a directory; the set of these directories, over all units, is the
//!    module's own. Units of kbuild's generated `*.mod.c` do not count (their directory is
//!    the module's anyway, in kbuild's layout), nor do names such as `<artificial>`.
//! 2. **A type's file.** Every named definition (not `DW_AT_declaration`) of a struct (or
//!    class), union, enum or typedef, at any depth, has a `DW_AT_decl_file`: an index into
//!    its unit's line program header (1-based in DWARF 2 to 4, where 0 means "no file";
//!    0-based in DWARF 5, where 0 is valid). The file's name is joined to its directory entry
//!    (index 0 is the compilation directory; other relative entries are relative to
//!    `DW_AT_comp_dir`), made absolute with `DW_AT_comp_dir` when still relative, and
//!    normalized: `.` dropped, `..` folded, repeated `/` merged (so `./include/linux/x.h`
//!    and `drivers/net/../../include/linux/x.h` are both `include/linux/x.h` under the
//!    compilation directory).
//! 3. **Classification.** A definition whose file lies under one of the module's
//!    directories (at any depth) is [`Origin::Module`], any other is [`Origin::Kernel`].
//!    A definition without `DW_AT_decl_file` is [`Origin::Module`] (nothing says a kernel
//!    header defines it, and keeping a type in full is always safe). Base types
//!    (`DW_TAG_base_type`) never carry a file: they are [`Origin::Kernel`].
//! 4. **Per name.** The result is keyed by (kind, name). A name with definitions in both
//!    module files and kernel files is [`Origin::Module`]: the module's own type must stay
//!    in `.BTF`, and a module that redefines a kernel name cannot rely on the kernel's.
//!
//! Paths are compared as text, component by component, with `/` as the separator, as the
//! DWARF of a Linux target spells them; a comp_dir that is itself relative (Debian builds
//! with `-fdebug-prefix-map`, giving `debian/build/build_amd64_none_cloud-amd64`) is
//! harmless, as both sides are resolved against the same one.
//!
//! # Limitations
//!
//! A type classified as kernel that the running kernel's vmlinux BTF lacks (a header type
//! only modules use, such as `struct bonding` of `include/net/bonding.h` for the in-tree
//! bonding driver, or a module's own header kept outside its source directories) fails
//! relocation at load time with an error naming it: the rule never silently guesses.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use gimli::{constants as dw, AttributeValue, Reader};
use rayon::prelude::*;

use crate::error::{DwarfLocation, EncodeError, ErrorKind};
use crate::input;

/// The kinds of named types classified. A DWARF class counts as a struct, as pahole encodes
/// it; an enum of any size is one kind (BTF `ENUM` or `ENUM64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TypeKind {
    Base,
    Struct,
    Union,
    Enum,
    Typedef,
}

impl std::fmt::Display for TypeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TypeKind::Base => "base type",
            TypeKind::Struct => "struct",
            TypeKind::Union => "union",
            TypeKind::Enum => "enum",
            TypeKind::Typedef => "typedef",
        })
    }
}

/// Where a named type's definition comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// A kernel header: the type goes into the distilled base by name and size.
    Kernel,
    /// The module's own sources: the type stays in full in `.BTF`.
    Module,
}

/// The origin of one (kind, name), with one file that defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeOrigin {
    pub origin: Origin,
    /// The normalized path of one definition with this origin (the first met, in unit
    /// order), for messages; `None` when no such definition has a `DW_AT_decl_file`.
    pub path: Option<String>,
}

/// What [`type_origins`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeOrigins {
    /// The module's own source directories, normalized.
    pub module_dirs: BTreeSet<String>,
    /// Every named base type and every named struct, union, enum and typedef definition.
    pub types: BTreeMap<(TypeKind, String), TypeOrigin>,
}

impl TypeOrigins {
    /// The origin of a (kind, name), if the DWARF defines it.
    pub fn origin(&self, kind: TypeKind, name: &str) -> Option<Origin> {
        self.get(kind, name).map(|t| t.origin)
    }

    /// The origin and example path of a (kind, name), if the DWARF defines it.
    pub fn get(&self, kind: TypeKind, name: &str) -> Option<&TypeOrigin> {
        self.types.get(&(kind, name.to_string()))
    }
}

/// Classifies the named types of the ELF file `data` (read from `path`, which errors name)
/// by the rule of the module documentation. The DWARF is read as [`crate::encode`] reads it
/// (decompressed, relocated for `ET_REL`).
pub fn type_origins(path: &Path, data: &[u8]) -> Result<TypeOrigins, EncodeError> {
    let input = input::Input::load(path, data, input::LoadOptions::default())?;
    if input.sections[0].is_empty() {
        return Err(EncodeError::new(path, ErrorKind::NoDwarf));
    }
    let units = read_units(&input.plain_dwarf());
    Ok(classify(
        units.map_err(|kind| EncodeError::new(path, kind))?,
    ))
}

/// What one unit says: its primary source directory, if it counts, and its definitions.
#[derive(Debug, Default)]
struct UnitFacts {
    module_dir: Option<String>,
    defs: Vec<Def>,
}

#[derive(Debug)]
struct Def {
    kind: TypeKind,
    name: String,
    /// The normalized path of `DW_AT_decl_file`.
    file: Option<String>,
}

fn read_units<R>(dwarf: &gimli::Dwarf<R>) -> Result<Vec<UnitFacts>, ErrorKind>
where
    R: Reader<Offset = usize> + Send + Sync,
{
    let headers = crate::unit_headers(dwarf)?;
    headers
        .into_par_iter()
        .map(|h| read_unit(dwarf, h))
        .collect()
}

fn read_unit<R: Reader<Offset = usize>>(
    dwarf: &gimli::Dwarf<R>,
    header: gimli::UnitHeader<R>,
) -> Result<UnitFacts, ErrorKind> {
    let cu = header.offset().0;
    let loc = |die: Option<usize>| DwarfLocation::in_unit(cu, die);
    let dwarf_err = |die: Option<usize>| loc(die).dwarf_error();
    let root = header.offset().0 + header.header_size();
    let unit = dwarf.unit(header).map_err(dwarf_err(Some(root)))?;
    let text = |r: &R| -> Result<String, gimli::Error> { Ok(r.to_string_lossy()?.into_owned()) };
    let comp_dir = unit.comp_dir.as_ref().map(text).transpose();
    let comp_dir = comp_dir.map_err(dwarf_err(Some(root)))?;
    let mut facts = UnitFacts::default();

    let mut files = FileTable {
        dwarf,
        unit: &unit,
        comp_dir: comp_dir.as_deref(),
        resolved: HashMap::new(),
    };
    let mut raw = unit.entries_raw(None).map_err(dwarf_err(None))?;
    let mut first = true;
    while !raw.is_empty() {
        let offset = raw.next_offset().to_unit_section_offset(&unit.header).0;
        let abbrev = raw.read_abbreviation().map_err(dwarf_err(Some(offset)))?;
        let Some(abbrev) = abbrev else { continue };
        let tag = abbrev.tag();
        let is_root = std::mem::take(&mut first);
        let kind = match tag {
            dw::DW_TAG_base_type => Some(TypeKind::Base),
            dw::DW_TAG_structure_type | dw::DW_TAG_class_type => Some(TypeKind::Struct),
            dw::DW_TAG_union_type => Some(TypeKind::Union),
            dw::DW_TAG_enumeration_type => Some(TypeKind::Enum),
            dw::DW_TAG_typedef => Some(TypeKind::Typedef),
            _ => None,
        };
        if kind.is_none() && !(is_root && tag == dw::DW_TAG_compile_unit) {
            raw.skip_attributes(abbrev.attributes())
                .map_err(dwarf_err(Some(offset)))?;
            continue;
        }
        let mut name = None;
        let mut declaration = false;
        let mut decl_file = None;
        for spec in abbrev.attributes() {
            let attr = raw.read_attribute(*spec).map_err(dwarf_err(Some(offset)))?;
            match attr.name() {
                dw::DW_AT_name => {
                    let s = dwarf
                        .attr_string(&unit, attr.value())
                        .and_then(|s| text(&s))
                        .map_err(dwarf_err(Some(offset)))?;
                    name = Some(s);
                }
                dw::DW_AT_declaration => {
                    declaration = !matches!(attr.value(), AttributeValue::Flag(false));
                }
                dw::DW_AT_decl_file => {
                    decl_file = match attr.value() {
                        AttributeValue::FileIndex(i) => Some(i),
                        v => v.udata_value(),
                    };
                }
                _ => {}
            }
        }
        let Some(kind) = kind else {
            // The unit's root: its primary source file.
            facts.module_dir = name.and_then(|n| primary_dir(comp_dir.as_deref(), &n));
            continue;
        };
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            continue;
        };
        if declaration {
            continue;
        }
        let file = match (kind, decl_file) {
            (TypeKind::Base, _) | (_, None) => None,
            (_, Some(index)) => files.path(index).map_err(|e| e.at(loc(Some(offset))))?,
        };
        facts.defs.push(Def { kind, name, file });
    }
    Ok(facts)
}

/// The directory of a unit's primary source file, if it counts as the module's.
fn primary_dir(comp_dir: Option<&str>, name: &str) -> Option<String> {
    if name.ends_with(".mod.c") || name.starts_with('<') {
        return None;
    }
    let full = normalize(&join(comp_dir, name));
    Some(match full.rfind('/') {
        Some(0) => "/".to_string(),
        Some(i) => full[..i].to_string(),
        None => String::new(),
    })
}

/// A unit's line program files, resolved to normalized paths on demand.
struct FileTable<'a, R: Reader<Offset = usize>> {
    dwarf: &'a gimli::Dwarf<R>,
    unit: &'a gimli::Unit<R>,
    comp_dir: Option<&'a str>,
    resolved: HashMap<u64, Option<String>>,
}

/// Why a `DW_AT_decl_file` could not be resolved (located by the caller).
enum FileError {
    Dwarf(gimli::Error),
    Bad { index: u64, why: String },
}

impl FileError {
    fn at(self, loc: DwarfLocation) -> ErrorKind {
        match self {
            FileError::Dwarf(error) => ErrorKind::Dwarf { loc, error },
            FileError::Bad { index, why } => ErrorKind::DeclFile { loc, index, why },
        }
    }
}

impl<R: Reader<Offset = usize>> FileTable<'_, R> {
    /// The normalized path of file `index`; `None` for DWARF 2 to 4's index 0 ("no file").
    fn path(&mut self, index: u64) -> Result<Option<String>, FileError> {
        if let Some(p) = self.resolved.get(&index) {
            return Ok(p.clone());
        }
        let p = self.resolve(index)?;
        self.resolved.insert(index, p.clone());
        Ok(p)
    }

    fn resolve(&self, index: u64) -> Result<Option<String>, FileError> {
        let Some(program) = &self.unit.line_program else {
            return Err(FileError::Bad {
                index,
                why: "the unit has no line program".into(),
            });
        };
        let header = program.header();
        let version = header.version();
        if version <= 4 && index == 0 {
            return Ok(None);
        }
        let Some(file) = header.file(index) else {
            return Err(FileError::Bad {
                index,
                why: format!(
                    "not in the line program's file table ({} files, DWARF {version})",
                    header.file_names().len()
                ),
            });
        };
        let text = |v: AttributeValue<R>| -> Result<String, FileError> {
            let s = self
                .dwarf
                .attr_string(self.unit, v)
                .map_err(FileError::Dwarf)?;
            Ok(s.to_string_lossy().map_err(FileError::Dwarf)?.into_owned())
        };
        let name = text(file.path_name())?;
        if name.starts_with('/') {
            return Ok(Some(normalize(&name)));
        }
        let dir_index = file.directory_index();
        let dir = match (dir_index, self.comp_dir) {
            // Directory 0 is the compilation directory (DWARF 5 repeats it in the table).
            (0, Some(comp_dir)) => comp_dir.to_string(),
            _ => match header.directory(dir_index) {
                Some(v) => join(self.comp_dir, &text(v)?),
                None => {
                    return Err(FileError::Bad {
                        index,
                        why: format!("its directory {dir_index} is not in the line program"),
                    });
                }
            },
        };
        Ok(Some(normalize(&join(Some(&dir), &name))))
    }
}

/// `path` made absolute with `dir` when relative.
fn join(dir: Option<&str>, path: &str) -> String {
    match dir {
        Some(dir) if !path.starts_with('/') && !dir.is_empty() => format!("{dir}/{path}"),
        _ => path.to_string(),
    }
}

/// `path` with `.` components dropped, `..` folded into its parent where there is one, and
/// repeated or trailing `/` removed. A relative path keeps its leading `..`; the root's parent
/// is the root.
pub(crate) fn normalize(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if absolute => {}
                _ => parts.push(".."),
            },
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

/// Whether `path` lies under the directory `dir` (both normalized), at any depth.
pub(crate) fn is_under(path: &str, dir: &str) -> bool {
    if path.starts_with('/') != dir.starts_with('/') {
        return false;
    }
    let mut p = path.split('/').filter(|c| !c.is_empty());
    let d = dir.split('/').filter(|c| !c.is_empty());
    let mut depth = 0;
    for c in d {
        if p.next() != Some(c) {
            return false;
        }
        depth += 1;
    }
    // The directory itself is no file under it; a relative "" holds every relative path
    // that does not leave it.
    let rest: Vec<&str> = p.collect();
    !rest.is_empty() && (depth > 0 || dir.starts_with('/') || rest[0] != "..")
}

fn classify(units: Vec<UnitFacts>) -> TypeOrigins {
    let module_dirs: BTreeSet<String> = units.iter().filter_map(|u| u.module_dir.clone()).collect();
    let mut types: BTreeMap<(TypeKind, String), TypeOrigin> = BTreeMap::new();
    for def in units.into_iter().flat_map(|u| u.defs) {
        let origin = match (&def.file, def.kind) {
            (_, TypeKind::Base) => Origin::Kernel,
            (None, _) => Origin::Module,
            (Some(f), _) => {
                if module_dirs.iter().any(|d| is_under(f, d)) {
                    Origin::Module
                } else {
                    Origin::Kernel
                }
            }
        };
        let new = TypeOrigin {
            origin,
            path: def.file,
        };
        match types.entry((def.kind, def.name)) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(new);
            }
            std::collections::btree_map::Entry::Occupied(mut e) => {
                let old = e.get_mut();
                if new.origin > old.origin {
                    *old = new;
                } else if new.origin == old.origin && old.path.is_none() {
                    old.path = new.path;
                }
            }
        }
    }
    TypeOrigins { module_dirs, types }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(normalize("./include/linux/x.h"), "include/linux/x.h");
        assert_eq!(normalize("a/./b//c/"), "a/b/c");
        assert_eq!(normalize("drivers/net/../../include/x.h"), "include/x.h");
        assert_eq!(normalize("../x/../../y"), "../../y");
        assert_eq!(normalize("/../a/.."), "/");
        assert_eq!(normalize("/usr/src/./linux/"), "/usr/src/linux");
    }

    #[test]
    fn under() {
        assert!(is_under(
            "drivers/net/bonding/bond_main.c",
            "drivers/net/bonding"
        ));
        assert!(is_under(
            "drivers/net/bonding/sub/x.h",
            "drivers/net/bonding"
        ));
        assert!(!is_under("drivers/net/bonding", "drivers/net/bonding"));
        assert!(!is_under("drivers/net/bonding2/x.h", "drivers/net/bonding"));
        assert!(!is_under("include/net/bonding.h", "drivers/net/bonding"));
        assert!(!is_under("/drivers/net/bonding/x.h", "drivers/net/bonding"));
        assert!(is_under("/home/m/x.h", "/"));
        assert!(is_under("x.h", ""));
        assert!(!is_under("../x.h", ""));
    }

    #[test]
    fn primary_dirs() {
        let kb = Some("debian/build/b");
        assert_eq!(
            primary_dir(kb, "drivers/net/dummy.c").as_deref(),
            Some("debian/build/b/drivers/net")
        );
        assert_eq!(primary_dir(kb, "drivers/net/dummy.mod.c"), None);
        assert_eq!(
            primary_dir(Some("/usr/src/linux"), "/home/u/m/./m.c").as_deref(),
            Some("/home/u/m")
        );
        assert_eq!(primary_dir(None, "m.c").as_deref(), Some(""));
        assert_eq!(primary_dir(Some("/"), "m.c").as_deref(), Some("/"));
        assert_eq!(primary_dir(None, "<artificial>"), None);
    }

    #[test]
    fn module_wins_and_keeps_its_path() {
        let def = |kind, name: &str, file: Option<&str>| Def {
            kind,
            name: name.into(),
            file: file.map(Into::into),
        };
        let units = vec![
            UnitFacts {
                module_dir: Some("k/drivers/m".into()),
                defs: vec![
                    def(TypeKind::Struct, "s", Some("k/include/linux/s.h")),
                    def(TypeKind::Struct, "t", None),
                    def(TypeKind::Base, "int", None),
                ],
            },
            UnitFacts {
                module_dir: None,
                defs: vec![
                    def(TypeKind::Struct, "s", Some("k/drivers/m/s.h")),
                    def(TypeKind::Union, "s", Some("k/include/linux/u.h")),
                ],
            },
        ];
        let o = classify(units);
        let s = o.get(TypeKind::Struct, "s").unwrap();
        assert_eq!(s.origin, Origin::Module);
        assert_eq!(s.path.as_deref(), Some("k/drivers/m/s.h"));
        assert_eq!(o.origin(TypeKind::Union, "s"), Some(Origin::Kernel));
        assert_eq!(o.origin(TypeKind::Struct, "t"), Some(Origin::Module));
        assert_eq!(o.origin(TypeKind::Base, "int"), Some(Origin::Kernel));
        assert_eq!(o.origin(TypeKind::Enum, "s"), None);
    }
}
