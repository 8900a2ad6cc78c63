//! [`SharedAppender`]: one [`Appender`] shared by the tasks of its runtime, with group commit.
//!
//! The handles only queue bytes and wait; ONE task of the log's runtime (the worker, spawned by
//! [`Appender::into_shared`]) owns the appender and does every write and `fdatasync`. So a
//! commit whose future is dropped cancels nothing but its own wait, and never a write or sync
//! that other tasks' records ride on.
//!
//! State (in `State`, borrowed only between awaits): `pending` holds the bytes `[len -
//! pending.len(), len)` of the stream, queued but not yet handed to the appender; `want` is the
//! highest length some caller waits to see durable; `synced` is what the worker's last sync
//! made durable. The worker takes all of `pending` at once (a batch), appends it, and, if
//! `want > synced`, syncs: records queued meanwhile go out together in the next batch and share
//! the next `fdatasync`.

use std::{
    cell::RefCell,
    fmt,
    future::poll_fn,
    io,
    rc::Rc,
    task::{Context, Poll, Waker},
};

use super::{Appender, Compio, DirectFile, FinishError, TailMode};
use crate::fixed::{FixedStatus, RuntimeToken};

/// The first failure of a shared log: every call after it is refused with it.
#[derive(Clone)]
struct Failure {
    kind: io::ErrorKind,
    what: String,
}

/// What the handles and the worker share.
struct State<R: Compio> {
    /// Bytes queued by `append`/`commit`, not yet handed to the appender.
    pending: Vec<u8>,
    /// The logical length: the position the next record gets.
    len: u64,
    /// The highest length a caller waits to see durable.
    want: u64,
    /// What the last sync made durable.
    synced: u64,
    /// `fdatasync`s issued.
    syncs: u64,
    failure: Option<Failure>,
    /// Set by `close`: the worker drains the queue and finishes the appender.
    closing: bool,
    /// What `finish` gave, for the `close` that asked.
    closed: Option<Result<DirectFile<R>, FinishError<R>>>,
    /// Set when the worker ended (closed, or every handle gone).
    ended: bool,
    /// Handles alive (`SharedAppender` clones); at 0 the worker drains the queue and ends.
    handles: usize,
    worker: Option<Waker>,
    /// Tasks waiting for a sync, or for the close.
    waiters: Vec<Waker>,
    /// Tasks waiting for room in the queue (woken when the worker takes a batch).
    room: Vec<Waker>,
    /// Tasks to wake, and whether to wake the worker, once the state is let go of
    /// ([`Inner::update`]).
    wakes: Vec<Waker>,
    wake_worker: bool,
    /// The most bytes `pending` holds before `append` waits for the worker to take them.
    bound: usize,
    /// The alignment and tail mode of the appender (a `NeverRewrite` sync pads `len`).
    align: u64,
    tail: TailMode,
    /// The file's path, for messages.
    path: String,
    /// The runtime the worker runs on, where this crate can tell.
    runtime: Option<RuntimeToken>,
}

impl<R: Compio> State<R> {
    /// The refusal of a call on a failed or closed log.
    fn refusal(&self, op: &str) -> Option<io::Error> {
        if let Some(f) = &self.failure {
            return Some(io::Error::new(
                f.kind,
                format!(
                    "{op} on the shared log of {}: it failed ({}) and accepts nothing more; \
                     {} bytes are durable",
                    self.path, f.what, self.synced
                ),
            ));
        }
        if self.closing {
            return Some(io::Error::other(format!(
                "{op} on the shared log of {}: it is closed ({} bytes durable)",
                self.path, self.synced
            )));
        }
        None
    }

    /// The refusal of a wait off the log's runtime, where it would never end: only the worker
    /// answers, and it runs on the log's runtime, which is then gone (dropped while a panic
    /// unwound, its tasks leaked) or not running.
    fn off_runtime(&self, op: &str) -> Option<io::Error> {
        let ours = self.runtime.as_ref()?;
        let elsewhere = match RuntimeToken::current() {
            Ok(now) => !now.same(ours),
            Err(why) => why == FixedStatus::NoRuntime,
        };
        elsewhere.then(|| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                format!(
                    "{op} on the shared log of {}: not on the log's runtime, which is gone or \
                     not running (the wait would never end); {} bytes are durable",
                    self.path, self.synced
                ),
            )
        })
    }

    /// Queues `parts`, as one record, and returns its position; with `durable`, asks the
    /// worker to sync it.
    fn enqueue(&mut self, parts: &[&[u8]], durable: bool) -> io::Result<u64> {
        let at = self.len;
        let n: usize = parts.iter().map(|p| p.len()).sum();
        let end = at.checked_add(n as u64).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("append of {n} bytes at {at}: past the largest file offset"),
            )
        })?;
        for part in parts {
            self.pending.extend_from_slice(part);
        }
        self.len = end;
        if durable {
            self.want = self.want.max(end);
        }
        self.wake_worker = true;
        Ok(at)
    }

    /// Registers a task waiting for a sync or the close, once however often it is polled.
    fn wait(&mut self, waker: &Waker) {
        if !self.waiters.iter().any(|w| w.will_wake(waker)) {
            self.waiters.push(waker.clone());
        }
    }

    fn wake_all(&mut self) {
        self.wakes.append(&mut self.waiters);
        self.wakes.append(&mut self.room);
    }

    fn fail(&mut self, what: String, e: &io::Error) {
        if self.failure.is_none() {
            self.failure = Some(Failure {
                kind: e.kind(),
                what: format!("{what}: {e}"),
            });
        }
        self.wake_all();
    }
}

struct Inner<R: Compio> {
    state: RefCell<State<R>>,
}

impl<R: Compio> Inner<R> {
    /// Runs `f` on the state, then wakes the tasks it chose once the state is let go of: a
    /// waker may run code that looks at this log (a `wake` that polls, or calls `len`), which
    /// must find the state free.
    fn update<T>(&self, f: impl FnOnce(&mut State<R>) -> T) -> T {
        let (out, wakes, worker) = {
            let mut st = self.state.borrow_mut();
            let out = f(&mut st);
            let worker = if std::mem::take(&mut st.wake_worker) {
                st.worker.clone()
            } else {
                None
            };
            (out, std::mem::take(&mut st.wakes), worker)
        };
        for w in wakes.into_iter().chain(worker) {
            w.wake();
        }
        out
    }
}

/// One [`Appender`] shared by many tasks of its runtime, with group commit; made by
/// [`Appender::into_shared`]. A handle is an `Rc` (clone it for each task; it is not `Send`).
///
/// Use it as [`compio17::SharedAppender`](super::compio17::SharedAppender),
/// [`compio19::SharedAppender`](super::compio19::SharedAppender) or
/// [`compio20::SharedAppender`](super::compio20::SharedAppender).
///
/// - [`append`](Self::append) queues a record and returns its position (not yet durable);
///   [`commit`](Self::commit) returns once the record is durable; [`sync`](Self::sync) once
///   everything appended before the call is.
/// - Group commit: one task of the runtime, spawned by `into_shared`, owns the appender and does
///   every write and `fdatasync`. Records queued while a write and sync are in flight go out
///   together in the next write (through the appender: packed as it packs them, from its
///   staging buffer, with its write-behind and tail mode) and share the next `fdatasync`. A
///   lone commit waits for nobody: no timer.
/// - Lay the file out first ([`Appender::zero_fill`], before `into_shared`): a batch that
///   writes new pages at the end of the file otherwise pays a journal commit in its sync, about
///   twice a lone commit's flush on ext4 here.
/// - Fail-stop: after a failed write or sync, every later `append`, `commit` and `sync`, on
///   every handle, is an error naming the first failure and the durable length
///   ([`synced_len`](Self::synced_len)); no commit of the failed batch returns `Ok`, and the
///   sync is never retried. Recover by reopening the file and
///   [`Appender::resume`] at the durable length.
/// - Cancellation: a record is queued, whole, when `append` or `commit` first runs past its
///   wait for room in the queue; a `commit` future dropped after that only stops waiting: the
///   record lands whole at its position and is synced with the next batch. A future dropped
///   while it waited for room queued nothing. Either way no partial record is ever written.
/// - [`close`](Self::close) drains the queue and finishes the appender (the file cut to its
///   logical length and synced); dropping every handle instead drains the queue, syncs what a
///   commit or sync asked for, and drops the appender as [`Appender`]'s drop does (records only
///   `append`ed since the last sync may then be lost, as in a crash).
/// - If the runtime is dropped first, the worker is dropped with it: its writes are cancelled
///   as a dropped [`Appender`]'s are, and the log counts as failed ("its runtime is gone").
///   A runtime dropped while a panic unwinds leaks its tasks on compio 0.19 and 0.20, the
///   worker among them, so nothing marks the log failed: a handle that outlives it, on a thread
///   that caught the panic, is refused instead whenever a call would wait ("not on the log's
///   runtime"; a record it queued first is never written). So is a wait on any runtime but the
///   log's, or outside one; a commit there is refused before its record is queued, so that its
///   error means the record is not written (an `append` is queued, as it does not wait).
///
/// ```
/// # #[cfg(feature = "compio-19")]
/// # fn main() -> std::io::Result<()> {
/// use compio_19 as compio; // in your crate: plain `compio` 0.19
/// use jdb_alloc::direct::compio19::{Appender, DirectFile};
///
/// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join(format!("shared-{}.log", std::process::id()));
/// compio::runtime::Runtime::new()?.block_on(async {
///     let log = Appender::new(DirectFile::create(&path).await?).into_shared();
///     let tasks: Vec<_> = (0..8u8)
///         .map(|i| {
///             let log = log.clone();
///             compio::runtime::spawn(async move { log.commit(&[i; 100]).await })
///         })
///         .collect();
///     for task in tasks {
///         task.await.unwrap()?; // durable now
///     }
///     assert!(log.syncs() <= 8);
///     let file = log.close().await.expect("the only close")?;
///     assert_eq!(file.len().await?, 800);
///     std::io::Result::Ok(())
/// })?;
/// # std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "compio-19"))]
/// # fn main() {}
/// ```
pub struct SharedAppender<R: Compio> {
    inner: Rc<Inner<R>>,
}

impl<R: Compio> Appender<R> {
    /// Shares the appender among the tasks of the current runtime: spawns the task that will do
    /// its writes and syncs (see [`SharedAppender`]) and gives the first handle. Call it on the
    /// runtime the appender's file was opened on.
    ///
    /// ```
    /// # #[cfg(feature = "compio-17")]
    /// # fn main() -> std::io::Result<()> {
    /// use jdb_alloc::direct::compio17::{Appender, DirectFile};
    ///
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// let path = dir.join(format!("into-shared-{}.log", std::process::id()));
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let log = Appender::new(DirectFile::create(&path).await?).into_shared();
    ///     assert_eq!(log.append(b"one").await?, 0);
    ///     assert_eq!(log.commit(b"two").await?, 3);
    ///     assert_eq!((log.synced_len(), log.syncs()), (6, 1));
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "compio-17"))]
    /// # fn main() {}
    /// ```
    pub fn into_shared(self) -> SharedAppender<R> {
        let options = self.options();
        let state = State {
            pending: Vec::new(),
            len: self.len(),
            want: 0,
            synced: self.synced_len(),
            syncs: 0,
            failure: None,
            closing: false,
            closed: None,
            ended: false,
            handles: 1,
            worker: None,
            waiters: Vec::new(),
            room: Vec::new(),
            wakes: Vec::new(),
            wake_worker: false,
            bound: options
                .staging_len()
                .saturating_add(options.write_behind_len()),
            align: self.file().alignment() as u64,
            tail: options.tail_mode(),
            path: self.file().path().display().to_string(),
            runtime: RuntimeToken::current().ok(),
        };
        let inner = Rc::new(Inner {
            state: RefCell::new(state),
        });
        R::spawn(work(inner.clone(), self));
        SharedAppender { inner }
    }
}

/// What the worker does next.
enum Work {
    /// Append the batch, then sync if asked.
    Batch { sync: bool },
    /// Finish the appender for `close`.
    Close,
    /// Every handle is gone: drop the appender.
    Drop,
}

/// Marks the log failed if the worker is dropped before it ended (its runtime went away).
struct Gone<'a, R: Compio>(&'a Inner<R>, bool);

impl<R: Compio> Drop for Gone<'_, R> {
    fn drop(&mut self) {
        if self.1 {
            return;
        }
        // No waking here: the runtime whose tasks these wakers name is going away.
        if let Ok(mut st) = self.0.state.try_borrow_mut() {
            if st.failure.is_none() {
                st.failure = Some(Failure {
                    kind: io::ErrorKind::BrokenPipe,
                    what: "its runtime is gone".to_owned(),
                });
            }
            st.worker = None;
            st.ended = true;
            st.waiters.clear();
            st.room.clear();
        }
    }
}

/// The worker: owns the appender, takes batches, writes and syncs them.
async fn work<R: Compio>(inner: Rc<Inner<R>>, mut log: Appender<R>) {
    let mut gone = Gone(&inner, false);
    let inner = &*inner;
    let mut batch = Vec::new();
    loop {
        let next = poll_fn(|cx| inner.update(|st| work_poll(st, cx, &mut batch))).await;
        match next {
            Work::Batch { sync } => {
                if !batch.is_empty() {
                    if let Err(e) = log.append(&batch).await {
                        inner.update(|st| st.fail("write".to_owned(), &e));
                        continue;
                    }
                }
                if sync {
                    let res = log.sync().await;
                    inner.update(|st| {
                        st.syncs += 1;
                        match res {
                            Ok(()) => {
                                st.synced = log.synced_len();
                                st.wake_all();
                            }
                            Err(e) => st.fail("sync".to_owned(), &e),
                        }
                    });
                }
            }
            Work::Close => {
                // After a failure the appender may not know of it (a batch it never took, or
                // refused without a write): the log's failure decides, and nothing is finished.
                let failed = {
                    let st = inner.state.borrow();
                    if st.failure.is_some() {
                        st.refusal("close")
                    } else {
                        None
                    }
                };
                let res = match failed {
                    Some(e) => Err(FinishError::new(e, log.into_file().await)),
                    None => log.finish().await,
                };
                inner.update(|st| {
                    if res.is_ok() {
                        st.synced = st.len;
                    }
                    st.closed = Some(res);
                    st.wake_all();
                });
                break;
            }
            Work::Drop => break,
        }
    }
    inner.state.borrow_mut().ended = true;
    gone.1 = true;
}

/// The worker's next step: a batch taken from `st` into `batch`, the close, the end, or a
/// wait for more (its waker left in `st`).
fn work_poll<R: Compio>(st: &mut State<R>, cx: &Context<'_>, batch: &mut Vec<u8>) -> Poll<Work> {
    if st.failure.is_none() && (!st.pending.is_empty() || st.want > st.synced) {
        batch.clear();
        std::mem::swap(batch, &mut st.pending);
        let sync = st.want > st.synced;
        if sync && st.tail == TailMode::NeverRewrite {
            // The appender's sync pads the stream to its page: the next record goes
            // after the padding.
            st.len = st.len.next_multiple_of(st.align);
        }
        // Room in the queue for those that waited.
        st.wakes.append(&mut st.room);
        return Poll::Ready(Work::Batch { sync });
    }
    if st.closing {
        return Poll::Ready(Work::Close);
    }
    if st.handles == 0 {
        return Poll::Ready(Work::Drop);
    }
    st.worker = Some(cx.waker().clone());
    Poll::Pending
}

impl<R: Compio> SharedAppender<R> {
    /// Queues `record` after the previous one and returns its position; it is not durable yet
    /// (a later [`sync`](Self::sync) or [`commit`](Self::commit) makes it so). Waits only while
    /// the queue holds more than the appender's staging and write-behind bounds (the worker is
    /// behind); an empty record returns the current length.
    ///
    /// # Errors
    /// The refusal of a failed or closed log (naming the first failure and the durable length);
    /// [`io::ErrorKind::InvalidInput`] past the largest file offset.
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")]
    /// # fn main() -> std::io::Result<()> {
    /// # use compio_19 as compio;
    /// use jdb_alloc::direct::compio19::{Appender, DirectFile};
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join(format!("shared-append-{}.log", std::process::id()));
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let log = Appender::new(DirectFile::create(&path).await?).into_shared();
    ///     assert_eq!(log.append(b"abc").await?, 0);
    ///     assert_eq!((log.len(), log.synced_len()), (3, 0));
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "compio-19"))]
    /// # fn main() {}
    /// ```
    pub async fn append(&self, record: &[u8]) -> io::Result<u64> {
        self.append_vectored(&[record]).await
    }

    /// Queues `record` and returns its position once it is durable (sharing its write and
    /// `fdatasync` with the records queued alongside).
    ///
    /// # Errors
    /// As [`append`](Self::append), and the failure of the batch's write or sync (the log is
    /// then failed, see the type's docs).
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")]
    /// # fn main() -> std::io::Result<()> {
    /// # use compio_19 as compio;
    /// use jdb_alloc::direct::compio19::{Appender, DirectFile};
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join(format!("shared-commit-{}.log", std::process::id()));
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let log = Appender::new(DirectFile::create(&path).await?).into_shared();
    ///     assert_eq!(log.commit(b"abc").await?, 0);
    ///     assert_eq!((log.synced_len(), log.syncs()), (3, 1));
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "compio-19"))]
    /// # fn main() {}
    /// ```
    pub async fn commit(&self, record: &[u8]) -> io::Result<u64> {
        self.commit_vectored(&[record]).await
    }

    /// As [`append`](Self::append), of one record gathered from `parts` (a header and a body
    /// need not be concatenated first): queued whole, at one position.
    ///
    /// # Errors
    /// As [`append`](Self::append).
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")]
    /// # fn main() -> std::io::Result<()> {
    /// # use compio_19 as compio;
    /// use jdb_alloc::direct::compio19::{Appender, DirectFile};
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join(format!("shared-append-vectored-{}.log", std::process::id()));
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let log = Appender::new(DirectFile::create(&path).await?).into_shared();
    ///     assert_eq!(log.append_vectored(&[b"head", b"body"]).await?, 0);
    ///     assert_eq!(log.len(), 8);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "compio-19"))]
    /// # fn main() {}
    /// ```
    pub async fn append_vectored(&self, parts: &[&[u8]]) -> io::Result<u64> {
        self.enqueue(parts, false, "append").await
    }

    /// As [`commit`](Self::commit), of one record gathered from `parts`.
    ///
    /// # Errors
    /// As [`commit`](Self::commit).
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")]
    /// # fn main() -> std::io::Result<()> {
    /// # use compio_19 as compio;
    /// use jdb_alloc::direct::compio19::{Appender, DirectFile};
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join(format!("shared-commit-vectored-{}.log", std::process::id()));
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let log = Appender::new(DirectFile::create(&path).await?).into_shared();
    ///     assert_eq!(log.commit_vectored(&[b"head", b"body"]).await?, 0);
    ///     assert_eq!(log.synced_len(), 8);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "compio-19"))]
    /// # fn main() {}
    /// ```
    pub async fn commit_vectored(&self, parts: &[&[u8]]) -> io::Result<u64> {
        let at = self.enqueue(parts, true, "commit").await?;
        let len: usize = parts.iter().map(|p| p.len()).sum();
        self.durable(at + len as u64, "commit").await?;
        Ok(at)
    }

    /// Returns once everything appended before the call is durable.
    ///
    /// # Errors
    /// The refusal of a failed or closed log, or the failure of the write or sync it waited for.
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")]
    /// # fn main() -> std::io::Result<()> {
    /// # use compio_19 as compio;
    /// use jdb_alloc::direct::compio19::{Appender, DirectFile};
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join(format!("shared-sync-{}.log", std::process::id()));
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let log = Appender::new(DirectFile::create(&path).await?).into_shared();
    ///     log.append(b"abc").await?;
    ///     log.append(b"de").await?;
    ///     log.sync().await?;
    ///     assert_eq!((log.synced_len(), log.syncs()), (5, 1));
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "compio-19"))]
    /// # fn main() {}
    /// ```
    pub async fn sync(&self) -> io::Result<()> {
        let target = self.inner.update(|st| {
            if let Some(e) = st.refusal("sync") {
                return Err(e);
            }
            st.want = st.want.max(st.len);
            st.wake_worker = true;
            Ok(st.len)
        })?;
        self.durable(target, "sync").await
    }

    /// The logical length: the position the next record gets.
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")]
    /// # fn main() -> std::io::Result<()> {
    /// # use compio_19 as compio;
    /// use jdb_alloc::direct::compio19::{Appender, DirectFile};
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join(format!("shared-len-{}.log", std::process::id()));
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let log = Appender::new(DirectFile::create(&path).await?).into_shared();
    ///     assert!(log.is_empty());
    ///     log.append(&[1; 10]).await?;
    ///     assert_eq!(log.len(), 10);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "compio-19"))]
    /// # fn main() {}
    /// ```
    pub fn len(&self) -> u64 {
        self.inner.state.borrow().len
    }

    /// `true` if nothing has been appended (or resumed at).
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")] {
    /// fn empty(log: &jdb_alloc::direct::compio19::SharedAppender) -> bool {
    ///     log.is_empty()
    /// }
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The length known durable: what the last sync covered.
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")] {
    /// fn durable(log: &jdb_alloc::direct::compio19::SharedAppender) -> u64 {
    ///     log.synced_len()
    /// }
    /// # }
    /// ```
    pub fn synced_len(&self) -> u64 {
        self.inner.state.borrow().synced
    }

    /// How many `fdatasync`s the log issued (a failed one included).
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")] {
    /// fn syncs(log: &jdb_alloc::direct::compio19::SharedAppender) -> u64 {
    ///     log.syncs()
    /// }
    /// # }
    /// ```
    pub fn syncs(&self) -> u64 {
        self.inner.state.borrow().syncs
    }

    /// Closes the log: waits for what is queued to be written, then finishes the appender (the
    /// file cut to its logical length and synced) and gives the file back, or the error with
    /// the file ([`FinishError`]; after a failure, the error of the first failure). The other
    /// handles are refused from then on. `None` if another handle closed the log first (that
    /// one gets the file), or if the log's runtime is gone (the file was closed with it). If this future is dropped before it completes, the log still
    /// closes, and the file is closed when the last handle drops.
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")]
    /// # fn main() -> std::io::Result<()> {
    /// # use compio_19 as compio;
    /// use jdb_alloc::direct::compio19::{Appender, DirectFile};
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join(format!("shared-close-{}.log", std::process::id()));
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let log = Appender::new(DirectFile::create(&path).await?).into_shared();
    ///     let other = log.clone();
    ///     log.append(b"abc").await?;
    ///     let file = log.close().await.expect("the first close")?;
    ///     assert_eq!(file.len().await?, 3);
    ///     assert!(other.append(b"more").await.is_err()); // closed
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "compio-19"))]
    /// # fn main() {}
    /// ```
    pub async fn close(self) -> Option<Result<DirectFile<R>, FinishError<R>>> {
        let first = self.inner.update(|st| {
            st.wake_worker = !st.closing;
            !std::mem::replace(&mut st.closing, true)
        });
        if !first {
            return None;
        }
        let inner = self.inner.clone();
        drop(self);
        poll_fn(|cx| {
            let mut st = inner.state.borrow_mut();
            match st.closed.take() {
                Some(res) => Poll::Ready(Some(res)),
                // The worker went with its runtime, and the file with it.
                None if st.ended => Poll::Ready(None),
                // As with the runtime gone: the file went with the leaked worker.
                None if st.off_runtime("close").is_some() => Poll::Ready(None),
                None => {
                    st.wait(cx.waker());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Waits for room in the queue, then queues `parts` as one record.
    pub(super) async fn enqueue(
        &self,
        parts: &[&[u8]],
        durable: bool,
        op: &str,
    ) -> io::Result<u64> {
        poll_fn(|cx| {
            self.inner.update(|st| {
                if let Some(e) = st.refusal(op) {
                    return Poll::Ready(Err(e));
                }
                // A commit off the log's runtime would be refused its wait for the sync: it
                // is refused before it is queued, so that an error means nothing was written.
                if let Some(e) = durable.then(|| st.off_runtime(op)).flatten() {
                    return Poll::Ready(Err(e));
                }
                if st.pending.is_empty() || st.pending.len() < st.bound {
                    return Poll::Ready(st.enqueue(parts, durable));
                }
                if let Some(e) = st.off_runtime(op) {
                    return Poll::Ready(Err(e));
                }
                if !st.room.iter().any(|w| w.will_wake(cx.waker())) {
                    st.room.push(cx.waker().clone());
                }
                Poll::Pending
            })
        })
        .await
    }

    /// Waits until `target` bytes are durable, or the log failed.
    pub(super) async fn durable(&self, target: u64, op: &str) -> io::Result<()> {
        poll_fn(|cx| {
            let mut st = self.inner.state.borrow_mut();
            if st.synced >= target {
                return Poll::Ready(Ok(()));
            }
            if st.failure.is_some() {
                return Poll::Ready(Err(st.refusal(op).expect("a failure")));
            }
            if st.ended {
                return Poll::Ready(Err(st.refusal(op).expect("closing")));
            }
            if let Some(e) = st.off_runtime(op) {
                return Poll::Ready(Err(e));
            }
            st.wait(cx.waker());
            Poll::Pending
        })
        .await
    }
}

impl<R: Compio> Clone for SharedAppender<R> {
    fn clone(&self) -> Self {
        self.inner.state.borrow_mut().handles += 1;
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<R: Compio> Drop for SharedAppender<R> {
    fn drop(&mut self) {
        self.inner.update(|st| {
            st.handles -= 1;
            if st.handles == 0 {
                st.wakes.extend(st.worker.take());
            }
        });
    }
}

impl<R: Compio> fmt::Debug for SharedAppender<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.state.borrow();
        f.debug_struct("SharedAppender")
            .field("path", &st.path)
            .field("len", &st.len)
            .field("synced", &st.synced)
            .field("syncs", &st.syncs)
            .field("queued", &st.pending.len())
            .field("waiting", &(st.waiters.len() + st.room.len()))
            .field("failed", &st.failure.as_ref().map(|f| f.what.clone()))
            .finish_non_exhaustive()
    }
}
