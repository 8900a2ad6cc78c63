//! A runtime dropped while a panic unwinds (compio 0.19, 0.20), and the next runtime on the
//! thread getting its ring's descriptor number.
#![cfg(all(target_os = "linux", any(feature = "compio-19", feature = "compio-20")))]

mod turn;

use std::{os::fd::AsRawFd, sync::Mutex};

use jdb_alloc::{AlignedBuf, fixed::FixedStatus};
// One test at a time: each counts on the next runtime getting the closed ring's descriptor
// number.
use turn::turn;

const CHUNK: usize = 64 * 1024;

/// compio 0.19 and 0.20 drop a runtime during a panic's unwind without dropping its tasks, this
/// crate's ring guard among them, so the closed ring still reads as open; the next runtime on
/// the thread gets its descriptor number. It must not be taken for the old ring: the old frames
/// read as `RingClosed` and do plain I/O there, a new arena registers, and dropping the old
/// frames leaves its slots alone.
macro_rules! unwound_runtime_case {
    ($name:ident, $compio:ident, $fixed:ident) => {
        #[test]
        fn $name() {
            use jdb_alloc::fixed::{FixedFrame, $fixed};
            use $compio::{BufResult, runtime::Runtime};

            let _turn = turn();
            let tmp = std::env::temp_dir().join(format!(
                "jdb_alloc_{}_{}",
                stringify!($name),
                std::process::id()
            ));
            let path = tmp.clone();
            std::thread::spawn(move || {
                // compio opens its driver's eventfd, then the ring. With a number free below
                // the old ring's, the next runtime's eventfd takes it and its ring the old one's
                // when this crate keeps the unwound runtime's eventfd open (see `Ring::driver`);
                // without, a runtime made while this is open gets both old numbers.
                let mut below = Some(std::fs::File::open("/dev/null").unwrap());
                let old: Mutex<Option<(FixedFrame, i32)>> = Mutex::new(None);
                let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let rt = Runtime::new().unwrap();
                    let frame = rt.block_on(async {
                        $fixed::register(AlignedBuf::zeroed(CHUNK).unwrap(), CHUNK)
                            .unwrap()
                            .next()
                            .unwrap()
                    });
                    assert_eq!(frame.status(), FixedStatus::Registered);
                    *old.lock().unwrap() = Some((frame, rt.as_raw_fd()));
                    std::panic::resume_unwind(Box::new("drop the runtime while unwinding"));
                }));
                assert!(unwound.is_err());
                let (frame, old_fd) = old.lock().unwrap().take().unwrap();
                let rt = loop {
                    let rt = Runtime::new().unwrap();
                    if rt.as_raw_fd() == old_fd {
                        break rt;
                    }
                    drop(rt);
                    assert!(
                        below.take().is_some(),
                        "the case this test is for: the number reused"
                    );
                };
                rt.block_on(async {
                    let file = $compio::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .open(&path)
                        .await
                        .unwrap();
                    assert_eq!($fixed::status(&frame), FixedStatus::RingClosed);
                    let mine = $fixed::register(AlignedBuf::zeroed(CHUNK).unwrap(), CHUNK)
                        .unwrap()
                        .next()
                        .unwrap();
                    assert_eq!($fixed::status(&mine), FixedStatus::Registered);
                    let BufResult(n, frame) = $fixed::write_fixed_at(&file, frame, 0).await;
                    assert_eq!(n.unwrap(), CHUNK, "the old frame, with a plain write");
                    drop(frame);
                    let BufResult(n, mine) = $fixed::write_fixed_at(&file, mine, 0).await;
                    assert_eq!(n.unwrap(), CHUNK, "the new arena's slot, left alone");
                    assert_eq!($fixed::status(&mine), FixedStatus::Registered);
                });
            })
            .join()
            .unwrap();
            std::fs::remove_file(&tmp).unwrap();
        }
    };
}

#[cfg(feature = "compio-19")]
unwound_runtime_case!(
    fixed_runtime_dropped_while_unwinding_19,
    compio_19,
    compio19
);
#[cfg(feature = "compio-20")]
unwound_runtime_case!(
    fixed_runtime_dropped_while_unwinding_20,
    compio_20,
    compio20
);

/// The process's open file descriptors.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Runtimes dropped one after another while a panic unwinds, each with an arena registered:
/// each one's ring, seen closed when the next looks for its own, is let go of, and with it the
/// driver waker this crate held (the runtime's eventfd); the last one's when the thread exits.
/// (Each used to keep its ring, its eventfd and its entry in the thread's registry for good.)
macro_rules! unwound_runtimes_leak_nothing_case {
    ($name:ident, $compio:ident, $fixed:ident) => {
        #[test]
        fn $name() {
            use jdb_alloc::fixed::$fixed;
            use $compio::runtime::Runtime;

            const ROUNDS: usize = 8;
            let _turn = turn();
            let before = open_fds();
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    let unwound = std::panic::catch_unwind(|| {
                        let rt = Runtime::new().unwrap();
                        rt.block_on(async {
                            let frames =
                                $fixed::register(AlignedBuf::zeroed(CHUNK).unwrap(), CHUNK);
                            assert_eq!(frames.unwrap().status(), FixedStatus::Registered);
                        });
                        std::panic::resume_unwind(Box::new("drop the runtime while unwinding"));
                    });
                    assert!(unwound.is_err());
                    // The last round's eventfd is still held: its ring is seen closed next time.
                    let open = open_fds();
                    assert!(
                        open <= before + 1,
                        "round {round}: {open} descriptors open, {before} before"
                    );
                }
            })
            .join()
            .unwrap();
            assert_eq!(
                open_fds(),
                before,
                "descriptors left open by {ROUNDS} unwound runtimes"
            );
        }
    };
}

#[cfg(feature = "compio-19")]
unwound_runtimes_leak_nothing_case!(unwound_runtimes_leak_nothing_19, compio_19, compio19);
#[cfg(feature = "compio-20")]
unwound_runtimes_leak_nothing_case!(unwound_runtimes_leak_nothing_20, compio_20, compio20);

/// A runtime unwound on one thread (its ring still reads as open there); its descriptor number
/// goes to a runtime on another thread, which registers an arena in slot 0. The first thread
/// then drops its old frame: the ring's identity (its inode) must keep `release` from clearing
/// the other ring's slot 0, from the wrong thread.
#[cfg(feature = "compio-19")]
#[test]
fn fixed_old_frame_dropped_after_unwinding_leaves_the_next_ring_alone() {
    use std::sync::mpsc;

    use compio_19::{BufResult, runtime::Runtime};
    use jdb_alloc::fixed::compio19;

    let _turn = turn();
    let (fd_tx, fd_rx) = mpsc::channel::<(i32, std::fs::File)>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let old_thread = std::thread::spawn(move || {
        // Holds a low descriptor number until the other thread's runtime is to take the ring's.
        let placeholder = std::fs::File::open("/dev/null").unwrap();
        let mut kept = None;
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let rt = Runtime::new().unwrap();
            let frame = rt.block_on(async {
                compio19::register(AlignedBuf::zeroed(CHUNK).unwrap(), CHUNK)
                    .unwrap()
                    .next()
                    .unwrap()
            });
            assert_eq!(frame.status(), FixedStatus::Registered);
            kept = Some((frame, rt.as_raw_fd()));
            std::panic::resume_unwind(Box::new("unwinding with the runtime"));
        }));
        let (frame, fd) = kept.take().unwrap();
        fd_tx.send((fd, placeholder)).unwrap();
        go_rx.recv().unwrap();
        drop(frame);
        done_tx.send(()).unwrap();
    });
    let (old, placeholder) = fd_rx.recv().unwrap();
    drop(placeholder);
    let rt = Runtime::new().unwrap();
    assert_eq!(
        rt.as_raw_fd(),
        old,
        "the new ring did not get the old one's descriptor number"
    );
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("unwound_next_ring-{}.dat", std::process::id()));
    rt.block_on(async {
        let file = compio_19::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .await
            .unwrap();
        let mut mine = compio19::register(AlignedBuf::zeroed(CHUNK).unwrap(), CHUNK)
            .unwrap()
            .next()
            .unwrap();
        assert_eq!(mine.status(), FixedStatus::Registered);
        mine.fill(1);
        go_tx.send(()).unwrap();
        done_rx.recv().unwrap();
        let BufResult(n, _mine) = compio19::write_fixed_at(&file, mine, 0).await;
        assert_eq!(
            n.unwrap(),
            CHUNK,
            "slot 0 of this ring was cleared by the other thread"
        );
    });
    old_thread.join().unwrap();
    let _ = std::fs::remove_file(&path);
}
