//! Choosing artifacts: by id, by file, by point in time; and walking an
//! incremental's chain back to its full backup.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::archive::crypto::DataKey;
use crate::archive::manifest::{BackupKind, BackupType, Manifest, MANIFEST_SUFFIX};
use crate::archive::pipeline;
use crate::error::{Error, Result};
use crate::ops::Engine;
use crate::sources::filesystem::IndexReader;
use crate::storage::local::{read_manifest, Repository};
use crate::storage::remote::Target;

pub mod locate;

/// A manifest and where it lives; the payload is next to it. When the
/// repository lost the files (or holds a damaged payload) and a copy
/// target holds them, `remote` is that target: the files are streamed
/// from it (ranged reads, resumed on a dropped connection), never
/// downloaded whole first, and `manifest_path` is where the manifest
/// would be in the repository (its name and directory are what the
/// manifest's authentication checks).
#[derive(Debug, Clone)]
pub struct Artifact {
    pub manifest: Manifest,
    pub manifest_path: PathBuf,
    pub remote: Option<Remote>,
}

/// A copy target an artifact is read from, and the version (ETag) of
/// each of its objects when they were located: every read is pinned to
/// it, so the bytes a restore uses are the bytes that were checked.
#[derive(Debug, Clone)]
pub struct Remote {
    pub target: Target,
    /// File name → ETag (objects whose store gives none are not pinned).
    pins: Vec<(String, String)>,
}

impl Remote {
    pub fn new(target: Target) -> Remote {
        Remote {
            target,
            pins: Vec::new(),
        }
    }

    /// Pin `file` to the version `etag`.
    pub fn pin(&mut self, file: &str, etag: Option<String>) {
        if let Some(e) = etag {
            self.pins.retain(|(f, _)| f != file);
            self.pins.push((file.to_string(), e));
        }
    }

    fn pinned(&self, file: &str) -> Option<&str> {
        self.pins
            .iter()
            .find(|(f, _)| f == file)
            .map(|(_, e)| e.as_str())
    }
}

impl std::ops::Deref for Remote {
    type Target = Target;
    fn deref(&self) -> &Target {
        &self.target
    }
}

impl Artifact {
    pub fn dir(&self) -> &Path {
        self.manifest_path.parent().unwrap_or(Path::new("."))
    }
    pub fn payload_path(&self) -> PathBuf {
        self.dir().join(&self.manifest.payload.file)
    }
    pub fn index_path(&self) -> Option<PathBuf> {
        self.manifest
            .index
            .as_ref()
            .map(|i| self.dir().join(&i.file))
    }
    /// One of the artifact's files (payload or index), streamed from
    /// wherever the artifact is read from.
    pub fn open_file(&self, file: &str) -> Result<Box<dyn Read + Send>> {
        match &self.remote {
            None => {
                let path = self.dir().join(file);
                let f = File::open(&path).map_err(|e| Error::io("cannot open", &path, e))?;
                Ok(Box::new(f))
            }
            Some(r) => Ok(Box::new(r.reader_pinned(&self.rel(file), r.pinned(file))?)),
        }
    }

    /// Its file index as a stream of entries.
    pub fn open_index(
        &self,
        dk: Option<&crate::archive::crypto::DataKey>,
    ) -> Result<crate::sources::filesystem::IndexReader<std::io::BufReader<Box<dyn Read + Send>>>>
    {
        let info = self.manifest.index.as_ref().ok_or_else(|| {
            Error::integrity(format!("backup {} has no file index", self.manifest.id))
        })?;
        index_reader(&self.manifest, self.open_file(&info.file)?, dk)
            .map_err(|e| self.about(&info.file, e))
    }

    /// The stored length of one of its files (`None`: it does not exist).
    pub fn file_len(&self, file: &str) -> Result<Option<u64>> {
        match &self.remote {
            None => {
                let path = self.dir().join(file);
                match std::fs::metadata(&path) {
                    Ok(m) => Ok(Some(m.len())),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::io("cannot read", &path, e)),
                }
            }
            Some(t) => t.size_of(&self.rel(file)),
        }
    }

    /// Where one of its files is, for messages: a path, or an object on a target.
    pub fn describe(&self, file: &str) -> String {
        match &self.remote {
            None => self.dir().join(file).display().to_string(),
            Some(t) => format!("{} on target '{}'", self.rel(file), t.name()),
        }
    }

    /// A failed read of one of its files, naming where it was read from.
    pub fn read_error(&self, file: &str, err: std::io::Error) -> Error {
        crate::archive::pipeline::stream_read_error(Path::new(&self.describe(file)), err)
    }

    /// An error opening one of its streams, said of where it was read from.
    pub fn about(&self, file: &str, mut e: Error) -> Error {
        e.message = format!("{}: {}", self.describe(file), e.message);
        e
    }

    /// A failed read of its payload.
    pub fn payload_read_error(&self, err: std::io::Error) -> Error {
        self.read_error(&self.manifest.payload.file, err)
    }

    /// The object key of one of its files on a target (the repository's layout).
    fn rel(&self, file: &str) -> String {
        crate::ops::fetch::rel(self.manifest.backup_type, file)
    }

    /// Load the artifact whose payload (or manifest) is at `path`.
    pub fn from_file(path: &Path) -> Result<Artifact> {
        let manifest_path = if path.to_string_lossy().ends_with(MANIFEST_SUFFIX) {
            path.to_path_buf()
        } else {
            PathBuf::from(format!("{}{MANIFEST_SUFFIX}", path.display()))
        };
        if !manifest_path.exists() {
            if !path.exists() {
                return Err(Error::not_found(format!(
                    "backup file {} does not exist",
                    path.display()
                ))
                .hint("check the path; `lifeboat list` shows every backup with its file"));
            }
            return Err(Error::integrity(format!(
                "{} has no manifest ({} is missing)",
                path.display(),
                manifest_path.display()
            ))
            .hint("an artifact without its manifest is not a complete backup (it may be left over from a killed run); use another backup"));
        }
        Ok(Artifact {
            manifest: read_manifest(&manifest_path)?,
            manifest_path,
            remote: None,
        })
    }
}

/// How the operator named the backup. In a queued request:
/// `{"id":"fs-..."}`, `{"file":"/repo/..."}`, `{"at":"2026-11-26T02:00:00Z"}`
/// or `"latest"`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selector {
    Id(String),
    File(PathBuf),
    /// Newest good backup at or before this time.
    At(DateTime<Utc>),
    Latest,
}

/// Find the artifact the selector names.
pub fn resolve(engine: &Engine, t: Option<BackupType>, sel: &Selector) -> Result<Artifact> {
    resolve_from(engine, t, sel, None)
}

/// Find the artifact the selector names; with `from`, read it from that
/// copy target rather than the repository (the operator's `--from`).
pub fn resolve_from(
    engine: &Engine,
    t: Option<BackupType>,
    sel: &Selector,
    from: Option<&str>,
) -> Result<Artifact> {
    if let (Some(name), Selector::File(p)) = (from, sel) {
        return Err(Error::usage(format!(
            "--from {name} reads a backup from a target, but {} names a file",
            p.display()
        ))
        .hint("name the backup by its id (--id ID) or by time (--at TIME)"));
    }
    let locate = |rec: &crate::catalog::BackupRecord| match from {
        None => locate::locate(engine, rec),
        Some(name) => locate::on_target(engine, rec, name),
    };
    let artifact = match sel {
        Selector::File(p) => {
            let a = Artifact::from_file(p)?;
            // By id: a row by file name could be an interrupted backup of
            // the same second that never got the name.
            if let Some(rec) = engine.catalog.get_backup(&a.manifest.id)? {
                check_against_row(&rec, &a)?;
            }
            a
        }
        Selector::Id(id) => {
            let rec = engine.catalog.get_backup(id)?.ok_or_else(|| {
                Error::not_found(format!("no backup with id {id} in the catalog {}", engine.catalog.path.display()))
                    .hint("`lifeboat list` shows the ids; if the catalog was lost, run `lifeboat catalog rebuild`")
            })?;
            if !rec.status.is_good() {
                return Err(Error::refused(format!(
                    "backup {id} is {}, not a usable backup",
                    rec.status.as_str()
                ))
                .hint("choose a backup whose status is succeeded"));
            }
            locate(&rec)?
        }
        Selector::At(_) | Selector::Latest => {
            let t = t.ok_or_else(|| Error::usage("--at needs --type"))?;
            let at = match sel {
                Selector::At(at) => *at,
                // "Latest" is the newest there is, whatever a test clock says.
                _ => Utc::now(),
            };
            let records = engine.catalog.list_backups(Some(t))?;
            let by_id: std::collections::HashMap<&str, &crate::catalog::BackupRecord> =
                records.iter().map(|r| (r.id.as_str(), r)).collect();
            let rec = records
                .iter()
                .filter(|r| {
                    crate::catalog::chain_is_good(r, &by_id)
                        && !r.is_safety_copy()
                        && r.created_at <= at
                })
                .max_by_key(|r| r.created_at)
                .cloned()
                .ok_or_else(|| {
                    Error::not_found(format!(
                        "no good {t} backup at or before {}",
                        at.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S %Z")
                    ))
                    .hint("`lifeboat list --type TYPE` shows the points you can choose from")
                })?;
            locate(&rec)?
        }
    };
    if let Some(t) = t {
        if artifact.manifest.backup_type != t {
            return Err(Error::usage(format!(
                "backup {} is a {} backup, not {t}",
                artifact.manifest.id, artifact.manifest.backup_type
            )));
        }
    }
    Ok(artifact)
}

/// The catalog row and the manifest it caches must agree on what the
/// backup is: a payload and manifest copied over another backup's names,
/// or a manifest stripped of its key, shows up here as a disagreement.
pub fn check_against_row(rec: &crate::catalog::BackupRecord, a: &Artifact) -> Result<()> {
    let m = &a.manifest;
    let file_name = Path::new(&rec.file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut differ = Vec::new();
    if rec.id != m.id {
        differ.push(format!(
            "id ({} in the catalog, {} in the manifest)",
            rec.id, m.id
        ));
    }
    if file_name != m.payload.file {
        differ.push(format!(
            "payload file ({file_name} in the catalog, {} in the manifest)",
            m.payload.file
        ));
    }
    if rec.sha256.as_deref().is_some_and(|h| h != m.payload.sha256) {
        differ.push("payload SHA-256".to_string());
    }
    if rec.stored_size != m.payload.stored_size {
        differ.push(format!(
            "stored size ({} in the catalog, {} in the manifest)",
            rec.stored_size, m.payload.stored_size
        ));
    }
    if rec.encrypted != m.encrypted || rec.key_id.is_some() != m.key.is_some() {
        differ.push("encryption and key".to_string());
    }
    if differ.is_empty() {
        return Ok(());
    }
    let (manifest, whose) = match &a.remote {
        None => (
            a.manifest_path.display().to_string(),
            "the repository".to_string(),
        ),
        Some(r) => (
            a.describe(&Manifest::file_name_for(&m.payload.file)),
            format!("the copy on target '{}'", r.name()),
        ),
    };
    Err(Error::integrity(format!(
        "backup {} in the catalog and the manifest {manifest} disagree on the {}: {whose} was changed behind lifeboat's back (tampering, or files copied over each other)",
        rec.id,
        differ.join(", ")
    ))
    .hint("do not restore from it; use another backup, and compare the repository with a copy you trust"))
}

/// The chain an artifact needs, full backup first, the artifact last.
/// Parents are looked up in the catalog, then next to the artifact.
pub fn chain(engine: Option<&Engine>, artifact: &Artifact) -> Result<Vec<Artifact>> {
    let mut links = vec![artifact.clone()];
    let mut cur = artifact.clone();
    while cur.manifest.kind == BackupKind::Incremental {
        let pid = cur.manifest.parent_id.clone().ok_or_else(|| {
            Error::integrity(format!(
                "incremental backup {} names no parent",
                cur.manifest.id
            ))
        })?;
        let parent = find_by_id(engine, &cur, &pid)?.ok_or_else(|| {
            Error::refused(format!(
                "backup {} is incremental and needs its parent {pid}, which is missing from {}",
                artifact.manifest.id,
                cur.dir().display()
            ))
            .hint("restore the parent's files into the repository, or choose an older full backup")
        })?;
        if links.len() > 10_000 || links.iter().any(|l| l.manifest.id == parent.manifest.id) {
            return Err(Error::integrity(format!(
                "backup {}'s parent chain loops",
                artifact.manifest.id
            )));
        }
        links.push(parent.clone());
        cur = parent;
    }
    links.reverse();
    Ok(links)
}

/// A link's parent: from the target the link was read from if it holds
/// it (a chain read from a target stays on it), else wherever `locate`
/// finds it; without a catalog, next to the link.
fn find_by_id(engine: Option<&Engine>, child: &Artifact, id: &str) -> Result<Option<Artifact>> {
    let dir = child.dir();
    if let Some(engine) = engine {
        if let Some(rec) = engine.catalog.get_backup(id)? {
            if let Some(t) = &child.remote {
                if let Ok(a) = locate::on_target(engine, &rec, t.name()) {
                    return Ok(Some(a));
                }
            }
            if let Some(a) = locate::find(engine, &rec)? {
                return Ok(Some(a));
            }
        }
    }
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("cannot list", dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || !name.ends_with(MANIFEST_SUFFIX) {
            continue;
        }
        if let Ok(m) = read_manifest(&entry.path()) {
            if m.id == id {
                return Ok(Some(Artifact {
                    manifest: m,
                    manifest_path: entry.path(),
                    remote: None,
                }));
            }
        }
    }
    Ok(None)
}

/// All readable artifacts of a repository directory (for recovery without a catalog).
pub fn scan(repo: &Repository) -> Result<Vec<Artifact>> {
    Ok(repo
        .scan_manifests()?
        .into_iter()
        .filter_map(|f| {
            f.manifest.ok().map(|m| Artifact {
                manifest: m,
                manifest_path: f.manifest_path,
                remote: None,
            })
        })
        .collect())
}

/// An index stream (as stored) read as entries.
pub fn index_reader(
    manifest: &Manifest,
    file: Box<dyn std::io::Read + Send>,
    dk: Option<&DataKey>,
) -> Result<IndexReader<BufReader<Box<dyn std::io::Read + Send>>>> {
    let info = manifest
        .index
        .as_ref()
        .ok_or_else(|| Error::integrity(format!("backup {} has no file index", manifest.id)))?;
    let dk = if manifest.encrypted { dk } else { None };
    let stream = pipeline::open_stream(file, manifest.compression, dk, Some(info.size))?;
    Ok(IndexReader::new(BufReader::with_capacity(
        256 * 1024,
        stream,
    )))
}

/// Parse an operator's time: RFC 3339, or `YYYY-mm-dd[ HH:MM[:SS]]` in local time
/// (a date alone means the end of that day).
pub fn parse_time(s: &str) -> Result<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(23, 59, 59))
    });
    let naive = naive.ok_or_else(|| {
        Error::usage(format!("cannot read the time '{s}'")).hint(
            "use \"YYYY-mm-dd HH:MM\" (local time), a date, or RFC 3339 like 2026-11-26T14:00:00Z",
        )
    })?;
    Local
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            Error::usage(format!(
                "the time '{s}' does not exist in the local time zone"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_operators_type() {
        assert_eq!(
            parse_time("2026-11-26T14:00:00Z").unwrap().to_rfc3339(),
            "2026-11-26T14:00:00+00:00"
        );
        assert!(parse_time("2026-11-26 14:00").is_ok());
        assert!(parse_time("2026-11-26").is_ok());
        let e = parse_time("yesterday").unwrap_err();
        assert!(e.message.contains("yesterday"));
    }
}
