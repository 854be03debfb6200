//! Requests: what a job asks for, as data, so that it can wait in the queue.
//!
//! Every operation that does work (backup, verify, restore, recover, drill,
//! prune, key rotation) is a [`JobRequest`]. A verb run directly (`lifeboat
//! backup --type filesystem`), the same verb queued (`... --queue`, run
//! later by `lifeboat worker`) and work the console starts (queued, then
//! run by a `lifeboat worker --job ID` process of its own) go through one
//! function, [`execute`]: the CLI builds a [`JobRequest`] from its flags
//! and either executes it now or stores it as JSON in a `queued` job row.
//! A worker claims the row, parses the request and calls [`execute`] with the
//! claimed job id on the engine ([`Engine::claimed_job`]), so the operation's
//! own job takes over that row: same heartbeat, lease, cancel and resource
//! locks as a direct run, and no second code path to drift.
//!
//! A request is checked when it is queued (bad names, unconfigured types,
//! unknown backups fail at once, in front of the operator) and again when it
//! runs, because the world may have changed in between (a source directory
//! removed, an artifact deleted): then the job fails with the operation's own
//! error, and the worker moves on.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::archive::manifest::BackupType;
use crate::catalog::JobKind;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ops::backup::{self, BackupReport, BackupRequest};
use crate::ops::copies::{self, CopyReport};
use crate::ops::drill::{self, DrillReport};
use crate::ops::full::{self, FullReport};
use crate::ops::keys::{self, RotateReport};
use crate::ops::prune::{self, PruneReport};
use crate::ops::recover::{self, RecoveryReport};
use crate::ops::restore::{self, AnyRestoreReport, RestoreRequest};
use crate::ops::select::{self, Selector};
use crate::ops::verify::{self, VerifyReport};
use crate::ops::{database, Engine, Progress};
use crate::Cancel;

/// A verb and its arguments: what a queued job will do. Stored as JSON in
/// the job row, e.g. `{"verb":"backup","type":"database","all":false,"name":null,"full":false}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verb", rename_all = "snake_case")]
pub enum JobRequest {
    /// `lifeboat backup`: one type, or every configured type (`all`).
    Backup {
        #[serde(rename = "type", default)]
        backup_type: Option<BackupType>,
        #[serde(default)]
        all: bool,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        full: bool,
    },
    /// `lifeboat verify`: a backup id, or the absolute path of an artifact.
    Verify {
        target: String,
        #[serde(default)]
        deep: bool,
        /// Read the backup from this copy target, not the repository.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
    },
    /// `lifeboat restore`: the request as the CLI's flags make it.
    Restore(RestoreRequest),
    /// `lifeboat recover --dir DIR --yes`: the whole runbook over the live
    /// system (a plan, `--dry-run`, is read-only and never queued).
    Recover {
        dir: PathBuf,
        #[serde(default)]
        at: Option<DateTime<Utc>>,
        #[serde(default)]
        yes: bool,
        /// Who stops and starts the app (`--app-stopped`; the console's
        /// wizard does it itself).
        #[serde(
            default,
            skip_serializing_if = "crate::ops::app::AppControl::is_default"
        )]
        app: crate::ops::app::AppControl,
    },
    /// `lifeboat drill`.
    Drill {
        #[serde(default)]
        at: Option<DateTime<Utc>>,
        #[serde(default)]
        keep: bool,
    },
    /// `lifeboat prune --yes`: delete what the retention policy lets go.
    Prune {
        #[serde(default)]
        force: bool,
    },
    /// `lifeboat key rotate`.
    KeyRotate,
    /// `lifeboat copy [ID] [--to NAME] [--verify]`: send copies to targets.
    Copy {
        #[serde(default)]
        id: Option<String>,
        #[serde(default)]
        to: Option<String>,
        #[serde(default)]
        verify: bool,
    },
}

/// What an executed request produced.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum JobOutcome {
    /// One backup per database, or the one backup of a tree type.
    Backups(Vec<BackupReport>),
    /// `backup --all`.
    Full(FullReport),
    Verify(VerifyReport),
    Restore(AnyRestoreReport),
    Recover(RecoveryReport),
    Drill(DrillReport),
    Prune(PruneReport),
    KeyRotate(RotateReport),
    Copy(CopyReport),
}

impl JobOutcome {
    /// What the job did, in words (see [`crate::ops::text`]).
    pub fn describe(&self) -> Vec<String> {
        use crate::ops::text;
        match self {
            JobOutcome::Backups(r) => r.iter().flat_map(text::backup).collect(),
            JobOutcome::Full(r) => text::full(r),
            JobOutcome::Verify(r) => text::verify(r),
            JobOutcome::Restore(AnyRestoreReport::Tree(r)) => text::restore(r),
            JobOutcome::Restore(AnyRestoreReport::Database(r)) => text::db_restore(r),
            JobOutcome::Recover(r) => text::recovery(r),
            JobOutcome::Drill(r) => text::drill(r),
            JobOutcome::Prune(r) => text::prune(r),
            JobOutcome::KeyRotate(r) => text::rotate(r),
            JobOutcome::Copy(r) => text::copies(r),
        }
    }

    /// The report as `--json` prints it (one backup's report alone), and as
    /// a worker records it in the job row.
    pub fn report_json(&self) -> serde_json::Value {
        match self {
            JobOutcome::Backups(r) if r.len() == 1 => serde_json::to_value(&r[0]),
            other => serde_json::to_value(other),
        }
        .expect("reports serialize")
    }

    /// False when the operation ran but found a problem (a failed type in
    /// `backup --all`, a verification that failed).
    pub fn ok(&self) -> bool {
        match self {
            JobOutcome::Backups(r) => r.iter().all(|b| b.copy_error.is_none()),
            JobOutcome::Full(r) => {
                r.ok && r
                    .types
                    .iter()
                    .flat_map(|t| &t.backups)
                    .all(|b| b.copy_error.is_none())
            }
            JobOutcome::Verify(r) => r.ok,
            JobOutcome::Restore(_) | JobOutcome::Prune(_) => true,
            JobOutcome::Recover(r) => r.ok,
            JobOutcome::Drill(r) => r.ok,
            JobOutcome::KeyRotate(r) => r.failed.is_empty(),
            JobOutcome::Copy(r) => r.ok,
        }
    }
}

/// A job put in the queue.
#[derive(Debug, Clone, Serialize)]
pub struct QueuedJob {
    pub job_id: i64,
    pub kind: JobKind,
    pub target: String,
    pub state: crate::catalog::JobState,
    pub request: JobRequest,
}

impl JobRequest {
    /// The job row's kind and target, as the operation will name them.
    pub fn kind_and_target(&self, config: &Config) -> (JobKind, String) {
        match self {
            JobRequest::Backup { all: true, .. } => (
                JobKind::BackupAll,
                config
                    .configured_types()
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join("+"),
            ),
            JobRequest::Backup { backup_type, .. } => (
                JobKind::Backup,
                backup_type.map(|t| t.as_str()).unwrap_or("?").into(),
            ),
            JobRequest::Verify { target, .. } => (JobKind::Verify, target.clone()),
            JobRequest::Restore(r) => (
                if r.dry_run {
                    JobKind::RestorePlan
                } else {
                    JobKind::Restore
                },
                match &r.selector {
                    Selector::Id(id) => id.clone(),
                    Selector::File(f) => f.display().to_string(),
                    Selector::At(t) => format!(
                        "{} at {}",
                        r.backup_type.map(|t| t.as_str()).unwrap_or("?"),
                        t.to_rfc3339()
                    ),
                    Selector::Latest => format!(
                        "latest {}",
                        r.backup_type.map(|t| t.as_str()).unwrap_or("?")
                    ),
                },
            ),
            JobRequest::Recover { dir, .. } => (JobKind::Recover, dir.display().to_string()),
            JobRequest::Drill { .. } => {
                (JobKind::Drill, config.repository.path.display().to_string())
            }
            JobRequest::Prune { .. } => (JobKind::Prune, "repository".into()),
            JobRequest::KeyRotate => (JobKind::KeyRotate, "keys".into()),
            JobRequest::Copy { id, to, .. } => (
                JobKind::Copy,
                match (id, to) {
                    (Some(id), Some(t)) => format!("{id} to {t}"),
                    (Some(id), None) => id.clone(),
                    (None, Some(t)) => format!("missing to {t}"),
                    (None, None) => "missing".into(),
                },
            ),
        }
    }

    /// The command line that does the same now, for people ("lifeboat
    /// backup --type filesystem --name nightly"): what a face shows for a
    /// queued request, and what an operator can type instead.
    pub fn command_line(&self) -> String {
        let mut w = Words(vec!["lifeboat".into()]);
        let time = |t: &Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339());
        match self {
            JobRequest::Backup {
                backup_type,
                all,
                name,
                full,
            } => {
                w.verb("backup");
                w.opt("type", backup_type.map(|t| t.as_str().to_string()));
                w.flag("all", *all);
                w.opt("name", name.clone());
                w.flag("full", *full);
            }
            JobRequest::Verify { target, deep, from } => {
                w.verb("verify");
                w.value(target);
                w.flag("deep", *deep);
                w.opt("from", from.clone());
            }
            JobRequest::Restore(r) => {
                w.verb("restore");
                w.opt("type", r.backup_type.map(|t| t.as_str().to_string()));
                match &r.selector {
                    Selector::Id(id) => w.opt("id", Some(id.clone())),
                    Selector::File(f) => w.opt("file", Some(f.display().to_string())),
                    Selector::At(t) => w.opt("at", Some(t.to_rfc3339())),
                    Selector::Latest => {}
                }
                w.opt("target", r.target.as_ref().map(|t| t.display().to_string()));
                w.opt("target-db", r.target_db.clone());
                w.flag("in-place", r.in_place);
                w.flag("dry-run", r.dry_run);
                w.flag("yes", r.yes);
                w.flag("no-owner", r.no_owner);
                w.flag("update-roles", r.update_roles);
                w.flag("check-content", r.check_content);
                w.opt("jobs", (r.jobs != 1).then(|| r.jobs.to_string()));
                w.opt("role", r.role.clone());
                w.opt("from", r.from.clone());
                w.flag(
                    "app-stopped",
                    r.app == crate::ops::app::AppControl::AlreadyStopped,
                );
            }
            JobRequest::Recover { dir, at, yes, app } => {
                w.verb("recover");
                w.opt("dir", Some(dir.display().to_string()));
                w.opt("at", time(at));
                w.flag("yes", *yes);
                w.flag(
                    "app-stopped",
                    *app == crate::ops::app::AppControl::AlreadyStopped,
                );
            }
            JobRequest::Drill { at, keep } => {
                w.verb("drill");
                w.opt("at", time(at));
                w.flag("keep", *keep);
            }
            JobRequest::Prune { force } => {
                w.verb("prune");
                w.flag("yes", true);
                w.flag("force", *force);
            }
            JobRequest::KeyRotate => w.verb("key rotate"),
            JobRequest::Copy { id, to, verify } => {
                w.verb("copy");
                if let Some(id) = id {
                    w.value(id);
                }
                w.opt("to", to.clone());
                w.flag("verify", *verify);
            }
        }
        w.0.join(" ")
    }

    /// Check what can be checked before the job runs, and make the request
    /// mean the same thing in a worker started elsewhere (a relative
    /// artifact path becomes absolute against `cwd`).
    pub fn checked(self, engine: &Engine, cwd: &Path) -> Result<JobRequest> {
        match self {
            JobRequest::Backup {
                backup_type,
                all,
                name,
                full,
            } => {
                backup::validate_name(name.as_deref())?;
                let configured = engine.config.configured_types();
                match (backup_type, all) {
                    (Some(_), true) => {
                        return Err(Error::usage("a backup request names a type and --all")
                            .hint("use either --type TYPE or --all"))
                    }
                    (None, false) => {
                        return Err(Error::usage("a backup request needs a type or --all")
                            .hint("use --type database|filesystem|configuration, or --all"))
                    }
                    (None, true) if configured.is_empty() => {
                        return Err(Error::usage("nothing is configured to back up").hint(
                            "configure [sources.database], [sources.filesystem] or [sources.configuration]",
                        ))
                    }
                    (Some(BackupType::State), _) => {
                        return Err(Error::usage(
                            "state backups are not available in this version of lifeboat",
                        )
                        .hint("supported: --type database, filesystem, configuration"))
                    }
                    (Some(t @ (BackupType::Database | BackupType::Filesystem)), _)
                        if !configured.contains(&t) =>
                    {
                        return Err(Error::usage(format!(
                            "nothing is configured for {t} backups"
                        ))
                        .hint(format!("configure [sources.{t}] first (see `lifeboat config`)")))
                    }
                    _ => {}
                }
                Ok(JobRequest::Backup {
                    backup_type,
                    all,
                    name,
                    full,
                })
            }
            JobRequest::Restore(mut r) => {
                if let Selector::File(p) = &r.selector {
                    r.selector = Selector::File(crate::config::normalize(p, cwd));
                }
                r.target = r.target.map(|t| crate::config::normalize(&t, cwd));
                if r.in_place && !r.yes && !r.dry_run {
                    return Err(Error::usage(
                        "a queued restore in place replaces live data without asking again",
                    )
                    .hint("look at it with --dry-run first, then queue it with --yes"));
                }
                if !(1..=64).contains(&r.jobs) {
                    return Err(Error::usage(format!(
                        "a restore runs with 1 to 64 parallel jobs, not {}",
                        r.jobs
                    ))
                    .hint("set --jobs N in that range"));
                }
                if r.backup_type.is_none()
                    && matches!(r.selector, Selector::Latest | Selector::At(_))
                {
                    return Err(Error::usage(
                        "restoring the latest backup, or one at a time, needs a type",
                    )
                    .hint("add --type database|filesystem|configuration"));
                }
                // The backup must exist now; whether it is intact is the job's question.
                select::resolve_from(engine, r.backup_type, &r.selector, r.from.as_deref())?;
                Ok(JobRequest::Restore(r))
            }
            JobRequest::Recover { dir, at, yes, app } => {
                if !yes {
                    return Err(Error::usage(
                        "a queued recovery restores over the live system without asking again",
                    )
                    .hint("look at the plan with `lifeboat recover --dry-run`, then queue it with --yes"));
                }
                let dir = std::fs::canonicalize(crate::config::normalize(&dir, cwd))
                    .map_err(|e| Error::io("cannot open backup directory", &dir, e))?;
                Ok(JobRequest::Recover { dir, at, yes, app })
            }
            JobRequest::KeyRotate => {
                engine.require_keyring("rotating needs the current key file")?;
                Ok(JobRequest::KeyRotate)
            }
            r @ (JobRequest::Drill { .. } | JobRequest::Prune { .. }) => Ok(r),
            JobRequest::Copy { id, to, verify } => {
                if engine.config.targets.is_empty() {
                    return Err(Error::usage("no copy targets are configured").hint(
                        "add a [[targets]] entry (s3, gcs, azure or local) to the configuration; see config.example.toml",
                    ));
                }
                if let Some(t) = &to {
                    engine.config.target(t)?;
                }
                if let Some(id) = &id {
                    select::resolve(engine, None, &Selector::Id(id.clone()))?;
                }
                Ok(JobRequest::Copy { id, to, verify })
            }
            JobRequest::Verify { target, deep, from } => {
                let target = match verify_selector(&target) {
                    Selector::File(p) => crate::config::normalize(&p, cwd)
                        .to_string_lossy()
                        .into_owned(),
                    _ => target,
                };
                // The backup must exist now; whether it is intact is the job's question.
                select::resolve_from(engine, None, &verify_selector(&target), from.as_deref())?;
                Ok(JobRequest::Verify { target, deep, from })
            }
        }
    }

    /// Parse a stored request; a row written by something else (or damaged)
    /// gets an error that says which job and what to do.
    pub fn from_json(job_id: i64, json: &str) -> Result<JobRequest> {
        serde_json::from_str(json).map_err(|e| {
            // Both may quote the whole (possibly huge) row back: keep them short.
            let cause: String = e.to_string().chars().take(200).collect();
            let shown: String = json.chars().take(200).collect();
            Error::usage(format!(
                "the request of queued job {job_id} cannot be read ({cause}): {shown}"
            ))
            .hint(
                "queue the work again (the verb with --queue, e.g. `lifeboat backup --type database --queue`)",
            )
        })
    }
}

/// A command line being written, for people (values quoted for a shell).
struct Words(Vec<String>);

impl Words {
    fn verb(&mut self, verb: &str) {
        self.0.push(verb.to_string());
    }
    fn value(&mut self, v: &str) {
        let plain = !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:+=@,".contains(c));
        self.0.push(if plain {
            v.to_string()
        } else {
            format!("'{}'", v.replace('\'', r"'\''"))
        });
    }
    /// `--name VALUE` when set.
    fn opt(&mut self, name: &str, value: Option<String>) {
        if let Some(v) = value {
            self.0.push(format!("--{name}"));
            self.value(&v);
        }
    }
    /// `--name` when on.
    fn flag(&mut self, name: &str, on: bool) {
        if on {
            self.0.push(format!("--{name}"));
        }
    }
}

/// Put a request in the queue after checking it; returns the queued job.
pub fn enqueue(engine: &Engine, request: JobRequest, cwd: &Path) -> Result<QueuedJob> {
    let request = request.checked(engine, cwd)?;
    let (kind, target) = request.kind_and_target(&engine.config);
    let json = serde_json::to_string(&request).expect("requests serialize");
    let job_id = engine
        .catalog
        .enqueue_job(&kind, &target, &engine.host, &json)?;
    engine.audit("enqueue", &format!("job {job_id}"), "queued", &json)?;
    Ok(QueuedJob {
        job_id,
        kind,
        target,
        state: crate::catalog::JobState::Queued,
        request,
    })
}

/// Run a request now, as a job. The one path for the CLI's direct verbs and
/// for workers (which set [`Engine::claimed_job`] first). `faces` gives each
/// type of `backup --all` its own progress.
pub fn execute(
    engine: &Engine,
    request: &JobRequest,
    face: &dyn Progress,
    faces: &(dyn Fn(BackupType) -> Box<dyn Progress> + Sync),
    cancel: &Cancel,
) -> Result<JobOutcome> {
    let mut outcome = execute_only(engine, request, face, faces, cancel)?;
    if matches!(request, JobRequest::Backup { .. }) {
        copies_after_backup(engine, &mut outcome, face, cancel);
    }
    Ok(outcome)
}

/// Run a request, without the copies that follow a backup.
fn execute_only(
    engine: &Engine,
    request: &JobRequest,
    face: &dyn Progress,
    faces: &(dyn Fn(BackupType) -> Box<dyn Progress> + Sync),
    cancel: &Cancel,
) -> Result<JobOutcome> {
    match request {
        JobRequest::Backup {
            all: true,
            name,
            full,
            ..
        } => full::run(engine, name.as_deref(), *full, face, faces, cancel).map(JobOutcome::Full),
        JobRequest::Backup {
            backup_type: Some(BackupType::Database),
            name,
            ..
        } => database::backup_all(engine, name.as_deref(), face, cancel).map(JobOutcome::Backups),
        JobRequest::Backup {
            backup_type: Some(t),
            name,
            full,
            ..
        } => {
            let req = BackupRequest {
                backup_type: *t,
                name: name.clone(),
                force_full: *full,
            };
            backup::run(engine, &req, face, cancel).map(|r| JobOutcome::Backups(vec![r]))
        }
        JobRequest::Backup {
            backup_type: None, ..
        } => Err(Error::usage("a backup request needs a type or --all")
            .hint("use --type database|filesystem|configuration, or --all")),
        JobRequest::Verify { target, deep, from } => verify::run(
            engine,
            &verify_selector(target),
            *deep,
            from.as_deref(),
            face,
            cancel,
        )
        .map(JobOutcome::Verify),
        JobRequest::Restore(r) => restore::run(engine, r, face, cancel).map(JobOutcome::Restore),
        JobRequest::Recover { dir, at, yes, app } => {
            recover::run_job(engine, dir, *at, *yes, *app, face, faces, cancel)
                .map(JobOutcome::Recover)
        }
        JobRequest::Drill { at, keep } => {
            drill::run(engine, *at, *keep, face, faces, cancel).map(JobOutcome::Drill)
        }
        JobRequest::Prune { force } => {
            prune::run(engine, *force, crate::ops::now(), face, cancel).map(JobOutcome::Prune)
        }
        JobRequest::KeyRotate => keys::rotate(engine, face, cancel).map(JobOutcome::KeyRotate),
        JobRequest::Copy { id, to, verify } => {
            let req = copies::CopyRequest {
                id: id.clone(),
                to: to.clone(),
                verify: *verify,
            };
            copies::run(engine, &req, face, cancel).map(JobOutcome::Copy)
        }
    }
}

/// Right after a backup job: copy each new backup to the targets its
/// type's policy names, as a `copy` job of its own. A failed copy does not
/// undo the backup (it is committed locally); it is recorded in the report
/// (`copy_error`), the command's exit code, the catalog and the job list,
/// and the daemon retries it.
pub(crate) fn copies_after_backup(
    engine: &Engine,
    outcome: &mut JobOutcome,
    face: &dyn Progress,
    cancel: &Cancel,
) {
    let reports: Vec<&mut crate::ops::backup::BackupReport> = match outcome {
        JobOutcome::Backups(r) => r.iter_mut().collect(),
        JobOutcome::Full(f) => f
            .types
            .iter_mut()
            .flat_map(|t| t.backups.iter_mut())
            .collect(),
        _ => return,
    };
    for r in reports {
        if !r.status.is_good() || engine.config.copy_targets(r.backup_type).is_empty() {
            continue;
        }
        let req = copies::CopyRequest {
            id: Some(r.id.clone()),
            to: None,
            verify: false,
        };
        match copies::run(engine, &req, face, cancel) {
            Ok(rep) => r.copies = rep.copies,
            Err(e) => {
                r.copies = engine
                    .catalog
                    .copies_of(&r.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| copies::CopyOutcome {
                        backup_id: c.backup_id,
                        backup_type: r.backup_type,
                        target: c.target,
                        state: c.state,
                        bytes: c.bytes,
                        already_there: false,
                        seconds: 0.0,
                        error: c.error,
                    })
                    .collect();
                r.copy_error = Some(e.display_with_hint());
            }
        }
    }
}

/// A verify target is a backup id unless it names an existing file (or
/// looks like a path).
pub fn verify_selector(target: &str) -> Selector {
    let p = Path::new(target);
    if p.exists() || target.contains('/') {
        Selector::File(PathBuf::from(target))
    } else {
        Selector::Id(target.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_as_the_documented_json() {
        let r = JobRequest::Backup {
            backup_type: Some(BackupType::Database),
            all: false,
            name: None,
            full: false,
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"verb":"backup","type":"database","all":false,"name":null,"full":false}"#
        );
        assert_eq!(JobRequest::from_json(1, &json).unwrap(), r);
        // Older or hand-written rows may leave the flags out.
        assert_eq!(
            JobRequest::from_json(1, r#"{"verb":"verify","target":"fs-1"}"#).unwrap(),
            JobRequest::Verify {
                target: "fs-1".into(),
                deep: false,
                from: None,
            }
        );
    }

    #[test]
    fn unreadable_requests_name_the_job_and_the_way_out() {
        for bad in [
            "",
            "not json",
            r#"{"verb":"format-disk"}"#,
            r#"{"verb":"backup","type":"tapes"}"#,
            r#"{"verb":"verify"}"#,
        ] {
            let e = JobRequest::from_json(42, bad).unwrap_err();
            assert!(e.message.contains("queued job 42"), "{}", e.message);
            assert!(e.hint.as_deref().unwrap().contains("--queue"));
        }
        let long = format!(r#"{{"verb":"{}"}}"#, "x".repeat(5000));
        let e = JobRequest::from_json(7, &long).unwrap_err();
        assert!(e.message.len() < 600, "the stored text is shortened");
    }

    #[test]
    fn requests_read_as_the_command_line_that_does_the_same() {
        let backup = JobRequest::Backup {
            backup_type: Some(BackupType::Filesystem),
            all: false,
            name: Some("pre deploy".into()),
            full: true,
        };
        assert_eq!(
            backup.command_line(),
            "lifeboat backup --type filesystem --name 'pre deploy' --full"
        );
        let restore = JobRequest::Restore(RestoreRequest {
            backup_type: Some(BackupType::Database),
            selector: Selector::Id("db-1".into()),
            target: None,
            in_place: true,
            dry_run: false,
            yes: true,
            target_db: None,
            jobs: 4,
            no_owner: false,
            role: Some("it's".into()),
            update_roles: false,
            check_content: false,
            from: None,
            app: Default::default(),
        });
        assert_eq!(
            restore.command_line(),
            r"lifeboat restore --type database --id db-1 --in-place --yes --jobs 4 --role 'it'\''s'"
        );
        assert_eq!(
            JobRequest::Prune { force: false }.command_line(),
            "lifeboat prune --yes"
        );
        assert_eq!(JobRequest::KeyRotate.command_line(), "lifeboat key rotate");
    }

    #[test]
    fn verify_targets_are_ids_unless_they_look_like_paths() {
        assert!(matches!(
            verify_selector("fs-20261126-020000-abcd"),
            Selector::Id(_)
        ));
        assert!(matches!(
            verify_selector("repo/x.tar.zst"),
            Selector::File(_)
        ));
    }
}
