//! Which functions get a FUNC, and their FUNC_PROTO, as pahole 1.24 decides
//! (`btf_encoder__encode_cu`).
//!
//! pahole 1.24 walks each unit's functions table (every `DW_TAG_subprogram`, in DIE order,
//! nested ones before their parent) and skips a function when:
//!
//! 1. it carries `DW_AT_declaration`;
//! 2. one of its parameters has no name ("has_arg_names"): a parameter without a name of its
//!    own takes the name of its `DW_AT_abstract_origin`, so out-of-line copies of inlined
//!    functions have names;
//! 3. the file has `STT_FUNC` symbols in `.symtab` and no symbol has exactly the function's
//!    name (a subprogram without a name takes it from its abstract origin, or else from its
//!    specification); clones such as `foo.isra.0` or `foo.cold` have no DWARF of that name
//!    and are never matched;
//! 4. a function of that name was already encoded, in this unit or an earlier one: the first
//!    one in CU order wins, whatever its prototype;
//! 5. the file has no function symbol at all and the function is not `DW_AT_external`.
//!
//! There is no ftrace (mcount) filter since pahole 1.22. The FUNC's linkage is always
//! `static`, as pahole writes it. The prototype is the subprogram's: its return type (or its
//! abstract origin's when it has none), its direct `DW_TAG_formal_parameter` children (a
//! parameter without a type takes its abstract origin's), and a varargs parameter when it
//! has a `DW_TAG_unspecified_parameters` child.
//!
//! Rule 4 needs every earlier unit, so this module only lists each unit's candidates, in
//! order; `merge` keeps the first of each name.
//!
//! # `optimized_func` and `consistent_func` (pahole 1.25 to 1.27)
//!
//! With `consistent_func` (pahole's `--skip_encoding_btf_inconsistent_proto`), a function
//! matched by its exact name is *saved* instead: rule 4 no longer applies, and `merge`
//! compares every definition of the name across all units before deciding.
//!
//! With `optimized_func` (`--btf_gen_optimized`), a function whose name has no symbol is
//! also matched with a compiler clone's symbol: `foo` with `foo.isra.0`, `foo.constprop.0`,
//! `foo.part.0` (any `STT_FUNC` name whose part before the first dot is `foo`), when the file
//! has at least one symbol with a dot. Such a function is always saved, and encoded under its
//! DWARF name. An exact symbol always wins over a clone.
//!
//! A saved candidate carries what `merge` needs: whether a parameter sits in an unexpected
//! register (`registers`), its parameter count, its return type's small id and its printed
//! prototype (`proto`).

use gimli::constants as dw;
use kbtf_btf::{Param, Type, TypeData};

use crate::die::Name;
use crate::error::ErrorKind;
use crate::input::FunctionSymbols;
use crate::loader::{lossy, Cu};
use crate::registers::FuncFlags;
use crate::types::{decl_tag_value, decl_tags_of, Strings};

/// A function that passed the unit-local rules.
pub struct Candidate {
    pub name: String,
    /// The FUNC_PROTO, with unit-local ids.
    pub proto: Type,
    /// `btf_decl_tag` annotations: (string index, component index).
    pub decl_tags: Vec<(u32, i32)>,
    /// Held back until every unit is read (pahole's `btf_encoder__save_func`); otherwise the
    /// first function of its name is encoded in its unit.
    pub saved: bool,
    /// Matched through a clone's symbol (`foo.isra.0`) rather than its own name.
    pub clone: bool,
    /// The parameter facts (only computed with `optimized_func` or `consistent_func`).
    pub flags: FuncFlags,
    /// The number of parameters, varargs not counted.
    pub nr_parms: usize,
    /// The return type's small id (pahole 1.25's comparison looks at it).
    pub ret: u32,
    /// The printed prototype, for saved functions with parameters (empty otherwise).
    pub proto_text: String,
}

/// The function's name as pahole resolves it.
fn function_name<'d>(cu: &Cu<'d>, node: u32) -> Option<Name<'d>> {
    let a = cu.node(node);
    if let Some(n) = a.name() {
        return Some(n);
    }
    let origin = cu
        .tag_at(a.abstract_origin())
        .or_else(|| cu.tag_at(a.specification()))?;
    cu.node(origin).name()
}

/// The return type: its own, or its abstract origin's (`cu__resolve_func_ret_types`).
fn return_type<'d>(cu: &Cu<'d>, node: u32) -> Result<u32, ErrorKind> {
    let a = cu.node(node);
    let own = cu.resolve(a.type_ref());
    if own != 0 || a.abstract_origin().is_none() {
        return Ok(own);
    }
    match cu.tag_at(a.abstract_origin()) {
        Some(origin) => Ok(cu.resolve(cu.node(origin).type_ref())),
        None => Err(ErrorKind::Unsupported {
            loc: cu.loc(node),
            what: "a function whose abstract origin is not in its unit".into(),
        }),
    }
}

/// The unit's candidate functions, in functions-table order.
pub fn candidates<'d>(
    cu: &Cu<'d>,
    symbols: &FunctionSymbols,
    registers: &[Option<u8>],
    opts: &crate::EncodeOptions,
    strings: &mut Strings<'d>,
) -> Result<Vec<Candidate>, ErrorKind> {
    let has_function_symbols = !symbols.is_empty();
    let flags = if opts.optimized_func || opts.consistent_func {
        crate::registers::function_flags(cu, registers)
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    for (index, &node) in cu.functions.iter().enumerate() {
        // pahole resolves every function's return type, and fails on a missing origin,
        // before it looks at any of them.
        let ret = return_type(cu, node)?;
        let a = cu.node(node);
        if a.declaration() {
            continue;
        }
        let mut params: Vec<(Option<Name<'d>>, u32)> = Vec::new();
        let mut varargs = false;
        for child in cu.children(node) {
            let c = cu.node(child);
            match c.tag {
                dw::DW_TAG_formal_parameter => {
                    if c.type_ref().is_some() || c.abstract_origin().is_none() {
                        params.push((c.name(), cu.resolve(c.type_ref())));
                    } else if let Some(o) = cu.tag_at(c.abstract_origin()) {
                        let o = cu.node(o);
                        params.push((o.name(), cu.resolve(o.type_ref())));
                    } else {
                        params.push((c.name(), 0));
                    }
                }
                dw::DW_TAG_unspecified_parameters => varargs = true,
                _ => {}
            }
        }
        if params.iter().any(|(n, _)| n.is_none()) {
            continue;
        }
        let name = function_name(cu, node);
        let (saved, clone) = if has_function_symbols {
            let Some(name) = &name else { continue };
            let bytes = name.bytes();
            if symbols.pahole_finds(bytes) {
                (opts.consistent_func, false)
            } else if opts.optimized_func
                && symbols.has_suffixed
                && symbols.clone_prefixes.contains(bytes)
            {
                (true, true)
            } else {
                continue;
            }
        } else if !a.external() || name.is_none() {
            continue;
        } else {
            (false, false)
        };
        let nr_parms = params.len();
        let proto_text = if saved && nr_parms > 0 {
            let types: Vec<u32> = params.iter().map(|(_, ty)| *ty).collect();
            crate::proto::prototype(cu, ret, &types, varargs)
        } else {
            String::new()
        };
        let mut proto_params: Vec<Param> = params
            .iter()
            .map(|(n, ty)| Param {
                name_off: strings.add_name(*n),
                ty: *ty,
            })
            .collect();
        if varargs {
            proto_params.push(Param { name_off: 0, ty: 0 });
        }
        let mut decl_tags = Vec::new();
        if !opts.skip_decl_tag {
            let mut param_idx = 0;
            for child in cu.children(node) {
                let c = cu.node(child);
                match c.tag {
                    dw::DW_TAG_formal_parameter => {
                        decl_tags
                            .extend(decl_tags_of(cu, child).map(|v| (strings.add(v), param_idx)));
                        param_idx += 1;
                    }
                    crate::die::DW_TAG_LLVM_ANNOTATION => {
                        if let Some(v) = decl_tag_value(cu, child) {
                            decl_tags.push((strings.add(v), -1));
                        }
                    }
                    _ => {}
                }
            }
        }
        out.push(Candidate {
            name: name.map(|n| lossy(n.bytes())).unwrap_or_default(),
            proto: Type::new(
                0,
                TypeData::FuncProto {
                    ret,
                    params: proto_params,
                },
            ),
            decl_tags,
            saved,
            clone,
            flags: flags.get(index).copied().unwrap_or_default(),
            nr_parms,
            ret,
            proto_text,
        });
    }
    Ok(out)
}
