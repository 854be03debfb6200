//! Aggregates for reports and alerts, and the small tables the policies
//! keep (alert state, schedule slots): typed answers, so no policy module
//! needs the catalog's SQL.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{opt_ts_from_sql, ts_from_sql, ts_to_sql, u64_from_sql, Catalog};
use crate::error::{Error, Result};

/// Totals of one backup type, over every row of the backups table.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeTotals {
    /// As stored (`database`, `filesystem`, `config`).
    pub backup_type: String,
    pub backups: u64,
    /// Succeeded, with or without warnings.
    pub good: u64,
    /// Failed or interrupted.
    pub failed: u64,
    pub oldest: Option<DateTime<Utc>>,
    pub newest: Option<DateTime<Utc>>,
    pub stored_bytes: u64,
    pub plain_bytes: u64,
    /// Stored bytes of the backups created since the given time.
    pub stored_since: u64,
}

/// What the alerts last sent for one condition.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertState {
    pub sent_status: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// A condition's state after an alerts pass.
#[derive(Debug, Clone)]
pub struct AlertStateUpdate<'a> {
    pub key: &'a str,
    pub status: &'a str,
    pub title: &'a str,
    pub detail: &'a str,
    pub now: DateTime<Utc>,
    pub sent_status: Option<&'a str>,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<&'a str>,
}

impl Catalog {
    /// Per-type totals, ordered by type; `stored_since` counts backups
    /// created at or after `since`.
    pub fn type_totals(&self, since: DateTime<Utc>) -> Result<Vec<TypeTotals>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT type, count(*),
                    sum(status IN ('succeeded', 'succeeded_with_warnings')),
                    sum(status IN ('failed', 'interrupted')),
                    min(created_at), max(created_at),
                    sum(stored_size), sum(size),
                    sum(CASE WHEN created_at >= ?1 THEN stored_size ELSE 0 END)
               FROM backups GROUP BY type ORDER BY type",
        )?;
        let n = |v: Option<i64>| u64_from_sql(v.unwrap_or(0));
        let rows = stmt.query_map(params![ts_to_sql(&since)], |r| {
            Ok(TypeTotals {
                backup_type: r.get(0)?,
                backups: u64_from_sql(r.get(1)?),
                good: n(r.get(2)?),
                failed: n(r.get(3)?),
                // A damaged timestamp leaves the date unknown, not the report.
                oldest: opt_ts_from_sql(4, r.get(4)?).ok().flatten(),
                newest: opt_ts_from_sql(5, r.get(5)?).ok().flatten(),
                stored_bytes: n(r.get(6)?),
                plain_bytes: n(r.get(7)?),
                stored_since: n(r.get(8)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// How many rows the audit log holds.
    pub fn audit_count(&self) -> Result<u64> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))?;
        Ok(u64_from_sql(n))
    }

    /// Audit actions since `since`, with their counts, most frequent first.
    pub fn audit_actions_since(&self, since: DateTime<Utc>) -> Result<Vec<(String, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT action, count(*) FROM audit WHERE ts >= ?1 GROUP BY action ORDER BY 2 DESC",
        )?;
        let rows = stmt.query_map([ts_to_sql(&since)], |r| {
            Ok((r.get::<_, String>(0)?, u64_from_sql(r.get(1)?)))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// What was last sent for the condition `key`, if it was ever seen.
    pub fn alert_state(&self, key: &str) -> Result<Option<AlertState>> {
        Ok(self
            .conn
            .query_row(
                "SELECT sent_status, sent_at FROM alert_state WHERE key = ?1",
                [key],
                |r| {
                    let at: Option<String> = r.get(1)?;
                    Ok(AlertState {
                        sent_status: r.get(0)?,
                        sent_at: at.map(|s| ts_from_sql(1, &s)).transpose()?,
                    })
                },
            )
            .optional()?)
    }

    /// Record a condition's state; `since` moves only when its status changes.
    pub fn record_alert_state(&self, u: &AlertStateUpdate<'_>) -> Result<()> {
        self.conn.execute(
            "INSERT INTO alert_state (key, status, title, detail, since, sent_status, sent_at, last_error, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?5)
             ON CONFLICT(key) DO UPDATE SET
               since = CASE WHEN alert_state.status = excluded.status THEN alert_state.since ELSE excluded.since END,
               status = excluded.status, title = excluded.title, detail = excluded.detail,
               sent_status = excluded.sent_status, sent_at = excluded.sent_at,
               last_error = excluded.last_error, updated_at = excluded.updated_at",
            params![
                u.key,
                u.status,
                u.title,
                u.detail,
                ts_to_sql(&u.now),
                u.sent_status,
                u.sent_at.map(|t| ts_to_sql(&t)),
                u.last_error,
            ],
        )?;
        Ok(())
    }

    /// Claim a schedule slot: true for exactly one caller across processes.
    pub fn claim_slot(
        &self,
        entry: &str,
        slot: DateTime<Utc>,
        now: DateTime<Utc>,
        host: &str,
        pid: u32,
    ) -> Result<bool> {
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO schedule_slots (entry, slot, claimed_at, host, pid)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![entry, ts_to_sql(&slot), ts_to_sql(&now), host, pid],
        )?;
        Ok(n == 1)
    }

    /// Remember which job runs a claimed slot.
    pub fn set_slot_job(&self, entry: &str, slot: DateTime<Utc>, job: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE schedule_slots SET job_id = ?3 WHERE entry = ?1 AND slot = ?2",
            params![entry, ts_to_sql(&slot), job],
        )?;
        Ok(())
    }

    /// The newest slot claimed for an entry.
    pub fn last_slot(&self, entry: &str) -> Result<Option<DateTime<Utc>>> {
        let s: Option<String> = self
            .conn
            .query_row(
                "SELECT max(slot) FROM schedule_slots WHERE entry = ?1",
                params![entry],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        Ok(s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|d| d.with_timezone(&Utc)))
    }

    /// Delete backup `id`'s row unless an incremental builds on it (refused,
    /// naming the child). `then` runs inside the same transaction after the
    /// row is gone: if it fails, the row stays.
    pub fn delete_leaf_backup(&self, id: &str, then: impl FnOnce() -> Result<()>) -> Result<()> {
        self.immediate(|conn| {
            let child: Option<String> = conn
                .query_row(
                    "SELECT id FROM backups WHERE parent_id = ?1 ORDER BY created_at LIMIT 1",
                    [id],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(child) = child {
                return Err(Error::refused(format!(
                    "backup {id} cannot be deleted: incremental backup {child} builds on it"
                ))
                .hint(format!(
                    "delete {child} (and any later incrementals of that chain) first, newest first"
                )));
            }
            conn.execute("DELETE FROM backups WHERE id = ?1", [id])?;
            conn.execute("DELETE FROM offsite_only WHERE backup_id = ?1", [id])?;
            then()
        })
    }
}
