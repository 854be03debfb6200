//! Extended attributes, POSIX ACLs and file capabilities: read at backup,
//! carried in the tar as GNU tar's `--xattrs --acls` PAX records, set again
//! at restore.
//!
//! Everything is an extended attribute to the kernel: `user.*`,
//! `trusted.*`, `security.*` (file capabilities are `security.capability`,
//! SELinux labels `security.selinux`) and the two POSIX ACLs,
//! `system.posix_acl_access` and `system.posix_acl_default`, whose raw
//! values the kernel takes back through `setxattr` as they came out of
//! `getxattr`. So one path carries them all, as `SCHILY.xattr.<name>=<raw
//! value>` records (what GNU tar writes with `--xattrs`, and reads, ACLs
//! included). GNU tar's `--acls` text form (`SCHILY.acl.access`) would need
//! a text-to-binary ACL encoder on restore; it is not written, and reading
//! one is refused (see FORMAT.md).
//!
//! PAX values are length-prefixed, so a value may hold any byte, newlines
//! included. The `tar` crate splits PAX data at newlines, which would cut a
//! binary value apart (and let a value that contains `\n13 path=x\n` pass
//! for a record of its own), so a restore parses the extended header
//! itself (`pax_tap` gets its raw bytes) and takes `path` and `linkpath`
//! from that parse.
//!
//! Nothing is ever read or set through a symlink: backups use the
//! `l*xattr` calls (a symlink's own `trusted.*`/`security.*` attributes
//! are kept; `user.*` cannot exist on one), restores use an open file's
//! descriptor or a name in a directory reached without following links.

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// One extended attribute: full name (`user.foo`) and raw value.
pub type Xattr = (Vec<u8>, Vec<u8>);

/// Largest value kept or accepted: Linux's own limit (`XATTR_SIZE_MAX`).
pub const MAX_VALUE: usize = 64 << 10;
/// Longest name (`XATTR_NAME_MAX`).
pub const MAX_NAME: usize = 255;
/// All attributes of one entry together, names and values.
pub const MAX_TOTAL: usize = 1 << 20;
/// Largest PAX extended header a restore reads.
pub const MAX_PAX: usize = MAX_TOTAL + (64 << 10);

/// The PAX key prefix GNU tar and star use for extended attributes.
pub const PAX_PREFIX: &str = "SCHILY.xattr.";

/// Whether `name` is one lifeboat keeps: the namespaces a file's data and
/// access rules live in. Others (`system.nfs4_acl`, ...) are
/// filesystem-specific and are neither backed up nor accepted.
pub fn allowed(name: &[u8]) -> bool {
    // A `=` would end the PAX key early.
    !name.contains(&b'=')
        && (name.starts_with(b"user.")
            || name.starts_with(b"trusted.")
            || name.starts_with(b"security.")
            || name == b"system.posix_acl_access"
            || name == b"system.posix_acl_default")
}

/// Hex SHA-256 over the attributes in name order (each name and value
/// prefixed with its length as 4 bytes big-endian); None when there are
/// none. The file index records it, so a restore can check the tar's
/// attributes and `verify --deep` the restored ones.
pub fn digest(xattrs: &[Xattr]) -> Option<String> {
    if xattrs.is_empty() {
        return None;
    }
    let mut sorted: Vec<&Xattr> = xattrs.iter().collect();
    sorted.sort();
    let mut h = Sha256::new();
    for (n, v) in sorted {
        h.update((n.len() as u32).to_be_bytes());
        h.update(n);
        h.update((v.len() as u32).to_be_bytes());
        h.update(v);
    }
    Some(hex::encode(h.finalize()))
}

/// Where attributes are read from: an open file, or a path whose last
/// component is not followed.
pub enum Source<'a> {
    Fd(&'a std::fs::File),
    Path(&'a Path),
}

fn list(src: &Source<'_>, buf: &mut [u8]) -> isize {
    let (p, n) = (buf.as_mut_ptr() as *mut libc::c_char, buf.len());
    match src {
        Source::Fd(f) => unsafe { libc::flistxattr(f.as_raw_fd(), p, n) },
        Source::Path(path) => {
            match crate::sources::filesystem::place::cstr(path.as_os_str().as_bytes()) {
                Ok(c) => unsafe { libc::llistxattr(c.as_ptr(), p, n) },
                Err(_) => -1,
            }
        }
    }
}

fn get(src: &Source<'_>, name: &CStr, buf: &mut [u8]) -> isize {
    let (p, n) = (buf.as_mut_ptr() as *mut libc::c_void, buf.len());
    match src {
        Source::Fd(f) => unsafe { libc::fgetxattr(f.as_raw_fd(), name.as_ptr(), p, n) },
        Source::Path(path) => {
            match crate::sources::filesystem::place::cstr(path.as_os_str().as_bytes()) {
                Ok(c) => unsafe { libc::lgetxattr(c.as_ptr(), name.as_ptr(), p, n) },
                Err(_) => -1,
            }
        }
    }
}

/// Call `f` with a growing buffer until the answer fits (a value can grow
/// between the size query and the read: `ERANGE`, tried again).
fn sized(mut f: impl FnMut(&mut [u8]) -> isize) -> io::Result<Vec<u8>> {
    for _ in 0..8 {
        let want = f(&mut []);
        if want < 0 {
            return Err(io::Error::last_os_error());
        }
        if want == 0 {
            // Most files: no attributes, one syscall.
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; want as usize];
        let got = f(&mut buf);
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(buf);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ERANGE) {
            return Err(e);
        }
    }
    Err(io::Error::from_raw_os_error(libc::ERANGE))
}

fn unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTSUP | libc::ENODATA))
}

/// The attributes of `src` that lifeboat keeps, in name order. A filesystem
/// without attributes has none; an attribute removed between the listing
/// and its read is left out. Anything else is an error for the caller to
/// report (the entry is still backed up, without them).
pub fn read(src: Source<'_>) -> io::Result<Vec<Xattr>> {
    let names = match sized(|b| list(&src, b)) {
        Ok(n) => n,
        Err(e) if unsupported(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    let mut total = 0;
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if !allowed(name) {
            continue;
        }
        let c = crate::sources::filesystem::place::cstr(name)?;
        let value = match sized(|b| get(&src, &c, b)) {
            Ok(v) => v,
            Err(e) if unsupported(&e) => continue,
            Err(e) => return Err(e),
        };
        total += name.len() + value.len();
        if value.len() > MAX_VALUE || name.len() > MAX_NAME || total > MAX_TOTAL {
            return Err(io::Error::other(format!(
                "extended attributes too large (over {} KiB)",
                MAX_TOTAL >> 10
            )));
        }
        out.push((name.to_vec(), value));
    }
    out.sort();
    Ok(out)
}

/// Append the PAX records for `xattrs` (after every other record of the
/// entry: a reader that splits PAX data at newlines has read its `size`
/// and `path` before it meets a binary value).
pub fn pax_records(
    out: &mut Vec<u8>,
    xattrs: &[Xattr],
    record: impl Fn(&mut Vec<u8>, &[u8], &[u8]),
) {
    for (n, v) in xattrs {
        let mut key = PAX_PREFIX.as_bytes().to_vec();
        key.extend_from_slice(n);
        record(out, &key, v);
    }
}

/// What a restore takes from an entry's PAX extended header.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pax {
    pub path: Option<Vec<u8>>,
    pub linkpath: Option<Vec<u8>>,
    /// A `size` record (the last, as other readers take it).
    pub size: Option<Vec<u8>>,
    pub xattrs: Vec<Xattr>,
    /// `GNU.sparse.*` records, key without the prefix (see `sparse`).
    pub sparse: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Parse PAX extended-header data record by record, by each record's
/// length (values may hold newlines and NULs). Refused: malformed records,
/// attribute names outside [`allowed`], a name twice, and sizes over
/// [`MAX_NAME`], [`MAX_VALUE`] and [`MAX_TOTAL`]. GNU tar's text ACL
/// records are refused as unsupported rather than silently dropped.
pub fn parse_pax(mut data: &[u8]) -> Result<Pax, String> {
    let mut out = Pax::default();
    let mut total = 0usize;
    while !data.is_empty() {
        if data.iter().all(|b| *b == 0) {
            break;
        }
        let sp = data
            .iter()
            .take(20)
            .position(|b| *b == b' ')
            .ok_or("a PAX record without a length")?;
        let len: usize = std::str::from_utf8(&data[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("a PAX record with a bad length")?;
        if len <= sp + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err("a PAX record whose length does not fit".into());
        }
        let rec = &data[sp + 1..len - 1];
        data = &data[len..];
        let eq = rec
            .iter()
            .position(|b| *b == b'=')
            .ok_or("a PAX record without `=`")?;
        let (key, value) = (&rec[..eq], &rec[eq + 1..]);
        if key == b"path" {
            out.path = Some(value.to_vec());
        } else if key == b"linkpath" {
            out.linkpath = Some(value.to_vec());
        } else if key == b"size" {
            out.size = Some(value.to_vec());
        } else if let Some(k) = key.strip_prefix(b"GNU.sparse.") {
            out.sparse.push((k.to_vec(), value.to_vec()));
        } else if let Some(name) = key.strip_prefix(PAX_PREFIX.as_bytes()) {
            if !allowed(name) {
                return Err(format!(
                    "extended attribute {} is not in a namespace lifeboat restores (user., trusted., security., POSIX ACLs)",
                    String::from_utf8_lossy(name)
                ));
            }
            if name.len() > MAX_NAME || value.len() > MAX_VALUE {
                return Err(format!(
                    "extended attribute {} is larger than Linux allows",
                    String::from_utf8_lossy(&name[..name.len().min(64)])
                ));
            }
            total += name.len() + value.len();
            if total > MAX_TOTAL {
                return Err(format!("extended attributes over {} KiB", MAX_TOTAL >> 10));
            }
            if out.xattrs.iter().any(|(n, _)| n == name) {
                return Err(format!(
                    "extended attribute {} given twice",
                    String::from_utf8_lossy(name)
                ));
            }
            out.xattrs.push((name.to_vec(), value.to_vec()));
        } else if key.starts_with(b"SCHILY.acl.") {
            return Err(
                "a text ACL record (GNU tar --acls); lifeboat restores ACLs from SCHILY.xattr.system.posix_acl_* records only"
                    .into(),
            );
        }
    }
    out.xattrs.sort();
    Ok(out)
}

/// Attributes the entry did not have that a restore must not leave on it:
/// an ACL inherited from a destination directory's default ACL (a temp
/// file created there takes it), or what an existing file or directory
/// restored in place carried. Labels a security module gives every file
/// (`security.*` other than capabilities) are the target system's and stay.
pub fn removable(name: &[u8]) -> bool {
    allowed(name) && (!name.starts_with(b"security.") || name == b"security.capability")
}

fn remove_stale(target: &Target<'_>, keep: &[Xattr]) {
    let c = match target {
        Target::Fd(_) => None,
        Target::NoFollow(p) | Target::ProcFd(p) => {
            match crate::sources::filesystem::place::cstr(p.as_os_str().as_bytes()) {
                Ok(c) => Some(c),
                Err(_) => return,
            }
        }
    };
    let names = sized(|b| {
        let (p, n) = (b.as_mut_ptr() as *mut libc::c_char, b.len());
        match (target, &c) {
            (Target::Fd(f), _) => unsafe { libc::flistxattr(f.as_raw_fd(), p, n) },
            (Target::NoFollow(_), Some(c)) => unsafe { libc::llistxattr(c.as_ptr(), p, n) },
            (_, Some(c)) => unsafe { libc::listxattr(c.as_ptr(), p, n) },
            _ => -1,
        }
    });
    let Ok(names) = names else { return };
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if !removable(name) || keep.iter().any(|(k, _)| k == name) {
            continue;
        }
        let Ok(n) = crate::sources::filesystem::place::cstr(name) else {
            continue;
        };
        // Best effort: what cannot be removed shows in verification.
        match (target, &c) {
            (Target::Fd(f), _) => unsafe { libc::fremovexattr(f.as_raw_fd(), n.as_ptr()) },
            (Target::NoFollow(_), Some(c)) => unsafe { libc::lremovexattr(c.as_ptr(), n.as_ptr()) },
            (_, Some(c)) => unsafe { libc::removexattr(c.as_ptr(), n.as_ptr()) },
            _ => 0,
        };
    }
}

/// Where attributes are set: an open file, or a path (through
/// `/proc/self/fd`) whose last component is followed or not.
pub enum Target<'a> {
    Fd(&'a std::fs::File),
    /// `lsetxattr`: the last component is not followed (a symlink's own).
    NoFollow(&'a Path),
    /// `setxattr` on `/proc/self/fd/N`: exactly the directory open as N.
    ProcFd(&'a Path),
}

/// What could not be given back, by kind, with how many attributes: one
/// warning per kind in the restore report, not one per file.
#[derive(Clone, Default)]
pub struct Skipped(Arc<Mutex<BTreeMap<String, u64>>>);

impl Skipped {
    pub fn note(&self, what: String) {
        *self.0.lock().unwrap().entry(what).or_default() += 1;
    }
    pub fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn namespace(name: &[u8]) -> String {
    if name.starts_with(b"system.posix_acl") {
        return "POSIX ACL".into();
    }
    if name == b"security.capability" {
        return "file capability (security.capability)".into();
    }
    let ns = name.split(|b| *b == b'.').next().unwrap_or_default();
    format!("{}.* extended attribute", String::from_utf8_lossy(ns))
}

/// Set `xattrs` on `target`. Set after owner and mode: `chown` clears
/// `security.capability`, and an access ACL and the mode's group bits
/// are one thing (the ACL, set last, wins, as it was at backup). An
/// attribute the target cannot hold is skipped and noted in `skipped`;
/// the entry is restored without it.
pub fn set(target: Target<'_>, xattrs: &[Xattr], skipped: &Skipped) {
    remove_stale(&target, xattrs);
    for (name, value) in xattrs {
        let Ok(n) = crate::sources::filesystem::place::cstr(name) else {
            continue;
        };
        let (v, len) = (value.as_ptr() as *const libc::c_void, value.len());
        let rc = match &target {
            Target::Fd(f) => unsafe { libc::fsetxattr(f.as_raw_fd(), n.as_ptr(), v, len, 0) },
            Target::NoFollow(p) | Target::ProcFd(p) => {
                let Ok(c) = crate::sources::filesystem::place::cstr(p.as_os_str().as_bytes())
                else {
                    continue;
                };
                if matches!(target, Target::NoFollow(_)) {
                    unsafe { libc::lsetxattr(c.as_ptr(), n.as_ptr(), v, len, 0) }
                } else {
                    unsafe { libc::setxattr(c.as_ptr(), n.as_ptr(), v, len, 0) }
                }
            }
        };
        if rc == 0 {
            continue;
        }
        let e = io::Error::last_os_error();
        let why = match e.raw_os_error() {
            Some(libc::ENOTSUP) => "the target filesystem does not support them".to_string(),
            Some(libc::EPERM | libc::EACCES) => {
                "not permitted (trusted.* needs root; user.* cannot be on a symlink)".to_string()
            }
            _ => format!(
                "refused by the target ({})",
                crate::sources::filesystem::walk::short_io(&e)
            ),
        };
        skipped.note(format!("{} could not be restored: {why}", namespace(name)));
    }
}
