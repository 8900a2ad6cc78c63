//! `dio_align` against the real filesystems of this machine.
//!
//! Needs the target directory (`CARGO_TARGET_TMPDIR`) on a disk filesystem (ext4, XFS, Btrfs:
//! one with a block device), and a tmpfs at `/dev/shm`. Where either is missing the check
//! cannot be made: the test says so and fails, unless `JDB_ALLOC_ALLOW_SKIP=1` allows the skip.
#![cfg(target_os = "linux")]

use std::{fs, io::ErrorKind, path::PathBuf};

use jdb_alloc::{ALIGNMENT, DioAlign, DioSource, dio_align};

/// A path under the target directory, named for this process so parallel runs do not collide.
fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()))
}

/// A check this machine cannot make: a failure, or with `JDB_ALLOC_ALLOW_SKIP=1` a line on
/// stderr.
fn cannot_check(what: &str) {
    let allowed = std::env::var_os("JDB_ALLOC_ALLOW_SKIP").is_some_and(|v| v == "1");
    assert!(
        allowed,
        "{what}; set JDB_ALLOC_ALLOW_SKIP=1 to skip this check"
    );
    eprintln!("SKIPPED (JDB_ALLOC_ALLOW_SKIP=1): {what}");
}

/// A disk-backed filesystem must answer with powers of two that 4 KiB buffers satisfy; when
/// nobody answered, the target directory is not on a disk and the check cannot be made.
fn assert_disk_answer(got: DioAlign) {
    if got.source == DioSource::Unknown {
        cannot_check(&format!(
            "{} is not on a disk filesystem (dio_align: {got:?}); build on ext4, XFS or Btrfs",
            env!("CARGO_TARGET_TMPDIR")
        ));
        return;
    }
    assert!(got.is_supported(), "{got:?}");
    assert!(
        got.mem.is_power_of_two()
            && got.offset.is_power_of_two()
            && got.read_offset.is_power_of_two(),
        "{got:?}"
    );
    assert!(
        got.mem <= ALIGNMENT && got.offset <= ALIGNMENT && got.read_offset <= ALIGNMENT,
        "{got:?}"
    );
    assert!(got.is_satisfied_by_alignment(), "{got:?}");
}

#[test]
fn file_on_disk_is_supported_and_satisfied() {
    let path = tmp("dio_align_file");
    fs::write(&path, b"x").unwrap();
    let got = dio_align(&path).unwrap();
    fs::remove_file(&path).unwrap();
    assert_disk_answer(got);
}

#[test]
fn dir_on_disk_is_supported_and_satisfied() {
    let got = dio_align(env!("CARGO_TARGET_TMPDIR")).unwrap();
    assert_disk_answer(got);
}

#[test]
fn missing_path_is_not_found() {
    let err = dio_align(tmp("dio_align_no_such_file")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

/// tmpfs has no block device, and (as of Linux 6.18, where this was checked) does not report
/// `STATX_DIOALIGN` although it accepts `O_DIRECT` opens since 6.6: so the answer is "unknown",
/// with zeroes. Should a kernel start reporting, the answer must come from statx.
#[test]
fn tmpfs_is_unknown_unless_the_kernel_reports() {
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
    let Some(dir) = mounts.lines().find_map(|line| {
        let mut fields = line.split(' ').skip(1);
        let (dir, kind) = (fields.next()?, fields.next()?);
        (kind == "tmpfs" && dir == "/dev/shm").then_some(dir)
    }) else {
        cannot_check("no tmpfs mounted at /dev/shm");
        return;
    };
    let file = PathBuf::from(dir).join(format!("jdb_alloc_dio_{}", std::process::id()));
    fs::write(&file, b"x").unwrap();
    let got = [dio_align(dir).unwrap(), dio_align(&file).unwrap()];
    fs::remove_file(&file).unwrap();
    for got in got {
        match got.source {
            DioSource::Unknown => {
                assert_eq!((got.mem, got.offset, got.read_offset), (0, 0, 0), "{got:?}");
                assert!(!got.is_supported() && !got.is_satisfied_by_alignment());
            }
            source => assert_eq!(source, DioSource::Statx, "{got:?}"),
        }
    }
}
