//! Emission: writing the ordered definitions, with forward declarations where a type is
//! referenced before (or from within) its own definition.
//!
//! `cont_id` is the named struct or union whose definition is being written (0 at top
//! level); references back to it need no forward declaration. Anonymous structs and unions
//! are written inline, so their members are visited as part of the containing definition.

use std::io::Write;

use super::names::Namespace;
use super::order::MAX_DEPTH;
use super::{CDump, EmitState};
use crate::types::*;

/// Typedef names that compilers predefine; redefining them breaks compilation with another
/// compiler than the one that produced the BTF.
const BUILTIN_TYPEDEFS: &[&[u8]] = &[b"__builtin_va_list"];

/// Base types some compilers name in BTF but do not predefine (GCC's Arm SIMD polynomial
/// types), with the standard type to alias them to.
const MISSING_BASE_TYPES: &[(&[u8], &str)] = &[
    (b"__Poly8_t", "unsigned char"),
    (b"__Poly16_t", "unsigned short"),
    (b"__Poly64_t", "unsigned long long"),
    (b"__Poly128_t", "unsigned __int128"),
];

impl CDump<'_> {
    fn set_emit(&mut self, id: TypeId, emit: EmitState) {
        if let Some(s) = self.state(id) {
            s.emit = emit;
        }
    }

    fn set_fwd_emitted(&mut self, id: TypeId) {
        if let Some(s) = self.state(id) {
            s.fwd_emitted = true;
        }
    }

    fn is_builtin_typedef(&self, t: &Type) -> bool {
        t.name_off != 0 && BUILTIN_TYPEDEFS.contains(&self.names.raw(t.name_off))
    }

    /// Ends a top-level declaration.
    fn end_decl(&mut self) {
        self.buf.extend_from_slice(b";\n\n");
    }

    /// Emits type `id` as needed at this point: its definition at top level (`cont_id` 0),
    /// else whatever forward declarations its use inside `cont_id` requires.
    pub(super) fn emit_type(&mut self, id: TypeId, cont_id: TypeId, depth: u32) {
        if depth > MAX_DEPTH {
            return;
        }
        let Some(state) = self.states.get(id as usize).copied() else {
            return;
        };
        if state.emit == EmitState::Emitted {
            return;
        }
        let btf = self.btf;
        let Some(t) = btf.type_by_id(id) else {
            return;
        };
        let top_level = cont_id == 0;

        if state.emit == EmitState::Emitting {
            // The type refers to itself, directly or through others.
            if state.fwd_emitted {
                return;
            }
            match &t.data {
                TypeData::Struct { .. } | TypeData::Union { .. } => {
                    // A reference from inside the struct being defined needs nothing, and
                    // an anonymous struct cannot be declared forward.
                    if id == cont_id || t.name_off == 0 {
                        return;
                    }
                    self.emit_struct_fwd(id, t);
                    self.end_decl();
                    self.set_fwd_emitted(id);
                }
                TypeData::Typedef { .. } => {
                    // The typedef, written now, serves users that only need it through a
                    // pointer.
                    if !self.is_builtin_typedef(t) {
                        self.emit_typedef_def(id, t, 0);
                        self.end_decl();
                    }
                    self.set_fwd_emitted(id);
                }
                _ => {}
            }
            return;
        }

        match &t.data {
            TypeData::Int { .. } => {
                self.emit_missing_alias(t);
                self.set_emit(id, EmitState::Emitted);
            }
            TypeData::Enum { .. } | TypeData::Enum64 { .. } => {
                if top_level {
                    self.emit_enum_def(id, t, 0);
                    self.end_decl();
                }
                self.set_emit(id, EmitState::Emitted);
            }
            TypeData::Ptr { ty }
            | TypeData::Volatile { ty }
            | TypeData::Const { ty }
            | TypeData::Restrict { ty }
            | TypeData::TypeTag { ty } => self.emit_type(*ty, cont_id, depth + 1),
            TypeData::Array { elem, .. } => self.emit_type(*elem, cont_id, depth + 1),
            TypeData::Fwd { .. } => {
                self.emit_fwd_def(id, t);
                self.end_decl();
                self.set_emit(id, EmitState::Emitted);
            }
            TypeData::Typedef { ty } => {
                self.set_emit(id, EmitState::Emitting);
                self.emit_type(*ty, id, depth + 1);
                let fwd_emitted = self.states.get(id as usize).is_some_and(|s| s.fwd_emitted);
                if !fwd_emitted && !self.is_builtin_typedef(t) {
                    self.emit_typedef_def(id, t, 0);
                    self.end_decl();
                }
                self.set_emit(id, EmitState::Emitted);
            }
            TypeData::Struct { members, .. } | TypeData::Union { members, .. } => {
                self.set_emit(id, EmitState::Emitting);
                let anon = t.name_off == 0;
                if top_level || anon {
                    // The members will be written out, so what they refer to must be
                    // declared first.
                    let inner_cont = if anon { cont_id } else { id };
                    for m in members {
                        self.emit_type(m.ty, inner_cont, depth + 1);
                    }
                } else if !state.fwd_emitted && id != cont_id {
                    self.emit_struct_fwd(id, t);
                    self.end_decl();
                    self.set_fwd_emitted(id);
                }
                if top_level {
                    self.emit_struct_def(id, t, 0);
                    self.end_decl();
                    self.set_emit(id, EmitState::Emitted);
                } else {
                    self.set_emit(id, EmitState::NotEmitted);
                }
            }
            TypeData::FuncProto { ret, params } => {
                self.emit_type(*ret, cont_id, depth + 1);
                for p in params {
                    self.emit_type(p.ty, cont_id, depth + 1);
                }
            }
            TypeData::Float { .. }
            | TypeData::Func { .. }
            | TypeData::Var { .. }
            | TypeData::Datasec { .. }
            | TypeData::DeclTag { .. } => {}
        }
    }

    fn emit_missing_alias(&mut self, t: &Type) {
        let name = self.names.raw(t.name_off);
        if let Some((_, std)) = MISSING_BASE_TYPES.iter().find(|(n, _)| *n == name) {
            self.buf.extend_from_slice(b"typedef ");
            self.buf.extend_from_slice(std.as_bytes());
            self.buf.push(b' ');
            self.buf.extend_from_slice(name);
            self.buf.extend_from_slice(b";\n\n");
        }
    }

    /// `struct NAME` or `union NAME`.
    pub(super) fn emit_struct_fwd(&mut self, id: TypeId, t: &Type) {
        let kw: &[u8] = match t.data {
            TypeData::Union { .. } => b"union",
            _ => b"struct",
        };
        self.buf.extend_from_slice(kw);
        let name = self.names.of_type(id, Namespace::Tags);
        if t.name_off != 0 {
            self.buf.push(b' ');
        }
        name.write_to(&mut self.buf);
    }

    /// `struct NAME` or `union NAME` for a FWD.
    fn emit_fwd_def(&mut self, id: TypeId, t: &Type) {
        let name = self.names.of_type(id, Namespace::Tags);
        self.buf
            .extend_from_slice(if t.kind_flag { b"union " } else { b"struct " });
        name.write_to(&mut self.buf);
    }

    /// `enum NAME`.
    pub(super) fn emit_enum_fwd(&mut self, id: TypeId) {
        let name = self.names.of_type(id, Namespace::Tags);
        self.buf.extend_from_slice(b"enum ");
        name.write_to(&mut self.buf);
    }

    /// `typedef TYPE NAME`.
    fn emit_typedef_def(&mut self, id: TypeId, t: &Type, lvl: usize) {
        let name = self.names.of_type(id, Namespace::Idents);
        let target = t.ref_type().unwrap_or(0);
        if target == 0 && name.base == b"__gnuc_va_list" {
            // Old GCC versions describe this typedef as void; the builtin is what it is.
            self.buf
                .extend_from_slice(b"typedef __builtin_va_list __gnuc_va_list");
            return;
        }
        self.buf.extend_from_slice(b"typedef ");
        self.emit_type_decl(target, name, lvl);
    }

    /// The full definition of an enum, with its enumerators, indented for level `lvl`.
    pub(super) fn emit_enum_def(&mut self, id: TypeId, t: &Type, lvl: usize) {
        let name = self.names.of_type(id, Namespace::Tags);
        self.buf.extend_from_slice(b"enum");
        if t.name_off != 0 {
            self.buf.push(b' ');
        }
        name.write_to(&mut self.buf);
        let (size, count) = match &t.data {
            TypeData::Enum { size, values } => (*size, values.len()),
            TypeData::Enum64 { size, values } => (*size, values.len()),
            _ => return,
        };
        if count == 0 {
            return;
        }
        self.buf.extend_from_slice(b" {");
        let signed = t.kind_flag;
        match &t.data {
            TypeData::Enum { values, .. } => {
                for v in values {
                    self.emit_enumerator_name(v.name_off, lvl);
                    let _ = if signed {
                        write!(self.buf, " = {},", v.val as i32)
                    } else {
                        write!(self.buf, " = {},", v.val)
                    };
                }
            }
            TypeData::Enum64 { values, .. } => {
                for v in values {
                    self.emit_enumerator_name(v.name_off, lvl);
                    let _ = if signed {
                        write!(self.buf, " = {}LL,", v.val as i64)
                    } else {
                        write!(self.buf, " = {}ULL,", v.val)
                    };
                }
            }
            _ => {}
        }
        self.buf.push(b'\n');
        push_indent(&mut self.buf, lvl);
        self.buf.push(b'}');

        // Sizes other than the default int need a mode attribute, unless the values alone
        // make the compiler pick a 64-bit enum.
        if size == 1 {
            self.buf.extend_from_slice(b" __attribute__((mode(byte)))");
        } else if size == 8 && self.layout.ptr_size == 8 {
            let needs_word = match &t.data {
                TypeData::Enum64 { values, .. } => values.iter().all(|v| v.val >> 32 == 0),
                _ => true,
            };
            if needs_word {
                self.buf.extend_from_slice(b" __attribute__((mode(word)))");
            }
        }
    }

    fn emit_enumerator_name(&mut self, name_off: u32, lvl: usize) {
        let name = self.names.of_enumerator(name_off);
        self.buf.push(b'\n');
        push_indent(&mut self.buf, lvl + 1);
        name.write_to(&mut self.buf);
    }

    /// The full definition of a struct or union, its members indented for level `lvl + 1`,
    /// with explicit padding where the recorded offsets differ from natural layout.
    pub(super) fn emit_struct_def(&mut self, id: TypeId, t: &Type, lvl: usize) {
        let is_struct = matches!(t.data, TypeData::Struct { .. });
        let size = t.size().unwrap_or(0) as i64;
        let members = t.members();
        let align = self.layout.align_of(id);
        // libbpf only ever packs structs, but a union can be packed too: a union of a
        // 4-aligned struct and a 15-byte array has size 15 only when packed (Ceph's
        // `out_epil`); without the attribute the compiler makes it 16 bytes.
        let packed = self.layout.is_packed(t);

        self.emit_struct_fwd(id, t);
        self.buf.extend_from_slice(b" {");
        let mut off: i64 = 0;
        let mut prev_bitfield = false;
        for m in members {
            let bits = m.bitfield_size(t.kind_flag) as i64;
            let m_off = m.bit_offset(t.kind_flag) as i64;
            let m_align = if packed {
                1
            } else {
                self.layout.align_of(m.ty)
            };
            let in_bitfield = prev_bitfield && bits != 0;
            self.emit_bit_padding(off, m_off, m_align, in_bitfield, packed, lvl + 1);
            self.buf.push(b'\n');
            push_indent(&mut self.buf, lvl + 1);
            let fname = super::names::Name {
                base: self.names.raw(m.name_off),
                dup: 0,
            };
            self.emit_type_decl(m.ty, fname, lvl + 1);
            if bits != 0 {
                let _ = write!(self.buf, ": {bits}");
                off = m_off + bits;
                prev_bitfield = true;
            } else {
                let m_size = self.layout.size_of(m.ty).unwrap_or(0) as i64;
                off = m_off + m_size * 8;
                prev_bitfield = false;
            }
            self.buf.push(b';');
        }
        if is_struct {
            self.emit_bit_padding(off, size * 8, align, false, packed, lvl + 1);
        }
        // An empty struct stays on one line.
        if !members.is_empty() || size != 0 {
            self.buf.push(b'\n');
            push_indent(&mut self.buf, lvl);
        }
        self.buf.push(b'}');
        if packed {
            self.buf.extend_from_slice(b" __attribute__((packed))");
        }
        if let Some(align) = self.layout.union_alignment(t, packed) {
            let _ = write!(self.buf, " __attribute__((aligned({align})))");
        }
    }

    /// Writes unnamed bitfields that move the layout from bit `cur` to bit `next`, where the
    /// next member, aligned to `next_align` bytes, starts. The padding relies on natural
    /// alignment where it can: the widest of `long`, `int`, `short`, `char` whose alignment
    /// boundary lies within the gap is used, with a `TYPE: 0` marker when the compiler would
    /// not align by itself, then whole units of it and a last smaller one. Within a run of
    /// bitfields the first marker carries its bit count instead, as `: 0` would round up.
    ///
    /// In a `packed` struct a bitfield does not move to its type's next boundary when it
    /// would straddle one, so the marker is always needed there. libbpf leaves it out when
    /// the first whole unit would move by itself, which breaks packed layouts such as
    /// virtio-scsi's `struct virtio_scsi_cmd` (its tail came out a `long` short).
    fn emit_bit_padding(
        &mut self,
        cur: i64,
        next: i64,
        next_align: u32,
        in_bitfield: bool,
        packed: bool,
        lvl: usize,
    ) {
        if cur >= next {
            return;
        }
        let long_bits = self.layout.ptr_size as i64 * 8;
        let pads: [(&str, i64); 4] = [("long", long_bits), ("int", 32), ("short", 16), ("char", 8)];
        let mut cur = cur;
        let (mut pad_type, mut pad_bits) = pads[pads.len() - 1];
        let mut new_off = cur;
        for &(ty, bits) in &pads {
            pad_type = ty;
            pad_bits = bits.max(1);
            new_off = round_up(cur, pad_bits);
            if new_off <= next {
                break;
            }
        }
        if new_off > cur && new_off <= next {
            let natural = round_up(cur, (next_align as i64 * 8).max(1));
            if in_bitfield
                || (new_off == next && natural != new_off)
                || (new_off != next && (packed || next - new_off <= new_off - cur))
            {
                self.buf.push(b'\n');
                push_indent(&mut self.buf, lvl);
                let n = if in_bitfield { new_off - cur } else { 0 };
                let _ = write!(self.buf, "{pad_type}: {n};");
            }
            cur = new_off;
        }
        while cur < next {
            let bits = (next - cur).min(pad_bits);
            if bits == pad_bits {
                self.buf.push(b'\n');
                push_indent(&mut self.buf, lvl);
                let _ = write!(self.buf, "{pad_type}: {pad_bits};");
                cur += bits;
                continue;
            }
            // The remainder, in the smallest type that holds it.
            let (ty, _) = pads
                .iter()
                .rev()
                .find(|(_, b)| *b >= bits)
                .copied()
                .unwrap_or(pads[0]);
            self.buf.push(b'\n');
            push_indent(&mut self.buf, lvl);
            let _ = write!(self.buf, "{ty}: {bits};");
            cur += bits;
        }
    }
}

/// `x` rounded up to a multiple of `to` (which is positive).
fn round_up(x: i64, to: i64) -> i64 {
    (x + to - 1) / to * to
}

/// The deepest indentation written; deeper levels stay at this many tabs.
const MAX_INDENT: usize = 13;

/// Appends the indentation of nesting level `lvl`.
pub(super) fn push_indent(buf: &mut Vec<u8>, lvl: usize) {
    buf.resize(buf.len() + lvl.min(MAX_INDENT), b'\t');
}
