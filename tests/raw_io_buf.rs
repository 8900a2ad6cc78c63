//! `RawIoBuf`: every public method, the checked sub-views that refuse out-of-bounds, overflowing
//! and misaligned ranges (in release builds too), and views shared between copies and threads.

use std::{
    cell::RefCell,
    panic::{self, UnwindSafe},
    ptr::NonNull,
    sync::Once,
    thread,
};

use jdb_alloc::{ALIGNMENT, AlignedBuf, PAGE_SIZE, RawIoBuf};

/// A zeroed arena of `pages` pages and a full view of it (`len == cap`).
///
/// The view must not outlive the arena; each test keeps the arena alive for as long as it uses
/// the view and touches the bytes only through one path at a time.
fn arena(pages: usize) -> (AlignedBuf, RawIoBuf) {
    let arena = AlignedBuf::zeroed(pages * PAGE_SIZE).unwrap();
    // SAFETY: the returned view travels with its arena (see above); the bytes are zeroed.
    let view = unsafe { arena.as_raw_view() };
    (arena, view)
}

#[test]
fn new_is_an_empty_view() {
    let (arena, _) = arena(1);
    // SAFETY: the arena is live for `PAGE_SIZE` bytes for the whole test.
    let view = unsafe { RawIoBuf::new(arena.as_ptr().cast_mut(), PAGE_SIZE) };
    assert_eq!(
        (view.as_ptr(), view.len(), view.cap()),
        (arena.as_ptr(), 0, PAGE_SIZE)
    );
    assert!(view.is_empty());
    assert_eq!(view.as_slice(), &[] as &[u8]);
    assert_eq!(view.as_mut_ptr().cast_const(), view.as_ptr());
}

/// `slice::from_raw_parts` requires a non-null pointer even for length 0 (a debug build aborts
/// with "unsafe precondition(s) violated"), so a view made from null must not hand it one.
#[test]
fn a_null_pointer_with_cap_zero_is_an_empty_view() {
    // SAFETY: an empty view of nothing, as `new` allows.
    let mut view = unsafe { RawIoBuf::new(std::ptr::null_mut(), 0) };
    assert_eq!((view.len(), view.cap()), (0, 0));
    assert!(view.as_slice().is_empty());
    assert!(view.as_mut_slice().is_empty());
    assert!(!view.as_ptr().is_null());
    assert_eq!(view.as_ptr() as usize % ALIGNMENT, 0);
}

#[test]
fn with_len_sets_any_length_up_to_cap() {
    let (_arena, view) = arena(2);
    // SAFETY: the arena is zeroed, so every length up to `cap` covers initialised bytes.
    let empty = unsafe { view.with_len(0) };
    assert!(empty.is_empty());
    // SAFETY: as above.
    let full = unsafe { empty.with_len(2 * PAGE_SIZE) };
    assert_eq!((full.len(), full.cap()), (2 * PAGE_SIZE, 2 * PAGE_SIZE));
    assert!(full.as_slice().iter().all(|&b| b == 0));
}

#[test]
#[should_panic(expected = "RawIoBuf::with_len: len 4097 exceeds cap 4096")]
fn with_len_refuses_a_length_past_cap() {
    let (_arena, view) = arena(1);
    // SAFETY: never reached with a length past `cap`: it panics first.
    let _ = unsafe { view.with_len(PAGE_SIZE + 1) };
}

#[test]
fn from_raw_parts_keeps_every_part() {
    let (arena, _) = arena(1);
    let ptr = NonNull::new(arena.as_ptr().cast_mut()).unwrap();
    // SAFETY: the arena is live and zeroed for `PAGE_SIZE` bytes for the whole test.
    let view = unsafe { RawIoBuf::from_raw_parts(ptr, 10, PAGE_SIZE) };
    assert_eq!(
        (view.as_ptr(), view.len(), view.cap()),
        (arena.as_ptr(), 10, PAGE_SIZE)
    );
    assert_eq!(view.as_slice(), &[0; 10]);
}

#[test]
fn from_slice_views_the_whole_slice() {
    let mut bytes = *b"plain memory";
    // SAFETY: `bytes` outlives the view and is only accessed through it meanwhile.
    let mut view = unsafe { RawIoBuf::from_slice(&mut bytes) };
    assert_eq!((view.len(), view.cap()), (12, 12));
    view.as_mut_slice()[0] = b'P';
    assert_eq!(view.as_slice(), b"Plain memory");
    assert_eq!(&bytes, b"Plain memory");
}

#[test]
fn slice_is_an_empty_sub_view_for_reading() {
    let (_arena, view) = arena(3);
    // SAFETY: in bounds and aligned; the sub-views are only inspected.
    let (head, mid, end) = unsafe {
        (
            view.slice(0, 3 * PAGE_SIZE),
            view.slice(PAGE_SIZE, PAGE_SIZE),
            view.slice(3 * PAGE_SIZE, 0),
        )
    };
    for (sub, offset, cap) in [
        (head, 0, 3 * PAGE_SIZE),
        (mid, PAGE_SIZE, PAGE_SIZE),
        (end, 3 * PAGE_SIZE, 0),
    ] {
        assert_eq!(sub.as_ptr() as usize, view.as_ptr() as usize + offset);
        assert_eq!((sub.len(), sub.cap()), (0, cap));
    }
}

#[test]
fn slice_data_is_a_full_sub_view_for_writing() {
    let (_arena, mut view) = arena(3);
    view.as_mut_slice()[PAGE_SIZE..2 * PAGE_SIZE].fill(7);
    // SAFETY: in bounds, aligned, and the bytes are initialised (zeroed arena).
    let sub = unsafe { view.slice_data(PAGE_SIZE, PAGE_SIZE) };
    assert_eq!(sub.as_ptr() as usize, view.as_ptr() as usize + PAGE_SIZE);
    assert_eq!((sub.len(), sub.cap()), (PAGE_SIZE, PAGE_SIZE));
    assert!(sub.as_slice().iter().all(|&b| b == 7));
}

#[test]
#[should_panic(expected = "RawIoBuf::slice: range offset 4096 + len 8192 exceeds cap 8192")]
fn slice_refuses_a_range_past_cap() {
    let (_arena, view) = arena(2);
    // SAFETY: the call panics; no sub-view is made.
    let _ = unsafe { view.slice(PAGE_SIZE, 2 * PAGE_SIZE) };
}

#[test]
#[should_panic(expected = "RawIoBuf::slice_data: range offset 12288 + len 0 exceeds cap 8192")]
fn slice_data_refuses_an_offset_past_cap() {
    let (_arena, view) = arena(2);
    // SAFETY: the call panics; no sub-view is made.
    let _ = unsafe { view.slice_data(3 * PAGE_SIZE, 0) };
}

#[test]
#[should_panic(
    expected = "RawIoBuf::slice: range offset 18446744073709547520 + len 8192 exceeds cap 8192"
)]
fn slice_refuses_an_offset_plus_len_that_overflows() {
    let (_arena, view) = arena(2);
    // SAFETY: the call panics; no sub-view is made.
    let _ = unsafe { view.slice(usize::MAX - (PAGE_SIZE - 1), 2 * PAGE_SIZE) };
}

#[test]
#[should_panic(
    expected = "RawIoBuf::slice_data: range offset 4096 + len 18446744073709551615 exceeds cap 8192"
)]
fn slice_data_refuses_a_len_that_overflows() {
    let (_arena, view) = arena(2);
    // SAFETY: the call panics; no sub-view is made.
    let _ = unsafe { view.slice_data(PAGE_SIZE, usize::MAX) };
}

#[test]
#[should_panic(expected = "RawIoBuf::slice: offset 512 (len 512, cap 8192) is not 4096-aligned")]
fn slice_refuses_a_misaligned_offset() {
    let (_arena, view) = arena(2);
    // SAFETY: the call panics; no sub-view is made.
    let _ = unsafe { view.slice(512, 512) };
}

#[test]
#[should_panic(
    expected = "RawIoBuf::slice_data: offset 100 (len 4096, cap 8192) is not 4096-aligned"
)]
fn slice_data_refuses_a_misaligned_offset() {
    let (_arena, view) = arena(2);
    // SAFETY: the call panics; no sub-view is made.
    let _ = unsafe { view.slice_data(100, PAGE_SIZE) };
}

#[test]
fn alignment_is_checked_on_the_address_not_the_offset() {
    let (_arena, view) = arena(2);
    // SAFETY: a view of the arena's bytes [512, 8192), alive as long as the arena.
    let shifted = unsafe { RawIoBuf::new(view.as_mut_ptr().add(512), 2 * PAGE_SIZE - 512) };
    let at_zero = std::panic::catch_unwind(|| {
        // SAFETY: in bounds; the call panics on alignment before making a sub-view.
        unsafe { shifted.slice(0, 512) }
    });
    let msg = *at_zero.unwrap_err().downcast::<String>().unwrap();
    assert!(
        msg.contains("offset 0 (len 512, cap 7680) is not 4096-aligned"),
        "{msg}"
    );
    // SAFETY: `ptr + 3584` is the arena's second page: aligned and in bounds.
    let page = unsafe { shifted.slice(PAGE_SIZE - 512, PAGE_SIZE) };
    assert_eq!(page.as_ptr() as usize % ALIGNMENT, 0);
    assert_eq!(page.as_ptr() as usize, view.as_ptr() as usize + PAGE_SIZE);
}

#[test]
fn slice_unchecked_does_what_slice_does_without_checks() {
    let (_arena, view) = arena(2);
    // SAFETY: in bounds; the misaligned sub-view is only inspected, never used for I/O.
    let sub = unsafe { view.slice_unchecked(512, 1024) };
    assert_eq!(sub.as_ptr() as usize, view.as_ptr() as usize + 512);
    assert_eq!((sub.len(), sub.cap()), (0, 1024));
}

#[test]
fn copies_share_their_memory() {
    let (arena, view) = arena(1);
    let mut writer = view;
    let reader = view;
    writer.as_mut_slice()[..5].copy_from_slice(b"hello");
    assert_eq!(&reader.as_slice()[..5], b"hello");
    assert_eq!(&arena[..5], b"hello");
}

#[test]
fn set_len_grows_and_shrinks_over_initialised_bytes() {
    let (_arena, view) = arena(1);
    // SAFETY: an empty length claims nothing.
    let mut frame = unsafe { view.with_len(0) };
    // SAFETY: the arena is zeroed, so every byte up to `cap` is initialised.
    unsafe { frame.set_len(100) };
    assert_eq!(frame.as_slice(), &[0; 100]);
    // SAFETY: as above.
    unsafe { frame.set_len(7) };
    assert_eq!(frame.len(), 7);
}

#[test]
fn debug_names_pointer_length_and_capacity() {
    let (_arena, view) = arena(1);
    // SAFETY: the arena is zeroed, so the first 3 bytes are initialised.
    let text = format!("{:?}", unsafe { view.with_len(3) });
    assert!(text.starts_with("RawIoBuf {"), "{text}");
    assert!(
        text.contains(&format!("ptr: {:?}", view.as_ptr())),
        "{text}"
    );
    assert!(
        text.contains("len: 3") && text.contains("cap: 4096"),
        "{text}"
    );
}

#[test]
fn frames_can_be_filled_on_other_threads() {
    let arena = AlignedBuf::zeroed(4 * PAGE_SIZE).unwrap();
    // SAFETY: each frame goes to exactly one thread, all threads are joined inside the scope,
    // and the arena is read only after that.
    let frames: Vec<RawIoBuf> = unsafe { arena.slice_into_raws(PAGE_SIZE) }.collect();
    thread::scope(|s| {
        for (i, frame) in frames.into_iter().enumerate() {
            s.spawn(move || {
                // SAFETY: the arena is zeroed, so the whole frame is initialised.
                unsafe { frame.with_len(PAGE_SIZE) }
                    .as_mut_slice()
                    .fill(i as u8 + 10)
            });
        }
    });
    for (i, page) in arena.chunks(PAGE_SIZE).enumerate() {
        assert!(page.iter().all(|&b| b == i as u8 + 10), "page {i}");
    }
}

/// The file a panic in `f` is reported at, and its message.
///
/// A process-wide hook records the location for the panicking thread (tests run in parallel,
/// each on its own thread), and then prints as the default hook does.
fn panic_site(f: impl FnOnce() + UnwindSafe) -> (String, String) {
    thread_local!(static SITE: RefCell<String> = const { RefCell::new(String::new()) });
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let file = info
                .location()
                .map(|l| l.file().to_owned())
                .unwrap_or_default();
            SITE.with(|site| *site.borrow_mut() = file);
            default(info);
        }));
    });
    let payload = panic::catch_unwind(f).expect_err("no panic");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    (SITE.with(|site| site.borrow().clone()), message)
}

/// Panics on bad arguments name the values and point at the caller (this file), not at a line
/// inside jdb_alloc.
#[test]
fn panics_point_at_the_caller_and_name_the_values() {
    let (_arena, view) = arena(1);
    let (file, message) = panic_site(|| {
        // SAFETY: never gets past the length check.
        let _ = unsafe { view.with_len(PAGE_SIZE + 1) };
    });
    assert_eq!(file, file!(), "{message}");
    assert_eq!(message, "RawIoBuf::with_len: len 4097 exceeds cap 4096");

    let arena = AlignedBuf::with_cap(2 * PAGE_SIZE).unwrap();
    // SAFETY: never gets past the chunk check.
    let (file, message) = panic_site(|| drop(unsafe { arena.slice_into_raws(100) }));
    assert_eq!(file, file!(), "{message}");
    assert!(
        message.contains("chunk 100") && message.contains("cap is 8192"),
        "{message}"
    );

    let (file, message) = panic_site(|| {
        // SAFETY: never gets past the range check.
        let _ = unsafe { view.slice(PAGE_SIZE, 1) };
    });
    assert_eq!(file, file!(), "{message}");
    assert!(
        message.contains("offset 4096 + len 1 exceeds cap 4096"),
        "{message}"
    );
}
