//! The runtime's default pool, as a user who never asked for one gets it: its size under the
//! memory-lock limit (8 MiB, 128 KiB, 4 KiB), what falls back to plain buffers and how that is
//! counted, the setting that sizes or disables it, and its memory going with its runtime. The
//! limit, `VmPin` and the setting are process-wide, so the tests of this binary take turns.
#![cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]

mod memlock;
mod scratch;
mod turn;
mod vm_pin;

/// The cases, for the compio crate `$compio` and this crate's module `direct::$direct`.
macro_rules! default_pool_cases {
    ($compio:ident, $direct:ident) => {
        use jdb_alloc::{
            direct::{
                ReadView,
                $direct::{Appender, DirectFile},
            },
            fixed::{
                DefaultPool, FixedStatus, default_pool, default_pool_setting, default_pool_tiers,
                set_default_pool,
            },
        };
        use $compio::runtime::Runtime;

        use crate::{
            memlock::{MemlockLimit, drop_ipc_lock},
            scratch::Scratch,
            turn::turn,
            vm_pin::pinned,
        };

        /// Writes 300 KiB through an appender (a 256 KiB staging buffer, then a flush), reads
        /// back 4 KiB, 60 KiB and 1 MiB + 1 ranges, checks every byte, and gives the file's
        /// pool stats.
        /// Runs `f` on a thread of its own without `CAP_IPC_LOCK`, with a runtime made before
        /// `RLIMIT_MEMLOCK` is lowered to `bytes` (the ring's own memory counts against the
        /// limit: under 64 KiB no ring could be made at all). Restored after, also on a panic.
        fn limited<T: Send + 'static>(
            bytes: usize,
            f: impl FnOnce(&Runtime) -> T + Send + 'static,
        ) -> T {
            probed();
            std::thread::spawn(move || {
                drop_ipc_lock();
                let rt = Runtime::new().unwrap();
                let _low = MemlockLimit::lower_to(bytes);
                f(&rt)
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }

        /// Runs one operation on a runtime without a pool, once per process, before any limit
        /// is lowered. compio 0.19 and 0.20 ask the kernel which opcodes it has at their first
        /// operation, through a small ring of their own; when the limit leaves no room for that
        /// ring they run `openat` on a thread instead, and then keep the result's value (0,
        /// standard input) as the file's descriptor and close the one opened: an I/O-safety
        /// abort. A process's limit holds from its start, when that ring fits; here the limit
        /// is lowered after the fact, so the probe is made first.
        fn probed() {
            static PROBED: std::sync::Once = std::sync::Once::new();
            PROBED.call_once(|| {
                let tmp = Scratch::new(concat!(stringify!($direct), "_probe"));
                let before = pinned();
                let setting = default_pool_setting();
                set_default_pool(DefaultPool::Off);
                let rt = Runtime::new().unwrap();
                set_default_pool(setting);
                rt.block_on(async { DirectFile::create_unsynced(&tmp.0).await.unwrap() });
                drop(rt);
                // The limits below are set against what is pinned: this ring's pages first go.
                unpinned(before);
            });
        }

        fn exercise(rt: &Runtime, name: &str) -> jdb_alloc::fixed::PoolStats {
            let tmp = Scratch::new(&format!("{}_{name}", stringify!($direct)));
            rt.block_on(async {
                let file = DirectFile::create(&tmp.0).await.unwrap();
                let pool = file.pool().expect("a default pool").clone();
                let record: Vec<u8> = (0..(1 << 20) + 14_000).map(|i| (i % 251) as u8).collect();
                let mut log = Appender::new(file);
                // Staged, then a record longer than the staging buffer (written from a buffer
                // of its own), then the staged tail, flushed by `finish`.
                log.append(&record[..10_000]).await.unwrap();
                log.append(&record[10_000..]).await.unwrap();
                let file = log.finish().await.unwrap();
                for (pos, len) in [(0, 4096), (100, 60 << 10), (7, (1 << 20) + 1)] {
                    let view = file.read_exact_at(pos, len).await.unwrap();
                    assert_eq!(&view[..], &record[pos as usize..pos as usize + len]);
                }
                pool.stats()
            })
        }

        /// Waits until `VmPin` is back to `before`: the kernel unpins a closed ring's buffers
        /// in the background.
        fn unpinned(before: usize) {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while pinned() > before {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{} bytes still pinned 30 s after the runtime dropped, {before} before",
                    pinned()
                );
                std::thread::yield_now();
            }
        }

        /// Under an 8 MiB limit without `CAP_IPC_LOCK` (a user's usual `ulimit -l`): half of
        /// what it leaves, all registered; what no tier holds (the 1 MiB + 1 read, the
        /// appender's large write) is a counted miss, never an error.
        #[test]
        fn sized_to_half_of_an_8_mib_limit() {
            let _turn = turn();
            let before = pinned();
            let (room, stats) = limited(8 << 20, |rt| {
                let room = (8 << 20) - pinned();
                (room, exercise(rt, "memlock_8m"))
            });
            unpinned(before);
            let tiers: Vec<_> = stats
                .tiers
                .iter()
                .map(|t| (t.frame_len, t.frames))
                .collect();
            assert_eq!(tiers, default_pool_tiers(room / 2), "{stats:?}");
            assert!(
                stats
                    .tiers
                    .iter()
                    .all(|t| t.status == FixedStatus::Registered),
                "{stats:?}"
            );
            // Fixed: the staged tail's write, the 4 KiB and 60 KiB reads.
            assert!(stats.fixed_ops >= 3 && stats.plain_ops == 0, "{stats:?}");
            // The 1 MiB record's write from a buffer of its own, and the 1 MiB + 1 read.
            assert!(stats.misses >= 2, "{stats:?}");
            assert!(stats.tiers.iter().all(|t| t.in_use == 0), "{stats:?}");
        }

        /// Under a small limit, 128 KiB: sixteen 4 KiB frames, which the
        /// kernel refuses to register (the ring's own memory counts against the limit too):
        /// the 4 KiB read goes through a frame all the same, fixed or plain as the counters
        /// say; the staging buffer and the longer reads fall back to plain buffers, counted.
        /// Nothing fails. (Not 64 KiB: the runtime's own ring pins more than that; there
        /// `default_pool_tiers` says what it gives.)
        #[test]
        fn a_small_limit_gives_small_frames_and_counts_the_rest() {
            let _turn = turn();
            let before = pinned();
            let (room, stats) = limited(128 << 10, |rt| {
                let room = (128 << 10) - pinned();
                (room, exercise(rt, "memlock_128k"))
            });
            unpinned(before);
            let tiers: Vec<_> = stats
                .tiers
                .iter()
                .map(|t| (t.frame_len, t.frames))
                .collect();
            assert_eq!(tiers, default_pool_tiers(room / 2), "{stats:?}");
            assert_eq!(default_pool_tiers(32 << 10), [(4096, 8)]);
            match stats.tiers[0].status {
                FixedStatus::Registered => assert_eq!((stats.fixed_ops, stats.plain_ops), (1, 0)),
                FixedStatus::Refused(libc::ENOMEM) => {
                    assert_eq!((stats.fixed_ops, stats.plain_ops), (0, 1))
                }
                other => panic!("registration under 128 KiB: {other:?}"),
            }
            // The staging buffer, the large record's buffer, the 60 KiB and 1 MiB reads.
            assert!(stats.misses >= 4, "{stats:?}");
        }

        /// Under a 4 KiB limit no frame fits half of it: no default pool, plain buffers, the
        /// same bytes.
        #[test]
        fn a_tiny_limit_gives_no_pool() {
            let _turn = turn();
            limited(4 << 10, |rt| {
                let tmp = Scratch::new(concat!(stringify!($direct), "_memlock_4k"));
                rt.block_on(async {
                    assert!(default_pool().is_none());
                    let file = DirectFile::create(&tmp.0).await.unwrap();
                    assert!(file.pool().is_none());
                    let mut log = Appender::new(file);
                    log.append(b"plain").await.unwrap();
                    let file = log.finish().await.unwrap();
                    assert_eq!(&file.read_at(0, 10).await.unwrap()[..], b"plain");
                });
            });
        }

        /// `Off` and `Bytes` apply to runtimes made after the call; `with_pool` and
        /// `without_pool` override per file.
        #[test]
        fn the_setting_sizes_or_disables_it() {
            let _turn = turn();
            let tmp = Scratch::new(concat!(stringify!($direct), "_setting"));
            let before = pinned();
            set_default_pool(DefaultPool::Off);
            let off = Runtime::new()
                .unwrap()
                .block_on(async { DirectFile::create(&tmp.0).await.unwrap().pool().is_none() });
            set_default_pool(DefaultPool::Bytes(1 << 20));
            let tiers = Runtime::new().unwrap().block_on(async {
                let file = DirectFile::create(&tmp.0).await.unwrap();
                let plain = file.without_pool();
                assert!(plain.pool().is_none());
                let file = DirectFile::open(&tmp.0).await.unwrap();
                let stats = file.pool().unwrap().stats();
                stats
                    .tiers
                    .iter()
                    .map(|t| (t.frame_len, t.frames))
                    .collect::<Vec<_>>()
            });
            set_default_pool(DefaultPool::Auto);
            unpinned(before);
            assert!(off, "DefaultPool::Off still made a pool");
            assert_eq!(tiers, default_pool_tiers(1 << 20));
        }

        /// A scan with the default `ReaderOptions` reads into the default pool's frames:
        /// under the 8 MiB limit of these machines' users, every read is fixed (a chunk fits
        /// the largest tier, which holds the window), none a miss.
        #[test]
        fn a_default_scan_reads_into_registered_frames() {
            use jdb_alloc::direct::ReaderOptions;

            let _turn = turn();
            let before = pinned();
            let (stats, chunks, tiers) = limited(8 << 20, |rt| {
                let tmp = Scratch::new(concat!(stringify!($direct), "_scan"));
                rt.block_on(async {
                    let data = crate::scratch::pattern(5 << 20, 3);
                    std::fs::write(&tmp.0, &data).unwrap();
                    let file = DirectFile::open(&tmp.0).await.unwrap();
                    let pool = file.pool().expect("a default pool").clone();
                    let start = pool.stats();
                    let (mut reader, mut seen, mut chunks) = (file.reader(0), Vec::new(), 0);
                    while let Some(view) = reader.next_chunk().await.unwrap() {
                        seen.extend_from_slice(&view);
                        chunks += 1;
                    }
                    assert!(seen == data, "the scan's bytes differ from the file's");
                    let end = pool.stats();
                    let tiers: Vec<_> = end.tiers.iter().map(|t| (t.frame_len, t.frames)).collect();
                    let ops = (
                        end.fixed_ops - start.fixed_ops,
                        end.plain_ops - start.plain_ops,
                    );
                    ((ops, end.misses - start.misses), chunks, tiers)
                })
            });
            unpinned(before);
            let largest = tiers.iter().max().copied().unwrap_or_default();
            assert!(
                largest.0 >= ReaderOptions::DEFAULT_CHUNK
                    && largest.1 >= ReaderOptions::DEFAULT_WINDOW,
                "the largest tier {largest:?} cannot hold a default scan's window: {tiers:?}"
            );
            assert_eq!(chunks, (5 << 20) / ReaderOptions::DEFAULT_CHUNK);
            // Each chunk's read, and the reads ahead past the end (empty: the file may grow).
            let ((fixed, plain), misses) = stats;
            assert!(
                fixed >= chunks as u64 && plain == 0 && misses == 0,
                "{stats:?}"
            );
        }

        /// Scans `data` with `options`, checking every byte, and keeps the last view: gives the
        /// reader's own pool (its tiers' lengths and counts, and stats) if it made one, and the
        /// default pool's misses during the scan.
        async fn scan(
            file: &DirectFile,
            data: &[u8],
            options: jdb_alloc::direct::ReaderOptions,
        ) -> (
            Option<(Vec<(usize, usize)>, jdb_alloc::fixed::PoolStats)>,
            u64,
            ReadView,
        ) {
            let misses = || file.pool().map_or(0, |p| p.stats().misses);
            let start = misses();
            let mut reader = file.reader_with(0, options);
            let (mut seen, mut last) = (Vec::new(), None);
            while let Some(view) = reader.next_chunk().await.unwrap() {
                seen.extend_from_slice(&view);
                // Only the last is kept: one view held at a time, as the frames allow for.
                if view.pos() as usize + view.len() == data.len() {
                    last = Some(view);
                }
            }
            assert!(seen == data, "the scan's bytes differ from the file's");
            // The reader's own pool is the one of a single tier of its chunk's length.
            let own = reader.pool().map(|p| p.stats()).filter(|stats| {
                let tiers = &stats.tiers;
                tiers.len() == 1 && tiers[0].frame_len == options.chunk_len()
            });
            let own = own.map(|stats| {
                let tiers = stats
                    .tiers
                    .iter()
                    .map(|t| (t.frame_len, t.frames))
                    .collect();
                (tiers, stats)
            });
            (own, misses() - start, last.expect("a view"))
        }

        /// Chunks longer than the default pool's frames: after its first window (plain
        /// buffers, the pool's misses), the reader reads into registered frames of its own,
        /// under the 8 MiB limit of these machines' users. The last view outlives the reader
        /// and drops on another thread; its frame's registration is let go of then, while the
        /// runtime lives.
        #[test]
        fn a_scan_of_long_chunks_reads_into_frames_of_its_own() {
            use jdb_alloc::direct::ReaderOptions;

            let _turn = turn();
            let before = pinned();
            limited(8 << 20, |rt| {
                let tmp = Scratch::new(concat!(stringify!($direct), "_own_frames"));
                rt.block_on(async {
                    let data = crate::scratch::pattern(6 << 20, 4);
                    std::fs::write(&tmp.0, &data).unwrap();
                    let file = DirectFile::open(&tmp.0).await.unwrap();
                    let options = ReaderOptions::new().chunk(512 << 10).window(3);
                    let with_pool = pinned();
                    let (own, misses, last) = scan(&file, &data, options).await;
                    let (tiers, stats) = own.expect("a pool of the reader's own");
                    assert_eq!(tiers, [(512 << 10, 4)]);
                    // 12 chunks: the pool is made once 3 whole views are given, by when 5 reads
                    // were issued (plain); the other 7 (and reads past the end) are fixed.
                    assert!(
                        stats.fixed_ops >= 7 && stats.plain_ops == 0 && stats.misses == 0,
                        "{stats:?}"
                    );
                    assert!(misses >= 5, "the first window's reads: {misses} misses");
                    assert!(
                        pinned() >= with_pool + (2 << 20),
                        "the own frames are not pinned"
                    );
                    assert_eq!(&last[..], &data[data.len() - last.len()..]);
                    std::thread::spawn(move || drop(last)).join().unwrap();
                    // The reader and its last view gone: the runtime, run again, unpins them.
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
                    while pinned() >= with_pool + (2 << 20) {
                        assert!(std::time::Instant::now() < deadline, "still pinned");
                        std::thread::yield_now();
                        $compio::runtime::spawn(async {}).await.unwrap();
                    }
                });
            });
            unpinned(before);
        }

        /// Where the kernel refuses the reader's own pool (a 128 KiB limit, which the default
        /// pool already fills), and for a file without a pool, the reads stay in plain buffers:
        /// the same bytes, no error.
        #[test]
        fn long_chunks_read_plain_where_no_frames_can_be_had() {
            use jdb_alloc::direct::ReaderOptions;

            let _turn = turn();
            let before = pinned();
            limited(128 << 10, |rt| {
                let tmp = Scratch::new(concat!(stringify!($direct), "_own_refused"));
                rt.block_on(async {
                    let data = crate::scratch::pattern(1 << 20, 5);
                    std::fs::write(&tmp.0, &data).unwrap();
                    let file = DirectFile::open(&tmp.0).await.unwrap();
                    assert!(file.pool().is_some(), "a default pool");
                    let options = ReaderOptions::new().chunk(64 << 10).window(2);
                    let (own, misses, _) = scan(&file, &data, options).await;
                    assert!(own.is_none(), "{own:?}");
                    assert!(misses >= 16, "every chunk a miss: {misses}");
                    let file = file.without_pool();
                    let (own, _, _) = scan(&file, &data, options).await;
                    assert!(own.is_none(), "{own:?}");
                });
            });
            unpinned(before);
        }

        /// Readers' own pools hold `OWN_FRAMES_MAX` bytes at most, together, for as long as
        /// their memory lives: a second reader that would pass it reads plain; so does a third
        /// while a view of the first's pool is kept after the first dropped (the budget was
        /// given back with the reader, while the view kept its pool pinned); a fourth, once
        /// that view is gone, gets frames again. (Where 64 MiB cannot be pinned, none does.)
        #[test]
        fn readers_own_frames_stay_within_their_budget() {
            use jdb_alloc::direct::ReaderOptions;

            let _turn = turn();
            let tmp = Scratch::new(concat!(stringify!($direct), "_own_budget"));
            let chunk = 24 << 20;
            // Two frames of 24 MiB (window 1): 48 MiB, one such pool under the 64 MiB budget.
            assert!(
                2 * chunk <= ReaderOptions::OWN_FRAMES_MAX
                    && 4 * chunk > ReaderOptions::OWN_FRAMES_MAX
            );
            let can = crate::memlock::can_lock(ReaderOptions::OWN_FRAMES_MAX + (16 << 20));
            let before = pinned();
            Runtime::new().unwrap().block_on(async {
                let data = crate::scratch::pattern(2 * chunk + 5000, 6);
                std::fs::write(&tmp.0, &data).unwrap();
                let file = DirectFile::open(&tmp.0).await.unwrap();
                let options = ReaderOptions::new().chunk(chunk).window(1);
                let has_own = |reader: &jdb_alloc::direct::$direct::Reader<'_>| {
                    reader
                        .pool()
                        .is_some_and(|p| p.stats().tiers[0].frame_len == chunk)
                };
                // The first whole view, plain, then the second, read into the reader's own
                // pool where it got one, kept; then to the end, so that no read is left in
                // flight (compio 0.17 leaks those with their runtime, and the pool with them).
                let two_views = async |reader: &mut jdb_alloc::direct::$direct::Reader<'_>| {
                    let first = reader.next_chunk().await.unwrap().unwrap();
                    assert!(first[..] == data[..chunk]);
                    drop(first);
                    let second = reader.next_chunk().await.unwrap().unwrap();
                    assert!(second[..] == data[chunk..2 * chunk]);
                    let last = reader.next_chunk().await.unwrap().unwrap();
                    assert!(last[..] == data[2 * chunk..]);
                    drop(last);
                    assert!(reader.next_chunk().await.unwrap().is_none());
                    second
                };
                let mut first = file.reader_with(0, options);
                let kept = two_views(&mut first).await;
                assert_eq!(has_own(&first), can, "first: {first:?}");
                let mut second = file.reader_with(0, options);
                drop(two_views(&mut second).await);
                assert!(!has_own(&second), "past the budget: {second:?}");
                drop((first, second));
                let mut third = file.reader_with(0, options);
                drop(two_views(&mut third).await);
                assert!(
                    !has_own(&third),
                    "a kept view holds the first's pool: {third:?}"
                );
                drop((third, kept));
                let mut fourth = file.reader_with(0, options);
                drop(two_views(&mut fourth).await);
                assert_eq!(has_own(&fourth), can, "fourth: {fourth:?}");
            });
            // The tests after this one size their pools by what is pinned.
            unpinned(before);
        }

        /// A reader of a chunk or two (a header, a footer, a small file) with the default
        /// window makes no pool of its own, whatever its chunk: one is made only once a window
        /// of whole chunks was given.
        #[test]
        fn a_short_reader_makes_no_pool_of_its_own() {
            use jdb_alloc::direct::ReaderOptions;

            let _turn = turn();
            let tmp = Scratch::new(concat!(stringify!($direct), "_own_short"));
            let chunk = 1 << 20;
            let before = pinned();
            Runtime::new().unwrap().block_on(async {
                let data = crate::scratch::pattern(2 * chunk, 8);
                std::fs::write(&tmp.0, &data).unwrap();
                let file = DirectFile::open(&tmp.0).await.unwrap();
                let mut reader = file.reader_with(0, ReaderOptions::new().chunk(chunk));
                let mut seen = Vec::new();
                while let Some(view) = reader.next_chunk().await.unwrap() {
                    seen.extend_from_slice(&view);
                }
                assert!(seen == data);
                let own = reader.pool().map(|p| p.stats());
                let own = own.filter(|s| s.tiers.len() == 1 && s.tiers[0].frame_len == chunk);
                assert!(own.is_none(), "two chunks read, a pool of its own: {own:?}");
            });
            unpinned(before);
        }

        /// One pool per runtime, pinned while its runtime lives and unpinned once it drops,
        /// with a frame still out on another thread.
        #[test]
        fn goes_with_its_runtime() {
            let _turn = turn();
            let tmp = Scratch::new(concat!(stringify!($direct), "_runtime_drop"));
            let before = pinned();
            let rt = Runtime::new().unwrap();
            let (view, pool_pinned) = rt.block_on(async {
                let file = DirectFile::create(&tmp.0).await.unwrap();
                file.write_aligned_at(jdb_alloc::AlignedBuf::zeroed(4096).unwrap(), 0)
                    .await
                    .0
                    .unwrap();
                let pool = file.pool().unwrap().clone();
                let again = DirectFile::open(&tmp.0).await.unwrap();
                // Both files share the runtime's pool: a frame taken through one shows in the
                // other's stats.
                let view = again.read_exact_at(0, 4096).await.unwrap();
                assert_eq!(
                    file.pool()
                        .unwrap()
                        .stats()
                        .tiers
                        .iter()
                        .map(|t| t.in_use)
                        .sum::<usize>(),
                    1
                );
                let bytes: usize = pool
                    .stats()
                    .tiers
                    .iter()
                    .map(|t| t.frame_len * t.frames)
                    .sum();
                (view, bytes)
            });
            assert!(
                pinned() >= before + pool_pinned,
                "the default pool is not pinned"
            );
            drop(rt);
            // The view's frame is freed on another thread, after its runtime is gone.
            std::thread::spawn(move || assert!(view.iter().all(|&b| b == 0)))
                .join()
                .unwrap();
            // The registration's pages were let go of with the ring.
            unpinned(before);
        }
    };
}

#[cfg(feature = "compio-17")]
mod v17 {
    default_pool_cases!(compio, compio17);
}

#[cfg(feature = "compio-19")]
mod v19 {
    default_pool_cases!(compio_19, compio19);
}

#[cfg(feature = "compio-20")]
mod v20 {
    default_pool_cases!(compio_20, compio20);
}
