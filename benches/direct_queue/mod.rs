//! The device's queue (`JDB_BENCH_FILTER=queue`): `read_many`, `Reader` and the `Appender`'s
//! write-behind against the loops of one I/O at a time a user would write, and against fio at
//! the same block size and queue depth (its `io_uring` engine, `O_DIRECT`; skipped, with a
//! message, where fio is not installed).
//!
//! - `read_many`: 1,000 ranges of 100 B-32 KiB at random in a 1 GiB file (`JDB_QUEUE_SIZE`
//!   bytes), and 1,000 clustered in 8 MiB; against a loop of `read_exact_at`, and fio replaying
//!   the same aligned reads (an iolog) at depth 32; and `read_each`, the same reads handed over
//!   as they complete, its views dropped at once (fio's way: it reuses its 32 buffers) or kept
//!   to the end (as `read_many` keeps them). Device reads and bytes come from the block
//!   device's `stat` (what reached the device, merges included).
//! - `Reader`: a scan of the whole file, with the default options and others (through the
//!   runtime's default pool, without a pool, and with a pool of 1 MiB frames on ordinary and on
//!   huge pages), against a loop of 1 MiB `read_at` and fio's sequential read at the default's
//!   block size and depth (the `vs fio` column) and of 1 MiB blocks at depth 4.
//! - Appends: 128 records of 1 MiB with a sync every 16, against a loop of plain
//!   `write_aligned_at` + `sync_data` of a ready buffer (and of one the record is copied into) and fio's sequential write (1 MiB, depth 4, `fdatasync`
//!   every 16, no preallocation); 2,560 records of 128 B with a sync every 64, with and without
//!   write-behind (`vs base`: against the plain loop for 1 MiB, against no write-behind for
//!   128 B).

use std::{
    hint::black_box,
    path::{Path, PathBuf},
    process::Command,
};

use compio_19::BufResult;
use jdb_alloc::{
    AlignedBuf, HugePages,
    direct::{
        AppenderOptions, ReadManyOptions, ReaderOptions,
        compio19::{Appender, DirectFile},
    },
    fixed::FixedPool,
};

use crate::{Meter, Rng, median, prepare};

/// The block device's `stat` file for the filesystem that holds `path`.
fn dev_stat(path: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(path).ok()?.dev();
    let stat = PathBuf::from(format!(
        "/sys/dev/block/{}:{}/stat",
        libc::major(dev),
        libc::minor(dev)
    ));
    stat.exists().then_some(stat)
}

/// Reads completed and bytes read by the device so far.
fn dev_reads(stat: &Option<PathBuf>) -> (u64, u64) {
    let Some(stat) = stat else { return (0, 0) };
    let text = std::fs::read_to_string(stat).unwrap_or_default();
    let f: Vec<u64> = text
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    (f[0], f[2] * 512)
}

/// Whether fio runs here.
fn have_fio() -> bool {
    Command::new("fio")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs fio with `args` (JSON output) and returns its job's run time in seconds.
fn fio(args: &[String]) -> f64 {
    let out = Command::new("fio")
        .args(args)
        .arg("--output-format=json")
        .output()
        .expect("fio runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "fio {args:?}: {text}");
    let at = text.find("\"job_runtime\"").expect("fio's job_runtime");
    let ms: String = text[at + 13..]
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    ms.parse::<f64>().unwrap() / 1000.0
}

/// fio's common arguments: `io_uring`, `O_DIRECT`, one job on `file`.
fn fio_base(file: &Path, depth: usize) -> Vec<String> {
    [
        "--name=ref".to_owned(),
        format!("--filename={}", file.display()),
        "--direct=1".to_owned(),
        "--ioengine=io_uring".to_owned(),
        format!("--iodepth={depth}"),
    ]
    .into()
}

/// `n` ranges of 100 B-32 KiB: anywhere in `size` bytes, or within 8 MiB at a random place.
fn ranges(rng: &mut Rng, size: u64, n: usize, clustered: bool) -> Vec<(u64, usize)> {
    let window = 8 << 20;
    let base = if clustered {
        rng.below(size - window) / 4096 * 4096
    } else {
        0
    };
    let span = if clustered { window } else { size };
    (0..n)
        .map(|_| {
            let len = 100 + rng.below((32 << 10) - 100) as usize;
            (base + rng.below(span - len as u64), len)
        })
        .collect()
}

/// An fio iolog (version 2) that reads the aligned pages covering each of `sets`' ranges.
fn iolog(file: &Path, sets: &[Vec<(u64, usize)>]) -> PathBuf {
    use std::fmt::Write;
    let name = file.display();
    let mut log = format!("fio version 2 iolog\n{name} add\n{name} open\n");
    for &(pos, len) in sets.iter().flatten() {
        let first = pos / 4096 * 4096;
        let end = (pos + len as u64).next_multiple_of(4096);
        writeln!(log, "{name} read {first} {}", end - first).unwrap();
    }
    writeln!(log, "{name} close").unwrap();
    let path = file.with_extension("iolog");
    std::fs::write(&path, log).unwrap();
    path
}

/// Median per-round figures of one side: seconds, device reads, device bytes.
struct Side {
    name: String,
    wall: Vec<f64>,
    reads: Vec<f64>,
    bytes: Vec<f64>,
}

impl Side {
    fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            wall: Vec::new(),
            reads: Vec::new(),
            bytes: Vec::new(),
        }
    }

    fn wall(&self) -> f64 {
        median(self.wall.clone())
    }
}

/// Runs the parts `JDB_QUEUE_PART` names (`read_many`, `scan`, `appends`; all by default).
pub async fn queue_cases(path: &Path, rounds: usize, quick: bool, data: &[u8]) {
    let part = std::env::var("JDB_QUEUE_PART").unwrap_or_default();
    if "read_many scan".contains(&part) {
        read_cases(path, rounds, quick, &part).await;
    }
    if "appends".contains(&part) {
        append_cases(path, rounds, data, have_fio()).await;
    }
}

/// How a `read_many` row reads its set.
enum Way {
    Many(ReadManyOptions),
    /// `read_each`, the views dropped as they come or kept to the end.
    Each {
        keep: bool,
    },
    /// One `read_exact_at` after the other.
    Loop,
}

/// `read_many` and the scans, on a file of `JDB_QUEUE_SIZE` bytes beside `path`.
async fn read_cases(path: &Path, rounds: usize, quick: bool, part: &str) {
    let size: u64 = std::env::var("JDB_QUEUE_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 30);
    let big = path.with_extension("queue");
    let file = prepare(&big, size).await;
    let stat = dev_stat(&big);
    let fio_here = have_fio();
    if !fio_here {
        println!("\nfio not found: its rows are skipped (apt-get install fio)");
    }
    println!(
        "\nqueue: {} ({} MiB), device stat {}, {rounds} rounds per side, medians",
        big.display(),
        size >> 20,
        stat.as_ref()
            .map_or("unknown".into(), |s| s.display().to_string())
    );

    // read_many: random and clustered.
    let clusters: &[bool] = if "read_many".contains(part) {
        &[false, true]
    } else {
        &[]
    };
    for &clustered in clusters {
        let case = if clustered {
            "1,000 in 8 MiB"
        } else {
            "1,000 random"
        };
        let mut ways: Vec<(Side, Way)> = vec![
            (Side::new("read_many"), Way::Many(ReadManyOptions::new())),
            (Side::new("read_exact_at loop"), Way::Loop),
            (
                Side::new("read_each, views dropped"),
                Way::Each { keep: false },
            ),
            (Side::new("read_each, views kept"), Way::Each { keep: true }),
        ];
        if clustered {
            for (name, options) in [
                ("read_many, no merge", ReadManyOptions::new().max_merged(0)),
                ("read_many, gap 0", ReadManyOptions::new().max_gap(0)),
                (
                    "read_many, gap 8 KiB",
                    ReadManyOptions::new().max_gap(8 << 10),
                ),
                (
                    "read_many, gap 128 KiB",
                    ReadManyOptions::new().max_gap(128 << 10),
                ),
            ] {
                ways.push((Side::new(name), Way::Many(options)));
            }
        } else {
            for depth in [8, 64] {
                let options = ReadManyOptions::new().depth(depth);
                ways.push((
                    Side::new(format!("read_many, depth {depth}")),
                    Way::Many(options),
                ));
            }
        }
        let mut fio_side = Side::new("fio iolog qd32");
        let mut asked = 0.0;
        for r in 0..=rounds {
            let set = ranges(&mut Rng(r as u64 * 7919 + 17), size, 1000, clustered);
            asked = set.iter().map(|r| r.1 as f64).sum();
            let n = ways.len();
            for k in 0..n {
                let (side, way) = &mut ways[(k + r) % n];
                let before = dev_reads(&stat);
                let meter = Meter::start();
                match way {
                    Way::Many(options) => {
                        let views = file.read_many_with(&set, *options).await.unwrap();
                        black_box(views.iter().map(|v| v[0]).sum::<u8>());
                    }
                    Way::Each { keep } => {
                        let mut kept = Vec::with_capacity(if *keep { set.len() } else { 0 });
                        let mut sum = 0u8;
                        file.read_each(&set, |_, view| {
                            sum = sum.wrapping_add(view[0]);
                            if *keep {
                                kept.push(view);
                            }
                            Ok(())
                        })
                        .await
                        .unwrap();
                        black_box((sum, kept));
                    }
                    Way::Loop => {
                        for &(pos, len) in &set {
                            black_box(file.read_exact_at(pos, len).await.unwrap()[0]);
                        }
                    }
                }
                let cost = meter.stop();
                let after = dev_reads(&stat);
                if r > 0 {
                    side.wall.push(cost.wall);
                    side.reads.push((after.0 - before.0) as f64);
                    side.bytes.push((after.1 - before.1) as f64);
                }
            }
            if fio_here && r > 0 {
                // Ten sets per run, so fio's millisecond clock is fine enough.
                let sets: Vec<_> = (0..10)
                    .map(|s| ranges(&mut Rng(r as u64 * 104_729 + s), size, 1000, clustered))
                    .collect();
                let log = iolog(&big, &sets);
                let mut args = fio_base(&big, 32);
                args.extend([
                    format!("--read_iolog={}", log.display()),
                    "--replay_no_stall=1".to_owned(),
                ]);
                let before = dev_reads(&stat);
                fio_side.wall.push(fio(&args) / 10.0);
                let after = dev_reads(&stat);
                fio_side.reads.push((after.0 - before.0) as f64 / 10.0);
                fio_side.bytes.push((after.1 - before.1) as f64 / 10.0);
                std::fs::remove_file(log).unwrap();
            }
        }
        println!(
            "\n{:<16} {:<24} {:>9} {:>9} {:>9} {:>12} {:>10}",
            "read_many", "way", "ms", "vs loop", "vs fio", "device reads", "device/asked"
        );
        let loop_wall = ways[1].0.wall();
        let fio_wall = (fio_here).then(|| fio_side.wall());
        let mut sides: Vec<&Side> = ways.iter().map(|w| &w.0).collect();
        if fio_here {
            sides.push(&fio_side);
        }
        for side in sides {
            println!(
                "{:<16} {:<24} {:>9.2} {:>9.2} {:>9} {:>12.0} {:>10.2}",
                case,
                side.name,
                side.wall() * 1e3,
                loop_wall / side.wall(),
                fio_wall.map_or("-".into(), |f| format!("{:.2}", side.wall() / f)),
                median(side.reads.clone()),
                median(side.bytes.clone()) / asked,
            );
        }
    }

    if !"scan".contains(part) {
        return;
    }
    // Reader: whole-file scans.
    let scan_rounds = if quick { 2 } else { rounds.min(5) };
    // The file as opened (the runtime's default pool), without a pool (recycled plain
    // buffers), and with a pool of 1 MiB frames of the bench's own, on ordinary and on huge
    // pages (32 frames: a huge-page arena is at least 32 MiB).
    let again = || async { DirectFile::open(&big).await.unwrap() };
    let files = [
        again().await,
        again().await.without_pool(),
        again()
            .await
            .with_pool(FixedPool::new(&[(1 << 20, 8)]).unwrap()),
        again()
            .await
            .with_pool(FixedPool::with_huge_pages(&[(1 << 20, 32)], HugePages::Try).unwrap()),
    ];
    let mut ways: Vec<(Side, Option<ReaderOptions>, usize)> = vec![
        (Side::new("Reader (default)"), Some(ReaderOptions::new()), 0),
        (Side::new("read_at 1 MiB loop"), None, 0),
    ];
    for (name, chunk, window, on) in [
        ("Reader 1 MiB x 4", 1 << 20, 4, 0),
        ("Reader 1 MiB x 8", 1 << 20, 8, 0),
        ("Reader 256 KiB x 4", 256 << 10, 4, 0),
        ("Reader 256 KiB x 16", 256 << 10, 16, 0),
        ("Reader 128 KiB x 32", 128 << 10, 32, 0),
        (
            "default, no pool",
            ReaderOptions::DEFAULT_CHUNK,
            ReaderOptions::DEFAULT_WINDOW,
            1,
        ),
        ("1 MiB x 4, no pool", 1 << 20, 4, 1),
        ("1 MiB x 4, 1 MiB frames", 1 << 20, 4, 2),
        ("1 MiB x 4, huge frames", 1 << 20, 4, 3),
    ] {
        let options = ReaderOptions::new().chunk(chunk).window(window);
        ways.push((Side::new(name), Some(options), on));
    }
    // fio at the default's block size and depth (the `vs fio` column), and at 1 MiB x 4.
    let (chunk, window) = (ReaderOptions::DEFAULT_CHUNK, ReaderOptions::DEFAULT_WINDOW);
    let mut fio_sides = vec![(
        Side::new(format!("fio read {} KiB qd{window}", chunk >> 10)),
        chunk,
        window,
    )];
    if (chunk, window) != (1 << 20, 4) {
        fio_sides.push((Side::new("fio read 1024 KiB qd4"), 1 << 20, 4));
    }
    for r in 0..=scan_rounds {
        let n = ways.len();
        for k in 0..n {
            let (side, options, on) = &mut ways[(k + r) % n];
            let file = &files[*on];
            let meter = Meter::start();
            let mut seen = 0u64;
            match options {
                Some(options) => {
                    let mut reader = file.reader_with(0, *options);
                    while let Some(view) = reader.next_chunk().await.unwrap() {
                        seen += view.len() as u64;
                        black_box(view[0]);
                    }
                }
                None => loop {
                    let view = file.read_at(seen, 1 << 20).await.unwrap();
                    if view.is_empty() {
                        break;
                    }
                    seen += view.len() as u64;
                    black_box(view[0]);
                },
            }
            assert_eq!(seen, size);
            if r > 0 {
                side.wall.push(meter.stop().wall);
            }
        }
        if fio_here && r > 0 {
            for (side, chunk, window) in &mut fio_sides {
                let mut args = fio_base(&big, *window);
                args.extend([
                    "--rw=read".into(),
                    format!("--bs={chunk}"),
                    format!("--size={size}"),
                ]);
                side.wall.push(fio(&args));
            }
        }
    }
    println!(
        "\n{:<16} {:<24} {:>9} {:>9} {:>9}",
        "scan", "way", "MiB/s", "vs loop", "vs fio"
    );
    let mib = size as f64 / (1 << 20) as f64;
    let loop_wall = ways[1].0.wall();
    let fio_wall = fio_here.then(|| fio_sides[0].0.wall());
    let mut sides: Vec<&Side> = ways.iter().map(|w| &w.0).collect();
    if fio_here {
        sides.extend(fio_sides.iter().map(|f| &f.0));
    }
    if let Some(stats) = files[3].pool().map(|pool| pool.stats()) {
        println!(
            "the pool of 1 MiB frames on huge pages: {:?}, {} fixed reads, {} plain",
            stats.tiers[0].status, stats.fixed_ops, stats.plain_ops
        );
    }
    for side in sides {
        println!(
            "{:<16} {:<24} {:>9.0} {:>9.2} {:>9}",
            format!("{} MiB", size >> 20),
            side.name,
            mib / side.wall(),
            loop_wall / side.wall(),
            fio_wall.map_or("-".into(), |f| format!("{:.2}", f / side.wall())),
        );
    }
}

#[derive(Clone, Copy)]
enum Write {
    /// Write-behind bound, preallocation step.
    Appender(usize, u64),
    /// Plain `write_aligned_at` of one buffer: the record copied in first, or ready.
    PlainLoop { copy: bool },
}

/// Appends of 1 MiB and 128 B records.
async fn append_cases(path: &Path, rounds: usize, data: &[u8], fio_here: bool) {
    println!(
        "\n{:<24} {:<34} {:>7} {:>9} {:>7} {:>7} {:>9}",
        "appends", "way", "MiB/s", "records/s", "vs base", "vs fio", "vs fio fa"
    );
    for (len, count, every) in [(1usize << 20, 128usize, 16usize), (128, 64 * 40, 64)] {
        let mut ways = vec![
            (
                Side::new("Appender, write-behind 1 MiB (default)"),
                Write::Appender(1 << 20, 0),
            ),
            (
                Side::new("Appender, no write-behind"),
                Write::Appender(0, 0),
            ),
        ];
        if len >= 1 << 20 {
            ways.extend([
                (
                    Side::new("plain write_aligned_at, ready"),
                    Write::PlainLoop { copy: false },
                ),
                (
                    Side::new("plain write_aligned_at, copy"),
                    Write::PlainLoop { copy: true },
                ),
                (
                    Side::new("Appender, write-behind 4 MiB"),
                    Write::Appender(4 << 20, 0),
                ),
                (
                    Side::new("Appender, 1 MiB behind, prealloc"),
                    Write::Appender(1 << 20, 64 << 20),
                ),
                (
                    Side::new("Appender, 4 MiB behind, prealloc"),
                    Write::Appender(4 << 20, 64 << 20),
                ),
                (
                    Side::new("Appender, 16 MiB behind, prealloc"),
                    Write::Appender(16 << 20, 64 << 20),
                ),
                (
                    Side::new("Appender, write-behind 16 MiB"),
                    Write::Appender(16 << 20, 0),
                ),
            ]);
        }
        // Into a file that grows at each write, and into one laid out first (as the
        // preallocating appender's).
        let mut fio_sides = [
            (Side::new("fio write 1 MiB qd4"), "none"),
            (Side::new("fio write 1 MiB qd4, fallocate"), "native"),
        ];
        let record = |i: usize| &data[(i * 977) % (data.len() - len)..][..len];
        for r in 0..=rounds {
            let n = ways.len();
            for k in 0..n {
                let (side, way) = &mut ways[(k + r) % n];
                let out = path.with_extension("queue-append");
                let meter = Meter::start();
                let file = DirectFile::create(&out).await.unwrap();
                match *way {
                    Write::Appender(behind, ahead) => {
                        let options = AppenderOptions::new()
                            .write_behind(behind)
                            .preallocate(ahead);
                        let mut log = Appender::with_options(file, options);
                        for i in 0..count {
                            log.append(record(i)).await.unwrap();
                            if (i + 1) % every == 0 {
                                log.sync().await.unwrap();
                            }
                        }
                        log.finish().await.unwrap();
                    }
                    Write::PlainLoop { copy } => {
                        let mut buf = AlignedBuf::with_cap(len).unwrap();
                        buf.extend(record(0)).unwrap();
                        for i in 0..count {
                            if copy {
                                // The copy `append` makes of a `&[u8]` record.
                                buf.clear();
                                buf.extend(record(i)).unwrap();
                            }
                            let BufResult(res, back) =
                                file.write_aligned_at(buf, (i * len) as u64).await;
                            res.unwrap();
                            buf = back;
                            if (i + 1) % every == 0 {
                                file.sync_data().await.unwrap();
                            }
                        }
                        file.sync_data().await.unwrap();
                    }
                }
                let cost = meter.stop();
                std::fs::remove_file(&out).unwrap();
                if r > 0 {
                    side.wall.push(cost.wall);
                }
            }
            if fio_here && r > 0 && len >= 1 << 20 {
                for (side, fallocate) in &mut fio_sides {
                    let out = path.with_extension("queue-fio");
                    let mut args = fio_base(&out, 4);
                    args.extend([
                        "--rw=write".into(),
                        "--bs=1M".into(),
                        format!("--size={}", len * count),
                        format!("--fdatasync={every}"),
                        "--end_fsync=1".into(),
                        format!("--fallocate={fallocate}"),
                    ]);
                    side.wall.push(fio(&args));
                    std::fs::remove_file(&out).unwrap();
                }
            }
        }
        // The base: the plain loop (1 MiB), or the appender without write-behind (128 B).
        let plain = ways
            .iter()
            .find(|w| matches!(w.1, Write::PlainLoop { copy: false }))
            .or(ways.get(1))
            .map(|w| w.0.wall());
        let fio_walls =
            (fio_here && len >= 1 << 20).then(|| [fio_sides[0].0.wall(), fio_sides[1].0.wall()]);
        let mut sides: Vec<&Side> = ways.iter().map(|w| &w.0).collect();
        if fio_walls.is_some() {
            sides.extend(fio_sides.iter().map(|f| &f.0));
        }
        let bytes = (len * count) as f64;
        for side in sides {
            let wall = side.wall();
            println!(
                "{:<24} {:<34} {:>7.0} {:>9.0} {:>7} {:>7} {:>9}",
                format!("{len} B, sync every {every}"),
                side.name,
                bytes / wall / (1 << 20) as f64,
                count as f64 / wall,
                plain.map_or("-".into(), |p| format!("{:.2}", p / wall)),
                fio_walls.map_or("-".into(), |f| format!("{:.2}", f[0] / wall)),
                fio_walls.map_or("-".into(), |f| format!("{:.2}", f[1] / wall)),
            );
        }
    }
}
