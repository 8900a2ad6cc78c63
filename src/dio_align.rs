//! What alignment direct I/O (`O_DIRECT`) needs for a given file, asked at open time rather
//! than learned from an `EINVAL` at the first read.
//!
//! On Linux the filesystem's own answer comes from `statx(2)` with `STATX_DIOALIGN` (Linux
//! 6.1+, for the filesystems that implement it, such as ext4, xfs and f2fs, and for regular
//! files), and, for reads, `STATX_DIO_READ_ALIGN` (Linux 6.14+, where a filesystem allows reads
//! at a finer offset alignment than writes). Where it is not reported (older kernels, other
//! filesystems, directories), the fallback is the classic rule: buffer address, file offset and length aligned to the logical
//! block size of the block device that holds the file, read from sysfs. [`DioAlign::source`]
//! says which of the two answered.

use std::{io, path::Path};

use crate::ALIGNMENT;

/// Where a [`DioAlign`] came from.
///
/// ```
/// use jdb_alloc::DioSource;
///
/// # fn main() -> std::io::Result<()> {
/// # if cfg!(not(target_os = "linux")) { return Ok(()); }
/// let align = jdb_alloc::dio_align(std::env::current_dir()?)?;
/// let trusted = match align.source {
///     DioSource::Statx => "the filesystem's own word",
///     DioSource::BlockDevice => "the device's logical block size",
///     DioSource::Unknown => "nothing: the O_DIRECT open will tell",
///     _ => "a newer source",
/// };
/// println!("{trusted}");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DioSource {
    /// The filesystem, through `statx(2)` `STATX_DIOALIGN`. Authoritative for this file: zeroes
    /// mean the filesystem refuses direct I/O for it (for example ext4 with `data=journal`).
    Statx,
    /// The logical block size of the block device under the file
    /// (`/sys/dev/block/MAJ:MIN/queue/logical_block_size`, on the parent disk for a
    /// partition), used for `mem`, `offset` and `read_offset`. The filesystem did not report;
    /// this is the classic `O_DIRECT` rule, but does not know if the filesystem refuses direct I/O for
    /// this particular file.
    BlockDevice,
    /// Neither answered: no `STATX_DIOALIGN`, and no block device behind the file (tmpfs,
    /// overlay, network and FUSE filesystems, btrfs on kernels that do not report). `mem`,
    /// `offset` and `read_offset` are 0, meaning "not reported", not "refused": try the
    /// `O_DIRECT` open, which fails with `EINVAL` where direct I/O is refused. (tmpfs accepts
    /// `O_DIRECT` since Linux 6.6, with no alignment rule, and does not report it.)
    Unknown,
}

/// Alignment that direct I/O needs for one file. A 0 is a refusal only when the filesystem
/// gave it ([`DioSource::Statx`]); from [`DioSource::Unknown`] it means nobody reported, and the
/// `O_DIRECT` open is what tells.
///
/// ```
/// use jdb_alloc::{DioAlign, DioSource};
///
/// let nvme = DioAlign { mem: 4, offset: 512, read_offset: 512, source: DioSource::Statx };
/// assert!(nvme.is_supported() && nvme.is_satisfied_by_alignment());
/// // ext4 with data=journal: the filesystem refuses direct I/O for the file.
/// let refused = DioAlign { mem: 0, offset: 0, read_offset: 0, source: DioSource::Statx };
/// assert!(!refused.is_supported());
/// // tmpfs: nothing reported, so nothing is known; an O_DIRECT open may still succeed.
/// let tmpfs = DioAlign { mem: 0, offset: 0, read_offset: 0, source: DioSource::Unknown };
/// assert!(!tmpfs.is_supported() && !tmpfs.is_satisfied_by_alignment());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DioAlign {
    /// Required alignment of the buffer's address, in bytes (a power of two), or 0.
    pub mem: usize,
    /// Required alignment of the file offset and of the transfer length, in bytes (a power of
    /// two), or 0. For writes always; for reads where [`read_offset`](Self::read_offset) says
    /// no other.
    pub offset: usize,
    /// Required alignment of the file offset and of the transfer length for reads, in bytes (a
    /// power of two), or 0. The kernel's `stx_dio_read_offset_align` where it reports one
    /// (Linux 6.14+, `STATX_DIO_READ_ALIGN`; never more than `offset`), else equal to
    /// [`offset`](Self::offset).
    pub read_offset: usize,
    /// Who answered; see [`DioSource`].
    pub source: DioSource,
}

impl DioAlign {
    /// `true` if direct I/O is known to be possible: every alignment is non-zero. `false` is a
    /// refusal only from [`DioSource::Statx`] (see [`DioSource::Unknown`]).
    ///
    /// ```
    /// use jdb_alloc::{DioAlign, DioSource};
    ///
    /// let ext4 = DioAlign { mem: 512, offset: 512, read_offset: 512, source: DioSource::Statx };
    /// assert!(ext4.is_supported());
    /// let journalled = DioAlign { mem: 0, offset: 0, read_offset: 0, source: DioSource::Statx };
    /// assert!(!journalled.is_supported()); // refused by the filesystem
    /// ```
    #[inline]
    #[must_use]
    pub const fn is_supported(&self) -> bool {
        self.mem != 0 && self.offset != 0 && self.read_offset != 0
    }

    /// `true` if buffers, offsets and lengths that are multiples of `align` are known to meet
    /// this requirement, for reads and writes: direct I/O is supported and `align` is a multiple
    /// of `mem`, `offset` and `read_offset`.
    ///
    /// ```
    /// use jdb_alloc::{DioAlign, DioSource};
    ///
    /// let disk = DioAlign { mem: 4096, offset: 4096, read_offset: 4096, source: DioSource::BlockDevice };
    /// assert!(disk.is_satisfied_by(8192));
    /// assert!(!disk.is_satisfied_by(512));
    /// // Reads may be looser than writes; an alignment must meet both.
    /// let xfs = DioAlign { mem: 4, offset: 4096, read_offset: 512, source: DioSource::Statx };
    /// assert!(xfs.is_satisfied_by(4096) && !xfs.is_satisfied_by(512));
    /// ```
    #[inline]
    #[must_use]
    pub const fn is_satisfied_by(&self, align: usize) -> bool {
        self.is_supported()
            && align % self.mem == 0
            && align % self.offset == 0
            && align % self.read_offset == 0
    }

    /// `true` if this crate's buffers ([`ALIGNMENT`]-aligned, whole pages) with
    /// [`ALIGNMENT`]-aligned offsets and lengths meet this requirement.
    ///
    /// ```
    /// use jdb_alloc::{DioAlign, DioSource};
    ///
    /// let nvme = DioAlign { mem: 4, offset: 512, read_offset: 512, source: DioSource::Statx };
    /// assert!(nvme.is_satisfied_by_alignment());
    /// let big_sector = DioAlign { mem: 8192, offset: 8192, read_offset: 8192, source: DioSource::BlockDevice };
    /// assert!(!big_sector.is_satisfied_by_alignment());
    /// ```
    #[inline]
    #[must_use]
    pub const fn is_satisfied_by_alignment(&self) -> bool {
        self.is_satisfied_by(ALIGNMENT)
    }
}

/// The direct I/O alignment for the file or directory at `path` (symlinks followed).
///
/// For a directory, filesystems do not report through `statx`, so the answer is the block
/// device's ([`DioSource::BlockDevice`]), which is what a new file there gets unless the
/// filesystem refuses direct I/O for it; ask again about the file once it exists for the
/// filesystem's own word. A block device path (`/dev/nvme0n1`) is answered for that device.
///
/// What it looks like: on ext4 over a virtio disk (Linux 6.18) a file reported `mem 512,
/// offset 512` from [`DioSource::Statx`] and its directory `512/512` from
/// [`DioSource::BlockDevice`] (ext4 reports `STATX_DIOALIGN` for regular files only);
/// `/dev/shm` (tmpfs) `0/0` from [`DioSource::Unknown`]: not reported, and tmpfs on that kernel
/// accepts `O_DIRECT` opens.
///
/// # Errors
/// The operating system's error if `path` cannot be examined (for example
/// [`io::ErrorKind::NotFound`]), or if sysfs exists but cannot be read;
/// [`io::ErrorKind::Unsupported`] on platforms other than Linux.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// # if cfg!(not(target_os = "linux")) { return Ok(()); }
/// use jdb_alloc::DioSource;
///
/// let dir = std::env::current_dir()?;
/// let align = jdb_alloc::dio_align(&dir)?;
/// let who = match align.source {
///     DioSource::Statx => "the filesystem (statx)",
///     DioSource::BlockDevice => "the block device (sysfs)",
///     DioSource::Unknown => "nobody",
///     _ => "a newer source",
/// };
/// println!("buffers {} B, offsets {} B, from {who}", align.mem, align.offset);
/// assert!(align.mem == 0 || align.mem.is_power_of_two());
/// if align.source == DioSource::Unknown {
///     println!("not reported: the O_DIRECT open will tell");
/// } else if !align.is_satisfied_by_alignment() {
///     eprintln!("no direct I/O with 4 KiB buffers in {}: {align:?}", dir.display());
/// }
/// assert_eq!(
///     jdb_alloc::dio_align(dir.join("no such file")).unwrap_err().kind(),
///     std::io::ErrorKind::NotFound,
/// );
/// # Ok(())
/// # }
/// ```
pub fn dio_align(path: impl AsRef<Path>) -> io::Result<DioAlign> {
    imp::dio_align(path.as_ref())
}

/// [`dio_align`] of an open file: the file the descriptor holds, whatever its path names now.
#[cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]
pub(crate) use imp::dio_align_fd;

#[cfg(target_os = "linux")]
mod imp {
    use std::{
        fs,
        io::{self, ErrorKind},
        os::unix::fs::{FileTypeExt, MetadataExt},
        path::Path,
    };

    use rustix::{
        fs::{AtFlags, CWD, Statx, StatxFlags, major, minor, statx},
        io::Errno,
    };

    use super::{DioAlign, DioSource};

    const SYS_DEV_BLOCK: &str = "/sys/dev/block";

    /// `STATX_DIO_READ_ALIGN` (Linux 6.14): rustix has the field it fills,
    /// `stx_dio_read_offset_align`, but no named flag for it yet.
    const DIO_READ_ALIGN: StatxFlags = StatxFlags::from_bits_retain(0x0002_0000);

    pub(super) fn dio_align(path: &Path) -> io::Result<DioAlign> {
        if let Some(align) = from_statx(statx(CWD, path, AtFlags::empty(), ASKED))? {
            return Ok(align);
        }
        let meta = fs::metadata(path)?;
        let dev = if meta.file_type().is_block_device() {
            meta.rdev()
        } else {
            meta.dev()
        };
        from_device(dev)
    }

    /// As `dio_align`, asked of the open file `fd` (`statx` with `AT_EMPTY_PATH`, `fstat`).
    #[cfg(any(feature = "compio-17", feature = "compio-19", feature = "compio-20"))]
    pub(crate) fn dio_align_fd(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<DioAlign> {
        use rustix::fs::{FileType, fstat};

        if let Some(align) = from_statx(statx(fd, "", AtFlags::EMPTY_PATH, ASKED))? {
            return Ok(align);
        }
        let st = fstat(fd)?;
        let dev = if FileType::from_raw_mode(st.st_mode) == FileType::BlockDevice {
            st.st_rdev
        } else {
            st.st_dev
        };
        from_device(dev)
    }

    const ASKED: StatxFlags = StatxFlags::DIOALIGN.union(DIO_READ_ALIGN);

    /// The alignment `statx` answered with; `None` where it did not report one (or there is no
    /// `statx`).
    fn from_statx(res: rustix::io::Result<Statx>) -> io::Result<Option<DioAlign>> {
        match res {
            Ok(st) if StatxFlags::from_bits_retain(st.stx_mask).contains(StatxFlags::DIOALIGN) => {
                let offset = st.stx_dio_offset_align as usize;
                let reported = StatxFlags::from_bits_retain(st.stx_mask).contains(DIO_READ_ALIGN);
                Ok(Some(DioAlign {
                    mem: st.stx_dio_mem_align as usize,
                    offset,
                    read_offset: read_offset(reported, st.stx_dio_read_offset_align, offset),
                    source: DioSource::Statx,
                }))
            }
            Ok(_) => Ok(None),
            // No statx at all: a kernel before 4.11, or a seccomp filter that refuses it.
            Err(Errno::NOSYS | Errno::PERM) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The logical block size of the device `dev` (the file's, or the block device itself).
    fn from_device(dev: u64) -> io::Result<DioAlign> {
        Ok(
            match logical_block_size(Path::new(SYS_DEV_BLOCK), major(dev), minor(dev))? {
                Some(size) => DioAlign {
                    mem: size,
                    offset: size,
                    read_offset: size,
                    source: DioSource::BlockDevice,
                },
                None => DioAlign {
                    mem: 0,
                    offset: 0,
                    read_offset: 0,
                    source: DioSource::Unknown,
                },
            },
        )
    }

    /// The read offset alignment: the kernel's where it reported a non-zero one, else the
    /// general `offset` (statx(2): a zero `stx_dio_read_offset_align` means `offset` applies).
    pub(super) fn read_offset(reported: bool, read_align: u32, offset: usize) -> usize {
        if reported && read_align != 0 {
            read_align as usize
        } else {
            offset
        }
    }

    /// The logical block size of device `maj:min` from a `/sys/dev/block`-shaped tree, or
    /// `None` if the tree has no block device by that number (including no sysfs at all).
    ///
    /// A partition has no `queue` directory of its own (it has a `partition` file instead); its
    /// queue is its disk's, the parent directory once the `maj:min` link is followed.
    pub(super) fn logical_block_size(
        sys_dev_block: &Path,
        maj: u32,
        min: u32,
    ) -> io::Result<Option<usize>> {
        let dev = sys_dev_block.join(format!("{maj}:{min}"));
        // `Path::is_dir` would read any error (a permission refused, a link loop) as "no": an
        // error must come back as one, not as "no block device".
        let file = if exists(&dev.join("queue"))? {
            dev.join("queue/logical_block_size")
        } else if exists(&dev.join("partition"))? {
            dev.join("../queue/logical_block_size")
        } else {
            return Ok(None);
        };
        let text = match fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        text.trim().parse().map(Some).map_err(|_| {
            io::Error::new(
                ErrorKind::InvalidData,
                format!("{}: expected a block size, found {text:?}", file.display()),
            )
        })
    }

    /// Whether `path` exists (links followed): `false` only when it, or a directory on the way,
    /// is not there; any other failure to look is an error naming the path.
    fn exists(path: &Path) -> io::Result<bool> {
        match fs::metadata(path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::{io, path::Path};

    use super::DioAlign;

    pub(super) fn dio_align(_: &Path) -> io::Result<DioAlign> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "dio_align: direct I/O alignment discovery is implemented for Linux only",
        ))
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::{fs, os::unix::fs::symlink, path::PathBuf};

    use super::imp::{logical_block_size, read_offset};

    /// A fake `/sys/dev/block` in a fresh directory, removed on drop.
    struct FakeSysfs(PathBuf);

    impl FakeSysfs {
        /// `name` keeps the trees of tests running at the same time apart.
        fn new(name: &str) -> Self {
            let root =
                std::env::temp_dir().join(format!("jdb_alloc_sysfs_{name}_{}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            let file = |rel: &str, text: &str| {
                let path = root.join(rel);
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(path, text).unwrap();
            };
            // A disk with 4 KiB blocks and one partition, a 512-byte disk, a bad value, and a
            // device with neither a queue nor a partition file.
            file("devices/sda/queue/logical_block_size", "4096\n");
            file("devices/sda/sda1/partition", "1\n");
            file("devices/vdb/queue/logical_block_size", "512\n");
            file("devices/bad/queue/logical_block_size", "lots\n");
            file("devices/odd/dev", "9:0\n");
            file(
                "devices/plain",
                "a file where a device directory should be\n",
            );
            fs::create_dir_all(root.join("block")).unwrap();
            for (link, target) in [
                ("8:0", "sda"),
                ("8:1", "sda/sda1"),
                ("254:16", "vdb"),
                ("1:1", "bad"),
                ("9:0", "odd"),
                ("7:7", "plain"),
            ] {
                symlink(
                    format!("../devices/{target}"),
                    root.join("block").join(link),
                )
                .unwrap();
            }
            Self(root)
        }
    }

    impl Drop for FakeSysfs {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn reads_disks_partitions_and_refuses_the_rest() {
        let sys = FakeSysfs::new("disks");
        let block = sys.0.join("block");
        assert_eq!(logical_block_size(&block, 8, 0).unwrap(), Some(4096));
        assert_eq!(logical_block_size(&block, 8, 1).unwrap(), Some(4096));
        assert_eq!(logical_block_size(&block, 254, 16).unwrap(), Some(512));
        assert_eq!(logical_block_size(&block, 9, 0).unwrap(), None);
        assert_eq!(logical_block_size(&block, 0, 42).unwrap(), None);
        assert_eq!(logical_block_size(&sys.0.join("none"), 8, 0).unwrap(), None);
        let err = logical_block_size(&block, 1, 1).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("lots"), "{err}");
    }

    /// A failure to look (here: a link loop, and a file where a directory should be; for an
    /// unprivileged process, a permission refused) is an error, never "no block device".
    #[test]
    fn a_failure_to_look_is_an_error_not_unknown() {
        let sys = FakeSysfs::new("failures");
        let block = sys.0.join("block");
        symlink("9:9", block.join("9:9")).unwrap();
        let err = logical_block_size(&block, 9, 9).unwrap_err();
        assert!(err.to_string().contains("9:9"), "{err}");
        let err = logical_block_size(&block, 7, 7).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotADirectory, "{err}");
        assert!(err.to_string().contains("7:7/queue"), "{err}");
    }

    #[test]
    fn read_offset_falls_back_to_offset() {
        assert_eq!(read_offset(true, 512, 4096), 512);
        assert_eq!(read_offset(true, 0, 4096), 4096);
        assert_eq!(read_offset(false, 512, 4096), 4096);
    }
}
