//! [`Compio`](super::Compio) for one compio version, written once: the versions differ only in
//! the crates they name.

/// Implements [`Compio`](super::Compio) for the marker type `$marker` with compio-fs crate
/// `$fs`, compio-io crate `$io`, compio-buf crate `$buf` (whose trait `$slice` has `slice`:
/// `IoBuf` before 0.9, `IoBufExt` from 0.9), `IoBufMut`'s method `$uninit` for a buffer's whole
/// capacity and the trait method `$set_init` that raises its length (`SetBufInit::set_buf_init`
/// in 0.7, `advance_to` from 0.8), and the fixed-frame functions of module `$fixed`; the
/// runtime crate `$rt` (for `spawn`); the `FileExt` trait of that version for compio's `File` and for `DirectFile`, and its
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
        runtime: $rt:ident $(,)?
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
                let $buf::BufResult(res, slice) = file.read_at(buf.slice(range), pos).await;
                (res, slice.into_inner())
            }

            async fn write_buf(
                mut file: &$fs::File,
                buf: $crate::AlignedBuf,
                range: std::ops::Range<usize>,
                pos: u64,
            ) -> (std::io::Result<usize>, $crate::AlignedBuf) {
                use $buf::{IntoInner, $slice};
                use $io::AsyncWriteAt;
                let $buf::BufResult(res, slice) = file.write_at(buf.slice(range), pos).await;
                (res, slice.into_inner())
            }

            async fn read_frame(
                file: &$fs::File,
                frame: $crate::Frame,
                pos: u64,
            ) -> (std::io::Result<usize>, $crate::Frame) {
                read_owned(file, frame, pos).await
            }

            async fn write_frame(
                file: &$fs::File,
                frame: $crate::Frame,
                pos: u64,
            ) -> (std::io::Result<usize>, $crate::Frame) {
                write_owned(file, frame, pos).await
            }

            async fn read_raw(
                file: &$fs::File,
                raw: $crate::RawIoBuf,
                pos: u64,
            ) -> (std::io::Result<usize>, $crate::RawIoBuf) {
                read_owned(file, raw, pos).await
            }

            async fn write_raw(
                file: &$fs::File,
                raw: $crate::RawIoBuf,
                pos: u64,
            ) -> (std::io::Result<usize>, $crate::RawIoBuf) {
                write_owned(file, raw, pos).await
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
    };
}

pub(super) use compio_version;
