//! Jobs screen: running and recent jobs with live progress, and the
//! selected job's log (newest lines at the bottom, like `tail -f`).

use chrono::{DateTime, Utc};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::{block, Theme};
use crate::app::App;
use crate::fmt;
use lifeboat_engine::catalog::{JobRecord, JobState};

/// `[#####.....]  45%` in at most `width` cells (the bar shrinks to fit
/// the brackets, a space and `100%`; below 8 cells only the percentage),
/// or the items/bytes done.
pub fn progress_text(j: &JobRecord, width: usize) -> String {
    /// `[`, `]`, the space and the widest percentage, `100%`.
    const AROUND_BAR: usize = 7;
    match j.shown_ratio() {
        Some(r) => {
            let r = r.clamp(0.0, 1.0);
            let percent = format!("{:>3.0}%", r * 100.0);
            let bar = width.saturating_sub(AROUND_BAR);
            if bar == 0 {
                return percent;
            }
            let filled = ((r * bar as f64).round() as usize).min(bar);
            format!(
                "[{}{}] {percent}",
                "#".repeat(filled),
                ".".repeat(bar - filled),
            )
        }
        None if j.bytes_done > 0 => fmt::bytes(j.bytes_done),
        None if j.items_done > 0 => format!("{} items", j.items_done),
        None => String::new(),
    }
}

/// Throughput and ETA of an active job, or the duration of a finished one.
pub fn timing_text(j: &JobRecord, now: DateTime<Utc>) -> String {
    if let Some(silent) = j.silent_for(now) {
        // Its rate and ETA would keep moving for a job that is dead.
        let secs = silent.num_milliseconds() as f64 / 1000.0;
        format!("no heartbeat for {}", fmt::duration(secs))
    } else if j.is_active() {
        let rate = j.throughput(now).map(fmt::rate).unwrap_or_default();
        let eta = j
            .eta_seconds(now)
            .map(|s| format!(" ETA {}", fmt::duration(s)))
            .unwrap_or_default();
        format!("{rate}{eta}")
    } else {
        j.duration_seconds()
            .map(|s| format!("took {}", fmt::duration(s)))
            .unwrap_or_default()
    }
}

pub(super) fn state_word(j: &JobRecord, now: DateTime<Utc>) -> String {
    if j.silent_for(now).is_some() {
        "silent".into()
    } else if j.cancel_requested && j.is_active() {
        "cancelling".into()
    } else if j.state == JobState::SucceededWithWarnings {
        "warnings".into()
    } else {
        j.state.to_string()
    }
}

pub fn render(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let [list_area, log_area] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    let active = app.jobs.iter().filter(|j| j.is_active()).count();
    let outer = block(
        theme,
        &format!("Jobs: {active} active, {} recent", app.jobs.len()),
    );
    let inner = outer.inner(list_area);
    frame.render_widget(outer, list_area);
    if app.jobs.is_empty() {
        frame.render_widget(Paragraph::new("no jobs yet"), inner);
    } else {
        let height = inner.height.saturating_sub(1) as usize;
        let first = app.jobs_list.window(app.jobs.len(), height);
        let rows = app.jobs[first..(first + height).min(app.jobs.len())]
            .iter()
            .enumerate()
            .map(|(i, j)| {
                let state = state_word(j, app.now);
                let row = Row::new(vec![
                    Cell::from(j.id.to_string()),
                    Cell::from(j.kind.to_string()),
                    Cell::from(fmt::clip(&j.target, 21)),
                    Cell::from(Span::styled(state.clone(), theme.status(&state))),
                    Cell::from(if j.is_active() {
                        progress_text(j, 18)
                    } else {
                        j.created_at.format("%m-%d %H:%M").to_string()
                    }),
                    Cell::from(timing_text(j, app.now)),
                ]);
                if first + i == app.jobs_list.selected {
                    row.style(theme.selected())
                } else {
                    row
                }
            });
        let table = Table::new(
            rows,
            [
                Constraint::Length(6),
                Constraint::Length(8),
                Constraint::Length(21),
                // "interrupted" whole (11).
                Constraint::Length(11),
                Constraint::Length(18),
                Constraint::Min(8),
            ],
        )
        .header(
            Row::new(vec![
                "JOB",
                "KIND",
                "TARGET",
                "STATE",
                "PROGRESS",
                "RATE/TIME",
            ])
            .style(theme.header()),
        );
        frame.render_widget(table, inner);
    }

    let selected = app.jobs.get(app.jobs_list.selected);
    let title = match selected {
        Some(j) => format!(
            "Log of job {} ({} {}){}",
            j.id,
            j.kind,
            j.target,
            j.phase
                .as_deref()
                .map(|p| format!(" - phase: {p}"))
                .unwrap_or_default()
        ),
        None => "Log".into(),
    };
    let outer = block(theme, &title);
    let inner = outer.inner(log_area);
    frame.render_widget(outer, log_area);
    let mut lines: Vec<Line> = Vec::new();
    if let Some(e) = selected.and_then(|j| j.error.as_ref()) {
        lines.push(Line::from(vec![
            Span::styled("error: ", theme.bad()),
            Span::raw(e.clone()),
        ]));
    }
    let room = (inner.height as usize).saturating_sub(lines.len());
    let skip = app.job_log.len().saturating_sub(room);
    for (ts, level, msg) in &app.job_log[skip..] {
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", ts.format("%H:%M:%S")), theme.dim()),
            Span::styled(format!("{level:<5} "), theme.status(level)),
            Span::raw(msg.clone()),
        ]));
    }
    if lines.is_empty() {
        lines.push(Line::styled("(no log lines)", theme.dim()));
    }
    // No wrapping: the newest line must stay on screen.
    frame.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
mod tests {
    use super::progress_text;
    use chrono::Utc;
    use lifeboat_engine::catalog::{JobRecord, JobState};

    fn running(done: u64, total: u64) -> JobRecord {
        let t0 = Utc::now();
        JobRecord {
            id: 1,
            kind: "backup".into(),
            target: "filesystem".into(),
            state: JobState::Running,
            phase: None,
            bytes_done: done,
            bytes_total: Some(total),
            items_done: 0,
            items_total: None,
            created_at: t0,
            started_at: Some(t0),
            finished_at: None,
            updated_at: t0,
            error: None,
            host: "h".into(),
            pid: 1,
            partial_outputs: Vec::new(),
            cancel_requested: false,
            parent_job: None,
            resource: None,
        }
    }

    #[test]
    fn progress_fits_its_width_with_the_percent_whole() {
        for (done, percent) in [(0, "0%"), (50, "50%"), (100, "100%")] {
            let j = running(done, 100);
            for width in 10..=30 {
                let s = progress_text(&j, width);
                assert!(
                    s.chars().count() <= width,
                    "{s:?} is wider than {width} cells"
                );
                assert!(s.ends_with(&format!(" {percent}")), "{s:?}");
                assert!(s.starts_with('['), "{s:?}");
                // The bar takes the rest (the percentage is padded to 4).
                assert_eq!(s.chars().count(), width, "{s:?} at {width}");
            }
        }
        // The column the Jobs screen gives it, half done.
        assert_eq!(progress_text(&running(50, 100), 18), "[######.....]  50%");
        // Too narrow for a bar: the percentage alone.
        assert_eq!(progress_text(&running(100, 100), 6), "100%");
    }
}
