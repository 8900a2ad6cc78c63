//! Direct I/O files for compio: open with `O_DIRECT`, read any byte range, append records.
//!
//! Storage engines on `O_DIRECT` each write the same layer around their buffers: open the file
//! for direct I/O and learn its alignment, read a record at an unaligned offset through an
//! aligned read, append records of any size through page-sized writes. This module is that
//! layer, on this crate's recycled aligned buffers:
//!
//! - [`DirectFile`] is a compio file opened with `O_DIRECT` that knows its alignment (asked
//!   once with [`dio_align`](crate::dio_align)). [`read_at(pos, len)`](DirectFile::read_at)
//!   reads any byte range with one aligned read of the pages that cover it, into a recycled
//!   buffer, and returns a [`ReadView`] of exactly the bytes asked for (no copy).
//!   [`read_aligned_at`](DirectFile::read_aligned_at) and
//!   [`write_aligned_at`](DirectFile::write_aligned_at) take an [`AlignedBuf`], a
//!   [`Frame`] or a [`FixedFrame`] (registered frames use `READ_FIXED` /
//!   `WRITE_FIXED`) and check the alignment before the kernel would answer `EINVAL`.
//! - [`DirectFile::read_many`] reads many ranges at once (an index probe, a multi-get): sorted,
//!   neighbours merged into one aligned read whose views share its buffer, the rest in flight
//!   together up to a queue depth ([`ReadManyOptions`]); [`DirectFile::read_each`] hands each
//!   view over as its read completes, so that a large set holds no more than it keeps.
//! - [`DirectFile::reader`] gives a [`Reader`]: the file front to back from any position, with
//!   a window of reads in flight ahead ([`ReaderOptions`]), as views
//!   ([`next_chunk`](Reader::next_chunk)) or through compio's `AsyncRead`.
//! - [`Appender`] packs records of any size one after another into a recycled staging buffer
//!   and writes whole pages, behind: a full buffer goes out while the next records are packed
//!   ([`AppenderOptions::write_behind`]), into a file grown ahead of the writes if asked
//!   ([`AppenderOptions::preallocate`]: large records at the device's queue depth);
//!   [`flush`](Appender::flush) writes the partial tail page padded with zeros,
//!   [`sync`](Appender::sync) makes everything appended so far durable.
//! - [`Appender::into_shared`] gives a [`SharedAppender`]: the log for many tasks of its
//!   runtime, with group commit ([`commit`](SharedAppender::commit) returns once the record is
//!   durable; the records queued during one write and `fdatasync` share the next), fail-stop
//!   after a failed write or sync, and a [`RemoteAppender`] for other threads and runtimes.
//!
//! - Registered memory without asking: a file draws its reads and its appender's buffers from
//!   the runtime's [`default_pool`](crate::fixed::default_pool) (made on the runtime's first
//!   file, sized under the memory-lock limit, [`DefaultPool`](crate::fixed::DefaultPool)), so
//!   the registered path (`READ_FIXED` / `WRITE_FIXED`, less CPU per byte) is the default.
//!   [`DirectFile::with_pool`] gives it a [`FixedPool`](crate::fixed::FixedPool) of the
//!   program's own instead, [`DirectFile::without_pool`] none. Where the pool has no frame to
//!   spare, or none long enough, a recycled plain buffer is used instead (never a wait), and
//!   the pool's [`stats`](crate::fixed::FixedPool::stats) count it.
//!
//! Both are generic over the compio version; use them through [`compio17`], [`compio19`] or
//! [`compio20`] (features `compio-17` / `compio-19` / `compio-20`), where `DirectFile` and
//! `Appender` name the types for that version, and the code reads the same on all of them.
//!
//! ```
//! # #[cfg(feature = "compio-19")]
//! # fn main() -> std::io::Result<()> {
//! use compio_19 as compio; // in your crate: plain `compio` 0.19
//! use jdb_alloc::direct::compio19::{Appender, DirectFile};
//!
//! # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
//! # std::fs::create_dir_all(&dir)?;
//! let path = dir.join(format!("direct-module-{}.log", std::process::id()));
//! compio::runtime::Runtime::new()?.block_on(async {
//!     let mut log = Appender::new(DirectFile::create(&path).await?);
//!     let first = log.append(b"first record").await?;
//!     let second = log.append(&[7; 10_000]).await?;
//!     log.sync().await?; // both records are durable now
//!     let file = log.finish().await?; // the file is truncated to its 10 012 bytes
//!
//!     assert_eq!(&file.read_exact_at(first, 12).await?[..], b"first record");
//!     let record = file.read_exact_at(second, 10_000).await?;
//!     assert!(record.iter().all(|&b| b == 7));
//!     std::io::Result::Ok(())
//! })?;
//! # std::fs::remove_file(&path)?;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "compio-19"))]
//! # fn main() {}
//! ```
//!
//! # Costs and limits
//!
//! - A read of `len` bytes at `pos` reads the aligned pages that cover it: at most two pages
//!   more than asked for, in one request (one per 2047 MiB: no request is longer, whatever the
//!   compio version). Reads of the same pages twice go to the device twice: there is no page
//!   cache; cache in the engine. A read of more than 1 MiB first asks the file's length.
//! - [`Appender::append`] copies each record once (a `&[u8]` has no alignment of its own); a
//!   record at least as large as the staging buffer goes out in one write from a recycled
//!   buffer of its size. [`Appender::append_buf`] takes a record already in an [`AlignedBuf`]
//!   and, where nothing is staged, writes it with no copy at all.
//! - `preallocate`, `set_len` and `len` (and an appender's growth ahead of its writes) are
//!   metadata system calls made on the calling thread.
//! - Dropped futures and the runtime's end: a read or write whose future is dropped (a
//!   cancelled `read_many`, a dropped [`Reader`] or appender with reads ahead or writes
//!   behind) stays with the runtime until the kernel completes it. Every read and write of
//!   this module, registered frame or plain buffer, is this crate's own io_uring operation
//!   (compio's `read_at` / `write_at` only where the driver is not io_uring):
//!   [`settle`](crate::fixed::compio19::settle) waits for them, and memory the runtime drops
//!   with its operation unfinished (compio 0.19 and 0.20 do so after closing the ring, while
//!   the kernel may still use it) is kept for the life of the process, never freed or reused.
//!   `rt.block_on(settle())` before dropping a runtime keeps nothing. A [`RawIoBuf`]'s memory
//!   is its owner's, which this crate cannot keep: if a runtime may have dropped one's
//!   operation unfinished (its future was dropped, and the runtime too before `settle`
//!   returned), keep that memory for the life of the process.

mod appender;
mod backend;
mod buffer;
#[cfg(feature = "compio-17")]
#[cfg_attr(docsrs, doc(cfg(feature = "compio-17")))]
pub mod compio17;
#[cfg(feature = "compio-19")]
#[cfg_attr(docsrs, doc(cfg(feature = "compio-19")))]
pub mod compio19;
#[cfg(feature = "compio-20")]
#[cfg_attr(docsrs, doc(cfg(feature = "compio-20")))]
pub mod compio20;
mod file;
mod finish;
mod framing;
mod join;
mod many;
mod reader;
mod remote;
mod shared;
mod sys;
mod view;

use std::{io, ops::Range, os::fd::AsFd, path::Path};

pub use appender::{Appender, AppenderOptions, TailMode};
pub use file::DirectFile;
pub use finish::FinishError;
pub use framing::{EndReason, FRAME_HEADER, FRAME_MAX, LogEnd, Records, Recovered, frame_header};
pub use many::ReadManyOptions;
pub use reader::{Reader, ReaderOptions};
pub use remote::RemoteAppender;
pub use shared::SharedAppender;
pub use view::ReadView;

use crate::{ALIGNMENT, AlignedBuf, Frame, RawIoBuf, fixed::FixedFrame};

/// The most bytes one read or write request asks for: Linux's own limit per call
/// (`MAX_RW_COUNT`, 2 GiB - 4 KiB) rounded down to 1 MiB, so a multiple of every direct I/O
/// alignment. Longer transfers go in several requests; compio 0.17 would also cut a request of
/// 4 GiB or more to its low 32 bits (to 0 at exactly 4 GiB, which reads as the end of the file).
pub(crate) const REQUEST_MAX: usize = 0x7ff0_0000;

/// A compio version that [`DirectFile`] and [`Appender`] run on: [`compio17::Compio17`],
/// [`compio19::Compio19`] or [`compio20::Compio20`]. Sealed; its methods are this crate's glue
/// to that version's file and buffer traits.
///
/// ```
/// # #[cfg(feature = "compio-19")] {
/// // Written once for any version: generic over `Compio`.
/// fn alignment<R: jdb_alloc::direct::Compio>(file: &jdb_alloc::direct::DirectFile<R>) -> usize {
///     file.alignment()
/// }
/// let _: fn(&jdb_alloc::direct::compio19::DirectFile) -> usize = alignment;
/// # }
/// ```
#[allow(async_fn_in_trait)] // compio's futures are not `Send` either
pub trait Compio: sealed::Sealed + Sized + 'static {
    /// compio's `fs::File` of this version (a clone shares the descriptor).
    type File: AsFd + Clone;
    /// compio's `fs::OpenOptions` of this version.
    type OpenOptions;
    /// compio's `BufResult` of this version.
    type BufResult<T, B>;

    #[doc(hidden)]
    fn buf_result<T, B>(res: io::Result<T>, buf: B) -> Self::BufResult<T, B>;
    #[doc(hidden)]
    fn options(create: bool) -> Self::OpenOptions;
    #[doc(hidden)]
    async fn open(options: &Self::OpenOptions, path: &Path) -> io::Result<Self::File>;
    /// Reads into bytes `range` of `buf` (raising its length as compio does); panics if
    /// `range.start` is past the initialised bytes.
    #[doc(hidden)]
    async fn read_buf(
        file: &Self::File,
        buf: AlignedBuf,
        range: Range<usize>,
        pos: u64,
    ) -> (io::Result<usize>, AlignedBuf);
    /// Writes bytes `range` of `buf`, which lie within its length.
    #[doc(hidden)]
    async fn write_buf(
        file: &Self::File,
        buf: AlignedBuf,
        range: Range<usize>,
        pos: u64,
    ) -> (io::Result<usize>, AlignedBuf);
    #[doc(hidden)]
    async fn read_frame(file: &Self::File, frame: Frame, pos: u64) -> (io::Result<usize>, Frame);
    #[doc(hidden)]
    async fn write_frame(file: &Self::File, frame: Frame, pos: u64) -> (io::Result<usize>, Frame);
    #[doc(hidden)]
    async fn read_raw(file: &Self::File, raw: RawIoBuf, pos: u64) -> (io::Result<usize>, RawIoBuf);
    #[doc(hidden)]
    async fn write_raw(file: &Self::File, raw: RawIoBuf, pos: u64)
    -> (io::Result<usize>, RawIoBuf);
    #[doc(hidden)]
    async fn read_fixed(
        file: &Self::File,
        frame: FixedFrame,
        pos: u64,
    ) -> (io::Result<usize>, FixedFrame);
    #[doc(hidden)]
    async fn write_fixed(
        file: &Self::File,
        frame: FixedFrame,
        pos: u64,
    ) -> (io::Result<usize>, FixedFrame);
    /// Runs `future` on the current runtime as a task of its own, detached.
    #[doc(hidden)]
    fn spawn(future: impl std::future::Future<Output = ()> + 'static);
    #[doc(hidden)]
    async fn sync(file: &Self::File, data_only: bool) -> io::Result<()>;
}

/// A buffer that [`DirectFile::read_aligned_at`] and [`DirectFile::write_aligned_at`] take:
/// [`AlignedBuf`], [`Frame`], [`FixedFrame`] (of the file's pool or any other) and
/// [`RawIoBuf`]. Sealed.
///
/// A read fills the buffer's whole capacity (as compio's `read_at` does) and raises its length
/// to the bytes read; a write sends its initialised bytes.
///
/// A [`RawIoBuf`] is how memory the caller keeps (a page store's arena, an `&mut AlignedBuf`
/// through [`as_raw`](AlignedBuf::as_raw)) goes to the file with no copy: the `unsafe` that
/// made the view already promised the memory lives and is left alone while the view is used,
/// and here that lasts until the kernel is done with the operation, also when its future is
/// dropped first ([`settle`](crate::fixed::compio19::settle) says when: it counts these
/// operations; a runtime dropped before leaves the kernel's use unknown, so keep the memory
/// then). It must be [`ALIGNMENT`]-aligned (refused otherwise, before the kernel
/// would say `EINVAL`) and, like a frame, go in one request (at most 2047 MiB).
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
/// let path = dir.join(format!("raw-write-{}.dat", std::process::id()));
/// compio::runtime::Runtime::new()?.block_on(async {
///     let file = DirectFile::create(&path).await?;
///     // A page store's arena, kept by the store; its second page written in place.
///     let mut arena = AlignedBuf::zeroed(4 * 4096).unwrap();
///     arena[4096..4101].copy_from_slice(b"page1");
///     // SAFETY: the arena outlives the write, which is awaited, and is not touched meanwhile.
///     let page = unsafe { arena.as_raw_view().slice_data(4096, 4096) };
///     let BufResult(res, _) = file.write_aligned_at(page, 0).await;
///     assert_eq!(res?, 4096);
///     assert_eq!(&file.read_exact_at(0, 5).await?[..], b"page1");
///     std::io::Result::Ok(())
/// })?;
/// # std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "compio-19"))]
/// # fn main() {}
/// ```
///
/// The read and write lengths:
///
/// ```
/// use jdb_alloc::{AlignedBuf, direct::DirectBuf};
///
/// let mut page = AlignedBuf::with_cap(4096).unwrap();
/// page.extend(b"abc").unwrap();
/// // A read covers the capacity, a write the initialised bytes.
/// assert_eq!((page.read_len(), page.write_len()), (4096, 3));
/// ```
#[allow(async_fn_in_trait)]
pub trait DirectBuf: sealed::Sealed + Sized {
    /// Bytes a read into it asks for: its capacity.
    #[doc(hidden)]
    fn read_len(&self) -> usize;
    /// Bytes a write of it sends: its length.
    #[doc(hidden)]
    fn write_len(&self) -> usize;
    #[doc(hidden)]
    async fn read_on<R: Compio>(self, file: &R::File, pos: u64) -> (io::Result<usize>, Self);
    #[doc(hidden)]
    async fn write_on<R: Compio>(self, file: &R::File, pos: u64) -> (io::Result<usize>, Self);
}

impl DirectBuf for AlignedBuf {
    fn read_len(&self) -> usize {
        self.cap()
    }

    fn write_len(&self) -> usize {
        self.len()
    }

    async fn read_on<R: Compio>(mut self, file: &R::File, pos: u64) -> (io::Result<usize>, Self) {
        // In requests of at most `REQUEST_MAX`, until one comes back short.
        let (cap, mut done) = (self.cap(), 0);
        while done < cap {
            let end = cap.min(done + REQUEST_MAX);
            let (res, back) = R::read_buf(file, self, done..end, pos + done as u64).await;
            self = back;
            match res {
                Ok(n) if n == end - done => done = end,
                Ok(n) => return (Ok(done + n), self),
                Err(e) => return (Err(e), self),
            }
        }
        (Ok(done), self)
    }

    async fn write_on<R: Compio>(mut self, file: &R::File, pos: u64) -> (io::Result<usize>, Self) {
        // In requests of at most `REQUEST_MAX`, until one comes back short.
        let (len, mut done) = (self.len(), 0);
        while done < len {
            let end = len.min(done + REQUEST_MAX);
            let (res, back) = R::write_buf(file, self, done..end, pos + done as u64).await;
            self = back;
            match res {
                Ok(n) if n == end - done => done = end,
                Ok(n) => return (Ok(done + n), self),
                Err(e) => return (Err(e), self),
            }
        }
        (Ok(done), self)
    }
}

/// Refuses a frame longer than one request may be (a frame goes out in one).
fn frame_fits(op: &str, len: usize) -> io::Result<()> {
    if len <= REQUEST_MAX {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{op} of a frame of {len} bytes: one request takes at most {REQUEST_MAX}"),
    ))
}

impl DirectBuf for Frame {
    fn read_len(&self) -> usize {
        self.cap()
    }

    fn write_len(&self) -> usize {
        self.len()
    }

    async fn read_on<R: Compio>(self, file: &R::File, pos: u64) -> (io::Result<usize>, Self) {
        if let Err(e) = frame_fits("read", self.cap()) {
            return (Err(e), self);
        }
        R::read_frame(file, self, pos).await
    }

    async fn write_on<R: Compio>(self, file: &R::File, pos: u64) -> (io::Result<usize>, Self) {
        if let Err(e) = frame_fits("write", self.len()) {
            return (Err(e), self);
        }
        R::write_frame(file, self, pos).await
    }
}

impl DirectBuf for FixedFrame {
    fn read_len(&self) -> usize {
        self.cap()
    }

    fn write_len(&self) -> usize {
        self.len()
    }

    async fn read_on<R: Compio>(self, file: &R::File, pos: u64) -> (io::Result<usize>, Self) {
        if let Err(e) = frame_fits("read", self.cap()) {
            return (Err(e), self);
        }
        R::read_fixed(file, self, pos).await
    }

    async fn write_on<R: Compio>(self, file: &R::File, pos: u64) -> (io::Result<usize>, Self) {
        if let Err(e) = frame_fits("write", self.len()) {
            return (Err(e), self);
        }
        R::write_fixed(file, self, pos).await
    }
}

/// Refuses a view whose memory is not [`ALIGNMENT`]-aligned (this crate's buffers always are).
fn view_aligned(op: &str, raw: &RawIoBuf) -> io::Result<()> {
    if raw.as_ptr() as usize % ALIGNMENT == 0 {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{op} of a RawIoBuf at {:p}: direct I/O memory must be aligned to {ALIGNMENT} bytes",
            raw.as_ptr()
        ),
    ))
}

impl DirectBuf for RawIoBuf {
    fn read_len(&self) -> usize {
        self.cap()
    }

    fn write_len(&self) -> usize {
        self.len()
    }

    async fn read_on<R: Compio>(self, file: &R::File, pos: u64) -> (io::Result<usize>, Self) {
        if let Err(e) = frame_fits("read", self.cap()).and(view_aligned("read", &self)) {
            return (Err(e), self);
        }
        R::read_raw(file, self, pos).await
    }

    async fn write_on<R: Compio>(self, file: &R::File, pos: u64) -> (io::Result<usize>, Self) {
        if let Err(e) = frame_fits("write", self.len()).and(view_aligned("write", &self)) {
            return (Err(e), self);
        }
        R::write_raw(file, self, pos).await
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::RawIoBuf {}
    impl Sealed for crate::AlignedBuf {}
    impl Sealed for crate::Frame {}
    impl Sealed for crate::fixed::FixedFrame {}
}
