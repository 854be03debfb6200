//! The recent history of one backup type as a face draws it: each
//! attempt's outcome, size and duration, oldest first (the console's
//! sparklines, the HTML report's charts).
//!
//! A backup that failed before its row was written (the database was
//! down, a source directory was missing) has no row in `backups`, only a
//! failed `backup` job. The trend merges those jobs in, so a day of
//! failed attempts never reads as a quiet stretch of successes.
//!
//! Both halves are index walks that stop at a LIMIT: the backups by
//! `backups_type_created`, the failed jobs by the partial index
//! `jobs_backup_failures` (schema migration 9), which holds only failed
//! jobs. A trend costs the same at 100,000 backups as at ten (see the
//! tests: the plan, and the work SQLite does as the history grows).

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

use super::{opt_ts_from_sql, ts_from_sql, u64_from_sql, BackupStatus, Catalog};
use crate::archive::manifest::BackupType;
use crate::error::Result;

/// How one backup attempt ended, as a trend shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendOutcome {
    Ok,
    /// Succeeded with warnings: usable, but look at them.
    Warnings,
    /// Failed or interrupted (with or without a backup row).
    Failed,
    /// Finished, but its last verification failed: not usable.
    VerifyFailed,
    Cancelled,
    Running,
}

impl TrendOutcome {
    /// A usable backup came out of it.
    pub fn is_good(self) -> bool {
        matches!(self, TrendOutcome::Ok | TrendOutcome::Warnings)
    }

    /// It went wrong (failed, interrupted, or its verification failed).
    pub fn is_failure(self) -> bool {
        matches!(self, TrendOutcome::Failed | TrendOutcome::VerifyFailed)
    }

    /// The word a legend or a tooltip uses.
    pub fn as_str(self) -> &'static str {
        match self {
            TrendOutcome::Ok => "ok",
            TrendOutcome::Warnings => "warnings",
            TrendOutcome::Failed => "failed",
            TrendOutcome::VerifyFailed => "verification failed",
            TrendOutcome::Cancelled => "cancelled",
            TrendOutcome::Running => "running",
        }
    }
}

/// One backup attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendPoint {
    /// `None` for a backup job that failed before it wrote a backup row.
    pub backup_id: Option<String>,
    pub job_id: Option<i64>,
    /// When it started (the backup's `created_at`, or the job's).
    pub at: DateTime<Utc>,
    pub outcome: TrendOutcome,
    /// Plaintext bytes, for a backup that finished with an artifact.
    pub size: Option<u64>,
    /// Start to finish, when it finished.
    pub seconds: Option<f64>,
    pub incremental: bool,
}

/// Which way from a point in time a half of the trend walks.
#[derive(Clone, Copy)]
enum Walk<'a> {
    /// Newest first, at or before this `created_at` (all when `None`).
    AtOrBefore(Option<&'a str>),
    /// Oldest first, strictly after this `created_at`.
    After(&'a str),
}

impl Walk<'_> {
    fn bound(self) -> Option<String> {
        match self {
            Walk::AtOrBefore(b) => b.map(str::to_string),
            Walk::After(a) => Some(a.to_string()),
        }
    }
    fn backups_sql(self) -> &'static str {
        match self {
            Walk::AtOrBefore(_) => BACKUPS_BEFORE,
            Walk::After(_) => BACKUPS_AFTER,
        }
    }
    fn jobs_sql(self) -> &'static str {
        match self {
            Walk::AtOrBefore(_) => FAILED_JOBS_BEFORE,
            Walk::After(_) => FAILED_JOBS_AFTER,
        }
    }
}

// The ORDER BY is exactly the index's second column: no sort, the walk
// stops at the LIMIT. Safety copies (`pre_restore`) hold only what a
// restore replaced: not part of a type's history.
// The bound is a plain comparison with a default for "no bound" ('~'
// sorts after every timestamp, '' before), not `?2 IS NULL OR ...`:
// SQLite uses only the former as a range on the index, so a walk from a
// backup in the middle of 100,000 starts there instead of at one end.
macro_rules! backups_walk {
    ($cmp:literal, $none:literal, $dir:literal) => {
        concat!(
            "SELECT b.id, b.created_at, b.finished_at, b.status, b.size, b.verify_result, \
             b.kind, b.job_id, j.finished_at \
             FROM backups b LEFT JOIN jobs j ON j.id = b.job_id \
             WHERE b.type = ?1 AND (b.name IS NULL OR b.name != 'pre_restore') \
             AND b.created_at ",
            $cmp,
            " COALESCE(?2, '",
            $none,
            "') ORDER BY b.created_at ",
            $dir,
            " LIMIT ?3"
        )
    };
}
const BACKUPS_BEFORE: &str = backups_walk!("<=", "~", "DESC");
const BACKUPS_AFTER: &str = backups_walk!(">", "", "ASC");

// `state` is written as the partial index's own term (literals, not
// parameters) so SQLite can use it. A database backup's job target is
// `database NAME`.
macro_rules! failed_jobs_walk {
    ($cmp:literal, $none:literal, $dir:literal) => {
        concat!(
            "SELECT j.id, j.created_at, j.started_at, j.finished_at FROM jobs j \
             WHERE j.kind = 'backup' AND j.state IN ('failed', 'interrupted') \
             AND j.created_at ",
            $cmp,
            " COALESCE(?2, '",
            $none,
            "') AND (j.target = ?1 OR j.target LIKE ?1 || ' %') \
             AND NOT EXISTS (SELECT 1 FROM backups b WHERE b.job_id = j.id) \
             ORDER BY j.created_at ",
            $dir,
            " LIMIT ?3"
        )
    };
}
const FAILED_JOBS_BEFORE: &str = failed_jobs_walk!("<=", "~", "DESC");
const FAILED_JOBS_AFTER: &str = failed_jobs_walk!(">", "", "ASC");

fn seconds(from: DateTime<Utc>, to: Option<DateTime<Utc>>) -> Option<f64> {
    to.map(|t| (t - from).num_milliseconds().max(0) as f64 / 1000.0)
}

impl Catalog {
    /// The newest `limit` attempts of type `t`, oldest first.
    pub fn recent_backup_trend(&self, t: BackupType, limit: usize) -> Result<Vec<TrendPoint>> {
        let mut v = self.trend_walk(t, Walk::AtOrBefore(None), limit)?;
        v.reverse();
        Ok(v)
    }

    /// Up to `limit` attempts of backup `id`'s type around it (half after
    /// it when history allows), oldest first, with its index among them
    /// (`None` for a safety copy, which is not part of the trend). `None`
    /// when `id` is not catalogued.
    pub fn backup_trend_around(
        &self,
        id: &str,
        limit: usize,
    ) -> Result<Option<(Vec<TrendPoint>, Option<usize>)>> {
        let found: Option<(String, String)> = super::query_opt(
            &self.conn,
            "SELECT type, created_at FROM backups WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let Some((type_s, created)) = found else {
            return Ok(None);
        };
        let Ok(t) = type_s.parse::<BackupType>() else {
            return Ok(Some((Vec::new(), None)));
        };
        let mut before = self.trend_walk(t, Walk::AtOrBefore(Some(&created)), limit)?;
        before.reverse();
        let after = self.trend_walk(t, Walk::After(&created), limit)?;
        let n_after = after.len().min(limit / 2);
        let n_before = before.len().min(limit - n_after);
        let n_after = after.len().min(limit - n_before);
        let mut points: Vec<TrendPoint> = before.split_off(before.len() - n_before);
        points.extend(after.into_iter().take(n_after));
        let at = points
            .iter()
            .position(|p| p.backup_id.as_deref() == Some(id));
        Ok(Some((points, at)))
    }

    /// One half of a trend: up to `limit` points in the walk's order,
    /// backups and failed jobs without a backup row merged.
    fn trend_walk(&self, t: BackupType, walk: Walk<'_>, limit: usize) -> Result<Vec<TrendPoint>> {
        let limit_sql = i64::try_from(limit).unwrap_or(i64::MAX);
        let bound = walk.bound();
        let mut points = {
            let mut stmt = self.conn.prepare_cached(walk.backups_sql())?;
            let rows = stmt.query_map(params![t.as_str(), bound, limit_sql], |r| {
                let at = ts_from_sql(1, &r.get::<_, String>(1)?)?;
                let finished = opt_ts_from_sql(2, r.get(2)?)?;
                let status: BackupStatus = r
                    .get::<_, String>(3)?
                    .parse()
                    .map_err(|e| super::bad_column(3, e))?;
                let verify: Option<String> = r.get(5)?;
                let job_finished = opt_ts_from_sql(8, r.get(8)?)?;
                let size = u64_from_sql(r.get(4)?);
                let outcome = match status {
                    _ if status.is_good() && verify.as_deref().is_some_and(|v| v != "ok") => {
                        TrendOutcome::VerifyFailed
                    }
                    BackupStatus::Succeeded => TrendOutcome::Ok,
                    BackupStatus::SucceededWithWarnings => TrendOutcome::Warnings,
                    BackupStatus::Failed | BackupStatus::Interrupted => TrendOutcome::Failed,
                    BackupStatus::Cancelled => TrendOutcome::Cancelled,
                    BackupStatus::Running => TrendOutcome::Running,
                };
                Ok(TrendPoint {
                    backup_id: Some(r.get(0)?),
                    job_id: r.get(7)?,
                    at,
                    outcome,
                    size: status.is_good().then_some(size),
                    // A failed row never got a finish time: its job did.
                    seconds: match status {
                        BackupStatus::Running => None,
                        _ => seconds(at, finished.or(job_finished)),
                    },
                    incremental: r.get::<_, String>(6)? == "incremental",
                })
            })?;
            super::collect_readable("a backup trend", rows)?
        };
        let failed_jobs = {
            let mut stmt = self.conn.prepare_cached(walk.jobs_sql())?;
            let rows = stmt.query_map(params![t.as_str(), bound, limit_sql], |r| {
                let at = ts_from_sql(1, &r.get::<_, String>(1)?)?;
                let started = opt_ts_from_sql(2, r.get(2)?)?;
                let finished = opt_ts_from_sql(3, r.get(3)?)?;
                Ok(TrendPoint {
                    backup_id: None,
                    job_id: Some(r.get(0)?),
                    at,
                    outcome: TrendOutcome::Failed,
                    size: None,
                    seconds: seconds(started.unwrap_or(at), finished),
                    incremental: false,
                })
            })?;
            super::collect_readable("a backup trend", rows)?
        };
        points.extend(failed_jobs);
        match walk {
            Walk::AtOrBefore(_) => points.sort_by_key(|p| std::cmp::Reverse(p.at)),
            Walk::After(_) => points.sort_by_key(|p| p.at),
        }
        points.truncate(limit);
        Ok(points)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use tempfile::TempDir;

    use super::*;
    use crate::archive::manifest::BackupKind;
    use crate::catalog::{ts_to_sql, BackupRecord, JobKind, JobState};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap()
    }

    fn open() -> (TempDir, Catalog) {
        let dir = TempDir::new().unwrap();
        let c = Catalog::open(&dir.path().join("catalog.db")).unwrap();
        (dir, c)
    }

    /// A backup of `t` started `minutes` after t0, taking `secs`.
    fn backup(c: &Catalog, id: &str, t: BackupType, minutes: i64, status: BackupStatus) {
        let at = t0() + Duration::minutes(minutes);
        c.insert_backup(&BackupRecord {
            id: id.into(),
            backup_type: t,
            name: None,
            kind: BackupKind::Full,
            parent_id: None,
            created_at: at,
            finished_at: status.is_good().then(|| at + Duration::seconds(90)),
            status,
            size: 1000 + minutes as u64,
            stored_size: 10,
            encrypted: false,
            key_id: None,
            file: format!("/repo/{}/{id}", t.dir()),
            sha256: None,
            verified_at: None,
            verify_result: None,
            warnings: 0,
            job_id: None,
        })
        .unwrap();
    }

    /// A backup job on `target` that failed `minutes` after t0, after
    /// `secs`, without writing a backup row.
    fn failed_job(c: &Catalog, target: &str, minutes: i64, secs: i64) -> i64 {
        let id = c
            .create_job(&JobKind::Backup, target, "h", 1, JobState::Running)
            .unwrap();
        let at = t0() + Duration::minutes(minutes);
        c.finish_job_at(
            id,
            JobState::Failed,
            Some("down"),
            at + Duration::seconds(secs),
        )
        .unwrap();
        c.conn
            .execute(
                "UPDATE jobs SET created_at = ?2, started_at = ?2 WHERE id = ?1",
                params![id, ts_to_sql(&at)],
            )
            .unwrap();
        id
    }

    fn ids(v: &[TrendPoint]) -> Vec<String> {
        v.iter()
            .map(|p| match (&p.backup_id, p.job_id) {
                (Some(b), _) => b.clone(),
                (None, Some(j)) => format!("job{j}"),
                (None, None) => "?".into(),
            })
            .collect()
    }

    #[test]
    fn the_trend_merges_failures_that_left_no_backup_row() {
        let (_d, c) = open();
        let db = BackupType::Database;
        backup(&c, "db-1", db, 0, BackupStatus::Succeeded);
        backup(&c, "db-2", db, 60, BackupStatus::SucceededWithWarnings);
        let down = failed_job(&c, "database app", 120, 5);
        backup(&c, "db-3", db, 180, BackupStatus::Failed);
        backup(&c, "db-4", db, 240, BackupStatus::Succeeded);
        c.mark_verified("db-4", t0() + Duration::hours(5), "sha256 mismatch")
            .unwrap();
        backup(&c, "db-5", db, 300, BackupStatus::Running);
        // Not part of the database trend: another type, a safety copy, a
        // failed job of another type, a failed job that did write its row.
        backup(
            &c,
            "fs-1",
            BackupType::Filesystem,
            30,
            BackupStatus::Succeeded,
        );
        let mut safety = c.get_backup("db-1").unwrap().unwrap();
        safety.id = "db-safety".into();
        safety.name = Some(crate::catalog::SAFETY_COPY_NAME.into());
        safety.created_at = t0() + Duration::minutes(200);
        c.insert_backup(&safety).unwrap();
        failed_job(&c, "filesystem", 150, 5);
        let with_row = failed_job(&c, "database app", 170, 5);
        let mut db3 = c.get_backup("db-3").unwrap().unwrap();
        db3.job_id = Some(with_row);
        c.update_backup(&db3).unwrap();

        let v = c.recent_backup_trend(db, 30).unwrap();
        assert_eq!(
            ids(&v),
            [
                "db-1",
                "db-2",
                &format!("job{down}"),
                "db-3",
                "db-4",
                "db-5"
            ]
        );
        let outcomes: Vec<TrendOutcome> = v.iter().map(|p| p.outcome).collect();
        assert_eq!(
            outcomes,
            [
                TrendOutcome::Ok,
                TrendOutcome::Warnings,
                TrendOutcome::Failed,
                TrendOutcome::Failed,
                TrendOutcome::VerifyFailed,
                TrendOutcome::Running,
            ]
        );
        // Sizes only where an artifact came out; durations where it ended
        // (a failed row's from its job).
        let sizes: Vec<Option<u64>> = v.iter().map(|p| p.size).collect();
        assert_eq!(
            sizes,
            [Some(1000), Some(1060), None, None, Some(1240), None]
        );
        assert_eq!(v[0].seconds, Some(90.0));
        assert_eq!(v[2].seconds, Some(5.0));
        assert!(v[3].seconds.is_some(), "db-3's job finished: {:?}", v[3]);
        assert_eq!(v[5].seconds, None);

        // The newest `limit`, still oldest first.
        assert_eq!(
            ids(&c.recent_backup_trend(db, 2).unwrap()),
            ["db-4", "db-5"]
        );
        assert_eq!(
            ids(&c
                .recent_backup_trend(BackupType::Configuration, 30)
                .unwrap()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn the_trend_around_a_backup_centres_it_when_history_allows() {
        let (_d, c) = open();
        let fs = BackupType::Filesystem;
        for i in 0..10 {
            backup(&c, &format!("fs-{i}"), fs, i * 60, BackupStatus::Succeeded);
        }
        let (v, at) = c.backup_trend_around("fs-5", 4).unwrap().unwrap();
        assert_eq!(ids(&v), ["fs-4", "fs-5", "fs-6", "fs-7"]);
        assert_eq!(at, Some(1));
        // Near either end, the window fills from the other side.
        let (v, at) = c.backup_trend_around("fs-9", 4).unwrap().unwrap();
        assert_eq!(ids(&v), ["fs-6", "fs-7", "fs-8", "fs-9"]);
        assert_eq!(at, Some(3));
        let (v, at) = c.backup_trend_around("fs-0", 4).unwrap().unwrap();
        assert_eq!(ids(&v), ["fs-0", "fs-1", "fs-2", "fs-3"]);
        assert_eq!(at, Some(0));
        assert!(c.backup_trend_around("nope", 4).unwrap().is_none());
    }

    /// The plan SQLite picks for a statement, one detail per line.
    fn plan(c: &Catalog, sql: &str) -> String {
        let mut stmt = c
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let rows = stmt
            .query_map(params!["database", Option::<String>::None, 30], |r| {
                r.get::<_, String>(3)
            })
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    /// Add `n` succeeded filesystem backups and their succeeded jobs, one
    /// a minute after the ones already there.
    fn grow(c: &Catalog, n: i64) {
        let from: i64 = c
            .conn
            .query_row("SELECT count(*) FROM backups", [], |r| r.get(0))
            .unwrap();
        c.conn
            .execute_batch(&format!(
                "WITH RECURSIVE n(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM n WHERE i < {from} + {n} - 1)
                 INSERT INTO backups (id, type, kind, created_at, status, size, stored_size, encrypted, file)
                 SELECT 'fs-' || i, 'filesystem', 'full',
                        strftime('%Y-%m-%dT%H:%M:%S', '2026-12-01', '+' || i || ' minutes') || '.000000000Z',
                        'succeeded', 100, 50, 0, '/r/' || i FROM n;
                 WITH RECURSIVE n(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM n WHERE i < {from} + {n} - 1)
                 INSERT INTO jobs (kind, target, state, created_at, updated_at, host, pid)
                 SELECT 'backup', 'filesystem', 'succeeded',
                        strftime('%Y-%m-%dT%H:%M:%S', '2026-12-01', '+' || i || ' minutes') || '.000000000Z',
                        '2026-12-01T00:00:00.000000000Z', 'h', 1 FROM n;"
            ))
            .unwrap();
    }

    /// The virtual machine steps SQLite takes for both halves of a
    /// type's recent trend: its measure of the work done.
    fn steps(c: &Catalog, t: BackupType) -> i32 {
        [BACKUPS_BEFORE, FAILED_JOBS_BEFORE]
            .into_iter()
            .map(|sql| {
                let mut stmt = c.conn.prepare(sql).unwrap();
                let n = stmt
                    .query_map(params![t.as_str(), Option::<String>::None, 30], |_| Ok(()))
                    .unwrap()
                    .count();
                assert!(n <= 30);
                stmt.get_status(rusqlite::StatementStatus::VmStep)
            })
            .sum()
    }

    #[test]
    fn a_trend_costs_the_same_however_long_the_history() {
        let (_d, c) = open();
        let db = BackupType::Database;
        for i in 0..3 {
            backup(&c, &format!("db-{i}"), db, i * 60, BackupStatus::Succeeded);
        }
        failed_job(&c, "database app", 200, 5);
        failed_job(&c, "filesystem", 210, 5);
        grow(&c, 100);
        let (db_small, fs_small) = (steps(&c, db), steps(&c, BackupType::Filesystem));
        grow(&c, 20_000);
        assert_eq!(
            c.recent_backup_trend(BackupType::Filesystem, 30)
                .unwrap()
                .len(),
            30
        );
        assert_eq!(c.recent_backup_trend(db, 30).unwrap().len(), 4);
        assert_eq!(
            steps(&c, db),
            db_small,
            "the database trend walked the filesystem's rows"
        );
        assert_eq!(steps(&c, BackupType::Filesystem), fs_small);
    }

    #[test]
    fn every_half_of_a_trend_is_an_index_walk_without_a_sort() {
        let (_d, c) = open();
        for sql in [BACKUPS_BEFORE, BACKUPS_AFTER] {
            let p = plan(&c, sql);
            // Either index that starts (type, created_at) walks the same
            // way; which one SQLite picks depends on its version.
            assert!(
                p.contains("USING INDEX backups_type_created")
                    || p.contains("USING COVERING INDEX backups_listing")
                    || p.contains("USING INDEX backups_listing"),
                "{sql}\n{p}"
            );
            assert!(!p.contains("TEMP B-TREE"), "{sql}\n{p}");
        }
        for sql in [FAILED_JOBS_BEFORE, FAILED_JOBS_AFTER] {
            let p = plan(&c, sql);
            assert!(p.contains("USING INDEX jobs_backup_failures"), "{sql}\n{p}");
            assert!(!p.contains("TEMP B-TREE"), "{sql}\n{p}");
            // The "has no backup row" probe is an index lookup too.
            assert!(p.contains("backups_job"), "{sql}\n{p}");
        }
    }
}
