//! Reading a DIE's attributes straight from the bytes, for the forms compilers emit, with the
//! same results as reading them through gimli and [`die::record`].
//!
//! Half of vmlinux's 12.6 million loaded DIEs are struct members, each with a name (`strp`
//! or `string`), a type (`ref4`) and an offset (`data1`/`data2`), and the decl file, line
//! and column to skip. Going through gimli's generic attribute reader for each of them cost
//! a third of the DWARF walk. Here each abbreviation gets, once per unit, a list of [`Step`]s
//! that says for each attribute where its value goes ([`Field`], decided by the attribute's
//! name and the DIE's tag as `die::record` decides it) and how its form is decoded
//! ([`Form`]), with runs of fixed-size attributes to skip folded into one step. The values
//! go to a [`Sink`]: straight into the DIE's packed attributes (`packed.rs`, the step naming
//! the value slot), or into a whole [`Attrs`] when the abbreviation spills.
//!
//! The fast path never reports errors: when a value does not fit the plan (bytes run out, a
//! LEB128 overflows, a reference leaves its unit, a location starts with `DW_OP_addrx`), it
//! gives up and the caller reads the DIE again with gimli, which finds and reports the
//! problem exactly as before. An abbreviation with any attribute the fast path does not know
//! (`DW_FORM_indirect`, string forms other than `strp` and `string` for a name, references
//! outside the unit, `data16`, GNU forms, parameter locations when they are looked at) gets
//! no fast plan at all.

use gimli::constants as dw;

use crate::die::{self, Attrs, Location, Name};
use crate::packed::Recipe;

/// How the length of a block is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Len {
    Leb,
    U8,
    U16,
    U32,
}

/// How one attribute's value is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// `data1`..`data8`: an unsigned constant of this many bytes.
    Data(u8),
    Udata,
    Sdata,
    /// `implicit_const`: the value is in the abbreviation.
    Implicit(i64),
    /// `flag`: one byte.
    Flag,
    FlagPresent,
    /// `addr`, of the unit's address size.
    Addr(u8),
    /// `ref1`..`ref8`: a unit-relative reference of this many bytes.
    Ref(u8),
    RefUdata,
    /// `strp`: a `.debug_str` offset of this many bytes.
    Strp(u8),
    /// `string`: the string itself, NUL-terminated.
    String,
    /// `exprloc` and `block*`.
    Block(Len),
    /// Any other form of a known size: no value the encoder uses.
    Fixed(u8),
    /// Any other LEB128 form: no value the encoder uses.
    OtherLeb,
}

/// Where an attribute's value goes, as `die::record` decides for the attribute and the tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Name,
    Type,
    AbstractOrigin,
    Specification,
    ByteSize,
    Encoding,
    BitSize,
    BitOffset,
    DataBitOffset,
    DataMemberLocation,
    UpperBound,
    Count,
    ConstValue,
    /// `DW_AT_const_value` of a formal parameter: noted, and kept as a number.
    ParamConstValue,
    /// `DW_AT_const_value` of an LLVM annotation: a string.
    ConstStr,
    Declaration,
    External,
    Artificial,
    Location,
    /// `DW_AT_location` of a formal parameter when its operations are not looked at.
    ParamHasLoc,
    Language,
}

/// One step of a fast plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Skip this many bytes: a run of fixed-size attributes the encoder does not keep.
    Skip(u32),
    /// Skip one attribute of a variable size.
    SkipLeb,
    SkipString,
    SkipBlock(Len),
    /// Read an attribute into `Field`, which for a packed DIE is the value slot of this
    /// index (`packed::Recipe`).
    Read(Field, Form, u8),
}

/// The field an attribute goes into for DIEs of `tag`, or `None` when it is not kept.
/// `Err(())` when only gimli may read it (formal parameter locations that are looked at).
pub(crate) fn field(
    tag: gimli::DwTag,
    name: gimli::DwAt,
    locations: bool,
) -> Result<Option<Field>, ()> {
    let param = tag == dw::DW_TAG_formal_parameter;
    Ok(Some(match name {
        dw::DW_AT_name => Field::Name,
        dw::DW_AT_type => Field::Type,
        dw::DW_AT_abstract_origin => Field::AbstractOrigin,
        dw::DW_AT_specification => Field::Specification,
        dw::DW_AT_byte_size => Field::ByteSize,
        dw::DW_AT_encoding => Field::Encoding,
        dw::DW_AT_bit_size => Field::BitSize,
        dw::DW_AT_bit_offset => Field::BitOffset,
        dw::DW_AT_data_bit_offset => Field::DataBitOffset,
        dw::DW_AT_data_member_location => Field::DataMemberLocation,
        dw::DW_AT_upper_bound => Field::UpperBound,
        dw::DW_AT_count => Field::Count,
        dw::DW_AT_const_value if param => Field::ParamConstValue,
        dw::DW_AT_const_value if tag == die::DW_TAG_LLVM_ANNOTATION => Field::ConstStr,
        dw::DW_AT_const_value => Field::ConstValue,
        dw::DW_AT_declaration => Field::Declaration,
        dw::DW_AT_external => Field::External,
        dw::DW_AT_artificial => Field::Artificial,
        dw::DW_AT_location if param && locations => return Err(()),
        dw::DW_AT_location if param => Field::ParamHasLoc,
        dw::DW_AT_location => Field::Location,
        dw::DW_AT_language => Field::Language,
        _ => return Ok(None),
    }))
}

/// How a form is decoded, or `None` for forms left to gimli.
fn form(
    spec: &gimli::AttributeSpecification,
    encoding: gimli::Encoding,
    header: &gimli::UnitHeader<crate::input::PlainReader<'_>>,
) -> Option<Form> {
    let fixed = || spec.size(header).and_then(|n| u8::try_from(n).ok());
    Some(match spec.form() {
        dw::DW_FORM_data1 => Form::Data(1),
        dw::DW_FORM_data2 => Form::Data(2),
        dw::DW_FORM_data4 => Form::Data(4),
        dw::DW_FORM_data8 => Form::Data(8),
        dw::DW_FORM_udata => Form::Udata,
        dw::DW_FORM_sdata => Form::Sdata,
        dw::DW_FORM_implicit_const => Form::Implicit(spec.implicit_const_value()?),
        dw::DW_FORM_flag => Form::Flag,
        dw::DW_FORM_flag_present => Form::FlagPresent,
        dw::DW_FORM_addr => match encoding.address_size {
            n @ (1 | 2 | 4 | 8) => Form::Addr(n),
            _ => return None,
        },
        dw::DW_FORM_ref1 => Form::Ref(1),
        dw::DW_FORM_ref2 => Form::Ref(2),
        dw::DW_FORM_ref4 => Form::Ref(4),
        dw::DW_FORM_ref8 => Form::Ref(8),
        dw::DW_FORM_ref_udata => Form::RefUdata,
        dw::DW_FORM_strp => Form::Strp(encoding.format.word_size()),
        dw::DW_FORM_string => Form::String,
        dw::DW_FORM_exprloc | dw::DW_FORM_block => Form::Block(Len::Leb),
        dw::DW_FORM_block1 => Form::Block(Len::U8),
        dw::DW_FORM_block2 => Form::Block(Len::U16),
        dw::DW_FORM_block4 => Form::Block(Len::U32),
        // Forms with values of a known size that the encoder never uses.
        dw::DW_FORM_sec_offset
        | dw::DW_FORM_line_strp
        | dw::DW_FORM_ref_addr
        | dw::DW_FORM_ref_sig8
        | dw::DW_FORM_strx1
        | dw::DW_FORM_strx2
        | dw::DW_FORM_strx3
        | dw::DW_FORM_strx4
        | dw::DW_FORM_addrx1
        | dw::DW_FORM_addrx2
        | dw::DW_FORM_addrx3
        | dw::DW_FORM_addrx4 => Form::Fixed(fixed()?),
        dw::DW_FORM_strx | dw::DW_FORM_addrx | dw::DW_FORM_loclistx | dw::DW_FORM_rnglistx => {
            Form::OtherLeb
        }
        _ => return None,
    })
}

/// Whether `die::record` would read the same thing from `form` into `field` as
/// [`read`] does: names and references only in the forms decoded here.
fn supported(field: Field, form: Form) -> bool {
    match field {
        Field::Name | Field::ConstStr => matches!(form, Form::Strp(_) | Form::String),
        Field::Type | Field::AbstractOrigin | Field::Specification => match form {
            Form::Ref(_) | Form::RefUdata => true,
            // ref_addr and the like: references gimli checks against the section.
            Form::Fixed(_) | Form::OtherLeb => false,
            // Constants and the like are no references: `None`, as `die::reference` says.
            _ => true,
        },
        _ => true,
    }
}

/// Appends to `plan` the fast plan of an abbreviation with attributes `specs` for a DIE of
/// `tag`; returns `false` (with `plan` in any state) if the DIE must be read with gimli.
pub(crate) fn plan_into(
    plan: &mut Vec<Step>,
    specs: &[gimli::AttributeSpecification],
    tag: gimli::DwTag,
    locations: bool,
    header: &gimli::UnitHeader<crate::input::PlainReader<'_>>,
    recipe: &Recipe,
) -> bool {
    let encoding = header.encoding();
    let wants = die::wants_attrs(tag);
    for spec in specs {
        let Some(f) = form(spec, encoding, header) else {
            return false;
        };
        let field = if wants {
            match field(tag, spec.name(), locations) {
                Ok(field) => field,
                Err(()) => return false,
            }
        } else {
            None
        };
        if let Some(field) = field {
            if !supported(field, f) {
                return false;
            }
            plan.push(Step::Read(field, f, recipe.index_of(field)));
            continue;
        }
        let step = match f {
            Form::Data(n) | Form::Addr(n) | Form::Ref(n) | Form::Strp(n) | Form::Fixed(n) => {
                Step::Skip(n as u32)
            }
            Form::Flag => Step::Skip(1),
            Form::Implicit(_) | Form::FlagPresent => Step::Skip(0),
            Form::Udata | Form::Sdata | Form::RefUdata | Form::OtherLeb => Step::SkipLeb,
            Form::String => Step::SkipString,
            Form::Block(len) => Step::SkipBlock(len),
        };
        match (plan.last_mut(), step) {
            (Some(Step::Skip(a)), Step::Skip(b)) => *a += b,
            (_, Step::Skip(0)) => {}
            _ => plan.push(step),
        }
    }
    true
}

/// What the fast path needs of the unit.
pub(crate) struct Ctx<'d> {
    /// `.debug_info`.
    pub info: &'d [u8],
    /// `.debug_str`.
    pub debug_str: &'d [u8],
    /// Offset of the unit header in `.debug_info`.
    pub unit_offset: usize,
    /// Unit-relative offsets a reference may have: the unit's entries.
    pub refs: std::ops::Range<u64>,
    /// The end of the unit in `.debug_info`.
    pub end: usize,
    pub address_size: u8,
}

/// A value as read.
enum Val<'d> {
    /// A constant form (`dwarf_formudata` succeeds).
    Const(u64),
    Flag(bool),
    Addr(u64),
    Str(&'d [u8]),
    /// A unit-relative reference.
    Ref(u64),
    Block(&'d [u8]),
    /// A form whose value the encoder does not use.
    Other,
}

impl Val<'_> {
    /// `die::numeric`.
    #[inline]
    fn numeric(&self) -> u64 {
        match *self {
            Val::Const(x) | Val::Addr(x) => x,
            Val::Flag(f) => f as u64,
            _ => 0,
        }
    }

    /// `die::formudata`.
    #[inline]
    fn formudata(&self) -> Option<u64> {
        match *self {
            Val::Const(x) => Some(x),
            _ => None,
        }
    }

    /// `die::offset_value`.
    #[inline]
    fn offset(&self) -> u64 {
        match *self {
            Val::Const(x) => x,
            Val::Block(b) => die::offset_expr(b),
            _ => 0,
        }
    }
}

#[inline]
fn bytes<'d>(data: &'d [u8], pos: &mut usize, n: usize) -> Option<&'d [u8]> {
    let b = data.get(*pos..pos.checked_add(n)?)?;
    *pos += n;
    Some(b)
}

#[inline]
fn unsigned(data: &[u8], pos: &mut usize, n: u8) -> Option<u64> {
    // One load of the right width for each size: a copy of `n` bytes into a buffer read
    // back as a whole calls memmove and stalls on the reload.
    fn le<const N: usize>(data: &[u8], pos: &mut usize) -> Option<[u8; N]> {
        let b = data.get(*pos..pos.checked_add(N)?)?;
        *pos += N;
        b.try_into().ok()
    }
    Some(match n {
        1 => u64::from(le::<1>(data, pos)?[0]),
        2 => u64::from(u16::from_le_bytes(le(data, pos)?)),
        4 => u64::from(u32::from_le_bytes(le(data, pos)?)),
        8 => u64::from_le_bytes(le(data, pos)?),
        _ => {
            let b = bytes(data, pos, n as usize)?;
            b.iter()
                .rev()
                .fold(0u64, |v, &x| v.checked_shl(8).unwrap_or(0) | u64::from(x))
        }
    })
}

/// An unsigned LEB128 number; `None` when it does not fit 64 bits or is cut off.
#[inline]
pub(crate) fn uleb(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0u32;
    loop {
        let b = *data.get(*pos)?;
        *pos += 1;
        if shift == 63 && b > 1 {
            return None;
        }
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// A signed LEB128 number, as gimli reads it.
#[inline]
fn sleb(data: &[u8], pos: &mut usize) -> Option<i64> {
    let mut v = 0i64;
    let mut shift = 0u32;
    loop {
        let b = *data.get(*pos)?;
        *pos += 1;
        if shift == 63 && b != 0 && b != 0x7f {
            return None;
        }
        v |= i64::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            if shift < 64 && b & 0x40 != 0 {
                v |= !0 << shift;
            }
            return Some(v);
        }
        if shift > 63 {
            return None;
        }
    }
}

#[inline]
fn skip_leb(data: &[u8], pos: &mut usize) -> Option<()> {
    loop {
        let b = *data.get(*pos)?;
        *pos += 1;
        if b & 0x80 == 0 {
            return Some(());
        }
    }
}

#[inline]
fn block_len(data: &[u8], pos: &mut usize, len: Len) -> Option<usize> {
    let n = match len {
        Len::Leb => uleb(data, pos)?,
        Len::U8 => unsigned(data, pos, 1)?,
        Len::U16 => unsigned(data, pos, 2)?,
        Len::U32 => unsigned(data, pos, 4)?,
    };
    usize::try_from(n).ok()
}

/// Reads one value of `form` at `pos`.
#[inline(always)]
fn value<'d>(c: &Ctx<'d>, pos: &mut usize, form: Form) -> Option<Val<'d>> {
    let data = c.info;
    Some(match form {
        Form::Data(n) => Val::Const(unsigned(data, pos, n)?),
        Form::Udata => Val::Const(uleb(data, pos)?),
        Form::Sdata => Val::Const(sleb(data, pos)? as u64),
        Form::Implicit(v) => Val::Const(v as u64),
        Form::Flag => Val::Flag(*bytes(data, pos, 1)?.first()? != 0),
        Form::FlagPresent => Val::Flag(true),
        Form::Addr(n) => Val::Addr(unsigned(data, pos, n)?),
        Form::Ref(n) => Val::Ref(unsigned(data, pos, n)?),
        Form::RefUdata => Val::Ref(uleb(data, pos)?),
        Form::Strp(n) => {
            let off = usize::try_from(unsigned(data, pos, n)?).ok()?;
            match c.debug_str.get(off..) {
                Some(rest) if !rest.is_empty() => Val::Str(rest),
                _ => return None,
            }
        }
        Form::String => {
            let rest = data.get(*pos..c.end)?;
            let len = rest.iter().position(|&b| b == 0)?;
            *pos += len + 1;
            Val::Str(&rest[..len])
        }
        Form::Block(len) => {
            let n = block_len(data, pos, len)?;
            Val::Block(bytes(data, pos, n)?)
        }
        Form::Fixed(n) => {
            bytes(data, pos, n as usize)?;
            Val::Other
        }
        Form::OtherLeb => {
            skip_leb(data, pos)?;
            Val::Other
        }
    })
}

/// A reference as a `.debug_info` offset (`die::reference`); `None` for a reference outside
/// the unit, which gimli then reports.
#[inline]
fn reference(c: &Ctx<'_>, v: &Val<'_>) -> Option<Option<usize>> {
    match *v {
        Val::Ref(off) if c.refs.contains(&off) => Some(Some(c.unit_offset + off as usize)),
        Val::Ref(_) => None,
        _ => Some(None),
    }
}

/// An attribute's value as [`read`] hands it to a [`Sink`], decoded as `die::record` decodes
/// it for its field.
pub(crate) enum Put<'d> {
    Str(Name<'d>),
    Ref(Option<usize>),
    Num(u64),
    /// A flag attribute is present.
    Flag,
    Loc(Location),
}

/// Where [`read`] puts what it reads: the whole [`Attrs`], or a packed DIE.
pub(crate) trait Sink<'d> {
    /// Puts `v`, the value of an attribute going into `field` (`slot` for a packed DIE).
    fn put(&mut self, field: Field, slot: u8, v: Put<'d>);
}

impl<'d> Sink<'d> for Attrs<'d> {
    #[inline]
    fn put(&mut self, field: Field, _slot: u8, v: Put<'d>) {
        let a = self;
        match (field, v) {
            (Field::Name, Put::Str(s)) => a.name = Some(s),
            (Field::ConstStr, Put::Str(s)) => a.const_str = Some(s),
            (Field::Type, Put::Ref(r)) => a.type_ref = r,
            (Field::AbstractOrigin, Put::Ref(r)) => a.abstract_origin = r,
            (Field::Specification, Put::Ref(r)) => a.specification = r,
            (Field::ByteSize, Put::Num(n)) => a.byte_size = n,
            (Field::Encoding, Put::Num(n)) => a.encoding = n,
            (Field::BitSize, Put::Num(n)) => a.bit_size = n,
            (Field::BitOffset, Put::Num(n)) => a.bit_offset = n,
            (Field::DataBitOffset, Put::Num(n)) => a.data_bit_offset = Some(n),
            (Field::DataMemberLocation, Put::Num(n)) => a.data_member_location = Some(n),
            (Field::UpperBound, Put::Num(n)) => a.upper_bound = Some(n),
            (Field::Count, Put::Num(n)) => a.count = Some(n),
            (Field::ConstValue, Put::Num(n)) => a.const_value = n,
            (Field::ParamConstValue, Put::Num(n)) => {
                a.param_loc.has_const_value = true;
                a.const_value = n;
            }
            (Field::Declaration, _) => a.declaration = true,
            (Field::External, _) => a.external = true,
            (Field::Artificial, _) => a.artificial = true,
            (Field::Location, Put::Loc(l)) => a.location = l,
            (Field::ParamHasLoc, _) => a.param_loc.has_loc = true,
            (Field::Language, Put::Num(n)) => a.language = n,
            // `read` gives each field its kind of value.
            _ => {}
        }
    }
}

/// Reads the attributes of one DIE, which start at `pos` in `.debug_info`, into `a` along
/// `plan`; returns where the next DIE starts. `None`: something did not fit, read the DIE
/// with gimli.
#[inline]
pub(crate) fn read<'d, S: Sink<'d>>(
    plan: &[Step],
    c: &Ctx<'d>,
    mut pos: usize,
    a: &mut S,
) -> Option<usize> {
    let data = c.info;
    for &step in plan {
        let (field, form, slot) = match step {
            Step::Skip(n) => {
                pos = pos.checked_add(n as usize)?;
                continue;
            }
            Step::SkipLeb => {
                skip_leb(data, &mut pos)?;
                continue;
            }
            Step::SkipString => {
                let len = data.get(pos..c.end)?.iter().position(|&b| b == 0)?;
                pos += len + 1;
                continue;
            }
            Step::SkipBlock(len) => {
                let n = block_len(data, &mut pos, len)?;
                pos = pos.checked_add(n)?;
                continue;
            }
            Step::Read(field, form, slot) => (field, form, slot),
        };
        let v = value(c, &mut pos, form)?;
        let put = match field {
            Field::Name | Field::ConstStr => match v {
                Val::Str(s) => Put::Str(Name(s)),
                _ => return None,
            },
            Field::Type | Field::AbstractOrigin | Field::Specification => {
                Put::Ref(reference(c, &v)?)
            }
            Field::ByteSize
            | Field::Encoding
            | Field::BitSize
            | Field::BitOffset
            | Field::ConstValue
            | Field::ParamConstValue
            | Field::Language => Put::Num(v.numeric()),
            Field::DataBitOffset | Field::DataMemberLocation => Put::Num(v.offset()),
            Field::UpperBound => Put::Num(v.formudata().map_or(0, |n| n.wrapping_add(1))),
            Field::Count => Put::Num(v.formudata().unwrap_or(0)),
            Field::Declaration | Field::External | Field::Artificial | Field::ParamHasLoc => {
                Put::Flag
            }
            Field::Location => Put::Loc(match v {
                Val::Block(b) => location(b, c.address_size)?,
                _ => Location::Other,
            }),
        };
        a.put(field, slot, put);
    }
    (pos <= c.end).then_some(pos)
}

/// `die::location` on an expression; `None` for `DW_OP_addrx`, which needs `.debug_addr`.
#[inline]
fn location(expr: &[u8], address_size: u8) -> Option<Location> {
    let Some((&op, rest)) = expr.split_first() else {
        return Some(Location::Unknown);
    };
    Some(match gimli::DwOp(op) {
        // gimli reads addresses of these sizes only.
        dw::DW_OP_addr if !matches!(address_size, 1 | 2 | 4 | 8) => return None,
        dw::DW_OP_addr => {
            let mut pos = 0;
            match unsigned(rest, &mut pos, address_size) {
                Some(addr) => Location::Global(addr),
                None => Location::Other,
            }
        }
        dw::DW_OP_addrx | dw::DW_OP_GNU_addr_index => return None,
        _ => Location::Other,
    })
}
