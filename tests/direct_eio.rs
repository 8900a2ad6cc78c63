//! A log on a device that fails mid-run, through compio 0.17 (`v17::`), 0.19 (`v19::`) and 0.20
//! (`v20::`): framed records synced on a small ext4 whose loop device is then cut after the
//! log's last block (`small_fs::SmallFs::fail_past`), so the writes to the blocks that come
//! next fail with `EIO`. The appender must fail and stay failed, and once the device is whole
//! again a reopen must find every record a sync acknowledged. And `read_many` over a file cut
//! in two (`SmallFs::fail_within`): its error comes once no read is left in flight. Needs root
//! and loop devices.
#![cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]

mod scratch;
mod small_fs;

use scratch::pattern;
use small_fs::SmallFs;

/// The length of record `i`: 1 to 3,000 bytes, then (`i >= 200`) 16 to 64 KiB.
fn record_len(i: u64) -> usize {
    let n = (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as usize;
    if i < 200 {
        1 + n % 3000
    } else {
        (16 << 10) + n % (48 << 10)
    }
}

macro_rules! eio_cases {
    ($compio:ident, $direct:ident, $module:literal) => {
        use std::collections::HashMap;

        use jdb_alloc::{
            direct::{
                AppenderOptions, ReadManyOptions,
                $direct::{Appender, DirectFile, Records},
            },
            fixed::FixedPool,
        };
        use $compio::runtime::Runtime;

        use crate::{SmallFs, pattern, record_len};

        #[test]
        fn a_failing_device_fails_the_log_and_loses_nothing_synced() {
            let Some(fs) = SmallFs::new(concat!($module, "-eio"), 64) else {
                return;
            };
            let path = fs.dir.join("log");
            Runtime::new().unwrap().block_on(async {
                let mut log = Appender::new(DirectFile::create(&path).await.unwrap());
                let (mut acked, mut pending) = (Vec::new(), Vec::new());
                for i in 0..200u64 {
                    pending.push((log.append_framed(&pattern(record_len(i), i)).await.unwrap(), i));
                    if i % 20 == 19 {
                        log.sync().await.unwrap();
                        acked.append(&mut pending);
                    }
                }
                fs.fail_past(&path);
                // Larger records now, a sync every four, until the device refuses (at most
                // 2,000 records, 80 MiB: more than the device holds). A sync that still
                // succeeds (within the log's last block) acknowledges its records too.
                let mut failure = None;
                for i in 200..2200u64 {
                    let res = match log.append_framed(&pattern(record_len(i), i)).await {
                        Ok(pos) => {
                            pending.push((pos, i));
                            if i % 4 == 3 { log.sync().await } else { Ok(()) }
                        }
                        Err(e) => Err(e),
                    };
                    match res {
                        Ok(()) if i % 4 == 3 => acked.append(&mut pending),
                        Ok(()) => {}
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                }
                let synced = log.synced_len();
                let err = failure.expect("no write or sync failed on the cut device");
                let code = err.raw_os_error();
                assert_eq!(code, Some(libc::EIO), "{err}");
                // Fail-stop: every later call refuses, naming the first failure and what is
                // durable; `finish` refuses too and gives the file back.
                assert_eq!(log.synced_len(), synced);
                let refusal = log.append(b"x").await.unwrap_err().to_string();
                assert!(refusal.contains("unusable") && refusal.contains(&format!("after {synced} synced bytes")), "{refusal}");
                assert!(log.sync().await.is_err() && log.flush().await.is_err());
                let (_, file) = log.finish().await.unwrap_err().into_parts();
                drop(file);

                // The device whole again, reopen: every acknowledged record is there.
                fs.heal();
                let file = DirectFile::open(&path).await.unwrap();
                let (mut log, found) = Appender::recover(file, AppenderOptions::new()).await.unwrap();
                // The recovered log goes on where the last whole record ends.
                let next = log.append_framed(b"after the fault").await.unwrap();
                log.sync().await.unwrap();
                assert_eq!(next, found.end.at);
                let mut records = Records::new(log.file()).await.unwrap();
                let mut seen = HashMap::new();
                while let Some((pos, payload)) = records.next().await.unwrap() {
                    seen.insert(pos, payload);
                }
                assert_eq!(seen.get(&next).map(|p| &p[..]), Some(&b"after the fault"[..]));
                for &(pos, i) in &acked {
                    assert!(
                        seen.get(&pos) == Some(&pattern(record_len(i), i)),
                        "acknowledged record {i} at {pos} lost"
                    );
                }
                assert!(found.end.at >= synced, "{}", found.end);
                eprintln!(
                    "{}: EIO after {synced} synced bytes ({err}); {} records acknowledged, {} found \
                     on reopen, 0 lost",
                    $module,
                    acked.len(),
                    found.records
                );
            });
        }

        /// `read_many` over a file whose second half the cut leaves out: the call fails with
        /// the device's `EIO` and names a range, and only once the reads it had in flight (of
        /// the first half, from the disk under the device, while the failing ones fail at
        /// once) are done: every pool frame is back
        /// when it returns, none left with the runtime.
        #[test]
        fn a_failed_read_many_leaves_no_read_in_flight() {
            let Some(fs) = SmallFs::new(concat!($module, "-eio-reads"), 64) else {
                return;
            };
            let data = fs.dir.join("data");
            let file = std::fs::File::create(&data).unwrap();
            std::io::Write::write_all(&mut &file, &pattern(16 << 20, 7)).unwrap();
            file.sync_all().unwrap();
            fs.fail_within(&data, 8 << 20);
            fs.uncache();
            Runtime::new().unwrap().block_on(async {
                let pool = FixedPool::new(&[(16 << 10, 256)]).unwrap();
                let file = DirectFile::open(&data).await.unwrap().with_pool(pool.clone());
                let ranges: Vec<(u64, usize)> = (0..256u64)
                    .map(|i| ((i * 65_536) % (16 << 20) + i % 4096, 1 + (i as usize * 977) % 12_000))
                    .collect();
                let options = ReadManyOptions::new().max_merged(0).depth(32);
                let err = file.read_many_with(&ranges, options).await.unwrap_err();
                // No await since: what the call had in flight has completed.
                let stats = pool.stats();
                // (Every read had a frame: the test sees them all.)
                assert_eq!(stats.misses, 0, "{stats:?}");
                assert!(stats.tiers.iter().all(|t| t.in_use == 0), "{stats:?}");
                let msg = err.to_string();
                assert!(msg.contains("read_many: range") && msg.contains(&format!("os error {}", libc::EIO)), "{msg}");
                // The system's error is the source, its code intact (it was lost before).
                assert_eq!(err.kind(), std::io::Error::from_raw_os_error(libc::EIO).kind());
                let source = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<std::io::Error>());
                assert_eq!(source.and_then(|e| e.raw_os_error()), Some(libc::EIO), "{err:?}");
                assert!(matches!(
                    err.get_ref().and_then(|e| e.downcast_ref::<jdb_alloc::Error>()),
                    Some(jdb_alloc::Error::RangeFailed { op: "read_many", .. })
                ), "{err:?}");
            });
            fs.heal();
        }
    };
}

#[cfg(feature = "compio-17")]
mod v17 {
    eio_cases!(compio, compio17, "v17");
}

#[cfg(feature = "compio-19")]
mod v19 {
    eio_cases!(compio_19, compio19, "v19");
}

#[cfg(feature = "compio-20")]
mod v20 {
    eio_cases!(compio_20, compio20, "v20");
}
