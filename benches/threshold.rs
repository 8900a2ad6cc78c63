//! How the mapping threshold was chosen: a raw anonymous mapping against jdb_alloc 0.1.4's
//! `zeroed` (glibc `memalign` + `memset`) at sizes around the candidates, untouched and with
//! every page written once.
//!
//! Run: `cargo bench --bench threshold` (Unix only; prints nothing elsewhere).

#[cfg(unix)]
#[path = "harness/mod.rs"]
mod harness;

#[cfg(unix)]
fn main() {
    use std::{hint::black_box, ptr};

    use rustix::mm::{MapFlags, ProtFlags, mmap_anonymous, munmap};

    if !harness::run_by_cargo_bench() {
        return;
    }

    /// Writes one byte in every 4 KiB page of `[p, p + n)`.
    fn touch(p: *mut u8, n: usize) {
        for off in (0..n).step_by(4096) {
            // SAFETY: `off < n` and `p` is valid for writes of `n` bytes (caller's mapping or
            // buffer, alive for this call).
            unsafe { ptr::write_volatile(p.add(off), 1) };
        }
    }

    fn mapped(n: usize, write: bool) {
        // SAFETY: a fresh private anonymous mapping at an address the kernel chooses; it is
        // touched only inside its length and unmapped once, below.
        unsafe {
            let p = mmap_anonymous(
                ptr::null_mut(),
                n,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE,
            )
            .expect("mmap");
            if write {
                touch(p.cast(), n);
            }
            black_box(p);
            munmap(p, n).expect("munmap");
        }
    }

    fn upstream(n: usize, write: bool) {
        let mut b = upstream::AlignedBuf::zeroed(n).unwrap();
        if write {
            touch(b.as_mut_ptr(), n);
        }
        black_box(&b);
    }

    let sizes_kib = [64, 256, 1024, 4096, 16384, 32768, 65536];
    let run = |title: &str| {
        let mut bench = harness::Bench::from_env("mmap", "0.1.4");
        for kib in sizes_kib {
            let n = kib * 1024;
            for write in [false, true] {
                let state = if write { "touched" } else { "untouched" };
                let name = format!("zeroed({kib} KiB) {state}");
                bench.compare(&name, || mapped(n, write), || upstream(n, write));
            }
        }
        bench.print_table(title);
    };

    // glibc serves a request from a fresh mmap when it exceeds its dynamic mmap threshold (128 KiB
    // at start), and raises that threshold to the size of each mmapped block it frees, up to
    // 32 MiB. With 4 KiB alignment every request carries ~4 KiB of slack, so a size repeated in a
    // loop keeps missing the threshold its own free set; a *larger* block freed earlier lifts it.
    run("cold: glibc's mmap threshold not yet raised");
    drop(upstream::AlignedBuf::zeroed(31 << 20).unwrap());
    run("warm: glibc's mmap threshold raised by a freed 31 MiB block (heap reuse below 32 MiB)");
}

#[cfg(not(unix))]
fn main() {}
