//! A fixed read whose future is dropped before compio ever submitted it (polled once: a lost
//! `select!`, a timeout), then the runtime dropped: after `settle`, nothing of the arena is kept.
//! In a process of its own: it measures this process's resident memory.
#![cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]

mod poll;
mod proc_mem;
mod scratch;
mod turn;

use poll::start_and_drop;
use scratch::Scratch;
use turn::turn;

/// 64 MiB arenas, four frames each; rounds of the scenario.
const ARENA: usize = 64 << 20;
const CHUNK: usize = ARENA / 4;
const ROUNDS: usize = 4;

/// The case for the compio crate `$compio` and this crate's module `fixed::$fixed`.
macro_rules! cancelled_case {
    ($name:ident, $compio:ident, $fixed:ident) => {
        #[test]
        fn $name() {
            use jdb_alloc::{AlignedBuf, PAGE_SIZE, fixed::$fixed};
            use $compio::runtime::Runtime;

            crate::scratch::open_read_direct!($compio);

            let _turn = turn(); // the tests measure the process's memory
            let tmp = Scratch::new(stringify!($name));
            std::fs::write(&tmp.0, vec![3u8; PAGE_SIZE]).unwrap();
            let baseline = proc_mem::resident_bytes();
            for round in 0..ROUNDS {
                let rt = Runtime::new().unwrap();
                let addr = rt.block_on(async {
                    let file = open_read_direct(&tmp.0).await;
                    let mut frames =
                        $fixed::register(AlignedBuf::zeroed(ARENA).unwrap(), CHUNK).unwrap();
                    let mut frame = frames.next().unwrap();
                    drop(frames); // all frames but one
                    frame.fill(1); // resident, registered or not
                    let addr = frame.as_ptr() as usize;
                    start_and_drop($fixed::read_fixed_at(&file, frame, 0)).await;
                    addr
                });
                assert_eq!(proc_mem::resident_in(addr, CHUNK), CHUNK, "round {round}");
                rt.block_on($fixed::settle());
                drop(rt);
                assert_eq!(
                    proc_mem::resident_in(addr, CHUNK),
                    0,
                    "round {round}: the cancelled read's frame is kept"
                );
            }
            let grown = proc_mem::resident_bytes().saturating_sub(baseline);
            assert!(
                grown < ARENA,
                "{grown} bytes more resident after {ROUNDS} rounds"
            );
        }
    };
}

#[cfg(feature = "compio-17")]
cancelled_case!(
    fixed_read_cancelled_before_submission_frees_its_arena_17,
    compio,
    compio17
);
#[cfg(feature = "compio-19")]
cancelled_case!(
    fixed_read_cancelled_before_submission_frees_its_arena_19,
    compio_19,
    compio19
);
#[cfg(feature = "compio-20")]
cancelled_case!(
    fixed_read_cancelled_before_submission_frees_its_arena_20,
    compio_20,
    compio20
);
