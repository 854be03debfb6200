//! PostgreSQL backups and restores.
//!
//! `pg_dump` writes to a pipe that flows straight into the sealing pipeline
//! (zstd on two cores, encryption, SHA-256): no plaintext temp file, bounded
//! memory, and pg_dump's own compression off (`-Z0`) because it is the
//! bottleneck. Row counts are taken in a transaction whose snapshot the dump
//! imports (`--snapshot`), so the manifest's counts describe exactly the
//! dump. Restores go to a new database by default; in place means "restore
//! beside it, check, then swap names", so the old database is kept and the
//! swap can be undone.

mod dump;
mod parallel;
mod restore;
mod spool;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::archive::crypto::{self, DataKey};
use crate::archive::manifest::{BackupKind, BackupType, Manifest};
use crate::archive::pipeline::{self, Sealer};
use crate::config::DumpFormat;
use crate::error::{Error, ErrorKind, Result};
use crate::ops::integrity::check_integrity;
use crate::ops::jobs::{check_cancel, run_job, AuditAs, Job, JobEnd};
use crate::ops::select::{self, Artifact, Selector};
use crate::ops::{backup, Engine, Progress};
use crate::sources::database::{self as pgsrc, ConnInfo, PassFile, Pg, TableStat};

pub use dump::{backup_all, db_artifact_name};
pub use restore::{restore, undo, verify_deep, DbRestoreReport, DbRestoreRequest, DbVerify};

/// How long to wait for the server before saying it is unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Database facts recorded in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatabaseFacts {
    pub database: String,
    pub host: String,
    pub port: u16,
    pub format: String,
    pub server_version: String,
    pub server_version_num: u32,
    pub pg_dump_version: String,
    /// pg_database_size when the dump started.
    pub size: u64,
    /// Exact row counts and sizes, from the dump's own snapshot.
    pub tables: Vec<TableStat>,
    /// Set when large tables were read in ranges beside pg_dump: the
    /// payload is then a tar of pg_dump's archive and COPY ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<parallel::ParallelFacts>,
    /// Owner, encoding, locale, privileges, comment and settings of the
    /// database itself, which a restore gives the new database. Absent in
    /// older backups: those restore with the server's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<pgsrc::DatabaseProps>,
    /// The server's roles (attributes, memberships, settings; password
    /// hashes only sealed) and the tablespaces the database uses, which a
    /// restore creates or checks first. Absent in older backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub globals: Option<pgsrc::Globals>,
    /// Digests of the rows of every table, sequence positions and large
    /// objects, which a deep verification (and a drill) recomputes on the
    /// restored database. Absent in older backups: row counts only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<pgsrc::ContentFacts>,
}

/// The configured server, without a database chosen yet.
pub fn server(engine: &Engine) -> Result<ConnInfo> {
    server_of(&engine.config)
}

/// [`server`] from the configuration alone.
pub fn server_of(config: &crate::config::Config) -> Result<ConnInfo> {
    let url = config.sources.database.url.as_deref().ok_or_else(|| {
        Error::usage("no database is configured")
            .hint("set [sources.database] url (e.g. postgres://panel@127.0.0.1:5432/panel) or LIFEBOAT_DATABASE_URL")
    })?;
    ConnInfo::parse(url)
}

/// The databases a `backup --type database` dumps.
pub fn configured_databases(config: &crate::config::Config) -> Result<Vec<String>> {
    let info = server_of(config)?;
    let dbs = &config.sources.database.databases;
    Ok(if dbs.is_empty() {
        vec![info.dbname.clone()]
    } else {
        dbs.clone()
    })
}

/// Read a child's stderr on a thread, keeping at most 64 KiB (pg_dump's
/// errors are short; a flood of warnings must not grow memory).
fn drain_stderr(child: &mut Child) -> std::thread::JoinHandle<String> {
    let mut err = child.stderr.take().expect("stderr piped");
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            let room = (64 * 1024usize).saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        String::from_utf8_lossy(&kept).trim().to_string()
    })
}

fn spawn(
    tool: &pgsrc::Tool,
    args: &[String],
    info: &ConnInfo,
    passfile: Option<&PassFile>,
    stdin: Stdio,
    stdout: Stdio,
) -> Result<Child> {
    let mut cmd = Command::new(&tool.path);
    cmd.args(args)
        .env_remove("PGPASSWORD")
        .envs(info.libpq_env(passfile))
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped());
    cmd.spawn().map_err(|e| {
        Error::external(format!("cannot start {}: {e}", tool.path.display()))
            .hint("install the PostgreSQL client tools or put them on PATH")
    })
}

/// A restore tool's exit into `target`: on failure, its own stderr is the
/// message.
fn check_tool_exit(
    tool: &pgsrc::Tool,
    target: &ConnInfo,
    status: std::process::ExitStatus,
    err: &str,
) -> Result<()> {
    if status.success() {
        return Ok(());
    }
    Err(Error::external(format!(
        "{} into {} failed: {}",
        tool.path.file_name().unwrap_or_default().to_string_lossy(),
        target.describe(),
        if err.is_empty() { "(no message)" } else { err }
    )))
}

/// The facts a database artifact's manifest carries.
pub fn facts(a: &Artifact) -> Result<DatabaseFacts> {
    let v = a.manifest.database.clone().ok_or_else(|| {
        Error::integrity(format!(
            "backup {} is a database backup without database facts in its manifest",
            a.manifest.id
        ))
    })?;
    serde_json::from_value(v).map_err(|e| {
        Error::integrity(format!(
            "database facts of backup {} are not readable: {e}",
            a.manifest.id
        ))
    })
}

/// True when the configured server has a database with this name.
pub fn database_exists(engine: &Engine, name: &str) -> Result<bool> {
    let info = server(engine)?;
    let pg = Pg::connect(&info.with_db("postgres"), CONNECT_TIMEOUT)?;
    pg.database_exists(name)
}
