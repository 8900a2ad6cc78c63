//! A pool of registered frames for one runtime: tiers of fixed frames that come back when
//! dropped, and an acquire that waits, first come first served, while a tier is empty.
//!
//! # How it holds together
//!
//! Each tier is one arena registered with the runtime's ring: one [`Registration`], whose
//! `home` keeps the tier's free frames, its queue of waiters and its counters. A [`FixedFrame`]
//! of the tier holds that registration; dropping it hands its [`Frame`] to the first waiter, or
//! back to the free list. Free frames hold the arena only, not the registration, so nothing
//! holds itself: the registration (and with it the slots, the free frames and the arena) goes
//! when the pool's last handle and its last frame out are gone, on whatever thread.
//!
//! # Invariants
//!
//! 1. `free` is non-empty only while `waiters` is empty: a frame given back goes to the first
//!    waiter when there is one, and an acquire queues only when `free` is empty. So waiters are
//!    served in order, and `try_acquire` never takes a frame a waiter is owed.
//! 2. Only the one who pops a waiter from `waiters` hands it a frame, under the tier's lock. A
//!    waiter that leaves the queue under that lock (a dropped [`Acquire`]) is handed nothing
//!    afterwards, and passes on the frame it was handed before, if any.
//! 3. Lock order: a tier's `state`, then a waiter's `slot`.

use std::{
    collections::VecDeque,
    fmt,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard, OnceLock, PoisonError,
        atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed},
    },
    task::{Context, Poll, Waker},
};

use super::{FixedFrame, FixedFrames, FixedStatus, Registration, Ring};
use crate::{
    ALIGNMENT, AlignedBuf, Error, Frame, HUGE_PAGE_SIZE, HugePages, MAP_THRESHOLD, Result,
};

/// A tier's free frames, waiters and counters, kept in the tier's [`Registration`] so that
/// its frames find them when dropped.
pub(super) struct Home {
    state: Mutex<State>,
    /// The tier's frame length: what a frame lent with a lower capacity gets back.
    frame_len: usize,
    fixed_ops: AtomicU64,
    plain_ops: AtomicU64,
    /// Bytes counted for the tier's memory elsewhere, given back when the registration (the
    /// pool's last handle and last frame) drops.
    charge: OnceLock<Charge>,
}

/// `bytes` counted in `counter`, given back when dropped.
pub(crate) struct Charge {
    pub(crate) counter: &'static AtomicUsize,
    pub(crate) bytes: usize,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.counter.fetch_sub(self.bytes, Relaxed);
    }
}

struct State {
    /// Capacity for every frame of the tier, reserved up front: a push never allocates.
    free: Vec<Frame>,
    waiters: VecDeque<Arc<Waiter>>,
    waits: u64,
}

/// One [`Acquire`] waiting: where the frame is handed to it, and how to wake it.
struct Waiter {
    slot: Mutex<Slot>,
}

struct Slot {
    frame: Option<Frame>,
    waker: Option<Waker>,
}

/// Locks `mutex`. Nothing here panics with a lock held, and no foreign code (a waker's `clone`,
/// `wake` or drop, which may drop a pool frame and so re-enter) runs under one: a poisoned lock
/// is taken as it is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Home {
    fn new(frame_len: usize, frames: usize) -> Self {
        Self {
            frame_len,
            state: Mutex::new(State {
                free: Vec::with_capacity(frames),
                waiters: VecDeque::new(),
                waits: 0,
            }),
            fixed_ops: AtomicU64::new(0),
            plain_ops: AtomicU64::new(0),
            charge: OnceLock::new(),
        }
    }

    /// Takes `frame` back (emptied): to the first waiter, whom it wakes, or to the free list.
    /// Any thread, also inside a thread-local destructor: it touches no thread-local.
    pub(super) fn put_back(&self, mut frame: Frame) {
        frame.clear();
        // SAFETY: every frame of the tier was cut from its arena with `frame_len` bytes
        // (`FixedPool::with_huge_pages`); `try_acquire_span` may only have lowered that.
        unsafe { frame.restore_cap(self.frame_len) };
        let mut state = lock(&self.state);
        let Some(waiter) = state.waiters.pop_front() else {
            state.free.push(frame);
            return;
        };
        let waker = {
            let mut slot = lock(&waiter.slot);
            slot.frame = Some(frame);
            slot.waker.take()
        };
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Counts one read or write submitted with a frame of the tier: fixed or plain.
    pub(super) fn count_op(&self, fixed: bool) {
        let counter = if fixed {
            &self.fixed_ops
        } else {
            &self.plain_ops
        };
        counter.fetch_add(1, Relaxed);
    }
}

// ============================================================================
// FixedPool
// ============================================================================

/// A pool of fixed frames registered with one runtime's ring, in tiers of frame lengths:
/// frames come back to it when dropped, on any thread, and [`acquire`](Self::acquire) waits
/// for one while its tier is empty.
///
/// - Made on the runtime's thread with [`new`](Self::new)`(&[(frame_len, count), ...])`: each
///   tier is an arena of `frame_len * count` bytes from this crate's allocator, registered with
///   the current compio 0.17, 0.19 or 0.20 runtime's ring (one registration per tier, in this crate's
///   sparse table). A cheap handle: clones share the pool.
/// - [`try_acquire(len)`](Self::try_acquire) gives an empty frame of the smallest tier whose
///   frames hold `len` bytes, or `None` when that tier is empty (or no tier holds `len`);
///   [`acquire(len)`](Self::acquire) waits for one, first come first served. A tier never
///   lends to another: a frame is always of the tier `len` picks.
/// - A frame is a [`FixedFrame`]: [`read_fixed_at`](super::compio19::read_fixed_at) /
///   [`write_fixed_at`](super::compio19::write_fixed_at) use `READ_FIXED` / `WRITE_FIXED` on
///   the pool's runtime and plain I/O elsewhere, and compio's `read_at` / `write_at` take it.
/// - Registration refused (`RLIMIT_MEMLOCK`, the table taken, no runtime) is not an error: the
///   frames then do plain I/O, and [`status`](Self::status) says why.
/// - [`stats`](Self::stats): frames in use, waits, and the fixed and plain operations done with
///   the pool's frames, so that one can see whether the fast path is taken.
///
/// The memory goes when the last handle and the last frame are gone, whichever is last and on
/// whatever thread, also after the runtime is gone (see the [module docs](super) for when a
/// registration ends).
///
/// A frame that this crate keeps because the kernel may still write it (a fixed operation left
/// unfinished when its runtime was dropped without [`settle`](super::compio19::settle), or while
/// a panic unwound) never comes back: it stays counted in use, and a tier whose frames are all
/// kept makes `acquire` wait for ever. compio's own `read_at` / `write_at` give no such
/// protection: compio 0.19 and 0.20 drop a buffer whose operation is still in flight when the
/// runtime drops, and a pool frame dropped so goes back to the pool at once, to a new user,
/// while the kernel may still write it. With pool frames, use `read_fixed_at` /
/// `write_fixed_at` (or [`DirectFile`](crate::direct::DirectFile)), or settle the runtime
/// before dropping it.
///
/// ```
/// # #[cfg(feature = "compio-19")]
/// # fn main() {
/// use compio_19 as compio; // in your crate: plain `compio` 0.19
/// use compio::{fs::OpenOptions, runtime::Runtime};
/// use jdb_alloc::fixed::compio19::{self, FixedPool};
///
/// Runtime::new().unwrap().block_on(async {
///     let path = std::env::temp_dir().join(format!("jdb_alloc_doc_pool_{}", std::process::id()));
///     let file = OpenOptions::new().read(true).write(true).create(true).open(&path).await.unwrap();
///     // 64 frames of 4 KiB and 8 of 256 KiB, registered with this runtime's ring.
///     let pool = FixedPool::new(&[(4096, 64), (256 << 10, 8)]).unwrap();
///     println!("{:?}", pool.status()); // `Registered`, or why not (then plain I/O)
///
///     let mut frame = pool.acquire(100_000).await.unwrap(); // a 256 KiB frame, empty
///     assert_eq!((frame.len(), frame.cap()), (0, 256 << 10));
///     frame.extend(&[7; 256 << 10]).unwrap();
///     let compio::BufResult(n, frame) = compio19::write_fixed_at(&file, frame, 0).await;
///     assert_eq!(n.unwrap(), 256 << 10);
///     drop(frame); // back to the pool
///
///     let frame = pool.try_acquire(4096).unwrap();
///     let compio::BufResult(n, frame) = compio19::read_fixed_at(&file, frame, 0).await;
///     assert_eq!((n.unwrap(), frame[0]), (4096, 7));
///     assert!(pool.acquire(1 << 20).await.is_err()); // no tier holds 1 MiB: never waits
///
///     let stats = pool.stats();
///     assert_eq!(stats.fixed_ops + stats.plain_ops, 2);
///     assert_eq!((stats.tiers[0].in_use, stats.tiers[1].in_use), (1, 0));
///     # drop(file);
///     # std::fs::remove_file(&path).unwrap();
/// });
/// # }
/// # #[cfg(not(feature = "compio-19"))]
/// # fn main() {}
/// ```
#[derive(Clone)]
pub struct FixedPool {
    inner: Arc<Inner>,
}

struct Inner {
    /// By frame length, ascending.
    tiers: Box<[Tier]>,
    misses: AtomicU64,
}

struct Tier {
    reg: Arc<Registration>,
    frame_len: usize,
    frames: usize,
}

impl Tier {
    fn home(&self) -> &Home {
        self.reg
            .home
            .as_ref()
            .expect("a pool tier's registration has a home")
    }

    fn wrap(&self, frame: Frame) -> FixedFrame {
        FixedFrame::new(Arc::clone(&self.reg), frame)
    }
}

/// The current runtime's ring, whichever compio version's runtime is current, or why none.
pub(super) fn current_ring() -> std::result::Result<Arc<Ring>, FixedStatus> {
    #[cfg(feature = "compio-20")]
    match super::compio20::current_ring() {
        Err(FixedStatus::NoRuntime) => {}
        found => return found,
    }
    #[cfg(feature = "compio-19")]
    match super::compio19::current_ring() {
        Err(FixedStatus::NoRuntime) => {}
        found => return found,
    }
    #[cfg(feature = "compio-17")]
    match super::compio17::current_ring() {
        Err(FixedStatus::NoRuntime) => {}
        found => return found,
    }
    Err(FixedStatus::NoRuntime)
}

impl FixedPool {
    /// A pool of one tier per `(frame_len, count)`: `count` frames of `frame_len` bytes,
    /// registered with the current compio runtime's ring (0.17, 0.19 or 0.20, whichever is current).
    ///
    /// Registration failing is not an error: the frames then do plain I/O, and
    /// [`status`](Self::status) says why ([`FixedStatus::NoRuntime`] outside a runtime).
    /// Registered memory is pinned and resident, and counts against `RLIMIT_MEMLOCK` (see the
    /// [module docs](super)).
    ///
    /// # Errors
    /// [`Error::InvalidTier`] for no tier, a `frame_len` that is not a non-zero multiple of
    /// [`ALIGNMENT`], a `count` of zero, or two tiers of one length;
    /// [`Error::TooLarge`] / [`Error::AllocFailed`] when an arena cannot be had.
    ///
    /// ```
    /// use jdb_alloc::{Error, fixed::{FixedPool, FixedStatus}};
    ///
    /// let pool = FixedPool::new(&[(64 << 10, 4), (4096, 16)]).unwrap();
    /// assert_eq!(pool.status(), FixedStatus::NoRuntime); // outside a runtime: plain I/O
    /// assert_eq!(pool.try_acquire(5000).unwrap().cap(), 64 << 10);
    /// assert!(matches!(FixedPool::new(&[(1000, 4)]), Err(Error::InvalidTier { .. })));
    /// ```
    pub fn new(tiers: &[(usize, usize)]) -> Result<Self> {
        Self::with_huge_pages(tiers, HugePages::Off)
    }

    /// As [`new`](Self::new), with huge pages asked for ([`HugePages`]) for every tier whose
    /// arena (`frame_len * count`) is a whole number of [`HUGE_PAGE_SIZE`] and at least
    /// [`MAP_THRESHOLD`] (32 MiB); smaller tiers would pin more memory than they use, and get
    /// ordinary pages.
    ///
    /// # Errors
    /// As [`new`](Self::new); [`Error::HugePagesUnavailable`] with [`HugePages::On`] when the
    /// kernel will not give huge pages to a tier that asks.
    pub fn with_huge_pages(tiers: &[(usize, usize)], huge: HugePages) -> Result<Self> {
        let mut sorted = tiers.to_vec();
        sorted.sort_unstable();
        check_tiers(&sorted)?;
        let ring = current_ring();
        let tiers = sorted
            .into_iter()
            .map(|(frame_len, frames)| {
                let arena = arena(frame_len.saturating_mul(frames), huge)?;
                let home = Some(Home::new(frame_len, frames));
                let FixedFrames { reg, frames: all } =
                    super::register(arena, frame_len, ring.clone(), home)?;
                debug_assert_eq!(all.len(), frames);
                let tier = Tier {
                    reg,
                    frame_len,
                    frames,
                };
                lock(&tier.home().state).free.extend(all.map(|mut frame| {
                    frame.clear();
                    frame
                }));
                Ok(tier)
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            inner: Arc::new(Inner {
                tiers,
                misses: AtomicU64::new(0),
            }),
        })
    }

    /// The smallest tier whose frames hold `len` bytes.
    fn tier_for(&self, len: usize) -> Option<usize> {
        self.inner.tiers.iter().position(|t| t.frame_len >= len)
    }

    /// An empty frame of the smallest tier whose frames hold `len` bytes, if that tier has one
    /// free; `None` when it has not, or when no tier holds `len` (both counted as
    /// [`misses`](PoolStats::misses)). It never waits: code that then falls back to plain
    /// memory does not block.
    ///
    /// ```
    /// use jdb_alloc::fixed::FixedPool;
    ///
    /// let pool = FixedPool::new(&[(4096, 1)]).unwrap();
    /// let frame = pool.try_acquire(10).unwrap();
    /// assert!(pool.try_acquire(10).is_none()); // the tier is empty
    /// drop(frame); // back in the pool
    /// assert!(pool.try_acquire(4096).is_some());
    /// assert!(pool.try_acquire(4097).is_none()); // no tier holds it
    /// assert_eq!(pool.stats().misses, 2);
    /// ```
    pub fn try_acquire(&self, len: usize) -> Option<FixedFrame> {
        self.try_acquire_span(len, usize::MAX)
    }

    /// [`try_acquire`](Self::try_acquire), with the frame's capacity lowered to `cap` (a
    /// multiple of [`ALIGNMENT`], at least `len`) while it is out, so that a read into it asks
    /// for no more than that. It has its whole capacity again once back.
    pub(crate) fn try_acquire_span(&self, len: usize, cap: usize) -> Option<FixedFrame> {
        self.try_acquire_up(len, cap, 0)
    }

    /// [`try_acquire_span`](Self::try_acquire_span), and when the smallest tier that holds
    /// `len` is empty, the next tier up: for files, whose reads and buffers would otherwise
    /// fall back to plain memory while a larger frame sits free. (One tier, not every one: a
    /// small read must not hold the largest frames while the reads that need them miss.)
    pub(crate) fn try_acquire_near(&self, len: usize, cap: usize) -> Option<FixedFrame> {
        self.try_acquire_up(len, cap, 1)
    }

    /// A frame of the smallest tier that holds `len` with one free, or of one of the `up`
    /// tiers above it; a miss counted if none.
    fn try_acquire_up(&self, len: usize, cap: usize, up: usize) -> Option<FixedFrame> {
        debug_assert!(cap >= len && cap % ALIGNMENT == 0 || cap == usize::MAX);
        let frame = self.tier_for(len).and_then(|first| {
            let last = (first + up).min(self.inner.tiers.len() - 1);
            self.inner.tiers[first..=last].iter().find_map(|tier| {
                let mut frame = lock(&tier.home().state).free.pop()?;
                frame.limit_cap(cap);
                Some(tier.wrap(frame))
            })
        });
        if frame.is_none() {
            self.inner.misses.fetch_add(1, Relaxed);
        }
        frame
    }

    /// An empty frame of the smallest tier whose frames hold `len` bytes: at once if the tier
    /// has one free, else when one comes back, after those who asked before (first come, first
    /// served). Frames come back when dropped, on any thread.
    ///
    /// The future resolves at its first poll to [`Error::NoTier`] when no tier holds `len`:
    /// it never waits for what cannot come. Dropping it while it waits gives up its place in
    /// the queue, and any frame already handed to it goes to the next in line.
    pub fn acquire(&self, len: usize) -> Acquire<'_> {
        Acquire {
            pool: self,
            len,
            waiter: None,
            done: false,
        }
    }

    /// Whether the pool's frames use their registration: [`FixedStatus::Registered`] when
    /// every tier is registered with a ring still open, else the first tier's reason why not.
    /// On another runtime than the pool's the frames do plain I/O whatever this says (ask a
    /// frame with the version module's `status`).
    pub fn status(&self) -> FixedStatus {
        self.inner
            .tiers
            .iter()
            .map(|t| t.reg.status())
            .find(|s| *s != FixedStatus::Registered)
            .unwrap_or(FixedStatus::Registered)
    }

    /// Counters: frames in use and waits per tier, reads and writes done with the pool's
    /// frames, acquisitions that found no frame. A snapshot; tiers are read one after another.
    pub fn stats(&self) -> PoolStats {
        let tiers: Vec<TierStats> = self
            .inner
            .tiers
            .iter()
            .map(|t| {
                let home = t.home();
                let (free, waits) = {
                    let state = lock(&home.state);
                    (state.free.len(), state.waits)
                };
                TierStats {
                    frame_len: t.frame_len,
                    frames: t.frames,
                    in_use: t.frames - free,
                    waits,
                    fixed_ops: home.fixed_ops.load(Relaxed),
                    plain_ops: home.plain_ops.load(Relaxed),
                    status: t.reg.status(),
                }
            })
            .collect();
        PoolStats {
            fixed_ops: tiers.iter().map(|t| t.fixed_ops).sum(),
            plain_ops: tiers.iter().map(|t| t.plain_ops).sum(),
            waits: tiers.iter().map(|t| t.waits).sum(),
            misses: self.inner.misses.load(Relaxed),
            tiers,
        }
    }

    /// Ties `charge` to the pool's memory: it drops when the last handle and the last frame
    /// of the first tier are gone, not when the handle that made it does (one charge: a
    /// second is given back at once).
    pub(crate) fn charge(&self, charge: Charge) {
        if let Some(tier) = self.inner.tiers.first() {
            let _ = tier.home().charge.set(charge);
        }
    }

    /// The frame length of the largest tier.
    pub(crate) fn largest_frame(&self) -> usize {
        self.inner.tiers.last().map_or(0, |t| t.frame_len)
    }

    fn no_tier(&self, len: usize) -> Error {
        let largest = self.largest_frame();
        Error::NoTier { len, largest }
    }
}

/// Tiers sorted by frame length: each valid, lengths distinct, at least one.
fn check_tiers(sorted: &[(usize, usize)]) -> Result<()> {
    let invalid = |&(frame_len, count): &(usize, usize), reason| Error::InvalidTier {
        frame_len,
        count,
        reason,
    };
    if sorted.is_empty() {
        return Err(invalid(&(0, 0), "a pool needs at least one tier"));
    }
    for (i, tier) in sorted.iter().enumerate() {
        if tier.0 == 0 || tier.0 % ALIGNMENT != 0 {
            return Err(invalid(
                tier,
                "the frame length must be a non-zero multiple of ALIGNMENT (4096)",
            ));
        }
        if tier.1 == 0 {
            return Err(invalid(tier, "a tier needs at least one frame"));
        }
        if i > 0 && sorted[i - 1].0 == tier.0 {
            return Err(invalid(tier, "another tier has the same frame length"));
        }
    }
    Ok(())
}

/// A tier's arena of `size` bytes: huge pages when asked and the arena is made of whole huge
/// pages, large enough to be a mapping of its own (so its capacity is exactly `size`).
fn arena(size: usize, huge: HugePages) -> Result<AlignedBuf> {
    if huge != HugePages::Off && size >= MAP_THRESHOLD && size % HUGE_PAGE_SIZE == 0 {
        let (arena, _) = AlignedBuf::zeroed_huge(size, huge)?;
        debug_assert_eq!(arena.cap(), size);
        Ok(arena)
    } else {
        AlignedBuf::with_cap(size)
    }
}

impl fmt::Debug for FixedPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedPool")
            .field("status", &self.status())
            .field("stats", &self.stats())
            .finish()
    }
}

// ============================================================================
// Acquire
// ============================================================================

/// The future of [`FixedPool::acquire`]: an empty frame of the tier that holds the length asked
/// for, once one is free and those who asked before are served.
///
/// Dropping it gives up its place; a frame already handed to it goes to the next in line.
#[must_use = "a future does nothing unless awaited"]
pub struct Acquire<'a> {
    pool: &'a FixedPool,
    len: usize,
    /// In the tier's queue (or handed a frame), once it had to wait.
    waiter: Option<Arc<Waiter>>,
    done: bool,
}

impl Future for Acquire<'_> {
    type Output = Result<FixedFrame>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<FixedFrame>> {
        let this = self.get_mut();
        assert!(
            !this.done,
            "an Acquire future was polled after it completed"
        );
        let Some(i) = this.pool.tier_for(this.len) else {
            this.done = true;
            return Poll::Ready(Err(this.pool.no_tier(this.len)));
        };
        let tier = &this.pool.inner.tiers[i];
        let frame = match &this.waiter {
            None => {
                // Cloned before the lock: a waker is foreign code, which may drop a frame of
                // this tier and so take the lock itself.
                let waker = cx.waker().clone();
                let mut state = lock(&tier.home().state);
                match state.free.pop() {
                    Some(frame) => frame,
                    None => {
                        let waiter = Arc::new(Waiter {
                            slot: Mutex::new(Slot {
                                frame: None,
                                waker: Some(waker),
                            }),
                        });
                        state.waiters.push_back(Arc::clone(&waiter));
                        state.waits += 1;
                        this.waiter = Some(waiter);
                        return Poll::Pending;
                    }
                }
            }
            Some(waiter) => {
                let waker = cx.waker().clone();
                let mut slot = lock(&waiter.slot);
                match slot.frame.take() {
                    Some(frame) => frame,
                    None => {
                        let old = slot.waker.replace(waker);
                        // The old waker is dropped after the lock: its drop may drop a frame of
                        // this tier, whose return takes this waiter's slot (and may hand the
                        // frame to this very waiter).
                        drop(slot);
                        drop(old);
                        match lock(&waiter.slot).frame.take() {
                            Some(frame) => frame,
                            None => return Poll::Pending,
                        }
                    }
                }
            }
        };
        this.waiter = None;
        this.done = true;
        Poll::Ready(Ok(tier.wrap(frame)))
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Some(waiter) = self.waiter.take() else {
            return;
        };
        let Some(i) = self.pool.tier_for(self.len) else {
            return;
        };
        let home = self.pool.inner.tiers[i].home();
        // Invariant 2: once out of the queue, nobody hands this waiter a frame.
        lock(&home.state)
            .waiters
            .retain(|w| !Arc::ptr_eq(w, &waiter));
        let handed = lock(&waiter.slot).frame.take();
        if let Some(frame) = handed {
            home.put_back(frame);
        }
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("len", &self.len)
            .field("waiting", &self.waiter.is_some())
            .finish()
    }
}

// ============================================================================
// Counters
// ============================================================================

/// What [`FixedPool::stats`] reports: per tier, and summed over the tiers.
///
/// Reads and writes are counted when submitted through this crate's fixed operations
/// (`read_fixed_at` / `write_fixed_at` of [`compio17`](super::compio17),
/// [`compio19`](super::compio19) and [`compio20`](super::compio20), and the reads and writes
/// of a [`DirectFile`](crate::direct::DirectFile) given the pool): `fixed_ops` as `READ_FIXED` / `WRITE_FIXED`, `plain_ops`
/// as plain reads and writes (registration not in effect, or another runtime). compio's own
/// `read_at` / `write_at` with a pool's frame are plain and not counted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Per tier, by frame length, ascending.
    pub tiers: Vec<TierStats>,
    /// Reads and writes submitted as `READ_FIXED` / `WRITE_FIXED` with the pool's frames.
    pub fixed_ops: u64,
    /// Reads and writes submitted as plain ones with the pool's frames.
    pub plain_ops: u64,
    /// [`acquire`](FixedPool::acquire)s that had to wait for a frame.
    pub waits: u64,
    /// [`try_acquire`](FixedPool::try_acquire)s that found no frame (the tier empty, or no
    /// tier long enough): each a fallback to other memory for code that then uses some. A
    /// [`DirectFile`](crate::direct::DirectFile) given the pool counts one for each read,
    /// staging buffer or large record it did in a recycled plain buffer instead.
    pub misses: u64,
}

/// One tier's counters, in [`PoolStats::tiers`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TierStats {
    /// Bytes per frame.
    pub frame_len: usize,
    /// Frames in the tier.
    pub frames: usize,
    /// Frames out of the pool: held by their users or by operations in flight, or handed to a
    /// waiter that has not taken it yet.
    pub in_use: usize,
    /// [`acquire`](FixedPool::acquire)s that had to wait for a frame of this tier.
    pub waits: u64,
    /// Reads and writes submitted as `READ_FIXED` / `WRITE_FIXED` with this tier's frames.
    pub fixed_ops: u64,
    /// Reads and writes submitted as plain ones with this tier's frames.
    pub plain_ops: u64,
    /// Whether the tier's registration is in effect, and if not why.
    pub status: FixedStatus,
}
