//! The row popup (`i`, Enter on Health and Audit): the selected row of a
//! list with every field whole, wrapped to the popup, for what the table
//! cuts to its columns (a cut cell ends in `~`).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::{block, centered, scroll_note, wrap_words, Theme};
use crate::app::App;

/// The fields as rows of `width`: the label, then the text hanging
/// under itself, its own line breaks kept.
fn rows(fields: &[(&str, String)], theme: Theme, width: usize) -> Vec<Line<'static>> {
    let label_width = fields
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let indent = label_width + 2;
    let mut rows = Vec::new();
    for (k, v) in fields {
        let mut text = v
            .lines()
            .flat_map(|l| wrap_words(l, width.saturating_sub(indent)))
            .collect::<Vec<_>>()
            .into_iter();
        rows.push(Line::from(vec![
            Span::styled(format!("{k:>label_width$}  "), theme.title()),
            Span::raw(text.next().unwrap_or_default()),
        ]));
        rows.extend(text.map(|t| Line::raw(format!("{:indent$}{t}", ""))));
    }
    rows
}

pub fn render(app: &App, theme: Theme, frame: &mut Frame, area: Rect, scroll: usize) {
    let w = area.width.saturating_sub(4).min(100);
    let (title, rows) = match app.row_fields() {
        Some((title, fields)) => (
            title,
            rows(&fields, theme, usize::from(w.saturating_sub(2))),
        ),
        None => (
            "Row".to_string(),
            vec![Line::styled("the row is no longer shown", theme.dim())],
        ),
    };
    let total = rows.len();
    let h = u16::try_from(total + 2)
        .unwrap_or(u16::MAX)
        .min(area.height);
    let page = usize::from(h.saturating_sub(2));
    let max_scroll = total.saturating_sub(page);
    let first = scroll.min(max_scroll);
    app.row_room.page.set(page);
    app.row_room.max_scroll.set(max_scroll);
    let mut block = block(theme, &title);
    if let Some(at) = scroll_note(first, page, total) {
        block = block.title_bottom(Span::styled(at, theme.title()));
    }
    let r = centered(area, w, h);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(rows.into_iter().skip(first).take(page).collect::<Vec<_>>()).block(block),
        r,
    );
}
