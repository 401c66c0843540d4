//! C names for BTF types. Distinct types may share a name in BTF (two CUs each defining
//! their own `struct foo`), which C does not allow, so the second and later types to be
//! named get a `___N` suffix, in the order the dump first names them. Struct, union and enum
//! tags share one namespace; typedef names and enumerator names share another.

use std::collections::HashMap;
use std::io::Write;

use crate::btf::Btf;
use crate::types::*;

/// A name as written: the BTF string, plus `___N` when `dup` is above 1.
#[derive(Debug, Clone, Copy)]
pub(super) struct Name<'a> {
    pub base: &'a [u8],
    pub dup: usize,
}

impl Name<'_> {
    pub fn is_empty(&self) -> bool {
        self.base.is_empty()
    }

    pub fn write_to(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(self.base);
        if self.dup > 1 {
            let _ = write!(buf, "___{}", self.dup);
        }
    }
}

/// The two C namespaces a dump fills.
#[derive(Debug, Clone, Copy)]
pub(super) enum Namespace {
    /// struct, union and enum tags.
    Tags,
    /// typedef names and enumerators.
    Idents,
}

pub(super) struct Names<'a> {
    btf: &'a Btf,
    /// The name each type got when first named, indexed by type id.
    resolved: Vec<Option<Name<'a>>>,
    tags: HashMap<&'a [u8], usize>,
    idents: HashMap<&'a [u8], usize>,
}

impl<'a> Names<'a> {
    pub fn new(btf: &'a Btf) -> Names<'a> {
        Names {
            btf,
            resolved: vec![None; btf.end_id() as usize],
            tags: HashMap::new(),
            idents: HashMap::new(),
        }
    }

    /// The string at `off`; empty when the offset is outside the string sections.
    pub fn raw(&self, off: u32) -> &'a [u8] {
        self.btf.str_bytes(off).unwrap_or_default()
    }

    /// Counts one more use of `name` in `ns`, returning how many there have been.
    fn count(&mut self, ns: Namespace, name: &'a [u8]) -> usize {
        let map = match ns {
            Namespace::Tags => &mut self.tags,
            Namespace::Idents => &mut self.idents,
        };
        let n = map.entry(name).or_insert(0);
        *n += 1;
        *n
    }

    /// The C name of type `id` in `ns`, fixed the first time it is asked for. Anonymous
    /// types have an empty name. Forward declarations and empty enums never take a suffix:
    /// they may be declared any number of times.
    pub fn of_type(&mut self, id: TypeId, ns: Namespace) -> Name<'a> {
        let empty = Name { base: b"", dup: 0 };
        let Some(t) = self.btf.type_by_id(id) else {
            return empty;
        };
        if t.name_off == 0 {
            return empty;
        }
        if let Some(Some(n)) = self.resolved.get(id as usize) {
            return *n;
        }
        let base = self.raw(t.name_off);
        let redeclarable = match &t.data {
            TypeData::Fwd { .. } => true,
            TypeData::Enum { values, .. } => values.is_empty(),
            _ => false,
        };
        let dup = if redeclarable {
            1
        } else {
            self.count(ns, base)
        };
        let name = Name { base, dup };
        if let Some(slot) = self.resolved.get_mut(id as usize) {
            *slot = Some(name);
        }
        name
    }

    /// The name for one enumerator; every definition of an enum counts its enumerators
    /// again, so that an enum written twice still compiles.
    pub fn of_enumerator(&mut self, name_off: u32) -> Name<'a> {
        let base = self.raw(name_off);
        let dup = self.count(Namespace::Idents, base);
        Name { base, dup }
    }
}
