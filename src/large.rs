//! Large blocks, from [`FIRST_SIZE`] (128 KiB) to below [`MAP_THRESHOLD`]: kept by the thread
//! that allocated them, and given back when the thread's working set no longer needs them.
//!
//! # Why a heap per thread, in front of the global allocator
//!
//! A block this size from glibc is usually a mapping of glibc's (its dynamic mmap threshold
//! starts at 128 KiB), so a fresh one is faulted in page by page: measured here, about 1.4 µs a
//! page, 6 ms for 16 MiB, 130 times what writing a resident block costs. Kept in a cache of a
//! fixed size in front of glibc, as this crate did before, the frees glibc would have learnt
//! from never reached it, its threshold never rose, and once a working set outgrew the cache
//! every miss was such a fresh mapping (an engine's pattern: 912 µs a buffer, 21 times reusing
//! buffers by hand). So the cache follows the working set instead of a fixed size.
//!
//! The blocks themselves still come from the global allocator, not from mappings of our own,
//! by measurement: with recycling off, or limits that keep nothing, own mappings cost a fresh
//! mapping at every allocation (126 µs for 256 KiB, 1.5 ms for 4 MiB), where glibc, whose
//! threshold rises as it sees frees, serves the same from its heap in 0.5 to 9 µs. What this
//! module gives back it first releases to the OS (`madvise(MADV_DONTNEED)` on Linux), so
//! glibc's heap does not keep it resident either.
//!
//! # Layout
//!
//! Each block is one allocation: a header page, then the block's bytes (its class size, a
//! whole number of pages). The header holds the block's size, the heap that owns it and the
//! links of the lists it is kept on, so kept blocks are never written inside, and a block may
//! serve a smaller capacity than its own (up to four classes, at most twice its size): the
//! header, not the capacity, says how large the allocation is. The header page costs 4 KiB per
//! block (under 3.2 %, at 128 KiB).
//!
//! # Heaps
//!
//! A thread's first large block claims a [`Heap`]: its kept blocks, one list per class, newest
//! first. The heap is the thread's own, but not in a thread-local: heaps are on a process-wide
//! list, never freed (a heap whose thread has exited waits for the next thread to claim it), so
//! that other threads can reach them:
//! - a block freed on another thread goes back to the heap it came from, pushed on the heap's
//!   inbox, a lock-free stack ([`Heap::inbox`]); the owner takes the whole inbox at its next
//!   operation. No lock is shared between threads on this path.
//! - a thread that allocates looks, at most every eighth of the decay period, at the other
//!   heaps, and gives back what they kept too long: a thread that went idle keeps nothing past
//!   the decay period, as long as any thread still allocates.
//! - [`trim_all`] empties every heap at once, from any thread.
//!
//! A heap's lists are behind a flag ([`Heap::busy`]) that its owner takes for each operation
//! (one atomic swap, uncontended) and other threads only try to take: the only contention left
//! is a thread that finds its own heap being looked at by another, for as long as that other
//! thread gives back what expired. With 64 threads that is at most one visit per heap per eighth of
//! the decay period. The list of heaps is read without a lock; a new heap is pushed on it with
//! one compare-and-swap.
//!
//! # What is kept
//!
//! A heap keeps freed blocks up to twice its working set: the most bytes its thread had live at
//! once over the last decay period (the estimate in [`crate::recycle::Stats::working_set`]),
//! and within [`Limits::per_thread`]; when a freed block puts it over, the block kept longest
//! goes. Twice, by measurement: with once, an engine's pattern (16 buffers of 4 KiB-16 MiB
//! live) missed on one allocation in seven, since a request finds a block only in its own class
//! or the four above. A block unused
//! for the decay period ([`crate::recycle::decay`], 10 s unless set) is given back, and so are
//! blocks the shrinking estimate no longer covers. Either happens at the next operation of the
//! owner, or of any other thread that allocates.
//!
//! [`MAP_THRESHOLD`]: crate::MAP_THRESHOLD
//! [`Limits::per_thread`]: crate::recycle::Limits::per_thread

use std::{
    cell::{Cell, UnsafeCell},
    ops::{Deref, DerefMut},
    ptr::{self, NonNull},
    sync::atomic::{
        AtomicBool, AtomicPtr, AtomicU64, AtomicUsize,
        Ordering::{AcqRel, Acquire, Relaxed, Release},
    },
    time::Duration,
};

use crate::{
    Error, PAGE_SIZE, Result, heap,
    size_class::{CLASSES, Class, class_size},
};

/// The first class kept here: blocks of [`FIRST_SIZE`]; smaller ones stay with the global
/// allocator, whose heap serves them without a system call.
pub(crate) const FIRST: usize = 15;
/// The size of the smallest block kept here: 128 KiB.
pub(crate) const FIRST_SIZE: usize = class_size(FIRST);
const _: () = assert!(FIRST_SIZE == 128 << 10);

/// The classes kept here.
const COUNT: usize = CLASSES - FIRST;

/// How many classes above its own a request may take a kept block from: four steps, at most
/// twice its own size.
const UP: usize = 4;

/// A heap keeps up to this many times its working set.
const KEEP: usize = 2;

/// Bytes in front of each block: one page for its [`Header`].
const HEADER: usize = PAGE_SIZE;

/// Whether a block of `class` is one of this module's.
#[inline]
pub(crate) const fn holds(class: Class) -> bool {
    class.0 >= FIRST
}

// ============================================================================
// Time and the decay period
// ============================================================================

/// The decay period in milliseconds, or [`UNSET`] until first read.
static DECAY_MS: AtomicU64 = AtomicU64::new(UNSET);
const UNSET: u64 = u64::MAX;
/// The default decay period.
pub(crate) const DEFAULT_DECAY: Duration = Duration::from_secs(10);
/// The environment variable that sets the decay period, in milliseconds, at the first large
/// allocation (before any [`set_decay`]).
pub(crate) const DECAY_ENV: &str = "JDB_ALLOC_DECAY_MS";

/// The decay period in milliseconds.
#[inline]
pub(crate) fn decay_ms() -> u64 {
    match DECAY_MS.load(Relaxed) {
        UNSET => decay_from_env(),
        ms => ms,
    }
}

#[cold]
fn decay_from_env() -> u64 {
    let ms = std::env::var(DECAY_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&ms| ms != UNSET)
        .unwrap_or(DEFAULT_DECAY.as_millis() as u64);
    // A concurrent `set_decay` wins over the environment.
    match DECAY_MS.compare_exchange(UNSET, ms, Relaxed, Relaxed) {
        Ok(_) => ms,
        Err(set) => set,
    }
}

/// Sets the decay period (whole milliseconds, at most `u64::MAX - 1`).
pub(crate) fn set_decay(decay: Duration) {
    let ms = u64::try_from(decay.as_millis()).unwrap_or(u64::MAX - 1);
    DECAY_MS.store(ms.min(u64::MAX - 1), Relaxed);
}

/// Milliseconds on a monotonic clock: the kernel's coarse clock on Linux (a read of the vDSO
/// page, a few ns, ticking every few ms: plenty for a period of seconds).
#[inline]
pub(crate) fn now_ms() -> u64 {
    #[cfg(target_os = "linux")]
    {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
        t.tv_sec as u64 * 1000 + t.tv_nsec as u64 / 1_000_000
    }
    #[cfg(not(target_os = "linux"))]
    {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_millis() as u64
    }
}

/// Blocks kept at or before this time have been unused for the decay period; `None`: none has.
#[inline]
fn cutoff(now: u64, decay: u64) -> Option<u64> {
    now.checked_sub(decay)
}

/// How often, at most, a heap looks at its own expired blocks and a thread at other heaps: an
/// eighth of the decay period, so nothing stays more than 9/8 of it.
#[inline]
fn interval(decay: u64) -> u64 {
    decay / 8
}

// ============================================================================
// Blocks
// ============================================================================

/// The header page of a block: where the block is kept, and how large it is.
///
/// Written by whoever owns the block (the heap that keeps it, the thread that frees it) and
/// handed on with the block.
#[repr(C)]
struct Header {
    /// The next block on the list this one is on.
    next: *mut Header,
    /// The heap the block goes back to; null: none (recycling was off), released when freed.
    heap: *const Heap,
    /// The block's size in bytes, after the header page: the size of `class`.
    size: usize,
    /// The block's class.
    class: usize,
    /// When the block was kept (on a heap's lists) or freed (on an inbox), in [`now_ms`] time.
    kept_at: u64,
}

/// A block: the address of its header page, the block's bytes one page further on.
#[derive(Clone, Copy)]
struct Block(NonNull<Header>);

impl Block {
    /// The block whose bytes start at `ptr`.
    ///
    /// # Safety
    /// `ptr` must be the start of a block from [`allocate`], live (not released).
    #[inline]
    unsafe fn from_payload(ptr: NonNull<u8>) -> Self {
        // SAFETY: the caller's promise: `ptr` is one page into an allocation of ours, whose
        // first page is the header.
        Self(unsafe { ptr.sub(HEADER) }.cast())
    }

    #[inline]
    fn payload(self) -> NonNull<u8> {
        // SAFETY: a `Block` always wraps a live block (every constructor makes or is given
        // one), whose bytes follow its header page inside the same allocation.
        unsafe { self.0.cast::<u8>().add(HEADER) }
    }

    /// The header, for whoever owns the block at the moment.
    ///
    /// # Safety
    /// The caller owns the block (nobody else reads or writes its header meanwhile), and the
    /// block is mapped.
    #[inline]
    unsafe fn header<'a>(self) -> &'a mut Header {
        // SAFETY: the caller's promise: the header page is mapped, written only by the owner.
        unsafe { &mut *self.0.as_ptr() }
    }

    /// A fresh block of `class`, owned by `heap` (or nobody), reading as zero if `zeroed`.
    fn new(class: usize, heap: *const Heap, zeroed: bool) -> Option<Self> {
        let size = class_size(class);
        let total = size + HEADER;
        let base = heap::allocate(total, if zeroed { total } else { 0 })?;
        let block = Self(base.cast());
        // SAFETY: a fresh allocation of at least a page, owned here; the header fits in it.
        unsafe {
            block.0.write(Header {
                next: ptr::null_mut(),
                heap,
                size,
                class,
                kept_at: 0,
            })
        };
        Some(block)
    }

    /// Gives the block back to the global allocator; with `to_os`, its pages to the OS first
    /// (what was kept, and is given back because nothing needs it).
    ///
    /// # Safety
    /// The caller owns the block, and nothing uses it afterwards.
    unsafe fn release(self, to_os: bool) {
        // SAFETY: the caller owns the block.
        let size = unsafe { self.header() }.size;
        #[cfg(jdb_alloc_asan)]
        asan::unpoison(self.payload(), size);
        let base = self.0.cast();
        // SAFETY: the block is an allocation of `HEADER + size` bytes from `heap::allocate`,
        // given up by the caller.
        unsafe {
            if to_os {
                heap::release_to_os(base, size + HEADER)
            } else {
                heap::release(base, size + HEADER)
            }
        }
    }
}

/// AddressSanitizer's manual poisoning (`--cfg jdb_alloc_asan`): a kept block is poisoned whole
/// (its links are in the header page, which no buffer reaches), a live one past its capacity.
#[cfg(jdb_alloc_asan)]
mod asan {
    use std::{ffi::c_void, ptr::NonNull};

    unsafe extern "C" {
        fn __asan_poison_memory_region(addr: *const c_void, size: usize);
        fn __asan_unpoison_memory_region(addr: *const c_void, size: usize);
    }

    pub(super) fn poison(at: NonNull<u8>, size: usize) {
        // SAFETY: poisoning only changes ASan's shadow memory; the range is mapped, ours.
        unsafe { __asan_poison_memory_region(at.as_ptr().cast(), size) };
    }

    pub(super) fn unpoison(at: NonNull<u8>, size: usize) {
        // SAFETY: as in `poison`.
        unsafe { __asan_unpoison_memory_region(at.as_ptr().cast(), size) };
    }
}

// ============================================================================
// Heaps
// ============================================================================

/// One thread's kept large blocks (see the module docs).
pub(crate) struct Heap {
    /// Taken by whoever reads or writes `state`: the owner for each operation, other threads
    /// (which only try) to give back what expired, `trim_all` and thread exit.
    busy: AtomicBool,
    state: UnsafeCell<State>,
    /// Blocks of this heap freed on other threads: a stack pushed with compare-and-swap and
    /// taken whole with a swap, so no pop ever reads a link another thread may be changing.
    inbox: AtomicPtr<Header>,
    /// Whether a live thread owns the heap.
    claimed: AtomicBool,
    /// Bytes of this heap's blocks handed out and not yet freed (by any thread).
    live: AtomicUsize,
    /// The next heap on [`HEAPS`]; set once, before the heap is published.
    next: *const Heap,
}

// SAFETY: `state` is reached only while `busy` is held (Acquire on taking it, Release on
// letting it go, so each holder sees the last one's writes); every other field is atomic or,
// for `next`, written once before the heap is published and only read after.
unsafe impl Sync for Heap {}

/// What a heap keeps; only touched with [`Heap::busy`] held.
struct State {
    /// Kept blocks per class (from [`FIRST`]), newest first, so `kept_at` falls along a list.
    lists: [*mut Header; COUNT],
    /// Bytes kept (blocks, not their header pages).
    kept: usize,
    /// The most bytes live at once: in the current half of the decay period and the one before.
    peak: [usize; 2],
    /// When the current half began.
    half_start: u64,
    /// When the heap last gave back its expired blocks.
    last_purge: u64,
    hits: u64,
    misses: u64,
    /// Blocks that came back from other threads.
    remote_frees: u64,
    /// Bytes given back to the OS because they expired or the working set shrank.
    purged: u64,
}

impl State {
    /// Nothing kept, nothing counted.
    fn new(now: u64) -> Self {
        Self {
            lists: [ptr::null_mut(); COUNT],
            kept: 0,
            peak: [0; 2],
            half_start: now,
            last_purge: now,
            hits: 0,
            misses: 0,
            remote_frees: 0,
            purged: 0,
        }
    }
}

/// The process's heaps, newest first; heaps are pushed, never removed.
static HEAPS: AtomicPtr<Heap> = AtomicPtr::new(ptr::null_mut());

/// When a thread last looked at the other heaps.
static LAST_SCAN: AtomicU64 = AtomicU64::new(0);

/// A heap with its `busy` flag held.
struct Locked(&'static Heap);

impl Deref for Locked {
    type Target = State;
    fn deref(&self) -> &State {
        // SAFETY: `busy` is held by this guard, so nobody else reaches `state`.
        unsafe { &*self.0.state.get() }
    }
}

impl DerefMut for Locked {
    fn deref_mut(&mut self) -> &mut State {
        // SAFETY: as in `deref`.
        unsafe { &mut *self.0.state.get() }
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        self.0.busy.store(false, Release);
    }
}

impl Heap {
    /// Takes `busy`, waiting for a thread that is looking at this heap.
    fn lock(&'static self) -> Locked {
        let mut spins = 0u32;
        while self.busy.swap(true, Acquire) {
            while self.busy.load(Relaxed) {
                spins += 1;
                if spins < 64 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
        Locked(self)
    }

    /// Takes `busy` if nobody holds it.
    fn try_lock(&'static self) -> Option<Locked> {
        self.busy
            .compare_exchange(false, true, Acquire, Relaxed)
            .ok()
            .map(|_| Locked(self))
    }

    /// A heap for the calling thread: one whose thread has exited, else a new one.
    fn claim() -> &'static Heap {
        for heap in heaps() {
            if heap
                .claimed
                .compare_exchange(false, true, Acquire, Relaxed)
                .is_ok()
            {
                // The figures are the new thread's, from its first block.
                let mut state = heap.lock();
                state.empty();
                let (now, live) = (now_ms(), heap.live.load(Relaxed));
                *state = State::new(now);
                state.peak[0] = live;
                return heap;
            }
        }
        let mut head = HEAPS.load(Acquire);
        let heap: &'static mut Heap = Box::leak(Box::new(Heap {
            busy: AtomicBool::new(false),
            state: UnsafeCell::new(State::new(now_ms())),
            inbox: AtomicPtr::new(ptr::null_mut()),
            claimed: AtomicBool::new(true),
            live: AtomicUsize::new(0),
            next: head,
        }));
        while let Err(now) = HEAPS.compare_exchange(head, ptr::from_mut(heap), AcqRel, Acquire) {
            head = now;
            heap.next = head;
        }
        heap
    }

    /// Pushes `block`, freed on a thread that does not own this heap, on the inbox.
    ///
    /// # Safety
    /// The caller owns `block`, a block of this heap, and gives it up.
    unsafe fn push_inbox(&self, block: Block) {
        let mut head = self.inbox.load(Relaxed);
        loop {
            // SAFETY: the caller owns the block until the exchange below publishes it.
            unsafe { block.header() }.next = head;
            match self
                .inbox
                .compare_exchange_weak(head, block.0.as_ptr(), Release, Relaxed)
            {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }
}

/// Every heap, newest first.
fn heaps() -> impl Iterator<Item = &'static Heap> {
    let mut at = HEAPS.load(Acquire).cast_const();
    std::iter::from_fn(move || {
        // SAFETY: heaps on the list are leaked boxes, never freed, and `next` was set before
        // the heap was published with the Release exchange the Acquire load above pairs with.
        let heap = unsafe { at.as_ref() }?;
        at = heap.next;
        Some(heap)
    })
}

impl Locked {
    /// The most this heap may keep now: its working set estimate, within `limit`.
    fn bound(&self, limit: usize) -> usize {
        if !self.0.claimed.load(Relaxed) {
            return 0;
        }
        self.peak[0]
            .max(self.peak[1])
            .saturating_mul(KEEP)
            .min(limit)
    }

    /// Notes the bytes live now in the working set estimate, moving to a new half of the decay
    /// period when it is due.
    fn note_live(&mut self, now: u64, decay: u64) {
        let live = self.0.live.load(Relaxed);
        let since = now.saturating_sub(self.half_start);
        if since >= decay / 2 {
            // After a whole period unseen, the old peak is out of the window too.
            self.peak = [live, if since >= decay { 0 } else { self.peak[0] }];
            self.half_start = now;
        }
        self.peak[0] = self.peak[0].max(live);
    }

    /// Keeps `block` (owned by the caller, a block of this heap), and gives back the oldest
    /// kept blocks if that puts the heap over its bound: the block freed last is the likeliest
    /// to be asked for next.
    ///
    /// # Safety
    /// The caller owns `block` and gives it up; `freed_at` is when it was freed.
    unsafe fn keep(&mut self, block: Block, freed_at: u64, limit: usize) {
        // SAFETY: the caller owns the block.
        let header = unsafe { block.header() };
        let bound = self.bound(limit);
        if header.size > bound {
            // SAFETY: the caller gives the block up.
            return unsafe { block.release(false) };
        }
        let list = &mut self.lists[header.class - FIRST];
        // Lists stay newest first: a block freed elsewhere a while ago counts as kept no
        // earlier than the list's newest.
        // SAFETY: a non-null head is a kept block of this heap, whose `busy` flag is held.
        let newest = unsafe { list.as_ref() }.map_or(0, |head| head.kept_at);
        header.next = *list;
        header.kept_at = freed_at.max(newest);
        *list = block.0.as_ptr();
        self.kept += header.size;
        #[cfg(jdb_alloc_asan)]
        asan::poison(block.payload(), header.size);
        while self.kept > bound && self.release_oldest() {}
    }

    /// Unmaps the kept block that has been kept longest (the oldest of the lists' last blocks);
    /// `false` if nothing is kept.
    fn release_oldest(&mut self) -> bool {
        let mut oldest: Option<(u64, *mut *mut Header)> = None;
        for list in &mut self.lists {
            let mut link: *mut *mut Header = list;
            // SAFETY: `link` points at a list head or at the `next` field of a kept block, all
            // owned by this heap while `busy` is held.
            while let Some(block) = NonNull::new(unsafe { *link }).map(Block) {
                // SAFETY: as above.
                let header = unsafe { block.header() };
                if header.next.is_null() {
                    if oldest.is_none_or(|(at, _)| header.kept_at < at) {
                        oldest = Some((header.kept_at, link));
                    }
                    break;
                }
                link = &mut header.next;
            }
        }
        let Some((_, link)) = oldest else {
            return false;
        };
        // SAFETY: as above: `link` holds the last block of its list, unlinked here.
        let last = unsafe { link.replace(ptr::null_mut()) };
        if let Some(block) = NonNull::new(last).map(Block) {
            self.release_owned(block);
        }
        true
    }

    /// Takes a kept block of `class`, or of up to [`UP`] classes above it.
    fn take(&mut self, class: usize) -> Option<Block> {
        let top = (class + UP).min(CLASSES - 1);
        for c in class..=top {
            let list = &mut self.lists[c - FIRST];
            if let Some(block) = NonNull::new(*list).map(Block) {
                // SAFETY: blocks on the lists are mapped and owned by the heap, whose `busy`
                // flag this guard holds.
                let header = unsafe { block.header() };
                *list = header.next;
                self.kept -= header.size;
                #[cfg(jdb_alloc_asan)]
                asan::unpoison(block.payload(), header.size);
                return Some(block);
            }
        }
        None
    }

    /// Takes in what other threads freed, and gives back what expired or what the working set no
    /// longer covers.
    fn settle(&mut self, now: u64, decay: u64, limit: usize) {
        self.note_live(now, decay);
        let inbox = self.0.inbox.swap(ptr::null_mut(), Acquire);
        let mut at = inbox;
        while let Some(block) = NonNull::new(at).map(Block) {
            // SAFETY: the swap took the whole inbox, so its blocks are this heap's alone now;
            // each pusher wrote its link before the Release exchange that published it.
            at = unsafe { block.header() }.next;
            self.remote_frees += 1;
            // SAFETY: as above; the pusher wrote when it freed the block.
            let freed_at = unsafe { block.header() }.kept_at.min(now);
            // SAFETY: the block is owned here and given up to the lists (or released).
            unsafe { self.keep(block, freed_at, limit) };
        }
        let bound = self.bound(limit);
        if self.kept > bound || now.saturating_sub(self.last_purge) >= interval(decay) {
            self.last_purge = now;
            self.purge(cutoff(now, decay), bound);
        }
    }

    /// Unmaps blocks kept at or before `cutoff`, then the oldest of the rest until at most
    /// `bound` bytes are kept.
    fn purge(&mut self, cutoff: Option<u64>, bound: usize) {
        for c in (0..COUNT).filter(|_| cutoff.is_some()) {
            // Lists are newest first: cut each after its last block kept at or after `cutoff`.
            let mut link: *mut *mut Header = &mut self.lists[c];
            // SAFETY: `link` points at a list head or at the `next` field of a kept block, all
            // owned by this heap while `busy` is held.
            while let Some(block) = NonNull::new(unsafe { *link }).map(Block) {
                // SAFETY: as above.
                let header = unsafe { block.header() };
                if Some(header.kept_at) <= cutoff {
                    break;
                }
                link = &mut header.next;
            }
            // SAFETY: as above; the cut-off tail is unlinked here and released below.
            let tail = unsafe { link.replace(ptr::null_mut()) };
            self.release_list(tail);
        }
        while self.kept > bound && self.release_oldest() {}
    }

    /// Unmaps a list of blocks unlinked from this heap's lists.
    fn release_list(&mut self, mut at: *mut Header) {
        while let Some(block) = NonNull::new(at).map(Block) {
            // SAFETY: the list was unlinked from this heap's lists: its blocks are owned here.
            at = unsafe { block.header() }.next;
            self.release_owned(block);
        }
    }

    /// Unmaps a block just unlinked from this heap's lists, counting it as purged.
    fn release_owned(&mut self, block: Block) {
        // SAFETY: the caller unlinked the block: owned here, used by nobody.
        let size = unsafe { block.header() }.size;
        self.kept -= size;
        self.purged += size as u64;
        // SAFETY: as above.
        unsafe { block.release(true) };
    }

    /// Unmaps everything kept and in the inbox.
    fn empty(&mut self) {
        let inbox = self.0.inbox.swap(ptr::null_mut(), Acquire);
        let mut at = inbox;
        while let Some(block) = NonNull::new(at).map(Block) {
            // SAFETY: as in `settle`: the inbox's blocks are ours now.
            at = unsafe { block.header() }.next;
            self.remote_frees += 1;
            // SAFETY: owned here, given up.
            unsafe { block.release(true) };
        }
        for c in 0..COUNT {
            let list = std::mem::replace(&mut self.lists[c], ptr::null_mut());
            self.release_list(list);
        }
    }
}

// ============================================================================
// The calling thread's heap
// ============================================================================

/// The calling thread's heap, claimed at its first large block and given up when it exits.
struct Owner(Cell<*const Heap>);

impl Drop for Owner {
    fn drop(&mut self) {
        // SAFETY: a heap pointer here is a leaked heap, never freed.
        if let Some(heap) = unsafe { self.0.get().as_ref() } {
            let mut state = heap.lock();
            heap.claimed.store(false, Release);
            state.empty();
        }
    }
}

thread_local! {
    static OWNER: Owner = const { Owner(Cell::new(ptr::null())) };
}

/// The calling thread's heap, claimed now if it has none; `None` while the thread exits.
#[inline]
fn mine() -> Option<&'static Heap> {
    OWNER
        .try_with(|owner| {
            // SAFETY: as in `Owner::drop`.
            match unsafe { owner.0.get().as_ref() } {
                Some(heap) => heap,
                None => {
                    let heap = Heap::claim();
                    owner.0.set(heap);
                    heap
                }
            }
        })
        .ok()
}

/// The calling thread's heap if it has one (`None` too while the thread exits).
#[inline]
fn mine_if_any() -> Option<&'static Heap> {
    // SAFETY: as in `Owner::drop`.
    OWNER
        .try_with(|owner| unsafe { owner.0.get().as_ref() })
        .ok()
        .flatten()
}

// ============================================================================
// Allocation and release
// ============================================================================

/// A block for a buffer of capacity `cap` in `class` (one of this module's), its first `cap`
/// bytes zero if `zeroed`: a kept one if `limit` (the bytes this thread may keep) is not zero
/// and one fits, else a fresh mapping.
pub(crate) fn allocate(
    cap: usize,
    class: Class,
    zeroed: bool,
    limit: usize,
) -> Result<NonNull<u8>> {
    debug_assert!(holds(class) && cap <= class.size());
    if limit == 0 {
        return Block::new(class.0, ptr::null(), zeroed)
            .map(Block::payload)
            .ok_or(Error::AllocFailed { size: cap });
    }
    let heap = mine();
    let mut found = None;
    if let Some(heap) = heap {
        let (now, decay) = (now_ms(), decay_ms());
        let mut state = heap.lock();
        state.settle(now, decay, limit);
        found = state.take(class.0);
        match found {
            Some(_) => state.hits += 1,
            None => state.misses += 1,
        }
        let size = match found {
            // SAFETY: the block was just taken off the heap's lists: owned here.
            Some(block) => unsafe { block.header() }.size,
            None => class.size(),
        };
        heap.live.fetch_add(size, Relaxed);
        state.note_live(now, decay);
        drop(state);
        visit(Some(heap), now, decay, limit);
    }
    let block = match found {
        Some(block) => {
            let at = block.payload();
            if zeroed {
                // SAFETY: a kept block of at least `class.size() >= cap` bytes, owned here.
                unsafe { at.as_ptr().write_bytes(0, cap) };
            }
            block
        }
        None => match Block::new(class.0, heap.map_or(ptr::null(), ptr::from_ref), zeroed) {
            Some(block) => block,
            None => {
                if let Some(heap) = heap {
                    heap.live.fetch_sub(class.size(), Relaxed);
                }
                return Err(Error::AllocFailed { size: cap });
            }
        },
    };
    #[cfg(jdb_alloc_asan)]
    {
        // SAFETY: owned here.
        let size = unsafe { block.header() }.size;
        asan::poison(unsafe { block.payload().add(cap) }, size - cap);
    }
    Ok(block.payload())
}

/// Gives back the block at `ptr`: to its heap's lists if this thread owns the heap and it has
/// room, to the heap's inbox if another thread owns it, else to the global allocator.
///
/// # Safety
/// `ptr` must have been returned by [`allocate`] and not released since; the caller gives it up.
pub(crate) unsafe fn release(ptr: NonNull<u8>, limit: usize) {
    // SAFETY: the caller's promise: a live block of ours, now owned here.
    let block = unsafe { Block::from_payload(ptr) };
    // SAFETY: as above.
    let header = unsafe { block.header() };
    #[cfg(jdb_alloc_asan)]
    asan::unpoison(ptr, header.size);
    // SAFETY: a heap pointer in a header is a leaked heap, never freed.
    let Some(heap) = (unsafe { header.heap.as_ref() }) else {
        // SAFETY: owned here, given up.
        return unsafe { block.release(false) };
    };
    heap.live.fetch_sub(header.size, Relaxed);
    if mine_if_any().is_some_and(|me| ptr::eq(me, heap)) {
        let (now, decay) = (now_ms(), decay_ms());
        let mut state = heap.lock();
        // SAFETY: owned here, given up.
        unsafe { state.keep(block, now, limit) };
        state.settle(now, decay, limit);
    } else if limit != 0 && heap.claimed.load(Acquire) {
        // The decay period counts from now, not from when the owner takes the block in.
        header.kept_at = now_ms();
        // SAFETY: owned here, given up to the heap, which its owner drains.
        unsafe { heap.push_inbox(block) };
    } else {
        // SAFETY: owned here, given up.
        unsafe { block.release(false) };
    }
}

/// Looks at the heaps other than `me`, at most every [`interval`] for the whole process: gives
/// back what they kept too long.
fn visit(me: Option<&'static Heap>, now: u64, decay: u64, limit: usize) {
    let last = LAST_SCAN.load(Relaxed);
    if now.saturating_sub(last) < interval(decay)
        || LAST_SCAN
            .compare_exchange(last, now, Relaxed, Relaxed)
            .is_err()
    {
        return;
    }
    for heap in heaps().filter(|h| !me.is_some_and(|me| ptr::eq(*h, me))) {
        if let Some(mut state) = heap.try_lock() {
            state.settle(now, decay, limit);
        }
    }
}

/// The calling thread's periodic check while it allocates only small blocks: its own heap and
/// the others give back what expired.
#[cold]
pub(crate) fn tick(limit: usize) {
    let (now, decay) = (now_ms(), decay_ms());
    let me = mine_if_any();
    if let Some(me) = me {
        me.lock().settle(now, decay, limit);
    }
    visit(me, now, decay, limit);
}

/// Unmaps every block every heap keeps, waiting for each heap's owner to finish its operation.
pub(crate) fn trim_all() {
    for heap in heaps() {
        heap.lock().empty();
    }
}

/// Brings every heap within `limit` (called when the limits are lowered).
pub(crate) fn shrink_all(limit: usize) {
    let (now, decay) = (now_ms(), decay_ms());
    for heap in heaps() {
        let mut state = heap.lock();
        let bound = state.bound(limit);
        state.purge(cutoff(now, decay), bound);
    }
}

/// What the calling thread's heap did and keeps.
#[derive(Clone, Copy, Default)]
pub(crate) struct HeapStats {
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) kept: usize,
    pub(crate) live: usize,
    pub(crate) working_set: usize,
    pub(crate) remote_frees: u64,
    pub(crate) purged: u64,
}

/// The calling thread's heap's figures (zero if it has none).
pub(crate) fn stats() -> HeapStats {
    let Some(heap) = mine_if_any() else {
        return HeapStats::default();
    };
    let state = heap.lock();
    HeapStats {
        hits: state.hits,
        misses: state.misses,
        kept: state.kept,
        live: heap.live.load(Relaxed),
        working_set: state.peak[0].max(state.peak[1]),
        remote_frees: state.remote_frees,
        purged: state.purged,
    }
}
