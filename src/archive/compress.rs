//! Compression codecs (zstd, gzip, bzip2, none) behind one interface.
//!
//! Writers come in two shapes: [`Compressor`], a concrete generic type whose
//! `finish` hands back the inner writer (the pipeline needs it to finish the
//! encryption and read the hash), and the boxed [`FinishWrite`] for callers
//! that keep their own handle. Decoders accept concatenated members/frames,
//! as `cat a.gz b.gz` or multi-frame zstd produce, and read their input to
//! the end, so an authenticated stream underneath always sees its last segment.
use std::io::{self, Read, Write};

use crate::archive::manifest::Compression;
use crate::error::{Error, ErrorKind, Result};

/// A compressing writer that must be finished to flush its trailer.
pub trait FinishWrite: Write + Send {
    /// Flush the codec's trailer and return nothing; the inner writer is
    /// consumed (callers keep their own handle to what they need).
    fn finish(self: Box<Self>) -> Result<()>;
}

/// A compressor over `W` whose `finish` returns `W`.
pub enum Compressor<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
    Bzip2(bzip2::write::BzEncoder<W>),
}

impl<W: Write> Compressor<W> {
    /// Wrap `inner`; `threads` > 1 enables zstd's own worker threads.
    pub fn new(inner: W, compression: Compression, level: i32, threads: u32) -> io::Result<Self> {
        Ok(match compression {
            Compression::None => Compressor::None(inner),
            Compression::Gzip => {
                let level = level.clamp(1, 9) as u32;
                Compressor::Gzip(flate2::write::GzEncoder::new(
                    inner,
                    flate2::Compression::new(level),
                ))
            }
            Compression::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(inner, level)?;
                if threads > 1 {
                    enc.multithread(threads)?;
                    // zstd's default job size (several windows) costs ~50 MiB
                    // per worker; 2 MiB jobs keep both cores busy in a
                    // fraction of that, so memory stays flat and small.
                    enc.set_parameter(zstd::zstd_safe::CParameter::JobSize(2 << 20))?;
                }
                Compressor::Zstd(enc)
            }
            Compression::Bzip2 => {
                let level = level.clamp(1, 9) as u32;
                Compressor::Bzip2(bzip2::write::BzEncoder::new(
                    inner,
                    bzip2::Compression::new(level),
                ))
            }
        })
    }

    /// Write the codec's trailer and return the inner writer (not flushed).
    pub fn finish(self) -> io::Result<W> {
        match self {
            Compressor::None(w) => Ok(w),
            Compressor::Gzip(e) => e.finish(),
            Compressor::Zstd(e) => e.finish(),
            Compressor::Bzip2(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::None(w) => w.write(buf),
            Compressor::Gzip(e) => e.write(buf),
            Compressor::Zstd(e) => e.write(buf),
            Compressor::Bzip2(e) => e.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Compressor::None(w) => w.write_all(buf),
            Compressor::Gzip(e) => e.write_all(buf),
            Compressor::Zstd(e) => e.write_all(buf),
            Compressor::Bzip2(e) => e.write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::None(w) => w.flush(),
            Compressor::Gzip(e) => e.flush(),
            Compressor::Zstd(e) => e.flush(),
            Compressor::Bzip2(e) => e.flush(),
        }
    }
}

impl<W: Write + Send> FinishWrite for Compressor<W> {
    fn finish(self: Box<Self>) -> Result<()> {
        let mut w = (*self)
            .finish()
            .map_err(codec_error("finish compression"))?;
        w.flush().map_err(codec_error("flush compressed stream"))
    }
}

fn codec_error(action: &'static str) -> impl Fn(io::Error) -> Error {
    move |e| Error::new(ErrorKind::Io, format!("{action}: {e}")).with_source(e)
}

/// Wrap `inner` in a compressor. `threads` > 1 enables zstd's own worker threads.
pub fn compress_writer<W: Write + Send + 'static>(
    inner: W,
    compression: Compression,
    level: i32,
    threads: u32,
) -> Result<Box<dyn FinishWrite>> {
    let c = Compressor::new(inner, compression, level, threads)
        .map_err(codec_error("start compression"))?;
    Ok(Box::new(c))
}

/// Wrap `inner`, which buffers already, in a decompressor: zstd reads
/// straight from its buffer instead of copying into one of its own.
pub fn decompress_bufreader<R: io::BufRead + Send + 'static>(
    inner: R,
    compression: Compression,
) -> Result<Box<dyn Read + Send>> {
    if compression != Compression::Zstd {
        return decompress_reader(inner, compression);
    }
    let mut d = zstd::stream::read::Decoder::with_buffer(inner)
        .map_err(codec_error("start zstd decompression"))?;
    d.window_log_max(31)
        .map_err(codec_error("start zstd decompression"))?;
    Ok(Box::new(d))
}

/// Wrap `inner` in a decompressor.
pub fn decompress_reader<R: Read + Send + 'static>(
    inner: R,
    compression: Compression,
) -> Result<Box<dyn Read + Send>> {
    Ok(match compression {
        Compression::None => Box::new(inner),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(inner)),
        Compression::Zstd => {
            // Not `single_frame()`: multi-frame input decodes as one stream.
            let mut d = zstd::stream::read::Decoder::new(inner)
                .map_err(codec_error("start zstd decompression"))?;
            // Allow the long windows that high levels may use.
            d.window_log_max(31)
                .map_err(codec_error("start zstd decompression"))?;
            Box::new(d)
        }
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(inner)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    const ALL: [Compression; 4] = [
        Compression::None,
        Compression::Gzip,
        Compression::Zstd,
        Compression::Bzip2,
    ];

    fn roundtrip(c: Compression, threads: u32, data: &[u8]) -> Vec<u8> {
        let mut comp = Compressor::new(Vec::new(), c, c.default_level(), threads).unwrap();
        comp.write_all(data).unwrap();
        let stored = comp.finish().unwrap();
        let mut out = Vec::new();
        decompress_reader(io::Cursor::new(stored), c)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn samples() -> Vec<Vec<u8>> {
        let mut random = vec![0u8; 1024 * 1024 + 17];
        rand::thread_rng().fill_bytes(&mut random);
        let compressible: Vec<u8> = (0..2 * 1024 * 1024u32)
            .map(|i| b"INSERT INTO t VALUES (1, 'x');\n"[(i % 31) as usize])
            .collect();
        vec![vec![], vec![42], random, compressible]
    }

    #[test]
    fn every_codec_roundtrips() {
        for data in samples() {
            for c in ALL {
                assert_eq!(roundtrip(c, 1, &data), data, "{c} len {}", data.len());
            }
            assert_eq!(roundtrip(Compression::Zstd, 2, &data), data);
        }
    }

    #[test]
    fn boxed_writer_finishes_trailer() {
        let (tx, rx) = std::sync::mpsc::channel();
        struct Tap(Vec<u8>, std::sync::mpsc::Sender<Vec<u8>>);
        impl Write for Tap {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                self.1.send(self.0.clone()).unwrap();
                Ok(())
            }
        }
        let mut w = compress_writer(Tap(Vec::new(), tx), Compression::Gzip, 6, 1).unwrap();
        w.write_all(b"hello hello hello").unwrap();
        w.finish().unwrap();
        let stored = rx.recv().unwrap();
        let mut out = String::new();
        decompress_reader(io::Cursor::new(stored), Compression::Gzip)
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "hello hello hello");
    }

    #[test]
    fn zstd_accepts_multiple_frames() {
        let mut stored = zstd::encode_all(&b"first "[..], 3).unwrap();
        stored.extend(zstd::encode_all(&b"second"[..], 3).unwrap());
        let mut out = String::new();
        decompress_reader(io::Cursor::new(stored), Compression::Zstd)
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "first second");
    }

    #[test]
    fn corrupt_input_is_an_error() {
        let mut stored = Compressor::new(Vec::new(), Compression::Zstd, 3, 1).unwrap();
        stored.write_all(&[7u8; 10000]).unwrap();
        let mut stored = stored.finish().unwrap();
        stored.truncate(stored.len() / 2);
        let mut out = Vec::new();
        assert!(
            decompress_reader(io::Cursor::new(stored), Compression::Zstd)
                .unwrap()
                .read_to_end(&mut out)
                .is_err()
        );
    }
}
