//! Reading this process's memory use from `/proc` (Linux): the ground truth for "resident until
//! touched" and "backed by huge pages". Shared by tests/large_buffers.rs and benches/compare.rs.

#![allow(dead_code)] // each includer uses part of it

use std::{
    fs::{self, File},
    io::{Read, Seek, SeekFrom},
};

/// Bytes of `[addr, addr + len)` (4 KiB-aligned) mapped to memory, from `/proc/self/pagemap`
/// (bit 63 of each page's entry: present). Exact for the range, unlike `smaps`, whose figures
/// cover whole mappings and the kernel may merge neighbouring mappings into one.
pub fn resident_in(addr: usize, len: usize) -> usize {
    const PAGE: usize = 4096;
    assert_eq!(addr % PAGE, 0);
    let pages = len.div_ceil(PAGE);
    let mut f = File::open("/proc/self/pagemap").expect("open /proc/self/pagemap");
    f.seek(SeekFrom::Start((addr / PAGE * 8) as u64))
        .expect("seek pagemap");
    let mut entries = vec![0u8; pages * 8];
    f.read_exact(&mut entries).expect("read pagemap");
    let present = entries
        .chunks_exact(8)
        .filter(|e| u64::from_ne_bytes((*e).try_into().unwrap()) >> 63 == 1)
        .count();
    present * PAGE
}

/// Bytes resident in this process (`/proc/self/statm`, second field, in 4 KiB pages).
pub fn resident_bytes() -> usize {
    let statm = fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("statm has a resident field");
    pages * 4096
}

/// Memory use of the mappings that overlap `[addr, addr + len)`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// `Rss`, in bytes.
    pub rss: usize,
    /// `AnonHugePages`: bytes backed by transparent huge pages.
    pub anon_huge: usize,
    /// Whether every overlapping mapping carries the `hg` (`MADV_HUGEPAGE`) flag in `VmFlags`.
    pub advised: bool,
}

/// Sums `/proc/self/smaps` over the mappings overlapping `[addr, addr + len)`. Whole mappings
/// are counted, so a neighbour merged into the same mapping would be counted too.
pub fn usage(addr: usize, len: usize) -> Usage {
    let smaps = fs::read_to_string("/proc/self/smaps").expect("read /proc/self/smaps");
    let mut total = Usage {
        advised: true,
        ..Usage::default()
    };
    let mut inside = false;
    let mut found = false;
    for line in smaps.lines() {
        if let Some((start, end)) = range(line) {
            inside = start < addr + len && addr < end;
            found |= inside;
            continue;
        }
        if !inside {
            continue;
        }
        let kib = |field: &str| -> Option<usize> {
            let rest = line.strip_prefix(field)?.trim();
            rest.strip_suffix("kB")?.trim().parse::<usize>().ok()
        };
        if let Some(k) = kib("Rss:") {
            total.rss += k * 1024;
        } else if let Some(k) = kib("AnonHugePages:") {
            total.anon_huge += k * 1024;
        } else if let Some(flags) = line.strip_prefix("VmFlags:") {
            total.advised &= flags.split_whitespace().any(|f| f == "hg");
        }
    }
    assert!(found, "no mapping overlaps {addr:#x}+{len:#x}");
    total
}

/// The address range of a mapping header line (`start-end perms offset dev inode [path]`).
fn range(line: &str) -> Option<(usize, usize)> {
    let first = line.split_whitespace().next()?;
    let (start, end) = first.split_once('-')?;
    Some((
        usize::from_str_radix(start, 16).ok()?,
        usize::from_str_radix(end, 16).ok()?,
    ))
}
