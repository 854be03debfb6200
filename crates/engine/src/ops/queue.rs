//! Requests: what a job asks for, as data, so that it can wait in the queue.
//!
//! A verb run directly (`lifeboat backup --type filesystem`) and the same
//! verb queued (`... --queue`, run later by `lifeboat worker`) go through
//! one function, [`execute`]: the CLI builds a [`JobRequest`] from its flags
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
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use crate::archive::manifest::BackupType;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ops::backup::{self, BackupReport, BackupRequest};
use crate::ops::full::{self, FullReport};
use crate::ops::select::{self, Selector};
use crate::ops::verify::{self, VerifyReport};
use crate::ops::{database, Engine, Progress};

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
}

impl JobOutcome {
    /// False when the operation ran but found a problem (a failed type in
    /// `backup --all`, a verification that failed).
    pub fn ok(&self) -> bool {
        match self {
            JobOutcome::Backups(_) => true,
            JobOutcome::Full(r) => r.ok,
            JobOutcome::Verify(r) => r.ok,
        }
    }
}

/// A job put in the queue.
#[derive(Debug, Clone, Serialize)]
pub struct QueuedJob {
    pub job_id: i64,
    pub kind: String,
    pub target: String,
    pub state: crate::catalog::JobState,
    pub request: JobRequest,
}

impl JobRequest {
    /// The job row's kind and target, as the operation will name them.
    pub fn kind_and_target(&self, config: &Config) -> (String, String) {
        match self {
            JobRequest::Backup { all: true, .. } => (
                "backup-all".into(),
                config
                    .configured_types()
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join("+"),
            ),
            JobRequest::Backup { backup_type, .. } => (
                "backup".into(),
                backup_type.map(|t| t.as_str()).unwrap_or("?").into(),
            ),
            JobRequest::Verify { target, .. } => ("verify".into(), target.clone()),
        }
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
            JobRequest::Verify { target, deep } => {
                let target = match verify_selector(&target) {
                    Selector::File(p) => crate::config::normalize(&p, cwd)
                        .to_string_lossy()
                        .into_owned(),
                    _ => target,
                };
                // The backup must exist now; whether it is intact is the job's question.
                select::resolve(engine, None, &verify_selector(&target))?;
                Ok(JobRequest::Verify { target, deep })
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
                "queue the work again with `lifeboat backup --queue` or `lifeboat verify --queue`",
            )
        })
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
    cancel: &'static AtomicBool,
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
        JobRequest::Verify { target, deep } => {
            verify::run(engine, &verify_selector(target), *deep, face, cancel)
                .map(JobOutcome::Verify)
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
                deep: false
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
