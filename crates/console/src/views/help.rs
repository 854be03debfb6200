//! The key help overlay (`?`): every key of what is on screen, wrapped to
//! the popup, scrolled, with what `/` found marked (see
//! [`crate::help`] for its content and [`crate::input`] for its keys).

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::{block, centered, highlighted, scroll_note, wrap_words, Theme};
use crate::app::{App, HelpSearch};
use crate::help;
use crate::joblog::{folded, match_ranges};

/// The help's rows at `width`, wrapped here (not by the paragraph) so
/// that the overlay knows how many there are and where each entry
/// starts: each key's text hangs indented under itself, the palette's
/// commands close it. The text of the entries in `marked` has `query`
/// shown in `hit`.
fn rows(
    entries: &[(String, String)],
    theme: Theme,
    width: usize,
    mark: impl Fn(usize) -> Option<Style>,
    query: &[char],
) -> (Vec<Line<'static>>, Vec<usize>) {
    let mut rows = Vec::new();
    let mut starts = Vec::new();
    let text_spans = |t: &str, hit: Option<Style>| match hit {
        Some(style) => {
            let chars: Vec<char> = t.chars().collect();
            highlighted(&chars, 0, &match_ranges(&folded(t), query), style)
        }
        None => vec![Span::raw(t.to_string())],
    };
    for (i, (k, d)) in entries.iter().enumerate() {
        let hit = mark(i);
        if k.is_empty() {
            // The palette's commands, after a blank row.
            rows.push(Line::raw(""));
            starts.push(rows.len());
            rows.extend(
                wrap_words(d, width)
                    .into_iter()
                    .map(|t| Line::from(text_spans(&t, hit)).style(theme.dim())),
            );
            continue;
        }
        starts.push(rows.len());
        let label = format!("{k:>8}  ");
        let indent = label.chars().count();
        let mut text = wrap_words(d, width.saturating_sub(indent)).into_iter();
        // The label keeps its style around what is marked in it.
        let mut first: Vec<Span> = text_spans(&label, hit)
            .into_iter()
            .map(|sp| {
                if sp.style == Style::default() {
                    sp.style(theme.key())
                } else {
                    sp
                }
            })
            .collect();
        first.extend(text_spans(&text.next().unwrap_or_default(), hit));
        rows.push(Line::from(first));
        rows.extend(text.map(|t| {
            let mut spans = vec![Span::raw(" ".repeat(indent))];
            spans.extend(text_spans(&t, hit));
            Line::from(spans)
        }));
    }
    (rows, starts)
}

/// What the bottom border says of a search: the query and where its
/// current match is among them.
fn search_note(s: &HelpSearch, found: usize) -> String {
    match found {
        0 if s.query.is_empty() => " / type to search ".into(),
        0 => format!(" /{}: no match ", s.query),
        n => format!(
            " /{}: match {} of {n}{} ",
            s.query,
            s.at.min(n - 1) + 1,
            if s.typing { "" } else { " (n/N)" }
        ),
    }
}

/// The key help, from row `scroll` on. When it does not fit, the bottom
/// border says which rows show and that there is more (and the keys
/// scroll it); the room it had and where each entry starts are noted for
/// the keys ([`App::help_room`]).
pub fn render(
    app: &App,
    theme: Theme,
    frame: &mut Frame,
    area: Rect,
    scroll: usize,
    search: Option<&HelpSearch>,
) {
    let title = match app.shown_wizard() {
        Some(w) => format!("Keys: {} wizard", w.title()),
        None if app.log_view.is_some() => "Keys: job log".to_string(),
        None => format!("Keys: {}", app.screen.title()),
    };
    let entries = help::entries(app);
    let query = search.map(|s| s.query.as_str()).unwrap_or_default();
    let found = help::matching(&entries, query);
    let current = search.and_then(|s| found.get(s.at.min(found.len().saturating_sub(1))));
    // Attributes, not colours: they read the same under NO_COLOR.
    let hit = Style::default().add_modifier(Modifier::REVERSED);
    let mark = |i: usize| {
        if current == Some(&i) {
            Some(hit.add_modifier(Modifier::BOLD | Modifier::UNDERLINED))
        } else {
            found.contains(&i).then_some(hit)
        }
    };
    let w = area.width.saturating_sub(4).min(100);
    let width = usize::from(w.saturating_sub(2));
    let (rows, starts) = rows(&entries, theme, width, mark, &folded(query));
    let total = rows.len();
    let h = u16::try_from(total + 2)
        .unwrap_or(u16::MAX)
        .min(area.height);
    let page = usize::from(h.saturating_sub(2));
    let max_scroll = total.saturating_sub(page);
    let first = scroll.min(max_scroll);
    app.help_room.page.set(page);
    app.help_room.max_scroll.set(max_scroll);
    *app.help_room.entry_rows.borrow_mut() = starts;
    let mut block = block(theme, &title);
    if let Some(at) = scroll_note(first, page, total) {
        block = block.title_bottom(Span::styled(at, theme.title()));
    }
    if let Some(s) = search {
        block = block
            .title_bottom(Line::styled(search_note(s, found.len()), theme.title()).right_aligned());
    }
    let r = centered(area, w, h);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(rows.into_iter().skip(first).take(page).collect::<Vec<_>>()).block(block),
        r,
    );
}
