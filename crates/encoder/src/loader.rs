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

use gimli::{constants as dw, Reader};

use crate::die::{self, Attrs};
use crate::error::{DwarfLocation, ErrorKind};

/// No node.
pub const NONE: u32 = u32::MAX;

/// The deepest DIE nesting accepted; deeper input is refused rather than risking the stack.
pub const MAX_DEPTH: usize = 256;

/// One DIE of the unit.
#[derive(Debug, Clone)]
pub struct Node<R: Reader> {
    /// Offset in `.debug_info`.
    pub offset: usize,
    pub tag: gimli::DwTag,
    pub first_child: u32,
    pub next_sibling: u32,
    pub a: Attrs<R>,
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

/// A loaded unit: its DIEs and pahole's tables over them.
pub struct Cu<R: Reader> {
    /// Offset of the unit header in `.debug_info`.
    pub offset: usize,
    pub addr_size: u8,
    pub nodes: Vec<Node<R>>,
    /// The types table; the type at index `i` has pahole's small id `i + 1`.
    pub types: Vec<Entry>,
    /// DIE offset to small id, for references (unspecified types map to 0, void).
    pub type_ids: HashMap<usize, u32>,
    /// DIE offset to node, for abstract origins and specifications (pahole's tags hash).
    pub tags: HashMap<usize, u32>,
    /// Subprogram nodes, in functions-table order.
    pub functions: Vec<u32>,
    /// Variable nodes, in tags-table order.
    pub variables: Vec<u32>,
    /// For a pointer node with type tags: its tags' small ids, outermost first.
    pub pointer_tags: HashMap<u32, Vec<u32>>,
}

impl<R: Reader<Offset = usize>> Cu<R> {
    /// The children of `node`.
    pub fn children(&self, node: u32) -> Children<'_, R> {
        Children {
            nodes: &self.nodes,
            next: self.nodes[node as usize].first_child,
        }
    }

    pub fn node(&self, i: u32) -> &Node<R> {
        &self.nodes[i as usize]
    }

    /// The small id a `DW_AT_type` reference resolves to (0, void, when missing or not a
    /// type of this unit, as pahole leaves it).
    pub fn resolve(&self, r: Option<usize>) -> u32 {
        r.and_then(|o| self.type_ids.get(&o).copied()).unwrap_or(0)
    }

    /// The node at a DIE offset found through pahole's tags hash.
    pub fn tag_at(&self, r: Option<usize>) -> Option<u32> {
        r.and_then(|o| self.tags.get(&o).copied())
    }

    /// The DIE of a types-table small id.
    pub fn type_node(&self, id: u32) -> Option<u32> {
        match self.types.get(id.checked_sub(1)? as usize)? {
            Entry::Die(n) => Some(*n),
            Entry::TypeTag { annot, .. } => Some(*annot),
        }
    }
}

pub struct Children<'a, R: Reader> {
    nodes: &'a [Node<R>],
    next: u32,
}

impl<R: Reader> Iterator for Children<'_, R> {
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
pub enum Loaded<R: Reader> {
    Cu(Cu<R>),
    /// A unit pahole skips: partial and skeleton units, type units, excluded languages.
    Skipped,
}

/// Reads and walks one unit.
pub fn load_unit<R: Reader<Offset = usize>>(
    dwarf: &gimli::Dwarf<R>,
    header: gimli::UnitHeader<R>,
    opts: &crate::EncodeOptions,
) -> Result<Loaded<R>, ErrorKind> {
    let cu_offset = Some(header.offset().0);
    let loc = |die: Option<usize>| DwarfLocation {
        cu: cu_offset.map(|o| o as u64),
        die: die.map(|d| d as u64),
    };
    let root = header.offset().0 + header.header_size();
    let unit = dwarf.unit(header).map_err(|error| ErrorKind::Dwarf {
        loc: loc(Some(root)),
        error,
    })?;
    let locations = opts.optimized_func || opts.consistent_func;
    let mut nodes: Vec<Node<R>> = Vec::new();
    // The open parents, each with its last child so far.
    let mut stack: Vec<(u32, u32)> = Vec::new();
    let mut raw = unit.entries_raw(None).map_err(|error| ErrorKind::Dwarf {
        loc: loc(None),
        error,
    })?;
    while !raw.is_empty() {
        let offset = raw.next_offset().to_unit_section_offset(&unit.header).0;
        let abbrev = raw.read_abbreviation().map_err(|error| ErrorKind::Dwarf {
            loc: loc(Some(offset)),
            error,
        })?;
        let Some(abbrev) = abbrev else {
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
        let mut a = Attrs::default();
        if die::wants_attrs(tag) {
            for spec in abbrev.attributes() {
                let attr = raw
                    .read_attribute(*spec)
                    .map_err(|error| ErrorKind::Dwarf {
                        loc: loc(Some(offset)),
                        error,
                    })?;
                die::record(&mut a, tag, &attr, dwarf, &unit, locations).map_err(|error| {
                    ErrorKind::Dwarf {
                        loc: loc(Some(offset)),
                        error,
                    }
                })?;
            }
        } else {
            raw.skip_attributes(abbrev.attributes())
                .map_err(|error| ErrorKind::Dwarf {
                    loc: loc(Some(offset)),
                    error,
                })?;
        }
        let index = nodes.len() as u32;
        nodes.push(Node {
            offset,
            tag,
            first_child: NONE,
            next_sibling: NONE,
            a,
        });
        if let Some((parent, last)) = stack.last_mut() {
            if *last == NONE {
                nodes[*parent as usize].first_child = index;
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
    let Some(root) = nodes.first() else {
        return Ok(Loaded::Skipped);
    };
    if root.tag != dw::DW_TAG_compile_unit {
        // Partial units (dwz), skeleton units (split DWARF) and type units: pahole skips
        // the first two with a warning and reads type units only through references.
        return Ok(Loaded::Skipped);
    }
    let language = root.a.language;
    if opts.lang_exclude_rust && language == dw::DW_LANG_Rust.0 as u64 {
        return Ok(Loaded::Skipped);
    }
    let mut cu = Cu {
        offset: cu_offset.unwrap_or(0),
        addr_size: unit.header.address_size(),
        nodes,
        types: Vec::new(),
        type_ids: HashMap::new(),
        tags: HashMap::new(),
        functions: Vec::new(),
        variables: Vec::new(),
        pointer_tags: HashMap::new(),
    };
    let mut w = Walker { cu: &mut cu, opts };
    let children: Vec<u32> = w.cu.children(0).collect();
    for child in children {
        w.process_and_add(child)?;
    }
    Ok(Loaded::Cu(cu))
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

struct Walker<'a, R: Reader> {
    cu: &'a mut Cu<R>,
    opts: &'a crate::EncodeOptions,
}

impl<R: Reader<Offset = usize>> Walker<'_, R> {
    fn loc(&self, node: u32) -> DwarfLocation {
        DwarfLocation {
            cu: Some(self.cu.offset as u64),
            die: Some(self.cu.node(node).offset as u64),
        }
    }

    fn children(&self, node: u32) -> Vec<u32> {
        self.cu.children(node).collect()
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
        let n = self.cu.node(node);
        let (tag, offset) = (n.tag, n.offset);
        if tag == dw::DW_TAG_unspecified_type {
            self.cu.type_ids.insert(offset, 0);
        } else if is_tag_type(tag) {
            self.cu.types.push(Entry::Die(node));
            let id = self.cu.types.len() as u32;
            self.cu.type_ids.insert(offset, id);
        } else {
            if tag == dw::DW_TAG_subprogram {
                self.cu.functions.push(node);
            } else if tag == dw::DW_TAG_variable {
                self.cu.variables.push(node);
            }
            self.cu.tags.insert(offset, node);
        }
    }

    fn process_tag(&mut self, node: u32) -> Result<Processed, ErrorKind> {
        let tag = self.cu.node(node).tag;
        match tag {
            dw::DW_TAG_imported_unit => Err(ErrorKind::Unsupported {
                loc: self.loc(node),
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
                for child in self.children(node) {
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
                for child in self.children(node) {
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
        for child in self.children(node) {
            let c = self.cu.node(child);
            if c.tag != crate::die::DW_TAG_LLVM_ANNOTATION {
                continue;
            }
            if !c
                .a
                .name
                .as_ref()
                .is_some_and(|n| reader_eq(n, b"btf_type_tag"))
            {
                continue;
            }
            self.cu.types.push(Entry::TypeTag {
                annot: child,
                pointer: node,
            });
            let id = self.cu.types.len() as u32;
            let offset = self.cu.node(child).offset;
            self.cu.type_ids.insert(offset, id);
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
        for child in self.children(node) {
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
        for child in self.children(node) {
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

/// Whether a reader's bytes equal `s`.
pub fn reader_eq<R: Reader>(r: &R, s: &[u8]) -> bool {
    r.to_slice().is_ok_and(|b| &*b == s)
}

/// A reader's bytes as a string (invalid UTF-8 replaced).
pub fn reader_string<R: Reader>(r: &R) -> String {
    match r.to_slice() {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    }
}
