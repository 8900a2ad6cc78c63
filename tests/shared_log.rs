//! The shared log (`Appender::into_shared`, group commit) through compio 0.17 (`v17::`), 0.19
//! (`v19::`) and 0.20 (`v20::`) runtimes, on real `O_DIRECT` files: many tasks against a model,
//! batching, a lone commit, a cancelled commit, fail-stop on a real `ENOSPC` (a small ext4,
//! needs root), the runtime dropped under it (and dropped while its thread unwinds, with a
//! remote handle waiting), and a child process with 64 committing tasks killed with SIGKILL
//! after a random number of acknowledgements.
#![cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]

mod scratch;
mod small_fs;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
};

use scratch::{Scratch, pattern, random};
use small_fs::SmallFs;

/// The environment variable that turns the crash test into the child that is killed.
const CHILD: &str = "JDB_SHARED_CRASH_CHILD";

/// The environment variable that runs the unwound-runtime tests in a child of their own.
const UNWIND_CHILD: &str = "JDB_SHARED_UNWIND_CHILD";

/// Runs test `name` again in a child process without LeakSanitizer's check (compio leaks the
/// tasks of a runtime dropped while a panic unwinds, on purpose, which the AddressSanitizer pass
/// would report at exit) and checks that it passed: `true` here, in the parent; `false` in the
/// child, which then runs the test's body.
fn leak_check_off(name: &str) -> bool {
    if std::env::var_os(UNWIND_CHILD).is_some() {
        return false;
    }
    let options = std::env::var("ASAN_OPTIONS").unwrap_or_default();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--test-threads=1"])
        .env(UNWIND_CHILD, "1")
        .env("ASAN_OPTIONS", format!("{options}:detect_leaks=0"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{text}\n{errors}"
    );
    true
}

/// The length of the record of `seed`: 50 to 2 049 bytes.
fn record_len(seed: u64) -> usize {
    50 + (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as usize % 2000
}

/// The record of `seed`.
fn record(seed: u64) -> Vec<u8> {
    pattern(record_len(seed), seed)
}

/// Checks that the records `(pos, seed)` are disjoint and, sorted, contiguous from 0 to `end`.
fn check_contiguous(acks: &mut [(u64, u64)], end: u64) {
    acks.sort_unstable();
    let mut at = 0;
    for &(pos, seed) in acks.iter() {
        assert_eq!(pos, at, "record of seed {seed}");
        at += record_len(seed) as u64;
    }
    assert_eq!(at, end);
}

/// Runs the crash test `test` as a child, reads a random number (at least one) of its
/// acknowledgements `ack pos len seed`, kills it with SIGKILL and returns them.
fn run_crash_child(test: &str, path: &Path, trial: u64) -> Vec<(u64, u64)> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let kill_after = 1 + random(trial) % 400;
    let mut acks = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while (acks.len() as u64) < kill_after {
        let line = lines.next().expect("the child stopped reporting").unwrap();
        if let Some(rest) = line.strip_prefix("ack ") {
            let f: Vec<u64> = rest.split(' ').map(|x| x.parse().unwrap()).collect();
            assert_eq!(f[1], record_len(f[2]) as u64, "{line}");
            acks.push((f[0], f[2]));
        }
    }
    child.kill().unwrap(); // SIGKILL, wherever the child is
    child.wait().unwrap();
    acks
}

/// The cases, for the compio crate `$compio` and this crate's module `direct::$direct`.
macro_rules! shared_cases {
    ($compio:ident, $direct:ident, $module:literal, $trials:expr) => {
        use std::{
            future::Future,
            pin::pin,
            task::{Context, Poll, Waker},
        };

        use jdb_alloc::direct::{
            AppenderOptions, FRAME_HEADER, TailMode,
            $direct::{Appender, DirectFile, Records, SharedAppender},
        };
        use $compio::runtime::{Runtime, spawn};

        use crate::{
            CHILD, Scratch, SmallFs, check_contiguous, leak_check_off, random, record, record_len,
            run_crash_child,
        };

        fn run<F: Future>(future: F) -> F::Output {
            Runtime::new().unwrap().block_on(future)
        }

        /// `tasks` tasks committing `each` records of random lengths; their `(pos, seed)`.
        async fn commit_all(log: &SharedAppender, tasks: u64, each: u64) -> Vec<(u64, u64)> {
            let handles: Vec<_> = (0..tasks)
                .map(|t| {
                    let log = log.clone();
                    spawn(async move {
                        let mut acks = Vec::new();
                        for i in 0..each {
                            let seed = t * 1_000_000 + i;
                            let rec = record(seed);
                            // Every other one gathered from two parts.
                            let pos = if i % 2 == 0 {
                                log.commit(&rec).await.unwrap()
                            } else {
                                let (head, body) = rec.split_at(rec.len() / 3);
                                log.commit_vectored(&[head, body]).await.unwrap()
                            };
                            acks.push((pos, seed));
                        }
                        acks
                    })
                })
                .collect();
            let mut acks = Vec::new();
            for h in handles {
                acks.extend(h.await.unwrap());
            }
            acks
        }

        /// Checks every record `(pos, seed)` in the first `len` bytes of `file`, and that they
        /// are contiguous from 0 to `len`.
        async fn read_back(file: &DirectFile, acks: &mut [(u64, u64)], len: u64) {
            let data = file.read_exact_at(0, len as usize).await.unwrap();
            for &(pos, seed) in acks.iter() {
                let rec = record(seed);
                assert_eq!(&data[pos as usize..pos as usize + rec.len()], &rec[..], "seed {seed}");
            }
            check_contiguous(acks, len);
        }

        #[test]
        fn many_tasks_against_a_model() {
            let tmp = Scratch::new(concat!($module, "-shared-model"));
            run(async {
                // A small staging buffer: batches cross it, and go through the write-behind.
                let options = AppenderOptions::new().staging(16 << 10);
                let file = DirectFile::create(&tmp.0).await.unwrap();
                let log = Appender::with_options(file, options).into_shared();
                let mut acks = commit_all(&log, 64, 20).await;
                let (len, syncs) = (log.len(), log.syncs());
                assert_eq!(log.synced_len(), len);
                // 1 280 commits, 64 at a time: batched, far fewer syncs than commits.
                assert!(syncs * 4 <= 1280, "{syncs} syncs for 1280 commits");
                let file = log.close().await.unwrap().unwrap();
                assert_eq!(file.len().await.unwrap(), len);
                read_back(&file, &mut acks, len).await;
            });
        }

        #[test]
        fn appends_past_the_queue_bound_wait_for_room() {
            let tmp = Scratch::new(concat!($module, "-shared-room"));
            run(async {
                // The queue holds one staging buffer (4 KiB) before `append` waits.
                let options = AppenderOptions::new().staging(4096).write_behind(0);
                let file = DirectFile::create(&tmp.0).await.unwrap();
                let log = Appender::with_options(file, options).into_shared();
                let tasks: Vec<_> = (0..8u64)
                    .map(|t| {
                        let log = log.clone();
                        spawn(async move {
                            let mut acks = Vec::new();
                            for i in 0..50 {
                                let seed = t * 1000 + i;
                                acks.push((log.append(&record(seed)).await.unwrap(), seed));
                            }
                            acks
                        })
                    })
                    .collect();
                let mut acks = Vec::new();
                for task in tasks {
                    acks.extend(task.await.unwrap());
                }
                log.sync().await.unwrap();
                let len = log.len();
                assert_eq!(log.synced_len(), len);
                let file = log.close().await.unwrap().unwrap();
                read_back(&file, &mut acks, len).await;
            });
        }

        #[test]
        fn never_rewrite_records_go_after_the_padding() {
            let tmp = Scratch::new(concat!($module, "-shared-never"));
            run(async {
                let options = AppenderOptions::new().tail(TailMode::NeverRewrite);
                let file = DirectFile::create(&tmp.0).await.unwrap();
                let log = Appender::with_options(file, options).into_shared();
                let acks = commit_all(&log, 16, 10).await;
                let len = log.len();
                let file = log.close().await.unwrap().unwrap();
                let data = file.read_exact_at(0, len as usize).await.unwrap();
                let mut spans: Vec<_> = acks.iter().map(|&(p, s)| (p, p + record_len(s) as u64)).collect();
                spans.sort_unstable();
                assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "overlapping records");
                for &(pos, seed) in &acks {
                    let rec = record(seed);
                    assert_eq!(&data[pos as usize..pos as usize + rec.len()], &rec[..], "seed {seed}");
                }
            });
        }

        #[test]
        fn a_lone_commit_issues_one_sync() {
            let tmp = Scratch::new(concat!($module, "-shared-lone"));
            run(async {
                let log = Appender::new(DirectFile::create(&tmp.0).await.unwrap()).into_shared();
                assert_eq!(log.commit(b"first").await.unwrap(), 0);
                assert_eq!((log.syncs(), log.synced_len()), (1, 5));
                assert_eq!(log.append(b"second").await.unwrap(), 5);
                assert_eq!(log.syncs(), 1, "append does not sync");
                log.sync().await.unwrap();
                assert_eq!((log.syncs(), log.synced_len()), (2, 11));
                log.sync().await.unwrap();
                assert_eq!(log.syncs(), 2, "nothing new to sync");
                let file = log.close().await.unwrap().unwrap();
                assert_eq!(&file.read_at(0, 100).await.unwrap()[..], b"firstsecond");
            });
        }

        /// A waker that looks at the log when woken (as a `wake` that polls at once may): the
        /// log wakes its tasks once it has let go of its state, so the call finds it free
        /// instead of panicking with the state borrowed.
        #[test]
        fn a_waker_may_call_the_log_it_waits_on() {
            use std::{
                cell::RefCell,
                sync::{
                    Arc,
                    atomic::{AtomicUsize, Ordering::Relaxed},
                },
                task::Wake,
            };

            thread_local! {
                static LOG: RefCell<Option<SharedAppender>> = const { RefCell::new(None) };
            }
            struct Reenter(AtomicUsize);
            impl Wake for Reenter {
                fn wake(self: Arc<Self>) {
                    self.wake_by_ref();
                }
                fn wake_by_ref(self: &Arc<Self>) {
                    LOG.with(|log| {
                        if let Some(log) = &*log.borrow() {
                            std::hint::black_box((log.len(), log.synced_len()));
                        }
                    });
                    self.0.fetch_add(1, Relaxed);
                }
            }

            let tmp = Scratch::new(concat!($module, "-shared-reenter"));
            run(async {
                let log = Appender::new(DirectFile::create(&tmp.0).await.unwrap()).into_shared();
                LOG.with(|l| *l.borrow_mut() = Some(log.clone()));
                let reenter = Arc::new(Reenter(AtomicUsize::new(0)));
                let waker = Waker::from(reenter.clone());
                let mut cx = Context::from_waker(&waker);
                // Polled by hand with that waker; the runtime runs the worker in between.
                let pos = {
                    let mut commit = pin!(log.commit(b"woken"));
                    loop {
                        if let Poll::Ready(res) = commit.as_mut().poll(&mut cx) {
                            break res.unwrap();
                        }
                        spawn(async {}).await.unwrap();
                    }
                };
                assert_eq!((pos, log.synced_len()), (0, 5));
                assert!(reenter.0.load(Relaxed) >= 1, "the commit was woken");
                LOG.with(|l| l.borrow_mut().take());
                let file = log.close().await.unwrap().unwrap();
                assert_eq!(&file.read_at(0, 100).await.unwrap()[..], b"woken");
            });
        }

        /// A commit polled once (so queued), then dropped while it waits for the sync.
        fn commit_then_cancel(log: &SharedAppender, rec: &[u8]) {
            let mut commit = pin!(log.commit(rec));
            let mut cx = Context::from_waker(Waker::noop());
            assert!(commit.as_mut().poll(&mut cx).is_pending());
        }

        #[test]
        fn a_cancelled_commit_lands_whole() {
            let tmp = Scratch::new(concat!($module, "-shared-cancel"));
            run(async {
                let log = Appender::new(DirectFile::create(&tmp.0).await.unwrap()).into_shared();
                let cancelled = record(7);
                commit_then_cancel(&log, &cancelled);
                assert_eq!(log.len(), cancelled.len() as u64);
                let next = log.commit(b"next").await.unwrap();
                assert_eq!(next, cancelled.len() as u64);
                let file = log.close().await.unwrap().unwrap();
                let data = file.read_exact_at(0, next as usize + 4).await.unwrap();
                assert_eq!(&data[..cancelled.len()], &cancelled[..]);
                assert_eq!(&data[cancelled.len()..], b"next");
            });
        }

        #[test]
        fn the_last_handle_dropped_still_syncs_a_cancelled_commit() {
            let tmp = Scratch::new(concat!($module, "-shared-lastdrop"));
            run(async {
                let log = Appender::new(DirectFile::create(&tmp.0).await.unwrap()).into_shared();
                let rec = record(3);
                commit_then_cancel(&log, &rec);
                drop(log);
                // The worker, alone now, writes and syncs what the commit asked for, then ends.
                let file = DirectFile::open(&tmp.0).await.unwrap();
                let mut landed = false;
                for _ in 0..100_000 {
                    if file.len().await.unwrap() >= rec.len() as u64 {
                        landed = true;
                        break;
                    }
                    spawn(async {}).await.unwrap();
                }
                assert!(landed, "the record never reached the file");
                assert_eq!(&file.read_exact_at(0, rec.len()).await.unwrap()[..], &rec[..]);
                // Then its sync, and it lets go of the file: only this reopened one stays open.
                // (Dropping the runtime while that sync flies would leave it to compio, which
                // 0.17 leaks.)
                let open = || {
                    std::fs::read_dir("/proc/self/fd")
                        .unwrap()
                        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                        .filter(|target| *target == tmp.0)
                        .count()
                };
                let mut ended = false;
                for _ in 0..100_000 {
                    if open() == 1 {
                        ended = true;
                        break;
                    }
                    spawn(async {}).await.unwrap();
                }
                assert!(ended, "the worker still holds the file: {} open", open());
            });
        }

        #[test]
        fn fail_stop_on_enospc() {
            let Some(fs) = SmallFs::new(concat!($module, "-shared-enospc"), 8) else {
                return;
            };
            let path = fs.dir.join("log");
            run(async {
                let file = DirectFile::create(&path).await.unwrap();
                let log = Appender::new(file).into_shared();
                // 64 tasks committing 32 KiB records into 8 MiB until the space runs out.
                let handles: Vec<_> = (0..64u64)
                    .map(|t| {
                        let log = log.clone();
                        spawn(async move {
                            let (mut acks, mut failed_at) = (Vec::new(), None);
                            for i in 0..1000u64 {
                                let rec = scratch_record(t, i);
                                match log.commit(&rec).await {
                                    Ok(pos) if failed_at.is_none() => acks.push((pos, t, i)),
                                    Ok(pos) => panic!("commit at {pos} after a failure"),
                                    Err(e) => {
                                        failed_at.get_or_insert(i);
                                        let msg = e.to_string();
                                        assert!(msg.contains("failed") && msg.contains("durable"), "{msg}");
                                        if i > failed_at.unwrap() + 2 {
                                            break;
                                        }
                                    }
                                }
                            }
                            assert!(failed_at.is_some(), "task {t} never saw the failure");
                            acks
                        })
                    })
                    .collect();
                let mut acks = Vec::new();
                for h in handles {
                    acks.extend(h.await.unwrap());
                }
                let synced = log.synced_len();
                assert!(!acks.is_empty());
                assert!(acks.iter().all(|&(pos, _, _)| pos + (32 << 10) <= synced));
                let err = log.sync().await.unwrap_err();
                assert_eq!(err.kind(), std::io::ErrorKind::StorageFull, "{err}");
                assert!(log.append(b"x").await.is_err());
                // Closing a failed log gives the file back with the error.
                let (err, file) = log.close().await.unwrap().unwrap_err().into_parts();
                assert!(err.to_string().contains(&format!("{synced} bytes are durable")), "{err}");
                for &(pos, t, i) in &acks {
                    let rec = scratch_record(t, i);
                    assert_eq!(&file.read_exact_at(pos, rec.len()).await.unwrap()[..], &rec[..]);
                }
                // Recovery: resume at the durable length (the cut frees the space) and go on.
                let log = Appender::new(file).resume(synced).await.unwrap().into_shared();
                assert_eq!(log.commit(b"after").await.unwrap(), synced);
                let file = log.close().await.unwrap().unwrap();
                assert_eq!(&file.read_exact_at(synced, 5).await.unwrap()[..], b"after");
                eprintln!("{}: {} commits acknowledged before ENOSPC, all {} read back, {synced} bytes durable", $module, acks.len(), acks.len());
            });
        }

        fn scratch_record(t: u64, i: u64) -> Vec<u8> {
            crate::pattern(32 << 10, t * 10_000 + i)
        }

        /// A close after the runtime went: `None` at once (the file went with the worker),
        /// not a wait for a worker that will never answer.
        #[test]
        fn a_close_after_the_runtime_is_gone_returns() {
            let tmp = Scratch::new(concat!($module, "-shared-rtclose"));
            let rt = Runtime::new().unwrap();
            let log = rt.block_on(async {
                Appender::new(DirectFile::create(&tmp.0).await.unwrap()).into_shared()
            });
            drop(rt);
            let mut close = pin!(log.close());
            let mut cx = Context::from_waker(Waker::noop());
            assert!(matches!(close.as_mut().poll(&mut cx), Poll::Ready(None)));
        }

        /// A log whose worker failed before the appender knew (its staging buffer could not
        /// be had): `close` reports the failure and gives the file, never `Ok`.
        #[test]
        fn a_close_after_a_failure_is_an_error() {
            let tmp = Scratch::new(concat!($module, "-shared-failclose"));
            run(async {
                let options = AppenderOptions::new().staging(usize::MAX / 2);
                let file = DirectFile::create(&tmp.0).await.unwrap();
                let log = Appender::with_options(file, options).into_shared();
                let err = log.commit(b"never written").await.unwrap_err();
                assert!(err.to_string().contains("staging"), "{err}");
                assert_eq!(log.synced_len(), 0);
                let (err, file) = log.close().await.unwrap().unwrap_err().into_parts();
                assert!(err.to_string().contains("0 bytes are durable"), "{err}");
                assert_eq!(file.len().await.unwrap(), 0);
            });
        }

        /// A future polled again and again while it waits is one waiter, not one per poll.
        #[test]
        fn a_waiter_polled_often_is_kept_once() {
            let tmp = Scratch::new(concat!($module, "-shared-waiters"));
            run(async {
                let log = Appender::new(DirectFile::create(&tmp.0).await.unwrap()).into_shared();
                // A waker of its own (`Waker::noop()`'s clones need not `will_wake` it).
                struct Quiet;
                impl std::task::Wake for Quiet {
                    fn wake(self: std::sync::Arc<Self>) {}
                }
                let waker = Waker::from(std::sync::Arc::new(Quiet));
                let mut commit = pin!(log.commit(b"x"));
                let mut cx = Context::from_waker(&waker);
                for _ in 0..1000 {
                    assert!(commit.as_mut().poll(&mut cx).is_pending());
                }
                assert!(format!("{log:?}").contains("waiting: 1,"), "{log:?}");
                assert_eq!(commit.await.unwrap(), 0);
            });
        }

        #[test]
        fn a_dropped_runtime_fails_the_log() {
            let tmp = Scratch::new(concat!($module, "-shared-rtdrop"));
            let rt = Runtime::new().unwrap();
            let log = rt.block_on(async {
                let log = Appender::new(DirectFile::create(&tmp.0).await.unwrap()).into_shared();
                log.commit(b"durable").await.unwrap();
                log
            });
            drop(rt);
            // The worker went with its runtime: no panic, and the log refuses.
            let rt = Runtime::new().unwrap();
            rt.block_on(async {
                let err = log.append(b"late").await.unwrap_err();
                assert!(err.to_string().contains("runtime is gone"), "{err}");
                drop(log);
                let file = DirectFile::open(&tmp.0).await.unwrap();
                assert_eq!(&file.read_exact_at(0, 7).await.unwrap()[..], b"durable");
            });
        }

        #[test]
        fn remote_handles_from_other_threads() {
            let tmp = Scratch::new(concat!($module, "-shared-remote"));
            run(async {
                let log = Appender::new(DirectFile::create(&tmp.0).await.unwrap()).into_shared();
                let threads: Vec<_> = (0..4u64)
                    .map(|t| {
                        let remote = log.remote();
                        std::thread::spawn(move || {
                            // Each thread its own runtime, 8 tasks on it.
                            Runtime::new().unwrap().block_on(async {
                                let tasks: Vec<_> = (0..8u64)
                                    .map(|k| {
                                        let remote = remote.clone();
                                        spawn(async move {
                                            let mut acks = Vec::new();
                                            for i in 0..10 {
                                                let seed = (t * 8 + k) * 1000 + i;
                                                let pos = remote.commit(&record(seed)).await.unwrap();
                                                acks.push((pos, seed));
                                            }
                                            acks
                                        })
                                    })
                                    .collect();
                                let mut acks = Vec::new();
                                for task in tasks {
                                    acks.extend(task.await.unwrap());
                                }
                                let synced = remote.sync().await.unwrap();
                                (acks, synced)
                            })
                        })
                    })
                    .collect();
                // The log's runtime runs while the threads commit through it.
                while !threads.iter().all(|t| t.is_finished()) {
                    spawn(async {}).await.unwrap();
                }
                let mut acks = Vec::new();
                for t in threads {
                    let (a, synced) = t.join().unwrap();
                    assert!(a.iter().all(|&(p, s)| p + record_len(s) as u64 <= synced));
                    acks.extend(a);
                }
                assert!(log.syncs() < 320, "{} syncs for 320 remote commits", log.syncs());
                let remote = log.remote();
                let len = log.len();
                let file = log.close().await.unwrap().unwrap();
                read_back(&file, &mut acks, len).await;
                // Closed: the remote handle is refused.
                assert!(remote.commit(b"late").await.is_err());
            });
        }

        /// Run in a child process: compio leaks the dead runtime's tasks (the appender and its
        /// buffers among them) on purpose, which LeakSanitizer would report at the exit of the
        /// AddressSanitizer pass.
        #[test]
        fn remote_calls_end_once_the_logs_thread_died_unwinding() {
            let name = concat!($module, "::remote_calls_end_once_the_logs_thread_died_unwinding");
            if leak_check_off(name) {
                return;
            }
            let tmp = Scratch::new(concat!($module, "-shared-remote-unwound"));
            let path = tmp.0.clone();
            let (give, take) = std::sync::mpsc::channel();
            let log_thread = std::thread::spawn(move || {
                let rt = Runtime::new().unwrap();
                let (log, remote) = rt.block_on(async {
                    let log = Appender::new(DirectFile::create(&path).await.unwrap()).into_shared();
                    let remote = log.remote();
                    assert_eq!(remote.commit(b"durable").await.unwrap(), 0);
                    (log, remote)
                });
                give.send(remote.clone()).unwrap();
                // The runtime drops while the panic unwinds (its tasks, the remote handle's
                // server among them, are then leaked by compio 0.19 and 0.20), then the thread
                // ends.
                let _log = log;
                let _rt = rt;
                panic!("the log's thread dies");
            });
            let remote = take.recv().unwrap();
            assert!(log_thread.join().is_err(), "the log's thread panicked");
            // The call ends with an error instead of waiting for ever (the bound only tells a
            // hang from an answer).
            let (answer, answered) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let res = Runtime::new().unwrap().block_on(remote.commit(b"late"));
                answer.send(res.map_err(|e| e.to_string())).unwrap();
            });
            let res = answered
                .recv_timeout(std::time::Duration::from_secs(120))
                .expect("the remote call returned");
            let err = res.unwrap_err();
            assert!(err.contains("the log is gone"), "{err}");
            let data = std::fs::read(&tmp.0).unwrap();
            assert_eq!(&data[..7], b"durable");
        }

        /// A local handle kept past its runtime, dropped while a panic unwound (compio 0.19 and
        /// 0.20 leak the worker with it; 0.17 drops it), is refused on the next runtime of the
        /// thread instead of waiting for ever. In a child process, as the test above.
        #[test]
        fn a_local_handle_past_its_unwound_runtime_is_refused() {
            let name = concat!($module, "::a_local_handle_past_its_unwound_runtime_is_refused");
            if leak_check_off(name) {
                return;
            }
            let tmp = Scratch::new(concat!($module, "-shared-local-unwound"));
            let rt = Runtime::new().unwrap();
            let log = rt.block_on(async {
                let log = Appender::new(DirectFile::create(&tmp.0).await.unwrap()).into_shared();
                log.commit(b"durable").await.unwrap();
                log
            });
            let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _dropped_while_unwinding = rt;
                panic!("the runtime drops while this unwinds");
            }));
            assert!(unwound.is_err());
            let rt = Runtime::new().unwrap();
            rt.block_on(async {
                let answer = std::rc::Rc::new(std::cell::Cell::new(None));
                let put = answer.clone();
                spawn(async move { put.set(Some(log.commit(b"late").await)) }).detach();
                // Turns of the runtime, not time: a hang shows as no answer after them all.
                for _ in 0..10_000 {
                    if let Some(res) = answer.take() {
                        let err = res.unwrap_err();
                        assert!(err.to_string().contains("runtime"), "{err}");
                        return;
                    }
                    spawn(async {}).await.unwrap();
                }
                panic!("the commit still waits");
            });
            let data = std::fs::read(&tmp.0).unwrap();
            assert_eq!(&data[..7], b"durable");
        }

        /// A commit polled on another runtime than the log's (alive, not running) is refused
        /// before its record is queued: the error means nothing of it is written (it used to
        /// be queued, then refused its wait, and written by the log's runtime later).
        #[test]
        fn a_commit_off_the_logs_runtime_queues_nothing() {
            let tmp = Scratch::new(concat!($module, "-shared-off-runtime"));
            let home = Runtime::new().unwrap();
            let log = home.block_on(async {
                Appender::new(DirectFile::create(&tmp.0).await.unwrap()).into_shared()
            });
            let err = Runtime::new().unwrap().block_on(log.commit(b"elsewhere")).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
            assert!(err.to_string().contains("not on the log's runtime"), "{err}");
            assert_eq!(log.len(), 0, "the refused record was queued");
            home.block_on(async {
                assert_eq!(log.commit(b"home").await.unwrap(), 0);
                let file = log.close().await.expect("the last handle").ok().unwrap();
                assert_eq!(file.len().await.unwrap(), 4);
            });
            assert_eq!(std::fs::read(&tmp.0).unwrap(), b"home");
        }

        /// The child: 64 tasks commit random records, printing each acknowledgement.
        fn crash_child(path: &str) {
            run(async {
                let log = Appender::new(DirectFile::create(path).await.unwrap()).into_shared();
                let salt = random(1);
                let tasks: Vec<_> = (0..64u64)
                    .map(|t| {
                        let log = log.clone();
                        spawn(async move {
                            for i in 0..1_000_000u64 {
                                let seed = (salt.wrapping_add(t << 32) + i) & ((1 << 62) - 1);
                                let rec = record(seed);
                                let pos = log.commit_framed(&rec).await.unwrap();
                                println!("ack {pos} {} {seed}", rec.len());
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            });
        }

        #[test]
        fn acknowledged_commits_survive_sigkill() {
            let test = concat!($module, "::acknowledged_commits_survive_sigkill");
            if let Ok(path) = std::env::var(CHILD) {
                crash_child(&path);
                return;
            }
            let (mut total, mut found_total, mut cut_trials) = (0, 0, 0);
            for trial in 0..$trials {
                let tmp = Scratch::new(&format!("{}-shared-crash-{trial}", $module));
                let acks = run_crash_child(test, &tmp.0, trial);
                let frame = |s| (FRAME_HEADER + record_len(s)) as u64;
                let mut spans: Vec<_> = acks.iter().map(|&(p, s)| (p, p + frame(s))).collect();
                spans.sort_unstable();
                assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "trial {trial}: overlapping acks");
                let (found_records, cut) = run(async {
                    // Reopened as an engine would: the log's end found by its frames, a torn
                    // tail cut, and the log goes on right after its last whole record.
                    let file = DirectFile::open(&tmp.0).await.unwrap();
                    let (mut log, found) = Appender::recover(file, AppenderOptions::new()).await.unwrap();
                    let end = found.end.at;
                    let mut seen = std::collections::HashMap::new();
                    let mut records = Records::new(log.file()).await.unwrap();
                    while let Some((pos, payload)) = records.next().await.unwrap() {
                        assert!(seen.insert(pos, payload).is_none());
                    }
                    assert_eq!((seen.len() as u64, records.end().unwrap().at), (found.records, end));
                    drop(records);
                    for &(pos, seed) in &acks {
                        let back = seen.get(&pos).unwrap_or_else(|| panic!("trial {trial}: acknowledged record at {pos} lost ({})", found.end));
                        assert_eq!(back, &record(seed), "trial {trial}: record at {pos}");
                    }
                    let max_ack = spans.last().unwrap().1;
                    assert!(end >= max_ack, "trial {trial}: log ends at {end}, before an acknowledged record's end {max_ack}");
                    assert_eq!(log.append_framed(b"after the crash").await.unwrap(), end);
                    log.sync().await.unwrap();
                    (found.records, found.cut)
                });
                found_total += found_records;
                cut_trials += u64::from(cut > 0);
                total += acks.len();
            }
            eprintln!(
                "{}: {} trials, {total} acknowledged commits, {found_total} records found on reopen, \
                 0 lost; bytes past the last whole record (padding, a torn tail) cut in {cut_trials} trials",
                $module, $trials
            );
        }
    };
}

#[cfg(feature = "compio-17")]
mod v17 {
    shared_cases!(compio, compio17, "v17", 3);
}

#[cfg(feature = "compio-19")]
mod v19 {
    shared_cases!(compio_19, compio19, "v19", 50);
}

#[cfg(feature = "compio-20")]
mod v20 {
    shared_cases!(compio_20, compio20, "v20", 3);
}
