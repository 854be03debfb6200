//! Dumping a database into the repository.

use std::sync::atomic::Ordering;

use super::*;
use crate::catalog::JobKind;
use crate::sources::database::SplitTable;
use crate::Cancel;

/// Back up every configured database; one artifact each.
pub fn backup_all(
    engine: &Engine,
    name: Option<&str>,
    face: &dyn Progress,
    cancel: &Cancel,
) -> Result<Vec<backup::BackupReport>> {
    let dbs = configured_databases(&engine.config)?;
    let several = dbs.len() > 1;
    let mut out = Vec::new();
    for db in dbs {
        let target = format!("database {db}");
        let success = |r: &backup::BackupReport| {
            (
                "succeeded".to_string(),
                format!(
                    "{} {} ({} bytes stored)",
                    r.id,
                    r.file.display(),
                    r.stored_size
                ),
            )
        };
        let audit = AuditAs {
            action: "backup",
            target: &target,
            success: &success,
        };
        let result = run_job(
            engine,
            JobKind::Backup,
            &target,
            face,
            cancel,
            JobEnd {
                warnings: |_| 0,
                audit: Some(audit),
            },
            |job, cancel| dump_one(engine, &db, several, name, job, cancel),
        );
        out.push(result?);
    }
    Ok(out)
}

fn dump_one(
    engine: &Engine,
    db: &str,
    several: bool,
    name: Option<&str>,
    job: &Job,
    cancel: &AtomicBool,
) -> Result<backup::BackupReport> {
    let started = Instant::now();
    let created_at = Utc::now();
    let t = BackupType::Database;
    job.phase("connecting");
    let info = server(engine)?.with_db(db);
    job.acquire(&format!("database {}/{db}", info.server()))?;
    // The hooks run once the job holds the database: two backups of it
    // never pause and resume the app across each other.
    crate::ops::app::with_hooks(engine, t, job, || {
        dump_locked(
            engine,
            db,
            (several, name),
            &info,
            (started, created_at),
            job,
            cancel,
        )
    })
}

/// The rest of [`dump_one`], holding the database.
fn dump_locked(
    engine: &Engine,
    db: &str,
    (several, name): (bool, Option<&str>),
    info: &ConnInfo,
    (started, created_at): (Instant, chrono::DateTime<Utc>),
    job: &Job,
    cancel: &AtomicBool,
) -> Result<backup::BackupReport> {
    let t = BackupType::Database;
    let format = engine.config.sources.database.format;
    let pg = Pg::connect(info, CONNECT_TIMEOUT)?;
    let version = pg.server_version()?;
    let dump_tool = pgsrc::tool("pg_dump")?;
    pgsrc::check_tool_version(&dump_tool, &version)?;

    // Encryption as for every other type.
    let (ring, encrypt) = backup::encryption_for(engine, t)?;
    job.phase("reading table statistics");
    let mut src = Source::read(engine, &pg, db, &version, ring.is_some())?;
    // No byte total: done counts pg_dump's output (and the ranges' rows),
    // whose size nothing knows ahead. pg_database_size is not it (indexes,
    // free space, catalogs): a finished backup read 16.91 KiB of 7.47 MiB,
    // 0%. The job's end records what was dumped as its total.
    let draft = backup::Draft::new(
        engine,
        t,
        name,
        (BackupKind::Full, None),
        created_at,
        (ring.as_ref(), encrypt),
    );
    keep_role_passwords(&mut src, draft.data_key.as_ref(), info, job);
    let payload_name = db_artifact_name(
        created_at,
        several.then_some(db),
        name,
        format,
        draft.compression,
        encrypt,
    );
    let (payload_file, payload_tmp) = engine.repo.create_partial(t, &payload_name)?;
    job.track_partial(&payload_tmp)?;
    draft.record(engine, &payload_name, job)?;

    let dumped = (|| {
        let sealer = draft.sealer(
            payload_file,
            &payload_tmp,
            engine.config.compression.threads,
        )?;
        let run = DumpRun {
            engine,
            info,
            pg: &pg,
            version: &version,
            tool: &dump_tool,
            src: &src,
            payload_tmp: &payload_tmp,
            job,
            cancel,
        };
        run.dump_into(sealer)
    })();
    drop(pg);
    let dumped = dumped.map_err(|e| draft.fail(engine, &[&payload_tmp], e))?;

    job.phase("publishing");
    let facts = DatabaseFacts {
        database: db.to_string(),
        host: info.host.clone(),
        port: info.port,
        format: format.as_str().to_string(),
        server_version: version.text.clone(),
        server_version_num: version.num,
        pg_dump_version: dump_tool.version.clone(),
        size: src.size,
        tables: dumped.tables,
        parallel: dumped.parallel,
        properties: Some(src.properties),
        globals: Some(src.globals),
        content: Some(dumped.content),
    };
    let staged = backup::Staged {
        id: &draft.id,
        backup_type: t,
        payload_tmp: &payload_tmp,
        payload_name: &payload_name,
        index_tmp: None,
    };
    let source = json!({"database": db, "host": info.host, "port": info.port, "user": info.user});
    let committed = backup::commit_artifact(
        engine,
        job,
        &staged,
        draft.data_key.as_ref(),
        |payload, _| Manifest {
            database: Some(serde_json::to_value(&facts).expect("serializes")),
            ..draft.manifest(engine, backup::stream_info(payload, &dumped.sealed), source)
        },
    )
    .inspect_err(|_| {
        let _ = std::fs::remove_file(&payload_tmp);
    })?;
    Ok(draft.report(committed, started, job))
}

/// What is read from the server before pg_dump starts, in the snapshot it
/// will dump.
struct Source {
    /// pg_database_size now.
    size: u64,
    /// The exported snapshot pg_dump and the range readers share.
    snapshot: String,
    properties: pgsrc::DatabaseProps,
    sequences: Vec<pgsrc::SequenceState>,
    globals: pgsrc::Globals,
    /// Role password hashes, read only when they can be kept encrypted.
    passwords: Option<std::collections::BTreeMap<String, String>>,
    /// Large tables read in ranges beside pg_dump (empty: pg_dump alone).
    split: Vec<SplitTable>,
}

impl Source {
    fn read(
        engine: &Engine,
        pg: &Pg,
        db: &str,
        version: &pgsrc::ServerVersion,
        keyed: bool,
    ) -> Result<Source> {
        let size = pg.database_size(db)?;
        let snapshot = pg.export_snapshot()?;
        let properties = pg.database_props()?;
        // Sequences are not transactional: read before pg_dump starts, so
        // the position it dumps is this one or later (see compare_content).
        let sequences = pg.sequence_states()?;
        // Roles are read in the same snapshot; their password hashes only
        // when they can be kept encrypted (pg_dumpall --no-role-passwords
        // otherwise).
        let globals = pg.globals()?;
        let mut passwords = if keyed { pg.role_passwords()? } else { None };
        if let Some(p) = &mut passwords {
            p.retain(|name, _| globals.roles.iter().any(|r| &r.name == name));
        }
        let dbcfg = &engine.config.sources.database;
        let split = if parallel::usable(
            dbcfg.format,
            dbcfg.jobs,
            version.num,
            &pg.database_encoding()?,
        ) {
            pg.split_candidates(dbcfg.split_table_mb.saturating_mul(1 << 20))?
        } else {
            Vec::new()
        };
        Ok(Source {
            size,
            snapshot,
            properties,
            sequences,
            globals,
            passwords,
            split,
        })
    }

    /// The split tables, as the names the row readers skip.
    fn skip(&self) -> Vec<(String, String)> {
        self.split
            .iter()
            .map(|t| (t.schema.clone(), t.name.clone()))
            .collect()
    }
}

/// Seal the roles' password hashes into the globals with the backup's data
/// key, or say (in the globals and the job log) why they were not kept.
fn keep_role_passwords(src: &mut Source, data_key: Option<&DataKey>, info: &ConnInfo, job: &Job) {
    let globals = &mut src.globals;
    match (&src.passwords, data_key) {
        (Some(p), Some(dk)) => {
            globals.passwords = "encrypted".to_string();
            globals.secrets = Some(crypto::seal_small(
                dk,
                &serde_json::to_vec(p).expect("serializes"),
            ));
        }
        (None, Some(_)) => {
            globals.passwords_note = Some(format!(
                "role {} may not read pg_authid (superusers only): role passwords were not kept",
                info.user
            ));
        }
        _ => {
            globals.passwords_note = Some(
                "the repository has no key: role passwords were not kept (as pg_dumpall --no-role-passwords); restored roles have no password".to_string(),
            );
        }
    }
    if let Some(note) = &globals.passwords_note {
        job.log("info", note);
    }
}

/// What the dump produced: the sealed payload and the facts the manifest
/// records about its content.
struct Dumped {
    sealed: pipeline::Sealed,
    tables: Vec<pgsrc::TableStat>,
    content: pgsrc::ContentFacts,
    parallel: Option<parallel::ParallelFacts>,
}

/// One database's dump in progress: pg_dump into the sealer, the content
/// digests beside it in the same snapshot, then the ranges of the large
/// tables.
struct DumpRun<'a> {
    engine: &'a Engine,
    info: &'a ConnInfo,
    pg: &'a Pg,
    version: &'a pgsrc::ServerVersion,
    tool: &'a pgsrc::Tool,
    src: &'a Source,
    payload_tmp: &'a Path,
    job: &'a Job<'a>,
    cancel: &'a AtomicBool,
}

/// The row statistics, digests and large objects read beside pg_dump.
type ContentRead = (
    Vec<pgsrc::TableStat>,
    Vec<pgsrc::TableDigest>,
    pgsrc::LargeObjects,
);

impl DumpRun<'_> {
    fn dump_into(&self, sealer: Sealer) -> Result<Dumped> {
        let (src, job) = (self.src, self.job);
        let mut out = if src.split.is_empty() {
            DumpOut::Raw(sealer)
        } else {
            DumpOut::Framed(parallel::FrameWriter::new(sealer, "pg_dump/"))
        };
        let mut done: u64 = 0;
        let (mut tables, digests, large_objects) = self.pg_dump(&mut out, &mut done)?;
        let mut content = pgsrc::ContentFacts {
            digest: pgsrc::ROW_DIGEST.to_string(),
            tables: digests,
            sequences: src.sequences.clone(),
            large_objects,
        };
        let mut parallel_facts = None;
        let sealer = match out {
            DumpOut::Raw(s) => s,
            DumpOut::Framed(frames) => {
                let io = |e: std::io::Error| Error::io("cannot write", self.payload_tmp, e);
                let mut tar = frames.finish().map_err(io)?;
                let pf = self.dump_ranges(&mut tar, &mut done)?;
                merge_range_facts(&pf, &mut content, &mut tables);
                parallel_facts = Some(pf);
                tar.into_inner().map_err(io)?
            }
        };
        job.phase("sealing");
        let (sealed, _) = sealer.finish()?;
        Ok(Dumped {
            sealed,
            tables,
            content,
            parallel: parallel_facts,
        })
    }

    /// Run pg_dump into `out` while the content is read beside it in the
    /// same snapshot; `done` counts the bytes.
    fn pg_dump(&self, out: &mut DumpOut, done: &mut u64) -> Result<ContentRead> {
        let (info, src, job) = (self.info, self.src, self.job);
        let passfile = PassFile::create(info)?;
        let mut args = vec![
            "--no-password".to_string(),
            format!("--snapshot={}", src.snapshot),
            "--dbname".to_string(),
            info.dbname.clone(),
        ];
        match self.engine.config.sources.database.format {
            DumpFormat::Custom => args.extend(["--format=custom".into(), "--compress=0".into()]),
            DumpFormat::Plain => args.push("--format=plain".into()),
        }
        args.extend(src.split.iter().map(parallel::exclude_pattern));
        job.phase(&format!("dumping {}", info.describe()));
        let mut child = spawn(
            self.tool,
            &args,
            info,
            passfile.as_ref(),
            Stdio::null(),
            Stdio::piped(),
        )?;
        let stderr = drain_stderr(&mut child);
        let mut stdout = child.stdout.take().expect("stdout piped");
        widen_pipe(&stdout);
        let (copy, stats) = self.copy_beside_content(&mut stdout, child.id(), out, done);
        if copy.is_err() {
            let _ = child.kill();
        }
        drop(stdout);
        let status = child
            .wait()
            .map_err(|e| Error::external(format!("pg_dump did not finish: {e}")))?;
        let err_text = stderr.join().unwrap_or_default();
        copy?;
        if !status.success() {
            // A failed row count (e.g. permission denied on a table) aborts
            // the transaction that exported the snapshot, and pg_dump then
            // fails to import it: the count's error is the real cause.
            if let Err(e) = stats {
                return Err(Error::new(
                    e.kind,
                    format!("cannot back up {}: {}", info.describe(), e.message),
                )
                .hint("nothing was kept; fix the cause above and run the backup again"));
            }
            let how = match status.code() {
                Some(c) => format!("exited with status {c}"),
                None => "was killed".to_string(),
            };
            return Err(Error::external(format!(
                "pg_dump of {} {how}: {}",
                info.describe(),
                if err_text.is_empty() {
                    "(no message)"
                } else {
                    err_text.as_str()
                }
            ))
            .hint("nothing was kept; fix the cause above and run the backup again"));
        }
        stats
    }

    /// Copy pg_dump's output into `out` while, on other threads, the row
    /// statistics and digests are read in the same snapshot and a cancel
    /// is watched for. Returns the copy's outcome and the content read.
    fn copy_beside_content(
        &self,
        stdout: &mut std::process::ChildStdout,
        dump_pid: u32,
        out: &mut DumpOut,
        done: &mut u64,
    ) -> (Result<()>, Result<ContentRead>) {
        let (pg, cancel, job) = (self.pg, self.cancel, self.job);
        let skip = self.src.skip();
        let mut buf = vec![0u8; 1 << 20];
        // Row counts come from the same exported snapshot as the dump, so
        // they are taken while pg_dump runs instead of before it.
        let copied = AtomicBool::new(false);
        let canceller = pg.canceller();
        std::thread::scope(|scope| {
            // Then, in the same snapshot, the digests a deep verification
            // recomputes: tables pg_dump reads (the range readers digest
            // theirs) and the large objects.
            let stats = scope.spawn(|| -> Result<_> {
                pg.execute(&parallel::common_session(self.version.num))?;
                let digests = pg.table_digests(&skip)?;
                // The digests' COPYs counted the rows: not a second scan.
                let counted: Vec<(&str, &str, u64)> = digests
                    .iter()
                    .map(|d| (d.schema.as_str(), d.name.as_str(), d.rows))
                    .collect();
                let stats = pg.table_stats_counted(&skip, &counted)?;
                let los = pg.large_objects()?;
                Ok((stats, digests, los))
            });
            // pg_dump and the row count can wait on a table lock for as
            // long as another session holds it, producing nothing: a
            // cancel would not be seen between reads. Stop both instead.
            scope.spawn(|| {
                while !copied.load(Ordering::Relaxed) {
                    if cancel.load(Ordering::Relaxed) {
                        // SAFETY: signals our own child, which we have not reaped yet.
                        unsafe { libc::kill(dump_pid as libc::pid_t, libc::SIGTERM) };
                        canceller.cancel();
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            });
            let copy = (|| -> Result<()> {
                loop {
                    check_cancel(cancel)?;
                    let n = stdout
                        .read(&mut buf)
                        .map_err(|e| Error::io("cannot read the output of", &self.tool.path, e))?;
                    if n == 0 {
                        // pg_dump ended: done, or stopped by a cancel.
                        return check_cancel(cancel);
                    }
                    out.write_all(&buf[..n])
                        .map_err(|e| Error::io("cannot write", self.payload_tmp, e))?;
                    *done += n as u64;
                    job.advance(*done, 0);
                }
            })();
            copied.store(true, Ordering::Relaxed);
            let stats = stats
                .join()
                .unwrap_or_else(|_| Err(Error::external("the row-count query panicked")));
            (copy, stats)
        })
    }

    /// Read the large tables in ranges, several sessions at once, into the
    /// payload's tar after pg_dump's part.
    fn dump_ranges(
        &self,
        tar: &mut tar::Builder<Sealer>,
        done: &mut u64,
    ) -> Result<parallel::ParallelFacts> {
        let dbcfg = &self.engine.config.sources.database;
        self.job.phase(&format!(
            "reading {} large table(s) with {} sessions",
            self.src.split.len(),
            dbcfg.jobs
        ));
        parallel::dump_ranges(
            self.info,
            &self.src.snapshot,
            &self.src.split,
            dbcfg.jobs,
            tar,
            self.job,
            self.cancel,
            done,
        )
    }
}

/// The range readers' digests and counts join what pg_dump's side read.
fn merge_range_facts(
    pf: &parallel::ParallelFacts,
    content: &mut pgsrc::ContentFacts,
    tables: &mut [pgsrc::TableStat],
) {
    for f in &pf.tables {
        content.tables.push(pgsrc::TableDigest {
            schema: f.schema.clone(),
            name: f.name.clone(),
            rows: f.rows,
            digest: f.digest.clone().unwrap_or_default(),
        });
    }
    content
        .tables
        .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    for t in tables.iter_mut() {
        if let Some(f) = pf
            .tables
            .iter()
            .find(|f| f.schema == t.schema && f.name == t.name)
        {
            t.rows = f.rows;
            t.bytes = f.bytes;
        }
    }
}

/// Give a pipe a 1 MiB buffer (Linux allows it without privileges up to
/// /proc/sys/fs/pipe-max-size): with the default 64 KiB, pg_dump and the
/// sealer wake each other for every few pages, which costs more wall time
/// than the work itself on two cores.
fn widen_pipe(fd: &impl std::os::unix::io::AsRawFd) {
    // SAFETY: fcntl on a descriptor we own; failure only keeps the default.
    unsafe {
        libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
    }
}

/// Seed-style name: `db_backup_20261126_020000.dump.zst`, `db_backup_20261126_020000.sql.gz`.
pub fn db_artifact_name(
    at: chrono::DateTime<Utc>,
    db: Option<&str>,
    name: Option<&str>,
    format: DumpFormat,
    compression: crate::archive::manifest::Compression,
    encrypted: bool,
) -> String {
    let mut s = String::from("db_backup_");
    if let Some(db) = db {
        let safe: String = db
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        s.push_str(&safe);
        s.push('_');
    }
    s.push_str(&at.format("%Y%m%d_%H%M%S").to_string());
    if let Some(n) = name {
        s.push('_');
        s.push_str(n);
    }
    s.push_str(match format {
        DumpFormat::Custom => ".dump",
        DumpFormat::Plain => ".sql",
    });
    s.push_str(compression.extension());
    if encrypted {
        s.push_str(".enc");
    }
    s
}

/// Where pg_dump's output goes: straight into the sealer, or into tar
/// members ahead of the ranges of a parallel dump.
enum DumpOut {
    Raw(Sealer),
    Framed(parallel::FrameWriter<Sealer>),
}

impl Write for DumpOut {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match self {
            DumpOut::Raw(s) => s.write(data),
            DumpOut::Framed(f) => f.write(data),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            DumpOut::Raw(s) => s.flush(),
            DumpOut::Framed(f) => f.flush(),
        }
    }
}
