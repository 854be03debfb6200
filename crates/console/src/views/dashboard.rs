//! Dashboard: the health verdict, freshness of each backup type, the
//! recent attempts of each type as pictures (when there is room), RPO and
//! RTO against their targets, the repository disk, and running jobs (and
//! how many wait in the queue).

use chrono::{DateTime, Utc};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::{block, storage, trend, Theme};
use crate::app::App;
use crate::cells;
use crate::fmt;
use lifeboat_engine::archive::manifest::BackupType;
use lifeboat_engine::catalog::JobState;

/// Newest good backup of a type: (id, created).
pub fn last_good(app: &App, t: BackupType) -> Option<(&str, DateTime<Utc>)> {
    app.backups
        .iter()
        .filter(|b| b.backup_type == t && b.is_good() && !b.is_safety_copy())
        .max_by(|a, b| a.created.cmp(&b.created))
        .and_then(|b| Some((&*b.id, b.created_at()?)))
}

fn verdict_line(app: &App, theme: Theme) -> Line<'static> {
    match &app.health {
        None if !app.catalog_open => Line::from(vec![
            Span::styled("Health: ", theme.title()),
            Span::styled("NOT EVALUATED", theme.warn()),
            Span::raw(" - no catalog is open (see below)"),
        ]),
        None => Line::styled("Health: evaluating...", theme.dim()),
        Some(h) => {
            let word = h.verdict.as_str();
            let bad = h
                .checks
                .iter()
                .filter(|c| c.status != lifeboat_engine::health::Status::Ok)
                .count();
            Line::from(vec![
                Span::styled("Health: ", theme.title()),
                Span::styled(word.to_uppercase(), theme.status(word)),
                Span::raw(if h.checks.is_empty() {
                    " (no checks reported)".to_string()
                } else if bad == 0 {
                    format!(" - all {} checks pass", h.checks.len())
                } else {
                    format!(
                        " - {bad} of {} checks need attention (screen 4)",
                        h.checks.len()
                    )
                }),
            ])
        }
    }
}

/// How pressing a problem line is; problems show in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Severity {
    Critical,
    Warning,
    /// A check that could not be evaluated (a warning that measured nothing).
    Unknown,
}

impl Severity {
    fn word(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Unknown => "unknown",
        }
    }
}

/// Problems to show before anything else, most pressing first: no
/// repository, no catalog, then the failing checks (PostgreSQL down shows
/// up here through the report), critical before warning before unknown,
/// each group in check order.
fn attention(app: &App, theme: Theme) -> Vec<(Severity, Line<'static>)> {
    let mut v = Vec::new();
    if app.repository_missing {
        v.push((Severity::Critical, Line::from(vec![
            Span::styled("REPOSITORY MISSING ", theme.bad()),
            Span::raw(format!(
                "{} does not exist: fix [repository] path in the config, or mount the backup disk; the first backup creates it",
                app.ctx.config.repository.path.display()
            )),
        ])));
    }
    if let Some(e) = &app.catalog_error {
        v.push((
            Severity::Critical,
            Line::from(vec![
                Span::styled("CATALOG ", theme.bad()),
                Span::raw(e.replace('\n', " ")),
            ]),
        ));
    }
    if let Some(h) = &app.health {
        for c in h
            .checks
            .iter()
            .filter(|c| c.status != lifeboat_engine::health::Status::Ok)
        {
            let severity = if c.status == lifeboat_engine::health::Status::Critical {
                Severity::Critical
            } else if c.is_unknown() {
                Severity::Unknown
            } else {
                Severity::Warning
            };
            let word = c.status.as_str();
            v.push((
                severity,
                Line::from(vec![
                    Span::styled(format!("{} ", word.to_uppercase()), theme.status(word)),
                    Span::raw(format!("{}: {}", c.title, c.value)),
                    Span::styled(
                        if c.advice.is_empty() {
                            String::new()
                        } else {
                            format!(" - {}", c.advice)
                        },
                        theme.dim(),
                    ),
                ]),
            ));
        }
    }
    // Stable: the order within a severity stays the check order.
    v.sort_by_key(|(s, _)| *s);
    v
}

/// The problem lines that fit in `rows`. When some do not fit, the last
/// row says how many more there are, of which severity, and where they
/// are, so nothing is left out silently.
fn fit(problems: Vec<(Severity, Line<'static>)>, rows: usize, theme: Theme) -> Vec<Line<'static>> {
    if problems.len() <= rows {
        return problems.into_iter().map(|(_, l)| l).collect();
    }
    let shown = rows.saturating_sub(1);
    let hidden: Vec<Severity> = problems[shown..].iter().map(|(s, _)| *s).collect();
    let counts: Vec<String> = [Severity::Critical, Severity::Warning, Severity::Unknown]
        .into_iter()
        .filter_map(|s| {
            let n = hidden.iter().filter(|h| **h == s).count();
            (n > 0).then(|| format!("{n} {}", s.word()))
        })
        .collect();
    let mut lines: Vec<Line<'static>> = problems.into_iter().take(shown).map(|(_, l)| l).collect();
    if rows > 0 {
        lines.push(Line::from(vec![
            Span::styled(format!("+{} more", hidden.len()), theme.title()),
            Span::raw(format!(" ({}): Health screen (4)", counts.join(", "))),
        ]));
    }
    lines
}

fn backups_table(app: &App, theme: Theme, now: DateTime<Utc>) -> Table<'static> {
    let max_h = app.ctx.config.health.max_backup_age_hours;
    let configured = app.ctx.config.configured_types();
    let rows = [
        BackupType::Database,
        BackupType::Filesystem,
        BackupType::Configuration,
    ]
    .into_iter()
    .map(|t| {
        let (last, age, word) = match last_good(app, t) {
            Some((_, at)) => {
                let secs = (now - at).num_seconds() as f64;
                let fresh = secs <= max_h * 3600.0;
                (
                    at.with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M")
                        .to_string(),
                    fmt::age(at, now),
                    if fresh { "ok" } else { "STALE" },
                )
            }
            None if !configured.contains(&t) => {
                ("not configured".to_string(), "-".to_string(), "n/a")
            }
            None => ("never".to_string(), "-".to_string(), "MISSING"),
        };
        Row::new(vec![
            Cell::from(t.as_str()),
            Cell::from(last),
            Cell::from(age),
            Cell::from(Span::styled(
                word,
                match word {
                    "ok" => theme.ok(),
                    "n/a" => theme.dim(),
                    _ => theme.bad(),
                },
            )),
            Cell::from(match &app.schedule {
                Ok(s) => match s.next_for(t, now) {
                    Some(at) => format!(
                        "{} ({})",
                        at.with_timezone(&chrono::Local).format("%a %H:%M"),
                        fmt::until(at, now)
                    ),
                    None => "not scheduled".to_string(),
                },
                Err(_) => "schedule invalid: `lifeboat schedule`".to_string(),
            }),
        ])
    });
    Table::new(
        rows.collect::<Vec<_>>(),
        [
            Constraint::Length(14),
            Constraint::Length(16),
            Constraint::Length(13),
            Constraint::Length(8),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new(vec![
            "TYPE".to_string(),
            "LAST GOOD".to_string(),
            "AGE".to_string(),
            format!("<{max_h}h"),
            "NEXT RUN".to_string(),
        ])
        .style(theme.header()),
    )
    .block(block(theme, "Backups"))
}

fn objectives(app: &App, theme: Theme, now: DateTime<Utc>) -> Vec<Line<'static>> {
    let db_configured = app
        .ctx
        .config
        .configured_types()
        .contains(&BackupType::Database);
    let rpo = match last_good(app, BackupType::Database) {
        None if !db_configured => Line::from(vec![
            Span::styled("RPO ", theme.title()),
            Span::styled("n/a    ", theme.dim()),
            Span::raw("no database is configured ([sources.database] url)"),
        ]),
        Some((_, at)) => {
            let secs = (now - at).num_seconds() as f64;
            let rpo_min = app.ctx.config.health.rpo_minutes.database;
            let met = secs <= f64::from(rpo_min) * 60.0;
            Line::from(vec![
                Span::styled("RPO ", theme.title()),
                Span::styled(
                    if met { "ok     " } else { "MISSED " },
                    if met { theme.ok() } else { theme.bad() },
                ),
                Span::raw(format!(
                    "newest database backup {} (target {})",
                    fmt::age(at, now),
                    fmt::minutes(rpo_min)
                )),
            ])
        }
        None => Line::from(vec![
            Span::styled("RPO ", theme.title()),
            Span::styled("MISSED ", theme.bad()),
            Span::raw(format!(
                "no database backup yet (target {}): `lifeboat backup --type database`",
                fmt::minutes(app.ctx.config.health.rpo_minutes.database)
            )),
        ]),
    };
    let rto = match &app.restore_evidence {
        None if !app.catalog_open => {
            Line::styled("RTO not measured: no catalog is open", theme.dim())
        }
        None => Line::styled("RTO measuring...", theme.dim()),
        Some(Err(e)) => Line::raw(format!("RTO cannot be read: {}", e.replace('\n', " "))),
        Some(Ok(None)) => Line::from(vec![
            Span::styled("RTO ", theme.title()),
            Span::styled("UNKNOWN ", theme.warn()),
            Span::raw(format!(
                "never measured (target {}): run `lifeboat verify --deep ID` or a drill",
                fmt::minutes(app.ctx.config.health.rto_minutes)
            )),
        ]),
        Some(Ok(Some(ev))) => {
            let met = ev.seconds <= f64::from(app.ctx.config.health.rto_minutes) * 60.0;
            Line::from(vec![
                Span::styled("RTO ", theme.title()),
                Span::styled(
                    if met { "ok     " } else { "MISSED " },
                    if met { theme.ok() } else { theme.bad() },
                ),
                Span::raw(format!(
                    "last measured restore {} ({}, {}) (target {})",
                    fmt::duration(ev.seconds),
                    ev.source,
                    fmt::age(ev.at, now),
                    fmt::minutes(app.ctx.config.health.rto_minutes)
                )),
            ])
        }
    };
    vec![rpo, rto]
}

pub fn render(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let now = app.now;
    // The problem lines take the rows the rest does not need: the verdict
    // (1), the backups table (6), RPO and RTO (2), the disk (2) and the
    // jobs box with room for one job (3), as laid out below. The trends
    // take what is left after the problems, or are left out: a picture
    // never pushes a problem off the screen.
    let rest = 1 + 6 + 2 + 2 + 3;
    let attention = fit(
        attention(app, theme),
        usize::from(area.height.saturating_sub(rest)),
        theme,
    );
    let att_h = attention.len() as u16;
    let spare = area.height.saturating_sub(rest + att_h);
    // A header and a row per type, the rows alone, or nothing.
    let types = app.trends.len() as u16;
    let trend_h = match spare {
        _ if types == 0 => 0,
        s if s > types => types + 1,
        s if s == types => types,
        _ => 0,
    };
    let [verdict, att, table, trends, obj, disk, jobs_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(att_h),
        Constraint::Length(6),
        Constraint::Length(trend_h),
        Constraint::Length(2),
        Constraint::Length(2),
        Constraint::Min(3),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(verdict_line(app, theme)), verdict);
    frame.render_widget(Paragraph::new(attention), att);
    frame.render_widget(backups_table(app, theme, now), table);
    if trend_h > 0 {
        trend::render_rows(app, theme, frame, trends);
    }
    frame.render_widget(Paragraph::new(objectives(app, theme, now)), obj);

    let [gauge, until] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(disk);
    match &app.storage {
        None if !app.catalog_open => frame.render_widget(
            Paragraph::new("storage: not measured, no catalog is open"),
            gauge,
        ),
        None => frame.render_widget(Paragraph::new("storage: measuring..."), gauge),
        Some(Err(e)) => frame.render_widget(
            Paragraph::new(format!("storage: {}", e.replace('\n', " "))),
            gauge,
        ),
        Some(Ok(s)) => {
            match storage::disk_gauge(s, &app.ctx.config.health, theme) {
                Some(g) => frame.render_widget(g, gauge),
                None => frame.render_widget(
                    Paragraph::new(format!(
                        "storage: {} backups stored, disk size unknown",
                        fmt::bytes(s.per_type.iter().map(|t| t.2).sum())
                    )),
                    gauge,
                ),
            }
            frame.render_widget(
                Paragraph::new(storage::days_until_full_text(s)).style(theme.dim()),
                until,
            );
        }
    }

    // Queued jobs wait for a worker: counted, not shown as running.
    let running: Vec<_> = app
        .jobs
        .iter()
        .filter(|j| j.state == JobState::Running)
        .collect();
    let queued = app
        .jobs
        .iter()
        .filter(|j| j.state == JobState::Queued)
        .count();
    let title = if queued > 0 {
        format!("Running jobs: {} (+{queued} queued)", running.len())
    } else {
        format!("Running jobs: {}", running.len())
    };
    let outer = block(theme, &title);
    let inner = outer.inner(jobs_area);
    frame.render_widget(outer, jobs_area);
    let lines: Vec<Line> = if running.is_empty() {
        vec![Line::styled(
            if queued > 0 {
                "no job is running; the queued ones are on the Jobs screen (3)"
            } else {
                "no job is running"
            },
            theme.dim(),
        )]
    } else {
        running
            .iter()
            .take(inner.height as usize)
            .map(|j| {
                Line::from(vec![
                    Span::styled(format!("{:>5} ", j.id), theme.title()),
                    Span::raw(format!("{:<8} {:<18} ", j.kind, fmt::clip(&j.target, 18))),
                    Span::raw(format!("{:<24} ", cells::progress_text(j, 24))),
                    Span::raw(cells::timing_text(j, now)),
                ])
            })
            .collect()
    };
    frame.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn what_does_not_fit_is_counted_on_the_last_row() {
        let theme = Theme { color: false };
        let problems = || {
            [
                (Severity::Critical, "a"),
                (Severity::Warning, "b"),
                (Severity::Warning, "c"),
                (Severity::Unknown, "d"),
            ]
            .map(|(s, t)| (s, Line::raw(t)))
            .to_vec()
        };
        assert_eq!(texts(&fit(problems(), 4, theme)), ["a", "b", "c", "d"]);
        assert_eq!(texts(&fit(problems(), 9, theme)), ["a", "b", "c", "d"]);
        assert_eq!(
            texts(&fit(problems(), 3, theme)),
            [
                "a",
                "b",
                "+2 more (1 warning, 1 unknown): Health screen (4)"
            ]
        );
        assert_eq!(
            texts(&fit(problems(), 1, theme)),
            ["+4 more (1 critical, 2 warning, 1 unknown): Health screen (4)"]
        );
        assert!(fit(problems(), 0, theme).is_empty());
    }
}
