//! [`FinishError`]: a close that failed, with the file it was closing, so that an error never
//! costs the caller the file.

use std::{error::Error, fmt, io};

use super::{Compio, DirectFile};

/// The error of a close that failed ([`Appender::finish`](super::Appender::finish)), with the
/// file it was closing: reopening by path is not needed to recover, read what is there or
/// [`resume`](super::Appender::resume) at the length known durable.
///
/// `?` turns it into the [`io::Error`] (the file is then closed); [`into_parts`](Self::into_parts)
/// keeps both.
///
/// ```
/// # #[cfg(feature = "compio-19")]
/// # fn main() -> std::io::Result<()> {
/// use compio_19 as compio; // in your crate: plain `compio` 0.19
/// use jdb_alloc::direct::compio19::{Appender, DirectFile};
///
/// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join(format!("finish-error-{}.log", std::process::id()));
/// std::fs::write(&path, b"an older log")?;
/// compio::runtime::Runtime::new()?.block_on(async {
///     // An appender at offset 0 of a file that holds bytes refuses to overwrite them.
///     let log = Appender::new(DirectFile::open(&path).await?);
///     let (error, file) = log.finish().await.unwrap_err().into_parts();
///     assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
///     assert_eq!(&file.read_at(0, 100).await?[..], b"an older log");
///     std::io::Result::Ok(())
/// })?;
/// # std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "compio-19"))]
/// # fn main() {}
/// ```
pub struct FinishError<R: Compio> {
    error: io::Error,
    file: DirectFile<R>,
}

impl<R: Compio> FinishError<R> {
    pub(super) fn new(error: io::Error, file: DirectFile<R>) -> Self {
        Self { error, file }
    }

    /// The error.
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")] {
    /// use jdb_alloc::direct::compio19::FinishError;
    ///
    /// fn kind(e: &FinishError) -> std::io::ErrorKind {
    ///     e.error().kind()
    /// }
    /// # }
    /// ```
    pub fn error(&self) -> &io::Error {
        &self.error
    }

    /// The file, open as it was (its length is whatever the failed close left).
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")] {
    /// use jdb_alloc::direct::compio19::{DirectFile, FinishError};
    ///
    /// fn file(e: FinishError) -> DirectFile {
    ///     e.into_file()
    /// }
    /// # }
    /// ```
    pub fn into_file(self) -> DirectFile<R> {
        self.file
    }

    /// The error and the file.
    ///
    /// ```
    /// # #[cfg(feature = "compio-19")] {
    /// use jdb_alloc::direct::compio19::{DirectFile, FinishError};
    ///
    /// fn parts(e: FinishError) -> (std::io::Error, DirectFile) {
    ///     e.into_parts()
    /// }
    /// # }
    /// ```
    pub fn into_parts(self) -> (io::Error, DirectFile<R>) {
        (self.error, self.file)
    }
}

impl<R: Compio> fmt::Display for FinishError<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "closing {}: {}", self.file.path().display(), self.error)
    }
}

impl<R: Compio> fmt::Debug for FinishError<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FinishError")
            .field("error", &self.error)
            .field("file", &self.file)
            .finish()
    }
}

impl<R: Compio> Error for FinishError<R> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.error)
    }
}

/// The error alone, of the same kind, its message naming the file; the file is closed.
impl<R: Compio> From<FinishError<R>> for io::Error {
    fn from(e: FinishError<R>) -> Self {
        io::Error::new(e.error.kind(), e.to_string())
    }
}
