//! One test at a time, for the test binaries whose tests change or measure what is
//! process-wide (the memlock limit, resident or pinned memory): each takes the turn first.

use std::sync::{Mutex, MutexGuard};

static TURN: Mutex<()> = Mutex::new(());

/// This binary's turn: held until dropped. A test that panicked holding it passes it on.
pub fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}
