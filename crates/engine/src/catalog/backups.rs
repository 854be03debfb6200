//! The backups table: one row per artifact, a cache of its manifest.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, Row};

use super::{
    bad_column, opt_ts_from_sql, query_opt, ts_from_sql, ts_to_sql, u64_from_sql, u64_to_sql,
    BackupRecord, BackupStatus, Catalog,
};
use crate::archive::manifest::{BackupKind, BackupType, Manifest};
use crate::error::{Error, Result};

const COLUMNS: &str = "id, type, name, kind, parent_id, created_at, finished_at, status, size, \
     stored_size, encrypted, key_id, file, sha256, verified_at, verify_result, warnings, job_id";

const INSERT: &str = "INSERT INTO backups (id, type, name, kind, parent_id, created_at, \
     finished_at, status, size, stored_size, encrypted, key_id, file, sha256, verified_at, \
     verify_result, warnings, job_id, manifest_json) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)";

fn kind_str(k: BackupKind) -> &'static str {
    match k {
        BackupKind::Full => "full",
        BackupKind::Incremental => "incremental",
    }
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<BackupRecord> {
    let type_s: String = r.get(1)?;
    let kind_s: String = r.get(3)?;
    let status_s: String = r.get(7)?;
    Ok(BackupRecord {
        id: r.get(0)?,
        backup_type: type_s.parse().map_err(|e| bad_column(1, e))?,
        name: r.get(2)?,
        kind: match kind_s.as_str() {
            "full" => BackupKind::Full,
            "incremental" => BackupKind::Incremental,
            other => return Err(bad_column(3, format!("unknown backup kind '{other}'"))),
        },
        parent_id: r.get(4)?,
        created_at: ts_from_sql(5, &r.get::<_, String>(5)?)?,
        finished_at: opt_ts_from_sql(6, r.get(6)?)?,
        status: status_s.parse().map_err(|e| bad_column(7, e))?,
        size: u64_from_sql(r.get(8)?),
        stored_size: u64_from_sql(r.get(9)?),
        encrypted: r.get(10)?,
        key_id: r.get(11)?,
        file: r.get(12)?,
        sha256: r.get(13)?,
        verified_at: opt_ts_from_sql(14, r.get(14)?)?,
        verify_result: r.get(15)?,
        warnings: u64_from_sql(r.get(16)?),
        job_id: r.get(17)?,
    })
}

fn insert(conn: &Connection, b: &BackupRecord, manifest_json: Option<&str>) -> Result<()> {
    conn.prepare_cached(INSERT)?.execute(params![
        b.id,
        b.backup_type.as_str(),
        b.name,
        kind_str(b.kind),
        b.parent_id,
        ts_to_sql(&b.created_at),
        b.finished_at.as_ref().map(ts_to_sql),
        b.status.as_str(),
        u64_to_sql(b.size),
        u64_to_sql(b.stored_size),
        b.encrypted,
        b.key_id,
        b.file,
        b.sha256,
        b.verified_at.as_ref().map(ts_to_sql),
        b.verify_result,
        u64_to_sql(b.warnings),
        b.job_id,
        manifest_json,
    ])?;
    Ok(())
}

/// Insert the row, or refresh an existing one (keeping its verification
/// and job id).
fn upsert(conn: &Connection, b: &BackupRecord, json: &str) -> Result<()> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM backups WHERE id = ?1)",
        [&b.id],
        |r| r.get(0),
    )?;
    if !exists {
        return insert(conn, b, Some(json));
    }
    conn.execute(
        "UPDATE backups SET type = ?2, name = ?3, kind = ?4, parent_id = ?5, \
         created_at = ?6, finished_at = ?7, status = ?8, size = ?9, stored_size = ?10, \
         encrypted = ?11, key_id = ?12, file = ?13, sha256 = ?14, warnings = ?15, \
         manifest_json = ?16 WHERE id = ?1",
        params![
            b.id,
            b.backup_type.as_str(),
            b.name,
            kind_str(b.kind),
            b.parent_id,
            ts_to_sql(&b.created_at),
            b.finished_at.as_ref().map(ts_to_sql),
            b.status.as_str(),
            u64_to_sql(b.size),
            u64_to_sql(b.stored_size),
            b.encrypted,
            b.key_id,
            b.file,
            b.sha256,
            u64_to_sql(b.warnings),
            json,
        ],
    )?;
    Ok(())
}

fn manifest_to_json(m: &Manifest) -> Result<String> {
    serde_json::to_string(m).map_err(|e| {
        Error::integrity(format!(
            "manifest of backup {} cannot be serialized: {e}",
            m.id
        ))
    })
}

fn path_text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

impl BackupRecord {
    /// The row a manifest describes, before any verification.
    pub fn from_manifest(m: &Manifest, payload_path: &Path, status: BackupStatus) -> BackupRecord {
        let file: PathBuf =
            std::path::absolute(payload_path).unwrap_or_else(|_| payload_path.to_path_buf());
        BackupRecord {
            id: m.id.clone(),
            backup_type: m.backup_type,
            name: m.name.clone(),
            kind: m.kind,
            parent_id: m.parent_id.clone(),
            created_at: m.created_at,
            finished_at: Some(m.finished_at),
            status,
            size: m.payload.size,
            stored_size: m.payload.stored_size,
            encrypted: m.encrypted,
            key_id: m.key.as_ref().map(|k| k.key_id.clone()),
            file: path_text(&file),
            sha256: Some(m.payload.sha256.clone()),
            verified_at: None,
            verify_result: None,
            warnings: m.warnings.len() as u64,
            job_id: None,
        }
    }
}

impl Catalog {
    /// Add a new backup row; fails if the id is already catalogued.
    pub fn insert_backup(&self, b: &BackupRecord) -> Result<()> {
        insert(&self.conn, b, None)
    }

    /// Rewrite every field of an existing row (found by id).
    pub fn update_backup(&self, b: &BackupRecord) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE backups SET type = ?2, name = ?3, kind = ?4, parent_id = ?5, created_at = ?6, \
             finished_at = ?7, status = ?8, size = ?9, stored_size = ?10, encrypted = ?11, \
             key_id = ?12, file = ?13, sha256 = ?14, verified_at = ?15, verify_result = ?16, \
             warnings = ?17, job_id = ?18 WHERE id = ?1",
            params![
                b.id,
                b.backup_type.as_str(),
                b.name,
                kind_str(b.kind),
                b.parent_id,
                ts_to_sql(&b.created_at),
                b.finished_at.as_ref().map(ts_to_sql),
                b.status.as_str(),
                u64_to_sql(b.size),
                u64_to_sql(b.stored_size),
                b.encrypted,
                b.key_id,
                b.file,
                b.sha256,
                b.verified_at.as_ref().map(ts_to_sql),
                b.verify_result,
                u64_to_sql(b.warnings),
                b.job_id,
            ],
        )?;
        expect_row(n, &b.id)
    }

    pub fn get_backup(&self, id: &str) -> Result<Option<BackupRecord>> {
        query_opt(
            &self.conn,
            &format!("SELECT {COLUMNS} FROM backups WHERE id = ?1"),
            [id],
            from_row,
        )
    }

    /// Backups, newest first (ties broken by id), optionally of one type.
    pub fn list_backups(&self, backup_type: Option<BackupType>) -> Result<Vec<BackupRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM backups WHERE ?1 IS NULL OR type = ?1 \
             ORDER BY created_at DESC, id ASC"
        ))?;
        let rows = stmt.query_map([backup_type.map(|t| t.as_str())], from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The backups job `job_id` created (a backup, or a restore's safety copy).
    pub fn list_backups_of_job(&self, job_id: i64) -> Result<Vec<BackupRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM backups WHERE job_id = ?1 ORDER BY created_at"
        ))?;
        let rows = stmt.query_map([job_id], from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The backup whose payload is this file (as stored: an absolute path).
    pub fn find_backup_by_file(&self, path: impl AsRef<Path>) -> Result<Option<BackupRecord>> {
        query_opt(
            &self.conn,
            &format!(
                "SELECT {COLUMNS} FROM backups WHERE file = ?1 ORDER BY created_at DESC LIMIT 1"
            ),
            [path_text(path.as_ref())],
            from_row,
        )
    }

    /// Remove a row; returns whether it existed.
    pub fn delete_backup(&self, id: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM backups WHERE id = ?1", [id])?
            > 0)
    }

    /// Record a verification: when, and "ok" or what failed.
    pub fn mark_verified(&self, id: &str, at: DateTime<Utc>, result: &str) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE backups SET verified_at = ?2, verify_result = ?3 WHERE id = ?1",
            params![id, ts_to_sql(&at), result],
        )?;
        expect_row(n, id)
    }

    pub fn set_backup_status(&self, id: &str, status: BackupStatus) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE backups SET status = ?2 WHERE id = ?1",
            params![id, status.as_str()],
        )?;
        expect_row(n, id)
    }

    /// Insert or refresh the row a manifest describes, keeping the manifest
    /// JSON. An existing row keeps its verification result and job id.
    pub fn upsert_from_manifest(
        &self,
        m: &Manifest,
        payload_path: &Path,
        status: BackupStatus,
    ) -> Result<BackupRecord> {
        let b = BackupRecord::from_manifest(m, payload_path, status);
        let json = manifest_to_json(m)?;
        self.immediate(|conn| upsert(conn, &b, &json))?;
        self.get_backup(&b.id)?
            .ok_or_else(|| Error::not_found(format!("backup {} vanished from the catalog", b.id)))
    }

    /// The catalog step of the commit protocol (docs/FORMAT.md section 9):
    /// in one transaction, the row takes the committed manifest's facts and
    /// `status`, and job `job_id` stops listing the artifact's files as its
    /// partial outputs: from here on they belong to the backup.
    pub fn record_committed(
        &self,
        m: &Manifest,
        payload_path: &Path,
        status: BackupStatus,
        job_id: i64,
        files: &[PathBuf],
    ) -> Result<()> {
        let b = BackupRecord::from_manifest(m, payload_path, status);
        let json = manifest_to_json(m)?;
        self.immediate(|conn| {
            upsert(conn, &b, &json)?;
            for f in files {
                super::jobs::untrack_output(conn, job_id, &path_text(f))?;
            }
            Ok(())
        })
    }

    /// Backups still `running` whose job is not (it finished, or is gone):
    /// a process that failed to record its outcome. Settled at start-up.
    pub fn orphaned_running_backups(&self) -> Result<Vec<BackupRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM backups b WHERE b.status = 'running' AND NOT EXISTS \
             (SELECT 1 FROM jobs j WHERE j.id = b.job_id AND j.state IN ('running', 'queued'))"
        ))?;
        let rows = stmt.query_map([], from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The manifest JSON stored with a backup (absent for rows not made from one).
    pub fn get_manifest_json(&self, id: &str) -> Result<Option<String>> {
        Ok(query_opt(
            &self.conn,
            "SELECT manifest_json FROM backups WHERE id = ?1",
            [id],
            |r| r.get::<_, Option<String>>(0),
        )?
        .flatten())
    }

    /// Replace the whole backups table with rows built from manifests, in
    /// one transaction (the rebuild path: all or nothing). Returns the count.
    pub fn replace_backups_from(
        &mut self,
        manifests: impl IntoIterator<Item = (Manifest, PathBuf, BackupStatus)>,
    ) -> Result<usize> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM backups", [])?;
        let mut n = 0;
        for (m, path, status) in manifests {
            let b = BackupRecord::from_manifest(&m, &path, status);
            insert(&tx, &b, Some(&manifest_to_json(&m)?))?;
            n += 1;
        }
        tx.commit()?;
        Ok(n)
    }

    /// Set the status of the still-running backup rows a job created
    /// (used when the job is found dead or is cancelled). Returns the count.
    pub fn mark_backups_of_job(&self, job_id: i64, status: BackupStatus) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE backups SET status = ?2 WHERE job_id = ?1 AND status = 'running'",
            params![job_id, status.as_str()],
        )?)
    }
}

fn expect_row(n: usize, id: &str) -> Result<()> {
    if n == 0 {
        return Err(Error::not_found(format!("backup {id} is not in the catalog"))
            .hint("run `lifeboat list` to see catalogued backups, or `lifeboat catalog rebuild` if the catalog is stale"));
    }
    Ok(())
}
