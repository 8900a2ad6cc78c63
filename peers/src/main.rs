//! The same Direct I/O work with this crate (`jdb_alloc::direct::compio19`), glommio 0.9 and
//! tokio-uring 0.5, on the same file and the same offsets, sides interleaved over several
//! rounds; prints the medians, ours / best peer, and the median of ours / the round's best
//! peer (lower is better for us).
//!
//! `cargo run --release -- [--quick] [--rounds N]`; `--help` for more.

use std::{
    cell::Cell,
    fmt::Display,
    fs,
    io::{Read, Write},
    path::{Path, PathBuf},
    rc::Rc,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures_lite::AsyncWriteExt;
use jdb_alloc::direct::{
    ReadManyOptions, ReaderOptions,
    compio19::{Appender, DirectFile},
};

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;
/// The data file every read case reads: 1 GiB of [`word`]s.
const FILE_LEN: u64 = 1 << 30;
/// Offsets and buffers are aligned to this (the page; every side's O_DIRECT alignment here).
const ALIGN: usize = 4096;
/// Reads in flight in the depth-32 cases.
const DEPTH: usize = 32;
/// The scan reads 1 MiB at a time with 4 reads in flight, on every side.
const SCAN_CHUNK: usize = MIB;
const SCAN_AHEAD: usize = 4;
/// Appends: an `fdatasync` every this many records.
const SYNC_EVERY: usize = 64;

type Res<T> = Result<T, String>;

/// `map_err` helper: the error with what was being done.
fn ctx<E: Display>(what: impl Display) -> impl FnOnce(E) -> String {
    move |e| format!("{what}: {e}")
}

const USAGE: &str = "\
peers: the same Direct I/O work with jdb_alloc (compio 0.19), glommio 0.9 and tokio-uring 0.5

usage: cargo run --release -- [--quick] [--rounds N]

  --quick      fewer reads and records per case and 3 rounds (about a quarter of the time)
  --rounds N   rounds per case (default 9, or 3 with --quick); the sides alternate within a
               round and the table gives each side's median over the rounds, ours over the
               best peer's median, and (paired) the median of ours over the round's best peer
  --only TEXT  only the cases whose name contains TEXT
  --help       this text

The data file (1 GiB, made once and reused) and the append files are under peers/target/peers/.
Every read's bytes are checked against the file's pattern and every appended file is read back,
so a side that reads or writes wrong bytes fails instead of winning.";

struct Args {
    quick: bool,
    rounds: usize,
    only: Option<String>,
}

fn parse_args() -> Res<Option<Args>> {
    let mut quick = false;
    let mut rounds = None;
    let mut only = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--quick" => quick = true,
            "--rounds" => {
                let n = it.next().ok_or("--rounds needs a number")?;
                let n: usize = n
                    .parse()
                    .map_err(|e| format!("--rounds {n:?}: not a count ({e})"))?;
                if n == 0 {
                    return Err("--rounds 0: at least one round is needed".into());
                }
                rounds = Some(n);
            }
            "--only" => only = Some(it.next().ok_or("--only needs the text of a case name")?),
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    let rounds = rounds.unwrap_or(if quick { 3 } else { 9 });
    Ok(Some(Args {
        quick,
        rounds,
        only,
    }))
}

fn main() {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// The file's content, and the check of every read.

/// The 8 bytes at offset `pos` (a multiple of 8) of the data file, little endian: distinct for
/// every offset, so a read of the wrong place, a stale buffer or zeros fail the check.
fn word(pos: u64) -> u64 {
    (pos ^ 0x9e37_79b9_7f4a_7c15).rotate_left(23)
}

/// Checks that `bytes` are the data file's bytes at `pos` (both multiples of 8).
fn check(bytes: &[u8], pos: u64) -> Res<()> {
    if !pos.is_multiple_of(8) || !bytes.len().is_multiple_of(8) {
        return Err(format!("check({pos}, {}): not whole words", bytes.len()));
    }
    // No early exit, so the loop vectorises; the first bad word is looked for only on failure.
    let bad = bytes.chunks_exact(8).enumerate().fold(0u64, |acc, (i, w)| {
        acc | (u64::from_le_bytes(w.try_into().expect("8 bytes")) ^ word(pos + 8 * i as u64))
    });
    if bad == 0 {
        return Ok(());
    }
    let i = bytes
        .chunks_exact(8)
        .enumerate()
        .position(|(i, w)| u64::from_le_bytes(w.try_into().expect("8")) != word(pos + 8 * i as u64))
        .unwrap_or(0);
    Err(format!(
        "wrong bytes at offset {} (a read of {} bytes at {pos})",
        pos + 8 * i as u64,
        bytes.len()
    ))
}

/// Checks a read of `len` bytes at `pos` that gave `bytes`.
fn check_read(bytes: &[u8], pos: u64, len: usize) -> Res<()> {
    if bytes.len() != len {
        return Err(format!(
            "read of {len} bytes at {pos} gave {} bytes",
            bytes.len()
        ));
    }
    check(bytes, pos)
}

/// Makes the data file unless it is there already with the right length and content at a few
/// places (a full check would read the whole GiB at every start).
fn data_file(dir: &Path) -> Res<PathBuf> {
    let path = dir.join("data-1g.bin");
    if let Ok(mut f) = fs::File::open(&path) {
        let len = f.metadata().map_err(ctx("stat the data file"))?.len();
        let mut ok = len == FILE_LEN;
        for pos in [0, FILE_LEN / 2 + 4096 * 7, FILE_LEN - 4096] {
            if !ok {
                break;
            }
            let mut buf = vec![0u8; 4096];
            use std::io::Seek;
            ok = f.seek(std::io::SeekFrom::Start(pos)).is_ok()
                && f.read_exact(&mut buf).is_ok()
                && check(&buf, pos).is_ok();
        }
        if ok {
            return Ok(path);
        }
        println!(
            "data file {} is not as expected: making it again",
            path.display()
        );
    }
    println!("making the data file {} (1 GiB, once)", path.display());
    let tmp = dir.join("data-1g.bin.part");
    let mut f = fs::File::create(&tmp).map_err(ctx(format!("create {}", tmp.display())))?;
    let mut chunk = vec![0u8; 8 * MIB];
    for base in (0..FILE_LEN).step_by(chunk.len()) {
        for (i, w) in chunk.chunks_exact_mut(8).enumerate() {
            w.copy_from_slice(&word(base + 8 * i as u64).to_le_bytes());
        }
        f.write_all(&chunk).map_err(ctx("write the data file"))?;
    }
    f.sync_all().map_err(ctx("sync the data file"))?;
    fs::rename(&tmp, &path).map_err(ctx("rename the data file"))?;
    Ok(path)
}

/// splitmix64: the same offsets for every side of a case, and the same in every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `count` random offsets, multiples of [`ALIGN`], of reads of `len` bytes in the data file.
fn offsets(count: usize, len: usize, seed: u64) -> Vec<u64> {
    let slots = (FILE_LEN - len as u64) / ALIGN as u64 + 1;
    let mut rng = Rng(seed);
    (0..count)
        .map(|_| rng.next() % slots * ALIGN as u64)
        .collect()
}

/// Record `i` of an append case, `len` bytes: its index, then a pattern of its length.
fn fill_record(rec: &mut [u8], i: u64) {
    let n = rec.len().min(8);
    rec[..n].copy_from_slice(&i.to_le_bytes()[..n]);
}

fn new_record(len: usize) -> Vec<u8> {
    (0..len).map(|j| (j % 251) as u8 ^ 0xa5).collect()
}

/// Reads an appended file back (buffered, not timed) and checks its length and every record.
fn verify_appended(path: &Path, rec_len: usize, count: usize) -> Res<()> {
    let bytes = fs::read(path).map_err(ctx(format!("read back {}", path.display())))?;
    let want = rec_len * count;
    if bytes.len() != want {
        return Err(format!(
            "appended file is {} bytes, {want} expected ({count} records of {rec_len})",
            bytes.len()
        ));
    }
    let mut rec = new_record(rec_len);
    for (i, got) in bytes.chunks_exact(rec_len).enumerate() {
        fill_record(&mut rec, i as u64);
        if got != &rec[..] {
            return Err(format!("appended record {i} (of {rec_len} bytes) is wrong"));
        }
    }
    Ok(())
}

/// Checks an appended file and removes it, whether it was right or not.
fn finish_append(path: &Path, rec_len: usize, count: usize) -> Res<()> {
    let checked = verify_appended(path, rec_len, count);
    let removed = fs::remove_file(path).map_err(ctx(format!("remove {}", path.display())));
    checked.and(removed)
}

// ---------------------------------------------------------------------------------------------
// Cases.

#[derive(Clone)]
enum Work {
    /// Reads of `len` bytes at `offsets`.
    Reads { len: usize, offsets: Arc<Vec<u64>> },
    /// The whole data file front to back.
    Scan,
    /// `count` records of `len` bytes, an fdatasync every [`SYNC_EVERY`].
    Append { len: usize, count: usize },
}

/// How the work is driven.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Way {
    /// One read at a time.
    Depth1,
    /// The library's batch read (ours `read_each`, glommio `read_many`), 32 in flight.
    Batch,
    /// 32 tasks, each one read at a time.
    Tasks,
    /// The library's sequential reader / writer.
    Stream,
}

struct Case {
    name: String,
    work: Work,
    way: Way,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Ours,
    Glommio,
    TokioUring,
}

const SIDES: [Side; 3] = [Side::Ours, Side::Glommio, Side::TokioUring];

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Ours => "ours",
            Side::Glommio => "glommio",
            Side::TokioUring => "tokio-uring",
        }
    }
}

/// What one side's run of one case gave.
struct Outcome {
    took: Duration,
    /// Something worth printing beside the figure (our pool's counters).
    note: Option<String>,
}

impl Outcome {
    fn plain(took: Duration) -> Self {
        Outcome { took, note: None }
    }
}

fn cases(quick: bool) -> Vec<Case> {
    let div = if quick { 4 } else { 1 };
    let mut cases = Vec::new();
    for (len, d1, d32) in [(4 * KIB, 2000, 8000), (64 * KIB, 1000, 4000)] {
        let kib = len / KIB;
        let one = Arc::new(offsets(d1 / div, len, 1 + kib as u64));
        let many = Arc::new(offsets(d32 / div, len, 100 + kib as u64));
        cases.push(Case {
            name: format!("{kib} KiB random, depth 1 ({} reads)", one.len()),
            work: Work::Reads { len, offsets: one },
            way: Way::Depth1,
        });
        cases.push(Case {
            name: format!(
                "{kib} KiB random, depth 32, batch read ({} reads)",
                many.len()
            ),
            work: Work::Reads {
                len,
                offsets: many.clone(),
            },
            way: Way::Batch,
        });
        cases.push(Case {
            name: format!(
                "{kib} KiB random, depth 32, 32 tasks ({} reads)",
                many.len()
            ),
            work: Work::Reads { len, offsets: many },
            way: Way::Tasks,
        });
    }
    cases.push(Case {
        name: "1 GiB sequential scan, 1 MiB x 4 ahead".into(),
        work: Work::Scan,
        way: Way::Stream,
    });
    for (len, count) in [(128, 64 * 512), (MIB, 256)] {
        let count = count / div;
        let what = if len < KIB {
            format!("{len} B")
        } else {
            format!("{} MiB", len / MIB)
        };
        cases.push(Case {
            name: format!("append {count} x {what}, fdatasync every {SYNC_EVERY}"),
            work: Work::Append { len, count },
            way: Way::Stream,
        });
    }
    cases
}

/// Why a side has no figure for a way, where it has no such API.
fn unsupported(side: Side, way: Way) -> Option<&'static str> {
    (side == Side::TokioUring && way == Way::Batch)
        .then_some("tokio-uring 0.5 has no batch read; its 32 tasks are the next row")
}

// ---------------------------------------------------------------------------------------------
// The environment.

struct Env {
    data: PathBuf,
    dir: PathBuf,
    /// glommio's `io_memory` (registered with each of its three rings), `None` for its default.
    glommio_io_memory: Option<usize>,
    /// Append files get distinct names.
    serial: AtomicU64,
}

impl Env {
    fn append_path(&self, side: Side) -> PathBuf {
        let n = self.serial.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("append-{}-{n}.log", side.name()))
    }
}

/// Whether this process has CAP_IPC_LOCK (then io_uring does not count registered memory
/// against RLIMIT_MEMLOCK).
fn has_ipc_lock() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << 14) != 0)
}

/// Raises RLIMIT_MEMLOCK's soft limit to the hard one; says what the limit is and how glommio's
/// registered memory is sized to fit it.
fn memlock() -> (String, Option<usize>) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Memlock);
    let show = |v: Option<u64>| v.map_or("unlimited".to_string(), |b| format!("{} KiB", b >> 10));
    let mut note = format!(
        "RLIMIT_MEMLOCK soft {} hard {}",
        show(limit.current),
        show(limit.maximum)
    );
    if limit.current != limit.maximum {
        let mut raised = limit;
        raised.current = limit.maximum;
        match setrlimit(Resource::Memlock, raised) {
            Ok(()) => note.push_str(&format!(", soft raised to {}", show(limit.maximum))),
            Err(e) => note.push_str(&format!(", raising the soft limit failed: {e}")),
        }
    }
    let ipc_lock = has_ipc_lock();
    let io_memory = match limit.maximum {
        // io_uring counts each ring's registration: glommio registers its io_memory with three.
        Some(hard) if !ipc_lock => {
            let third = (hard as usize / 3) / (64 * KIB) * (64 * KIB);
            Some(third.clamp(64 * KIB, 10 * MIB))
        }
        _ => None,
    };
    note.push_str(if ipc_lock {
        "; CAP_IPC_LOCK held (registered buffers are not counted against it)"
    } else {
        "; no CAP_IPC_LOCK"
    });
    match io_memory {
        Some(b) => note.push_str(&format!(", glommio io_memory {} KiB (x3 rings)", b >> 10)),
        None => note.push_str(", glommio io_memory its default (10 MiB)"),
    }
    (note, io_memory)
}

/// Prints glommio's (and anyone's) warnings: glommio reports a refused buffer registration
/// only as a `log` warning, and then does plain I/O.
struct Warnings;

impl log::Log for Warnings {
    fn enabled(&self, meta: &log::Metadata) -> bool {
        meta.level() <= log::Level::Warn
    }
    /// The first message of each target is printed, the rest counted (glommio logs the same
    /// probe failure for every file it creates).
    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        match seen.iter_mut().find(|(t, _)| t == record.target()) {
            Some((_, n)) => *n += 1,
            None => {
                seen.push((record.target().to_string(), 0));
                eprintln!(
                    "[{} {}] {} (further messages of {0} {1} counted at the end)",
                    record.level(),
                    record.target(),
                    record.args()
                );
            }
        }
    }
    fn flush(&self) {}
}

static WARNINGS: Warnings = Warnings;
/// Per log target: the messages after the first.
static SEEN: std::sync::Mutex<Vec<(String, usize)>> = std::sync::Mutex::new(Vec::new());

fn machine() -> String {
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("Linux {}, {cpus} CPUs ({cpu})", kernel.trim())
}

// ---------------------------------------------------------------------------------------------
// Running.

/// Runs `f` on a thread of its own (each side makes its runtime there, and drops it before the
/// next side starts); a panic is an error.
fn on_thread<T: Send + 'static>(name: &str, f: impl FnOnce() -> Res<T> + Send + 'static) -> Res<T> {
    let handle = std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(ctx("spawn a thread"))?;
    match handle.join() {
        Ok(res) => res,
        Err(panic) => Err(format!(
            "panicked: {}",
            panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)")
        )),
    }
}

fn run_side(env: &Arc<Env>, side: Side, case: &Case) -> Res<Outcome> {
    let (env, work, way) = (env.clone(), case.work.clone(), case.way);
    on_thread(side.name(), move || match side {
        Side::Ours => ours::run(&env, &work, way),
        Side::Glommio => peer_glommio::run(&env, &work, way),
        Side::TokioUring => peer_tokio_uring::run(&env, &work, way),
    })
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort_unstable();
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    }
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else {
        format!("{ms:.1}")
    }
}

/// One side's cell: the median, or why there is none.
enum Figure {
    Median(Duration),
    NotApplicable(&'static str),
    Failed(String),
}

fn run(args: &Args) -> Res<()> {
    let _ = log::set_logger(&WARNINGS).map(|()| log::set_max_level(log::LevelFilter::Warn));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers");
    fs::create_dir_all(&dir).map_err(ctx(format!("create {}", dir.display())))?;
    let (limits, glommio_io_memory) = memlock();
    println!("{}", machine());
    println!("{limits}");
    let data = data_file(&dir)?;
    println!(
        "data: {}; {} rounds per case, sides interleaved (order rotated each round), medians; ms per case, lower is better",
        data.display(),
        args.rounds
    );
    let env = Arc::new(Env {
        data,
        dir,
        glommio_io_memory,
        serial: AtomicU64::new(0),
    });

    let started = Instant::now();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let only = |case: &Case| {
        args.only
            .as_ref()
            .is_none_or(|t| case.name.contains(t.as_str()))
    };
    for case in cases(args.quick).into_iter().filter(only) {
        let mut times: [Vec<Duration>; 3] = Default::default();
        let mut errors: [Option<String>; 3] = Default::default();
        for round in 0..args.rounds {
            for k in 0..SIDES.len() {
                let s = (round + k) % SIDES.len();
                let side = SIDES[s];
                if unsupported(side, case.way).is_some() || errors[s].is_some() {
                    continue;
                }
                match run_side(&env, side, &case) {
                    Ok(out) => {
                        times[s].push(out.took);
                        if let (Some(note), true) = (out.note, round + 1 == args.rounds) {
                            notes.push(format!("{}: {}: {note}", case.name, side.name()));
                        }
                    }
                    Err(e) => {
                        eprintln!("{}: {} failed: {e}", case.name, side.name());
                        errors[s] = Some(e);
                    }
                }
            }
        }
        let paired = paired_ratio(&times, args.rounds);
        let cells: Vec<Figure> = (0..SIDES.len())
            .map(|s| {
                if let Some(why) = unsupported(SIDES[s], case.way) {
                    Figure::NotApplicable(why)
                } else if let Some(e) = errors[s].take() {
                    Figure::Failed(e)
                } else {
                    Figure::Median(median(&mut times[s]))
                }
            })
            .collect();
        print_row(&case.name, &cells, paired, rows.is_empty());
        rows.push((case.name, cells));
    }
    println!("\n(all cases in {:.1} s)", started.elapsed().as_secs_f64());
    for note in &notes {
        println!("note: {note}");
    }
    for (target, n) in SEEN.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        if *n > 0 {
            println!("log: {n} more warnings or errors from {target}");
        }
    }
    let mut failed = false;
    for (name, cells) in &rows {
        for (s, cell) in cells.iter().enumerate() {
            match cell {
                Figure::Failed(e) => {
                    failed = true;
                    println!("FAILED {name}: {}: {e}", SIDES[s].name());
                }
                Figure::NotApplicable(why) => println!("n/a {name}: {}: {why}", SIDES[s].name()),
                Figure::Median(_) => {}
            }
        }
    }
    if failed {
        return Err("some sides failed (above)".into());
    }
    Ok(())
}

/// The median over the rounds of ours / the best peer of the same round, where ours and a
/// peer ran every round. The sides of a round run back to back, so a slow minute of the
/// machine weighs on all of them alike; the ratio of the medians can pair one side's quiet
/// rounds with another's loaded ones.
fn paired_ratio(times: &[Vec<Duration>; 3], rounds: usize) -> Option<f64> {
    if times[0].len() != rounds {
        return None;
    }
    let peers: Vec<&Vec<Duration>> = times[1..].iter().filter(|t| t.len() == rounds).collect();
    let mut ratios: Vec<f64> = (0..rounds)
        .map(|r| {
            let best = peers.iter().map(|t| t[r]).min()?;
            Some(times[0][r].as_secs_f64() / best.as_secs_f64())
        })
        .collect::<Option<_>>()?;
    ratios.sort_unstable_by(f64::total_cmp);
    let n = ratios.len();
    Some(if n % 2 == 1 {
        ratios[n / 2]
    } else {
        (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0
    })
}

fn print_row(name: &str, cells: &[Figure], paired: Option<f64>, header: bool) {
    if header {
        println!(
            "\n{:<52} {:>9} {:>9} {:>11} {:>10} {:>7}",
            "case", "ours", "glommio", "tokio-uring", "ours/best", "paired"
        );
    }
    let show = |c: &Figure| match c {
        Figure::Median(d) => ms(*d),
        Figure::NotApplicable(_) => "n/a".into(),
        Figure::Failed(_) => "FAILED".into(),
    };
    let time = |c: &Figure| match c {
        Figure::Median(d) => Some(*d),
        _ => None,
    };
    let best_peer = cells[1..].iter().filter_map(time).min();
    let ratio = match (time(&cells[0]), best_peer) {
        (Some(ours), Some(best)) => format!("{:.2}", ours.as_secs_f64() / best.as_secs_f64()),
        _ => "-".into(),
    };
    let paired = paired.map_or_else(|| "-".into(), |r| format!("{r:.2}"));
    println!(
        "{name:<52} {:>9} {:>9} {:>11} {ratio:>10} {paired:>7}",
        show(&cells[0]),
        show(&cells[1]),
        show(&cells[2])
    );
}

// ---------------------------------------------------------------------------------------------
// This crate: jdb_alloc::direct::compio19 on the compio 0.19 runtime it builds (its ring set
// up with COOP_TASKRUN: `compio19::runtime`).

mod ours {
    use super::*;

    pub fn run(env: &Env, work: &Work, way: Way) -> Res<Outcome> {
        let rt = jdb_alloc::direct::compio19::runtime().map_err(ctx("compio runtime"))?;
        rt.block_on(async {
            match work {
                Work::Reads { len, offsets } => reads(env, *len, offsets.clone(), way).await,
                Work::Scan => scan(env).await,
                Work::Append { len, count } => append(env, *len, *count).await,
            }
        })
    }

    /// Our default pool's counters over the run (the runtime, and so the pool, is new).
    fn pool_note(file: &DirectFile) -> Option<String> {
        file.pool().map(|pool| {
            let s = pool.stats();
            format!(
                "default pool: {} fixed ops, {} plain ops, {} misses",
                s.fixed_ops, s.plain_ops, s.misses
            )
        })
    }

    async fn reads(env: &Env, len: usize, offsets: Arc<Vec<u64>>, way: Way) -> Res<Outcome> {
        let file = DirectFile::open(&env.data)
            .await
            .map_err(ctx("open the data file"))?;
        let ranges: Vec<(u64, usize)> = offsets.iter().map(|&p| (p, len)).collect();
        let started = Instant::now();
        match way {
            Way::Depth1 => {
                for &pos in offsets.iter() {
                    let view = file
                        .read_exact_at(pos, len)
                        .await
                        .map_err(ctx("read_exact_at"))?;
                    check_read(&view, pos, len)?;
                }
            }
            Way::Batch => {
                // Merging only touching pages, as glommio's read_many does by default: the
                // same reads reach the device on both sides.
                // Each view is checked and dropped as its read completes, as glommio's
                // read_many stream hands them out (`read_many`, which returns them all at
                // once, holds every buffer until then).
                let options = ReadManyOptions::new().max_gap(0).depth(DEPTH);
                let mut given = 0;
                file.read_each_with(&ranges, options, |i, view| {
                    let (pos, len) = ranges[i];
                    given += 1;
                    check_read(&view, pos, len).map_err(std::io::Error::other)
                })
                .await
                .map_err(ctx("read_each"))?;
                if given != ranges.len() {
                    return Err(format!("read_each gave {given} views of {}", ranges.len()));
                }
            }
            Way::Tasks => {
                let file = Rc::new(file);
                let next = Rc::new(Cell::new(0usize));
                let tasks: Vec<_> = (0..DEPTH)
                    .map(|_| {
                        let (file, next, offsets) = (file.clone(), next.clone(), offsets.clone());
                        compio::runtime::spawn(async move {
                            loop {
                                let i = next.get();
                                let Some(&pos) = offsets.get(i) else {
                                    return Res::Ok(());
                                };
                                next.set(i + 1);
                                let view = file
                                    .read_exact_at(pos, len)
                                    .await
                                    .map_err(ctx("read_exact_at"))?;
                                check_read(&view, pos, len)?;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.map_err(|_| "a reading task panicked")??;
                }
                let took = started.elapsed();
                let note = pool_note(&file);
                return Ok(Outcome { took, note });
            }
            Way::Stream => unreachable!("no stream of random reads"),
        }
        let took = started.elapsed();
        Ok(Outcome {
            took,
            note: pool_note(&file),
        })
    }

    async fn scan(env: &Env) -> Res<Outcome> {
        let file = DirectFile::open(&env.data)
            .await
            .map_err(ctx("open the data file"))?;
        let started = Instant::now();
        let mut reader =
            file.reader_with(0, ReaderOptions::new().chunk(SCAN_CHUNK).window(SCAN_AHEAD));
        let mut total = 0u64;
        while let Some(view) = reader.next_chunk().await.map_err(ctx("next_chunk"))? {
            if view.pos() != total {
                return Err(format!("chunk at {}, {total} expected", view.pos()));
            }
            check(&view, view.pos())?;
            total += view.len() as u64;
        }
        drop(reader);
        let took = started.elapsed();
        if total != FILE_LEN {
            return Err(format!("scan read {total} bytes of {FILE_LEN}"));
        }
        Ok(Outcome {
            took,
            note: pool_note(&file),
        })
    }

    async fn append(env: &Env, len: usize, count: usize) -> Res<Outcome> {
        let path = env.append_path(Side::Ours);
        let file = DirectFile::create(&path).await.map_err(ctx("create"))?;
        let mut log = Appender::new(file);
        let mut rec = new_record(len);
        let started = Instant::now();
        for i in 0..count {
            fill_record(&mut rec, i as u64);
            log.append(&rec).await.map_err(ctx("append"))?;
            if (i + 1) % SYNC_EVERY == 0 {
                log.sync().await.map_err(ctx("sync"))?;
            }
        }
        let file = log.finish().await.map_err(ctx("finish"))?;
        let took = started.elapsed();
        let note = pool_note(&file);
        drop(file);
        finish_append(&path, len, count)?;
        Ok(Outcome { took, note })
    }
}

// ---------------------------------------------------------------------------------------------
// glommio 0.9: DmaFile (O_DIRECT), its read_many, DmaStreamReader and DmaStreamWriter.

mod peer_glommio {
    use super::*;
    use glommio::{
        LocalExecutorBuilder, Placement,
        io::{
            DmaFile, DmaStreamReaderBuilder, DmaStreamWriterBuilder, MergedBufferLimit,
            ReadAmplificationLimit,
        },
    };

    pub fn run(env: &Env, work: &Work, way: Way) -> Res<Outcome> {
        let mut builder = LocalExecutorBuilder::new(Placement::Unbound);
        if let Some(bytes) = env.glommio_io_memory {
            builder = builder.io_memory(bytes);
        }
        let ex = builder.make().map_err(ctx(
            "glommio LocalExecutor (needs RLIMIT_MEMLOCK >= 512 KiB)",
        ))?;
        ex.run(async {
            match work {
                Work::Reads { len, offsets } => reads(env, *len, offsets.clone(), way).await,
                Work::Scan => scan(env).await,
                Work::Append { len, count } => append(env, *len, *count).await,
            }
        })
    }

    async fn reads(env: &Env, len: usize, offsets: Arc<Vec<u64>>, way: Way) -> Res<Outcome> {
        let file = Rc::new(
            DmaFile::open(&env.data)
                .await
                .map_err(ctx("open the data file"))?,
        );
        let started = Instant::now();
        match way {
            Way::Depth1 => {
                for &pos in offsets.iter() {
                    let got = file.read_at(pos, len).await.map_err(ctx("read_at"))?;
                    check_read(&got, pos, len)?;
                }
            }
            Way::Batch => {
                let iovs = futures_lite::stream::iter(offsets.iter().map(|&p| (p, len)));
                let mut results = file
                    .read_many(
                        iovs,
                        MergedBufferLimit::default(),
                        ReadAmplificationLimit::NoAmplification,
                    )
                    .with_concurrency(DEPTH);
                let mut n = 0;
                while let Some(res) = futures_lite::StreamExt::next(&mut results).await {
                    let ((pos, len), got) = res.map_err(ctx("read_many"))?;
                    check_read(&got, pos, len)?;
                    n += 1;
                }
                if n != offsets.len() {
                    return Err(format!("read_many gave {n} results of {}", offsets.len()));
                }
            }
            Way::Tasks => {
                let next = Rc::new(Cell::new(0usize));
                let tasks: Vec<_> = (0..DEPTH)
                    .map(|_| {
                        let (file, next, offsets) = (file.clone(), next.clone(), offsets.clone());
                        glommio::spawn_local(async move {
                            loop {
                                let i = next.get();
                                let Some(&pos) = offsets.get(i) else {
                                    return Res::Ok(());
                                };
                                next.set(i + 1);
                                let got = file.read_at(pos, len).await.map_err(ctx("read_at"))?;
                                check_read(&got, pos, len)?;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await?;
                }
            }
            Way::Stream => unreachable!("no stream of random reads"),
        }
        Ok(Outcome::plain(started.elapsed()))
    }

    async fn scan(env: &Env) -> Res<Outcome> {
        let file = DmaFile::open(&env.data)
            .await
            .map_err(ctx("open the data file"))?;
        let started = Instant::now();
        let mut reader = DmaStreamReaderBuilder::new(file)
            .with_buffer_size(SCAN_CHUNK)
            .with_read_ahead(SCAN_AHEAD)
            .build();
        let mut total = 0u64;
        loop {
            let got = reader
                .get_buffer_aligned(SCAN_CHUNK as u64)
                .await
                .map_err(ctx("get_buffer_aligned"))?;
            if got.is_empty() {
                break;
            }
            check(&got, total)?;
            total += got.len() as u64;
        }
        reader.close().await.map_err(ctx("close"))?;
        let took = started.elapsed();
        if total != FILE_LEN {
            return Err(format!("scan read {total} bytes of {FILE_LEN}"));
        }
        Ok(Outcome::plain(took))
    }

    async fn append(env: &Env, len: usize, count: usize) -> Res<Outcome> {
        let path = env.append_path(Side::Glommio);
        let file = DmaFile::create(&path).await.map_err(ctx("create"))?;
        let mut writer = DmaStreamWriterBuilder::new(file).build();
        let mut rec = new_record(len);
        let started = Instant::now();
        for i in 0..count {
            fill_record(&mut rec, i as u64);
            writer.write_all(&rec).await.map_err(ctx("write_all"))?;
            if (i + 1) % SYNC_EVERY == 0 {
                writer.sync().await.map_err(ctx("sync"))?;
            }
        }
        // Flushes, truncates to the bytes written and syncs.
        writer.close().await.map_err(ctx("close"))?;
        let took = started.elapsed();
        finish_append(&path, len, count)?;
        Ok(Outcome::plain(took))
    }
}

// ---------------------------------------------------------------------------------------------
// tokio-uring 0.5: File opened with O_DIRECT, reads into registered buffers (FixedBufPool),
// appends by hand with write_at from an aligned staging buffer.

mod peer_tokio_uring {
    use super::*;
    use futures_util::StreamExt as _;
    use std::os::unix::fs::OpenOptionsExt;
    use tokio_uring::{
        buf::{BoundedBuf, fixed::FixedBufPool},
        fs::{File, OpenOptions},
    };

    pub fn run(env: &Env, work: &Work, way: Way) -> Res<Outcome> {
        let rt = tokio_uring::Runtime::new(tokio_uring::builder().entries(256))
            .map_err(ctx("tokio-uring runtime"))?;
        rt.block_on(async {
            match work {
                Work::Reads { len, offsets } => reads(env, *len, offsets.clone(), way).await,
                Work::Scan => scan(env).await,
                Work::Append { len, count } => append(env, *len, *count).await,
            }
        })
    }

    async fn open(path: &Path) -> Res<File> {
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
            .await
            .map_err(ctx(format!("open {} with O_DIRECT", path.display())))
    }

    /// Where in a buffer starting at `ptr` the first [`ALIGN`]-aligned byte is.
    fn skip(ptr: *const u8) -> usize {
        (ALIGN - ptr as usize % ALIGN) % ALIGN
    }

    /// `count` registered buffers that each hold an aligned run of `len` bytes. A `Vec` is not
    /// aligned, so each is `len + ALIGN` long and reads go into the aligned slice of it.
    fn pool(len: usize, count: usize) -> Res<(FixedBufPool<Vec<u8>>, usize)> {
        let cap = len + ALIGN;
        let pool = FixedBufPool::new((0..count).map(|_| vec![0u8; cap]));
        pool.register()
            .map_err(ctx(format!("register {count} buffers of {cap} bytes")))?;
        Ok((pool, cap))
    }

    /// One read of `len` bytes at `pos` into a registered buffer (`READ_FIXED`), checked.
    async fn read_fixed(
        file: &File,
        pool: &FixedBufPool<Vec<u8>>,
        cap: usize,
        pos: u64,
        len: usize,
    ) -> Res<()> {
        let buf = pool.next(cap).await;
        let at = skip(buf.as_ptr());
        let (res, slice) = file.read_fixed_at(buf.slice(at..at + len), pos).await;
        let n = res.map_err(ctx("read_fixed_at"))?;
        let buf = slice.into_inner();
        check_read(&buf[at..at + n], pos, len)
    }

    async fn reads(env: &Env, len: usize, offsets: Arc<Vec<u64>>, way: Way) -> Res<Outcome> {
        let file = Rc::new(open(&env.data).await?);
        let depth = if way == Way::Depth1 { 1 } else { DEPTH };
        let (pool, cap) = pool(len, depth)?;
        let started = Instant::now();
        match way {
            Way::Depth1 => {
                for &pos in offsets.iter() {
                    read_fixed(&file, &pool, cap, pos, len).await?;
                }
            }
            Way::Tasks => {
                let next = Rc::new(Cell::new(0usize));
                let tasks: Vec<_> = (0..DEPTH)
                    .map(|_| {
                        let (file, next, offsets, pool) =
                            (file.clone(), next.clone(), offsets.clone(), pool.clone());
                        tokio_uring::spawn(async move {
                            loop {
                                let i = next.get();
                                let Some(&pos) = offsets.get(i) else {
                                    return Res::Ok(());
                                };
                                next.set(i + 1);
                                read_fixed(&file, &pool, cap, pos, len).await?;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.map_err(ctx("a reading task"))??;
                }
            }
            Way::Batch | Way::Stream => unreachable!("no such API"),
        }
        Ok(Outcome::plain(started.elapsed()))
    }

    /// The scan as a tokio-uring user writes it: 1 MiB reads, 4 in flight, in order.
    async fn scan(env: &Env) -> Res<Outcome> {
        let file = open(&env.data).await?;
        // 4 reads in flight and the chunk being checked.
        let (pool, cap) = pool(SCAN_CHUNK, SCAN_AHEAD + 1)?;
        let started = Instant::now();
        let (file, pool) = (&file, &pool);
        let chunks = futures_util::stream::iter((0..FILE_LEN).step_by(SCAN_CHUNK))
            .map(|pos| async move {
                let buf = pool.next(cap).await;
                let at = skip(buf.as_ptr());
                let (res, slice) = file
                    .read_fixed_at(buf.slice(at..at + SCAN_CHUNK), pos)
                    .await;
                res.map(|n| (pos, slice.into_inner(), at, n))
            })
            .buffered(SCAN_AHEAD);
        futures_util::pin_mut!(chunks);
        let mut total = 0u64;
        while let Some(res) = futures_util::StreamExt::next(&mut chunks).await {
            let (pos, buf, at, n) = res.map_err(ctx("read_fixed_at"))?;
            check_read(&buf[at..at + n], pos, SCAN_CHUNK)?;
            total += n as u64;
        }
        let took = started.elapsed();
        if total != FILE_LEN {
            return Err(format!("scan read {total} bytes of {FILE_LEN}"));
        }
        Ok(Outcome::plain(took))
    }

    /// An appender by hand: records are copied into an aligned 1 MiB staging buffer, a full
    /// buffer is written at once, and a sync writes the partial last page padded with zeros
    /// (then rewritten by the next write, as a log's tail is) before `fdatasync`.
    struct Staged {
        file: File,
        buf: Vec<u8>,
        /// Where the aligned staging area starts in `buf`.
        at: usize,
        /// Bytes staged.
        fill: usize,
        /// The file offset of the first staged byte (aligned).
        base: u64,
    }

    const STAGE: usize = MIB;

    impl Staged {
        async fn write_out(&mut self, bytes: usize) -> Res<()> {
            let buf = std::mem::take(&mut self.buf);
            let (res, slice) = self
                .file
                .write_all_at(buf.slice(self.at..self.at + bytes), self.base)
                .await;
            self.buf = slice.into_inner();
            res.map_err(ctx("write_all_at"))
        }

        async fn append(&mut self, mut rec: &[u8]) -> Res<()> {
            while !rec.is_empty() {
                let n = rec.len().min(STAGE - self.fill);
                let to = self.at + self.fill;
                self.buf[to..to + n].copy_from_slice(&rec[..n]);
                self.fill += n;
                rec = &rec[n..];
                if self.fill == STAGE {
                    self.write_out(STAGE).await?;
                    self.base += STAGE as u64;
                    self.fill = 0;
                }
            }
            Ok(())
        }

        /// Writes what is staged (the last page padded); keeps a partial last page staged.
        async fn flush(&mut self) -> Res<()> {
            if self.fill == 0 {
                return Ok(());
            }
            let padded = self.fill.next_multiple_of(ALIGN);
            self.buf[self.at + self.fill..self.at + padded].fill(0);
            self.write_out(padded).await?;
            let whole = self.fill / ALIGN * ALIGN;
            let (from, to) = (self.at + whole, self.at + self.fill);
            self.buf.copy_within(from..to, self.at);
            self.base += whole as u64;
            self.fill -= whole;
            Ok(())
        }

        async fn sync(&mut self) -> Res<()> {
            self.flush().await?;
            self.file.sync_data().await.map_err(ctx("sync_data"))
        }
    }

    async fn append(env: &Env, len: usize, count: usize) -> Res<Outcome> {
        let path = env.append_path(Side::TokioUring);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_DIRECT)
            .open(&path)
            .await
            .map_err(ctx(format!("create {} with O_DIRECT", path.display())))?;
        let buf = vec![0u8; STAGE + ALIGN];
        let at = skip(buf.as_ptr());
        let mut log = Staged {
            file,
            buf,
            at,
            fill: 0,
            base: 0,
        };
        let mut rec = new_record(len);
        let started = Instant::now();
        for i in 0..count {
            fill_record(&mut rec, i as u64);
            log.append(&rec).await?;
            if (i + 1) % SYNC_EVERY == 0 {
                log.sync().await?;
            }
        }
        log.flush().await?;
        // tokio-uring 0.5 has no ftruncate: std's, on the same file, then the data sync.
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len((len * count) as u64))
            .map_err(ctx("set_len"))?;
        log.file.sync_data().await.map_err(ctx("sync_data"))?;
        let took = started.elapsed();
        log.file.close().await.map_err(ctx("close"))?;
        finish_append(&path, len, count)?;
        Ok(Outcome::plain(took))
    }
}
