//! Delete one backup: its catalog row and its artifact (payload, manifest,
//! file index, verification sidecar), audited.
//!
//! The manifest is the point of no return: once it is gone, `catalog
//! rebuild` can no longer bring the backup back. So the row is deleted and
//! the manifest removed inside one catalog transaction; if the manifest
//! cannot be removed the row stays, and nothing looks half-deleted. The
//! payload and sidecars go afterwards; a failure there is reported, and the
//! leftover files are plain files that no reader takes for a backup.
//!
//! A backup that an incremental in the catalog builds on is refused: deleting
//! it would make every later link of that chain unrestorable.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::archive::manifest::MANIFEST_SUFFIX;
use crate::error::{Error, Result};
use crate::ops::Engine;

/// What a deletion removed.
#[derive(Debug, Clone, Serialize)]
pub struct DeleteReport {
    /// Bytes of payload actually removed (0 when only the row went).
    pub freed: u64,
    pub id: String,
    /// Files removed from the repository.
    pub removed: Vec<PathBuf>,
    /// Files that should have gone but could not be removed (with why).
    pub leftovers: Vec<String>,
}

/// Delete backup `id`. Refused while the backup is still being written,
/// while a catalogued incremental names it as its parent, or while a job
/// holds the repository (a copy may be sending this very backup, a prune
/// deciding on it): a deletion does not wait, it says who to wait for.
pub fn delete(engine: &Engine, id: &str) -> Result<DeleteReport> {
    let _repository =
        crate::ops::jobs::hold_or_refuse(engine, "repository", &format!("deleting backup {id}"))?;
    let keys = engine
        .catalog
        .get_manifest_json(id)?
        .map(|j| crate::ops::copies::keys_of(&j))
        .unwrap_or_default();
    let mut result = delete_inner(engine, id, &|_| Ok(()));
    // Its copies on the targets go with it (append-only ones stay).
    if let Ok(r) = &mut result {
        for (level, line) in crate::ops::copies::delete_copies(engine, id, &keys) {
            if level != "info" {
                r.leftovers.push(line);
            }
        }
    }
    let (outcome, detail) = match &result {
        Ok(r) => (
            "succeeded",
            format!("removed {} file(s) from the repository", r.removed.len()),
        ),
        Err(e) => ("refused", e.message.clone()),
    };
    engine.audit("delete", id, outcome, &detail)?;
    result
}

/// Delete without an audit entry of its own (prune audits each deletion
/// with its reason). `track` records each file about to lose its manifest
/// as the calling job's partial output: if the process dies between the
/// manifest's removal and the files', the next start removes them.
pub(crate) fn delete_inner(
    engine: &Engine,
    id: &str,
    track: &dyn Fn(&Path) -> Result<()>,
) -> Result<DeleteReport> {
    let rec = engine.catalog.get_backup(id)?.ok_or_else(|| {
        Error::not_found(format!("no backup with id {id}"))
            .hint("`lifeboat list` shows the ids of catalogued backups")
    })?;
    if rec.status == crate::catalog::BackupStatus::Running {
        return Err(Error::refused(format!(
            "backup {id} is still being written (status running)"
        ))
        .hint("wait for its job to finish, or cancel it with `lifeboat cancel JOB`"));
    }
    let offsite = engine.catalog.offsite_only()?.contains_key(id);
    remove_files(engine, &rec, track, offsite, |then| {
        engine.catalog.delete_leaf_backup(id, then)
    })
}

/// Prune's "the repository lets it go, a target keeps it": the row stays,
/// marked as living on its copies only, and the repository's files go
/// (manifest first, in the same transaction that marks the row; a kill
/// after that leaves files the next prune removes).
pub(crate) fn leave_repository(
    engine: &Engine,
    id: &str,
    track: &dyn Fn(&Path) -> Result<()>,
) -> Result<DeleteReport> {
    let rec = engine.catalog.get_backup(id)?.ok_or_else(|| {
        Error::not_found(format!("no backup with id {id}"))
            .hint("`lifeboat list` shows the ids of catalogued backups")
    })?;
    remove_files(engine, &rec, track, true, |then| {
        engine
            .catalog
            .mark_offsite_only(id, chrono::Utc::now(), then)
    })
}

/// Remove a backup's own files from the repository, the manifest inside
/// `commit` (which changes the catalog), the rest after.
fn remove_files(
    engine: &Engine,
    rec: &crate::catalog::BackupRecord,
    track: &dyn Fn(&Path) -> Result<()>,
    offsite_only: bool,
    commit: impl FnOnce(Box<dyn FnOnce() -> Result<()> + '_>) -> Result<()>,
) -> Result<DeleteReport> {
    let id = rec.id.as_str();
    let payload = PathBuf::from(&rec.file);
    inside_repository(engine, &payload)?;
    let manifest = PathBuf::from(format!("{}{MANIFEST_SUFFIX}", payload.display()));
    // Files are this backup's only if a manifest with its own id claims
    // them. A row that never committed (interrupted, failed) points at the
    // name it was going to get, which another backup of the same second
    // may have taken since: then only the row goes.
    let own = crate::storage::local::read_manifest(&manifest)
        .ok()
        .filter(|m| m.id == rec.id);
    if offsite_only && own.is_none() && manifest.exists() {
        // Which files are its own cannot be told: leave them all, say so.
        return Err(Error::refused(format!(
            "backup {id}: its manifest {} is unreadable or another backup's, so lifeboat cannot tell which files in the repository are its own",
            manifest.display()
        ))
        .hint("look at the file; `lifeboat verify ID` says what is wrong with it"));
    }
    let files: Vec<PathBuf> = match &own {
        Some(m) => [
            Some(payload.clone()),
            m.index.as_ref().map(|i| payload.with_file_name(&i.file)),
            Some(PathBuf::from(format!(
                "{}.verified.json",
                payload.display()
            ))),
        ]
        .into_iter()
        .flatten()
        .collect(),
        None => Vec::new(),
    };
    for p in &files {
        track(p)?;
    }

    let removed = std::cell::RefCell::new(Vec::new());
    commit(Box::new(|| {
        if own.is_some() && remove_if_present(&manifest)? {
            removed.borrow_mut().push(manifest.clone());
        }
        Ok(())
    }))?;
    let mut removed = removed.into_inner();

    crate::crashpoint::hit("delete.manifest-removed");
    let mut leftovers = Vec::new();
    // A backup that lives on its targets only has no files here to miss.
    if own.is_none() && rec.status.is_good() && !offsite_only {
        // A good row whose manifest cannot be read (or is another
        // backup's): its files are not provably its own, so they stay.
        leftovers.push(format!(
            "the files of backup {id} were left in place: its manifest {} is missing, unreadable or another backup's",
            manifest.display()
        ));
    }
    for p in files {
        match remove_if_present(&p) {
            Ok(true) => removed.push(p),
            Ok(false) => {}
            Err(e) => leftovers.push(e.message),
        }
    }
    if let Some(dir) = manifest.parent() {
        let _ = crate::storage::local::fsync_dir(dir);
    }
    let freed = if removed.contains(&payload) {
        rec.stored_size
    } else {
        0
    };
    Ok(DeleteReport {
        freed,
        id: id.to_string(),
        removed,
        leftovers,
    })
}

/// Deletion never reaches outside the repository: a catalog row whose file
/// lies elsewhere (a forged manifest adopted by a rebuild, an edited row)
/// is refused.
fn inside_repository(engine: &Engine, payload: &Path) -> Result<()> {
    if engine.repo.holds(payload) {
        return Ok(());
    }
    Err(Error::refused(format!(
        "backup file {} is not inside the repository {}: refusing to delete anything outside it",
        payload.display(),
        engine.repo.root.display()
    ))
    .hint("the catalog row points elsewhere (a forged manifest, or a moved repository): rebuild the catalog with `lifeboat catalog rebuild`"))
}

/// Remove a file; Ok(false) when it was already gone.
fn remove_if_present(p: &Path) -> Result<bool> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("cannot remove", p, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::manifest::BackupType;
    use crate::config::Config;
    use crate::ops::backup::{self, BackupRequest};
    use crate::ops::Silent;
    use crate::Cancel;

    fn engine(dir: &Path) -> Engine {
        let app = dir.join("app");
        std::fs::create_dir_all(app.join("uploads")).unwrap();
        std::fs::write(app.join("uploads/a.txt"), "first\n").unwrap();
        let toml = format!(
            "[repository]\npath = \"{d}/repo\"\n[catalog]\npath = \"{d}/catalog.db\"\n\
             [encryption]\nkey_file = \"{d}/key\"\n[sources.filesystem]\npaths = [\"{d}/app/uploads\"]\n",
            d = dir.display()
        );
        let cfg_path = dir.join("lifeboat.toml");
        std::fs::write(&cfg_path, toml).unwrap();
        let config = Config::load(Some(&cfg_path), &|_| None, dir).unwrap();
        Engine::open(config).unwrap()
    }

    fn backup(engine: &Engine) -> crate::ops::backup::BackupReport {
        backup::run(
            engine,
            &BackupRequest {
                backup_type: BackupType::Filesystem,
                name: None,
                force_full: false,
            },
            &Silent,
            &Cancel::new(),
        )
        .unwrap()
    }

    #[test]
    fn refuses_a_parent_then_deletes_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(dir.path());
        let full = backup(&engine);
        std::fs::write(dir.path().join("app/uploads/b.txt"), "second\n").unwrap();
        let incr = backup(&engine);
        let incr_rec = engine.catalog.get_backup(&incr.id).unwrap().unwrap();
        assert_eq!(incr_rec.parent_id.as_deref(), Some(full.id.as_str()));

        let err = delete(&engine, &full.id).unwrap_err();
        assert!(err.message.contains(&incr.id), "{}", err.message);
        assert!(engine.catalog.get_backup(&full.id).unwrap().is_some());
        let full_file = PathBuf::from(
            engine
                .catalog
                .get_backup(&full.id)
                .unwrap()
                .unwrap()
                .file
                .clone(),
        );
        assert!(full_file.exists());

        let r = delete(&engine, &incr.id).unwrap();
        assert!(r.leftovers.is_empty(), "{:?}", r.leftovers);
        assert!(!Path::new(&incr_rec.file).exists());
        assert!(!Path::new(&format!("{}{MANIFEST_SUFFIX}", incr_rec.file)).exists());
        assert!(engine.catalog.get_backup(&incr.id).unwrap().is_none());

        delete(&engine, &full.id).unwrap();
        assert!(!full_file.exists());
        // Nothing of either artifact is left for a rebuild to resurrect.
        assert!(engine.repo.scan_manifests().unwrap().is_empty());

        let audit = engine.catalog.list_audit(10, 0).unwrap();
        let deletes: Vec<_> = audit
            .iter()
            .filter(|a| a.entry.action == "delete")
            .map(|a| (a.entry.target.clone(), a.entry.outcome.clone()))
            .collect();
        assert_eq!(
            deletes,
            vec![
                (full.id.clone(), "succeeded".to_string()),
                (incr.id.clone(), "succeeded".to_string()),
                (full.id.clone(), "refused".to_string()),
            ]
        );
    }

    /// An interrupted backup's row names the file it was going to get;
    /// a later backup of the same second got that name. Deleting the
    /// interrupted row must leave the other backup whole (prune did not).
    #[test]
    fn deleting_a_row_that_never_committed_leaves_another_backups_files() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(dir.path());
        let good = backup(&engine);
        let mut ghost = engine.catalog.get_backup(&good.id).unwrap().unwrap();
        ghost.id = "fs-ghost".into();
        ghost.status = crate::catalog::BackupStatus::Interrupted;
        engine.catalog.insert_backup(&ghost).unwrap();
        let r = delete(&engine, "fs-ghost").unwrap();
        assert!(r.removed.is_empty(), "{:?}", r.removed);
        assert!(engine.catalog.get_backup("fs-ghost").unwrap().is_none());
        assert!(good.file.exists());
        assert!(manifest_path(&good.file).exists());
        crate::ops::verify::run(
            &engine,
            &crate::ops::select::Selector::Id(good.id.clone()),
            false,
            None,
            &Silent,
            &Cancel::new(),
        )
        .unwrap();
    }

    fn manifest_path(payload: &Path) -> PathBuf {
        PathBuf::from(format!("{}{MANIFEST_SUFFIX}", payload.display()))
    }

    #[test]
    fn unknown_id_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(dir.path());
        let err = delete(&engine, "fs-nope").unwrap_err();
        assert!(err.message.contains("no backup with id fs-nope"));
    }
}
