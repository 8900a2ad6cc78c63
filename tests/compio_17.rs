//! Real `O_DIRECT` I/O through a compio 0.17 runtime (io_uring on Linux, compio-buf 0.7 traits):
//! the cases every compio version passes (`direct_cases`), and reads compared with 0.1.4's.
#![cfg(feature = "compio-buf-07")]

mod direct_cases;
mod scratch;

direct_cases::direct_cases!(compio);

#[test]
fn a_fresh_buffer_reads_to_the_same_length_as_jdb_alloc_0_1_4() {
    run(async {
        let (_scratch, file, _) = file_with_pattern("short_read_0_1_4", 3).await;

        let ours = AlignedBuf::with_cap(4 * PAGE_SIZE).unwrap();
        let theirs = upstream::AlignedBuf::with_cap(4 * PAGE_SIZE).unwrap();
        let (_, ours) = file.read_at(ours, PAGE_SIZE as u64).await.unwrap();
        let (_, theirs) = file.read_at(theirs, PAGE_SIZE as u64).await.unwrap();
        assert_eq!(ours.len(), 2 * PAGE_SIZE);
        assert_eq!(ours.len(), theirs.len());
        assert!(ours[..] == theirs[..]);
    })
}
