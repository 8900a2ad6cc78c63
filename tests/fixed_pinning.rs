//! What a registration costs and when it ends, seen from the kernel's side: the memory io_uring
//! pins for registered buffers is `VmPin` in `/proc/self/status`. Process-wide, so the tests of
//! this binary take turns (`TURN`). None of them closes a ring that still holds registrations:
//! the kernel unpins those in the background, whenever it gets to it, which would make the
//! figures of the next test move (tests/fixed_closed_ring.rs and tests/fixed_runtime_drop.rs
//! do that, each in a process of its own). The cases that depend on compio's version run for
//! compio 0.19 (`v19::`) and, with feature `compio-20`, 0.20 (`v20::`), from one macro.
#![cfg(all(target_os = "linux", feature = "compio-19"))]

mod memlock;
mod poll;
mod scratch;
mod turn;
mod vm_pin;

use std::task::Poll;

use compio_19::{BufResult, runtime::Runtime};
use jdb_alloc::{
    AlignedBuf, HugePages, PAGE_SIZE,
    fixed::{FixedFrame, FixedStatus, compio19},
};
use memlock::{MemlockLimit, can_lock, drop_ipc_lock};
use poll::start_and_drop;
use scratch::Scratch;
use turn::turn;
use vm_pin::pinned;

const CHUNK: usize = 64 * 1024;
/// 4 MiB: under the usual 8 MiB `RLIMIT_MEMLOCK`, so it registers without privileges too.
const ARENA: usize = 64 * CHUNK;

scratch::open_direct!(compio_19);

/// An arena over the kernel's 1 GiB per-buffer limit is registered as two entries; frames on
/// both sides of the boundary go out and come back fixed. Needs 1 GiB of lockable memory:
/// without it the refusal is what is checked.
#[test]
fn fixed_arena_larger_than_one_entry() {
    const BIG: usize = (1 << 30) + (2 << 20);
    const BIG_CHUNK: usize = 2 << 20;
    let _turn = turn();
    let tmp = Scratch::new("big");
    Runtime::new().unwrap().block_on(async {
        let file = open_direct(&tmp.0).await.unwrap();
        let before = pinned();
        let (arena, _) = AlignedBuf::zeroed_huge(BIG, HugePages::Try).unwrap();
        let mut frames: Vec<FixedFrame> = compio19::register(arena, BIG_CHUNK).unwrap().collect();
        let status = compio19::status(&frames[0]);
        if can_lock(BIG) {
            assert_eq!(status, FixedStatus::Registered);
            assert_eq!(pinned(), before + BIG);
        } else {
            skip("fixed_arena_larger_than_one_entry: two table entries (only the refusal checked)");
            assert_eq!(status, FixedStatus::Refused(libc::ENOMEM));
        }
        // The last frame of the first entry and the first (only) one of the second.
        let after = frames.pop().unwrap();
        let mut below = frames.pop().unwrap();
        below.copy_from_slice(&vec![0xb1; BIG_CHUNK]);
        let mut after = after;
        after.copy_from_slice(&vec![0xa7; BIG_CHUNK]);
        for (i, frame) in [below, after].into_iter().enumerate() {
            let BufResult(n, mut frame) =
                compio19::write_fixed_at(&file, frame, (i * BIG_CHUNK) as u64).await;
            assert_eq!(n.unwrap(), BIG_CHUNK);
            let want = frame[0];
            frame.fill(0);
            frame.clear();
            let BufResult(n, frame) =
                compio19::read_fixed_at(&file, frame, (i * BIG_CHUNK) as u64).await;
            assert_eq!(n.unwrap(), BIG_CHUNK);
            assert!(frame.iter().all(|&b| b == want), "frame {i}");
        }
        drop(frames);
        assert_eq!(pinned(), before);
    });
}

/// An arena of two table entries whose second the kernel will not pin (read-only memory, a
/// stand-in for running out of lockable memory halfway): the kernel takes the first entry and
/// stops. The registration must then be refused as a whole, the first entry undone, and every
/// frame fall back to plain I/O, rather than report `Registered` for frames whose slot holds
/// nothing (a fixed operation on those fails with `EFAULT`).
#[test]
fn fixed_partial_registration_is_refused_and_undone() {
    const BIG: usize = (1 << 30) + (2 << 20);
    const BIG_CHUNK: usize = 2 << 20;
    let _turn = turn();
    if !can_lock(BIG) {
        // The first entry alone is refused: no partial registration to provoke.
        skip("fixed_partial_registration_is_refused_and_undone");
        return;
    }
    let tmp = Scratch::new("partial");
    Runtime::new().unwrap().block_on(async {
        let file = open_direct(&tmp.0).await.unwrap();
        let before = pinned();
        let arena = AlignedBuf::zeroed(BIG).unwrap();
        let tail = arena.as_ptr().wrapping_add(1 << 30).cast_mut().cast();
        // SAFETY: the last 2 MiB of the arena's own mapping, not otherwise in use.
        let read_only = unsafe { libc::mprotect(tail, BIG_CHUNK, libc::PROT_READ) };
        assert_eq!(read_only, 0);
        let mut frames: Vec<FixedFrame> = compio19::register(arena, BIG_CHUNK).unwrap().collect();
        // SAFETY: as above, back to read-write.
        let writable =
            unsafe { libc::mprotect(tail, BIG_CHUNK, libc::PROT_READ | libc::PROT_WRITE) };
        assert_eq!(writable, 0);
        assert_eq!(
            compio19::status(&frames[0]),
            FixedStatus::Refused(libc::EFAULT)
        );
        assert_eq!(pinned(), before, "the entry the kernel took is not undone");
        let mut last = frames.pop().unwrap();
        last.fill(0x5e);
        let BufResult(n, _) = compio19::write_fixed_at(&file, last, 0).await;
        assert_eq!(n.unwrap(), BIG_CHUNK);
    });
}

/// A check this process cannot make (it may not lock enough memory: no `CAP_IPC_LOCK` and a
/// low `RLIMIT_MEMLOCK`): said on stderr, and a failure unless `JDB_ALLOC_ALLOW_SKIP=1`.
#[track_caller]
fn skip(what: &str) {
    let allowed = std::env::var_os("JDB_ALLOC_ALLOW_SKIP").is_some_and(|v| v == "1");
    assert!(
        allowed,
        "{what}: cannot lock 1 GiB (grant CAP_IPC_LOCK or raise `ulimit -l`), or set \
         JDB_ALLOC_ALLOW_SKIP=1 to skip this check"
    );
    eprintln!("SKIPPED (JDB_ALLOC_ALLOW_SKIP=1): {what}: cannot lock 1 GiB");
}

/// Over `RLIMIT_MEMLOCK` (without `CAP_IPC_LOCK`) the kernel refuses the registration: the
/// status says `ENOMEM`, and the frames still read and write, through plain I/O.
#[test]
fn fixed_registration_refused_by_the_memlock_limit_falls_back() {
    let _turn = turn();
    let tmp = Scratch::new("memlock");
    // A thread of its own: the capability is dropped for it alone (the limit is the process's,
    // and the other tests here wait for their turn).
    std::thread::spawn(move || {
        drop_ipc_lock();
        let _low = MemlockLimit::lower_to(ARENA / 2);
        Runtime::new().unwrap().block_on(async {
            let file = open_direct(&tmp.0).await.unwrap();
            let frames = compio19::register(AlignedBuf::zeroed(ARENA).unwrap(), CHUNK).unwrap();
            assert_eq!(frames.status(), FixedStatus::Refused(libc::ENOMEM));
            for (i, mut frame) in frames.take(4).enumerate() {
                frame.fill(i as u8 + 1);
                let BufResult(n, mut frame) =
                    compio19::write_fixed_at(&file, frame, (i * CHUNK) as u64).await;
                assert_eq!(n.unwrap(), CHUNK);
                frame.fill(0);
                frame.clear();
                let BufResult(n, frame) =
                    compio19::read_fixed_at(&file, frame, (i * CHUNK) as u64).await;
                assert_eq!(n.unwrap(), CHUNK);
                assert!(frame.iter().all(|&b| b == i as u8 + 1));
            }
        });
    })
    .join()
    .unwrap();
}

/// The cases that depend on the compio version: the compio crate `$compio` and this crate's
/// module `fixed::$fixed`.
macro_rules! version_cases {
    ($compio:ident, $fixed:ident) => {
        use jdb_alloc::{
            AlignedBuf, PAGE_SIZE,
            fixed::{FixedFrame, FixedStatus, $fixed},
        };
        use $compio::{BufResult, runtime::Runtime};

        use crate::{ARENA, CHUNK, scratch::Scratch, start_and_drop, turn, vm_pin::pinned};

        crate::scratch::open_direct!($compio);
        crate::scratch::open_read_direct!($compio);

        /// Pinned from registration until the last frame is gone, whatever the order;
        /// a frame dropped on another thread is unpinned by the ring's thread when its runtime
        /// next runs, here at the next operation.
        #[test]
        fn fixed_registration_is_pinned_until_the_last_frame_is_gone() {
            let _turn = turn();
            let tmp = Scratch::new(concat!("pin19_", stringify!($compio)));
            Runtime::new().unwrap().block_on(async {
                let file = open_direct(&tmp.0).await.unwrap();
                let before = pinned();
                let mut frames: Vec<FixedFrame> =
                    $fixed::register(AlignedBuf::zeroed(ARENA).unwrap(), CHUNK)
                        .unwrap()
                        .collect();
                assert_eq!($fixed::status(&frames[0]), FixedStatus::Registered);
                assert_eq!(pinned(), before + ARENA);
                let last = frames.swap_remove(17);
                frames.reverse();
                drop(frames);
                assert_eq!(pinned(), before + ARENA, "one frame is left");
                // The last frame goes on another thread: the slot is cleared from the ring's thread.
                std::thread::spawn(move || drop(last)).join().unwrap();
                assert_eq!(
                    pinned(),
                    before + ARENA,
                    "not yet back on the ring's thread"
                );
                let other = $fixed::register(AlignedBuf::zeroed(CHUNK).unwrap(), CHUNK)
                    .unwrap()
                    .next()
                    .unwrap();
                let BufResult(n, other) = $fixed::write_fixed_at(&file, other, 0).await;
                assert_eq!(n.unwrap(), CHUNK);
                assert_eq!(pinned(), before + CHUNK, "the first arena is unpinned");
                drop(other);
                assert_eq!(pinned(), before);
            });
        }

        /// A read whose future was dropped keeps its frame, so the arena stays registered, until the
        /// kernel completes it; then the registration goes.
        #[test]
        fn fixed_dropped_in_flight_read_keeps_the_registration_until_it_completes() {
            let _turn = turn();
            let tmp = Scratch::new(concat!("in_flight_", stringify!($compio)));
            std::fs::write(&tmp.0, vec![5u8; ARENA]).unwrap();
            Runtime::new().unwrap().block_on(async {
                let file = open_read_direct(&tmp.0).await;
                let before = pinned();
                let mut frames =
                    $fixed::register(AlignedBuf::with_cap(ARENA).unwrap(), ARENA).unwrap();
                let frame = frames.next().unwrap();
                drop(frames);
                start_and_drop($fixed::read_fixed_at(&file, frame, 0)).await;
                assert_eq!(pinned(), before + ARENA, "the operation holds the frame");
                // Run other reads until the runtime has reaped the dropped one's completion.
                let mut probe = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
                let mut reads = 0;
                while pinned() != before {
                    reads += 1;
                    assert!(reads < 10_000, "the dropped read never completed");
                    let BufResult(n, back) =
                        $compio::io::AsyncReadAt::read_at(&file, probe, 0).await;
                    assert_eq!(n.unwrap(), PAGE_SIZE);
                    probe = back;
                }
            });
        }

        /// A ring set up with `IORING_SETUP_SINGLE_ISSUER` accepts registration calls from its own
        /// thread only: registering, fixed I/O, and releasing a frame dropped on another thread (the
        /// ring's thread clears its slots later) all keep to that.
        #[test]
        fn fixed_registration_on_a_single_issuer_ring() {
            let _turn = turn();
            let tmp = Scratch::new(concat!("single_issuer_", stringify!($compio)));
            let mut proactor = $compio::driver::ProactorBuilder::new();
            proactor.single_issuer(true);
            let rt = $compio::runtime::RuntimeBuilder::new()
                .with_proactor(proactor)
                .build()
                .unwrap();
            rt.block_on(async {
                let file = open_direct(&tmp.0).await.unwrap();
                let before = pinned();
                let mut frames: Vec<FixedFrame> =
                    $fixed::register(AlignedBuf::zeroed(ARENA).unwrap(), CHUNK)
                        .unwrap()
                        .collect();
                assert_eq!($fixed::status(&frames[0]), FixedStatus::Registered);
                assert_eq!(pinned(), before + ARENA);
                let frame = frames.pop().unwrap();
                let BufResult(n, frame) = $fixed::write_fixed_at(&file, frame, 0).await;
                assert_eq!(n.unwrap(), CHUNK);
                let BufResult(n, frame) = $fixed::read_fixed_at(&file, frame, 0).await;
                assert_eq!(n.unwrap(), CHUNK);
                drop(frames);
                std::thread::spawn(move || drop(frame)).join().unwrap();
                assert_eq!(
                    pinned(),
                    before + ARENA,
                    "released off the ring's thread: deferred"
                );
                let other = $fixed::register(AlignedBuf::zeroed(CHUNK).unwrap(), CHUNK).unwrap();
                assert_eq!(other.status(), FixedStatus::Registered);
                assert_eq!(pinned(), before + CHUNK, "cleared by the ring's thread");
            });
        }
    };
}

mod v19 {
    version_cases!(compio_19, compio19);
}

#[cfg(feature = "compio-20")]
mod v20 {
    version_cases!(compio_20, compio20);
}

/// Frames dropped on another thread are unpinned as soon as the ring's runtime next runs, with
/// no fixed operation and no registration on it: `$compio`'s runtime then runs only a plain
/// write, or only idles in `block_on` (blocked in the kernel, with nothing to do) while the
/// frames are dropped.
macro_rules! unpinned_while_only_plain_io_runs {
    ($name:ident, $compio:ident, $fixed:ident) => {
        #[test]
        fn $name() {
            use jdb_alloc::fixed::$fixed;
            use $compio::{io::AsyncWriteAt, runtime::Runtime};

            /// Runs `rt` in a `block_on` that has nothing to do: on its first poll it hands its
            /// waker to a thread that drops `frames` and then wakes it; woken, it yields to the
            /// runtime (a bounded number of times) until `VmPin` is back to `before`. Whether it
            /// got there.
            fn idle_while_dropped_elsewhere(
                rt: &$compio::runtime::Runtime,
                frames: Vec<FixedFrame>,
                before: usize,
            ) -> bool {
                let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
                let dropper = std::thread::spawn(move || {
                    let waker = rx.recv().unwrap();
                    drop(frames);
                    waker.wake();
                });
                let mut tx = Some(tx);
                let mut yields = 0;
                let unpinned = rt.block_on(std::future::poll_fn(|cx| {
                    if let Some(tx) = tx.take() {
                        tx.send(cx.waker().clone()).unwrap();
                        return Poll::Pending;
                    }
                    if pinned() == before {
                        return Poll::Ready(true);
                    }
                    yields += 1;
                    if yields > 100_000 {
                        return Poll::Ready(false);
                    }
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }));
                dropper.join().unwrap();
                unpinned
            }

            let _turn = turn();
            let tmp = Scratch::new(stringify!($name));
            let rt = Runtime::new().unwrap();
            let before = pinned();
            for idle in [true, false] {
                let frames: Vec<FixedFrame> = rt.block_on(async {
                    $fixed::register(AlignedBuf::zeroed(ARENA).unwrap(), CHUNK)
                        .unwrap()
                        .collect()
                });
                assert_eq!(frames[0].status(), FixedStatus::Registered);
                assert_eq!(pinned(), before + ARENA);
                if idle {
                    assert!(
                        idle_while_dropped_elsewhere(&rt, frames, before),
                        "still pinned while the runtime idled in block_on"
                    );
                    continue;
                }
                std::thread::spawn(move || drop(frames)).join().unwrap();
                assert_eq!(
                    pinned(),
                    before + ARENA,
                    "the ring's runtime has not run yet"
                );
                rt.block_on(async {
                    {
                        let mut file = $compio::fs::OpenOptions::new()
                            .write(true)
                            .create(true)
                            .truncate(true)
                            .custom_flags(libc::O_DIRECT)
                            .open(&tmp.0)
                            .await
                            .unwrap();
                        let page = AlignedBuf::zeroed(PAGE_SIZE).unwrap();
                        let $compio::BufResult(n, _) = file.write_at(page, 0).await;
                        assert_eq!(n.unwrap(), PAGE_SIZE);
                    }
                });
                assert_eq!(pinned(), before, "still pinned after the runtime ran");
            }
        }
    };
}

unpinned_while_only_plain_io_runs!(
    fixed_frames_dropped_elsewhere_unpin_under_plain_io_19,
    compio_19,
    compio19
);
#[cfg(feature = "compio-17")]
unpinned_while_only_plain_io_runs!(
    fixed_frames_dropped_elsewhere_unpin_under_plain_io_17,
    compio,
    compio17
);
#[cfg(feature = "compio-20")]
unpinned_while_only_plain_io_runs!(
    fixed_frames_dropped_elsewhere_unpin_under_plain_io_20,
    compio_20,
    compio20
);
