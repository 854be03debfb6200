//! Restore: our own extraction loop, checked against the file index.
//!
//! Every tar entry must be the next stored entry of the index, so nothing
//! the backup did not record can be restored. Anything that could write
//! outside the destination is refused, not skipped: a restore that silently
//! drops files is worse than one that stops and says why.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use tar::EntryType;

use super::file_threads::{FileThreads, ToWriter};
use super::hard_links::{check_member, link_name, Relink};
use super::place::{
    check_name, cstr, entry_at, io_err, lstat_at, path_at, read_entry, refuse, rename_at,
    set_dir_meta, temp_name, times, unlink_at, At, Place, BUF,
};
use super::sparse::{read_sparse_map, sparse_member};
use super::xattrs::{self, Skipped, Xattr};
use super::{show, Dest, EntryKind, IndexEntry};
use crate::error::{Error, Result};

/// What a restore wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExtractOutcome {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// Paths removed because the backup recorded them as deleted.
    pub deleted: u64,
    /// What could not be given back as it was (extended attributes the
    /// target cannot hold, setuid/setgid bits not restored), one line per
    /// kind, with how many times it happened.
    pub warnings: std::collections::BTreeMap<String, u64>,
}

impl ExtractOutcome {
    /// Sum the outcomes of the links of a chain.
    pub fn add(&mut self, other: &ExtractOutcome) {
        self.files += other.files;
        self.dirs += other.dirs;
        self.symlinks += other.symlinks;
        self.bytes += other.bytes;
        self.deleted += other.deleted;
        for (w, n) in &other.warnings {
            *self.warnings.entry(w.clone()).or_default() += n;
        }
    }

    /// The warnings as report lines.
    pub fn warning_lines(&self) -> Vec<String> {
        self.warnings
            .iter()
            .map(|(w, n)| format!("warning: {w} ({n} time{})", if *n == 1 { "" } else { "s" }))
            .collect()
    }
}

struct Ctx<'a> {
    out: ExtractOutcome,
    items: u64,
    progress: &'a dyn Fn(u64, u64),
    cancel: &'a AtomicBool,
    as_root: bool,
    files: FileThreads,
    skipped: Skipped,
}

impl Ctx<'_> {
    fn check_cancel(&self) -> Result<()> {
        if self.cancel.load(AtomicOrdering::Relaxed) {
            return Err(Error::cancelled("filesystem restore cancelled"));
        }
        Ok(())
    }
}

/// Hand one file's content to the [`FileThreads`], which write it under a
/// temp name beside it, verify it, set its metadata and rename it into
/// place.
fn write_file<R: Read>(
    data: &mut R,
    at: At,
    idx: &IndexEntry,
    xattrs: Vec<Xattr>,
    ctx: &mut Ctx<'_>,
) -> Result<()> {
    let mut buf = ctx.files.buffer();
    if idx.size < BUF as u64 {
        // Small: the whole content in one read (the entry ends before the
        // buffer does) and one message.
        let n = read_entry(data, &mut buf, idx)?;
        check_size(n as u64, idx)?;
        ctx.out.bytes += n as u64;
        (ctx.progress)(ctx.out.bytes, ctx.items);
        return ctx.files.send(ToWriter::Whole {
            at,
            idx: idx.clone(),
            xattrs,
            buf,
            n,
        });
    }
    ctx.files.send(ToWriter::Open {
        at,
        idx: idx.clone(),
        xattrs,
    })?;
    let mut off = 0u64;
    loop {
        if buf.is_empty() {
            buf = ctx.files.buffer();
        }
        let n = read_entry(data, &mut buf, idx)?;
        if n == 0 {
            ctx.files.give_back(buf);
            break;
        }
        ctx.files
            .send(ToWriter::Data(std::mem::take(&mut buf), n))?;
        off += n as u64;
        ctx.out.bytes += n as u64;
        ctx.check_cancel()?;
        (ctx.progress)(ctx.out.bytes, ctx.items);
    }
    check_size(off, idx)?;
    ctx.files.send(ToWriter::Close)
}

/// Hand a sparse file's data regions to the [`FileThreads`] at their
/// offsets, holes between them: the file is written with its holes and
/// hashed as its whole logical content.
fn write_sparse<R: Read>(
    data: &mut R,
    at: At,
    idx: &IndexEntry,
    member: u64,
    xattrs: Vec<Xattr>,
    ctx: &mut Ctx<'_>,
) -> Result<()> {
    let regions = read_sparse_map(data, idx, member)?;
    ctx.files.send(ToWriter::Open {
        at,
        idx: idx.clone(),
        xattrs,
    })?;
    let mut pos = 0u64;
    for (off, len) in regions {
        if off > pos {
            ctx.files.send(ToWriter::Hole(off - pos))?;
        }
        let mut left = len;
        while left > 0 {
            let mut buf = ctx.files.buffer();
            let want = left.min(buf.len() as u64) as usize;
            let n = read_entry(data, &mut buf[..want], idx)?;
            if n == 0 {
                ctx.files.give_back(buf);
                return Err(Error::integrity(format!(
                    "archive entry {} ends inside its data regions",
                    show(&idx.path)
                )));
            }
            ctx.files.send(ToWriter::Data(buf, n))?;
            left -= n as u64;
            ctx.out.bytes += n as u64;
            ctx.check_cancel()?;
            (ctx.progress)(ctx.out.bytes, ctx.items);
        }
        pos = off + len;
    }
    if pos < idx.size {
        ctx.files.send(ToWriter::Hole(idx.size - pos))?;
    }
    ctx.files.send(ToWriter::Close)
}

fn check_size(got: u64, idx: &IndexEntry) -> Result<()> {
    if got != idx.size {
        return Err(Error::integrity(format!(
            "archive entry {} has {got} bytes but the file index says {}",
            show(&idx.path),
            idx.size
        )));
    }
    Ok(())
}

/// Create symlink `at` pointing at `link` (verbatim: the target is data,
/// never followed here) under a temp name, then rename it into place.
fn make_symlink(
    at: &At,
    link: &[u8],
    idx: &IndexEntry,
    as_root: bool,
    xa: (&[Xattr], &Skipped),
) -> Result<()> {
    let link = cstr(link).map_err(|_| refuse(&idx.path, "NUL byte in the symlink target"))?;
    make_special(at, idx, as_root, xa, "create symlink", |fd, tmp| unsafe {
        libc::symlinkat(link.as_ptr(), fd, tmp.as_ptr())
    })
}

/// Create FIFO `at` (mode and mtime from the index) under a temp name,
/// then rename it into place. Needs no privilege, unlike a device.
fn make_fifo(at: &At, idx: &IndexEntry, as_root: bool, xa: (&[Xattr], &Skipped)) -> Result<()> {
    let mode = (idx.mode & 0o1777) as libc::mode_t;
    make_special(at, idx, as_root, xa, "create FIFO", |fd, tmp| unsafe {
        if libc::mkfifoat(fd, tmp.as_ptr(), 0o600) != 0 {
            return -1;
        }
        // mkfifoat's mode is cut by the umask; set it whole. The name is
        // the FIFO just made, in a directory reached without links.
        libc::fchmodat(fd, tmp.as_ptr(), mode, 0)
    })
}

/// Make a symlink or FIFO under a temp name beside `at` with `create`
/// (a libc call relative to the directory's descriptor), set its owner
/// and mtime without following it, and its own attributes (`xa`), and
/// rename it into place.
fn make_special(
    at: &At,
    idx: &IndexEntry,
    as_root: bool,
    xa: (&[Xattr], &Skipped),
    what: &str,
    create: impl FnOnce(libc::c_int, &std::ffi::CStr) -> libc::c_int,
) -> Result<()> {
    let tmp = temp_name();
    let tmp_path = at.target.with_file_name(std::ffi::OsStr::from_bytes(&tmp));
    let tmp = cstr(&tmp).expect("temp names have no NUL");
    let fd = at.dir.as_raw_fd();
    if create(fd, &tmp) != 0 {
        let err = io::Error::last_os_error();
        let _ = unlink_at(&at.dir, &tmp);
        return Err(Error::io(what, &tmp_path, err));
    }
    let res = (|| {
        if as_root {
            // Only root can give files away; EPERM is ignored.
            unsafe {
                libc::fchownat(
                    fd,
                    tmp.as_ptr(),
                    idx.uid,
                    idx.gid,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            };
        }
        if !xa.0.is_empty() {
            // The link's own (trusted.*, security.*), never its target's.
            let own = path_at(&at.dir, tmp.as_bytes());
            xattrs::set(xattrs::Target::NoFollow(&own), xa.0, xa.1);
        }
        let t = times(idx.mtime_ns);
        if unsafe { libc::utimensat(fd, tmp.as_ptr(), t.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) } != 0
        {
            return Err(Error::io(
                "set mtime of",
                &tmp_path,
                io::Error::last_os_error(),
            ));
        }
        rename_at(&at.dir, &tmp, &at.name).map_err(io_err("move into place", &at.target))
    })();
    if res.is_err() {
        let _ = unlink_at(&at.dir, &tmp);
    }
    res
}

/// Make `at` a directory (mode 0700 until its children are written). A
/// symlink standing there is replaced, except in place where the host's own
/// link to a directory stands for it.
fn make_dir(place: &Place, path: &[u8], at: &At) -> Result<()> {
    let fd = at.dir.as_raw_fd();
    let mkdir = || {
        if unsafe { libc::mkdirat(fd, at.name.as_ptr(), 0o700) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    match mkdir() {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io("create directory", &at.target, e)),
    }
    let st = lstat_at(&at.dir, &at.name).map_err(io_err("inspect", &at.target))?;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => return Ok(()),
        libc::S_IFLNK if place.is_host_link(path) && is_dir_at(&at.dir, &at.name) => return Ok(()),
        _ => {}
    }
    unlink_at(&at.dir, &at.name).map_err(io_err("replace", &at.target))?;
    mkdir().map_err(io_err("create directory", &at.target))
}

/// Whether `name` in `dir` is a directory once symlinks are followed.
fn is_dir_at(dir: &std::os::fd::OwnedFd, name: &std::ffi::CStr) -> bool {
    let mut st = unsafe { std::mem::zeroed::<libc::stat>() };
    let ok = unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), &mut st, 0) } == 0;
    ok && st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// Entries must come in walk order ([`super::path_cmp`]), so everything
/// beneath a path directly follows it. A file or symlink followed by an
/// entry beneath it is refused here: otherwise the file, written on a
/// writer thread, and the directory this loop creates for the entry race
/// for the same path (found by `fuzz_extract_hostile_tar`), and the restore
/// ends in an I/O error or a half-replaced tree.
#[derive(Default)]
struct EntryOrder {
    last: Option<Vec<u8>>,
    /// The last entry placed, when it was not a directory.
    leaf: Option<Vec<u8>>,
}

impl EntryOrder {
    fn check(&self, path: &[u8]) -> Result<()> {
        if let Some(last) = &self.last {
            if super::path_cmp(last, path) != std::cmp::Ordering::Less {
                return Err(Error::integrity(format!(
                    "archive entry {} comes after {}, out of order",
                    show(path),
                    show(last)
                ))
                .hint(
                    "the archive is damaged or was not written by lifeboat; use another backup",
                ));
            }
        }
        if let Some(leaf) = &self.leaf {
            if path.len() > leaf.len() && path.starts_with(leaf) && path[leaf.len()] == b'/' {
                return Err(refuse(
                    path,
                    &format!(
                        "{} is a file or symlink in this archive, not a directory",
                        show(leaf)
                    ),
                ));
            }
        }
        Ok(())
    }

    fn placed(&mut self, path: &[u8], kind: EntryKind) {
        self.leaf = (kind != EntryKind::Dir).then(|| path.to_vec());
        self.last = Some(path.to_vec());
    }
}

/// The entry's PAX records lifeboat reads itself: `path`, `linkpath`,
/// extended attributes and the sparse map's records, parsed from the raw
/// extended header when it holds attributes, a sparse map or anything the
/// `tar` crate could not split (a value with a newline); otherwise nothing
/// (the crate's view of the header is right).
fn entry_pax<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    tap: &super::pax_tap::Tap,
) -> Result<xattrs::Pax> {
    let needed = match entry.pax_extensions() {
        Ok(None) => false,
        Ok(Some(exts)) => exts.into_iter().any(|x| {
            x.map_or(true, |x| {
                let k = x.key_bytes();
                k.starts_with(b"SCHILY.") || k.starts_with(b"GNU.sparse.")
            })
        }),
        Err(_) => true,
    };
    if !needed {
        return Ok(xattrs::Pax::default());
    }
    let shown = entry.path_bytes().into_owned();
    let bad = |why: String| refuse(&shown, &format!("its PAX extended header: {why}"));
    let raw = tap
        .pax_before(entry.raw_header_position())
        .map_err(|w| bad(w.to_string()))?
        .ok_or_else(|| bad("not found".into()))?;
    xattrs::parse_pax(&raw).map_err(bad)
}

/// Next stored index entry, collecting deletions and skipping unchanged
/// entries on the way. An unchanged file with another name goes to
/// `relink` (its names are made one inode again at the end); unchanged
/// directories go to `dirs` (when given): an earlier link of the chain
/// made them, and their metadata is set from this, the final index.
fn next_stored(
    index: &mut dyn Iterator<Item = Result<IndexEntry>>,
    deleted: &mut Vec<Vec<u8>>,
    relink: &mut Relink,
    mut dirs: Option<&mut Vec<(IndexEntry, Vec<Xattr>)>>,
) -> Result<Option<IndexEntry>> {
    for e in index {
        let e = e?;
        if e.kind == EntryKind::Deleted {
            deleted.push(e.path);
        } else if e.stored {
            return Ok(Some(e));
        } else if e.kind == EntryKind::File {
            relink.note(&e);
        } else if e.kind == EntryKind::Dir {
            check_name(&e.path)?;
            // Not carried: it has no attributes (see `tarball`).
            if let Some(d) = dirs.as_deref_mut() {
                d.push((e, Vec::new()));
            }
        }
    }
    Ok(None)
}

/// Restore a tar written by [`super::backup_tree`] to `dest`, checking it
/// entry by entry against its file index, then apply the index's deletions.
pub fn extract<R: Read>(
    tar_in: R,
    index: &mut dyn Iterator<Item = Result<IndexEntry>>,
    dest: &Dest,
    progress: &dyn Fn(u64, u64),
    cancel: &AtomicBool,
) -> Result<ExtractOutcome> {
    extract_with(
        tar_in,
        index,
        dest,
        progress,
        cancel,
        ExtractOptions::default(),
    )
}

/// How [`extract_with`] chooses what it writes.
#[derive(Debug, Clone, Copy)]
pub struct ExtractOptions<'a> {
    /// Files a later link of the chain stores again or deletes: their
    /// content here would only be overwritten, so it is not written.
    pub superseded: Option<&'a std::collections::HashSet<Vec<u8>>>,
    /// Check every file's SHA-256 against the index before it goes into
    /// place (default). Off only where the caller has authenticated every
    /// byte of the stream before it reaches the extractor.
    pub check_hashes: bool,
    /// Set each directory's owner, mode and mtime once its children are
    /// written (default). A chain restore leaves it to the last link, which
    /// stores every directory of the final tree again: earlier links would
    /// only set what the last one sets once more.
    pub dir_metadata: bool,
    /// The destination is a directory this restore created, removed whole
    /// if the restore fails: files are created under their own names
    /// (`O_CREAT|O_EXCL|O_NOFOLLOW`) instead of a temp name and a rename,
    /// as `tar -x` does. Anything already there still gets temp + rename.
    pub fresh_target: bool,
    /// In place, the symlinks earlier links of a chain created: like the
    /// ones this link creates, never followed and never standing for a
    /// directory. Updated with this link's own.
    pub links_made: Option<&'a RefCell<HashSet<Vec<u8>>>>,
    /// The backup's manifest was authenticated (a keyed repository, its
    /// MAC checked), so its index's modes are the ones the backup took:
    /// running as root, setuid and setgid bits are restored as `tar -p`
    /// does. Otherwise they are left out, with a warning.
    pub authenticated: bool,
    /// After the tar, make every file the index records as another name
    /// of an earlier file (`hard_link`) one inode with it again, also
    /// where this link of a chain stored its content separately or not at
    /// all (default). A chain restore leaves it to the last link, whose
    /// index describes the final tree.
    pub hard_links: bool,
}

impl Default for ExtractOptions<'_> {
    fn default() -> Self {
        ExtractOptions {
            superseded: None,
            check_hashes: true,
            dir_metadata: true,
            fresh_target: false,
            links_made: None,
            authenticated: false,
            hard_links: true,
        }
    }
}

/// [`extract`] with options.
pub fn extract_with<R: Read>(
    tar_in: R,
    index: &mut dyn Iterator<Item = Result<IndexEntry>>,
    dest: &Dest,
    progress: &dyn Fn(u64, u64),
    cancel: &AtomicBool,
    opts: ExtractOptions,
) -> Result<ExtractOutcome> {
    let mut run = Extraction::start(dest, progress, cancel, opts)?;
    // The tar reader is made after `run`, so it is dropped first: the
    // reader goes, then the file threads stop (on a failure removing the
    // files not yet in place), then the destination's directories close.
    let (tar_in, tap) = super::pax_tap::tap(tar_in);
    let mut archive = tar::Archive::new(tar_in);
    for entry in archive.entries().map_err(bad_tar)? {
        run.ctx.check_cancel()?;
        run.ctx.files.check()?;
        run.restore_entry(entry.map_err(bad_tar)?, &tap, index)?;
    }
    run.check_index_ends(index)?;
    run.finish()
}

/// A tar the `tar` crate cannot read.
fn bad_tar(e: io::Error) -> Error {
    Error::integrity(format!("the filesystem archive cannot be read: {e}"))
        .hint("the archive is damaged or truncated; verify it and use another backup")
}

/// Files of this tar with more than one name, which a later hard-link
/// member may name: path -> (dev, ino, SHA-256) from the index.
type GroupFiles = HashMap<Vec<u8>, (u64, u64, Option<String>)>;

/// One restore of one tar: the destination, the file threads, and what is
/// carried from entry to entry until the tar ends (deletions, hard links
/// and directories, all applied only once every file is in place).
///
/// Fields drop in the order they are declared: the file threads are
/// stopped (files not yet in place removed) before the destination's
/// directories are closed.
struct Extraction<'a> {
    /// Directories to give their metadata last, in index order: this tar's
    /// and, with `dir_metadata`, unchanged ones an earlier link made.
    dirs: Vec<(IndexEntry, Vec<Xattr>)>,
    order: EntryOrder,
    /// Other names the index records, to make one inode again at the end.
    relink: Relink,
    /// Hard-link members of this tar: (name, the earlier name it links to).
    members: Vec<(Vec<u8>, Vec<u8>)>,
    group_files: GroupFiles,
    /// Paths the index records as deleted, removed at the end.
    deleted: Vec<Vec<u8>>,
    ctx: Ctx<'a>,
    place: Place,
    opts: ExtractOptions<'a>,
}

impl<'a> Extraction<'a> {
    /// Open the destination (with the symlinks earlier links of a chain
    /// made) and start the file threads.
    fn start(
        dest: &Dest,
        progress: &'a dyn Fn(u64, u64),
        cancel: &'a AtomicBool,
        opts: ExtractOptions<'a>,
    ) -> Result<Self> {
        let mut place = Place::new(dest, true)?;
        if let Some(cell) = opts.links_made {
            place.links_made = cell.borrow().clone();
        }
        let as_root = unsafe { libc::geteuid() } == 0;
        let skipped = Skipped::default();
        let ctx = Ctx {
            out: ExtractOutcome::default(),
            items: 0,
            progress,
            cancel,
            as_root,
            files: FileThreads::start(
                as_root,
                opts.check_hashes,
                opts.fresh_target,
                skipped.clone(),
            )?,
            skipped,
        };
        Ok(Extraction {
            dirs: Vec::new(),
            order: EntryOrder::default(),
            relink: Relink::default(),
            members: Vec::new(),
            group_files: HashMap::new(),
            deleted: Vec::new(),
            ctx,
            place,
            opts,
        })
    }

    /// One tar entry: read what it says it is, check that against the
    /// next stored entry of the index (name, kind, attributes, size, link
    /// target), and only then put it in place.
    fn restore_entry<T: Read>(
        &mut self,
        mut entry: tar::Entry<'_, T>,
        tap: &super::pax_tap::Tap,
        index: &mut dyn Iterator<Item = Result<IndexEntry>>,
    ) -> Result<()> {
        let member = Member::read(&mut entry, tap, &self.order)?;
        let idx = self.index_entry(index, &member)?;
        let size = member.content_size(&entry, &idx)?;
        let link = member.link_target(&entry, size, &idx, &self.group_files)?;
        self.place_entry(&mut entry, member, idx, size, link)
    }

    /// The index entry `m` must be: the next stored one (deletions and
    /// unchanged entries before it are collected on the way), of the same
    /// path, kind and extended attributes. Its setuid and setgid bits are
    /// cleared here unless they may be restored.
    fn index_entry(
        &mut self,
        index: &mut dyn Iterator<Item = Result<IndexEntry>>,
        m: &Member,
    ) -> Result<IndexEntry> {
        let mut idx = match next_stored(
            index,
            &mut self.deleted,
            &mut self.relink,
            self.opts.dir_metadata.then_some(&mut self.dirs),
        )? {
            Some(i) if i.path == m.path => i,
            _ => {
                return Err(Error::integrity(format!(
                    "archive entry {} is not in the manifest's file index: refusing to restore",
                    show(&m.path)
                ))
                .hint("the archive and its manifest do not belong together or one is damaged"))
            }
        };
        if idx.kind != m.kind {
            return Err(Error::integrity(format!(
                "archive entry {} is a {:?} but the file index says {:?}",
                show(&m.path),
                m.kind,
                idx.kind
            )));
        }
        // (A hard-link member's attributes are its first name's.)
        if !m.hard && xattrs::digest(&m.pax.xattrs) != idx.xattr_sha256 {
            return Err(Error::integrity(format!(
                "the extended attributes of archive entry {} do not match the file index",
                show(&m.path)
            ))
            .hint("the archive and its manifest do not belong together or one is damaged"));
        }
        if m.kind != EntryKind::Symlink {
            self.judge_setuid(&mut idx.mode);
        }
        Ok(idx)
    }

    /// Clear the setuid and setgid bits of `mode`, with a warning, unless
    /// the backup is authenticated and the restore runs as root (then they
    /// are restored, as `tar -p` does).
    fn judge_setuid(&self, mode: &mut u32) {
        if *mode & 0o6000 != 0 && !(self.opts.authenticated && self.ctx.as_root) {
            *mode &= !0o6000;
            self.ctx.skipped.note(if self.ctx.as_root {
                "setuid/setgid bit not restored: the backup is not authenticated (an unkeyed repository, or --allow-unauthenticated)".into()
            } else {
                "setuid/setgid bit not restored: the restore is not running as root".into()
            });
        }
    }

    /// Put a checked entry in place (its parent directories created on the
    /// way) and count it. A hard-link member is only noted, and a file
    /// with no other name that a later link of the chain supersedes is not
    /// written: its name is made later, by [`Extraction::make_links`] or
    /// by that link.
    fn place_entry<T: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, T>,
        m: Member,
        idx: IndexEntry,
        size: u64,
        link: Vec<u8>,
    ) -> Result<()> {
        let Member {
            path,
            kind,
            hard,
            sparse,
            pax,
        } = m;
        let at = entry_at(&mut self.place, &path, true)?.expect("created on the way");
        self.order.placed(&path, kind);
        let ctx = &mut self.ctx;
        match kind {
            EntryKind::File if hard => {
                // Linked once every file is in place (`make_links`).
                self.members.push((path.clone(), link));
                self.relink.note(&idx);
                ctx.out.files += 1;
            }
            // A file with other names is written even so: a member may
            // name it.
            EntryKind::File
                if idx.nlink < 2 && self.opts.superseded.is_some_and(|s| s.contains(&path)) =>
            {
                // A later link of the chain brings the final version.
            }
            EntryKind::File => {
                if idx.nlink > 1 {
                    self.group_files
                        .insert(path.clone(), (idx.dev, idx.ino, idx.sha256.clone()));
                }
                self.relink.note(&idx);
                if sparse.is_some() {
                    write_sparse(entry, at, &idx, size, pax.xattrs, ctx)?;
                } else {
                    write_file(entry, at, &idx, pax.xattrs, ctx)?;
                }
                ctx.out.files += 1;
            }
            EntryKind::Fifo => {
                make_fifo(&at, &idx, ctx.as_root, (&pax.xattrs, &ctx.skipped))?;
                ctx.out.files += 1;
            }
            EntryKind::Symlink => {
                make_symlink(&at, &link, &idx, ctx.as_root, (&pax.xattrs, &ctx.skipped))?;
                self.place.made_link(&path);
                ctx.out.symlinks += 1;
            }
            EntryKind::Dir => {
                make_dir(&self.place, &path, &at)?;
                self.dirs.push((idx, pax.xattrs));
                ctx.out.dirs += 1;
            }
            EntryKind::Deleted => unreachable!("tar entries are never deletions"),
        }
        ctx.items += 1;
        (ctx.progress)(ctx.out.bytes, ctx.items);
        Ok(())
    }

    /// After the last tar entry, the index must hold no stored entry more
    /// (the deletions and unchanged entries after the last one are
    /// collected on the way): otherwise the archive was cut short.
    fn check_index_ends(
        &mut self,
        index: &mut dyn Iterator<Item = Result<IndexEntry>>,
    ) -> Result<()> {
        if let Some(missing) = next_stored(
            index,
            &mut self.deleted,
            &mut self.relink,
            self.opts.dir_metadata.then_some(&mut self.dirs),
        )? {
            return Err(Error::integrity(format!(
                "the archive ends before {} (listed in its file index)",
                show(&missing.path)
            ))
            .hint("the archive is truncated; verify it and use another backup"));
        }
        Ok(())
    }

    /// Once the tar is read: every file in place (or the first failure),
    /// then hard links, deletions and directory metadata, in that order;
    /// what was written, with its warnings.
    fn finish(&mut self) -> Result<ExtractOutcome> {
        // Every file in place (or the first failure) before deletions and
        // directory metadata.
        self.ctx.files.finish()?;
        self.make_links()?;
        self.apply_deletions()?;
        if self.opts.dir_metadata {
            self.set_dir_metadata()?;
        }
        if let Some(cell) = self.opts.links_made {
            *cell.borrow_mut() = std::mem::take(&mut self.place.links_made);
        }
        let mut out = std::mem::take(&mut self.ctx.out);
        out.warnings = self.ctx.skipped.take();
        Ok(out)
    }

    /// Link this tar's hard-link members to the files they name, then
    /// (with `hard_links`) make every other name the index records one
    /// inode with its first name again.
    fn make_links(&mut self) -> Result<()> {
        for (path, first) in std::mem::take(&mut self.members) {
            self.ctx.check_cancel()?;
            link_name(&mut self.place, &path, &first, true)?;
        }
        if self.opts.hard_links {
            for (path, first, sha) in std::mem::take(&mut self.relink.names) {
                self.ctx.check_cancel()?;
                // Names whose content differs (the inode changed between the
                // two being read) keep their own copies.
                if self.relink.sha.get(&first) == Some(&sha) {
                    link_name(&mut self.place, &path, &first, false)?;
                }
            }
        }
        Ok(())
    }

    /// Remove what the index records as deleted: a directory with all it
    /// holds, anything else by its name.
    fn apply_deletions(&mut self) -> Result<()> {
        for path in std::mem::take(&mut self.deleted) {
            self.ctx.check_cancel()?;
            check_name(&path)?;
            // Below a symlink or a missing directory the path is not part of
            // the restored tree: nothing to delete there.
            let Some(at) = entry_at(&mut self.place, &path, false)? else {
                continue;
            };
            match lstat_at(&at.dir, &at.name) {
                Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
                    std::fs::remove_dir_all(path_at(&at.dir, at.name.as_bytes()))
                        .map_err(io_err("remove deleted directory", &at.target))?
                }
                Ok(_) => unlink_at(&at.dir, &at.name)
                    .map_err(io_err("remove deleted file", &at.target))?,
                Err(_) => continue,
            }
            self.ctx.out.deleted += 1;
        }
        Ok(())
    }

    /// Directory metadata last: writing children changes mtimes, and a
    /// read-only directory mode would stop the children being written.
    /// Children come before their parents here, so each directory is
    /// mostly open already (as the parent of the one before).
    fn set_dir_metadata(&mut self) -> Result<()> {
        for (idx, xa) in self.dirs.iter().rev() {
            let target = self.place.target(&idx.path);
            let dir = self
                .place
                .dir(&idx.path)?
                .ok_or_else(|| Error::io("set mode of", &target, io::ErrorKind::NotFound.into()))?;
            let owner = self.ctx.as_root.then_some((idx.uid, idx.gid));
            let mut mode = idx.mode & 0o7777;
            // (A directory this link carries was judged in `index_entry`;
            // one an earlier link made is judged here, by the same rule.)
            self.judge_setuid(&mut mode);
            set_dir_meta(&dir, owner, mode, idx.mtime_ns)
                .map_err(io_err("set mode and mtime of", &target))?;
            // A default ACL set only now: the children written above took
            // their own ACLs from the archive, not from it. What an
            // existing directory carried beyond the archive's goes.
            let own = path_at(&dir, b"");
            xattrs::set(xattrs::Target::ProcFd(&own), xa, &self.ctx.skipped);
        }
        Ok(())
    }
}

/// One tar member as the archive describes it, before the index is
/// consulted.
struct Member {
    /// Its name: a sparse member's real name, else the PAX `path` record,
    /// else the header's; trailing slashes removed, checked to stay inside
    /// the destination and to come in walk order.
    path: Vec<u8>,
    kind: EntryKind,
    /// A hard-link member: another name of a file earlier in this tar.
    hard: bool,
    /// A sparse member's real name and size (see `sparse_member`).
    sparse: Option<(Vec<u8>, u64)>,
    pax: xattrs::Pax,
}

impl Member {
    /// Read the entry's PAX records and name, refusing names that could
    /// leave the destination or come out of walk order, and its type,
    /// refusing devices and kinds lifeboat does not write.
    fn read<T: Read>(
        entry: &mut tar::Entry<'_, T>,
        tap: &super::pax_tap::Tap,
        order: &EntryOrder,
    ) -> Result<Member> {
        let pax = entry_pax(entry, tap)?;
        // The next entry's headers start after this one's content.
        tap.keep_from(
            entry
                .raw_header_position()
                .saturating_add(512)
                .saturating_add(entry.size().div_ceil(512).saturating_mul(512)),
        );
        let sparse = sparse_member(&pax).map_err(|why| refuse(&entry.path_bytes(), &why))?;
        let mut path = match (&sparse, &pax.path) {
            (Some((name, _)), _) => name.clone(),
            (None, Some(p)) => p.clone(),
            (None, None) => entry.path_bytes().into_owned(),
        };
        while path.len() > 1 && path.last() == Some(&b'/') {
            path.pop();
        }
        check_name(&path)?;
        order.check(&path)?;
        let et = entry.header().entry_type();
        let kind = match et {
            EntryType::Regular => EntryKind::File,
            EntryType::Directory => EntryKind::Dir,
            EntryType::Symlink => EntryKind::Symlink,
            EntryType::Link => EntryKind::File,
            EntryType::Fifo => EntryKind::Fifo,
            EntryType::Char | EntryType::Block => return Err(refuse(&path, "device file")),
            other => return Err(refuse(&path, &format!("unsupported entry type {other:?}"))),
        };
        // The mode restored is the index's (the tar header's is for other
        // readers), and it must be readable.
        entry.header().mode().map_err(bad_tar)?;
        let hard = et == EntryType::Link;
        if sparse.is_some() && et != EntryType::Regular {
            return Err(refuse(&path, "sparse map on a member that is not a file"));
        }
        Ok(Member {
            path,
            kind,
            hard,
            sparse,
            pax,
        })
    }

    /// The size of the entry's content as the archive is read by, checked
    /// against its PAX `size` record and the index: sparse exactly where
    /// the index says so, and no more content than the index records.
    fn content_size<T: Read>(&self, entry: &tar::Entry<'_, T>, idx: &IndexEntry) -> Result<u64> {
        let path = &self.path;
        let size =
            crate::sources::tar_member::checked_size(entry).map_err(|why| refuse(path, &why))?;
        // The `tar` crate stops reading PAX records at one it cannot split
        // (a value with a newline): a `size` after it is not seen there,
        // but other readers go by it.
        if let Some(s) = &self.pax.size {
            if s.as_slice() != size.to_string().as_bytes() {
                return Err(refuse(
                    path,
                    "its PAX size record disagrees with the size the archive is read by",
                ));
            }
        }
        // (A hard-link member carries no content, sparse or not: its
        // first name's member does.)
        let sparse = &self.sparse;
        if self.kind == EntryKind::File && !self.hard && idx.sparse != sparse.is_some() {
            return Err(Error::integrity(format!(
                "archive entry {} is {} but the file index says it is {}",
                show(path),
                if sparse.is_some() { "sparse" } else { "dense" },
                if idx.sparse { "sparse" } else { "dense" }
            ))
            .hint("the archive and its manifest do not belong together or one is damaged"));
        }
        if let Some((_, real)) = sparse {
            if *real != idx.size {
                return Err(refuse(
                    path,
                    "its sparse size differs from the size in the file index",
                ));
            }
        } else if size > idx.size {
            return Err(refuse(
                path,
                "declares more content than the file index records",
            ));
        }
        Ok(size)
    }

    /// What a symlink points at, checked against the index, or the earlier
    /// name a hard-link member makes this one (see `check_member`); empty
    /// for other entries.
    fn link_target<T: Read>(
        &self,
        entry: &tar::Entry<'_, T>,
        size: u64,
        idx: &IndexEntry,
        group_files: &GroupFiles,
    ) -> Result<Vec<u8>> {
        match self.kind {
            EntryKind::Symlink => {
                let l = self.link_path(entry);
                if Some(&l) != idx.link_target.as_ref() {
                    return Err(Error::integrity(format!(
                        "symlink {} points elsewhere than the file index says",
                        show(&self.path)
                    )));
                }
                // The target is data, restored verbatim (absolute,
                // climbing out, dangling): nothing is ever written
                // through a link (see `place`).
                if l.is_empty() {
                    return Err(refuse(&self.path, "symlink with an empty target"));
                }
                Ok(l)
            }
            EntryKind::File if self.hard => {
                let l = self.link_path(entry);
                check_member(&self.path, &l, size, idx, group_files)?;
                Ok(l)
            }
            _ => Ok(Vec::new()),
        }
    }

    /// The entry's link name: the PAX `linkpath` record, else the header's.
    /// (A name the `tar` crate cannot split, a newline in it, is only in
    /// the PAX record.)
    fn link_path<T: Read>(&self, entry: &tar::Entry<'_, T>) -> Vec<u8> {
        match &self.pax.linkpath {
            Some(l) => l.clone(),
            None => entry
                .link_name_bytes()
                .map(|c| c.into_owned())
                .unwrap_or_default(),
        }
    }
}
