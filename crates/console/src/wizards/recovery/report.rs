//! What the wizard reads of `lifeboat recover --json`: the plan (with
//! `--dry-run`) and the recovery's report, as the queued job recorded it.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// The parts of `recover --json` the wizard shows.
#[derive(Debug, Clone, Deserialize)]
pub struct RecoverReport {
    pub ok: bool,
    pub choices: Vec<RecoverChoice>,
    pub missing: Vec<String>,
    pub timeline: Vec<RecoverPhase>,
    /// When the recovery (or the plan) started: each type's data-loss
    /// window runs from its chosen backup to here.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// The time to restore (recover's own run), not the RTO.
    pub recovery_seconds: f64,
    pub data_loss_seconds: Option<i64>,
    /// What the recovery replaces in production, per type.
    #[serde(default)]
    pub overwrites: Vec<String>,
    pub notes: Vec<String>,
    pub report_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RecoverChoice {
    #[serde(rename = "type")]
    pub backup_type: String,
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub chain: Vec<String>,
    pub skipped: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RecoverPhase {
    pub name: String,
    pub seconds: f64,
    pub outcome: String,
}
