//! Direct I/O files (`jdb_alloc::direct`) through real compio runtimes, 0.17 (`v17::`) and 0.19
//! (`v19::`), on `O_DIRECT` files under `CARGO_TARGET_TMPDIR`: an appender and random reads
//! against a `Vec<u8>` model in both tail modes, a child process killed with SIGKILL while it
//! appends and syncs, and every refusal. The same cases for both versions, from one macro.
#![cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]

mod scratch;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
};

use scratch::{Scratch, pattern, random};

/// The environment variable that turns a crash test into the child that is killed.
const CHILD: &str = "JDB_DIRECT_CRASH_CHILD";

/// A record of the crash test: its total length and index in an 8-byte header, then a pattern
/// of the index; never starts with a zero length, so padding zeros are told apart.
fn crash_record(i: u32) -> Vec<u8> {
    let body = match i % 16 {
        0 => 300 << 10, // past the staging buffer: the large-record path
        1..=3 => 5000 + (i as usize * 977) % 60_000,
        _ => (i as usize * 131) % 700,
    };
    let mut rec = Vec::with_capacity(8 + body);
    rec.extend_from_slice(&(8 + body as u32).to_le_bytes());
    rec.extend_from_slice(&i.to_le_bytes());
    rec.extend(pattern(body, u64::from(i)));
    rec
}

/// Checks that `data` (the file's first `synced` bytes) holds records 0, 1, ... intact up to its
/// end, with zero padding to the next `align` boundary allowed between them; returns how many.
fn check_crash_records(data: &[u8], align: usize) -> u32 {
    let (mut at, mut count) = (0, 0u32);
    while at < data.len() {
        let len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        if len == 0 {
            let next = (at + 1).next_multiple_of(align);
            assert!(
                data[at..next.min(data.len())].iter().all(|&b| b == 0),
                "padding at {at}"
            );
            at = next;
            continue;
        }
        assert_eq!(
            &data[at..at + len],
            &crash_record(count)[..],
            "record {count} at {at}"
        );
        at += len;
        count += 1;
    }
    assert_eq!(at, data.len(), "a synced length inside a record");
    count
}

/// Runs the crash test named `test` as a child, kills it after a random number of syncs it
/// reported (checking that each came after one more completed `fdatasync`), and returns (the
/// last reported length, records reported).
fn run_crash_child(test: &str, path: &Path, mode: &str) -> (u64, u32) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, format!("{mode}:{}", path.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let kill_after = 1 + random(0) % 60;
    let (mut synced, mut records, mut syncs, mut seen) = (0, 0, 0u64, 0);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while seen < kill_after {
        let line = lines.next().expect("the child stopped reporting").unwrap();
        if let Some(rest) = line.strip_prefix("synced ") {
            let fields: Vec<&str> = rest.split(' ').collect();
            let [len, n, done] = fields[..] else {
                panic!("child reported {line:?}")
            };
            (synced, records) = (len.parse().unwrap(), n.parse().unwrap());
            // Killing the child shows only what reached the file, synced or not; the file's
            // count of completed syncs shows each reported length was synced first.
            let done: u64 = done.parse().unwrap();
            assert!(
                done > syncs,
                "length {synced} reported after {done} syncs, as the one before it"
            );
            syncs = done;
            seen += 1;
        }
    }
    child.kill().unwrap(); // SIGKILL, wherever the child is
    child.wait().unwrap();
    (synced, records)
}

/// The cases, for the compio crate `$compio`, this crate's module `direct::$direct` with its
/// marker type `$marker`, and `fixed::$fixed`.
macro_rules! direct_cases {
    ($compio:ident, $direct:ident, $marker:ident, $fixed:ident, $module:literal) => {
        use std::io::ErrorKind;

        use jdb_alloc::{
            AlignedBuf, PAGE_SIZE,
            direct::{
                $direct::{Appender, DirectFile, FileExt},
                AppenderOptions, TailMode,
            },
            fixed::{FixedPool, FixedStatus, $fixed},
        };
        use proptest::prelude::*;
        use $compio::{BufResult, fs::OpenOptions, runtime::Runtime};

        use crate::{CHILD, Scratch, check_crash_records, crash_record, pattern, run_crash_child};

        fn run<F: Future>(future: F) -> F::Output {
            Runtime::new().unwrap().block_on(future)
        }

        #[derive(Clone, Debug)]
        enum Op {
            Append(usize),
            /// `append_buf` of a record built in an aligned buffer.
            AppendBuf(usize),
            Flush,
            Sync,
            Read(u64, usize),
            /// `Appender::read_at`, no flush first: staged bytes read right.
            ReadOwn(u64, usize),
            /// Sync, drop the appender as a crash would, reopen and resume at the synced length.
            Crash,
            /// Finish, reopen and resume at the logical length.
            Reopen,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                6 => (0usize..300).prop_map(Op::Append),
                3 => (300usize..70_000).prop_map(Op::Append),
                1 => (70_000usize..=1 << 20).prop_map(Op::Append),
                2 => (0usize..300_000).prop_map(Op::AppendBuf),
                2 => Just(Op::Flush),
                2 => Just(Op::Sync),
                4 => (any::<u64>(), 0usize..20_000).prop_map(|(p, l)| Op::Read(p, l)),
                4 => (any::<u64>(), 0usize..20_000).prop_map(|(p, l)| Op::ReadOwn(p, l)),
                1 => Just(Op::Crash),
                1 => Just(Op::Reopen),
            ]
        }

        /// Reads a range through `file` (`pos` wrapped to near the model's end) and compares it
        /// with `model`, which the file holds (beyond it: padding zeros or nothing).
        async fn check_read(file: &DirectFile, model: &[u8], pos: u64, len: usize) {
            let known = model.len();
            let file_len = file.len().await.unwrap();
            assert!(file_len >= known as u64, "file {file_len} shorter than flushed {known}");
            let pos = pos % (model.len() as u64 + 2 * PAGE_SIZE as u64);
            let view = file.read_at(pos, len).await.unwrap();
            let expect_len = (file_len.saturating_sub(pos)).min(len as u64) as usize;
            assert_eq!((view.len(), view.pos()), (expect_len, pos), "read_at({pos}, {len})");
            let p = pos as usize;
            if p < known {
                let upto = known.min(p + view.len());
                assert_eq!(&view[..upto - p], &model[p..upto], "read_at({pos}, {len})");
            }
            let exact = file.read_exact_at(pos, len).await;
            if expect_len == len {
                assert_eq!(&exact.unwrap()[..], &view[..]);
            } else {
                assert_eq!(exact.unwrap_err().kind(), ErrorKind::UnexpectedEof);
            }
        }

        /// Runs `ops` against the model; with `tiers`, every file draws its buffers from a
        /// pool of those tiers, whose frames are all back at the end.
        fn model_run(
            ops: Vec<Op>,
            tail: TailMode,
            (staging, behind): (usize, usize),
            name: &str,
            tiers: Option<&[(usize, usize)]>,
        ) {
            let tmp = Scratch::new(name);
            let options = AppenderOptions::new().staging(staging).tail(tail).write_behind(behind);
            run(async {
                let pool = tiers.map(|tiers| FixedPool::new(tiers).unwrap());
                let with_pool = |file: DirectFile| match &pool {
                    Some(pool) => file.with_pool(pool.clone()),
                    None => file,
                };
                let file = with_pool(DirectFile::create(&tmp.0).await.unwrap());
                let align = file.alignment();
                let mut log = Appender::with_options(file, options);
                let mut model: Vec<u8> = Vec::new();
                for (i, op) in ops.into_iter().enumerate() {
                    match op {
                        Op::Append(n) => {
                            let rec = pattern(n, i as u64);
                            let at = log.append(&rec).await.unwrap();
                            assert_eq!(at, model.len() as u64);
                            model.extend(&rec);
                        }
                        Op::AppendBuf(n) => {
                            let rec = pattern(n, i as u64);
                            let mut buf = AlignedBuf::with_cap(n.max(1)).unwrap();
                            buf.extend(&rec).unwrap();
                            let BufResult(at, back) = log.append_buf(buf).await;
                            assert_eq!((at.unwrap(), &back[..]), (model.len() as u64, &rec[..]));
                            model.extend(&rec);
                        }
                        Op::Flush => log.flush().await.unwrap(),
                        Op::Sync => {
                            log.sync().await.unwrap();
                            if tail == TailMode::NeverRewrite {
                                model.resize(model.len().next_multiple_of(align), 0);
                            }
                            assert_eq!(log.synced_len(), model.len() as u64);
                        }
                        Op::Read(pos, len) => {
                            log.flush().await.unwrap();
                            assert_eq!(log.flushed_len(), model.len() as u64);
                            check_read(log.file(), &model, pos, len).await;
                        }
                        Op::ReadOwn(pos, len) => {
                            // Anywhere in what was appended, and past its end.
                            let pos = pos % (model.len() as u64 + 100);
                            let end = pos as usize + len;
                            match log.read_at(pos, len).await {
                                Ok(view) => {
                                    assert!(end <= model.len(), "read_at({pos}, {len}) past {}", model.len());
                                    assert_eq!((view.pos(), &view[..]), (pos, &model[pos as usize..end]));
                                }
                                Err(e) => {
                                    assert!(end > model.len(), "read_at({pos}, {len}): {e}");
                                    assert_eq!(e.kind(), ErrorKind::UnexpectedEof);
                                }
                            }
                            assert!(log.flushed_len() <= log.len());
                        }
                        Op::Crash => {
                            log.sync().await.unwrap();
                            if tail == TailMode::NeverRewrite {
                                model.resize(model.len().next_multiple_of(align), 0);
                            }
                            let synced = log.synced_len();
                            drop(log);
                            let file = with_pool(DirectFile::open(&tmp.0).await.unwrap());
                            log = Appender::with_options(file, options).resume(synced).await.unwrap();
                        }
                        Op::Reopen => {
                            let len = log.len();
                            let file = log.finish().await.unwrap();
                            assert_eq!(file.len().await.unwrap(), len);
                            let file = with_pool(DirectFile::open(&tmp.0).await.unwrap());
                            log = Appender::with_options(file, options).resume(len).await.unwrap();
                            if tail == TailMode::NeverRewrite {
                                model.resize(model.len().next_multiple_of(align), 0);
                            }
                        }
                    }
                    assert_eq!(log.len(), model.len() as u64);
                }
                let file = log.finish().await.unwrap();
                assert_eq!(file.len().await.unwrap(), model.len() as u64);
                assert_eq!(&file.read_at(0, model.len() + 1).await.unwrap()[..], &model[..]);
                drop(file);
                if let Some(pool) = pool {
                    let stats = pool.stats();
                    assert!(stats.tiers.iter().all(|t| t.in_use == 0), "{stats:?}");
                    assert!(stats.fixed_ops + stats.plain_ops > 0, "{stats:?}");
                }
            });
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(12))]

            #[test]
            fn appender_matches_model_rewrite(
                ops in prop::collection::vec(op(), 1..40),
                staging in prop_oneof![Just(4096usize), Just(20_000), Just(256 << 10)],
                behind in prop_oneof![Just(0usize), Just(20_000), Just(4 << 20)],
            ) {
                model_run(ops, TailMode::Rewrite, (staging, behind), concat!($module, "-model-rewrite"), None);
            }

            #[test]
            fn appender_matches_model_never_rewrite(
                ops in prop::collection::vec(op(), 1..40),
                staging in prop_oneof![Just(4096usize), Just(20_000), Just(256 << 10)],
                behind in prop_oneof![Just(0usize), Just(20_000), Just(4 << 20)],
            ) {
                model_run(ops, TailMode::NeverRewrite, (staging, behind), concat!($module, "-model-never"), None);
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(6))]

            /// The same through a pool of small tiers: some buffers are frames, some fall back
            /// (records and reads larger than every tier, a tier lent out).
            #[test]
            fn appender_matches_model_with_a_pool(
                ops in prop::collection::vec(op(), 1..40),
                staging in prop_oneof![Just(4096usize), Just(20_000), Just(256 << 10)],
                never in any::<bool>(),
            ) {
                let tail = if never { TailMode::NeverRewrite } else { TailMode::Rewrite };
                let tiers = [(8 << 10, 2), (64 << 10, 1), (256 << 10, 2)];
                model_run(ops, tail, (staging, AppenderOptions::DEFAULT_WRITE_BEHIND), concat!($module, "-model-pool"), Some(&tiers));
            }
        }

        /// The appender options of crash test `mode`: the default ones in either tail mode, or
        /// (`behind`) small staging buffers, many of them written behind at once, and
        /// (`prealloc`) the same into a file grown ahead of them; `zeroed` is the defaults, the
        /// child laying the file out first.
        fn crash_options(mode: &str) -> AppenderOptions {
            match mode {
                "never" => AppenderOptions::new().tail(TailMode::NeverRewrite),
                "behind" => AppenderOptions::new().staging(16 << 10).write_behind(2 << 20),
                "prealloc" => AppenderOptions::new().staging(16 << 10).write_behind(2 << 20).preallocate(1 << 20),
                _ => AppenderOptions::new(),
            }
        }

        /// The child side of the crash tests: appends records and syncs after every few,
        /// printing each synced length and the file's count of syncs, until killed (or 20 000 syncs).
        fn crash_child(spec: &str) {
            let (mode, path) = spec.split_once(':').unwrap();
            run(async {
                let file = DirectFile::create(path).await.unwrap();
                let mut log = Appender::with_options(file, crash_options(mode));
                if mode == "zeroed" {
                    log.zero_fill(8 << 20).await.unwrap();
                }
                for i in 0..100_000u32 {
                    log.append(&crash_record(i)).await.unwrap();
                    if i % 3 == 2 {
                        log.sync().await.unwrap();
                        println!("synced {} {} {}", log.synced_len(), i + 1, log.file().syncs());
                    }
                }
            });
        }

        fn crash_parent(test: &str, mode: &str) {
            if let Ok(spec) = std::env::var(CHILD) {
                if spec.starts_with(mode) {
                    crash_child(&spec);
                }
                return;
            }
            let tmp = Scratch::new(&format!("{}-crash-{mode}", $module));
            let (synced, records) = run_crash_child(test, &tmp.0, mode);
            run(async {
                let file = DirectFile::open(&tmp.0).await.unwrap();
                let align = file.alignment();
                if mode == "prealloc" {
                    let held = file.len().await.unwrap();
                    assert!(held >= synced.next_multiple_of(1 << 20), "file {held}, synced {synced}: not grown ahead");
                }
                let data = file.read_exact_at(0, synced as usize).await.unwrap();
                assert_eq!(check_crash_records(&data, align), records, "synced {synced}");
                drop(data);
                // And the log goes on from there.
                let mut log = Appender::with_options(file, crash_options(mode))
                    .resume(synced)
                    .await
                    .unwrap();
                let at = log.append(&crash_record(records)).await.unwrap();
                let file = log.finish().await.unwrap();
                let all = file.read_exact_at(0, at as usize + crash_record(records).len()).await.unwrap();
                assert_eq!(check_crash_records(&all, align), records + 1);
            });
        }

        #[test]
        fn synced_records_survive_sigkill_rewrite() {
            crash_parent(concat!($module, "::synced_records_survive_sigkill_rewrite"), "rewrite");
        }

        #[test]
        fn synced_records_survive_sigkill_never_rewrite() {
            crash_parent(concat!($module, "::synced_records_survive_sigkill_never_rewrite"), "never");
        }

        /// Killed while writes behind are in flight: a sync waits for them all, so every byte
        /// it reported is there.
        #[test]
        fn synced_records_survive_sigkill_with_writes_behind() {
            crash_parent(concat!($module, "::synced_records_survive_sigkill_with_writes_behind"), "behind");
        }

        /// The same into a preallocated file: its length says nothing after the kill, the
        /// synced length does.
        #[test]
        fn synced_records_survive_sigkill_with_preallocation() {
            crash_parent(concat!($module, "::synced_records_survive_sigkill_with_preallocation"), "prealloc");
        }

        /// The same over a file laid out with zeros first (`zero_fill`): the syncs that then
        /// commit no file-system metadata still make every reported byte durable.
        #[test]
        fn synced_records_survive_sigkill_after_zero_fill() {
            crash_parent(concat!($module, "::synced_records_survive_sigkill_after_zero_fill"), "zeroed");
        }

        /// With preallocation the file is grown a step at a time ahead of the writes, every
        /// byte appended reads back, and `finish` cuts the file to the log.
        #[test]
        fn preallocation_grows_the_file_ahead_and_finish_cuts_it() {
            let tmp = Scratch::new(concat!($module, "-grown-ahead"));
            let step = 64u64 << 10;
            run(async {
                let options = AppenderOptions::new().staging(16 << 10).write_behind(256 << 10).preallocate(step);
                assert_eq!(options.preallocate_len(), step);
                let mut log = Appender::with_options(DirectFile::create(&tmp.0).await.unwrap(), options);
                let mut model = Vec::new();
                for (i, n) in [100usize, 5000, 100_000, 1, 300_000, 20_000, 7].into_iter().cycle().take(40).enumerate() {
                    let rec = pattern(n, i as u64);
                    assert_eq!(log.append(&rec).await.unwrap(), model.len() as u64);
                    model.extend(&rec);
                    if i % 7 == 3 {
                        log.sync().await.unwrap();
                    }
                    let held = log.file().len().await.unwrap();
                    assert!(held >= log.flushed_len(), "file {held} < flushed {}", log.flushed_len());
                    assert!(held % step == 0, "file {held} not grown by whole steps of {step}");
                }
                let held = log.file().len().await.unwrap();
                assert!(held > model.len() as u64, "file {held}, log {}", model.len());
                assert_eq!(&log.read_at(0, model.len()).await.unwrap()[..], &model[..]);
                let file = log.finish().await.unwrap();
                assert_eq!(file.len().await.unwrap(), model.len() as u64);
                assert_eq!(&file.read_exact_at(0, model.len()).await.unwrap()[..], &model[..]);
            });
        }

        #[test]
        fn misaligned_aligned_operations_are_refused() {
            let tmp = Scratch::new(concat!($module, "-misaligned"));
            run(async {
                let file = DirectFile::create(&tmp.0).await.unwrap();
                let align = file.alignment();
                // A misaligned offset, for a write and a read.
                let BufResult(res, buf) = file.write_aligned_at(AlignedBuf::zeroed(align).unwrap(), 512).await;
                let msg = res.unwrap_err().to_string();
                assert!(msg.contains("offset 512") && msg.contains(&format!("multiples of {align}")), "{msg}");
                let BufResult(res, buf) = file.read_aligned_at(buf, 100).await;
                assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
                // A misaligned length.
                let mut short = AlignedBuf::with_cap(align).unwrap();
                short.extend(&[1; 100]).unwrap();
                let BufResult(res, _) = file.write_aligned_at(short, 0).await;
                let err = res.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidInput);
                assert!(err.to_string().contains("length 100"), "{err}");
                // Nothing reached the file; an aligned write does, and reads back.
                assert_eq!(file.len().await.unwrap(), 0);
                let mut page = buf;
                page.copy_from_slice(&pattern(align, 3));
                let BufResult(res, page) = file.write_aligned_at(page, align as u64).await;
                assert_eq!(res.unwrap(), align);
                let BufResult(res, back) = file.read_aligned_at(AlignedBuf::with_cap(align).unwrap(), align as u64).await;
                assert_eq!(res.unwrap(), align);
                assert_eq!(&back[..], &page[..]);
                // Frames too.
                let mut frames = AlignedBuf::zeroed(4 * align).unwrap().into_frames(align).unwrap();
                let BufResult(res, frame) = file.read_aligned_at(frames.next().unwrap(), 7).await;
                assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
                let BufResult(res, frame) = file.read_aligned_at(frame, align as u64).await;
                assert_eq!((res.unwrap(), &frame[..]), (align, &page[..]));
            });
        }

        #[test]
        fn fixed_frames_through_the_file() {
            let tmp = Scratch::new(concat!($module, "-fixed"));
            run(async {
                let file = DirectFile::create(&tmp.0).await.unwrap();
                let mut frames = $fixed::register(AlignedBuf::zeroed(4 << 16).unwrap(), 1 << 16).unwrap();
                assert_eq!(frames.status(), FixedStatus::Registered);
                let mut frame = frames.next().unwrap();
                frame.copy_from_slice(&pattern(1 << 16, 9));
                let BufResult(res, frame) = file.write_fixed_at(frame, 0).await;
                assert_eq!(res.unwrap(), 1 << 16);
                let BufResult(res, back) = file.inner().read_fixed_at(frames.next().unwrap(), 0).await;
                assert_eq!(res.unwrap(), 1 << 16);
                assert_eq!(&back[..], &frame[..]);
                let BufResult(res, _) = file.read_fixed_at(back, 4096 + 512).await;
                assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
                assert_eq!(&file.read_exact_at(1000, 5000).await.unwrap()[..], &frame[1000..6000]);
            });
        }

        /// Memory the caller keeps goes out and comes back in place: `RawIoBuf` views of an
        /// arena (written out of order, read into another arena's view), and a frame of a pool
        /// the caller owns, not the file's. A view not aligned in memory is refused before the
        /// kernel sees it.
        #[test]
        fn raw_views_and_a_callers_pool_frames_round_trip() {
            use jdb_alloc::RawIoBuf;
            let tmp = Scratch::new(concat!($module, "-raw"));
            run(async {
                let file = DirectFile::create(&tmp.0).await.unwrap();
                let align = file.alignment();
                let mut arena = AlignedBuf::zeroed(4 * align).unwrap();
                arena.copy_from_slice(&pattern(4 * align, 11));
                // SAFETY: `arena` outlives every view below, each awaited to completion, and is
                // not written while they are used.
                let whole = unsafe { arena.as_raw_view() };
                for (page, at) in [(2, 0), (0, 1), (3, 2)] {
                    // SAFETY: as above; the page lies in the arena, aligned and initialised.
                    let view = unsafe { whole.slice_data(page * align, align) };
                    let BufResult(res, back) = file.write_aligned_at(view, (at * align) as u64).await;
                    assert_eq!(res.unwrap(), align, "page {page}");
                    assert_eq!(back.as_ptr(), arena[page * align..].as_ptr());
                }
                let mut target = AlignedBuf::with_cap(4 * align).unwrap();
                // SAFETY: `target` outlives the view, read into once (awaited) before `target`
                // is used again.
                let into = unsafe { target.as_raw() };
                let BufResult(res, into) = file.read_aligned_at(into, 0).await;
                assert_eq!((res.unwrap(), into.len()), (3 * align, 3 * align));
                assert_eq!(into.as_ptr(), target.as_ptr());
                let expect = [&arena[2 * align..3 * align], &arena[..align], &arena[3 * align..]].concat();
                assert_eq!(into.as_slice(), &expect[..]);

                // Misaligned in memory: refused, and nothing written.
                let mut plain = AlignedBuf::zeroed(2 * align).unwrap();
                // SAFETY: `plain` outlives the (refused) write and is not touched meanwhile.
                let skewed = unsafe { RawIoBuf::from_slice(&mut plain[512..512 + align]) };
                let BufResult(res, _) = file.write_aligned_at(skewed, 3 * align as u64).await;
                let err = res.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidInput);
                assert!(err.to_string().contains("aligned to 4096"), "{err}");
                assert_eq!(file.len().await.unwrap(), 3 * align as u64);

                // A frame of the caller's own pool, not the file's.
                let pool = FixedPool::new(&[(align, 2)]).unwrap();
                let mut frame = pool.try_acquire(align).unwrap();
                frame.extend(&pattern(align, 12)).unwrap();
                let BufResult(res, frame) = file.write_aligned_at(frame, 3 * align as u64).await;
                assert_eq!(res.unwrap(), align);
                let stats = pool.stats();
                assert_eq!(stats.fixed_ops + stats.plain_ops, 1, "{stats:?}");
                assert_eq!(&file.read_exact_at(3 * align as u64, align).await.unwrap()[..], &frame[..]);
                // The file's own pool is the runtime's default one, not the caller's.
                assert!(file.pool().is_some_and(|own| own.stats().tiers != stats.tiers));
            });
        }

        #[test]
        fn append_buf_at_a_boundary_and_after_staged_bytes() {
            let tmp = Scratch::new(concat!($module, "-append-buf"));
            run(async {
                for tail in [TailMode::Rewrite, TailMode::NeverRewrite] {
                    let file = DirectFile::create(&tmp.0).await.unwrap();
                    let options = AppenderOptions::new().staging(8192).tail(tail);
                    let mut log = Appender::with_options(file, options);
                    let mut model = Vec::new();
                    // The first record goes out in place, before any staging buffer exists.
                    for (i, len) in [8192, 20_000, 1, 9000, 8192, 0, 50_000].into_iter().enumerate() {
                        let rec = pattern(len, i as u64);
                        let mut buf = AlignedBuf::with_cap(len.max(1)).unwrap();
                        buf.extend(&rec).unwrap();
                        let BufResult(at, _) = log.append_buf(buf).await;
                        assert_eq!(at.unwrap(), model.len() as u64);
                        model.extend(&rec);
                        if i < 2 {
                            log.sync().await.unwrap();
                            if tail == TailMode::NeverRewrite {
                                model.resize(model.len().next_multiple_of(log.file().alignment()), 0);
                            }
                            assert_eq!(log.synced_len(), model.len() as u64);
                        }
                    }
                    let file = log.finish().await.unwrap();
                    assert_eq!(&file.read_exact_at(0, model.len()).await.unwrap()[..], &model[..]);
                }
            });
        }

        /// A flush right after an in-place `append_buf` (nothing staged) leaves no write in
        /// flight: it used to send a write of nothing and not wait for it (its frame then
        /// stayed out of the pool past the appender, and compio 0.17 leaks an operation still
        /// in flight when its runtime drops).
        #[test]
        fn a_flush_with_nothing_staged_leaves_no_write_in_flight() {
            let tmp = Scratch::new(concat!($module, "-flush-empty"));
            run(async {
                let file = DirectFile::create(&tmp.0).await.unwrap();
                let mut log = Appender::with_options(file, AppenderOptions::new().staging(4096));
                let pool = log.file().pool().cloned().expect("the runtime's default pool");
                let in_use = || pool.stats().tiers.iter().map(|t| t.in_use).sum::<usize>();
                log.append(&[1; 100]).await.unwrap();
                log.flush().await.unwrap(); // a staging frame, and a partial page staged again
                assert_eq!(log.append(&[3; 3996]).await.unwrap(), 100); // at 4096, nothing staged
                let mut buf = AlignedBuf::with_cap(8192).unwrap();
                buf.extend(&pattern(8192, 2)).unwrap();
                let BufResult(at, _) = log.append_buf(buf).await;
                assert_eq!(at.unwrap(), 4096); // whole pages, written in place
                log.flush().await.unwrap();
                drop(log);
                assert_eq!(in_use(), 0, "a frame is still out: a write left in flight");
            });
        }

        /// `zero_fill` keeps what was appended before it, the appends after it leave the file's
        /// length alone (they write over the zeros), and `finish` cuts the file to the log.
        #[test]
        fn zero_fill_lays_out_the_file_ahead_of_the_log() {
            let tmp = Scratch::new(concat!($module, "-zero-fill"));
            run(async {
                let file = DirectFile::create(&tmp.0).await.unwrap();
                let mut log = Appender::with_options(file, AppenderOptions::new().staging(8192));
                let mut model = pattern(5000, 1);
                log.append(&model).await.unwrap();
                log.flush().await.unwrap(); // flushed, not synced: zero_fill keeps it
                log.zero_fill(300_000).await.unwrap();
                let laid = 300_000u64.next_multiple_of(PAGE_SIZE as u64);
                assert_eq!(log.file().len().await.unwrap(), laid);
                log.zero_fill(4096).await.unwrap(); // the file is longer already: nothing
                assert_eq!(log.file().len().await.unwrap(), laid);
                for i in 0..40 {
                    let record = pattern(1000 + 97 * i, i as u64);
                    assert_eq!(log.append(&record).await.unwrap(), model.len() as u64);
                    model.extend_from_slice(&record);
                    if i % 7 == 0 {
                        log.sync().await.unwrap();
                        assert_eq!(log.file().len().await.unwrap(), laid, "a sync moved the end");
                    }
                }
                let view = log.read_at(0, model.len()).await.unwrap();
                assert!(view[..] == model[..]);
                let file = log.finish().await.unwrap();
                assert_eq!(file.len().await.unwrap(), model.len() as u64);
                assert!(file.read_exact_at(0, model.len()).await.unwrap()[..] == model[..]);
            });
        }

        /// Over a preallocated file: the zeros go over the space past the log (the file's
        /// length stays the preallocated one), and the log reads back whole.
        #[test]
        fn zero_fill_over_preallocated_space() {
            let tmp = Scratch::new(concat!($module, "-zero-fill-prealloc"));
            run(async {
                let file = DirectFile::create(&tmp.0).await.unwrap();
                let options = AppenderOptions::new().preallocate(1 << 20);
                let mut log = Appender::with_options(file, options);
                let mut model = pattern(6000, 3);
                log.append(&model).await.unwrap();
                log.sync().await.unwrap();
                assert_eq!(log.file().len().await.unwrap(), 1 << 20);
                // ext4 and XFS report preallocated (unwritten) blocks as a hole.
                let first_hole = || {
                    use std::os::fd::AsRawFd;
                    let f = std::fs::File::open(&tmp.0).unwrap();
                    // SAFETY: `lseek` on a descriptor `f` owns and keeps open across the call;
                    // it takes no memory.
                    unsafe { libc::lseek(f.as_raw_fd(), 0, libc::SEEK_HOLE) }
                };
                assert!(first_hole() < 512 << 10, "preallocated space reads as written");
                log.zero_fill(512 << 10).await.unwrap();
                assert_eq!(log.file().len().await.unwrap(), 1 << 20);
                assert_eq!(first_hole(), 512 << 10, "the space up to 512 KiB left unwritten");
                let more = pattern(9000, 4);
                log.append(&more).await.unwrap();
                model.extend_from_slice(&more);
                let file = log.finish().await.unwrap();
                assert!(file.read_exact_at(0, model.len()).await.unwrap()[..] == model[..]);
                assert_eq!(file.len().await.unwrap(), model.len() as u64);
            });
        }

        /// An appender at offset 0 of a file that holds bytes does not zero over them, and a
        /// length past the largest file offset is refused; neither breaks the appender.
        #[test]
        fn zero_fill_refuses_what_it_must_not_write() {
            let tmp = Scratch::new(concat!($module, "-zero-fill-refused"));
            std::fs::write(&tmp.0, b"someone else's bytes").unwrap();
            run(async {
                let mut log = Appender::new(DirectFile::open(&tmp.0).await.unwrap());
                let err = log.zero_fill(1 << 20).await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
                assert!(err.to_string().contains("would overwrite"), "{err}");
                let mut log = log.resume(20).await.unwrap();
                let err = log.zero_fill(u64::MAX).await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
                assert!(err.to_string().contains(&u64::MAX.to_string()), "{err}");
                // More than the filesystem holds: refused before a zero is written.
                let err = log.zero_fill(1 << 50).await.unwrap_err();
                assert!(err.to_string().contains("zero_fill(1125899906842624)"), "{err}");
                assert_eq!(log.file().len().await.unwrap(), 20);
                log.zero_fill(1 << 20).await.unwrap();
                log.append(b", and ours").await.unwrap();
                log.finish().await.unwrap();
            });
            assert_eq!(std::fs::read(&tmp.0).unwrap(), b"someone else's bytes, and ours");
        }

        /// Framed records over a laid-out file, the appender dropped as a crash would: the
        /// scan stops at the zeros, finds every synced record, and the log goes on there.
        #[test]
        fn a_zero_filled_log_recovers_at_its_last_record() {
            let tmp = Scratch::new(concat!($module, "-zero-fill-recover"));
            run(async {
                let file = DirectFile::create(&tmp.0).await.unwrap();
                let mut log = Appender::new(file);
                log.zero_fill(1 << 20).await.unwrap();
                for i in 0..30 {
                    log.append_framed(&pattern(300 + i * 50, i as u64)).await.unwrap();
                }
                log.sync().await.unwrap();
                let end = log.len();
                drop(log);
                let file = DirectFile::open(&tmp.0).await.unwrap();
                assert_eq!(file.len().await.unwrap(), 1 << 20);
                let (mut log, found) = Appender::recover(file, AppenderOptions::new()).await.unwrap();
                assert_eq!((found.records, log.len()), (30, end));
                log.append_framed(b"after the crash").await.unwrap();
                log.finish().await.unwrap();
                let file = DirectFile::open(&tmp.0).await.unwrap();
                let (_, found) = Appender::recover(file, AppenderOptions::new()).await.unwrap();
                assert_eq!(found.records, 31);
            });
        }

        /// An `append_buf` dropped while its in-place write is in flight: `finish` refuses and
        /// gives the file back only once that write landed, so a caller who resumes races
        /// with nothing (the write used to be left to run on its own).
        #[test]
        fn a_dropped_append_buf_write_lands_before_finish_gives_the_file_back() {
            let tmp = Scratch::new(concat!($module, "-append-buf-dropped"));
            run(async {
                let file = DirectFile::create(&tmp.0).await.unwrap();
                let mut log = Appender::with_options(file, AppenderOptions::new().staging(4096));
                let mut buf = AlignedBuf::with_cap(8 << 20).unwrap();
                buf.extend(&pattern(8 << 20, 5)).unwrap();
                {
                    let mut append = std::pin::pin!(log.append_buf(buf));
                    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                    assert!(append.as_mut().poll(&mut cx).is_pending());
                }
                let err = log.finish().await.unwrap_err();
                assert!(err.to_string().contains("unusable"), "{err}");
                let file = err.into_file();
                assert_eq!(file.len().await.unwrap(), 8 << 20, "the write had not landed");
            });
        }

        #[test]
        fn a_cancelled_append_leaves_the_appender_refusing() {
            let tmp = Scratch::new(concat!($module, "-cancel"));
            run(async {
                let file = DirectFile::create(&tmp.0).await.unwrap();
                // No write-behind: the append waits for its write.
                let options = AppenderOptions::new().staging(4096).write_behind(0);
                let mut log = Appender::with_options(file, options);
                log.append(b"synced").await.unwrap();
                log.sync().await.unwrap();
                let record = pattern(1 << 20, 1);
                {
                    // Polled once: its first write is queued; then dropped mid-record.
                    let mut append = std::pin::pin!(log.append(&record));
                    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                    assert!(append.as_mut().poll(&mut cx).is_pending());
                }
                let err = log.append(b"more").await.unwrap_err();
                assert!(err.to_string().contains("unusable") && err.to_string().contains("after 6 synced bytes"), "{err}");
                assert!(log.flush().await.is_err() && log.sync().await.is_err());
                assert_eq!(log.synced_len(), 6);
                // What was synced is there, whether or not the dropped write has landed yet
                // (it carries the same first bytes); a new appender could go on from it.
                let file = DirectFile::open(&tmp.0).await.unwrap();
                assert_eq!(&file.read_exact_at(0, 6).await.unwrap()[..], b"synced");
                let log = Appender::new(file).resume(6).await.unwrap();
                assert_eq!(log.len(), 6);
            });
        }

        /// A sync dropped while it waits for writes behind: the appender refuses from then on,
        /// and what the sync before it covered is there.
        #[test]
        fn a_cancelled_sync_with_writes_behind_leaves_the_appender_refusing() {
            let tmp = Scratch::new(concat!($module, "-cancel-behind"));
            run(async {
                let file = DirectFile::create(&tmp.0).await.unwrap();
                let options = AppenderOptions::new().staging(8192).write_behind(usize::MAX);
                let mut log = Appender::with_options(file, options);
                log.append(b"synced").await.unwrap();
                log.sync().await.unwrap();
                // Whole staging buffers go behind; `append` does not wait for them.
                let record = pattern(100_000, 3);
                log.append(&record).await.unwrap();
                {
                    let mut sync = std::pin::pin!(log.sync());
                    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                    assert!(sync.as_mut().poll(&mut cx).is_pending());
                }
                let err = log.append(b"more").await.unwrap_err();
                assert!(err.to_string().contains("after 6 synced bytes"), "{err}");
                assert!(log.sync().await.is_err());
                drop(log);
                let file = DirectFile::open(&tmp.0).await.unwrap();
                assert_eq!(&file.read_exact_at(0, 6).await.unwrap()[..], b"synced");
            });
        }

        /// A flush cancelled with writes behind (its own among them), then `finish`: the error
        /// gives the file back only once they have all landed, so the cut of a `resume` there
        /// is the file's last word (it failed before: stale writes landed after the cut).
        #[test]
        fn a_failed_finish_gives_the_file_back_with_nothing_in_flight() {
            for (trial, staged) in [0usize, 100, 5000].into_iter().enumerate() {
                let tmp = Scratch::new(&format!("{}-finish-settles-{trial}", $module));
                run(async {
                    let file = DirectFile::create(&tmp.0).await.unwrap();
                    let options = AppenderOptions::new().staging(64 << 10).write_behind(usize::MAX);
                    let mut log = Appender::with_options(file, options);
                    // Enough writes that the last are still queued when `finish` returns.
                    let record = pattern(64 << 10, 1);
                    for _ in 0..256 {
                        log.append(&record).await.unwrap();
                    }
                    log.append(&pattern(staged, 9)).await.unwrap();
                    {
                        let mut flush = std::pin::pin!(log.flush());
                        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                        assert!(flush.as_mut().poll(&mut cx).is_pending());
                    }
                    let err = log.finish().await.unwrap_err();
                    assert!(err.to_string().contains("unusable"), "{err}");
                    let file = err.into_file();
                    let log = Appender::new(file).resume(0).await.unwrap();
                    let file = log.finish().await.unwrap();
                    assert_eq!(file.len().await.unwrap(), 0, "a write landed after the cut");
                });
            }
        }

        /// The glue method under `read_aligned_at` is public (hidden); a read that would leave
        /// unwritten bytes inside the length is refused, not done.
        #[test]
        #[should_panic(expected = "read into [4096, 8192) of a buffer of 0 initialised bytes")]
        fn a_read_past_the_initialised_bytes_is_refused() {
            use jdb_alloc::direct::{Compio, $direct::$marker};
            let tmp = Scratch::new(concat!($module, "-glue"));
            run(async {
                let file = DirectFile::create(&tmp.0).await.unwrap();
                let buf = AlignedBuf::with_cap(8192).unwrap();
                let _ = $marker::read_buf(file.inner(), buf, 4096..8192, 0).await;
            });
        }

        #[test]
        fn zero_lengths_and_reads_past_the_end() {
            let tmp = Scratch::new(concat!($module, "-zero"));
            run(async {
                let mut log = Appender::new(DirectFile::create(&tmp.0).await.unwrap());
                assert_eq!(log.append(&[]).await.unwrap(), 0);
                assert!(log.is_empty());
                log.sync().await.unwrap(); // nothing to sync: no write
                assert_eq!(log.file().len().await.unwrap(), 0);
                assert_eq!(log.append(b"abc").await.unwrap(), 0);
                assert_eq!(log.append(&[]).await.unwrap(), 3);
                let file = log.finish().await.unwrap();
                assert_eq!(file.len().await.unwrap(), 3);
                for pos in [0, 3, 1 << 40] {
                    assert!(file.read_at(pos, 0).await.unwrap().is_empty());
                    assert!(file.read_exact_at(pos, 0).await.unwrap().is_empty());
                }
                assert!(file.read_at(3, 10).await.unwrap().is_empty());
                assert!(file.read_at(1 << 40, 10).await.unwrap().is_empty());
                let err = file.read_exact_at(1, 10).await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
                assert!(err.to_string().contains("read_exact_at(1, 10)") && err.to_string().contains("has 2 of those bytes"), "{err}");
                assert_eq!(file.read_at(u64::MAX - 1, 10).await.unwrap_err().kind(), ErrorKind::InvalidInput);
                // Resuming past the end of the file, or after appending, is refused.
                let file = DirectFile::open(&tmp.0).await.unwrap();
                let err = Appender::new(file).resume(4).await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
                let mut log = Appender::new(DirectFile::create(&tmp.0).await.unwrap());
                log.append(b"x").await.unwrap();
                assert_eq!(log.resume(0).await.unwrap_err().kind(), ErrorKind::InvalidInput);
            });
        }

        /// One request is at most 2 GiB: compio 0.17 cut a read of 4 GiB + 4 KiB to 4 KiB (and
        /// one of exactly 4 GiB to 0, read as the end of the file). The buffer is lazy: only the
        /// file's 8 KiB become resident.
        #[test]
        fn requests_of_4_gib_and_more_are_split() {
            let tmp = Scratch::new(concat!($module, "-4gib"));
            run(async {
                let file = DirectFile::create(&tmp.0).await.unwrap();
                let mut page = AlignedBuf::zeroed(8192).unwrap();
                page.copy_from_slice(&pattern(8192, 4));
                let BufResult(res, page) = file.write_aligned_at(page, 0).await;
                assert_eq!(res.unwrap(), 8192);
                for cap in [1 << 32, (1 << 32) + 4096] {
                    let BufResult(res, back) = file.read_aligned_at(AlignedBuf::with_cap(cap).unwrap(), 0).await;
                    assert_eq!(res.unwrap(), 8192, "read_aligned_at into {cap} bytes");
                    assert_eq!(&back[..8192], &page[..]);
                }
                // A frame goes out in one request: one longer than a request may be is refused.
                let mut frames = AlignedBuf::zeroed(3 << 30).unwrap().into_frames(3 << 30).unwrap();
                let BufResult(res, _) = file.read_aligned_at(frames.next().unwrap(), 0).await;
                let err = res.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidInput);
                assert!(err.to_string().contains(&format!("{}", 3usize << 30)), "{err}");
            });
        }

        /// A recovery that reads a garbage length from a torn header, or an offset past any
        /// file, gets what the file has there: not OutOfMemory, not a bare EINVAL.
        #[test]
        fn garbage_lengths_and_offsets_read_what_the_file_has() {
            let tmp = Scratch::new(concat!($module, "-garbage"));
            std::fs::write(&tmp.0, b"abc").unwrap();
            run(async {
                let file = DirectFile::open(&tmp.0).await.unwrap();
                assert_eq!(&file.read_at(0, 64 << 30).await.unwrap()[..], b"abc");
                assert_eq!(&file.read_at(1, usize::MAX / 2).await.unwrap()[..], b"bc");
                let err = file.read_exact_at(0, 64 << 30).await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::UnexpectedEof, "{err}");
                for pos in [i64::MAX as u64 - 100, 1 << 63, u64::MAX - 8191] {
                    let view = file.read_at(pos, 1000).await.unwrap();
                    assert!(view.is_empty() && view.pos() == pos, "read_at({pos}, 1000)");
                }
                // Past the end, the message names where the file ends.
                let err = file.read_exact_at(100, 10).await.unwrap_err();
                assert!(err.to_string().contains("has 0 of those bytes (it ends at 3)"), "{err}");
                let err = file.read_exact_at(2, 10).await.unwrap_err();
                assert!(err.to_string().contains("has 1 of those bytes (it ends at 3)"), "{err}");
            });
        }

        #[test]
        fn a_staging_size_that_cannot_be_allocated_is_an_error() {
            let tmp = Scratch::new(concat!($module, "-staging"));
            run(async {
                for staging in [usize::MAX, usize::MAX / 2] {
                    let options = AppenderOptions::new().staging(staging);
                    let mut log = Appender::with_options(DirectFile::create(&tmp.0).await.unwrap(), options);
                    let err = log.append(b"x").await.unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::OutOfMemory, "staging({staging}): {err}");
                    let mut record = AlignedBuf::with_cap(1 << 20).unwrap();
                    record.extend(&[1; 1 << 20]).unwrap();
                    let BufResult(res, _) = log.append_buf(record).await;
                    assert_eq!(res.unwrap_err().kind(), ErrorKind::OutOfMemory);
                }
            });
        }

        /// A large record whose buffer cannot be had (nothing written yet) is refused, and the
        /// records appended before it are still there to sync and read: the appender is as it
        /// was (it used to lose its staging buffer, and refuse every call after). The record
        /// is a read-only `MAP_NORESERVE` mapping of zeros four times the size of the memory
        /// and swap, which costs nothing; its aligned copy is what the kernel refuses.
        #[test]
        fn a_record_too_large_to_copy_leaves_the_appender_as_it_was() {
            let tmp = Scratch::new(concat!($module, "-record-too-large"));
            let overcommit = std::fs::read_to_string("/proc/sys/vm/overcommit_memory").unwrap();
            if overcommit.trim() == "1" {
                // Every allocation is granted there: no refusal to see.
                return;
            }
            let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
            let kib = |key: &str| -> usize {
                let line = meminfo.lines().find(|l| l.starts_with(key)).unwrap();
                line.split_whitespace().nth(1).unwrap().parse().unwrap()
            };
            let huge = 4 * (kib("MemTotal:") + kib("SwapTotal:")) << 10;
            // SAFETY: a fresh anonymous read-only mapping, unmapped at the end of the test.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    huge,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            assert_ne!(ptr, libc::MAP_FAILED);
            // SAFETY: the mapping is `huge` readable bytes, alive until the `munmap` below,
            // after the last use of the slice.
            let record: &[u8] = unsafe { std::slice::from_raw_parts(ptr.cast(), huge) };
            run(async {
                let mut log = Appender::new(DirectFile::create(&tmp.0).await.unwrap());
                let first = pattern(100, 1);
                assert_eq!(log.append(&first).await.unwrap(), 0);
                let err = log.append(record).await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::OutOfMemory, "{err}");
                assert!(err.to_string().contains(&format!("append of {huge} bytes")), "{err}");
                log.sync().await.unwrap();
                assert_eq!(&log.read_at(0, 100).await.unwrap()[..], &first[..]);
                assert_eq!(log.append(b"more").await.unwrap(), 100);
                let file = log.finish().await.unwrap();
                assert_eq!(file.len().await.unwrap(), 104);
            });
            // SAFETY: mapped above with this length; `record` is not used after this.
            assert_eq!(unsafe { libc::munmap(ptr, huge) }, 0);
        }

        /// Records given in parts (empty ones among them) land as their concatenation, across
        /// staging-buffer boundaries and through the large-record path, as `Vec` appends would.
        #[test]
        fn records_in_parts_equal_their_concatenation() {
            let tmp = Scratch::new(concat!($module, "-parts"));
            run(async {
                let file = DirectFile::create(&tmp.0).await.unwrap();
                let options = AppenderOptions::new().staging(8 << 10);
                let mut log = Appender::with_options(file, options);
                let mut model = Vec::new();
                for i in 0..40u64 {
                    let lens = [(i as usize * 977) % 5000, 0, (i as usize * 3011) % 30_000, 7];
                    let parts: Vec<Vec<u8>> =
                        lens.iter().enumerate().map(|(k, &n)| pattern(n, i * 4 + k as u64)).collect();
                    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
                    assert_eq!(log.append_vectored(&refs).await.unwrap(), model.len() as u64);
                    model.extend(parts.concat());
                    assert_eq!(log.len(), model.len() as u64);
                }
                assert_eq!(log.append_vectored(&[&[], &[]]).await.unwrap(), model.len() as u64);
                let file = log.finish().await.unwrap();
                assert_eq!(&file.read_exact_at(0, model.len()).await.unwrap()[..], &model[..]);
            });
        }

        /// An appender made with `new` on a file that holds bytes does not write over them;
        /// `resume` goes on after them (`resume(0)` starts over on purpose).
        #[test]
        fn a_new_appender_does_not_overwrite_a_non_empty_file() {
            let tmp = Scratch::new(concat!($module, "-new-non-empty"));
            std::fs::write(&tmp.0, vec![7u8; 10_000]).unwrap();
            run(async {
                let mut log = Appender::new(DirectFile::open(&tmp.0).await.unwrap());
                let err = log.append(b"x").await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidInput);
                assert!(err.to_string().contains("10000 bytes") && err.to_string().contains("resume"), "{err}");
                assert!(log.flush().await.is_err() && log.sync().await.is_err());
                let mut record = AlignedBuf::with_cap(1 << 20).unwrap();
                record.extend(&[1; 1 << 20]).unwrap();
                let BufResult(res, _) = log.append_buf(record).await;
                assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
                // The refusal gives the file back, untouched.
                let err = log.finish().await.unwrap_err();
                assert_eq!(err.error().kind(), ErrorKind::InvalidInput);
                assert!(err.to_string().contains("10000 bytes"), "{err}");
                let file = err.into_file();
                assert!(file.read_exact_at(0, 10_000).await.unwrap().iter().all(|&b| b == 7));
                let mut log = Appender::new(file).resume(10_000).await.unwrap();
                assert_eq!(log.append(b"x").await.unwrap(), 10_000);
                let mut log = Appender::new(log.finish().await.unwrap()).resume(0).await.unwrap();
                assert_eq!(log.append(b"y").await.unwrap(), 0);
                let file = log.finish().await.unwrap();
                assert_eq!(&file.read_at(0, 100).await.unwrap()[..], b"y");
            });
        }

        /// A crash after a flush that was never synced leaves bytes past the synced length;
        /// `resume` cuts them off, so that after the next sync and crash the file's length says
        /// where the log ends and nothing of the old run follows it.
        #[test]
        fn resume_drops_bytes_past_the_synced_length() {
            let tmp = Scratch::new(concat!($module, "-stale"));
            run(async {
                for tail in [TailMode::Rewrite, TailMode::NeverRewrite] {
                    let options = AppenderOptions::new().tail(tail);
                    let mut log = Appender::with_options(DirectFile::create(&tmp.0).await.unwrap(), options);
                    log.append(&[1; 100]).await.unwrap();
                    log.sync().await.unwrap();
                    let synced = log.synced_len();
                    log.append(&[2; 20_000]).await.unwrap();
                    log.flush().await.unwrap(); // lands, never synced
                    drop(log); // crash
                    let file = DirectFile::open(&tmp.0).await.unwrap();
                    let mut log = Appender::with_options(file, options).resume(synced).await.unwrap();
                    let file_len = log.file().len().await.unwrap();
                    assert_eq!(file_len, synced, "{tail:?}");
                    let at = log.append(&[3; 10]).await.unwrap();
                    log.sync().await.unwrap();
                    let end = log.synced_len();
                    drop(log); // crash again
                    let file = DirectFile::open(&tmp.0).await.unwrap();
                    let len = file.len().await.unwrap();
                    assert_eq!(len, end.next_multiple_of(file.alignment() as u64), "{tail:?}");
                    let all = file.read_exact_at(0, len as usize).await.unwrap();
                    assert!(all[..100].iter().all(|&b| b == 1) && all[at as usize..][..10].iter().all(|&b| b == 3));
                    assert!(!all.contains(&2), "{tail:?}: stale bytes of the first run past {end}");
                }
            });
        }

        /// Runs the test `test` of this binary again as a child, under `strace -f` with
        /// `options`, its trace written to `trace`; `spec` in `CHILD` tells it what to do.
        fn traced(
            options: &[&str],
            trace: &std::path::Path,
            test: &str,
            spec: String,
        ) -> std::process::Output {
            std::process::Command::new("strace")
                .arg("-f")
                .args(options)
                .arg("-o")
                .arg(trace)
                .arg(std::env::current_exe().unwrap())
                .args([test, "--exact", "--test-threads=1"])
                .env(CHILD, spec)
                // LeakSanitizer refuses to run under ptrace (the AddressSanitizer pass).
                .env(
                    "ASAN_OPTIONS",
                    format!(
                        "{}:detect_leaks=0",
                        std::env::var("ASAN_OPTIONS").unwrap_or_default()
                    ),
                )
                .output()
                .expect("strace runs")
        }

        /// `create` syncs the new name in its directory: seen with strace (compio's own
        /// syncs go through io_uring, which strace does not see, so the plain `fsync` of the
        /// directory is the only one in the trace).
        #[test]
        fn create_syncs_the_directory_entry() {
            if let Ok(spec) = std::env::var(CHILD) {
                if let Some(path) = spec.strip_prefix("create:") {
                    let unsynced = std::path::Path::new(path).with_extension("unsynced.d");
                    std::fs::create_dir_all(&unsynced).unwrap();
                    run(async {
                        DirectFile::create(path).await.unwrap();
                        DirectFile::create_unsynced(unsynced.join("f")).await.unwrap();
                    });
                }
                return;
            }
            let tmp = Scratch::new(concat!($module, "-create"));
            let trace = Scratch(tmp.0.with_extension("strace"));
            let out = traced(
                &["-y", "-e", "trace=fsync,fdatasync"],
                &trace.0,
                concat!($module, "::create_syncs_the_directory_entry"),
                format!("create:{}", tmp.0.display()),
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success() && tmp.0.exists(), "{}: {stderr}", out.status);
            let log = std::fs::read_to_string(&trace.0).unwrap();
            let dir = tmp.0.parent().unwrap().canonicalize().unwrap();
            assert!(
                log.lines().any(|line| {
                    // strace pads before ` = ` to a column, so the spacing varies.
                    line.contains(" fsync(")
                        && line.contains(&format!("<{}>)", dir.display()))
                        && line.trim_end().ends_with("= 0")
                }),
                "no fsync of {} in the trace:\n{log}",
                dir.display()
            );
            // `create_unsynced` syncs no directory.
            let unsynced = tmp.0.with_extension("unsynced.d");
            assert!(unsynced.join("f").exists());
            let unsynced_dir = unsynced.canonicalize().unwrap();
            assert!(
                !log.lines().any(|line| line.contains(&format!("<{}>)", unsynced_dir.display()))),
                "create_unsynced synced {}:\n{log}",
                unsynced_dir.display()
            );
            std::fs::remove_dir_all(&unsynced).unwrap();
        }

        /// `runtime()` sets its ring up with `COOP_TASKRUN` and `TASKRUN_FLAG`, and
        /// `Runtime::new()` with neither: seen with strace in `io_uring_setup`'s flags (compio
        /// also sets up a small probe ring; the largest ring is the runtime's).
        #[test]
        fn runtime_sets_up_its_ring_with_coop_taskrun() {
            if let Ok(spec) = std::env::var(CHILD) {
                if let Some(path) = spec.strip_prefix("runtime:") {
                    let ours = spec.contains(".ours");
                    let rt = if ours {
                        jdb_alloc::direct::$direct::runtime().unwrap()
                    } else {
                        Runtime::new().unwrap()
                    };
                    rt.block_on(async {
                        let file = DirectFile::create(path).await.unwrap();
                        let view = file.read_at(0, 10).await.unwrap();
                        assert!(view.is_empty());
                    });
                }
                return;
            }
            for way in ["ours", "default"] {
                let tmp = Scratch::new(&format!("{}-runtime.{way}", $module));
                let trace = Scratch(tmp.0.with_extension("strace"));
                let out = traced(
                    &["-e", "trace=io_uring_setup"],
                    &trace.0,
                    concat!($module, "::runtime_sets_up_its_ring_with_coop_taskrun"),
                    format!("runtime:{}", tmp.0.display()),
                );
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(out.status.success(), "{}: {stderr}", out.status);
                let log = std::fs::read_to_string(&trace.0).unwrap();
                // `io_uring_setup(entries, {flags=...`: the ring with the most entries.
                let entries = |line: &str| -> u32 {
                    let after = line.split("io_uring_setup(").nth(1).unwrap_or("");
                    after.split(',').next().unwrap_or("").trim().parse().unwrap_or(0)
                };
                let ring = log
                    .lines()
                    .filter(|l| l.contains("io_uring_setup(") && l.trim_end().ends_with(|c: char| c.is_ascii_digit()))
                    .max_by_key(|l| entries(l))
                    .unwrap_or_else(|| panic!("no io_uring_setup in the trace:\n{log}"));
                let flags = ["IORING_SETUP_COOP_TASKRUN", "IORING_SETUP_TASKRUN_FLAG"];
                let set = flags.map(|f| ring.contains(f));
                let want = way == "ours";
                assert_eq!(set, [want, want], "{way}: {ring}");
            }
        }

        /// `from_file` asks the alignment of the file it is given, not of what its path names
        /// (now, or ever: here nothing).
        #[test]
        fn from_file_asks_the_descriptor() {
            let tmp = Scratch::new(concat!($module, "-from-file"));
            run(async {
                let mut options = OpenOptions::new();
                options.read(true).write(true).create(true);
                let file = options.open(&tmp.0).await.unwrap();
                let direct = DirectFile::from_file(file, "/no such directory/log").unwrap();
                assert_eq!(direct.path(), std::path::Path::new("/no such directory/log"));
                assert!(direct.alignment() >= PAGE_SIZE);
                let opened = DirectFile::open(&tmp.0).await.unwrap();
                assert_eq!((direct.alignment(), direct.dio_align()), (opened.alignment(), opened.dio_align()));
            });
        }

        #[test]
        fn a_filesystem_without_direct_io_is_refused_by_name() {
            run(async {
                let mut options = OpenOptions::new();
                options.read(true);
                for (path, fs) in [("/proc/self/stat", "proc"), ("/sys/kernel/mm/transparent_hugepage/enabled", "sysfs")] {
                    let err = DirectFile::open_with(path, &options).await.unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::Unsupported);
                    let msg = err.to_string();
                    assert!(msg.contains(path) && msg.contains(&format!("its {fs} filesystem")), "{msg}");
                }
                // O_APPEND would send the appender's positioned writes to the end of the file.
                let tmp = Scratch::new(concat!($module, "-append-flag"));
                let mut options = OpenOptions::new();
                options.read(true).write(true).create(true).custom_flags(libc::O_APPEND);
                let err = DirectFile::open_with(&tmp.0, &options).await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidInput);
                assert!(err.to_string().contains("O_APPEND"), "{err}");
                // A missing file is compio's own error.
                let err = DirectFile::open("/proc/no such file").await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::NotFound);
            });
        }

        #[test]
        fn preallocate_and_set_len() {
            let tmp = Scratch::new(concat!($module, "-prealloc"));
            run(async {
                let file = DirectFile::create(&tmp.0).await.unwrap();
                file.preallocate(1 << 20, true).await.unwrap();
                assert_eq!(file.len().await.unwrap(), 0);
                file.preallocate(1 << 20, false).await.unwrap();
                assert_eq!(file.len().await.unwrap(), 1 << 20);
                file.set_len(5000).await.unwrap();
                assert_eq!(file.len().await.unwrap(), 5000);
                assert!(file.read_exact_at(0, 5000).await.unwrap().iter().all(|&b| b == 0));
                file.sync_all().await.unwrap();
                file.sync_data().await.unwrap();
            });
        }
    };
}

#[cfg(feature = "compio-17")]
mod v17 {
    direct_cases!(compio, compio17, Compio17, compio17, "v17");
}

#[cfg(feature = "compio-19")]
mod v19 {
    direct_cases!(compio_19, compio19, Compio19, compio19, "v19");
}

#[cfg(feature = "compio-20")]
mod v20 {
    direct_cases!(compio_20, compio20, Compio20, compio20, "v20");
}
