//! Direct I/O files on compio 0.17 runtimes (compio-fs 0.10, compio-buf 0.7).
//!
//! ```
//! use jdb_alloc::direct::compio17::{self, Appender, DirectFile};
//!
//! # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-scratch");
//! # std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join(format!("direct17-{}.log", std::process::id()));
//! // A compio runtime, its ring set up for storage I/O (`Runtime::new()` works too); to add
//! // settings of your own: `RuntimeBuilder::new().with_proactor(compio17::proactor())`.
//! let runtime: compio::runtime::Runtime = compio17::runtime().unwrap();
//! # let _own: compio::runtime::Runtime = compio::runtime::RuntimeBuilder::new()
//! #     .with_proactor(compio17::proactor())
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

use compio_buf_07 as buf;
use compio_fs_10 as fs;
use compio_io_08 as io;

/// compio 0.17, for [`Compio`](super::Compio).
///
/// ```
/// use jdb_alloc::direct::{DirectFile, compio17};
///
/// // `compio17::DirectFile` names `DirectFile<Compio17>`.
/// let none: Option<compio17::DirectFile> = None;
/// let _: Option<DirectFile<compio17::Compio17>> = none;
/// ```
#[derive(Debug)]
pub enum Compio17 {}

super::backend::compio_version! {
    marker: Compio17,
    fs: fs,
    io: io,
    buf: buf,
    slice: IoBuf,
    uninit: as_mut_slice,
    set_init: SetBufInit::set_buf_init,
    fixed: crate::fixed::compio17,
    runtime: compio_runtime_10,
    driver: compio_driver_10,
    module: "compio17",
    compio: "compio",
}
