//! After a crash: settle the jobs whose process died and what they left
//! behind. This knows every use case's leftovers (a restore's marker and
//! stray temp files, a verification's scratch directory, a backup that
//! committed but was never recorded), so it sits above them, not in the
//! job framework they all use.

use std::path::{Path, PathBuf};

use crate::catalog::{JobKind, JobState};
use crate::error::Result;
use crate::ops::jobs::LEASE;
use crate::ops::{pid_alive, Engine};

/// Settle jobs whose process died: remove their partial outputs (never a
/// file a committed manifest claims), record the backups they committed
/// but could not record, mark the rest interrupted, and clean orphan
/// partial files and dead processes' scratch space.
pub fn recover_dead_jobs(engine: &Engine) -> Result<()> {
    let mut dead = engine.catalog.find_dead_jobs(&engine.host, &pid_alive)?;
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(LEASE).expect("small duration");
    for j in engine.catalog.find_stale_jobs(cutoff)? {
        // Another host's job, or one of ours that froze: its lease ran out.
        let ours_and_alive = j.host == engine.host && pid_alive(j.pid);
        if !ours_and_alive && !dead.iter().any(|d| d.id == j.id) {
            dead.push(j);
        }
    }
    for job in &dead {
        settle_dead_job(engine, job)?;
    }
    for b in engine.catalog.orphaned_running_backups()? {
        let note = settle_backup(engine, &b)?;
        tracing::warn!("backup {}: {note}", b.id);
    }
    engine.repo.clean_stale_partials(&pid_alive)?;
    crate::storage::local::remove_dead_scratch(
        &crate::ops::verify::scratch_base(engine),
        &pid_alive,
    );
    Ok(())
}

fn settle_dead_job(engine: &Engine, job: &crate::catalog::JobRecord) -> Result<()> {
    let mut removed = Vec::new();
    let mut kept = Vec::new();
    for p in &job.partial_outputs {
        let path = Path::new(p);
        if !engine.repo.holds(path) {
            continue; // not a repository file at all: never ours to delete
        }
        // With the directory's publishing lock, no live job is between
        // claiming a name and linking it; one that has linked lists it.
        let _lock = crate::storage::local::lock_names(path.parent().unwrap_or(Path::new(".")))?;
        if let Some(m) = crate::storage::local::Repository::committed_owner(path) {
            // Published and committed before the process died: a backup.
            kept.push(format!("{p} (backup {})", m.id));
            continue;
        }
        let live = engine
            .catalog
            .running_jobs()?
            .into_iter()
            .any(|j| j.id != job.id && j.partial_outputs.contains(p));
        if live {
            continue; // a live job's name (a publish that lost the race)
        }
        if std::fs::remove_file(p).is_ok() {
            removed.push(p.clone());
        }
    }
    let mut msg = format!(
        "process {} on {} died (or stopped renewing its lease) while running this job; partial outputs removed: {}",
        job.pid,
        job.host,
        if removed.is_empty() {
            "none".to_string()
        } else {
            removed.join(", ")
        }
    );
    if !kept.is_empty() {
        msg.push_str(&format!(
            "; kept, because a committed backup owns them: {}",
            kept.join(", ")
        ));
    }
    for b in engine.catalog.list_backups_of_job(job.id)? {
        if b.status == crate::catalog::BackupStatus::Running {
            msg.push_str(&format!(
                "; backup {}: {}",
                b.id,
                settle_backup(engine, &b)?
            ));
        }
    }
    if let Some(note) = half_written(engine, job) {
        msg.push_str("; ");
        msg.push_str(&note);
    }
    // It ended at its last sign of life (heartbeat or progress), not now:
    // its duration is what it ran, however late this settle comes (never
    // before it started, if the clock stepped back). A job that finished
    // since it was found keeps its own outcome.
    let ended = job.updated_at.max(job.started_at.unwrap_or(job.updated_at));
    if !engine
        .catalog
        .settle_job(job.id, JobState::Interrupted, &msg, ended)?
    {
        return Ok(());
    }
    engine.catalog.job_log(job.id, "error", &msg)?;
    let _ = engine.audit(job.kind.as_str(), &job.target, "interrupted", &msg);
    Ok(())
}

/// A backup row left `running` by a process that is gone: if its manifest
/// was committed (and its payload has the committed size), the backup
/// exists and the row says so; otherwise it is `interrupted`. What was
/// decided, for the job's log.
fn settle_backup(engine: &Engine, b: &crate::catalog::BackupRecord) -> Result<String> {
    use crate::catalog::BackupStatus;
    let name = Path::new(&b.file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some((m, manifest_path)) = engine.repo.find_committed(b.backup_type, &b.id, &name) {
        let payload = manifest_path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&m.payload.file);
        let size_ok = std::fs::metadata(&payload).is_ok_and(|md| md.len() == m.payload.stored_size);
        let status = match (size_ok, m.warnings.is_empty()) {
            (false, _) => BackupStatus::Failed,
            (true, true) => BackupStatus::Succeeded,
            (true, false) => BackupStatus::SucceededWithWarnings,
        };
        engine.catalog.upsert_from_manifest(&m, &payload, status)?;
        return Ok(if size_ok {
            format!(
                "its manifest was committed before the process died, so it is kept and recorded as {status}"
            )
        } else {
            format!(
                "its manifest was committed but its payload {} does not have the committed size: recorded as failed and left in place for inspection",
                payload.display()
            )
        });
    }
    engine
        .catalog
        .set_backup_status(&b.id, BackupStatus::Interrupted)?;
    Ok("it was never committed: recorded as interrupted".to_string())
}

/// What a dead restore job may have left half-written, said plainly, after
/// removing the temporary files it left in the target.
fn half_written(engine: &Engine, job: &crate::catalog::JobRecord) -> Option<String> {
    use crate::ops::restore::{marked_incomplete_by, remove_stray_temps, INCOMPLETE_MARKER};
    if job.kind != JobKind::Restore {
        return None;
    }
    let what = job.resource.as_deref()?;
    let Some(dir) = what.strip_prefix("restore target ") else {
        return Some(format!(
            "the new database it was loading (the phase 'restoring into NAME' in this job's log) is incomplete: drop it, or restore again (an in-place restore drops it itself); a live database is replaced only by an atomic rename after a complete load and row-count check, so it is untouched unless this job's log shows the phase 'swapping', in which case it may refuse connections until `ALTER DATABASE name WITH ALLOW_CONNECTIONS true` ({what})"
        ));
    };
    // In place, the target is `/`: the backed-up roots are what was written.
    let roots: Vec<PathBuf> = if dir == "/" {
        crate::ops::select::resolve(
            engine,
            None,
            &crate::ops::select::Selector::Id(job.target.clone()),
        )
        .map(|a| crate::ops::restore::restored_roots(&a))
        .unwrap_or_default()
    } else {
        vec![PathBuf::from(dir)]
    };
    let temps: usize = roots.iter().map(|r| remove_stray_temps(r, job.pid)).sum();
    let marked: Vec<String> = roots
        .iter()
        .filter(|r| marked_incomplete_by(r, job.id))
        .map(|r| r.display().to_string())
        .collect();
    let mut note = if marked.len() == 1
        && roots.len() == 1
        && crate::ops::restore::marked_as_new(&roots[0])
    {
        format!(
            "the restore target {dir} was a new directory and is incomplete (it holds {INCOMPLETE_MARKER}): remove it and restore again"
        )
    } else if marked.is_empty() {
        format!(
            "the restore target {dir} may be partly restored: check it before use, or restore again; where it replaced existing files, the safety copy named in this job's log holds what was there"
        )
    } else {
        format!(
            "the restore target {} is incomplete (it holds {INCOMPLETE_MARKER}, which says what to do: restore again to complete it, or put back the safety copy it names)",
            marked.join(", ")
        )
    };
    if temps > 0 {
        note.push_str(&format!(
            "; removed {temps} temporary file(s) it left there"
        ));
    }
    Some(note)
}
