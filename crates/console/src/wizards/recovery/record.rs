//! The app's health after the recovery, made durable. The wizard's `tick`
//! queues each finished health check here; a thread opens the engine (as
//! every CLI verb does) and calls
//! [`lifeboat_engine::ops::recover::record_app_health`], which appends the
//! answer to the recovery's Markdown report and writes an audit record. So
//! the console thread writes nothing itself, and a report never says the
//! data came back without also saying whether the app did.
//!
//! One record is written at a time, in the order the checks finished:
//! they all append to the same report file.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, TryRecvError};

use chrono::{DateTime, Utc};
use lifeboat_engine::config::Config;
use lifeboat_engine::ops::Engine;

/// One health check's answer, waiting to be recorded.
struct Pending {
    healthy: bool,
    detail: String,
    at: DateTime<Utc>,
    report_file: Option<PathBuf>,
}

/// The records to write, the one being written, and how the last one went.
#[derive(Default)]
pub(super) struct HealthRecords {
    queue: VecDeque<Pending>,
    /// The record being written (healthy or not) and its answer to come.
    writing: Option<(bool, Receiver<Result<(), String>>)>,
    /// How the newest finished record went, for people.
    pub outcome: Option<String>,
}

fn word(healthy: bool) -> &'static str {
    if healthy {
        "OK"
    } else {
        "FAILED"
    }
}

impl HealthRecords {
    /// Record `healthy` (with what was checked, `detail`) as of `at`, in
    /// `report_file` when the recovery saved one.
    pub fn push(
        &mut self,
        healthy: bool,
        detail: String,
        at: DateTime<Utc>,
        report_file: Option<PathBuf>,
    ) {
        self.queue.push_back(Pending {
            healthy,
            detail,
            at,
            report_file,
        });
    }

    /// A record is waiting or being written.
    pub fn busy(&self) -> bool {
        self.writing.is_some() || !self.queue.is_empty()
    }

    /// Collect the record being written, start the next one. Returns
    /// (something changed, a record finished since the last tick).
    pub fn tick(&mut self, config: &Config) -> (bool, bool) {
        let mut finished = false;
        let mut changed = false;
        if let Some((healthy, rx)) = &self.writing {
            let answer = match rx.try_recv() {
                Ok(r) => Some(r),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => {
                    Some(Err("the thread writing it ended without a word".into()))
                }
            };
            if let Some(r) = answer {
                self.outcome = Some(match r {
                    Ok(()) => format!(
                        "App health after recovery ({}) recorded in the recovery report and the audit log.",
                        word(*healthy)
                    ),
                    Err(e) => format!(
                        "Could not record the app's health ({}) in the report and the audit log: {e}",
                        word(*healthy)
                    ),
                });
                self.writing = None;
                (changed, finished) = (true, true);
            }
        }
        if self.writing.is_none() {
            if let Some(p) = self.queue.pop_front() {
                let (tx, rx) = mpsc::channel();
                let config = config.clone();
                let healthy = p.healthy;
                std::thread::spawn(move || {
                    let r = Engine::open(config)
                        .and_then(|engine| {
                            lifeboat_engine::ops::recover::record_app_health(
                                &engine,
                                p.report_file.as_deref(),
                                p.healthy,
                                &p.detail,
                                p.at,
                            )
                        })
                        .map_err(|e| e.display_with_hint());
                    let _ = tx.send(r);
                });
                self.writing = Some((healthy, rx));
                changed = true;
            }
        }
        (changed, finished)
    }
}
