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

/// The largest zstd window (log2 bytes) the decoder accepts: what
/// lifeboat's own writer uses at its highest allowed level (19 uses 8 MiB
/// windows; `level_range` caps the config there). The decoder allocates the
/// window a frame header asks for before it checks any data, so without a
/// cap a hostile 40-byte frame declaring 2 GiB costs hundreds of MiB;
/// `max_level_window_fits_the_decoder_cap` keeps this in step with the writer.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// Marks an error of the reader under a codec, so [`CodecErrors`] can tell
/// it from the codec's own and hand it on unchanged (an OS error stays an
/// I/O error; the decryption's `InvalidData` keeps its message and hint).
#[derive(Debug)]
struct FromUnderneath(io::Error);

impl std::fmt::Display for FromUnderneath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for FromUnderneath {}

/// The reader under a codec, its errors marked [`FromUnderneath`].
struct Underneath<R>(R);

fn mark(e: io::Error) -> io::Error {
    io::Error::new(e.kind(), FromUnderneath(e))
}

impl<R: Read> Read for Underneath<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(mark)
    }
}

impl<R: io::BufRead> io::BufRead for Underneath<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.0.fill_buf().map_err(mark)
    }
    fn consume(&mut self, amt: usize) {
        self.0.consume(amt)
    }
}

/// A decoder whose own failures read as damaged data. The codecs report
/// them in their own words and kinds (zstd: `Other` with "Frame requires
/// too much memory for decoding"; flate2: `InvalidInput`), which callers
/// would report as a failed disk read; as `InvalidData`,
/// `pipeline::stream_read_error` says the stored stream is damaged and what
/// to do next.
struct CodecErrors<R> {
    inner: R,
    codec: Compression,
}

impl<R: Read> Read for CodecErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .read(buf)
            .map_err(|e| codec_failure(self.codec, e))
    }
}

fn codec_failure(codec: Compression, e: io::Error) -> io::Error {
    if e.get_ref().is_some_and(|i| i.is::<FromUnderneath>()) {
        let inner = e.into_inner().expect("checked above");
        return inner
            .downcast::<FromUnderneath>()
            .map(|u| u.0)
            .unwrap_or_else(io::Error::other);
    }
    if e.kind() == io::ErrorKind::Interrupted {
        return e;
    }
    let what = e.to_string();
    if codec == Compression::Zstd && what.contains("too much memory") {
        return io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "zstd frame asks for a decoding window larger than lifeboat ever writes \
                 (at most {} MiB): refusing it as damaged or hostile",
                (1u64 << ZSTD_WINDOW_LOG_MAX) >> 20
            ),
        );
    }
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{codec} data is damaged: {what}"),
    )
}

fn checked<R: Read + Send + 'static>(inner: R, codec: Compression) -> Box<dyn Read + Send> {
    Box::new(CodecErrors { inner, codec })
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
    let mut d = zstd::stream::read::Decoder::with_buffer(Underneath(inner))
        .map_err(codec_error("start zstd decompression"))?;
    d.window_log_max(ZSTD_WINDOW_LOG_MAX)
        .map_err(codec_error("start zstd decompression"))?;
    Ok(checked(d, compression))
}

/// Wrap `inner` in a decompressor.
pub fn decompress_reader<R: Read + Send + 'static>(
    inner: R,
    compression: Compression,
) -> Result<Box<dyn Read + Send>> {
    let inner = Underneath(inner);
    Ok(match compression {
        Compression::None => Box::new(inner.0),
        Compression::Gzip => checked(flate2::read::MultiGzDecoder::new(inner), compression),
        Compression::Zstd => {
            // Not `single_frame()`: multi-frame input decodes as one stream.
            let mut d = zstd::stream::read::Decoder::new(inner)
                .map_err(codec_error("start zstd decompression"))?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(codec_error("start zstd decompression"))?;
            checked(d, compression)
        }
        Compression::Bzip2 => checked(bzip2::read::MultiBzDecoder::new(inner), compression),
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

    /// A zstd frame header declaring a `1 << window_log` window, then one
    /// raw block holding `b"x"`: valid zstd, but the decoder would have to
    /// reserve the whole window before producing the byte.
    fn frame_with_window(window_log: u8) -> Vec<u8> {
        let mut f = vec![0x28, 0xB5, 0x2F, 0xFD];
        // Frame header descriptor: no content size, no checksum, no dictionary.
        f.push(0x00);
        // Window descriptor: exponent (log - 10) in the high five bits.
        f.push((window_log - 10) << 3);
        // Last block, raw, 1 byte.
        f.extend_from_slice(&[0x09, 0x00, 0x00, b'x']);
        f
    }

    #[test]
    fn zstd_frame_with_a_huge_window_is_refused_before_allocating() {
        for window_log in [24, 27, 31] {
            let mut out = Vec::new();
            let err = decompress_reader(
                io::Cursor::new(frame_with_window(window_log)),
                Compression::Zstd,
            )
            .unwrap()
            .read_to_end(&mut out)
            .unwrap_err();
            assert_eq!(
                err.kind(),
                io::ErrorKind::InvalidData,
                "window 2^{window_log}: {err}"
            );
            assert!(
                err.to_string()
                    .contains("larger than lifeboat ever writes (at most 8 MiB)"),
                "window 2^{window_log}: {err}"
            );
            // The buffered path (the one `open_stream` uses) refuses it too.
            let err = decompress_bufreader(
                io::Cursor::new(frame_with_window(window_log)),
                Compression::Zstd,
            )
            .unwrap()
            .read_to_end(&mut out)
            .unwrap_err();
            assert!(
                err.to_string()
                    .contains("refusing it as damaged or hostile"),
                "{err}"
            );
            assert!(out.is_empty());
        }
        // The largest window lifeboat writes still decodes.
        let mut out = Vec::new();
        decompress_reader(io::Cursor::new(frame_with_window(23)), Compression::Zstd)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"x");
    }

    /// The window a zstd frame header declares, as log2 bytes.
    fn declared_window_log(frame: &[u8]) -> u32 {
        assert_eq!(&frame[..4], &[0x28, 0xB5, 0x2F, 0xFD]);
        let fhd = frame[4];
        assert_eq!(fhd & 0x20, 0, "streamed frames are not single-segment");
        let wd = frame[5];
        let exponent = u32::from(wd >> 3);
        let mantissa = u64::from(wd & 7);
        let base = 1u64 << (10 + exponent);
        let size = base + base / 8 * mantissa;
        64 - (size - 1).leading_zeros()
    }

    #[test]
    fn max_level_window_fits_the_decoder_cap() {
        // Streaming (no pledged size) is how every payload is written, and
        // then the level alone sets the window.
        let (_, max_level) = Compression::Zstd.level_range();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        for threads in [1, 2] {
            let mut comp =
                Compressor::new(Vec::new(), Compression::Zstd, max_level, threads).unwrap();
            comp.write_all(&data).unwrap();
            let stored = comp.finish().unwrap();
            let log = declared_window_log(&stored);
            assert!(
                log <= ZSTD_WINDOW_LOG_MAX,
                "level {max_level} threads {threads} writes 2^{log} windows, the decoder caps at 2^{ZSTD_WINDOW_LOG_MAX}"
            );
            let mut out = Vec::new();
            decompress_reader(io::Cursor::new(stored), Compression::Zstd)
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert!(out == data);
        }
    }

    #[test]
    fn damaged_zstd_reads_as_invalid_data() {
        let mut stored = zstd::encode_all(&[7u8; 10000][..], 3).unwrap();
        let n = stored.len();
        stored[n / 2] ^= 0xFF;
        stored[4] = 0xFF; // reserved bit in the frame header descriptor
        let err = decompress_reader(io::Cursor::new(stored), Compression::Zstd)
            .unwrap()
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        assert!(err.to_string().starts_with("zstd data is damaged"), "{err}");
    }

    #[test]
    fn errors_from_underneath_keep_their_kind() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::from_raw_os_error(libc::EIO))
            }
        }
        for c in ALL {
            let err = decompress_reader(Failing, c)
                .unwrap()
                .read_to_end(&mut Vec::new())
                .unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EIO), "{c}: {err}");
        }
        let mut gz = Compressor::new(Vec::new(), Compression::Gzip, 6, 1).unwrap();
        gz.write_all(b"hello").unwrap();
        let mut stored = gz.finish().unwrap();
        stored[12] ^= 0x55;
        let err = decompress_reader(io::Cursor::new(stored), Compression::Gzip)
            .unwrap()
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        assert!(err.to_string().starts_with("gzip data is damaged"), "{err}");
    }
}
