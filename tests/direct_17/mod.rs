//! `O_DIRECT` scratch files through compio 0.17, shared by the test binaries that use it
//! (tests/compio_17.rs, tests/frames.rs).

use std::future::Future;

#[path = "../scratch/mod.rs"]
mod scratch;

pub use scratch::Scratch;

/// Runs `future` to completion on a fresh compio 0.17 runtime. (`#[compio::test]` cannot be
/// used: with compio 0.17 and 0.19 both dev-dependencies, its expansion names the wrong one.)
pub fn run<F: Future>(future: F) -> F::Output {
    compio::runtime::Runtime::new().unwrap().block_on(future)
}

scratch::open_direct!(pub compio);
