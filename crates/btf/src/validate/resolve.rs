//! The resolve phase (`btf_check_all_types`): a port of the kernel's resolve machinery.
//!
//! The kernel walks references depth first with an explicit stack of at most 32 vertices
//! (`MAX_RESOLVE_DEPTH`). Each own type has a visit state (not visited, visited = on the stack,
//! resolved); pushing a visited type is a loop. What stops the walk depends on the mode, set by
//! the first PTR, STRUCT/UNION or ARRAY pushed: pointers may point back into a structure, but a
//! structure may not contain itself. Resolving stores, per type, the id its size comes from and
//! (for arrays) the total size, which `btf_type_id_size` then uses.
//!
//! The functions here follow `btf_modifier_resolve`, `btf_ptr_resolve`, `btf_var_resolve`,
//! `btf_array_resolve`, `btf_struct_resolve`, `btf_datasec_resolve`, `btf_func_resolve`,
//! `btf_decl_tag_resolve`, `btf_resolve`, `btf_resolve_valid` and `btf_func_proto_check` of
//! 6.1, check for check. Where the kernel stops, we mark the types on the stack as failed and
//! go on with the next type; references to failed types fail silently (no cascades).

use std::sync::Arc;

use super::names::{self, Escaped};
use super::ty::{by_id, describe, Ty};
use super::{problem, Phase, Problem, ProblemClass};
use crate::btf::Btf;
use crate::types::*;

/// `MAX_RESOLVE_DEPTH`.
pub const MAX_RESOLVE_DEPTH: usize = 32;
/// `sizeof(void *)` of the kernel checking the BTF.
pub const PTR_SIZE: u32 = 8;

/// The outcome of resolving one BTF: for each own type the id its size comes from
/// (`resolved_ids`) and, for arrays, its size (`resolved_sizes`), on top of the base's tables.
#[derive(Debug, Clone)]
pub struct Tables {
    start: TypeId,
    ids: Vec<TypeId>,
    sizes: Vec<u32>,
    base: Option<Arc<Tables>>,
}

impl Tables {
    /// `btf_resolved_type_id`: 0 for types never resolved.
    pub fn resolved_id(&self, id: TypeId) -> TypeId {
        if id >= self.start {
            self.ids
                .get((id - self.start) as usize)
                .copied()
                .unwrap_or(0)
        } else {
            self.base.as_ref().map_or(0, |b| b.resolved_id(id))
        }
    }

    /// `btf_resolved_type_size`: 0 for types never resolved.
    pub fn resolved_size(&self, id: TypeId) -> u32 {
        if id >= self.start {
            self.sizes
                .get((id - self.start) as usize)
                .copied()
                .unwrap_or(0)
        } else {
            self.base.as_ref().map_or(0, |b| b.resolved_size(id))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    NotVisited,
    Visited,
    Resolved,
    /// Failed the meta phase or an earlier resolve (our addition to the kernel's states).
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Tbd,
    Ptr,
    StructOrArray,
}

#[derive(Debug, Clone, Copy)]
struct Vertex {
    id: TypeId,
    next_member: usize,
}

/// Why resolving stopped.
pub(super) enum Fail {
    /// A rule is broken; the problem says which.
    Log(Box<Problem>),
    /// `-E2BIG` from `env_stack_push`.
    TooDeep,
    /// `-EEXIST` from `env_stack_push`.
    Loop,
    /// A type that already failed is involved: nothing new to report.
    Poison,
}

pub(super) type Res<T> = Result<T, Fail>;

pub(super) struct Resolver<'a> {
    pub btf: &'a Btf,
    start: TypeId,
    end: TypeId,
    base: Option<Arc<Tables>>,
    ids: Vec<TypeId>,
    sizes: Vec<u32>,
    state: Vec<State>,
    stack: Vec<Vertex>,
    mode: Mode,
    /// Whether to record problems (not when resolving a base for its tables).
    report: bool,
    pub out: Vec<Problem>,
}

impl<'a> Resolver<'a> {
    fn new(btf: &'a Btf, base: Option<Arc<Tables>>, failed: &[bool], report: bool) -> Self {
        let n = btf.own_types().len();
        let state = (0..n)
            .map(|i| {
                if failed.get(i).copied().unwrap_or(false) {
                    State::Failed
                } else {
                    State::NotVisited
                }
            })
            .collect();
        Resolver {
            btf,
            start: btf.start_id(),
            end: btf.end_id(),
            base,
            ids: vec![0; n],
            sizes: vec![0; n],
            state,
            stack: Vec::new(),
            mode: Mode::Tbd,
            report,
            out: Vec::new(),
        }
    }

    fn local(&self, id: TypeId) -> Option<usize> {
        (id >= self.start && id < self.end).then(|| (id - self.start) as usize)
    }

    fn state(&self, id: TypeId) -> Option<State> {
        self.local(id).and_then(|i| self.state.get(i).copied())
    }

    fn set_state(&mut self, id: TypeId, s: State) {
        if let Some(slot) = self.local(id).and_then(|i| self.state.get_mut(i)) {
            *slot = s;
        }
    }

    /// `btf_type_by_id`, refusing types that failed before.
    pub fn by_id(&self, id: TypeId) -> Res<Option<Ty<'a>>> {
        if self.state(id) == Some(State::Failed) {
            return Err(Fail::Poison);
        }
        Ok(by_id(self.btf, id))
    }

    /// An own type by id; only called for ids on the stack or in the own range.
    fn own(&self, id: TypeId) -> Res<&'a Type> {
        let btf: &'a Btf = self.btf;
        btf.type_by_id(id).ok_or(Fail::Poison)
    }

    pub fn resolved_id(&self, id: TypeId) -> TypeId {
        match self.local(id) {
            Some(i) => self.ids.get(i).copied().unwrap_or(0),
            None if id < self.start => self.base.as_ref().map_or(0, |b| b.resolved_id(id)),
            None => 0,
        }
    }

    pub fn resolved_size(&self, id: TypeId) -> u32 {
        match self.local(id) {
            Some(i) => self.sizes.get(i).copied().unwrap_or(0),
            None if id < self.start => self.base.as_ref().map_or(0, |b| b.resolved_size(id)),
            None => 0,
        }
    }

    /// `env_type_is_resolved`: base types count as resolved.
    fn is_resolved(&self, id: TypeId) -> bool {
        id < self.start || self.state(id) == Some(State::Resolved)
    }

    /// `env_type_is_resolve_sink`.
    fn is_sink(&self, t: Ty) -> bool {
        match self.mode {
            Mode::Tbd => !t.needs_resolve(),
            Mode::Ptr => !t.is_modifier() && !t.is_ptr(),
            Mode::StructOrArray => !t.is_modifier() && !t.is_array() && !t.is_struct(),
        }
    }

    /// `env_stack_push`.
    fn push(&mut self, id: TypeId) -> Res<()> {
        if self.stack.len() == MAX_RESOLVE_DEPTH {
            return Err(Fail::TooDeep);
        }
        match self.state(id) {
            Some(State::NotVisited) => {}
            Some(State::Failed) => return Err(Fail::Poison),
            _ => return Err(Fail::Loop),
        }
        self.set_state(id, State::Visited);
        self.stack.push(Vertex { id, next_member: 0 });
        if self.mode == Mode::Tbd {
            let t = by_id(self.btf, id);
            if t.is_some_and(|t| t.is_ptr()) {
                self.mode = Mode::Ptr;
            } else if t.is_some_and(|t| t.is_struct() || t.is_array()) {
                self.mode = Mode::StructOrArray;
            }
        }
        Ok(())
    }

    fn set_next_member(&mut self, next: usize) {
        if let Some(v) = self.stack.last_mut() {
            v.next_member = next;
        }
    }

    /// `env_stack_pop_resolved`.
    fn pop_resolved(&mut self, resolved_id: TypeId, resolved_size: u32) {
        if let Some(v) = self.stack.pop() {
            if let Some(i) = self.local(v.id) {
                self.ids[i] = resolved_id;
                self.sizes[i] = resolved_size;
                self.state[i] = State::Resolved;
            }
        }
    }

    /// `btf_type_id_size`: the sized type `id` stands for (following modifiers and VAR through
    /// their resolved ids), its id and its size; `None` for types without size.
    pub fn type_id_size(&self, id: TypeId) -> Res<Option<(TypeId, Ty<'a>, u32)>> {
        let Some(t) = self.by_id(id)? else {
            return Ok(None);
        };
        if t.nosize() {
            return Ok(None);
        }
        if t.has_size() {
            return Ok(Some((id, t, t.size())));
        }
        if t.is_array() {
            return Ok(Some((id, t, self.resolved_size(id))));
        }
        if t.is_ptr() {
            return Ok(Some((id, t, PTR_SIZE)));
        }
        if !t.is_modifier() && !t.is_var() {
            return Ok(None);
        }
        let rid = self.resolved_id(id);
        let Some(rt) = self.by_id(rid)? else {
            return Ok(None);
        };
        let size = if rt.nosize() {
            return Ok(None);
        } else if rt.has_size() {
            rt.size()
        } else if rt.is_array() {
            self.resolved_size(rid)
        } else if rt.is_ptr() {
            PTR_SIZE
        } else {
            return Ok(None);
        };
        Ok(Some((rid, rt, size)))
    }

    /// A problem about type `id` (the type being resolved, the kernel's `log_type_id`).
    pub fn fail(&self, id: TypeId, rule: &'static str, message: String) -> Fail {
        match self.btf.type_by_id(id) {
            Some(t) => Fail::Log(Box::new(problem(
                self.btf,
                id,
                t,
                ProblemClass::Invalid,
                Phase::Resolve,
                rule,
                message,
            ))),
            None => Fail::Poison,
        }
    }

    /// Why a referenced type cannot be used, for messages.
    fn bad_ref(&self, what: &str, id: TypeId) -> String {
        match by_id(self.btf, id) {
            None => format!("{what} {} does not exist", describe(self.btf, id)),
            Some(Ty::Void) => format!("{what} is void"),
            Some(t) if t.source_only() => {
                format!("{what} {} cannot be referenced", describe(self.btf, id))
            }
            Some(_) => format!("{what} {} has no size", describe(self.btf, id)),
        }
    }

    fn record(&mut self, p: Problem) {
        if self.report {
            self.out.push(p);
        }
    }

    /// `btf_resolve`: resolves `id` and everything it needs. Returns whether it succeeded.
    fn resolve(&mut self, id: TypeId) -> bool {
        self.mode = Mode::Tbd;
        if self.push(id).is_err() {
            return false;
        }
        let mut err = None;
        while let Some(v) = self.stack.last().copied() {
            if let Err(e) = self.resolve_vertex(v) {
                err = Some(e);
                break;
            }
        }
        let err = match err {
            Some(e) => Some(e),
            None => match self.resolve_valid(id) {
                Ok(true) => None,
                Ok(false) => Some(self.fail(
                    id,
                    "Invalid resolve state",
                    "resolved to an inconsistent state".into(),
                )),
                Err(e) => Some(e),
            },
        };
        let Some(err) = err else {
            return true;
        };
        match err {
            Fail::Log(p) => self.record(*p),
            Fail::TooDeep => {
                if let Fail::Log(p) = self.fail(
                    id,
                    "Exceeded max resolving depth",
                    format!("references nest deeper than {MAX_RESOLVE_DEPTH} levels"),
                ) {
                    self.record(*p)
                }
            }
            Fail::Loop => {
                if let Fail::Log(p) = self.fail(
                    id,
                    "Loop detected",
                    "reference loop: a type contains itself (not through a pointer)".into(),
                ) {
                    self.record(*p)
                }
            }
            Fail::Poison => {}
        }
        for v in std::mem::take(&mut self.stack) {
            self.set_state(v.id, State::Failed);
        }
        self.set_state(id, State::Failed);
        false
    }

    fn resolve_vertex(&mut self, v: Vertex) -> Res<()> {
        let t = self.own(v.id)?;
        match &t.data {
            TypeData::Typedef { ty }
            | TypeData::Volatile { ty }
            | TypeData::Const { ty }
            | TypeData::Restrict { ty }
            | TypeData::TypeTag { ty } => self.modifier_or_ptr_resolve(v, *ty, false),
            TypeData::Ptr { ty } => self.modifier_or_ptr_resolve(v, *ty, true),
            TypeData::Var { ty, .. } => self.var_resolve(v, *ty),
            TypeData::Array {
                elem,
                index,
                nelems,
            } => self.array_resolve(v, *elem, *index, *nelems),
            TypeData::Struct { members, .. } | TypeData::Union { members, .. } => {
                self.struct_resolve(v, t, members)
            }
            TypeData::Datasec { vars, .. } => self.datasec_resolve(v, vars),
            TypeData::Func { proto, .. } => self.func_resolve(v, *proto),
            TypeData::DeclTag { ty, component_idx } => {
                self.decl_tag_resolve(v, *ty, *component_idx)
            }
            _ => Err(self.fail(
                v.id,
                "Unsupported resolve",
                "kind cannot be resolved".into(),
            )),
        }
    }

    /// The common start of the modifier, PTR and VAR resolvers: the next type must exist and
    /// not be VAR, DECL_TAG or DATASEC. Returns `None` if it was pushed instead.
    fn next_or_push(&mut self, v: Vertex, next_id: TypeId, what: &str) -> Res<Option<Ty<'a>>> {
        let next = match self.by_id(next_id)? {
            Some(n) if !n.source_only() => n,
            _ => {
                return Err(self.fail(v.id, "Invalid type_id", self.bad_ref(what, next_id)));
            }
        };
        if !self.is_sink(next) && !self.is_resolved(next_id) {
            self.push(next_id)?;
            return Ok(None);
        }
        Ok(Some(next))
    }

    /// For PTR and VAR to a modifier resolved to a PTR: continue from that pointer so that it
    /// cannot point back to the current one. Returns whether it pushed.
    fn push_resolved_ptr(&mut self, next: Ty<'a>, next_id: TypeId) -> Res<bool> {
        if next.is_modifier() {
            let rid = self.resolved_id(next_id);
            if let Some(rt) = self.by_id(rid)? {
                if rt.is_ptr() && !self.is_sink(rt) && !self.is_resolved(rid) {
                    self.push(rid)?;
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// `btf_modifier_resolve` and `btf_ptr_resolve`.
    fn modifier_or_ptr_resolve(&mut self, v: Vertex, next_id: TypeId, is_ptr: bool) -> Res<()> {
        let what = "referenced type";
        let Some(next) = self.next_or_push(v, next_id, what)? else {
            return Ok(());
        };
        if is_ptr && self.push_resolved_ptr(next, next_id)? {
            return Ok(());
        }
        let mut resolved_id = next_id;
        match self.type_id_size(next_id)? {
            Some((rid, _, _)) => resolved_id = rid,
            None => {
                let mut nt = Some(next);
                if self.is_resolved(next_id) {
                    resolved_id = self.resolved_id(next_id);
                    nt = self.by_id(resolved_id)?;
                }
                let ok = nt.is_some_and(|n| n.is_void() || n.is_fwd() || n.is_func_proto());
                if !ok {
                    return Err(self.fail(
                        v.id,
                        "Invalid type_id",
                        format!(
                            "{what} {} has no size and is not void, FWD or FUNC_PROTO",
                            describe(self.btf, resolved_id)
                        ),
                    ));
                }
            }
        }
        self.pop_resolved(resolved_id, 0);
        Ok(())
    }

    /// `btf_var_resolve`.
    fn var_resolve(&mut self, v: Vertex, next_id: TypeId) -> Res<()> {
        let what = "variable type";
        let Some(next) = self.next_or_push(v, next_id, what)? else {
            return Ok(());
        };
        if self.push_resolved_ptr(next, next_id)? {
            return Ok(());
        }
        match self.type_id_size(next_id)? {
            Some((rid, _, _)) => {
                self.pop_resolved(rid, 0);
                Ok(())
            }
            None => Err(self.fail(v.id, "Invalid type_id", self.bad_ref(what, next_id))),
        }
    }

    /// `btf_array_resolve`.
    fn array_resolve(&mut self, v: Vertex, elem: TypeId, index: TypeId, nelems: u32) -> Res<()> {
        let index_t = self.by_id(index)?;
        match index_t {
            Some(t) if !t.nosize() && !t.source_only() => {
                if !self.is_sink(t) && !self.is_resolved(index) {
                    return self.push(index);
                }
            }
            _ => {
                return Err(self.fail(v.id, "Invalid index", self.bad_ref("index type", index)));
            }
        }
        match self.type_id_size(index)? {
            Some((_, t, _)) if t.is_int() && int_is_regular(t) => {}
            _ => {
                return Err(self.fail(
                    v.id,
                    "Invalid index",
                    format!(
                        "index type {} is not a regular INT (8, 16, 32, 64 or 128 bits at offset 0)",
                        describe(self.btf, index)
                    ),
                ));
            }
        }
        let elem_t = self.by_id(elem)?;
        match elem_t {
            Some(t) if !t.nosize() && !t.source_only() => {
                if !self.is_sink(t) && !self.is_resolved(elem) {
                    return self.push(elem);
                }
            }
            _ => {
                return Err(self.fail(v.id, "Invalid elem", self.bad_ref("element type", elem)));
            }
        }
        let Some((elem_id, et, elem_size)) = self.type_id_size(elem)? else {
            return Err(self.fail(v.id, "Invalid elem", self.bad_ref("element type", elem)));
        };
        if et.is_int() && !int_is_regular(et) {
            return Err(self.fail(
                v.id,
                "Invalid array of int",
                format!(
                    "element type {} is an INT bitfield or of irregular size",
                    describe(self.btf, elem_id)
                ),
            ));
        }
        if nelems != 0 && elem_size > u32::MAX / nelems {
            return Err(self.fail(
                v.id,
                "Array size overflows U32_MAX",
                format!("{nelems} elements of {elem_size} bytes overflow 32 bits"),
            ));
        }
        self.pop_resolved(elem_id, elem_size.wrapping_mul(nelems));
        Ok(())
    }

    /// `btf_struct_resolve`: each member's type is resolved, then checked against the struct.
    fn struct_resolve(&mut self, v: Vertex, t: &'a Type, members: &'a [Member]) -> Res<()> {
        if v.next_member > 0 {
            let Some(last) = members.get(v.next_member - 1) else {
                return Err(Fail::Poison);
            };
            if !self.is_resolved(last.ty) {
                return Err(self.fail(
                    v.id,
                    "Invalid member",
                    format!("member {} did not resolve", self.member_name(last.name_off)),
                ));
            }
            let Some(lt) = self.by_id(last.ty)? else {
                return Err(Fail::Poison);
            };
            self.check_member(v.id, t, last, lt)?;
        }
        for (i, m) in members.iter().enumerate().skip(v.next_member) {
            let mt = match self.by_id(m.ty)? {
                Some(mt) if !mt.nosize() && !mt.source_only() => mt,
                _ => {
                    return Err(self.fail(
                        v.id,
                        "Invalid member",
                        format!(
                            "member {}: {}",
                            self.member_name(m.name_off),
                            self.bad_ref("type", m.ty)
                        ),
                    ));
                }
            };
            if !self.is_sink(mt) && !self.is_resolved(m.ty) {
                self.set_next_member(i + 1);
                return self.push(m.ty);
            }
            self.check_member(v.id, t, m, mt)?;
        }
        self.pop_resolved(0, 0);
        Ok(())
    }

    /// A member's name for messages.
    pub fn member_name(&self, off: u32) -> String {
        if off == 0 {
            "(anon)".into()
        } else {
            format!("'{}'", Escaped(names::bytes(self.btf, off)))
        }
    }

    /// `btf_datasec_resolve`.
    fn datasec_resolve(&mut self, v: Vertex, vars: &'a [VarSecinfo]) -> Res<()> {
        self.mode = Mode::Tbd;
        for (i, vsi) in vars.iter().enumerate().skip(v.next_member) {
            let entry = format!("entry #{i} (offset {}, size {})", vsi.offset, vsi.size);
            let var = match self.by_id(vsi.ty)? {
                Some(t) if t.is_var() => t,
                _ => {
                    return Err(self.fail(
                        v.id,
                        "Not a VAR kind member",
                        format!("{entry} is {}, not a VAR", describe(self.btf, vsi.ty)),
                    ));
                }
            };
            if !self.is_sink(var) && !self.is_resolved(vsi.ty) {
                self.set_next_member(i + 1);
                return self.push(vsi.ty);
            }
            let var_ty = var.type_word();
            let Some((_, _, size)) = self.type_id_size(var_ty)? else {
                return Err(self.fail(
                    v.id,
                    "Invalid type",
                    format!(
                        "{entry}: type of {} has no size",
                        describe(self.btf, vsi.ty)
                    ),
                ));
            };
            if vsi.size < size {
                return Err(self.fail(
                    v.id,
                    "Invalid size",
                    format!(
                        "{entry} is smaller than the {size} bytes of {}",
                        describe(self.btf, vsi.ty)
                    ),
                ));
            }
        }
        self.pop_resolved(0, 0);
        Ok(())
    }

    /// `btf_func_resolve` with `btf_func_check`.
    fn func_resolve(&mut self, v: Vertex, proto_id: TypeId) -> Res<()> {
        let proto = match self.by_id(proto_id)? {
            Some(p) if p.is_func_proto() => p,
            _ => {
                return Err(self.fail(
                    v.id,
                    "Invalid type_id",
                    format!(
                        "FUNC's type {} is not a FUNC_PROTO",
                        describe(self.btf, proto_id)
                    ),
                ));
            }
        };
        if let Some(TypeData::FuncProto { params, .. }) = proto.ty().map(|t| &t.data) {
            for (i, p) in params.iter().enumerate() {
                if p.name_off == 0 && p.ty != 0 {
                    return Err(self.fail(
                        v.id,
                        "Invalid arg#",
                        format!(
                            "parameter #{} of {} has no name",
                            i + 1,
                            describe(self.btf, proto_id)
                        ),
                    ));
                }
            }
        }
        self.pop_resolved(proto_id, 0);
        Ok(())
    }

    /// `btf_decl_tag_resolve`.
    fn decl_tag_resolve(&mut self, v: Vertex, next_id: TypeId, component_idx: i32) -> Res<()> {
        let next = match self.by_id(next_id)? {
            Some(n) if n.is_decl_tag_target() => n,
            _ => {
                return Err(self.fail(
                    v.id,
                    "Invalid type_id",
                    format!(
                        "tagged type {} is not a FUNC, STRUCT, UNION, VAR or TYPEDEF",
                        describe(self.btf, next_id)
                    ),
                ));
            }
        };
        if !self.is_sink(next) && !self.is_resolved(next_id) {
            return self.push(next_id);
        }
        if component_idx != -1 {
            if next.is_var() || next.is_typedef() {
                return Err(self.fail(
                    v.id,
                    "Invalid component_idx",
                    format!(
                        "component_idx {component_idx} on {}, which has no components (must be -1)",
                        describe(self.btf, next_id)
                    ),
                ));
            }
            let (vlen, of) = if next.is_struct() {
                (next.vlen(), next_id)
            } else {
                let proto_id = next.type_word();
                (self.by_id(proto_id)?.map_or(0, |p| p.vlen()), proto_id)
            };
            if component_idx as u32 >= vlen {
                return Err(self.fail(
                    v.id,
                    "Invalid component_idx",
                    format!(
                        "component_idx {component_idx} is beyond the {vlen} members or parameters of {}",
                        describe(self.btf, of)
                    ),
                ));
            }
        }
        self.pop_resolved(next_id, 0);
        Ok(())
    }

    /// `btf_resolve_valid`: the final sanity check of a resolved type.
    fn resolve_valid(&self, id: TypeId) -> Res<bool> {
        if !self.is_resolved(id) {
            return Ok(false);
        }
        let Some(t) = self.by_id(id)? else {
            return Ok(false);
        };
        let (rid, rsize) = (self.resolved_id(id), self.resolved_size(id));
        if t.is_struct() || t.is_datasec() {
            return Ok(rid == 0 && rsize == 0);
        }
        if t.is_decl_tag() || t.is_func() {
            return Ok(rid != 0 && rsize == 0);
        }
        if t.is_modifier() || t.is_ptr() || t.is_var() {
            let rt = self.by_id(rid)?;
            return Ok(rt.is_some_and(|r| !r.is_modifier() && !r.is_var() && !r.is_datasec()));
        }
        if let Some(TypeData::Array { elem, nelems, .. }) = t.ty().map(|t| &t.data) {
            return Ok(match self.type_id_size(*elem)? {
                Some((_, et, esize)) => !et.is_modifier() && nelems.wrapping_mul(esize) == rsize,
                None => false,
            });
        }
        Ok(false)
    }

    /// `btf_func_proto_check`: return and parameter types, run for every FUNC_PROTO.
    fn func_proto_check(&mut self, id: TypeId, ret: TypeId, params: &'a [Param]) {
        if let Err(e) = self.func_proto_check_inner(id, ret, params) {
            if let Fail::Log(p) = e {
                self.record(*p);
            }
            self.set_state(id, State::Failed);
        }
    }

    fn func_proto_check_inner(&mut self, id: TypeId, ret: TypeId, params: &'a [Param]) -> Res<()> {
        if ret != 0 {
            let rt = match self.by_id(ret)? {
                Some(rt) if !rt.source_only() => rt,
                _ => {
                    return Err(self.fail(
                        id,
                        "Invalid return type",
                        self.bad_ref("return type", ret),
                    ));
                }
            };
            if rt.needs_resolve() && !self.is_resolved(ret) && !self.resolve(ret) {
                return Err(Fail::Poison);
            }
            if self.type_id_size(ret)?.is_none() {
                return Err(self.fail(id, "Invalid return type", self.bad_ref("return type", ret)));
            }
        }
        let mut params = params;
        if let Some((last, rest)) = params.split_last() {
            if last.ty == 0 {
                if last.name_off != 0 {
                    return Err(self.fail(
                        id,
                        "Invalid arg#",
                        format!(
                            "vararg (last parameter, type void) #{} has a name",
                            params.len()
                        ),
                    ));
                }
                params = rest;
            }
        }
        for (i, p) in params.iter().enumerate() {
            let arg = format!("parameter #{}", i + 1);
            let at = match self.by_id(p.ty)? {
                Some(at) if !at.source_only() => at,
                _ => return Err(self.fail(id, "Invalid arg#", self.bad_ref(&arg, p.ty))),
            };
            if p.name_off != 0
                && (!names::offset_valid(self.btf, p.name_off)
                    || !names::valid(self.btf, p.name_off, false))
            {
                let why = if names::offset_valid(self.btf, p.name_off) {
                    names::why_invalid(self.btf, p.name_off, &format!("{arg} name"))
                } else {
                    format!(
                        "{arg} name offset {} is outside the string section",
                        p.name_off
                    )
                };
                return Err(self.fail(id, "Invalid arg#", why));
            }
            if at.needs_resolve() && !self.is_resolved(p.ty) && !self.resolve(p.ty) {
                return Err(Fail::Poison);
            }
            if self.type_id_size(p.ty)?.is_none() {
                let why = if p.ty == 0 {
                    format!("{arg} is void but not the last parameter")
                } else {
                    self.bad_ref(&arg, p.ty)
                };
                return Err(self.fail(id, "Invalid arg#", why));
            }
        }
        Ok(())
    }

    /// `btf_check_all_types`.
    fn check_all_types(&mut self) {
        let btf: &'a Btf = self.btf;
        for (id, t) in btf.iter() {
            if self.state(id) == Some(State::Failed) {
                continue;
            }
            if Ty::T(t).needs_resolve() && !self.is_resolved(id) {
                self.resolve(id);
            }
            if let TypeData::FuncProto { ret, params } = &t.data {
                self.func_proto_check(id, *ret, params);
            }
        }
    }

    fn into_tables(self) -> Tables {
        Tables {
            start: self.start,
            ids: self.ids,
            sizes: self.sizes,
            base: self.base,
        }
    }
}

/// `btf_type_int_is_regular`: whole bytes (1, 2, 4, 8 or 16) at bit offset 0.
pub fn int_is_regular(t: Ty) -> bool {
    match t.ty().map(|t| &t.data) {
        Some(TypeData::Int { offset, bits, .. }) => {
            bits % 8 == 0 && *offset == 0 && matches!(bits.div_ceil(8), 1 | 2 | 4 | 8 | 16)
        }
        _ => false,
    }
}

/// Runs the resolve phase on `btf`, skipping types marked in `failed`; returns the resolved
/// tables (own on top of `base`).
pub(super) fn check(
    btf: &Btf,
    base: Option<Arc<Tables>>,
    failed: &[bool],
    out: &mut Vec<Problem>,
) -> Arc<Tables> {
    let mut r = Resolver::new(btf, base, failed, true);
    r.check_all_types();
    out.append(&mut r.out);
    Arc::new(r.into_tables())
}

/// Resolves a base BTF for its tables only.
pub(super) fn base_tables(btf: &Btf, base: Option<&Arc<Tables>>) -> Arc<Tables> {
    let mut r = Resolver::new(btf, base.cloned(), &[], false);
    r.check_all_types();
    Arc::new(r.into_tables())
}
