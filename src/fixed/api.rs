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
/// `compio`), and `$runtime` its compio-runtime crate.
macro_rules! version_api {
    (
        version: $version:literal,
        module: $module:literal,
        doc_crate: $doc_crate:literal,
        runtime: $runtime:ident $(,)?
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
             raised (never lowered) to the bytes read. `READ_FIXED` when `frame` is registered \
             with the current runtime's ring, a plain read otherwise.\n\n",
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
            let range = 0..frame.cap();
            submit(fd, frame, range, pos, false).await
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
            let range = 0..frame.len();
            submit(fd, frame, range, pos, true).await
        }

        /// A fixed frame's operation, on the current runtime's ring.
        async fn submit<F: AsFd + 'static>(
            fd: &impl ToSharedFd<F>,
            frame: FixedFrame,
            range: std::ops::Range<usize>,
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
            let (res, frame) = run(fd, frame, range, ring, pos, write).await;
            BufResult(res, frame)
        }

        /// A read into (or a write from) bytes `range` of `memory`, one of this crate's
        /// buffers, as this crate's own operation when the current runtime's driver is
        /// io_uring (also from a thread-local destructor): a runtime dropped first then cannot
        /// free the memory under the kernel (see `IoOp`). `Err(memory)` back when the driver
        /// is another, or no runtime is current, for compio's own `read_at` / `write_at`.
        ///
        /// A read needs `range.start` within the memory's length and raises the length to the
        /// end of the bytes read; a write needs `range` within the length.
        pub(crate) fn own_op<F: AsFd + 'static, M: OpMemory>(
            fd: &impl ToSharedFd<F>,
            memory: M,
            range: std::ops::Range<usize>,
            pos: u64,
            write: bool,
        ) -> std::result::Result<
            impl std::future::Future<Output = (std::io::Result<usize>, M)>,
            M,
        > {
            let ring = match current_ring() {
                Ok(ring) => Some(ring),
                Err(FixedStatus::ThreadExiting) => None,
                Err(_) => return Err(memory),
            };
            Ok(run(fd, memory, range, ring, pos, write))
        }

        /// Runs [`IoOp`] on the current runtime: compio submits it and returns it with its
        /// result.
        fn run<F: AsFd + 'static, M: OpMemory, S: ToSharedFd<F>>(
            fd: &S,
            memory: M,
            range: std::ops::Range<usize>,
            ring: Option<Arc<Ring>>,
            pos: u64,
            write: bool,
        ) -> impl std::future::Future<Output = (std::io::Result<usize>, M)> + use<F, M, S> {
            let op = Op(IoOp::new(fd.to_shared_fd(), memory, range, ring, pos, write));
            async move {
                let BufResult(res, op) = $runtime::submit(op).await;
                let memory = op.0.into_memory(&res);
                (res, memory)
            }
        }

        #[doc = concat!(
            "Waits until compio has reported the result of every `read_fixed_at` / \
             `write_fixed_at` started on the current runtime, and of every read and write of \
             this version's `DirectFile` and appenders (frames and plain buffers alike; not \
             those started from a thread-local destructor), or dropped it, also those whose \
             futures were dropped (a lost `select!`, a timeout): the kernel is then done with \
             their memory, which is freed, or waits in futures still alive. Returns at once if \
             there are none, or outside a runtime. (compio 0.17 reports successful results \
             only: a failed operation whose future is alive and not polled again keeps it \
             waiting.)\n\n",
            "A dropped operation may not have reached the kernel yet; compio submits it, and \
             cancels it, when the runtime next runs. Dropping the runtime before then leaves \
             this crate unable to tell whether the kernel still uses the memory, so it keeps \
             it (a frame with its arena) for the life of the process. Settle first: \
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

/// Defines `Op`, [`IoOp`](super::IoOp) as an operation of `$driver` (compio-driver 0.12
/// or 0.13, whose `OpCode` is the same `unsafe trait` with a `Control` type), for `$version`.
#[cfg(any(feature = "compio-19", feature = "compio-20"))]
macro_rules! driver_op {
    (version: $version:literal, driver: $driver:ident $(,)?) => {
        #[doc = concat!("[`IoOp`] as a compio ", $version, " operation.")]
        struct Op<F, M: OpMemory>(IoOp<$driver::SharedFd<F>, M>);

        // SAFETY: the entry points into bytes of the memory the operation holds until it is
        // dropped (checked in bounds when it was made): an `OpMemory`, which does not move with
        // the operation, a block this crate frees only when its owner drops or, for a
        // `RawIoBuf`, memory its creator promised to keep alive and untouched while the view is
        // used. It names the descriptor its `SharedFd` keeps open; a fixed entry names the slot
        // registered for that frame's arena on this ring, which stays registered while the
        // frame lives. compio keeps the operation until the kernel completes it and reports
        // every result; should it drop a submitted operation unreported (its driver's end,
        // after closing the ring), `IoOp`'s `Drop` keeps the memory for the life of the process
        // instead of freeing it.
        unsafe impl<F: AsFd + 'static, M: OpMemory> $driver::OpCode for Op<F, M> {
            type Control = ();

            fn create_entry(&mut self, _: &mut ()) -> $driver::OpEntry {
                $driver::OpEntry::Submission(self.0.entry(true))
            }

            fn call_blocking(&mut self, _: &mut ()) -> std::io::Result<usize> {
                self.0.call_blocking()
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
