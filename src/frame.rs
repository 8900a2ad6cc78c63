//! Owned buffer-pool frames: an arena split into disjoint, aligned pieces that share its block.
//!
//! [`AlignedBuf::into_frames`] moves the arena into a reference-counted owner and hands out one
//! [`Frame`] per `chunk` bytes. Each frame holds a strong reference to the owner, so the block
//! lives until the last frame (or the [`Frames`] iterator, if it outlives them) drops, and is then
//! released once, by the arena's own `Drop`.
//!
//! # Invariants
//!
//! For every `Frame`, at all times:
//! 1. `raw` views `[offset, offset + cap)` of the block owned by `_arena`, inside that block,
//!    with `offset` a multiple of `cap` (itself a multiple of [`ALIGNMENT`]), so the view is
//!    aligned and stays valid while the frame holds `_arena`;
//! 2. no other frame and no other path accesses those bytes: [`Frames`] makes each range into a
//!    frame at most once, and the arena was emptied (`len == 0`) and is never read again;
//! 3. `raw.len <= raw.cap`, and bytes `[0, raw.len)` are initialised.
//!
//! So a frame keeps the whole [contract](RawIoBuf#the-contract) of its `raw` view for its entire
//! life, as the only holder of that view, which is what makes its safe methods sound.

use std::{
    fmt,
    iter::FusedIterator,
    ops::{Deref, DerefMut},
    ptr::NonNull,
    sync::Arc,
};

use crate::{ALIGNMENT, AlignedBuf, Error, RawIoBuf, Result};

/// How many frames of `chunk` bytes a block of `cap` bytes splits into (a shorter tail is not a
/// frame): the one rule behind [`AlignedBuf::into_frames`] and [`AlignedBuf::slice_into_raws`].
///
/// # Errors
/// [`Error::InvalidChunk`] if `chunk` is zero or not a multiple of [`ALIGNMENT`].
#[inline]
pub(crate) fn frame_count(cap: usize, chunk: usize) -> Result<usize> {
    if chunk == 0 || chunk % ALIGNMENT != 0 {
        return Err(Error::InvalidChunk {
            chunk,
            alignment: ALIGNMENT,
        });
    }
    Ok(cap / chunk)
}

// ============================================================================
// Frames
// ============================================================================

/// The frames of an arena, from [`AlignedBuf::into_frames`]: an iterator of owned [`Frame`]s
/// in address order, that knows its length (`ExactSizeIterator`) and can run from both ends.
///
/// Dropping it before every frame is taken drops the untaken ones: their memory is freed with
/// the rest of the block, when the last frame taken is dropped too. It is `Send` and `Sync`: it
/// holds the owner handle and counters, and makes a frame only through `&mut self`.
///
/// ```
/// use jdb_alloc::{AlignedBuf, PAGE_SIZE};
///
/// let mut frames = AlignedBuf::zeroed(4 * PAGE_SIZE).unwrap().into_frames(PAGE_SIZE).unwrap();
/// assert_eq!(frames.len(), 4); // ExactSizeIterator: the frames not yet taken
/// let first = frames.next().unwrap();
/// let last = frames.next_back().unwrap();
/// assert_eq!(last.as_ptr() as usize - first.as_ptr() as usize, 3 * PAGE_SIZE);
/// assert_eq!(frames.len(), 2);
/// drop(frames); // the two untaken frames go; `first` and `last` keep the block alive
/// assert_eq!((first.len(), last.len()), (PAGE_SIZE, PAGE_SIZE));
/// ```
pub struct Frames {
    arena: Arc<AlignedBuf>,
    base: NonNull<u8>,
    chunk: usize,
    /// Initialised bytes of the arena when it was split.
    init: usize,
    /// Indices of the frames not yet handed out: `front..back`, with `back <= cap / chunk`.
    front: usize,
    back: usize,
}

// SAFETY: a `Frames` is the owner handle (`Arc<AlignedBuf>`, itself `Send + Sync`), the block's
// address and counters. It accesses no bytes itself; moving it to another thread only moves the
// right to make the remaining frames, which are `Send`.
unsafe impl Send for Frames {}
// SAFETY: `&Frames` exposes only the counters (`len`, `Debug`); making a frame takes `&mut`.
unsafe impl Sync for Frames {}

impl Frames {
    /// The frames of `arena` ([`AlignedBuf::into_frames`]).
    pub(crate) fn new(mut arena: AlignedBuf, chunk: usize) -> Result<Self> {
        let count = frame_count(arena.cap(), chunk)?;
        let init = arena.len();
        let base = arena.ptr;
        // The frames own the bytes from now on; the arena only keeps the block alive.
        arena.clear();
        Ok(Self {
            arena: Arc::new(arena),
            base,
            chunk,
            init,
            front: 0,
            back: count,
        })
    }

    /// Frame `i`.
    ///
    /// # Safety
    /// `i < cap / chunk` (in `front..back`), and frame `i` is never made again: two frames of
    /// one range would both reach its bytes.
    #[inline]
    unsafe fn make(&self, i: usize) -> Frame {
        let offset = i * self.chunk;
        let len = self.init.saturating_sub(offset).min(self.chunk);
        // SAFETY: `i < cap / chunk` (the caller's duty), so `offset + chunk <= cap`: the range
        // lies inside the block the arena owns, which the `Arc` cloned into the frame keeps
        // alive. Its start is the aligned base plus a multiple of `chunk`, itself a multiple of
        // ALIGNMENT. The caller makes each index once, so no other frame views these bytes, and the emptied arena
        // never accesses them (invariants 1 and 2). `len <= chunk`, and `[offset, offset + len)`
        // lies in the arena's initialised `[0, init)` (invariant 3).
        let raw = unsafe { RawIoBuf::from_raw_parts(self.base.add(offset), len, self.chunk) };
        Frame {
            raw,
            _arena: Arc::clone(&self.arena),
        }
    }
}

impl Iterator for Frames {
    type Item = Frame;

    #[inline]
    fn next(&mut self) -> Option<Frame> {
        if self.front == self.back {
            return None;
        }
        // SAFETY: `front < back <= cap / chunk`, and `front` moves past it at once, so no index
        // is made twice (`next_back` takes indices from the other end, below `back`).
        let frame = unsafe { self.make(self.front) };
        self.front += 1;
        Some(frame)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Frames {
    #[inline]
    fn next_back(&mut self) -> Option<Frame> {
        if self.front == self.back {
            return None;
        }
        self.back -= 1;
        // SAFETY: `front <= back < cap / chunk` after the decrement, and `back` never comes back
        // up, so no index is made twice (`next` takes indices from below `front`).
        Some(unsafe { self.make(self.back) })
    }
}

impl ExactSizeIterator for Frames {}

impl FusedIterator for Frames {}

impl fmt::Debug for Frames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frames")
            .field("base", &self.base)
            .field("chunk", &self.chunk)
            .field("remaining", &(self.back - self.front))
            .finish()
    }
}

// ============================================================================
// Frame
// ============================================================================

/// An owned, fixed-capacity, [`ALIGNMENT`]-aligned slice of an arena, from
/// [`AlignedBuf::into_frames`]: a buffer-pool frame that needs no `unsafe`.
///
/// It behaves like a small [`AlignedBuf`] (`len` initialised bytes out of `cap`, `extend` never
/// reallocates) but shares its arena's block with the other frames: the block is freed when the
/// last of them drops. Four words: an owner handle plus `ptr`, `len`, `cap`.
///
/// compio takes it by value (`file.read_at(frame, pos)`) and gives it back with the result.
/// A read raises the length to the bytes read and never lowers it: an empty frame ends with
/// `len() == n` (see the crate docs, [Length after a read](crate#length-after-a-read)).
///
/// ```
/// use jdb_alloc::{AlignedBuf, Frame, PAGE_SIZE};
///
/// let mut pool: Vec<Frame> = AlignedBuf::with_cap(4 * PAGE_SIZE)
///     .unwrap()
///     .into_frames(PAGE_SIZE)
///     .unwrap()
///     .collect();
/// let mut frame = pool.pop().unwrap();
/// assert_eq!((frame.len(), frame.cap()), (0, PAGE_SIZE));
///
/// // Frames are `Send`: this one is filled on another thread and comes back.
/// let frame = std::thread::spawn(move || {
///     frame.extend(b"page header").unwrap();
///     frame
/// })
/// .join()
/// .unwrap();
/// assert_eq!(&frame[..], b"page header");
/// drop(pool); // the arena's memory goes with the last frame: `frame`
/// ```
///
/// # Thread safety
///
/// `Send` and `Sync`, like `AlignedBuf`: a frame is the only handle to its bytes (frames are
/// disjoint, and the arena no longer accesses them), mutation takes `&mut self`, and the shared
/// owner is reference-counted atomically, so the last frame may drop on any thread.
pub struct Frame {
    raw: RawIoBuf,
    /// Keeps the block alive; only its `Drop` matters.
    _arena: Arc<AlignedBuf>,
}

// SAFETY: the frame exclusively owns its byte range (invariant 2: ranges are disjoint and the
// arena no longer touches them), like a `Box<[u8]>` does its own; moving it moves that
// exclusive access. The block stays alive through the atomically counted `Arc`, and is released
// by whichever thread drops the last reference, which the global allocator allows.
unsafe impl Send for Frame {}
// SAFETY: through `&Frame` safe code can only read its own bytes (`Deref`, `as_ptr`); every
// write takes `&mut self` or is an `unsafe fn` (`as_raw`) whose caller must synchronise.
unsafe impl Sync for Frame {}

impl Frame {
    /// Number of initialised bytes.
    ///
    /// ```
    /// use jdb_alloc::{AlignedBuf, PAGE_SIZE};
    ///
    /// // A zeroed arena of 1.5 frames: the first frame is full, the second half full.
    /// let mut frames = AlignedBuf::zeroed(3 * PAGE_SIZE).unwrap().into_frames(2 * PAGE_SIZE).unwrap();
    /// let frame = frames.next().unwrap();
    /// assert_eq!((frame.len(), frame.cap(), frame.is_empty()), (2 * PAGE_SIZE, 2 * PAGE_SIZE, false));
    /// assert_eq!(frames.len(), 0); // cap 3 pages: the one-page tail is not a frame
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        self.raw.len
    }

    /// Size of the frame in bytes: the `chunk` it was split with.
    ///
    /// ```
    /// use jdb_alloc::{AlignedBuf, PAGE_SIZE};
    ///
    /// let mut frames = AlignedBuf::with_cap(8 * PAGE_SIZE).unwrap().into_frames(2 * PAGE_SIZE).unwrap();
    /// assert_eq!(frames.next().unwrap().cap(), 2 * PAGE_SIZE);
    /// ```
    #[inline]
    pub fn cap(&self) -> usize {
        self.raw.cap
    }

    /// `true` when `len() == 0`.
    ///
    /// ```
    /// use jdb_alloc::AlignedBuf;
    ///
    /// let mut empty = AlignedBuf::with_cap(4096).unwrap().into_frames(4096).unwrap();
    /// assert!(empty.next().unwrap().is_empty()); // to be read into
    /// let mut full = AlignedBuf::zeroed(4096).unwrap().into_frames(4096).unwrap();
    /// assert!(!full.next().unwrap().is_empty()); // zeroes, to be overwritten
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.raw.len == 0
    }

    /// Pointer to the first byte; [`ALIGNMENT`]-aligned.
    ///
    /// ```
    /// let arena = jdb_alloc::AlignedBuf::page().unwrap();
    /// let base = arena.as_ptr();
    /// let frame = arena.into_frames(4096).unwrap().next().unwrap();
    /// assert_eq!(frame.as_ptr(), base);
    /// ```
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        self.raw.ptr
    }

    /// Mutable pointer to the first byte; [`ALIGNMENT`]-aligned, valid for `cap` bytes.
    ///
    /// ```
    /// use jdb_alloc::AlignedBuf;
    ///
    /// let mut frame = AlignedBuf::with_cap(4096).unwrap().into_frames(4096).unwrap().next().unwrap();
    /// // SAFETY: 4 bytes of the frame's capacity are written, then claimed.
    /// unsafe {
    ///     frame.as_mut_ptr().copy_from_nonoverlapping(b"page".as_ptr(), 4);
    ///     frame.set_len(4);
    /// }
    /// assert_eq!(&frame[..], b"page");
    /// ```
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.raw.ptr
    }

    /// Sets the length to zero; the memory stays. A frame about to be read into should be
    /// empty: a read raises the length and never lowers it.
    ///
    /// ```
    /// let mut frame = jdb_alloc::AlignedBuf::page().unwrap().into_frames(4096).unwrap().next().unwrap();
    /// assert_eq!(frame.len(), 4096);
    /// frame.clear();
    /// assert!(frame.is_empty());
    /// assert_eq!(frame.cap(), 4096);
    /// ```
    #[inline]
    pub fn clear(&mut self) {
        self.raw.len = 0;
    }

    /// Shortens the frame to `len` bytes; does nothing if `len >= self.len()` (as `Vec`).
    ///
    /// ```
    /// let mut frame = jdb_alloc::AlignedBuf::page().unwrap().into_frames(4096).unwrap().next().unwrap();
    /// frame.truncate(100);
    /// assert_eq!(frame.len(), 100);
    /// frame.truncate(200); // never lengthens
    /// assert_eq!(frame.len(), 100);
    /// ```
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        self.raw.len = self.raw.len.min(len);
    }

    /// Lowers the capacity to `cap` (and the length with it), so that a read into the frame
    /// asks for no more; a registered pool lends frames so (see `fixed::pool`).
    #[cfg(all(
        target_os = "linux",
        any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
    ))]
    pub(crate) fn limit_cap(&mut self, cap: usize) {
        self.raw.cap = self.raw.cap.min(cap);
        self.raw.len = self.raw.len.min(self.raw.cap);
    }

    /// Gives back the capacity [`limit_cap`](Self::limit_cap) took away.
    ///
    /// # Safety
    /// The frame was cut from its arena with at least `cap` bytes.
    #[cfg(all(
        target_os = "linux",
        any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
    ))]
    pub(crate) unsafe fn restore_cap(&mut self, cap: usize) {
        self.raw.cap = cap;
    }

    /// Appends `data`.
    ///
    /// # Errors
    /// [`Error::Overflow`]`(needed, cap)` if `len + data.len()` exceeds the capacity; the frame
    /// is then unchanged.
    ///
    /// ```
    /// use jdb_alloc::{AlignedBuf, Error};
    ///
    /// let mut frame = AlignedBuf::with_cap(8192).unwrap().into_frames(4096).unwrap().next().unwrap();
    /// frame.extend(&[7; 4000]).unwrap();
    /// assert!(matches!(frame.extend(&[8; 100]), Err(Error::Overflow(4100, 4096))));
    /// assert_eq!(frame.len(), 4000); // unchanged
    /// ```
    #[inline]
    pub fn extend(&mut self, data: &[u8]) -> Result<()> {
        // SAFETY: invariants 1 and 3: `ptr` is valid for writes of `cap` bytes and `len <= cap`.
        // Only this frame reaches its bytes (invariant 2) and we hold it `&mut`, so the shared
        // borrow `data` cannot overlap them.
        unsafe { crate::append(self.raw.ptr, &mut self.raw.len, self.raw.cap, data) }
    }

    /// Sets the length without touching the memory, for example after writing through
    /// [`as_mut_ptr`](Self::as_mut_ptr).
    ///
    /// # Safety
    /// `len <= self.cap()`, and bytes `[0, len)` must be initialised.
    ///
    /// ```
    /// let mut frame = jdb_alloc::AlignedBuf::with_cap(4096).unwrap().into_frames(4096).unwrap().next().unwrap();
    /// let p = frame.as_mut_ptr();
    /// // SAFETY: `p` is valid for the frame's 4096 bytes, and nothing else uses them.
    /// unsafe { p.write_bytes(0xEE, 16) };
    /// // SAFETY: bytes [0, 16) were just written, and 16 <= cap.
    /// unsafe { frame.set_len(16) };
    /// assert_eq!(&frame[..], &[0xEE; 16]);
    /// ```
    #[inline]
    pub unsafe fn set_len(&mut self, len: usize) {
        // SAFETY: the caller's duty is the same as `RawIoBuf::set_len`'s.
        unsafe { self.raw.set_len(len) }
    }

    /// A `Copy` [`RawIoBuf`] view of this frame (same `ptr`, `len` and `cap`), for code that
    /// wants one, such as a pool that keeps a copy while the view is in flight.
    ///
    /// # Safety
    /// The view does not keep the memory alive: the caller must not use it (or a copy) after
    /// this frame is dropped, nor use the frame while the view is used to write, nor use two
    /// copies to access the same bytes unless all accesses are reads. A length change made
    /// through the view (for example by a read) is not seen by the frame; use
    /// [`set_len`](Self::set_len). The view's whole [contract](RawIoBuf#the-contract) applies,
    /// including never giving it a length over bytes nobody wrote.
    ///
    /// ```
    /// let mut frame = jdb_alloc::AlignedBuf::page().unwrap().into_frames(4096).unwrap().next().unwrap();
    /// // SAFETY: the view is used only while `frame` lives, and `frame` is not used meanwhile.
    /// let view = unsafe { frame.as_raw() };
    /// assert_eq!((view.as_ptr(), view.len(), view.cap()), (frame.as_ptr(), 4096, 4096));
    /// ```
    #[inline]
    pub unsafe fn as_raw(&mut self) -> RawIoBuf {
        self.raw
    }
}

impl Deref for Frame {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        // The frame keeps `raw`'s contract (module invariants), so its safe view is sound.
        self.raw.as_slice()
    }
}

impl DerefMut for Frame {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        self.raw.as_mut_slice()
    }
}

impl AsRef<[u8]> for Frame {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl AsMut<[u8]> for Frame {
    #[inline]
    fn as_mut(&mut self) -> &mut [u8] {
        self
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("ptr", &self.raw.ptr)
            .field("len", &self.raw.len)
            .field("cap", &self.raw.cap)
            .finish()
    }
}

// ============================================================================
// compio-buf 0.7 (compio 0.16, 0.17)
// ============================================================================

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::{AlignedBuf, Frame, PAGE_SIZE};

    /// The owner is shared by every frame and by the iterator, and goes (releasing the block)
    /// exactly when the last of them drops.
    #[test]
    fn owner_lives_until_the_last_frame() {
        let mut frames = AlignedBuf::zeroed(4 * PAGE_SIZE)
            .unwrap()
            .into_frames(PAGE_SIZE)
            .unwrap();
        let owner = Arc::downgrade(&frames.arena);
        let mut taken: Vec<Frame> = frames.by_ref().take(3).collect();
        assert_eq!(owner.strong_count(), 4);
        drop(frames); // the fourth frame was never taken
        assert_eq!(owner.strong_count(), 3);
        taken.remove(1);
        taken.remove(0);
        assert_eq!(owner.strong_count(), 1);
        assert!(Arc::ptr_eq(&taken[0]._arena, &owner.upgrade().unwrap()));
        assert_eq!(&taken[0][..], &[0; PAGE_SIZE][..]);
        drop(taken);
        assert!(owner.upgrade().is_none());
    }

    /// The arena gives up its claim on the bytes: only the frames can reach them.
    #[test]
    fn owner_claims_no_bytes() {
        let frames = AlignedBuf::zeroed(2 * PAGE_SIZE)
            .unwrap()
            .into_frames(PAGE_SIZE)
            .unwrap();
        assert!(frames.arena.is_empty());
        assert_eq!(frames.arena.cap(), 2 * PAGE_SIZE);
    }
}
