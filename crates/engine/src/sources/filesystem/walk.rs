//! The deterministic walk that defines [`path_cmp`] order.
//!
//! Roots are sorted and de-duplicated (a root inside another root is covered
//! by it); each root's ancestors are emitted once as directories so their
//! modes restore; below a root the walk is depth-first with every
//! directory's names sorted by bytes. Only one sorted name list per open
//! directory is held, so memory follows the tree's depth, not its size.
//! Extra entries are merged in at their place in the order.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Component, Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::{archive_path, path_cmp, EntryKind, ExtraEntry, WalkSpec};
use crate::error::{Error, Result};

/// One thing the walk found.
pub(crate) struct WalkItem<'a> {
    pub abs: PathBuf,
    pub archive: Vec<u8>,
    pub kind: EntryKind,
    /// None for extra entries.
    pub meta: Option<Metadata>,
    pub extra: Option<&'a ExtraEntry>,
}

struct Frame {
    dir: PathBuf,
    root: PathBuf,
    /// Sorted descending so `pop` yields the next name.
    names: Vec<OsString>,
}

struct Filter {
    include: Option<GlobSet>,
    exclude: GlobSet,
}

fn globset(globs: &[String], what: &str) -> Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        let glob = Glob::new(g).map_err(|e| {
            Error::usage(format!("{what} pattern {g:?} is not a valid glob: {e}"))
                .hint("fix [sources.filesystem] include/exclude in the config")
        })?;
        b.add(glob);
    }
    b.build()
        .map_err(|e| Error::usage(format!("{what} patterns cannot be compiled: {e}")))
}

impl Filter {
    fn matches(set: &GlobSet, abs: &Path, root: &Path) -> bool {
        if set.is_match(abs) {
            return true;
        }
        match abs.strip_prefix(root) {
            Ok(rel) if !rel.as_os_str().is_empty() => set.is_match(rel),
            _ => false,
        }
    }
    fn excluded(&self, abs: &Path, root: &Path) -> bool {
        Self::matches(&self.exclude, abs, root)
    }
    fn included(&self, abs: &Path, root: &Path) -> bool {
        match &self.include {
            None => true,
            Some(set) => Self::matches(set, abs, root),
        }
    }
}

/// Normalize a root: absolute, no `.`/`..`, no trailing slash.
fn normalize_root(p: &Path) -> Result<PathBuf> {
    if !p.is_absolute() {
        return Err(
            Error::usage(format!("source path {} is not absolute", p.display()))
                .hint("fix [sources.filesystem] paths in the config: use absolute paths"),
        );
    }
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Prefix(_) => {}
        }
    }
    Ok(out)
}

/// Walks a [`WalkSpec`] in [`path_cmp`] order, collecting warnings for
/// things skipped (special files, unreadable directories).
pub(crate) struct Walker<'a> {
    filter: Filter,
    roots: Vec<PathBuf>,
    next_root: usize,
    emitted_ancestors: Vec<PathBuf>,
    pending: VecDeque<WalkItem<'a>>,
    stack: Vec<Frame>,
    extras: Vec<&'a ExtraEntry>,
    next_extra: usize,
    peeked: Option<WalkItem<'a>>,
    pub warnings: Vec<String>,
}

impl<'a> Walker<'a> {
    /// Check the spec (globs, every root exists) before anything is written.
    pub fn new(spec: &'a WalkSpec) -> Result<Self> {
        let filter = Filter {
            include: if spec.include.is_empty() {
                None
            } else {
                Some(globset(&spec.include, "include")?)
            },
            exclude: globset(&spec.exclude, "exclude")?,
        };
        let mut roots = Vec::new();
        for r in &spec.roots {
            let n = normalize_root(r)?;
            if let Err(e) = fs::symlink_metadata(&n) {
                if e.kind() == std::io::ErrorKind::NotFound {
                    return Err(Error::not_found(format!(
                        "source path {} does not exist",
                        n.display()
                    ))
                    .hint("fix [sources.filesystem] paths in the config or create it"));
                }
                return Err(Error::io("read source path", &n, e));
            }
            roots.push(n);
        }
        roots.sort_by(|a, b| path_cmp(&archive_path(a), &archive_path(b)));
        // Drop roots covered by an earlier root (sorted order puts the
        // ancestor first).
        let mut kept: Vec<PathBuf> = Vec::new();
        for r in roots {
            if !kept.iter().any(|k| r.starts_with(k)) {
                kept.push(r);
            }
        }
        let mut extras: Vec<&ExtraEntry> = spec.extra.iter().collect();
        extras.sort_by(|a, b| path_cmp(&a.path, &b.path));
        extras.dedup_by(|a, b| path_cmp(&a.path, &b.path) == Ordering::Equal);
        Ok(Walker {
            filter,
            roots: kept,
            next_root: 0,
            emitted_ancestors: Vec::new(),
            pending: VecDeque::new(),
            stack: Vec::new(),
            extras,
            next_extra: 0,
            peeked: None,
            warnings: Vec::new(),
        })
    }

    /// Classify a path from its lstat; None (with a warning) for special files.
    fn item(&mut self, abs: PathBuf, meta: Metadata) -> Option<WalkItem<'a>> {
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_file() {
            EntryKind::File
        } else if ft.is_symlink() {
            EntryKind::Symlink
        } else if ft.is_fifo() {
            EntryKind::Fifo
        } else {
            let what = if ft.is_socket() { "socket" } else { "device" };
            self.warnings
                .push(format!("skipped {what} (not backed up): {}", abs.display()));
            return None;
        };
        Some(WalkItem {
            archive: archive_path(&abs),
            abs,
            kind,
            meta: Some(meta),
            extra: None,
        })
    }

    /// Open a directory for descent: read and sort its names.
    fn descend(&mut self, dir: &Path, root: &Path) {
        let rd = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) => {
                self.warnings
                    .push(format!("cannot read {}: {}", dir.display(), short_io(&e)));
                return;
            }
        };
        let mut names = Vec::new();
        for ent in rd {
            match ent {
                Ok(ent) => names.push(ent.file_name()),
                Err(e) => {
                    self.warnings
                        .push(format!("cannot read {}: {}", dir.display(), short_io(&e)));
                    break;
                }
            }
        }
        names.sort_by(|a, b| b.as_bytes().cmp(a.as_bytes()));
        self.stack.push(Frame {
            dir: dir.to_path_buf(),
            root: root.to_path_buf(),
            names,
        });
    }

    /// Queue the next root: its not-yet-emitted ancestors, then itself.
    fn start_root(&mut self, root: PathBuf) {
        let ancestors: Vec<PathBuf> = root
            .ancestors()
            .skip(1)
            .filter(|a| a.parent().is_some())
            .map(Path::to_path_buf)
            .collect();
        self.emitted_ancestors.retain(|a| root.starts_with(a));
        for a in ancestors.into_iter().rev() {
            if self.emitted_ancestors.contains(&a) {
                continue;
            }
            // Ancestors are followed (a symlinked /srv still restores as a
            // directory holding the root).
            match fs::metadata(&a) {
                Ok(m) => self.pending.push_back(WalkItem {
                    archive: archive_path(&a),
                    abs: a.clone(),
                    kind: EntryKind::Dir,
                    meta: Some(m),
                    extra: None,
                }),
                Err(e) => {
                    self.warnings
                        .push(format!("cannot read {}: {}", a.display(), short_io(&e)))
                }
            }
            self.emitted_ancestors.push(a);
        }
        if root.parent().is_none() {
            // The root is `/` itself: no entry, just its contents.
            self.descend(&root.clone(), &root);
            return;
        }
        if self.filter.excluded(&root, &root) {
            return;
        }
        match fs::symlink_metadata(&root) {
            Ok(m) => {
                if m.file_type().is_symlink() {
                    self.warnings.push(format!(
                        "source path {} is a symlink: only the link is backed up, not its target",
                        root.display()
                    ));
                }
                if let Some(it) = self.item(root.clone(), m) {
                    self.pending.push_back(it);
                }
            }
            Err(e) => {
                self.warnings
                    .push(format!("cannot read {}: {}", root.display(), short_io(&e)))
            }
        }
    }

    /// The next item of the filesystem walk alone (no extras).
    fn next_walked(&mut self) -> Option<WalkItem<'a>> {
        loop {
            if let Some(it) = self.pending.pop_front() {
                // A root that is a directory: descend after emitting it.
                if it.kind == EntryKind::Dir
                    && self.roots.get(self.next_root.wrapping_sub(1)) == Some(&it.abs)
                {
                    let root = it.abs.clone();
                    self.descend(&root, &root);
                }
                return Some(it);
            }
            if let Some(frame) = self.stack.last_mut() {
                let Some(name) = frame.names.pop() else {
                    self.stack.pop();
                    continue;
                };
                let abs = frame.dir.join(&name);
                let root = frame.root.clone();
                if self.filter.excluded(&abs, &root) {
                    continue;
                }
                let meta = match fs::symlink_metadata(&abs) {
                    Ok(m) => m,
                    Err(e) => {
                        self.warnings.push(format!(
                            "cannot read {}: {}",
                            abs.display(),
                            short_io(&e)
                        ));
                        continue;
                    }
                };
                let Some(it) = self.item(abs, meta) else {
                    continue;
                };
                if it.kind == EntryKind::Dir {
                    self.descend(&it.abs.clone(), &root);
                } else if !self.filter.included(&it.abs, &root) {
                    continue;
                }
                return Some(it);
            }
            if self.next_root < self.roots.len() {
                let root = self.roots[self.next_root].clone();
                self.next_root += 1;
                self.start_root(root);
                continue;
            }
            return None;
        }
    }
}

impl<'a> Iterator for Walker<'a> {
    type Item = WalkItem<'a>;

    fn next(&mut self) -> Option<WalkItem<'a>> {
        if self.peeked.is_none() {
            self.peeked = self.next_walked();
        }
        let extra = self.extras.get(self.next_extra).copied();
        let take_extra = match (&self.peeked, extra) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(w), Some(x)) => path_cmp(&x.path, &w.archive) != Ordering::Greater,
        };
        if take_extra {
            let x = extra.expect("checked");
            self.next_extra += 1;
            if let Some(w) = &self.peeked {
                if path_cmp(&x.path, &w.archive) == Ordering::Equal {
                    self.warnings.push(format!(
                        "{} is replaced by a generated entry of the same name",
                        w.abs.display()
                    ));
                    self.peeked = None;
                }
            }
            let mut abs = PathBuf::from("/");
            abs.push(std::ffi::OsStr::from_bytes(&x.path));
            return Some(WalkItem {
                abs,
                archive: x.path.clone(),
                kind: EntryKind::File,
                meta: None,
                extra: Some(x),
            });
        }
        self.peeked.take()
    }
}

/// An I/O error in plain words for a warning line.
pub(crate) fn short_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "it vanished during the backup".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}
