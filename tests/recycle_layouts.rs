//! Every block goes back to the global allocator with the layout it was allocated with.
//!
//! Recycling allocates blocks at their class size, which may exceed the buffer's capacity, and
//! releases them knowing only the capacity. Neither glibc's `free` nor AddressSanitizer checks
//! the size passed to `dealloc`, so a mismatch would pass every other test: this binary installs
//! a global allocator that records each 4 KiB-aligned allocation and checks each release
//! against it, under random use across classes, limits, threads, raw parts and frames.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::{
        atomic::{AtomicUsize, Ordering::SeqCst},
        mpsc,
    },
    thread,
};

use jdb_alloc::{
    ALIGNMENT, AlignedBuf, PAGE_SIZE,
    recycle::{self, Limits},
};

/// Slots of the open-addressing table of live blocks: far more than the test keeps live.
const SLOTS: usize = 1 << 14;
/// A slot whose block was released (kept apart from 0, "never used", so probing goes on).
const GONE: usize = usize::MAX;

static ADDRS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static SIZES: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
/// Releases whose size differed from the allocation's, and releases of unknown blocks.
static WRONG_SIZE: AtomicUsize = AtomicUsize::new(0);
static UNKNOWN: AtomicUsize = AtomicUsize::new(0);
static CHECKED: AtomicUsize = AtomicUsize::new(0);

fn slot(addr: usize) -> usize {
    (addr / ALIGNMENT) % SLOTS
}

fn record(addr: usize, size: usize) {
    let mut i = slot(addr);
    for _ in 0..SLOTS {
        let seen = ADDRS[i].load(SeqCst);
        if (seen == 0 || seen == GONE)
            && ADDRS[i]
                .compare_exchange(seen, addr, SeqCst, SeqCst)
                .is_ok()
        {
            SIZES[i].store(size, SeqCst);
            return;
        }
        i = (i + 1) % SLOTS;
    }
    UNKNOWN.fetch_add(1, SeqCst); // table full: counted as a failure, never silently ignored
}

fn check(addr: usize, size: usize) {
    let mut i = slot(addr);
    for _ in 0..SLOTS {
        match ADDRS[i].load(SeqCst) {
            0 => break,
            seen if seen == addr => {
                if SIZES[i].load(SeqCst) != size {
                    WRONG_SIZE.fetch_add(1, SeqCst);
                }
                CHECKED.fetch_add(1, SeqCst);
                ADDRS[i].store(GONE, SeqCst);
                return;
            }
            _ => i = (i + 1) % SLOTS,
        }
    }
    UNKNOWN.fetch_add(1, SeqCst);
}

/// The system allocator, watching the blocks this crate allocates (the only 4 KiB-aligned ones).
struct Checking;

// SAFETY: every call is passed on to `System` unchanged; the bookkeeping only reads addresses.
unsafe impl GlobalAlloc for Checking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout, passed on.
        let ptr = unsafe { System.alloc(layout) };
        if layout.align() == ALIGNMENT && !ptr.is_null() {
            record(ptr as usize, layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout, passed on.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if layout.align() == ALIGNMENT && !ptr.is_null() {
            record(ptr as usize, layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.align() == ALIGNMENT {
            check(ptr as usize, layout.size());
        }
        // SAFETY: the caller's block and layout, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static CHECKING: Checking = Checking;

/// Sizes on both sides of many class boundaries: 1 to 4 pages, then 5 to 8 × 2^k pages.
fn sizes() -> Vec<usize> {
    let mut sizes = vec![1];
    for pages in [
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 16, 17, 33, 100, 257, 1000, 4097,
    ] {
        let bytes = pages * PAGE_SIZE;
        sizes.extend([bytes - 1, bytes, bytes + 1]);
    }
    sizes
}

#[test]
fn every_block_is_released_with_the_layout_it_was_allocated_with() {
    let sizes = sizes();
    let limits = [
        Limits::DEFAULT,
        Limits::OFF,
        Limits {
            per_thread: 1 << 20,
            shared: 0,
        },
        Limits {
            per_thread: 256 << 10,
            shared: 4 << 20,
        },
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as usize
    };
    let (to_other, from_main) = mpsc::channel::<AlignedBuf>();
    let other = thread::spawn(move || {
        for buf in from_main {
            drop(buf);
        }
        recycle::trim();
    });
    let mut live: Vec<AlignedBuf> = Vec::new();
    for _ in 0..10_000 {
        let size = sizes[next() % sizes.len()];
        match next() % 10 {
            0 | 1 => live.push(AlignedBuf::with_cap(size).unwrap()),
            2 => live.push(AlignedBuf::zeroed(size).unwrap()),
            3 if !live.is_empty() => {
                let copy = live[next() % live.len()].clone();
                live.push(copy);
            }
            4 | 5 if !live.is_empty() => drop(live.swap_remove(next() % live.len())),
            6 if !live.is_empty() => to_other
                .send(live.swap_remove(next() % live.len()))
                .unwrap(),
            7 if !live.is_empty() => {
                let (ptr, len, cap) = live.swap_remove(next() % live.len()).into_raw_parts();
                recycle::set_limits(limits[next() % limits.len()]);
                // SAFETY: the parts of one `into_raw_parts` just above, rebuilt once.
                live.push(unsafe { AlignedBuf::from_raw_parts(ptr, len, cap) });
            }
            8 => {
                let chunk = PAGE_SIZE * (1 + next() % 2);
                let frames: Vec<_> = AlignedBuf::with_cap(size)
                    .unwrap()
                    .into_frames(chunk)
                    .unwrap()
                    .collect();
                if !frames.is_empty() {
                    thread::spawn(move || drop(frames)).join().unwrap();
                }
            }
            9 => recycle::set_limits(limits[next() % limits.len()]),
            _ => {}
        }
        if live.len() > 64 {
            live.truncate(32);
        }
    }
    drop(live);
    drop(to_other);
    other.join().unwrap();
    recycle::set_limits(Limits::OFF); // every block still kept goes back, and is checked too
    assert_eq!(
        UNKNOWN.load(SeqCst),
        0,
        "released blocks never seen allocated"
    );
    assert_eq!(
        WRONG_SIZE.load(SeqCst),
        0,
        "blocks released with another size"
    );
    assert!(
        CHECKED.load(SeqCst) > 1_000,
        "too few releases checked: {}",
        CHECKED.load(SeqCst)
    );
}
