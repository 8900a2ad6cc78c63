//! Fixed frames (io_uring registered buffers) through real compio runtimes, 0.17 (`v17::`),
//! 0.19 (`v19::`) and 0.20 (`v20::`), on `O_DIRECT` files under `CARGO_TARGET_TMPDIR`: fixed and plain operations,
//! short reads, the fallbacks with their status, and frames dropped in any order, also under a
//! dropped in-flight read. The same cases for every version, from one macro.
#![cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]

mod poll;
mod scratch;

use scratch::Scratch;

/// Distinct, position-dependent bytes, so a misplaced page cannot compare equal.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

/// The cases, for the compio crate `$compio` and this crate's module `fixed::$fixed`.
macro_rules! fixed_cases {
    ($compio:ident, $fixed:ident) => {
        use std::os::fd::AsRawFd;

        use jdb_alloc::{
            AlignedBuf, PAGE_SIZE,
            fixed::{FixedFrame, FixedStatus, TABLE_SLOTS, $fixed},
        };
        use $compio::{
            BufResult,
            fs::File,
            io::{AsyncReadAt, AsyncWriteAt},
            runtime::Runtime,
        };

        use crate::{Scratch, pattern, poll::start_and_drop};

        crate::scratch::open_direct!($compio);
        crate::scratch::open_read_direct!($compio);

        const CHUNK: usize = 16 * PAGE_SIZE;
        const FRAMES: usize = 8;

        /// `FRAMES` registered frames of `CHUNK` bytes each, from an arena that is not initialised.
        fn registered_empty() -> Vec<FixedFrame> {
            let frames =
                $fixed::register(AlignedBuf::with_cap(FRAMES * CHUNK).unwrap(), CHUNK).unwrap();
            assert_eq!(frames.status(), FixedStatus::Registered);
            frames.collect()
        }

        async fn write_all(file: &File, frames: Vec<FixedFrame>) -> Vec<FixedFrame> {
            let mut back = Vec::new();
            for (i, frame) in frames.into_iter().enumerate() {
                let len = frame.len();
                let BufResult(n, frame) =
                    $fixed::write_fixed_at(file, frame, (i * CHUNK) as u64).await;
                assert_eq!(n.unwrap(), len, "frame {i}");
                back.push(frame);
            }
            back
        }

        #[test]
        fn fixed_write_then_fixed_read_into_another_registered_arena() {
            let tmp = Scratch::new(&format!("{}_round_trip", stringify!($fixed)));
            Runtime::new().unwrap().block_on(async {
                let file = open_direct(&tmp.0).await.unwrap();
                let mut out = registered_empty();
                for (i, frame) in out.iter_mut().enumerate() {
                    assert_eq!($fixed::status(frame), FixedStatus::Registered);
                    frame.extend(&pattern(CHUNK, i as u8)).unwrap();
                }
                let out = write_all(&file, out).await;

                for (i, frame) in registered_empty().into_iter().enumerate().rev() {
                    assert!(frame.is_empty());
                    let BufResult(n, frame) =
                        $fixed::read_fixed_at(&file, frame, (i * CHUNK) as u64).await;
                    assert_eq!(n.unwrap(), CHUNK);
                    assert_eq!(frame.len(), CHUNK);
                    assert_eq!(&frame[..], &out[i][..], "frame {i}");
                }
            });
        }

        #[test]
        fn fixed_short_read_at_end_of_file() {
            let tmp = Scratch::new(&format!("{}_short", stringify!($fixed)));
            let data = pattern(CHUNK + 100, 0x3c);
            std::fs::write(&tmp.0, &data).unwrap();
            Runtime::new().unwrap().block_on(async {
                let file = open_read_direct(&tmp.0).await;
                let mut frames = registered_empty().into_iter();
                let BufResult(n, tail) =
                    $fixed::read_fixed_at(&file, frames.next().unwrap(), CHUNK as u64).await;
                assert_eq!(n.unwrap(), 100);
                assert_eq!((tail.len(), &tail[..]), (100, &data[CHUNK..]));

                let BufResult(n, past) =
                    $fixed::read_fixed_at(&file, frames.next().unwrap(), 2 * CHUNK as u64).await;
                assert_eq!(n.unwrap(), 0, "past the end");
                assert!(past.is_empty());

                // O_DIRECT is in force: an unaligned offset is refused, also for a fixed read.
                let BufResult(res, _) = $fixed::read_fixed_at(&file, tail, 1).await;
                assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EINVAL));
            });
        }

        #[test]
        fn fixed_and_plain_operations_mix_on_the_same_frames() {
            let tmp = Scratch::new(&format!("{}_mix", stringify!($fixed)));
            Runtime::new().unwrap().block_on(async {
                let mut file = open_direct(&tmp.0).await.unwrap();
                let mut frames = registered_empty().into_iter();
                let (mut a, b) = (frames.next().unwrap(), frames.next().unwrap());
                a.extend(&pattern(CHUNK, 1)).unwrap();
                // Fixed write, plain read into a registered frame.
                let BufResult(n, a) = $fixed::write_fixed_at(&file, a, 0).await;
                assert_eq!(n.unwrap(), CHUNK);
                let BufResult(n, mut b) = file.read_at(b, 0).await;
                assert_eq!(n.unwrap(), CHUNK);
                assert_eq!(&b[..], &a[..]);
                // Plain write of a registered frame, fixed read back.
                b.copy_from_slice(&pattern(CHUNK, 2));
                let BufResult(n, b) = file.write_at(b, CHUNK as u64).await;
                assert_eq!(n.unwrap(), CHUNK);
                let mut a = a;
                a.clear();
                let BufResult(n, a) = $fixed::read_fixed_at(&file, a, CHUNK as u64).await;
                assert_eq!(n.unwrap(), CHUNK);
                assert_eq!(&a[..], &pattern(CHUNK, 2)[..]);
                assert_eq!(&b[..], &a[..]);
            });
        }

        /// A frame registered with one runtime works on another through plain I/O, and says so; once
        /// its runtime is dropped it says that too, and still works.
        #[test]
        fn fixed_frame_from_another_runtime_falls_back() {
            let tmp = Scratch::new(&format!("{}_other_runtime", stringify!($fixed)));
            let first = Runtime::new().unwrap();
            let mut frames = first.block_on(async {
                $fixed::register(AlignedBuf::with_cap(FRAMES * CHUNK).unwrap(), CHUNK).unwrap()
            });
            assert_eq!(frames.status(), FixedStatus::Registered);
            let frame = frames.next().unwrap();
            let second = Runtime::new().unwrap();
            let frame = second.block_on(async {
                assert_eq!($fixed::status(&frame), FixedStatus::OtherRuntime);
                round_trip(&tmp, frame, 7).await
            });
            first.block_on(async { assert_eq!($fixed::status(&frame), FixedStatus::Registered) });
            drop(first);
            assert_eq!(frame.status(), FixedStatus::RingClosed);
            assert_eq!(frames.status(), FixedStatus::RingClosed);
            second.block_on(async {
                assert_eq!($fixed::status(&frame), FixedStatus::RingClosed);
                round_trip(&tmp, frame, 9).await
            });
            drop(frames);
        }

        /// Writes `seed`'s pattern through `frame` and reads it back into it.
        async fn round_trip(tmp: &Scratch, mut frame: FixedFrame, seed: u8) -> FixedFrame {
            let file = open_direct(&tmp.0).await.unwrap();
            frame.clear();
            frame.extend(&pattern(CHUNK, seed)).unwrap();
            let BufResult(n, mut frame) = $fixed::write_fixed_at(&file, frame, 0).await;
            assert_eq!(n.unwrap(), CHUNK);
            frame.fill(0);
            frame.clear();
            let BufResult(n, frame) = $fixed::read_fixed_at(&file, frame, 0).await;
            assert_eq!(n.unwrap(), CHUNK);
            assert_eq!(&frame[..], &pattern(CHUNK, seed)[..]);
            frame
        }

        /// Someone else registered buffers on the ring first: this crate's registration gets `EBUSY`,
        /// reports it, and the frames do plain I/O.
        #[test]
        fn fixed_registration_refused_on_an_occupied_table_falls_back() {
            let tmp = Scratch::new(&format!("{}_busy", stringify!($fixed)));
            Runtime::new().unwrap().block_on(async {
                let ring = Runtime::with_current(|rt| rt.as_raw_fd());
                let mut theirs = vec![0u8; PAGE_SIZE];
                let iov = libc::iovec {
                    iov_base: theirs.as_mut_ptr().cast(),
                    iov_len: theirs.len(),
                };
                // SAFETY: registers `theirs` (alive until the runtime, and with it the ring, is gone at
                // the end of this test) as the ring's one buffer; nothing ever names it in an operation.
                let res = unsafe {
                    libc::syscall(
                        libc::SYS_io_uring_register,
                        ring,
                        0, // IORING_REGISTER_BUFFERS
                        &iov,
                        1,
                    )
                };
                assert_eq!(res, 0, "{}", std::io::Error::last_os_error());

                let frames =
                    $fixed::register(AlignedBuf::zeroed(2 * CHUNK).unwrap(), CHUNK).unwrap();
                assert_eq!(frames.status(), FixedStatus::TableBusy);
                for frame in frames {
                    assert_eq!($fixed::status(&frame), FixedStatus::TableBusy);
                    round_trip(&tmp, frame, 3).await;
                }
                let _ = &theirs;
            });
        }

        /// Outside a runtime nothing is registered; the frames still work inside one.
        #[test]
        fn fixed_frames_registered_outside_a_runtime_fall_back() {
            let tmp = Scratch::new(&format!("{}_no_runtime", stringify!($fixed)));
            let mut frames = $fixed::register(AlignedBuf::zeroed(CHUNK).unwrap(), CHUNK).unwrap();
            assert_eq!(frames.status(), FixedStatus::NoRuntime);
            let frame = frames.next().unwrap();
            Runtime::new()
                .unwrap()
                .block_on(async { round_trip(&tmp, frame, 5).await });
        }

        /// Frames and their iterator dropped in any order, one of them with its read still in flight
        /// (future dropped): the runtime keeps working, and later arenas, more than the table has
        /// slots, register (the table got its slots back).
        #[test]
        fn fixed_frames_dropped_in_any_order_also_in_flight() {
            let tmp = Scratch::new(&format!("{}_drop_order", stringify!($fixed)));
            let data = pattern(FRAMES * CHUNK, 0x21);
            std::fs::write(&tmp.0, &data).unwrap();
            Runtime::new().unwrap().block_on(async {
                let file = open_read_direct(&tmp.0).await;
                for round in 0..16 {
                    let mut frames =
                        $fixed::register(AlignedBuf::with_cap(FRAMES * CHUNK).unwrap(), CHUNK)
                            .unwrap();
                    assert_eq!(frames.status(), FixedStatus::Registered, "round {round}");
                    let mut taken: Vec<FixedFrame> = frames.by_ref().take(FRAMES - 2).collect();
                    let in_flight = taken.swap_remove(round % taken.len());
                    start_and_drop($fixed::read_fixed_at(&file, in_flight, 0)).await;
                    // Drop the rest in an order that changes from round to round.
                    while !taken.is_empty() {
                        let i = (round * 7 + taken.len()) % taken.len();
                        let frame = taken.swap_remove(i);
                        assert_eq!(frame.status(), FixedStatus::Registered);
                        drop(frame);
                    }
                    if round % 2 == 0 {
                        drop(frames);
                    } else {
                        // The iterator last, after a read through one of its frames.
                        let frame = frames.next().unwrap();
                        let BufResult(n, frame) = $fixed::read_fixed_at(&file, frame, 0).await;
                        assert_eq!(n.unwrap(), CHUNK);
                        assert_eq!(&frame[..], &data[..CHUNK]);
                        drop(frames);
                        drop(frame);
                    }
                }
                // More arenas than the table has slots, one after another: each registers only
                // if the slots of those before came back.
                for round in 0..=TABLE_SLOTS {
                    let frames = $fixed::register(AlignedBuf::page().unwrap(), PAGE_SIZE).unwrap();
                    assert_eq!(frames.status(), FixedStatus::Registered, "arena {round}");
                }
            });
        }
    };
}

#[cfg(feature = "compio-17")]
mod v17 {
    fixed_cases!(compio, compio17);
}

#[cfg(feature = "compio-19")]
mod v19 {
    fixed_cases!(compio_19, compio19);
}

#[cfg(feature = "compio-20")]
mod v20 {
    fixed_cases!(compio_20, compio20);
}
