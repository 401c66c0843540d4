//! [`Bytes`]: bytes owned, or borrowed from a shared owner such as a mapped file.
//!
//! A module's base (the vmlinux BTF, 4 MB of which 1.7 MB are strings) is read in every module
//! process and never changed: its blob and string section stay in the mapped file instead of
//! being copied. Changing borrowed bytes copies them first.

use std::sync::Arc;

/// What [`Bytes`] can borrow from: a mapped file, a vector.
pub trait Owner:
    AsRef<[u8]> + Send + Sync + std::panic::RefUnwindSafe + std::panic::UnwindSafe
{
}
impl<T: AsRef<[u8]> + Send + Sync + std::panic::RefUnwindSafe + std::panic::UnwindSafe> Owner
    for T
{
}

/// Bytes owned, or a range of a shared owner's bytes (a mapped file).
#[derive(Clone, Default)]
pub struct Bytes {
    /// The bytes, when owned.
    owned: Vec<u8>,
    /// The owner and range, when borrowed (`owned` is then empty).
    shared: Option<Shared>,
}

#[derive(Clone)]
struct Shared {
    owner: Arc<dyn Owner>,
    start: usize,
    end: usize,
}

impl Bytes {
    /// `range` of `owner`'s bytes, without a copy; `None` if the range is not inside them.
    pub fn shared(owner: Arc<dyn Owner>, range: std::ops::Range<usize>) -> Option<Bytes> {
        let len = (*owner).as_ref().len();
        if range.start > range.end || range.end > len {
            return None;
        }
        Some(Bytes {
            owned: Vec::new(),
            shared: Some(Shared {
                owner,
                start: range.start,
                end: range.end,
            }),
        })
    }

    /// `v` behind a shared owner: clones and [`Bytes::slice`]s of it are views, not copies.
    pub fn share(v: Vec<u8>) -> Bytes {
        let len = v.len();
        let owner: Arc<dyn Owner> = Arc::new(v);
        Bytes::shared(owner, 0..len).unwrap_or_default()
    }

    /// A sub-range of these bytes (shared again, or copied if owned); `None` if out of range.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Option<Bytes> {
        match &self.shared {
            None => self.owned.get(range).map(|s| Bytes::from(s.to_vec())),
            Some(Shared { owner, start, end }) => {
                let s = start.checked_add(range.start)?;
                let e = start.checked_add(range.end)?;
                if s > e || e > *end {
                    return None;
                }
                Bytes::shared(owner.clone(), s..e)
            }
        }
    }

    /// Whether the bytes are borrowed from a shared owner.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// The bytes as an owned vector to change, copying them first if they are borrowed.
    pub fn make_mut(&mut self) -> &mut Vec<u8> {
        if self.shared.is_some() {
            self.owned = self.to_vec();
            self.shared = None;
        }
        &mut self.owned
    }

    /// The bytes as an owned vector (a copy if borrowed).
    pub fn into_vec(self) -> Vec<u8> {
        match self.shared {
            None => self.owned,
            Some(_) => self.to_vec(),
        }
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match &self.shared {
            None => &self.owned,
            Some(Shared { owner, start, end }) => {
                (**owner).as_ref().get(*start..*end).unwrap_or_default()
            }
        }
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(owned: Vec<u8>) -> Bytes {
        Bytes {
            owned,
            shared: None,
        }
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.is_shared() { "shared" } else { "owned" };
        write!(f, "Bytes({kind}, {} bytes)", self.len())
    }
}

impl PartialEq for Bytes {
    fn eq(&self, other: &Bytes) -> bool {
        **self == **other
    }
}
impl Eq for Bytes {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_bytes_copy_on_write() {
        let owner: Arc<dyn Owner> = Arc::new(b"hello world".to_vec());
        let mut b = Bytes::shared(owner.clone(), 6..11).unwrap();
        assert!(b.is_shared());
        assert_eq!(&*b, b"world");
        assert_eq!(&*b.slice(1..3).unwrap(), b"or");
        assert!(b.slice(3..9).is_none());
        b.make_mut().push(b'!');
        assert!(!b.is_shared());
        assert_eq!(&*b, b"world!");
        assert_eq!((*owner).as_ref(), b"hello world");
        assert!(Bytes::shared(owner, 5..12).is_none());
    }
}
