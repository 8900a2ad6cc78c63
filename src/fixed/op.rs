//! This crate's own io_uring read and write, which compio runs like one of its operations: of
//! a fixed frame (`READ_FIXED` / `WRITE_FIXED` when it is registered with the ring) or of any
//! buffer this crate owns (plain `READ` / `WRITE`).
//!
//! Why not compio's `read_at` / `write_at`: compio 0.19 and 0.20 drop the operations still in
//! flight when their runtime drops, after closing the ring, and so free their buffers while the
//! kernel may still read or write them (closing a ring does not wait for its requests). A freed
//! [`AlignedBuf`] goes back to the recycler and is lent again, a [`Frame`] back to its arena: the
//! next owner's bytes would then change under it. [`IoOp`]'s `Drop` keeps such memory for the
//! life of the process instead, and `settle` counts the operation, so that a program that settles
//! before dropping its runtime keeps nothing.

use std::{ops::Range, os::fd::AsRawFd, sync::Arc};

use super::{FixedFrame, Ring};
use crate::{AlignedBuf, Frame, RawIoBuf};

/// Memory an [`IoOp`] reads into or writes from, which does not move when its owner does: a
/// block this crate owns, freed (or given back to its recycler, arena or pool) only when the
/// owner drops; or, for a [`RawIoBuf`], memory whose creator promised to keep it alive and
/// untouched while the view is used (its `unsafe` constructor's contract).
pub(crate) trait OpMemory: Send + Unpin + 'static {
    /// The first byte.
    fn base(&mut self) -> *mut u8;
    /// Bytes of memory.
    fn cap(&self) -> usize;
    /// Initialised bytes, from the first.
    fn len(&self) -> usize;
    /// Sets the length to `end` if it is longer than the current one.
    ///
    /// # Safety
    /// `end <= cap()`, and bytes `[len(), end)` are initialised.
    unsafe fn raise_len(&mut self, end: usize);
    /// The slot naming the memory in `ring`'s buffer table, if it is registered there.
    fn slot_on(&self, _ring: &Arc<Ring>) -> Option<u16> {
        None
    }
    /// Counts an operation, fixed or plain, in the memory's pool, if it has one.
    fn count_op(&self, _fixed: bool) {}
}

/// Implements [`OpMemory`] for a buffer type with inherent `as_mut_ptr`, `cap`, `len` and
/// `set_len` (whose contract is `len <= cap` and `[0, len)` initialised).
macro_rules! buffer_memory {
    ($($ty:ty),+) => {$(
        impl OpMemory for $ty {
            fn base(&mut self) -> *mut u8 {
                self.as_mut_ptr()
            }

            fn cap(&self) -> usize {
                <$ty>::cap(self)
            }

            fn len(&self) -> usize {
                <$ty>::len(self)
            }

            unsafe fn raise_len(&mut self, end: usize) {
                if end > <$ty>::len(self) {
                    // SAFETY: `end <= cap` and `[len, end)` is initialised (the caller's duty),
                    // `[0, len)` already was.
                    unsafe { self.set_len(end) }
                }
            }
        }
    )+};
}

buffer_memory!(AlignedBuf, Frame, RawIoBuf);

impl OpMemory for FixedFrame {
    fn base(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }

    fn cap(&self) -> usize {
        FixedFrame::cap(self)
    }

    fn len(&self) -> usize {
        FixedFrame::len(self)
    }

    unsafe fn raise_len(&mut self, end: usize) {
        if end > FixedFrame::len(self) {
            // SAFETY: as for the owned buffers above: the caller's duty and `[0, len)`.
            unsafe { self.set_len(end) }
        }
    }

    fn slot_on(&self, ring: &Arc<Ring>) -> Option<u16> {
        FixedFrame::slot_on(self, ring)
    }

    fn count_op(&self, fixed: bool) {
        if let Some(home) = &self.reg.home {
            home.count_op(fixed);
        }
    }
}

/// The largest length one read or write entry carries (`u32`), kept aligned.
fn entry_len(len: usize) -> u32 {
    len.min(u32::MAX as usize & !crate::ALIGN_MASK) as u32
}

/// A read into, or a write from, bytes `range` of `M` on one ring: `READ_FIXED` /
/// `WRITE_FIXED` with a slot, plain `READ` / `WRITE` without. `D` is the compio version's
/// shared descriptor, which keeps the file open while the operation lives.
pub(super) struct IoOp<D, M: OpMemory> {
    fd: D,
    /// Always `Some` until [`into_memory`](Self::into_memory).
    memory: Option<M>,
    range: Range<usize>,
    slot: Option<u16>,
    /// The ring the operation runs on; `None` when this crate cannot follow it (the thread is
    /// exiting, [`FixedStatus::ThreadExiting`](super::FixedStatus::ThreadExiting)): the
    /// operation is then plain.
    ring: Option<Arc<Ring>>,
    pos: u64,
    write: bool,
    /// Set when compio reports the operation's result (or drops it), which ends its count in
    /// the ring's `ops`. compio may drop an operation that did complete without reporting it
    /// (compio-driver 0.12 at runtime drop, 0.10 on errors): it then counts as unfinished, and
    /// its memory is kept rather than freed, which errs safe.
    done: bool,
    /// Set when compio asks for the submission entry: from then on the kernel may use the
    /// memory. Before, it cannot, and dropping the operation frees it whatever the ring's state.
    submitted: bool,
    /// Set with `submitted` when the compio version reports every result, errors included
    /// (compio-driver 0.12 and 0.13): an operation submitted and dropped unreported was then
    /// dropped in flight, which only the driver's end does.
    reports_all: bool,
}

impl<D: AsRawFd, M: OpMemory> IoOp<D, M> {
    /// The operation on `ring`, the current runtime's, on its thread. A read fills `range`
    /// (its start at most the memory's length, so that the bytes before it are initialised),
    /// a write sends it (within the length).
    #[track_caller]
    pub(super) fn new(
        fd: D,
        memory: M,
        range: Range<usize>,
        ring: Option<Arc<Ring>>,
        pos: u64,
        write: bool,
    ) -> Self {
        let (limit, kind) = if write {
            (memory.len(), "initialised bytes")
        } else {
            (memory.cap(), "bytes of capacity")
        };
        assert!(
            range.start <= range.end
                && range.end <= limit
                && (write || range.start <= memory.len()),
            "{} of bytes {range:?} of a buffer of {limit} {kind} and {} initialised",
            if write { "a write" } else { "a read" },
            memory.len()
        );
        if let Some(ring) = &ring {
            ring.collect_stale();
            ring.op_started();
        }
        let slot = ring.as_ref().and_then(|ring| memory.slot_on(ring));
        memory.count_op(slot.is_some());
        Self {
            fd,
            memory: Some(memory),
            range,
            slot,
            ring,
            pos,
            write,
            done: false,
            submitted: false,
            reports_all: false,
        }
    }

    /// The submission entry. It points into the memory, which does not move with the operation
    /// and lives as long as it, and names `fd`'s descriptor, open as long as it. `reports_all`:
    /// the compio version calls `set_result` for every result, errors included.
    pub(super) fn entry(&mut self, reports_all: bool) -> io_uring::squeue::Entry {
        use io_uring::{opcode, types::Fd};

        self.submitted = true;
        self.reports_all = reports_all;

        let fd = Fd(self.fd.as_raw_fd());
        let memory = self.memory.as_mut().expect("in flight with its memory");
        // In bounds: `new` checked `range` against the memory.
        let ptr = memory.base().wrapping_add(self.range.start);
        let len = entry_len(self.range.len());
        match (self.write, self.slot) {
            (false, Some(slot)) => opcode::ReadFixed::new(fd, ptr, len, slot)
                .offset(self.pos)
                .build(),
            (false, None) => opcode::Read::new(fd, ptr, len).offset(self.pos).build(),
            (true, Some(slot)) => opcode::WriteFixed::new(fd, ptr, len, slot)
                .offset(self.pos)
                .build(),
            (true, None) => opcode::Write::new(fd, ptr, len).offset(self.pos).build(),
        }
    }

    /// The operation as a system call on the calling thread, `pread` / `pwrite` of the same
    /// bytes: for a compio version that cannot tell whether the kernel has the entry's opcode
    /// (compio 0.19 and 0.20 ask through a small ring of their own, which a low memory-lock
    /// limit can refuse) and then runs the operation on its thread pool instead.
    #[cfg(any(feature = "compio-19", feature = "compio-20"))]
    pub(super) fn call_blocking(&mut self) -> std::io::Result<usize> {
        let fd = self.fd.as_raw_fd();
        let memory = self.memory.as_mut().expect("in flight with its memory");
        // In bounds: `new` checked `range` against the memory.
        let ptr = memory.base().wrapping_add(self.range.start);
        let len = entry_len(self.range.len()) as usize;
        let pos = libc::off_t::try_from(self.pos).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("offset {} is past the largest file offset", self.pos),
            )
        })?;
        let n = if self.write {
            // SAFETY: `[ptr, ptr + len)` lies within the memory's initialised bytes (`new`
            // checked a write's range against the length), which the operation holds, and
            // nothing writes while it runs; `fd` is open as long as the operation.
            unsafe { libc::pwrite(fd, ptr.cast(), len, pos) }
        } else {
            // SAFETY: `[ptr, ptr + len)` lies within the memory's capacity (checked in `new`),
            // which the operation holds and nothing else reads or writes while it runs; `fd`
            // is open as long as the operation.
            unsafe { libc::pread(fd, ptr.cast(), len, pos) }
        };
        usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
    }

    /// compio reports the operation's result: the kernel is done with the memory, so a
    /// `settle` need not wait for the operation (its future may live on unpolled).
    pub(super) fn finish(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            if let Some(ring) = &self.ring {
                ring.op_finished();
            }
        }
    }

    /// The memory back, once compio returned the operation with its result: for a read of `n`
    /// bytes, its length raised to cover them.
    pub(super) fn into_memory(mut self, res: &std::io::Result<usize>) -> M {
        let mut memory = self.memory.take().expect("the memory is taken once");
        if let (false, Ok(n)) = (self.write, res) {
            let end = self.range.start + (*n).min(self.range.len());
            // SAFETY: `end <= range.end <= cap` (checked in `new`), and the kernel wrote the
            // `n` bytes from `range.start`; the bytes before `range.start` were initialised.
            unsafe { memory.raise_len(end) };
        }
        memory
    }
}

/// Memory of operations dropped while the kernel may still use it (see
/// [`maybe_in_flight`](IoOp::maybe_in_flight)): kept for the life of the process, reachable, so
/// that leak checkers do not report it.
static KEPT: std::sync::Mutex<Vec<Box<dyn Send>>> = std::sync::Mutex::new(Vec::new());

impl<D, M: OpMemory> Drop for IoOp<D, M> {
    fn drop(&mut self) {
        if let Some(memory) = self.memory.take() {
            if self.maybe_in_flight() {
                KEPT.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Box::new(memory));
            } else {
                drop(memory);
            }
        }
        // Last, if compio did not report a result: a task waiting in `settle` finds the memory
        // already gone.
        if !self.done {
            if let Some(ring) = &self.ring {
                ring.op_finished();
            }
        }
    }
}

impl<D, M: OpMemory> IoOp<D, M> {
    /// Whether the kernel may still use the memory of this operation, being dropped: never
    /// when it was not submitted or its result was reported. Otherwise compio 0.19 and 0.20
    /// (`reports_all`) drop it unreported only at their driver's end, after closing the ring,
    /// when it may still be in flight. compio 0.17 (compio-driver 0.10) drops the operations
    /// that failed unreported, and never those in flight (its driver's end leaks them); should
    /// a later 0.10 release drop them as 0.12 does, this crate still takes an unfinished one
    /// for in flight without a ring to ask (the thread is exiting), once the ring closed (its
    /// guard task drops before the driver), or while a panic unwinds, which costs at most a
    /// leak of a failed operation's memory.
    fn maybe_in_flight(&self) -> bool {
        if self.done || !self.submitted {
            return false;
        }
        let open = self.ring.as_ref().is_some_and(|ring| ring.is_alive());
        self.reports_all || !open || std::thread::panicking()
    }
}
