//! The public functions of [`compio17`](super::compio17) and [`compio19`](super::compio19),
//! written once: they differ only in the crates they name, which each version module imports
//! (`BufResult`, `Runtime`, `DriverType`, `ToSharedFd`, its `Op` wrapper) and passes in.

/// Expands to `register`, `status`, `read_fixed_at`, `write_fixed_at` and the ring lookups of
/// one compio version: `$version` is its number for the docs, `$module` the module's name for
/// the examples, `$runtime` its compio-runtime crate, and `$read_len` the buffer trait method
/// that records the bytes a read brought in (raising the length, as compio does after
/// `read_at`).
macro_rules! version_api {
    (
        version: $version:literal,
        module: $module:literal,
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

        /// Whether fixed operations on `frame` on the current runtime use its registration:
        /// [`FixedStatus::OtherRuntime`] if it was registered with another runtime's ring (or
        /// no runtime is current).
        ///
        /// It only looks: unlike `register` and the operations, it never sets this crate up on
        /// the runtime, so it may be called anywhere, even from a `Drop` while the runtime
        /// shuts down.
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
            "Outside a compio runtime, as compio's own operations.",
        )]
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

        /// Writes the frame's initialised bytes to `fd` at `pos`, as `write_at` does.
        /// `WRITE_FIXED` when `frame` is registered with the current runtime's ring, a plain
        /// write otherwise.
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
            let ring =
                current_ring().expect("read_fixed_at/write_fixed_at: not in a compio runtime");
            let op = Op(FixedOp::new(fd.to_shared_fd(), frame, ring, pos, write));
            let BufResult(res, op) = $runtime::submit(op).await;
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
    };
}

pub(super) use version_api;
