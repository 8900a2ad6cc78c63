//! Fixed frames on compio 0.17 runtimes (compio-driver 0.10, compio-buf 0.7).
//!
//! ```
//! use compio::{fs::OpenOptions, runtime::Runtime};
//! use jdb_alloc::{AlignedBuf, fixed::compio17};
//!
//! Runtime::new().unwrap().block_on(async {
//!     let path = std::env::temp_dir().join(format!("jdb_alloc_doc_fixed17_{}", std::process::id()));
//!     let file = OpenOptions::new().read(true).write(true).create(true).open(&path).await.unwrap();
//!     // 16 frames of 64 KiB in one arena, registered with this runtime's ring.
//!     let arena = AlignedBuf::zeroed(16 << 16).unwrap();
//!     let mut frames = compio17::register(arena, 1 << 16).unwrap();
//!     // `Registered`, or why not (then the same calls do plain I/O).
//!     println!("{:?}", frames.status());
//!
//!     let mut frame = frames.next().unwrap();
//!     frame.fill(7);
//!     let compio::BufResult(n, frame) = compio17::write_fixed_at(&file, frame, 0).await;
//!     assert_eq!(n.unwrap(), 1 << 16);
//!     let compio::BufResult(n, frame) = compio17::read_fixed_at(&file, frame, 0).await;
//!     assert_eq!(n.unwrap(), 1 << 16);
//!     assert!(frame.iter().all(|&b| b == 7));
//!     # drop(file);
//!     # std::fs::remove_file(&path).unwrap();
//! });
//! ```

use std::{os::fd::AsFd, pin::Pin, sync::Arc};

use compio_buf_07::{BufResult, SetBufInit};
use compio_driver_10::{DriverType, OpCode, OpEntry, SharedFd, ToSharedFd};
use compio_runtime_10::Runtime;

use super::{FixedFrame, FixedFrames, FixedOp, FixedStatus, Ring};
use crate::{AlignedBuf, Result};

/// Registers `arena` with the current compio 0.17 runtime's ring and splits its whole capacity
/// into fixed frames of `chunk` bytes, as [`AlignedBuf::into_frames`] does.
///
/// Registration failing is not an error: the frames then do plain I/O, and
/// [`FixedFrames::status`] says why. Outside a runtime the status is
/// [`FixedStatus::NoRuntime`].
///
/// # Errors
/// [`Error::InvalidChunk`](crate::Error::InvalidChunk) as [`AlignedBuf::into_frames`].
///
/// ```
/// use jdb_alloc::{AlignedBuf, PAGE_SIZE, fixed::{FixedStatus, compio17}};
///
/// // Outside a runtime nothing is registered; the frames still work, with plain I/O.
/// let frames = compio17::register(AlignedBuf::zeroed(1 << 20).unwrap(), 16 * PAGE_SIZE).unwrap();
/// assert_eq!((frames.len(), frames.status()), (16, FixedStatus::NoRuntime));
/// assert!(compio17::register(AlignedBuf::page().unwrap(), 1000).is_err());
/// ```
pub fn register(arena: AlignedBuf, chunk: usize) -> Result<FixedFrames> {
    super::register(arena, chunk, current_ring())
}

/// Whether fixed operations on `frame` on the current runtime use its registration:
/// [`FixedStatus::OtherRuntime`] if it was registered with another runtime's ring (or no
/// runtime is current).
///
/// It only looks: unlike `register` and the operations, it never sets this crate up on the
/// runtime, so it may be called anywhere, even from a `Drop` while the runtime shuts down.
pub fn status(frame: &FixedFrame) -> FixedStatus {
    frame.status_on(known_ring())
}

/// Reads into `frame` from `fd` at `pos` (a compio `File`, or anything compio shares a
/// descriptor of), as `read_at` does: into the whole capacity, then the frame's length set
/// through `SetBufInit::set_buf_init` with the bytes read. `READ_FIXED` when `frame` is
/// registered with the current runtime's ring, a plain read otherwise.
///
/// Dropping the future before it completes leaves the frame with compio until the kernel is
/// done with it.
///
/// # Panics
/// Outside a compio runtime, as compio's own operations.
pub async fn read_fixed_at<F: AsFd + 'static>(
    fd: &impl ToSharedFd<F>,
    frame: FixedFrame,
    pos: u64,
) -> BufResult<usize, FixedFrame> {
    let BufResult(res, mut frame) = submit(fd, frame, pos, false).await;
    if let Ok(n) = res {
        // SAFETY: the kernel wrote bytes `[0, n)` of the frame, and `n <= cap`.
        unsafe { SetBufInit::set_buf_init(&mut frame, n) };
    }
    BufResult(res, frame)
}

/// Writes the frame's initialised bytes to `fd` at `pos`, as `write_at` does. `WRITE_FIXED`
/// when `frame` is registered with the current runtime's ring, a plain write otherwise.
///
/// # Panics
/// Outside a compio runtime, as compio's own operations.
pub async fn write_fixed_at<F: AsFd + 'static>(
    fd: &impl ToSharedFd<F>,
    frame: FixedFrame,
    pos: u64,
) -> BufResult<usize, FixedFrame> {
    submit(fd, frame, pos, true).await
}

async fn submit<F: AsFd + 'static>(
    fd: &impl ToSharedFd<F>,
    frame: FixedFrame,
    pos: u64,
    write: bool,
) -> BufResult<usize, FixedFrame> {
    let ring = current_ring().expect("read_fixed_at/write_fixed_at: not in a compio runtime");
    let op = Op(FixedOp::new(fd.to_shared_fd(), frame, ring, pos, write));
    let BufResult(res, op) = compio_runtime_10::submit(op).await;
    BufResult(res, op.0.into_frame())
}

/// The current runtime's ring, or why fixed frames cannot be registered with it.
pub(super) fn current_ring() -> std::result::Result<Arc<Ring>, FixedStatus> {
    Runtime::try_with_current(|rt| {
        if rt.driver_type() != DriverType::IoUring {
            return Err(FixedStatus::NotIoUring);
        }
        let fd = std::os::fd::AsRawFd::as_raw_fd(rt);
        Ok(Ring::current(fd, |guard| rt.spawn(guard.hold()).detach()))
    })
    .unwrap_or(Err(FixedStatus::NoRuntime))
}

/// The current runtime's ring if this crate already uses it, or why there is none.
fn known_ring() -> std::result::Result<Arc<Ring>, FixedStatus> {
    Runtime::try_with_current(|rt| {
        Ring::known(std::os::fd::AsRawFd::as_raw_fd(rt)).ok_or(FixedStatus::OtherRuntime)
    })
    .unwrap_or(Err(FixedStatus::NoRuntime))
}

/// [`FixedOp`] as a compio 0.17 operation.
struct Op<F>(FixedOp<SharedFd<F>>);

impl<F: AsFd + 'static> OpCode for Op<F> {
    fn create_entry(self: Pin<&mut Self>) -> OpEntry {
        OpEntry::Submission(self.get_mut().0.entry())
    }

    unsafe fn set_result(self: Pin<&mut Self>, _: usize) {
        self.get_mut().0.done = true;
    }
}
