//! `btf_check_type_tags`: in every chain of modifiers (TYPEDEF, VOLATILE, CONST, RESTRICT,
//! TYPE_TAG) starting at an own type, TYPE_TAGs come before the other modifiers, and chains are
//! at most 32 long (which also catches modifier cycles). 6.1 runs this for all BTF, kernel BTF
//! included. Chains are followed into the base, but a chain stops at a type already checked.

use super::ty::{by_id, describe, Ty};
use super::{problem, Phase, Problem, ProblemClass};
use crate::btf::Btf;

pub(super) fn check(btf: &Btf, out: &mut Vec<Problem>) {
    // The kernel's good_id: every modifier up to it starts a good chain.
    let mut good_id = btf.start_id() as i64 - 1;
    for (i, t) in btf.iter() {
        let mut cur = Ty::T(t);
        if !cur.is_modifier() {
            continue;
        }
        let mut in_tags = cur.is_type_tag();
        let mut chain_limit = 32;
        let mut cur_id = i;
        let mut broken = None;
        while cur.is_modifier() {
            if chain_limit == 0 {
                broken = Some((
                    "Max chain length or cycle detected",
                    "chain of modifiers is longer than 32 or a cycle".to_string(),
                ));
                break;
            }
            chain_limit -= 1;
            if cur.is_type_tag() {
                if !in_tags {
                    broken = Some((
                        "Type tags don't precede modifiers",
                        format!(
                            "TYPE_TAG {} follows a non-tag modifier in the chain",
                            describe(btf, cur_id)
                        ),
                    ));
                    break;
                }
            } else {
                in_tags = false;
            }
            if cur_id as i64 <= good_id {
                break;
            }
            cur_id = cur.type_word();
            match by_id(btf, cur_id) {
                Some(next) => cur = next,
                None => {
                    broken = Some((
                        "Invalid type_id",
                        format!("chain of modifiers reaches {}", describe(btf, cur_id)),
                    ));
                    break;
                }
            }
        }
        if let Some((rule, message)) = broken {
            out.push(problem(
                btf,
                i,
                t,
                ProblemClass::Invalid,
                Phase::TypeTags,
                rule,
                message,
            ));
        }
        good_id = i as i64;
    }
}
