//! Where a buffer's memory comes from, and how it goes back: the middle layer, between the
//! buffer types above and, below, the recycling cache ([`crate::recycle`]) and the two
//! backings ([`crate::heap`], [`crate::os_mem`]). Nothing below calls back up into it.
//!
//! Every buffer in this crate owns a block that is [`ALIGNMENT`](crate::ALIGNMENT)-aligned and
//! a whole number of pages long. The block is allocated and released through this module only, and the choice of
//! backing is a function of the capacity alone, so any `(ptr, cap)` pair produced by
//! [`allocate`] can be handed back to [`release`] by code that knows nothing but `cap`
//! (this is what makes `AlignedBuf::into_raw_parts` / `from_raw_parts` round-trip).
//!
//! Two backings, split at [`MAP_THRESHOLD`]:
//! - below it, the global allocator ([`crate::heap`]), with blocks of the capacity's size class
//!   ([`Class`]), which are kept when freed and handed out again: below 128 KiB by
//!   [`crate::recycle`]'s thread caches, from 128 KiB up by [`crate::large`]'s heaps, whose
//!   blocks carry a header page in front;
//! - at and above it, on Unix, an anonymous private mapping of its own ([`crate::os_mem`]):
//!   zero-reading without being written, resident only where touched, unmapped on release.
//!   Elsewhere the global allocator serves every size.

use std::{alloc::Layout, ptr::NonNull};

use crate::large;
#[cfg(unix)]
use crate::os_mem;
use crate::{Error, MAP_THRESHOLD, PAGE_SIZE, Result, heap, recycle, size_class::Class};

/// Largest capacity a buffer can have: `isize::MAX` rounded down to a whole page, the largest
/// size a `Layout` with [`ALIGNMENT`](crate::ALIGNMENT) accepts.
pub(crate) const MAX_CAP: usize = (isize::MAX as usize) & !(PAGE_SIZE - 1);

/// Whether a block of `cap` bytes is an anonymous mapping of its own (else: global allocator).
#[cfg(unix)]
#[inline]
const fn is_mapped(cap: usize) -> bool {
    cap >= MAP_THRESHOLD
}

/// Whether a fresh block must read as zeroes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Fill {
    /// Contents unspecified (never read before being written).
    Uninit,
    /// Every byte reads as zero.
    Zeroed,
}

/// The capacity that holds `size` bytes: rounded up to whole pages, at least one page.
#[inline]
pub(crate) const fn capacity_for(size: usize) -> Result<usize> {
    if size <= PAGE_SIZE {
        return Ok(PAGE_SIZE);
    }
    if size > MAX_CAP {
        return Err(Error::TooLarge {
            requested: size,
            max: MAX_CAP,
        });
    }
    // Cannot overflow: size <= MAX_CAP = usize::MAX / 2 rounded down.
    Ok((size + PAGE_SIZE - 1) & !(PAGE_SIZE - 1))
}

/// Allocates a block for a buffer of capacity `cap`, [`ALIGNMENT`](crate::ALIGNMENT)-aligned: a recycled one if
/// one is kept, else a fresh one. With [`Fill::Zeroed`], bytes `[0, cap)` read as zero.
///
/// `cap` must come from [`capacity_for`]. Below [`MAP_THRESHOLD`] the block is the size of
/// `cap`'s class ([`Class`]), which may be larger; bytes past `cap` are never used. A fresh
/// mapping reads as zero already, so `fill` only matters below [`MAP_THRESHOLD`].
#[inline]
pub(crate) fn allocate(cap: usize, fill: Fill) -> Result<NonNull<u8>> {
    #[cfg(unix)]
    if is_mapped(cap) {
        return os_mem::map(cap);
    }
    let zeroes = match fill {
        Fill::Uninit => 0,
        Fill::Zeroed => cap,
    };
    // Off Unix, capacities from MAP_THRESHOLD up are plain heap blocks, never recycled.
    if cap >= MAP_THRESHOLD {
        return heap::allocate(cap, zeroes).ok_or(Error::AllocFailed { size: cap });
    }
    let class = Class::of(cap);
    if large::holds(class) {
        return large::allocate(cap, class, fill == Fill::Zeroed, recycle::large_limit());
    }
    let ptr = match recycle::take(class) {
        Some(ptr) => {
            // SAFETY: a kept block is live, owned by us now, and `class.size() >= cap` bytes
            // long.
            unsafe { ptr.as_ptr().write_bytes(0, zeroes) };
            ptr
        }
        None => heap::allocate(class.size(), zeroes).ok_or(Error::AllocFailed { size: cap })?,
    };
    #[cfg(jdb_alloc_asan)]
    recycle::asan::slack(ptr, cap, class.size(), true);
    Ok(ptr)
}

/// Allocates a zero-reading block of `cap` bytes starting at a multiple of `align`, that
/// [`release`]`(ptr, cap)` takes back like any other.
///
/// `cap` must come from [`capacity_for`], be at least [`MAP_THRESHOLD`] and a multiple of
/// `align`, a power of two. Linux only: the one platform where the crate asks for huge pages.
#[cfg(target_os = "linux")]
pub(crate) fn allocate_aligned(cap: usize, align: usize) -> Result<NonNull<u8>> {
    debug_assert!(is_mapped(cap));
    os_mem::map_aligned(cap, align)
}

/// Gives a buffer's block back: to the recycling cache if it has room, else to where it came
/// from.
///
/// # Safety
/// `ptr` must have been returned by [`allocate`] (or `allocate_aligned`) with this same `cap`,
/// and not released since.
#[inline]
pub(crate) unsafe fn release(ptr: NonNull<u8>, cap: usize) {
    #[cfg(unix)]
    if is_mapped(cap) {
        // SAFETY: a block of `cap >= MAP_THRESHOLD` bytes from `allocate` or `allocate_aligned`
        // is a whole mapping of exactly `[ptr, ptr + cap)`, live (the caller's promise), and
        // released once, here; the caller holds no reference into it any more.
        return unsafe { os_mem::unmap(ptr, cap) };
    }
    if cap >= MAP_THRESHOLD {
        // SAFETY: off Unix, a block this large is a heap block of `cap` bytes from `allocate`,
        // live and given up by the caller.
        return unsafe { heap::release(ptr, cap) };
    }
    let class = Class::of(cap);
    if large::holds(class) {
        // SAFETY: the caller's promise: a live block from `allocate(cap, _)`, which for this
        // class came from `large::allocate`, given up here.
        return unsafe { large::release(ptr, recycle::large_limit()) };
    }
    #[cfg(jdb_alloc_asan)]
    recycle::asan::slack(ptr, cap, class.size(), false);
    // SAFETY: the caller's promise: a live block from `allocate(cap, _)`, hence a heap block of
    // `class.size()` bytes, given up here.
    if let Err(ptr) = unsafe { recycle::keep(ptr, class) } {
        // SAFETY: as above; `keep` gave the block back untouched.
        unsafe { heap::release(ptr, class.size()) }
    }
}

/// The layout reported to `handle_alloc_error` when an infallible API (`Clone`) cannot get
/// memory.
#[inline]
pub(crate) fn oom_layout(cap: usize) -> Layout {
    heap::layout(if cap < MAP_THRESHOLD {
        Class::of(cap).size()
    } else {
        cap
    })
}
