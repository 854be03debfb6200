//! Drawing: the frame (tabs, status line, footer), overlays, and one
//! module per screen. Views read [`App`] and do no I/O.
//!
//! Status is always a word ("ok", "FAILED", "critical"), with colour only
//! as a second signal, so `NO_COLOR` and monochrome terminals read the same.

mod audit;
mod catalog;
mod dashboard;
mod health;
mod jobs;
mod storage;
mod trend;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::app::{App, ConfirmKind, Level, Overlay, Screen};
use super::keymap::{self, Binding};

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
        Overlay::None | Overlay::Palette(_) | Overlay::Filter => {}
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
        Overlay::Palette(text) => Line::from(vec![
            Span::styled(":", theme.key()),
            Span::raw(text.clone()),
            Span::styled("_", theme.dim()),
        ]),
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
                    Span::raw(m.text.replace('\n', " ")),
                ])
            }
            (None, Some(e)) => Line::from(vec![
                Span::styled("catalog: ", theme.bad()),
                Span::raw(e.replace('\n', " ")),
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

/// The keys that apply now: (label, what it does).
pub fn current_keys(app: &App) -> Vec<(String, String)> {
    match &app.overlay {
        Overlay::Help => return vec![("any key".into(), "close the help".into())],
        Overlay::Palette(_) => {
            return vec![
                ("Enter".into(), "run".into()),
                ("Esc".into(), "cancel".into()),
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
    let mut v = pairs(&mut keymap::screen_bindings(app.screen).iter());
    if app.screen == Screen::Catalog && app.detail.is_some() {
        v.insert(0, ("Esc".into(), "close details".into()));
    }
    v.extend(pairs(&mut keymap::GLOBAL.iter()));
    v
}

fn render_footer(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let mut spans = Vec::new();
    let short: Vec<(String, String)> =
        if app.overlay == Overlay::None && app.shown_wizard().is_none() {
            keymap::screen_bindings(app.screen)
                .iter()
                .chain(keymap::GLOBAL.iter())
                .filter(|b| b.footer)
                .map(|b| (b.label.to_string(), short_help(b)))
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
        format!("palette: {}", super::input::COMMANDS),
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
