//! The registered frame pool through real compio runtimes, 0.17 (`v17::`) and 0.19 (`v19::`):
//! acquiring until a tier is empty, waiting (fairly) for frames dropped on other threads,
//! cancelled waiters, lengths no tier holds, fixed and plain operations and their counters, a
//! pool outliving its runtime, and a property test against a model across two threads. The
//! same cases for both versions, from one macro. (`VmPin`, RSS and the memlock limit:
//! tests/fixed_pool_memory.rs.)
#![cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]

mod scratch;

use scratch::Scratch;

/// Distinct, position-dependent bytes, so a misplaced page cannot compare equal.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

/// Tiers that cannot be made are errors naming them; huge pages go only to tiers made of whole
/// huge pages, so a small tier never fails for want of them. (No runtime needed: once, outside
/// the version cases.)
#[test]
fn pool_tiers_checked_and_huge_pages_where_they_fit() {
    use jdb_alloc::{Error, HUGE_PAGE_SIZE as HUGE, HugePages, fixed::FixedPool};
    const SMALL: usize = 4096;
    const BIG: usize = 4 * SMALL;

    let err = |tiers: &[(usize, usize)]| FixedPool::new(tiers).unwrap_err().to_string();
    assert_eq!(
        err(&[]),
        "pool tier of 0 frames of 0 bytes: a pool needs at least one tier"
    );
    assert_eq!(
        err(&[(SMALL, 1), (1000, 4)]),
        "pool tier of 4 frames of 1000 bytes: the frame length must be a non-zero multiple of ALIGNMENT (4096)"
    );
    assert_eq!(
        err(&[(SMALL, 0)]),
        "pool tier of 0 frames of 4096 bytes: a tier needs at least one frame"
    );
    assert_eq!(
        err(&[(BIG, 1), (SMALL, 2), (BIG, 3)]),
        "pool tier of 3 frames of 16384 bytes: another tier has the same frame length"
    );
    assert!(matches!(
        FixedPool::new(&[(SMALL, usize::MAX)]),
        Err(Error::TooLarge { .. })
    ));

    let small = FixedPool::with_huge_pages(&[(SMALL, 4)], HugePages::On).unwrap();
    assert_eq!(small.try_acquire(1).unwrap().cap(), SMALL);
    let pool = FixedPool::with_huge_pages(&[(HUGE, 16), (SMALL, 2)], HugePages::Try).unwrap();
    let tiers: Vec<(usize, usize)> = pool
        .stats()
        .tiers
        .iter()
        .map(|t| (t.frame_len, t.frames))
        .collect();
    assert_eq!(tiers, [(SMALL, 2), (HUGE, 16)]);
    let mut frame = pool.try_acquire(HUGE).unwrap();
    frame.extend(&vec![5; HUGE]).unwrap();
    assert_eq!(frame.len(), HUGE);
}

/// The cases, for the compio crate `$compio` and this crate's module `fixed::$fixed`.
macro_rules! pool_cases {
    ($compio:ident, $fixed:ident) => {
        use std::{
            future::Future,
            pin::{Pin, pin},
            sync::mpsc,
            task::{Context, Poll},
        };

        use jdb_alloc::{
            Error, PAGE_SIZE,
            fixed::{FixedFrame, FixedStatus, $fixed::{self, FixedPool}},
        };
        use proptest::prelude::*;
        use $compio::{
            BufResult,
            io::{AsyncReadAt, AsyncWriteAt},
            runtime::Runtime,
        };

        use crate::{Scratch, pattern};

        crate::scratch::open_direct!($compio);

        const SMALL: usize = PAGE_SIZE;
        const BIG: usize = 4 * PAGE_SIZE;

        /// Polls `future` once; it must be waiting.
        async fn pends<F: Future + Unpin>(future: &mut F) {
            std::future::poll_fn(|cx: &mut Context<'_>| {
                assert!(Pin::new(&mut *future).poll(cx).is_pending(), "did not wait");
                Poll::Ready(())
            })
            .await;
        }

        /// Polls `future` once; it must be done (so a bug fails here rather than hangs).
        async fn ready<F: Future + Unpin>(future: &mut F) -> F::Output {
            std::future::poll_fn(|cx: &mut Context<'_>| {
                Poll::Ready(match Pin::new(&mut *future).poll(cx) {
                    Poll::Ready(out) => out,
                    Poll::Pending => panic!("still waiting"),
                })
            })
            .await
        }

        fn in_use(pool: &FixedPool) -> Vec<usize> {
            pool.stats().tiers.iter().map(|t| t.in_use).collect()
        }

        /// The last frame of a tier goes; the next `acquire` waits, and gets the frame dropped
        /// on another thread (which wakes it from there).
        #[test]
        fn pool_acquire_waits_for_a_frame_dropped_on_another_thread() {
            Runtime::new().unwrap().block_on(async {
                let pool = FixedPool::new(&[(BIG, 3), (SMALL, 2)]).unwrap();
                assert_eq!(pool.status(), FixedStatus::Registered);
                let mut held = Vec::new();
                for _ in 0..3 {
                    let frame = pool.acquire(SMALL + 1).await.unwrap();
                    assert_eq!((frame.len(), frame.cap()), (0, BIG));
                    assert_eq!($fixed::status(&frame), FixedStatus::Registered);
                    held.push(frame);
                }
                assert!(pool.try_acquire(BIG).is_none(), "the tier is empty");
                assert_eq!(pool.try_acquire(SMALL).unwrap().cap(), SMALL, "no spill-over");
                assert_eq!(in_use(&pool), [0, 3]);

                let mut waiting = pin!(pool.acquire(BIG));
                pends(&mut waiting).await;
                let (go, went) = mpsc::channel::<()>();
                let frame = held.pop().unwrap();
                let addr = frame.as_ptr();
                // Dropped once the future is parked, or before: both must end well.
                let dropper = std::thread::spawn(move || {
                    went.recv().unwrap();
                    drop(frame);
                });
                go.send(()).unwrap();
                let frame = waiting.await.unwrap();
                dropper.join().unwrap();
                assert_eq!(frame.as_ptr(), addr, "the frame dropped elsewhere");
                let stats = pool.stats();
                assert_eq!((stats.waits, stats.tiers[1].waits, stats.misses), (1, 1, 1));
                assert_eq!(stats.tiers[1].in_use, 3);
                drop((frame, held));
                assert_eq!(in_use(&pool), [0, 0]);
            });
        }

        /// A frame dropped by a thread-local destructor, as its thread exits, goes back and
        /// wakes the waiter from there.
        #[test]
        fn pool_frame_dropped_in_a_thread_local_destructor() {
            thread_local! {
                static KEPT: std::cell::RefCell<Option<FixedFrame>> = const { std::cell::RefCell::new(None) };
            }
            Runtime::new().unwrap().block_on(async {
                let pool = FixedPool::new(&[(SMALL, 1)]).unwrap();
                let frame = pool.try_acquire(SMALL).unwrap();
                let addr = frame.as_ptr();
                let mut waiting = pin!(pool.acquire(SMALL));
                pends(&mut waiting).await;
                let exits = std::thread::spawn(move || KEPT.with(|kept| *kept.borrow_mut() = Some(frame)));
                let frame = waiting.await.unwrap();
                exits.join().unwrap();
                assert_eq!(frame.as_ptr(), addr);
            });
        }

        /// Four runtimes on four threads share a pool of two frames: each acquires, holds
        /// across a yield, drops, and every third time gives up a wait it started. No frame is
        /// lost and no waiter is left asleep (a lost wakeup hangs here).
        #[test]
        fn pool_contended_by_four_runtimes() {
            const ROUNDS: usize = 300;
            let pool = FixedPool::new(&[(SMALL, 2)]).unwrap();
            let start = std::sync::Arc::new(std::sync::Barrier::new(4));
            let threads: Vec<_> = (0..4)
                .map(|t| {
                    let pool = pool.clone();
                    let start = start.clone();
                    std::thread::spawn(move || {
                        let rt = Runtime::new().unwrap();
                        start.wait();
                        rt.block_on(async {
                            for i in 0..ROUNDS {
                                if (i + t) % 3 == 0 {
                                    let mut gave_up = Box::pin(pool.acquire(1));
                                    std::future::poll_fn(|cx| {
                                        let _ = gave_up.as_mut().poll(cx);
                                        Poll::Ready(())
                                    })
                                    .await;
                                    continue;
                                }
                                let mut frame = pool.acquire(1).await.unwrap();
                                frame.extend(&[t as u8; 8]).unwrap();
                                // Held while the other threads run and find the pool empty.
                                std::thread::yield_now();
                                $compio::runtime::spawn(async {}).await.unwrap();
                                assert_eq!(&frame[..], &[t as u8; 8], "another thread wrote it");
                            }
                        });
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
            assert_eq!(in_use(&pool), [0]);
            assert_eq!(pool.try_acquire(1).map(|f| f.len()), Some(0));
        }

        /// Handles and futures go between threads.
        #[test]
        fn pool_handles_and_futures_are_send_and_sync() {
            fn send_sync<T: Send + Sync>() {}
            send_sync::<FixedPool>();
            send_sync::<$fixed::FixedPool>();
            fn send<T: Send>(_: &T) {}
            let pool = FixedPool::new(&[(SMALL, 1)]).unwrap();
            send(&pool.acquire(1));
        }

        /// A length above every tier errors at once, never waits; `try_acquire` gives none.
        #[test]
        fn pool_len_above_every_tier_errors() {
            Runtime::new().unwrap().block_on(async {
                let pool = FixedPool::new(&[(SMALL, 1), (BIG, 1)]).unwrap();
                let err = pool.acquire(BIG + 1).await.unwrap_err();
                assert!(matches!(err, Error::NoTier { len, largest } if len == BIG + 1 && largest == BIG));
                assert_eq!(
                    err.to_string(),
                    format!("no tier of the pool holds {} bytes: its largest frames are {BIG} bytes", BIG + 1)
                );
                assert!(pool.try_acquire(usize::MAX).is_none());
                assert_eq!(pool.stats().misses, 1);
                assert_eq!(pool.stats().waits, 0);
            });
        }

        /// Waiters are served in order; one dropped after it was handed a frame passes it on,
        /// one dropped while queued is skipped; frames come back in any order, from any thread.
        #[test]
        fn pool_cancelled_waiters_lose_no_frame() {
            Runtime::new().unwrap().block_on(async {
                let pool = FixedPool::new(&[(SMALL, 2)]).unwrap();
                let first = pool.try_acquire(1).unwrap();
                let second = pool.acquire(1).await.unwrap();
                let (a1, a2) = (first.as_ptr(), second.as_ptr());
                let mut a = Box::pin(pool.acquire(1));
                let mut b = Box::pin(pool.acquire(1));
                let mut c = Box::pin(pool.acquire(1));
                let mut d = Box::pin(pool.acquire(1));
                for waiter in [&mut a, &mut b, &mut c, &mut d] {
                    pends(waiter).await;
                }
                std::thread::spawn(move || drop(second)).join().unwrap(); // handed to `a`
                drop(a); // never took it: it goes on to `b`
                drop(c); // queued: leaves the queue
                drop(first); // to `d`, `c` being gone
                let from_b = ready(&mut b).await.unwrap();
                let from_d = ready(&mut d).await.unwrap();
                assert_eq!((from_b.as_ptr(), from_d.as_ptr()), (a2, a1));
                assert!(pool.try_acquire(1).is_none());
                assert_eq!(pool.stats().waits, 4);
                drop(from_d);
                std::thread::spawn(move || drop(from_b)).join().unwrap();
                assert_eq!(in_use(&pool), [0]);
                // Both frames are free again, in whatever order they came back.
                let both = [pool.try_acquire(1).unwrap(), pool.try_acquire(1).unwrap()];
                let mut addrs = [both[0].as_ptr(), both[1].as_ptr()];
                addrs.sort();
                let mut want = [a1, a2];
                want.sort();
                assert_eq!(addrs, want);
            });
        }

        /// Fixed reads and writes on the pool's runtime, plain ones on another, the same data,
        /// each counted; compio's own `read_at` / `write_at` take the frames too.
        #[test]
        fn pool_frames_do_fixed_and_plain_io_and_count_it() {
            let tmp = Scratch::new(&format!("{}_pool_ops", stringify!($fixed)));
            let first = Runtime::new().unwrap();
            let pool = first.block_on(async {
                let file = open_direct(&tmp.0).await.unwrap();
                let pool = FixedPool::new(&[(SMALL, 2), (BIG, 2)]).unwrap();
                let mut frame = pool.acquire(BIG).await.unwrap();
                frame.extend(&pattern(BIG, 1)).unwrap();
                let BufResult(n, frame) = $fixed::write_fixed_at(&file, frame, 0).await;
                assert_eq!(n.unwrap(), BIG);
                drop(frame);
                let frame = pool.try_acquire(SMALL).unwrap();
                let BufResult(n, frame) = $fixed::read_fixed_at(&file, frame, PAGE_SIZE as u64).await;
                assert_eq!(n.unwrap(), SMALL);
                assert_eq!(&frame[..], &pattern(BIG, 1)[PAGE_SIZE..2 * PAGE_SIZE]);
                // compio's own operations: plain, not counted.
                let mut frame = frame;
                frame.clear();
                let BufResult(n, frame) = file.read_at(frame, 0).await;
                assert_eq!(n.unwrap(), SMALL);
                let BufResult(n, _) = (&file).write_at(frame, BIG as u64).await;
                assert_eq!(n.unwrap(), SMALL);
                let stats = pool.stats();
                assert_eq!((stats.fixed_ops, stats.plain_ops), (2, 0));
                assert_eq!((stats.tiers[0].fixed_ops, stats.tiers[1].fixed_ops), (1, 1));
                pool
            });
            // Another runtime: the same frames, plain I/O, the same data.
            Runtime::new().unwrap().block_on(async {
                let file = open_direct(&tmp.0).await.unwrap();
                let mut frame = pool.acquire(BIG).await.unwrap();
                assert_eq!($fixed::status(&frame), FixedStatus::OtherRuntime);
                frame.extend(&pattern(BIG, 2)).unwrap();
                let BufResult(n, mut frame) = $fixed::write_fixed_at(&file, frame, 0).await;
                assert_eq!(n.unwrap(), BIG);
                frame.clear();
                let BufResult(n, frame) = $fixed::read_fixed_at(&file, frame, 0).await;
                assert_eq!(n.unwrap(), BIG);
                assert_eq!(&frame[..], &pattern(BIG, 2)[..]);
                let stats = pool.stats();
                assert_eq!((stats.fixed_ops, stats.plain_ops), (2, 2));
            });
        }

        /// A read whose future is dropped in flight keeps its frame until the kernel is done;
        /// then the frame comes back to the pool, and a waiter gets it.
        #[test]
        fn pool_frame_of_a_dropped_read_comes_back_when_it_completes() {
            let tmp = Scratch::new(&format!("{}_pool_dropped_read", stringify!($fixed)));
            Runtime::new().unwrap().block_on(async {
                let file = open_direct(&tmp.0).await.unwrap();
                let pool = FixedPool::new(&[(BIG, 1)]).unwrap();
                let mut frame = pool.acquire(BIG).await.unwrap();
                frame.extend(&pattern(BIG, 4)).unwrap();
                let BufResult(n, frame) = $fixed::write_fixed_at(&file, frame, 0).await;
                assert_eq!(n.unwrap(), BIG);
                let addr = frame.as_ptr();
                let mut frame = frame;
                frame.clear();
                {
                    let mut read = pin!($fixed::read_fixed_at(&file, frame, 0));
                    std::future::poll_fn(|cx| {
                        let _ = read.as_mut().poll(cx);
                        Poll::Ready(())
                    })
                    .await;
                }
                let back = pool.acquire(BIG).await.unwrap();
                assert_eq!((back.as_ptr(), back.len()), (addr, 0));
                let stats = pool.stats();
                assert_eq!((stats.fixed_ops + stats.plain_ops, stats.tiers[0].in_use), (2, 1));
            });
        }

        /// The runtime goes first: the pool says so, its frames do plain I/O on the next
        /// runtime with the same data, and frames dropped before and after come back.
        #[test]
        fn pool_outlives_its_runtime() {
            let tmp = Scratch::new(&format!("{}_pool_outlives", stringify!($fixed)));
            let rt = Runtime::new().unwrap();
            let (pool, held) = rt.block_on(async {
                let pool = FixedPool::new(&[(SMALL, 2)]).unwrap();
                let held = pool.acquire(1).await.unwrap();
                (pool, held)
            });
            assert_eq!(pool.status(), FixedStatus::Registered);
            drop(rt);
            assert_eq!(pool.status(), FixedStatus::RingClosed);
            assert_eq!(pool.stats().tiers[0].status, FixedStatus::RingClosed);
            Runtime::new().unwrap().block_on(async {
                let file = open_direct(&tmp.0).await.unwrap();
                let mut frame = pool.try_acquire(SMALL).unwrap();
                frame.extend(&pattern(SMALL, 3)).unwrap();
                let BufResult(n, mut frame) = $fixed::write_fixed_at(&file, frame, 0).await;
                assert_eq!(n.unwrap(), SMALL);
                frame.clear();
                let BufResult(n, frame) = $fixed::read_fixed_at(&file, frame, 0).await;
                assert_eq!(n.unwrap(), SMALL);
                assert_eq!(&frame[..], &pattern(SMALL, 3)[..]);
                assert_eq!(pool.stats().plain_ops, 2);
                let mut waiting = pin!(pool.acquire(SMALL));
                pends(&mut waiting).await;
                std::thread::spawn(move || drop(held)).join().unwrap();
                let again = waiting.await.unwrap();
                drop((frame, again));
            });
            assert_eq!(in_use(&pool), [0]);
            // The last handle goes on another thread, frames all back.
            std::thread::spawn(move || drop(pool)).join().unwrap();
        }

        /// Outside a runtime the pool works, unregistered; the last frame out may outlive every
        /// handle.
        #[test]
        fn pool_without_runtime_and_frames_outliving_handles() {
            let pool = FixedPool::new(&[(SMALL, 1)]).unwrap();
            assert_eq!(pool.status(), FixedStatus::NoRuntime);
            let frame = pool.try_acquire(SMALL).unwrap();
            let clone = pool.clone();
            drop(pool);
            assert!(clone.try_acquire(1).is_none());
            drop(clone);
            let mut frame = frame;
            frame.extend(&[9; SMALL]).unwrap();
            std::thread::spawn(move || drop(frame)).join().unwrap();
        }

        /// One step of the model test.
        #[derive(Clone, Debug)]
        enum Step {
            /// `try_acquire(len)`.
            Take(usize),
            /// `acquire(len)`: waits when the tier is empty, for a frame the other thread drops.
            Wait(usize),
            /// Drop held frame `i % held` here.
            Drop(usize),
            /// Drop held frame `i % held` on the other thread, and wait until it did.
            DropThere(usize),
            /// Fill held frame `i % held` and write it to region `r`.
            Write(usize, usize),
            /// Read region `r` into held frame `i % held`.
            Read(usize, usize),
        }

        const TIERS: [(usize, usize); 2] = [(SMALL, 2), (BIG, 2)];
        const REGIONS: usize = 4;

        fn step() -> impl Strategy<Value = Step> {
            let len = prop_oneof![0..=BIG + 100, Just(SMALL), Just(BIG)];
            prop_oneof![
                len.clone().prop_map(Step::Take),
                len.prop_map(Step::Wait),
                any::<usize>().prop_map(Step::Drop),
                any::<usize>().prop_map(Step::DropThere),
                (any::<usize>(), 0..REGIONS).prop_map(|(i, r)| Step::Write(i, r)),
                (any::<usize>(), 0..REGIONS).prop_map(|(i, r)| Step::Read(i, r)),
            ]
        }

        fn tier_of(len: usize) -> Option<usize> {
            TIERS.iter().position(|&(frame_len, _)| frame_len >= len)
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

            /// Random steps against a model: which frames are out per tier, the counters, and
            /// the file's bytes; frames dropped on a second thread wake waiters here.
            #[test]
            fn pool_matches_its_model(steps in prop::collection::vec(step(), 1..40)) {
                let tmp = Scratch::new(&format!("{}_pool_model", stringify!($fixed)));
                let (to_other, inbox) = mpsc::channel::<FixedFrame>();
                let (done, dropped) = mpsc::channel::<()>();
                let other = std::thread::spawn(move || {
                    for frame in inbox {
                        drop(frame);
                        done.send(()).unwrap();
                    }
                });
                Runtime::new().unwrap().block_on(async {
                    let file = open_direct(&tmp.0).await.unwrap();
                    let mut disk = vec![0u8; REGIONS * BIG];
                    let zeroes = jdb_alloc::AlignedBuf::zeroed(disk.len()).unwrap();
                    let BufResult(n, _) = (&file).write_at(zeroes, 0).await;
                    assert_eq!(n.unwrap(), disk.len());
                    let pool = FixedPool::new(&TIERS).unwrap();
                    let registered = pool.status() == FixedStatus::Registered;
                    let mut held: Vec<FixedFrame> = Vec::new();
                    let (mut misses, mut waits, mut ops) = (0, 0, 0);
                    for (k, step) in steps.into_iter().enumerate() {
                        match step {
                            Step::Take(len) => match (pool.try_acquire(len), tier_of(len)) {
                                (Some(frame), Some(t)) => {
                                    assert_eq!((frame.len(), frame.cap()), (0, TIERS[t].0));
                                    held.push(frame);
                                }
                                (None, t) => {
                                    misses += 1;
                                    let out = held.iter().filter(|f| Some(f.cap()) == t.map(|t| TIERS[t].0)).count();
                                    assert!(t.is_none() || out == TIERS[t.unwrap()].1, "a free frame was missed");
                                }
                                (Some(_), None) => panic!("a frame for a length no tier holds"),
                            },
                            Step::Wait(len) => {
                                let Some(t) = tier_of(len) else {
                                    assert!(pool.acquire(len).await.is_err());
                                    continue;
                                };
                                let mut waiting = Box::pin(pool.acquire(len));
                                let mine = held.iter().position(|f| f.cap() == TIERS[t].0);
                                let out = held.iter().filter(|f| f.cap() == TIERS[t].0).count();
                                if out == TIERS[t].1 {
                                    // Empty tier: wait for one of ours dropped there.
                                    pends(&mut waiting).await;
                                    waits += 1;
                                    to_other.send(held.swap_remove(mine.unwrap())).unwrap();
                                }
                                let frame = waiting.await.unwrap();
                                if out == TIERS[t].1 {
                                    dropped.recv().unwrap();
                                }
                                assert_eq!((frame.len(), frame.cap()), (0, TIERS[t].0));
                                held.push(frame);
                            }
                            Step::Drop(i) if !held.is_empty() => {
                                let i = i % held.len();
                                drop(held.swap_remove(i));
                            }
                            Step::DropThere(i) if !held.is_empty() => {
                                let i = i % held.len();
                                to_other.send(held.swap_remove(i)).unwrap();
                                dropped.recv().unwrap();
                            }
                            Step::Write(i, r) if !held.is_empty() => {
                                let i = i % held.len();
                                let mut frame = held.swap_remove(i);
                                let data = pattern(frame.cap(), k as u8);
                                frame.clear();
                                frame.extend(&data).unwrap();
                                let BufResult(n, frame) = $fixed::write_fixed_at(&file, frame, (r * BIG) as u64).await;
                                assert_eq!(n.unwrap(), data.len());
                                disk[r * BIG..][..data.len()].copy_from_slice(&data);
                                ops += 1;
                                held.push(frame);
                            }
                            Step::Read(i, r) if !held.is_empty() => {
                                let i = i % held.len();
                                let mut frame = held.swap_remove(i);
                                frame.clear();
                                let BufResult(n, frame) = $fixed::read_fixed_at(&file, frame, (r * BIG) as u64).await;
                                assert_eq!(n.unwrap(), frame.cap());
                                assert_eq!(&frame[..], &disk[r * BIG..][..frame.cap()]);
                                ops += 1;
                                held.push(frame);
                            }
                            _ => {}
                        }
                        let stats = pool.stats();
                        assert_eq!((stats.misses, stats.waits), (misses, waits));
                        let fixed = if registered { ops } else { 0 };
                        assert_eq!((stats.fixed_ops, stats.plain_ops), (fixed, ops - fixed));
                        for (t, tier) in stats.tiers.iter().enumerate() {
                            let out = held.iter().filter(|f| f.cap() == TIERS[t].0).count();
                            assert_eq!(tier.in_use, out, "tier {t}");
                        }
                    }
                });
                drop(to_other);
                other.join().unwrap();
            }
        }
    };
}

#[cfg(feature = "compio-17")]
mod v17 {
    pool_cases!(compio, compio17);
}

#[cfg(feature = "compio-19")]
mod v19 {
    pool_cases!(compio_19, compio19);
}

#[cfg(feature = "compio-20")]
mod v20 {
    pool_cases!(compio_20, compio20);
}

/// A waker that owns a pool frame: dropping its last clone gives the frame back.
struct FrameWaker {
    _frame: jdb_alloc::fixed::FixedFrame,
}

impl std::task::Wake for FrameWaker {
    fn wake(self: std::sync::Arc<Self>) {}
}

/// A waiting `acquire` polled again with another waker drops the old one outside its locks:
/// here that drop gives the tier's only frame back, which goes to this very waiter. (The old
/// waker used to be dropped with the waiter's lock held, and the frame's return took the same
/// lock: a deadlock, caught here by the timeout.)
#[test]
fn a_waker_whose_drop_returns_a_frame_does_not_deadlock() {
    use std::{
        future::Future,
        sync::{Arc, mpsc},
        task::{Context, Waker},
        time::Duration,
    };

    use jdb_alloc::fixed::FixedPool;

    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let pool = FixedPool::new(&[(4096, 1)]).unwrap();
        let frame = pool.try_acquire(1).unwrap();
        let owner = Waker::from(Arc::new(FrameWaker { _frame: frame }));
        let mut acquire = Box::pin(pool.acquire(1));
        assert!(
            acquire
                .as_mut()
                .poll(&mut Context::from_waker(&owner))
                .is_pending()
        );
        drop(owner); // the waiter's clone now owns the frame
        let ready = acquire
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_ready();
        tx.send(ready).unwrap();
    });
    let ready = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("deadlocked: a waker dropped under the waiter's lock returned a frame");
    assert!(ready, "the frame came back to the waiting acquire");
}
