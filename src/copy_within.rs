//! The buffers' own `copy_within`: over the whole capacity, as compio-buf's, but refusing to
//! bring bytes from past `len` (maybe never written) into `[0, len)`.
//!
//! compio-buf 0.8 and 0.9 both give buffers a safe `copy_within` over `[0, cap)`. compio-buf
//! 0.8's is a trait method this crate overrides with this guarded one; 0.9's is in the
//! extension trait `IoBufMutExt` with a blanket impl, which no type can override. An inherent
//! method is found first by method-call syntax whatever traits are in scope, so `buf.copy_within`
//! is this one for every buffer type. What each spelling reaches, for an `AlignedBuf` or `Frame`
//! (which dereference to their initialised bytes) and a `RawIoBuf` or `FixedFrame` alike:
//!
//! | Call | Reaches | Over |
//! |------|---------|------|
//! | `buf.copy_within(src, dest)` | this method, guarded | `[0, cap)` |
//! | `buf[..].copy_within(src, dest)` | `<[u8]>::copy_within` (via `Deref`) | `[0, len)` |
//! | compio-buf 0.8 `IoBufMut::copy_within(&mut buf, ..)` | this method (the override) | `[0, cap)` |
//! | compio-buf 0.9 `IoBufMutExt::copy_within(&mut buf, ..)`, or any generic `B: IoBufMut` | compio-buf's, **unguarded** | `[0, cap)` |

use std::{
    mem::MaybeUninit,
    ops::{Bound, RangeBounds},
    slice,
};

use crate::{AlignedBuf, Frame, RawIoBuf};

/// Implements the guarded inherent `copy_within` for types that keep the buffer contract stated
/// in lib.rs, above the compio-buf 0.7 impls (the SAFETY comment cites it).
macro_rules! impl_copy_within {
    ($($ty:ty),+ $(,)?) => {$(
        impl $ty {
            /// Copies bytes `src` to `dest` within the whole capacity `[0, cap)`, as
            /// compio-buf's `copy_within` does; the length stays as it is. A copy that would
            /// bring bytes from at or past `len` (maybe never written) into `[0, len)` panics
            /// instead, since they would then be read as initialised.
            ///
            /// Method-call syntax finds this method before compio-buf's and before the slice's;
            /// `buf[..].copy_within` is the slice's, over `[0, len)` only. Generic code over
            /// compio-buf 0.9's `IoBufMut` reaches compio-buf's `IoBufMutExt::copy_within`,
            /// which has no such guard: see the crate's safety model.
            ///
            /// # Panics
            /// If `src` or `dest + src.len()` is out of `[0, cap)`, or the copy would bring a
            /// byte from at or past `len` below `len`; the message names the ranges.
            ///
            /// The same for every buffer type; shown with an `AlignedBuf`:
            ///
            /// ```
            /// use jdb_alloc::AlignedBuf;
            ///
            /// let mut buf = AlignedBuf::with_cap(4096).unwrap();
            /// buf.extend(b"abcdef").unwrap();
            /// buf.copy_within(0..3, 3); // within the initialised bytes
            /// assert_eq!(&buf[..], b"abcabc");
            /// buf.copy_within(..6, 100); // into the spare capacity: the length stays 6
            /// assert_eq!(buf.len(), 6);
            /// // Bytes past the length into [0, len): refused.
            /// assert!(std::panic::catch_unwind(move || buf.copy_within(100..103, 0)).is_err());
            /// ```
            #[track_caller]
            pub fn copy_within<R: RangeBounds<usize>>(&mut self, src: R, dest: usize) {
                let (start, end) = bounds(&src, self.cap());
                check(start, end, dest, self.len());
                // SAFETY: contract 1: valid for reads and writes of `cap` bytes, and
                // `MaybeUninit<u8>` has no validity requirement; contract 3: `&mut self` makes
                // this the only access while the slice lives. The copy keeps `[0, len)`
                // initialised (checked just above), as contract 2 requires.
                let whole = unsafe {
                    slice::from_raw_parts_mut(self.as_mut_ptr().cast::<MaybeUninit<u8>>(), self.cap())
                };
                whole.copy_within(start..end, dest);
            }
        }
    )+};
}

/// `src` as `start..end` over a buffer of `cap` bytes; an overflowing bound panics like `slice`'s.
#[track_caller]
fn bounds<R: RangeBounds<usize>>(src: &R, cap: usize) -> (usize, usize) {
    let start = match src.start_bound() {
        Bound::Included(&start) => start,
        Bound::Excluded(&start) => start
            .checked_add(1)
            .expect("copy_within: range start overflows"),
        Bound::Unbounded => 0,
    };
    let end = match src.end_bound() {
        Bound::Included(&end) => end
            .checked_add(1)
            .expect("copy_within: range end overflows"),
        Bound::Excluded(&end) => end,
        Bound::Unbounded => cap,
    };
    (start, end)
}

/// Panics if copying `[start, end)` to `dest` would move a byte from at or past `len` to below
/// `len`. Ranges out of bounds are left to `<[_]>::copy_within`, which panics for them.
#[track_caller]
fn check(start: usize, end: usize, dest: usize, len: usize) {
    let count = end.saturating_sub(start);
    // Byte `i` of the copy goes from `start + i` to `dest + i`: harmful when `start + i >= len`
    // and `dest + i < len`, i.e. for `i` in `len - start .. len - dest`.
    let first_unwritten = len.saturating_sub(start);
    let last_initialised = count.min(len.saturating_sub(dest));
    assert!(
        first_unwritten >= last_initialised,
        "copy_within: copying [{start}, {end}) to {dest} would bring bytes past len {len}, \
         which may never have been written, into [0, {len})"
    );
}

// Why each type keeps the buffer contract: lib.rs, beside the contract.
impl_copy_within!(AlignedBuf, RawIoBuf, Frame);
#[cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]
impl_copy_within!(crate::fixed::FixedFrame);

#[cfg(test)]
mod tests {
    use crate::{AlignedBuf, PAGE_SIZE, RawIoBuf};

    /// Initialised bytes go anywhere, unwritten ones only past `len`; the length never changes.
    #[test]
    fn never_brings_unwritten_bytes_into_len() {
        let mut buf = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
        buf.extend(b"abcdef").unwrap();
        buf.copy_within(0..3, 3);
        assert_eq!(&buf[..], b"abcabc");
        buf.copy_within(..6, 100); // into the spare capacity
        buf.copy_within(100..103, 6); // spare bytes land past len: allowed
        buf.copy_within(100..=105, PAGE_SIZE - 6); // up to the last byte of the capacity
        assert_eq!(buf.len(), 6);
        // SAFETY: [6, 9) was written by the copy from [100, 103) just above.
        unsafe { buf.set_len(9) };
        assert_eq!(&buf[..], b"abcabcabc");
        for (src, dest) in [(100..103, 0), (4..12, 0), (1..10, 0), (8..11, 7)] {
            let mut b = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
            b.extend(b"abcdefgh").unwrap();
            let err = std::panic::catch_unwind(move || b.copy_within(src.clone(), dest))
                .expect_err("copies unwritten bytes into [0, len)");
            let msg = err.downcast_ref::<String>().unwrap();
            assert!(msg.contains("past len 8"), "{msg}");
        }
    }

    /// Out of the capacity panics (as the slice's does), in-bounds ranges the slice's refuses
    /// (past `len`) are fine, and a view of nothing copies nothing.
    #[test]
    fn bounds_are_the_capacity() {
        let mut buf = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
        for (src, dest) in [(0..PAGE_SIZE + 1, 0), (0..2, PAGE_SIZE - 1)] {
            let mut b = AlignedBuf::with_cap(PAGE_SIZE).unwrap();
            assert!(std::panic::catch_unwind(move || b.copy_within(src, dest)).is_err());
        }
        buf.copy_within(10..20, 30);
        assert!(std::panic::catch_unwind(move || buf[..].copy_within(10..20, 30)).is_err());
        // SAFETY: an empty view of nothing, as `RawIoBuf::new` allows.
        let mut nothing = unsafe { RawIoBuf::new(std::ptr::null_mut(), 0) };
        nothing.copy_within(.., 0);
        assert!(nothing.is_empty());
    }
}
