//! Recycling of freed blocks, and the switches that bound it ([`Limits`], [`set_limits`],
//! [`set_decay`], [`trim`]) and report on it ([`stats`]).
//!
//! A storage engine allocates and frees I/O buffers all the time. Freed through the global
//! allocator, a block of 128 KiB and more usually goes back to the OS, and the next buffer of
//! that size pays a page fault per 4 KiB page it touches (about 1.4 µs each here): 100 to 900
//! times what reusing one buffer by hand costs. So this crate keeps freed blocks and hands them
//! out again, behind the unchanged API of [`AlignedBuf`](crate::AlignedBuf) and
//! [`Frame`](crate::Frame). With the defaults nobody has to size anything: what is kept follows
//! what the program uses, and goes back when it no longer does.
//!
//! # How it works
//!
//! - **Size classes.** A block below [`MAP_THRESHOLD`](crate::MAP_THRESHOLD) has the size of its class: its capacity
//!   rounded up to 1, 2, 3 or 4 pages, then to one of four steps per power of two (5, 6, 7,
//!   8 × 2^k pages). Powers of two waste nothing; others waste under 25 %, untouched: a buffer's
//!   [`cap`](crate::AlignedBuf::cap) is still its size rounded up to whole pages.
//! - **Large blocks, 128 KiB and up**, are kept by the thread that allocated them in a heap of
//!   its own, for as long as its working set needs them: a heap keeps at most twice the most
//!   bytes its thread had live at once over the last decay period ([`Stats::working_set`]), and
//!   a block unused for the decay period ([`decay`], 10 s by default) goes back to the OS. A block freed on another thread goes back to its own heap through a
//!   lock-free inbox. A thread that goes idle keeps nothing past the decay period as long as
//!   another thread allocates: allocating threads look at the other heaps too, at most every
//!   eighth of the period. A kept block may serve a capacity up to two times smaller than its
//!   own. Why, and what contention remains: in the source's `large` module docs (measured
//!   there: a fresh 16 MiB block costs 6 ms of page faults; a kept one, what reusing one by
//!   hand costs).
//! - **Small blocks, below 128 KiB**, come from the global allocator, whose own heap serves
//!   them well, and each thread keeps up to [`SMALL_KEPT`] of them (4 MiB) in free lists of its
//!   own, linked through the blocks, with no lock and no read-modify-write of anything shared.
//!   What a thread did not use for a whole decay period goes back at its next allocations.
//!   Blocks freed by a thread that never allocates (an I/O thread dropping buffers) go to a
//!   shared tier of lock-free stacks, bounded by [`Limits::shared`], where allocating threads
//!   find them.
//! - **Zeroes where needed.** [`AlignedBuf::zeroed`](crate::AlignedBuf::zeroed) and
//!   [`page`](crate::AlignedBuf::page) from a recycled block zero the buffer's capacity, nothing
//!   more; from a fresh mapping, nothing at all.
//! - **Mapped buffers are not kept.** From [`MAP_THRESHOLD`](crate::MAP_THRESHOLD) (32 MiB) up a buffer is a mapping of
//!   its own, whose point is lazy zero pages: a 1 GiB `zeroed` arena costs one system call and
//!   only the pages touched, which a recycled block zeroed by hand could not match (measured on
//!   `zeroed(64 MiB)`: 4.5 ms for a kept block, 30 µs for a fresh one). Huge-page arenas
//!   ([`zeroed_huge`](crate::AlignedBuf::zeroed_huge)) never take a recycled block either.
//!
//! [`trim`] returns everything kept, by every thread, at once; a thread's kept memory also goes
//! back when it exits.
//!
//! # What it buys
//!
//! Measured on a 2-core AMD EPYC, glibc (`cargo bench --bench compare`, medians; the figures are
//! in `benches/RESULTS.md`): `with_cap(4096)` + drop costs about 5 ns, `page()` + drop the cost
//! of zeroing 4 KiB plus 2 ns; a 1 MiB buffer with a byte written per page about 2 µs instead of
//! 370 µs (0.1.4), a 16 MiB one 40 µs instead of 6 ms. An engine's pattern, 16 to 48 buffers
//! of 4 KiB to 16 MiB live at once and replaced in turn, costs 0.93 to 1.3 times what reusing
//! buffers by hand costs, with the default settings (the `engine` and `burst` rows).

use std::{
    cell::RefCell,
    ptr::{self, NonNull},
    sync::atomic::{
        AtomicPtr, AtomicUsize,
        Ordering::{Acquire, Relaxed, Release},
    },
    time::Duration,
};

use crate::large;
use crate::{
    heap,
    size_class::{CLASSES, Class, class_size},
};

/// The most bytes of small blocks (below 128 KiB) a thread keeps, whatever the limits.
///
/// ```
/// assert_eq!(jdb_alloc::recycle::SMALL_KEPT, 4 << 20);
/// ```
pub const SMALL_KEPT: usize = 4 << 20;

/// Bounds on what is kept for reuse, per thread and in the shared tier.
///
/// These are upper bounds on top of what the working set and the decay period already decide
/// (see the [module docs](self)); the default sets none per thread, since a fixed bound below
/// an engine's working set is what makes allocation fall off a cliff.
///
/// ```
/// use jdb_alloc::recycle::Limits;
///
/// assert_eq!(Limits::default(), Limits::DEFAULT);
/// assert_eq!(Limits::DEFAULT.per_thread, usize::MAX);
/// assert_eq!(Limits::OFF, Limits { per_thread: 0, shared: 0 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Bytes each thread may keep, its large blocks and its small ones together: of which
    /// small ones at most [`SMALL_KEPT`] or half the limit, whichever is less, and large ones
    /// the rest. `0` turns recycling off altogether, whatever `shared` says: nothing is kept,
    /// not even in the shared tier, and every allocation is fresh.
    pub per_thread: usize,
    /// Bytes of small blocks kept in the shared tier, for blocks freed by threads that do not
    /// allocate.
    pub shared: usize,
}

impl Limits {
    /// The default: no bound per thread but the working set and the decay period, and 32 MiB
    /// of small blocks shared.
    ///
    /// ```
    /// use jdb_alloc::recycle::{self, Limits};
    ///
    /// recycle::set_limits(Limits::DEFAULT);
    /// assert_eq!(recycle::limits(), Limits { per_thread: usize::MAX, shared: 32 << 20 });
    /// ```
    pub const DEFAULT: Self = Self {
        per_thread: usize::MAX,
        shared: 32 << 20,
    };

    /// Recycling off: every block goes straight back to where it came from, as in jdb_alloc
    /// 0.1.4. (Blocks keep their class size: a capacity between two classes takes up to 25% more
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
/// Counters are per thread and count from the thread's first buffer; `kept` is this thread's,
/// `shared_kept` the shared tier's.
///
/// ```
/// let s = jdb_alloc::recycle::stats();
/// println!(
///     "buffers: {} reused, {} from the shared tier, {} fresh; {} + {} bytes kept, \
///      working set {} bytes, {} bytes given back",
///     s.hits, s.shared_hits, s.misses, s.kept, s.shared_kept, s.working_set, s.purged,
/// );
/// assert!(s.kept <= s.limits.per_thread);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Allocations served from this thread's own kept blocks.
    pub hits: u64,
    /// Allocations served from the shared tier.
    pub shared_hits: u64,
    /// Allocations that found nothing to reuse and asked the allocator (or the OS) for memory,
    /// while recycling was on. Mapped buffers ([`MAP_THRESHOLD`](crate::MAP_THRESHOLD) and up) are not counted: they
    /// are never recycled.
    pub misses: u64,
    /// Bytes this thread keeps (whole blocks, class sizes): small and large.
    pub kept: usize,
    /// Bytes kept in the shared tier.
    pub shared_kept: usize,
    /// Bytes of this thread's large blocks live now, wherever they are (freed elsewhere but
    /// not yet back counts as freed).
    pub live: usize,
    /// The working set estimate: the most bytes of large blocks this thread had live at once
    /// over the last decay period, more or less half a period. Its heap keeps at most twice this.
    pub working_set: usize,
    /// Large blocks of this thread freed on other threads that came back to it.
    pub remote_frees: u64,
    /// Bytes of this thread's kept large blocks given back to the OS because they were unused
    /// for the decay period, or the working set no longer covered them.
    pub purged: u64,
    /// The limits in force.
    pub limits: Limits,
    /// The decay period in force.
    pub decay: Duration,
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
/// The calling thread's small blocks, every thread's large blocks and the shared tier are
/// brought within the new limits at once; other threads' small blocks at their next allocation
/// or release.
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
            let bound = small_bound(limits.per_thread);
            cache.lists.shrink_to(bound);
        }
    });
    large::shrink_all(large_bound(limits.per_thread));
    shrink_shared(shared_limit());
}

/// The decay period: how long a kept block may stay unused before it goes back to the OS.
///
/// 10 s unless set by [`set_decay`], or, before the first large allocation, by the environment
/// variable `JDB_ALLOC_DECAY_MS` (whole milliseconds; a value that does not parse is ignored).
///
/// ```
/// use std::time::Duration;
/// use jdb_alloc::recycle;
///
/// assert!(recycle::decay() <= Duration::from_secs(10) || std::env::var_os("JDB_ALLOC_DECAY_MS").is_some());
/// ```
pub fn decay() -> Duration {
    Duration::from_millis(large::decay_ms())
}

/// Sets the decay period, from now on (whole milliseconds). `Duration::ZERO` keeps no large
/// block: each goes back to the OS as it is freed, and what was kept goes at the next
/// operation.
///
/// Kept blocks are looked at, at most every eighth of the period, by their own thread when it
/// allocates or frees, and by the other threads when they allocate; so a block stays at most
/// about 9/8 of the period after its last use, as long as some thread allocates.
///
/// ```
/// use std::time::Duration;
/// use jdb_alloc::recycle;
///
/// let old = recycle::decay();
/// recycle::set_decay(Duration::from_secs(2));
/// assert_eq!(recycle::decay(), Duration::from_secs(2));
/// recycle::set_decay(old);
/// ```
pub fn set_decay(decay: Duration) {
    large::set_decay(decay);
    #[cfg(not(unix))]
    DECAY_MS.store(decay.as_millis().min(u64::MAX as u128) as u64, Relaxed);
}

#[cfg(not(unix))]
static DECAY_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(10_000);

/// What the shared tier may keep now: nothing while recycling is off (`per_thread == 0`).
#[inline]
fn shared_limit() -> usize {
    if PER_THREAD.load(Relaxed) == 0 {
        0
    } else {
        SHARED_LIMIT.load(Relaxed)
    }
}

/// What a thread may keep of small blocks under a `per_thread` limit: [`SMALL_KEPT`], or half
/// the limit when that is less.
#[inline]
fn small_bound(per_thread: usize) -> usize {
    (per_thread / 2).min(SMALL_KEPT)
}

/// Returns everything kept, by every thread and in the shared tier, to the OS at once: blocks
/// are freed, and on Linux the pages of those of 64 KiB and more released first with
/// `madvise(MADV_DONTNEED)`, since an allocator may keep freed memory resident.
/// Other threads' small blocks (at most [`SMALL_KEPT`] each) are theirs: each thread can call
/// `trim`, and they go back when their thread exits or leaves them unused for the decay period.
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
    large::trim_all();
    shrink_shared(0);
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
    {
        let heap = large::stats();
        stats.hits += heap.hits;
        stats.misses += heap.misses;
        stats.kept += heap.kept;
        stats.live = heap.live;
        stats.working_set = heap.working_set;
        stats.remote_frees = heap.remote_frees;
        stats.purged = heap.purged;
    }
    stats.shared_kept = SHARED_KEPT.load(Relaxed);
    stats.limits = limits();
    stats.decay = decay();
    stats
}

/// What the calling thread's large blocks may keep: the limit less what its small ones may.
#[inline]
pub(crate) fn large_limit() -> usize {
    large_bound(PER_THREAD.load(Relaxed))
}

/// What a thread may keep of large blocks under a `per_thread` limit.
#[inline]
fn large_bound(per_thread: usize) -> usize {
    if per_thread == usize::MAX {
        return per_thread;
    }
    per_thread - small_bound(per_thread)
}

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
// The thread's cache of small blocks
// ============================================================================

/// Limits in force ([`Limits`]); read with plain loads, written only by [`set_limits`].
static PER_THREAD: AtomicUsize = AtomicUsize::new(Limits::DEFAULT.per_thread);
static SHARED_LIMIT: AtomicUsize = AtomicUsize::new(Limits::DEFAULT.shared);

/// Hits (or misses) between two looks at the clock: the cache's decay, and the large heaps' for
/// a thread that allocates only small blocks.
const TICK: u64 = 256;

/// One thread's kept small blocks and counters.
struct Cache {
    lists: Lists,
    stats: Stats,
    /// Whether this thread has asked for a block below [`MAP_THRESHOLD`](crate::MAP_THRESHOLD), recycling on or off:
    /// until it has, what it frees goes to the shared tier (see [`keep`]).
    allocated: bool,
    /// The fewest bytes kept since the period began, as sampled at each tick (right after a
    /// take): about what the thread did not need all period.
    low: usize,
    /// When the period began, in the large module's clock (ms); 0 before the first tick.
    period_start: u64,
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
                live: 0,
                working_set: 0,
                remote_frees: 0,
                purged: 0,
                limits: Limits::OFF,
                decay: Duration::ZERO,
            },
            allocated: false,
            low: 0,
            period_start: 0,
        })
    };
}

impl Cache {
    /// Every [`TICK`] hits, shared hits or misses: gives back what the thread did not use for a whole decay
    /// period, and lets the large heaps do the same.
    #[cold]
    fn tick(&mut self, limit: usize) {
        self.low = self.low.min(self.lists.kept);
        let now = large::now_ms();
        if now.saturating_sub(self.period_start) >= large::decay_ms() {
            let unused = self.low.min(self.lists.kept);
            self.lists.shrink_to(self.lists.kept - unused);
            self.low = self.lists.kept;
            self.period_start = now;
        }
        large::tick(large_bound(limit));
    }
}

/// A kept small block of `class`, now owned by the caller; `None` if there is none (or
/// recycling is off, or the thread's cache is gone because the thread is exiting).
#[inline]
pub(crate) fn take(class: Class) -> Option<NonNull<u8>> {
    let class = class.0;
    CACHE
        .try_with(|cache| {
            let mut cache = cache.try_borrow_mut().ok()?;
            cache.allocated = true;
            let limit = PER_THREAD.load(Relaxed);
            let bound = small_bound(limit);
            if cache.lists.kept > bound {
                cache.lists.shrink_to(bound); // the limit was lowered by another thread
            }
            if limit == 0 {
                return None;
            }
            if let Some(block) = cache.lists.take(class) {
                cache.stats.hits += 1;
                if cache.stats.hits % TICK == 0 {
                    cache.tick(limit);
                }
                return Some(block);
            }
            if let Some(block) = take_shared(class, &mut cache) {
                cache.stats.shared_hits += 1;
                if cache.stats.shared_hits % TICK == 0 {
                    cache.tick(limit);
                }
                return Some(block);
            }
            cache.stats.misses += 1;
            if cache.stats.misses % TICK == 0 {
                cache.tick(limit);
            }
            None
        })
        .ok()
        .flatten()
}

/// Keeps a freed small block of `class` if there is room; else gives it back, so the caller
/// must release it.
///
/// # Safety
/// `block` must be a live heap block of `class`'s size (from `mem::allocate`), which the caller
/// gives up if this returns `Ok(())`.
#[inline]
pub(crate) unsafe fn keep(block: NonNull<u8>, class: Class) -> Result<(), NonNull<u8>> {
    let (size, class) = (class.size(), class.0);
    let limit = PER_THREAD.load(Relaxed);
    let bound = small_bound(limit);
    let kept = CACHE.try_with(|cache| {
        let Ok(mut cache) = cache.try_borrow_mut() else {
            return false;
        };
        // A thread that has not allocated a buffer yet (an I/O thread dropping buffers made
        // elsewhere) would only strand blocks in its own cache: they go to the shared tier,
        // where the allocating threads find them.
        if !cache.allocated {
            return false;
        }
        if cache.lists.kept + size <= bound {
            // SAFETY: `block` is a live heap block of `size` bytes, the size of `class`; the
            // caller gives it up.
            unsafe { cache.lists.put(class, block) };
            return true;
        }
        // No room here (or recycling is off): the limit may have been lowered meanwhile.
        if cache.lists.kept > bound {
            cache.lists.shrink_to(bound);
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

/// The shared tier: a stack of kept small blocks per class, linked through the blocks' first
/// words like [`List`]. A block is pushed with one compare-and-swap; a thread that finds the
/// stack of its class non-empty takes the whole stack with one swap and keeps what it does not
/// need in its own cache. Nothing ever pops a single block, so no link is read while another
/// thread may change it (no ABA), and no lock is taken.
///
/// Invariant: the blocks on a stack are live heap blocks of the stack's class size, owned by
/// the stack; each block's first word is the next block (null at the end).
static SHARED: [AtomicPtr<u8>; CLASSES] = [const { AtomicPtr::new(ptr::null_mut()) }; CLASSES];
/// Bytes on the shared stacks: added before a push, taken off after a take, so never below
/// what the stacks hold.
static SHARED_KEPT: AtomicUsize = AtomicUsize::new(0);

/// A block of `class` from the shared tier, if it has one; the rest of its stack goes to
/// `cache`, or back to the allocator where the cache has no room.
#[inline]
fn take_shared(class: usize, cache: &mut Cache) -> Option<NonNull<u8>> {
    if SHARED[class].load(Relaxed).is_null() {
        return None;
    }
    take_shared_stack(class, cache)
}

#[cold]
fn take_shared_stack(class: usize, cache: &mut Cache) -> Option<NonNull<u8>> {
    let size = class_size(class);
    let first = NonNull::new(SHARED[class].swap(ptr::null_mut(), Acquire))?;
    let bound = small_bound(PER_THREAD.load(Relaxed));
    let mut taken = 0;
    // The swap took the whole stack, so the list's invariant holds: its blocks are owned here,
    // and each pusher wrote its block's link before the Release exchange that published it,
    // which the Acquire swap pairs with (every later push is a read-modify-write of the same
    // atomic, so it continues that release sequence).
    let mut list = List {
        head: first.as_ptr(),
    };
    #[cfg(jdb_alloc_asan)]
    asan::unpoison(first, size);
    let block = list.pop()?;
    taken += size;
    while let Some(next) = list.pop() {
        taken += size;
        if cache.lists.kept + size <= bound {
            // SAFETY: a live block of `class`, owned here (above), given to the cache.
            unsafe { cache.lists.put(class, next) };
        } else {
            #[cfg(jdb_alloc_asan)]
            asan::unpoison(next, size);
            // SAFETY: as above, given back to the allocator.
            unsafe { heap::release(next, size) };
        }
    }
    SHARED_KEPT.fetch_sub(taken, Relaxed);
    Some(block)
}

/// Keeps `block` in the shared tier if there is room, else gives it back.
///
/// # Safety
/// As [`keep`]: `block` is a live heap block of the size of `class`, that the caller gives up
/// if this returns `Ok(())`.
#[inline]
unsafe fn keep_shared(block: NonNull<u8>, class: usize) -> Result<(), NonNull<u8>> {
    let size = class_size(class);
    let limit = shared_limit();
    if SHARED_KEPT.load(Relaxed).saturating_add(size) > limit {
        return Err(block);
    }
    // Counted before it is published, so a taker never subtracts a block not yet counted.
    if SHARED_KEPT.fetch_add(size, Relaxed).saturating_add(size) > limit {
        SHARED_KEPT.fetch_sub(size, Relaxed);
        return Err(block);
    }
    // Poisoned before it is published too: once it is, another thread may take it.
    #[cfg(jdb_alloc_asan)]
    asan::poison_after_link(block, size);
    let stack = &SHARED[class];
    let mut head = stack.load(Relaxed);
    loop {
        // SAFETY: the caller gives the block up; it is at least a page long and page-aligned,
        // so its first word holds the link, written before the exchange publishes the block.
        unsafe { block.cast::<*mut u8>().write(head) };
        match stack.compare_exchange_weak(head, block.as_ptr(), Release, Relaxed) {
            Ok(_) => return Ok(()),
            Err(now) => head = now,
        }
    }
}

/// Gives back blocks of the shared tier until at most `limit` bytes are kept there, largest
/// classes first.
fn shrink_shared(limit: usize) {
    for class in (0..CLASSES).rev() {
        if SHARED_KEPT.load(Relaxed) <= limit {
            return;
        }
        let size = class_size(class);
        // As in `take_shared_stack`: the whole stack is owned here.
        let mut list = List {
            head: SHARED[class].swap(ptr::null_mut(), Acquire),
        };
        let mut taken = 0;
        while let Some(block) = list.pop() {
            #[cfg(jdb_alloc_asan)]
            asan::unpoison(block, size);
            taken += size;
            // SAFETY: taken off the stack with the swap above: a live block of `class`, owned
            // here, given back.
            unsafe { heap::release_to_os(block, size) };
        }
        SHARED_KEPT.fetch_sub(taken, Relaxed);
    }
}
