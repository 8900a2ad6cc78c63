//! Under AddressSanitizer (CI's run sets `--cfg jdb_alloc_asan`), recycling must not hide
//! memory errors: a read past a buffer's capacity (into its size class's slack) and a read of a
//! kept block through a stale pointer are reported, as they would be without recycling. Each
//! bad access runs in a child process (this binary again), which ASan aborts.
#![cfg(jdb_alloc_asan)]

use std::{env, process::Command};

use jdb_alloc::{AlignedBuf, PAGE_SIZE};

const CHILD: &str = "JDB_ALLOC_ASAN_CHILD";

/// Runs `test` of this binary in a child process with `CHILD` set, and returns its stderr,
/// asserting that it failed.
fn child_fails(test: &str) -> String {
    let out = Command::new(env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "the bad access was not reported:\n{stderr}"
    );
    stderr
}

#[test]
fn a_read_past_cap_is_reported() {
    if env::var_os(CHILD).is_some() {
        let buf = AlignedBuf::with_cap(9 * PAGE_SIZE).unwrap(); // class: 10 pages
        // SAFETY: none: this is the out-of-bounds read ASan must report.
        let past = unsafe { buf.as_ptr().add(buf.cap()).read_volatile() };
        std::hint::black_box(past);
        return;
    }
    let stderr = child_fails("a_read_past_cap_is_reported");
    assert!(stderr.contains("AddressSanitizer"), "{stderr}");
}

#[test]
fn a_read_of_a_kept_block_is_reported() {
    if env::var_os(CHILD).is_some() {
        let buf = AlignedBuf::zeroed(16 * PAGE_SIZE).unwrap();
        let stale = buf.as_ptr();
        drop(buf); // kept for reuse, not freed
        // SAFETY: none: this is the use after free ASan must report.
        let byte = unsafe { stale.add(PAGE_SIZE).read_volatile() };
        std::hint::black_box(byte);
        return;
    }
    let stderr = child_fails("a_read_of_a_kept_block_is_reported");
    assert!(stderr.contains("AddressSanitizer"), "{stderr}");
}

/// The same for a large block (128 KiB and up), kept in its thread's heap.
#[test]
fn a_read_of_a_kept_large_block_is_reported() {
    if env::var_os(CHILD).is_some() {
        let buf = AlignedBuf::zeroed(1 << 20).unwrap();
        let stale = buf.as_ptr();
        drop(buf); // kept for reuse, not freed
        // SAFETY: none: this is the use after free ASan must report.
        let byte = unsafe { stale.add(1 << 19).read_volatile() };
        std::hint::black_box(byte);
        return;
    }
    let stderr = child_fails("a_read_of_a_kept_large_block_is_reported");
    assert!(stderr.contains("AddressSanitizer"), "{stderr}");
}

/// A kept 2 MiB block serving a 1.5 MiB buffer: the half MiB past its capacity is poisoned.
#[test]
fn a_read_past_cap_of_a_larger_block_is_reported() {
    if env::var_os(CHILD).is_some() {
        let big = AlignedBuf::with_cap(2 << 20).unwrap();
        let addr = big.as_ptr();
        drop(big);
        let buf = AlignedBuf::with_cap(3 << 19).unwrap();
        assert_eq!(buf.as_ptr(), addr, "the 2 MiB block was not reused");
        // SAFETY: none: this is the out-of-bounds read ASan must report.
        let past = unsafe { buf.as_ptr().add(buf.cap()).read_volatile() };
        std::hint::black_box(past);
        return;
    }
    let stderr = child_fails("a_read_past_cap_of_a_larger_block_is_reported");
    assert!(stderr.contains("AddressSanitizer"), "{stderr}");
}
