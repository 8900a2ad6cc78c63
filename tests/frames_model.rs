//! Property test: random interleavings of frame operations against a model `Vec<Vec<u8>>`.
//!
//! Frames of one arena are extended, truncated, cleared, written, moved through other threads
//! and dropped in any order; after every step each surviving frame must hold exactly its model's
//! bytes at its original address, whatever happened to its neighbours.

use jdb_alloc::{AlignedBuf, Error, Frame, PAGE_SIZE};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Extend {
        at: usize,
        len: usize,
        byte: u8,
    },
    Truncate {
        at: usize,
        len: usize,
    },
    Clear {
        at: usize,
    },
    /// Overwrite every initialised byte in place (`DerefMut`).
    Fill {
        at: usize,
        byte: u8,
    },
    /// Send the frame to another thread, which appends a byte if it fits, and back.
    ThroughThread {
        at: usize,
        byte: u8,
    },
    Drop {
        at: usize,
    },
}

fn op(chunk: usize) -> impl Strategy<Value = Op> {
    // `at` picks among the live frames modulo their number.
    let at = any::<usize>();
    prop_oneof![
        3 => (at, 0..=chunk + 64, any::<u8>())
            .prop_map(|(at, len, byte)| Op::Extend { at, len, byte }),
        2 => (at, 0..=chunk).prop_map(|(at, len)| Op::Truncate { at, len }),
        1 => at.prop_map(|at| Op::Clear { at }),
        2 => (at, any::<u8>()).prop_map(|(at, byte)| Op::Fill { at, byte }),
        1 => (at, any::<u8>()).prop_map(|(at, byte)| Op::ThroughThread { at, byte }),
        1 => at.prop_map(|at| Op::Drop { at }),
    ]
}

/// (chunk, number of frames, initialised bytes of the arena, operations)
fn scenario() -> impl Strategy<Value = (usize, usize, usize, Vec<Op>)> {
    (1usize..=2, 1usize..=6).prop_flat_map(|(pages, n)| {
        let chunk = pages * PAGE_SIZE;
        (
            Just(chunk),
            Just(n),
            0..=n * chunk,
            prop::collection::vec(op(chunk), 0..48),
        )
    })
}

/// A live frame, its index in the arena and the bytes it must hold.
struct Live {
    index: usize,
    frame: Frame,
    model: Vec<u8>,
}

fn check(live: &[Live], base: usize, chunk: usize) -> Result<(), TestCaseError> {
    for l in live {
        prop_assert_eq!(l.frame.as_ptr() as usize, base + l.index * chunk);
        prop_assert_eq!(l.frame.cap(), chunk);
        prop_assert_eq!(l.frame.len(), l.model.len());
        prop_assert_eq!(&l.frame[..], &l.model[..], "frame {}", l.index);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn frames_behave_like_independent_vecs((chunk, n, init, ops) in scenario()) {
        let bytes: Vec<u8> = (0..init).map(|i| (i % 253) as u8).collect();
        let mut arena = AlignedBuf::with_cap(n * chunk).unwrap();
        arena.extend(&bytes).unwrap();
        let base = arena.as_ptr() as usize;

        let mut live: Vec<Live> = arena
            .into_frames(chunk)
            .unwrap()
            .enumerate()
            .map(|(index, frame)| {
                let start = (index * chunk).min(init);
                let end = ((index + 1) * chunk).min(init);
                Live { index, frame, model: bytes[start..end].to_vec() }
            })
            .collect();
        prop_assert_eq!(live.len(), n);
        check(&live, base, chunk)?;

        for op in ops {
            if live.is_empty() {
                break;
            }
            let count = live.len();
            match op {
                Op::Extend { at, len, byte } => {
                    let l = &mut live[at % count];
                    let data = vec![byte; len];
                    match l.frame.extend(&data) {
                        Ok(()) => l.model.extend_from_slice(&data),
                        Err(Error::Overflow(needed, cap)) => {
                            prop_assert!(l.model.len() + len > chunk);
                            prop_assert_eq!((needed, cap), (l.model.len() + len, chunk));
                        }
                        Err(e) => prop_assert!(false, "unexpected error {e}"),
                    }
                }
                Op::Truncate { at, len } => {
                    let l = &mut live[at % count];
                    l.frame.truncate(len);
                    l.model.truncate(len);
                }
                Op::Clear { at } => {
                    let l = &mut live[at % count];
                    l.frame.clear();
                    l.model.clear();
                }
                Op::Fill { at, byte } => {
                    let l = &mut live[at % count];
                    l.frame.fill(byte);
                    l.model.fill(byte);
                }
                Op::ThroughThread { at, byte } => {
                    let mut l = live.swap_remove(at % count);
                    l.frame = std::thread::spawn(move || {
                        let mut frame = l.frame;
                        let _ = frame.extend(&[byte]);
                        frame
                    })
                    .join()
                    .unwrap();
                    if l.model.len() < chunk {
                        l.model.push(byte);
                    }
                    live.push(l);
                }
                Op::Drop { at } => {
                    live.swap_remove(at % count);
                }
            }
            check(&live, base, chunk)?;
        }
    }
}
