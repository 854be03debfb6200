//! The texts of a list's rows (Jobs, Health, Audit, Catalog), as their
//! tables draw them.
//!
//! One place for them because three things read them: the table draws
//! them (cut to its columns), `/` searches them, and `i` shows the
//! selected row with every field whole. What the operator reads, what the
//! filter finds and what the popup shows cannot disagree. (The Catalog's
//! TYPE and STATUS words live in [`crate::data`]: they go into each row's
//! search string once at load time, 100,000 rows being too many to format
//! per keystroke.)

use chrono::{DateTime, Utc};

use crate::data::{self, BackupRow};
use crate::fmt;
use lifeboat_engine::catalog::{AuditRecord, JobRecord, JobState};
use lifeboat_engine::health::Check;

/// A field of a row and its whole text, for the row popup.
pub type Field = (&'static str, String);

/// The width the Jobs table gives PROGRESS.
pub const JOB_PROGRESS_WIDTH: usize = 18;

/// `[#####.....]  45%` in at most `width` cells (the bar shrinks to fit
/// the brackets, a space and `100%`; below 8 cells only the percentage),
/// or the items/bytes done.
pub fn progress_text(j: &JobRecord, width: usize) -> String {
    /// `[`, `]`, the space and the widest percentage, `100%`.
    const AROUND_BAR: usize = 7;
    match j.shown_ratio() {
        Some(r) => {
            let r = r.clamp(0.0, 1.0);
            let percent = format!("{:>3.0}%", r * 100.0);
            let bar = width.saturating_sub(AROUND_BAR);
            if bar == 0 {
                return percent;
            }
            let filled = ((r * bar as f64).round() as usize).min(bar);
            format!(
                "[{}{}] {percent}",
                "#".repeat(filled),
                ".".repeat(bar - filled),
            )
        }
        None if j.bytes_done > 0 => fmt::bytes(j.bytes_done),
        None if j.items_done > 0 => format!("{} items", j.items_done),
        None => String::new(),
    }
}

/// Throughput and ETA of an active job, or the duration of a finished one.
pub fn timing_text(j: &JobRecord, now: DateTime<Utc>) -> String {
    if let Some(silent) = j.silent_for(now) {
        // Its rate and ETA would keep moving for a job that is dead.
        let secs = silent.num_milliseconds() as f64 / 1000.0;
        format!("no heartbeat for {}", fmt::duration(secs))
    } else if j.is_active() {
        let rate = j.throughput(now).map(fmt::rate).unwrap_or_default();
        let eta = j
            .eta_seconds(now)
            .map(|s| format!(" ETA {}", fmt::duration(s)))
            .unwrap_or_default();
        format!("{rate}{eta}")
    } else {
        j.duration_seconds()
            .map(|s| format!("took {}", fmt::duration(s)))
            .unwrap_or_default()
    }
}

/// A job's state as one word: `silent` for one whose heartbeat stopped,
/// `cancelling`, `warnings`, else the catalog's state.
pub fn state_word(j: &JobRecord, now: DateTime<Utc>) -> String {
    if j.silent_for(now).is_some() {
        "silent".into()
    } else if j.cancel_requested && j.is_active() {
        "cancelling".into()
    } else if j.state == JobState::SucceededWithWarnings {
        "warnings".into()
    } else {
        j.state.to_string()
    }
}

/// The Jobs table's cells, whole: JOB, KIND, TARGET, STATE, PROGRESS
/// (the creation time once the job is over) and RATE/TIME.
pub fn job_row(j: &JobRecord, now: DateTime<Utc>) -> [String; 6] {
    [
        j.id.to_string(),
        j.kind.to_string(),
        j.target.clone(),
        state_word(j, now),
        if j.is_active() {
            progress_text(j, JOB_PROGRESS_WIDTH)
        } else {
            j.created_at.format("%m-%d %H:%M").to_string()
        },
        timing_text(j, now),
    ]
}

fn local_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Every field of a job, whole (what its row cuts, and what it has no
/// column for).
pub fn job_fields(j: &JobRecord, now: DateTime<Utc>) -> Vec<Field> {
    let mut f = vec![
        ("job", j.id.to_string()),
        ("kind", j.kind.to_string()),
        ("target", j.target.clone()),
        ("state", state_word(j, now)),
    ];
    if let Some(p) = &j.phase {
        f.push(("phase", p.clone()));
    }
    if j.is_active() {
        f.push(("progress", progress_text(j, 40)));
    }
    f.push(("created", local_time(j.created_at)));
    if let Some(t) = j.started_at {
        f.push(("started", local_time(t)));
    }
    if let Some(t) = j.finished_at {
        f.push(("finished", local_time(t)));
    }
    let timing = timing_text(j, now);
    if !timing.is_empty() {
        f.push(("rate/time", timing));
    }
    f.push(("host, pid", format!("{} {}", j.host, j.pid)));
    if let Some(p) = j.parent_job {
        f.push(("started by", format!("job {p}")));
    }
    if let Some(r) = &j.resource {
        f.push(("resource", r.clone()));
    }
    if let Some(e) = &j.error {
        f.push(("error", e.clone()));
    }
    f
}

/// The Health table's cells, whole: STATUS, CHECK, VALUE, THRESHOLD.
pub fn health_row(c: &Check) -> [String; 4] {
    [
        c.status.as_str().to_uppercase(),
        c.title.clone(),
        c.value.clone(),
        c.threshold.clone(),
    ]
}

/// Every field of a health check, with its advice.
pub fn health_fields(c: &Check) -> Vec<Field> {
    vec![
        ("status", c.status.as_str().to_uppercase()),
        ("check", c.title.clone()),
        ("value", c.value.clone()),
        ("threshold", c.threshold.clone()),
        (
            "advice",
            if c.advice.is_empty() {
                "nothing to do".into()
            } else {
                c.advice.clone()
            },
        ),
        ("id", c.id.clone()),
    ]
}

/// The Audit table's cells, whole: SEQ, TIME, ACTOR, ACTION, TARGET,
/// OUTCOME.
pub fn audit_row(r: &AuditRecord) -> [String; 6] {
    let e = &r.entry;
    [
        r.seq.to_string(),
        e.ts.with_timezone(&chrono::Local)
            .format("%m-%d %H:%M:%S")
            .to_string(),
        e.actor.clone(),
        e.action.clone(),
        e.target.clone(),
        e.outcome.clone(),
    ]
}

/// Every field of an audit row, with its detail.
pub fn audit_fields(r: &AuditRecord) -> Vec<Field> {
    let e = &r.entry;
    vec![
        ("seq", r.seq.to_string()),
        ("time", local_time(e.ts)),
        ("actor", e.actor.clone()),
        ("action", e.action.clone()),
        ("target", e.target.clone()),
        ("outcome", e.outcome.clone()),
        ("detail", e.detail.clone()),
    ]
}

/// Every field of a backup's Catalog row (Enter opens its manifest).
pub fn backup_fields(b: &BackupRow) -> Vec<Field> {
    vec![
        ("id", b.id.to_string()),
        ("type", data::type_cell(b)),
        ("name", b.name.as_deref().unwrap_or("-").to_string()),
        ("created", fmt::stored_ts(&b.created)),
        ("size", fmt::bytes(b.size)),
        ("stored", fmt::bytes(b.stored_size)),
        ("encrypted", if b.encrypted { "yes" } else { "no" }.into()),
        ("verified", b.verified.as_str().to_string()),
        ("status", data::status_cell(b.status).to_string()),
    ]
}

/// Whether any of `cells` holds `needle` (lowercase), ignoring case.
fn any_contains<S: AsRef<str>>(cells: &[S], needle: &str) -> bool {
    cells
        .iter()
        .any(|c| c.as_ref().to_lowercase().contains(needle))
}

/// The indices of the rows `matches` keeps for `filter` (trimmed,
/// lowercased; empty keeps every row), in their order.
fn view<T>(rows: &[T], filter: &str, matches: impl Fn(&T, &str) -> bool) -> Vec<u32> {
    let needle = filter.trim().to_lowercase();
    rows.iter()
        .enumerate()
        .filter(|(_, r)| needle.is_empty() || matches(r, &needle))
        .map(|(i, _)| i as u32)
        .collect()
}

/// The jobs whose row shows `filter` (its target whole, as `i` shows it).
pub fn jobs_view(jobs: &[JobRecord], filter: &str, now: DateTime<Utc>) -> Vec<u32> {
    view(jobs, filter, |j, n| any_contains(&job_row(j, now), n))
}

/// The health checks whose row shows `filter`.
pub fn health_view(checks: &[Check], filter: &str) -> Vec<u32> {
    view(checks, filter, |c, n| any_contains(&health_row(c), n))
}

/// The audit rows whose row or detail (the pane under the table) shows
/// `filter`; newest first, as loaded.
pub fn audit_view(rows: &[AuditRecord], filter: &str) -> Vec<u32> {
    view(rows, filter, |r, n| {
        any_contains(&audit_row(r), n) || r.entry.detail.to_lowercase().contains(n)
    })
}

#[cfg(test)]
mod tests {
    use super::progress_text;
    use chrono::Utc;
    use lifeboat_engine::catalog::{JobRecord, JobState};

    fn running(done: u64, total: u64) -> JobRecord {
        let t0 = Utc::now();
        JobRecord {
            id: 1,
            kind: "backup".into(),
            target: "filesystem".into(),
            state: JobState::Running,
            phase: None,
            bytes_done: done,
            bytes_total: Some(total),
            items_done: 0,
            items_total: None,
            created_at: t0,
            started_at: Some(t0),
            finished_at: None,
            updated_at: t0,
            error: None,
            host: "h".into(),
            pid: 1,
            partial_outputs: Vec::new(),
            cancel_requested: false,
            parent_job: None,
            resource: None,
        }
    }

    #[test]
    fn progress_fits_its_width_with_the_percent_whole() {
        for (done, percent) in [(0, "0%"), (50, "50%"), (100, "100%")] {
            let j = running(done, 100);
            for width in 10..=30 {
                let s = progress_text(&j, width);
                assert!(
                    s.chars().count() <= width,
                    "{s:?} is wider than {width} cells"
                );
                assert!(s.ends_with(&format!(" {percent}")), "{s:?}");
                assert!(s.starts_with('['), "{s:?}");
                // The bar takes the rest (the percentage is padded to 4).
                assert_eq!(s.chars().count(), width, "{s:?} at {width}");
            }
        }
        // The column the Jobs screen gives it, half done.
        assert_eq!(progress_text(&running(50, 100), 18), "[######.....]  50%");
        // Too narrow for a bar: the percentage alone.
        assert_eq!(progress_text(&running(100, 100), 6), "100%");
    }
}
