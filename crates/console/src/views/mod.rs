//! Drawing: the frame (tabs, status line, footer), overlays, and one
//! module per screen. Views read [`App`] and do no I/O.
//!
//! Status is always a word ("ok", "FAILED", "critical"), with colour only
//! as a second signal, so `NO_COLOR` and monochrome terminals read the same.

mod audit;
mod catalog;
mod dashboard;
mod health;
mod help;
mod joblog;
mod jobs;
mod messages;
mod row;
mod storage;
mod trend;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::app::{App, ConfirmKind, Level, Overlay, Screen};
use super::keymap::{self, Binding, Context};

/// The smallest terminal the console draws in.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Styles, with or without colour.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }
    pub fn ok(self) -> Style {
        self.fg(Color::Green)
    }
    pub fn warn(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    pub fn bad(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    pub fn dim(self) -> Style {
        if self.color {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default()
        }
    }
    pub fn title(self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }
    pub fn header(self) -> Style {
        Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }
    pub fn selected(self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }
    pub fn key(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    /// A style for a status word: ok/succeeded green, warnings yellow,
    /// failures red, the rest plain.
    pub fn status(self, word: &str) -> Style {
        let w = word.to_lowercase();
        if w.starts_with("ok")
            || w == "succeeded"
            || w == "yes"
            || w == "verified"
            || w == "app-healthy"
        {
            self.ok()
        } else if w.contains("warn") || w == "running" || w == "queued" || w.contains("missed") {
            self.warn()
        } else if w.contains("fail")
            || w.contains("unhealthy")
            || w.contains("crit")
            || w.contains("tamper")
            || w == "interrupted"
            || w == "cancelled"
            || w == "silent"
        {
            self.bad()
        } else {
            Style::default()
        }
    }
}

/// Why the background checks (health, storage, audit chain, restore
/// evidence) have no result and will get none: no catalog is open. `None`
/// while one is open (their results are then on the way).
pub fn no_catalog_why(app: &App) -> Option<String> {
    (!app.catalog_open).then(|| {
        app.catalog_error
            .as_deref()
            .unwrap_or("the catalog is not open")
            .replace('\n', " ")
    })
}

/// Where a table with a one-row header in `inner` draws its rows.
pub fn rows_area(inner: Rect) -> Rect {
    let mut r = inner;
    r.y = r.y.saturating_add(1).min(inner.bottom());
    r.height = inner.height.saturating_sub(1);
    r
}

/// What a list's title adds for its filter: ` | filter: /text (N shown)`,
/// nothing without one.
pub fn filter_note(filter: &str, shown: usize) -> String {
    if filter.is_empty() {
        String::new()
    } else {
        format!(" | filter: /{filter} ({shown} shown)")
    }
}

/// A bordered block with a bold title.
pub fn block(theme: Theme, title: &str) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(format!(" {title} "), theme.title()))
}

/// Draw the whole console.
pub fn render(app: &App, frame: &mut Frame) {
    let theme = Theme {
        color: !app.ctx.no_color,
    };
    let area = frame.area();
    app.hits.clear();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "terminal too small (need {MIN_WIDTH}x{MIN_HEIGHT}, have {}x{})\nenlarge the window, or press q to quit",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let status_lines = status_lines(app, theme, area.width);
    let [tabs, main, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(status_lines.len() as u16),
        Constraint::Length(1),
    ])
    .areas(area);
    render_tabs(app, theme, frame, tabs);
    if let Some(w) = app.shown_wizard() {
        w.render(frame, main);
    } else if let Some(v) = app.log_view.as_ref() {
        joblog::render(app, v, theme, frame, main);
    } else {
        match app.screen {
            Screen::Dashboard => dashboard::render(app, theme, frame, main),
            Screen::Catalog => catalog::render(app, theme, frame, main),
            Screen::Jobs => jobs::render(app, theme, frame, main),
            Screen::Health => health::render(app, theme, frame, main),
            Screen::Storage => storage::render(app, theme, frame, main),
            Screen::Audit => audit::render(app, theme, frame, main),
        }
    }
    frame.render_widget(Paragraph::new(status_lines), status);
    render_footer(app, theme, frame, footer);
    match &app.overlay {
        Overlay::Help { scroll, search } => {
            help::render(app, theme, frame, main, *scroll, search.as_ref())
        }
        Overlay::Confirm(_) => render_confirm(app, theme, frame, main),
        Overlay::Messages => messages::render(app, theme, frame, main),
        Overlay::Row { scroll } => row::render(app, theme, frame, main, *scroll),
        Overlay::None | Overlay::Palette(_) | Overlay::Filter | Overlay::LogSearch => {}
    }
}

fn render_tabs(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let mut spans = vec![Span::styled(" lifeboat ", theme.title())];
    let mut x = area.x + spans[0].width() as u16;
    for s in Screen::ALL {
        let label = format!(" {} {} ", s.index() + 1, s.title());
        let width = label.chars().count() as u16;
        // Where a click picks this screen.
        let at = Rect::new(x, area.y, width, 1).intersection(area);
        app.hits.tabs.borrow_mut().push((at, s));
        x += width;
        let style = if s == app.screen && app.shown_wizard().is_none() {
            theme.selected().add_modifier(Modifier::BOLD)
        } else {
            Style::default()
        };
        spans.push(Span::styled(label, style));
    }
    match (&app.wizard, app.wizard_hidden) {
        (Some(w), false) => spans.push(Span::styled(
            format!(" [wizard: {}] ", w.title()),
            theme.selected(),
        )),
        (Some(w), true) => spans.push(Span::styled(
            format!(
                " [wizard: {}{}, w shows it] ",
                w.title(),
                if w.is_running() { " working" } else { "" }
            ),
            theme.warn(),
        )),
        (None, _) => {}
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Rows a warning or an error in the status line may take (the screen
/// gives them up); past that the text is cut with `…`.
const STATUS_ROWS: usize = 3;

/// Where a status line message cut short can be read whole (one text for
/// the wrapped warning and the one-row info line).
macro_rules! whole_in_history {
    () => {
        "(M: whole message)"
    };
}

/// The status line at `width`: the palette or filter being typed, the
/// message, the catalog's error, or the counts. A warning or an error is
/// the operator's next step, often with a hint at its end: it wraps to up
/// to [`STATUS_ROWS`] rows instead of being cut at the edge.
fn status_lines(app: &App, theme: Theme, width: u16) -> Vec<Line<'static>> {
    let problem = match (&app.overlay, &app.message, &app.catalog_error) {
        (Overlay::Palette(_) | Overlay::Filter | Overlay::LogSearch, _, _) => None,
        (
            Overlay::Help {
                search: Some(s), ..
            },
            _,
            _,
        ) if s.typing => None,
        (_, Some(m), _) => match m.level {
            Level::Info => None,
            Level::Warn => Some(("warning:", theme.warn(), m.text.as_str())),
            Level::Error => Some(("error:", theme.bad(), m.text.as_str())),
        },
        (_, None, Some(e)) => Some(("catalog:", theme.bad(), e.as_str())),
        (_, None, None) => None,
    };
    let Some((word, style, text)) = problem else {
        return vec![status_line(app, theme, width)];
    };
    let mut rows = wrap_words(&format!("{word} {text}"), usize::from(width));
    if rows.len() > STATUS_ROWS {
        rows.truncate(STATUS_ROWS);
        let last = &mut rows[STATUS_ROWS - 1];
        // Cut with where to read it whole (the message history, `M`).
        const MORE: &str = concat!("… ", whole_in_history!());
        let kept: String = last
            .chars()
            .take(usize::from(width).saturating_sub(MORE.chars().count()))
            .collect();
        *last = format!("{kept}{MORE}");
    }
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| match row.strip_prefix(word) {
            Some(rest) if i == 0 => {
                Line::from(vec![Span::styled(word, style), Span::raw(rest.to_string())])
            }
            _ => Line::raw(row),
        })
        .collect()
}

/// The one-row status line (everything but a warning or an error).
fn status_line(app: &App, theme: Theme, width: u16) -> Line<'static> {
    match &app.overlay {
        Overlay::Palette(p) => {
            let mut spans = vec![
                Span::styled(":", theme.key()),
                Span::raw(p.text.clone()),
                Span::styled("_", theme.dim()),
            ];
            if p.no_match {
                spans.push(Span::styled("  (no command starts with that)", theme.dim()));
            }
            for (i, c) in p.choices.iter().enumerate() {
                spans.push(Span::raw("  "));
                spans.push(if p.current_choice() == Some(i) {
                    Span::styled(c.clone(), theme.selected())
                } else {
                    Span::styled(c.clone(), theme.dim())
                });
            }
            Line::from(spans)
        }
        Overlay::LogSearch => {
            let (q, n) = app
                .log_view
                .as_ref()
                .map_or((String::new(), 0), |v| (v.query.clone(), v.matches.len()));
            Line::from(vec![
                Span::styled("search /", theme.key()),
                Span::raw(q),
                Span::styled("_", theme.dim()),
                Span::styled(
                    format!("  ({n} matching lines; Enter keeps it, Esc clears it)"),
                    theme.dim(),
                ),
            ])
        }
        Overlay::Help {
            search: Some(s), ..
        } if s.typing => {
            let n = crate::help::matching(&crate::help::entries(app), &s.query).len();
            Line::from(vec![
                Span::styled("search help /", theme.key()),
                Span::raw(s.query.clone()),
                Span::styled("_", theme.dim()),
                Span::styled(
                    format!("  ({n} matching keys; Enter keeps it, Esc clears it)"),
                    theme.dim(),
                ),
            ])
        }
        Overlay::Filter => {
            let f = app.filter().unwrap_or_default();
            Line::from(vec![
                Span::styled("filter /", theme.key()),
                Span::raw(f.to_string()),
                Span::styled("_", theme.dim()),
                Span::styled("  (Enter keeps it, Esc clears it)", theme.dim()),
            ])
        }
        _ => match &app.message {
            // An info line: one row, cut with where to read it whole.
            Some(m) => Line::raw(fit(&m.text, usize::from(width), "")),
            None => Line::from(Span::styled(
                format!(
                    "{} backups, {} active jobs{}",
                    app.backups.len(),
                    app.jobs.iter().filter(|j| j.is_active()).count(),
                    if app.children.is_empty() {
                        String::new()
                    } else {
                        format!(", {} started here", app.children.len())
                    }
                ),
                theme.dim(),
            )),
        },
    }
}

/// A status line message on one row of `width` after `word`: cut, when it
/// does not fit, with where to read it whole.
fn fit(text: &str, width: usize, word: &str) -> String {
    const MORE: &str = concat!("... ", whole_in_history!());
    let text = text.replace('\n', " ");
    let room = width.saturating_sub(word.chars().count());
    if text.chars().count() <= room {
        return text;
    }
    let mut cut: String = text.chars().take(room.saturating_sub(MORE.len())).collect();
    cut.push_str(MORE);
    cut
}

/// The keys that apply now: (label, what it does).
pub fn current_keys(app: &App) -> Vec<(String, String)> {
    match &app.overlay {
        Overlay::Help { search, .. } => {
            return match search {
                Some(s) if s.typing => vec![
                    ("Enter".into(), "keep search (n/N step)".into()),
                    ("Esc".into(), "clear search".into()),
                ],
                Some(_) => vec![
                    ("n/N".into(), "next/previous match".into()),
                    ("/".into(), "new search".into()),
                    ("↑↓ PgUp PgDn g G".into(), "scroll".into()),
                    ("Esc".into(), "clear search".into()),
                    ("q/?".into(), "close".into()),
                ],
                None => vec![
                    ("↑↓ PgUp PgDn g G".into(), "scroll".into()),
                    ("/".into(), "search".into()),
                    ("Esc/q/?".into(), "close the help".into()),
                ],
            }
        }
        Overlay::Palette(_) => {
            return vec![
                ("Enter".into(), "run".into()),
                ("Tab".into(), "complete".into()),
                ("↑/↓".into(), "history".into()),
                ("Esc".into(), "cancel".into()),
            ]
        }
        Overlay::LogSearch => {
            return vec![
                ("Enter".into(), "keep search (n/N step)".into()),
                ("Esc".into(), "clear search".into()),
            ]
        }
        Overlay::Messages => {
            return vec![
                ("↑/↓ PgUp/PgDn g/G".into(), "scroll".into()),
                ("Esc/q/M".into(), "close".into()),
            ]
        }
        Overlay::Row { .. } => {
            let mut keys = vec![("↑↓ PgUp PgDn g G".into(), "scroll".into())];
            if matches!(app.screen, Screen::Catalog | Screen::Jobs) {
                keys.push(("y".into(), "copy the id".into()));
            }
            keys.push(("Esc/q/i".into(), "close".into()));
            return keys;
        }
        Overlay::Filter => {
            return vec![
                ("Enter".into(), "keep filter".into()),
                ("Esc".into(), "clear filter".into()),
            ]
        }
        Overlay::Confirm(c) => {
            return match c.kind {
                ConfirmKind::Delete { .. } => vec![
                    ("type id/name, Enter".into(), "delete".into()),
                    ("Esc".into(), "keep it".into()),
                ],
                _ => vec![
                    ("y".into(), "yes".into()),
                    ("n/Enter/Esc".into(), "no".into()),
                ],
            }
        }
        Overlay::None => {}
    }
    crate::help::keys(app)
}

fn render_footer(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let mut spans = Vec::new();
    let short: Vec<(String, String)> =
        if app.overlay == Overlay::None && app.shown_wizard().is_none() {
            let ctx = app.key_context();
            let close = (ctx == Context::JobLog).then(|| ("Esc".to_string(), "close".to_string()));
            // A wizard put aside: first in the footer (the tab bar's
            // marker is cut at 80 columns).
            let aside = app.wizard.as_ref().filter(|_| app.wizard_hidden).map(|w| {
                let doing = if w.is_running() { "working" } else { "open" };
                ("w".to_string(), format!("{} wizard ({doing})", w.title()))
            });
            aside
                .into_iter()
                .chain(close)
                .chain(
                    keymap::bindings(ctx)
                        .filter(|b| b.footer)
                        .map(|b| (b.label.to_string(), short_help(b))),
                )
                .collect()
        } else {
            current_keys(app)
        };
    for (k, d) in short {
        spans.push(Span::styled(k, theme.key()));
        spans.push(Span::raw(format!(" {d}  ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The first word or two of a binding's help, for the footer.
fn short_help(b: &Binding) -> String {
    match b.action {
        keymap::Action::GoTab(_) => "screens".into(),
        keymap::Action::Palette => "command".into(),
        keymap::Action::Help => "help".into(),
        keymap::Action::OpenLog => "log".into(),
        keymap::Action::NextMatch => "next".into(),
        keymap::Action::Inspect => "whole row".into(),
        _ => b
            .help
            .split([' ', '(', ':', ','])
            .next()
            .unwrap_or("")
            .to_string(),
    }
}

/// Rows `lines` take when wrapped at `width` (word wrapping may need a
/// row more per line than this character count says, hence the slack).
fn wrapped_height(lines: &[Line], width: u16) -> u16 {
    let width = usize::from(width.max(1));
    let rows: usize = lines
        .iter()
        .map(|l| {
            let w = l.width();
            if w <= width {
                1
            } else {
                w.div_ceil(width) + 1
            }
        })
        .sum();
    u16::try_from(rows).unwrap_or(u16::MAX)
}

/// `text` broken into rows of at most `width` characters: at spaces
/// where it can (runs of white space become one space), inside a word (a
/// path, an id) only where the word is longer than a row.
pub fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut rows = Vec::new();
    let mut row = String::new();
    let mut col = 0;
    for word in text.split_whitespace() {
        let mut chars: Vec<char> = word.chars().collect();
        if col > 0 && col + 1 + chars.len() <= width {
            row.push(' ');
            row.extend(&chars);
            col += 1 + chars.len();
            continue;
        }
        if col > 0 {
            rows.push(std::mem::take(&mut row));
        }
        while chars.len() > width {
            rows.push(chars.drain(..width).collect());
        }
        row = chars.iter().collect();
        col = chars.len();
    }
    if !row.is_empty() || rows.is_empty() {
        rows.push(row);
    }
    rows
}

/// Where to break `chars` into rows of at most `width`: contiguous
/// character ranges covering all of it, broken after the last space that
/// fits (a word longer than a row is cut). Counting rows and drawing them
/// use the same ranges, so a scroll position never disagrees with the
/// screen.
pub fn wrap_ranges(chars: &[char], width: usize) -> Vec<(usize, usize)> {
    let width = width.max(1);
    let mut out = Vec::new();
    let mut a = 0;
    while chars.len() - a > width {
        let window = &chars[a..a + width + 1];
        // A row ends after a space (one right after its last character
        // too: a row's trailing space may overhang, it shows as nothing).
        let b = match window.iter().rposition(|c| *c == ' ') {
            Some(i) if i > 0 => a + i + 1,
            _ => a + width,
        };
        out.push((a, b));
        a = b;
    }
    out.push((a, chars.len()));
    out
}

/// The widths a [`ratatui::widgets::Table`] gives columns of these
/// constraints in `width` cells, `spacing` apart (laid out the way the
/// table lays them out), so that a cell can be cut to its column with a
/// mark ([`crate::fmt::clip`]) instead of silently.
pub fn table_widths(constraints: &[Constraint], spacing: u16, width: u16) -> Vec<usize> {
    Layout::horizontal(constraints.iter().copied())
        .flex(ratatui::layout::Flex::Start)
        .spacing(spacing)
        .split(Rect::new(0, 0, width, 1))
        .iter()
        .map(|r| usize::from(r.width))
        .collect()
}

/// What a popup's bottom border says when its `total` rows do not fit
/// in `page`: which rows show from `first` on, and where there are more.
pub fn scroll_note(first: usize, page: usize, total: usize) -> Option<String> {
    if total <= page {
        return None;
    }
    let mut at = format!(" rows {}-{} of {total}", first + 1, first + page);
    if first > 0 {
        at.push_str(", ↑ more above");
    }
    if first + page < total {
        at.push_str(", ↓ more below");
    }
    at.push(' ');
    Some(at)
}

/// The characters `chars` (starting at `offset` of their line) as spans,
/// the parts inside `ranges` in `hit`.
fn highlighted(
    chars: &[char],
    offset: usize,
    ranges: &[(usize, usize)],
    hit: Style,
) -> Vec<Span<'static>> {
    let inside = |p: usize| ranges.iter().any(|&(s, e)| s <= p && p < e);
    let mut spans = Vec::new();
    let mut run = String::new();
    let mut run_hit = false;
    for (k, c) in chars.iter().enumerate() {
        let h = inside(offset + k);
        if h != run_hit && !run.is_empty() {
            let text = std::mem::take(&mut run);
            spans.push(if run_hit {
                Span::styled(text, hit)
            } else {
                Span::raw(text)
            });
        }
        run_hit = h;
        run.push(*c);
    }
    if !run.is_empty() {
        spans.push(if run_hit {
            Span::styled(run, hit)
        } else {
            Span::raw(run)
        });
    }
    spans
}

/// A rectangle of `w` x `h` centred in `area` (clipped to it).
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn render_confirm(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let Overlay::Confirm(c) = &app.overlay else {
        return;
    };
    let (title, mut lines): (&str, Vec<Line>) = match &c.kind {
        ConfirmKind::Delete { id, name } => (
            "Delete backup",
            vec![
                Line::raw(format!("Delete backup {id}?")),
                Line::raw("This removes its catalog row and its files from the repository;"),
                Line::raw("it cannot be undone. A backup an incremental builds on is refused."),
                Line::raw(""),
                Line::raw(match name {
                    Some(n) => format!("Type its id ({id}) or name ({n}) and press Enter:"),
                    None => format!("Type its id ({id}) and press Enter:"),
                }),
                Line::from(vec![
                    Span::styled("> ", theme.key()),
                    Span::raw(c.input.clone()),
                    Span::styled("_", theme.dim()),
                ]),
                Line::styled("Esc keeps the backup.", theme.dim()),
            ],
        ),
        ConfirmKind::CancelJob { id, what } => (
            "Cancel job",
            vec![
                Line::raw(format!("Cancel job {id} ({what})?")),
                Line::raw("It stops at its next safe point and removes its partial output."),
                Line::raw(""),
                Line::from(vec![
                    Span::styled("[ No ]", theme.selected()),
                    Span::raw("   y: yes, cancel it    n/Enter/Esc: no"),
                ]),
            ],
        ),
        ConfirmKind::Quit { running, abandoned } => {
            let mut l = Vec::new();
            if !running.is_empty() {
                l.push(Line::raw(
                    "These jobs started from this console are still running:",
                ));
                for r in running {
                    l.push(Line::raw(format!("  - {r}")));
                }
                l.push(Line::raw(
                    "They keep running as jobs in the catalog after you quit;",
                ));
                l.push(Line::raw(
                    "follow them with `lifeboat status --follow` or another console.",
                ));
                l.push(Line::raw(""));
            }
            if !abandoned.is_empty() {
                l.push(Line::raw(
                    "These run inside this console and are abandoned if you quit:",
                ));
                for a in abandoned {
                    l.push(Line::raw(format!("  - {a} (abandoned if you quit)")));
                }
                l.push(Line::raw(
                    "Nobody follows them once you quit: their outcome is not recorded, and one cut off half-way may leave its work (stopping or starting the app) half done.",
                ));
                l.push(Line::raw(""));
            }
            l.push(Line::from(vec![
                Span::styled("[ Stay ]", theme.selected()),
                Span::raw("   y: quit anyway    n/Enter/Esc: stay"),
            ]));
            ("Quit?", l)
        }
    };
    if let Some(e) = &c.error {
        lines.push(Line::styled(e.clone(), theme.bad()));
    }
    let r = centered(area, 76, wrapped_height(&lines, 74) + 2);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(theme, title)),
        r,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str, width: usize) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        wrap_ranges(&chars, width)
            .into_iter()
            .map(|(a, b)| chars[a..b].iter().collect())
            .collect()
    }

    #[test]
    fn wrapping_breaks_after_spaces_and_cuts_long_words() {
        assert_eq!(rows("", 5), [""]);
        assert_eq!(rows("abc", 5), ["abc"]);
        assert_eq!(rows("abc def ghi", 7), ["abc def ", "ghi"]);
        assert_eq!(rows("abc defg hi", 7), ["abc ", "defg hi"]);
        assert_eq!(rows("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        // A space right after a full row stays on it (invisible).
        assert_eq!(rows("abcd efgh", 4), ["abcd ", "efgh"]);
        assert_eq!(fit("short", 80, ""), "short");
        let cut = fit(&"x".repeat(200), 80, "error: ");
        assert_eq!(cut.chars().count(), 73);
        assert!(cut.ends_with("(M: whole message)"), "{cut}");
    }

    #[test]
    fn words_wrap_at_spaces_and_long_words_break() {
        assert_eq!(wrap_words("", 10), [""]);
        assert_eq!(wrap_words("aaaa bbbb cccc", 10), ["aaaa bbbb", "cccc"]);
        assert_eq!(wrap_words("a  b\nc", 10), ["a b c"]);
        assert_eq!(
            wrap_words("see /very/long/path/name now", 10),
            ["see", "/very/long", "/path/name", "now"]
        );
        for row in wrap_words(&"word ".repeat(50), 7) {
            assert!(row.chars().count() <= 7, "{row:?}");
        }
    }
}
