//! Real `O_DIRECT` I/O through compio 0.19 (compio-buf 0.8 traits, `v19::`) and compio 0.20
//! (compio-buf 0.9 traits, `v20::`) runtimes, byte for byte: the same cases for both, from one
//! macro, and what compio's vectored reads do with these buffers.
#![cfg(all(
    target_os = "linux",
    any(feature = "compio-buf-08", feature = "compio-buf-09")
))]

mod scratch;

/// Distinct, position-dependent bytes, so a misplaced page cannot compare equal.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

/// The cases, for the compio crate `$compio`; `$ext` are the compio-buf traits that bring
/// `buf_len` and `slice` into scope (compio-buf 0.9 moved them to extension traits).
macro_rules! cases {
    ($compio:ident, $($ext:ident),+) => {
        use jdb_alloc::{AlignedBuf, Frame, PAGE_SIZE, RawIoBuf};
        #[allow(unused_imports)]
        use $compio::buf::{$($ext as _),+};
        use $compio::{
            BufResult,
            buf::IntoInner,
            fs::{File, OpenOptions},
            io::{AsyncReadAt, AsyncWriteAt},
            runtime::{Runtime, spawn},
        };

        use crate::{pattern, scratch::Scratch};

        crate::scratch::open_direct!($compio);

        fn run<F: Future>(future: F) -> F::Output {
            Runtime::new().unwrap().block_on(future)
        }

        /// A scratch file named for the test and the compio version.
        fn scratch(name: &str) -> Scratch {
            Scratch::new(&format!("{}_{name}", stringify!($compio)))
        }

        async fn write_all_at<B: $compio::buf::IoBuf>(file: &mut File, buf: B, pos: u64) -> B {
            let len = buf.buf_len();
            let BufResult(n, buf) = file.write_at(buf, pos).await;
            assert_eq!(n.unwrap(), len, "short O_DIRECT write at {pos}");
            buf
        }

        /// compio's vectored read reads into each buffer's initialised bytes `[0, len)`, not its
        /// capacity (compio 0.19 and 0.20: `ReadVectoredAt` takes its iovecs from `sys_slices()`):
        /// fresh buffers get nothing, filled ones their length. The day compio reads into the
        /// capacity, the first half fails: then revise "Vectored reads" in the crate docs.
        #[test]
        fn vectored_read_fills_only_the_initialised_bytes() {
            let tmp = scratch("vectored");
            let data = pattern(2 * PAGE_SIZE, 0x42);
            run(async {
                let mut file = open_direct(&tmp.0).await.unwrap();
                let mut src = AlignedBuf::with_cap(data.len()).unwrap();
                src.extend(&data).unwrap();
                write_all_at(&mut file, src, 0).await;

                let fresh = vec![
                    AlignedBuf::with_cap(PAGE_SIZE).unwrap(),
                    AlignedBuf::with_cap(PAGE_SIZE).unwrap(),
                ];
                let BufResult(n, fresh) = file.read_vectored_at(fresh, 0).await;
                assert_eq!(n.unwrap(), 0, "compio now reads into the capacity: update the docs");
                assert!(fresh.iter().all(|buf| buf.is_empty()));

                let filled = vec![
                    AlignedBuf::zeroed(PAGE_SIZE).unwrap(),
                    AlignedBuf::zeroed(PAGE_SIZE).unwrap(),
                ];
                let BufResult(n, filled) = file.read_vectored_at(filled, 0).await;
                assert_eq!(n.unwrap(), 2 * PAGE_SIZE);
                assert_eq!(&filled[0][..], &data[..PAGE_SIZE]);
                assert_eq!(&filled[1][..], &data[PAGE_SIZE..]);
            });
        }

        #[test]
        fn arena_frames_written_and_read_back() {
            const FRAMES: usize = 4;
            let tmp = scratch("arena");
            let data = pattern(FRAMES * PAGE_SIZE, 0x5a);
            run(async {
                let mut file = open_direct(&tmp.0).await.unwrap();
                let mut src = AlignedBuf::with_cap(data.len()).unwrap();
                src.extend(&data).unwrap();
                // SAFETY: `src` outlives the views and is not touched while they are in flight.
                let whole = unsafe { src.as_raw_view() };
                // Write the frames in reverse order, each at its own offset.
                for i in (0..FRAMES).rev() {
                    // SAFETY: as above; [i * PAGE_SIZE, +PAGE_SIZE) is initialised.
                    let frame = unsafe { whole.slice_data(i * PAGE_SIZE, PAGE_SIZE) };
                    write_all_at(&mut file, frame, (i * PAGE_SIZE) as u64).await;
                }

                let dst = AlignedBuf::with_cap(data.len()).unwrap();
                // SAFETY: `dst` outlives the frames; each frame is used by one read at a time and
                // `dst` is only read after all of them completed.
                let frames: Vec<RawIoBuf> = unsafe { dst.slice_into_raws(PAGE_SIZE) }.collect();
                for (i, frame) in frames.into_iter().enumerate() {
                    let BufResult(n, frame) = file.read_at(frame, (i * PAGE_SIZE) as u64).await;
                    assert_eq!(n.unwrap(), PAGE_SIZE);
                    assert_eq!(frame.len(), PAGE_SIZE);
                    assert_eq!(
                        frame.as_slice(),
                        &data[i * PAGE_SIZE..][..PAGE_SIZE],
                        "frame {i}"
                    );
                }
            });
        }

        #[test]
        fn whole_file_read_into_with_cap() {
            let tmp = scratch("whole");
            let data = pattern(3 * PAGE_SIZE, 0x17);
            run(async {
                let mut file = open_direct(&tmp.0).await.unwrap();
                let mut src = AlignedBuf::with_cap(data.len()).unwrap();
                src.extend(&data).unwrap();
                write_all_at(&mut file, src, 0).await;

                let BufResult(n, buf) = file
                    .read_at(AlignedBuf::with_cap(data.len()).unwrap(), 0)
                    .await;
                assert_eq!(n.unwrap(), data.len());
                assert_eq!(buf.len(), data.len());
                assert_eq!(&buf[..], &data[..]);

                // O_DIRECT is really in force: an unaligned file offset is refused.
                let BufResult(res, _) = file.read_at(buf, 1).await;
                assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
            });
        }

        /// The last page of a file whose length is not a whole page: the read is short, and a fresh
        /// buffer's length says so; a buffer that was full before keeps its length (compio 0.19 calls
        /// `advance_to`, which only raises it), and `n` says how much was read.
        #[test]
        fn short_read_at_end_of_file() {
            let tmp = scratch("short");
            let data = pattern(2 * PAGE_SIZE + 100, 0x3c);
            // A buffered write sets the unaligned length; O_DIRECT reads it back.
            std::fs::write(&tmp.0, &data).unwrap();
            run(async {
                let file = OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_DIRECT)
                    .open(&tmp.0)
                    .await
                    .unwrap();
                let tail = 2 * PAGE_SIZE as u64;

                let BufResult(n, buf) = file
                    .read_at(AlignedBuf::with_cap(PAGE_SIZE).unwrap(), tail)
                    .await;
                assert_eq!(n.unwrap(), 100);
                assert_eq!(buf.len(), 100);
                assert_eq!(&buf[..], &data[2 * PAGE_SIZE..]);

                let full = AlignedBuf::zeroed(PAGE_SIZE).unwrap();
                let BufResult(n, mut buf) = file.read_at(full, tail).await;
                assert_eq!(n.unwrap(), 100);
                assert_eq!(buf.len(), PAGE_SIZE);
                assert_eq!(&buf[..100], &data[2 * PAGE_SIZE..]);
                assert!(buf[100..].iter().all(|&b| b == 0));

                buf.clear();
                let BufResult(n, buf) = file.read_at(buf, tail + PAGE_SIZE as u64).await;
                assert_eq!(n.unwrap(), 0, "past the end");
                assert!(buf.is_empty());
            });
        }

        /// A read into one page (head, middle or tail) of a three-page buffer through compio's `Slice`
        /// keeps the buffer's length and other pages: a write of the whole buffer then sends all of it.
        #[test]
        fn a_read_into_a_sub_slice_keeps_the_parents_length_and_other_pages() {
            let tmp = scratch("sub_slice");
            let data = pattern(3 * PAGE_SIZE, 0x5a);
            run(async {
                let mut file = open_direct(&tmp.0).await.unwrap();
                let mut source = AlignedBuf::with_cap(data.len()).unwrap();
                source.extend(&data).unwrap();
                write_all_at(&mut file, source, 0).await;
                for page in 0..3 {
                    let mut buf = AlignedBuf::with_cap(3 * PAGE_SIZE).unwrap();
                    buf.extend(&[0xEE; 3 * PAGE_SIZE]).unwrap();
                    let range = page * PAGE_SIZE..(page + 1) * PAGE_SIZE;
                    let BufResult(n, slice) = file
                        .read_at(buf.slice(range.clone()), range.start as u64)
                        .await;
                    assert_eq!(n.unwrap(), PAGE_SIZE);
                    let buf = slice.into_inner();
                    assert_eq!(buf.len(), 3 * PAGE_SIZE, "page {page}");
                    for (i, chunk) in buf.chunks(PAGE_SIZE).enumerate() {
                        if i == page {
                            assert!(chunk == &data[range.clone()], "page {page}");
                        } else {
                            assert!(chunk.iter().all(|&b| b == 0xEE), "page {page}: page {i}");
                        }
                    }
                    write_all_at(&mut file, buf, ((3 + 3 * page) * PAGE_SIZE) as u64).await;
                }
            });
        }

        /// An append-only record page: records added with `extend`, the tail zero-padded to a whole
        /// block, written with `O_DIRECT`, read back.
        #[test]
        fn page_built_with_extend_and_padding() {
            let tmp = scratch("extend");
            let records: Vec<Vec<u8>> = (0..5u8)
                .map(|i| pattern(100 + 37 * i as usize, i))
                .collect();
            run(async {
                let mut file = open_direct(&tmp.0).await.unwrap();
                let mut page = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
                for record in &records {
                    page.extend(record).unwrap();
                }
                let used = page.len();
                assert_eq!(page.pad_to_alignment(), PAGE_SIZE);
                write_all_at(&mut file, page, 0).await;

                let BufResult(n, back) = file
                    .read_at(AlignedBuf::with_cap(PAGE_SIZE).unwrap(), 0)
                    .await;
                assert_eq!(n.unwrap(), PAGE_SIZE);
                assert_eq!(&back[..used], &records.concat()[..]);
                assert!(back[used..].iter().all(|&b| b == 0));
            });
        }

        /// Owned frames (`into_frames`) go out by value, all in flight at once, and come back into the
        /// frames of a fresh arena; the last frame of the file is short, and a read of it sets the
        /// frame's length to the bytes read, also into a frame that was full before.
        #[test]
        fn frames_by_value_round_trip() {
            const FRAMES: usize = 4;
            const TAIL: usize = 100;
            let chunk = 2 * PAGE_SIZE;
            let tmp = scratch("frames");
            let tail = pattern(TAIL, 0xa5);
            run(async {
                let file = open_direct(&tmp.0).await.unwrap();
                // FRAMES full frames, then one holding TAIL bytes (a zeroed arena: the rest is zero).
                let mut out: Vec<Frame> = AlignedBuf::zeroed((FRAMES + 1) * chunk)
                    .unwrap()
                    .into_frames(chunk)
                    .unwrap()
                    .collect();
                for (i, frame) in out.iter_mut().enumerate().take(FRAMES) {
                    frame.copy_from_slice(&pattern(chunk, i as u8));
                }
                out[FRAMES][..TAIL].copy_from_slice(&tail);
                let writes: Vec<_> = out
                    .into_iter()
                    .enumerate()
                    .map(|(i, frame)| {
                        let mut file = file.clone();
                        spawn(async move { write_all_at(&mut file, frame, (i * chunk) as u64).await })
                    })
                    .collect();
                for write in writes {
                    let frame = write.await.unwrap();
                    assert_eq!(frame.len(), chunk, "a write leaves the frame as it was");
                }
                // Cut the file inside its last frame: its end is no longer a whole block.
                let end = (FRAMES * chunk + TAIL) as u64;
                file.set_len(end).await.unwrap();

                let mut back = AlignedBuf::with_cap((FRAMES + 2) * chunk)
                    .unwrap()
                    .into_frames(chunk)
                    .unwrap();
                let mut full = Vec::new();
                for i in 0..FRAMES {
                    let frame = back.next().unwrap();
                    assert!(frame.is_empty());
                    let BufResult(n, frame) = file.read_at(frame, (i * chunk) as u64).await;
                    assert_eq!(n.unwrap(), chunk);
                    assert_eq!(&frame[..], &pattern(chunk, i as u8)[..], "frame {i}");
                    full.push(frame);
                }
                let last = (FRAMES * chunk) as u64;
                let BufResult(n, short) = file.read_at(back.next().unwrap(), last).await;
                assert_eq!(n.unwrap(), TAIL);
                assert_eq!((short.len(), &short[..]), (TAIL, &tail[..]));

                // A full frame reused for the short tail: cleared first, its length is the bytes read.
                let mut reused = full.pop().unwrap();
                reused.clear();
                let BufResult(n, reused) = file.read_at(reused, last).await;
                assert_eq!(n.unwrap(), TAIL);
                assert_eq!((reused.len(), &reused[..]), (TAIL, &tail[..]));

                let beyond = ((FRAMES + 1) * chunk) as u64;
                let BufResult(n, past) = file.read_at(back.next().unwrap(), beyond).await;
                assert_eq!(n.unwrap(), 0, "past the end");
                assert!(past.is_empty());
                // The other full frames are untouched by the reads into their neighbours.
                for (i, frame) in full.iter().enumerate() {
                    assert_eq!(&frame[..], &pattern(chunk, i as u8)[..], "frame {i}");
                }
            });
        }
    };
}

#[cfg(feature = "compio-buf-08")]
mod v19 {
    cases!(compio_19, IoBuf);
}

#[cfg(feature = "compio-buf-09")]
mod v20 {
    cases!(compio_20, IoBuf, IoBufExt);
}
