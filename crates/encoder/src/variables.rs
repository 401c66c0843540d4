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

use gimli::{constants as dw, Reader};
use kbtf_btf::{VAR_GLOBAL_ALLOCATED, VAR_STATIC};

use crate::die::Location;
use crate::error::{DwarfLocation, ErrorKind};
use crate::input::Percpu;
use crate::loader::{reader_eq, Cu};
use crate::types::{decl_tag_value, type_size, Strings};

/// A per-CPU variable to encode.
pub struct VarOut {
    pub name: u32,
    /// Unit-local type id.
    pub ty: u32,
    pub linkage: u32,
    pub offset: u32,
    pub size: u32,
    pub decl_tags: Vec<(u32, i32)>,
}

pub fn percpu_vars<R: Reader<Offset = usize>>(
    cu: &Cu<R>,
    percpu: &Percpu,
    opts: &crate::EncodeOptions,
    strings: &mut Strings,
) -> Result<Vec<VarOut>, ErrorKind> {
    let mut out = Vec::new();
    for &node in &cu.variables {
        let a = &cu.node(node).a;
        let spec = cu
            .tag_at(a.specification)
            .filter(|&s| cu.node(s).tag == dw::DW_TAG_variable);
        if a.declaration && spec.is_none() {
            continue;
        }
        let addr = match a.location {
            Location::Global(addr) if !a.declaration => addr,
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
        if addr == 0
            && !a
                .name
                .as_ref()
                .is_some_and(|n| reader_eq(n, sym.name.as_bytes()))
        {
            continue;
        }
        let var = spec.unwrap_or(node);
        let v = &cu.node(var).a;
        let ty = cu.resolve(v.type_ref);
        if ty == 0 {
            return Err(ErrorKind::Unsupported {
                loc: DwarfLocation {
                    cu: Some(cu.offset as u64),
                    die: Some(cu.node(var).offset as u64),
                },
                what: format!("per-CPU variable {:?} of void type", sym.name),
            });
        }
        if type_size(cu, ty, 0) == 0 {
            continue;
        }
        let mut decl_tags = Vec::new();
        if !opts.skip_decl_tag {
            for child in cu.children(var) {
                if cu.node(child).tag == crate::die::DW_TAG_LLVM_ANNOTATION {
                    if let Some(value) = decl_tag_value(cu, child) {
                        decl_tags.push((strings.add(value), -1));
                    }
                }
            }
        }
        out.push(VarOut {
            name: strings.add(sym.name.clone()),
            ty,
            linkage: if v.external {
                VAR_GLOBAL_ALLOCATED
            } else {
                VAR_STATIC
            },
            offset: offset as u32,
            size: sym.size,
            decl_tags,
        });
    }
    Ok(out)
}
