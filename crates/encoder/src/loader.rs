//! Loading one compile unit the way pahole 1.24's dwarf_loader does for BTF encoding.
//!
//! The unit's DIEs are read once into a flat tree of [`Node`]s (only this unit's; the tree
//! is dropped when the unit is encoded). Then the tree is walked as pahole's
//! `die__process_unit` walks it, which decides three tables:
//!
//! - the **types table**: every DIE that is a "tag type" in pahole's sense (base, pointer,
//!   const, volatile, restrict, atomic, typedef, struct, class, union, enum, array,
//!   subroutine type, pointer to member, references, LLVM type tags), each one BTF type,
//!   in the order pahole adds them: a container's nested types (types declared in a struct,
//!   a function or a subroutine type) come before the container itself;
//! - the **functions table**: every `DW_TAG_subprogram`, after its nested DIEs;
//! - the variables of the **tags table**, in DIE order, top-level and function-local alike.
//!
//! Walking follows pahole's rules: DIEs it does not know (`DW_TAG_GNU_annotation`, DWARF
//! procedures, ...) are skipped with their children; inline expansions and labels are
//! ignored, as pahole ignores them when loading for BTF; types inside lexical blocks count.
//! `DW_TAG_unspecified_type` (emitted by GNU as 2.40 for assembly functions) is no type:
//! references to it become `void`, as in Debian's pahole 1.24 and upstream 1.25.
//! `DW_TAG_imported_unit` (from dwz) makes pahole fail, and so does it here.

use std::collections::HashMap;

use gimli::constants as dw;
use gimli::{Reader, Section};

use crate::die::{self, Attrs};
use crate::error::{DwarfLocation, ErrorKind};
use crate::fastattr;
use crate::input::PlainReader;
use crate::packed::{Packed, Recipe};

/// No node.
pub const NONE: u32 = u32::MAX;

/// The deepest DIE nesting accepted; deeper input is refused rather than risking the stack.
pub const MAX_DEPTH: usize = 256;

/// Units longer than this find nodes by DIE offset with a binary search instead of a table
/// of one entry per byte of the unit.
const MAX_TABLE_UNIT: usize = 64 << 20;

/// One DIE of the unit: its place in the tree, in 16 bytes. Its attributes are kept apart,
/// at the same index (`Cu::attrs`): the walks over the tree then touch a tenth of the memory.
///
/// Nodes are stored in the order of the DIEs, which is the tree's pre-order, so a node's
/// first child, when it has one, is the next node.
#[derive(Debug, Clone, Copy)]
pub struct Node {
    /// Offset from the unit's header (`Cu::offset`); units are under 4 GiB.
    pub offset: u32,
    pub tag: gimli::DwTag,
    /// Set for DIEs in pahole's tags hash (functions, variables, parameters ...).
    pub in_tags: bool,
    /// Whether a child was loaded (it is the next node).
    pub has_child: bool,
    pub next_sibling: u32,
    /// The types-table small id of this DIE (0: none, or an unspecified type).
    pub type_id: u32,
}

/// A DIE with its attributes, as [`Cu::node`] gives it; the attributes are read through its
/// methods (in `packed.rs`).
#[derive(Debug, Clone, Copy)]
pub struct NodeRef<'a, 'd> {
    pub tag: gimli::DwTag,
    pub(crate) a: &'a Packed<'d>,
    /// The attributes kept whole, for a DIE whose abbreviation spills.
    pub(crate) spilled: Option<&'a Attrs<'d>>,
}

/// What a types-table entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// The DIE itself is the type.
    Die(u32),
    /// A `btf_type_tag` annotation of a pointer: its value names a TYPE_TAG whose type is
    /// `next` (a types-table id or, for the innermost, the pointee of `pointer`).
    TypeTag { annot: u32, pointer: u32 },
}

/// Buffers one thread reuses from unit to unit, so that loading a unit allocates (and
/// faults in) almost nothing.
#[derive(Default)]
pub struct Scratch<'d> {
    nodes: Vec<Node>,
    attrs: Vec<Packed<'d>>,
    spill: Vec<Attrs<'d>>,
    /// Unit-relative DIE offset to node index; entries are checked against the node's
    /// offset, so stale ones from earlier units are harmless and never cleared.
    node_at: Vec<u32>,
    types: Vec<Entry>,
    functions: Vec<u32>,
    variables: Vec<u32>,
    stack: Vec<(u32, u32)>,
    plans: Plans,
    /// Read every DIE through gimli (for tests comparing the two ways).
    #[cfg(test)]
    gimli_only: bool,
}

/// How to read the attributes of each abbreviation of a unit, worked out once per
/// abbreviation code instead of once per DIE: straight from the bytes ([`fastattr`]) when
/// the forms allow, else through gimli in runs of attributes to skip (one gimli call for
/// the run) and single attributes to read.
#[derive(Default)]
struct Plans {
    /// By abbreviation code; `made` is false when not worked out yet in this unit.
    by_code: Vec<Plan>,
    /// Plans made for earlier units, kept for their allocations.
    spare: Vec<Plan>,
    /// The plan of an abbreviation whose code is too large to index by.
    other: Plan,
}

#[derive(Default)]
struct Plan {
    made: bool,
    /// The steps through gimli: `(read, first, end)` over the attribute specs.
    steps: Vec<(bool, u16, u16)>,
    /// The steps straight from the bytes, if `fast`.
    fast_steps: Vec<fastattr::Step>,
    fast: bool,
    /// Where the attributes' numbers are kept.
    recipe: Recipe,
}

impl Plan {
    fn make(
        &mut self,
        specs: &[gimli::AttributeSpecification],
        tag: gimli::DwTag,
        locations: bool,
        fast_allowed: bool,
        header: &gimli::UnitHeader<PlainReader<'_>>,
    ) {
        self.steps.clear();
        self.fast_steps.clear();
        plan_into(&mut self.steps, specs, tag);
        self.recipe = Recipe::new(specs, tag, locations);
        self.fast = fast_allowed
            && fastattr::plan_into(
                &mut self.fast_steps,
                specs,
                tag,
                locations,
                header,
                &self.recipe,
            );
        self.made = true;
    }
}

impl Plans {
    fn clear(&mut self) {
        for mut p in self.by_code.drain(..) {
            if p.steps.capacity() > 0 || p.fast_steps.capacity() > 0 {
                p.made = false;
                self.spare.push(p);
            }
        }
    }

    #[inline]
    fn get(
        &mut self,
        abbrev: &gimli::Abbreviation,
        locations: bool,
        fast_allowed: bool,
        header: &gimli::UnitHeader<PlainReader<'_>>,
    ) -> &Plan {
        let code = usize::try_from(abbrev.code()).unwrap_or(usize::MAX);
        let (specs, tag) = (abbrev.attributes(), abbrev.tag());
        if code >= 1 << 16 {
            // Not what compilers emit: no cache.
            self.other.make(specs, tag, locations, fast_allowed, header);
            return &self.other;
        }
        if code >= self.by_code.len() {
            self.by_code.resize_with(code + 1, Plan::default);
        }
        let plan = &mut self.by_code[code];
        if !plan.made {
            if let Some(p) = self.spare.pop() {
                *plan = p;
            }
            plan.make(specs, tag, locations, fast_allowed, header);
        }
        plan
    }
}

/// The gimli steps reading the attributes `specs` of a DIE of `tag`.
fn plan_into(
    plan: &mut Vec<(bool, u16, u16)>,
    specs: &[gimli::AttributeSpecification],
    tag: gimli::DwTag,
) {
    let wants = die::wants_attrs(tag);
    let mut i = 0usize;
    while i < specs.len() && i < u16::MAX as usize {
        if wants && die::records(specs[i].name()) {
            plan.push((true, i as u16, i as u16 + 1));
            i += 1;
            continue;
        }
        let from = i;
        while i < specs.len() && i < u16::MAX as usize && !(wants && die::records(specs[i].name()))
        {
            i += 1;
        }
        plan.push((false, from as u16, i as u16));
    }
}

impl<'d> Scratch<'d> {
    /// Takes back the buffers of a unit that was encoded.
    pub fn recycle(&mut self, cu: Cu<'d>) {
        let Cu {
            mut nodes,
            mut attrs,
            mut spill,
            node_at,
            mut types,
            mut functions,
            mut variables,
            ..
        } = cu;
        nodes.clear();
        attrs.clear();
        spill.clear();
        types.clear();
        functions.clear();
        variables.clear();
        self.nodes = nodes;
        self.attrs = attrs;
        self.spill = spill;
        self.node_at = node_at;
        self.types = types;
        self.functions = functions;
        self.variables = variables;
    }
}

/// A loaded unit: its DIEs and pahole's tables over them.
pub struct Cu<'d> {
    /// Offset of the unit header in `.debug_info`.
    pub offset: usize,
    pub addr_size: u8,
    pub nodes: Vec<Node>,
    /// The attributes of each node.
    attrs: Vec<Packed<'d>>,
    /// The attributes kept whole, of nodes whose abbreviation spills.
    spill: Vec<Attrs<'d>>,
    node_at: Vec<u32>,
    /// Whether `node_at` covers the unit (else nodes are found by binary search).
    table: bool,
    /// The types table; the type at index `i` has pahole's small id `i + 1`.
    pub types: Vec<Entry>,
    /// Subprogram nodes, in functions-table order.
    pub functions: Vec<u32>,
    /// Variable nodes, in tags-table order.
    pub variables: Vec<u32>,
    /// For a pointer node with type tags: its tags' small ids, outermost first.
    pub pointer_tags: HashMap<u32, Vec<u32>>,
}

impl<'d> Cu<'d> {
    /// The children of `node`.
    pub fn children(&self, node: u32) -> Children<'_> {
        Children {
            nodes: &self.nodes,
            next: self.first_child(node),
        }
    }

    /// The first child of `node`, or `NONE`.
    #[inline]
    fn first_child(&self, node: u32) -> u32 {
        if self.nodes[node as usize].has_child {
            node + 1
        } else {
            NONE
        }
    }

    pub fn node(&self, i: u32) -> NodeRef<'_, 'd> {
        let n = &self.nodes[i as usize];
        let a = &self.attrs[i as usize];
        NodeRef {
            tag: n.tag,
            a,
            spilled: a.spill_index().map(|k| &self.spill[k]),
        }
    }

    /// The node of the DIE at `.debug_info` offset `o`, if it is one of the unit's loaded
    /// DIEs.
    #[inline]
    fn node_at(&self, o: usize) -> Option<u32> {
        let rel = o.checked_sub(self.offset)?;
        if self.table {
            let n = *self.node_at.get(rel)?;
            let node = self.nodes.get(n as usize)?;
            (node.offset as usize == rel).then_some(n)
        } else {
            let rel = u32::try_from(rel).ok()?;
            self.nodes
                .binary_search_by_key(&rel, |n| n.offset)
                .ok()
                .map(|i| i as u32)
        }
    }

    /// Where `node` is, for errors.
    pub fn loc(&self, node: u32) -> DwarfLocation {
        let rel = self.nodes[node as usize].offset as usize;
        DwarfLocation::in_unit(self.offset, Some(self.offset + rel))
    }

    /// The small id a `DW_AT_type` reference resolves to (0, void, when missing or not a
    /// type of this unit, as pahole leaves it).
    #[inline]
    pub fn resolve(&self, r: Option<usize>) -> u32 {
        r.and_then(|o| self.node_at(o))
            .map_or(0, |n| self.nodes[n as usize].type_id)
    }

    /// The node at a DIE offset found through pahole's tags hash.
    pub fn tag_at(&self, r: Option<usize>) -> Option<u32> {
        r.and_then(|o| self.node_at(o))
            .filter(|&n| self.nodes[n as usize].in_tags)
    }

    /// The DIE of a types-table small id.
    pub fn type_node(&self, id: u32) -> Option<u32> {
        match self.types.get(id.checked_sub(1)? as usize)? {
            Entry::Die(n) => Some(*n),
            Entry::TypeTag { annot, .. } => Some(*annot),
        }
    }
}

pub struct Children<'a> {
    nodes: &'a [Node],
    next: u32,
}

impl Iterator for Children<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        if self.next == NONE {
            return None;
        }
        let i = self.next;
        self.next = self.nodes[i as usize].next_sibling;
        Some(i)
    }
}

/// What loading decided about the unit.
// Made once per unit and moved once: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Loaded<'d> {
    Cu(Cu<'d>),
    /// A unit pahole skips: partial and skeleton units, type units, excluded languages.
    Skipped,
}

/// DIEs whose whole subtree pahole never looks at when it loads DWARF for BTF: inline
/// expansions, call sites and labels (in functions `die__process_function` ignores them;
/// anywhere else they are tags it does not know, skipped with their children). They are
/// not loaded at all; a subtree is jumped over with `DW_AT_sibling` when the DIE has one.
fn skipped_subtree(tag: gimli::DwTag) -> bool {
    matches!(
        tag,
        dw::DW_TAG_inlined_subroutine
            | dw::DW_TAG_call_site
            | dw::DW_TAG_call_site_parameter
            | dw::DW_TAG_GNU_call_site
            | dw::DW_TAG_GNU_call_site_parameter
            | dw::DW_TAG_label
    )
}

/// Reads and walks one unit, with `scratch`'s buffers (give them back with
/// [`Scratch::recycle`]).
pub fn load_unit<'d>(
    dwarf: &gimli::Dwarf<PlainReader<'d>>,
    header: gimli::UnitHeader<PlainReader<'d>>,
    opts: &crate::EncodeOptions,
    scratch: &mut Scratch<'d>,
) -> Result<Loaded<'d>, ErrorKind> {
    let cu_offset = header.offset().0;
    let loc = |die: Option<usize>| DwarfLocation::in_unit(cu_offset, die);
    let dwarf_err = |die: Option<usize>| loc(die).dwarf_error();
    let root = header.offset().0 + header.header_size();
    let unit_len = header.length_including_self();
    if u32::try_from(unit_len).is_err() {
        return Err(ErrorKind::Unsupported {
            loc: loc(None),
            what: format!("a unit of {unit_len} bytes (at most 4 GiB are read)"),
        });
    }
    let unit = dwarf.unit(header).map_err(dwarf_err(Some(root)))?;
    let locations = opts.optimized_func || opts.consistent_func;
    let mut nodes = std::mem::take(&mut scratch.nodes);
    let mut attrs = std::mem::take(&mut scratch.attrs);
    let mut spill = std::mem::take(&mut scratch.spill);
    let mut node_at = std::mem::take(&mut scratch.node_at);
    let table = unit_len <= MAX_TABLE_UNIT;
    if table && node_at.len() < unit_len {
        let more = unit_len - node_at.len();
        kbtf_btf::mem::reserve_populated(&mut node_at, more);
        node_at.resize(unit_len, NONE);
    }
    // A first guess of the unit's DIE count, so that the vectors rarely grow. Memory this
    // thread has not used yet (its first unit: all of a module's) is backed at once, as it
    // is about to be written.
    let guess = unit_len / 12;
    if nodes.capacity() == 0 {
        kbtf_btf::mem::reserve_populated(&mut nodes, guess);
        kbtf_btf::mem::reserve_populated(&mut attrs, guess);
    }
    nodes.reserve(guess);
    attrs.reserve(guess);
    // The open parents, each with its last child so far.
    let stack = &mut scratch.stack;
    stack.clear();
    let plans = &mut scratch.plans;
    plans.clear();
    let template = Node {
        offset: 0,
        tag: gimli::DwTag(0),
        in_tags: false,
        has_child: false,
        next_sibling: NONE,
        type_id: 0,
    };
    let no_attrs = Attrs::default();
    // The attributes of a DIE not read straight into `attrs`, read whole, then packed.
    let mut full = no_attrs;
    let info = dwarf.debug_info.reader().slice();
    // The fast path reads little-endian numbers only.
    let fast_allowed = dwarf.debug_info.reader().endian() == gimli::RunTimeEndian::Little;
    #[cfg(test)]
    let fast_allowed = fast_allowed && !scratch.gimli_only;
    let header_size = unit.header.header_size();
    let ctx = fastattr::Ctx {
        info,
        debug_str: dwarf.debug_str.reader().slice(),
        unit_offset: cu_offset,
        refs: header_size as u64..unit_len as u64,
        end: cu_offset + unit_len,
        address_size: unit.header.address_size(),
    };
    // gimli's reader at the DIE at `.debug_info` offset `at`, for what the fast path does
    // not do.
    let raw_at = |at: usize| {
        unit.entries_raw(Some(gimli::UnitOffset(at - cu_offset)))
            .map_err(dwarf_err(Some(at)))
    };
    let section_offset =
        |raw: &gimli::EntriesRaw<'_, PlainReader<'d>>| cu_offset + raw.next_offset().0;
    let mut pos = cu_offset + header_size;
    while pos < ctx.end {
        let offset = pos;
        // The abbreviation code, read here; gimli reads it again when anything is wrong,
        // and reports it.
        let mut after = pos;
        let fast = match fastattr::uleb(info, &mut after) {
            Some(0) => Some(None),
            Some(code) if after <= ctx.end => unit.abbreviations.get(code).map(Some),
            _ => None,
        };
        let abbrev = match fast {
            Some(a) => a,
            None => {
                let mut raw = raw_at(offset)?;
                let a = raw.read_abbreviation().map_err(dwarf_err(Some(offset)))?;
                after = section_offset(&raw);
                a
            }
        };
        let Some(abbrev) = abbrev else {
            pos = after;
            // A null entry closes the innermost open parent; the unit ends with its root.
            if stack.pop().is_none() || stack.is_empty() {
                break;
            }
            continue;
        };
        if stack.len() >= MAX_DEPTH {
            return Err(ErrorKind::TooDeep {
                loc: loc(Some(offset)),
                limit: MAX_DEPTH,
            });
        }
        let tag = abbrev.tag();
        if skipped_subtree(tag) && !stack.is_empty() {
            let mut raw = raw_at(offset)?;
            raw.read_abbreviation().map_err(dwarf_err(Some(offset)))?;
            skip_subtree(
                &unit,
                &mut raw,
                abbrev,
                gimli::UnitOffset(offset - cu_offset),
            )
            .map_err(dwarf_err(Some(offset)))?;
            pos = section_offset(&raw);
            continue;
        }
        // Nodes and attributes start as copies of templates made once: built afresh each
        // time they go through the stack, and loading the just-written parts back stalls
        // (store forwarding of mismatched sizes).
        let index = nodes.len() as u32;
        nodes.push(Node {
            // Under the unit's length, checked above to fit.
            offset: (offset - cu_offset) as u32,
            tag,
            ..template
        });
        if table {
            node_at[offset - cu_offset] = index;
        }
        let plan = plans.get(abbrev, locations, fast_allowed, &unit.header);
        let recipe = &plan.recipe;
        let fast = plan.fast && fast_allowed;
        // Most DIEs are read straight from the bytes into their packed attributes.
        attrs.push(Packed::EMPTY);
        let p = &mut attrs[index as usize];
        let straight = if fast && !recipe.spills() {
            p.start(recipe);
            let next = fastattr::read(&plan.fast_steps, &ctx, after, p);
            if next.is_none() {
                *p = Packed::EMPTY;
            }
            next
        } else {
            None
        };
        if let Some(next) = straight {
            pos = next;
        } else {
            // The others are read whole first: through gimli, or from the bytes when their
            // abbreviation spills.
            let a = &mut full;
            *a = no_attrs;
            let read = if fast && recipe.spills() {
                fastattr::read(&plan.fast_steps, &ctx, after, a)
            } else {
                None
            };
            match read {
                Some(next) => pos = next,
                None => {
                    // Through gimli, from the start of the DIE.
                    *a = no_attrs;
                    let mut raw = raw_at(offset)?;
                    raw.read_abbreviation().map_err(dwarf_err(Some(offset)))?;
                    let specs = abbrev.attributes();
                    for &(read, from, to) in &plan.steps {
                        let (from, to) = (from as usize, to as usize);
                        if !read {
                            raw.skip_attributes(&specs[from..to])
                                .map_err(dwarf_err(Some(offset)))?;
                            continue;
                        }
                        // Matched where it lies: moving the attribute out first copies it
                        // with loads wider than the stores that wrote it, which stall.
                        match &raw.read_attribute(specs[from]) {
                            Ok(attr) => die::record(a, tag, attr, dwarf, &unit, locations),
                            Err(e) => Err(*e),
                        }
                        .map_err(dwarf_err(Some(offset)))?;
                    }
                    pos = section_offset(&raw);
                }
            }
            let p = &mut attrs[index as usize];
            if recipe.spills() {
                spill.push(*a);
                p.fill_spilled(a, spill.len() - 1);
            } else {
                p.fill(a, recipe);
            }
            #[cfg(test)]
            {
                // The packed attributes give back what was read (`packed.rs`'s invariant).
                let n = NodeRef {
                    tag,
                    a: &attrs[index as usize],
                    spilled: attrs[index as usize].spill_index().map(|k| &spill[k]),
                };
                assert_eq!(n.attrs(), *a, "DIE at {offset:#x}");
            }
        }
        if let Some((parent, last)) = stack.last_mut() {
            if *last == NONE {
                // Only the parent's subtree is loaded after it: this is the next node.
                debug_assert_eq!(index, *parent + 1);
                nodes[*parent as usize].has_child = true;
            } else {
                nodes[*last as usize].next_sibling = index;
            }
            *last = index;
        } else if index != 0 {
            // A second top-level entry: pahole warns and ignores it.
            break;
        }
        if abbrev.has_children() {
            stack.push((index, NONE));
        } else if stack.is_empty() {
            break;
        }
    }
    let mut cu = Cu {
        offset: cu_offset,
        addr_size: unit.header.address_size(),
        nodes,
        attrs,
        spill,
        node_at,
        table,
        types: std::mem::take(&mut scratch.types),
        functions: std::mem::take(&mut scratch.functions),
        variables: std::mem::take(&mut scratch.variables),
        pointer_tags: HashMap::new(),
    };
    let skipped = match cu.nodes.first() {
        None => true,
        // Partial units (dwz), skeleton units (split DWARF) and type units: pahole skips
        // the first two with a warning and reads type units only through references.
        Some(root) if root.tag != dw::DW_TAG_compile_unit => true,
        Some(_) => opts.lang_exclude_rust && cu.node(0).language() == dw::DW_LANG_Rust.0 as u64,
    };
    if skipped {
        scratch.recycle(cu);
        return Ok(Loaded::Skipped);
    }
    let mut w = Walker { cu: &mut cu, opts };
    let mut child = w.cu.first_child(0);
    while child != NONE {
        let next = w.cu.nodes[child as usize].next_sibling;
        if let Err(e) = w.process_and_add(child) {
            scratch.recycle(cu);
            return Err(e);
        }
        child = next;
    }
    Ok(Loaded::Cu(cu))
}

/// Moves `raw` past the DIE whose abbreviation was just read and its children, without
/// loading them: to its `DW_AT_sibling` when it has a usable one, else entry by entry.
fn skip_subtree<'u, 'd>(
    unit: &'u gimli::Unit<PlainReader<'d>>,
    raw: &mut gimli::EntriesRaw<'u, PlainReader<'d>>,
    abbrev: &gimli::Abbreviation,
    at: gimli::UnitOffset,
) -> gimli::Result<()> {
    if !abbrev.has_children() {
        return raw.skip_attributes(abbrev.attributes());
    }
    let mut sibling = None;
    for spec in abbrev.attributes() {
        if spec.name() == dw::DW_AT_sibling {
            if let gimli::AttributeValue::UnitRef(o) = raw.read_attribute(*spec)?.value() {
                sibling = Some(o);
            }
        } else {
            raw.skip_attributes(std::slice::from_ref(spec))?;
        }
    }
    if let Some(o) = sibling.filter(|o| o.0 > at.0 && o.is_in_bounds(&unit.header)) {
        let mut next = unit.entries_raw(Some(o))?;
        std::mem::swap(raw, &mut next);
        return Ok(());
    }
    let mut depth = 1usize;
    while depth > 0 && !raw.is_empty() {
        match raw.read_abbreviation()? {
            None => depth -= 1,
            Some(a) => {
                raw.skip_attributes(a.attributes())?;
                if a.has_children() {
                    depth += 1;
                }
            }
        }
    }
    Ok(())
}

/// pahole's `tag__is_tag_type`.
fn is_tag_type(tag: gimli::DwTag) -> bool {
    matches!(
        tag,
        dw::DW_TAG_structure_type
            | dw::DW_TAG_class_type
            | dw::DW_TAG_interface_type
            | dw::DW_TAG_union_type
            | dw::DW_TAG_typedef
            | dw::DW_TAG_rvalue_reference_type
            | dw::DW_TAG_enumeration_type
            | dw::DW_TAG_array_type
            | dw::DW_TAG_base_type
            | dw::DW_TAG_const_type
            | dw::DW_TAG_pointer_type
            | dw::DW_TAG_ptr_to_member_type
            | dw::DW_TAG_reference_type
            | dw::DW_TAG_restrict_type
            | dw::DW_TAG_subroutine_type
            | dw::DW_TAG_unspecified_type
            | dw::DW_TAG_volatile_type
            | dw::DW_TAG_atomic_type
    )
}

/// The result of pahole's `die__process_tag` for a DIE.
enum Processed {
    /// A tag that goes into one of the tables.
    Tag,
    /// A tag pahole does not support: skipped with its children.
    Unsupported,
}

struct Walker<'a, 'd> {
    cu: &'a mut Cu<'d>,
    opts: &'a crate::EncodeOptions,
}

impl<'d> Walker<'_, 'd> {
    /// The first child of `node` (then [`Walker::next`] for the others), read by index so
    /// that the walk can add to the tables meanwhile.
    fn first(&self, node: u32) -> u32 {
        self.cu.first_child(node)
    }

    fn next(&self, child: u32) -> u32 {
        self.cu.nodes[child as usize].next_sibling
    }

    /// `die__process_tag` followed by adding the tag to its table (`cu__add_tag`).
    fn process_and_add(&mut self, node: u32) -> Result<(), ErrorKind> {
        if let Processed::Tag = self.process_tag(node)? {
            self.add(node);
        }
        Ok(())
    }

    /// `cu__table_add_tag` and `cu__hash`.
    fn add(&mut self, node: u32) {
        let tag = self.cu.node(node).tag;
        if tag == dw::DW_TAG_unspecified_type {
            self.cu.nodes[node as usize].type_id = 0;
        } else if is_tag_type(tag) {
            self.cu.types.push(Entry::Die(node));
            let id = self.cu.types.len() as u32;
            self.cu.nodes[node as usize].type_id = id;
        } else {
            if tag == dw::DW_TAG_subprogram {
                self.cu.functions.push(node);
            } else if tag == dw::DW_TAG_variable {
                self.cu.variables.push(node);
            }
            self.cu.nodes[node as usize].in_tags = true;
        }
    }

    fn process_tag(&mut self, node: u32) -> Result<Processed, ErrorKind> {
        let tag = self.cu.node(node).tag;
        match tag {
            dw::DW_TAG_imported_unit => Err(ErrorKind::Unsupported {
                loc: self.cu.loc(node),
                what: "DW_TAG_imported_unit (DWARF compressed with dwz)".into(),
            }),
            dw::DW_TAG_array_type
            | dw::DW_TAG_string_type
            | dw::DW_TAG_base_type
            | dw::DW_TAG_const_type
            | dw::DW_TAG_imported_declaration
            | dw::DW_TAG_imported_module
            | dw::DW_TAG_reference_type
            | dw::DW_TAG_restrict_type
            | dw::DW_TAG_volatile_type
            | dw::DW_TAG_atomic_type
            | dw::DW_TAG_unspecified_type
            | dw::DW_TAG_ptr_to_member_type
            | dw::DW_TAG_enumeration_type
            | dw::DW_TAG_rvalue_reference_type
            | dw::DW_TAG_typedef
            | dw::DW_TAG_variable
            | dw::DW_TAG_constant => Ok(Processed::Tag),
            dw::DW_TAG_pointer_type => {
                self.pointer_type_tags(node);
                Ok(Processed::Tag)
            }
            dw::DW_TAG_namespace => {
                let mut next = self.first(node);
                while next != NONE {
                    let child = next;
                    next = self.next(child);
                    self.process_and_add(child)?;
                }
                Ok(Processed::Tag)
            }
            dw::DW_TAG_class_type
            | dw::DW_TAG_interface_type
            | dw::DW_TAG_structure_type
            | dw::DW_TAG_union_type => {
                self.process_class(node)?;
                Ok(Processed::Tag)
            }
            dw::DW_TAG_subprogram => {
                self.process_function(node)?;
                Ok(Processed::Tag)
            }
            dw::DW_TAG_subroutine_type => {
                let mut next = self.first(node);
                while next != NONE {
                    let child = next;
                    next = self.next(child);
                    match self.cu.node(child).tag {
                        dw::DW_TAG_subrange_type | dw::DW_TAG_unspecified_parameters => {}
                        dw::DW_TAG_formal_parameter => self.add(child),
                        _ => self.process_and_add(child)?,
                    }
                }
                Ok(Processed::Tag)
            }
            // Labels are ignored when loading for BTF; everything else is unknown to pahole.
            _ => Ok(Processed::Unsupported),
        }
    }

    /// `die__create_new_pointer_tag`: the `btf_type_tag` annotations of a pointer become
    /// types-table entries before the pointer.
    fn pointer_type_tags(&mut self, node: u32) {
        if self.opts.skip_type_tag {
            return;
        }
        let mut ids = Vec::new();
        let mut next = self.first(node);
        while next != NONE {
            let child = next;
            next = self.next(child);
            let c = self.cu.node(child);
            if c.tag != crate::die::DW_TAG_LLVM_ANNOTATION {
                continue;
            }
            if !c.name().is_some_and(|n| n.is(b"btf_type_tag")) {
                continue;
            }
            self.cu.types.push(Entry::TypeTag {
                annot: child,
                pointer: node,
            });
            let id = self.cu.types.len() as u32;
            self.cu.nodes[child as usize].type_id = id;
            ids.push(id);
        }
        if !ids.is_empty() {
            // pahole prepends each tag to the pointer's list: the last one is outermost.
            ids.reverse();
            self.cu.pointer_tags.insert(node, ids);
        }
    }

    /// `die__process_class`.
    fn process_class(&mut self, node: u32) -> Result<(), ErrorKind> {
        let mut next = self.first(node);
        while next != NONE {
            let child = next;
            next = self.next(child);
            match self.cu.node(child).tag {
                dw::DW_TAG_GNU_template_parameter_pack
                | dw::DW_TAG_GNU_formal_parameter_pack
                | dw::DW_TAG_GNU_template_template_param
                | dw::DW_TAG_subrange_type
                | dw::DW_TAG_variant_part
                | dw::DW_TAG_template_type_parameter
                | dw::DW_TAG_template_value_parameter
                | dw::DW_TAG_inheritance
                | dw::DW_TAG_member
                | crate::die::DW_TAG_LLVM_ANNOTATION => {}
                _ => self.process_and_add(child)?,
            }
        }
        Ok(())
    }

    /// `die__process_function` for a subprogram or a lexical block inside one.
    fn process_function(&mut self, node: u32) -> Result<(), ErrorKind> {
        let mut next = self.first(node);
        while next != NONE {
            let child = next;
            next = self.next(child);
            match self.cu.node(child).tag {
                dw::DW_TAG_call_site
                | dw::DW_TAG_call_site_parameter
                | dw::DW_TAG_GNU_call_site
                | dw::DW_TAG_GNU_call_site_parameter
                | dw::DW_TAG_dwarf_procedure
                | dw::DW_TAG_GNU_template_parameter_pack
                | dw::DW_TAG_GNU_formal_parameter_pack
                | dw::DW_TAG_GNU_template_template_param
                | dw::DW_TAG_template_type_parameter
                | dw::DW_TAG_template_value_parameter
                | dw::DW_TAG_unspecified_parameters
                | dw::DW_TAG_label
                | dw::DW_TAG_inlined_subroutine
                | crate::die::DW_TAG_LLVM_ANNOTATION => {}
                dw::DW_TAG_formal_parameter | dw::DW_TAG_variable => self.add(child),
                dw::DW_TAG_lexical_block => self.process_function(child)?,
                _ => self.process_and_add(child)?,
            }
        }
        Ok(())
    }
}

/// Bytes as text, invalid UTF-8 replaced.
pub fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    /// Everything loading a unit decided, as text, or the error.
    fn load_all(path: &Path, data: &[u8], opts: &crate::EncodeOptions, gimli_only: bool) -> String {
        let input = match crate::input::Input::load(path, data, Default::default()) {
            Ok(i) => i,
            Err(e) => return format!("input: {e:?}"),
        };
        let dwarf = input.plain_dwarf();
        let mut units = dwarf.units();
        let mut scratch = Scratch {
            gimli_only,
            ..Scratch::default()
        };
        let mut out = String::new();
        loop {
            let h = match units.next() {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => {
                    out += &format!("units: {}\n", without_addresses(&format!("{e:?}")));
                    break;
                }
            };
            match load_unit(&dwarf, h, opts, &mut scratch) {
                Ok(Loaded::Cu(cu)) => {
                    for (i, n) in cu.nodes.iter().enumerate() {
                        // Names are views that run on past their NUL: compared as strings.
                        let mut a = cu.node(i as u32).attrs();
                        let (name, const_str) = (a.name.take(), a.const_str.take());
                        out += &format!(
                            "{n:?} {a:?} {:?} {:?}\n",
                            name.map(|s| s.bytes()),
                            const_str.map(|s| s.bytes())
                        );
                    }
                    out += &format!("spilled {}\n", cu.spill.len());
                    // A HashMap prints in an order of its own: sorted here.
                    let tags: std::collections::BTreeMap<_, _> = cu.pointer_tags.iter().collect();
                    out += &format!(
                        "{:?}\n{:?}\n{:?}\n{tags:?}\n",
                        cu.types, cu.functions, cu.variables
                    );
                    scratch.recycle(cu);
                }
                Ok(Loaded::Skipped) => out += "skipped\n",
                Err(e) => out += &format!("error: {}\n", without_addresses(&format!("{e:?}"))),
            }
        }
        out
    }

    /// `s` without the addresses in gimli's `ReaderOffsetId`s, which differ between two
    /// loads of the same bytes.
    fn without_addresses(s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find("ReaderOffsetId(") {
            let (head, tail) = rest.split_at(i + "ReaderOffsetId(".len());
            out += head;
            rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
        }
        out + rest
    }

    /// The objects of the fixtures; with `modules`, the real kernel modules too.
    fn fixtures(modules: bool) -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
        let mut v = Vec::new();
        let dirs: &[&str] = if modules {
            &["dwarf", "encoder", "c", "modules-6.1-dbg", "oot"]
        } else {
            &["dwarf", "encoder", "c"]
        };
        for dir in dirs {
            let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if matches!(p.extension().and_then(|x| x.to_str()), Some("o" | "ko")) {
                    v.push(p);
                }
            }
        }
        v.sort();
        v
    }

    fn opts_both() -> [crate::EncodeOptions; 2] {
        let locations = crate::EncodeOptions {
            optimized_func: true,
            consistent_func: true,
            ..Default::default()
        };
        [crate::EncodeOptions::default(), locations]
    }

    /// The bytes straight and through gimli load the same DIEs with the same attributes.
    #[test]
    fn fast_attributes_read_as_gimli_does() {
        let files = fixtures(true);
        assert!(
            files.iter().any(|f| f.ends_with("dummy.ko")),
            "no dummy.ko: {files:?}"
        );
        assert!(files.len() >= 20, "fixtures not found: {files:?}");
        let (mut spilled, mut packed) = (0, 0);
        for path in &files {
            let data = std::fs::read(path).unwrap();
            for opts in &opts_both() {
                let fast = load_all(path, &data, opts, false);
                let slow = load_all(path, &data, opts, true);
                assert!(
                    fast.contains("offset"),
                    "{}: nothing loaded",
                    path.display()
                );
                assert!(fast == slow, "{}: the two ways differ", path.display());
                for l in fast.lines() {
                    match l.strip_prefix("spilled ") {
                        Some(n) => spilled += n.parse::<usize>().unwrap(),
                        None => packed += l.starts_with("Node") as usize,
                    }
                }
            }
        }
        // Both ways of keeping a DIE's attributes were taken (`packed.rs`).
        assert!(
            spilled > 0 && packed > spilled,
            "{spilled} of {packed} DIEs spilled"
        );
    }

    /// With `.debug_info` damaged, both ways still agree: the same DIEs, or the same error.
    /// (The small objects only: a damaged unit length makes a module's units slow to load.)
    #[test]
    fn fast_attributes_fail_as_gimli_does() {
        use object::{Object, ObjectSection};
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut differ = Vec::new();
        let mut errors = 0;
        for path in fixtures(false) {
            let data = std::fs::read(&path).unwrap();
            let range = {
                let obj = object::File::parse(&*data).unwrap();
                match obj.section_by_name(".debug_info") {
                    Some(s)
                        if s.compressed_file_range().map(|r| r.format)
                            == Ok(object::CompressionFormat::None) =>
                    {
                        s.file_range()
                    }
                    _ => None,
                }
            };
            let Some((start, len)) = range else { continue };
            for _ in 0..150 {
                let mut bad = data.clone();
                for _ in 0..1 + next() % 4 {
                    let at = start + next() % len;
                    bad[at as usize] = next() as u8;
                }
                let opts = &opts_both()[(next() % 2) as usize];
                let fast = load_all(&path, &bad, opts, false);
                let slow = load_all(&path, &bad, opts, true);
                errors += fast.contains("error:") as usize;
                if fast != slow {
                    differ.push(path.display().to_string());
                }
            }
        }
        assert!(
            differ.is_empty(),
            "the two ways differ on damaged input: {differ:?}"
        );
        assert!(
            errors > 200,
            "too few damaged inputs gave errors ({errors})"
        );
    }
}
