//! Canonical structural identities of types, independent of type ids.
//!
//! The types of two BTF objects (with their bases) form one directed graph: a node per type,
//! an edge per type reference, in wire order. Every node carries a *local signature*: its kind,
//! its name and everything else it holds that is not a type id (sizes, flags, member names and
//! offsets, enumerator names and values, parameter names, linkage, ...), with strings compared
//! by content and never by offset.
//!
//! Two types mean the same when they are *bisimilar*: equal local signatures, and references
//! that lead, position by position, to types that again mean the same. This is equality of the
//! (possibly infinite) trees one gets by unrolling the graph from each type, so it handles
//! cycles (`struct a { struct b *b; }` / `struct b { struct a *a; }`) and needs no notion of
//! which types are named.
//!
//! The coarsest such equivalence is computed by partition refinement: start with the classes
//! of equal local signatures (interned with exact keys: a hash collision cannot merge two
//! signatures), then split every class by the classes its members' references lead to, until
//! nothing splits. Splitting sorts a class's members by the exact list of their references'
//! classes. Work is driven by a worklist: only classes holding a type whose references changed
//! class are looked at again (see [`refine`]). On vmlinux this takes a handful of rounds for
//! equal inputs and a few dozen when a change ripples up through the types referring to it.
//!
//! Only types reachable from the compared types take part, and when both sides are split BTF
//! on the very same base object, the base's types are one set of nodes shared by both sides.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;

use crate::btf::Btf;
use crate::types::{TypeData, TypeId};

/// A small, fast, non-cryptographic hasher (the rustc "Fx" hash). Interning compares keys
/// exactly, so the hash only needs to be fast.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64)
    }
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64)
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i)
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64)
    }
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;
pub(crate) type FxHashMap<K, V> = HashMap<K, V, FxBuild>;

/// Node index of `void` (type id 0 on either side).
const VOID: u32 = 0;
/// Node index standing for every reference to an id that does not exist.
const INVALID: u32 = 1;
/// Marks an id not reached from the compared types.
const UNREACHED: u32 = u32::MAX;

/// Which of the two compared objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    A,
    B,
}

/// The meaning classes of the types of two BTF objects: types of either side with the same
/// class mean the same.
pub(crate) struct Classes {
    /// Class of each type id of side A, [`UNREACHED`] for ids not reached from its roots.
    a: Vec<u32>,
    b: Vec<u32>,
    /// Class of references to ids that do not exist.
    invalid: u32,
    /// Number of distinct classes.
    pub count: usize,
    /// Refinement rounds run (for statistics).
    pub rounds: usize,
    /// Number of graph nodes (for statistics).
    pub nodes: usize,
}

impl Classes {
    /// The class of type `id` of `side`. Ids out of range get the class of invalid references;
    /// ids in range but not reached from the roots get `u32::MAX`, which no real class has.
    pub fn of(&self, side: Side, id: TypeId) -> u32 {
        let v = match side {
            Side::A => &self.a,
            Side::B => &self.b,
        };
        v.get(id as usize).copied().unwrap_or(self.invalid)
    }
}

/// The graph of both sides' reachable types, before refinement.
struct Graph<'a> {
    a: &'a Btf,
    b: &'a Btf,
    /// Ids of side B below this number are side A's (a shared base object).
    shared_end: TypeId,
    map_a: Vec<u32>,
    map_b: Vec<u32>,
    /// The side and id of every node past the two special ones.
    nodes: Vec<(Side, TypeId)>,
    /// Edges of each node, compressed: node `n`'s targets are
    /// `edges[edge_start[n]..edge_start[n + 1]]`.
    edge_start: Vec<u32>,
    edges: Vec<u32>,
}

impl<'a> Graph<'a> {
    fn btf(&self, side: Side) -> &'a Btf {
        match side {
            Side::A => self.a,
            Side::B => self.b,
        }
    }

    /// The node of `(side, id)`, creating it (and queueing it for a visit) if needed.
    fn node(&mut self, side: Side, id: TypeId) -> u32 {
        if id == 0 {
            return VOID;
        }
        let side = if side == Side::B && id < self.shared_end {
            Side::A
        } else {
            side
        };
        let map = match side {
            Side::A => &mut self.map_a,
            Side::B => &mut self.map_b,
        };
        let Some(slot) = map.get_mut(id as usize) else {
            return INVALID;
        };
        if *slot == UNREACHED {
            *slot = self.nodes.len() as u32 + 2;
            self.nodes.push((side, id));
        }
        *slot
    }
}

/// Computes the meaning classes of every type reachable from `roots_a` in `a` and `roots_b`
/// in `b`.
pub(crate) fn classes(a: &Btf, b: &Btf, roots_a: Range<TypeId>, roots_b: Range<TypeId>) -> Classes {
    let shared_end = match (a.base(), b.base()) {
        (Some(x), Some(y)) if std::sync::Arc::ptr_eq(x, y) => x.end_id(),
        _ => 0,
    };
    let mut g = Graph {
        a,
        b,
        shared_end,
        map_a: vec![UNREACHED; a.end_id() as usize],
        map_b: vec![UNREACHED; b.end_id() as usize],
        nodes: Vec::new(),
        edge_start: vec![0, 0, 0],
        edges: Vec::new(),
    };
    for id in roots_a {
        g.node(Side::A, id);
    }
    for id in roots_b {
        g.node(Side::B, id);
    }

    // Visit nodes in creation order, so that edges are appended node by node.
    let mut strings: FxHashMap<&[u8], u32> = FxHashMap::default();
    let mut local_ids: FxHashMap<Vec<u32>, u32> = FxHashMap::default();
    // The local classes of void and of invalid references.
    let mut class: Vec<u32> = vec![0, 1];
    local_ids.insert(vec![u32::MAX, 0], 0);
    local_ids.insert(vec![u32::MAX, 1], 1);
    let mut sig = Vec::new();
    let mut next = 0usize;
    while next < g.nodes.len() {
        let (side, id) = g.nodes[next];
        next += 1;
        let btf = g.btf(side);
        sig.clear();
        let mut refs = Vec::new();
        match btf.type_by_id(id) {
            Some(t) => {
                local_signature(btf, t, &mut strings, &mut sig);
                t.for_each_ref(|r| refs.push(r));
            }
            // Unreachable: `node` only creates nodes for ids in range.
            None => sig.extend_from_slice(&[u32::MAX, 1]),
        }
        for r in refs {
            let n = g.node(side, r);
            g.edges.push(n);
        }
        g.edge_start.push(g.edges.len() as u32);
        let fresh = local_ids.len() as u32;
        let c = match local_ids.get(sig.as_slice()) {
            Some(&c) => c,
            None => {
                local_ids.insert(sig.clone(), fresh);
                fresh
            }
        };
        class.push(c);
    }
    drop(local_ids);

    let (class, count, rounds) = refine(class, &g.edge_start, &g.edges);
    let n = class.len();

    let resolve = |map: &[u32]| -> Vec<u32> {
        map.iter()
            .enumerate()
            .map(|(id, &node)| {
                if id == 0 {
                    class[VOID as usize]
                } else if node == UNREACHED {
                    UNREACHED
                } else {
                    class[node as usize]
                }
            })
            .collect()
    };
    let a_classes = resolve(&g.map_a);
    let mut b_classes = resolve(&g.map_b);
    for (id, c) in b_classes.iter_mut().enumerate().take(shared_end as usize) {
        *c = a_classes.get(id).copied().unwrap_or(UNREACHED);
    }
    Classes {
        a: a_classes,
        b: b_classes,
        invalid: class[INVALID as usize],
        count,
        rounds,
        nodes: n,
    }
}

/// Refines the partition `class` (a class id per node, ids dense from 0) until every class is
/// stable: all its members refer, position by position, to nodes of the same classes.
/// Returns the final classes, their number, and the number of rounds.
///
/// This is a worklist refinement: a round re-splits only the classes holding a node whose
/// referenced nodes changed class in the previous round. When a class splits, its largest part
/// keeps the old id, so only the nodes of the other parts count as changed. Splitting by the
/// current classes never separates two bisimilar nodes, and when no node is left to revisit
/// every class is stable, so the result is the coarsest stable partition whatever the order
/// of the work.
fn refine(mut class: Vec<u32>, edge_start: &[u32], edges: &[u32]) -> (Vec<u32>, usize, usize) {
    let n = class.len();
    let succ = |node: usize| -> &[u32] {
        let (s, e) = (edge_start[node] as usize, edge_start[node + 1] as usize);
        &edges[s..e]
    };
    // Predecessors, compressed like the edges.
    let mut pred_start = vec![0u32; n + 1];
    for &t in edges {
        pred_start[t as usize + 1] += 1;
    }
    for i in 0..n {
        pred_start[i + 1] += pred_start[i];
    }
    let mut fill = pred_start.clone();
    let mut preds = vec![0u32; edges.len()];
    for node in 0..n {
        for &t in succ(node) {
            preds[fill[t as usize] as usize] = node as u32;
            fill[t as usize] += 1;
        }
    }
    drop(fill);

    let classes = class.iter().map(|&c| c as usize + 1).max().unwrap_or(0);
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); classes];
    for (node, &c) in class.iter().enumerate() {
        members[c as usize].push(node as u32);
    }

    let mut dirty: Vec<u32> = (0..n as u32).collect();
    let mut is_dirty = vec![true; n];
    let mut touched_flag: Vec<bool> = vec![false; classes];
    let mut touched: Vec<u32> = Vec::new();
    let mut changed: Vec<u32> = Vec::new();
    let mut buf: Vec<u32> = Vec::new();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut order: Vec<usize> = Vec::new();
    let mut rounds = 0;
    while !dirty.is_empty() {
        rounds += 1;
        touched.clear();
        for &node in &dirty {
            is_dirty[node as usize] = false;
            let c = class[node as usize];
            if !std::mem::replace(&mut touched_flag[c as usize], true) {
                touched.push(c);
            }
        }
        dirty.clear();
        changed.clear();
        for &c in &touched {
            touched_flag[c as usize] = false;
            let group = &members[c as usize];
            if group.len() < 2 {
                continue;
            }
            // The signatures of the members: the classes they refer to, in order.
            buf.clear();
            spans.clear();
            for &m in group {
                let start = buf.len();
                buf.extend(succ(m as usize).iter().map(|&t| class[t as usize]));
                spans.push((start, buf.len()));
            }
            order.clear();
            order.extend(0..group.len());
            let sig = |i: usize| &buf[spans[i].0..spans[i].1];
            order.sort_by(|&x, &y| sig(x).cmp(sig(y)));
            // Runs of equal signatures are the parts.
            let mut parts: Vec<Vec<u32>> = Vec::new();
            for (k, &i) in order.iter().enumerate() {
                if k == 0 || sig(order[k - 1]) != sig(i) {
                    parts.push(Vec::new());
                }
                if let Some(p) = parts.last_mut() {
                    p.push(group[i]);
                }
            }
            if parts.len() < 2 {
                continue;
            }
            let keep = (0..parts.len())
                .max_by_key(|&k| (parts[k].len(), std::cmp::Reverse(k)))
                .unwrap_or(0);
            for (k, part) in parts.into_iter().enumerate() {
                if k == keep {
                    members[c as usize] = part;
                    continue;
                }
                let id = members.len() as u32;
                for &node in &part {
                    class[node as usize] = id;
                    changed.push(node);
                }
                members.push(part);
                touched_flag.push(false);
            }
        }
        for &node in &changed {
            let (s, e) = (
                pred_start[node as usize] as usize,
                pred_start[node as usize + 1] as usize,
            );
            for &p in &preds[s..e] {
                if !std::mem::replace(&mut is_dirty[p as usize], true) {
                    dirty.push(p);
                }
            }
        }
    }
    let count = members.len();
    (class, count, rounds)
}

/// Appends the local signature of `t`: everything it holds except type ids, with strings
/// replaced by interned ids of their bytes.
fn local_signature<'a>(
    btf: &'a Btf,
    t: &crate::types::Type,
    strings: &mut FxHashMap<&'a [u8], u32>,
    out: &mut Vec<u32>,
) {
    let mut s = |off: u32| -> u32 {
        match btf.str_bytes(off) {
            Some(bytes) => {
                let fresh = strings.len() as u32;
                *strings.entry(bytes).or_insert(fresh)
            }
            // An offset outside every string table: one marker, distinct from every string.
            None => u32::MAX,
        }
    };
    out.push(t.kind() as u32);
    out.push(s(t.name_off));
    let kf = t.kind_flag as u32;
    match &t.data {
        TypeData::Int {
            size,
            encoding,
            offset,
            bits,
        } => out.extend_from_slice(&[*size, *encoding as u32, *offset as u32, *bits as u32]),
        TypeData::Ptr { .. }
        | TypeData::Typedef { .. }
        | TypeData::Volatile { .. }
        | TypeData::Const { .. }
        | TypeData::Restrict { .. }
        | TypeData::TypeTag { .. } => {}
        TypeData::Array { nelems, .. } => out.push(*nelems),
        TypeData::Struct { size, members } | TypeData::Union { size, members } => {
            out.extend_from_slice(&[*size, kf, members.len() as u32]);
            for m in members {
                out.push(s(m.name_off));
                out.push(m.bit_offset(t.kind_flag));
                out.push(m.bitfield_size(t.kind_flag));
            }
        }
        TypeData::Enum { size, values } => {
            out.extend_from_slice(&[*size, kf, values.len() as u32]);
            for v in values {
                out.push(s(v.name_off));
                out.push(v.val);
            }
        }
        TypeData::Enum64 { size, values } => {
            out.extend_from_slice(&[*size, kf, values.len() as u32]);
            for v in values {
                out.push(s(v.name_off));
                out.push(v.val as u32);
                out.push((v.val >> 32) as u32);
            }
        }
        TypeData::Fwd { .. } => out.push(kf),
        TypeData::Func { linkage, .. } => out.push(*linkage as u32),
        TypeData::FuncProto { params, .. } => {
            out.push(params.len() as u32);
            for p in params {
                out.push(s(p.name_off));
            }
        }
        TypeData::Var { linkage, .. } => out.push(*linkage),
        TypeData::Datasec { size, vars } => {
            out.extend_from_slice(&[*size, vars.len() as u32]);
            for v in vars {
                out.push(v.offset);
                out.push(v.size);
            }
        }
        TypeData::Float { size } => out.push(*size),
        TypeData::DeclTag { component_idx, .. } => out.push(*component_idx as u32),
    }
}
