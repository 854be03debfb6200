//! Health screen: every check of the health report with its status word,
//! measured value, threshold and, for the selected one, the advice.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::{block, no_catalog_why, wrap_words, wrapped_height, Theme};
use crate::app::App;
use crate::{cells, fmt};
use lifeboat_engine::health::Check;

pub fn render(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let Some(report) = &app.health else {
        let text = match no_catalog_why(app) {
            Some(why) => format!("no health report without a catalog: {why}"),
            None => "evaluating health checks...".to_string(),
        };
        frame.render_widget(
            Paragraph::new(text)
                .wrap(Wrap { trim: true })
                .block(block(theme, "Health")),
            area,
        );
        return;
    };
    let view = app.health_view();
    let selected = app.selected_check();
    let advice = advice_lines(selected, theme);
    // The advice pane is as tall as the selected check's text wrapped (at
    // least 4 rows, and the list keeps 4 rows of its own).
    let advice_height = (wrapped_height(&advice, area.width.saturating_sub(2)) + 2)
        .max(6)
        .min(area.height.saturating_sub(7).max(6));
    let [list_area, advice_area] =
        Layout::vertical([Constraint::Min(5), Constraint::Length(advice_height)]).areas(area);
    let verdict = report.verdict.as_str();
    let title = format!(
        "Health: {} ({} checks, evaluated {}){}",
        verdict.to_uppercase(),
        report.checks.len(),
        report
            .evaluated_at
            .with_timezone(&chrono::Local)
            .format("%H:%M:%S"),
        super::filter_note(&app.health_filter, view.len())
    );
    let outer = block(theme, &title);
    let inner = outer.inner(list_area);
    frame.render_widget(outer, list_area);
    if view.is_empty() {
        let text = if report.checks.is_empty() {
            "the health evaluation reported no checks".to_string()
        } else {
            format!(
                "no check matches /{} (Esc clears the filter)",
                app.health_filter
            )
        };
        frame.render_widget(Paragraph::new(text), inner);
        return;
    }
    let shown: Vec<&Check> = view.iter().map(|&i| &report.checks[i as usize]).collect();
    render_table(app, &shown, theme, frame, inner);
    frame.render_widget(
        Paragraph::new(advice)
            .wrap(Wrap { trim: true })
            .block(block(theme, "Advice")),
        advice_area,
    );
}

/// The checks shown. When every one fits with its text wrapped to its
/// columns, a row is as tall as its text and nothing is cut; otherwise
/// each check keeps to one row with its cells cut (`~`), the list
/// scrolls, and the advice pane (or `i`) shows the selected one whole.
fn render_table(app: &App, shown: &[&Check], theme: Theme, frame: &mut Frame, inner: Rect) {
    let height = inner.height.saturating_sub(1) as usize;
    let len = shown.len();
    let widths = column_widths(shown.iter().copied(), inner.width);
    let [_, check_w, value_w, threshold_w] = widths;
    let wrapped = |c: &Check| {
        [
            (&c.title, check_w),
            (&c.value, value_w),
            (&c.threshold, threshold_w),
        ]
        .map(|(t, w)| wrap_words(t, usize::from(w)).join("\n"))
    };
    let lines = |cells: &[String; 3]| {
        cells
            .iter()
            .map(|t| t.lines().count().max(1))
            .max()
            .unwrap_or(1)
    };
    let cells: Vec<[String; 3]> = shown.iter().map(|c| wrapped(c)).collect();
    let tall = cells.iter().map(lines).sum::<usize>() <= height;
    // (All of them when tall: the window starts at 0.)
    let first = app.health_list.window(len, height);
    let rows = shown[first..(first + height).min(len)]
        .iter()
        .zip(&cells[first..])
        .enumerate()
        .map(|(i, (c, wrapped))| {
            let word = c.status.as_str();
            let status = Cell::from(Span::styled(word.to_uppercase(), theme.status(word)));
            let row = if tall {
                let [title, value, threshold] = wrapped.clone();
                Row::new(vec![status, title.into(), value.into(), threshold.into()])
                    .height(u16::try_from(lines(wrapped)).unwrap_or(1))
            } else {
                let [_, title, value, threshold] = cells::health_row(c);
                let cut = |t: &str, w: u16| Cell::from(fmt::clip(t, usize::from(w)));
                Row::new(vec![
                    status,
                    cut(&title, check_w),
                    cut(&value, value_w),
                    cut(&threshold, threshold_w),
                ])
            };
            if first + i == app.health_list.selected {
                row.style(theme.selected())
            } else {
                row
            }
        });
    let heights = cells[first..].iter().map(|c| {
        if tall {
            u16::try_from(lines(c)).unwrap_or(1)
        } else {
            1
        }
    });
    app.hits
        .record_rows(super::rows_area(inner), first, heights);
    let table = Table::new(rows, widths.map(Constraint::Length))
        .column_spacing(COLUMN_SPACING)
        .header(Row::new(vec!["STATUS", "CHECK", "VALUE", "THRESHOLD"]).style(theme.header()));
    frame.render_widget(table, inner);
}

const COLUMN_SPACING: u16 = 1;

/// The table's column widths in `width` cells: STATUS fits "CRITICAL",
/// CHECK the longest title (but at most a third of the row: the advice
/// pane shows the selected one whole), and VALUE and THRESHOLD share the
/// rest, each whole when both fit (VALUE takes what is left over), else
/// in proportion to their longest text.
fn column_widths<'a>(checks: impl Iterator<Item = &'a Check> + Clone, width: u16) -> [u16; 4] {
    let longest = |f: fn(&Check) -> &str, header: &str| {
        checks
            .clone()
            .map(|c| f(c).chars().count())
            .chain([header.len()])
            .max()
            .unwrap_or(0)
    };
    let width = usize::from(width);
    let status = "CRITICAL".len();
    let check = longest(|c| &c.title, "CHECK").min(width / 3);
    let rest = width.saturating_sub(status + check + 3 * usize::from(COLUMN_SPACING));
    let value = longest(|c| &c.value, "VALUE");
    let threshold = longest(|c| &c.threshold, "THRESHOLD");
    let threshold = if value + threshold <= rest {
        threshold
    } else {
        (rest * threshold / (value + threshold)).max(threshold.min(rest / 3))
    };
    let value = rest.saturating_sub(threshold);
    [status, check, value, threshold].map(|w| u16::try_from(w).unwrap_or(u16::MAX))
}

/// The selected check in full: its value, the threshold it is held to and
/// what to do (the table cuts them to its columns; here they wrap).
fn advice_lines(selected: Option<&Check>, theme: Theme) -> Vec<Line<'static>> {
    let Some(c) = selected else {
        return Vec::new();
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{}: ", c.title), theme.title()),
        Span::styled(
            c.status.as_str().to_uppercase(),
            theme.status(c.status.as_str()),
        ),
        Span::raw(format!(", {}", c.value)),
    ])];
    if !c.threshold.is_empty() {
        lines.push(Line::from(vec![
            Span::styled("threshold: ", theme.title()),
            Span::raw(c.threshold.clone()),
        ]));
    }
    lines.push(Line::raw(if c.advice.is_empty() {
        "nothing to do".to_string()
    } else {
        c.advice.clone()
    }));
    lines
}

#[cfg(test)]
mod tests {
    use super::column_widths;
    use lifeboat_engine::health::{Check, Status};

    fn check(title: &str, value: &str, threshold: &str) -> Check {
        Check {
            id: "x".into(),
            title: title.into(),
            status: Status::Ok,
            value: value.into(),
            threshold: threshold.into(),
            advice: String::new(),
        }
    }

    #[test]
    fn the_columns_fit_the_checks() {
        let checks = [
            check(
                "Recovery point objective (configuration)",
                &"v".repeat(60),
                &"t".repeat(40),
            ),
            check("Audit log", "ok", "intact"),
        ];
        // Wide: every column whole, the slack to VALUE, the row filled.
        let w = column_widths(checks.iter(), 198);
        assert_eq!(w[1], 40);
        assert_eq!(w[3], 40);
        assert!(w[2] >= 60, "{w:?}");
        assert_eq!(w.iter().sum::<u16>() + 3, 198);
        // Narrow: CHECK gives way first, then VALUE and THRESHOLD share.
        let w = column_widths(checks.iter(), 78);
        assert_eq!(w[1], 26);
        assert_eq!(w.iter().sum::<u16>() + 3, 78);
        assert!(w[2] > w[3] && w[3] >= 13, "{w:?}");
    }
}
