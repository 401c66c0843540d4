//! Declarators: writing a type chain and a name as one C declaration.
//!
//! BTF stores a declaration as a chain from the outside in (`TYPEDEF -> ARRAY -> PTR ->
//! CONST -> INT` for `typedef const int *t[4]`), while C writes the innermost base type
//! first, qualifiers of that base to its left, pointer qualifiers to the right of their
//! `*`, and arrays and function parameters after the name, parenthesized around pointers.
//! The chain is collected into a stack, outermost at the bottom, then unwound from the top:
//! each array or function prototype met while unwinding wraps what is left of the stack
//! (the part closer to the name) in parentheses and writes its suffix after it.

use std::io::Write;

use super::names::{Name, Namespace};
use super::CDump;
use crate::types::*;

/// The longest chain of pointers, arrays, modifiers and prototypes one declarator follows
/// before its base type; longer ones come from reference cycles or absurd nesting.
const MAX_CHAIN: usize = 256;

/// How deep declarators nest inside one another (anonymous structs written inline,
/// parameters of function pointers, arrays and functions within a declarator) before the
/// dump gives up on them. This bounds the recursion of declaration writing.
const MAX_DECL_NESTING: u32 = 256;

impl<'a> CDump<'a> {
    /// Writes a declaration of `fname` (possibly empty, for an abstract declarator) with
    /// type `id`; anonymous structs, unions and enums in it are defined inline at nesting
    /// level `lvl`.
    pub(super) fn emit_type_decl(&mut self, id: TypeId, fname: Name<'a>, lvl: usize) {
        let btf = self.btf;
        let mut stack = Vec::new();
        let mut id = id;
        loop {
            stack.push(id);
            if id == 0 {
                break;
            }
            if stack.len() > MAX_CHAIN {
                // Pointers, arrays or modifiers that lead back to themselves.
                let _ = write!(self.buf, "void /* kbtf: declarator too long at [{id}] */");
                self.emit_name(fname, false);
                return;
            }
            let Some(t) = btf.type_by_id(id) else {
                break;
            };
            id = match &t.data {
                TypeData::Ptr { ty }
                | TypeData::Volatile { ty }
                | TypeData::Const { ty }
                | TypeData::Restrict { ty }
                | TypeData::TypeTag { ty } => *ty,
                TypeData::FuncProto { ret, .. } => *ret,
                TypeData::Array { elem, .. } => *elem,
                _ => break,
            };
        }
        self.emit_nested_chain(&mut stack, fname, lvl);
    }

    /// Writes a declarator one nesting level deeper than the current one.
    fn emit_nested_chain(&mut self, stack: &mut Vec<TypeId>, fname: Name<'a>, lvl: usize) {
        if self.decl_depth >= MAX_DECL_NESTING {
            // Only malformed BTF nests this deep, such as an anonymous struct that contains
            // itself through a pointer.
            self.buf
                .extend_from_slice(b"void /* kbtf: declarations nest too deep */");
            self.emit_name(fname, false);
            return;
        }
        self.decl_depth += 1;
        self.emit_type_chain(stack, fname, lvl);
        self.decl_depth -= 1;
    }

    /// Writes the qualifiers on top of the stack, left of the base type they qualify.
    fn emit_mods(&mut self, stack: &mut Vec<TypeId>) {
        let btf = self.btf;
        while let Some(&id) = stack.last() {
            let kw: &[u8] = match btf.type_by_id(id).map(|t| &t.data) {
                Some(TypeData::Volatile { .. }) => b"volatile ",
                Some(TypeData::Const { .. }) => b"const ",
                Some(TypeData::Restrict { .. }) => b"restrict ",
                _ => return,
            };
            self.buf.extend_from_slice(kw);
            stack.pop();
        }
    }

    /// Drops the qualifiers and type tags on top of the stack. Arrays and functions cannot
    /// be qualified in C; GCC records qualifiers of array elements on the array too, and
    /// `volatile` on `noreturn` function pointers.
    fn drop_mods(&mut self, stack: &mut Vec<TypeId>) {
        let btf = self.btf;
        while let Some(&id) = stack.last() {
            match btf.type_by_id(id).map(|t| &t.data) {
                Some(
                    TypeData::Volatile { .. }
                    | TypeData::Const { .. }
                    | TypeData::Restrict { .. }
                    | TypeData::TypeTag { .. },
                ) => {
                    stack.pop();
                }
                _ => return,
            }
        }
    }

    /// Writes the declared name, separated by a space unless it follows a `*`.
    fn emit_name(&mut self, fname: Name<'a>, last_was_ptr: bool) {
        if !fname.is_empty() && !last_was_ptr {
            self.buf.push(b' ');
        }
        fname.write_to(&mut self.buf);
    }

    fn emit_type_chain(&mut self, stack: &mut Vec<TypeId>, fname: Name<'a>, lvl: usize) {
        let btf = self.btf;
        // Whether the last thing written is a `*`, after which neither a further `*` nor the
        // name takes a space. True at the start for the `(*name)` of function pointers.
        let mut last_was_ptr = true;
        while let Some(id) = stack.pop() {
            let Some(t) = btf.type_by_id(id) else {
                // void, or a reference to a type that does not exist.
                self.emit_mods(stack);
                self.buf.extend_from_slice(b"void");
                last_was_ptr = false;
                continue;
            };
            match &t.data {
                TypeData::Int { .. } | TypeData::Float { .. } => {
                    self.emit_mods(stack);
                    self.buf.extend_from_slice(self.names.raw(t.name_off));
                }
                TypeData::Struct { .. } | TypeData::Union { .. } => {
                    self.emit_mods(stack);
                    if t.name_off == 0 {
                        self.emit_struct_def(id, t, lvl);
                    } else {
                        self.emit_struct_fwd(id, t);
                    }
                }
                TypeData::Enum { .. } | TypeData::Enum64 { .. } => {
                    self.emit_mods(stack);
                    if t.name_off == 0 {
                        self.emit_enum_def(id, t, lvl);
                    } else {
                        self.emit_enum_fwd(id);
                    }
                }
                TypeData::Fwd { .. } => {
                    self.emit_mods(stack);
                    let name = self.names.of_type(id, Namespace::Tags);
                    self.buf
                        .extend_from_slice(if t.kind_flag { b"union " } else { b"struct " });
                    name.write_to(&mut self.buf);
                }
                TypeData::Typedef { .. } => {
                    self.emit_mods(stack);
                    let name = self.names.of_type(id, Namespace::Idents);
                    name.write_to(&mut self.buf);
                }
                TypeData::Ptr { .. } => {
                    self.buf
                        .extend_from_slice(if last_was_ptr { b"*" } else { b" *" });
                }
                TypeData::Volatile { .. } => self.buf.extend_from_slice(b" volatile"),
                TypeData::Const { .. } => self.buf.extend_from_slice(b" const"),
                TypeData::Restrict { .. } => self.buf.extend_from_slice(b" restrict"),
                TypeData::TypeTag { .. } => {
                    self.emit_mods(stack);
                    let value = self.names.raw(t.name_off);
                    if t.kind_flag {
                        // A tag with kind_flag set is a plain attribute.
                        self.buf.extend_from_slice(b" __attribute__((");
                        self.buf.extend_from_slice(value);
                        self.buf.extend_from_slice(b"))");
                    } else {
                        self.buf
                            .extend_from_slice(b" __attribute__((btf_type_tag(\"");
                        self.buf.extend_from_slice(value);
                        self.buf.extend_from_slice(b"\")))");
                    }
                }
                TypeData::Array { nelems, .. } => {
                    self.drop_mods(stack);
                    if stack.is_empty() {
                        self.emit_name(fname, last_was_ptr);
                        let _ = write!(self.buf, "[{nelems}]");
                        return;
                    }
                    // Consecutive arrays are dimensions of one array: `a[2][3]`, not
                    // `(a[2])[3]`.
                    let multidim = stack
                        .last()
                        .and_then(|&next| btf.type_by_id(next))
                        .is_some_and(|n| matches!(n.data, TypeData::Array { .. }));
                    if !fname.is_empty() && !last_was_ptr {
                        self.buf.push(b' ');
                    }
                    if !multidim {
                        self.buf.push(b'(');
                    }
                    self.emit_nested_chain(stack, fname, lvl);
                    if !multidim {
                        self.buf.push(b')');
                    }
                    let _ = write!(self.buf, "[{nelems}]");
                    return;
                }
                TypeData::FuncProto { params, .. } => {
                    self.drop_mods(stack);
                    if stack.is_empty() {
                        self.emit_name(fname, last_was_ptr);
                    } else {
                        self.buf.extend_from_slice(b" (");
                        self.emit_nested_chain(stack, fname, lvl);
                        self.buf.push(b')');
                    }
                    self.emit_params(params, lvl);
                    return;
                }
                TypeData::Func { .. }
                | TypeData::Var { .. }
                | TypeData::Datasec { .. }
                | TypeData::DeclTag { .. } => {
                    // Not part of a type; nothing C can say.
                    return;
                }
            }
            last_was_ptr = matches!(t.data, TypeData::Ptr { .. });
        }
        self.emit_name(fname, last_was_ptr);
    }

    /// Writes a parameter list: `(void)` for none (or the single void parameter some
    /// compilers record for that), `...` for a last void parameter.
    fn emit_params(&mut self, params: &[Param], lvl: usize) {
        self.buf.push(b'(');
        if params.is_empty() || (params.len() == 1 && params[0].ty == 0) {
            self.buf.extend_from_slice(b"void)");
            return;
        }
        for (i, p) in params.iter().enumerate() {
            if i > 0 {
                self.buf.extend_from_slice(b", ");
            }
            if i == params.len() - 1 && p.ty == 0 {
                self.buf.extend_from_slice(b"...");
                break;
            }
            let name = Name {
                base: self.names.raw(p.name_off),
                dup: 0,
            };
            self.emit_type_decl(p.ty, name, lvl);
        }
        self.buf.push(b')');
    }
}
