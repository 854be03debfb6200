//! A backup type's recent attempts as pictures one row high: sizes (and
//! durations) as a sparkline, outcomes as a strip with one mark per
//! attempt. The Dashboard draws one row per type ([`render_rows`]); the
//! Catalog's detail pane draws the type of the selected backup with its
//! place marked ([`render_detail`]).
//!
//! Every outcome has its own mark, so the strip reads without colour
//! (`NO_COLOR`); colour only repeats what the mark says.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline, SparklineBar};
use ratatui::Frame;

use super::Theme;
use crate::app::App;
use crate::data::{Trend, TREND_LEN};
use crate::fmt;
use lifeboat_engine::catalog::{TrendOutcome, TrendPoint};

/// The mark of one attempt in the strip.
pub fn mark(o: TrendOutcome) -> &'static str {
    match o {
        TrendOutcome::Ok => "▪",
        TrendOutcome::Warnings => "!",
        TrendOutcome::Failed | TrendOutcome::VerifyFailed => "✗",
        TrendOutcome::Cancelled => "-",
        TrendOutcome::Running => "~",
    }
}

fn mark_style(o: TrendOutcome, theme: Theme) -> Style {
    match o {
        TrendOutcome::Ok => theme.ok(),
        TrendOutcome::Warnings | TrendOutcome::Running => theme.warn(),
        TrendOutcome::Failed | TrendOutcome::VerifyFailed => theme.bad(),
        TrendOutcome::Cancelled => theme.dim(),
    }
}

/// What the marks mean, in the strip's header.
pub const LEGEND: &str = "▪ok ✗failed !warn";
/// The same where the strip is narrow.
pub const SHORT_LEGEND: &str = "▪ok ✗failed";

/// The outcome strip: one mark per attempt, oldest on the left.
pub fn strip(points: &[TrendPoint], theme: Theme) -> Line<'static> {
    Line::from(
        points
            .iter()
            .map(|p| Span::styled(mark(p.outcome), mark_style(p.outcome, theme)))
            .collect::<Vec<_>>(),
    )
}

/// Bars for a sparkline drawn with `.max(8)`: every known value at least
/// one eighth high (a small incremental next to a full backup still
/// shows), the largest full; an unknown value (no artifact, not finished)
/// is a gap.
fn bars(values: impl Iterator<Item = Option<f64>> + Clone) -> Vec<SparklineBar> {
    let max = values.clone().flatten().fold(0.0_f64, f64::max);
    values
        .map(|v| {
            SparklineBar::from(v.map(|v| {
                if max <= 0.0 {
                    1
                } else {
                    ((v / max * 8.0).ceil() as u64).clamp(1, 8)
                }
            }))
        })
        .collect()
}

/// Sizes as a sparkline, oldest on the left (in the terminal's own
/// colour: a bar's height is the news, not its colour).
pub fn size_sparkline(points: &[TrendPoint]) -> Sparkline<'static> {
    Sparkline::default()
        .data(bars(points.iter().map(|p| p.size.map(|s| s as f64))))
        .max(8)
}

/// Durations as a sparkline, oldest on the left.
pub fn duration_sparkline(points: &[TrendPoint]) -> Sparkline<'static> {
    Sparkline::default()
        .data(bars(points.iter().map(|p| p.seconds)))
        .max(8)
}

/// The attempts in words: `28/30 ok, 2 failed` (failures named first
/// when they are the news).
pub fn summary(points: &[TrendPoint]) -> String {
    let good = points.iter().filter(|p| p.outcome.is_good()).count();
    let failed = points.iter().filter(|p| p.outcome.is_failure()).count();
    let mut s = format!("{good}/{} ok", points.len());
    if failed > 0 {
        s.push_str(&format!(", {failed} failed"));
    }
    s
}

/// The newest attempt that produced a backup, in words: `1.2 GiB in 3m 2s`.
pub fn latest(points: &[TrendPoint]) -> Option<String> {
    let p = points.iter().rev().find(|p| p.size.is_some())?;
    Some(match p.seconds {
        Some(s) => format!("{} in {}", fmt::bytes(p.size?), fmt::duration(s)),
        None => fmt::bytes(p.size?),
    })
}

/// The row's words in `width` columns: the summary always, then the
/// newest backup's size and duration, or its size alone, as room allows.
pub fn words(points: &[TrendPoint], width: usize) -> String {
    let summary = summary(points);
    let newest = points.iter().rev().find_map(|p| p.size);
    [
        latest(points).map(|l| format!("{summary}; latest {l}")),
        newest.map(|s| format!("{summary}; latest {}", fmt::short_bytes(s))),
    ]
    .into_iter()
    .flatten()
    .find(|w| w.chars().count() <= width)
    .unwrap_or_else(|| fmt::clip(&summary, width))
}

/// Width of the type names' column.
const LABEL: u16 = 14;
/// Room the trends leave for their words ("28/30 ok, 2 failed").
const WORDS: u16 = 22;

/// The recent attempts of each type, one row per type, oldest on the
/// left: sizes as a sparkline, outcomes as a strip of marks, durations as
/// a second sparkline when the terminal is wide enough for all three at
/// full length, then the same in words. Narrower terminals show fewer
/// attempts (at least 8).
pub fn render_rows(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let full = TREND_LEN as u16;
    let with_duration = area.width >= LABEL + 3 * (full + 2) + 2 * WORDS;
    let pictures = if with_duration { 3 } else { 2 };
    let n =
        ((area.width.saturating_sub(LABEL + WORDS) / pictures).saturating_sub(2)).clamp(8, full);
    let mut columns = vec![
        Constraint::Length(LABEL),
        Constraint::Length(n + 2),
        Constraint::Length(n + 2),
    ];
    if with_duration {
        columns.push(Constraint::Length(n + 2));
    }
    columns.push(Constraint::Min(1));
    let rows = Layout::vertical(vec![Constraint::Length(1); usize::from(area.height)]).split(area);
    let cells = |row: Rect| Layout::horizontal(columns.clone()).split(row);
    // A picture leaves two columns of space before the next one.
    let picture = |r: Rect| Rect {
        width: r.width.saturating_sub(2),
        ..r
    };

    // The header when there is a row for it: without it, the rows' words
    // still say what the marks mean.
    let header = usize::from(area.height) > app.trends.len();
    if header {
        let c = cells(rows[0]);
        let head = |texts: &[String], at: Rect, frame: &mut Frame| {
            let at = picture(at);
            let fits = texts
                .iter()
                .find(|t| t.chars().count() <= usize::from(at.width))
                .cloned()
                .unwrap_or_default();
            frame.render_widget(Paragraph::new(fits).style(theme.header()), at)
        };
        head(&["TREND".into()], c[0], frame);
        head(&["SIZE".into()], c[1], frame);
        head(
            &[
                format!("OUTCOME {}", LEGEND),
                format!("OUTCOME {}", SHORT_LEGEND),
                "OUTCOME".into(),
            ],
            c[2],
            frame,
        );
        if with_duration {
            head(&["DURATION".into()], c[3], frame);
        }
        head(
            &[format!("LAST {n}, OLDEST LEFT"), format!("LAST {n}")],
            c[c.len() - 1],
            frame,
        );
    }

    let configured = app.ctx.config.configured_types();
    let body = &rows[usize::from(header)..];
    for (t, &row) in app.trends.iter().zip(body) {
        let c = cells(row);
        let points = &t.points[t.points.len().saturating_sub(usize::from(n))..];
        frame.render_widget(Paragraph::new(t.backup_type.as_str()), c[0]);
        if points.is_empty() {
            let why = if configured.contains(&t.backup_type) {
                "no backups yet"
            } else {
                "not configured"
            };
            frame.render_widget(Paragraph::new(why).style(theme.dim()), c[1]);
            continue;
        }
        frame.render_widget(size_sparkline(points), picture(c[1]));
        frame.render_widget(Paragraph::new(strip(points, theme)), picture(c[2]));
        if with_duration {
            frame.render_widget(duration_sparkline(points), picture(c[3]));
        }
        let words_at = c[c.len() - 1];
        let failed = points.iter().any(|p| p.outcome.is_failure());
        frame.render_widget(
            Paragraph::new(words(points, usize::from(words_at.width))).style(if failed {
                theme.bad()
            } else {
                Style::default()
            }),
            words_at,
        );
    }
}

/// Rows the detail pane's trend takes: sizes, outcomes, the marker.
pub const DETAIL_ROWS: u16 = 3;

/// The selected backup among the attempts of its type around it: sizes,
/// outcomes, and a `^` under its own column.
pub fn render_detail(t: &Trend, at: Option<usize>, theme: Theme, frame: &mut Frame, area: Rect) {
    let [key, pictures] =
        Layout::horizontal([Constraint::Length(15), Constraint::Min(1)]).areas(area);
    // As many as fit, kept around the selected one.
    let room = usize::from(pictures.width.saturating_sub(2)).max(1);
    let len = t.points.len();
    let first = match at {
        Some(i) if len > room => i.saturating_sub(room / 2).min(len - room),
        _ => len.saturating_sub(room),
    };
    let points = &t.points[first..(first + room).min(len)];
    let [size, outcome, marker] =
        Layout::vertical([Constraint::Length(1); DETAIL_ROWS as usize]).areas(pictures);
    frame.render_widget(
        Paragraph::new(vec![
            Line::styled("size trend", theme.title()),
            Line::styled("outcomes", theme.title()),
        ]),
        key,
    );
    frame.render_widget(size_sparkline(points), size);
    frame.render_widget(Paragraph::new(strip(points, theme)), outcome);
    let words = match at {
        Some(i) => {
            let col = i - first;
            let say = format!("this backup ({} of {}, oldest left)", col + 1, points.len());
            let len = say.chars().count();
            // The words go right of the mark, or left of it when only
            // that side has room.
            if col + 2 + len > usize::from(marker.width) && col > len {
                format!("{}{say} ^", " ".repeat(col - len - 1))
            } else {
                format!("{}^ {say}", " ".repeat(col))
            }
        }
        None => format!(
            "a safety copy: not one of the {} backups above (oldest left)",
            t.backup_type
        ),
    };
    frame.render_widget(Paragraph::new(words).style(theme.title()), marker);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn point(outcome: TrendOutcome, size: Option<u64>) -> TrendPoint {
        TrendPoint {
            backup_id: Some("b".into()),
            job_id: None,
            at: Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap(),
            outcome,
            size,
            seconds: size.map(|_| 65.0),
            incremental: false,
        }
    }

    #[test]
    fn small_values_still_show_and_unknown_ones_are_gaps() {
        let b = bars([Some(1000.0), Some(1.0), None, Some(500.0)].into_iter());
        assert_eq!(
            b,
            [
                SparklineBar::from(8),
                SparklineBar::from(1),
                SparklineBar::from(None),
                SparklineBar::from(4),
            ]
        );
        // All zero: every known one the smallest bar, not a division by 0.
        let b = bars([Some(0.0), Some(0.0)].into_iter());
        assert_eq!(b, [SparklineBar::from(1), SparklineBar::from(1)]);
    }

    #[test]
    fn the_strip_and_the_words_agree_without_colour() {
        let theme = Theme { color: false };
        let points = [
            point(TrendOutcome::Ok, Some(10)),
            point(TrendOutcome::Failed, None),
            point(TrendOutcome::Warnings, Some(20)),
            point(TrendOutcome::VerifyFailed, Some(20)),
            point(TrendOutcome::Running, None),
        ];
        let text: String = strip(&points, theme)
            .spans
            .iter()
            .map(|s| s.content.as_ref())
            .collect();
        assert_eq!(text, "▪✗!✗~");
        // Without colour, no colour (bold may stay).
        assert!(strip(&points, theme)
            .spans
            .iter()
            .all(|s| s.style.fg.is_none() && s.style.bg.is_none()));
        assert_eq!(summary(&points), "2/5 ok, 2 failed");
        assert_eq!(latest(&points).as_deref(), Some("20 B in 1m 05s"));
        assert_eq!(latest(&points[1..2]), None);
        // The words give way to the width, the summary last.
        assert_eq!(
            words(&points, 80),
            "2/5 ok, 2 failed; latest 20 B in 1m 05s"
        );
        assert_eq!(words(&points, 30), "2/5 ok, 2 failed; latest 20B");
        assert_eq!(words(&points, 20), "2/5 ok, 2 failed");
        assert_eq!(words(&points, 10), "2/5 ok, 2~");
    }
}
