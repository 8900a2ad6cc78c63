//! Huge pages for arenas, opt-in: the public switch ([`HugePages`]), what came of it
//! ([`HugePageStatus`]), and how a huge arena is sized and mapped.
//!
//! A huge arena's capacity is at least [`MAP_THRESHOLD`], so it is an anonymous mapping like any
//! other buffer of that size and is released the same way, knowing only its capacity:
//! `into_raw_parts` / `from_raw_parts` round-trip it (DESIGN decision 4).

use std::ptr::NonNull;

use crate::{Error, MAP_THRESHOLD, Result, mem};

/// Size of a (PMD-level) transparent huge page on x86-64 and 4 KiB-page arm64 Linux: 2 MiB.
///
/// Huge arenas start on a multiple of it and are a whole number of it long.
///
/// ```
/// use jdb_alloc::{AlignedBuf, HUGE_PAGE_SIZE, HugePageStatus, HugePages};
///
/// let (arena, status) = AlignedBuf::zeroed_huge(40 << 20, HugePages::Try).unwrap();
/// assert_eq!(arena.cap() % HUGE_PAGE_SIZE, 0); // whole huge pages
/// if status == HugePageStatus::Advised {
///     assert_eq!(arena.as_ptr() as usize % HUGE_PAGE_SIZE, 0);
/// }
/// ```
pub const HUGE_PAGE_SIZE: usize = 2 << 20;

/// Whether an arena asks for transparent huge pages, in the spirit of PostgreSQL's
/// `huge_pages = off | try | on`. Used by [`AlignedBuf::zeroed_huge`].
///
/// On Linux a huge arena is an anonymous mapping that starts on a 2 MiB boundary, is a whole
/// number of 2 MiB extents long, and is advised `madvise(MADV_HUGEPAGE)`: the kernel then backs
/// each 2 MiB extent with one huge page when it is first touched (if it finds a free 2 MiB block
/// of memory) instead of 512 separate 4 KiB pages.
///
/// # When it helps, when it hurts
///
/// - It helps a large arena used densely, such as a buffer pool that will be filled: one page
///   fault per 2 MiB instead of 512 makes warming the pool up several times faster, and one TLB
///   entry per 2 MiB speeds up random access across it.
/// - It hurts sparse use: touching one byte of an extent makes the whole 2 MiB resident (and
///   zeroes it), so an arena touched here and there can take up to 512 times the memory it
///   would take with 4 KiB pages. Under memory pressure the first touch may also stall while the
///   kernel compacts memory into a free 2 MiB block (`/sys/kernel/mm/transparent_hugepage/defrag`).
///
/// Measured on 2 vCPUs with THP `madvise` (`cargo bench --bench compare`,
/// `benches/RESULTS.md`): building a pool of 100,000 frames of 4 KiB and writing the first
/// bytes of each took 37 ms with huge pages, 179 ms without and 236 ms with jdb_alloc 0.1.4;
/// writing one byte every 64 KiB of a 1 GiB arena made 64 MiB resident with 4 KiB pages and all
/// 1024 MiB with huge pages.
///
/// Copies of a huge arena ([`Clone`], [`AlignedBuf::try_clone`]) are ordinary buffers.
///
/// ```
/// use jdb_alloc::{AlignedBuf, Error, HUGE_PAGE_SIZE, HugePageStatus, HugePages, PAGE_SIZE};
///
/// // A 64 MiB buffer pool that asks for huge pages and falls back if the kernel says no.
/// let (arena, status) = AlignedBuf::zeroed_huge(64 << 20, HugePages::Try).unwrap();
/// match status {
///     HugePageStatus::Advised => assert_eq!(arena.as_ptr() as usize % HUGE_PAGE_SIZE, 0),
///     HugePageStatus::Unavailable => {} // an ordinary mapping of the same capacity
///     HugePageStatus::NotRequested => unreachable!("only HugePages::Off says this"),
/// }
/// assert_eq!((arena.len(), arena.cap()), (64 << 20, 64 << 20));
///
/// // Frames of it make a pool without unsafe, as with any arena.
/// let frames = arena.into_frames(PAGE_SIZE).unwrap();
/// assert_eq!(frames.len(), (64 << 20) / PAGE_SIZE);
///
/// // `On` refuses instead of falling back, and says why.
/// match AlignedBuf::zeroed_huge(64 << 20, HugePages::On) {
///     Ok((_, status)) => assert_eq!(status, HugePageStatus::Advised),
///     Err(Error::HugePagesUnavailable { size, reason }) => {
///         eprintln!("no huge pages for {size} bytes: {reason}")
///     }
///     Err(other) => panic!("unexpected: {other}"),
/// }
/// ```
///
/// [`AlignedBuf::zeroed_huge`]: crate::AlignedBuf::zeroed_huge
/// [`AlignedBuf::try_clone`]: crate::AlignedBuf::try_clone
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum HugePages {
    /// Do not ask: exactly [`AlignedBuf::zeroed`](crate::AlignedBuf::zeroed). The system-wide
    /// policy still applies, as to any memory (under THP `always` the kernel may use huge pages
    /// anyway).
    #[default]
    Off,
    /// Ask; if the kernel will not give huge pages, fall back silently to an ordinary arena of
    /// the same capacity and report [`HugePageStatus::Unavailable`].
    Try,
    /// Ask; if the kernel will not give huge pages, fail with
    /// [`Error::HugePagesUnavailable`](crate::Error::HugePagesUnavailable) saying why.
    On,
}

/// What came of a request for huge pages (see [`AlignedBuf::zeroed_huge`]).
///
/// [`AlignedBuf::zeroed_huge`]: crate::AlignedBuf::zeroed_huge
///
/// ```
/// use jdb_alloc::{AlignedBuf, HugePageStatus, HugePages};
///
/// let (arena, status) = AlignedBuf::zeroed_huge(64 << 20, HugePages::Try).unwrap();
/// match status {
///     HugePageStatus::Advised => println!("{} MiB advised for huge pages", arena.cap() >> 20),
///     other => println!("4 KiB pages: {other:?}"),
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HugePageStatus {
    /// Huge pages were not asked for ([`HugePages::Off`]).
    NotRequested,
    /// The arena is 2 MiB-aligned, a whole number of 2 MiB long, and the kernel accepted
    /// `madvise(MADV_HUGEPAGE)` for it, with transparent huge pages enabled (`always` or
    /// `madvise`, or the setting unreadable) and not disabled for this process.
    ///
    /// This is the kernel's promise to *try*, not a reservation: each 2 MiB extent gets a huge
    /// page at its first touch if a free 2 MiB block of physical memory can be found (else
    /// 4 KiB pages, which `khugepaged` may collapse later). What is actually backed by huge pages
    /// is `AnonHugePages` in `/proc/self/smaps` for the arena's range.
    Advised,
    /// [`HugePages::Try`] fell back: the arena is an ordinary mapping (or, off Linux, ordinary
    /// memory) of the same capacity. [`HugePages::On`] would have returned the reason as an
    /// error.
    Unavailable,
}

/// The capacity of a huge arena holding `size` bytes: rounded up to whole 2 MiB extents, and at
/// least [`MAP_THRESHOLD`] so that it is an anonymous mapping of its own.
pub(crate) fn capacity_for(size: usize) -> Result<usize> {
    let max = mem::MAX_CAP & !(HUGE_PAGE_SIZE - 1);
    if size > max {
        return Err(Error::TooLarge {
            requested: size,
            max,
        });
    }
    // Cannot overflow: size <= max, far below usize::MAX - HUGE_PAGE_SIZE.
    let rounded = (size + HUGE_PAGE_SIZE - 1) & !(HUGE_PAGE_SIZE - 1);
    Ok(rounded.max(MAP_THRESHOLD))
}

/// A zero-reading block of `cap` bytes (from [`capacity_for`]) for [`HugePages::Try`] or
/// [`HugePages::On`], and what came of the request. [`mem::release`] takes it back.
pub(crate) fn allocate(cap: usize, mode: HugePages) -> Result<(NonNull<u8>, HugePageStatus)> {
    debug_assert!(mode != HugePages::Off && cap >= MAP_THRESHOLD);
    match advised(cap)? {
        Ok(ptr) => Ok((ptr, HugePageStatus::Advised)),
        Err(reason) if mode == HugePages::On => {
            Err(Error::HugePagesUnavailable { size: cap, reason })
        }
        Err(_) => Ok((
            mem::allocate(cap, mem::Fill::Zeroed)?,
            HugePageStatus::Unavailable,
        )),
    }
}

/// A 2 MiB-aligned mapping of `cap` bytes advised for huge pages, or why the kernel refuses one
/// (the outer error is a failure to map memory at all).
#[cfg(target_os = "linux")]
fn advised(cap: usize) -> Result<std::result::Result<NonNull<u8>, String>> {
    if let Some(reason) = thp::refusal() {
        return Ok(Err(reason));
    }
    let ptr = mem::allocate_aligned(cap, HUGE_PAGE_SIZE)?;
    // SAFETY: `[ptr, ptr + cap)` is the page-aligned mapping just made, owned here.
    match unsafe { crate::os_mem::advise_huge(ptr, cap) } {
        Ok(()) => Ok(Ok(ptr)),
        Err(errno) => {
            // SAFETY: `ptr` came from `allocate_aligned(cap, _)` just above; no reference into
            // it exists.
            unsafe { mem::release(ptr, cap) };
            Ok(Err(format!("madvise(MADV_HUGEPAGE) failed: {errno}")))
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advised(_cap: usize) -> Result<std::result::Result<NonNull<u8>, String>> {
    Ok(Err("transparent huge pages are a Linux feature".to_owned()))
}

/// What the kernel says about transparent huge pages, before anything is mapped.
#[cfg(target_os = "linux")]
mod thp {
    use super::HUGE_PAGE_SIZE;

    const SYSFS: &str = "/sys/kernel/mm/transparent_hugepage";

    /// Why the kernel will not give this process 2 MiB transparent huge pages, if it will not.
    ///
    /// A setting that cannot be read (no sysfs, as in some containers) is no refusal: `madvise`
    /// has the last word.
    pub(super) fn refusal() -> Option<String> {
        let pmd_size = std::fs::read_to_string(format!("{SYSFS}/hpage_pmd_size")).ok();
        // A plain `filter`, not a let chain: the crate's rust-version (1.85) predates them.
        if let Some(bytes) = pmd_size
            .as_deref()
            .map(str::trim)
            .filter(|bytes| *bytes != HUGE_PAGE_SIZE.to_string())
        {
            return Some(format!(
                "the kernel's huge page is {bytes} bytes ({SYSFS}/hpage_pmd_size), not 2 MiB"
            ));
        }
        // Since Linux 6.8 each huge page size has its own switch, which may defer ("inherit") to
        // the global one.
        let sized = format!("{SYSFS}/hugepages-2048kB/enabled");
        let global = format!("{SYSFS}/enabled");
        let (file, policy) = match selected(&sized) {
            Some(p) if p != "inherit" => (sized, Some(p)),
            _ => {
                let p = selected(&global);
                (global, p)
            }
        };
        if policy.as_deref() == Some("never") {
            return Some(format!(
                "transparent huge pages are disabled: `never` in {file}"
            ));
        }
        // Linux 6.18 added a variant of this switch that still allows advised memory
        // (`PR_THP_DISABLE_EXCEPT_ADVISED`); it reads as "disabled" here too, so `On` fails
        // rather than claim huge pages it cannot check.
        if rustix::thread::transparent_huge_pages_are_disabled() == Ok(true) {
            return Some(
                "transparent huge pages are disabled for this process (prctl PR_SET_THP_DISABLE)"
                    .to_owned(),
            );
        }
        None
    }

    /// The bracketed choice in a sysfs setting such as `always [madvise] never`.
    fn selected(path: &str) -> Option<String> {
        let text = std::fs::read_to_string(path).ok()?;
        let start = text.find('[')? + 1;
        let len = text[start..].find(']')?;
        Some(text[start..start + len].to_owned())
    }
}
