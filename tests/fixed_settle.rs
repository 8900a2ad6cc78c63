//! `settle` waits for this crate's operations only until compio reports their results, whatever
//! holds them afterwards.
#![cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]

mod pipe;
mod poll;
mod proc_mem;
mod scratch;
mod turn;

use std::{future::Future, os::unix::fs::OpenOptionsExt, pin::pin, sync::mpsc, time::Duration};

use scratch::Scratch;
// One test at a time: one measures what is resident at an address that another's mapping
// could take.
use turn::turn;

const CHUNK: usize = 64 * 1024;

/// A read whose future is polled once and then kept, unpolled, while the task settles (a read
/// pinned outside a `select!` loop whose shutdown branch settles): the read completes in the
/// kernel meanwhile, so `settle` returns, with the future still alive. On a thread of its own,
/// so that a `settle` that hangs fails the test instead of hanging it.
macro_rules! settle_live_future_case {
    ($name:ident, $compio:ident, $fixed:ident) => {
        #[test]
        fn $name() {
            use jdb_alloc::{AlignedBuf, fixed::$fixed};
            use $compio::runtime::Runtime;

            let _turn = turn();
            let tmp = Scratch::new(stringify!($name));
            std::fs::write(&tmp.0, vec![3u8; CHUNK]).unwrap();
            let file = std::fs::File::options()
                .read(true)
                .custom_flags(libc::O_DIRECT)
                .open(&tmp.0)
                .unwrap();
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                Runtime::new().unwrap().block_on(async {
                    let file = $compio::driver::SharedFd::new(file);
                    let frame = $fixed::register(AlignedBuf::zeroed(CHUNK).unwrap(), CHUNK)
                        .unwrap()
                        .next()
                        .unwrap();
                    let mut read = pin!($fixed::read_fixed_at(&file, frame, 0));
                    poll::poll_pending(read.as_mut()).await;
                    $fixed::settle().await;
                    tx.send(()).unwrap();
                    let $compio::BufResult(n, frame) = read.await;
                    assert_eq!(n.unwrap(), CHUNK);
                    assert!(frame.iter().all(|&b| b == 3));
                    tx.send(()).unwrap();
                });
            });
            let wait = Duration::from_secs(10);
            assert!(
                rx.recv_timeout(wait).is_ok(),
                "settle() hangs: the read completed in the kernel, but its future is alive"
            );
            assert!(rx.recv_timeout(wait).is_ok(), "the read's future completes");
        }
    };
}

#[cfg(feature = "compio-17")]
settle_live_future_case!(settle_with_a_live_completed_future_17, compio, compio17);
#[cfg(feature = "compio-19")]
settle_live_future_case!(settle_with_a_live_completed_future_19, compio_19, compio19);
#[cfg(feature = "compio-20")]
settle_live_future_case!(settle_with_a_live_completed_future_20, compio_20, compio20);

/// The recipe `rt.block_on(settle()); drop(rt)` in a thread-local destructor (a per-thread
/// writer), which runs after this crate's per-thread ring registry is gone: `settle` still
/// finds the ring and waits for the read whose future was dropped before compio submitted it,
/// so the runtime's drop keeps nothing and the arena (a mapping of its own) is unmapped.
macro_rules! settle_at_thread_exit_case {
    ($name:ident, $compio:ident, $fixed:ident) => {
        #[test]
        fn $name() {
            use std::cell::RefCell;

            use jdb_alloc::{AlignedBuf, fixed::$fixed};
            use $compio::runtime::Runtime;

            const ARENA: usize = 64 << 20;

            /// Settles and drops its runtime when the thread exits.
            struct Writer(Option<Runtime>);

            impl Drop for Writer {
                fn drop(&mut self) {
                    let rt = self.0.take().unwrap();
                    rt.block_on($fixed::settle());
                    drop(rt);
                }
            }

            thread_local! {
                static WRITER: RefCell<Option<Writer>> = const { RefCell::new(None) };
            }

            let _turn = turn();
            let tmp = Scratch::new(stringify!($name));
            std::fs::write(&tmp.0, vec![3u8; CHUNK]).unwrap();
            let file = std::fs::File::options()
                .read(true)
                .custom_flags(libc::O_DIRECT)
                .open(&tmp.0)
                .unwrap();
            let addr = std::thread::spawn(move || {
                // First use: the writer's destructor runs after the registry's.
                WRITER.with(|w| assert!(w.borrow().is_none()));
                let rt = Runtime::new().unwrap();
                let addr = rt.block_on(async {
                    let file = $compio::driver::SharedFd::new(file);
                    let mut frame = $fixed::register(AlignedBuf::zeroed(ARENA).unwrap(), ARENA)
                        .unwrap()
                        .next()
                        .unwrap();
                    frame.fill(1);
                    let addr = frame.as_ptr() as usize;
                    let mut read = pin!($fixed::read_fixed_at(&file, frame, 0));
                    poll::poll_pending(read.as_mut()).await;
                    // The read's future is dropped here, before compio submitted it.
                    addr
                });
                WRITER.with(|w| *w.borrow_mut() = Some(Writer(Some(rt))));
                addr
            })
            .join()
            .unwrap();
            assert_eq!(
                proc_mem::resident_in(addr, ARENA),
                0,
                "settle() in a thread-local destructor did not wait: the arena is kept"
            );
        }
    };
}

#[cfg(feature = "compio-17")]
settle_at_thread_exit_case!(settle_in_a_thread_local_destructor_17, compio, compio17);
#[cfg(feature = "compio-19")]
settle_at_thread_exit_case!(settle_in_a_thread_local_destructor_19, compio_19, compio19);
#[cfg(feature = "compio-20")]
settle_at_thread_exit_case!(settle_in_a_thread_local_destructor_20, compio_20, compio20);

/// While a read is in flight (of a pipe nobody writes yet), settles given up (a lost
/// `select!`, a timeout) let go of their wakers with their futures, and one settle polled with a
/// new waker each time holds the latest only: the ring's list of waiting settles does not grow
/// with them (it kept every waker until the operations finished).
macro_rules! settle_wakers_case {
    ($name:ident, $compio:ident, $fixed:ident) => {
        #[test]
        fn $name() {
            use std::{
                io::Write,
                sync::Arc,
                task::{Context, Wake, Waker},
            };

            use jdb_alloc::{AlignedBuf, fixed::$fixed};
            use $compio::runtime::Runtime;

            /// A waker whose `Arc` count says who holds it.
            struct Held;

            impl Wake for Held {
                fn wake(self: Arc<Self>) {}
            }

            let _turn = turn();
            let (rx, tx) = pipe::pipe();
            Runtime::new().unwrap().block_on(async {
                let pipe = $compio::driver::SharedFd::new(rx);
                let frame = $fixed::register(AlignedBuf::zeroed(CHUNK).unwrap(), CHUNK)
                    .unwrap()
                    .next()
                    .unwrap();
                let mut read = pin!($fixed::read_fixed_at(&pipe, frame, 0));
                poll::poll_pending(read.as_mut()).await; // nothing to read yet

                let given_up: Vec<Arc<Held>> = (0..3).map(|_| Arc::new(Held)).collect();
                for held in &given_up {
                    let waker = Waker::from(Arc::clone(held));
                    let mut settle = pin!($fixed::settle());
                    let pending = settle.as_mut().poll(&mut Context::from_waker(&waker));
                    assert!(pending.is_pending(), "the read is in flight");
                }
                let counts: Vec<usize> = given_up.iter().map(Arc::strong_count).collect();
                assert_eq!(
                    counts,
                    [1, 1, 1],
                    "wakers kept after their settles were dropped"
                );

                let mut settle = pin!($fixed::settle());
                let latest: Vec<Arc<Held>> = (0..3).map(|_| Arc::new(Held)).collect();
                for held in &latest {
                    let waker = Waker::from(Arc::clone(held));
                    assert!(
                        settle
                            .as_mut()
                            .poll(&mut Context::from_waker(&waker))
                            .is_pending()
                    );
                }
                let counts: Vec<usize> = latest.iter().map(Arc::strong_count).collect();
                assert_eq!(
                    counts,
                    [1, 1, 2],
                    "one settle holds more than its latest waker"
                );

                // The read completes: the settle's waker is woken (and let go), and it is ready.
                std::fs::File::from(tx).write_all(b"x").unwrap();
                let $compio::BufResult(n, _) = read.await;
                assert_eq!(n.unwrap(), 1);
                assert_eq!(Arc::strong_count(&latest[2]), 1);
                let waker = Waker::from(Arc::clone(&latest[0]));
                assert!(
                    settle
                        .as_mut()
                        .poll(&mut Context::from_waker(&waker))
                        .is_ready()
                );
            });
        }
    };
}

#[cfg(feature = "compio-17")]
settle_wakers_case!(settle_keeps_one_waker_per_future_17, compio, compio17);
#[cfg(feature = "compio-19")]
settle_wakers_case!(settle_keeps_one_waker_per_future_19, compio_19, compio19);
#[cfg(feature = "compio-20")]
settle_wakers_case!(settle_keeps_one_waker_per_future_20, compio_20, compio20);
