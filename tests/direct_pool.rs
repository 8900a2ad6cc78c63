//! `DirectFile` and `Appender` drawing their buffers from a `FixedPool`: fixed operations when
//! the pool is registered, plain ones with the same data when the memlock limit refuses it,
//! fallbacks (counted) when no frame fits or the tier is lent out, and every frame back in the
//! pool after views, appenders and dropped futures are gone. The memlock test lowers a
//! process-wide limit, so the tests of this binary take turns (`TURN`).
#![cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]

mod memlock;
mod poll;
mod scratch;
mod turn;

use scratch::Scratch;
use turn::turn;

/// `len` bytes that differ with `seed` and position.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64).wrapping_mul(31).wrapping_add(seed * 7919) as u8)
        .collect()
}

/// The cases, for the compio crate `$compio`, this crate's `direct::$direct` and
/// `fixed::$fixed`.
macro_rules! pool_cases {
    ($compio:ident, $direct:ident, $fixed:ident) => {
        use std::{future::Future, pin::pin};

        use jdb_alloc::{
            direct::{
                AppenderOptions,
                $direct::{Appender, DirectFile},
            },
            fixed::{FixedPool, FixedStatus, $fixed},
        };
        use $compio::runtime::Runtime;

        use crate::{Scratch, memlock, pattern, poll, turn};

        const SMALL: usize = 64 << 10;
        const BIG: usize = 256 << 10;

        fn run<F: Future>(future: F) -> F::Output {
            Runtime::new().unwrap().block_on(future)
        }

        /// Appends records of many sizes (staged, and large ones written from a frame of their
        /// own), reads ranges back, and compares with the model; returns the model.
        async fn workload(file: DirectFile) -> Vec<u8> {
            let mut log = Appender::with_options(file, AppenderOptions::new().staging(SMALL));
            let mut model = Vec::new();
            for (i, len) in [100, 5000, 70_000, 3, 200_000, 64 << 10, 1]
                .into_iter()
                .enumerate()
            {
                let rec = pattern(len, i as u64);
                assert_eq!(log.append(&rec).await.unwrap(), model.len() as u64);
                model.extend(&rec);
            }
            log.sync().await.unwrap();
            let file = log.finish().await.unwrap();
            for (pos, len) in [
                (0, 100),
                (4000, 70_000),
                (100, BIG - 8192),
                (77_777, 1),
                (0, 4096),
            ] {
                let view = file.read_exact_at(pos, len).await.unwrap();
                assert_eq!(
                    &view[..],
                    &model[pos as usize..pos as usize + len],
                    "({pos}, {len})"
                );
            }
            model
        }

        /// Registered: the reads and writes are fixed operations, none fell back, and every
        /// frame is back at the end.
        #[test]
        fn reads_and_appends_through_a_pool_are_fixed() {
            let _turn = turn();
            let tmp = Scratch::new(concat!(stringify!($direct), "-pool-fixed"));
            run(async {
                let pool = FixedPool::new(&[(SMALL, 4), (BIG, 2)]).unwrap();
                assert_eq!(pool.status(), FixedStatus::Registered);
                let file = DirectFile::create(&tmp.0)
                    .await
                    .unwrap()
                    .with_pool(pool.clone());
                assert!(file.pool().is_some());
                let model = workload(file).await;
                let stats = pool.stats();
                // Writes: the staged bytes and the 70 000 and 200 000 byte records; 5 reads.
                assert!(stats.fixed_ops >= 8, "{stats:?}");
                assert_eq!((stats.plain_ops, stats.misses), (0, 0), "{stats:?}");
                assert!(stats.tiers.iter().all(|t| t.in_use == 0), "{stats:?}");
                // The file holds what a plain DirectFile reads.
                let plain = DirectFile::open(&tmp.0).await.unwrap();
                assert_eq!(
                    &plain.read_exact_at(0, model.len()).await.unwrap()[..],
                    &model[..]
                );
            });
        }

        /// This crate's runtime (its ring with `COOP_TASKRUN`) is an io_uring one, on which the
        /// pool registers and the same reads and appends are fixed operations with the same
        /// data.
        #[test]
        fn the_crate_runtime_does_fixed_io() {
            let _turn = turn();
            let tmp = Scratch::new(concat!(stringify!($direct), "-pool-runtime"));
            jdb_alloc::direct::$direct::runtime()
                .unwrap()
                .block_on(async {
                    let pool = FixedPool::new(&[(SMALL, 4), (BIG, 2)]).unwrap();
                    let file = DirectFile::create(&tmp.0)
                        .await
                        .unwrap()
                        .with_pool(pool.clone());
                    let model = workload(file).await;
                    let stats = pool.stats();
                    assert_eq!(pool.status(), FixedStatus::Registered);
                    assert!(stats.fixed_ops >= 8, "{stats:?}");
                    assert_eq!((stats.plain_ops, stats.misses), (0, 0), "{stats:?}");
                    let views = DirectFile::open(&tmp.0)
                        .await
                        .unwrap()
                        .read_many(&[(0, model.len()), (7, 70_000)])
                        .await
                        .unwrap();
                    assert_eq!(&views[0][..], &model[..]);
                    assert_eq!(&views[1][..], &model[7..70_007]);
                });
        }

        /// The registration refused by the memlock limit: the same data, through plain
        /// operations with the pool's frames.
        #[test]
        fn a_refused_registration_does_the_same_with_plain_io() {
            let _turn = turn();
            let tmp = Scratch::new(concat!(stringify!($direct), "-pool-memlock"));
            let path = tmp.0.clone();
            // Room for the ring itself (which some kernels charge), not for either 3 MiB tier.
            memlock::with_memlock(2 << 20, move || {
                run(async {
                    let pool = FixedPool::new(&[(SMALL, 48), (BIG, 12)]).unwrap();
                    assert_eq!(pool.status(), FixedStatus::Refused(libc::ENOMEM));
                    let file = DirectFile::create(&path)
                        .await
                        .unwrap()
                        .with_pool(pool.clone());
                    let model = workload(file).await;
                    let stats = pool.stats();
                    assert!(stats.plain_ops >= 8, "{stats:?}");
                    assert_eq!((stats.fixed_ops, stats.misses), (0, 0), "{stats:?}");
                    assert!(stats.tiers.iter().all(|t| t.in_use == 0), "{stats:?}");
                    let plain = DirectFile::open(&path).await.unwrap();
                    assert_eq!(
                        &plain.read_exact_at(0, model.len()).await.unwrap()[..],
                        &model[..]
                    );
                });
            });
            drop(tmp);
        }

        /// A read larger than every tier, and one while the only frame of its tier is held
        /// by a view, fall back to plain buffers (two misses), with the right data; a frame
        /// lent for a short read has its whole length again for the next, longer one.
        #[test]
        fn reads_fall_back_when_no_frame_fits_or_is_free() {
            let _turn = turn();
            let tmp = Scratch::new(concat!(stringify!($direct), "-pool-fallback"));
            run(async {
                let data = pattern(3 * SMALL, 9);
                let mut log = Appender::new(DirectFile::create(&tmp.0).await.unwrap());
                log.append(&data).await.unwrap();
                let pool = FixedPool::new(&[(SMALL, 1)]).unwrap();
                let file = log.finish().await.unwrap().with_pool(pool.clone());

                let short = file.read_exact_at(10, 100).await.unwrap();
                assert_eq!(&short[..], &data[10..110]);
                drop(short);
                let long = file.read_exact_at(0, SMALL).await.unwrap();
                assert_eq!(&long[..], &data[..SMALL]);
                assert_eq!((pool.stats().misses, pool.stats().tiers[0].in_use), (0, 1));

                let busy = file.read_exact_at(SMALL as u64, 5000).await.unwrap();
                assert_eq!(&busy[..], &data[SMALL..SMALL + 5000]);
                let huge = file.read_exact_at(1, 2 * SMALL).await.unwrap();
                assert_eq!(&huge[..], &data[1..1 + 2 * SMALL]);
                let stats = pool.stats();
                assert_eq!(stats.misses, 2, "{stats:?}");
                assert_eq!(stats.fixed_ops + stats.plain_ops, 2, "{stats:?}");
                drop(long);
                assert_eq!(pool.stats().tiers[0].in_use, 0);
            });
        }

        /// A read whose tier is lent out takes a frame of the next tier up, not of any
        /// larger one, before it falls back to a plain buffer.
        #[test]
        fn reads_take_the_next_tier_up_when_theirs_is_empty() {
            let _turn = turn();
            let tmp = Scratch::new(concat!(stringify!($direct), "-pool-next-tier"));
            run(async {
                let data = pattern(3 * SMALL, 4);
                let mut log = Appender::new(DirectFile::create(&tmp.0).await.unwrap());
                log.append(&data).await.unwrap();
                let pool = FixedPool::new(&[(4096, 1), (8192, 1), (SMALL, 1)]).unwrap();
                let file = log.finish().await.unwrap().with_pool(pool.clone());
                let mut views = Vec::new();
                for i in 0..3 {
                    let view = file.read_exact_at(i * 5000, 100).await.unwrap();
                    assert_eq!(&view[..], &data[i as usize * 5000..][..100]);
                    views.push(view);
                }
                let stats = pool.stats();
                let in_use: Vec<_> = stats.tiers.iter().map(|t| t.in_use).collect();
                // 4 KiB, then 8 KiB, then a plain buffer: the 64 KiB frame is two tiers up.
                assert_eq!((in_use, stats.misses), (vec![1, 1, 0], 1), "{stats:?}");
                drop(views);
                assert!(pool.stats().tiers.iter().all(|t| t.in_use == 0));
            });
        }

        /// The appender's staging frame is held while it lives and back when it is dropped
        /// or finished; a view dropped on another thread gives its frame back too.
        #[test]
        fn frames_come_back_from_appenders_and_views() {
            let _turn = turn();
            let tmp = Scratch::new(concat!(stringify!($direct), "-pool-back"));
            run(async {
                let pool = FixedPool::new(&[(SMALL, 2)]).unwrap();
                let in_use = || pool.stats().tiers[0].in_use;
                let file = DirectFile::create(&tmp.0)
                    .await
                    .unwrap()
                    .with_pool(pool.clone());
                let options = AppenderOptions::new().staging(SMALL);
                let mut log = Appender::with_options(file, options);
                log.append(b"staged").await.unwrap();
                log.sync().await.unwrap();
                assert_eq!(in_use(), 1);
                drop(log);
                assert_eq!(in_use(), 0);

                let file = DirectFile::open(&tmp.0)
                    .await
                    .unwrap()
                    .with_pool(pool.clone());
                let mut log = Appender::with_options(file, options)
                    .resume(6)
                    .await
                    .unwrap();
                log.append(b" and more").await.unwrap();
                let file = log.finish().await.unwrap();
                assert_eq!(in_use(), 0);

                let view = file.read_exact_at(0, 15).await.unwrap();
                assert_eq!((&view[..], in_use()), (&b"staged and more"[..], 1));
                std::thread::spawn(move || drop(view)).join().unwrap();
                assert_eq!(in_use(), 0);
            });
        }

        /// A read and an append whose futures are dropped while the kernel has their frames:
        /// the frames come back once compio is done with the operations.
        #[test]
        fn frames_of_dropped_futures_come_back() {
            let _turn = turn();
            let tmp = Scratch::new(concat!(stringify!($direct), "-pool-dropped"));
            run(async {
                let pool = FixedPool::new(&[(SMALL, 2)]).unwrap();
                let in_use = || pool.stats().tiers[0].in_use;
                let file = DirectFile::create(&tmp.0)
                    .await
                    .unwrap()
                    .with_pool(pool.clone());
                file.set_len(SMALL as u64).await.unwrap();

                {
                    let mut read = pin!(file.read_at(0, SMALL));
                    poll::poll_pending(read.as_mut()).await;
                    // Submitted: the kernel has the frame.
                    assert_eq!(in_use(), 1);
                }

                // An appender starts on an empty file (it refuses to overwrite one).
                file.set_len(0).await.unwrap();
                // Without write-behind the append waits for its write.
                let options = AppenderOptions::new().staging(4096).write_behind(0);
                let mut log = Appender::with_options(file, options);
                {
                    let mut append = pin!(log.append(&[1; 10_000]));
                    poll::poll_pending(append.as_mut()).await;
                    assert_eq!(in_use(), 2); // the staging frame, and the record's
                }
                drop(log);
                $fixed::settle().await;
                assert_eq!(in_use(), 0, "{:?}", pool.stats());

                // With it, the append returns with its write in flight, which the appender's
                // drop cancels.
                let other = Scratch::new(concat!(stringify!($direct), "-pool-dropped-behind"));
                let file = DirectFile::create(&other.0)
                    .await
                    .unwrap()
                    .with_pool(pool.clone());
                let mut log = Appender::with_options(file, AppenderOptions::new().staging(4096));
                log.append(&[1; 10_000]).await.unwrap();
                assert_eq!(in_use(), 2);
                drop(log);
                $fixed::settle().await;
                assert_eq!(in_use(), 0, "{:?}", pool.stats());
            });
        }
    };
}

#[cfg(feature = "compio-17")]
mod v17 {
    pool_cases!(compio, compio17, compio17);
}

#[cfg(feature = "compio-19")]
mod v19 {
    pool_cases!(compio_19, compio19, compio19);
}

#[cfg(feature = "compio-20")]
mod v20 {
    pool_cases!(compio_20, compio20, compio20);
}
