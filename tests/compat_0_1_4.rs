//! Source compatibility with jdb_alloc 0.1.4: one piece of user code, written the way 0.1.4's
//! users write it, is compiled against both the published 0.1.4 (`upstream`) and this crate, and
//! must report the same observations.
//!
//! The code sticks to inputs 0.1.4 handles correctly, and to capacities that are already whole
//! pages (0.1.4 does not round capacities up). `RawIoBuf::from_slice`, the one intended break,
//! is left out: it is `unsafe` here and safe there.

/// What the user code saw, in order: a label and the numbers or bytes it read.
type Trace = Vec<(&'static str, Vec<usize>)>;

/// User code for jdb_alloc 0.1.4, instantiated once per crate.
macro_rules! user_code {
    ($jdb:ident) => {
        use std::ptr::NonNull;

        use $jdb::{ALIGNMENT, AlignedBuf, Error, PAGE_SIZE, RawIoBuf, Result};

        use super::Trace;

        fn bytes(data: &[u8]) -> Vec<usize> {
            data.iter().map(|&b| usize::from(b)).collect()
        }

        fn record(trace: &mut Trace, label: &'static str, buf: &AlignedBuf) {
            let aligned = usize::from(buf.as_ptr() as usize % ALIGNMENT == 0);
            let mut seen = vec![buf.len(), buf.cap(), usize::from(buf.is_empty()), aligned];
            seen.extend(bytes(&buf[..buf.len().min(16)]));
            trace.push((label, seen));
        }

        /// A log writer: fills a page with records and reports what did not fit.
        fn log_page(trace: &mut Trace) -> Result<AlignedBuf> {
            let mut page = AlignedBuf::with_cap(PAGE_SIZE)?;
            for i in 0..400u16 {
                match page.extend(&i.to_le_bytes().repeat(6)) {
                    Ok(()) => {}
                    Err(Error::Overflow(needed, cap)) => {
                        trace.push(("overflow", vec![usize::from(i), needed, cap, page.len()]));
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(page)
        }

        pub fn session() -> Result<Trace> {
            let mut trace = Trace::new();

            let page = AlignedBuf::page()?;
            record(&mut trace, "page", &page);
            let mut zeroed = AlignedBuf::zeroed(3 * PAGE_SIZE)?;
            record(&mut trace, "zeroed", &zeroed);

            let mut log = log_page(&mut trace)?;
            record(&mut trace, "log", &log);
            log.truncate(100);
            log.truncate(200);
            record(&mut trace, "truncate", &log);
            log.as_mut()[0] = 0xEE;
            log[1] = 0xDD;
            trace.push(("as_ref", bytes(&log.as_ref()[..4])));
            let copy = log.try_clone()?;
            let clone = log.clone();
            log.clear();
            record(&mut trace, "cleared", &log);
            record(&mut trace, "try_clone", &copy);
            record(&mut trace, "clone", &clone);

            let (ptr, len, cap) = copy.into_raw_parts();
            // SAFETY: the parts of `copy`, rebuilt once.
            let rebuilt = unsafe { AlignedBuf::from_raw_parts(ptr, len, cap) };
            record(&mut trace, "raw_parts", &rebuilt);

            let mut direct = AlignedBuf::with_cap(2 * PAGE_SIZE)?;
            // SAFETY: 2 * PAGE_SIZE bytes are valid; 10 are written, then claimed.
            unsafe {
                direct.as_mut_ptr().write_bytes(7, 10);
                direct.set_len(10);
            }
            record(&mut trace, "set_len", &direct);

            // Buffer pool: the zeroed arena cut into frames.
            let base = zeroed.as_ptr() as usize;
            // SAFETY: the frames are used only below, one at a time, while `zeroed` lives.
            let frames: Vec<RawIoBuf> = unsafe { zeroed.slice_into_raws(PAGE_SIZE) }.collect();
            for (i, frame) in frames.iter().enumerate() {
                let offset = frame.as_ptr() as usize - base;
                trace.push(("frame", vec![i, offset, frame.len(), frame.cap()]));
            }
            // SAFETY: `zeroed` initialised the whole arena. (`with_len` is safe in 0.1.4 and
            // `unsafe` since 0.2: the same source compiles against both.)
            #[allow(unused_unsafe)]
            let mut second = unsafe { frames[1].with_len(8) };
            second.as_mut_slice().copy_from_slice(b"frame #1");
            trace.push(("frame data", bytes(second.as_slice())));
            // SAFETY: the frame's first 8 bytes were just written.
            unsafe { second.set_len(4) };
            trace.push((
                "frame set_len",
                vec![second.len(), usize::from(second.is_empty())],
            ));

            // SAFETY: views of the live arena, in bounds and page-aligned, only inspected.
            let (whole, raw) = unsafe { (zeroed.as_raw_view(), zeroed.as_raw()) };
            // SAFETY: as above.
            let subs = unsafe {
                [
                    whole.slice(PAGE_SIZE, PAGE_SIZE),
                    whole.slice_data(PAGE_SIZE, 8),
                    whole.slice_unchecked(2 * PAGE_SIZE, PAGE_SIZE),
                    raw,
                ]
            };
            for sub in subs {
                let offset = sub.as_ptr() as usize - base;
                let mut seen = vec![
                    offset,
                    sub.len(),
                    sub.cap(),
                    sub.as_mut_ptr() as usize - base,
                ];
                seen.extend(bytes(&sub.as_slice()[..sub.len().min(8)]));
                trace.push(("sub-view", seen));
            }

            let ptr = NonNull::new(zeroed.as_mut_ptr()).unwrap();
            // SAFETY: a view of the arena's first page, which is zeroed, while it lives.
            let parts = unsafe { RawIoBuf::from_raw_parts(ptr, 3, PAGE_SIZE) };
            // SAFETY: as above.
            let fresh = unsafe { RawIoBuf::new(ptr.as_ptr(), PAGE_SIZE) };
            trace.push((
                "raw views",
                vec![parts.len(), parts.cap(), fresh.len(), fresh.cap()],
            ));
            Ok(trace)
        }
    };
}

mod on_0_1_4 {
    user_code!(upstream);
}

mod on_this_crate {
    user_code!(jdb_alloc);
}

#[test]
fn code_written_for_0_1_4_compiles_and_behaves_the_same() {
    let old = on_0_1_4::session().unwrap();
    let new = on_this_crate::session().unwrap();
    assert!(old.len() > 20, "the session did too little: {old:?}");
    for (i, (a, b)) in old.iter().zip(&new).enumerate() {
        assert_eq!(a, b, "step {i} differs");
    }
    assert_eq!(old.len(), new.len());
}

#[test]
fn the_session_itself_saw_what_it_should() {
    let trace = on_this_crate::session().unwrap();
    let find = |label| &trace.iter().find(|(l, _)| *l == label).unwrap().1;
    // 341 records of 12 bytes fill 4092 bytes; the 342nd needs 4104.
    assert_eq!(find("overflow"), &vec![341, 4104, 4096, 4092]);
    assert_eq!(&find("truncate")[..3], &[100, 4096, 0]);
    assert_eq!(&find("as_ref")[..2], &[0xEE, 0xDD]);
    assert_eq!(&find("frame data")[..], &b"frame #1".map(usize::from)[..]);
}
