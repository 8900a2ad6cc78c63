//! [`DirectFile::read_many`]: many ranges at once, neighbours merged, the rest concurrent.

use std::{io, sync::Arc};

use super::{Compio, DirectFile, ReadView, join::each_concurrent, view::Source};

/// How [`DirectFile::read_many_with`] merges and issues its reads.
///
/// Ranges are sorted by offset; the pages of neighbours go into one aligned read while the gap
/// between them is at most [`max_gap`](Self::max_gap) bytes and the merged read at most
/// [`max_merged`](Self::max_merged) bytes; up to [`depth`](Self::depth) reads are in flight.
///
/// The defaults come from `cargo bench --features compio-19 --bench direct` (benches/RESULTS.md,
/// "Queue depth"): for 1,000 ranges of 100 B-32 KiB clustered in 8 MiB, on ext4 over a loop
/// device on tmpfs and on this machine's disk, a gap of 32 KiB was the fastest (8 and 128 KiB
/// within 10%, only touching pages merged 8-55% slower: a read of a few more pages costs less
/// than one more request), with 0.5x the bytes asked read from the device. For ranges at random
/// in 1 GiB a depth of 64 was 0-17% faster than 32, 8 was 25% slower.
///
/// ```
/// use jdb_alloc::direct::ReadManyOptions;
///
/// let options = ReadManyOptions::new().max_gap(0).depth(8); // merge only touching pages
/// assert_eq!((options.gap_len(), options.merged_len(), options.queue_depth()), (0, 256 << 10, 8));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReadManyOptions {
    max_gap: usize,
    max_merged: usize,
    depth: usize,
}

impl ReadManyOptions {
    /// The default largest gap merged over: 32 KiB.
    pub const DEFAULT_MAX_GAP: usize = 32 << 10;
    /// The default largest merged read: 256 KiB.
    pub const DEFAULT_MAX_MERGED: usize = 256 << 10;
    /// The default queue depth: 32 reads in flight.
    pub const DEFAULT_DEPTH: usize = 32;

    /// The defaults: gaps of up to 32 KiB merged, merged reads of up to 256 KiB, 32 in flight.
    pub const fn new() -> Self {
        Self {
            max_gap: Self::DEFAULT_MAX_GAP,
            max_merged: Self::DEFAULT_MAX_MERGED,
            depth: Self::DEFAULT_DEPTH,
        }
    }

    /// The most bytes between the pages of two neighbours that one read covers for nothing
    /// (`0`: only ranges whose pages touch or overlap are merged).
    pub const fn max_gap(mut self, bytes: usize) -> Self {
        self.max_gap = bytes;
        self
    }

    /// The longest read that merging makes (`0`: no merging at all). A single range longer
    /// than this is read alone, whole.
    pub const fn max_merged(mut self, bytes: usize) -> Self {
        self.max_merged = bytes;
        self
    }

    /// Reads in flight at a time (`0` counts as one).
    pub const fn depth(mut self, reads: usize) -> Self {
        self.depth = reads;
        self
    }

    /// The largest gap merged over.
    pub const fn gap_len(&self) -> usize {
        self.max_gap
    }

    /// The longest merged read.
    pub const fn merged_len(&self) -> usize {
        self.max_merged
    }

    /// The queue depth.
    pub const fn queue_depth(&self) -> usize {
        self.depth
    }
}

impl Default for ReadManyOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// One aligned read of [`read_many`](DirectFile::read_many): the pages `[first, end)` and the
/// ranges it serves, `members` of the sorted spans.
struct Group {
    first: u64,
    end: u64,
    members: std::ops::Range<usize>,
}

impl<R: Compio> DirectFile<R> {
    /// Reads every range `(pos, len)` of `ranges` and gives their views in the order asked,
    /// with the default [`ReadManyOptions`]: see [`read_many_with`](Self::read_many_with).
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")]
    /// # fn main() -> std::io::Result<()> {
    /// # use compio_19 as compio;
    /// use jdb_alloc::direct::compio19::DirectFile;
    ///
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// let path = dir.join(format!("read-many-{}.dat", std::process::id()));
    /// std::fs::write(&path, (0..100_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>())?;
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let file = DirectFile::open(&path).await?;
    ///     // An index probe: records here and there, one duplicate, one empty.
    ///     let views = file.read_many(&[(90_000, 300), (10, 5), (12, 5), (90_000, 300), (7, 0)]).await?;
    ///     assert_eq!(&views[1][..], &[10, 11, 12, 13, 14]);
    ///     assert_eq!(&views[2][..], &[12, 13, 14, 15, 16]); // shares the read of views[1]
    ///     assert_eq!(views[0][..], views[3][..]);
    ///     assert!(views[4].is_empty());
    ///     // Past the end, as `read_exact_at`: an error naming the range.
    ///     let err = file.read_many(&[(0, 10), (99_990, 20)]).await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "compio-19"))]
    /// # fn main() {}
    /// ```
    ///
    /// # Errors
    /// As [`read_many_with`](Self::read_many_with).
    pub async fn read_many(&self, ranges: &[(u64, usize)]) -> io::Result<Vec<ReadView>> {
        self.read_many_with(ranges, ReadManyOptions::new()).await
    }

    /// Reads every range `(pos, len)` of `ranges`, as many
    /// [`read_exact_at`](Self::read_exact_at) would, and gives their views in the order asked.
    ///
    /// The ranges are sorted by offset and the pages of neighbours merged into one aligned
    /// read while `options` allow (overlapping and duplicate ranges are fine: they share a
    /// read); the views of a merged read share its buffer, with no copy, and the buffer is
    /// recycled (or its frame goes back to the file's pool) when the last of them drops. Up to
    /// [`depth`](ReadManyOptions::depth) reads are in flight at once, from this one task.
    /// Buffers come from the file's pool as for [`read_at`](Self::read_at). Empty ranges read
    /// nothing and give empty views.
    ///
    /// The views come back together, so every read's buffer is alive at once until they drop:
    /// a call over many large ranges holds all their bytes, and the reads past the pool's free
    /// frames go to plain buffers. For large sets, [`read_each_with`](Self::read_each_with)
    /// hands each view over as its read completes; a view dropped there lets its buffer serve
    /// a later read, so a few buffers take turns, as fio's do. 1,000 ranges of 100 B-32 KiB
    /// at random (about 20 MiB of pages) took 1.45-1.53x fio's time at the same depth in one
    /// `read_many`, 0.99-1.16x through `read_each` dropping each view, and 1.45x through
    /// `read_each` keeping them all: the cost follows the buffers kept alive, not the call
    /// (benches/RESULTS.md, "`read_each`").
    ///
    /// # Errors
    /// A failed read ends the call, once the reads already in flight have completed (they
    /// are waited for, not cancelled, so no buffer is left with the runtime), with an error
    /// that names the range (its index, offset and length): [`io::ErrorKind::InvalidInput`] if
    /// `pos + len` overflows, before any read; [`io::ErrorKind::UnexpectedEof`] if the range
    /// runs past the end of the file (the lowest such index, once every read is in: the
    /// others go on); [`io::ErrorKind::OutOfMemory`]; the read's error, of the same kind, as a
    /// [`RangeFailed`](crate::Error::RangeFailed) whose source is the system's error (its
    /// `raw_os_error` intact).
    pub async fn read_many_with(
        &self,
        ranges: &[(u64, usize)],
        options: ReadManyOptions,
    ) -> io::Result<Vec<ReadView>> {
        let mut views: Vec<Option<ReadView>> = (0..ranges.len()).map(|_| None).collect();
        let mut short: Option<(usize, usize)> = None;
        self.read_ranges("read_many", ranges, options, |i, view| {
            match view {
                Ok(view) => views[i] = Some(view),
                Err(had) => {
                    if short.is_none_or(|(j, _)| i < j) {
                        short = Some((i, had));
                    }
                }
            }
            Ok(())
        })
        .await?;
        if let Some((i, had)) = short {
            return Err(self.short_range("read_many", ranges, i, had));
        }
        Ok(views
            .into_iter()
            .zip(ranges)
            .map(|(view, &(pos, _))| view.unwrap_or_else(|| ReadView::empty(pos)))
            .collect())
    }

    /// [`read_each_with`](Self::read_each_with) with the default [`ReadManyOptions`].
    ///
    /// # Errors
    /// As [`read_each_with`](Self::read_each_with).
    pub async fn read_each(
        &self,
        ranges: &[(u64, usize)],
        each: impl FnMut(usize, ReadView) -> io::Result<()>,
    ) -> io::Result<()> {
        self.read_each_with(ranges, ReadManyOptions::new(), each)
            .await
    }

    /// Reads every range of `ranges` as [`read_many_with`](Self::read_many_with) does (sorted,
    /// merged, up to the queue depth in flight), but hands each view to `each`, with the
    /// range's index in `ranges`, as soon as its read completes: in completion order, once per
    /// range (empty ranges first, before any read). A view `each` drops frees its buffer (or
    /// the last view of a merged read does) while the other reads go on, so memory stays
    /// bounded by the depth and the views kept, and the reads keep the pool's frames.
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")]
    /// # fn main() -> std::io::Result<()> {
    /// # use compio_19 as compio;
    /// use jdb_alloc::direct::compio19::DirectFile;
    ///
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
    /// # std::fs::create_dir_all(&dir)?;
    /// let path = dir.join(format!("read-each-{}.dat", std::process::id()));
    /// std::fs::write(&path, (0..100_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>())?;
    /// compio::runtime::Runtime::new()?.block_on(async {
    ///     let file = DirectFile::open(&path).await?;
    ///     let ranges = [(90_000, 300), (10, 5), (50_000, 0)];
    ///     let mut sums = [0u32; 3];
    ///     file.read_each(&ranges, |i, view| {
    ///         sums[i] = view.iter().map(|&b| u32::from(b)).sum();
    ///         Ok(()) // the view drops here, and its buffer goes back
    ///     })
    ///     .await?;
    ///     assert_eq!(sums[1], 10 + 11 + 12 + 13 + 14);
    ///     assert_eq!(sums[2], 0);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "compio-19"))]
    /// # fn main() {}
    /// ```
    ///
    /// # Errors
    /// The first failure ends the call once the reads in flight have completed (no more views
    /// are handed over after it; those handed over before stay the caller's): an error of
    /// `each`, as it returned it, or one that names the range as
    /// [`read_many_with`](Self::read_many_with) says, a range past the end of the file
    /// ([`io::ErrorKind::UnexpectedEof`]) failing when its read completes. If the future is
    /// dropped, the views handed over so far stay the caller's, and a new call reads every
    /// range again: keep track in `each` of what was seen if a retry must not see it twice.
    pub async fn read_each_with(
        &self,
        ranges: &[(u64, usize)],
        options: ReadManyOptions,
        mut each: impl FnMut(usize, ReadView) -> io::Result<()>,
    ) -> io::Result<()> {
        self.read_ranges("read_each", ranges, options, |i, view| match view {
            Ok(view) => each(i, view),
            Err(had) => Err(self.short_range("read_each", ranges, i, had)),
        })
        .await
    }

    /// The error of range `i`, of which the file holds only `had` bytes.
    fn short_range(&self, op: &str, ranges: &[(u64, usize)], i: usize, had: usize) -> io::Error {
        let (pos, len) = ranges[i];
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "{op}: range {i} ({pos}, {len}) in {}: the file has {had} of those bytes",
                self.path().display()
            ),
        )
    }

    /// Reads `ranges` (sorted, merged, concurrent) and gives `each` every range's view as its
    /// read completes, or `Err(had)` for a range the file holds only `had` bytes of; empty
    /// ranges first. The first error of a read or of `each` ends the call once the reads in
    /// flight are done, and no range is given after it.
    async fn read_ranges(
        &self,
        op: &'static str,
        ranges: &[(u64, usize)],
        options: ReadManyOptions,
        mut each: impl FnMut(usize, Result<ReadView, usize>) -> io::Result<()>,
    ) -> io::Result<()> {
        let name = |i: usize| {
            let (pos, len) = ranges[i];
            format!("{op}: range {i} ({pos}, {len})")
        };
        // (first page, end of the last page, index asked) of every range that reads something.
        let mut spans = Vec::with_capacity(ranges.len());
        for (i, &(pos, len)) in ranges.iter().enumerate() {
            if len == 0 {
                continue;
            }
            let (first, end) = self.pages_of(pos, len).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{}: ends past the largest file offset", name(i)),
                )
            })?;
            spans.push((first, end, i));
        }
        for (i, &(pos, len)) in ranges.iter().enumerate() {
            if len == 0 {
                each(i, Ok(ReadView::empty(pos)))?;
            }
        }
        spans.sort_unstable();
        let groups = merge(&spans, options);

        let reads = groups.iter().map(|group| {
            let index = spans[group.members.clone()].iter().map(|s| s.2).min();
            let index = index.unwrap_or_default();
            let (first, end) = (group.first, group.end);
            async move {
                let what = || format!("a read of [{first}, {end})");
                let res = self
                    .read_pages(self.pool(), first, end, what)
                    .await
                    .map_err(|source| {
                        let ((pos, len), kind) = (ranges[index], source.kind());
                        let path = self.path().display().to_string();
                        let failed = crate::Error::RangeFailed {
                            op,
                            index,
                            pos,
                            len,
                            path,
                            source,
                        };
                        io::Error::new(kind, failed)
                    });
                (group, res)
            }
        });
        each_concurrent(reads, options.depth, |(group, res)| {
            let source = res?;
            let got = source.bytes().len();
            let members = &spans[group.members.clone()];
            let mut source = Some(source);
            let shared = (members.len() > 1).then(|| Arc::new(source.take().expect("unshared")));
            for &(_, _, i) in members {
                let (pos, len) = ranges[i];
                let skip = (pos - group.first) as usize;
                let (start, had) = (skip.min(got), got.saturating_sub(skip).min(len));
                if had < len {
                    each(i, Err(had))?;
                    continue;
                }
                let source = match &shared {
                    Some(shared) => Source::Shared(shared.clone()),
                    None => source.take().expect("one view per unshared read"),
                };
                each(i, Ok(ReadView::new(source, start, had, pos)))?;
            }
            Ok(())
        })
        .await
    }
}

/// Groups sorted `spans` into reads: a span joins the read before it while the gap is at most
/// `max_gap` and the read stays within `max_merged`.
fn merge(spans: &[(u64, u64, usize)], options: ReadManyOptions) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (k, &(first, end, _)) in spans.iter().enumerate() {
        if let Some(group) = groups.last_mut() {
            let gap = first.saturating_sub(group.end);
            let merged = end.max(group.end) - group.first;
            if gap <= options.max_gap as u64 && merged <= options.max_merged as u64 {
                group.end = group.end.max(end);
                group.members.end = k + 1;
                continue;
            }
        }
        groups.push(Group {
            first,
            end,
            members: k..k + 1,
        });
    }
    groups
}
