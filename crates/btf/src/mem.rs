//! Allocating large arrays that are about to be read and written at random.
//!
//! `vec![0; n]` is `calloc`: for a large `n` the kernel hands out pages that are mapped to
//! the shared zero page on their first read. The first write to such a page then replaces
//! that mapping, and replacing a mapping flushes the TLB of every core running the process
//! (an interrupt to each, taken in the middle of whatever the other threads are doing). A
//! hash table probed before it is filled reads most of its pages first. [`written`] writes
//! every element when it allocates, so that each page is faulted in once, writable, and
//! nothing is flushed.

/// `n` copies of `value`, every page written now (see the module doc).
pub fn written<T: Copy>(n: usize, value: T) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    // Opaque to the optimizer: an allocation followed by a fill it can prove zero would be
    // turned back into `calloc`.
    v.resize(n, std::hint::black_box(value));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_n_copies() {
        assert_eq!(written(3, 7u32), vec![7, 7, 7]);
        assert_eq!(written(0, (0u32, 0u32)), vec![]);
        assert_eq!(
            written(1 << 20, 0u64).iter().filter(|&&x| x != 0).count(),
            0
        );
    }
}
