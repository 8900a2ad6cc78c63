//! Zero-copy hand-offs into `bytes::Bytes` (feature `bytes`): the `Bytes` shows the buffer's
//! own memory (same pointer, its length not its capacity), and the buffer or frame goes back
//! only when the last clone drops, on whatever thread; views of real `O_DIRECT` reads under
//! `CARGO_TARGET_TMPDIR` through compio 0.17, 0.19 and 0.20, their frames back in the file's
//! `FixedPool`.
#![cfg(feature = "bytes")]

#[cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]
mod scratch;

use bytes::Bytes;
use jdb_alloc::{AlignedBuf, PAGE_SIZE};

/// `len` bytes that differ with `seed` and position.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u64).wrapping_mul(31).wrapping_add(seed) % 251) as u8)
        .collect()
}

#[test]
fn an_aligned_buf_becomes_bytes_of_its_length_in_place() {
    let mut buf = AlignedBuf::with_cap(3 * PAGE_SIZE).unwrap();
    buf.extend(&pattern(5000, 1)).unwrap();
    let ptr = buf.as_ptr();
    let bytes = Bytes::from(buf);
    assert_eq!((bytes.as_ptr(), bytes.len()), (ptr, 5000));
    assert_eq!(&bytes[..], &pattern(5000, 1)[..]);
    // A slice of it shares the memory too, and outlives the first handle.
    let tail = bytes.slice(4000..);
    drop(bytes);
    let tail = std::thread::spawn(move || tail).join().unwrap();
    assert_eq!(tail.as_ptr(), ptr.wrapping_add(4000));
    assert_eq!(&tail[..], &pattern(5000, 1)[4000..]);
}

#[test]
fn a_frame_becomes_bytes_in_place_and_its_arena_lives_until_the_last_clone() {
    let mut frames = AlignedBuf::with_cap(2 * PAGE_SIZE)
        .unwrap()
        .into_frames(PAGE_SIZE)
        .unwrap();
    let (mut first, mut second) = (frames.next().unwrap(), frames.next().unwrap());
    first.extend(b"first").unwrap();
    second.extend(&pattern(PAGE_SIZE, 2)).unwrap();
    let ptr = second.as_ptr() as usize;
    let (first, second) = (Bytes::from(first), Bytes::from(second));
    drop(first);
    let clone = second.clone();
    drop(second);
    // The arena is held by the clone alone now; it is read, then freed, on another thread.
    std::thread::spawn(move || {
        assert_eq!(clone.as_ptr() as usize, ptr);
        assert_eq!(&clone[..], &pattern(PAGE_SIZE, 2)[..]);
    })
    .join()
    .unwrap();
}

/// The cases for the compio crate `$compio` and this crate's `direct::$direct`.
#[cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]
macro_rules! view_cases {
    ($compio:ident, $direct:ident) => {
        use bytes::Bytes;
        use jdb_alloc::{direct::$direct::DirectFile, fixed::FixedPool};

        use crate::{pattern, scratch::Scratch};

        const FRAME: usize = 64 << 10;

        fn run<F: std::future::Future>(future: F) -> F::Output {
            $compio::runtime::Runtime::new().unwrap().block_on(future)
        }

        /// A file of `len` pattern bytes.
        fn file_of(name: &str, len: usize) -> (Scratch, Vec<u8>) {
            let tmp = Scratch::new(&format!("{}-{name}", stringify!($direct)));
            let data = pattern(len, 7);
            std::fs::write(&tmp.0, &data).unwrap();
            (tmp, data)
        }

        /// A view of a pool frame: the `Bytes` points into the frame, holds exactly the range
        /// read, and the frame is back in the pool only once the last clone (dropped on
        /// another thread) is gone.
        #[test]
        fn a_pooled_view_becomes_bytes_and_its_frame_comes_back_with_the_last_clone() {
            let (tmp, data) = file_of("bytes-pool", 3 * FRAME);
            run(async {
                let pool = FixedPool::new(&[(FRAME, 2)]).unwrap();
                let in_use = || pool.stats().tiers[0].in_use;
                let file = DirectFile::open(&tmp.0)
                    .await
                    .unwrap()
                    .with_pool(pool.clone());
                let view = file.read_exact_at(5000, 20_000).await.unwrap();
                let (ptr, pos) = (view.as_ptr(), view.pos());
                assert_eq!((in_use(), pos), (1, 5000));
                let bytes = Bytes::from(view);
                assert_eq!((bytes.as_ptr(), bytes.len()), (ptr, 20_000));
                assert_eq!(&bytes[..], &data[5000..25_000]);

                let clones: Vec<Bytes> = (0..3).map(|i| bytes.slice(i * 100..)).collect();
                drop(bytes);
                assert_eq!(in_use(), 1, "clones still hold the frame");
                let last = std::thread::spawn(move || {
                    let mut clones = clones;
                    let last = clones.pop().unwrap();
                    drop(clones);
                    last
                })
                .join()
                .unwrap();
                assert_eq!((in_use(), last.as_ptr()), (1, ptr.wrapping_add(200)));
                std::thread::spawn(move || drop(last)).join().unwrap();
                let stats = pool.stats();
                assert_eq!((stats.tiers[0].in_use, stats.misses), (0, 0), "{stats:?}");
                // Both frames lend again.
                let (a, b) = (pool.try_acquire(FRAME), pool.try_acquire(FRAME));
                assert!(a.is_some() && b.is_some());
            });
        }

        /// A view of a plain recycled buffer (no pool), and a pool frame handed over by
        /// itself, share their memory the same way.
        #[test]
        fn a_plain_view_and_a_pool_frame_become_bytes_in_place() {
            let (tmp, data) = file_of("bytes-plain", 2 * FRAME);
            run(async {
                let file = DirectFile::open(&tmp.0).await.unwrap();
                let view = file.read_exact_at(1, 3 * 4096).await.unwrap();
                let ptr = view.as_ptr();
                let bytes = Bytes::from(view);
                assert_eq!((bytes.as_ptr(), &bytes[..]), (ptr, &data[1..1 + 3 * 4096]));
                // An empty view is an empty `Bytes`.
                assert!(Bytes::from(file.read_at(1 << 30, 10).await.unwrap()).is_empty());

                let pool = FixedPool::new(&[(FRAME, 1)]).unwrap();
                let mut frame = pool.try_acquire(FRAME).unwrap();
                frame.extend(b"frame bytes").unwrap();
                let ptr = frame.as_ptr();
                let bytes = Bytes::from(frame);
                assert_eq!((bytes.as_ptr(), &bytes[..]), (ptr, &b"frame bytes"[..]));
                assert!(pool.try_acquire(FRAME).is_none());
                drop(bytes);
                assert!(pool.try_acquire(FRAME).is_some());
            });
        }
    };
}

#[cfg(all(target_os = "linux", feature = "compio-17"))]
mod v17 {
    view_cases!(compio, compio17);
}

#[cfg(all(target_os = "linux", feature = "compio-19"))]
mod v19 {
    view_cases!(compio_19, compio19);
}

#[cfg(all(target_os = "linux", feature = "compio-20"))]
mod v20 {
    view_cases!(compio_20, compio20);
}
