//! compio-buf 0.8 traits (compio 0.18, 0.19): [`IoBuf`], [`IoBufMut`], [`SetLen`].
//!
//! # Semantics
//!
//! - [`IoBuf::as_init`] is bytes `[0, len)`: what `write_at` sends.
//! - [`IoBufMut::as_uninit`] is the whole capacity `[0, cap)`, initialised prefix included:
//!   compio 0.19 reads into all of it, from offset 0 whatever the current length, and then
//!   calls [`SetLen::advance_to`] with the number of bytes read.
//! - [`SetLen::set_len`] sets the length to exactly the given value, and so does
//!   [`SetLen::advance_to`], which here does not keep a larger old length (the trait's default
//!   does). A read writes from offset 0, so after it `len()` is the bytes read, a short read at
//!   end of file included, even if the buffer held more before: the same as this crate's
//!   compio-buf 0.7 impls, rather than counting stale bytes past the read as data.
//! - [`IoBufMut::reserve`] cannot grow these fixed-capacity buffers, and must not move memory
//!   that may be in the kernel's hands: it is `Ok(())` when `len + additional <= cap` and
//!   [`ReserveError::NotSupported`](compio_buf_08::ReserveError::NotSupported) otherwise (the
//!   trait's default, kept). So `extend_from_slice` works within the capacity and fails,
//!   buffer unchanged, beyond it.
//!
//! `as_uninit` hands out `&mut [MaybeUninit<u8>]` over initialised bytes too, as compio-buf's own
//! `Vec<u8>` impl does: store only initialised values through it (writing
//! `MaybeUninit::uninit()` into `[0, len)` and then reading the buffer is undefined behaviour,
//! for `Vec<u8>` as here).
//!
//! # Adding a buffer type
//!
//! [`impl_compio_buf_08!`] implements the three traits for a type from its inherent `len()`,
//! `cap()`, `as_ptr()`, `as_mut_ptr()` and `unsafe fn set_len(&mut self, len)`, as
//! `impl_compio_buf_07!` does for compio-buf 0.7. The type must keep the buffer contract stated
//! in lib.rs above the compio-buf 0.7 impls: add a `// Contract:` line there saying why it does,
//! and the type to both invocations.

use std::{mem::MaybeUninit, slice};

use compio_buf_08::{IoBuf, IoBufMut, SetLen};

use crate::{AlignedBuf, Frame, RawIoBuf};

/// Implements compio-buf 0.8's `IoBuf`, `IoBufMut` and `SetLen` for buffer types.
///
/// Each type listed keeps the buffer contract stated in lib.rs, above the compio-buf 0.7 impls
/// (numbered 1 to 5; the SAFETY comments below cite it).
macro_rules! impl_compio_buf_08 {
    ($($ty:ty),+ $(,)?) => {$(
        /// compio-buf 0.8 (feature `compio-buf-08`): `as_init` is bytes `[0, len)`, what
        /// `write_at` sends.
        impl IoBuf for $ty {
            /// Bytes `[0, len)`.
            #[inline]
            fn as_init(&self) -> &[u8] {
                // SAFETY: contract 1 and 2: valid for `cap >= len` bytes, `[0, len)` initialised;
                // contract 3: no writes while this shared borrow of `self` lives.
                unsafe { slice::from_raw_parts(self.as_ptr(), self.len()) }
            }

            #[inline]
            fn buf_len(&self) -> usize {
                self.len()
            }
        }

        /// compio-buf 0.8 (feature `compio-buf-08`): `as_uninit` is the whole capacity
        /// `[0, cap)`, which compio 0.19 reads into from offset 0. The capacity is fixed:
        /// `reserve(n)` is `Ok(())` if `len + n <= cap` and `Err(ReserveError::NotSupported)`
        /// otherwise, never moving the memory, so `extend_from_slice` fails past the capacity.
        ///
        /// `as_uninit` also covers the initialised bytes `[0, len)` (as for compio-buf's
        /// `Vec<u8>`): store only initialised values there.
        impl IoBufMut for $ty {
            /// The whole capacity `[0, cap)`, initialised prefix included.
            #[inline]
            fn as_uninit(&mut self) -> &mut [MaybeUninit<u8>] {
                // SAFETY: contract 1: valid for reads and writes of `cap` bytes, and
                // `MaybeUninit<u8>` has no validity requirement, so uninitialised bytes are
                // fine; contract 3: `&mut self` makes this the only access while it lives.
                unsafe { slice::from_raw_parts_mut(self.as_mut_ptr().cast(), self.cap()) }
            }

            #[inline]
            fn buf_capacity(&mut self) -> usize {
                self.cap()
            }
        }

        /// compio-buf 0.8 (feature `compio-buf-08`): lengths are exact. Both `set_len(n)` and
        /// `advance_to(n)` set the length to `n`, even below the current one, so after
        /// `read_at` the length is the number of bytes read (a short read at end of file
        /// included), as with compio-buf 0.7.
        impl SetLen for $ty {
            /// Sets the length to exactly `len`.
            #[inline]
            unsafe fn set_len(&mut self, len: usize) {
                // SAFETY: the trait's caller guarantees `len <= as_uninit().len() == cap` and
                // `[buf_len(), len)` initialised; `[0, buf_len())` already is (contract 2), so
                // `[0, len)` is, which is all the inherent `set_len` (contract 5) asks.
                unsafe { <$ty>::set_len(self, len) }
            }

            /// Sets the length to exactly `len`, also when it is below the current length:
            /// compio reads from offset 0, so the bytes past `len` are not what was read.
            #[inline]
            unsafe fn advance_to(&mut self, len: usize) {
                // SAFETY: `advance_to` has the same contract as `set_len`, passed on unchanged.
                unsafe { SetLen::set_len(self, len) }
            }
        }
    )+};
}

// Why each type keeps the buffer contract: lib.rs, beside the contract.
impl_compio_buf_08!(AlignedBuf, RawIoBuf, Frame);
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
    fn set_len_and_advance_to_are_exact() {
        let mut buf = AlignedBuf::zeroed(PAGE_SIZE).unwrap();
        // SAFETY: 10 <= cap, and the zeroed block is initialised throughout.
        unsafe { SetLen::set_len(&mut buf, 10) };
        assert_eq!(buf.len(), 10);
        // SAFETY: as above.
        unsafe { buf.advance_to(20) };
        assert_eq!(buf.len(), 20);
        // SAFETY: shrinking: [0, 5) is initialised.
        unsafe { buf.advance_to(5) };
        assert_eq!(buf.len(), 5);
        // SAFETY: [5, 105) of the zeroed block is initialised and 105 <= cap.
        unsafe { buf.advance(100) };
        assert_eq!(buf.len(), 105);
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
