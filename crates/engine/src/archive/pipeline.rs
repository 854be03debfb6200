//! The streaming pipeline: plaintext -> compression -> encryption -> SHA-256
//! -> file, with the heavy stages on a background thread so the producer
//! (tar, pg_dump reader) and the codecs keep two cores busy.
//!
//! The producer hands over owned chunks through a bounded channel, so memory
//! stays at a few MiB however large the stream. The background thread only
//! writes the stream's end (compression trailer, last encrypted segment)
//! when told to finish: a producer that fails and drops its `Sealer` leaves
//! a file that does not authenticate, never a valid-looking short one.
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Sender};
use sha2::{Digest, Sha256};

use crate::archive::compress::{decompress_bufreader, Compressor};
use crate::archive::crypto::{integrity_io, DataKey, DecryptReader, EncryptWriter, SEGMENT_SIZE};
use crate::archive::manifest::Compression;
use crate::error::{Error, ErrorKind, Result};

/// Plaintext bytes per chunk handed to the background thread.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight; with `CHUNK` this bounds queued plaintext to 2 MiB.
const QUEUE: usize = 8;
/// Read buffer of `hash_file` and `open_stream`.
const READ_BUF: usize = 1024 * 1024;

/// How to seal a stream.
pub struct SealOptions {
    pub compression: Compression,
    pub level: i32,
    /// Encrypt with this data key when set.
    pub data_key: Option<DataKey>,
    /// zstd worker threads (0 or 1 = none).
    pub threads: u32,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Plaintext bytes accepted.
    pub size: u64,
    /// Bytes written to the file.
    pub stored_size: u64,
    /// Hex SHA-256 of the bytes written to the file.
    pub sha256: String,
}

enum Msg {
    Data(Vec<u8>),
    Finish,
}

/// What the background thread ends with: the sealed facts and the file, or
/// the failed action and its I/O error (phrased with the path by `Sealer`).
type ThreadResult = std::result::Result<(u64, String, File), (&'static str, io::Error)>;

/// A `Write` that seals everything written into `file`.
pub struct Sealer {
    tx: Option<Sender<Msg>>,
    thread: Option<JoinHandle<ThreadResult>>,
    chunk: Vec<u8>,
    size: u64,
    path: PathBuf,
    /// The background thread's error once it has been collected.
    failed: Option<(io::ErrorKind, Error)>,
}

impl Sealer {
    pub fn new(file: File, opts: SealOptions) -> Result<Sealer> {
        let (tx, rx) = bounded::<Msg>(QUEUE);
        let thread = std::thread::Builder::new()
            .name("lifeboat-seal".into())
            .spawn(move || -> ThreadResult {
                let hashed = HashWriter::new(BufWriter::with_capacity(READ_BUF, file));
                let sink = match &opts.data_key {
                    Some(dk) => Sink::Encrypted(Box::new(
                        EncryptWriter::new(hashed, dk, SEGMENT_SIZE)
                            .map_err(|e| ("write", error_to_io(e)))?,
                    )),
                    None => Sink::Plain(hashed),
                };
                let mut comp = Compressor::new(sink, opts.compression, opts.level, opts.threads)
                    .map_err(|e| ("start compression for", e))?;
                loop {
                    match rx.recv() {
                        Ok(Msg::Data(chunk)) => comp.write_all(&chunk).map_err(|e| ("write", e))?,
                        Ok(Msg::Finish) => break,
                        Err(_) => {
                            return Err((
                                "seal",
                                io::Error::other("stream abandoned before it was finished"),
                            ))
                        }
                    }
                }
                drop(rx);
                let sink = comp.finish().map_err(|e| ("finish compression of", e))?;
                let hashed = sink.finish().map_err(|e| ("finish encryption of", e))?;
                let (buffered, stored, sha) = hashed.into_parts();
                let file = buffered
                    .into_inner()
                    .map_err(|e| ("write", e.into_error()))?;
                file.sync_all().map_err(|e| ("fsync", e))?;
                Ok((stored, sha, file))
            })
            .map_err(|e| Error::new(ErrorKind::Io, format!("start sealing thread: {e}")))?;
        Ok(Sealer {
            tx: Some(tx),
            thread: Some(thread),
            chunk: Vec::with_capacity(CHUNK),
            size: 0,
            path: PathBuf::from("<archive stream>"),
            failed: None,
        })
    }

    /// Name the output file in error messages (e.g. "write /repo/x.zst: no space left").
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Sealer {
        self.path = path.into();
        self
    }

    /// Flush every stage, fsync the file, and report sizes and hash.
    pub fn finish(mut self) -> Result<(Sealed, File)> {
        if let Some((_, e)) = self.failed.take() {
            return Err(e);
        }
        let sent = self.send_chunk().and_then(|()| {
            self.tx
                .as_ref()
                .expect("sender lives until finish")
                .send(Msg::Finish)
                .map_err(|_| io::Error::other("sealing thread stopped"))
        });
        self.tx = None;
        // The thread died while the last chunk was handed over: that chunk
        // already collected its error (e.g. no space left), the real one.
        if let Some((_, e)) = self.failed.take() {
            return Err(e);
        }
        let joined = self.join();
        match (sent, joined) {
            (_, Err(e)) => Err(e),
            (Err(e), Ok(_)) => Err(Error::io("write", &self.path, e)),
            (Ok(()), Ok((stored_size, sha256, file))) => Ok((
                Sealed {
                    size: self.size,
                    stored_size,
                    sha256,
                },
                file,
            )),
        }
    }

    fn join(&mut self) -> Result<(u64, String, File)> {
        let handle = self.thread.take().ok_or_else(|| {
            Error::new(ErrorKind::Io, "sealing thread already finished".to_string())
        })?;
        match handle.join() {
            Ok(Ok(v)) => Ok(v),
            Ok(Err((action, e))) => Err(Error::io(action, &self.path, e)),
            Err(_) => Err(Error::new(
                ErrorKind::Io,
                format!(
                    "sealing {} failed: the sealing thread panicked",
                    self.path.display()
                ),
            )),
        }
    }

    /// Hand the current chunk to the thread; on a dead thread, collect its error.
    fn send_chunk(&mut self) -> io::Result<()> {
        if let Some((kind, e)) = &self.failed {
            return Err(io::Error::new(*kind, e.message.clone()));
        }
        if self.chunk.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        let tx = self.tx.as_ref().expect("sender lives until finish");
        if tx.send(Msg::Data(chunk)).is_ok() {
            return Ok(());
        }
        // The thread hung up: it failed. Its error is the real one.
        self.tx = None;
        let err = match self.join() {
            Err(e) => e,
            Ok(_) => Error::new(ErrorKind::Io, "sealing thread stopped early".to_string()),
        };
        let kind = err
            .source
            .as_ref()
            .and_then(|s| s.downcast_ref::<io::Error>())
            .map(|e| e.kind())
            .unwrap_or(io::ErrorKind::Other);
        let io_err = io::Error::new(kind, err.message.clone());
        self.failed = Some((kind, err));
        Err(io_err)
    }
}

impl Write for Sealer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some((kind, e)) = &self.failed {
            return Err(io::Error::new(*kind, e.message.clone()));
        }
        if self.chunk.len() == CHUNK {
            self.send_chunk()?;
        }
        let n = buf.len().min(CHUNK - self.chunk.len());
        self.chunk.extend_from_slice(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    /// Hands buffered bytes to the background thread; it does not wait for
    /// them to reach the file (`finish` does).
    fn flush(&mut self) -> io::Result<()> {
        self.send_chunk()
    }
}

impl Drop for Sealer {
    fn drop(&mut self) {
        // Unfinished: hang up without `Finish` so no stream end is written.
        self.tx = None;
        if let Some(h) = self.thread.take() {
            let _ = h.join();
        }
    }
}

/// Where compressed bytes go: straight to the hasher, or through encryption.
enum Sink {
    Plain(HashWriter<BufWriter<File>>),
    Encrypted(Box<EncryptWriter<HashWriter<BufWriter<File>>>>),
}

impl Sink {
    fn finish(self) -> io::Result<HashWriter<BufWriter<File>>> {
        match self {
            Sink::Plain(h) => Ok(h),
            Sink::Encrypted(e) => (*e).finish_io(),
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Encrypted(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Encrypted(w) => w.flush(),
        }
    }
}

/// Counts and hashes the bytes that reach the file.
struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashWriter<W> {
    fn new(inner: W) -> Self {
        HashWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }
    fn into_parts(self) -> (W, u64, String) {
        (self.inner, self.count, hex::encode(self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn error_to_io(e: Error) -> io::Error {
    match e.source.and_then(|s| s.downcast::<io::Error>().ok()) {
        Some(io) => *io,
        None => io::Error::other(e.message),
    }
}

/// Refuses to produce more than `max` bytes.
struct LimitReader<R> {
    inner: R,
    max: u64,
    produced: u64,
}

impl<R: Read> Read for LimitReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let allowed = self.max - self.produced;
        // Ask for one byte more than allowed to notice an overrun without
        // handing any of it out.
        let want = (allowed.saturating_add(1)).min(buf.len() as u64) as usize;
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > allowed {
            return Err(integrity_io(format!(
                "stream is larger than its manifest says ({} bytes): refusing to continue (corrupted or decompression bomb)",
                self.max
            )));
        }
        self.produced += n as u64;
        Ok(n)
    }
}

/// Open a stored stream for reading plaintext: decrypt (if `data_key`) then
/// decompress. Producing more than `max_size` plaintext bytes is an
/// Integrity error (decompression bomb / manifest mismatch).
pub fn open_stream<R: Read + Send + 'static>(
    file: R,
    compression: Compression,
    data_key: Option<&DataKey>,
    max_size: Option<u64>,
) -> Result<Box<dyn Read + Send>> {
    open_stream_from(file, compression, data_key, max_size)
}

/// [`open_stream`] over any reader of stored bytes (e.g. a [`HashingReader`]).
pub fn open_stream_from<R: Read + Send + 'static>(
    source: R,
    compression: Compression,
    data_key: Option<&DataKey>,
    max_size: Option<u64>,
) -> Result<Box<dyn Read + Send>> {
    let plain = match data_key {
        // Segments are read whole (64 KiB) and served in place: no extra
        // buffer in front of the decryption or behind it.
        Some(dk) => decompress_bufreader(DecryptReader::new(source, dk)?, compression)?,
        None => decompress_bufreader(BufReader::with_capacity(READ_BUF, source), compression)?,
    };
    Ok(match max_size {
        Some(max) => Box::new(LimitReader {
            inner: plain,
            max,
            produced: 0,
        }),
        None => plain,
    })
}

/// Turn an I/O error from reading an [`open_stream`] into an engine error:
/// integrity failures (authentication, size limit) keep their kind and hint,
/// anything else is an I/O error on `path`.
pub fn stream_read_error(path: &Path, err: io::Error) -> Error {
    if err.kind() == io::ErrorKind::InvalidData {
        if let Some(inner) = err.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
            let mut e = Error::new(inner.kind, format!("{}: {}", path.display(), inner.message));
            e.hint = inner.hint.clone();
            return e;
        }
        return Error::integrity(format!("{}: {err}", path.display())).hint(
            "the stored stream is damaged (decompression failed); verify it and use another backup",
        );
    }
    Error::io("read", path, err)
}

/// SHA-256 and length of everything read through a [`HashingReader`],
/// shared so it can be read after the reader moved to another thread.
#[derive(Clone, Default)]
pub struct ReadDigest(std::sync::Arc<std::sync::Mutex<(Sha256, u64)>>);

impl ReadDigest {
    /// Hex SHA-256 and byte count so far.
    pub fn finish(&self) -> (String, u64) {
        let g = self.0.lock().unwrap();
        (hex::encode(g.0.clone().finalize()), g.1)
    }
}

/// A reader that hashes what passes through it, so the stored bytes can be
/// checked against the manifest in the same pass that decodes them.
pub struct HashingReader<R> {
    inner: R,
    digest: ReadDigest,
    hash: bool,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> (HashingReader<R>, ReadDigest) {
        let digest = ReadDigest::default();
        (
            HashingReader {
                inner,
                digest: digest.clone(),
                hash: true,
            },
            digest,
        )
    }
}

impl<R: Read> HashingReader<R> {
    /// Like [`HashingReader::new`], but when `hash` is false only the bytes
    /// are counted (the digest's hash is then that of nothing).
    pub fn new_optional(inner: R, hash: bool) -> (HashingReader<R>, ReadDigest) {
        let (mut r, d) = HashingReader::new(inner);
        r.hash = hash;
        (r, d)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut g = self.digest.0.lock().unwrap();
        if self.hash {
            g.0.update(&buf[..n]);
        }
        g.1 += n as u64;
        Ok(n)
    }
}

/// Streaming SHA-256 and length of a file.
pub fn hash_file(path: &Path) -> Result<(String, u64)> {
    let mut f = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; READ_BUF];
    let mut len = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read", path, e)),
        };
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), len))
}

/// Run `inner` (decryption and decompression) on its own thread, handing
/// plaintext over in bounded chunks, so a restore keeps two cores busy:
/// one decoding, one writing files. Memory: at most `DEPTH` chunks.
pub struct ReadAhead {
    rx: crossbeam_channel::Receiver<std::io::Result<Vec<u8>>>,
    /// Emptied chunks go back to the decoder, so it never allocates (and
    /// zeroes) a new megabyte per chunk.
    recycle: crossbeam_channel::Sender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    done: bool,
}

impl ReadAhead {
    const CHUNK: usize = 1 << 20;
    const DEPTH: usize = 4;

    pub fn new(mut inner: Box<dyn Read + Send>) -> ReadAhead {
        let (tx, rx) = crossbeam_channel::bounded(Self::DEPTH);
        let (recycle, recycled) = crossbeam_channel::bounded::<Vec<u8>>(Self::DEPTH + 2);
        std::thread::Builder::new()
            .name("lifeboat-decode".into())
            .spawn(move || loop {
                let mut buf = recycled.try_recv().unwrap_or_default();
                buf.resize(Self::CHUNK, 0);
                let mut filled = 0;
                let res = loop {
                    match inner.read(&mut buf[filled..]) {
                        Ok(0) => break Ok(()),
                        Ok(n) => {
                            filled += n;
                            if filled == buf.len() {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                match res {
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                    Ok(()) if filled == 0 => return,
                    Ok(()) => {
                        buf.truncate(filled);
                        // The reader went away (error or cancel): stop decoding.
                        if tx.send(Ok(buf)).is_err() {
                            return;
                        }
                    }
                }
            })
            .expect("spawn decode thread");
        ReadAhead {
            rx,
            recycle,
            current: Vec::new(),
            pos: 0,
            done: false,
        }
    }
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.current.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    let used = std::mem::replace(&mut self.current, chunk);
                    let _ = self.recycle.try_send(used);
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
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

    fn seal_to(path: &Path, data: &[u8], compression: Compression, dk: Option<DataKey>) -> Sealed {
        let file = File::create(path).unwrap();
        let mut s = Sealer::new(
            file,
            SealOptions {
                compression,
                level: compression.default_level(),
                data_key: dk,
                threads: if compression == Compression::Zstd {
                    2
                } else {
                    1
                },
            },
        )
        .unwrap()
        .with_path(path);
        for part in data.chunks(100_003) {
            s.write_all(part).unwrap();
        }
        s.flush().unwrap();
        let (sealed, _file) = s.finish().unwrap();
        sealed
    }

    fn read_back(
        path: &Path,
        c: Compression,
        dk: Option<&DataKey>,
        max: Option<u64>,
    ) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        open_stream(File::open(path).unwrap(), c, dk, max)
            .unwrap()
            .read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn sealed_streams_read_back_and_hash_matches() {
        let tmp = tempfile::tempdir().unwrap();
        let mut random = vec![0u8; 700 * 1024 + 1];
        rand::thread_rng().fill_bytes(&mut random);
        let text: Vec<u8> = b"COPY public.users (id, name) FROM stdin;\n"
            .iter()
            .cycle()
            .take(1024 * 1024)
            .copied()
            .collect();
        let seg = SEGMENT_SIZE as usize;
        for data in [
            vec![],
            vec![1u8],
            random[..seg].to_vec(),
            random[..seg + 1].to_vec(),
            random,
            text,
        ] {
            for c in ALL {
                for dk in [None, Some(DataKey::random())] {
                    let path = tmp.path().join("payload");
                    let sealed = seal_to(&path, &data, c, dk.clone());
                    assert_eq!(sealed.size, data.len() as u64);
                    let (sha, len) = hash_file(&path).unwrap();
                    assert_eq!((sealed.sha256.clone(), sealed.stored_size), (sha, len));
                    let back = read_back(&path, c, dk.as_ref(), Some(data.len() as u64)).unwrap();
                    assert!(
                        back == data,
                        "{c} encrypted={} len={}",
                        dk.is_some(),
                        data.len()
                    );
                    if dk.is_some() {
                        assert_eq!(&fs_prefix(&path)[..], b"LBSTRM01");
                        // The wrong key fails before any plaintext comes out.
                        let err = read_back(&path, c, Some(&DataKey::random()), None).unwrap_err();
                        let e = stream_read_error(&path, err);
                        assert_eq!(e.kind, ErrorKind::Integrity, "{}", e.message);
                        assert!(e.message.contains("wrong key"), "{}", e.message);
                    }
                }
            }
        }
    }

    fn fs_prefix(path: &Path) -> Vec<u8> {
        let mut b = [0u8; 8];
        File::open(path).unwrap().read_exact(&mut b).unwrap();
        b.to_vec()
    }

    #[test]
    fn several_mib_encrypted_zstd_roundtrip() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("big.zst");
        let mut data = vec![0u8; 6 * 1024 * 1024];
        rand::thread_rng().fill_bytes(&mut data[..3 * 1024 * 1024]);
        let dk = DataKey::random();
        let sealed = seal_to(&path, &data, Compression::Zstd, Some(dk.clone()));
        assert_eq!(
            hash_file(&path).unwrap(),
            (sealed.sha256, sealed.stored_size)
        );
        let back = read_back(&path, Compression::Zstd, Some(&dk), Some(data.len() as u64)).unwrap();
        assert!(back == data);
    }

    #[test]
    fn more_than_max_size_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("bomb.zst");
        let data = vec![0u8; 4 * 1024 * 1024];
        seal_to(&path, &data, Compression::Zstd, None);
        let err = read_back(&path, Compression::Zstd, None, Some(1_000_000)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(
            err.to_string()
                .contains("larger than its manifest says (1000000 bytes)"),
            "{err}"
        );
        // Exactly the limit is fine.
        assert_eq!(
            read_back(&path, Compression::Zstd, None, Some(data.len() as u64)).unwrap(),
            data
        );
    }

    #[test]
    fn full_disk_fails_writes_and_finish_names_the_file() {
        let Ok(file) = File::options().write(true).open("/dev/full") else {
            return; // no /dev/full here
        };
        let mut s = Sealer::new(
            file,
            SealOptions {
                compression: Compression::None,
                level: 0,
                data_key: Some(DataKey::random()),
                threads: 1,
            },
        )
        .unwrap()
        .with_path("/dev/full");
        let chunk = vec![7u8; 64 * 1024];
        let mut write_failed = false;
        // BufWriter holds 1 MiB, the queue 2 MiB: it must fail well before 64 MiB.
        for _ in 0..1024 {
            if let Err(e) = s.write_all(&chunk) {
                assert!(e.to_string().contains("no space left on device"), "{e}");
                write_failed = true;
                break;
            }
        }
        assert!(write_failed, "writes to a full disk kept succeeding");
        let err = s.finish().unwrap_err();
        assert_eq!(err.kind, ErrorKind::Io);
        assert_eq!(err.message, "write /dev/full: no space left on device");
        assert!(err.hint.is_some());
    }

    #[test]
    fn small_stream_to_full_disk_fails_in_finish() {
        let Ok(file) = File::options().write(true).open("/dev/full") else {
            return;
        };
        let mut s = Sealer::new(
            file,
            SealOptions {
                compression: Compression::Gzip,
                level: 6,
                data_key: None,
                threads: 1,
            },
        )
        .unwrap()
        .with_path("/dev/full");
        s.write_all(b"tiny").unwrap();
        let err = s.finish().unwrap_err();
        assert!(
            err.message.contains("no space left on device"),
            "{}",
            err.message
        );
    }

    #[test]
    fn abandoned_sealer_leaves_no_valid_stream() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("partial");
        let dk = DataKey::random();
        let mut s = Sealer::new(
            File::create(&path).unwrap(),
            SealOptions {
                compression: Compression::None,
                level: 0,
                data_key: Some(dk.clone()),
                threads: 1,
            },
        )
        .unwrap();
        s.write_all(&vec![5u8; 300 * 1024]).unwrap();
        drop(s);
        assert!(read_back(&path, Compression::None, Some(&dk), None).is_err());
    }

    #[test]
    fn hash_file_matches_known_digest() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            hash_file(&path).unwrap(),
            (
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".to_string(),
                3
            )
        );
        let err = hash_file(&tmp.path().join("missing")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Io);
    }
}
