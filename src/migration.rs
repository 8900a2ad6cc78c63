//! Migrating from jdb_alloc 0.1.4: every change, and what to write instead.
//!
//! This module holds no code; it is the full list the README summarises.
//!
//! Code written for 0.1.4 compiles and behaves the same, except as listed. Each change closes a
//! hole, makes a failure say more, or makes large buffers cheap. Items 1, 2 and 7 can stop old
//! code from compiling (`unsafe` around `from_slice` and `with_len`; `Error` patterns), and items
//! 3 to 6 change what some calls do at run time, hence version 0.2. Everything else that is new in
//! 0.2 is an addition (see the end of this page).
//!
//! 1. **`RawIoBuf::from_slice` is `unsafe`.** The view it returns is not tied to the borrow of
//!    the slice, so in 0.1.4 entirely safe code could make a view of a `Vec`, drop the `Vec`, and
//!    read freed memory through the view. Callers now promise the memory outlives the view:
//!    write `unsafe { RawIoBuf::from_slice(s) }` with a `// SAFETY:` note.
//! 2. **`RawIoBuf::with_len` is `unsafe` and panics if `len > cap`.** In 0.1.4 it was safe and
//!    accepted any length, so safe code could read past the end of the memory, or (on a
//!    `with_cap` arena's frame) read bytes nobody wrote. The caller now promises bytes `[0, len)`
//!    are initialised: write `unsafe { view.with_len(n) }`. The panic names both numbers.
//! 3. **A read never shortens a buffer.** compio's `set_buf_init(n)` raises the length to `n` and
//!    never lowers it, as compio documents (0.1.4 set it to exactly `n`). 0.1.4's exact length cut
//!    off a buffer's later pages when compio read into a sub-slice of it, and a later write then
//!    silently lost them. After a read into a buffer that was longer, the length stays; read into
//!    a fresh or `clear()`ed buffer, or use the `n` in the `BufResult`.
//! 4. **The checked `slice` and `slice_data` check in release builds too.** In 0.1.4 their bounds
//!    and alignment checks were `debug_assert!`s, so in a release build the checked functions
//!    were no safer than `slice_unchecked`. They now panic with a message naming offset, len and
//!    cap; `slice_unchecked` stays unchecked for hot paths that proved the range already.
//! 5. **`slice_into_raws` panics on a zero or unaligned chunk**, with the message of
//!    `Error::InvalidChunk`, which names the chunk. In a 0.1.4 release build a zero chunk was a
//!    division-by-zero panic and an unaligned chunk handed out misaligned frames, which only fail
//!    later, at the first `O_DIRECT` read (`EINVAL`). [`into_frames`](crate::AlignedBuf::into_frames) returns the error instead.
//! 6. **Capacities are whole pages.** `AlignedBuf::with_cap(5000).cap()` is 8192 (0.1.4: 5000),
//!    and `zeroed(5000)` has length 5000 and capacity 8192. A read into the full capacity is
//!    therefore always a valid `O_DIRECT` length, and `slice_into_raws(PAGE_SIZE)` covers all of
//!    it. A read into `with_cap(5000)` may now return up to 8192 bytes.
//! 7. **`Error` names sizes and is `#[non_exhaustive]`.** `TooLarge { requested, max }` replaces
//!    `InvalidLayout(LayoutError)` (and its `From<LayoutError>`), and `AllocFailed { size }`
//!    replaces the unit `AllocFailed`, so a log line says what was asked for. Two variants are
//!    new: `InvalidChunk { chunk, alignment }` (from `into_frames`) and
//!    `HugePagesUnavailable { size, reason }` (from `zeroed_huge` with `HugePages::On`); neither can
//!    come from a 0.1.4 API. Code that matched `Error::AllocFailed` must now write
//!    `Error::AllocFailed { .. }`, and a `match` needs a `_` arm, so that later failure modes can
//!    be added without another breaking release.
//! 8. **Large buffers are lazily zeroed mappings.** From `MAP_THRESHOLD` (32 MiB) up, on Unix,
//!    `with_cap`, `zeroed`, `try_clone` and `Clone` get an anonymous mapping of their own instead of
//!    `std::alloc` memory. Contents and API are the same; `zeroed` costs one system call instead of
//!    writing every byte, memory becomes resident only as it is written, and drop returns it to
//!    the OS at once. A mapping the OS refuses is `Error::AllocFailed`.
//! 9. **Freed blocks are recycled** (below 32 MiB, see [`crate::recycle`]): a buffer may get
//!    a block an earlier buffer used, so the bytes of a `with_cap` buffer past its length are
//!    whatever was there (as they always could be: they are not initialised), and blocks are
//!    allocated at their size class, up to 25% larger than the capacity. `zeroed` and `page`
//!    still read as zero over the whole capacity. As 0.1.4 already said, parts from
//!    `into_raw_parts` must come back through `from_raw_parts` to be freed: code that passed
//!    them to `std::alloc::dealloc` itself is now wrong at most sizes, with the wrong layout
//!    below 32 MiB and a mapping from there up.
//! 10. **`extend`'s overflow check cannot wrap.** It compares the data with the spare capacity
//!     instead of adding two lengths. With valid buffers 0.1.4's sum could not wrap either (both
//!     lengths are at most `isize::MAX`); the check no longer depends on that, and the reported
//!     `needed` saturates.
//! 11. **The compio-buf 0.7 traits sit behind the default feature `compio-buf-07`.** With default
//!     features nothing changes; a crate that does not use compio can turn them off, and compio
//!     0.18/0.19 users turn on `compio-buf-08` instead or as well.
//! 12. **License: MIT** (0.1.4: MulanPSL-2.0), the common license of the Rust ecosystem, so the
//!     crate combines with others without review.
//!
//! Smaller: `Debug` for `AlignedBuf` also prints `ptr`; debug builds assert `len <= cap` in
//! `AlignedBuf::from_raw_parts`; parts from `into_raw_parts` come back only through
//! `from_raw_parts` of the same crate version (0.1.4's parts of 32 MiB and more would be unmapped
//! instead of freed); `RawIoBuf::new(null, 0)` is an empty view with a dangling aligned pointer;
//! `buf.copy_within(src, dest)` is the buffer's own (see
//! [`AlignedBuf::copy_within`](crate::AlignedBuf::copy_within)), over the whole capacity: within
//! `[0, len)` it copies as 0.1.4's (the slice's) did, copies into the spare capacity that used to
//! panic now work, and bytes past `len` still cannot reach `[0, len)`.
//!
//! Additions, which break nothing: `into_frames`, `Frames` and `Frame`; `zeroed_huge`,
//! `HugePages`, `HugePageStatus` and `HUGE_PAGE_SIZE`; `MAP_THRESHOLD`; `pad_to_alignment` and the
//! `align_*` helpers; `dio_align`, `DioAlign` and `DioSource`; the [`recycle`](crate::recycle)
//! module; the features `compio-buf-08` and `compio-buf-09`.
//!
//! Migrating an error match:
//!
//! ```
//! use jdb_alloc::{AlignedBuf, Error};
//!
//! // 0.1.4: `Err(Error::AllocFailed) => ...`, `Err(Error::InvalidLayout(_)) => ...`
//! match AlignedBuf::zeroed(usize::MAX) {
//!     Err(Error::TooLarge { requested, max }) => assert!(requested > max),
//!     Err(Error::AllocFailed { size }) => panic!("{size} bytes refused"),
//!     Err(other) => panic!("unexpected: {other}"),
//!     Ok(_) => panic!("usize::MAX bytes cannot be allocated"),
//! }
//! ```
//!
//! A view can no longer claim more than its memory:
//!
//! ```should_panic
//! use jdb_alloc::AlignedBuf;
//!
//! let mut buf = AlignedBuf::page().unwrap();
//! // SAFETY: `buf` outlives the view, and is not used while it is.
//! let raw = unsafe { buf.as_raw() };
//! // SAFETY: never reached with a length past `cap`: `with_len` panics first.
//! let _too_long = unsafe { raw.with_len(raw.cap() + 1) }; // panics: len 4097 exceeds cap 4096
//! ```
