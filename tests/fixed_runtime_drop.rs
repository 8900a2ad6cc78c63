//! compio 0.19 and 0.20 dropping a runtime with a fixed read in flight. In a process of its
//! own: the kernel unpins the closed ring's buffers in the background, which would disturb other
//! tests' `VmPin` figures.
#![cfg(all(target_os = "linux", any(feature = "compio-19", feature = "compio-20")))]

mod pipe;
mod poll;
mod proc_mem;

/// The case for the compio crate `$compio` and this crate's module `fixed::$fixed`.
macro_rules! runtime_drop_case {
    ($compio:ident, $fixed:ident) => {
        use jdb_alloc::{
            AlignedBuf,
            fixed::{FixedStatus, $fixed},
        };
        use $compio::runtime::Runtime;

        use crate::{pipe::pipe, poll, proc_mem};

        /// compio (0.19, 0.20) closes the ring before it drops the operations still in flight, when the kernel
        /// may not be done with their memory: such an operation's frame, and with it the arena, is
        /// kept instead of freed (here a read from an empty pipe, which never completes). The arena
        /// is an anonymous mapping of its own, so freeing it would unmap it.
        #[test]
        fn fixed_in_flight_read_at_runtime_drop_keeps_its_arena() {
            const BIG: usize = 64 << 20;
            let (rx, tx) = pipe();
            let rt = Runtime::new().unwrap();
            let (addr, polled) = rt.block_on(async {
                let frame = $fixed::register(AlignedBuf::zeroed(BIG).unwrap(), BIG)
                    .unwrap()
                    .next()
                    .unwrap();
                assert_eq!($fixed::status(&frame), FixedStatus::Registered);
                let addr = frame.as_ptr() as usize;
                let pipe = $compio::driver::SharedFd::new(rx);
                let polled = std::rc::Rc::new(std::cell::Cell::new(false));
                let flag = polled.clone();
                $compio::runtime::spawn(async move {
                    flag.set(true);
                    let _ = $fixed::read_fixed_at(&pipe, frame, 0).await;
                    unreachable!("nothing is ever written to the pipe");
                })
                .detach();
                // Tasks run in order: once this one ran, the reader has submitted its read.
                $compio::runtime::spawn(async {}).await.unwrap();
                (addr, polled.get())
            });
            assert!(polled, "the reader task ran");
            assert_eq!(
                proc_mem::resident_in(addr, BIG),
                BIG,
                "registered: resident"
            );
            drop(rt);
            assert_eq!(
                proc_mem::resident_in(addr, BIG),
                BIG,
                "kept, not unmapped, while the kernel may still write it"
            );
            drop(tx);
        }

        /// The same when the runtime drops while a panic unwinds: compio's executor then skips
        /// dropping its tasks (this crate's ring guard among them), so the ring still reads as
        /// open when the driver drops the read after closing it; the frame is kept all the same.
        #[test]
        fn fixed_in_flight_read_at_runtime_drop_while_unwinding_keeps_its_arena() {
            const BIG: usize = 64 << 20;
            let (rx, tx) = pipe();
            let addr = std::thread::spawn(move || {
                let addr = std::cell::Cell::new(0);
                let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let rt = Runtime::new().unwrap();
                    rt.block_on(async {
                        let frame = $fixed::register(AlignedBuf::zeroed(BIG).unwrap(), BIG)
                            .unwrap()
                            .next()
                            .unwrap();
                        assert_eq!($fixed::status(&frame), FixedStatus::Registered);
                        addr.set(frame.as_ptr() as usize);
                        let pipe = $compio::driver::SharedFd::new(rx);
                        let mut read = std::pin::pin!($fixed::read_fixed_at(&pipe, frame, 0));
                        poll::poll_pending(read.as_mut()).await;
                        // The runtime runs (and submits the read) before this task resumes.
                        $compio::runtime::spawn(async {}).await.unwrap();
                        // Dropped with the future: compio holds the read until the kernel
                        // is done with it, and here drops it with the runtime.
                    });
                    std::panic::resume_unwind(Box::new("drop the runtime while unwinding"));
                }));
                assert!(unwound.is_err());
                addr.get()
            })
            .join()
            .unwrap();
            assert_eq!(
                proc_mem::resident_in(addr, BIG),
                BIG,
                "kept, not unmapped, while the kernel may still write it"
            );
            drop(tx);
        }
    };
}

#[cfg(feature = "compio-19")]
mod v19 {
    runtime_drop_case!(compio_19, compio19);
}

#[cfg(feature = "compio-20")]
mod v20 {
    runtime_drop_case!(compio_20, compio20);
}
