//! Futures polled by hand from inside a task: an operation started (submitted to compio) and
//! then kept unpolled, or dropped.

#![allow(dead_code)] // each includer uses part of it

use std::{
    future::Future,
    pin::{Pin, pin},
    task::Poll,
};

/// Polls `future` once with the current task's waker; panics if it finished at once.
pub async fn poll_pending<F: Future>(mut future: Pin<&mut F>) {
    std::future::poll_fn(|cx| {
        assert!(future.as_mut().poll(cx).is_pending(), "finished at once");
        Poll::Ready(())
    })
    .await;
}

/// Polls `future` once and drops it: an operation in flight whose future is gone.
pub async fn start_and_drop<F: Future>(future: F) {
    poll_pending(pin!(future)).await;
}
