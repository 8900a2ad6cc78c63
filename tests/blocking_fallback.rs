//! compio 0.19 and 0.20 ask the kernel which opcodes it has at a process's first operation,
//! through a two-entry ring of their own, and run an operation whose opcode they could not
//! confirm on their thread pool instead. This crate's own reads and writes go that way too when
//! the memory-lock limit leaves no room for that ring (a process whose `ulimit -l` is low from
//! its start, without `CAP_IPC_LOCK`). compio asks once per process and keeps a good answer,
//! so this binary runs no other operation of those versions first.
#![cfg(all(target_os = "linux", any(feature = "compio-19", feature = "compio-20")))]

mod memlock;
mod scratch;
mod turn;

/// Whether a new io_uring ring of two entries can be made now (what compio's probe makes).
fn ring_fits() -> bool {
    // `struct io_uring_params`: 120 bytes, zeroed for a default ring.
    let mut params = [0u32; 30];
    // SAFETY: io_uring_setup takes an entry count and a writable `io_uring_params`.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 2u32, params.as_mut_ptr()) };
    if fd >= 0 {
        // SAFETY: the ring's descriptor was just made here and nothing else owns it.
        unsafe { libc::close(fd as i32) };
    }
    fd >= 0
}

/// The case for the compio crate `$compio` and this crate's module `direct::$direct`.
macro_rules! fallback_case {
    ($name:ident, $compio:ident, $direct:ident) => {
        #[test]
        fn $name() {
            use std::os::fd::{FromRawFd, IntoRawFd};

            use jdb_alloc::{AlignedBuf, direct::$direct::DirectFile};

            use crate::{memlock, scratch};

            // The memory-lock limit is the process's: one case at a time.
            let _turn = crate::turn::turn();
            let tmp = scratch::Scratch::new(concat!("blocking_fallback_", stringify!($direct)));
            let data = scratch::pattern(3 * 4096 + 100, 5);
            std::fs::write(&tmp.0, &data).unwrap();
            let path = tmp.0.clone();
            let (read, written, fits) = std::thread::spawn(move || {
                memlock::drop_ipc_lock();
                let rt = $compio::runtime::Runtime::new().unwrap();
                let _low = memlock::MemlockLimit::lower_to(0);
                let fits = ring_fits();
                let std_file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .unwrap();
                rt.block_on(async {
                    // SAFETY: the descriptor was just opened and is given up here.
                    let file = unsafe { $compio::fs::File::from_raw_fd(std_file.into_raw_fd()) };
                    let file = DirectFile::from_file(file, &path).unwrap().without_pool();
                    let read = file.read_exact_at(100, 9000).await.unwrap().to_vec();
                    let mut page = AlignedBuf::with_cap(4096).unwrap();
                    page.extend(&[9; 4096]).unwrap();
                    let $compio::BufResult(n, _) = file.write_aligned_at(page, 8192).await;
                    (read, n.unwrap(), fits)
                })
            })
            .join()
            .unwrap();
            assert!(
                !fits,
                "a two-entry ring still fits under a memory-lock limit of 0: compio's probe \
                 would not fail, so this test would not reach its fallback"
            );
            assert_eq!(read, data[100..9100]);
            assert_eq!(written, 4096);
            let now = std::fs::read(&tmp.0).unwrap();
            assert!(now[8192..12288].iter().all(|&b| b == 9));
            assert_eq!(
                (&now[..8192], &now[12288..]),
                (&data[..8192], &data[12288..])
            );
        }
    };
}

#[cfg(feature = "compio-19")]
fallback_case!(
    reads_and_writes_on_compio_19s_thread_pool,
    compio_19,
    compio19
);
#[cfg(feature = "compio-20")]
fallback_case!(
    reads_and_writes_on_compio_20s_thread_pool,
    compio_20,
    compio20
);
