//! Storage screen: space per backup type and per target, the repository
//! disk, growth over time and the projected days until the disk is full.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Gauge, Paragraph, Row, Sparkline, Table, Wrap};
use ratatui::Frame;

use super::{block, no_catalog_why, Theme};
use crate::app::App;
use crate::fmt;
use lifeboat_engine::config::HealthConfig;
use lifeboat_engine::health::StorageReport;

/// `used of total (N% used)` gauge of the repository's disk. The percent
/// is the health disk check's ([`StorageReport::disk`]), so the Dashboard,
/// the Storage screen and the Health screen agree on how full the disk is;
/// its colour changes at the check's limits (`[health]` in the config).
pub fn disk_gauge(
    s: &StorageReport,
    limits: &HealthConfig,
    theme: Theme,
) -> Option<Gauge<'static>> {
    if s.disk_total == 0 {
        return None;
    }
    let disk = s.disk();
    let percent = disk.used_percent();
    let ratio = (percent / 100.0).clamp(0.0, 1.0);
    let style = if percent >= f64::from(limits.disk_critical_percent) {
        theme.bad()
    } else if percent >= f64::from(limits.disk_warn_percent) {
        theme.warn()
    } else {
        theme.ok()
    };
    Some(
        Gauge::default()
            .ratio(ratio)
            .gauge_style(style)
            .label(format!(
                "disk {} used of {} ({percent:.0}%), {} free",
                fmt::bytes(disk.used),
                fmt::bytes(disk.total),
                fmt::bytes(disk.free)
            )),
    )
}

pub fn days_until_full_text(s: &StorageReport) -> String {
    match s.days_until_full {
        Some(d) if d > 36_500.0 => {
            "at the recent growth rate the disk is full in more than 100 years".into()
        }
        Some(d) => format!("at the recent growth rate the disk is full in {d:.0} days"),
        None => "not growing (or too little history to project when the disk fills)".into(),
    }
}

pub fn render(app: &App, theme: Theme, frame: &mut Frame, area: Rect) {
    let s = match &app.storage {
        None => {
            let text = match no_catalog_why(app) {
                Some(why) => format!("no storage report without a catalog: {why}"),
                None => "measuring storage...".to_string(),
            };
            frame.render_widget(
                Paragraph::new(text)
                    .wrap(Wrap { trim: true })
                    .block(block(theme, "Storage")),
                area,
            );
            return;
        }
        Some(Err(e)) => {
            frame.render_widget(
                Paragraph::new(format!("cannot measure storage: {e}"))
                    .wrap(Wrap { trim: true })
                    .block(block(theme, "Storage")),
                area,
            );
            return;
        }
        Some(Ok(s)) => s,
    };
    let [top, gauge_area, until, tables, chart_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(6),
        Constraint::Length(7),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("repository ", theme.title()),
            Span::raw(s.repository.display().to_string()),
        ])),
        top,
    );
    frame.render_widget(Paragraph::new(days_until_full_text(s)), until);
    match disk_gauge(s, &app.ctx.config.health, theme) {
        Some(g) => frame.render_widget(g, gauge_area),
        None => frame.render_widget(
            Paragraph::new("disk size unknown (the repository directory cannot be measured)"),
            gauge_area,
        ),
    }
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(tables);
    let type_rows = s.per_type.iter().map(|(t, n, b)| {
        Row::new(vec![
            Cell::from(t.as_str()),
            Cell::from(n.to_string()),
            Cell::from(fmt::bytes(*b)),
        ])
    });
    frame.render_widget(
        Table::new(
            type_rows,
            [
                Constraint::Length(14),
                Constraint::Length(8),
                Constraint::Min(10),
            ],
        )
        .header(Row::new(vec!["TYPE", "BACKUPS", "STORED"]).style(theme.header()))
        .block(block(theme, "Per type")),
        left,
    );
    let target_rows = s.per_target.iter().map(|(t, n, b)| {
        Row::new(vec![
            Cell::from(t.clone()),
            Cell::from(n.to_string()),
            Cell::from(fmt::bytes(*b)),
        ])
    });
    frame.render_widget(
        Table::new(
            target_rows,
            [
                Constraint::Min(16),
                Constraint::Length(8),
                Constraint::Length(11),
            ],
        )
        .header(Row::new(vec!["TARGET", "BACKUPS", "STORED"]).style(theme.header()))
        .block(block(theme, "Per target")),
        right,
    );
    let title = match (s.daily_totals.first(), s.daily_totals.last()) {
        (Some((d0, _)), Some((d1, b1))) => format!(
            "Growth: {d0} .. {d1}, now {} ({} days)",
            fmt::bytes(*b1),
            s.daily_totals.len()
        ),
        _ => "Growth: no history yet".into(),
    };
    let data: Vec<u64> = s.daily_totals.iter().map(|(_, b)| *b).collect();
    let chart_block = block(theme, &title);
    let inner = chart_block.inner(chart_area);
    frame.render_widget(chart_block, chart_area);
    // The newest days that fit, one column per day.
    let skip = data.len().saturating_sub(inner.width as usize);
    frame.render_widget(
        Sparkline::default().data(&data[skip..]).style(theme.ok()),
        inner,
    );
}
