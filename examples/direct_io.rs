//! The crate's main job: a buffer-pool arena goes to disk and comes back with `O_DIRECT`,
//! through compio.
//!
//! ```text
//! cargo run --release --example direct_io [DIR]
//! ```
//!
//! 1. cut a 64 MiB arena ([`AlignedBuf`]) into 16 KiB frames ([`RawIoBuf`]) and stamp each one;
//! 2. write every frame to a file opened with `O_DIRECT`, 32 writes in flight, then `fdatasync`;
//! 3. read the file back into the frames of a second arena, 32 reads in flight;
//! 4. check every byte, print the sizes and speeds, and remove the file.
//!
//! `DIR` must be on a filesystem that supports direct I/O (ext4, xfs, btrfs; tmpfs only since
//! Linux 6.6). The default is `target/direct_io_example` in this crate, which sits on the same
//! disk as the code. On any failure the example says what failed and exits with status 1.

use std::{
    env,
    error::Error,
    fs, io,
    path::{Path, PathBuf},
    process::ExitCode,
    rc::Rc,
    time::{Duration, Instant},
};

use compio_17::{
    BufResult,
    fs::{File, OpenOptions},
    io::{AsyncReadAtExt, AsyncWriteAtExt},
    runtime::{self, Runtime},
};
use jdb_alloc::{AlignedBuf, RawIoBuf};

/// Bytes in each arena.
const ARENA: usize = 64 << 20;
/// Bytes in each frame: a typical database page, four 4 KiB pages.
const FRAME: usize = 16 << 10;
/// I/Os in flight at once.
const QUEUE_DEPTH: usize = 32;
/// Name of the file written in the directory.
const FILE_NAME: &str = "jdb_alloc_direct_io.dat";
/// Mixed into every stamped word, so memory that was never read into cannot pass as data.
const SALT: u64 = 0x6a64_625f_616c_6c63;

type Failure = Box<dyn Error>;

fn main() -> ExitCode {
    let dir = match env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/direct_io_example"),
    };
    match run(&dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("direct_io: {failure}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the round trip on a file in `dir` and removes the file whatever happened.
fn run(dir: &Path) -> Result<(), Failure> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(FILE_NAME);
    let runtime = Runtime::new().map_err(|e| format!("cannot start the compio runtime: {e}"))?;
    let outcome = runtime.block_on(round_trip(&path));
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => eprintln!("direct_io: could not remove {}: {e}", path.display()),
    }
    let report = outcome?;
    report.print(&path);
    Ok(())
}

/// What one round trip did.
struct Report {
    frames: usize,
    write: Duration,
    read: Duration,
}

impl Report {
    fn print(&self, path: &Path) {
        let mib = ARENA >> 20;
        println!(
            "direct_io: {mib} MiB arena as {} frames of {} KiB, {QUEUE_DEPTH} I/Os in flight, O_DIRECT on {}",
            self.frames,
            FRAME >> 10,
            path.display()
        );
        println!(
            "  write {mib} MiB  {}  (fdatasync included)",
            speed(self.write)
        );
        println!("  read  {mib} MiB  {}", speed(self.read));
        println!("  verified {ARENA} bytes: every frame came back byte for byte; file removed");
    }
}

fn speed(took: Duration) -> String {
    let mb_per_s = ARENA as f64 / took.as_secs_f64() / 1e6;
    format!("{:8.1} ms  {mb_per_s:8.0} MB/s", took.as_secs_f64() * 1e3)
}

async fn round_trip(path: &Path) -> Result<Report, Failure> {
    let file = open_direct(path).await?;

    let source = AlignedBuf::zeroed(ARENA)?;
    // SAFETY: `source` outlives `frames`: both are locals of this function, and `in_lanes`
    // returns only once no I/O is in flight. Each frame is a separate range, used by one task at
    // a time, and `source` is not touched through any other path while they exist. The arena is
    // zeroed, so claiming its bytes as initialised (`with_len`) is true.
    let mut frames: Vec<RawIoBuf> = unsafe { source.slice_into_raws(FRAME) }
        .map(|frame| frame.with_len(FRAME))
        .collect();
    for (i, frame) in frames.iter_mut().enumerate() {
        stamp(i, frame);
    }

    let started = Instant::now();
    let writer = file.clone();
    in_lanes(frames, move |i, frame| {
        let mut file = writer.clone();
        async move {
            let BufResult(done, frame) = file.write_all_at(frame, offset_of(i)).await;
            done.map(|()| frame)
        }
    })
    .await
    .map_err(|e| format!("write failed: {e}"))?;
    file.sync_data()
        .await
        .map_err(|e| format!("fdatasync failed: {e}"))?;
    let write = started.elapsed();

    let target = AlignedBuf::with_cap(ARENA)?;
    // SAFETY: as for `source`; the frames start empty (`len == 0`), so they claim nothing
    // about the arena's uninitialised bytes until a read fills them.
    let frames: Vec<RawIoBuf> = unsafe { target.slice_into_raws(FRAME) }.collect();
    let started = Instant::now();
    let reader = file.clone();
    let frames = in_lanes(frames, move |i, frame| {
        let file = reader.clone();
        async move {
            let BufResult(done, frame) = file.read_exact_at(frame, offset_of(i)).await;
            done.map(|()| frame)
        }
    })
    .await
    .map_err(|e| format!("read failed: {e}"))?;
    let read = started.elapsed();

    for (i, frame) in frames.iter().enumerate() {
        check(i, frame)?;
    }
    Ok(Report {
        frames: frames.len(),
        write,
        read,
    })
}

async fn open_direct(path: &Path) -> Result<File, Failure> {
    let opened = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .await;
    opened.map_err(|e| {
        let why = if e.raw_os_error() == Some(libc::EINVAL) {
            "the filesystem there does not support direct I/O (tmpfs before Linux 6.6, for \
             one); pass a directory on a disk: cargo run --release --example direct_io -- DIR"
                .to_string()
        } else {
            e.to_string()
        };
        format!("cannot open {} with O_DIRECT: {why}", path.display()).into()
    })
}

/// Byte offset of frame `i` in the file.
fn offset_of(i: usize) -> u64 {
    (i * FRAME) as u64
}

/// The word stamped at byte `pos` of the file: unique to its position, so a frame read into
/// the wrong place, or not read at all, cannot match.
fn word_at(pos: usize) -> [u8; 8] {
    (pos as u64 ^ SALT).to_le_bytes()
}

/// Fills frame `i` with the words of its place in the file.
fn stamp(i: usize, frame: &mut RawIoBuf) {
    let start = i * FRAME;
    for (k, word) in frame.as_mut_slice().chunks_exact_mut(8).enumerate() {
        word.copy_from_slice(&word_at(start + k * 8));
    }
}

/// Checks that frame `i` came back whole and holds the words of its place in the file.
fn check(i: usize, frame: &RawIoBuf) -> Result<(), Failure> {
    if frame.len() != FRAME {
        return Err(format!("frame {i}: read {} bytes, expected {FRAME}", frame.len()).into());
    }
    let start = i * FRAME;
    let bad = frame
        .as_slice()
        .chunks_exact(8)
        .enumerate()
        .find(|(k, word)| **word != word_at(start + k * 8));
    match bad {
        None => Ok(()),
        Some((k, _)) => {
            Err(format!("frame {i}: wrong data at file offset {}", start + k * 8).into())
        }
    }
}

/// Runs `io` once per frame, `QUEUE_DEPTH` at a time, and returns the frames as the I/O gave
/// them back, in order.
///
/// Frame `i` goes to lane `i % QUEUE_DEPTH`; each lane is a task doing its frames one after the
/// other. Every lane is awaited to the end, even after one fails, so no I/O is still in flight on
/// any frame when this returns; that is what lets the caller free the arena afterwards.
async fn in_lanes<Io, Fut>(frames: Vec<RawIoBuf>, io: Io) -> io::Result<Vec<RawIoBuf>>
where
    Io: Fn(usize, RawIoBuf) -> Fut + Clone + 'static,
    Fut: Future<Output = io::Result<RawIoBuf>> + 'static,
{
    let frames = Rc::new(frames);
    let lanes: Vec<_> = (0..QUEUE_DEPTH.min(frames.len()))
        .map(|lane| {
            let (frames, io) = (Rc::clone(&frames), io.clone());
            runtime::spawn(async move {
                let mut done = Vec::new();
                for i in (lane..frames.len()).step_by(QUEUE_DEPTH) {
                    done.push((i, io(i, frames[i]).await?));
                }
                Ok::<_, io::Error>(done)
            })
        })
        .collect();
    let mut finished = Vec::with_capacity(lanes.len());
    for lane in lanes {
        finished.push(lane.await);
    }

    let mut out = frames.to_vec();
    for lane in finished {
        let done = lane.map_err(|_| io::Error::other("an I/O task panicked"))??;
        for (i, frame) in done {
            out[i] = frame;
        }
    }
    Ok(out)
}
