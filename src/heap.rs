//! Blocks of the global allocator: the backing of every buffer below
//! [`MAP_THRESHOLD`](crate::MAP_THRESHOLD) (and of every size off Unix).
//!
//! The bottom layer with [`crate::os_mem`]: it knows block sizes, not capacities, size classes
//! or recycling. A block of `size` bytes has the layout of `size` bytes at [`ALIGNMENT`], so it
//! is freed knowing its size alone.

use std::{
    alloc::{Layout, alloc, alloc_zeroed, dealloc},
    ptr::NonNull,
};

use crate::{ALIGNMENT, PAGE_SIZE};

/// The layout of a block of `size` bytes: a whole number of pages, at most `isize::MAX`.
#[inline]
pub(crate) fn layout(size: usize) -> Layout {
    debug_assert!(size >= PAGE_SIZE && size % PAGE_SIZE == 0);
    match Layout::from_size_align(size, ALIGNMENT) {
        Ok(layout) => layout,
        // Unreachable for sizes in range; never reached with a valid `size`.
        Err(_) => panic!("block size {size} is not a valid layout"),
    }
}

/// A fresh block of `size` bytes whose first `zeroes` bytes read as zero (`0`: contents
/// unspecified), or `None` if the allocator has no memory for it. `zeroes == size`, the usual
/// zeroed case, is left to the allocator, which knows when its memory is zero already.
pub(crate) fn allocate(size: usize, zeroes: usize) -> Option<NonNull<u8>> {
    debug_assert!(zeroes <= size);
    let layout = layout(size);
    // SAFETY: `layout` has a non-zero size (at least one page), as `alloc` requires.
    let ptr = NonNull::new(unsafe {
        if zeroes == size {
            alloc_zeroed(layout)
        } else {
            alloc(layout)
        }
    })?;
    if zeroes != 0 && zeroes != size {
        // SAFETY: a fresh block of `size > zeroes` bytes, owned here.
        unsafe { ptr.as_ptr().write_bytes(0, zeroes) };
    }
    Some(ptr)
}

/// Returns a block of `size` bytes to the global allocator.
///
/// # Safety
/// `ptr` must be a live block from [`allocate`]`(size, ..)`, not used afterwards.
#[inline]
pub(crate) unsafe fn release(ptr: NonNull<u8>, size: usize) {
    // SAFETY: the caller's promise.
    unsafe { dealloc(ptr.as_ptr(), layout(size)) }
}

/// Smallest block whose pages [`release_to_os`] hands back to the OS itself: below it, a system
/// call per block costs more than the memory is worth.
#[cfg(target_os = "linux")]
const DISCARD_MIN: usize = 64 << 10;

/// Returns a block of `size` bytes to the global allocator, and its pages to the OS even if the
/// allocator would keep them resident (Linux, blocks of 64 KiB and more): what
/// [`crate::recycle::trim`] and a thread's exit promise.
///
/// # Safety
/// As [`release`].
pub(crate) unsafe fn release_to_os(ptr: NonNull<u8>, size: usize) {
    #[cfg(target_os = "linux")]
    if size >= DISCARD_MIN {
        // SAFETY: the caller gives up the whole block, page-aligned and a whole number of pages
        // long, that the allocator handed out; its contents are not needed, and the allocator
        // keeps no data of its own inside a block it handed out.
        unsafe { crate::os_mem::discard(ptr, size) };
    }
    // SAFETY: the caller's promise.
    unsafe { release(ptr, size) }
}
