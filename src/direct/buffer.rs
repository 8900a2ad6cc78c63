//! [`Buffer`]: the appender's buffers, a frame of the file's pool when it had one free, a
//! recycled plain buffer otherwise.

use std::{
    io,
    ops::{Deref, DerefMut},
};

use crate::{
    AlignedBuf, PAGE_SIZE,
    fixed::{FixedFrame, FixedPool},
};

/// An aligned buffer the appender fills and writes: either kind holds initialised bytes
/// `[0, len)` of a capacity that is a multiple of the file's alignment.
pub(super) enum Buffer {
    Plain(AlignedBuf),
    /// Written with `WRITE_FIXED` where its registration is in effect; back to its pool when
    /// dropped.
    Fixed(FixedFrame),
}

impl Buffer {
    /// An empty buffer of `cap` bytes (a multiple of the alignment): a pool frame lowered to
    /// that capacity when `pool` has one free, else a recycled plain buffer.
    pub(super) fn new(pool: Option<&FixedPool>, cap: usize) -> io::Result<Self> {
        if let Some(frame) = pool.and_then(|p| p.try_acquire_near(cap, cap)) {
            return Ok(Self::Fixed(frame));
        }
        AlignedBuf::with_cap(cap)
            .map(Self::Plain)
            .map_err(|e| io::Error::new(io::ErrorKind::OutOfMemory, format!("{e}")))
    }

    /// Bytes held: `[0, len)` are initialised.
    pub(super) fn len(&self) -> usize {
        self.deref().len()
    }

    pub(super) fn cap(&self) -> usize {
        match self {
            Self::Plain(buf) => buf.cap(),
            Self::Fixed(frame) => frame.cap(),
        }
    }

    /// Appends `data`; panics (naming the lengths) if it does not fit, which callers rule out.
    #[track_caller]
    pub(super) fn extend(&mut self, data: &[u8]) {
        let res = match self {
            Self::Plain(buf) => buf.extend(data),
            Self::Fixed(frame) => frame.extend(data),
        };
        if let Err(e) = res {
            panic!("appender buffer: {e}");
        }
    }

    pub(super) fn clear(&mut self) {
        match self {
            Self::Plain(buf) => buf.clear(),
            Self::Fixed(frame) => frame.clear(),
        }
    }

    /// Zero-fills from the length up to `to` (within the capacity).
    pub(super) fn pad_zeros(&mut self, to: usize) {
        static ZEROS: [u8; PAGE_SIZE] = [0; PAGE_SIZE];
        while self.len() < to {
            let n = (to - self.len()).min(PAGE_SIZE);
            self.extend(&ZEROS[..n]);
        }
    }
}

impl Deref for Buffer {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Plain(buf) => buf,
            Self::Fixed(frame) => frame,
        }
    }
}

impl DerefMut for Buffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            Self::Plain(buf) => buf,
            Self::Fixed(frame) => frame,
        }
    }
}
