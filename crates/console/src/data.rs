//! What the console shows, loaded from the catalog as compact rows.
//!
//! The lists read only the columns their tables show (never
//! `manifest_json`), so 100,000 backups load in a fraction of the first
//! frame's budget. Filtering and sorting work on index vectors over the
//! loaded rows and never touch the database again; rows carry a lowercase
//! search string built once at load time, holding every cell text the
//! Catalog table shows (the same functions draw the cells), so `/` finds
//! what the operator reads on the screen.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};

use lifeboat_engine::archive::manifest::BackupType;
use lifeboat_engine::catalog::{
    AuditRecord, BackupStatus, Catalog, JobKind, JobRecord, TrendPoint,
};
use lifeboat_engine::error::Result;

pub use lifeboat_engine::catalog::listing::{BackupRow, Fingerprint, Verified};

/// How many recent jobs the console keeps (running ones are always kept).
pub const RECENT_JOBS: usize = 1000;
/// How many recent audit rows the console keeps.
pub const RECENT_AUDIT: usize = 2000;

/// Every backup as the Catalog table shows it, and the catalog's
/// fingerprint. Each row's search string gets the words its cells show
/// (`files+incr`, `warnings`, `2026-11-26 02:00`) on top of the catalog's
/// own, once here and not per keystroke.
pub fn load_backups(catalog: &Catalog) -> Result<(Vec<BackupRow>, Fingerprint)> {
    let (mut rows, fp) = catalog.backup_rows()?;
    for row in &mut rows {
        add_shown_words(row);
    }
    Ok((rows, fp))
}

/// Append the Catalog table's cell texts that the catalog's own words do
/// not already contain: the short type with its kind, the status word and
/// the creation time, as the table draws them.
pub fn add_shown_words(row: &mut BackupRow) {
    let kind = type_cell(row);
    let created = crate::fmt::stored_ts(&row.created);
    let mut s = String::with_capacity(row.search.len() + kind.len() + created.len() + 12);
    s.push_str(&row.search);
    for word in [kind.as_str(), status_cell(row.status), created.as_str()] {
        s.push(' ');
        s.push_str(word);
    }
    // Every appended word is lowercase already (digits and fixed words).
    row.search = s.into();
}

/// The TYPE cell: a type name short enough for the 80-column table, with
/// `+incr` for an incremental (`files+incr`).
pub fn type_cell(row: &BackupRow) -> String {
    let t = match row.backup_type {
        BackupType::Database => "db",
        BackupType::Filesystem => "files",
        BackupType::Configuration => "config",
        BackupType::State => "state",
    };
    if row.incremental {
        format!("{t}+incr")
    } else {
        t.to_string()
    }
}

/// The STATUS cell: the status as one short word.
pub fn status_cell(status: BackupStatus) -> &'static str {
    match status {
        BackupStatus::SucceededWithWarnings => "warnings",
        other => other.as_str(),
    }
}

/// How many recent attempts of each type a trend shows (at most).
pub const TREND_LEN: usize = 30;

/// The types the Dashboard shows, in its order.
pub const TREND_TYPES: [BackupType; 3] = [
    BackupType::Database,
    BackupType::Filesystem,
    BackupType::Configuration,
];

/// The recent attempts of one backup type, oldest first.
#[derive(Debug, Clone)]
pub struct Trend {
    pub backup_type: BackupType,
    pub points: Vec<TrendPoint>,
}

/// The Dashboard's trends: the newest [`TREND_LEN`] attempts of each
/// type (three indexed queries with a LIMIT each, whatever the catalog's
/// size).
pub fn load_trends(catalog: &Catalog) -> Result<Vec<Trend>> {
    TREND_TYPES
        .into_iter()
        .map(|t| {
            Ok(Trend {
                backup_type: t,
                points: catalog.recent_backup_trend(t, TREND_LEN)?,
            })
        })
        .collect()
}

/// What changes when a backup job ends: the count and the id sum of the
/// finished backup jobs among the loaded ones. A backup that failed before
/// writing its row changes no backup row, only its job, and the trends
/// must show it.
pub fn finished_backup_jobs(jobs: &[JobRecord]) -> (usize, i64) {
    jobs.iter()
        .filter(|j| j.kind == JobKind::Backup && j.state.is_finished())
        .fold((0, 0), |(n, sum), j| (n + 1, sum.wrapping_add(j.id)))
}

/// Active jobs (all of them) and the most recent others, newest first.
pub fn load_jobs(catalog: &Catalog) -> Result<Vec<JobRecord>> {
    catalog.recent_jobs(RECENT_JOBS)
}

/// The newest audit rows, newest first, and the total count.
pub fn load_audit(catalog: &Catalog) -> Result<Vec<AuditRecord>> {
    catalog.list_audit(RECENT_AUDIT, 0)
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

/// The manifest facts the Catalog detail pane shows.
#[derive(Debug, Clone, Default)]
pub struct BackupDetail {
    pub lines: Vec<(String, String)>,
    /// The attempts of its type around it, and its place among them
    /// (`None`: a safety copy, not part of its type's history).
    pub trend: Option<(Trend, Option<usize>)>,
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
                lifeboat_engine::archive::manifest::BackupKind::Full => "full",
                lifeboat_engine::archive::manifest::BackupKind::Incremental => "incremental",
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
    let trend = catalog
        .backup_trend_around(id, TREND_LEN)?
        .map(|(points, at)| {
            (
                Trend {
                    backup_type: rec.backup_type,
                    points,
                },
                at,
            )
        });
    Ok(Some(BackupDetail { lines, trend }))
}

/// A job's log, at most the newest `limit` lines, oldest first (only
/// those are read, however long the log).
pub fn job_log_tail(
    catalog: &Catalog,
    id: i64,
    limit: usize,
) -> Result<Vec<(DateTime<Utc>, String, String)>> {
    let tail = catalog.job_log_tail(id, 0, limit)?;
    Ok(tail
        .lines
        .into_iter()
        .map(|l| (l.ts, l.level, l.message))
        .collect())
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

    #[test]
    fn the_filter_finds_the_words_the_table_shows() {
        let mut rows = vec![
            row(
                "db-1",
                BackupType::Database,
                None,
                "2026-11-26T01:00:00.000000000Z",
                30,
            ),
            row(
                "fs-2",
                BackupType::Filesystem,
                None,
                "2026-11-27T03:04:00.000000000Z",
                20,
            ),
        ];
        rows[1].incremental = true;
        rows[1].status = BackupStatus::SucceededWithWarnings;
        for r in &mut rows {
            add_shown_words(r);
        }
        assert_eq!(type_cell(&rows[1]), "files+incr");
        let find = |needle| backup_view(&rows, needle, SortColumn::Created, true);
        // The TYPE cell as drawn, and its parts.
        assert_eq!(find("files+incr"), [1]);
        assert_eq!(find("incr"), [1]);
        assert_eq!(find("DB"), [0]);
        // The STATUS cell's word.
        assert_eq!(find("warnings"), [1]);
        // The CREATED cell as drawn, and the date alone.
        assert_eq!(find("2026-11-27 03:04"), [1]);
        assert_eq!(find("2026-"), [1, 0]);
        assert_eq!(find("2026-11-26"), [0]);
    }
}
