//! Backup: the walk written as a PAX tar plus the file index, full or
//! incremental.
//!
//! Each file is read once: its bytes go to the tar and through SHA-256 in
//! the same pass, in bounded chunks. The tar header is written before the
//! content, so a file that shrinks or grows while it is read is padded or
//! cut to the declared size (the tar stays valid) and reported.

use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use sha2::{Digest, Sha256};
use tar::{Builder, EntryType, Header};

use super::content_hash::ContentHasher;
use super::prefetch::ContentPrefetch;
use super::sparse::{data_regions, sparse_map};
use super::walk::{short_io, WalkItem, Walker};
use super::xattrs::{self, Xattr};
use super::{path_cmp, EntryKind, ExtraEntry, IndexEntry, IndexWriter, WalkSpec};
use crate::archive::manifest::FileStats;
use crate::error::{Error, Result};

/// Check the cancel flag every this many content bytes.
const CANCEL_EVERY: u64 = 4 << 20;
/// Call progress at least every this many content bytes within a file.
const PROGRESS_EVERY: u64 = 1 << 20;
/// How far the walk runs ahead of the reader, so the files coming up can
/// be read into the page cache in parallel: at most this many entries...
const AHEAD_ITEMS: usize = 512;
/// ...and this many bytes of files to read.
const AHEAD_BYTES: u64 = 64 << 20;
/// Threads issuing read-ahead hints (each hint may wait for an inode read).
const PREFETCH_THREADS: usize = 2;

/// How [`backup_tree_with`] reads the tree.
#[derive(Debug, Clone, Copy, Default)]
pub struct BackupOptions {
    /// Read ahead only files whose ctime is at or after this (ns since the
    /// epoch): in an incremental, the parent's start, so the unchanged files
    /// it will not read are not fetched either. None reads ahead every file.
    pub read_ahead_since: Option<i64>,
    /// Do not read ahead at all.
    pub no_read_ahead: bool,
}

/// The walk, run ahead of the reader by a bounded window; files entering
/// the window are handed to the prefetcher.
struct Lookahead<'a> {
    walker: Walker<'a>,
    queue: VecDeque<(WalkItem<'a>, u64)>,
    queued_bytes: u64,
    prefetch: Option<ContentPrefetch>,
    since: Option<i64>,
    done: bool,
}

impl<'a> Lookahead<'a> {
    fn new(walker: Walker<'a>, opts: BackupOptions) -> Self {
        Lookahead {
            walker,
            queue: VecDeque::new(),
            queued_bytes: 0,
            prefetch: (!opts.no_read_ahead)
                .then(|| ContentPrefetch::new(PREFETCH_THREADS, AHEAD_ITEMS)),
            since: opts.read_ahead_since,
            done: false,
        }
    }

    fn next(&mut self) -> Option<WalkItem<'a>> {
        while !self.done && self.queue.len() < AHEAD_ITEMS && self.queued_bytes < AHEAD_BYTES {
            let Some(item) = self.walker.next() else {
                self.done = true;
                break;
            };
            let mut ahead = 0;
            if let (Some(prefetch), EntryKind::File, Some(m)) =
                (&self.prefetch, item.kind, &item.meta)
            {
                if self
                    .since
                    .is_none_or(|t| ns(m.ctime(), m.ctime_nsec()) >= t)
                    && m.len() > 0
                {
                    prefetch.hint(item.abs.clone());
                    ahead = m.len();
                }
            }
            self.queued_bytes += ahead;
            self.queue.push_back((item, ahead));
        }
        let (item, ahead) = self.queue.pop_front()?;
        self.queued_bytes -= ahead;
        Some(item)
    }
}

/// What a backup found and stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupOutcome {
    pub stats: FileStats,
    /// Problems that did not stop the backup (unreadable or changing files).
    pub warnings: Vec<String>,
}

/// Quick stat-only walk, for a progress total: (bytes of regular files,
/// entries). It counts what [`backup_tree`] reports as done: every entry
/// it indexes (directories, symlinks and FIFOs as well as files), and the
/// size of every file whether it is read, unchanged since the parent or
/// another name of an inode already stored.
pub fn scan_totals(spec: &WalkSpec, stop: &std::sync::atomic::AtomicBool) -> Result<(u64, u64)> {
    let mut bytes = 0;
    let mut entries = 0;
    for it in Walker::new(spec)? {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(crate::error::Error::cancelled(
                "the count is no longer needed",
            ));
        }
        if it.kind == EntryKind::Deleted {
            continue;
        }
        entries += 1;
        if it.kind == EntryKind::File {
            bytes += match (&it.meta, it.extra) {
                (Some(m), _) => m.len(),
                (None, Some(x)) => x.data.len() as u64,
                _ => 0,
            };
        }
    }
    Ok((bytes, entries))
}

fn ns(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}

fn entry_from_meta(archive: Vec<u8>, kind: EntryKind, m: &Metadata) -> IndexEntry {
    IndexEntry {
        path: archive,
        kind,
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
        size: if kind == EntryKind::File { m.len() } else { 0 },
        mtime_ns: ns(m.mtime(), m.mtime_nsec()),
        ctime_ns: ns(m.ctime(), m.ctime_nsec()),
        ino: m.ino(),
        dev: m.dev(),
        link_target: None,
        sha256: None,
        xattr_sha256: None,
        stored: true,
        hard_link: None,
        nlink: if kind == EntryKind::File && m.nlink() > 1 {
            m.nlink()
        } else {
            0
        },
        sparse: false,
        sparse_data: 0,
    }
}

/// The parent's index, advanced in step with the walk.
struct ParentCursor<'p> {
    it: Option<&'p mut dyn Iterator<Item = Result<IndexEntry>>>,
    peeked: Option<IndexEntry>,
}

impl ParentCursor<'_> {
    fn peek(&mut self) -> Result<Option<&IndexEntry>> {
        if self.peeked.is_none() {
            if let Some(it) = self.it.as_mut() {
                self.peeked = it.next().transpose()?;
            }
        }
        Ok(self.peeked.as_ref())
    }

    /// Emit deletions for parent paths before `path`; return the parent's
    /// entry for `path` itself if it has one.
    fn advance_to<I: Write>(
        &mut self,
        path: &[u8],
        index: &mut IndexWriter<I>,
        stats: &mut FileStats,
    ) -> Result<Option<IndexEntry>> {
        loop {
            let ord = match self.peek()? {
                None => return Ok(None),
                Some(p) => path_cmp(&p.path, path),
            };
            match ord {
                Ordering::Greater => return Ok(None),
                Ordering::Equal => return Ok(self.peeked.take()),
                Ordering::Less => {
                    let p = self.peeked.take().expect("peeked");
                    if p.kind != EntryKind::Deleted {
                        index.write(&IndexEntry::deleted(p.path))?;
                        stats.deleted += 1;
                    }
                }
            }
        }
    }
}

/// Counts, hashes and cancel checks shared by every file of one backup.
struct Progress<'a> {
    bytes: u64,
    items: u64,
    last_report: u64,
    last_cancel_check: u64,
    report: &'a dyn Fn(u64, u64),
    cancel: &'a AtomicBool,
}

impl Progress<'_> {
    fn check_cancel(&self) -> Result<()> {
        if self.cancel.load(AtomicOrdering::Relaxed) {
            return Err(Error::cancelled("filesystem backup cancelled"));
        }
        Ok(())
    }
}

/// Yields exactly `size` bytes of a file: zeros past an early end, nothing
/// past the declared size; hashes what it yields.
struct ExactReader<'a, 'b> {
    file: &'a mut File,
    remaining: u64,
    hasher: ContentHasher,
    short: bool,
    read_error: Option<io::Error>,
    progress: &'a mut Progress<'b>,
    cancelled: bool,
}

impl Read for ExactReader<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.remaining.min(1 << 20) as usize);
        let n = if self.short || self.read_error.is_some() {
            buf[..want].fill(0);
            want
        } else {
            match self.file.read(&mut buf[..want]) {
                Ok(0) => {
                    self.short = true;
                    buf[..want].fill(0);
                    want
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    return Ok(0).and(self.read(buf))
                }
                Err(e) => {
                    self.read_error = Some(e);
                    buf[..want].fill(0);
                    want
                }
            }
        };
        self.hasher.update(&buf[..n]);
        self.remaining -= n as u64;
        let p = &mut *self.progress;
        p.bytes += n as u64;
        if p.bytes - p.last_cancel_check >= CANCEL_EVERY {
            p.last_cancel_check = p.bytes;
            if p.cancel.load(AtomicOrdering::Relaxed) {
                self.cancelled = true;
                return Err(io::Error::other("cancelled"));
            }
        }
        if p.bytes - p.last_report >= PROGRESS_EVERY {
            p.last_report = p.bytes;
            (p.report)(p.bytes, p.items);
        }
        Ok(n)
    }
}

/// A sparse file's member content: the map, then each data region read
/// at its offset; the hash covers the whole logical content, holes as
/// zeros, so it is the same SHA-256 a dense read gives.
struct SparseReader<'a, 'b> {
    map: io::Cursor<Vec<u8>>,
    regions: VecDeque<(u64, u64)>,
    /// Logical offset hashed so far.
    pos: u64,
    size: u64,
    inner: ExactReader<'a, 'b>,
}

impl Read for SparseReader<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if (self.map.position() as usize) < self.map.get_ref().len() {
            return self.map.read(buf);
        }
        loop {
            if self.inner.remaining > 0 {
                return self.inner.read(buf);
            }
            let Some((off, len)) = self.regions.pop_front() else {
                self.inner.hasher.zeros(self.size - self.pos);
                self.pos = self.size;
                return Ok(0);
            };
            self.inner.hasher.zeros(off - self.pos);
            if !self.inner.short && self.inner.read_error.is_none() {
                if let Err(e) = self.inner.file.seek(SeekFrom::Start(off)) {
                    self.inner.read_error = Some(e);
                }
            }
            self.inner.remaining = len;
            self.pos = off + len;
        }
    }
}

/// One PAX record: "LEN key=value\n", LEN counting itself. Written here,
/// not with `tar::Builder::append_pax_extensions`, because that takes keys
/// as `&str`, and an extended attribute's key (`SCHILY.xattr.NAME`) is
/// bytes that need not be UTF-8; and the records' order matters (see
/// `xattrs::pax_records`).
pub(super) fn pax_record(out: &mut Vec<u8>, key: impl AsRef<[u8]>, value: &[u8]) {
    let key = key.as_ref();
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn pax_time(t_ns: i64) -> Vec<u8> {
    let sign = if t_ns < 0 { "-" } else { "" };
    let a = t_ns.unsigned_abs();
    format!("{sign}{}.{:09}", a / 1_000_000_000, a % 1_000_000_000).into_bytes()
}

/// Fit `name` in ustar name/prefix fields; false when PAX `path` is needed.
fn set_ustar_name(h: &mut Header, name: &[u8]) -> bool {
    let u = h.as_ustar_mut().expect("ustar header");
    let plain = name.iter().all(|c| c.is_ascii_graphic() || *c == b' ');
    if plain && name.len() <= 100 {
        u.name[..name.len()].copy_from_slice(name);
        return true;
    }
    if plain && name.len() <= 256 {
        // Split at a '/' so that prefix <= 155 and name <= 100.
        for (i, c) in name.iter().enumerate() {
            if *c == b'/' && i <= 155 && name.len() - i - 1 <= 100 && name.len() - i > 1 {
                u.prefix[..i].copy_from_slice(&name[..i]);
                u.name[..name.len() - i - 1].copy_from_slice(&name[i + 1..]);
                return true;
            }
        }
    }
    // Placeholder for readers without PAX; the PAX path overrides it.
    let n = name.len().min(99);
    u.name[..n].copy_from_slice(&name[..n]);
    false
}

/// What a member carries besides its header.
#[derive(Clone, Copy)]
enum Body<'a> {
    /// The entry's content (none for directories, symlinks, FIFOs).
    Content,
    /// A hard-link member (type `1`, no content) naming an earlier member
    /// of the same archive, as GNU tar writes one.
    HardLink(&'a [u8]),
    /// A sparse file in GNU tar's PAX format 1.0: this many bytes of map
    /// and data regions (see `sparse_map`).
    Sparse(u64),
}

/// Write one PAX-extended ustar entry.
fn append_entry<W: Write, R: Read>(
    b: &mut Builder<W>,
    e: &IndexEntry,
    mode: u32,
    xattrs: &[Xattr],
    data: R,
    body: Body<'_>,
) -> io::Result<()> {
    let hard_link = match body {
        Body::HardLink(t) => Some(t),
        _ => None,
    };
    let mut h = Header::new_ustar();
    let mut pax = Vec::new();
    let mut name = e.path.clone();
    if let Body::Sparse(_) = body {
        // The member's own name is a placeholder, so a reader without
        // sparse support extracts the map and data beside the file rather
        // than as it; GNU.sparse.name is the real one.
        pax_record(&mut pax, "GNU.sparse.major", b"1");
        pax_record(&mut pax, "GNU.sparse.minor", b"0");
        pax_record(&mut pax, "GNU.sparse.name", &name);
        pax_record(
            &mut pax,
            "GNU.sparse.realsize",
            e.size.to_string().as_bytes(),
        );
        let (dir, base) = match name.iter().rposition(|c| *c == b'/') {
            Some(i) => (&name[..=i], &name[i + 1..]),
            None => (&b""[..], &name[..]),
        };
        let mut placeholder = dir.to_vec();
        placeholder.extend_from_slice(b"GNUSparseFile.0/");
        placeholder.extend_from_slice(base);
        name = placeholder;
    }
    h.set_entry_type(match e.kind {
        EntryKind::Dir => {
            name.push(b'/');
            EntryType::Directory
        }
        EntryKind::Symlink => EntryType::Symlink,
        EntryKind::Fifo => EntryType::Fifo,
        _ if hard_link.is_some() => EntryType::Link,
        _ => EntryType::Regular,
    });
    if !set_ustar_name(&mut h, &name) {
        pax_record(&mut pax, "path", &name);
    }
    if let Some(target) = hard_link.or(e.link_target.as_deref()) {
        let plain = target.iter().all(|c| c.is_ascii_graphic() || *c == b' ');
        if plain && target.len() <= 100 {
            h.as_ustar_mut().expect("ustar").linkname[..target.len()].copy_from_slice(target);
        } else {
            pax_record(&mut pax, "linkpath", target);
        }
    }
    h.set_mode(mode);
    for (key, id) in [("uid", e.uid), ("gid", e.gid)] {
        if u64::from(id) > 0o7777777 {
            pax_record(&mut pax, key, id.to_string().as_bytes());
        }
    }
    h.set_uid(u64::from(e.uid).min(0o7777777));
    h.set_gid(u64::from(e.gid).min(0o7777777));
    h.set_mtime(e.mtime_ns.max(0) as u64 / 1_000_000_000);
    if e.mtime_ns < 0 || e.mtime_ns % 1_000_000_000 != 0 {
        pax_record(&mut pax, "mtime", &pax_time(e.mtime_ns));
    }
    let size = match body {
        Body::Content => e.size,
        Body::HardLink(_) => 0,
        Body::Sparse(n) => n,
    };
    if size > 0o77777777777 {
        pax_record(&mut pax, "size", size.to_string().as_bytes());
    }
    h.set_size(size);
    h.set_cksum();
    // Last: see `xattrs::pax_records`.
    xattrs::pax_records(&mut pax, xattrs, |out, k, v| pax_record(out, k, v));
    if !pax.is_empty() {
        let mut ph = Header::new_ustar();
        ph.set_entry_type(EntryType::XHeader);
        let pname = b"PaxHeaders.0/entry";
        ph.as_ustar_mut().expect("ustar").name[..pname.len()].copy_from_slice(pname);
        ph.set_mode(0o644);
        ph.set_size(pax.len() as u64);
        ph.set_cksum();
        b.append(&ph, &pax[..])?;
    }
    b.append(&h, data)
}

/// An entry's extended attributes; on failure a warning, and none (the
/// entry is still backed up).
fn read_xattrs(src: xattrs::Source<'_>, path: &Path, warnings: &mut Vec<String>) -> Vec<Xattr> {
    xattrs::read(src).unwrap_or_else(|err| {
        warnings.push(format!(
            "cannot read the extended attributes of {} (backed up without them): {}",
            path.display(),
            short_io(&err)
        ));
        Vec::new()
    })
}

fn tar_err(path: &Path, e: io::Error) -> Error {
    Error::io("write archive entry for", path, e)
}

/// Back up `spec` as a tar to `tar_out` and a file index to `index_out`.
///
/// With `parent` (the parent backup's index, in order) this is an
/// incremental: files whose kind, size, mtime, ctime, inode and mode match
/// are indexed with `stored: false` and the parent's hash, and paths gone
/// since the parent get a `Deleted` entry. `progress` gets cumulative
/// (file bytes, entries indexed) per entry and about every MiB read: the
/// same things [`scan_totals`] counts, deletions left out.
pub fn backup_tree<T: Write, I: Write>(
    spec: &WalkSpec,
    parent: Option<&mut dyn Iterator<Item = Result<IndexEntry>>>,
    tar_out: T,
    index_out: I,
    progress: &dyn Fn(u64, u64),
    cancel: &AtomicBool,
) -> Result<(BackupOutcome, T, I)> {
    backup_tree_with(
        spec,
        parent,
        tar_out,
        index_out,
        progress,
        cancel,
        BackupOptions::default(),
    )
}

/// [`backup_tree`] with options.
pub fn backup_tree_with<T: Write, I: Write>(
    spec: &WalkSpec,
    parent: Option<&mut dyn Iterator<Item = Result<IndexEntry>>>,
    tar_out: T,
    index_out: I,
    progress: &dyn Fn(u64, u64),
    cancel: &AtomicBool,
    opts: BackupOptions,
) -> Result<(BackupOutcome, T, I)> {
    let mut walk = Lookahead::new(Walker::new(spec)?, opts);
    let mut parent = ParentCursor {
        it: parent,
        peeked: None,
    };
    let mut builder = Builder::new(tar_out);
    let mut index = IndexWriter::new(index_out);
    let mut stats = FileStats::default();
    let mut warnings = Vec::new();
    let mut groups = HashMap::new();
    let mut prog = Progress {
        bytes: 0,
        items: 0,
        last_report: 0,
        last_cancel_check: 0,
        report: progress,
        cancel,
    };
    let euid = unsafe { libc::geteuid() };
    let egid = unsafe { libc::getegid() };
    let now_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);

    while let Some(item) = walk.next() {
        prog.check_cancel()?;
        let prev = parent.advance_to(&item.archive, &mut index, &mut stats)?;
        let written = match item.kind {
            EntryKind::File => backup_file(
                &item,
                prev,
                &mut builder,
                &mut prog,
                &mut stats,
                &mut warnings,
                &mut groups,
                (euid, egid, now_ns),
            )?,
            EntryKind::Dir | EntryKind::Symlink | EntryKind::Fifo => {
                let meta = item.meta.as_ref().expect("walked entries have metadata");
                let mut e = entry_from_meta(item.archive.clone(), item.kind, meta);
                if item.kind == EntryKind::Symlink {
                    match fs::read_link(&item.abs) {
                        Ok(t) => e.link_target = Some(t.as_os_str().as_bytes().to_vec()),
                        Err(err) => {
                            warnings.push(format!(
                                "cannot read {}: {}",
                                item.abs.display(),
                                short_io(&err)
                            ));
                            continue;
                        }
                    }
                    stats.symlinks += 1;
                } else if item.kind == EntryKind::Dir {
                    stats.dirs += 1;
                }
                let xa = read_xattrs(xattrs::Source::Path(&item.abs), &item.abs, &mut warnings);
                e.xattr_sha256 = xattrs::digest(&xa);
                // A directory's attributes are set from the last link's
                // tar (after all its children, so a default ACL is not
                // inherited by them): one that has any is stored again.
                let carries_xattrs = item.kind == EntryKind::Dir && !xa.is_empty();
                if !carries_xattrs && prev.as_ref().is_some_and(|p| unchanged_node(p, &e)) {
                    // The parent's copy stands: a chain restore made it,
                    // and takes its metadata from this index.
                    e.stored = false;
                    stats.unchanged += 1;
                } else {
                    append_entry(&mut builder, &e, e.mode, &xa, io::empty(), Body::Content)
                        .map_err(|err| tar_err(&item.abs, err))?;
                    stats.stored += 1;
                }
                Some(e)
            }
            EntryKind::Deleted => None,
        };
        if let Some(e) = written {
            index.write(&e)?;
            prog.items += 1;
            // An unchanged file and another name of a stored inode are
            // not read, but they are as done as a file that is: the total
            // counts their size (`scan_totals`), so done does too.
            prog.bytes = prog.bytes.max(stats.bytes);
            (prog.report)(prog.bytes, prog.items);
        }
    }
    drop(walk.prefetch.take());
    warnings.splice(0..0, walk.walker.warnings.drain(..));
    // Whatever is left of the parent is gone now.
    while let Some(p) = parent.peek()? {
        let p = p.clone();
        parent.peeked = None;
        if p.kind != EntryKind::Deleted {
            index.write(&IndexEntry::deleted(p.path))?;
            stats.deleted += 1;
        }
    }
    let tar_out = builder
        .into_inner()
        .map_err(|e| Error::io("finish archive", Path::new("<stream>"), e))?;
    let index_out = index.finish()?;
    Ok((BackupOutcome { stats, warnings }, tar_out, index_out))
}

fn unchanged(prev: &IndexEntry, now: &IndexEntry) -> bool {
    prev.kind == EntryKind::File
        && prev.sha256.is_some()
        && prev.size == now.size
        && prev.mtime_ns == now.mtime_ns
        && prev.ctime_ns == now.ctime_ns
        && prev.ino == now.ino
        && prev.mode == now.mode
}

/// A directory, symlink or FIFO the parent backup already holds as it is
/// now: same inode, kind, owner, mode, times (ctime moves with any metadata
/// change, xattrs included), attributes and link target.
fn unchanged_node(prev: &IndexEntry, now: &IndexEntry) -> bool {
    prev.kind == now.kind
        && prev.ino == now.ino
        && prev.mode == now.mode
        && prev.uid == now.uid
        && prev.gid == now.gid
        && prev.mtime_ns == now.mtime_ns
        && prev.ctime_ns == now.ctime_ns
        && prev.link_target == now.link_target
        && prev.xattr_sha256 == now.xattr_sha256
}

/// The name of a link group whose content an archive stores, with what
/// its link members' index entries copy (one inode, one content).
#[derive(Clone)]
struct StoredName {
    path: Vec<u8>,
    sha256: Option<String>,
    sparse: bool,
    xattr_sha256: Option<String>,
}

/// The names of one inode with more than one, as the walk meets them.
struct LinkGroup {
    /// The first name in walk order: what the index's `hard_link` names.
    first: Vec<u8>,
    /// The first name whose content this archive stores, and its SHA-256:
    /// later stored names are hard-link members naming it. In an
    /// incremental that can be a later name than `first` (the first one
    /// unchanged and so not stored here).
    /// Whether its digest is in the sparse form, and its attributes'
    /// digest, go with it.
    stored: Option<StoredName>,
}

/// Where one name of a regular file stands among its inode's names, as
/// the walk saw it. Only inodes with several names are remembered in the
/// backup's groups, so memory follows the number of hard-linked files,
/// not the tree.
struct InodeName {
    /// (device, inode) from the walk's stat: the group's key.
    key: (u64, u64),
    /// This name would be its group's first. It becomes that only once it
    /// is in the index (an unreadable one is left out, and nothing may
    /// name it): see [`InodeName::enter_first`].
    first: bool,
}

impl InodeName {
    /// Place `e` (made from the walk's `walked` stat) among its inode's
    /// names: when an earlier name of the inode is already indexed, `e`
    /// records it as its `hard_link`.
    fn find(
        walked: &Metadata,
        e: &mut IndexEntry,
        groups: &HashMap<(u64, u64), LinkGroup>,
    ) -> Self {
        let key = (walked.dev(), walked.ino());
        let first = e.nlink > 1 && !groups.contains_key(&key);
        if let Some(g) = groups.get(&key).filter(|_| e.nlink > 1) {
            e.hard_link = Some(g.first.clone());
        }
        InodeName { key, first }
    }

    /// Once `e` is going into the index: if this is the first name of its
    /// inode, start the group with it.
    fn enter_first(&self, groups: &mut HashMap<(u64, u64), LinkGroup>, e: &IndexEntry) {
        if self.first {
            groups.insert(
                self.key,
                LinkGroup {
                    first: e.path.clone(),
                    stored: None,
                },
            );
        }
    }

    /// The name this archive already stores the inode's content under,
    /// when `e` is another name of it: `e` is then a link member.
    fn stored_member(
        &self,
        groups: &HashMap<(u64, u64), LinkGroup>,
        e: &IndexEntry,
    ) -> Option<StoredName> {
        groups
            .get(&self.key)
            .filter(|_| e.hard_link.is_some())
            .and_then(|g| g.stored.clone())
    }

    /// Once `e`'s content is stored: the first such name of its group is
    /// the one later link members name. Only a name the index records
    /// with its link count can be named by a link member (a restore
    /// checks that).
    fn note_stored(&self, groups: &mut HashMap<(u64, u64), LinkGroup>, e: &IndexEntry) {
        if let Some(g) = groups
            .get_mut(&self.key)
            .filter(|g| g.stored.is_none() && e.nlink > 1)
        {
            g.stored = Some(StoredName {
                path: e.path.clone(),
                sha256: e.sha256.clone(),
                sparse: e.sparse,
                xattr_sha256: e.xattr_sha256.clone(),
            });
        }
    }
}

/// Store (or, when unchanged, just index) one regular file. None when it
/// could not be read at all (warned, left out of the index).
///
/// An extra entry is stored from the bytes the caller gave. A walked file
/// is first placed among its inode's names; then, in this order, a file
/// unchanged since the parent is only indexed, another name of an inode
/// this archive already holds becomes a hard-link member, and anything
/// else is opened and its content read into the tar.
#[allow(clippy::too_many_arguments)]
fn backup_file<W: Write>(
    item: &WalkItem<'_>,
    prev: Option<IndexEntry>,
    builder: &mut Builder<W>,
    prog: &mut Progress<'_>,
    stats: &mut FileStats,
    warnings: &mut Vec<String>,
    groups: &mut HashMap<(u64, u64), LinkGroup>,
    owner_and_now: (u32, u32, i64),
) -> Result<Option<IndexEntry>> {
    if let Some(x) = item.extra {
        return backup_extra(&item.abs, x, builder, prog, stats, owner_and_now).map(Some);
    }
    let walked = item.meta.as_ref().expect("walked entries have metadata");
    let mut e = entry_from_meta(item.archive.clone(), EntryKind::File, walked);
    let name = InodeName::find(walked, &mut e, groups);
    if let Some(p) = prev.as_ref().filter(|p| unchanged(p, &e)) {
        name.enter_first(groups, &e);
        index_unchanged(&mut e, p, stats);
        return Ok(Some(e));
    }
    if let Some(stored) = name.stored_member(groups, &e) {
        append_link_member(builder, &mut e, stored, &item.abs, stats)?;
        return Ok(Some(e));
    }
    let Some(mut file) = OpenFile::open(&item.abs, warnings) else {
        return Ok(None);
    };
    let hard_link = e.hard_link.take();
    let (mut e, xa) = file.entry(&item.archive, hard_link, warnings);
    let regions = file.regions(&mut e);
    let ContentRead {
        sha256,
        short,
        read_error,
    } = file.append(builder, &e, &xa, regions, prog)?;
    e.sha256 = Some(sha256);
    name.enter_first(groups, &e);
    name.note_stored(groups, &e);
    file.warn_if_changed(&e, short, read_error, warnings);
    stats.files += 1;
    stats.bytes += e.size;
    stats.stored += 1;
    Ok(Some(e))
}

/// Store an extra entry: content the caller gives rather than the tree
/// (`x`), owned by this process's user and group and dated `now_ns`.
fn backup_extra<W: Write>(
    abs: &Path,
    x: &ExtraEntry,
    builder: &mut Builder<W>,
    prog: &mut Progress<'_>,
    stats: &mut FileStats,
    (euid, egid, now_ns): (u32, u32, i64),
) -> Result<IndexEntry> {
    let e = IndexEntry {
        path: x.path.clone(),
        kind: EntryKind::File,
        mode: x.mode & 0o1777,
        uid: euid,
        gid: egid,
        size: x.data.len() as u64,
        mtime_ns: now_ns,
        ctime_ns: now_ns,
        ino: 0,
        dev: 0,
        link_target: None,
        sha256: Some(hex::encode(Sha256::digest(&x.data))),
        xattr_sha256: None,
        stored: true,
        hard_link: None,
        nlink: 0,
        sparse: false,
        sparse_data: 0,
    };
    append_entry(builder, &e, e.mode, &[], &x.data[..], Body::Content)
        .map_err(|err| tar_err(abs, err))?;
    prog.bytes += e.size;
    stats.files += 1;
    stats.bytes += e.size;
    stats.stored += 1;
    Ok(e)
}

/// Index a file the parent backup holds as it is now (`p`), without
/// reading it: its hash, sparse form and attributes are the parent's.
fn index_unchanged(e: &mut IndexEntry, p: &IndexEntry, stats: &mut FileStats) {
    e.sparse = p.sparse;
    e.sparse_data = p.sparse_data;
    e.sha256 = p.sha256.clone();
    // Any change to them changes the ctime, so they are the parent's.
    e.xattr_sha256 = p.xattr_sha256.clone();
    e.stored = false;
    stats.files += 1;
    stats.bytes += e.size;
    stats.unchanged += 1;
}

/// Another name of an inode this archive already holds (as `stored`): a
/// link member, no content.
fn append_link_member<W: Write>(
    builder: &mut Builder<W>,
    e: &mut IndexEntry,
    stored: StoredName,
    abs: &Path,
    stats: &mut FileStats,
) -> Result<()> {
    let StoredName {
        path: stored_as,
        sha256,
        sparse,
        xattr_sha256,
    } = stored;
    e.sha256 = sha256;
    e.sparse = sparse;
    // One inode: the member's attributes are its first name's (the
    // member itself carries none).
    e.xattr_sha256 = xattr_sha256;
    append_entry(
        builder,
        e,
        e.mode,
        &[],
        io::empty(),
        Body::HardLink(&stored_as),
    )
    .map_err(|err| tar_err(abs, err))?;
    stats.files += 1;
    stats.bytes += e.size;
    stats.stored += 1;
    Ok(())
}

/// A regular file opened to store its content, with what it was when
/// opened: its entry is made from this stat rather than the walk's, and
/// the same stat once it is read tells whether it changed meanwhile.
struct OpenFile<'i> {
    path: &'i Path,
    file: File,
    before: Metadata,
}

/// What reading a file's content into the tar found besides the bytes.
struct ContentRead {
    /// SHA-256 of the content stored (holes as zeros).
    sha256: String,
    /// The file ended before its declared size: zeros stored for the rest.
    short: bool,
    /// A read failed: zeros stored from there on.
    read_error: Option<io::Error>,
}

impl<'i> OpenFile<'i> {
    /// Open `path` without following a symlink or blocking on a FIFO put
    /// there since the walk, and stat it. None, with a warning, when it
    /// cannot be opened or stat'ed or is no longer a regular file.
    fn open(path: &'i Path, warnings: &mut Vec<String>) -> Option<Self> {
        let file = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
        {
            Ok(f) => f,
            Err(err) => {
                warnings.push(cannot_read(path, &err));
                return None;
            }
        };
        let before = match file.metadata() {
            Ok(m) if m.is_file() => m,
            Ok(_) => {
                warnings.push(format!(
                    "cannot read {}: it changed type during the backup",
                    path.display()
                ));
                return None;
            }
            Err(err) => {
                warnings.push(cannot_read(path, &err));
                return None;
            }
        };
        Some(OpenFile { path, file, before })
    }

    /// The file's index entry as opened, under `archive`, and its extended
    /// attributes (read from the open file). It keeps `hard_link`, the
    /// earlier name the walk found, only while the file still has other
    /// names.
    fn entry(
        &self,
        archive: &[u8],
        hard_link: Option<Vec<u8>>,
        warnings: &mut Vec<String>,
    ) -> (IndexEntry, Vec<Xattr>) {
        let mut e = entry_from_meta(archive.to_vec(), EntryKind::File, &self.before);
        let xa = read_xattrs(xattrs::Source::Fd(&self.file), self.path, warnings);
        e.xattr_sha256 = xattrs::digest(&xa);
        e.hard_link = hard_link;
        if e.nlink < 2 {
            // It lost its other names since the walk saw it.
            e.hard_link = None;
        }
        (e, xa)
    }

    /// The file's data regions when it has holes (None when it is dense
    /// or its map cannot be had), recorded in `e` as its sparse form.
    fn regions(&self, e: &mut IndexEntry) -> Option<Vec<(u64, u64)>> {
        // Only a file with fewer blocks than its size can have holes: the
        // map is looked for only then.
        let regions = if self.before.blocks().saturating_mul(512) < e.size {
            data_regions(&self.file, e.size)
        } else {
            None
        };
        e.sparse = regions.is_some();
        e.sparse_data = regions.as_ref().map_or(0, |r| r.iter().map(|r| r.1).sum());
        regions
    }

    /// Write the file's member for `e`: its content (or, with `regions`,
    /// its sparse map and data regions) read once, hashed on the way and
    /// cut or padded to the size in the header, counted in `prog` and
    /// cancelled through it.
    fn append<W: Write>(
        &mut self,
        builder: &mut Builder<W>,
        e: &IndexEntry,
        xa: &[Xattr],
        regions: Option<Vec<(u64, u64)>>,
        prog: &mut Progress<'_>,
    ) -> Result<ContentRead> {
        let mut reader = ExactReader {
            file: &mut self.file,
            remaining: if e.sparse { 0 } else { e.size },
            hasher: ContentHasher::new(e.sparse),
            short: false,
            read_error: None,
            progress: prog,
            cancelled: false,
        };
        // The tar writer copies with std's 8 KiB buffer unless the reader is
        // buffered: give it up to 1 MiB so a large file is read, hashed and
        // sealed in big pieces rather than 8 KiB syscalls.
        let cap = (e.size.min(1 << 20) as usize).max(8 << 10);
        let appended = match regions {
            None => append_entry(
                builder,
                e,
                e.mode,
                xa,
                io::BufReader::with_capacity(cap, &mut reader),
                Body::Content,
            ),
            Some(regions) => {
                let map = sparse_map(&regions, e.size);
                let len = map.len() as u64 + regions.iter().map(|r| r.1).sum::<u64>();
                let mut sparse = SparseReader {
                    map: io::Cursor::new(map),
                    regions: regions.into(),
                    pos: 0,
                    size: e.size,
                    inner: reader,
                };
                let res = append_entry(
                    builder,
                    e,
                    e.mode,
                    xa,
                    io::BufReader::with_capacity(cap, &mut sparse),
                    Body::Sparse(len),
                );
                reader = sparse.inner;
                res
            }
        };
        if let Err(err) = appended {
            if reader.cancelled {
                return Err(Error::cancelled("filesystem backup cancelled"));
            }
            return Err(tar_err(self.path, err));
        }
        let ExactReader {
            hasher,
            short,
            read_error,
            ..
        } = reader;
        Ok(ContentRead {
            sha256: hasher.finish(),
            short,
            read_error,
        })
    }

    /// Warn when the stored copy of `e` is not the file as it was: a read
    /// failed (zeros from there on), or the file ended early, has bytes
    /// past its declared size, or its size or mtime moved while it was
    /// read.
    fn warn_if_changed(
        &mut self,
        e: &IndexEntry,
        short: bool,
        read_error: Option<io::Error>,
        warnings: &mut Vec<String>,
    ) {
        if let Some(err) = read_error {
            warnings.push(format!(
                "{} (the stored copy is incomplete: zeros from the failure on)",
                cannot_read(self.path, &err)
            ));
        } else {
            if e.sparse {
                // Past the last region, where a grown file's new bytes are.
                let _ = self.file.seek(SeekFrom::Start(e.size));
            }
            let mut extra = [0u8; 1];
            let grew = matches!(self.file.read(&mut extra), Ok(n) if n > 0);
            let after = self.file.metadata().ok();
            let before = &self.before;
            let moved = after.is_none_or(|a| {
                a.len() != before.len()
                    || a.mtime() != before.mtime()
                    || a.mtime_nsec() != before.mtime_nsec()
            });
            if short || grew || moved {
                warnings.push(format!(
                    "file changed while it was read: {}",
                    self.path.display()
                ));
            }
        }
    }
}

/// The warning for a file that cannot be read, naming it and the cause.
fn cannot_read(path: &Path, err: &io::Error) -> String {
    format!("cannot read {}: {}", path.display(), short_io(err))
}
