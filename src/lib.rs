#![cfg_attr(docsrs, feature(doc_cfg))]
//! 4 KiB-aligned buffers for Direct I/O (`O_DIRECT`) through the [compio] runtime.
//!
//! - [`AlignedBuf`] owns an [`ALIGNMENT`]-aligned block, a whole number of pages, and frees it
//!   on drop.
//! - [`Frame`] is an owned, disjoint piece of such a block, from [`AlignedBuf::into_frames`]: a
//!   buffer-pool frame that needs no `unsafe`.
//! - [`RawIoBuf`] is a non-owning, `Copy` view of such memory, for buffer-pool frames that are
//!   handed to async I/O while the pool keeps its own reference.
//!
//! All three implement compio's buffer traits, so `file.read_at(buf, pos)` and
//! `file.write_at(buf, pos)` take them directly, by value, and give them back in the
//! `BufResult`.
//!
//! # Direct I/O with compio
//!
//! A file opened with `O_DIRECT` (the flag comes from the `libc` crate: add `libc = "0.2"` to
//! your dependencies) on a filesystem that supports it (ext4, XFS, Btrfs), written from one
//! buffer and read back into another. This is compio 0.17, with the default features; compio
//! 0.19 runs the same code with the feature `compio-buf-08` and compio's `fs` feature, compio
//! 0.20 with `compio-buf-09` and `fs`.
//!
//! ```
//! # #[cfg(feature = "compio-buf-07")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use compio::{
//!     BufResult,
//!     fs::OpenOptions,
//!     io::{AsyncReadAt, AsyncWriteAt},
//!     runtime::Runtime,
//! };
//! use jdb_alloc::{AlignedBuf, PAGE_SIZE};
//!
//! let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/front-page.bin");
//! # std::fs::create_dir_all(path.parent().unwrap())?;
//! Runtime::new()?.block_on(async {
//!     let mut file = OpenOptions::new()
//!         .read(true)
//!         .write(true)
//!         .create(true)
//!         .truncate(true)
//!         .custom_flags(libc::O_DIRECT)
//!         .open(&path)
//!         .await?;
//!
//!     let mut out = AlignedBuf::zeroed(2 * PAGE_SIZE)?;
//!     out[..5].copy_from_slice(b"hello");
//!     let BufResult(written, out) = file.write_at(out, 0).await;
//!     assert_eq!(written?, 2 * PAGE_SIZE);
//!
//!     // An empty buffer: the read sets its length to the bytes read.
//!     let BufResult(read, back) = file.read_at(AlignedBuf::with_cap(2 * PAGE_SIZE)?, 0).await;
//!     assert_eq!(read?, 2 * PAGE_SIZE);
//!     assert_eq!(back[..], out[..]);
//!
//!     // A read that reaches the end of the file is short, and so is the length.
//!     let BufResult(read, tail) = file.read_at(AlignedBuf::with_cap(2 * PAGE_SIZE)?, 4096).await;
//!     assert_eq!((read?, tail.len()), (PAGE_SIZE, PAGE_SIZE));
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! std::fs::remove_file(&path)?;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "compio-buf-07"))]
//! # fn main() {}
//! ```
//!
//! Without `O_DIRECT` the same buffers work through the page cache. With it, every buffer
//! address, file offset and length must be aligned: this crate's buffers always are (4096, which
//! covers 512-byte and 4 KiB devices), [`dio_align`] says what a given file needs, and
//! [`AlignedBuf::pad_to_alignment`] and the `align_*` helpers fix up offsets and a log's tail.
//!
//! # Features
//!
//! - `compio-buf-07` (default): compio-buf 0.7 traits `IoBuf`, `IoBufMut`, `SetBufInit`, as used
//!   by compio 0.16 and 0.17.
//! - `compio-buf-08`: compio-buf 0.8 traits `IoBuf`, `IoBufMut`, `SetLen`, as used by compio 0.18
//!   and 0.19; works alone (`default-features = false`) or together with `compio-buf-07`.
//! - `compio-buf-09`: compio-buf 0.9 traits `IoBuf`, `IoBufMut`, `SetLen`, as used by compio
//!   0.20 (in beta: this crate builds against `=0.9.0-beta.1`, compio 0.20.0-beta.1); any
//!   combination with the other two works. compio-buf 0.9 moved `buf_len`, `copy_within` and
//!   the rest to extension traits no type can override: see [`AlignedBuf::copy_within`].
//! - `compio-17`, `compio-19`, `compio-20` (Linux, opt-in; each implies its compio-buf
//!   feature): io_uring registered buffers for compio 0.17 / 0.19 / 0.20 runtimes in module
//!   [`fixed`]: arenas registered with the runtime's ring, cut into fixed frames that
//!   `read_fixed_at` / `write_fixed_at` move with `READ_FIXED` / `WRITE_FIXED` (less CPU per
//!   byte), falling back to plain I/O wherever registration is not in effect; and Direct I/O
//!   files ([`direct`]: `DirectFile`, `Appender`) for the same runtimes. `compio-19` and
//!   `compio-20` also bring [`managed::AlignedAllocator`], aligned provided buffers for compio
//!   0.19's and 0.20's managed reads. Without these features the crate depends on no runtime.
//!
//! With compio 0.18, 0.19 or 0.20 and only the default feature, a build fails with "the trait
//! bound `AlignedBuf: IoBuf` is not satisfied" and a note about two versions of `compio_buf`:
//! turn on `compio-buf-08` (compio 0.18, 0.19) or `compio-buf-09` (0.20). With no feature at all, every type and method remains, without the traits.
//! On docs.rs, the trait implementations say which feature they need.
//!
//! ```toml
//! [dependencies]
//! jdb_alloc = { version = "0.2", default-features = false, features = ["compio-buf-08"] }
//! compio = { version = "0.19", features = ["fs"] }
//! libc = "0.2"
//! ```
//!
//! # Buffer pools without `unsafe`
//!
//! [`AlignedBuf::into_frames`] consumes an arena and splits it into owned [`Frame`]s: disjoint,
//! aligned, fixed-size slices of one block that can be passed to compio by value, moved
//! between threads and dropped in any order; the block is freed when the last frame drops.
//! [`AlignedBuf::slice_into_raws`] remains for pools that manage frame lifetimes themselves
//! (see [`RawIoBuf`] for when that is the right tool).
//!
//! ```
//! use jdb_alloc::{AlignedBuf, Frame, PAGE_SIZE};
//!
//! let mut pool: Vec<Frame> = AlignedBuf::with_cap(64 * PAGE_SIZE)
//!     .unwrap()
//!     .into_frames(PAGE_SIZE)
//!     .unwrap()
//!     .collect();
//! assert_eq!(pool.len(), 64);
//! let mut frame = pool.pop().unwrap(); // an owned page, ready for `file.read_at(frame, pos)`
//! frame.extend(b"page header").unwrap();
//! assert_eq!(&frame[..], b"page header");
//! ```
//!
//! The call flow of such a pool:
//!
//! 1. Allocate the arena: [`zeroed`](AlignedBuf::zeroed), [`with_cap`](AlignedBuf::with_cap)
//!    if every frame will be read into, or [`zeroed_huge`](AlignedBuf::zeroed_huge) for a large
//!    pool used densely. [`dio_align`] on the data directory says whether 4 KiB alignment will
//!    do.
//! 2. [`into_frames(chunk)`](AlignedBuf::into_frames): the pool keeps the frames (a free list,
//!    a page table).
//! 3. Move a frame into `read_at` or `write_at`; the `BufResult` gives it back, after a read
//!    with its length raised to the bytes read.
//! 4. Frames can move to other threads and be dropped in any order; the memory goes with the
//!    last one.
//!
//! With [`RawIoBuf`] views instead, steps 2 to 4 become: cut the arena with
//! [`slice_into_raws`](AlignedBuf::slice_into_raws); hand a copy of a frame to the I/O and keep
//! the pool's own; the arena owns the memory throughout and frees it on drop, after the last
//! view is done.
//!
//! # Safety model
//!
//! ## Invariants
//!
//! ```text
//!   ptr (ALIGNMENT-aligned)
//!   │
//!   ▼
//!   ┌──────────────── initialised ───────────────┬──────── spare ────────┐
//!   │ bytes [0, len): readable, Deref<[u8]>       │ [len, cap): maybe     │
//!   │                                             │ uninitialised         │
//!   └─────────────────────────────────────────────┴───────────────────────┘
//!   ◄──────────────────────────────── cap (k × PAGE_SIZE, k ≥ 1) ─────────►
//! ```
//!
//! For an [`AlignedBuf`], at all times:
//! 1. `ptr` is non-null, [`ALIGNMENT`]-aligned, and owns a live block of exactly `cap` bytes;
//! 2. `cap` is a whole number of pages, at least one ([`PAGE_SIZE`] `..=` isize::MAX);
//! 3. `len <= cap`, and bytes `[0, len)` are initialised.
//!
//! The backing of a block is chosen from `cap` alone, so a block can be released knowing only
//! its capacity (see [`AlignedBuf::into_raw_parts`]).
//!
//! A [`RawIoBuf`] holds the same three fields but owns nothing: the code that creates it (an
//! `unsafe` constructor) promises that its memory is valid for `cap` bytes with `[0, len)`
//! initialised, for as long as the view or any copy of it is used, and that copies are never
//! used to access the same bytes at once (its [contract](RawIoBuf#the-contract)). That promise
//! is what lets its safe methods ([`RawIoBuf::as_slice`], the compio traits) touch the memory.
//!
//! Every safe method keeps them: constructors round the capacity and report impossible sizes
//! as [`Error::TooLarge`]; `extend` checks before it copies; `clear` and `truncate` only
//! shorten; `pad_to_alignment` writes zeroes before it lengthens.
//!
//! ## Frames
//!
//! [`AlignedBuf::into_frames`] moves the arena into a shared, reference-counted owner, empties
//! it (`len = 0`, and it never reads its bytes again), and makes each `chunk`-sized range into
//! a frame at most once. So for every [`Frame`], at all times:
//!
//! 1. it views `[offset, offset + cap)` of the arena's block, [`ALIGNMENT`]-aligned, and holds a
//!    strong reference to the owner, which keeps the block alive;
//! 2. no other frame and no other path accesses those bytes;
//! 3. `len <= cap`, and bytes `[0, len)` are initialised.
//!
//! That is the [`RawIoBuf` contract](RawIoBuf#the-contract), kept for the frame's whole life by
//! its only holder, which is why every `Frame` method is safe but `set_len` and `as_raw`. The
//! block is freed once, by the arena's own `Drop`, when the last frame (or the [`Frames`]
//! iterator, if it outlives them) drops.
//!
//! ## What is unsafe, and why
//!
//! | Function | The caller promises |
//! |----------|---------------------|
//! | [`AlignedBuf::slice_into_raws`] | The arena outlives every frame; a frame's bytes are not accessed through the arena or another view meanwhile (unless all reads); each frame has one user at a time |
//! | [`AlignedBuf::as_raw`] | The buffer outlives the view and is not used while the view writes |
//! | [`AlignedBuf::as_raw_view`] | As `as_raw`, and since `self` is only borrowed shared, accesses are synchronised (by a frame latch, say) |
//! | [`Frame::as_raw`] | As `as_raw`: the frame outlives the view (the view does not keep the arena alive) |
//! | [`AlignedBuf::from_raw_parts`] | `ptr`, `cap` come from one `into_raw_parts` and are rebuilt once; `len <= cap`, initialised |
//! | `set_len` of [`AlignedBuf`](AlignedBuf::set_len), [`Frame`](Frame::set_len), [`RawIoBuf`](RawIoBuf::set_len) | `len <= cap`, bytes `[0, len)` initialised |
//! | [`RawIoBuf::new`], [`RawIoBuf::from_raw_parts`], [`RawIoBuf::from_slice`] | [The `RawIoBuf` contract](RawIoBuf#the-contract) |
//! | [`RawIoBuf::with_len`] | Bytes `[0, len)` are initialised (`len > cap` panics) |
//! | [`RawIoBuf::slice`], [`RawIoBuf::slice_data`] | The contract for the sub-view; for `slice_data`, its bytes are initialised (bounds and alignment are checked) |
//! | [`RawIoBuf::slice_unchecked`] | All of the above, plus `offset + len <= cap` |
//!
//! [`AlignedBuf::into_raw_parts`] is safe: like `Box::into_raw`, it can only leak. Why each type
//! is `Send` and `Sync` is on the type.
//!
//! ## compio's `as_mut_slice` / `as_uninit`: a known limitation
//!
//! Every compio-buf generation hands out the whole capacity as `&mut [MaybeUninit<u8>]`: 0.7's
//! provided `IoBufMut::as_mut_slice` and 0.8's and 0.9's `IoBufMut::as_uninit`, initialised
//! prefix `[0, len)` included, because compio reads into a buffer from offset 0. This holds for
//! all three types alike, and for compio-buf's own `Vec<u8>` impls. Safe code can therefore
//! store `MaybeUninit::uninit()` into bytes the buffer counts as initialised, and compio-buf
//! 0.9's safe `IoBufMutExt::copy_within`, which generic code reaches, can copy unwritten tail
//! bytes into `[0, len)` (0.8's is overridden, and `buf.copy_within` is always the types' own,
//! both guarded: [`AlignedBuf::copy_within`]); reading the buffer afterwards is then undefined
//! behaviour. compio-buf's wrappers (`Slice`, `Box<B>`, `&'static mut B`) use the trait's default
//! `copy_within` on every generation (compio issue #1053). The traits' design forces this and
//! this crate cannot close it:
//! store only initialised values through those slices (compio itself only lets the kernel
//! write real bytes there).
//!
//! ## How it is checked
//!
//! - Every `unsafe` block carries a `// SAFETY:` comment proving it, and every `unsafe fn` a
//!   `# Safety` section: clippy's `undocumented_unsafe_blocks` and `missing_safety_doc` are
//!   errors, and so is rustc's `unsafe_op_in_unsafe_fn`.
//! - Property tests (proptest) drive random sequences of operations against models:
//!   `AlignedBuf` against a `Vec<u8>`, frames against a `Vec<Vec<u8>>` while they move between
//!   threads and drop in any order, `pad_to_alignment` against a `Vec<u8>`, the alignment
//!   helpers against arithmetic in `u128`.
//! - Real `O_DIRECT` reads and writes, every byte checked: buffers (heap, mapped and huge-page),
//!   `RawIoBuf` frames and `Frame`s passed by value, through compio 0.17, 0.19 and 0.20.
//! - CI runs clippy and rustdoc with warnings as errors, the tests with all features, without
//!   any compio-buf, with compio-buf 0.8 alone and with compio 0.20 alone, the `direct_io` example, the README's
//!   dependency snippets as a user's project, then the tests again under AddressSanitizer,
//!   which must report nothing.
//!
//! # Backings
//!
//! Where a block comes from depends on its capacity alone:
//! - below [`MAP_THRESHOLD`] (32 MiB), the global allocator, in size classes, and freed blocks
//!   are recycled (below): from 128 KiB up in a heap per thread, given back once the thread's
//!   working set no longer needs them;
//! - from [`MAP_THRESHOLD`] up, on Unix, an anonymous private mapping of its own: [`zeroed`]
//!   costs one system call whatever the size (the kernel's zero page stands in for unwritten
//!   memory, no `memset`), memory becomes resident only as pages are first written, and drop
//!   gives it back to the OS at once. A gigabyte buffer pool starts in microseconds. A mapping
//!   the OS refuses is [`Error::AllocFailed`]. Other platforms use the global allocator for all
//!   sizes.
//!
//! Arenas can also ask for transparent huge pages with [`AlignedBuf::zeroed_huge`] and
//! [`HugePages`]: see there for when that helps and when it hurts.
//!
//! [`zeroed`]: AlignedBuf::zeroed
//!
//! # Recycling
//!
//! A freed block below [`MAP_THRESHOLD`] is kept and handed out again to the next buffer of its
//! size class, so a buffer of any size costs about what reusing one by hand costs, whatever the
//! global allocator, with nothing to size: what is kept follows the thread's working set (the
//! most it had live over the last decay period, 10 s) and goes back to the OS once unused for
//! that long, also when its thread went idle. Limits, the decay period and [`recycle::trim`]
//! are there for those who want them: see [`recycle`].
//!
//! ```
//! use jdb_alloc::{recycle, AlignedBuf};
//!
//! let a = AlignedBuf::with_cap(1 << 20).unwrap();
//! let addr = a.as_ptr();
//! drop(a);
//! let b = AlignedBuf::zeroed(1 << 20).unwrap(); // the same block, zeroed again
//! assert_eq!(b.as_ptr(), addr);
//! assert!(b.iter().all(|&x| x == 0));
//! recycle::trim(); // what this thread keeps goes back to the OS
//! ```
//!
//! # Length after a read
//!
//! compio reads into `[0, cap)` of a buffer, from its first byte whatever its length, and then
//! reports the bytes read through `SetBufInit::set_buf_init(n)` (compio-buf 0.7),
//! `SetLen::advance_to(n)` (0.8) or `SetLenExt::advance_to(n)` (0.9). As compio documents for those methods, all three buffer types
//! raise their length to `n` and never lower it: after a read the length is `max(len, n)`, and
//! `n`, the number of bytes read, is in the `BufResult`. With compio-buf 0.7 that is what keeps
//! a read into a sub-slice (compio's `Slice`, which passes `set_buf_init(begin + n)` on to the
//! buffer it is a slice of) from shortening that buffer; compio-buf 0.8's and 0.9's `Slice`
//! make the same comparison themselves before they call the exact `SetLen::set_len`. For `len() == n`, read
//! into a fresh or [`clear`](AlignedBuf::clear)ed buffer:
//!
//! ```
//! # #[cfg(feature = "compio-buf-07")] {
//! use compio::buf::SetBufInit; // compio 0.17: compio-buf 0.7
//! use jdb_alloc::{AlignedBuf, PAGE_SIZE};
//!
//! let mut buf = AlignedBuf::zeroed(3 * PAGE_SIZE).unwrap();
//! // What compio does after reading one page into the start of `buf`:
//! // SAFETY: (compio's duty) bytes [0, PAGE_SIZE) are initialised: here, zeroed.
//! unsafe { buf.set_buf_init(PAGE_SIZE) };
//! assert_eq!(buf.len(), 3 * PAGE_SIZE); // the other two pages are still data
//!
//! buf.clear(); // a buffer that is about to be read into: its length becomes the bytes read
//! // SAFETY: as above.
//! unsafe { buf.set_buf_init(PAGE_SIZE) };
//! assert_eq!(buf.len(), PAGE_SIZE);
//! # }
//! ```
//!
//! `SetLen::set_len` and the inherent `unsafe fn set_len` are exact.
//!
//! A [`RawIoBuf`] is `Copy`: the read updates the copy that was passed in and comes back in the
//! `BufResult`, not the copies the pool kept. Likewise a view from [`AlignedBuf::as_raw`] or
//! [`Frame::as_raw`] does not update its owner's length; call `set_len` on the owner if it
//! should see the bytes.
//!
//! Vectored reads (`read_vectored_at`) are the exception: compio 0.19 and 0.20 read only into
//! each buffer's initialised bytes `[0, len)`, so into fresh buffers they read nothing. Pass
//! buffers whose length is what each should receive ([`AlignedBuf::zeroed`]), or use `read_at`.
//!
//! compio-buf 0.8 (feature `compio-buf-08`) and 0.9 (`compio-buf-09`, where `advance_to` is in
//! `SetLenExt`) describe a buffer differently; for all three types:
//!
//! | compio-buf 0.8, 0.9 | Covers |
//! |----------------|--------|
//! | `IoBuf::as_init` | bytes `[0, len)`: what `write_at` sends |
//! | `IoBufMut::as_uninit` | the whole capacity `[0, cap)`, initialised prefix included: compio 0.19 and 0.20 read into it from offset 0, whatever the length |
//! | `SetLen::set_len(n)` | `len = n`, exactly |
//! | `SetLen::advance_to(n)` | `len = max(len, n)` (the trait's default, kept) |
//! | `IoBufMut::reserve(n)` | `Ok(())` if `len + n <= cap`, else `ReserveError::NotSupported`: the capacity is fixed and memory the kernel may hold never moves, so `extend_from_slice` fails, buffer unchanged, past the capacity |
//!
//! `RawIoBuf`'s own `slice`, `as_slice` and `as_mut_slice` take precedence over compio-buf
//! trait methods of the same names; write `IoBuf::slice(frame, range)` (0.9:
//! `IoBufExt::slice`) for compio's `Slice`. Likewise every type's own `copy_within` takes
//! precedence over compio-buf's and over the slice's (see [`AlignedBuf::copy_within`]).
//!
//! # Performance
//!
//! `cargo bench --bench compare` measures this crate against jdb_alloc 0.1.4, case by case,
//! interleaved in one process; `benches/RESULTS.md` in the repository has the last full table
//! and what it means. In short: with [recycling](recycle) a buffer below [`MAP_THRESHOLD`]
//! costs about what reusing one by hand costs (1 MiB written and dropped: 1.9 µs, 0.1.4
//! 363 µs, mimalloc 2.3 µs); `zeroed(1 GiB)` in about 30 µs instead of 0.45 s; a dense pool
//! warms up 8 to 9 times faster with huge pages; a [`Frame`] costs one atomic count (about
//! 14 ns) to make and drop.
//!
//! # Migrating from 0.1.4
//!
//! Code written for 0.1.4 compiles and behaves the same but for a few changes, each closing a
//! hole or making a failure say more: see [`migration`].
//!
//! [compio]: https://docs.rs/compio
// The feature-gated modules: linked within these docs where they are built, else on docs.rs.
#![cfg_attr(
    all(
        target_os = "linux",
        any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
    ),
    doc = "[`fixed`]: crate::fixed"
)]
#![cfg_attr(
    not(all(
        target_os = "linux",
        any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
    )),
    doc = "[`fixed`]: https://docs.rs/jdb_alloc/latest/jdb_alloc/fixed/"
)]
#![cfg_attr(
    all(
        target_os = "linux",
        any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
    ),
    doc = "[`direct`]: crate::direct"
)]
#![cfg_attr(
    not(all(
        target_os = "linux",
        any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
    )),
    doc = "[`direct`]: https://docs.rs/jdb_alloc/latest/jdb_alloc/direct/"
)]
#![cfg_attr(
    all(target_os = "linux", any(feature = "compio-19", feature = "compio-20")),
    doc = "[`managed::AlignedAllocator`]: crate::managed::AlignedAllocator"
)]
#![cfg_attr(
    not(all(target_os = "linux", any(feature = "compio-19", feature = "compio-20"))),
    doc = "[`managed::AlignedAllocator`]: https://docs.rs/jdb_alloc/latest/jdb_alloc/managed/struct.AlignedAllocator.html"
)]

mod align;
#[cfg(feature = "compio-buf-08")]
mod compio_buf_08;
#[cfg(feature = "compio-buf-09")]
mod compio_buf_09;
#[cfg(any(feature = "compio-buf-08", feature = "compio-buf-09"))]
mod compio_buf_traits;
mod const_panic;
mod copy_within;
mod dio_align;
#[cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]
#[cfg_attr(
    docsrs,
    doc(cfg(all(
        target_os = "linux",
        any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
    )))
)]
pub mod direct;
mod error;
#[cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]
#[cfg_attr(
    docsrs,
    doc(cfg(all(
        target_os = "linux",
        any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
    )))
)]
pub mod fixed;
mod frame;
mod heap;
mod huge;
#[cfg(feature = "bytes")]
mod into_bytes;
mod large;
#[cfg(all(target_os = "linux", any(feature = "compio-19", feature = "compio-20")))]
#[cfg_attr(
    docsrs,
    doc(cfg(all(target_os = "linux", any(feature = "compio-19", feature = "compio-20"))))
)]
pub mod managed;
mod mem;
pub mod migration;
#[cfg(unix)]
mod os_mem;
pub mod recycle;
mod size_class;

use std::{
    fmt,
    mem::ManuallyDrop,
    ops::{Deref, DerefMut},
    ptr::{self, NonNull},
    slice,
};

pub use align::{align_down, align_down_u64, align_up, align_up_u64, is_aligned, is_aligned_u64};
pub use dio_align::{DioAlign, DioSource, dio_align};
pub use error::{Error, Result};
pub use frame::{Frame, Frames};
pub use huge::{HUGE_PAGE_SIZE, HugePageStatus, HugePages};
use mem::Fill;

/// Page size assumed for buffers: 4 KiB. Every capacity is a whole number of pages.
///
/// ```
/// use jdb_alloc::{AlignedBuf, PAGE_SIZE};
///
/// assert_eq!(AlignedBuf::with_cap(1).unwrap().cap(), PAGE_SIZE);
/// assert_eq!(AlignedBuf::with_cap(PAGE_SIZE + 1).unwrap().cap(), 2 * PAGE_SIZE);
/// ```
pub const PAGE_SIZE: usize = 4096;

/// Address alignment of every buffer, and the unit frame chunks (`into_frames`,
/// `slice_into_raws`) must be a multiple of: 4 KiB, which satisfies `O_DIRECT` on both 512-byte
/// and 4 KiB logical-block devices.
///
/// ```
/// use jdb_alloc::{ALIGNMENT, AlignedBuf, align_down_u64};
///
/// let buf = AlignedBuf::zeroed(100).unwrap();
/// assert_eq!(buf.as_ptr() as usize % ALIGNMENT, 0);
/// // File offsets for O_DIRECT are rounded to it too.
/// assert_eq!(align_down_u64(5000), ALIGNMENT as u64);
/// ```
pub const ALIGNMENT: usize = 4096;

const ALIGN_MASK: usize = ALIGNMENT - 1;

/// Smallest capacity backed by an anonymous mapping of its own (on Unix): 32 MiB.
///
/// Chosen by measurement (`cargo bench --bench threshold`), against what the global allocator
/// does at each size. glibc serves 4 KiB-aligned requests of 32 MiB and more from a fresh `mmap`
/// whatever its state (32 MiB is the ceiling of its dynamic mmap threshold on 64-bit), so there
/// a mapping of our own is never slower: the same page faults, minus the `memset`. Below 32 MiB
/// glibc may reuse warm heap memory, which a buffer that is written all over fills 13 to 44
/// times faster than fresh pages faulted in one by one; a lower threshold would win only for
/// buffers that stay mostly untouched, and lose badly for those that do not.
///
/// Elsewhere than Unix every size uses the global allocator. The threshold is part of the
/// contract of [`AlignedBuf::into_raw_parts`](AlignedBuf::into_raw_parts) (a block is
/// released by the backing its capacity selects), so it is a constant.
///
/// ```
/// use jdb_alloc::{AlignedBuf, MAP_THRESHOLD};
///
/// // 1 GiB of zeroes: one mmap on Unix, no memset, nothing resident yet (about 20 µs, where
/// // jdb_alloc 0.1.4 took 0.6 s and 1 GiB of memory).
/// let mut big = AlignedBuf::zeroed(1 << 30).unwrap();
/// assert!(big.cap() >= MAP_THRESHOLD);
/// assert_eq!((big[0], big[(1 << 30) - 1]), (0, 0));
/// big[4096] = 1; // now one 4 KiB page is resident
/// // Dropping `big` unmaps it: the memory goes back to the OS at once.
/// ```
pub const MAP_THRESHOLD: usize = 32 << 20;

// Whole-page capacities are then whole multiples of ALIGNMENT, which is what makes
// `AlignedBuf::pad_to_alignment` infallible.
const _: () = assert!(PAGE_SIZE % ALIGNMENT == 0);

// ============================================================================
// AlignedBuf
// ============================================================================

/// An owned, [`ALIGNMENT`]-aligned buffer of `cap` bytes with `len` initialised bytes.
///
/// Its capacity is fixed at creation and is always a whole number of pages (at least one), so a
/// read into the full capacity is always a valid `O_DIRECT` length. It never reallocates:
/// [`extend`](Self::extend) past the capacity is an [`Error::Overflow`].
///
/// # Thread safety
///
/// `AlignedBuf` is `Send` and `Sync` for the same reasons as `Box<[u8]>`: it is the only owner of
/// its block, mutation needs `&mut self`, and `&self` only hands out `&[u8]` and raw pointers.
/// The `unsafe` escape hatches ([`as_raw_view`](Self::as_raw_view)) put synchronisation on their
/// caller.
///
/// ```
/// use jdb_alloc::{ALIGNMENT, AlignedBuf, Error};
///
/// let mut buf = AlignedBuf::with_cap(6000)?; // empty, capacity two pages
/// assert_eq!((buf.len(), buf.cap()), (0, 8192));
/// assert_eq!(buf.as_ptr() as usize % ALIGNMENT, 0);
/// buf.extend(b"header")?;
/// buf[0] = b'H'; // the initialised bytes are a `[u8]`
/// assert_eq!(&buf[..], b"Header");
/// assert!(matches!(buf.extend(&[0; 8192]), Err(Error::Overflow(8198, 8192))));
/// # Ok::<(), Error>(())
/// ```
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
    cap: usize,
}

// SAFETY: `AlignedBuf` uniquely owns its block (like `Box<[u8]>`); moving it to another thread
// moves that ownership, and the block is not tied to the allocating thread.
unsafe impl Send for AlignedBuf {}
// SAFETY: through `&AlignedBuf` safe code can only read (`Deref<Target = [u8]>`, `as_ptr`);
// every write path takes `&mut self` or is an `unsafe fn` whose caller must synchronise.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// An empty buffer (`len == 0`) that can hold at least `cap` bytes.
    ///
    /// The capacity is `cap` rounded up to whole pages, at least one page. The memory is not
    /// initialised; fill it with [`extend`](Self::extend) or a read.
    ///
    /// # Errors
    /// [`Error::TooLarge`] if `cap` rounded up exceeds the largest possible allocation,
    /// [`Error::AllocFailed`] if the memory cannot be had.
    ///
    /// ```
    /// let buf = jdb_alloc::AlignedBuf::with_cap(5000).unwrap();
    /// assert_eq!((buf.len(), buf.cap()), (0, 8192));
    /// assert!(jdb_alloc::AlignedBuf::with_cap(usize::MAX).is_err());
    /// ```
    #[inline]
    pub fn with_cap(cap: usize) -> Result<Self> {
        let cap = mem::capacity_for(cap)?;
        let ptr = mem::allocate(cap, Fill::Uninit)?;
        Ok(Self { ptr, len: 0, cap })
    }

    /// A buffer of `size` zero bytes (`len == size`), its capacity `size` rounded up to whole
    /// pages (at least one).
    ///
    /// Below [`MAP_THRESHOLD`] the block may be a recycled one ([`recycle`]): its capacity is
    /// zeroed then, nothing more. From [`MAP_THRESHOLD`] up (on Unix) no byte is written: the
    /// buffer is a fresh anonymous mapping, which reads as zero and becomes resident page by
    /// page as it is written. Either way every byte of the capacity reads as zero.
    ///
    /// # Errors
    /// As [`with_cap`](Self::with_cap).
    ///
    /// ```
    /// let buf = jdb_alloc::AlignedBuf::zeroed(10).unwrap();
    /// assert_eq!(&buf[..], &[0; 10]);
    /// assert_eq!(buf.cap(), 4096);
    /// ```
    #[inline]
    pub fn zeroed(size: usize) -> Result<Self> {
        let cap = mem::capacity_for(size)?;
        let ptr = mem::allocate(cap, Fill::Zeroed)?;
        Ok(Self {
            ptr,
            len: size,
            cap,
        })
    }

    /// An arena of `size` zero bytes (`len == size`) that asks for transparent huge pages as
    /// `huge` says, and what came of it.
    ///
    /// With [`HugePages::Off`] this is exactly [`zeroed`](Self::zeroed). Otherwise the capacity
    /// is `size` rounded up to whole [`HUGE_PAGE_SIZE`] extents, and at least [`MAP_THRESHOLD`],
    /// so it may exceed `size` (frames cut from the whole capacity by
    /// [`slice_into_raws`](Self::slice_into_raws) may then outnumber `size / chunk`); memory
    /// beyond what is touched costs address space only. On Linux the arena is 2 MiB-aligned and
    /// advised `MADV_HUGEPAGE`; [`HugePageStatus`] says whether that was done (advised, which
    /// is not yet backed: the kernel backs each 2 MiB extent at its first touch, if it can).
    ///
    /// Huge pages help a large arena that will be used densely (a buffer pool): one page fault
    /// and one TLB entry per 2 MiB instead of 512. They hurt sparse use: touching one byte makes
    /// a whole 2 MiB resident. See [`HugePages`].
    ///
    /// # Errors
    /// [`Error::TooLarge`] / [`Error::AllocFailed`] as [`with_cap`](Self::with_cap);
    /// [`Error::HugePagesUnavailable`] with [`HugePages::On`] when the kernel refuses
    /// (transparent huge pages `never`, disabled for the process, `madvise` failing, not Linux).
    ///
    /// ```
    /// use jdb_alloc::{AlignedBuf, HugePageStatus, HugePages, HUGE_PAGE_SIZE};
    ///
    /// let (pool, status) = AlignedBuf::zeroed_huge(64 << 20, HugePages::Try).unwrap();
    /// assert_eq!((pool.len(), pool.cap()), (64 << 20, 64 << 20));
    /// assert!(pool.iter().step_by(4096).all(|&b| b == 0));
    /// if status == HugePageStatus::Advised {
    ///     assert_eq!(pool.as_ptr() as usize % HUGE_PAGE_SIZE, 0);
    /// }
    /// ```
    pub fn zeroed_huge(size: usize, huge: HugePages) -> Result<(Self, HugePageStatus)> {
        if huge == HugePages::Off {
            return Ok((Self::zeroed(size)?, HugePageStatus::NotRequested));
        }
        let cap = huge::capacity_for(size)?;
        let (ptr, status) = huge::allocate(cap, huge)?;
        let buf = Self {
            ptr,
            len: size,
            cap,
        };
        Ok((buf, status))
    }

    /// One zeroed page: `len == cap == PAGE_SIZE`.
    ///
    /// # Errors
    /// [`Error::AllocFailed`] if the memory cannot be had.
    ///
    /// ```
    /// use jdb_alloc::{AlignedBuf, PAGE_SIZE};
    ///
    /// let page = AlignedBuf::page().unwrap();
    /// assert_eq!((page.len(), page.cap()), (PAGE_SIZE, PAGE_SIZE));
    /// assert!(page.iter().all(|&b| b == 0));
    /// ```
    #[inline]
    pub fn page() -> Result<Self> {
        let ptr = mem::allocate(PAGE_SIZE, Fill::Zeroed)?;
        Ok(Self {
            ptr,
            len: PAGE_SIZE,
            cap: PAGE_SIZE,
        })
    }

    /// Splits the whole capacity into `cap / chunk` frames of `chunk` bytes, in address order,
    /// each an empty [`RawIoBuf`] (`len == 0`, `cap == chunk`) ready to be read into.
    ///
    /// A tail shorter than `chunk` is not handed out.
    ///
    /// [`into_frames`](Self::into_frames) gives owned frames instead, with no `unsafe` at all.
    ///
    /// # Panics
    /// If `chunk` is zero or not a multiple of [`ALIGNMENT`] (frames must stay aligned for
    /// `O_DIRECT`); the message names the chunk and points at the caller.
    ///
    /// # Safety
    /// The frames are views of this buffer's memory. The caller must
    /// - not use any frame (or copy of one) after this buffer is dropped, moved out of with
    ///   [`into_raw_parts`](Self::into_raw_parts), or otherwise released;
    /// - not access a frame's bytes through the frame while the same bytes are accessed through
    ///   `self` (for example through `Deref`) or another view, unless all accesses are reads;
    /// - give each frame at most one user at a time (frames are `Copy`; copies share memory).
    ///
    /// Frames start with `len == 0`, so they never claim unwritten bytes. They take on the
    /// [`RawIoBuf` contract](RawIoBuf#the-contract): on a [`with_cap`](Self::with_cap) arena,
    /// do not raise a frame's length over bytes nobody wrote.
    ///
    /// ```
    /// use jdb_alloc::{ALIGNMENT, AlignedBuf, PAGE_SIZE, RawIoBuf};
    ///
    /// let arena = AlignedBuf::zeroed(PAGE_SIZE * 8).unwrap();
    /// // SAFETY: `arena` outlives `frames`, and each frame has one user at a time.
    /// let frames: Vec<RawIoBuf> = unsafe { arena.slice_into_raws(PAGE_SIZE).collect() };
    /// assert_eq!(frames.len(), 8);
    /// for (i, frame) in frames.iter().enumerate() {
    ///     assert_eq!(frame.as_ptr(), arena.as_ptr().wrapping_add(i * PAGE_SIZE));
    ///     assert_eq!(frame.as_ptr() as usize % ALIGNMENT, 0);
    ///     assert_eq!((frame.len(), frame.cap()), (0, PAGE_SIZE)); // empty, ready to read into
    /// }
    /// ```
    ///
    /// A misaligned frame would only fail later, at the first `O_DIRECT` read, so a bad chunk
    /// panics at once:
    ///
    /// ```should_panic
    /// let arena = jdb_alloc::AlignedBuf::zeroed(8 * 4096).unwrap();
    /// // SAFETY: no frame is ever made: the call panics first.
    /// let _frames = unsafe { arena.slice_into_raws(1000) };
    /// ```
    #[track_caller]
    pub unsafe fn slice_into_raws(&self, chunk: usize) -> impl Iterator<Item = RawIoBuf> + '_ {
        // A `match`, not a closure: `#[track_caller]` does not reach into closures.
        let count = match frame::frame_count(self.cap, chunk) {
            Ok(count) => count,
            Err(e) => panic!("slice_into_raws: {e}; the buffer's cap is {}", self.cap),
        };
        let base = self.ptr.as_ptr();
        (0..count).map(move |i| {
            // SAFETY: `i * chunk + chunk <= cap`, so the frame lies inside this live block; its start
            // is `base` (aligned) plus a multiple of ALIGNMENT. Validity for as long as the frame is
            // used, and exclusive access, are the duties this function's caller accepted.
            unsafe { RawIoBuf::new(base.add(i * chunk), chunk) }
        })
    }

    /// A [`RawIoBuf`] view of the whole buffer (same `len` and `cap`), for I/O through code that
    /// wants a `Copy` handle.
    ///
    /// # Safety
    /// The caller must not use the view (or a copy of it) after this buffer is dropped or
    /// released, nor use `self` while the view is used to write. A length change made through
    /// the view (for example by a read) is not seen by `self`; use [`set_len`](Self::set_len).
    ///
    /// ```
    /// let mut buf = jdb_alloc::AlignedBuf::with_cap(4096).unwrap();
    /// // SAFETY: `buf` outlives the view and is not used while the view is.
    /// let mut view = unsafe { buf.as_raw() };
    /// // What a read through the view does: bytes written, then the length raised.
    /// // SAFETY: the view's 4096 bytes are valid and only the view uses them.
    /// unsafe { view.as_mut_ptr().write_bytes(1, 100) };
    /// // SAFETY: bytes [0, 100) were just written.
    /// unsafe { view.set_len(100) };
    /// assert_eq!(buf.len(), 0); // the owner does not see the view's length...
    /// // SAFETY: ...until told: the view is done, and [0, 100) are initialised.
    /// unsafe { buf.set_len(100) };
    /// assert_eq!(&buf[..], &[1; 100]);
    /// ```
    #[inline]
    pub unsafe fn as_raw(&mut self) -> RawIoBuf {
        RawIoBuf {
            ptr: self.ptr.as_ptr(),
            len: self.len,
            cap: self.cap,
        }
    }

    /// A [`RawIoBuf`] view of the whole buffer from a shared reference.
    ///
    /// ```
    /// use jdb_alloc::{AlignedBuf, PAGE_SIZE};
    ///
    /// let arena = AlignedBuf::zeroed(4 * PAGE_SIZE).unwrap();
    /// // SAFETY: `arena` outlives the view, and nothing else writes the arena while it is used.
    /// let view = unsafe { arena.as_raw_view() };
    /// assert_eq!((view.as_ptr(), view.len(), view.cap()), (arena.as_ptr(), 4 * PAGE_SIZE, 4 * PAGE_SIZE));
    /// // `file.write_at(view, 0)` takes the copy; `arena` is still readable here.
    /// assert_eq!(arena[0], 0);
    /// ```
    ///
    /// # Safety
    /// As [`as_raw`](Self::as_raw), and more: since `self` is only borrowed shared, others may
    /// read it concurrently. The caller must synchronise (for example with the buffer pool's
    /// latch) so that no write through the view overlaps any other access.
    #[inline]
    pub unsafe fn as_raw_view(&self) -> RawIoBuf {
        RawIoBuf {
            ptr: self.ptr.as_ptr(),
            len: self.len,
            cap: self.cap,
        }
    }

    /// Gives up ownership: returns `(ptr, len, cap)` and does not free the memory.
    ///
    /// Rebuild with [`from_raw_parts`](Self::from_raw_parts) to free it; otherwise it leaks.
    ///
    /// ```
    /// use jdb_alloc::AlignedBuf;
    ///
    /// let mut buf = AlignedBuf::with_cap(100).unwrap();
    /// buf.extend(b"kept").unwrap();
    /// let (ptr, len, cap) = buf.into_raw_parts();
    /// assert_eq!((len, cap), (4, 4096));
    /// // SAFETY: the parts of one `into_raw_parts` of this crate, rebuilt once.
    /// let buf = unsafe { AlignedBuf::from_raw_parts(ptr, len, cap) };
    /// assert_eq!(&buf[..], b"kept"); // and dropping it frees the memory
    /// ```
    #[inline]
    pub fn into_raw_parts(self) -> (NonNull<u8>, usize, usize) {
        let me = ManuallyDrop::new(self);
        (me.ptr, me.len, me.cap)
    }

    /// Rebuilds a buffer from [`into_raw_parts`](Self::into_raw_parts).
    ///
    /// ```
    /// use jdb_alloc::AlignedBuf;
    ///
    /// let mut buf = AlignedBuf::with_cap(4096).unwrap();
    /// buf.extend(b"kept across the C API").unwrap();
    /// let (ptr, len, cap) = buf.into_raw_parts(); // e.g. stored in a C struct
    /// // SAFETY: the parts of one `into_raw_parts`, rebuilt once.
    /// let buf = unsafe { AlignedBuf::from_raw_parts(ptr, len, cap) };
    /// assert_eq!(&buf[..], b"kept across the C API");
    /// ```
    ///
    /// # Safety
    /// `ptr` and `cap` must be exactly as returned by one call to `into_raw_parts` of this crate,
    /// in this same version (another version may back blocks differently: 0.1.4's buffers of
    /// [`MAP_THRESHOLD`] and more came from the global allocator, which this version would
    /// unmap), and that block must not have been rebuilt before (it would be freed twice). `len` must be
    /// at most `cap`, with bytes `[0, len)` initialised (the returned `len` always qualifies).
    #[inline]
    #[track_caller]
    pub unsafe fn from_raw_parts(ptr: NonNull<u8>, len: usize, cap: usize) -> Self {
        debug_assert!(
            len <= cap,
            "AlignedBuf::from_raw_parts: len {len} > cap {cap}"
        );
        Self { ptr, len, cap }
    }

    /// Number of initialised bytes.
    ///
    /// ```
    /// use jdb_alloc::AlignedBuf;
    ///
    /// assert_eq!(AlignedBuf::zeroed(10).unwrap().len(), 10);
    /// assert_eq!(AlignedBuf::with_cap(10).unwrap().len(), 0);
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Capacity in bytes: a whole number of pages, fixed for the buffer's life.
    ///
    /// ```
    /// use jdb_alloc::AlignedBuf;
    ///
    /// assert_eq!(AlignedBuf::zeroed(10).unwrap().cap(), 4096);
    /// ```
    #[inline]
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// `true` when `len() == 0`.
    ///
    /// ```
    /// use jdb_alloc::AlignedBuf;
    ///
    /// let mut buf = AlignedBuf::with_cap(4096).unwrap();
    /// assert!(buf.is_empty());
    /// buf.extend(b"x").unwrap();
    /// assert!(!buf.is_empty());
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pointer to the first byte; [`ALIGNMENT`]-aligned.
    ///
    /// ```
    /// use jdb_alloc::{ALIGNMENT, AlignedBuf};
    ///
    /// let buf = AlignedBuf::page().unwrap();
    /// assert_eq!(buf.as_ptr() as usize % ALIGNMENT, 0);
    /// assert_eq!(buf.as_ptr(), buf[..].as_ptr());
    /// ```
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// Mutable pointer to the first byte; [`ALIGNMENT`]-aligned, valid for `cap` bytes.
    ///
    /// ```
    /// use jdb_alloc::AlignedBuf;
    ///
    /// let mut buf = AlignedBuf::with_cap(4096).unwrap();
    /// // SAFETY: 3 bytes fit in the capacity; afterwards they are initialised.
    /// unsafe {
    ///     buf.as_mut_ptr().copy_from_nonoverlapping(b"abc".as_ptr(), 3);
    ///     buf.set_len(3);
    /// }
    /// assert_eq!(&buf[..], b"abc");
    /// ```
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Sets the length to zero; the capacity and memory stay.
    ///
    /// ```
    /// use jdb_alloc::AlignedBuf;
    ///
    /// let mut buf = AlignedBuf::zeroed(5000).unwrap();
    /// buf.clear(); // ready to be read into: a read sets the length to the bytes read
    /// assert_eq!((buf.len(), buf.cap()), (0, 8192));
    /// ```
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Shortens the buffer to `len` bytes; does nothing if `len >= self.len()` (as `Vec`).
    ///
    /// ```
    /// let mut buf = jdb_alloc::AlignedBuf::zeroed(100).unwrap();
    /// buf.truncate(10);
    /// buf.truncate(50); // never lengthens
    /// assert_eq!(buf.len(), 10);
    /// buf.clear();
    /// assert!(buf.is_empty() && buf.cap() == 4096);
    /// ```
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
        }
    }

    /// Sets the length without touching the memory, for example after writing through
    /// [`as_mut_ptr`](Self::as_mut_ptr).
    ///
    /// ```
    /// use jdb_alloc::AlignedBuf;
    ///
    /// let mut buf = AlignedBuf::with_cap(4096).unwrap();
    /// // SAFETY: the 4096 bytes of the capacity are written before the length covers them.
    /// unsafe {
    ///     buf.as_mut_ptr().write_bytes(7, 4096);
    ///     buf.set_len(4096);
    /// }
    /// assert!(buf.iter().all(|&b| b == 7));
    /// ```
    ///
    /// # Safety
    /// `len <= self.cap()`, and bytes `[0, len)` must be initialised.
    #[inline]
    #[track_caller]
    pub unsafe fn set_len(&mut self, len: usize) {
        debug_assert!(
            len <= self.cap,
            "AlignedBuf::set_len: len {len} > cap {}",
            self.cap
        );
        self.len = len;
    }

    /// A copy with the same capacity and contents; an error instead of an abort when memory runs
    /// out.
    ///
    /// # Errors
    /// [`Error::AllocFailed`] if the memory cannot be had.
    ///
    /// ```
    /// let mut buf = jdb_alloc::AlignedBuf::with_cap(8192).unwrap();
    /// buf.extend(b"abc").unwrap();
    /// let copy = buf.try_clone().unwrap();
    /// assert_eq!((&copy[..], copy.cap()), (&b"abc"[..], 8192));
    /// assert_ne!(copy.as_ptr(), buf.as_ptr());
    /// ```
    pub fn try_clone(&self) -> Result<Self> {
        let ptr = mem::allocate(self.cap, Fill::Uninit)?;
        // SAFETY: the source holds `len` initialised bytes; the new block is a distinct live
        // allocation of `cap >= len` bytes, so the ranges are valid and do not overlap.
        unsafe { ptr::copy_nonoverlapping(self.ptr.as_ptr(), ptr.as_ptr(), self.len) };
        Ok(Self {
            ptr,
            len: self.len,
            cap: self.cap,
        })
    }

    /// Appends `data`.
    ///
    /// # Errors
    /// [`Error::Overflow`]`(needed, cap)` if `len + data.len()` exceeds the capacity; the buffer
    /// is then unchanged.
    ///
    /// ```
    /// let mut buf = jdb_alloc::AlignedBuf::with_cap(4096).unwrap();
    /// buf.extend(&[1; 4000]).unwrap();
    /// assert!(buf.extend(&[2; 100]).is_err());
    /// assert_eq!(buf.len(), 4000);
    /// ```
    #[inline]
    pub fn extend(&mut self, data: &[u8]) -> Result<()> {
        // SAFETY: invariants 1 and 3 (`ptr` valid for `cap` bytes, `len <= cap`); `data` is a
        // shared borrow, so it cannot overlap the block we hold `&mut` to.
        unsafe { append(self.ptr.as_ptr(), &mut self.len, self.cap, data) }
    }
}

impl AlignedBuf {
    /// Zero-fills from `len` up to the next multiple of [`ALIGNMENT`] and makes that the length;
    /// returns the new length.
    ///
    /// This is the last step before writing a partial tail (say, the end of a record log) with
    /// `O_DIRECT`, which needs a whole number of blocks. Bytes before `len` are untouched; an
    /// already aligned length (including 0 and `cap`) is left as it is.
    ///
    /// It cannot fail: the capacity is a whole number of pages, hence of [`ALIGNMENT`]s, so the
    /// next multiple at or above `len <= cap` is at most `cap`.
    ///
    /// ```
    /// let mut buf = jdb_alloc::AlignedBuf::with_cap(8192).unwrap();
    /// buf.extend(b"record 1\n").unwrap();
    /// assert_eq!(buf.pad_to_alignment(), 4096);
    /// assert_eq!(&buf[..9], b"record 1\n");
    /// assert!(buf[9..].iter().all(|&b| b == 0));
    /// assert_eq!(buf.pad_to_alignment(), 4096); // already aligned: unchanged
    /// ```
    pub fn pad_to_alignment(&mut self) -> usize {
        // No overflow: len <= cap <= isize::MAX.
        let padded = (self.len + ALIGN_MASK) & !ALIGN_MASK;
        debug_assert!(padded <= self.cap);
        // SAFETY: `len <= padded <= cap` (cap is a multiple of ALIGNMENT, see above), so
        // `[len, padded)` lies inside our live block, which `&mut self` lets us write.
        unsafe { ptr::write_bytes(self.ptr.as_ptr().add(self.len), 0, padded - self.len) };
        self.len = padded;
        padded
    }
}

/// Copies `data` after the `*len` initialised bytes at `ptr` and advances `*len`: the `extend`
/// of every fixed-capacity buffer ([`AlignedBuf`], [`Frame`]).
///
/// # Errors
/// [`Error::Overflow`]`(needed, cap)` if `*len + data.len()` exceeds `cap`; nothing is changed.
///
/// # Safety
/// `ptr` must be valid for writes of `cap` bytes, `*len <= cap`, and `data` must not overlap
/// those bytes.
#[inline]
unsafe fn append(ptr: *mut u8, len: &mut usize, cap: usize, data: &[u8]) -> Result<()> {
    if data.len() > cap - *len {
        return Err(Error::Overflow(len.saturating_add(data.len()), cap));
    }
    // SAFETY: `*len + data.len() <= cap`, so the destination lies inside the `cap` bytes the
    // caller vouches for; the caller also guarantees `data` does not overlap them.
    unsafe { ptr::copy_nonoverlapping(data.as_ptr(), ptr.add(*len), data.len()) };
    *len += data.len();
    Ok(())
}

// Buffer pools: an arena cut into owned frames (`frame.rs`).
impl AlignedBuf {
    /// Consumes the buffer and splits its whole capacity into `cap / chunk` owned [`Frame`]s of
    /// `chunk` bytes each, in address order: frame `i` starts at `as_ptr() + i * chunk`.
    ///
    /// - Each frame is an exclusive, [`ALIGNMENT`]-aligned range of the block, with
    ///   `cap() == chunk`; frames can be passed to compio by value, moved between threads and
    ///   dropped in any order.
    /// - The buffer's initialised bytes are carried over: frame `i` has
    ///   `len() == min(chunk, self.len() - i * chunk)` (or 0), so a [`zeroed`](Self::zeroed)
    ///   buffer gives full frames of zeroes and a [`with_cap`](Self::with_cap) buffer empty
    ///   frames, ready to be read into.
    /// - A tail shorter than `chunk` is not handed out; a `chunk` larger than the capacity gives
    ///   no frames at all (as [`slice_into_raws`](Self::slice_into_raws)); check
    ///   [`Frames::len`] if a pool must not be empty.
    /// - The block is freed when the last frame is dropped (frames not taken from the iterator
    ///   are dropped with it).
    ///
    /// ```text
    /// an arena cut with into_frames(4096): each Frame is four words
    /// ┌───────────────────────────┐
    /// │ owner (shared, counted) ──┼──► the arena, freed with the last frame
    /// │ ptr, len, cap ────────────┼──► its own chunk of the block
    /// └───────────────────────────┘
    /// ptr ─►┌──────────┬──────────┬──────────┬──────────┐
    ///       │ frame 0  │ frame 1  │ frame 2  │ frame 3  │  cap 4096 each; len carried over
    ///       └──────────┴──────────┴──────────┴──────────┘  (zeroed arena: 4096, with_cap: 0)
    ///       +0         +4096      +8192      +12288        every start 4096-aligned
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidChunk`] if `chunk` is zero or not a multiple of [`ALIGNMENT`]; the buffer
    /// is dropped then.
    ///
    /// ```
    /// use jdb_alloc::{AlignedBuf, Frame, PAGE_SIZE};
    ///
    /// let arena = AlignedBuf::zeroed(4 * PAGE_SIZE + 100).unwrap(); // cap: 5 pages
    /// let base = arena.as_ptr() as usize;
    /// let frames: Vec<Frame> = arena.into_frames(2 * PAGE_SIZE).unwrap().collect();
    /// assert_eq!(frames.len(), 2); // the fifth page is a tail: not handed out
    /// assert_eq!(frames[1].as_ptr() as usize, base + 2 * PAGE_SIZE);
    /// assert_eq!(&frames[1][..], &[0; 2 * PAGE_SIZE][..]);
    ///
    /// assert!(AlignedBuf::page().unwrap().into_frames(1000).is_err());
    /// ```
    ///
    /// A pool over compio: frames of a zeroed arena are filled and written, each moving into the
    /// runtime and dropped in any order; frames of a `with_cap` arena are read into, and their
    /// length becomes the bytes read.
    ///
    /// ```
    /// # #[cfg(feature = "compio-buf-07")]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use compio::{
    ///     BufResult,
    ///     fs::OpenOptions,
    ///     io::{AsyncReadAt, AsyncWriteAt},
    ///     runtime::Runtime,
    /// };
    /// use jdb_alloc::{AlignedBuf, Frame, PAGE_SIZE};
    ///
    /// const FRAMES: usize = 4;
    /// let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/frames-pool.bin");
    /// # std::fs::create_dir_all(path.parent().unwrap())?;
    /// let out: Vec<Frame> = AlignedBuf::zeroed(FRAMES * PAGE_SIZE)?.into_frames(PAGE_SIZE)?.collect();
    /// let pool: Vec<Frame> = AlignedBuf::with_cap(FRAMES * PAGE_SIZE)?.into_frames(PAGE_SIZE)?.collect();
    ///
    /// let back = Runtime::new()?.block_on(async {
    ///     let mut file = OpenOptions::new()
    ///         .read(true)
    ///         .write(true)
    ///         .create(true)
    ///         .truncate(true)
    ///         .custom_flags(libc::O_DIRECT)
    ///         .open(&path)
    ///         .await?;
    ///     for (i, mut frame) in out.into_iter().enumerate().rev() {
    ///         frame.fill(i as u8 + 1);
    ///         let BufResult(written, _frame) = file.write_at(frame, (i * PAGE_SIZE) as u64).await;
    ///         assert_eq!(written?, PAGE_SIZE);
    ///     }
    ///     let mut back = Vec::new();
    ///     for (i, frame) in pool.into_iter().enumerate() {
    ///         let BufResult(read, frame) = file.read_at(frame, (i * PAGE_SIZE) as u64).await;
    ///         assert_eq!(read?, PAGE_SIZE);
    ///         back.push(frame);
    ///     }
    ///     Ok::<_, Box<dyn std::error::Error>>(back)
    /// })?;
    /// for (i, frame) in back.iter().enumerate() {
    ///     assert!(frame.len() == PAGE_SIZE && frame.iter().all(|&b| b == i as u8 + 1));
    /// }
    /// std::fs::remove_file(&path)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "compio-buf-07"))]
    /// # fn main() {}
    /// ```
    pub fn into_frames(self, chunk: usize) -> Result<Frames> {
        Frames::new(self, chunk)
    }
}

impl Drop for AlignedBuf {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: by invariant 1 `ptr` is a live block from `mem::allocate(cap, _)` that this
        // buffer owns; it is released once, here.
        unsafe { mem::release(self.ptr, self.cap) }
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: invariants 1 and 3: `ptr` is valid for `cap >= len` bytes, `[0, len)` is
        // initialised, and the borrow of `self` keeps the block alive and unaliased by `&mut`.
        unsafe { slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for AlignedBuf {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes this the only access.
        unsafe { slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl AsRef<[u8]> for AlignedBuf {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl AsMut<[u8]> for AlignedBuf {
    #[inline]
    fn as_mut(&mut self) -> &mut [u8] {
        self
    }
}

impl Clone for AlignedBuf {
    /// As [`try_clone`](Self::try_clone), but out of memory ends the process through
    /// [`std::alloc::handle_alloc_error`], as `Vec::clone` does.
    fn clone(&self) -> Self {
        self.try_clone()
            .unwrap_or_else(|_| std::alloc::handle_alloc_error(mem::oom_layout(self.cap)))
    }
}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .field("cap", &self.cap)
            .finish()
    }
}

// ============================================================================
// RawIoBuf
// ============================================================================

/// A non-owning, `Copy` view `(ptr, len, cap)` of aligned memory, for buffer-pool frames.
///
/// A buffer pool keeps its frames' memory in an arena ([`AlignedBuf`]) and hands a frame to
/// compio by value; because the view is `Copy`, the pool keeps its own copy meanwhile.
///
/// ```
/// use jdb_alloc::AlignedBuf;
///
/// let mut buf = AlignedBuf::zeroed(4096).unwrap();
/// // SAFETY: `buf` outlives `raw` and all its copies, and is not used while they are.
/// let raw = unsafe { buf.as_raw() };
///
/// // One copy can go to an async operation while another stays here.
/// let mut for_io = raw;
/// for_io.as_mut_slice()[..5].copy_from_slice(b"hello");
/// assert_eq!(&raw.as_slice()[..5], b"hello"); // both copies view the same memory
///
/// // The views are no longer used; the owner sees the bytes written through them.
/// assert_eq!(&buf[..5], b"hello");
/// ```
///
/// # When to use it
///
/// [`Frame`]s are the default for a new pool. A `RawIoBuf` remains the tool when:
///
/// - **the pool keeps a handle to a frame while it is in flight.** A `Frame` moves into the
///   runtime and is gone until the result comes back; a `RawIoBuf` is `Copy`, so the pool keeps
///   its copy and its own latch decides who may touch the bytes meanwhile (PostgreSQL- and
///   InnoDB-style pools work this way);
/// - **one I/O spans adjacent frames.** Two dirty pages that are neighbours on disk and in the
///   arena go out in one write with [`slice_data`](Self::slice_data) over both; a `Frame` never
///   reaches past its own chunk;
/// - **the memory does not come from this crate** (a shared-memory segment, a huge-page
///   reservation made elsewhere): [`new`](Self::new) / [`from_raw_parts`](Self::from_raw_parts)
///   view any suitable memory;
/// - **the hot path cannot afford one atomic reference count per frame.** Making a frame
///   increments the arena's count, dropping one decrements it; a `RawIoBuf` costs nothing to
///   copy or drop;
/// - **the code was written for jdb_alloc 0.1.4**: it keeps its shape; the few source changes
///   are in [`migration`].
///
/// [`Frame::as_raw`] gives the view of a frame when only part of the code needs one.
///
/// ```
/// use jdb_alloc::{AlignedBuf, PAGE_SIZE, RawIoBuf};
///
/// // The pool owns its arena for its whole life and hands out views of it.
/// let arena = AlignedBuf::zeroed(8 * PAGE_SIZE).unwrap();
/// // SAFETY: the pool keeps `arena` alive while any view is used, and its latches give each
/// // range of bytes one user at a time.
/// let whole: RawIoBuf = unsafe { arena.as_raw_view() };
///
/// // Frames 2 and 3 are dirty and adjacent on disk: one write covers both.
/// // SAFETY: as above; the bytes of a zeroed arena are initialised.
/// let run = unsafe { whole.slice_data(2 * PAGE_SIZE, 2 * PAGE_SIZE) };
/// assert_eq!((run.len(), run.cap()), (2 * PAGE_SIZE, 2 * PAGE_SIZE));
/// assert_eq!(run.as_ptr(), arena.as_ptr().wrapping_add(2 * PAGE_SIZE));
/// // `run` is `Copy`: `file.write_at(run, pos)` takes one copy, the pool keeps `whole`.
/// ```
///
/// A pool of views over compio: frames go to compio by value, the pool keeps its own copies.
/// Frames of a `zeroed` arena may claim their whole length with `unsafe`
/// [`with_len`](Self::with_len) (the bytes are initialised); frames read into get their length
/// from the read.
///
/// ```
/// # #[cfg(feature = "compio-buf-07")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use compio::{
///     BufResult,
///     fs::OpenOptions,
///     io::{AsyncReadAt, AsyncWriteAt},
///     runtime::Runtime,
/// };
/// use jdb_alloc::{AlignedBuf, PAGE_SIZE, RawIoBuf};
///
/// const FRAMES: usize = 4;
/// let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/raw-pool.bin");
/// # std::fs::create_dir_all(path.parent().unwrap())?;
///
/// // One arena to write from, one to read into.
/// let src = AlignedBuf::zeroed(FRAMES * PAGE_SIZE)?;
/// let dst = AlignedBuf::with_cap(FRAMES * PAGE_SIZE)?;
/// // SAFETY: both arenas live until the end of `main`, after the last I/O, and each frame
/// // is used by one operation at a time.
/// let (out, into): (Vec<RawIoBuf>, Vec<RawIoBuf>) = unsafe {
///     (
///         src.slice_into_raws(PAGE_SIZE).collect(),
///         dst.slice_into_raws(PAGE_SIZE).collect(),
///     )
/// };
///
/// Runtime::new()?.block_on(async {
///     let mut file = OpenOptions::new()
///         .read(true)
///         .write(true)
///         .create(true)
///         .truncate(true)
///         .custom_flags(libc::O_DIRECT)
///         .open(&path)
///         .await?;
///     for (i, frame) in out.iter().enumerate() {
///         // SAFETY: the arena is zeroed, so the whole frame is initialised.
///         let mut frame = unsafe { frame.with_len(PAGE_SIZE) };
///         frame.as_mut_slice().fill(i as u8 + 1);
///         let BufResult(written, _) = file.write_at(frame, (i * PAGE_SIZE) as u64).await;
///         assert_eq!(written?, PAGE_SIZE);
///     }
///     for (i, frame) in into.iter().enumerate() {
///         let BufResult(read, frame) = file.read_at(*frame, (i * PAGE_SIZE) as u64).await;
///         assert_eq!(read?, PAGE_SIZE);
///         assert!(frame.as_slice().iter().all(|&b| b == i as u8 + 1));
///     }
///     Ok::<_, Box<dyn std::error::Error>>(())
/// })?;
/// std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "compio-buf-07"))]
/// # fn main() {}
/// ```
///
/// # The contract
///
/// A `RawIoBuf` can only be made through `unsafe` constructors, and every way to raise its
/// length over bytes nobody wrote is `unsafe` too. Whoever makes one (or raises its length)
/// promises that, for as long as it or any copy is used:
/// - `ptr` is non-null and valid for reads and writes of `cap` bytes: the memory outlives every
///   copy. ([`new`](Self::new) also takes a null pointer with `cap == 0`, as an empty view.)
/// - `len <= cap` and bytes `[0, len)` are initialised. [`with_len`](Self::with_len) and
///   [`set_len`](Self::set_len) take that duty on their caller; a compio read sets the length
///   only over bytes the kernel wrote.
/// - No two copies are used to access the same bytes at the same time unless all accesses are
///   reads, and the memory is not accessed through other paths meanwhile.
/// - The memory stays valid while the kernel may still use it. A compio operation whose future
///   is dropped (a timeout, a `select!` that took another branch) is not over: the runtime keeps
///   the view until the kernel completes it, and the kernel may read or write the bytes until
///   then. So the arena must outlive every operation started on a view of it, cancelled ones
///   included, and must not be reused for anything else meanwhile. A view cannot ensure this
///   itself; a [`Frame`] can, as it owns a share of its arena.
///
/// The safe methods ([`as_slice`](Self::as_slice), [`as_mut_slice`](Self::as_mut_slice), the
/// compio traits) rely on that promise.
///
/// # What the type does not guarantee by itself
///
/// A `RawIoBuf` is a raw pointer with a length, made `Copy` so that a pool can keep a copy of a
/// frame in flight. Copying is safe, so the type cannot stop two copies from both calling
/// [`as_mut_slice`](Self::as_mut_slice) (or a compio trait method) on the same bytes: that is
/// undefined behaviour which only the creator's contract rules out. The contract therefore
/// binds every copy, wherever it goes: hand a view only to code that keeps it (your pool, and
/// compio, which uses the one copy it is given and hands it back). Where code you do not
/// control gets a buffer, give it a [`Frame`] instead: an owned, non-`Copy` piece of an arena
/// that is sound by construction.
///
/// # Thread safety
///
/// `Send` and `Sync`: moving a view to another thread is how a frame reaches an I/O thread.
/// Keeping accesses from different threads apart is part of the contract above (a buffer pool
/// does it with its frame latches).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct RawIoBuf {
    ptr: *mut u8,
    len: usize,
    cap: usize,
}

// SAFETY: a `RawIoBuf` is a pointer plus lengths; the memory it views is shared only under the
// contract its creator accepted, which requires non-overlapping use across all copies,
// whichever threads they are on.
unsafe impl Send for RawIoBuf {}
// SAFETY: through `&RawIoBuf` safe code gets `as_slice` and raw pointers, and can copy the
// view out; any access through a copy is one more use of the same memory, which the creator's
// contract keeps from overlapping a write, whichever thread it is on.
unsafe impl Sync for RawIoBuf {}

impl RawIoBuf {
    /// An empty view (`len == 0`) of `cap` bytes at `ptr`.
    ///
    /// A null `ptr` with `cap == 0` is an empty view of nothing: it then holds a dangling,
    /// [`ALIGNMENT`]-aligned pointer instead, as an empty `Vec` does, so every method stays sound.
    ///
    /// # Safety
    /// The caller accepts the [contract](Self#the-contract): `ptr` non-null (unless `cap == 0`)
    /// and valid for reads and writes of `cap` bytes for as long as the view or a copy is used,
    /// and no conflicting access. For `O_DIRECT`, `ptr` should also be [`ALIGNMENT`]-aligned
    /// (the kernel checks it).
    ///
    /// ```
    /// use jdb_alloc::{AlignedBuf, RawIoBuf};
    ///
    /// let mut arena = AlignedBuf::zeroed(8192).unwrap();
    /// // SAFETY: the view is used only while `arena` lives, and `arena` is not used meanwhile.
    /// let view = unsafe { RawIoBuf::new(arena.as_mut_ptr(), arena.cap()) };
    /// assert_eq!((view.len(), view.cap()), (0, 8192));
    ///
    /// // SAFETY: an empty view of nothing.
    /// let empty = unsafe { RawIoBuf::new(std::ptr::null_mut(), 0) };
    /// assert!(empty.as_slice().is_empty() && !empty.as_ptr().is_null());
    /// ```
    #[inline]
    pub const unsafe fn new(ptr: *mut u8, cap: usize) -> Self {
        let ptr = if ptr.is_null() && cap == 0 {
            ptr::without_provenance_mut(ALIGNMENT)
        } else {
            ptr
        };
        Self { ptr, len: 0, cap }
    }

    /// The same view with length `len` (chainable: `unsafe { RawIoBuf::new(p, cap).with_len(n) }`).
    ///
    /// # Panics
    /// If `len > self.cap()`, in release builds too: a view may never claim bytes beyond its
    /// memory. The message names both numbers and points at the caller.
    ///
    /// # Safety
    /// Bytes `[0, len)` of the view must be initialised (the [contract](Self#the-contract)):
    /// written by someone, or from [`AlignedBuf::zeroed`]. `unsafe` since 0.2: in 0.1.4 this was
    /// safe, and let safe code read memory nobody wrote.
    ///
    /// ```
    /// use jdb_alloc::{AlignedBuf, RawIoBuf};
    ///
    /// let arena = AlignedBuf::zeroed(4096).unwrap();
    /// // SAFETY: the view is used only while `arena` lives, and only to read.
    /// let view = unsafe { arena.as_raw_view() };
    /// // SAFETY: the zeroed arena is initialised throughout.
    /// let header = unsafe { view.with_len(64) };
    /// assert_eq!(header.as_slice(), &[0; 64]);
    /// ```
    #[inline]
    #[track_caller]
    pub const unsafe fn with_len(mut self, len: usize) -> Self {
        if len > self.cap {
            const_panic::len_exceeds_cap("RawIoBuf::with_len", len, self.cap);
        }
        self.len = len;
        self
    }

    /// A view from its parts.
    ///
    /// # Safety
    /// The [contract](Self#the-contract), including `len <= cap` with bytes `[0, len)`
    /// initialised.
    ///
    /// ```
    /// use std::ptr::NonNull;
    ///
    /// use jdb_alloc::{AlignedBuf, RawIoBuf};
    ///
    /// let mut arena = AlignedBuf::zeroed(4096).unwrap();
    /// let ptr = NonNull::new(arena.as_mut_ptr()).unwrap();
    /// // SAFETY: `arena` outlives the view and is not used meanwhile; it is zeroed, so the
    /// // 512 bytes claimed are initialised.
    /// let view = unsafe { RawIoBuf::from_raw_parts(ptr, 512, 4096) };
    /// assert_eq!(view.as_slice(), &[0; 512]);
    /// ```
    #[inline]
    pub const unsafe fn from_raw_parts(ptr: NonNull<u8>, len: usize, cap: usize) -> Self {
        Self {
            ptr: ptr.as_ptr(),
            len,
            cap,
        }
    }

    /// A full view (`len == cap == slice.len()`) of `slice`.
    ///
    /// # Safety
    /// The view is not tied to the borrow it came from. The caller must not use it (or a copy)
    /// after the slice's memory is freed or moved, nor while the memory is accessed through
    /// another path (see the [contract](Self#the-contract)). `unsafe` since 0.2: in 0.1.4 this
    /// was safe and let safe code reach freed memory.
    ///
    /// ```
    /// let mut bytes = vec![7u8; 64];
    /// // SAFETY: `bytes` outlives the view and is not used while the view is.
    /// let view = unsafe { jdb_alloc::RawIoBuf::from_slice(&mut bytes) };
    /// assert_eq!((view.len(), view.cap()), (64, 64));
    /// assert_eq!(view.as_slice(), &[7; 64]);
    /// ```
    #[inline]
    pub unsafe fn from_slice(slice: &mut [u8]) -> Self {
        Self {
            ptr: slice.as_mut_ptr(),
            len: slice.len(),
            cap: slice.len(),
        }
    }

    /// Checks that `[offset, offset + len)` lies within the view and starts aligned.
    #[inline]
    #[track_caller]
    fn check_sub(&self, what: &str, offset: usize, len: usize) {
        let in_bounds = matches!(offset.checked_add(len), Some(end) if end <= self.cap);
        assert!(
            in_bounds,
            "RawIoBuf::{what}: range offset {offset} + len {len} exceeds cap {}",
            self.cap
        );
        assert!(
            (self.ptr as usize).wrapping_add(offset) & ALIGN_MASK == 0,
            "RawIoBuf::{what}: offset {offset} (len {len}, cap {}) is not {ALIGNMENT}-aligned",
            self.cap
        );
    }

    /// An empty sub-view (`len == 0`, `cap == len`) at `offset`, for reading into.
    ///
    /// # Panics
    /// If `offset + len > self.cap()` or `ptr + offset` is not [`ALIGNMENT`]-aligned, in release
    /// builds too; the message names offset, len and cap.
    ///
    /// # Safety
    /// The sub-view shares memory with `self` and its copies: the caller keeps the
    /// [contract](Self#the-contract) for it too.
    ///
    /// ```
    /// let arena = jdb_alloc::AlignedBuf::with_cap(4 * 4096).unwrap();
    /// // SAFETY: `arena` outlives the views, and each range has one user at a time.
    /// let whole = unsafe { arena.as_raw_view() };
    /// // SAFETY: as above.
    /// let page = unsafe { whole.slice(4096, 2 * 4096) }; // for `file.read_at(page, pos)`
    /// assert_eq!((page.len(), page.cap()), (0, 2 * 4096));
    /// assert_eq!(page.as_ptr(), arena.as_ptr().wrapping_add(4096));
    /// ```
    ///
    /// An unaligned offset panics, in release builds too:
    ///
    /// ```should_panic
    /// let arena = jdb_alloc::AlignedBuf::with_cap(4 * 4096).unwrap();
    /// // SAFETY: never reached: the offset is not aligned.
    /// let _ = unsafe { arena.as_raw_view().slice(100, 4096) };
    /// ```
    #[inline]
    #[track_caller]
    pub unsafe fn slice(self, offset: usize, len: usize) -> Self {
        self.check_sub("slice", offset, len);
        Self {
            // SAFETY: `offset <= cap` (checked), so the result stays in (or one past) the block.
            ptr: unsafe { self.ptr.add(offset) },
            len: 0,
            cap: len,
        }
    }

    /// A full sub-view (`len == cap == len`) at `offset`, for writing out bytes already there.
    ///
    /// # Panics
    /// As [`slice`](Self::slice).
    ///
    /// # Safety
    /// As [`slice`](Self::slice), and bytes `[offset, offset + len)` must be initialised.
    ///
    /// ```
    /// let arena = jdb_alloc::AlignedBuf::zeroed(4 * 4096).unwrap();
    /// // SAFETY: `arena` outlives the views, each range has one user at a time, and a zeroed
    /// // arena's bytes are initialised.
    /// let out = unsafe { arena.as_raw_view().slice_data(2 * 4096, 4096) };
    /// assert_eq!((out.len(), out.cap()), (4096, 4096)); // for `file.write_at(out, pos)`
    /// ```
    #[inline]
    #[track_caller]
    pub unsafe fn slice_data(self, offset: usize, len: usize) -> Self {
        self.check_sub("slice_data", offset, len);
        Self {
            // SAFETY: `offset <= cap` (checked), so the result stays in (or one past) the block.
            ptr: unsafe { self.ptr.add(offset) },
            len,
            cap: len,
        }
    }

    /// As [`slice`](Self::slice) without any check, for hot paths that proved the range already.
    ///
    /// # Safety
    /// `offset + len <= self.cap()` (anything else is undefined behaviour), the alignment the I/O
    /// needs, and the [contract](Self#the-contract) for the sub-view.
    ///
    /// ```
    /// let arena = jdb_alloc::AlignedBuf::with_cap(4 * 4096).unwrap();
    /// // SAFETY: `arena` outlives the views; [3 * 4096, 4 * 4096) lies within its capacity and
    /// // is aligned; one user at a time.
    /// let last = unsafe { arena.as_raw_view().slice_unchecked(3 * 4096, 4096) };
    /// assert_eq!((last.len(), last.cap()), (0, 4096));
    /// ```
    #[inline]
    pub unsafe fn slice_unchecked(self, offset: usize, len: usize) -> Self {
        Self {
            // SAFETY: the caller guarantees `offset + len <= cap`, so this stays in the block.
            ptr: unsafe { self.ptr.add(offset) },
            len: 0,
            cap: len,
        }
    }

    /// Number of initialised bytes.
    ///
    /// ```
    /// use jdb_alloc::{AlignedBuf, PAGE_SIZE};
    ///
    /// let arena = AlignedBuf::zeroed(2 * PAGE_SIZE).unwrap();
    /// // SAFETY: `arena` outlives the views, which are not used to write.
    /// let views: Vec<_> = unsafe { arena.slice_into_raws(PAGE_SIZE).collect() };
    /// assert_eq!((views[0].len(), views[0].cap()), (0, PAGE_SIZE));
    /// ```
    #[inline]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Size of the viewed memory in bytes.
    ///
    /// ```
    /// use jdb_alloc::{AlignedBuf, PAGE_SIZE};
    ///
    /// let arena = AlignedBuf::zeroed(3 * PAGE_SIZE).unwrap();
    /// // SAFETY: `arena` outlives the view, which is not used to write.
    /// let run = unsafe { arena.as_raw_view().slice(PAGE_SIZE, 2 * PAGE_SIZE) };
    /// assert_eq!(run.cap(), 2 * PAGE_SIZE);
    /// ```
    #[inline]
    pub const fn cap(&self) -> usize {
        self.cap
    }

    /// `true` when `len() == 0`.
    ///
    /// ```
    /// use jdb_alloc::AlignedBuf;
    ///
    /// let arena = AlignedBuf::zeroed(4096).unwrap();
    /// // SAFETY: `arena` outlives the view, which is not used to write.
    /// let view = unsafe { arena.as_raw_view() };
    /// assert!(!view.is_empty()); // a zeroed arena's bytes are initialised
    /// // SAFETY: as above.
    /// assert!(unsafe { view.slice(0, 4096) }.is_empty()); // `slice` views start empty
    /// ```
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pointer to the first byte.
    ///
    /// ```
    /// use jdb_alloc::{AlignedBuf, PAGE_SIZE};
    ///
    /// let arena = AlignedBuf::zeroed(2 * PAGE_SIZE).unwrap();
    /// // SAFETY: `arena` outlives the views, which are not used to write.
    /// let second = unsafe { arena.slice_into_raws(PAGE_SIZE) }.nth(1).unwrap();
    /// assert_eq!(second.as_ptr(), arena[PAGE_SIZE..].as_ptr());
    /// ```
    #[inline]
    pub const fn as_ptr(&self) -> *const u8 {
        self.ptr
    }

    /// Mutable pointer to the first byte. Takes `&self` because the view does not own the
    /// memory; writing through it is subject to the [contract](Self#the-contract).
    ///
    /// ```
    /// use jdb_alloc::AlignedBuf;
    ///
    /// let mut arena = AlignedBuf::with_cap(4096).unwrap();
    /// // SAFETY: `arena` outlives the view and is not touched while the view writes.
    /// let mut view = unsafe { arena.as_raw() };
    /// // SAFETY: the view is the only user of its 4096 bytes; 2 are written, then claimed.
    /// unsafe {
    ///     view.as_mut_ptr().copy_from_nonoverlapping(b"ok".as_ptr(), 2);
    ///     view.set_len(2);
    /// }
    /// assert_eq!(view.as_slice(), b"ok");
    /// ```
    #[inline]
    pub const fn as_mut_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// The initialised bytes `[0, len)`.
    ///
    /// ```
    /// use jdb_alloc::AlignedBuf;
    ///
    /// let mut arena = AlignedBuf::with_cap(4096).unwrap();
    /// arena.extend(b"log record").unwrap();
    /// // SAFETY: `arena` outlives the view, which is not used to write.
    /// let view = unsafe { arena.as_raw_view() };
    /// assert_eq!(view.as_slice(), b"log record");
    /// ```
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the creator's contract: `ptr` valid for `cap >= len` bytes, `[0, len)`
        // initialised, and no conflicting write while this shared borrow is used.
        unsafe { slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The initialised bytes `[0, len)`, mutably.
    ///
    /// ```
    /// use jdb_alloc::AlignedBuf;
    ///
    /// let arena = AlignedBuf::zeroed(4096).unwrap();
    /// // SAFETY: `arena` outlives the view, and nothing else reads or writes it while it is used.
    /// let mut view = unsafe { arena.as_raw_view() };
    /// view.as_mut_slice()[..4].copy_from_slice(b"page");
    /// assert_eq!(&arena[..4], b"page");
    /// ```
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the creator's contract, which includes exclusive use of these bytes while this
        // mutable borrow is used.
        unsafe { slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// Sets the length without touching the memory.
    ///
    /// ```
    /// use jdb_alloc::AlignedBuf;
    ///
    /// let arena = AlignedBuf::zeroed(8192).unwrap();
    /// // SAFETY: `arena` outlives the view, which is not used to write.
    /// let mut view = unsafe { arena.as_raw_view().slice(0, 4096) };
    /// // SAFETY: a zeroed arena's bytes are initialised, and 4096 is the view's capacity.
    /// unsafe { view.set_len(4096) };
    /// assert!(view.as_slice().iter().all(|&b| b == 0));
    /// ```
    ///
    /// # Safety
    /// `len <= self.cap()`, and bytes `[0, len)` must be initialised.
    #[inline]
    #[track_caller]
    pub unsafe fn set_len(&mut self, len: usize) {
        debug_assert!(
            len <= self.cap,
            "RawIoBuf::set_len: len {len} > cap {}",
            self.cap
        );
        self.len = len;
    }
}

impl fmt::Debug for RawIoBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawIoBuf")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .field("cap", &self.cap)
            .finish()
    }
}

// ============================================================================
// compio buffer traits: the contract, and compio-buf 0.7 (compio 0.16, 0.17)
// ============================================================================
//
// Buffer contract. The compio trait impls (`impl_compio_buf_07!` below, `impl_len_traits!` in
// compio_buf_traits.rs for compio-buf 0.8 and 0.9) and the types' own
// `copy_within` (copy_within.rs) are written once for every buffer type, from its inherent `len()`,
// `cap()`, `as_ptr()`, `as_mut_ptr()` and `unsafe fn set_len`. Each type given to them promises,
// for every value `b` of it, whenever a trait method runs:
// 1. `b.as_ptr()` and `b.as_mut_ptr()` are the same pointer, valid for reads and writes of
//    `b.cap()` bytes;
// 2. `b.len() <= b.cap()` and bytes `[0, len)` are initialised;
// 3. through `&b` nothing writes those bytes, and through `&mut b` nothing else accesses them;
// 4. the memory does not move when `b` moves (compio holds the buffer while the kernel uses the
//    pointer), and stays valid until `b` is dropped;
// 5. `b.set_len(n)` sets `len` to exactly `n`, requiring `n <= cap` with `[0, n)` initialised.
//
// Both generations' "bytes were read" method (`set_buf_init`, `advance_to`) raise the length
// to `n` and never lower it, as compio documents them: compio-buf 0.7's `Slice` reports a read
// into `[begin, end)` as `set_buf_init(begin + n)`, which must not cut off the parent's bytes
// past that point, and a direct read into a longer buffer must not either.
//
// Contract: `AlignedBuf` keeps 1, 2 and 5 as its invariants 1 and 3; 3 because writes need
// `&mut self` (or an `unsafe` view whose caller took on the duty); 4 because its block is an
// allocation it owns and frees only on drop.
// Contract: `RawIoBuf` is made only by `unsafe` constructors whose callers promise 1 to 4 for as
// long as the view or a copy is used (its "contract" section); its `set_len` is 5.
// Contract: `Frame` is the only holder of a `RawIoBuf` view that keeps that contract for the
// frame's whole life (frame.rs invariants 1 to 3), and the arena block it views is freed only
// after the last frame drops (4); its `set_len` is 5.
// Contract: `FixedFrame` (fixed/mod.rs) is a `Frame` plus its arena's registration, and passes
// every method on to the `Frame`.

#[cfg(feature = "compio-buf-07")]
mod compio_buf_07_impls {
    use compio_buf_07::{IoBuf, IoBufMut, SetBufInit};

    use crate::{AlignedBuf, Frame, RawIoBuf};

    /// compio-buf 0.7's `IoBuf`, `IoBufMut` and `SetBufInit` for types that keep the buffer
    /// contract (above).
    macro_rules! impl_compio_buf_07 {
        ($($ty:ty),+ $(,)?) => {$(
            // SAFETY: contract 1 and 2: `as_buf_ptr` is valid for `buf_capacity()` bytes with
            // `[0, buf_len())` initialised; contract 4: it does not move with the value.
            #[cfg_attr(docsrs, doc(cfg(feature = "compio-buf-07")))]
            unsafe impl IoBuf for $ty {
                #[inline]
                fn as_buf_ptr(&self) -> *const u8 {
                    self.as_ptr()
                }

                #[inline]
                fn buf_len(&self) -> usize {
                    self.len()
                }

                #[inline]
                fn buf_capacity(&self) -> usize {
                    self.cap()
                }
            }

            // SAFETY: as for `IoBuf`; contract 4: the pointer stays valid while the runtime
            // holds the buffer, and contract 3: `&mut` makes the runtime its only user.
            #[cfg_attr(docsrs, doc(cfg(feature = "compio-buf-07")))]
            unsafe impl IoBufMut for $ty {
                #[inline]
                fn as_buf_mut_ptr(&mut self) -> *mut u8 {
                    self.as_mut_ptr()
                }
            }

            /// Raises the length to `len`, never lowers it (as the trait documents), so after
            /// a read `len()` is `max(len(), bytes read)` and a read into a sub-slice keeps the
            /// parent's length.
            #[cfg_attr(docsrs, doc(cfg(feature = "compio-buf-07")))]
            impl SetBufInit for $ty {
                #[inline]
                unsafe fn set_buf_init(&mut self, len: usize) {
                    if len > self.len() {
                        // SAFETY: the trait's caller guarantees `len <= buf_capacity() == cap`
                        // and `[buf_len(), len)` initialised; `[0, buf_len())` already is
                        // (contract 2), so `[0, len)` is, which is all the inherent `set_len`
                        // (contract 5) asks.
                        unsafe { self.set_len(len) }
                    }
                }
            }
        )+};
    }

    impl_compio_buf_07!(AlignedBuf, RawIoBuf, Frame);
    #[cfg(all(target_os = "linux", feature = "compio-17"))]
    impl_compio_buf_07!(crate::fixed::FixedFrame);
}

/// The READMEs' Rust examples, compiled and run by `cargo test --doc` so they cannot drift from
/// the code. Only built for doctests, and only with `compio-17` (which implies the default
/// `compio-buf-07`), since the examples pass buffers to compio 0.17 and show its fixed frames:
/// `cargo test --all-features`, README's test command, runs them.
#[cfg(all(doctest, target_os = "linux", feature = "compio-17"))]
mod readme_doctests {
    #[doc = include_str!("../README.md")]
    struct Readme;

    #[doc = include_str!("../readme/en.md")]
    struct ReadmeEn;

    #[doc = include_str!("../readme/zh.md")]
    struct ReadmeZh;
}
