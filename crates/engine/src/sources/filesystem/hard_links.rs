//! Hard links in a restore: link members checked before anything is made,
//! and the names of one inode made one inode again once every file is in
//! place.
//!
//! Links are made last, not as their members are read: the file a member
//! names may still be on its way into place on the file threads, under a
//! temp name. Every link is `linkat` to a temp name beside its target and
//! `renameat` over it, relative to directories reached without following a
//! symlink (`place`), so a link in the way is replaced, never followed.

use std::collections::HashMap;
use std::io;
use std::os::unix::io::AsRawFd;

use super::place::{check_name, entry_at, io_err, refuse, temp_name};
use super::place::{cstr, lstat_at, rename_at, unlink_at, Place};
use super::{show, IndexEntry};
use crate::error::{Error, Result};

/// The names of inodes with several names, from the whole index (stored
/// entries and unchanged ones alike), to be made one inode again once
/// every file is in place.
#[derive(Default)]
pub(super) struct Relink {
    /// SHA-256 of each file with more than one name, by path.
    pub sha: HashMap<Vec<u8>, Option<String>>,
    /// (name, first name of its inode, its SHA-256), in index order.
    pub names: Vec<(Vec<u8>, Vec<u8>, Option<String>)>,
}

impl Relink {
    pub fn note(&mut self, e: &IndexEntry) {
        if e.nlink > 1 {
            self.sha.insert(e.path.clone(), e.sha256.clone());
        }
        if let Some(first) = &e.hard_link {
            self.names
                .push((e.path.clone(), first.clone(), e.sha256.clone()));
        }
    }
}

/// Check a hard-link member (`path` naming `first`) before anything is
/// made: no content, a name inside the destination, and `first` a file
/// this same restore has written that the index says is the same inode.
/// Nothing is ever linked to a path the restore did not write itself.
pub(super) fn check_member(
    path: &[u8],
    first: &[u8],
    size: u64,
    idx: &IndexEntry,
    group_files: &HashMap<Vec<u8>, (u64, u64, Option<String>)>,
) -> Result<()> {
    if size != 0 {
        return Err(refuse(path, "hard link with content"));
    }
    if check_name(first).is_err() {
        return Err(refuse(
            path,
            &format!(
                "hard link to {:?}: an empty or absolute name, or one with `.` or `..`",
                show(first)
            ),
        ));
    }
    let known = match group_files.get(first) {
        Some((dev, ino, sha)) if (*dev, *ino) == (idx.dev, idx.ino) && *sha == idx.sha256 => Ok(()),
        Some(_) => Err(refuse(
            path,
            &format!(
                "hard link to {}, which the file index records as another file",
                show(first)
            ),
        )),
        None => Err(refuse(
            path,
            &format!(
                "hard link to {}, which this restore has not written before it",
                show(first)
            ),
        )),
    };
    known?;
    if idx.hard_link.is_none() {
        return Err(Error::integrity(format!(
            "archive entry {} is a hard link but the file index records no other name for it",
            show(path)
        ))
        .hint("the archive and its manifest do not belong together or one is damaged"));
    }
    Ok(())
}

/// Make `path` another name of the regular file at `first`: `linkat` to a
/// temp name beside `path`, then `renameat` over it, both relative to
/// directories reached without following a symlink (and `linkat` without
/// `AT_SYMLINK_FOLLOW` never follows one either). Already one inode:
/// nothing to do. `required` (a hard-link member of this tar): `first`
/// must be there. Otherwise (an index entry made one inode again) a
/// missing or changed `first`, or a `path` that is not a restored file,
/// is left as it is: both names then hold their own copy.
pub(super) fn link_name(
    place: &mut Place,
    path: &[u8],
    first: &[u8],
    required: bool,
) -> Result<()> {
    check_name(first)?;
    let missing = || {
        Error::integrity(format!(
            "cannot make {} a hard link of {}: that file is not in the restored tree",
            show(path),
            show(first)
        ))
        .hint("the archive is damaged; verify it and use another backup")
    };
    let first_st = match entry_at(place, first, false)? {
        Some(t) => match lstat_at(&t.dir, &t.name) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => Some((t, st)),
            _ => None,
        },
        None => None,
    };
    let Some((first_at, first_st)) = first_st else {
        return if required { Err(missing()) } else { Ok(()) };
    };
    let Some(at) = entry_at(place, path, required)? else {
        return Ok(());
    };
    match lstat_at(&at.dir, &at.name) {
        Ok(st) if (st.st_dev, st.st_ino) == (first_st.st_dev, first_st.st_ino) => return Ok(()),
        Ok(st) if !required && st.st_mode & libc::S_IFMT != libc::S_IFREG => return Ok(()),
        Ok(_) => {}
        Err(_) if !required => return Ok(()),
        Err(_) => {}
    }
    let tmp = cstr(&temp_name()).expect("temp names have no NUL");
    let rc = unsafe {
        libc::linkat(
            first_at.dir.as_raw_fd(),
            first_at.name.as_ptr(),
            at.dir.as_raw_fd(),
            tmp.as_ptr(),
            0,
        )
    };
    if rc != 0 {
        return Err(Error::io(
            "create hard link",
            &at.target,
            io::Error::last_os_error(),
        ));
    }
    let res = rename_at(&at.dir, &tmp, &at.name).map_err(io_err("move into place", &at.target));
    // Gone after a rename, unless the rename found both names one inode
    // already (then it does nothing and the temp name stays).
    let _ = unlink_at(&at.dir, &tmp);
    res
}
