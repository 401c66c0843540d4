//! The kernel's rules for names: valid string offsets (`btf_name_offset_valid`) and valid C
//! identifiers or section names (`__btf_name_valid`).
//!
//! Per kind (6.1's `check_meta` functions):
//!
//! | kind | name |
//! | --- | --- |
//! | INT, FLOAT | anything (only the offset is checked) |
//! | PTR, VOLATILE, CONST, RESTRICT, ARRAY, FUNC_PROTO | none (offset 0) |
//! | TYPEDEF, FWD, FUNC | required, a C identifier |
//! | STRUCT, UNION, ENUM, ENUM64 | none or a C identifier |
//! | members | offset valid; none or a C identifier |
//! | enum values | offset valid; required, a C identifier |
//! | FUNC_PROTO parameters | offset valid and a C identifier if not 0 (resolve phase only) |
//! | VAR | required, a C identifier |
//! | DATASEC | required, a section name (the same rule: DATASEC names with any printable |
//! |  | character came after 6.1) |
//!
//! "C identifier" here is the kernel's: letters (Latin-1 `isalpha`), digits, '_' and '.' (see
//! `char_ok`), not starting with a digit, at most `KSYM_NAME_LEN` bytes.
//! | TYPE_TAG, DECL_TAG | required, any non-empty string |

use std::fmt;

use crate::btf::Btf;

/// `BTF_MAX_NAME_OFFSET`: the largest string offset.
pub const MAX_NAME_OFFSET: u32 = 0x00ff_ffff;
/// `KSYM_NAME_LEN` in 6.1: names longer than this are rejected.
pub const KSYM_NAME_LEN: usize = 512;

/// `btf_name_offset_valid`: `off` is at most `BTF_MAX_NAME_OFFSET` and inside the string
/// section of `btf` or of its bases.
pub fn offset_valid(btf: &Btf, off: u32) -> bool {
    off <= MAX_NAME_OFFSET && btf.string_table_for(off).is_some()
}

/// The kernel's `isalpha` (lib/ctype.c, Latin-1: 0xc0..=0xff are letters except 0xd7 and 0xf7).
fn is_alpha(c: u8) -> bool {
    c.is_ascii_alphabetic() || (c >= 0xc0 && c != 0xd7 && c != 0xf7)
}

/// `__btf_name_char_ok` of the kernel we check against: Debian's 6.1 (6.1.0-56) has the
/// upstream change that allows '.' anywhere in every name, first character included (it
/// dropped `dot_ok`); plain 6.1.0 allowed it only in VAR and DATASEC names. The differential
/// test against BPF_BTF_LOAD (docs/reliability.md) showed it. `dot_ok` is kept for callers that
/// name the rule they mean; it no longer changes the answer.
fn char_ok(c: u8, first: bool, _dot_ok: bool) -> bool {
    let alnum = if first {
        is_alpha(c)
    } else {
        is_alpha(c) || c.is_ascii_digit()
    };
    alnum || c == b'_' || c == b'.'
}

/// `__btf_name_valid` on the bytes of a string: non-empty, at most `KSYM_NAME_LEN` long, letters,
/// digits, '_' and '.', not starting with a digit.
pub fn bytes_valid(s: &[u8], dot_ok: bool) -> bool {
    match s.split_first() {
        None => false,
        Some((&first, rest)) => {
            s.len() <= KSYM_NAME_LEN
                && char_ok(first, true, dot_ok)
                && rest.iter().all(|&c| char_ok(c, false, dot_ok))
        }
    }
}

/// `btf_name_valid_identifier` (or, with `dot_ok`, `btf_name_valid_section`) at offset `off`,
/// which the caller has checked with [`offset_valid`].
pub fn valid(btf: &Btf, off: u32, dot_ok: bool) -> bool {
    btf.str_bytes(off).is_some_and(|s| bytes_valid(s, dot_ok))
}

/// The bytes at `off`, or nothing for an invalid offset.
pub fn bytes(btf: &Btf, off: u32) -> &[u8] {
    btf.str_bytes(off).unwrap_or_default()
}

/// Writes string bytes for a one-line message: printable ASCII as is, everything else
/// escaped, and long names shortened.
pub struct Escaped<'a>(pub &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 80;
        let s = self.0;
        for &c in s.iter().take(MAX) {
            match c {
                b'\'' | b'\\' => write!(f, "\\{}", c as char)?,
                0x20..=0x7e => write!(f, "{}", c as char)?,
                _ => write!(f, "\\x{c:02x}")?,
            }
        }
        if s.len() > MAX {
            write!(f, "...({} bytes)", s.len())?;
        }
        Ok(())
    }
}

/// Why the name at `off` breaks a rule that requires a (possibly dotted) identifier, for
/// messages: "name is missing", "name is empty (...)" or "name 'x' is not a valid C
/// identifier".
pub fn why_invalid(btf: &Btf, off: u32, what: &str) -> String {
    let s = bytes(btf, off);
    if off == 0 {
        format!("{what} is missing")
    } else if s.is_empty() {
        format!("{what} is empty (name offset {off} points at a NUL)")
    } else if s.len() > KSYM_NAME_LEN {
        format!(
            "{what} '{}' is longer than {KSYM_NAME_LEN} bytes",
            Escaped(s)
        )
    } else {
        format!("{what} '{}' is not a valid C identifier", Escaped(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_rules_follow_the_kernel() {
        let ok = |s: &[u8], dot| bytes_valid(s, dot);
        assert!(ok(b"foo_1", false));
        assert!(ok(b"_", false));
        assert!(!ok(b"", false));
        assert!(!ok(b"1foo", false));
        // Debian's 6.1 allows '.' in every name, first character included.
        assert!(ok(b"foo.bar", false));
        assert!(ok(b".a", false));
        assert!(ok(b"foo.bar", true));
        assert!(ok(b".data..percpu", true));
        assert!(!ok(b"foo-bar", true));
        // Latin-1 letters count as letters in the kernel's ctype table.
        assert!(ok(b"caf\xe9", false));
        assert!(!ok(b"a\xd7b", false));
        assert!(!ok(b"a\x80", false));
        assert!(ok(&[b'a'; KSYM_NAME_LEN], false));
        assert!(!ok(&[b'a'; KSYM_NAME_LEN + 1], false));
    }
}
