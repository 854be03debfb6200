//! The CLI face of the job queue: verbs that run now or go in the queue
//! (`--queue`), and `lifeboat worker`, a thin wrapper over the library's
//! worker pool that prints one line per job start and end.

use super::progress::{CliProgress, TaggedLines};
use super::show;
use lifeboat_engine::catalog::JobState;
use lifeboat_engine::config::Config;
use lifeboat_engine::error::{Error, Result};
use lifeboat_engine::ops::queue::{self, JobOutcome, JobRequest};
use lifeboat_engine::ops::worker::{self, PoolOptions, WorkerEvent};
use lifeboat_engine::ops::{self, Engine};

/// Run a request now (printing its report), or queue it and print the job.
pub(super) fn run_request(
    engine: &Engine,
    request: JobRequest,
    enqueue: bool,
    json: bool,
    face: &CliProgress,
    cancel: &lifeboat_engine::Cancel,
) -> Result<i32> {
    run_request_then(engine, request, (enqueue, json), face, cancel, |_| {})
}

/// [`run_request`], with `then` called on the outcome of a request run now,
/// before its report is printed (`recover --from` records its source in
/// the recovery's report).
pub(super) fn run_request_then(
    engine: &Engine,
    request: JobRequest,
    (enqueue, json): (bool, bool),
    face: &CliProgress,
    cancel: &lifeboat_engine::Cancel,
    then: impl FnOnce(&JobOutcome),
) -> Result<i32> {
    if enqueue {
        let cwd = std::env::current_dir()
            .map_err(|e| Error::io("read the current directory", std::path::Path::new("."), e))?;
        let q = queue::enqueue(engine, request, &cwd)?;
        if json {
            show::print_json(&q);
        } else {
            outln!(
                "queued job {} ({} {}); `lifeboat worker` runs it, `lifeboat status {}` follows it, `lifeboat cancel {}` drops it",
                q.job_id, q.kind, q.target, q.job_id, q.job_id
            );
        }
        return Ok(0);
    }
    let faces = |t: lifeboat_engine::archive::manifest::BackupType| -> Box<dyn ops::Progress> {
        Box::new(TaggedLines::new(t.as_str(), json))
    };
    let outcome = queue::execute(engine, &request, face, &faces, cancel)?;
    face.done();
    then(&outcome);
    if json {
        show::print_json(&outcome.report_json());
    } else {
        print_outcome(&outcome);
    }
    Ok(outcome_code(&outcome))
}

/// 0, 3 when a backup could not read everything, 1 when a type of
/// `backup --all` failed or a new backup's copy could not be made; a failed
/// verification has the code of its error's kind (4 for a damaged backup,
/// 5 for a key).
fn outcome_code(outcome: &JobOutcome) -> i32 {
    use super::exit;
    let backups = |reports: &[ops::backup::BackupReport]| {
        super::combined(reports.iter().map(|r| match r.status {
            lifeboat_engine::catalog::BackupStatus::SucceededWithWarnings => exit::WARNINGS,
            _ => exit::OK,
        }))
    };
    match outcome {
        // A backup whose copies failed is committed, but the command failed
        // (`ok` is false for a failed type and for a copy_error).
        JobOutcome::Backups(_) | JobOutcome::Full(_) if !outcome.ok() => exit::FAILED,
        JobOutcome::Backups(reports) => backups(reports),
        JobOutcome::Full(r) => super::combined(r.types.iter().map(|t| backups(&t.backups))),
        JobOutcome::Verify(r) if r.ok => exit::OK,
        // A damaged backup is 4; a wrong key or a failed tool keeps its own code.
        JobOutcome::Verify(r) => match r.failure {
            Some(kind) => super::kind_code(kind),
            None => exit::INTEGRITY,
        },
        JobOutcome::Restore(_) | JobOutcome::Prune(_) => exit::OK,
        other if other.ok() => exit::OK,
        _ => exit::FAILED,
    }
}

fn print_outcome(outcome: &JobOutcome) {
    for line in outcome.describe() {
        outln!("{line}");
    }
}

/// `lifeboat worker`: run the pool until the queue is drained (`--once`) or
/// a signal arrives. Exit code 0 when every job it ran succeeded.
pub(super) fn run_pool(
    config: Config,
    workers: Option<u32>,
    once: bool,
    json: bool,
    shutdown: &lifeboat_engine::Cancel,
) -> Result<i32> {
    let workers = workers.unwrap_or(config.jobs.workers) as usize;
    worker::check_workers(workers)?;
    let runtime = runtime("worker")?;
    if !json {
        errln!(
            "worker (pid {}): {workers} worker(s), {}; Ctrl-C or SIGTERM stops claiming and cancels running jobs",
            std::process::id(),
            if once {
                "until the queue is empty"
            } else {
                "waiting for queued jobs"
            }
        );
    }
    let report = runtime.block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<WorkerEvent>();
        let printer = tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                print_event(&ev, json);
            }
        });
        let report = worker::run(
            config,
            PoolOptions { workers, once },
            shutdown.clone(),
            Some(tx),
        )
        .await;
        let _ = printer.await;
        report
    })?;
    let summary = serde_json::json!({
        "event": "done",
        "jobs": report.jobs.len(),
        "succeeded": report.count(JobState::Succeeded) + report.count(JobState::SucceededWithWarnings),
        "failed": report.count(JobState::Failed),
        "cancelled": report.count(JobState::Cancelled),
        "stopped": report.stopped,
    });
    if json {
        outln!("{summary}");
    } else {
        outln!(
            "worker done: {} job(s) run, {} succeeded, {} failed, {} cancelled{}",
            summary["jobs"],
            summary["succeeded"],
            summary["failed"],
            summary["cancelled"],
            if report.stopped {
                " (stopped by a signal)"
            } else {
                ""
            }
        );
    }
    Ok(super::combined(
        report.jobs.iter().map(|j| super::job_state_code(j.state)),
    ))
}

fn print_event(ev: &WorkerEvent, json: bool) {
    if json {
        outln!("{}", serde_json::to_string(ev).expect("events serialize"));
        return;
    }
    match ev {
        WorkerEvent::Ready { workers } => {
            outln!("worker ready: {workers} worker(s) claiming queued jobs")
        }
        WorkerEvent::Started {
            worker,
            job_id,
            kind,
            target,
        } => outln!("job {job_id} ({kind} {target}): started by worker {worker}"),
        WorkerEvent::Finished { job, seconds, .. } => {
            let error = job
                .error
                .as_deref()
                .map(|e| format!(": {}", e.lines().next().unwrap_or("")))
                .unwrap_or_default();
            outln!(
                "job {} ({} {}): {} in {seconds:.1}s{error}",
                job.id,
                job.kind,
                job.target,
                job.state
            );
        }
    }
}

/// `lifeboat worker --job ID`: run one queued job here and exit with its
/// code; when another worker has it (or it was cancelled), say so and exit 0.
pub(super) fn run_one(
    config: Config,
    id: i64,
    json: bool,
    shutdown: &lifeboat_engine::Cancel,
) -> Result<i32> {
    let catalog = config.catalog.path.clone();
    let started = std::time::Instant::now();
    match worker::run_one(config, id, shutdown)? {
        Some(job) => {
            print_event(
                &WorkerEvent::Finished {
                    worker: 1,
                    job: Box::new(job.clone()),
                    seconds: started.elapsed().as_secs_f64(),
                },
                json,
            );
            Ok(super::job_state_code(job.state))
        }
        None => {
            let state = lifeboat_engine::catalog::Catalog::open_existing_light(&catalog)
                .and_then(|c| c.get_job(id))?
                .map(|j| j.state.to_string())
                .ok_or_else(|| {
                    Error::not_found(format!("no job with id {id}"))
                        .hint("`lifeboat status` lists recent jobs")
                })?;
            if json {
                outln!(
                    "{}",
                    serde_json::json!({"event": "not_claimed", "job_id": id, "state": state})
                );
            } else {
                outln!("job {id} is {state}, not queued: another worker has it or it has ended (`lifeboat status {id}`)");
            }
            Ok(0)
        }
    }
}

/// `lifeboat daemon`: the schedule, the worker pool and alerts in one
/// process. One line per event on stderr (JSON lines on stdout with --json).
pub(super) fn run_daemon(
    config: Config,
    workers: Option<u32>,
    once: bool,
    health_every: u32,
    json: bool,
    shutdown: &lifeboat_engine::Cancel,
) -> Result<i32> {
    use lifeboat_engine::ops::daemon::{self, DaemonEvent, DaemonOptions};
    let workers = workers.unwrap_or(config.jobs.workers) as usize;
    worker::check_workers(workers)?;
    let runtime = runtime("daemon")?;
    let say = move |line: String| {
        let ts = chrono::Local::now().format("%Y-%m-%d %H:%M:%S");
        errln!("{ts} {line}");
        tracing::info!(target: "lifeboat::daemon", "{line}");
    };
    say(format!(
        "daemon (pid {}) started: {workers} worker(s){}; SIGTERM stops claiming and cancels running jobs",
        std::process::id(),
        if once { ", one pass" } else { "" }
    ));
    let failed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let f = failed.clone();
    let result = runtime.block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<DaemonEvent>();
        let printer = tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                if json {
                    outln!("{}", serde_json::to_string(&ev).unwrap_or_default());
                }
                let line = match &ev {
                    DaemonEvent::Scheduled { entry, slot, missed, job_id } => format!(
                        "queued job {job_id} for schedule {entry} (slot {}){}",
                        slot.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M"),
                        if *missed { ", missed while the daemon was down: running it once now" } else { "" }
                    ),
                    DaemonEvent::CopiesQueued { job_id, missing } => format!(
                        "queued job {job_id}: {missing} copies the [copies] policy asks for are missing"
                    ),
                    DaemonEvent::SlotTaken { entry, slot } => format!(
                        "schedule {entry} slot {} was taken by another daemon",
                        slot.to_rfc3339()
                    ),
                    DaemonEvent::ScheduleFailed { entry, error } => {
                        f.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        format!("schedule {entry}: could not queue the backup: {error}")
                    }
                    DaemonEvent::Alerts { verdict, sent, failed } => {
                        if failed.is_empty() {
                            format!("health {verdict}; {sent} alert(s) sent")
                        } else {
                            format!(
                                "health {verdict}; {sent} alert(s) sent, {} FAILED (retried next time): {}",
                                failed.len(),
                                failed.join("; ")
                            )
                        }
                    }
                    DaemonEvent::Worker(WorkerEvent::Ready { .. }) => continue,
                    DaemonEvent::Worker(WorkerEvent::Started { job_id, kind, target, .. }) => {
                        format!("job {job_id} started: {kind} {target}")
                    }
                    DaemonEvent::Worker(WorkerEvent::Finished { job, seconds, .. }) => {
                        if !job.state.is_success() {
                            f.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        format!(
                            "job {} {} after {seconds:.1}s: {} {}{}",
                            job.id,
                            job.state,
                            job.kind,
                            job.target,
                            job.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
                        )
                    }
                };
                say(line);
            }
        });
        let r = daemon::run(
            config,
            DaemonOptions {
                workers,
                once,
                health_every: std::time::Duration::from_secs(u64::from(health_every.max(1)) * 60),
            },
            shutdown,
            tx,
        )
        .await;
        let _ = printer.await;
        r
    });
    result?;
    say("daemon stopped".to_string());
    Ok(if failed.load(std::sync::atomic::Ordering::Relaxed) > 0 {
        1
    } else {
        0
    })
}

/// The runtime a worker pool (alone or in the daemon) runs on: two threads,
/// since the heavy work runs on blocking threads of its own.
fn runtime(what: &str) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(format!("lifeboat-{what}"))
        .enable_time()
        .build()
        .map_err(|e| Error::external(format!("cannot start the {what} runtime: {e}")))
}
