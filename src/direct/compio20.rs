//! Direct I/O files on compio 0.20 runtimes (compio-fs 0.13, compio-buf 0.9; in beta).
//!
//! ```
//! use compio_20 as compio; // in your crate: plain `compio` 0.20
//! use jdb_alloc::direct::compio20::{self, Appender, DirectFile};
//!
//! # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
//! # std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join(format!("direct20-{}.log", std::process::id()));
//! // A compio runtime, its ring set up for storage I/O (`Runtime::new()` works too); to add
//! // settings of your own: `RuntimeBuilder::new().with_proactor(compio20::proactor())`.
//! let runtime: compio::runtime::Runtime = compio20::runtime().unwrap();
//! # let _own: compio::runtime::Runtime = compio::runtime::RuntimeBuilder::new()
//! #     .with_proactor(compio20::proactor())
//! #     .build()
//! #     .unwrap();
//! runtime.block_on(async {
//!     let mut log = Appender::new(DirectFile::create(&path).await?);
//!     let at = log.append(b"a record").await?;
//!     log.sync().await?;
//!     assert_eq!(&log.file().read_exact_at(at, 8).await?[..], b"a record");
//!     std::io::Result::Ok(())
//! }).unwrap();
//! # std::fs::remove_file(&path).unwrap();
//! ```

use compio_buf_09 as buf;
use compio_fs_13 as fs;
use compio_io_11 as io;

/// compio 0.20, for [`Compio`](super::Compio).
///
/// ```
/// use jdb_alloc::direct::{DirectFile, compio20};
///
/// // `compio20::DirectFile` names `DirectFile<Compio20>`.
/// let none: Option<compio20::DirectFile> = None;
/// let _: Option<DirectFile<compio20::Compio20>> = none;
/// ```
#[derive(Debug)]
pub enum Compio20 {}

super::backend::compio_version! {
    marker: Compio20,
    fs: fs,
    io: io,
    buf: buf,
    slice: IoBufExt,
    uninit: as_uninit,
    set_init: SetLenExt::advance_to,
    fixed: crate::fixed::compio20,
    runtime: compio_runtime_13,
    driver: compio_driver_13,
    module: "compio20",
    compio: "compio_20",
}
