//! Dumping a database into the repository.

use std::sync::atomic::Ordering;

use super::*;
use crate::catalog::JobKind;
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
    let format = engine.config.sources.database.format;
    job.phase("connecting");
    let info = server(engine)?.with_db(db);
    job.acquire(&format!("database {}/{db}", info.server()))?;
    let pg = Pg::connect(&info, CONNECT_TIMEOUT)?;
    let version = pg.server_version()?;
    let dump_tool = pgsrc::tool("pg_dump")?;
    pgsrc::check_tool_version(&dump_tool, &version)?;

    // Encryption as for every other type.
    let (ring, encrypt) = backup::encryption_for(engine, t)?;

    job.phase("reading table statistics");
    let size = pg.database_size(db)?;
    let snapshot = pg.export_snapshot()?;
    let properties = pg.database_props()?;
    // Sequences are not transactional: read before pg_dump starts, so the
    // position it dumps is this one or later (see compare_content).
    let sequences = pg.sequence_states()?;
    // Roles are read in the same snapshot; their password hashes only when
    // they can be kept encrypted (pg_dumpall --no-role-passwords otherwise).
    let mut globals = pg.globals()?;
    let mut passwords = if ring.is_some() {
        pg.role_passwords()?
    } else {
        None
    };
    if let Some(p) = &mut passwords {
        p.retain(|name, _| globals.roles.iter().any(|r| &r.name == name));
    }
    let dbcfg = &engine.config.sources.database;
    let split = if parallel::usable(format, dbcfg.jobs, version.num, &pg.database_encoding()?) {
        pg.split_candidates(dbcfg.split_table_mb.saturating_mul(1 << 20))?
    } else {
        Vec::new()
    };
    let skip: Vec<(String, String)> = split
        .iter()
        .map(|t| (t.schema.clone(), t.name.clone()))
        .collect();
    let mut parallel_facts = None;
    job.total(Some(size), None);
    let mut tables = Vec::new();
    let mut content = None;

    let id = backup::new_id(t, created_at);
    let compression = engine.config.compression.algorithm;
    let level = engine.config.compression.level;
    let data_key = ring.as_ref().map(|_| DataKey::random());
    match (&passwords, &data_key) {
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
    let wrapped = match (&ring, &data_key) {
        (Some(r), Some(dk)) => Some(crypto::wrap_data_key(r.active(), dk, &id)),
        _ => None,
    };
    let payload_name = db_artifact_name(
        created_at,
        several.then_some(db),
        name,
        format,
        compression,
        encrypt,
    );
    let (payload_file, payload_tmp) = engine.repo.create_partial(t, &payload_name)?;
    job.track_partial(&payload_tmp)?;
    let record = backup::running_record(
        engine,
        &id,
        t,
        name,
        (BackupKind::Full, None),
        created_at,
        &payload_name,
        encrypt,
        wrapped.as_ref(),
        job.id,
    );
    engine.catalog.insert_backup(&record)?;

    let dumped = (|| -> Result<pipeline::Sealed> {
        let sealer = Sealer::new(
            payload_file,
            SealOptions {
                compression,
                level,
                data_key: if encrypt { data_key.clone() } else { None },
                threads: engine.config.compression.threads,
            },
        )?
        .with_path(&payload_tmp);
        let mut sealer = if split.is_empty() {
            DumpOut::Raw(sealer)
        } else {
            DumpOut::Framed(parallel::FrameWriter::new(sealer, "pg_dump/"))
        };
        let passfile = PassFile::create(&info)?;
        let mut args = vec![
            "--no-password".to_string(),
            format!("--snapshot={snapshot}"),
            "--dbname".to_string(),
            db.to_string(),
        ];
        match format {
            DumpFormat::Custom => args.extend(["--format=custom".into(), "--compress=0".into()]),
            DumpFormat::Plain => args.push("--format=plain".into()),
        }
        args.extend(split.iter().map(parallel::exclude_pattern));
        job.phase(&format!("dumping {}", info.describe()));
        let mut child = spawn(
            &dump_tool,
            &args,
            &info,
            passfile.as_ref(),
            Stdio::null(),
            Stdio::piped(),
        )?;
        let stderr = drain_stderr(&mut child);
        let mut out = child.stdout.take().expect("stdout piped");
        widen_pipe(&out);
        let mut buf = vec![0u8; 1 << 20];
        let mut done: u64 = 0;
        // Row counts come from the same exported snapshot as the dump, so
        // they are taken while pg_dump runs instead of before it.
        let copied = AtomicBool::new(false);
        let (dump_pid, canceller) = (child.id(), pg.canceller());
        let (copy, stats) = std::thread::scope(|scope| {
            // Then, in the same snapshot, the digests a deep verification
            // recomputes: tables pg_dump reads (the range readers digest
            // theirs) and the large objects.
            let stats = scope.spawn(|| -> Result<_> {
                pg.execute(&parallel::common_session(version.num))?;
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
                    let n = out
                        .read(&mut buf)
                        .map_err(|e| Error::io("cannot read the output of", &dump_tool.path, e))?;
                    if n == 0 {
                        // pg_dump ended: done, or stopped by a cancel.
                        return check_cancel(cancel);
                    }
                    sealer
                        .write_all(&buf[..n])
                        .map_err(|e| Error::io("cannot write", &payload_tmp, e))?;
                    done += n as u64;
                    job.advance(done, 0);
                }
            })();
            copied.store(true, Ordering::Relaxed);
            let stats = stats
                .join()
                .unwrap_or_else(|_| Err(Error::external("the row-count query panicked")));
            (copy, stats)
        });
        if copy.is_err() {
            let _ = child.kill();
        }
        drop(out);
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
        let (stats, digests, large_objects) = stats?;
        tables = stats;
        content = Some(pgsrc::ContentFacts {
            digest: pgsrc::ROW_DIGEST.to_string(),
            tables: digests,
            sequences: sequences.clone(),
            large_objects,
        });
        let sealer = match sealer {
            DumpOut::Raw(s) => s,
            DumpOut::Framed(frames) => {
                let io = |e: std::io::Error| Error::io("cannot write", &payload_tmp, e);
                let mut tar = frames.finish().map_err(io)?;
                job.phase(&format!(
                    "reading {} large table(s) with {} sessions",
                    split.len(),
                    dbcfg.jobs
                ));
                let pf = parallel::dump_ranges(
                    &info, &snapshot, &split, dbcfg.jobs, &mut tar, job, cancel, &mut done,
                )?;
                if let Some(c) = &mut content {
                    for f in &pf.tables {
                        c.tables.push(pgsrc::TableDigest {
                            schema: f.schema.clone(),
                            name: f.name.clone(),
                            rows: f.rows,
                            digest: f.digest.clone().unwrap_or_default(),
                        });
                    }
                    c.tables
                        .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
                }
                for t in &mut tables {
                    if let Some(f) = pf
                        .tables
                        .iter()
                        .find(|f| f.schema == t.schema && f.name == t.name)
                    {
                        t.rows = f.rows;
                        t.bytes = f.bytes;
                    }
                }
                parallel_facts = Some(pf);
                tar.into_inner().map_err(io)?
            }
        };
        job.phase("sealing");
        let (sealed, _) = sealer.finish()?;
        Ok(sealed)
    })();
    drop(pg);
    let sealed = match dumped {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&payload_tmp);
            let status = if e.kind == ErrorKind::Cancelled {
                BackupStatus::Cancelled
            } else {
                BackupStatus::Failed
            };
            let _ = engine.catalog.set_backup_status(&id, status);
            return Err(e);
        }
    };

    job.phase("publishing");
    let facts = DatabaseFacts {
        database: db.to_string(),
        host: info.host.clone(),
        port: info.port,
        format: format.as_str().to_string(),
        server_version: version.text.clone(),
        server_version_num: version.num,
        pg_dump_version: dump_tool.version.clone(),
        size,
        tables,
        parallel: parallel_facts,
        properties: Some(properties),
        globals: Some(globals),
        content,
    };
    let staged = backup::Staged {
        id: &id,
        backup_type: t,
        payload_tmp: &payload_tmp,
        payload_name: &payload_name,
        index_tmp: None,
    };
    let (payload_final, manifest, _) =
        backup::commit_artifact(engine, job, &staged, data_key.as_ref(), |payload, _| {
            Manifest {
                format: MANIFEST_FORMAT.to_string(),
                id: id.clone(),
                backup_type: t,
                name: name.map(str::to_string),
                kind: BackupKind::Full,
                parent_id: None,
                created_at,
                finished_at: Utc::now(),
                created_by: engine.actor.clone(),
                tool_version: env!("CARGO_PKG_VERSION").to_string(),
                source: json!({"database": db, "host": info.host, "port": info.port, "user": info.user}),
                compression,
                compression_level: level,
                encrypted: encrypt,
                segment_size: encrypt.then_some(crypto::SEGMENT_SIZE),
                key: wrapped.clone(),
                payload: StreamInfo {
                    file: payload,
                    size: sealed.size,
                    stored_size: sealed.stored_size,
                    sha256: sealed.sha256.clone(),
                },
                index: None,
                files: None,
                database: Some(serde_json::to_value(&facts).expect("serializes")),
                warnings: Vec::new(),
                mac: None,
            }
        })
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&payload_tmp);
        })?;
    Ok(backup::BackupReport {
        id,
        backup_type: t,
        kind: BackupKind::Full,
        parent_id: None,
        status: BackupStatus::Succeeded,
        file: payload_final,
        size: manifest.payload.size,
        stored_size: manifest.payload.stored_size,
        encrypted: encrypt,
        files: None,
        warnings: Vec::new(),
        seconds: started.elapsed().as_secs_f64(),
        job_id: job.id,
    })
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
