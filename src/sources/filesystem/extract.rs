//! Restore: our own extraction loop, checked against the file index.
//!
//! Every tar entry must be the next stored entry of the index, so nothing
//! the backup did not record can be restored. Anything that could write
//! outside the destination is refused, not skipped: a restore that silently
//! drops files is worse than one that stops and says why.

use std::fs::{self, File, Permissions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};

use filetime::FileTime;
use tar::EntryType;

use super::file_threads::{FileThreads, ToWriter};
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
}

impl ExtractOutcome {
    /// Sum the outcomes of the links of a chain.
    pub fn add(&mut self, other: &ExtractOutcome) {
        self.files += other.files;
        self.dirs += other.dirs;
        self.symlinks += other.symlinks;
        self.bytes += other.bytes;
        self.deleted += other.deleted;
    }
}

pub(super) const BLOCK: usize = 4096;
pub(super) const BUF: usize = 256 * 1024;

pub(crate) fn refuse(path: &[u8], reason: &str) -> Error {
    Error::refused(format!("archive entry {} refused: {reason}", show(path))).hint(
        "the archive may be hostile or damaged; nothing was written outside the destination. \
         Inspect it with `tar -tvf` before trusting it",
    )
}

/// Reject names that are empty, absolute or contain `.`, `..` or empty
/// components.
pub(crate) fn check_name(path: &[u8]) -> Result<()> {
    if path.is_empty() {
        return Err(refuse(path, "empty name"));
    }
    if path[0] == b'/' {
        return Err(refuse(path, "absolute path"));
    }
    for c in path.split(|b| *b == b'/') {
        match c {
            b"" => return Err(refuse(path, "empty path component")),
            b"." => return Err(refuse(path, "`.` path component")),
            b".." => {
                return Err(refuse(
                    path,
                    "`..` path component (would leave the destination)",
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// A symlink target under `Dest::Under` must be relative, use `..` only as
/// leading components, and not climb above the destination from the link's
/// directory. (Only-leading `..` makes the lexical check sound even when
/// other links sit on the way.)
fn check_link_target(path: &[u8], target: &[u8]) -> Result<()> {
    if target.is_empty() {
        return Err(refuse(path, "symlink with an empty target"));
    }
    if target[0] == b'/' {
        return Err(refuse(
            path,
            "symlink to an absolute path (would point outside the destination)",
        ));
    }
    let mut depth = path.split(|b| *b == b'/').count() as i64 - 1;
    let mut seen_normal = false;
    for c in target.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if seen_normal {
                    return Err(refuse(
                        path,
                        "symlink target with `..` after a name (cannot be checked safely)",
                    ));
                }
                depth -= 1;
                if depth < 0 {
                    return Err(refuse(path, "symlink pointing outside the destination"));
                }
            }
            _ => {
                seen_normal = true;
                depth += 1;
            }
        }
    }
    Ok(())
}

/// The destination with a cache of the deepest directory already checked
/// to be a real directory (no symlink) all the way from the root.
pub(crate) struct Place {
    pub root: PathBuf,
    pub under: bool,
    verified: PathBuf,
}

impl Place {
    pub fn new(dest: &Dest, create: bool) -> Result<Self> {
        let root = match dest {
            Dest::InPlace => PathBuf::from("/"),
            Dest::Under(d) => {
                if create {
                    fs::create_dir_all(d)
                        .map_err(|e| Error::io("create restore destination", d, e))?;
                }
                match fs::canonicalize(d) {
                    Ok(c) => c,
                    Err(e) if !create && e.kind() == io::ErrorKind::NotFound => d.clone(),
                    Err(e) => return Err(Error::io("open restore destination", d, e)),
                }
            }
        };
        Ok(Place {
            verified: root.clone(),
            under: matches!(dest, Dest::Under(_)),
            root,
        })
    }

    /// In place only: an existing symlink to a directory stands for it.
    pub fn is_host_dir_link(&self, p: &Path) -> bool {
        !self.under
            && fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
            && fs::metadata(p).is_ok_and(|m| m.is_dir())
    }

    pub fn target(&self, path: &[u8]) -> PathBuf {
        self.root.join(std::ffi::OsStr::from_bytes(path))
    }

    /// Forget checks below `p` (it is about to become a file or symlink).
    fn invalidate(&mut self, p: &Path) {
        if self.verified.starts_with(p) {
            self.verified = p.parent().unwrap_or(&self.root).to_path_buf();
        }
    }

    /// Make sure every directory between the root and `target` is a real
    /// directory, creating missing ones when `create`. Ok(false) when one is
    /// missing (and not created) or is not a directory and `create` is false.
    pub fn ancestors(&mut self, path: &[u8], target: &Path, create: bool) -> Result<bool> {
        let parent = target.parent().unwrap_or(&self.root);
        while !parent.starts_with(&self.verified) {
            if !self.verified.pop() {
                self.verified = self.root.clone();
            }
        }
        if !self.verified.starts_with(&self.root) {
            self.verified = self.root.clone();
        }
        let rest: Vec<_> = parent
            .strip_prefix(&self.verified)
            .expect("checked prefix")
            .components()
            .map(|c| c.as_os_str().to_os_string())
            .collect();
        let mut cur = self.verified.clone();
        for c in rest {
            cur.push(c);
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.file_type().is_dir() => {}
                // In place, the host's own symlinked directories (/var/run
                // -> /run) are followed: an in-place restore can write
                // anywhere anyway, so refusing them protects nothing.
                Ok(_) if self.is_host_dir_link(&cur) => {}
                Ok(m) if m.file_type().is_symlink() => {
                    if !create {
                        return Ok(false);
                    }
                    return Err(refuse(
                        path,
                        &format!(
                            "{} is a symlink: writing through it could leave the destination",
                            cur.display()
                        ),
                    ));
                }
                Ok(_) => {
                    if !create {
                        return Ok(false);
                    }
                    return Err(refuse(
                        path,
                        &format!("{} is in the way and is not a directory", cur.display()),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    fs::create_dir(&cur).map_err(|e| Error::io("create directory", &cur, e))?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(Error::io("inspect", &cur, e)),
            }
            self.verified = cur.clone();
        }
        Ok(true)
    }
}

pub(super) fn io_err<'a>(action: &'a str, p: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |e| Error::io(action, p, e)
}

pub(super) fn file_time(ns: i64) -> FileTime {
    FileTime::from_unix_time(
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000) as u32,
    )
}

pub(super) fn chown_fd(f: &File, uid: u32, gid: u32) {
    // Only root can give files away; EPERM (e.g. in a user namespace) is ignored.
    unsafe {
        libc::fchown(f.as_raw_fd(), uid, gid);
    }
}

fn lchown(p: &Path, uid: u32, gid: u32) {
    if let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) {
        unsafe {
            libc::lchown(c.as_ptr(), uid, gid);
        }
    }
}

/// Set a directory's atime and mtime by path (one `utimensat`, where
/// `filetime::set_file_times` opens the directory to use `futimens`).
fn set_dir_times(p: &Path, ns: i64) -> io::Result<()> {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let ts = libc::timespec {
        tv_sec: ns.div_euclid(1_000_000_000) as libc::time_t,
        tv_nsec: ns.rem_euclid(1_000_000_000) as _,
    };
    let times = [ts, ts];
    if unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

pub(super) fn temp_name(dir: &Path) -> PathBuf {
    let n = TMP_SEQ.fetch_add(1, AtomicOrdering::Relaxed);
    dir.join(format!(".lifeboat-{}-{n}.tmp", std::process::id()))
}

/// Rename `tmp` over `target`, first clearing a directory standing there.
pub(super) fn replace(tmp: &Path, target: &Path) -> io::Result<()> {
    if let Ok(m) = fs::symlink_metadata(target) {
        if m.file_type().is_dir() {
            fs::remove_dir_all(target)?;
        }
    }
    fs::rename(tmp, target)
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

struct Ctx<'a> {
    out: ExtractOutcome,
    items: u64,
    progress: &'a dyn Fn(u64, u64),
    cancel: &'a AtomicBool,
    as_root: bool,
    files: FileThreads,
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
/// temp name beside `target`, verify it, set its metadata and rename it
/// into place.
fn write_file<R: Read>(
    data: &mut R,
    target: &Path,
    idx: &IndexEntry,
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
            target: target.to_path_buf(),
            idx: idx.clone(),
            buf,
            n,
        });
    }
    ctx.files.send(ToWriter::Open {
        target: target.to_path_buf(),
        idx: idx.clone(),
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

/// Fill `buf` from an entry's content; fewer bytes only at its end.
fn read_entry<R: Read>(data: &mut R, buf: &mut [u8], idx: &IndexEntry) -> Result<usize> {
    read_full(data, buf).map_err(|e| {
        Error::integrity(format!(
            "archive entry {} cannot be read: {e}",
            show(&idx.path)
        ))
    })
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

fn make_symlink(target: &Path, link: &[u8], idx: &IndexEntry, as_root: bool) -> Result<()> {
    let dir = target.parent().expect("target has a parent");
    let tmp = temp_name(dir);
    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(link), &tmp)
        .map_err(io_err("create symlink", &tmp))?;
    let res = (|| {
        if as_root {
            lchown(&tmp, idx.uid, idx.gid);
        }
        let t = file_time(idx.mtime_ns);
        filetime::set_symlink_file_times(&tmp, t, t).map_err(io_err("set mtime of", &tmp))?;
        replace(&tmp, target).map_err(io_err("move into place", target))
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

fn make_dir(place: &Place, target: &Path) -> Result<()> {
    match fs::symlink_metadata(target) {
        Ok(m) if m.file_type().is_dir() => return Ok(()),
        Ok(_) if place.is_host_dir_link(target) => return Ok(()),
        Ok(_) => fs::remove_file(target).map_err(io_err("replace", target))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("inspect", target, e)),
    }
    fs::DirBuilder::new()
        .mode(0o700)
        .create(target)
        .map_err(io_err("create directory", target))
}

use std::os::unix::fs::DirBuilderExt;

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

/// Next stored index entry, collecting deletions and skipping unchanged
/// entries on the way.
fn next_stored(
    index: &mut dyn Iterator<Item = Result<IndexEntry>>,
    deleted: &mut Vec<Vec<u8>>,
) -> Result<Option<IndexEntry>> {
    for e in index {
        let e = e?;
        if e.kind == EntryKind::Deleted {
            deleted.push(e.path);
        } else if e.stored {
            return Ok(Some(e));
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
}

impl Default for ExtractOptions<'_> {
    fn default() -> Self {
        ExtractOptions {
            superseded: None,
            check_hashes: true,
            dir_metadata: true,
            fresh_target: false,
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
    let mut place = Place::new(dest, true)?;
    let as_root = unsafe { libc::geteuid() } == 0;
    let mut ctx = Ctx {
        out: ExtractOutcome::default(),
        items: 0,
        progress,
        cancel,
        as_root,
        files: FileThreads::start(as_root, opts.check_hashes, opts.fresh_target)?,
    };
    let mut deleted = Vec::new();
    let mut order = EntryOrder::default();
    let mut dirs: Vec<(PathBuf, IndexEntry)> = Vec::new();
    let mut archive = tar::Archive::new(tar_in);
    let bad_tar = |e: io::Error| {
        Error::integrity(format!("the filesystem archive cannot be read: {e}"))
            .hint("the archive is damaged or truncated; verify it and use another backup")
    };
    for entry in archive.entries().map_err(bad_tar)? {
        ctx.check_cancel()?;
        ctx.files.check()?;
        let mut entry = entry.map_err(bad_tar)?;
        let mut path = entry.path_bytes().into_owned();
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
            EntryType::Link => {
                return Err(refuse(&path, "hard link (this tool never writes them)"))
            }
            EntryType::Char | EntryType::Block => return Err(refuse(&path, "device file")),
            EntryType::Fifo => return Err(refuse(&path, "FIFO")),
            other => return Err(refuse(&path, &format!("unsupported entry type {other:?}"))),
        };
        let mode = entry.header().mode().map_err(bad_tar)?;
        if mode & 0o6000 != 0 {
            return Err(refuse(&path, "setuid/setgid bit set"));
        }
        let idx = match next_stored(index, &mut deleted)? {
            Some(i) if i.path == path => i,
            _ => {
                return Err(Error::integrity(format!(
                    "archive entry {} is not in the manifest's file index: refusing to restore",
                    show(&path)
                ))
                .hint("the archive and its manifest do not belong together or one is damaged"))
            }
        };
        if idx.kind != kind {
            return Err(Error::integrity(format!(
                "archive entry {} is a {kind:?} but the file index says {:?}",
                show(&path),
                idx.kind
            )));
        }
        let size =
            crate::sources::tar_member::checked_size(&entry).map_err(|why| refuse(&path, &why))?;
        if size > idx.size {
            return Err(refuse(
                &path,
                "declares more content than the file index records",
            ));
        }
        let link = match kind {
            EntryKind::Symlink => {
                let l = entry
                    .link_name_bytes()
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                if Some(&l) != idx.link_target.as_ref() {
                    return Err(Error::integrity(format!(
                        "symlink {} points elsewhere than the file index says",
                        show(&path)
                    )));
                }
                if place.under {
                    check_link_target(&path, &l)?;
                }
                l
            }
            _ => Vec::new(),
        };
        let target = place.target(&path);
        place.ancestors(&path, &target, true)?;
        order.placed(&path, kind);
        match kind {
            EntryKind::File if opts.superseded.is_some_and(|s| s.contains(&path)) => {
                // A later link of the chain brings the final version.
            }
            EntryKind::File => {
                place.invalidate(&target);
                write_file(&mut entry, &target, &idx, &mut ctx)?;
                ctx.out.files += 1;
            }
            EntryKind::Symlink => {
                place.invalidate(&target);
                make_symlink(&target, &link, &idx, ctx.as_root)?;
                ctx.out.symlinks += 1;
            }
            EntryKind::Dir => {
                make_dir(&place, &target)?;
                dirs.push((target, idx));
                ctx.out.dirs += 1;
            }
            EntryKind::Deleted => unreachable!("tar entries are never deletions"),
        }
        ctx.items += 1;
        (ctx.progress)(ctx.out.bytes, ctx.items);
    }
    if let Some(missing) = next_stored(index, &mut deleted)? {
        return Err(Error::integrity(format!(
            "the archive ends before {} (listed in its file index)",
            show(&missing.path)
        ))
        .hint("the archive is truncated; verify it and use another backup"));
    }
    // Every file in place (or the first failure) before deletions and
    // directory metadata.
    ctx.files.finish()?;
    for path in deleted {
        ctx.check_cancel()?;
        check_name(&path)?;
        let target = place.target(&path);
        // Below a symlink or a missing directory the path is not part of
        // the restored tree: nothing to delete there.
        if !place.ancestors(&path, &target, false)? {
            continue;
        }
        match fs::symlink_metadata(&target) {
            Ok(m) if m.file_type().is_dir() => {
                fs::remove_dir_all(&target).map_err(io_err("remove deleted directory", &target))?
            }
            Ok(_) => fs::remove_file(&target).map_err(io_err("remove deleted file", &target))?,
            Err(_) => continue,
        }
        place.invalidate(&target);
        ctx.out.deleted += 1;
    }
    // Directory metadata last: writing children changes mtimes, and a
    // read-only directory mode would stop the children being written.
    if opts.dir_metadata {
        for (target, idx) in dirs.iter().rev() {
            if ctx.as_root {
                lchown(target, idx.uid, idx.gid);
            }
            fs::set_permissions(target, Permissions::from_mode(idx.mode & 0o1777))
                .map_err(io_err("set mode of", target))?;
            set_dir_times(target, idx.mtime_ns).map_err(io_err("set mtime of", target))?;
        }
    }
    Ok(ctx.out)
}
