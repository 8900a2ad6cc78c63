//! A registered pool outliving its compio 0.19 runtime: its memory goes once the last handle
//! and the last frame are gone, whichever is last, on whatever thread. In a process of its own:
//! the kernel unpins a closed ring's buffers in the background, which would disturb other
//! tests' `VmPin` figures, and the check that the arena is unmapped wants no other test
//! mapping memory meanwhile.
#![cfg(all(target_os = "linux", feature = "compio-19"))]

mod proc_mem;

use compio_19::runtime::Runtime;
use jdb_alloc::{
    MAP_THRESHOLD,
    fixed::{FixedStatus, compio19::FixedPool},
};
use proc_mem::resident_in;

const FRAME: usize = 1 << 20;

#[test]
fn pool_outliving_its_runtime_frees_its_memory_with_its_last_frame() {
    let rt = Runtime::new().unwrap();
    let (pool, mut frame) = rt.block_on(async {
        let pool = FixedPool::new(&[(FRAME, MAP_THRESHOLD / FRAME)]).unwrap();
        let frame = pool.acquire(FRAME).await.unwrap();
        (pool, frame)
    });
    let mut frames = vec![];
    while let Some(frame) = pool.try_acquire(FRAME) {
        frames.push(frame);
    }
    frame.extend(&[1; FRAME]).unwrap();
    for f in &mut frames {
        f.extend(&[2; FRAME]).unwrap();
    }
    let base = frames
        .iter()
        .chain([&frame])
        .map(|f| f.as_ptr() as usize)
        .min()
        .unwrap();
    assert_eq!(resident_in(base, MAP_THRESHOLD), MAP_THRESHOLD);
    drop(rt);
    assert_eq!(pool.status(), FixedStatus::RingClosed);
    drop(frames);
    assert_eq!(pool.stats().tiers[0].in_use, 1);
    drop(pool);
    assert_eq!(
        resident_in(base, MAP_THRESHOLD),
        MAP_THRESHOLD,
        "one frame is out: the arena stays"
    );
    std::thread::spawn(move || drop(frame)).join().unwrap();
    assert_eq!(
        resident_in(base, MAP_THRESHOLD),
        0,
        "the arena is not unmapped"
    );
}
