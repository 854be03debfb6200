//! Health screen: every check of the health report with its status word,
//! measured value, threshold and, for the selected one, the advice.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::{block, no_catalog_why, Theme};
use crate::app::App;
use crate::fmt;

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
    let [list_area, advice_area] =
        Layout::vertical([Constraint::Min(5), Constraint::Length(6)]).areas(area);
    let verdict = report.verdict.as_str();
    let title = format!(
        "Health: {} ({} checks, evaluated {})",
        verdict.to_uppercase(),
        report.checks.len(),
        report
            .evaluated_at
            .with_timezone(&chrono::Local)
            .format("%H:%M:%S")
    );
    let outer = block(theme, &title);
    let inner = outer.inner(list_area);
    frame.render_widget(outer, list_area);
    if report.checks.is_empty() {
        frame.render_widget(
            Paragraph::new("the health evaluation reported no checks"),
            inner,
        );
        return;
    }
    let height = inner.height.saturating_sub(1) as usize;
    let len = report.checks.len();
    let first = app.health_list.window(len, height);
    let rows = report.checks[first..(first + height).min(len)]
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let word = c.status.as_str();
            let row = Row::new(vec![
                Cell::from(Span::styled(word.to_uppercase(), theme.status(word))),
                Cell::from(c.title.clone()),
                Cell::from(c.value.clone()),
                Cell::from(c.threshold.clone()),
            ]);
            if first + i == app.health_list.selected {
                row.style(theme.selected())
            } else {
                row
            }
        });
    let table = Table::new(
        rows,
        [
            Constraint::Length(8),
            Constraint::Min(24),
            Constraint::Length(22),
            Constraint::Length(16),
        ],
    )
    .header(Row::new(vec!["STATUS", "CHECK", "VALUE", "THRESHOLD"]).style(theme.header()));
    frame.render_widget(table, inner);

    let selected = report.checks.get(app.health_list.selected);
    let text = match selected {
        Some(c) if !c.advice.is_empty() => vec![
            Line::from(vec![
                Span::styled(format!("{}: ", c.title), theme.title()),
                Span::raw(fmt::clip(&c.value, 200)),
            ]),
            Line::raw(c.advice.clone()),
        ],
        Some(c) => vec![Line::raw(format!("{}: nothing to do", c.title))],
        None => vec![],
    };
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .block(block(theme, "Advice")),
        advice_area,
    );
}
