//! Prometheus textfile metrics (node_exporter's textfile collector).
//!
//! Written atomically (temp file + rename, so the collector never reads half
//! a file) after `lifeboat health` and after every job. After a job only the
//! quick checks are evaluated (no PostgreSQL connection, no `quick_check`,
//! no audit chain walk: a job's end must stay cheap); the statuses of those
//! slower checks are carried over from the previous file, so an alert on
//! them does not flap between present and absent.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::checks::{Depth, FULL_ONLY};
use super::{evaluate_with, HealthReport};
use crate::archive::manifest::BackupType;
use crate::catalog::{Catalog, JobKind, JobState};
use crate::config::Config;
use crate::error::{Error, Result};

/// Metric name of a check's status.
const CHECK_STATUS: &str = "lifeboat_health_check_status";

/// Escape a label value (backslash, double quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The file's text, built one metric family at a time.
#[derive(Default)]
struct Text(String);

impl Text {
    fn family(&mut self, name: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} gauge");
    }
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let labels = if labels.is_empty() {
            String::new()
        } else {
            format!(
                "{{{}}}",
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        let value = if value.is_finite() { value } else { 0.0 };
        let _ = writeln!(self.0, "{name}{labels} {value}");
    }
}

fn ts(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// Render the metrics. `carried` are check-status lines from a previous
/// file for checks this report does not contain.
pub fn render(
    config: &Config,
    catalog: Option<&Catalog>,
    report: &HealthReport,
    carried: &[(String, u8)],
) -> String {
    let now = report.evaluated_at;
    let mut t = Text::default();
    if let Some(c) = catalog {
        let mut types = config.configured_types();
        for extra in BackupType::ALL {
            if !types.contains(&extra) && c.last_good_backup(extra, now).ok().flatten().is_some() {
                types.push(extra);
            }
        }
        let last: Vec<_> = types
            .iter()
            .map(|&ty| (ty, c.last_good_backup(ty, now).ok().flatten()))
            .collect();
        t.family(
            "lifeboat_last_good_backup_timestamp_seconds",
            "Creation time of the newest good backup of a type (0: none).",
        );
        for (ty, b) in &last {
            let v = b.as_ref().map(|b| ts(b.created_at)).unwrap_or(0.0);
            t.sample(
                "lifeboat_last_good_backup_timestamp_seconds",
                &[("type", ty.as_str())],
                v,
            );
        }
        t.family(
            "lifeboat_last_good_backup_age_seconds",
            "Age of the newest good backup of a type.",
        );
        for (ty, b) in &last {
            if let Some(b) = b {
                let age = (now - b.created_at).num_milliseconds() as f64 / 1000.0;
                t.sample(
                    "lifeboat_last_good_backup_age_seconds",
                    &[("type", ty.as_str())],
                    age,
                );
            }
        }
        t.family(
            "lifeboat_last_backup_size_bytes",
            "Stored (compressed, encrypted) size of the newest good backup of a type.",
        );
        for (ty, b) in &last {
            if let Some(b) = b {
                t.sample(
                    "lifeboat_last_backup_size_bytes",
                    &[("type", ty.as_str())],
                    b.stored_size as f64,
                );
            }
        }
        let days = config.health.success_window_days;
        let since = now - chrono::Duration::days(i64::from(days));
        if let Ok(o) = c.job_outcomes(&JobKind::Backup, None, since, now) {
            let window = days.to_string();
            t.family(
                "lifeboat_backup_success_ratio",
                "Share of backup jobs in the window that succeeded (1 when none ran).",
            );
            t.sample(
                "lifeboat_backup_success_ratio",
                &[("window_days", &window)],
                o.rate().unwrap_or(1.0),
            );
            t.family(
                "lifeboat_backup_jobs",
                "Backup jobs in the window by outcome.",
            );
            for (outcome, n) in [
                ("succeeded", o.succeeded),
                ("succeeded_with_warnings", o.succeeded_with_warnings),
                ("failed", o.failed),
                ("interrupted", o.interrupted),
            ] {
                t.sample(
                    "lifeboat_backup_jobs",
                    &[("outcome", outcome), ("window_days", &window)],
                    n as f64,
                );
            }
        }
        let drill = c
            .last_finished_job(&JobKind::Drill, &JobState::GOOD, now)
            .ok()
            .flatten();
        t.family(
            "lifeboat_last_drill_timestamp_seconds",
            "End of the newest successful recovery drill (0: never).",
        );
        t.sample(
            "lifeboat_last_drill_timestamp_seconds",
            &[],
            drill
                .as_ref()
                .and_then(|d| d.finished_at)
                .map(ts)
                .unwrap_or(0.0),
        );
        if let Some(secs) = drill.as_ref().and_then(|d| d.seconds()) {
            t.family(
                "lifeboat_last_drill_duration_seconds",
                "Duration of the newest successful recovery drill (measured recovery time).",
            );
            t.sample("lifeboat_last_drill_duration_seconds", &[], secs);
        }
        let verified = c.last_verification(true, now).ok().flatten();
        t.family(
            "lifeboat_last_verify_timestamp_seconds",
            "Time of the newest successful verification (0: never).",
        );
        t.sample(
            "lifeboat_last_verify_timestamp_seconds",
            &[],
            verified.map(|v| ts(v.at)).unwrap_or(0.0),
        );
    }
    t.family(
        CHECK_STATUS,
        "Status of a health check: 0 ok, 1 warning, 2 critical.",
    );
    let mut worst = 0u8;
    for check in &report.checks {
        let code = check.status.exit_code() as u8;
        worst = worst.max(code);
        t.sample(CHECK_STATUS, &[("check", &check.id)], f64::from(code));
    }
    for (id, code) in carried {
        if !report.checks.iter().any(|c| &c.id == id) {
            worst = worst.max(*code);
            t.sample(CHECK_STATUS, &[("check", id)], f64::from(*code));
        }
    }
    t.family(
        "lifeboat_health_status",
        "Overall health: the worst check status (0 ok, 1 warning, 2 critical).",
    );
    t.sample("lifeboat_health_status", &[], f64::from(worst));
    t.family(
        "lifeboat_health_evaluated_timestamp_seconds",
        "When these metrics were computed.",
    );
    t.sample("lifeboat_health_evaluated_timestamp_seconds", &[], ts(now));
    t.0
}

/// Check statuses in an existing file, for the checks only a full
/// evaluation runs.
fn carried_statuses(path: &Path) -> Vec<(String, u8)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(CHECK_STATUS)?.strip_prefix("{check=\"")?;
            let (id, value) = rest.split_once("\"} ")?;
            let code = value.trim().parse::<f64>().ok()? as u8;
            FULL_ONLY
                .contains(&id)
                .then(|| (id.to_string(), code.min(2)))
        })
        .collect()
}

/// Write `text` to `path` atomically, creating its directory (0700).
pub fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        crate::storage::local::create_dir_all_private(dir)?;
    }
    // Not storage::local::write_atomic's fixed temp name: several
    // processes (and a drill's restore threads) finish jobs at once.
    let tmp = path.with_file_name(format!(
        ".{}.{}.{:08x}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("metrics"),
        std::process::id(),
        rand::random::<u32>()
    ));
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        // 0600 like everything lifeboat writes: run the collector as the
        // same user, or point [metrics] textfile at a directory it shares.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Error::io("create metrics file", &tmp, e))?;
        f.write_all(text.as_bytes())
            .map_err(|e| Error::io("write metrics file", &tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io("replace metrics file", path, e)
    })
}

/// After `lifeboat health`: write the full report's metrics.
pub fn after_health(config: &Config, catalog: Option<&Catalog>, report: &HealthReport) {
    let Some(path) = config.metrics_textfile() else {
        return;
    };
    if let Err(e) = write(&path, &render(config, catalog, report, &[])) {
        tracing::warn!("metrics not written: {}", e.display_with_hint());
    }
}

/// After a job: quick checks, slow ones carried over from the last file.
pub fn after_job(config: &Config, catalog: &Catalog) {
    let Some(path) = config.metrics_textfile() else {
        return;
    };
    let report = evaluate_with(
        config,
        Some(catalog),
        None,
        crate::clock::now(),
        Depth::Quick,
    );
    let carried = carried_statuses(&path);
    if let Err(e) = write(&path, &render(config, Some(catalog), &report, &carried)) {
        tracing::warn!("metrics not written: {}", e.display_with_hint());
    }
}
