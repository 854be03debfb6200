//! The hash-chained audit log.
//!
//! Every row carries the hash of the row before it, so changing, deleting
//! or reordering a row breaks the chain where it happened. The same records
//! are kept in two places — the catalog's `audit` table and a JSON-lines
//! file in the repository — and [`verify_chain`] checks either.
//!
//! The hash of a record is the hex SHA-256 of
//! `prev_hash + "\n" + canonical JSON`, where the canonical JSON is the
//! compact object `{"seq","ts","actor","action","target","outcome","detail"}`
//! in that order (serde_json escaping), and `ts` is RFC 3339 UTC with
//! microseconds and `Z` (`2026-11-26T02:00:00.000000Z`). That is also how
//! `ts` is written in the JSON lines, so a record can be re-hashed by any
//! tool from its own line. The first record's `prev_hash` is 64 zeros.
//!
//! What a chain cannot show: rows cut off the *end*. Deleting the newest
//! rows leaves a shorter chain that is still valid; comparing the catalog
//! against the repository copy (and the row count against expectations) is
//! the defence there.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Catalog;
use crate::error::{Error, Result};

/// `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, before it is given a place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Stored (and hashed) with microsecond precision.
    #[serde(with = "ts_micros")]
    pub ts: DateTime<Utc>,
    /// `user@host`, or the API token's name.
    pub actor: String,
    pub action: String,
    pub target: String,
    /// e.g. "ok", "failed", "refused".
    pub outcome: String,
    pub detail: String,
}

impl AuditEntry {
    /// An entry stamped now by [`current_actor`].
    pub fn now(action: &str, target: &str, outcome: &str, detail: &str) -> AuditEntry {
        AuditEntry {
            ts: Utc::now(),
            actor: current_actor(),
            action: action.to_string(),
            target: target.to_string(),
            outcome: outcome.to_string(),
            detail: detail.to_string(),
        }
    }
}

/// One link of the chain; serializes to a single-line JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: i64,
    #[serde(flatten)]
    pub entry: AuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRecord {
    /// Give `entry` place `seq` after the record hashed `prev_hash`.
    pub fn chain(seq: i64, mut entry: AuditEntry, prev_hash: &str) -> AuditRecord {
        entry.ts = entry.ts.trunc_subsecs(6);
        let hash = record_hash(seq, &entry, prev_hash);
        AuditRecord {
            seq,
            entry,
            prev_hash: prev_hash.to_string(),
            hash,
        }
    }

    /// The hash this record's contents call for.
    pub fn expected_hash(&self) -> String {
        record_hash(self.seq, &self.entry, &self.prev_hash)
    }

    /// One JSON line, without the newline.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("audit record serializes")
    }
}

#[derive(Serialize)]
struct HashInput<'a> {
    seq: i64,
    ts: String,
    actor: &'a str,
    action: &'a str,
    target: &'a str,
    outcome: &'a str,
    detail: &'a str,
}

fn record_hash(seq: i64, e: &AuditEntry, prev_hash: &str) -> String {
    let canonical = serde_json::to_string(&HashInput {
        seq,
        ts: format_ts(&e.ts),
        actor: &e.actor,
        action: &e.action,
        target: &e.target,
        outcome: &e.outcome,
        detail: &e.detail,
    })
    .expect("audit fields serialize");
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(canonical.as_bytes());
    hex::encode(h.finalize())
}

fn format_ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

mod ts_micros {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_ts(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// Result of checking a chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCheck {
    /// Records (or lines) examined.
    pub rows: u64,
    pub ok: bool,
    /// One sentence per break, naming the row.
    pub problems: Vec<String>,
}

/// Checks records one at a time, in chain order, in constant memory.
#[derive(Default)]
struct ChainVerifier {
    rows: u64,
    /// (seq, stored hash) of the last record seen.
    last: Option<(i64, String)>,
    problems: Vec<String>,
}

impl ChainVerifier {
    fn push(&mut self, r: &AuditRecord) {
        self.rows += 1;
        let seq = r.seq;
        if r.expected_hash() != r.hash {
            self.problems.push(format!(
                "row {seq} was changed (its hash does not match its contents)"
            ));
        }
        let (expected_seq, expected_prev) = match &self.last {
            None => (1, GENESIS_HASH.to_string()),
            Some((s, h)) => (s + 1, h.clone()),
        };
        if seq < expected_seq {
            let after = expected_seq - 1;
            self.problems.push(format!(
                "row {seq} is out of order (it comes after row {after}); the chain was reordered or a row duplicated"
            ));
        } else if seq > expected_seq {
            // A gap in seq: rows were deleted. The prev_hash mismatch that
            // follows is the same break, so it is not reported twice.
            if seq - expected_seq == 1 {
                self.problems
                    .push(format!("row {expected_seq} is missing (deleted)"));
            } else {
                self.problems.push(format!(
                    "rows {expected_seq} to {} are missing (deleted)",
                    seq - 1
                ));
            }
        } else if r.prev_hash != expected_prev {
            let what = if seq == 1 {
                "row 1 does not start the chain (earlier rows were removed or it was replaced)"
                    .to_string()
            } else {
                format!(
                    "row {seq} does not follow row {} (a row was deleted, replaced or reordered here)",
                    seq - 1
                )
            };
            self.problems.push(what);
        }
        self.last = Some((seq, r.hash.clone()));
    }

    fn problem(&mut self, p: String) {
        self.rows += 1;
        self.problems.push(p);
    }

    fn finish(self) -> AuditCheck {
        AuditCheck {
            rows: self.rows,
            ok: self.problems.is_empty(),
            problems: self.problems,
        }
    }
}

/// Check a chain given in order (by seq, or file order for the JSONL copy).
pub fn verify_chain(records: impl IntoIterator<Item = AuditRecord>) -> AuditCheck {
    let mut v = ChainVerifier::default();
    for r in records {
        v.push(&r);
    }
    v.finish()
}

/// Check the repository's JSON-lines copy, streaming. Blank lines are
/// skipped; a line that does not parse is a problem, not an error.
pub fn verify_jsonl(path: &Path) -> Result<AuditCheck> {
    let file = File::open(path).map_err(|e| Error::io("open audit log", path, e))?;
    let mut reader = BufReader::new(file);
    let mut v = ChainVerifier::default();
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io("read audit log", path, e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match serde_json::from_slice::<AuditRecord>(&buf) {
            Ok(r) => v.push(&r),
            Err(e) => v.problem(format!("line {line_no} is not valid: {e}")),
        }
    }
    Ok(v.finish())
}

/// `user@host` of this process: the effective user's name from the
/// password database (falling back to `$USER`), and the kernel's hostname.
pub fn current_actor() -> String {
    format!("{}@{}", current_user(), current_host())
}

fn current_user() -> String {
    // The password database over $USER: an audit log should not take the
    // environment's word for who is acting.
    let uid = unsafe { libc::geteuid() };
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the call; buf outlives the read of pw_name.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc == 0 && !result.is_null() && !pwd.pw_name.is_null() {
        // SAFETY: pw_name points into buf, NUL-terminated by getpwuid_r.
        let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
        if let Ok(s) = name.to_str() {
            if !s.is_empty() {
                return s.to_string();
            }
        }
    }
    match std::env::var("USER") {
        Ok(u) if !u.is_empty() => u,
        _ => format!("uid{uid}"),
    }
}

fn current_host() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for its length; gethostname NUL-terminates
    // when the name fits, and we stop at the first NUL or the end.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return "unknown-host".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let host = String::from_utf8_lossy(&buf[..end]).into_owned();
    if host.is_empty() {
        "unknown-host".to_string()
    } else {
        host
    }
}

fn record_from_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<std::result::Result<AuditRecord, String>> {
    let seq: i64 = r.get(0)?;
    let ts: String = r.get(1)?;
    let ts = match DateTime::parse_from_rfc3339(&ts) {
        Ok(t) => t.with_timezone(&Utc),
        Err(e) => {
            return Ok(Err(format!(
                "row {seq} is not valid: bad timestamp '{ts}': {e}"
            )))
        }
    };
    Ok(Ok(AuditRecord {
        seq,
        entry: AuditEntry {
            ts,
            actor: r.get(2)?,
            action: r.get(3)?,
            target: r.get(4)?,
            outcome: r.get(5)?,
            detail: r.get(6)?,
        },
        prev_hash: r.get(7)?,
        hash: r.get(8)?,
    }))
}

const AUDIT_COLUMNS: &str = "seq, ts, actor, action, target, outcome, detail, prev_hash, hash";

/// Store one record exactly as given (`verb` is `INSERT` or `INSERT OR IGNORE`).
fn insert_record(conn: &rusqlite::Connection, rec: &AuditRecord, verb: &str) -> Result<()> {
    let e = &rec.entry;
    conn.execute(
        &format!("{verb} INTO audit ({AUDIT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![
            rec.seq,
            format_ts(&e.ts),
            e.actor,
            e.action,
            e.target,
            e.outcome,
            e.detail,
            rec.prev_hash,
            rec.hash
        ],
    )?;
    Ok(())
}

impl Catalog {
    /// Append an entry to the chain. The write lock is taken before the
    /// chain head is read, so concurrent writers cannot fork the chain.
    pub fn append_audit(&self, entry: &AuditEntry) -> Result<AuditRecord> {
        self.immediate(|conn| {
            let head: Option<(i64, String)> = super::query_opt(
                conn,
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let (seq, prev) = match head {
                Some((s, h)) => (s + 1, h),
                None => (1, GENESIS_HASH.to_string()),
            };
            let rec = AuditRecord::chain(seq, entry.clone(), &prev);
            insert_record(conn, &rec, "INSERT")?;
            Ok(rec)
        })
    }

    /// Bring this catalog's audit chain up to the repository's copy when the
    /// repository is ahead: another catalog over the same repository (a
    /// rebuilt one, a second host's) appended rows since. Without this the
    /// two would append clashing sequence numbers to the shared log, which
    /// then reads as tampered forever. Called under the log's lock, before
    /// appending. Reads only the log's tail unless rows are missing.
    pub fn catch_up_audit(&self, path: &Path) -> Result<u64> {
        let Some(last) = last_jsonl_record(path) else {
            return Ok(0);
        };
        let head: i64 =
            self.conn
                .query_row("SELECT COALESCE(MAX(seq), 0) FROM audit", [], |r| r.get(0))?;
        if last.seq <= head {
            return Ok(0);
        }
        let file = File::open(path).map_err(|e| Error::io("open audit log", path, e))?;
        self.immediate(|conn| {
            let mut n = 0;
            for line in BufReader::new(file).lines() {
                let line = line.map_err(|e| Error::io("read audit log", path, e))?;
                match serde_json::from_str::<AuditRecord>(&line) {
                    Ok(rec) if rec.seq > head => {
                        insert_record(conn, &rec, "INSERT OR IGNORE")?;
                        n += 1;
                    }
                    _ => {}
                }
            }
            Ok(n)
        })
    }

    /// Load the repository's copy of the audit log into an empty catalog
    /// audit table (after a rebuild), keeping every record exactly as it
    /// was, so the chain continues where it left off. Returns rows loaded;
    /// lines that do not parse are skipped here and reported by `verify`.
    pub fn import_audit_jsonl(&self, path: &Path) -> Result<u64> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::io("open audit log", path, e)),
        };
        self.immediate(|conn| {
            let existing: i64 = conn.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))?;
            if existing > 0 {
                return Ok(0);
            }
            let mut n = 0;
            for line in BufReader::new(file).lines() {
                let line = line.map_err(|e| Error::io("read audit log", path, e))?;
                let Ok(rec) = serde_json::from_str::<AuditRecord>(&line) else {
                    continue;
                };
                insert_record(conn, &rec, "INSERT OR IGNORE")?;
                n += 1;
            }
            Ok(n)
        })
    }

    /// Audit records, newest first.
    pub fn list_audit(&self, limit: usize, offset: usize) -> Result<Vec<AuditRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit ORDER BY seq DESC LIMIT ?1 OFFSET ?2"
        ))?;
        let rows = stmt.query_map(
            params![
                i64::try_from(limit).unwrap_or(i64::MAX),
                i64::try_from(offset).unwrap_or(i64::MAX)
            ],
            record_from_row,
        )?;
        let mut out = Vec::new();
        for r in rows {
            match r? {
                Ok(rec) => out.push(rec),
                Err(msg) => {
                    return Err(Error::integrity(format!(
                        "audit log in catalog {}: {msg}",
                        self.path.display()
                    ))
                    .hint("run `lifeboat audit verify` to check the whole chain"))
                }
            }
        }
        Ok(out)
    }

    /// Check the catalog's chain, oldest row first, streaming.
    pub fn verify_audit(&self) -> Result<AuditCheck> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {AUDIT_COLUMNS} FROM audit ORDER BY seq"))?;
        let rows = stmt.query_map([], record_from_row)?;
        let mut v = ChainVerifier::default();
        for r in rows {
            match r? {
                Ok(rec) => v.push(&rec),
                Err(msg) => v.problem(msg),
            }
        }
        Ok(v.finish())
    }
}

/// The last parseable record of a JSON-lines audit log, reading only its
/// tail (the log grows without bound; this runs before every append).
fn last_jsonl_record(path: &Path) -> Option<AuditRecord> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let start = len.saturating_sub(64 * 1024);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).ok()?;
    tail.split(|&b| b == b'\n')
        .rev()
        .find_map(|l| serde_json::from_slice::<AuditRecord>(l).ok())
}
