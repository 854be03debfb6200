//! The full-screen job log (`l` or Enter on Jobs): the lines held by
//! [`LogView`], wrapped to the width, from the line the operator scrolled
//! to or, when following, ending at the newest. The renderer records what
//! it showed (the first line, how many fit, where the end begins) so that
//! the keys can scroll by screenfuls without knowing the terminal's size.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{block, highlighted, wrap_ranges, Theme};
use crate::app::App;
use crate::joblog::{folded, match_ranges, LogView, LOG_CAP};
use lifeboat_engine::catalog::JobLogLine;

/// "12:03:04 info  " before each line's message; wrapped rows are indented
/// as far.
const PREFIX: usize = 15;

/// How a line wraps: the character ranges of its message, one per row.
fn rows_of(line: &JobLogLine, width: usize) -> Vec<(usize, usize)> {
    let chars: Vec<char> = line.message.chars().collect();
    wrap_ranges(&chars, width.saturating_sub(PREFIX).max(1))
}

pub fn render(app: &App, v: &LogView, theme: Theme, frame: &mut Frame, area: Rect) {
    let job = app.jobs.iter().find(|j| j.id == v.job);
    let title = match job {
        Some(j) => format!(
            "Log of job {} ({} {}, {})",
            j.id,
            j.kind,
            j.target,
            crate::cells::state_word(j, app.now)
        ),
        None => format!("Log of job {}", v.job),
    };
    let outer = block(theme, &title);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let capped = v.dropped > 0;
    let [body, info, cap] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(u16::from(capped)),
    ])
    .areas(inner);

    let height = usize::from(body.height);
    let width = usize::from(body.width);
    let len = v.lines.len();
    // Where the end begins: the first line from which the rest fills the
    // screen (a single line taller than the screen starts at itself).
    let mut max_top = len;
    let mut rows = 0;
    while max_top > 0 {
        let r = rows_of(&v.lines[max_top - 1], width).len();
        if rows + r > height {
            break;
        }
        rows += r;
        max_top -= 1;
    }
    let max_top = max_top.min(len.saturating_sub(1));
    let top = if v.follow {
        max_top
    } else {
        v.top.min(max_top)
    };
    v.max_top.set(max_top);
    v.shown_top.set(top);

    let q = folded(&v.query);
    let hit = Style::default().add_modifier(Modifier::REVERSED);
    let current_hit = hit.add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
    let mut out: Vec<Line> = Vec::new();
    let mut whole = 0;
    for (i, line) in v.lines.iter().enumerate().skip(top) {
        if out.len() >= height {
            break;
        }
        let chars: Vec<char> = line.message.chars().collect();
        let ranges = if q.is_empty() {
            Vec::new()
        } else {
            match_ranges(&folded(&line.message), &q)
        };
        let level_hit = !q.is_empty() && !match_ranges(&folded(&line.level), &q).is_empty();
        let style = if v.current == Some(i) {
            current_hit
        } else {
            hit
        };
        let wrapped = rows_of(line, width);
        for (n, &(a, b)) in wrapped.iter().enumerate() {
            let mut spans = if n == 0 {
                let level_style = if level_hit {
                    style
                } else {
                    theme.status(&line.level)
                };
                vec![
                    Span::styled(format!("{} ", line.ts.format("%H:%M:%S")), theme.dim()),
                    Span::styled(format!("{:<5}", line.level), level_style),
                    Span::raw(" "),
                ]
            } else {
                vec![Span::raw(" ".repeat(PREFIX))]
            };
            spans.extend(highlighted(&chars[a..b], a, &ranges, style));
            out.push(Line::from(spans));
        }
        if out.len() <= height {
            whole += 1;
        }
    }
    v.page.set(whole.max(1));
    if let Some(e) = &v.error {
        out.insert(
            0,
            Line::from(vec![
                Span::styled("cannot read the log: ", theme.bad()),
                Span::raw(e.clone()),
            ]),
        );
    } else if !v.loaded {
        out.push(Line::styled("reading the log...", theme.dim()));
    } else if len == 0 {
        out.push(Line::styled("(no log lines yet)", theme.dim()));
    }
    frame.render_widget(Paragraph::new(out), body);

    let mut parts: Vec<Span> = vec![if v.follow {
        Span::styled("following", theme.key())
    } else {
        Span::styled("paused (f or G follows)", theme.warn())
    }];
    if len > 0 {
        let last = (top + whole).min(len);
        parts.push(Span::raw(format!(
            "  lines {}-{} of {}",
            group(top as u64 + 1 + v.dropped),
            group(last as u64 + v.dropped),
            group(len as u64 + v.dropped)
        )));
    }
    if !v.query.is_empty() {
        let found = match (v.matches.len(), v.match_number()) {
            (0, _) => "no match".to_string(),
            (n, Some(k)) => format!("match {k} of {n}"),
            (n, None) => format!("{n} matches"),
        };
        parts.push(Span::raw(format!("  /{}: {found}", v.query)));
    }
    frame.render_widget(Paragraph::new(Line::from(parts)), info);
    if capped {
        frame.render_widget(
            Paragraph::new(Line::styled(
                format!(
                    "newest {} lines kept; `lifeboat status {}` prints all {}",
                    group(LOG_CAP as u64),
                    v.job,
                    group(len as u64 + v.dropped)
                ),
                theme.warn(),
            )),
            cap,
        );
    }
}

/// 12345 as "12,345".
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_hits_split_spans() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(10_000), "10,000");
        assert_eq!(group(1_234_567), "1,234,567");
        let chars: Vec<char> = "abcXYdef".chars().collect();
        let spans = highlighted(&chars[2..], 2, &[(3, 5)], Style::default());
        let texts: Vec<&str> = spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(texts, ["c", "XY", "def"]);
    }
}
