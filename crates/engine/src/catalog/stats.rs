//! Aggregates for health checks, metrics and the storage report.
//!
//! Every question here is answered in SQL with an index or one grouped
//! scan, never by loading rows into memory: the checks run on every
//! `lifeboat health`, every console refresh and after every job, against
//! catalogs with 100,000 backups.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::params;

use super::{
    opt_ts_from_sql, query_opt, ts_from_sql, ts_to_sql, u64_from_sql, Catalog, JobKind, JobState,
    SAFETY_COPY_NAME,
};
use crate::archive::manifest::BackupType;
use crate::error::Result;

/// SQL list of the statuses of a finished, usable backup.
const GOOD: &str = "('succeeded', 'succeeded_with_warnings')";

/// The newest usable backup of a type.
#[derive(Debug, Clone, PartialEq)]
pub struct LastBackup {
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// Plaintext bytes.
    pub size: u64,
    pub stored_size: u64,
}

/// How the backup jobs of a period ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobOutcomes {
    pub succeeded: u64,
    pub succeeded_with_warnings: u64,
    pub failed: u64,
    pub interrupted: u64,
}

impl JobOutcomes {
    /// Jobs that count for a success rate (cancelled ones do not).
    pub fn counted(&self) -> u64 {
        self.succeeded + self.succeeded_with_warnings + self.failed + self.interrupted
    }
    /// Share of counted jobs that succeeded; `None` when none ran.
    pub fn rate(&self) -> Option<f64> {
        let n = self.counted();
        (n > 0).then(|| (self.succeeded + self.succeeded_with_warnings) as f64 / n as f64)
    }
}

/// A finished job, reduced to what health and metrics need.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutcome {
    pub id: i64,
    pub kind: JobKind,
    pub target: String,
    pub state: JobState,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

impl JobOutcome {
    /// Wall time from start to finish, in seconds.
    pub fn seconds(&self) -> Option<f64> {
        match (self.started_at, self.finished_at) {
            (Some(s), Some(f)) => Some((f - s).num_milliseconds().max(0) as f64 / 1000.0),
            _ => None,
        }
    }
}

/// A backup's last verification.
#[derive(Debug, Clone, PartialEq)]
pub struct LastVerification {
    pub id: String,
    pub backup_type: String,
    pub file: String,
    pub at: DateTime<Utc>,
    pub result: String,
}

/// Stored bytes grouped one way or another.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    pub backup_type: String,
    /// What the backups of this group hold: for a database, its name
    /// taken from the artifact's file name (empty when the name carries
    /// none: single-database setups); for a filesystem backup, the JSON
    /// array of the paths its manifest says it covered (empty for a safety
    /// copy, whose paths are the files one restore replaced, and for a
    /// row without a readable manifest); empty otherwise.
    pub target: String,
    /// The backup's name (`--name`, `pre_restore`), if any.
    pub name: Option<String>,
    pub count: u64,
    pub stored_bytes: u64,
}

impl Catalog {
    /// Newest usable backup of `t` created at or before `now`; safety copies
    /// (`pre_restore`) hold only what a restore replaced and do not count,
    /// nor does a backup whose last verification failed.
    pub fn last_good_backup(
        &self,
        t: BackupType,
        now: DateTime<Utc>,
    ) -> Result<Option<LastBackup>> {
        query_opt(
            &self.conn,
            &format!(
                "SELECT id, created_at, size, stored_size FROM backups \
                 WHERE type = ?1 AND created_at <= ?2 AND status IN {GOOD} \
                 AND (verify_result IS NULL OR verify_result = 'ok') \
                 AND (name IS NULL OR name != 'pre_restore') \
                 ORDER BY created_at DESC LIMIT 1"
            ),
            params![t.as_str(), ts_to_sql(&now)],
            |r| {
                Ok(LastBackup {
                    id: r.get(0)?,
                    created_at: ts_from_sql(1, &r.get::<_, String>(1)?)?,
                    size: u64_from_sql(r.get(2)?),
                    stored_size: u64_from_sql(r.get(3)?),
                })
            },
        )
    }

    /// How the jobs of `kind` (of one `target`, when given) created in
    /// `[since, until]` ended.
    pub fn job_outcomes(
        &self,
        kind: &JobKind,
        target: Option<&str>,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<JobOutcomes> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT state, COUNT(*) FROM jobs WHERE kind = ?1 AND created_at >= ?2 \
             AND created_at <= ?3 AND (?4 IS NULL OR target = ?4) GROUP BY state",
        )?;
        let rows = stmt.query_map(
            params![kind, ts_to_sql(&since), ts_to_sql(&until), target],
            |r| Ok((r.get::<_, String>(0)?, u64_from_sql(r.get(1)?))),
        )?;
        let mut o = JobOutcomes::default();
        for row in rows {
            let (state, n) = row?;
            match state.as_str() {
                "succeeded" => o.succeeded += n,
                "succeeded_with_warnings" => o.succeeded_with_warnings += n,
                "failed" => o.failed += n,
                "interrupted" => o.interrupted += n,
                _ => {}
            }
        }
        Ok(o)
    }

    /// Newest finished job of `kind` created at or before `now`, in one of
    /// `states` (all finished states when empty).
    pub fn last_finished_job(
        &self,
        kind: &JobKind,
        states: &[JobState],
        now: DateTime<Utc>,
    ) -> Result<Option<JobOutcome>> {
        let wanted: &[JobState] = if states.is_empty() {
            &JobState::FINISHED
        } else {
            states
        };
        // The states are our own enum's words, never operator input.
        let list = wanted
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        query_opt(
            &self.conn,
            &format!(
                "SELECT id, kind, target, state, started_at, finished_at, error FROM jobs \
                 WHERE kind = ?1 AND created_at <= ?2 AND state IN ({list}) \
                 ORDER BY created_at DESC, id DESC LIMIT 1"
            ),
            params![kind, ts_to_sql(&now)],
            |r| {
                Ok(JobOutcome {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    target: r.get(2)?,
                    state: {
                        let s: String = r.get(3)?;
                        s.parse().map_err(|e: String| super::bad_column(3, e))?
                    },
                    started_at: opt_ts_from_sql(4, r.get(4)?)?,
                    finished_at: opt_ts_from_sql(5, r.get(5)?)?,
                    error: r.get(6)?,
                })
            },
        )
    }

    /// Newest verification at or before `now`; with `ok_only`, the newest
    /// one that passed.
    pub fn last_verification(
        &self,
        ok_only: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<LastVerification>> {
        let filter = if ok_only {
            "AND verify_result = 'ok'"
        } else {
            ""
        };
        query_opt(
            &self.conn,
            &format!(
                "SELECT id, type, file, verified_at, verify_result FROM backups \
                 WHERE verified_at IS NOT NULL AND verified_at <= ?1 {filter} \
                 ORDER BY verified_at DESC LIMIT 1"
            ),
            params![ts_to_sql(&now)],
            |r| {
                Ok(LastVerification {
                    id: r.get(0)?,
                    backup_type: r.get(1)?,
                    file: r.get(2)?,
                    at: ts_from_sql(3, &r.get::<_, String>(3)?)?,
                    result: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                })
            },
        )
    }

    /// Payload files of the `limit` most recently verified backups of a
    /// type, newest first (their sidecars say whether it was deep).
    pub fn recently_verified(
        &self,
        t: BackupType,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT file, verified_at FROM backups WHERE verified_at IS NOT NULL \
             AND verified_at <= ?1 AND type = ?2 AND verify_result = 'ok' \
             ORDER BY verified_at DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(
            params![
                ts_to_sql(&now),
                t.as_str(),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| Ok((r.get(0)?, ts_from_sql(1, &r.get::<_, String>(1)?)?)),
        )?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// True when any catalogued backup is encrypted (so the key is needed).
    pub fn has_encrypted_backups(&self) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM backups WHERE encrypted = 1)",
            [],
            |r| r.get(0),
        )?)
    }

    /// `PRAGMA quick_check`: "ok", or the first problems SQLite found.
    pub fn quick_check(&self) -> Result<String> {
        let mut stmt = self.conn.prepare("PRAGMA quick_check(10)")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?.join("; "))
    }

    /// Stored bytes of usable backups per type, target and name.
    pub fn usage(&self) -> Result<Vec<Usage>> {
        // The catalog writes manifests as serde output, so they parse; a
        // hand-edited one that does not would fail the whole scan. Checking
        // every manifest first costs a second parse (~0.4 s at 100,000
        // rows), so that check runs only when the plain scan failed.
        self.usage_scan(false).or_else(|_| self.usage_scan(true))
    }

    fn usage_scan(&self, check_json: bool) -> Result<Vec<Usage>> {
        // The database name sits between `db_backup_` and the
        // `_YYYYmmdd_HHMMSS` of the creation time in the file name.
        // A filesystem backup's own paths are in its manifest: two path
        // sets over time (or a changed configuration) are two targets.
        let valid = if check_json {
            "AND json_valid(manifest_json)"
        } else {
            ""
        };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT type, target, name, COUNT(*), SUM(stored_size) FROM ( \
               SELECT type, name, stored_size, \
                 CASE WHEN type = 'database' THEN \
                   substr(base, 11, max(instr(base, '_' || strftime('%Y%m%d_%H%M%S', created_at)) - 11, 0)) \
                 WHEN type = 'filesystem' AND name IS NOT '{SAFETY_COPY_NAME}' {valid} THEN \
                   COALESCE(json_extract(manifest_json, '$.source.paths'), '') \
                 ELSE '' END AS target \
               FROM (SELECT type, name, stored_size, created_at, manifest_json, \
                       replace(file, rtrim(file, replace(file, '/', '')), '') AS base \
                     FROM backups WHERE status IN {GOOD})) \
             GROUP BY type, target, name ORDER BY type, target, name"
        ))?;
        let rows = stmt.query_map([], |r| {
            Ok(Usage {
                backup_type: r.get(0)?,
                target: r.get(1)?,
                name: r.get(2)?,
                count: u64_from_sql(r.get(3)?),
                stored_bytes: u64_from_sql(r.get::<_, Option<i64>>(4)?.unwrap_or(0)),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Stored bytes of usable backups added per UTC day, oldest first.
    pub fn bytes_per_day(&self) -> Result<Vec<(NaiveDate, u64)>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT substr(created_at, 1, 10) AS day, SUM(stored_size) FROM backups \
             WHERE status IN {GOOD} GROUP BY day ORDER BY day"
        ))?;
        let rows = stmt.query_map([], |r| {
            let day: String = r.get(0)?;
            let date = NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                .map_err(|e| super::bad_column(0, format!("bad created_at day '{day}': {e}")))?;
            Ok((date, u64_from_sql(r.get::<_, Option<i64>>(1)?.unwrap_or(0))))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}
