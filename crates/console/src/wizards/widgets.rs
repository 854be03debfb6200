//! Pieces every wizard draws with: the frame (title, step header, body,
//! key hints), list rows, scrolling and a text progress bar. Text input
//! and type-to-confirm live in `input` and are re-exported here.
//!
//! Everything is drawn as text lines so that a state never depends on colour
//! alone (a checked box is `[x]`, a failure says FAILED) and so tests can
//! read the screen back from ratatui's `TestBackend`.

use std::cell::Cell;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

/// Key hints for "go back one step".
pub const BACK: (&str, &str) = ("Esc/←/b", "back");
/// Key hints for "go on to the next step".
pub const NEXT: (&str, &str) = ("Enter/→", "next");

/// What a navigation key means on a step without text input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Back,
    Next,
    Up,
    Down,
    Toggle,
    Other,
}

/// Classify a key for list and navigation steps.
pub fn nav(key: &KeyEvent) -> Nav {
    match key.code {
        KeyCode::Esc | KeyCode::Left | KeyCode::Char('b') | KeyCode::Backspace => Nav::Back,
        KeyCode::Enter | KeyCode::Right => Nav::Next,
        KeyCode::Up | KeyCode::Char('k') => Nav::Up,
        KeyCode::Down | KeyCode::Char('j') => Nav::Down,
        KeyCode::Char(' ') => Nav::Toggle,
        _ => Nav::Other,
    }
}

/// Move a list cursor within `len` entries.
pub fn step_cursor(cursor: &mut usize, len: usize, n: Nav) -> bool {
    match n {
        Nav::Up if *cursor > 0 => {
            *cursor -= 1;
            true
        }
        Nav::Down if *cursor + 1 < len => {
            *cursor += 1;
            true
        }
        _ => false,
    }
}

/// "Step 2 of 5: Choose a point", then every step's name with the
/// current one marked, so the operator sees where they are and what is left.
pub fn step_header(steps: &[&str], current: usize) -> Vec<Line<'static>> {
    let title = format!(
        "Step {} of {}: {}",
        current + 1,
        steps.len(),
        steps.get(current).copied().unwrap_or("")
    );
    let mut trail = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let text = format!("{} {}", i + 1, s);
        let span = if i == current {
            Span::styled(
                format!("[{text}]"),
                Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED),
            )
        } else if i < current {
            Span::raw(format!(" {text} ✓"))
        } else {
            Span::raw(format!(" {text} "))
        };
        trail.push(span);
        trail.push(Span::raw(" "));
    }
    vec![
        Line::from(Span::styled(
            title,
            Style::default().add_modifier(Modifier::BOLD),
        )),
        Line::from(trail),
    ]
}

/// The smallest area a wizard draws in; below it, it says so.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 12;

/// Key hint for scrolling a long body.
pub const SCROLL: (&str, &str) = ("↑/↓/PgUp/PgDn", "scroll");

/// Where a long body is scrolled to. Following (the default) keeps the
/// newest output in view; scrolling up stops following, scrolling back to
/// the end (or End/G) follows again.
#[derive(Debug, Clone, Default)]
pub struct Scroll {
    /// First row shown; None follows the end.
    top: Cell<Option<usize>>,
    /// The largest useful `top` at the last draw (the layout tells it).
    max: Cell<usize>,
    /// The step this applies to; another step starts afresh.
    step: Cell<usize>,
}

impl Scroll {
    /// Reset when the wizard moved to another step; `from_top` starts a
    /// report at its beginning instead of following its end.
    pub fn on_step(&self, step: usize, from_top: bool) {
        if self.step.get() != step {
            self.top.set(from_top.then_some(0));
            self.max.set(0);
            self.step.set(step);
        }
    }

    /// Apply a scrolling key; true when it was one.
    pub fn handle(&mut self, key: &KeyEvent) -> bool {
        let max = self.max.get();
        let cur = self.top.get().unwrap_or(max).min(max);
        let to = match key.code {
            KeyCode::Up | KeyCode::Char('k') => cur.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => cur + 1,
            KeyCode::PageUp => cur.saturating_sub(10),
            KeyCode::PageDown => cur + 10,
            KeyCode::Home | KeyCode::Char('g') => 0,
            KeyCode::End | KeyCode::Char('G') => usize::MAX,
            _ => return false,
        };
        self.top.set((to < max).then_some(to));
        true
    }

    /// Scroll just enough that rows `first..first + len` are on screen.
    fn keep_visible(&self, first: usize, len: usize, rows: usize, height: usize) {
        let max = rows.saturating_sub(height);
        let top = self.top.get().unwrap_or(max).min(max);
        let top = if first < top {
            first
        } else if first + len > top + height {
            (first + len).saturating_sub(height)
        } else {
            top
        };
        self.top.set((top < max).then_some(top));
    }

    /// The first row to show, remembering how far a scroll can go (what a
    /// frame learns from the layout; the only state a draw writes).
    fn offset(&self, rows: usize, height: usize) -> u16 {
        let max = rows.saturating_sub(height);
        self.max.set(max);
        let top = self.top.get().unwrap_or(max).min(max);
        u16::try_from(top).unwrap_or(u16::MAX)
    }
}

/// One step of a wizard, as every wizard draws it.
pub struct Page<'a> {
    pub title: String,
    pub steps: &'a [&'a str],
    pub step: usize,
    /// Show a new step from its top (else from its end, following output).
    pub from_top: bool,
    pub body: Vec<Line<'static>>,
    pub keys: Vec<(&'static str, &'static str)>,
    /// The body line that must stay in sight (a list's cursor): the scroll
    /// moves just enough to show it, however long the list.
    pub focus: Option<usize>,
}

/// Draw one step: reset the scroll when the step changed, then [`draw`] it
/// under its step header.
pub fn draw_page(frame: &mut Frame, area: Rect, scroll: &Scroll, page: Page) {
    scroll.on_step(page.step, page.from_top);
    draw(
        frame,
        area,
        &page.title,
        step_header(page.steps, page.step),
        page.body,
        &page.keys,
        scroll,
        page.focus,
    );
}

/// Draw a wizard: a bordered block titled `title`, the step header, the
/// body (wrapped, scrolled by `scroll`) and the key hints of this step on
/// the last line.
/// Body line `focus`, when given, is kept in sight.
#[allow(clippy::too_many_arguments)]
fn draw(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    header: Vec<Line<'static>>,
    body: Vec<Line<'static>>,
    keys: &[(&'static str, &'static str)],
    scroll: &Scroll,
    focus: Option<usize>,
) {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        frame.render_widget(
            Paragraph::new(format!(
                "{title}: the wizard needs at least {MIN_WIDTH}x{MIN_HEIGHT} (now {}x{}); enlarge the terminal",
                area.width, area.height
            ))
            .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {title} "));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let header_height = header.len() as u16 + 1;
    let [head, main, foot] = Layout::vertical([
        Constraint::Length(header_height),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(header).wrap(Wrap { trim: false }), head);
    let width = main.width.max(1) as usize;
    let heights: Vec<usize> = body
        .iter()
        .map(|l| wrapped_rows(&l.to_string(), width))
        .collect();
    let rows: usize = heights.iter().sum();
    if let Some(f) = focus.filter(|&f| f < heights.len()) {
        let first: usize = heights[..f].iter().sum();
        scroll.keep_visible(first, heights[f], rows, main.height as usize);
    }
    let top = scroll.offset(rows, main.height as usize);
    frame.render_widget(
        Paragraph::new(body)
            .wrap(Wrap { trim: false })
            .scroll((top, 0)),
        main,
    );
    frame.render_widget(Paragraph::new(key_line(keys)), foot);
}

/// Rows a line takes when word-wrapped at `width` the way the body is
/// drawn (greedy, words longer than a row broken), so that following the
/// end of the output really shows its last line.
fn wrapped_rows(line: &str, width: usize) -> usize {
    let width = width.max(1);
    let (mut rows, mut col) = (1, 0);
    for word in line.split_inclusive(' ') {
        let w = word.chars().count();
        let visible = word.trim_end_matches(' ').chars().count();
        if col > 0 && col + visible > width {
            rows += 1;
            col = 0;
        }
        let mut left = w;
        while col + left > width && visible > width - col {
            left -= width - col;
            rows += 1;
            col = 0;
        }
        col += left;
    }
    rows
}

/// "Enter next · Esc back" from a wizard's key list.
pub fn key_line(keys: &[(&'static str, &'static str)]) -> Line<'static> {
    let mut spans = Vec::new();
    for (i, (k, what)) in keys.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(" · "));
        }
        spans.push(Span::styled(
            k.to_string(),
            Style::default().add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::raw(format!(" {what}")));
    }
    Line::from(spans)
}

/// A plain line.
pub fn text(s: impl Into<String>) -> Line<'static> {
    Line::from(s.into())
}

/// A bold line (headings, the thing being asked).
pub fn bold(s: impl Into<String>) -> Line<'static> {
    Line::from(Span::styled(
        s.into(),
        Style::default().add_modifier(Modifier::BOLD),
    ))
}

/// A selectable row: `> ` and reverse video on the cursor row.
pub fn row(selected: bool, s: impl Into<String>) -> Line<'static> {
    let s = s.into();
    if selected {
        Line::from(Span::styled(
            format!("> {s}"),
            Style::default().add_modifier(Modifier::REVERSED),
        ))
    } else {
        Line::from(format!("  {s}"))
    }
}

/// `[#####.....]  45%` at `width` cells.
pub fn bar(done: u64, total: u64, width: usize) -> String {
    let ratio = if total == 0 {
        0.0
    } else {
        (done as f64 / total as f64).clamp(0.0, 1.0)
    };
    let filled = (ratio * width as f64).round() as usize;
    format!(
        "[{}{}] {:>3.0}%",
        "#".repeat(filled),
        ".".repeat(width - filled),
        ratio * 100.0
    )
}

/// A byte count for people.
pub fn size(n: u64) -> String {
    lifeboat_engine::units::size(n)
}

pub use lifeboat_engine::units::duration;

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn scroll_follows_until_the_operator_scrolls_up() {
        let mut s = Scroll::default();
        s.on_step(1, false);
        assert_eq!(s.offset(50, 10), 40);
        s.handle(&key(KeyCode::Up));
        assert_eq!(s.offset(60, 10), 39, "stopped following");
        s.handle(&key(KeyCode::End));
        assert_eq!(s.offset(70, 10), 60, "follows again");
        s.on_step(2, true);
        assert_eq!(s.offset(70, 10), 0, "a report starts at its top");
    }

    #[test]
    fn following_a_wrapped_body_shows_its_last_line() {
        use ratatui::backend::TestBackend;
        let mut body = Vec::new();
        // Three 30-letter words in 58 columns: 92 characters (two rows by
        // length) that word wrapping spreads over three rows.
        for i in 0..40 {
            let words: Vec<String> = (0..3).map(|j| format!("{i:02}{j}").repeat(10)).collect();
            body.push(text(words.join(" ")));
        }
        body.push(text("THE END"));
        let mut term = ratatui::Terminal::new(TestBackend::new(60, 14)).unwrap();
        let scroll = Scroll::default();
        term.draw(|f| {
            draw(
                f,
                f.area(),
                "t",
                step_header(&["a"], 0),
                body.clone(),
                &[NEXT],
                &scroll,
                None,
            )
        })
        .unwrap();
        let buf = term.backend().buffer();
        let screen: String = (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert!(screen.contains("THE END"), "{screen}");
    }

    #[test]
    fn wrapped_rows_counts_word_wrapping() {
        assert_eq!(wrapped_rows("", 10), 1);
        assert_eq!(wrapped_rows("0123456789", 10), 1);
        assert_eq!(wrapped_rows("aaaa bbbb cccc", 10), 2);
        assert_eq!(wrapped_rows("aaaaaaa bbbbbbb ccccccc", 10), 3);
        assert_eq!(wrapped_rows("x 0123456789012345678901", 10), 4);
    }

    #[test]
    fn bar_and_duration_read_well() {
        assert_eq!(bar(1, 4, 8), "[##......]  25%");
        assert_eq!(bar(5, 0, 4), "[....]   0%");
        assert_eq!(duration(3725), "1h 02m");
        assert_eq!(duration(65), "1m 05s");
        assert_eq!(duration(-3), "0s");
    }
}
