//! compio-buf 0.9 traits (compio 0.20): [`IoBuf`], [`IoBufMut`], [`SetLen`].
//!
//! compio-buf 0.9 made its traits dyn-compatible: each keeps only what a buffer must say
//! (`as_init`; `as_uninit`, `reserve`, `reserve_exact`; `set_len`), and everything else
//! (`buf_len`, `buf_capacity`, `slice`, `advance_to`, `copy_within`, ...) moved to extension
//! traits (`IoBufExt`, `IoBufMutExt`, `SetLenExt`) with blanket impls, which no type can
//! override. The buffers mean the same as under compio-buf 0.8:
//!
//! - [`IoBuf::as_init`] is bytes `[0, len)`: what `write_at` sends.
//! - [`IoBufMut::as_uninit`] is the whole capacity `[0, cap)`, initialised prefix included:
//!   compio 0.20 reads into all of it, from offset 0 whatever the current length, and then
//!   calls `SetLenExt::advance_to` with the number of bytes read.
//! - [`SetLen::set_len`] sets the length to exactly the given value; `SetLenExt::advance_to`
//!   raises it and never lowers it. After a read the length is `max(len, n)`, with `n` the
//!   bytes read (in the `BufResult`); a fresh or cleared buffer ends with `len() == n`.
//!   compio-buf 0.9's `Slice` passes `set_len(k)` on to its buffer as an exact
//!   `set_len(begin + k)`, and its `advance_to` compares with the slice's own length first, so a
//!   read into a sub-slice never lowers the buffer's length.
//! - [`IoBufMut::reserve`] and `reserve_exact` (the trait's defaults, kept) are `Ok(())` when
//!   `len + additional <= cap` and `NotSupported` otherwise: the capacity is fixed and memory
//!   the kernel may hold never moves, so `extend_from_slice` fails, buffer unchanged, past it.
//!
//! As with compio-buf 0.8, `as_uninit` hands out `&mut [MaybeUninit<u8>]` over initialised
//! bytes too: store only initialised values through it (compio issue #1053). compio-buf 0.9's
//! `IoBufMutExt::copy_within` copies within `[0, cap)` with no regard for `len`, and cannot be
//! overridden any more: the types' own `copy_within`, which method-call syntax finds first,
//! refuses to bring bytes from past `len` into `[0, len)`, but **generic code (`B: IoBufMut`)
//! and `IoBufMutExt::copy_within(&mut buf, ..)` reach compio-buf's unguarded one**.
//!
//! # Vectored reads
//!
//! compio 0.19 and 0.20 build a vectored read's (`read_vectored_at`) buffers from each
//! buffer's initialised bytes, not its capacity: into fresh buffers (`with_cap`, length 0) it
//! reads nothing and returns `Ok(0)`. Give it buffers whose length is what each should receive
//! ([`AlignedBuf::zeroed`], or `set_len` on a buffer you own), or read each buffer with
//! `read_at`.

/// compio-buf 0.9 lets a type override none of its provided methods.
macro_rules! own_09 {
    ($($any:tt)*) => {};
}

/// compio-buf 0.9's `IoBuf`, `IoBufMut` and `SetLen` for the buffer types given.
macro_rules! impl_compio_buf_09 {
    ($($ty:ty),+ $(,)?) => {
        crate::compio_buf_traits::impl_len_traits! {
            buf: compio_buf_09,
            version: "0.9",
            feature: "compio-buf-09",
            compio: "0.20",
            own: own_09,
            mut_note: " compio-buf's `IoBufMutExt::copy_within` is not guarded; the type's own \
                       `copy_within` is.",
            advance_to: "`SetLenExt::advance_to(n)`",
            types: [$($ty),+],
        }
    };
}

// Why each type keeps the buffer contract: lib.rs, beside the contract.
impl_compio_buf_09!(crate::AlignedBuf, crate::RawIoBuf, crate::Frame);
#[cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]
impl_compio_buf_09!(crate::fixed::FixedFrame);

#[cfg(test)]
mod tests {
    use std::mem::MaybeUninit;

    use compio_buf_09::{IntoInner, IoBuf, IoBufExt, IoBufMut, IoBufMutExt, SetLen, SetLenExt};

    use crate::{AlignedBuf, Frame, PAGE_SIZE, RawIoBuf};

    #[test]
    fn views_cover_len_and_cap() {
        let mut buf = AlignedBuf::with_cap(100).unwrap();
        buf.extend(b"abc").unwrap();
        assert_eq!(buf.as_init(), b"abc");
        assert_eq!(IoBufExt::buf_len(&buf), 3);
        assert_eq!(buf.as_uninit().len(), PAGE_SIZE);
        assert_eq!(buf.as_uninit().as_ptr().cast(), buf.as_ptr());
        assert_eq!(IoBufMutExt::buf_capacity(&mut buf), PAGE_SIZE);
        assert_eq!(IoBufMutExt::as_mut_slice(&mut buf), b"abc");
    }

    /// The length contract through a trait object: exact `set_len`, raise-only `advance_to`.
    #[test]
    fn set_len_is_exact_and_advance_to_only_raises_also_boxed() {
        let mut buf: Box<dyn IoBufMut> = Box::new(AlignedBuf::zeroed(PAGE_SIZE).unwrap());
        // SAFETY: 10 <= cap, and the zeroed block is initialised throughout.
        unsafe { buf.set_len(10) };
        assert_eq!(buf.buf_len(), 10);
        // SAFETY: as above.
        unsafe { buf.advance_to(20) };
        assert_eq!(buf.buf_len(), 20);
        // SAFETY: [0, 5) is initialised; a lower value must change nothing.
        unsafe { buf.advance_to(5) };
        assert_eq!(buf.buf_len(), 20);
        // SAFETY: [20, 120) of the zeroed block is initialised and 120 <= cap.
        unsafe { buf.advance(100) };
        assert_eq!(buf.buf_len(), 120);
        assert_eq!(buf.buf_capacity(), PAGE_SIZE);
        // SAFETY: shrinking: [0, 5) is initialised.
        unsafe { buf.set_len(5) };
        assert_eq!(buf.as_init(), &[0; 5]);
        buf.clear();
        assert!(buf.as_init().is_empty());
    }

    /// What compio does after reading `n` bytes into a sub-slice: the buffer's length is raised
    /// to cover them and never lowered, its other bytes kept.
    #[test]
    fn a_read_into_a_slice_never_shortens_its_buffer() {
        for (len, begin, n, expect) in [
            (3 * PAGE_SIZE, PAGE_SIZE, PAGE_SIZE, 3 * PAGE_SIZE), // middle page of a full buffer
            (PAGE_SIZE, PAGE_SIZE, 100, PAGE_SIZE + 100),         // the page after the data
            (PAGE_SIZE, 0, PAGE_SIZE / 2, PAGE_SIZE),             // a short read at the start
            (0, 0, 100, 100),                                     // a fresh buffer
        ] {
            let mut buf = AlignedBuf::with_cap(3 * PAGE_SIZE).unwrap();
            buf.extend(&vec![0xEE; len]).unwrap();
            let mut slice = buf.slice(begin..begin + PAGE_SIZE);
            slice.as_uninit()[..n].fill(MaybeUninit::new(7));
            // SAFETY: bytes [0, n) of the slice were just written.
            unsafe { slice.advance_to(n) };
            let buf = slice.into_inner();
            assert_eq!(buf.len(), expect, "len {len}, begin {begin}, n {n}");
            assert!(buf[begin..begin + n].iter().all(|&b| b == 7));
            assert!(buf[..begin].iter().all(|&b| b == 0xEE));
            assert!(buf[begin + n..].iter().all(|&b| b == 0xEE));
        }
    }

    #[test]
    fn reserve_never_grows() {
        let mut buf = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
        buf.extend(&[1; 4000]).unwrap();
        assert!(IoBufMut::reserve(&mut buf, 96).is_ok());
        assert!(
            IoBufMut::reserve(&mut buf, 97)
                .unwrap_err()
                .is_not_supported()
        );
        assert!(
            IoBufMut::reserve_exact(&mut buf, 97)
                .unwrap_err()
                .is_not_supported()
        );
        assert!(
            buf.extend_from_slice(&[2; 97])
                .unwrap_err()
                .is_not_supported()
        );
        assert_eq!((buf.len(), buf.cap()), (4000, PAGE_SIZE));
        buf.extend_from_slice(&[2; 96]).unwrap();
        assert_eq!(&buf[3999..4001], &[1, 2]);
        assert_eq!(buf.len(), PAGE_SIZE);
    }

    /// With `IoBufMutExt` in scope, `buf.copy_within` is still the type's guarded one; naming
    /// the extension trait reaches compio-buf's, which copies unwritten bytes into `[0, len)`.
    #[test]
    fn method_syntax_finds_the_guarded_copy_within() {
        let mut frame: Frame = AlignedBuf::with_cap(PAGE_SIZE)
            .unwrap()
            .into_frames(PAGE_SIZE)
            .unwrap()
            .next()
            .unwrap();
        frame.extend(b"abcdef").unwrap();
        frame.copy_within(0..3, 3);
        assert_eq!(&frame[..], b"abcabc");
        let refused = std::panic::catch_unwind(move || frame.copy_within(100..103, 0));
        assert!(refused.is_err());

        // compio-buf's own: no guard (the arena is zeroed, so this test reads only zeroes).
        let mut buf = AlignedBuf::zeroed(PAGE_SIZE).unwrap();
        buf.truncate(3);
        IoBufMutExt::copy_within(&mut buf, 100..103, 0);
        assert_eq!(&buf[..], &[0, 0, 0]);
    }

    /// compio-buf 0.9's slices of a view of nothing (null pointer, `cap == 0`) are sound.
    #[test]
    fn a_null_view_of_nothing_is_empty() {
        // SAFETY: an empty view of nothing, as `RawIoBuf::new` allows.
        let mut view = unsafe { RawIoBuf::new(std::ptr::null_mut(), 0) };
        assert!(view.as_init().is_empty());
        assert!(view.as_uninit().is_empty());
    }

    #[test]
    fn raw_view_sees_the_same_memory() {
        let arena = AlignedBuf::zeroed(2 * PAGE_SIZE).unwrap();
        // SAFETY: the frames are used only in this test, while `arena` lives, one at a time.
        let frames: Vec<RawIoBuf> = unsafe { arena.slice_into_raws(PAGE_SIZE) }.collect();
        let mut second = frames[1];
        assert_eq!(second.as_init(), b"");
        second.as_uninit()[..2].copy_from_slice(&[MaybeUninit::new(7); 2]);
        // SAFETY: bytes [0, 2) were just written.
        unsafe { SetLen::set_len(&mut second, 2) };
        assert_eq!(second.as_init(), &[7, 7]);
        assert_eq!(IoBufMutExt::buf_capacity(&mut second), PAGE_SIZE);
        assert_eq!(arena[PAGE_SIZE..PAGE_SIZE + 3], [7, 7, 0]);
    }
}
