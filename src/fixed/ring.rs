//! One compio runtime's io_uring instance as this crate sees it: its registered-buffer table,
//! which slots of it hold which arena, and whether the ring is still open.
//!
//! # How a ring is known to be open
//!
//! A [`Ring`] is made, on the runtime's thread, the first time a runtime registers an arena or
//! runs a fixed operation. It spawns a task on that runtime that never finishes and holds a
//! [`RingGuard`]. Both compio 0.17 and 0.19 drop every task when the runtime drops, before the
//! driver closes the ring, so the guard's `Drop` (on the ring's thread) marks the ring closed and
//! forgets it from the thread's registry while its file descriptor is still open. (compio 0.19
//! also drops every task when a panic escapes `block_on`, with the ring still open: the ring is
//! then taken for closed too early, which only makes this crate fall back to plain I/O.) From then on
//! nothing here calls `io_uring_register` on that descriptor, whose number the OS may hand to
//! the next runtime.
//!
//! A runtime dropped while a panic unwinds is the exception: the executor of compio 0.19 and
//! 0.20 then skips dropping its tasks (compio 0.17's drops them even then), so the guard never
//! drops and the ring still reads as open after compio closed it. (The guard holds only the
//! ring's id, so the leaked future keeps nothing; the process-wide list of rings lets go of
//! such a ring once it is seen closed.) The descriptor number is therefore never trusted alone:
//!
//! - A ring is looked up by its descriptor number *and* the address of its runtime's driver
//!   waker's data (compio's drivers make their wakers from an `Arc` of their own). The [`Ring`]
//!   keeps a clone of that waker until it is marked closed (its guard drops, or it is seen
//!   closed), so while it may be taken for open no other driver's waker has that address. A
//!   known ring found under the current runtime's descriptor number with another driver was
//!   closed: it is marked so.
//! - Slots given back on the ring's thread are cleared at once only if the descriptor still
//!   names the same open file (its device and inode number, distinct for each io_uring instance
//!   on Linux 6.x kernels; where all io_uring files share the anonymous inode, as on older
//!   kernels, this is detected and they are queued for the guard instead, cleared when the
//!   runtime next runs).
//!
//! The same task clears the slots that other threads give back: [`Ring::release`] queues them
//! and wakes it (compio wakers may be woken from any thread), and it runs on the ring's thread
//! as soon as the runtime does.
//!
//! # Invariants
//!
//! 1. `alive` is only ever set to `false`: on the ring's `thread` while `fd` is still the open
//!    ring, or once `fd` was seen to name another ring (by the driver on the ring's thread, or
//!    by the inode from any thread). It is `true` after the ring closed only if the runtime
//!    dropped while a panic unwound, until that is seen.
//! 2. Every system call on `fd` is made on the ring's `thread` after checking `alive` there, and
//!    that `fd` is this ring: by the current runtime's driver (the ring of a lookup, or the
//!    guard's task, which its own runtime polls), or by the inode of the file `fd` names. This
//!    also keeps io_uring's single-issuer rule (`IORING_SETUP_SINGLE_ISSUER`).
//! 3. A slot is `used` from its registration until it has been cleared in the kernel's table;
//!    slots given back from another thread wait in `stale` (still `used`) until then.

use std::{
    any::Any,
    cell::RefCell,
    ffi::c_void,
    future::Future,
    io,
    mem::size_of,
    os::fd::{BorrowedFd, RawFd},
    pin::Pin,
    ptr,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
    thread::{self, ThreadId},
};

use rustix::io_uring::{
    IoringRegisterOp, IoringRsrcFlags, io_uring_ptr, io_uring_register, io_uring_rsrc_register,
    io_uring_rsrc_update2,
};

use super::FixedStatus;

/// Slots of the sparse buffer table this crate creates on each ring it registers arenas with:
/// up to 1024 arenas of up to 1 GiB, or fewer larger ones (one slot per GiB). The kernel's
/// limit is 16384; an empty slot costs the kernel a few bytes and pins nothing.
///
/// ```
/// // Up to this many arenas of up to 1 GiB per runtime.
/// assert_eq!(jdb_alloc::fixed::TABLE_SLOTS, 1024);
/// ```
pub const TABLE_SLOTS: u32 = 1024;

/// The largest buffer the kernel registers as one table entry: 1 GiB.
pub(crate) const MAX_ENTRY: usize = 1 << 30;

thread_local! {
    /// The open rings of the runtimes on this thread that this crate has used.
    static RINGS: ThreadRings = const { ThreadRings(RefCell::new(Vec::new())) };
}

/// A thread's `RINGS`. When the thread exits, the rings seen closed meanwhile (of runtimes
/// dropped while a panic unwound) are let go of (`forget_closed`).
struct ThreadRings(RefCell<Vec<Arc<Ring>>>);

impl Drop for ThreadRings {
    fn drop(&mut self) {
        forget_closed();
    }
}

/// The rings of every thread that may be open: for [`Ring::settling`] from a thread-local
/// destructor once its thread's `RINGS` is gone, and for each ring's guard, which finds its
/// ring here by id. A ring leaves when its guard drops, or, when compio leaked the guard (a
/// runtime dropped while a panic unwound), once its descriptor is seen to name another file
/// (`forget_closed`). Touched when a ring is made, when its guard runs or drops, never on the
/// hot path.
static ALL_RINGS: Mutex<Vec<Arc<Ring>>> = Mutex::new(Vec::new());

fn all_rings() -> MutexGuard<'static, Vec<Arc<Ring>>> {
    // A panic while the lock is held leaves a list of rings behind; still valid.
    ALL_RINGS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Ids for rings (`Ring::id`), never reused.
static NEXT_RING: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Marks closed, and lets go of, the rings of [`ALL_RINGS`] whose descriptor names another file
/// now, or none: their runtimes were dropped while a panic unwound, so their guards never
/// dropped (compio leaks such tasks' futures). With them go this crate's state for the ring,
/// the runtime's driver waker it held (an eventfd) and the guard's task, whose waker it held;
/// their registrations still alive keep what they need. Rings whose file cannot be told from
/// a later one's (no inode of their own) stay, as before.
fn forget_closed() {
    let closed: Vec<Arc<Ring>> = {
        let mut all = all_rings();
        let (closed, open) = std::mem::take(&mut *all)
            .into_iter()
            .partition(|r| !r.is_alive() || r.seen_closed());
        *all = open;
        closed
    };
    // Outside the lock: dropping a waker, or what the runtime kept, may run other code.
    closed.iter().for_each(|r| {
        r.mark_closed();
        drop(r.take_runtime_local());
    });
}

/// The registered-buffer state of one runtime's ring.
pub(crate) struct Ring {
    /// Tells the ring to its guard, which holds no reference (compio may leak it).
    id: u64,
    fd: RawFd,
    /// The address of the runtime's driver waker's data: tells this ring from a later one that
    /// got the same descriptor number. `Table::driver` keeps that allocation from going to
    /// another driver while the ring may be taken for open.
    driver: usize,
    /// The device and inode of the ring's file, when they tell io_uring instances apart.
    inode: Option<(u64, u64)>,
    thread: ThreadId,
    alive: AtomicBool,
    /// Set when `stale` may be non-empty, so the hot path need not lock.
    has_stale: AtomicBool,
    table: Mutex<Table>,
    /// This crate's operations on the ring whose result compio has neither reported nor dropped
    /// yet.
    ops: AtomicUsize,
    /// Set while [`poll_settled`](Self::poll_settled) waits, so the hot path need not lock.
    settling: AtomicBool,
    /// What lives as long as the runtime (its default pool, `default.rs`): let go of when the
    /// guard drops, or once the ring is seen closed, outside any lock of this module (it may
    /// hold registrations, whose drop comes back here).
    runtime_local: Mutex<Option<Box<dyn Any + Send>>>,
}

struct Table {
    /// Whether this crate's sparse table exists on the ring.
    created: bool,
    used: Vec<bool>,
    /// Slot ranges `(first, count)` whose arenas are gone, to clear on the ring's thread.
    stale: Vec<(u32, u32)>,
    /// Wakes the guard's task, which clears `stale` on the ring's thread.
    waker: Option<Waker>,
    /// A clone of the runtime's driver waker, kept until the ring is marked closed (see
    /// `Ring::driver`).
    driver: Option<Waker>,
    /// Wake the tasks waiting for `ops` to reach zero: one per [`Settled`] future, by its key.
    settled: Vec<(u64, Waker)>,
    /// The key of the next [`Settled`] future to wait.
    next_settle: u64,
}

/// Locks a ring's `runtime_local`; a panic while it was held (in a `clone`) leaves a valid
/// value behind.
fn lock_local<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A refusal from the kernel, as a status.
fn refused(e: io::Error) -> FixedStatus {
    FixedStatus::Refused(e.raw_os_error().unwrap_or(0))
}

/// Held by a never-ending task on the ring's runtime: dropped with the runtime's tasks, before
/// the ring closes. It holds the ring's id, not the ring: compio leaks the futures of the tasks
/// of a runtime dropped while a panic unwinds, and a reference there would keep the ring (and
/// the driver waker it holds) for good.
pub(crate) struct RingGuard(u64);

impl RingGuard {
    /// The task that holds the guard: it never finishes, so only the runtime's drop ends it.
    /// Each time [`Ring::release`] wakes it from another thread, it clears the slots given back,
    /// on the ring's thread, without waiting for a fixed operation.
    pub(crate) async fn hold(self) {
        std::future::poll_fn(|cx| {
            // Gone only once the guard dropped, or the ring was seen closed: nothing to hold.
            let Some(ring) = self.ring() else {
                return Poll::Ready(());
            };
            let mut table = ring.table();
            // Polled only on the runtime's thread while it lives: the ring is open (invariant 2).
            if ring.usable_here() {
                ring.clear_stale(&mut table);
            }
            if !table
                .waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                table.waker = Some(cx.waker().clone());
            }
            Poll::Pending
        })
        .await;
    }

    /// The guard's ring, while it may be open.
    fn ring(&self) -> Option<Arc<Ring>> {
        all_rings().iter().find(|r| r.id == self.0).cloned()
    }
}

impl Drop for RingGuard {
    fn drop(&mut self) {
        let ring = {
            let mut all = all_rings();
            let at = all.iter().position(|r| r.id == self.0);
            at.map(|at| all.swap_remove(at))
        };
        let Some(ring) = ring else { return };
        // Invariant 1: runtimes drop their tasks on their own thread, with the ring still open.
        debug_assert_eq!(ring.thread, thread::current().id());
        // Nothing wakes the task any more; `release` no longer queues once the ring is closed.
        ring.mark_closed();
        let _ = RINGS.try_with(|rings| {
            if let Ok(mut rings) = rings.0.try_borrow_mut() {
                rings.retain(|r| !Arc::ptr_eq(r, &ring));
            }
        });
        // Last, with no lock or borrow held: the runtime's default pool goes with its runtime.
        drop(ring.take_runtime_local());
    }
}

impl Ring {
    /// The ring whose descriptor is `fd`, on this thread: the known one, or a new one, for which
    /// `spawn_guard` must spawn a task on the ring's runtime that holds the guard until the
    /// runtime drops its tasks.
    ///
    /// The caller must be on the runtime's thread and pass that runtime's open ring descriptor.
    ///
    /// [`FixedStatus::ThreadExiting`] from a thread-local destructor once the registry is gone
    /// (or while it is in use further up the stack): never a panic there.
    pub(crate) fn current(
        fd: RawFd,
        driver: &Waker,
        spawn_guard: impl FnOnce(RingGuard),
    ) -> std::result::Result<Arc<Ring>, FixedStatus> {
        match Self::known(fd, driver) {
            Err(FixedStatus::OtherRuntime) => {}
            known => return known,
        }
        forget_closed();
        let inode = file_id(fd).filter(|&id| Some(id) != *SHARED_INODE);
        let ring = Arc::new(Ring {
            id: NEXT_RING.fetch_add(1, Ordering::Relaxed),
            fd,
            driver: driver.data() as usize,
            inode,
            thread: thread::current().id(),
            alive: AtomicBool::new(true),
            has_stale: AtomicBool::new(false),
            table: Mutex::new(Table {
                created: false,
                used: vec![false; TABLE_SLOTS as usize],
                stale: Vec::new(),
                waker: None,
                driver: Some(driver.clone()),
                settled: Vec::new(),
                next_settle: 0,
            }),
            ops: AtomicUsize::new(0),
            settling: AtomicBool::new(false),
            runtime_local: Mutex::new(None),
        });
        // `try_with`: this may run in a thread-local destructor, after `RINGS` is gone.
        let recorded = RINGS.try_with(|rings| {
            let mut rings = rings.0.try_borrow_mut().ok()?;
            rings.retain(|r| r.is_alive());
            rings.push(Arc::clone(&ring));
            Some(())
        });
        if !matches!(recorded, Ok(Some(()))) {
            return Err(FixedStatus::ThreadExiting);
        }
        all_rings().push(Arc::clone(&ring));
        spawn_guard(RingGuard(ring.id));
        Ok(ring)
    }

    /// The open ring whose descriptor is `fd` and whose runtime's driver wakes with `driver`,
    /// on this thread, if this crate has used it ([`FixedStatus::OtherRuntime`] if not,
    /// [`FixedStatus::ThreadExiting`] once the registry is gone); makes nothing and spawns
    /// nothing, so it is safe to ask at any time (even from a `Drop` while the runtime drops its
    /// tasks, or from a thread-local destructor).
    ///
    /// The caller passes the current runtime's descriptor and driver waker.
    pub(crate) fn known(fd: RawFd, driver: &Waker) -> std::result::Result<Arc<Ring>, FixedStatus> {
        RINGS
            .try_with(|rings| {
                let rings = rings
                    .0
                    .try_borrow()
                    .map_err(|_| FixedStatus::ThreadExiting)?;
                let ring = rings.iter().find(|r| r.fd == fd && r.is_alive());
                match ring {
                    Some(ring) if ring.driver == driver.data() as usize => Ok(Arc::clone(ring)),
                    Some(ring) => {
                        // The number is another ring's now, so this one closed (its runtime
                        // dropped while a panic unwound): never touch `fd` for it again.
                        ring.mark_closed();
                        Err(FixedStatus::OtherRuntime)
                    }
                    None => Err(FixedStatus::OtherRuntime),
                }
            })
            .unwrap_or(Err(FixedStatus::ThreadExiting))
    }

    /// As [`known`](Self::known), and also from a thread-local destructor once this thread's
    /// registry is gone: for `settle`, which must still find the operations started earlier.
    pub(crate) fn settling(fd: RawFd, driver: &Waker) -> Option<Arc<Ring>> {
        match Self::known(fd, driver) {
            Ok(ring) => Some(ring),
            Err(FixedStatus::ThreadExiting) => {
                let here = thread::current().id();
                let driver = driver.data() as usize;
                all_rings()
                    .iter()
                    .find(|r| r.thread == here && r.fd == fd && r.driver == driver && r.is_alive())
                    .cloned()
            }
            Err(_) => None,
        }
    }

    /// `true` while the ring is open; only meaningful on the ring's thread (invariant 1).
    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// `true` when the caller is on the ring's thread and the ring reads as open; system calls
    /// on it are then allowed once the caller knows `fd` is this ring (invariant 2).
    fn usable_here(&self) -> bool {
        self.thread == thread::current().id() && self.is_alive()
    }

    /// `true` when `fd` still names this ring's file, told by its inode; `false` when that
    /// cannot be told.
    fn still_open(&self) -> bool {
        self.inode.is_some() && file_id(self.fd) == self.inode
    }

    /// `true` when `fd` names another file than this ring's, or none, told by its inode: the
    /// ring is closed (compio closes its descriptor only with the driver). `false` when that
    /// cannot be told.
    fn seen_closed(&self) -> bool {
        self.inode.is_some() && file_id(self.fd) != self.inode
    }

    /// The ring is closed, or is about to be (its guard drops): never taken for open again
    /// (invariant 1), and the wakers it held go: its driver's, no longer needed to tell it
    /// from a later ring since it is never matched again, and the guard's task's.
    fn mark_closed(&self) {
        let (waker, driver) = {
            let mut table = self.table();
            self.alive.store(false, Ordering::Release);
            (table.waker.take(), table.driver.take())
        };
        drop((waker, driver));
    }

    /// The value of type `T` kept for the ring's runtime, made with `make` on first use; `None`
    /// once the ring is closed (nothing is kept past its runtime) or if `make` gives none.
    /// `make` runs without this module's locks held.
    pub(crate) fn runtime_local<T: Any + Send + Clone>(
        &self,
        make: impl FnOnce() -> Option<T>,
    ) -> Option<T> {
        if let Some(kept) = self.kept::<T>() {
            return kept;
        }
        let made = make();
        let mut slot = lock_local(&self.runtime_local);
        if !self.is_alive() {
            return None;
        }
        match slot.as_ref().and_then(|b| b.downcast_ref::<Option<T>>()) {
            // Made meanwhile, by code `make` ran: the first one stays.
            Some(kept) => kept.clone(),
            None => {
                *slot = Some(Box::new(made.clone()));
                made
            }
        }
    }

    /// What [`runtime_local`](Self::runtime_local) kept of type `T`, if it was asked before.
    fn kept<T: Any + Send + Clone>(&self) -> Option<Option<T>> {
        let slot = lock_local(&self.runtime_local);
        slot.as_ref()
            .and_then(|b| b.downcast_ref::<Option<T>>())
            .cloned()
    }

    /// Takes what the runtime kept, for the caller to drop outside any lock.
    fn take_runtime_local(&self) -> Option<Box<dyn Any + Send>> {
        lock_local(&self.runtime_local).take()
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // A panic while the lock is held leaves only booleans behind; they stay consistent.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `entries` (`(address, length)`, each at most [`MAX_ENTRY`]) in consecutive
    /// slots and returns the first, or why not.
    ///
    /// # Safety
    /// Each entry must be memory of this process that no fixed operation names after it is
    /// freed. (The kernel pins the pages itself, so freeing the memory before the slot is
    /// cleared is harmless; an operation naming the slot then would reach the freed memory.)
    pub(crate) unsafe fn register(
        &self,
        entries: &[(*mut u8, usize)],
    ) -> std::result::Result<u32, FixedStatus> {
        if !self.usable_here() {
            return Err(FixedStatus::RingClosed);
        }
        let mut table = self.table();
        self.clear_stale(&mut table);
        if !table.created {
            let mut arg = io_uring_rsrc_register::default();
            arg.nr = TABLE_SLOTS;
            arg.flags = IoringRsrcFlags::REGISTER_SPARSE;
            // SAFETY: a sparse table names no memory; `arg` outlives the call.
            let res = unsafe {
                self.call(
                    IoringRegisterOp::RegisterBuffers2,
                    ptr::from_ref(&arg).cast(),
                    size_of::<io_uring_rsrc_register>() as u32,
                )
            };
            match res {
                Ok(_) => table.created = true,
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error()) => {
                    return Err(FixedStatus::TableBusy);
                }
                Err(e) => return Err(FixedStatus::Refused(e.raw_os_error().unwrap_or(0))),
            }
        }
        let count = entries.len();
        let first = table
            .used
            .windows(count)
            .position(|w| w.iter().all(|used| !used))
            .ok_or(FixedStatus::TableFull)?;
        let iovecs: Vec<IoVec> = entries
            .iter()
            .map(|&(base, len)| IoVec { base, len })
            .collect();
        // SAFETY: the caller keeps each entry's memory mapped while registered; `iovecs` and
        // the slots `[first, first + count)` (free, inside the table) outlive the call.
        let done = unsafe { self.update(first as u32, &iovecs) }.map_err(refused)? as usize;
        table.used[first..first + done].fill(true);
        if done < count {
            // The kernel stopped partway (it reports how many entries it took, not the error
            // of the one it refused): undo the ones it took, so that no frame of the arena is
            // named by a slot, and ask again for the refused one alone to learn why.
            if done > 0 {
                self.clear(&mut table, first as u32, done as u32);
            }
            // SAFETY: as above, for one entry in a slot that is free.
            let why = match unsafe { self.update((first + done) as u32, &iovecs[done..=done]) } {
                Err(e) => refused(e),
                Ok(_) => {
                    // Taken this time: undo it too; the registration as a whole failed.
                    table.used[first + done] = true;
                    self.clear(&mut table, (first + done) as u32, 1);
                    FixedStatus::Refused(rustix::io::Errno::AGAIN.raw_os_error())
                }
            };
            return Err(why);
        }
        Ok(first as u32)
    }

    /// Gives slots `[first, first + count)` back: cleared now on the ring's thread if `fd`
    /// is known to be this ring; otherwise queued and the guard's task woken, which clears them
    /// as soon as the runtime runs (compio wakers may be woken from any thread); nothing at all
    /// once the ring is closed (the kernel drops the table with the ring).
    ///
    /// The guard is woken at most once until it runs again (its waker is taken): compio 0.19's
    /// and 0.20's executors make a thread that wakes a task of a runtime whose queue of remote
    /// wakes (64 by default) is full yield until that runtime drains it, so a burst of frames
    /// dropped elsewhere adds one entry, not one per frame.
    pub(crate) fn release(&self, first: u32, count: u32) {
        if self.usable_here() && self.still_open() {
            let mut table = self.table();
            self.clear(&mut table, first, count);
        } else if self.is_alive() {
            let mut table = self.table();
            table.stale.push((first, count));
            self.has_stale.store(true, Ordering::Release);
            let waker = table.waker.take();
            drop(table);
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// An operation of this crate starts on the ring (on its thread).
    pub(crate) fn op_started(&self) {
        self.ops.fetch_add(1, Ordering::SeqCst);
    }

    /// compio reported the result of an operation of this crate, or dropped it (it has
    /// completed, or the runtime is going); once per operation.
    pub(crate) fn op_finished(&self) {
        if self.ops.fetch_sub(1, Ordering::SeqCst) == 1 && self.settling.load(Ordering::SeqCst) {
            let mut table = self.table();
            self.settling.store(false, Ordering::SeqCst);
            let wakers = std::mem::take(&mut table.settled);
            drop(table);
            wakers.into_iter().for_each(|(_, waker)| waker.wake());
        }
    }

    /// A future ready once compio has reported or dropped every operation this crate started
    /// on the ring.
    pub(crate) fn settled(self: Arc<Self>) -> Settled {
        Settled {
            ring: self,
            key: None,
        }
    }

    /// [`Settled`]'s poll: its waker (`key`'s entry in the list, made on the first poll that
    /// waits) is the task's latest; wakers are cloned and dropped outside the lock, since a
    /// waker's drop may drop a frame, whose registration may lock the table.
    fn poll_settled(&self, key: &mut Option<u64>, cx: &mut Context<'_>) -> Poll<()> {
        if self.ops.load(Ordering::SeqCst) == 0 {
            return Poll::Ready(());
        }
        let waker = cx.waker().clone();
        let mut guard = self.table();
        let table = &mut *guard;
        let entry = key.and_then(|k| table.settled.iter_mut().find(|(mine, _)| *mine == k));
        let unused = match entry {
            Some((_, kept)) if kept.will_wake(&waker) => Some(waker),
            Some((_, kept)) => Some(std::mem::replace(kept, waker)),
            // First wait, or woken (the list was emptied) and waiting again.
            None => {
                let k = *key.get_or_insert_with(|| {
                    table.next_settle += 1;
                    table.next_settle
                });
                table.settled.push((k, waker));
                None
            }
        };
        self.settling.store(true, Ordering::SeqCst);
        drop(guard);
        drop(unused);
        // Checked again after `settling` is set: `op_finished` then sees it, or this sees zero.
        if self.ops.load(Ordering::SeqCst) == 0 {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// A [`Settled`] future is gone: its waker leaves the list.
    fn forget_settle(&self, key: u64) {
        let mut table = self.table();
        let at = table.settled.iter().position(|(mine, _)| *mine == key);
        let waker = at.map(|at| table.settled.swap_remove(at));
        drop(table);
        drop(waker);
    }

    /// Clears what other threads gave back; for the ring's thread, which the caller checked.
    pub(crate) fn collect_stale(&self) {
        if self.has_stale.load(Ordering::Acquire) && self.usable_here() {
            let mut table = self.table();
            self.clear_stale(&mut table);
        }
    }

    /// Clears the slots queued in `stale`; on the ring's thread with the ring open, which the
    /// caller checked.
    fn clear_stale(&self, table: &mut Table) {
        if table.stale.is_empty() {
            return;
        }
        self.has_stale.store(false, Ordering::Release);
        for (first, count) in std::mem::take(&mut table.stale) {
            self.clear(table, first, count);
        }
    }

    /// Empties slots in the kernel's table, then marks them free. Called on the ring's thread
    /// with the ring open.
    fn clear(&self, table: &mut Table, first: u32, count: u32) {
        let empty = vec![
            IoVec {
                base: ptr::null_mut(),
                len: 0
            };
            count as usize
        ];
        // SAFETY: empty entries name no memory; the slots are this crate's (invariant 3).
        let cleared = unsafe { self.update(first, &empty) }.map_or(0, |done| done as usize);
        // A slot the kernel did not clear (it may stop partway) stays marked used: never handed
        // out twice.
        table.used[first as usize..][..cleared.min(count as usize)].fill(false);
    }

    /// `IORING_REGISTER_BUFFERS_UPDATE` of slots `[first, first + iovecs.len())`.
    ///
    /// # Safety
    /// Non-empty entries must stay mapped while registered.
    unsafe fn update(&self, first: u32, iovecs: &[IoVec]) -> io::Result<u32> {
        let mut arg = io_uring_rsrc_update2::default();
        arg.offset = first;
        arg.data = io_uring_ptr::new(iovecs.as_ptr().cast_mut().cast());
        arg.nr = iovecs.len() as u32;
        // SAFETY: `arg` and `iovecs` outlive the call; memory duty passed on from our caller.
        unsafe {
            self.call(
                IoringRegisterOp::RegisterBuffersUpdate,
                ptr::from_ref(&arg).cast(),
                size_of::<io_uring_rsrc_update2>() as u32,
            )
        }
    }

    /// `io_uring_register(fd, op, arg, nr)` on this ring.
    ///
    /// # Safety
    /// As `io_uring_register` for `op`: `arg` valid as that operation reads it.
    unsafe fn call(&self, op: IoringRegisterOp, arg: *const c_void, nr: u32) -> io::Result<u32> {
        debug_assert!(self.usable_here());
        // SAFETY: every caller checked `usable_here` on this thread: the descriptor is this
        // open ring (invariant 1) for the duration of the call.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        // SAFETY: passed on from our caller.
        unsafe { io_uring_register(fd, op, arg, nr) }.map_err(io::Error::from)
    }
}

/// Waits until compio has reported or dropped every operation this crate started on a ring
/// ([`Ring::settled`]). Its waker is in the ring's list at most once, the task's latest, and
/// leaves it when the future drops: settles given up (a lost `select!`, a timeout) leave
/// nothing behind.
pub(crate) struct Settled {
    ring: Arc<Ring>,
    /// This future's entry in the ring's list of wakers, once it waited.
    key: Option<u64>,
}

impl Future for Settled {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.ring.poll_settled(&mut this.key, cx)
    }
}

impl Drop for Settled {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.ring.forget_settle(key);
        }
    }
}

/// The device and inode number of the file descriptor `fd` names, if it is open.
fn file_id(fd: RawFd) -> Option<(u64, u64)> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `fstat` accepts any number (`EBADF` if none is open) and writes only `stat`.
    let done = unsafe { libc::fstat(fd, stat.as_mut_ptr()) } == 0;
    // SAFETY: filled in by the successful call.
    done.then(|| unsafe { stat.assume_init_ref() })
        .map(|stat| (stat.st_dev, stat.st_ino))
}

/// The inode that files of the kernel's shared anonymous inode have (an eventfd's): io_uring
/// files have it too on kernels that do not give each instance an inode of its own.
static SHARED_INODE: std::sync::LazyLock<Option<(u64, u64)>> = std::sync::LazyLock::new(|| {
    // SAFETY: plain system calls; the descriptor is ours and closed once.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    let id = (fd >= 0).then(|| file_id(fd)).flatten();
    if fd >= 0 {
        // SAFETY: `fd` was opened above and nothing else owns it.
        unsafe { libc::close(fd) };
    }
    id
});

/// `struct iovec`, as the kernel reads it from `IORING_REGISTER_BUFFERS_UPDATE`.
#[repr(C)]
#[derive(Clone, Copy)]
struct IoVec {
    base: *mut u8,
    len: usize,
}
