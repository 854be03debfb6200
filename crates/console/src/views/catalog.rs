//! Catalog screen: every backup as a table (only the visible rows are
//! built), with the detail pane of the selected one. The TYPE and STATUS
//! cells come from [`crate::data`], which puts the same words into what
//! `/` searches.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::{block, trend, Theme};
use crate::app::App;
use crate::data::{self, BackupDetail, SortColumn};
use crate::fmt;

/// A column of the table, in the order they are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Type,
    Name,
    Created,
    Size,
    Stored,
    Enc,
    Verif,
    Status,
    Id,
}

/// From this width on every column shows, the creation time with its
/// year and the name at 16 characters.
const WIDE: u16 = 110;

impl Column {
    const ALL: [Column; 9] = [
        Column::Type,
        Column::Name,
        Column::Created,
        Column::Size,
        Column::Stored,
        Column::Enc,
        Column::Verif,
        Column::Status,
        Column::Id,
    ];

    /// The order columns are kept in when the row is narrow, the last
    /// given up first: the id first of all, since every CLI command takes
    /// it, and encryption, stored size and verification (the detail pane
    /// has them) last. The column the table is sorted by is kept too.
    const KEEP_ORDER: [Column; 9] = [
        Column::Id,
        Column::Type,
        Column::Status,
        Column::Created,
        Column::Name,
        Column::Size,
        Column::Verif,
        Column::Stored,
        Column::Enc,
    ];

    fn name(self) -> &'static str {
        match self {
            Column::Type => "TYPE",
            Column::Name => "NAME",
            Column::Created => "CREATED",
            Column::Size => "SIZE",
            Column::Stored => "STORED",
            Column::Enc => "ENC",
            Column::Verif => "VERIF",
            Column::Status => "STATUS",
            Column::Id => "ID",
        }
    }

    fn sort(self) -> Option<SortColumn> {
        match self {
            Column::Type => Some(SortColumn::Type),
            Column::Name => Some(SortColumn::Name),
            Column::Created => Some(SortColumn::Created),
            Column::Size => Some(SortColumn::Size),
            Column::Stored => Some(SortColumn::Stored),
            Column::Verif => Some(SortColumn::Verified),
            Column::Status => Some(SortColumn::Status),
            Column::Enc | Column::Id => None,
        }
    }

    /// The fewest cells the column takes (`id` cells for the ids shown).
    fn min_width(self, wide: bool, id: u16) -> u16 {
        match self {
            Column::Type => 10,
            Column::Name if wide => 16,
            Column::Name => 8,
            // `2026-11-26 02:00`, or `11-26 02:00` (the id has the year).
            Column::Created if wide => 16,
            Column::Created => 11,
            Column::Size => 5,
            // "STORED" and the sort arrow.
            Column::Stored => 7,
            Column::Enc => 3,
            Column::Verif => 6,
            Column::Status => 9,
            Column::Id => id,
        }
    }
}

/// The columns that fit in `width` cells (with one between columns), in
/// table order: taken in [`Column::KEEP_ORDER`], the sorted one first,
/// each while it still fits.
fn columns(width: u16, sort: SortColumn, id: u16) -> Vec<Column> {
    let wide = width >= WIDE;
    let mut order: Vec<Column> = Column::KEEP_ORDER.to_vec();
    if let Some(i) = order.iter().position(|c| c.sort() == Some(sort)) {
        let sorted = order.remove(i);
        order.insert(0, sorted);
    }
    let mut kept = Vec::new();
    let mut used = 0u16;
    for c in order {
        let need = c.min_width(wide, id) + u16::from(!kept.is_empty());
        if used + need <= width {
            used += need;
            kept.push(c);
        }
    }
    Column::ALL
        .into_iter()
        .filter(|c| kept.contains(c))
        .collect()
}

/// The header of these columns: the column the table is sorted by
/// carries ▲ (ascending) or ▼ (descending), as the title says in words.
fn header_cells(app: &App, columns: &[Column]) -> Vec<String> {
    let arrow = if app.descending { "▼" } else { "▲" };
    columns
        .iter()
        .map(|c| {
            if c.sort() == Some(app.sort) {
                format!("{}{arrow}", c.name())
            } else {
                c.name().to_string()
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
    let shown = &app.backup_view[first..(first + height).min(len)];
    let id_width = shown
        .iter()
        .map(|&i| app.backups[i as usize].id.chars().count())
        .max()
        .unwrap_or(0)
        .max(2);
    let id_width = u16::try_from(id_width).unwrap_or(u16::MAX);
    let wide = inner.width >= WIDE;
    let columns = columns(inner.width, app.sort, id_width);
    // The name takes what is left (the id, when wide).
    let widths: Vec<Constraint> = columns
        .iter()
        .map(|&c| match c {
            Column::Name if !wide => Constraint::Fill(1),
            Column::Id if wide => Constraint::Fill(1),
            c => Constraint::Length(c.min_width(wide, id_width)),
        })
        .collect();
    let name_width = columns
        .iter()
        .zip(super::table_widths(&widths, 1, inner.width))
        .find(|(c, _)| **c == Column::Name)
        .map_or(0, |(_, w)| w);
    let rows = shown.iter().enumerate().map(|(i, &idx)| {
        let b = &app.backups[idx as usize];
        // The cells `/` searches are these same texts (data::load_backups).
        let status = data::status_cell(b.status);
        let verified = b.verified.as_str();
        let cells = columns.iter().map(|c| match c {
            Column::Type => Cell::from(data::type_cell(b)),
            Column::Name => Cell::from(fmt::clip(b.name.as_deref().unwrap_or("-"), name_width)),
            Column::Created if wide => Cell::from(fmt::stored_ts(&b.created)),
            Column::Created => Cell::from(
                fmt::stored_ts(&b.created)
                    .get(5..)
                    .unwrap_or("")
                    .to_string(),
            ),
            Column::Size => Cell::from(fmt::short_bytes(b.size)),
            Column::Stored => Cell::from(fmt::short_bytes(b.stored_size)),
            Column::Enc => Cell::from(if b.encrypted { "yes" } else { "no" }),
            Column::Verif => Cell::from(Span::styled(verified, theme.status(verified))),
            Column::Status => Cell::from(Span::styled(status, theme.status(status))),
            Column::Id => Cell::from(b.id.to_string()),
        });
        let row = Row::new(cells);
        if first + i == app.catalog_list.selected {
            row.style(theme.selected())
        } else {
            row
        }
    });
    let header = Row::new(header_cells(app, &columns)).style(theme.header());
    app.hits.record_rows(
        super::rows_area(inner),
        first,
        std::iter::repeat_n(1, len - first),
    );
    let table = Table::new(rows, widths).header(header).column_spacing(1);
    frame.render_widget(table, inner);

    if let (Some(d), Some(area)) = (&app.detail, detail_area) {
        render_detail(d, theme, frame, area);
    }
}

/// The detail pane of the selected backup: its type's trend around it
/// (when there is room) over its manifest facts.
fn render_detail(d: &BackupDetail, theme: Theme, frame: &mut Frame, area: Rect) {
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

#[cfg(test)]
mod tests {
    use super::{columns, Column};
    use crate::data::SortColumn;

    #[test]
    fn the_id_stays_at_80_columns_and_so_does_the_sorted_column() {
        use Column::*;
        // 80 columns leave 78 inside the border; ids are 28 characters.
        assert_eq!(
            columns(78, SortColumn::Created, 28),
            [Type, Name, Created, Size, Status, Id]
        );
        assert_eq!(
            columns(78, SortColumn::Stored, 28),
            [Type, Name, Created, Stored, Status, Id]
        );
        assert_eq!(
            columns(78, SortColumn::Verified, 28),
            [Type, Name, Created, Verif, Status, Id]
        );
        // Wider, everything.
        assert_eq!(columns(108, SortColumn::Created, 28), Column::ALL);
        assert_eq!(columns(98, SortColumn::Created, 28), Column::ALL);
    }
}
