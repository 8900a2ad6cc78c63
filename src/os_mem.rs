//! Anonymous private mappings: the backing of large buffers on Unix.
//!
//! A fresh anonymous mapping reads as zero without anyone writing it: the kernel maps every page
//! to the shared zero page until it is first written, and only then gives it a private frame.
//! So mapping costs a system call whatever the size, and memory becomes resident page by page as
//! it is used.
//!
//! No `MAP_NORESERVE`: under the kernel's default heuristic overcommit a request that can never
//! be satisfied (larger than RAM plus swap) then fails here, as an error the caller can handle,
//! instead of succeeding and killing the process on a later touch; under strict overcommit
//! (`vm.overcommit_memory = 2`) the mapping is charged against the commit limit up front, which is
//! what `malloc` does too. Buffers are meant to be used, so reserving them is the honest choice.

use std::{ffi::c_void, ptr::NonNull};

use rustix::mm::{MapFlags, ProtFlags, mmap_anonymous, munmap};

use crate::{Error, Result};

/// Maps `len` bytes of fresh, zero-reading, read-write private memory.
///
/// `len` must be a non-zero multiple of the system page size. The block is aligned to the
/// system page size (at least 4 KiB on every Unix this crate supports).
pub(crate) fn map(len: usize) -> Result<NonNull<u8>> {
    // SAFETY: a null hint lets the kernel choose an unused range, so no existing memory is
    // replaced; the result is a new private mapping nobody else refers to.
    let ptr = unsafe {
        mmap_anonymous(
            std::ptr::null_mut(),
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::PRIVATE,
        )
    }
    .map_err(|_| Error::AllocFailed { size: len })?;
    NonNull::new(ptr.cast()).ok_or(Error::AllocFailed { size: len })
}

/// Maps `len` bytes as [`map`] does, starting at a multiple of `align`.
///
/// Maps `len + align` bytes and unmaps the unaligned head and the tail, so exactly
/// `[ptr, ptr + len)` stays mapped and [`unmap`]`(ptr, len)` releases all of it.
/// `align` must be a power of two and a multiple of the system page size, as `len` is.
/// Linux only, like the huge-page arenas it is for.
#[cfg(target_os = "linux")]
pub(crate) fn map_aligned(len: usize, align: usize) -> Result<NonNull<u8>> {
    debug_assert!(align.is_power_of_two() && len % align == 0);
    let total = len
        .checked_add(align)
        .ok_or(Error::AllocFailed { size: len })?;
    let base = map(total)?;
    // A multiple of the page size (mmap returns page-aligned addresses), below `align`.
    let head = (base.as_ptr() as usize).wrapping_neg() & (align - 1);
    // SAFETY: `head < align`, so `start + len <= base + total`: inside the mapping just made.
    let start = unsafe { base.add(head) };
    // SAFETY: `[base, start)` is the head of the mapping made above; nothing refers to it.
    if unsafe { trim(base, head) }.is_err() {
        // Splitting a mapping needs a new kernel map entry and can hit `vm.max_map_count`;
        // unmapping the whole of it needs none.
        // SAFETY: the mapping made above, still whole; nothing refers to it.
        unsafe { unmap(base, total) };
        return Err(Error::AllocFailed { size: len });
    }
    // SAFETY: `start + len` is inside the mapping (above), page-aligned since `len` is.
    let end = unsafe { start.add(len) };
    // SAFETY: `[end, base + total)` is the tail of the mapping made above (`align - head > 0`
    // bytes); nothing refers to it.
    if unsafe { trim(end, align - head) }.is_err() {
        // SAFETY: what is left of the mapping made above: `[start, base + total)`. The head is
        // not touched again: another thread may have mapped something there since.
        unsafe { unmap(start, len + align - head) };
        return Err(Error::AllocFailed { size: len });
    }
    Ok(start)
}

/// Unmaps `len` bytes at `ptr`, if `len` is not zero.
///
/// # Safety
/// As [`unmap`], for `len` bytes (possibly zero).
#[cfg(target_os = "linux")]
unsafe fn trim(ptr: NonNull<u8>, len: usize) -> rustix::io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    // SAFETY: the caller's promise, as for `unmap`.
    unsafe { munmap(ptr.as_ptr().cast::<c_void>(), len) }
}

/// Returns `[ptr, ptr + len)` to the operating system.
///
/// # Safety
/// `[ptr, ptr + len)` must be (part of) a mapping made by [`map`] or [`map_aligned`], page-aligned,
/// not unmapped before, and no reference into it may be used afterwards.
pub(crate) unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    // munmap of a whole mapping of ours fails only if the kernel cannot split a neighbouring
    // mapping it merged ours into (at `vm.max_map_count`). The range then stays mapped: a leak,
    // never a use-after-free, and nothing better can be done inside `Drop`, so the error is
    // dropped.
    // SAFETY: the caller's promise: a live mapping of ours that nothing will use again.
    let _ = unsafe { munmap(ptr.as_ptr().cast::<c_void>(), len) };
}

/// Frees the pages of `[ptr, ptr + len)` at once (`madvise(MADV_DONTNEED)`), whoever mapped
/// them: the range stays valid and reads as zero (or as its file) when touched again.
///
/// For blocks of the global allocator that are about to be freed: an allocator may keep freed
/// memory resident (glibc keeps most of what its thread arenas free), and "return it to the OS"
/// must then still mean that. Failure (locked pages) only means the pages stay.
///
/// # Safety
/// `[ptr, ptr + len)` must be page-aligned memory the caller owns outright, whose contents
/// nobody needs any more.
#[cfg(target_os = "linux")]
pub(crate) unsafe fn discard(ptr: NonNull<u8>, len: usize) {
    // SAFETY: the caller owns the range and needs none of its bytes; MADV_DONTNEED replaces
    // them with zero pages but leaves the range mapped, so no pointer into it dangles.
    let _ = unsafe {
        rustix::mm::madvise(
            ptr.as_ptr().cast::<c_void>(),
            len,
            rustix::mm::Advice::LinuxDontNeed,
        )
    };
}

/// Advises the kernel to back `[ptr, ptr + len)` with transparent huge pages
/// (`madvise(MADV_HUGEPAGE)`).
///
/// # Safety
/// `[ptr, ptr + len)` must be a page-aligned range of a mapping made by this module that the
/// caller owns. (The advice does not change contents; it is `unsafe` only because `madvise` is.)
#[cfg(target_os = "linux")]
pub(crate) unsafe fn advise_huge(ptr: NonNull<u8>, len: usize) -> rustix::io::Result<()> {
    // SAFETY: the caller's promise; MADV_HUGEPAGE changes how pages are backed, not what they
    // hold, so no Rust reference to the range is invalidated.
    unsafe {
        rustix::mm::madvise(
            ptr.as_ptr().cast::<c_void>(),
            len,
            rustix::mm::Advice::LinuxHugepage,
        )
    }
}
