//! Checking one STRUCT/UNION member against its parent once its type is resolved: the kernel's
//! `check_member` (parent's kind_flag clear: the offset word is a bit offset) and
//! `check_kflag_member` (kind_flag set: bits 24..32 are the bitfield size) of each kind.
//!
//! Which function the kernel calls depends on the kind of the member's type: INT, ENUM/ENUM64
//! and FLOAT have their own; PTR, ARRAY and STRUCT/UNION share the "generic" kflag variant (no
//! bitfield allowed); modifiers resolve to the sized type and call its function. Kinds without
//! size never get here (the resolver rejects them first).

use super::resolve::{int_is_regular, Fail, Res, Resolver, PTR_SIZE};
use super::ty::{describe, Ty};
use crate::kind::Kind;
use crate::types::*;

impl<'a> Resolver<'a> {
    fn member_fail(
        &self,
        sid: TypeId,
        s: &Type,
        m: &Member,
        rule: &'static str,
        what: String,
    ) -> Fail {
        let offset = if s.kind_flag {
            format!(
                "bit offset {}, bitfield size {}",
                m.bit_offset(true),
                m.bitfield_size(true)
            )
        } else {
            format!("bit offset {}", m.offset)
        };
        self.fail(
            sid,
            rule,
            format!(
                "member {} ({offset}, type {}): {what}",
                self.member_name(m.name_off),
                describe(self.btf, m.ty)
            ),
        )
    }

    /// Dispatches to the member check of `mt`'s kind, as `btf_struct_resolve` does.
    pub(super) fn check_member(&self, sid: TypeId, s: &Type, m: &Member, mt: Ty<'a>) -> Res<()> {
        let Some(t) = mt.ty() else {
            return Err(self.member_fail(sid, s, m, "Unsupported check_member", "void".into()));
        };
        let kflag = s.kind_flag;
        match t.kind() {
            Kind::Int if kflag => self.int_check_kflag_member(sid, s, m, t),
            Kind::Int => self.int_check_member(sid, s, m, t),
            Kind::Enum | Kind::Enum64 if kflag => self.enum_check_kflag_member(sid, s, m, t),
            Kind::Enum | Kind::Enum64 => self.sized_check_member(sid, s, m, t.size().unwrap_or(0)),
            Kind::Typedef | Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag => {
                // btf_modifier_check_member: check the resolved type with the same offset.
                let Some((rid, rt, _)) = self.type_id_size(m.ty)? else {
                    return Err(self.member_fail(
                        sid,
                        s,
                        m,
                        "Invalid member",
                        "type has no size".into(),
                    ));
                };
                let resolved = Member { ty: rid, ..*m };
                self.check_member(sid, s, &resolved, rt)
            }
            Kind::Ptr | Kind::Array | Kind::Struct | Kind::Union | Kind::Float => {
                if kflag && m.bitfield_size(true) != 0 {
                    // btf_generic_check_kflag_member.
                    return Err(self.member_fail(
                        sid,
                        s,
                        m,
                        "Invalid member bitfield_size",
                        format!("a {} cannot be a bitfield", t.kind()),
                    ));
                }
                match t.kind() {
                    Kind::Ptr => self.ptr_check_member(sid, s, m),
                    Kind::Array => {
                        let size = self.type_id_size(m.ty)?.map_or(0, |(_, _, size)| size);
                        self.sized_check_member(sid, s, m, size)
                    }
                    Kind::Float => self.float_check_member(sid, s, m, t),
                    _ => self.sized_check_member(sid, s, m, t.size().unwrap_or(0)),
                }
            }
            k => Err(self.member_fail(
                sid,
                s,
                m,
                "Unsupported check_member",
                format!("a {k} cannot be a member"),
            )),
        }
    }

    fn exceeds(&self, sid: TypeId, s: &Type, m: &Member, end_bits: u64) -> Fail {
        self.member_fail(
            sid,
            s,
            m,
            "Member exceeds struct_size",
            format!(
                "ends at bit {end_bits}, beyond the {} size of {} bytes",
                s.kind().name().to_lowercase(),
                s.size().unwrap_or(0)
            ),
        )
    }

    /// The end of both INT member checks: the `nr_bits` bits at `bits_off`, copied from
    /// whole bytes, take at most 128 bits and lie inside the struct.
    fn int_bits_fit(
        &self,
        sid: TypeId,
        s: &Type,
        m: &Member,
        bits_off: u32,
        nr_bits: u32,
    ) -> Res<()> {
        let struct_size = s.size().unwrap_or(0);
        let bytes_offset = bits_off / 8;
        let nr_copy_bits = nr_bits + bits_off % 8;
        if nr_copy_bits > 128 {
            return Err(self.member_fail(
                sid,
                s,
                m,
                "nr_copy_bits exceeds 128",
                format!("{nr_copy_bits} bits to copy, more than 128"),
            ));
        }
        if struct_size < bytes_offset || struct_size - bytes_offset < nr_copy_bits.div_ceil(8) {
            return Err(self.exceeds(sid, s, m, bits_off as u64 + nr_bits as u64));
        }
        Ok(())
    }

    /// `btf_int_check_member`: the INT's own bit offset and bits, from the member's offset.
    fn int_check_member(&self, sid: TypeId, s: &Type, m: &Member, t: &Type) -> Res<()> {
        let TypeData::Int { offset, bits, .. } = t.data else {
            return Ok(());
        };
        let Some(bits_off) = m.offset.checked_add(offset as u32) else {
            return Err(self.member_fail(
                sid,
                s,
                m,
                "bits_offset exceeds U32_MAX",
                format!("offset plus the INT's bit offset {offset} overflows 32 bits"),
            ));
        };
        self.int_bits_fit(sid, s, m, bits_off, bits as u32)
    }

    /// `btf_int_check_kflag_member`: a regular INT, bitfield no wider than it.
    fn int_check_kflag_member(&self, sid: TypeId, s: &Type, m: &Member, t: &Type) -> Res<()> {
        let TypeData::Int { bits, .. } = t.data else {
            return Ok(());
        };
        if !int_is_regular(Ty::T(t)) {
            return Err(self.member_fail(
                sid,
                s,
                m,
                "Invalid member base type",
                "the INT of a kind_flag member must be regular (whole bytes at bit offset 0)"
                    .into(),
            ));
        }
        let bits_off = m.bit_offset(true);
        let mut nr_bits = m.bitfield_size(true);
        if nr_bits == 0 {
            if !bits_off.is_multiple_of(8) {
                return Err(self.member_fail(
                    sid,
                    s,
                    m,
                    "Invalid member offset",
                    "not a bitfield, but not byte aligned".into(),
                ));
            }
            nr_bits = bits as u32;
        } else if nr_bits > bits as u32 {
            return Err(self.member_fail(
                sid,
                s,
                m,
                "Invalid member bitfield_size",
                format!("bitfield of {nr_bits} bits is wider than its {bits}-bit INT"),
            ));
        }
        self.int_bits_fit(sid, s, m, bits_off, nr_bits)
    }

    /// `btf_enum_check_kflag_member`: bitfields up to 32 bits (whatever the enum's size).
    fn enum_check_kflag_member(&self, sid: TypeId, s: &Type, m: &Member, _t: &Type) -> Res<()> {
        let bits_off = m.bit_offset(true);
        let mut nr_bits = m.bitfield_size(true);
        if nr_bits == 0 {
            if !bits_off.is_multiple_of(8) {
                return Err(self.member_fail(
                    sid,
                    s,
                    m,
                    "Member is not byte aligned",
                    "not byte aligned".into(),
                ));
            }
            nr_bits = 32;
        } else if nr_bits > 32 {
            return Err(self.member_fail(
                sid,
                s,
                m,
                "Invalid member bitfield_size",
                format!("enum bitfield of {nr_bits} bits is wider than 32"),
            ));
        }
        // The kernel adds in 32 bits (a wrap makes the end small and passes).
        let end = bits_off.wrapping_add(nr_bits).div_ceil(8);
        if s.size().unwrap_or(0) < end {
            return Err(self.exceeds(sid, s, m, bits_off as u64 + nr_bits as u64));
        }
        Ok(())
    }

    /// `btf_ptr_check_member`: byte aligned, 8 bytes within the struct.
    fn ptr_check_member(&self, sid: TypeId, s: &Type, m: &Member) -> Res<()> {
        self.sized_check_member(sid, s, m, PTR_SIZE)
    }

    /// `btf_struct_check_member`, `btf_array_check_member`, `btf_enum_check_member` and (with
    /// `PTR_SIZE`) `btf_ptr_check_member`: byte aligned, `size` bytes within the struct. The
    /// kernel subtracts in 32 bits, so an offset beyond the struct wraps and passes; the meta
    /// phase has already rejected offsets beyond the struct size.
    fn sized_check_member(&self, sid: TypeId, s: &Type, m: &Member, size: u32) -> Res<()> {
        if !m.offset.is_multiple_of(8) {
            return Err(self.member_fail(
                sid,
                s,
                m,
                "Member is not byte aligned",
                "not byte aligned".into(),
            ));
        }
        let struct_size = s.size().unwrap_or(0);
        if struct_size.wrapping_sub(m.offset / 8) < size {
            return Err(self.exceeds(sid, s, m, m.offset as u64 + 8 * size as u64));
        }
        Ok(())
    }

    /// `btf_float_check_member`: aligned to min(8, size) bytes, within the struct.
    fn float_check_member(&self, sid: TypeId, s: &Type, m: &Member, t: &Type) -> Res<()> {
        let size = t.size().unwrap_or(0) as u64;
        let align_bits = size.min(PTR_SIZE as u64) * 8;
        if align_bits != 0 && !(m.offset as u64).is_multiple_of(align_bits) {
            return Err(self.member_fail(
                sid,
                s,
                m,
                "Member is not properly aligned",
                format!("FLOAT not aligned to {} bytes", align_bits / 8),
            ));
        }
        let end = m.offset as u64 / 8 + size;
        if end > s.size().unwrap_or(0) as u64 {
            return Err(self.exceeds(sid, s, m, end * 8));
        }
        Ok(())
    }
}
