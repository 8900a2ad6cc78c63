//! Fixed frames on compio 0.20 runtimes (compio-driver 0.13, compio-buf 0.9).
//!
//! ```
//! use compio_20 as compio; // in your crate: plain `compio` 0.20
//! use compio::{fs::OpenOptions, runtime::Runtime};
//! use jdb_alloc::{AlignedBuf, fixed::{FixedStatus, compio20}};
//!
//! Runtime::new().unwrap().block_on(async {
//!     let path = std::env::temp_dir().join(format!("jdb_alloc_doc_fixed20_{}", std::process::id()));
//!     let file = OpenOptions::new().read(true).write(true).create(true).open(&path).await.unwrap();
//!     // 16 frames of 64 KiB in one arena, registered with this runtime's ring.
//!     let arena = AlignedBuf::zeroed(16 << 16).unwrap();
//!     let mut frames = compio20::register(arena, 1 << 16).unwrap();
//!     // `Registered`, or why not (then the same calls do plain I/O).
//!     println!("{:?}", frames.status());
//!
//!     let mut frame = frames.next().unwrap();
//!     frame.fill(7);
//!     let compio::BufResult(n, frame) = compio20::write_fixed_at(&file, frame, 0).await;
//!     assert_eq!(n.unwrap(), 1 << 16);
//!     let compio::BufResult(n, frame) = compio20::read_fixed_at(&file, frame, 0).await;
//!     assert_eq!(n.unwrap(), 1 << 16);
//!     assert!(frame.iter().all(|&b| b == 7));
//!     # drop(file);
//!     # std::fs::remove_file(&path).unwrap();
//! });
//! ```

use std::{os::fd::AsFd, sync::Arc};

use compio_buf_09::BufResult;
use compio_driver_13::{DriverType, ToSharedFd};
use compio_runtime_13::Runtime;

use super::{
    FixedFrame, FixedFrames, FixedStatus, Ring,
    op::{IoOp, OpMemory},
};
use crate::{AlignedBuf, Result};

super::api::version_api! {
    version: "0.20",
    module: "compio20",
    doc_crate: "compio_20",
    runtime: compio_runtime_13,
}

super::api::driver_op! {
    version: "0.20",
    driver: compio_driver_13,
}
