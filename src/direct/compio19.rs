//! Direct I/O files on compio 0.19 runtimes (compio-fs 0.12, compio-buf 0.8).
//!
//! ```
//! use compio_19 as compio; // in your crate: plain `compio` 0.19
//! use jdb_alloc::direct::compio19::{self, Appender, DirectFile};
//!
//! # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
//! # std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join(format!("direct19-{}.log", std::process::id()));
//! // A compio runtime, its ring set up for storage I/O (`Runtime::new()` works too); to add
//! // settings of your own: `RuntimeBuilder::new().with_proactor(compio19::proactor())`.
//! let runtime: compio::runtime::Runtime = compio19::runtime().unwrap();
//! # let _own: compio::runtime::Runtime = compio::runtime::RuntimeBuilder::new()
//! #     .with_proactor(compio19::proactor())
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

use compio_buf_08 as buf;
use compio_fs_12 as fs;
use compio_io_10 as io;

/// compio 0.19, for [`Compio`](super::Compio).
///
/// ```
/// use jdb_alloc::direct::{DirectFile, compio19};
///
/// // `compio19::DirectFile` names `DirectFile<Compio19>`.
/// let none: Option<compio19::DirectFile> = None;
/// let _: Option<DirectFile<compio19::Compio19>> = none;
/// ```
#[derive(Debug)]
pub enum Compio19 {}

super::backend::compio_version! {
    marker: Compio19,
    fs: fs,
    io: io,
    buf: buf,
    slice: IoBuf,
    uninit: as_uninit,
    set_init: SetLen::advance_to,
    fixed: crate::fixed::compio19,
    runtime: compio_runtime_12,
    driver: compio_driver_12,
    module: "compio19",
    compio: "compio_19",
}
