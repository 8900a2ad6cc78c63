//! [`DirectFile`]: a compio file opened for direct I/O that knows its alignment.

use std::{
    fmt, io,
    os::fd::AsFd,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use super::{Compio, DirectBuf, REQUEST_MAX, ReadView, buffer::Buffer, sys, view::Source};
use crate::{
    ALIGNMENT, AlignedBuf, DioAlign, DioSource,
    dio_align::dio_align_fd,
    fixed::{FixedFrame, FixedPool},
};

/// A compio file opened with `O_DIRECT`, that knows the alignment its offsets and lengths
/// need.
///
/// Use it as [`compio17::DirectFile`](super::compio17::DirectFile),
/// [`compio19::DirectFile`](super::compio19::DirectFile) or
/// [`compio20::DirectFile`](super::compio20::DirectFile).
///
/// - Opening adds `O_DIRECT` and asks [`dio_align`](crate::dio_align) once, of the open
///   file. A filesystem that refuses direct I/O (procfs, sysfs, tmpfs before Linux 6.6, many
///   FUSE and overlay setups) is one [`io::ErrorKind::Unsupported`] error naming the path and
///   the filesystem type.
/// - [`alignment`](Self::alignment) is what offsets and lengths must be multiples of:
///   [`ALIGNMENT`] (4 KiB), or the file's own requirement where that is larger.
/// - [`read_at`](Self::read_at) / [`read_exact_at`](Self::read_exact_at) read any byte range;
///   [`read_aligned_at`](Self::read_aligned_at) / [`write_aligned_at`](Self::write_aligned_at)
///   move whole aligned buffers, checked.
///
/// ```
/// # #[cfg(feature = "compio-19")]
/// # fn main() -> std::io::Result<()> {
/// # use compio_19 as compio;
/// use compio::BufResult;
/// use jdb_alloc::{AlignedBuf, direct::compio19::DirectFile};
///
/// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join(format!("direct-file-{}.dat", std::process::id()));
/// compio::runtime::Runtime::new()?.block_on(async {
///     let file = DirectFile::create(&path).await?;
///     let mut page = AlignedBuf::zeroed(2 * file.alignment()).unwrap();
///     page[5000..5005].copy_from_slice(b"hello");
///     let BufResult(res, _page) = file.write_aligned_at(page, 0).await;
///     res?;
///
///     // Any range: one aligned read of the pages that cover it.
///     assert_eq!(&file.read_exact_at(5000, 5).await?[..], b"hello");
///     // Misaligned aligned operations are refused before the kernel sees them.
///     let BufResult(res, _) = file.write_aligned_at(AlignedBuf::zeroed(4096).unwrap(), 100).await;
///     assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
///     std::io::Result::Ok(())
/// })?;
/// # std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "compio-19"))]
/// # fn main() {}
/// ```
pub struct DirectFile<R: Compio> {
    file: R::File,
    path: PathBuf,
    dio: DioAlign,
    align: usize,
    /// Where reads and the appender's buffers come from first, if given.
    pool: Option<FixedPool>,
    /// Syncs completed: what [`syncs`](Self::syncs) reports.
    syncs: AtomicU64,
}

impl<R: Compio> DirectFile<R> {
    /// Opens an existing file for reading and writing, with `O_DIRECT`.
    ///
    /// # Errors
    /// As compio's `open`; [`io::ErrorKind::Unsupported`] naming the path and filesystem type
    /// if the filesystem refuses direct I/O.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        Self::open_with(path, &R::options(false)).await
    }

    /// Creates a file (truncating one that exists) for reading and writing, with `O_DIRECT`,
    /// and `fsync`s the directory that holds it: the new name survives a power cut, so what
    /// a later [`sync_data`](Self::sync_data) makes durable can be found by it. (A file made
    /// with [`open_with`](Self::open_with) and `create` options gets no such sync.)
    ///
    /// # Errors
    /// As [`open`](Self::open), and the directory sync's error naming the directory.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        let file = Self::open_with(&path, &R::options(true)).await?;
        sys::sync_parent(path.as_ref())?;
        Ok(file)
    }

    /// As [`create`](Self::create), without the directory's `fsync`: for a file whose name
    /// need not survive a power cut (a scratch file, or one a later sync of its directory, or
    /// of another file created in it, covers). Until then a crash may lose the file, whatever
    /// was synced into it.
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")]
    /// # fn main() -> std::io::Result<()> {
    /// # use compio_19 as compio;
    /// use jdb_alloc::direct::compio19::DirectFile;
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// let path = dir.join(format!("unsynced-{}.tmp", std::process::id()));
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let file = DirectFile::create_unsynced(&path).await?;
    ///     assert_eq!(file.len().await?, 0);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "compio-19"))]
    /// # fn main() {}
    /// ```
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub async fn create_unsynced(path: impl AsRef<Path>) -> io::Result<Self> {
        Self::open_with(&path, &R::options(true)).await
    }

    /// Opens `path` with compio's `options`, then adds `O_DIRECT` (keeping any custom flags
    /// the options carry). The flags are checked once the file is open (compio's options cannot
    /// be read back): options with `O_APPEND` and `create` / `truncate` create or truncate the
    /// file before it is refused.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub async fn open_with(path: impl AsRef<Path>, options: &R::OpenOptions) -> io::Result<Self> {
        let path = path.as_ref();
        let file = R::open(options, path).await?;
        Self::from_file(file, path)
    }

    /// Takes a compio file, adds `O_DIRECT` if it is not set and asks the file's alignment (of
    /// the descriptor: `path` only names the file in messages). Its reads and its appender's
    /// buffers draw on the current runtime's [`default_pool`](crate::fixed::default_pool)
    /// (registered memory, made on the runtime's first file), as do those of every other
    /// constructor; [`with_pool`](Self::with_pool) and [`without_pool`](Self::without_pool)
    /// choose otherwise.
    ///
    /// # Errors
    /// [`io::ErrorKind::Unsupported`] naming the path and filesystem type if the filesystem
    /// refuses direct I/O for the file or needs buffers aligned beyond [`ALIGNMENT`];
    /// [`io::ErrorKind::InvalidInput`] if the file is open with `O_APPEND` (Linux would write
    /// every positioned write at the end); the error of
    /// [`dio_align`](crate::dio_align) if the file cannot be examined.
    pub fn from_file(file: R::File, path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        sys::enable_direct(file.as_fd(), path)?;
        let dio = dio_align_fd(file.as_fd())?;
        if dio.source == DioSource::Statx && !dio.is_supported() {
            return Err(sys::refused(
                file.as_fd(),
                path,
                "statx reports no direct I/O alignment for it",
            ));
        }
        if dio.mem > ALIGNMENT {
            return Err(sys::refused(
                file.as_fd(),
                path,
                &format!(
                    "it needs buffers aligned to {} bytes, this crate's are aligned to {ALIGNMENT}",
                    dio.mem
                ),
            ));
        }
        let align = ALIGNMENT.max(dio.offset).max(dio.read_offset);
        Ok(Self {
            file,
            path: path.to_owned(),
            dio,
            align,
            pool: crate::fixed::default_pool(),
            syncs: AtomicU64::new(0),
        })
    }

    /// The file, with its reads and its [`Appender`](super::Appender)'s buffers drawn from
    /// `pool`, a [`FixedPool`] registered with this runtime's ring: they then go to the kernel
    /// as `READ_FIXED` / `WRITE_FIXED`, with nothing more to do.
    ///
    /// - [`read_at`](Self::read_at) takes a frame of the smallest tier that holds the pages it
    ///   reads (or of the next tier up, when that one has none free), and its [`ReadView`]
    ///   holds that frame until dropped (on any thread: the frame goes back to the pool). The
    ///   read asks for those pages only, whatever the tier's frame length.
    /// - The appender stages in a frame of the smallest tier that holds its staging size, and
    ///   writes a large record from a frame of the tier that holds it (or the next one up).
    /// - It never waits for a frame ([`FixedPool::try_acquire`]): when both tiers are empty,
    ///   or no tier is long enough, the buffer is a recycled plain one, as without a pool, and the
    ///   pool counts a [`miss`](crate::fixed::PoolStats::misses). A pool whose registration
    ///   was refused lends frames all the same; they do plain I/O
    ///   ([`PoolStats::plain_ops`](crate::fixed::PoolStats::plain_ops)).
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")]
    /// # fn main() -> std::io::Result<()> {
    /// # use compio_19 as compio;
    /// use jdb_alloc::{direct::compio19::{Appender, DirectFile}, fixed::FixedPool};
    ///
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// let path = dir.join(format!("with-pool-{}.log", std::process::id()));
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     // On the runtime's thread: 8 frames of 256 KiB, 32 of 64 KiB, registered with its ring.
    ///     let pool = FixedPool::new(&[(256 << 10, 8), (64 << 10, 32)]).unwrap();
    ///     let file = DirectFile::create(&path).await?.with_pool(pool.clone());
    ///
    ///     let mut log = Appender::new(file); // stages in a 256 KiB frame
    ///     let at = log.append(&[5; 50_000]).await?;
    ///     let file = log.finish().await?;
    ///     let record = file.read_exact_at(at, 50_000).await?; // into a 64 KiB frame
    ///     assert!(record.iter().all(|&b| b == 5));
    ///
    ///     let stats = pool.stats();
    ///     // READ_FIXED / WRITE_FIXED, or plain I/O where registration was refused (memlock).
    ///     assert_eq!(stats.fixed_ops + stats.plain_ops, 2);
    ///     assert_eq!(stats.tiers[0].in_use, 1); // the frame `record` holds
    ///     drop(record);
    ///     assert_eq!(pool.stats().tiers[0].in_use, 0);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "compio-19"))]
    /// # fn main() {}
    /// ```
    #[must_use]
    pub fn with_pool(mut self, pool: FixedPool) -> Self {
        self.pool = Some(pool);
        self
    }

    /// The file, with its reads and its appender's buffers in recycled plain memory rather
    /// than the runtime's default pool: for memory the program wants to keep for pools of its
    /// own, or to measure one against the other.
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")]
    /// # fn main() -> std::io::Result<()> {
    /// # use compio_19 as compio;
    /// use jdb_alloc::direct::compio19::DirectFile;
    ///
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// let path = dir.join(format!("without-pool-{}.log", std::process::id()));
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let file = DirectFile::create(&path).await?;
    ///     assert!(file.pool().is_some()); // the runtime's default pool
    ///     assert!(file.without_pool().pool().is_none());
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "compio-19"))]
    /// # fn main() {}
    /// ```
    #[must_use]
    pub fn without_pool(mut self) -> Self {
        self.pool = None;
        self
    }

    /// The pool its reads and its appender's buffers come from first: the one given with
    /// [`with_pool`](Self::with_pool), or the runtime's
    /// [`default_pool`](crate::fixed::default_pool); `None` after
    /// [`without_pool`](Self::without_pool), or where there is no default pool.
    #[inline]
    pub fn pool(&self) -> Option<&FixedPool> {
        self.pool.as_ref()
    }

    /// What offsets and lengths of direct I/O on this file must be multiples of: [`ALIGNMENT`],
    /// or the file's requirement where that is larger (a power of two).
    #[inline]
    pub fn alignment(&self) -> usize {
        self.align
    }

    /// What [`dio_align`](crate::dio_align) reported when the file was opened.
    #[inline]
    pub fn dio_align(&self) -> DioAlign {
        self.dio
    }

    /// The path the file was opened with.
    #[inline]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The compio file, for what this type does not wrap (compio's own `read_at` and
    /// `write_at` take it too; they do not check alignment).
    #[inline]
    pub fn inner(&self) -> &R::File {
        &self.file
    }

    /// The compio file, still with `O_DIRECT`.
    #[inline]
    pub fn into_inner(self) -> R::File {
        self.file
    }

    /// Reads bytes `[pos, pos + len)`: one aligned read of the pages that cover them, into a
    /// recycled buffer, seen through a [`ReadView`] of exactly those bytes. The view is shorter
    /// only where the file ends (empty at or past its end, and at or past `i64::MAX`, the
    /// largest file offset); `len == 0` reads nothing. A read of more than 1 MiB first asks the
    /// file's length (`fstat`) and allocates no more than the file has there, so a garbage
    /// length costs no memory; it stops at that length even if the file grows meanwhile.
    ///
    /// # Errors
    /// [`io::ErrorKind::InvalidInput`] if `pos + len` overflows; [`io::ErrorKind::OutOfMemory`]
    /// if the buffer cannot be allocated; the `fstat`'s or the read's error.
    pub async fn read_at(&self, pos: u64, len: usize) -> io::Result<ReadView> {
        self.read_at_in(self.pool.as_ref(), pos, len).await
    }

    /// [`read_at`](Self::read_at), drawing its frame from `pool` instead of the file's.
    pub(super) async fn read_at_in(
        &self,
        pool: Option<&FixedPool>,
        pos: u64,
        len: usize,
    ) -> io::Result<ReadView> {
        if len == 0 {
            return Ok(ReadView::empty(pos));
        }
        let (first, end) = self.pages_of(pos, len).ok_or_else(|| {
            invalid(format!(
                "read_at({pos}, {len}): the range ends past the largest file offset"
            ))
        })?;
        let source = self
            .read_pages(pool, first, end, || format!("read_at({pos}, {len})"))
            .await?;
        let skip = (pos - first) as usize;
        let got = source.bytes().len();
        let (start, had) = (skip.min(got), got.saturating_sub(skip).min(len));
        Ok(ReadView::new(source, start, had, pos))
    }

    /// The aligned pages `[first, end)` that cover `[pos, pos + len)`, no further than the
    /// largest file offset (`i64::MAX`: nothing is read past it, and `end == first` there);
    /// `None` if `pos + len` overflows.
    pub(super) fn pages_of(&self, pos: u64, len: usize) -> Option<(u64, u64)> {
        let align = self.align as u64;
        let first = pos - pos % align;
        let end = pos.checked_add(len as u64)?.min(i64::MAX as u64);
        Some((first, end.next_multiple_of(align).max(first)))
    }

    /// Reads the aligned pages `[first, end)` (no further than the file goes: see
    /// [`read_end`](Self::read_end)) with one aligned read, into a frame of `pool` if it has
    /// one to spare, else a recycled buffer; `what` names the call in an allocation error. The
    /// bytes read start at `first`; fewer than asked only at the end of the file.
    pub(super) async fn read_pages(
        &self,
        pool: Option<&FixedPool>,
        first: u64,
        end: u64,
        what: impl FnOnce() -> String,
    ) -> io::Result<Source> {
        let end = self.read_end(first, end).await?;
        if end <= first {
            return Ok(Source::Empty);
        }
        // `end - first` is the length asked plus less than two alignments, so it fits when
        // that length does, unless it is within two alignments of usize::MAX: then allocation
        // refuses it.
        let span = usize::try_from(end - first).unwrap_or(usize::MAX);
        let frame = pool.and_then(|p| p.try_acquire_near(span, span));
        let buf = match frame {
            Some(frame) => match self.read_fixed_span(frame, span, first, what).await? {
                Ok(frame) => return Ok(Source::Fixed(frame)),
                Err(buf) => buf,
            },
            None => AlignedBuf::with_cap(span).map_err(|e| {
                io::Error::new(io::ErrorKind::OutOfMemory, format!("{}: {e}", what()))
            })?,
        };
        Ok(Source::Aligned(self.read_span(buf, span, first).await?))
    }

    /// Where a read of the aligned `[first, end)` can stop: no later than the largest file
    /// offset (`i64::MAX`: the kernel refuses ranges past it), and, for a read of more than
    /// [`LARGE_READ`] bytes, no later than the end of the file as `fstat` gives it: a garbage
    /// length from a torn record header reads what the file has instead of allocating it.
    async fn read_end(&self, first: u64, end: u64) -> io::Result<u64> {
        let align = self.align as u64;
        let end = end.min(i64::MAX as u64 / align * align);
        if end.saturating_sub(first) <= LARGE_READ {
            return Ok(end);
        }
        // A file is at most i64::MAX bytes long: rounding up does not overflow.
        Ok(end.min(self.len().await?.next_multiple_of(align)))
    }

    /// [`read_at`](Self::read_at), but a range that runs past the end of the file is an error.
    ///
    /// # Errors
    /// As `read_at`, and [`io::ErrorKind::UnexpectedEof`] naming the range asked for and the
    /// bytes the file had there.
    pub async fn read_exact_at(&self, pos: u64, len: usize) -> io::Result<ReadView> {
        let view = self.read_at(pos, len).await?;
        if view.len() < len {
            // An empty view says only that the file ends at or before `pos`.
            let file_end = match view.len() {
                0 => self.len().await?,
                had => pos + had as u64,
            };
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "read_exact_at({pos}, {len}) in {}: the file has {} of those bytes (it ends at {file_end})",
                    self.path.display(),
                    view.len(),
                ),
            ));
        }
        Ok(view)
    }

    /// Reads `[first, first + span)` (aligned) into `frame`, whose capacity is `span`: one
    /// request, `READ_FIXED` where the frame's registration is in effect. Should the kernel
    /// stop short at an alignment boundary before the end of the file, the bytes so far go to
    /// a plain buffer (`Err`) that [`read_span`](Self::read_span) goes on with; `what` names
    /// the read asked for, in the error if that buffer cannot be had.
    async fn read_fixed_span(
        &self,
        frame: FixedFrame,
        span: usize,
        first: u64,
        what: impl FnOnce() -> String,
    ) -> io::Result<Result<FixedFrame, AlignedBuf>> {
        debug_assert_eq!(frame.cap(), span);
        let (res, frame) = R::read_fixed(&self.file, frame, first).await;
        let got = res?;
        if got == span || got == 0 || got % self.align != 0 {
            return Ok(Ok(frame));
        }
        // Short at a boundary: most often the end of a file whose length is a multiple of the
        // alignment, where the frame is kept as for any other end.
        if first + got as u64 >= self.len().await? {
            return Ok(Ok(frame));
        }
        let mut buf = AlignedBuf::with_cap(span)
            .map_err(|e| io::Error::new(io::ErrorKind::OutOfMemory, format!("{}: {e}", what())))?;
        buf.extend(&frame[..got]).expect("span bytes fit");
        Ok(Err(buf))
    }

    /// Reads `[first, first + span)` (aligned) into `buf`, in as many requests as the kernel
    /// takes (one, below 2 GiB; none longer than [`REQUEST_MAX`]), stopping at the end of the
    /// file.
    async fn read_span(
        &self,
        mut buf: AlignedBuf,
        span: usize,
        first: u64,
    ) -> io::Result<AlignedBuf> {
        loop {
            let got = buf.len();
            // A read that stopped short of an alignment boundary met the end of the file.
            if got == span || got % self.align != 0 {
                return Ok(buf);
            }
            let stop = span.min(got + REQUEST_MAX);
            let (res, back) = R::read_buf(&self.file, buf, got..stop, first + got as u64).await;
            buf = back;
            if res? == 0 {
                return Ok(buf);
            }
        }
    }

    /// Reads into `buf`'s whole capacity at `pos`, as compio's `read_at` does: the length
    /// becomes at least the bytes read, which are fewer only at the end of the file. A
    /// [`FixedFrame`](crate::fixed::FixedFrame) uses `READ_FIXED` when registered with the
    /// current runtime's ring.
    ///
    /// # Errors
    /// [`io::ErrorKind::InvalidInput`] naming the offset, the length and the alignment if `pos`
    /// or the capacity is not a multiple of [`alignment`](Self::alignment), or for a
    /// [`Frame`](crate::Frame) or `FixedFrame` longer than one request (2047 MiB: an
    /// [`AlignedBuf`] that long goes in several), or a [`RawIoBuf`](crate::RawIoBuf) that long
    /// or not aligned in memory ([`DirectBuf`]); the read's error.
    pub async fn read_aligned_at<B: DirectBuf>(&self, buf: B, pos: u64) -> R::BufResult<usize, B> {
        if let Err(e) = self.check("read_aligned_at", pos, buf.read_len()) {
            return R::buf_result(Err(e), buf);
        }
        let (res, buf) = buf.read_on::<R>(&self.file, pos).await;
        R::buf_result(res, buf)
    }

    /// Writes `buf`'s initialised bytes at `pos`, all of them: a short write is an error. A
    /// [`FixedFrame`](crate::fixed::FixedFrame) uses `WRITE_FIXED` when registered with the
    /// current runtime's ring.
    ///
    /// # Errors
    /// [`io::ErrorKind::InvalidInput`] naming the offset, the length and the alignment if `pos`
    /// or the length is not a multiple of [`alignment`](Self::alignment), or for a frame longer
    /// than one request or a misaligned view, as for [`read_aligned_at`](Self::read_aligned_at);
    /// [`io::ErrorKind::WriteZero`] for a short write; the write's error.
    pub async fn write_aligned_at<B: DirectBuf>(&self, buf: B, pos: u64) -> R::BufResult<usize, B> {
        let len = buf.write_len();
        if let Err(e) = self.check("write_aligned_at", pos, len) {
            return R::buf_result(Err(e), buf);
        }
        let (res, buf) = buf.write_on::<R>(&self.file, pos).await;
        let res = res.and_then(|n| {
            if n == len {
                Ok(n)
            } else {
                Err(short_write(pos, n, len))
            }
        });
        R::buf_result(res, buf)
    }

    /// An empty buffer of `cap` bytes for the appender: from the pool if it has a frame free.
    pub(super) fn buffer(&self, cap: usize) -> io::Result<Buffer> {
        Buffer::new(self.pool.as_ref(), cap)
    }

    /// Refuses an offset or length that is not a multiple of the alignment.
    fn check(&self, op: &str, pos: u64, len: usize) -> io::Result<()> {
        if pos % self.align as u64 == 0 && len % self.align == 0 {
            return Ok(());
        }
        Err(invalid(format!(
            "{op}: offset {pos} and length {len} must be multiples of {} (the direct I/O \
             alignment of {})",
            self.align,
            self.path.display()
        )))
    }

    /// Reserves disk space for `[0, len)` (`fallocate`): `keep_size` leaves the file's length
    /// as it is (space for appends to come), otherwise the file grows to `len` if shorter.
    ///
    /// # Errors
    /// The system call's (for example [`io::ErrorKind::Unsupported`] where the filesystem has
    /// no `fallocate`, or [`io::ErrorKind::StorageFull`]), with a message naming the arguments.
    /// The file's length is then as it was (ext4 would leave it grown by what it could
    /// allocate).
    pub async fn preallocate(&self, len: u64, keep_size: bool) -> io::Result<()> {
        sys::preallocate(self.file.as_fd(), 0, len, keep_size)
    }

    /// Sets the file's length (`ftruncate`), shrinking or extending with zeros.
    ///
    /// # Errors
    /// The system call's, with a message naming the length.
    pub async fn set_len(&self, len: u64) -> io::Result<()> {
        sys::set_len(self.file.as_fd(), len)
    }

    /// The file's length in bytes.
    ///
    /// # Errors
    /// The `fstat` system call's.
    pub async fn len(&self) -> io::Result<u64> {
        sys::len(self.file.as_fd())
    }

    /// `fdatasync`: written data, and the metadata needed to read it back (the length), are
    /// durable once it returns.
    ///
    /// # Errors
    /// The system call's.
    pub async fn sync_data(&self) -> io::Result<()> {
        R::sync(&self.file, true).await?;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// `fsync`: written data and all metadata are durable once it returns.
    ///
    /// # Errors
    /// The system call's.
    pub async fn sync_all(&self) -> io::Result<()> {
        R::sync(&self.file, false).await?;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// How many [`sync_data`](Self::sync_data) and [`sync_all`](Self::sync_all) calls (the
    /// appender's included) have completed on this `DirectFile`: syncs per commit, for
    /// monitoring, and proof in tests that a reported durable length was synced.
    #[inline]
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }
}

impl<R: Compio> fmt::Debug for DirectFile<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectFile")
            .field("path", &self.path)
            .field("alignment", &self.align)
            .field("dio_align", &self.dio)
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

/// Writes bytes `[0, end)` of `buf` (aligned, within its length) at `pos` (aligned) of `file`,
/// whose alignment is `align`, in requests of at most [`REQUEST_MAX`], going on after short
/// writes.
pub(super) async fn write_all<R: Compio>(
    file: &R::File,
    align: usize,
    mut buf: AlignedBuf,
    end: usize,
    pos: u64,
) -> (io::Result<()>, AlignedBuf) {
    let mut done = 0;
    while done < end {
        let stop = end.min(done + REQUEST_MAX);
        let (res, back) = R::write_buf(file, buf, done..stop, pos + done as u64).await;
        buf = back;
        match res {
            Ok(n) if n > 0 && (done + n) % align == 0 => done += n,
            Ok(n) => return (Err(short_write(pos + done as u64, n, end - done)), buf),
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

/// Writes all of `buf`'s bytes (aligned) at `pos` (aligned) of `file`, whose alignment is
/// `align`: a pool frame in one request, `WRITE_FIXED` where its registration is in effect (a
/// short write is an error); a plain buffer as [`write_all`].
pub(super) async fn write_buffer<R: Compio>(
    file: &R::File,
    align: usize,
    buf: Buffer,
    pos: u64,
) -> (io::Result<()>, Buffer) {
    let end = buf.len();
    match buf {
        Buffer::Plain(buf) => {
            let (res, buf) = write_all::<R>(file, align, buf, end, pos).await;
            (res, Buffer::Plain(buf))
        }
        Buffer::Fixed(frame) => {
            let (res, frame) = R::write_fixed(file, frame, pos).await;
            let res = match res {
                Ok(n) if n == end => Ok(()),
                Ok(n) => Err(short_write(pos, n, end)),
                Err(e) => Err(e),
            };
            (res, Buffer::Fixed(frame))
        }
    }
}

/// Reads longer than this are capped at the end of the file before their buffer is allocated.
const LARGE_READ: u64 = 1 << 20;

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn short_write(pos: u64, n: usize, len: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::WriteZero,
        format!("short direct write at {pos}: {n} of {len} bytes written"),
    )
}
