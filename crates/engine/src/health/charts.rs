//! The HTML report's pictures: per backup type, one inline SVG with the
//! size of each recent attempt (a line with a dot per backup), its
//! duration (a bar per attempt that ended) and its outcome (a strip with
//! a mark per attempt).
//!
//! Hand-written SVG on purpose: no scripts, no external assets, no chart
//! library, so the report draws the same from a mail attachment or an
//! air-gapped disk. The three panels share one column per attempt,
//! oldest on the left, so an attempt's size, duration and outcome sit
//! above each other; each column's `<title>` (a tooltip) names the
//! attempt. Every outcome has its own mark as well as its colour, so the
//! strip reads in grey print too. All text goes through [`escape`].

use std::fmt::Write;

use crate::catalog::{TrendOutcome, TrendPoint};

/// Text made safe for HTML and SVG content and attribute values.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

const WIDTH: f64 = 720.0;
/// Left margin: the y axis labels.
const LEFT: f64 = 90.0;
const RIGHT: f64 = 20.0;
/// Height of the size and duration panels (title, plot, x labels).
const PANEL: f64 = 170.0;
const PLOT_TOP: f64 = 26.0;
const PLOT_BOTTOM: f64 = 140.0;
/// Height of the outcome strip's panel (title, marks, legend).
const STRIP: f64 = 80.0;

fn colour(o: TrendOutcome) -> &'static str {
    match o {
        TrendOutcome::Ok => "#2a7d2a",
        TrendOutcome::Warnings | TrendOutcome::Running => "#b07800",
        TrendOutcome::Failed | TrendOutcome::VerifyFailed => "#c00000",
        TrendOutcome::Cancelled => "#888888",
    }
}

/// The mark of an outcome (as the console's strip draws it).
fn mark(o: TrendOutcome) -> &'static str {
    match o {
        TrendOutcome::Ok => "▪",
        TrendOutcome::Warnings => "!",
        TrendOutcome::Failed | TrendOutcome::VerifyFailed => "✗",
        TrendOutcome::Cancelled => "-",
        TrendOutcome::Running => "~",
    }
}

/// `0.04s`, `7.2s`, `3m 12s`: short backups keep their decimals.
fn seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{s:.2}s")
    } else if s < 10.0 {
        format!("{s:.1}s")
    } else {
        crate::units::duration(s.round() as i64)
    }
}

fn when(p: &TrendPoint) -> String {
    p.at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// What an attempt's tooltip says.
fn describe(p: &TrendPoint) -> String {
    let mut s = format!("{}: {}", when(p), p.outcome.as_str());
    match (&p.backup_id, p.job_id) {
        (Some(id), _) => {
            let _ = write!(s, ", backup {id}");
        }
        (None, Some(job)) => {
            let _ = write!(s, ", job {job} (no backup was written)");
        }
        (None, None) => {}
    }
    if let Some(size) = p.size {
        let _ = write!(s, ", {}", super::checks::bytes(size));
    }
    if let Some(secs) = p.seconds {
        let _ = write!(s, ", took {}", seconds(secs));
    }
    s
}

/// Where panel values go: one column per attempt, values scaled to the
/// largest one.
struct Columns {
    columns: usize,
}

impl Columns {
    fn column_width(&self) -> f64 {
        (WIDTH - LEFT - RIGHT) / self.columns.max(1) as f64
    }
    fn x(&self, i: usize) -> f64 {
        LEFT + (i as f64 + 0.5) * self.column_width()
    }
    /// The y of `v` in a panel starting at `top`, 0 on the axis.
    fn y(top: f64, v: f64, max: f64) -> f64 {
        let share = if max > 0.0 { v / max } else { 0.0 };
        top + PLOT_BOTTOM - share * (PLOT_BOTTOM - PLOT_TOP)
    }
}

/// A panel's title, axes, y labels (0 and the largest value) and x
/// labels (the first and the last attempt's time).
fn axes(o: &mut String, top: f64, title: &str, max_label: &str, points: &[TrendPoint]) {
    let bottom = top + PLOT_BOTTOM;
    let _ = write!(
        o,
        "<text x=\"{LEFT}\" y=\"{:.1}\" font-weight=\"bold\">{}</text>\
         <line x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{LEFT}\" y2=\"{bottom:.1}\" {AXIS}/>\
         <line x1=\"{LEFT}\" y1=\"{bottom:.1}\" x2=\"{:.1}\" y2=\"{bottom:.1}\" {AXIS}/>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">0</text>",
        top + 16.0,
        escape(title),
        top + PLOT_TOP,
        WIDTH - RIGHT,
        LEFT - 6.0,
        top + PLOT_TOP + 4.0,
        escape(max_label),
        LEFT - 6.0,
        bottom + 4.0,
    );
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let _ = write!(
            o,
            "<text x=\"{LEFT}\" y=\"{:.1}\">{}</text>",
            bottom + 18.0,
            escape(&when(first))
        );
        if points.len() > 1 {
            let _ = write!(
                o,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                WIDTH - RIGHT,
                bottom + 18.0,
                escape(&when(last))
            );
        }
    }
}

/// Sizes: a line through the backups that produced an artifact, a dot
/// (`class="point"`) on each.
fn size_panel(o: &mut String, f: &Columns, points: &[TrendPoint]) {
    let max = points.iter().filter_map(|p| p.size).max().unwrap_or(0);
    let _ = write!(o, "<g class=\"size\">");
    axes(o, 0.0, "Backup size", &super::checks::bytes(max), points);
    let sized: Vec<(usize, &TrendPoint, u64)> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((i, p, p.size?)))
        .collect();
    if sized.len() > 1 {
        let line: Vec<String> = sized
            .iter()
            .map(|(i, _, s)| {
                format!(
                    "{:.1},{:.1}",
                    f.x(*i),
                    Columns::y(0.0, *s as f64, max as f64)
                )
            })
            .collect();
        let _ = write!(
            o,
            "<polyline class=\"line\" fill=\"none\" stroke=\"#4a6fa5\" stroke-width=\"1.5\" points=\"{}\"/>",
            line.join(" ")
        );
    }
    for (i, p, s) in &sized {
        let _ = write!(
            o,
            "<circle class=\"point\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{}\"><title>{}</title></circle>",
            f.x(*i),
            Columns::y(0.0, *s as f64, max as f64),
            colour(p.outcome),
            escape(&describe(p))
        );
    }
    let _ = write!(o, "</g>");
}

/// Durations: a bar (`class="bar"`) per attempt that ended, coloured by
/// its outcome (a failure's bar says how long it took to fail).
fn duration_panel(o: &mut String, f: &Columns, points: &[TrendPoint]) {
    let max = points
        .iter()
        .filter_map(|p| p.seconds)
        .fold(0.0_f64, f64::max);
    let _ = write!(
        o,
        "<g class=\"duration\" transform=\"translate(0,{PANEL})\">"
    );
    axes(o, 0.0, "Duration", &seconds(max), points);
    let w = (f.column_width() * 0.7).max(1.0);
    for (i, p) in points.iter().enumerate() {
        let Some(secs) = p.seconds else { continue };
        let y = Columns::y(0.0, secs, max).min(PLOT_BOTTOM - 1.0);
        let _ = write!(
            o,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}</title></rect>",
            f.x(i) - w / 2.0,
            PLOT_BOTTOM - y,
            colour(p.outcome),
            escape(&describe(p))
        );
    }
    let _ = write!(o, "</g>");
}

/// Outcomes: a mark (`class="mark"`) per attempt, and the legend.
fn outcome_panel(o: &mut String, f: &Columns, points: &[TrendPoint]) {
    let top = 2.0 * PANEL;
    let good = points.iter().filter(|p| p.outcome.is_good()).count();
    let failed = points.iter().filter(|p| p.outcome.is_failure()).count();
    let _ = write!(
        o,
        "<g class=\"outcome\" transform=\"translate(0,{top})\">\
         <text x=\"{LEFT}\" y=\"16\" font-weight=\"bold\">Outcome: {good} of {} ok, {failed} failed</text>",
        points.len()
    );
    for (i, p) in points.iter().enumerate() {
        let _ = write!(
            o,
            "<text class=\"mark\" x=\"{:.1}\" y=\"46\" text-anchor=\"middle\" font-size=\"18\" fill=\"{}\">{}<title>{}</title></text>",
            f.x(i),
            colour(p.outcome),
            mark(p.outcome),
            escape(&describe(p))
        );
    }
    let legend = [
        TrendOutcome::Ok,
        TrendOutcome::Warnings,
        TrendOutcome::Failed,
        TrendOutcome::Cancelled,
        TrendOutcome::Running,
    ]
    .map(|o| format!("{} {}", mark(o), o.as_str()))
    .join("   ");
    let _ = write!(
        o,
        "<text x=\"{LEFT}\" y=\"70\">{}</text></g>",
        escape(&legend)
    );
}

/// One type's three panels as a standalone `<svg>` element.
pub fn type_chart(backup_type: &str, points: &[TrendPoint]) -> String {
    let f = Columns {
        columns: points.len(),
    };
    let height = 2.0 * PANEL + STRIP;
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"trend\" data-type=\"{}\" \
         width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" \
         font-family=\"sans-serif\" font-size=\"12\" \
         aria-label=\"{}\"><title>{}</title>",
        escape(backup_type),
        escape(&format!(
            "{backup_type} backups: size, duration and outcome"
        )),
        escape(&format!(
            "The last {} {backup_type} backup attempts, oldest on the left",
            points.len()
        )),
    );
    size_panel(&mut o, &f, points);
    duration_panel(&mut o, &f, points);
    outcome_panel(&mut o, &f, points);
    o.push_str("</svg>");
    o
}

/// Where the charts sit on the page, for its `<style>` (what they look
/// like is in their own attributes: an `<svg>` copied out of the page
/// still draws the same).
pub const STYLE: &str = "svg.trend{display:block;margin:0.5em 0 1.5em}";

const AXIS: &str = "stroke=\"#555\" stroke-width=\"1\"";

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::*;

    fn point(i: i64, outcome: TrendOutcome, size: Option<u64>, secs: Option<f64>) -> TrendPoint {
        TrendPoint {
            backup_id: size.map(|_| format!("fs-{i}<&>")),
            job_id: Some(i),
            at: Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap() + Duration::hours(i),
            outcome,
            size,
            seconds: secs,
            incremental: false,
        }
    }

    /// Every tag inside the svg is closed in order.
    fn balanced(svg: &str) -> bool {
        let mut stack: Vec<&str> = Vec::new();
        let mut rest = svg;
        while let Some(i) = rest.find('<') {
            let Some(j) = rest[i..].find('>') else {
                return false;
            };
            let tag = &rest[i + 1..i + j];
            rest = &rest[i + j + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                if stack.pop() != Some(name) {
                    return false;
                }
            } else if !tag.ends_with('/') {
                stack.push(tag.split_whitespace().next().unwrap_or(""));
            }
        }
        stack.is_empty()
    }

    #[test]
    fn one_column_per_attempt_and_every_text_escaped() {
        let points = [
            point(0, TrendOutcome::Ok, Some(1000), Some(60.0)),
            point(1, TrendOutcome::Failed, None, Some(5.0)),
            point(2, TrendOutcome::Warnings, Some(2000), Some(70.0)),
            point(3, TrendOutcome::Running, None, None),
        ];
        let svg = type_chart("file<system>", &points);
        assert!(balanced(&svg), "{svg}");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert_eq!(svg.matches("class=\"point\"").count(), 2, "{svg}");
        assert_eq!(svg.matches("class=\"bar\"").count(), 3, "{svg}");
        assert_eq!(svg.matches("class=\"mark\"").count(), 4, "{svg}");
        assert!(svg.contains(">✗<title>"), "a failure has its mark: {svg}");
        assert!(svg.contains("Outcome: 2 of 4 ok, 1 failed"), "{svg}");
        assert!(!svg.contains("file<system>") && svg.contains("file&lt;system&gt;"));
        assert!(!svg.contains("fs-0<&>") && svg.contains("fs-0&lt;&amp;&gt;"));
        // A bar's height is its share of the longest.
        assert!(
            svg.contains("height=\"114.0\""),
            "the 70s bar is full: {svg}"
        );
        assert!(svg.contains("job 1 (no backup was written)"), "{svg}");
    }

    #[test]
    fn a_single_attempt_draws_without_a_line_or_a_division_by_zero() {
        let svg = type_chart(
            "configuration",
            &[point(0, TrendOutcome::Ok, Some(0), Some(0.0))],
        );
        assert!(balanced(&svg), "{svg}");
        assert!(!svg.contains("polyline") && !svg.contains("NaN"), "{svg}");
        assert_eq!(svg.matches("class=\"point\"").count(), 1);
    }
}
