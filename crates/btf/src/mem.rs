//! Allocating large arrays that are about to be read and written at random.
//!
//! `vec![0; n]` is `calloc`: for a large `n` the kernel hands out pages that are mapped to
//! the shared zero page on their first read. The first write to such a page then replaces
//! that mapping, and replacing a mapping flushes the TLB of every core running the process
//! (an interrupt to each, taken in the middle of whatever the other threads are doing). A
//! hash table probed before it is filled reads most of its pages first. [`written`] writes
//! to every page when it allocates, so that each page is faulted in once, writable, and
//! nothing is flushed.
//!
//! A module's process is short and touches mostly fresh memory: for dummy.ko, about 1,000
//! page faults in an 8 ms run, and on a virtual machine each one is also an exit to the
//! hypervisor. [`reserve_populated`] and [`prefault_read`] ask the kernel to back a range
//! that is about to be written or read whole in one call (`MADV_POPULATE_WRITE`,
//! `MADV_POPULATE_READ`, Linux 5.14 and later), which does the faults' work in a loop inside
//! the kernel. They change no contents; a kernel that does not know them refuses them, and
//! the memory is faulted in as before. Only ranges about to be touched whole are populated:
//! populating what is never touched would cost memory and time.

/// The smallest page size of the targets we run on; a smaller step only writes more often.
const PAGE: usize = 4096;

/// `n` copies of `value`, every page written now (see the module doc).
pub fn written<T: Copy>(n: usize, value: T) -> Vec<T> {
    let mut v = Vec::new();
    reserve_populated(&mut v, n);
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

/// Below this many bytes a range is left to page faults.
const POPULATE_MIN: usize = 16 * PAGE;

/// Maps all of `d`'s pages now, before a pass that reads every byte of it (a checksum over a
/// mapped file: one call instead of a fault per 16 pages).
pub fn prefault_read(d: &[u8]) {
    if d.len() < POPULATE_MIN {
        return;
    }
    let start = d.as_ptr() as usize & !(PAGE - 1);
    let len = d.as_ptr() as usize + d.len() - start;
    // SAFETY: the range is `d`'s own pages (the first rounded down to its page boundary),
    // mapped since `d` is a live slice; populating for reading changes no contents and no
    // mapping.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::madvise(start as *mut libc::c_void, len, libc::MADV_POPULATE_READ);
    }
}

/// Reserves room for `additional` more elements in `v` and backs the whole pages of that
/// room with memory now, before a pass that writes all of it (a `resize` or an `extend` by
/// exactly `additional`).
pub fn reserve_populated<T>(v: &mut Vec<T>, additional: usize) {
    v.reserve(additional);
    let size = std::mem::size_of::<T>();
    let bytes = additional.saturating_mul(size);
    if bytes < POPULATE_MIN {
        return;
    }
    let at = v.as_mut_ptr() as usize + v.len() * size;
    let start = at.next_multiple_of(PAGE);
    let end = (at + bytes) & !(PAGE - 1);
    if end <= start {
        return;
    }
    // SAFETY: whole pages inside `v`'s spare capacity, which `v` owns and nothing reads;
    // populating for writing backs them with zeroed pages and changes nothing `v` holds.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::madvise(
            start as *mut libc::c_void,
            end - start,
            libc::MADV_POPULATE_WRITE,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The room is mapped before it is written, and what `v` held is kept.
    #[test]
    fn reserve_populated_maps_the_room() {
        let mut v: Vec<u64> = (0..1000).collect();
        let more = 8 << 20 >> 3;
        reserve_populated(&mut v, more);
        assert!(v.capacity() >= 1000 + more);
        assert!(v.iter().copied().eq(0..1000));
        // SAFETY: the spare capacity is allocated; only its addresses are looked at.
        let room =
            unsafe { std::slice::from_raw_parts(v.as_ptr().add(v.len()).cast::<u8>(), more * 8) };
        let pages = resident_pages(&room[PAGE..room.len() - PAGE]);
        let missing = pages.iter().filter(|&&r| !r).count();
        // Kernels before 5.14 refuse the request: nothing to check there.
        if kernel_at_least(5, 14) {
            assert_eq!(missing, 0, "{missing} of {} pages not mapped", pages.len());
        }
        v.resize(1000 + more, 7);
        assert_eq!(v[1000 + 12345], 7);
        // Small and empty requests only reserve.
        reserve_populated(&mut v, 3);
        reserve_populated(&mut Vec::<()>::new(), 1 << 30);
    }

    #[test]
    fn prefault_read_leaves_bytes_as_they_are() {
        let d: Vec<u8> = (0..1 << 20).map(|i| (i * 7) as u8).collect();
        let before = d.clone();
        prefault_read(&d);
        prefault_read(&d[5..]);
        prefault_read(&[]);
        assert_eq!(d, before);
    }

    /// Whether the running kernel's version is at least `major.minor`.
    fn kernel_at_least(major: u32, minor: u32) -> bool {
        let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut it = r
            .trim()
            .split(['.', '-'])
            .map(|x| x.parse::<u32>().unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0)) >= (major, minor)
    }

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
