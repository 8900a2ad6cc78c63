//! The compio-buf 0.7 traits (`IoBuf`, `IoBufMut`, `SetBufInit`) on both buffer types, without a
//! runtime: what compio sees, and that `set_buf_init` raises the length and never lowers it.
#![cfg(feature = "compio-buf-07")]

use compio::buf::{IntoInner, IoBuf, IoBufMut, SetBufInit};
use jdb_alloc::{AlignedBuf, PAGE_SIZE, RawIoBuf};

/// What compio reads from any buffer: pointer, initialised length, capacity, initialised bytes.
fn seen_by_compio<B: IoBuf>(buf: &B) -> (*const u8, usize, usize, Vec<u8>) {
    (
        buf.as_buf_ptr(),
        buf.buf_len(),
        buf.buf_capacity(),
        buf.as_slice().to_vec(),
    )
}

/// The length a buffer has after compio reports `n` bytes read into it.
fn after_read<B: SetBufInit>(mut buf: B, n: usize) -> B {
    // SAFETY: every caller passes a buffer whose first `n` bytes are initialised, `n <= cap`.
    unsafe { buf.set_buf_init(n) };
    buf
}

#[test]
fn aligned_buf_shows_compio_its_own_fields() {
    let mut buf = AlignedBuf::with_cap(5000).unwrap();
    buf.extend(b"compio").unwrap();
    let seen = seen_by_compio(&buf);
    assert_eq!(seen, (buf.as_ptr(), 6, 2 * PAGE_SIZE, b"compio".to_vec()));
    assert_eq!(buf.as_buf_mut_ptr().cast_const(), buf.as_ptr());
    assert_eq!(IoBufMut::as_mut_slice(&mut buf).len(), 2 * PAGE_SIZE);
}

#[test]
fn raw_io_buf_shows_compio_its_own_fields() {
    let arena = AlignedBuf::zeroed(2 * PAGE_SIZE).unwrap();
    // SAFETY: the view is used only while `arena` lives, and `arena` is not touched meanwhile.
    // The arena is zeroed, so a length of 3 covers initialised bytes.
    let mut view = unsafe { arena.as_raw_view().with_len(3) };
    assert_eq!(
        seen_by_compio(&view),
        (arena.as_ptr(), 3, 2 * PAGE_SIZE, vec![0; 3])
    );
    assert_eq!(view.as_buf_mut_ptr().cast_const(), arena.as_ptr());
    assert_eq!(IoBufMut::as_mut_slice(&mut view).len(), 2 * PAGE_SIZE);
}

#[test]
fn set_buf_init_raises_the_length_and_never_lowers_it() {
    let mut buf = AlignedBuf::zeroed(3 * PAGE_SIZE).unwrap();
    buf.clear();
    let buf = after_read(buf, 100);
    assert_eq!(buf.len(), 100);
    let buf = after_read(buf, 3 * PAGE_SIZE);
    assert_eq!(buf.len(), 3 * PAGE_SIZE);
    let buf = after_read(buf, 0);
    assert_eq!(buf.len(), 3 * PAGE_SIZE);

    let arena = AlignedBuf::zeroed(PAGE_SIZE).unwrap();
    // SAFETY: the view is used only while `arena` lives, and `arena` is not touched meanwhile.
    let view = unsafe { arena.as_raw_view() };
    assert_eq!(after_read(view, 10).len(), PAGE_SIZE);
    // SAFETY: an empty length claims nothing.
    let empty = unsafe { view.with_len(0) };
    assert_eq!(after_read(after_read(empty, 10), 5).len(), 10);

    let frame = AlignedBuf::zeroed(PAGE_SIZE)
        .unwrap()
        .into_frames(PAGE_SIZE)
        .unwrap()
        .next()
        .unwrap();
    assert_eq!(after_read(frame, 1).len(), PAGE_SIZE);
}

#[test]
fn these_buffers_keep_the_larger_length_as_a_vec_does() {
    let vec = after_read(vec![0u8; 4096], 100);
    let buf = after_read(AlignedBuf::zeroed(4096).unwrap(), 100);
    assert_eq!((vec.len(), buf.len()), (4096, 4096));
}

/// compio's `Slice` reports a read into `[begin, end)` as `set_buf_init(begin + n)` on the
/// parent. Lowering the length there would cut off the parent's bytes past the slice, and a
/// later `write_at(parent)` would silently write less.
#[test]
fn a_read_into_a_compio_slice_never_shortens_the_parent() {
    for (range, n) in [(0..PAGE_SIZE, PAGE_SIZE), (PAGE_SIZE..2 * PAGE_SIZE, 10)] {
        let buf = AlignedBuf::zeroed(3 * PAGE_SIZE).unwrap();
        let buf = after_read(buf.slice(range.clone()), n).into_inner();
        assert_eq!(buf.len(), 3 * PAGE_SIZE, "{range:?}");
    }
    // A slice past the parent's length extends it to the end of what was read.
    let mut buf = AlignedBuf::zeroed(3 * PAGE_SIZE).unwrap();
    buf.truncate(PAGE_SIZE);
    let slice = buf.slice(PAGE_SIZE..);
    assert_eq!((slice.buf_len(), slice.buf_capacity()), (0, 2 * PAGE_SIZE));
    let buf = after_read(slice, 10).into_inner();
    assert_eq!(buf.len(), PAGE_SIZE + 10);
}

/// A view of nothing (null pointer, `cap == 0`) must be sound through compio's provided
/// methods too, which build slices from the pointer without looking at the length.
#[test]
fn a_null_view_of_nothing_is_an_empty_compio_buffer() {
    // SAFETY: an empty view of nothing, as `RawIoBuf::new` allows.
    let mut view = unsafe { RawIoBuf::new(std::ptr::null_mut(), 0) };
    assert!(IoBuf::as_slice(&view).is_empty());
    assert!(IoBufMut::as_mut_slice(&mut view).is_empty());
    assert!(!view.as_buf_ptr().is_null());
}

#[test]
fn frames_are_compio_buffers_by_value() {
    fn takes_owned<B: IoBufMut + SetBufInit + Copy + Send + 'static>(buf: B) -> B {
        buf
    }
    let arena = AlignedBuf::with_cap(2 * PAGE_SIZE).unwrap();
    // SAFETY: the frames are only passed around by value, never dereferenced.
    let frame: RawIoBuf = unsafe { arena.slice_into_raws(PAGE_SIZE) }.nth(1).unwrap();
    let back = takes_owned(frame);
    assert_eq!(
        back.as_buf_ptr() as usize,
        arena.as_ptr() as usize + PAGE_SIZE
    );
}
