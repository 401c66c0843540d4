//! Allocating large arrays that are about to be read and written at random.
//!
//! `vec![0; n]` is `calloc`: for a large `n` the kernel hands out pages that are mapped to
//! the shared zero page on their first read. The first write to such a page then replaces
//! that mapping, and replacing a mapping flushes the TLB of every core running the process
//! (an interrupt to each, taken in the middle of whatever the other threads are doing). A
//! hash table probed before it is filled reads most of its pages first. [`written`] writes
//! to every page when it allocates, so that each page is faulted in once, writable, and
//! nothing is flushed.

/// The smallest page size of the targets we run on; a smaller step only writes more often.
const PAGE: usize = 4096;

/// `n` copies of `value`, every page written now (see the module doc).
pub fn written<T: Copy>(n: usize, value: T) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    v.resize(n, value);
    // The optimizer turns the allocation and a fill it can prove zero back into `calloc`,
    // which leaves the pages unmapped. Volatile writes are kept whatever it does with the
    // fill: one element at most a page apart from the last, and the last element, so that
    // no page of the buffer goes without one.
    let size = std::mem::size_of::<T>();
    if size != 0 && n != 0 {
        let base = v.as_mut_ptr();
        for i in (0..n).step_by((PAGE / size).max(1)).chain([n - 1]) {
            // SAFETY: `i < n == v.len()`, so the pointer is in bounds and aligned, and `T`
            // is `Copy`: overwriting an element drops nothing.
            unsafe { base.add(i).write_volatile(value) };
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_n_copies() {
        assert_eq!(written(3, 7u32), vec![7, 7, 7]);
        assert_eq!(written(0, (0u32, 0u32)), vec![]);
        assert_eq!(written(2, ()), vec![(), ()]);
        assert_eq!(written(3, [1u8; 5000]).len(), 3);
        assert_eq!(
            written(1 << 20, 0u64).iter().filter(|&&x| x != 0).count(),
            0
        );
    }

    /// Whether each page of `bytes` is mapped, by `mincore`.
    fn resident_pages(bytes: &[u8]) -> Vec<bool> {
        let page = PAGE;
        let start = bytes.as_ptr() as usize / page * page;
        let end = (bytes.as_ptr() as usize + bytes.len()).div_ceil(page) * page;
        let mut vec = vec![0u8; (end - start) / page];
        // SAFETY: the range covers pages of a live allocation, and `vec` holds one byte per
        // page of it.
        let rc =
            unsafe { libc::mincore(start as *mut libc::c_void, end - start, vec.as_mut_ptr()) };
        assert_eq!(rc, 0, "mincore: {}", std::io::Error::last_os_error());
        vec.iter().map(|b| b & 1 != 0).collect()
    }

    /// The point of `written`: a zero-filled table larger than malloc ever serves from its
    /// heap (so a fresh mapping) has every page mapped when it is returned. `vec![0; n]`
    /// fails this: `calloc` maps nothing until the first touch.
    #[test]
    fn zero_fill_maps_every_page() {
        let n = 64 << 20 >> 3;
        let v = written(n, 0u64);
        // SAFETY: `u64` has no padding; the slice covers exactly `v`'s elements.
        let bytes = unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), n * 8) };
        let pages = resident_pages(bytes);
        let missing = pages.iter().filter(|&&r| !r).count();
        assert_eq!(missing, 0, "{missing} of {} pages not mapped", pages.len());

        // And the check can tell: calloc'd memory of the same size is not mapped yet, but
        // for the page malloc writes its header to (a 2 MiB huge page where those are
        // always on).
        let c = vec![0u64; n];
        // SAFETY: as above.
        let bytes = unsafe { std::slice::from_raw_parts(c.as_ptr().cast::<u8>(), n * 8) };
        let pages = resident_pages(bytes);
        let mapped = pages.iter().filter(|&&r| r).count();
        assert!(
            mapped < pages.len() / 4,
            "calloc'd pages already mapped: {mapped}"
        );
    }
}
