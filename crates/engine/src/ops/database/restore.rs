//! Restoring a database dump: to a new database, in place by swapping names,
//! or into a scratch database for deep verification.

use super::spool::{open_plain, TempDump};
use super::*;
use crate::Cancel;

/// What the operator asked a database restore to do.
#[derive(Debug, Clone)]
pub struct DbRestoreRequest {
    pub selector: Selector,
    /// New database name (default `<db>_restored_<timestamp>`).
    pub target_db: Option<String>,
    /// Replace the live database (restore beside it, check, swap names).
    pub in_place: bool,
    pub yes: bool,
    pub dry_run: bool,
    /// pg_restore --jobs (custom format only).
    pub jobs: u32,
    /// Skip ownership (pg_restore --no-owner) and the creation of roles.
    pub no_owner: bool,
    /// pg_restore --role: run the restore as this role.
    pub role: Option<String>,
    /// Give roles that exist already the recorded attributes, settings and
    /// memberships (by default only missing roles are created).
    pub update_roles: bool,
    /// Compare the restored contents with the backup's digests (drills).
    pub check_content: bool,
    /// Read the backup from this copy target, not the repository.
    pub from: Option<String>,
    /// In place: who stops and starts the app around the swap.
    pub app: crate::ops::app::AppControl,
}

/// What a database restore did or would do.
#[derive(Debug, Clone, Serialize)]
pub struct DbRestoreReport {
    pub id: String,
    pub source_database: String,
    pub target_database: String,
    pub dry_run: bool,
    pub in_place: bool,
    /// For in place: the old database, kept under this name.
    pub kept_as: Option<String>,
    /// Objects pg_restore would restore (dry run, custom format).
    pub objects: Vec<String>,
    pub tables_checked: usize,
    pub rows_checked: u64,
    /// With `check_content`: tables whose rows matched the backup's digests.
    pub contents_checked: Option<usize>,
    pub seconds: f64,
    pub notes: Vec<String>,
}

pub fn restore(
    engine: &Engine,
    req: &DbRestoreRequest,
    face: &dyn Progress,
    cancel: &Cancel,
) -> Result<DbRestoreReport> {
    let artifact = select::resolve_from(
        engine,
        Some(BackupType::Database),
        &req.selector,
        req.from.as_deref(),
    )?;
    crate::ops::jobs::run_restore_job(
        engine,
        &artifact.manifest.id,
        req.dry_run,
        face,
        cancel,
        |job, cancel| restore_inner(engine, req, &artifact, job, cancel),
        |r| {
            format!(
                "{} -> database {}{}",
                r.id,
                r.target_database,
                r.kept_as
                    .as_ref()
                    .map(|k| format!(" (previous kept as {k})"))
                    .unwrap_or_default()
            )
        },
    )
}

/// A database this process created and must drop unless told to keep it.
struct ScratchDb<'a> {
    pg: &'a Pg,
    name: String,
    keep: bool,
}

impl Drop for ScratchDb<'_> {
    fn drop(&mut self) {
        if !self.keep {
            let _ = self.pg.drop_database(&self.name);
        }
    }
}

fn valid_db_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 63 || name.contains('\0') {
        return Err(
            Error::usage(format!("invalid database name '{name}'")).hint("use 1-63 characters")
        );
    }
    Ok(())
}

/// The restore itself, in the order it must run: nothing of the dump reaches
/// a server before [`DbRestore::start`] has checked it, a dry run stops after
/// describing, and a real one takes the database's lock, makes the server
/// ready (leftovers, options, roles), then loads and checks a new database
/// that only [`DbRestore::put_in_place`] keeps.
fn restore_inner(
    engine: &Engine,
    req: &DbRestoreRequest,
    artifact: &Artifact,
    job: &Job,
    cancel: &AtomicBool,
) -> Result<DbRestoreReport> {
    let started = Instant::now();
    let run = DbRestore::start(engine, req, artifact, job, cancel)?;
    let mut report = run.report();
    if req.dry_run {
        run.describe(&mut report)?;
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }
    run.lock_and_confirm()?;
    // In place, the app is stopped for the load and the swap, and
    // started (and checked) after.
    let control = if req.in_place {
        req.app
    } else {
        crate::ops::app::AppControl::Leave
    };
    let (mut report, app_notes) = crate::ops::app::around_restore(engine, control, job, || {
        if req.in_place {
            run.drop_leftovers()?;
        }
        let extra = run.restore_options(&mut report.notes)?;
        let kept_roles = run.create_roles(&mut report.notes)?;
        run.load(&extra, &kept_roles, &mut report)?;
        Ok(report)
    })?;
    report.notes.extend(app_notes);
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Verify every byte of the backup and reach the server, side by side; then
/// refuse a server older than the dump's and find the tool that restores it
/// (psql for a plain dump, pg_restore otherwise). Returns the backup's data
/// key, the server, a connection to its `postgres` database and the tool.
fn check_and_connect(
    engine: &Engine,
    artifact: &Artifact,
    facts: &DatabaseFacts,
    job: &Job,
) -> Result<(Option<DataKey>, ConnInfo, Pg, pgsrc::Tool)> {
    job.phase("checking the backup");
    let ring = engine.ring_for(&[&artifact.manifest])?;
    // A dump is code that runs as the database user: nothing of it reaches
    // a server before every byte is verified. Reading every byte and
    // connecting (which sends nothing of it) go side by side; the
    // verification's verdict comes first.
    let (dk, connected) = std::thread::scope(|s| {
        let checked = s.spawn(|| check_integrity(artifact, ring.as_ref()));
        let connected = (|| -> Result<_> {
            let server_info = server(engine)?;
            let admin_info = server_info.with_db("postgres");
            let pg = Pg::connect(&admin_info, CONNECT_TIMEOUT)?;
            let version = pg.server_version()?;
            Ok((server_info, pg, version))
        })();
        let checked = checked
            .join()
            .unwrap_or_else(|_| Err(Error::integrity("the backup check stopped unexpectedly")));
        (checked, connected)
    });
    let dk = dk?;
    job.phase("connecting");
    let (server_info, pg, version) = connected?;
    if facts.server_version_num / 10000 > version.num / 10000 {
        return Err(Error::refused(format!(
            "backup {} was made from PostgreSQL {} but the server {}:{} runs {}; a dump from a newer server cannot be restored into an older one",
            artifact.manifest.id, facts.server_version, server_info.host, server_info.port, version.text
        ))
        .hint("restore into a server of the same or a newer major version"));
    }
    let restore_tool = pgsrc::tool(if facts.format == "plain" {
        "psql"
    } else {
        "pg_restore"
    })?;
    if facts.format != "plain" {
        pgsrc::check_tool_version(&restore_tool, &version)?;
    }
    Ok((dk, server_info, pg, restore_tool))
}

/// A database restore once the backup is verified, the server reached and
/// the new database named. Its steps are methods, called by
/// [`restore_inner`] in the order they must run.
struct DbRestore<'a> {
    req: &'a DbRestoreRequest,
    artifact: &'a Artifact,
    job: &'a Job<'a>,
    cancel: &'a AtomicBool,
    facts: DatabaseFacts,
    /// The backup's data key, opened by its integrity check.
    dk: Option<DataKey>,
    /// The configured server, without a database chosen.
    server_info: ConnInfo,
    /// Connected to the server's `postgres` database: creates, drops and
    /// renames databases, and stays open until the restore ends.
    pg: Pg,
    /// psql for a plain dump, pg_restore otherwise.
    restore_tool: pgsrc::Tool,
    /// The backup's database: the one an in-place restore replaces.
    live: String,
    /// The new database the restore creates and loads.
    target: String,
    /// When the restore started (`%Y%m%d_%H%M%S`), in the names it gives.
    stamp: String,
}

impl<'a> DbRestore<'a> {
    /// Refuse what cannot work before anything is created: flags a plain
    /// dump cannot honour, a backup that fails its check, a server older
    /// than the dump's, a target name that is taken or invalid, and in place
    /// a live database that is not there.
    fn start(
        engine: &Engine,
        req: &'a DbRestoreRequest,
        artifact: &'a Artifact,
        job: &'a Job<'a>,
        cancel: &'a AtomicBool,
    ) -> Result<DbRestore<'a>> {
        let facts = facts(artifact)?;
        if facts.format == "plain" && (req.role.is_some() || req.no_owner || req.jobs > 1) {
            return Err(Error::usage(format!(
                "backup {} is a plain SQL dump: it runs as the connecting user with the ownership it records, so --role, --no-owner and --jobs do not apply",
                artifact.manifest.id
            ))
            .hint("restore without those flags, or take database backups with format = \"custom\" (the default) to use them"));
        }
        let (dk, server_info, pg, restore_tool) = check_and_connect(engine, artifact, &facts, job)?;

        let live = facts.database.clone();
        let stamp = Utc::now().format("%Y%m%d_%H%M%S").to_string();
        let target = if req.in_place {
            if req.target_db.is_some() {
                return Err(Error::usage("--in-place and --target-db are exclusive"));
            }
            // Random too: a restore killed and run again within the second
            // must not meet its predecessor's leftover.
            format!("{live}_lbrestore_{stamp}_{:04x}", rand::random::<u16>())
        } else {
            req.target_db
                .clone()
                .unwrap_or_else(|| format!("{live}_restored_{stamp}"))
        };
        valid_db_name(&target)?;
        if pg.database_exists(&target)? {
            return Err(Error::refused(format!("database {target} already exists on {}:{}", server_info.host, server_info.port))
                .hint("choose another name with --target-db, or drop that database first if it is really not needed"));
        }
        if req.in_place && !pg.database_exists(&live)? {
            return Err(Error::not_found(format!(
                "database {live} does not exist on {}:{}: nothing to restore in place",
                server_info.host, server_info.port
            ))
            .hint("restore it as a new database with --target-db"));
        }
        Ok(DbRestore {
            req,
            artifact,
            job,
            cancel,
            facts,
            dk,
            server_info,
            pg,
            restore_tool,
            live,
            target,
            stamp,
        })
    }

    /// The report as the restore starts. In place, its target is the live
    /// database's name, which the new database takes at the swap.
    fn report(&self) -> DbRestoreReport {
        let req = self.req;
        DbRestoreReport {
            id: self.artifact.manifest.id.clone(),
            source_database: self.live.clone(),
            target_database: if req.in_place {
                self.live.clone()
            } else {
                self.target.clone()
            },
            dry_run: req.dry_run,
            in_place: req.in_place,
            kept_as: None,
            objects: Vec::new(),
            tables_checked: 0,
            rows_checked: 0,
            contents_checked: None,
            seconds: 0.0,
            notes: Vec::new(),
        }
    }

    /// A dry run: what would be restored and how, said in the report's
    /// objects and notes. Reads the server, changes nothing.
    fn describe(&self, report: &mut DbRestoreReport) -> Result<()> {
        let (req, facts, artifact) = (self.req, &self.facts, self.artifact);
        let (live, target) = (&self.live, &self.target);
        if facts.format != "plain" {
            report.objects = list_objects(artifact, self.dk.as_ref(), facts, &self.restore_tool)?;
            if let Some(pf) = &facts.parallel {
                for t in &pf.tables {
                    report.notes.push(format!(
                        "table data of {}.{}: {} rows in {} range(s), loaded by lifeboat with {} session(s) between pg_restore's data and post-data sections",
                        t.schema, t.name, t.rows, t.ranges, pf.workers
                    ));
                }
            }
        } else {
            report.notes.push(format!(
                "plain SQL dump of {} bytes, run with psql -v ON_ERROR_STOP=1 --single-transaction",
                artifact.manifest.payload.size
            ));
        }
        if let Some(p) = &facts.properties {
            report.notes.push(format!(
                "would create {target} with encoding {}, LC_COLLATE {}, LC_CTYPE {}, then give it owner {}{}{}, {} database setting(s) and {} role setting(s) as {live} had",
                p.encoding,
                p.lc_collate,
                p.lc_ctype,
                if req.no_owner { "(kept: --no-owner)" } else { p.owner.as_str() },
                if p.acl.is_some() { ", its privileges" } else { "" },
                if p.comment.is_some() { ", its comment" } else { "" },
                p.settings.len(),
                p.role_settings.iter().map(|r| r.settings.len()).sum::<usize>()
            ));
        }
        if let Some(g) = &facts.globals {
            self.describe_globals(g, &mut report.notes)?;
        }
        if req.in_place {
            report.notes.push(format!(
                "would restore into {target}, check it, then rename {live} to {live}_pre_restore_<time> and {target} to {live} (connections to {live} are terminated only for the swap)"
            ));
        }
        Ok(())
    }

    /// The dry run's notes on the backup's roles and tablespaces: which
    /// roles would be created or updated, which tablespaces this server
    /// lacks.
    fn describe_globals(&self, g: &pgsrc::Globals, notes: &mut Vec<String>) -> Result<()> {
        let req = self.req;
        let names: Vec<String> = g.roles.iter().map(|r| r.name.clone()).collect();
        let missing = self.pg.missing_roles(&names)?;
        if req.no_owner {
            notes.push("would create no roles and restore no ownership (--no-owner)".to_string());
        } else if !missing.is_empty() {
            notes.push(format!(
                "would create {} missing role(s) before loading: {}",
                missing.len(),
                missing.join(", ")
            ));
        }
        if req.update_roles {
            let existing: Vec<&str> = names
                .iter()
                .filter(|n| !missing.contains(n))
                .map(String::as_str)
                .collect();
            if !existing.is_empty() {
                notes.push(format!(
                    "would give existing role(s) {} the attributes, settings and memberships of the backup (--update-roles)",
                    existing.join(", ")
                ));
            }
        }
        let spaces = self.pg.missing_tablespaces(&g.tablespaces)?;
        if !spaces.is_empty() {
            notes.push(format!(
                "tablespace(s) {} missing on this server: their objects would go to the default tablespace (--no-tablespaces)",
                spaces.join(", ")
            ));
        }
        Ok(())
    }

    /// Take the job's lock on the database the restore replaces (in place)
    /// or creates; then, in place, refuse to go on without `--yes`.
    fn lock_and_confirm(&self) -> Result<()> {
        let (req, live) = (self.req, &self.live);
        let held = if req.in_place { live } else { &self.target };
        self.job
            .acquire(&format!("database {}/{held}", self.server_info.server()))?;
        if req.in_place && !req.yes {
            return Err(Error::refused(format!("restoring in place replaces the live database {live}"))
                .hint("look first with --dry-run; add --yes to go ahead (the current database is kept as <name>_pre_restore_<time>, and `lifeboat restore --undo` swaps it back)"));
        }
        Ok(())
    }

    /// In place: drop what interrupted in-place restores of the live
    /// database left half-loaded.
    fn drop_leftovers(&self) -> Result<()> {
        let (live, target) = (&self.live, &self.target);
        // Holding the live database's lock, any `<live>_lbrestore_*` is what
        // an interrupted in-place restore left half-loaded: never a live
        // database (a finished restore renames it to `<live>`).
        let leftover = format!("{live}_lbrestore_");
        for name in self.pg.list_databases()? {
            if name.starts_with(&leftover) && &name != target {
                self.pg.drop_database(&name)?;
                self.job.log(
                    "info",
                    &format!("dropped {name}, left half-loaded by an interrupted in-place restore of {live}"),
                );
            }
        }
        Ok(())
    }

    /// pg_restore options the server in hand calls for: no tablespaces it
    /// lacks, and with `--no-owner` no privileges for roles it lacks. Each
    /// one adds a note saying so.
    fn restore_options(&self, notes: &mut Vec<String>) -> Result<Vec<String>> {
        let facts = &self.facts;
        let mut extra = Vec::new();
        if check_tablespaces(&self.pg, facts, notes)? {
            extra.push("--no-tablespaces".to_string());
        }
        if let (Some(g), true) = (&facts.globals, self.req.no_owner) {
            // Without the roles, their GRANTs cannot load either.
            let names: Vec<String> = g.roles.iter().map(|r| r.name.clone()).collect();
            let missing = self.pg.missing_roles(&names)?;
            if !missing.is_empty() {
                extra.push("--no-privileges".to_string());
                notes.push(format!(
                    "warning: role(s) {} do not exist on this server and --no-owner creates none: restored without privileges (--no-privileges)",
                    missing.join(", ")
                ));
            }
        }
        Ok(extra)
    }

    /// Roles first: the dump's OWNER TO and GRANT statements name them.
    /// Creates the backup's missing roles (and with `--update-roles` gives
    /// existing ones its attributes), unless `--no-owner`. Returns what a
    /// later failure adds to its message: roles created are kept even if
    /// the restore fails.
    fn create_roles(&self, notes: &mut Vec<String>) -> Result<String> {
        let req = self.req;
        let mut kept_roles = String::new();
        if let (Some(g), false) = (&self.facts.globals, req.no_owner) {
            self.job.phase("creating the backup's missing roles");
            let passwords = role_passwords(self.artifact, g, self.dk.as_ref())?;
            let applied = self.pg.apply_globals(g, &passwords, req.update_roles)?;
            if !applied.created.is_empty() {
                notes.push(format!(
                    "created role(s) {} as the backup recorded them{}",
                    applied.created.join(", "),
                    if g.passwords == "encrypted" {
                        ""
                    } else {
                        " (without passwords: the backup kept none)"
                    }
                ));
                kept_roles = format!(
                    " except the role(s) it created ({}), which were kept",
                    applied.created.join(", ")
                );
            }
            if !applied.updated.is_empty() {
                notes.push(format!(
                    "gave existing role(s) {} the attributes, settings and memberships of the backup (--update-roles)",
                    applied.updated.join(", ")
                ));
            }
            notes.extend(applied.notes);
        }
        Ok(kept_roles)
    }

    /// Create the new database, load the dump into it and check it. The new
    /// database is a [`ScratchDb`]: any failure (or cancel) from its
    /// creation on drops it again when this returns, and only
    /// [`DbRestore::put_in_place`] keeps it.
    fn load(&self, extra: &[String], kept_roles: &str, report: &mut DbRestoreReport) -> Result<()> {
        let (req, facts, target) = (self.req, &self.facts, &self.target);
        self.job.phase(&format!("creating database {target}"));
        create_target(&self.pg, target, facts, req.role.as_deref())?;
        let mut scratch = ScratchDb {
            pg: &self.pg,
            name: target.clone(),
            keep: false,
        };
        let target_info = self.server_info.with_db(target);
        if facts.parallel.is_some() && req.jobs > 1 {
            report.notes.push(format!(
                "--jobs {} does not apply to this backup: its large tables load with the {} session(s) it was dumped with",
                req.jobs,
                facts.parallel.as_ref().map(|p| p.workers).unwrap_or(1)
            ));
        }
        self.load_and_check(&target_info, extra, kept_roles, report)?;
        self.put_in_place(&mut scratch, report)
    }

    /// Every failure once the new database exists drops it (its
    /// `ScratchDb`) and says so, and which roles it kept.
    fn dropped(&self, e: &Error, kept_roles: &str) -> Error {
        let target = &self.target;
        Error::new(
            e.kind,
            format!(
                "{}; the new database {target} was dropped, nothing else was changed{kept_roles}",
                e.message
            ),
        )
    }

    /// Load the dump into the new database (`target_info`), compare its row
    /// counts with the manifest, give it the live database's properties and,
    /// with `--check-content`, compare its contents with the backup's
    /// digests. A failure says the new database was dropped.
    fn load_and_check(
        &self,
        target_info: &ConnInfo,
        extra: &[String],
        kept_roles: &str,
        report: &mut DbRestoreReport,
    ) -> Result<()> {
        let (req, facts, target, live) = (self.req, &self.facts, &self.target, &self.live);
        self.job.phase(&format!("restoring into {target}"));
        crate::crashpoint::hit("db-restore.loading");
        let loaded = run_restore(
            self.artifact,
            self.dk.as_ref(),
            facts,
            &self.restore_tool,
            target_info,
            req,
            extra,
            self.job,
            self.cancel,
        )
        .map_err(|e| {
            self.dropped(&e, kept_roles)
                .hint(e.hint.clone().unwrap_or_default())
        })?;

        self.job.phase("checking row counts");
        let (tables, rows) =
            check_counts(target_info, facts, &loaded).map_err(|e| self.dropped(&e, kept_roles))?;
        report.tables_checked = tables;
        report.rows_checked = rows;

        // After the data and its check, as `ALTER DATABASE ... SET` (a
        // search_path, a read-only default) applies to every later session.
        if let Some(props) = &facts.properties {
            self.job.phase(&format!(
                "giving {target} the owner, privileges and settings of {live}"
            ));
            let notes = self
                .pg
                .apply_database_props(target, props, req.no_owner)
                .map_err(|e| self.dropped(&e, kept_roles))?;
            report.notes.extend(notes);
        }
        if req.check_content {
            self.job.phase(&format!(
                "comparing the contents of {target} with the backup"
            ));
            let digested = check_content(target_info, facts)
                .and_then(|n| check_props(target_info, facts, req.no_owner).map(|_| n))
                .map_err(|e| self.dropped(&e, kept_roles))?;
            report.contents_checked = Some(digested);
            report.notes.push(format!(
                "contents checked: the rows of {digested} table(s), the sequences, large objects and database properties match the backup"
            ));
        }
        Ok(())
    }

    /// Keep the loaded and checked database: in place, swap it into the
    /// live database's name and keep the old one as
    /// `<live>_pre_restore_<stamp>` (a failed swap still drops the new
    /// one); otherwise keep it under its own name.
    fn put_in_place(
        &self,
        scratch: &mut ScratchDb<'_>,
        report: &mut DbRestoreReport,
    ) -> Result<()> {
        let (live, target, stamp) = (&self.live, &self.target, &self.stamp);
        if self.req.in_place {
            self.job
                .phase(&format!("swapping {target} into place of {live}"));
            // A restore of the same second (one that was killed after its
            // swap, then run again) may have kept a database by this name.
            let mut kept = format!("{live}_pre_restore_{stamp}");
            for n in 2.. {
                if !self.pg.database_exists(&kept)? {
                    break;
                }
                kept = format!("{live}_pre_restore_{stamp}_{n}");
            }
            crate::crashpoint::hit("db-restore.loaded");
            swap(&self.pg, live, &kept, target)?;
            scratch.keep = true;
            crate::crashpoint::hit("db-restore.swapped");
            report.kept_as = Some(kept.clone());
            report.notes.push(format!("the previous database is kept as {kept}; undo with: lifeboat restore --undo --db {live}"));
        } else {
            scratch.keep = true;
            report.notes.push(format!(
                "restored as a new database {target}; the live database {live} was not touched"
            ));
        }
        Ok(())
    }
}

/// Create the database a restore loads into, with the backup's encoding and
/// locale when its manifest records them (so the data fits and sorts as it
/// did); a server that cannot is refused with the reason.
fn create_target(pg: &Pg, name: &str, facts: &DatabaseFacts, owner: Option<&str>) -> Result<()> {
    let Some(p) = &facts.properties else {
        return pg.create_database(name, owner);
    };
    pg.create_database_like(name, p, owner).map_err(|e| {
        if e.kind != ErrorKind::External {
            return e;
        }
        let locale = match &p.locale {
            Some(l) => format!(", {} locale {l}", if p.locale_provider == "i" { "ICU" } else { "builtin" }),
            None => String::new(),
        };
        Error::refused(format!(
            "cannot create database {name} in the encoding and locale of database {} (encoding {}, LC_COLLATE {}, LC_CTYPE {}{locale}): {}",
            facts.database, p.encoding, p.lc_collate, p.lc_ctype, e.message
        ))
        .hint("a database in another encoding or locale could not hold the data as it was, or would sort it differently; install that locale on the server (e.g. locale-gen, then restart PostgreSQL), or restore on a server that has it")
    })
}

/// Tablespaces the backup's objects lived in that this server lacks: a
/// custom-format dump is then restored with `--no-tablespaces` (its objects
/// go to the default tablespace) and a note says so; a plain dump, whose
/// `SET default_tablespace` cannot be left out, is refused.
fn check_tablespaces(pg: &Pg, facts: &DatabaseFacts, notes: &mut Vec<String>) -> Result<bool> {
    let Some(g) = &facts.globals else {
        return Ok(false);
    };
    let missing = pg.missing_tablespaces(&g.tablespaces)?;
    if missing.is_empty() {
        return Ok(false);
    }
    if facts.format == "plain" {
        return Err(Error::refused(format!(
            "database {} used tablespace(s) {} that {} does not have",
            facts.database,
            missing.join(", "),
            pg.info().server()
        ))
        .hint("create them first (CREATE TABLESPACE name LOCATION '/path'), or restore on a server that has them"));
    }
    notes.push(format!(
        "warning: tablespace(s) {} do not exist on this server: restored with --no-tablespaces, so their objects are in the database's default tablespace",
        missing.join(", ")
    ));
    Ok(true)
}

/// The password hashes a backup sealed, opened with its data key.
fn role_passwords(
    artifact: &Artifact,
    g: &pgsrc::Globals,
    dk: Option<&DataKey>,
) -> Result<std::collections::BTreeMap<String, String>> {
    let Some(sealed) = &g.secrets else {
        return Ok(Default::default());
    };
    let dk = dk.ok_or_else(|| {
        Error::integrity(format!(
            "backup {} has sealed role passwords but no data key",
            artifact.manifest.id
        ))
    })?;
    let plain = crypto::open_small(dk, sealed)?;
    serde_json::from_slice(&plain).map_err(|e| {
        Error::integrity(format!(
            "the role passwords of backup {} are not readable: {e}",
            artifact.manifest.id
        ))
    })
}

/// Rename live -> kept and new -> live (one transaction), terminating
/// connections to live only for the moment of the swap.
fn swap(pg: &Pg, live: &str, kept: &str, new: &str) -> Result<()> {
    pg.set_allow_connections(live, false)?;
    let result = pg
        .terminate_connections(live)
        .and_then(|_| pg.swap_databases(live, kept, new));
    if result.is_err() {
        // Nothing moved: the live database takes connections again.
        let _ = pg.set_allow_connections(live, true);
    }
    result
}

/// `restore --undo`: put back the newest `<db>_pre_restore_*` database.
pub fn undo(engine: &Engine, db: Option<&str>, yes: bool) -> Result<String> {
    let info = server(engine)?;
    let db = db.map(str::to_string).unwrap_or(info.dbname.clone());
    let pg = Pg::connect(&info.with_db("postgres"), CONNECT_TIMEOUT)?;
    let prefix = format!("{db}_pre_restore_");
    let mut kept: Vec<String> = pg
        .list_databases()?
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect();
    kept.sort();
    let Some(previous) = kept.pop() else {
        return Err(Error::not_found(format!(
            "there is no {prefix}* database on {}:{} to go back to",
            info.host, info.port
        ))
        .hint("only an in-place restore keeps the previous database"));
    };
    if !yes {
        return Err(Error::refused(format!(
            "undo would replace the live database {db} with {previous}"
        ))
        .hint("add --yes to go ahead (the current one is kept as <name>_undone_<time>)"));
    }
    let stamp = Utc::now().format("%Y%m%d_%H%M%S");
    let undone = format!("{db}_undone_{stamp}");
    swap(&pg, &db, &undone, &previous)?;
    let msg = format!("database {db} is back to {previous}; the restored one is kept as {undone}");
    engine.audit("restore-undo", &db, "succeeded", &msg)?;
    Ok(msg)
}

/// Objects in a custom-format dump, from `pg_restore --list`.
fn list_objects(
    artifact: &Artifact,
    dk: Option<&DataKey>,
    facts: &DatabaseFacts,
    tool: &pgsrc::Tool,
) -> Result<Vec<String>> {
    let mut child = Command::new(&tool.path)
        .arg("--list")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::external(format!("cannot start {}: {e}", tool.path.display())))?;
    let stderr = drain_stderr(&mut child);
    let mut stdin = child.stdin.take().unwrap();
    let feeder = if facts.parallel.is_some() {
        let (artifact, dk) = (artifact.clone(), dk.cloned());
        std::thread::spawn(move || {
            let _ = parallel::feed_pg_dump(&artifact, dk.as_ref(), &mut stdin);
        })
    } else {
        let mut plain = open_plain(artifact, dk)?;
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut plain, &mut stdin);
        })
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .map_err(|e| Error::external(format!("pg_restore --list: {e}")))?;
    let status = child
        .wait()
        .map_err(|e| Error::external(format!("pg_restore --list: {e}")))?;
    let _ = feeder.join();
    let err = stderr.join().unwrap_or_default();
    if !status.success() {
        return Err(Error::external(format!("pg_restore --list failed: {err}")));
    }
    Ok(out
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(str::to_string)
        .collect())
}

#[allow(clippy::too_many_arguments)]
fn run_restore(
    artifact: &Artifact,
    dk: Option<&DataKey>,
    facts: &DatabaseFacts,
    tool: &pgsrc::Tool,
    target: &ConnInfo,
    req: &DbRestoreRequest,
    extra: &[String],
    job: &Job,
    cancel: &AtomicBool,
) -> Result<Loaded> {
    let passfile = PassFile::create(target)?;
    let plain_format = facts.format == "plain";
    if let Some(pf) = &facts.parallel {
        let mut base: Vec<String> = ["--no-password", "--exit-on-error", "--dbname"]
            .map(String::from)
            .to_vec();
        base.push(target.dbname.clone());
        if req.no_owner {
            base.push("--no-owner".into());
        }
        base.extend(extra.iter().cloned());
        if let Some(r) = &req.role {
            base.push(format!("--role={r}"));
        }
        return parallel::restore(
            artifact,
            dk,
            pf,
            tool,
            target,
            passfile.as_ref(),
            &base,
            req.role.as_deref(),
            job,
            cancel,
        );
    }
    let mut args: Vec<String> = Vec::new();
    let mut temp: Option<TempDump> = None;
    if plain_format {
        args.extend(
            [
                "--no-password",
                "--quiet",
                "-v",
                "ON_ERROR_STOP=1",
                "--single-transaction",
                "--no-psqlrc",
                "--dbname",
            ]
            .map(String::from),
        );
        args.push(target.dbname.clone());
        args.extend(["--file", "-"].map(String::from));
    } else {
        args.extend(["--no-password", "--exit-on-error", "--dbname"].map(String::from));
        args.push(target.dbname.clone());
        if req.no_owner {
            args.push("--no-owner".into());
        }
        args.extend(extra.iter().cloned());
        if let Some(r) = &req.role {
            args.push(format!("--role={r}"));
        }
        if req.jobs > 1 {
            // Parallel restore needs a seekable file: decrypt into a private
            // (0700) temp directory beside the repository's type directories,
            // removed when done (and by the next start if we die).
            job.phase("decrypting the dump for a parallel restore");
            let t = TempDump::write(artifact, dk, cancel)?;
            crate::crashpoint::hit("db-restore.spooled");
            args.push(format!("--jobs={}", req.jobs));
            args.push(t.path.to_string_lossy().into_owned());
            temp = Some(t);
        } else {
            args.push("--single-transaction".into());
        }
    }
    job.phase(&format!("restoring into {}", target.describe()));
    let stdin = if temp.is_some() {
        Stdio::null()
    } else {
        Stdio::piped()
    };
    let mut child = spawn(tool, &args, target, passfile.as_ref(), stdin, Stdio::null())?;
    let stderr = drain_stderr(&mut child);
    let feed = if temp.is_none() {
        let mut stdin = child.stdin.take().unwrap();
        let mut plain = open_plain(artifact, dk)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut done = 0u64;
        let r = (|| -> Result<()> {
            loop {
                check_cancel(cancel)?;
                let n = plain
                    .read(&mut buf)
                    .map_err(|e| artifact.payload_read_error(e))?;
                if n == 0 {
                    return Ok(());
                }
                // A closed pipe means the tool stopped; its status says why.
                if stdin.write_all(&buf[..n]).is_err() {
                    return Ok(());
                }
                done += n as u64;
                job.advance(done, 0);
            }
        })();
        drop(stdin);
        r
    } else {
        Ok(())
    };
    if feed.is_err() {
        let _ = child.kill();
    }
    let status = child
        .wait()
        .map_err(|e| Error::external(format!("{} did not finish: {e}", tool.path.display())))?;
    let err = stderr.join().unwrap_or_default();
    drop(temp);
    feed?;
    check_tool_exit(tool, target, status, &err)?;
    Ok(Loaded::new())
}

/// Rows per (schema, table) the server reported loading, for tables a
/// parallel restore loaded itself.
type Loaded = std::collections::HashMap<(String, String), u64>;

/// Compare a restored database's row counts with the manifest.
/// Tables a parallel restore loaded are not counted again: the server's
/// own COPY counts for them (in `loaded`) are compared instead.
fn check_counts(target: &ConnInfo, facts: &DatabaseFacts, loaded: &Loaded) -> Result<(usize, u64)> {
    let pg = Pg::connect(target, CONNECT_TIMEOUT)?;
    let skip: Vec<(String, String)> = loaded.keys().cloned().collect();
    let mut got = pg.table_stats_except(&skip)?;
    for g in &mut got {
        if let Some(n) = loaded.get(&(g.schema.clone(), g.name.clone())) {
            g.rows = *n;
        }
    }
    let mut problems = Vec::new();
    let mut rows = 0;
    for want in &facts.tables {
        match got
            .iter()
            .find(|g| g.schema == want.schema && g.name == want.name)
        {
            Some(g) if g.rows == want.rows => rows += g.rows,
            Some(g) => problems.push(format!(
                "{}.{} has {} rows, the backup had {}",
                want.schema, want.name, g.rows, want.rows
            )),
            None => problems.push(format!("table {}.{} is missing", want.schema, want.name)),
        }
    }
    if !problems.is_empty() {
        return Err(Error::integrity(format!(
            "the restored database {} does not match the backup: {}",
            target.dbname,
            problems.join("; ")
        )));
    }
    Ok((facts.tables.len(), rows))
}

/// Compare a restored database's contents with the digests the backup
/// recorded (tables, sequences, large objects); the number of tables whose
/// rows were compared by digest. Backups without digests compare nothing.
fn check_content(target: &ConnInfo, facts: &DatabaseFacts) -> Result<usize> {
    let Some(want) = &facts.content else {
        return Ok(0);
    };
    if want.digest != pgsrc::ROW_DIGEST {
        return Err(Error::integrity(format!(
            "the backup's content digests are of an unknown kind {}",
            want.digest
        ))
        .hint("verify it with the lifeboat version that made it"));
    }
    let pg = Pg::connect(target, CONNECT_TIMEOUT)?;
    let version = pg.server_version()?;
    pg.execute(&parallel::common_session(version.num))?;
    let got = pgsrc::ContentFacts {
        digest: want.digest.clone(),
        tables: pg.table_digests(&[])?,
        sequences: pg.sequence_states()?,
        large_objects: pg.large_objects()?,
    };
    let problems = pgsrc::compare_content(want, &got);
    if !problems.is_empty() {
        return Err(Error::integrity(format!(
            "the restored database {} does not match the backup: {}",
            target.dbname,
            problems.join("; ")
        )));
    }
    Ok(want.tables.len())
}

/// Compare the restored database's own properties with the backup's, by
/// field name (e.g. `comment`, `settings`, `acl`).
/// `--no-owner` leaves the owner out of the comparison.
fn check_props(target: &ConnInfo, facts: &DatabaseFacts, skip_owner: bool) -> Result<()> {
    let Some(want) = &facts.properties else {
        return Ok(());
    };
    let got = Pg::connect(target, CONNECT_TIMEOUT)?.database_props()?;
    let (w, g) = (
        serde_json::to_value(want).expect("serializes"),
        serde_json::to_value(&got).expect("serializes"),
    );
    let mut problems = Vec::new();
    if let (Some(w), Some(g)) = (w.as_object(), g.as_object()) {
        for (k, wv) in w {
            let gv = g.get(k).unwrap_or(&serde_json::Value::Null);
            if gv != wv && !(skip_owner && k == "owner") {
                problems.push(format!(
                    "database property {k} is {gv}, the backup recorded {wv}"
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(Error::integrity(format!(
            "the restored database {} does not match the backup: {}",
            target.dbname,
            problems.join("; ")
        )));
    }
    Ok(())
}

/// Result of a deep verification of a database backup.
#[derive(Debug, Clone, Serialize)]
pub struct DbVerify {
    pub scratch_database: String,
    pub tables: usize,
    pub rows: u64,
    /// Tables whose rows were compared by digest (0 for older backups).
    pub tables_digested: usize,
    /// Wall time of the restore: the measured RTO for this database.
    pub restore_seconds: f64,
}

/// Restore into a scratch database, compare row counts, drop it (always).
pub fn verify_deep(
    engine: &Engine,
    artifact: &Artifact,
    dk: Option<&DataKey>,
    job: &Job,
    cancel: &AtomicBool,
) -> Result<DbVerify> {
    let facts = facts(artifact)?;
    let server_info = server(engine)?;
    let pg = Pg::connect(&server_info.with_db("postgres"), CONNECT_TIMEOUT)?;
    let version = pg.server_version()?;
    if facts.server_version_num / 10000 > version.num / 10000 {
        return Err(Error::refused(format!(
            "backup {} was made from PostgreSQL {}; this server runs {}",
            artifact.manifest.id, facts.server_version, version.text
        )));
    }
    let tool = pgsrc::tool(if facts.format == "plain" {
        "psql"
    } else {
        "pg_restore"
    })?;
    let name = format!(
        "lb_verify_{}_{:06x}",
        std::process::id(),
        rand::random::<u32>() & 0xff_ffff
    );
    create_target(&pg, &name, &facts, None)?;
    let _scratch = ScratchDb {
        pg: &pg,
        name: name.clone(),
        keep: false,
    };
    let target = server_info.with_db(&name);
    let req = DbRestoreRequest {
        selector: Selector::Id(artifact.manifest.id.clone()),
        target_db: Some(name.clone()),
        in_place: false,
        yes: false,
        dry_run: false,
        jobs: 1,
        no_owner: false,
        role: None,
        update_roles: false,
        check_content: false,
        from: artifact.remote.as_ref().map(|t| t.name().to_string()),
        app: crate::ops::app::AppControl::Leave,
    };
    job.phase(&format!("restoring into scratch database {name}"));
    let t0 = Instant::now();
    let mut extra = Vec::new();
    if check_tablespaces(&pg, &facts, &mut Vec::new())? {
        extra.push("--no-tablespaces".to_string());
    }
    let loaded = run_restore(
        artifact, dk, &facts, &tool, &target, &req, &extra, job, cancel,
    )?;
    let restore_seconds = t0.elapsed().as_secs_f64();
    job.phase("comparing row counts with the manifest");
    let (tables, rows) = check_counts(&target, &facts, &loaded)?;
    job.phase("comparing contents with the manifest's digests");
    let tables_digested = check_content(&target, &facts)?;
    if let Some(props) = &facts.properties {
        job.phase("comparing the database's properties with the manifest");
        pg.apply_database_props(&name, props, false)?;
        check_props(&target, &facts, false)?;
    }
    Ok(DbVerify {
        scratch_database: name,
        tables,
        rows,
        tables_digested,
        restore_seconds,
    })
}
