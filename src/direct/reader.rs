//! [`Reader`]: a file read front to back, with a window of reads in flight ahead of the
//! caller.

use std::{
    io,
    mem::MaybeUninit,
    sync::atomic::{AtomicUsize, Ordering::Relaxed},
};

use super::{
    Compio, DirectFile, REQUEST_MAX, ReadView,
    join::{BoxFuture, Window},
};
use crate::fixed::{FixedPool, FixedStatus};

/// How a [`Reader`] reads ahead: chunks of [`chunk`](Self::chunk) bytes, up to
/// [`window`](Self::window) of them in flight.
///
/// The defaults, 256 KiB chunks 8 in flight (2 MiB), come from `cargo bench --features
/// compio-19 --bench direct` (benches/RESULTS.md, "Reader defaults" and "Readers' own frames").
/// A chunk of 256 KiB fits the largest frames of the runtime's default pool, so the reads are
/// `READ_FIXED` (the kernel pins no pages per read) with no memory pinned beyond that pool's,
/// also under a small `RLIMIT_MEMLOCK`. Plain buffers made a 1 GiB scan on this machine's
/// virtio disk 1.2x to 1.5x slower on the days of "Reader defaults"; on a faster day, 0.92x to
/// 1.17x at 256 KiB and 1.11x to 1.35x at 1 MiB. Longer chunks, 1 MiB 4 in flight, scanned 7%
/// to 12% faster still, with frames of the reader's own (below).
///
/// A chunk longer than the largest frame of the file's pool gets registered frames all the
/// same, once the scan is under way: when it has given a window of whole chunks (read into
/// plain buffers), a reader makes a pool of its own, `window + 1` frames of one chunk (the
/// reads in flight and the view the caller holds), and reads into it from then on. A reader
/// that gives fewer whole chunks than its window never makes one. Making it holds the
/// runtime's thread while its memory is faulted in and pinned: here 2 to 6 ms for 1 MiB x 4
/// (5 MiB) the first time, 35 µs once that memory is recycled, and 16 ms each time for a pool of
/// 64 MiB (from [`MAP_THRESHOLD`](crate::MAP_THRESHOLD) up, a mapping of its own); `cargo
/// bench --features compio-19 --bench pool` measures it. The frames go back to it as
/// views drop; its memory is unpinned, and its share of the budget below given back, once the
/// reader and the last of its views have dropped (a view dropped on another thread: once the
/// runtime runs again), so a view kept long (in a cache) keeps all `window + 1` chunks pinned:
/// copy what you keep. Not for a file without a pool
/// ([`without_pool`](DirectFile::without_pool), or no default pool on this runtime): its reads
/// stay in plain buffers. Readers' own pools hold at most
/// [`OWN_FRAMES_MAX`](Self::OWN_FRAMES_MAX) bytes in all, at a time; a reader that would pass
/// it, or that `RLIMIT_MEMLOCK` leaves no room for, reads into plain buffers, as before. (A
/// read still in flight when a compio 0.17 runtime drops is leaked with its frame, and so is
/// its pool's share: see "Dropped futures and the runtime's end" in the [module
/// docs](super#costs-and-limits).)
///
/// ```
/// use jdb_alloc::direct::ReaderOptions;
///
/// assert_eq!((ReaderOptions::DEFAULT_CHUNK, ReaderOptions::DEFAULT_WINDOW), (256 << 10, 8));
/// let options = ReaderOptions::new().chunk(1 << 20).window(4); // 4 MiB in flight
/// assert_eq!((options.chunk_len(), options.window_len()), (1 << 20, 4));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReaderOptions {
    chunk: usize,
    window: usize,
}

impl ReaderOptions {
    /// The default chunk: 256 KiB.
    pub const DEFAULT_CHUNK: usize = 256 << 10;
    /// The default window: 8 chunks in flight.
    pub const DEFAULT_WINDOW: usize = 8;
    /// The most bytes a window may have in flight: 1 GiB. A larger window is cut to the reads
    /// of that many bytes (one at least).
    pub const MAX_IN_FLIGHT: usize = 1 << 30;
    /// The most bytes the pools readers make for themselves hold together (64 MiB, of pinned
    /// memory): see [`ReaderOptions`].
    pub const OWN_FRAMES_MAX: usize = 64 << 20;

    /// Chunks of 256 KiB, 8 in flight.
    pub const fn new() -> Self {
        Self {
            chunk: Self::DEFAULT_CHUNK,
            window: Self::DEFAULT_WINDOW,
        }
    }

    /// Bytes per read (and per view of [`Reader::next_chunk`]); rounded up to the file's
    /// alignment, at least one unit and at most about 2 GiB (the kernel's largest single
    /// read). Reads start at multiples of it, except the first.
    pub const fn chunk(mut self, bytes: usize) -> Self {
        self.chunk = bytes;
        self
    }

    /// Reads in flight at a time (`0` counts as one: no read ahead), no more than
    /// [`MAX_IN_FLIGHT`](Self::MAX_IN_FLIGHT) bytes of chunks.
    pub const fn window(mut self, reads: usize) -> Self {
        self.window = reads;
        self
    }

    /// The chunk size asked for.
    pub const fn chunk_len(&self) -> usize {
        self.chunk
    }

    /// The window asked for.
    pub const fn window_len(&self) -> usize {
        self.window
    }
}

impl Default for ReaderOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// A read of the window: the view, and how many bytes it asked for.
type Ahead = (io::Result<ReadView>, usize);

/// Bytes of the pools readers have made for themselves and still hold.
static OWN_FRAMES: AtomicUsize = AtomicUsize::new(0);

/// Where a [`Reader`]'s next reads take their frames.
enum Frames {
    /// The file's pool, whose frames are shorter than a chunk: once `views_left` more whole
    /// chunks have been given, a pool of the reader's own is tried.
    Later { views_left: usize },
    /// The reader's own pool.
    Own(FixedPool),
    /// The file's pool, for good.
    File,
}

/// A pool for a reader of its own: `frames` frames of `chunk` bytes, registered with the
/// current runtime's ring, its bytes counted in [`OWN_FRAMES`] until its memory goes (the
/// pool and the last of its frames dropped); `None` past [`ReaderOptions::OWN_FRAMES_MAX`],
/// or when registration was refused.
fn own_pool(chunk: usize, frames: usize) -> Option<FixedPool> {
    let bytes = chunk.checked_mul(frames)?;
    // Counted before the pool is made, so that the budget holds across threads; given
    // back here on failure, else when the pool's registration drops.
    let before = OWN_FRAMES.fetch_add(bytes, Relaxed);
    // Not tried where the memory-lock limit has no room for it: the kernel would fault in
    // and pin every page before refusing.
    let room = before.saturating_add(bytes) <= ReaderOptions::OWN_FRAMES_MAX
        && crate::fixed::lockable() >= bytes;
    let pool = room
        .then(|| FixedPool::new(&[(chunk, frames)]).ok())
        .flatten()
        .filter(|pool| pool.status() == FixedStatus::Registered);
    match pool {
        Some(pool) => {
            pool.charge(crate::fixed::Charge {
                counter: &OWN_FRAMES,
                bytes,
            });
            Some(pool)
        }
        None => {
            OWN_FRAMES.fetch_sub(bytes, Relaxed);
            None
        }
    }
}

/// Reads a [`DirectFile`] front to back from a position, with reads in flight ahead of the
/// caller: made by [`DirectFile::reader`] or [`DirectFile::reader_with`].
///
/// - [`next_chunk`](Self::next_chunk) gives the bytes in consecutive [`ReadView`]s, with no
///   copy: views into the buffers the reads went to (frames of the file's pool when it has
///   them, as for [`DirectFile::read_at`]). `None` at the end of the file; a file that has
///   grown since is read on from there by the next call, so a reader can follow a log: after
///   an end it reads one chunk a call, and reads ahead again once a whole chunk comes back.
/// - compio's `AsyncRead` (of the compio version the file is for), so that code written for
///   a stream (`read_exact` of a header, then of the body) runs on it unchanged; it copies
///   from the views into the caller's buffer.
///
/// Use it as [`compio17::Reader`](super::compio17::Reader),
/// [`compio19::Reader`](super::compio19::Reader) or
/// [`compio20::Reader`](super::compio20::Reader). The reads in flight are cancelled when it
/// drops (their buffers stay with the runtime until the kernel is done with them, while the
/// runtime lives: see "Dropped futures and the runtime's end" in the [module
/// docs](super#costs-and-limits)); at the end of the file, and once [`Records`]
/// finds the log's end, none is left in flight.
///
/// [`Records`]: super::Records
///
/// ```
/// # #[cfg(feature = "compio-19")]
/// # fn main() -> std::io::Result<()> {
/// # use compio_19 as compio;
/// use compio::io::AsyncReadExt;
/// use jdb_alloc::direct::{ReaderOptions, compio19::DirectFile};
///
/// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join(format!("reader-{}.dat", std::process::id()));
/// let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
/// std::fs::write(&path, &bytes)?;
/// compio::runtime::Runtime::new()?.block_on(async {
///     let file = DirectFile::open(&path).await?;
///     // Views, no copy: 64 KiB reads, 4 in flight, from an unaligned offset.
///     let mut reader = file.reader_with(1000, ReaderOptions::new().chunk(64 << 10));
///     let mut seen = Vec::new();
///     while let Some(view) = reader.next_chunk().await? {
///         seen.extend_from_slice(&view);
///     }
///     assert_eq!(seen, bytes[1000..]);
///
///     // A stream: a 4-byte header, then the body after it.
///     let mut reader = file.reader(0);
///     let compio::BufResult(res, header) = reader.read_exact(Vec::with_capacity(4)).await;
///     res?;
///     let compio::BufResult(res, body) = reader.read_exact(Vec::with_capacity(10)).await;
///     res?;
///     assert_eq!((&header[..], &body[..]), (&bytes[..4], &bytes[4..14]));
///     std::io::Result::Ok(())
/// })?;
/// # std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "compio-19"))]
/// # fn main() {}
/// ```
pub struct Reader<'a, R: Compio> {
    file: &'a DirectFile<R>,
    chunk: u64,
    window_len: usize,
    /// The offset just past the last view given.
    pos: u64,
    /// Where the next read goes (`pos` when the window is empty).
    ahead: u64,
    window: Window<'a, Ahead>,
    /// What `AsyncRead` has not copied out yet of the last view.
    rest: Option<ReadView>,
    /// The answer of a `next_chunk` that waits for the reads ahead before giving it.
    settling: Option<io::Result<ReadView>>,
    /// The last answer met the end of the file: one read at a time until a whole chunk comes
    /// back (a caller that follows a growing file polls here, and each poll would otherwise
    /// read a whole window past the end).
    at_end: bool,
    frames: Frames,
}

impl<R: Compio> DirectFile<R> {
    /// A [`Reader`] from `pos` with the default [`ReaderOptions`] (256 KiB chunks, 8 in flight).
    pub fn reader(&self, pos: u64) -> Reader<'_, R> {
        self.reader_with(pos, ReaderOptions::new())
    }

    /// A [`Reader`] from `pos`, reading ahead as `options` says. Nothing is read until the
    /// first [`next_chunk`](Reader::next_chunk) or read.
    pub fn reader_with(&self, pos: u64, options: ReaderOptions) -> Reader<'_, R> {
        let align = self.alignment();
        // At most one request's worth: rounding up then stays far from overflow.
        let chunk = options.chunk.clamp(1, REQUEST_MAX).div_ceil(align) * align;
        let window_len = options
            .window
            .clamp(1, (ReaderOptions::MAX_IN_FLIGHT / chunk).max(1));
        let frames = match self.pool() {
            Some(pool) if pool.largest_frame() < chunk => Frames::Later {
                views_left: window_len,
            },
            _ => Frames::File,
        };
        Reader {
            file: self,
            chunk: chunk as u64,
            window_len,
            frames,
            pos,
            ahead: pos,
            window: Window::new(),
            rest: None,
            settling: None,
            at_end: false,
        }
    }
}

impl<'a, R: Compio> Reader<'a, R> {
    /// The offset of the next byte this reader gives.
    pub fn pos(&self) -> u64 {
        match &self.rest {
            Some(rest) if !rest.is_empty() => rest.pos(),
            _ => self.pos,
        }
    }

    /// The file it reads.
    pub fn file(&self) -> &'a DirectFile<R> {
        self.file
    }

    /// The pool its reads draw frames from now: its own, once it has made one (see
    /// [`ReaderOptions`]), else the file's.
    pub fn pool(&self) -> Option<&FixedPool> {
        match &self.frames {
            Frames::Own(own) => Some(own),
            _ => self.file.pool(),
        }
    }

    /// The pool for the next read, making the reader's own once a window of whole chunks has
    /// been given (read into plain buffers).
    fn next_pool(&mut self) -> Option<FixedPool> {
        if let Frames::Later { views_left: 0 } = self.frames {
            // `chunk` is at most `REQUEST_MAX`: a `usize`.
            self.frames = match own_pool(self.chunk as usize, self.window_len + 1) {
                Some(own) => Frames::Own(own),
                None => Frames::File,
            };
        }
        self.pool().cloned()
    }

    /// The next bytes of the file, from where the last view ended: a whole chunk (the first
    /// one up to the next multiple of the chunk size), fewer where the file ends, `None` at its
    /// end. Calls after `None` look again: a file that has grown is read on.
    ///
    /// Cancel-safe: if the future is dropped before it completes, no view is skipped and no
    /// error is lost; the next call gives what this one would have.
    ///
    /// # Errors
    /// A read's error (as [`DirectFile::read_at`]), once the reads ahead have completed (they
    /// are waited for and dropped, not cancelled: a device that hangs delays the error). The
    /// next call tries again from the same position.
    pub async fn next_chunk(&mut self) -> io::Result<Option<ReadView>> {
        if let Some(rest) = self.rest.take() {
            if !rest.is_empty() {
                return Ok(Some(rest));
            }
        }
        if self.settling.is_none() {
            self.fill().await;
            let Some((res, asked)) = self.window.front().await else {
                unreachable!("fill leaves at least one read in the window")
            };
            match res {
                Ok(view) if view.len() == asked => {
                    // Whole chunks given: the scan is under way.
                    if let Frames::Later { views_left } = &mut self.frames {
                        *views_left = views_left.saturating_sub(1);
                    }
                    self.at_end = false;
                    self.pos = view.pos() + view.len() as u64;
                    // Keep the window full while the caller works on this view.
                    self.fill().await;
                    return Ok(Some(view));
                }
                // An error, or the end of the file for now (what was read beyond it may be
                // stale): the reads ahead are waited for before the answer is given.
                res => self.settling = Some(res),
            }
        }
        // Kept in `self` across the wait, so that a caller that drops this future and calls
        // again gets the same answer: no view is skipped, no error lost.
        self.window.settle().await;
        let res = self.settling.take().expect("set before the wait");
        if let Ok(view) = &res {
            self.pos = view.pos() + view.len() as u64;
            self.at_end = true;
        }
        self.ahead = self.pos;
        match res {
            Ok(view) if view.is_empty() => Ok(None),
            Ok(view) => Ok(Some(view)),
            Err(e) => Err(e),
        }
    }

    /// Copies the next bytes into `dst` (at most its length); `0` at the end of the file
    /// (or for an empty `dst`). What `AsyncRead` does.
    pub(crate) async fn read_into(&mut self, dst: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
        if dst.is_empty() {
            return Ok(0);
        }
        let mut view = match self.next_chunk().await? {
            Some(view) => view,
            None => return Ok(0),
        };
        let n = view.len().min(dst.len());
        for (to, &from) in dst.iter_mut().zip(&view[..n]) {
            to.write(from);
        }
        view.consume(n);
        self.rest = Some(view);
        Ok(n)
    }

    /// Waits for the reads ahead and drops them: the next one starts where the last view
    /// ended, and nothing is left in flight. An answer [`next_chunk`](Self::next_chunk) was
    /// waiting to give is kept for its next call.
    pub(super) async fn settle(&mut self) {
        self.window.settle().await;
        if self.settling.is_none() {
            self.ahead = self.pos;
        }
    }

    /// Issues reads until the window is full (one read, at the end of the file).
    async fn fill(&mut self) {
        let window = if self.at_end { 1 } else { self.window_len };
        while self.window.len() < window {
            let at = self.ahead;
            if at >= i64::MAX as u64 {
                // No file goes past the largest file offset: the end, with no read (whose range
                // could run past `u64::MAX`).
                let end: BoxFuture<'a, Ahead> =
                    Box::pin(async move { (Ok(ReadView::empty(at)), 1) });
                self.window.push(end).await;
                continue;
            }
            // Below `i64::MAX` plus one chunk (at most `REQUEST_MAX`): no overflow.
            let len = (self.chunk - at % self.chunk) as usize;
            self.ahead = at + len as u64;
            let file = self.file;
            let pool = self.next_pool();
            let read: BoxFuture<'a, Ahead> =
                Box::pin(async move { (file.read_at_in(pool.as_ref(), at, len).await, len) });
            self.window.push(read).await;
        }
    }
}

impl<R: Compio> std::fmt::Debug for Reader<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("path", &self.file.path())
            .field("pos", &self.pos())
            .field("chunk", &self.chunk)
            .field("window", &self.window_len)
            .field("own_frames", &matches!(self.frames, Frames::Own(_)))
            .field("in_flight", &self.window.len())
            .finish_non_exhaustive()
    }
}
