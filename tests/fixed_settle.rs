//! `settle` waits for this crate's operations only until compio reports their results, whatever
//! holds them afterwards.
#![cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]

mod scratch;

use std::{
    future::Future, os::unix::fs::OpenOptionsExt, pin::pin, sync::mpsc, task::Poll, time::Duration,
};

use scratch::Scratch;

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
                    std::future::poll_fn(|cx| {
                        assert!(read.as_mut().poll(cx).is_pending(), "finished at once");
                        Poll::Ready(())
                    })
                    .await;
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
