//! compio-buf 0.8 traits (compio 0.18, 0.19): [`IoBuf`], [`IoBufMut`], [`SetLen`].
//!
//! # Semantics
//!
//! - [`IoBuf::as_init`] is bytes `[0, len)`: what `write_at` sends.
//! - [`IoBufMut::as_uninit`] is the whole capacity `[0, cap)`, initialised prefix included:
//!   compio 0.19 reads into all of it, from offset 0 whatever the current length, and then
//!   calls [`SetLen::advance_to`] with the number of bytes read.
//! - [`SetLen::set_len`] sets the length to exactly the given value; [`SetLen::advance_to`]
//!   raises it and never lowers it, as the trait documents (its default, kept). After a read
//!   the length is `max(len, n)` with `n` the bytes read (in the `BufResult`); a fresh or
//!   cleared buffer ends with `len() == n`. (compio-buf 0.8's `Slice` compares with its own
//!   length and then calls the parent's exact `set_len(begin + n)`, which also never lowers
//!   the parent's length.)
//! - [`IoBufMut::reserve`] cannot grow these fixed-capacity buffers, and must not move memory
//!   that may be in the kernel's hands: it is `Ok(())` when `len + additional <= cap` and
//!   [`ReserveError::NotSupported`](compio_buf_08::ReserveError::NotSupported) otherwise (the
//!   trait's default, kept). So `extend_from_slice` works within the capacity and fails,
//!   buffer unchanged, beyond it.
//!
//! `as_uninit` hands out `&mut [MaybeUninit<u8>]` over initialised bytes too, as compio-buf's own
//! `Vec<u8>` impl does: store only initialised values through it (writing
//! `MaybeUninit::uninit()` into `[0, len)` and then reading the buffer is undefined behaviour,
//! for `Vec<u8>` as here; compio-buf 0.7's provided `IoBufMut::as_mut_slice` has the same
//! shape). This is compio-buf's design (compio issue #1053) and no impl can close it.
//!
//! The one provided method that could do it without naming `MaybeUninit`, `copy_within`, is
//! overridden here with the types' own guarded `copy_within`, which refuses (panics at) a copy of
//! bytes past `len` into `[0, len)`. That covers calls whose `IoBufMut` is one of this crate's
//! types, directly (`buf.copy_within(..)`) or from code generic over the trait. It does not cover
//! compio-buf's own wrappers: `Slice` (from `buf.slice(..)`), `Box<B>` and `&'static mut B`
//! implement `IoBufMut` with the trait's default `copy_within`, which does not forward to the
//! inner buffer's and copies across the whole capacity; through them, safe code can still bring
//! unwritten bytes into `[0, len)` (compio issue #1053). Call `copy_within` on the buffer itself,
//! or copy with `[u8]::copy_within` over its initialised bytes.
//!
//! # Adding a buffer type
//!
//! `impl_compio_buf_08!` implements the three traits for a type from its inherent `len()`,
//! `cap()`, `as_ptr()`, `as_mut_ptr()`, `copy_within` and `unsafe fn set_len(&mut self, len)`,
//! as `impl_compio_buf_07!` does for compio-buf 0.7 (through `impl_len_traits!`, shared with
//! compio-buf 0.9). The type must keep the buffer contract stated
//! in lib.rs above the compio-buf 0.7 impls: add a `// Contract:` line there saying why it does,
//! and the type to both invocations.

/// compio-buf 0.8's provided methods, overridden: `buf_len` and `buf_capacity` from the
/// inherent ones, and `copy_within` by the type's own guarded one.
macro_rules! own_08 {
    (IoBuf, $ty:ty) => {
        #[inline]
        fn buf_len(&self) -> usize {
            self.len()
        }
    };
    (IoBufMut, $ty:ty) => {
        #[inline]
        fn buf_capacity(&mut self) -> usize {
            self.cap()
        }

        /// As the trait's default (`<[_]>::copy_within` over `[0, cap)`), but a copy that
        /// would bring bytes from past `len` (maybe never written) into `[0, len)` panics,
        /// naming the ranges: those bytes would then be read as initialised. It is the
        /// type's own guarded `copy_within`.
        ///
        /// Only calls that reach this impl are checked (on the buffer, or generic over
        /// `IoBufMut` with this type): compio-buf's `Slice`, `Box<B>` and `&'static mut B`
        /// run the trait's default over the whole capacity (compio issue #1053).
        #[track_caller]
        fn copy_within<R: std::ops::RangeBounds<usize>>(&mut self, src: R, dest: usize) {
            <$ty>::copy_within(self, src, dest);
        }
    };
}

/// compio-buf 0.8's `IoBuf`, `IoBufMut` and `SetLen` for the buffer types given.
macro_rules! impl_compio_buf_08 {
    ($($ty:ty),+ $(,)?) => {
        crate::compio_buf_traits::impl_len_traits! {
            buf: compio_buf_08,
            version: "0.8",
            feature: "compio-buf-08",
            compio: "0.19",
            own: own_08,
            mut_note: "",
            advance_to: "`advance_to(n)` (the trait's default)",
            types: [$($ty),+],
        }
    };
}

// Why each type keeps the buffer contract: lib.rs, beside the contract.
impl_compio_buf_08!(crate::AlignedBuf, crate::RawIoBuf, crate::Frame);
#[cfg(all(target_os = "linux", feature = "compio-19"))]
impl_compio_buf_08!(crate::fixed::FixedFrame);

#[cfg(test)]
mod tests {
    use compio_buf_08::{IoBuf, IoBufMut, SetLen};

    use crate::{AlignedBuf, PAGE_SIZE, RawIoBuf};

    #[test]
    fn views_cover_len_and_cap() {
        let mut buf = AlignedBuf::with_cap(100).unwrap();
        buf.extend(b"abc").unwrap();
        assert_eq!(buf.as_init(), b"abc");
        assert_eq!(IoBuf::buf_len(&buf), 3);
        assert_eq!(buf.as_uninit().len(), PAGE_SIZE);
        assert_eq!(buf.as_uninit().as_ptr().cast(), buf.as_ptr());
        assert_eq!(IoBufMut::buf_capacity(&mut buf), PAGE_SIZE);
    }

    #[test]
    fn set_len_is_exact_and_advance_to_only_raises() {
        let mut buf = AlignedBuf::zeroed(PAGE_SIZE).unwrap();
        // SAFETY: 10 <= cap, and the zeroed block is initialised throughout.
        unsafe { SetLen::set_len(&mut buf, 10) };
        assert_eq!(buf.len(), 10);
        // SAFETY: as above.
        unsafe { buf.advance_to(20) };
        assert_eq!(buf.len(), 20);
        // SAFETY: [0, 5) is initialised; a lower value must change nothing.
        unsafe { buf.advance_to(5) };
        assert_eq!(buf.len(), 20);
        // SAFETY: [20, 120) of the zeroed block is initialised and 120 <= cap.
        unsafe { buf.advance(100) };
        assert_eq!(buf.len(), 120);
        // SAFETY: shrinking: [0, 5) is initialised.
        unsafe { SetLen::set_len(&mut buf, 5) };
        assert_eq!(buf.len(), 5);
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

    /// The trait's `copy_within` (named, not the inherent one method-call syntax finds) moves
    /// initialised bytes anywhere, and unwritten ones only past `len`.
    #[test]
    fn copy_within_never_brings_unwritten_bytes_into_len() {
        let mut buf = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
        buf.extend(b"abcdef").unwrap();
        IoBufMut::copy_within(&mut buf, 0..3, 3);
        assert_eq!(&buf[..], b"abcabc");
        IoBufMut::copy_within(&mut buf, ..6, 100); // into the spare capacity: len unchanged
        assert_eq!(buf.len(), 6);
        IoBufMut::copy_within(&mut buf, 100..103, 6); // spare bytes land past len: allowed
        assert_eq!(buf.len(), 6);
        for (src, dest) in [(100..103, 0), (4..8, 0), (1..10, 0), (5..7, 4)] {
            let mut b = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
            b.extend(b"abcdef").unwrap();
            let err =
                std::panic::catch_unwind(move || IoBufMut::copy_within(&mut b, src.clone(), dest))
                    .expect_err("copies unwritten bytes into [0, len)");
            let msg = err.downcast_ref::<String>().unwrap();
            assert!(msg.contains("past len 6"), "{msg}");
        }
    }

    /// compio-buf 0.8's slices of a view of nothing (null pointer, `cap == 0`) are sound.
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
        second.as_uninit()[..2].copy_from_slice(&[std::mem::MaybeUninit::new(7); 2]);
        // SAFETY: bytes [0, 2) were just written.
        unsafe { SetLen::set_len(&mut second, 2) };
        assert_eq!(second.as_init(), &[7, 7]);
        assert_eq!(IoBufMut::buf_capacity(&mut second), PAGE_SIZE);
        assert_eq!(arena[PAGE_SIZE..PAGE_SIZE + 3], [7, 7, 0]);
    }
}
