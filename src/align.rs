//! Rounding lengths and file offsets to [`ALIGNMENT`], in `const fn`s.
//!
//! `O_DIRECT` wants every buffer address, file offset and transfer length to be a multiple of
//! the device's block size; [`ALIGNMENT`] is a multiple of every common one. Lengths are
//! `usize` and file offsets (`read_at(buf, pos)`) are `u64`, so each helper comes in both
//! widths, generated from one definition so the two cannot drift apart.
//!
//! Rounding up can overflow near the top of the type; [`align_up`] and [`align_up_u64`] then
//! return `None` rather than wrap to a small number. Rounding down and testing cannot overflow.

use crate::ALIGNMENT;

/// Defines `align_up`, `align_down` and `is_aligned` for one unsigned integer type, with a
/// doctest each.
macro_rules! align_fns {
    ($t:ty, $up:ident, $down:ident, $is:ident) => {
        #[doc = concat!("Rounds `n` up to the next multiple of [`ALIGNMENT`] (`", stringify!($t), "`);")]
        /// `None` if that multiple does not fit in the type.
        ///
        /// ```
        #[doc = concat!("use jdb_alloc::", stringify!($up), ";")]
        ///
        #[doc = concat!("assert_eq!(", stringify!($up), "(0), Some(0));")]
        #[doc = concat!("assert_eq!(", stringify!($up), "(1), Some(4096));")]
        #[doc = concat!("assert_eq!(", stringify!($up), "(4096), Some(4096));")]
        #[doc = concat!("assert_eq!(", stringify!($up), "(4097), Some(8192));")]
        #[doc = concat!("assert_eq!(", stringify!($up), "(", stringify!($t), "::MAX), None);")]
        /// ```
        #[inline]
        #[must_use]
        pub const fn $up(n: $t) -> Option<$t> {
            const MASK: $t = ALIGNMENT as $t - 1;
            match n.checked_add(MASK) {
                Some(end) => Some(end & !MASK),
                None => None,
            }
        }

        #[doc = concat!("Rounds `n` down to a multiple of [`ALIGNMENT`] (`", stringify!($t), "`).")]
        ///
        /// ```
        #[doc = concat!("use jdb_alloc::", stringify!($down), ";")]
        ///
        #[doc = concat!("assert_eq!(", stringify!($down), "(4095), 0);")]
        #[doc = concat!("assert_eq!(", stringify!($down), "(4096), 4096);")]
        #[doc = concat!("assert_eq!(", stringify!($down), "(10_000), 8192);")]
        /// ```
        #[inline]
        #[must_use]
        pub const fn $down(n: $t) -> $t {
            n & !(ALIGNMENT as $t - 1)
        }

        #[doc = concat!("`true` if `n` is a multiple of [`ALIGNMENT`] (`", stringify!($t), "`); zero is.")]
        ///
        /// ```
        #[doc = concat!("use jdb_alloc::", stringify!($is), ";")]
        ///
        #[doc = concat!("assert!(", stringify!($is), "(0) && ", stringify!($is), "(8192));")]
        #[doc = concat!("assert!(!", stringify!($is), "(512));")]
        /// ```
        #[inline]
        #[must_use]
        pub const fn $is(n: $t) -> bool {
            n & (ALIGNMENT as $t - 1) == 0
        }
    };
}

align_fns!(usize, align_up, align_down, is_aligned);
align_fns!(u64, align_up_u64, align_down_u64, is_aligned_u64);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const A: u128 = ALIGNMENT as u128;

    /// Values anywhere, and values within a few blocks of `max`, where rounding up must refuse
    /// rather than wrap.
    fn near_top(max: u64) -> impl Strategy<Value = u64> {
        prop_oneof![any::<u64>(), (max - 3 * ALIGNMENT as u64)..=max]
    }

    /// The model: the same rounding in `u128`, where it cannot overflow, then checked against
    /// the type's maximum.
    fn model(n: u128, max: u128) -> (Option<u128>, u128, bool) {
        let up = n.div_ceil(A) * A;
        ((up <= max).then_some(up), n / A * A, n % A == 0)
    }

    proptest! {
        #[test]
        fn usize_helpers_match_the_model(n in near_top(usize::MAX as u64)) {
            let n = n as usize;
            let got = (align_up(n).map(|v| v as u128), align_down(n) as u128, is_aligned(n));
            prop_assert_eq!(got, model(n as u128, usize::MAX as u128));
        }

        #[test]
        fn u64_helpers_match_the_model(n in near_top(u64::MAX)) {
            let got = (align_up_u64(n).map(u128::from), u128::from(align_down_u64(n)), is_aligned_u64(n));
            prop_assert_eq!(got, model(n.into(), u64::MAX.into()));
        }
    }
}
