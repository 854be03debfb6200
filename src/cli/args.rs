//! Command-line flags. Validation that clap cannot express happens in
//! `cli::run`, which turns these into engine requests.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use lifeboat_engine::archive::manifest::BackupType;

/// The exit codes, as `--help` shows them (README.md "Exit codes" says
/// more; `cli::exit` holds the numbers).
pub const EXIT_CODES: &str = "\
Exit codes:
  0    ok
  1    the operation failed, or a check found a problem
  2    usage or configuration error
  3    completed with warnings (e.g. some files could not be read)
  4    integrity: a backup, the catalog or the audit log is damaged or tampered with
  5    key error: key file missing or not the one the backup was written with
  130  interrupted (second Ctrl-C)
  health: 0 ok, 1 warning, 2 critical (Nagios)";

/// lifeboat: backup and disaster recovery for the Panel app.
#[derive(Debug, Parser)]
#[command(name = "lifeboat", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    /// Config file (else $LIFEBOAT_CONFIG, else ./lifeboat.toml, else built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output (also: RUST_LOG).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Accept backups whose manifest is not authenticated although a key
    /// file exists (only for backups known to predate the key).
    #[arg(long, global = true)]
    pub allow_unauthenticated: bool,
    /// Without a verb, the operations console opens (in a terminal).
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// True for verbs that only print (list, show, status, ...): those may
    /// simply end when their output pipe closes.
    pub fn only_reads(&self) -> bool {
        matches!(
            self.command,
            Some(
                Command::List { .. }
                    | Command::Show { .. }
                    | Command::Status { .. }
                    | Command::Storage
                    | Command::Config
                    | Command::Schedule { .. }
                    | Command::Audit { .. }
                    | Command::Report { output: None, .. }
            )
        )
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Take a backup.
    Backup(BackupArgs),
    /// List backups.
    List {
        #[arg(long = "type", value_name = "TYPE", value_parser = parse_type)]
        backup_type: Option<BackupType>,
    },
    /// Show one backup with its manifest.
    Show { id: String },
    /// Show recent jobs, or one job with its log.
    Status {
        job_id: Option<i64>,
        /// Keep printing progress until the job (or, without JOB_ID, every running job) ends.
        #[arg(long, short)]
        follow: bool,
    },
    /// Stop a queued or running job at its next safe point.
    Cancel { job_id: i64 },
    /// Check a backup: hashes, authentication, and the whole stream.
    Verify(VerifyArgs),
    /// Restore a backup (to a new directory by default).
    Restore(RestoreArgs),
    /// Recover the whole system from a backup directory alone (no catalog
    /// needed): configuration first, then database and files in parallel.
    Recover {
        /// The backup directory (a repository root); default: [repository] path.
        #[arg(long, value_name = "DIR", required_unless_present = "from")]
        dir: Option<PathBuf>,
        /// First bring the backups back from this copy target (a bucket)
        /// into the repository: a bare machine needs only the binary, the
        /// configuration and the key file.
        #[arg(long, value_name = "TARGET", conflicts_with = "dir")]
        from: Option<String>,
        /// Newest consistent point at or before this time (default: now).
        #[arg(long)]
        at: Option<String>,
        /// Show the plan (chosen points, data-loss window) and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Confirm restoring over the live system.
        #[arg(long)]
        yes: bool,
        /// The app is stopped already: do not run [app] stop_command (it is
        /// still started after, and checked).
        #[arg(long)]
        app_stopped: bool,
        /// Put the recovery in the job queue (needs --yes) instead of running it now.
        #[arg(long, conflicts_with = "dry_run")]
        queue: bool,
    },
    /// Rehearse disaster recovery: restore the newest consistent point into
    /// a sandbox directory and scratch databases, verify, measure, clean up.
    /// Production files and databases are never touched.
    Drill {
        /// Newest consistent point at or before this time (default: now).
        #[arg(long)]
        at: Option<String>,
        /// Keep the sandbox directory and scratch databases for inspection.
        #[arg(long)]
        keep: bool,
        /// Put the drill in the job queue instead of running it now.
        #[arg(long)]
        queue: bool,
    },
    /// Send copies of backups to the [[targets]] (S3, GCS, Azure, another
    /// directory): one backup, or every backup that lacks a copy its
    /// type's [copies] policy asks for.
    Copy {
        /// The backup to copy (default: every one missing a copy).
        id: Option<String>,
        /// Only this target.
        #[arg(long, value_name = "TARGET")]
        to: Option<String>,
        /// Also read each copy back and check its SHA-256 against the manifest.
        #[arg(long)]
        verify: bool,
        /// Put the copy in the job queue instead of running it now.
        #[arg(long)]
        queue: bool,
    },
    /// Where each backup's copies are, and each type's 3-2-1 verdict.
    Copies {
        /// One backup (default: the newest of each type, and every type's verdict).
        id: Option<String>,
        /// Every backup, not only the newest of each type.
        #[arg(long)]
        all: bool,
        /// List each target first and compare it with the catalog: copies
        /// gone or changed in size, and objects no backup claims (drift:
        /// reported, never removed).
        #[arg(long)]
        check: bool,
    },
    /// Manage encryption keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Catalog maintenance.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Check freshness, success rate, space, verification, drills, keys,
    /// catalog, audit log and PostgreSQL (exit 0 ok, 1 warning, 2 critical).
    Health,
    /// Space used per type and target, the repository disk, and growth.
    Storage,
    /// Run queued jobs (any verb with --queue) with a pool of workers.
    Worker {
        /// Jobs run at the same time (default: [jobs] workers).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
        workers: Option<u32>,
        /// Run until the queue is empty, then exit.
        #[arg(long)]
        once: bool,
        /// Run only this queued job, then exit (how the console starts work
        /// that outlives it).
        #[arg(long, value_name = "ID", conflicts_with_all = ["workers", "once"])]
        job: Option<i64>,
    },
    /// Show the effective configuration (secrets masked).
    Config,
    /// Delete backups that the retention policy lets go (newest good
    /// backups and parents of kept incrementals are always kept).
    Prune {
        /// Show what would go and why; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
        /// Prune a type even when its newest backup is older than its window.
        #[arg(long)]
        force: bool,
        /// Put the prune in the job queue (needs --yes): it plans again when it runs.
        #[arg(long, conflicts_with = "dry_run")]
        queue: bool,
    },
    /// Send alerts: evaluate health and recent job outcomes and deliver
    /// what is due (the daemon does this on its own).
    Alerts {
        #[command(subcommand)]
        command: AlertsCommand,
    },
    /// Write the backup report: health, per-type backups and success
    /// rates, sizes and growth, verifications and drills, storage, audit
    /// (HTML: with charts of each type's recent attempts).
    Report {
        /// md, html or json.
        #[arg(long, default_value = "md", value_parser = ["md", "html", "json"])]
        format: String,
        /// Write to this file (mode 0600) instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Run the schedule: queue each due backup, run queued jobs with a pool
    /// of workers, and evaluate health, alerts and metrics after every job.
    Daemon {
        /// Jobs run at the same time (default: [jobs] workers).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
        workers: Option<u32>,
        /// Queue what is due now, run the queue, send alerts, and exit (for a
        /// systemd timer or cron).
        #[arg(long)]
        once: bool,
        /// Evaluate health and alerts at least this often.
        #[arg(long, default_value_t = 5, value_name = "MINUTES")]
        health_every: u32,
    },
    /// Show the next scheduled runs.
    Schedule {
        /// How many runs to show.
        #[arg(long, default_value_t = 10)]
        count: usize,
    },
    /// Run a demo on a generated Panel-like app under ./var/demo.
    Demo {
        /// Do not open the console on the demo afterwards.
        #[arg(long)]
        no_console: bool,
    },
    /// Open the operations console (the same as no verb).
    Console,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// What to back up.
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_type, required_unless_present = "all")]
    pub backup_type: Option<BackupType>,
    /// Every configured type.
    #[arg(long, conflicts_with = "backup_type")]
    pub all: bool,
    /// A name that becomes part of the file name (letters, digits, - and _).
    #[arg(long)]
    pub name: Option<String>,
    /// Full backup even when an incremental is possible.
    #[arg(long)]
    pub full: bool,
    /// Put the backup in the job queue for `lifeboat worker` instead of running it now.
    #[arg(long)]
    pub queue: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Backup id, or the path of an artifact.
    pub target: String,
    /// Also restore into a scratch directory and compare every file.
    #[arg(long)]
    pub deep: bool,
    /// Read the backup from this copy target (a `[[targets]]` name), not the repository.
    #[arg(long, value_name = "TARGET")]
    pub from: Option<String>,
    /// Put the verification in the job queue for `lifeboat worker` instead of running it now.
    #[arg(long)]
    pub queue: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_type)]
    pub backup_type: Option<BackupType>,
    /// Backup id.
    #[arg(long, group = "which")]
    pub id: Option<String>,
    /// Path of an artifact file.
    #[arg(long, group = "which")]
    pub file: Option<PathBuf>,
    /// Newest good backup at or before this time ("2026-11-26 14:00", local time).
    #[arg(long, group = "which")]
    pub at: Option<String>,
    /// Restore under this directory (default: a new directory under var/restores).
    #[arg(long)]
    pub target: Option<PathBuf>,
    /// Restore to the original paths (needs --yes; a safety copy is taken first).
    #[arg(long, conflicts_with = "target")]
    pub in_place: bool,
    /// Show what would be created, overwritten and deleted; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Confirm overwriting existing files (or replacing a live database).
    #[arg(long)]
    pub yes: bool,
    /// Database restores: name of the new database (default <db>_restored_<time>).
    #[arg(long, value_name = "NAME")]
    pub target_db: Option<String>,
    /// Read the backup from this copy target (a `[[targets]]` name), not the repository.
    #[arg(long, value_name = "TARGET")]
    pub from: Option<String>,
    /// In place: the app is stopped already; do not run [app] stop_command
    /// (it is still started after, and checked).
    #[arg(long, requires = "in_place")]
    pub app_stopped: bool,
    /// Database restores: parallel pg_restore jobs (custom format).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: u32,
    /// Database restores: do not restore object ownership.
    #[arg(long)]
    pub no_owner: bool,
    /// Database restores: run the restore as this (less privileged) role.
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
    /// Database restores: give roles that already exist on the server the
    /// attributes, settings and memberships the backup recorded (by default
    /// only missing roles are created and existing ones are left alone).
    #[arg(long, conflicts_with = "no_owner")]
    pub update_roles: bool,
    /// Database restores: compare every table's rows, the sequences, large
    /// objects and database properties with the digests in the backup.
    #[arg(long)]
    pub check_content: bool,
    /// Undo the last in-place database restore (swap the previous database back).
    #[arg(long, conflicts_with_all = ["id", "file", "at", "target", "dry_run"])]
    pub undo: bool,
    /// Database for --undo (default: the configured one).
    #[arg(long, value_name = "NAME", requires = "undo")]
    pub db: Option<String>,
    /// Put the restore in the job queue for `lifeboat worker` instead of running it now.
    #[arg(long, conflicts_with_all = ["dry_run", "undo"])]
    pub queue: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a new key file (mode 0600).
    Generate {
        /// Where to write it (default: [encryption] key_file).
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Add a new active key and re-wrap every backup's data key with it.
    Rotate {
        /// Put the rotation in the job queue instead of running it now.
        #[arg(long)]
        queue: bool,
    },
    /// List keys and how many backups each one opens.
    List,
    /// Remove a retired key that no backup needs any more.
    Remove { id: String },
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Evaluate now and send what is due (new, changed, repeated, resolved).
    Run,
    /// Send a test message through every configured channel.
    Test,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Rebuild the catalog from the repository's manifests.
    Rebuild {
        /// Repository directory (default: [repository] path).
        #[arg(long)]
        repository: Option<PathBuf>,
        /// First bring the backups the repository lacks back from this copy
        /// target (each checked against its manifest), then rebuild.
        #[arg(long, value_name = "TARGET", conflicts_with = "repository")]
        from: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of the catalog and of the repository copy.
    Verify,
    /// Show the newest audit entries.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

fn parse_type(s: &str) -> Result<BackupType, String> {
    s.parse()
}
