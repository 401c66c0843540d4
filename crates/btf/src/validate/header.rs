//! Header and section layout rules the parser leaves to us: `btf_parse_hdr` (unknown header
//! fields), `btf_check_sec_info` (no gaps, overlaps or trailing data), `btf_parse_str_sec`
//! (string section last, at most `BTF_MAX_NAME_OFFSET` long) and `btf_parse_type_sec` ("No
//! type found").
//!
//! BTF built in memory (no header read) has nothing to check here.

use super::names::MAX_NAME_OFFSET;
use super::{Phase, Problem, ProblemClass};
use crate::btf::{Btf, HEADER_LEN};

fn header_problem(phase: Phase, rule: &'static str, message: String) -> Problem {
    Problem {
        id: None,
        kind: None,
        name: String::new(),
        class: ProblemClass::Invalid,
        phase,
        rule,
        message,
    }
}

pub(super) fn check(btf: &Btf, out: &mut Vec<Problem>) {
    let Some(h) = btf.header() else {
        return;
    };
    let ext = btf.header_ext();
    if let Some(pos) = ext.iter().position(|&b| b != 0) {
        out.push(header_problem(
            Phase::Header,
            "Unsupported btf_header",
            format!(
                "header is {} bytes and byte {} is not zero: 6.1 knows only the first {HEADER_LEN}",
                h.hdr_len,
                HEADER_LEN + pos
            ),
        ));
    }

    // The parser found both sections in bounds; what lies after the later one is kept as
    // trailing data, so the data after the header is this long.
    let type_end = h.type_off as u64 + h.type_len as u64;
    let str_end = h.str_off as u64 + h.str_len as u64;
    let body_len = type_end.max(str_end) + btf.trailing().len() as u64;
    if let Some(p) = check_sec_info(h.type_off, h.type_len, h.str_off, h.str_len, body_len) {
        out.push(p);
    }
    if str_end != body_len {
        out.push(header_problem(
            Phase::Strings,
            "String section is not at the end",
            format!(
                "string section ends at {str_end} but the data after the header is {body_len} bytes"
            ),
        ));
    }
    let has_strings = btf.base().is_none() || h.str_len > 0;
    if has_strings && h.str_len.saturating_sub(1) > MAX_NAME_OFFSET {
        out.push(header_problem(
            Phase::Strings,
            "Invalid string section",
            format!(
                "string section is {} bytes, more than BTF_MAX_NAME_OFFSET + 1 ({})",
                h.str_len,
                MAX_NAME_OFFSET as u64 + 1
            ),
        ));
    }
    if btf.base().is_none() && h.type_len == 0 {
        out.push(header_problem(
            Phase::Header,
            "No type found",
            "type section is empty (rejected by BPF_BTF_LOAD)".into(),
        ));
    }
}

/// `btf_check_sec_info`: sorted by offset, the sections must follow each other without gap
/// from the start of the data after the header to its end.
fn check_sec_info(
    type_off: u32,
    type_len: u32,
    str_off: u32,
    str_len: u32,
    body_len: u64,
) -> Option<Problem> {
    let mut secs = [("type", type_off, type_len), ("string", str_off, str_len)];
    secs.sort_by_key(|&(_, off, len)| (off, len));
    let expected_total = body_len;
    let mut total: u64 = 0;
    for (name, off, len) in secs {
        let (off, len) = (off as u64, len as u64);
        if expected_total < off {
            return Some(header_problem(
                Phase::Header,
                "Invalid section offset",
                format!("{name} section offset {off} is beyond the data ({expected_total} bytes after the header)"),
            ));
        }
        if total < off {
            return Some(header_problem(
                Phase::Header,
                "Unsupported section found",
                format!(
                    "gap of {} bytes before the {name} section at offset {off}",
                    off - total
                ),
            ));
        }
        if total > off {
            return Some(header_problem(
                Phase::Header,
                "Section overlap found",
                format!("{name} section at offset {off} overlaps the section before it, which ends at {total}"),
            ));
        }
        if expected_total - total < len {
            return Some(header_problem(
                Phase::Header,
                "Total section length too long",
                format!("{name} section of {len} bytes at {off} runs past the data ({expected_total} bytes)"),
            ));
        }
        total += len;
    }
    if expected_total != total {
        return Some(header_problem(
            Phase::Header,
            "Unsupported section found",
            format!(
                "{} bytes of unknown data after the type and string sections",
                expected_total - total
            ),
        ));
    }
    None
}
