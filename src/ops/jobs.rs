//! Jobs as the catalog records them: every operation is a row with a state,
//! a phase and progress, so another process (a second console, `status`)
//! can see it live, and a process that dies leaves a row that the next
//! start marks `interrupted` after removing the partial outputs.

use std::cell::Cell;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::ops::{pid_alive, Engine, Progress};

/// How often progress is written to the catalog at most.
const PERSIST_EVERY: Duration = Duration::from_millis(500);

/// A running job: forwards progress to the face and persists it throttled.
pub struct Job<'a> {
    engine: &'a Engine,
    pub id: i64,
    face: &'a dyn Progress,
    last_persist: Cell<Option<Instant>>,
    totals: Cell<(Option<u64>, Option<u64>)>,
}

impl<'a> Job<'a> {
    /// Start a job row in state `running`.
    pub fn start(
        engine: &'a Engine,
        kind: &str,
        target: &str,
        face: &'a dyn Progress,
    ) -> Result<Job<'a>> {
        let id =
            engine
                .catalog
                .create_job(kind, target, &engine.host, std::process::id(), "running")?;
        Ok(Job {
            engine,
            id,
            face,
            last_persist: Cell::new(None),
            totals: Cell::new((None, None)),
        })
    }

    /// Remember a file this job is writing, so it is removed if we die.
    pub fn track_partial(&self, path: &Path) -> Result<()> {
        self.engine.catalog.add_partial_output(self.id, path)
    }

    pub fn log(&self, level: &str, message: &str) {
        let _ = self.engine.catalog.job_log(self.id, level, message);
    }

    /// Close the job with the outcome of the operation.
    pub fn finish<T>(&self, result: &Result<T>, warnings: usize) {
        let (state, error) = match result {
            Ok(_) if warnings > 0 => ("succeeded_with_warnings", None),
            Ok(_) => ("succeeded", None),
            Err(e) if e.kind == ErrorKind::Cancelled => ("cancelled", Some(e.message.clone())),
            Err(e) => ("failed", Some(e.display_with_hint())),
        };
        if let Some(err) = &error {
            self.log("error", err);
        }
        let _ = self.engine.catalog.clear_partial_outputs(self.id);
        let _ = self
            .engine
            .catalog
            .finish_job(self.id, state, error.as_deref());
    }
}

impl Progress for Job<'_> {
    fn phase(&self, name: &str) {
        self.face.phase(name);
        self.log("info", &format!("phase: {name}"));
        let _ = self.engine.catalog.set_job_phase(self.id, name);
    }
    fn total(&self, bytes: Option<u64>, items: Option<u64>) {
        self.totals.set((bytes, items));
        self.face.total(bytes, items);
    }
    fn advance(&self, bytes_done: u64, items_done: u64) {
        self.face.advance(bytes_done, items_done);
        let now = Instant::now();
        let due = self
            .last_persist
            .get()
            .is_none_or(|t| now.duration_since(t) >= PERSIST_EVERY);
        if due {
            self.last_persist.set(Some(now));
            let (bt, it) = self.totals.get();
            let _ = self
                .engine
                .catalog
                .update_job_progress(self.id, bytes_done, bt, items_done, it);
        }
    }
    fn note(&self, message: &str) {
        self.face.note(message);
        self.log("warning", message);
    }
}

/// Settle jobs whose process died: remove their partial outputs, mark them
/// and their backups interrupted, and clean orphan partial files.
pub fn recover_dead_jobs(engine: &Engine) -> Result<()> {
    let dead = engine.catalog.find_dead_jobs(&engine.host, &pid_alive)?;
    for job in dead {
        let mut removed = Vec::new();
        for p in &job.partial_outputs {
            if std::fs::remove_file(p).is_ok() {
                removed.push(p.clone());
            }
        }
        let msg = format!(
            "process {} on {} died while running this job; partial outputs removed: {}",
            job.pid,
            job.host,
            if removed.is_empty() {
                "none".to_string()
            } else {
                removed.join(", ")
            }
        );
        engine.catalog.job_log(job.id, "error", &msg)?;
        engine
            .catalog
            .mark_backups_of_job(job.id, crate::catalog::BackupStatus::Interrupted)?;
        engine
            .catalog
            .finish_job(job.id, "interrupted", Some(&msg))?;
        let _ = engine.audit(&job.kind, &job.target, "interrupted", &msg);
    }
    engine.repo.clean_stale_partials(&pid_alive)?;
    Ok(())
}

/// Turn a cancel flag into the error operations return at a safe point.
pub fn check_cancel(cancel: &std::sync::atomic::AtomicBool) -> Result<()> {
    if cancel.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(Error::cancelled("cancelled by the operator"));
    }
    Ok(())
}
