//! The compio-buf 0.7 traits (`IoBuf`, `IoBufMut`, `SetBufInit`) on both buffer types, without a
//! runtime: what compio sees, and that `set_buf_init` sets the length exactly.
#![cfg(feature = "compio-buf-07")]

use compio_17::buf::{IntoInner, IoBuf, IoBufMut, SetBufInit};
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
    let mut view = unsafe { arena.as_raw_view() }.with_len(3);
    assert_eq!(
        seen_by_compio(&view),
        (arena.as_ptr(), 3, 2 * PAGE_SIZE, vec![0; 3])
    );
    assert_eq!(view.as_buf_mut_ptr().cast_const(), arena.as_ptr());
    assert_eq!(IoBufMut::as_mut_slice(&mut view).len(), 2 * PAGE_SIZE);
}

#[test]
fn set_buf_init_sets_the_length_exactly_up_and_down() {
    let buf = AlignedBuf::zeroed(3 * PAGE_SIZE).unwrap();
    let buf = after_read(buf, 100);
    assert_eq!(buf.len(), 100);
    let buf = after_read(buf, 3 * PAGE_SIZE);
    assert_eq!(buf.len(), 3 * PAGE_SIZE);
    let buf = after_read(buf, 0);
    assert!(buf.is_empty());

    let arena = AlignedBuf::zeroed(PAGE_SIZE).unwrap();
    // SAFETY: the view is used only while `arena` lives, and `arena` is not touched meanwhile.
    let view = unsafe { arena.as_raw_view() };
    assert_eq!(after_read(view, 10).len(), 10);
    assert_eq!(after_read(view.with_len(0), PAGE_SIZE).len(), PAGE_SIZE);
}

#[test]
fn a_vec_keeps_the_larger_length_where_these_buffers_take_the_exact_one() {
    let vec = after_read(vec![0u8; 4096], 100);
    let buf = after_read(AlignedBuf::zeroed(4096).unwrap(), 100);
    assert_eq!((vec.len(), buf.len()), (4096, 100));
}

#[test]
fn a_read_into_a_compio_slice_sets_the_length_to_its_end() {
    let buf = AlignedBuf::zeroed(2 * PAGE_SIZE).unwrap();
    let slice = buf.slice(PAGE_SIZE..);
    assert_eq!(
        (slice.buf_len(), slice.buf_capacity()),
        (PAGE_SIZE, PAGE_SIZE)
    );
    let buf = after_read(slice, 10).into_inner();
    assert_eq!(buf.len(), PAGE_SIZE + 10);
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
