//! Work that must never run on the drawing thread: health evaluation (it
//! may wait on PostgreSQL), storage usage (it walks the disk), the audit
//! chain check (it hashes every row), restore-time evidence (it reads
//! sidecars), deletions, and the child processes the console starts.
//!
//! Each task runs on its own thread with its own catalog connection and
//! sends one [`BgResult`] back; the console applies it and redraws. A task
//! kind is never started twice at once (the app tracks what is in flight).

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};
use crossbeam_channel::Sender;

use lifeboat_engine::catalog::{AuditCheck, Catalog};
use lifeboat_engine::config::Config;
use lifeboat_engine::health::{HealthReport, StorageReport};

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
}

/// Which kind of task a result belongs to (for the in-flight set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    Health,
    Storage,
    Audit,
    Restore,
    Delete,
}

impl BgResult {
    pub fn task(&self) -> Option<Task> {
        Some(match self {
            BgResult::Health(_) => Task::Health,
            BgResult::Storage(_) => Task::Storage,
            BgResult::Audit(_) => Task::Audit,
            BgResult::Restore(_) => Task::Restore,
            BgResult::Deleted { .. } => Task::Delete,
            BgResult::ChildExited { .. } => return None,
        })
    }
}

fn light(config: &Config) -> Result<Catalog, String> {
    Catalog::open_existing_light(&config.catalog.path).map_err(|e| e.display_with_hint())
}

/// Start `task` on its own thread; its result arrives on `tx`.
pub fn start(task: Task, config: Config, tx: Sender<BgResult>) {
    std::thread::spawn(move || {
        let now = Utc::now();
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

/// A `lifeboat` child process started by this console.
#[derive(Debug, Clone)]
pub struct ChildInfo {
    pub pid: u32,
    pub label: String,
    pub log: PathBuf,
}

/// Start `exe [--config FILE] ARGS...` as its own process group (so it
/// outlives this console and a terminal hang-up), with its output in a
/// private log file under the catalog's directory. A waiter thread reports
/// its exit with the last line it printed.
pub fn spawn_child(
    exe: &Path,
    config_path: Option<&Path>,
    catalog_path: &Path,
    args: &[String],
    label: String,
    tx: Sender<BgResult>,
) -> Result<ChildInfo, String> {
    let dir = catalog_path
        .parent()
        .unwrap_or(Path::new("."))
        .join("console-logs");
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let log = dir.join(format!(
        "{}-{}-{}.log",
        Utc::now().format("%Y%m%dT%H%M%S"),
        std::process::id(),
        args.first().map(String::as_str).unwrap_or("job")
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
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {} {}: {e}", exe.display(), args.join(" ")))?;
    let pid = child.id();
    let info = ChildInfo {
        pid,
        label: label.clone(),
        log: log.clone(),
    };
    std::thread::spawn(move || {
        let status = child.wait();
        let ok = status.as_ref().is_ok_and(|s| s.success());
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        // The error line (and its hint) says most; else the last line printed.
        let lines: Vec<&str> = text.lines().collect();
        let last = match lines.iter().rposition(|l| l.starts_with("error:")) {
            Some(i) => lines[i..]
                .iter()
                .map(|l| l.trim())
                .collect::<Vec<_>>()
                .join(" "),
            None => text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_string(),
        };
        let message = match (&status, ok) {
            (_, true) => format!("{label}: finished ok"),
            (Ok(s), false) => format!(
                "{label}: failed (exit {}): {last} (full output: {})",
                s.code()
                    .map(|c| c.to_string())
                    .unwrap_or("by signal".into()),
                log.display()
            ),
            (Err(e), false) => format!("{label}: lost track of the process: {e}"),
        };
        let _ = tx.send(BgResult::ChildExited {
            pid,
            label,
            ok,
            message,
        });
    });
    Ok(info)
}
