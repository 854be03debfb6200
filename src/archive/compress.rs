//! Compression codecs (zstd, gzip, bzip2, none) behind one interface.
use std::io::{Read, Write};

use crate::archive::manifest::Compression;
use crate::error::Result;

/// A compressing writer that must be finished to flush its trailer.
pub trait FinishWrite: Write + Send {
    /// Flush the codec's trailer and return nothing; the inner writer is
    /// consumed (callers keep their own handle to what they need).
    fn finish(self: Box<Self>) -> Result<()>;
}

/// Wrap `inner` in a compressor. `threads` > 1 enables zstd's own worker threads.
pub fn compress_writer<W: Write + Send + 'static>(
    inner: W,
    compression: Compression,
    level: i32,
    threads: u32,
) -> Result<Box<dyn FinishWrite>> {
    let _ = (inner, compression, level, threads);
    todo!("helper: archive")
}

/// Wrap `inner` in a decompressor.
pub fn decompress_reader<R: Read + Send + 'static>(
    inner: R,
    compression: Compression,
) -> Result<Box<dyn Read + Send>> {
    let _ = (inner, compression);
    todo!("helper: archive")
}
