//! Alerts: a failed backup, verification or drill, and every health check
//! that turns warning or critical, become messages to email (SMTP) and a
//! webhook (generic JSON that is also a Slack message).
//!
//! A condition is identified by a key (`health.backup_age.database`,
//! `job.backup.filesystem`, `job.verify`). The catalog remembers what was
//! last sent for each key, so a condition is sent once until its status
//! changes or `repeat_minutes` pass, a failed delivery is retried at the
//! next evaluation, and a "resolved" message follows when it clears.

mod channels;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

pub use channels::{Channel, Email, Webhook};

use crate::catalog::{AlertStateUpdate, Catalog, JobKind, JobState};
use crate::config::AlertsConfig;
use crate::error::Result;
use crate::health::{HealthReport, Status};

/// Something that is ok, or not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    pub key: String,
    pub status: Status,
    pub title: String,
    pub detail: String,
}

/// One message, as every channel receives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub key: String,
    /// warning, critical or resolved.
    pub status: String,
    pub title: String,
    pub detail: String,
    pub host: String,
    pub at: DateTime<Utc>,
}

impl Message {
    pub fn subject(&self) -> String {
        format!(
            "[lifeboat {}] {}: {}",
            self.status.to_uppercase(),
            self.host,
            self.title
        )
    }
    pub fn text(&self) -> String {
        format!(
            "{}\n\n{}\n\ncondition: {}\nhost: {}\nat: {}\n",
            self.subject(),
            self.detail,
            self.key,
            self.host,
            self.at.to_rfc3339()
        )
    }
}

/// What happened to one message on one channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sent {
    pub key: String,
    pub status: String,
    pub channel: String,
    /// None: delivered.
    pub error: Option<String>,
}

/// The channels configured in `[alerts]`.
pub fn channels(config: &AlertsConfig) -> Vec<Box<dyn Channel>> {
    let mut out: Vec<Box<dyn Channel>> = Vec::new();
    if config.email.enabled && !config.email.recipients.is_empty() {
        out.push(Box::new(Email::new(&config.email)));
    }
    if !config.webhook.url.is_empty() {
        out.push(Box::new(Webhook::new(&config.webhook)));
    }
    out
}

/// Health checks as conditions.
pub fn from_health(report: &HealthReport) -> Vec<Condition> {
    report
        .checks
        .iter()
        .map(|c| Condition {
            key: format!("health.{}", c.id),
            status: c.status,
            title: format!("{}: {}", c.title, c.status.as_str()),
            detail: if c.advice.is_empty() {
                format!("{} (threshold {})", c.value, c.threshold)
            } else {
                format!(
                    "{} (threshold {})\nWhat to do: {}",
                    c.value, c.threshold, c.advice
                )
            },
        })
        .collect()
}

/// The outcome of the newest finished backup (per type), verification and
/// drill, as conditions: failed is critical, interrupted a warning. A
/// newest job row that cannot be read is a warning of its own, so a damaged
/// row never hides a failure silently.
pub fn from_jobs(catalog: &Catalog) -> Result<Vec<Condition>> {
    let mut out = Vec::new();
    let (latest, unreadable) = catalog.latest_outcomes()?;
    out.push(Condition {
        key: "job.unreadable".to_string(),
        status: if unreadable > 0 {
            Status::Warning
        } else {
            Status::Ok
        },
        title: if unreadable > 0 {
            format!("{unreadable} recent job record(s) in the catalog cannot be read")
        } else {
            "Job records are readable".to_string()
        },
        detail: format!(
            "{unreadable} of the newest backup, verify or drill job rows could not be read \
             (a damaged value), so their outcome is unknown.\nSee the warnings of \
             `lifeboat status`; if the catalog is damaged, move it aside and run \
             `lifeboat catalog rebuild`."
        ),
    });
    for j in latest {
        let status = match j.state {
            JobState::Failed => Status::Critical,
            JobState::Interrupted => Status::Warning,
            _ => Status::Ok,
        };
        let (key, what) = match j.kind {
            JobKind::Backup => (
                format!("job.backup.{}", j.target),
                format!("{} backup", j.target),
            ),
            JobKind::Verify => ("job.verify".to_string(), "Verification".to_string()),
            _ => ("job.drill".to_string(), "Recovery drill".to_string()),
        };
        let title = match status {
            Status::Ok => format!("{what} succeeded"),
            Status::Warning => format!("{what} was interrupted"),
            Status::Critical => format!("{what} FAILED"),
        };
        let detail = match (&j.error, status) {
            (Some(e), Status::Critical | Status::Warning) => {
                format!(
                    "job {} ({} {}): {e}\nSee `lifeboat status {}`.",
                    j.id, j.kind, j.target, j.id
                )
            }
            _ => format!("job {} ({} {}) ended {}.", j.id, j.kind, j.target, j.state),
        };
        out.push(Condition {
            key,
            status,
            title,
            detail,
        });
    }
    Ok(out)
}

/// Send what is due for `conditions` through `channels` and remember it.
/// Delivery failures do not fail the call: they are returned (and logged
/// by the caller) and retried next time.
pub fn process(
    config: &AlertsConfig,
    catalog: &Catalog,
    channels: &[Box<dyn Channel>],
    conditions: &[Condition],
    now: DateTime<Utc>,
) -> Result<Vec<Sent>> {
    let host = crate::host::hostname();
    let repeat = Duration::minutes(i64::from(config.repeat_minutes));
    let mut sent = Vec::new();
    for c in conditions {
        let state = catalog.alert_state(&c.key)?;
        let last = state.as_ref().and_then(|s| s.sent_status.clone());
        let last_at = state.as_ref().and_then(|s| s.sent_at);
        let message_status = if c.status == Status::Ok {
            match last.as_deref() {
                Some("warning") | Some("critical") => Some("resolved"),
                _ => None,
            }
        } else {
            let changed = last.as_deref() != Some(c.status.as_str());
            let repeat_due = last_at.is_some_and(|t| now - t >= repeat);
            (changed || repeat_due).then_some(c.status.as_str())
        };
        let mut error = None;
        if let (Some(status), false) = (message_status, channels.is_empty()) {
            let msg = Message {
                key: c.key.clone(),
                status: status.to_string(),
                title: c.title.clone(),
                detail: c.detail.clone(),
                host: host.clone(),
                at: now,
            };
            let mut failures = Vec::new();
            for ch in channels {
                let r = ch.send(&msg);
                if let Err(e) = &r {
                    failures.push(format!("{}: {e}", ch.name()));
                }
                sent.push(Sent {
                    key: c.key.clone(),
                    status: status.to_string(),
                    channel: ch.name().to_string(),
                    error: r.err(),
                });
            }
            if !failures.is_empty() {
                error = Some(failures.join("; "));
            }
        }
        let delivered = message_status.is_some() && !channels.is_empty() && error.is_none();
        let new_sent_status = if delivered {
            Some(if c.status == Status::Ok {
                "ok".to_string()
            } else {
                c.status.as_str().to_string()
            })
        } else {
            last.clone()
        };
        let new_sent_at = if delivered { Some(now) } else { last_at };
        catalog.record_alert_state(&AlertStateUpdate {
            key: &c.key,
            status: c.status.as_str(),
            title: &c.title,
            detail: &c.detail,
            now,
            sent_status: new_sent_status.as_deref(),
            sent_at: new_sent_at,
            last_error: error.as_deref(),
        })?;
    }
    Ok(sent)
}

/// Evaluate health and job outcomes and send what is due: what the daemon
/// does after every job and on its health interval.
pub fn run(
    config: &crate::config::Config,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Result<(HealthReport, Vec<Sent>)> {
    let report = crate::health::evaluate(config, catalog, now);
    let mut conditions = from_health(&report);
    conditions.extend(from_jobs(catalog)?);
    let chans = channels(&config.alerts);
    let sent = process(&config.alerts, catalog, &chans, &conditions, now)?;
    Ok((report, sent))
}
