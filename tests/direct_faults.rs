//! The `Appender` against real faults, through compio 0.17 (`v17::`), 0.19 (`v19::`) and 0.20
//! (`v20::`) runtimes. A small ext4 on a loop device (see `small_fs`; needs root and loop
//! devices) runs out of space while writes are behind: `sync` must fail, and so must every call
//! after it, with no write left in flight, while what an earlier sync covered reads back. A
//! child process whose `RLIMIT_DATA` is lowered under it cannot allocate: the call is refused
//! and changes nothing.
#![cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]

mod scratch;
mod small_fs;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use scratch::{Scratch, pattern};
use small_fs::SmallFs;

/// The environment variable that makes a test the child run under a lowered limit: the path
/// of its file.
const CHILD: &str = "JDB_DIRECT_FAULTS_CHILD";

/// What a child prints once its test has passed (`--exact` with a wrong name runs nothing and
/// succeeds).
const CHILD_DONE: &str = "the child's test passed";

/// Runs the test `name` of this binary again as a child, `CHILD` set to `path`, and checks
/// that it ran and passed.
fn run_child(name: &str, path: &Path) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(CHILD_DONE),
        "child {name}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// In the parent: runs the test `name` of this binary as a child, with a scratch file named for
/// `scratch`, and gives `None`. In the child: the path of that file.
fn child_path(name: &str, scratch: &str) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(CHILD) {
        return Some(PathBuf::from(path));
    }
    let tmp = Scratch::new(scratch);
    run_child(name, &tmp.0);
    None
}

/// A buffer of this size or more is a mapping of its own (`MAP_THRESHOLD`), never a recycled
/// one: under a limit lowered by less, a new one is refused.
const STAGE: usize = 32 << 20;

/// Lowers this process's soft `RLIMIT_DATA` to the private writable memory it maps now
/// (`VmData`) and `room` bytes more; returns the limits to put back.
fn limit_data(room: u64) -> libc::rlimit {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmData:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `old` is a valid `rlimit` to write to.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_DATA, &mut old) }, 0);
    let low = libc::rlimit {
        rlim_cur: (kib << 10) + room,
        rlim_max: old.rlim_max,
    };
    // SAFETY: `low` is a valid `rlimit`; a soft limit under the hard one is always allowed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_DATA, &low) }, 0);
    old
}

/// Puts back the limits `limit_data` returned.
fn restore_data(old: libc::rlimit) {
    // SAFETY: `old` is the valid `rlimit` read before, its hard limit unchanged since.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_DATA, &old) }, 0);
}

/// The cases, for the compio crate `$compio` and this crate's module `direct::$direct`.
macro_rules! fault_cases {
    ($compio:ident, $direct:ident, $module:literal) => {
        use jdb_alloc::direct::{
            AppenderOptions,
            $direct::{Appender, DirectFile, Records},
        };
        use $compio::runtime::Runtime;

        use jdb_alloc::AlignedBuf;
        use $compio::buf::BufResult;

        use crate::{CHILD_DONE, STAGE, SmallFs, child_path, limit_data, pattern, restore_data};

        fn run<F: Future>(future: F) -> F::Output {
            Runtime::new().unwrap().block_on(future)
        }

        #[test]
        fn a_failed_write_behind_fails_sync() {
            let Some(fs) = SmallFs::new(concat!($module, "-enospc"), 8) else {
                return;
            };
            let path = fs.dir.join("log");
            run(async {
                let file = DirectFile::create(&path).await.unwrap();
                // No bound: every write stays behind until `sync` waits for it.
                let options = AppenderOptions::new().write_behind(usize::MAX);
                let mut log = Appender::with_options(file, options);
                let first = pattern(100_000, 1);
                log.append(&first).await.unwrap();
                log.sync().await.unwrap();
                let synced = log.synced_len();
                assert_eq!(synced, 100_000);

                // 16 MiB into a filesystem of 8.
                let record = pattern(256 << 10, 2);
                let mut failed = None;
                for _ in 0..64 {
                    if let Err(e) = log.append(&record).await {
                        failed = Some(e);
                        break;
                    }
                }
                let sync = log.sync().await;
                let sync_err = sync.expect_err("a sync after writes that ran out of space");
                // The first error is the kernel's ENOSPC: from `sync` itself when every append
                // left its write behind, or from the append that saw a write fail.
                let first_err = failed.as_ref().unwrap_or(&sync_err);
                assert_eq!(first_err.raw_os_error(), Some(libc::ENOSPC), "{first_err}");
                assert_eq!(log.synced_len(), synced);
                // The call that saw a write fail waited for the others: none is left in
                // flight to land after a reopen.
                let state = format!("{log:?}");
                assert!(
                    state.contains("writes_behind: 0, bytes_behind: 0"),
                    "{state}"
                );

                // Fail-stop: every later call refuses, naming the failure.
                let err = log.append(b"more").await.unwrap_err();
                let msg = err.to_string();
                assert!(
                    msg.contains("unusable") && msg.contains("write behind"),
                    "{msg}"
                );
                assert!(
                    msg.contains(&format!("after {synced} synced bytes")),
                    "{msg}"
                );
                assert!(log.sync().await.is_err() && log.flush().await.is_err());

                // `finish` refuses too, and gives the file back: what the first sync covered
                // is there.
                let (err, file) = log.finish().await.unwrap_err().into_parts();
                assert!(err.to_string().contains("unusable"), "{err}");
                assert_eq!(
                    &file.read_exact_at(0, first.len()).await.unwrap()[..],
                    &first[..]
                );
            });
        }

        /// A preallocation step larger than the filesystem: growing the file fails, the
        /// appender stops preallocating and goes on with writes that extend the file.
        #[test]
        fn a_step_that_does_not_fit_falls_back_to_extending_writes() {
            let Some(fs) = SmallFs::new(concat!($module, "-grow"), 8) else {
                return;
            };
            let path = fs.dir.join("log");
            run(async {
                let file = DirectFile::create(&path).await.unwrap();
                let options = AppenderOptions::new().preallocate(64 << 20);
                let mut log = Appender::with_options(file, options);
                let record = pattern(1 << 20, 3);
                assert_eq!(log.append(&record).await.unwrap(), 0);
                log.sync().await.unwrap();
                assert_eq!(log.options().preallocate_len(), 0);
                // What `fallocate` could allocate before ENOSPC was let go of with the length
                // it had moved (it used to stay: the file longer than the log until `finish`).
                let held = log.file().len().await.unwrap();
                assert_eq!(held, 1 << 20, "the file holds {held} bytes, the log 1 MiB");
                let file = log.finish().await.unwrap();
                assert_eq!(file.len().await.unwrap(), 1 << 20);
                assert_eq!(
                    &file.read_exact_at(0, 1 << 20).await.unwrap()[..],
                    &record[..]
                );
            });
        }

        /// `zero_fill` past what the filesystem holds is refused before any zero is written,
        /// and leaves the file as it was: an appender at offset 0 still appends (ext4 had
        /// moved the file's end over what it could allocate, and every append was then
        /// refused as overwriting the file's bytes).
        #[test]
        fn a_zero_fill_without_room_leaves_the_file_as_it_was() {
            let Some(fs) = SmallFs::new(concat!($module, "-zero-fill-enospc"), 16) else {
                return;
            };
            let path = fs.dir.join("log");
            run(async {
                let mut log = Appender::new(DirectFile::create(&path).await.unwrap());
                let err = log.zero_fill(64 << 20).await.unwrap_err();
                assert_eq!(err.kind(), std::io::ErrorKind::StorageFull, "{err}");
                assert_eq!(log.file().len().await.unwrap(), 0);
                assert_eq!(log.append(b"a record").await.unwrap(), 0);
                let file = log.finish().await.unwrap();
                assert_eq!(file.len().await.unwrap(), 8);
                // The same for the file's own `preallocate`.
                let err = file.preallocate(64 << 20, false).await.unwrap_err();
                assert_eq!(err.kind(), std::io::ErrorKind::StorageFull, "{err}");
                assert_eq!(file.len().await.unwrap(), 8);
            });
        }

        /// An append that fills the staging buffer while no next one can be allocated (the
        /// child's `RLIMIT_DATA` lowered under it) is refused and leaves the appender as it
        /// was: it syncs, reads back, and takes the same record once there is memory again.
        /// (It used to fail the appender, the records staged before lost.)
        #[test]
        fn a_refused_staging_buffer_leaves_the_appender_as_it_was() {
            let name = concat!(
                $module,
                "::a_refused_staging_buffer_leaves_the_appender_as_it_was"
            );
            let Some(path) = child_path(name, concat!($module, "-stage-refused")) else {
                return;
            };
            run(async {
                let file = DirectFile::create(&path).await.unwrap();
                let options = AppenderOptions::new().staging(STAGE);
                let mut log = Appender::with_options(file, options);
                let first = pattern(100, 1);
                assert_eq!(log.append(&first).await.unwrap(), 0);
                // Fills the staging buffer, and is shorter than it: no large-record path.
                let second = pattern(STAGE - 50, 2);
                let old = limit_data(16 << 20);
                let refused = log.append(&second).await;
                restore_data(old);
                let err = refused.unwrap_err();
                assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory, "{err}");
                assert!(err.to_string().contains("staging buffer"), "{err}");
                assert_eq!(log.len(), 100);
                log.sync().await.unwrap();
                assert_eq!(&log.read_at(0, 100).await.unwrap()[..], &first[..]);
                assert_eq!(log.append(&second).await.unwrap(), 100);
                let file = log.finish().await.unwrap();
                let all = file.read_exact_at(0, 100 + second.len()).await.unwrap();
                assert!(all[..100] == first[..] && all[100..] == second[..]);
            });
            println!("{CHILD_DONE}");
        }

        /// A framed record (header and payload, appended as parts) whose buffers are refused,
        /// one that fills the staging buffer and one past it (the large-record path), leaves
        /// no part of itself: the records after it are found by `recover`, none cut away. (The
        /// header used to stay in, the appender usable, and `recover` stopped at it, losing the
        /// synced records after it.)
        #[test]
        fn a_refused_framed_record_leaves_no_part_of_it() {
            let name = concat!($module, "::a_refused_framed_record_leaves_no_part_of_it");
            let Some(path) = child_path(name, concat!($module, "-framed-refused")) else {
                return;
            };
            run(async {
                let file = DirectFile::create(&path).await.unwrap();
                let options = AppenderOptions::new().staging(STAGE);
                let mut log = Appender::with_options(file, options);
                let mut kept = vec![pattern(100, 1)];
                log.append_framed(&kept[0]).await.unwrap();
                for (i, len) in [STAGE - 50, STAGE + 8192].into_iter().enumerate() {
                    let refused = pattern(len, 2);
                    let len_before = log.len();
                    let old = limit_data(16 << 20);
                    let res = log.append_framed(&refused).await;
                    restore_data(old);
                    let err = res.unwrap_err();
                    assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory, "{err}");
                    assert_eq!(
                        log.len(),
                        len_before,
                        "{len} bytes refused, yet some went in"
                    );
                    kept.push(pattern(10 + i, 3 + i as u64));
                    log.append_framed(kept.last().unwrap()).await.unwrap();
                }
                log.sync().await.unwrap();
                let synced = log.synced_len();
                let file = log.finish().await.unwrap();
                let (log, found) = Appender::recover(file, options).await.unwrap();
                assert_eq!((found.records, found.cut, log.len()), (3, 0, synced));
                let mut records = Records::new(log.file()).await.unwrap();
                for want in &kept {
                    assert_eq!(&records.next().await.unwrap().unwrap().1[..], &want[..]);
                }
                assert!(records.next().await.unwrap().is_none());
            });
            println!("{CHILD_DONE}");
        }

        /// `append_buf` of a record longer than the staging buffer, whose last partial page
        /// needs a first staging buffer that is refused, appends nothing (it used to write the
        /// whole pages, count them, and report the refusal); `flush` after an `append_buf` that
        /// left nothing staged takes no buffer at all (it used to take one, and a refusal
        /// failed the appender).
        #[test]
        fn a_refused_buffer_in_append_buf_or_flush_changes_nothing() {
            let name = concat!(
                $module,
                "::a_refused_buffer_in_append_buf_or_flush_changes_nothing"
            );
            let Some(path) = child_path(name, concat!($module, "-append-buf-refused")) else {
                return;
            };
            let record = |len: usize, seed: u64| {
                let mut buf = AlignedBuf::with_cap(len).unwrap();
                buf.extend(&pattern(len, seed)).unwrap();
                buf
            };
            run(async {
                let file = DirectFile::create(&path).await.unwrap();
                let options = AppenderOptions::new().staging(STAGE);
                let mut log = Appender::with_options(file, options);
                let first = record(STAGE + 100, 1);
                let old = limit_data(16 << 20);
                let BufResult(res, first) = log.append_buf(first).await;
                restore_data(old);
                let err = res.unwrap_err();
                assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory, "{err}");
                assert_eq!(log.len(), 0);

                // Exactly the staging size: written in place, nothing staged.
                let second = record(STAGE, 2);
                let BufResult(res, second) = log.append_buf(second).await;
                assert_eq!(res.unwrap(), 0);
                let old = limit_data(16 << 20);
                let flushed = log.flush().await;
                let synced = log.sync().await;
                restore_data(old);
                flushed.unwrap();
                synced.unwrap();
                assert_eq!(log.synced_len(), STAGE as u64);

                let BufResult(res, first) = log.append_buf(first).await;
                assert_eq!(res.unwrap(), STAGE as u64);
                let file = log.finish().await.unwrap();
                let all = file.read_exact_at(0, 2 * STAGE + 100).await.unwrap();
                assert!(all[..STAGE] == second[..] && all[STAGE..] == first[..]);
            });
            println!("{CHILD_DONE}");
        }
    };
}

#[cfg(feature = "compio-17")]
mod v17 {
    fault_cases!(compio, compio17, "v17");
}

#[cfg(feature = "compio-19")]
mod v19 {
    fault_cases!(compio_19, compio19, "v19");
}

#[cfg(feature = "compio-20")]
mod v20 {
    fault_cases!(compio_20, compio20, "v20");
}
