//! `dio_align` against the real filesystems of this machine.
#![cfg(target_os = "linux")]

use std::{fs, io::ErrorKind, path::PathBuf};

use jdb_alloc::{ALIGNMENT, DioAlign, DioSource, dio_align};

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// A disk-backed filesystem (CARGO_TARGET_TMPDIR is on one: ext4 here) must answer with
/// powers of two that 4 KiB buffers satisfy.
fn assert_disk_answer(got: DioAlign) {
    assert_ne!(got.source, DioSource::Unknown, "{got:?}");
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
        return; // no /dev/shm tmpfs on this machine: nothing to check
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
