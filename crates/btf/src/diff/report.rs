//! Turning meaning classes into a readable report.
//!
//! Types whose class occurs as often on both sides are matched and never reported. What is
//! left over is explained:
//!
//! - Named types (`struct foo`, `func bar`, ...) are grouped by their label. Within a label,
//!   left-over types of A and B are paired (the pair with the fewest differences first, for
//!   labels held by several types such as static functions) and each pair is compared field by
//!   field: sizes, members by name, enumerators by name, parameters by position, and
//!   references by their C type names. Where two references read the same but differ in
//!   meaning, the comparison follows them into anonymous types (`member 'u': member 'x' type
//!   changed`) and stops at named types: a named type that is itself left over is reported
//!   under its own label, so that `struct bar { struct foo *p; }` is not reported for a change
//!   of `struct foo`.
//! - Anonymous types that no left-over type refers to (types nobody refers to, like many
//!   pointer types of vmlinux, or extra copies of duplicated types) are grouped by their
//!   description (`ptr 'struct foo *'`) and paired the same way, so that one that changed only
//!   through a named type is not reported again.
//! - Unpaired types are reported as found on one side only, with a count where several
//!   identical ones are, and a note where the type equals a type of the base (a split's own
//!   copy of a base type).
//!
//! Every pair yields at least one line or defers to a type that is reported, and a last
//! fallback names the left-over types if nothing else was said, so a non-empty difference
//! never prints as nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

use crate::btf::Btf;
use crate::diff::canon::{Classes, Side};
use crate::diff::render::{
    describe, enum_values, func_linkage, int_encoding, key_label, member_decl, type_name,
    var_linkage,
};
use crate::kind::Kind;
use crate::types::{Member, Type, TypeData, TypeId};

/// How deep the comparison of one pair may follow references into anonymous types.
const MAX_WALK: usize = 64;

/// Labels with more left-over pairs than this are paired in order instead of by cost.
const MAX_PAIRING_TRIALS: usize = 256;

/// The result of explaining the left-over types.
pub(crate) struct Explained {
    pub changed: Vec<String>,
    pub only_in_a: Vec<String>,
    pub only_in_b: Vec<String>,
}

/// State of one report: both sides, their classes, and the lines found so far.
pub(crate) struct Report<'a> {
    a: &'a Btf,
    b: &'a Btf,
    cls: &'a Classes,
    own_a: Range<TypeId>,
    own_b: Range<TypeId>,
    count_a: Vec<u32>,
    count_b: Vec<u32>,
    lines: Vec<String>,
    /// Differences not reported here because they are reported under another type.
    suppressed: usize,
    /// Pairs of references already followed while comparing the current pair.
    seen: HashSet<(TypeId, TypeId)>,
    /// Pairs of types outside the compared sets (base types) already explained.
    outside_seen: HashSet<(TypeId, TypeId)>,
}

/// A member, enumerator, parameter or variable keyed by its name and the how-manieth
/// occurrence of that name it is (names repeat only for anonymous members, or in malformed
/// BTF).
fn keyed<T>(items: impl IntoIterator<Item = (String, T)>) -> Vec<((String, usize), T)> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    items
        .into_iter()
        .map(|(name, x)| {
            let n = seen.entry(name.clone()).or_insert(0);
            let occ = *n;
            *n += 1;
            ((name, occ), x)
        })
        .collect()
}

/// Matches two keyed lists: pairs of indices with equal keys, then indices only in the first
/// and only in the second, each in list order.
type Matched = (Vec<(usize, usize)>, Vec<usize>, Vec<usize>);
fn match_keys<T, U>(xs: &[((String, usize), T)], ys: &[((String, usize), U)]) -> Matched {
    let index: HashMap<&(String, usize), usize> =
        ys.iter().enumerate().map(|(i, (k, _))| (k, i)).collect();
    let mut used = vec![false; ys.len()];
    let mut common = Vec::new();
    let mut only_x = Vec::new();
    for (i, (k, _)) in xs.iter().enumerate() {
        match index.get(k) {
            Some(&j) => {
                used[j] = true;
                common.push((i, j));
            }
            None => only_x.push(i),
        }
    }
    let only_y = (0..ys.len()).filter(|&j| !used[j]).collect();
    (common, only_x, only_y)
}

/// Whether the second indices of `common` (sorted by the first) are increasing.
fn same_order(common: &[(usize, usize)]) -> bool {
    common.windows(2).all(|w| w[0].1 < w[1].1)
}

/// Where a member is: `offset 8` (bytes), or `bit offset 67` where not at a whole byte.
fn offset_text(bits: u32) -> String {
    if bits & 7 == 0 {
        format!("offset {}", bits / 8)
    } else {
        format!("bit offset {bits}")
    }
}

/// Keys for the members of two structs or unions: named members by name (and occurrence);
/// anonymous members, which have no name, are matched first by offset and kind, then in
/// order among those of the same kind, and get keys that no name can take (names hold no
/// NUL).
type Keyed<'t> = Vec<((String, usize), &'t Member)>;
fn member_keys<'t>(a: &Btf, ta: &'t Type, b: &Btf, tb: &'t Type) -> (Keyed<'t>, Keyed<'t>) {
    let kind = |btf: &Btf, m: &Member| btf.type_by_id(m.ty).map(Type::kind);
    let anon = |btf: &Btf, t: &Type| -> Vec<usize> {
        (0..t.members().len())
            .filter(|&i| btf.str_at(t.members()[i].name_off).is_empty())
            .collect()
    };
    let (xa, xb) = (anon(a, ta), anon(b, tb));
    let (ms_a, ms_b) = (ta.members(), tb.members());
    let mut key_a: HashMap<usize, String> = HashMap::new();
    let mut key_b: HashMap<usize, String> = HashMap::new();
    let mut used = vec![false; xb.len()];
    let mut n = 0usize;
    for by_offset in [true, false] {
        for &i in &xa {
            if key_a.contains_key(&i) {
                continue;
            }
            let m = &ms_a[i];
            let found = xb.iter().enumerate().find(|&(k, &j)| {
                let o = &ms_b[j];
                !used[k]
                    && kind(a, m) == kind(b, o)
                    && (!by_offset || m.bit_offset(ta.kind_flag) == o.bit_offset(tb.kind_flag))
            });
            if let Some((k, &j)) = found {
                used[k] = true;
                key_a.insert(i, format!("\0anon{n}"));
                key_b.insert(j, format!("\0anon{n}"));
                n += 1;
            }
        }
    }
    let list = |btf: &Btf, t: &'t Type, keys: &HashMap<usize, String>, side: &str| {
        keyed(t.members().iter().enumerate().map(|(i, m)| {
            let name = match keys.get(&i) {
                Some(k) => k.clone(),
                None if btf.str_at(m.name_off).is_empty() => format!("\0{side}{i}"),
                None => btf.str_at(m.name_off).into_owned(),
            };
            (name, m)
        }))
    };
    (list(a, ta, &key_a, "a"), list(b, tb, &key_b, "b"))
}

impl<'a> Report<'a> {
    pub(crate) fn new(
        a: &'a Btf,
        b: &'a Btf,
        cls: &'a Classes,
        own_a: Range<TypeId>,
        own_b: Range<TypeId>,
    ) -> Report<'a> {
        let count = |side: Side, own: &Range<TypeId>| {
            let mut v = vec![0u32; cls.count];
            for id in own.clone() {
                if let Some(x) = v.get_mut(cls.of(side, id) as usize) {
                    *x += 1;
                }
            }
            v
        };
        let count_a = count(Side::A, &own_a);
        let count_b = count(Side::B, &own_b);
        Report {
            a,
            b,
            cls,
            own_a,
            own_b,
            count_a,
            count_b,
            lines: Vec::new(),
            suppressed: 0,
            seen: HashSet::new(),
            outside_seen: HashSet::new(),
        }
    }

    /// Whether the compared types of both sides hold every class equally often.
    pub(crate) fn balanced(&self) -> bool {
        self.count_a == self.count_b
    }

    /// Whether class `c` occurs a different number of times among the compared types of A
    /// and B.
    fn unbalanced(&self, c: u32) -> bool {
        self.count_a.get(c as usize) != self.count_b.get(c as usize)
    }

    fn push(&mut self, line: String) {
        self.lines.push(line);
    }

    /// Explains every difference between the compared types of both sides.
    pub(crate) fn explain(mut self) -> Explained {
        let (a, b) = (self.a, self.b);
        // The left-over types of each side: for each class, as many of its types as it has
        // more on this side than on the other. Types of one class are equal in meaning, so
        // which of them are taken does not change the report.
        let leftovers = |side: Side, own: &Range<TypeId>, mine: &[u32], theirs: &[u32]| {
            let mut surplus: Vec<u32> = mine
                .iter()
                .zip(theirs)
                .map(|(m, t)| m.saturating_sub(*t))
                .collect();
            let mut out = Vec::new();
            for id in own.clone() {
                if let Some(s) = surplus.get_mut(self.cls.of(side, id) as usize) {
                    if *s > 0 {
                        *s -= 1;
                        out.push(id);
                    }
                }
            }
            out
        };
        let left_a = leftovers(Side::A, &self.own_a, &self.count_a, &self.count_b);
        let left_b = leftovers(Side::B, &self.own_b, &self.count_b, &self.count_a);

        // Classes referred to by an unbalanced type of the same side: an anonymous left-over
        // type of such a class is explained through its referrer.
        let referred = |btf: &Btf, side: Side, own: &Range<TypeId>| {
            let mut v = vec![false; self.cls.count];
            for id in own.clone() {
                if !self.unbalanced(self.cls.of(side, id)) {
                    continue;
                }
                if let Some(t) = btf.type_by_id(id) {
                    t.for_each_ref(|r| {
                        if let Some(x) = v.get_mut(self.cls.of(side, r) as usize) {
                            *x = true;
                        }
                    });
                }
            }
            v
        };
        let referred_a = referred(a, Side::A, &self.own_a);
        let referred_b = referred(b, Side::B, &self.own_b);

        // Left-over types grouped by label: named types by their name and kind, anonymous
        // types that no left-over type refers to (types nobody refers to, or duplicates) by
        // their description, so that an anonymous type that changed only through a named type
        // it refers to pairs up with its counterpart and is not reported twice.
        let mut groups: BTreeMap<String, (Vec<TypeId>, Vec<TypeId>)> = BTreeMap::new();
        let mut only_a: Vec<TypeId> = Vec::new();
        let mut only_b: Vec<TypeId> = Vec::new();
        for &id in &left_a {
            match a.type_by_id(id).and_then(|t| key_label(a, t)) {
                Some(label) => groups.entry(label).or_default().0.push(id),
                None => {
                    let c = self.cls.of(Side::A, id) as usize;
                    if !referred_a.get(c).copied().unwrap_or(false) {
                        groups.entry(describe(a, id)).or_default().0.push(id);
                    }
                }
            }
        }
        for &id in &left_b {
            match b.type_by_id(id).and_then(|t| key_label(b, t)) {
                Some(label) => groups.entry(label).or_default().1.push(id),
                None => {
                    let c = self.cls.of(Side::B, id) as usize;
                    if !referred_b.get(c).copied().unwrap_or(false) {
                        groups.entry(describe(b, id)).or_default().1.push(id);
                    }
                }
            }
        }

        // How many compared types hold each label, on either side.
        let mut holders: HashMap<String, (usize, usize)> = HashMap::new();
        for (btf, own, first) in [(a, &self.own_a, true), (b, &self.own_b, false)] {
            for id in own.clone() {
                let Some(t) = btf.type_by_id(id) else {
                    continue;
                };
                if t.name_off == 0 {
                    continue;
                }
                if let Some(label) = key_label(btf, t).filter(|l| groups.contains_key(l)) {
                    let e = holders.entry(label).or_default();
                    if first {
                        e.0 += 1
                    } else {
                        e.1 += 1
                    }
                }
            }
        }

        let mut pairs_done: Vec<(String, TypeId, TypeId)> = Vec::new();
        for (label, (mut xs, mut ys)) in groups {
            let shared = holders.get(&label).is_some_and(|&(x, y)| x > 1 || y > 1);
            xs.sort_by_cached_key(|&id| describe(a, id));
            ys.sort_by_cached_key(|&id| describe(b, id));
            let pairs = self.pair_up(&label, &xs, &ys, shared);
            let mut used_x = vec![false; xs.len()];
            let mut used_y = vec![false; ys.len()];
            for &(i, j) in &pairs {
                used_x[i] = true;
                used_y[j] = true;
                self.compare_pair(&label, xs[i], ys[j]);
                pairs_done.push((label.clone(), xs[i], ys[j]));
            }
            only_a.extend(xs.iter().zip(&used_x).filter(|(_, &u)| !u).map(|(&x, _)| x));
            only_b.extend(ys.iter().zip(&used_y).filter(|(_, &u)| !u).map(|(&y, _)| y));
        }

        let only_in_a = self.only_in(Side::A, &only_a);
        let only_in_b = self.only_in(Side::B, &only_b);
        if self.lines.is_empty() && only_in_a.is_empty() && only_in_b.is_empty() {
            // Every difference was attributed to another type that in the end explained
            // nothing (possible only with duplicate definitions referring to each other):
            // still say where the difference is.
            for (label, _, _) in &pairs_done {
                self.lines.push(format!(
                    "{label}: changed in meaning (no local difference found)"
                ));
            }
            if pairs_done.is_empty() {
                self.lines
                    .push("types differ in meaning (no difference located)".to_string());
            }
        }
        let mut changed = std::mem::take(&mut self.lines);
        changed.sort();
        changed.dedup();
        Explained {
            changed,
            only_in_a,
            only_in_b,
        }
    }

    /// Descriptions of types found on one side only, sorted, identical descriptions merged
    /// with their count.
    fn only_in(&self, side: Side, ids: &[TypeId]) -> Vec<String> {
        let btf = match side {
            Side::A => self.a,
            Side::B => self.b,
        };
        let (theirs, other) = match side {
            Side::A => (&self.count_b, "B"),
            Side::B => (&self.count_a, "A"),
        };
        // Classes of the base types reached on either side: a split's own type of such a
        // class is a copy of a base type (one that deduplication did not fold into the base).
        let mut in_base = vec![false; self.cls.count];
        for (side, own) in [(Side::A, &self.own_a), (Side::B, &self.own_b)] {
            for id in 1..own.start {
                if let Some(x) = in_base.get_mut(self.cls.of(side, id) as usize) {
                    *x = true;
                }
            }
        }
        let mut counted: BTreeMap<(String, bool, bool), usize> = BTreeMap::new();
        for &id in ids {
            let c = self.cls.of(side, id) as usize;
            let also_there = theirs.get(c).copied().unwrap_or(0) > 0;
            let base = in_base.get(c).copied().unwrap_or(false);
            *counted
                .entry((describe(btf, id), also_there, base))
                .or_default() += 1;
        }
        counted
            .into_iter()
            .map(|((desc, also_there, base), n)| {
                let mut notes = Vec::new();
                if also_there {
                    notes.push(format!("{n} more than in {other}"));
                } else if n > 1 {
                    notes.push(format!("{n} copies"));
                }
                if base {
                    notes.push("same as a base type".to_string());
                }
                if notes.is_empty() {
                    desc
                } else {
                    format!("{desc} ({})", notes.join("; "))
                }
            })
            .collect()
    }

    /// Pairs the left-over types of one label: the pair with the fewest differing lines
    /// first. Returns pairs of indices into `xs` and `ys`.
    ///
    /// A label held by a single type on each side (a global function, most structs) names
    /// the same thing on both sides, so its two types always pair. A label `shared` by several
    /// types on a side (static functions of different files, duplicate definitions) may name
    /// unrelated things: those pair only when at most a third of their fields differ, and are
    /// otherwise reported as found on one side each.
    fn pair_up(
        &mut self,
        label: &str,
        xs: &[TypeId],
        ys: &[TypeId],
        shared: bool,
    ) -> Vec<(usize, usize)> {
        if xs.is_empty() || ys.is_empty() {
            return Vec::new();
        }
        if !shared && xs.len() == 1 && ys.len() == 1 {
            return vec![(0, 0)];
        }
        if xs.len() * ys.len() > MAX_PAIRING_TRIALS {
            return (0..xs.len().min(ys.len())).map(|i| (i, i)).collect();
        }
        let mut costs = Vec::new();
        for (i, &x) in xs.iter().enumerate() {
            for (j, &y) in ys.iter().enumerate() {
                let cost = self.trial_cost(label, x, y);
                let fields = self.fields(Side::A, x).max(self.fields(Side::B, y));
                if !shared || cost <= (fields / 3).max(1) {
                    costs.push((cost, i, j));
                }
            }
        }
        costs.sort();
        let mut used_x = vec![false; xs.len()];
        let mut used_y = vec![false; ys.len()];
        let mut pairs = Vec::new();
        for (_, i, j) in costs {
            if !used_x[i] && !used_y[j] {
                used_x[i] = true;
                used_y[j] = true;
                pairs.push((i, j));
            }
        }
        pairs.sort();
        pairs
    }

    /// How many fields a type has that a comparison can report on: members, enumerators,
    /// parameters (with the return type) or variables, and at least one.
    fn fields(&self, side: Side, id: TypeId) -> usize {
        let btf = match side {
            Side::A => self.a,
            Side::B => self.b,
        };
        let Some(t) = btf.type_by_id(id) else {
            return 1;
        };
        let t = match t.data {
            TypeData::Func { proto, .. } => btf.type_by_id(proto).unwrap_or(t),
            _ => t,
        };
        let n = match &t.data {
            TypeData::FuncProto { params, .. } => params.len() + 1,
            TypeData::Datasec { vars, .. } => vars.len(),
            _ => t.vlen() as usize,
        };
        n.max(1)
    }

    /// How many lines comparing `x` and `y` gives, without keeping them.
    fn trial_cost(&mut self, label: &str, x: TypeId, y: TypeId) -> usize {
        let lines = self.lines.len();
        let suppressed = self.suppressed;
        let outside = self.outside_seen.clone();
        self.seen.clear();
        self.compare_top(label, x, y, 0);
        let cost = self.lines.len() - lines;
        self.lines.truncate(lines);
        self.suppressed = suppressed;
        self.outside_seen = outside;
        cost
    }

    /// Compares a pair of left-over types of one label.
    fn compare_pair(&mut self, label: &str, x: TypeId, y: TypeId) {
        let (lines, suppressed) = (self.lines.len(), self.suppressed);
        self.seen.clear();
        self.compare_top(label, x, y, 0);
        if self.lines.len() == lines && self.suppressed == suppressed {
            self.push(format!(
                "{label}: changed in meaning (no local difference found)"
            ));
        }
    }

    /// Compares type `x` of A with type `y` of B by their own content, reporting under
    /// `label`.
    fn compare_top(&mut self, label: &str, x: TypeId, y: TypeId, depth: usize) {
        if depth > MAX_WALK {
            self.push(format!("{label}: nested too deep to compare"));
            return;
        }
        let (a, b) = (self.a, self.b);
        let (Some(ta), Some(tb)) = (a.type_by_id(x), b.type_by_id(y)) else {
            let (na, nb) = (type_name(a, x), type_name(b, y));
            self.push(format!("{label}: type changed ({na} -> {nb})"));
            return;
        };
        let (ka, kb) = (ta.kind(), tb.kind());
        let is_enum = |k| matches!(k, Kind::Enum | Kind::Enum64);
        if ka != kb && !(is_enum(ka) && is_enum(kb)) {
            self.push(format!("{label}: kind changed {ka} -> {kb}"));
            return;
        }
        use TypeData as D;
        match (&ta.data, &tb.data) {
            (D::Struct { .. }, _) | (D::Union { .. }, _) => self.composite(label, ta, tb, depth),
            (D::Enum { .. } | D::Enum64 { .. }, _) => self.enumeration(label, ta, tb),
            (
                D::Int {
                    size: s1,
                    encoding: e1,
                    offset: o1,
                    bits: b1,
                },
                D::Int {
                    size: s2,
                    encoding: e2,
                    offset: o2,
                    bits: b2,
                },
            ) => {
                if s1 != s2 {
                    self.push(format!("{label}: size changed {s1} -> {s2}"));
                }
                if e1 != e2 {
                    let (e1, e2) = (int_encoding(*e1), int_encoding(*e2));
                    self.push(format!("{label}: encoding changed {e1} -> {e2}"));
                }
                if o1 != o2 {
                    self.push(format!("{label}: bit offset changed {o1} -> {o2}"));
                }
                if b1 != b2 {
                    self.push(format!("{label}: bits changed {b1} -> {b2}"));
                }
            }
            (D::Float { size: s1 }, D::Float { size: s2 }) => {
                if s1 != s2 {
                    self.push(format!("{label}: size changed {s1} -> {s2}"));
                }
            }
            (D::Fwd { .. }, D::Fwd { .. }) => {
                if ta.kind_flag != tb.kind_flag {
                    let word = |u: bool| if u { "union" } else { "struct" };
                    let (w1, w2) = (word(ta.kind_flag), word(tb.kind_flag));
                    self.push(format!(
                        "{label}: forward declaration changed from {w1} to {w2}"
                    ));
                }
            }
            (
                D::Array {
                    elem: e1,
                    index: i1,
                    nelems: n1,
                },
                D::Array {
                    elem: e2,
                    index: i2,
                    nelems: n2,
                },
            ) => {
                if n1 != n2 {
                    self.push(format!("{label}: element count changed {n1} -> {n2}"));
                }
                self.ref_cmp(label, "element", *e1, *e2, depth);
                self.ref_cmp(label, "index", *i1, *i2, depth);
            }
            (
                D::Func {
                    proto: p1,
                    linkage: l1,
                },
                D::Func {
                    proto: p2,
                    linkage: l2,
                },
            ) => {
                if l1 != l2 {
                    let (l1, l2) = (func_linkage(*l1), func_linkage(*l2));
                    self.push(format!("{label}: linkage changed {l1} -> {l2}"));
                }
                match (a.type_by_id(*p1), b.type_by_id(*p2)) {
                    (Some(pa), Some(pb))
                        if pa.kind() == Kind::FuncProto && pb.kind() == Kind::FuncProto =>
                    {
                        if self.cls.of(Side::A, *p1) != self.cls.of(Side::B, *p2) {
                            self.prototype(label, pa, pb, depth)
                        }
                    }
                    _ => self.ref_cmp(label, "prototype", *p1, *p2, depth),
                }
            }
            (D::FuncProto { .. }, D::FuncProto { .. }) => self.prototype(label, ta, tb, depth),
            (
                D::Var {
                    ty: t1,
                    linkage: l1,
                },
                D::Var {
                    ty: t2,
                    linkage: l2,
                },
            ) => {
                if l1 != l2 {
                    let (l1, l2) = (var_linkage(*l1), var_linkage(*l2));
                    self.push(format!("{label}: linkage changed {l1} -> {l2}"));
                }
                self.ref_cmp(label, "", *t1, *t2, depth);
            }
            (D::Datasec { .. }, D::Datasec { .. }) => self.datasec(label, ta, tb, depth),
            (
                D::DeclTag {
                    ty: t1,
                    component_idx: c1,
                },
                D::DeclTag {
                    ty: t2,
                    component_idx: c2,
                },
            ) => {
                if c1 != c2 {
                    self.push(format!("{label}: component changed {c1} -> {c2}"));
                }
                self.ref_cmp(label, "target", *t1, *t2, depth);
            }
            _ => {
                // Pointers, typedefs, modifiers and type tags: a name (typedefs, tags) and one
                // reference.
                let (n1, n2) = (a.str_at(ta.name_off), b.str_at(tb.name_off));
                if n1 != n2 {
                    self.push(format!("{label}: name changed '{n1}' -> '{n2}'"));
                }
                match (ta.ref_type(), tb.ref_type()) {
                    (Some(r1), Some(r2)) => self.ref_cmp(label, "", r1, r2, depth),
                    _ => self.push(format!("{label}: changed")),
                }
            }
        }
    }

    /// Compares two references `x` (of A) and `y` (of B) found at the same place, `what`
    /// naming the place (`member 'x'`, `parameter 2`, or "" for the type's own reference).
    fn ref_cmp(&mut self, label: &str, what: &str, x: TypeId, y: TypeId, depth: usize) {
        if self.cls.of(Side::A, x) == self.cls.of(Side::B, y) {
            return;
        }
        let (na, nb) = (type_name(self.a, x), type_name(self.b, y));
        if na != nb {
            let place = if what.is_empty() {
                String::new()
            } else {
                format!("{what} ")
            };
            self.push(format!("{label}: {place}type changed ({na} -> {nb})"));
            return;
        }
        let place = if what.is_empty() {
            label.to_string()
        } else {
            format!("{label}: {what}")
        };
        self.walk(&place, x, y, depth + 1);
    }

    /// Follows two references that read the same, to find where they differ in meaning.
    fn walk(&mut self, place: &str, x: TypeId, y: TypeId, depth: usize) {
        if self.cls.of(Side::A, x) == self.cls.of(Side::B, y) {
            return;
        }
        if !self.seen.insert((x, y)) {
            return;
        }
        if depth > MAX_WALK {
            self.push(format!("{place}: nested too deep to compare"));
            return;
        }
        let (a, b) = (self.a, self.b);
        let (Some(ta), Some(tb)) = (a.type_by_id(x), b.type_by_id(y)) else {
            let name = type_name(a, x);
            self.push(format!("{place}: type changed in meaning ({name})"));
            return;
        };
        if ta.kind() != tb.kind() {
            let name = type_name(a, x);
            let (ka, kb) = (ta.kind(), tb.kind());
            self.push(format!("{place}: type {name} changed kind {ka} -> {kb}"));
            return;
        }
        if let Some(key) = key_label(a, ta) {
            self.named_target(place, &key, x, y, depth);
            return;
        }
        match (&ta.data, &tb.data) {
            (
                TypeData::Array {
                    elem: e1,
                    index: i1,
                    ..
                },
                TypeData::Array {
                    elem: e2,
                    index: i2,
                    ..
                },
            ) => {
                self.walk(place, *e1, *e2, depth + 1);
                self.walk(place, *i1, *i2, depth + 1);
            }
            (
                TypeData::Ptr { ty: r1 }
                | TypeData::Const { ty: r1 }
                | TypeData::Volatile { ty: r1 }
                | TypeData::Restrict { ty: r1 }
                | TypeData::TypeTag { ty: r1 },
                TypeData::Ptr { ty: r2 }
                | TypeData::Const { ty: r2 }
                | TypeData::Volatile { ty: r2 }
                | TypeData::Restrict { ty: r2 }
                | TypeData::TypeTag { ty: r2 },
            ) => self.walk(place, *r1, *r2, depth + 1),
            _ => self.compare_top(place, x, y, depth + 1),
        }
    }

    /// Two references to named types of the same label that differ in meaning.
    fn named_target(&mut self, place: &str, key: &str, x: TypeId, y: TypeId, depth: usize) {
        let own_x = self.own_a.contains(&x);
        let own_y = self.own_b.contains(&y);
        if (own_x && self.unbalanced(self.cls.of(Side::A, x)))
            || (own_y && self.unbalanced(self.cls.of(Side::B, y)))
        {
            // The target is left over and reported under its own label.
            self.suppressed += 1;
            return;
        }
        if own_x && own_y {
            // Both targets are matched, each to an equal type on the other side: there are
            // several definitions under this label and the reference chose another one.
            self.push(format!(
                "{place}: refers to a different definition of {key}"
            ));
            return;
        }
        // A type outside the compared types (a base type) differs: explain it once, under
        // its own label.
        self.suppressed += 1;
        if !self.outside_seen.insert((x, y)) {
            return;
        }
        let label = match (own_x, own_y) {
            (false, false) => format!("{key} (base)"),
            (true, _) => format!("{key} (base in B)"),
            (_, true) => format!("{key} (base in A)"),
        };
        let saved = std::mem::take(&mut self.seen);
        let (lines, suppressed) = (self.lines.len(), self.suppressed);
        self.compare_top(&label, x, y, depth + 1);
        if self.lines.len() == lines && self.suppressed == suppressed {
            self.push(format!(
                "{label}: changed in meaning (no local difference found)"
            ));
        }
        self.seen = saved;
    }

    /// How a member is called in a report: `member 'x'`, or `anonymous union at offset 8`.
    fn member_label(btf: &Btf, m: &Member, kind_flag: bool) -> String {
        let name = btf.str_at(m.name_off);
        if !name.is_empty() {
            return format!("member '{name}'");
        }
        let what = match btf.type_by_id(m.ty).map(Type::kind) {
            Some(Kind::Struct) => "struct",
            Some(Kind::Union) => "union",
            _ => "member",
        };
        let off = offset_text(m.bit_offset(kind_flag));
        format!("anonymous {what} at {off}")
    }

    /// Compares two structs or two unions.
    fn composite(&mut self, label: &str, ta: &Type, tb: &Type, depth: usize) {
        let (a, b) = (self.a, self.b);
        if let (Some(s1), Some(s2)) = (ta.size(), tb.size()) {
            if s1 != s2 {
                self.push(format!("{label}: size changed {s1} -> {s2}"));
            }
        }
        let (kf1, kf2) = (ta.kind_flag, tb.kind_flag);
        if kf1 != kf2 {
            self.push(format!(
                "{label}: kind_flag (bitfield encoding) changed {} -> {}",
                kf1 as u8, kf2 as u8
            ));
        }
        let (ma, mb) = member_keys(a, ta, b, tb);
        let (common, removed, added) = match_keys(&ma, &mb);

        // A removed and an added named member at the same place, of the same size and type
        // name, is a rename.
        let mut renamed: Vec<(usize, usize)> = Vec::new();
        let mut added_used = vec![false; added.len()];
        for &i in &removed {
            let m1 = ma[i].1;
            if m1.name_off == 0 || a.str_at(m1.name_off).is_empty() {
                continue;
            }
            let t1 = type_name(a, m1.ty);
            let found = added.iter().enumerate().find(|&(k, &j)| {
                let m2 = mb[j].1;
                !added_used[k]
                    && !b.str_at(m2.name_off).is_empty()
                    && m1.bit_offset(kf1) == m2.bit_offset(kf2)
                    && m1.bitfield_size(kf1) == m2.bitfield_size(kf2)
                    && t1 == type_name(b, m2.ty)
            });
            if let Some((k, &j)) = found {
                added_used[k] = true;
                renamed.push((i, j));
            }
        }
        for &(i, j) in &renamed {
            let (n1, n2) = (&ma[i].0 .0, &mb[j].0 .0);
            self.push(format!("{label}: member '{n1}' renamed to '{n2}'"));
            let what = format!("member '{n2}'");
            self.ref_cmp(label, &what, ma[i].1.ty, mb[j].1.ty, depth);
        }
        for &i in &removed {
            if renamed.iter().any(|&(r, _)| r == i) {
                continue;
            }
            let what = Self::member_label(a, ma[i].1, kf1);
            self.push(format!("{label}: {what} removed"));
        }
        for (k, &j) in added.iter().enumerate() {
            if added_used[k] {
                continue;
            }
            let m = mb[j].1;
            let what = Self::member_label(b, m, kf2);
            if b.str_at(m.name_off).is_empty() {
                self.push(format!("{label}: {what} added"));
            } else {
                let d = member_decl(b, "", m.ty, m.bitfield_size(kf2));
                let off = offset_text(m.bit_offset(kf2));
                self.push(format!("{label}: {what} added ({d} at {off})"));
            }
        }
        for &(i, j) in &common {
            let (m1, m2) = (ma[i].1, mb[j].1);
            let what = Self::member_label(a, m1, kf1);
            let (o1, o2) = (m1.bit_offset(kf1), m2.bit_offset(kf2));
            if o1 != o2 {
                if (o1 | o2) & 7 == 0 {
                    let (o1, o2) = (o1 / 8, o2 / 8);
                    self.push(format!("{label}: {what} offset changed {o1} -> {o2}"));
                } else {
                    self.push(format!("{label}: {what} bit offset changed {o1} -> {o2}"));
                }
            }
            let (b1, b2) = (m1.bitfield_size(kf1), m2.bitfield_size(kf2));
            if b1 != b2 {
                self.push(format!(
                    "{label}: {what} bitfield size changed {b1} -> {b2}"
                ));
            }
            self.ref_cmp(label, &what, m1.ty, m2.ty, depth);
        }
        if !same_order(&common) {
            self.push(format!("{label}: member order changed"));
        }
    }

    /// Compares two enums (ENUM or ENUM64).
    fn enumeration(&mut self, label: &str, ta: &Type, tb: &Type) {
        let (a, b) = (self.a, self.b);
        let (ka, kb) = (ta.kind(), tb.kind());
        if ka != kb {
            self.push(format!("{label}: kind changed {ka} -> {kb}"));
        }
        if let (Some(s1), Some(s2)) = (ta.size(), tb.size()) {
            if s1 != s2 {
                self.push(format!("{label}: size changed {s1} -> {s2}"));
            }
        }
        if ta.kind_flag != tb.kind_flag {
            let word = |s: bool| if s { "signed" } else { "unsigned" };
            let (w1, w2) = (word(ta.kind_flag), word(tb.kind_flag));
            self.push(format!("{label}: signedness changed {w1} -> {w2}"));
        }
        let va = keyed(enum_values(a, ta));
        let vb = keyed(enum_values(b, tb));
        let (common, removed, added) = match_keys(&va, &vb);
        let mut added_used = vec![false; added.len()];
        for &i in &removed {
            // The same value at the same position under another name is a rename.
            let rename = added
                .iter()
                .enumerate()
                .find(|&(k, &j)| !added_used[k] && j == i && va[i].1 == vb[j].1);
            let n1 = &va[i].0 .0;
            match rename {
                Some((k, &j)) => {
                    added_used[k] = true;
                    let n2 = &vb[j].0 .0;
                    self.push(format!("{label}: value '{n1}' renamed to '{n2}'"));
                }
                None => self.push(format!("{label}: value '{n1}' removed")),
            }
        }
        for (k, &j) in added.iter().enumerate() {
            if !added_used[k] {
                let (n2, v2) = (&vb[j].0 .0, &vb[j].1);
                self.push(format!("{label}: value '{n2}' added (= {v2})"));
            }
        }
        for &(i, j) in &common {
            if va[i].1 != vb[j].1 {
                let (n, v1, v2) = (&va[i].0 .0, &va[i].1, &vb[j].1);
                self.push(format!("{label}: value '{n}' changed {v1} -> {v2}"));
            }
        }
        if !same_order(&common) {
            self.push(format!("{label}: value order changed"));
        }
    }

    /// Compares two function prototypes: return type and parameters by position.
    fn prototype(&mut self, label: &str, ta: &Type, tb: &Type, depth: usize) {
        let (a, b) = (self.a, self.b);
        let (
            TypeData::FuncProto {
                ret: r1,
                params: p1,
            },
            TypeData::FuncProto {
                ret: r2,
                params: p2,
            },
        ) = (&ta.data, &tb.data)
        else {
            return;
        };
        self.ref_cmp(label, "return", *r1, *r2, depth);
        let param_decl = |btf: &Btf, name: &str, ty: TypeId| {
            if ty == 0 {
                "...".to_string()
            } else {
                member_decl(btf, name, ty, 0)
            }
        };
        for (i, (x, y)) in p1.iter().zip(p2.iter()).enumerate() {
            let n = i + 1;
            let (n1, n2) = (a.str_at(x.name_off), b.str_at(y.name_off));
            if n1 != n2 {
                self.push(format!("{label}: parameter {n} renamed '{n1}' -> '{n2}'"));
            }
            if x.ty == 0 || y.ty == 0 {
                if x.ty != y.ty {
                    let (d1, d2) = (param_decl(a, "", x.ty), param_decl(b, "", y.ty));
                    self.push(format!(
                        "{label}: parameter {n} type changed ({d1} -> {d2})"
                    ));
                }
                continue;
            }
            self.ref_cmp(label, &format!("parameter {n}"), x.ty, y.ty, depth);
        }
        for (i, x) in p1.iter().enumerate().skip(p2.len()) {
            let d = param_decl(a, &a.str_at(x.name_off), x.ty);
            self.push(format!("{label}: parameter {} removed ({d})", i + 1));
        }
        for (i, y) in p2.iter().enumerate().skip(p1.len()) {
            let d = param_decl(b, &b.str_at(y.name_off), y.ty);
            self.push(format!("{label}: parameter {} added ({d})", i + 1));
        }
    }

    /// Compares two DATASECs: size, and variables by name.
    fn datasec(&mut self, label: &str, ta: &Type, tb: &Type, depth: usize) {
        let (a, b) = (self.a, self.b);
        let (TypeData::Datasec { size: s1, vars: v1 }, TypeData::Datasec { size: s2, vars: v2 }) =
            (&ta.data, &tb.data)
        else {
            return;
        };
        if s1 != s2 {
            self.push(format!("{label}: size changed {s1} -> {s2}"));
        }
        let va = keyed(v1.iter().map(|v| (a.name_of(v.ty).into_owned(), v)));
        let vb = keyed(v2.iter().map(|v| (b.name_of(v.ty).into_owned(), v)));
        let (common, removed, added) = match_keys(&va, &vb);
        for &i in &removed {
            let n = &va[i].0 .0;
            self.push(format!("{label}: var '{n}' removed"));
        }
        for &j in &added {
            let (n, v) = (&vb[j].0 .0, vb[j].1);
            self.push(format!(
                "{label}: var '{n}' added at offset {} (size {})",
                v.offset, v.size
            ));
        }
        for &(i, j) in &common {
            let (n, x, y) = (&va[i].0 .0, va[i].1, vb[j].1);
            if x.offset != y.offset {
                self.push(format!(
                    "{label}: var '{n}' offset changed {} -> {}",
                    x.offset, y.offset
                ));
            }
            if x.size != y.size {
                self.push(format!(
                    "{label}: var '{n}' size changed {} -> {}",
                    x.size, y.size
                ));
            }
            self.ref_cmp(label, &format!("var '{n}'"), x.ty, y.ty, depth);
        }
        if !same_order(&common) {
            self.push(format!("{label}: var order changed"));
        }
    }
}
