//! `DirectFile::read_many` and `Reader` (`jdb_alloc::direct`) through real compio runtimes,
//! 0.17 (`v17::`), 0.19 (`v19::`) and 0.20 (`v20::`), on `O_DIRECT` files under
//! `CARGO_TARGET_TMPDIR`, against a `Vec<u8>` model: random ranges (overlapping, duplicate,
//! empty, past the end, past the largest offset) with random merge settings, with and without a
//! pool; scans from unaligned positions with random chunks and windows, of a file that grows
//! while it is read; and compio's `AsyncRead` through its `read_exact`. The same cases for every
//! version, from one macro.
#![cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]

mod scratch;

use scratch::{Scratch, pattern};

/// A scratch file holding `len` bytes of [`pattern`] (written through the page cache; direct
/// reads see them), and those bytes.
fn model_file(name: &str, len: usize, seed: u64) -> (Scratch, Vec<u8>) {
    let tmp = Scratch::new(name);
    let bytes = pattern(len, seed);
    std::fs::write(&tmp.0, &bytes).unwrap();
    (tmp, bytes)
}

/// Appends `bytes` to the file at `path` (through the page cache).
fn grow(path: &std::path::Path, bytes: &[u8]) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
}

/// The cases, for the compio crate `$compio` and this crate's module `direct::$direct`.
macro_rules! read_cases {
    ($compio:ident, $direct:ident, $module:literal) => {
        use std::io::ErrorKind;

        use jdb_alloc::{
            PAGE_SIZE,
            direct::{$direct::DirectFile, ReadManyOptions, ReaderOptions},
            fixed::FixedPool,
        };
        use proptest::prelude::*;
        use $compio::{BufResult, io::{AsyncRead, AsyncReadExt}, runtime::Runtime};

        use crate::{grow, model_file, pattern};

        fn run<F: Future>(future: F) -> F::Output {
            Runtime::new().unwrap().block_on(future)
        }

        /// Polls `future` up to `times` times, letting the runtime run in between; drops
        /// it if it has not finished by then.
        async fn poll_times<F: Future>(future: F, times: usize) -> Option<F::Output> {
            let mut future = std::pin::pin!(future);
            for _ in 0..times {
                let polled = std::future::poll_fn(|cx| std::task::Poll::Ready(future.as_mut().poll(cx))).await;
                if let std::task::Poll::Ready(out) = polled {
                    return Some(out);
                }
                yield_once().await;
            }
            None
        }

        /// Pending once, its waker woken: the runtime polls its driver before polling again.
        async fn yield_once() {
            let mut yielded = false;
            std::future::poll_fn(|cx| {
                if std::mem::replace(&mut yielded, true) {
                    return std::task::Poll::Ready(());
                }
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            })
            .await;
        }

        /// Opens `path`, with `pool` if given.
        async fn open(path: &std::path::Path, pool: &Option<FixedPool>) -> DirectFile {
            let file = DirectFile::open(path).await.unwrap();
            match pool {
                Some(pool) => file.with_pool(pool.clone()),
                None => file,
            }
        }

        /// Every frame of `pool` is back.
        fn all_back(pool: Option<FixedPool>) {
            if let Some(pool) = pool {
                let stats = pool.stats();
                assert!(stats.tiers.iter().all(|t| t.in_use == 0), "{stats:?}");
            }
        }

        /// A range: near the file (and past its end), sometimes a copy of an earlier one,
        /// sometimes near the largest offset.
        fn range() -> impl Strategy<Value = (u64, usize)> {
            prop_oneof![
                8 => (0u64..200_000, 0usize..40_000),
                2 => (0u64..200_000, 0usize..300),
                1 => (u64::MAX - 5000..=u64::MAX, 0usize..10_000),
            ]
        }

        /// What `read_many` must answer for `ranges` of a file holding `model`: the views' bytes,
        /// or the error's kind and the index it names.
        fn expected(model: &[u8], ranges: &[(u64, usize)]) -> Result<Vec<Vec<u8>>, (ErrorKind, usize)> {
            if let Some(i) = ranges.iter().position(|&(pos, len)| len > 0 && pos.checked_add(len as u64).is_none()) {
                return Err((ErrorKind::InvalidInput, i));
            }
            if let Some(i) = ranges.iter().position(|&(pos, len)| len > 0 && pos + len as u64 > model.len() as u64) {
                return Err((ErrorKind::UnexpectedEof, i));
            }
            Ok(ranges.iter().map(|&(pos, len)| model[pos as usize..][..len].to_vec()).collect())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(24))]

            #[test]
            fn read_many_matches_the_model(
                file_len in 0usize..180_000,
                mut ranges in prop::collection::vec(range(), 0..40),
                dups in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..4),
                gap in prop_oneof![Just(0usize), Just(4096), 0usize..100_000],
                merged in prop_oneof![Just(0usize), Just(256 << 10), 0usize..300_000],
                depth in 0usize..6,
                pooled in any::<bool>(),
                inside in prop::bool::weighted(0.75),
                stop_after in prop::option::weighted(0.2, 0usize..8),
            ) {
                // Mostly ranges within the file, so that most calls succeed.
                if inside {
                    for (pos, len) in &mut ranges {
                        *pos %= file_len as u64 + 1;
                        *len = (*len).min(file_len - *pos as usize);
                    }
                }
                // Duplicates: a range again, somewhere else in the list.
                if !ranges.is_empty() {
                    for (from, to) in dups {
                        let copy = ranges[from.index(ranges.len())];
                        ranges.insert(to.index(ranges.len()), copy);
                    }
                }
                let (tmp, model) = model_file(concat!($module, "-many"), file_len, 7);
                let options = ReadManyOptions::new().max_gap(gap).max_merged(merged).depth(depth);
                run(async {
                    let pool = pooled.then(|| FixedPool::new(&[(8 << 10, 4), (64 << 10, 4)]).unwrap());
                    let file = open(&tmp.0, &pool).await;
                    let got = file.read_many_with(&ranges, options).await;
                    match (expected(&model, &ranges), got) {
                        (Ok(want), Ok(views)) => {
                            assert!(!inside || ranges.iter().all(|r| r.0 <= file_len as u64));
                            assert_eq!(views.len(), ranges.len());
                            for (i, (view, want)) in views.iter().zip(&want).enumerate() {
                                assert_eq!(view.pos(), ranges[i].0, "range {i}");
                                assert_eq!(&view[..], &want[..], "range {i} {:?}", ranges[i]);
                            }
                        }
                        (Err((kind, i)), Err(e)) => {
                            assert_eq!(e.kind(), kind, "{e}");
                            let named = format!("range {i} ({}, {})", ranges[i].0, ranges[i].1);
                            assert!(e.to_string().contains(&named), "{e} should name {named}");
                        }
                        (want, got) => panic!("expected {:?}, got {:?}", want.map(|v| v.len()), got.map(|v| v.len())),
                    }
                    all_back(pool.clone());

                    // `read_each`: the same views, each once, as they complete; `each`'s own
                    // error ends the call with no view after it.
                    let mut seen = vec![0usize; ranges.len()];
                    let (mut given, mut stopped, mut after_stop) = (0, false, 0);
                    let got = file.read_each_with(&ranges, options, |i, view| {
                        after_stop += usize::from(stopped);
                        if stopped || stop_after == Some(given) {
                            stopped = true;
                            return Err(std::io::Error::other("stop"));
                        }
                        given += 1;
                        seen[i] += 1;
                        assert_eq!(view.pos(), ranges[i].0, "range {i}");
                        let (pos, len) = (ranges[i].0 as usize, ranges[i].1);
                        let want = if len == 0 { &[][..] } else { &model[pos..][..len] };
                        assert_eq!(&view[..], want, "range {i} {:?}", ranges[i]);
                        Ok(())
                    }).await;
                    assert_eq!(after_stop, 0, "views handed over after `each` failed");
                    match (expected(&model, &ranges), got) {
                        (Ok(_), Ok(())) => {
                            assert!(stop_after.is_none_or(|n| n >= ranges.len()));
                            assert!(seen.iter().all(|&n| n == 1), "{seen:?}");
                        }
                        (_, Err(e)) if e.to_string() == "stop" => {
                            assert_eq!(Some(given), stop_after);
                            assert!(seen.iter().all(|&n| n <= 1), "{seen:?}");
                        }
                        (Err((ErrorKind::InvalidInput, i)), Err(e)) => {
                            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
                            let named = format!("read_each: range {i} ({}, {})", ranges[i].0, ranges[i].1);
                            assert!(e.to_string().contains(&named), "{e} should name {named}");
                            assert_eq!(given, 0);
                        }
                        (Err((ErrorKind::UnexpectedEof, _)), Err(e)) => {
                            // The first short range to complete: any of those past the end.
                            assert_eq!(e.kind(), ErrorKind::UnexpectedEof, "{e}");
                            assert!(
                                ranges.iter().enumerate().any(|(i, &(pos, len))| len > 0
                                    && pos + len as u64 > model.len() as u64
                                    && e.to_string().contains(&format!("read_each: range {i} ({pos}, {len})"))),
                                "{e}"
                            );
                            assert!(seen.iter().all(|&n| n <= 1), "{seen:?}");
                        }
                        (want, got) => panic!("read_each: expected {:?}, got {got:?}", want.map(|v| v.len())),
                    }
                    all_back(pool);
                });
            }

            #[test]
            fn a_scan_gives_the_file_from_any_position(
                file_len in 0usize..400_000,
                start in 0usize..420_000,
                chunk in prop_oneof![Just(1usize), 1usize..70_000],
                window in 0usize..5,
                pooled in any::<bool>(),
            ) {
                let (tmp, model) = model_file(concat!($module, "-scan"), file_len, 3);
                run(async {
                    let pool = pooled.then(|| FixedPool::new(&[(16 << 10, 2), (72 << 10, 8)]).unwrap());
                    let file = open(&tmp.0, &pool).await;
                    let mut reader = file.reader_with(start as u64, ReaderOptions::new().chunk(chunk).window(window));
                    let mut seen = Vec::new();
                    let mut at = start as u64;
                    while let Some(view) = reader.next_chunk().await.unwrap() {
                        assert_eq!(view.pos(), at);
                        assert!(!view.is_empty());
                        at += view.len() as u64;
                        assert_eq!(reader.pos(), at);
                        seen.extend_from_slice(&view);
                    }
                    assert_eq!(seen, model.get(start..).unwrap_or_default());
                    // At the end it stays at the end.
                    assert!(reader.next_chunk().await.unwrap().is_none());
                    drop(reader);
                    all_back(pool);
                });
            }

            /// `next_chunk` is cancel-safe: a call whose future is dropped after a few polls
            /// (in its wait for a read, or for the reads ahead at the end of the file) loses
            /// nothing, and the views that did come are the file's bytes, each once.
            #[test]
            fn a_scan_loses_nothing_to_dropped_calls(
                file_len in 0usize..200_000,
                start in 0usize..210_000,
                chunk in 1usize..20_000,
                window in 1usize..9,
                polls in prop::collection::vec(0usize..4, 1..32),
                pooled in any::<bool>(),
            ) {
                let (tmp, model) = model_file(concat!($module, "-scan-dropped"), file_len, 17);
                run(async {
                    let pool = pooled.then(|| FixedPool::new(&[(16 << 10, 2), (24 << 10, 8)]).unwrap());
                    let file = open(&tmp.0, &pool).await;
                    let mut reader = file.reader_with(start as u64, ReaderOptions::new().chunk(chunk).window(window));
                    let mut seen = Vec::new();
                    let (mut dropped, mut ended) = (0, false);
                    for &times in polls.iter().cycle() {
                        // `0`: awaited to the end; else polled `times` times, then dropped
                        // unless it finished.
                        let got = if times == 0 {
                            Some(reader.next_chunk().await)
                        } else {
                            poll_times(reader.next_chunk(), times).await
                        };
                        match got {
                            None => dropped += 1,
                            Some(res) => match res.unwrap() {
                                Some(view) => {
                                    assert_eq!(view.pos(), (start + seen.len()) as u64);
                                    seen.extend_from_slice(&view);
                                }
                                None if ended => break,
                                // Once more after the end: it stays there.
                                None => ended = true,
                            },
                        }
                        assert!(dropped < 100_000, "no progress: {dropped} calls dropped");
                    }
                    assert_eq!(seen, model.get(start..).unwrap_or_default(), "{dropped} calls dropped");
                    drop(reader);
                    all_back(pool);
                });
            }

            #[test]
            fn async_read_gives_the_model_through_read_exact(
                file_len in 0usize..300_000,
                start in 0usize..300_000,
                sizes in prop::collection::vec(0usize..50_000, 1..20),
                chunk in 1usize..40_000,
            ) {
                let (tmp, model) = model_file(concat!($module, "-async-read"), file_len, 11);
                run(async {
                    let file = DirectFile::open(&tmp.0).await.unwrap();
                    let mut reader = file.reader_with(start as u64, ReaderOptions::new().chunk(chunk).window(3));
                    let mut at = start;
                    for size in sizes {
                        let BufResult(res, buf) = reader.read_exact(vec![0u8; size]).await;
                        if at + size <= model.len() {
                            res.unwrap();
                            assert_eq!(&buf[..], &model[at..at + size], "read_exact of {size} at {at}");
                            at += size;
                            assert_eq!(reader.pos(), at as u64);
                        } else {
                            assert_eq!(res.unwrap_err().kind(), ErrorKind::UnexpectedEof);
                            return;
                        }
                    }
                    // Plain reads: the rest, then 0 at the end.
                    let mut rest = Vec::new();
                    loop {
                        let BufResult(n, buf) = reader.read(Vec::with_capacity(7000)).await;
                        let n = n.unwrap();
                        assert_eq!(buf.len(), n);
                        if n == 0 {
                            break;
                        }
                        rest.extend_from_slice(&buf);
                    }
                    assert_eq!(rest, model.get(at..).unwrap_or_default());
                });
            }
        }

        /// A reader that reaches the end, then the file grows (whole pages and unaligned
        /// tails, between and within scans): it reads on from where it stopped, every byte once.
        #[test]
        fn a_scan_follows_a_growing_file() {
            let (tmp, mut model) = model_file(concat!($module, "-grow"), 5000, 1);
            run(async {
                let file = DirectFile::open(&tmp.0).await.unwrap();
                let mut reader = file.reader_with(1234, ReaderOptions::new().chunk(16 << 10).window(3));
                let mut seen = Vec::new();
                for step in 0..12u64 {
                    // Within a scan: the first view comes, then the file grows.
                    let mut first = true;
                    while let Some(view) = reader.next_chunk().await.unwrap() {
                        assert_eq!(view.pos(), 1234 + seen.len() as u64);
                        seen.extend_from_slice(&view);
                        if first && step % 3 == 0 {
                            let more = pattern(20_000 + step as usize * 3001, step);
                            grow(&tmp.0, &more);
                            model.extend(more);
                        }
                        first = false;
                    }
                    assert_eq!(seen, model[1234..], "after step {step}");
                    let more = pattern(if step % 2 == 0 { PAGE_SIZE * (step as usize + 1) } else { 777 * step as usize }, step + 100);
                    grow(&tmp.0, &more);
                    model.extend(more);
                }
                while let Some(view) = reader.next_chunk().await.unwrap() {
                    seen.extend_from_slice(&view);
                }
                assert_eq!(seen, model[1234..]);
            });
        }

        /// Views of one merged read share its buffer; every range is a view of its own bytes.
        #[test]
        fn merged_views_share_one_buffer() {
            let (tmp, model) = model_file(concat!($module, "-shared"), 64 << 10, 5);
            run(async {
                let file = DirectFile::open(&tmp.0).await.unwrap();
                let views = file.read_many(&[(100, 10), (5000, 20), (40_000, 3)]).await.unwrap();
                // Within the default gap and merged read: one buffer.
                let base = views[0].as_ptr() as usize - 100;
                assert_eq!(views[1].as_ptr() as usize, base + 5000);
                assert_eq!(views[2].as_ptr() as usize, base + 40_000);
                assert_eq!(&views[2][..], &model[40_000..40_003]);
                // No merging at all: two buffers, even for ranges in one page (aligned
                // buffers cannot be 100 bytes apart).
                let options = ReadManyOptions::new().max_merged(0);
                let views = file.read_many_with(&[(100, 10), (200, 20)], options).await.unwrap();
                assert_ne!(views[1].as_ptr() as usize, views[0].as_ptr() as usize + 100);
                assert_eq!(&views[1][..], &model[200..220]);
            });
        }

        /// `read_each` frees each read's buffer as its view drops, so a pool of a few frames
        /// serves every read of a large set; `read_many` holds them all until it returns, and
        /// the reads past the pool's frames go to plain buffers.
        #[test]
        fn read_each_keeps_memory_to_the_depth() {
            let (tmp, model) = model_file(concat!($module, "-each"), 4 << 20, 9);
            run(async {
                let pool = FixedPool::new(&[(16 << 10, 8)]).unwrap();
                let file = DirectFile::open(&tmp.0).await.unwrap().with_pool(pool.clone());
                // 200 ranges of up to 8 KiB, 20 KiB apart: no two merged.
                let ranges: Vec<(u64, usize)> = (0..200u64).map(|i| (i * 20_480 + i % 97, 1 + (i as usize * 131) % 8192)).collect();
                let options = ReadManyOptions::new().max_gap(0).depth(4);
                let mut sum = 0u64;
                file.read_each_with(&ranges, options, |i, view| {
                    let (pos, len) = ranges[i];
                    assert_eq!(&view[..], &model[pos as usize..][..len]);
                    sum += len as u64;
                    Ok(())
                }).await.unwrap();
                assert_eq!(sum, ranges.iter().map(|r| r.1 as u64).sum::<u64>());
                let each = pool.stats();
                assert_eq!((each.misses, each.fixed_ops + each.plain_ops), (0, 200), "{each:?}");

                let views = file.read_many_with(&ranges, options).await.unwrap();
                let many = pool.stats();
                assert_eq!(views.len(), 200);
                assert!(many.misses - each.misses >= 200 - 8, "{many:?}");
            });
        }

        /// `ReadView`s (shared ones too) may go to other threads.
        /// Positions up to `u64::MAX` read nothing, as the docs say of those at or past
        /// `i64::MAX`; only a range whose end overflows is refused. (Ranges that fit but whose
        /// pages rounded past `u64::MAX` used to be refused, and a `Reader` there failed on every
        /// call.)
        #[test]
        fn ranges_near_the_largest_offsets_read_nothing() {
            let (tmp, _) = model_file(concat!($module, "-read-far"), 10_000, 7);
            run(async {
                let file = DirectFile::open(&tmp.0).await.unwrap();
                for pos in [i64::MAX as u64 - 1, i64::MAX as u64, u64::MAX - 10, u64::MAX - 5] {
                    assert!(file.read_at(pos, 5).await.unwrap().is_empty(), "{pos}");
                    let err = file.read_exact_at(pos, 5).await.unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::UnexpectedEof, "{pos}");
                    let views = file.read_many(&[(0, 3), (pos, 0)]).await.unwrap();
                    assert_eq!((views[0].len(), views[1].len()), (3, 0));
                    assert!(file.reader(pos).next_chunk().await.unwrap().is_none(), "{pos}");
                }
                // Several of them together, merged or not: the range past the end is named.
                let far = [(0, 3), (u64::MAX - 10, 5), (u64::MAX - 5, 5), (i64::MAX as u64, 9)];
                for gap in [0, 1 << 20] {
                    let options = ReadManyOptions::new().max_gap(gap);
                    let err = file.read_many_with(&far, options).await.unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
                    assert!(err.to_string().contains("range 1 "), "{err}");
                }
                let err = file.read_at(u64::MAX, 1).await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidInput);
            });
        }

        /// A chunk too large for one read is clamped to one: the scan still gives the file.
        #[test]
        fn a_huge_chunk_still_scans() {
            let (tmp, bytes) = model_file(concat!($module, "-read-huge-chunk"), 10_000, 8);
            run(async {
                let file = DirectFile::open(&tmp.0).await.unwrap();
                let mut reader = file.reader_with(0, ReaderOptions::new().chunk(usize::MAX).window(2));
                let mut got = Vec::new();
                while let Some(view) = reader.next_chunk().await.unwrap() {
                    got.extend_from_slice(&view);
                }
                assert_eq!(got, bytes);
            });
        }

        /// A window larger than any scan needs is cut to `MAX_IN_FLIGHT` bytes of reads: the scan
        /// gives the file (before the cut, the first fill pushed reads without end).
        #[test]
        fn a_huge_window_still_scans() {
            let (tmp, bytes) = model_file(concat!($module, "-read-huge-window"), 70_000, 10);
            run(async {
                let file = DirectFile::open(&tmp.0).await.unwrap();
                let options = ReaderOptions::new().chunk(64 << 20).window(usize::MAX);
                let mut reader = file.reader_with(0, options);
                let mut got = Vec::new();
                while let Some(view) = reader.next_chunk().await.unwrap() {
                    got.extend_from_slice(&view);
                }
                assert_eq!(got, bytes);
                let shown = format!("{reader:?}");
                let window = ReaderOptions::MAX_IN_FLIGHT / (64 << 20);
                assert!(shown.contains(&format!("window: {window},")), "{shown}");
            });
        }

        /// A pooled read that ends at an end of file on a page boundary keeps its frame, as at
        /// any other end (it used to copy the bytes to a plain buffer and read once more).
        #[test]
        fn a_read_to_an_aligned_end_keeps_its_frame() {
            let (tmp, bytes) = model_file(concat!($module, "-read-aligned-end"), 2 * PAGE_SIZE, 9);
            run(async {
                let file = DirectFile::open(&tmp.0).await.unwrap();
                let pool = file.pool().cloned().expect("the runtime's default pool");
                let in_use = || pool.stats().tiers.iter().map(|t| t.in_use).sum::<usize>();
                let view = file.read_at(100, 10_000).await.unwrap();
                assert_eq!(&view[..], &bytes[100..]);
                assert_eq!(in_use(), 1, "the view holds the frame it was read into");
                drop(view);
                assert_eq!(in_use(), 0);
            });
        }

        /// A reader at the end of the file, polled again and again (following a log), issues
        /// one read a call, not a window's worth; and reads ahead again once the file grows.
        #[test]
        fn a_reader_at_the_end_reads_one_chunk_a_call() {
            let (tmp, mut bytes) = model_file(concat!($module, "-read-follow"), 10_000, 10);
            run(async {
                let file = DirectFile::open(&tmp.0).await.unwrap();
                let pool = file.pool().cloned().expect("the runtime's default pool");
                let ops = || {
                    let s = pool.stats();
                    s.fixed_ops + s.plain_ops
                };
                let mut reader = file.reader_with(0, ReaderOptions::new().chunk(4096).window(8));
                let mut got = Vec::new();
                while let Some(view) = reader.next_chunk().await.unwrap() {
                    got.extend_from_slice(&view);
                }
                let before = ops();
                for _ in 0..10 {
                    assert!(reader.next_chunk().await.unwrap().is_none());
                }
                assert!(ops() - before <= 10, "{} reads for 10 calls at the end", ops() - before);
                let more = pattern(50_000, 11);
                grow(&tmp.0, &more);
                bytes.extend_from_slice(&more);
                while let Some(view) = reader.next_chunk().await.unwrap() {
                    got.extend_from_slice(&view);
                }
                assert_eq!(got, bytes);
            });
        }

        #[test]
        fn views_are_send_and_sync() {
            fn send_sync<T: Send + Sync>() {}
            send_sync::<jdb_alloc::direct::ReadView>();
        }
    };
}

#[cfg(feature = "compio-17")]
mod v17 {
    read_cases!(compio, compio17, "v17");
}

#[cfg(feature = "compio-19")]
mod v19 {
    read_cases!(compio_19, compio19, "v19");
}

#[cfg(feature = "compio-20")]
mod v20 {
    read_cases!(compio_20, compio20, "v20");
}
