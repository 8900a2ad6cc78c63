#![cfg_attr(docsrs, feature(doc_cfg))]
//! 4 KiB-aligned buffers for Direct I/O (`O_DIRECT`) through the [compio] runtime.
//!
//! - [`AlignedBuf`] owns an [`ALIGNMENT`]-aligned block and frees it on drop.
//! - [`Frame`] is an owned, disjoint piece of such a block, from [`AlignedBuf::into_frames`]: a
//!   buffer-pool frame that needs no `unsafe`.
//! - [`RawIoBuf`] is a non-owning, `Copy` view of such memory, for buffer-pool frames that are
//!   handed to async I/O while the pool keeps its own reference.
//!
//! All three implement compio's buffer traits, so `file.read_at(buf, pos)` and
//! `file.write_at(buf, pos)` take them directly.
//!
//! ```
//! use jdb_alloc::{AlignedBuf, ALIGNMENT, PAGE_SIZE};
//!
//! let mut buf = AlignedBuf::with_cap(100).unwrap();
//! assert_eq!(buf.cap(), PAGE_SIZE); // capacities are whole pages
//! assert_eq!(buf.as_ptr() as usize % ALIGNMENT, 0);
//! buf.extend(b"record").unwrap();
//! assert_eq!(&buf[..], b"record");
//! ```
//!
//! # Buffer pools without `unsafe`
//!
//! [`AlignedBuf::into_frames`] consumes an arena and splits it into owned [`Frame`]s: disjoint,
//! aligned, fixed-size slices of one block that can be passed to compio by value, moved
//! between threads and dropped in any order; the block is freed when the last frame drops.
//! [`AlignedBuf::slice_into_raws`] remains for pools that manage frame lifetimes themselves.
//!
//! ```
//! use jdb_alloc::{AlignedBuf, Frame, PAGE_SIZE};
//!
//! let mut pool: Vec<Frame> = AlignedBuf::with_cap(64 * PAGE_SIZE)
//!     .unwrap()
//!     .into_frames(PAGE_SIZE)
//!     .unwrap()
//!     .collect();
//! assert_eq!(pool.len(), 64);
//! let mut frame = pool.pop().unwrap(); // an owned page, ready for `file.read_at(frame, pos)`
//! frame.extend(b"page header").unwrap();
//! assert_eq!(&frame[..], b"page header");
//! ```
//!
//! # Invariants
//!
//! ```text
//!   ptr (ALIGNMENT-aligned)
//!   │
//!   ▼
//!   ┌──────────────── initialised ───────────────┬──────── spare ────────┐
//!   │ bytes [0, len): readable, Deref<[u8]>       │ [len, cap): maybe     │
//!   │                                             │ uninitialised         │
//!   └─────────────────────────────────────────────┴───────────────────────┘
//!   ◄──────────────────────────────── cap (k × PAGE_SIZE, k ≥ 1) ─────────►
//! ```
//!
//! For an [`AlignedBuf`], at all times:
//! 1. `ptr` is non-null, [`ALIGNMENT`]-aligned, and owns a live block of exactly `cap` bytes;
//! 2. `cap` is a whole number of pages, at least one ([`PAGE_SIZE`] `..=` isize::MAX);
//! 3. `len <= cap`, and bytes `[0, len)` are initialised.
//!
//! The backing of a block is chosen from `cap` alone, so a block can be released knowing only
//! its capacity (see [`AlignedBuf::into_raw_parts`]).
//!
//! A [`RawIoBuf`] holds the same three fields but owns nothing: the code that creates it (an
//! `unsafe` constructor) promises that invariants 1 and 3 hold (without the whole-page rule)
//! for as long as the view or any copy of it is used. That promise is what lets its safe
//! methods ([`RawIoBuf::as_slice`], the compio traits) touch the memory.
//!
//! # Backings
//!
//! Where a block comes from depends on its capacity alone:
//! - below [`MAP_THRESHOLD`] (32 MiB), the global allocator, as in jdb_alloc 0.1.4: for frames
//!   and small buffers, allocator reuse is as fast as memory gets;
//! - from [`MAP_THRESHOLD`] up, on Unix, an anonymous private mapping of its own: [`zeroed`]
//!   costs one system call whatever the size (the kernel's zero page stands in for unwritten
//!   memory, no `memset`), memory becomes resident only as pages are first written, and drop
//!   gives it back to the OS at once. A gigabyte buffer pool starts in microseconds. A mapping
//!   the OS refuses is [`Error::AllocFailed`]. Other platforms use the global allocator for all
//!   sizes.
//!
//! Arenas can also ask for transparent huge pages with [`AlignedBuf::zeroed_huge`] and
//! [`HugePages`]: see there for when that helps and when it hurts.
//!
//! [`zeroed`]: AlignedBuf::zeroed
//!
//! # Length after a read
//!
//! compio reads into `[0, cap)` of a buffer and then calls `set_buf_init(n)` with the number of
//! bytes read. All three buffer types set their length to exactly `n` (not `max(len, n)`), so
//! after a read `len()` is the number of bytes read, including a short read at end of file.
//!
//! # Features
//!
//! - `compio-buf-07` (default): compio-buf 0.7 traits `IoBuf`, `IoBufMut`, `SetBufInit`, as used
//!   by compio 0.16 and 0.17.
//! - `compio-buf-08`: compio-buf 0.8 traits `IoBuf`, `IoBufMut`, `SetLen`, as used by compio 0.18
//!   and 0.19; works alone (`default-features = false`) or together with `compio-buf-07`. The
//!   length after a read is exact there too (`SetLen::advance_to` sets it, see the impl docs).
//! - `compio-17`, `compio-19` (Linux, opt-in; each implies its compio-buf feature): io_uring
//!   registered buffers for compio 0.17 / 0.19 runtimes in module `fixed`: arenas
//!   registered with the runtime's ring, cut into fixed frames that `read_fixed_at` /
//!   `write_fixed_at` move with `READ_FIXED` / `WRITE_FIXED` (less CPU per byte), falling back
//!   to plain I/O wherever registration is not in effect. `compio-19` also brings
//!   `managed::AlignedAllocator`, aligned provided buffers for compio 0.19's managed reads.
//!   Without these features the crate depends on no runtime.
//!
//! [compio]: https://docs.rs/compio

mod align;
#[cfg(feature = "compio-buf-08")]
mod compio_buf_08;
mod dio_align;
mod error;
#[cfg(all(target_os = "linux", any(feature = "compio-17", feature = "compio-19")))]
#[cfg_attr(
    docsrs,
    doc(cfg(all(target_os = "linux", any(feature = "compio-17", feature = "compio-19"))))
)]
pub mod fixed;
mod frame;
mod huge;
#[cfg(all(target_os = "linux", feature = "compio-19"))]
#[cfg_attr(docsrs, doc(cfg(all(target_os = "linux", feature = "compio-19"))))]
pub mod managed;
mod mem;
#[cfg(unix)]
mod os_mem;

use std::{
    fmt,
    mem::ManuallyDrop,
    ops::{Deref, DerefMut},
    ptr::{self, NonNull},
    slice,
};

pub use align::{align_down, align_down_u64, align_up, align_up_u64, is_aligned, is_aligned_u64};
pub use dio_align::{DioAlign, DioSource, dio_align};
pub use error::{Error, Result};
pub use frame::{Frame, Frames};
pub use huge::{HUGE_PAGE_SIZE, HugePageStatus, HugePages};
use mem::Fill;
pub use mem::MAP_THRESHOLD;

/// Page size assumed for buffers: 4 KiB. Every capacity is a whole number of pages.
pub const PAGE_SIZE: usize = 4096;

/// Address alignment of every buffer, and the unit frame chunks (`into_frames`,
/// `slice_into_raws`) must be a multiple of: 4 KiB, which satisfies `O_DIRECT` on both 512-byte
/// and 4 KiB logical-block devices.
pub const ALIGNMENT: usize = 4096;

const ALIGN_MASK: usize = ALIGNMENT - 1;

// Whole-page capacities are then whole multiples of ALIGNMENT, which is what makes
// `AlignedBuf::pad_to_alignment` infallible.
const _: () = assert!(PAGE_SIZE % ALIGNMENT == 0);

// ============================================================================
// AlignedBuf
// ============================================================================

/// An owned, [`ALIGNMENT`]-aligned buffer of `cap` bytes with `len` initialised bytes.
///
/// Its capacity is fixed at creation and is always a whole number of pages (at least one), so a
/// read into the full capacity is always a valid `O_DIRECT` length. It never reallocates:
/// [`extend`](Self::extend) past the capacity is an [`Error::Overflow`].
///
/// # Thread safety
///
/// `AlignedBuf` is `Send` and `Sync` for the same reasons as `Box<[u8]>`: it is the only owner of
/// its block, mutation needs `&mut self`, and `&self` only hands out `&[u8]` and raw pointers.
/// The `unsafe` escape hatches ([`as_raw_view`](Self::as_raw_view)) put synchronisation on their
/// caller.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
    cap: usize,
}

// SAFETY: `AlignedBuf` uniquely owns its block (like `Box<[u8]>`); moving it to another thread
// moves that ownership, and the block is not tied to the allocating thread.
unsafe impl Send for AlignedBuf {}
// SAFETY: through `&AlignedBuf` safe code can only read (`Deref<Target = [u8]>`, `as_ptr`);
// every write path takes `&mut self` or is an `unsafe fn` whose caller must synchronise.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// An empty buffer (`len == 0`) that can hold at least `cap` bytes.
    ///
    /// The capacity is `cap` rounded up to whole pages, at least one page. The memory is not
    /// initialised; fill it with [`extend`](Self::extend) or a read.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if `cap` rounded up exceeds the largest possible allocation,
    /// [`Error::AllocFailed`] if the memory cannot be had.
    ///
    /// ```
    /// let buf = jdb_alloc::AlignedBuf::with_cap(5000).unwrap();
    /// assert_eq!((buf.len(), buf.cap()), (0, 8192));
    /// assert!(jdb_alloc::AlignedBuf::with_cap(usize::MAX).is_err());
    /// ```
    #[inline]
    pub fn with_cap(cap: usize) -> Result<Self> {
        let cap = mem::capacity_for(cap)?;
        let ptr = mem::allocate(cap, Fill::Uninit)?;
        Ok(Self { ptr, len: 0, cap })
    }

    /// A buffer of `size` zero bytes (`len == size`), its capacity `size` rounded up to whole
    /// pages (at least one).
    ///
    /// From [`MAP_THRESHOLD`] up (on Unix) no byte is written: the buffer is a fresh anonymous
    /// mapping, which reads as zero and becomes resident page by page as it is written.
    ///
    /// # Errors
    /// As [`with_cap`](Self::with_cap).
    ///
    /// ```
    /// let buf = jdb_alloc::AlignedBuf::zeroed(10).unwrap();
    /// assert_eq!(&buf[..], &[0; 10]);
    /// assert_eq!(buf.cap(), 4096);
    /// ```
    #[inline]
    pub fn zeroed(size: usize) -> Result<Self> {
        let cap = mem::capacity_for(size)?;
        let ptr = mem::allocate(cap, Fill::Zeroed)?;
        Ok(Self {
            ptr,
            len: size,
            cap,
        })
    }

    /// An arena of `size` zero bytes (`len == size`) that asks for transparent huge pages as
    /// `huge` says, and what came of it.
    ///
    /// With [`HugePages::Off`] this is exactly [`zeroed`](Self::zeroed). Otherwise the capacity
    /// is `size` rounded up to whole [`HUGE_PAGE_SIZE`] extents, and at least [`MAP_THRESHOLD`],
    /// so it may exceed `size` (frames cut from the whole capacity by
    /// [`slice_into_raws`](Self::slice_into_raws) may then outnumber `size / chunk`); memory
    /// beyond what is touched costs address space only. On Linux the arena is 2 MiB-aligned and
    /// advised `MADV_HUGEPAGE`; [`HugePageStatus`] says whether that was done (advised, which
    /// is not yet backed: the kernel backs each 2 MiB extent at its first touch, if it can).
    ///
    /// Huge pages help a large arena that will be used densely (a buffer pool): one page fault
    /// and one TLB entry per 2 MiB instead of 512. They hurt sparse use: touching one byte makes
    /// a whole 2 MiB resident. See [`HugePages`].
    ///
    /// # Errors
    /// [`Error::TooLarge`] / [`Error::AllocFailed`] as [`with_cap`](Self::with_cap);
    /// [`Error::HugePagesUnavailable`] with [`HugePages::On`] when the kernel refuses
    /// (transparent huge pages `never`, disabled for the process, `madvise` failing, not Linux).
    ///
    /// ```
    /// use jdb_alloc::{AlignedBuf, HugePageStatus, HugePages, HUGE_PAGE_SIZE};
    ///
    /// let (pool, status) = AlignedBuf::zeroed_huge(64 << 20, HugePages::Try).unwrap();
    /// assert_eq!((pool.len(), pool.cap()), (64 << 20, 64 << 20));
    /// assert!(pool.iter().step_by(4096).all(|&b| b == 0));
    /// if status == HugePageStatus::Advised {
    ///     assert_eq!(pool.as_ptr() as usize % HUGE_PAGE_SIZE, 0);
    /// }
    /// ```
    pub fn zeroed_huge(size: usize, huge: HugePages) -> Result<(Self, HugePageStatus)> {
        if huge == HugePages::Off {
            return Ok((Self::zeroed(size)?, HugePageStatus::NotRequested));
        }
        let cap = huge::capacity_for(size)?;
        let (ptr, status) = huge::allocate(cap, huge)?;
        let buf = Self {
            ptr,
            len: size,
            cap,
        };
        Ok((buf, status))
    }

    /// One zeroed page: `len == cap == PAGE_SIZE`.
    ///
    /// # Errors
    /// [`Error::AllocFailed`] if the memory cannot be had.
    #[inline]
    pub fn page() -> Result<Self> {
        let ptr = mem::allocate(PAGE_SIZE, Fill::Zeroed)?;
        Ok(Self {
            ptr,
            len: PAGE_SIZE,
            cap: PAGE_SIZE,
        })
    }

    /// Splits the whole capacity into `cap / chunk` frames of `chunk` bytes, in address order,
    /// each an empty [`RawIoBuf`] (`len == 0`, `cap == chunk`) ready to be read into.
    ///
    /// A tail shorter than `chunk` is not handed out.
    ///
    /// [`into_frames`](Self::into_frames) gives owned frames instead, with no `unsafe` at all.
    ///
    /// # Panics
    /// If `chunk` is zero or not a multiple of [`ALIGNMENT`] (frames must stay aligned for
    /// `O_DIRECT`); the message names the chunk.
    ///
    /// # Safety
    /// The frames are views of this buffer's memory. The caller must
    /// - not use any frame (or copy of one) after this buffer is dropped, moved out of with
    ///   [`into_raw_parts`](Self::into_raw_parts), or otherwise released;
    /// - not access a frame's bytes through the frame while the same bytes are accessed through
    ///   `self` (for example through `Deref`) or another view, unless all accesses are reads;
    /// - give each frame at most one user at a time (frames are `Copy`; copies share memory).
    ///
    /// Frames start with `len == 0`, so they never claim unwritten bytes. They take on the
    /// [`RawIoBuf` contract](RawIoBuf#the-contract): on a [`with_cap`](Self::with_cap) arena,
    /// do not raise a frame's length over bytes nobody wrote.
    pub unsafe fn slice_into_raws(&self, chunk: usize) -> impl Iterator<Item = RawIoBuf> + '_ {
        let count =
            frame::frame_count(self.cap, chunk).unwrap_or_else(|e| panic!("slice_into_raws: {e}"));
        let base = self.ptr.as_ptr();
        (0..count).map(move |i| {
            // SAFETY: `i * chunk + chunk <= cap`, so the frame lies inside this live block; its start
            // is `base` (aligned) plus a multiple of ALIGNMENT. Validity for as long as the frame is
            // used, and exclusive access, are the duties this function's caller accepted.
            unsafe { RawIoBuf::new(base.add(i * chunk), chunk) }
        })
    }

    /// A [`RawIoBuf`] view of the whole buffer (same `len` and `cap`), for I/O through code that
    /// wants a `Copy` handle.
    ///
    /// # Safety
    /// The caller must not use the view (or a copy of it) after this buffer is dropped or
    /// released, nor use `self` while the view is used to write. A length change made through
    /// the view (for example by a read) is not seen by `self`; use [`set_len`](Self::set_len).
    #[inline]
    pub unsafe fn as_raw(&mut self) -> RawIoBuf {
        RawIoBuf {
            ptr: self.ptr.as_ptr(),
            len: self.len,
            cap: self.cap,
        }
    }

    /// A [`RawIoBuf`] view of the whole buffer from a shared reference.
    ///
    /// # Safety
    /// As [`as_raw`](Self::as_raw), and more: since `self` is only borrowed shared, others may
    /// read it concurrently. The caller must synchronise (for example with the buffer pool's
    /// latch) so that no write through the view overlaps any other access.
    #[inline]
    pub unsafe fn as_raw_view(&self) -> RawIoBuf {
        RawIoBuf {
            ptr: self.ptr.as_ptr(),
            len: self.len,
            cap: self.cap,
        }
    }

    /// Gives up ownership: returns `(ptr, len, cap)` and does not free the memory.
    ///
    /// Rebuild with [`from_raw_parts`](Self::from_raw_parts) to free it; otherwise it leaks.
    #[inline]
    pub fn into_raw_parts(self) -> (NonNull<u8>, usize, usize) {
        let me = ManuallyDrop::new(self);
        (me.ptr, me.len, me.cap)
    }

    /// Rebuilds a buffer from [`into_raw_parts`](Self::into_raw_parts).
    ///
    /// # Safety
    /// `ptr` and `cap` must be exactly as returned by one call to `into_raw_parts` of this crate,
    /// and that block must not have been rebuilt before (it would be freed twice). `len` must be
    /// at most `cap`, with bytes `[0, len)` initialised (the returned `len` always qualifies).
    #[inline]
    pub unsafe fn from_raw_parts(ptr: NonNull<u8>, len: usize, cap: usize) -> Self {
        debug_assert!(len <= cap, "from_raw_parts: len {len} > cap {cap}");
        Self { ptr, len, cap }
    }

    /// Number of initialised bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Capacity in bytes: a whole number of pages, fixed for the buffer's life.
    #[inline]
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// `true` when `len() == 0`.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pointer to the first byte; [`ALIGNMENT`]-aligned.
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// Mutable pointer to the first byte; [`ALIGNMENT`]-aligned, valid for `cap` bytes.
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Sets the length to zero; the capacity and memory stay.
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Shortens the buffer to `len` bytes; does nothing if `len >= self.len()` (as `Vec`).
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
        }
    }

    /// Sets the length without touching the memory, for example after writing through
    /// [`as_mut_ptr`](Self::as_mut_ptr).
    ///
    /// # Safety
    /// `len <= self.cap()`, and bytes `[0, len)` must be initialised.
    #[inline]
    pub unsafe fn set_len(&mut self, len: usize) {
        debug_assert!(len <= self.cap, "set_len: len {len} > cap {}", self.cap);
        self.len = len;
    }

    /// A copy with the same capacity and contents; an error instead of an abort when memory runs
    /// out.
    ///
    /// # Errors
    /// [`Error::AllocFailed`] if the memory cannot be had.
    pub fn try_clone(&self) -> Result<Self> {
        let ptr = mem::allocate(self.cap, Fill::Uninit)?;
        // SAFETY: the source holds `len` initialised bytes; the new block is a distinct live
        // allocation of `cap >= len` bytes, so the ranges are valid and do not overlap.
        unsafe { ptr::copy_nonoverlapping(self.ptr.as_ptr(), ptr.as_ptr(), self.len) };
        Ok(Self {
            ptr,
            len: self.len,
            cap: self.cap,
        })
    }

    /// Appends `data`.
    ///
    /// # Errors
    /// [`Error::Overflow`]`(needed, cap)` if `len + data.len()` exceeds the capacity; the buffer
    /// is then unchanged.
    ///
    /// ```
    /// let mut buf = jdb_alloc::AlignedBuf::with_cap(4096).unwrap();
    /// buf.extend(&[1; 4000]).unwrap();
    /// assert!(buf.extend(&[2; 100]).is_err());
    /// assert_eq!(buf.len(), 4000);
    /// ```
    #[inline]
    pub fn extend(&mut self, data: &[u8]) -> Result<()> {
        // SAFETY: invariants 1 and 3 (`ptr` valid for `cap` bytes, `len <= cap`); `data` is a
        // shared borrow, so it cannot overlap the block we hold `&mut` to.
        unsafe { append(self.ptr.as_ptr(), &mut self.len, self.cap, data) }
    }
}

impl AlignedBuf {
    /// Zero-fills from `len` up to the next multiple of [`ALIGNMENT`] and makes that the length;
    /// returns the new length.
    ///
    /// This is the last step before writing a partial tail (say, the end of a record log) with
    /// `O_DIRECT`, which needs a whole number of blocks. Bytes before `len` are untouched; an
    /// already aligned length (including 0 and `cap`) is left as it is.
    ///
    /// It cannot fail: the capacity is a whole number of pages, hence of [`ALIGNMENT`]s, so the
    /// next multiple at or above `len <= cap` is at most `cap`.
    ///
    /// ```
    /// let mut buf = jdb_alloc::AlignedBuf::with_cap(8192).unwrap();
    /// buf.extend(b"record 1\n").unwrap();
    /// assert_eq!(buf.pad_to_alignment(), 4096);
    /// assert_eq!(&buf[..9], b"record 1\n");
    /// assert!(buf[9..].iter().all(|&b| b == 0));
    /// assert_eq!(buf.pad_to_alignment(), 4096); // already aligned: unchanged
    /// ```
    pub fn pad_to_alignment(&mut self) -> usize {
        // No overflow: len <= cap <= isize::MAX.
        let padded = (self.len + ALIGN_MASK) & !ALIGN_MASK;
        debug_assert!(padded <= self.cap);
        // SAFETY: `len <= padded <= cap` (cap is a multiple of ALIGNMENT, see above), so
        // `[len, padded)` lies inside our live block, which `&mut self` lets us write.
        unsafe { ptr::write_bytes(self.ptr.as_ptr().add(self.len), 0, padded - self.len) };
        self.len = padded;
        padded
    }
}

/// Copies `data` after the `*len` initialised bytes at `ptr` and advances `*len`: the `extend`
/// of every fixed-capacity buffer ([`AlignedBuf`], [`Frame`]).
///
/// # Errors
/// [`Error::Overflow`]`(needed, cap)` if `*len + data.len()` exceeds `cap`; nothing is changed.
///
/// # Safety
/// `ptr` must be valid for writes of `cap` bytes, `*len <= cap`, and `data` must not overlap
/// those bytes.
#[inline]
unsafe fn append(ptr: *mut u8, len: &mut usize, cap: usize, data: &[u8]) -> Result<()> {
    if data.len() > cap - *len {
        return Err(Error::Overflow(len.saturating_add(data.len()), cap));
    }
    // SAFETY: `*len + data.len() <= cap`, so the destination lies inside the `cap` bytes the
    // caller vouches for; the caller also guarantees `data` does not overlap them.
    unsafe { ptr::copy_nonoverlapping(data.as_ptr(), ptr.add(*len), data.len()) };
    *len += data.len();
    Ok(())
}

impl Drop for AlignedBuf {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: by invariant 1 `ptr` is a live block from `mem::allocate(cap, _)` that this
        // buffer owns; it is released once, here.
        unsafe { mem::release(self.ptr, self.cap) }
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: invariants 1 and 3: `ptr` is valid for `cap >= len` bytes, `[0, len)` is
        // initialised, and the borrow of `self` keeps the block alive and unaliased by `&mut`.
        unsafe { slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for AlignedBuf {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes this the only access.
        unsafe { slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl AsRef<[u8]> for AlignedBuf {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl AsMut<[u8]> for AlignedBuf {
    #[inline]
    fn as_mut(&mut self) -> &mut [u8] {
        self
    }
}

impl Clone for AlignedBuf {
    /// As [`try_clone`](Self::try_clone), but out of memory ends the process through
    /// [`std::alloc::handle_alloc_error`], as `Vec::clone` does.
    fn clone(&self) -> Self {
        self.try_clone()
            .unwrap_or_else(|_| std::alloc::handle_alloc_error(mem::oom_layout(self.cap)))
    }
}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .field("cap", &self.cap)
            .finish()
    }
}

// ============================================================================
// RawIoBuf
// ============================================================================

/// A non-owning, `Copy` view `(ptr, len, cap)` of aligned memory, for buffer-pool frames.
///
/// A buffer pool keeps its frames' memory in an arena ([`AlignedBuf`]) and hands a frame to
/// compio by value; because the view is `Copy`, the pool keeps its own copy meanwhile.
///
/// # The contract
///
/// A `RawIoBuf` can only be made through `unsafe` constructors. Whoever makes one promises
/// that, for as long as it or any copy is used:
/// - `ptr` is valid for reads and writes of `cap` bytes (the memory outlives every copy);
/// - `len <= cap` and bytes `[0, len)` are initialised, now and after every length change:
///   the view (or a copy) is never given a length, through [`with_len`](Self::with_len) or
///   otherwise, that covers bytes nobody has written (a compio read writes the bytes before it
///   sets the length, so I/O always keeps this);
/// - no two copies are used to access the same bytes at the same time unless all accesses are
///   reads, and the memory is not accessed through other paths meanwhile.
///
/// The safe methods ([`as_slice`](Self::as_slice), [`as_mut_slice`](Self::as_mut_slice), the
/// compio traits) rely on that promise. Like the promise made to `String::as_mut_vec`, it also
/// binds what the creator later does with safe methods: [`with_len`](Self::with_len) is safe
/// and checks `len <= cap` itself, but trusts the creator that the bytes it claims are written.
/// Memory from [`AlignedBuf::zeroed`] is written (with zeroes) from the start, so any length up
/// to `cap` is fine there; memory from [`AlignedBuf::with_cap`] is not.
///
/// # Thread safety
///
/// `Send` and `Sync`, like the `&mut [u8]` it stands for: moving a view to another thread is
/// how a frame reaches an I/O thread. Keeping accesses from different threads apart is part
/// of the contract above (a buffer pool does it with its frame latches).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct RawIoBuf {
    ptr: *mut u8,
    len: usize,
    cap: usize,
}

// SAFETY: a `RawIoBuf` is a pointer plus lengths; the memory it views is shared only under the
// contract its creator accepted, which requires non-overlapping use across all copies,
// whichever threads they are on.
unsafe impl Send for RawIoBuf {}
// SAFETY: `&RawIoBuf` allows reads only (`as_slice`), again under the creator's contract.
unsafe impl Sync for RawIoBuf {}

impl RawIoBuf {
    /// An empty view (`len == 0`) of `cap` bytes at `ptr`.
    ///
    /// # Safety
    /// The caller accepts the [contract](Self#the-contract): `ptr` valid for reads and writes of
    /// `cap` bytes for as long as the view or a copy is used, and no conflicting access.
    /// For `O_DIRECT`, `ptr` should also be [`ALIGNMENT`]-aligned (the kernel checks it).
    #[inline]
    pub const unsafe fn new(ptr: *mut u8, cap: usize) -> Self {
        Self { ptr, len: 0, cap }
    }

    /// The same view with length `len` (chainable).
    ///
    /// # Panics
    /// If `len > self.cap()`: a view may never claim bytes beyond its memory.
    ///
    /// Bytes `[0, len)` must have been written: that is part of the
    /// [contract](Self#the-contract) the view's creator accepted. Memory from
    /// [`AlignedBuf::zeroed`] always is.
    #[inline]
    pub const fn with_len(mut self, len: usize) -> Self {
        assert!(len <= self.cap, "RawIoBuf::with_len: len exceeds cap");
        self.len = len;
        self
    }

    /// A view from its parts.
    ///
    /// # Safety
    /// The [contract](Self#the-contract), including `len <= cap` with bytes `[0, len)`
    /// initialised.
    #[inline]
    pub const unsafe fn from_raw_parts(ptr: NonNull<u8>, len: usize, cap: usize) -> Self {
        Self {
            ptr: ptr.as_ptr(),
            len,
            cap,
        }
    }

    /// A full view (`len == cap == slice.len()`) of `slice`.
    ///
    /// # Safety
    /// The view is not tied to the borrow it came from. The caller must not use it (or a copy)
    /// after the slice's memory is freed or moved, nor while the memory is accessed through
    /// another path (see the [contract](Self#the-contract)). `unsafe` since 0.2: in 0.1.4 this
    /// was safe and let safe code reach freed memory.
    #[inline]
    pub unsafe fn from_slice(slice: &mut [u8]) -> Self {
        Self {
            ptr: slice.as_mut_ptr(),
            len: slice.len(),
            cap: slice.len(),
        }
    }

    /// Checks that `[offset, offset + len)` lies within the view and starts aligned.
    #[inline]
    #[track_caller]
    fn check_sub(&self, what: &str, offset: usize, len: usize) {
        let in_bounds = matches!(offset.checked_add(len), Some(end) if end <= self.cap);
        assert!(
            in_bounds,
            "RawIoBuf::{what}: range offset {offset} + len {len} exceeds cap {}",
            self.cap
        );
        assert!(
            (self.ptr as usize).wrapping_add(offset) & ALIGN_MASK == 0,
            "RawIoBuf::{what}: offset {offset} (len {len}, cap {}) is not {ALIGNMENT}-aligned",
            self.cap
        );
    }

    /// An empty sub-view (`len == 0`, `cap == len`) at `offset`, for reading into.
    ///
    /// # Panics
    /// If `offset + len > self.cap()` or `ptr + offset` is not [`ALIGNMENT`]-aligned, in release
    /// builds too; the message names offset, len and cap.
    ///
    /// # Safety
    /// The sub-view shares memory with `self` and its copies: the caller keeps the
    /// [contract](Self#the-contract) for it too.
    #[inline]
    #[track_caller]
    pub unsafe fn slice(self, offset: usize, len: usize) -> Self {
        self.check_sub("slice", offset, len);
        Self {
            // SAFETY: `offset <= cap` (checked), so the result stays in (or one past) the block.
            ptr: unsafe { self.ptr.add(offset) },
            len: 0,
            cap: len,
        }
    }

    /// A full sub-view (`len == cap == len`) at `offset`, for writing out bytes already there.
    ///
    /// # Panics
    /// As [`slice`](Self::slice).
    ///
    /// # Safety
    /// As [`slice`](Self::slice), and bytes `[offset, offset + len)` must be initialised.
    #[inline]
    #[track_caller]
    pub unsafe fn slice_data(self, offset: usize, len: usize) -> Self {
        self.check_sub("slice_data", offset, len);
        Self {
            // SAFETY: `offset <= cap` (checked), so the result stays in (or one past) the block.
            ptr: unsafe { self.ptr.add(offset) },
            len,
            cap: len,
        }
    }

    /// As [`slice`](Self::slice) without any check, for hot paths that proved the range already.
    ///
    /// # Safety
    /// `offset + len <= self.cap()` (anything else is undefined behaviour), the alignment the I/O
    /// needs, and the [contract](Self#the-contract) for the sub-view.
    #[inline]
    pub unsafe fn slice_unchecked(self, offset: usize, len: usize) -> Self {
        Self {
            // SAFETY: the caller guarantees `offset + len <= cap`, so this stays in the block.
            ptr: unsafe { self.ptr.add(offset) },
            len: 0,
            cap: len,
        }
    }

    /// Number of initialised bytes.
    #[inline]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Size of the viewed memory in bytes.
    #[inline]
    pub const fn cap(&self) -> usize {
        self.cap
    }

    /// `true` when `len() == 0`.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pointer to the first byte.
    #[inline]
    pub const fn as_ptr(&self) -> *const u8 {
        self.ptr
    }

    /// Mutable pointer to the first byte. Takes `&self` because the view does not own the
    /// memory; writing through it is subject to the [contract](Self#the-contract).
    #[inline]
    pub const fn as_mut_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// The initialised bytes `[0, len)`.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the creator's contract: `ptr` valid for `cap >= len` bytes, `[0, len)`
        // initialised, and no conflicting write while this shared borrow is used.
        unsafe { slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The initialised bytes `[0, len)`, mutably.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the creator's contract, which includes exclusive use of these bytes while this
        // mutable borrow is used.
        unsafe { slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// Sets the length without touching the memory.
    ///
    /// # Safety
    /// `len <= self.cap()`, and bytes `[0, len)` must be initialised.
    #[inline]
    pub unsafe fn set_len(&mut self, len: usize) {
        debug_assert!(len <= self.cap, "set_len: len {len} > cap {}", self.cap);
        self.len = len;
    }
}

impl fmt::Debug for RawIoBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawIoBuf")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .field("cap", &self.cap)
            .finish()
    }
}

// ============================================================================
// compio buffer traits: the contract, and compio-buf 0.7 (compio 0.16, 0.17)
// ============================================================================
//
// Buffer contract. The compio trait impls (`impl_compio_buf_07!` below, `impl_compio_buf_08!`
// in compio_buf_08.rs) are written once for every buffer type, from its inherent `len()`,
// `cap()`, `as_ptr()`, `as_mut_ptr()` and `unsafe fn set_len`. Each type given to them promises,
// for every value `b` of it, whenever a trait method runs:
// 1. `b.as_ptr()` and `b.as_mut_ptr()` are the same pointer, valid for reads and writes of
//    `b.cap()` bytes;
// 2. `b.len() <= b.cap()` and bytes `[0, len)` are initialised;
// 3. through `&b` nothing writes those bytes, and through `&mut b` nothing else accesses them;
// 4. the memory does not move when `b` moves (compio holds the buffer while the kernel uses the
//    pointer), and stays valid until `b` is dropped;
// 5. `b.set_len(n)` sets `len` to exactly `n`, requiring `n <= cap` with `[0, n)` initialised.
//
// Contract: `AlignedBuf` keeps 1, 2 and 5 as its invariants 1 and 3; 3 because writes need
// `&mut self` (or an `unsafe` view whose caller took on the duty); 4 because its block is an
// allocation it owns and frees only on drop.
// Contract: `RawIoBuf` is made only by `unsafe` constructors whose callers promise 1 to 4 for as
// long as the view or a copy is used (its "contract" section); its `set_len` is 5.
// Contract: `Frame` is the only holder of a `RawIoBuf` view that keeps that contract for the
// frame's whole life (frame.rs invariants 1 to 3), and the arena block it views is freed only
// after the last frame drops (4); its `set_len` is 5.
// Contract: `FixedFrame` (fixed/mod.rs) is a `Frame` plus its arena's registration, and passes
// every method on to the `Frame`.

#[cfg(feature = "compio-buf-07")]
mod compio_buf_07_impls {
    use compio_buf_07::{IoBuf, IoBufMut, SetBufInit};

    use crate::{AlignedBuf, Frame, RawIoBuf};

    /// compio-buf 0.7's `IoBuf`, `IoBufMut` and `SetBufInit` for types that keep the buffer
    /// contract (above).
    macro_rules! impl_compio_buf_07 {
        ($($ty:ty),+ $(,)?) => {$(
            // SAFETY: contract 1 and 2: `as_buf_ptr` is valid for `buf_capacity()` bytes with
            // `[0, buf_len())` initialised; contract 4: it does not move with the value.
            unsafe impl IoBuf for $ty {
                #[inline]
                fn as_buf_ptr(&self) -> *const u8 {
                    self.as_ptr()
                }

                #[inline]
                fn buf_len(&self) -> usize {
                    self.len()
                }

                #[inline]
                fn buf_capacity(&self) -> usize {
                    self.cap()
                }
            }

            // SAFETY: as for `IoBuf`; contract 4: the pointer stays valid while the runtime
            // holds the buffer, and contract 3: `&mut` makes the runtime its only user.
            unsafe impl IoBufMut for $ty {
                #[inline]
                fn as_buf_mut_ptr(&mut self) -> *mut u8 {
                    self.as_mut_ptr()
                }
            }

            /// Sets the length to exactly `len`, so after a read `len()` is the number of bytes
            /// read (a short read at end of file included), not `max(len(), bytes read)`.
            impl SetBufInit for $ty {
                #[inline]
                unsafe fn set_buf_init(&mut self, len: usize) {
                    // SAFETY: the trait's caller guarantees `len <= buf_capacity() == cap` and
                    // `[buf_len(), len)` initialised; `[0, buf_len())` already is (contract 2),
                    // so `[0, len)` is, which is all the inherent `set_len` (contract 5) asks.
                    unsafe { self.set_len(len) }
                }
            }
        )+};
    }

    impl_compio_buf_07!(AlignedBuf, RawIoBuf, Frame);
    #[cfg(all(target_os = "linux", feature = "compio-17"))]
    impl_compio_buf_07!(crate::fixed::FixedFrame);
}

/// The READMEs' Rust examples, compiled and run by `cargo test --doc` so they cannot drift from
/// the code. Only built for doctests, and only with the default feature, since the examples pass
/// buffers to compio 0.17.
#[cfg(all(doctest, feature = "compio-buf-07"))]
mod readme_doctests {
    #[doc = include_str!("../README.md")]
    struct Readme;

    #[doc = include_str!("../readme/en.md")]
    struct ReadmeEn;

    #[doc = include_str!("../readme/zh.md")]
    struct ReadmeZh;
}
