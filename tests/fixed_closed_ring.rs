//! A registration outliving its runtime (compio 0.17): the ring's closing ends it, and frames
//! dropped later leave the next runtime's ring alone, also when that ring got the same
//! descriptor number. In a process of its own: the kernel unpins a closed ring's buffers in
//! the background, which would disturb other tests' `VmPin` figures.
#![cfg(all(target_os = "linux", feature = "compio-17"))]

mod vm_pin;

use std::os::fd::AsRawFd;

use jdb_alloc::{
    AlignedBuf,
    fixed::{FixedStatus, compio17},
};
use vm_pin::pinned;

const CHUNK: usize = 64 * 1024;
const ARENA: usize = 64 * CHUNK;

/// Pinned from registration until the last frame is gone, also when that is dropped outside
/// `block_on`; frames outliving their runtime leave the next runtime's table alone.
#[test]
fn fixed_registration_ends_with_its_frames_or_its_ring() {
    let rt = compio::runtime::Runtime::new().unwrap();
    let before = pinned();
    let frames = rt.block_on(async {
        let mut frames = compio17::register(AlignedBuf::zeroed(ARENA).unwrap(), CHUNK).unwrap();
        let first = frames.next().unwrap();
        assert_eq!(compio17::status(&first), FixedStatus::Registered);
        assert_eq!(pinned(), before + ARENA);
        drop(first);
        frames
    });
    assert_eq!(pinned(), before + ARENA, "the iterator holds the arena");
    drop(frames);
    assert_eq!(
        pinned(),
        before,
        "dropped on the ring's thread, outside block_on"
    );

    let frames = rt
        .block_on(async { compio17::register(AlignedBuf::zeroed(ARENA).unwrap(), CHUNK).unwrap() });
    assert_eq!(pinned(), before + ARENA);
    let old_fd = rt.as_raw_fd();
    drop(rt);
    assert_eq!(frames.status(), FixedStatus::RingClosed);
    // The next runtime gets the closed ring's descriptor number (the lowest free one; this
    // binary runs this one test, so no other thread opens descriptors meanwhile). Dropping the
    // old frames now must not touch its table (the kernel unpins the old ring's ARENA bytes in
    // the background, whenever it gets to it).
    let rt = compio::runtime::Runtime::new().unwrap();
    assert_eq!(
        rt.as_raw_fd(),
        old_fd,
        "the case this test is for: the number reused"
    );
    let mine = rt.block_on(async {
        let mine = compio17::register(AlignedBuf::zeroed(2 * CHUNK).unwrap(), CHUNK).unwrap();
        assert_eq!(mine.status(), FixedStatus::Registered);
        mine
    });
    let with_both = pinned();
    drop(frames);
    let after = pinned();
    assert!(
        after == with_both || after + ARENA == with_both,
        "{with_both} -> {after}: the new ring's table was touched"
    );
    rt.block_on(async {
        for frame in mine {
            assert_eq!(compio17::status(&frame), FixedStatus::Registered);
        }
    });
}
