//! The use-cases: backup, restore, verify, keys, catalog rebuild.
//!
//! An [`Engine`] holds what every operation needs (config, catalog,
//! repository, who is acting) and knows nothing of terminals: progress goes
//! out through the [`Progress`] trait, which the CLI implements with
//! indicatif, and tests with [`Silent`].

pub mod app;
pub mod backup;
mod chain_progress;
pub mod copies;
pub mod daemon;
pub mod database;
pub mod delete;
pub mod drift;
pub mod drill;
pub mod fetch;
pub mod full;
pub mod integrity;
pub mod jobs;
pub mod keys;
pub mod prune;
pub mod queue;
pub mod rebuild;
pub mod recover;
pub mod restore;
pub mod select;
pub mod settle;
pub mod text;
pub mod verify;
pub mod worker;

use std::path::Path;

use crate::archive::crypto::{self, DataKey};
use crate::archive::keys::KeyRing;
use crate::archive::manifest::Manifest;
use crate::catalog::audit::AuditEntry;
use crate::catalog::Catalog;
use crate::config::{Config, EncryptMode};
use crate::error::{Error, Result};
use crate::storage::local::Repository;

/// Where an operation reports what it is doing. Implementations must be
/// cheap: `advance` is called often (the job layer throttles persistence).
pub trait Progress {
    /// A new phase began ("reading files", "verifying", ...).
    fn phase(&self, name: &str);
    /// Totals, when known.
    fn total(&self, bytes: Option<u64>, items: Option<u64>);
    /// Absolute amounts done so far.
    fn advance(&self, bytes_done: u64, items_done: u64);
    /// A line worth showing the operator (a warning, a decision taken).
    fn note(&self, message: &str);
}

/// Progress that goes nowhere (tests, `--json`).
pub struct Silent;

impl Progress for Silent {
    fn phase(&self, _: &str) {}
    fn total(&self, _: Option<u64>, _: Option<u64>) {}
    fn advance(&self, _: u64, _: u64) {}
    fn note(&self, _: &str) {}
}

/// Everything an operation needs.
pub struct Engine {
    pub config: Config,
    pub catalog: Catalog,
    pub repo: Repository,
    /// `user@host`, for audit rows and manifests.
    pub actor: String,
    pub host: String,
    /// Jobs started through this engine become children of this job
    /// (`backup --all` runs one engine per type under one parent job).
    pub parent_job: Option<i64>,
    /// A queued job a worker claimed for this engine: the next job started
    /// through it takes over that row instead of creating one (see
    /// [`queue`]), so a queued job runs through the same path as a direct one.
    pub claimed_job: std::cell::Cell<Option<i64>>,
}

impl Engine {
    /// Open the repository and catalog named by `config`, and settle the
    /// affairs of processes that died mid-job (their partial outputs are
    /// removed and their jobs marked interrupted).
    pub fn open(config: Config) -> Result<Engine> {
        let repo = Repository::open(&config.repository.path)?;
        let catalog_was_missing = !config.catalog.path.exists();
        let catalog = Catalog::open(&config.catalog.path)?;
        let actor = crate::catalog::audit::current_actor();
        let host = hostname();
        let engine = Engine {
            config,
            catalog,
            repo,
            actor,
            host,
            parent_job: None,
            claimed_job: std::cell::Cell::new(None),
        };
        if catalog_was_missing {
            engine.adopt_repository()?;
        }
        settle::recover_dead_jobs(&engine)?;
        Ok(engine)
    }

    /// A new, empty catalog over a repository that already holds backups
    /// (the catalog was lost or moved): fill it from the manifests, so that
    /// `list` never claims there are no backups when there are.
    fn adopt_repository(&self) -> Result<()> {
        if self.repo.scan_manifests()?.is_empty() {
            self.catalog
                .import_audit_jsonl(&self.repo.audit_log_path())?;
            return Ok(());
        }
        let report = rebuild::fill(&self.catalog, &self.repo)?;
        crate::notice::say(
            crate::notice::Level::Note,
            &format!(
                "catalog {} did not exist; rebuilt it from the {} backup(s) in repository {}",
                self.catalog.path.display(),
                report.0,
                self.repo.root.display()
            ),
        );
        for s in report.1 {
            crate::notice::say(crate::notice::Level::Note, &format!("skipped {s}"));
        }
        Ok(())
    }

    /// The key ring, if the key file exists. A configured `encrypt = true`
    /// with no key file is an error here.
    pub fn keyring(&self) -> Result<Option<KeyRing>> {
        let path = &self.config.encryption.key_file;
        if path.exists() {
            let mut ring = KeyRing::load(path)?;
            warn_key_file(&ring);
            ring.accept_unauthenticated = self.config.encryption.accept_unauthenticated;
            return Ok(Some(ring));
        }
        match self.config.encryption.encrypt {
            EncryptMode::Always => Err(KeyRing::load(path).err().unwrap_or_else(|| {
                Error::key(format!("key file {} does not exist", path.display()))
            })),
            _ => Ok(None),
        }
    }

    /// Keyring that must exist because an artifact needs it.
    pub fn require_keyring(&self, why: &str) -> Result<KeyRing> {
        let path = &self.config.encryption.key_file;
        let mut ring = KeyRing::load(path).map_err(|e| {
            Error::key(format!("{why}, but {}", e.message)).hint(e.hint.unwrap_or_else(|| {
                "set [encryption] key_file to the key file that was used".into()
            }))
        })?;
        warn_key_file(&ring);
        ring.accept_unauthenticated = self.config.encryption.accept_unauthenticated;
        Ok(ring)
    }

    /// The key ring to check `artifacts` with: required when any of them is
    /// keyed; otherwise the key file if there is one, because in a keyed
    /// repository a manifest without a MAC is refused ([`open_data_key`]).
    pub fn ring_for(&self, artifacts: &[&Manifest]) -> Result<Option<KeyRing>> {
        if let Some(m) = artifacts.iter().find(|m| m.key.is_some()) {
            return self
                .require_keyring(&format!("backup {} is keyed", m.id))
                .map(Some);
        }
        if self.config.encryption.key_file.exists() {
            return self.keyring();
        }
        Ok(None)
    }

    /// Record an operation in the catalog's audit log and the repository's
    /// copy of it. Audit failures are reported, never silently dropped.
    pub fn audit(&self, action: &str, target: &str, outcome: &str, detail: &str) -> Result<()> {
        let entry = AuditEntry {
            ts: chrono::Utc::now(),
            actor: self.actor.clone(),
            action: action.to_string(),
            target: target.to_string(),
            outcome: outcome.to_string(),
            detail: detail.to_string(),
        };
        // Both copies in one order across threads and processes.
        let log = self.repo.audit_log_path();
        self.repo.append_audit_with(|| {
            self.catalog.catch_up_audit(&log)?;
            let record = self.catalog.append_audit(&entry)?;
            Ok(serde_json::to_string(&record).expect("audit record serializes"))
        })
    }
}

/// Say what is wrong with the key file (loose permissions) on stderr, once.
fn warn_key_file(ring: &KeyRing) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        for w in ring.warnings() {
            crate::notice::say(crate::notice::Level::Warning, w);
        }
    });
}

/// Unwrap an artifact's data key and check its manifest MAC. Returns None
/// for artifacts made without a key.
///
/// Refused as tampering: a manifest that is not at the name its payload
/// fixes (`<payload>.manifest.json`: a manifest copied over another
/// backup's), and, when a key file exists, a manifest without a MAC (one
/// edited to `encrypted = false` with its key and MAC removed), unless the
/// operator accepted unauthenticated manifests explicitly. The MAC covers
/// the id, type and payload file name, so none of them can be changed.
pub fn open_data_key(
    ring: Option<&KeyRing>,
    manifest: &Manifest,
    manifest_path: &Path,
) -> Result<Option<DataKey>> {
    check_manifest_place(manifest, manifest_path)?;
    let Some(wrapped) = &manifest.key else {
        if manifest.encrypted {
            return Err(Error::integrity(format!(
                "manifest {} says the payload is encrypted but carries no data key",
                manifest_path.display()
            )));
        }
        if let Some(ring) = ring.filter(|r| !r.accept_unauthenticated) {
            return Err(Error::integrity(format!(
                "manifest {} of backup {} is not authenticated (no key, no MAC), but this repository is keyed (key file {}): it may have been edited to remove its protection",
                manifest_path.display(),
                manifest.id,
                ring.path.display()
            ))
            .hint("use another backup; if you know this backup was made before the key existed, add --allow-unauthenticated to use it anyway"));
        }
        return Ok(None);
    };
    let Some(ring) = ring else {
        return Err(Error::key(format!(
            "backup {} was made with key {}, but no key file is available",
            manifest.id, wrapped.key_id
        ))
        .hint(
            "set [encryption] key_file (or LIFEBOAT_KEY_FILE) to the key file that holds that key",
        ));
    };
    let dk = crypto::unwrap_data_key(ring, wrapped, &manifest.id)?;
    crypto::verify_manifest_mac(&dk, manifest).map_err(|e| {
        Error::integrity(format!(
            "manifest {} failed authentication: {}",
            manifest_path.display(),
            e.message
        ))
        .hint("the manifest was changed after it was written; do not trust this backup, use another one")
    })?;
    Ok(Some(dk))
}

/// A manifest must sit where its own payload name puts it, in the
/// directory of its own type: otherwise it was copied over another
/// backup's name.
fn check_manifest_place(manifest: &Manifest, manifest_path: &Path) -> Result<()> {
    let name = manifest_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let expected = Manifest::file_name_for(&manifest.payload.file);
    if name != expected {
        return Err(Error::integrity(format!(
            "manifest {} belongs to backup {} whose payload is {}, not to this file name: a manifest was copied over another backup's",
            manifest_path.display(),
            manifest.id,
            manifest.payload.file
        ))
        .hint("do not trust this backup; restore the repository's files from a copy, or use another backup"));
    }
    let dir = manifest_path
        .parent()
        .and_then(|d| d.file_name())
        .map(|n| n.to_string_lossy().into_owned());
    let type_dirs: Vec<&str> = crate::archive::manifest::BackupType::ALL
        .iter()
        .map(|t| t.dir())
        .collect();
    if let Some(dir) = dir.filter(|d| type_dirs.contains(&d.as_str())) {
        if dir != manifest.backup_type.dir() {
            return Err(Error::integrity(format!(
                "manifest {} says backup {} is a {} backup, but it lies in {dir}/",
                manifest_path.display(),
                manifest.id,
                manifest.backup_type
            ))
            .hint("do not trust this backup; use another one"));
        }
    }
    Ok(())
}

pub use crate::clock::now;
pub use crate::host::{hostname, pid_alive};

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(dir: &Path) -> Engine {
        let cfg_path = dir.join("lifeboat.toml");
        Engine::open(Config::load(Some(&cfg_path), &|_| None, dir).unwrap()).unwrap()
    }

    /// Two engines (as two threads of a drill, or two processes) auditing
    /// at once: the repository's log holds the rows in the catalog's order,
    /// so the chain check does not mistake a race for tampering.
    #[test]
    fn concurrent_audits_keep_both_copies_in_one_order() {
        let dir = tempfile::tempdir().unwrap();
        let toml = format!(
            "[repository]\npath = \"{d}/repo\"\n[catalog]\npath = \"{d}/catalog.db\"\n",
            d = dir.path().display()
        );
        std::fs::write(dir.path().join("lifeboat.toml"), toml).unwrap();
        engine(dir.path());
        std::thread::scope(|s| {
            for t in 0..2 {
                let dir = dir.path();
                s.spawn(move || {
                    let e = engine(dir);
                    for i in 0..40 {
                        e.audit("test", &format!("thread {t}"), "ok", &format!("{i}"))
                            .unwrap();
                    }
                });
            }
        });
        let log = std::fs::read_to_string(dir.path().join("repo/audit/audit.jsonl")).unwrap();
        let seqs: Vec<i64> = log
            .lines()
            .map(|l| {
                serde_json::from_str::<crate::catalog::AuditRecord>(l)
                    .unwrap()
                    .seq
            })
            .collect();
        assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
        assert_eq!(seqs.len(), 80);
    }
}
