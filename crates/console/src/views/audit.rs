//! Audit screen: the newest audit rows, filterable, with whether the hash
//! chain (catalog and repository copy) verifies.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::{block, no_catalog_why, Theme};
use crate::app::App;
use crate::data::RECENT_AUDIT;
use crate::{cells, fmt};

/// SEQ, TIME, ACTOR, ACTION, TARGET (the rest) and OUTCOME.
const COLUMNS: [Constraint; 6] = [
    Constraint::Length(6),
    Constraint::Length(14),
    Constraint::Length(16),
    Constraint::Length(14),
    Constraint::Min(10),
    Constraint::Length(10),
];

fn chain_line(app: &App, theme: Theme) -> Line<'static> {
    match &app.audit_status {
        None if !app.catalog_open => Line::from(vec![
            Span::styled("hash chain: NOT CHECKED ", theme.warn()),
            Span::raw("no catalog is open (see below)"),
        ]),
        None => Line::styled("hash chain: verifying...", theme.dim()),
        Some(Err(e)) => Line::from(vec![
            Span::styled("hash chain: CANNOT CHECK ", theme.bad()),
            Span::raw(e.replace('\n', " ")),
        ]),
        Some(Ok(s)) if s.ok() => Line::from(vec![
            Span::styled("hash chain: OK ", theme.ok()),
            Span::raw(format!(
                "verified, {} rows in the catalog{}",
                s.catalog.rows,
                match &s.repository {
                    Some(r) => format!(", {} in the repository copy", r.rows),
                    None => ", no repository copy yet".into(),
                }
            )),
        ]),
        Some(Ok(s)) => {
            let mut problems: Vec<String> = s.catalog.problems.clone();
            if let Some(r) = &s.repository {
                problems.extend(r.problems.iter().map(|p| format!("repository copy: {p}")));
                if r.ok && s.catalog.ok && r.rows != s.catalog.rows {
                    problems.push(format!(
                        "the copies differ in length ({} vs {} rows): rows were removed from one",
                        s.catalog.rows, r.rows
                    ));
                }
            }
            Line::from(vec![
                Span::styled("hash chain: TAMPERED ", theme.bad()),
                Span::raw(problems.first().cloned().unwrap_or_default()),
                Span::raw(if problems.len() > 1 {
                    format!(
                        " (+{} more; `lifeboat audit verify` lists all)",
                        problems.len() - 1
                    )
                } else {
                    String::new()
                }),
            ])
        }
    }
}

pub fn render(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let [head, list_area, detail_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(4),
        Constraint::Length(4),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(chain_line(app, theme)), head);
    let title = format!(
        "Audit log: {} newest rows{}{}",
        app.audit.len(),
        if app.audit.len() >= RECENT_AUDIT {
            " (older: `lifeboat audit list --limit N`)"
        } else {
            ""
        },
        if app.audit_filter.is_empty() {
            String::new()
        } else {
            format!(
                " | filter: /{} ({} shown)",
                app.audit_filter,
                app.audit_view.len()
            )
        }
    );
    let outer = block(theme, &title);
    let inner = outer.inner(list_area);
    frame.render_widget(outer, list_area);
    if app.audit_view.is_empty() {
        let text = match no_catalog_why(app) {
            Some(why) if app.audit.is_empty() => {
                format!("no audit log without a catalog: {why}")
            }
            _ if app.audit.is_empty() => "no audit rows yet".to_string(),
            _ => format!("no row matches /{}", app.audit_filter),
        };
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), inner);
        return;
    }
    let height = inner.height.saturating_sub(1) as usize;
    let len = app.audit_view.len();
    let first = app.audit_list.window(len, height);
    let widths = super::table_widths(&COLUMNS, 1, inner.width);
    let rows = app.audit_view[first..(first + height).min(len)]
        .iter()
        .enumerate()
        .map(|(i, &idx)| {
            let r = &app.audit[idx as usize];
            let texts = cells::audit_row(r);
            let mut row: Vec<Cell> = texts
                .iter()
                .zip(&widths)
                .map(|(t, &w)| Cell::from(fmt::clip(t, w)))
                .collect();
            let outcome = &r.entry.outcome;
            row[5] = Cell::from(Span::styled(
                fmt::clip(outcome, widths[5]),
                theme.status(outcome),
            ));
            let row = Row::new(row);
            if first + i == app.audit_list.selected {
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
    let table = Table::new(rows, COLUMNS).header(
        Row::new(vec!["SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME"]).style(theme.header()),
    );
    frame.render_widget(table, inner);
    let detail = app
        .selected_audit()
        .map(|r| r.entry.detail.clone())
        .unwrap_or_default();
    frame.render_widget(
        Paragraph::new(detail)
            .wrap(Wrap { trim: true })
            .block(block(theme, "Detail")),
        detail_area,
    );
}
