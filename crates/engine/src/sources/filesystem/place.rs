//! Where a restore writes: the destination's directories, reached one
//! component at a time without following symlinks.
//!
//! A symlink's target is data and is restored verbatim: absolute, climbing
//! out with `..`, dangling. What keeps a restore inside its destination is
//! that nothing is ever written *through* a symlink. Every entry's parent is
//! reached from the destination's root by `openat(O_NOFOLLOW)`, component by
//! component, and the entry itself is created, renamed or removed relative
//! to that directory's descriptor (`openat`, `mkdirat`, `symlinkat`,
//! `renameat`), so a link in the way, whether the archive made it a moment
//! ago or it was there before, is met as `ELOOP`/`ENOTDIR` and refused. A
//! path checked and then used by name could be swapped for a link in
//! between; a descriptor cannot.
//!
//! The descriptors of the directories on the current path are kept (a
//! stack, as the walk keeps its frames), so the entries of one directory
//! cost no lookups: one `openat` per directory entered, as the `lstat` it
//! replaces. `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` would resolve
//! a whole path in one call, but a restore needs every component anyway (to
//! create missing ones, and in place to follow the host's own links), so the
//! portable form serves everywhere.
//!
//! In place, the host's symlinked directories (`/var/run -> /run`) are
//! followed: the backup recorded them as the directories they stand for,
//! and an in-place restore writes where the originals were anyway. A symlink
//! this restore created, in any link of a chain, never is.

use std::collections::HashSet;
use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;

use filetime::FileTime;

use super::{show, Dest, IndexEntry};
use crate::error::{Error, Result};

/// An open directory of the destination (an `O_PATH` descriptor), shared
/// with the file threads that create files in it.
pub(crate) type DirFd = Arc<OwnedFd>;

/// The destination, with the directories on the way to the last entry open.
pub(crate) struct Place {
    pub root: PathBuf,
    pub under: bool,
    /// None when the destination does not exist (and was not created).
    root_fd: Option<DirFd>,
    /// (component, its descriptor) from the root down.
    stack: Vec<(Vec<u8>, DirFd)>,
    /// In place: archive paths of the symlinks this restore created.
    pub links_made: HashSet<Vec<u8>>,
}

/// A path or name as a C string; a NUL byte cannot be in a file name.
pub(crate) fn cstr(b: &[u8]) -> io::Result<CString> {
    CString::new(b).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn open_at(dir: RawFd, name: &CStr, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    let fd = unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Create a new file `name` in `dir` (never through a symlink).
pub(crate) fn create_file_at(dir: &OwnedFd, name: &CStr) -> io::Result<File> {
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
    open_at(dir.as_raw_fd(), name, flags, 0o600).map(File::from)
}

pub(crate) fn unlink_at(dir: &OwnedFd, name: &CStr) -> io::Result<()> {
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) })
}

/// `lstat` of `name` in `dir`.
pub(crate) fn lstat_at(dir: &OwnedFd, name: &CStr) -> io::Result<libc::stat> {
    let mut st = unsafe { std::mem::zeroed::<libc::stat>() };
    check(unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(st)
}

fn is_kind(st: &libc::stat, kind: libc::mode_t) -> bool {
    st.st_mode & libc::S_IFMT == kind
}

/// `name` in `dir` as a path the kernel resolves to exactly that entry of
/// that directory (through `/proc/self/fd`), for calls that only take paths.
pub(crate) fn path_at(dir: &OwnedFd, name: &[u8]) -> PathBuf {
    let mut p = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    if !name.is_empty() {
        p.push(OsStr::from_bytes(name));
    }
    p
}

/// Rename `from` over `to` in `dir`; a directory standing at `to` is removed
/// first (only then: the rename is tried first, so a file pays no `lstat`).
pub(crate) fn rename_at(dir: &OwnedFd, from: &CStr, to: &CStr) -> io::Result<()> {
    let fd = dir.as_raw_fd();
    let rename = || check(unsafe { libc::renameat(fd, from.as_ptr(), fd, to.as_ptr()) });
    match rename() {
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EISDIR | libc::ENOTEMPTY | libc::EEXIST)
            ) =>
        {
            if !lstat_at(dir, to).is_ok_and(|st| is_kind(&st, libc::S_IFDIR)) {
                return Err(e);
            }
            std::fs::remove_dir_all(path_at(dir, to.to_bytes()))?;
            rename()
        }
        other => other,
    }
}

/// Set owner (as root), mode and times of the directory open as `dir`
/// (an `O_PATH` descriptor: through `/proc/self/fd`, which names exactly
/// that directory, as these calls only take a path for one).
pub(crate) fn set_dir_meta(
    dir: &OwnedFd,
    owner: Option<(u32, u32)>,
    mode: u32,
    mtime_ns: i64,
) -> io::Result<()> {
    let p = cstr(path_at(dir, b"").as_os_str().as_bytes())?;
    if let Some((u, g)) = owner {
        // Only root can give files away; EPERM (a user namespace) is ignored.
        unsafe { libc::chown(p.as_ptr(), u, g) };
    }
    check(unsafe { libc::chmod(p.as_ptr(), mode) })?;
    let times = times(mtime_ns);
    check(unsafe { libc::utimensat(libc::AT_FDCWD, p.as_ptr(), times.as_ptr(), 0) })
}

/// atime and mtime both `ns`.
pub(crate) fn times(ns: i64) -> [libc::timespec; 2] {
    let ts = libc::timespec {
        tv_sec: ns.div_euclid(1_000_000_000) as libc::time_t,
        tv_nsec: ns.rem_euclid(1_000_000_000) as _,
    };
    [ts, ts]
}

/// The directory part and the last component of an archive path.
pub(crate) fn split_name(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|b| *b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

impl Place {
    pub fn new(dest: &Dest, create: bool) -> Result<Self> {
        let root = match dest {
            Dest::InPlace => PathBuf::from("/"),
            Dest::Under(d) => {
                if create {
                    std::fs::create_dir_all(d)
                        .map_err(|e| Error::io("create restore destination", d, e))?;
                }
                match std::fs::canonicalize(d) {
                    Ok(c) => c,
                    Err(e) if !create && e.kind() == io::ErrorKind::NotFound => d.clone(),
                    Err(e) => return Err(Error::io("open restore destination", d, e)),
                }
            }
        };
        let c = cstr(root.as_os_str().as_bytes())
            .map_err(|e| Error::io("open restore destination", &root, e))?;
        let root_fd = match open_at(libc::AT_FDCWD, &c, libc::O_PATH | libc::O_DIRECTORY, 0) {
            Ok(fd) => Some(Arc::new(fd)),
            Err(e) if !create && e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("open restore destination", &root, e)),
        };
        Ok(Place {
            under: matches!(dest, Dest::Under(_)),
            root,
            root_fd,
            stack: Vec::new(),
            links_made: HashSet::new(),
        })
    }

    /// In place only: an existing symlink to a directory stands for it.
    pub fn is_host_dir_link(&self, p: &Path) -> bool {
        !self.under
            && std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
            && std::fs::metadata(p).is_ok_and(|m| m.is_dir())
    }

    pub fn target(&self, path: &[u8]) -> PathBuf {
        self.root.join(OsStr::from_bytes(path))
    }

    /// Note a symlink this restore created at `path` (in place, it must
    /// never be followed, nor stand for a directory).
    pub fn made_link(&mut self, path: &[u8]) {
        if !self.under {
            self.links_made.insert(path.to_vec());
        }
    }

    /// In place: whether the symlink at `path` is the host's own (followed
    /// when it leads to a directory), not one this restore created.
    pub fn is_host_link(&self, path: &[u8]) -> bool {
        !self.under && !self.links_made.contains(path)
    }

    /// The directory holding `path`, every directory on the way reached
    /// without following a symlink (but the host's, in place), and missing
    /// ones created when `create`. None when one is missing or is not a
    /// directory and `create` is false; with `create`, something other than
    /// a directory on the way is refused.
    pub fn parent(&mut self, path: &[u8], create: bool) -> Result<Option<DirFd>> {
        let (dir, _) = split_name(path);
        self.resolve(path, dir, create)
    }

    /// The directory at `path` itself, reached as [`Place::parent`] reaches
    /// a parent (without creating anything).
    pub fn dir(&mut self, path: &[u8]) -> Result<Option<DirFd>> {
        self.resolve(path, path, false)
    }

    /// [`Place::parent`] as a yes/no, for looking without writing.
    pub fn ancestors(&mut self, path: &[u8], create: bool) -> Result<bool> {
        Ok(self.parent(path, create)?.is_some())
    }

    fn resolve(&mut self, path: &[u8], dir: &[u8], create: bool) -> Result<Option<DirFd>> {
        let Some(root_fd) = self.root_fd.clone() else {
            return Ok(None);
        };
        let comps: Vec<&[u8]> = if dir.is_empty() {
            Vec::new()
        } else {
            dir.split(|b| *b == b'/').collect()
        };
        let keep = self
            .stack
            .iter()
            .zip(&comps)
            .take_while(|((c, _), d)| c.as_slice() == **d)
            .count();
        self.stack.truncate(keep);
        for i in keep..comps.len() {
            let at = self.stack.last().map_or(&root_fd, |s| &s.1).clone();
            let name = comps[i];
            let prefix = &dir[..comps[..=i].iter().map(|c| c.len() + 1).sum::<usize>() - 1];
            let shown = || self.target(prefix);
            let c = cstr(name).map_err(|e| Error::io("open", &shown(), e))?;
            let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;
            let fd = match open_at(at.as_raw_fd(), &c, flags, 0) {
                Ok(fd) => fd,
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    match check(unsafe { libc::mkdirat(at.as_raw_fd(), c.as_ptr(), 0o777) }) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(Error::io("create directory", &shown(), e)),
                    }
                    match open_at(at.as_raw_fd(), &c, flags, 0) {
                        Ok(fd) => fd,
                        Err(e) => return Err(self.in_the_way(path, prefix, &at, &c, e)?),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => {
                    // A symlink or something else in the way. In place, the
                    // host's own link to a directory is followed.
                    let link = lstat_at(&at, &c).is_ok_and(|st| is_kind(&st, libc::S_IFLNK));
                    let followed = if link && self.is_host_link(prefix) {
                        open_at(at.as_raw_fd(), &c, libc::O_PATH | libc::O_DIRECTORY, 0).ok()
                    } else {
                        None
                    };
                    match followed {
                        Some(fd) => fd,
                        None if !create => return Ok(None),
                        None => return Err(self.in_the_way(path, prefix, &at, &c, e)?),
                    }
                }
            };
            self.stack.push((name.to_vec(), Arc::new(fd)));
        }
        Ok(Some(self.stack.last().map_or(root_fd, |s| s.1.clone())))
    }

    /// The refusal (or I/O error) for `prefix`, which cannot be opened as a
    /// directory.
    fn in_the_way(
        &self,
        path: &[u8],
        prefix: &[u8],
        at: &OwnedFd,
        name: &CStr,
        e: io::Error,
    ) -> Result<Error> {
        let shown = self.target(prefix);
        match lstat_at(at, name) {
            Ok(st) if is_kind(&st, libc::S_IFLNK) => Ok(refuse(
                path,
                &format!(
                    "{} is a symlink: writing through it could leave the destination",
                    shown.display()
                ),
            )),
            Ok(st) if !is_kind(&st, libc::S_IFDIR) => Ok(refuse(
                path,
                &format!("{} is in the way and is not a directory", shown.display()),
            )),
            _ => Ok(Error::io("open directory", &shown, e)),
        }
    }
}

// Shared by the extractor and its file-writer threads (both sit above
// this module, so neither imports the other for these).

pub(super) const BLOCK: usize = 4096;
pub(super) const BUF: usize = 256 * 1024;

pub(crate) fn refuse(path: &[u8], reason: &str) -> Error {
    Error::refused(format!("archive entry {} refused: {reason}", show(path))).hint(
        "the archive may be hostile or damaged; nothing was written outside the destination. \
         Inspect it with `tar -tvf` before trusting it",
    )
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
    // Only root can give files away: EPERM (not root) and EINVAL (an id a
    // user namespace does not map) are expected and ignored; anything else
    // is worth a line in the log.
    if let Err(e) = std::os::unix::fs::fchown(f, Some(uid), Some(gid)) {
        if !matches!(e.raw_os_error(), Some(libc::EPERM | libc::EINVAL)) {
            tracing::warn!("cannot give a restored file to {uid}:{gid}: {e}");
        }
    }
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh temp name for a file or symlink on its way into place.
pub(super) fn temp_name() -> Vec<u8> {
    let n = TMP_SEQ.fetch_add(1, AtomicOrdering::Relaxed);
    format!(".lifeboat-{}-{n}.tmp", std::process::id()).into_bytes()
}

/// Where one entry goes: its directory (reached without following a
/// symlink), its name there, and the full path for messages.
pub(super) struct At {
    pub dir: DirFd,
    pub name: std::ffi::CString,
    pub target: PathBuf,
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

/// Fill `buf` from an entry's content; fewer bytes only at its end.
pub(super) fn read_entry<R: Read>(data: &mut R, buf: &mut [u8], idx: &IndexEntry) -> Result<usize> {
    read_full(data, buf).map_err(|e| {
        Error::integrity(format!(
            "archive entry {} cannot be read: {e}",
            show(&idx.path)
        ))
    })
}

/// Where entry `path` goes: its parent reached without following a
/// symlink (created on the way when `create`), or None (see
/// [`Place::parent`]).
pub(super) fn entry_at(place: &mut Place, path: &[u8], create: bool) -> Result<Option<At>> {
    let Some(dir) = place.parent(path, create)? else {
        return Ok(None);
    };
    let name = cstr(split_name(path).1).map_err(|_| refuse(path, "NUL byte in the name"))?;
    Ok(Some(At {
        dir,
        name,
        target: place.target(path),
    }))
}
