//! The jobs table and each job's log.
//!
//! A job row is how other processes (a second console, the daemon) see
//! what this one is doing, and how a later run finds out that a job's
//! process died: the row still says `running`, but its pid is gone.

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{params, Row};

use super::JobKind;
use super::{
    bad_column, collect_counting, collect_readable, opt_ts_from_sql, query_opt, ts_from_sql,
    ts_to_sql, u64_from_sql, u64_to_sql, Catalog, JobRecord, JobState,
};
use crate::error::{Error, Result};

const COLUMNS: &str = "id, kind, target, state, phase, bytes_done, bytes_total, items_done, \
     items_total, created_at, started_at, finished_at, updated_at, error, host, pid, partial_outputs, \
     cancel_requested, parent_job, resource";

fn from_row(r: &Row<'_>) -> rusqlite::Result<JobRecord> {
    let outputs: String = r.get(16)?;
    Ok(JobRecord {
        id: r.get(0)?,
        kind: r.get(1)?,
        target: r.get(2)?,
        state: {
            let s: String = r.get(3)?;
            s.parse().map_err(|e: String| bad_column(3, e))?
        },
        phase: r.get(4)?,
        bytes_done: u64_from_sql(r.get(5)?),
        bytes_total: r.get::<_, Option<i64>>(6)?.map(u64_from_sql),
        items_done: u64_from_sql(r.get(7)?),
        items_total: r.get::<_, Option<i64>>(8)?.map(u64_from_sql),
        created_at: ts_from_sql(9, &r.get::<_, String>(9)?)?,
        started_at: opt_ts_from_sql(10, r.get(10)?)?,
        finished_at: opt_ts_from_sql(11, r.get(11)?)?,
        updated_at: ts_from_sql(12, &r.get::<_, String>(12)?)?,
        error: r.get(13)?,
        host: r.get(14)?,
        pid: u32::try_from(r.get::<_, i64>(15)?).unwrap_or(0),
        partial_outputs: serde_json::from_str(&outputs)
            .map_err(|e| bad_column(16, format!("bad partial_outputs '{outputs}': {e}")))?,
        cancel_requested: r.get::<_, i64>(17)? != 0,
        parent_job: r.get(18)?,
        resource: r.get(19)?,
    })
}

fn now() -> String {
    ts_to_sql(&Utc::now())
}

/// End job `id` as of `ended` (only while it is running, when asked):
/// the rows changed.
fn end_job(
    conn: &rusqlite::Connection,
    id: i64,
    state: JobState,
    error: Option<&str>,
    ended: DateTime<Utc>,
    only_running: bool,
) -> Result<usize> {
    let sql = if only_running {
        "UPDATE jobs SET state = ?2, error = ?3, finished_at = ?4, updated_at = ?5 \
         WHERE id = ?1 AND state = 'running'"
    } else {
        "UPDATE jobs SET state = ?2, error = ?3, finished_at = ?4, updated_at = ?5 WHERE id = ?1"
    };
    Ok(conn.execute(
        sql,
        params![id, state.as_str(), error, ts_to_sql(&ended), now()],
    )?)
}

fn expect_job(n: usize, id: i64) -> Result<()> {
    if n == 0 {
        return Err(Error::not_found(format!("job {id} is not in the catalog")));
    }
    Ok(())
}

impl Catalog {
    /// Record a new job, `running` (started now) or `queued`; returns its id.
    pub fn create_job(
        &self,
        kind: &JobKind,
        target: &str,
        host: &str,
        pid: u32,
        state: JobState,
    ) -> Result<i64> {
        if !state.is_active() {
            return Err(Error::usage(format!(
                "a new job must be 'running' or 'queued', not '{state}'"
            )));
        }
        let now = now();
        let started = (state == JobState::Running).then_some(now.as_str());
        self.conn.execute(
            "INSERT INTO jobs (kind, target, state, created_at, started_at, updated_at, host, pid) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?4, ?6, ?7)",
            params![kind, target, state.as_str(), now, started, host, pid],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Claim a queued job for this process: `queued` -> `running`, atomically.
    /// Returns false when it was no longer queued (another worker took it).
    pub fn start_job(&self, id: i64, host: &str, pid: u32) -> Result<bool> {
        let now = now();
        let n = self.conn.execute(
            "UPDATE jobs SET state = 'running', started_at = ?2, updated_at = ?2, host = ?3, pid = ?4 \
             WHERE id = ?1 AND state = 'queued'",
            params![id, now, host, pid],
        )?;
        Ok(n == 1)
    }

    /// Put a job in the queue: a `queued` row that carries its request
    /// (JSON) for a worker to run. It has no process yet (pid 0); `host` is
    /// where it was queued, until a worker claims it.
    pub fn enqueue_job(
        &self,
        kind: &JobKind,
        target: &str,
        host: &str,
        request: &str,
    ) -> Result<i64> {
        let now = now();
        self.conn.execute(
            "INSERT INTO jobs (kind, target, state, created_at, updated_at, host, pid, request) \
             VALUES (?1, ?2, 'queued', ?3, ?3, ?4, 0, ?5)",
            params![kind, target, now, host, request],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Claim the oldest queued job that carries a request, for this process:
    /// `queued` -> `running` with host, pid, start time and a fresh lease, in
    /// one write transaction, so of several workers (threads or processes)
    /// exactly one gets each job. Returns the job id and its request.
    pub fn claim_next_job(&self, host: &str, pid: u32) -> Result<Option<(i64, String)>> {
        self.immediate(|conn| {
            query_opt(
                conn,
                "UPDATE jobs SET state = 'running', started_at = ?1, updated_at = ?1, host = ?2, pid = ?3 \
                 WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND request IS NOT NULL \
                             ORDER BY id LIMIT 1) \
                 RETURNING id, request",
                params![now(), host, pid],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
            )
        })
    }

    /// Claim one queued job by id for this process (`lifeboat worker --job
    /// ID`), like [`Catalog::claim_next_job`]. None when the job is not
    /// (or no longer) queued: another worker claimed it, or it was cancelled.
    pub fn claim_job(&self, id: i64, host: &str, pid: u32) -> Result<Option<String>> {
        self.immediate(|conn| {
            query_opt(
                conn,
                "UPDATE jobs SET state = 'running', started_at = ?2, updated_at = ?2, host = ?3, pid = ?4 \
                 WHERE id = ?1 AND state = 'queued' AND request IS NOT NULL \
                 RETURNING request",
                params![id, now(), host, pid],
                |r| r.get::<_, String>(0),
            )
        })
    }

    /// Record what a job produced (the JSON report of its verb).
    pub fn set_job_result(&self, id: i64, result: &str) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE jobs SET result = ?2 WHERE id = ?1",
            params![id, result],
        )?;
        expect_job(n, id)
    }

    /// What a job produced, when a worker recorded it.
    pub fn job_result(&self, id: i64) -> Result<Option<String>> {
        Ok(query_opt(
            &self.conn,
            "SELECT result FROM jobs WHERE id = ?1",
            [id],
            |r| r.get::<_, Option<String>>(0),
        )?
        .flatten())
    }

    /// The request a queued job carries (None for jobs run directly).
    pub fn job_request(&self, id: i64) -> Result<Option<String>> {
        Ok(query_opt(
            &self.conn,
            "SELECT request FROM jobs WHERE id = ?1",
            [id],
            |r| r.get::<_, Option<String>>(0),
        )?
        .flatten())
    }

    /// A worker's operation takes over the row it claimed: the operation
    /// names the job precisely (e.g. `database panel` for `database`).
    /// Fails when the row is no longer running (settled by another process).
    pub fn adopt_job(&self, id: i64, kind: &JobKind, target: &str) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE jobs SET kind = ?2, target = ?3, updated_at = ?4 WHERE id = ?1 AND state = 'running'",
            params![id, kind, target, now()],
        )?;
        if n == 0 {
            let state = self.get_job(id)?.map(|j| j.state);
            return Err(Error::refused(format!(
                "job {id} cannot start: it is {} instead of running",
                state.map_or("missing from the catalog", JobState::as_str)
            ))
            .hint("another process settled it; see `lifeboat status` and queue the work again if it is still needed"));
        }
        Ok(())
    }

    /// Whether a job of `kind` is queued or running.
    pub fn has_active_job(&self, kind: &JobKind) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE kind = ?1 AND state IN ('queued', 'running'))",
            [kind],
            |r| r.get(0),
        )?)
    }

    /// Jobs waiting in the queue, oldest first.
    pub fn queued_jobs(&self) -> Result<Vec<JobRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE state = 'queued' ORDER BY id"
        ))?;
        let rows = stmt.query_map([], from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn set_job_phase(&self, id: i64, phase: &str) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE jobs SET phase = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, phase, now()],
        )?;
        expect_job(n, id)
    }

    /// Persist progress (callers throttle; this is one small write).
    pub fn update_job_progress(
        &self,
        id: i64,
        bytes_done: u64,
        bytes_total: Option<u64>,
        items_done: u64,
        items_total: Option<u64>,
    ) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE jobs SET bytes_done = ?2, bytes_total = ?3, items_done = ?4, items_total = ?5, \
             updated_at = ?6 WHERE id = ?1",
            params![
                id,
                u64_to_sql(bytes_done),
                bytes_total.map(u64_to_sql),
                u64_to_sql(items_done),
                items_total.map(u64_to_sql),
                now()
            ],
        )?;
        expect_job(n, id)
    }

    /// Note an artifact path the job is writing, so it can be removed if
    /// the job dies. Adding the same path twice keeps one entry.
    pub fn add_partial_output(&self, id: i64, path: impl AsRef<Path>) -> Result<()> {
        let p = path.as_ref().to_string_lossy().into_owned();
        self.immediate(|conn| {
            let current: Option<String> = query_opt(
                conn,
                "SELECT partial_outputs FROM jobs WHERE id = ?1",
                [id],
                |r| r.get(0),
            )?;
            let current = current
                .ok_or_else(|| Error::not_found(format!("job {id} is not in the catalog")))?;
            let mut outputs: Vec<String> = serde_json::from_str(&current).unwrap_or_default();
            if !outputs.contains(&p) {
                outputs.push(p);
            }
            let json = serde_json::to_string(&outputs).expect("strings serialize");
            conn.execute(
                "UPDATE jobs SET partial_outputs = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, json, now()],
            )?;
            Ok(())
        })
    }

    /// Forget one partial output (it was completed, renamed into place, or removed).
    pub fn remove_partial_output(&self, id: i64, path: impl AsRef<Path>) -> Result<()> {
        let n = untrack_output(&self.conn, id, &path.as_ref().to_string_lossy())?;
        expect_job(n, id)
    }

    pub fn clear_partial_outputs(&self, id: i64) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE jobs SET partial_outputs = '[]', updated_at = ?2 WHERE id = ?1",
            params![id, now()],
        )?;
        expect_job(n, id)
    }

    /// End a job in one of [`JobState::FINISHED`], with its error text.
    pub fn finish_job(&self, id: i64, state: JobState, error: Option<&str>) -> Result<()> {
        self.finish_job_at(id, state, error, Utc::now())
    }

    /// End a job as of `ended` (a dead job ends at its last sign of life,
    /// not when someone noticed: its duration must not grow with the
    /// time nobody looked).
    pub fn finish_job_at(
        &self,
        id: i64,
        state: JobState,
        error: Option<&str>,
        ended: DateTime<Utc>,
    ) -> Result<()> {
        if !state.is_finished() {
            return Err(Error::usage(format!(
                "'{state}' is not a finished job state (expected one of {})",
                JobState::FINISHED.map(JobState::as_str).join(", ")
            )));
        }
        let n = end_job(&self.conn, id, state, error, ended, false)?;
        expect_job(n, id)
    }

    /// Settle a job found dead: end it as of `ended`, but only if it is
    /// still running (it may have finished since it was found; its own
    /// outcome stands). Whether it was.
    pub fn settle_job(
        &self,
        id: i64,
        state: JobState,
        error: &str,
        ended: DateTime<Utc>,
    ) -> Result<bool> {
        Ok(end_job(&self.conn, id, state, Some(error), ended, true)? > 0)
    }

    pub fn get_job(&self, id: i64) -> Result<Option<JobRecord>> {
        query_opt(
            &self.conn,
            &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"),
            [id],
            from_row,
        )
    }

    /// The most recent `limit` jobs, newest first.
    pub fn list_jobs(&self, limit: usize) -> Result<Vec<JobRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM jobs ORDER BY created_at DESC, id DESC LIMIT ?1"
        ))?;
        let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], from_row)?;
        collect_readable("the jobs table", rows)
    }

    /// Active jobs (all of them, however old) and the `limit` most recent
    /// others, newest first: what a jobs screen shows.
    pub fn recent_jobs(&self, limit: usize) -> Result<Vec<JobRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM jobs ORDER BY id DESC LIMIT ?1"
        ))?;
        let mut jobs = collect_readable(
            "the jobs table",
            stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], from_row)?,
        )?;
        let oldest = jobs.last().map(|j| j.id).unwrap_or(0);
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE state IN ('running', 'queued') AND id < ?1 \
             ORDER BY id DESC"
        ))?;
        let older_active = collect_readable("the jobs table", stmt.query_map([oldest], from_row)?)?;
        jobs.extend(older_active);
        Ok(jobs)
    }

    /// The newest restore, drill or recover job that succeeded and has both
    /// start and finish times: evidence of how long a restore really takes.
    pub fn last_successful_restore_job(&self) -> Result<Option<JobRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE kind IN ('restore', 'drill', 'recover') \
             AND state = 'succeeded' AND started_at IS NOT NULL AND finished_at IS NOT NULL \
             ORDER BY id DESC LIMIT 20"
        ))?;
        // The newest readable one: a damaged newest row does not hide the
        // evidence of the one before it.
        let rows = collect_readable("the jobs table", stmt.query_map([], from_row)?)?;
        Ok(rows.into_iter().next())
    }

    /// The newest finished verify and drill jobs, newest first: the proofs
    /// a report lists.
    pub fn recent_proof_jobs(&self, limit: usize) -> Result<Vec<JobRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE kind IN ('verify', 'drill') \
             AND finished_at IS NOT NULL ORDER BY id DESC LIMIT ?1"
        ))?;
        let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], from_row)?;
        collect_readable("the jobs table", rows)
    }

    /// The newest top-level job that ended (succeeded, with warnings,
    /// failed or interrupted) of each kind among backup (per target),
    /// verify and drill: what alerts judge "the last run" by. Also how many
    /// of those newest rows could not be read: the alerts must say so
    /// rather than let a damaged row hide a failure.
    pub fn latest_outcomes(&self) -> Result<(Vec<JobRecord>, usize)> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM jobs j
              WHERE j.kind IN ('backup', 'verify', 'drill')
                AND j.parent_job IS NULL
                AND j.id = (SELECT max(k.id) FROM jobs k
                             WHERE k.kind = j.kind
                               AND (j.kind != 'backup' OR k.target = j.target)
                               AND k.parent_job IS NULL
                               AND k.state IN ('succeeded', 'succeeded_with_warnings',
                                               'failed', 'interrupted'))"
        ))?;
        let rows = collect_counting("the jobs table", stmt.query_map([], from_row)?);
        rows
    }

    /// The newest job id (0 when there is none): a mark taken before
    /// starting a process, so its jobs can be found by id range.
    pub fn last_job_id(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM jobs", [], |r| r.get(0))?)
    }

    /// Jobs with an id above `after_id` that process `pid` on `host`
    /// created, oldest first: how a console follows the jobs of a child it
    /// started. The id range keeps it a short scan however long the history.
    pub fn jobs_of_process(&self, host: &str, pid: u32, after_id: i64) -> Result<Vec<JobRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE id > ?1 AND pid = ?2 AND host = ?3 ORDER BY id"
        ))?;
        let rows = stmt.query_map(params![after_id, i64::from(pid), host], from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// A job and every job it started (a recovery's restores, a drill's,
    /// the types of `backup --all`), oldest first: what a face follows for
    /// one queued request.
    pub fn job_family(&self, id: i64) -> Result<Vec<JobRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "WITH RECURSIVE tree(id) AS (SELECT ?1 UNION SELECT j.id FROM jobs j JOIN tree ON j.parent_job = tree.id) \
             SELECT {COLUMNS} FROM jobs WHERE id IN (SELECT id FROM tree) ORDER BY id"
        ))?;
        let rows = stmt.query_map([id], from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Jobs in state `running`, oldest first.
    pub fn running_jobs(&self) -> Result<Vec<JobRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE state = 'running' ORDER BY id"
        ))?;
        let rows = stmt.query_map([], from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Running jobs of this host whose process is gone. Only this host's
    /// pids can be checked; jobs of other hosts are never reported.
    pub fn find_dead_jobs(
        &self,
        host: &str,
        is_alive: &dyn Fn(u32) -> bool,
    ) -> Result<Vec<JobRecord>> {
        Ok(self
            .running_jobs()?
            .into_iter()
            .filter(|j| j.host == host && !is_alive(j.pid))
            .collect())
    }

    /// Ask a job to stop. A queued job is cancelled at once; a running one
    /// is flagged and stops at its next safe point. Returns the job as it
    /// is after the request.
    pub fn request_cancel(&self, id: i64) -> Result<JobRecord> {
        let now = now();
        self.conn.execute(
            "UPDATE jobs SET state = 'cancelled', finished_at = ?2, updated_at = ?2, \
             error = 'cancelled before it started' WHERE id = ?1 AND state = 'queued'",
            params![id, now],
        )?;
        // A job and everything it started (a recovery's restores, the
        // types of `backup --all`): cancelling the parent stops them all.
        self.conn.execute(
            "WITH RECURSIVE tree(id) AS (SELECT ?1 UNION SELECT j.id FROM jobs j JOIN tree ON j.parent_job = tree.id) \
             UPDATE jobs SET cancel_requested = 1 WHERE id IN (SELECT id FROM tree) AND state = 'running'",
            params![id],
        )?;
        self.get_job(id)?.ok_or_else(|| {
            Error::not_found(format!("job {id} is not in the catalog"))
                .hint("`lifeboat status` lists recent jobs")
        })
    }

    /// Take a job that nobody will run out of the queue (its worker
    /// could not start, or exited before it claimed it): `cancelled` with
    /// `reason`. False when it was no longer queued (someone claimed it).
    pub fn cancel_if_queued(&self, id: i64, reason: &str) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE jobs SET state = 'cancelled', finished_at = ?2, updated_at = ?2, error = ?3 \
             WHERE id = ?1 AND state = 'queued'",
            params![id, now(), reason],
        )?;
        Ok(n == 1)
    }

    /// True when someone asked this job to stop.
    pub fn cancel_requested(&self, id: i64) -> Result<bool> {
        let v: Option<i64> = query_opt(
            &self.conn,
            "SELECT cancel_requested FROM jobs WHERE id = ?1",
            [id],
            |r| r.get(0),
        )?;
        Ok(v.unwrap_or(0) != 0)
    }

    /// Record that the job is alive (its lease): bumps `updated_at`.
    pub fn heartbeat(&self, id: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE jobs SET updated_at = ?2 WHERE id = ?1 AND state = 'running'",
            params![id, now()],
        )?;
        Ok(())
    }

    /// Running jobs whose lease ran out: no heartbeat since `older_than`.
    /// Catches a dead process on another host, or a hung one.
    pub fn find_stale_jobs(&self, older_than: DateTime<Utc>) -> Result<Vec<JobRecord>> {
        let cutoff = ts_to_sql(&older_than);
        Ok(self
            .running_jobs()?
            .into_iter()
            .filter(|j| ts_to_sql(&j.updated_at) < cutoff)
            .collect())
    }

    /// Mark `id` as a child of `parent` and/or name the resource it holds
    /// (a `None` leaves that column as it is).
    pub fn set_job_links(
        &self,
        id: i64,
        parent: Option<i64>,
        resource: Option<&str>,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE jobs SET parent_job = COALESCE(?2, parent_job), resource = COALESCE(?3, resource) WHERE id = ?1",
            params![id, parent, resource],
        )?;
        Ok(())
    }

    /// Children of a parent job.
    pub fn child_jobs(&self, parent: i64) -> Result<Vec<JobRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE parent_job = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map([parent], from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Append a line to a job's log.
    pub fn job_log(&self, id: i64, level: &str, message: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO job_log (job_id, ts, level, message) VALUES (?1, ?2, ?3, ?4)",
                params![id, now(), level, message],
            )
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => {
                    Error::not_found(format!("job {id} is not in the catalog"))
                }
                _ => e.into(),
            })?;
        Ok(())
    }

    /// A job's log, oldest line first: (time, level, message).
    pub fn get_job_log(&self, id: i64) -> Result<Vec<(DateTime<Utc>, String, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT ts, level, message FROM job_log WHERE job_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok((
                ts_from_sql(0, &r.get::<_, String>(0)?)?,
                r.get(1)?,
                r.get(2)?,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The newest `limit` lines job `id` logged after line `after` (0: from
    /// its first), oldest first, and how many lines after `after` were left
    /// out for being older. A follower asks only for what is new and never
    /// holds more than it keeps, however long the log has grown.
    pub fn job_log_tail(&self, id: i64, after: i64, limit: usize) -> Result<JobLogTail> {
        let limit_sql = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, ts, level, message FROM job_log \
             WHERE job_id = ?1 AND id > ?2 ORDER BY id DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![id, after, limit_sql], |r| {
            Ok(JobLogLine {
                seq: r.get(0)?,
                ts: ts_from_sql(1, &r.get::<_, String>(1)?)?,
                level: r.get(2)?,
                message: r.get(3)?,
            })
        })?;
        let mut lines = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        lines.reverse();
        // Only a full page can have left lines out: count them then.
        let skipped = if lines.len() >= limit {
            let first = lines.first().map_or(i64::MAX, |l| l.seq);
            let n: i64 = self.conn.query_row(
                "SELECT count(*) FROM job_log WHERE job_id = ?1 AND id > ?2 AND id < ?3",
                params![id, after, first],
                |r| r.get(0),
            )?;
            n.max(0) as u64
        } else {
            0
        };
        Ok(JobLogTail { lines, skipped })
    }
}

/// One line of a job's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLogLine {
    /// Its place in the catalog: a line logged later has a larger one.
    pub seq: i64,
    pub ts: DateTime<Utc>,
    pub level: String,
    pub message: String,
}

/// What [`Catalog::job_log_tail`] read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobLogTail {
    /// At most the asked-for number of lines, oldest first.
    pub lines: Vec<JobLogLine>,
    /// Lines after the asked-for one that were left out, older than these.
    pub skipped: u64,
}

/// Drop `path` from job `id`'s partial outputs; the number of rows touched.
pub(super) fn untrack_output(conn: &rusqlite::Connection, id: i64, path: &str) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE jobs SET partial_outputs = \
         (SELECT json_group_array(value) FROM json_each(jobs.partial_outputs) WHERE value != ?2) \
         WHERE id = ?1",
        params![id, path],
    )?)
}

#[cfg(test)]
mod queue_tests {
    use std::collections::BTreeMap;

    use super::*;

    fn catalog(dir: &tempfile::TempDir) -> Catalog {
        Catalog::open(&dir.path().join("catalog.db")).unwrap()
    }

    #[test]
    fn claims_take_the_oldest_queued_request_once() {
        let dir = tempfile::tempdir().unwrap();
        let c = catalog(&dir);
        let a = c
            .enqueue_job(&JobKind::Backup, "filesystem", "h", r#"{"n":1}"#)
            .unwrap();
        let b = c
            .enqueue_job(&JobKind::Verify, "fs-1", "h", r#"{"n":2}"#)
            .unwrap();
        // A queued row without a request (older code paths) is never claimed.
        let bare = c
            .create_job(&JobKind::Prune, "all", "h", 1, JobState::Queued)
            .unwrap();
        let q = c.get_job(a).unwrap().unwrap();
        assert_eq!((q.state.as_str(), q.pid), ("queued", 0));
        assert!(q.started_at.is_none());
        assert_eq!(c.queued_jobs().unwrap().len(), 3);

        assert_eq!(
            c.claim_next_job("w", 77).unwrap(),
            Some((a, r#"{"n":1}"#.to_string()))
        );
        let j = c.get_job(a).unwrap().unwrap();
        assert_eq!(
            (j.state.as_str(), j.host.as_str(), j.pid),
            ("running", "w", 77)
        );
        assert!(j.started_at.is_some());
        assert_eq!(c.job_request(a).unwrap().as_deref(), Some(r#"{"n":1}"#));

        // Cancelling a queued job settles it at once; it is never claimed.
        let cancelled = c.request_cancel(b).unwrap();
        assert_eq!(cancelled.state, JobState::Cancelled);
        assert!(cancelled.finished_at.is_some());
        assert_eq!(c.claim_next_job("w", 77).unwrap(), None);
        assert_eq!(c.get_job(bare).unwrap().unwrap().state, JobState::Queued);
    }

    #[test]
    fn adopting_a_row_that_another_process_settled_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let c = catalog(&dir);
        let id = c
            .enqueue_job(&JobKind::Backup, "database", "h", "{}")
            .unwrap();
        let e = c
            .adopt_job(id, &JobKind::Backup, "database panel")
            .unwrap_err();
        assert!(
            e.message.contains("queued instead of running"),
            "{}",
            e.message
        );
        c.claim_next_job("h", 5).unwrap().unwrap();
        c.adopt_job(id, &JobKind::Backup, "database panel").unwrap();
        assert_eq!(c.get_job(id).unwrap().unwrap().target, "database panel");
        c.finish_job(id, JobState::Interrupted, Some("died"))
            .unwrap();
        let e = c
            .adopt_job(id, &JobKind::Backup, "database panel")
            .unwrap_err();
        assert!(e.message.contains("interrupted"), "{}", e.message);
        assert!(c
            .adopt_job(999, &JobKind::from("x"), "y")
            .unwrap_err()
            .message
            .contains("missing"));
    }

    #[test]
    fn competing_connections_claim_each_job_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let c = Catalog::open(&path).unwrap();
        let ids: Vec<i64> = (0..200)
            .map(|i| {
                c.enqueue_job(&JobKind::Backup, "x", "h", &format!("{i}"))
                    .unwrap()
            })
            .collect();
        let threads: Vec<_> = (0..6u32)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let c = Catalog::open_existing_light(&path).unwrap();
                    let mut got = Vec::new();
                    while let Some((id, _)) = c.claim_next_job("h", 1000 + t).unwrap() {
                        got.push(id);
                    }
                    got
                })
            })
            .collect();
        let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
        for t in threads {
            for id in t.join().unwrap() {
                *seen.entry(id).or_default() += 1;
            }
        }
        assert_eq!(seen.keys().copied().collect::<Vec<_>>(), ids);
        assert!(seen.values().all(|&n| n == 1), "claimed twice: {seen:?}");
        // Every row names the one claimer that got it.
        for id in ids {
            let j = c.get_job(id).unwrap().unwrap();
            assert_eq!(j.state, JobState::Running);
            assert!((1000..1006).contains(&j.pid), "{j:?}");
        }
    }
}
