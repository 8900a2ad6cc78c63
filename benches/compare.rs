//! This crate against jdb_alloc 0.1.4 (the `upstream` dev-dependency), case by case, both sides
//! interleaved in one process (see `harness`), printed as Markdown tables.
//!
//! `cargo bench --bench compare` (a few minutes); `JDB_BENCH_QUICK=1` for a run of about a
//! minute; `JDB_BENCH_FILTER=text` for the cases whose name contains `text`. The last full
//! results, and what they mean, are in `benches/RESULTS.md` beside this file.
//!
//! The recycling cases put four sides side by side: this crate, 0.1.4 (glibc), mimalloc's own
//! aligned allocation (`mi_malloc_aligned` / `mi_zalloc_aligned` / `mi_free`), and the limit:
//! one buffer kept and reused by hand.

#[path = "compare/recycling.rs"]
mod recycling;

#[path = "harness/mod.rs"]
mod harness;
#[cfg(target_os = "linux")]
#[path = "../tests/proc_mem/mod.rs"]
mod proc_mem;

use std::{hint::black_box, ptr};

use harness::Bench;
use jdb_alloc::{AlignedBuf, Frame, HugePageStatus, HugePages};

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;
const GIB: usize = 1 << 30;
const PAGE: usize = 4096;

/// Frames in the buffer-pool cases, and their size.
const FRAMES: usize = 100_000;
const FRAME: usize = 4096;

fn main() {
    if !harness::run_by_cargo_bench() {
        return;
    }
    print_machine();
    let mut bench = Bench::from_env("ours", "0.1.4");
    recycling::cases(&mut bench);
    small_cases(&mut bench);
    zeroed_cases(&mut bench);
    copy_cases(&mut bench);
    pool_cases(&mut bench);
    frames_cases(&mut bench);
    recycling::print(&bench);
    bench.print_table("time per operation (median of interleaved batches)");
    resident_memory(&bench);
    recycling::memory(&bench);
    recycling::engine_memory(&bench);
}

/// One line saying what the numbers were measured on (Linux `/proc` and `/sys`; "?" elsewhere).
fn print_machine() {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_else(|_| "?".into());
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|x| x.1))
        .unwrap_or("?")
        .trim();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "machine: {cpus} CPUs, {cpu}, kernel {}, THP `{}`",
        read("/proc/sys/kernel/osrelease").trim(),
        read("/sys/kernel/mm/transparent_hugepage/enabled").trim(),
    );
}

/// Writes one byte in every 4 KiB page of `[p, p + len)`: what makes each page resident.
pub(crate) fn touch(p: *mut u8, len: usize) {
    for off in (0..len).step_by(PAGE) {
        // SAFETY: `off < len`; callers pass a buffer's pointer and a length within its capacity.
        unsafe { ptr::write_volatile(p.add(off), 1) };
    }
}

fn small_cases(bench: &mut Bench) {
    bench.compare(
        "page() + drop",
        || AlignedBuf::page().unwrap(),
        || upstream::AlignedBuf::page().unwrap(),
    );
    bench.compare(
        "with_cap(4096) + drop",
        || AlignedBuf::with_cap(4096).unwrap(),
        || upstream::AlignedBuf::with_cap(4096).unwrap(),
    );
}

fn zeroed_cases(bench: &mut Bench) {
    let sizes = [
        ("4 KiB", 4 * KIB),
        ("64 KiB", 64 * KIB),
        ("256 KiB", 256 * KIB),
        ("1 MiB", MIB),
        ("64 MiB", 64 * MIB),
        ("1 GiB", GIB),
    ];
    for (label, n) in sizes {
        bench.compare(
            &format!("zeroed({label}) + drop, untouched"),
            || AlignedBuf::zeroed(n).unwrap(),
            || upstream::AlignedBuf::zeroed(n).unwrap(),
        );
        bench.compare(
            &format!("zeroed({label}) + every page written + drop"),
            || {
                let mut b = AlignedBuf::zeroed(n).unwrap();
                touch(b.as_mut_ptr(), n);
                b
            },
            || {
                let mut b = upstream::AlignedBuf::zeroed(n).unwrap();
                touch(b.as_mut_ptr(), n);
                b
            },
        );
    }
}

fn copy_cases(bench: &mut Bench) {
    let data = [7u8; 64 * KIB];
    let mut ours = AlignedBuf::with_cap(64 * KIB).unwrap();
    let mut theirs = upstream::AlignedBuf::with_cap(64 * KIB).unwrap();
    bench.compare(
        "extend: fill 64 KiB in 64-byte pieces",
        || {
            ours.clear();
            for piece in data.chunks(64) {
                ours.extend(black_box(piece)).unwrap();
            }
            ours.len()
        },
        || {
            theirs.clear();
            for piece in data.chunks(64) {
                theirs.extend(black_box(piece)).unwrap();
            }
            theirs.len()
        },
    );

    let mut ours = AlignedBuf::zeroed(MIB).unwrap();
    ours.fill(3);
    let mut theirs = upstream::AlignedBuf::zeroed(MIB).unwrap();
    theirs.fill(3);
    bench.compare(
        "try_clone(1 MiB) + drop",
        || ours.try_clone().unwrap(),
        || theirs.try_clone().unwrap(),
    );
}

/// How a pool writes each frame once.
#[derive(Clone, Copy)]
enum FirstWrite {
    /// An 8-byte header at the start of the frame: the page's first touch, nothing else.
    Header,
    /// The whole 4 KiB frame, as a read from disk would.
    Whole,
}

/// Writes every frame once; returns a checksum so the work cannot be skipped.
fn write_frames(frames: impl Iterator<Item = *mut u8>, how: FirstWrite) -> u64 {
    let page = [5u8; FRAME];
    let mut sum = 0u64;
    for (i, p) in frames.enumerate() {
        // SAFETY: `p` is a frame of `FRAME` bytes in a live arena, 4 KiB-aligned, used by nobody
        // else while this loop runs.
        unsafe {
            match how {
                FirstWrite::Header => p.cast::<u64>().write_volatile(i as u64),
                FirstWrite::Whole => ptr::copy_nonoverlapping(page.as_ptr(), p, FRAME),
            }
            sum = sum.wrapping_add(p.read_volatile() as u64);
        }
    }
    sum
}

/// Builds an arena of `FRAMES` frames (ours: default or huge), cuts it into frames and writes
/// each once.
fn pool_ours(huge: HugePages, how: FirstWrite) -> u64 {
    let (arena, _) = AlignedBuf::zeroed_huge(FRAMES * FRAME, huge).unwrap();
    // SAFETY: the frames are used only below, while `arena` is alive, each by this thread alone.
    let frames: Vec<_> = unsafe { arena.slice_into_raws(FRAME) }
        .take(FRAMES)
        .collect();
    write_frames(frames.iter().map(|f| f.as_mut_ptr()), how)
}

fn pool_upstream(how: FirstWrite) -> u64 {
    let arena = upstream::AlignedBuf::zeroed(FRAMES * FRAME).unwrap();
    // SAFETY: as in `pool_ours`.
    let frames: Vec<_> = unsafe { arena.slice_into_raws(FRAME) }.collect();
    write_frames(frames.iter().map(|f| f.as_mut_ptr()), how)
}

fn pool_cases(bench: &mut Bench) {
    let (_, status) = AlignedBuf::zeroed_huge(FRAMES * FRAME, HugePages::Try).unwrap();
    if status != HugePageStatus::Advised {
        eprintln!("note: huge pages unavailable here ({status:?}); the huge cases fall back");
    }
    for (how, what) in [
        (FirstWrite::Header, "8-byte header"),
        (FirstWrite::Whole, "whole frame"),
    ] {
        bench.compare(
            &format!("pool 100k x 4 KiB, {what} of each written"),
            || pool_ours(HugePages::Off, how),
            || pool_upstream(how),
        );
        bench.compare(
            &format!("pool 100k x 4 KiB, {what} of each written, huge pages"),
            || pool_ours(HugePages::Try, how),
            || pool_upstream(how),
        );
    }
}

/// Safe owned frames (`into_frames`) against 0.1.4's `slice_into_raws` views, on a pool of
/// `FRAMES` frames of 4 KiB. Each side builds its pool, does the work and drops everything in
/// the timed operation (the harness drops what the closure returns).
///
/// Fairness: both arenas come from the same kind of allocation (`with_cap` of 400 MB is a fresh
/// anonymous mapping on both sides: ours by `mmap`, 0.1.4's through glibc, whose large blocks
/// are mappings too), and both sides write the same bytes the way a user of each would. What
/// differs is what the frames cost: ours are four words with a reference-counted owner (one
/// atomic increment each to build, one decrement each to drop), 0.1.4's three words and free.
fn frames_cases(bench: &mut Bench) {
    let page = [5u8; FRAME];
    bench.compare(
        "frames: pool 100k x 4 KiB, build + drop",
        || frames_ours(AlignedBuf::with_cap(FRAMES * FRAME).unwrap()),
        || {
            let arena = upstream::AlignedBuf::with_cap(FRAMES * FRAME).unwrap();
            // SAFETY: the views are dropped with the arena, unused.
            let frames: Vec<_> = unsafe { arena.slice_into_raws(FRAME) }.collect();
            (frames, arena)
        },
    );
    // Same work on both sides: a `with_cap` arena (nothing written yet), then one 4 KiB copy
    // into each frame, its first touch. Ours is safe `extend`; 0.1.4 has no safe way to fill an
    // empty frame, so it copies through the pointer and sets the length, as its users must.
    bench.compare(
        "frames: pool 100k x 4 KiB, with_cap, every frame filled (extend)",
        || {
            let mut frames = frames_ours(AlignedBuf::with_cap(FRAMES * FRAME).unwrap());
            for frame in &mut frames {
                frame.extend(&page).unwrap();
            }
            frames
        },
        || {
            let arena = upstream::AlignedBuf::with_cap(FRAMES * FRAME).unwrap();
            // SAFETY: the views are used only here, while `arena` lives, one at a time.
            let mut frames: Vec<_> = unsafe { arena.slice_into_raws(FRAME) }.collect();
            for frame in &mut frames {
                // SAFETY: a frame is `FRAME` bytes of the live arena, `page` is not in it;
                // after the copy those bytes are initialised, so the length may cover them.
                unsafe {
                    ptr::copy_nonoverlapping(page.as_ptr(), frame.as_mut_ptr(), FRAME);
                    frame.set_len(FRAME);
                }
            }
            (frames, arena)
        },
    );
    // Each crate's zeroed pool, every frame overwritten through `&mut [u8]`: ours `DerefMut` on
    // full frames (a zeroed arena's frames carry its bytes), 0.1.4 `with_len` + `as_mut_slice`.
    // 0.1.4's `zeroed` writes all 400 MB of zeroes first; ours maps fresh zero pages instead.
    // Then ours again with huge pages, the way to build a pool that will be filled.
    for (huge, what) in [(HugePages::Off, "zeroed"), (HugePages::Try, "zeroed_huge")] {
        bench.compare(
            &format!("frames: pool 100k x 4 KiB, {what}, every frame overwritten (DerefMut)"),
            || {
                let (arena, _) = AlignedBuf::zeroed_huge(FRAMES * FRAME, huge).unwrap();
                let mut frames = frames_ours(arena);
                for frame in &mut frames {
                    frame.copy_from_slice(&page);
                }
                frames
            },
            || {
                let arena = upstream::AlignedBuf::zeroed(FRAMES * FRAME).unwrap();
                // SAFETY: as above; the arena is zeroed, so a full length claims written bytes.
                let mut frames: Vec<_> = unsafe { arena.slice_into_raws(FRAME) }
                    .map(|frame| frame.with_len(FRAME))
                    .collect();
                for frame in &mut frames {
                    frame.as_mut_slice().copy_from_slice(&page);
                }
                (frames, arena)
            },
        );
    }
}

/// The pool of `FRAMES` owned frames of `arena` (a huge arena, whole 2 MiB extents, has room
/// for a few more; they are never made).
fn frames_ours(arena: AlignedBuf) -> Vec<Frame> {
    arena.into_frames(FRAME).unwrap().take(FRAMES).collect()
}

/// Resident memory after `zeroed(1 GiB)` (untouched, then every page written), both sides; and
/// how much of the huge-page pool the kernel backed with huge pages.
#[cfg(target_os = "linux")]
fn resident_memory(bench: &Bench) {
    if !bench.wants("resident") {
        return;
    }
    fn growth<B>(make: impl FnOnce() -> B, ptr: impl Fn(&mut B) -> *mut u8) -> (usize, usize) {
        let before = proc_mem::resident_bytes();
        let mut b = make();
        let untouched = proc_mem::resident_bytes().saturating_sub(before);
        touch(ptr(&mut b), GIB);
        let touched = proc_mem::resident_bytes().saturating_sub(before);
        drop(b);
        (untouched, touched)
    }
    let ours = growth(|| AlignedBuf::zeroed(GIB).unwrap(), |b| b.as_mut_ptr());
    let theirs = growth(
        || upstream::AlignedBuf::zeroed(GIB).unwrap(),
        |b| b.as_mut_ptr(),
    );
    let mib = |b: usize| format!("{:.1}", b as f64 / MIB as f64);
    println!("\n### resident memory growth (RSS, /proc/self/statm)\n");
    println!("| case | ours MiB | 0.1.4 MiB |");
    println!("|---|---:|---:|");
    println!(
        "| zeroed(1 GiB), untouched | {} | {} |",
        mib(ours.0),
        mib(theirs.0)
    );
    println!(
        "| zeroed(1 GiB), every page written | {} | {} |",
        mib(ours.1),
        mib(theirs.1)
    );

    let (mut arena, status) = AlignedBuf::zeroed_huge(FRAMES * FRAME, HugePages::Try).unwrap();
    touch(arena.as_mut_ptr(), FRAMES * FRAME);
    let (addr, cap) = (arena.as_ptr() as usize, arena.cap());
    println!(
        "\nhuge-page pool, every page written ({status:?}): {} MiB resident, {} MiB AnonHugePages \
         (/proc/self/smaps), `hg` in VmFlags: {}",
        mib(proc_mem::resident_in(addr, cap)),
        mib(proc_mem::usage(addr, cap).anon_huge),
        proc_mem::usage(addr, cap).advised,
    );
    drop(arena);

    // The cost of huge pages under sparse use: one byte written every 64 KiB of 1 GiB.
    let sparse = |huge: HugePages| {
        let (mut b, _) = AlignedBuf::zeroed_huge(GIB, huge).unwrap();
        for off in (0..GIB).step_by(64 * KIB) {
            b[off] = 1;
        }
        proc_mem::resident_in(b.as_ptr() as usize, b.cap())
    };
    println!(
        "sparse use, 1 byte per 64 KiB of a 1 GiB arena: {} MiB resident with 4 KiB pages, \
         {} MiB with huge pages",
        mib(sparse(HugePages::Off)),
        mib(sparse(HugePages::Try)),
    );
}

#[cfg(not(target_os = "linux"))]
fn resident_memory(_bench: &Bench) {}
