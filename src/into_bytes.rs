//! Zero-copy hand-offs to [`bytes::Bytes`] (feature `bytes`): the buffer becomes the `Bytes`'
//! owner, so the bytes are not copied and the buffer goes (recycled, or back to its pool) when
//! the last clone drops.
//!
//! # Soundness
//!
//! [`Bytes::from_owner`] asks the owner for `AsRef<[u8]> + Send + 'static`, calls `as_ref`
//! once, and reads that slice, from any thread and any clone, until it drops the owner (on the
//! thread that drops the last clone). Every owner below:
//! - gives `as_ref` exactly its initialised bytes (`[0, len)`, never up to the capacity; a
//!   [`ReadView`](crate::direct::ReadView): the range it views), so `Bytes` reads no
//!   uninitialised memory;
//! - keeps those bytes where they are and unwritten while it lives untouched: its memory does
//!   not move with it (the buffer contract, lib.rs, 4), every write needs `&mut` (contract 3),
//!   and `Bytes` never hands the owner out; a frame's bytes are its own (frames of an arena are
//!   disjoint) and, taken by value, it is in no operation, so not even the kernel writes them;
//! - is `Send` (checked below), and may be dropped on any thread: an `AlignedBuf` or a
//!   `Frame`'s arena goes back to this crate's allocator, which takes blocks freed on any
//!   thread; a [`FixedFrame`](crate::fixed::FixedFrame) goes back to its pool's tier under the
//!   tier's lock (`Home::put_back`, which touches no thread-local), and the last one of an
//!   arena releases its registration's slots through the ring's own cross-thread path
//!   (`Ring::release`: at once on the ring's thread, else by the runtime's task when it next
//!   runs), as for any frame dropped on another thread (design decision 12).
//!
//! `Sync` is not needed of the owner: `Bytes` shares the slice between threads, not the owner,
//! and a shared `[u8]` nobody writes is `Sync`.

use bytes::Bytes;

use crate::{AlignedBuf, Frame};

/// The owners handed to `Bytes::from_owner` must be `Send`.
const _: () = {
    const fn send<T: Send + 'static>() {}
    send::<AlignedBuf>();
    send::<Frame>();
    #[cfg(all(
        target_os = "linux",
        any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
    ))]
    {
        send::<crate::fixed::FixedFrame>();
        send::<crate::direct::ReadView>();
    }
};

/// The buffer's initialised bytes as `Bytes`, with no copy: the buffer is dropped (recycled)
/// when the last clone is.
///
/// ```
/// use jdb_alloc::AlignedBuf;
///
/// let mut buf = AlignedBuf::with_cap(4096).unwrap();
/// buf.extend(b"record").unwrap();
/// let ptr = buf.as_ptr();
/// let bytes = bytes::Bytes::from(buf);
/// assert_eq!((&bytes[..], bytes.as_ptr()), (&b"record"[..], ptr)); // its length, not its capacity
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "bytes")))]
impl From<AlignedBuf> for Bytes {
    fn from(buf: AlignedBuf) -> Self {
        Bytes::from_owner(buf)
    }
}

/// The frame's initialised bytes as `Bytes`, with no copy: the frame (and the arena, if it was
/// the last) goes when the last clone drops.
///
/// ```
/// use jdb_alloc::{AlignedBuf, PAGE_SIZE};
///
/// let mut frames = AlignedBuf::with_cap(2 * PAGE_SIZE).unwrap().into_frames(PAGE_SIZE).unwrap();
/// let mut frame = frames.next().unwrap();
/// frame.extend(b"page").unwrap();
/// let ptr = frame.as_ptr();
/// let bytes = bytes::Bytes::from(frame);
/// assert_eq!((&bytes[..], bytes.as_ptr()), (&b"page"[..], ptr));
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "bytes")))]
impl From<Frame> for Bytes {
    fn from(frame: Frame) -> Self {
        Bytes::from_owner(frame)
    }
}

#[cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]
mod runtime {
    use bytes::Bytes;

    use crate::{direct::ReadView, fixed::FixedFrame};

    /// The frame's initialised bytes as `Bytes`, with no copy: the frame goes back to its pool
    /// when the last clone drops, on whatever thread.
    ///
    /// ```
    /// use jdb_alloc::fixed::FixedPool;
    ///
    /// let pool = FixedPool::new(&[(4096, 1)]).unwrap();
    /// let mut frame = pool.try_acquire(4096).unwrap();
    /// frame.extend(b"value").unwrap();
    /// let bytes = bytes::Bytes::from(frame);
    /// let clone = bytes.clone();
    /// drop(bytes);
    /// assert!(pool.try_acquire(4096).is_none()); // `clone` still holds the frame
    /// std::thread::spawn(move || assert_eq!(&clone[..], b"value")).join().unwrap();
    /// assert!(pool.try_acquire(4096).is_some()); // back with the last clone
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "bytes")))]
    impl From<FixedFrame> for Bytes {
        fn from(frame: FixedFrame) -> Self {
            Bytes::from_owner(frame)
        }
    }

    /// The bytes the view shows (exactly the range read) as `Bytes`, with no copy: its buffer
    /// is recycled, or its frame goes back to the file's pool, when the last clone drops.
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")]
    /// # fn main() -> std::io::Result<()> {
    /// # use compio_19 as compio;
    /// use jdb_alloc::direct::compio19::DirectFile;
    ///
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// let path = dir.join(format!("view-bytes-{}.dat", std::process::id()));
    /// std::fs::write(&path, b"key=value")?;
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let view = DirectFile::open(&path).await?.read_exact_at(4, 5).await?;
    ///     let ptr = view.as_ptr();
    ///     let value = bytes::Bytes::from(view); // leaves the read path without a copy
    ///     assert_eq!((&value[..], value.as_ptr()), (&b"value"[..], ptr));
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "compio-19"))]
    /// # fn main() {}
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "bytes")))]
    impl From<ReadView> for Bytes {
        fn from(view: ReadView) -> Self {
            Bytes::from_owner(view)
        }
    }
}
