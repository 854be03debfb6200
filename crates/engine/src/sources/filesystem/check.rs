//! Looking before and after a restore: what it would change, and whether a
//! restored tree matches its index.

use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::place::check_name;
use super::place::Place;
use super::{show, Dest, EntryKind, IndexEntry};
use crate::error::{Error, Result};

/// How many paths of each kind a plan lists by name (counts are complete).
pub const PLAN_SHOWN: usize = 50;
/// How many problems a tree check lists by name.
const PROBLEMS_SHOWN: usize = 200;

/// What a restore of one artifact would do at its destination.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RestorePlan {
    pub create: u64,
    pub overwrite: u64,
    pub delete: u64,
    /// Paths already as the backup has them (same kind, size and mtime).
    pub unchanged: u64,
    /// Entries this artifact does not carry (unchanged since its parent).
    pub not_stored: u64,
    /// Bytes of file content in the restored tree.
    pub bytes: u64,
    /// Free space the destination's file system needs for this restore:
    /// new files whole (in 4 KiB blocks, hard links once), replaced files
    /// by what they grow, plus room for the largest replaced file, since
    /// each file is written beside its final name and then renamed.
    pub needs: u64,
    /// The first [`PLAN_SHOWN`] destination paths of each kind.
    pub shown_create: Vec<PathBuf>,
    pub shown_overwrite: Vec<PathBuf>,
    pub shown_delete: Vec<PathBuf>,
    all_replaced: Vec<PathBuf>,
}

impl RestorePlan {
    /// Every existing destination path the restore will overwrite or delete
    /// (complete, in index order): what a safety copy must hold.
    pub fn overwrite_paths(&self) -> &[PathBuf] {
        &self.all_replaced
    }
}

fn push_shown(v: &mut Vec<PathBuf>, p: &Path) {
    if v.len() < PLAN_SHOWN {
        v.push(p.to_path_buf());
    }
}

fn ns(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// Whether what exists at a path already matches the entry (cheap: no
/// content read; size and mtime for files).
fn same(e: &IndexEntry, m: &Metadata, target: &PathBuf, place: &Place) -> bool {
    let ft = m.file_type();
    match e.kind {
        EntryKind::File => {
            ft.is_file() && m.len() == e.size && ns(m.mtime(), m.mtime_nsec()) == e.mtime_ns
        }
        EntryKind::Dir => ft.is_dir() || place.is_host_dir_link(target),
        EntryKind::Symlink => {
            ft.is_symlink()
                && fs::read_link(target)
                    .ok()
                    .map(|t| t.as_os_str().as_bytes().to_vec())
                    == e.link_target
        }
        EntryKind::Fifo => ft.is_fifo(),
        EntryKind::Deleted => false,
    }
}

/// Compare an index with a destination without changing anything.
pub fn plan_restore(
    index: &mut dyn Iterator<Item = Result<IndexEntry>>,
    dest: &Dest,
) -> Result<RestorePlan> {
    let mut place = Place::new(dest, false)?;
    let mut plan = RestorePlan::default();
    let mut linked = std::collections::HashSet::new();
    let mut largest_replaced = 0;
    for e in index {
        let e = e?;
        check_name(&e.path)?;
        // A chain restore writes every entry of the final index, including
        // those an incremental carries over unchanged from its parents.
        if e.kind != EntryKind::Deleted && !e.stored {
            plan.not_stored += 1;
        }
        if e.kind == EntryKind::File {
            plan.bytes += e.size;
        }
        let target = place.target(&e.path);
        let reachable = place.ancestors(&e.path, false)?;
        let existing = if reachable {
            match fs::symlink_metadata(&target) {
                Ok(m) => Some(m),
                Err(err) if err.kind() == io::ErrorKind::NotFound => None,
                Err(err) => return Err(Error::io("inspect", &target, err)),
            }
        } else {
            None
        };
        if e.kind == EntryKind::File && (e.ino == 0 || linked.insert((e.dev, e.ino))) {
            // A sparse file takes the blocks of its data, not its size.
            let takes = if e.sparse { e.sparse_data } else { e.size };
            match &existing {
                Some(m) if m.file_type().is_file() => {
                    plan.needs += takes.saturating_sub(m.blocks() * 512);
                    largest_replaced = largest_replaced.max(takes);
                }
                _ => plan.needs += takes.div_ceil(4096) * 4096,
            }
        }
        match (e.kind, existing) {
            (EntryKind::Deleted, Some(_)) => {
                plan.delete += 1;
                push_shown(&mut plan.shown_delete, &target);
                plan.all_replaced.push(target);
            }
            (EntryKind::Deleted, None) => {}
            (_, None) => {
                plan.create += 1;
                push_shown(&mut plan.shown_create, &target);
            }
            (_, Some(m)) if same(&e, &m, &target, &place) => plan.unchanged += 1,
            (_, Some(_)) => {
                plan.overwrite += 1;
                push_shown(&mut plan.shown_overwrite, &target);
                plan.all_replaced.push(target);
            }
        }
    }
    plan.needs += largest_replaced;
    Ok(plan)
}

/// Result of checking a restored tree against an index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeCheck {
    /// Index entries checked.
    pub checked: u64,
    /// One line per mismatch (the first few hundred, then a count).
    pub problems: Vec<String>,
}

/// The file's content digest in the index's form (`content_hash`).
fn content_digest(path: &PathBuf, sparse: bool) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = super::content_hash::ContentHasher::new(sparse);
    let mut buf = vec![0u8; super::content_hash::BLOCK];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finish())
}

/// Check every entry of an index against the tree at `dest`: kind, size,
/// content hash, symlink target and mode; deleted paths must be absent.
pub fn verify_tree(
    index: &mut dyn Iterator<Item = Result<IndexEntry>>,
    dest: &Dest,
) -> Result<TreeCheck> {
    let mut place = Place::new(dest, false)?;
    let mut out = TreeCheck::default();
    let mut extra_problems = 0u64;
    for e in index {
        let e = e?;
        check_name(&e.path)?;
        out.checked += 1;
        let target = place.target(&e.path);
        let name = show(&e.path);
        let meta = if place.ancestors(&e.path, false)? {
            fs::symlink_metadata(&target).ok()
        } else {
            None
        };
        let problem = match (e.kind, meta) {
            (EntryKind::Deleted, None) => None,
            (EntryKind::Deleted, Some(_)) => {
                Some(format!("{name}: should have been deleted but exists"))
            }
            (_, None) => Some(format!("{name}: missing")),
            (EntryKind::Dir, Some(_)) if place.is_host_dir_link(&target) => None,
            (kind, Some(m)) => match check_entry(&e, kind, &m, &target, &name) {
                Some(p) => Some(p),
                None => check_hard_link(&e, &m, &mut place, &name)?,
            },
        };
        if let Some(p) = problem {
            if out.problems.len() < PROBLEMS_SHOWN {
                out.problems.push(p);
            } else {
                extra_problems += 1;
            }
        }
    }
    if extra_problems > 0 {
        out.problems
            .push(format!("... and {extra_problems} more problems"));
    }
    Ok(out)
}

/// A file the index records as another name of an earlier one must be
/// the same inode as it.
fn check_hard_link(
    e: &IndexEntry,
    m: &Metadata,
    place: &mut Place,
    name: &str,
) -> Result<Option<String>> {
    let Some(first) = &e.hard_link else {
        return Ok(None);
    };
    check_name(first)?;
    let same = place.ancestors(first, false)?
        && fs::symlink_metadata(place.target(first))
            .is_ok_and(|f| f.is_file() && (f.dev(), f.ino()) == (m.dev(), m.ino()));
    Ok((!same).then(|| format!("{name}: is not a hard link of {}", show(first))))
}

fn check_entry(
    e: &IndexEntry,
    kind: EntryKind,
    m: &Metadata,
    target: &PathBuf,
    name: &str,
) -> Option<String> {
    let ft = m.file_type();
    // setuid/setgid come back only from an authenticated backup, as root.
    let want_mode = e.mode & 0o7777;
    let mode = m.permissions().mode() & 0o7777;
    if kind != EntryKind::Deleted {
        let got = super::xattrs::read(super::xattrs::Source::Path(target)).map(|mut x| {
            // A label the target's security module gives every file is
            // not the backup's to judge, unless the backup had some.
            if e.xattr_sha256.is_none() {
                x.retain(|(n, _)| super::xattrs::removable(n));
            }
            x
        });
        match got.as_ref().map(|x| super::xattrs::digest(x)) {
            Ok(h) if h == e.xattr_sha256 => {}
            Ok(_) => {
                return Some(format!(
                    "{name}: extended attributes (ACLs, capabilities) differ"
                ))
            }
            Err(err) => return Some(format!("{name}: extended attributes cannot be read: {err}")),
        }
    }
    match kind {
        EntryKind::File => {
            if !ft.is_file() {
                return Some(format!("{name}: is not a regular file"));
            }
            if m.len() != e.size {
                return Some(format!("{name}: size {} instead of {}", m.len(), e.size));
            }
            match content_digest(target, e.sparse) {
                Ok(h) if Some(&h) == e.sha256.as_ref() => {}
                Ok(_) => return Some(format!("{name}: content differs (SHA-256 mismatch)")),
                Err(err) => return Some(format!("{name}: cannot be read: {err}")),
            }
        }
        EntryKind::Dir => {
            if !ft.is_dir() {
                return Some(format!("{name}: is not a directory"));
            }
        }
        EntryKind::Symlink => {
            if !ft.is_symlink() {
                return Some(format!("{name}: is not a symlink"));
            }
            let t = fs::read_link(target)
                .ok()
                .map(|t| t.as_os_str().as_bytes().to_vec());
            if t != e.link_target {
                return Some(format!("{name}: symlink points elsewhere"));
            }
            return None;
        }
        EntryKind::Fifo => {
            if !ft.is_fifo() {
                return Some(format!("{name}: is not a FIFO"));
            }
        }
        EntryKind::Deleted => return None,
    }
    if mode != want_mode && mode != want_mode & 0o1777 {
        return Some(format!("{name}: mode {mode:o} instead of {want_mode:o}"));
    }
    None
}
