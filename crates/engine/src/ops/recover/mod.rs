//! Full disaster recovery from a backup directory alone.
//!
//! The runbook as code: read every manifest in the directory (no catalog
//! needed), choose for each type the newest point at or before `--at` whose
//! chain is complete and whose bytes verify (falling back to an older point,
//! and saying so, when the newest is damaged), show the plan, then restore
//! configuration first, database and files in parallel, verify each, and
//! write a recovery report with the timeline, the time the restore took
//! and the data-loss window.
//!
//! The time to restore is not the recovery-time objective's figure: the
//! outage runs from stopping the app to starting it again, which only the
//! operator's runbook sees (the console's recovery wizard measures it and
//! reports it as the RTO). For the same reason the engine cannot say the
//! app is back: the wizard checks the app's health and records the answer
//! here ([`record_app_health`]), in the report and in the audit log. Where
//! the backups came from, when a copy target filled the repository first,
//! is recorded the same way ([`record_source`]).

mod record;

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::archive::manifest::{BackupKind, BackupType};
use crate::catalog::JobKind;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ops::app::AppControl;
use crate::ops::integrity::check_integrity;
use crate::ops::jobs::Job;
use crate::ops::restore::{AnyRestoreReport, RestoreRequest};
use crate::ops::select::{self, Artifact, Selector};
use crate::ops::{Engine, Progress};
use crate::storage::local::Repository;
use crate::Cancel;

pub use record::{record_app_health, record_source, RecoverySource};

/// The point chosen for one type.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    #[serde(rename = "type")]
    pub backup_type: BackupType,
    pub id: String,
    pub file: PathBuf,
    pub created_at: DateTime<Utc>,
    /// Ids applied, full first.
    pub chain: Vec<String>,
    /// Newer points that were passed over, and why.
    pub skipped: Vec<String>,
}

/// One phase of the recovery timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub name: String,
    pub started_at: DateTime<Utc>,
    pub seconds: f64,
    pub outcome: String,
}

/// Where a recovery writes: over the live system, or into a sandbox for a
/// drill. The runbook (plan, order, verification, report) is the same; only
/// the destinations differ, so a drill rehearses exactly what a recovery does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Original paths, and each database under its own name.
    Production,
    /// Files under `dir/<type>/`, each database as `<db>_drill_<stamp>`;
    /// nothing existing is ever overwritten.
    Sandbox { dir: PathBuf, stamp: String },
}

impl Destination {
    /// Name of the scratch database a drill restores `db` into (at most 63
    /// bytes, PostgreSQL's limit, by shortening the database part).
    pub fn drill_database(db: &str, stamp: &str) -> String {
        let suffix = format!("_drill_{stamp}");
        let room = 63usize.saturating_sub(suffix.len());
        let mut cut = db.len().min(room);
        while !db.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}{suffix}", &db[..cut])
    }
}

/// What a recovery did (or would do).
#[derive(Debug, Clone, Serialize)]
pub struct RecoveryReport {
    pub directory: PathBuf,
    pub at: DateTime<Utc>,
    pub dry_run: bool,
    pub ok: bool,
    pub started_at: DateTime<Utc>,
    pub choices: Vec<Choice>,
    /// Types with no usable backup.
    pub missing: Vec<String>,
    pub timeline: Vec<Phase>,
    /// Wall time of this run, from start to the end of verification: the
    /// time to restore (the app's outage, the RTO, is longer).
    pub recovery_seconds: f64,
    /// Time between the oldest chosen backup and the start of recovery.
    pub data_loss_seconds: Option<i64>,
    pub notes: Vec<String>,
    /// Where the Markdown report was saved.
    pub report_file: Option<PathBuf>,
    /// Wall time of each type's restore, in seconds.
    pub restore_seconds: Vec<(BackupType, f64)>,
    /// A drill: the sandbox directory the files went to (None: production).
    pub sandbox: Option<PathBuf>,
    /// What a recovery into production replaces, per chosen type ("filesystem:
    /// /srv/panel/uploads"): said before anything is touched. Empty for a
    /// drill, which overwrites nothing.
    pub overwrites: Vec<String>,
}

/// What restoring `c` in place replaces: the directories and files its
/// manifest names, or its database. Read from the manifest alone (no
/// server is asked), so a plan can say it before anything is touched.
fn overwrites(c: &Choice) -> String {
    let what =
        match Artifact::from_file(&c.file) {
            Err(e) => format!("cannot tell ({})", e.display_with_hint()),
            Ok(a) if c.backup_type == BackupType::Database => {
                match crate::ops::database::facts(&a) {
                Ok(f) => format!(
                    "the database '{}' (a new copy is loaded beside it and swapped in; the current one is kept under another name)",
                    f.database
                ),
                Err(e) => format!("cannot tell ({})", e.display_with_hint()),
            }
            }
            Ok(a) => {
                let roots = crate::ops::restore::restored_roots(&a);
                if roots.is_empty() {
                    "the paths its manifest names (none recorded)".to_string()
                } else {
                    format!(
                    "{} (files it holds are replaced after a safety copy; files it does not hold are left alone unless the backup records them as deleted)",
                    roots
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
                }
            }
        };
    format!("{}: {what}", c.backup_type)
}

/// Choose the recovery point of each type from the manifests in `dir`.
pub fn plan(
    dir: &Path,
    at: DateTime<Utc>,
    ring: Option<&crate::archive::keys::KeyRing>,
) -> Result<(Vec<Choice>, Vec<String>)> {
    let repo = Repository::open_existing(dir)?;
    let artifacts = select::scan(&repo)?;
    if artifacts.is_empty() {
        return Err(Error::not_found(format!("no backups (manifests) found in {}", dir.display()))
            .hint("point --dir at the backup directory (the repository root with database/, filesystem/, configuration/)"));
    }
    let mut choices = Vec::new();
    let mut missing = Vec::new();
    for t in [
        BackupType::Configuration,
        BackupType::Database,
        BackupType::Filesystem,
    ] {
        let mut candidates: Vec<&Artifact> = artifacts
            .iter()
            .filter(|a| a.manifest.backup_type == t && a.manifest.created_at <= at)
            .filter(|a| a.manifest.name.as_deref() != Some("pre_restore"))
            .collect();
        candidates.sort_by_key(|a| std::cmp::Reverse(a.manifest.created_at));
        if candidates.is_empty() {
            missing.push(format!(
                "{t}: no backup at or before {}",
                at.format("%Y-%m-%d %H:%M:%S UTC")
            ));
            continue;
        }
        let mut skipped = Vec::new();
        let mut chosen = None;
        for (i, a) in candidates.iter().enumerate() {
            // A backup whose last verification failed is not a recovery
            // point, whatever its hashes say now (the result travels with
            // the artifact, so this holds without the catalog too).
            if let Some(v) = crate::ops::verify::read_sidecar(&a.payload_path()) {
                if v.result != "ok" {
                    skipped.push(format!(
                        "{}: failed its last verification ({})",
                        a.manifest.id, v.result
                    ));
                    continue;
                }
            }
            let links = match select::chain(None, a) {
                Ok(l) => l,
                Err(e) if i == 0 && a.manifest.kind == BackupKind::Incremental => {
                    return Err(Error::refused(format!(
                        "cannot recover {t}: the newest {t} backup {} is incremental and its chain is broken: {}",
                        a.manifest.id, e.message
                    ))
                    .hint("bring back the missing parent artifact, or choose an earlier point with --at"));
                }
                Err(e) => {
                    skipped.push(format!("{}: {}", a.manifest.id, e.message));
                    continue;
                }
            };
            match links
                .iter()
                .try_for_each(|l| check_integrity(l, ring).map(|_| ()))
            {
                Ok(()) => {
                    chosen = Some(Choice {
                        backup_type: t,
                        id: a.manifest.id.clone(),
                        file: a.payload_path(),
                        created_at: a.manifest.created_at,
                        chain: links.iter().map(|l| l.manifest.id.clone()).collect(),
                        skipped: skipped.clone(),
                    });
                    break;
                }
                Err(e) => skipped.push(format!(
                    "{} does not verify ({}); falling back to the previous point",
                    a.manifest.id, e.message
                )),
            }
        }
        match chosen {
            Some(c) => choices.push(c),
            None => missing.push(format!("{t}: no usable backup ({})", skipped.join("; "))),
        }
    }
    Ok((choices, missing))
}

/// Run (or, with `dry_run`, only plan) a full recovery from `dir`.
#[allow(clippy::too_many_arguments)]
pub fn run(
    config: &Config,
    dir: &Path,
    at: Option<DateTime<Utc>>,
    dry_run: bool,
    yes: bool,
    face: &dyn Progress,
    faces: &(dyn Fn(BackupType) -> Box<dyn Progress> + Sync),
    cancel: &Cancel,
) -> Result<RecoveryReport> {
    let dest = Destination::Production;
    let opts = Options {
        at,
        dry_run,
        yes,
        dest: &dest,
        parent_job: None,
        app: AppControl::Manage,
    };
    execute(config, dir, &opts, face, faces, cancel)
}

/// A recovery over the live system, as one `recover` job (its restores are
/// the job's children), for the CLI's `recover --yes` and for a worker that
/// claimed a queued recovery: `engine` holds the catalog the job row lives
/// in (and, for a worker, the claimed row), `dir` the backups. A recovery
/// that restored less than everything ends the job `failed` but still
/// returns its report: the report is what the operator needs most then.
#[allow(clippy::too_many_arguments)]
pub fn run_job(
    engine: &Engine,
    dir: &Path,
    at: Option<DateTime<Utc>>,
    yes: bool,
    app: AppControl,
    face: &dyn Progress,
    faces: &(dyn Fn(BackupType) -> Box<dyn Progress> + Sync),
    cancel: &Cancel,
) -> Result<RecoveryReport> {
    if !yes {
        return Err(
            Error::refused("recovery restores every type in place, over the live system")
                .hint("look at the plan with --dry-run first, then run again with --yes"),
        );
    }
    let job = Job::start(
        engine,
        JobKind::Recover,
        &dir.display().to_string(),
        face,
        cancel,
    )?;
    let opts = Options {
        at,
        dry_run: false,
        yes,
        dest: &Destination::Production,
        parent_job: Some(job.id),
        app,
    };
    let result = execute(&engine.config, dir, &opts, &job, faces, cancel);
    let outcome = runbook_outcome(
        &job,
        result.as_ref().map(|r| (r.ok, r)),
        "the recovery",
        "read the recovery report; fix the cause and run the recovery again",
    );
    job.finish(&outcome, 0);
    result
}

/// How a runbook job (a recovery, a drill) ends: succeeded when everything
/// came back; cancelled when it was asked to stop; else failed, naming what
/// did not come back. The caller returns the report either way: it is what
/// the operator needs most when something failed.
pub(crate) fn runbook_outcome(
    job: &Job,
    result: std::result::Result<(bool, &RecoveryReport), &Error>,
    what: &str,
    hint: &str,
) -> Result<()> {
    match result {
        Ok((true, _)) => Ok(()),
        Ok(_) if job.cancel_flag().load(std::sync::atomic::Ordering::Relaxed) => {
            Err(Error::cancelled(format!(
                "{what} was cancelled before it had recovered everything; the report says what was"
            )))
        }
        Ok((false, r)) => Err(Error::integrity(format!(
            "{what} did not recover everything: {}",
            failures(r).join("; ")
        ))
        .hint(hint)),
        Err(e) => Err(Error::new(e.kind, e.message.clone())),
    }
}

/// What did not come back: the failed steps and the missing types.
fn failures(r: &RecoveryReport) -> Vec<String> {
    let mut v: Vec<String> = r
        .notes
        .iter()
        .filter(|n| n.starts_with("FAILED"))
        .cloned()
        .collect();
    v.extend(r.missing.iter().map(|m| format!("missing {m}")));
    if v.is_empty() {
        v.push("see the report".into());
    }
    v
}

/// How [`execute`] runs.
pub struct Options<'a> {
    /// Recovery point (default: now).
    pub at: Option<DateTime<Utc>>,
    pub dry_run: bool,
    /// Confirmation to restore over the live system (production only).
    pub yes: bool,
    pub dest: &'a Destination,
    /// Restore jobs become children of this job (a drill's).
    pub parent_job: Option<i64>,
    /// Production: who stops the app before and starts it after.
    pub app: AppControl,
}

/// The runbook: plan, restore configuration, then database and files in
/// parallel, verify, and write the Markdown report, into `opts.dest`.
pub fn execute(
    config: &Config,
    dir: &Path,
    opts: &Options,
    face: &dyn Progress,
    faces: &(dyn Fn(BackupType) -> Box<dyn Progress> + Sync),
    cancel: &Cancel,
) -> Result<RecoveryReport> {
    let run = Recovery::start(config, dir, opts, face, faces, cancel)?;
    let mut report = run.assess()?;
    if report.choices.is_empty() {
        return Err(Error::not_found(format!(
            "nothing to recover: {}",
            report.missing.join("; ")
        )));
    }
    if opts.dry_run {
        report.recovery_seconds = run.t0.elapsed().as_secs_f64();
        return Ok(report);
    }
    if !opts.yes && *opts.dest == Destination::Production {
        return Err(
            Error::refused("recovery restores every type in place, over the live system")
                .hint("look at the plan with --dry-run first, then run again with --yes"),
        );
    }
    let engine = run.restorer.open_engine(run.config.clone())?;
    let mut failures = Vec::new();
    let app = match opts.dest {
        Destination::Production => opts.app,
        Destination::Sandbox { .. } => AppControl::Leave,
    };
    run.stop_app(app, &mut report)?;
    run.restore_configuration(&engine, &mut report, &mut failures);
    run.restore_in_parallel(&mut report, &mut failures);
    run.verify(&engine, &mut report, &mut failures);
    run.start_app(app, &mut report, &mut failures);
    run.finish(&engine, report, &failures)
}

/// When a step of the runbook began: by the wall clock, for the report's
/// timeline, and by the monotonic clock, for how long it took.
#[derive(Clone, Copy)]
struct Began {
    at: DateTime<Utc>,
    clock: Instant,
}

impl Began {
    fn now() -> Began {
        Began {
            at: Utc::now(),
            clock: Instant::now(),
        }
    }

    fn seconds(&self) -> f64 {
        self.clock.elapsed().as_secs_f64()
    }

    /// The step as a phase of the timeline, measured up to now.
    fn phase(&self, name: &str, outcome: &str) -> Phase {
        Phase {
            name: name.to_string(),
            started_at: self.at,
            seconds: self.seconds(),
            outcome: outcome.to_string(),
        }
    }
}

/// One recovery under way, from the moment it started: the configuration
/// pointed at the backup directory (so every engine it opens reads the
/// backups there, whatever the repository setting says), the recovery
/// point, and the clocks the report's recovery time is measured by.
///
/// Each step of the runbook is a method, run in order by [`execute`]. Up to
/// the first restore, a step may end the run with an error (nothing has
/// been touched yet). From then on, a step that restores or verifies
/// records its outcome in the report's timeline and what failed in
/// `failures`, and the run goes on: one type that does not come back must
/// not keep the others from being tried, and the report is what the
/// operator needs most then. Only saving that report, or recording the run
/// in the audit log, can still fail the run after that.
struct Recovery<'a> {
    config: Config,
    /// The backup directory, canonical.
    dir: PathBuf,
    at: DateTime<Utc>,
    dry_run: bool,
    dest: &'a Destination,
    started_at: DateTime<Utc>,
    t0: Instant,
    face: &'a dyn Progress,
    faces: &'a (dyn Fn(BackupType) -> Box<dyn Progress> + Sync),
    restorer: Restorer<'a>,
}

impl<'a> Recovery<'a> {
    /// Start the clocks and point a copy of `config` at `dir`.
    fn start(
        config: &Config,
        dir: &Path,
        opts: &Options<'a>,
        face: &'a dyn Progress,
        faces: &'a (dyn Fn(BackupType) -> Box<dyn Progress> + Sync),
        cancel: &'a Cancel,
    ) -> Result<Recovery<'a>> {
        let started_at = Utc::now();
        let t0 = Instant::now();
        let canonical = std::fs::canonicalize(dir)
            .map_err(|e| Error::io("cannot open backup directory", dir, e))?;
        let mut config = config.clone();
        config.repository.path = canonical.clone();
        Ok(Recovery {
            config,
            dir: canonical,
            at: opts.at.unwrap_or(started_at),
            dry_run: opts.dry_run,
            dest: opts.dest,
            started_at,
            t0,
            face,
            faces,
            restorer: Restorer {
                dest: opts.dest,
                parent_job: opts.parent_job,
                cancel,
            },
        })
    }

    /// Read the backup directory and choose each type's recovery point
    /// ([`plan`]); the report starts from that plan. The key ring, when this
    /// machine has one, lets keyed backups be verified before they are
    /// chosen.
    fn assess(&self) -> Result<RecoveryReport> {
        self.face.phase("assessing the backup directory");
        let began = Began::now();
        let ring = if self.config.encryption.key_file.exists() {
            let mut ring = crate::archive::keys::KeyRing::load(&self.config.encryption.key_file)?;
            ring.accept_unauthenticated = self.config.encryption.accept_unauthenticated;
            Some(ring)
        } else {
            None
        };
        let (choices, missing) = plan(&self.dir, self.at, ring.as_ref())?;
        let assessed = began.phase(
            "assess and select recovery point",
            &format!(
                "{} type(s) chosen, {} missing",
                choices.len(),
                missing.len()
            ),
        );
        let mut notes = Vec::new();
        for c in &choices {
            for sk in &c.skipped {
                notes.push(format!("{}: passed over {sk}", c.backup_type));
            }
        }
        let data_loss_seconds = choices
            .iter()
            .map(|c| (self.started_at - c.created_at).num_seconds())
            .max();
        let replaced = match self.dest {
            Destination::Sandbox { .. } => Vec::new(),
            Destination::Production => choices.iter().map(overwrites).collect(),
        };
        Ok(RecoveryReport {
            directory: self.dir.clone(),
            at: self.at,
            dry_run: self.dry_run,
            ok: true,
            started_at: self.started_at,
            choices,
            missing,
            timeline: vec![assessed],
            recovery_seconds: 0.0,
            data_loss_seconds,
            notes,
            report_file: None,
            restore_seconds: Vec::new(),
            sandbox: match self.dest {
                Destination::Sandbox { dir, .. } => Some(dir.clone()),
                Destination::Production => None,
            },
            overwrites: replaced,
        })
    }

    /// Before anything is replaced: stop the app. A stop that fails ends
    /// the run here, with nothing touched.
    fn stop_app(&self, app: AppControl, report: &mut RecoveryReport) -> Result<()> {
        if app == AppControl::Manage && !self.config.app.configured() {
            report.notes.push(
                "no [app] commands are configured: stop the app before a recovery and start it after by hand".into(),
            );
            return Ok(());
        }
        let began = Began::now();
        let Some(s) = crate::ops::app::stop(&self.config.app, app, Some(&**self.restorer.cancel))
        else {
            return Ok(());
        };
        self.face.phase("stopping the app");
        report.timeline.push(began.phase(&s.name, &s.outcome));
        if !s.ok {
            return Err(Error::new(
                crate::error::ErrorKind::External,
                format!(
                    "the app could not be stopped, so nothing was restored: {}",
                    s.outcome
                ),
            )
            .hint(
                "stop it by hand, then run again with --app-stopped; or fix [app] stop_command",
            ));
        }
        Ok(())
    }

    /// After the restores and their verification: start the app and wait
    /// until it is healthy; after a failure, leave it stopped and say so.
    fn start_app(&self, app: AppControl, report: &mut RecoveryReport, failures: &mut Vec<String>) {
        if app == AppControl::Leave || (app == AppControl::Manage && !self.config.app.configured())
        {
            return;
        }
        if !failures.is_empty() {
            report.timeline.push(Began::now().phase(
                "start app",
                "not started: the recovery did not restore everything; start the app when the data is right",
            ));
            return;
        }
        self.face.phase("starting the app");
        let began = Began::now();
        for s in crate::ops::app::start_and_check(
            &self.config.app,
            app,
            Some(&**self.restorer.cancel),
            Some(&crate::ops::app::start_output_for(&self.config)),
        ) {
            report.timeline.push(began.phase(&s.name, &s.outcome));
            if !s.ok {
                failures.push(format!("app: {}: {}", s.name, s.outcome));
            }
        }
    }

    /// Configuration comes back first and alone, on this thread with the
    /// recovery's own engine and progress face, before the database and
    /// the files start.
    fn restore_configuration(
        &self,
        engine: &Engine,
        report: &mut RecoveryReport,
        failures: &mut Vec<String>,
    ) {
        let Some(c) = report
            .choices
            .iter()
            .find(|c| c.backup_type == BackupType::Configuration)
        else {
            return;
        };
        self.face.phase("restoring configuration");
        let began = Began::now();
        let result = self.restorer.restore(engine, c, self.face);
        report
            .restore_seconds
            .push((BackupType::Configuration, began.seconds()));
        match result {
            Ok(msg) => report
                .timeline
                .push(began.phase("restore configuration", &msg)),
            Err(e) => {
                report
                    .timeline
                    .push(began.phase("restore configuration", &format!("FAILED: {}", e.message)));
                failures.push(format!("configuration: {}", e.message));
            }
        }
    }

    /// Then the database and the files at once, each on its own thread with
    /// its own engine and progress face; the timeline gets one phase per
    /// type, all started when the parallel step did.
    fn restore_in_parallel(&self, report: &mut RecoveryReport, failures: &mut Vec<String>) {
        let parallel: Vec<&Choice> = report
            .choices
            .iter()
            .filter(|c| c.backup_type != BackupType::Configuration)
            .collect();
        if parallel.is_empty() {
            return;
        }
        self.face.phase("restoring database and files in parallel");
        let began = Began::now();
        let results = self
            .restorer
            .restore_each(&self.config, &parallel, self.faces);
        for (t, secs, r) in results {
            report.restore_seconds.push((t, secs));
            let outcome = match r {
                Ok(msg) => format!("{msg} ({secs:.1}s)"),
                Err(e) => {
                    failures.push(format!("{t}: {}", e.message));
                    format!("FAILED after {secs:.1}s: {}", e.display_with_hint())
                }
            };
            report
                .timeline
                .push(began.phase(&format!("restore {t}"), &outcome));
        }
    }

    /// Compare what came back with what was backed up. A type whose restore
    /// failed is not verified (its failure is already recorded); database
    /// row counts were checked by the restore itself.
    fn verify(&self, engine: &Engine, report: &mut RecoveryReport, failures: &mut Vec<String>) {
        self.face.phase("verifying");
        let began = Began::now();
        let mut checks = Vec::new();
        // Files are compared with the index. In a sandbox the configuration is
        // too; in place its captured environment was moved aside, so the tree
        // no longer matches the index by design.
        let tree_types: &[BackupType] = match self.dest {
            Destination::Production => &[BackupType::Filesystem],
            Destination::Sandbox { .. } => &[BackupType::Filesystem, BackupType::Configuration],
        };
        for &t in tree_types {
            let Some(c) = report.choices.iter().find(|c| c.backup_type == t) else {
                continue;
            };
            if failures.iter().any(|f| f.starts_with(t.as_str())) {
                continue;
            }
            let restored = match self.dest {
                Destination::Production => crate::sources::filesystem::Dest::InPlace,
                Destination::Sandbox { dir, .. } => {
                    crate::sources::filesystem::Dest::Under(dir.join(t.as_str()))
                }
            };
            match verify_files(engine, c, &restored) {
                Ok(msg) if t == BackupType::Filesystem => checks.push(msg),
                Ok(msg) => checks.push(format!("{t}: {msg}")),
                Err(e) => failures.push(format!("{t} verification: {}", e.message)),
            }
        }
        if report
            .choices
            .iter()
            .any(|c| c.backup_type == BackupType::Database)
            && !failures.iter().any(|f| f.starts_with("database"))
        {
            checks.push(
                "database row counts were compared with the manifest during the restore".into(),
            );
        }
        report.timeline.push(began.phase(
            "verify",
            &if checks.is_empty() {
                "nothing verified".into()
            } else {
                checks.join("; ")
            },
        ));
    }

    /// Judge the run, save the Markdown report beside the catalog and
    /// record the run in the audit log. The time to restore ends here,
    /// before the report is written: it measures the restore and its
    /// verification.
    fn finish(
        &self,
        engine: &Engine,
        mut report: RecoveryReport,
        failures: &[String],
    ) -> Result<RecoveryReport> {
        report.recovery_seconds = self.t0.elapsed().as_secs_f64();
        // A type that has no backup counts against the recovery only when this
        // machine's configuration says it should exist.
        let configured = self.config.configured_types();
        let missing_configured: Vec<&String> = report
            .missing
            .iter()
            .filter(|m| configured.iter().any(|t| m.starts_with(&format!("{t}:"))))
            .collect();
        report.ok = failures.is_empty() && missing_configured.is_empty();
        report
            .notes
            .extend(failures.iter().map(|f| format!("FAILED {f}")));
        let md = markdown(&report);
        let (prefix, action) = match self.dest {
            Destination::Production => ("recovery", "recover"),
            Destination::Sandbox { .. } => ("drill", "drill"),
        };
        let path = self
            .config
            .catalog
            .path
            .parent()
            .unwrap_or(Path::new("."))
            .join(format!(
                "{prefix}-{}.md",
                self.started_at.format("%Y%m%d_%H%M%S")
            ));
        crate::storage::local::write_atomic(&path, md.as_bytes())?;
        report.report_file = Some(path);
        engine.audit(
            action,
            &self.dir.display().to_string(),
            if report.ok { "succeeded" } else { "failed" },
            &format!(
                "time to restore {:.1}s; data-loss window {}s",
                report.recovery_seconds,
                report.data_loss_seconds.unwrap_or(0)
            ),
        )?;
        Ok(report)
    }
}

/// One type's restore on a parallel thread: the type, its wall time in
/// seconds, and the restore's one-line outcome.
type Restored = (BackupType, f64, Result<String>);

/// How each chosen point is restored: through the same
/// [`crate::ops::restore::run`] an operator would start by hand, with the
/// request shaped by the destination. Shared by the parallel restore
/// threads, so it holds nothing a thread cannot share (no progress face).
struct Restorer<'a> {
    dest: &'a Destination,
    /// The job the restores become children of.
    parent_job: Option<i64>,
    cancel: &'a Cancel,
}

impl Restorer<'_> {
    /// An engine over `config` whose restore jobs are children of the
    /// recovery's (or the drill's) job.
    fn open_engine(&self, config: Config) -> Result<Engine> {
        let mut e = Engine::open(config)?;
        e.parent_job = self.parent_job;
        Ok(e)
    }

    /// Restore `c` and say in one line what came back.
    fn restore(&self, engine: &Engine, c: &Choice, face: &dyn Progress) -> Result<String> {
        let req = self.request(engine, c)?;
        let r = crate::ops::restore::run(engine, &req, face, self.cancel)?;
        Ok(restored_summary(r))
    }

    /// Restore each of `choices` on its own thread, each with its own
    /// engine over `config` and its own progress face; the results come
    /// back in the order of `choices`.
    fn restore_each(
        &self,
        config: &Config,
        choices: &[&Choice],
        faces: &(dyn Fn(BackupType) -> Box<dyn Progress> + Sync),
    ) -> Vec<Restored> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = choices
                .iter()
                .map(|c| {
                    let config = config.clone();
                    scope.spawn(move || {
                        let t = Instant::now();
                        let face = faces(c.backup_type);
                        let r = self
                            .open_engine(config)
                            .and_then(|e| self.restore(&e, c, face.as_ref()));
                        (c.backup_type, t.elapsed().as_secs_f64(), r)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("restore thread"))
                .collect()
        })
    }

    /// The restore request for `c`. In place over production, confirmed
    /// (the recovery itself was); into a sandbox, never in place and never
    /// confirmed, so a restore there refuses rather than overwrites.
    fn request(&self, engine: &Engine, c: &Choice) -> Result<RestoreRequest> {
        let mut req = RestoreRequest {
            backup_type: Some(c.backup_type),
            selector: Selector::File(c.file.clone()),
            target: None,
            in_place: true,
            dry_run: false,
            yes: true,
            target_db: None,
            jobs: 1,
            no_owner: false,
            role: None,
            update_roles: false,
            check_content: false,
            from: None,
            app: crate::ops::app::AppControl::Leave,
        };
        if let Destination::Sandbox { dir, stamp } = self.dest {
            // Into the sandbox only, and refuse rather than overwrite.
            req.in_place = false;
            req.yes = false;
            if c.backup_type == BackupType::Database {
                // A drill proves the contents, not just that a restore ran
                // (files are checked against their hashes as they are
                // written anyway).
                req.check_content = true;
                let facts = crate::ops::database::facts(&Artifact::from_file(&c.file)?)?;
                req.target_db = Some(Destination::drill_database(&facts.database, stamp));
            } else {
                req.target = Some(dir.join(c.backup_type.as_str()));
            }
        } else if c.backup_type == BackupType::Database {
            // A fresh server has no database to swap: restore straight
            // into the database's own name.
            let a = Artifact::from_file(&c.file)?;
            let facts = crate::ops::database::facts(&a)?;
            if !crate::ops::database::database_exists(engine, &facts.database)? {
                req.in_place = false;
                req.target_db = Some(facts.database.clone());
            }
        }
        Ok(req)
    }
}

/// A restore's outcome in one line, for the timeline: what came back, what
/// was checked, and where anything it replaced was kept.
fn restored_summary(r: AnyRestoreReport) -> String {
    match r {
        AnyRestoreReport::Tree(t) => {
            let o = t.outcome.unwrap_or_default();
            format!(
                "{} files restored{}",
                o.files,
                t.safety_copy
                    .map(|s| format!(", replaced files kept in safety copy {s}"))
                    .unwrap_or_default()
            )
        }
        AnyRestoreReport::Database(d) => format!(
            "database {} restored, {} tables and {} rows match{}{}",
            d.target_database,
            d.tables_checked,
            d.rows_checked,
            d.contents_checked
                .map(|n| format!(
                    ", the contents of {n} tables, the sequences, large objects and database properties match the backup's digests"
                ))
                .unwrap_or_default(),
            d.kept_as
                .map(|k| format!(", previous kept as {k}"))
                .unwrap_or_default()
        ),
    }
}

/// Compare the restored files with the chosen backup's index.
fn verify_files(
    engine: &Engine,
    c: &Choice,
    restored: &crate::sources::filesystem::Dest,
) -> Result<String> {
    let a = Artifact::from_file(&c.file)?;
    let ring = if a.manifest.key.is_some() {
        Some(engine.require_keyring("the backup is keyed")?)
    } else {
        None
    };
    let dk = crate::ops::open_data_key(ring.as_ref(), &a.manifest, &a.manifest_path)?;
    let mut index = crate::ops::backup::open_index(&a.manifest, &a.manifest_path, dk.as_ref())?;
    let check = crate::sources::filesystem::verify_tree(&mut index, restored)?;
    if !check.problems.is_empty() {
        return Err(Error::integrity(format!(
            "{} of {} restored entries differ: {}",
            check.problems.len(),
            check.checked,
            check
                .problems
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    Ok(format!(
        "all {} restored file entries match the index",
        check.checked
    ))
}

/// The recovery report as Markdown.
pub fn markdown(r: &RecoveryReport) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "# {}: {}\n\n",
        if r.sandbox.is_some() {
            "Recovery drill report"
        } else {
            "Recovery report"
        },
        r.started_at.format("%Y-%m-%d %H:%M:%S UTC")
    ));
    if let Some(dir) = &r.sandbox {
        s.push_str(&format!(
            "- Drill: restored into the sandbox `{}` and scratch databases `<db>_drill_<time>`; production was not touched\n",
            dir.display()
        ));
    }
    s.push_str(&format!(
        "- Outcome: **{}**\n- Backup directory: `{}`\n- Recovery point requested: {}\n",
        if r.dry_run {
            "plan only (dry run)"
        } else if r.ok && r.sandbox.is_some() {
            "recovery rehearsed successfully"
        } else if r.ok {
            // The data, that is: whether the app is back is for its health
            // check to say (see `record_app_health`).
            "every type restored and verified"
        } else {
            "FAILED or incomplete"
        },
        r.directory.display(),
        r.at.format("%Y-%m-%d %H:%M:%S UTC")
    ));
    if !r.overwrites.is_empty() {
        s.push_str(&format!(
            "- {} in production:\n",
            if r.dry_run {
                "Would replace"
            } else {
                "Replaces"
            }
        ));
        for o in &r.overwrites {
            s.push_str(&format!("  - {o}\n"));
        }
    }
    if !r.dry_run {
        let took = if r.recovery_seconds < 60.0 {
            format!("{:.1}s", r.recovery_seconds)
        } else {
            crate::units::duration(r.recovery_seconds.round() as i64)
        };
        // Not the RTO: the app's outage (stopped to started) is longer,
        // and only the runbook around this run sees it.
        s.push_str(&format!(
            "- Time to restore (this run, assessment to verification{}): {took}\n",
            if r.sandbox.is_some() {
                ""
            } else {
                "; the app's outage is longer"
            }
        ));
        for (t, secs) in &r.restore_seconds {
            s.push_str(&format!("- Restore time, {t}: {secs:.1}s\n"));
        }
    }
    if let Some(l) = r.data_loss_seconds {
        s.push_str(&format!(
            "- Data-loss window (oldest chosen backup to start of recovery): {}\n",
            crate::units::duration(l)
        ));
    }
    s.push_str("\n## Recovery points\n\n| type | backup | created | chain |\n|---|---|---|---|\n");
    for c in &r.choices {
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            c.backup_type,
            c.id,
            c.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
            c.chain.join(" → ")
        ));
    }
    for m in &r.missing {
        s.push_str(&format!("\nMissing: {m}\n"));
    }
    if !r.timeline.is_empty() {
        s.push_str(
            "\n## Timeline\n\n| phase | started | duration | outcome |\n|---|---|---|---|\n",
        );
        for p in &r.timeline {
            s.push_str(&format!(
                "| {} | {} | {:.1}s | {} |\n",
                p.name,
                p.started_at.format("%H:%M:%S"),
                p.seconds,
                p.outcome.replace('|', "\\|")
            ));
        }
    }
    if !r.notes.is_empty() {
        s.push_str("\n## Notes\n\n");
        for n in &r.notes {
            s.push_str(&format!("- {n}\n"));
        }
    }
    s
}
