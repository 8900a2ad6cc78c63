//! Fixed frames (io_uring registered buffers) against plain frames on one compio 0.19 runtime,
//! `O_DIRECT` random reads and writes of a file or block device given by path:
//!
//! ```text
//! cargo bench --features compio-19 --bench fixed -- /mnt/loop/bench.dat
//! ```
//!
//! Without a path it uses a file under the target directory. A regular file is grown to
//! `JDB_FIXED_SIZE` bytes (default 1 GiB) and filled once. For each request size and queue
//! depth, plain and fixed rounds alternate (so noise from other processes hits both); each round
//! moves `JDB_FIXED_ROUND` bytes (default 256 MiB) at random aligned offsets. Printed: medians of
//! throughput and of process CPU time (user + system, `getrusage`) per GiB moved, and the ratio
//! fixed / plain. Three sides: plain frames through compio's `read_at` / `write_at`, fixed frames
//! whose registration is not in effect ("unreg": this crate's operation doing the plain request,
//! which tells its own cost from compio's), and registered fixed frames. `JDB_BENCH_QUICK=1` runs
//! fewer, smaller rounds.

use std::{
    cell::Cell,
    path::PathBuf,
    rc::Rc,
    time::{Duration, Instant},
};

use compio_19::{
    BufResult,
    fs::{File, OpenOptions},
    io::{AsyncReadAt, AsyncWriteAt},
    runtime::{Runtime, spawn},
};
use jdb_alloc::{
    AlignedBuf, Frame,
    fixed::{FixedFrame, FixedStatus, compio19},
};

const GIB: f64 = (1u64 << 30) as f64;

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

/// Random request offsets: xorshift, aligned to the request size, inside the file.
struct Offsets(u64);

impl Offsets {
    fn next(&mut self, blocks: u64, bs: usize) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % blocks) * bs as u64
    }
}

#[derive(Clone, Copy)]
enum Dir {
    Read,
    Write,
}

/// One round: a task per frame (the queue depth), `ops` requests of `bs` bytes in all.
/// Returns the frames for the next round.
async fn round(
    file: &File,
    dir: Dir,
    bs: usize,
    ops: usize,
    blocks: u64,
    frames: Vec<Slot>,
    seed: u64,
) -> Vec<Slot> {
    let left = Rc::new(Cell::new(ops));
    let tasks: Vec<_> = frames
        .into_iter()
        .enumerate()
        .map(|(t, mut frame)| {
            let (file, left) = (file.clone(), Rc::clone(&left));
            spawn(async move {
                let mut rng = Offsets(seed ^ ((t as u64 + 1) * 0x9e37_79b9_7f4a_7c15));
                while left.get() > 0 {
                    left.set(left.get() - 1);
                    let (n, back) = frame.io(&file, dir, rng.next(blocks, bs)).await;
                    assert_eq!(n.unwrap(), bs);
                    frame = back;
                }
                frame
            })
        })
        .collect();
    let mut back = Vec::new();
    for task in tasks {
        back.push(task.await.unwrap());
    }
    back
}

/// A frame of one of the sides.
enum Slot {
    Plain(Frame),
    Fixed(FixedFrame),
}

impl Slot {
    /// One request: a read into the whole frame or a write of all of it.
    async fn io(self, file: &File, dir: Dir, pos: u64) -> (std::io::Result<usize>, Slot) {
        let mut file = file.clone();
        match (self, dir) {
            (Slot::Plain(mut frame), Dir::Read) => {
                frame.clear();
                let BufResult(n, frame) = file.read_at(frame, pos).await;
                (n, Slot::Plain(frame))
            }
            (Slot::Plain(frame), Dir::Write) => {
                let BufResult(n, frame) = file.write_at(frame, pos).await;
                (n, Slot::Plain(frame))
            }
            (Slot::Fixed(mut frame), Dir::Read) => {
                frame.clear();
                let BufResult(n, frame) = compio19::read_fixed_at(&file, frame, pos).await;
                (n, Slot::Fixed(frame))
            }
            (Slot::Fixed(frame), Dir::Write) => {
                let BufResult(n, frame) = compio19::write_fixed_at(&file, frame, pos).await;
                (n, Slot::Fixed(frame))
            }
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fixed_bench.dat"));
    let size = env_usize("JDB_FIXED_SIZE", 1 << 30);
    let round_bytes = env_usize("JDB_FIXED_ROUND", if quick { 64 << 20 } else { 256 << 20 });
    let rounds = if quick { 3 } else { 11 };

    Runtime::new().unwrap().block_on(async {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .custom_flags(libc::O_DIRECT)
            .open(&path)
            .await
            .unwrap();
        let len = prepare(&file, &path, size).await;
        println!(
            "{} ({} MiB), {} MiB per round, {rounds} rounds per side, compio 0.19",
            path.display(),
            len >> 20,
            round_bytes >> 20
        );
        println!(
            "{:<22} {:>11} {:>11} {:>7} {:>11} {:>11} {:>11} {:>7}",
            "case",
            "plain MiB/s",
            "fixed MiB/s",
            "ratio",
            "plain s/GiB",
            "unreg s/GiB",
            "fixed s/GiB",
            "ratio"
        );
        let cases: &[(usize, usize)] = &[
            (4 << 10, 32),
            (64 << 10, 32),
            (256 << 10, 32),
            (256 << 10, 16),
            (256 << 10, 1),
        ];
        for dir in [Dir::Read, Dir::Write] {
            for &(bs, depth) in cases {
                let blocks = (len / bs) as u64;
                // 4 KiB rounds move less: the same number of requests matters more than bytes.
                let bytes = if bs < 64 << 10 {
                    round_bytes / 4
                } else {
                    round_bytes
                };
                let bytes = if depth == 1 { bytes / 4 } else { bytes };
                let ops = bytes / bs;
                let plain_frames: Vec<Frame> = AlignedBuf::zeroed(depth * bs)
                    .unwrap()
                    .into_frames(bs)
                    .unwrap()
                    .collect();
                let fixed_frames =
                    compio19::register(AlignedBuf::zeroed(depth * bs).unwrap(), bs).unwrap();
                assert_eq!(fixed_frames.status(), FixedStatus::Registered);
                // Fixed frames whose registration is not in effect: this crate's operation doing
                // the plain read or write, to tell its own cost from compio's.
                let unregistered = std::thread::spawn(move || {
                    let frames =
                        compio19::register(AlignedBuf::zeroed(depth * bs).unwrap(), bs).unwrap();
                    assert_eq!(frames.status(), FixedStatus::NoRuntime);
                    frames.collect::<Vec<FixedFrame>>()
                })
                .join()
                .unwrap();
                let mut sides = [
                    (Some(plain_frames.into_iter().map(Slot::Plain).collect()), vec![], vec![]),
                    (Some(unregistered.into_iter().map(Slot::Fixed).collect()), vec![], vec![]),
                    (Some(fixed_frames.map(Slot::Fixed).collect()), vec![], vec![]),
                ];
                // Warm-up, then rotate the order: P U F, U F P, F P U, ...
                for r in 0..=rounds {
                    for k in 0..3 {
                        let i = (k + r) % 3;
                        let (frames, mib_s, cpu) = &mut sides[i];
                        let seed = r as u64 * 3 + i as u64 + 1;
                        let (t0, c0) = (Instant::now(), cpu_time());
                        let back =
                            round(&file, dir, bs, ops, blocks, frames.take().unwrap(), seed).await;
                        let (wall, used) = (t0.elapsed(), cpu_time() - c0);
                        *frames = Some(back);
                        if r > 0 {
                            let moved = (ops * bs) as f64;
                            mib_s.push(moved / (1 << 20) as f64 / wall.as_secs_f64());
                            cpu.push(used.as_secs_f64() / (moved / GIB));
                        }
                    }
                }
                let [plain, unreg, fixed] = &mut sides;
                let (pt, ft) = (median(&mut plain.1), median(&mut fixed.1));
                let (pc, uc, fc) = (
                    median(&mut plain.2),
                    median(&mut unreg.2),
                    median(&mut fixed.2),
                );
                let name = format!(
                    "{} {:>3} KiB qd{depth}",
                    match dir {
                        Dir::Read => "randread",
                        Dir::Write => "randwrite",
                    },
                    bs >> 10
                );
                println!(
                    "{name:<22} {pt:>11.0} {ft:>11.0} {:>7.2} {pc:>11.4} {uc:>11.4} {fc:>11.4} {:>7.2}",
                    ft / pt,
                    fc / pc
                );
            }
        }
    });
}

/// The file's usable length: a regular file is grown to `size` and written through once (so
/// reads hit allocated blocks); a block device is used as it is.
async fn prepare(file: &File, path: &std::path::Path, size: usize) -> usize {
    let meta = std::fs::metadata(path).unwrap();
    if !meta.is_file() {
        let mut f = std::fs::File::open(path).unwrap();
        return std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0)).unwrap() as usize;
    }
    if meta.len() as usize >= size {
        return size;
    }
    const CHUNK: usize = 4 << 20;
    let mut buf = AlignedBuf::zeroed(CHUNK).unwrap();
    buf.iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = (i % 251) as u8);
    let mut file = file.clone();
    for pos in (0..size).step_by(CHUNK) {
        let BufResult(n, back) = file.write_at(buf, pos as u64).await;
        assert_eq!(n.unwrap(), CHUNK);
        buf = back;
    }
    size
}
