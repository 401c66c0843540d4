//! The attributes of one DIE that the encoder uses, read once with the same form rules as
//! pahole's dwarf_loader (which reads them through elfutils' libdw).
//!
//! pahole reads numbers with `attr_numeric`: the constant forms (`data1`..`data8`, `sdata`,
//! `udata`, `implicit_const`) through `dwarf_formudata`, which zero-extends the fixed-size
//! forms and gives `sdata` as its two's complement; flags as 0/1; `addr` as the address; any
//! other form as 0. Member offsets (`DW_AT_data_member_location`, `DW_AT_data_bit_offset`)
//! are read as constants or as a `DW_OP_plus_uconst`/`DW_OP_constu` expression. Flags such as
//! `DW_AT_declaration` and `DW_AT_external` count by presence.

use gimli::{constants as dw, AttributeValue, Reader, Section};

use crate::input::PlainReader;

/// `DW_TAG_LLVM_annotation` (clang's `btf_type_tag` and `btf_decl_tag`), which gimli does
/// not name.
pub const DW_TAG_LLVM_ANNOTATION: gimli::DwTag = gimli::DwTag(0x6000);

/// Where a variable lives, as pahole's `dwarf__location` classifies the first operation of
/// its `DW_AT_location`. Only a global address matters to the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Location {
    /// No location expression was looked at (declarations), or an empty or unknown one.
    #[default]
    Unknown,
    /// `DW_OP_addr` or `DW_OP_addrx` first: a static address.
    Global(u64),
    /// Anything else (registers, frame offsets, location lists).
    Other,
}

/// The first operation of a parameter's first location expression, as pahole 1.25's
/// `parameter__new` looks at it (through elfutils' `dwarf_getlocations` at offset 0: the
/// expression itself, or the first entry of a location list, base address entries skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FirstOp {
    /// No expression: the attribute is missing or was not read, the list is empty, or the
    /// expression has no operation.
    #[default]
    None,
    /// `DW_OP_reg0` .. `DW_OP_reg31`: the opcode (0x50 .. 0x6f).
    Reg(u8),
    /// Any other operation (`DW_OP_fbreg`, `DW_OP_breg*`, `DW_OP_entry_value`, `DW_OP_regx`,
    /// ...).
    Other,
}

/// What a `DW_TAG_formal_parameter` says about where its value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParamLoc {
    /// `DW_AT_location` is present (whatever its form).
    pub has_loc: bool,
    /// `DW_AT_const_value` is present.
    pub has_const_value: bool,
    /// The first operation of the first location expression (read only when the encoder
    /// wants parameter locations).
    pub first_op: FirstOp,
}

/// A string of the input, as a view that starts at the string and may run past its NUL
/// (a `DW_FORM_strp` name is the rest of `.debug_str` from its offset, so that reading a
/// DIE never scans for the end of its name). [`Name::bytes`] cuts it at the NUL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Name<'d>(pub &'d [u8]);

impl<'d> Name<'d> {
    /// The string, without its NUL.
    #[inline]
    pub fn bytes(self) -> &'d [u8] {
        let s = self.0;
        &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())]
    }

    /// Whether the string is `s`.
    #[inline]
    pub fn is(self, s: &[u8]) -> bool {
        self.0.starts_with(s) && !matches!(self.0.get(s.len()), Some(&b) if b != 0)
    }
}

/// The interesting attributes of a DIE, as read. Missing numbers are 0, as with pahole. A
/// loaded unit keeps them packed (`packed.rs`) and gives them through `NodeRef`'s methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attrs<'d> {
    /// `DW_AT_name`, borrowed from the input (`.debug_str` or `.debug_info`).
    pub name: Option<Name<'d>>,
    /// `DW_AT_type`, as a `.debug_info` offset.
    pub type_ref: Option<usize>,
    pub abstract_origin: Option<usize>,
    pub specification: Option<usize>,
    pub byte_size: u64,
    pub encoding: u64,
    pub bit_size: u64,
    /// `DW_AT_bit_offset` (the DWARF 2..4 bitfield encoding).
    pub bit_offset: u64,
    pub data_bit_offset: Option<u64>,
    pub data_member_location: Option<u64>,
    /// `DW_AT_upper_bound` + 1 of a subrange (0 when not a constant), if present.
    pub upper_bound: Option<u64>,
    /// `DW_AT_count` of a subrange (0 when not a constant), if present.
    pub count: Option<u64>,
    /// `DW_AT_const_value` as a number (enumerators).
    pub const_value: u64,
    /// `DW_AT_const_value` as a string (LLVM annotations).
    pub const_str: Option<Name<'d>>,
    pub declaration: bool,
    pub external: bool,
    /// `DW_AT_artificial` (compiler-made variables).
    pub artificial: bool,
    pub location: Location,
    /// A formal parameter's location facts.
    pub param_loc: ParamLoc,
    pub language: u64,
}

impl Default for Attrs<'_> {
    fn default() -> Self {
        Attrs {
            name: None,
            type_ref: None,
            abstract_origin: None,
            specification: None,
            byte_size: 0,
            encoding: 0,
            bit_size: 0,
            bit_offset: 0,
            data_bit_offset: None,
            data_member_location: None,
            upper_bound: None,
            count: None,
            const_value: 0,
            const_str: None,
            declaration: false,
            external: false,
            artificial: false,
            location: Location::Unknown,
            param_loc: ParamLoc::default(),
            language: 0,
        }
    }
}

/// pahole's `attr_numeric` on one attribute value.
pub fn numeric<'d>(v: &AttributeValue<PlainReader<'d>>) -> u64 {
    match *v {
        AttributeValue::Addr(a) => a,
        AttributeValue::Data1(x) => x as u64,
        AttributeValue::Data2(x) => x as u64,
        AttributeValue::Data4(x) => x as u64,
        AttributeValue::Data8(x) => x,
        AttributeValue::Sdata(x) => x as u64,
        AttributeValue::Udata(x) => x,
        AttributeValue::Flag(f) => f as u64,
        _ => 0,
    }
}

/// `dwarf_formudata` succeeding: the constant forms only.
fn formudata<'d>(v: &AttributeValue<PlainReader<'d>>) -> Option<u64> {
    match *v {
        AttributeValue::Data1(x) => Some(x as u64),
        AttributeValue::Data2(x) => Some(x as u64),
        AttributeValue::Data4(x) => Some(x as u64),
        AttributeValue::Data8(x) => Some(x),
        AttributeValue::Sdata(x) => Some(x as u64),
        AttributeValue::Udata(x) => Some(x),
        _ => None,
    }
}

/// pahole's `__attr_offset`: a constant, or a `DW_OP_plus_uconst`/`DW_OP_constu` expression
/// (any other expression gives `u64::MAX`, as pahole's `dwarf_expr`); other forms give 0.
fn offset_value<'d>(v: &AttributeValue<PlainReader<'d>>) -> u64 {
    if let Some(x) = formudata(v) {
        return x;
    }
    match v {
        AttributeValue::Exprloc(e) => offset_expr(e.0.slice()),
        AttributeValue::Block(b) => offset_expr(b.slice()),
        _ => 0,
    }
}

/// [`offset_value`] of an expression.
pub(crate) fn offset_expr(block: &[u8]) -> u64 {
    match block.split_first() {
        Some((&op, rest)) if op == dw::DW_OP_plus_uconst.0 || op == dw::DW_OP_constu.0 => {
            crate::fastattr::uleb(rest, &mut 0).unwrap_or(u64::MAX)
        }
        _ => u64::MAX,
    }
}

/// A reference attribute as a `.debug_info` offset; references into type units or the
/// supplementary file are not followed (pahole does not find them in the CU either). A
/// reference outside its unit (`ref1`..`ref_udata`) or outside `.debug_info` (`ref_addr`)
/// is damaged input: an error, where pahole would silently read it as `void`.
fn reference<'d>(
    v: &AttributeValue<PlainReader<'d>>,
    dwarf: &gimli::Dwarf<PlainReader<'d>>,
    unit: &gimli::Unit<PlainReader<'d>>,
) -> gimli::Result<Option<usize>> {
    match *v {
        AttributeValue::UnitRef(off) => {
            if !off.is_in_bounds(&unit.header) {
                return Err(gimli::Error::OffsetOutOfBounds(off.0 as u64));
            }
            Ok(Some(off.to_unit_section_offset(&unit.header).0))
        }
        AttributeValue::DebugInfoRef(off) => {
            if off.0 >= dwarf.debug_info.reader().len() {
                return Err(gimli::Error::OffsetOutOfBounds(off.0 as u64));
            }
            Ok(Some(off.0))
        }
        _ => Ok(None),
    }
}

/// Which attributes a tag needs: everything for most, nothing for the DIEs pahole ignores
/// when it loads DWARF for BTF (call sites, labels, inline expansions).
pub fn wants_attrs(tag: gimli::DwTag) -> bool {
    !matches!(
        tag,
        dw::DW_TAG_call_site
            | dw::DW_TAG_call_site_parameter
            | dw::DW_TAG_GNU_call_site
            | dw::DW_TAG_GNU_call_site_parameter
            | dw::DW_TAG_label
            | dw::DW_TAG_inlined_subroutine
            | dw::DW_TAG_lexical_block
    )
}

/// Whether [`record`] keeps anything of an attribute of this name (the others are skipped
/// without decoding).
#[inline]
pub fn records(name: gimli::DwAt) -> bool {
    matches!(
        name,
        dw::DW_AT_name
            | dw::DW_AT_type
            | dw::DW_AT_abstract_origin
            | dw::DW_AT_specification
            | dw::DW_AT_byte_size
            | dw::DW_AT_encoding
            | dw::DW_AT_bit_size
            | dw::DW_AT_bit_offset
            | dw::DW_AT_data_bit_offset
            | dw::DW_AT_data_member_location
            | dw::DW_AT_upper_bound
            | dw::DW_AT_count
            | dw::DW_AT_const_value
            | dw::DW_AT_declaration
            | dw::DW_AT_external
            | dw::DW_AT_artificial
            | dw::DW_AT_location
            | dw::DW_AT_language
    )
}

/// Records one attribute into `a`. `locations` asks for the first location operation of
/// formal parameters (pahole 1.25's register checks).
pub fn record<'d>(
    a: &mut Attrs<'d>,
    tag: gimli::DwTag,
    attr: &gimli::Attribute<PlainReader<'d>>,
    dwarf: &gimli::Dwarf<PlainReader<'d>>,
    unit: &gimli::Unit<PlainReader<'d>>,
    locations: bool,
) -> gimli::Result<()> {
    let v = attr.raw_value();
    if tag == dw::DW_TAG_formal_parameter {
        match attr.name() {
            dw::DW_AT_location => {
                a.param_loc.has_loc = true;
                if locations {
                    a.param_loc.first_op = first_location_op(attr, dwarf, unit)?;
                }
                return Ok(());
            }
            dw::DW_AT_const_value => a.param_loc.has_const_value = true,
            _ => {}
        }
    }
    match attr.name() {
        dw::DW_AT_name => a.name = Some(string(dwarf, unit, &v)?),
        dw::DW_AT_type => a.type_ref = reference(&v, dwarf, unit)?,
        dw::DW_AT_abstract_origin => a.abstract_origin = reference(&v, dwarf, unit)?,
        dw::DW_AT_specification => a.specification = reference(&v, dwarf, unit)?,
        dw::DW_AT_byte_size => a.byte_size = numeric(&v),
        dw::DW_AT_encoding => a.encoding = numeric(&v),
        dw::DW_AT_bit_size => a.bit_size = numeric(&v),
        dw::DW_AT_bit_offset => a.bit_offset = numeric(&v),
        dw::DW_AT_data_bit_offset => a.data_bit_offset = Some(offset_value(&v)),
        dw::DW_AT_data_member_location => a.data_member_location = Some(offset_value(&v)),
        dw::DW_AT_upper_bound => {
            a.upper_bound = Some(formudata(&v).map_or(0, |n| n.wrapping_add(1)))
        }
        dw::DW_AT_count => a.count = Some(formudata(&v).unwrap_or(0)),
        dw::DW_AT_const_value => {
            if tag == crate::die::DW_TAG_LLVM_ANNOTATION {
                a.const_str = Some(string(dwarf, unit, &v)?);
            } else {
                a.const_value = numeric(&v);
            }
        }
        dw::DW_AT_declaration => a.declaration = true,
        dw::DW_AT_external => a.external = true,
        dw::DW_AT_artificial => a.artificial = true,
        dw::DW_AT_location => a.location = location(&v, dwarf, unit),
        dw::DW_AT_language => a.language = numeric(&v),
        _ => {}
    }
    Ok(())
}

/// A string attribute: `.debug_str` references as views into the section (no scan for the
/// NUL), anything else as gimli reads it. Taken by reference: moving the value just read
/// copies it with loads wider than the stores that wrote it, which stall.
fn string<'d>(
    dwarf: &gimli::Dwarf<PlainReader<'d>>,
    unit: &gimli::Unit<PlainReader<'d>>,
    v: &AttributeValue<PlainReader<'d>>,
) -> gimli::Result<Name<'d>> {
    let off = match *v {
        AttributeValue::DebugStrRef(off) => off,
        AttributeValue::DebugStrOffsetsIndex(index) => dwarf.string_offset(unit, index)?,
        _ => return Ok(Name(dwarf.attr_string(unit, *v)?.slice())),
    };
    let s = dwarf.debug_str.reader().slice();
    match s.get(off.0..) {
        Some(rest) if !rest.is_empty() => Ok(Name(rest)),
        _ => Err(gimli::Error::OffsetOutOfBounds(off.0 as u64)),
    }
}

/// pahole's `dwarf__location` (only the global case is kept).
fn location<'d>(
    v: &AttributeValue<PlainReader<'d>>,
    dwarf: &gimli::Dwarf<PlainReader<'d>>,
    unit: &gimli::Unit<PlainReader<'d>>,
) -> Location {
    let expr = match v {
        AttributeValue::Exprloc(e) => *e,
        AttributeValue::Block(b) => gimli::Expression(*b),
        _ => return Location::Other,
    };
    if expr.0.is_empty() {
        return Location::Unknown;
    }
    let mut r = expr.0;
    match gimli::Operation::parse(&mut r, unit.encoding()) {
        Ok(gimli::Operation::Address { address }) => Location::Global(address),
        Ok(gimli::Operation::AddressIndex { index }) => match dwarf.address(unit, index) {
            Ok(addr) => Location::Global(addr),
            Err(_) => Location::Other,
        },
        _ => Location::Other,
    }
}

/// The first operation of the first expression of a location attribute (an expression or a
/// location list), as `dwarf_getlocations(attr, 0, ...)` returns it to pahole. Base address
/// entries of a list are skipped; the first entry with an expression counts, whatever its
/// address range. A list that cannot be read (a bad offset or index, an entry kind gimli does
/// not know) gives [`FirstOp::None`], as a failing `dwarf_getlocations` does in pahole: the
/// parameter then only counts as optimized if it has a constant value.
fn first_location_op<'d>(
    attr: &gimli::Attribute<PlainReader<'d>>,
    dwarf: &gimli::Dwarf<PlainReader<'d>>,
    unit: &gimli::Unit<PlainReader<'d>>,
) -> gimli::Result<FirstOp> {
    Ok(first_location_op_inner(attr, dwarf, unit).unwrap_or(FirstOp::None))
}

fn first_location_op_inner<'d>(
    attr: &gimli::Attribute<PlainReader<'d>>,
    dwarf: &gimli::Dwarf<PlainReader<'d>>,
    unit: &gimli::Unit<PlainReader<'d>>,
) -> gimli::Result<FirstOp> {
    let expr = match attr.value() {
        AttributeValue::Exprloc(e) => e.0,
        AttributeValue::Block(b) => b,
        AttributeValue::LocationListsRef(offset) => {
            match first_list_expression(dwarf, unit, offset)? {
                Some(e) => e,
                None => return Ok(FirstOp::None),
            }
        }
        AttributeValue::DebugLocListsIndex(index) => {
            let offset = dwarf.locations_offset(unit, index)?;
            match first_list_expression(dwarf, unit, offset)? {
                Some(e) => e,
                None => return Ok(FirstOp::None),
            }
        }
        _ => return Ok(FirstOp::None),
    };
    let mut r = expr;
    Ok(match r.read_u8() {
        Err(_) => FirstOp::None,
        Ok(op @ 0x50..=0x6f) => FirstOp::Reg(op),
        Ok(_) => FirstOp::Other,
    })
}

/// The expression of the first entry of the location list at `offset`.
fn first_list_expression<'d>(
    dwarf: &gimli::Dwarf<PlainReader<'d>>,
    unit: &gimli::Unit<PlainReader<'d>>,
    offset: gimli::LocationListsOffset<usize>,
) -> gimli::Result<Option<PlainReader<'d>>> {
    let mut raw = dwarf.locations.raw_locations(offset, unit.encoding())?;
    while let Some(entry) = raw.next()? {
        use gimli::RawLocListEntry as E;
        let data = match entry {
            E::BaseAddress { .. } | E::BaseAddressx { .. } => continue,
            E::AddressOrOffsetPair { data, .. }
            | E::OffsetPair { data, .. }
            | E::StartEnd { data, .. }
            | E::StartLength { data, .. }
            | E::StartxEndx { data, .. }
            | E::StartxLength { data, .. }
            | E::DefaultLocation { data } => data,
        };
        return Ok(Some(data.0));
    }
    Ok(None)
}
