//! A small ext4 of its own for fault tests: an image file under `CARGO_TARGET_TMPDIR`, made
//! with `mkfs.ext4` and mounted through a loop device, so that a write past its space meets a
//! real `ENOSPC` from the kernel. Needs root, `mkfs.ext4` and loop devices: where one is missing
//! the test says what and fails, unless `JDB_ALLOC_ALLOW_SKIP=1` allows the skip.

use std::{path::PathBuf, process::Command};

use crate::scratch::Scratch;

/// A mounted ext4 of a few MiB; unmounted (which frees its loop device) and removed on drop.
pub struct SmallFs {
    /// The image file (a binary that uses this module has `mod scratch` too).
    _image: Scratch,
    /// Where it is mounted.
    pub dir: PathBuf,
}

/// Runs `cmd` with `args`; `Err` names the command and what it said.
fn sh(cmd: &str, args: &[&str]) -> Result<(), String> {
    match Command::new(cmd).args(args).output() {
        Ok(out) if out.status.success() => Ok(()),
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
            sh("mount", &["-o", "loop", img, mnt])
        })();
        let fs = Self { _image: image, dir };
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
