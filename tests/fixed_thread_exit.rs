//! A fixed write from a thread-local destructor at thread exit, after this crate's per-thread
//! ring registry is gone: it must run (as plain I/O, with a status that says why), not abort
//! the process. The writer's thread-local is touched before the crate's registry, so its
//! destructor runs after the registry's (they run in reverse order of first use).
#![cfg(all(
    target_os = "linux",
    any(feature = "compio-17", feature = "compio-19", feature = "compio-20")
))]

mod scratch;

use scratch::Scratch;

/// The case for the compio crate `$compio` and this crate's module `fixed::$fixed`.
macro_rules! thread_exit_case {
    ($name:ident, $compio:ident, $fixed:ident) => {
        #[test]
        fn $name() {
            use std::{cell::RefCell, sync::Mutex};

            use jdb_alloc::{
                AlignedBuf, PAGE_SIZE,
                fixed::{FixedFrame, FixedStatus, $fixed},
            };
            use $compio::{BufResult, fs::File, runtime::Runtime};

            const LEN: usize = 16 * PAGE_SIZE;

            /// What the writer's destructor saw: the frame's status there, a registration's,
            /// and the write's result.
            static SEEN: Mutex<Option<(FixedStatus, FixedStatus, usize)>> = Mutex::new(None);

            /// A per-thread writer that flushes its frame when the thread exits.
            struct Writer {
                rt: Runtime,
                file: File,
                frame: Option<FixedFrame>,
            }

            impl Drop for Writer {
                fn drop(&mut self) {
                    let frame = self.frame.take().unwrap();
                    let file = &self.file;
                    let seen = self.rt.block_on(async {
                        let status = $fixed::status(&frame);
                        let other = $fixed::register(AlignedBuf::page().unwrap(), PAGE_SIZE)
                            .unwrap()
                            .status();
                        let BufResult(n, _) = $fixed::write_fixed_at(file, frame, 0).await;
                        (status, other, n.unwrap())
                    });
                    *SEEN.lock().unwrap() = Some(seen);
                }
            }

            thread_local! {
                static WRITER: RefCell<Option<Writer>> = const { RefCell::new(None) };
            }

            crate::scratch::open_direct!($compio);

            let tmp = Scratch::new(stringify!($name));
            let path = tmp.0.clone();
            std::thread::spawn(move || {
                // First use: the writer's destructor is registered before the registry's.
                WRITER.with(|w| assert!(w.borrow().is_none()));
                let rt = Runtime::new().unwrap();
                let (file, frame) = rt.block_on(async {
                    let file = open_direct(&path).await.unwrap();
                    let mut frame = $fixed::register(AlignedBuf::zeroed(LEN).unwrap(), LEN)
                        .unwrap()
                        .next()
                        .unwrap();
                    assert_eq!($fixed::status(&frame), FixedStatus::Registered);
                    frame.fill(0x6b);
                    (file, frame)
                });
                let writer = Writer {
                    rt,
                    file,
                    frame: Some(frame),
                };
                WRITER.with(|w| *w.borrow_mut() = Some(writer));
            })
            .join()
            .unwrap();

            let seen = SEEN.lock().unwrap().take();
            assert_eq!(
                seen,
                Some((FixedStatus::ThreadExiting, FixedStatus::ThreadExiting, LEN))
            );
            assert_eq!(
                std::fs::read(&tmp.0).unwrap(),
                vec![0x6b; LEN],
                "the write landed"
            );
        }
    };
}

#[cfg(feature = "compio-17")]
thread_exit_case!(
    fixed_write_from_a_thread_local_destructor_17,
    compio,
    compio17
);
#[cfg(feature = "compio-19")]
thread_exit_case!(
    fixed_write_from_a_thread_local_destructor_19,
    compio_19,
    compio19
);
#[cfg(feature = "compio-20")]
thread_exit_case!(
    fixed_write_from_a_thread_local_destructor_20,
    compio_20,
    compio20
);
