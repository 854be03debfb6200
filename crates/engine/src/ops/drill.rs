//! Recovery drills: the disaster-recovery runbook rehearsed in a sandbox.
//!
//! A drill runs [`recover::execute`] with [`Destination::Sandbox`]: the same
//! choice of recovery point, the same order and the same checks as a real
//! recovery, but files go under `<catalog dir>/drills/<time>/` and each
//! database into a scratch database `<db>_drill_<time>`. Production paths
//! and databases are never written, and no application stop/start command
//! is ever run. Scratch databases are dropped and the sandbox removed
//! afterwards (unless `--keep`), also when the drill fails or panics.
//!
//! The drill is a job of kind `drill`: its duration is the measured
//! recovery time the health checks' RTO and "last drill" read.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::archive::manifest::BackupType;
use crate::catalog::JobKind;
use crate::error::{Error, Result};
use crate::ops::jobs::Job;
use crate::ops::recover::{self, Destination, RecoveryReport};
use crate::ops::{Engine, Progress};
use crate::sources::database::{ConnInfo, Pg};
use crate::Cancel;

/// What a drill did.
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    pub job_id: i64,
    pub ok: bool,
    /// Where files were restored.
    pub sandbox: PathBuf,
    /// The sandbox was left in place (`--keep`).
    pub kept: bool,
    /// Scratch databases this drill created and dropped (or kept).
    pub scratch_databases: Vec<String>,
    /// The recovery as rehearsed: choices, timeline, measured times.
    pub recovery: RecoveryReport,
}

/// Drops this drill's scratch databases and removes its sandbox when it
/// goes out of scope, whatever happened before.
struct Cleanup {
    server: Option<ConnInfo>,
    stamp: String,
    sandbox: PathBuf,
    keep: bool,
    done: bool,
    /// What was cleaned (or kept), for the report.
    databases: Vec<String>,
    notes: Vec<String>,
}

impl Cleanup {
    fn run(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        if let Some(info) = &self.server {
            let suffix = format!("_drill_{}", self.stamp);
            let pg = match Pg::connect(
                &info.with_db("postgres"),
                crate::ops::database::CONNECT_TIMEOUT,
            ) {
                Ok(pg) => Some(pg),
                Err(e) => {
                    // Then the drill could not have created any either,
                    // unless the server went away during it.
                    self.notes.push(format!(
                        "could not connect to {} to look for scratch databases *{suffix} ({}); if any exist, drop them by hand",
                        info.server(),
                        e.message
                    ));
                    None
                }
            };
            let dropped = pg.map(|pg| -> crate::error::Result<Vec<String>> {
                let names: Vec<String> = pg
                    .list_databases()?
                    .into_iter()
                    .filter(|n| n.ends_with(&suffix))
                    .collect();
                for n in &names {
                    if !self.keep {
                        pg.drop_database(n)?;
                    }
                }
                Ok(names)
            });
            match dropped {
                None => {}
                Some(Ok(names)) => {
                    for n in &names {
                        self.notes.push(if self.keep {
                            format!("scratch database {n} kept (--keep): drop it when done")
                        } else {
                            format!("scratch database {n} dropped")
                        });
                    }
                    self.databases = names;
                }
                Some(Err(e)) => self.notes.push(format!(
                    "FAILED to drop the scratch databases *{suffix} on {}: {}; drop them by hand",
                    info.server(),
                    e.message
                )),
            }
        }
        if self.keep {
            self.notes.push(format!(
                "sandbox {} kept (--keep): remove it when done",
                self.sandbox.display()
            ));
        } else {
            match crate::storage::local::remove_tree(&self.sandbox) {
                Ok(()) => self
                    .notes
                    .push(format!("sandbox {} removed", self.sandbox.display())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => self.notes.push(format!(
                    "FAILED to remove the sandbox {}: {e}",
                    self.sandbox.display()
                )),
            }
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.run();
    }
}

/// Run a drill of the newest consistent recovery point at or before `at`.
pub fn run(
    engine: &Engine,
    at: Option<DateTime<Utc>>,
    keep: bool,
    face: &dyn Progress,
    faces: &(dyn Fn(BackupType) -> Box<dyn Progress> + Sync),
    cancel: &Cancel,
) -> Result<DrillReport> {
    let repo = engine.config.repository.path.clone();
    let job = Job::start(
        engine,
        JobKind::Drill,
        &repo.display().to_string(),
        face,
        cancel,
    )?;
    let result = drill(engine, &job, at, keep, faces, cancel);
    let outcome = crate::ops::recover::runbook_outcome(
        &job,
        result.as_ref().map(|r| (r.ok, &r.recovery)),
        "the drill",
        "read the drill report; fix the cause and run `lifeboat drill` again",
    );
    job.finish(&outcome, 0);
    result
}

fn drill(
    engine: &Engine,
    job: &Job,
    at: Option<DateTime<Utc>>,
    keep: bool,
    faces: &(dyn Fn(BackupType) -> Box<dyn Progress> + Sync),
    cancel: &Cancel,
) -> Result<DrillReport> {
    // One drill at a time: its scratch names are per second.
    job.acquire("recovery drill")?;
    let stamp = Utc::now().format("%Y%m%d_%H%M%S").to_string();
    let sandbox = engine
        .config
        .catalog
        .path
        .parent()
        .unwrap_or(Path::new("."))
        .join("drills")
        .join(&stamp);
    if sandbox.exists() {
        return Err(Error::refused(format!(
            "drill sandbox {} already exists",
            sandbox.display()
        ))
        .hint("a drill started in the same second left it; remove it and run again"));
    }
    crate::storage::local::create_dir_all_private(&sandbox)?;
    let server = match engine.config.sources.database.url.as_deref() {
        Some(url) => Some(ConnInfo::parse(url)?),
        None => None,
    };
    let mut cleanup = Cleanup {
        server,
        stamp: stamp.clone(),
        sandbox: sandbox.clone(),
        keep,
        done: false,
        databases: Vec::new(),
        notes: Vec::new(),
    };
    job.log(
        "info",
        &format!(
            "drill into sandbox {} and scratch databases *_drill_{stamp}",
            sandbox.display()
        ),
    );
    let dest = Destination::Sandbox {
        dir: sandbox.clone(),
        stamp: stamp.clone(),
    };
    let opts = recover::Options {
        at,
        dry_run: false,
        yes: false,
        dest: &dest,
        parent_job: Some(job.id),
        // A drill restores into a sandbox: the live app is never touched.
        app: crate::ops::app::AppControl::Leave,
    };
    let recovered = recover::execute(
        &engine.config,
        &engine.config.repository.path,
        &opts,
        job,
        faces,
        cancel,
    );
    job.phase("cleaning up the sandbox and scratch databases");
    cleanup.run();
    let mut recovery = recovered?;
    for (t, secs) in &recovery.restore_seconds {
        job.log("info", &format!("measured: restore {t} took {secs:.1}s"));
    }
    job.log(
        "info",
        &format!(
            "measured: total recovery {:.1}s; data-loss window {}",
            recovery.recovery_seconds,
            recovery
                .data_loss_seconds
                .map(|s| format!("{s}s"))
                .unwrap_or_else(|| "unknown".into())
        ),
    );
    recovery.notes.extend(cleanup.notes.iter().cloned());
    if cleanup.notes.iter().any(|n| n.starts_with("FAILED")) {
        recovery.ok = false;
    }
    // The saved report gets the cleanup notes too.
    if let Some(path) = &recovery.report_file {
        crate::storage::local::write_atomic(path, recover::markdown(&recovery).as_bytes())?;
    }
    Ok(DrillReport {
        job_id: job.id,
        ok: recovery.ok,
        sandbox,
        kept: keep,
        scratch_databases: cleanup.databases.clone(),
        recovery,
    })
}
