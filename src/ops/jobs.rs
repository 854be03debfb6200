//! Jobs as the catalog records them: every operation is a row with a state,
//! a phase and progress, so another process (a second console, `status`)
//! can see it live, and a process that dies leaves a row that the next
//! start marks `interrupted` after removing the partial outputs.

use std::cell::Cell;
use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::ops::{pid_alive, Engine, Progress};

/// How often progress is written to the catalog at most.
const PERSIST_EVERY: Duration = Duration::from_millis(500);

/// How often a running job renews its lease.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// A running job whose lease is older than this is considered dead
/// (its process died on another host, or froze).
pub const LEASE: Duration = Duration::from_secs(30);

/// A running job: forwards progress to the face and persists it throttled.
/// A heartbeat thread renews the job's lease in the catalog and turns a
/// `lifeboat cancel` from another process (or Ctrl-C here) into the job's
/// cancel flag, which the operation checks at its safe points.
pub struct Job<'a> {
    engine: &'a Engine,
    pub id: i64,
    face: &'a dyn Progress,
    last_persist: Cell<Option<Instant>>,
    totals: Cell<(Option<u64>, Option<u64>)>,
    /// Progress the throttle held back; written when the job finishes, so a
    /// finished row shows what was done rather than the last sample.
    unsaved: Cell<Option<(u64, u64)>>,
    cancel: Arc<AtomicBool>,
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
        kind: &str,
        target: &str,
        face: &'a dyn Progress,
        external: &'static AtomicBool,
    ) -> Result<Job<'a>> {
        let id = match engine.claimed_job.take() {
            // A worker claimed this queued job (state running, our pid).
            Some(id) => {
                engine.catalog.adopt_job(id, kind, target)?;
                id
            }
            None => engine.catalog.create_job(
                kind,
                target,
                &engine.host,
                std::process::id(),
                "running",
            )?,
        };
        if engine.parent_job.is_some() {
            engine.catalog.set_job_links(id, engine.parent_job, None)?;
        }
        tracing::info!(job = id, pid = std::process::id(), actor = %engine.actor, "job {id} started: {kind} {target}");
        let cancel = Arc::new(AtomicBool::new(external.load(Ordering::Relaxed)));
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let heartbeat = {
            let cancel = Arc::clone(&cancel);
            let path = engine.catalog.path.clone();
            std::thread::Builder::new()
                .name(format!("lifeboat-job-{id}"))
                .spawn(move || heartbeat_loop(&path, id, external, &cancel, &stopped))
                .ok()
        };
        Ok(Job {
            engine,
            id,
            face,
            last_persist: Cell::new(None),
            totals: Cell::new((None, None)),
            unsaved: Cell::new(None),
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
        let dir = self
            .engine
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
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("cannot open lock", &path, e))?;
        // SAFETY: flock on a descriptor we own.
        let try_lock =
            || unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
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

    pub fn log(&self, level: &str, message: &str) {
        match level {
            "error" => tracing::error!(job = self.id, "{message}"),
            "warning" | "warn" => tracing::warn!(job = self.id, "{message}"),
            _ => tracing::info!(job = self.id, "{message}"),
        }
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
        if let Some((bytes, items)) = self.unsaved.take() {
            let (bt, it) = self.totals.get();
            let _ = self
                .engine
                .catalog
                .update_job_progress(self.id, bytes, bt, items, it);
        }
        let _ = self.engine.catalog.clear_partial_outputs(self.id);
        let _ = self
            .engine
            .catalog
            .finish_job(self.id, state, error.as_deref());
        tracing::info!(job = self.id, state, "job {} {state}", self.id);
        crate::health::metrics::after_job(&self.engine.config, &self.engine.catalog);
    }
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
            if let Err(e) = self
                .engine
                .catalog
                .update_job_progress(self.id, bytes_done, bt, items_done, it)
            {
                tracing::debug!("cannot persist progress of job {}: {e}", self.id);
            }
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
    let mut dead = engine.catalog.find_dead_jobs(&engine.host, &pid_alive)?;
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(LEASE).expect("small duration");
    for j in engine.catalog.find_stale_jobs(cutoff)? {
        // Another host's job, or one of ours that froze: its lease ran out.
        let ours_and_alive = j.host == engine.host && pid_alive(j.pid);
        if !ours_and_alive && !dead.iter().any(|d| d.id == j.id) {
            dead.push(j);
        }
    }
    for job in dead {
        let mut removed = Vec::new();
        for p in &job.partial_outputs {
            if std::fs::remove_file(p).is_ok() {
                removed.push(p.clone());
            }
        }
        let mut msg = format!(
            "process {} on {} died (or stopped renewing its lease) while running this job; partial outputs removed: {}",
            job.pid,
            job.host,
            if removed.is_empty() {
                "none".to_string()
            } else {
                removed.join(", ")
            }
        );
        if let Some(note) = half_written(&job) {
            msg.push_str("; ");
            msg.push_str(&note);
        }
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

/// What a dead restore job may have left half-written, said plainly.
fn half_written(job: &crate::catalog::JobRecord) -> Option<String> {
    if job.kind != "restore" {
        return None;
    }
    let what = job.resource.as_deref()?;
    Some(match what.strip_prefix("restore target ") {
        Some(dir) if crate::ops::restore::marked_incomplete_by(std::path::Path::new(dir), job.id) => format!(
            "the restore target {dir} was a new directory and is incomplete (it holds {}): remove it and restore again",
            crate::ops::restore::INCOMPLETE_MARKER
        ),
        Some(dir) => format!(
            "the restore target {dir} may be partly restored: check it before use, or restore again; where it replaced existing files, the safety copy named in this job's log holds what was there"
        ),
        None => format!("{what} may be partly restored: check it before use, or restore again"),
    })
}

/// Turn a cancel flag into the error operations return at a safe point.
pub fn check_cancel(cancel: &std::sync::atomic::AtomicBool) -> Result<()> {
    if cancel.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(Error::cancelled("cancelled by the operator"));
    }
    Ok(())
}
