//! The memory-lock limit and the capability that lifts it, for tests that make the kernel
//! refuse a registration (`RLIMIT_MEMLOCK` is per process, `CAP_IPC_LOCK` per thread). Shared
//! by the fixed-frame test binaries.

#![allow(dead_code)] // each includer uses part of it

/// Whether this thread may pin `bytes` more: `CAP_IPC_LOCK`, or a high enough memlock limit.
pub fn can_lock(bytes: usize) -> bool {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid out-parameter.
    let res = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
    assert_eq!(res, 0);
    has_ipc_lock() || limit.rlim_cur == libc::RLIM_INFINITY || limit.rlim_cur as usize >= bytes
}

const CAP_IPC_LOCK: u32 = 14;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// This thread's capabilities (`capget`, version 3: two 32-bit words).
fn caps() -> [CapData; 2] {
    let mut header = CapHeader {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and a two-word data array, as capget version 3 wants.
    let res = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    assert_eq!(res, 0, "{}", std::io::Error::last_os_error());
    data
}

fn has_ipc_lock() -> bool {
    caps()[0].effective & (1 << CAP_IPC_LOCK) != 0
}

/// Drops `CAP_IPC_LOCK` from this thread's effective set (capabilities are per thread).
pub fn drop_ipc_lock() {
    let mut header = CapHeader {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut data = caps();
    data[0].effective &= !(1 << CAP_IPC_LOCK);
    // SAFETY: as in `caps`; lowering an effective set is always allowed.
    let res = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    assert_eq!(res, 0, "{}", std::io::Error::last_os_error());
}

/// Runs `f` on a thread of its own without `CAP_IPC_LOCK` and with the process's
/// `RLIMIT_MEMLOCK` lowered to `bytes` meanwhile (restored after, also when `f` panics):
/// registrations over it are refused with `ENOMEM`. The caller keeps other tests of its binary
/// from pinning meanwhile.
pub fn with_memlock<R: Send + 'static>(bytes: usize, f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::spawn(move || {
        drop_ipc_lock();
        let _low = MemlockLimit::lower_to(bytes);
        f()
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// `RLIMIT_MEMLOCK` lowered for a test, and restored when dropped, also when the test fails.
pub struct MemlockLimit(libc::rlimit);

impl MemlockLimit {
    pub fn lower_to(bytes: usize) -> Self {
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `old` is a valid out-parameter.
        let res = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut old) };
        assert_eq!(res, 0);
        let low = libc::rlimit {
            rlim_cur: bytes as libc::rlim_t,
            rlim_max: old.rlim_max,
        };
        // SAFETY: `low` is a valid rlimit, no higher than the hard limit.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &low) }, 0);
        Self(old)
    }
}

impl Drop for MemlockLimit {
    fn drop(&mut self) {
        // SAFETY: restores the limit read in `lower_to`, a valid rlimit.
        let res = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &self.0) };
        if res != 0 && !std::thread::panicking() {
            panic!(
                "restoring RLIMIT_MEMLOCK: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}
