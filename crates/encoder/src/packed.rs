//! A loaded DIE's attributes as the unit keeps them until it is encoded: [`Packed`], 48 bytes,
//! where the form they are read into ([`Attrs`]) takes 216.
//!
//! A unit keeps one entry per loaded DIE (12.6 million in a vmlinux, 13,645 in dummy.ko).
//! Most DIEs have a name, a type and one number (a member's offset, an enumerator's value, a
//! subrange's bound); a few flags and at most three numbers cover all but a handful of
//! abbreviations. So a [`Packed`] has the name, the flags and three value slots, each tagged
//! with the attribute it holds (a numeric `fastattr::Field`). Which attribute goes into which slot is decided
//! once per abbreviation ([`Recipe`]), since the abbreviation says which attributes a DIE has.
//! An abbreviation with more numbers than slots (DWARF 4 bit fields: byte size, bit size, bit
//! offset, member location and type), or with a string `DW_AT_const_value` (LLVM
//! annotations), has its DIEs' [`Attrs`] kept whole, apart ("spilled"), and the slots point
//! there. The fast reader (`fastattr.rs`) writes straight into a DIE's slots; a DIE read
//! through gimli, or whose abbreviation spills, is read into a whole [`Attrs`] first.
//!
//! Invariant: what [`NodeRef`]'s accessors give is exactly what the read [`Attrs`] held, for
//! every DIE. The encoder's tests check it on every DIE of the fixtures: each one read whole
//! against its packed record, and each one read straight against the same DIE read whole.

use crate::die::{Attrs, FirstOp, Location, Name, ParamLoc};
use crate::fastattr::{self, Field, Put, Sink};
use crate::loader::NodeRef;

const SLOTS: usize = 3;

/// A reference slot's value for "no reference" (an attribute of a form that is no
/// reference). No `.debug_info` offset is this large.
const NO_REF: u64 = u64::MAX;

// `Packed::bits`.
const DECLARATION: u8 = 1;
const EXTERNAL: u8 = 1 << 1;
const ARTIFICIAL: u8 = 1 << 2;
const HAS_LOC: u8 = 1 << 3;
const HAS_CONST_VALUE: u8 = 1 << 4;
/// The DIE's [`Attrs`] are kept whole apart; `vals[0]` is their index.
const SPILLED: u8 = 1 << 5;

// `Packed::kinds`: the `Location` kind in bits 0..2, the `FirstOp` kind in bits 2..4.
const LOC_GLOBAL: u8 = 1;
const LOC_OTHER: u8 = 2;
const OP_REG: u8 = 1 << 2;
const OP_OTHER: u8 = 2 << 2;

/// Where an abbreviation's numbers go, worked out once per abbreviation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Recipe {
    /// What each value slot holds (a numeric [`Field`]); `None`: nothing.
    slots: [Option<Field>; SLOTS],
    /// The DIEs are kept whole apart.
    spill: bool,
}

/// What a value slot holds for `field`'s value: the field itself for a number (a
/// parameter's constant value is kept as any constant value), `None` for the name and the
/// flags, which have places of their own, and for `ConstStr` (a string: the DIE spills).
fn slot_of(field: Field) -> Option<Field> {
    match field {
        Field::ParamConstValue => Some(Field::ConstValue),
        Field::Type
        | Field::AbstractOrigin
        | Field::Specification
        | Field::ByteSize
        | Field::Encoding
        | Field::BitSize
        | Field::BitOffset
        | Field::DataBitOffset
        | Field::DataMemberLocation
        | Field::UpperBound
        | Field::Count
        | Field::ConstValue
        | Field::Location
        | Field::Language => Some(field),
        Field::Name
        | Field::ConstStr
        | Field::Declaration
        | Field::External
        | Field::Artificial
        | Field::ParamHasLoc => None,
    }
}

impl Recipe {
    /// The recipe of an abbreviation of `tag` with attributes `specs`: each attribute goes
    /// where `fastattr::field` (and `die::record`, which agrees with it) puts it.
    pub(crate) fn new(
        specs: &[gimli::AttributeSpecification],
        tag: gimli::DwTag,
        locations: bool,
    ) -> Recipe {
        let mut r = Recipe::default();
        if !crate::die::wants_attrs(tag) {
            return r;
        }
        let mut used = 0;
        for spec in specs {
            // `Err`: a parameter's location read for its first operation, kept in the flags.
            let Ok(Some(field)) = fastattr::field(tag, spec.name(), locations) else {
                continue;
            };
            if field == Field::ConstStr {
                r.spill = true;
                continue;
            }
            let Some(slot) = slot_of(field) else {
                continue;
            };
            if r.slots[..used].contains(&Some(slot)) {
                continue;
            }
            if used == SLOTS {
                r.spill = true;
                continue;
            }
            r.slots[used] = Some(slot);
            used += 1;
        }
        if r.spill {
            r.slots = [None; SLOTS];
        }
        r
    }

    pub(crate) fn spills(&self) -> bool {
        self.spill
    }

    /// The index of the slot `field` goes into (0 for a field without one).
    pub(crate) fn index_of(&self, field: Field) -> u8 {
        slot_of(field)
            .and_then(|s| self.slots.iter().position(|&x| x == Some(s)))
            .unwrap_or(0) as u8
    }
}

/// The attributes of one loaded DIE, packed.
#[derive(Debug, Clone, Copy)]
pub struct Packed<'d> {
    name: Option<Name<'d>>,
    vals: [u64; SLOTS],
    slots: [Option<Field>; SLOTS],
    bits: u8,
    kinds: u8,
    /// The opcode of `FirstOp::Reg`.
    reg: u8,
}

impl<'d> Packed<'d> {
    /// No attributes.
    pub(crate) const EMPTY: Packed<'static> = Packed {
        name: None,
        vals: [0; SLOTS],
        slots: [None; SLOTS],
        bits: 0,
        kinds: 0,
        reg: 0,
    };

    /// Sets `self` (empty) to `a` along `recipe` (which must not spill). Filled in place:
    /// a `Packed` built apart and then copied in is loaded with wider loads than the stores
    /// that built it, which stall (store forwarding), millions of times.
    #[inline]
    pub(crate) fn fill(&mut self, a: &Attrs<'d>, recipe: &Recipe) {
        self.fill_flags(a);
        self.slots = recipe.slots;
        for i in 0..SLOTS {
            self.vals[i] = value(a, recipe.slots[i]).unwrap_or(0);
        }
    }

    /// Makes `self` (empty) ready to be read into along `recipe` (which must not spill).
    #[inline]
    pub(crate) fn start(&mut self, recipe: &Recipe) {
        self.slots = recipe.slots;
    }

    /// Sets `self` (empty) to a DIE whose attributes are kept whole at `index` of the unit's
    /// spilled ones.
    pub(crate) fn fill_spilled(&mut self, a: &Attrs<'d>, index: usize) {
        self.fill_flags(a);
        self.bits |= SPILLED;
        self.vals[0] = index as u64;
    }

    /// Sets the name and the flags of `a`.
    #[inline]
    fn fill_flags(&mut self, a: &Attrs<'d>) {
        self.name = a.name;
        self.kinds = match a.location {
            Location::Unknown => 0,
            Location::Global(_) => LOC_GLOBAL,
            Location::Other => LOC_OTHER,
        } | match a.param_loc.first_op {
            FirstOp::None => 0,
            FirstOp::Reg(_) => OP_REG,
            FirstOp::Other => OP_OTHER,
        };
        self.bits = (a.declaration as u8 * DECLARATION)
            | (a.external as u8 * EXTERNAL)
            | (a.artificial as u8 * ARTIFICIAL)
            | (a.param_loc.has_loc as u8 * HAS_LOC)
            | (a.param_loc.has_const_value as u8 * HAS_CONST_VALUE);
        self.reg = match a.param_loc.first_op {
            FirstOp::Reg(r) => r,
            _ => 0,
        };
    }

    /// The index of the whole attributes, if they are kept apart.
    #[inline]
    pub(crate) fn spill_index(&self) -> Option<usize> {
        (self.bits & SPILLED != 0).then_some(self.vals[0] as usize)
    }

    /// The value of the slot holding `s`, if any.
    #[inline]
    fn find(&self, s: Field) -> Option<u64> {
        (0..SLOTS)
            .find(|&i| self.slots[i] == Some(s))
            .map(|i| self.vals[i])
    }
}

/// A DIE being read along a [`Recipe`] that does not spill, after [`Packed::start`]: what
/// [`Attrs`]'s `put` does, into the slots and the flags.
impl<'d> Sink<'d> for Packed<'d> {
    #[inline]
    fn put(&mut self, field: Field, slot: u8, v: Put<'d>) {
        let slot = slot as usize % SLOTS;
        match (field, v) {
            (Field::Name, Put::Str(s)) => self.name = Some(s),
            (_, Put::Ref(r)) => self.vals[slot] = r.map_or(NO_REF, |o| o as u64),
            (Field::ParamConstValue, Put::Num(n)) => {
                self.bits |= HAS_CONST_VALUE;
                self.vals[slot] = n;
            }
            (_, Put::Num(n)) => self.vals[slot] = n,
            (Field::Declaration, _) => self.bits |= DECLARATION,
            (Field::External, _) => self.bits |= EXTERNAL,
            (Field::Artificial, _) => self.bits |= ARTIFICIAL,
            (Field::ParamHasLoc, _) => self.bits |= HAS_LOC,
            (_, Put::Loc(l)) => {
                let (kind, addr) = match l {
                    Location::Unknown => (0, 0),
                    Location::Global(addr) => (LOC_GLOBAL, addr),
                    Location::Other => (LOC_OTHER, 0),
                };
                self.kinds = (self.kinds & !3) | kind;
                self.vals[slot] = addr;
            }
            // `ConstStr` spills, so never comes here.
            _ => {}
        }
    }
}

/// What `a` holds for `s` as a slot value: `None` where an optional attribute is missing or a
/// plain number is 0.
#[inline]
fn value(a: &Attrs<'_>, s: Option<Field>) -> Option<u64> {
    let nonzero = |x: u64| (x != 0).then_some(x);
    match s? {
        Field::Type => Some(a.type_ref.map_or(NO_REF, |o| o as u64)),
        Field::AbstractOrigin => Some(a.abstract_origin.map_or(NO_REF, |o| o as u64)),
        Field::Specification => Some(a.specification.map_or(NO_REF, |o| o as u64)),
        Field::ByteSize => nonzero(a.byte_size),
        Field::Encoding => nonzero(a.encoding),
        Field::BitSize => nonzero(a.bit_size),
        Field::BitOffset => nonzero(a.bit_offset),
        Field::DataBitOffset => a.data_bit_offset,
        Field::DataMemberLocation => a.data_member_location,
        Field::UpperBound => a.upper_bound,
        Field::Count => a.count,
        Field::ConstValue => nonzero(a.const_value),
        Field::Location => match a.location {
            Location::Global(addr) => Some(addr),
            _ => None,
        },
        Field::Language => nonzero(a.language),
        // No slot holds these.
        Field::Name
        | Field::ConstStr
        | Field::ParamConstValue
        | Field::Declaration
        | Field::External
        | Field::Artificial
        | Field::ParamHasLoc => None,
    }
}

/// A reference slot's value as the reference it is.
#[inline]
fn reference(v: Option<u64>) -> Option<usize> {
    v.filter(|&r| r != NO_REF).map(|r| r as usize)
}

/// The DIE's attributes, as they were read.
impl<'d> NodeRef<'_, 'd> {
    /// The slot value for `s`, from the slots or from the attributes kept apart.
    #[inline]
    fn num(&self, s: Field) -> Option<u64> {
        match self.spilled {
            Some(a) => value(a, Some(s)),
            None => self.a.find(s),
        }
    }

    /// `DW_AT_name`, borrowed from the input (`.debug_str` or `.debug_info`).
    #[inline]
    pub fn name(&self) -> Option<Name<'d>> {
        self.a.name
    }

    /// `DW_AT_type`, as a `.debug_info` offset.
    #[inline]
    pub fn type_ref(&self) -> Option<usize> {
        reference(self.num(Field::Type))
    }

    #[inline]
    pub fn abstract_origin(&self) -> Option<usize> {
        reference(self.num(Field::AbstractOrigin))
    }

    #[inline]
    pub fn specification(&self) -> Option<usize> {
        reference(self.num(Field::Specification))
    }

    #[inline]
    pub fn byte_size(&self) -> u64 {
        self.num(Field::ByteSize).unwrap_or(0)
    }

    #[inline]
    pub fn encoding(&self) -> u64 {
        self.num(Field::Encoding).unwrap_or(0)
    }

    #[inline]
    pub fn bit_size(&self) -> u64 {
        self.num(Field::BitSize).unwrap_or(0)
    }

    /// `DW_AT_bit_offset` (the DWARF 2..4 bitfield encoding).
    #[inline]
    pub fn bit_offset(&self) -> u64 {
        self.num(Field::BitOffset).unwrap_or(0)
    }

    #[inline]
    pub fn data_bit_offset(&self) -> Option<u64> {
        self.num(Field::DataBitOffset)
    }

    #[inline]
    pub fn data_member_location(&self) -> Option<u64> {
        self.num(Field::DataMemberLocation)
    }

    /// `DW_AT_upper_bound` + 1 of a subrange (0 when not a constant), if present.
    #[inline]
    pub fn upper_bound(&self) -> Option<u64> {
        self.num(Field::UpperBound)
    }

    /// `DW_AT_count` of a subrange (0 when not a constant), if present.
    #[inline]
    pub fn count(&self) -> Option<u64> {
        self.num(Field::Count)
    }

    /// pahole's `attr_upper_bound`: the number of elements of a subrange. A non-constant
    /// upper bound gives 0 without looking at `DW_AT_count`.
    #[inline]
    pub fn subrange_len(&self) -> u64 {
        match self.upper_bound() {
            Some(n) => n,
            None => self.count().unwrap_or(0),
        }
    }

    /// `DW_AT_const_value` as a number (enumerators).
    #[inline]
    pub fn const_value(&self) -> u64 {
        self.num(Field::ConstValue).unwrap_or(0)
    }

    /// `DW_AT_const_value` as a string (LLVM annotations).
    #[inline]
    pub fn const_str(&self) -> Option<Name<'d>> {
        self.spilled.and_then(|a| a.const_str)
    }

    #[inline]
    pub fn declaration(&self) -> bool {
        self.a.bits & DECLARATION != 0
    }

    #[inline]
    pub fn external(&self) -> bool {
        self.a.bits & EXTERNAL != 0
    }

    /// `DW_AT_artificial` (compiler-made variables).
    #[inline]
    pub fn artificial(&self) -> bool {
        self.a.bits & ARTIFICIAL != 0
    }

    #[inline]
    pub fn location(&self) -> Location {
        match self.a.kinds & 3 {
            LOC_GLOBAL => Location::Global(self.num(Field::Location).unwrap_or(0)),
            LOC_OTHER => Location::Other,
            _ => Location::Unknown,
        }
    }

    /// A formal parameter's location facts.
    #[inline]
    pub fn param_loc(&self) -> ParamLoc {
        ParamLoc {
            has_loc: self.a.bits & HAS_LOC != 0,
            has_const_value: self.a.bits & HAS_CONST_VALUE != 0,
            first_op: match self.a.kinds & (3 << 2) {
                OP_REG => FirstOp::Reg(self.a.reg),
                OP_OTHER => FirstOp::Other,
                _ => FirstOp::None,
            },
        }
    }

    #[inline]
    pub fn language(&self) -> u64 {
        self.num(Field::Language).unwrap_or(0)
    }

    /// All the attributes, as an [`Attrs`] again.
    #[cfg(test)]
    pub fn attrs(&self) -> Attrs<'d> {
        if let Some(a) = self.spilled {
            return *a;
        }
        Attrs {
            name: self.name(),
            type_ref: self.type_ref(),
            abstract_origin: self.abstract_origin(),
            specification: self.specification(),
            byte_size: self.byte_size(),
            encoding: self.encoding(),
            bit_size: self.bit_size(),
            bit_offset: self.bit_offset(),
            data_bit_offset: self.data_bit_offset(),
            data_member_location: self.data_member_location(),
            upper_bound: self.upper_bound(),
            count: self.count(),
            const_value: self.const_value(),
            const_str: self.const_str(),
            declaration: self.declaration(),
            external: self.external(),
            artificial: self.artificial(),
            location: self.location(),
            param_loc: self.param_loc(),
            language: self.language(),
        }
    }
}

#[cfg(test)]
mod tests {
    use gimli::constants as dw;

    use super::*;

    fn specs(attrs: &[(gimli::DwAt, gimli::DwForm)]) -> Vec<gimli::AttributeSpecification> {
        attrs
            .iter()
            .map(|&(name, form)| gimli::AttributeSpecification::new(name, form, None))
            .collect()
    }

    fn node<'a, 'd>(p: &'a Packed<'d>) -> NodeRef<'a, 'd> {
        NodeRef {
            tag: dw::DW_TAG_member,
            a: p,
            spilled: None,
        }
    }

    #[test]
    fn packed_is_small() {
        assert_eq!(std::mem::size_of::<Packed<'static>>(), 48);
        // And a DIE's place in the tree beside it.
        assert_eq!(std::mem::size_of::<crate::loader::Node>(), 16);
    }

    #[test]
    fn recipes_give_each_number_a_slot_or_spill() {
        let member = specs(&[
            (dw::DW_AT_name, dw::DW_FORM_strp),
            (dw::DW_AT_decl_file, dw::DW_FORM_data1),
            (dw::DW_AT_type, dw::DW_FORM_ref4),
            (dw::DW_AT_data_member_location, dw::DW_FORM_data1),
        ]);
        let r = Recipe::new(&member, dw::DW_TAG_member, false);
        assert!(!r.spills());
        assert_eq!(
            r.slots,
            [Some(Field::Type), Some(Field::DataMemberLocation), None]
        );
        assert_eq!(r.index_of(Field::DataMemberLocation), 1);
        assert_eq!(r.index_of(Field::Name), 0);

        // A repeated attribute keeps its one slot.
        let twice = specs(&[
            (dw::DW_AT_type, dw::DW_FORM_ref4),
            (dw::DW_AT_byte_size, dw::DW_FORM_data1),
            (dw::DW_AT_type, dw::DW_FORM_ref4),
        ]);
        let r = Recipe::new(&twice, dw::DW_TAG_pointer_type, false);
        assert_eq!(r.slots, [Some(Field::Type), Some(Field::ByteSize), None]);

        // A DWARF 4 bit field has more numbers than slots.
        let bitfield = specs(&[
            (dw::DW_AT_name, dw::DW_FORM_strp),
            (dw::DW_AT_type, dw::DW_FORM_ref4),
            (dw::DW_AT_byte_size, dw::DW_FORM_data1),
            (dw::DW_AT_bit_size, dw::DW_FORM_data1),
            (dw::DW_AT_bit_offset, dw::DW_FORM_data1),
            (dw::DW_AT_data_member_location, dw::DW_FORM_data1),
        ]);
        let r = Recipe::new(&bitfield, dw::DW_TAG_member, false);
        assert!(r.spills());
        assert_eq!(r.slots, [None; SLOTS]);

        // An LLVM annotation's value is a string.
        let annotation = specs(&[
            (dw::DW_AT_name, dw::DW_FORM_strp),
            (dw::DW_AT_const_value, dw::DW_FORM_strp),
        ]);
        assert!(Recipe::new(&annotation, crate::die::DW_TAG_LLVM_ANNOTATION, false).spills());
        // Any other constant value is a number.
        let r = Recipe::new(&annotation, dw::DW_TAG_enumerator, false);
        assert_eq!(r.slots, [Some(Field::ConstValue), None, None]);

        // A parameter's location is a flag, whether its first operation is read or not.
        let param = specs(&[
            (dw::DW_AT_abstract_origin, dw::DW_FORM_ref4),
            (dw::DW_AT_location, dw::DW_FORM_sec_offset),
        ]);
        for locations in [false, true] {
            let r = Recipe::new(&param, dw::DW_TAG_formal_parameter, locations);
            assert_eq!(r.slots, [Some(Field::AbstractOrigin), None, None]);
        }
        // A variable's is an address.
        let r = Recipe::new(&param, dw::DW_TAG_variable, false);
        assert_eq!(
            r.slots,
            [Some(Field::AbstractOrigin), Some(Field::Location), None]
        );

        // DIEs whose attributes are never looked at keep nothing.
        assert_eq!(
            Recipe::new(&member, dw::DW_TAG_label, false),
            Recipe::default()
        );
    }

    #[test]
    fn read_straight_and_read_whole_agree() {
        let specs = specs(&[
            (dw::DW_AT_type, dw::DW_FORM_ref4),
            (dw::DW_AT_location, dw::DW_FORM_exprloc),
            (dw::DW_AT_external, dw::DW_FORM_flag_present),
        ]);
        let recipe = Recipe::new(&specs, dw::DW_TAG_variable, false);
        let puts = |s: &mut dyn Sink<'static>| {
            let ty = recipe.index_of(Field::Type);
            let loc = recipe.index_of(Field::Location);
            s.put(Field::Type, ty, Put::Ref(Some(0x1234)));
            // A later attribute of the same name wins, in both.
            s.put(Field::Type, ty, Put::Ref(None));
            s.put(
                Field::Location,
                loc,
                Put::Loc(Location::Global(0xffff_8000)),
            );
            s.put(Field::Location, loc, Put::Loc(Location::Other));
            s.put(Field::External, 0, Put::Flag);
        };
        let mut whole = Attrs::default();
        puts(&mut whole);
        let mut straight = Packed::EMPTY;
        straight.start(&recipe);
        puts(&mut straight);
        let mut filled = Packed::EMPTY;
        filled.fill(&whole, &recipe);
        assert_eq!(node(&straight).attrs(), whole);
        assert_eq!(node(&filled).attrs(), whole);
        assert_eq!(whole.type_ref, None);
        assert_eq!(whole.location, Location::Other);
        assert!(whole.external);
    }
}
