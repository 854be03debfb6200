//! `lifeboat report`: the health report the seed's `make backup-report`
//! wrote, from the same evaluation as `lifeboat health`: per type the
//! backups, success rate, sizes and growth; verification and drill history;
//! RPO/RTO compliance; an audit summary. Markdown, HTML or JSON. The HTML
//! adds pictures of each type's recent attempts ([`super::charts`]).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::{HealthReport, Status, StorageReport};
use crate::archive::manifest::BackupType;
use crate::catalog::{Catalog, JobKind, JobState, TrendPoint};
use crate::config::Config;
use crate::error::Result;

/// One backup type's figures.
#[derive(Debug, Clone, Serialize)]
pub struct TypeSummary {
    #[serde(rename = "type")]
    pub backup_type: String,
    pub backups: u64,
    pub good: u64,
    pub failed: u64,
    /// Backup jobs over the health window that succeeded (None: none ran).
    pub success_rate: Option<f64>,
    pub newest: Option<DateTime<Utc>>,
    pub oldest: Option<DateTime<Utc>>,
    pub stored_bytes: u64,
    pub plain_bytes: u64,
    pub last_size: Option<u64>,
    /// Stored bytes added per day over the last 30 days.
    pub growth_per_day: f64,
}

/// A verification or drill.
#[derive(Debug, Clone, Serialize)]
pub struct Proof {
    pub job_id: i64,
    pub kind: JobKind,
    pub target: String,
    pub state: JobState,
    pub finished_at: Option<DateTime<Utc>>,
    pub seconds: Option<f64>,
    pub error: Option<String>,
}

/// The audit log in brief.
#[derive(Debug, Clone, Serialize)]
pub struct AuditSummary {
    pub entries: u64,
    pub chain_ok: bool,
    pub chain_detail: String,
    /// Actions over the last 30 days and how often.
    pub recent_actions: Vec<(String, u64)>,
}

/// How many recent attempts of each type the report draws.
pub const TREND_LEN: usize = 30;

/// One type's recent attempts, oldest first (what the HTML report draws).
#[derive(Debug, Clone, Serialize)]
pub struct TypeTrend {
    #[serde(rename = "type")]
    pub backup_type: String,
    pub points: Vec<TrendPoint>,
}

/// Everything in the report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub generated_at: DateTime<Utc>,
    pub host: String,
    pub health: HealthReport,
    pub types: Vec<TypeSummary>,
    /// The newest [`TREND_LEN`] attempts of each type that has any.
    pub trends: Vec<TypeTrend>,
    pub proofs: Vec<Proof>,
    pub storage: Option<StorageReport>,
    pub audit: AuditSummary,
}

/// Gather the report (read-only).
pub fn build(config: &Config, catalog: &Catalog, now: DateTime<Utc>) -> Result<Report> {
    let health = super::evaluate(config, catalog, now);
    let storage = super::storage(config, catalog, now).ok();
    let window = Duration::days(i64::from(config.health.success_window_days.max(1)));
    let mut types = Vec::new();
    for t in catalog.type_totals(now - Duration::days(30))? {
        let last_size = t
            .backup_type
            .parse::<crate::archive::manifest::BackupType>()
            .ok()
            .and_then(|bt| catalog.last_good_backup(bt, now).ok().flatten())
            .map(|b| b.stored_size);
        let outcomes =
            catalog.job_outcomes(&JobKind::Backup, Some(&t.backup_type), now - window, now)?;
        types.push(TypeSummary {
            success_rate: outcomes.rate(),
            backup_type: t.backup_type,
            backups: t.backups,
            good: t.good,
            failed: t.failed,
            newest: t.newest,
            oldest: t.oldest,
            stored_bytes: t.stored_bytes,
            plain_bytes: t.plain_bytes,
            last_size,
            growth_per_day: t.stored_since as f64 / 30.0,
        });
    }
    // Every type, not only those with backup rows: a type whose every
    // attempt failed before writing one has only failed jobs to show.
    let mut trends = Vec::new();
    for t in [
        BackupType::Database,
        BackupType::Filesystem,
        BackupType::Configuration,
    ] {
        let points = catalog.recent_backup_trend(t, TREND_LEN)?;
        if !points.is_empty() {
            trends.push(TypeTrend {
                backup_type: t.as_str().to_string(),
                points,
            });
        }
    }
    let proofs = catalog
        .recent_proof_jobs(20)?
        .into_iter()
        .map(|j| Proof {
            seconds: match (j.started_at, j.finished_at) {
                (Some(s), Some(f)) => Some((f - s).num_milliseconds().max(0) as f64 / 1000.0),
                _ => None,
            },
            job_id: j.id,
            kind: j.kind,
            target: j.target,
            state: j.state,
            finished_at: j.finished_at,
            error: j.error,
        })
        .collect();
    let entries = catalog.audit_count()?;
    let (chain_ok, chain_detail) = match catalog.verify_audit() {
        Ok(c) if c.ok => (true, format!("{} entries verified", c.rows)),
        Ok(c) => (false, c.problems.join("; ")),
        Err(e) => (false, e.to_string()),
    };
    let recent_actions = catalog.audit_actions_since(now - Duration::days(30))?;
    Ok(Report {
        generated_at: now,
        host: crate::host::hostname(),
        health,
        types,
        trends,
        proofs,
        storage,
        audit: AuditSummary {
            entries,
            chain_ok,
            chain_detail: chain_detail.chars().take(300).collect(),
            recent_actions,
        },
    })
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "-".into())
}

fn pct(r: Option<f64>) -> String {
    r.map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "no jobs".into())
}

fn mark(s: Status) -> &'static str {
    match s {
        Status::Ok => "OK",
        Status::Warning => "WARNING",
        Status::Critical => "CRITICAL",
    }
}

/// The heading of the backups table (the HTML puts the charts after it).
const BACKUPS_HEADING: &str = "Backups by type";

/// The report as Markdown.
pub fn markdown(r: &Report) -> String {
    use std::fmt::Write;
    let b = super::checks::bytes;
    let mut o = String::new();
    let _ = writeln!(o, "# lifeboat backup report: {}", r.host);
    let _ = writeln!(
        o,
        "\nGenerated {}. Overall: **{}**.\n",
        when(Some(r.generated_at)),
        mark(r.health.verdict)
    );
    let _ = writeln!(o, "## Health\n");
    let _ = writeln!(o, "| Status | Check | Value | Threshold | What to do |");
    let _ = writeln!(o, "|---|---|---|---|---|");
    for c in &r.health.checks {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            mark(c.status),
            esc(&c.title),
            esc(&c.value),
            esc(&c.threshold),
            esc(&c.advice)
        );
    }
    let _ = writeln!(o, "\n## {BACKUPS_HEADING}\n");
    let _ = writeln!(
        o,
        "| Type | Backups | Good | Failed | Success rate | Newest | Oldest | Stored | Last size | Growth/day |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|");
    for t in &r.types {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            t.backup_type,
            t.backups,
            t.good,
            t.failed,
            pct(t.success_rate),
            when(t.newest),
            when(t.oldest),
            b(t.stored_bytes),
            t.last_size.map(b).unwrap_or_else(|| "-".into()),
            b(t.growth_per_day as u64)
        );
    }
    if r.types.is_empty() {
        let _ = writeln!(o, "\nNo backups yet: run `lifeboat backup --all`.");
    }
    let _ = writeln!(o, "\n## Verifications and drills (newest 20)\n");
    if r.proofs.is_empty() {
        let _ = writeln!(
            o,
            "None: recovery has never been proven. Run `lifeboat verify --deep ID` or `lifeboat drill`."
        );
    } else {
        let _ = writeln!(o, "| Job | Kind | Target | Result | Finished | Took |");
        let _ = writeln!(o, "|---|---|---|---|---|---|");
        for p in &r.proofs {
            let result = match &p.error {
                Some(e) => format!("{}: {}", p.state, e.lines().next().unwrap_or("")),
                None => p.state.to_string(),
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                p.job_id,
                p.kind,
                esc(&p.target),
                esc(&result),
                when(p.finished_at),
                p.seconds
                    .map(|s| format!("{s:.1}s"))
                    .unwrap_or_else(|| "-".into())
            );
        }
    }
    if let Some(s) = &r.storage {
        let _ = writeln!(o, "\n## Storage\n");
        let _ = writeln!(
            o,
            "Repository {}: {} free of {}{}.",
            s.repository.display(),
            b(s.disk_free),
            b(s.disk_total),
            match s.days_until_full {
                Some(d) if d > 36_500.0 => {
                    ", full in more than 100 years at the recent growth".into()
                }
                Some(d) => format!(", full in about {d:.0} days at the recent growth"),
                None => ", not growing".into(),
            }
        );
        for (target, n, bytes) in &s.per_target {
            let _ = writeln!(o, "- {}: {n} backups, {}", esc(target), b(*bytes));
        }
    }
    let _ = writeln!(o, "\n## Audit\n");
    let _ = writeln!(
        o,
        "{} entries; hash chain {}.",
        r.audit.entries,
        if r.audit.chain_ok {
            "verifies"
        } else {
            "DOES NOT VERIFY (run `lifeboat audit verify`)"
        }
    );
    for (a, n) in &r.audit.recent_actions {
        let _ = writeln!(o, "- {a}: {n} in the last 30 days");
    }
    o
}

fn esc(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The report as a standalone HTML page (no scripts, no external assets).
pub fn html(r: &Report) -> String {
    let mut body = String::new();
    let h = super::charts::escape;
    // Render from the Markdown structure: headings, tables, paragraphs;
    // the charts go after the backups table, before the next section.
    let md = markdown(r);
    let mut in_table = false;
    let mut charts_due = false;
    for line in md.lines() {
        if let Some(t) = line.strip_prefix("# ") {
            body.push_str(&format!("<h1>{}</h1>\n", h(t)));
        } else if let Some(t) = line.strip_prefix("## ") {
            if std::mem::take(&mut charts_due) {
                body.push_str(&charts(r));
            }
            charts_due = t == BACKUPS_HEADING;
            body.push_str(&format!("<h2>{}</h2>\n", h(t)));
        } else if line.starts_with("|---") {
            continue;
        } else if line.starts_with('|') {
            if !in_table {
                body.push_str("<table>\n");
                in_table = true;
            }
            let cells: Vec<String> = line
                .trim_matches('|')
                .split(" | ")
                .map(|c| h(c.trim()).replace("\\|", "|"))
                .collect();
            let row: String = cells
                .iter()
                .map(|c| {
                    let class = match c.as_str() {
                        "OK" => " class=\"ok\"",
                        "WARNING" => " class=\"warning\"",
                        "CRITICAL" => " class=\"critical\"",
                        _ => "",
                    };
                    format!("<td{class}>{c}</td>")
                })
                .collect();
            body.push_str(&format!("<tr>{row}</tr>\n"));
        } else {
            if in_table {
                body.push_str("</table>\n");
                in_table = false;
            }
            if let Some(t) = line.strip_prefix("- ") {
                body.push_str(&format!("<p>&bull; {}</p>\n", h(t)));
            } else if !line.trim().is_empty() {
                body.push_str(&format!("<p>{}</p>\n", h(line).replace("**", "")));
            }
        }
    }
    if in_table {
        body.push_str("</table>\n");
    }
    if charts_due {
        body.push_str(&charts(r));
    }
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>lifeboat report: {}</title>\n<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td{{border:1px solid #ccc;padding:4px 8px}}tr:first-child td{{font-weight:bold}}.ok{{color:#070}}.warning{{color:#a60}}.critical{{color:#c00;font-weight:bold}}{}</style></head><body>\n{body}</body></html>\n",
        h(&r.host),
        super::charts::STYLE
    )
}

/// The HTML of the recent attempts' charts, one `<svg>` per type.
fn charts(r: &Report) -> String {
    use std::fmt::Write;
    let mut o = String::from("<h3>Recent backup attempts</h3>\n");
    if r.trends.is_empty() {
        o.push_str("<p>No backup attempts yet.</p>\n");
        return o;
    }
    let _ = writeln!(
        o,
        "<p>The last {TREND_LEN} attempts of each type at most, one column each, oldest on the left; hover over one for its time and backup.</p>"
    );
    for t in &r.trends {
        let _ = writeln!(
            o,
            "<h4>{}</h4>\n{}",
            super::charts::escape(&t.backup_type),
            super::charts::type_chart(&t.backup_type, &t.points)
        );
    }
    o
}
