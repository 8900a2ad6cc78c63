//! The crate's one error type.
//!
//! Every variant names what was asked for and the limit it ran into, so a log line is enough to
//! see what went wrong without a debugger.

use thiserror::Error;

/// Everything that can go wrong in `jdb_alloc`.
///
/// `#[non_exhaustive]`: new failure modes (for example from new memory backings) can be added
/// without breaking a `match`; keep a `_ =>` arm.
///
/// | Variant | Returned by |
/// |---------|-------------|
/// | [`TooLarge`](Self::TooLarge) | `with_cap`, `zeroed`, `zeroed_huge` |
/// | [`AllocFailed`](Self::AllocFailed) | `with_cap`, `zeroed`, `zeroed_huge`, `page`, `try_clone` |
/// | [`HugePagesUnavailable`](Self::HugePagesUnavailable) | `zeroed_huge` with `HugePages::On` |
/// | [`Overflow`](Self::Overflow) | `AlignedBuf::extend`, `Frame::extend` |
/// | [`InvalidChunk`](Self::InvalidChunk) | `into_frames` (`slice_into_raws` panics with the same message) |
/// | [`InvalidTier`](Self::InvalidTier) | `FixedPool::new`, `FixedPool::with_huge_pages` |
/// | [`NoTier`](Self::NoTier) | `FixedPool::acquire` |
///
/// ```
/// use jdb_alloc::{AlignedBuf, Error};
///
/// // 0.1.4 had `Error::AllocFailed` and `Error::InvalidLayout(_)`; now the sizes are named.
/// match AlignedBuf::zeroed(usize::MAX) {
///     Err(Error::TooLarge { requested, max }) => assert!(requested > max),
///     Err(Error::AllocFailed { size }) => panic!("{size} bytes refused"),
///     Err(other) => panic!("unexpected: {other}"),
///     Ok(_) => panic!("usize::MAX bytes cannot be allocated"),
/// }
///
/// // The messages say what was asked and what the limit was.
/// let err = AlignedBuf::page().unwrap().into_frames(1000).unwrap_err();
/// assert_eq!(err.to_string(), "chunk 1000 must be a non-zero multiple of ALIGNMENT (4096)");
/// let err = AlignedBuf::with_cap(10).unwrap().extend(&[0; 5000]).unwrap_err();
/// assert_eq!(err.to_string(), "buffer overflow: 5000 bytes needed but the capacity is 4096 bytes");
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The requested size cannot be a buffer at all: rounded up to whole pages it exceeds the
    /// largest size any allocation can have (`isize::MAX` rounded down to [`crate::ALIGNMENT`]).
    #[error("cannot allocate {requested} bytes: the largest possible buffer is {max} bytes")]
    TooLarge {
        /// Bytes asked for.
        requested: usize,
        /// Largest capacity this crate can allocate.
        max: usize,
    },

    /// The allocator or the operating system refused the memory (out of memory, or an address
    /// space or overcommit limit). Large buffers are anonymous mappings on Unix (see
    /// [`crate::MAP_THRESHOLD`]); a failed `mmap` is reported here too, never as an abort.
    #[error("allocation of {size} bytes failed: out of memory")]
    AllocFailed {
        /// Capacity, in bytes, that could not be allocated.
        size: usize,
    },

    /// [`HugePages::On`](crate::HugePages::On) was asked for and the kernel will not give huge
    /// pages; nothing was allocated. [`HugePages::Try`](crate::HugePages::Try) falls back instead.
    #[error("huge pages for an arena of {size} bytes are unavailable: {reason}")]
    HugePagesUnavailable {
        /// Capacity, in bytes, of the arena that was asked for.
        size: usize,
        /// What refused: the system setting (and its file), the per-process switch, or the
        /// `madvise` error.
        reason: String,
    },

    /// Appending would exceed the buffer's fixed capacity; the buffer is left as it was.
    ///
    /// Fields: the length the buffer would have needed, then its capacity.
    #[error("buffer overflow: {0} bytes needed but the capacity is {1} bytes")]
    Overflow(usize, usize),

    /// A chunk size that cannot split a buffer into frames: zero, or not a multiple of
    /// [`crate::ALIGNMENT`] (every frame must start aligned for `O_DIRECT`).
    #[error("chunk {chunk} must be a non-zero multiple of ALIGNMENT ({alignment})")]
    InvalidChunk {
        /// Chunk size, in bytes, that was asked for.
        chunk: usize,
        /// The alignment every chunk must be a multiple of ([`crate::ALIGNMENT`]).
        alignment: usize,
    },

    /// A registered pool's tier cannot be made as asked: its frame length is not a non-zero
    /// multiple of [`crate::ALIGNMENT`], it has no frames, another tier has the same frame
    /// length, or there is no tier at all (then both numbers are 0).
    #[error("pool tier of {count} frames of {frame_len} bytes: {reason}")]
    InvalidTier {
        /// Bytes per frame asked for.
        frame_len: usize,
        /// Frames asked for.
        count: usize,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A registered pool was asked for a frame longer than its largest tier's: waiting would
    /// never give one.
    #[error("no tier of the pool holds {len} bytes: its largest frames are {largest} bytes")]
    NoTier {
        /// Bytes asked for.
        len: usize,
        /// Bytes per frame of the pool's largest tier.
        largest: usize,
    },

    /// One range of a batch read (`DirectFile::read_many`, `read_each`) failed: which, and the
    /// error of its read as the [`source`](std::error::Error::source), the system's error code
    /// included. It reaches the caller inside an [`std::io::Error`] of the same kind:
    ///
    /// ```
    /// use std::{error::Error as _, io};
    ///
    /// // What a failed read of range 3 looks like to the caller.
    /// let os = io::Error::from_raw_os_error(5); // EIO
    /// let err = io::Error::new(
    ///     os.kind(),
    ///     jdb_alloc::Error::RangeFailed {
    ///         op: "read_many",
    ///         index: 3,
    ///         pos: 8192,
    ///         len: 100,
    ///         path: "data.db".into(),
    ///         source: os,
    ///     },
    /// );
    /// assert!(err.to_string().starts_with("read_many: range 3 (8192, 100) in data.db: "));
    /// let code = err.source().and_then(|s| s.downcast_ref::<io::Error>()).and_then(|e| e.raw_os_error());
    /// assert_eq!(code, Some(5));
    /// ```
    #[error("{op}: range {index} ({pos}, {len}) in {path}: {source}")]
    RangeFailed {
        /// The call: `read_many` or `read_each`.
        op: &'static str,
        /// The range's index in the slice given (the lowest of those one merged read served).
        index: usize,
        /// The range's offset.
        pos: u64,
        /// The range's length.
        len: usize,
        /// The file.
        path: String,
        /// The read's error.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with this crate's [`enum@Error`].
///
/// ```
/// use jdb_alloc::{AlignedBuf, Result};
///
/// fn log_block(records: &[&[u8]]) -> Result<AlignedBuf> {
///     let mut buf = AlignedBuf::with_cap(4096)?;
///     for r in records {
///         buf.extend(r)?;
///     }
///     Ok(buf)
/// }
/// assert!(log_block(&[b"a", b"b"]).is_ok());
/// assert!(log_block(&[&[0; 5000]]).is_err());
/// ```
pub type Result<T> = std::result::Result<T, Error>;
