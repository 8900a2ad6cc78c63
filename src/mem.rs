//! Where a buffer's memory comes from, and how it goes back.
//!
//! Every buffer in this crate owns a block that is [`ALIGNMENT`]-aligned and a whole number of
//! pages long. The block is allocated and released through this module only, and the choice of
//! backing is a function of the capacity alone, so any `(ptr, cap)` pair produced by
//! [`allocate`] can be handed back to [`release`] by code that knows nothing but `cap`
//! (this is what makes `AlignedBuf::into_raw_parts` / `from_raw_parts` round-trip).
//!
//! Two backings, split at [`MAP_THRESHOLD`]:
//! - below it, the global allocator (`std::alloc`), with blocks of the capacity's size class
//!   ([`recycle::block_size`]), which are kept when freed and handed out again
//!   ([`crate::recycle`]);
//! - at and above it, on Unix, an anonymous private mapping of its own ([`crate::os_mem`]):
//!   zero-reading without being written, resident only where touched, unmapped on release.
//!   Elsewhere the global allocator serves every size.

use std::{
    alloc::{Layout, alloc, alloc_zeroed, dealloc},
    ptr::NonNull,
};

use crate::{ALIGNMENT, Error, PAGE_SIZE, Result, recycle};

/// Largest capacity a buffer can have: `isize::MAX` rounded down to a whole page, the largest
/// size a `Layout` with [`ALIGNMENT`] accepts.
pub(crate) const MAX_CAP: usize = (isize::MAX as usize) & !(PAGE_SIZE - 1);

/// Smallest capacity backed by an anonymous mapping of its own (on Unix): 32 MiB.
///
/// Chosen by measurement (`cargo bench --bench threshold`), against what the global allocator
/// does at each size. glibc serves 4 KiB-aligned requests of 32 MiB and more from a fresh `mmap`
/// whatever its state (32 MiB is the ceiling of its dynamic mmap threshold on 64-bit), so there
/// a mapping of our own is never slower: the same page faults, minus the `memset`. Below 32 MiB
/// glibc may reuse warm heap memory, which a buffer that is written all over fills 13 to 44
/// times faster than fresh pages faulted in one by one; a lower threshold would win only for
/// buffers that stay mostly untouched, and lose badly for those that do not.
///
/// Elsewhere than Unix every size uses the global allocator. The threshold is part of the
/// contract of [`AlignedBuf::into_raw_parts`](crate::AlignedBuf::into_raw_parts) (a block is
/// released by the backing its capacity selects), so it is a constant.
///
/// ```
/// use jdb_alloc::{AlignedBuf, MAP_THRESHOLD};
///
/// // 1 GiB of zeroes: one mmap on Unix, no memset, nothing resident yet (about 20 µs, where
/// // jdb_alloc 0.1.4 took 0.6 s and 1 GiB of memory).
/// let mut big = AlignedBuf::zeroed(1 << 30).unwrap();
/// assert!(big.cap() >= MAP_THRESHOLD);
/// assert_eq!((big[0], big[(1 << 30) - 1]), (0, 0));
/// big[4096] = 1; // now one 4 KiB page is resident
/// // Dropping `big` unmaps it: the memory goes back to the OS at once.
/// ```
pub const MAP_THRESHOLD: usize = 32 << 20;

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

/// The layout of a block of `cap` bytes.
///
/// `cap` must be a whole number of pages in `PAGE_SIZE..=MAX_CAP` (as [`capacity_for`] returns).
#[inline]
fn layout(cap: usize) -> Layout {
    debug_assert!((PAGE_SIZE..=MAX_CAP).contains(&cap) && cap % PAGE_SIZE == 0);
    match Layout::from_size_align(cap, ALIGNMENT) {
        Ok(layout) => layout,
        // Unreachable for capacities from `capacity_for`; never reached with a valid `cap`.
        Err(_) => panic!("capacity {cap} is not a valid layout"),
    }
}

/// Allocates a block for a buffer of capacity `cap`, [`ALIGNMENT`]-aligned: a recycled one if
/// one is kept, else a fresh one. With [`Fill::Zeroed`], bytes `[0, cap)` read as zero.
///
/// `cap` must come from [`capacity_for`]. The block may be larger than `cap`
/// ([`recycle::block_size`]); bytes past `cap` are never used. A fresh mapping reads as zero
/// already, so `fill` only matters below [`MAP_THRESHOLD`].
#[inline]
pub(crate) fn allocate(cap: usize, fill: Fill) -> Result<NonNull<u8>> {
    #[cfg(unix)]
    if is_mapped(cap) {
        return crate::os_mem::map(cap);
    }
    // (Off Unix, capacities from MAP_THRESHOLD up come here too, and are never recycled.)
    let recycled = if cap < MAP_THRESHOLD {
        recycle::take(cap)
    } else {
        None
    };
    let ptr = match recycled {
        Some(ptr) => {
            if fill == Fill::Zeroed {
                // SAFETY: a kept block is live, owned by us now, and `block_size(cap) >= cap`
                // bytes long.
                unsafe { ptr.as_ptr().write_bytes(0, cap) };
            }
            ptr
        }
        None => fresh(cap, fill)?,
    };
    #[cfg(jdb_alloc_asan)]
    recycle::asan::slack(ptr, cap, true);
    Ok(ptr)
}

/// A fresh block of [`recycle::block_size`]`(cap)` bytes from the global allocator.
fn fresh(cap: usize, fill: Fill) -> Result<NonNull<u8>> {
    let size = recycle::block_size(cap);
    let layout = layout(size);
    // SAFETY: `layout` has a non-zero size (at least one page), as `alloc` requires.
    let ptr = unsafe {
        match fill {
            Fill::Uninit => alloc(layout),
            // The usual case (a class of its own): exactly what the global allocator does best.
            Fill::Zeroed if size == cap => alloc_zeroed(layout),
            Fill::Zeroed => alloc(layout),
        }
    };
    let ptr = NonNull::new(ptr).ok_or(Error::AllocFailed { size: cap })?;
    if fill == Fill::Zeroed && size != cap {
        // SAFETY: a fresh block of `size > cap` bytes, owned here.
        unsafe { ptr.as_ptr().write_bytes(0, cap) };
    }
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
    crate::os_mem::map_aligned(cap, align)
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
        return unsafe { crate::os_mem::unmap(ptr, cap) };
    }
    #[cfg(jdb_alloc_asan)]
    recycle::asan::slack(ptr, cap, false);
    let ptr = if cap < MAP_THRESHOLD {
        // SAFETY: the caller's promise: a live block from `allocate(cap, _)`, given up here.
        match unsafe { recycle::keep(ptr, cap) } {
            Ok(()) => return,
            Err(ptr) => ptr,
        }
    } else {
        ptr
    };
    // SAFETY: as above; a block that is not mapped is `block_size(cap)` bytes from the global
    // allocator.
    unsafe { release_block(ptr, recycle::block_size(cap)) }
}

/// Returns a block of `size` bytes to the global allocator.
///
/// # Safety
/// `ptr` must be a live block from the global allocator with `layout(size)` (a block that
/// [`allocate`] took from there for a capacity whose [`recycle::block_size`] is `size`), not
/// used afterwards.
#[inline]
pub(crate) unsafe fn release_block(ptr: NonNull<u8>, size: usize) {
    // SAFETY: the caller's promise.
    unsafe { dealloc(ptr.as_ptr(), layout(size)) }
}

/// Smallest block whose pages [`release_to_os`] hands back to the OS itself: below it, a system
/// call per block costs more than the memory is worth.
#[cfg(target_os = "linux")]
const DISCARD_MIN: usize = 64 << 10;

/// Returns a kept block of `size` bytes to the global allocator, and its pages to the OS even if
/// the allocator would keep them resident (Linux, blocks of 64 KiB and more): what
/// [`crate::recycle::trim`] and a thread's exit promise.
///
/// # Safety
/// As [`release_block`].
pub(crate) unsafe fn release_to_os(ptr: NonNull<u8>, size: usize) {
    #[cfg(target_os = "linux")]
    if size >= DISCARD_MIN {
        // SAFETY: the caller gives up the whole block, page-aligned and a whole number of pages
        // long, that the allocator handed out; its contents are not needed, and the allocator
        // keeps no data of its own inside a block it handed out.
        unsafe { crate::os_mem::discard(ptr, size) };
    }
    // SAFETY: the caller's promise.
    unsafe { release_block(ptr, size) }
}

/// The layout reported to `handle_alloc_error` when an infallible API (`Clone`) cannot get
/// memory.
#[inline]
pub(crate) fn oom_layout(cap: usize) -> Layout {
    layout(recycle::block_size(cap))
}
