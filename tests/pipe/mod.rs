//! A pipe, for tests that need an operation the kernel holds until they let it finish (a read
//! of a pipe nobody writes yet). Shared by the fixed-frame test binaries.

use std::os::fd::{FromRawFd, OwnedFd};

/// A pipe's read and write ends.
pub fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors were just opened and are owned by nothing else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}
