//! A small ext4 of its own for fault tests: an image file under `CARGO_TARGET_TMPDIR`, made
//! with `mkfs.ext4` and mounted through a loop device, so that a write past its space meets a
//! real `ENOSPC` from the kernel. Needs root, `mkfs.ext4` and loop devices: where one is missing
//! the test says what and fails, unless `JDB_ALLOC_ALLOW_SKIP=1` allows the skip.
//!
//! [`SmallFs::fail_past`] makes the device fail: it shrinks the loop device to end after a
//! file's last block, so the next block the filesystem allocates is past the device's end and
//! its write fails in the block layer with `EIO`. (Filling a tmpfs under the image does not
//! do: the loop driver drops the short write of the tmpfs and reports success, a device that
//! lies; device-mapper's `dm-error` and fault injection are absent on these machines.)

#![allow(dead_code)] // each includer uses part of it

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::scratch::Scratch;

/// A mounted ext4 of a few MiB; unmounted (which frees its loop device) and removed on drop.
pub struct SmallFs {
    /// The image file (a binary that uses this module has `mod scratch` too).
    image: Scratch,
    /// Its length in bytes, as made.
    len: u64,
    /// Where it is mounted.
    pub dir: PathBuf,
}

/// Runs `cmd` with `args` and gives its output; `Err` names the command and what it said.
fn sh(cmd: &str, args: &[&str]) -> Result<String, String> {
    match Command::new(cmd).args(args).output() {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => Err(format!(
            "`{cmd} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("`{cmd}` cannot run: {e}")),
    }
}

impl SmallFs {
    /// An ext4 of `mib` MiB named for `name` and the process, or `None` if this machine cannot
    /// make one and `JDB_ALLOC_ALLOW_SKIP=1` allows the skip (said on stderr). Panics, naming
    /// what is missing, otherwise.
    pub fn new(name: &str, mib: u64) -> Option<Self> {
        let image = Scratch::new(name);
        let dir = image.0.with_extension("mnt");
        let made = (|| {
            // SAFETY: plain system call without arguments.
            if unsafe { libc::geteuid() } != 0 {
                return Err("not root: mounting a small ext4 needs root".to_owned());
            }
            std::fs::File::create(&image.0)
                .and_then(|f| f.set_len(mib << 20))
                .map_err(|e| format!("image {}: {e}", image.0.display()))?;
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let (img, mnt) = (image.0.to_str().unwrap(), dir.to_str().unwrap());
            sh("mkfs.ext4", &["-q", "-F", "-O", "^has_journal", img])?;
            sh("mount", &["-o", "loop", img, mnt]).map(drop)
        })();
        let fs = Self {
            image,
            len: mib << 20,
            dir,
        };
        match made {
            Ok(()) => Some(fs),
            Err(what) => {
                let allowed = std::env::var_os("JDB_ALLOC_ALLOW_SKIP").is_some_and(|v| v == "1");
                assert!(
                    allowed,
                    "{what}; set JDB_ALLOC_ALLOW_SKIP=1 to skip this test"
                );
                eprintln!("SKIPPED (JDB_ALLOC_ALLOW_SKIP=1): {what}");
                None
            }
        }
    }
}

impl SmallFs {
    /// Makes every write past `file`'s last block fail with `EIO`: the image is cut after that
    /// block and the loop device told its new size; the filesystem still believes in its old
    /// size and allocates the blocks that come next beyond the device's end. (Its metadata
    /// sits in the first groups, before the file.) Undone by [`heal`](Self::heal).
    pub fn fail_past(&self, file: &Path) {
        let (block, extents) = extents(file);
        let last = extents.iter().map(|e| e.physical.end).max().unwrap();
        self.resize(last * block);
    }

    /// Cuts the device at the block that holds byte `offset` of `file`: reads of the file from
    /// there on fail with `EIO` (of the blocks after it on the device, which a file written in
    /// one go has), and those before it succeed. Undone by [`heal`](Self::heal).
    pub fn fail_within(&self, file: &Path, offset: u64) {
        let (block, extents) = extents(file);
        let at = offset / block;
        let extent = extents
            .iter()
            .find(|e| e.logical.contains(&at))
            .unwrap_or_else(|| panic!("no extent of {} holds byte {offset}", file.display()));
        self.resize((extent.physical.start + (at - extent.logical.start)) * block);
    }

    /// Drops the image's pages from the page cache, so that the device's next reads go to
    /// the disk under it and take a disk's time.
    pub fn uncache(&self) {
        use std::os::fd::AsRawFd;
        let image = std::fs::File::open(&self.image.0).unwrap();
        image.sync_all().unwrap();
        // SAFETY: an advice on a descriptor `image` keeps open; no memory is involved.
        let rc = unsafe { libc::posix_fadvise(image.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(
            rc,
            0,
            "posix_fadvise(DONTNEED) of {}",
            self.image.0.display()
        );
    }

    /// Gives the device its whole length back (the cut part reads as zeros: nothing of the
    /// filesystem was there).
    pub fn heal(&self) {
        self.resize(self.len);
    }

    fn resize(&self, len: u64) {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&self.image.0)
            .and_then(|f| f.set_len(len))
            .unwrap();
        let image = self.image.0.to_str().unwrap();
        let dev = sh("losetup", &["-j", image]).unwrap();
        let dev = dev.split(':').next().filter(|d| !d.is_empty()).unwrap();
        sh("losetup", &["-c", dev]).unwrap();
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        // Lazily if busy: it goes once the last descriptor on it closes.
        let dir = self.dir.to_str().unwrap();
        if sh("umount", &[dir]).is_err() {
            let _ = sh("umount", &["-l", dir]);
        }
        let _ = std::fs::remove_dir(&self.dir);
        // The image goes with `Scratch`.
    }
}

/// One extent of a file: its blocks in the file and on the device, end exclusive.
struct Extent {
    logical: std::ops::Range<u64>,
    physical: std::ops::Range<u64>,
}

/// The block size and the extents of `file`, as `filefrag -v` tells them.
fn extents(file: &Path) -> (u64, Vec<Extent>) {
    let map = sh("filefrag", &["-v", file.to_str().unwrap()]).unwrap();
    let block: u64 = map
        .split_once(" blocks of ")
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no block size in filefrag's output:\n{map}"));
    // Extent rows: `  0:   0..  289:   8705..  8994:  290: ...`: the logical and the physical
    // range, ends inclusive.
    let range = |field: &str| -> Option<std::ops::Range<u64>> {
        let (start, end) = field.split_once("..")?;
        Some(start.trim().parse().ok()?..end.trim().parse::<u64>().ok()? + 1)
    };
    let extents: Vec<Extent> = map
        .lines()
        .filter_map(|row| {
            let mut fields = row.split(':').skip(1);
            Some(Extent {
                logical: range(fields.next()?)?,
                physical: range(fields.next()?)?,
            })
        })
        .collect();
    assert!(
        !extents.is_empty(),
        "no extent in filefrag's output:\n{map}"
    );
    (block, extents)
}
