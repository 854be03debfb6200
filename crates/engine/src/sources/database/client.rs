//! [`Pg`]: a tokio-postgres client behind a synchronous facade.
//!
//! Each `Pg` owns a current-thread runtime; every call is one `block_on`,
//! which also drives the connection task. That keeps the async machinery
//! inside this file while the engine stays synchronous.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use super::connect_errors::{connect_error, fmt_duration, plain_cause, unreachable};
use super::conninfo::ConnInfo;
use super::{quote_ident, quote_qualified};
use crate::error::{Error, Result};

/// The server's version: `server_version_num` (150019) and the text
/// `version()`-style string ("15.19 (Debian 15.19-0+deb12u1)").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerVersion {
    pub num: u32,
    pub text: String,
}

impl ServerVersion {
    /// 15 for 150019; 9 for 90624 (before 10 the major was two numbers).
    pub fn major(&self) -> u32 {
        self.num / 10000
    }
}

/// Size of one table, as recorded in a backup's manifest and compared after
/// a restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableStat {
    pub schema: String,
    pub name: String,
    /// Exact `count(*)`.
    pub rows: u64,
    /// `pg_total_relation_size`: heap, indexes and TOAST.
    pub bytes: u64,
}

/// A table a parallel dump splits into page ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitTable {
    pub schema: String,
    pub name: String,
    /// Heap pages (`relpages`, as of the last VACUUM or ANALYZE).
    pub pages: u64,
    /// `relfilenode` when the snapshot was taken: TRUNCATE and rewrites change it.
    pub filenode: i64,
    /// Columns COPY reads and writes, in table order.
    pub columns: Vec<String>,
}

/// A running `COPY ... FROM STDIN` (see [`Pg::copy_in`]).
pub struct CopyIn<'a> {
    pg: &'a Pg,
    sink: std::pin::Pin<Box<tokio_postgres::CopyInSink<bytes::Bytes>>>,
    what: String,
}

impl CopyIn<'_> {
    /// Send the next piece of COPY data (rows may span pieces).
    pub fn send(&mut self, data: bytes::Bytes) -> Result<()> {
        use futures_util::SinkExt;
        let sink = &mut self.sink;
        self.pg
            .rt
            .block_on(sink.send(data))
            .map_err(|e| self.pg.query_error(&self.what, &e))
    }

    /// End the copy; returns the rows the server stored.
    pub fn finish(mut self) -> Result<u64> {
        let sink = &mut self.sink;
        self.pg
            .rt
            .block_on(sink.as_mut().finish())
            .map_err(|e| self.pg.query_error(&self.what, &e))
    }
}

/// A connection to one database. Dropping it closes the connection.
pub struct Pg {
    // Declared before the runtime so it is dropped while the runtime (and
    // the connection task it drives) still exists.
    client: Client,
    rt: tokio::runtime::Runtime,
    info: ConnInfo,
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pg").field("info", &self.info).finish()
    }
}

/// Cancels the statement a [`Pg`] connection is running, from another
/// thread: a job's cancel reaches a query that waits on a table lock.
pub struct QueryCanceller {
    token: tokio_postgres::CancelToken,
}

impl QueryCanceller {
    /// Ask the server to cancel the running statement. Best effort: the
    /// statement may already have finished, and then nothing happens.
    pub fn cancel(&self) {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
        else {
            return;
        };
        let _ = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), self.token.cancel_query(NoTls)).await
        });
    }
}

impl Pg {
    /// A handle that cancels this connection's running statement from
    /// another thread.
    pub fn canceller(&self) -> QueryCanceller {
        QueryCanceller {
            token: self.client.cancel_token(),
        }
    }

    /// Connect, giving up after `timeout` (TCP connect and the whole startup
    /// handshake, so a server that accepts and never answers cannot hang us).
    pub fn connect(info: &ConnInfo, timeout: Duration) -> Result<Pg> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| {
                Error::new(
                    crate::error::ErrorKind::Io,
                    format!("cannot start the database client runtime: {e}"),
                )
            })?;
        let mut config = tokio_postgres::Config::new();
        config
            .host(&info.host)
            .port(info.port)
            .user(&info.user)
            .dbname(&info.dbname)
            .application_name("lifeboat")
            .connect_timeout(timeout);
        if let Some(pw) = info.password() {
            config.password(pw);
        }
        let connected =
            rt.block_on(async { tokio::time::timeout(timeout, config.connect(NoTls)).await });
        let (client, connection) = match connected {
            Err(_elapsed) => {
                return Err(unreachable(
                    info,
                    &format!("timed out after {}", fmt_duration(timeout)),
                ))
            }
            Ok(Err(e)) => return Err(connect_error(info, timeout, &e)),
            Ok(Ok(pair)) => pair,
        };
        rt.spawn(async move {
            // Errors here surface on the next query as "connection closed".
            let _ = connection.await;
        });
        Ok(Pg {
            client,
            rt,
            info: info.clone(),
        })
    }

    /// What this connection points at.
    pub fn info(&self) -> &ConnInfo {
        &self.info
    }

    pub fn server_version(&self) -> Result<ServerVersion> {
        let row = self.query_row(
            "read the server version",
            "SELECT current_setting('server_version_num')::int4, current_setting('server_version')",
            &[],
        )?;
        let num: i32 = row.get(0);
        Ok(ServerVersion {
            num: num as u32,
            text: row.get(1),
        })
    }

    /// `pg_database_size(db)` in bytes.
    pub fn database_size(&self, db: &str) -> Result<u64> {
        let row = self.query_row(
            &format!("measure database {db}"),
            "SELECT pg_database_size($1::text::name)",
            &[&db],
        )?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// Every ordinary and partitioned table of the connected database outside
    /// the system schemas, with its exact row count and total size, sorted by
    /// schema then name (byte order, independent of collation).
    pub fn table_stats(&self) -> Result<Vec<TableStat>> {
        self.table_stats_except(&[])
    }

    /// Per table (`schema.name`), the md5 of all its rows as text, sorted in
    /// byte order: equal checksums mean equal contents. Reads every row, so
    /// this is for tests and deep verification only.
    pub fn table_checksums(&self) -> Result<Vec<(String, String)>> {
        let mut sums = Vec::new();
        for (schema, name, _) in self.user_tables(&[])? {
            // `(r.*)::text` is the whole row even when a column is named `r`.
            let sql = format!(
                "SELECT md5(coalesce(string_agg((r.*)::text, E'\\n' ORDER BY (r.*)::text COLLATE \"C\"), '')) FROM {} AS r",
                quote_qualified(&schema, &name)
            );
            let row = self.query_row(&format!("checksum {schema}.{name}"), &sql, &[])?;
            sums.push((format!("{schema}.{name}"), row.get::<_, String>(0)));
        }
        Ok(sums)
    }

    /// (schema, name, total bytes) of user tables, sorted in byte order.
    /// The size takes a share lock on the table until the transaction ends;
    /// tables in `skip` are not touched (their size is 0).
    fn user_tables(&self, skip: &[(String, String)]) -> Result<Vec<(String, String, u64)>> {
        let schemas: Vec<&str> = skip.iter().map(|(s, _)| s.as_str()).collect();
        let names: Vec<&str> = skip.iter().map(|(_, n)| n.as_str()).collect();
        let rows = self.query(
            "list tables",
            "SELECT n.nspname::text, c.relname::text,
                    CASE WHEN EXISTS (SELECT 1 FROM unnest($1::text[], $2::text[]) u(s, t)
                                       WHERE u.s = n.nspname AND u.t = c.relname)
                         THEN 0 ELSE pg_total_relation_size(c.oid) END
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind IN ('r', 'p')
                AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                AND n.nspname NOT LIKE 'pg\\_toast%'
                AND n.nspname NOT LIKE 'pg\\_temp\\_%'",
            &[&schemas, &names],
        )?;
        let mut tables: Vec<(String, String, u64)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get::<_, i64>(2) as u64))
            .collect();
        tables.sort();
        Ok(tables)
    }

    pub fn database_exists(&self, name: &str) -> Result<bool> {
        let row = self.query_row(
            &format!("look up database {name}"),
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1::text)",
            &[&name],
        )?;
        Ok(row.get(0))
    }

    /// `CREATE DATABASE name TEMPLATE template0 [OWNER owner]`: an empty
    /// database, whatever was added to template1.
    pub fn create_database(&self, name: &str, owner: Option<&str>) -> Result<()> {
        let mut sql = format!("CREATE DATABASE {} TEMPLATE template0", quote_ident(name));
        if let Some(owner) = owner {
            sql.push_str(&format!(" OWNER {}", quote_ident(owner)));
        }
        self.run(&format!("create database {name}"), &sql)
    }

    /// Drop `name` if it exists, disconnecting its clients first (`WITH
    /// (FORCE)` on 13 and later).
    pub fn drop_database(&self, name: &str) -> Result<()> {
        let what = format!("drop database {name}");
        if self.server_version()?.num >= 130000 {
            self.run(
                &what,
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name)),
            )
        } else {
            self.terminate_connections(name)?;
            self.run(
                &what,
                &format!("DROP DATABASE IF EXISTS {}", quote_ident(name)),
            )
        }
    }

    /// `ALTER DATABASE from RENAME TO to`; fails while anyone is connected to
    /// `from` (terminate them first).
    pub fn rename_database(&self, from: &str, to: &str) -> Result<()> {
        self.run(
            &format!("rename database {from} to {to}"),
            &format!(
                "ALTER DATABASE {} RENAME TO {}",
                quote_ident(from),
                quote_ident(to)
            ),
        )
    }

    /// In one transaction: `live` becomes `kept` (and accepts connections
    /// again), `new` becomes `live`. Either both names move or neither
    /// does: a process killed here never leaves the app without a database
    /// under its name.
    pub fn swap_databases(&self, live: &str, kept: &str, new: &str) -> Result<()> {
        self.run(
            &format!("swap database {new} into place of {live}"),
            &format!(
                "BEGIN; ALTER DATABASE {l} RENAME TO {k}; ALTER DATABASE {n} RENAME TO {l}; \
                 ALTER DATABASE {k} WITH ALLOW_CONNECTIONS true; COMMIT",
                l = quote_ident(live),
                k = quote_ident(kept),
                n = quote_ident(new)
            ),
        )
    }

    /// Sessions connected to `db`, not counting this one.
    pub fn connection_count(&self, db: &str) -> Result<u64> {
        let row = self.query_row(
            &format!("count connections to {db}"),
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1::text AND pid <> pg_backend_pid()",
            &[&db],
        )?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// Terminate every other session on `db`; returns how many were
    /// terminated. On 14 and later it waits (up to 5 s each) until they are
    /// gone, so a rename or drop can follow at once.
    pub fn terminate_connections(&self, db: &str) -> Result<u64> {
        let call = if self.server_version()?.num >= 140000 {
            "pg_terminate_backend(pid, 5000)"
        } else {
            "pg_terminate_backend(pid)"
        };
        let sql = format!(
            "SELECT count(*) FILTER (WHERE ok) FROM (SELECT {call} AS ok FROM pg_stat_activity WHERE datname = $1::text AND pid <> pg_backend_pid()) t"
        );
        let row = self.query_row(
            &format!("disconnect clients of database {db}"),
            &sql,
            &[&db],
        )?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// Block new connections to `db` (`ALLOW_CONNECTIONS false`) or allow
    /// them again.
    pub fn set_allow_connections(&self, db: &str, allow: bool) -> Result<()> {
        let verb = if allow { "allow" } else { "block" };
        self.run(
            &format!("{verb} connections to database {db}"),
            &format!(
                "ALTER DATABASE {} WITH ALLOW_CONNECTIONS {allow}",
                quote_ident(db)
            ),
        )
    }

    /// Run one or more statements (simple protocol); returns the rows
    /// affected, summed over statements.
    pub fn execute(&self, sql: &str) -> Result<u64> {
        let msgs = self
            .rt
            .block_on(self.client.simple_query(sql))
            .map_err(|e| self.query_error("run SQL", &e))?;
        Ok(msgs
            .iter()
            .map(|m| match m {
                SimpleQueryMessage::CommandComplete(n) => *n,
                _ => 0,
            })
            .sum())
    }

    /// Open a read-only repeatable-read transaction on this connection and
    /// export its snapshot, so `pg_dump --snapshot` dumps exactly what later
    /// queries on this connection (row counts) see. The transaction stays
    /// open until this `Pg` is dropped.
    pub fn export_snapshot(&self) -> Result<String> {
        let msgs = self
            .rt
            .block_on(self.client.simple_query(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT pg_export_snapshot();",
            ))
            .map_err(|e| self.query_error("export a snapshot", &e))?;
        msgs.iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                _ => None,
            })
            .ok_or_else(|| {
                Error::external(format!(
                    "{} did not return a snapshot id",
                    self.info.describe()
                ))
            })
    }

    /// The first column of the first row of `sql`, as an integer.
    pub fn query_one_i64(&self, sql: &str) -> Result<i64> {
        let msgs = self
            .rt
            .block_on(self.client.simple_query(sql))
            .map_err(|e| self.query_error("run SQL", &e))?;
        let value = msgs.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_string)),
            _ => None,
        });
        match value {
            Some(Some(text)) => text.trim().parse().map_err(|_| {
                Error::external(format!(
                    "query on {} returned {text:?}, not an integer",
                    self.info.describe()
                ))
            }),
            Some(None) => Err(Error::external(format!(
                "query on {} returned NULL, not an integer",
                self.info.describe()
            ))),
            None => Err(Error::external(format!(
                "query on {} returned no rows",
                self.info.describe()
            ))),
        }
    }

    /// Tables whose data a parallel dump reads itself, in page ranges:
    /// ordinary tables of at least `min_bytes` of heap by the planner's
    /// statistics (`relpages`: read from the catalog, so no table is locked
    /// before pg_dump locks it; a stale value only changes how the work is
    /// split, as the last range is open-ended) outside the
    /// system schemas, not members of an extension (pg_dump decides what of
    /// those to dump), with their dumpable columns (no dropped or generated
    /// ones) in order. Runs in this connection's transaction, so call it
    /// after [`Pg::export_snapshot`].
    pub fn split_candidates(&self, min_bytes: u64) -> Result<Vec<SplitTable>> {
        let rows = self.query(
            "list large tables",
            "SELECT n.nspname::text, c.relname::text,
                    c.relpages::int8,
                    c.relfilenode::int8,
                    array(SELECT a.attname::text FROM pg_attribute a
                           WHERE a.attrelid = c.oid AND a.attnum > 0
                             AND NOT a.attisdropped AND a.attgenerated = ''
                           ORDER BY a.attnum)
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind = 'r' AND c.relpersistence = 'p'
                AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                AND n.nspname NOT LIKE 'pg\\_toast%'
                AND n.nspname NOT LIKE 'pg\\_temp\\_%'
                AND c.relpages::int8 * current_setting('block_size')::int8 >= $1::int8
                AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                 WHERE d.classid = 'pg_class'::regclass
                                   AND d.objid = c.oid AND d.deptype = 'e')",
            &[&(min_bytes.min(i64::MAX as u64) as i64)],
        )?;
        let mut tables: Vec<SplitTable> = rows
            .iter()
            .map(|r| SplitTable {
                schema: r.get(0),
                name: r.get(1),
                pages: r.get::<_, i64>(2).max(0) as u64,
                filenode: r.get::<_, i64>(3),
                columns: r.get(4),
            })
            .filter(|t| !t.columns.is_empty())
            .collect();
        tables.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        Ok(tables)
    }

    /// `pg_encoding_to_char(encoding)` of the connected database.
    pub fn database_encoding(&self) -> Result<String> {
        let row = self.query_row(
            "read the database encoding",
            "SELECT pg_encoding_to_char(encoding)::text FROM pg_database WHERE datname = current_database()",
            &[],
        )?;
        Ok(row.get(0))
    }

    /// Like [`Pg::table_stats`], without touching the tables in `skip`
    /// (schema, name), so no lock is taken on them: their `rows` and
    /// `bytes` are 0 for the caller to fill in.
    pub fn table_stats_except(&self, skip: &[(String, String)]) -> Result<Vec<TableStat>> {
        self.table_stats_counted(skip, &[])
    }

    /// [`Pg::table_stats_except`], taking the rows of the tables in
    /// `counted` from a count already made in the same snapshot (a content
    /// digest's COPY) instead of scanning them again. A table with
    /// inheritance children is counted anyway: `count(*)` includes their
    /// rows, a `COPY ... FROM ONLY` does not.
    pub fn table_stats_counted(
        &self,
        skip: &[(String, String)],
        counted: &[(&str, &str, u64)],
    ) -> Result<Vec<TableStat>> {
        let with_children: Vec<(String, String)> = if counted.is_empty() {
            Vec::new()
        } else {
            self.query(
                "list tables with children",
                "SELECT n.nspname::text, c.relname::text
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relhassubclass",
                &[],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
        };
        let mut stats = Vec::new();
        for (schema, name, bytes) in self.user_tables(skip)? {
            let known = counted
                .iter()
                .find(|(s, n, _)| *s == schema && *n == name)
                .filter(|_| {
                    !with_children
                        .iter()
                        .any(|(s, n)| *s == schema && *n == name)
                });
            let rows = if skip.iter().any(|(s, n)| *s == schema && *n == name) {
                0
            } else if let Some((_, _, rows)) = known {
                *rows
            } else {
                let sql = format!("SELECT count(*) FROM {}", quote_qualified(&schema, &name));
                let row = self.query_row(&format!("count rows of {schema}.{name}"), &sql, &[])?;
                row.get::<_, i64>(0) as u64
            };
            stats.push(TableStat {
                rows,
                schema,
                name,
                bytes,
            });
        }
        Ok(stats)
    }

    /// Stream the output of a `COPY ... TO STDOUT` into `sink`, one piece
    /// (usually a row) at a time. An error from `sink` stops the copy.
    pub fn copy_out(
        &self,
        what: &str,
        sql: &str,
        mut sink: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        use futures_util::StreamExt;
        self.rt.block_on(async {
            let stream = self
                .client
                .copy_out(sql)
                .await
                .map_err(|e| self.query_error(what, &e))?;
            futures_util::pin_mut!(stream);
            while let Some(piece) = stream.next().await {
                let piece = piece.map_err(|e| self.query_error(what, &e))?;
                sink(&piece)?;
            }
            Ok(())
        })
    }

    /// Start a `COPY ... FROM STDIN`; feed it with [`CopyIn::send`] and end
    /// it with [`CopyIn::finish`]. Dropping it unfinished aborts the copy.
    pub fn copy_in(&self, what: &str, sql: &str) -> Result<CopyIn<'_>> {
        let sink = self
            .rt
            .block_on(self.client.copy_in::<_, bytes::Bytes>(sql))
            .map_err(|e| self.query_error(what, &e))?;
        Ok(CopyIn {
            pg: self,
            sink: Box::pin(sink),
            what: what.to_string(),
        })
    }

    /// Names of all non-template databases, sorted.
    pub fn list_databases(&self) -> Result<Vec<String>> {
        let rows = self.query(
            "list databases",
            "SELECT datname::text FROM pg_database WHERE NOT datistemplate",
            &[],
        )?;
        let mut names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        names.sort();
        Ok(names)
    }

    pub(super) fn query(
        &self,
        what: &str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>> {
        self.rt
            .block_on(self.client.query(sql, params))
            .map_err(|e| self.query_error(what, &e))
    }

    fn query_row(
        &self,
        what: &str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<tokio_postgres::Row> {
        self.rt
            .block_on(self.client.query_one(sql, params))
            .map_err(|e| self.query_error(what, &e))
    }

    pub(super) fn run(&self, what: &str, sql: &str) -> Result<()> {
        self.rt
            .block_on(self.client.batch_execute(sql))
            .map_err(|e| self.query_error(what, &e))
    }

    /// "cannot create database x on 127.0.0.1:5432: <server message>", with
    /// the kind and hint chosen from the SQLSTATE.
    fn query_error(&self, what: &str, e: &tokio_postgres::Error) -> Error {
        let on = format!("cannot {what} on {}", self.info.server());
        let Some(db) = e.as_db_error() else {
            if e.is_closed() {
                return Error::new(
                    crate::error::ErrorKind::Io,
                    format!("{on}: the connection to the server was lost"),
                )
                .hint("check the server is still running, then run it again");
            }
            return Error::external(format!("{on}: {}", plain_cause(e)));
        };
        let msg = format!("{on}: {}", db.message());
        let code = db.code();
        if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            Error::refused(msg).hint(format!(
                "the role {} lacks a privilege this needs; grant it or use a role that has it in [sources.database] url",
                self.info.user
            ))
        } else if *code == SqlState::UNDEFINED_DATABASE {
            Error::not_found(msg).hint("check the database name (`psql -l` lists the databases)")
        } else if *code == SqlState::DUPLICATE_DATABASE {
            Error::refused(msg).hint(
                "choose another name, or drop the existing database first if it is really unwanted",
            )
        } else if *code == SqlState::OBJECT_IN_USE {
            Error::refused(msg)
                .hint("other sessions are using that database; disconnect them first")
        } else {
            let mut err = Error::external(msg);
            if let Some(h) = db.hint() {
                err = err.hint(h.to_string());
            }
            err
        }
    }
}
