//! Huge pages refused: the process switches transparent huge pages off for itself
//! (`prctl(PR_SET_THP_DISABLE)`), which affects the whole process, so this test has a binary of
//! its own. `Try` must fall back to an ordinary arena, `On` must fail and say why.

#![cfg(target_os = "linux")]

use jdb_alloc::{AlignedBuf, Error, HugePageStatus, HugePages, MAP_THRESHOLD};

#[test]
fn thp_disabled_for_the_process_makes_try_fall_back_and_on_fail() {
    rustix::thread::disable_transparent_huge_pages(true).expect("prctl(PR_SET_THP_DISABLE)");
    assert!(rustix::thread::transparent_huge_pages_are_disabled().unwrap());

    let (buf, status) = AlignedBuf::zeroed_huge(1 << 20, HugePages::Try).unwrap();
    assert_eq!(status, HugePageStatus::Unavailable);
    assert_eq!((buf.len(), buf.cap()), (1 << 20, MAP_THRESHOLD));
    assert!(buf.iter().all(|&b| b == 0));

    match AlignedBuf::zeroed_huge(1 << 20, HugePages::On) {
        Err(e @ Error::HugePagesUnavailable { .. }) => {
            let Error::HugePagesUnavailable { size, reason } = &e else {
                unreachable!()
            };
            assert_eq!(*size, MAP_THRESHOLD);
            assert!(reason.contains("PR_SET_THP_DISABLE"), "{reason}");
            assert!(e.to_string().contains(&MAP_THRESHOLD.to_string()), "{e}");
        }
        other => panic!("expected HugePagesUnavailable, got {other:?}"),
    }

    // `Off` never asks, so it is unaffected.
    let (_, off) = AlignedBuf::zeroed_huge(1 << 20, HugePages::Off).unwrap();
    assert_eq!(off, HugePageStatus::NotRequested);
}
