//! compio-buf 0.8's and 0.9's `IoBuf`, `IoBufMut` and `SetLen`, written once: the two
//! generations ask the same of a buffer (`as_init`, `as_uninit`, an exact `set_len`) and differ
//! in the provided methods 0.8 lets a type override (0.9 moved them to extension traits),
//! which each version's module passes in.

/// Implements `$buf`'s (compio-buf `$version`, feature `$feature`, compio `$compio`) `IoBuf`,
/// `IoBufMut` and `SetLen` for the types listed. `$own` is a macro called inside the `IoBuf`
/// and `IoBufMut` impls (`$own!(IoBuf, $ty)`, `$own!(IoBufMut, $ty)`) with the overrides of
/// that version's provided methods; `$mut_note` ends the `IoBufMut` docs and `$advance_to`
/// names the raise-only length method in the `SetLen` docs.
///
/// Each type listed keeps the buffer contract stated in lib.rs, above the compio-buf 0.7 impls
/// (numbered 1 to 5; the SAFETY comments below cite it).
macro_rules! impl_len_traits {
    (
        buf: $buf:ident,
        version: $version:tt,
        feature: $feature:tt,
        compio: $compio:tt,
        own: $own:ident,
        mut_note: $mut_note:tt,
        advance_to: $advance_to:tt,
        types: [$($ty:ty),+ $(,)?] $(,)?
    ) => {$(
        #[doc = concat!(
            "compio-buf ", $version, " (feature `", $feature, "`): `as_init` is bytes \
             `[0, len)`, what `write_at` sends."
        )]
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl $buf::IoBuf for $ty {
            /// Bytes `[0, len)`.
            #[inline]
            fn as_init(&self) -> &[u8] {
                // SAFETY: contract 1 and 2: valid for `cap >= len` bytes, `[0, len)` initialised;
                // contract 3: no writes while this shared borrow of `self` lives.
                unsafe { std::slice::from_raw_parts(self.as_ptr(), self.len()) }
            }

            $own!(IoBuf, $ty);
        }

        #[doc = concat!(
            "compio-buf ", $version, " (feature `", $feature, "`): `as_uninit` is the whole \
             capacity `[0, cap)`, which compio ", $compio, " reads into from offset 0. The \
             capacity is fixed: `reserve(n)` is `Ok(())` if `len + n <= cap` and \
             `Err(ReserveError::NotSupported)` otherwise, never moving the memory, so \
             `extend_from_slice` fails past the capacity.\n\n",
            "`as_uninit` also covers the initialised bytes `[0, len)` (as for compio-buf's \
             `Vec<u8>`): store only initialised values there.", $mut_note
        )]
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl $buf::IoBufMut for $ty {
            /// The whole capacity `[0, cap)`, initialised prefix included.
            #[inline]
            fn as_uninit(&mut self) -> &mut [std::mem::MaybeUninit<u8>] {
                // SAFETY: contract 1: valid for reads and writes of `cap` bytes, and
                // `MaybeUninit<u8>` has no validity requirement, so uninitialised bytes are
                // fine; contract 3: `&mut self` makes this the only access while it lives.
                unsafe { std::slice::from_raw_parts_mut(self.as_mut_ptr().cast(), self.cap()) }
            }

            $own!(IoBufMut, $ty);
        }

        #[doc = concat!(
            "compio-buf ", $version, " (feature `", $feature, "`): `set_len(n)` sets the \
             length to exactly `n`; ", $advance_to, " raises it to `n` and never lowers it, so \
             after `read_at` the length is `max(len(), bytes read)` and a read into a \
             sub-slice keeps the parent's length."
        )]
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl $buf::SetLen for $ty {
            /// Sets the length to exactly `len`.
            #[inline]
            unsafe fn set_len(&mut self, len: usize) {
                // SAFETY: the trait's caller guarantees `len <= as_uninit().len() == cap` and
                // `[buf_len(), len)` initialised; `[0, buf_len())` already is (contract 2), so
                // `[0, len)` is, which is all the inherent `set_len` (contract 5) asks.
                unsafe { <$ty>::set_len(self, len) }
            }
        }
    )+};
}

pub(crate) use impl_len_traits;
