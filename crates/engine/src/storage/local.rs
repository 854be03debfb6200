//! A repository in a local directory.
//!
//! Layout: `<root>/{database,filesystem,configuration,state}/` holding
//! payloads and their `.manifest.json` sidecars, plus `<root>/audit/audit.jsonl`.
//! Work in progress is written to hidden `.partial.<pid>.<rand>.<name>` files
//! that no reader ever takes for an artifact, and that are removed when the
//! process that wrote them is found dead.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::archive::manifest::{BackupType, Manifest, MANIFEST_SUFFIX};
use crate::error::{Error, Result};

/// Prefix of in-progress files.
pub const PARTIAL_PREFIX: &str = ".partial.";

/// Where a database restore keeps its plaintext dump while it runs
/// (`<repository>/.restore-tmp/<pid>-<random>/`).
pub const RESTORE_SCRATCH: &str = ".restore-tmp";

/// Remove the `<pid>-...` directories under `base` whose process is dead:
/// scratch space (plaintext, often) that a killed process never cleaned.
pub fn remove_dead_scratch(base: &Path, is_alive: &dyn Fn(u32) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(base) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let digits: String = name
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let Ok(pid) = digits.parse::<u32>() else {
            continue;
        };
        if !is_alive(pid) && remove_tree(&entry.path()).is_ok() {
            removed.push(entry.path());
        }
    }
    removed
}

/// A repository rooted at a local directory.
#[derive(Debug, Clone)]
pub struct Repository {
    pub root: PathBuf,
}

/// A manifest found by a scan, with where it was found.
pub struct FoundManifest {
    pub manifest_path: PathBuf,
    pub manifest: Result<Manifest>,
}

impl Repository {
    /// Open a repository, creating its directories (0700) if needed.
    pub fn open(root: &Path) -> Result<Repository> {
        create_dir_all_private(root)?;
        for t in BackupType::ALL {
            create_dir_all_private(&root.join(t.dir()))?;
        }
        create_dir_all_private(&root.join("audit"))?;
        Ok(Repository {
            root: root.to_path_buf(),
        })
    }

    /// Open an existing repository without creating anything (used by
    /// recovery and `catalog rebuild`, which must not invent a repository).
    pub fn open_existing(root: &Path) -> Result<Repository> {
        if !root.is_dir() {
            return Err(Error::not_found(format!(
                "repository {} does not exist or is not a directory",
                root.display()
            ))
            .hint(
                "check [repository] path in the config, or pass the backup directory explicitly",
            ));
        }
        Ok(Repository {
            root: root.to_path_buf(),
        })
    }

    pub fn type_dir(&self, t: BackupType) -> PathBuf {
        self.root.join(t.dir())
    }

    /// Whether `path` names a file directly in one of this repository's
    /// type directories (symlinks and `..` resolved): the only places any
    /// verb may delete from.
    pub fn holds(&self, path: &Path) -> bool {
        let root = fs::canonicalize(&self.root).unwrap_or_else(|_| self.root.clone());
        let dir = path.parent().and_then(|d| fs::canonicalize(d).ok());
        let named = path.file_name().is_some_and(|n| n != ".." && n != ".");
        named
            && dir.is_some_and(|d| {
                d.parent() == Some(root.as_path())
                    && BackupType::ALL
                        .iter()
                        .any(|t| d.file_name() == Some(std::ffi::OsStr::new(t.dir())))
            })
    }

    /// Create a new in-progress file in the type's directory, 0600, never
    /// clobbering. Its name tells whoever finds it that it is not an artifact.
    pub fn create_partial(&self, t: BackupType, final_name: &str) -> Result<(File, PathBuf)> {
        let dir = self.type_dir(t);
        create_dir_all_private(&dir)?;
        let path = dir.join(format!(
            "{PARTIAL_PREFIX}{}.{:08x}.{final_name}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io("cannot create", &path, e))?;
        Ok((file, path))
    }

    /// Give a complete, fsynced partial file its final name without ever
    /// replacing an existing file: `name`, else `name` with `_2`, `_3`... before
    /// the first dot-extension. Returns the final path.
    ///
    /// `claim` runs before each candidate name is linked (the job records it
    /// as its partial output, so a crash right after the link leaves a name
    /// the next start can clean); `release` runs when the name turned out to
    /// be taken by another artifact, which must then never be listed as ours.
    pub fn publish(
        &self,
        partial: &Path,
        t: BackupType,
        name: &str,
        claim: &dyn Fn(&Path) -> Result<()>,
        release: &dyn Fn(&Path),
    ) -> Result<PathBuf> {
        let dir = self.type_dir(t);
        let (stem, ext) = split_name(name);
        // Held from "is the name free" to "linked": a dead job's cleanup
        // (which holds it too) never sees a name claimed but not yet ours.
        let _lock = lock_names(&dir)?;
        for n in 1..1000 {
            let candidate = if n == 1 {
                name.to_string()
            } else {
                format!("{stem}_{n}{ext}")
            };
            let target = dir.join(&candidate);
            if target.exists() {
                continue;
            }
            claim(&target)?;
            match fs::hard_link(partial, &target) {
                Ok(()) => {
                    fs::remove_file(partial).map_err(|e| Error::io("cannot remove", partial, e))?;
                    fsync_dir(&dir)?;
                    return Ok(target);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    release(&target);
                    continue;
                }
                Err(e) => {
                    release(&target);
                    return Err(Error::io("cannot publish artifact", &target, e));
                }
            }
        }
        Err(Error::refused(format!(
            "too many artifacts named like {name} in {}",
            dir.display()
        )))
    }

    /// Publish a sidecar whose name is fixed by its payload's final name.
    pub fn publish_exact(&self, partial: &Path, target: &Path) -> Result<()> {
        fs::hard_link(partial, target).map_err(|e| Error::io("cannot publish", target, e))?;
        fs::remove_file(partial).map_err(|e| Error::io("cannot remove", partial, e))?;
        if let Some(dir) = target.parent() {
            fsync_dir(dir)?;
        }
        Ok(())
    }

    /// Every manifest in the repository, sorted by path. Unreadable ones are
    /// returned with their error so callers can report rather than skip.
    pub fn scan_manifests(&self) -> Result<Vec<FoundManifest>> {
        let mut found = Vec::new();
        for t in BackupType::ALL {
            let dir = self.type_dir(t);
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("cannot list", &dir, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| Error::io("cannot list", &dir, e))?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') || !name.ends_with(MANIFEST_SUFFIX) {
                    continue;
                }
                let path = entry.path();
                found.push(FoundManifest {
                    manifest: read_manifest(&path),
                    manifest_path: path,
                });
            }
        }
        found.sort_by(|a, b| a.manifest_path.cmp(&b.manifest_path));
        Ok(found)
    }

    /// Remove partial files left by processes that are no longer alive, and
    /// the plaintext scratch a dead database restore left in
    /// `.restore-tmp/<pid>-<random>/`.
    pub fn clean_stale_partials(&self, is_alive: &dyn Fn(u32) -> bool) -> Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        for t in BackupType::ALL {
            let dir = self.type_dir(t);
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let Some(rest) = name.strip_prefix(PARTIAL_PREFIX) else {
                    continue;
                };
                let pid: Option<u32> = rest.split('.').next().and_then(|p| p.parse().ok());
                if let Some(pid) = pid {
                    if !is_alive(pid) {
                        let path = entry.path();
                        if fs::remove_file(&path).is_ok() {
                            removed.push(path);
                        }
                    }
                }
            }
        }
        removed.extend(remove_dead_scratch(
            &self.root.join(RESTORE_SCRATCH),
            is_alive,
        ));
        Ok(removed)
    }

    /// The committed artifact that owns `path` (its payload, index, manifest
    /// or verification record), by the names docs/FORMAT.md fixes:
    /// `<payload>.manifest.json`, `<payload>.index`, `<payload>.verified.json`. A file a manifest claims is part of a backup
    /// and is never cleaned up as some dead job's partial output.
    pub fn committed_owner(path: &Path) -> Option<Manifest> {
        let name = path.file_name()?.to_string_lossy().into_owned();
        let dir = path.parent()?;
        let mut candidates = vec![format!("{name}{MANIFEST_SUFFIX}")];
        if name.ends_with(MANIFEST_SUFFIX) {
            candidates.push(name.clone());
        }
        let record = name.strip_suffix(".verified.json");
        for stem in [name.strip_suffix(".index"), record].into_iter().flatten() {
            candidates.push(format!("{stem}{MANIFEST_SUFFIX}"));
        }
        candidates.into_iter().find_map(|c| {
            let m = read_manifest(&dir.join(&c)).ok()?;
            let claims = c == name
                || m.payload.file == name
                || record == Some(m.payload.file.as_str())
                || m.index.as_ref().is_some_and(|i| i.file == name);
            claims.then_some(m)
        })
    }

    /// The committed manifest of backup `id`, whose payload was to be named
    /// like `payload_name` (publishing may have added `_2`, `_3`...).
    pub fn find_committed(
        &self,
        t: BackupType,
        id: &str,
        payload_name: &str,
    ) -> Option<(Manifest, PathBuf)> {
        let (stem, _) = split_name(payload_name);
        let dir = self.type_dir(t);
        fs::read_dir(&dir).ok()?.flatten().find_map(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !name.starts_with(stem) || !name.ends_with(MANIFEST_SUFFIX) {
                return None;
            }
            let path = entry.path();
            read_manifest(&path)
                .ok()
                .filter(|m| m.id == id)
                .map(|m| (m, path))
        })
    }

    /// The repository copy of the audit log (JSON lines, hash-chained).
    pub fn audit_log_path(&self) -> PathBuf {
        self.root.join("audit").join("audit.jsonl")
    }

    /// Append one line to the repository audit log and fsync it.
    pub fn append_audit_line(&self, line: &str) -> Result<()> {
        self.append_audit_with(|| Ok(line.to_string()))
    }

    /// Append the line `make` returns, holding an exclusive lock on the
    /// audit log from before `make` runs until the line is on disk. `make`
    /// appends the record to the catalog's chain: with the lock, every
    /// thread and process writes its rows to both copies in the same order
    /// (without it, two concurrent jobs could land rows 2 and 3 in the
    /// catalog and 3 before 2 here, and the chain check would cry tamper).
    /// If the log cannot be opened, `make` still runs (the catalog keeps
    /// the record) and the open error is returned.
    pub fn append_audit_with(&self, make: impl FnOnce() -> Result<String>) -> Result<()> {
        let path = self.audit_log_path();
        let opened = path
            .parent()
            .map_or(Ok(()), create_dir_all_private)
            .and_then(|()| {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(|e| Error::io("cannot open audit log", &path, e))
            });
        let mut f = match opened {
            Ok(f) => f,
            Err(e) => {
                make()?;
                return Err(e);
            }
        };
        // flock, as `lock_names`; released when `f` closes.
        if let Err(e) = f.lock() {
            make()?;
            return Err(Error::io("cannot lock audit log", &path, e));
        }
        let mut buf = make()?.trim_end().as_bytes().to_vec();
        buf.push(b'\n');
        f.write_all(&buf)
            .and_then(|_| f.sync_data())
            .map_err(|e| Error::io("cannot append to audit log", &path, e))
    }

    /// Number of lines of the repository audit log (0 if absent).
    pub fn audit_line_count(&self) -> u64 {
        match File::open(self.audit_log_path()) {
            Ok(f) => BufReader::new(f).lines().count() as u64,
            Err(_) => 0,
        }
    }
}

/// The largest manifest read. A database manifest with row counts for tens
/// of thousands of tables is a few MiB; anything near this is damaged or
/// planted, and must not be read into memory whole.
pub(crate) const MAX_MANIFEST: u64 = 64 << 20;

/// Hold the publishing lock of a type directory (`.publish.lock`, flock):
/// publishing a name and deciding that a published name is nobody's
/// happen one at a time across processes. Released when dropped.
pub fn lock_names(dir: &Path) -> Result<File> {
    let path = dir.join(".publish.lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Error::io("cannot open", &path, e))?;
    f.lock().map_err(|e| Error::io("cannot lock", &path, e))?;
    Ok(f)
}

/// Read and parse one manifest file.
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|f| {
            std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_MANIFEST + 1), &mut bytes)
        })
        .map_err(|e| Error::io("cannot read manifest", path, e))?;
    parse_manifest(&bytes, path)
}

/// Parse and check manifest bytes read from `path` (or about to be
/// written there: a manifest fetched from a copy target).
pub fn parse_manifest(bytes: &[u8], path: &Path) -> Result<Manifest> {
    if bytes.len() as u64 > MAX_MANIFEST {
        return Err(Error::integrity(format!(
            "manifest {} is larger than {} MiB, far more than any backup writes",
            path.display(),
            MAX_MANIFEST >> 20
        ))
        .hint("the manifest was damaged or planted; use another backup, or restore it from a copy of the repository"));
    }
    let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| {
        Error::integrity(format!("manifest {} is not valid: {e}", path.display()))
            .hint("the manifest was damaged or edited; use another backup, or restore it from a copy of the repository")
    })?;
    if manifest.format != crate::archive::manifest::MANIFEST_FORMAT {
        return Err(Error::integrity(format!(
            "manifest {} has format '{}', which this lifeboat does not know",
            path.display(),
            manifest.format
        ))
        .hint("use the lifeboat version that wrote it (see tool_version in the manifest)"));
    }
    // The files a manifest names live next to it: a name with a slash or
    // `..` would make a reader (or prune) reach outside the repository.
    let files =
        std::iter::once(&manifest.payload.file).chain(manifest.index.as_ref().map(|i| &i.file));
    for f in files {
        let plain = !f.is_empty()
            && !f.starts_with('.')
            && !f.contains('/')
            && !f.contains('\0')
            && Path::new(f).file_name() == Some(std::ffi::OsStr::new(f));
        if !plain {
            return Err(Error::integrity(format!(
                "manifest {} names the file '{f}', which is not a plain file name next to it: refusing a manifest that points outside its directory",
                path.display()
            ))
            .hint("this manifest was forged or damaged: remove it from the repository (do not restore from it)"));
        }
    }
    Ok(manifest)
}

/// Write `bytes` to `path` atomically: temp file (0600) in the same
/// directory, fsync, rename, fsync the directory. Replaces an existing file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        "{PARTIAL_PREFIX}{}.{:08x}.{name}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io("cannot write", path, e));
    }
    fsync_dir(dir)
}

/// fsync a directory so a rename in it is durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("cannot fsync directory", dir, e))
}

/// `mkdir -p` with mode 0700 for what it creates.
pub fn create_dir_all_private(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io("cannot create directory", dir, e))
}

/// Split `db_backup_x.dump.zst` into (`db_backup_x`, `.dump.zst`).
fn split_name(name: &str) -> (&str, &str) {
    match name.find('.') {
        Some(i) => (&name[..i], &name[i..]),
        None => (name, ""),
    }
}

/// Remove a directory tree that a restore wrote, read-only directories
/// included (a restored tree keeps the modes it was backed up with, and a
/// 0555 directory stops `remove_dir_all` for anyone but root).
pub fn remove_tree(root: &Path) -> std::io::Result<()> {
    make_dirs_writable(root);
    fs::remove_dir_all(root)
}

/// Give the owner rwx on every directory under `root` (symlinks are not
/// followed), so a tree with read-only directories can be removed.
fn make_dirs_writable(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(m) = fs::symlink_metadata(&d) else {
            continue;
        };
        if !m.is_dir() {
            continue;
        }
        let mode = m.permissions().mode();
        if mode & 0o700 != 0o700 {
            let _ = fs::set_permissions(&d, fs::Permissions::from_mode(mode | 0o700));
        }
        if let Ok(rd) = fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(e.path());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_never_clobbers() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::open(dir.path()).unwrap();
        let mut paths = Vec::new();
        for i in 0..3 {
            let (mut f, p) = repo
                .create_partial(BackupType::Filesystem, "fs_backup_1.tar.zst")
                .unwrap();
            write!(f, "{i}").unwrap();
            drop(f);
            paths.push(
                repo.publish(
                    &p,
                    BackupType::Filesystem,
                    "fs_backup_1.tar.zst",
                    &|_| Ok(()),
                    &|_| {},
                )
                .unwrap(),
            );
        }
        let names: Vec<_> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "fs_backup_1.tar.zst",
                "fs_backup_1_2.tar.zst",
                "fs_backup_1_3.tar.zst"
            ]
        );
        assert_eq!(fs::read_to_string(&paths[0]).unwrap(), "0");
        assert_eq!(fs::read_to_string(&paths[2]).unwrap(), "2");
    }

    #[test]
    fn only_files_in_type_directories_are_held() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::open(&dir.path().join("repo")).unwrap();
        let inside = repo.type_dir(BackupType::Database).join("db_backup_1.dump");
        assert!(repo.holds(&inside));
        assert!(!repo.holds(&dir.path().join("repo/audit/audit.jsonl")));
        assert!(!repo.holds(&dir.path().join("elsewhere.dump")));
        assert!(!repo.holds(&repo.type_dir(BackupType::Database).join("../../x")));
        assert!(!repo.holds(Path::new("/etc/passwd")));
    }

    #[test]
    fn a_file_a_manifest_claims_has_a_committed_owner() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::open(dir.path()).unwrap();
        let t = repo.type_dir(BackupType::Filesystem);
        let payload = t.join("fs_backup_1.tar.zst");
        assert!(Repository::committed_owner(&payload).is_none());
        let m = Manifest::sample("fs_backup_1.tar.zst");
        write_atomic(
            &t.join("fs_backup_1.tar.zst.manifest.json"),
            &m.to_json_pretty(),
        )
        .unwrap();
        assert_eq!(Repository::committed_owner(&payload).unwrap().id, m.id);
        assert_eq!(
            Repository::committed_owner(&t.join("fs_backup_1.tar.zst.index"))
                .unwrap()
                .id,
            m.id
        );
        assert!(Repository::committed_owner(&t.join("fs_backup_2.tar.zst")).is_none());
    }

    #[test]
    fn stale_partials_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::open(dir.path()).unwrap();
        let (_f, p) = repo.create_partial(BackupType::Database, "x.dump").unwrap();
        assert!(repo.clean_stale_partials(&|_| true).unwrap().is_empty());
        assert!(p.exists());
        assert_eq!(
            repo.clean_stale_partials(&|_| false).unwrap(),
            vec![p.clone()]
        );
        assert!(!p.exists());
    }

    #[test]
    fn directories_and_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let repo = Repository::open(&root).unwrap();
        assert_eq!(
            fs::metadata(&root).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let (_f, p) = repo.create_partial(BackupType::State, "s").unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        write_atomic(&root.join("x.json"), b"{}").unwrap();
        assert_eq!(
            fs::metadata(root.join("x.json"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
}
