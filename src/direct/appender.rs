//! [`Appender`]: records of any size packed one after another at the end of a [`DirectFile`],
//! through an aligned staging buffer.
//!
//! State, at every `await` point where the appender is usable (`broken` unset):
//! `tail` is the aligned file offset of the staging buffer's first byte, the staging buffer
//! holds the bytes `[tail, len)` of the stream (fewer than its capacity), and every byte before
//! `tail` has been written. `flushed` and `synced` are the lengths the last flush and the last
//! sync covered.

use std::{fmt, io, os::fd::AsFd};

use super::{
    Compio, DirectFile, FinishError, ReadView,
    buffer::Buffer,
    file::{write_all, write_buffer},
    join::{BoxFuture, Window, yield_now},
    sys,
    view::Source,
};
use crate::AlignedBuf;

/// What [`Appender::sync`] does with a partial last page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TailMode {
    /// The partial last page is written padded with zeros, and written again, with the records
    /// appended since, at the next write of the staging buffer (a flush, a sync, or the buffer
    /// filling up during an append): no space is lost, but a page that holds synced records is
    /// rewritten. On a device without atomic page writes, a power cut during that
    /// rewrite can tear the page, synced records included.
    #[default]
    Rewrite,
    /// `sync` pads the stream with zeros to the end of its page (they become part of the
    /// stream: [`Appender::len`] jumps to the page boundary), so no page that holds synced
    /// records is ever written again. Safe on devices that can tear a page write; costs up to
    /// one alignment unit (4 KiB) of zeros per `sync`. The reader must skip the zeros (a
    /// record format with lengths, or a zero marker, does).
    NeverRewrite,
}

/// How an [`Appender`] stages and syncs.
///
/// ```
/// use jdb_alloc::direct::{AppenderOptions, TailMode};
///
/// let options = AppenderOptions::new().staging(1 << 20).tail(TailMode::NeverRewrite);
/// assert_eq!(options.staging_len(), 1 << 20);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AppenderOptions {
    staging: usize,
    tail: TailMode,
    behind: usize,
    ahead: u64,
}

impl AppenderOptions {
    /// The default staging size: 256 KiB.
    pub const DEFAULT_STAGING: usize = 256 << 10;
    /// The default bound on bytes written behind: 1 MiB.
    pub const DEFAULT_WRITE_BEHIND: usize = 1 << 20;

    /// 256 KiB of staging, [`TailMode::Rewrite`], up to 1 MiB written behind.
    pub const fn new() -> Self {
        Self {
            staging: Self::DEFAULT_STAGING,
            tail: TailMode::Rewrite,
            behind: Self::DEFAULT_WRITE_BEHIND,
            ahead: 0,
        }
    }

    /// Bytes staged before whole pages are written; rounded up to the file's alignment (at
    /// least one unit). Records at least this long are written straight from a buffer of
    /// their own size. A size that cannot be allocated is an [`io::ErrorKind::OutOfMemory`]
    /// error at the first append.
    pub const fn staging(mut self, bytes: usize) -> Self {
        self.staging = bytes;
        self
    }

    /// What `sync` does with a partial last page.
    pub const fn tail(mut self, tail: TailMode) -> Self {
        self.tail = tail;
        self
    }

    /// Write-behind: how many bytes of full staging buffers and large records may stay on
    /// their way to the disk while `append` returns and the next records are packed. Each
    /// write is sent as soon as its buffer is full; then, while more than the bound is in
    /// flight, `append` waits for the oldest. [`flush`](Appender::flush),
    /// [`sync`](Appender::sync) and [`finish`](Appender::finish) wait for all of them. `0`
    /// waits for every write before `append` returns (no write-behind). The appender keeps up
    /// to this many bytes of buffers whose writes completed, for reuse.
    ///
    /// The default, 1 MiB, comes from `cargo bench --features compio-19 --bench direct`
    /// (benches/RESULTS.md, "Queue depth"): with 1 MiB records, on ext4 over a loop device on
    /// tmpfs and on this machine's disk, 1 MiB behind (the copy of one record overlapping the
    /// write of the one before) and 4 MiB were within 3% of each other, 16 MiB 10-26% slower:
    /// ext4 completes a write that extends a file before it starts the next, so more in
    /// flight only adds buffers. Into a file grown ahead ([`preallocate`](Self::preallocate))
    /// the writes go to the device together.
    pub const fn write_behind(mut self, bytes: usize) -> Self {
        self.behind = bytes;
        self
    }

    /// The bound on bytes written behind.
    pub const fn write_behind_len(&self) -> usize {
        self.behind
    }

    /// Preallocation: before a write would pass the end of the file, the file is grown
    /// (`fallocate`) to the next multiple of `bytes` past the write, so that the writes land
    /// inside the file. `0` (the default) lets each write extend the file.
    ///
    /// Why: ext4 (and XFS) complete a direct write that extends a file before the next one
    /// starts, so the writes behind go to the disk one at a time; writes inside the file go
    /// together. The cost: until [`finish`](Appender::finish) cuts it to
    /// [`len`](Appender::len), the file is longer than the log, and after a crash its length
    /// no longer says where the log ends: the bytes past the last write read as zeros.
    /// [`resume`](Appender::resume) at a length you kept, or frame the records and
    /// [`recover`](Appender::recover), which stops at the zeros (and reads them: up to a step
    /// of zeros to scan at a reopen). If the file cannot be grown (no room left for a whole
    /// step, no `fallocate` on this filesystem), the appender stops preallocating
    /// ([`Appender::options`] then says `0`) and its writes extend the file as without the
    /// setting; a full disk is the error of the write that does not fit.
    /// The blocks `fallocate` gives are marked unwritten, and a sync after the first write to
    /// one commits its conversion: for syncs that cost only a cache flush, lay the file out
    /// with [`Appender::zero_fill`] instead.
    ///
    /// ```
    /// use jdb_alloc::direct::AppenderOptions;
    ///
    /// // Large records back to back: 4 MiB behind, the file grown 64 MiB at a time.
    /// let options = AppenderOptions::new().write_behind(4 << 20).preallocate(64 << 20);
    /// assert_eq!(options.preallocate_len(), 64 << 20);
    /// ```
    pub const fn preallocate(mut self, bytes: u64) -> Self {
        self.ahead = bytes;
        self
    }

    /// The preallocation step (`0`: none); see [`preallocate`](Self::preallocate) for an
    /// example.
    pub const fn preallocate_len(&self) -> u64 {
        self.ahead
    }

    /// The staging size asked for.
    pub const fn staging_len(&self) -> usize {
        self.staging
    }

    /// The tail mode.
    pub const fn tail_mode(&self) -> TailMode {
        self.tail
    }
}

impl Default for AppenderOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Appends records of any size to a [`DirectFile`], packed one after another.
///
/// Use it as [`compio17::Appender`](super::compio17::Appender),
/// [`compio19::Appender`](super::compio19::Appender) or
/// [`compio20::Appender`](super::compio20::Appender).
///
/// - [`append`](Self::append) copies a record into a recycled aligned staging buffer and
///   returns its offset; a full staging buffer goes out as whole pages.
///   [`append_buf`](Self::append_buf) takes a record built in an [`AlignedBuf`] and writes
///   large ones from it without the copy.
/// - [`flush`](Self::flush) writes what is staged, the partial last page padded with zeros;
///   [`sync`](Self::sync) flushes and then `fdatasync`s: when it returns, every record appended
///   before it reads back after a crash.
/// - Write-behind: a full staging buffer (or a large record's buffer) is sent to the disk and
///   `append` goes on packing into another, with up to
///   [`write_behind`](AppenderOptions::write_behind) bytes (1 MiB) in flight; `flush` and `sync`
///   wait for all of them, and a write that failed fails the appender as a failed sync does
///   (the call that sees the failure returns once the other writes in flight have completed).
///   (The writes in flight are compio futures of the runtime's thread: the appender is not
///   `Send`.)
/// - [`finish`](Self::finish) flushes, truncates the file to [`len`](Self::len) and syncs.
/// - [`TailMode`] chooses between rewriting the partial last page at the next flush (the
///   default) and never writing a synced page again.
///
/// After an I/O error, or if a future of `append`, `append_buf`, `flush` or `sync` was dropped
/// before it completed, the appender refuses further calls: what it had staged may not be on
/// disk. Reopen and [`resume`](Self::resume) at the last synced length. (A dropped future's
/// write, and the writes behind of a dropped appender, stay with the runtime until the kernel
/// completes them: let the runtime run before another appender writes the same file, or they
/// may land after the new ones. A failed [`finish`](Self::finish) waits for its writes behind
/// before it gives the file back.)
///
/// ```
/// # #[cfg(feature = "compio-17")]
/// # fn main() -> std::io::Result<()> {
/// use jdb_alloc::direct::compio17::{Appender, DirectFile};
///
/// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join(format!("appender-{}.log", std::process::id()));
/// compio::runtime::Runtime::new()?.block_on(async {
///     let mut log = Appender::new(DirectFile::create(&path).await?);
///     assert_eq!(log.append(b"one").await?, 0);
///     assert_eq!(log.append(b"two").await?, 3); // packed, not one page each
///     log.sync().await?;
///     drop(log); // as a crash would: the file keeps its padded page
///
///     // Reopen and go on after the last synced byte.
///     let mut log = Appender::new(DirectFile::open(&path).await?).resume(6).await?;
///     assert_eq!(log.append(b"three").await?, 6);
///     let file = log.finish().await?;
///     assert_eq!((file.len().await?, &file.read_at(0, 100).await?[..]), (11, &b"onetwothree"[..]));
///     std::io::Result::Ok(())
/// })?;
/// # std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "compio-17"))]
/// # fn main() {}
/// ```
pub struct Appender<R: Compio> {
    file: DirectFile<R>,
    options: AppenderOptions,
    /// Allocated at the first use; `None` again only inside an operation that moved it into
    /// a write.
    stage: Option<Buffer>,
    /// Aligned file offset of the staging buffer's first byte.
    tail: u64,
    /// Logical length: the end of the last record (and of the padding of `NeverRewrite`).
    len: u64,
    flushed: u64,
    synced: u64,
    /// Set while an operation is under way; still set if it failed or its future was dropped.
    broken: bool,
    /// Set by `resume` and `zero_fill`: the file may hold bytes, the appender goes on after
    /// them (over them, for the zeros).
    resumed: bool,
    /// Writes behind, oldest first: every byte before `tail` is written once they complete.
    behind: Window<'static, (io::Result<()>, Buffer)>,
    /// Bytes those writes send.
    behind_bytes: usize,
    /// Buffers whose writes completed, for the next staging buffers and large records: at
    /// most the larger of the write-behind bound and one staging buffer's worth, and one more
    /// buffer of the staging size (see `reap`).
    spare: Vec<Buffer>,
    /// The first write's or sync's error, for the refusals after it.
    failure: Option<String>,
    /// With preallocation: the length the file was last grown to, once known.
    reserved: Option<u64>,
}

impl<R: Compio> Appender<R> {
    /// An appender at offset 0 of `file` (made with [`DirectFile::create`], or empty), with the
    /// default [`AppenderOptions`]. Nothing is allocated or written yet. A file that holds bytes
    /// is not overwritten: the first `append`, `flush` or `sync` refuses it (an error naming its
    /// length) unless [`resume`](Self::resume) said where to go on.
    pub fn new(file: DirectFile<R>) -> Self {
        Self::with_options(file, AppenderOptions::new())
    }

    /// An appender at offset 0 of `file`, staging and syncing as `options` says.
    pub fn with_options(file: DirectFile<R>, options: AppenderOptions) -> Self {
        Self {
            file,
            options,
            stage: None,
            tail: 0,
            len: 0,
            flushed: 0,
            synced: 0,
            broken: false,
            resumed: false,
            behind: Window::new(),
            behind_bytes: 0,
            spare: Vec::new(),
            failure: None,
            reserved: None,
        }
    }

    /// Goes on after the first `len` bytes of the file (a length an earlier appender's `sync`
    /// or `finish` covered); call it before any append. With [`TailMode::Rewrite`] the partial
    /// last page is read back and the next record follows at `len`; with
    /// [`TailMode::NeverRewrite`] that page is left alone and the stream goes on at the next
    /// page boundary: the bytes in between are what the file holds there (zeros after a
    /// `sync`), or zeros the file is extended with where it ends before. The file is then cut
    /// (or extended) to where the stream goes on, if its length differs (bytes past it, flushed
    /// but never synced before a crash, are dropped, and the file's length says where the log
    /// ends), and synced in any case: after a crash of the process, bytes written but never
    /// synced may still sit in the device's cache, and [`synced_len`](Self::synced_len) says
    /// `len` is durable.
    ///
    /// `len` is taken as given, and the cut is real: on a file of three 1,000-byte records,
    /// `resume(1500)` keeps half of the second and drops the third, and `resume(0)` empties
    /// the file. A log of framed records ([`append_framed`](Self::append_framed)) has
    /// [`resume_framed`](Self::resume_framed), which refuses a length inside a record, and
    /// [`recover`](Self::recover), which finds the end itself.
    ///
    /// # Errors
    /// [`io::ErrorKind::InvalidInput`] if records were already appended;
    /// [`io::ErrorKind::UnexpectedEof`] naming both lengths if the file is shorter than `len`;
    /// the read's, `set_len`'s or the sync's error.
    pub async fn resume(mut self, len: u64) -> io::Result<Self> {
        if self.len != 0 || self.broken {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("resume({len}): the appender is already at {}", self.len),
            ));
        }
        let file_len = self.file.len().await?;
        if file_len < len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "resume({len}): {} has only {file_len} bytes",
                    self.file.path().display()
                ),
            ));
        }
        let align = self.align() as u64;
        let start = match self.options.tail {
            TailMode::Rewrite => len - len % align,
            _ => len.next_multiple_of(align),
        };
        let mut stage = self.take_stage()?;
        let keep = (len.max(start) - start) as usize;
        if keep > 0 {
            let view = self.file.read_exact_at(start, keep).await?;
            // Less than one alignment unit: it fits the staging buffer.
            stage.extend(&view);
        }
        // The file ends where the stream goes on: bytes past it (flushed but never synced, or
        // an older run's) would otherwise outlive the next sync, and its length would no longer
        // say where the log ends. `NeverRewrite` past the end of the file extends it with the
        // stream's zeros up to the page boundary.
        let end = len.max(start);
        if file_len != end {
            self.file.set_len(end).await?;
        }
        self.file.sync_data().await?;
        self.stage = Some(stage);
        self.tail = start;
        self.len = start + keep as u64;
        self.flushed = self.len;
        self.synced = len;
        self.resumed = true;
        Ok(self)
    }

    /// The logical length: the offset the next record will have.
    #[inline]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// `true` if nothing has been appended (or resumed at).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The length the last [`sync`](Self::sync) made durable.
    #[inline]
    pub fn synced_len(&self) -> u64 {
        self.synced
    }

    /// The length the last [`flush`](Self::flush) (or `sync`) wrote: the file holds every
    /// byte before it. Bytes past it may still be staged, or on their way to the disk, and
    /// [`file`](Self::file)`().read_at` of them gives what the disk holds there (zeros, or
    /// older bytes): [`read_at`](Self::read_at) reads them right.
    #[inline]
    pub fn flushed_len(&self) -> u64 {
        self.flushed
    }

    /// The file, for reading records back: what was flushed is there (see
    /// [`flushed_len`](Self::flushed_len); [`read_at`](Self::read_at) reads any appended
    /// byte).
    #[inline]
    pub fn file(&self) -> &DirectFile<R> {
        &self.file
    }

    /// Reads `len` bytes at `pos` of what was appended, staged bytes included: never stale
    /// bytes. A range before [`flushed_len`](Self::flushed_len) is read from the file; one
    /// within the staging buffer is copied from it (no I/O); one that straddles the two is
    /// flushed first (a write of the staged pages, as [`flush`](Self::flush)), then read.
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")]
    /// # fn main() -> std::io::Result<()> {
    /// # use compio_19 as compio;
    /// use jdb_alloc::direct::compio19::{Appender, DirectFile};
    ///
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// let path = dir.join(format!("read-own-{}.log", std::process::id()));
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let mut log = Appender::new(DirectFile::create(&path).await?);
    ///     log.append(b"a").await?;
    ///     log.flush().await?;
    ///     let at = log.append(b"b").await?; // staged, not on disk
    ///     assert_eq!(&log.file().read_exact_at(at, 1).await?[..], [0]); // what the disk holds
    ///     assert_eq!(&log.read_at(at, 1).await?[..], b"b"); // what was appended
    ///     assert_eq!(&log.read_at(0, 2).await?[..], b"ab");
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
    /// [`io::ErrorKind::UnexpectedEof`] naming the range and the length if it ends past
    /// [`len`](Self::len); the read's error; the flush's (the appender is then unusable).
    pub async fn read_at(&mut self, pos: u64, len: usize) -> io::Result<ReadView> {
        let end = pos.checked_add(len as u64).filter(|&end| end <= self.len);
        let Some(end) = end else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "read of {len} bytes at {pos} from the appender of {}: it holds {} bytes",
                    self.file.path().display(),
                    self.len
                ),
            ));
        };
        if len == 0 || end <= self.flushed {
            // Written by the last flush; a rewrite of its page in flight writes the same bytes
            // there.
            return self.file.read_exact_at(pos, len).await;
        }
        if let Some(stage) = self.stage.as_ref().filter(|_| pos >= self.tail) {
            // Staged: `[tail, len)` is `stage[..len - tail]`.
            let from = (pos - self.tail) as usize;
            let mut copy = AlignedBuf::with_cap(len).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!("read of {len} bytes: {e}"),
                )
            })?;
            copy.extend(&stage[from..from + len])
                .map_err(io::Error::other)?;
            return Ok(ReadView::new(Source::Aligned(copy), 0, len, pos));
        }
        self.flush().await?;
        self.file.read_exact_at(pos, len).await
    }

    /// The options it runs with.
    #[inline]
    pub fn options(&self) -> AppenderOptions {
        self.options
    }

    /// Appends `record` after the previous one and returns its offset. An empty record
    /// changes nothing and returns the current length.
    ///
    /// # Errors
    /// - [`io::ErrorKind::InvalidInput`] if the file would pass `u64::MAX` bytes.
    /// - [`io::ErrorKind::OutOfMemory`], naming the buffer, if one the record needs (the next
    ///   staging buffer, or one for a large record's pages) cannot be allocated: refused before
    ///   anything changes, so the appender is as it was and the next call goes on.
    /// - The error of a write behind that has failed, or of the write the call waits for when
    ///   the bound is reached: the appender is then unusable (see the type's docs), whatever
    ///   the error's kind.
    pub async fn append(&mut self, record: &[u8]) -> io::Result<u64> {
        self.append_parts(&[record]).await
    }

    /// Appends one record made of `parts` (a header and a body, say), packed as if they were
    /// one slice, with no concatenation first; returns its offset.
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")]
    /// # fn main() -> std::io::Result<()> {
    /// # use compio_19 as compio;
    /// use jdb_alloc::direct::compio19::{Appender, DirectFile};
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join(format!("append-vectored-{}.log", std::process::id()));
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let mut log = Appender::new(DirectFile::create(&path).await?);
    ///     assert_eq!(log.append_vectored(&[b"key=", b"value"]).await?, 0);
    ///     assert_eq!(&log.read_at(0, 9).await?[..], b"key=value");
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
    /// As [`append`](Self::append), for the record as a whole: a record that would pass the
    /// largest file offset, or whose buffers cannot be allocated, is refused before any part
    /// is appended.
    pub async fn append_vectored(&mut self, parts: &[&[u8]]) -> io::Result<u64> {
        self.append_parts(parts).await
    }

    /// Appends the bytes of `parts`, one after the other, as one record (see
    /// [`append`](Self::append)).
    async fn append_parts(&mut self, parts: &[&[u8]]) -> io::Result<u64> {
        self.usable()?;
        let at = self.len;
        let total = parts.iter().try_fold(0usize, |n, p| n.checked_add(p.len()));
        let Some(total) = total else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "append of {} parts: more than usize::MAX bytes",
                    parts.len()
                ),
            ));
        };
        if total == 0 {
            return Ok(at);
        }
        // Then `tail + staged + total` fits in a `u64`: no sum below overflows.
        self.check_room(at, total)?;
        let mut stage = self.take_stage()?;
        let cap = stage.cap();
        let mut rest = Parts::new(parts, total);
        // The buffer that takes over from a stage the record fills. (After a large record the
        // stage is empty and what is left shorter than a page: none is needed.)
        let mut next = None;
        if total >= cap {
            // A large record: one write of the staged bytes and the record's whole pages from
            // a buffer of their size, instead of one per staging buffer.
            let whole = (stage.len() + total) / self.align() * self.align();
            // A spare of up to twice the length will do: the write sends the length only.
            // Allocated before anything changes: a refusal leaves the appender as it was.
            let mut big = match self.buffer_of(whole, whole.saturating_mul(2)) {
                Ok(big) => big,
                Err(e) => {
                    self.stage = Some(stage);
                    return Err(io::Error::new(
                        e.kind(),
                        format!("append of {total} bytes: {e}"),
                    ));
                }
            };
            self.broken = true;
            big.extend(&stage);
            rest.move_into(&mut big, whole - stage.len());
            stage.clear();
            self.write_behind(big, self.tail).await?;
            self.tail += whole as u64;
        } else if stage.len() + total >= cap {
            // Taken before anything changes, as the large record's buffer is.
            match self.fresh_stage() {
                Ok(buf) => next = Some(buf),
                Err(e) => {
                    self.stage = Some(stage);
                    return Err(e);
                }
            }
        }
        self.broken = true;
        // Both are shorter than `cap`: the stage fills at most once.
        let n = rest.left.min(cap - stage.len());
        rest.move_into(&mut stage, n);
        if let Some(next) = next {
            let full = std::mem::replace(&mut stage, next);
            self.write_behind(full, self.tail).await?;
            self.tail += cap as u64;
            rest.move_into(&mut stage, rest.left);
        }
        self.stage = Some(stage);
        self.len = at + total as u64;
        self.broken = false;
        Ok(at)
    }

    /// Appends the initialised bytes of `record`, an aligned buffer the record was built in,
    /// and gives the buffer back with the record's offset. Where nothing is staged (the stream
    /// is at an alignment boundary, as after a `NeverRewrite` sync or a record that filled the
    /// staging buffer exactly) and the record is at least as long as the staging buffer, its
    /// whole pages are written straight from it, with no copy; anything else is copied as
    /// [`append`](Self::append) does.
    ///
    /// # Errors
    /// As [`append`](Self::append).
    pub async fn append_buf(&mut self, record: AlignedBuf) -> R::BufResult<u64, AlignedBuf> {
        let align = self.align();
        let whole = record.len() / align * align;
        let nothing_staged = self.stage.as_ref().is_none_or(|stage| stage.is_empty());
        if self.broken || !nothing_staged || whole == 0 || whole < self.stage_cap() {
            let res = self.append(&record).await;
            return R::buf_result(res, record);
        }
        let at = self.len;
        if let Err(e) = self
            .usable()
            .and_then(|()| self.check_room(at, record.len()))
        {
            return R::buf_result(Err(e), record);
        }
        if record.len() > whole {
            // The staging buffer for the bytes past the whole pages, taken before anything
            // changes (none exists before the first copy): a refusal leaves the appender as
            // it was, and the copy below needs no buffer.
            match self.take_stage() {
                Ok(stage) => self.stage = Some(stage),
                Err(e) => return R::buf_result(Err(e), record),
            }
        }
        self.broken = true;
        if let Err(e) = self.reap(0).await {
            return R::buf_result(Err(e), record);
        }
        self.reserve(self.tail + whole as u64);
        // The write goes behind, alone there: a future dropped while it is in flight leaves it
        // where `settle` finds it, so nothing lands after `finish` gives the file back.
        let (file, align, pos) = (self.file.inner().clone(), self.align(), self.tail);
        self.behind_bytes += record.len();
        let write: BoxFuture<'static, _> = Box::pin(async move {
            let (res, record) = write_all::<R>(&file, align, record, whole, pos).await;
            (res, Buffer::Plain(record))
        });
        self.behind.push(write).await;
        let (res, record) = self.behind.front().await.expect("the write just sent");
        self.behind_bytes -= record.len();
        let Buffer::Plain(record) = record else {
            unreachable!("append_buf's write gives back the plain buffer it took")
        };
        if let Err(e) = res {
            return R::buf_result(Err(e), record);
        }
        self.tail += whole as u64;
        self.len += whole as u64;
        self.broken = false;
        let res = self.append(&record[whole..]).await.map(|_| at);
        R::buf_result(res, record)
    }

    /// Waits for the writes behind, then writes what is staged: whole pages, and the partial
    /// last page padded with zeros (which the next flush writes again, with what was appended
    /// since). Nothing is durable until [`sync`](Self::sync).
    ///
    /// # Errors
    /// The error of a write behind, or of the write of what is staged (the appender is then
    /// unusable).
    pub async fn flush(&mut self) -> io::Result<()> {
        self.usable()?;
        if self.flushed == self.len {
            return Ok(());
        }
        self.broken = true;
        let mut stage = match self.stage.take() {
            Some(stage) if !stage.is_empty() => stage,
            empty => {
                // Nothing staged (after an `append_buf` that wrote in place, with or without
                // a staging buffer yet): no write of nothing, and no buffer to take, only the
                // writes behind to wait for.
                self.stage = empty;
                self.reap(0).await?;
                self.flushed = self.len;
                self.broken = false;
                return Ok(());
            }
        };
        let staged = stage.len();
        let padded = staged.next_multiple_of(self.align());
        // The pages go out as one more write behind, so that a flush whose future is dropped
        // leaves its write where `settle` finds it; the partial last page, which the next
        // flush writes again, waits aside meanwhile and then starts the staging buffer (most
        // often the same buffer, back from its write).
        let whole = staged / self.align() * self.align();
        let rest = stage[whole..staged].to_vec();
        stage.pad_zeros(padded);
        self.send(stage, self.tail).await;
        self.reap(0).await?;
        // A spare: the buffer just written came back and was kept (see `reap`).
        let mut next = self.fresh_stage()?;
        next.extend(&rest);
        self.stage = Some(next);
        self.tail += whole as u64;
        self.flushed = self.len;
        self.broken = false;
        Ok(())
    }

    /// Flushes and `fdatasync`s: when it returns, every record appended so far reads back after
    /// a reopen, process crash or power cut included. With [`TailMode::NeverRewrite`] the stream
    /// is first padded with zeros to the end of its page, and stays so. With
    /// [`TailMode::Rewrite`] a later flush writes the partial last page again: a power cut
    /// during that write can tear the page, synced records in it included, on a device that
    /// does not write a page atomically.
    ///
    /// # Errors
    /// The write's or the sync's error (the appender is then unusable).
    pub async fn sync(&mut self) -> io::Result<()> {
        self.usable()?;
        if self.synced == self.len {
            return Ok(());
        }
        // (No staging buffer yet, after an `append_buf` that wrote in place: nothing staged,
        // and `len` is at a boundary already.)
        if let (TailMode::NeverRewrite, Some(stage)) = (self.options.tail, self.stage.as_mut()) {
            let padded = stage.len().next_multiple_of(self.file.alignment());
            stage.pad_zeros(padded);
            self.len = self.tail + padded as u64;
        }
        self.flush().await?;
        self.broken = true;
        if let Err(e) = self.file.sync_data().await {
            self.failure = Some(format!("sync_data: {e}"));
            return Err(e);
        }
        self.synced = self.len;
        self.broken = false;
        Ok(())
    }

    /// Lays the file out ahead of the log: flushes, writes zeros from the end of the log's
    /// last page to `len` (whole pages) and syncs, so that the appends up to `len` land on
    /// blocks already allocated and written, and leave the file's length alone. Their syncs then commit no
    /// file-system metadata, only the device's cache flush. Without this, ext4 and XFS commit
    /// their journal in every `fdatasync` after a write that allocated or converted blocks or
    /// moved the end of the file. That is each sync of a log whose batches span new pages:
    /// about twice a flush here (benches/RESULTS.md, "Group commit"). Do it when a log
    /// segment is made, before it takes commits, as PostgreSQL fills its WAL segments with
    /// zeros; the zeros are written once, at the device's sequential speed.
    ///
    /// The file is then longer than the log, as with [`AppenderOptions::preallocate`]:
    /// [`finish`](Self::finish) cuts it to [`len`](Self::len); after a crash its length no
    /// longer says where the log ends. Frame the records and [`recover`](Self::recover) (it
    /// stops at the zeros), or [`resume`](Self::resume) at a length you kept. Either cuts
    /// the file where the log goes on, so fill it again after a reopen; `recover` reads the
    /// zeros up to the end of the file to tell them from a lost page (a 64 MiB segment: 64 MiB
    /// read at a reopen). A `len` the log already reaches does nothing; space
    /// [`preallocate`](AppenderOptions::preallocate)d before `len` is written too (its blocks
    /// are unwritten until then).
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")]
    /// # fn main() -> std::io::Result<()> {
    /// # use compio_19 as compio;
    /// use jdb_alloc::direct::compio19::{Appender, DirectFile};
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join(format!("zero-fill-{}.log", std::process::id()));
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let mut log = Appender::new(DirectFile::create(&path).await?);
    ///     log.zero_fill(1 << 20).await?;
    ///     log.append(b"a record").await?;
    ///     log.sync().await?; // one device flush, no journal commit
    ///     assert_eq!(log.file().len().await?, 1 << 20);
    ///     let file = log.finish().await?;
    ///     assert_eq!(file.len().await?, 8);
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
    /// As [`flush`](Self::flush); [`io::ErrorKind::InvalidInput`] for a `len` past the
    /// largest file offset; `fallocate`'s error where the filesystem has no room (or a file
    /// that long), the appender still usable; the error of allocating the zeros, of their
    /// writes or of the sync, which leave the appender unusable, as a failed sync does (the
    /// sync would have covered the records flushed before it).
    pub async fn zero_fill(&mut self, len: u64) -> io::Result<()> {
        let align = self.align();
        let Some(to) = len
            .checked_next_multiple_of(align as u64)
            .filter(|&to| to <= i64::MAX as u64)
        else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("zero_fill({len}): past the largest file offset"),
            ));
        };
        self.flush().await?;
        // Past the log's last page the file holds nothing of the log: zeros (a sync's padding,
        // preallocated space, which is written here too) or no bytes at all; a file the
        // appender does not own was refused by `flush`.
        let from = self.len.next_multiple_of(align as u64);
        if to <= from {
            return Ok(());
        }
        // Room first: a disk too small fails here, before any zero is written, and the
        // appender stays usable (a filesystem without `fallocate` is simply written).
        let fd = self.file.inner().as_fd();
        match sys::preallocate(fd, from, to - from, false) {
            Err(e) if e.kind() != io::ErrorKind::Unsupported => {
                return Err(io::Error::new(e.kind(), format!("zero_fill({len}): {e}")));
            }
            _ => {}
        }
        self.broken = true;
        let mut at = from;
        while at < to {
            // 1 MiB a write, at the device's sequential speed; each a write behind, so that a
            // `zero_fill` whose future is dropped leaves its write where `settle` finds it.
            let n = (1 << 20).min(to - at) as usize;
            let zeros = match AlignedBuf::zeroed(n) {
                Ok(zeros) => zeros,
                Err(e) => {
                    self.failure = Some(format!("zero_fill({len}): zeros: {e}"));
                    return Err(io::Error::new(
                        io::ErrorKind::OutOfMemory,
                        format!("zero_fill({len}): zeros: {e}"),
                    ));
                }
            };
            self.send(Buffer::Plain(zeros), at).await;
            if let Err(e) = self.reap(0).await {
                self.failure = Some(format!("zero_fill({len}): {e}"));
                return Err(e);
            }
            at += n as u64;
        }
        if let Err(e) = self.file.sync_data().await {
            self.failure = Some(format!("zero_fill({len}): sync_data: {e}"));
            return Err(e);
        }
        // The bytes past the log are its own now: the first append at offset 0 goes over them.
        self.resumed = true;
        self.broken = false;
        Ok(())
    }

    /// Flushes, truncates the file to [`len`](Self::len) (dropping the padding of the last
    /// page) and syncs; gives the file back. With [`TailMode::NeverRewrite`] the zeros an
    /// earlier `sync` padded the stream with are part of `len` and stay; only what `flush`
    /// padded is dropped.
    ///
    /// # Errors
    /// As [`flush`](Self::flush), [`DirectFile::set_len`] and [`DirectFile::sync_data`], or the
    /// refusal of an appender an earlier error left unusable: a [`FinishError`] that gives the
    /// file back with the error (`?` turns it into the [`io::Error`]), once every write the
    /// appender still had behind has completed (none lands after you resume). What is durable
    /// is what [`synced_len`](Self::synced_len), read before calling `finish`, said: reopen or
    /// keep the file, and [`resume`](Self::resume) there.
    pub async fn finish(mut self) -> Result<DirectFile<R>, FinishError<R>> {
        match self.finish_io().await {
            Ok(()) => Ok(self.file),
            Err(e) => Err(FinishError::new(e, self.into_file().await)),
        }
    }

    /// As [`finish`](Self::finish), without the data sync: for a file written once that need
    /// not survive a crash on its own (a value file that a later sync covers, a scratch
    /// file). What was synced before stays durable; the rest, and the cut to
    /// [`len`](Self::len), may not be until something syncs the file.
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")]
    /// # fn main() -> std::io::Result<()> {
    /// # use compio_19 as compio;
    /// use jdb_alloc::direct::compio19::{Appender, DirectFile};
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join(format!("finish-unsynced-{}.log", std::process::id()));
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let mut log = Appender::new(DirectFile::create(&path).await?);
    ///     log.append(b"written once").await?;
    ///     let file = log.finish_unsynced().await?;
    ///     assert_eq!((file.len().await?, file.syncs()), (12, 0));
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
    /// As [`finish`](Self::finish), but for the sync.
    pub async fn finish_unsynced(mut self) -> Result<DirectFile<R>, FinishError<R>> {
        let res = async {
            self.flush().await?;
            self.file.set_len(self.len).await
        }
        .await;
        match res {
            Ok(()) => Ok(self.file),
            Err(e) => Err(FinishError::new(e, self.into_file().await)),
        }
    }

    /// The file, given up without a flush (for a caller that knows the appender failed), once
    /// every write still behind has completed: none lands after the caller resumes the file.
    pub(super) async fn into_file(mut self) -> DirectFile<R> {
        self.behind.settle().await;
        self.file
    }

    async fn finish_io(&mut self) -> io::Result<()> {
        self.flush().await?;
        self.file.set_len(self.len).await?;
        self.file.sync_data().await
    }

    /// Refuses a record that would end past the largest file offset.
    fn check_room(&self, at: u64, len: usize) -> io::Result<()> {
        match at.checked_add(len as u64) {
            Some(_) => Ok(()),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("append of {len} bytes at {at}: past the largest file offset"),
            )),
        }
    }

    /// The staging buffer's capacity: the size asked for, in whole alignment units (`usize::MAX`,
    /// which no allocation grants, where that overflows).
    fn stage_cap(&self) -> usize {
        let align = self.align();
        self.options
            .staging
            .max(1)
            .checked_next_multiple_of(align)
            .unwrap_or(usize::MAX)
    }

    fn align(&self) -> usize {
        self.file.alignment()
    }

    fn usable(&self) -> io::Result<()> {
        if self.len == 0 && !self.resumed {
            self.check_empty()?;
        }
        if self.broken {
            let why = match &self.failure {
                Some(failure) => format!("an earlier operation failed ({failure})"),
                None => "an earlier operation failed or was cancelled".to_owned(),
            };
            return Err(io::Error::other(format!(
                "appender of {} is unusable: {why} after {} synced bytes",
                self.file.path().display(),
                self.synced
            )));
        }
        Ok(())
    }

    /// Refuses to write from offset 0 over a file that holds bytes (until something is
    /// appended: the file's length is asked then, not when the appender is made).
    fn check_empty(&self) -> io::Result<()> {
        let file_len = sys::len(self.file.inner().as_fd())?;
        if file_len == 0 {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "an appender at offset 0 of {}, which has {file_len} bytes, would overwrite them: \
                 resume(len) goes on after the first len bytes",
                self.file.path().display()
            ),
        ))
    }

    /// Sends `buf` (whole pages) to be written at `pos` while the caller goes on, then reaps
    /// writes until no more than the write-behind bound is in flight.
    async fn write_behind(&mut self, buf: Buffer, pos: u64) -> io::Result<()> {
        self.send(buf, pos).await;
        if self.behind_bytes <= self.options.behind {
            // Not waiting: the write must reach the kernel before the next records are packed.
            yield_now().await;
        }
        self.reap(self.options.behind).await
    }

    /// Puts the write of `buf` at `pos` among the writes behind (the file grown ahead first).
    async fn send(&mut self, buf: Buffer, pos: u64) {
        self.reserve(pos + buf.len() as u64);
        let (file, align) = (self.file.inner().clone(), self.align());
        self.behind_bytes += buf.len();
        let write: BoxFuture<'static, _> =
            Box::pin(async move { write_buffer::<R>(&file, align, buf, pos).await });
        self.behind.push(write).await;
    }

    /// With preallocation, grows the file past `end` if it is shorter (see
    /// [`AppenderOptions::preallocate`]). Where that fails (no room for a whole step, no
    /// `fallocate`), preallocation stops and the writes extend the file: a full disk is then
    /// the error of the write that does not fit, as without the setting.
    fn reserve(&mut self, end: u64) {
        let step = self.options.ahead;
        if step == 0 || self.reserved.is_some_and(|r| end <= r) {
            return;
        }
        let fd = self.file.inner().as_fd();
        let grown = self
            .reserved
            .map_or_else(|| sys::len(fd), Ok)
            .and_then(|from| {
                if end <= from {
                    return Ok(from);
                }
                let to = end.checked_next_multiple_of(step).unwrap_or(end);
                sys::preallocate(fd, from, to - from, false).map(|()| to)
            });
        match grown {
            Ok(to) => self.reserved = Some(to),
            Err(_) => {
                self.options.ahead = 0;
                self.reserved = None;
            }
        }
    }

    /// Takes the writes behind that have completed, oldest first, and waits for more while
    /// over `bound` bytes are in flight (`0`: for all). A failed write fails the appender:
    /// `broken` stays set, as the caller set it, and its error is returned.
    async fn reap(&mut self, bound: usize) -> io::Result<()> {
        loop {
            // A bound of 0 waits for every write, whatever its length.
            let done = if self.behind_bytes > bound || (bound == 0 && self.behind.len() > 0) {
                self.behind.front().await
            } else {
                self.behind.try_front().await
            };
            let Some((res, mut buf)) = done else {
                return Ok(());
            };
            self.behind_bytes -= buf.len();
            if let Err(e) = res {
                self.failure = Some(format!("a write behind: {e}"));
                // The later writes may still land: wait for them, so that a caller who
                // reopens and resumes after this error races with nothing.
                self.behind.settle().await;
                self.behind_bytes = 0;
                return Err(e);
            }
            let stage_cap = self.stage_cap();
            let kept: usize = self.spare.iter().map(Buffer::cap).sum();
            // One buffer of the staging size is kept whatever the others hold: a flush takes
            // its next staging buffer once its write is back, where a refusal would fail the
            // appender, and this one (its own, most often) is then there to take.
            let first_stage =
                buf.cap() == stage_cap && !self.spare.iter().any(|b| b.cap() == stage_cap);
            if first_stage || kept + buf.cap() <= self.options.behind.max(stage_cap) {
                buf.clear();
                self.spare.push(buf);
            }
        }
    }

    /// An empty staging buffer for the one just sent: a spare, or a new one.
    fn fresh_stage(&mut self) -> io::Result<Buffer> {
        let cap = self.stage_cap();
        self.buffer_of(cap, cap)
            .map_err(|e| io::Error::new(e.kind(), format!("appender staging buffer: {e}")))
    }

    /// An empty buffer of at least `len` bytes and at most `cap` (both multiples of the
    /// alignment): a spare that fits, or a new one of `len`.
    fn buffer_of(&mut self, len: usize, cap: usize) -> io::Result<Buffer> {
        match self
            .spare
            .iter()
            .position(|b| (len..=cap).contains(&b.cap()))
        {
            Some(i) => Ok(self.spare.swap_remove(i)),
            None => self.file.buffer(len),
        }
    }

    /// The staging buffer, taken at the first use: a frame of the file's pool if it has one
    /// free, else a recycled plain buffer. It goes back when the appender drops.
    fn take_stage(&mut self) -> io::Result<Buffer> {
        if let Some(stage) = self.stage.take() {
            return Ok(stage);
        }
        self.file
            .buffer(self.stage_cap())
            .map_err(|e| io::Error::new(e.kind(), format!("appender staging buffer: {e}")))
    }
}

/// The bytes of a record given in parts, taken front to back.
struct Parts<'p, 'b> {
    /// What is left of the current part.
    head: &'b [u8],
    more: &'p [&'b [u8]],
    /// Bytes left in all.
    left: usize,
}

impl<'p, 'b> Parts<'p, 'b> {
    fn new(parts: &'p [&'b [u8]], total: usize) -> Self {
        Self {
            head: &[],
            more: parts,
            left: total,
        }
    }

    /// Moves the next `n` bytes (at most `left`) to the end of `buf`, which has room for them.
    fn move_into(&mut self, buf: &mut Buffer, mut n: usize) {
        debug_assert!(n <= self.left);
        self.left -= n;
        while n > 0 {
            if self.head.is_empty() {
                let Some((head, more)) = self.more.split_first() else {
                    return;
                };
                (self.head, self.more) = (head, more);
                continue;
            }
            let k = n.min(self.head.len());
            buf.extend(&self.head[..k]);
            self.head = &self.head[k..];
            n -= k;
        }
    }
}

impl<R: Compio> fmt::Debug for Appender<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Appender")
            .field("file", &self.file)
            .field("options", &self.options)
            .field("len", &self.len)
            .field("flushed", &self.flushed)
            .field("synced", &self.synced)
            .field("broken", &self.broken)
            .field("writes_behind", &self.behind.len())
            .field("bytes_behind", &self.behind_bytes)
            .finish_non_exhaustive()
    }
}
