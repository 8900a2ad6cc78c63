//! Group commit (`JDB_BENCH_FILTER=commits`): 1, 8 and 64 writers committing records of 128 B
//! and 1 KiB, each waiting until its record is durable, three ways in the same run:
//!
//! - `SharedAppender`: one task per writer on the runtime, `commit` each record (group commit);
//!   and the same over a file laid out ahead (`Appender::zero_fill`, before the clock starts),
//!   whose syncs commit no file-system metadata;
//! - one `fdatasync` per record: the same tasks around one `Appender` behind an async lock,
//!   `append` + `sync` per record (what a user writes today);
//! - std: one thread per writer, `Mutex<File>`, `write_all` + `sync_data` per record.
//!
//! Printed: records/s (median of the rounds), its ratio to one sync per record, and the p50 /
//! p99 latency of a commit over all rounds, with p99 against one lone `fdatasync` (the p50 of
//! the per-record way with one writer) and against that way's own p99 with one writer (the
//! disk's tail alone: a batch pays it as a lone commit does).

use std::{
    cell::RefCell,
    future::poll_fn,
    io::Write,
    path::Path,
    rc::Rc,
    sync::{Arc, Mutex},
    task::{Poll, Waker},
    time::Instant,
};

use compio_19::runtime::spawn;
use jdb_alloc::direct::compio19::{Appender, DirectFile};

use crate::median;

#[derive(Clone, Copy, PartialEq)]
enum Way {
    Shared,
    SyncPerRecord,
    StdMutex,
    SharedZeroFilled,
}

impl Way {
    fn name(self) -> &'static str {
        match self {
            Self::Shared => "SharedAppender commit",
            Self::SyncPerRecord => "Appender, sync per record",
            Self::StdMutex => "std Mutex<File>",
            Self::SharedZeroFilled => "SharedAppender, zero_fill",
        }
    }
}

/// An async lock around the appender, as a user would write one: waiters wake when it is put
/// back.
struct Lock {
    log: RefCell<Option<Appender>>,
    waiters: RefCell<Vec<Waker>>,
}

impl Lock {
    async fn take(&self) -> Appender {
        poll_fn(|cx| match self.log.borrow_mut().take() {
            Some(log) => Poll::Ready(log),
            None => {
                self.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    fn put(&self, log: Appender) {
        *self.log.borrow_mut() = Some(log);
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

/// One round: `writers` writers commit `each` records of `len` bytes the given way into `out`;
/// returns the wall time and every commit's latency, in seconds.
async fn round(way: Way, out: &Path, writers: usize, each: usize, len: usize) -> (f64, Vec<f64>) {
    let record: Rc<[u8]> = (0..len).map(|i| (i % 251) as u8).collect();
    // The clock starts once the file is made: a round times its commits only.
    let (start, lat) = match way {
        Way::Shared | Way::SharedZeroFilled => {
            let mut log = Appender::new(DirectFile::create(out).await.unwrap());
            if way == Way::SharedZeroFilled {
                // Room for every record, each padded to a page at worst.
                let most = writers * each * len.next_multiple_of(4096);
                log.zero_fill(most as u64).await.unwrap();
            }
            let log = log.into_shared();
            let start = Instant::now();
            let lat = on_tasks(writers, each, move || {
                let (log, record) = (log.clone(), record.clone());
                async move {
                    log.commit(&record).await.unwrap();
                }
            })
            .await;
            (start, lat)
        }
        Way::SyncPerRecord => {
            let lock = Rc::new(Lock {
                log: RefCell::new(Some(Appender::new(DirectFile::create(out).await.unwrap()))),
                waiters: RefCell::new(Vec::new()),
            });
            let start = Instant::now();
            let lat = on_tasks(writers, each, move || {
                let (lock, record) = (lock.clone(), record.clone());
                async move {
                    let mut log = lock.take().await;
                    log.append(&record).await.unwrap();
                    log.sync().await.unwrap();
                    lock.put(log);
                }
            })
            .await;
            (start, lat)
        }
        Way::StdMutex => {
            let file = Arc::new(Mutex::new(std::fs::File::create(out).unwrap()));
            let start = Instant::now();
            let threads: Vec<_> = (0..writers)
                .map(|_| {
                    let (file, record) = (file.clone(), record.to_vec());
                    std::thread::spawn(move || {
                        let mut lat = Vec::with_capacity(each);
                        for _ in 0..each {
                            let t = Instant::now();
                            let mut f = file.lock().unwrap();
                            f.write_all(&record).unwrap();
                            f.sync_data().unwrap();
                            drop(f);
                            lat.push(t.elapsed().as_secs_f64());
                        }
                        lat
                    })
                })
                .collect();
            let lat = threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect();
            (start, lat)
        }
    };
    (start.elapsed().as_secs_f64(), lat)
}

/// `writers` tasks, each awaiting `each` commits made by `commit`; every commit's latency.
async fn on_tasks<F: Future<Output = ()> + 'static>(
    writers: usize,
    each: usize,
    commit: impl Fn() -> F + Clone + 'static,
) -> Vec<f64> {
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let commit = commit.clone();
            spawn(async move {
                let mut lat = Vec::with_capacity(each);
                for _ in 0..each {
                    let t = Instant::now();
                    commit().await;
                    lat.push(t.elapsed().as_secs_f64());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    lat
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p) as usize]
}

/// The rows: writers x record sizes x ways, sides alternating round by round.
pub async fn commit_cases(path: &Path, rounds: usize, quick: bool) {
    println!(
        "\n{:<22} {:<27} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "commits", "way", "records/s", "vs 1/rec", "p50 µs", "p99 µs", "p99/sync", "p99/p99₁"
    );
    let ways = [
        Way::Shared,
        Way::SyncPerRecord,
        Way::StdMutex,
        Way::SharedZeroFilled,
    ];
    let mut one_sync = None;
    for len in [128, 1024] {
        for writers in [1, 8, 64] {
            // About 1,024 commits per round (256 quick), at least 4 per writer.
            let each = (if quick { 256 } else { 1024 } / writers).max(4);
            let mut rates = vec![Vec::new(); ways.len()];
            let mut lats = vec![Vec::new(); ways.len()];
            for r in 0..=rounds {
                for k in 0..ways.len() {
                    let i = (k + r) % ways.len();
                    let out = path.with_extension(format!("commit{i}"));
                    let (wall, lat) = round(ways[i], &out, writers, each, len).await;
                    std::fs::remove_file(&out).unwrap();
                    if r > 0 {
                        rates[i].push((writers * each) as f64 / wall);
                        lats[i].extend(lat);
                    }
                }
            }
            let base = median(rates[1].clone());
            if writers == 1 && one_sync.is_none() {
                one_sync = Some((
                    percentile(&mut lats[1], 0.5),
                    percentile(&mut lats[1], 0.99),
                ));
            }
            let (sync, sync_p99) = one_sync.unwrap();
            for (i, way) in ways.iter().enumerate() {
                let rate = median(rates[i].clone());
                let p99 = percentile(&mut lats[i], 0.99);
                println!(
                    "{:<22} {:<27} {:>10.0} {:>9.2} {:>9.0} {:>9.0} {:>9.2} {:>9.2}",
                    format!("{len} B, {writers} writers"),
                    way.name(),
                    rate,
                    rate / base,
                    percentile(&mut lats[i], 0.5) * 1e6,
                    p99 * 1e6,
                    p99 / sync,
                    p99 / sync_p99,
                );
            }
        }
    }
}
