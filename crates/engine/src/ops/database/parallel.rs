//! Parallel dumps and restores of large tables.
//!
//! pg_dump reads a table through one session, and on a small machine that
//! one server backend is the bottleneck of the whole backup. So for a
//! custom-format dump of a server that has TID range scans (PostgreSQL 14+),
//! lifeboat splits every table of at least `split_table_mb` into page ranges
//! and reads them with `jobs` sessions of its own, all importing the
//! snapshot pg_dump dumps (`--snapshot`), so the result is one consistent
//! point in time. pg_dump still writes the schema and every other table
//! (`--exclude-table-data` for the split ones).
//!
//! The payload is then a tar stream (docs/FORMAT.md, "Parallel database
//! payload"): first pg_dump's archive in 1 MiB members `pg_dump/NNNNNN`,
//! then per range a header `data/NNNNNN.json`, its COPY text in members
//! `data/NNNNNN/SSSSSS` and an end `data/NNNNNN.done` with the row count.
//! Ranges interleave, at most `workers` open at once. A restore feeds the
//! pg_dump part to `pg_restore --section=pre-data --section=data`, loads the
//! ranges through as many sessions at once, then reads the pg_dump part again
//! for `--section=post-data` (indexes and constraints after the data, as
//! pg_restore orders them).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use crossbeam_channel as chan;

use super::spool::{open_plain, TempDump};
use super::*;
use crate::sources::database::{quote_ident, quote_qualified, SplitTable};

/// `DatabaseFacts::parallel.layout` of the payload described above.
pub const LAYOUT: &str = "lifeboat-parallel-tar-1";
/// Size of the members pieces of pg_dump output and COPY text go into.
const FRAME: usize = 1 << 20;
/// Ranges are never smaller than this (1 MiB of heap)...
const MIN_RANGE_PAGES: u64 = 128;
/// ...and aim at this (128 MiB), so a big table keeps every session busy.
const TARGET_RANGE_PAGES: u64 = 16384;
/// A member larger than this is not one lifeboat wrote.
const MAX_MEMBER: u64 = 64 << 20;

/// What the manifest records about a parallel payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParallelFacts {
    pub layout: String,
    /// Sessions that read ranges at once; a restore loads with as many.
    pub workers: u32,
    pub tables: Vec<SplitFacts>,
}

/// One table read in ranges.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SplitFacts {
    pub schema: String,
    pub name: String,
    pub ranges: u32,
    pub rows: u64,
    /// `pg_total_relation_size` once the table was locked.
    #[serde(default)]
    pub bytes: u64,
    /// [`pgsrc::RowDigest`] of the table's rows, summed over its ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// `data/NNNNNN.json`: where a range's rows go.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RangeHeader {
    pub schema: String,
    pub table: String,
    pub columns: Vec<String>,
    pub first_page: u64,
    /// Exclusive; `None` reads to the end of the table.
    pub end_page: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RangeDone {
    rows: u64,
}

#[derive(Debug, Clone)]
struct Range {
    stream: u32,
    header: RangeHeader,
    /// The table's filenode when the snapshot was taken.
    filenode: i64,
}

/// Split each table into ranges: at least one per worker when the table is
/// big enough, about [`TARGET_RANGE_PAGES`] each. The last range of a table
/// is open-ended, so rows in pages added after the size was read (not
/// visible in the snapshot anyway) cannot be missed.
fn plan(tables: &[SplitTable], workers: u32) -> Vec<Range> {
    let mut out = Vec::new();
    for t in tables {
        let by_size = t.pages.div_ceil(TARGET_RANGE_PAGES);
        let most = (t.pages / MIN_RANGE_PAGES).max(1);
        let n = by_size.max(workers as u64).min(most).max(1);
        let step = t.pages.div_ceil(n).max(1);
        for i in 0..n {
            let first = i * step;
            let end = if i + 1 == n {
                None
            } else {
                Some((i + 1) * step)
            };
            out.push(Range {
                filenode: t.filenode,
                stream: out.len() as u32 + 1,
                header: RangeHeader {
                    schema: t.schema.clone(),
                    table: t.name.clone(),
                    columns: t.columns.clone(),
                    first_page: first,
                    end_page: end,
                },
            });
        }
    }
    out
}

/// `--exclude-table-data` pattern naming exactly this table (double quotes
/// make every character literal in pg_dump's patterns).
pub fn exclude_pattern(t: &SplitTable) -> String {
    format!(
        "--exclude-table-data={}",
        quote_qualified(&t.schema, &t.name)
    )
}

/// True when this dump can read tables in ranges: custom format, more than
/// one job, TID range scans (14+) and an encoding COPY text passes through
/// unchanged (UTF8 or SQL_ASCII, as lifeboat's sessions talk UTF8).
pub fn usable(format: DumpFormat, jobs: u32, server_num: u32, encoding: &str) -> bool {
    format == DumpFormat::Custom
        && jobs > 1
        && server_num >= 140000
        && matches!(encoding, "UTF8" | "SQL_ASCII")
}

/// Settings both sides of a range share, whatever the database or the role
/// sets by default (`ALTER DATABASE/ROLE ... SET`): COPY text in UTF8 (the
/// bytes as stored, for a SQL_ASCII database, which the server would
/// otherwise have to check as UTF8 and refuse) with ISO dates, postgres intervals and floats that read back bit for bit, and
/// an empty `search_path`, so `regclass`, `regtype`, `regproc` and the like
/// are written schema-qualified and read back as the same object, and
/// times with a time zone in UTC, so the text (and the content digests
/// taken of it) is the same whatever the server's default zone. Nothing
/// waits on a timeout the operator set for the application.
pub(super) fn common_session(server_num: u32) -> String {
    let mut s = String::from(
        "SELECT pg_catalog.set_config('client_encoding', \
             CASE pg_catalog.current_setting('server_encoding') \
             WHEN 'SQL_ASCII' THEN 'SQL_ASCII' ELSE 'UTF8' END, false); \
         SELECT pg_catalog.set_config('search_path', '', false); \
         SET DateStyle = ISO; SET IntervalStyle = postgres; SET extra_float_digits = 3; \
         SET TimeZone = 'UTC'; \
         SET standard_conforming_strings = on; SET quote_all_identifiers = off; \
         SET row_security = off; \
         SET statement_timeout = 0; SET lock_timeout = 0; \
         SET idle_in_transaction_session_timeout = 0;",
    );
    if server_num >= 170000 {
        s.push_str(" SET transaction_timeout = 0;");
    }
    s
}

/// A range reader's session: what pg_dump's `setup_connection` (and its
/// secure `search_path`) sets on each of its own sessions.
fn dump_session(server_num: u32) -> String {
    format!(
        "{} SET synchronize_seqscans = off;",
        common_session(server_num)
    )
}

/// Then the transaction pg_dump -j workers open, importing the dump's
/// snapshot. Its own round trip: the `SELECT set_config` above would start
/// the transaction if sent in one string, and a snapshot can only be
/// imported before a transaction's first query.
fn join_snapshot(snapshot: &str) -> String {
    format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{}';",
        snapshot.replace('\'', "''")
    )
}

/// A range loader's session: what pg_restore sets before it loads data
/// (`_doSetFixedOutputState`), plus the dump side's date, interval and
/// float styles, so the text reads back under the rules it was written by.
fn load_session(server_num: u32) -> String {
    format!(
        "{} SET check_function_bodies = false; SET xmloption = content; \
         SET client_min_messages = warning;",
        common_session(server_num)
    )
}

/// Writes bytes as a run of tar members `<prefix>NNNNNN` of [`FRAME`] bytes.
pub struct FrameWriter<W: Write> {
    tar: tar::Builder<W>,
    prefix: String,
    buf: Vec<u8>,
    seq: u32,
}

impl<W: Write> FrameWriter<W> {
    pub fn new(out: W, prefix: &str) -> Self {
        FrameWriter {
            tar: tar::Builder::new(out),
            prefix: prefix.to_string(),
            buf: Vec::with_capacity(FRAME),
            seq: 0,
        }
    }

    fn emit(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let name = format!("{}{:06}", self.prefix, self.seq);
        append(&mut self.tar, &name, &self.buf)?;
        self.seq += 1;
        self.buf.clear();
        Ok(())
    }

    /// Write what is buffered; the tar stream goes on.
    pub fn finish(mut self) -> std::io::Result<tar::Builder<W>> {
        self.emit()?;
        Ok(self.tar)
    }
}

impl<W: Write> Write for FrameWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(FRAME - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= FRAME {
            self.emit()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn append<W: Write>(tar: &mut tar::Builder<W>, name: &str, data: &[u8]) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(0o600);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, name, data)
}

/// Per (schema, table) numbers the workers collect.
type Counts = Mutex<HashMap<(String, String), u64>>;
type Digests = Mutex<HashMap<(String, String), pgsrc::RowDigest>>;

/// A member a range worker hands to the writer.
type Member = (String, Vec<u8>);

/// Read every range of `tables` through `workers` sessions that import
/// `snapshot`, appending members to `tar` on this thread. Returns the rows
/// per table. `done` counts COPY bytes, for progress.
#[allow(clippy::too_many_arguments)]
pub fn dump_ranges<W: Write>(
    info: &ConnInfo,
    snapshot: &str,
    tables: &[SplitTable],
    workers: u32,
    tar: &mut tar::Builder<W>,
    job: &Job,
    cancel: &AtomicBool,
    done: &mut u64,
) -> Result<ParallelFacts> {
    let ranges = plan(tables, workers);
    let queue = Mutex::new(ranges.iter().cloned().collect::<VecDeque<Range>>());
    let stop = AtomicBool::new(false);
    let rows: Mutex<HashMap<(String, String), u64>> = Mutex::new(HashMap::new());
    let sizes: Mutex<HashMap<(String, String), u64>> = Mutex::new(HashMap::new());
    let digests: Digests = Mutex::new(HashMap::new());
    let (tx, rx) = chan::bounded::<Member>(2 * workers as usize);
    let written = std::thread::scope(|scope| -> Result<()> {
        let mut handles = Vec::new();
        for _ in 0..workers.min(ranges.len() as u32).max(1) {
            let tx = tx.clone();
            let (queue, stop, rows, sizes, digests) = (&queue, &stop, &rows, &sizes, &digests);
            handles.push(scope.spawn(move || {
                let r = range_worker(
                    info,
                    snapshot,
                    queue,
                    stop,
                    cancel,
                    (rows, sizes, digests),
                    &tx,
                );
                if r.is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
                r
            }));
        }
        drop(tx);
        let mut write = || -> Result<()> {
            for (name, data) in rx.iter() {
                append(tar, &name, &data).map_err(|e| {
                    Error::new(
                        ErrorKind::Io,
                        format!("cannot write the dump into the repository: {e}"),
                    )
                })?;
                if !name.ends_with(".json") && !name.ends_with(".done") {
                    *done += data.len() as u64;
                    job.advance(*done, 0);
                }
            }
            Ok(())
        };
        let wrote = write();
        if wrote.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        drop(rx);
        // The first real error wins over the "stopped" of the others.
        let mut first: Option<Error> = None;
        for h in handles {
            let r = h
                .join()
                .unwrap_or_else(|_| Err(Error::external("a dump worker panicked")));
            if let Err(e) = r {
                if first.is_none()
                    || first
                        .as_ref()
                        .is_some_and(|f| f.kind == ErrorKind::Cancelled)
                {
                    first = Some(e);
                }
            }
        }
        wrote?;
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    });
    written?;
    check_cancel(cancel)?;
    let rows = rows.into_inner().unwrap_or_default();
    let sizes = sizes.into_inner().unwrap_or_default();
    let digests = digests.into_inner().unwrap_or_default();
    Ok(ParallelFacts {
        layout: LAYOUT.to_string(),
        workers,
        tables: tables
            .iter()
            .map(|t| SplitFacts {
                schema: t.schema.clone(),
                name: t.name.clone(),
                ranges: ranges
                    .iter()
                    .filter(|r| r.header.schema == t.schema && r.header.table == t.name)
                    .count() as u32,
                rows: rows
                    .get(&(t.schema.clone(), t.name.clone()))
                    .copied()
                    .unwrap_or(0),
                bytes: sizes
                    .get(&(t.schema.clone(), t.name.clone()))
                    .copied()
                    .unwrap_or(0),
                digest: Some(
                    digests
                        .get(&(t.schema.clone(), t.name.clone()))
                        .cloned()
                        .unwrap_or_default()
                        .hex(),
                ),
            })
            .collect(),
    })
}

fn stopped(stop: &AtomicBool, cancel: &AtomicBool) -> Result<()> {
    check_cancel(cancel)?;
    if stop.load(Ordering::Relaxed) {
        return Err(Error::new(
            ErrorKind::Cancelled,
            "stopped: another part of the dump failed",
        ));
    }
    Ok(())
}

fn range_worker(
    info: &ConnInfo,
    snapshot: &str,
    queue: &Mutex<VecDeque<Range>>,
    stop: &AtomicBool,
    cancel: &AtomicBool,
    (rows, sizes, digests): (&Counts, &Counts, &Digests),
    tx: &chan::Sender<Member>,
) -> Result<()> {
    let pg = Pg::connect(info, CONNECT_TIMEOUT)?;
    let version = pg.server_version()?;
    pg.execute(&dump_session(version.num))?;
    pg.execute(&join_snapshot(snapshot)).map_err(|e| {
        Error::new(
            e.kind,
            format!("cannot join the dump's snapshot: {}", e.message),
        )
    })?;
    let gone = || Error::new(ErrorKind::Cancelled, "stopped: the dump's writer ended");
    loop {
        stopped(stop, cancel)?;
        let Some(range) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front() else {
            return Ok(());
        };
        let h = &range.header;
        let table = quote_qualified(&h.schema, &h.table);
        // Held until this session ends. NOWAIT: a session that waits for
        // an exclusive lock (a migration) would otherwise queue us behind
        // it for as long as it runs; pg_dump -j workers do the same.
        pg.execute(&format!("LOCK TABLE {table} IN ACCESS SHARE MODE NOWAIT"))
            .map_err(|e| {
                Error::external(format!(
                    "cannot read table {}.{}: it is locked by another session ({})",
                    h.schema, h.table, e.message
                ))
                .hint("run the backup again when the schema change or maintenance on that table is done, or set [sources.database] jobs = 1 to let pg_dump wait for it")
            })?;
        // TRUNCATE, VACUUM FULL, CLUSTER and rewriting ALTERs are not MVCC
        // safe: after one, the snapshot would see the new (e.g. empty)
        // table. They change the filenode; refuse rather than lose rows.
        let now = pg.query_one_i64(&format!(
            "SELECT pg_relation_filenode('{}'::regclass)::int8",
            table.replace('\'', "''")
        ))?;
        if now != range.filenode {
            return Err(Error::external(format!(
                "table {}.{} was truncated or rewritten (TRUNCATE, VACUUM FULL, CLUSTER or ALTER TABLE) while the backup ran",
                h.schema, h.table
            ))
            .hint("nothing was kept; run the backup again"));
        }
        if h.first_page == 0 {
            let bytes = pg.query_one_i64(&format!(
                "SELECT pg_total_relation_size('{}'::regclass)",
                table.replace('\'', "''")
            ))?;
            sizes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert((h.schema.clone(), h.table.clone()), bytes.max(0) as u64);
        }
        let name = format!("data/{:06}", range.stream);
        let header = serde_json::to_vec(h).expect("serializes");
        tx.send((format!("{name}.json"), header))
            .map_err(|_| gone())?;
        let cols: Vec<String> = h.columns.iter().map(|c| quote_ident(c)).collect();
        let mut sql = format!(
            "COPY (SELECT {} FROM ONLY {table} WHERE ctid >= '({},0)'::tid",
            cols.join(", "),
            h.first_page
        );
        if let Some(end) = h.end_page {
            sql.push_str(&format!(" AND ctid < '({end},0)'::tid"));
        }
        sql.push_str(") TO STDOUT");
        let mut frame: Vec<u8> = Vec::with_capacity(FRAME);
        let mut seq = 0u32;
        let mut count = 0u64;
        let mut digest = pgsrc::RowDigest::default();
        pg.copy_out(
            &format!("copy rows of {}.{}", h.schema, h.table),
            &sql,
            |piece| {
                // COPY text escapes newlines inside values: one per row.
                count += memchr::memchr_iter(b'\n', piece).count() as u64;
                digest.update(piece);
                frame.extend_from_slice(piece);
                if frame.len() >= FRAME {
                    stopped(stop, cancel)?;
                    let full = std::mem::replace(&mut frame, Vec::with_capacity(FRAME));
                    tx.send((format!("{name}/{seq:06}"), full))
                        .map_err(|_| gone())?;
                    seq += 1;
                }
                Ok(())
            },
        )?;
        if !frame.is_empty() {
            tx.send((format!("{name}/{seq:06}"), frame))
                .map_err(|_| gone())?;
        }
        let end = serde_json::to_vec(&RangeDone { rows: count }).expect("serializes");
        tx.send((format!("{name}.done"), end)).map_err(|_| gone())?;
        *rows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((h.schema.clone(), h.table.clone()))
            .or_default() += count;
        digests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((h.schema.clone(), h.table.clone()))
            .or_default()
            .merge(&digest);
    }
}

// ------------------------------------------------------------------ restore

fn member_name<R: Read>(e: &tar::Entry<'_, R>) -> String {
    String::from_utf8_lossy(&e.path_bytes()).into_owned()
}

fn bad_member(artifact: &Artifact, what: &str) -> Error {
    Error::integrity(format!(
        "backup {} has a malformed parallel database payload: {what}",
        artifact.manifest.id
    ))
    .hint("this backup cannot be restored by this version of lifeboat; use another one (`lifeboat list --type database`)")
}

fn tar_err(artifact: &Artifact, e: std::io::Error) -> Error {
    artifact.payload_read_error(e)
}

/// Copy the `pg_dump/*` members at the start of the payload into `out`,
/// stopping at the first other member. A closed `out` stops early too (the
/// tool that reads it ended; its exit status says why).
pub fn feed_pg_dump(artifact: &Artifact, dk: Option<&DataKey>, out: &mut dyn Write) -> Result<()> {
    let plain = open_plain(artifact, dk)?;
    let mut ar = tar::Archive::new(plain);
    for entry in ar.entries().map_err(|e| tar_err(artifact, e))? {
        let mut e = entry.map_err(|e| tar_err(artifact, e))?;
        if !member_name(&e).starts_with("pg_dump/") {
            break;
        }
        crate::sources::tar_member::checked_size(&e)
            .map_err(|why| bad_member(artifact, &format!("member {}: {why}", member_name(&e))))?;
        if std::io::copy(&mut e, out).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// What a range loader is told.
enum Load {
    Open(RangeHeader, u32),
    Data(bytes::Bytes),
    Close(u64),
}

/// Restore a parallel payload into `target`; returns the rows loaded per
/// split table (the server's own COPY counts). Two passes, as pg_restore
/// does with a directory dump: the schema and the data, then the indexes
/// and constraints.
#[allow(clippy::too_many_arguments)]
pub fn restore(
    artifact: &Artifact,
    dk: Option<&DataKey>,
    pf: &ParallelFacts,
    tool: &pgsrc::Tool,
    target: &ConnInfo,
    passfile: Option<&PassFile>,
    base_args: &[String],
    role: Option<&str>,
    job: &Job,
    cancel: &AtomicBool,
) -> Result<HashMap<(String, String), u64>> {
    if pf.layout != LAYOUT {
        return Err(bad_member(
            artifact,
            &format!("unknown layout {:?}", pf.layout),
        ));
    }
    let workers = pf.workers.clamp(1, 64) as usize;
    let pg_restore = PgRestore {
        tool,
        target,
        passfile,
        base_args,
    };
    let rows = load_data(artifact, dk, pf, &pg_restore, workers, role, job, cancel)?;
    check_cancel(cancel)?;
    job.phase(&format!(
        "building indexes and constraints in {}",
        target.describe()
    ));
    build_post_data(artifact, dk, &pg_restore, workers, cancel)?;
    Ok(rows)
}

/// How pg_restore is run against the target.
struct PgRestore<'a> {
    tool: &'a pgsrc::Tool,
    target: &'a ConnInfo,
    passfile: Option<&'a PassFile>,
    base_args: &'a [String],
}

impl PgRestore<'_> {
    fn spawn(&self, extra: &[String], stdin: Stdio) -> Result<std::process::Child> {
        let mut args = self.base_args.to_vec();
        args.extend_from_slice(extra);
        spawn(
            self.tool,
            &args,
            self.target,
            self.passfile,
            stdin,
            Stdio::null(),
        )
    }
}

/// Pass 1: pg_restore loads the schema and the small tables from the
/// `pg_dump/` members on its stdin, while `workers` sessions COPY the
/// large tables' ranges from the `data/` members that follow.
#[allow(clippy::too_many_arguments)]
fn load_data(
    artifact: &Artifact,
    dk: Option<&DataKey>,
    pf: &ParallelFacts,
    pg_restore: &PgRestore,
    workers: usize,
    role: Option<&str>,
    job: &Job,
    cancel: &AtomicBool,
) -> Result<HashMap<(String, String), u64>> {
    let target = pg_restore.target;
    let rows: Mutex<HashMap<(String, String), u64>> = Mutex::new(HashMap::new());
    let failed: Mutex<Option<Error>> = Mutex::new(None);
    let stop = AtomicBool::new(false);
    job.phase(&format!(
        "restoring the schema and small tables into {}",
        target.describe()
    ));
    let extra = [
        "--section=pre-data",
        "--section=data",
        "--single-transaction",
    ]
    .map(String::from);
    let mut schema = SchemaPass::start(pg_restore, &extra)?;
    let result = std::thread::scope(|scope| -> Result<()> {
        let mut senders: Vec<chan::Sender<Load>> = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..workers {
            let (tx, rx) = chan::bounded::<Load>(4);
            senders.push(tx);
            let (rows, failed, stop) = (&rows, &failed, &stop);
            handles.push(scope.spawn(move || {
                if let Err(e) = range_loader(target, role, &rx, rows) {
                    stop.store(true, Ordering::Relaxed);
                    let mut f = failed.lock().unwrap_or_else(|p| p.into_inner());
                    if f.is_none() {
                        *f = Some(e);
                    }
                    // Let the reader go on until it sees the stop.
                    for _ in rx.iter() {}
                }
            }));
        }
        let mut router = Router {
            artifact,
            workers,
            senders,
            owner: HashMap::new(),
            idle: (0..workers).rev().collect(),
            done: 0,
        };
        let read = (|| -> Result<()> {
            let plain = open_plain(artifact, dk)?;
            let mut ar = tar::Archive::new(plain);
            for entry in ar.entries().map_err(|e| tar_err(artifact, e))? {
                check_cancel(cancel)?;
                if stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let mut e = entry.map_err(|e| tar_err(artifact, e))?;
                let name = member_name(&e);
                // The size `e` reads by (the PAX record's when there is
                // one), and only when the header agrees: the cap below must
                // bound what `read_to_end` takes.
                let size = crate::sources::tar_member::checked_size(&e)
                    .map_err(|why| bad_member(artifact, &format!("member {name}: {why}")))?;
                if size > MAX_MEMBER {
                    return Err(bad_member(
                        artifact,
                        &format!("member {name} is {size} bytes"),
                    ));
                }
                if name.starts_with("pg_dump/") {
                    if schema.finished {
                        return Err(bad_member(
                            artifact,
                            &format!("{name} after the table data"),
                        ));
                    }
                    schema.feed(&mut e);
                    continue;
                }
                if !schema.finished {
                    schema.finish()?;
                    job.phase(&format!(
                        "loading {} large table(s) into {} with {workers} session(s)",
                        pf.tables.len(),
                        target.describe()
                    ));
                }
                let mut data = Vec::with_capacity(size as usize);
                e.read_to_end(&mut data).map_err(|e| tar_err(artifact, e))?;
                router.route(&name, data, job)?;
            }
            if !router.owner.is_empty() {
                return Err(bad_member(artifact, "a range has no end"));
            }
            if !schema.finished {
                schema.finish()?;
            }
            Ok(())
        })();
        if read.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        drop(router);
        for h in handles {
            let _ = h.join();
        }
        read
    });
    if !schema.finished {
        schema.abort();
    }
    result?;
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(rows.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// The pg_restore of pass 1, fed the `pg_dump/` members on its stdin.
struct SchemaPass<'a> {
    pg_restore: &'a PgRestore<'a>,
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stderr: Option<std::thread::JoinHandle<String>>,
    /// Its input ended and it exited successfully.
    finished: bool,
}

impl<'a> SchemaPass<'a> {
    fn start(pg_restore: &'a PgRestore<'a>, extra: &[String]) -> Result<SchemaPass<'a>> {
        let mut child = pg_restore.spawn(extra, Stdio::piped())?;
        let stderr = drain_stderr(&mut child);
        let stdin = child.stdin.take();
        Ok(SchemaPass {
            pg_restore,
            child,
            stdin,
            stderr: Some(stderr),
            finished: false,
        })
    }

    fn feed(&mut self, member: &mut impl Read) {
        if let Some(w) = self.stdin.as_mut() {
            if std::io::copy(member, w).is_err() {
                // pg_restore stopped; its status says why.
                drop(self.stdin.take());
            }
        }
    }

    /// End its input and wait for it; a failure is its own message.
    fn finish(&mut self) -> Result<()> {
        self.finished = true;
        drop(self.stdin.take());
        wait_tool(
            &mut self.child,
            self.stderr.take(),
            self.pg_restore.tool,
            self.pg_restore.target,
        )
    }

    /// The restore failed before the schema pass ended: stop it.
    fn abort(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Hands the `data/` members to the range loaders: a range's header opens
/// it on an idle loader, its chunks follow to that loader, its `.done`
/// closes it and frees the loader. Anything out of that order is a bad
/// backup, said as such.
struct Router<'a> {
    artifact: &'a Artifact,
    workers: usize,
    senders: Vec<chan::Sender<Load>>,
    /// Open range (stream number) -> its loader.
    owner: HashMap<u32, usize>,
    idle: Vec<usize>,
    /// Range bytes handed over so far (the job's progress).
    done: u64,
}

impl Router<'_> {
    fn route(&mut self, name: &str, data: Vec<u8>, job: &Job) -> Result<()> {
        let artifact = self.artifact;
        let unexpected = || bad_member(artifact, &format!("unexpected member {name}"));
        let Some(rest) = name.strip_prefix("data/") else {
            return Err(unexpected());
        };
        if let Some(stream) = rest.strip_suffix(".json") {
            let stream: u32 = stream.parse().map_err(|_| unexpected())?;
            let header: RangeHeader = serde_json::from_slice(&data)
                .map_err(|e| bad_member(artifact, &format!("{name}: {e}")))?;
            let Some(w) = self.idle.pop() else {
                return Err(bad_member(
                    artifact,
                    &format!("more than {} ranges open at {name}", self.workers),
                ));
            };
            if self.owner.insert(stream, w).is_some() {
                return Err(bad_member(
                    artifact,
                    &format!("range {stream} opened twice"),
                ));
            }
            let _ = self.senders[w].send(Load::Open(header, stream));
        } else if let Some(stream) = rest.strip_suffix(".done") {
            let stream: u32 = stream.parse().map_err(|_| unexpected())?;
            let d: RangeDone = serde_json::from_slice(&data)
                .map_err(|e| bad_member(artifact, &format!("{name}: {e}")))?;
            let Some(w) = self.owner.remove(&stream) else {
                return Err(bad_member(artifact, &format!("{name} without its header")));
            };
            let _ = self.senders[w].send(Load::Close(d.rows));
            self.idle.push(w);
        } else {
            let stream: u32 = rest
                .split_once('/')
                .and_then(|(s, _)| s.parse().ok())
                .ok_or_else(unexpected)?;
            let Some(&w) = self.owner.get(&stream) else {
                return Err(bad_member(artifact, &format!("{name} outside its range")));
            };
            self.done += data.len() as u64;
            job.advance(self.done, 0);
            let _ = self.senders[w].send(Load::Data(bytes::Bytes::from(data)));
        }
        Ok(())
    }
}

/// Pass 2: indexes, constraints, triggers, after the data.
fn build_post_data(
    artifact: &Artifact,
    dk: Option<&DataKey>,
    pg_restore: &PgRestore,
    workers: usize,
    cancel: &AtomicBool,
) -> Result<()> {
    let (tool, target) = (pg_restore.tool, pg_restore.target);
    let mut args = vec!["--section=post-data".to_string()];
    if workers > 1 {
        // With as many sessions as the data had, as `pg_restore -j`
        // does: two large tables' indexes build side by side. pg_restore
        // cannot run jobs from a pipe, so the pg_dump part (schema, small
        // tables; no large table's rows) is spooled first, 0600, and
        // removed when done.
        let spool = pg_dump_part(artifact, dk)?;
        crate::crashpoint::hit("db-restore.spooled");
        check_cancel(cancel)?;
        args.push(format!("--jobs={workers}"));
        args.push(spool.path.to_string_lossy().into_owned());
        let mut child = pg_restore.spawn(&args, Stdio::null())?;
        let stderr = drain_stderr(&mut child);
        wait_tool(&mut child, Some(stderr), tool, target)?;
        drop(spool);
        return Ok(());
    }
    args.push("--single-transaction".into());
    let mut child = pg_restore.spawn(&args, Stdio::piped())?;
    let stderr = drain_stderr(&mut child);
    let mut stdin = child.stdin.take().expect("stdin piped");
    let fed = feed_pg_dump(artifact, dk, &mut stdin);
    drop(stdin);
    if fed.is_err() {
        let _ = child.kill();
    }
    let status = wait_tool(&mut child, Some(stderr), tool, target);
    fed?;
    status
}

/// Wait for pg_restore and turn a failure into its own message.
fn wait_tool(
    child: &mut std::process::Child,
    stderr: Option<std::thread::JoinHandle<String>>,
    tool: &pgsrc::Tool,
    target: &ConnInfo,
) -> Result<()> {
    let status = child
        .wait()
        .map_err(|e| Error::external(format!("pg_restore did not finish: {e}")))?;
    let err = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    check_tool_exit(tool, target, status, &err)
}

/// Load ranges handed over by the reader: one session, one range at a time.
fn range_loader(
    target: &ConnInfo,
    role: Option<&str>,
    rx: &chan::Receiver<Load>,
    rows: &Mutex<HashMap<(String, String), u64>>,
) -> Result<()> {
    let mut pg: Option<Pg> = None;
    while let Ok(msg) = rx.recv() {
        let Load::Open(h, stream) = msg else {
            return Err(Error::integrity(format!(
                "range data arrived before its header in the backup for {}",
                target.describe()
            )));
        };
        if pg.is_none() {
            let c = Pg::connect(target, CONNECT_TIMEOUT)?;
            let mut setup = load_session(c.server_version()?.num);
            if let Some(r) = role {
                setup.push_str(&format!(" SET ROLE {};", quote_ident(r)));
            }
            c.execute(&setup)?;
            pg = Some(c);
        }
        let c = pg.as_ref().expect("connected above");
        let cols: Vec<String> = h.columns.iter().map(|c| quote_ident(c)).collect();
        let sql = format!(
            "COPY {} ({}) FROM STDIN",
            quote_qualified(&h.schema, &h.table),
            cols.join(", ")
        );
        let what = format!("load rows into {}.{}", h.schema, h.table);
        let mut copy = c.copy_in(&what, &sql)?;
        let expected = loop {
            match rx.recv() {
                Ok(Load::Data(b)) => copy.send(b)?,
                Ok(Load::Close(n)) => break n,
                Ok(Load::Open(..)) => {
                    return Err(Error::integrity(format!(
                        "range {stream} of {}.{} ended without its row count",
                        h.schema, h.table
                    )))
                }
                // The reader stopped; its own error is the one to report.
                Err(_) => return Ok(()),
            }
        };
        let got = copy.finish()?;
        if got != expected {
            return Err(Error::integrity(format!(
                "{}.{}: the server stored {got} rows of range {stream}, the backup holds {expected}",
                h.schema, h.table
            )));
        }
        *rows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((h.schema, h.table))
            .or_default() += got;
    }
    Ok(())
}

/// Spool the pg_dump part of a parallel payload (schema, small tables and
/// the post-data section: what `pg_restore` reads of it) to a private temp
/// file.
fn pg_dump_part(artifact: &Artifact, dk: Option<&DataKey>) -> Result<TempDump> {
    let (t, file) = TempDump::create(artifact)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    feed_pg_dump(artifact, dk, &mut out)?;
    out.flush()
        .map_err(|e| Error::io("cannot write", &t.path, e))?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(pages: u64) -> SplitTable {
        SplitTable {
            schema: "s".into(),
            name: format!("t{pages}"),
            pages,
            filenode: 1,
            columns: vec!["a".into()],
        }
    }

    /// Ranges of each table are contiguous from page 0, the last open-ended,
    /// and streams are numbered from 1 without gaps.
    fn check(ranges: &[Range], t: &SplitTable) -> usize {
        let mine: Vec<&Range> = ranges.iter().filter(|r| r.header.table == t.name).collect();
        let mut next = 0;
        for (i, r) in mine.iter().enumerate() {
            assert_eq!(r.header.first_page, next);
            match r.header.end_page {
                Some(e) => {
                    assert!(i + 1 < mine.len(), "only the last range is open");
                    assert!(e > next);
                    next = e;
                }
                None => assert_eq!(i + 1, mine.len()),
            }
        }
        mine.len()
    }

    #[test]
    fn ranges_cover_every_table_and_keep_every_worker_busy() {
        let tables = [table(0), table(100), table(5000), table(80_000)];
        let ranges = plan(&tables, 3);
        let streams: Vec<u32> = ranges.iter().map(|r| r.stream).collect();
        assert_eq!(streams, (1..=ranges.len() as u32).collect::<Vec<_>>());
        assert_eq!(
            check(&ranges, &tables[0]),
            1,
            "an empty table still gets one range"
        );
        assert_eq!(
            check(&ranges, &tables[1]),
            1,
            "below the minimum range size"
        );
        assert_eq!(check(&ranges, &tables[2]), 3, "one range per worker");
        assert_eq!(check(&ranges, &tables[3]), 5, "about 128 MiB each");
    }

    #[test]
    fn frames_split_at_one_mib_and_keep_every_byte() {
        let data: Vec<u8> = (0..(FRAME * 2 + 123)).map(|i| (i % 251) as u8).collect();
        let mut fw = FrameWriter::new(Vec::new(), "pg_dump/");
        fw.write_all(&data).unwrap();
        let tar_bytes = fw.finish().unwrap().into_inner().unwrap();
        let mut ar = tar::Archive::new(&tar_bytes[..]);
        let mut names = Vec::new();
        let mut back = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            names.push(String::from_utf8_lossy(&e.path_bytes()).into_owned());
            e.read_to_end(&mut back).unwrap();
        }
        assert_eq!(
            names,
            ["pg_dump/000000", "pg_dump/000001", "pg_dump/000002"]
        );
        assert_eq!(back, data);
    }
}
