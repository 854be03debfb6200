//! Storage screen: space per backup type and per target, the repository
//! disk, growth over time and the projected days until the disk is full.
//! The per-target table has the full width and wraps its labels: two
//! targets are told apart by their paths, so a label is never clipped.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span, Text};
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

/// What the per-type line starts with.
const BY_TYPE: &str = "backups per type: ";

/// `configuration 1 (4 B), filesystem 2 (12.0 KiB)`.
fn by_type_text(s: &StorageReport) -> String {
    if s.per_type.is_empty() {
        return "no usable backups yet".into();
    }
    s.per_type
        .iter()
        .map(|(t, n, b)| format!("{t} {n} ({})", fmt::bytes(*b)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A target label cut into lines of at most `width` characters, at spaces
/// where it can be: a target is shown whole (two targets often differ
/// only in their last path), never clipped.
fn wrap_label(label: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in label.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        let len = line.chars().count();
        if len > 0 && len + 1 + word.len() <= width {
            line.push(' ');
            line.extend(word.iter());
            continue;
        }
        if len > 0 {
            lines.push(std::mem::take(&mut line));
        }
        // A word longer than a line (a long path) is cut where it must be.
        while word.len() > width {
            let rest = word.split_off(width);
            lines.push(word.into_iter().collect());
            word = rest;
        }
        line = word.into_iter().collect();
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
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
    let by_type = by_type_text(s);
    // The per-type totals are one line (two when they do not fit), so the
    // per-target table gets the whole width: its labels are paths.
    let type_lines = if BY_TYPE.len() + by_type.chars().count() > area.width as usize {
        2
    } else {
        1
    };
    let [top, gauge_area, until, types_area, tables, chart_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(type_lines),
        Constraint::Min(6),
        // With offsite copies to show on a small screen, the growth chart
        // gives up rows: what is where matters more than the trend.
        Constraint::Length(if !s.targets.is_empty() && area.height < 40 {
            3
        } else {
            7
        }),
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
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(BY_TYPE, theme.title()),
            Span::raw(by_type),
        ]))
        .wrap(Wrap { trim: true }),
        types_area,
    );
    let tables = match copies_block(s, theme, tables) {
        Some((area, copies)) => {
            let [c, rest] =
                Layout::vertical([Constraint::Length(area), Constraint::Min(4)]).areas(tables);
            frame.render_widget(copies, c);
            rest
        }
        None => tables,
    };
    let targets = block(theme, "Per target");
    // TARGET gets what BACKUPS (8), STORED (11) and two gaps leave.
    let label_width = (targets.inner(tables).width as usize)
        .saturating_sub(8 + 11 + 2)
        .max(8);
    let target_rows = s.per_target.iter().map(|(t, n, b)| {
        let lines = wrap_label(t, label_width);
        let height = lines.len() as u16;
        Row::new(vec![
            Cell::from(Text::from(
                lines.into_iter().map(Line::from).collect::<Vec<_>>(),
            )),
            Cell::from(n.to_string()),
            Cell::from(fmt::bytes(*b)),
        ])
        .height(height)
    });
    frame.render_widget(
        Table::new(
            target_rows,
            [
                Constraint::Min(8),
                Constraint::Length(8),
                Constraint::Length(11),
            ],
        )
        .column_spacing(1)
        .header(Row::new(vec!["TARGET", "BACKUPS", "STORED"]).style(theme.header()))
        .block(targets),
        tables,
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

/// The offsite copies, when `[[targets]]` are configured: each target's
/// share (copies, bytes, failures, when it was last listed) and each
/// type's 3-2-1 verdict, a type below its policy in the warning colour.
/// Its height, and the block.
fn copies_block(s: &StorageReport, theme: Theme, area: Rect) -> Option<(u16, Paragraph<'static>)> {
    if s.targets.is_empty() {
        return None;
    }
    let mut lines = Vec::new();
    for t in &s.targets {
        let problems = t.failed + t.missing;
        let listed = match t.listed_at {
            Some(at) => format!(
                "listed {}",
                at.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M")
            ),
            None => "never listed (`lifeboat copies --check`)".into(),
        };
        let text = format!(
            "{} {}{}{}: {} copies, {}, {} verified, {} failed, {} missing; {listed}",
            t.name,
            t.location,
            if t.offsite { " offsite" } else { "" },
            if t.append_only { " append-only" } else { "" },
            t.copies,
            fmt::bytes(t.bytes),
            t.verified,
            t.failed,
            t.missing,
        );
        let style = if problems > 0 {
            theme.warn()
        } else {
            Style::default()
        };
        lines.push(Line::styled(text, style));
    }
    for v in &s.verdicts {
        let style = if v.newest.is_some() && !v.meets_policy {
            theme.warn()
        } else if v.meets_3_2_1 {
            theme.ok()
        } else {
            Style::default()
        };
        lines.push(Line::styled(
            format!("{}: {}", v.backup_type, v.verdict),
            style,
        ));
    }
    // Wrapped lines may take more rows; the per-target table keeps five.
    let width = area.width.saturating_sub(2).max(1) as usize;
    let rows: usize = lines.iter().map(|l| l.width().div_ceil(width).max(1)).sum();
    let height = ((rows + 2) as u16)
        .min(area.height.saturating_sub(5))
        .max(3);
    Some((
        height,
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(block(theme, "Offsite copies")),
    ))
}

#[cfg(test)]
mod tests {
    use super::wrap_label;

    #[test]
    fn a_label_wraps_at_spaces_and_cuts_only_what_is_too_long() {
        assert_eq!(wrap_label("filesystem /a, /b", 40), ["filesystem /a, /b"]);
        assert_eq!(
            wrap_label("filesystem /srv/uploads, /srv/logs", 24),
            ["filesystem /srv/uploads,", "/srv/logs"]
        );
        // Nothing is lost: every line fits, and the text is all there.
        let lines = wrap_label("filesystem /a/very/long/path", 8);
        assert_eq!(lines, ["filesyst", "em", "/a/very/", "long/pat", "h"]);
        assert_eq!(wrap_label("", 5), [""]);
    }
}
