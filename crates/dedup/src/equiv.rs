//! The graph equivalence check between a candidate struct and a canonical struct (libbpf's
//! `btf_dedup_is_equiv`), and what a successful check teaches (`btf_dedup_merge_hypot_map`).
//!
//! # The check
//!
//! Both type graphs are walked side by side, depth first, from the two structs: a pair
//! (candidate-side id, canonical-side id) is equivalent when both ids already resolve to the
//! same representative, or when the two types are equal in everything but referenced ids
//! and their referenced ids, pair by pair, are equivalent. The walk records in the
//! *hypothetical map* which candidate-side type each canonical-side type stands for; meeting
//! a canonical-side type again, it must stand for the same candidate (this is how cycles
//! end), otherwise the graphs differ. Two relaxations, for compilers that emit one C type
//! twice within a compilation unit: a second candidate is accepted if it is an ARRAY equal
//! to the first one, ids included, or a STRUCT/UNION identical to the first one member by
//! member, where member types are the same id or, recursively, identical arrays or structs
//! (libbpf 1.1; libbpf 1.0 required the same member ids).
//!
//! Forward declarations: a FWD on the canonical side that already resolves to a struct is
//! replaced by it; otherwise a FWD and a STRUCT/UNION of the same name and matching kind
//! are equivalent (the FWD stands for the struct). If the canonical-side FWD is in the base
//! of split BTF, the base would have to change to accept the match, so the check notes it
//! ([`State::hypot_adjust_canon`]) and the struct pass does not merge.
//!
//! The walk is iterative, with an explicit stack that visits pairs in exactly the order of
//! libbpf's recursion (node, then each child's whole subtree in order), so that the
//! hypothetical map, and hence what is merged, is the same; deep graphs cannot overflow the
//! call stack.
//!
//! # Merging
//!
//! After a successful check the hypothetical map is used to resolve FWDs to the structs they
//! stood for (in either direction, and a base FWD towards a split struct even when the
//! check needed the base adjusted), and, to save later work, to map candidate-side structs
//! to canonical-side structs that already have a representative.

use kbtf_btf::Kind;

use crate::error::DedupError;
use crate::flat::*;
use crate::sig::*;
use crate::state::{State, MAX_ID, UNPROCESSED};

/// Nesting limit of [`State::identical_structs`]: structs nest by value far less deeply in
/// C; the limit only stops invalid BTF (a struct containing itself) from recursing forever.
const IDENTICAL_DEPTH_LIMIT: u32 = 256;

/// The kind a FWD declares: UNION with kind_flag set, else STRUCT (`btf_fwd_kind`).
fn fwd_kind(r: &Rec) -> u32 {
    if r.kflag() {
        UNION
    } else {
        STRUCT
    }
}

impl State {
    /// Forgets the hypothetical map (`btf_dedup_clear_hypot_map`).
    pub(crate) fn clear_hypot(&mut self) {
        for &id in &self.hypot_list {
            self.hypot[id as usize] = UNPROCESSED;
        }
        self.hypot_list.clear();
        self.hypot_merge.clear();
        self.hypot_adjust_canon = false;
    }

    /// Two ARRAYs equal, ids included (`btf_dedup_identical_arrays`).
    fn identical_arrays(&self, a: u32, b: u32) -> bool {
        self.flat.kind(a) == ARRAY && self.flat.kind(b) == ARRAY && equal_array(&self.flat, a, b)
    }

    /// Two STRUCTs or two UNIONs equal member by member, member types being the same id or
    /// identical arrays or structs (`btf_dedup_identical_structs`, libbpf 1.1).
    fn identical_structs(&self, a: u32, b: u32, depth: u32) -> bool {
        let ka = self.flat.kind(a);
        if !matches!(ka, STRUCT | UNION) || ka != self.flat.kind(b) {
            return false;
        }
        if depth > IDENTICAL_DEPTH_LIMIT || !shallow_equal_struct(&self.flat, a, b) {
            return false;
        }
        let (wa, wb) = (self.flat.words(a), self.flat.words(b));
        wa.chunks_exact(3).zip(wb.chunks_exact(3)).all(|(x, y)| {
            x[1] == y[1]
                || self.identical_arrays(x[1], y[1])
                || self.identical_structs(x[1], y[1], depth + 1)
        })
    }

    /// Whether the graph of `cand` (a struct being deduplicated) is equivalent to the graph
    /// of `canon` (a candidate representative). The hypothetical map must be clear; it holds
    /// the correspondence found when this returns `Ok(true)`. `stack` is scratch space.
    pub(crate) fn is_equiv(
        &mut self,
        cand: u32,
        canon: u32,
        stack: &mut Vec<(u32, u32)>,
    ) -> Result<bool, DedupError> {
        let root = cand;
        stack.clear();
        stack.push((cand, canon));
        while let Some((cand_id, canon_id)) = stack.pop() {
            if self.resolve(cand_id) == self.resolve(canon_id) {
                continue;
            }
            let canon_id = self.resolve_fwd(canon_id);
            let hypot = self.hypot[canon_id as usize];
            if hypot <= MAX_ID {
                if hypot == cand_id
                    || self.identical_arrays(hypot, cand_id)
                    || self.identical_structs(hypot, cand_id, 0)
                {
                    continue;
                }
                return Ok(false);
            }
            self.hypot_list.push(canon_id);
            self.hypot[canon_id as usize] = cand_id;

            let ct = *self.flat.rec(cand_id);
            let kt = *self.flat.rec(canon_id);
            if ct.name_off != kt.name_off {
                return Ok(false);
            }
            let (ck, kk) = (ct.kind(), kt.kind());
            if matches!(ck, FWD | STRUCT | UNION) || matches!(kk, FWD | STRUCT | UNION) {
                self.hypot_merge.push(canon_id);
            }
            if (ck == FWD || kk == FWD) && ck != kk {
                let (real_kind, fwd) = if ck == FWD {
                    (kk, fwd_kind(&ct))
                } else {
                    let fwd = fwd_kind(&kt);
                    if fwd == ck && canon_id < self.start {
                        // Accepting would resolve a base FWD to a split struct.
                        self.hypot_adjust_canon = true;
                    }
                    (ck, fwd)
                };
                if fwd == real_kind {
                    continue;
                }
                return Ok(false);
            }
            if ck != kk {
                return Ok(false);
            }
            let f = &self.flat;
            match ck {
                INT => {
                    if !equal_int_tag(f, cand_id, canon_id) {
                        return Ok(false);
                    }
                }
                ENUM | ENUM64 => {
                    if !compat_enum(f, cand_id, canon_id) {
                        return Ok(false);
                    }
                }
                FWD | FLOAT => {
                    if !equal_common(&ct, &kt) {
                        return Ok(false);
                    }
                }
                CONST | VOLATILE | RESTRICT | PTR | TYPEDEF | FUNC | TYPE_TAG => {
                    if ct.info != kt.info {
                        return Ok(false);
                    }
                    stack.push((ct.st, kt.st));
                }
                ARRAY => {
                    if !compat_array(f, cand_id, canon_id) {
                        return Ok(false);
                    }
                    let (cw, kw) = (f.words(cand_id), f.words(canon_id));
                    // libbpf compares the index type first, then the element type.
                    stack.push((cw[0], kw[0]));
                    stack.push((cw[1], kw[1]));
                }
                STRUCT | UNION => {
                    if !shallow_equal_struct(f, cand_id, canon_id) {
                        return Ok(false);
                    }
                    let (cw, kw) = (f.words(cand_id), f.words(canon_id));
                    for (cm, km) in cw.chunks_exact(3).zip(kw.chunks_exact(3)).rev() {
                        stack.push((cm[1], km[1]));
                    }
                }
                FUNC_PROTO => {
                    if !compat_fnproto(f, cand_id, canon_id) {
                        return Ok(false);
                    }
                    let (cw, kw) = (f.words(cand_id), f.words(canon_id));
                    for (cp, kp) in cw.chunks_exact(2).zip(kw.chunks_exact(2)).rev() {
                        stack.push((cp[1], kp[1]));
                    }
                    // The return type first.
                    stack.push((ct.st, kt.st));
                }
                other => {
                    return Err(match Kind::from_u32(other) {
                        Some(kind) => DedupError::UnexpectedKind {
                            id: cand_id,
                            kind,
                            from: root,
                        },
                        None => DedupError::Internal {
                            id: cand_id,
                            what: "type of no kind in a struct graph",
                        },
                    })
                }
            }
        }
        Ok(true)
    }

    /// Records what a successful equivalence check found (`btf_dedup_merge_hypot_map`).
    ///
    /// libbpf visits every entry of the map; this visits those of [`State::hypot_merge`],
    /// in the same order, which are all that can change anything. An entry does something
    /// only when one side, followed through the canonical map, is a FWD, STRUCT or UNION.
    /// Following the map changes no kind but a FWD's (to a STRUCT or UNION), and in a check
    /// that succeeded both sides of an entry have one kind unless one of them is a FWD; so
    /// an entry does something only if one side is a FWD, STRUCT or UNION as it was met.
    pub(crate) fn merge_hypot(&mut self) {
        for i in 0..self.hypot_merge.len() {
            let canon = self.hypot_merge[i];
            let targ = self.hypot[canon as usize];
            let t_id = self.resolve(targ);
            let c_id = self.resolve(canon);
            let t_kind = self.flat.kind(t_id);
            let c_kind = self.flat.kind(c_id);
            // A FWD resolves to the struct it stood for, even a base FWD to a split struct:
            // split FWDs equal to it then follow it there.
            if t_kind != FWD && c_kind == FWD {
                self.map[c_id as usize] = t_id;
            }
            // If accepting needed the base changed, the graphs count as different: nothing
            // more is recorded.
            if self.hypot_adjust_canon {
                continue;
            }
            if t_kind == FWD && c_kind != FWD {
                self.map[t_id as usize] = c_id;
            }
            if matches!(t_kind, STRUCT | UNION)
                && c_kind != FWD
                && self.is_mapped(c_id)
                && !self.is_mapped(t_id)
            {
                self.map[t_id as usize] = c_id;
            }
        }
    }
}
