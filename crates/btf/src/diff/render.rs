//! Readable names for types in diff reports: C type names (`struct foo *`, `const char *`,
//! `int[16]`, `int (*)(struct sk_buff *)`), the label a named type is matched and reported by
//! (`struct foo`, `func bar`), and short descriptions for types found on one side only.
//!
//! Nothing here depends on type ids (except for the marker of a reference to a missing id), so
//! the text of a type is the same in any shuffle of the same BTF.

use crate::btf::Btf;
use crate::kind::Kind;
use crate::types::{Type, TypeData, TypeId, FUNC_EXTERN, FUNC_GLOBAL, FUNC_STATIC};

/// How deep a type name may nest before it is cut short (only malformed BTF, with reference
/// loops that do not pass through a named type, gets near it).
const MAX_DEPTH: usize = 48;

/// How many members or enumerators a short description of an anonymous type lists.
const SHORT_MEMBERS: usize = 4;

/// The C name of type `id` as used in a declaration without a declarator: `const char *`.
pub(crate) fn type_name(btf: &Btf, id: TypeId) -> String {
    decl(btf, id, "", 0)
}

/// Joins a base type name and a declarator: `int` and `*p` give `int *p`; `int` and `[4]`
/// give `int[4]`.
fn join(base: &str, inner: &str) -> String {
    if inner.is_empty() {
        base.to_string()
    } else if inner.starts_with('[') {
        format!("{base}{inner}")
    } else {
        format!("{base} {inner}")
    }
}

/// Whether a pointer to `id` needs its declarator parenthesized (arrays and functions).
fn binds_tighter(btf: &Btf, id: TypeId) -> bool {
    matches!(
        btf.type_by_id(id).map(Type::kind),
        Some(Kind::Array | Kind::FuncProto)
    )
}

/// The C declaration of `inner` (a declarator, possibly empty) with type `id`.
fn decl(btf: &Btf, id: TypeId, inner: &str, depth: usize) -> String {
    if depth > MAX_DEPTH {
        return join("<too deep>", inner);
    }
    if id == 0 {
        return join("void", inner);
    }
    let Some(t) = btf.type_by_id(id) else {
        return join(&format!("<bad type id {id}>"), inner);
    };
    let name = btf.str_at(t.name_off);
    let qualified = |q: &str, ty: TypeId| -> String {
        if matches!(btf.type_by_id(ty).map(Type::kind), Some(Kind::Ptr)) {
            // A qualified pointer: the qualifier follows the `*`.
            let inner = if inner.is_empty() {
                q.to_string()
            } else {
                format!("{q} {inner}")
            };
            decl(btf, ty, &inner, depth + 1)
        } else {
            format!("{q} {}", decl(btf, ty, inner, depth + 1))
        }
    };
    match &t.data {
        TypeData::Ptr { ty } => {
            let inner = if binds_tighter(btf, *ty) {
                format!("(*{inner})")
            } else {
                format!("*{inner}")
            };
            decl(btf, *ty, &inner, depth + 1)
        }
        TypeData::Const { ty } => qualified("const", *ty),
        TypeData::Volatile { ty } => qualified("volatile", *ty),
        TypeData::Restrict { ty } => qualified("restrict", *ty),
        TypeData::TypeTag { ty } => qualified(&format!("__tag(\"{name}\")"), *ty),
        TypeData::Array { elem, nelems, .. } => {
            decl(btf, *elem, &format!("{inner}[{nelems}]"), depth + 1)
        }
        TypeData::FuncProto { ret, params } => {
            let args = if params.is_empty() {
                "void".to_string()
            } else {
                params
                    .iter()
                    .map(|p| {
                        if p.ty == 0 {
                            "...".to_string()
                        } else {
                            decl(btf, p.ty, "", depth + 1)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            decl(btf, *ret, &format!("{inner}({args})"), depth + 1)
        }
        _ => join(&base_name(btf, t), inner),
    }
}

/// The name of a type that is not built from another by a declarator: `struct foo`,
/// `union {...}`, `unsigned int`, `u32`.
fn base_name(btf: &Btf, t: &Type) -> String {
    let name = btf.str_at(t.name_off);
    let tagged = |tag: &str| {
        if name.is_empty() {
            format!("{tag} {{...}}")
        } else {
            format!("{tag} {name}")
        }
    };
    match &t.data {
        TypeData::Struct { .. } => tagged("struct"),
        TypeData::Union { .. } => tagged("union"),
        TypeData::Enum { .. } | TypeData::Enum64 { .. } => tagged("enum"),
        TypeData::Fwd { .. } => tagged(if t.kind_flag { "union" } else { "struct" }),
        _ if name.is_empty() => format!("<anonymous {}>", t.kind().name().to_lowercase()),
        _ => name.into_owned(),
    }
}

/// The label a named type is matched by between the two sides and reported under
/// (`struct foo`, `fwd union bar`, `func baz`, `int 'unsigned int'`), or `None` for types
/// that are only known by their structure (anonymous types, pointers, modifiers, arrays,
/// prototypes and type tags).
pub(crate) fn key_label(btf: &Btf, t: &Type) -> Option<String> {
    let name = btf.str_at(t.name_off);
    if name.is_empty() {
        return None;
    }
    Some(match &t.data {
        TypeData::Struct { .. } => format!("struct {name}"),
        TypeData::Union { .. } => format!("union {name}"),
        // ENUM and ENUM64 share a label, so that a change of width reads as a change of kind.
        TypeData::Enum { .. } | TypeData::Enum64 { .. } => format!("enum {name}"),
        TypeData::Fwd { .. } => {
            format!(
                "fwd {} {name}",
                if t.kind_flag { "union" } else { "struct" }
            )
        }
        TypeData::Typedef { .. } => format!("typedef {name}"),
        TypeData::Func { .. } => format!("func {name}"),
        TypeData::Var { .. } => format!("var {name}"),
        TypeData::Datasec { .. } => format!("datasec {name}"),
        TypeData::Int { .. } => format!("int '{name}'"),
        TypeData::Float { .. } => format!("float '{name}'"),
        TypeData::DeclTag { .. } => format!("decl_tag \"{name}\""),
        TypeData::Ptr { .. }
        | TypeData::Array { .. }
        | TypeData::Volatile { .. }
        | TypeData::Const { .. }
        | TypeData::Restrict { .. }
        | TypeData::FuncProto { .. }
        | TypeData::TypeTag { .. } => return None,
    })
}

/// The name of a FUNC's linkage.
pub(crate) fn func_linkage(l: u16) -> String {
    match l {
        FUNC_STATIC => "static".into(),
        FUNC_GLOBAL => "global".into(),
        FUNC_EXTERN => "extern".into(),
        other => format!("linkage {other}"),
    }
}

/// The name of a VAR's linkage.
pub(crate) fn var_linkage(l: u32) -> String {
    match l {
        crate::types::VAR_STATIC => "static".into(),
        crate::types::VAR_GLOBAL_ALLOCATED => "global".into(),
        crate::types::VAR_GLOBAL_EXTERN => "extern".into(),
        other => format!("linkage {other}"),
    }
}

/// A member as it would be declared: `int a`, `unsigned int f:3`, `union {...}`.
pub(crate) fn member_decl(btf: &Btf, name: &str, ty: TypeId, bitfield: u32) -> String {
    let d = decl(btf, ty, name, 0);
    if bitfield > 0 {
        format!("{d}:{bitfield}")
    } else {
        d
    }
}

/// A one-line description of type `id` for the "only in" part of a report.
pub(crate) fn describe(btf: &Btf, id: TypeId) -> String {
    let Some(t) = btf.type_by_id(id) else {
        return format!("<bad type id {id}>");
    };
    let name = btf.str_at(t.name_off);
    let label = key_label(btf, t);
    match &t.data {
        TypeData::Struct { size, members } | TypeData::Union { size, members } => {
            let tag = if t.kind() == Kind::Struct {
                "struct"
            } else {
                "union"
            };
            if name.is_empty() {
                let mut parts: Vec<String> = members
                    .iter()
                    .take(SHORT_MEMBERS)
                    .map(|m| {
                        let n = btf.str_at(m.name_off);
                        format!(
                            "{};",
                            member_decl(btf, &n, m.ty, m.bitfield_size(t.kind_flag))
                        )
                    })
                    .collect();
                if members.len() > SHORT_MEMBERS {
                    parts.push("...".into());
                }
                let body = if parts.is_empty() {
                    "{}".to_string()
                } else {
                    format!("{{ {} }}", parts.join(" "))
                };
                format!("anonymous {tag} {body} (size {size})")
            } else {
                format!("{tag} {name} (size {size}, {} members)", members.len())
            }
        }
        TypeData::Enum { size, .. } | TypeData::Enum64 { size, .. } => {
            let values: Vec<(String, String)> = enum_values(btf, t);
            if name.is_empty() {
                let mut parts: Vec<String> = values
                    .iter()
                    .take(SHORT_MEMBERS)
                    .map(|(n, v)| format!("{n} = {v}"))
                    .collect();
                if values.len() > SHORT_MEMBERS {
                    parts.push("...".into());
                }
                format!("anonymous enum {{ {} }} (size {size})", parts.join(", "))
            } else {
                format!("enum {name} (size {size}, {} values)", values.len())
            }
        }
        TypeData::Typedef { ty } => format!("typedef {}", decl(btf, *ty, &name, 0)),
        TypeData::Func { proto, linkage } => {
            format!(
                "func {} {}",
                func_linkage(*linkage),
                decl(btf, *proto, &name, 0)
            )
        }
        TypeData::Var { ty, linkage } => {
            format!("var {} {}", var_linkage(*linkage), decl(btf, *ty, &name, 0))
        }
        TypeData::Datasec { size, vars } => {
            format!("datasec {name} (size {size}, {} vars)", vars.len())
        }
        TypeData::Int {
            size,
            encoding,
            offset,
            bits,
        } => {
            let mut s = format!(
                "{} (size {size}, {}, {bits} bits",
                label.unwrap_or_else(|| "anonymous int".into()),
                int_encoding(*encoding)
            );
            if *offset != 0 {
                s += &format!(" at bit {offset}");
            }
            s + ")"
        }
        TypeData::Float { size } => format!(
            "{} (size {size})",
            label.unwrap_or_else(|| "anonymous float".into())
        ),
        TypeData::DeclTag { ty, component_idx } => {
            let target = btf
                .type_by_id(*ty)
                .and_then(|tt| key_label(btf, tt))
                .unwrap_or_else(|| type_name(btf, *ty));
            if *component_idx < 0 {
                format!("decl_tag \"{name}\" on {target}")
            } else {
                format!("decl_tag \"{name}\" on {target} component {component_idx}")
            }
        }
        TypeData::Fwd { .. } => label.unwrap_or_else(|| {
            format!(
                "anonymous fwd {}",
                if t.kind_flag { "union" } else { "struct" }
            )
        }),
        _ => format!(
            "{} '{}'",
            t.kind().name().to_lowercase(),
            type_name(btf, id)
        ),
    }
}

/// The words for an INT encoding: `signed`, `unsigned`, `signed char`, `bool`.
pub(crate) fn int_encoding(e: u8) -> String {
    let mut words = Vec::new();
    words.push(if e & crate::types::INT_SIGNED != 0 {
        "signed"
    } else {
        "unsigned"
    });
    if e & crate::types::INT_CHAR != 0 {
        words.push("char");
    }
    if e & crate::types::INT_BOOL != 0 {
        words.push("bool");
    }
    let unknown = e & !(crate::types::INT_SIGNED | crate::types::INT_CHAR | crate::types::INT_BOOL);
    let mut s = words.join(" ");
    if unknown != 0 {
        s += &format!(" (encoding {e:#x})");
    }
    s
}

/// The enumerators of an ENUM or ENUM64 as (name, value as text), signed or unsigned by the
/// kind_flag.
pub(crate) fn enum_values(btf: &Btf, t: &Type) -> Vec<(String, String)> {
    match &t.data {
        TypeData::Enum { values, .. } => values
            .iter()
            .map(|v| {
                let val = if t.kind_flag {
                    (v.val as i32).to_string()
                } else {
                    v.val.to_string()
                };
                (btf.str_at(v.name_off).into_owned(), val)
            })
            .collect(),
        TypeData::Enum64 { values, .. } => values
            .iter()
            .map(|v| {
                let val = if t.kind_flag {
                    (v.val as i64).to_string()
                } else {
                    v.val.to_string()
                };
                (btf.str_at(v.name_off).into_owned(), val)
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Param, INT_CHAR, INT_SIGNED};
    use expect_test::{expect, Expect};

    /// Builds types with `build` (given a BTF holding `int` as id 1 and `char` as id 2) and
    /// checks the name of the last one added.
    fn check(build: impl FnOnce(&mut Btf) -> TypeId, expect: Expect) {
        let mut btf = Btf::new();
        for (name, size, encoding) in [("int", 4, INT_SIGNED), ("char", 1, INT_SIGNED | INT_CHAR)] {
            let n = btf.add_str(name);
            btf.add_type(Type::new(
                n,
                TypeData::Int {
                    size,
                    encoding,
                    offset: 0,
                    bits: size as u8 * 8,
                },
            ));
        }
        let id = build(&mut btf);
        expect.assert_eq(&type_name(&btf, id));
    }

    fn add(btf: &mut Btf, data: TypeData) -> TypeId {
        btf.add_type(Type::new(0, data))
    }

    #[test]
    fn c_type_names() {
        check(|_| 0, expect!["void"]);
        check(|_| 99, expect!["<bad type id 99>"]);
        check(
            |b| {
                let c = add(b, TypeData::Const { ty: 2 });
                add(b, TypeData::Ptr { ty: c })
            },
            expect!["const char *"],
        );
        check(
            |b| {
                let p = add(b, TypeData::Ptr { ty: 2 });
                add(b, TypeData::Const { ty: p })
            },
            expect!["char *const"],
        );
        check(
            |b| {
                add(
                    b,
                    TypeData::Array {
                        elem: 1,
                        index: 1,
                        nelems: 16,
                    },
                )
            },
            expect!["int[16]"],
        );
        check(
            |b| {
                let a = add(
                    b,
                    TypeData::Array {
                        elem: 1,
                        index: 1,
                        nelems: 4,
                    },
                );
                add(b, TypeData::Ptr { ty: a })
            },
            expect!["int (*)[4]"],
        );
        check(
            |b| {
                let p = add(b, TypeData::Ptr { ty: 1 });
                add(
                    b,
                    TypeData::Array {
                        elem: p,
                        index: 1,
                        nelems: 4,
                    },
                )
            },
            expect!["int *[4]"],
        );
        check(
            |b| {
                // A pointer to a function taking a char * and varargs, returning a pointer to
                // a function taking void and returning int.
                let inner = add(
                    b,
                    TypeData::FuncProto {
                        ret: 1,
                        params: vec![],
                    },
                );
                let pinner = add(b, TypeData::Ptr { ty: inner });
                let pc = add(b, TypeData::Ptr { ty: 2 });
                let outer = add(
                    b,
                    TypeData::FuncProto {
                        ret: pinner,
                        params: vec![
                            Param {
                                name_off: 0,
                                ty: pc,
                            },
                            Param { name_off: 0, ty: 0 },
                        ],
                    },
                );
                add(b, TypeData::Ptr { ty: outer })
            },
            expect!["int (*(*)(char *, ...))(void)"],
        );
        check(
            |b| {
                let s = add(
                    b,
                    TypeData::Struct {
                        size: 0,
                        members: vec![],
                    },
                );
                let n = b.add_str("user");
                let tag = b.add_type(Type::new(n, TypeData::TypeTag { ty: s }));
                add(b, TypeData::Ptr { ty: tag })
            },
            expect![[r#"__tag("user") struct {...} *"#]],
        );
        check(
            |b| {
                // A pointer loop that passes through no named type (malformed) is cut short.
                let next = b.end_id();
                add(b, TypeData::Ptr { ty: next })
            },
            expect!["<too deep> *************************************************"],
        );
    }
}
