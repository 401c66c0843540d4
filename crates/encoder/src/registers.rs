//! Which functions receive a parameter in a register the calling convention does not put it
//! in, as pahole 1.25's dwarf_loader decides (`parameter__new`, `ftype__recode_dwarf_types`,
//! `cu__resolve_func_ret_types_optimized`). Only `optimized_func` and `consistent_func` use
//! it: such a function is not encoded, since a BPF program attached to it would read the
//! wrong registers.
//!
//! # Per parameter
//!
//! Every `DW_TAG_formal_parameter` child of a subprogram (or of a lexical block: the count
//! restarts there, as pahole's `die__process_function` starts it again) has an index, 0 for
//! the first. The first N parameters are checked, N being the architecture's number of
//! register parameters (6 on x86_64: `%rdi`, `%rsi`, `%rdx`, `%rcx`, `%r8`, `%r9`); later ones,
//! and parameters of subroutine types, are not looked at. For a checked parameter:
//!
//! - `has_loc`: it has a `DW_AT_location`, whatever its form;
//! - if the first operation of its first location expression (the expression itself, or the
//!   first entry of a location list) is `DW_OP_reg0`..`DW_OP_reg31`: *unexpected register*
//!   when the architecture names a register for that index and it is another one;
//! - any other first operation (a stack slot, `DW_OP_entry_value`, `DW_OP_regx`, ...):
//!   *optimized*;
//! - no expression at all (no location, an empty list or expression): *optimized* if it has a
//!   `DW_AT_const_value`.
//!
//! # Shared with the abstract origin
//!
//! An out-of-line copy of an inlined function describes its parameters as DIEs without a
//! type that point at the abstract instance's parameters (`DW_AT_abstract_origin`). For each
//! function, in functions-table order, each such parameter ORs its three facts into its
//! origin's, so that the abstract instance (also in the functions table, under the same
//! name) carries what its copies do.
//!
//! # Per function
//!
//! A function has an *unexpected register* when one of its parameters does, unless one of
//! its parameters is a struct (`DW_TAG_structure_type`, through typedefs and `const`): a
//! struct can take several registers, which shifts the ones after it, so the check is not
//! meaningful there. (Unions do not count; later pahole versions widened this to "any
//! parameter larger than a register".) It has *optimized parameters* when a parameter is optimized or has no
//! location; pahole records this but never drops a function for it (the function may still
//! be called with the right values; it just does not use them).

use std::collections::HashMap;

use gimli::constants as dw;
use object::elf;

use crate::die::FirstOp;
use crate::loader::Cu;

/// What pahole found about one function's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FuncFlags {
    /// A parameter is passed in an unexpected register (and none is a struct).
    pub unexpected_reg: bool,
    /// A parameter is optimized out or has no location.
    pub optimized_parms: bool,
}

/// One parameter's facts.
#[derive(Debug, Clone, Copy, Default)]
struct ParamFlags {
    has_loc: bool,
    optimized: bool,
    unexpected_reg: bool,
}

/// pahole's `arch__nr_register_params` and `arch__set_register_params`: the expected
/// `DW_OP_reg*` opcode for each register parameter index (`None` where pahole records no
/// register, so that only optimized-out parameters are spotted there).
pub fn register_params(machine: elf::Machine) -> Vec<Option<u8>> {
    let reg = |n: u8| Some(dw::DW_OP_reg0.0 + n);
    match machine {
        elf::EM_S390 => (2..=6).map(reg).collect(),
        elf::EM_X86_64 => [5, 4, 1, 2, 8, 9].into_iter().map(reg).collect(),
        elf::EM_ARM | elf::EM_AARCH64 => (0..=7).map(reg).collect(),
        elf::EM_SPARC | elf::EM_SPARCV9 => vec![None; 6],
        elf::EM_ARC | elf::EM_MIPS | elf::EM_PPC | elf::EM_PPC64 | elf::EM_RISCV => vec![None; 8],
        _ => Vec::new(),
    }
}

/// The flags of every function of `cu.functions`, in that order.
pub fn function_flags<'d>(cu: &Cu<'d>, registers: &[Option<u8>]) -> Vec<FuncFlags> {
    let mut params: HashMap<u32, ParamFlags> = HashMap::new();
    for &f in &cu.functions {
        own_flags(cu, f, registers, &mut params);
    }
    // ftype__recode_dwarf_types: untyped parameters pass their facts to their origin.
    for &f in &cu.functions {
        for p in cu.children(f) {
            let n = cu.node(p);
            if n.tag != dw::DW_TAG_formal_parameter || n.type_ref().is_some() {
                continue;
            }
            let Some(origin) = cu.tag_at(n.abstract_origin()) else {
                continue;
            };
            if cu.node(origin).tag != dw::DW_TAG_formal_parameter {
                continue;
            }
            let own = params.get(&p).copied().unwrap_or_default();
            let o = params.entry(origin).or_default();
            o.has_loc |= own.has_loc;
            o.optimized |= own.optimized;
            o.unexpected_reg |= own.unexpected_reg;
        }
    }
    cu.functions
        .iter()
        .map(|&f| {
            let mut flags = FuncFlags::default();
            let mut unexpected = false;
            for p in cu.children(f) {
                if cu.node(p).tag != dw::DW_TAG_formal_parameter {
                    continue;
                }
                let pf = params.get(&p).copied().unwrap_or_default();
                if pf.optimized || !pf.has_loc {
                    flags.optimized_parms = true;
                }
                unexpected |= pf.unexpected_reg;
            }
            if unexpected {
                let has_struct = cu
                    .children(f)
                    .filter(|&p| cu.node(p).tag == dw::DW_TAG_formal_parameter)
                    .any(|p| is_struct(cu, param_type(cu, p), 0));
                flags.unexpected_reg = !has_struct;
            }
            flags
        })
        .collect()
}

/// `parameter__new` for the parameters of subprogram `f` and of its lexical blocks.
fn own_flags<'d>(
    cu: &Cu<'d>,
    parent: u32,
    registers: &[Option<u8>],
    out: &mut HashMap<u32, ParamFlags>,
) {
    let mut idx = 0usize;
    for p in cu.children(parent) {
        let n = cu.node(p);
        match n.tag {
            dw::DW_TAG_formal_parameter => {
                let i = idx;
                idx += 1;
                let Some(&expected) = registers.get(i) else {
                    continue;
                };
                let loc = n.param_loc();
                let mut flags = ParamFlags {
                    has_loc: loc.has_loc,
                    ..Default::default()
                };
                match loc.first_op {
                    FirstOp::Reg(op) if loc.has_loc => {
                        flags.unexpected_reg = expected.is_some_and(|e| e != op);
                    }
                    FirstOp::Other if loc.has_loc => flags.optimized = true,
                    _ => flags.optimized = loc.has_const_value,
                }
                out.insert(p, flags);
            }
            dw::DW_TAG_lexical_block => own_flags(cu, p, registers, out),
            _ => {}
        }
    }
}

/// A parameter's type: its own, or its abstract origin's when it has none (the recoded
/// `tag.type` pahole looks at).
pub fn param_type<'d>(cu: &Cu<'d>, p: u32) -> u32 {
    let a = cu.node(p);
    if a.type_ref().is_some() || a.abstract_origin().is_none() {
        return cu.resolve(a.type_ref());
    }
    match cu.tag_at(a.abstract_origin()) {
        Some(o) => cu.resolve(cu.node(o).type_ref()),
        None => 0,
    }
}

/// pahole's `param__is_struct`: a struct, possibly behind typedefs and `const`.
fn is_struct<'d>(cu: &Cu<'d>, id: u32, depth: usize) -> bool {
    if depth > 64 {
        return false;
    }
    let Some(node) = cu.type_node(id) else {
        return false;
    };
    let n = cu.node(node);
    match n.tag {
        dw::DW_TAG_structure_type => true,
        dw::DW_TAG_const_type | dw::DW_TAG_typedef => {
            is_struct(cu, cu.resolve(n.type_ref()), depth + 1)
        }
        _ => false,
    }
}
