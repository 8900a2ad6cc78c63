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

/// Returns `[ptr, ptr + len)` to the operating system.
///
/// # Safety
/// `[ptr, ptr + len)` must be (part of) a mapping made by [`map`], page-aligned,
/// not unmapped before, and no reference into it may be used afterwards.
pub(crate) unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    // munmap of a whole mapping of ours fails only if the kernel cannot split a neighbouring
    // mapping it merged ours into (at `vm.max_map_count`). The range then stays mapped: a leak,
    // never a use-after-free, and nothing better can be done inside `Drop`, so the error is
    // dropped.
    // SAFETY: the caller's promise: a live mapping of ours that nothing will use again.
    let _ = unsafe { munmap(ptr.as_ptr().cast::<c_void>(), len) };
}
