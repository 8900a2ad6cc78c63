//! Aligned provided buffers for compio 0.19's and 0.20's managed reads: an allocator for their
//! buffer pool.
//!
//! compio 0.19's and 0.20's `read_managed_at` reads into a buffer the kernel picks from a pool of
//! "provided buffers" (an io_uring buffer ring). The pool's memory comes from a
//! `compio_driver::BufferAllocator`, by default `Box<[u8]>`: not aligned, so managed reads on
//! an `O_DIRECT` file fail with `EINVAL`. [`AlignedAllocator`] hands out this crate's
//! [`ALIGNMENT`]-aligned blocks instead.

use std::{mem::MaybeUninit, ptr::NonNull};

use crate::{ALIGNMENT, AlignedBuf};

/// A `compio_driver::BufferAllocator` (compio 0.19 with feature `compio-19`, compio 0.20 with
/// `compio-20`) whose buffers are [`AlignedBuf`] blocks: [`ALIGNMENT`]-aligned, whole pages, so
/// managed reads work on `O_DIRECT` files.
///
/// Give the pool a buffer length that is a multiple of the file's `O_DIRECT` block size (4 KiB
/// always is) and ask for reads of whole blocks.
///
/// ```
/// # #[cfg(feature = "compio-19")]
/// use compio_19 as compio; // in your crate: plain `compio`, 0.19 or 0.20 alike
/// # #[cfg(not(feature = "compio-19"))]
/// # use compio_20 as compio;
/// use compio::{driver::ProactorBuilder, runtime::RuntimeBuilder};
/// use jdb_alloc::managed::AlignedAllocator;
///
/// let mut proactor = ProactorBuilder::new();
/// proactor
///     .buffer_pool_allocator::<AlignedAllocator>()
///     .buffer_pool_buffer_len(64 << 10);
/// let runtime = RuntimeBuilder::new().with_proactor(proactor).build().unwrap();
/// // `file.read_managed_at(64 << 10, pos)` on an O_DIRECT file now works in `runtime`.
/// # drop(runtime);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct AlignedAllocator;

impl AlignedAllocator {
    /// A block of at least `len` bytes (whole pages), [`ALIGNMENT`]-aligned; out of memory ends
    /// the process through [`std::alloc::handle_alloc_error`].
    fn allocate(len: u32) -> NonNull<MaybeUninit<u8>> {
        let buf = AlignedBuf::with_cap(len as usize).unwrap_or_else(|_| {
            let cap = (len as usize).div_ceil(ALIGNMENT).max(1) * ALIGNMENT;
            std::alloc::handle_alloc_error(crate::mem::oom_layout(cap))
        });
        let (ptr, _, _) = buf.into_raw_parts();
        ptr.cast()
    }

    /// Frees a block from `allocate(len)`.
    ///
    /// # Safety
    /// `ptr` came from `allocate(len)`, with this same `len`, and is freed once.
    unsafe fn deallocate(ptr: NonNull<MaybeUninit<u8>>, len: u32) {
        // `with_cap(len)` rounds `len` this same way, so this is the block's capacity; it
        // cannot fail for a `len` that was allocated.
        let cap = crate::mem::capacity_for(len as usize).expect("allocated, so it has a capacity");
        // SAFETY: the caller passes a pointer `allocate(len)` returned, not freed before, so it
        // came from `into_raw_parts` of a buffer that is rebuilt once, here, with the capacity
        // `with_cap(len)` gave it. Length 0 claims no bytes.
        drop(unsafe { AlignedBuf::from_raw_parts(ptr.cast(), 0, cap) });
    }
}

/// Implements `$driver::BufferAllocator` for [`AlignedAllocator`] (compio-driver 0.12 and 0.13
/// have the same trait).
macro_rules! buffer_allocator {
    ($feature:literal, $driver:ident) => {
        #[cfg(feature = $feature)]
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl $driver::BufferAllocator for AlignedAllocator {
            /// A block of at least `len` bytes (whole pages), [`ALIGNMENT`]-aligned.
            ///
            /// # Panics
            /// Out of memory ends the process through [`std::alloc::handle_alloc_error`], as
            /// the trait (which cannot fail) and compio's default allocator do.
            fn allocate(len: u32) -> NonNull<MaybeUninit<u8>> {
                Self::allocate(len)
            }

            unsafe fn deallocate(ptr: NonNull<MaybeUninit<u8>>, len: u32) {
                // SAFETY: the trait's caller passes a pointer `allocate(len)` returned, not
                // freed before. The trait's docs only say "allocated by this allocator", but
                // compio's own `BoxAllocator` frees with the `len` it is given, and
                // compio-driver 0.12 and 0.13 pass the length the pool allocated with (its
                // `full_cap`, its `size`), so `len` is the one `allocate` got.
                unsafe { Self::deallocate(ptr, len) }
            }
        }
    };
}

buffer_allocator!("compio-19", compio_driver_12);
buffer_allocator!("compio-20", compio_driver_13);

#[cfg(test)]
mod tests {
    use super::AlignedAllocator;
    use crate::{ALIGNMENT, PAGE_SIZE};

    #[test]
    fn managed_blocks_are_aligned_whole_pages() {
        for len in [1, 4096, 5000, 64 << 10, 40 << 20] {
            let ptr = AlignedAllocator::allocate(len);
            assert_eq!(ptr.as_ptr() as usize % ALIGNMENT, 0, "len {len}");
            let cap = (len as usize).div_ceil(PAGE_SIZE) * PAGE_SIZE;
            // SAFETY: the block is at least `cap` bytes, writable, and ours.
            unsafe { ptr.as_ptr().cast::<u8>().write_bytes(0xa5, cap) };
            // SAFETY: from `allocate(len)` just above, released once.
            unsafe { AlignedAllocator::deallocate(ptr, len) };
        }
    }
}
