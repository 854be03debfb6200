//! Drawing: the frame (tabs, status line, footer), overlays, and one
//! module per screen. Views read [`App`] and do no I/O.
//!
//! Status is always a word ("ok", "FAILED", "critical"), with colour only
//! as a second signal, so `NO_COLOR` and monochrome terminals read the same.

mod audit;
mod catalog;
mod dashboard;
mod health;
mod joblog;
mod jobs;
mod messages;
mod storage;

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
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "terminal too small (need {MIN_WIDTH}x{MIN_HEIGHT}, have {}x{})\nenlarge the window, or press q to quit",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let [tabs, main, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
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
    render_status(app, theme, frame, status);
    render_footer(app, theme, frame, footer);
    match &app.overlay {
        Overlay::Help => render_help(app, theme, frame, main),
        Overlay::Confirm(_) => render_confirm(app, theme, frame, main),
        Overlay::Messages => messages::render(app, theme, frame, main),
        Overlay::None | Overlay::Palette(_) | Overlay::Filter | Overlay::LogSearch => {}
    }
}

fn render_tabs(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let mut spans = vec![Span::styled(" lifeboat ", theme.title())];
    for s in Screen::ALL {
        let label = format!(" {} {} ", s.index() + 1, s.title());
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

fn render_status(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let line = match &app.overlay {
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
        Overlay::Filter => {
            let f = if app.screen == Screen::Audit {
                &app.audit_filter
            } else {
                &app.catalog_filter
            };
            Line::from(vec![
                Span::styled("filter /", theme.key()),
                Span::raw(f.clone()),
                Span::styled("_", theme.dim()),
                Span::styled("  (Enter keeps it, Esc clears it)", theme.dim()),
            ])
        }
        _ => match (&app.message, &app.catalog_error) {
            (Some(m), _) => {
                let (word, style) = match m.level {
                    Level::Info => ("", Style::default()),
                    Level::Warn => ("warning: ", theme.warn()),
                    Level::Error => ("error: ", theme.bad()),
                };
                Line::from(vec![
                    Span::styled(word, style),
                    Span::raw(fit(&m.text, usize::from(area.width), word)),
                ])
            }
            (None, Some(e)) => Line::from(vec![
                Span::styled("catalog: ", theme.bad()),
                Span::raw(fit(e, usize::from(area.width), "catalog: ")),
            ]),
            (None, None) => Line::from(Span::styled(
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
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// A status line message on one row of `width` after `word`: cut, when it
/// does not fit, with where to read it whole.
fn fit(text: &str, width: usize, word: &str) -> String {
    const MORE: &str = "... (M: whole message)";
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
        Overlay::Help => return vec![("any key".into(), "close the help".into())],
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
                ("Esc/M".into(), "close".into()),
            ]
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
    base_keys(app)
}

/// The keys of the wizard or screen, whatever overlay is open (for `?`).
fn base_keys(app: &App) -> Vec<(String, String)> {
    let pairs = |bs: &mut dyn Iterator<Item = &Binding>| -> Vec<(String, String)> {
        bs.map(|b| (b.label.to_string(), b.help.to_string()))
            .collect()
    };
    if let Some(w) = app.shown_wizard() {
        let mut keys: Vec<(String, String)> = w
            .keys()
            .into_iter()
            .map(|(k, d)| (k.to_string(), d.to_string()))
            .collect();
        if !w.wants_text() {
            keys.push(("?".into(), "help".into()));
        }
        if !w.wants_text() {
            keys.push((
                "Tab/1-6".into(),
                "go to a screen (the wizard keeps working)".into(),
            ));
            if w.is_running() {
                keys.push(("Esc".into(), "put aside while it works (w returns)".into()));
            }
            keys.push(("q".into(), "quit".into()));
        }
        keys.push(("Ctrl-C".into(), "quit".into()));
        return keys;
    }
    let ctx = app.key_context();
    let mut v = pairs(&mut keymap::own_bindings(ctx).iter());
    if app.screen == Screen::Catalog && app.detail.is_some() {
        v.insert(0, ("Esc".into(), "close details".into()));
    }
    if ctx == Context::JobLog {
        v.insert(0, ("Esc".into(), "close the log".into()));
    }
    v.extend(pairs(&mut keymap::global_bindings(ctx)));
    v
}

fn render_footer(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let mut spans = Vec::new();
    let short: Vec<(String, String)> =
        if app.overlay == Overlay::None && app.shown_wizard().is_none() {
            let ctx = app.key_context();
            let close = (ctx == Context::JobLog).then(|| ("Esc".to_string(), "close".to_string()));
            close
                .into_iter()
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

fn render_help(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let keys = base_keys(app);
    let title = match app.shown_wizard() {
        Some(w) => format!("Keys: {} wizard", w.title()),
        None if app.log_view.is_some() => "Keys: job log".to_string(),
        None => format!("Keys: {}", app.screen.title()),
    };
    let mut lines: Vec<Line> = keys
        .iter()
        .map(|(k, d)| {
            Line::from(vec![
                Span::styled(format!("{k:>8}  "), theme.key()),
                Span::raw(d.clone()),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        format!(
            "palette: {} (Tab completes, ↑/↓ recall)",
            super::palette::commands_text()
        ),
        theme.dim(),
    ));
    let w = area.width.saturating_sub(4).min(100);
    let r = centered(area, w, wrapped_height(&lines, w.saturating_sub(2)) + 2);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(theme, &title)),
        r,
    );
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
}
