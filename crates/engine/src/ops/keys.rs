//! Key management: generate, rotate (re-wrap every data key, no payload is
//! rewritten), list, and remove a retired key once nothing needs it.

use std::path::Path;

use serde::Serialize;

use crate::archive::crypto;
use crate::archive::keys::KeyRing;
use crate::catalog::JobKind;
use crate::error::{Error, Result};
use crate::ops::select;
use crate::ops::Engine;
use crate::storage::local::{write_atomic, Repository};
use crate::Cancel;

/// One key as `key list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub active: bool,
    /// Artifacts in the repository whose data key this key wraps.
    pub artifacts: u64,
}

/// Create a new key file.
pub fn generate(path: &Path) -> Result<KeyInfo> {
    let ring = KeyRing::generate(path)?;
    let k = ring.active();
    Ok(KeyInfo {
        id: k.id.clone(),
        created_at: k.created_at,
        active: true,
        artifacts: 0,
    })
}

/// Keys of the key file with how many artifacts each one wraps.
pub fn list(engine: &Engine) -> Result<Vec<KeyInfo>> {
    let ring = engine.require_keyring("listing keys needs the key file")?;
    let artifacts = select::scan(&engine.repo)?;
    Ok(ring
        .keys()
        .iter()
        .map(|k| KeyInfo {
            id: k.id.clone(),
            created_at: k.created_at,
            active: k.active,
            artifacts: artifacts
                .iter()
                .filter(|a| a.manifest.key.as_ref().is_some_and(|w| w.key_id == k.id))
                .count() as u64,
        })
        .collect())
}

/// Outcome of a rotation.
#[derive(Debug, Clone, Serialize)]
pub struct RotateReport {
    pub new_key: String,
    pub rewrapped: u64,
    pub failed: Vec<String>,
}

/// Add a new active key and re-wrap every artifact's data key with it, as
/// a `key-rotate` job holding the repository (no prune deletes what it
/// re-wraps). Data keys it could not re-wrap end the job with warnings:
/// those backups still need the old key.
pub fn rotate(
    engine: &Engine,
    face: &dyn crate::ops::Progress,
    cancel: &Cancel,
) -> Result<RotateReport> {
    let end = crate::ops::jobs::JobEnd {
        warnings: |r: &RotateReport| r.failed.len(),
        audit: None,
    };
    crate::ops::jobs::run_job(
        engine,
        JobKind::KeyRotate,
        "keys",
        face,
        cancel,
        end,
        |job, _| {
            job.acquire("repository")?;
            rotate_now(engine)
        },
    )
}

fn rotate_now(engine: &Engine) -> Result<RotateReport> {
    let mut ring = engine.require_keyring("rotating needs the current key file")?;
    let new_id = ring.add_active().id.clone();
    ring.save()?;
    let report = rewrap_all(&ring, &engine.repo)?;
    for a in select::scan(&engine.repo)? {
        if engine.catalog.get_backup(&a.manifest.id)?.is_some() {
            engine.catalog.upsert_from_manifest(
                &a.manifest,
                &a.payload_path(),
                status_of(engine, &a.manifest.id)?,
            )?;
        }
    }
    let outcome = if report.failed.is_empty() {
        "succeeded"
    } else {
        "failed"
    };
    engine.audit(
        "key-rotate",
        &new_id,
        outcome,
        &format!(
            "{} data keys re-wrapped, {} failed",
            report.rewrapped,
            report.failed.len()
        ),
    )?;
    Ok(report)
}

fn status_of(engine: &Engine, id: &str) -> Result<crate::catalog::BackupStatus> {
    Ok(engine
        .catalog
        .get_backup(id)?
        .map(|r| r.status)
        .unwrap_or(crate::catalog::BackupStatus::Succeeded))
}

/// Re-wrap every data key not already wrapped by the active key.
pub fn rewrap_all(ring: &KeyRing, repo: &Repository) -> Result<RotateReport> {
    let active = ring.active();
    let mut rewrapped = 0;
    let mut failed = Vec::new();
    for found in repo.scan_manifests()? {
        let mut m = match found.manifest {
            Ok(m) => m,
            Err(e) => {
                failed.push(e.message);
                continue;
            }
        };
        let Some(w) = &m.key else { continue };
        if w.key_id == active.id {
            continue;
        }
        match crypto::unwrap_data_key(ring, w, &m.id) {
            Ok(dk) => {
                m.key = Some(crypto::wrap_data_key(active, &dk, &m.id));
                write_atomic(&found.manifest_path, &m.to_json_pretty())?;
                rewrapped += 1;
                crate::crashpoint::hit("key-rotate.rewrapped-one");
            }
            Err(e) => failed.push(format!("{}: {}", m.id, e.message)),
        }
    }
    Ok(RotateReport {
        new_key: active.id.clone(),
        rewrapped,
        failed,
    })
}

/// Remove a retired key, refusing while any artifact still needs it.
pub fn remove(engine: &Engine, id: &str) -> Result<()> {
    let mut ring = engine.require_keyring("removing a key needs the key file")?;
    let users: Vec<String> = select::scan(&engine.repo)?
        .into_iter()
        .filter(|a| a.manifest.key.as_ref().is_some_and(|w| w.key_id == id))
        .map(|a| a.manifest.id)
        .collect();
    if !users.is_empty() {
        return Err(Error::refused(format!(
            "key {id} still wraps the data keys of {} backup(s) (e.g. {})",
            users.len(),
            users[0]
        ))
        .hint(
            "run `lifeboat key rotate` first so every backup is re-wrapped with the active key",
        ));
    }
    ring.remove(id)?;
    ring.save()?;
    engine.audit("key-remove", id, "succeeded", "")?;
    Ok(())
}
