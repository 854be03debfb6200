//! Writing restored files off the thread that parses the archive.
//!
//! A restore's work is decoding (decryption, decompression), parsing the
//! tar, writing files and checking each file's SHA-256 against the index.
//! On one thread after the decoder, parsing, writing and hashing queue up
//! behind each other while the second core idles; here they are stages of
//! a pipeline joined by bounded channels, so memory stays at a few MiB.

use std::ffi::{CString, OsStr};
use std::fs::{File, Permissions};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender};

use super::content_hash::ContentHasher;
use super::place::{
    chown_fd, create_file_at, file_time, io_err, rename_at, temp_name, unlink_at, At, BLOCK, BUF,
};
use super::xattrs::{self, Skipped, Xattr};
use super::{show, IndexEntry};
use crate::error::{Error, ErrorKind, Result};

/// What the extraction thread sends the writer thread, per file: `Open`,
/// its content in order, `Close`.
pub(super) enum ToWriter {
    Open {
        at: At,
        idx: IndexEntry,
        xattrs: Vec<Xattr>,
    },
    /// A whole small file in one message (most files of a tree): three
    /// hand-offs, and so thread wake-ups, become one.
    Whole {
        at: At,
        idx: IndexEntry,
        xattrs: Vec<Xattr>,
        buf: Vec<u8>,
        n: usize,
    },
    /// A buffer and how many of its bytes are content.
    Data(Vec<u8>, usize),
    /// A hole of this many bytes in a sparse file: zeros, not written.
    Hole(u64),
    Close,
}

/// What the writer thread sends the finishing thread: the content it
/// wrote, then the file.
enum ToFinisher {
    /// A file opened: whether its digest takes the sparse form (see
    /// `content_hash`).
    Begin(bool),
    Data(Vec<u8>, usize),
    /// Zeros of a hole, hashed but never sent as bytes.
    Hole(u64),
    End(Written),
    /// A whole small file: its content, then the file.
    Whole(Vec<u8>, usize, Written),
}

/// A file whose content is in its temp file, waiting to be checked and
/// moved into place.
struct Written {
    file: File,
    /// Where the content is, in `at.dir`: a temp name, or the target's own
    /// name when it was created directly (a fresh destination).
    tmp: CString,
    at: At,
    idx: IndexEntry,
    xattrs: Vec<Xattr>,
}

impl Written {
    fn direct(&self) -> bool {
        self.tmp == self.at.name
    }
    /// The temp file's path, for messages.
    fn tmp_path(&self) -> PathBuf {
        self.at
            .target
            .with_file_name(OsStr::from_bytes(self.tmp.as_bytes()))
    }
    /// Remove the temp file (the file is not going into place).
    fn remove(&self) {
        let _ = unlink_at(&self.at.dir, &self.tmp);
    }
}

/// A file the writer thread is writing.
struct Open {
    file: File,
    /// As in [`Written`].
    tmp: CString,
    at: At,
    /// The temp file's path, for messages.
    tmp_path: PathBuf,
    idx: IndexEntry,
    xattrs: Vec<Xattr>,
    /// Content bytes received, and where the file's write position is.
    off: u64,
    cursor: u64,
}

/// Messages queued between two threads; with `BUF`-byte buffers this
/// bounds what is in flight (and the temp files open) to a few MiB.
const FILE_QUEUE: usize = 8;

/// Writing files, off the thread that parses the archive, in two stages:
///
/// - the writer creates each file under a temp name beside its target and
///   writes its content (runs of zero blocks become holes in a file that
///   was sparse);
/// - the finisher hashes that content, compares it with the file index,
///   sets owner, mode and mtime, and only then renames the file into place
///   (without hashing, the writer does that last part itself and there is
///   no finisher thread).
///
/// With decoding on a thread of its own as well, the restore's work (decode,
/// parse, write, hash) spreads over both cores instead of queueing on one.
/// The checks are the ones that ran inline before: a file whose SHA-256 does
/// not match is never renamed into place, and the restore fails with the
/// same error (it surfaces at the next entry or at the end). When the
/// restore stops early, files not yet in place are removed, not renamed.
pub(super) struct FileThreads {
    tx: Option<Sender<ToWriter>>,
    /// Buffers come back here once hashed.
    recycle: Receiver<Vec<u8>>,
    recycle_tx: Sender<Vec<u8>>,
    failed: Arc<Mutex<Option<Error>>>,
    abort: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// State shared by the two file threads.
#[derive(Clone)]
struct Shared {
    /// Attributes the target could not take.
    skipped: Skipped,
    failed: Arc<Mutex<Option<Error>>>,
    abort: Arc<AtomicBool>,
    recycle: Sender<Vec<u8>>,
}

impl Shared {
    /// Stop writing: the restore failed or is being abandoned.
    fn stopped(&self) -> bool {
        self.abort.load(AtomicOrdering::Relaxed) || self.failed.lock().unwrap().is_some()
    }
    /// Keep the first failure.
    fn fail(&self, e: Error) {
        let mut f = self.failed.lock().unwrap();
        if f.is_none() {
            *f = Some(e);
        }
    }
}

impl FileThreads {
    /// `fresh`: the destination is new and removed whole on failure, so
    /// files are created under their own names where nothing is there yet.
    pub(super) fn start(
        as_root: bool,
        check_hashes: bool,
        fresh: bool,
        skipped: Skipped,
    ) -> Result<FileThreads> {
        let (tx, rx) = bounded::<ToWriter>(FILE_QUEUE);
        let (fin_tx, fin_rx) = bounded::<ToFinisher>(FILE_QUEUE);
        let (recycle_tx, recycle) = bounded::<Vec<u8>>(2 * FILE_QUEUE + 4);
        let shared = Shared {
            skipped,
            failed: Arc::new(Mutex::new(None)),
            abort: Arc::new(AtomicBool::new(false)),
            recycle: recycle_tx.clone(),
        };
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Io,
                        format!("start the restore's {name} thread: {e}"),
                    )
                })
        };
        let writer = {
            let shared = shared.clone();
            spawn(
                "lifeboat-write",
                Box::new(move || {
                    let hand = Hand {
                        fin: fin_tx,
                        check_hashes,
                        as_root,
                        fresh,
                    };
                    write_files(rx, hand, &shared)
                }),
            )?
        };
        let mut threads = vec![writer];
        // Without hashing the writer finishes each file itself.
        if check_hashes {
            let shared = shared.clone();
            threads.push(spawn(
                "lifeboat-finish",
                Box::new(move || finish_files(fin_rx, &shared, as_root)),
            )?);
        }
        Ok(FileThreads {
            tx: Some(tx),
            recycle,
            recycle_tx,
            failed: shared.failed,
            abort: shared.abort,
            threads,
        })
    }

    /// A buffer of `BUF` bytes, reused when one has come back.
    pub(super) fn buffer(&self) -> Vec<u8> {
        let mut b = self.recycle.try_recv().unwrap_or_default();
        b.resize(BUF, 0);
        b
    }

    /// Return a buffer that was not handed over.
    pub(super) fn give_back(&self, buf: Vec<u8>) {
        let _ = self.recycle_tx.try_send(buf);
    }

    /// The first failure of the file threads so far, if any. Once it has
    /// been reported, nothing more is moved into place.
    pub(super) fn check(&self) -> Result<()> {
        let mut failed = self.failed.lock().unwrap();
        match failed.take() {
            Some(e) => {
                self.abort.store(true, AtomicOrdering::Relaxed);
                Err(e)
            }
            None => Ok(()),
        }
    }

    pub(super) fn send(&self, msg: ToWriter) -> Result<()> {
        let tx = self.tx.as_ref().expect("sender lives until finish");
        if tx.send(msg).is_err() {
            self.check()?;
            return Err(Error::new(
                ErrorKind::Io,
                "the restore's writer thread stopped unexpectedly".to_string(),
            ));
        }
        Ok(())
    }

    /// Wait until every file handed over is in place; the first failure.
    pub(super) fn finish(&mut self) -> Result<()> {
        self.join()?;
        self.check()
    }

    fn join(&mut self) -> Result<()> {
        self.tx = None;
        let mut panicked = false;
        for t in self.threads.drain(..) {
            panicked |= t.join().is_err();
        }
        if panicked {
            return Err(Error::new(
                ErrorKind::Io,
                "a restore file thread panicked".to_string(),
            ));
        }
        Ok(())
    }
}

impl Drop for FileThreads {
    fn drop(&mut self) {
        // Extraction failed or was cancelled: files not yet in place stay out.
        self.abort.store(true, AtomicOrdering::Relaxed);
        let _ = self.join();
    }
}

/// Where the writer puts a written file: to the finisher thread when the
/// content is to be hashed, else finished on the writer thread itself (one
/// hand-off per file fewer).
struct Hand {
    fin: Sender<ToFinisher>,
    check_hashes: bool,
    as_root: bool,
    fresh: bool,
}

impl Hand {
    /// Like `Sender::send`: the message back if the finisher is gone.
    fn send(&self, msg: ToFinisher, shared: &Shared) -> std::result::Result<(), Box<ToFinisher>> {
        if self.check_hashes {
            return self.fin.send(msg).map_err(|e| Box::new(e.0));
        }
        let w = match msg {
            ToFinisher::Data(buf, _) => {
                let _ = shared.recycle.try_send(buf);
                return Ok(());
            }
            ToFinisher::Hole(_) | ToFinisher::Begin(_) => return Ok(()),
            ToFinisher::Whole(buf, _, w) => {
                let _ = shared.recycle.try_send(buf);
                w
            }
            ToFinisher::End(w) => w,
        };
        if shared.stopped() {
            w.remove();
        } else if let Err(e) = finish_file(&w, None, self.as_root, &shared.skipped) {
            w.remove();
            shared.fail(e);
        }
        Ok(())
    }
}

/// The writer thread: create, write, hand over to the finisher.
fn write_files(rx: Receiver<ToWriter>, fin: Hand, shared: &Shared) {
    let mut cur: Option<Open> = None;
    for msg in rx {
        // A file still open here was abandoned (its content cut short).
        if matches!(msg, ToWriter::Open { .. } | ToWriter::Whole { .. }) {
            if let Some(o) = cur.take() {
                discard(o);
            }
        }
        let sent = match msg {
            ToWriter::Open { at, idx, xattrs } => {
                let sparse = idx.sparse;
                if !shared.stopped() {
                    cur = create_temp(at, idx, xattrs, fin.fresh)
                        .map_err(|e| shared.fail(e))
                        .ok();
                }
                match cur {
                    Some(_) => fin.send(ToFinisher::Begin(sparse), shared),
                    None => Ok(()),
                }
            }
            ToWriter::Whole {
                at,
                idx,
                xattrs,
                buf,
                n,
            } => {
                let written = if shared.stopped() {
                    None
                } else {
                    create_temp(at, idx, xattrs, fin.fresh)
                        .and_then(|o| complete(o, &buf[..n]))
                        .map_err(|e| shared.fail(e))
                        .ok()
                };
                match written {
                    Some(w) => fin.send(ToFinisher::Whole(buf, n, w), shared),
                    None => {
                        let _ = shared.recycle.try_send(buf);
                        Ok(())
                    }
                }
            }
            ToWriter::Data(buf, n) => match cur.as_mut() {
                Some(o) => match write_runs(o, &buf[..n]) {
                    Ok(()) => fin.send(ToFinisher::Data(buf, n), shared),
                    Err(e) => {
                        shared.fail(e);
                        discard(cur.take().expect("open file"));
                        let _ = shared.recycle.try_send(buf);
                        Ok(())
                    }
                },
                None => {
                    let _ = shared.recycle.try_send(buf);
                    Ok(())
                }
            },
            ToWriter::Hole(n) => match cur.as_mut() {
                Some(o) => {
                    o.off += n;
                    fin.send(ToFinisher::Hole(n), shared)
                }
                None => Ok(()),
            },
            ToWriter::Close => match cur.take() {
                Some(o) => match complete(o, &[]) {
                    Ok(w) => fin.send(ToFinisher::End(w), shared),
                    Err(e) => {
                        shared.fail(e);
                        Ok(())
                    }
                },
                None => Ok(()),
            },
        };
        // The finisher is gone (it only stops when the restore does):
        // remove what could not be handed over and stop.
        if let Err(unsent) = sent {
            if let ToFinisher::End(w) | ToFinisher::Whole(_, _, w) = *unsent {
                w.remove();
            }
            break;
        }
    }
    // Stopped mid-file (the restore failed or was cancelled).
    if let Some(o) = cur.take() {
        discard(o);
    }
}

/// Create the temp file that will become `at`; in a fresh destination
/// the target itself, unless something is already there. Relative to the
/// directory's descriptor, with `O_NOFOLLOW`: never through a symlink.
fn create_temp(at: At, idx: IndexEntry, xattrs: Vec<Xattr>, fresh: bool) -> Result<Open> {
    if fresh {
        match create_file_at(&at.dir, &at.name) {
            Ok(file) => {
                return Ok(Open {
                    file,
                    tmp: at.name.clone(),
                    tmp_path: at.target.clone(),
                    at,
                    idx,
                    xattrs,
                    off: 0,
                    cursor: 0,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err("create", &at.target)(e)),
        }
    }
    let tmp = temp_name();
    let tmp_path = at.target.with_file_name(OsStr::from_bytes(&tmp));
    let tmp = CString::new(tmp).expect("temp names have no NUL");
    let file = create_file_at(&at.dir, &tmp).map_err(io_err("create", &tmp_path))?;
    Ok(Open {
        file,
        tmp,
        tmp_path,
        at,
        idx,
        xattrs,
        off: 0,
        cursor: 0,
    })
}

/// Write the rest of a file's content and close it for the finisher; on
/// failure the temp file is removed.
fn complete(mut o: Open, rest: &[u8]) -> Result<Written> {
    let res = write_runs(&mut o, rest).and_then(|()| {
        // A file ending in a hole needs its length set.
        if o.cursor != o.off {
            o.file.set_len(o.off).map_err(io_err("write", &o.tmp_path))
        } else {
            Ok(())
        }
    });
    match res {
        Ok(()) => Ok(Written {
            file: o.file,
            tmp: o.tmp,
            at: o.at,
            idx: o.idx,
            xattrs: o.xattrs,
        }),
        Err(e) => {
            discard(o);
            Err(e)
        }
    }
}

/// Close and remove a temp file that will not be finished.
fn discard(o: Open) {
    drop(o.file);
    let _ = unlink_at(&o.at.dir, &o.tmp);
}

/// Write each run of non-zero blocks of `data` with one call; for a file
/// that was sparse when backed up, seek over zero blocks so it stays
/// sparse. A dense file is written whole, zeros too: a file its owner
/// allocated (a database's preallocated segment, a swap file) must not
/// come back full of holes that a full disk later cannot fill.
fn write_runs(o: &mut Open, data: &[u8]) -> Result<()> {
    if !o.idx.sparse {
        if !data.is_empty() {
            o.file
                .write_all(data)
                .map_err(io_err("write", &o.tmp_path))?;
        }
        o.off += data.len() as u64;
        o.cursor = o.off;
        return Ok(());
    }
    let n = data.len();
    let mut pos = 0;
    while pos < n {
        let run_start = pos;
        while pos < n && !is_zero(&data[pos..(pos + BLOCK).min(n)]) {
            pos = (pos + BLOCK).min(n);
        }
        if pos > run_start {
            let at = o.off + run_start as u64;
            if o.cursor != at {
                o.file
                    .seek(SeekFrom::Start(at))
                    .map_err(io_err("write", &o.tmp_path))?;
            }
            o.file
                .write_all(&data[run_start..pos])
                .map_err(io_err("write", &o.tmp_path))?;
            o.cursor = o.off + pos as u64;
        }
        while pos < n && is_zero(&data[pos..(pos + BLOCK).min(n)]) {
            pos = (pos + BLOCK).min(n);
        }
    }
    o.off += n as u64;
    Ok(())
}

/// The finishing thread: hash, check, set metadata, rename into place.
fn finish_files(rx: Receiver<ToFinisher>, shared: &Shared, as_root: bool) {
    let mut hasher = ContentHasher::new(false);
    for msg in rx {
        let w = match msg {
            ToFinisher::Begin(sparse) => {
                hasher = ContentHasher::new(sparse);
                continue;
            }
            ToFinisher::Data(buf, n) => {
                hasher.update(&buf[..n]);
                let _ = shared.recycle.try_send(buf);
                continue;
            }
            ToFinisher::Hole(n) => {
                hasher.zeros(n);
                continue;
            }
            ToFinisher::Whole(buf, n, w) => {
                hasher.update(&buf[..n]);
                let _ = shared.recycle.try_send(buf);
                w
            }
            ToFinisher::End(w) => w,
        };
        let digest = std::mem::replace(&mut hasher, ContentHasher::new(false)).finish();
        if shared.stopped() {
            w.remove();
            continue;
        }
        if let Err(e) = finish_file(&w, Some(&digest), as_root, &shared.skipped) {
            w.remove();
            shared.fail(e);
        }
    }
}

/// Check a written file against its index entry, set its metadata and
/// rename it into place.
fn finish_file(w: &Written, sha256: Option<&str>, as_root: bool, skipped: &Skipped) -> Result<()> {
    let idx = &w.idx;
    if sha256.is_some() && sha256 != idx.sha256.as_deref() {
        return Err(Error::integrity(format!(
            "content of {} does not match its SHA-256 in the file index",
            show(&idx.path)
        ))
        .hint("the archive is damaged; verify it and use another backup"));
    }
    if as_root {
        chown_fd(&w.file, idx.uid, idx.gid);
    }
    // After chown, which clears setuid/setgid (the extractor has already
    // taken them out of `idx.mode` where they are not to be restored).
    w.file
        .set_permissions(Permissions::from_mode(idx.mode & 0o7777))
        .map_err(|e| Error::io("set mode of", &w.tmp_path(), e))?;
    // After chown (it clears security.capability) and chmod (an access
    // ACL carries the group bits).
    xattrs::set(xattrs::Target::Fd(&w.file), &w.xattrs, skipped);
    filetime::set_file_handle_times(&w.file, None, Some(file_time(idx.mtime_ns)))
        .map_err(|e| Error::io("set mtime of", &w.tmp_path(), e))?;
    if w.direct() {
        return Ok(());
    }
    rename_at(&w.at.dir, &w.tmp, &w.at.name).map_err(io_err("move into place", &w.at.target))
}

/// True when every byte is zero (written to vectorise: no early exit).
fn is_zero(block: &[u8]) -> bool {
    block.iter().fold(0u8, |acc, b| acc | b) == 0
}
