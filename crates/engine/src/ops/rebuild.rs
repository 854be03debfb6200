//! `catalog rebuild`: the catalog is a cache of the repository, so after it
//! is lost or damaged it is reconstructed from the manifests alone.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::catalog::{BackupStatus, Catalog};
use crate::error::{ErrorKind, Result};
use crate::ops::select::Artifact;
use crate::storage::local::Repository;

/// What a rebuild found.
#[derive(Debug, Clone, Serialize)]
pub struct RebuildReport {
    pub catalog: PathBuf,
    pub repository: PathBuf,
    pub backups: u64,
    /// Manifests that could not be used, with the reason.
    pub skipped: Vec<String>,
    /// Where a damaged catalog was moved, if it was.
    pub moved_aside: Option<PathBuf>,
}

/// Rebuild the backups table of the catalog at `catalog_path` from `repo_root`.
/// A damaged catalog file is moved aside (never deleted) first.
pub fn run(catalog_path: &Path, repo_root: &Path) -> Result<RebuildReport> {
    let repo = Repository::open_existing(repo_root)?;
    let mut moved_aside = None;
    let mut catalog = match Catalog::open(catalog_path) {
        Ok(c) => c,
        Err(e) if e.kind == ErrorKind::Integrity => {
            let aside = PathBuf::from(format!(
                "{}.broken-{}",
                catalog_path.display(),
                chrono::Utc::now().format("%Y%m%d%H%M%S")
            ));
            std::fs::rename(catalog_path, &aside)
                .map_err(|err| crate::error::Error::io("cannot move aside", catalog_path, err))?;
            for ext in ["-wal", "-shm"] {
                let side = PathBuf::from(format!("{}{ext}", catalog_path.display()));
                if side.exists() {
                    let _ = std::fs::rename(&side, format!("{}{ext}", aside.display()));
                }
            }
            moved_aside = Some(aside);
            Catalog::open(catalog_path)?
        }
        Err(e) => return Err(e),
    };
    let (rows, skipped) = collect(&repo)?;
    let backups = rows.len() as u64;
    let verified: Vec<_> = rows
        .iter()
        .map(|(m, p, _)| (m.id.clone(), p.clone()))
        .collect();
    catalog.replace_backups_from(rows)?;
    crate::crashpoint::hit("rebuild.filled");
    restore_verifications(&catalog, &verified)?;
    catalog.import_audit_jsonl(&repo.audit_log_path())?;
    Ok(RebuildReport {
        catalog: catalog_path.to_path_buf(),
        repository: repo_root.to_path_buf(),
        backups,
        skipped,
        moved_aside,
    })
}

type Row = (crate::archive::manifest::Manifest, PathBuf, BackupStatus);

/// Every usable artifact of a repository as catalog rows, and why the others
/// were skipped.
fn collect(repo: &Repository) -> Result<(Vec<Row>, Vec<String>)> {
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for found in repo.scan_manifests()? {
        let m = match found.manifest {
            Ok(m) => m,
            Err(e) => {
                skipped.push(e.message);
                continue;
            }
        };
        let a = Artifact {
            manifest: m,
            manifest_path: found.manifest_path,
            remote: None,
        };
        // A manifest not at its own payload's name was copied over another
        // backup's; a second manifest with an id already seen is a copy.
        let own_name = crate::archive::manifest::Manifest::file_name_for(&a.manifest.payload.file);
        if a.manifest_path.file_name() != Some(std::ffi::OsStr::new(&own_name)) {
            skipped.push(format!(
                "{}: manifest {} belongs to payload {} (copied over another backup's name?)",
                a.manifest.id,
                a.manifest_path.display(),
                a.manifest.payload.file
            ));
            continue;
        }
        if !seen.insert(a.manifest.id.clone()) {
            skipped.push(format!(
                "{}: manifest {} repeats an id already in the repository",
                a.manifest.id,
                a.manifest_path.display()
            ));
            continue;
        }
        let payload = a.payload_path();
        match std::fs::metadata(&payload) {
            Ok(meta) if meta.len() == a.manifest.payload.stored_size => {}
            Ok(meta) => {
                skipped.push(format!(
                    "{}: payload {} is {} bytes, manifest says {}",
                    a.manifest.id,
                    payload.display(),
                    meta.len(),
                    a.manifest.payload.stored_size
                ));
                continue;
            }
            Err(_) => {
                skipped.push(format!(
                    "{}: payload {} is missing",
                    a.manifest.id,
                    payload.display()
                ));
                continue;
            }
        }
        let status = if a.manifest.warnings.is_empty() {
            BackupStatus::Succeeded
        } else {
            BackupStatus::SucceededWithWarnings
        };
        rows.push((a.manifest, payload, status));
    }
    Ok((rows, skipped))
}

/// Add every artifact of `repo` to a (new, empty) catalog.
pub fn fill(catalog: &Catalog, repo: &Repository) -> Result<(u64, Vec<String>)> {
    let (rows, skipped) = collect(repo)?;
    let n = rows.len() as u64;
    let mut verified = Vec::new();
    for (m, p, status) in rows {
        catalog.upsert_from_manifest(&m, &p, status)?;
        verified.push((m.id, p));
    }
    restore_verifications(catalog, &verified)?;
    catalog.import_audit_jsonl(&repo.audit_log_path())?;
    Ok((n, skipped))
}

/// Verification results travel with the artifacts (a `.verified.json`
/// sidecar); put them back into the catalog.
fn restore_verifications(catalog: &Catalog, rows: &[(String, PathBuf)]) -> Result<()> {
    for (id, payload) in rows {
        if let Some(v) = crate::ops::verify::read_sidecar(payload) {
            catalog.mark_verified(id, v.at, &v.result)?;
        }
    }
    Ok(())
}
