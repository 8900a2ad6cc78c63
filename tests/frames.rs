//! `AlignedBuf::into_frames` and `Frame`: layout, carried-over bytes, ownership across drops and
//! threads. Frames through real `O_DIRECT` I/O: `frames_by_value_round_trip` in
//! `tests/direct_cases`, for every compio version.

use std::mem::size_of;

use jdb_alloc::{ALIGNMENT, AlignedBuf, Error, Frame, Frames, PAGE_SIZE};
use proptest::prelude::*;

/// Frame `i` of a test gets bytes that name it, so a write landing in the wrong frame shows.
fn pattern(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i * 31 + j % 251) as u8).collect()
}

fn frames_of(arena: AlignedBuf, chunk: usize) -> Vec<Frame> {
    arena.into_frames(chunk).unwrap().collect()
}

#[test]
fn frame_is_four_words_and_thread_safe() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Frame>();
    send_sync::<Frames>();
    assert_eq!(size_of::<Frame>(), 4 * size_of::<usize>());
    assert_eq!(size_of::<Option<Frame>>(), size_of::<Frame>());
}

#[test]
fn frames_tile_the_arena_in_address_order() {
    let chunk = 2 * PAGE_SIZE;
    let arena = AlignedBuf::with_cap(8 * PAGE_SIZE).unwrap();
    let base = arena.as_ptr() as usize;
    let mut frames = arena.into_frames(chunk).unwrap();
    assert_eq!(frames.len(), 4);

    let last = frames.next_back().unwrap();
    assert_eq!(last.as_ptr() as usize, base + 3 * chunk);
    assert_eq!(frames.len(), 3);
    for (i, frame) in frames.by_ref().enumerate() {
        assert_eq!(frame.as_ptr() as usize, base + i * chunk);
        assert_eq!(frame.as_ptr() as usize % ALIGNMENT, 0);
        assert_eq!((frame.len(), frame.cap()), (0, chunk));
    }
    assert_eq!(frames.len(), 0);
    assert!(frames.next().is_none() && frames.next_back().is_none());
}

#[test]
fn writes_stay_inside_their_frame() {
    let mut frames = frames_of(AlignedBuf::zeroed(4 * PAGE_SIZE).unwrap(), PAGE_SIZE);
    for (i, frame) in frames.iter_mut().enumerate() {
        frame.copy_from_slice(&pattern(i, PAGE_SIZE));
    }
    for (i, frame) in frames.iter().enumerate() {
        assert_eq!(&frame[..], &pattern(i, PAGE_SIZE)[..], "frame {i}");
    }

    let mut empty = frames_of(AlignedBuf::with_cap(3 * PAGE_SIZE).unwrap(), PAGE_SIZE);
    empty[1].extend(&pattern(1, PAGE_SIZE)).unwrap();
    assert!(empty[0].is_empty() && empty[2].is_empty());
    assert_eq!(&empty[1][..], &pattern(1, PAGE_SIZE)[..]);
}

#[test]
fn initialised_bytes_carry_over() {
    let zeroed = frames_of(AlignedBuf::zeroed(3 * PAGE_SIZE).unwrap(), PAGE_SIZE);
    assert!(
        zeroed
            .iter()
            .all(|f| f.len() == PAGE_SIZE && f.iter().all(|&b| b == 0))
    );

    let fresh = frames_of(AlignedBuf::with_cap(3 * PAGE_SIZE).unwrap(), PAGE_SIZE);
    assert!(fresh.iter().all(|f| f.is_empty() && f.cap() == PAGE_SIZE));

    // 5000 bytes: one full frame, one of 904 bytes, then empty ones.
    let data = pattern(7, 5000);
    let mut arena = AlignedBuf::with_cap(4 * PAGE_SIZE).unwrap();
    arena.extend(&data).unwrap();
    let partial = frames_of(arena, PAGE_SIZE);
    assert_eq!(&partial[0][..], &data[..PAGE_SIZE]);
    assert_eq!(&partial[1][..], &data[PAGE_SIZE..]);
    assert!(partial[2].is_empty() && partial[3].is_empty());
}

#[test]
fn a_short_tail_or_a_chunk_beyond_cap_is_not_handed_out() {
    let arena = AlignedBuf::zeroed(5 * PAGE_SIZE).unwrap();
    assert_eq!(arena.into_frames(2 * PAGE_SIZE).unwrap().len(), 2);

    let mut none = AlignedBuf::page()
        .unwrap()
        .into_frames(2 * PAGE_SIZE)
        .unwrap();
    assert_eq!(none.len(), 0);
    assert!(none.next().is_none());
}

#[test]
fn a_bad_chunk_is_an_error_naming_it() {
    for chunk in [0, 100, ALIGNMENT + 1, ALIGNMENT + ALIGNMENT / 2] {
        let err = AlignedBuf::zeroed(4 * PAGE_SIZE)
            .unwrap()
            .into_frames(chunk)
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidChunk { chunk: c, alignment: ALIGNMENT } if c == chunk),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&format!("chunk {chunk} ")), "{msg}");
        assert!(msg.contains(&ALIGNMENT.to_string()), "{msg}");
    }
}

#[test]
#[should_panic(
    expected = "slice_into_raws: chunk 100 must be a non-zero multiple of ALIGNMENT (4096)"
)]
fn slice_into_raws_applies_the_same_rule() {
    let arena = AlignedBuf::page().unwrap();
    // SAFETY: the call panics before any frame exists.
    let _ = unsafe { arena.slice_into_raws(100) }.count();
}

#[test]
fn frame_is_a_fixed_capacity_buffer() {
    let mut frame = frames_of(AlignedBuf::with_cap(PAGE_SIZE).unwrap(), PAGE_SIZE).remove(0);
    frame.extend(b"hello").unwrap();
    frame.extend(&[b'!'; 3]).unwrap();
    assert_eq!(&frame[..], b"hello!!!");

    let err = frame.extend(&[0; PAGE_SIZE]).unwrap_err();
    assert!(
        matches!(err, Error::Overflow(n, PAGE_SIZE) if n == 8 + PAGE_SIZE),
        "{err:?}"
    );
    assert_eq!(frame.as_ref(), b"hello!!!");

    frame.truncate(100);
    assert_eq!(frame.len(), 8);
    frame.truncate(5);
    frame.as_mut()[0] = b'j';
    assert_eq!(&frame[..], b"jello");
    frame.clear();
    assert!(frame.is_empty());
    assert_eq!(frame.cap(), PAGE_SIZE);

    let ptr = frame.as_mut_ptr();
    // SAFETY: `ptr` is valid for `cap` bytes, of which we write and then claim the first 3.
    unsafe {
        ptr.copy_from_nonoverlapping(b"abc".as_ptr(), 3);
        frame.set_len(3);
    }
    assert_eq!(&frame[..], b"abc");
    let debug = format!("{frame:?}");
    assert!(
        debug.contains("len: 3") && debug.contains("cap: 4096"),
        "{debug}"
    );
}

#[test]
fn raw_view_of_a_frame_shares_its_bytes() {
    let mut frame = frames_of(AlignedBuf::zeroed(PAGE_SIZE).unwrap(), PAGE_SIZE).remove(0);
    // SAFETY: the view is used only below, while the frame lives and is not otherwise used.
    let mut raw = unsafe { frame.as_raw() };
    assert_eq!(
        (raw.as_ptr(), raw.len(), raw.cap()),
        (frame.as_ptr(), PAGE_SIZE, PAGE_SIZE)
    );
    raw.as_mut_slice()[..4].copy_from_slice(b"view");
    assert_eq!(&frame[..4], b"view");
}

#[test]
fn frames_left_in_the_iterator_go_with_it() {
    let mut frames = AlignedBuf::zeroed(8 * PAGE_SIZE)
        .unwrap()
        .into_frames(PAGE_SIZE)
        .unwrap();
    let mut kept: Vec<Frame> = frames.by_ref().take(2).collect();
    drop(frames);
    for (i, frame) in kept.iter_mut().enumerate() {
        frame.copy_from_slice(&pattern(i, PAGE_SIZE));
    }
    for (i, frame) in kept.iter().enumerate() {
        assert_eq!(&frame[..], &pattern(i, PAGE_SIZE)[..]);
    }
}

#[test]
fn frames_move_across_threads() {
    let frames = frames_of(AlignedBuf::with_cap(16 * PAGE_SIZE).unwrap(), PAGE_SIZE);
    let mut per_thread: Vec<Vec<(usize, Frame)>> = (0..4).map(|_| Vec::new()).collect();
    for (i, frame) in frames.into_iter().enumerate() {
        per_thread[i % 4].push((i, frame));
    }

    let mut back: Vec<(usize, Frame)> = std::thread::scope(|s| {
        let handles: Vec<_> = per_thread
            .into_iter()
            .map(|mut mine| {
                s.spawn(move || {
                    for (i, frame) in &mut mine {
                        frame.extend(&pattern(*i, PAGE_SIZE)).unwrap();
                    }
                    mine.pop(); // each thread drops one of its frames
                    mine
                })
            })
            .collect(); // all threads run at once
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(back.len(), 12);
    for (i, frame) in &back {
        assert_eq!(&frame[..], &pattern(*i, PAGE_SIZE)[..], "frame {i}");
    }

    // The block is released on whichever thread drops the last frame.
    let last = back.pop().unwrap();
    drop(back);
    let (i, frame) = std::thread::spawn(move || last).join().unwrap();
    assert_eq!(&frame[..], &pattern(i, PAGE_SIZE)[..]);
    std::thread::spawn(move || drop(frame)).join().unwrap();
}

proptest! {
    /// Dropping all but a few frames, in any order, never disturbs the survivors (under ASan a
    /// block freed too early is a use-after-free, one never freed a leak).
    #[test]
    fn any_drop_order_leaves_the_rest_valid(
        (order, keep) in (2usize..=16).prop_flat_map(|n| {
            (Just((0..n).collect::<Vec<_>>()).prop_shuffle(), 1..n)
        })
    ) {
        let chunk = PAGE_SIZE;
        let mut live: Vec<Option<Frame>> = AlignedBuf::with_cap(order.len() * chunk)
            .unwrap()
            .into_frames(chunk)
            .unwrap()
            .map(Some)
            .collect();
        for (i, frame) in live.iter_mut().enumerate() {
            frame.as_mut().unwrap().extend(&pattern(i, chunk)).unwrap();
        }
        let (dropped, kept) = order.split_at(order.len() - keep);
        for &d in dropped {
            live[d] = None;
            for &k in kept {
                prop_assert_eq!(&live[k].as_ref().unwrap()[..], &pattern(k, chunk)[..]);
            }
        }
        for &k in kept {
            let frame = live[k].as_mut().unwrap();
            frame.clear();
            frame.extend(&pattern(k + 1, chunk)).unwrap();
            prop_assert_eq!(&frame[..], &pattern(k + 1, chunk)[..]);
        }
    }
}
