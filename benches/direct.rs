//! Direct I/O files (`jdb_alloc::direct`) against the hand-written ways, on one compio 0.19
//! runtime, on a file given by path:
//!
//! ```text
//! cargo bench --features compio-19 --bench direct -- /mnt/loop/bench.dat
//! ```
//!
//! Without a path it uses a file under the target directory (`JDB_DIRECT_SIZE` bytes, default
//! 256 MiB, filled once); the append cases write files next to it.
//!
//! - Random record reads (100 B, 3 KiB, 64 KiB at unaligned offsets; queue depth 1 and 32):
//!   `read_exact_at`; the hand-written way (read the page at the record's offset, and if the
//!   record is longer, round up and read it all again); one aligned read of the covering span
//!   (the floor); and, at depth 1, buffered `pread` through the page cache, dropped before
//!   each round.
//! - Appends of 128 B records with a sync every 64, and of 1 MiB records with a sync every 16:
//!   `Appender`; one zeroed aligned buffer per record, padded to whole pages, at a tracked
//!   offset (the hand-written way); `std::fs::File::write_all` through the page cache +
//!   `sync_data` at the same cadence; and for 1 MiB, `Appender::append_buf` of a record already
//!   in an aligned buffer, and plain aligned `write_at` of that buffer (the floor).
//!
//! - Without a pool (`DirectFile::without_pool`: recycled plain buffers), with a registered
//!   pool of the bench's own (`with_pool`, a frame per read in flight) and with the runtime's
//!   default pool (what a user gets without asking), on the same file: `read_exact_at` of
//!   64 KiB and 256 KiB records at unaligned offsets, depth 32; `Appender` appends of 1 MiB
//!   records, sync every 16. Printed: CPU per GiB and its ratio to the side without a pool,
//!   throughput, and the pool's fixed / plain operations and misses.
//!
//! Sides alternate round by round (so noise from other processes hits all); printed are
//! medians per round: wall time, process CPU time (user + system, `getrusage`), and device
//! bytes (`/proc/self/io` `read_bytes` / `write_bytes`: what the process made the block layer
//! move), and for appends the space the file takes (`st_blocks`). `JDB_BENCH_QUICK=1` runs
//! fewer rounds; `JDB_BENCH_FILTER=reads`, `appends`, `pool`, `queue` or `commits` runs one
//! part. Everything runs on `compio19::runtime()` (its ring with `COOP_TASKRUN`); with
//! `JDB_RUNTIME=default`, on compio's default runtime instead.
//!
//! - Group commit (`commits`, see `direct_commit`): 1, 8 and 64 writers committing 128 B and
//!   1 KiB records, `SharedAppender` against one `fdatasync` per record and std `Mutex<File>`.
//!
//! - The device's queue (`queue`, see `direct_queue`): `read_many`, `Reader` and write-behind
//!   against loops of one I/O at a time and fio at the same depth, on a 1 GiB file beside the
//!   given one (`JDB_QUEUE_SIZE` bytes).

use std::{
    cell::Cell,
    hint::black_box,
    io::Write,
    os::{fd::AsRawFd, unix::fs::FileExt},
    path::{Path, PathBuf},
    rc::Rc,
    time::{Duration, Instant},
};

use compio_19::{
    BufResult,
    io::{AsyncReadAt, AsyncWriteAt},
    runtime::{Runtime, spawn},
};
use jdb_alloc::{
    AlignedBuf, PAGE_SIZE,
    direct::compio19::{Appender, DirectFile},
    fixed::FixedPool,
};

mod direct_commit;
mod direct_queue;

const GIB: f64 = (1u64 << 30) as f64;

/// Read cases: record length, queue depth.
const READS: [(usize, usize); 6] = [
    (100, 1),
    (3 << 10, 1),
    (64 << 10, 1),
    (100, 32),
    (3 << 10, 32),
    (64 << 10, 32),
];

/// Process CPU time so far, user + system (all threads, io_uring workers included).
fn cpu_time() -> Duration {
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid out-parameter.
    let res = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(res, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Bytes this process made the block layer read and write so far.
fn device_bytes() -> (u64, u64) {
    let io = std::fs::read_to_string("/proc/self/io").unwrap();
    let field = |name: &str| {
        io.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    };
    (field("read_bytes:"), field("write_bytes:"))
}

/// What one round cost.
#[derive(Clone, Copy)]
struct Cost {
    wall: f64,
    cpu: f64,
    read: f64,
    written: f64,
}

struct Meter(Instant, Duration, (u64, u64));

impl Meter {
    fn start() -> Self {
        Self(Instant::now(), cpu_time(), device_bytes())
    }

    fn stop(self) -> Cost {
        let (r, w) = device_bytes();
        Cost {
            wall: self.0.elapsed().as_secs_f64(),
            cpu: (cpu_time() - self.1).as_secs_f64(),
            read: (r - self.2.0) as f64,
            written: (w - self.2.1) as f64,
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// xorshift.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[derive(Clone, Copy, PartialEq)]
enum ReadWay {
    Exact,
    PageThenReread,
    Single,
    Buffered,
}

impl ReadWay {
    fn name(self) -> &'static str {
        match self {
            Self::Exact => "read_exact_at",
            Self::PageThenReread => "page, then re-read",
            Self::Single => "one aligned read",
            Self::Buffered => "buffered pread",
        }
    }
}

/// Reads a record of `len` bytes at `pos` the given way; returns a byte of it.
async fn read_one(
    way: ReadWay,
    file: &DirectFile,
    std: &std::fs::File,
    pos: u64,
    len: usize,
) -> u8 {
    let first = pos - pos % PAGE_SIZE as u64;
    let skip = (pos - first) as usize;
    let span = (skip + len).next_multiple_of(PAGE_SIZE);
    match way {
        ReadWay::Exact => file.read_exact_at(pos, len).await.unwrap()[len - 1],
        ReadWay::PageThenReread => {
            let page = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
            let BufResult(n, page) = file.inner().read_at(page, first).await;
            assert_eq!(n.unwrap(), PAGE_SIZE);
            if skip + len <= PAGE_SIZE {
                return page[skip + len - 1];
            }
            let all = AlignedBuf::with_cap(span).unwrap();
            let BufResult(n, all) = file.inner().read_at(all, first).await;
            assert_eq!(n.unwrap(), span);
            all[skip + len - 1]
        }
        ReadWay::Single => {
            let all = AlignedBuf::with_cap(span).unwrap();
            let BufResult(n, all) = file.inner().read_at(all, first).await;
            assert_eq!(n.unwrap(), span);
            all[skip + len - 1]
        }
        ReadWay::Buffered => {
            let mut rec = vec![0; len];
            std.read_exact_at(&mut rec, pos).unwrap();
            rec[len - 1]
        }
    }
}

/// One round of `ops` random reads of `len` bytes, `depth` at a time.
async fn read_round(
    way: ReadWay,
    (file, std): &(Rc<DirectFile>, Rc<std::fs::File>),
    size: u64,
    len: usize,
    ops: usize,
    depth: usize,
    seed: u64,
) {
    if way == ReadWay::Buffered {
        // SAFETY: plain system call on a descriptor we own.
        unsafe { libc::posix_fadvise(std.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }
    let left = Rc::new(Cell::new(ops));
    let tasks: Vec<_> = (0..depth)
        .map(|t| {
            let (file, std, left) = (file.clone(), std.clone(), left.clone());
            spawn(async move {
                let mut rng = Rng(seed * 1000 + t as u64 + 1);
                while left.get() > 0 {
                    left.set(left.get() - 1);
                    let pos = rng.below(size - len as u64);
                    black_box(read_one(way, &file, &std, pos, len).await);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

#[derive(Clone, Copy, PartialEq)]
enum AppendWay {
    Appender,
    AppendBuf,
    ZeroedPerRecord,
    StdBuffered,
    PlainAligned,
}

impl AppendWay {
    fn name(self) -> &'static str {
        match self {
            Self::Appender => "Appender::append",
            Self::AppendBuf => "Appender::append_buf (ready)",
            Self::ZeroedPerRecord => "zeroed buffer per record",
            Self::StdBuffered => "std write_all + sync_data",
            Self::PlainAligned => "aligned write_at (ready buffer)",
        }
    }
}

/// Appends `count` records of `len` bytes (from `data`) to a new file at `path`, syncing after
/// every `every`; returns the bytes the file takes on disk.
async fn append_round(
    way: AppendWay,
    path: &Path,
    data: &[u8],
    len: usize,
    count: usize,
    every: usize,
) -> u64 {
    let record = |i: usize| &data[(i * 977) % (data.len() - len)..][..len];
    match way {
        AppendWay::Appender => {
            let mut log = Appender::new(DirectFile::create(path).await.unwrap());
            for i in 0..count {
                log.append(record(i)).await.unwrap();
                if (i + 1) % every == 0 {
                    log.sync().await.unwrap();
                }
            }
            log.sync().await.unwrap();
        }
        AppendWay::AppendBuf => {
            let mut log = Appender::new(DirectFile::create(path).await.unwrap());
            let mut buf = AlignedBuf::with_cap(len).unwrap();
            buf.extend(record(0)).unwrap();
            for i in 0..count {
                let BufResult(at, back) = log.append_buf(buf).await;
                at.unwrap();
                buf = back;
                if (i + 1) % every == 0 {
                    log.sync().await.unwrap();
                }
            }
            log.sync().await.unwrap();
        }
        AppendWay::ZeroedPerRecord => {
            let file = DirectFile::create(path).await.unwrap();
            let mut at = 0;
            for i in 0..count {
                let mut buf = AlignedBuf::zeroed(len.next_multiple_of(PAGE_SIZE)).unwrap();
                buf[..len].copy_from_slice(record(i));
                let padded = buf.len();
                let BufResult(n, _) = file.inner().write_at(buf, at).await;
                assert_eq!(n.unwrap(), padded);
                at += padded as u64;
                if (i + 1) % every == 0 {
                    file.sync_data().await.unwrap();
                }
            }
            file.sync_data().await.unwrap();
        }
        AppendWay::StdBuffered => {
            let mut file = std::fs::File::create(path).unwrap();
            for i in 0..count {
                file.write_all(record(i)).unwrap();
                if (i + 1) % every == 0 {
                    file.sync_data().unwrap();
                }
            }
            file.sync_data().unwrap();
        }
        AppendWay::PlainAligned => {
            let file = DirectFile::create(path).await.unwrap();
            let mut buf = AlignedBuf::with_cap(len).unwrap();
            buf.extend(record(0)).unwrap();
            for i in 0..count {
                let BufResult(n, back) = file.inner().write_at(buf, (i * len) as u64).await;
                assert_eq!(n.unwrap(), len);
                buf = back;
                if (i + 1) % every == 0 {
                    file.sync_data().await.unwrap();
                }
            }
            file.sync_data().await.unwrap();
        }
    }
    let meta = std::fs::metadata(path).unwrap();
    std::os::unix::fs::MetadataExt::blocks(&meta) * 512
}

/// Creates or grows the read file to `size` bytes of a pattern.
async fn prepare(path: &Path, size: u64) -> DirectFile {
    let mut options = compio_19::fs::OpenOptions::new();
    options.read(true).write(true).create(true);
    let file = DirectFile::open_with(path, &options).await.unwrap();
    if file.len().await.unwrap() < size {
        let chunk = 1 << 20;
        let mut buf = AlignedBuf::with_cap(chunk).unwrap();
        buf.extend(&(0..chunk).map(|i| (i % 251) as u8).collect::<Vec<_>>())
            .unwrap();
        let mut at = 0;
        while at < size {
            let BufResult(res, back) = file.write_aligned_at(buf, at).await;
            res.unwrap();
            buf = back;
            at += chunk as u64;
        }
        file.sync_data().await.unwrap();
    }
    file
}

fn main() {
    // `cargo test --all-targets` runs harness-less benches too: only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let quick = std::env::var_os("JDB_BENCH_QUICK").is_some_and(|v| v != "0");
    let path = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("direct_bench.dat"));
    let size: u64 = std::env::var("JDB_DIRECT_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256 << 20);
    // Many short rounds: the sides interleave finely, so a burst of noise from other
    // processes lands on all of them.
    let rounds = if quick { 3 } else { 21 };
    // `JDB_BENCH_FILTER=reads`, `=appends`, `=pool`, `=queue` or `=commits` runs one part.
    let filter = std::env::var("JDB_BENCH_FILTER").unwrap_or_default();

    let default_runtime = std::env::var("JDB_RUNTIME").is_ok_and(|v| v == "default");
    let runtime = if default_runtime {
        Runtime::new()
    } else {
        jdb_alloc::direct::compio19::runtime()
    };
    runtime.unwrap().block_on(async {
        let file = Rc::new(prepare(&path, size).await);
        let files = (file.clone(), Rc::new(std::fs::File::open(&path).unwrap()));
        println!(
            "{} ({} MiB, alignment {}), {rounds} rounds per side, medians, compio 0.19 ({} runtime)",
            path.display(),
            size >> 20,
            file.alignment(),
            if default_runtime { "default" } else { "compio19::runtime()" }
        );
        println!(
            "\n{:<20} {:<20} {:>9} {:>9} {:>9} {:>10} {:>9}",
            "reads", "way", "wall µs", "CPU µs", "CPU ratio", "device KiB", "read ops"
        );
        let read_cases = if "reads".contains(&filter) {
            &READS[..]
        } else {
            &[]
        };
        for &(len, depth) in read_cases {
            let ops = if quick { 300 } else { 600 } * if depth == 1 { 1 } else { 4 };
            let ways: &[ReadWay] = if depth == 1 {
                &[
                    ReadWay::Exact,
                    ReadWay::PageThenReread,
                    ReadWay::Single,
                    ReadWay::Buffered,
                ]
            } else {
                &[ReadWay::Exact, ReadWay::PageThenReread, ReadWay::Single]
            };
            let mut costs = vec![Vec::new(); ways.len()];
            for r in 0..=rounds {
                for k in 0..ways.len() {
                    let i = (k + r) % ways.len();
                    let meter = Meter::start();
                    read_round(ways[i], &files, size, len, ops, depth, r as u64 + 1).await;
                    if r > 0 {
                        costs[i].push(meter.stop());
                    }
                }
            }
            let per_op = |c: &[Cost], f: fn(&Cost) -> f64| {
                median(c.iter().map(|c| f(c) / ops as f64).collect())
            };
            let floor = per_op(&costs[2], |c| c.cpu);
            for (way, c) in ways.iter().zip(&costs) {
                let cpu = per_op(c, |c| c.cpu);
                println!(
                    "{:<20} {:<20} {:>9.1} {:>9.2} {:>9.2} {:>10.1} {:>9}",
                    format!("{} B qd{depth}", len),
                    way.name(),
                    per_op(c, |c| c.wall) * 1e6,
                    cpu * 1e6,
                    cpu / floor,
                    per_op(c, |c| c.read) / 1024.0,
                    ops,
                );
            }
        }

        let data: Vec<u8> = (0..2usize << 20).map(|i| (i * 7 % 253) as u8).collect();
        println!(
            "\n{:<22} {:<31} {:>10} {:>8} {:>10} {:>9} {:>9}",
            "appends", "way", "records/s", "vs std", "CPU s/GiB", "dev/logic", "disk/logic"
        );
        let append_cases: &[(usize, usize, usize)] = if "appends".contains(&filter) {
            &[(128, 64 * 40, 64), (1 << 20, 64, 16)]
        } else {
            &[]
        };
        for &(len, count, every) in append_cases {
            let mut ways = vec![
                AppendWay::Appender,
                AppendWay::ZeroedPerRecord,
                AppendWay::StdBuffered,
            ];
            if len >= 1 << 20 {
                ways.extend([AppendWay::AppendBuf, AppendWay::PlainAligned]);
            }
            let mut costs = vec![Vec::new(); ways.len()];
            let mut disk = vec![0; ways.len()];
            let logical = (len * count) as f64;
            for r in 0..=rounds {
                for k in 0..ways.len() {
                    let i = (k + r) % ways.len();
                    let out = path.with_extension(format!("append{i}"));
                    let meter = Meter::start();
                    disk[i] = append_round(ways[i], &out, &data, len, count, every).await;
                    let cost = meter.stop();
                    std::fs::remove_file(&out).unwrap();
                    if r > 0 {
                        costs[i].push(cost);
                    }
                }
            }
            let rate = |c: &[Cost]| median(c.iter().map(|c| count as f64 / c.wall).collect());
            let std_rate = rate(&costs[2]);
            for (i, (way, c)) in ways.iter().zip(&costs).enumerate() {
                println!(
                    "{:<22} {:<31} {:>10.0} {:>8.2} {:>10.3} {:>9.2} {:>9.2}",
                    format!("{} B, sync every {every}", len),
                    way.name(),
                    rate(c),
                    rate(c) / std_rate,
                    median(c.iter().map(|c| c.cpu / (logical / GIB)).collect()),
                    median(c.iter().map(|c| c.written / logical).collect()),
                    disk[i] as f64 / logical,
                );
            }
        }

        if "pool".contains(&filter) {
            pool_cases(&path, size, rounds, quick, &data).await;
        }
        if "queue".contains(&filter) {
            direct_queue::queue_cases(&path, rounds.min(9), quick, &data).await;
        }
        if "commits".contains(&filter) {
            direct_commit::commit_cases(&path, rounds.min(5), quick).await;
        }
    });
}

/// With a pool against without: reads at depth 32, and appends of 1 MiB records.
async fn pool_cases(path: &Path, size: u64, rounds: usize, quick: bool, data: &[u8]) {
    // Frames for the spans of unaligned 64 KiB and 256 KiB records (one page more), one per
    // task in flight; the appender's 256 KiB staging, and its 1 MiB records.
    let pool = FixedPool::new(&[(68 << 10, 32), (260 << 10, 33), (1 << 20, 2)]).unwrap();
    println!("\npool: {:?}", pool.status());
    let plain = Rc::new(prepare(path, size).await.without_pool());
    let pooled = Rc::new(prepare(path, size).await.with_pool(pool.clone()));
    // What a user gets without asking: the runtime's default pool.
    let default = Rc::new(prepare(path, size).await);
    let default_pool = default.pool().expect("the runtime's default pool").clone();
    println!(
        "default pool: {:?}, tiers {:?}",
        default_pool.status(),
        default_pool
            .stats()
            .tiers
            .iter()
            .map(|t| (t.frame_len >> 10, t.frames))
            .collect::<Vec<_>>()
    );
    let std = Rc::new(std::fs::File::open(path).unwrap());
    println!(
        "{:<24} {:<10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "case",
        "side",
        "MiB/s",
        "vs plain",
        "CPU s/GiB",
        "CPU ratio",
        "fixed ops",
        "plain ops",
        "misses"
    );
    let print = |case: &str, bytes: f64, costs: &[Vec<Cost>; 3], ops: [(u64, u64, u64); 3]| {
        let rate = |c: &[Cost]| {
            median(
                c.iter()
                    .map(|c| bytes / c.wall / (1 << 20) as f64)
                    .collect(),
            )
        };
        let cpu = |c: &[Cost]| median(c.iter().map(|c| c.cpu / (bytes / GIB)).collect());
        for (side, (c, (fixed, plain_ops, misses))) in ["no pool", "own pool", "default"]
            .into_iter()
            .zip(costs.iter().zip(ops))
        {
            println!(
                "{:<24} {:<10} {:>9.0} {:>9.2} {:>9.3} {:>9.2} {:>9} {:>9} {:>7}",
                case,
                side,
                rate(c),
                rate(c) / rate(&costs[0]),
                cpu(c),
                cpu(c) / cpu(&costs[0]),
                fixed,
                plain_ops,
                misses,
            );
        }
    };
    // Each side's pool's counters (none for the side without).
    let counters = |side: usize| {
        match side {
            1 => Some(pool.stats()),
            2 => Some(default_pool.stats()),
            _ => None,
        }
        .map_or((0, 0, 0), |s| (s.fixed_ops, s.plain_ops, s.misses))
    };
    let delta = |a: (u64, u64, u64), b: (u64, u64, u64)| (b.0 - a.0, b.1 - a.1, b.2 - a.2);

    for len in [64 << 10, 256 << 10] {
        let depth = 32;
        let ops = if quick { 1200 } else { 2400 };
        let mut costs = [Vec::new(), Vec::new(), Vec::new()];
        let mut done = [(0, 0, 0); 3];
        for r in 0..=rounds {
            for k in 0..3 {
                let i = (k + r) % 3;
                let file = [&plain, &pooled, &default][i];
                let files = (file.clone(), std.clone());
                let before = counters(i);
                let meter = Meter::start();
                read_round(ReadWay::Exact, &files, size, len, ops, depth, r as u64 + 1).await;
                let cost = meter.stop();
                if r > 0 {
                    costs[i].push(cost);
                    let d = delta(before, counters(i));
                    done[i] = (done[i].0 + d.0, done[i].1 + d.1, done[i].2 + d.2);
                }
            }
        }
        let case = format!("read {} KiB qd{depth}", len >> 10);
        print(&case, (len * ops) as f64, &costs, done);
    }

    let (len, count, every) = (1 << 20, 64, 16);
    let mut costs = [Vec::new(), Vec::new(), Vec::new()];
    let mut done = [(0, 0, 0); 3];
    for r in 0..=rounds {
        for k in 0..3 {
            let i = (k + r) % 3;
            let out = path.with_extension(format!("pool-append{i}"));
            let before = counters(i);
            let meter = Meter::start();
            let mut file = DirectFile::create(&out).await.unwrap();
            match i {
                0 => file = file.without_pool(),
                1 => file = file.with_pool(pool.clone()),
                _ => {}
            }
            let mut log = Appender::new(file);
            for n in 0..count {
                log.append(&data[(n * 977) % (data.len() - len)..][..len])
                    .await
                    .unwrap();
                if (n + 1) % every == 0 {
                    log.sync().await.unwrap();
                }
            }
            log.sync().await.unwrap();
            drop(log);
            let cost = meter.stop();
            std::fs::remove_file(&out).unwrap();
            if r > 0 {
                costs[i].push(cost);
                let d = delta(before, counters(i));
                done[i] = (done[i].0 + d.0, done[i].1 + d.1, done[i].2 + d.2);
            }
        }
    }
    print(
        &format!("append 1 MiB, sync/{every}"),
        (len * count) as f64,
        &costs,
        done,
    );
}
