//! `AlignedBuf`: every public method, whole-page capacities, alignment, and every bad input the
//! crate promises to refuse (impossible sizes, `extend` past capacity, bad chunks).

use std::{ptr::NonNull, thread};

use jdb_alloc::{ALIGNMENT, AlignedBuf, Error, PAGE_SIZE, RawIoBuf};

/// Largest capacity any buffer can have: `isize::MAX` rounded down to whole pages.
const MAX_CAP: usize = (isize::MAX as usize) & !(PAGE_SIZE - 1);

/// Sizes around page boundaries, and one larger block.
const SIZES: [usize; 10] = [0, 1, 4095, 4096, 4097, 8191, 8192, 8193, 40961, 3 << 20];

/// Capacity the crate must choose for `size`: whole pages, at least one.
fn pages_for(size: usize) -> usize {
    size.div_ceil(PAGE_SIZE).max(1) * PAGE_SIZE
}

fn assert_aligned(buf: &AlignedBuf) {
    assert_eq!(
        buf.as_ptr() as usize % ALIGNMENT,
        0,
        "{buf:?} is not aligned"
    );
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<AlignedBuf>();
    send_sync::<RawIoBuf>();
    send_sync::<Error>();
};

#[test]
fn with_cap_is_empty_and_whole_pages() {
    for size in SIZES {
        let buf = AlignedBuf::with_cap(size).unwrap();
        assert_eq!(buf.cap(), pages_for(size), "with_cap({size})");
        assert_eq!(buf.len(), 0);
        assert!(buf.is_empty());
        assert_eq!(&buf[..], &[] as &[u8]);
        assert_aligned(&buf);
    }
}

#[test]
fn zeroed_reads_as_zeroes_and_is_whole_pages() {
    for size in SIZES {
        let buf = AlignedBuf::zeroed(size).unwrap();
        assert_eq!(buf.cap(), pages_for(size), "zeroed({size})");
        assert_eq!(buf.len(), size);
        assert_eq!(buf.is_empty(), size == 0);
        assert!(
            buf.iter().all(|&b| b == 0),
            "zeroed({size}) has a non-zero byte"
        );
        assert_aligned(&buf);
    }
}

#[test]
fn large_zeroed_buffer_reads_as_zeroes_everywhere() {
    let size = (32 << 20) + 1;
    let buf = AlignedBuf::zeroed(size).unwrap();
    assert_eq!(buf.cap(), (32 << 20) + PAGE_SIZE);
    assert!(buf.iter().all(|&b| b == 0));
    assert_aligned(&buf);
}

#[test]
fn page_is_one_zeroed_page() {
    let buf = AlignedBuf::page().unwrap();
    assert_eq!((buf.len(), buf.cap()), (PAGE_SIZE, PAGE_SIZE));
    assert!(buf.iter().all(|&b| b == 0));
    assert_aligned(&buf);
}

#[test]
fn usize_max_is_too_large_for_both_constructors() {
    for result in [
        AlignedBuf::zeroed(usize::MAX),
        AlignedBuf::with_cap(usize::MAX),
    ] {
        let err = result.unwrap_err();
        assert!(
            matches!(
                err,
                Error::TooLarge {
                    requested: usize::MAX,
                    max: MAX_CAP
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&usize::MAX.to_string()), "{msg}");
        assert!(msg.contains(&MAX_CAP.to_string()), "{msg}");
    }
}

#[test]
fn one_byte_past_the_largest_capacity_is_too_large() {
    let err = AlignedBuf::with_cap(MAX_CAP + 1).unwrap_err();
    assert!(matches!(err, Error::TooLarge { requested, max: MAX_CAP } if requested == MAX_CAP + 1));
}

#[test]
fn sizes_no_machine_can_hold_are_alloc_failures_not_aborts() {
    for size in [1 << 62, MAX_CAP] {
        for result in [AlignedBuf::with_cap(size), AlignedBuf::zeroed(size)] {
            let err = result.unwrap_err();
            assert!(
                matches!(err, Error::AllocFailed { size: s } if s == size),
                "{err:?}"
            );
            assert!(err.to_string().contains(&size.to_string()), "{err}");
        }
    }
}

#[test]
fn extend_appends_until_the_capacity_is_full() {
    let mut buf = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
    buf.extend(&[1; 4000]).unwrap();
    buf.extend(&[2; 96]).unwrap();
    buf.extend(&[]).unwrap();
    assert_eq!(buf.len(), PAGE_SIZE);
    assert_eq!(&buf[..4000], &[1; 4000]);
    assert_eq!(&buf[4000..], &[2; 96]);
}

#[test]
fn extend_past_capacity_is_overflow_and_changes_nothing() {
    let mut buf = AlignedBuf::with_cap(2 * PAGE_SIZE).unwrap();
    buf.extend(b"0123456789").unwrap();
    let before = buf.to_vec();

    let err = buf.extend(&[7; 2 * PAGE_SIZE]).unwrap_err();
    assert!(matches!(err, Error::Overflow(8202, 8192)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("8202") && msg.contains("8192"), "{msg}");

    assert_eq!(buf.len(), 10);
    assert_eq!(buf.cap(), 2 * PAGE_SIZE);
    assert_eq!(buf.to_vec(), before);
}

#[test]
fn extend_on_a_full_buffer_fails_by_one_byte() {
    let mut buf = AlignedBuf::page().unwrap();
    assert!(matches!(buf.extend(&[1]), Err(Error::Overflow(4097, 4096))));
    assert_eq!(buf.len(), PAGE_SIZE);
    assert!(buf.iter().all(|&b| b == 0));
}

#[test]
fn truncate_only_shortens() {
    let mut buf = AlignedBuf::with_cap(100).unwrap();
    buf.extend(b"abcdef").unwrap();
    buf.truncate(10);
    assert_eq!(&buf[..], b"abcdef");
    buf.truncate(6);
    assert_eq!(&buf[..], b"abcdef");
    buf.truncate(3);
    assert_eq!(&buf[..], b"abc");
    assert_eq!(buf.cap(), PAGE_SIZE);
}

#[test]
fn clear_empties_but_keeps_capacity_and_memory() {
    let mut buf = AlignedBuf::zeroed(5000).unwrap();
    let ptr = buf.as_ptr();
    buf.clear();
    assert!(buf.is_empty());
    assert_eq!((buf.len(), buf.cap(), buf.as_ptr()), (0, 8192, ptr));
    buf.extend(b"again").unwrap();
    assert_eq!(&buf[..], b"again");
}

#[test]
fn set_len_exposes_bytes_written_through_the_pointer() {
    let mut buf = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
    let ptr = buf.as_mut_ptr();
    assert_eq!(ptr.cast_const(), buf.as_ptr());
    // SAFETY: `ptr` is valid for `cap` = 4096 bytes; 300 bytes are written, then exposed.
    unsafe {
        ptr.write_bytes(0xAB, 300);
        buf.set_len(300);
    }
    assert_eq!(&buf[..], &[0xAB; 300]);
    // SAFETY: shrinking keeps `[0, 100)` initialised.
    unsafe { buf.set_len(100) };
    assert_eq!(&buf[..], &[0xAB; 100]);
}

#[test]
fn deref_mut_as_ref_and_as_mut_see_the_same_bytes() {
    let mut buf = AlignedBuf::zeroed(8).unwrap();
    buf[0] = 1;
    buf.as_mut()[7] = 8;
    let as_ref: &[u8] = buf.as_ref();
    assert_eq!(as_ref, &[1, 0, 0, 0, 0, 0, 0, 8]);
    assert_eq!(as_ref.as_ptr(), buf.as_ptr());
}

#[test]
fn try_clone_and_clone_copy_contents_into_independent_blocks() {
    let mut original = AlignedBuf::with_cap(3 * PAGE_SIZE).unwrap();
    original.extend(&[5; 9000]).unwrap();
    let mut a = original.try_clone().unwrap();
    let b = original.clone();
    for copy in [&a, &b] {
        assert_eq!((copy.len(), copy.cap()), (9000, 3 * PAGE_SIZE));
        assert_eq!(&copy[..], &original[..]);
        assert_ne!(copy.as_ptr(), original.as_ptr());
        assert_aligned(copy);
    }
    original[0] = 1;
    original.extend(&[6; 100]).unwrap();
    a[1] = 2;
    assert_eq!((a[0], a[1], a.len()), (5, 2, 9000));
    assert_eq!((b[0], b[1], b.len()), (5, 5, 9000));
    assert_eq!((original[0], original[1], original.len()), (1, 5, 9100));
}

#[test]
fn clone_of_an_empty_buffer_is_empty_with_the_same_capacity() {
    let buf = AlignedBuf::with_cap(5 * PAGE_SIZE).unwrap();
    let copy = buf.try_clone().unwrap();
    assert_eq!((copy.len(), copy.cap()), (0, 5 * PAGE_SIZE));
}

#[test]
fn raw_parts_round_trip_for_every_size() {
    for size in SIZES.into_iter().chain([64 << 20]) {
        let mut buf = AlignedBuf::zeroed(size).unwrap();
        if let Some(first) = buf.first_mut() {
            *first = 0x5A;
        }
        let (ptr, len, cap) = buf.into_raw_parts();
        assert_eq!((len, cap), (size, pages_for(size)));
        assert_eq!(ptr.as_ptr() as usize % ALIGNMENT, 0);
        // SAFETY: the parts come straight from `into_raw_parts` and are rebuilt once.
        let back = unsafe { AlignedBuf::from_raw_parts(ptr, len, cap) };
        assert_eq!(
            (back.as_ptr(), back.len(), back.cap()),
            (ptr.as_ptr().cast_const(), len, cap)
        );
        assert_eq!(back.first().copied(), (size > 0).then_some(0x5A));
    }
}

#[test]
fn from_raw_parts_accepts_a_shorter_length() {
    let mut buf = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
    buf.extend(b"keep this, drop that").unwrap();
    let (ptr, _, cap): (NonNull<u8>, usize, usize) = buf.into_raw_parts();
    // SAFETY: parts from `into_raw_parts`, rebuilt once; the first 9 bytes are initialised.
    let back = unsafe { AlignedBuf::from_raw_parts(ptr, 9, cap) };
    assert_eq!(&back[..], b"keep this");
}

#[test]
fn as_raw_and_as_raw_view_describe_the_whole_buffer() {
    let mut buf = AlignedBuf::zeroed(5000).unwrap();
    // SAFETY: the views are used only while `buf` is alive and not otherwise accessed.
    let (view, mut raw) = unsafe { (buf.as_raw_view(), buf.as_raw()) };
    for v in [view, raw] {
        assert_eq!((v.as_ptr(), v.len(), v.cap()), (buf.as_ptr(), 5000, 8192));
    }
    raw.as_mut_slice()[4999] = 9;
    assert_eq!(view.as_slice()[4999], 9);
    assert_eq!(buf[4999], 9);
}

#[test]
fn slice_into_raws_hands_out_aligned_empty_frames_in_order() {
    let arena = AlignedBuf::with_cap(4 * PAGE_SIZE).unwrap();
    let base = arena.as_ptr() as usize;
    // SAFETY: the frames are only inspected, not dereferenced, while `arena` lives.
    let frames: Vec<RawIoBuf> = unsafe { arena.slice_into_raws(PAGE_SIZE) }.collect();
    assert_eq!(frames.len(), 4);
    for (i, frame) in frames.iter().enumerate() {
        assert_eq!(frame.as_ptr() as usize, base + i * PAGE_SIZE);
        assert_eq!(frame.as_ptr() as usize % ALIGNMENT, 0);
        assert_eq!((frame.len(), frame.cap()), (0, PAGE_SIZE));
    }
}

#[test]
fn slice_into_raws_drops_a_short_tail() {
    for (cap, chunk, count) in [
        (5 * PAGE_SIZE, 2 * PAGE_SIZE, 2),
        (5 * PAGE_SIZE, 5 * PAGE_SIZE, 1),
        (5 * PAGE_SIZE, 6 * PAGE_SIZE, 0),
    ] {
        let arena = AlignedBuf::with_cap(cap).unwrap();
        // SAFETY: the frames are only counted.
        let frames = unsafe { arena.slice_into_raws(chunk) };
        assert_eq!(frames.count(), count, "cap {cap}, chunk {chunk}");
    }
}

#[test]
fn frames_are_disjoint_views_of_the_arena() {
    let arena = AlignedBuf::zeroed(3 * PAGE_SIZE).unwrap();
    {
        // SAFETY: each frame covers zeroed (initialised) bytes of the live arena, is used by one
        // owner at a time, and all are dropped before `arena` is touched again.
        let frames = unsafe { arena.slice_into_raws(PAGE_SIZE) };
        for (i, frame) in frames.enumerate() {
            // SAFETY: the arena is zeroed, so the whole frame is initialised.
            let mut frame = unsafe { frame.with_len(PAGE_SIZE) };
            assert!(frame.as_slice().iter().all(|&b| b == 0));
            frame.as_mut_slice().fill(i as u8 + 1);
        }
    }
    for (i, page) in arena.chunks(PAGE_SIZE).enumerate() {
        assert!(page.iter().all(|&b| b == i as u8 + 1), "page {i}");
    }
}

#[test]
#[should_panic(expected = "chunk 0 must be a non-zero multiple of ALIGNMENT")]
fn slice_into_raws_refuses_a_zero_chunk() {
    let arena = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
    // SAFETY: panics before any frame exists.
    let _ = unsafe { arena.slice_into_raws(0) }.count();
}

#[test]
#[should_panic(expected = "chunk 100 must be a non-zero multiple of ALIGNMENT")]
fn slice_into_raws_refuses_a_chunk_that_is_not_a_multiple_of_alignment() {
    let arena = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
    // SAFETY: panics before any frame exists.
    let _ = unsafe { arena.slice_into_raws(100) }.count();
}

#[test]
#[should_panic(expected = "chunk 4608 must be a non-zero multiple of ALIGNMENT")]
fn slice_into_raws_refuses_a_chunk_just_past_a_page() {
    let arena = AlignedBuf::with_cap(4 * PAGE_SIZE).unwrap();
    // SAFETY: panics before any frame exists.
    let _ = unsafe { arena.slice_into_raws(PAGE_SIZE + 512) }.count();
}

#[test]
fn debug_names_length_and_capacity() {
    let mut buf = AlignedBuf::with_cap(1).unwrap();
    buf.extend(b"abc").unwrap();
    let text = format!("{buf:?}");
    assert!(text.starts_with("AlignedBuf {"), "{text}");
    assert!(
        text.contains("len: 3") && text.contains("cap: 4096"),
        "{text}"
    );
}

#[test]
fn a_buffer_can_be_filled_on_another_thread_and_read_on_this_one() {
    let buf = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
    let ptr = buf.as_ptr() as usize;
    let buf = thread::spawn(move || {
        let mut buf = buf;
        buf.extend(b"from a worker").unwrap();
        buf
    })
    .join()
    .unwrap();
    assert_eq!(&buf[..], b"from a worker");
    assert_eq!(buf.as_ptr() as usize, ptr);

    let shared = &buf;
    thread::scope(|s| {
        let readers: Vec<_> = (0..2).map(|_| s.spawn(move || shared.to_vec())).collect();
        for reader in readers {
            assert_eq!(reader.join().unwrap(), b"from a worker");
        }
    });
}
