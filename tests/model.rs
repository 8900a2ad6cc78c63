//! Property tests against a model: random operation sequences on an `AlignedBuf` behave like a
//! `Vec<u8>` of fixed capacity, and `RawIoBuf` sub-views accept exactly the in-bounds, aligned
//! ranges.

use std::panic::{self, AssertUnwindSafe};

use jdb_alloc::{ALIGNMENT, AlignedBuf, Error, PAGE_SIZE, RawIoBuf};
use proptest::{prelude::*, sample::Index};

/// One step of a random session.
#[derive(Clone, Debug)]
enum Op {
    Extend(Vec<u8>),
    Truncate(usize),
    Clear,
    /// Sets the length to a point (chosen by the index) among the bytes known to be initialised.
    SetLen(Index),
    /// Overwrites one initialised byte through `DerefMut`.
    Write(Index, u8),
    /// Clones, checks the two are independent, and carries on with the clone or the original.
    TryClone {
        keep_clone: bool,
    },
    /// `into_raw_parts` then `from_raw_parts`.
    RawParts,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..3 * PAGE_SIZE).prop_map(Op::Extend),
        2 => (0..5 * PAGE_SIZE).prop_map(Op::Truncate),
        1 => Just(Op::Clear),
        2 => any::<Index>().prop_map(Op::SetLen),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Op::Write(i, b)),
        1 => any::<bool>().prop_map(|keep_clone| Op::TryClone { keep_clone }),
        1 => Just(Op::RawParts),
    ]
}

/// How the buffer under test starts.
#[derive(Clone, Copy, Debug)]
enum Start {
    WithCap(usize),
    Zeroed(usize),
}

fn start() -> impl Strategy<Value = Start> {
    prop_oneof![
        (0..4 * PAGE_SIZE + 2).prop_map(Start::WithCap),
        (0..4 * PAGE_SIZE + 2).prop_map(Start::Zeroed),
    ]
}

/// The model: the bytes known to be initialised (`known`, which outlive a `truncate`), how many
/// of them are the buffer's contents, and the fixed capacity.
struct Model {
    known: Vec<u8>,
    len: usize,
    cap: usize,
}

impl Model {
    fn contents(&self) -> &[u8] {
        &self.known[..self.len]
    }

    /// Writes `data` at the end of the contents, as `extend` must.
    fn append(&mut self, data: &[u8]) {
        let end = self.len + data.len();
        if self.known.len() < end {
            self.known.resize(end, 0);
        }
        self.known[self.len..end].copy_from_slice(data);
        self.len = end;
    }
}

fn check(buf: &AlignedBuf, model: &Model) {
    assert_eq!(buf.cap(), model.cap, "capacity changed");
    assert_eq!(buf.len(), model.len);
    assert_eq!(buf.is_empty(), model.len == 0);
    assert_eq!(buf.as_ptr() as usize % ALIGNMENT, 0);
    assert_eq!(&buf[..], model.contents());
}

fn apply(buf: AlignedBuf, model: &mut Model, op: Op) -> AlignedBuf {
    let mut buf = buf;
    match op {
        Op::Extend(data) => match buf.extend(&data) {
            Ok(()) => {
                assert!(model.len + data.len() <= model.cap);
                model.append(&data);
            }
            Err(Error::Overflow(needed, cap)) => {
                assert_eq!((needed, cap), (model.len + data.len(), model.cap));
                assert!(needed > cap);
            }
            Err(other) => panic!("extend failed with {other:?}"),
        },
        Op::Truncate(len) => {
            buf.truncate(len);
            model.len = model.len.min(len);
        }
        Op::Clear => {
            buf.clear();
            model.len = 0;
        }
        Op::SetLen(at) => {
            let len = at.index(model.known.len() + 1);
            // SAFETY: `len <= known.len() <= cap`, and the model has seen every byte below
            // `known.len()` written (by `zeroed`, `extend` or `Write`).
            unsafe { buf.set_len(len) };
            model.len = len;
        }
        Op::Write(at, byte) => {
            if model.len > 0 {
                let i = at.index(model.len);
                buf[i] = byte;
                model.known[i] = byte;
            }
        }
        Op::TryClone { keep_clone } => {
            let mut copy = buf.try_clone().unwrap();
            check(&copy, model);
            assert_ne!(copy.as_ptr(), buf.as_ptr());
            if model.len > 0 {
                copy[0] = !copy[0];
                assert_eq!(
                    buf[0], model.known[0],
                    "the clone shares memory with its source"
                );
                copy[0] = !copy[0];
            }
            if keep_clone {
                // Only `[0, len)` is copied: the clone knows nothing beyond it.
                model.known.truncate(model.len);
                buf = copy;
            }
        }
        Op::RawParts => {
            let (ptr, len, cap) = buf.into_raw_parts();
            assert_eq!((len, cap), (model.len, model.cap));
            // SAFETY: the parts come from `into_raw_parts` and are rebuilt exactly once.
            buf = unsafe { AlignedBuf::from_raw_parts(ptr, len, cap) };
        }
    }
    buf
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn aligned_buf_behaves_like_a_fixed_capacity_vec(
        start in start(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let (mut buf, known, requested) = match start {
            Start::WithCap(cap) => (AlignedBuf::with_cap(cap).unwrap(), Vec::new(), cap),
            Start::Zeroed(size) => (AlignedBuf::zeroed(size).unwrap(), vec![0; size], size),
        };
        let cap = requested.div_ceil(PAGE_SIZE).max(1) * PAGE_SIZE;
        let mut model = Model { len: known.len(), known, cap };
        check(&buf, &model);
        for op in ops {
            buf = apply(buf, &mut model, op);
            check(&buf, &model);
        }
    }

    #[test]
    fn capacity_is_the_size_rounded_up_to_whole_pages(size in 0..64 * PAGE_SIZE) {
        let pages = size.div_ceil(PAGE_SIZE).max(1);
        let empty = AlignedBuf::with_cap(size).unwrap();
        let zeroed = AlignedBuf::zeroed(size).unwrap();
        prop_assert_eq!(empty.cap(), pages * PAGE_SIZE);
        prop_assert_eq!(zeroed.cap(), pages * PAGE_SIZE);
        prop_assert_eq!(zeroed.len(), size);
        prop_assert!(zeroed.iter().all(|&b| b == 0));
    }
}

/// A sub-view request: which method, where, how long.
#[derive(Clone, Copy, Debug)]
enum Sub {
    Slice,
    SliceData,
}

/// Offsets and lengths near the interesting edges: page multiples, small misalignments, and
/// values whose sum overflows.
fn position() -> impl Strategy<Value = usize> {
    prop_oneof![
        (0..6usize).prop_map(|pages| pages * PAGE_SIZE),
        (0..6usize, 1..PAGE_SIZE).prop_map(|(pages, rem)| pages * PAGE_SIZE + rem),
        (0..PAGE_SIZE).prop_map(|back| usize::MAX - back),
    ]
}

/// Calls `sub` on `view`; `Err` carries the panic message.
fn try_sub(view: RawIoBuf, sub: Sub, offset: usize, len: usize) -> Result<RawIoBuf, String> {
    panic::catch_unwind(AssertUnwindSafe(|| match sub {
        // SAFETY: the sub-view is only inspected (never dereferenced) while the arena lives.
        Sub::Slice => unsafe { view.slice(offset, len) },
        // SAFETY: as above.
        Sub::SliceData => unsafe { view.slice_data(offset, len) },
    }))
    .map_err(|payload| {
        *payload
            .downcast::<String>()
            .expect("a formatted panic message")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn sub_views_accept_exactly_the_aligned_in_bounds_ranges(
        pages in 1..5usize,
        shift in prop_oneof![Just(0usize), 0..PAGE_SIZE],
        sub in prop_oneof![Just(Sub::Slice), Just(Sub::SliceData)],
        offset in position(),
        len in position(),
    ) {
        let arena = AlignedBuf::zeroed(pages * PAGE_SIZE).unwrap();
        let cap = pages * PAGE_SIZE - shift;
        // SAFETY: a view of the arena's bytes `[shift, pages * PAGE_SIZE)`, used while it lives.
        let view = unsafe { RawIoBuf::new(arena.as_ptr().cast_mut().add(shift), cap) };

        let in_bounds = offset.checked_add(len).is_some_and(|end| end <= cap);
        let aligned = shift.wrapping_add(offset) % ALIGNMENT == 0;
        match try_sub(view, sub, offset, len) {
            Ok(got) => {
                prop_assert!(in_bounds && aligned);
                prop_assert_eq!(got.as_ptr() as usize, view.as_ptr() as usize + offset);
                prop_assert_eq!(got.cap(), len);
                let want_len = match sub {
                    Sub::Slice => 0,
                    Sub::SliceData => len,
                };
                prop_assert_eq!(got.len(), want_len);
            }
            Err(msg) => {
                prop_assert!(!(in_bounds && aligned), "refused a good range: {}", msg);
                let name = match sub {
                    Sub::Slice => "RawIoBuf::slice:",
                    Sub::SliceData => "RawIoBuf::slice_data:",
                };
                prop_assert!(msg.starts_with(name), "{}", msg);
                for number in [offset, len, cap] {
                    prop_assert!(msg.contains(&number.to_string()), "{} lacks {}", msg, number);
                }
                let reason = if in_bounds { "aligned" } else { "exceeds cap" };
                prop_assert!(msg.contains(reason), "{}", msg);
            }
        }
    }
}
