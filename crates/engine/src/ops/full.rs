//! `backup --all`: every configured type at once, as one parent job with a
//! child job per type. Each type runs on its own thread with its own engine
//! (its own catalog connection), so a database dump, a file walk and a
//! configuration backup overlap instead of queueing; one failing type does
//! not stop the others, and the parent says which failed.

use std::time::Instant;

use serde::Serialize;

use crate::archive::manifest::BackupType;
use crate::catalog::JobKind;
use crate::error::{Error, Result};
use crate::ops::backup::{self, BackupReport, BackupRequest};
use crate::ops::jobs::Job;
use crate::ops::{database, Engine, Progress};
use crate::Cancel;

/// Outcome of one type within a full backup.
#[derive(Debug, Clone, Serialize)]
pub struct TypeOutcome {
    #[serde(rename = "type")]
    pub backup_type: BackupType,
    pub ok: bool,
    pub backups: Vec<BackupReport>,
    pub error: Option<String>,
    pub seconds: f64,
}

/// Outcome of `backup --all`.
#[derive(Debug, Clone, Serialize)]
pub struct FullReport {
    pub job_id: i64,
    pub ok: bool,
    pub seconds: f64,
    pub types: Vec<TypeOutcome>,
}

/// Run every configured type in parallel under one parent job.
pub fn run(
    engine: &Engine,
    name: Option<&str>,
    force_full: bool,
    face: &dyn Progress,
    faces: &(dyn Fn(BackupType) -> Box<dyn Progress> + Sync),
    cancel: &Cancel,
) -> Result<FullReport> {
    let types = engine.config.configured_types();
    if types.is_empty() {
        return Err(Error::usage("nothing is configured to back up").hint(
            "configure [sources.database], [sources.filesystem] or [sources.configuration]",
        ));
    }
    let started = Instant::now();
    let parent = Job::start(
        engine,
        JobKind::BackupAll,
        &types
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join("+"),
        face,
        cancel,
    )?;
    parent.phase(&format!("running {} backups in parallel", types.len()));
    let parent_id = parent.id;
    let outcomes: Vec<TypeOutcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = types
            .iter()
            .map(|&t| {
                let config = engine.config.clone();
                scope.spawn(move || {
                    let t0 = Instant::now();
                    let face = faces(t);
                    let result = (|| -> Result<Vec<BackupReport>> {
                        let mut child = Engine::open(config)?;
                        child.parent_job = Some(parent_id);
                        match t {
                            BackupType::Database => {
                                database::backup_all(&child, name, face.as_ref(), cancel)
                            }
                            _ => {
                                let req = BackupRequest {
                                    backup_type: t,
                                    name: name.map(str::to_string),
                                    force_full,
                                };
                                backup::run(&child, &req, face.as_ref(), cancel).map(|r| vec![r])
                            }
                        }
                    })();
                    let seconds = t0.elapsed().as_secs_f64();
                    match result {
                        Ok(backups) => TypeOutcome {
                            backup_type: t,
                            ok: true,
                            backups,
                            error: None,
                            seconds,
                        },
                        Err(e) => TypeOutcome {
                            backup_type: t,
                            ok: false,
                            backups: Vec::new(),
                            error: Some(e.display_with_hint()),
                            seconds,
                        },
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .zip(&types)
            .map(|(h, &t)| {
                h.join().unwrap_or_else(|_| TypeOutcome {
                    backup_type: t,
                    ok: false,
                    backups: Vec::new(),
                    error: Some("the backup thread panicked".into()),
                    seconds: 0.0,
                })
            })
            .collect()
    });
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.ok)
        .map(|o| {
            format!(
                "{}: {}",
                o.backup_type,
                o.error.as_deref().unwrap_or("failed")
            )
        })
        .collect();
    // The report says each type's outcome: recorded, not printed twice.
    for o in &outcomes {
        parent.record(
            if o.ok { "info" } else { "error" },
            &format!(
                "{} {} in {:.1}s{}",
                o.backup_type,
                if o.ok { "succeeded" } else { "failed" },
                o.seconds,
                o.error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
        );
    }
    let result: Result<()> = if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::external(format!(
            "{} of {} backups failed: {}",
            failed.len(),
            outcomes.len(),
            failed.join("; ")
        )))
    };
    let warnings = outcomes
        .iter()
        .flat_map(|o| &o.backups)
        .map(|b| b.warnings.len())
        .sum();
    parent.finish(&result, warnings);
    engine.audit(
        JobKind::BackupAll.as_str(),
        &types
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join("+"),
        if failed.is_empty() {
            "succeeded"
        } else {
            "failed"
        },
        &format!("job {parent_id}"),
    )?;
    Ok(FullReport {
        job_id: parent_id,
        ok: failed.is_empty(),
        seconds: started.elapsed().as_secs_f64(),
        types: outcomes,
    })
}
