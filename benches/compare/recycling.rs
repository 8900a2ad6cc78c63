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

/// A storage engine's pattern: `live` buffers live at once; each operation allocates one of a
/// random size, writes every page, and replaces the oldest, which is dropped on this thread or,
/// with `remote`, sent (in batches of 16) to another thread that drops it.
#[derive(Clone, Copy)]
struct Engine {
    name: &'static str,
    live: usize,
    min: usize,
    max: usize,
    log: bool,
    remote: bool,
}

const ENGINES: [Engine; 3] = [
    Engine {
        name: "engine: random sizes 4 KiB-16 MiB, 16 live, every page written (per buffer)",
        live: 16,
        min: 4 * KIB,
        max: 16 * MIB,
        log: false,
        remote: false,
    },
    Engine {
        name: "engine: log-uniform sizes 4 KiB-16 MiB, 32 live, every page written (per buffer)",
        live: 32,
        min: 4 * KIB,
        max: 16 * MIB,
        log: true,
        remote: false,
    },
    Engine {
        name: "engine: log-uniform sizes 64 KiB-4 MiB, 48 live, freed on another thread (per buffer)",
        live: 48,
        min: 64 * KIB,
        max: 4 * MIB,
        log: true,
        remote: true,
    },
];

/// Buffers a remote engine sends to the freeing thread at a time.
const REMOTE_BATCH: usize = 16;

impl Engine {
    /// The sizes of the pattern, the same for every side: whole pages from `min` to `max`,
    /// uniform or log-uniform (xorshift64 from a fixed seed).
    fn sizes(self) -> impl Iterator<Item = usize> {
        let (lo, hi) = ((self.min / PAGE) as f64, (self.max / PAGE) as f64);
        let mut uniform = Sizes::up_to(u32::MAX as usize * PAGE);
        std::iter::from_fn(move || {
            let u = (uniform.next()? / PAGE - 1) as f64 / u32::MAX as f64;
            let pages = if self.log {
                lo * (hi / lo).powf(u)
            } else {
                lo + (hi - lo) * u
            };
            Some((pages.round() as usize).clamp(lo as usize, hi as usize) * PAGE)
        })
    }

    /// One side: a ring of live buffers made by `make`, the oldest replaced by each new one.
    fn ring<B: Send + 'static>(self, mut make: impl FnMut(usize) -> B) -> impl FnMut() -> usize {
        let mut sizes = self.sizes();
        let mut live: Vec<B> = Vec::with_capacity(self.live);
        let mut next = 0;
        let remote = self.remote.then(|| Remote::new(drop::<Vec<B>>));
        let mut batch = Vec::with_capacity(REMOTE_BATCH);
        move || {
            let n = sizes.next().unwrap();
            let b = make(n);
            if live.len() < self.live {
                live.push(b);
            } else {
                let old = std::mem::replace(&mut live[next], b);
                if let Some(remote) = &remote {
                    batch.push(old);
                    if batch.len() == REMOTE_BATCH {
                        remote.send(std::mem::take(&mut batch));
                    }
                }
            }
            next = (next + 1) % self.live;
            n
        }
    }

    /// By hand: buffers of the largest size, used in turn; with `remote`, sent to the freeing
    /// thread, which sends them back.
    fn by_hand(self) -> impl FnMut() -> usize {
        let mut sizes = self.sizes();
        let mut ring: Vec<AlignedBuf> = (0..self.live)
            .map(|_| AlignedBuf::zeroed(self.max).unwrap())
            .collect();
        let (back_tx, back_rx) = mpsc::sync_channel::<AlignedBuf>(4 * REMOTE_BATCH);
        let remote = self.remote.then(|| {
            Remote::new(move |batch: Vec<AlignedBuf>| {
                for b in batch {
                    back_tx.send(b).unwrap();
                }
            })
        });
        let mut spare: Vec<AlignedBuf> = (0..2 * REMOTE_BATCH)
            .map(|_| AlignedBuf::zeroed(self.max).unwrap())
            .collect();
        let (mut next, mut batch) = (0, Vec::with_capacity(REMOTE_BATCH));
        move || {
            let n = sizes.next().unwrap();
            match &remote {
                None => touch(ring[next].as_mut_ptr(), n),
                Some(remote) => {
                    spare.extend(back_rx.try_iter());
                    let mut b = spare.pop().unwrap_or_else(|| back_rx.recv().unwrap());
                    touch(b.as_mut_ptr(), n);
                    batch.push(std::mem::replace(&mut ring[next], b));
                    if batch.len() == REMOTE_BATCH {
                        remote.send(std::mem::take(&mut batch));
                    }
                }
            }
            next = (next + 1) % self.live;
            n
        }
    }
}

fn engine(bench: &mut Bench) {
    for e in ENGINES {
        if !bench.wants(e.name) {
            continue;
        }
        let mut ours = e.ring(|n| {
            let mut b = AlignedBuf::with_cap(n).unwrap();
            touch(b.as_mut_ptr(), n);
            b
        });
        let mut theirs = e.ring(|n| {
            let mut b = upstream::AlignedBuf::with_cap(n).unwrap();
            touch(b.as_mut_ptr(), n);
            b
        });
        let mut mi = e.ring(|n| {
            let b = Mi::malloc(n);
            touch(b.0, n);
            b
        });
        let mut by_hand = e.by_hand();
        bench.compare_many(e.name, &mut sides![ours, theirs, mi, by_hand]);
    }
    burst(bench);
}

/// Buffers in a burst, and their size: 1 GiB in all.
const BURST: usize = 256;
const BURST_SIZE: usize = 4 * MIB;
const BURST_NAME: &str = "burst: 1 GiB of 4 MiB buffers allocated, written, freed (per burst)";

/// A burst: 1 GiB of buffers allocated, every page written, all freed.
fn burst(bench: &mut Bench) {
    if !bench.wants(BURST_NAME) {
        return;
    }
    fn side<B>(mut make: impl FnMut() -> B) -> impl FnMut() -> usize {
        move || (0..BURST).map(|_| make()).collect::<Vec<B>>().len()
    }
    let mut ours = side(|| {
        let mut b = AlignedBuf::with_cap(BURST_SIZE).unwrap();
        touch(b.as_mut_ptr(), BURST_SIZE);
        b
    });
    let mut theirs = side(|| {
        let mut b = upstream::AlignedBuf::with_cap(BURST_SIZE).unwrap();
        touch(b.as_mut_ptr(), BURST_SIZE);
        b
    });
    let mut mi = side(|| {
        let b = Mi::malloc(BURST_SIZE);
        touch(b.0, BURST_SIZE);
        b
    });
    let mut pool: Vec<AlignedBuf> = (0..BURST)
        .map(|_| AlignedBuf::zeroed(BURST_SIZE).unwrap())
        .collect();
    let mut by_hand = || {
        for b in &mut pool {
            touch(b.as_mut_ptr(), BURST_SIZE);
        }
        BURST
    };
    bench.compare_many(BURST_NAME, &mut sides![ours, theirs, mi, by_hand]);
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

/// Resident memory of this crate's side of each engine case and of the burst, with the default
/// settings: the live set at the end of the case, the process's RSS growth then, and again once
/// the decay period has passed while the thread that ran the case sits idle holding its live set
/// and this thread allocates small buffers (so what the idle thread kept must go back by
/// another thread's hand).
#[cfg(target_os = "linux")]
pub fn engine_memory(bench: &Bench) {
    use std::time::{Duration, Instant};

    use super::proc_mem;

    if !bench.wants("resident") {
        return;
    }
    const OPS: usize = 2000;
    let mib = |b: usize| format!("{:.1}", b as f64 / MIB as f64);
    let decay = recycle::decay();
    println!(
        "\n### recycling: resident memory of this crate's side, default settings (decay {decay:?})\n"
    );
    println!(
        "| case | live MiB | RSS growth after the case MiB | after the decay period MiB | \
         above the live set MiB |"
    );
    println!("|---|---:|---:|---:|---:|");
    let cases = ENGINES
        .iter()
        .map(|e| (e.name, Some(*e)))
        .chain([(BURST_NAME, None)]);
    for (name, engine) in cases {
        recycle::trim();
        let base = proc_mem::resident_bytes();
        let (report, reports) = mpsc::channel::<(usize, usize)>();
        let (go, wait) = mpsc::channel::<()>();
        let worker = thread::spawn(move || {
            let live = match engine {
                Some(e) => {
                    let mut ring = e.ring(|n| {
                        let mut b = AlignedBuf::with_cap(n).unwrap();
                        touch(b.as_mut_ptr(), n);
                        b
                    });
                    for _ in 0..OPS {
                        ring();
                    }
                    // What the ring holds now: the last `live` sizes.
                    let sizes: Vec<usize> = e.sizes().take(OPS).collect();
                    let live = sizes[OPS - e.live..].iter().sum();
                    report.send((live, recycle::stats().kept)).unwrap();
                    wait.recv().unwrap();
                    report.send((live, recycle::stats().kept)).unwrap();
                    drop(ring);
                    return;
                }
                None => {
                    for _ in 0..4 {
                        let burst: Vec<AlignedBuf> = (0..BURST)
                            .map(|_| {
                                let mut b = AlignedBuf::with_cap(BURST_SIZE).unwrap();
                                touch(b.as_mut_ptr(), BURST_SIZE);
                                b
                            })
                            .collect();
                        drop(burst);
                    }
                    0
                }
            };
            report.send((live, recycle::stats().kept)).unwrap();
            wait.recv().unwrap();
            report.send((live, recycle::stats().kept)).unwrap();
        });
        let (live, kept) = reports.recv().unwrap();
        let after_case = proc_mem::resident_bytes().saturating_sub(base);
        // A small steady load on this thread for the decay period and a little more (kept
        // blocks are looked at every eighth of the period: gone by 9/8 of it).
        let until = Instant::now() + decay * 5 / 4 + Duration::from_millis(500);
        while Instant::now() < until {
            for _ in 0..1000 {
                drop(std::hint::black_box(AlignedBuf::with_cap(4 * KIB).unwrap()));
            }
            thread::yield_now();
        }
        let after_decay = proc_mem::resident_bytes().saturating_sub(base);
        go.send(()).unwrap();
        let (_, kept_after) = reports.recv().unwrap();
        worker.join().unwrap();
        println!(
            "| {name} | {} | {} ({} kept) | {} ({} kept) | {} |",
            mib(live),
            mib(after_case),
            mib(kept),
            mib(after_decay),
            mib(kept_after),
            mib(after_decay.saturating_sub(live)),
        );
    }
}

#[cfg(not(target_os = "linux"))]
pub fn engine_memory(_bench: &Bench) {}
