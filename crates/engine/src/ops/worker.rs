//! The worker pool: N workers that take queued jobs from the catalog and run
//! them, for `lifeboat worker` now and the daemon later.
//!
//! The pool is tokio-based, but the operations are blocking code (file
//! walks, pg_dump pipes, SQLite): each worker is an async task that claims a
//! job on a blocking thread, runs it with [`tokio::task::spawn_blocking`],
//! records the outcome and claims the next. Each worker owns an [`Engine`]
//! (its own catalog connection), moved onto the blocking thread and back.
//!
//! - **Claiming** is one write transaction ([`crate::catalog::Catalog::claim_next_job`]):
//!   of any number of workers, in this process or others, exactly one gets
//!   each job, oldest first.
//! - **Running** goes through [`queue::execute`], the same function the
//!   direct CLI verbs call; the operation's job takes over the claimed row,
//!   so heartbeats, the lease, cancellation and resource locks are the ones a
//!   direct run has. A killed worker leaves `running` rows with a dead pid,
//!   which the next process to open the catalog marks `interrupted` (partial
//!   outputs removed). Nothing is retried: an interrupted or failed job
//!   stays so until a human queues the work again.
//! - **Busy resources**: a worker claims a job even when its resource (a
//!   database, a restore target) is held by another job, and the job waits
//!   for it inside the operation, cancellably, with its phase set to
//!   `waiting for <resource>` and a job-log line naming the holder. We chose
//!   claim-and-wait over skip-and-claim-another because a job's resource is
//!   only known once the operation has resolved its request (which database
//!   the URL names, which target directory), and because the wait is then
//!   visible where operators look (`lifeboat status`), instead of a job that
//!   silently stays queued. The cost: a waiting job occupies a worker.
//! - **Idle**: with nothing queued a worker polls the queue with backoff
//!   (50 ms doubling to 1 s: one cheap query a second at most) and, every
//!   few seconds, settles jobs of dead processes.
//! - **Shutdown**: when the shutdown flag is set (SIGTERM/Ctrl-C in the
//!   CLI), workers stop claiming, the running jobs see the same flag as their
//!   cancel signal and stop at their next safe point (they end `cancelled`),
//!   and the pool returns once they have.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;

use crate::catalog::{JobKind, JobRecord, JobState};
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::ops::queue::{self, JobRequest};
use crate::ops::{settle, Engine, Progress, Silent};
use crate::Cancel;

/// Most workers one pool runs (also the `[jobs] workers` limit).
pub const MAX_WORKERS: usize = 64;
/// First pause when the queue is empty; doubles up to [`IDLE_MAX`].
const IDLE_MIN: Duration = Duration::from_millis(50);
const IDLE_MAX: Duration = Duration::from_secs(1);
/// How often an idle worker settles jobs of dead processes.
const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// How often a pause checks the shutdown flag (memory only, no I/O).
const FLAG_CHECK: Duration = Duration::from_millis(100);

/// How the pool runs.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    /// Number of workers (jobs run at the same time), 1..=[`MAX_WORKERS`].
    pub workers: usize,
    /// Drain the queue and return instead of waiting for more jobs.
    pub once: bool,
}

/// What the pool tells its face while it runs.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WorkerEvent {
    /// The pool opened the catalog (settling jobs of dead processes) and
    /// starts claiming.
    Ready { workers: usize },
    /// A worker claimed a job and is starting it.
    Started {
        worker: usize,
        job_id: i64,
        kind: JobKind,
        target: String,
    },
    /// A job ended; `job` is its final row.
    Finished {
        worker: usize,
        job: Box<JobRecord>,
        seconds: f64,
    },
}

/// What a pool did before it returned.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PoolReport {
    /// Final rows of the jobs this pool ran, by id.
    pub jobs: Vec<JobRecord>,
    /// True when the pool stopped because the shutdown flag was set.
    pub stopped: bool,
}

impl PoolReport {
    /// Jobs that ended in `state`.
    pub fn count(&self, state: JobState) -> usize {
        self.jobs.iter().filter(|j| j.state == state).count()
    }
    /// True when every job this pool ran succeeded (with or without warnings).
    pub fn all_succeeded(&self) -> bool {
        self.jobs.iter().all(|j| j.state.is_success())
    }
}

/// Run the pool until the queue is drained (`once`) or `shutdown` is set.
/// Running jobs treat `shutdown` as their cancel signal.
pub async fn run(
    config: Config,
    opts: PoolOptions,
    shutdown: Cancel,
    events: Option<UnboundedSender<WorkerEvent>>,
) -> Result<PoolReport> {
    check_workers(opts.workers)?;
    // A worker that cannot reach the catalog stops the others from claiming
    // (their running jobs finish normally) and the pool reports the error.
    let stop = Arc::new(AtomicBool::new(false));
    let mut set = tokio::task::JoinSet::new();
    for n in 1..=opts.workers {
        let c = config.clone();
        let engine = blocking(move || Engine::open(c)).await??;
        set.spawn(worker_loop(
            n,
            engine,
            opts.once,
            shutdown.clone(),
            Arc::clone(&stop),
            events.clone(),
        ));
    }
    if let Some(tx) = &events {
        let _ = tx.send(WorkerEvent::Ready {
            workers: opts.workers,
        });
    }
    drop(events);
    let mut report = PoolReport::default();
    let mut error = None;
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(jobs)) => report.jobs.extend(jobs),
            Ok(Err(e)) => {
                error.get_or_insert(e);
            }
            Err(e) => {
                error.get_or_insert(Error::external(format!("a worker task failed: {e}")));
            }
        }
    }
    report.jobs.sort_by_key(|j| j.id);
    report.stopped = shutdown.load(Ordering::Relaxed);
    match error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// The number of workers must be 1..=[`MAX_WORKERS`].
pub fn check_workers(n: usize) -> Result<()> {
    if !(1..=MAX_WORKERS).contains(&n) {
        return Err(Error::usage(format!(
            "a worker pool needs 1 to {MAX_WORKERS} workers, not {n}"
        ))
        .hint("set --workers N or [jobs] workers to a number in that range"));
    }
    Ok(())
}

/// One worker: claim, run, record, repeat.
async fn worker_loop(
    n: usize,
    mut engine: Engine,
    once: bool,
    shutdown: Cancel,
    stop: Arc<AtomicBool>,
    events: Option<UnboundedSender<WorkerEvent>>,
) -> Result<Vec<JobRecord>> {
    let mut done = Vec::new();
    let mut idle = IDLE_MIN;
    let mut last_sweep = Instant::now();
    let stopping = || shutdown.load(Ordering::Relaxed) || stop.load(Ordering::Relaxed);
    while !stopping() {
        let (e, claimed) = blocking(move || {
            // The row as claimed, for the start event (kind and target).
            let c = claim_next(&engine).and_then(|c| match c {
                Some((id, request)) => {
                    let row = engine.catalog.get_job(id)?;
                    Ok(Some((id, request, row)))
                }
                None => Ok(None),
            });
            (engine, c)
        })
        .await?;
        engine = e;
        let claimed = match claimed {
            Ok(c) => c,
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
        };
        let Some((id, request, row)) = claimed else {
            if once {
                break;
            }
            if last_sweep.elapsed() >= SWEEP_EVERY {
                last_sweep = Instant::now();
                let (e, swept) = blocking(move || {
                    let r = settle::recover_dead_jobs(&engine);
                    (engine, r)
                })
                .await?;
                engine = e;
                if let Err(e) = swept {
                    tracing::warn!("worker {n}: cannot settle jobs of dead processes: {e}");
                }
            }
            pause(idle, &stopping).await;
            idle = (idle * 2).min(IDLE_MAX);
            continue;
        };
        idle = IDLE_MIN;
        if let Some(tx) = &events {
            let (kind, target) = row
                .map(|j| (j.kind, j.target))
                .unwrap_or((JobKind::Other("?".into()), String::new()));
            let _ = tx.send(WorkerEvent::Started {
                worker: n,
                job_id: id,
                kind,
                target,
            });
        }
        let started = Instant::now();
        let shutdown = shutdown.clone();
        let (e, finished) = blocking(move || {
            let r = run_claimed(&engine, n, id, &request, &shutdown);
            (engine, r)
        })
        .await?;
        engine = e;
        let job = match finished {
            Ok(job) => job,
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
        };
        if let Some(tx) = &events {
            let _ = tx.send(WorkerEvent::Finished {
                worker: n,
                job: Box::new(job.clone()),
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        done.push(job);
    }
    Ok(done)
}

/// Run one queued job, by id, in this process (`lifeboat worker --job ID`:
/// how the console starts work that must outlive it). Returns the job's
/// final row, or None when the job was not queued any more (a daemon's
/// worker claimed it first, or it was cancelled): then whoever has it runs it.
pub fn run_one(config: Config, id: i64, shutdown: &Cancel) -> Result<Option<JobRecord>> {
    let engine = Engine::open(config)?;
    let Some(request) = engine
        .catalog
        .claim_job(id, &engine.host, std::process::id())?
    else {
        return Ok(None);
    };
    run_claimed(&engine, 1, id, &request, shutdown).map(Some)
}

/// Claim the oldest queued job for this process.
pub fn claim_next(engine: &Engine) -> Result<Option<(i64, String)>> {
    engine
        .catalog
        .claim_next_job(&engine.host, std::process::id())
}

/// Run a job this process claimed, through the same path as a direct verb,
/// and make sure its row ends settled whatever happens (a request that
/// cannot be read or fails before its job starts, a panic). Returns the
/// job's final row.
pub fn run_claimed(
    engine: &Engine,
    worker: usize,
    id: i64,
    request: &str,
    shutdown: &Cancel,
) -> Result<JobRecord> {
    engine.catalog.job_log(
        id,
        "info",
        &format!(
            "claimed by worker {worker} of process {} on {}",
            std::process::id(),
            engine.host
        ),
    )?;
    let result = JobRequest::from_json(id, request).and_then(|req| {
        engine.claimed_job.set(Some(id));
        let faces = |_| -> Box<dyn Progress> { Box::new(Silent) };
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            queue::execute(engine, &req, &Silent, &faces, shutdown)
        }))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(Error::external(format!(
                "lifeboat panicked while running job {id}: {what}"
            ))
            .hint("this is a bug in lifeboat; please report it with the job's log (`lifeboat status ID`)"))
        })
    });
    engine.claimed_job.set(None);
    // The report, for the face that queued the job and is not here: in
    // words in the job's log, and whole as the job's result. Always
    // recorded, so a face waiting for it knows the worker is done.
    let recorded = match &result {
        Ok(outcome) => {
            for line in outcome.describe() {
                let _ = engine.catalog.job_log(id, "info", &line);
            }
            outcome.report_json()
        }
        Err(e) => serde_json::json!({ "error": e.display_with_hint() }),
    };
    if let Err(e) = engine.catalog.set_job_result(id, &recorded.to_string()) {
        tracing::warn!("cannot record the result of job {id}: {e}");
    }
    settle(engine, id, &result)?;
    engine
        .catalog
        .get_job(id)?
        .ok_or_else(|| Error::not_found(format!("job {id} vanished from the catalog while it ran")))
}

/// Close a claimed job that its operation did not close: it failed before
/// its job started (an unreadable request, a backup that no longer exists,
/// a source that vanished) or panicked.
fn settle(engine: &Engine, id: i64, result: &Result<queue::JobOutcome>) -> Result<()> {
    let Some(job) = engine.catalog.get_job(id)? else {
        return Ok(());
    };
    if job.state != JobState::Running {
        return Ok(());
    }
    let (state, error) = match result {
        Ok(o) if o.ok() => (JobState::Succeeded, None),
        Ok(_) => (
            JobState::Failed,
            Some("the operation reported a problem".to_string()),
        ),
        Err(e) if e.kind == ErrorKind::Cancelled => (JobState::Cancelled, Some(e.message.clone())),
        Err(e) => (JobState::Failed, Some(e.display_with_hint())),
    };
    for p in &job.partial_outputs {
        let _ = std::fs::remove_file(p);
    }
    engine.catalog.clear_partial_outputs(id)?;
    if let Some(err) = &error {
        engine.catalog.job_log(id, "error", err)?;
    }
    engine.catalog.finish_job(id, state, error.as_deref())?;
    engine.audit(
        job.kind.as_str(),
        &job.target,
        state.as_str(),
        &format!(
            "job {id}{}",
            error.map(|e| format!(": {e}")).unwrap_or_default()
        ),
    )
}

/// Sleep for `d`, waking early when the pool is stopping.
async fn pause(d: Duration, stopping: &impl Fn() -> bool) {
    let until = Instant::now() + d;
    loop {
        let now = Instant::now();
        if now >= until || stopping() {
            return;
        }
        tokio::time::sleep(FLAG_CHECK.min(until - now)).await;
    }
}

/// Run blocking work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::external(format!("a worker thread failed: {e}")))
}
