//! Recycling of freed blocks: a cache per thread over a bounded shared tier, and the switches
//! that bound it ([`Limits`], [`set_limits`], [`trim`]) and report on it ([`stats`]).
//!
//! A storage engine allocates and frees I/O buffers all the time. Freed through the global
//! allocator, a block of 256 KiB and more usually goes back to the OS, and the next buffer of
//! that size pays a page fault per 4 KiB page it touches (about 1.7 µs each): 100 to 900 times
//! what reusing one buffer by hand costs. So this crate keeps freed blocks and hands them out
//! again, behind the unchanged API of [`AlignedBuf`](crate::AlignedBuf) and
//! [`Frame`](crate::Frame).
//!
//! # How it works
//!
//! - **Size classes.** A block below [`MAP_THRESHOLD`] is allocated with
//!   the size of its class: its capacity rounded up to 1, 2, 3 or 4 pages, then to one of four
//!   steps per power of two (5, 6, 7, 8 × 2^k pages). Powers of two are classes of their own, so
//!   the usual buffer sizes waste nothing; others waste under 25 %, untouched and unseen: a
//!   buffer's [`cap`](crate::AlignedBuf::cap) is still its size rounded up to whole pages. The
//!   class is a function of the capacity alone, so a block is still released knowing only its
//!   capacity, and [`into_raw_parts`](crate::AlignedBuf::into_raw_parts) /
//!   [`from_raw_parts`](crate::AlignedBuf::from_raw_parts) round-trip at every size.
//! - **Per thread first.** A freed block goes to its thread's cache, a free list per class kept
//!   inside the blocks themselves, while the thread keeps at most [`Limits::per_thread`] bytes.
//!   An allocation takes from that list first. This path takes no lock and no read-modify-write
//!   of anything shared: the only shared memory it reads is the setting itself (a plain load).
//! - **Shared second.** What a thread cannot keep, and all that a thread frees before it has
//!   allocated anything (an I/O thread dropping frames), goes to one shared tier behind a
//!   mutex, up to [`Limits::shared`] bytes; an allocation that misses its thread's cache looks there (after a
//!   lock-free check that the class is not empty). So a block freed on another thread than the
//!   one that allocated it (a frame dropped by an I/O thread) comes back, and the total kept is
//!   bounded. What fits nowhere goes back to the allocator, hence usually to the OS.
//! - **Zeroes where needed.** [`AlignedBuf::zeroed`](crate::AlignedBuf::zeroed) and
//!   [`page`](crate::AlignedBuf::page) from a recycled block zero the buffer's capacity (its
//!   whole pages, not the larger class), nothing more.
//! - **Mapped blocks are not kept.** From [`MAP_THRESHOLD`] up a buffer is
//!   a mapping of its own, whose point is lazy zero pages: a 1 GiB `zeroed` arena costs one
//!   system call and only the pages touched. A recycled one would have to be zeroed by hand (as
//!   many page writes as the fresh mapping's page faults, and all of it resident at once, where
//!   a fresh arena is resident only where touched), and a single one fills the default bound.
//!   Huge-page arenas ([`zeroed_huge`](crate::AlignedBuf::zeroed_huge)) are mappings too, so they
//!   never take a recycled block either.
//!
//! Kept memory goes back when its thread exits (the shared tier's with [`trim`], or to the OS
//! with the process); [`trim`] returns it at once.
//!
//! # What it buys
//!
//! Measured on a 2-core AMD EPYC, glibc (`cargo bench --bench compare`, medians): with
//! `with_cap(n)`, one byte written per page, then drop, a 1 MiB buffer costs about 2 µs instead
//! of 370 µs (0.1.4), a 16 MiB one 40 µs instead of 6 ms: what writing a buffer reused by hand
//! costs. `with_cap(4096)` + drop costs about 5 ns, `page()` + drop the cost of zeroing 4 KiB
//! plus 2 ns. An allocation that finds nothing to reuse costs what it did before, within a few
//! ns.
//!
//! That holds while the cache holds what a thread frees and allocates again. An engine whose
//! live buffers and their turnover exceed the limits (16 buffers of 4 KiB to 16 MiB at once,
//! four times the default) misses, and each miss costs what the global allocator's state makes
//! it: with glibc, from a heap reuse to a fresh mapping faulted in page by page (measured there:
//! 2 to 24 ms a buffer with the default limits, 85 to 127 µs with `per_thread` at 256 MiB;
//! `benches/RESULTS.md`). Size [`Limits::per_thread`] to that working set.
//!
//! Mapped blocks are not kept, by measurement: for `zeroed(64 MiB)`, zeroing a kept block and
//! writing a byte per page took 4.5 ms, against 30 µs for a fresh mapping left untouched and
//! 43 ms for one with every page written. Arenas that size are mostly `zeroed` pools touched
//! sparsely, where keeping would cost 150 times more and make the whole block resident; only
//! `with_cap` buffers of 32 MiB and more written all over would gain, and one of them alone
//! fills a thread's default bound.

use std::{
    cell::RefCell,
    ptr::{self, NonNull},
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed},
    },
};

use crate::{MAP_THRESHOLD, PAGE_SIZE, heap};

/// How many bytes of freed blocks may be kept for reuse, per thread and in the shared tier.
///
/// The most kept at any time is `per_thread` times the number of threads that free buffers, plus
/// `shared`. A thread that lowers the limits trims its own cache and the shared tier at once;
/// other threads trim theirs at their next allocation or release.
///
/// A thread that frees buffers before it has allocated any (an I/O thread dropping frames made
/// elsewhere) hands them to the shared tier rather than keeping them, so they reach the threads
/// that allocate. Once a thread allocates, what it frees goes to its own cache first.
///
/// ```
/// use jdb_alloc::recycle::Limits;
///
/// assert_eq!(Limits::default(), Limits::DEFAULT);
/// assert_eq!(Limits::DEFAULT.per_thread, 32 << 20);
/// assert_eq!(Limits::OFF, Limits { per_thread: 0, shared: 0 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Bytes each thread may keep in its own cache, which it uses without any lock. `0` turns
    /// recycling off altogether, whatever `shared` says: nothing is kept, not even in the
    /// shared tier, and every allocation is fresh.
    pub per_thread: usize,
    /// Bytes kept in the one shared tier, for blocks a thread's cache has no room for (blocks
    /// freed by threads that do not allocate, bursts).
    pub shared: usize,
}

impl Limits {
    /// The default: 32 MiB per thread and 32 MiB shared.
    ///
    /// Enough for every buffer size below [`MAP_THRESHOLD`] to be reused,
    /// and a fraction of a burst: when 512 MiB of 1 MiB buffers are freed at once, one thread
    /// keeps 32 MiB, the shared tier 32 MiB, and 448 MiB go back to the OS.
    ///
    /// ```
    /// use jdb_alloc::recycle::{self, Limits};
    ///
    /// recycle::set_limits(Limits::DEFAULT);
    /// assert_eq!(recycle::limits(), Limits { per_thread: 32 << 20, shared: 32 << 20 });
    /// ```
    pub const DEFAULT: Self = Self {
        per_thread: 32 << 20,
        shared: 32 << 20,
    };

    /// Recycling off: every block goes straight back to the allocator, as in jdb_alloc 0.1.4.
    /// (Blocks keep their class size: a capacity between two classes takes up to 25% more
    /// address space than it did in 0.1.4, never touched.)
    ///
    /// ```
    /// use jdb_alloc::{AlignedBuf, recycle::{self, Limits}};
    ///
    /// let old = recycle::limits();
    /// recycle::set_limits(Limits::OFF);
    /// drop(AlignedBuf::with_cap(1 << 20).unwrap());
    /// assert_eq!(recycle::stats().kept, 0); // nothing kept
    /// recycle::set_limits(old);
    /// ```
    pub const OFF: Self = Self {
        per_thread: 0,
        shared: 0,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What recycling did for the calling thread, and what is kept: numbers to log.
///
/// Counters are per thread (kept without atomics, like the cache itself) and count from the
/// thread's first buffer; `kept` is this thread's cache, `shared_kept` the shared tier's.
///
/// ```
/// let s = jdb_alloc::recycle::stats();
/// println!(
///     "buffers: {} reused, {} from the shared tier, {} fresh; {} + {} bytes kept (limits {:?})",
///     s.hits, s.shared_hits, s.misses, s.kept, s.shared_kept, s.limits,
/// );
/// assert!(s.kept <= s.limits.per_thread);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Allocations served from this thread's cache.
    pub hits: u64,
    /// Allocations served from the shared tier.
    pub shared_hits: u64,
    /// Allocations that found nothing to reuse and asked the allocator (or the OS) for memory,
    /// while recycling was on. Mapped buffers ([`MAP_THRESHOLD`] and up)
    /// are not counted: they are never recycled.
    pub misses: u64,
    /// Bytes kept in this thread's cache (whole blocks, class sizes).
    pub kept: usize,
    /// Bytes kept in the shared tier.
    pub shared_kept: usize,
    /// The limits in force.
    pub limits: Limits,
}

/// The limits in force.
///
/// ```
/// use jdb_alloc::recycle::{self, Limits};
///
/// let old = recycle::limits();
/// recycle::set_limits(Limits { per_thread: 64 << 20, ..old });
/// assert_eq!(recycle::limits().per_thread, 64 << 20);
/// recycle::set_limits(old);
/// ```
pub fn limits() -> Limits {
    Limits {
        per_thread: PER_THREAD.load(Relaxed),
        shared: SHARED_LIMIT.load(Relaxed),
    }
}

/// Sets the limits on what is kept, from now on; [`Limits::OFF`] turns recycling off.
///
/// The calling thread's cache and the shared tier are trimmed to the new limits at once; other
/// threads trim their caches at their next allocation or release.
///
/// ```
/// use jdb_alloc::{recycle::{self, Limits}, AlignedBuf};
///
/// let old = recycle::limits();
/// recycle::set_limits(Limits { per_thread: 8 << 20, shared: 0 });
/// drop(AlignedBuf::with_cap(16 << 20).unwrap()); // larger than the bound: not kept
/// assert_eq!(recycle::stats().kept, 0);
/// recycle::set_limits(old);
/// ```
pub fn set_limits(limits: Limits) {
    PER_THREAD.store(limits.per_thread, Relaxed);
    SHARED_LIMIT.store(limits.shared, Relaxed);
    let _ = CACHE.try_with(|cache| {
        if let Ok(mut cache) = cache.try_borrow_mut() {
            cache.lists.shrink_to(limits.per_thread);
        }
    });
    shared().shrink_to(shared_limit());
}

/// What the shared tier may keep now: nothing while recycling is off (`per_thread == 0`).
#[inline]
fn shared_limit() -> usize {
    if PER_THREAD.load(Relaxed) == 0 {
        0
    } else {
        SHARED_LIMIT.load(Relaxed)
    }
}

/// Returns every block the calling thread and the shared tier keep to the allocator, and their
/// memory to the OS: on Linux the pages of blocks of 64 KiB and more are released at once
/// (`madvise(MADV_DONTNEED)`), since an allocator may keep freed memory resident (glibc does,
/// in its thread arenas). Other threads' caches are theirs: each thread can call `trim`, and a
/// thread's cache is returned the same way when it exits.
///
/// Recycling stays on; call it after a burst, or when memory is needed elsewhere.
///
/// ```
/// use jdb_alloc::{recycle, AlignedBuf};
///
/// drop(AlignedBuf::with_cap(1 << 20).unwrap());
/// recycle::trim();
/// let s = recycle::stats();
/// assert_eq!((s.kept, s.shared_kept), (0, 0));
/// ```
pub fn trim() {
    let _ = CACHE.try_with(|cache| {
        if let Ok(mut cache) = cache.try_borrow_mut() {
            cache.lists.shrink_to(0);
        }
    });
    shared().shrink_to(0);
}

/// What recycling did for the calling thread, and what is kept now.
///
/// ```
/// use jdb_alloc::{AlignedBuf, recycle};
///
/// let before = recycle::stats();
/// drop(AlignedBuf::with_cap(1 << 20).unwrap());
/// let again = AlignedBuf::with_cap(1 << 20).unwrap(); // the block just freed
/// assert_eq!(recycle::stats().hits, before.hits + 1);
/// # drop(again);
/// ```
pub fn stats() -> Stats {
    let mut stats = CACHE
        .try_with(|cache| {
            cache
                .try_borrow()
                .map(|c| Stats {
                    kept: c.lists.kept,
                    ..c.stats
                })
                .unwrap_or_default()
        })
        .unwrap_or_default();
    stats.shared_kept = SHARED_KEPT.load(Relaxed);
    stats.limits = limits();
    stats
}

// ============================================================================
// Size classes
// ============================================================================

/// Number of classes: capacities of 1 page up to below [`MAP_THRESHOLD`].
const CLASSES: usize = 48;

/// The size class of a capacity below [`MAP_THRESHOLD`]: the size of the block behind the
/// buffer, a function of the capacity alone, worked out once per allocation and once per release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Class(usize);

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
fn class_of(cap: usize) -> usize {
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
const fn class_size(class: usize) -> usize {
    if class < 4 {
        return (class + 1) * PAGE_SIZE;
    }
    let shift = class / 4 - 1;
    let m = class % 4 + 4;
    ((m + 1) << shift) * PAGE_SIZE
}

// Class 47 holds the capacities just below the threshold and is exactly the threshold.
const _: () = assert!(class_size(CLASSES - 1) == MAP_THRESHOLD);

// ============================================================================
// Free lists
// ============================================================================

/// A free list of blocks of one class, linked through each block's first word.
///
/// Invariant: every block on the list is a live heap block of the list's class size (from
/// `heap::allocate`), owned by the list (nobody else holds it), and its first word is the next
/// block (null at the end).
struct List {
    head: *mut u8,
}

impl List {
    const EMPTY: Self = Self {
        head: ptr::null_mut(),
    };

    #[inline]
    fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// Takes the list's first block.
    #[inline]
    fn pop(&mut self) -> Option<NonNull<u8>> {
        let block = NonNull::new(self.head)?;
        // SAFETY: the list's invariant: `block` is a live block the list owns, at least a page
        // long and page-aligned, whose first word is the next block.
        self.head = unsafe { block.cast::<*mut u8>().read() };
        Some(block)
    }

    /// Puts `block` at the front.
    ///
    /// # Safety
    /// `block` must be a live heap block of this list's class size, that the caller gives up
    /// (nothing uses it afterwards).
    #[inline]
    unsafe fn push(&mut self, block: NonNull<u8>) {
        // SAFETY: the caller gives up the block, which is at least a page long and page-aligned,
        // so its first word can hold the link.
        unsafe { block.cast::<*mut u8>().write(self.head) };
        self.head = block.as_ptr();
    }
}

/// Per-class free lists and the bytes they hold.
struct Lists {
    lists: [List; CLASSES],
    kept: usize,
}

impl Lists {
    const EMPTY: Self = Self {
        lists: [List::EMPTY; CLASSES],
        kept: 0,
    };

    #[inline]
    fn take(&mut self, class: usize) -> Option<NonNull<u8>> {
        #[cfg(jdb_alloc_asan)]
        if let Some(head) = NonNull::new(self.lists[class].head) {
            // The link word stays unpoisoned; the rest of the block becomes usable again.
            asan::unpoison(head, class_size(class));
        }
        let block = self.lists[class].pop()?;
        self.kept -= class_size(class);
        Some(block)
    }

    /// # Safety
    /// As [`List::push`], for the list of `class`.
    #[inline]
    unsafe fn put(&mut self, class: usize, block: NonNull<u8>) {
        // SAFETY: the caller's promise.
        unsafe { self.lists[class].push(block) };
        self.kept += class_size(class);
        #[cfg(jdb_alloc_asan)]
        asan::poison_after_link(block, class_size(class));
    }

    /// Releases blocks, largest classes first, until at most `limit` bytes are kept: to the
    /// allocator, and their pages to the OS (see [`heap::release_to_os`]).
    #[cold]
    fn shrink_to(&mut self, limit: usize) {
        for class in (0..CLASSES).rev() {
            while self.kept > limit {
                let Some(block) = self.take(class) else { break };
                // SAFETY: the block came off the list of `class`, so it is a live heap block of
                // that class size, now owned by nobody else.
                unsafe { heap::release_to_os(block, class_size(class)) };
            }
        }
    }
}

/// AddressSanitizer's manual poisoning (CI's sanitizer run sets `--cfg jdb_alloc_asan`): a kept
/// block is poisoned but for its link word, so any access through a stale pointer to it is
/// reported as it would be after a real free; and a live buffer's slack, the bytes of its
/// block past its capacity, is poisoned too, so a read past `cap` is reported as it would be
/// without size classes.
#[cfg(jdb_alloc_asan)]
pub(crate) mod asan {
    use std::{ffi::c_void, ptr::NonNull};

    unsafe extern "C" {
        fn __asan_poison_memory_region(addr: *const c_void, size: usize);
        fn __asan_unpoison_memory_region(addr: *const c_void, size: usize);
    }

    const LINK: usize = size_of::<*mut u8>();

    /// Poisons `[block + LINK, block + size)`.
    pub(super) fn poison_after_link(block: NonNull<u8>, size: usize) {
        // SAFETY: poisoning only changes ASan's shadow memory, which any address range may
        // have; the range is inside a live block of `size` bytes.
        unsafe {
            __asan_poison_memory_region(block.as_ptr().wrapping_add(LINK).cast(), size - LINK)
        };
    }

    /// Unpoisons `[block, block + size)`.
    pub(super) fn unpoison(block: NonNull<u8>, size: usize) {
        // SAFETY: as in `poison_after_link`.
        unsafe { __asan_unpoison_memory_region(block.as_ptr().cast(), size) };
    }

    /// Poisons (`on`) or unpoisons the slack `[block + cap, block + size)` of the block of
    /// `size` bytes behind a buffer of capacity `cap`.
    pub(crate) fn slack(block: NonNull<u8>, cap: usize, size: usize, on: bool) {
        let slack = size - cap;
        if slack == 0 {
            return;
        }
        let start = block.as_ptr().wrapping_add(cap).cast();
        // SAFETY: as in `poison_after_link`: `[cap, size)` is inside the live block.
        unsafe {
            if on {
                __asan_poison_memory_region(start, slack);
            } else {
                __asan_unpoison_memory_region(start, slack);
            }
        }
    }
}

// ============================================================================
// The thread's cache
// ============================================================================

/// Limits in force ([`Limits`]); read with plain loads, written only by [`set_limits`].
static PER_THREAD: AtomicUsize = AtomicUsize::new(Limits::DEFAULT.per_thread);
static SHARED_LIMIT: AtomicUsize = AtomicUsize::new(Limits::DEFAULT.shared);

/// One thread's kept blocks and counters.
struct Cache {
    lists: Lists,
    stats: Stats,
    /// Whether this thread has asked for a block below [`MAP_THRESHOLD`], recycling on or off:
    /// until it has, what it frees goes to the shared tier (see [`keep`]).
    allocated: bool,
}

impl Drop for Cache {
    /// The thread exits: its blocks go back.
    fn drop(&mut self) {
        self.lists.shrink_to(0);
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = const {
        RefCell::new(Cache {
            lists: Lists::EMPTY,
            stats: Stats {
                hits: 0,
                shared_hits: 0,
                misses: 0,
                kept: 0,
                shared_kept: 0,
                limits: Limits::OFF,
            },
            allocated: false,
        })
    };
}

/// A kept block of `class`, now owned by the caller; `None` if there is none (or recycling is
/// off, or the thread's cache is gone because the thread is exiting).
#[inline]
pub(crate) fn take(class: Class) -> Option<NonNull<u8>> {
    let class = class.0;
    CACHE
        .try_with(|cache| {
            let mut cache = cache.try_borrow_mut().ok()?;
            cache.allocated = true;
            let limit = PER_THREAD.load(Relaxed);
            if cache.lists.kept > limit {
                cache.lists.shrink_to(limit); // the limit was lowered by another thread
            }
            if limit == 0 {
                return None;
            }
            if let Some(block) = cache.lists.take(class) {
                cache.stats.hits += 1;
                return Some(block);
            }
            if let Some(block) = take_shared(class) {
                cache.stats.shared_hits += 1;
                return Some(block);
            }
            cache.stats.misses += 1;
            None
        })
        .ok()
        .flatten()
}

/// Keeps a freed block of `class` if there is room; else gives it back, so the caller must
/// release it.
///
/// # Safety
/// `block` must be a live heap block of `class`'s size (from `mem::allocate`), which the caller
/// gives up if this returns `Ok(())`.
#[inline]
pub(crate) unsafe fn keep(block: NonNull<u8>, class: Class) -> Result<(), NonNull<u8>> {
    let (size, class) = (class.size(), class.0);
    let limit = PER_THREAD.load(Relaxed);
    let kept = CACHE.try_with(|cache| {
        let Ok(mut cache) = cache.try_borrow_mut() else {
            return false;
        };
        // A thread that has not allocated a buffer yet (an I/O thread dropping frames made
        // elsewhere) would only strand blocks in its own cache: they go to the shared tier,
        // where the allocating threads find them.
        if !cache.allocated {
            return false;
        }
        if cache.lists.kept + size <= limit {
            // SAFETY: `block` is a live heap block of `size` bytes, the size of `class`; the
            // caller gives it up.
            unsafe { cache.lists.put(class, block) };
            return true;
        }
        // No room here (or recycling is off): the limit may have been lowered meanwhile.
        if cache.lists.kept > limit {
            cache.lists.shrink_to(limit);
        }
        false
    });
    if kept == Ok(true) {
        return Ok(());
    }
    if limit == 0 {
        return Err(block); // recycling is off: the shared tier keeps nothing either
    }
    // SAFETY: the caller's promise, passed on.
    unsafe { keep_shared(block, class) }
}

// ============================================================================
// The shared tier
// ============================================================================

/// The shared tier's blocks. Behind [`SHARED`]; [`SHARED_CLASSES`] and [`SHARED_KEPT`] mirror
/// it for lock-free checks.
struct Shared(Lists);

// SAFETY: the lists own their blocks outright (no thread-bound resource): a block can be handed
// from one thread to another, as `AlignedBuf` is `Send`.
unsafe impl Send for Shared {}

static SHARED: Mutex<Shared> = Mutex::new(Shared(Lists::EMPTY));
/// Bit `c` set when the shared list of class `c` may be non-empty (written under the lock).
static SHARED_CLASSES: AtomicU64 = AtomicU64::new(0);
/// Bytes in the shared tier (written under the lock).
static SHARED_KEPT: AtomicUsize = AtomicUsize::new(0);

const _: () = assert!(CLASSES <= 64);

/// The shared tier, locked. Nothing panics while it is held, so poisoning is only ever an
/// artefact: the lists are consistent whatever happened.
fn shared() -> SharedGuard {
    SharedGuard(SHARED.lock().unwrap_or_else(PoisonError::into_inner))
}

struct SharedGuard(std::sync::MutexGuard<'static, Shared>);

impl SharedGuard {
    fn shrink_to(&mut self, limit: usize) {
        self.0.0.shrink_to(limit);
        self.publish();
    }

    /// Mirrors the lists in the lock-free summaries.
    fn publish(&self) {
        let lists = &self.0.0;
        let mut classes = 0u64;
        for (class, list) in lists.lists.iter().enumerate() {
            if !list.is_empty() {
                classes |= 1 << class;
            }
        }
        SHARED_CLASSES.store(classes, Relaxed);
        SHARED_KEPT.store(lists.kept, Relaxed);
    }
}

/// A block of `class` from the shared tier, if it has one.
#[inline]
fn take_shared(class: usize) -> Option<NonNull<u8>> {
    if SHARED_CLASSES.load(Relaxed) & (1 << class) == 0 {
        return None;
    }
    take_shared_locked(class)
}

#[cold]
fn take_shared_locked(class: usize) -> Option<NonNull<u8>> {
    let mut shared = shared();
    let block = shared.0.0.take(class);
    shared.publish();
    block
}

/// Keeps `block` in the shared tier if there is room, else gives it back.
///
/// # Safety
/// As [`keep`]: `block` is a live heap block of the size of `class`, that the
/// caller gives up if this returns `Ok(())`.
#[inline]
unsafe fn keep_shared(block: NonNull<u8>, class: usize) -> Result<(), NonNull<u8>> {
    let size = class_size(class);
    let limit = shared_limit();
    // Checked without the lock first, so a full (or disabled) tier costs no lock.
    if SHARED_KEPT.load(Relaxed) + size > limit {
        return Err(block);
    }
    // SAFETY: the caller's promise, passed on.
    unsafe { keep_shared_locked(block, class, size) }
}

/// # Safety
/// As [`keep_shared`]; `size` is the size of `class`.
#[cold]
unsafe fn keep_shared_locked(
    block: NonNull<u8>,
    class: usize,
    size: usize,
) -> Result<(), NonNull<u8>> {
    let mut shared = shared();
    // Read again under the lock: `set_limits` may have lowered it (and trimmed the tier) since
    // the unlocked check, and a block added now must not put the tier back above it.
    let limit = shared_limit();
    if shared.0.0.kept + size > limit {
        if shared.0.0.kept > limit {
            shared.shrink_to(limit);
        }
        return Err(block);
    }
    // SAFETY: the caller's promise: a live block of the size of `class`, given up.
    unsafe { shared.0.0.put(class, block) };
    shared.publish();
    Ok(())
}

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
