//! io_uring registered buffers for compio: fixed frames, read and written with `READ_FIXED` /
//! `WRITE_FIXED`, with a plain read or write whenever registration is not in effect.
//!
//! With a plain buffer the kernel pins and unpins the user pages of every `O_DIRECT` request.
//! A buffer registered once with the ring (`IORING_REGISTER_BUFFERS`) is pinned once, and a
//! fixed operation names it by its slot in the ring's buffer table, which saves that work: less
//! CPU per byte moved.
//!
//! - [`compio17::register`] / [`compio19::register`] / [`compio20::register`] register an arena
//!   with the current runtime's ring and cut it into [`FixedFrame`]s, like
//!   [`AlignedBuf::into_frames`]. The three modules have the same functions, each for its compio
//!   release's runtimes (features `compio-17`, `compio-19`, `compio-20`).
//! - [`compio17::read_fixed_at`] / [`compio19::read_fixed_at`] and the `write_fixed_at`s run
//!   a fixed operation when the frame is registered with the current runtime's ring, and the
//!   plain read or write otherwise: the result is the same either way.
//! - A fixed frame implements compio's buffer traits like a [`Frame`], so `read_at` / `write_at`
//!   take it too. [`FixedFrame::status`] says whether registration is in effect, and if not why.
//! - [`FixedPool`] keeps registered frames for a runtime, in tiers of frame lengths:
//!   `try_acquire(len)` / `acquire(len).await` (which waits, first come first served, while the
//!   tier is empty), frames that go back to the pool when dropped on any thread, and counters of
//!   the fixed and plain operations done with them.
//!
//! # Costs
//!
//! - Registered memory is pinned: all of it is made resident at registration (a lazily zeroed
//!   arena is faulted in) and stays locked in RAM until the registration goes.
//! - Without `CAP_IPC_LOCK` the pinned bytes count against `RLIMIT_MEMLOCK` (`ulimit -l`, often
//!   8 MiB): over it, registration is refused ([`FixedStatus::Refused`] with `ENOMEM`) and the
//!   frames use plain I/O.
//! - A registration belongs to one ring, that is one runtime on one thread. A frame used on
//!   another runtime works, with plain I/O. Register one arena per runtime (thread-per-core).
//! - This crate creates a sparse table of [`TABLE_SLOTS`] (1024) slots on
//!   each ring it registers with; arenas over 1 GiB take one slot per GiB. A ring has one
//!   table: if other code registered buffers on it first, registration reports
//!   [`FixedStatus::TableBusy`], and other code registering after this crate gets `EBUSY`.
//!
//! # Lifetime
//!
//! - **Slots.** The registration is removed when the arena's last frame (and its
//!   [`FixedFrames`]) is gone: at once when that happens on the runtime's thread; from any other
//!   thread, the runtime's task of this crate is woken and clears the slots on the runtime's
//!   thread as soon as the runtime next runs (a `block_on`, plain I/O or idle; no fixed operation
//!   needed: io_uring's single-issuer rule). When the runtime drops, the kernel drops the whole
//!   table with the ring. (That wake is one per runtime until its task runs; still, compio 0.19
//!   and 0.20 make a thread that wakes a task of a runtime whose queue of remote wakes is full
//!   wait until the runtime drains it: a runtime that stops running can stall the drop.)
//! - **Operations.** A frame in a fixed operation is held by the operation until compio is done
//!   with it, also when the future is dropped: compio submits and cancels a dropped operation
//!   the next time the runtime runs, then hands it back, and the frame goes.
//! - **Runtime dropped first.** If the runtime is dropped while compio still holds an operation
//!   of this crate (running in the kernel, or dropped before compio submitted it), this crate
//!   cannot tell whether the kernel may still write the frame: compio 0.19 and 0.20 drop such
//!   operations after closing the ring without saying whether they completed, and compio 0.17
//!   never drops them. The frame, and its arena, are then kept for the life of the process
//!   rather than freed under the kernel. `rt.block_on(compio19::settle())` (or the `settle` of
//!   `compio17` / `compio20`) before dropping the runtime waits until compio is done with all of
//!   them, so nothing is kept. The same holds for every read and write of
//!   [`DirectFile`](crate::direct::DirectFile) and its appenders, plain buffers included: they
//!   are this crate's operations too. (compio's own `read_at` / `write_at` give no such
//!   guarantee, for a fixed frame or any buffer: compio 0.19 and 0.20 free the buffers of
//!   operations still in flight after closing the ring. Let those finish before dropping a
//!   runtime.)
//! - **Thread exit.** In a thread-local destructor, after this crate's per-thread registry of
//!   rings is gone, nothing panics: registration reports [`FixedStatus::ThreadExiting`] and
//!   fixed operations run as plain reads and writes. `settle` still finds the runtime's ring
//!   there and waits for the operations started before.
//!
//! A panic that escapes a `block_on` makes compio 0.19 drop the runtime's tasks, this crate's
//! ring guard among them, while the runtime lives on: its registrations then read as
//! [`FixedStatus::RingClosed`], stay pinned until the runtime drops, and new ones on that
//! runtime report [`FixedStatus::TableBusy`]. Both fall back to plain I/O.
//!
//! A runtime dropped while a panic unwinds is dropped without its tasks (compio's executor skips
//! them then): this crate keeps the frames of unfinished operations compio drops then, tells
//! the ring from a later runtime's that gets the same descriptor number (by the runtime's
//! driver, whose waker it holds on to: one eventfd of that runtime stays open meanwhile), and
//! its frames read as [`FixedStatus::RingClosed`] once a later runtime on the thread looked for
//! its ring. The ring is then let go of, with that eventfd: when a later runtime of the process
//! looks for its own ring, or the thread exits, and its descriptor names another file (on
//! kernels that give each ring an inode of its own, Linux 6.x), or a later runtime on the
//! thread got its descriptor number.
//!
//! Requires compio's io_uring driver without its `polling` feature (compio's default on Linux).
//!
//! [`AlignedBuf::into_frames`]: crate::AlignedBuf::into_frames

mod api;
#[cfg(feature = "compio-17")]
#[cfg_attr(docsrs, doc(cfg(feature = "compio-17")))]
pub mod compio17;
#[cfg(feature = "compio-19")]
#[cfg_attr(docsrs, doc(cfg(feature = "compio-19")))]
pub mod compio19;
#[cfg(feature = "compio-20")]
#[cfg_attr(docsrs, doc(cfg(feature = "compio-20")))]
pub mod compio20;
mod default;
pub(crate) mod op;
mod pool;
mod ring;

use std::{
    fmt,
    iter::FusedIterator,
    mem::ManuallyDrop,
    ops::{Deref, DerefMut},
    sync::Arc,
};

pub(crate) use default::lockable;
pub use default::{
    DefaultPool, default_pool, default_pool_setting, default_pool_tiers, set_default_pool,
};
pub(crate) use pool::Charge;
use pool::Home;
pub use pool::{Acquire, FixedPool, PoolStats, TierStats};
pub use ring::TABLE_SLOTS;
use ring::{MAX_ENTRY, Ring};

use crate::{AlignedBuf, Frame, Frames, Result};

/// Which runtime is current, as a token to compare: the current runtime's ring as this crate
/// knows it (made on first use). Equal tokens name the same live runtime; a runtime that is gone
/// (dropped while a panic unwinds included, see the module docs) is never current again: a later
/// runtime gets a `Ring` of its own, and the token held keeps the old one allocated, so the two
/// never share an address.
pub(crate) struct RuntimeToken(Arc<Ring>);

impl RuntimeToken {
    /// The current runtime's token, or why there is none (no runtime, not io_uring, the thread
    /// exiting).
    pub(crate) fn current() -> std::result::Result<Self, FixedStatus> {
        pool::current_ring().map(Self)
    }

    pub(crate) fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Whether a fixed frame's registration is in effect, and if not, why.
///
/// Every status but [`Registered`](Self::Registered) means fixed operations on the frame fall
/// back to plain reads and writes, which work the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FixedStatus {
    /// Registered with a ring that is still open: fixed operations on the runtime that
    /// registered the arena use `READ_FIXED` / `WRITE_FIXED`.
    Registered,
    /// The arena was registered outside any compio runtime.
    NoRuntime,
    /// The runtime's driver is not io_uring.
    NotIoUring,
    /// The ring's buffer table is taken (`EBUSY`): by a registration this crate did not make,
    /// or by this crate's own on a runtime whose tasks were dropped by an escaping panic (see
    /// the module docs).
    TableBusy,
    /// This crate's table on the ring has no room for the arena's entries.
    TableFull,
    /// The frames are larger than the kernel's 1 GiB limit for one registered buffer, or than
    /// the arena (which then has no frame to register).
    FrameTooLarge,
    /// The kernel refused the registration; the `errno` (0 if it gave none): `ENOMEM` for
    /// `RLIMIT_MEMLOCK` or memory, `EINVAL` for a kernel without sparse buffer tables (before
    /// Linux 5.19).
    Refused(i32),
    /// The runtime the arena was registered with has been dropped.
    RingClosed,
    /// Asked of a runtime other than the one the arena was registered with (see
    /// [`compio19::status`]).
    OtherRuntime,
    /// Asked from a thread-local destructor after this crate's per-thread ring registry was
    /// destroyed (the thread is exiting): nothing is registered, and operations are plain.
    ThreadExiting,
}

/// What the status means for I/O, its cause, and the remedy where there is one.
///
/// ```
/// use jdb_alloc::fixed::FixedStatus;
///
/// let why = FixedStatus::Refused(12).to_string(); // ENOMEM
/// assert!(why.contains("RLIMIT_MEMLOCK") && why.contains("CAP_IPC_LOCK"), "{why}");
/// ```
impl fmt::Display for FixedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const PLAIN: &str = "; the frames use plain reads and writes";
        match *self {
            Self::Registered => f.write_str(
                "registered: fixed operations on the registering runtime use READ_FIXED / \
                 WRITE_FIXED",
            ),
            Self::NoRuntime => write!(
                f,
                "not registered: no compio runtime was current (register inside the runtime's \
                 block_on or a task of it){PLAIN}"
            ),
            Self::NotIoUring => write!(
                f,
                "not registered: the runtime's driver is not io_uring (use compio's io-uring \
                 driver, without its polling feature){PLAIN}"
            ),
            Self::TableBusy => write!(
                f,
                "not registered: the ring's buffer table is taken (EBUSY), by other code's \
                 registration or by this crate's on a runtime whose tasks an escaping panic \
                 dropped (register on a runtime of its own, or a new one){PLAIN}"
            ),
            Self::TableFull => write!(
                f,
                "not registered: this crate's table of {} slots on the ring has no room left for \
                 the arena's entries, one per GiB (drop arenas no longer used, or register \
                 fewer, larger ones){PLAIN}",
                TABLE_SLOTS
            ),
            Self::FrameTooLarge => write!(
                f,
                "not registered: the frames are larger than the kernel's 1 GiB limit for one \
                 registered buffer, or than the arena (use smaller frames){PLAIN}"
            ),
            Self::Refused(errno) if errno == rustix::io::Errno::NOMEM.raw_os_error() => write!(
                f,
                "registration refused: ENOMEM (raise RLIMIT_MEMLOCK / ulimit -l, or grant \
                 CAP_IPC_LOCK){PLAIN}"
            ),
            Self::Refused(errno) if errno == rustix::io::Errno::INVAL.raw_os_error() => write!(
                f,
                "registration refused: EINVAL (sparse buffer tables need Linux 5.19 or \
                 later){PLAIN}"
            ),
            Self::Refused(errno) if errno == rustix::io::Errno::AGAIN.raw_os_error() => write!(
                f,
                "registration refused by the kernel: EAGAIN, it took only part of the arena \
                 (try again, or register smaller arenas){PLAIN}"
            ),
            Self::Refused(0) => write!(
                f,
                "registration refused by the kernel, without an error number (try again, or \
                 register smaller arenas){PLAIN}"
            ),
            Self::Refused(errno) => write!(
                f,
                "registration refused by the kernel: {}{PLAIN}",
                std::io::Error::from_raw_os_error(errno)
            ),
            Self::RingClosed => write!(
                f,
                "not in effect: the runtime the arena was registered with has been dropped \
                 (register a new arena on a live runtime){PLAIN}"
            ),
            Self::OtherRuntime => write!(
                f,
                "not in effect here: the arena is registered with another runtime's ring (use \
                 the frame on the runtime that registered it){PLAIN}"
            ),
            Self::ThreadExiting => write!(
                f,
                "not available: the thread is exiting and this crate's ring registry is gone \
                 (called from a thread-local destructor){PLAIN}"
            ),
        }
    }
}

/// One arena's entries in a ring's table; removed from the table when dropped.
struct Registration {
    /// The ring and the first of `count` slots, when registered.
    slots: Option<(Arc<Ring>, u32, u32)>,
    /// Why not registered, when not.
    refused: FixedStatus,
    /// Bytes per entry: a whole number of frames, at most 1 GiB.
    entry: usize,
    base: usize,
    /// The pool tier this arena is, if any: its frames go back there when dropped.
    home: Option<Home>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some((ring, first, count)) = &self.slots {
            ring.release(*first, *count);
        }
    }
}

impl Registration {
    fn status(&self) -> FixedStatus {
        match &self.slots {
            Some((ring, ..)) if ring.is_alive() => FixedStatus::Registered,
            Some(_) => FixedStatus::RingClosed,
            None => self.refused,
        }
    }

    /// The slot holding the frame at `ptr`, when registered with `ring` and it is open.
    fn slot_on(&self, ring: &Arc<Ring>, ptr: *const u8) -> Option<u16> {
        match &self.slots {
            Some((mine, first, _)) if Arc::ptr_eq(mine, ring) && ring.is_alive() => {
                let entry = (ptr as usize - self.base) / self.entry;
                // Slots are below TABLE_SLOTS (1024), so this fits.
                Some((*first as usize + entry) as u16)
            }
            _ => None,
        }
    }
}

/// Registers `arena` with `ring` (or records why not) and cuts it into fixed frames; `home` is
/// the pool tier they go back to when dropped, if any.
///
/// The caller is on the ring's runtime thread, `ring` being the current runtime's.
fn register(
    arena: AlignedBuf,
    chunk: usize,
    ring: std::result::Result<Arc<Ring>, FixedStatus>,
    home: Option<Home>,
) -> Result<FixedFrames> {
    let base = arena.as_ptr() as usize;
    let frames = arena.into_frames(chunk)?;
    let used = frames.len() * chunk;
    let entry = (MAX_ENTRY / chunk).max(1) * chunk;
    let mut reg = Registration {
        slots: None,
        refused: FixedStatus::NoRuntime,
        entry,
        base,
        home,
    };
    match ring {
        Err(status) => reg.refused = status,
        Ok(_) if chunk > MAX_ENTRY || used == 0 => reg.refused = FixedStatus::FrameTooLarge,
        Ok(ring) => {
            let entries: Vec<(*mut u8, usize)> = (0..used.div_ceil(entry))
                .map(|k| ((base + k * entry) as *mut u8, entry.min(used - k * entry)))
                .collect();
            // SAFETY: each entry lies in the arena's block. Only fixed frames of this arena
            // name these slots in operations, and each holds the block alive (its `Frame`)
            // while it can; when the last is gone the slots are cleared, at once or later from
            // the ring's thread, and meanwhile nothing names them.
            match unsafe { ring.register(&entries) } {
                Ok(first) => reg.slots = Some((ring, first, entries.len() as u32)),
                Err(status) => reg.refused = status,
            }
        }
    }
    Ok(FixedFrames {
        reg: Arc::new(reg),
        frames,
    })
}

// ============================================================================
// FixedFrames
// ============================================================================

/// The fixed frames of a registered arena (from [`compio17::register`] or
/// [`compio19::register`]): an iterator of [`FixedFrame`]s in address order, like [`Frames`].
///
/// ```
/// # #[cfg(feature = "compio-19")] {
/// use jdb_alloc::{AlignedBuf, PAGE_SIZE, fixed::compio19};
///
/// let mut frames = compio19::register(AlignedBuf::with_cap(4 * PAGE_SIZE).unwrap(), PAGE_SIZE).unwrap();
/// assert_eq!(frames.len(), 4);
/// let last = frames.next_back().unwrap();
/// let first = frames.next().unwrap();
/// assert_eq!(last.as_ptr() as usize - first.as_ptr() as usize, 3 * PAGE_SIZE);
/// # }
/// ```
pub struct FixedFrames {
    reg: Arc<Registration>,
    frames: Frames,
}

impl FixedFrames {
    /// Whether the registration is in effect (see [`FixedStatus`]).
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")] {
    /// use jdb_alloc::{AlignedBuf, fixed::{FixedStatus, compio19}};
    ///
    /// // Outside a runtime there is no ring to register with.
    /// let frames = compio19::register(AlignedBuf::page().unwrap(), 4096).unwrap();
    /// assert_eq!(frames.status(), FixedStatus::NoRuntime);
    /// # }
    /// ```
    pub fn status(&self) -> FixedStatus {
        self.reg.status()
    }

    fn wrap(&self, frame: Frame) -> FixedFrame {
        FixedFrame::new(Arc::clone(&self.reg), frame)
    }
}

impl Iterator for FixedFrames {
    type Item = FixedFrame;

    #[inline]
    fn next(&mut self) -> Option<FixedFrame> {
        let frame = self.frames.next()?;
        Some(self.wrap(frame))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.frames.size_hint()
    }
}

impl DoubleEndedIterator for FixedFrames {
    #[inline]
    fn next_back(&mut self) -> Option<FixedFrame> {
        let frame = self.frames.next_back()?;
        Some(self.wrap(frame))
    }
}

impl ExactSizeIterator for FixedFrames {}

impl FusedIterator for FixedFrames {}

impl fmt::Debug for FixedFrames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedFrames")
            .field("frames", &self.frames)
            .field("status", &self.status())
            .finish()
    }
}

// ============================================================================
// FixedFrame
// ============================================================================

/// A [`Frame`] of an arena registered with a runtime's ring: it knows its slot in the ring's
/// buffer table, so `read_fixed_at` / `write_fixed_at` can name it.
///
/// It behaves like a [`Frame`] (dereferences to its initialised bytes, `extend`, compio's
/// buffer traits for plain `read_at` / `write_at`) and is `Send` and `Sync` like one. The
/// registration goes with the arena's last frame. A frame of a [`FixedPool`] goes back to its
/// pool when dropped, on whatever thread.
///
/// ```
/// use jdb_alloc::fixed::FixedPool;
///
/// let pool = FixedPool::new(&[(4096, 1)]).unwrap();
/// let mut frame = pool.try_acquire(4096).unwrap();
/// frame.extend(b"a record").unwrap();
/// let frame = std::thread::spawn(move || frame).join().unwrap(); // Send
/// assert_eq!(&frame[..], b"a record");
/// drop(frame); // back to the pool
/// assert!(pool.try_acquire(4096).is_some());
/// ```
pub struct FixedFrame {
    reg: Arc<Registration>,
    /// Taken only by `Drop`.
    frame: ManuallyDrop<Frame>,
}

impl Drop for FixedFrame {
    fn drop(&mut self) {
        // SAFETY: `frame` is taken here, once, and the field is never used again.
        let frame = unsafe { ManuallyDrop::take(&mut self.frame) };
        // A pool's frame goes back to its tier. Any other is dropped before `reg`: if it was
        // its arena's last, the memory may go before the slots are cleared, which is harmless
        // as no frame is left to name them (see `Ring::register`).
        if let Some(home) = &self.reg.home {
            home.put_back(frame);
        }
    }
}

impl FixedFrame {
    fn new(reg: Arc<Registration>, frame: Frame) -> Self {
        Self {
            reg,
            frame: ManuallyDrop::new(frame),
        }
    }

    /// Whether registration is in effect for this frame's arena (see [`FixedStatus`]); the
    /// version modules' `status` also tells whether the current runtime is the one.
    ///
    /// ```
    /// use jdb_alloc::fixed::{FixedPool, FixedStatus};
    ///
    /// // Made outside a runtime: plain I/O, and the status says why.
    /// let pool = FixedPool::new(&[(4096, 1)]).unwrap();
    /// assert_eq!(pool.try_acquire(1).unwrap().status(), FixedStatus::NoRuntime);
    /// ```
    pub fn status(&self) -> FixedStatus {
        self.reg.status()
    }

    /// The status on the current runtime, whose ring is `current` (or why it has none).
    fn status_on(&self, current: std::result::Result<Arc<Ring>, FixedStatus>) -> FixedStatus {
        match (self.status(), current) {
            (FixedStatus::Registered, Ok(ring)) if self.slot_on(&ring).is_some() => {
                FixedStatus::Registered
            }
            (FixedStatus::Registered, Err(FixedStatus::ThreadExiting)) => {
                FixedStatus::ThreadExiting
            }
            (FixedStatus::Registered, _) => FixedStatus::OtherRuntime,
            (status, _) => status,
        }
    }

    /// The frame's slot in `ring`'s table, when registered there and the ring is open.
    fn slot_on(&self, ring: &Arc<Ring>) -> Option<u16> {
        self.reg.slot_on(ring, self.frame.as_ptr())
    }

    /// Number of initialised bytes.
    ///
    /// ```
    /// use jdb_alloc::fixed::FixedPool;
    ///
    /// let pool = FixedPool::new(&[(4096, 1)]).unwrap();
    /// let mut frame = pool.try_acquire(4096).unwrap();
    /// assert_eq!(frame.len(), 0);
    /// frame.extend(b"abc").unwrap();
    /// assert_eq!(frame.len(), 3);
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        self.frame.len()
    }

    /// Size of the frame in bytes.
    ///
    /// ```
    /// use jdb_alloc::fixed::FixedPool;
    ///
    /// let pool = FixedPool::new(&[(4096, 1)]).unwrap();
    /// assert_eq!(pool.try_acquire(10).unwrap().cap(), 4096);
    /// ```
    #[inline]
    pub fn cap(&self) -> usize {
        self.frame.cap()
    }

    /// `true` when `len() == 0`.
    ///
    /// ```
    /// use jdb_alloc::fixed::FixedPool;
    ///
    /// let pool = FixedPool::new(&[(4096, 1)]).unwrap();
    /// assert!(pool.try_acquire(10).unwrap().is_empty());
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.frame.is_empty()
    }

    /// Pointer to the first byte; [`ALIGNMENT`](crate::ALIGNMENT)-aligned.
    ///
    /// ```
    /// use jdb_alloc::fixed::FixedPool;
    ///
    /// let pool = FixedPool::new(&[(4096, 1)]).unwrap();
    /// let frame = pool.try_acquire(10).unwrap();
    /// assert_eq!(frame.as_ptr() as usize % jdb_alloc::ALIGNMENT, 0);
    /// ```
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        self.frame.as_ptr()
    }

    /// Mutable pointer to the first byte, valid for `cap` bytes.
    ///
    /// ```
    /// use jdb_alloc::fixed::FixedPool;
    ///
    /// let pool = FixedPool::new(&[(4096, 1)]).unwrap();
    /// let mut frame = pool.try_acquire(10).unwrap();
    /// // SAFETY: the frame holds `cap` bytes; one is written, then counted.
    /// unsafe {
    ///     frame.as_mut_ptr().write(9);
    ///     frame.set_len(1);
    /// }
    /// assert_eq!(&frame[..], &[9]);
    /// ```
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.frame.as_mut_ptr()
    }

    /// Sets the length to zero; the memory stays.
    ///
    /// ```
    /// use jdb_alloc::fixed::FixedPool;
    ///
    /// let pool = FixedPool::new(&[(4096, 1)]).unwrap();
    /// let mut frame = pool.try_acquire(10).unwrap();
    /// frame.extend(b"old").unwrap();
    /// frame.clear(); // ready to read into
    /// assert!(frame.is_empty());
    /// ```
    #[inline]
    pub fn clear(&mut self) {
        self.frame.clear();
    }

    /// Shortens the frame to `len` bytes; does nothing if `len >= self.len()`.
    ///
    /// ```
    /// use jdb_alloc::fixed::FixedPool;
    ///
    /// let pool = FixedPool::new(&[(4096, 1)]).unwrap();
    /// let mut frame = pool.try_acquire(10).unwrap();
    /// frame.extend(b"header+body").unwrap();
    /// frame.truncate(6);
    /// assert_eq!(&frame[..], b"header");
    /// ```
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        self.frame.truncate(len);
    }

    /// Appends `data`.
    ///
    /// # Errors
    /// [`Error::Overflow`](crate::Error::Overflow) if it does not fit; the frame is unchanged.
    ///
    /// ```
    /// use jdb_alloc::fixed::FixedPool;
    ///
    /// let pool = FixedPool::new(&[(4096, 1)]).unwrap();
    /// let mut frame = pool.try_acquire(10).unwrap();
    /// frame.extend(b"abc").unwrap();
    /// assert!(frame.extend(&[0; 4096]).is_err());
    /// assert_eq!(&frame[..], b"abc");
    /// ```
    #[inline]
    pub fn extend(&mut self, data: &[u8]) -> Result<()> {
        self.frame.extend(data)
    }

    /// Sets the length without touching the memory.
    ///
    /// # Safety
    /// `len <= self.cap()`, and bytes `[0, len)` must be initialised.
    ///
    /// ```
    /// use jdb_alloc::fixed::FixedPool;
    ///
    /// let pool = FixedPool::new(&[(4096, 1)]).unwrap();
    /// let mut frame = pool.try_acquire(10).unwrap();
    /// frame.extend(&[1; 8]).unwrap();
    /// frame.truncate(2);
    /// // SAFETY: 8 <= cap, and bytes [0, 8) were written by `extend`.
    /// unsafe { frame.set_len(8) };
    /// assert_eq!(&frame[..], &[1; 8]);
    /// ```
    #[inline]
    pub unsafe fn set_len(&mut self, len: usize) {
        // SAFETY: the caller's duty is `Frame::set_len`'s.
        unsafe { self.frame.set_len(len) }
    }
}

impl Deref for FixedFrame {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        &self.frame
    }
}

impl DerefMut for FixedFrame {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.frame
    }
}

impl AsRef<[u8]> for FixedFrame {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl AsMut<[u8]> for FixedFrame {
    #[inline]
    fn as_mut(&mut self) -> &mut [u8] {
        self
    }
}

impl fmt::Debug for FixedFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedFrame")
            .field("frame", &*self.frame)
            .field("status", &self.status())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    /// Each status names its cause, and every one that falls back says so and how to avoid it.
    #[test]
    fn fixed_status_display_names_cause_and_remedy() {
        use super::FixedStatus::{self, *};

        let all: [(FixedStatus, &[&str]); 14] = [
            (Registered, &["registered", "READ_FIXED"]),
            (NoRuntime, &["no compio runtime", "inside the runtime"]),
            (NotIoUring, &["not io_uring", "io-uring driver"]),
            (TableBusy, &["EBUSY", "runtime of its own"]),
            (
                TableFull,
                &["table of 1024 slots", "no room", "drop arenas"],
            ),
            (FrameTooLarge, &["1 GiB", "smaller frames"]),
            (
                Refused(libc_errno::NOMEM),
                &["ENOMEM", "ulimit -l", "CAP_IPC_LOCK"],
            ),
            (Refused(libc_errno::INVAL), &["EINVAL", "5.19"]),
            (
                Refused(libc_errno::FAULT),
                &["refused by the kernel", "Bad address"],
            ),
            (
                Refused(libc_errno::AGAIN),
                &["refused by the kernel", "try again"],
            ),
            (Refused(0), &["without an error number", "try again"]),
            (RingClosed, &["has been dropped", "live runtime"]),
            (OtherRuntime, &["another runtime", "that registered it"]),
            (
                ThreadExiting,
                &["thread is exiting", "thread-local destructor"],
            ),
        ];
        let mut texts = std::collections::HashSet::new();
        for (status, words) in all {
            let text = status.to_string();
            assert!(!text.contains("os error 0"), "{status:?}: {text:?}");
            for word in words {
                assert!(text.contains(word), "{status:?}: {text:?} lacks {word:?}");
            }
            assert_eq!(
                text.contains("plain reads and writes"),
                status != Registered,
                "{status:?}: {text:?}"
            );
            assert!(texts.insert(text), "{status:?} reads like another status");
        }
    }

    /// The errno values the test above names.
    mod libc_errno {
        use rustix::io::Errno;

        pub(super) const NOMEM: i32 = Errno::NOMEM.raw_os_error();
        pub(super) const INVAL: i32 = Errno::INVAL.raw_os_error();
        pub(super) const FAULT: i32 = Errno::FAULT.raw_os_error();
        pub(super) const AGAIN: i32 = Errno::AGAIN.raw_os_error();
    }

    /// A fixed frame's operation is `READ_FIXED` / `WRITE_FIXED` on the ring it was registered
    /// with, and plain `READ` / `WRITE` on any other: the test for each compio version.
    macro_rules! opcodes_test {
        ($name:ident, $compio:ident, $fixed:ident) => {
            #[test]
            fn $name() {
                use io_uring::opcode;

                use super::{op::IoOp, $fixed};
                use crate::{AlignedBuf, PAGE_SIZE};

                let file = std::fs::File::open("/dev/null").unwrap();
                let fd = std::os::fd::AsFd::as_fd(&file);
                let first = $compio::runtime::Runtime::new().unwrap();
                let (mut frames, ring) = first.block_on(async {
                    let arena = AlignedBuf::zeroed(4 * PAGE_SIZE).unwrap();
                    let frames = $fixed::register(arena, PAGE_SIZE).unwrap();
                    (frames, $fixed::current_ring().unwrap())
                });
                let code = |frame: super::FixedFrame, ring, write| {
                    let range = if write {
                        0..frame.len()
                    } else {
                        0..frame.cap()
                    };
                    let mut op = IoOp::new(fd, frame, range, Some(ring), 0, write);
                    let code = op.entry(true).get_opcode();
                    (code, op.into_memory(&Ok(0)))
                };
                let (read, frame) =
                    first.block_on(async { code(frames.next().unwrap(), ring.clone(), false) });
                assert_eq!(read, u32::from(opcode::ReadFixed::CODE));
                let (write, frame) = first.block_on(async { code(frame, ring, true) });
                assert_eq!(write, u32::from(opcode::WriteFixed::CODE));

                let second = $compio::runtime::Runtime::new().unwrap();
                second.block_on(async {
                    let other = $fixed::current_ring().unwrap();
                    let (read, frame) = code(frame, other.clone(), false);
                    assert_eq!(read, u32::from(opcode::Read::CODE));
                    let (write, _) = code(frame, other, true);
                    assert_eq!(write, u32::from(opcode::Write::CODE));
                });
            }
        };
    }

    #[cfg(feature = "compio-17")]
    opcodes_test!(
        fixed_opcodes_only_on_the_registering_ring_17,
        compio,
        compio17
    );
    #[cfg(feature = "compio-19")]
    opcodes_test!(
        fixed_opcodes_only_on_the_registering_ring_19,
        compio_19,
        compio19
    );
    #[cfg(feature = "compio-20")]
    opcodes_test!(
        fixed_opcodes_only_on_the_registering_ring_20,
        compio_20,
        compio20
    );
}
