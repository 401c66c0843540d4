//! [`MapVec`]: a growable vector of plain words whose first elements may be a private,
//! copy-on-write mapping of a file.
//!
//! A module's process copies its base's 95 k type records into a [`crate::Flat`] before it
//! adds its own (1.5 MB of records and 1.2 MB of trailing words for a vmlinux: 2 ms, about
//! a fifth of a small module's whole run, mostly parsing and faulting in fresh pages). The
//! base index cache holds those two vectors as they lie in memory; [`MapVec::map_file`]
//! maps them instead, privately, into the front of an address range reserved for the
//! vector to grow in place. Pages are read from the page cache only where touched (most of
//! the base never is), a write copies just its page, and a vector that outgrows its range
//! moves to the heap as any vector would.
//!
//! Element access is one slice (`ptr`, `len`) whatever the backing, so the loops over a
//! vmlinux's 3.4 million records are the same code as over a `Vec` (the first attempt at
//! sharing the base had a second path in every read, and it cost the vmlinux 10 %; see
//! docs/benchmarks.md, "Fixed cost per module").

use std::marker::PhantomData;
use std::ptr::NonNull;

/// Element types a [`MapVec`] may hold: `Copy`, no padding and no invalid bit patterns, so
/// that any file bytes of the right length are a valid value (and their layout is fixed by
/// `repr(C)` or by being a primitive).
///
/// # Safety
/// The type must have no padding bytes, no invalid bit patterns, and no drop glue.
pub unsafe trait Plain: Copy + Send + Sync + 'static {}

// SAFETY: a primitive integer: every bit pattern is valid, no padding.
unsafe impl Plain for u32 {}

/// A vector of [`Plain`] elements, on the heap or (see the module docs) mapped.
pub struct MapVec<T: Plain> {
    /// Start of the elements: dangling (aligned) while `cap` is 0.
    ptr: NonNull<T>,
    len: usize,
    cap: usize,
    /// Bytes of the mapped range `ptr` starts, if mapped; else the elements are a heap
    /// allocation of `cap` elements (none while `cap` is 0).
    mapped: Option<usize>,
    _own: PhantomData<T>,
}

// SAFETY: a MapVec owns its elements as a Vec does; `T: Plain` is Send and Sync.
unsafe impl<T: Plain> Send for MapVec<T> {}
// SAFETY: as above: shared access only reads.
unsafe impl<T: Plain> Sync for MapVec<T> {}

impl<T: Plain> MapVec<T> {
    pub const fn new() -> MapVec<T> {
        MapVec {
            ptr: NonNull::dangling(),
            len: 0,
            cap: 0,
            mapped: None,
            _own: PhantomData,
        }
    }

    pub fn with_capacity(n: usize) -> MapVec<T> {
        let mut v = MapVec::new();
        v.reserve(n);
        v
    }

    pub fn from_slice(s: &[T]) -> MapVec<T> {
        let mut v = MapVec::with_capacity(s.len());
        v.extend_from_slice(s);
        v
    }

    /// Whether the elements are (still) a mapping of a file rather than heap memory.
    pub fn is_mapped(&self) -> bool {
        self.mapped.is_some()
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    #[inline]
    pub fn as_slice(&self) -> &[T] {
        // SAFETY: `ptr` is valid for `len` initialized elements (dangling and aligned when
        // `len` is 0), owned by `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as in `as_slice`, and `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    #[inline]
    pub fn push(&mut self, x: T) {
        if self.len == self.cap {
            self.grow(1);
        }
        // SAFETY: `len < cap` now: the slot is inside the allocation or mapped range.
        unsafe { self.ptr.as_ptr().add(self.len).write(x) };
        self.len += 1;
    }

    #[inline]
    pub fn extend_from_slice(&mut self, s: &[T]) {
        self.reserve(s.len());
        // SAFETY: room for `s.len()` more elements was just made; `s` cannot overlap the
        // spare capacity, which no slice refers to.
        unsafe {
            std::ptr::copy_nonoverlapping(s.as_ptr(), self.ptr.as_ptr().add(self.len), s.len())
        };
        self.len += s.len();
    }

    /// Makes room for `additional` more elements.
    #[inline]
    pub fn reserve(&mut self, additional: usize) {
        if self.cap - self.len < additional {
            self.grow(additional);
        }
    }

    /// As [`MapVec::reserve`], but `false` instead of aborting where the memory cannot be
    /// had.
    pub fn try_reserve(&mut self, additional: usize) -> bool {
        if self.cap - self.len >= additional {
            return true;
        }
        self.len
            .checked_add(additional)
            .is_some_and(|need| self.regrow(need.max(self.len.saturating_mul(2))).is_ok())
    }

    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, additional: usize) {
        let need = self
            .len
            .checked_add(additional)
            .unwrap_or_else(|| capacity_overflow());
        // Twice the length, not the capacity: a mapped vector's capacity is the whole range
        // it reserved, most of it never used.
        let cap = need.max(self.len.saturating_mul(2)).max(4);
        match self.regrow(cap) {
            Ok(()) => {}
            Err(Some(layout)) => std::alloc::handle_alloc_error(layout),
            Err(None) => capacity_overflow(),
        }
    }

    /// Moves the elements to a heap allocation of `cap` elements (`cap >= len`), or grows
    /// the one they are in. An error, and nothing changed, where the allocator refuses
    /// (its layout) or the size cannot be a layout (`None`).
    fn regrow(&mut self, cap: usize) -> Result<(), Option<std::alloc::Layout>> {
        let Ok(layout) = std::alloc::Layout::array::<T>(cap) else {
            return Err(None);
        };
        if layout.size() == 0 {
            self.cap = cap;
            return Ok(());
        }
        let p = match self.mapped {
            None if self.cap > 0 => {
                // The layout it was allocated with, so valid.
                let Ok(old) = std::alloc::Layout::array::<T>(self.cap) else {
                    return Err(None);
                };
                // SAFETY: `ptr` was allocated with `old` by the global allocator; the new
                // size is non-zero and `Layout::array` checked it.
                unsafe { std::alloc::realloc(self.ptr.as_ptr().cast(), old, layout.size()) }
            }
            _ => {
                // SAFETY: the layout's size is non-zero.
                let p = unsafe { std::alloc::alloc(layout) };
                if !p.is_null() {
                    let len = self.len;
                    // SAFETY: the new allocation holds `cap >= len` elements and is apart
                    // from the old elements.
                    unsafe { std::ptr::copy_nonoverlapping(self.ptr.as_ptr(), p.cast::<T>(), len) };
                    self.release();
                    self.len = len;
                }
                p
            }
        };
        let Some(p) = NonNull::new(p.cast::<T>()) else {
            return Err(Some(layout));
        };
        self.ptr = p;
        self.cap = cap;
        self.mapped = None;
        Ok(())
    }

    /// Gives back the mapped range, or the heap allocation; the elements are gone.
    fn release(&mut self) {
        match self.mapped.take() {
            #[cfg(target_os = "linux")]
            Some(bytes) => {
                // SAFETY: `ptr` starts a range of `bytes` this vector mapped and owns.
                unsafe { libc::munmap(self.ptr.as_ptr().cast(), bytes) };
            }
            #[cfg(not(target_os = "linux"))]
            Some(_) => {}
            None if self.cap > 0 && std::mem::size_of::<T>() > 0 => {
                if let Ok(layout) = std::alloc::Layout::array::<T>(self.cap) {
                    // SAFETY: allocated with this layout by `regrow`.
                    unsafe { std::alloc::dealloc(self.ptr.as_ptr().cast(), layout) };
                }
            }
            None => {}
        }
        self.ptr = NonNull::dangling();
        self.cap = 0;
        self.len = 0;
    }
}

#[cfg(target_os = "linux")]
impl<T: Plain> MapVec<T> {
    /// `len` elements read from `file` at byte `offset` (a multiple of the page size), by a
    /// private mapping, with room for `room` more after them before the vector moves to the
    /// heap. Any bytes are valid elements (see [`Plain`]); what they mean is the caller's
    /// business. An error where the system refuses the mapping (the caller then reads the
    /// elements some other way).
    ///
    /// # Safety
    /// The file's bytes in that range must not change, nor the file be truncated, while
    /// the vector lives: until a page is written, the mapping shows the file as it is (as
    /// for every mapped input; kbtf replaces files by rename, never in place).
    pub unsafe fn map_file(
        file: &std::fs::File,
        offset: u64,
        len: usize,
        room: usize,
    ) -> std::io::Result<MapVec<T>> {
        use std::os::fd::AsRawFd;
        let page = page_size();
        let size = std::mem::size_of::<T>();
        let too_big = || std::io::Error::other("mapping too large");
        let file_bytes = len.checked_mul(size).ok_or_else(too_big)?;
        let cap = len.checked_add(room).ok_or_else(too_big)?;
        let total =
            round_up(cap.checked_mul(size).ok_or_else(too_big)?, page).ok_or_else(too_big)?;
        if size == 0 || total == 0 || !offset.is_multiple_of(page as u64) {
            return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
        }
        let Ok(off) = libc::off_t::try_from(offset) else {
            return Err(too_big());
        };
        // SAFETY: a fresh anonymous private mapping: nothing else refers to that memory.
        let range = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if range == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        if file_bytes > 0 {
            // Whole pages of the file; past `len` they are spare capacity, overwritten
            // before they are read as elements. No larger than `total`, which was rounded
            // up from more bytes without overflow.
            let mapped = file_bytes.next_multiple_of(page);
            // SAFETY: replaces the front of the range mapped above (ours alone) by a
            // private copy-on-write mapping of the file: writes never reach the file.
            let at = unsafe {
                libc::mmap(
                    range,
                    mapped,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_FIXED,
                    file.as_raw_fd(),
                    off,
                )
            };
            if at == libc::MAP_FAILED {
                let err = std::io::Error::last_os_error();
                // SAFETY: `range` is the mapping of `total` bytes made above.
                unsafe { libc::munmap(range, total) };
                return Err(err);
            }
        }
        let Some(ptr) = NonNull::new(range.cast::<T>()) else {
            return Err(std::io::Error::other("mapped at address 0"));
        };
        Ok(MapVec {
            ptr,
            len,
            cap: total / size,
            mapped: Some(total),
            _own: PhantomData,
        })
    }
}

#[cfg(target_os = "linux")]
fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(p).unwrap_or(4096).max(1)
}

fn round_up(n: usize, to: usize) -> Option<usize> {
    n.checked_next_multiple_of(to)
}

#[cold]
fn capacity_overflow() -> ! {
    panic!("MapVec capacity overflow")
}

impl<T: Plain> Drop for MapVec<T> {
    fn drop(&mut self) {
        self.release();
    }
}

impl<T: Plain> Default for MapVec<T> {
    fn default() -> Self {
        MapVec::new()
    }
}

impl<T: Plain> Clone for MapVec<T> {
    /// A heap copy, mapped or not.
    fn clone(&self) -> Self {
        MapVec::from_slice(self)
    }
}

impl<T: Plain> std::ops::Deref for MapVec<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Plain> std::ops::DerefMut for MapVec<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<T: Plain + PartialEq> PartialEq for MapVec<T> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Plain + Eq> Eq for MapVec<T> {}

impl<T: Plain + std::fmt::Debug> std::fmt::Debug for MapVec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: Plain> Extend<T> for MapVec<T> {
    #[inline]
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.reserve(iter.size_hint().0);
        for x in iter {
            self.push(x);
        }
    }
}

impl<T: Plain> FromIterator<T> for MapVec<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut v = MapVec::new();
        v.extend(iter);
        v
    }
}

impl<T: Plain> From<Vec<T>> for MapVec<T> {
    fn from(v: Vec<T>) -> Self {
        MapVec::from_slice(&v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_like_a_vec() {
        let mut v: MapVec<u32> = MapVec::new();
        let mut w: Vec<u32> = Vec::new();
        for i in 0..10_000u32 {
            v.push(i);
            w.push(i);
            if i % 7 == 0 {
                v.extend_from_slice(&[i, i + 1]);
                w.extend_from_slice(&[i, i + 1]);
            }
            if i % 13 == 0 {
                v.extend([i; 3]);
                w.extend([i; 3]);
            }
        }
        assert_eq!(&*v, &w[..]);
        assert!(!v.is_mapped());
        v.truncate(5);
        assert_eq!(&*v, &w[..5]);
        assert_eq!(v.clone(), v);
        assert!(v.try_reserve(1000));
        assert!(v.capacity() >= 1005);
        assert!(!v.try_reserve(usize::MAX));
        assert!(!v.try_reserve(usize::MAX / 4), "no layout that large");
        assert_eq!(&*v, &w[..5]);
        v.clear();
        assert!(v.is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn maps_a_file_then_grows_in_place_and_to_the_heap() {
        use std::io::Write;
        let page = page_size();
        let mut f = tempfile::tempfile().unwrap();
        // One page of something else, then the elements, then more bytes past them.
        let head = vec![0xeeu8; page];
        let words: Vec<u32> = (0..3000u32).map(|i| i.wrapping_mul(0x9e37_79b9)).collect();
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
        f.write_all(&head).unwrap();
        f.write_all(&bytes).unwrap();
        f.write_all(&[0xffu8; 100]).unwrap();
        // SAFETY: the temp file is this test's alone.
        let mut v = unsafe { MapVec::<u32>::map_file(&f, page as u64, words.len(), 5000) }.unwrap();
        assert!(v.is_mapped());
        assert_eq!(&*v, &words[..]);
        // A write stays in this process.
        v[0] = 7;
        // SAFETY: as above.
        let mut again =
            unsafe { MapVec::<u32>::map_file(&f, page as u64, words.len(), 0) }.unwrap();
        assert_eq!(again[0], words[0]);
        // Room after the file's part: the tail is taken over, then zero pages.
        let mut w = words.clone();
        w[0] = 7;
        for i in 0..5000 {
            v.push(i);
            w.push(i);
        }
        assert!(v.is_mapped(), "grew within the reserved range");
        assert_eq!(&*v, &w[..]);
        // Past the range: moves to the heap, keeping the elements.
        let cap = v.capacity();
        for i in 0..(cap - v.len() + 10) as u32 {
            v.push(i);
            w.push(i);
        }
        assert!(!v.is_mapped());
        assert_eq!(&*v, &w[..]);
        again.push(1);
        assert_eq!(again.len(), words.len() + 1);
        // Offsets that are not page multiples are refused.
        // SAFETY: as above.
        assert!(unsafe { MapVec::<u32>::map_file(&f, 4, 10, 0) }.is_err());
        // An empty part is just a reserved range.
        // SAFETY: as above.
        let mut e = unsafe { MapVec::<u32>::map_file(&f, 0, 0, 10) }.unwrap();
        e.extend_from_slice(&[1, 2, 3]);
        assert_eq!(&*e, &[1, 2, 3]);
    }
}
