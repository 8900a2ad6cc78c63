//! Recycling of freed blocks (`jdb_alloc::recycle`).
//!
//! These tests change the process-wide limits and read process-wide resident memory, so they
//! live in a binary of their own and take [`serial`] first: no other test runs beside them.

#[cfg(target_os = "linux")]
mod proc_mem;

use std::{
    sync::{Mutex, MutexGuard, PoisonError, mpsc},
    thread,
    time::Duration,
};

use jdb_alloc::{
    ALIGNMENT, AlignedBuf, Frame, HugePageStatus, HugePages, MAP_THRESHOLD, PAGE_SIZE,
    recycle::{self, Limits},
};
use proptest::prelude::*;

const MIB: usize = 1 << 20;

/// One test at a time in this binary, each starting from the default limits and nothing kept.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    recycle::set_limits(Limits::DEFAULT);
    recycle::set_decay(DEFAULT_DECAY);
    recycle::trim();
    guard
}

/// The decay period the tests run with: the default, unless the environment set another.
const DEFAULT_DECAY: Duration = Duration::from_secs(10);

/// Every size class boundary (in bytes: 1 to 4 pages, then 5, 6, 7, 8 × 2^k pages up to
/// `MAP_THRESHOLD`), and one byte and one page on each side of it, and of `MAP_THRESHOLD`.
fn straddling_sizes() -> Vec<usize> {
    let mut classes: Vec<usize> = (1..=4).collect();
    let mut step = 1;
    while *classes.last().unwrap() < MAP_THRESHOLD / PAGE_SIZE {
        for m in 5..=8 {
            classes.push(m * step);
        }
        step *= 2;
    }
    assert_eq!(*classes.last().unwrap() * PAGE_SIZE, MAP_THRESHOLD);
    let mut sizes = vec![1];
    for pages in classes {
        let b = pages * PAGE_SIZE;
        sizes.extend([b - PAGE_SIZE, b - 1, b, b + 1, b + PAGE_SIZE]);
    }
    sizes.retain(|&s| s > 0 && s <= MAP_THRESHOLD + PAGE_SIZE);
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

/// Whether `bytes` all hold `tag`, checked at the first and last byte of every page and a byte
/// in between (a full scan of every live buffer after every step would dominate the run time,
/// under AddressSanitizer most of all).
fn holds(bytes: &[u8], tag: u8) -> bool {
    bytes
        .chunks(PAGE_SIZE)
        .all(|p| p[0] == tag && p[p.len() / 2] == tag && p[p.len() - 1] == tag)
}

// ============================================================================
// Property test: random allocate / clone / free / split across threads
// ============================================================================

#[derive(Clone, Debug)]
enum Op {
    /// `with_cap` or `zeroed` of the size at this index of the straddling sizes; filled with a
    /// tag byte.
    Alloc { size: usize, zeroed: bool },
    /// `page()`.
    Page,
    /// `try_clone` or `Clone` of a live buffer.
    Clone { at: usize, fallible: bool },
    /// Drop a live buffer here.
    Free { at: usize },
    /// Send a live buffer to a worker thread, which checks and drops it.
    FreeElsewhere { at: usize },
    /// Have a worker thread allocate a buffer (from its own cache) and send it back.
    AllocElsewhere { size: usize },
    /// Split a live buffer into frames of one or two pages, send half of them to a worker to
    /// drop, keep the rest.
    Split { at: usize, pages: usize },
    /// Drop a live frame.
    FreeFrame { at: usize },
    /// Round-trip a live buffer through `into_raw_parts` / `from_raw_parts`.
    RawParts { at: usize },
    /// Change the limits (small ones force the overflow and shared paths).
    Limits { per_thread: usize, shared: usize },
    /// Set the decay period to zero (every kept large block goes back at the next operation)
    /// or to the default.
    Decay { zero: bool },
    /// Give everything kept back.
    Trim,
}

fn op(sizes: usize) -> impl Strategy<Value = Op> {
    let at = any::<usize>();
    prop_oneof![
        6 => (0..sizes, any::<bool>()).prop_map(|(size, zeroed)| Op::Alloc { size, zeroed }),
        1 => Just(Op::Page),
        2 => (at, any::<bool>()).prop_map(|(at, fallible)| Op::Clone { at, fallible }),
        4 => at.prop_map(|at| Op::Free { at }),
        3 => at.prop_map(|at| Op::FreeElsewhere { at }),
        2 => (0..sizes).prop_map(|size| Op::AllocElsewhere { size }),
        2 => (at, 1usize..=2).prop_map(|(at, pages)| Op::Split { at, pages }),
        2 => at.prop_map(|at| Op::FreeFrame { at }),
        1 => at.prop_map(|at| Op::RawParts { at }),
        1 => (0usize..=3, 0usize..=3).prop_map(|(p, s)| Op::Limits {
            per_thread: [0, 64 << 10, 4 * MIB, 32 * MIB][p],
            shared: [0, 64 << 10, 4 * MIB, 32 * MIB][s],
        }),
        1 => any::<bool>().prop_map(|zero| Op::Decay { zero }),
        1 => Just(Op::Trim),
    ]
}

/// A buffer and the byte all of its `len` bytes hold.
struct Live {
    buf: AlignedBuf,
    tag: u8,
}

/// A frame and the byte all of its `len` bytes hold.
struct LiveFrame {
    frame: Frame,
    tag: u8,
}

enum Job {
    Drop(AlignedBuf, u8),
    DropFrames(Vec<Frame>, u8),
    Alloc(usize, u8, mpsc::Sender<AlignedBuf>),
}

/// A thread that runs jobs: checks and drops what it is sent, allocates what it is asked for.
fn worker() -> (mpsc::Sender<Job>, thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<Job>();
    let handle = thread::spawn(move || {
        for job in rx {
            match job {
                Job::Drop(buf, tag) => {
                    assert!(holds(&buf, tag), "buffer changed in transit");
                }
                Job::DropFrames(frames, tag) => {
                    for f in &frames {
                        assert!(holds(f, tag), "frame changed in transit");
                    }
                }
                Job::Alloc(size, tag, back) => {
                    let mut buf = AlignedBuf::zeroed(size).unwrap();
                    assert!(buf.iter().all(|&b| b == 0), "zeroed({size}) elsewhere");
                    buf.fill(tag);
                    back.send(buf).unwrap();
                }
            }
        }
    });
    (tx, handle)
}

/// Checks every live buffer and frame: alignment, capacity, contents, and that no two overlap.
fn check(live: &[Live], frames: &[LiveFrame]) {
    let mut ranges = Vec::new();
    for l in live {
        let p = l.buf.as_ptr() as usize;
        assert_eq!(p % ALIGNMENT, 0);
        assert!(l.buf.cap() >= PAGE_SIZE && l.buf.cap() % PAGE_SIZE == 0);
        assert!(holds(&l.buf, l.tag), "buffer contents changed");
        ranges.push((p, l.buf.cap()));
    }
    for f in frames {
        let p = f.frame.as_ptr() as usize;
        assert_eq!(p % ALIGNMENT, 0);
        assert!(holds(&f.frame, f.tag), "frame contents changed");
        ranges.push((p, f.frame.cap()));
    }
    ranges.sort_unstable();
    for w in ranges.windows(2) {
        assert!(w[0].0 + w[0].1 <= w[1].0, "live blocks overlap: {w:?}");
    }
}

fn run(ops: Vec<Op>) {
    let sizes = straddling_sizes();
    let workers: Vec<_> = (0..2).map(|_| worker()).collect();
    let mut live: Vec<Live> = Vec::new();
    let mut frames: Vec<LiveFrame> = Vec::new();
    let mut next_tag = 1u8;
    let mut tag = || {
        next_tag = next_tag.wrapping_add(1).max(1);
        next_tag
    };
    for (step, op) in ops.into_iter().enumerate() {
        let worker = &workers[step % workers.len()].0;
        match op {
            Op::Alloc { size, zeroed } => {
                let n = sizes[size];
                let mut buf = if zeroed {
                    let buf = AlignedBuf::zeroed(n).unwrap();
                    assert_eq!(buf.len(), n);
                    assert!(buf.iter().all(|&b| b == 0), "zeroed({n}) is not zero");
                    buf
                } else {
                    let buf = AlignedBuf::with_cap(n).unwrap();
                    assert_eq!(buf.len(), 0);
                    buf
                };
                assert_eq!(buf.cap(), n.max(1).next_multiple_of(PAGE_SIZE));
                let t = tag();
                if zeroed {
                    buf.fill(t);
                } else {
                    buf.extend(&vec![t; n]).unwrap();
                }
                live.push(Live { buf, tag: t });
            }
            Op::Page => {
                let mut buf = AlignedBuf::page().unwrap();
                assert!(buf.iter().all(|&b| b == 0), "page() is not zero");
                assert_eq!((buf.len(), buf.cap()), (PAGE_SIZE, PAGE_SIZE));
                let t = tag();
                buf.fill(t);
                live.push(Live { buf, tag: t });
            }
            Op::Clone { at, fallible } if !live.is_empty() => {
                let src = &live[at % live.len()];
                let buf = if fallible {
                    src.buf.try_clone().unwrap()
                } else {
                    src.buf.clone()
                };
                assert_eq!((buf.len(), buf.cap()), (src.buf.len(), src.buf.cap()));
                let t = src.tag;
                live.push(Live { buf, tag: t });
            }
            Op::Free { at } if !live.is_empty() => {
                live.swap_remove(at % live.len());
            }
            Op::FreeElsewhere { at } if !live.is_empty() => {
                let l = live.swap_remove(at % live.len());
                worker.send(Job::Drop(l.buf, l.tag)).unwrap();
            }
            Op::AllocElsewhere { size } => {
                let (back, from) = mpsc::channel();
                let t = tag();
                worker.send(Job::Alloc(sizes[size], t, back)).unwrap();
                live.push(Live {
                    buf: from.recv().unwrap(),
                    tag: t,
                });
            }
            Op::Split { at, pages } if !live.is_empty() => {
                let l = live.swap_remove(at % live.len());
                let chunk = pages * PAGE_SIZE;
                let mut all: Vec<Frame> = l.buf.into_frames(chunk).unwrap().collect();
                // Frames carry the arena's initialised bytes: all the tag.
                let away = all.split_off(all.len() / 2);
                worker.send(Job::DropFrames(away, l.tag)).unwrap();
                frames.extend(all.into_iter().map(|frame| LiveFrame { frame, tag: l.tag }));
            }
            Op::FreeFrame { at } if !frames.is_empty() => {
                frames.swap_remove(at % frames.len());
            }
            Op::RawParts { at } if !live.is_empty() => {
                let i = at % live.len();
                let l = live.swap_remove(i);
                let (ptr, len, cap) = l.buf.into_raw_parts();
                // SAFETY: exactly the parts `into_raw_parts` just returned, rebuilt once.
                let buf = unsafe { AlignedBuf::from_raw_parts(ptr, len, cap) };
                live.push(Live { buf, tag: l.tag });
            }
            Op::Limits { per_thread, shared } => {
                recycle::set_limits(Limits { per_thread, shared });
                let s = recycle::stats();
                assert!(s.kept <= per_thread && s.shared_kept <= shared, "{s:?}");
            }
            Op::Decay { zero } => {
                recycle::set_decay(if zero { Duration::ZERO } else { DEFAULT_DECAY });
            }
            Op::Trim => {
                recycle::trim();
                let s = recycle::stats();
                assert_eq!((s.kept, s.shared_kept), (0, 0), "{s:?}");
            }
            _ => {}
        }
        check(&live, &frames);
        let s = recycle::stats();
        assert!(s.kept <= s.limits.per_thread, "{s:?}");
        assert!(s.shared_kept <= s.limits.shared, "{s:?}");
        assert!(s.kept <= 2 * s.working_set + recycle::SMALL_KEPT, "{s:?}");
    }
    drop(live);
    drop(frames);
    for (tx, handle) in workers {
        drop(tx);
        handle.join().unwrap();
    }
    recycle::set_limits(Limits::DEFAULT);
    recycle::set_decay(DEFAULT_DECAY);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_use_across_threads_keeps_buffers_apart_and_intact(
        ops in proptest::collection::vec(op(straddling_sizes().len()), 1..40)
    ) {
        let _serial = serial();
        run(ops);
    }
}

// ============================================================================
// Reuse, zeroing, limits
// ============================================================================

#[test]
fn a_freed_block_is_reused_and_zeroed_only_where_it_must_be() {
    let _serial = serial();
    for n in [1, PAGE_SIZE, 5 * PAGE_SIZE + 7, 256 << 10, MIB, 16 * MIB] {
        let mut dirty = AlignedBuf::with_cap(n).unwrap();
        dirty.extend(&vec![0xAB; dirty.cap()]).unwrap();
        let addr = dirty.as_ptr();
        drop(dirty);
        let before = recycle::stats();
        let buf = AlignedBuf::zeroed(n).unwrap();
        assert_eq!(
            buf.as_ptr(),
            addr,
            "zeroed({n}) did not reuse the block just freed"
        );
        assert_eq!(
            recycle::stats().hits,
            before.hits + 1,
            "{n}: {before:?} {:?}",
            recycle::stats()
        );
        assert_eq!(
            (buf.len(), buf.cap()),
            (n, n.max(1).next_multiple_of(PAGE_SIZE))
        );
        assert!(
            buf.iter().all(|&b| b == 0),
            "zeroed({n}) from a recycled block"
        );
        // The rest of the last page reads as zero too: `RawIoBuf`'s contract lets views of a
        // zeroed arena claim its whole capacity.
        // SAFETY: `[0, cap)` of the live buffer is allocated; `zeroed` writes all of it (which
        // is what this checks), so every byte read is initialised.
        let whole = unsafe { std::slice::from_raw_parts(buf.as_ptr(), buf.cap()) };
        assert!(
            whole.iter().all(|&b| b == 0),
            "zeroed({n}): capacity not zero"
        );
    }
    let mut dirty = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
    dirty.extend(&[0xCD; PAGE_SIZE]).unwrap();
    let addr = dirty.as_ptr();
    drop(dirty);
    let page = AlignedBuf::page().unwrap();
    assert_eq!(page.as_ptr(), addr);
    assert!(page.iter().all(|&b| b == 0));
}

#[test]
fn capacities_keep_their_meaning_across_classes() {
    let _serial = serial();
    for n in straddling_sizes() {
        for _ in 0..2 {
            // The second round takes the block the first one freed.
            let buf = AlignedBuf::with_cap(n).unwrap();
            assert_eq!(
                buf.cap(),
                n.max(1).next_multiple_of(PAGE_SIZE),
                "with_cap({n})"
            );
            let (ptr, len, cap) = buf.into_raw_parts();
            // SAFETY: the parts just returned, rebuilt once.
            drop(unsafe { AlignedBuf::from_raw_parts(ptr, len, cap) });
        }
    }
}

#[test]
fn a_burst_is_kept_within_the_working_set_and_goes_back_once_unused_for_the_decay_period() {
    let _serial = serial();
    thread::spawn(|| {
        let burst: Vec<AlignedBuf> = (0..64)
            .map(|_| {
                let mut b = AlignedBuf::with_cap(MIB).unwrap();
                b.extend(&[1; MIB]).unwrap();
                b
            })
            .collect();
        let live = recycle::stats();
        assert_eq!(
            (live.live, live.working_set),
            (64 * MIB, 64 * MIB),
            "{live:?}"
        );
        drop(burst);
        let s = recycle::stats();
        assert_eq!(s.live, 0, "{s:?}");
        // The working set was 64 MiB: all of it is kept, for the next burst.
        assert_eq!(s.kept, 64 * MIB, "{s:?}");
        assert!(s.kept <= s.working_set, "{s:?}");
        // Once the decay period has passed (here: none), the next operation gives it all back.
        recycle::set_decay(Duration::ZERO);
        let small = AlignedBuf::with_cap(MIB).unwrap();
        let after = recycle::stats();
        assert_eq!(after.kept, 0, "{after:?}");
        assert!(after.purged >= s.purged + 63 * MIB as u64, "{after:?}");
        drop(small);
    })
    .join()
    .unwrap();
}

#[test]
fn a_burst_keeps_no_more_than_the_limit() {
    let _serial = serial();
    let limits = Limits {
        per_thread: 8 * MIB,
        shared: 32 * MIB,
    };
    recycle::set_limits(limits);
    let burst: Vec<AlignedBuf> = (0..64)
        .map(|_| {
            let mut b = AlignedBuf::with_cap(MIB).unwrap();
            b.extend(&[1; MIB]).unwrap();
            b
        })
        .collect();
    drop(burst);
    let s = recycle::stats();
    assert!(s.kept <= limits.per_thread, "{s:?}");
    assert!(s.kept > 0, "nothing kept at all: {s:?}");
}

/// A large block freed on another thread goes back to the heap of the thread that allocated
/// it, not to the freeing thread's, and without a lock: through its heap's inbox.
#[test]
fn large_blocks_freed_on_another_thread_come_back_to_their_owner() {
    let _serial = serial();
    let bufs: Vec<AlignedBuf> = (0..4).map(|_| AlignedBuf::with_cap(MIB).unwrap()).collect();
    let frames: Vec<Frame> = AlignedBuf::with_cap(2 * MIB)
        .unwrap()
        .into_frames(MIB)
        .unwrap()
        .collect();
    let mut addrs: Vec<_> = bufs.iter().map(|b| b.as_ptr() as usize).collect();
    let before = recycle::stats();
    thread::spawn(move || {
        // The freeing thread allocates too, so it has a heap of its own.
        drop(AlignedBuf::with_cap(MIB).unwrap());
        let own = recycle::stats().kept;
        drop(bufs);
        drop(frames);
        assert_eq!(recycle::stats().kept, own, "the freeing thread kept them");
    })
    .join()
    .unwrap();
    let again: Vec<AlignedBuf> = (0..4).map(|_| AlignedBuf::with_cap(MIB).unwrap()).collect();
    let s = recycle::stats();
    assert_eq!(s.remote_frees, before.remote_frees + 5, "{s:?}");
    assert_eq!(s.hits, before.hits + 4, "{s:?}");
    let mut got: Vec<_> = again.iter().map(|b| b.as_ptr() as usize).collect();
    got.sort_unstable();
    addrs.sort_unstable();
    assert_eq!(got, addrs);
    let arena = AlignedBuf::with_cap(2 * MIB).unwrap();
    assert_eq!(
        recycle::stats().hits,
        s.hits + 1,
        "the frames' arena came back too"
    );
    drop(arena);
}

#[test]
fn small_blocks_freed_on_another_thread_come_back_through_the_shared_tier() {
    let _serial = serial();
    const N: usize = 64 << 10;
    // The freeing thread may keep 4 blocks itself (half its limit is for small blocks): the
    // rest overflows to the shared tier.
    recycle::set_limits(Limits {
        per_thread: 8 * N,
        shared: 8 * N,
    });
    let bufs: Vec<AlignedBuf> = (0..4).map(|_| AlignedBuf::with_cap(N).unwrap()).collect();
    let addrs: Vec<_> = bufs.iter().map(|b| b.as_ptr() as usize).collect();
    thread::spawn(move || {
        // Fill this thread's own cache first, so the buffers overflow.
        let own: Vec<AlignedBuf> = (0..4).map(|_| AlignedBuf::with_cap(N).unwrap()).collect();
        drop(own);
        assert_eq!(recycle::stats().kept, 4 * N);
        drop(bufs);
        assert_eq!(recycle::stats().kept, 4 * N);
    })
    .join()
    .unwrap();
    assert_eq!(recycle::stats().shared_kept, 4 * N);
    let before = recycle::stats();
    let again: Vec<AlignedBuf> = (0..4).map(|_| AlignedBuf::with_cap(N).unwrap()).collect();
    // The first allocation takes the whole stack, and keeps the rest in this thread's cache.
    let s = recycle::stats();
    assert_eq!(s.shared_hits, before.shared_hits + 1);
    assert_eq!(s.hits, before.hits + 3);
    let mut got: Vec<_> = again.iter().map(|b| b.as_ptr() as usize).collect();
    let mut want = addrs;
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want);
    assert_eq!(recycle::stats().shared_kept, 0);
}

/// A thread that has never allocated (an I/O thread dropping buffers made elsewhere) keeps
/// no small block itself: what it frees goes to the shared tier, where the allocating thread
/// finds it, instead of waiting in the freeing thread's cache until it exits.
#[test]
fn a_thread_that_only_frees_hands_its_small_blocks_to_the_shared_tier() {
    let _serial = serial();
    const N: usize = 64 << 10;
    let frames: Vec<Frame> = AlignedBuf::with_cap(N)
        .unwrap()
        .into_frames(N / 2)
        .unwrap()
        .collect();
    let bufs: Vec<AlignedBuf> = (0..3).map(|_| AlignedBuf::with_cap(N).unwrap()).collect();
    thread::spawn(move || {
        drop(frames);
        drop(bufs);
        assert_eq!(recycle::stats().kept, 0);
    })
    .join()
    .unwrap();
    assert_eq!(recycle::stats().shared_kept, 4 * N);
    let before = recycle::stats();
    let again: Vec<AlignedBuf> = (0..4).map(|_| AlignedBuf::with_cap(N).unwrap()).collect();
    let s = recycle::stats();
    assert_eq!(
        (s.shared_hits, s.hits),
        (before.shared_hits + 1, before.hits + 3)
    );
    drop(again);
}

/// A thread that keeps large blocks and then does nothing gives them back all the same once
/// they have been unused for the decay period, when another thread allocates.
#[test]
fn an_idle_threads_blocks_go_back_when_another_thread_allocates() {
    let _serial = serial();
    let (report, reports) = mpsc::channel::<recycle::Stats>();
    let (go, wait) = mpsc::channel::<()>();
    let idle = thread::spawn(move || {
        churn(8, MIB);
        report.send(recycle::stats()).unwrap();
        // Idle: no allocation, no release, until told.
        wait.recv().unwrap();
        report.send(recycle::stats()).unwrap();
    });
    let kept = reports.recv().unwrap();
    assert_eq!(kept.kept, 8 * MIB, "{kept:?}");
    recycle::set_decay(Duration::ZERO);
    // Any allocation of another thread looks at the idle thread's heap.
    drop(AlignedBuf::with_cap(MIB).unwrap());
    go.send(()).unwrap();
    let after = reports.recv().unwrap();
    assert_eq!(after.kept, 0, "{after:?}");
    assert_eq!(after.purged, kept.purged + 8 * MIB as u64, "{after:?}");
    idle.join().unwrap();
}

/// A thread that allocates only small buffers still lets the large heaps give back what they
/// kept: the scenario (a load of large buffers, then only small ones).
#[test]
fn small_allocations_alone_let_large_blocks_go_back() {
    let _serial = serial();
    thread::spawn(|| {
        churn(8, MIB);
        assert_eq!(recycle::stats().kept, 8 * MIB);
        recycle::set_decay(Duration::ZERO);
        for _ in 0..1024 {
            drop(AlignedBuf::with_cap(PAGE_SIZE).unwrap());
        }
        let s = recycle::stats();
        assert!(s.kept <= PAGE_SIZE, "{s:?}");
    })
    .join()
    .unwrap();
}

/// The decay period in real time: with a period of 50 ms, blocks freed are kept at first and
/// gone once the period has passed, while the thread goes on allocating small buffers. (Polls
/// for the condition, with a deadline far beyond the period.)
#[test]
fn kept_blocks_go_back_after_a_real_decay_period() {
    let _serial = serial();
    thread::spawn(|| {
        recycle::set_decay(Duration::from_millis(50));
        let start = std::time::Instant::now();
        churn(8, MIB);
        let kept = recycle::stats();
        assert!(
            kept.kept == 8 * MIB || start.elapsed() >= Duration::from_millis(50),
            "{kept:?}"
        );
        let deadline = start + Duration::from_secs(10);
        while recycle::stats().kept > PAGE_SIZE {
            assert!(
                std::time::Instant::now() < deadline,
                "still kept after 10 s: {:?}",
                recycle::stats()
            );
            drop(AlignedBuf::with_cap(PAGE_SIZE).unwrap());
        }
        assert!(
            start.elapsed() >= Duration::from_millis(40),
            "gone before the period"
        );
        assert!(recycle::stats().purged >= kept.purged + 8 * MIB as u64);
    })
    .join()
    .unwrap();
}

/// `trim` from one thread empties the heaps of the others, idle or not.
#[test]
fn trim_from_any_thread_empties_every_heap() {
    let _serial = serial();
    let (report, reports) = mpsc::channel::<usize>();
    let (go, wait) = mpsc::channel::<()>();
    let other = thread::spawn(move || {
        churn(4, MIB);
        report.send(recycle::stats().kept).unwrap();
        wait.recv().unwrap();
        report.send(recycle::stats().kept).unwrap();
    });
    assert_eq!(reports.recv().unwrap(), 4 * MIB);
    recycle::trim();
    go.send(()).unwrap();
    assert_eq!(reports.recv().unwrap(), 0);
    other.join().unwrap();
}

/// With the default decay period a block freed a moment ago is kept: the decay test above is
/// not passing for nothing.
#[test]
fn kept_blocks_stay_while_the_decay_period_runs() {
    let _serial = serial();
    thread::spawn(|| {
        churn(8, MIB);
        for _ in 0..1024 {
            drop(AlignedBuf::with_cap(PAGE_SIZE).unwrap());
        }
        drop(AlignedBuf::with_cap(MIB).unwrap());
        let s = recycle::stats();
        assert_eq!(s.kept, 8 * MIB + PAGE_SIZE, "{s:?}");
        assert_eq!(s.purged, 0, "{s:?}");
    })
    .join()
    .unwrap();
}

/// A kept large block serves a capacity up to two times smaller than its own, zeroed where
/// asked, and its mapping goes back whole (the header, not the capacity, knows its size).
#[test]
fn a_large_block_serves_a_smaller_capacity() {
    let _serial = serial();
    thread::spawn(|| {
        let mut dirty = AlignedBuf::with_cap(2 * MIB).unwrap();
        dirty.extend(&vec![0xEE; 2 * MIB]).unwrap();
        let addr = dirty.as_ptr();
        drop(dirty);
        let n = MIB + MIB / 2;
        let buf = AlignedBuf::zeroed(n).unwrap();
        assert_eq!(buf.as_ptr(), addr, "the 2 MiB block was not reused");
        assert_eq!(buf.cap(), n);
        // SAFETY: `[0, cap)` is allocated and `zeroed` wrote all of it (what this checks).
        let whole = unsafe { std::slice::from_raw_parts(buf.as_ptr(), buf.cap()) };
        assert!(whole.iter().all(|&b| b == 0));
        let (ptr, len, cap) = buf.into_raw_parts();
        // SAFETY: the parts just returned, rebuilt once.
        drop(unsafe { AlignedBuf::from_raw_parts(ptr, len, cap) });
        let s = recycle::stats();
        assert_eq!(s.kept, 2 * MIB, "{s:?}");
        // Twice smaller is the most: a 512 KiB request leaves the 2 MiB block alone.
        let small = AlignedBuf::with_cap(MIB / 2).unwrap();
        assert_ne!(small.as_ptr(), addr);
    })
    .join()
    .unwrap();
}

#[test]
fn a_lowered_limit_is_obeyed_by_every_thread() {
    let _serial = serial();
    let (go, wait) = mpsc::channel::<()>();
    let (done, kept) = mpsc::channel::<usize>();
    let other = thread::spawn(move || {
        drop(AlignedBuf::with_cap(MIB).unwrap());
        done.send(recycle::stats().kept).unwrap();
        wait.recv().unwrap();
        // Its next allocation notices recycling is off and returns what it kept.
        drop(AlignedBuf::with_cap(PAGE_SIZE).unwrap());
        done.send(recycle::stats().kept).unwrap();
    });
    assert_eq!(kept.recv().unwrap(), MIB);
    recycle::set_limits(Limits::OFF);
    go.send(()).unwrap();
    assert_eq!(kept.recv().unwrap(), 0);
    other.join().unwrap();
}

/// A limit lowered to a non-zero value by one thread is obeyed by another at its next
/// allocation, not only when recycling is turned off.
#[test]
fn a_lowered_non_zero_limit_is_obeyed_at_the_next_allocation() {
    let _serial = serial();
    let (go, wait) = mpsc::channel::<()>();
    let (done, kept) = mpsc::channel::<usize>();
    let other = thread::spawn(move || {
        let bufs: Vec<AlignedBuf> = (0..4).map(|_| AlignedBuf::with_cap(MIB).unwrap()).collect();
        drop(bufs);
        done.send(recycle::stats().kept).unwrap();
        wait.recv().unwrap();
        let page = AlignedBuf::with_cap(PAGE_SIZE).unwrap(); // an allocation, no release yet
        done.send(recycle::stats().kept).unwrap();
        drop(page);
    });
    assert_eq!(kept.recv().unwrap(), 4 * MIB);
    recycle::set_limits(Limits {
        per_thread: MIB,
        shared: 0,
    });
    go.send(()).unwrap();
    assert!(kept.recv().unwrap() <= MIB);
    other.join().unwrap();
}

/// `per_thread: 0` is off whatever `shared` says: freed blocks do not pile up in the shared
/// tier, where nothing would ever take them.
#[test]
fn per_thread_zero_keeps_nothing_in_the_shared_tier_either() {
    let _serial = serial();
    drop(AlignedBuf::with_cap(MIB).unwrap());
    recycle::set_limits(Limits {
        per_thread: 0,
        shared: 32 * MIB,
    });
    let bufs: Vec<AlignedBuf> = (0..8).map(|_| AlignedBuf::with_cap(MIB).unwrap()).collect();
    drop(bufs);
    let s = recycle::stats();
    assert_eq!((s.kept, s.shared_kept), (0, 0));
}

#[test]
fn recycling_off_keeps_nothing_and_counts_nothing() {
    let _serial = serial();
    drop(AlignedBuf::with_cap(MIB).unwrap());
    assert_eq!(recycle::stats().kept, MIB);
    recycle::set_limits(Limits::OFF);
    assert_eq!(
        recycle::stats().kept,
        0,
        "turning off returns this thread's blocks"
    );
    let before = recycle::stats();
    // Every buffer stays live to the end, each with its own tag: with nothing kept, no block
    // is handed out twice, and clones are blocks of their own too.
    let mut live: Vec<(AlignedBuf, u8)> = Vec::new();
    for (i, n) in straddling_sizes().into_iter().enumerate() {
        let mut buf = AlignedBuf::zeroed(n).unwrap();
        assert!(buf.iter().all(|&b| b == 0));
        let tag = i as u8;
        buf.fill(tag);
        let copy = buf.clone();
        assert_eq!(&copy[..], &buf[..]);
        drop(copy); // freed while recycling is off: straight back to the allocator
        live.push((buf, tag));
    }
    for (buf, tag) in &live {
        assert!(
            holds(buf, *tag),
            "buffer of {} bytes overwritten",
            buf.len()
        );
    }
    let after = recycle::stats();
    assert_eq!((after.kept, after.shared_kept), (0, 0));
    assert_eq!(
        (after.hits, after.shared_hits, after.misses),
        (before.hits, before.shared_hits, before.misses)
    );
}

/// A thread that allocated while recycling was off has allocated all the same: once recycling
/// is on again, the small blocks it frees stay in its own cache rather than going to the
/// shared tier as a thread that only frees would.
#[test]
fn a_thread_that_allocated_while_recycling_was_off_keeps_what_it_frees() {
    let _serial = serial();
    thread::spawn(|| {
        recycle::set_limits(Limits::OFF);
        let buf = AlignedBuf::with_cap(64 << 10).unwrap();
        recycle::set_limits(Limits::DEFAULT);
        drop(buf);
        assert_eq!(recycle::stats().kept, 64 << 10);
    })
    .join()
    .unwrap();
    assert_eq!(recycle::stats().shared_kept, 0);
}

#[test]
fn huge_arenas_never_take_a_recycled_block() {
    let _serial = serial();
    // Fill the cache with blocks of every class.
    let mut kept = Vec::new();
    for n in straddling_sizes()
        .into_iter()
        .filter(|&n| n < MAP_THRESHOLD)
    {
        let b = AlignedBuf::with_cap(n).unwrap();
        kept.push((b.as_ptr() as usize, b.cap()));
        drop(b);
    }
    let before = recycle::stats();
    for size in [PAGE_SIZE, MIB, 16 * MIB, MAP_THRESHOLD] {
        let (arena, status) = AlignedBuf::zeroed_huge(size, HugePages::Try).unwrap();
        assert!(arena.cap() >= MAP_THRESHOLD);
        assert!(arena.iter().step_by(PAGE_SIZE).all(|&b| b == 0));
        if status == HugePageStatus::Advised {
            assert_eq!(arena.as_ptr() as usize % jdb_alloc::HUGE_PAGE_SIZE, 0);
        }
    }
    let after = recycle::stats();
    assert_eq!(
        (after.hits, after.shared_hits),
        (before.hits, before.shared_hits)
    );
    assert_eq!(after.kept, before.kept);
}

// ============================================================================
// Memory goes back to the OS
// ============================================================================

/// Allocates `count` buffers of `size`, writes every page, frees them all on this thread.
fn churn(count: usize, size: usize) {
    let bufs: Vec<AlignedBuf> = (0..count)
        .map(|_| {
            let mut b = AlignedBuf::with_cap(size).unwrap();
            b.extend(&vec![7; size]).unwrap();
            b
        })
        .collect();
    drop(bufs);
}

#[cfg(target_os = "linux")]
#[test]
fn trim_returns_kept_memory_to_the_os() {
    let _serial = serial();
    // On a thread of its own, so the figures are this thread's blocks.
    thread::spawn(|| {
        let base = proc_mem::resident_bytes();
        churn(24, MIB);
        let s = recycle::stats();
        assert!(s.kept >= 16 * MIB, "{s:?}");
        let kept_rss = proc_mem::resident_bytes();
        recycle::trim();
        assert_eq!(recycle::stats().kept, 0);
        let trimmed = proc_mem::resident_bytes();
        assert!(
            kept_rss.saturating_sub(trimmed) >= s.kept / 2,
            "trim released {} of {} kept bytes (RSS {base} -> {kept_rss} -> {trimmed})",
            kept_rss.saturating_sub(trimmed),
            s.kept
        );
    })
    .join()
    .unwrap();
}

#[cfg(target_os = "linux")]
#[test]
fn a_thread_returns_what_it_kept_when_it_exits() {
    let _serial = serial();
    let (tx, rx) = mpsc::channel();
    let t = thread::spawn(move || {
        churn(24, MIB);
        tx.send((recycle::stats().kept, proc_mem::resident_bytes()))
            .unwrap();
    });
    let (kept, with_cache) = rx.recv().unwrap();
    t.join().unwrap();
    assert!(kept >= 16 * MIB, "kept {kept}");
    let after = proc_mem::resident_bytes();
    assert!(
        with_cache.saturating_sub(after) >= kept / 2,
        "thread exit released {} of {kept} kept bytes",
        with_cache.saturating_sub(after)
    );
}

/// Drops a buffer and allocates one from a thread-local destructor, which may run before or
/// after the crate's own cache is destroyed: both must work (the cache is then bypassed).
#[test]
fn buffers_come_and_go_while_a_thread_exits() {
    use std::cell::RefCell;

    struct OnExit(Option<AlignedBuf>);

    impl Drop for OnExit {
        fn drop(&mut self) {
            let held = self.0.take().expect("a buffer was left to drop");
            assert!(holds(&held, 9));
            drop(held);
            let fresh = AlignedBuf::zeroed(SMALL).unwrap();
            assert!(fresh.iter().all(|&b| b == 0));
            // A large block too: the thread's heap may be gone already.
            let large = AlignedBuf::zeroed(MIB).unwrap();
            assert!(large.iter().all(|&b| b == 0));
        }
    }

    thread_local! {
        static LATE: RefCell<OnExit> = const { RefCell::new(OnExit(None)) };
    }

    const SMALL: usize = 64 << 10;
    let _serial = serial();
    let held = || {
        let mut b = AlignedBuf::with_cap(SMALL).unwrap();
        b.extend(&vec![9; SMALL]).unwrap();
        b
    };
    // The crate's cache first, so `LATE` is destroyed first (destructors run in reverse).
    thread::spawn(move || {
        drop(AlignedBuf::with_cap(SMALL).unwrap());
        drop(AlignedBuf::with_cap(MIB).unwrap());
        LATE.with(|l| l.borrow_mut().0 = Some(held()));
    })
    .join()
    .unwrap();
    // `LATE` first, so the crate's cache is destroyed before `LATE`'s destructor uses it.
    thread::spawn(move || {
        LATE.with(|l| l.borrow_mut().0 = None);
        let b = held();
        LATE.with(|l| l.borrow_mut().0 = Some(b));
    })
    .join()
    .unwrap();
    // In the second thread both small blocks (the one dropped, the one allocated fresh) went
    // to the shared tier, the only place left once the thread's cache was gone; in the first,
    // the cache took them and returned them with itself.
    let s = recycle::stats();
    assert_eq!(s.shared_kept, 2 * SMALL, "{s:?}");
}
