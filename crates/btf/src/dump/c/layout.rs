//! Sizes and alignments of types as a C compiler for the BTF's target would lay them out,
//! following the rules libbpf uses (`btf__resolve_size`, `btf__align_of`), so that padding
//! and `packed` decisions in the C dump agree with bpftool's, except that unions, which
//! libbpf writes with their natural layout only, are packed or over-aligned when their
//! recorded size needs it.

// `u64::is_multiple_of` is newer than the workspace's minimum Rust version.
#![allow(clippy::manual_is_multiple_of)]

use std::cell::Cell;

use crate::btf::Btf;
use crate::types::*;

/// How long a chain of typedefs, modifiers and arrays size resolution follows before giving
/// up, as libbpf does; longer chains only come from reference cycles in malformed BTF.
const MAX_SIZE_CHAIN: u32 = 32;

/// How deep alignment resolution nests (structs embedded in structs) before giving up.
const MAX_ALIGN_DEPTH: u32 = 1000;

/// Marks an alignment not computed yet in the cache.
const UNKNOWN: u32 = u32::MAX;

/// Spellings of C's `long` that compilers put into INT names; the size of the first such
/// INT tells the pointer size of the target.
const LONG_NAMES: &[&[u8]] = &[
    b"long",
    b"long int",
    b"int long",
    b"unsigned long",
    b"long unsigned",
    b"unsigned long int",
    b"unsigned int long",
    b"long unsigned int",
    b"long int unsigned",
    b"int unsigned long",
    b"int long unsigned",
];

/// The target's pointer size in bytes: the size of the first 4- or 8-byte INT named like
/// `long`, looking through the base first; 8 when there is none.
fn pointer_size(btf: &Btf) -> u32 {
    (1..btf.end_id())
        .filter_map(|id| btf.type_by_id(id))
        .find_map(|t| match t.data {
            TypeData::Int { size, .. }
                if (size == 4 || size == 8)
                    && btf
                        .str_bytes(t.name_off)
                        .is_some_and(|n| LONG_NAMES.contains(&n)) =>
            {
                Some(size)
            }
            _ => None,
        })
        .unwrap_or(8)
}

/// Size and alignment questions about one BTF, for one pointer size.
pub(super) struct Layout<'a> {
    btf: &'a Btf,
    pub ptr_size: u32,
    /// Alignments computed so far, by type id; structs embed the same types over and over.
    aligns: Vec<Cell<u32>>,
}

impl<'a> Layout<'a> {
    pub fn new(btf: &'a Btf) -> Layout<'a> {
        Layout {
            btf,
            ptr_size: pointer_size(btf),
            aligns: vec![Cell::new(UNKNOWN); btf.end_id() as usize],
        }
    }

    /// The size in bytes of an object of type `id`, or `None` for void, functions, forward
    /// declarations, sizes above `u32::MAX` and broken references.
    pub fn size_of(&self, id: TypeId) -> Option<u64> {
        let mut id = id;
        let mut nelems: u64 = 1;
        for _ in 0..MAX_SIZE_CHAIN {
            let t = self.btf.type_by_id(id)?;
            let size = match &t.data {
                TypeData::Int { size, .. }
                | TypeData::Struct { size, .. }
                | TypeData::Union { size, .. }
                | TypeData::Enum { size, .. }
                | TypeData::Enum64 { size, .. }
                | TypeData::Datasec { size, .. }
                | TypeData::Float { size } => *size as u64,
                TypeData::Ptr { .. } => self.ptr_size as u64,
                TypeData::Typedef { ty }
                | TypeData::Volatile { ty }
                | TypeData::Const { ty }
                | TypeData::Restrict { ty }
                | TypeData::TypeTag { ty }
                | TypeData::Var { ty, .. }
                | TypeData::DeclTag { ty, .. } => {
                    id = *ty;
                    continue;
                }
                TypeData::Array {
                    elem, nelems: n, ..
                } => {
                    nelems = nelems.checked_mul(*n as u64)?;
                    if nelems > u32::MAX as u64 {
                        return None;
                    }
                    id = *elem;
                    continue;
                }
                TypeData::Fwd { .. } | TypeData::Func { .. } | TypeData::FuncProto { .. } => {
                    return None
                }
            };
            let total = nelems.checked_mul(size)?;
            return (total <= u32::MAX as u64).then_some(total);
        }
        None
    }

    /// The alignment in bytes of type `id`, or 0 when it has none (void, functions, forward
    /// declarations, broken references). A struct or union whose layout shows it was packed
    /// (a misaligned member, or a size that is not a multiple of the members' alignment)
    /// has alignment 1.
    pub fn align_of(&self, id: TypeId) -> u32 {
        self.align_at_depth(id, 0)
    }

    fn align_at_depth(&self, id: TypeId, depth: u32) -> u32 {
        if depth > MAX_ALIGN_DEPTH {
            return 0;
        }
        let cached = self.aligns.get(id as usize).map_or(UNKNOWN, Cell::get);
        if cached != UNKNOWN {
            return cached;
        }
        let align = self.compute_align(id, depth);
        if let Some(c) = self.aligns.get(id as usize) {
            c.set(align);
        }
        align
    }

    fn compute_align(&self, id: TypeId, depth: u32) -> u32 {
        let Some(t) = self.btf.type_by_id(id) else {
            return 0;
        };
        match &t.data {
            TypeData::Int { size, .. }
            | TypeData::Enum { size, .. }
            | TypeData::Enum64 { size, .. }
            | TypeData::Float { size } => (*size).min(self.ptr_size),
            TypeData::Ptr { .. } => self.ptr_size,
            TypeData::Typedef { ty }
            | TypeData::Volatile { ty }
            | TypeData::Const { ty }
            | TypeData::Restrict { ty }
            | TypeData::TypeTag { ty } => self.align_at_depth(*ty, depth + 1),
            TypeData::Array { elem, .. } => self.align_at_depth(*elem, depth + 1),
            TypeData::Struct { size, members } | TypeData::Union { size, members } => {
                let mut max_align = 1;
                for m in members {
                    let align = self.align_at_depth(m.ty, depth + 1);
                    if align == 0 {
                        return 0;
                    }
                    max_align = max_align.max(align);
                    if m.bitfield_size(t.kind_flag) == 0
                        && m.bit_offset(t.kind_flag) as u64 % (8 * align as u64) != 0
                    {
                        return 1;
                    }
                }
                if size % max_align != 0 {
                    return 1;
                }
                max_align
            }
            _ => 0,
        }
    }

    /// Whether the struct or union `t` must be declared `__attribute__((packed))` to get its
    /// recorded layout: a non-bitfield member is not at a multiple of its alignment, or the
    /// size is not a multiple of the largest member alignment.
    pub fn is_packed(&self, t: &Type) -> bool {
        let mut max_align = 1;
        for m in t.members() {
            let align = self.align_of(m.ty);
            if align != 0
                && m.bitfield_size(t.kind_flag) == 0
                && m.bit_offset(t.kind_flag) as u64 % (8 * align as u64) != 0
            {
                return true;
            }
            max_align = max_align.max(align);
        }
        t.size().unwrap_or(0) % max_align != 0
    }

    /// The alignment to declare on a union the compiler would make smaller than its recorded
    /// size. Such a union had an `aligned` attribute (`____cacheline_aligned`), which BTF
    /// does not record; structs get their size back from tail padding, but a union cannot
    /// hold padding. The answer is the smallest power of two above the members' alignment
    /// that rounds their largest size up to exactly the recorded size: being the smallest,
    /// it divides the original alignment, so the union and whatever contains it keep their
    /// recorded sizes and offsets. `None` when the natural size is right or no alignment
    /// gives the recorded size.
    pub fn union_alignment(&self, t: &Type, packed: bool) -> Option<u32> {
        let TypeData::Union { size, members } = &t.data else {
            return None;
        };
        let size = *size as u64;
        let mut natural_align = 1u64;
        let mut largest = 0u64;
        for m in members {
            if !packed {
                natural_align = natural_align.max(self.align_of(m.ty) as u64);
            }
            largest = largest.max(self.size_of(m.ty).unwrap_or(0));
        }
        if round_up(largest, natural_align) >= size {
            return None;
        }
        let mut align = 1u64;
        while align <= size {
            if align > natural_align && round_up(largest, align) == size {
                return u32::try_from(align).ok();
            }
            align *= 2;
        }
        None
    }
}

/// `x` rounded up to a multiple of `to` (at least 1).
fn round_up(x: u64, to: u64) -> u64 {
    let to = to.max(1);
    x.div_ceil(to) * to
}
