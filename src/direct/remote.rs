//! [`RemoteAppender`]: a shared log's handle for other threads and other runtimes.
//!
//! Requests go over an unbounded channel to a task on the log's runtime (spawned by
//! [`SharedAppender::remote`]), which queues each record as a local handle would and answers on
//! a one-shot channel once the record is queued (`append`) or durable (`commit`, `sync`). The
//! channels are futures-channel's: no runtime of their own, so the handle's futures run on any
//! executor, or under a plain thread's `block_on`.
//!
//! The receiver and the reply senders of the requests being served live in a [`Served`], not
//! in the tasks' futures: a runtime dropped while a panic unwinds leaks its tasks (compio 0.19
//! and 0.20), so a reply sender held there would never be dropped and its caller would wait
//! for ever. Each thread keeps a list of the `Served` of its logs, and its exit drops what they
//! hold: every call still waiting, and every later one, then ends with an error.

use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    future::poll_fn,
    io,
    pin::Pin,
    rc::{Rc, Weak},
    task::Poll,
};

use futures_channel::{mpsc, oneshot};
use futures_core::Stream;

use super::{Compio, SharedAppender};

/// What a request asks.
enum Op {
    Append(Vec<u8>),
    Commit(Vec<u8>),
    Sync,
}

/// A request and where its answer goes.
struct Request {
    op: Op,
    reply: oneshot::Sender<io::Result<u64>>,
}

/// A [`SharedAppender`]'s handle for other threads (`Send + Clone`), made by
/// [`SharedAppender::remote`]: the same `append`, `commit` and `sync`, with the same answers and
/// the same fail-stop, through the log's runtime, whatever runtime (or none) the caller runs.
///
/// Each call copies its record into a request; the log's runtime queues it in the order the
/// requests arrive (from one handle, the order of the calls). Its futures are cancellation-safe
/// as the local ones: a request sent is queued whole, whether or not its answer is awaited.
/// Once the log's runtime is gone, or the log closed, every call is an error. (A runtime
/// dropped while a panic unwinds is the exception while its thread lives on: compio 0.19 and
/// 0.20 then leak its tasks, the one that serves these requests among them, and a call waits
/// until that thread exits, when it ends with the error. A thread that catches the panic and
/// goes on keeps them waiting.)
///
/// ```
/// # #[cfg(feature = "compio-19")]
/// # fn main() -> std::io::Result<()> {
/// use compio_19 as compio; // in your crate: plain `compio` 0.19
/// use jdb_alloc::direct::compio19::{Appender, DirectFile};
///
/// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join(format!("remote-{}.log", std::process::id()));
/// compio::runtime::Runtime::new()?.block_on(async {
///     let log = Appender::new(DirectFile::create(&path).await?).into_shared();
///     let remote = log.remote();
///     // Another thread, with a runtime of its own.
///     let writer = std::thread::spawn(move || {
///         compio::runtime::Runtime::new()?.block_on(remote.commit(b"from afar"))
///     });
///     // The log's runtime must run meanwhile: wait for the thread without blocking it.
///     while !writer.is_finished() {
///         compio::runtime::spawn(async {}).await.ok();
///     }
///     assert_eq!(writer.join().unwrap()?, 0);
///     assert_eq!(log.synced_len(), 9);
///     std::io::Result::Ok(())
/// })?;
/// # std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "compio-19"))]
/// # fn main() {}
/// ```
#[derive(Clone, Debug)]
pub struct RemoteAppender {
    tx: mpsc::UnboundedSender<Request>,
}

impl<R: Compio> SharedAppender<R> {
    /// A handle for other threads: spawns, on the current runtime (the log's), the task that
    /// serves it and its clones; the log lives while they do.
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")] {
    /// use jdb_alloc::direct::{RemoteAppender, compio19::SharedAppender};
    ///
    /// fn for_threads(log: &SharedAppender) -> RemoteAppender {
    ///     log.remote()
    /// }
    /// # }
    /// ```
    pub fn remote(&self) -> RemoteAppender {
        let (tx, rx) = mpsc::unbounded();
        let served = Rc::new(Served {
            rx: RefCell::new(Some(rx)),
            replies: RefCell::new(HashMap::new()),
            next: Cell::new(0),
        });
        // (In a thread-local destructor the list is gone: the runtime's own end then ends the
        // calls, as it does when it drops its tasks.)
        let _ = EXIT.try_with(|exit| {
            if let Ok(mut list) = exit.0.try_borrow_mut() {
                list.retain(|s| s.strong_count() > 0);
                list.push(Rc::downgrade(&served));
            }
        });
        R::spawn(serve(self.clone(), served));
        RemoteAppender { tx }
    }
}

/// What the tasks serving one [`RemoteAppender`] (and its clones) hold, shared with the exit of
/// the log's thread (see the module's docs).
struct Served {
    rx: RefCell<Option<mpsc::UnboundedReceiver<Request>>>,
    /// The reply senders of the requests taken and not yet answered, by number.
    replies: RefCell<HashMap<u64, oneshot::Sender<io::Result<u64>>>>,
    next: Cell<u64>,
}

impl Served {
    /// Keeps `reply` until [`answer`](Self::answer) takes it back by its number.
    fn park(&self, reply: oneshot::Sender<io::Result<u64>>) -> u64 {
        let id = self.next.get();
        self.next.set(id + 1);
        self.replies.borrow_mut().insert(id, reply);
        id
    }

    fn answer(&self, id: u64, res: io::Result<u64>) {
        let reply = self.replies.borrow_mut().remove(&id);
        if let Some(reply) = reply {
            let _ = reply.send(res);
        }
    }

    /// Drops the receiver (the requests queued in it with it) and the parked replies: every
    /// caller waiting gets the error. Never panics (it runs in a thread-local destructor), and
    /// drops them outside the borrows.
    fn end(&self) {
        let rx = self.rx.try_borrow_mut().ok().and_then(|mut rx| rx.take());
        let replies = self
            .replies
            .try_borrow_mut()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        drop((rx, replies));
    }
}

/// The `Served` of the logs of this thread, ended when it exits.
struct Exit(RefCell<Vec<Weak<Served>>>);

impl Drop for Exit {
    fn drop(&mut self) {
        for served in self.0.get_mut().drain(..) {
            if let Some(served) = served.upgrade() {
                served.end();
            }
        }
    }
}

thread_local! {
    static EXIT: Exit = const { Exit(RefCell::new(Vec::new())) };
}

/// The log's side: queues each request's record in arrival order, and answers.
async fn serve<R: Compio>(log: SharedAppender<R>, served: Rc<Served>) {
    loop {
        let next = poll_fn(|cx| match served.rx.borrow_mut().as_mut() {
            Some(rx) => Pin::new(rx).poll_next(cx),
            None => Poll::Ready(None),
        })
        .await;
        let Some(Request { op, reply }) = next else {
            break;
        };
        let id = served.park(reply);
        match op {
            Op::Append(record) => {
                served.answer(id, log.append(&record).await);
            }
            Op::Commit(record) => match log.enqueue(&[&record], true, "commit").await {
                Ok(at) => {
                    let (log, served, end) =
                        (log.clone(), served.clone(), at + record.len() as u64);
                    R::spawn(async move {
                        let res = log.durable(end, "commit").await.map(|()| at);
                        served.answer(id, res);
                    });
                }
                Err(e) => served.answer(id, Err(e)),
            },
            Op::Sync => {
                let (log, served) = (log.clone(), served.clone());
                R::spawn(async move {
                    let res = log.sync().await.map(|()| log.synced_len());
                    served.answer(id, res);
                });
            }
        }
    }
}

impl RemoteAppender {
    /// As [`SharedAppender::append`]: the record's position once the log's runtime queued it.
    ///
    /// # Errors
    /// As `SharedAppender::append`, or an error saying the log is gone (closed, its runtime
    /// dropped).
    ///
    /// ```
    /// fn queue(log: &jdb_alloc::direct::RemoteAppender) -> impl Future<Output = std::io::Result<u64>> + Send + '_ {
    ///     log.append(b"record")
    /// }
    /// ```
    pub async fn append(&self, record: &[u8]) -> io::Result<u64> {
        self.ask(Op::Append(record.to_vec())).await
    }

    /// As [`SharedAppender::commit`]: the record's position once it is durable.
    ///
    /// # Errors
    /// As `SharedAppender::commit`, or an error saying the log is gone.
    ///
    /// ```
    /// fn commit(log: &jdb_alloc::direct::RemoteAppender) -> impl Future<Output = std::io::Result<u64>> + Send + '_ {
    ///     log.commit(b"record")
    /// }
    /// ```
    pub async fn commit(&self, record: &[u8]) -> io::Result<u64> {
        self.ask(Op::Commit(record.to_vec())).await
    }

    /// As [`SharedAppender::sync`]: returns the durable length once everything this handle
    /// appended before the call is durable.
    ///
    /// # Errors
    /// As `SharedAppender::sync`, or an error saying the log is gone.
    ///
    /// ```
    /// fn sync(log: &jdb_alloc::direct::RemoteAppender) -> impl Future<Output = std::io::Result<u64>> + Send + '_ {
    ///     log.sync()
    /// }
    /// ```
    pub async fn sync(&self) -> io::Result<u64> {
        self.ask(Op::Sync).await
    }

    async fn ask(&self, op: Op) -> io::Result<u64> {
        let gone = || {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "remote handle of a shared log: the log is gone (closed, or its runtime dropped)",
            )
        };
        let (reply, answer) = oneshot::channel();
        self.tx
            .unbounded_send(Request { op, reply })
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}
