//! What the `copy_within` override (compio-buf 0.8) guarantees, and where it stops: it refuses
//! to bring bytes from past `len` (maybe never written) into `[0, len)` whenever the buffer
//! type itself is the `IoBufMut` called, directly or from generic code. compio-buf's own
//! wrappers (`Slice`, `Box<B>`, `&'static mut B`) implement `IoBufMut` with the trait's default
//! `copy_within`, which does not forward to the inner buffer's: over them it copies across the
//! whole capacity (compio issue #1053), as the crate docs say.
#![cfg(feature = "compio-buf-08")]

use std::panic::{AssertUnwindSafe, catch_unwind};

use compio_19::buf::{IoBuf, IoBufMut};
use jdb_alloc::{AlignedBuf, PAGE_SIZE, RawIoBuf};

/// `copy_within` through generic code, as a caller generic over the trait makes it.
fn generic_copy<B: IoBufMut>(buf: &mut B, src: std::ops::Range<usize>, dest: usize) {
    buf.copy_within(src, dest);
}

/// Whether copying `src` to `dest` within `buf` (six bytes `abcdef` initialised) panicked.
fn refused<B>(buf: &mut B, copy: impl FnOnce(&mut B)) -> bool {
    catch_unwind(AssertUnwindSafe(|| copy(buf))).is_err()
}

fn abcdef() -> AlignedBuf {
    let mut buf = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
    buf.extend(b"abcdef").unwrap();
    buf
}

/// Copies that would bring unwritten bytes into `[0, len)`: refused for each buffer type, called
/// directly and from generic code; copies of written bytes, or into the spare capacity, run.
#[test]
fn copy_within_override_holds_for_direct_and_generic_calls() {
    let harmful = [(100..103, 0), (4..8, 0), (1..10, 0), (5..7, 4)];
    for (src, dest) in harmful {
        let mut buf = abcdef();
        assert!(refused(&mut buf, |b| b.copy_within(src.clone(), dest)));
        assert!(refused(&mut buf, |b| generic_copy(b, src.clone(), dest)));
        let mut frame = abcdef().into_frames(PAGE_SIZE).unwrap().next().unwrap();
        frame.clear();
        frame.extend(b"abcdef").unwrap();
        assert!(refused(&mut frame, |f| generic_copy(f, src.clone(), dest)));
        // SAFETY: a view of `buf`'s block, used while `buf` lives and not otherwise accessed
        // meanwhile; its first six bytes are written.
        let mut view = unsafe { RawIoBuf::new(buf.as_mut_ptr(), PAGE_SIZE).with_len(6) };
        assert!(refused(&mut view, |v| generic_copy(v, src.clone(), dest)));
        assert_eq!(&buf[..], b"abcdef", "a refused copy changes nothing");
    }

    let mut buf = abcdef();
    generic_copy(&mut buf, 0..3, 3);
    assert_eq!(buf.as_init(), b"abcabc");
    generic_copy(&mut buf, 0..6, 100); // written bytes into the spare capacity
    generic_copy(&mut buf, 100..103, 6); // spare bytes stay past len
    assert_eq!(buf.as_init(), b"abcabc");
}

/// Over compio-buf's `Box<B>` wrapper the trait's default runs instead (compio issue #1053): the
/// same harmful copy is not refused. The buffer's bytes are not read afterwards. Should
/// compio-buf forward `copy_within` one day, this fails and the docs can say the hole is closed.
#[test]
fn copy_within_over_a_box_is_compio_bufs_default() {
    let mut boxed = Box::new(abcdef());
    assert!(!refused(&mut boxed, |b| generic_copy(b, 100..103, 0)));
    assert_eq!(boxed.buf_len(), 6);
}
