//! Encoding one loaded unit's types table into BTF types, following pahole 1.24's
//! `btf_encoder__encode_tag` and the libbpf `btf__add_*` calls it makes.
//!
//! The result uses *unit-local* ids: 0 is void, `i` is the unit's `i`-th type, and
//! [`INDEX_TYPE`] stands for the array index type, which is only known when units are
//! concatenated (see `merge`). Strings are indices into the unit's own string list.
//!
//! The rules, type by type:
//!
//! - **Base types** become INT, with encoding SIGNED for `DW_ATE_signed` and
//!   `DW_ATE_signed_char` (so plain `char` is signed), BOOL for `DW_ATE_boolean`, none
//!   otherwise. The size is the DWARF byte size; a size that is 0, not a power of two or over
//!   16 bytes becomes `__SANITIZED_FAKE_INT__` of 4 bytes (DWARF 5 emits odd
//!   `DW_ATE_unsigned_24` types for location expressions). With `gen_floats`, `DW_ATE_float`
//!   types become FLOAT; complex and imaginary floats are an error, as in pahole. Without it,
//!   floats are INTs with no encoding. A base type needs a name.
//! - **Pointers, const, volatile, restrict** refer to their type (void when missing or when
//!   the referenced DIE is no type of this unit). `btf_type_tag` annotations of a pointer
//!   become a TYPE_TAG chain between the pointer and its pointee.
//! - **Typedefs** need a name (libbpf refuses an anonymous one).
//! - **Structs, unions, classes**: a declaration (`DW_AT_declaration`) is a FWD, with
//!   kind_flag set for unions. Otherwise the members are the `DW_TAG_member` children,
//!   each at its bit offset: `DW_AT_data_member_location` * 8, or `DW_AT_data_bit_offset`,
//!   or for the DWARF 2..4 bitfield encoding the byte offset * 8 plus the bit offset
//!   converted from `DW_AT_bit_offset` (counted from the most significant bit of the
//!   storage unit of `DW_AT_byte_size`, or of the member type's size, on little-endian).
//!   A member with `DW_AT_bit_size` is a bitfield. As libbpf's `btf__add_field`, the
//!   struct's kind_flag is set as soon as one member is a bitfield or sits at an offset
//!   that is not a multiple of 8, and every member's offset word then carries its bitfield
//!   size in the top 8 bits.
//! - **Enums**: ENUM when the size is at most 4 bytes, or always with `skip_enum64`, else
//!   ENUM64. An enum without size is 4 bytes. ENUM64's kind_flag (signedness) comes from
//!   the enum's underlying `DW_AT_type` being signed; ENUM's is set when any value is
//!   negative as a 64-bit number (the constant forms are zero-extended, `sdata` is signed).
//!   With `skip_enum64`, values are truncated to 32 bits and never negative.
//! - **Arrays**: one ARRAY of the product of all dimensions (u32 arithmetic), over the
//!   element type. A dimension without bound counts 0.
//! - **Subroutine types**: FUNC_PROTO; unnamed parameters stay unnamed, a
//!   `DW_TAG_unspecified_parameters` child adds the varargs parameter (name 0, type 0).
//! - Anything else in the types table (C++ references, pointers to members, `_Atomic`)
//!   stops the encoding with an error, as it stops pahole.
//! - A struct, union, enum or subroutine type with more than 65535 members, enumerators or
//!   parameters stops the encoding with an error: BTF's `vlen` has 16 bits (libbpf would
//!   wrap it around and write a type that does not count its own records).

use gimli::constants as dw;
use kbtf_btf::flat;
use kbtf_btf::types::info_word;
use kbtf_btf::{Flat, Type, TypeData, INT_BOOL, INT_SIGNED};

use crate::error::ErrorKind;
use std::borrow::Cow;

use crate::die::Name;
use crate::loader::{lossy, Cu, Entry};

/// The unit-local id standing for the array index type.
pub const INDEX_TYPE: u32 = u32::MAX;

/// Strings named by offset into `.debug_str` carry this bit in their handle.
pub const DEBUG_STR: u32 = 1 << 31;

/// With [`DEBUG_STR`]: a string already interned, the handle holding its output offset
/// (`merge::StrMemo::resolve_unit`). `.debug_str` offsets in handles stay below this bit.
pub const RESOLVED: u32 = 1 << 30;

/// A unit's strings, as *handles* that `merge` turns into offsets of the BTF string
/// section: 0 is the empty string; `DEBUG_STR | off` is the string at `off` in
/// `.debug_str` (most names, and the same string of every unit has the same offset, the
/// linker having merged the section); any other value indexes [`Strings::list`]. Nothing is
/// copied or hashed here.
#[derive(Debug)]
pub struct Strings<'d> {
    debug_str: &'d [u8],
    /// The other strings (inline names, generated names); index 0 is the empty string.
    pub list: Vec<Cow<'d, [u8]>>,
}

impl<'d> Strings<'d> {
    pub fn new(debug_str: &'d [u8]) -> Strings<'d> {
        Strings {
            debug_str,
            list: vec![Cow::Borrowed(&b""[..])],
        }
    }

    /// A string of its own.
    pub fn add(&mut self, s: String) -> u32 {
        if s.is_empty() {
            return 0;
        }
        self.list.push(Cow::Owned(s.into_bytes()));
        (self.list.len() - 1) as u32
    }

    /// A string of the input.
    pub fn add_bytes(&mut self, s: &'d [u8]) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = (s.as_ptr() as usize).wrapping_sub(self.debug_str.as_ptr() as usize);
        if off < self.debug_str.len() && off < RESOLVED as usize {
            return DEBUG_STR | off as u32;
        }
        self.list.push(Cow::Borrowed(s));
        (self.list.len() - 1) as u32
    }

    /// A DIE's name, if any.
    pub fn add_name(&mut self, s: Option<Name<'d>>) -> u32 {
        let Some(Name(view)) = s else { return 0 };
        let off = (view.as_ptr() as usize).wrapping_sub(self.debug_str.as_ptr() as usize);
        if off < self.debug_str.len() && off < RESOLVED as usize {
            if !matches!(view.first(), Some(&b) if b != 0) {
                return 0;
            }
            return DEBUG_STR | off as u32;
        }
        self.add_bytes(Name(view).bytes())
    }
}

/// The types of one unit, encoded.
pub struct UnitTypes {
    /// Index 0 is void; the unit's type `i` is at index `i`, in wire layout.
    pub types: Flat,
    /// The small id of the unit's first base type named `int`, if any.
    pub int_id: Option<u32>,
    /// Whether any ARRAY was encoded.
    pub has_arrays: bool,
    /// DECL_TAGs of structs, unions and typedefs (emitted after the types).
    pub decl_tags: Vec<Type>,
}

pub fn encode_types<'d>(
    cu: &Cu<'d>,
    opts: &crate::EncodeOptions,
    little_endian: bool,
    strings: &mut Strings<'d>,
) -> Result<UnitTypes, ErrorKind> {
    let mut out = UnitTypes {
        types: {
            let mut f = Flat::new();
            f.recs.reserve(cu.types.len());
            f
        },
        int_id: None,
        has_arrays: false,
        decl_tags: Vec::new(),
    };
    for (i, entry) in cu.types.iter().enumerate() {
        let id = i as u32 + 1;
        let t = match *entry {
            Entry::TypeTag { annot, pointer } => {
                let ty = type_tag_target(cu, id, pointer);
                let name = strings.add_name(cu.node(annot).const_str());
                Type::new(name, TypeData::TypeTag { ty })
            }
            Entry::Die(node) => {
                let kind = encode_die(cu, node, opts, little_endian, strings, &mut out.types)?;
                if kind == flat::INT
                    && out.int_id.is_none()
                    && cu.node(node).tag == dw::DW_TAG_base_type
                    && cu.node(node).name().as_ref().is_some_and(|n| n.is(b"int"))
                {
                    out.int_id = Some(id);
                }
                if kind == flat::ARRAY {
                    out.has_arrays = true;
                }
                if !opts.skip_decl_tag {
                    let tag = cu.node(node).tag;
                    if matches!(
                        tag,
                        dw::DW_TAG_structure_type | dw::DW_TAG_union_type | dw::DW_TAG_typedef
                    ) {
                        for (value, component) in type_annotations(cu, node) {
                            let name = strings.add(value);
                            out.decl_tags.push(Type::new(
                                name,
                                TypeData::DeclTag {
                                    ty: id,
                                    component_idx: component,
                                },
                            ));
                        }
                    }
                }
                continue;
            }
        };
        out.types.push(&t);
    }
    Ok(out)
}

/// The most members, enumerators or parameters a BTF type holds (`vlen` has 16 bits).
const MAX_VLEN: u32 = 0xffff;

/// An error for a type of `node` with more entries than BTF can hold: libbpf's `btf__add_*`
/// would wrap its `vlen` around and leave records the type does not count.
fn too_many<'d>(cu: &Cu<'d>, node: u32, vlen: u32, what: &str) -> ErrorKind {
    ErrorKind::Unsupported {
        loc: cu.loc(node),
        what: format!("a type with {vlen} {what} (BTF holds at most {MAX_VLEN})"),
    }
}

/// What the TYPE_TAG of small id `id`, one of `pointer`'s tags, refers to: the next tag
/// inward, or the pointee for the innermost.
fn type_tag_target<'d>(cu: &Cu<'d>, id: u32, pointer: u32) -> u32 {
    let tags = cu.pointer_tags.get(&pointer).map_or(&[][..], Vec::as_slice);
    let pos = tags.iter().position(|&t| t == id).unwrap_or(tags.len());
    match tags.get(pos + 1) {
        Some(&inner) => inner,
        None => cu.resolve(cu.node(pointer).type_ref()),
    }
}

fn tag_name(tag: gimli::DwTag) -> String {
    tag.static_string()
        .map(str::to_string)
        .unwrap_or_else(|| format!("DW_TAG_{:#x}", tag.0))
}

/// Appends the BTF type of `node` to `f`, its trailing words written in place (no vector of
/// members per struct); returns its kind.
fn encode_die<'d>(
    cu: &Cu<'d>,
    node: u32,
    opts: &crate::EncodeOptions,
    little_endian: bool,
    strings: &mut Strings<'d>,
    f: &mut Flat,
) -> Result<u32, ErrorKind> {
    let n = cu.node(node);
    let unsupported = |what: String| ErrorKind::Unsupported {
        loc: cu.loc(node),
        what,
    };
    let referenced = || match cu.pointer_tags.get(&node) {
        Some(tags) => tags[0],
        None => cu.resolve(n.type_ref()),
    };
    let t = match n.tag {
        dw::DW_TAG_base_type => {
            let Some(name) = n.name().map(Name::bytes) else {
                return Err(unsupported("a base type without a name".into()));
            };
            base_type(name, n.byte_size(), n.encoding(), opts, strings)
                .map_err(|what| unsupported(what.into()))?
        }
        dw::DW_TAG_pointer_type => Type::new(0, TypeData::Ptr { ty: referenced() }),
        dw::DW_TAG_const_type => Type::new(0, TypeData::Const { ty: referenced() }),
        dw::DW_TAG_volatile_type => Type::new(0, TypeData::Volatile { ty: referenced() }),
        dw::DW_TAG_restrict_type => Type::new(0, TypeData::Restrict { ty: referenced() }),
        dw::DW_TAG_typedef => {
            let name = strings.add_name(n.name());
            if name == 0 {
                return Err(unsupported("a typedef without a name".into()));
            }
            Type::new(name, TypeData::Typedef { ty: referenced() })
        }
        dw::DW_TAG_structure_type | dw::DW_TAG_class_type | dw::DW_TAG_union_type => {
            let is_union = n.tag == dw::DW_TAG_union_type;
            let name = strings.add_name(n.name());
            if n.declaration() {
                if name == 0 {
                    return Err(unsupported("a declaration without a name".into()));
                }
                Type {
                    name_off: name,
                    kind_flag: is_union,
                    data: TypeData::Fwd { raw: 0 },
                }
            } else {
                return encode_struct(cu, node, name, is_union, little_endian, strings, f);
            }
        }
        dw::DW_TAG_enumeration_type => return enumeration(cu, node, opts, strings, f),
        dw::DW_TAG_array_type => {
            let mut nelems: u32 = 1;
            for child in cu.children(node) {
                let c = cu.node(child);
                if c.tag == dw::DW_TAG_subrange_type {
                    nelems = nelems.wrapping_mul(c.subrange_len() as u32);
                }
            }
            Type::new(
                0,
                TypeData::Array {
                    elem: cu.resolve(n.type_ref()),
                    index: INDEX_TYPE,
                    nelems,
                },
            )
        }
        dw::DW_TAG_subroutine_type => {
            let start = f.extra.len();
            let mut vlen = 0u32;
            let mut varargs = false;
            for child in cu.children(node) {
                let c = cu.node(child);
                match c.tag {
                    dw::DW_TAG_formal_parameter => {
                        let name_off = strings.add_name(c.name());
                        f.extra.extend([name_off, cu.resolve(c.type_ref())]);
                        vlen = vlen.wrapping_add(1);
                    }
                    dw::DW_TAG_unspecified_parameters => varargs = true,
                    _ => {}
                }
            }
            if varargs {
                f.extra.extend([0, 0]);
                vlen = vlen.wrapping_add(1);
            }
            if vlen > MAX_VLEN {
                return Err(too_many(cu, node, vlen, "parameters"));
            }
            let ret = cu.resolve(n.type_ref());
            f.push_written(0, info_word(flat::FUNC_PROTO, false, vlen), ret, start);
            return Ok(flat::FUNC_PROTO);
        }
        other => {
            return Err(unsupported(format!(
                "{} in the types table",
                tag_name(other)
            )))
        }
    };
    f.push(&t);
    Ok(t.kind() as u32)
}

/// Appends a struct or union definition (not a declaration) to `f`: its members' words
/// are written in place. Returns its kind.
fn encode_struct<'d>(
    cu: &Cu<'d>,
    node: u32,
    name: u32,
    is_union: bool,
    little_endian: bool,
    strings: &mut Strings<'d>,
    f: &mut Flat,
) -> Result<u32, ErrorKind> {
    let start = f.extra.len();
    let mut vlen = 0u32;
    let mut kind_flag = false;
    for child in cu.children(node) {
        let c = cu.node(child);
        if c.tag != dw::DW_TAG_member || is_static_member(cu, child, is_union) {
            continue;
        }
        let (bit_offset, bitfield_size) = member_offset(cu, child, little_endian);
        if bitfield_size > 255
            || (bitfield_size != 0 || bit_offset % 8 != 0) && bit_offset > 0xff_ffff
        {
            return Err(ErrorKind::Unsupported {
                loc: cu.loc(child),
                what: format!(
                    "a member at bit offset {bit_offset} with bitfield size {bitfield_size}"
                ),
            });
        }
        if bitfield_size != 0 || bit_offset % 8 != 0 {
            kind_flag = true;
        }
        let name_off = strings.add_name(c.name());
        f.extra.extend([
            name_off,
            cu.resolve(c.type_ref()),
            bit_offset | (bitfield_size << 24),
        ]);
        vlen = vlen.wrapping_add(1);
    }
    if vlen > MAX_VLEN {
        return Err(too_many(cu, node, vlen, "members"));
    }
    let kind = if is_union { flat::UNION } else { flat::STRUCT };
    let size = cu.node(node).byte_size() as u32;
    f.push_written(name, info_word(kind, kind_flag, vlen), size, start);
    Ok(kind)
}

/// A base type as INT or FLOAT (see the module documentation).
pub fn base_type<'d>(
    name: &'d [u8],
    byte_size: u64,
    encoding: u64,
    opts: &crate::EncodeOptions,
    strings: &mut Strings<'d>,
) -> Result<Type, &'static str> {
    // pahole keeps the size in bits in a 16-bit field.
    let bit_size = (byte_size.wrapping_mul(8)) as u16;
    let enc = gimli::DwAte(encoding as u8);
    let is_signed = encoding < 0x100 && (enc == dw::DW_ATE_signed || enc == dw::DW_ATE_signed_char);
    let is_bool = encoding < 0x100 && enc == dw::DW_ATE_boolean;
    let float = encoding < 0x100
        && matches!(
            enc,
            dw::DW_ATE_float | dw::DW_ATE_complex_float | dw::DW_ATE_imaginary_float
        );
    let mut encoding = 0;
    if is_signed {
        encoding = INT_SIGNED;
    } else if is_bool {
        encoding = INT_BOOL;
    } else if float && opts.gen_floats {
        if enc != dw::DW_ATE_float {
            return Err("a complex or imaginary float type (pahole 1.24 cannot encode them)");
        }
        let size = (bit_size as u32).div_ceil(8);
        if !matches!(size, 2 | 4 | 8 | 12 | 16) {
            return Err("a float type of a size BTF cannot express");
        }
        return Ok(Type::new(strings.add_bytes(name), TypeData::Float { size }));
    }
    let mut name = name;
    let mut size = (bit_size as u32).div_ceil(8);
    if size == 0 || !size.is_power_of_two() || size > 16 {
        name = b"__SANITIZED_FAKE_INT__";
        size = 4;
    }
    Ok(Type::new(
        strings.add_bytes(name),
        TypeData::Int {
            size,
            encoding,
            offset: 0,
            bits: (size * 8) as u8,
        },
    ))
}

fn enumeration<'d>(
    cu: &Cu<'d>,
    node: u32,
    opts: &crate::EncodeOptions,
    strings: &mut Strings<'d>,
    f: &mut Flat,
) -> Result<u32, ErrorKind> {
    let a = cu.node(node);
    let name = strings.add_name(a.name());
    let bits: u32 = if a.byte_size() == 0 {
        32
    } else {
        a.byte_size().wrapping_mul(8) as u32
    };
    let size = bits.div_ceil(8);
    let start = f.extra.len();
    let mut vlen = 0u32;
    let enum64 = !(size <= 4 || opts.skip_enum64);
    let mut kind_flag = false;
    for c in cu.children(node) {
        let c = cu.node(c);
        if c.tag != dw::DW_TAG_enumerator {
            continue;
        }
        let name_off = strings.add_name(c.name());
        let v = c.const_value();
        if enum64 {
            f.extra.extend([name_off, v as u32, (v >> 32) as u32]);
        } else {
            let v = if opts.skip_enum64 { v as u32 as u64 } else { v };
            if (v as i64) < 0 {
                kind_flag = true;
            }
            f.extra.extend([name_off, v as u32]);
        }
        vlen = vlen.wrapping_add(1);
    }
    if vlen > MAX_VLEN {
        return Err(too_many(cu, node, vlen, "enumerators"));
    }
    let kind = if enum64 {
        kind_flag = underlying_signed(cu, node);
        flat::ENUM64
    } else {
        flat::ENUM
    };
    f.push_written(name, info_word(kind, kind_flag, vlen), size, start);
    Ok(kind)
}

/// Whether an enum's `DW_AT_type` is a signed base type (pahole's `is_signed_enum`).
fn underlying_signed<'d>(cu: &Cu<'d>, node: u32) -> bool {
    let Some(t) = cu.type_node(cu.resolve(cu.node(node).type_ref())) else {
        return false;
    };
    let e = cu.node(t).encoding();
    e == dw::DW_ATE_signed.0 as u64 || e == dw::DW_ATE_signed_char.0 as u64
}

/// pahole's static members: no location, not in a union, and no `DW_AT_data_bit_offset`.
fn is_static_member<'d>(cu: &Cu<'d>, member: u32, in_union: bool) -> bool {
    let a = cu.node(member);
    a.data_bit_offset().is_none() && a.data_member_location().is_none() && !in_union
}

/// A member's bit offset and bitfield size, as pahole's `class_member__cache_byte_size`
/// computes them.
pub fn member_offset<'d>(cu: &Cu<'d>, member: u32, little_endian: bool) -> (u32, u32) {
    let a = cu.node(member);
    let bitfield_size = a.bit_size() as u32;
    if let Some(bit) = a.data_bit_offset() {
        return (bit as u32, bitfield_size);
    }
    let byte_offset = a.data_member_location().unwrap_or(0);
    let plain = (byte_offset.wrapping_mul(8) as u32, bitfield_size);
    if bitfield_size == 0 {
        return plain;
    }
    let mut byte_size = a.byte_size();
    if byte_size == 0 {
        let t = strip_typedefs_and_modifiers(cu, cu.resolve(a.type_ref()));
        byte_size = type_size(cu, t, 0);
        if byte_size == 0 {
            if let Some(n) = cu.type_node(t) {
                let tn = cu.node(n);
                let bits = if tn.tag == dw::DW_TAG_enumeration_type {
                    enum_bits(tn.byte_size())
                } else {
                    (tn.byte_size().wrapping_mul(8) as u16) as u64
                };
                byte_size = bits.div_ceil(8) * 8;
            }
        }
    }
    if byte_size == 0 {
        return plain;
    }
    let bit_size = byte_size.wrapping_mul(8) as i64;
    let mut bitfield_offset = a.bit_offset() as i64;
    if little_endian {
        bitfield_offset = bit_size - bitfield_offset - bitfield_size as i64;
    }
    let bit_offset = (byte_offset as i64)
        .wrapping_mul(8)
        .wrapping_add(bitfield_offset);
    (bit_offset as u32, bitfield_size)
}

fn enum_bits(byte_size: u64) -> u64 {
    if byte_size == 0 {
        32
    } else {
        (byte_size.wrapping_mul(8)) as u32 as u64
    }
}

/// pahole's `tag__strip_typedefs_and_modifiers`.
fn strip_typedefs_and_modifiers<'d>(cu: &Cu<'d>, mut id: u32) -> u32 {
    for _ in 0..64 {
        let Some(n) = cu.type_node(id) else {
            return id;
        };
        let n = cu.node(n);
        match n.tag {
            dw::DW_TAG_typedef
            | dw::DW_TAG_const_type
            | dw::DW_TAG_volatile_type
            | dw::DW_TAG_restrict_type
            | dw::DW_TAG_atomic_type => id = cu.resolve(n.type_ref()),
            _ => return id,
        }
    }
    id
}

/// pahole's `tag__size` of a types-table id. A reference loop counts as a non-zero size.
pub fn type_size<'d>(cu: &Cu<'d>, id: u32, depth: usize) -> u64 {
    if depth > 64 {
        return u64::MAX;
    }
    let Some(node) = cu.type_node(id) else {
        return 0;
    };
    let entry = &cu.types[id as usize - 1];
    let n = cu.node(node);
    let refers = match entry {
        Entry::TypeTag { pointer, .. } => {
            return type_size(cu, type_tag_target(cu, id, *pointer), depth + 1)
        }
        Entry::Die(_) => cu.resolve(n.type_ref()),
    };
    match n.tag {
        dw::DW_TAG_pointer_type | dw::DW_TAG_reference_type => return cu.addr_size as u64,
        dw::DW_TAG_base_type => return (n.byte_size().wrapping_mul(8) as u16 / 8) as u64,
        dw::DW_TAG_enumeration_type => return enum_bits(n.byte_size()) / 8,
        dw::DW_TAG_subroutine_type => {
            return if n.byte_size() != 0 {
                n.byte_size()
            } else {
                cu.addr_size as u64
            }
        }
        _ => {}
    }
    let size = if refers == 0 {
        match n.tag {
            dw::DW_TAG_structure_type
            | dw::DW_TAG_class_type
            | dw::DW_TAG_union_type
            | dw::DW_TAG_typedef => {
                let nr_members = cu
                    .children(node)
                    .filter(|&c| cu.node(c).tag == dw::DW_TAG_member)
                    .count();
                let size = n.byte_size() as u32 as u64;
                if size == 1 && nr_members == 0 {
                    0
                } else {
                    size
                }
            }
            _ => 0,
        }
    } else {
        type_size(cu, refers, depth + 1)
    };
    if n.tag == dw::DW_TAG_array_type {
        let mut nelems: u32 = 1;
        for child in cu.children(node) {
            let c = cu.node(child);
            if c.tag == dw::DW_TAG_subrange_type {
                nelems = nelems.wrapping_mul(c.subrange_len() as u32);
            }
        }
        return size.wrapping_mul(nelems as u64);
    }
    size
}

/// `btf_decl_tag` annotations of a struct, union or typedef: (value, component index).
fn type_annotations<'d>(cu: &Cu<'d>, node: u32) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    let mut member_idx = 0;
    for child in cu.children(node) {
        let c = cu.node(child);
        match c.tag {
            crate::die::DW_TAG_LLVM_ANNOTATION => {
                if let Some(v) = decl_tag_value(cu, child) {
                    out.push((v, -1));
                }
            }
            dw::DW_TAG_member | dw::DW_TAG_inheritance => {
                out.extend(decl_tags_of(cu, child).map(|v| (v, member_idx)));
                member_idx += 1;
            }
            _ => {}
        }
    }
    out
}

/// The values of the `btf_decl_tag` annotations among `node`'s children.
pub fn decl_tags_of<'a, 'd>(cu: &'a Cu<'d>, node: u32) -> impl Iterator<Item = String> + 'a {
    cu.children(node)
        .filter(|&c| cu.node(c).tag == crate::die::DW_TAG_LLVM_ANNOTATION)
        .filter_map(|c| decl_tag_value(cu, c))
}

/// The value of a `btf_decl_tag` annotation DIE.
pub fn decl_tag_value<'d>(cu: &Cu<'d>, node: u32) -> Option<String> {
    let a = cu.node(node);
    if !a.name().is_some_and(|n| n.is(b"btf_decl_tag")) {
        return None;
    }
    Some(a.const_str().map(|v| lossy(v.bytes())).unwrap_or_default())
}
