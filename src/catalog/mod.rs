//! The catalog: a SQLite cache of the repository (backups, jobs, audit log).
//!
//! It is never the only copy of anything: `lifeboat catalog rebuild`
//! reconstructs the backups table from manifests, and the audit log is also
//! appended to the repository.

pub mod audit;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::archive::manifest::{BackupKind, BackupType};
use crate::error::Result;

/// Status of a backup row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupStatus {
    Running,
    Succeeded,
    SucceededWithWarnings,
    Failed,
    Interrupted,
    Cancelled,
}

impl BackupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupStatus::Running => "running",
            BackupStatus::Succeeded => "succeeded",
            BackupStatus::SucceededWithWarnings => "succeeded_with_warnings",
            BackupStatus::Failed => "failed",
            BackupStatus::Interrupted => "interrupted",
            BackupStatus::Cancelled => "cancelled",
        }
    }
    /// Finished with a usable artifact.
    pub fn is_good(self) -> bool {
        matches!(self, BackupStatus::Succeeded | BackupStatus::SucceededWithWarnings)
    }
}

/// One backup as the catalog knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupRecord {
    pub id: String,
    #[serde(rename = "type")]
    pub backup_type: BackupType,
    pub name: Option<String>,
    pub kind: BackupKind,
    pub parent_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: BackupStatus,
    /// Plaintext bytes.
    pub size: u64,
    pub stored_size: u64,
    pub encrypted: bool,
    pub key_id: Option<String>,
    /// Absolute path of the payload file.
    pub file: String,
    pub sha256: Option<String>,
    pub verified_at: Option<DateTime<Utc>>,
    /// Outcome of the last verification ("ok", or the failure).
    pub verify_result: Option<String>,
    pub warnings: u64,
    pub job_id: Option<i64>,
}

/// One job row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: i64,
    pub kind: String,
    pub target: String,
    /// queued, running, succeeded, succeeded_with_warnings, failed, cancelled, interrupted
    pub state: String,
    pub phase: Option<String>,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
    pub items_done: u64,
    pub items_total: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub error: Option<String>,
    pub host: String,
    pub pid: u32,
    /// Artifact paths this job is writing; removed if it dies.
    pub partial_outputs: Vec<String>,
}

/// The SQLite catalog.
pub struct Catalog {
    pub path: PathBuf,
    pub(crate) conn: rusqlite::Connection,
}

impl Catalog {
    /// Open (creating if absent) with WAL, busy timeout and migrations.
    pub fn open(path: &Path) -> Result<Catalog> {
        let _ = path;
        todo!("helper: catalog")
    }
}
