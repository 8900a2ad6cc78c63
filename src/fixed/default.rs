//! The default pool: one [`FixedPool`] per runtime, made the first time something asks for it
//! ([`DirectFile`](crate::direct::DirectFile) when it opens a file), sized to fit the
//! memory-lock limit, and let go of with its runtime.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use rustix::{
    process::{Resource, getrlimit},
    thread::{CapabilitySet, capabilities},
};

use super::{FixedPool, pool::current_ring};

/// How large each runtime's default pool is: [`set_default_pool`].
///
/// ```
/// use jdb_alloc::fixed::{DefaultPool, default_pool_tiers};
///
/// // 8 MiB: 23 frames of 260 KiB, 16 of 68 KiB, 28 of 20 KiB and 141 of 4 KiB.
/// let tiers = default_pool_tiers(DefaultPool::MAX_AUTO);
/// assert_eq!(tiers, [(4 << 10, 141), (20 << 10, 28), (68 << 10, 16), (260 << 10, 23)]);
/// assert!(matches!(DefaultPool::default(), DefaultPool::Auto));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DefaultPool {
    /// [`MAX_AUTO`](Self::MAX_AUTO) (8 MiB) where the thread may lock any amount of memory
    /// (`CAP_IPC_LOCK`, as root, or no `RLIMIT_MEMLOCK`); else half of what the limit leaves
    /// above the process's pinned memory (`VmPin`), at most that: the other half stays for the
    /// pools the program makes itself. (The kernel counts registered memory per user, across
    /// processes: where other processes of the user pin memory too, registration may still be
    /// refused; the frames then do plain I/O.)
    #[default]
    Auto,
    /// Pools of this many bytes (rounded down to whole frames), whatever the limit: a
    /// registration over it is refused, and the frames do plain I/O.
    Bytes(usize),
    /// No default pool: files opened without [`with_pool`](crate::direct::DirectFile::with_pool)
    /// read and stage in recycled plain buffers.
    Off,
}

impl DefaultPool {
    /// The most memory [`Auto`](Self::Auto) registers per runtime: 8 MiB.
    pub const MAX_AUTO: usize = 8 << 20;

    /// The bytes this setting gives a pool made now on this thread.
    fn budget(self) -> usize {
        match self {
            Self::Off => 0,
            Self::Bytes(n) => n,
            Self::Auto => auto_budget(),
        }
    }
}

/// The setting, encoded: `usize::MAX` for `Auto`, `usize::MAX - 1` for `Off`, else `Bytes`.
static SETTING: AtomicUsize = AtomicUsize::new(AUTO);
const AUTO: usize = usize::MAX;
const OFF: usize = usize::MAX - 1;

/// Sets how large the default pool of each runtime is, for the runtimes that have not made
/// theirs yet (one made keeps its size until its runtime drops). Process-wide; the default is
/// [`DefaultPool::Auto`].
///
/// ```
/// use jdb_alloc::fixed::{DefaultPool, default_pool_setting, set_default_pool};
///
/// set_default_pool(DefaultPool::Bytes(1 << 20));
/// assert_eq!(default_pool_setting(), DefaultPool::Bytes(1 << 20));
/// # set_default_pool(DefaultPool::Auto);
/// ```
pub fn set_default_pool(setting: DefaultPool) {
    let code = match setting {
        DefaultPool::Auto => AUTO,
        DefaultPool::Off => OFF,
        DefaultPool::Bytes(n) => n.min(OFF - 1),
    };
    SETTING.store(code, Relaxed);
}

/// The setting [`set_default_pool`] made, [`DefaultPool::Auto`] if none.
///
/// ```
/// use jdb_alloc::fixed::{DefaultPool, default_pool_setting};
///
/// assert_eq!(default_pool_setting(), DefaultPool::Auto);
/// ```
pub fn default_pool_setting() -> DefaultPool {
    match SETTING.load(Relaxed) {
        AUTO => DefaultPool::Auto,
        OFF => DefaultPool::Off,
        n => DefaultPool::Bytes(n),
    }
}

/// The frame lengths and counts of a default pool of `budget` bytes: frames of 260 KiB, 68 KiB
/// and 20 KiB (a page more than 256, 64 and 16 KiB, so that a record of that length at an
/// unaligned offset, or an appender's default 256 KiB staging, takes one frame) and of 4 KiB.
/// The largest length that is at most a quarter of the budget takes three quarters of it, each
/// smaller one half of what is left, 4 KiB the rest. By frame length, ascending, as
/// [`PoolStats::tiers`](super::PoolStats::tiers) lists them. Empty under 4 KiB.
///
/// ```
/// use jdb_alloc::fixed::default_pool_tiers;
///
/// // Under a 64 KiB memlock limit, `Auto` gives 32 KiB: eight 4 KiB frames.
/// assert_eq!(default_pool_tiers(32 << 10), [(4096, 8)]);
/// assert_eq!(default_pool_tiers(1 << 20), [(4096, 39), (20 << 10, 6), (68 << 10, 11)]);
/// assert!(default_pool_tiers(4095).is_empty());
/// ```
pub fn default_pool_tiers(budget: usize) -> Vec<(usize, usize)> {
    const LENS: [usize; 4] = [260 << 10, 68 << 10, 20 << 10, 4 << 10];
    let first = LENS
        .iter()
        .position(|&len| len <= budget / 4)
        .unwrap_or(LENS.len() - 1);
    let mut left = budget;
    let mut tiers = Vec::new();
    for (i, &len) in LENS.iter().enumerate().skip(first) {
        let share = match i {
            _ if i + 1 == LENS.len() => left,
            _ if i == first => left / 4 * 3,
            _ => left / 2,
        };
        let frames = share / len;
        if frames > 0 {
            tiers.push((len, frames));
            left -= frames * len;
        }
    }
    tiers.reverse();
    tiers
}

/// The current runtime's default pool: made on the first call on that runtime, with the
/// [`DefaultPool`] setting of that moment, registered with its ring, and let go of when the
/// runtime drops (frames still out keep their arena until they drop, on any thread).
/// [`DirectFile::open`](crate::direct::DirectFile::open) and
/// [`create`](crate::direct::DirectFile::create) give it to the files they open.
///
/// `None` outside a compio runtime (0.17, 0.19 or 0.20) with an io_uring driver, in a
/// thread-local destructor, with [`DefaultPool::Off`], or when the budget holds no 4 KiB frame
/// (a memlock limit under 8 KiB) or its memory cannot be had: files then use recycled plain
/// buffers. Where the kernel refuses the registration, the pool is made all the same and its
/// frames do plain I/O ([`FixedPool::status`] says why).
///
/// ```
/// # #[cfg(feature = "compio-19")] {
/// use compio_19 as compio; // in your crate: plain `compio` 0.19
/// use jdb_alloc::fixed::default_pool;
///
/// assert!(default_pool().is_none()); // no runtime
/// compio::runtime::Runtime::new().unwrap().block_on(async {
///     let pool = default_pool().unwrap();
///     let again = default_pool().unwrap();
///     assert_eq!(pool.stats(), again.stats()); // the same pool, made once
///     assert!(pool.try_acquire(4096).is_some());
/// });
/// # }
/// ```
pub fn default_pool() -> Option<FixedPool> {
    let ring = current_ring().ok()?;
    ring.runtime_local(|| {
        let tiers = default_pool_tiers(default_pool_setting().budget());
        if tiers.is_empty() {
            return None;
        }
        FixedPool::new(&tiers).ok()
    })
}

/// [`DefaultPool::Auto`]'s budget on this thread.
fn auto_budget() -> usize {
    (lockable() / 2).min(DefaultPool::MAX_AUTO)
}

/// The bytes this thread may still register: `usize::MAX` with `CAP_IPC_LOCK` or no
/// `RLIMIT_MEMLOCK`, else what the limit leaves over what the process has pinned (the kernel
/// counts per user, so this is the most, not a promise).
pub(crate) fn lockable() -> usize {
    let unlimited =
        capabilities(None).is_ok_and(|caps| caps.effective.contains(CapabilitySet::IPC_LOCK));
    match getrlimit(Resource::Memlock).current {
        Some(limit) if !unlimited => {
            usize::try_from(limit).map_or(usize::MAX, |limit| limit.saturating_sub(pinned()))
        }
        _ => usize::MAX,
    }
}

/// The process's pinned memory (`VmPin` of `/proc/self/status`), in bytes; 0 if unknown.
fn pinned() -> usize {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmPin:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<usize>()
                .ok()
        })
        .map_or(0, |kib| kib.saturating_mul(1024))
}
