//! compio's managed reads (`read_managed_at`, provided buffers) on a real `O_DIRECT` file, with
//! the buffer pool's memory from `jdb_alloc::managed::AlignedAllocator`: compio 0.19 (`v19::`)
//! and 0.20 (`v20::`), the same case from one macro.
#![cfg(all(target_os = "linux", any(feature = "compio-19", feature = "compio-20")))]

mod scratch;

const BUF: usize = 64 << 10;

/// The case for the compio crate `$compio`.
macro_rules! managed_cases {
    ($compio:ident) => {
        use jdb_alloc::{ALIGNMENT, managed::AlignedAllocator};
        use $compio::{
            driver::ProactorBuilder,
            io::AsyncReadManagedAt,
            runtime::{Runtime, RuntimeBuilder},
        };

        use crate::{BUF, scratch::Scratch};

        crate::scratch::open_read_direct!($compio);

        fn runtime() -> Runtime {
            let mut proactor = ProactorBuilder::new();
            proactor
                .buffer_pool_allocator::<AlignedAllocator>()
                .buffer_pool_buffer_len(BUF);
            RuntimeBuilder::new()
                .with_proactor(proactor)
                .build()
                .unwrap()
        }

        #[test]
        fn managed_reads_work_on_an_o_direct_file() {
            let tmp = Scratch::new(concat!("managed_", stringify!($compio)));
            // Eight buffers' worth, and a short tail.
            let data: Vec<u8> = (0..8 * BUF + 300)
                .map(|i| (i % 251) as u8 ^ (i / BUF) as u8)
                .collect();
            std::fs::write(&tmp.0, &data).unwrap();
            runtime().block_on(async {
                let file = open_read_direct(&tmp.0).await;
                // More reads than the pool has buffers: each buffer goes back to the pool on drop.
                for round in 0..3 {
                    for i in 0..8 {
                        let pos = (i * BUF) as u64;
                        let buf = file.read_managed_at(BUF, pos).await.unwrap().unwrap();
                        assert_eq!(buf.as_ptr() as usize % ALIGNMENT, 0);
                        assert_eq!(buf.len(), BUF, "round {round}, buffer {i}");
                        assert_eq!(
                            &buf[..],
                            &data[i * BUF..][..BUF],
                            "round {round}, buffer {i}"
                        );
                    }
                }
                let tail = file
                    .read_managed_at(BUF, (8 * BUF) as u64)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(&tail[..], &data[8 * BUF..]);
                // O_DIRECT is in force: an unaligned offset is refused.
                let refused = file.read_managed_at(BUF, 1).await.unwrap_err();
                assert_eq!(refused.raw_os_error(), Some(libc::EINVAL));
            });
        }
    };
}

#[cfg(feature = "compio-19")]
mod v19 {
    managed_cases!(compio_19);
}

#[cfg(feature = "compio-20")]
mod v20 {
    managed_cases!(compio_20);
}
