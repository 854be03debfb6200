//! Health checks: is every backup type fresh, are backups succeeding, is
//! there room left, was recovery proven recently, are keys, catalog and
//! audit chain intact, is PostgreSQL reachable.
//!
//! One evaluation feeds `lifeboat health`, the console's Dashboard and
//! Health screens, metrics and alerts, so they can never disagree.

pub mod charts;
pub mod checks;
pub mod copies;
pub mod disk;
pub mod metrics;
pub mod probe;
pub mod report;
pub mod storage;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use checks::Depth;

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

/// How the value of a check that could not be evaluated begins (such a
/// check is a warning: nothing is known to be wrong, nothing is known to
/// be right).
pub const CANNOT_EVALUATE: &str = "cannot be evaluated: ";

impl Check {
    /// The check could not be evaluated (its status is a warning): less
    /// pressing than a warning that measured something wrong.
    pub fn is_unknown(&self) -> bool {
        self.status == Status::Warning && self.value.starts_with(CANNOT_EVALUATE)
    }
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
    evaluate_with(config, Some(catalog), None, now, Depth::Full)
}

/// Evaluate when the catalog could not be opened (`why`): the catalog
/// check is critical and says why; the checks that need no catalog
/// (repository, disk, key file, PostgreSQL) still run.
pub fn evaluate_without_catalog(
    config: &crate::config::Config,
    why: &str,
    now: DateTime<Utc>,
) -> HealthReport {
    evaluate_with(config, None, Some(why), now, Depth::Full)
}

/// Evaluate at the given depth ([`Depth::Quick`] skips PostgreSQL, the
/// catalog's `quick_check` and the audit chains).
pub fn evaluate_with(
    config: &crate::config::Config,
    catalog: Option<&crate::catalog::Catalog>,
    catalog_error: Option<&str>,
    now: DateTime<Utc>,
    depth: Depth,
) -> HealthReport {
    let ctx = checks::Ctx {
        config,
        catalog,
        now,
    };
    let types = config.configured_types();
    let mut out = Vec::new();
    out.push(checks::repository(&ctx));
    if depth == Depth::Full || catalog.is_none() {
        out.push(checks::catalog(&ctx, catalog_error));
    }
    out.extend(checks::backup_age(&ctx, &types));
    out.push(checks::success_rate(&ctx));
    out.extend(checks::rpo(&ctx, &types));
    out.push(checks::rto(&ctx));
    out.push(checks::verify_age(&ctx));
    out.push(checks::drill_age(&ctx));
    out.extend(checks::copies(&ctx, &types));
    let growth = catalog.and_then(|c| {
        let free = disk::space(&config.repository.path).ok()?.free;
        let per_day = c.bytes_per_day().ok()?;
        let totals = storage::daily_totals(&per_day, now.date_naive(), storage::GROWTH_DAYS + 1);
        storage::growth(&totals, free)
    });
    out.push(checks::disk(&ctx, growth));
    out.push(checks::key_file(&ctx));
    if depth == Depth::Full {
        out.push(checks::audit(&ctx));
        out.extend(checks::postgres(&ctx));
    }
    HealthReport::new(now, out)
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
    /// Bytes available to unprivileged writers (`f_bavail`).
    pub disk_free: u64,
    /// Bytes in use (`f_blocks - f_bfree`); with `disk_free`, what the
    /// health disk check measures (see [`StorageReport::disk`]).
    pub disk_used: u64,
    /// Stored bytes of the repository at the end of each day, oldest first.
    pub daily_totals: Vec<(chrono::NaiveDate, u64)>,
    /// At the recent growth rate; None when not growing or unknown.
    pub days_until_full: Option<f64>,
    /// Each `[[targets]]` entry's share of the copies (empty without targets).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<copies::TargetCopies>,
    /// Each configured type's 3-2-1 verdict (empty without targets).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verdicts: Vec<copies::TypeVerdict>,
}

impl StorageReport {
    /// The repository's disk as the health disk check sees it, so a gauge
    /// drawn from this report shows the same percent as that check
    /// ([`disk::DiskSpace::used_percent`]: root's reserved blocks count
    /// neither as used nor as free).
    pub fn disk(&self) -> disk::DiskSpace {
        disk::DiskSpace {
            total: self.disk_total,
            free: self.disk_free,
            used: self.disk_used,
        }
    }
}

/// Storage usage from the catalog and the repository's file system.
pub fn storage(
    config: &crate::config::Config,
    catalog: &crate::catalog::Catalog,
    now: DateTime<Utc>,
) -> crate::error::Result<StorageReport> {
    storage::report(config, catalog, now)
}
