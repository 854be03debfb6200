//! Read models for the faces: compact rows a list screen shows, and cheap
//! "did anything change" probes, so no face needs the catalog's SQL.

use chrono::{DateTime, Utc};

use super::{u64_from_sql, BackupStatus, Catalog};
use crate::archive::manifest::BackupType;
use crate::error::Result;

/// Outcome of a backup's last verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verified {
    Never,
    Ok,
    Failed,
}

impl Verified {
    pub fn as_str(self) -> &'static str {
        match self {
            Verified::Never => "no",
            Verified::Ok => "yes",
            Verified::Failed => "FAILED",
        }
    }
}

/// One backup as the Catalog table shows it.
#[derive(Debug, Clone)]
pub struct BackupRow {
    pub id: Box<str>,
    pub backup_type: BackupType,
    pub name: Option<Box<str>>,
    pub incremental: bool,
    /// RFC 3339 UTC with nanoseconds, as stored (text order is time order).
    pub created: Box<str>,
    pub status: BackupStatus,
    pub size: u64,
    pub stored_size: u64,
    pub encrypted: bool,
    pub verified: Verified,
    /// `type kind name id status created`, lowercase, in the catalog's own
    /// words (`incremental`, `succeeded_with_warnings`, RFC 3339 time):
    /// what a filter searches. Built once per row at load time, so a
    /// filter over 100,000 rows does no allocation per keystroke. A face
    /// that shows other words (short types, local formats) appends them.
    pub search: Box<str>,
}

impl BackupRow {
    /// As [`crate::catalog::BackupRecord::is_good`]: finished, and its last
    /// verification (if any) did not fail.
    pub fn is_good(&self) -> bool {
        self.status.is_good() && self.verified != Verified::Failed
    }

    /// A restore's safety copy (never "the last good backup").
    pub fn is_safety_copy(&self) -> bool {
        self.name.as_deref() == Some(crate::catalog::SAFETY_COPY_NAME)
    }

    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.created)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// What [`backups_fingerprint`] returns: row count, highest rowid, newest
/// verification, newest finish, rows still running.
pub type Fingerprint = (i64, i64, String, String, i64);

/// The list's columns: all in the `backups_listing` covering index
/// (schema migration 8), so the scan never reads a row's manifest. A
/// column added here belongs in that index too (a test checks the plan).
pub(super) const LISTING_SQL: &str =
    "SELECT id, type, name, kind, created_at, status, size, stored_size, encrypted, \
     verify_result, rowid, verified_at, finished_at FROM backups";

/// See [`Catalog::backups_fingerprint`]; covered by the same index.
pub(super) const FINGERPRINT_SQL: &str =
    "SELECT COUNT(*), COALESCE(MAX(rowid), 0), COALESCE(MAX(verified_at), ''), \
     COALESCE(MAX(finished_at), ''), COALESCE(SUM(status = 'running'), 0) FROM backups";

impl Catalog {
    /// Every backup, unsorted, with only the columns a list shows (never
    /// `manifest_json`), and the fingerprint of the table computed in the
    /// same scan: 100,000 rows load in a fraction of a frame's budget.
    pub fn backup_rows(&self) -> Result<(Vec<BackupRow>, Fingerprint)> {
        let mut stmt = self.conn.prepare_cached(LISTING_SQL)?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        let mut fp: Fingerprint = (0, 0, String::new(), String::new(), 0);
        while let Some(r) = rows.next()? {
            fp.0 += 1;
            fp.1 = fp.1.max(r.get::<_, i64>(10)?);
            if let Some(v) = r.get_ref(11)?.as_str_or_null().ok().flatten() {
                if v > fp.2.as_str() {
                    fp.2 = v.to_string();
                }
            }
            if let Some(v) = r.get_ref(12)?.as_str_or_null().ok().flatten() {
                if v > fp.3.as_str() {
                    fp.3 = v.to_string();
                }
            }
            let id: String = r.get(0)?;
            let type_s: String = r.get(1)?;
            let Ok(backup_type) = type_s.parse::<BackupType>() else {
                continue;
            };
            let name: Option<String> = r.get(2)?;
            let kind: String = r.get(3)?;
            let status_s: String = r.get(5)?;
            let status = status_s.parse().unwrap_or(BackupStatus::Failed);
            if status == BackupStatus::Running {
                fp.4 += 1;
            }
            let verify: Option<String> = r.get(9)?;
            let verified = match verify.as_deref() {
                None => Verified::Never,
                Some("ok") => Verified::Ok,
                Some(_) => Verified::Failed,
            };
            let created: String = r.get(4)?;
            // Type, kind and status are lowercase already; the name, the
            // id and the time's `T`/`Z` are not.
            let mut search = String::with_capacity(id.len() + created.len() + 64);
            search.push_str(backup_type.as_str());
            search.push(' ');
            search.push_str(&kind);
            search.push(' ');
            if let Some(n) = &name {
                search.push_str(&n.to_lowercase());
            }
            search.push(' ');
            search.push_str(&id.to_lowercase());
            search.push(' ');
            search.push_str(status.as_str());
            search.push(' ');
            search.push_str(&created.to_lowercase());
            out.push(BackupRow {
                id: id.into(),
                backup_type,
                name: name.map(Into::into),
                incremental: kind == "incremental",
                created: created.into(),
                status,
                size: u64_from_sql(r.get(6)?),
                stored_size: u64_from_sql(r.get(7)?),
                encrypted: r.get(8)?,
                verified,
                search: search.into(),
            });
        }
        Ok((out, fp))
    }

    /// A cheap summary that changes whenever a backup row is added, removed,
    /// finished or verified: reloading 100,000 rows is skipped when it is equal.
    pub fn backups_fingerprint(&self) -> Result<Fingerprint> {
        Ok(self.conn.query_row(FINGERPRINT_SQL, [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?)
    }

    /// The newest audit sequence number (0 when empty): a change means new rows.
    pub fn audit_head(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM audit", [], |r| r.get(0))?)
    }

    /// SQLite's counter of commits by *other* connections: a cheap "did the
    /// catalog change" probe (one pragma, no table read).
    pub fn data_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    /// How long a read waits on a busy catalog before failing: a screen
    /// sets it short, so a busy catalog is retried on the next probe
    /// instead of freezing the screen.
    pub fn set_busy_timeout(&self, timeout: std::time::Duration) -> Result<()> {
        Ok(self.conn.busy_timeout(timeout)?)
    }

    /// The most recently verified backups, newest first: id and payload path.
    pub fn recently_verified_files(&self, limit: usize) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, file FROM backups WHERE verified_at IS NOT NULL \
             ORDER BY verified_at DESC LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}
