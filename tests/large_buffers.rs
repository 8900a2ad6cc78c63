//! Buffers at and around `MAP_THRESHOLD` (anonymous mappings on Unix) and huge-page arenas.
//!
//! Memory use is read from `/proc/self/pagemap` for the buffer's own range, so tests running in
//! parallel do not disturb each other's figures.

#[cfg(target_os = "linux")]
mod proc_mem;

use std::ptr::NonNull;

use jdb_alloc::{
    ALIGNMENT, AlignedBuf, Error, HUGE_PAGE_SIZE, HugePageStatus, HugePages, MAP_THRESHOLD,
    PAGE_SIZE,
};
use proptest::prelude::*;

const MIB: usize = 1 << 20;
const GIB: usize = 1 << 30;

/// Sizes on both sides of the threshold, and odd sizes that round up across it.
const STRADDLING: [usize; 6] = [
    MAP_THRESHOLD - PAGE_SIZE,
    MAP_THRESHOLD - PAGE_SIZE + 1,
    MAP_THRESHOLD - 1,
    MAP_THRESHOLD,
    MAP_THRESHOLD + 1,
    MAP_THRESHOLD + 3 * PAGE_SIZE,
];

/// A small deterministic generator for offsets (no dependency needed for "random enough").
fn offsets(seed: u64, below: usize, count: usize) -> impl Iterator<Item = usize> {
    let mut x = seed;
    (0..count).map(move |_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % below as u64) as usize
    })
}

#[test]
fn threshold_is_a_whole_number_of_huge_pages() {
    assert_eq!(MAP_THRESHOLD, 32 * MIB);
    assert_eq!(MAP_THRESHOLD % HUGE_PAGE_SIZE, 0);
}

#[test]
fn backings_add_no_field_to_the_buffer() {
    // ptr, len, cap: the backing is derived from cap, huge or not, never stored.
    assert_eq!(size_of::<AlignedBuf>(), 3 * size_of::<usize>());
}

#[test]
fn zeroed_round_trips_through_raw_parts_across_the_threshold() {
    for size in STRADDLING {
        let mut buf = AlignedBuf::zeroed(size).unwrap();
        assert_eq!(
            (buf.len(), buf.cap()),
            (size, size.max(1).next_multiple_of(PAGE_SIZE)),
            "size {size}"
        );
        assert_eq!(buf.as_ptr() as usize % ALIGNMENT, 0);
        assert_eq!((buf[0], buf[size - 1]), (0, 0));
        buf[0] = 1;
        buf[size - 1] = 2;

        let (ptr, len, cap) = buf.into_raw_parts();
        // SAFETY: the parts of the buffer just given up, rebuilt once.
        let back = unsafe { AlignedBuf::from_raw_parts(ptr, len, cap) };
        assert_eq!(
            (back.as_ptr(), back.len(), back.cap()),
            (ptr.as_ptr().cast_const(), len, cap)
        );
        assert_eq!((back[0], back[size - 1]), (1, 2));
    }
}

#[test]
fn with_cap_round_trips_and_extends_across_the_threshold() {
    for size in STRADDLING {
        let mut buf = AlignedBuf::with_cap(size).unwrap();
        assert_eq!(
            (buf.len(), buf.cap()),
            (0, size.max(1).next_multiple_of(PAGE_SIZE))
        );
        let tail = vec![9u8; buf.cap() - 8];
        buf.extend(&[1; 8]).unwrap();
        buf.extend(&tail).unwrap();
        assert!(matches!(buf.extend(&[0]), Err(Error::Overflow(_, _))));
        let (ptr, len, cap) = buf.into_raw_parts();
        assert_eq!(len, cap);
        // SAFETY: as above.
        let back = unsafe { AlignedBuf::from_raw_parts(ptr, len, cap) };
        assert_eq!(&back[..8], &[1; 8]);
        assert_eq!(back[cap - 1], 9);
    }
}

#[test]
fn clones_are_equal_and_independent_across_the_threshold() {
    for size in STRADDLING {
        let mut buf = AlignedBuf::zeroed(size).unwrap();
        for (i, off) in offsets(size as u64, size, 64).enumerate() {
            buf[off] = i as u8 | 1;
        }
        let mut copy = buf.try_clone().unwrap();
        let copy2 = buf.clone();
        for c in [&copy, &copy2] {
            assert_ne!(c.as_ptr(), buf.as_ptr());
            assert_eq!((c.len(), c.cap()), (buf.len(), buf.cap()));
            assert!(c[..] == buf[..], "clone of {size} bytes differs");
        }
        copy[size - 1] ^= 0xff;
        assert_ne!(copy[size - 1], buf[size - 1]);
        assert!(copy2[..] == buf[..]);
    }
}

#[test]
fn zeroed_gib_reads_zero_everywhere_and_is_not_resident() {
    let buf = AlignedBuf::zeroed(GIB).unwrap();
    assert_eq!((buf.len(), buf.cap()), (GIB, GIB));
    #[cfg(target_os = "linux")]
    {
        let resident = proc_mem::resident_in(buf.as_ptr() as usize, buf.cap());
        assert!(
            resident < 16 * MIB,
            "1 GiB zeroed made {resident} bytes resident"
        );
    }
    assert_eq!(buf[0], 0);
    assert_eq!(buf[GIB - 1], 0);
    for off in offsets(0x9e37_79b9_7f4a_7c15, GIB, 10_000) {
        assert_eq!(buf[off], 0, "byte {off}");
    }
}

#[test]
fn mapping_the_impossible_is_an_error_not_an_abort() {
    // Whole pages, within isize::MAX, so it passes the size check and reaches the allocator or
    // mmap, which cannot find 8 EiB of address space.
    let huge = (isize::MAX as usize) & !(PAGE_SIZE - 1);
    for result in [AlignedBuf::zeroed(huge), AlignedBuf::with_cap(huge)] {
        match result {
            Err(Error::AllocFailed { size }) => assert_eq!(size, huge),
            other => panic!("expected AllocFailed, got {other:?}"),
        }
    }
    assert!(matches!(
        AlignedBuf::zeroed_huge(usize::MAX, HugePages::Try),
        Err(Error::TooLarge { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Writes at random places of a buffer near the threshold agree with a `Vec<u8>` model,
    /// through a clone and a raw-parts round trip.
    #[test]
    fn near_threshold_buffers_behave_like_a_vec(
        size in (MAP_THRESHOLD - 4 * PAGE_SIZE)..(MAP_THRESHOLD + 4 * PAGE_SIZE),
        writes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..32),
    ) {
        let mut buf = AlignedBuf::zeroed(size).unwrap();
        let mut model = vec![0u8; size];
        for (at, byte) in writes {
            let i = at.index(size);
            buf[i] = byte;
            model[i] = byte;
        }
        let copy = buf.try_clone().unwrap();
        let (ptr, len, cap): (NonNull<u8>, usize, usize) = buf.into_raw_parts();
        // SAFETY: the parts of the buffer just given up, rebuilt once.
        let back = unsafe { AlignedBuf::from_raw_parts(ptr, len, cap) };
        prop_assert!(back[..] == model[..]);
        prop_assert!(copy[..] == model[..]);
    }
}

// ---------------------------------------------------------------------------------------------
// Huge pages
// ---------------------------------------------------------------------------------------------

#[test]
fn huge_off_is_plain_zeroed() {
    let (buf, status) = AlignedBuf::zeroed_huge(5 * MIB + 1, HugePages::Off).unwrap();
    assert_eq!(status, HugePageStatus::NotRequested);
    assert_eq!((buf.len(), buf.cap()), (5 * MIB + 1, 5 * MIB + PAGE_SIZE));
    assert_eq!(buf[5 * MIB], 0);
}

#[test]
fn huge_capacity_is_whole_extents_at_least_the_threshold() {
    for (size, cap) in [
        (0, MAP_THRESHOLD),
        (1, MAP_THRESHOLD),
        (MAP_THRESHOLD, MAP_THRESHOLD),
        (MAP_THRESHOLD + 1, MAP_THRESHOLD + HUGE_PAGE_SIZE),
        (100 * MIB + 5, 102 * MIB),
    ] {
        let (buf, _) = AlignedBuf::zeroed_huge(size, HugePages::Try).unwrap();
        assert_eq!((buf.len(), buf.cap()), (size, cap), "size {size}");
        // The capacity alone says how to release it: a raw-parts round trip frees it correctly
        // (ASan and the kernel would object otherwise).
        let (ptr, len, cap) = buf.into_raw_parts();
        // SAFETY: the parts just given up, rebuilt once.
        drop(unsafe { AlignedBuf::from_raw_parts(ptr, len, cap) });
    }
}

/// The bracketed choice of a THP setting file (`always [madvise] never`): `None` when
/// unreadable.
#[cfg(target_os = "linux")]
fn thp_setting(name: &str) -> Option<String> {
    let t = std::fs::read_to_string(format!("/sys/kernel/mm/transparent_hugepage/{name}")).ok()?;
    let (_, rest) = t.split_once('[')?;
    Some(rest.split_once(']')?.0.to_owned())
}

/// What the system says about 2 MiB transparent huge pages: `None` when unreadable.
#[cfg(target_os = "linux")]
fn thp_policy() -> Option<String> {
    match thp_setting("hugepages-2048kB/enabled") {
        Some(p) if p != "inherit" => Some(p),
        _ => thp_setting("enabled"),
    }
}

/// Whether a fault in an advised range compacts memory at once to get a huge page
/// (`defrag` is `always`, `madvise` or `defer+madvise`). Otherwise (`defer`, `never`) the fault
/// takes a 4 KiB page whenever no huge page is free, and khugepaged may collapse the range
/// later: huge pages are then a matter of luck, not of the advice.
#[cfg(target_os = "linux")]
fn thp_compacts_on_fault() -> bool {
    matches!(
        thp_setting("defrag").as_deref(),
        Some("always" | "madvise" | "defer+madvise")
    )
}

#[cfg(target_os = "linux")]
#[test]
fn huge_try_and_on_are_advised_and_backed_when_the_kernel_allows() {
    let policy = thp_policy();
    let size = 64 * MIB;
    let (mut buf, status) = AlignedBuf::zeroed_huge(size, HugePages::Try).unwrap();
    if policy.as_deref() == Some("never") {
        // Documented fallback: an ordinary arena of the same capacity, and `On` refuses.
        assert_eq!(status, HugePageStatus::Unavailable);
        assert_eq!(buf.cap(), size);
        match AlignedBuf::zeroed_huge(size, HugePages::On) {
            Err(Error::HugePagesUnavailable { size: s, reason }) => {
                assert_eq!(s, size);
                assert!(reason.contains("never"), "{reason}");
            }
            other => panic!("THP is `never`, expected HugePagesUnavailable, got {other:?}"),
        }
        return;
    }
    // THP is `always` or `madvise` here (or unreadable): the advice must have been taken.
    assert_eq!(status, HugePageStatus::Advised, "THP policy {policy:?}");
    assert_eq!(buf.as_ptr() as usize % HUGE_PAGE_SIZE, 0);
    assert_eq!(buf.cap() % HUGE_PAGE_SIZE, 0);
    let before = proc_mem::usage(buf.as_ptr() as usize, buf.cap());
    assert!(before.advised, "VmFlags lacks `hg`: {before:?}");
    let resident = proc_mem::resident_in(buf.as_ptr() as usize, buf.cap());
    assert!(
        resident < 16 * MIB,
        "untouched huge arena: {resident} bytes resident"
    );

    // One write per 2 MiB extent: each extent that got a huge page is then wholly resident,
    // the others have at least the written 4 KiB page.
    for off in (0..size).step_by(HUGE_PAGE_SIZE) {
        buf[off] = 1;
    }
    let after = proc_mem::usage(buf.as_ptr() as usize, buf.cap());
    let resident = proc_mem::resident_in(buf.as_ptr() as usize, buf.cap());
    let extents = size / HUGE_PAGE_SIZE;
    assert!(
        resident >= after.anon_huge && resident >= extents * PAGE_SIZE,
        "{resident} bytes resident after {extents} writes: {after:?}"
    );
    // The kernel then tries hard for huge pages (direct compaction); a machine too fragmented
    // even for that fails here, and says so.
    if thp_compacts_on_fault() {
        assert!(
            after.anon_huge > 0,
            "advised arena got no huge page although THP defrag compacts on fault \
             (AnonHugePages 0; memory too fragmented?): {after:?}"
        );
    }
    assert!(buf.iter().step_by(PAGE_SIZE).all(|&b| b <= 1));

    let (on, on_status) = AlignedBuf::zeroed_huge(size, HugePages::On).unwrap();
    assert_eq!(on_status, HugePageStatus::Advised);
    assert_eq!(on.as_ptr() as usize % HUGE_PAGE_SIZE, 0);
}

#[cfg(not(target_os = "linux"))]
#[test]
fn huge_pages_are_linux_only() {
    let (buf, status) = AlignedBuf::zeroed_huge(MIB, HugePages::Try).unwrap();
    assert_eq!(status, HugePageStatus::Unavailable);
    assert_eq!(buf.cap(), MAP_THRESHOLD);
    assert!(matches!(
        AlignedBuf::zeroed_huge(MIB, HugePages::On),
        Err(Error::HugePagesUnavailable { .. })
    ));
}
