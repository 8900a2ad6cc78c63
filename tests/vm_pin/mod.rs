//! The memory this process has pinned (`VmPin` in `/proc/self/status`): io_uring counts
//! registered buffers there, also for a process with `CAP_IPC_LOCK`. Shared by the fixed-frame
//! test binaries.

/// Bytes pinned by this process (`VmPin`): io_uring counts registered buffers there.
pub fn pinned() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmPin:"))
        .expect("VmPin in /proc/self/status");
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}
