//! Backups of the filesystem and configuration sources.
//!
//! The order of events is what makes a killed or failed backup harmless:
//! a catalog row in state `running` and hidden partial files first; the
//! payload and index sealed and fsynced; then published under their final
//! names; the manifest written last (the commit point); only then the row
//! says `succeeded`. Anything that dies before the manifest leaves partial
//! files that the next start removes and a row that says `interrupted`.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::archive::crypto::{self, DataKey};
use crate::archive::keys::KeyRing;
use crate::archive::manifest::{
    BackupKind, BackupType, Compression, FileStats, Manifest, StreamInfo, MANIFEST_FORMAT,
};
use crate::archive::pipeline::{SealOptions, Sealed, Sealer};
use crate::catalog::{BackupRecord, BackupStatus, JobKind};
use crate::config::EncryptMode;
use crate::error::{Error, Result};
use crate::ops::jobs::{run_job, AuditAs, Job, JobEnd};
use crate::ops::{open_data_key, Engine, Progress};
use crate::sources::filesystem::{self, ExtraEntry, IndexEntry, IndexReader, WalkSpec};
use crate::storage::local::read_manifest;
use crate::Cancel;

/// What the operator asked for.
#[derive(Debug, Clone)]
pub struct BackupRequest {
    pub backup_type: BackupType,
    pub name: Option<String>,
    /// Make a full backup even when an incremental is possible.
    pub force_full: bool,
}

/// What a finished backup reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackupReport {
    pub id: String,
    #[serde(rename = "type")]
    pub backup_type: BackupType,
    pub kind: BackupKind,
    pub parent_id: Option<String>,
    pub status: BackupStatus,
    pub file: PathBuf,
    pub size: u64,
    pub stored_size: u64,
    pub encrypted: bool,
    pub files: Option<FileStats>,
    pub warnings: Vec<String>,
    pub seconds: f64,
    pub job_id: i64,
    /// Its copies to `[[targets]]`, made right after it was committed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<crate::ops::copies::CopyOutcome>,
    /// Why its copies could not all be made (it is committed locally).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_error: Option<String>,
}

/// Run one backup as a job.
pub fn run(
    engine: &Engine,
    req: &BackupRequest,
    face: &dyn Progress,
    cancel: &Cancel,
) -> Result<BackupReport> {
    validate_name(req.name.as_deref())?;
    let target = req.backup_type.as_str();
    let success = |r: &BackupReport| {
        (
            r.status.as_str().to_string(),
            format!(
                "{} {} ({} bytes stored)",
                r.id,
                r.file.display(),
                r.stored_size
            ),
        )
    };
    let audit = AuditAs {
        action: "backup",
        target,
        success: &success,
    };
    run_job(
        engine,
        JobKind::Backup,
        target,
        face,
        cancel,
        JobEnd {
            warnings: |r| r.warnings.len(),
            audit: Some(audit),
        },
        |job, cancel| match req.backup_type {
            BackupType::Filesystem | BackupType::Configuration => {
                tree_backup(engine, req, job, cancel)
            }
            other => Err(Error::usage(format!(
                "{other} backups are not available in this version of lifeboat"
            ))
            .hint("supported now: --type filesystem, --type configuration")),
        },
    )
}

pub(crate) fn validate_name(name: Option<&str>) -> Result<()> {
    if let Some(n) = name {
        let ok = !n.is_empty()
            && n.len() <= 64
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(Error::usage(format!("invalid backup name '{n}'"))
                .hint("use 1-64 letters, digits, '-' or '_' (it becomes part of the file name)"));
        }
    }
    Ok(())
}

/// The sources of a tree backup, from the configuration.
fn walk_spec(engine: &Engine, t: BackupType) -> Result<WalkSpec> {
    let cfg = &engine.config.sources;
    match t {
        BackupType::Filesystem => {
            if cfg.filesystem.paths.is_empty() {
                return Err(Error::usage("no filesystem paths are configured")
                    .hint("list the app's uploads, logs and static directories in [sources.filesystem] paths"));
            }
            Ok(WalkSpec {
                roots: cfg.filesystem.paths.clone(),
                include: cfg.filesystem.include.clone(),
                exclude: cfg.filesystem.exclude.clone(),
                extra: Vec::new(),
            })
        }
        BackupType::Configuration => {
            let c = &cfg.configuration;
            let mut roots: Vec<PathBuf> =
                c.files.iter().chain(c.env_files.iter()).cloned().collect();
            roots.sort();
            roots.dedup();
            let mut extra = Vec::new();
            if !c.env_vars.is_empty() {
                let mut text = String::from("# environment variables captured by lifeboat\n");
                for name in &c.env_vars {
                    match std::env::var(name) {
                        Ok(v) => text.push_str(&format!("{name}={}\n", shell_quote(&v))),
                        Err(_) => text.push_str(&format!("# {name} was not set\n")),
                    }
                }
                extra.push(ExtraEntry {
                    path: b".lifeboat-config/environment.env".to_vec(),
                    data: text.into_bytes(),
                    mode: 0o600,
                });
            }
            if let Some(v) = app_version(engine)? {
                extra.push(ExtraEntry {
                    path: b".lifeboat-config/version.txt".to_vec(),
                    data: format!("{v}\n").into_bytes(),
                    mode: 0o644,
                });
            }
            if roots.is_empty() && extra.is_empty() {
                return Err(Error::usage("nothing to back up: no configuration files, env files or env vars are configured")
                    .hint("fill [sources.configuration] files, env_files or env_vars"));
            }
            Ok(WalkSpec {
                roots,
                include: Vec::new(),
                exclude: Vec::new(),
                extra,
            })
        }
        _ => unreachable!("only tree types"),
    }
}

fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

/// The app's version: the configured version file, else `git describe`.
fn app_version(engine: &Engine) -> Result<Option<String>> {
    let c = &engine.config.sources.configuration;
    if let Some(vf) = &c.version_file {
        let v = std::fs::read_to_string(vf)
            .map_err(|e| Error::io("cannot read version file", vf, e))?;
        return Ok(Some(v.trim().to_string()));
    }
    if let Some(dir) = &c.git_dir {
        let out = std::process::Command::new("git")
            .args(["describe", "--always", "--tags", "--dirty"])
            .current_dir(dir)
            .output()
            .map_err(|e| {
                Error::external(format!("cannot run git describe in {}: {e}", dir.display()))
            })?;
        if !out.status.success() {
            return Err(Error::external(format!(
                "git describe failed in {}: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
            .hint("point [sources.configuration] git_dir at the app's git checkout, or set version_file"));
        }
        return Ok(Some(
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        ));
    }
    Ok(None)
}

/// Decide whether this payload is encrypted and with which keys.
/// Whether a new artifact of type `t` is encrypted, and the key ring.
pub(crate) fn encryption_for(engine: &Engine, t: BackupType) -> Result<(Option<KeyRing>, bool)> {
    let ring = engine.keyring()?;
    let encrypt = match engine.config.encryption.encrypt {
        EncryptMode::Never => false,
        EncryptMode::Always => true,
        EncryptMode::Auto => ring.is_some(),
    };
    if t == BackupType::Configuration
        && !engine.config.sources.configuration.allow_plaintext_secrets
    {
        if ring.is_none() {
            return Err(Error::refused(format!(
                "configuration backups hold secrets and are always encrypted, but there is no key file at {}",
                engine.config.encryption.key_file.display()
            ))
            .hint("create one with `lifeboat key generate` (and keep a copy of it offline), or set allow_plaintext_secrets = true in [sources.configuration]"));
        }
        return Ok((ring, true));
    }
    if encrypt && ring.is_none() {
        return Err(Error::key(format!(
            "encryption is required but there is no key file at {}",
            engine.config.encryption.key_file.display()
        ))
        .hint("create one with `lifeboat key generate`"));
    }
    Ok((ring, encrypt))
}

/// The newest good backup of this type that an incremental can build on,
/// with its manifest, or None when a full backup is due.
/// What a filesystem backup's index records (manifest `source.index_features`):
/// 1 = earlier versions; 2 = extended attributes (`xh`), sparse files
/// (`sp`), hard links (`n`, `hl`), FIFOs. An incremental needs a parent of
/// the current level, or it would carry the parent's silence about
/// unchanged files on.
pub const FS_INDEX_FEATURES: u64 = 2;

fn choose_parent(
    engine: &Engine,
    t: BackupType,
    spec: &WalkSpec,
    face: &dyn Progress,
) -> Result<Option<(Manifest, PathBuf)>> {
    if !engine.config.backup.incremental || t != BackupType::Filesystem {
        return Ok(None);
    }
    let records = engine.catalog.list_backups(Some(t))?;
    let Some(newest) = records.iter().find(|r| r.is_good() && !r.is_safety_copy()) else {
        return Ok(None);
    };
    // Walk back to the chain's full to see how old it is.
    let mut full_at: Option<DateTime<Utc>> = None;
    let mut cur = Some(newest.clone());
    let mut hops = 0;
    while let Some(r) = cur {
        if r.kind == BackupKind::Full {
            full_at = Some(r.created_at);
            break;
        }
        hops += 1;
        if hops > 10_000 {
            break;
        }
        cur = match &r.parent_id {
            Some(p) => engine.catalog.get_backup(p)?.filter(|p| p.is_good()),
            None => None,
        };
    }
    let Some(full_at) = full_at else {
        face.note("the newest backup's chain is broken; taking a full backup");
        return Ok(None);
    };
    let age_days = (crate::clock::now() - full_at).num_seconds() as f64 / 86_400.0;
    if age_days >= engine.config.backup.full_every_days as f64 {
        face.note(&format!(
            "the last full backup is {age_days:.1} days old (full_every_days = {}); taking a full backup",
            engine.config.backup.full_every_days
        ));
        return Ok(None);
    }
    let manifest_path = PathBuf::from(format!(
        "{}{}",
        newest.file,
        crate::archive::manifest::MANIFEST_SUFFIX
    ));
    let manifest = match read_manifest(&manifest_path) {
        Ok(m) => m,
        Err(e) => {
            face.note(&format!(
                "cannot use {} as a parent ({}); taking a full backup",
                newest.id, e.message
            ));
            return Ok(None);
        }
    };
    let same_source = manifest.source.get("paths") == Some(&json!(spec.roots));
    if !same_source {
        face.note("the configured paths changed since the last backup; taking a full backup");
        return Ok(None);
    }
    if manifest.index.is_none() {
        return Ok(None);
    }
    let features = manifest
        .source
        .get("index_features")
        .and_then(|v| v.as_u64())
        .unwrap_or(1);
    if features < FS_INDEX_FEATURES {
        // Its index does not say which unchanged files have attributes,
        // holes or other names: an incremental would carry that silence on.
        face.note(&format!(
            "the last backup {} was made by an earlier lifeboat that did not keep extended attributes, ACLs, sparse files and hard links; taking a full backup",
            manifest.id
        ));
        return Ok(None);
    }
    if manifest.key.is_none() && engine.config.encryption.key_file.exists() {
        face.note(&format!(
            "the last backup {} was made before the key file existed (its manifest is not authenticated); taking a full backup",
            manifest.id
        ));
        return Ok(None);
    }
    Ok(Some((manifest, manifest_path)))
}

/// Open an artifact's file index as a stream of entries.
pub fn open_index(
    manifest: &Manifest,
    manifest_path: &Path,
    dk: Option<&DataKey>,
) -> Result<IndexReader<BufReader<Box<dyn std::io::Read + Send>>>> {
    let info = manifest
        .index
        .as_ref()
        .ok_or_else(|| Error::integrity(format!("backup {} has no file index", manifest.id)))?;
    let path = manifest_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(&info.file);
    let file = File::open(&path).map_err(|e| Error::io("cannot open file index", &path, e))?;
    crate::ops::select::index_reader(manifest, Box::new(file), dk)
}

fn tree_backup(
    engine: &Engine,
    req: &BackupRequest,
    job: &Job,
    cancel: &AtomicBool,
) -> Result<BackupReport> {
    // One backup of a source per repository at a time: two at once would
    // read the same files twice and race to be each other's parent. The
    // second waits, saying which job it waits for (and can be cancelled).
    job.acquire(&format!(
        "{} backup into {}",
        req.backup_type,
        engine.repo.root.display()
    ))?;
    // The hooks run once the job holds the source: two backups of a type
    // never pause and resume the app across each other.
    crate::ops::app::with_hooks(engine, req.backup_type, job, || {
        job.phase("preparing");
        let spec = walk_spec(engine, req.backup_type)?;
        write_tree(engine, req, spec, job, cancel)
    })
}

/// Back up exactly `paths` (the files a restore is about to replace) as a
/// full backup named `pre_restore`, so the restore can be undone.
pub fn safety_copy(
    engine: &Engine,
    t: BackupType,
    paths: Vec<PathBuf>,
    job: &Job,
    cancel: &AtomicBool,
) -> Result<BackupReport> {
    let req = BackupRequest {
        backup_type: t,
        name: Some("pre_restore".into()),
        force_full: true,
    };
    let spec = WalkSpec {
        roots: paths,
        include: Vec::new(),
        exclude: Vec::new(),
        extra: Vec::new(),
    };
    let report = write_tree(engine, &req, spec, job, cancel)?;
    engine.audit(
        "safety-copy",
        t.as_str(),
        report.status.as_str(),
        &report.id,
    )?;
    Ok(report)
}

fn write_tree(
    engine: &Engine,
    req: &BackupRequest,
    spec: WalkSpec,
    job: &Job,
    cancel: &AtomicBool,
) -> Result<BackupReport> {
    let started = std::time::Instant::now();
    let t = req.backup_type;
    let created_at = Utc::now();
    let (ring, encrypt) = encryption_for(engine, t)?;
    let parent = if req.force_full {
        None
    } else {
        choose_parent(engine, t, &spec, job)?
    };
    let parent_dk = match &parent {
        Some((m, p)) => open_data_key(ring.as_ref(), m, p)?,
        None => None,
    };
    let kind = if parent.is_some() {
        BackupKind::Incremental
    } else {
        BackupKind::Full
    };
    let draft = Draft::new(
        engine,
        t,
        req.name.as_deref(),
        (kind, parent.as_ref().map(|(m, _)| m.id.clone())),
        created_at,
        (ring.as_ref(), encrypt),
    );
    let payload_name = artifact_name(
        t,
        created_at,
        req.name.as_deref(),
        kind,
        draft.compression,
        encrypt,
    );
    let index_name = format!("{payload_name}.index");
    let (payload_file, payload_tmp) = engine.repo.create_partial(t, &payload_name)?;
    job.track_partial(&payload_tmp)?;
    let (index_file, index_tmp) = engine.repo.create_partial(t, &index_name)?;
    job.track_partial(&index_tmp)?;
    draft.record(engine, &payload_name, job)?;

    let parent_index = parent
        .as_ref()
        .map(|(m, p)| (m, p.as_path(), parent_dk.as_ref()));
    let written = (|| {
        let streams = (
            draft.sealer(
                payload_file,
                &payload_tmp,
                engine.config.compression.threads,
            )?,
            draft.sealer(index_file, &index_tmp, 1)?,
        );
        walk_into(&spec, parent_index, streams, kind, job, cancel)
    })();
    let (payload_sealed, index_sealed, outcome) =
        written.map_err(|e| draft.fail(engine, &[&payload_tmp, &index_tmp], e))?;
    for w in &outcome.warnings {
        job.note(w);
    }

    job.phase("publishing");
    let staged = Staged {
        id: &draft.id,
        backup_type: t,
        payload_tmp: &payload_tmp,
        payload_name: &payload_name,
        index_tmp: Some(&index_tmp),
    };
    let source = json!({
        "paths": spec.roots,
        "include": spec.include,
        "exclude": spec.exclude,
        "host": engine.host,
        "index_features": FS_INDEX_FEATURES,
    });
    let committed = commit_artifact(
        engine,
        job,
        &staged,
        draft.data_key.as_ref(),
        |payload, index| Manifest {
            index: index.map(|file| stream_info(file, &index_sealed)),
            files: Some(outcome.stats.clone()),
            warnings: outcome.warnings.clone(),
            ..draft.manifest(engine, stream_info(payload, &payload_sealed), source)
        },
    )
    .inspect_err(|_| {
        let _ = std::fs::remove_file(&payload_tmp);
        let _ = std::fs::remove_file(&index_tmp);
    })?;
    Ok(draft.report(committed, started, job))
}

/// Walk the tree into the payload and index sealers (an incremental reads
/// its parent's index alongside) and seal both.
fn walk_into(
    spec: &WalkSpec,
    parent: Option<(&Manifest, &Path, Option<&DataKey>)>,
    (mut payload, mut index): (Sealer, Sealer),
    kind: BackupKind,
    job: &Job,
    cancel: &AtomicBool,
) -> Result<(Sealed, Sealed, filesystem::BackupOutcome)> {
    // Counted in the background: the walk starts at once and finds the
    // metadata warm, and the progress total appears as soon as it is known.
    let count = BackgroundCount::start(spec);
    let total_reported = std::cell::Cell::new(false);
    job.phase(if kind == BackupKind::Incremental {
        "reading changed files"
    } else {
        "reading files"
    });
    let mut parent_iter = match parent {
        Some((m, p, dk)) => Some(open_index(m, p, dk)?),
        None => None,
    };
    let progress = |bytes: u64, items: u64| {
        if !total_reported.get() {
            if let Some((b, f)) = count.totals() {
                job.total(Some(b), Some(f));
                total_reported.set(true);
            }
        }
        job.advance(bytes, items)
    };
    // Read ahead what an incremental will store: files whose inode
    // changed since the parent started (a second of slack for the
    // kernel's coarse ctime clock).
    let opts = filesystem::BackupOptions {
        read_ahead_since: parent
            .map(|(m, _, _)| m.created_at.timestamp_nanos_opt().unwrap_or(0) - 1_000_000_000),
        no_read_ahead: false,
    };
    let (outcome, _, _) = filesystem::backup_tree_with(
        spec,
        parent_iter
            .as_mut()
            .map(|i| i as &mut dyn Iterator<Item = Result<IndexEntry>>),
        &mut payload,
        &mut index,
        &progress,
        cancel,
        opts,
    )?;
    drop(count);
    job.phase("sealing");
    let (payload_sealed, _) = payload.finish()?;
    let (index_sealed, _) = index.finish()?;
    Ok((payload_sealed, index_sealed, outcome))
}

/// The tree's metadata prefetched on several threads, then counted, on a
/// thread of its own. Dropping it tells the thread to stop, and joins it
/// unless it hangs (a directory on a dead network mount): then it is left
/// to finish on its own rather than hang the backup.
struct BackgroundCount {
    totals: std::sync::Arc<std::sync::Mutex<Option<(u64, u64)>>>,
    stop: std::sync::Arc<AtomicBool>,
    done: std::sync::mpsc::Receiver<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundCount {
    fn start(spec: &WalkSpec) -> BackgroundCount {
        let totals = std::sync::Arc::new(std::sync::Mutex::new(None::<(u64, u64)>));
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (done_tx, done) = std::sync::mpsc::channel::<()>();
        let thread = {
            let totals = std::sync::Arc::clone(&totals);
            let stop = std::sync::Arc::clone(&stop);
            let spec = spec.clone();
            std::thread::spawn(move || {
                let _done = done_tx;
                filesystem::prefetch_metadata(&spec.roots, 4, &stop);
                if let Ok(t) = filesystem::scan_totals(&spec, &stop) {
                    *totals.lock().unwrap_or_else(|p| p.into_inner()) = Some(t);
                }
            })
        };
        BackgroundCount {
            totals,
            stop,
            done,
            thread: Some(thread),
        }
    }

    /// Bytes and entries, once counted.
    fn totals(&self) -> Option<(u64, u64)> {
        *self.totals.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for BackgroundCount {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        match self.done.recv_timeout(std::time::Duration::from_secs(2)) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => tracing::warn!(
                "the background file count did not stop within 2 s (a hanging directory?); it is left to end on its own"
            ),
            _ => {
                if let Some(h) = self.thread.take() {
                    let _ = h.join();
                }
            }
        }
    }
}

/// A sealed, fsynced payload (and index) under their `.partial.` names,
/// ready for [`commit_artifact`].
pub(crate) struct Staged<'a> {
    /// The backup's id (its catalog row is `running`).
    pub id: &'a str,
    pub backup_type: BackupType,
    pub payload_tmp: &'a Path,
    /// The name the payload should get (`_2`, `_3`... if taken).
    pub payload_name: &'a str,
    pub index_tmp: Option<&'a Path>,
}

/// The commit protocol of every backup (docs/FORMAT.md section 9):
///
/// 1. payload, then index, take their final names (hard link, never
///    replacing anything), each name recorded as the job's partial output
///    before it exists, so a crash leaves nothing the next start cannot
///    clean;
/// 2. the manifest is written atomically: **the commit point**. From here
///    on the files belong to the backup, and nothing cleans them up as a
///    dead job's leftovers (the next start finds the manifest and records
///    the backup, see `settle::recover_dead_jobs`);
/// 3. one catalog transaction records the row as succeeded and drops the
///    files from the job's partial outputs.
///
/// A failure before step 2 removes what was published; a failure of step 3
/// (the catalog's disk is full) un-commits: the manifest is removed first,
/// then the payload, and the job fails saying so. `manifest_for` builds the
/// manifest from the final payload and index file names.
pub(crate) fn commit_artifact(
    engine: &Engine,
    job: &Job,
    staged: &Staged,
    data_key: Option<&DataKey>,
    manifest_for: impl FnOnce(String, Option<String>) -> Manifest,
) -> Result<(PathBuf, Manifest, BackupStatus)> {
    let t = staged.backup_type;
    crate::crashpoint::hit("backup.sealed");
    // Past the last safe point: a test holds the backup here
    // (LIFEBOAT_HOLD_AT) to cancel it where the cancel can only come late.
    crate::crashpoint::hold("backup.sealed", || {
        job.cancel_flag().load(std::sync::atomic::Ordering::Relaxed)
    });
    let claim = |p: &Path| job.track_partial(p);
    let release = |p: &Path| {
        let _ = engine.catalog.remove_partial_output(job.id, p);
    };
    let payload_final = engine
        .repo
        .publish(staged.payload_tmp, t, staged.payload_name, &claim, &release)
        .inspect_err(|_| {
            let _ = engine
                .catalog
                .set_backup_status(staged.id, BackupStatus::Failed);
        })?;
    crate::crashpoint::hit("backup.payload-published");
    let payload_name = payload_final
        .file_name()
        .expect("a published file has a name")
        .to_string_lossy()
        .into_owned();
    let mut published = vec![payload_final.clone()];
    let committed = (|| -> Result<Manifest> {
        let index_name = match staged.index_tmp {
            Some(tmp) => {
                let name = format!("{payload_name}.index");
                let path = engine.repo.type_dir(t).join(&name);
                job.track_partial(&path)?;
                engine.repo.publish_exact(tmp, &path)?;
                published.push(path);
                Some(name)
            }
            None => None,
        };
        crate::crashpoint::hit("backup.published");
        let mut manifest = manifest_for(payload_name.clone(), index_name);
        commit_manifest(engine, &mut manifest, data_key)?;
        Ok(manifest)
    })();
    let manifest = match committed {
        Ok(m) => m,
        Err(e) => {
            // The manifest may exist if only its directory fsync failed:
            // it goes first, so no manifest outlives its payload.
            let manifest = engine
                .repo
                .type_dir(t)
                .join(Manifest::file_name_for(&payload_name));
            let _ = std::fs::remove_file(manifest);
            for p in &published {
                let _ = std::fs::remove_file(p);
            }
            let _ = engine
                .catalog
                .set_backup_status(staged.id, BackupStatus::Failed);
            return Err(e);
        }
    };
    crate::crashpoint::hit("backup.manifest-written");
    let status = if manifest.warnings.is_empty() {
        BackupStatus::Succeeded
    } else {
        BackupStatus::SucceededWithWarnings
    };
    let recorded = crate::crashpoint::fault("backup.record").and_then(|()| {
        engine
            .catalog
            .record_committed(&manifest, &payload_final, status, job.id, &published)
    });
    if let Err(e) = recorded {
        let undone = match uncommit(engine, &manifest, &published) {
            Ok(said) => {
                let _ = engine
                    .catalog
                    .set_backup_status(staged.id, BackupStatus::Failed);
                said
            }
            // Still committed: the row stays `running`, and the next start
            // records the backup from its manifest.
            Err(said) => said,
        };
        return Err(Error::new(
            e.kind,
            format!(
                "backup {} was written, but the catalog {} could not record it ({}); {undone}",
                manifest.id,
                engine.catalog.path.display(),
                e.message
            ),
        )
        .hint("free space where the catalog lives (or fix what the catalog error says), then run the backup again"));
    }
    crate::crashpoint::hit("backup.recorded");
    Ok((payload_final, manifest, status))
}

/// Take back a committed artifact whose catalog row could not be written:
/// the manifest first (after that nothing counts it as a backup), then its
/// files. What happened, for the job's error.
fn uncommit(
    engine: &Engine,
    manifest: &Manifest,
    files: &[PathBuf],
) -> std::result::Result<String, String> {
    let path = engine
        .repo
        .type_dir(manifest.backup_type)
        .join(Manifest::file_name_for(&manifest.payload.file));
    if let Err(e) = std::fs::remove_file(&path) {
        return Err(format!(
            "its manifest {} could not be removed either ({e}), so the backup stays in the repository: the next lifeboat start (or `lifeboat catalog rebuild`) records it",
            path.display()
        ));
    }
    let _ = crate::storage::local::fsync_dir(&engine.repo.type_dir(manifest.backup_type));
    for f in files {
        let _ = std::fs::remove_file(f);
    }
    Ok("it was removed again, so nothing half-recorded is left".to_string())
}

/// Authenticate the manifest (when keyed) and write it atomically next to
/// the already published payload: the commit point of [`commit_artifact`].
/// Until this file exists the artifact does not count as a backup.
pub(crate) fn commit_manifest(
    engine: &Engine,
    manifest: &mut Manifest,
    data_key: Option<&DataKey>,
) -> Result<()> {
    if let Some(dk) = data_key {
        manifest.mac = Some(crypto::manifest_mac(dk, manifest));
    }
    let path = engine
        .repo
        .type_dir(manifest.backup_type)
        .join(Manifest::file_name_for(&manifest.payload.file));
    crate::storage::local::write_atomic(&path, &manifest.to_json_pretty())
}

/// A backup being written, from "back this up" to "committed": its
/// identity, its data key, and its catalog row. Every type's writer (the
/// file tree, the database dump) makes one, stages its streams with it,
/// and either commits through [`commit_artifact`] with
/// [`Draft::manifest`] or ends through [`Draft::fail`].
pub(crate) struct Draft {
    pub id: String,
    pub backup_type: BackupType,
    pub name: Option<String>,
    pub kind: BackupKind,
    pub parent_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub compression: Compression,
    pub level: i32,
    pub encrypt: bool,
    /// The payload's own key (whenever the repository has a key ring) and
    /// its wrapped form for the manifest.
    pub data_key: Option<DataKey>,
    pub wrapped: Option<crate::archive::manifest::WrappedKey>,
}

impl Draft {
    /// A new backup's identity and key; nothing is written yet.
    pub(crate) fn new(
        engine: &Engine,
        t: BackupType,
        name: Option<&str>,
        (kind, parent_id): (BackupKind, Option<String>),
        created_at: DateTime<Utc>,
        (ring, encrypt): (Option<&KeyRing>, bool),
    ) -> Draft {
        let id = new_id(t, created_at);
        let data_key = ring.map(|_| DataKey::random());
        let wrapped = match (ring, &data_key) {
            (Some(r), Some(dk)) => Some(crypto::wrap_data_key(r.active(), dk, &id)),
            _ => None,
        };
        Draft {
            id,
            backup_type: t,
            name: name.map(str::to_string),
            kind,
            parent_id,
            created_at,
            compression: engine.config.compression.algorithm,
            level: engine.config.compression.level,
            encrypt,
            data_key,
            wrapped,
        }
    }

    /// Record it in the catalog: `running`, pointing at the name its
    /// payload will get.
    pub(crate) fn record(&self, engine: &Engine, payload_name: &str, job: &Job) -> Result<()> {
        engine.catalog.insert_backup(&BackupRecord {
            id: self.id.clone(),
            backup_type: self.backup_type,
            name: self.name.clone(),
            kind: self.kind,
            parent_id: self.parent_id.clone(),
            created_at: self.created_at,
            finished_at: None,
            status: BackupStatus::Running,
            size: 0,
            stored_size: 0,
            encrypted: self.encrypt,
            key_id: self.wrapped.as_ref().map(|w| w.key_id.clone()),
            file: engine
                .repo
                .type_dir(self.backup_type)
                .join(payload_name)
                .to_string_lossy()
                .into_owned(),
            sha256: None,
            verified_at: None,
            verify_result: None,
            warnings: 0,
            job_id: Some(job.id),
        })
    }

    /// A sealer for one of its streams (compressed as configured,
    /// encrypted with its data key when the backup is encrypted).
    pub(crate) fn sealer(&self, file: File, path: &Path, threads: u32) -> Result<Sealer> {
        Sealer::new(
            file,
            SealOptions {
                compression: self.compression,
                level: self.level,
                data_key: if self.encrypt {
                    self.data_key.clone()
                } else {
                    None
                },
                threads,
            },
        )
        .map(|s| s.with_path(path))
    }

    /// It failed or was cancelled before the commit: remove what was
    /// staged, mark its row, and hand the error back.
    pub(crate) fn fail(&self, engine: &Engine, staged: &[&Path], e: Error) -> Error {
        for p in staged {
            let _ = std::fs::remove_file(p);
        }
        let status = if e.kind == crate::error::ErrorKind::Cancelled {
            BackupStatus::Cancelled
        } else {
            BackupStatus::Failed
        };
        let _ = engine.catalog.set_backup_status(&self.id, status);
        e
    }

    /// Its manifest, but for what only its type knows (an index, file
    /// statistics, database facts, warnings): the caller sets those.
    pub(crate) fn manifest(
        &self,
        engine: &Engine,
        payload: StreamInfo,
        source: serde_json::Value,
    ) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT.to_string(),
            id: self.id.clone(),
            backup_type: self.backup_type,
            name: self.name.clone(),
            kind: self.kind,
            parent_id: self.parent_id.clone(),
            created_at: self.created_at,
            finished_at: Utc::now(),
            created_by: engine.actor.clone(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            source,
            compression: self.compression,
            compression_level: self.level,
            encrypted: self.encrypt,
            segment_size: self.encrypt.then_some(crypto::SEGMENT_SIZE),
            key: self.wrapped.clone(),
            payload,
            index: None,
            files: None,
            database: None,
            warnings: Vec::new(),
            mac: None,
        }
    }

    /// What the operator is told about it once committed.
    pub(crate) fn report(
        &self,
        (file, manifest, status): (PathBuf, Manifest, BackupStatus),
        started: std::time::Instant,
        job: &Job,
    ) -> BackupReport {
        BackupReport {
            id: self.id.clone(),
            backup_type: self.backup_type,
            kind: self.kind,
            parent_id: manifest.parent_id.clone(),
            status,
            file,
            size: manifest.payload.size,
            stored_size: manifest.payload.stored_size,
            encrypted: self.encrypt,
            files: manifest.files.clone(),
            warnings: manifest.warnings.clone(),
            seconds: started.elapsed().as_secs_f64(),
            job_id: job.id,
            copies: Vec::new(),
            copy_error: None,
        }
    }
}

/// A sealed stream as the manifest describes it.
pub(crate) fn stream_info(file: String, sealed: &Sealed) -> StreamInfo {
    StreamInfo {
        file,
        size: sealed.size,
        stored_size: sealed.stored_size,
        sha256: sealed.sha256.clone(),
    }
}

/// A new backup id: type prefix, UTC time, random suffix (sortable, unique).
/// 32 random bits: a worker pool starts many backups in the same second,
/// and 16 bits collided about once in 300 batches of 20.
pub fn new_id(t: BackupType, at: DateTime<Utc>) -> String {
    format!(
        "{}-{}-{:08x}",
        t.id_prefix(),
        at.format("%Y%m%d-%H%M%S"),
        rand::random::<u32>()
    )
}

/// Seed-style artifact name, e.g. `fs_backup_20261126_020000_nightly.tar.zst.enc`.
pub fn artifact_name(
    t: BackupType,
    at: DateTime<Utc>,
    name: Option<&str>,
    kind: BackupKind,
    compression: Compression,
    encrypted: bool,
) -> String {
    let mut s = format!("{}_{}", t.file_prefix(), at.format("%Y%m%d_%H%M%S"));
    if kind == BackupKind::Incremental {
        s.push_str("_incr");
    }
    if let Some(n) = name {
        s.push('_');
        s.push_str(n);
    }
    s.push_str(".tar");
    s.push_str(compression.extension());
    if encrypted {
        s.push_str(".enc");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_seed_style() {
        let at = DateTime::parse_from_rfc3339("2026-11-26T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            artifact_name(
                BackupType::Filesystem,
                at,
                None,
                BackupKind::Full,
                Compression::Gzip,
                false
            ),
            "fs_backup_20261126_020000.tar.gz"
        );
        assert_eq!(
            artifact_name(
                BackupType::Configuration,
                at,
                Some("pre-deploy"),
                BackupKind::Full,
                Compression::Gzip,
                true
            ),
            "config_backup_20261126_020000_pre-deploy.tar.gz.enc"
        );
        assert!(new_id(BackupType::Filesystem, at).starts_with("fs-20261126-020000-"));
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(validate_name(Some("../x")).is_err());
        assert!(validate_name(Some("")).is_err());
        assert!(validate_name(Some("nightly_1")).is_ok());
    }
}
