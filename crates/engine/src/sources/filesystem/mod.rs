//! Filesystem source: walk, tar (PAX), file index, incrementals, safe extraction.
//!
//! A filesystem backup is two streams: a POSIX tar (PAX extensions for long,
//! non-UTF-8 names and sub-second mtimes) that any `tar -x` can read, and a
//! sidecar *file index* (JSON lines) listing every path in one total order,
//! [`path_cmp`]. That order is the walk order, so an incremental backup can
//! merge-join its parent's index against the live tree in O(1) memory, and a
//! restore can check the tar against the index entry by entry.
//!
//! This module only moves bytes over `std::io::Read`/`Write`: compression,
//! encryption and repositories are the caller's business.
//!
//! Extraction is our own loop, not `tar::Archive::unpack`, because a restore
//! must refuse (not skip) anything that could land outside its destination:
//! `..`, absolute names, writing through a symlink, devices, and hard links
//! to anything but a file the same restore wrote. Setuid/setgid bits are
//! restored only from an authenticated backup, as root; extended
//! attributes, ACLs and capabilities go with every entry (`xattrs`).
//! Symlinks themselves are restored verbatim, absolute ones too: their
//! targets are data, and nothing is written through one (`place`).
//!
//! Hard links, FIFOs and sparse files are kept as GNU tar keeps them (link
//! members, type `6`, PAX sparse 1.0), so the archive stays readable by any
//! `tar -x`; docs/FORMAT.md has the details.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

mod check;
pub(crate) mod content_hash;
mod extract;
mod file_threads;
mod hard_links;
mod index;
mod pax_tap;
mod place;
mod prefetch;
mod sparse;
mod tarball;
mod walk;
pub(crate) mod xattrs;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod xattr_tests;

pub use check::{plan_restore, verify_tree, RestorePlan, TreeCheck};
pub use extract::{extract, extract_with, ExtractOptions, ExtractOutcome};
pub use index::{EntryKind, IndexEntry, IndexReader, IndexWriter};
pub use prefetch::prefetch_metadata;
pub use tarball::{backup_tree, backup_tree_with, scan_totals, BackupOptions, BackupOutcome};

/// What to back up: absolute roots filtered by globs, plus generated files.
#[derive(Debug, Clone, Default)]
pub struct WalkSpec {
    /// Absolute paths; each may be a directory or a single file.
    pub roots: Vec<PathBuf>,
    /// Globs a file or symlink must match (absolute or root-relative path);
    /// empty means everything. Directories are always kept so the tree shape
    /// survives.
    pub include: Vec<String>,
    /// Globs (absolute or root-relative path) that drop a path and, for a
    /// directory, everything below it. Exclude wins over include.
    pub exclude: Vec<String>,
    /// Files that do not exist on disk but go into the archive (e.g. a
    /// generated listing), placed in walk order.
    pub extra: Vec<ExtraEntry>,
}

/// A generated file added to the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraEntry {
    /// Archive path (no leading `/`).
    pub path: Vec<u8>,
    pub data: Vec<u8>,
    /// Permission bits.
    pub mode: u32,
}

/// Where a restore writes archive path `p`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// `DIR/p`; nothing may land outside DIR.
    Under(PathBuf),
    /// `/p`: back where it came from.
    InPlace,
}

impl Dest {
    /// The directory archive paths are joined to.
    pub fn root(&self) -> &Path {
        match self {
            Dest::Under(dir) => dir,
            Dest::InPlace => Path::new("/"),
        }
    }
}

/// The walk order on archive paths: component by component, bytes within a
/// component. A directory sorts right before its contents, and all of a
/// directory's contents sort together (`a`, `a/b`, `a-b`).
pub fn path_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let mut ai = a.split(|c| *c == b'/').filter(|c| !c.is_empty());
    let mut bi = b.split(|c| *c == b'/').filter(|c| !c.is_empty());
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match x.cmp(y) {
                Ordering::Equal => continue,
                other => return other,
            },
        }
    }
}

/// Archive path of an absolute path: its bytes without the leading `/`.
pub(crate) fn archive_path(abs: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let b = abs.as_os_str().as_bytes();
    let start = b.iter().take_while(|c| **c == b'/').count();
    b[start..].to_vec()
}

/// For messages: the path as an operator reads it (lossy for non-UTF-8).
pub(crate) fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}
