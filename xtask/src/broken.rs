//! Small hand-built BTF blobs, each broken in one known way, for checking that the kernel's
//! BPF_BTF_LOAD and `kbtf check` refuse the same things.
//!
//! The blobs are written here, byte by byte, with no help from the crates under test, so a
//! bug in `kbtf_btf` cannot make them agree with it by accident.

/// Kind numbers used here (include/uapi/linux/btf.h).
const INT: u32 = 1;
const STRUCT: u32 = 4;
const VOLATILE: u32 = 9;
const CONST: u32 = 10;

/// A minimal BTF writer: types and strings as they will appear on the wire.
struct Blob {
    types: Vec<u8>,
    strings: Vec<u8>,
}

impl Blob {
    fn new() -> Blob {
        Blob {
            types: Vec::new(),
            // Offset 0 is the empty name.
            strings: vec![0],
        }
    }

    fn str(&mut self, s: &str) -> u32 {
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    fn word(&mut self, w: u32) {
        self.types.extend_from_slice(&w.to_le_bytes());
    }

    /// The common `struct btf_type` head: name_off, info (vlen, kind, kind_flag), size/type.
    fn head(&mut self, name_off: u32, kind: u32, vlen: u32, size_or_type: u32) {
        self.word(name_off);
        self.word((kind << 24) | (vlen & 0xffff));
        self.word(size_or_type);
    }

    /// A signed 32-bit `int`.
    fn int(&mut self) {
        let n = self.str("int");
        self.head(n, INT, 0, 4);
        // encoding SIGNED (1 << 24), offset 0, 32 bits.
        self.word((1 << 24) | 32);
    }

    /// Header (24 bytes), types, strings.
    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&0xeb9fu16.to_le_bytes());
        out.push(1); // version
        out.push(0); // flags
        for w in [
            24u32,
            0,
            self.types.len() as u32,
            self.types.len() as u32,
            self.strings.len() as u32,
        ] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}

/// One broken blob and the kernel's words for what is wrong with it (Linux 6.1).
pub struct Broken {
    /// File name, `<what>.btf`.
    pub name: &'static str,
    pub bytes: Vec<u8>,
    /// A piece of the 6.1 verifier log that names the problem.
    pub kernel_says: &'static str,
}

/// The broken blobs: a bad name offset (caught while checking each type's meta data), a loop
/// of modifiers and a member past the end of its struct (both caught by the resolve pass, which
/// the kernel runs on BPF_BTF_LOAD but not on module BTF).
pub fn all() -> Vec<Broken> {
    let mut out = Vec::new();

    // [1] int; [2] struct with a name offset past the string section.
    let mut b = Blob::new();
    b.int();
    let x = b.str("x");
    let bad = b.strings.len() as u32 + 100;
    b.head(bad, STRUCT, 1, 4);
    b.word(x);
    b.word(1);
    b.word(0);
    out.push(Broken {
        name: "bad-name-offset.btf",
        bytes: b.bytes(),
        kernel_says: "Invalid name_offset",
    });

    // [1] const -> [2] volatile -> [1].
    let mut b = Blob::new();
    b.head(0, CONST, 0, 2);
    b.head(0, VOLATILE, 0, 1);
    out.push(Broken {
        name: "modifier-loop.btf",
        bytes: b.bytes(),
        kernel_says: "Loop detected",
    });

    // [1] int; [2] struct s { int a; int b; } of size 4: b ends at byte 8.
    let mut b = Blob::new();
    b.int();
    let s = b.str("s");
    let a = b.str("a");
    let bb = b.str("b");
    b.head(s, STRUCT, 2, 4);
    for (name, bits) in [(a, 0), (bb, 32)] {
        b.word(name);
        b.word(1);
        b.word(bits);
    }
    out.push(Broken {
        name: "member-past-end.btf",
        bytes: b.bytes(),
        kernel_says: "Member exceeds struct_size",
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_parse_with_the_harness_reader() {
        for b in all() {
            let s = crate::btf::summarize(&b.bytes).unwrap_or_else(|e| panic!("{}: {e}", b.name));
            assert!(s.types >= 1, "{}", b.name);
        }
    }
}
