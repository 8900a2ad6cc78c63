//! The system calls behind [`DirectFile`](super::DirectFile) that compio does not wrap: turning
//! on `O_DIRECT`, naming the filesystem that refuses it, and the size operations.

use std::{io, os::fd::BorrowedFd, path::Path};

use rustix::fs::{FallocateFlags, Mode, OFlags};

/// Adds `O_DIRECT` to the open file's flags (`fcntl(F_SETFL)`, which keeps any other flags the
/// caller opened with). A filesystem without direct I/O refuses here, at open time, rather
/// than with an `EINVAL` at the first read. A file open with `O_APPEND` is refused.
pub(super) fn enable_direct(fd: BorrowedFd<'_>, path: &Path) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(fd)?;
    if flags.contains(OFlags::APPEND) {
        // Linux then writes every positioned write at the end of the file (pwrite(2), BUGS).
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is open with O_APPEND, which sends every positioned write to the end of \
                 the file: open it without",
                path.display()
            ),
        ));
    }
    if flags.contains(OFlags::DIRECT) {
        return Ok(());
    }
    rustix::fs::fcntl_setfl(fd, flags | OFlags::DIRECT)
        .map_err(|e| refused(fd, path, &io::Error::from(e).to_string()))
}

/// The error for a file whose filesystem does not do direct I/O: names the path, the
/// filesystem type and what refused.
pub(super) fn refused(fd: BorrowedFd<'_>, path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "direct I/O (O_DIRECT) is not supported for {} on its {} filesystem: {why}",
            path.display(),
            fs_name(fd),
        ),
    )
}

/// The filesystem type of `fd`, by name for the common ones (`statfs(2)` `f_type`).
pub(super) fn fs_name(fd: BorrowedFd<'_>) -> String {
    let Ok(stat) = rustix::fs::fstatfs(fd) else {
        return "unknown".into();
    };
    // The magic numbers of linux/magic.h; `f_type` is signed on some targets.
    #[allow(clippy::unnecessary_cast)]
    let magic = stat.f_type as u64 & 0xffff_ffff;
    let name = match magic {
        0xef53 => "ext4",
        0x5846_5342 => "xfs",
        0x9123_683e => "btrfs",
        0xf2f5_2010 => "f2fs",
        0x0102_1994 => "tmpfs",
        0x8584_58f6 => "ramfs",
        0x9fa0 => "proc",
        0x6265_6572 => "sysfs",
        0x6573_5546 => "fuse",
        0x794c_7630 => "overlayfs",
        0x6969 => "nfs",
        0xff53_4d42 => "cifs",
        0x0102_1997 => "9p",
        0x2fc1_2fc1 => "zfs",
        _ => return format!("type {magic:#x}"),
    };
    name.into()
}

/// `fallocate(2)` of `[offset, offset + len)`; `keep_size` leaves the file's length as it is.
/// On failure the length is as before: ext4 keeps the blocks it could allocate before `ENOSPC`,
/// and the length with them, which would leave a log's file longer than its records.
pub(super) fn preallocate(
    fd: BorrowedFd<'_>,
    offset: u64,
    len: u64,
    keep_size: bool,
) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    let flags = if keep_size {
        FallocateFlags::KEEP_SIZE
    } else {
        FallocateFlags::empty()
    };
    let before = if keep_size { 0 } else { self::len(fd)? };
    rustix::fs::fallocate(fd, flags, offset, len).map_err(|e| {
        let mut msg = format!("preallocate({len} bytes at {offset}, keep_size {keep_size}): {e}");
        if !keep_size && self::len(fd).is_ok_and(|now| now > before) {
            if let Err(back) = set_len(fd, before) {
                msg += &format!("; the length it left could not be put back to {before}: {back}");
            }
        }
        io::Error::new(io::Error::from(e).kind(), msg)
    })
}

/// `ftruncate(2)`.
pub(super) fn set_len(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    rustix::fs::ftruncate(fd, len)
        .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("set_len({len}): {e}")))
}

/// The file's length (`fstat(2)`).
pub(super) fn len(fd: BorrowedFd<'_>) -> io::Result<u64> {
    Ok(rustix::fs::fstat(fd)?.st_size as u64)
}

/// `fsync(2)` of the directory that holds `path`: makes its entry, a file just created, durable
/// (a file's own sync does not cover the directory it is in).
pub(super) fn sync_parent(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    rustix::fs::open(dir, flags, Mode::empty())
        .and_then(|fd| rustix::fs::fsync(&fd))
        .map_err(|e| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!(
                    "sync of directory {} after creating {}: {e}",
                    dir.display(),
                    path.display()
                ),
            )
        })
}
