//! Jobs as the catalog records them: every operation is a row with a state,
//! a phase and progress, so another process (a second console, `status`)
//! can see it live, and a process that dies leaves a row that the next
//! start marks `interrupted` after removing the partial outputs.

use std::cell::Cell;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::catalog::{JobKind, JobState};
use crate::error::{Error, ErrorKind, Result};
use crate::ops::{Engine, Progress};
use crate::Cancel;

/// How often progress is written to the catalog at most.
const PERSIST_EVERY: Duration = Duration::from_millis(500);

/// How often a running job renews its lease.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
pub use crate::catalog::LEASE;

/// A running job: forwards progress to the face and persists it throttled.
/// A heartbeat thread renews the job's lease in the catalog and turns a
/// `lifeboat cancel` from another process (or Ctrl-C here) into the job's
/// cancel flag, which the operation checks at its safe points.
pub struct Job<'a> {
    engine: &'a Engine,
    pub id: i64,
    kind: JobKind,
    target: String,
    /// The phase it is in, and the one it was in when it first saw its
    /// cancel flag (looked at on each phase change): what [`Job::finish`]
    /// says of a cancel that came too late.
    phase: std::cell::RefCell<Option<String>>,
    cancelled_in: std::cell::RefCell<Option<String>>,
    face: &'a dyn Progress,
    last_persist: Cell<Option<Instant>>,
    totals: Cell<(Option<u64>, Option<u64>)>,
    /// Progress the throttle held back; written when the job finishes, so a
    /// finished row shows what was done rather than the last sample.
    unsaved: Cell<Option<(u64, u64)>>,
    /// The last (bytes, items) done, saved or not: what a successful job's
    /// row ends with, totals included (see [`recorded_total`]).
    done: Cell<(u64, u64)>,
    cancel: Cancel,
    /// Dropping it wakes and ends the heartbeat thread at once.
    stop: Option<std::sync::mpsc::Sender<()>>,
    heartbeat: Option<JoinHandle<()>>,
    locks: std::cell::RefCell<Vec<File>>,
}

impl<'a> Job<'a> {
    /// Start a job row in state `running`, or take over the queued job a
    /// worker claimed for this engine. `external` is the process's own
    /// interrupt flag (Ctrl-C, or a worker pool's shutdown).
    pub fn start(
        engine: &'a Engine,
        kind: JobKind,
        target: &str,
        face: &'a dyn Progress,
        external: &Cancel,
    ) -> Result<Job<'a>> {
        let id = match engine.claimed_job.take() {
            // A worker claimed this queued job (state running, our pid).
            Some(id) => {
                engine.catalog.adopt_job(id, &kind, target)?;
                id
            }
            None => engine.catalog.create_job(
                &kind,
                target,
                &engine.host,
                std::process::id(),
                JobState::Running,
            )?,
        };
        let mut parent_cancelled = false;
        if let Some(parent) = engine.parent_job {
            engine.catalog.set_job_links(id, Some(parent), None)?;
            // The parent was cancelled before this child started: so is
            // it, from its first safe point on.
            if engine.catalog.cancel_requested(parent)? {
                engine.catalog.request_cancel(id)?;
                parent_cancelled = true;
            }
        }
        tracing::info!(job = id, pid = std::process::id(), actor = %engine.actor, "job {id} started: {kind} {target}");
        let cancel = Cancel::new();
        if parent_cancelled || external.is_cancelled() {
            cancel.cancel();
        }
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let heartbeat = {
            let cancel = cancel.clone();
            let external = external.clone();
            let path = engine.catalog.path.clone();
            std::thread::Builder::new()
                .name(format!("lifeboat-job-{id}"))
                .spawn(move || heartbeat_loop(&path, id, &external, &cancel, &stopped))
                .ok()
        };
        Ok(Job {
            engine,
            id,
            kind,
            target: target.to_string(),
            phase: std::cell::RefCell::new(None),
            cancelled_in: std::cell::RefCell::new(None),
            face,
            last_persist: Cell::new(None),
            totals: Cell::new((None, None)),
            unsaved: Cell::new(None),
            done: Cell::new((0, 0)),
            cancel,
            stop: Some(stop),
            heartbeat,
            locks: std::cell::RefCell::new(Vec::new()),
        })
    }

    /// The flag the operation checks at its safe points.
    pub fn cancel_flag(&self) -> &AtomicBool {
        &self.cancel
    }

    /// Hold `resource` exclusively for the rest of this job. If another job
    /// holds it, say so and wait (cancellable). Locks are files under the
    /// catalog's directory, released by the kernel if this process dies.
    pub fn acquire(&self, resource: &str) -> Result<()> {
        let file = open_lock(self.engine, resource)?;
        // flock(2) under the hood: released by the kernel when this
        // process dies, whatever kills it.
        let try_lock = || file.try_lock().is_ok();
        if !try_lock() {
            let holder_now = || -> Result<Option<crate::catalog::JobRecord>> {
                Ok(self
                    .engine
                    .catalog
                    .running_jobs()?
                    .into_iter()
                    .find(|j| j.id != self.id && j.resource.as_deref() == Some(resource)))
            };
            // The holder records the resource in its job row just after it
            // takes the lock: give it a moment, so the wait names it.
            let mut holder = holder_now()?;
            for _ in 0..10 {
                if holder.is_some() {
                    break;
                }
                check_cancel(&self.cancel)?;
                std::thread::sleep(Duration::from_millis(100));
                if try_lock() {
                    return self.hold(resource, file);
                }
                holder = holder_now()?;
            }
            let who = match holder {
                Some(j) => format!(
                    "job {} ({} {}, pid {} on {})",
                    j.id, j.kind, j.target, j.pid, j.host
                ),
                None => "another job".to_string(),
            };
            self.note(&format!("waiting: {resource} is busy with {who}"));
            self.phase(&format!("waiting for {resource}"));
            loop {
                check_cancel(&self.cancel)?;
                std::thread::sleep(Duration::from_millis(200));
                if try_lock() {
                    break;
                }
            }
        }
        self.hold(resource, file)
    }

    /// Record that this job holds `resource` (its lock `file` stays open).
    fn hold(&self, resource: &str, file: std::fs::File) -> Result<()> {
        self.engine
            .catalog
            .set_job_links(self.id, None, Some(resource))?;
        self.locks.borrow_mut().push(file);
        Ok(())
    }

    /// Remember a file this job is writing, so it is removed if we die.
    pub fn track_partial(&self, path: &Path) -> Result<()> {
        self.engine.catalog.add_partial_output(self.id, path)
    }

    /// Add a line to the job's log (in the catalog, where `status ID` and
    /// the console read it) and to the process's log, stderr included.
    pub fn log(&self, level: &str, message: &str) {
        match level {
            "error" => tracing::error!(job = self.id, "{message}"),
            "warning" | "warn" => tracing::warn!(job = self.id, "{message}"),
            _ => tracing::info!(job = self.id, "{message}"),
        }
        let _ = self.engine.catalog.job_log(self.id, level, message);
    }

    /// [`Job::log`] for what the face tells the operator itself (the error
    /// the job ends with, which `main` prints): the job log and the log
    /// file keep it, stderr does not get a second copy.
    pub(crate) fn record(&self, level: &str, message: &str) {
        use crate::logging::RECORD_ONLY;
        match level {
            "error" => tracing::error!(target: RECORD_ONLY, job = self.id, "{message}"),
            "warning" | "warn" => tracing::warn!(target: RECORD_ONLY, job = self.id, "{message}"),
            _ => tracing::info!(target: RECORD_ONLY, job = self.id, "{message}"),
        }
        let _ = self.engine.catalog.job_log(self.id, level, message);
    }

    /// Close the job with the outcome of the operation. A success stands
    /// even when a cancel was requested meanwhile (it came past the last
    /// safe point: a committed backup is never undone for it), and the job
    /// log and a notice say so.
    pub fn finish<T>(&self, result: &Result<T>, warnings: usize) {
        let (state, error) = match result {
            Ok(_) if warnings > 0 => (JobState::SucceededWithWarnings, None),
            Ok(_) => (JobState::Succeeded, None),
            Err(e) if e.kind == ErrorKind::Cancelled => {
                (JobState::Cancelled, Some(e.message.clone()))
            }
            Err(e) => (JobState::Failed, Some(e.display_with_hint())),
        };
        if let Some(err) = &error {
            // The operation returns the error to its face, which says it.
            self.record("error", err);
        }
        if result.is_ok() && self.cancel_requested() {
            self.note_cancel_phase();
            // A request the heartbeat had not seen yet: the phase now.
            let phase = self
                .cancelled_in
                .borrow()
                .clone()
                .or_else(|| self.phase.borrow().clone());
            let note = late_cancel_note(self.id, &self.kind, &self.target, phase.as_deref());
            // The notice tells the operator (and the log file); the job
            // log keeps it for `status ID` and the console.
            let _ = self.engine.catalog.job_log(self.id, "warning", &note);
            crate::notice::say(crate::notice::Level::Warning, &note);
        }
        // A success did all of its work: its row says so, done and total
        // alike (a total counted ahead is only an estimate). Otherwise the
        // last progress the throttle held back.
        let last = if result.is_ok() {
            Some(self.done.get())
        } else {
            self.unsaved.take()
        };
        if let Some((bytes, items)) = last {
            let (bt, it) = self.totals.get();
            let ok = result.is_ok();
            let _ = self.engine.catalog.update_job_progress(
                self.id,
                bytes,
                recorded_total(bytes, bt, ok),
                items,
                recorded_total(items, it, ok),
            );
        }
        // The outcome is already in the repository (a committed backup is
        // recorded before this); if the job row cannot be closed now, it
        // stays `running` and the next start settles it as interrupted.
        let closed = self
            .engine
            .catalog
            .clear_partial_outputs(self.id)
            .and_then(|()| {
                self.engine
                    .catalog
                    .finish_job(self.id, state, error.as_deref())
            });
        if let Err(e) = closed {
            tracing::error!(
                job = self.id,
                "job {} ended {state} but the catalog could not record it: {}",
                self.id,
                e.display_with_hint()
            );
        }
        tracing::info!(
            job = self.id,
            state = state.as_str(),
            "job {} {state}",
            self.id
        );
        if let Some(o) = OBSERVER.get() {
            o.job_ended(&self.engine.config, &self.engine.catalog, self.id, state);
        }
    }
}

/// The lock file of `resource`, opened (not locked): a file under the
/// catalog's directory, named after the resource.
fn open_lock(engine: &Engine, resource: &str) -> Result<File> {
    let dir = engine
        .config
        .catalog
        .path
        .parent()
        .unwrap_or(Path::new("."))
        .join("locks");
    crate::storage::local::create_dir_all_private(&dir)?;
    let safe: String = resource
        .chars()
        .take(60)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let digest = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(resource.as_bytes())[..6]);
    let path: PathBuf = dir.join(format!("{safe}-{digest}.lock"));
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("cannot open lock", &path, e))
}

/// Hold `resource` for an operation that is not a job and does not wait
/// (deleting one backup from the console): the lock, held until the
/// returned file is dropped, or a refusal naming the job that holds it and
/// what to do. `doing` says what was refused ("deleting backup X").
pub(crate) fn hold_or_refuse(engine: &Engine, resource: &str, doing: &str) -> Result<File> {
    let file = open_lock(engine, resource)?;
    if file.try_lock().is_ok() {
        return Ok(file);
    }
    let holder = engine
        .catalog
        .running_jobs()?
        .into_iter()
        .find(|j| j.resource.as_deref() == Some(resource));
    let (who, next) = match holder {
        Some(j) => (
            format!(
                "job {} ({} {}, pid {} on {})",
                j.id, j.kind, j.target, j.pid, j.host
            ),
            format!(
                "wait for job {id} to finish (`lifeboat status {id}`) or cancel it (`lifeboat cancel {id}`), then try again",
                id = j.id
            ),
        ),
        None => (
            "another job".to_string(),
            "`lifeboat status` shows the running jobs; try again when it has finished".to_string(),
        ),
    };
    Err(Error::refused(format!(
        "{doing} was refused: the {resource} is in use by {who}"
    ))
    .hint(next))
}

/// What a face wants done after every job ends, whatever started it (the
/// `lifeboat` binary refreshes the metrics file for Prometheus). The
/// engine calls it; it does not know what it does.
pub trait JobObserver: Send + Sync {
    fn job_ended(
        &self,
        config: &crate::config::Config,
        catalog: &crate::catalog::Catalog,
        job_id: i64,
        state: JobState,
    );
}

static OBSERVER: std::sync::OnceLock<Box<dyn JobObserver>> = std::sync::OnceLock::new();

/// Install the process's job observer, once, when the face starts. False
/// when one was installed already (the first stays).
pub fn install_observer(observer: Box<dyn JobObserver>) -> bool {
    OBSERVER.set(observer).is_ok()
}

impl Job<'_> {
    /// Remember the phase the job is in when it first sees its cancel flag.
    fn note_cancel_phase(&self) {
        if self.cancel.is_cancelled() && self.cancelled_in.borrow().is_none() {
            *self.cancelled_in.borrow_mut() = self.phase.borrow().clone();
        }
    }

    /// Whether this job was asked to stop: its flag (Ctrl-C, or a request
    /// the heartbeat has seen), or a request in the catalog the heartbeat
    /// has not polled yet.
    fn cancel_requested(&self) -> bool {
        self.cancel.is_cancelled()
            || self
                .engine
                .catalog
                .cancel_requested(self.id)
                .unwrap_or(false)
    }
}

/// What a job that was asked to stop but completed says: the cancel came
/// after its last safe point (a backup sealing and committing its files
/// checks for none), and the work stands.
fn late_cancel_note(id: i64, kind: &JobKind, target: &str, phase: Option<&str>) -> String {
    let during = phase.map(|p| format!(" (during {p})")).unwrap_or_default();
    let outcome = match kind {
        JobKind::Backup => "the backup was completed and kept",
        JobKind::BackupAll => "the backups were completed and kept",
        JobKind::Verify => "the verification was completed",
        JobKind::Restore => "the restore was completed",
        JobKind::RestorePlan => "the restore plan was completed",
        JobKind::Recover => "the recovery was completed",
        JobKind::Drill => "the drill was completed",
        JobKind::Prune => "the prune was completed",
        JobKind::KeyRotate => "the key rotation was completed",
        JobKind::Copy => "the copies were completed",
        JobKind::Other(_) => "the job was completed",
    };
    format!("job {id} ({kind} {target}): cancel came too late{during}: {outcome}")
}

impl Drop for Job<'_> {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.heartbeat.take() {
            let _ = h.join();
        }
    }
}

/// Renew the lease every [`HEARTBEAT_EVERY`]; watch for Ctrl-C (every
/// 100 ms) and for a cancel request from another process (every 500 ms).
/// Uses its own catalog connection.
fn heartbeat_loop(
    catalog: &Path,
    id: i64,
    external: &AtomicBool,
    cancel: &AtomicBool,
    stop: &std::sync::mpsc::Receiver<()>,
) {
    let conn = crate::catalog::Catalog::open_existing_light(catalog).ok();
    let mut last_check = Instant::now();
    let mut last_beat = Instant::now();
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
        stop.recv_timeout(Duration::from_millis(100))
    {
        if external.load(Ordering::Relaxed) {
            cancel.store(true, Ordering::Relaxed);
        }
        let Some(c) = &conn else { continue };
        if last_check.elapsed() >= Duration::from_millis(500) {
            last_check = Instant::now();
            if c.cancel_requested(id).unwrap_or(false) {
                cancel.store(true, Ordering::Relaxed);
            }
        }
        if last_beat.elapsed() >= HEARTBEAT_EVERY {
            last_beat = Instant::now();
            let _ = c.heartbeat(id);
        }
    }
}

impl Progress for Job<'_> {
    fn phase(&self, name: &str) {
        self.note_cancel_phase();
        *self.phase.borrow_mut() = Some(name.to_string());
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
        self.done.set((bytes_done, items_done));
        if self.cancel.load(Ordering::Relaxed) {
            return;
        }
        let now = Instant::now();
        let due = self
            .last_persist
            .get()
            .is_none_or(|t| now.duration_since(t) >= PERSIST_EVERY);
        if !due {
            self.unsaved.set(Some((bytes_done, items_done)));
        } else {
            self.unsaved.set(None);
            self.last_persist.set(Some(now));
            let (bt, it) = self.totals.get();
            if let Err(e) = self.engine.catalog.update_job_progress(
                self.id,
                bytes_done,
                recorded_total(bytes_done, bt, false),
                items_done,
                recorded_total(items_done, it, false),
            ) {
                tracing::debug!("cannot persist progress of job {}: {e}", self.id);
            }
        }
    }
    fn note(&self, message: &str) {
        self.face.note(message);
        self.log("warning", message);
    }
}

/// How a job's audit record describes a successful result: the outcome
/// word and the detail.
pub(crate) struct AuditAs<'a, T> {
    pub action: &'a str,
    pub target: &'a str,
    pub success: &'a dyn Fn(&T) -> (String, String),
}

/// How a job ends beyond its state: the warnings a successful result
/// carries, and the audit record to write, if any.
pub(crate) struct JobEnd<'a, T> {
    pub warnings: fn(&T) -> usize,
    pub audit: Option<AuditAs<'a, T>>,
}

impl<T> JobEnd<'_, T> {
    /// No warnings, no audit record (the operation audits itself, or is
    /// not audited).
    pub fn plain() -> Self {
        JobEnd {
            warnings: |_| 0,
            audit: None,
        }
    }
}

/// The one epilogue of an operation run as a job: start the job, run
/// `body` with it and its cancel flag, close the job with the outcome (a
/// successful result with `end.warnings(result)` > 0 ends
/// `succeeded_with_warnings`), then write `end.audit`, if any: a success
/// as its `success` says, a failure as `cancelled` or `failed` with its
/// message.
pub(crate) fn run_job<T>(
    engine: &Engine,
    kind: JobKind,
    target: &str,
    face: &dyn Progress,
    cancel: &Cancel,
    end: JobEnd<'_, T>,
    body: impl FnOnce(&Job, &AtomicBool) -> Result<T>,
) -> Result<T> {
    let job = Job::start(engine, kind, target, face, cancel)?;
    let result = body(&job, job.cancel_flag());
    job.finish(&result, result.as_ref().map(end.warnings).unwrap_or(0));
    if let Some(a) = end.audit {
        let (outcome, detail) = match &result {
            Ok(r) => (a.success)(r),
            Err(e) => (
                if e.kind == ErrorKind::Cancelled {
                    "cancelled"
                } else {
                    "failed"
                }
                .to_string(),
                e.message.clone(),
            ),
        };
        engine.audit(a.action, a.target, &outcome, &detail)?;
    }
    result
}

/// Run a restore of `artifact_id` as a job (`restore-plan` for a dry run)
/// and audit real restores: what went where, or why it failed.
pub(crate) fn run_restore_job<T>(
    engine: &Engine,
    artifact_id: &str,
    dry_run: bool,
    face: &dyn Progress,
    cancel: &Cancel,
    body: impl FnOnce(&Job, &AtomicBool) -> Result<T>,
    describe: impl Fn(&T) -> String,
) -> Result<T> {
    let kind = if dry_run {
        JobKind::RestorePlan
    } else {
        JobKind::Restore
    };
    let success = |r: &T| ("succeeded".to_string(), describe(r));
    let audit = (!dry_run).then_some(AuditAs {
        action: "restore",
        target: artifact_id,
        success: &success,
    });
    let end = JobEnd {
        warnings: |_| 0,
        audit,
    };
    run_job(engine, kind, artifact_id, face, cancel, end, body)
}

/// The total a job row records beside `done`. A successful job did all
/// of its work, so its total is what it did (a total counted or estimated
/// ahead, a tree that changed after it was counted, a file that could not
/// be read: done is the truth then); a job that reported no progress at
/// all keeps no total. Otherwise a total the work has already passed was
/// an undercount (files added after the count): it is raised to `done`,
/// so a row never reads 11 of 10.
fn recorded_total(done: u64, total: Option<u64>, succeeded: bool) -> Option<u64> {
    if succeeded {
        return (done > 0 || total.is_some()).then_some(done);
    }
    total.map(|t| t.max(done))
}

/// Turn a cancel flag into the error operations return at a safe point.
pub fn check_cancel(cancel: &std::sync::atomic::AtomicBool) -> Result<()> {
    if cancel.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(Error::cancelled("cancelled by the operator"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_total_is_never_below_what_was_done() {
        // Running: a counted total stands until the work passes it.
        assert_eq!(recorded_total(4, Some(10), false), Some(10));
        assert_eq!(recorded_total(11, Some(10), false), Some(11));
        assert_eq!(recorded_total(5, None, false), None);
        // Succeeded: done is the total, whatever was estimated.
        assert_eq!(recorded_total(17_315, Some(7_833_115), true), Some(17_315));
        assert_eq!(recorded_total(11, Some(10), true), Some(11));
        assert_eq!(recorded_total(5, None, true), Some(5));
        assert_eq!(recorded_total(0, Some(3), true), Some(0));
        // Nothing reported: no total to make up.
        assert_eq!(recorded_total(0, None, true), None);
    }

    #[test]
    fn a_late_cancel_names_the_job_the_phase_and_what_stands() {
        assert_eq!(
            late_cancel_note(12, &JobKind::Backup, "filesystem", Some("sealing")),
            "job 12 (backup filesystem): cancel came too late (during sealing): the backup was completed and kept"
        );
        assert_eq!(
            late_cancel_note(3, &JobKind::Restore, "fs-1", None),
            "job 3 (restore fs-1): cancel came too late: the restore was completed"
        );
    }
}
