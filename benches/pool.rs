//! The registered frame pool's own cost: `acquire` (and `try_acquire`) of a frame plus its
//! drop back into the pool, uncontended, against a recycled `AlignedBuf` of the same size
//! allocated and dropped (the crate's cheapest way to get an I/O buffer without a pool), in the
//! same run:
//!
//! ```text
//! cargo bench --features compio-19 --bench pool
//! ```
//!
//! The pool is made on a compio 0.19 runtime, so its tiers are registered when the memlock
//! limit allows. `acquire` is polled once by hand (it never waits here: a frame is free), so
//! the figure is the pool's, not an executor's. `JDB_BENCH_QUICK=1` shortens the run. Last,
//! the time `FixedPool::new` takes, as a `Reader` making its own frames pays it.

#[path = "harness/mod.rs"]
mod harness;

use std::{
    future::Future,
    pin::pin,
    task::{Context, Poll, Waker},
};

use compio_19::runtime::Runtime;
use jdb_alloc::{
    AlignedBuf,
    fixed::{FixedFrame, compio19::FixedPool},
};

const SIZES: [(usize, &str); 4] = [
    (4 << 10, "4 KiB"),
    (64 << 10, "64 KiB"),
    (256 << 10, "256 KiB"),
    (1 << 20, "1 MiB"),
];

/// `pool.acquire(len)`, polled once: a frame is free, so it is ready.
fn acquire_now(pool: &FixedPool, len: usize) -> FixedFrame {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(pool.acquire(len)).poll(&mut cx) {
        Poll::Ready(frame) => frame.expect("a tier holds len"),
        Poll::Pending => panic!("no frame free in the {len} bytes tier"),
    }
}

fn main() {
    if !harness::run_by_cargo_bench() {
        return;
    }
    let mut bench = harness::Bench::from_env("pool", "AlignedBuf");
    Runtime::new().unwrap().block_on(async {
        let tiers: Vec<(usize, usize)> = SIZES.iter().map(|&(len, _)| (len, 4)).collect();
        let pool = FixedPool::new(&tiers).unwrap();
        eprintln!("pool status: {:?}", pool.status());
        for &(len, name) in &SIZES {
            bench.compare(
                &format!("acquire + drop, {name}"),
                || drop(acquire_now(&pool, len)),
                || drop(AlignedBuf::with_cap(len).unwrap()),
            );
            bench.compare(
                &format!("try_acquire + drop, {name}"),
                || drop(pool.try_acquire(len).unwrap()),
                || drop(AlignedBuf::with_cap(len).unwrap()),
            );
        }
        let stats = pool.stats();
        assert!(stats.tiers.iter().all(|t| t.in_use == 0));
        assert_eq!((stats.waits, stats.misses), (0, 0));
    });
    bench.print_table("FixedPool: a frame acquired and dropped, against a recycled AlignedBuf");
    Runtime::new().unwrap().block_on(async { pool_made() });
}

/// What making a pool costs the thread that makes it (a `Reader` makes one of `window + 1`
/// chunks on its runtime's thread): the first of a fresh runtime, its memory faulted in and
/// pinned, then the median of pools made again once the first has dropped (its memory
/// recycled).
fn pool_made() {
    println!(
        "\nFixedPool::new on a fresh runtime, as a Reader makes its own (first, then median of 9 remade)"
    );
    for (chunk, frames) in [(1 << 20, 5), (4 << 20, 5), (8 << 20, 8)] {
        let time = || {
            let started = std::time::Instant::now();
            let pool = FixedPool::new(&[(chunk, frames)]).unwrap();
            let took = started.elapsed();
            (took, pool.status())
        };
        let (first, status) = time();
        let mut again: Vec<_> = (0..9).map(|_| time().0).collect();
        again.sort_unstable();
        println!(
            "{:>2} x {} MiB ({status:?}): first {:.3} ms, again {:.3} ms",
            frames,
            chunk >> 20,
            first.as_secs_f64() * 1e3,
            again[4].as_secs_f64() * 1e3
        );
    }
}
