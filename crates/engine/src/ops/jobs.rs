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

/// Settle jobs whose process died: remove their partial outputs (never a
/// file a committed manifest claims), record the backups they committed
/// but could not record, mark the rest interrupted, and clean orphan
/// partial files and dead processes' scratch space.
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
    for job in &dead {
        settle_dead_job(engine, job)?;
    }
    for b in engine.catalog.orphaned_running_backups()? {
        let note = settle_backup(engine, &b)?;
        tracing::warn!("backup {}: {note}", b.id);
    }
    engine.repo.clean_stale_partials(&pid_alive)?;
    crate::storage::local::remove_dead_scratch(
        &crate::ops::verify::scratch_base(engine),
        &pid_alive,
    );
    Ok(())
}

fn settle_dead_job(engine: &Engine, job: &crate::catalog::JobRecord) -> Result<()> {
    let mut removed = Vec::new();
    let mut kept = Vec::new();
    for p in &job.partial_outputs {
        let path = Path::new(p);
        if !engine.repo.holds(path) {
            continue; // not a repository file at all: never ours to delete
        }
        // With the directory's publishing lock, no live job is between
        // claiming a name and linking it; one that has linked lists it.
        let _lock = crate::storage::local::lock_names(path.parent().unwrap_or(Path::new(".")))?;
        if let Some(m) = crate::storage::local::Repository::committed_owner(path) {
            // Published and committed before the process died: a backup.
            kept.push(format!("{p} (backup {})", m.id));
            continue;
        }
        let live = engine
            .catalog
            .running_jobs()?
            .into_iter()
            .any(|j| j.id != job.id && j.partial_outputs.contains(p));
        if live {
            continue; // a live job's name (a publish that lost the race)
        }
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
    if !kept.is_empty() {
        msg.push_str(&format!(
            "; kept, because a committed backup owns them: {}",
            kept.join(", ")
        ));
    }
    for b in engine.catalog.list_backups_of_job(job.id)? {
        if b.status == crate::catalog::BackupStatus::Running {
            msg.push_str(&format!(
                "; backup {}: {}",
                b.id,
                settle_backup(engine, &b)?
            ));
        }
    }
    if let Some(note) = half_written(engine, job) {
        msg.push_str("; ");
        msg.push_str(&note);
    }
    engine.catalog.job_log(job.id, "error", &msg)?;
    engine
        .catalog
        .finish_job(job.id, "interrupted", Some(&msg))?;
    let _ = engine.audit(&job.kind, &job.target, "interrupted", &msg);
    Ok(())
}

/// A backup row left `running` by a process that is gone: if its manifest
/// was committed (and its payload has the committed size), the backup
/// exists and the row says so; otherwise it is `interrupted`. What was
/// decided, for the job's log.
fn settle_backup(engine: &Engine, b: &crate::catalog::BackupRecord) -> Result<String> {
    use crate::catalog::BackupStatus;
    let name = Path::new(&b.file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some((m, manifest_path)) = engine.repo.find_committed(b.backup_type, &b.id, &name) {
        let payload = manifest_path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&m.payload.file);
        let size_ok = std::fs::metadata(&payload).is_ok_and(|md| md.len() == m.payload.stored_size);
        let status = match (size_ok, m.warnings.is_empty()) {
            (false, _) => BackupStatus::Failed,
            (true, true) => BackupStatus::Succeeded,
            (true, false) => BackupStatus::SucceededWithWarnings,
        };
        engine.catalog.upsert_from_manifest(&m, &payload, status)?;
        return Ok(if size_ok {
            format!(
                "its manifest was committed before the process died, so it is kept and recorded as {status}"
            )
        } else {
            format!(
                "its manifest was committed but its payload {} does not have the committed size: recorded as failed and left in place for inspection",
                payload.display()
            )
        });
    }
    engine
        .catalog
        .set_backup_status(&b.id, BackupStatus::Interrupted)?;
    Ok("it was never committed: recorded as interrupted".to_string())
}

/// What a dead restore job may have left half-written, said plainly, after
/// removing the temporary files it left in the target.
fn half_written(engine: &Engine, job: &crate::catalog::JobRecord) -> Option<String> {
    use crate::ops::restore::{marked_incomplete_by, remove_stray_temps, INCOMPLETE_MARKER};
    if job.kind != "restore" {
        return None;
    }
    let what = job.resource.as_deref()?;
    let Some(dir) = what.strip_prefix("restore target ") else {
        return Some(format!(
            "the new database it was loading (the phase 'restoring into NAME' in this job's log) is incomplete: drop it, or restore again (an in-place restore drops it itself); a live database is replaced only by an atomic rename after a complete load and row-count check, so it is untouched unless this job's log shows the phase 'swapping', in which case it may refuse connections until `ALTER DATABASE name WITH ALLOW_CONNECTIONS true` ({what})"
        ));
    };
    // In place, the target is `/`: the backed-up roots are what was written.
    let roots: Vec<PathBuf> = if dir == "/" {
        crate::ops::select::resolve(
            engine,
            None,
            &crate::ops::select::Selector::Id(job.target.clone()),
        )
        .map(|a| crate::ops::restore::restored_roots(&a))
        .unwrap_or_default()
    } else {
        vec![PathBuf::from(dir)]
    };
    let temps: usize = roots.iter().map(|r| remove_stray_temps(r, job.pid)).sum();
    let marked: Vec<String> = roots
        .iter()
        .filter(|r| marked_incomplete_by(r, job.id))
        .map(|r| r.display().to_string())
        .collect();
    let mut note = if marked.len() == 1
        && roots.len() == 1
        && crate::ops::restore::marked_as_new(&roots[0])
    {
        format!(
            "the restore target {dir} was a new directory and is incomplete (it holds {INCOMPLETE_MARKER}): remove it and restore again"
        )
    } else if marked.is_empty() {
        format!(
            "the restore target {dir} may be partly restored: check it before use, or restore again; where it replaced existing files, the safety copy named in this job's log holds what was there"
        )
    } else {
        format!(
            "the restore target {} is incomplete (it holds {INCOMPLETE_MARKER}, which says what to do: restore again to complete it, or put back the safety copy it names)",
            marked.join(", ")
        )
    };
    if temps > 0 {
        note.push_str(&format!(
            "; removed {temps} temporary file(s) it left there"
        ));
    }
    Some(note)
}

/// Turn a cancel flag into the error operations return at a safe point.
pub fn check_cancel(cancel: &std::sync::atomic::AtomicBool) -> Result<()> {
    if cancel.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(Error::cancelled("cancelled by the operator"));
    }
    Ok(())
}
