//! `backup --all`: every configured type at once, as one parent job with a
//! child job per type. Each type runs on its own thread with its own engine
//! (its own catalog connection), so a database dump, a file walk and a
//! configuration backup overlap instead of queueing; one failing type does
//! not stop the others, and the parent says which failed.

use std::time::Instant;

use serde::Serialize;

use crate::archive::manifest::BackupType;
use crate::catalog::JobKind;
use crate::config::Config;
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
    let parent = Job::start(engine, JobKind::BackupAll, &joined(&types), face, cancel)?;
    parent.phase(&format!("running {} backups in parallel", types.len()));
    let each = TypeRun {
        parent_id: parent.id,
        name,
        force_full,
        faces,
        cancel,
    };
    let outcomes = each.run_all(engine, &types);
    let failed: Vec<String> = outcomes.iter().filter_map(TypeOutcome::failure).collect();
    // The report says each type's outcome: recorded, not printed twice.
    for o in &outcomes {
        parent.record(if o.ok { "info" } else { "error" }, &o.summary());
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
        &joined(&types),
        if failed.is_empty() {
            "succeeded"
        } else {
            "failed"
        },
        &format!("job {}", parent.id),
    )?;
    Ok(FullReport {
        job_id: parent.id,
        ok: failed.is_empty(),
        seconds: started.elapsed().as_secs_f64(),
        types: outcomes,
    })
}

/// The types as the parent job's target and the audit row name them:
/// `database+filesystem+configuration`.
fn joined(types: &[BackupType]) -> String {
    types
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join("+")
}

/// What every type's backup shares: the parent job it runs under and the
/// request's options.
///
/// It holds no [`Engine`]: an engine cannot be shared between threads (its
/// catalog is one SQLite connection), so each type's thread opens its own
/// from a copy of the configuration ([`TypeRun::backup`]).
struct TypeRun<'a> {
    parent_id: i64,
    name: Option<&'a str>,
    force_full: bool,
    faces: &'a (dyn Fn(BackupType) -> Box<dyn Progress> + Sync),
    cancel: &'a Cancel,
}

impl TypeRun<'_> {
    /// Back up each of `types` on its own thread and wait for all of them:
    /// one outcome per type, in the order of `types`. A thread that panics
    /// is that type's failure, not the others'.
    fn run_all(&self, engine: &Engine, types: &[BackupType]) -> Vec<TypeOutcome> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = types
                .iter()
                .map(|&t| {
                    let config = engine.config.clone();
                    scope.spawn(move || self.run_one(config, t))
                })
                .collect();
            handles
                .into_iter()
                .zip(types)
                .map(|(h, &t)| h.join().unwrap_or_else(|_| TypeOutcome::panicked(t)))
                .collect()
        })
    }

    /// Back up one type, timed from its face's creation: an error becomes
    /// the type's failed outcome, so it does not stop the other types.
    fn run_one(&self, config: Config, t: BackupType) -> TypeOutcome {
        let t0 = Instant::now();
        let face = (self.faces)(t);
        let result = self.backup(config, t, face.as_ref());
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
    }

    /// Open this thread's engine as a child of the parent job and run the
    /// type's backup: every configured database for `database`, one backup
    /// for the others.
    fn backup(
        &self,
        config: Config,
        t: BackupType,
        face: &dyn Progress,
    ) -> Result<Vec<BackupReport>> {
        let mut child = Engine::open(config)?;
        child.parent_job = Some(self.parent_id);
        match t {
            BackupType::Database => database::backup_all(&child, self.name, face, self.cancel),
            _ => {
                let req = BackupRequest {
                    backup_type: t,
                    name: self.name.map(str::to_string),
                    force_full: self.force_full,
                };
                backup::run(&child, &req, face, self.cancel).map(|r| vec![r])
            }
        }
    }
}

impl TypeOutcome {
    /// The outcome of a type whose thread panicked.
    fn panicked(t: BackupType) -> TypeOutcome {
        TypeOutcome {
            backup_type: t,
            ok: false,
            backups: Vec::new(),
            error: Some("the backup thread panicked".into()),
            seconds: 0.0,
        }
    }

    /// `type: error` for a failed type, as the parent job's error lists it.
    fn failure(&self) -> Option<String> {
        (!self.ok).then(|| {
            format!(
                "{}: {}",
                self.backup_type,
                self.error.as_deref().unwrap_or("failed")
            )
        })
    }

    /// The line the parent job records for this type.
    fn summary(&self) -> String {
        format!(
            "{} {} in {:.1}s{}",
            self.backup_type,
            if self.ok { "succeeded" } else { "failed" },
            self.seconds,
            self.error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        )
    }
}
