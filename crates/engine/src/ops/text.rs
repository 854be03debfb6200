//! What an operation did, in words for people: the lines the CLI prints
//! after a verb, and the lines a worker writes into its job's log when the
//! job ends, so a face that did not run the job (the console that queued
//! it, `lifeboat status ID`) reads the same account.

use crate::ops::backup::BackupReport;
use crate::ops::database::DbRestoreReport;
use crate::ops::restore::RestoreReport;
use crate::ops::verify::VerifyReport;
use crate::units::size;

/// `say!(v, "fmt", args)`: one line of the account.
macro_rules! say {
    ($v:ident, $($t:tt)*) => {
        $v.push(format!($($t)*))
    };
}

/// A backup: what was written, where, and how big.
pub fn backup(r: &BackupReport) -> Vec<String> {
    let mut v = Vec::new();
    say!(
        v,
        "{} backup {} ({}{}) {} in {:.1}s",
        r.backup_type,
        r.id,
        format!("{:?}", r.kind).to_lowercase(),
        r.parent_id
            .as_ref()
            .map(|p| format!(" of {p}"))
            .unwrap_or_default(),
        r.status.as_str(),
        r.seconds
    );
    say!(v, "  file:    {}", r.file.display());
    say!(
        v,
        "  size:    {} read, {} stored{}",
        size(r.size),
        size(r.stored_size),
        if r.encrypted {
            ", encrypted"
        } else {
            ", NOT encrypted"
        }
    );
    if let Some(f) = &r.files {
        say!(
            v,
            "  entries: {} files, {} dirs, {} symlinks; {} stored, {} unchanged, {} deleted",
            f.files,
            f.dirs,
            f.symlinks,
            f.stored,
            f.unchanged,
            f.deleted
        );
    }
    for w in &r.warnings {
        say!(v, "  warning: {w}");
    }
    for c in &r.copies {
        say!(v, "  {}", copy_line(c));
    }
    if let Some(e) = &r.copy_error {
        say!(
            v,
            "  COPY FAILED: the backup is stored locally, but not every copy was made: {e}"
        );
    }
    v
}

fn copy_line(c: &crate::ops::copies::CopyOutcome) -> String {
    match &c.error {
        Some(e) => format!("copy to '{}': {} ({e})", c.target, c.state.as_str()),
        None if c.already_there => format!(
            "copy to '{}': already there{}",
            c.target,
            if c.state == crate::catalog::copies::CopyState::Verified {
                ", read back and verified"
            } else {
                ""
            }
        ),
        None => format!(
            "copy to '{}': {}, {} in {:.1}s",
            c.target,
            c.state.as_str(),
            size(c.bytes),
            c.seconds
        ),
    }
}

/// A copy job: each copy, then the count.
pub fn copies(r: &crate::ops::copies::CopyReport) -> Vec<String> {
    let mut v = Vec::new();
    for c in &r.copies {
        say!(v, "{} {}: {}", c.backup_type, c.backup_id, copy_line(c));
    }
    say!(
        v,
        "{} copies made or checked (job {})",
        r.copies.len(),
        r.job_id
    );
    v
}

/// A verification: each check, each problem.
pub fn verify(r: &VerifyReport) -> Vec<String> {
    let mut v = Vec::new();
    say!(
        v,
        "backup {}: {} ({}verification, {:.1}s)",
        r.id,
        if r.ok { "OK" } else { "FAILED" },
        if r.deep { "deep " } else { "" },
        r.seconds
    );
    for c in &r.checks {
        say!(v, "  ok: {c}");
    }
    for p in &r.problems {
        say!(v, "  problem: {p}");
    }
    v
}

/// A file restore (or its plan): what it changes, what it wrote.
pub fn restore(r: &RestoreReport) -> Vec<String> {
    let mut v = Vec::new();
    let p = &r.plan;
    if r.dry_run {
        say!(
            v,
            "dry run: restoring backup {} into {} would:",
            r.id,
            r.target.display()
        );
    } else {
        say!(
            v,
            "restored backup {} into {} in {:.1}s",
            r.id,
            r.target.display(),
            r.seconds
        );
    }
    say!(v,
        "  create {} path(s), overwrite {} existing path(s), delete {} path(s); {} of file content in all",
        p.create,
        p.overwrite,
        p.delete,
        size(p.bytes)
    );
    for (what, paths, total) in [
        ("overwrite", &p.shown_overwrite, p.overwrite),
        ("delete", &p.shown_delete, p.delete),
        ("create", &p.shown_create, p.create),
    ] {
        for path in paths.iter().take(10) {
            say!(v, "    {what:<9} {}", path.display());
        }
        if total > paths.len().min(10) as u64 {
            say!(
                v,
                "    {what:<9} ... and {} more",
                total - paths.len().min(10) as u64
            );
        }
    }
    if let Some(o) = &r.outcome {
        say!(
            v,
            "  wrote {} files ({}), {} dirs, {} symlinks; removed {}",
            o.files,
            size(o.bytes),
            o.dirs,
            o.symlinks,
            o.deleted
        );
    }
    notes_and_dry_run(&mut v, &r.notes, r.dry_run);
    v
}

/// A database restore (or its plan).
pub fn db_restore(r: &DbRestoreReport) -> Vec<String> {
    let mut v = Vec::new();
    if r.dry_run {
        say!(
            v,
            "dry run: restoring backup {} (database {}) would go into database {}{}",
            r.id,
            r.source_database,
            r.target_database,
            if r.in_place { " (in place)" } else { "" }
        );
        if !r.objects.is_empty() {
            say!(v, "  {} objects from pg_restore --list:", r.objects.len());
            for o in r.objects.iter().take(25) {
                say!(v, "    {o}");
            }
            if r.objects.len() > 25 {
                say!(v, "    ... and {} more", r.objects.len() - 25);
            }
        }
    } else {
        say!(
            v,
            "restored backup {} into database {} in {:.1}s; {} tables and {} rows match the backup",
            r.id,
            r.target_database,
            r.seconds,
            r.tables_checked,
            r.rows_checked
        );
    }
    notes_and_dry_run(&mut v, &r.notes, r.dry_run);
    v
}

/// A restore's notes, and for a plan, that nothing was changed.
fn notes_and_dry_run(v: &mut Vec<String>, notes: &[String], dry_run: bool) {
    for n in notes {
        say!(v, "  {n}");
    }
    if dry_run {
        say!(v, "  nothing was changed");
    }
}

/// A recovery: the report it saved (Markdown) and where.
pub fn recovery(r: &crate::ops::recover::RecoveryReport) -> Vec<String> {
    let mut v: Vec<String> = crate::ops::recover::markdown(r)
        .lines()
        .map(String::from)
        .collect();
    if let Some(f) = &r.report_file {
        say!(v, "");
        say!(v, "(report saved to {})", f.display());
    }
    v
}

/// A drill: its recovery's report and the verdict.
pub fn drill(r: &crate::ops::drill::DrillReport) -> Vec<String> {
    let mut v = recovery(&r.recovery);
    say!(
        v,
        "drill job {}: {}",
        r.job_id,
        if r.ok {
            "recovery rehearsed successfully; production was not touched"
        } else {
            "FAILED; production was not touched"
        }
    );
    v
}

/// `backup --all`: each type's backups or failure, and the tally.
pub fn full(r: &crate::ops::full::FullReport) -> Vec<String> {
    let mut v = Vec::new();
    for t in &r.types {
        for b in &t.backups {
            v.extend(backup(b));
        }
        if let Some(e) = &t.error {
            say!(
                v,
                "{} backup FAILED after {:.1}s: {e}",
                t.backup_type,
                t.seconds
            );
        }
    }
    say!(
        v,
        "full backup (job {}): {} of {} types succeeded in {:.1}s",
        r.job_id,
        r.types.iter().filter(|t| t.ok).count(),
        r.types.len(),
        r.seconds
    );
    v
}

/// A prune: what went, what a type kept back and why.
pub fn prune(r: &crate::ops::prune::PruneReport) -> Vec<String> {
    let mut v = Vec::new();
    for x in &r.refused {
        say!(v, "{} not pruned: {}", x.backup_type, x.reason);
    }
    say!(
        v,
        "pruned {} backups, freed {} (job {})",
        r.deleted.len(),
        size(r.bytes_freed),
        r.job_id
    );
    v
}

/// A key rotation: the new key, what was re-wrapped, what still needs the
/// old key.
pub fn rotate(r: &crate::ops::keys::RotateReport) -> Vec<String> {
    let mut v = Vec::new();
    say!(
        v,
        "new active key {}; re-wrapped the data keys of {} backup(s)",
        r.new_key,
        r.rewrapped
    );
    for f in &r.failed {
        say!(v, "  could not re-wrap: {f}");
    }
    if r.failed.is_empty() {
        say!(
            v,
            "older keys are no longer needed by any backup: remove them with `lifeboat key remove ID`"
        );
    }
    v
}
