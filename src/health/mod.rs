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
