//! Work that must never run on the drawing thread: health evaluation (it
//! may wait on PostgreSQL), storage usage (it walks the disk), the audit
//! chain check (it hashes every row), restore-time evidence (it reads
//! sidecars), settling dead jobs, deletions, and the child processes the
//! console starts.
//!
//! Each task runs on its own thread with its own catalog connection and
//! sends one [`BgResult`] back; the console applies it and redraws. A task
//! kind is never started twice at once (the app tracks what is in flight).

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use chrono::{DateTime, Utc};
use crossbeam_channel::Sender;

use lifeboat_engine::catalog::{AuditCheck, Catalog, JobState};
use lifeboat_engine::config::Config;
use lifeboat_engine::health::{HealthReport, StorageReport};
use lifeboat_engine::ops::queue::{self, JobRequest};
use lifeboat_engine::ops::Engine;

/// The last measured restore time and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreEvidence {
    pub seconds: f64,
    pub at: DateTime<Utc>,
    /// "verify --deep of db-..." or "restore job 12".
    pub source: String,
}

/// The audit chain check of both copies.
#[derive(Debug, Clone)]
pub struct AuditStatus {
    pub catalog: AuditCheck,
    /// None when the repository has no audit log file.
    pub repository: Option<AuditCheck>,
}

impl AuditStatus {
    pub fn ok(&self) -> bool {
        self.catalog.ok
            && self
                .repository
                .as_ref()
                .is_none_or(|r| r.ok && r.rows == self.catalog.rows)
    }
}

/// One finished background task.
#[derive(Debug)]
pub enum BgResult {
    Health(HealthReport),
    Storage(Result<StorageReport, String>),
    Audit(Result<AuditStatus, String>),
    Restore(Result<Option<RestoreEvidence>, String>),
    /// Dead jobs were settled (marked interrupted, their leftovers
    /// removed), or why they could not be.
    Settled(Result<(), String>),
    Deleted {
        id: String,
        result: Result<String, String>,
    },
    ChildExited {
        pid: u32,
        label: String,
        ok: bool,
        message: String,
    },
    /// Something the engine told the operator (`lifeboat_engine::notice`).
    Notice {
        warning: bool,
        message: String,
    },
}

/// Which kind of task a result belongs to (for the in-flight set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    Health,
    Storage,
    Audit,
    Restore,
    /// Settle dead jobs, as every CLI verb does when it opens the engine.
    Settle,
    Delete,
}

impl BgResult {
    pub fn task(&self) -> Option<Task> {
        Some(match self {
            BgResult::Health(_) => Task::Health,
            BgResult::Storage(_) => Task::Storage,
            BgResult::Audit(_) => Task::Audit,
            BgResult::Restore(_) => Task::Restore,
            BgResult::Settled(_) => Task::Settle,
            BgResult::Deleted { .. } => Task::Delete,
            BgResult::ChildExited { .. } | BgResult::Notice { .. } => return None,
        })
    }
}

fn light(config: &Config) -> Result<Catalog, String> {
    Catalog::open_existing_light(&config.catalog.path).map_err(|e| e.display_with_hint())
}

/// Start `task` on its own thread; its result arrives on `tx`.
pub fn start(task: Task, config: Config, tx: Sender<BgResult>) {
    std::thread::spawn(move || {
        let now = lifeboat_engine::clock::now();
        let result = match task {
            Task::Health => BgResult::Health(match light(&config) {
                Ok(cat) => lifeboat_engine::health::evaluate(&config, &cat, now),
                Err(e) => HealthReport::new(
                    now,
                    vec![lifeboat_engine::health::Check {
                        id: "catalog".into(),
                        title: "Catalog readable".into(),
                        status: lifeboat_engine::health::Status::Critical,
                        value: e,
                        threshold: "readable".into(),
                        advice: format!(
                            "check [catalog] path ({}) and its permissions",
                            config.catalog.path.display()
                        ),
                    }],
                ),
            }),
            Task::Storage => BgResult::Storage(light(&config).and_then(|cat| {
                lifeboat_engine::health::storage(&config, &cat, now)
                    .map_err(|e| e.display_with_hint())
            })),
            Task::Audit => {
                BgResult::Audit(light(&config).and_then(|cat| audit_status(&config, &cat)))
            }
            Task::Restore => {
                BgResult::Restore(light(&config).and_then(|cat| restore_evidence(&cat)))
            }
            // Opening the engine settles the jobs whose process died or
            // whose lease ran out (`ops::settle::recover_dead_jobs`).
            Task::Settle => BgResult::Settled(
                Engine::open(config)
                    .map(drop)
                    .map_err(|e| e.display_with_hint()),
            ),
            Task::Delete => unreachable!("deletions start through `delete`"),
        };
        let _ = tx.send(result);
    });
}

fn audit_status(config: &Config, cat: &Catalog) -> Result<AuditStatus, String> {
    let catalog = cat.verify_audit().map_err(|e| e.display_with_hint())?;
    let path = config.repository.path.join("audit").join("audit.jsonl");
    let repository = if path.exists() {
        Some(lifeboat_engine::catalog::verify_jsonl(&path).map_err(|e| e.display_with_hint())?)
    } else {
        None
    };
    Ok(AuditStatus {
        catalog,
        repository,
    })
}

/// The newest measured restore: a deep verification's restore time (from
/// the `.verified.json` sidecars of recently verified backups) or the wall
/// time of a successful restore or drill job, whichever is newer.
fn restore_evidence(cat: &Catalog) -> Result<Option<RestoreEvidence>, String> {
    let q = || -> lifeboat_engine::error::Result<Option<RestoreEvidence>> {
        let mut best: Option<RestoreEvidence> = None;
        let mut consider = |e: RestoreEvidence| {
            if best.as_ref().is_none_or(|b| e.at > b.at) {
                best = Some(e);
            }
        };
        let rows = cat.recently_verified_files(50)?;
        for (id, file) in rows {
            if let Some(v) = lifeboat_engine::ops::verify::read_sidecar(Path::new(&file)) {
                if let Some(s) = v.restore_seconds {
                    consider(RestoreEvidence {
                        seconds: s,
                        at: v.at,
                        source: format!("verify --deep of {id}"),
                    });
                }
            }
        }
        if let Some(j) = cat.last_successful_restore_job()? {
            if let (Some(s), Some(f)) = (j.started_at, j.finished_at) {
                consider(RestoreEvidence {
                    seconds: (f - s).num_milliseconds() as f64 / 1000.0,
                    at: f,
                    source: format!("{} job {}", j.kind, j.id),
                });
            }
        }
        Ok(best)
    };
    q().map_err(|e| e.display_with_hint())
}

/// Delete a backup on a helper thread through the engine (audited).
pub fn delete(config: Config, id: String, tx: Sender<BgResult>) {
    std::thread::spawn(move || {
        let result = lifeboat_engine::ops::Engine::open(config)
            .and_then(|engine| lifeboat_engine::ops::delete::delete(&engine, &id))
            .map(|r| {
                let mut msg = format!(
                    "deleted backup {id}: removed {} file(s) and its catalog row",
                    r.removed.len()
                );
                if !r.leftovers.is_empty() {
                    msg.push_str(&format!("; could not remove: {}", r.leftovers.join("; ")));
                }
                msg
            })
            .map_err(|e| e.display_with_hint());
        let _ = tx.send(BgResult::Deleted { id, result });
    });
}

/// Work this console started, as the console keeps track of it.
#[derive(Debug, Clone)]
pub struct ChildInfo {
    /// The worker process running the job.
    pub pid: u32,
    pub job_id: i64,
    pub label: String,
    pub log: PathBuf,
}

/// Work the console started: a job in the queue and the worker process
/// started for it.
#[derive(Debug)]
pub struct Launched {
    pub job_id: i64,
    /// The equivalent command line, for people.
    pub label: String,
    /// `lifeboat worker --job ID`, in its own process group.
    pub child: Child,
    /// Where the worker's output goes (0600, under the catalog's directory).
    pub log: PathBuf,
}

/// The one way the console starts work: put `request` in the job queue
/// (checked now, so a bad request fails in front of the operator), then
/// start `lifeboat worker --job ID` for it as its own process group, so the
/// job outlives this console and a terminal hang-up, with its output in a
/// private log file. The job is an ordinary queued job: every face sees it,
/// `lifeboat cancel ID` (or `x` here) stops it, and a running daemon may
/// claim it first (then the worker says so and exits).
pub fn launch(
    exe: &Path,
    config_path: Option<&Path>,
    config: &Config,
    request: JobRequest,
) -> Result<Launched, String> {
    let label = request.command_line();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let engine = Engine::open(config.clone()).map_err(|e| e.display_with_hint())?;
    let queued = queue::enqueue(&engine, request, &cwd).map_err(|e| e.display_with_hint())?;
    let id = queued.job_id;
    let started = (|| {
        let dir = config
            .catalog
            .path
            .parent()
            .unwrap_or(Path::new("."))
            .join("console-logs");
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let log = dir.join(format!(
            "{}-job-{id}-{}.log",
            Utc::now().format("%Y%m%dT%H%M%S"),
            queued.kind
        ));
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&log)
            .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
        let mut cmd = Command::new(exe);
        if let Some(c) = config_path {
            cmd.arg("--config").arg(c);
        }
        // Its output goes to a log file for people to read: plain text.
        cmd.args(["worker", "--job", &id.to_string()])
            .env("NO_COLOR", "1")
            .env("TERM", "dumb")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {} worker --job {id}: {e}", exe.display()))?;
        Ok::<_, String>((child, log))
    })();
    match started {
        Ok((child, log)) => Ok(Launched {
            job_id: id,
            label,
            child,
            log,
        }),
        Err(e) => {
            // Nobody will run it: take it out of the queue again.
            let reason = format!("its worker could not start: {e}");
            match engine.catalog.cancel_if_queued(id, &reason) {
                Ok(true) => Err(format!("{e}; job {id} was taken out of the queue")),
                _ => Err(format!(
                    "{e}; job {id} stays in the queue for another worker (`lifeboat status {id}`)"
                )),
            }
        }
    }
}

/// What a worker's log says last: its error line and hint, or else its
/// last line.
pub fn last_words(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    match lines.iter().rposition(|l| l.starts_with("error:")) {
        Some(i) => lines[i..]
            .iter()
            .map(|l| l.trim())
            .collect::<Vec<_>>()
            .join(" "),
        None => lines
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or(&"")
            .trim()
            .to_string(),
    }
}

/// [`launch`] work and report on `tx` when its worker exits, with the
/// last line it printed.
pub fn launch_reported(
    exe: &Path,
    config_path: Option<&Path>,
    config: &Config,
    request: JobRequest,
    tx: Sender<BgResult>,
) -> Result<ChildInfo, String> {
    let Launched {
        job_id,
        label,
        mut child,
        log,
    } = launch(exe, config_path, config, request)?;
    let pid = child.id();
    let reported = ChildInfo {
        pid,
        job_id,
        label: label.clone(),
        log: log.clone(),
    };
    let catalog = config.catalog.path.clone();
    std::thread::spawn(move || {
        let status = child.wait();
        let exit = match &status {
            Ok(s) => s
                .code()
                .map(|c| format!("exit {c}"))
                .unwrap_or("killed by a signal".into()),
            Err(e) => format!("lost track of it: {e}"),
        };
        let cat = Catalog::open_existing_light(&catalog);
        let job = cat
            .as_ref()
            .ok()
            .and_then(|c| c.get_job(job_id).ok().flatten());
        let (ok, message) = match job {
            Some(j) if j.state == JobState::Queued => {
                if let Ok(c) = &cat {
                    let _ = c.cancel_if_queued(
                        job_id,
                        &format!("its worker exited ({exit}) before it ran the job"),
                    );
                }
                (
                    false,
                    format!(
                        "job {job_id} ({label}): its worker exited ({exit}) before it ran the job: {} (full output: {}); the job was taken out of the queue",
                        last_words(&log),
                        log.display()
                    ),
                )
            }
            Some(j) if j.state.is_active() => (
                true,
                format!(
                    "job {job_id} ({label}) is run by another worker (pid {} on {}); it shows on the Jobs screen",
                    j.pid, j.host
                ),
            ),
            Some(j) if j.state.is_success() => {
                (true, format!("job {job_id} ({label}): finished ok ({})", j.state))
            }
            Some(j) => (
                false,
                format!(
                    "job {job_id} ({label}) {}: {} (full output: {})",
                    j.state,
                    j.error
                        .as_deref()
                        .and_then(|e| e.lines().next())
                        .unwrap_or("see the job's log"),
                    log.display()
                ),
            ),
            None => (
                false,
                format!(
                    "job {job_id} ({label}): its worker ended ({exit}) and the job cannot be read: {}",
                    last_words(&log)
                ),
            ),
        };
        let _ = tx.send(BgResult::ChildExited {
            pid,
            label,
            ok,
            message,
        });
    });
    Ok(reported)
}
