//! Framed records through compio 0.17 (`v17::`), 0.19 (`v19::`) and 0.20 (`v20::`): a model of
//! framed appends, syncs, crashes and reopens against what `Records` reads back and where
//! `Appender::recover` goes on; and torn tails (cut at random, a page of garbage, a page of
//! zeros, a flipped byte, a torn record before a `NeverRewrite` boundary, a page lost in the
//! middle), each found, reported and cut, and what recovery keeps synced; and crashes that lose
//! what was not synced in every way a device may, against the records acknowledged.
#![cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]

mod scratch;

use scratch::{Scratch, pattern, random};

/// The cases, for the compio crate `$compio` and this crate's module `direct::$direct`.
macro_rules! framing_cases {
    ($compio:ident, $direct:ident, $module:literal) => {
        use std::os::unix::fs::FileExt as _;

        use jdb_alloc::AlignedBuf;
        use jdb_alloc::direct::{
            AppenderOptions, EndReason, FRAME_HEADER, TailMode, frame_header,
            $direct::{Appender, DirectFile, Records},
        };
        use proptest::prelude::*;
        use $compio::runtime::Runtime;

        use crate::{Scratch, pattern, random};

        fn run<F: Future>(future: F) -> F::Output {
            Runtime::new().unwrap().block_on(future)
        }

        /// Every record of `file`, and where the log ends.
        async fn read_all(file: &DirectFile) -> (Vec<(u64, Vec<u8>)>, jdb_alloc::direct::LogEnd) {
            let mut records = Records::new(file).await.unwrap();
            let mut all = Vec::new();
            while let Some(record) = records.next().await.unwrap() {
                all.push(record);
            }
            (all, records.end().unwrap())
        }

        #[derive(Clone, Debug)]
        enum Op {
            Append(usize),
            Sync,
            Flush,
            /// Sync, drop the appender as a crash would, reopen with `recover`.
            Crash,
            /// Finish, reopen with `recover`.
            Reopen,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                8 => (0usize..300).prop_map(Op::Append),
                3 => (300usize..20_000).prop_map(Op::Append),
                2 => Just(Op::Sync),
                1 => Just(Op::Flush),
                1 => Just(Op::Crash),
                1 => Just(Op::Reopen),
            ]
        }

        /// `ahead`: the preallocation step (`0`: none); a crash then leaves zeros past the
        /// last write, which `recover` must take for the end.
        fn model_run(ops: Vec<Op>, tail: TailMode, (staging, ahead): (usize, u64), name: &str) {
            let tmp = Scratch::new(name);
            let options = AppenderOptions::new().tail(tail).staging(staging).preallocate(ahead);
            run(async {
                let mut log = Appender::with_options(DirectFile::create(&tmp.0).await.unwrap(), options);
                // The records (position, payload) appended so far.
                let mut model: Vec<(u64, Vec<u8>)> = Vec::new();
                for (i, op) in ops.into_iter().enumerate() {
                    match op {
                        Op::Append(n) => {
                            let payload = pattern(n, i as u64);
                            let at = log.append_framed(&payload).await.unwrap();
                            if let Some((pos, last)) = model.last() {
                                assert!(at >= pos + (FRAME_HEADER + last.len()) as u64);
                            }
                            model.push((at, payload));
                        }
                        Op::Sync => log.sync().await.unwrap(),
                        Op::Flush => log.flush().await.unwrap(),
                        Op::Crash | Op::Reopen => {
                            let file = if matches!(op, Op::Crash) {
                                log.sync().await.unwrap();
                                drop(log);
                                DirectFile::open(&tmp.0).await.unwrap()
                            } else {
                                log.finish().await.unwrap()
                            };
                            let end = model.last().map_or(0, |(p, r)| p + (FRAME_HEADER + r.len()) as u64);
                            let (again, found) = Appender::recover(file, options).await.unwrap();
                            log = again;
                            assert_eq!((found.records, found.end.at), (model.len() as u64, end), "{}", found.end);
                            assert_eq!(found.end.reason, EndReason::EndOfFile, "{}", found.end);
                            match tail {
                                TailMode::Rewrite => assert_eq!(log.len(), end),
                                _ => assert_eq!(log.len(), end.next_multiple_of(4096)),
                            }
                        }
                    }
                }
                let file = log.finish().await.unwrap();
                let (all, end) = read_all(&file).await;
                let shape = |v: &[(u64, Vec<u8>)]| v.iter().map(|(p, r)| (*p, r.len())).collect::<Vec<_>>();
                assert_eq!(shape(&all), shape(&model), "{end}");
                assert!(all == model, "payloads differ");
                assert_eq!(end.reason, EndReason::EndOfFile, "{end}");
            });
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(16))]

            #[test]
            fn records_match_the_model(
                ops in prop::collection::vec(op(), 1..40),
                never in any::<bool>(),
                staging in prop_oneof![Just(4096usize), Just(20_000), Just(256 << 10)],
                ahead in prop_oneof![Just(0u64), Just(64 << 10)],
            ) {
                let tail = if never { TailMode::NeverRewrite } else { TailMode::Rewrite };
                model_run(ops, tail, (staging, ahead), concat!($module, "-framing-model"));
            }
        }

        /// A record length for the lossy model: short, long, exactly one or two pages, or
        /// ending 1-8 bytes short of a page.
        fn lossy_len(rng: &mut u64) -> usize {
            let page = 4096 - FRAME_HEADER;
            match next(rng) % 6 {
                0 => page,
                1 => page + 4096,
                2 => (next(rng) % 300) as usize,
                3 => 300 + (next(rng) % 20_000) as usize,
                4 => page - 1 - (next(rng) % 8) as usize,
                _ => (next(rng) % 5000) as usize,
            }
        }

        fn next(rng: &mut u64) -> u64 {
            *rng ^= *rng << 13;
            *rng ^= *rng >> 7;
            *rng ^= *rng << 17;
            *rng
        }

        /// Six sessions of framed appends (`append_framed`, and `append_buf` of whole frames,
        /// some larger than the staging buffer), syncs and flushes, each ended by a crash
        /// that loses what was not synced in every way a device may: pages past the synced
        /// length zeroed, the partly synced page back as the sync left it, sectors of garbage
        /// past the synced length, the file cut short. Each reopen is a `recover` (with
        /// `mixed`, in the other tail mode now and then), and must find every record a sync
        /// acknowledged, in order.
        fn lossy_crashes(seed: u64, tail: TailMode, mixed: bool, (staging, ahead, behind): (usize, u64, usize)) {
            const PAGE: u64 = 4096;
            let tmp = Scratch::new(concat!($module, "-framing-lossy"));
            let mut rng = seed.wrapping_mul(2_654_435_761) | 1;
            let options = AppenderOptions::new().tail(tail).staging(staging).preallocate(ahead).write_behind(behind);
            let mut acked: Vec<(u64, Vec<u8>)> = Vec::new();
            for session in 0..6 {
                let options = match (mixed && next(&mut rng) % 2 == 0, options.tail_mode()) {
                    (true, TailMode::Rewrite) => options.tail(TailMode::NeverRewrite),
                    (true, _) => options.tail(TailMode::Rewrite),
                    (false, _) => options,
                };
                let (synced_records, synced, snapshot) = run(async {
                    let mut log = if session == 0 {
                        Appender::with_options(DirectFile::create(&tmp.0).await.unwrap(), options)
                    } else {
                        let file = DirectFile::open(&tmp.0).await.unwrap();
                        let (log, _) = Appender::recover(file, options).await.unwrap();
                        let (found, end) = read_all(log.file()).await;
                        assert!(found.len() >= acked.len() && found[..acked.len()] == acked[..],
                            "seed {seed}, session {session}: {} records found, {} acknowledged: {end}",
                            found.len(), acked.len());
                        acked = found;
                        log
                    };
                    let mut model = acked.clone();
                    let (mut synced_records, mut synced) = (model.len(), log.synced_len());
                    let mut snapshot = image(log.file()).await;
                    for _ in 0..5 + next(&mut rng) % 30 {
                        match next(&mut rng) % 10 {
                            0..=4 => {
                                let payload = pattern(lossy_len(&mut rng), next(&mut rng));
                                model.push((log.append_framed(&payload).await.unwrap(), payload));
                            }
                            5 | 6 => {
                                let extra = if next(&mut rng) % 2 == 0 { staging } else { 0 };
                                let payload = pattern(lossy_len(&mut rng) + extra, next(&mut rng));
                                let mut buf = AlignedBuf::with_cap(FRAME_HEADER + payload.len()).unwrap();
                                buf.extend(&frame_header(&payload).unwrap()).unwrap();
                                buf.extend(&payload).unwrap();
                                let $compio::BufResult(at, _) = log.append_buf(buf).await;
                                model.push((at.unwrap(), payload));
                            }
                            7 | 8 => {
                                log.sync().await.unwrap();
                                (synced_records, synced) = (model.len(), log.synced_len());
                                snapshot = image(log.file()).await;
                            }
                            _ => log.flush().await.unwrap(),
                        }
                    }
                    acked = model[..synced_records].to_vec();
                    // The crash, once the writes in flight are in (so that none lands after the
                    // damage below): what was not synced is then lost as a device may lose it.
                    log.flush().await.unwrap();
                    let pool = log.file().pool().cloned().expect("the runtime's default pool");
                    drop(log);
                    let out: usize = pool.stats().tiers.iter().map(|t| t.in_use).sum();
                    assert_eq!(out, 0, "seed {seed}, session {session}: a write still in flight");
                    (synced_records, synced, snapshot)
                });
                assert_eq!(synced_records, acked.len());
                let file = std::fs::OpenOptions::new().read(true).write(true).open(&tmp.0).unwrap();
                let len = file.metadata().unwrap().len();
                for page in synced / PAGE..len.div_ceil(PAGE) {
                    let at = page * PAGE;
                    match next(&mut rng) % 5 {
                        0 if at >= synced => file.write_all_at(&[0; PAGE as usize], at).unwrap(),
                        0 => {
                            let mut old = vec![0; PAGE as usize];
                            let have = snapshot.len().saturating_sub(at as usize).min(PAGE as usize);
                            old[..have].copy_from_slice(&snapshot[at as usize..][..have]);
                            file.write_all_at(&old, at).unwrap();
                        }
                        1 => {
                            let (from, end) = (at.max(synced), at + PAGE);
                            if from < end {
                                let off = from + next(&mut rng) % (end - from);
                                let n = (next(&mut rng) % 512 + 1).min(end - off) as usize;
                                file.write_all_at(&pattern(n, next(&mut rng)), off).unwrap();
                            }
                        }
                        _ => {}
                    }
                }
                if next(&mut rng) % 3 == 0 && len > synced {
                    file.set_len(synced + next(&mut rng) % (len - synced + 1)).unwrap();
                }
                file.sync_all().unwrap();
                // Out of the page cache, so that no cached page collides with the direct I/O of
                // the next session.
                // SAFETY: `file` is open; fadvise reads no memory of ours.
                assert_eq!(unsafe { libc::posix_fadvise(std::os::fd::AsRawFd::as_raw_fd(&file), 0, 0, libc::POSIX_FADV_DONTNEED) }, 0);
            }
        }

        /// The file's bytes, read with `O_DIRECT`: no page cache for the appender's writes to
        /// collide with.
        async fn image(file: &DirectFile) -> Vec<u8> {
            let len = file.len().await.unwrap() as usize;
            file.read_exact_at(0, len).await.unwrap().to_vec()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(12))]

            #[test]
            fn lossy_crashes_keep_every_acknowledged_record(
                seed in any::<u64>(),
                tail in prop_oneof![Just(TailMode::Rewrite), Just(TailMode::NeverRewrite)],
                mixed in any::<bool>(),
                config in prop_oneof![
                    Just((4096usize, 0u64, 0usize)),
                    Just((8192, 64 << 10, 1 << 20)),
                    Just((256 << 10, 0, 1 << 20)),
                ],
            ) {
                lossy_crashes(seed, tail, mixed, config);
            }
        }

        /// A `NeverRewrite` sync that pads fewer bytes than a header (records end at 4,089):
        /// the scan reads its header across the page boundary and must still see padding.
        #[test]
        fn padding_shorter_than_a_header_is_skipped() {
            let ops = vec![Op::Append(0), Op::Append(1030), Op::Append(3035), Op::Crash, Op::Append(11209)];
            model_run(ops, TailMode::NeverRewrite, (256 << 10, 0), concat!($module, "-short-padding"));
        }

        /// Twenty records of 1-3,000 bytes, finished; returns their (position, payload).
        async fn twenty(path: &std::path::Path, seed: u64) -> Vec<(u64, Vec<u8>)> {
            let mut log = Appender::new(DirectFile::create(path).await.unwrap());
            let mut model = Vec::new();
            for i in 0..20 {
                let payload = pattern(1 + (random(seed + i) % 3000) as usize, seed + i);
                model.push((log.append_framed(&payload).await.unwrap(), payload));
            }
            log.finish().await.unwrap();
            model
        }

        /// Recovers `path`: the first `keep` records of `model` are found, the log ends at the
        /// end of the last with `reason` (`None`: any), the file is cut there and appending
        /// goes on right after it.
        async fn recovers(path: &std::path::Path, model: &[(u64, Vec<u8>)], keep: usize, reason: Option<EndReason>) {
            let end = model[..keep].last().map_or(0, |(p, r)| p + (FRAME_HEADER + r.len()) as u64);
            let file = DirectFile::open(path).await.unwrap();
            let held = file.len().await.unwrap();
            let (mut log, found) = Appender::recover(file, AppenderOptions::new()).await.unwrap();
            assert_eq!((found.records, found.end.at, found.cut), (keep as u64, end, held - end), "{}", found.end);
            if let Some(reason) = reason {
                assert_eq!(found.end.reason, reason, "{}", found.end);
            }
            assert_eq!(log.append_framed(b"after").await.unwrap(), end);
            let file = log.finish().await.unwrap();
            let (all, tail) = read_all(&file).await;
            assert_eq!(&all[..keep], &model[..keep]);
            assert_eq!((all.len(), &all[keep].1[..]), (keep + 1, &b"after"[..]));
            assert_eq!(tail.reason, EndReason::EndOfFile);
        }

        #[test]
        fn a_tail_cut_at_random_is_found_and_cut() {
            for trial in 0..8 {
                let tmp = Scratch::new(&format!("{}-cut-{trial}", $module));
                run(async {
                    let model = twenty(&tmp.0, trial * 100).await;
                    let (last, payload) = &model[19];
                    let end = last + (FRAME_HEADER + payload.len()) as u64;
                    let cut = last + 1 + random(trial) % (end - last - 1);
                    std::fs::OpenOptions::new().write(true).open(&tmp.0).unwrap().set_len(cut).unwrap();
                    let torn = if cut - last < FRAME_HEADER as u64 {
                        EndReason::Torn { needed: FRAME_HEADER as u64, held: cut - last }
                    } else {
                        EndReason::Torn { needed: end - last, held: cut - last }
                    };
                    recovers(&tmp.0, &model, 19, Some(torn)).await;
                });
            }
        }

        #[test]
        fn a_page_of_garbage_after_the_end_is_found_and_cut() {
            let tmp = Scratch::new(concat!($module, "-garbage"));
            run(async {
                let model = twenty(&tmp.0, 7).await;
                let file = std::fs::OpenOptions::new().write(true).open(&tmp.0).unwrap();
                let len = file.metadata().unwrap().len();
                file.write_all_at(&pattern(4096, 99), len).unwrap();
                file.sync_all().unwrap();
                recovers(&tmp.0, &model, 20, None).await;
            });
        }

        /// Once the scan ends, before the file does (garbage after the log) or with it, no read
        /// ahead is left in flight: every frame of the file's pool is back (a read cancelled
        /// instead would hold its frame until the kernel completes it, and compio 0.17 leaks
        /// it if the runtime drops first).
        #[test]
        fn no_read_ahead_is_left_in_flight_at_the_end() {
            let tmp = Scratch::new(concat!($module, "-settled"));
            run(async {
                let model = twenty(&tmp.0, 11).await;
                let pool = jdb_alloc::fixed::FixedPool::new(&[(2 << 20, 8)]).unwrap();
                let in_use = || pool.stats().tiers.iter().map(|t| t.in_use).sum::<usize>();
                for garbage in [0, 8 << 20] {
                    if garbage > 0 {
                        let file = std::fs::OpenOptions::new().write(true).open(&tmp.0).unwrap();
                        let len = file.metadata().unwrap().len();
                        file.write_all_at(&pattern(garbage, 5), len).unwrap();
                        file.sync_all().unwrap();
                    }
                    let file = DirectFile::open(&tmp.0).await.unwrap().with_pool(pool.clone());
                    let mut records = Records::new(&file).await.unwrap();
                    let mut n = 0;
                    while records.next().await.unwrap().is_some() {
                        n += 1;
                    }
                    assert_eq!(n, model.len());
                    assert_eq!(in_use(), 0, "{garbage} bytes of garbage: {:?}", records.end());
                    // Asked again, the end stays where it was, still with nothing in flight.
                    assert!(records.next().await.unwrap().is_none());
                    assert_eq!(in_use(), 0);
                }
            });
        }

        #[test]
        fn a_page_of_zeros_after_the_end_is_a_clean_end() {
            let tmp = Scratch::new(concat!($module, "-zeros"));
            run(async {
                let model = twenty(&tmp.0, 8).await;
                let file = std::fs::OpenOptions::new().write(true).open(&tmp.0).unwrap();
                let len = file.metadata().unwrap().len();
                file.set_len(len + 4096).unwrap();
                recovers(&tmp.0, &model, 20, Some(EndReason::EndOfFile)).await;
            });
        }

        #[test]
        fn a_flipped_byte_fails_the_checksum() {
            let tmp = Scratch::new(concat!($module, "-flip"));
            run(async {
                let model = twenty(&tmp.0, 9).await;
                // A byte of the 13th record's payload.
                let (pos, payload) = &model[12];
                let at = pos + FRAME_HEADER as u64 + payload.len() as u64 / 2;
                let file = std::fs::OpenOptions::new().read(true).write(true).open(&tmp.0).unwrap();
                let mut byte = [0];
                file.read_exact_at(&mut byte, at).unwrap();
                file.write_all_at(&[!byte[0]], at).unwrap();
                file.sync_all().unwrap();
                recovers(&tmp.0, &model, 12, Some(EndReason::Checksum)).await;
            });
        }

        /// A raw `resume` cuts where it is told; `resume_framed` refuses a cut inside a record.
        #[test]
        fn resume_framed_refuses_a_cut_record() {
            let tmp = Scratch::new(concat!($module, "-resume"));
            run(async {
                let model = twenty(&tmp.0, 10).await;
                let inside = model[5].0 + 3;
                let err = Appender::new(DirectFile::open(&tmp.0).await.unwrap())
                    .resume_framed(inside)
                    .await
                    .unwrap_err();
                assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
                assert!(err.to_string().contains(&format!("between {}", model[5].0)), "{err}");
                let log = Appender::new(DirectFile::open(&tmp.0).await.unwrap())
                    .resume_framed(model[5].0)
                    .await
                    .unwrap();
                assert_eq!(log.len(), model[5].0);
                let file = log.finish().await.unwrap();
                assert_eq!(read_all(&file).await.0, model[..5]);
            });
        }

        /// `NeverRewrite`: a torn record that starts mid-page is cut, not left before the page
        /// boundary where the appender goes on (where the next scan would stop at it, before
        /// the records synced after the recovery).
        #[test]
        fn never_rewrite_recovery_cuts_the_torn_record_before_the_boundary() {
            let tmp = Scratch::new(concat!($module, "-nr-torn"));
            let options = AppenderOptions::new().tail(TailMode::NeverRewrite);
            run(async {
                let file = DirectFile::create(&tmp.0).await.unwrap();
                let mut log = Appender::with_options(file, options);
                log.append_framed(&[1; 100]).await.unwrap();
                log.sync().await.unwrap(); // padded to 4096
                assert_eq!(log.append_framed(&[2; 100]).await.unwrap(), 4096);
                assert_eq!(log.append_framed(&pattern(10_000, 3)).await.unwrap(), 4204);
                log.flush().await.unwrap();
                drop(log);
                // A crash: the pages past the second one never landed.
                std::fs::OpenOptions::new().write(true).open(&tmp.0).unwrap().set_len(8192).unwrap();

                let file = DirectFile::open(&tmp.0).await.unwrap();
                let (mut log, found) = Appender::recover(file, options).await.unwrap();
                assert_eq!((found.records, found.end.at, found.cut), (2, 4204, 8192 - 4204));
                assert!(matches!(found.end.reason, EndReason::Torn { .. }), "{}", found.end);
                assert_eq!(log.append_framed(b"acknowledged").await.unwrap(), 8192);
                log.sync().await.unwrap();
                drop(log);
                // The torn bytes are zeros now: the next recovery finds all three.
                let data = std::fs::read(&tmp.0).unwrap();
                assert!(data[4204..8192].iter().all(|&b| b == 0));
                let file = DirectFile::open(&tmp.0).await.unwrap();
                let (_log, found) = Appender::recover(file, options).await.unwrap();
                assert_eq!((found.records, found.end.reason), (3, EndReason::EndOfFile), "{}", found.end);
            });
        }

        /// A page of zeros at a page boundary is no padding (which never fills a page): a lost
        /// page ends the log, and the records after it are not taken.
        #[test]
        fn a_lost_page_ends_the_log() {
            let tmp = Scratch::new(concat!($module, "-lost-page"));
            run(async {
                let mut log = Appender::new(DirectFile::create(&tmp.0).await.unwrap());
                for i in 0..4u64 {
                    let at = log.append_framed(&pattern(4096 - FRAME_HEADER, i)).await.unwrap();
                    assert_eq!(at, i * 4096); // a record a page
                }
                log.finish().await.unwrap();
                let file = std::fs::OpenOptions::new().write(true).open(&tmp.0).unwrap();
                file.write_all_at(&[0; 4096], 4096).unwrap();
                file.sync_all().unwrap();
                let file = DirectFile::open(&tmp.0).await.unwrap();
                let (records, end) = read_all(&file).await;
                assert_eq!(records.len(), 1, "records after the lost page taken: {end}");
                assert_eq!((end.at, end.stop, end.reason), (4096, 4096, EndReason::Zeros));
                drop(file);
                let file = DirectFile::open(&tmp.0).await.unwrap();
                let (log, found) = Appender::recover(file, AppenderOptions::new()).await.unwrap();
                assert_eq!((found.records, found.cut, log.len()), (1, 3 * 4096, 4096));
            });
        }

        /// What recovery finds is synced before it says so: after a process crash, bytes
        /// written but never synced may still be in the device's cache.
        #[test]
        fn recovery_syncs_what_it_found() {
            let tmp = Scratch::new(concat!($module, "-recover-sync"));
            run(async {
                let mut log = Appender::new(DirectFile::create(&tmp.0).await.unwrap());
                log.append_framed(b"written, never synced").await.unwrap();
                let file = log.finish_unsynced().await.unwrap();
                assert_eq!(file.syncs(), 0);
                drop(file); // the length is the log's end: nothing to cut
                let file = DirectFile::open(&tmp.0).await.unwrap();
                let (log, found) = Appender::recover(file, AppenderOptions::new()).await.unwrap();
                assert_eq!((found.records, found.cut, log.synced_len()), (1, 0, 29));
                assert_eq!(log.file().syncs(), 1, "synced_len says 29 bytes are durable");
            });
        }
    };
}

#[cfg(feature = "compio-17")]
mod v17 {
    framing_cases!(compio, compio17, "v17");
}

#[cfg(feature = "compio-19")]
mod v19 {
    framing_cases!(compio_19, compio19, "v19");
}

#[cfg(feature = "compio-20")]
mod v20 {
    framing_cases!(compio_20, compio20, "v20");
}
