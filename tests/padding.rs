//! `AlignedBuf::pad_to_alignment` against a `Vec<u8>` model.

use jdb_alloc::{ALIGNMENT, AlignedBuf, PAGE_SIZE, align_up, is_aligned};
use proptest::prelude::*;

proptest! {
    /// Whatever the capacity, the data and the bytes left in the spare capacity by earlier
    /// use, padding keeps the data, zeroes up to the next multiple of ALIGNMENT, and fits.
    #[test]
    fn pads_with_zeroes_to_the_next_multiple(
        pages in 1usize..4,
        data in proptest::collection::vec(any::<u8>(), 0..4 * PAGE_SIZE),
        dirt in any::<u8>(),
    ) {
        let mut buf = AlignedBuf::with_cap(pages * PAGE_SIZE).unwrap();
        let data = &data[..data.len().min(buf.cap())];
        // Leave non-zero bytes in the spare capacity, as a reused buffer would.
        buf.extend(&vec![dirt | 1; buf.cap()]).unwrap();
        buf.clear();
        buf.extend(data).unwrap();

        let padded = buf.pad_to_alignment();

        let mut model = data.to_vec();
        model.resize(align_up(data.len()).unwrap(), 0);
        prop_assert_eq!(padded, model.len());
        prop_assert_eq!(buf.len(), padded);
        prop_assert!(is_aligned(padded) && padded <= buf.cap());
        prop_assert!(padded - data.len() < ALIGNMENT);
        prop_assert_eq!(&buf[..], &model[..]);
        prop_assert_eq!(buf.cap(), pages * PAGE_SIZE);
        // Idempotent: an aligned length is left alone.
        prop_assert_eq!(buf.pad_to_alignment(), padded);
        prop_assert_eq!(&buf[..], &model[..]);
    }
}

#[test]
fn full_and_empty_buffers_stay_as_they_are() {
    let mut full = AlignedBuf::page().unwrap();
    full[0] = 9;
    assert_eq!(full.pad_to_alignment(), PAGE_SIZE);
    assert_eq!(full[0], 9);
    let mut empty = AlignedBuf::with_cap(1).unwrap();
    assert_eq!(empty.pad_to_alignment(), 0);
    assert!(empty.is_empty());
}
