//! Jobs screen: running and recent jobs with live progress, and the
//! selected job's log (newest lines at the bottom, like `tail -f`).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::{block, Theme};
use crate::app::App;
use crate::{cells, fmt};

/// The widths of JOB, KIND, TARGET, STATE ("interrupted" whole) and
/// PROGRESS; RATE/TIME takes the rest.
const WIDTHS: [u16; 5] = [6, 8, 21, 11, cells::JOB_PROGRESS_WIDTH as u16];

pub fn render(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let [list_area, log_area] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    let active = app.jobs.iter().filter(|j| j.is_active()).count();
    let outer = block(
        theme,
        &format!(
            "Jobs: {active} active, {} recent{}",
            app.jobs.len(),
            super::filter_note(&app.jobs_filter, app.jobs_view.len())
        ),
    );
    let inner = outer.inner(list_area);
    frame.render_widget(outer, list_area);
    if app.jobs_view.is_empty() {
        let text = if app.jobs.is_empty() {
            "no jobs yet".to_string()
        } else {
            format!(
                "no job matches /{} (Esc clears the filter)",
                app.jobs_filter
            )
        };
        frame.render_widget(Paragraph::new(text), inner);
    } else {
        render_table(app, theme, frame, inner);
    }
    render_log_pane(app, theme, frame, log_area);
}

/// The jobs of the view, each cell cut to its column with `~`.
fn render_table(app: &App, theme: Theme, frame: &mut Frame, inner: Rect) {
    let constraints: Vec<Constraint> = WIDTHS
        .iter()
        .map(|&w| Constraint::Length(w))
        .chain([Constraint::Min(8)])
        .collect();
    let widths = super::table_widths(&constraints, 1, inner.width);
    let height = inner.height.saturating_sub(1) as usize;
    let len = app.jobs_view.len();
    let first = app.jobs_list.window(len, height);
    let rows = app.jobs_view[first..(first + height).min(len)]
        .iter()
        .enumerate()
        .map(|(i, &idx)| {
            let j = &app.jobs[idx as usize];
            let texts = cells::job_row(j, app.now);
            let state = texts[3].clone();
            let mut row: Vec<Cell> = texts
                .iter()
                .zip(&widths)
                .map(|(t, &w)| Cell::from(fmt::clip(t, w)))
                .collect();
            row[3] = Cell::from(Span::styled(
                fmt::clip(&state, widths[3]),
                theme.status(&state),
            ));
            let row = Row::new(row);
            if first + i == app.jobs_list.selected {
                row.style(theme.selected())
            } else {
                row
            }
        });
    app.hits.record_rows(
        super::rows_area(inner),
        first,
        std::iter::repeat_n(1, len - first),
    );
    let table = Table::new(rows, constraints).header(
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

/// The selected job's newest log lines (and its error first).
fn render_log_pane(app: &App, theme: Theme, frame: &mut Frame, log_area: Rect) {
    let selected = app.selected_job();
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
