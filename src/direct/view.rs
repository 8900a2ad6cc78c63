//! [`ReadView`]: the bytes a [`DirectFile::read_at`](super::DirectFile::read_at) asked for,
//! inside the aligned buffer they were read into.

use std::{fmt, ops::Deref, sync::Arc};

use crate::{AlignedBuf, fixed::FixedFrame};

/// The bytes of one [`DirectFile::read_at`](super::DirectFile::read_at) or
/// [`read_exact_at`](super::DirectFile::read_exact_at): it dereferences to exactly the range
/// asked for (shorter only at the end of the file), a window into the aligned buffer the
/// covering pages were read into. Dropping it recycles the buffer, or gives the frame back to
/// the file's [`FixedPool`](crate::fixed::FixedPool) (on any thread). With the feature
/// `bytes`, `bytes::Bytes::from(view)` hands the same bytes on with no copy: the buffer or frame
/// then goes when the last clone of the `Bytes` drops.
///
/// ```
/// # #[cfg(feature = "compio-19")]
/// # fn main() -> std::io::Result<()> {
/// # use compio_19 as compio;
/// use jdb_alloc::direct::compio19::DirectFile;
///
/// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join(format!("read-view-{}.dat", std::process::id()));
/// std::fs::write(&path, b"0123456789")?;
/// compio::runtime::Runtime::new()?.block_on(async {
///     let file = DirectFile::open(&path).await?;
///     let view = file.read_at(3, 100).await?; // the file ends first
///     assert_eq!((&view[..], view.pos()), (&b"3456789"[..], 3));
///     std::io::Result::Ok(())
/// })?;
/// # std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "compio-19"))]
/// # fn main() {}
/// ```
pub struct ReadView {
    source: Source,
    /// Offset of the first byte asked for within the buffer.
    start: usize,
    len: usize,
    pos: u64,
}

/// What holds the bytes.
pub(super) enum Source {
    /// Nothing was read: an empty range.
    Empty,
    Aligned(AlignedBuf),
    /// A frame of the file's pool, which goes back to the pool with the view.
    Fixed(FixedFrame),
    /// One read that several views of [`read_many`](super::DirectFile::read_many) share: it
    /// is recycled (or goes back to the pool) when the last of them drops.
    Shared(Arc<Source>),
}

impl Source {
    /// The initialised bytes.
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Self::Empty => &[],
            Self::Aligned(buf) => buf,
            Self::Fixed(frame) => frame,
            Self::Shared(source) => source.bytes(),
        }
    }
}

impl ReadView {
    /// No bytes, at `pos`.
    pub(super) fn empty(pos: u64) -> Self {
        Self {
            source: Source::Empty,
            start: 0,
            len: 0,
            pos,
        }
    }

    /// Bytes `[start, start + len)` of `source`, which holds at least that many initialised
    /// bytes; `pos` is the file offset of the first.
    #[track_caller]
    pub(super) fn new(source: Source, start: usize, len: usize, pos: u64) -> Self {
        let had = source.bytes().len();
        assert!(
            start.checked_add(len).is_some_and(|end| end <= had),
            "view [{start}, +{len}) past the {had} bytes read"
        );
        Self {
            source,
            start,
            len,
            pos,
        }
    }

    /// Drops the first `n` bytes (at most the length) from the view.
    pub(super) fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.start += n;
        self.len -= n;
        self.pos += n as u64;
    }

    /// The file offset of the first byte.
    #[inline]
    pub fn pos(&self) -> u64 {
        self.pos
    }
}

impl Deref for ReadView {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        &self.source.bytes()[self.start..self.start + self.len]
    }
}

impl AsRef<[u8]> for ReadView {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl fmt::Debug for ReadView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadView")
            .field("pos", &self.pos)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}
