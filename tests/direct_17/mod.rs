//! `O_DIRECT` scratch files through compio 0.17, shared by the test binaries that use it
//! (tests/compio_17.rs, tests/frames.rs).

use std::{
    future::Future,
    io,
    path::{Path, PathBuf},
};

use compio::fs::{File, OpenOptions};

/// Runs `future` to completion on a fresh compio 0.17 runtime. (`#[compio::test]` cannot be
/// used: with compio 0.17 and 0.19 both dev-dependencies, its expansion names the wrong one.)
pub fn run<F: Future>(future: F) -> F::Output {
    compio::runtime::Runtime::new().unwrap().block_on(future)
}

/// A scratch file under `CARGO_TARGET_TMPDIR` (a real disk, unlike a tmpfs `/tmp`), removed
/// when the test ends, pass or fail.
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

/// Opens (creating or truncating) `path` for reading and writing with `O_DIRECT`.
pub async fn open_direct(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .await
}
