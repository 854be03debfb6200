//! Where each backup's copies are (`lifeboat copies`, the Storage screen,
//! health's 3-2-1 check). The repository's own copy is the backup row.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{opt_ts_from_sql, ts_from_sql, ts_to_sql, u64_from_sql, Catalog};
use crate::error::Result;

/// The state of one copy on one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyState {
    /// Every file is there (the manifest last) with the right sizes.
    Copied,
    /// Read back, and its SHA-256 matched the manifest.
    Verified,
    /// The last attempt failed.
    Failed,
    /// It was there and is gone or altered (drift).
    Missing,
}

impl CopyState {
    pub fn as_str(self) -> &'static str {
        match self {
            CopyState::Copied => "copied",
            CopyState::Verified => "verified",
            CopyState::Failed => "failed",
            CopyState::Missing => "missing",
        }
    }
    pub fn parse(s: &str) -> CopyState {
        match s {
            "copied" => CopyState::Copied,
            "verified" => CopyState::Verified,
            "missing" => CopyState::Missing,
            _ => CopyState::Failed,
        }
    }
    /// Whether it counts as a copy.
    pub fn counts(self) -> bool {
        matches!(self, CopyState::Copied | CopyState::Verified)
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CopyRecord {
    pub backup_id: String,
    pub target: String,
    pub state: CopyState,
    pub bytes: u64,
    pub updated_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

const COLUMNS: &str = "backup_id, target, state, bytes, updated_at, verified_at, error";

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<CopyRecord> {
    Ok(CopyRecord {
        backup_id: r.get(0)?,
        target: r.get(1)?,
        state: CopyState::parse(&r.get::<_, String>(2)?),
        bytes: u64_from_sql(r.get(3)?),
        updated_at: ts_from_sql(4, &r.get::<_, String>(4)?)?,
        verified_at: opt_ts_from_sql(5, r.get(5)?)?,
        error: r.get(6)?,
    })
}

impl Catalog {
    /// Record the state of a backup's copy on a target. A verified time is
    /// kept when a later write does not carry one (a re-check that found it
    /// still there).
    pub fn set_copy(
        &self,
        backup_id: &str,
        target: &str,
        state: CopyState,
        bytes: u64,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<()> {
        upsert_copy(&self.conn, backup_id, target, state, bytes, at, error)
    }

    /// Every copy of one backup.
    pub fn copies_of(&self, backup_id: &str) -> Result<Vec<CopyRecord>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM copies WHERE backup_id = ?1 ORDER BY target"
        ))?;
        let rows = st.query_map([backup_id], record)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every copy on record, by backup then target.
    pub fn all_copies(&self) -> Result<Vec<CopyRecord>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM copies ORDER BY backup_id, target"
        ))?;
        let rows = st.query_map([], record)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Forget a backup's copy on a target (it was pruned there).
    pub fn forget_copy(&self, backup_id: &str, target: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM copies WHERE backup_id = ?1 AND target = ?2",
            params![backup_id, target],
        )?;
        Ok(())
    }

    /// Record that backup `id` left the repository and lives on its
    /// targets' copies only.
    /// `then` (removing the repository's manifest) runs inside the same
    /// transaction: if it fails, the row is not marked.
    pub fn mark_offsite_only(
        &self,
        id: &str,
        at: DateTime<Utc>,
        then: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        self.immediate(|conn| {
            conn.execute(
                "INSERT INTO offsite_only (backup_id, since) VALUES (?1, ?2)
                 ON CONFLICT (backup_id) DO NOTHING",
                params![id, ts_to_sql(&at)],
            )?;
            then()
        })
    }

    /// The backups that live on targets only, with since when.
    pub fn offsite_only(&self) -> Result<std::collections::HashMap<String, DateTime<Utc>>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT backup_id, since FROM offsite_only")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                ts_from_sql(1, &r.get::<_, String>(1)?)?,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Forget the copies of backups that no longer exist.
    pub fn forget_orphan_copies(&self) -> Result<usize> {
        self.conn.execute(
            "DELETE FROM offsite_only WHERE backup_id NOT IN (SELECT id FROM backups)",
            [],
        )?;
        Ok(self.conn.execute(
            "DELETE FROM copies WHERE backup_id NOT IN (SELECT id FROM backups)",
            [],
        )?)
    }
}

/// [`Catalog::set_copy`] on a connection or inside a transaction.
fn upsert_copy(
    conn: &rusqlite::Connection,
    backup_id: &str,
    target: &str,
    state: CopyState,
    bytes: u64,
    at: DateTime<Utc>,
    error: Option<&str>,
) -> Result<()> {
    let verified = (state == CopyState::Verified).then(|| ts_to_sql(&at));
    conn.prepare_cached(
        "INSERT INTO copies (backup_id, target, state, bytes, updated_at, verified_at, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (backup_id, target) DO UPDATE SET
           state = excluded.state, bytes = excluded.bytes,
           updated_at = excluded.updated_at, error = excluded.error,
           verified_at = CASE WHEN excluded.state IN ('copied', 'verified')
             THEN COALESCE(excluded.verified_at, copies.verified_at) ELSE NULL END",
    )?
    .execute(params![
        backup_id,
        target,
        state.as_str(),
        bytes as i64,
        ts_to_sql(&at),
        verified,
        error
    ])?;
    Ok(())
}

/// What a check of a target decided about one backup's copy there.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckFinding {
    pub backup_id: String,
    pub state: CopyState,
    pub bytes: u64,
    /// Why, for a copy found gone or altered.
    pub error: Option<String>,
}

/// An object as a target's last listing showed it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ListedObject {
    pub key: String,
    pub size: u64,
    pub modified: DateTime<Utc>,
}

impl Catalog {
    /// Record what a check of `target` found: its listing replaces the
    /// cached one and each finding becomes its copy's state, in one
    /// transaction. A process killed in between leaves the old listing
    /// and the old states, never a listing that disagrees with the copies
    /// it was checked against.
    pub fn record_check(
        &self,
        target: &str,
        objects: &[ListedObject],
        findings: &[CheckFinding],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute("DELETE FROM remote_objects WHERE target = ?1", [target])?;
        {
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO remote_objects (target, key, size, modified, listed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let listed = ts_to_sql(&at);
            for o in objects {
                st.execute(params![
                    target,
                    o.key,
                    o.size as i64,
                    ts_to_sql(&o.modified),
                    listed
                ])?;
            }
        }
        crate::crashpoint::hit("check.recording");
        for f in findings {
            upsert_copy(
                &tx,
                &f.backup_id,
                target,
                f.state,
                f.bytes,
                at,
                f.error.as_deref(),
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The cached listing of `target` and when it was taken (`None`: never listed).
    pub fn listing(&self, target: &str) -> Result<(Vec<ListedObject>, Option<DateTime<Utc>>)> {
        let mut st = self.conn.prepare_cached(
            "SELECT key, size, modified, listed_at FROM remote_objects WHERE target = ?1 ORDER BY key",
        )?;
        let mut at = None;
        let rows = st.query_map([target], |r| {
            Ok((
                ListedObject {
                    key: r.get(0)?,
                    size: u64_from_sql(r.get(1)?),
                    modified: ts_from_sql(2, &r.get::<_, String>(2)?)?,
                },
                ts_from_sql(3, &r.get::<_, String>(3)?)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (o, listed) = row?;
            at = Some(listed);
            out.push(o);
        }
        Ok((out, at))
    }

    /// When `target` was last listed, if ever.
    pub fn listing_time(&self, target: &str) -> Result<Option<DateTime<Utc>>> {
        let t: Option<String> = self.conn.query_row(
            "SELECT max(listed_at) FROM remote_objects WHERE target = ?1",
            [target],
            |r| r.get(0),
        )?;
        Ok(opt_ts_from_sql(0, t)?)
    }
}
