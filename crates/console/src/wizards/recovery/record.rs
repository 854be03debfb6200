//! What the recovery's own run cannot know, made durable: the app's health
//! after the recovery, and the copy target its backups were brought back
//! from. The wizard's `tick` queues each finished health check (and, once
//! the recovery has run, each target it fetched from) here; a thread opens
//! the engine (as every CLI verb does) and calls
//! [`lifeboat_engine::ops::recover::record_app_health`] or
//! [`lifeboat_engine::ops::recover::record_source`], which append a section
//! to the recovery's Markdown report and write an audit record. So the
//! console thread writes nothing itself, and a report never says the data
//! came back without also saying whether the app did.
//!
//! One record is written at a time, in the order they were queued: they
//! all append to the same report file.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, TryRecvError};

use chrono::{DateTime, Utc};
use lifeboat_engine::config::Config;
use lifeboat_engine::ops::recover::RecoverySource;
use lifeboat_engine::ops::Engine;

/// What one record says.
#[derive(Clone)]
enum Fact {
    /// A health check's answer, and what was checked.
    Health { healthy: bool, detail: String },
    /// The target the backups were brought back from.
    Source(RecoverySource),
}

/// One record, waiting to be written.
struct Pending {
    fact: Fact,
    at: DateTime<Utc>,
    report_file: Option<PathBuf>,
}

/// The records to write, the one being written, and how the last one went.
#[derive(Default)]
pub(super) struct Records {
    queue: VecDeque<Pending>,
    /// What the record being written says, and its answer to come.
    writing: Option<(Fact, Receiver<Result<(), String>>)>,
    /// How the newest finished health record went, for people.
    pub outcome: Option<String>,
    /// How the newest finished source record went, for people.
    pub source_outcome: Option<String>,
}

fn word(healthy: bool) -> &'static str {
    if healthy {
        "OK"
    } else {
        "FAILED"
    }
}

impl Records {
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
            fact: Fact::Health { healthy, detail },
            at,
            report_file,
        });
    }

    /// Record that the recovery's backups came from `source` (fetched at
    /// `at`), in `report_file` when the recovery saved one.
    pub fn push_source(
        &mut self,
        source: RecoverySource,
        at: DateTime<Utc>,
        report_file: Option<PathBuf>,
    ) {
        self.queue.push_back(Pending {
            fact: Fact::Source(source),
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
        if let Some((fact, rx)) = &self.writing {
            let answer = match rx.try_recv() {
                Ok(r) => Some(r),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => {
                    Some(Err("the thread writing it ended without a word".into()))
                }
            };
            if let Some(r) = answer {
                match fact {
                    Fact::Health { healthy, .. } => self.outcome = Some(match r {
                        Ok(()) => format!(
                            "App health after recovery ({}) recorded in the recovery report and the audit log.",
                            word(*healthy)
                        ),
                        Err(e) => format!(
                            "Could not record the app's health ({}) in the report and the audit log: {e}",
                            word(*healthy)
                        ),
                    }),
                    Fact::Source(s) => self.source_outcome = Some(match r {
                        Ok(()) => format!(
                            "Where the backups came from ({}) is recorded in the recovery report and the audit log.",
                            s.describe()
                        ),
                        Err(e) => format!(
                            "Could not record where the backups came from ({}) in the report and the audit log: {e}",
                            s.describe()
                        ),
                    }),
                }
                self.writing = None;
                (changed, finished) = (true, true);
            }
        }
        if self.writing.is_none() {
            if let Some(p) = self.queue.pop_front() {
                let (tx, rx) = mpsc::channel();
                let config = config.clone();
                let fact = p.fact.clone();
                std::thread::spawn(move || {
                    use lifeboat_engine::ops::recover::{record_app_health, record_source};
                    let file = p.report_file.as_deref();
                    let r = Engine::open(config)
                        .and_then(|engine| match &p.fact {
                            Fact::Health { healthy, detail } => {
                                record_app_health(&engine, file, *healthy, detail, p.at)
                            }
                            Fact::Source(s) => record_source(&engine, file, s, p.at),
                        })
                        .map_err(|e| e.display_with_hint());
                    let _ = tx.send(r);
                });
                self.writing = Some((fact, rx));
                changed = true;
            }
        }
        (changed, finished)
    }
}
