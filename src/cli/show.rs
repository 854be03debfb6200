//! Human output: tables and reports. Sizes with humansize, times in local time.

use chrono::{DateTime, Local, Utc};
use serde::Serialize;

use lifeboat_engine::catalog::audit::AuditRecord;
use lifeboat_engine::catalog::{BackupRecord, JobRecord, JobState};
use lifeboat_engine::ops::backup::BackupReport;
use lifeboat_engine::ops::restore::RestoreReport;
use lifeboat_engine::ops::verify::VerifyReport;

pub fn print_json<T: Serialize + ?Sized>(v: &T) {
    outln!("{}", serde_json::to_string_pretty(v).expect("serializes"));
}

fn local(t: &DateTime<Utc>) -> String {
    t.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

pub fn size(n: u64) -> String {
    lifeboat_engine::units::size(n)
}

pub fn print_backup_report(r: &BackupReport) {
    for l in lifeboat_engine::ops::text::backup(r) {
        outln!("{l}");
    }
}

pub fn print_backup_table(rows: &[BackupRecord], offsite_only: &dyn Fn(&str) -> bool) {
    if rows.is_empty() {
        outln!("no backups yet (take one with `lifeboat backup --type filesystem`)");
        return;
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.backup_type.as_str().to_string(),
                format!("{:?}", r.kind).to_lowercase(),
                local(&r.created_at),
                size(r.size),
                size(r.stored_size),
                if r.encrypted { "yes" } else { "no" }.to_string(),
                match (&r.verified_at, &r.verify_result) {
                    (Some(_), Some(v)) if v == "ok" => "ok",
                    (Some(_), _) => "FAILED",
                    _ => "-",
                }
                .to_string(),
                if offsite_only(&r.id) {
                    format!("{} (on targets only)", r.status.as_str())
                } else {
                    r.status.as_str().to_string()
                },
            ]
        })
        .collect();
    print_columns(
        &[
            "ID", "TYPE", "KIND", "CREATED", "SIZE", "STORED", "ENC", "VERIFIED", "STATUS",
        ],
        &[false, false, false, false, true, true, false, false, false],
        &cells,
    );
}

/// A table whose columns are as wide as their widest cell, header
/// included: ids are 27-28 characters and sizes up to 11 ("1023.99 KiB"),
/// and a fixed width narrower than a cell shifts the rest of its row.
/// `right[i]` right-aligns column `i` (numbers); the last column is not
/// padded.
fn print_columns(header: &[&str], right: &[bool], rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain(std::iter::once(header[i].chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, c) in cells.enumerate() {
            let w = widths[i];
            if i + 1 == header.len() {
                out.push_str(c);
            } else if right[i] {
                out.push_str(&format!("{c:>w$} "));
            } else {
                out.push_str(&format!("{c:<w$} "));
            }
        }
        out
    };
    outln!("{}", line(&mut header.iter().copied()));
    for r in rows {
        outln!("{}", line(&mut r.iter().map(String::as_str)));
    }
}

pub fn print_backup_detail(r: &BackupRecord, manifest: Option<&serde_json::Value>) {
    outln!("id:          {}", r.id);
    outln!("type:        {} ({:?})", r.backup_type, r.kind);
    if let Some(n) = &r.name {
        outln!("name:        {n}");
    }
    if let Some(p) = &r.parent_id {
        outln!("parent:      {p}");
    }
    outln!("created:     {}", local(&r.created_at));
    outln!("status:      {}", r.status.as_str());
    outln!("file:        {}", r.file);
    outln!(
        "size:        {} ({} stored)",
        size(r.size),
        size(r.stored_size)
    );
    outln!(
        "encrypted:   {}",
        if r.encrypted {
            format!("yes (key {})", r.key_id.as_deref().unwrap_or("?"))
        } else {
            "no".into()
        }
    );
    match (&r.verified_at, &r.verify_result) {
        (Some(t), Some(v)) => outln!("verified:    {} ({v})", local(t)),
        _ => outln!("verified:    never"),
    }
    if let Some(m) = manifest {
        if let Some(f) = m.get("files").filter(|f| !f.is_null()) {
            outln!("entries:     {f}");
        }
        if let Some(w) = m
            .get("warnings")
            .and_then(|w| w.as_array())
            .filter(|w| !w.is_empty())
        {
            outln!("warnings:");
            for x in w {
                outln!("  {}", x.as_str().unwrap_or_default());
            }
        }
        if let Some(s) = m.get("source") {
            outln!("source:      {s}");
        }
    }
}

pub fn print_job_table(jobs: &[JobRecord]) {
    if jobs.is_empty() {
        outln!("no jobs yet");
        return;
    }
    outln!(
        "{:>6} {:<14} {:<26} {:<24} {:<19} PROGRESS",
        "JOB",
        "KIND",
        "TARGET",
        "STATE",
        "STARTED"
    );
    for j in jobs {
        outln!(
            "{:>6} {:<14} {:<26} {:<24} {:<19} {}",
            j.id,
            j.kind,
            j.target,
            j.state,
            j.started_at.as_ref().map(local).unwrap_or_default(),
            progress_text(j)
        );
    }
}

/// Done of total with a percentage, or only what was done when there is no
/// total or the percentage would contradict the job's state (see
/// [`JobRecord::shown_ratio`]).
fn progress_text(j: &JobRecord) -> String {
    match (j.bytes_total, j.shown_ratio()) {
        (Some(t), Some(r)) if t > 0 => {
            format!("{}/{} ({:.0}%)", size(j.bytes_done), size(t), 100.0 * r)
        }
        _ => size(j.bytes_done),
    }
}

pub fn print_job_detail(j: &JobRecord, log: &[(DateTime<Utc>, String, String)]) {
    outln!("job:      {} ({} {})", j.id, j.kind, j.target);
    outln!("state:    {}", j.state);
    if let Some(p) = &j.phase {
        outln!("phase:    {p}");
    }
    outln!("progress: {}", progress_text(j));
    outln!("process:  pid {} on {}", j.pid, j.host);
    if let Some(s) = &j.started_at {
        outln!("started:  {}", local(s));
    }
    if let Some(f) = &j.finished_at {
        outln!("finished: {}", local(f));
    }
    if let Some(e) = &j.error {
        outln!("error:    {e}");
    }
    if !log.is_empty() {
        outln!("log:");
        for (ts, level, msg) in log {
            outln!("  {} {:<7} {msg}", local(ts), level);
        }
    }
}

pub fn print_verify_report(r: &VerifyReport) {
    for l in lifeboat_engine::ops::text::verify(r) {
        outln!("{l}");
    }
}

pub fn print_restore_report(r: &RestoreReport) {
    for l in lifeboat_engine::ops::text::restore(r) {
        outln!("{l}");
    }
}

pub fn print_audit_table(rows: &[AuditRecord]) {
    outln!(
        "{:>5} {:<19} {:<22} {:<16} {:<24} {:<10} DETAIL",
        "SEQ",
        "WHEN",
        "WHO",
        "ACTION",
        "TARGET",
        "OUTCOME"
    );
    for r in rows {
        outln!(
            "{:>5} {:<19} {:<22} {:<16} {:<24} {:<10} {}",
            r.seq,
            local(&r.entry.ts),
            r.entry.actor,
            r.entry.action,
            r.entry.target,
            r.entry.outcome,
            r.entry.detail
        );
    }
}

/// One line describing a job's state and progress, for `status --follow`.
pub fn job_line(j: &JobRecord) -> String {
    let mut s = format!("job {} {} {}: {}", j.id, j.kind, j.target, j.state);
    if let Some(p) = &j.phase {
        if j.state == JobState::Running {
            s.push_str(&format!(" ({p})"));
        }
    }
    s.push_str(&format!(", {}", progress_text(j)));
    if j.state == JobState::Running {
        let secs = (j.updated_at - j.started_at.unwrap_or(j.created_at)).num_milliseconds() as f64
            / 1000.0;
        if secs > 0.5 && j.bytes_done > 0 {
            let rate = j.bytes_done as f64 / secs;
            s.push_str(&format!(", {}/s", size(rate as u64)));
            if let Some(t) = j.bytes_total.filter(|t| *t > j.bytes_done) {
                s.push_str(&format!(", eta {:.0}s", (t - j.bytes_done) as f64 / rate));
            }
        }
    }
    if j.cancel_requested && j.state == JobState::Running {
        s.push_str(", cancel requested");
    }
    if let Some(e) = &j.error {
        s.push_str(&format!(": {e}"));
    }
    s
}

pub fn print_prune_plan(plan: &lifeboat_engine::ops::prune::PrunePlan) {
    for r in &plan.refused {
        outln!("{}: not pruned: {}", r.backup_type, r.reason);
    }
    let doomed: Vec<_> = plan.to_delete().collect();
    if doomed.is_empty() {
        outln!(
            "nothing to prune: the policy keeps all {} backups",
            plan.decisions.len()
        );
        return;
    }
    outln!(
        "{:<7} {:<14} {:<40} {:<17} {:>10}  WHY",
        "ACTION",
        "TYPE",
        "ID",
        "CREATED",
        "STORED"
    );
    for d in &plan.decisions {
        outln!(
            "{:<7} {:<14} {:<40} {:<17} {:>10}  {}",
            match (d.keep, d.kept_on.is_empty()) {
                (true, _) => "keep",
                // The repository's copy goes; a target keeps it.
                (false, false) => "OFFSITE",
                (false, true) => "DELETE",
            },
            d.backup_type.as_str(),
            d.id,
            local(&d.created_at),
            size(d.stored_size),
            d.reasons.join("; ")
        );
    }
    let offsite = doomed.iter().filter(|d| !d.kept_on.is_empty()).count();
    outln!(
        "would delete {} of {} backups{}, freeing {} in the repository",
        doomed.len() - offsite,
        plan.decisions.len(),
        if offsite > 0 {
            format!(" and leave {offsite} on their targets only")
        } else {
            String::new()
        },
        size(plan.bytes_freed())
    );
}

pub fn print_schedule(
    schedule: &lifeboat_engine::schedule::Schedule,
    types: &[lifeboat_engine::archive::manifest::BackupType],
    now: DateTime<Utc>,
    count: usize,
    json: bool,
) {
    let runs = schedule.upcoming(now, count);
    if json {
        let rows: Vec<serde_json::Value> = runs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "at": r.at.to_rfc3339(),
                    "entry": r.entry.id,
                    "target": r.entry.target.label(),
                    "full": r.entry.full,
                    "spec": r.entry.spec.text,
                    "cron": r.entry.spec.cron_pattern,
                })
            })
            .collect();
        print_json(&rows);
        return;
    }
    outln!("time zone: {}", schedule.tz.name());
    for e in &schedule.entries {
        outln!(
            "  {:<22} {:<28} (cron \"{}\", from {})",
            e.id,
            e.spec.text,
            e.spec.cron_pattern,
            e.key
        );
    }
    for t in types {
        if let Some(gap) = schedule.worst_gap(*t, now) {
            outln!(
                "  {t}: at best a {}h recovery point (longest gap between runs)",
                gap.num_minutes() as f64 / 60.0
            );
        }
    }
    outln!("next runs:");
    for r in &runs {
        outln!(
            "  {}  {} ({}{})",
            r.at.with_timezone(&schedule.tz)
                .format("%a %Y-%m-%d %H:%M %Z"),
            r.entry.target.label(),
            if r.entry.full { "full, " } else { "" },
            r.entry.spec.text
        );
    }
}

/// A recovery's report (the Markdown it also saves) and where it was saved.
pub fn print_recovery(r: &lifeboat_engine::ops::recover::RecoveryReport) {
    for l in lifeboat_engine::ops::text::recovery(r) {
        outln!("{l}");
    }
}

/// `lifeboat copies`: targets, each type's verdict, then each backup's copies.
pub fn print_copies(st: &lifeboat_engine::ops::copies::CopiesStatus) {
    if st.targets.is_empty() {
        outln!("no copy targets are configured: every backup lives in the repository only");
        outln!("(add a [[targets]] entry, e.g. an S3 bucket; see config.example.toml)");
    } else {
        outln!("targets:");
        for t in &st.targets {
            outln!(
                "  {:<12} {:<6} {}{}",
                t.name,
                t.kind,
                t.location,
                if t.offsite { "  (offsite)" } else { "" }
            );
        }
    }
    outln!();
    for t in &st.types {
        if t.newest.is_none() {
            outln!("{:<14} {}", t.backup_type.as_str(), t.verdict);
            continue;
        }
        outln!(
            "{:<14} {} ({} of {} required copies, {} media, {} offsite)",
            t.backup_type.as_str(),
            t.verdict,
            t.copies,
            t.required,
            t.media,
            t.offsite
        );
    }
    if st.backups.is_empty() {
        return;
    }
    outln!();
    let cells: Vec<Vec<String>> = st
        .backups
        .iter()
        .map(|b| {
            let places = std::iter::once("repository: ok".to_string())
                .chain(
                    b.targets
                        .iter()
                        .map(|c| format!("{}: {}", c.target, c.state)),
                )
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                b.id.clone(),
                b.backup_type.as_str().to_string(),
                local(&b.created_at),
                format!("{}/{}", b.copies, b.required),
                places,
            ]
        })
        .collect();
    print_columns(
        &["ID", "TYPE", "CREATED", "COPIES", "WHERE"],
        &[false, false, false, true, false],
        &cells,
    );
    for b in &st.backups {
        for c in b.targets.iter().filter(|c| c.error.is_some()) {
            outln!(
                "{} on '{}': {}",
                b.id,
                c.target,
                c.error.as_deref().unwrap_or("")
            );
        }
    }
}

/// `lifeboat copies --check`: what each target's listing showed.
pub fn print_drift(drift: &[lifeboat_engine::ops::drift::TargetDrift]) {
    for d in drift {
        outln!();
        if let Some(e) = &d.error {
            outln!("target '{}': cannot be listed: {e}", d.target);
            continue;
        }
        outln!(
            "target '{}': {} objects, {}{}",
            d.target,
            d.objects,
            size(d.bytes),
            if d.clean() {
                "; matches the catalog"
            } else {
                ""
            }
        );
        for m in &d.missing {
            outln!("  MISSING  {m}");
        }
        for u in &d.unclaimed {
            outln!("  DRIFT    {u}: no backup in the catalog claims it (left in place)");
        }
        for r in &d.retained {
            outln!("  retained {r} (append-only target: its own retention expires it)");
        }
        for f in &d.found {
            outln!("  found    {f}: a whole copy, now on record");
        }
    }
}
