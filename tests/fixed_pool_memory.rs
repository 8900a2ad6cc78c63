//! What a registered pool costs and when that ends, from the kernel's side: `VmPin` (pinned
//! for registered buffers) and resident memory back to where they were once the pool and its
//! frames are gone, whatever the order and thread; and a pool whose registration the memlock
//! limit refuses, which does the same I/O, plain, and says so. Process-wide figures, so the
//! tests of this binary take turns (`TURN`), and none closes a ring that holds registrations
//! (the kernel unpins those in the background: tests/fixed_pool_runtime_drop.rs).
#![cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]

mod memlock;
mod proc_mem;
mod scratch;
mod turn;
mod vm_pin;

use turn::turn;

/// The cases, for the compio crate `$compio` and this crate's module `fixed::$fixed`.
macro_rules! memory_cases {
    ($compio:ident, $fixed:ident) => {
        use jdb_alloc::{
            MAP_THRESHOLD,
            fixed::{
                FixedFrame, FixedStatus,
                $fixed::{self, FixedPool},
            },
        };
        use $compio::{BufResult, runtime::Runtime};

        use crate::{
            memlock::with_memlock, proc_mem::resident_in, scratch::Scratch, turn, vm_pin::pinned,
        };

        crate::scratch::open_direct!($compio);

        const SMALL: usize = 64 << 10;
        const BIG: usize = 1 << 20;
        /// The big tier is an anonymous mapping of its own: freed, it is unmapped.
        const BIG_ARENA: usize = MAP_THRESHOLD;
        const TIERS: [(usize, usize); 2] = [(SMALL, 32), (BIG, BIG_ARENA / BIG)];

        /// Pinned and resident while the pool lives; nothing pinned and the big tier unmapped
        /// once the handles (first) and the frames (last, some on another thread, some just
        /// out of a fixed operation) are gone, the ring's thread having run again.
        #[test]
        fn pool_memory_goes_with_the_pool_and_its_frames() {
            let _turn = turn();
            let tmp = Scratch::new(&format!("{}_pool_memory", stringify!($fixed)));
            Runtime::new().unwrap().block_on(async {
                let file = open_direct(&tmp.0).await.unwrap();
                let before = pinned();
                let pool = FixedPool::new(&TIERS).unwrap();
                let stats = pool.stats();
                let registered: usize = stats
                    .tiers
                    .iter()
                    .filter(|t| t.status == FixedStatus::Registered)
                    .map(|t| t.frame_len * t.frames)
                    .sum();
                assert_eq!(pinned(), before + registered);
                let mut frames: Vec<FixedFrame> = Vec::new();
                while let Some(mut frame) = pool.try_acquire(BIG) {
                    frame.extend(&vec![0xab; BIG]).unwrap();
                    frames.push(frame);
                }
                let base = frames.iter().map(|f| f.as_ptr() as usize).min().unwrap();
                assert_eq!(resident_in(base, BIG_ARENA), BIG_ARENA);
                let small = pool.acquire(1).await.unwrap();
                let BufResult(n, small) = $fixed::read_fixed_at(&file, small, 0).await;
                assert_eq!(n.unwrap(), 0, "an empty file");
                let written = frames.pop().unwrap();
                let BufResult(n, written) = $fixed::write_fixed_at(&file, written, 0).await;
                assert_eq!(n.unwrap(), BIG);
                drop(pool);
                assert_eq!(pinned(), before + registered, "frames are out");
                let there: Vec<FixedFrame> = frames.drain(..frames.len() / 2).collect();
                std::thread::spawn(move || drop(there)).join().unwrap();
                drop((frames, written));
                std::thread::spawn(move || drop(small)).join().unwrap();
                // Back on the ring's thread: a fixed operation clears what other threads gave.
                let probe = $fixed::register(jdb_alloc::AlignedBuf::with_cap(4096).unwrap(), 4096)
                    .unwrap()
                    .next()
                    .unwrap();
                let BufResult(n, probe) = $fixed::read_fixed_at(&file, probe, 0).await;
                assert_eq!(n.unwrap(), 4096);
                drop(probe);
                assert_eq!(pinned(), before, "still pinned");
                assert_eq!(
                    resident_in(base, BIG_ARENA),
                    0,
                    "the big tier is not unmapped"
                );
            });
        }

        /// Over `RLIMIT_MEMLOCK` the pool is refused registration: it says why, its frames
        /// read and write the same data through plain I/O, and the counters show it.
        #[test]
        fn pool_refused_by_the_memlock_limit_does_plain_io() {
            let _turn = turn();
            let tmp = Scratch::new(&format!("{}_pool_memlock", stringify!($fixed)));
            let path = tmp.0.clone();
            // Room for the ring itself (which some kernels charge), not for either tier.
            with_memlock(2 << 20, move || {
                Runtime::new().unwrap().block_on(async {
                    let file = open_direct(&path).await.unwrap();
                    let pool = FixedPool::new(&[(SMALL, 64), (BIG, 4)]).unwrap();
                    assert_eq!(pool.status(), FixedStatus::Refused(libc::ENOMEM));
                    for (i, len) in [SMALL, BIG, SMALL].into_iter().enumerate() {
                        let mut frame = pool.acquire(len).await.unwrap();
                        assert_eq!($fixed::status(&frame), FixedStatus::Refused(libc::ENOMEM));
                        frame.extend(&vec![i as u8 + 1; len]).unwrap();
                        let pos = (i * BIG) as u64;
                        let BufResult(n, mut frame) =
                            $fixed::write_fixed_at(&file, frame, pos).await;
                        assert_eq!(n.unwrap(), len);
                        frame.clear();
                        let BufResult(n, frame) = $fixed::read_fixed_at(&file, frame, pos).await;
                        assert_eq!(n.unwrap(), len);
                        assert!(frame.iter().all(|&b| b == i as u8 + 1));
                    }
                    let stats = pool.stats();
                    assert_eq!((stats.fixed_ops, stats.plain_ops), (0, 6));
                    assert!(
                        stats
                            .tiers
                            .iter()
                            .all(|t| t.status == FixedStatus::Refused(libc::ENOMEM))
                    );
                });
            });
            drop(tmp);
        }
    };
}

#[cfg(feature = "compio-17")]
mod v17 {
    memory_cases!(compio, compio17);
}

#[cfg(feature = "compio-19")]
mod v19 {
    memory_cases!(compio_19, compio19);
}

#[cfg(feature = "compio-20")]
mod v20 {
    memory_cases!(compio_20, compio20);
}
