//! The public functions of the version modules ([`compio17`](super::compio17),
//! `compio19`, `compio20`), written once: they differ only in the crates they name, which each
//! version module imports (`BufResult`, `Runtime`, `DriverType`, `ToSharedFd`, its `Op`
//! wrapper) and passes in; and the `Op` wrapper itself for the drivers whose `OpCode` has the
//! same shape (compio-driver 0.12 and 0.13).

/// The example of `read_fixed_at` and `write_fixed_at` (a write, then a read back) for the
/// compio crate `$doc_crate` (as this crate's tests name it) and the module `$module`.
macro_rules! fixed_io_example {
    ($doc_crate:literal, $module:literal) => {
        concat!(
            "```\n",
            "use ", $doc_crate, " as compio; // in your crate: plain `compio`\n",
            "use jdb_alloc::{AlignedBuf, PAGE_SIZE, fixed::", $module, "};\n\n",
            "let dir = std::path::Path::new(env!(\"CARGO_MANIFEST_DIR\")).join(\"target/doc-scratch\");\n",
            "std::fs::create_dir_all(&dir).unwrap();\n",
            "let path = dir.join(format!(\"fixed-", $module, "-{}-{}.bin\", line!(), std::process::id()));\n",
            "compio::runtime::Runtime::new().unwrap().block_on(async {\n",
            "    let file = compio::fs::OpenOptions::new().read(true).write(true).create(true)\n",
            "        .open(&path).await.unwrap();\n",
            "    let mut frames = ", $module, "::register(AlignedBuf::zeroed(4 * PAGE_SIZE).unwrap(), PAGE_SIZE).unwrap();\n",
            "    let mut frame = frames.next().unwrap();\n",
            "    frame.fill(3);\n",
            "    let compio::BufResult(n, mut frame) = ", $module, "::write_fixed_at(&file, frame, 0).await;\n",
            "    assert_eq!(n.unwrap(), PAGE_SIZE);\n",
            "    frame.clear(); // read into the whole capacity\n",
            "    let compio::BufResult(n, frame) = ", $module, "::read_fixed_at(&file, frame, 0).await;\n",
            "    assert_eq!((n.unwrap(), frame.len(), frame[0]), (PAGE_SIZE, PAGE_SIZE, 3));\n",
            "});\n",
            "std::fs::remove_file(&path).unwrap();\n",
            "```",
        )
    };
}

/// Expands to `register`, `status`, `read_fixed_at`, `write_fixed_at` and the ring lookups of
/// one compio version: `$version` is its number for the docs, `$module` the module's name for
/// the examples, `$doc_crate` the name this crate's tests give that compio (a user's is plain
/// `compio`), `$runtime` its compio-runtime crate, and `$read_len` the buffer trait method
/// that records the bytes a read brought in (raising the length, as compio does after
/// `read_at`).
macro_rules! version_api {
    (
        version: $version:literal,
        module: $module:literal,
        doc_crate: $doc_crate:literal,
        runtime: $runtime:ident,
        read_len: $trait_:ident :: $method:ident $(,)?
    ) => {
        pub use super::FixedPool;

        #[doc = concat!(
            "Registers `arena` with the current compio ", $version, " runtime's ring and splits \
             its whole capacity into fixed frames of `chunk` bytes, as \
             [`AlignedBuf::into_frames`] does.\n\n",
            "Registration failing is not an error: the frames then do plain I/O, and \
             [`FixedFrames::status`] says why. Outside a runtime the status is \
             [`FixedStatus::NoRuntime`].\n\n",
            "# Errors\n",
            "[`Error::InvalidChunk`](crate::Error::InvalidChunk) as [`AlignedBuf::into_frames`].\n\n",
            "```\n",
            "use jdb_alloc::{AlignedBuf, PAGE_SIZE, fixed::{FixedStatus, ", $module, "}};\n\n",
            "// Outside a runtime nothing is registered; the frames still work, with plain I/O.\n",
            "let frames = ", $module, "::register(AlignedBuf::zeroed(1 << 20).unwrap(), 16 * PAGE_SIZE).unwrap();\n",
            "assert_eq!((frames.len(), frames.status()), (16, FixedStatus::NoRuntime));\n",
            "assert!(", $module, "::register(AlignedBuf::page().unwrap(), 1000).is_err());\n",
            "```",
        )]
        pub fn register(arena: AlignedBuf, chunk: usize) -> Result<FixedFrames> {
            super::register(arena, chunk, current_ring(), None)
        }

        #[doc = concat!(
            "Whether fixed operations on `frame` on the current runtime use its registration: \
             [`FixedStatus::OtherRuntime`] if it was registered with another runtime's ring (or \
             no runtime is current).\n\n",
            "It only looks: unlike `register` and the operations, it never sets this crate up on \
             the runtime, so it may be called anywhere, even from a `Drop` while the runtime \
             shuts down.\n\n",
            "```\n",
            "use ", $doc_crate, " as compio; // in your crate: plain `compio`\n",
            "use jdb_alloc::{AlignedBuf, fixed::{FixedStatus, ", $module, "}};\n\n",
            "let rt = compio::runtime::Runtime::new().unwrap();\n",
            "let frame = rt.block_on(async {\n",
            "    ", $module, "::register(AlignedBuf::page().unwrap(), 4096).unwrap().next().unwrap()\n",
            "});\n",
            "// Another runtime cannot name the registration: plain I/O there.\n",
            "let other = compio::runtime::Runtime::new().unwrap();\n",
            "let here = other.block_on(async { ", $module, "::status(&frame) });\n",
            "assert!(matches!(here, FixedStatus::OtherRuntime | FixedStatus::Refused(_)));\n",
            "```",
        )]
        pub fn status(frame: &FixedFrame) -> FixedStatus {
            frame.status_on(known_ring())
        }

        #[doc = concat!(
            "Reads into `frame` from `fd` at `pos` (a compio `File`, or anything compio shares a \
             descriptor of), as `read_at` does: into the whole capacity, then the frame's length \
             set through `", stringify!($trait_), "::", stringify!($method), "` with the bytes \
             read. `READ_FIXED` when `frame` is registered with the current runtime's ring, a \
             plain read otherwise.\n\n",
            "Dropping the future before it completes leaves the frame with compio until the \
             kernel is done with it.\n\n",
            "# Panics\n",
            "Outside a compio runtime, as compio's own operations.\n\n",
        )]
        #[doc = super::api::fixed_io_example!($doc_crate, $module)]
        pub async fn read_fixed_at<F: AsFd + 'static>(
            fd: &impl ToSharedFd<F>,
            frame: FixedFrame,
            pos: u64,
        ) -> BufResult<usize, FixedFrame> {
            let BufResult(res, mut frame) = submit(fd, frame, pos, false).await;
            if let Ok(n) = res {
                // SAFETY: the kernel wrote bytes `[0, n)` of the frame, and `n <= cap`.
                unsafe { $trait_::$method(&mut frame, n) };
            }
            BufResult(res, frame)
        }

        #[doc = concat!(
            "Writes the frame's initialised bytes to `fd` at `pos`, as `write_at` does. \
             `WRITE_FIXED` when `frame` is registered with the current runtime's ring, a plain \
             write otherwise.\n\n",
            "# Panics\n",
            "Outside a compio runtime, as compio's own operations.\n\n",
        )]
        #[doc = super::api::fixed_io_example!($doc_crate, $module)]
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
            let ring = match current_ring() {
                Ok(ring) => Some(ring),
                // From a thread-local destructor: plain I/O, which compio still runs.
                Err(FixedStatus::ThreadExiting) => None,
                Err(FixedStatus::NoRuntime) => {
                    panic!("read_fixed_at/write_fixed_at: not in a compio runtime")
                }
                Err(why) => panic!("read_fixed_at/write_fixed_at: {why}"),
            };
            let op = Op(FixedOp::new(fd.to_shared_fd(), frame, ring, pos, write));
            let BufResult(res, op) = $runtime::submit(op).await;
            BufResult(res, op.0.into_frame())
        }

        #[doc = concat!(
            "Waits until compio has reported the result of every `read_fixed_at` / \
             `write_fixed_at` started on the current runtime, or dropped it, also those whose \
             futures were dropped (a lost `select!`, a timeout): the kernel is then done with \
             their frames, which are freed, or wait in futures still alive. Returns at once if \
             there are none, or outside a runtime. (compio 0.17 reports successful results \
             only: a failed operation whose future is alive and not polled again keeps it \
             waiting.)\n\n",
            "A dropped operation may not have reached the kernel yet; compio submits it, and \
             cancels it, when the runtime next runs. Dropping the runtime before then leaves \
             this crate unable to tell whether the kernel still uses the frame, so it keeps \
             it, and its arena, for the life of the process. Settle first: \
             `rt.block_on(", $module, "::settle()); drop(rt);`\n\n",
            "An operation that never completes (a read of a pipe nobody writes) keeps it \
             waiting: bound it with a timeout.\n\n",
            "```\n",
            "use std::{future::Future, pin::pin, task::{Context, Poll, Waker}};\n\n",
            "// Outside a runtime nothing was started: ready at once.\n",
            "let mut settle = pin!(jdb_alloc::fixed::", $module, "::settle());\n",
            "let mut cx = Context::from_waker(Waker::noop());\n",
            "assert_eq!(settle.as_mut().poll(&mut cx), Poll::Ready(()));\n",
            "```",
        )]
        pub async fn settle() {
            let ring = Runtime::try_with_current(|rt| {
                Ring::settling(std::os::fd::AsRawFd::as_raw_fd(rt), &rt.waker())
            });
            if let Ok(Some(ring)) = ring {
                ring.settled().await;
            }
        }

        /// The current runtime's ring, or why fixed frames cannot be registered with it.
        pub(super) fn current_ring() -> std::result::Result<Arc<Ring>, FixedStatus> {
            Runtime::try_with_current(|rt| {
                if rt.driver_type() != DriverType::IoUring {
                    return Err(FixedStatus::NotIoUring);
                }
                let fd = std::os::fd::AsRawFd::as_raw_fd(rt);
                Ring::current(fd, &rt.waker(), |guard| rt.spawn(guard.hold()).detach())
            })
            .unwrap_or(Err(FixedStatus::NoRuntime))
        }

        /// The current runtime's ring if this crate already uses it, or why there is none.
        fn known_ring() -> std::result::Result<Arc<Ring>, FixedStatus> {
            Runtime::try_with_current(|rt| {
                Ring::known(std::os::fd::AsRawFd::as_raw_fd(rt), &rt.waker())
            })
            .unwrap_or(Err(FixedStatus::NoRuntime))
        }
    };
}

/// Defines `Op`, [`FixedOp`](super::FixedOp) as an operation of `$driver` (compio-driver 0.12
/// or 0.13, whose `OpCode` is the same `unsafe trait` with a `Control` type), for `$version`.
#[cfg(any(feature = "compio-19", feature = "compio-20"))]
macro_rules! driver_op {
    (version: $version:literal, driver: $driver:ident $(,)?) => {
        #[doc = concat!("[`FixedOp`] as a compio ", $version, " operation.")]
        struct Op<F>(FixedOp<$driver::SharedFd<F>>);

        // SAFETY: the entry points into the frame's memory, which the operation owns (a heap
        // block that does not move with the operation) and holds until it is dropped, and names
        // the descriptor its `SharedFd` keeps open; a fixed entry names the slot registered for
        // that frame's arena on this ring, which stays registered while the frame lives. compio
        // keeps the operation until the kernel completes it; should it drop it before (after
        // closing the ring), `FixedOp`'s `Drop` keeps the frame for the life of the process
        // instead of freeing it.
        unsafe impl<F: AsFd + 'static> $driver::OpCode for Op<F> {
            type Control = ();

            fn create_entry(&mut self, _: &mut ()) -> $driver::OpEntry {
                $driver::OpEntry::Submission(self.0.entry())
            }

            unsafe fn set_result(
                &mut self,
                _: &mut (),
                _: &std::io::Result<usize>,
                _: &$driver::Extra,
            ) {
                self.0.finish();
            }
        }
    };
}

#[cfg(any(feature = "compio-19", feature = "compio-20"))]
pub(super) use driver_op;
pub(super) use fixed_io_example;
pub(super) use version_api;
