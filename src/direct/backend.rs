//! [`Compio`](super::Compio) for one compio version, written once: the versions differ only in
//! the crates they name.

/// Implements [`Compio`](super::Compio) for the marker type `$marker` with compio-fs crate
/// `$fs`, compio-io crate `$io`, compio-buf crate `$buf` (whose trait `$slice` has `slice`:
/// `IoBuf` before 0.9, `IoBufExt` from 0.9), `IoBufMut`'s method `$uninit` for a buffer's whole
/// capacity and the trait method `$set_init` that raises its length (`SetBufInit::set_buf_init`
/// in 0.7, `advance_to` from 0.8), and the fixed-frame functions of module `$fixed`; the
/// runtime crate `$rt` (for `spawn`) and its driver crate `$driver` (for [`runtime`]'s ring
/// settings), and for the examples the module's name `$module` and the name the tests give that
/// compio version's crate, `$compio`; the `FileExt` trait of that version for compio's `File` and for `DirectFile`, and its
/// `AsyncRead` for `Reader`.
macro_rules! compio_version {
    (
        marker: $marker:ident,
        fs: $fs:ident,
        io: $io:ident,
        buf: $buf:ident,
        slice: $slice:ident,
        uninit: $uninit:ident,
        set_init: $set_init_trait:ident :: $set_init:ident,
        fixed: $fixed:path,
        runtime: $rt:ident,
        driver: $driver:ident,
        module: $module:literal,
        compio: $compio:literal $(,)?
    ) => {
        impl $crate::direct::sealed::Sealed for $marker {}

        /// compio's `read_at` of a buffer taken whole (a frame, a view).
        async fn read_owned<B: $buf::IoBufMut>(
            file: &$fs::File,
            buf: B,
            pos: u64,
        ) -> (std::io::Result<usize>, B) {
            use $io::AsyncReadAt;
            let $buf::BufResult(res, buf) = file.read_at(buf, pos).await;
            (res, buf)
        }

        /// compio's `write_at` of a buffer taken whole.
        async fn write_owned<B: $buf::IoBuf>(
            mut file: &$fs::File,
            buf: B,
            pos: u64,
        ) -> (std::io::Result<usize>, B) {
            use $io::AsyncWriteAt;
            let $buf::BufResult(res, buf) = file.write_at(buf, pos).await;
            (res, buf)
        }

        impl $crate::direct::Compio for $marker {
            type File = $fs::File;
            type OpenOptions = $fs::OpenOptions;
            type BufResult<T, B> = $buf::BufResult<T, B>;

            fn buf_result<T, B>(res: std::io::Result<T>, buf: B) -> $buf::BufResult<T, B> {
                $buf::BufResult(res, buf)
            }

            fn options(create: bool) -> $fs::OpenOptions {
                let mut options = $fs::OpenOptions::new();
                options
                    .read(true)
                    .write(true)
                    .create(create)
                    .truncate(create);
                options
            }

            async fn open(
                options: &$fs::OpenOptions,
                path: &std::path::Path,
            ) -> std::io::Result<$fs::File> {
                options.open(path).await
            }

            async fn read_buf(
                file: &$fs::File,
                buf: $crate::AlignedBuf,
                range: std::ops::Range<usize>,
                pos: u64,
            ) -> (std::io::Result<usize>, $crate::AlignedBuf) {
                use $buf::{IntoInner, $slice};
                use $io::AsyncReadAt;
                // The read raises the length to `range.start + n`: bytes before `range.start`
                // must already be initialised.
                assert!(
                    range.start <= buf.len(),
                    "read into [{}, {}) of a buffer of {} initialised bytes",
                    range.start,
                    range.end,
                    buf.len()
                );
                use $fixed as fixed;
                match fixed::own_op(file, buf, range.clone(), pos, false) {
                    Ok(op) => op.await,
                    Err(buf) => {
                        let $buf::BufResult(res, slice) = file.read_at(buf.slice(range), pos).await;
                        (res, slice.into_inner())
                    }
                }
            }

            async fn write_buf(
                mut file: &$fs::File,
                buf: $crate::AlignedBuf,
                range: std::ops::Range<usize>,
                pos: u64,
            ) -> (std::io::Result<usize>, $crate::AlignedBuf) {
                use $buf::{IntoInner, $slice};
                use $fixed as fixed;
                use $io::AsyncWriteAt;
                match fixed::own_op(file, buf, range.clone(), pos, true) {
                    Ok(op) => op.await,
                    Err(buf) => {
                        let $buf::BufResult(res, slice) =
                            file.write_at(buf.slice(range), pos).await;
                        (res, slice.into_inner())
                    }
                }
            }

            async fn read_frame(
                file: &$fs::File,
                frame: $crate::Frame,
                pos: u64,
            ) -> (std::io::Result<usize>, $crate::Frame) {
                use $fixed as fixed;
                let range = 0..frame.cap();
                match fixed::own_op(file, frame, range, pos, false) {
                    Ok(op) => op.await,
                    Err(frame) => read_owned(file, frame, pos).await,
                }
            }

            async fn write_frame(
                file: &$fs::File,
                frame: $crate::Frame,
                pos: u64,
            ) -> (std::io::Result<usize>, $crate::Frame) {
                use $fixed as fixed;
                let range = 0..frame.len();
                match fixed::own_op(file, frame, range, pos, true) {
                    Ok(op) => op.await,
                    Err(frame) => write_owned(file, frame, pos).await,
                }
            }

            async fn read_raw(
                file: &$fs::File,
                raw: $crate::RawIoBuf,
                pos: u64,
            ) -> (std::io::Result<usize>, $crate::RawIoBuf) {
                use $fixed as fixed;
                let range = 0..raw.cap();
                match fixed::own_op(file, raw, range, pos, false) {
                    Ok(op) => op.await,
                    Err(raw) => read_owned(file, raw, pos).await,
                }
            }

            async fn write_raw(
                file: &$fs::File,
                raw: $crate::RawIoBuf,
                pos: u64,
            ) -> (std::io::Result<usize>, $crate::RawIoBuf) {
                use $fixed as fixed;
                let range = 0..raw.len();
                match fixed::own_op(file, raw, range, pos, true) {
                    Ok(op) => op.await,
                    Err(raw) => write_owned(file, raw, pos).await,
                }
            }

            async fn read_fixed(
                file: &$fs::File,
                frame: $crate::fixed::FixedFrame,
                pos: u64,
            ) -> (std::io::Result<usize>, $crate::fixed::FixedFrame) {
                use $fixed as fixed;
                let $buf::BufResult(res, frame) = fixed::read_fixed_at(file, frame, pos).await;
                (res, frame)
            }

            async fn write_fixed(
                file: &$fs::File,
                frame: $crate::fixed::FixedFrame,
                pos: u64,
            ) -> (std::io::Result<usize>, $crate::fixed::FixedFrame) {
                use $fixed as fixed;
                let $buf::BufResult(res, frame) = fixed::write_fixed_at(file, frame, pos).await;
                (res, frame)
            }

            fn spawn(future: impl std::future::Future<Output = ()> + 'static) {
                $rt::spawn(future).detach();
            }

            async fn sync(file: &$fs::File, data_only: bool) -> std::io::Result<()> {
                if data_only {
                    file.sync_data().await
                } else {
                    file.sync_all().await
                }
            }
        }

        /// Registered-buffer I/O as methods of the file, as tokio-uring has them: the
        /// functions of [`fixed`](crate::fixed) for this compio version. `READ_FIXED` /
        /// `WRITE_FIXED` when the frame is registered with the current runtime's ring, plain
        /// I/O otherwise.
        #[allow(async_fn_in_trait)]
        pub trait FileExt {
            /// Reads into `frame`'s whole capacity at `pos`; its length becomes at least the
            /// bytes read.
            async fn read_fixed_at(
                &self,
                frame: $crate::fixed::FixedFrame,
                pos: u64,
            ) -> $buf::BufResult<usize, $crate::fixed::FixedFrame>;

            /// Writes `frame`'s initialised bytes at `pos`.
            async fn write_fixed_at(
                &self,
                frame: $crate::fixed::FixedFrame,
                pos: u64,
            ) -> $buf::BufResult<usize, $crate::fixed::FixedFrame>;
        }

        /// As the free functions: no alignment check.
        impl FileExt for $fs::File {
            async fn read_fixed_at(
                &self,
                frame: $crate::fixed::FixedFrame,
                pos: u64,
            ) -> $buf::BufResult<usize, $crate::fixed::FixedFrame> {
                use $fixed as fixed;
                fixed::read_fixed_at(self, frame, pos).await
            }

            async fn write_fixed_at(
                &self,
                frame: $crate::fixed::FixedFrame,
                pos: u64,
            ) -> $buf::BufResult<usize, $crate::fixed::FixedFrame> {
                use $fixed as fixed;
                fixed::write_fixed_at(self, frame, pos).await
            }
        }

        /// Checked: [`DirectFile::read_aligned_at`](crate::direct::DirectFile::read_aligned_at)
        /// and [`write_aligned_at`](crate::direct::DirectFile::write_aligned_at).
        impl FileExt for $crate::direct::DirectFile<$marker> {
            async fn read_fixed_at(
                &self,
                frame: $crate::fixed::FixedFrame,
                pos: u64,
            ) -> $buf::BufResult<usize, $crate::fixed::FixedFrame> {
                self.read_aligned_at(frame, pos).await
            }

            async fn write_fixed_at(
                &self,
                frame: $crate::fixed::FixedFrame,
                pos: u64,
            ) -> $buf::BufResult<usize, $crate::fixed::FixedFrame> {
                self.write_aligned_at(frame, pos).await
            }
        }

        /// compio's stream reads: the bytes of [`next_chunk`](crate::direct::Reader::next_chunk),
        /// copied into `buf` from its start (its length becomes at least the bytes copied, as
        /// the trait asks); `0` at the end of the file or for a buffer of no capacity.
        impl $io::AsyncRead for $crate::direct::Reader<'_, $marker> {
            async fn read<B: $buf::IoBufMut>(&mut self, mut buf: B) -> $buf::BufResult<usize, B> {
                // A supertrait of `IoBufMut` before compio-buf 0.9, an extension trait from 0.9.
                #[allow(unused_imports)]
                use $buf::$set_init_trait as _;
                let res = self.read_into(buf.$uninit()).await;
                if let Ok(n) = res {
                    // SAFETY: `read_into` wrote the first `n` bytes of the slice `$uninit`
                    // gave, which starts at the buffer's first byte and is no longer than its
                    // capacity.
                    unsafe { buf.$set_init(n) };
                }
                $buf::BufResult(res, buf)
            }
        }

        /// [`DirectFile`](crate::direct::DirectFile) on this compio version.
        pub type DirectFile = $crate::direct::DirectFile<$marker>;
        /// [`Appender`](crate::direct::Appender) on this compio version.
        pub type Appender = $crate::direct::Appender<$marker>;
        /// [`FinishError`](crate::direct::FinishError) on this compio version.
        pub type FinishError = $crate::direct::FinishError<$marker>;
        /// [`SharedAppender`](crate::direct::SharedAppender) on this compio version.
        pub type SharedAppender = $crate::direct::SharedAppender<$marker>;
        /// [`Reader`](crate::direct::Reader) on this compio version.
        pub type Reader<'a> = $crate::direct::Reader<'a, $marker>;
        /// [`Records`](crate::direct::Records) on this compio version.
        pub type Records<'a> = $crate::direct::Records<'a, $marker>;
        pub use $crate::direct::{
            AppenderOptions, EndReason, FRAME_HEADER, LogEnd, ReadManyOptions, ReadView,
            ReaderOptions, Recovered, TailMode, frame_header,
        };

        /// The io_uring settings [`runtime`] builds its ring with: compio's defaults, plus
        /// `IORING_SETUP_COOP_TASKRUN` (Linux 5.19), which fio's `io_uring` engine sets too, and
        /// `IORING_SETUP_TASKRUN_FLAG`, by which compio's driver sees completions waiting to be
        /// posted. Without them the kernel interrupts the running thread to post completions;
        /// with them it posts them when the runtime next enters the kernel, which a compio
        /// runtime does to wait for them anyway. For a runtime of your own:
        /// `RuntimeBuilder::new().with_proactor(proactor())`.
        ///
        /// ```
        #[doc = concat!("use ", $compio, " as compio; // in your crate: plain `compio`")]
        ///
        #[doc = concat!("let mut proactor = jdb_alloc::direct::", $module, "::proactor();")]
        /// proactor.capacity(256); // settings of your own on top
        /// let runtime = compio::runtime::RuntimeBuilder::new()
        ///     .with_proactor(proactor)
        ///     .build()?;
        /// assert_eq!(runtime.block_on(async { 1 + 1 }), 2);
        /// # std::io::Result::Ok(())
        /// ```
        pub fn proactor() -> $driver::ProactorBuilder {
            let mut builder = $driver::ProactorBuilder::new();
            builder.coop_taskrun(true).taskrun_flag(true);
            builder
        }

        /// A compio runtime for Direct I/O: its ring set up with [`proactor`], or compio's
        /// default runtime where the kernel refuses those settings (before Linux 5.19).
        ///
        /// On ext4 over a loop device on tmpfs, 1,000 random reads of 100 B-32 KiB at depth 32
        /// ([`read_many`](crate::direct::DirectFile::read_many)) took 0.87x the time they take
        /// on compio's default runtime (0.78-0.82x in a tighter loop); scans, appends and group
        /// commits ran alike, and so did everything on the disk, where the device sets the
        /// pace (benches/RESULTS.md, "The runtime").
        ///
        /// ```
        #[doc = concat!("use jdb_alloc::direct::", $module, "::{self, DirectFile};")]
        ///
        /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
        /// # std::fs::create_dir_all(&dir)?;
        #[doc = concat!("let path = dir.join(format!(\"runtime-", $module, "-{}.dat\", std::process::id()));")]
        /// std::fs::write(&path, b"hello, ring")?;
        #[doc = concat!("let runtime = ", $module, "::runtime()?;")]
        /// let bytes = runtime.block_on(async {
        ///     let file = DirectFile::open(&path).await?;
        ///     std::io::Result::Ok(file.read_exact_at(7, 4).await?.to_vec())
        /// })?;
        /// assert_eq!(bytes, b"ring");
        /// # std::fs::remove_file(&path)?;
        /// # std::io::Result::Ok(())
        /// ```
        ///
        /// # Errors
        /// compio's error building its default runtime.
        pub fn runtime() -> std::io::Result<$rt::Runtime> {
            $rt::RuntimeBuilder::new()
                .with_proactor(proactor())
                .build()
                .or_else(|_| $rt::Runtime::new())
        }
    };
}

pub(super) use compio_version;

#[cfg(all(test, any(feature = "compio-19", feature = "compio-20")))]
mod tests {
    /// The bytes of the buffers the tests read into and write from.
    const LEN: usize = 256 << 10;

    /// A pipe, `[read end, write end]`, with `flags` beside `O_CLOEXEC`.
    fn pipe(flags: i32) -> [i32; 2] {
        let mut fds = [0; 2];
        let flags = libc::O_CLOEXEC | flags;
        // SAFETY: `fds` has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), flags) }, 0);
        fds
    }

    /// Whether the recycler lends the block at `at` again: to one of the next 8 buffers of
    /// `LEN` bytes, or (`frames`) to one of the next 8 frames of that size.
    fn lent_again(at: usize, frames: bool) -> bool {
        use crate::{AlignedBuf, Frame};

        let next: Vec<AlignedBuf> = (0..8).map(|_| AlignedBuf::with_cap(LEN).unwrap()).collect();
        let next_frames: Vec<Frame> = (0..8)
            .filter(|_| frames)
            .flat_map(|_| AlignedBuf::with_cap(LEN).unwrap().into_frames(LEN).unwrap())
            .collect();
        next.iter().any(|b| b.as_ptr() as usize == at)
            || next_frames.iter().any(|f| f.as_ptr() as usize == at)
    }

    /// A read of a plain buffer still in flight when its runtime drops (here of a pipe nobody
    /// writes, which never completes): compio 0.19 and 0.20 drop the operation after closing
    /// the ring, and the buffer must not go back to the recycler, whose next buffer of that
    /// size the kernel could then write. The case for the compio crate `$compio`, whose
    /// version is `$marker`.
    macro_rules! in_flight_buffer_case {
        ($name:ident, $compio:ident, $marker:ty) => {
            #[test]
            fn $name() {
                use std::os::fd::FromRawFd;

                use self::{LEN, lent_again, pipe};
                use crate::{AlignedBuf, direct::Compio};

                let fds = pipe(0);
                let rt = $compio::runtime::Runtime::new().unwrap();
                let (buf_at, frame_at) = rt.block_on(async {
                    // SAFETY: the pipe's read end was just opened and nothing else owns it.
                    let file = unsafe { $compio::fs::File::from_raw_fd(fds[0]) };
                    let buf = AlignedBuf::with_cap(LEN).unwrap();
                    let frame = AlignedBuf::with_cap(LEN)
                        .unwrap()
                        .into_frames(LEN)
                        .unwrap()
                        .next()
                        .unwrap();
                    let at = (buf.as_ptr() as usize, frame.as_ptr() as usize);
                    let other = file.clone();
                    $compio::runtime::spawn(async move {
                        let _ = <$marker as Compio>::read_buf(&file, buf, 0..LEN, 0).await;
                        unreachable!("nothing is ever written to the pipe");
                    })
                    .detach();
                    $compio::runtime::spawn(async move {
                        let _ = <$marker as Compio>::read_frame(&other, frame, 0).await;
                        unreachable!("nothing is ever written to the pipe");
                    })
                    .detach();
                    // Tasks run in order: once this one ran, both reads were submitted.
                    $compio::runtime::spawn(async {}).await.unwrap();
                    at
                });
                drop(rt);
                assert!(
                    !lent_again(buf_at, true),
                    "the buffer read into was lent again"
                );
                assert!(
                    !lent_again(frame_at, true),
                    "the frame read into was lent again"
                );
                // SAFETY: the write end is open and owned by nothing else; closing it ends the
                // kernel's read, whose memory stays kept.
                unsafe { libc::close(fds[1]) };
            }
        };
    }

    /// As `in_flight_buffer_case`, for a write of a plain buffer to a full pipe nobody reads:
    /// the kernel would send a freed buffer's next owner's bytes.
    macro_rules! in_flight_write_case {
        ($name:ident, $compio:ident, $marker:ty) => {
            #[test]
            fn $name() {
                use std::os::fd::FromRawFd;

                use self::{LEN, lent_again, pipe};
                use crate::{AlignedBuf, direct::Compio};

                let fds = pipe(libc::O_NONBLOCK);
                let page = [0u8; 4096];
                // SAFETY: the write end is open; each write sends bytes of a live local.
                while unsafe { libc::write(fds[1], page.as_ptr().cast(), page.len()) } > 0 {}
                // Blocking again, so that io_uring waits for room instead of failing at once.
                // SAFETY: the write end is open; F_SETFL takes an int of flags.
                assert_eq!(unsafe { libc::fcntl(fds[1], libc::F_SETFL, 0) }, 0);
                let rt = $compio::runtime::Runtime::new().unwrap();
                let at = rt.block_on(async {
                    // SAFETY: the pipe's write end was just opened and nothing else owns it.
                    let file = unsafe { $compio::fs::File::from_raw_fd(fds[1]) };
                    let buf = AlignedBuf::zeroed(LEN).unwrap();
                    let at = buf.as_ptr() as usize;
                    $compio::runtime::spawn(async move {
                        let _ = <$marker as Compio>::write_buf(&file, buf, 0..LEN, 0).await;
                        unreachable!("nothing ever reads the pipe");
                    })
                    .detach();
                    // Tasks run in order: once this one ran, the write was submitted.
                    $compio::runtime::spawn(async {}).await.unwrap();
                    at
                });
                drop(rt);
                assert!(
                    !lent_again(at, false),
                    "the buffer written from was lent again"
                );
                // SAFETY: the read end is open and owned by nothing else. (A write still in
                // flight then fails with EPIPE; Rust programs ignore SIGPIPE.)
                unsafe { libc::close(fds[0]) };
            }
        };
    }

    /// `settle` counts a plain buffer's read whose future was dropped (it did not before they
    /// were this crate's own operations): pending while the kernel holds the buffer, ready once
    /// compio reports the read's end (here its cancellation, which compio asks for when the
    /// future drops). The case for the compio crate `$compio`, whose version is `$marker`, and
    /// this crate's module `fixed::$fixed`.
    macro_rules! settle_plain_case {
        ($name:ident, $compio:ident, $marker:ty, $fixed:ident) => {
            #[test]
            fn $name() {
                use std::{
                    future::Future,
                    os::fd::FromRawFd,
                    pin::pin,
                    task::{Context, Poll, Waker},
                };

                use self::pipe;
                use crate::{AlignedBuf, direct::Compio, fixed::$fixed};

                let fds = pipe(0);
                let rt = $compio::runtime::Runtime::new().unwrap();
                rt.block_on(async {
                    // SAFETY: the pipe's read end was just opened and nothing else owns it.
                    let file = unsafe { $compio::fs::File::from_raw_fd(fds[0]) };
                    let buf = AlignedBuf::with_cap(4096).unwrap();
                    {
                        let mut read = pin!(<$marker as Compio>::read_buf(&file, buf, 0..4096, 0));
                        std::future::poll_fn(|cx| {
                            assert!(read.as_mut().poll(cx).is_pending(), "nothing to read yet");
                            Poll::Ready(())
                        })
                        .await;
                    }
                    let mut settle = pin!($fixed::settle());
                    let mut cx = Context::from_waker(Waker::noop());
                    assert!(
                        settle.as_mut().poll(&mut cx).is_pending(),
                        "the read is in flight"
                    );
                    settle.await;
                });
                // SAFETY: the write end is open and owned by nothing else.
                unsafe { libc::close(fds[1]) };
            }
        };
    }

    /// A read in flight whose future outlives a runtime dropped while a panic unwound: compio
    /// then skips dropping its tasks (this crate's ring guard among them, so the ring reads as
    /// open), and the future, dropped later, drops compio's driver last, which closes the ring
    /// and drops the operation in flight. Its buffer must not go back to the recycler.
    macro_rules! panicking_runtime_case {
        ($name:ident, $compio:ident, $marker:ty) => {
            #[test]
            fn $name() {
                use std::{future::Future, os::fd::FromRawFd, pin::Pin, task::Poll};

                use self::{LEN, lent_again, pipe};
                use crate::{AlignedBuf, direct::Compio};

                type Read = Pin<Box<dyn Future<Output = ()>>>;
                let fds = pipe(0);
                let mut kept: Option<(Read, usize)> = None;
                let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let rt = $compio::runtime::Runtime::new().unwrap();
                    kept = Some(rt.block_on(async {
                        // SAFETY: the pipe's read end was just opened and nothing else owns it.
                        let file = unsafe { $compio::fs::File::from_raw_fd(fds[0]) };
                        let buf = AlignedBuf::with_cap(LEN).unwrap();
                        let at = buf.as_ptr() as usize;
                        let mut read: Read = Box::pin(async move {
                            let _ = <$marker as Compio>::read_buf(&file, buf, 0..LEN, 0).await;
                            unreachable!("nothing is ever written to the pipe");
                        });
                        std::future::poll_fn(|cx| {
                            assert!(read.as_mut().poll(cx).is_pending(), "nothing to read yet");
                            Poll::Ready(())
                        })
                        .await;
                        // Once another task ran, the read was submitted.
                        $compio::runtime::spawn(async {}).await.unwrap();
                        (read, at)
                    }));
                    let _dropped_while_unwinding = rt;
                    panic!("the runtime drops while this unwinds");
                }));
                assert!(unwound.is_err());
                let (read, at) = kept.take().unwrap();
                drop(read);
                assert!(
                    !lent_again(at, false),
                    "the buffer read into was lent again"
                );
                // SAFETY: the write end is open and owned by nothing else.
                unsafe { libc::close(fds[1]) };
            }
        };
    }

    #[cfg(feature = "compio-19")]
    panicking_runtime_case!(
        an_in_flight_buffer_outlives_a_runtime_dropped_while_panicking_19,
        compio_19,
        crate::direct::compio19::Compio19
    );
    #[cfg(feature = "compio-20")]
    panicking_runtime_case!(
        an_in_flight_buffer_outlives_a_runtime_dropped_while_panicking_20,
        compio_20,
        crate::direct::compio20::Compio20
    );

    #[cfg(feature = "compio-19")]
    settle_plain_case!(
        settle_waits_for_a_dropped_plain_read_19,
        compio_19,
        crate::direct::compio19::Compio19,
        compio19
    );
    #[cfg(feature = "compio-20")]
    settle_plain_case!(
        settle_waits_for_a_dropped_plain_read_20,
        compio_20,
        crate::direct::compio20::Compio20,
        compio20
    );

    #[cfg(feature = "compio-19")]
    in_flight_write_case!(
        a_buffer_written_in_flight_outlives_a_dropped_runtime_19,
        compio_19,
        crate::direct::compio19::Compio19
    );
    #[cfg(feature = "compio-20")]
    in_flight_write_case!(
        a_buffer_written_in_flight_outlives_a_dropped_runtime_20,
        compio_20,
        crate::direct::compio20::Compio20
    );

    #[cfg(feature = "compio-19")]
    in_flight_buffer_case!(
        an_in_flight_buffer_outlives_a_dropped_runtime_19,
        compio_19,
        crate::direct::compio19::Compio19
    );
    #[cfg(feature = "compio-20")]
    in_flight_buffer_case!(
        an_in_flight_buffer_outlives_a_dropped_runtime_20,
        compio_20,
        crate::direct::compio20::Compio20
    );
}
