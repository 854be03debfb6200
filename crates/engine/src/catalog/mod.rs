//! The catalog: a SQLite cache of the repository (backups, jobs, audit log).
//!
//! It is never the only copy of anything: `lifeboat catalog rebuild`
//! reconstructs the backups table from manifests, and the audit log is also
//! appended to the repository. That is why a damaged catalog is not repaired
//! in place: the error tells the operator to move it aside and rebuild.
//!
//! Several processes (the console, the daemon, a cron run of the CLI) share
//! one catalog file, so it runs in WAL mode with a generous busy timeout, and
//! every read-modify-write takes an IMMEDIATE transaction.
//!
//! Timestamps are stored as fixed-width RFC 3339 UTC text (nanoseconds, `Z`),
//! so they sort as text and round-trip exactly; `u64` counters as `i64`.

pub mod audit;
mod backups;
pub mod copies;
mod jobs;
pub mod listing;
mod schema;
pub mod stats;
pub mod summaries;
#[cfg(test)]
mod tests;
pub mod trend;

use std::fmt;
use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, ErrorCode, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::archive::manifest::{BackupKind, BackupType};
use crate::error::{Error, Result};

pub use audit::{current_actor, verify_chain, verify_jsonl, AuditCheck, AuditEntry, AuditRecord};
pub use jobs::{JobLogLine, JobLogTail};
pub use summaries::{AlertState, AlertStateUpdate, TypeTotals};
pub use trend::{TrendOutcome, TrendPoint};

/// Where a job is in its life. Stored as the same text it always was
/// (`queued`, `running`, ..., `interrupted`), and printed that way in
/// `--json` and on screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    SucceededWithWarnings,
    Failed,
    Cancelled,
    Interrupted,
}

impl JobState {
    /// The states a job can end in.
    pub const FINISHED: [JobState; 5] = [
        JobState::Succeeded,
        JobState::SucceededWithWarnings,
        JobState::Failed,
        JobState::Cancelled,
        JobState::Interrupted,
    ];
    /// Ended well: succeeded, with or without warnings.
    pub const GOOD: [JobState; 2] = [JobState::Succeeded, JobState::SucceededWithWarnings];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::SucceededWithWarnings => "succeeded_with_warnings",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Interrupted => "interrupted",
        }
    }

    /// Queued or running: not finished yet.
    pub fn is_active(self) -> bool {
        matches!(self, JobState::Queued | JobState::Running)
    }

    /// Ended, one way or another.
    pub fn is_finished(self) -> bool {
        !self.is_active()
    }

    /// Succeeded, with or without warnings.
    pub fn is_success(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::SucceededWithWarnings)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "succeeded_with_warnings" => JobState::SucceededWithWarnings,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            "interrupted" => JobState::Interrupted,
            other => return Err(format!("unknown job state '{other}'")),
        })
    }
}

/// What a job does. Stored as the same text (`backup`, `backup-all`,
/// `verify`, `restore`, `restore-plan`, `recover`, `drill`, `prune`,
/// `key-rotate`); a kind this version does not know (a row another version
/// wrote) is kept as written, so the row still shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobKind {
    Backup,
    /// `backup --all`: the parent of one backup job per type.
    BackupAll,
    Verify,
    Restore,
    /// A restore's dry run.
    RestorePlan,
    /// A recovery over the live system: the parent of its restores.
    Recover,
    /// A recovery rehearsed in a sandbox: the parent of its restores.
    Drill,
    Prune,
    KeyRotate,
    /// Copies of backups sent to `[[targets]]`.
    Copy,
    Other(String),
}

impl JobKind {
    pub fn as_str(&self) -> &str {
        match self {
            JobKind::Backup => "backup",
            JobKind::BackupAll => "backup-all",
            JobKind::Verify => "verify",
            JobKind::Restore => "restore",
            JobKind::RestorePlan => "restore-plan",
            JobKind::Recover => "recover",
            JobKind::Drill => "drill",
            JobKind::Prune => "prune",
            JobKind::KeyRotate => "key-rotate",
            JobKind::Copy => "copy",
            JobKind::Other(s) => s,
        }
    }

    /// Restores of either kind (their target may be partly written).
    pub fn is_restore(&self) -> bool {
        matches!(self, JobKind::Restore | JobKind::RestorePlan)
    }
}

impl From<&str> for JobKind {
    fn from(s: &str) -> JobKind {
        match s {
            "backup" => JobKind::Backup,
            "backup-all" => JobKind::BackupAll,
            "verify" => JobKind::Verify,
            "restore" => JobKind::Restore,
            "restore-plan" => JobKind::RestorePlan,
            "recover" => JobKind::Recover,
            "drill" => JobKind::Drill,
            "prune" => JobKind::Prune,
            "key-rotate" => JobKind::KeyRotate,
            "copy" => JobKind::Copy,
            other => JobKind::Other(other.to_string()),
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl rusqlite::ToSql for JobKind {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
    }
}

impl rusqlite::types::FromSql for JobKind {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        v.as_str().map(JobKind::from)
    }
}

impl Serialize for JobKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<JobKind, D::Error> {
        let s = String::deserialize(d)?;
        Ok(JobKind::from(s.as_str()))
    }
}

/// Status of a backup row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupStatus {
    Running,
    Succeeded,
    SucceededWithWarnings,
    Failed,
    Interrupted,
    Cancelled,
}

impl BackupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupStatus::Running => "running",
            BackupStatus::Succeeded => "succeeded",
            BackupStatus::SucceededWithWarnings => "succeeded_with_warnings",
            BackupStatus::Failed => "failed",
            BackupStatus::Interrupted => "interrupted",
            BackupStatus::Cancelled => "cancelled",
        }
    }
    /// Finished with a usable artifact.
    pub fn is_good(self) -> bool {
        matches!(
            self,
            BackupStatus::Succeeded | BackupStatus::SucceededWithWarnings
        )
    }
}

impl fmt::Display for BackupStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackupStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "running" => BackupStatus::Running,
            "succeeded" => BackupStatus::Succeeded,
            "succeeded_with_warnings" => BackupStatus::SucceededWithWarnings,
            "failed" => BackupStatus::Failed,
            "interrupted" => BackupStatus::Interrupted,
            "cancelled" => BackupStatus::Cancelled,
            other => return Err(format!("unknown backup status '{other}'")),
        })
    }
}

/// One backup as the catalog knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupRecord {
    pub id: String,
    #[serde(rename = "type")]
    pub backup_type: BackupType,
    pub name: Option<String>,
    pub kind: BackupKind,
    pub parent_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: BackupStatus,
    /// Plaintext bytes.
    pub size: u64,
    pub stored_size: u64,
    pub encrypted: bool,
    pub key_id: Option<String>,
    /// Absolute path of the payload file.
    pub file: String,
    pub sha256: Option<String>,
    pub verified_at: Option<DateTime<Utc>>,
    /// Outcome of the last verification ("ok", or the failure).
    pub verify_result: Option<String>,
    pub warnings: u64,
    pub job_id: Option<i64>,
}

/// The name a restore gives the safety copy of what it replaces.
pub const SAFETY_COPY_NAME: &str = "pre_restore";

impl BackupRecord {
    /// A backup that can be relied on: it finished with an artifact, and
    /// its last verification (if any) did not fail. A backup whose check
    /// failed is not good anywhere: not for retention's `min_keep`, health's
    /// last good backup, "latest", recover or the drill.
    pub fn is_good(&self) -> bool {
        self.status.is_good() && !self.verification_failed()
    }

    /// Its last verification found a problem.
    pub fn verification_failed(&self) -> bool {
        self.verify_result.as_deref().is_some_and(|r| r != "ok")
    }

    /// A restore's safety copy: it holds only what that restore replaced,
    /// so it is never "the latest backup" of its type.
    pub fn is_safety_copy(&self) -> bool {
        self.name.as_deref() == Some(SAFETY_COPY_NAME)
    }
}

/// Whether `b` and every ancestor of its incremental chain (looked up in
/// `rows` by id) is good: an incremental standing on a full that failed
/// verification, or is gone, restores nothing.
pub fn chain_is_good(
    b: &BackupRecord,
    rows: &std::collections::HashMap<&str, &BackupRecord>,
) -> bool {
    let mut cur = b;
    for _ in 0..10_000 {
        if !cur.is_good() {
            return false;
        }
        match cur.parent_id.as_deref() {
            None => return true,
            Some(pid) => match rows.get(pid) {
                Some(parent) => cur = parent,
                None => return false,
            },
        }
    }
    false
}

/// One job row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: i64,
    pub kind: JobKind,
    pub target: String,
    pub state: JobState,
    pub phase: Option<String>,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
    pub items_done: u64,
    pub items_total: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub error: Option<String>,
    pub host: String,
    pub pid: u32,
    /// Artifact paths this job is writing; removed if it dies.
    pub partial_outputs: Vec<String>,
    /// Someone asked this job to stop (`lifeboat cancel`).
    #[serde(default)]
    pub cancel_requested: bool,
    /// The job this one is part of (`backup --all`).
    #[serde(default)]
    pub parent_job: Option<i64>,
    /// What the job holds exclusively while it runs (a database, a target).
    #[serde(default)]
    pub resource: Option<String>,
}

/// A running job whose lease (its `updated_at`, renewed by a heartbeat
/// every few seconds) is older than this is considered dead: its process
/// died on another host, or froze.
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(30);

impl JobRecord {
    /// Running, but its lease ran out at `now`: how long it has been
    /// silent. Such a job is dead until proven otherwise (the next settle
    /// marks it interrupted); its rate and ETA mean nothing.
    pub fn silent_for(&self, now: DateTime<Utc>) -> Option<chrono::Duration> {
        let silent = now - self.updated_at;
        (self.state == JobState::Running && silent.to_std().is_ok_and(|d| d > LEASE))
            .then_some(silent)
    }

    /// Queued or running: not finished yet.
    pub fn is_active(&self) -> bool {
        self.state.is_active()
    }

    /// Fraction done, by bytes when a byte total is known, else by items.
    pub fn ratio(&self) -> Option<f64> {
        match (self.bytes_total, self.items_total) {
            (Some(t), _) if t > 0 => Some((self.bytes_done as f64 / t as f64).min(1.0)),
            (_, Some(t)) if t > 0 => Some((self.items_done as f64 / t as f64).min(1.0)),
            _ => None,
        }
    }

    /// [`JobRecord::ratio`] where a face may show it as a percentage: a
    /// finished successful job did all its work, so it shows one only if it
    /// reads 100% (a row written before totals were settled at the end may
    /// read 0% for a success: that would contradict its state).
    pub fn shown_ratio(&self) -> Option<f64> {
        self.ratio()
            .filter(|r| !self.state.is_success() || *r >= 1.0)
    }

    /// Bytes per second since the job started.
    pub fn throughput(&self, now: DateTime<Utc>) -> Option<f64> {
        let secs = (now - self.started_at?).num_milliseconds() as f64 / 1000.0;
        (secs > 0.5 && self.bytes_done > 0).then(|| self.bytes_done as f64 / secs)
    }

    /// Seconds left at the average rate so far.
    pub fn eta_seconds(&self, now: DateTime<Utc>) -> Option<f64> {
        let ratio = self.ratio()?;
        let secs = (now - self.started_at?).num_milliseconds() as f64 / 1000.0;
        (ratio > 0.0 && ratio < 1.0 && secs > 0.5).then(|| secs * (1.0 - ratio) / ratio)
    }

    /// Wall time of a finished job.
    pub fn duration_seconds(&self) -> Option<f64> {
        Some((self.finished_at? - self.started_at?).num_milliseconds() as f64 / 1000.0)
    }
}

/// The SQLite catalog.
pub struct Catalog {
    pub path: PathBuf,
    pub(crate) conn: rusqlite::Connection,
}

impl Catalog {
    /// Open (creating if absent) with WAL, busy timeout and migrations.
    ///
    /// A file that is not a SQLite database, or fails `PRAGMA quick_check`,
    /// is reported as damaged with the rebuild recipe; a catalog written by a
    /// newer lifeboat is refused rather than guessed at.
    pub fn open(path: &Path) -> Result<Catalog> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| Error::io("create catalog directory", parent, e))?;
        }
        // Create the file ourselves so it is 0600 from the first byte;
        // SQLite gives its -wal and -shm files the same mode.
        // Only when it is missing: closing a descriptor of a file drops every
        // POSIX lock this process holds on it, including SQLite's own locks
        // of other connections (a job's heartbeat thread), which would
        // silently break their transactions.
        if !path.exists() {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(path)
                .map_err(|e| Error::io("open catalog", path, e))?;
        }
        let conn = Connection::open(path).map_err(|e| classify(path, e))?;
        Self::setup(path, conn)
    }

    /// A second connection to an already opened catalog, for a helper
    /// thread (job heartbeats): no checks, no migrations, just a handle.
    pub fn open_existing_light(path: &Path) -> Result<Catalog> {
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| classify(path, e))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(|e| classify(path, e))?;
        Ok(Catalog {
            path: path.to_path_buf(),
            conn,
        })
    }

    /// Create a catalog at a path that must not exist yet (a rebuild writes
    /// into a fresh temp file and renames it over the old one).
    pub fn create_new(path: &Path) -> Result<Catalog> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| Error::io("create catalog directory", parent, e))?;
        }
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| Error::io("create catalog", path, e))?;
        Self::open(path)
    }

    fn setup(path: &Path, conn: Connection) -> Result<Catalog> {
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(|e| classify(path, e))?;
        // The first statement that reads the header: a non-database fails here.
        // Switching to WAL needs a moment of exclusive access and SQLite
        // answers BUSY without waiting when another connection (of this or
        // another process) is opening the same new file: retry for a while.
        let started = std::time::Instant::now();
        let _mode: String = loop {
            match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)) {
                Err(e)
                    if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                        && started.elapsed() < Duration::from_secs(10) =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => break other.map_err(|e| classify(path, e))?,
            }
        };
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| classify(path, e))?;
        if check != "ok" {
            return Err(damaged(path, &check));
        }
        conn.execute_batch("PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;")
            .map_err(|e| classify(path, e))?;
        let mut catalog = Catalog {
            path: path.to_path_buf(),
            conn,
        };
        catalog.migrate()?;
        Ok(catalog)
    }

    /// Schema version of this catalog (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    fn migrate(&mut self) -> Result<()> {
        let known = schema::current_version();
        loop {
            // Re-read the version inside the write lock: two processes opening
            // a new catalog at once must not both apply migration 1.
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| classify(&self.path, e))?;
            let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if version > known {
                return Err(Error::refused(format!(
                    "catalog {} has schema version {version}, but this lifeboat {} only knows versions up to {known}",
                    self.path.display(),
                    env!("CARGO_PKG_VERSION"),
                ))
                .hint("use the newer lifeboat that wrote this catalog, or point this one at another catalog file"));
            }
            if version == known {
                return Ok(());
            }
            tx.execute_batch(schema::MIGRATIONS[version as usize])
                .map_err(|e| {
                    Error::from(e).hint(format!(
                        "migrating catalog {} to schema version {} failed; it was left at version {version}",
                        self.path.display(),
                        version + 1
                    ))
                })?;
            tx.pragma_update(None, "user_version", version + 1)?;
            tx.commit()?;
        }
    }

    /// Run `f` inside a `BEGIN IMMEDIATE` transaction: the write lock is
    /// taken up front, so a read-modify-write cannot interleave with
    /// another process's.
    pub(crate) fn immediate<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        match f(&self.conn) {
            Ok(v) => {
                if let Err(e) = self.conn.execute_batch("COMMIT") {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    return Err(e.into());
                }
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

/// Map an error met while opening: corruption becomes the damaged-catalog
/// error with its recipe, anything else stays a database error.
fn classify(path: &Path, err: rusqlite::Error) -> Error {
    match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
            damaged(path, &err.to_string())
        }
        _ => Error::from(err),
    }
}

fn damaged(path: &Path, cause: &str) -> Error {
    let p = path.display();
    Error::integrity(format!("catalog {p} is damaged: {cause}")).hint(format!(
        "move it aside (mv {p} {p}.broken) and run `lifeboat catalog rebuild` to rebuild it from the repository's manifests"
    ))
}

// ---- column conversions shared by the table modules ----

/// Fixed-width RFC 3339 UTC text, so that text order is time order.
pub(crate) fn ts_to_sql(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(crate) fn ts_from_sql(idx: usize, s: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| bad_column(idx, format!("bad timestamp '{s}': {e}")))
}

pub(crate) fn opt_ts_from_sql(
    idx: usize,
    s: Option<String>,
) -> rusqlite::Result<Option<DateTime<Utc>>> {
    s.map(|s| ts_from_sql(idx, &s)).transpose()
}

pub(crate) fn u64_to_sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn u64_from_sql(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn bad_column(idx: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, msg.into())
}

/// Collect rows for a list a face or a policy shows, skipping (with a
/// warning) a row whose values cannot be read (a damaged timestamp, an
/// unknown state word): one bad row must not blank a screen or silence
/// the alerts. Errors of the database itself still fail the call.
pub(crate) fn collect_readable<T>(
    what: &str,
    rows: impl Iterator<Item = rusqlite::Result<T>>,
) -> Result<Vec<T>> {
    Ok(collect_counting(what, rows)?.0)
}

/// [`collect_readable`], also saying how many rows it skipped (for a
/// caller that must not let a skipped row pass unnoticed).
pub(crate) fn collect_counting<T>(
    what: &str,
    rows: impl Iterator<Item = rusqlite::Result<T>>,
) -> Result<(Vec<T>, usize)> {
    let mut out = Vec::new();
    let mut skipped = 0;
    for r in rows {
        match r {
            Ok(v) => out.push(v),
            Err(
                e @ (rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::Utf8Error(..)
                | rusqlite::Error::IntegralValueOutOfRange(..)),
            ) => {
                skipped += 1;
                tracing::warn!("skipping an unreadable row of {what}: {e}");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok((out, skipped))
}

/// Run a single-row query that may find nothing.
pub(crate) fn query_opt<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>> {
    Ok(conn.query_row(sql, params, f).optional()?)
}
