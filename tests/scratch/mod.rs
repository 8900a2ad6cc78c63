//! A scratch file for the test binaries that do real `O_DIRECT` I/O, whatever compio version.

use std::path::{Path, PathBuf};

/// Distinct, position-dependent bytes, so a misplaced page cannot compare equal. (Unused by
/// a binary that only needs `Scratch`.)
#[allow(dead_code)]
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u64).wrapping_mul(31).wrapping_add(seed) % 251) as u8)
        .collect()
}

/// A random number from the process's hasher keys. (Unused by a binary that needs no
/// randomness.)
#[allow(dead_code)]
pub fn random(salt: u64) -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(salt)
}

/// A scratch file under `CARGO_TARGET_TMPDIR` (a real disk, unlike a tmpfs `/tmp`), named for
/// the test and the process, removed when the test ends, pass or fail.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{name}-{}.dat", std::process::id()));
        Self(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Defines `open_direct(path)` for the compio crate named `$compio` (0.17 and 0.19 have the same
/// `OpenOptions`, but are different crates): opens, creating or truncating, for reading and
/// writing with `O_DIRECT`. (Unused by a binary that only needs `Scratch`.)
#[allow(unused_macros)]
macro_rules! open_direct {
    ($vis:vis $compio:ident) => {
        /// Opens (creating or truncating) `path` for reading and writing with `O_DIRECT`.
        $vis async fn open_direct(path: &std::path::Path) -> std::io::Result<$compio::fs::File> {
            $compio::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .custom_flags(libc::O_DIRECT)
                .open(path)
                .await
        }
    };
}

/// Defines `open_read_direct(path)` for the compio crate named `$compio`: opens an existing file
/// read-only with `O_DIRECT`.
#[allow(unused_macros)]
macro_rules! open_read_direct {
    ($compio:ident) => {
        /// Opens `path`, which exists, read-only with `O_DIRECT`.
        async fn open_read_direct(path: &std::path::Path) -> $compio::fs::File {
            $compio::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECT)
                .open(path)
                .await
                .unwrap()
        }
    };
}

#[allow(unused_imports)]
pub(crate) use {open_direct, open_read_direct};
