//! The `O_DIRECT` cases every compio version must pass, as one macro: `tests/compio_17.rs`,
//! `tests/compio_19.rs` and `tests/compio_20.rs` expand it for their compio crate, and add what is their own.

/// Real `O_DIRECT` I/O through a runtime of the compio crate `$compio` (the dev-dependency's
/// name: `compio` is 0.17, `compio_19` is 0.19, `compio_20` is 0.20; `$ext` are compio-buf 0.9's
/// extension traits, which bring `buf_len` and `slice` into scope there) on files under `CARGO_TARGET_TMPDIR`: arena
/// frames out and back in, owned frames by value, whole-file and short reads, reads into
/// sub-slices, a page built with `extend`, views, mapped and huge-page buffers. Every byte is
/// checked.
macro_rules! direct_cases {
    ($compio:ident $(, $ext:ident)*) => {
        #[allow(unused_imports)]
        use $compio::buf::{$($ext as _),*};
        use jdb_alloc::{
            AlignedBuf, Frame, HUGE_PAGE_SIZE, HugePageStatus, HugePages, MAP_THRESHOLD, PAGE_SIZE,
            RawIoBuf,
        };
        #[allow(unused_imports)]
        use $compio::buf::IoBuf;
        use $compio::{
            BufResult,
            buf::IntoInner,
            fs::File,
            io::{AsyncReadAt, AsyncReadAtExt, AsyncWriteAt, AsyncWriteAtExt},
            runtime::spawn,
        };

        use crate::scratch::Scratch;

        crate::scratch::open_direct!($compio);

        /// Runs `future` to completion on a fresh runtime. (`#[compio::test]` cannot be used:
        /// with compio 0.17 and 0.19 both dev-dependencies, its expansion names the wrong one.)
        fn run<F: std::future::Future>(future: F) -> F::Output {
            $compio::runtime::Runtime::new().unwrap().block_on(future)
        }

        /// `len` bytes of [`pattern`], shifted by `seed`: a frame's own contents.
        fn stamp(len: usize, seed: u8) -> Vec<u8> {
            (0..len).map(|i| pattern(i).wrapping_add(seed)).collect()
        }

        /// Frame size of the arenas below: four pages, like a 16 KiB database page.
        const FRAME: usize = 4 * PAGE_SIZE;
        /// Frames per arena.
        const FRAMES: usize = 16;

        /// The byte at `pos` of the test files: varies within a page and from page to page.
        fn pattern(pos: usize) -> u8 {
            (pos % 251) as u8 ^ (pos / PAGE_SIZE) as u8
        }

        /// A fresh `O_DIRECT` scratch file holding `pages` pages of [`pattern`], written from an
        /// extend-built buffer; returns the file and the bytes it holds.
        async fn file_with_pattern(name: &str, pages: usize) -> (Scratch, File, Vec<u8>) {
            let scratch = Scratch::new(name);
            let file = open_direct(&scratch.0).await.unwrap();
            let bytes: Vec<u8> = (0..pages * PAGE_SIZE).map(pattern).collect();
            let mut buf = AlignedBuf::with_cap(bytes.len()).unwrap();
            buf.extend(&bytes).unwrap();
            let mut writer = &file;
            writer.write_all_at(buf, 0).await.0.unwrap();
            (scratch, file, bytes)
        }

        #[test]
        fn the_file_is_really_opened_with_o_direct() {
            run(async {
                let scratch = Scratch::new("o_direct_check");
                let file = open_direct(&scratch.0).await.unwrap();
                let mut plain = vec![0u8; 2 * PAGE_SIZE];
                let misaligned = plain.as_mut_ptr().align_offset(PAGE_SIZE) + 1;
                let bytes = &mut plain[misaligned..misaligned + PAGE_SIZE];
                // SAFETY: the view covers `bytes`, which outlive the write (awaited to
                // completion below) and are not touched meanwhile.
                let view = unsafe { RawIoBuf::from_slice(bytes) };
                let mut writer = &file;
                let refused = writer.write_at(view, 0).await.0.unwrap_err();
                assert_eq!(refused.raw_os_error(), Some(libc::EINVAL), "{refused}");

                let written = writer
                    .write_at(AlignedBuf::page().unwrap(), 0)
                    .await
                    .0
                    .unwrap();
                assert_eq!(written, PAGE_SIZE);
                // An aligned buffer at an unaligned file offset is refused too.
                let refused = file
                    .read_at(AlignedBuf::page().unwrap(), 1)
                    .await
                    .0
                    .unwrap_err();
                assert_eq!(refused.raw_os_error(), Some(libc::EINVAL), "{refused}");
            })
        }

        #[test]
        fn arena_frames_go_out_and_come_back_into_another_arena() {
            run(async {
                let scratch = Scratch::new("arena_frames");
                let file = open_direct(&scratch.0).await.unwrap();

                let mut source = AlignedBuf::zeroed(FRAMES * FRAME).unwrap();
                for (pos, byte) in source.iter_mut().enumerate() {
                    *byte = pattern(pos);
                }
                // SAFETY: the view is only read from (by the writes, each awaited to completion)
                // while `source` lives and is not written.
                let whole = unsafe { source.as_raw_view() };
                for i in 0..FRAMES {
                    // SAFETY: `[i * FRAME, (i + 1) * FRAME)` is in bounds and initialised (see
                    // above).
                    let frame = unsafe { whole.slice_data(i * FRAME, FRAME) };
                    let mut writer = &file;
                    let (_, back) = writer
                        .write_all_at(frame, (i * FRAME) as u64)
                        .await
                        .unwrap();
                    assert_eq!(back.as_ptr() as usize, source.as_ptr() as usize + i * FRAME);
                }

                let mut target = AlignedBuf::with_cap(FRAMES * FRAME).unwrap();
                // SAFETY: each frame is read into once and then inspected, all while `target`
                // lives; the frames are gone before `target` is touched through `set_len` and
                // `Deref`.
                let frames: Vec<RawIoBuf> = unsafe { target.slice_into_raws(FRAME) }.collect();
                assert_eq!(frames.len(), FRAMES);
                // Read the frames back in reverse order, so a frame/offset mix-up cannot pass.
                for (i, frame) in frames.into_iter().enumerate().rev() {
                    let (_, frame) = file.read_exact_at(frame, (i * FRAME) as u64).await.unwrap();
                    assert_eq!((frame.len(), frame.cap()), (FRAME, FRAME));
                    assert_eq!(frame.as_slice(), &source[i * FRAME..][..FRAME], "frame {i}");
                }
                // SAFETY: every frame, which together cover the whole capacity, has been filled by
                // a read.
                unsafe { target.set_len(FRAMES * FRAME) };
                assert!(target[..] == source[..]);
            })
        }

        #[test]
        fn the_whole_file_reads_into_a_buffer_of_its_size() {
            run(async {
                let (_scratch, file, bytes) = file_with_pattern("whole_file", 5).await;

                let buf = AlignedBuf::with_cap(bytes.len()).unwrap();
                let (read, buf) = file.read_at(buf, 0).await.unwrap();
                assert_eq!(
                    (read, buf.len(), buf.cap()),
                    (bytes.len(), bytes.len(), bytes.len())
                );
                assert!(buf[..] == bytes[..]);
            })
        }

        #[test]
        fn a_short_read_at_end_of_file_into_a_fresh_buffer_sets_the_length_to_the_bytes_read() {
            run(async {
                let (_scratch, file, bytes) = file_with_pattern("short_read", 3).await;

                let empty = AlignedBuf::with_cap(4 * PAGE_SIZE).unwrap();
                let (read, buf) = file.read_at(empty, 2 * PAGE_SIZE as u64).await.unwrap();
                assert_eq!((read, buf.len()), (PAGE_SIZE, PAGE_SIZE));
                assert!(buf[..] == bytes[2 * PAGE_SIZE..]);

                // A buffer that was longer keeps its length, as a `Vec` does: `read` is what came
                // in.
                let full = AlignedBuf::zeroed(4 * PAGE_SIZE).unwrap();
                let (read, mut buf) = file.read_at(full, PAGE_SIZE as u64).await.unwrap();
                assert_eq!((read, buf.len()), (2 * PAGE_SIZE, 4 * PAGE_SIZE));
                assert!(buf[..read] == bytes[PAGE_SIZE..]);
                assert!(buf[read..].iter().all(|&b| b == 0));

                // Cleared first, its length is the bytes read again: none, past the end.
                buf.clear();
                let (read, buf) = file.read_at(buf, 3 * PAGE_SIZE as u64).await.unwrap();
                assert_eq!((read, buf.len()), (0, 0));
            })
        }

        /// A read into one page (head, middle or tail) of a three-page buffer, through compio's
        /// `Slice`, fills that page and keeps the buffer's length and its other pages, so writing
        /// the whole buffer afterwards still writes all three pages. (Until 0.2 the length was cut
        /// to the end of the slice, and the write then silently lost the pages after it.)
        #[test]
        fn a_read_into_a_sub_slice_keeps_the_parents_length_and_other_pages() {
            run(async {
                let (_scratch, file, bytes) = file_with_pattern("sub_slice", 3).await;
                for page in 0..3 {
                    let mut buf = AlignedBuf::with_cap(3 * PAGE_SIZE).unwrap();
                    buf.extend(&[0xEE; 3 * PAGE_SIZE]).unwrap();
                    let range = page * PAGE_SIZE..(page + 1) * PAGE_SIZE;
                    let (read, slice) = file
                        .read_at(buf.slice(range.clone()), range.start as u64)
                        .await
                        .unwrap();
                    assert_eq!(read, PAGE_SIZE);
                    let buf = slice.into_inner();
                    assert_eq!(buf.len(), 3 * PAGE_SIZE, "page {page}");
                    for (i, chunk) in buf.chunks(PAGE_SIZE).enumerate() {
                        if i == page {
                            assert!(chunk == &bytes[range.clone()], "page {page}");
                        } else {
                            assert!(chunk.iter().all(|&b| b == 0xEE), "page {page}: page {i}");
                        }
                    }
                    let mut writer = &file;
                    let pos = ((3 + 3 * page) * PAGE_SIZE) as u64;
                    let (written, _) = writer.write_at(buf, pos).await.unwrap();
                    assert_eq!(written, 3 * PAGE_SIZE, "page {page}");
                }
            })
        }

        #[test]
        fn a_page_built_with_extend_round_trips() {
            run(async {
                let scratch = Scratch::new("extend_page");
                let file = open_direct(&scratch.0).await.unwrap();

                let mut page = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
                let mut record = 0u32;
                while page.len() + 16 <= PAGE_SIZE {
                    page.extend(&record.to_le_bytes()).unwrap();
                    page.extend(b"-record-body").unwrap();
                    record += 1;
                }
                assert_eq!(page.len(), PAGE_SIZE);
                let expected = page.to_vec();

                let mut writer = &file;
                let (_, page) = writer.write_all_at(page, PAGE_SIZE as u64).await.unwrap();
                assert_eq!(page.len(), PAGE_SIZE);

                let (read, back) = file
                    .read_at(AlignedBuf::page().unwrap(), PAGE_SIZE as u64)
                    .await
                    .unwrap();
                assert_eq!(read, PAGE_SIZE);
                assert_eq!(&back[..], &expected[..]);
                assert_eq!(&back[PAGE_SIZE - 16..PAGE_SIZE - 12], &255u32.to_le_bytes());
            })
        }

        /// An append-only record page: records added with `extend`, the tail zero-padded to a
        /// whole block, written with `O_DIRECT`, read back.
        #[test]
        fn a_padded_record_page_round_trips() {
            let scratch = Scratch::new("padded_page");
            let records: Vec<Vec<u8>> = (0..5u8).map(|i| stamp(100 + 37 * i as usize, i)).collect();
            run(async {
                let file = open_direct(&scratch.0).await.unwrap();
                let mut page = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
                for record in &records {
                    page.extend(record).unwrap();
                }
                let used = page.len();
                assert_eq!(page.pad_to_alignment(), PAGE_SIZE);
                let mut writer = &file;
                writer.write_all_at(page, 0).await.unwrap();

                let (read, back) = file
                    .read_at(AlignedBuf::with_cap(PAGE_SIZE).unwrap(), 0)
                    .await
                    .unwrap();
                assert_eq!(read, PAGE_SIZE);
                assert_eq!(&back[..used], &records.concat()[..]);
                assert!(back[used..].iter().all(|&b| b == 0));
            })
        }

        #[test]
        fn a_read_through_as_raw_lands_in_the_owning_buffer() {
            run(async {
                let (_scratch, file, bytes) = file_with_pattern("as_raw", 2).await;

                let mut buf = AlignedBuf::with_cap(2 * PAGE_SIZE).unwrap();
                // SAFETY: `buf` outlives the read, which is awaited to completion before `buf` is
                // used.
                let view = unsafe { buf.as_raw() };
                let (read, view) = file.read_at(view, 0).await.unwrap();
                assert_eq!(
                    (read, view.len(), buf.len()),
                    (2 * PAGE_SIZE, 2 * PAGE_SIZE, 0)
                );
                // SAFETY: the read initialised `read` bytes from the start of `buf`.
                unsafe { buf.set_len(read) };
                assert!(buf[..] == bytes[..]);
            })
        }

        /// Buffers at and above `MAP_THRESHOLD` are anonymous mappings, and huge-page arenas are
        /// 2 MiB-aligned mappings: both must go through `O_DIRECT` like heap buffers, with a read
        /// landing in mapped pages nobody touched before.
        #[test]
        fn mapped_and_huge_page_buffers_round_trip() {
            run(async {
                let size = MAP_THRESHOLD;
                let pages = size / PAGE_SIZE;
                let (_scratch, file, bytes) = file_with_pattern("mapped", pages).await;

                let mapped = AlignedBuf::with_cap(size).unwrap();
                let (read, mapped) = file.read_at(mapped, 0).await.unwrap();
                assert_eq!((read, mapped.len(), mapped.cap()), (size, size, size));
                assert!(mapped[..] == bytes[..]);

                let (mut huge, status) = AlignedBuf::zeroed_huge(size, HugePages::Try).unwrap();
                if status == HugePageStatus::Advised {
                    assert_eq!(huge.as_ptr() as usize % HUGE_PAGE_SIZE, 0);
                }
                huge.clear();
                let (read, huge) = file.read_at(huge, 0).await.unwrap();
                assert_eq!((read, huge.len()), (size, size));
                assert!(huge[..] == bytes[..]);

                // And back out: the mapped buffer written over the file's second half, read back.
                let half = size / 2;
                let mut writer = &file;
                let (written, _) = writer
                    .write_at(mapped.try_clone().unwrap(), half as u64)
                    .await
                    .unwrap();
                assert_eq!(written, size);
                let (read, tail) = file
                    .read_at(AlignedBuf::with_cap(size).unwrap(), half as u64)
                    .await
                    .unwrap();
                assert_eq!(read, size);
                assert!(tail[..] == bytes[..]);
            })
        }

        /// Owned frames (`into_frames`) go out by value, all in flight at once, and come back into
        /// the frames of a fresh arena; the last frame of the file is short, and a read of it sets
        /// the frame's length to the bytes read, also into a frame that was full before.
        #[test]
        fn frames_by_value_round_trip() {
            const COUNT: usize = 4;
            const TAIL: usize = 100;
            let chunk = 2 * PAGE_SIZE;
            let tmp = Scratch::new("frames");
            let tail: Vec<u8> = (0..TAIL).map(|i| pattern(i) ^ 0xa5).collect();
            run(async {
                let file = open_direct(&tmp.0).await.unwrap();
                // COUNT full frames, then one holding TAIL bytes (a zeroed arena: the rest is
                // zero).
                let mut out: Vec<Frame> = AlignedBuf::zeroed((COUNT + 1) * chunk)
                    .unwrap()
                    .into_frames(chunk)
                    .unwrap()
                    .collect();
                for (i, frame) in out.iter_mut().enumerate().take(COUNT) {
                    frame.copy_from_slice(&stamp(chunk, i as u8));
                }
                out[COUNT][..TAIL].copy_from_slice(&tail);
                let writes: Vec<_> = out
                    .into_iter()
                    .enumerate()
                    .map(|(i, frame)| {
                        let mut file = file.clone();
                        spawn(async move {
                            let (_, frame) =
                                file.write_all_at(frame, (i * chunk) as u64).await.unwrap();
                            frame
                        })
                    })
                    .collect();
                for write in writes {
                    let frame = write
                        .await
                        .unwrap_or_else(|_| panic!("a write task panicked"));
                    assert_eq!(frame.len(), chunk, "a write leaves the frame as it was");
                }
                // Cut the file inside its last frame: its end is no longer a whole block.
                let end = (COUNT * chunk + TAIL) as u64;
                // (Through std: compio 0.17's `File` has no `set_len`.)
                let cut = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&tmp.0)
                    .unwrap();
                cut.set_len(end).unwrap();

                let mut back = AlignedBuf::with_cap((COUNT + 2) * chunk)
                    .unwrap()
                    .into_frames(chunk)
                    .unwrap();
                let mut full = Vec::new();
                for i in 0..COUNT {
                    let frame = back.next().unwrap();
                    assert!(frame.is_empty());
                    let BufResult(n, frame) = file.read_at(frame, (i * chunk) as u64).await;
                    assert_eq!(n.unwrap(), chunk);
                    assert_eq!(&frame[..], &stamp(chunk, i as u8)[..], "frame {i}");
                    full.push(frame);
                }
                let last = (COUNT * chunk) as u64;
                let BufResult(n, short) = file.read_at(back.next().unwrap(), last).await;
                assert_eq!(n.unwrap(), TAIL);
                assert_eq!((short.len(), &short[..]), (TAIL, &tail[..]));

                // A full frame reused for the short tail: cleared first, its length is the bytes
                // read. Still full, it keeps its length: `n` says how much was read.
                let BufResult(n, mut reused) = file.read_at(full.pop().unwrap(), last).await;
                assert_eq!((n.unwrap(), reused.len()), (TAIL, chunk));
                assert_eq!(&reused[..TAIL], &tail[..]);
                reused.clear();
                let BufResult(n, reused) = file.read_at(reused, last).await;
                assert_eq!(n.unwrap(), TAIL);
                assert_eq!((reused.len(), &reused[..]), (TAIL, &tail[..]));

                let beyond = ((COUNT + 1) * chunk) as u64;
                let BufResult(n, past) = file.read_at(back.next().unwrap(), beyond).await;
                assert_eq!(n.unwrap(), 0, "past the end");
                assert!(past.is_empty());
                // The other full frames are untouched by the reads into their neighbours.
                for (i, frame) in full.iter().enumerate() {
                    assert_eq!(&frame[..], &stamp(chunk, i as u8)[..], "frame {i}");
                }
            });
        }
    };
}

pub(crate) use direct_cases;
