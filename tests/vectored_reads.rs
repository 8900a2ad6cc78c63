//! What compio's vectored reads do with these buffers, on compio 0.19 (`v19::`) and 0.20
//! (`v20::`): pinned, so the day compio changes it shows. (The O_DIRECT cases every version
//! passes are in tests/compio_17.rs, compio_19.rs and compio_20.rs.)
#![cfg(all(
    target_os = "linux",
    any(feature = "compio-buf-08", feature = "compio-buf-09")
))]

mod scratch;

/// Distinct, position-dependent bytes, so a misplaced page cannot compare equal.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

/// The cases, for the compio crate `$compio`; `$ext` are the compio-buf traits that bring
/// `buf_len` and `slice` into scope (compio-buf 0.9 moved them to extension traits).
macro_rules! cases {
    ($compio:ident, $($ext:ident),+) => {
        use jdb_alloc::{AlignedBuf, PAGE_SIZE};
        #[allow(unused_imports)]
        use $compio::buf::{$($ext as _),+};
        use $compio::{
            BufResult,
            fs::File,
            io::{AsyncReadAt, AsyncWriteAt},
            runtime::Runtime,
        };

        use crate::{pattern, scratch::Scratch};

        crate::scratch::open_direct!($compio);

        fn run<F: Future>(future: F) -> F::Output {
            Runtime::new().unwrap().block_on(future)
        }

        /// A scratch file named for the test and the compio version.
        fn scratch(name: &str) -> Scratch {
            Scratch::new(&format!("{}_{name}", stringify!($compio)))
        }

        async fn write_all_at<B: $compio::buf::IoBuf>(file: &mut File, buf: B, pos: u64) -> B {
            let len = buf.buf_len();
            let BufResult(n, buf) = file.write_at(buf, pos).await;
            assert_eq!(n.unwrap(), len, "short O_DIRECT write at {pos}");
            buf
        }

        /// compio's vectored read reads into each buffer's initialised bytes `[0, len)`, not its
        /// capacity (compio 0.19 and 0.20: `ReadVectoredAt` takes its iovecs from `sys_slices()`):
        /// fresh buffers get nothing, filled ones their length. The day compio reads into the
        /// capacity, the first half fails: then revise "Vectored reads" in the crate docs.
        #[test]
        fn vectored_read_fills_only_the_initialised_bytes() {
            let tmp = scratch("vectored");
            let data = pattern(2 * PAGE_SIZE, 0x42);
            run(async {
                let mut file = open_direct(&tmp.0).await.unwrap();
                let mut src = AlignedBuf::with_cap(data.len()).unwrap();
                src.extend(&data).unwrap();
                write_all_at(&mut file, src, 0).await;

                let fresh = vec![
                    AlignedBuf::with_cap(PAGE_SIZE).unwrap(),
                    AlignedBuf::with_cap(PAGE_SIZE).unwrap(),
                ];
                let BufResult(n, fresh) = file.read_vectored_at(fresh, 0).await;
                assert_eq!(n.unwrap(), 0, "compio now reads into the capacity: update the docs");
                assert!(fresh.iter().all(|buf| buf.is_empty()));

                let filled = vec![
                    AlignedBuf::zeroed(PAGE_SIZE).unwrap(),
                    AlignedBuf::zeroed(PAGE_SIZE).unwrap(),
                ];
                let BufResult(n, filled) = file.read_vectored_at(filled, 0).await;
                assert_eq!(n.unwrap(), 2 * PAGE_SIZE);
                assert_eq!(&filled[0][..], &data[..PAGE_SIZE]);
                assert_eq!(&filled[1][..], &data[PAGE_SIZE..]);
            });
        }
    };
}

#[cfg(feature = "compio-buf-08")]
mod v19 {
    cases!(compio_19, IoBuf);
}

#[cfg(feature = "compio-buf-09")]
mod v20 {
    cases!(compio_20, IoBuf, IoBufExt);
}
