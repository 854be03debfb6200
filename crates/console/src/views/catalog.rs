//! Catalog screen: every backup as a table (only the visible rows are
//! built), with the detail pane of the selected one.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::{block, trend, Theme};
use crate::app::App;
use crate::data::SortColumn;
use crate::fmt;

fn status_word(s: lifeboat_engine::catalog::BackupStatus) -> &'static str {
    match s {
        lifeboat_engine::catalog::BackupStatus::SucceededWithWarnings => "warnings",
        other => other.as_str(),
    }
}

/// Type names short enough for the 80-column table.
fn short_type(t: lifeboat_engine::archive::manifest::BackupType) -> &'static str {
    match t {
        lifeboat_engine::archive::manifest::BackupType::Database => "db",
        lifeboat_engine::archive::manifest::BackupType::Filesystem => "files",
        lifeboat_engine::archive::manifest::BackupType::Configuration => "config",
        lifeboat_engine::archive::manifest::BackupType::State => "state",
    }
}

/// The table's header: the column the table is sorted by carries ▲
/// (ascending) or ▼ (descending), as the title says in words.
fn header_cells(app: &App) -> Vec<String> {
    let arrow = if app.descending { "▼" } else { "▲" };
    [
        ("TYPE", Some(SortColumn::Type)),
        ("NAME", Some(SortColumn::Name)),
        ("CREATED", Some(SortColumn::Created)),
        ("SIZE", Some(SortColumn::Size)),
        ("STORED", Some(SortColumn::Stored)),
        ("ENC", None),
        ("VERIF", Some(SortColumn::Verified)),
        ("STATUS", Some(SortColumn::Status)),
        ("ID", None),
    ]
    .into_iter()
    .map(|(name, column)| {
        if column == Some(app.sort) {
            format!("{name}{arrow}")
        } else {
            name.to_string()
        }
    })
    .collect()
}

pub fn render(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let (table_area, detail_area) = match &app.detail {
        Some(_) => {
            let [a, b] = Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)])
                .areas(area);
            (a, Some(b))
        }
        None => (area, None),
    };
    let title = format!(
        "Catalog: {} backups{} | sort: {} {}{}",
        app.backups.len(),
        if app.backup_view.len() != app.backups.len() {
            format!(" ({} shown)", app.backup_view.len())
        } else {
            String::new()
        },
        app.sort.label(),
        if app.descending { "desc" } else { "asc" },
        if app.catalog_filter.is_empty() {
            String::new()
        } else {
            format!(" | filter: /{}", app.catalog_filter)
        }
    );
    let outer = block(theme, &title);
    let inner = outer.inner(table_area);
    frame.render_widget(outer, table_area);
    if app.backups.is_empty() {
        let text = if app.catalog_error.is_some() {
            "the catalog cannot be read right now (see the status line)".to_string()
        } else {
            "no backups yet: start one with :backup, or `lifeboat backup --type filesystem`"
                .to_string()
        };
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), inner);
        return;
    }
    if app.backup_view.is_empty() {
        frame.render_widget(
            Paragraph::new(format!(
                "no backup matches /{} (Esc clears the filter)",
                app.catalog_filter
            )),
            inner,
        );
        return;
    }
    let height = inner.height.saturating_sub(1) as usize;
    let len = app.backup_view.len();
    let first = app.catalog_list.window(len, height);
    let rows = app.backup_view[first..(first + height).min(len)]
        .iter()
        .enumerate()
        .map(|(i, &idx)| {
            let b = &app.backups[idx as usize];
            let status = status_word(b.status);
            let verified = b.verified.as_str();
            let row = Row::new(vec![
                Cell::from(format!(
                    "{}{}",
                    short_type(b.backup_type),
                    if b.incremental { "+incr" } else { "" }
                )),
                Cell::from(b.name.as_deref().unwrap_or("-").to_string()),
                Cell::from(fmt::stored_ts(&b.created)),
                Cell::from(fmt::short_bytes(b.size)),
                Cell::from(fmt::short_bytes(b.stored_size)),
                Cell::from(if b.encrypted { "yes" } else { "no" }),
                Cell::from(Span::styled(verified, theme.status(verified))),
                Cell::from(Span::styled(status, theme.status(status))),
                Cell::from(b.id.to_string()),
            ]);
            if first + i == app.catalog_list.selected {
                row.style(theme.selected())
            } else {
                row
            }
        });
    let header = Row::new(header_cells(app)).style(theme.header());
    // The id column only when there is room; the detail pane always shows it.
    let mut widths = vec![
        Constraint::Length(10),
        Constraint::Min(8),
        Constraint::Length(16),
        Constraint::Length(5),
        // "STORED" and the sort arrow.
        Constraint::Length(7),
        Constraint::Length(3),
        Constraint::Length(6),
        Constraint::Length(9),
    ];
    if inner.width >= 110 {
        widths[1] = Constraint::Length(16);
        widths.push(Constraint::Min(20));
    }
    let table = Table::new(rows, widths).header(header).column_spacing(1);
    frame.render_widget(table, inner);

    if let (Some(d), Some(area)) = (&app.detail, detail_area) {
        let outer = block(theme, "Details (Esc closes)");
        let inner = outer.inner(area);
        frame.render_widget(outer, area);
        // The trend on top when it leaves room for a few detail lines.
        let lines_area = match &d.trend {
            Some((t, at)) if !t.points.is_empty() && inner.height >= trend::DETAIL_ROWS + 3 => {
                let [top, rest] =
                    Layout::vertical([Constraint::Length(trend::DETAIL_ROWS), Constraint::Min(1)])
                        .areas(inner);
                trend::render_detail(t, *at, theme, frame, top);
                rest
            }
            _ => inner,
        };
        let lines: Vec<Line> = d
            .lines
            .iter()
            .map(|(k, v)| {
                Line::from(vec![
                    Span::styled(format!("{k:<14} "), theme.title()),
                    Span::raw(v.clone()),
                ])
            })
            .collect();
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), lines_area);
    }
}
