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

use compio_buf_07::BufResult;
use compio_driver_10::{DriverType, OpCode, OpEntry, SharedFd, ToSharedFd};
use compio_runtime_10::Runtime;

use super::{
    FixedFrame, FixedFrames, FixedStatus, Ring,
    op::{IoOp, OpMemory},
};
use crate::{AlignedBuf, Result};

super::api::version_api! {
    version: "0.17",
    module: "compio17",
    doc_crate: "compio",
    runtime: compio_runtime_10,
}

/// [`IoOp`] as a compio 0.17 operation.
struct Op<F, M: OpMemory>(IoOp<SharedFd<F>, M>);

// compio-driver 0.10's `OpCode` is a safe trait, but the entry's memory must outlive the
// kernel's use as in the newer drivers' `unsafe impl` (see `driver_op`): it is the operation's
// own, which compio 0.17 never drops in flight (its driver's end leaks such operations).
impl<F: AsFd + 'static, M: OpMemory> OpCode for Op<F, M> {
    fn create_entry(self: Pin<&mut Self>) -> OpEntry {
        OpEntry::Submission(self.get_mut().0.entry(false))
    }

    /// Called for successful results only (compio-driver 0.10): an operation that failed
    /// counts as unfinished until compio drops or returns it.
    unsafe fn set_result(self: Pin<&mut Self>, _: usize) {
        self.get_mut().0.finish();
    }
}
