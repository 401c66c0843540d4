//! Per-CPU variables, as pahole 1.24 encodes them: a VAR for each DWARF variable that matches
//! an ELF symbol of `.data..percpu`, and one `.data..percpu` DATASEC over them.
//!
//! The ELF side (see `input`): every `STT_OBJECT` symbol of non-zero size in `.data..percpu`,
//! sorted by address; an invalid BTF name is an error, as in pahole without
//! `--btf_encode_force`. The DWARF side walks each unit's variables (top-level and
//! function-local, in DIE order) and skips a variable when:
//!
//! 1. it is a declaration without a specification;
//! 2. its location is not a static address (`DW_OP_addr` or `DW_OP_addrx` first) and it has
//!    no specification;
//! 3. its address is outside the per-CPU section (addresses are relative to the section's
//!    address, which for a module is libdwfl's layout address);
//! 4. no per-CPU symbol has that section offset;
//! 5. its address is 0 and its DWARF name differs from the symbol's (special symbols such as
//!    `__UNIQUE_ID_*` share address 0 with the first per-CPU variable of vmlinux);
//! 6. its type (the specification's, when it has one) has size 0.
//!
//! A variable of void type stops the encoding, as in pahole. The VAR takes the ELF symbol's
//! name, the DWARF type, and linkage `global-alloc` when the variable (or its specification)
//! is `DW_AT_external`, `static` otherwise. Its DATASEC entry has the symbol's offset and
//! size. Nothing is deduplicated: a variable defined twice would be encoded twice.
//!
//! # Every global variable (`global_var`, pahole 1.28)
//!
//! pahole 1.28's `--btf_features=global_var` replaced the per-CPU matching above with one
//! DWARF-driven rule for every variable, per-CPU ones included; with `global_var`, kbtf
//! follows it for all variables ([`global_vars`]). A variable of the unit's variables (DIE
//! order) is skipped when:
//!
//! 1. it is a declaration without a specification;
//! 2. it is not a direct child of the unit (function-local statics), it is
//!    `DW_AT_artificial`, or its location's first operation is not `DW_OP_addr`/
//!    `DW_OP_addrx` (a declaration has no location);
//! 3. no `SHT_PROGBITS` or `SHT_NOBITS` section holds its address (the first such section
//!    in section-header order whose `[addr, addr + size)` contains it; addresses are libdwfl's
//!    layout addresses for `ET_REL`, as for the per-CPU rule);
//! 4. its name (the specification's, if any) is missing;
//! 5. its name starts with `__UNIQUE_ID`, `__tpstrtab_`, `__exitcall_` or
//!    `__func_stack_frame_non_standard_` (pahole's `filter_variable_name`);
//! 6. its type's size is 0 or over 4 GiB, or its offset in the section is over 4 GiB.
//!
//! A name that is not a valid BTF name and a variable of void type stop the encoding (pahole
//! without `--btf_encode_force`). The VAR has the DWARF name, the DWARF type and the linkage
//! rule above; its DATASEC entry the offset in its section and the type's size. Each section
//! with a variable gets a DATASEC named after it (`.data`, `.bss`, `.rodata`,
//! `.data..percpu`, ...).

use gimli::constants as dw;
use kbtf_btf::{VAR_GLOBAL_ALLOCATED, VAR_STATIC};

use crate::die::Location;
use crate::error::ErrorKind;
use crate::input::{btf_name_valid, ElfSection, Percpu, SectionKind};
use crate::loader::{Cu, NodeRef};
use crate::types::{decl_tags_of, type_size, Strings};

/// A per-CPU variable to encode.
pub struct VarOut {
    /// The index of its section, whose DATASEC it goes into.
    pub section: usize,
    pub name: u32,
    /// Unit-local type id.
    pub ty: u32,
    pub linkage: u32,
    pub offset: u32,
    pub size: u32,
    pub decl_tags: Vec<(u32, i32)>,
}

/// A variable DIE of the tags table, with the variable DIE its `DW_AT_specification` names
/// (when that is in the tags hash); `None` for a declaration without one, which pahole skips.
fn defined_var<'a, 'd>(cu: &'a Cu<'d>, node: u32) -> Option<(NodeRef<'a, 'd>, Option<u32>)> {
    let a = cu.node(node);
    let spec = cu
        .tag_at(a.specification())
        .filter(|&s| cu.node(s).tag == dw::DW_TAG_variable);
    (!a.declaration() || spec.is_some()).then_some((a, spec))
}

/// The BTF linkage of the variable DIE `v`.
fn linkage(v: NodeRef<'_, '_>) -> u32 {
    if v.external() {
        VAR_GLOBAL_ALLOCATED
    } else {
        VAR_STATIC
    }
}

pub fn percpu_vars<'d>(
    cu: &Cu<'d>,
    percpu: &Percpu,
    opts: &crate::EncodeOptions,
    strings: &mut Strings<'d>,
) -> Result<Vec<VarOut>, ErrorKind> {
    let mut out = Vec::new();
    for &node in &cu.variables {
        let Some((a, spec)) = defined_var(cu, node) else {
            continue;
        };
        let addr = match a.location() {
            Location::Global(addr) if !a.declaration() => addr,
            _ if spec.is_none() => continue,
            _ => 0,
        };
        if addr < percpu.base_addr || addr >= percpu.base_addr.saturating_add(percpu.size) {
            continue;
        }
        let offset = addr - percpu.base_addr;
        let Some(sym) = percpu.find(offset) else {
            continue;
        };
        if addr == 0 && !a.name().is_some_and(|n| n.is(sym.name.as_bytes())) {
            continue;
        }
        let var = spec.unwrap_or(node);
        let v = cu.node(var);
        let ty = cu.resolve(v.type_ref());
        if ty == 0 {
            return Err(ErrorKind::Unsupported {
                loc: cu.loc(var),
                what: format!("per-CPU variable {:?} of void type", sym.name),
            });
        }
        if type_size(cu, ty, 0) == 0 {
            continue;
        }
        let decl_tags = var_decl_tags(cu, var, opts, strings);
        out.push(VarOut {
            section: percpu.index,
            name: strings.add(sym.name.clone()),
            ty,
            linkage: linkage(v),
            offset: offset as u32,
            size: sym.size,
            decl_tags,
        });
    }
    Ok(out)
}

/// pahole's `filter_variable_name`: prefixes of variables with no useful value.
const FILTERED_PREFIXES: [&str; 4] = [
    "__UNIQUE_ID",
    "__tpstrtab_",
    "__exitcall_",
    "__func_stack_frame_non_standard_",
];

/// pahole 1.28's `get_elf_section`: the first data section holding `addr`.
fn section_of(sections: &[ElfSection], addr: u64) -> Option<usize> {
    sections
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, s)| s.kind == SectionKind::Data && s.addr <= addr && addr - s.addr < s.size)
        .map(|(i, _)| i)
}

/// Every global variable, as pahole 1.28's `btf_encoder__encode_cu_variables` with
/// `global_var` (see the module documentation); with `only`, just those of the section of
/// that name, as pahole 1.28 without `global_var` takes the per-CPU ones (a variable of
/// another section is passed over before its name or type is looked at).
pub fn global_vars<'d>(
    cu: &Cu<'d>,
    sections: &[ElfSection],
    only: Option<&str>,
    opts: &crate::EncodeOptions,
    strings: &mut Strings<'d>,
) -> Result<Vec<VarOut>, ErrorKind> {
    let mut out = Vec::new();
    if sections.is_empty() {
        return Ok(out);
    }
    let top_level: std::collections::HashSet<u32> = cu.children(0).collect();
    for &node in &cu.variables {
        let Some((a, spec)) = defined_var(cu, node) else {
            continue;
        };
        if !top_level.contains(&node) || a.artificial() {
            continue;
        }
        let addr = match a.location() {
            Location::Global(addr) if !a.declaration() => addr,
            _ => continue,
        };
        let Some(section) = section_of(sections, addr) else {
            continue;
        };
        if only.is_some_and(|name| sections[section].name != name) {
            continue;
        }
        let offset = addr - sections[section].addr;
        let var = spec.unwrap_or(node);
        let v = cu.node(var);
        let Some(name) = v.name().map(|n| crate::loader::lossy(n.bytes())) else {
            continue;
        };
        let loc = cu.loc(var);
        if !btf_name_valid(&name) {
            return Err(ErrorKind::Unsupported {
                loc,
                what: format!(
                    "variable {name:?}: not a valid BTF name (pahole stops here unless --btf_encode_force)"
                ),
            });
        }
        if FILTERED_PREFIXES.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let ty = cu.resolve(v.type_ref());
        if ty == 0 {
            return Err(ErrorKind::Unsupported {
                loc,
                what: format!("variable {name:?} of void type"),
            });
        }
        let size = type_size(cu, ty, 0);
        if size == 0 || size > u32::MAX as u64 || offset > u32::MAX as u64 {
            continue;
        }
        let decl_tags = var_decl_tags(cu, var, opts, strings);
        out.push(VarOut {
            section,
            name: strings.add(name),
            ty,
            linkage: linkage(v),
            offset: offset as u32,
            size: size as u32,
            decl_tags,
        });
    }
    Ok(out)
}

/// A variable's `btf_decl_tag` annotations, unless they are skipped.
fn var_decl_tags<'d>(
    cu: &Cu<'d>,
    var: u32,
    opts: &crate::EncodeOptions,
    strings: &mut Strings<'d>,
) -> Vec<(u32, i32)> {
    if opts.skip_decl_tag {
        return Vec::new();
    }
    decl_tags_of(cu, var)
        .map(|v| (strings.add(v), -1))
        .collect()
}
