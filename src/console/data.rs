//! What the console shows, loaded from the catalog as compact rows.
//!
//! The lists read only the columns their tables show (never
//! `manifest_json`), so 100,000 backups load in a fraction of the first
//! frame's budget. Filtering and sorting work on index vectors over the
//! loaded rows and never touch the database again; rows carry a lowercase
//! search string built once at load time.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use crate::archive::manifest::BackupType;
use crate::catalog::{AuditRecord, BackupStatus, Catalog};
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
    /// `type name id status`, lowercase: what `/` searches.
    search: Box<str>,
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

/// One job as the Jobs and Dashboard screens show it.
#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub target: String,
    pub state: String,
    pub phase: Option<String>,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
    pub items_done: u64,
    pub items_total: Option<u64>,
    pub created_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub cancel_requested: bool,
    pub pid: u32,
}

impl JobRow {
    pub fn is_active(&self) -> bool {
        self.state == "running" || self.state == "queued"
    }

    /// Fraction done, by bytes when a byte total is known, else by items.
    pub fn ratio(&self) -> Option<f64> {
        match (self.bytes_total, self.items_total) {
            (Some(t), _) if t > 0 => Some((self.bytes_done as f64 / t as f64).min(1.0)),
            (_, Some(t)) if t > 0 => Some((self.items_done as f64 / t as f64).min(1.0)),
            _ => None,
        }
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

/// How many recent jobs the console keeps (running ones are always kept).
pub const RECENT_JOBS: usize = 1000;
/// How many recent audit rows the console keeps.
pub const RECENT_AUDIT: usize = 2000;

fn ts(s: Option<String>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&s?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// What [`backups_fingerprint`] returns: row count, highest rowid, newest
/// verification, newest finish, rows still running.
pub type Fingerprint = (i64, i64, String, String, i64);

/// Every backup, unsorted, with only the listed columns, and the
/// fingerprint of the table computed in the same scan.
pub fn load_backups(catalog: &Catalog) -> Result<(Vec<BackupRow>, Fingerprint)> {
    load_backups_conn(&catalog.conn)
}

fn load_backups_conn(conn: &Connection) -> Result<(Vec<BackupRow>, Fingerprint)> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, type, name, kind, created_at, status, size, stored_size, encrypted, \
         verify_result, rowid, verified_at, finished_at FROM backups",
    )?;
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
        // id, type and status are lowercase already; only the name is not.
        let mut search = String::with_capacity(id.len() + 40);
        search.push_str(backup_type.as_str());
        search.push(' ');
        if let Some(n) = &name {
            search.push_str(&n.to_lowercase());
        }
        search.push(' ');
        search.push_str(&id.to_lowercase());
        search.push(' ');
        search.push_str(status.as_str());
        out.push(BackupRow {
            id: id.into(),
            backup_type,
            name: name.map(Into::into),
            incremental: kind == "incremental",
            created: r.get::<_, String>(4)?.into(),
            status,
            size: u(r.get(6)?),
            stored_size: u(r.get(7)?),
            encrypted: r.get(8)?,
            verified,
            search: search.into(),
        });
    }
    Ok((out, fp))
}

/// A cheap summary that changes whenever a backup row is added, removed,
/// finished or verified: reloading 100,000 rows is skipped when it is equal.
pub fn backups_fingerprint(catalog: &Catalog) -> Result<Fingerprint> {
    Ok(catalog.conn.query_row(
        "SELECT COUNT(*), COALESCE(MAX(rowid), 0), COALESCE(MAX(verified_at), ''), \
         COALESCE(MAX(finished_at), ''), COALESCE(SUM(status = 'running'), 0) FROM backups",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
    )?)
}

const JOB_COLUMNS: &str = "id, kind, target, state, phase, bytes_done, bytes_total, items_done, \
     items_total, created_at, started_at, finished_at, error, cancel_requested, pid";

fn job_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        target: r.get(2)?,
        state: r.get(3)?,
        phase: r.get(4)?,
        bytes_done: u(r.get(5)?),
        bytes_total: r.get::<_, Option<i64>>(6)?.map(u),
        items_done: u(r.get(7)?),
        items_total: r.get::<_, Option<i64>>(8)?.map(u),
        created_at: ts(r.get(9)?),
        started_at: ts(r.get(10)?),
        finished_at: ts(r.get(11)?),
        error: r.get(12)?,
        cancel_requested: r.get::<_, i64>(13)? != 0,
        pid: u32::try_from(r.get::<_, i64>(14)?).unwrap_or(0),
    })
}

/// Active jobs (all of them) and the most recent others, newest first.
pub fn load_jobs(catalog: &Catalog) -> Result<Vec<JobRow>> {
    let conn = &catalog.conn;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs ORDER BY id DESC LIMIT ?1"
    ))?;
    let mut jobs = stmt
        .query_map([RECENT_JOBS as i64], job_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let oldest = jobs.last().map(|j| j.id).unwrap_or(0);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE state IN ('running', 'queued') AND id < ?1 \
         ORDER BY id DESC"
    ))?;
    let older_active = stmt
        .query_map([oldest], job_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    jobs.extend(older_active);
    Ok(jobs)
}

/// The newest audit rows, newest first, and the total count.
pub fn load_audit(catalog: &Catalog) -> Result<Vec<AuditRecord>> {
    catalog.list_audit(RECENT_AUDIT, 0)
}

/// The newest audit sequence number (0 when empty): a change means new rows.
pub fn audit_head(catalog: &Catalog) -> Result<i64> {
    Ok(catalog
        .conn
        .query_row("SELECT COALESCE(MAX(seq), 0) FROM audit", [], |r| r.get(0))?)
}

/// SQLite's counter of commits by *other* connections: a cheap "did the
/// catalog change" probe (one pragma, no table read).
pub fn data_version(catalog: &Catalog) -> Result<i64> {
    Ok(catalog
        .conn
        .query_row("PRAGMA data_version", [], |r| r.get(0))?)
}

/// Columns the Catalog table can be sorted by, in the order `s` cycles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortColumn {
    Created,
    Type,
    Name,
    Size,
    Stored,
    Status,
    Verified,
}

impl SortColumn {
    pub const ALL: [SortColumn; 7] = [
        SortColumn::Created,
        SortColumn::Type,
        SortColumn::Name,
        SortColumn::Size,
        SortColumn::Stored,
        SortColumn::Status,
        SortColumn::Verified,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SortColumn::Created => "created",
            SortColumn::Type => "type",
            SortColumn::Name => "name",
            SortColumn::Size => "size",
            SortColumn::Stored => "stored",
            SortColumn::Status => "status",
            SortColumn::Verified => "verified",
        }
    }

    pub fn next(self) -> SortColumn {
        let i = Self::ALL.iter().position(|c| *c == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }
}

/// The rows a filtered, sorted table shows, as indices into the loaded rows.
pub fn backup_view(
    rows: &[BackupRow],
    filter: &str,
    sort: SortColumn,
    descending: bool,
) -> Vec<u32> {
    let needle = filter.trim().to_lowercase();
    let mut idx: Vec<u32> = if needle.is_empty() {
        (0..rows.len() as u32).collect()
    } else {
        rows.iter()
            .enumerate()
            .filter(|(_, r)| r.search.contains(&needle))
            .map(|(i, _)| i as u32)
            .collect()
    };
    let cmp = |a: &BackupRow, b: &BackupRow| -> Ordering {
        let primary = match sort {
            SortColumn::Created => a.created.cmp(&b.created),
            SortColumn::Type => a.backup_type.as_str().cmp(b.backup_type.as_str()),
            SortColumn::Name => a.name.cmp(&b.name),
            SortColumn::Size => a.size.cmp(&b.size),
            SortColumn::Stored => a.stored_size.cmp(&b.stored_size),
            SortColumn::Status => a.status.as_str().cmp(b.status.as_str()),
            SortColumn::Verified => a.verified.cmp(&b.verified),
        };
        // Ties: newest first, then id, so the order is stable across reloads.
        primary
            .then_with(|| b.created.cmp(&a.created))
            .then_with(|| a.id.cmp(&b.id))
    };
    idx.sort_unstable_by(|&a, &b| {
        let (ra, rb) = (&rows[a as usize], &rows[b as usize]);
        if descending {
            cmp(rb, ra)
        } else {
            cmp(ra, rb)
        }
    });
    idx
}

/// Case-insensitive substring filter over audit rows; indices, newest first.
pub fn audit_view(rows: &[AuditRecord], filter: &str) -> Vec<u32> {
    let needle = filter.trim().to_lowercase();
    rows.iter()
        .enumerate()
        .filter(|(_, r)| {
            needle.is_empty() || {
                let e = &r.entry;
                [&e.actor, &e.action, &e.target, &e.outcome, &e.detail]
                    .iter()
                    .any(|s| s.to_lowercase().contains(&needle))
            }
        })
        .map(|(i, _)| i as u32)
        .collect()
}

/// The manifest facts the Catalog detail pane shows.
#[derive(Debug, Clone, Default)]
pub struct BackupDetail {
    pub lines: Vec<(String, String)>,
}

/// Build the detail pane of one backup: catalog row, manifest summary and
/// the parent chain (walked through the catalog, at most 50 links).
pub fn backup_detail(catalog: &Catalog, id: &str) -> Result<Option<BackupDetail>> {
    let Some(rec) = catalog.get_backup(id)? else {
        return Ok(None);
    };
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, v: String| lines.push((k.to_string(), v));
    add("id", rec.id.clone());
    add(
        "type",
        format!(
            "{} ({})",
            rec.backup_type,
            match rec.kind {
                crate::archive::manifest::BackupKind::Full => "full",
                crate::archive::manifest::BackupKind::Incremental => "incremental",
            }
        ),
    );
    if let Some(n) = &rec.name {
        add("name", n.clone());
    }
    add("status", rec.status.as_str().to_string());
    add(
        "created",
        rec.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    );
    add(
        "size",
        format!(
            "{} ({} stored)",
            super::fmt::bytes(rec.size),
            super::fmt::bytes(rec.stored_size)
        ),
    );
    add(
        "encrypted",
        if rec.encrypted {
            format!("yes, key {}", rec.key_id.as_deref().unwrap_or("?"))
        } else {
            match &rec.key_id {
                Some(k) => format!("no (manifest keyed by {k})"),
                None => "no".to_string(),
            }
        },
    );
    add(
        "verified",
        match (&rec.verified_at, &rec.verify_result) {
            (Some(at), Some(r)) => format!("{r} at {}", at.format("%Y-%m-%d %H:%M")),
            _ => "never".to_string(),
        },
    );
    add("file", rec.file.clone());
    // Parent chain, newest to oldest.
    let mut chain = Vec::new();
    let mut next = rec.parent_id.clone();
    while let Some(p) = next.take() {
        if chain.len() >= 50 || chain.contains(&p) {
            break;
        }
        next = catalog.get_backup(&p)?.and_then(|b| b.parent_id);
        chain.push(p);
    }
    add(
        "parent chain",
        if chain.is_empty() {
            "none (full backup)".to_string()
        } else {
            chain.join(" <- ")
        },
    );
    let manifest: Option<serde_json::Value> = catalog
        .get_manifest_json(id)?
        .and_then(|s| serde_json::from_str(&s).ok());
    match manifest {
        None => add(
            "manifest",
            "not in the catalog (see the .manifest.json next to the file)".to_string(),
        ),
        Some(m) => {
            if let Some(by) = m["created_by"].as_str() {
                add("created by", by.to_string());
            }
            if let Some(v) = m["tool_version"].as_str() {
                add("tool version", v.to_string());
            }
            if let Some(c) = m["compression"].as_str() {
                add(
                    "compression",
                    format!("{c} level {}", m["compression_level"].as_i64().unwrap_or(0)),
                );
            }
            if let Some(f) = m.get("files").filter(|f| !f.is_null()) {
                let n = |k: &str| f[k].as_u64().unwrap_or(0);
                add(
                    "files",
                    format!(
                        "{} files, {} dirs, {} symlinks; {} stored, {} unchanged, {} deleted",
                        n("files"),
                        n("dirs"),
                        n("symlinks"),
                        n("stored"),
                        n("unchanged"),
                        n("deleted")
                    ),
                );
            }
            if let Some(db) = m.get("database").filter(|d| !d.is_null()) {
                if let Some(v) = db["server_version"].as_str() {
                    add("server", v.to_string());
                }
                if let Some(d) = db["database"].as_str() {
                    add("database", d.to_string());
                }
                if let Some(t) = db["tables"].as_array() {
                    let rows: u64 = t.iter().map(|x| x["rows"].as_u64().unwrap_or(0)).sum();
                    add("tables", format!("{} tables, {rows} rows", t.len()));
                    for x in t.iter().take(12) {
                        add(
                            &format!(
                                "  {}.{}",
                                x["schema"].as_str().unwrap_or(""),
                                x["name"].as_str().unwrap_or("")
                            ),
                            format!("{} rows", x["rows"].as_u64().unwrap_or(0)),
                        );
                    }
                    if t.len() > 12 {
                        add("  ...", format!("{} more tables", t.len() - 12));
                    }
                }
            }
            if let Some(w) = m["warnings"].as_array().filter(|w| !w.is_empty()) {
                add("warnings", format!("{}", w.len()));
                for x in w.iter().take(5) {
                    add("  warning", x.as_str().unwrap_or("").to_string());
                }
            }
        }
    }
    Ok(Some(BackupDetail { lines }))
}

/// A job's log, at most the newest `limit` lines, oldest first.
pub fn job_log_tail(
    catalog: &Catalog,
    id: i64,
    limit: usize,
) -> Result<Vec<(DateTime<Utc>, String, String)>> {
    let mut log = catalog.get_job_log(id)?;
    if log.len() > limit {
        log.drain(..log.len() - limit);
    }
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, t: BackupType, name: Option<&str>, created: &str, size: u64) -> BackupRow {
        BackupRow {
            id: id.into(),
            backup_type: t,
            name: name.map(Into::into),
            incremental: false,
            created: created.into(),
            status: BackupStatus::Succeeded,
            size,
            stored_size: size / 2,
            encrypted: true,
            verified: Verified::Never,
            search: format!(
                "{} {} {id} succeeded",
                t.as_str(),
                name.unwrap_or("").to_lowercase()
            )
            .into(),
        }
    }

    #[test]
    fn filter_is_case_insensitive_and_sort_is_stable() {
        let rows = vec![
            row(
                "db-1",
                BackupType::Database,
                None,
                "2026-11-26T01:00:00Z",
                30,
            ),
            row(
                "fs-1",
                BackupType::Filesystem,
                Some("Pre-Deploy"),
                "2026-11-26T02:00:00Z",
                10,
            ),
            row(
                "fs-2",
                BackupType::Filesystem,
                None,
                "2026-11-26T03:00:00Z",
                20,
            ),
        ];
        // Newest first by default.
        assert_eq!(backup_view(&rows, "", SortColumn::Created, true), [2, 1, 0]);
        assert_eq!(
            backup_view(&rows, "pre-DEP", SortColumn::Created, true),
            [1]
        );
        assert_eq!(
            backup_view(&rows, "FILESYSTEM", SortColumn::Created, true),
            [2, 1]
        );
        assert!(backup_view(&rows, "nothing", SortColumn::Created, true).is_empty());
        assert_eq!(backup_view(&rows, "", SortColumn::Size, false), [1, 2, 0]);
        // Equal types: newest first within the type, whatever the direction.
        assert_eq!(backup_view(&rows, "", SortColumn::Type, false), [0, 2, 1]);
    }
}
