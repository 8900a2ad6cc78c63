//! Size classes: the size of the block behind a buffer of a given capacity, below
//! [`MAP_THRESHOLD`].
//!
//! Capacities round up to 1, 2, 3 or 4 pages, then to one of four steps per power of two (5, 6,
//! 7, 8 × 2^k pages). Powers of two are classes of their own, so the usual buffer sizes waste
//! nothing; others waste under 25 %, in address space that is never touched. The class is a
//! function of the capacity alone, so a block is released knowing only its capacity.

use crate::{MAP_THRESHOLD, PAGE_SIZE};

/// Number of classes: capacities of 1 page up to below [`MAP_THRESHOLD`].
pub(crate) const CLASSES: usize = 48;

/// The size class of a capacity below [`MAP_THRESHOLD`]: the size of the block behind the
/// buffer, a function of the capacity alone, worked out once per allocation and once per release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Class(pub(crate) usize);

impl Class {
    /// The class of `cap`, a whole number of pages, at least one, below [`MAP_THRESHOLD`].
    #[inline]
    pub(crate) fn of(cap: usize) -> Self {
        Self(class_of(cap))
    }

    /// The size of the blocks of this class, in bytes, at least the capacities it holds.
    #[inline]
    pub(crate) const fn size(self) -> usize {
        class_size(self.0)
    }
}

/// The class index of `cap` (see [`Class::of`]).
#[inline]
pub(crate) fn class_of(cap: usize) -> usize {
    debug_assert!((PAGE_SIZE..MAP_THRESHOLD).contains(&cap) && cap % PAGE_SIZE == 0);
    let pages = cap / PAGE_SIZE;
    if pages <= 4 {
        return pages - 1;
    }
    // pages - 1 = m × 2^(k-2) + r with m in 4..=7: the class is (k - 2) × 4 + m, whose size is
    // (m + 1) × 2^(k-2) pages, the first step at or above `pages`.
    let q = pages - 1;
    let shift = q.ilog2() as usize - 2;
    shift * 4 + (q >> shift)
}

/// The size of the blocks of `class`, in bytes.
#[inline]
pub(crate) const fn class_size(class: usize) -> usize {
    if class < 4 {
        return (class + 1) * PAGE_SIZE;
    }
    let shift = class / 4 - 1;
    let m = class % 4 + 4;
    ((m + 1) << shift) * PAGE_SIZE
}

// Class 47 holds the capacities just below the threshold and is exactly the threshold.
const _: () = assert!(class_size(CLASSES - 1) == MAP_THRESHOLD);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_capacity_has_the_smallest_class_that_holds_it() {
        let mut last = 0;
        for pages in 1..MAP_THRESHOLD / PAGE_SIZE {
            let cap = pages * PAGE_SIZE;
            let class = class_of(cap);
            assert!(class < CLASSES);
            assert!(class_size(class) >= cap, "cap {cap}: class {class}");
            assert!(
                class == 0 || class_size(class - 1) < cap,
                "cap {cap}: class {class}"
            );
            assert!(class >= last);
            last = class;
            // Under 25 % waste, and powers of two waste nothing.
            assert!(class_size(class) - cap < cap / 4 + PAGE_SIZE);
            if pages.is_power_of_two() {
                assert_eq!(class_size(class), cap);
            }
        }
        assert_eq!(last, CLASSES - 1);
    }
}
