//! The message history (`M`, `:messages`): what the status line said,
//! newest first, each whole (wrapped), with its time and level, so an
//! error the status line had to cut can be read to the end.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::{block, centered, wrap_ranges, Theme};
use crate::app::{App, Level, Message};

/// "12:03:04 " before each entry; wrapped rows are indented as far.
const INDENT: usize = 9;

/// An entry's rows at `width`: the first carries the time and the level.
fn entry_lines(m: &Message, theme: Theme, width: usize) -> Vec<Line<'static>> {
    let (word, style) = match m.level {
        Level::Info => ("", theme.dim()),
        Level::Warn => ("warning: ", theme.warn()),
        Level::Error => ("error: ", theme.bad()),
    };
    let repeats = if m.repeats > 1 {
        format!(" (x{})", m.repeats)
    } else {
        String::new()
    };
    // The level word is part of the text that wraps.
    let text = format!("{word}{}{repeats}", m.text);
    let room = width.saturating_sub(INDENT).max(1);
    let mut out = Vec::new();
    for para in text.split('\n') {
        let chars: Vec<char> = para.chars().collect();
        for (a, b) in wrap_ranges(&chars, room) {
            let row: String = chars[a..b].iter().collect();
            let mut spans = if out.is_empty() {
                vec![Span::styled(
                    format!("{} ", m.when.format("%H:%M:%S")),
                    theme.dim(),
                )]
            } else {
                vec![Span::raw(" ".repeat(INDENT))]
            };
            // The level word keeps its style on the first row.
            match row
                .strip_prefix(word)
                .filter(|_| a == 0 && !word.is_empty())
            {
                Some(rest) if out.is_empty() => {
                    spans.push(Span::styled(word, style));
                    spans.push(Span::raw(rest.to_string()));
                }
                _ => spans.push(Span::raw(row)),
            }
            out.push(Line::from(spans));
        }
    }
    out
}

pub fn render(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let w = area.width.saturating_sub(4).min(120);
    let h = area.height.saturating_sub(2);
    let r = centered(area, w, h);
    frame.render_widget(Clear, r);
    let title = format!(
        "Messages: {} (newest first, the last {} are kept)",
        app.history.len(),
        crate::app::HISTORY_CAP
    );
    let outer = block(theme, &title);
    let inner = outer.inner(r);
    frame.render_widget(outer, r);
    let [body, info] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    let height = usize::from(body.height);
    let width = usize::from(body.width);
    let entries: Vec<&Message> = app.history.iter().rev().collect();
    let len = entries.len();

    // The last first entry that still fills the screen to the end.
    let mut max_top = len;
    let mut rows = 0;
    while max_top > 0 {
        let n = entry_lines(entries[max_top - 1], theme, width).len();
        if rows + n > height {
            break;
        }
        rows += n;
        max_top -= 1;
    }
    let max_top = max_top.min(len.saturating_sub(1));
    let s = &app.history_scroll;
    s.max_top.set(max_top);
    let top = s.top.min(max_top);

    let mut out: Vec<Line> = Vec::new();
    let mut whole = 0;
    for m in entries.iter().skip(top) {
        if out.len() >= height {
            break;
        }
        out.extend(entry_lines(m, theme, width));
        if out.len() <= height {
            whole += 1;
        }
    }
    s.page.set(whole.max(1));
    if len == 0 {
        out.push(Line::styled(
            "(nothing yet: what the status line says is kept here)",
            theme.dim(),
        ));
    }
    frame.render_widget(Paragraph::new(out), body);
    let mut hint = vec![
        Span::styled("Esc", theme.key()),
        Span::raw(" close  "),
        Span::styled("↑/↓ PgUp/PgDn g/G", theme.key()),
        Span::raw(" scroll"),
    ];
    if len > 0 {
        hint.push(Span::raw(format!(
            "  entries {}-{} of {len}",
            top + 1,
            (top + whole).min(len)
        )));
    }
    frame.render_widget(Paragraph::new(Line::from(hint)), info);
}
