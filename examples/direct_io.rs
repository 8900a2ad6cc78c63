//! The crate's main job, with no `unsafe` anywhere: a buffer pool goes to disk and comes back
//! with `O_DIRECT` through compio, and a record log's tail is padded and written the same way.
//!
//! ```text
//! cargo run --release --example direct_io [DIR]
//! ```
//!
//! 1. ask [`dio_align`] what direct I/O needs in `DIR`; refuse if 4 KiB buffers do not do;
//! 2. split a 64 MiB arena into owned 16 KiB [`Frame`]s, stamp each, write them by value with
//!    32 writes in flight, `fdatasync`, read them back into the frames of a second arena and
//!    check every byte;
//! 3. append records to an [`AlignedBuf`], zero-pad the tail to a whole block, write it, read
//!    it back, compare records and padding; then remove the files.
//!
//! `DIR` defaults to `target/direct_io_example` in this crate, on the same disk as the code.
//! On any failure the example says what failed and exits with status 1.

use std::{
    env, fs, io,
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant},
};

use compio_17::{
    BufResult,
    fs::{File, OpenOptions},
    io::{AsyncReadAtExt, AsyncWriteAtExt},
    runtime::{self, Runtime},
};
use jdb_alloc::{AlignedBuf, DioSource, Frame, HugePages, dio_align};

/// Bytes in each arena: a whole number of 2 MiB huge pages.
const POOL: usize = 64 << 20;
/// Bytes in each frame: a typical database page, four 4 KiB pages.
const FRAME: usize = 16 << 10;
/// I/Os in flight at once.
const QUEUE_DEPTH: usize = 32;
/// Mixed into every stamped word, so memory that was never read into cannot pass as data.
const SALT: u64 = 0x6a64_625f_616c_6c63;

type Failure = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let dir = match env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/direct_io_example"),
    };
    if let Err(failure) = run(&dir) {
        eprintln!("direct_io: {failure}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Runs both jobs in `dir` and removes their files whatever happened.
fn run(dir: &Path) -> Result<(), Failure> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    println!("direct_io: O_DIRECT through compio in {}", dir.display());
    check_direct_io(dir, "directory")?;
    let files = ["jdb_alloc_pool.dat", "jdb_alloc_log.dat"].map(|name| dir.join(name));
    let runtime = Runtime::new().map_err(|e| format!("cannot start the compio runtime: {e}"))?;
    let outcome = runtime.block_on(async {
        buffer_pool(&files[0]).await?;
        record_log(&files[1]).await
    });
    for file in &files {
        match fs::remove_file(file) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                eprintln!("direct_io: could not remove {}: {e}", file.display());
            }
            _ => {}
        }
    }
    outcome.inspect(|()| println!("  files removed"))
}

/// Prints what direct I/O needs at `path` (a `what`) and refuses if 4 KiB alignment does not do.
///
/// An answer that was given, by the filesystem (statx) or by the block device, is trusted: if
/// 4 KiB does not satisfy it, statx's explicit 0 ("no direct I/O for this file") included, we
/// stop before any I/O. No answer (`Unknown`: tmpfs, overlayfs, FUSE, NFS) is not a "no":
/// tmpfs accepts `O_DIRECT` since Linux 6.6 without reporting it. So we warn and try; where
/// direct I/O really is refused, the `O_DIRECT` open fails and `open_direct` says so.
fn check_direct_io(path: &Path, what: &str) -> Result<(), Failure> {
    let align = dio_align(path).map_err(|e| format!("dio_align({}): {e}", path.display()))?;
    let (mem, offset, read, source) = (align.mem, align.offset, align.read_offset, align.source);
    println!(
        "  dio_align({what}): mem {mem} B, offset {offset} B (reads {read} B), answered by {source:?}"
    );
    if source == DioSource::Unknown {
        eprintln!("  warning: nothing reports direct I/O alignment here; trying anyway");
    } else if !align.is_satisfied_by_alignment() {
        return Err(no_direct_io(path));
    }
    Ok(())
}

/// A pool of frames written out, then read back into the frames of another pool.
async fn buffer_pool(path: &Path) -> Result<(), Failure> {
    let file = open_direct(path).await?;
    // Filesystems answer statx for files, not directories: ask again now that the file exists.
    check_direct_io(path, "file")?;

    // Huge pages suit an arena about to be written densely; `Try` falls back quietly. A zeroed
    // arena gives full frames (`len == FRAME`), to be overwritten in place.
    let (arena, huge) = AlignedBuf::zeroed_huge(POOL, HugePages::Try)?;
    let mut frames: Vec<Frame> = arena.into_frames(FRAME)?.collect();
    let (count, bytes) = (frames.len(), frames.len() * FRAME);
    let (mib, kib) = (POOL >> 20, FRAME >> 10);
    println!("  pool: {mib} MiB arena (huge pages: {huge:?}), {count} frames of {kib} KiB");
    println!("  {QUEUE_DEPTH} I/Os in flight, frames passed by value");
    for (i, frame) in frames.iter_mut().enumerate() {
        stamp(i, frame);
    }

    // Each frame moves into its write and comes back with the result. The written frames are
    // dropped here: the last one to go frees the first arena.
    let started = Instant::now();
    let writer = file.clone();
    let written = in_flight(frames, move |i, frame| {
        let mut file = writer.clone();
        async move { file.write_all_at(frame, offset_of(i)).await }
    });
    written.await.map_err(|e| format!("write failed: {e}"))?;
    file.sync_data()
        .await
        .map_err(|e| format!("fdatasync failed: {e}"))?;
    let write = started.elapsed();

    // A `with_cap` arena gives empty frames: a read sets each one's length to the bytes read.
    let frames: Vec<Frame> = AlignedBuf::with_cap(POOL)?.into_frames(FRAME)?.collect();
    let started = Instant::now();
    let read = in_flight(frames, move |i, frame| {
        let file = file.clone();
        async move { file.read_exact_at(frame, offset_of(i)).await }
    });
    let frames = read.await.map_err(|e| format!("read failed: {e}"))?;
    let read = started.elapsed();

    for (i, frame) in frames.iter().enumerate() {
        check(i, frame)?;
    }
    println!(
        "  write {bytes} bytes {}, fdatasync included",
        speed(bytes, write)
    );
    println!("  read  {bytes} bytes {}", speed(bytes, read));
    println!("  verified every byte of the {count} frames read back");
    Ok(())
}

/// The tail of a record log: `O_DIRECT` writes whole blocks, so the partial last block is
/// zero-padded before it goes out.
async fn record_log(path: &Path) -> Result<(), Failure> {
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

    let text = std::str::from_utf8(&back[..used])?;
    if !text.lines().eq(&records) {
        return Err("log: the records read back differ from those written".into());
    }
    if back[used..].iter().any(|&b| b != 0) {
        return Err("log: the padding read back is not all zero".into());
    }
    let (n, zeroes) = (records.len(), padded - used);
    println!("  record log: {n} records, {used} bytes + {zeroes} zero bytes = {padded} written");
    println!("  read back: records and padding match");
    Ok(())
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

/// Runs `op` on every frame, `QUEUE_DEPTH` at a time, and gives the frames back in order.
///
/// The frames are split into `QUEUE_DEPTH` runs of neighbours, each a task doing its frames one
/// after the other. Frames move into the I/O and back, never shared, so this needs no `unsafe`
/// and no care about lifetimes: even a task cancelled mid-I/O leaves its frame (and so its
/// arena) alive in compio's hands until the kernel is done with it.
async fn in_flight<Op, Fut>(frames: Vec<Frame>, op: Op) -> io::Result<Vec<Frame>>
where
    Op: Fn(usize, Frame) -> Fut + Clone + 'static,
    Fut: Future<Output = BufResult<(), Frame>> + 'static,
{
    let per_task = frames.len().div_ceil(QUEUE_DEPTH);
    let mut frames = frames.into_iter().enumerate();
    let tasks: Vec<_> = (0..QUEUE_DEPTH)
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

fn speed(bytes: usize, took: Duration) -> String {
    let ms = took.as_secs_f64() * 1e3;
    format!("in {ms:6.1} ms: {:5.0} MB/s", bytes as f64 / ms / 1e3)
}
