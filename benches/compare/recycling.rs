//! Recycling of freed blocks (issue 9): four sides in one run, medians, ratios.
//!
//! - `ours`: this crate, default limits;
//! - `0.1.4`: jdb_alloc 0.1.4, i.e. glibc's `posix_memalign` / `free`;
//! - `mimalloc`: mimalloc's aligned allocation, called directly (`mi_malloc_aligned`,
//!   `mi_zalloc_aligned`, `mi_free`), not as the global allocator;
//! - `reused`: the limit, one buffer allocated once and reused by hand doing the same work
//!   (writing one byte per page; for `zeroed` and `page`, zeroing it first).

use std::{
    ffi::c_void,
    sync::mpsc::{self, Receiver, SyncSender},
    thread::{self, JoinHandle},
};

use jdb_alloc::{
    AlignedBuf,
    recycle::{self, Limits},
};
use libmimalloc_sys::{mi_free, mi_malloc_aligned, mi_zalloc_aligned};

use super::{KIB, MIB, PAGE, harness::Bench, harness::Side, touch};

const LABELS: [&str; 4] = ["ours", "0.1.4", "mimalloc", "reused"];
/// ours/reused, ours/mimalloc, ours/0.1.4.
const RATIOS: [(usize, usize); 3] = [(0, 3), (0, 2), (0, 1)];

const SIZES: [(&str, usize); 6] = [
    ("4 KiB", 4 * KIB),
    ("64 KiB", 64 * KIB),
    ("256 KiB", 256 * KIB),
    ("1 MiB", MIB),
    ("4 MiB", 4 * MIB),
    ("16 MiB", 16 * MIB),
];

/// Buffers per round of the mixed workload, and the largest of its random sizes.
const MIXED_BATCH: usize = 16;
const MIXED_MAX: usize = MIB;

/// The engine-like workload: buffers kept alive at once, and the largest random size.
const ENGINE_LIVE: usize = 16;
const ENGINE_MAX: usize = 16 * MIB;

/// `[Some(&mut a as &mut dyn Side), ...]`; `_` for a side without the operation.
macro_rules! sides {
    (@one _) => { None };
    (@one $e:expr) => { Some(&mut $e as &mut dyn Side) };
    ($($s:tt),+ $(,)?) => { [$(sides!(@one $s)),+] };
}

/// A block from mimalloc's aligned allocation, freed with `mi_free` on drop.
struct Mi(*mut u8);

// SAFETY: a mimalloc block may be freed by any thread (mimalloc's documented contract).
unsafe impl Send for Mi {}

impl Mi {
    fn malloc(n: usize) -> Self {
        // SAFETY: plain allocation call; a null result is checked.
        let p = unsafe { mi_malloc_aligned(n, PAGE) };
        assert!(!p.is_null(), "mi_malloc_aligned({n})");
        Self(p.cast())
    }

    fn zalloc(n: usize) -> Self {
        // SAFETY: as in `malloc`.
        let p = unsafe { mi_zalloc_aligned(n, PAGE) };
        assert!(!p.is_null(), "mi_zalloc_aligned({n})");
        Self(p.cast())
    }
}

impl Drop for Mi {
    fn drop(&mut self) {
        // SAFETY: a live block from mimalloc, freed once.
        unsafe { mi_free(self.0.cast::<c_void>()) }
    }
}

pub fn cases(bench: &mut Bench) {
    small(bench);
    per_size(bench);
    mixed(bench);
    engine(bench);
    cold(bench);
}

fn small(bench: &mut Bench) {
    let mut reused = AlignedBuf::with_cap(PAGE).unwrap();
    let mut ours = || AlignedBuf::with_cap(PAGE).unwrap();
    let mut theirs = || upstream::AlignedBuf::with_cap(PAGE).unwrap();
    let mut mi = || Mi::malloc(PAGE);
    let mut by_hand = || {
        reused.clear();
        reused.as_mut_ptr()
    };
    bench.compare_many(
        "with_cap(4096) + drop",
        &mut sides![ours, theirs, mi, by_hand],
    );

    let mut reused = AlignedBuf::zeroed(PAGE).unwrap();
    let mut ours = || AlignedBuf::page().unwrap();
    let mut theirs = || upstream::AlignedBuf::page().unwrap();
    let mut mi = || Mi::zalloc(PAGE);
    // The floor for `page()`: zeroing 4 KiB that is already mapped.
    let mut by_hand = || {
        reused.fill(0);
        reused.as_mut_ptr()
    };
    bench.compare_many("page() + drop", &mut sides![ours, theirs, mi, by_hand]);
}

fn per_size(bench: &mut Bench) {
    for (label, n) in SIZES {
        let mut reused = AlignedBuf::with_cap(n).unwrap();
        let mut ours = || {
            let mut b = AlignedBuf::with_cap(n).unwrap();
            touch(b.as_mut_ptr(), n);
            b
        };
        let mut theirs = || {
            let mut b = upstream::AlignedBuf::with_cap(n).unwrap();
            touch(b.as_mut_ptr(), n);
            b
        };
        let mut mi = || {
            let b = Mi::malloc(n);
            touch(b.0, n);
            b
        };
        let mut by_hand = || {
            touch(reused.as_mut_ptr(), n);
            reused.as_mut_ptr()
        };
        bench.compare_many(
            &format!("with_cap({label}) + 1 byte per page + drop"),
            &mut sides![ours, theirs, mi, by_hand],
        );
    }
    for (label, n) in SIZES {
        let mut reused = AlignedBuf::zeroed(n).unwrap();
        let mut ours = || {
            let mut b = AlignedBuf::zeroed(n).unwrap();
            touch(b.as_mut_ptr(), n);
            b
        };
        let mut theirs = || {
            let mut b = upstream::AlignedBuf::zeroed(n).unwrap();
            touch(b.as_mut_ptr(), n);
            b
        };
        let mut mi = || {
            let b = Mi::zalloc(n);
            touch(b.0, n);
            b
        };
        let mut by_hand = || {
            reused.fill(0);
            touch(reused.as_mut_ptr(), n);
            reused.as_mut_ptr()
        };
        bench.compare_many(
            &format!("zeroed({label}) + 1 byte per page + drop"),
            &mut sides![ours, theirs, mi, by_hand],
        );
    }
}

/// The same random sizes for every side: 1 page to `max` bytes, any page count (xorshift64
/// from a fixed seed).
struct Sizes {
    state: u64,
    max: usize,
}

impl Sizes {
    fn up_to(max: usize) -> Self {
        Self { state: 1, max }
    }
}

impl Iterator for Sizes {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        Some((self.state as usize % (self.max / PAGE) + 1) * PAGE)
    }
}

/// A thread that receives batches of buffers and hands each batch to `sink` (dropping it, or
/// giving the buffers back). At most one batch waits in the channel, so the allocating side is
/// held to the freeing side's pace.
struct Remote<B: Send + 'static> {
    to: Option<SyncSender<Vec<B>>>,
    worker: Option<JoinHandle<()>>,
}

impl<B: Send + 'static> Remote<B> {
    fn new(mut sink: impl FnMut(Vec<B>) + Send + 'static) -> Self {
        let (to, from) = mpsc::sync_channel::<Vec<B>>(1);
        let worker = thread::spawn(move || {
            for batch in from {
                sink(batch);
            }
        });
        Self {
            to: Some(to),
            worker: Some(worker),
        }
    }

    fn send(&self, batch: Vec<B>) {
        self.to.as_ref().unwrap().send(batch).unwrap();
    }
}

impl<B: Send + 'static> Drop for Remote<B> {
    fn drop(&mut self) {
        drop(self.to.take());
        self.worker.take().unwrap().join().unwrap();
    }
}

/// Random sizes allocated on this thread, every page written, freed on another thread.
fn mixed(bench: &mut Bench) {
    let name = format!(
        "mixed: {MIXED_BATCH} random sizes 4 KiB-1 MiB, written, freed on another thread (per round)"
    );
    if !bench.wants(&name) {
        return;
    }
    let [mut s0, mut s1, mut s2, mut s3] = [(); 4].map(|_| Sizes::up_to(MIXED_MAX));
    let ours_remote = Remote::new(drop::<Vec<AlignedBuf>>);
    let mut ours = || {
        let batch = (&mut s0)
            .take(MIXED_BATCH)
            .map(|n| {
                let mut b = AlignedBuf::with_cap(n).unwrap();
                touch(b.as_mut_ptr(), n);
                b
            })
            .collect();
        ours_remote.send(batch);
    };
    let theirs_remote = Remote::new(drop::<Vec<upstream::AlignedBuf>>);
    let mut theirs = || {
        let batch = (&mut s1)
            .take(MIXED_BATCH)
            .map(|n| {
                let mut b = upstream::AlignedBuf::with_cap(n).unwrap();
                touch(b.as_mut_ptr(), n);
                b
            })
            .collect();
        theirs_remote.send(batch);
    };
    let mi_remote = Remote::new(drop::<Vec<Mi>>);
    let mut mi = || {
        let batch = (&mut s2)
            .take(MIXED_BATCH)
            .map(|n| {
                let b = Mi::malloc(n);
                touch(b.0, n);
                b
            })
            .collect();
        mi_remote.send(batch);
    };
    // By hand: a pool of buffers of the largest size, which the freeing thread sends back.
    let (back_tx, back_rx): (SyncSender<AlignedBuf>, Receiver<AlignedBuf>) =
        mpsc::sync_channel(4 * MIXED_BATCH);
    let mut pool: Vec<AlignedBuf> = (0..3 * MIXED_BATCH)
        .map(|_| AlignedBuf::zeroed(MIXED_MAX).unwrap())
        .collect();
    let hand_remote = Remote::new(move |batch: Vec<AlignedBuf>| {
        for b in batch {
            back_tx.send(b).unwrap();
        }
    });
    let mut by_hand = || {
        let batch = (&mut s3)
            .take(MIXED_BATCH)
            .map(|n| {
                pool.extend(back_rx.try_iter());
                let mut b = pool.pop().unwrap_or_else(|| back_rx.recv().unwrap());
                touch(b.as_mut_ptr(), n);
                b
            })
            .collect();
        hand_remote.send(batch);
    };
    // Steady state first: the freeing thread's cache and the shared tier fill up over the
    // first rounds (32 + 32 MiB by default, 4 rounds each), and glibc's arenas warm up too.
    for _ in 0..16 {
        ours();
        theirs();
        mi();
        by_hand();
    }
    bench.compare_many(&name, &mut sides![ours, theirs, mi, by_hand]);
}

/// A storage engine's pattern on one thread: `ENGINE_LIVE` buffers live at once, each operation
/// allocates one of a random size from 4 KiB to 16 MiB, writes every page, and drops the oldest.
/// Here glibc's cost depends on its heap: what else is live decides whether a freed block above
/// its dynamic mmap threshold is unmapped or kept, so 0.1.4's per-size rows are its worst case
/// and this row is closer to its typical one.
fn engine(bench: &mut Bench) {
    let name = format!(
        "engine: random sizes 4 KiB-16 MiB, {ENGINE_LIVE} live, every page written (per buffer)"
    );
    if !bench.wants(&name) {
        return;
    }
    /// One side: a ring of live buffers, the oldest replaced by each new one.
    fn ring<B>(mut make: impl FnMut(usize) -> B) -> impl FnMut() -> usize {
        let mut sizes = Sizes::up_to(ENGINE_MAX);
        let mut live: Vec<B> = Vec::with_capacity(ENGINE_LIVE);
        let mut next = 0;
        move || {
            let n = sizes.next().unwrap();
            let b = make(n);
            if live.len() < ENGINE_LIVE {
                live.push(b);
            } else {
                live[next] = b;
            }
            next = (next + 1) % ENGINE_LIVE;
            n
        }
    }
    let mut ours = ring(|n| {
        let mut b = AlignedBuf::with_cap(n).unwrap();
        touch(b.as_mut_ptr(), n);
        b
    });
    let mut theirs = ring(|n| {
        let mut b = upstream::AlignedBuf::with_cap(n).unwrap();
        touch(b.as_mut_ptr(), n);
        b
    });
    let mut mi = ring(|n| {
        let b = Mi::malloc(n);
        touch(b.0, n);
        b
    });
    // By hand: `ENGINE_LIVE` buffers of the largest size, used in turn.
    let mut pool: Vec<AlignedBuf> = (0..ENGINE_LIVE)
        .map(|_| AlignedBuf::zeroed(ENGINE_MAX).unwrap())
        .collect();
    let (mut sizes, mut next) = (Sizes::up_to(ENGINE_MAX), 0);
    let mut by_hand = || {
        let n = sizes.next().unwrap();
        touch(pool[next].as_mut_ptr(), n);
        next = (next + 1) % ENGINE_LIVE;
        n
    };
    bench.compare_many(&name, &mut sides![ours, theirs, mi, by_hand]);
}

/// The first allocation of each size, when nothing is kept: recycling on, but with limits no
/// block fits, so every allocation takes the miss path and every drop the overflow path (what a
/// cold start, or a thread whose cache is full, pays). Against 0.1.4, which does the same glibc
/// calls without them.
fn cold(bench: &mut Bench) {
    let old = recycle::limits();
    recycle::trim();
    recycle::set_limits(Limits {
        per_thread: 1,
        shared: 0,
    });
    for (label, n) in SIZES {
        let mut ours = || {
            let mut b = AlignedBuf::with_cap(n).unwrap();
            touch(b.as_mut_ptr(), n);
            b
        };
        let mut theirs = || {
            let mut b = upstream::AlignedBuf::with_cap(n).unwrap();
            touch(b.as_mut_ptr(), n);
            b
        };
        bench.compare_many(
            &format!("cold: with_cap({label}) + 1 byte per page + drop, nothing kept"),
            &mut sides![ours, theirs, _, _],
        );
    }
    recycle::set_limits(old);
}

pub fn print(bench: &Bench) {
    bench.print_many_table(
        "recycling: time per operation (median of interleaved batches)",
        &LABELS,
        &RATIOS,
    );
    let s = recycle::stats();
    println!(
        "\nkept after the cases (main thread): {} + {} shared bytes, bound {} per thread + {} \
         shared; {} hits, {} shared hits, {} misses",
        s.kept,
        s.shared_kept,
        s.limits.per_thread,
        s.limits.shared,
        s.hits,
        s.shared_hits,
        s.misses,
    );
}

/// Bytes kept against the bound after a burst of 512 MiB of 1 MiB buffers freed at once, and
/// resident memory (the whole process's, so absolute figures) before and after `trim`.
#[cfg(target_os = "linux")]
pub fn memory(bench: &Bench) {
    use super::proc_mem;

    if !bench.wants("resident") {
        return;
    }
    recycle::trim();
    let mib = |b: usize| format!("{:.1}", b as f64 / MIB as f64);
    let before = proc_mem::resident_bytes();
    let burst: Vec<AlignedBuf> = (0..512)
        .map(|_| {
            let mut b = AlignedBuf::with_cap(MIB).unwrap();
            touch(b.as_mut_ptr(), MIB);
            b
        })
        .collect();
    let live = proc_mem::resident_bytes();
    drop(burst);
    let freed = (proc_mem::resident_bytes(), recycle::stats());
    recycle::trim();
    let trimmed = (proc_mem::resident_bytes(), recycle::stats());
    let bound = format!(
        "{} + {}",
        mib(freed.1.limits.per_thread),
        mib(freed.1.limits.shared)
    );
    println!(
        "\n### recycling: a burst of 512 x 1 MiB buffers, every page written, freed at once\n"
    );
    println!("| moment | process RSS MiB | kept MiB (this thread + shared) | bound MiB |");
    println!("|---|---:|---:|---:|");
    println!("| before | {} | 0.0 + 0.0 | {bound} |", mib(before));
    println!("| all 512 live | {} | - | {bound} |", mib(live));
    for (moment, (rss, s)) in [("all freed", freed), ("after trim()", trimmed)] {
        println!(
            "| {moment} | {} | {} + {} | {bound} |",
            mib(rss),
            mib(s.kept),
            mib(s.shared_kept)
        );
    }
}

#[cfg(not(target_os = "linux"))]
pub fn memory(_bench: &Bench) {}
