//! Several I/O futures in flight from one task, on any compio version: compio submits an
//! operation when its future is first polled, so keeping a queue full means polling every
//! future in it, not only the one awaited.
//!
//! A future dropped before it completes cancels its operation; compio keeps the operation's
//! buffer until the kernel has let go of it, as long as the runtime lives (see the module
//! docs of `direct`, "Dropped futures and the runtime's end").

use futures_core::Stream;
use futures_util::stream::FuturesUnordered;
use std::{
    collections::VecDeque,
    future::{Future, poll_fn},
    pin::Pin,
    task::{Context, Poll},
};

/// Polls the futures `iter` yields, at most `depth` (at least one) at a time, handing each
/// output to `done` as it completes, in completion order. The first error `done` returns ends
/// the call once the futures already in flight have completed (their outputs are dropped):
/// none is cancelled, so none is left with the runtime when the call returns.
///
/// Of the futures in flight, only those whose wakers were woken are polled again, so that a
/// deep queue costs each completion one poll, not one poll per future in flight.
pub(super) async fn each_concurrent<F: Future, E>(
    iter: impl Iterator<Item = F>,
    depth: usize,
    mut done: impl FnMut(F::Output) -> Result<(), E>,
) -> Result<(), E> {
    let mut iter = iter.fuse();
    let depth = depth.max(1);
    let mut flight = FuturesUnordered::new();
    let mut failed: Option<E> = None;
    poll_fn(|cx| {
        loop {
            while failed.is_none() && flight.len() < depth {
                match iter.next() {
                    Some(future) => flight.push(future),
                    None => break,
                }
            }
            match Pin::new(&mut flight).poll_next(cx) {
                Poll::Ready(Some(out)) => {
                    if failed.is_none() {
                        if let Err(e) = done(out) {
                            failed = Some(e);
                        }
                    }
                }
                Poll::Ready(None) => return Poll::Ready(failed.take().map_or(Ok(()), Err)),
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await
}

/// Lets the runtime run once. compio hands the operations queued so far to the kernel when it
/// polls its driver, which it does only between polls of its tasks: a task that queued an
/// operation and goes on computing without waiting would otherwise leave it unsubmitted.
pub(super) async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}

/// A boxed future of `'a`.
pub(super) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// One entry of a [`Window`].
enum Slot<'a, T> {
    Flying(BoxFuture<'a, T>),
    Done(T),
}

/// Futures in flight whose outputs are taken in the order they were pushed: a read-ahead
/// window, or writes behind.
pub(super) struct Window<'a, T> {
    slots: VecDeque<Slot<'a, T>>,
}

impl<'a, T> Window<'a, T> {
    pub(super) fn new() -> Self {
        Self {
            slots: VecDeque::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Adds `future` at the back, and polls it once so that its operation is submitted.
    pub(super) async fn push(&mut self, future: BoxFuture<'a, T>) {
        self.slots.push_back(Slot::Flying(future));
        poll_fn(|cx| {
            self.poll_all(cx);
            Poll::Ready(())
        })
        .await;
    }

    /// Polls every future still flying, keeping the outputs of those that complete.
    fn poll_all(&mut self, cx: &mut Context<'_>) {
        for slot in &mut self.slots {
            if let Slot::Flying(future) = slot {
                if let Poll::Ready(out) = future.as_mut().poll(cx) {
                    *slot = Slot::Done(out);
                }
            }
        }
    }

    /// The front output if its future has completed (polling all that fly), without waiting.
    pub(super) async fn try_front(&mut self) -> Option<T> {
        poll_fn(|cx| {
            self.poll_all(cx);
            Poll::Ready(self.take_done_front())
        })
        .await
    }

    /// Waits for the front future's output (polling all the others meanwhile); `None` if the
    /// window is empty.
    pub(super) async fn front(&mut self) -> Option<T> {
        poll_fn(|cx| {
            if self.slots.is_empty() {
                return Poll::Ready(None);
            }
            self.poll_all(cx);
            match self.take_done_front() {
                Some(out) => Poll::Ready(Some(out)),
                None => Poll::Pending,
            }
        })
        .await
    }

    fn take_done_front(&mut self) -> Option<T> {
        match self.slots.pop_front()? {
            Slot::Done(out) => Some(out),
            flying => {
                self.slots.push_front(flying);
                None
            }
        }
    }

    /// Waits for every future still flying, then drops every entry: none is cancelled. (A
    /// cancelled operation stays with the runtime until the kernel completes it, and compio
    /// 0.17 leaks it if the runtime is dropped first.)
    pub(super) async fn settle(&mut self) {
        poll_fn(|cx| {
            self.poll_all(cx);
            if self.slots.iter().all(|slot| matches!(slot, Slot::Done(_))) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        self.slots.clear();
    }
}
