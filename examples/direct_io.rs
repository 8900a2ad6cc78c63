//! The crate's main job, with no `unsafe` anywhere: a buffer pool goes to disk and comes back
//! with `O_DIRECT` through compio, and a record log's tail is padded and written the same way.
//!
//! ```text
//! cargo run --release --example direct_io -- [--pool-mib=N] [--queue-depth=N] [DIR]
//! cargo run --release --example direct_io -- --help
//! ```
//!
//! 1. ask [`dio_align`] what direct I/O needs in `DIR`; refuse if 4 KiB buffers do not do;
//! 2. split an arena (64 MiB unless `--pool-mib` says otherwise) into owned 16 KiB [`Frame`]s,
//!    stamp each, write them by value with 32 writes in flight (`--queue-depth`), `fdatasync`,
//!    read them back into the frames of a second arena and check every byte;
//! 3. append records to an [`AlignedBuf`], zero-pad the tail to a whole block, write it, read
//!    it back, compare records and padding.
//!
//! `DIR` must exist; by default it is this crate's `target` directory (or, if the build went
//! elsewhere, the directory of this executable). The run works in a fresh subdirectory of
//! `DIR` and removes it, with everything in it, whatever happens. On any failure the example
//! prints one line saying what failed and exits with status 1 (2 for bad arguments); on success
//! the last line sums up what was checked and how fast it went.

use std::{
    env,
    ffi::OsString,
    fs, io,
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant},
};

use compio::{
    BufResult,
    fs::{File, OpenOptions},
    io::{AsyncReadAtExt, AsyncWriteAtExt},
    runtime::{self, Runtime},
};
use jdb_alloc::{AlignedBuf, DioSource, Frame, HugePages, dio_align};

/// Default size of each arena, in MiB: a whole number of 2 MiB huge pages.
const POOL_MIB: usize = 64;
/// Bytes in each frame: a typical database page, four 4 KiB pages.
const FRAME: usize = 16 << 10;
/// Default number of I/Os in flight at once.
const QUEUE_DEPTH: usize = 32;
/// Largest queue depth accepted: one task per I/O in flight.
const MAX_QUEUE_DEPTH: usize = 4096;
/// Mixed into every stamped word, so memory that was never read into cannot pass as data.
const SALT: u64 = 0x6a64_625f_616c_6c63;

const USAGE: &str = "\
usage: cargo run --release --example direct_io -- [OPTIONS] [DIR]

Writes a buffer pool of 16 KiB frames to a file in DIR with O_DIRECT through compio, reads it
back and checks every byte; then writes and reads back a zero-padded record log tail. The run
works in a fresh subdirectory of DIR and removes it afterwards.

  DIR                an existing directory on a filesystem with O_DIRECT (ext4, XFS, Btrfs);
                     default: this crate's target directory
  --pool-mib N       size of the buffer pool in MiB (default 64); also --pool-mib=N
  --queue-depth N    I/Os in flight at once, 1 to 4096 (default 32); also --queue-depth=N
  -h, --help         print this help and exit";

type Failure = Box<dyn std::error::Error>;

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Command {
    Help,
    Run(Options),
}

#[derive(Debug, PartialEq)]
struct Options {
    /// `None`: the default directory.
    dir: Option<PathBuf>,
    /// Bytes in each arena.
    pool: usize,
    queue_depth: usize,
}

fn main() -> ExitCode {
    let options = match parse_args(env::args_os().skip(1)) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(options)) => options,
        Err(message) => {
            eprintln!("direct_io: {message} (try --help)");
            return ExitCode::from(2);
        }
    };
    if let Err(failure) = run(&options) {
        eprintln!("direct_io: {failure}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Reads the arguments (without the program name).
fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut options = Options {
        dir: None,
        pool: POOL_MIB << 20,
        queue_depth: QUEUE_DEPTH,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // `--name=value` is `--name value`.
        let (name, inline) = match arg.to_str().and_then(|a| a.split_once('=')) {
            Some((name, value)) if name.starts_with("--") => (Some(name), Some(value.into())),
            _ => (arg.to_str(), None),
        };
        match name {
            Some("-h" | "--help") => return Ok(Command::Help),
            Some(name @ ("--pool-mib" | "--queue-depth")) => {
                let value = inline
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{name} needs a value"))?;
                let n = number(name, &value)?;
                if name == "--pool-mib" {
                    options.pool = n
                        .checked_mul(1 << 20)
                        .ok_or_else(|| format!("--pool-mib {n} is too large for this machine"))?;
                } else if n > MAX_QUEUE_DEPTH {
                    return Err(format!("--queue-depth {n} exceeds {MAX_QUEUE_DEPTH}"));
                } else {
                    options.queue_depth = n;
                }
            }
            Some(option) if option.starts_with('-') => {
                return Err(format!("unknown option {}", arg.to_string_lossy()));
            }
            _ if arg.is_empty() => return Err("DIR is empty: name a directory".into()),
            _ if options.dir.is_some() => {
                return Err(format!("more than one DIR: {}", Path::new(&arg).display()));
            }
            _ => options.dir = Some(arg.into()),
        }
    }
    Ok(Command::Run(options))
}

/// The value of option `name`: a positive whole number.
fn number(name: &str, value: &OsString) -> Result<usize, String> {
    let text = value.to_string_lossy();
    match text.parse::<usize>() {
        Ok(0) => Err(format!("{name} must be at least 1, not 0")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "{name} needs a positive whole number, not {text:?}"
        )),
    }
}

/// The directory to work in: `dir`, or this crate's `target` directory (where `cargo run`
/// builds, unless told otherwise), or the directory of this executable. It must exist: a
/// mistyped path should not become a new directory.
fn base_dir(dir: Option<&Path>) -> Result<PathBuf, Failure> {
    let dir = match dir {
        Some(dir) => dir.to_owned(),
        None => {
            let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
            if target.is_dir() {
                target
            } else {
                let exe = env::current_exe()
                    .map_err(|e| format!("cannot find this executable's directory: {e}"))?;
                exe.parent().map(Path::to_owned).unwrap_or_default()
            }
        }
    };
    match fs::metadata(&dir) {
        Ok(meta) if meta.is_dir() => Ok(dir),
        Ok(_) => Err(format!("{} is not a directory", dir.display()).into()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(format!("directory {} does not exist", dir.display()).into())
        }
        Err(e) => Err(format!("cannot examine {}: {e}", dir.display()).into()),
    }
}

/// Runs both jobs in a fresh subdirectory of the chosen directory and removes it, with
/// everything in it, whatever happened.
fn run(options: &Options) -> Result<(), Failure> {
    let base = base_dir(options.dir.as_deref())?;
    let dir = base.join(format!("jdb_alloc-direct_io-{}", std::process::id()));
    fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    println!("direct_io: O_DIRECT through compio in {}", dir.display());
    let outcome = run_in(&dir, options);
    if let Err(e) = fs::remove_dir_all(&dir) {
        eprintln!("direct_io: could not remove {}: {e}", dir.display());
    }
    let summary = outcome?;
    println!("  {} removed", dir.display());
    println!("{summary}");
    Ok(())
}

/// Runs both jobs in `dir`; returns the summary line.
fn run_in(dir: &Path, options: &Options) -> Result<String, Failure> {
    check_direct_io(dir, "directory")?;
    let runtime = Runtime::new().map_err(|e| format!("cannot start the compio runtime: {e}"))?;
    let (pool, records) = runtime.block_on(async {
        let pool = buffer_pool(&dir.join("pool.dat"), options).await?;
        let records = record_log(&dir.join("log.dat")).await?;
        Ok::<_, Failure>((pool, records))
    })?;
    let (mib, frames, write, read) = (pool.bytes >> 20, pool.frames, pool.write, pool.read);
    Ok(format!(
        "direct_io: ok: {mib} MiB in {frames} frames and a {records}-record log written and read \
         back with O_DIRECT, every byte verified; write {write:.0} MiB/s, read {read:.0} MiB/s"
    ))
}

/// What the buffer pool job moved, and how fast (MiB/s).
struct PoolRun {
    bytes: usize,
    frames: usize,
    write: f64,
    read: f64,
}

/// Prints what direct I/O needs at `path` (a `what`) and refuses if 4 KiB alignment does not do.
///
/// An answer that was given, by the filesystem (statx) or by the block device, is trusted: if
/// 4 KiB does not satisfy it, statx's explicit 0 ("no direct I/O for this file") included, we
/// stop before any I/O. No answer (`Unknown`: tmpfs, overlayfs, FUSE, NFS) is not a "no":
/// tmpfs accepts `O_DIRECT` since Linux 6.6 without reporting it. So we say so and try; where
/// direct I/O really is refused, the `O_DIRECT` open fails and `open_direct` says so.
fn check_direct_io(path: &Path, what: &str) -> Result<(), Failure> {
    let align = dio_align(path).map_err(|e| format!("dio_align({}): {e}", path.display()))?;
    if align.source == DioSource::Unknown {
        // Not reported is not refused: the O_DIRECT open decides.
        println!("  dio_align({what}): not reported here (Unknown); the O_DIRECT open will tell");
        return Ok(());
    }
    let (mem, offset, read, source) = (align.mem, align.offset, align.read_offset, align.source);
    println!(
        "  dio_align({what}): mem {mem} B, offset {offset} B (reads {read} B), answered by {source:?}"
    );
    if !align.is_satisfied_by_alignment() {
        return Err(no_direct_io(path));
    }
    Ok(())
}

/// A pool of frames written out, then read back into the frames of another pool.
async fn buffer_pool(path: &Path, options: &Options) -> Result<PoolRun, Failure> {
    let &Options {
        pool, queue_depth, ..
    } = options;
    let file = open_direct(path).await?;
    // Filesystems answer statx for files, not directories: ask again now that the file exists.
    check_direct_io(path, "file")?;

    // Huge pages suit an arena about to be written densely; `Try` falls back quietly. A zeroed
    // arena gives full frames (`len == FRAME`), to be overwritten in place.
    let (arena, huge) = AlignedBuf::zeroed_huge(pool, HugePages::Try)
        .map_err(|e| format!("pool of {pool} bytes: {e}"))?;
    // A huge arena's capacity may exceed `pool` (whole 2 MiB extents, at least 32 MiB): the
    // frames past `pool` are empty and not used.
    let mut frames: Vec<Frame> = arena.into_frames(FRAME)?.take(pool / FRAME).collect();
    let (count, bytes) = (frames.len(), frames.len() * FRAME);
    let (mib, kib) = (pool >> 20, FRAME >> 10);
    println!("  pool: {mib} MiB arena (huge pages: {huge:?}), {count} frames of {kib} KiB");
    let ios = if queue_depth == 1 { "I/O" } else { "I/Os" };
    println!("  {queue_depth} {ios} in flight, frames passed by value");
    for (i, frame) in frames.iter_mut().enumerate() {
        stamp(i, frame);
    }

    // Each frame moves into its write and comes back with the result. The written frames are
    // dropped here: the last one to go frees the first arena.
    let started = Instant::now();
    let writer = file.clone();
    let written = in_flight(frames, queue_depth, move |i, frame| {
        let mut file = writer.clone();
        async move { file.write_all_at(frame, offset_of(i)).await }
    });
    written.await.map_err(|e| format!("write failed: {e}"))?;
    file.sync_data()
        .await
        .map_err(|e| format!("fdatasync failed: {e}"))?;
    let write = started.elapsed();

    // A `with_cap` arena gives empty frames: a read sets each one's length to the bytes read.
    let frames: Vec<Frame> = AlignedBuf::with_cap(pool)
        .map_err(|e| format!("pool of {pool} bytes: {e}"))?
        .into_frames(FRAME)?
        .collect();
    let started = Instant::now();
    let read = in_flight(frames, queue_depth, move |i, frame| {
        let file = file.clone();
        async move { file.read_exact_at(frame, offset_of(i)).await }
    });
    let frames = read.await.map_err(|e| format!("read failed: {e}"))?;
    let read = started.elapsed();

    for (i, frame) in frames.iter().enumerate() {
        check(i, frame)?;
    }
    let (write_ms, write) = (write.as_secs_f64() * 1e3, mib_per_s(bytes, write));
    let (read_ms, read) = (read.as_secs_f64() * 1e3, mib_per_s(bytes, read));
    println!("  write {bytes} bytes in {write_ms:6.1} ms: {write:5.0} MiB/s, fdatasync included");
    println!("  read  {bytes} bytes in {read_ms:6.1} ms: {read:5.0} MiB/s");
    println!("  verified every byte of the {count} frames read back");
    Ok(PoolRun {
        bytes,
        frames: count,
        write,
        read,
    })
}

/// The tail of a record log: `O_DIRECT` writes whole blocks, so the partial last block is
/// zero-padded before it goes out.
/// Returns the number of records checked.
async fn record_log(path: &Path) -> Result<usize, Failure> {
    let records: Vec<String> = (0..60)
        .map(|i| format!("record {i}: {}", "abcdefgh".repeat(i % 23)))
        .collect();
    let mut log = AlignedBuf::with_cap(64 << 10)?;
    for record in &records {
        log.extend(record.as_bytes())?;
        log.extend(b"\n")?;
    }
    let used = log.len();
    let padded = log.pad_to_alignment();

    let mut file = open_direct(path).await?;
    let BufResult(done, _) = file.write_all_at(log, 0).await;
    done.map_err(|e| format!("log write failed: {e}"))?;
    let BufResult(done, back) = file.read_exact_at(AlignedBuf::with_cap(padded)?, 0).await;
    done.map_err(|e| format!("log read failed: {e}"))?;

    let text = std::str::from_utf8(&back[..used])
        .map_err(|e| format!("log: the records read back are not text: {e}"))?;
    if !text.lines().eq(&records) {
        return Err("log: the records read back differ from those written".into());
    }
    if back[used..].iter().any(|&b| b != 0) {
        return Err("log: the padding read back is not all zero".into());
    }
    let (n, zeroes) = (records.len(), padded - used);
    println!("  record log: {n} records, {used} bytes + {zeroes} zero bytes = {padded} written");
    println!("  read back: records and padding match");
    Ok(n)
}

async fn open_direct(path: &Path) -> Result<File, Failure> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(true);
    let opened = options.custom_flags(libc::O_DIRECT).open(path).await;
    opened.map_err(|e| match e.raw_os_error() {
        Some(libc::EINVAL) => no_direct_io(path),
        _ => format!("cannot open {} with O_DIRECT: {e}", path.display()).into(),
    })
}

/// The refusal, where direct I/O with this crate's 4 KiB buffers cannot be had.
fn no_direct_io(path: &Path) -> Failure {
    let at = path.display();
    format!(
        "{at}: the filesystem does not support direct I/O with 4 KiB buffers; use a directory \
         on a disk filesystem such as ext4 or xfs: cargo run --release --example direct_io -- DIR"
    )
    .into()
}

/// Runs `op` on every frame, `depth` at a time, and gives the frames back in order.
///
/// The frames are split into `depth` runs of neighbours, each a task doing its frames one
/// after the other. Frames move into the I/O and back, never shared, so this needs no `unsafe`
/// and no care about lifetimes: even a task cancelled mid-I/O leaves its frame (and so its
/// arena) alive in compio's hands until the kernel is done with it.
async fn in_flight<Op, Fut>(frames: Vec<Frame>, depth: usize, op: Op) -> io::Result<Vec<Frame>>
where
    Op: Fn(usize, Frame) -> Fut + Clone + 'static,
    Fut: Future<Output = BufResult<(), Frame>> + 'static,
{
    let per_task = frames.len().div_ceil(depth).max(1);
    let mut frames = frames.into_iter().enumerate();
    let tasks: Vec<_> = (0..depth)
        .map(|_| {
            let (run, op): (Vec<_>, _) = (frames.by_ref().take(per_task).collect(), op.clone());
            runtime::spawn(async move {
                let mut done = Vec::with_capacity(run.len());
                for (i, frame) in run {
                    let BufResult(result, frame) = op(i, frame).await;
                    result.map_err(|e| io::Error::new(e.kind(), format!("frame {i}: {e}")))?;
                    done.push(frame);
                }
                Ok::<_, io::Error>(done)
            })
        })
        .collect();
    let mut back = Vec::new();
    for task in tasks {
        let run = task
            .await
            .map_err(|_| io::Error::other("an I/O task panicked"))?;
        back.extend(run?);
    }
    Ok(back)
}

/// Byte offset of frame `i` in the file.
fn offset_of(i: usize) -> u64 {
    (i * FRAME) as u64
}

/// The words of frame `i`: each names its byte offset in the file, so a frame read into the
/// wrong place, or not read at all, cannot match.
fn words(i: usize) -> impl Iterator<Item = [u8; 8]> {
    (0..FRAME / 8).map(move |k| ((i * FRAME + k * 8) as u64 ^ SALT).to_le_bytes())
}

fn stamp(i: usize, frame: &mut Frame) {
    for (word, want) in frame.chunks_exact_mut(8).zip(words(i)) {
        word.copy_from_slice(&want);
    }
}

fn check(i: usize, frame: &Frame) -> Result<(), Failure> {
    if frame.len() == FRAME && frame.chunks_exact(8).eq(words(i)) {
        return Ok(());
    }
    let (len, at) = (frame.len(), offset_of(i));
    Err(format!("frame {i}: the {len} bytes read at {at} are not the {FRAME} written").into())
}

fn mib_per_s(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / took.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(OsString::from))
    }

    fn run_with(dir: Option<&str>, pool_mib: usize, queue_depth: usize) -> Command {
        Command::Run(Options {
            dir: dir.map(PathBuf::from),
            pool: pool_mib << 20,
            queue_depth,
        })
    }

    #[test]
    fn defaults_and_options() {
        assert_eq!(parse(&[]), Ok(run_with(None, 64, 32)));
        assert_eq!(
            parse(&["--queue-depth", "4", "/data", "--pool-mib", "2"]),
            Ok(run_with(Some("/data"), 2, 4))
        );
        assert_eq!(
            parse(&["--queue-depth=4", "/data", "--pool-mib=2"]),
            Ok(run_with(Some("/data"), 2, 4))
        );
        assert_eq!(parse(&["x", "--help", "--bogus"]), Ok(Command::Help));
        assert_eq!(parse(&["-h"]), Ok(Command::Help));
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        let error = |args: &[&str]| parse(args).unwrap_err();
        assert_eq!(error(&["--pool-mib"]), "--pool-mib needs a value");
        assert_eq!(
            error(&["--pool-mib", "0"]),
            "--pool-mib must be at least 1, not 0"
        );
        assert_eq!(
            error(&["--queue-depth", "-3"]),
            "--queue-depth needs a positive whole number, not \"-3\""
        );
        assert_eq!(
            error(&["--queue-depth", "4097"]),
            "--queue-depth 4097 exceeds 4096"
        );
        assert!(error(&["--pool-mib", &usize::MAX.to_string()]).contains("too large"));
        assert_eq!(error(&["--verbose"]), "unknown option --verbose");
        assert_eq!(error(&["--verbose=2"]), "unknown option --verbose=2");
        assert_eq!(
            error(&["--pool-mib="]),
            "--pool-mib needs a positive whole number, not \"\""
        );
        assert_eq!(error(&[""]), "DIR is empty: name a directory");
        assert_eq!(error(&["a", "b"]), "more than one DIR: b");
    }

    #[test]
    fn a_missing_directory_is_an_error_and_is_not_created() {
        let missing = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/no such directory");
        let error = base_dir(Some(&missing)).unwrap_err().to_string();
        assert_eq!(
            error,
            format!("directory {} does not exist", missing.display())
        );
        assert!(!missing.exists());
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        assert!(
            base_dir(Some(&file))
                .unwrap_err()
                .to_string()
                .ends_with("is not a directory")
        );
        assert!(base_dir(None).unwrap().is_dir());
    }
}
