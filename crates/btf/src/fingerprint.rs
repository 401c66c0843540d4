//! The base fingerprint: which base BTF a split BTF was built against, recorded next to it.
//!
//! A split BTF's type ids and string offsets only mean something on top of the exact base it
//! was built against; checking against another base can only hope that some offset lands on
//! garbage. kbtf records the base's identity in an ELF note section of the module,
//! [`SECTION`], so that `kbtf check --base` can say for certain whether the base matches.
//!
//! The note (in the ELF file's byte order): `namesz = 5`, `descsz = 44`, `type = 1`, name
//! `"kbtf\0"` padded to 8 bytes, then the descriptor: version (1), the base's type count, the
//! length of its string section, and the SHA-256 of the base BTF's bytes (as in
//! `/sys/kernel/btf/vmlinux` or vmlinux's `.BTF`).

use sha2::{Digest, Sha256};

use crate::btf::{Btf, Endian};

/// The section holding the note.
pub const SECTION: &str = ".note.kbtf.btf_base";
/// The note's owner name.
const NAME: &[u8] = b"kbtf\0";
/// The note's type: base fingerprint.
const NT_BTF_BASE: u32 = 1;
const VERSION: u32 = 1;
const DESC_LEN: usize = 12 + 32;

/// The identity of a base BTF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    /// Number of types in the base (its last type id).
    pub type_count: u32,
    /// Length of the base's string section.
    pub str_len: u32,
    /// SHA-256 of the base's BTF bytes.
    pub sha256: [u8; 32],
}

impl Fingerprint {
    /// The fingerprint of `base`, from its bytes as written (which are the bytes it was read
    /// from: parse then write is the identity).
    pub fn of(base: &Btf) -> Fingerprint {
        let sha256 = match base.raw_sha256() {
            Some(h) => h,
            None => Sha256::digest(base.to_bytes()).into(),
        };
        Fingerprint {
            type_count: base.end_id() - 1,
            str_len: base.strings().as_bytes().len() as u32,
            sha256,
        }
    }

    /// The hex form of the hash.
    pub fn sha256_hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The note section's bytes.
    pub fn to_note(&self, endian: Endian) -> Vec<u8> {
        let put = |out: &mut Vec<u8>, v: u32| {
            out.extend_from_slice(&match endian {
                Endian::Little => v.to_le_bytes(),
                Endian::Big => v.to_be_bytes(),
            })
        };
        let mut out = Vec::with_capacity(12 + 8 + DESC_LEN);
        put(&mut out, NAME.len() as u32);
        put(&mut out, DESC_LEN as u32);
        put(&mut out, NT_BTF_BASE);
        out.extend_from_slice(NAME);
        out.resize(out.len().next_multiple_of(4), 0);
        put(&mut out, VERSION);
        put(&mut out, self.type_count);
        put(&mut out, self.str_len);
        out.extend_from_slice(&self.sha256);
        out
    }

    /// Reads the note section's bytes; `None` if they are not a kbtf base fingerprint of a
    /// version this code knows.
    pub fn from_note(note: &[u8], endian: Endian) -> Option<Fingerprint> {
        let get = |at: usize| -> Option<u32> {
            let b: [u8; 4] = note.get(at..at + 4)?.try_into().ok()?;
            Some(match endian {
                Endian::Little => u32::from_le_bytes(b),
                Endian::Big => u32::from_be_bytes(b),
            })
        };
        let (namesz, descsz, ty) = (get(0)? as usize, get(4)? as usize, get(8)?);
        if note.get(12..12 + namesz)? != NAME || ty != NT_BTF_BASE || descsz != DESC_LEN {
            return None;
        }
        let d = 12 + namesz.next_multiple_of(4);
        if get(d)? != VERSION {
            return None;
        }
        Some(Fingerprint {
            type_count: get(d + 4)?,
            str_len: get(d + 8)?,
            sha256: note.get(d + 12..d + 44)?.try_into().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_round_trip_both_byte_orders() {
        let mut b = Btf::new();
        let n = b.add_str("int");
        b.add_type(crate::Type::new(
            n,
            crate::TypeData::Int {
                size: 4,
                encoding: 1,
                offset: 0,
                bits: 32,
            },
        ));
        let f = Fingerprint::of(&b);
        assert_eq!((f.type_count, f.str_len), (1, 5));
        for e in [Endian::Little, Endian::Big] {
            let note = f.to_note(e);
            assert_eq!(note.len(), 64);
            assert_eq!(Fingerprint::from_note(&note, e), Some(f));
        }
        assert_eq!(Fingerprint::from_note(b"junk", Endian::Little), None);
        let mut other = f.to_note(Endian::Little);
        other[12] = b'K';
        assert_eq!(Fingerprint::from_note(&other, Endian::Little), None);
    }
}
