//! `lifeboat daemon`: the schedule on the job engine. A scheduler task puts
//! each due slot in the catalog's job queue (claiming the slot first, so two
//! daemons on one catalog never run it twice), the embedded worker pool runs
//! queued jobs (from the schedule, `--queue` calls, a console), and alerts
//! and metrics are evaluated after every job and on an interval.
//!
//! Missed runs: after downtime each schedule entry runs its latest missed
//! slot once, never once per missed slot; a clock that jumps back does not
//! repeat a slot (see [`crate::schedule::slots`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::ops::queue::{self, JobRequest};
use crate::ops::worker::{self, PoolOptions, WorkerEvent};
use crate::ops::Engine;
use crate::schedule::{slots, Schedule, Target};
use crate::Cancel;

/// Longest sleep of the scheduler between two looks at the clock (so a
/// clock jump is noticed within this time).
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// How the daemon runs.
#[derive(Debug, Clone, Copy)]
pub struct DaemonOptions {
    pub workers: usize,
    /// Enqueue what is due, drain the queue, send alerts, and return (for a
    /// systemd timer or cron instead of a resident daemon).
    pub once: bool,
    /// Health, alerts and metrics at least this often.
    pub health_every: Duration,
}

/// What the daemon tells its face.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum DaemonEvent {
    /// A slot was due and is now a queued job.
    Scheduled {
        entry: String,
        slot: DateTime<Utc>,
        missed: bool,
        job_id: i64,
    },
    /// Another daemon claimed the slot first.
    SlotTaken {
        entry: String,
        slot: DateTime<Utc>,
    },
    /// A due slot could not be queued (the job records why when it can).
    ScheduleFailed {
        entry: String,
        error: String,
    },
    /// Copies the policies ask for were missing: a copy job was queued.
    CopiesQueued {
        job_id: i64,
        missing: usize,
    },
    /// Health and alerts were evaluated.
    Alerts {
        verdict: String,
        sent: usize,
        failed: Vec<String>,
    },
    Worker(WorkerEvent),
}

/// Run the daemon until `shutdown` is set (or, with `once`, until done).
pub async fn run(
    config: Config,
    opts: DaemonOptions,
    shutdown: &Cancel,
    events: UnboundedSender<DaemonEvent>,
) -> Result<()> {
    let types = config.configured_types();
    let schedule = Schedule::from_config(&config, &types)?;
    if types.is_empty() {
        return Err(
            Error::usage("nothing is configured to back up".to_string()).hint(
                "configure [sources.database], [sources.filesystem] or [sources.configuration]",
            ),
        );
    }
    let c = config.clone();
    let engine = tokio::task::spawn_blocking(move || Engine::open(c))
        .await
        .map_err(|e| Error::external(format!("cannot open the engine: {e}")))??;
    let engine = Arc::new(std::sync::Mutex::new(engine));

    if opts.once {
        schedule_pass(&engine, &schedule, &events).await?;
        copies_pass(&engine, &events).await;
        let (wtx, wrx) = tokio::sync::mpsc::unbounded_channel();
        let fwd = forward(wrx, events.clone());
        worker::run(
            config.clone(),
            PoolOptions {
                workers: opts.workers,
                once: true,
            },
            shutdown.clone(),
            Some(wtx),
        )
        .await?;
        let _ = fwd.await;
        alerts_pass(&engine, &events).await;
        return Ok(());
    }

    // The pool runs until shutdown; job ends wake the alerts pass.
    let (wtx, mut wrx) = tokio::sync::mpsc::unbounded_channel::<WorkerEvent>();
    let pool = tokio::spawn(worker::run(
        config.clone(),
        PoolOptions {
            workers: opts.workers,
            once: false,
        },
        shutdown.clone(),
        Some(wtx),
    ));
    let mut last_alerts: Option<std::time::Instant> = None;
    let mut last_copies: Option<std::time::Instant> = None;
    let mut job_ended = false;
    loop {
        // The pool returns only at shutdown, or when it cannot go on (the
        // catalog is gone): then the daemon stops too, with the pool's
        // error, rather than scheduling jobs nobody runs.
        if shutdown.load(Ordering::Relaxed) || pool.is_finished() {
            break;
        }
        // A catalog that is busy or briefly unreadable must not stop the
        // daemon: say so and look again at the next wake-up (an unclaimed
        // slot is still due then).
        if let Err(e) = schedule_pass(&engine, &schedule, &events).await {
            let _ = events.send(DaemonEvent::ScheduleFailed {
                entry: "*".into(),
                error: format!("{}; retrying", e.display_with_hint()),
            });
        }
        if last_copies.is_none_or(|t| t.elapsed() >= opts.health_every) {
            copies_pass(&engine, &events).await;
            last_copies = Some(std::time::Instant::now());
        }
        if job_ended || last_alerts.is_none_or(|t| t.elapsed() >= opts.health_every) {
            alerts_pass(&engine, &events).await;
            last_alerts = Some(std::time::Instant::now());
            job_ended = false;
        }
        // Sleep until the next slot (at most MAX_SLEEP), waking for worker
        // events and checking the shutdown flag often (memory only).
        let now = crate::ops::now();
        let next = schedule
            .entries
            .iter()
            .filter_map(|e| e.spec.next_after(now, schedule.tz))
            .min();
        let mut sleep = next
            .and_then(|n| (n - now).to_std().ok())
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP)
            .max(Duration::from_millis(200));
        if let Some(t) = last_alerts {
            sleep = sleep.min(
                opts.health_every
                    .saturating_sub(t.elapsed())
                    .max(Duration::from_millis(200)),
            );
        }
        let deadline = tokio::time::Instant::now() + sleep;
        loop {
            if shutdown.load(Ordering::Relaxed) {
                break;
            }
            let tick = tokio::time::sleep_until(
                deadline.min(tokio::time::Instant::now() + Duration::from_millis(250)),
            );
            tokio::select! {
                ev = wrx.recv() => match ev {
                    Some(ev) => {
                        if matches!(ev, WorkerEvent::Finished { .. }) {
                            job_ended = true;
                        }
                        let _ = events.send(DaemonEvent::Worker(ev));
                    }
                    None => break,
                },
                _ = tick => {}
            }
            if tokio::time::Instant::now() >= deadline || job_ended {
                break;
            }
        }
    }
    let report = pool
        .await
        .map_err(|e| Error::external(format!("the worker pool failed: {e}")))?;
    while let Ok(ev) = wrx.try_recv() {
        let _ = events.send(DaemonEvent::Worker(ev));
    }
    report.map(|_| ())
}

fn forward(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<WorkerEvent>,
    events: UnboundedSender<DaemonEvent>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            let _ = events.send(DaemonEvent::Worker(ev));
        }
    })
}

/// Queue every due slot this process wins.
async fn schedule_pass(
    engine: &Arc<std::sync::Mutex<Engine>>,
    schedule: &Schedule,
    events: &UnboundedSender<DaemonEvent>,
) -> Result<()> {
    let engine = Arc::clone(engine);
    let schedule = schedule.clone();
    let events = events.clone();
    tokio::task::spawn_blocking(move || {
        let engine = engine.lock().unwrap_or_else(|p| p.into_inner());
        let now = crate::ops::now();
        let cwd = std::env::current_dir().unwrap_or_else(|_| std::path::PathBuf::from("/"));
        for due in slots::due(&schedule, &engine.catalog, now)? {
            let entry = due.entry;
            if !slots::claim(&engine.catalog, &entry.id, due.slot)? {
                let _ = events.send(DaemonEvent::SlotTaken {
                    entry: entry.id.clone(),
                    slot: due.slot,
                });
                continue;
            }
            let request = JobRequest::Backup {
                backup_type: match entry.target {
                    Target::One(t) => Some(t),
                    Target::All => None,
                },
                all: entry.target == Target::All,
                name: None,
                full: entry.full,
            };
            match queue::enqueue(&engine, request, &cwd) {
                Ok(q) => {
                    engine.catalog.set_slot_job(&entry.id, due.slot, q.job_id)?;
                    let _ = engine.catalog.job_log(
                        q.job_id,
                        "info",
                        &format!(
                            "scheduled by {} for {} ({}){}",
                            entry.key,
                            due.slot.to_rfc3339(),
                            entry.spec.text,
                            if due.missed {
                                "; the daemon was down at that time, so it runs now, once"
                            } else {
                                ""
                            }
                        ),
                    );
                    let _ = events.send(DaemonEvent::Scheduled {
                        entry: entry.id.clone(),
                        slot: due.slot,
                        missed: due.missed,
                        job_id: q.job_id,
                    });
                }
                Err(e) => {
                    let _ = engine.audit("schedule", &entry.id, "failed", &e.display_with_hint());
                    let _ = events.send(DaemonEvent::ScheduleFailed {
                        entry: entry.id.clone(),
                        error: e.display_with_hint(),
                    });
                }
            }
        }
        Ok(())
    })
    .await
    .map_err(|e| Error::external(format!("the scheduler task failed: {e}")))?
}

/// Copies the policies ask for that are missing (a target that was down,
/// a backup taken before the target was configured): one `copy` job for
/// all of them, unless one is already queued or running.
async fn copies_pass(
    engine: &Arc<std::sync::Mutex<Engine>>,
    events: &UnboundedSender<DaemonEvent>,
) {
    let engine = Arc::clone(engine);
    let events = events.clone();
    let _ = tokio::task::spawn_blocking(move || {
        let engine = engine.lock().unwrap_or_else(|p| p.into_inner());
        let missing = match crate::ops::copies::missing_count(&engine) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => {
                let _ = events.send(DaemonEvent::ScheduleFailed {
                    entry: "copies".into(),
                    error: e.display_with_hint(),
                });
                return;
            }
        };
        if engine
            .catalog
            .has_active_job(&crate::catalog::JobKind::Copy)
            .unwrap_or(true)
        {
            return;
        }
        let cwd = std::env::current_dir().unwrap_or_else(|_| std::path::PathBuf::from("/"));
        let request = JobRequest::Copy {
            id: None,
            to: None,
            verify: false,
        };
        match queue::enqueue(&engine, request, &cwd) {
            Ok(q) => {
                let _ = engine.catalog.job_log(
                    q.job_id,
                    "info",
                    &format!("queued by the daemon: {missing} copies the [copies] policy asks for are missing"),
                );
                let _ = events.send(DaemonEvent::CopiesQueued {
                    job_id: q.job_id,
                    missing,
                });
            }
            Err(e) => {
                let _ = events.send(DaemonEvent::ScheduleFailed {
                    entry: "copies".into(),
                    error: e.display_with_hint(),
                });
            }
        }
    })
    .await;
}

/// Health, alerts and metrics; failures are reported, never fatal.
async fn alerts_pass(
    engine: &Arc<std::sync::Mutex<Engine>>,
    events: &UnboundedSender<DaemonEvent>,
) {
    let engine = Arc::clone(engine);
    let events = events.clone();
    let _ = tokio::task::spawn_blocking(move || {
        let engine = engine.lock().unwrap_or_else(|p| p.into_inner());
        let now = crate::ops::now();
        match crate::alerts::run(&engine.config, &engine.catalog, now) {
            Ok((report, sent)) => {
                crate::health::metrics::after_health(
                    &engine.config,
                    Some(&engine.catalog),
                    &report,
                );
                let failed = sent
                    .iter()
                    .filter_map(|s| {
                        s.error
                            .as_ref()
                            .map(|e| format!("{} via {}: {e}", s.key, s.channel))
                    })
                    .collect();
                let _ = events.send(DaemonEvent::Alerts {
                    verdict: report.verdict.as_str().to_string(),
                    sent: sent.iter().filter(|s| s.error.is_none()).count(),
                    failed,
                });
            }
            Err(e) => {
                let _ = events.send(DaemonEvent::Alerts {
                    verdict: "unknown".into(),
                    sent: 0,
                    failed: vec![e.display_with_hint()],
                });
            }
        }
    })
    .await;
}
