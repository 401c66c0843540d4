//! A function's prototype as pahole 1.25 to 1.27 print it to compare two definitions of one
//! name (`proto__get`: `function__prototype_conf` with `no_parm_names` and
//! `skip_emitting_modifier`, in a 512-byte buffer).
//!
//! `consistent_func` calls two functions of one name consistent when their prototypes print
//! the same, so what matters here is exactly which types print alike. The printer is
//! pahole's C type printer (dwarves_fprintf.c: `ftype__fprintf`, `ftype__fprintf_parms`,
//! `__tag__name`, `tag__ptr_name`) with those two options:
//!
//! - the prototype is `RET ()(P1, P2, ...)`; `(void)` without parameters, `, ...)` after
//!   the last one for varargs (an old-style `()` prototype with no parameter prints `(void)`);
//! - a base type prints its DWARF name; a typedef its name; structs, unions and enums
//!   `struct NAME`, `union NAME`, `enum NAME` (`struct ` when anonymous; `class ` for a struct
//!   of a C++ unit);
//! - `const`, `volatile`, `restrict` and `_Atomic` print nothing: `const char *` and
//!   `char *` are the same;
//! - a pointer prints `T *` (`void *` for a void pointer); a pointer to a const pointer skips
//!   the const;
//! - an array prints as its element type, dimensions dropped;
//! - a parameter that is a function pointer prints `RET (*)(P...)`; a subroutine type
//!   elsewhere `RET ()(P...)`; a parameter of subroutine type (not a pointer) prints
//!   `inline RET (P...)`;
//! - a parameter whose type is void or not found prints `<ERROR: type N not found>`.
//!
//! pahole prints into fixed buffers, and so truncates: a parameter's or return type's name to
//! 127 bytes, a modifier's inner name to 127, a pointer's pointee to 1023, and the whole
//! prototype to 511 bytes. The same limits apply here.

use gimli::constants as dw;

use crate::loader::{lossy, Cu, Entry};

/// pahole's `BTF_ENCODER_MAX_PROTO`.
const MAX_PROTO: usize = 512;
/// The 128-byte buffers of `ftype__fprintf`, `ftype__fprintf_parms` and the modifiers.
const NAME_BUF: usize = 128;
/// The 1024-byte buffer of `tag__ptr_name`.
const PTR_BUF: usize = 1024;
/// Deeper type chains are damaged input; they print as an error.
const MAX_DEPTH: usize = 64;

/// The prototype of a function: its return type, its parameters' types (small ids) and
/// whether it takes varargs.
pub fn prototype<'d>(cu: &Cu<'d>, ret: u32, params: &[u32], varargs: bool) -> String {
    let p = Printer { cu };
    let mut s = p.ftype(ret, params, varargs, Header::Prototype, 0);
    truncate(&mut s, MAX_PROTO);
    s
}

/// How `ftype__fprintf` starts: `RET ()` for a prototype, `RET (*)` for a function pointer
/// parameter, `inline RET ` for a parameter of subroutine type.
#[derive(Clone, Copy)]
enum Header {
    Prototype,
    Pointer,
    Inline,
}

struct Printer<'a, 'd> {
    cu: &'a Cu<'d>,
}

impl<'d> Printer<'_, 'd> {
    /// `ftype__fprintf` followed by `ftype__fprintf_parms`.
    fn ftype(
        &self,
        ret: u32,
        params: &[u32],
        varargs: bool,
        header: Header,
        depth: usize,
    ) -> String {
        let stype = self.name(ret, NAME_BUF, depth + 1);
        let mut s = match header {
            Header::Prototype => format!("{stype} ()"),
            Header::Pointer => format!("{stype} (*)"),
            Header::Inline => format!("inline {stype} "),
        };
        s.push('(');
        for (i, &ty) in params.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(&self.param(ty, depth + 1));
        }
        s.push_str(if params.is_empty() {
            "void)"
        } else if varargs {
            ", ...)"
        } else {
            ")"
        });
        s
    }

    /// One parameter of `ftype__fprintf_parms`.
    fn param(&self, ty: u32, depth: usize) -> String {
        let Some(node) = self.cu.type_node(ty) else {
            return format!("<ERROR: type {ty} not found>");
        };
        if depth > MAX_DEPTH {
            return format!("<ERROR: type {ty} not found>");
        }
        let n = self.cu.node(node);
        match (&self.cu.types[ty as usize - 1], n.tag) {
            (Entry::Die(_), dw::DW_TAG_pointer_type) => {
                // A pointer with type tags points at its first tag, never at a subroutine.
                let pointee = self.cu.resolve(n.type_ref());
                if pointee != 0 && !self.cu.pointer_tags.contains_key(&node) {
                    let Some(pn) = self.cu.type_node(pointee) else {
                        return format!("<ERROR: type {pointee} not found>");
                    };
                    if self.cu.node(pn).tag == dw::DW_TAG_subroutine_type {
                        let (ret, params, varargs) = self.subroutine(pn);
                        return self.ftype(ret, &params, varargs, Header::Pointer, depth);
                    }
                }
            }
            (Entry::Die(_), dw::DW_TAG_subroutine_type) => {
                let (ret, params, varargs) = self.subroutine(node);
                return self.ftype(ret, &params, varargs, Header::Inline, depth);
            }
            _ => {}
        }
        self.name(ty, NAME_BUF, depth)
    }

    /// A subroutine type's return type, parameter types and varargs.
    fn subroutine(&self, node: u32) -> (u32, Vec<u32>, bool) {
        let cu = self.cu;
        let mut params = Vec::new();
        let mut varargs = false;
        for c in cu.children(node) {
            match cu.node(c).tag {
                dw::DW_TAG_formal_parameter => params.push(cu.resolve(cu.node(c).type_ref())),
                dw::DW_TAG_unspecified_parameters => varargs = true,
                _ => {}
            }
        }
        (cu.resolve(cu.node(node).type_ref()), params, varargs)
    }

    /// `__tag__name` into a buffer of `len` bytes.
    fn name(&self, id: u32, len: usize, depth: usize) -> String {
        let mut s = self.name_inner(id, len, depth);
        truncate(&mut s, len);
        s
    }

    fn name_inner(&self, id: u32, len: usize, depth: usize) -> String {
        let cu = self.cu;
        if id == 0 {
            return "void".into();
        }
        let Some(node) = cu.type_node(id) else {
            return format!("<ERROR: type {id} not found>");
        };
        if depth > MAX_DEPTH {
            return format!("<ERROR: type {id} not found>");
        }
        let n = cu.node(node);
        let pointer = match cu.types[id as usize - 1] {
            // DW_TAG_LLVM_annotation: the name of what it annotates.
            Entry::TypeTag { pointer, .. } => {
                let tags = cu.pointer_tags.get(&pointer).map_or(&[][..], Vec::as_slice);
                let pos = tags.iter().position(|&t| t == id).unwrap_or(tags.len());
                let next = match tags.get(pos + 1) {
                    Some(&inner) => inner,
                    None => cu.resolve(cu.node(pointer).type_ref()),
                };
                return self.name(next, len, depth + 1);
            }
            Entry::Die(_) => node,
        };
        let refers = cu.resolve(n.type_ref());
        match n.tag {
            dw::DW_TAG_base_type => match n.name() {
                Some(name) => lossy(name.bytes()),
                None => "nameless base type!".into(),
            },
            dw::DW_TAG_pointer_type => self.pointer(pointer, "*", depth),
            dw::DW_TAG_reference_type | dw::DW_TAG_rvalue_reference_type => {
                self.pointer(pointer, "&", depth)
            }
            dw::DW_TAG_const_type
            | dw::DW_TAG_volatile_type
            | dw::DW_TAG_restrict_type
            | dw::DW_TAG_atomic_type => self.name(refers, NAME_BUF, depth + 1),
            dw::DW_TAG_array_type => {
                if cu.type_node(refers).is_none() {
                    return format!("<ERROR: type {refers} not found>");
                }
                self.name(refers, len, depth + 1)
            }
            dw::DW_TAG_subroutine_type => {
                let (ret, params, varargs) = self.subroutine(node);
                self.ftype(ret, &params, varargs, Header::Prototype, depth + 1)
            }
            tag => {
                let prefix = match tag {
                    dw::DW_TAG_enumeration_type => "enum ",
                    dw::DW_TAG_structure_type
                        if cu.node(0).language() == dw::DW_LANG_C_plus_plus.0 as u64 =>
                    {
                        "class "
                    }
                    dw::DW_TAG_structure_type => "struct ",
                    dw::DW_TAG_class_type => "class ",
                    dw::DW_TAG_union_type => "union ",
                    _ => "",
                };
                let name = n.name().map(|n| lossy(n.bytes())).unwrap_or_default();
                format!("{prefix}{name}")
            }
        }
    }

    /// `tag__ptr_name`: the pointee's name, a space and `suffix`; a const pointee that is
    /// itself a pointer is skipped (`const` is not printed).
    fn pointer(&self, node: u32, suffix: &str, depth: usize) -> String {
        let cu = self.cu;
        let pointee = cu.resolve(cu.node(node).type_ref());
        if pointee == 0 {
            return format!("void {suffix}");
        }
        let Some(pn) = cu.type_node(pointee) else {
            return format!("<ERROR: type {pointee} not found> {suffix}");
        };
        let mut target = pointee;
        if cu.node(pn).tag == dw::DW_TAG_const_type {
            let next = cu.resolve(cu.node(pn).type_ref());
            if let Some(nn) = cu.type_node(next) {
                if cu.node(nn).tag == dw::DW_TAG_pointer_type {
                    target = next;
                }
            }
        }
        format!("{} {suffix}", self.name(target, PTR_BUF, depth + 1))
    }
}

/// Cuts `s` to what a C buffer of `len` bytes holds (`len - 1` bytes and the NUL).
fn truncate(s: &mut String, len: usize) {
    if s.len() >= len {
        let mut cut = len - 1;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}
