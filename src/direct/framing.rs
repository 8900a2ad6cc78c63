//! Framed records: a header of length and checksum before each record, so that a log finds its
//! own end on reopen. [`Appender::append_framed`] writes them, [`Records`] reads them back and
//! says where and why the log ends, [`Appender::recover`] reopens a log after its last whole
//! record.
//!
//! The frame, as in LevelDB's and RocksDB's log files and most write-ahead logs: the payload's
//! length (`u32`, little-endian), then the CRC32C (Castagnoli) of those four bytes and the
//! payload (`u32`, little-endian), then the payload. The checksum covers the length, so a torn
//! or overwritten length is caught like a torn payload. A header of eight zero bytes is never a
//! record's (the CRC32C of a zero length is not zero): it is padding (a flush's or a
//! [`TailMode::NeverRewrite`](super::TailMode::NeverRewrite) sync's zeros up to a page
//! boundary), skipped to the next boundary; so are fewer than eight zeros before a boundary
//! where no valid record starts. Padding never fills a page, so zeros at a page boundary end
//! the log: the records after a page lost to a crash are not taken.
//!
//! What no frame can tell: a page that a flush writes again (its partial last page, in either
//! tail mode) whose new version a crash lost while the next page landed reads as records,
//! padding, then records; the scan takes the records after that padding, so the log found may
//! miss records that were never synced (a synced record is never missed: its sync covered the
//! page).

use std::{fmt, io};

use super::{Appender, AppenderOptions, Compio, DirectFile, Reader, SharedAppender, TailMode};

/// Bytes of a frame's header: the payload's length and the checksum, four bytes each.
///
/// ```
/// assert_eq!(jdb_alloc::direct::FRAME_HEADER, 8);
/// ```
pub const FRAME_HEADER: usize = 8;

/// The longest payload a frame holds: `u32::MAX` bytes.
///
/// ```
/// assert_eq!(jdb_alloc::direct::FRAME_MAX, u32::MAX as usize);
/// ```
pub const FRAME_MAX: usize = u32::MAX as usize;

/// The header of the frame of `payload`, for engines that write frames themselves (with
/// [`Appender::append_vectored`], say).
///
/// # Errors
/// [`io::ErrorKind::InvalidInput`] for a payload longer than [`FRAME_MAX`].
///
/// ```
/// use jdb_alloc::direct::frame_header;
///
/// let header = frame_header(b"abc").unwrap();
/// assert_eq!(&header[..4], &3u32.to_le_bytes());
/// assert_ne!(frame_header(b"abd").unwrap()[4..], header[4..]); // the checksum differs
/// assert_ne!(frame_header(b"").unwrap(), [0; 8]); // never padding
/// ```
pub fn frame_header(payload: &[u8]) -> io::Result<[u8; FRAME_HEADER]> {
    let len = u32::try_from(payload.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a framed record of {} bytes: a frame holds at most {FRAME_MAX}",
                payload.len()
            ),
        )
    })?;
    let len = len.to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len), payload);
    let mut header = [0; FRAME_HEADER];
    header[..4].copy_from_slice(&len);
    header[4..].copy_from_slice(&crc.to_le_bytes());
    Ok(header)
}

/// Why a scan of framed records stopped, in [`LogEnd`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndReason {
    /// The file ends there, or only zeros (padding) follow to its end: a clean end.
    EndOfFile,
    /// The record's header says more bytes than the file holds: a write cut short (a crash
    /// during an append that was not synced), or bytes that are not a header (whose length
    /// no checksum can confirm without the bytes it names).
    Torn {
        /// The record's length, header included.
        needed: u64,
        /// Bytes the file holds from the record's start.
        held: u64,
    },
    /// The header's checksum does not match its length and payload: a torn or overwritten
    /// record, or bytes that are not a record.
    Checksum,
    /// A page boundary holds zeros where a record would start (padding never fills a page:
    /// a lost page, or a boundary that padding led to), and records or bytes other than zeros
    /// follow later: the log ends there, what is past it is not taken.
    Zeros,
}

/// Where a scan of framed records stopped ([`Records::end`]): `at` is the end of the last
/// whole record (0 for none), where [`Appender::recover`] goes on; `stop` where the scan found
/// what ended it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LogEnd {
    /// The end of the last whole record.
    pub at: u64,
    /// Where the scan found the torn record, the bad checksum or the zeros (past `at` when
    /// padding came between).
    pub stop: u64,
    /// Why it stopped.
    pub reason: EndReason,
}

impl fmt::Display for LogEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            EndReason::EndOfFile => write!(f, "the log ends at {} (end of file)", self.at),
            EndReason::Torn { needed, held } => write!(
                f,
                "the log ends at {}: the record at {} needs {needed} bytes, the file holds {held}",
                self.at, self.stop
            ),
            EndReason::Checksum => write!(
                f,
                "the log ends at {}: the record at {} fails its checksum",
                self.at, self.stop
            ),
            EndReason::Zeros => write!(
                f,
                "the log ends at {}: zeros at {} where a record would start",
                self.at, self.stop
            ),
        }
    }
}

/// The framed records of a file, front to back, read through a [`Reader`] (reads ahead, no
/// per-record I/O): [`next`](Self::next) gives each record's position (of its header) and
/// payload, then `None` once the log ends, and [`end`](Self::end) says where and why.
///
/// ```
/// # #[cfg(feature = "compio-19")]
/// # fn main() -> std::io::Result<()> {
/// # use compio_19 as compio;
/// use jdb_alloc::direct::{EndReason, Records, compio19::{Appender, DirectFile}};
///
/// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join(format!("records-{}.log", std::process::id()));
/// compio::runtime::Runtime::new()?.block_on(async {
///     let mut log = Appender::new(DirectFile::create(&path).await?);
///     log.append_framed(b"first").await?;
///     log.append_framed(&[7; 5000]).await?;
///     let file = log.finish().await?;
///
///     let mut records = Records::new(&file).await?;
///     assert_eq!(records.next().await?, Some((0, b"first".to_vec())));
///     assert_eq!(records.next().await?.unwrap().1.len(), 5000);
///     assert_eq!(records.next().await?, None);
///     let end = records.end().unwrap();
///     assert_eq!((end.at, end.reason), (2 * 8 + 5 + 5000, EndReason::EndOfFile));
///     std::io::Result::Ok(())
/// })?;
/// # std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "compio-19"))]
/// # fn main() {}
/// ```
pub struct Records<'a, R: Compio> {
    reader: Reader<'a, R>,
    /// Bytes read and not yet taken: the file's `[base, base + buf.len() - off)`.
    buf: Vec<u8>,
    off: usize,
    base: u64,
    file_len: u64,
    align: u64,
    /// The end of the last whole record.
    at: u64,
    end: Option<LogEnd>,
}

impl<'a, R: Compio> Records<'a, R> {
    /// The records of `file` from its start.
    ///
    /// # Errors
    /// The error of asking the file's length.
    pub async fn new(file: &'a DirectFile<R>) -> io::Result<Self> {
        Ok(Self {
            reader: file.reader(0),
            buf: Vec::new(),
            off: 0,
            base: 0,
            file_len: file.len().await?,
            align: file.alignment() as u64,
            at: 0,
            end: None,
        })
    }

    /// The next record: its position (of its header) and its payload; `None` once the log
    /// ended (see [`end`](Self::end)), and from then on.
    ///
    /// # Errors
    /// A read's error (the scan can go on with the next call, from where it was).
    pub async fn next(&mut self) -> io::Result<Option<(u64, Vec<u8>)>> {
        let next = self.find().await;
        if self.end.is_some() {
            // The log may end before the file: no read ahead is left to be cancelled.
            self.reader.settle().await;
        }
        next
    }

    /// [`next`](Self::next), the reads ahead left as they are.
    async fn find(&mut self) -> io::Result<Option<(u64, Vec<u8>)>> {
        loop {
            if self.end.is_some() {
                return Ok(None);
            }
            let pos = self.pos();
            let left = self.file_len - pos;
            if left < FRAME_HEADER as u64 {
                // Fewer bytes than a header: zeros are padding, anything else a torn header.
                self.fill(left as usize).await?;
                let tail = &self.buf[self.off..];
                self.end = Some(if tail.iter().all(|&b| b == 0) {
                    self.stop(pos, EndReason::EndOfFile)
                } else {
                    self.stop(
                        pos,
                        EndReason::Torn {
                            needed: FRAME_HEADER as u64,
                            held: left,
                        },
                    )
                });
                return Ok(None);
            }
            self.fill(FRAME_HEADER).await?;
            let header: [u8; FRAME_HEADER] = self.buf[self.off..][..FRAME_HEADER]
                .try_into()
                .expect("a header's bytes");
            if header == [0; FRAME_HEADER] {
                if pos % self.align == 0 {
                    // Padding never starts at a page boundary: a lost page, or the end.
                    self.end_at_zeros(pos).await?;
                    return Ok(None);
                }
                if !self.skip_padding(pos).await? {
                    return Ok(None);
                }
                continue;
            }
            let len = u32::from_le_bytes(header[..4].try_into().expect("four bytes")) as u64;
            let needed = FRAME_HEADER as u64 + len;
            let whole = needed <= left && {
                self.fill(needed as usize).await?;
                let payload = &self.buf[self.off..][FRAME_HEADER..needed as usize];
                let crc = u32::from_le_bytes(header[4..].try_into().expect("four bytes"));
                crc32c::crc32c_append(crc32c::crc32c(&header[..4]), payload) == crc
            };
            if !whole {
                // Padding shorter than a header: zeros up to the page boundary, the header
                // read across it. (A valid header may begin with zeros too, hence checked
                // first.)
                let gap = ((pos + 1).next_multiple_of(self.align) - pos) as usize;
                if gap < FRAME_HEADER && header[..gap].iter().all(|&b| b == 0) {
                    if !self.skip_padding(pos).await? {
                        return Ok(None);
                    }
                    continue;
                }
                // Cut short, the length tells more than a checksum mismatch over what is
                // there would.
                let reason = if needed > left {
                    EndReason::Torn { needed, held: left }
                } else {
                    EndReason::Checksum
                };
                self.end = Some(self.stop(pos, reason));
                return Ok(None);
            }
            let payload = &self.buf[self.off..][FRAME_HEADER..needed as usize];
            let payload = payload.to_vec();
            self.take(needed as usize);
            self.at = pos + needed;
            return Ok(Some((pos, payload)));
        }
    }

    /// Where and why the log ended, once [`next`](Self::next) returned `None`.
    pub fn end(&self) -> Option<LogEnd> {
        self.end
    }

    /// The file offset of the next unread byte.
    fn pos(&self) -> u64 {
        self.base + self.off as u64
    }

    fn stop(&self, stop: u64, reason: EndReason) -> LogEnd {
        LogEnd {
            at: self.at,
            stop,
            reason,
        }
    }

    /// Skips the zeros from `pos` to the next page boundary: `true` if a record may start
    /// there, `false` (the end set) if the file ends first or zeros start there too.
    async fn skip_padding(&mut self, pos: u64) -> io::Result<bool> {
        let next = (pos + 1).next_multiple_of(self.align);
        let upto = next.min(self.file_len);
        self.fill((upto - pos) as usize).await?;
        let gap = &self.buf[self.off..][..(upto - pos) as usize];
        if let Some(i) = gap.iter().position(|&b| b != 0) {
            // Not padding: bytes after zeros within the page.
            self.end = Some(self.stop(pos + i as u64, EndReason::Checksum));
            return Ok(false);
        }
        self.take((upto - pos) as usize);
        if upto == self.file_len {
            self.end = Some(self.stop(upto, EndReason::EndOfFile));
            return Ok(false);
        }
        if self.file_len - upto >= FRAME_HEADER as u64 {
            self.fill(FRAME_HEADER).await?;
            if self.buf[self.off..][..FRAME_HEADER] == [0; FRAME_HEADER] {
                self.end_at_zeros(upto).await?;
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Ends the log at `pos`, where zeros start at a page boundary: a clean end if only zeros
    /// follow (preallocated or padded space), else [`EndReason::Zeros`].
    async fn end_at_zeros(&mut self, pos: u64) -> io::Result<()> {
        let reason = if self.rest_is_zero().await? {
            EndReason::EndOfFile
        } else {
            EndReason::Zeros
        };
        self.end = Some(self.stop(pos, reason));
        Ok(())
    }

    /// Whether every byte from here to the end of the file is zero (preallocated or padded
    /// space), read through.
    async fn rest_is_zero(&mut self) -> io::Result<bool> {
        loop {
            if self.buf[self.off..].iter().any(|&b| b != 0) {
                return Ok(false);
            }
            let had = self.buf.len() - self.off;
            self.take(had);
            match self.reader.next_chunk().await? {
                Some(chunk) => self.buf.extend_from_slice(&chunk),
                None => return Ok(true),
            }
        }
    }

    /// Reads until `n` bytes are buffered (the caller checked the file holds them).
    async fn fill(&mut self, n: usize) -> io::Result<()> {
        while self.buf.len() - self.off < n {
            if self.off > 0 {
                self.buf.drain(..self.off);
                self.base += self.off as u64;
                self.off = 0;
            }
            match self.reader.next_chunk().await? {
                Some(chunk) => self.buf.extend_from_slice(&chunk),
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "framed records: the file ended before {} bytes it had",
                            self.file_len
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn take(&mut self, n: usize) {
        self.off += n;
    }
}

/// What [`Appender::recover`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Recovered {
    /// Whole records found.
    pub records: u64,
    /// Where and why the scan stopped; the appender goes on at `end.at`.
    pub end: LogEnd,
    /// Bytes the file held past `end.at`, cut (a torn tail, padding, garbage). With
    /// [`TailMode::NeverRewrite`](super::TailMode::NeverRewrite) the file then holds zeros from
    /// `end.at` to the next page boundary, where the appender goes on.
    pub cut: u64,
}

impl<R: Compio> Appender<R> {
    /// Appends `payload` as one framed record (header and payload, no concatenation) and
    /// returns the position of its header. [`Records`] reads it back.
    ///
    /// # Errors
    /// As [`frame_header`] and [`append`](Self::append).
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")]
    /// # fn main() -> std::io::Result<()> {
    /// # use compio_19 as compio;
    /// use jdb_alloc::direct::{FRAME_HEADER, compio19::{Appender, DirectFile}};
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join(format!("append-framed-{}.log", std::process::id()));
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let mut log = Appender::new(DirectFile::create(&path).await?);
    ///     assert_eq!(log.append_framed(b"abc").await?, 0);
    ///     assert_eq!(log.append_framed(b"de").await?, (FRAME_HEADER + 3) as u64);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "compio-19"))]
    /// # fn main() {}
    /// ```
    pub async fn append_framed(&mut self, payload: &[u8]) -> io::Result<u64> {
        let header = frame_header(payload)?;
        self.append_vectored(&[&header, payload]).await
    }

    /// Reopens a log of framed records: scans `file` ([`Records`]), cuts what follows the
    /// last whole record (a torn tail, padding, garbage), syncs what is left, and gives the
    /// appender that goes on right after it, with what the scan found. No hole is left: with
    /// [`TailMode::Rewrite`](super::TailMode::Rewrite) the next record follows the last one;
    /// with `NeverRewrite` it starts at the next page boundary, past zeros the scan skips
    /// (padding, or torn bytes the cut made zeros).
    ///
    /// # Errors
    /// A read's error, and those of [`resume`](Self::resume).
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")]
    /// # fn main() -> std::io::Result<()> {
    /// # use compio_19 as compio;
    /// use jdb_alloc::direct::{AppenderOptions, EndReason, compio19::{Appender, DirectFile}};
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join(format!("recover-{}.log", std::process::id()));
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let mut log = Appender::new(DirectFile::create(&path).await?);
    ///     log.append_framed(b"kept").await?;
    ///     log.sync().await?;
    ///     log.append(b"a torn half-record").await?; // not framed: garbage to a reader
    ///     log.flush().await?;
    ///     drop(log); // a crash
    ///
    ///     let file = DirectFile::open(&path).await?;
    ///     let (mut log, found) = Appender::recover(file, AppenderOptions::new()).await?;
    ///     assert_eq!((found.records, found.end.at), (1, 12));
    ///     // Text read as a header: a length past the end of the file.
    ///     assert!(matches!(found.end.reason, EndReason::Torn { .. }), "{}", found.end);
    ///     assert_eq!(log.append_framed(b"next").await?, 12); // right after the last record
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "compio-19"))]
    /// # fn main() {}
    /// ```
    pub async fn recover(
        file: DirectFile<R>,
        options: AppenderOptions,
    ) -> io::Result<(Self, Recovered)> {
        let found = scan(&file, u64::MAX).await?;
        let (records, end) = (found.records, found.end.expect("a scan to the end ends"));
        let file_len = file.len().await?;
        let log = Self::with_options(file, options).resume_cut(end.at).await?;
        Ok((
            log,
            Recovered {
                records,
                end,
                cut: file_len - end.at,
            },
        ))
    }

    /// [`resume`](Self::resume) for a log of framed records: refuses a length that is not
    /// the end of a whole record (or 0), where `resume` would cut a record in two.
    ///
    /// # Errors
    /// [`io::ErrorKind::InvalidInput`] naming the record boundaries around `len`; those of
    /// `resume`.
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")]
    /// # fn main() -> std::io::Result<()> {
    /// # use compio_19 as compio;
    /// use jdb_alloc::direct::compio19::{Appender, DirectFile};
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join(format!("resume-framed-{}.log", std::process::id()));
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let mut log = Appender::new(DirectFile::create(&path).await?);
    ///     for _ in 0..3 {
    ///         log.append_framed(&[1; 992]).await?; // 1,000 bytes a frame
    ///     }
    ///     log.finish().await?;
    ///     let open = || DirectFile::open(&path);
    ///     let err = Appender::new(open().await?).resume_framed(1500).await.unwrap_err();
    ///     assert!(err.to_string().contains("between 1000 and the record ending at 2000"), "{err}");
    ///     let log = Appender::new(open().await?).resume_framed(2000).await?;
    ///     assert_eq!(log.len(), 2000);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "compio-19"))]
    /// # fn main() {}
    /// ```
    pub async fn resume_framed(self, len: u64) -> io::Result<Self> {
        if len > 0 {
            let found = scan(self.file(), len).await?;
            if found.at != len {
                let next = match (found.next, found.end) {
                    (Some(next), _) => format!("the record ending at {next}"),
                    (None, Some(end)) => format!("the end of the log ({end})"),
                    (None, None) => "the end of the log".to_owned(),
                };
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "resume_framed({len}) of {}: not the end of a record, it falls between \
                         {} and {next}",
                        self.file().path().display(),
                        found.at,
                    ),
                ));
            }
        }
        self.resume_cut(len).await
    }

    /// [`resume`](Self::resume) at the end of a whole record. With `NeverRewrite`, `resume`
    /// leaves the bytes up to the next page boundary as they are, and a torn record's head
    /// there would end the next scan before the records that follow it: unless those bytes are
    /// zeros already (padding, left alone), the file is first cut at `len`, which makes them
    /// zeros. The filesystem then writes the page `len` is in again; in a log written with
    /// `NeverRewrite`, whose syncs end at page boundaries, that page holds nothing a sync
    /// covered (in one written with `Rewrite` it may, as `Rewrite`'s own flushes do).
    async fn resume_cut(self, len: u64) -> io::Result<Self> {
        let file_len = self.file().len().await?;
        let boundary = len.next_multiple_of(self.file().alignment() as u64);
        if self.options().tail_mode() != TailMode::Rewrite && file_len > len {
            let upto = boundary.min(file_len);
            let gap = self
                .file()
                .read_exact_at(len, (upto - len) as usize)
                .await?;
            if gap.iter().any(|&b| b != 0) {
                self.file().set_len(len).await?;
            }
        }
        self.resume(len).await
    }
}

/// What [`scan`] found before `upto`.
struct Scan {
    records: u64,
    /// The end of the last whole record that ends at or before `upto`.
    at: u64,
    /// The end of the record after it, if one ends past `upto`.
    next: Option<u64>,
    /// Where the log ended, if it did before `upto`.
    end: Option<LogEnd>,
}

/// Scans the records of `file` until one ends at or past `upto`, or the log ends.
async fn scan<R: Compio>(file: &DirectFile<R>, upto: u64) -> io::Result<Scan> {
    let mut records = Records::new(file).await?;
    let mut found = Scan {
        records: 0,
        at: 0,
        next: None,
        end: None,
    };
    while found.at < upto {
        if records.next().await?.is_none() {
            found.end = records.end();
            break;
        }
        if records.at > upto {
            found.next = Some(records.at);
            break;
        }
        found.records += 1;
        found.at = records.at;
    }
    Ok(found)
}

impl<R: Compio> SharedAppender<R> {
    /// [`commit`](Self::commit) of `payload` as one framed record (see [`Records`]): its
    /// header's position once it is durable.
    ///
    /// # Errors
    /// As [`frame_header`] and `commit`.
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")]
    /// # fn main() -> std::io::Result<()> {
    /// # use compio_19 as compio;
    /// use jdb_alloc::direct::compio19::{Appender, DirectFile};
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join(format!("commit-framed-{}.log", std::process::id()));
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let log = Appender::new(DirectFile::create(&path).await?).into_shared();
    ///     assert_eq!(log.commit_framed(b"abc").await?, 0);
    ///     assert_eq!(log.synced_len(), 11);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "compio-19"))]
    /// # fn main() {}
    /// ```
    pub async fn commit_framed(&self, payload: &[u8]) -> io::Result<u64> {
        let header = frame_header(payload)?;
        self.commit_vectored(&[&header, payload]).await
    }
}
