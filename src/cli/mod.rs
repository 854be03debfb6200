//! The CLI face: parse flags, call the engine, print tables or JSON.
//!
//! Exit codes are part of the interface scripts branch on; [`exit`] lists
//! them and README.md ("Exit codes") and `--help` say the same.

pub mod args;
mod demo;
mod health;
mod progress;
mod show;
mod verbs;
mod worker;

use std::sync::OnceLock;

use args::{CatalogCommand, Cli, Command, KeyCommand};
use lifeboat_engine::catalog::JobState;
use lifeboat_engine::config::Config;
use lifeboat_engine::error::{Error, ErrorKind, Result};
use lifeboat_engine::ops::{self, Engine};
use lifeboat_engine::Cancel;
use progress::CliProgress;

/// Raised by the first Ctrl-C or SIGTERM: operations stop at their next
/// safe point. The CLI hands it to the engine as its cancel signal. (The
/// face owns the process's signals, so the one process-wide value lives
/// here, not in the engine.)
pub fn interrupted() -> &'static Cancel {
    static FLAG: OnceLock<Cancel> = OnceLock::new();
    FLAG.get_or_init(Cancel::new)
}

/// The first SIGINT or SIGTERM sets [`interrupted`]; a second one means it and
/// ends the process at once with exit 130 (partial files are hidden names
/// that the next start removes). signal-hook runs a signal's actions in
/// the order they were registered: the exit fires only once the flag is set.
fn install_interrupt_handler() {
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(
            sig,
            exit::INTERRUPTED,
            interrupted().shared(),
        );
        let _ = signal_hook::flag::register(sig, interrupted().shared());
    }
}

/// Open the console, or explain (exit 2) why it cannot open here.
#[cfg(feature = "tui")]
fn console(config: Config, config_path: Option<std::path::PathBuf>) -> Result<i32> {
    if !can_draw() {
        use clap::CommandFactory;
        errln!(
            "lifeboat: no verb given, and the console needs a terminal (stdin or stdout is not one)"
        );
        errln!(
            "run one of the verbs below, or start `lifeboat` in a terminal to open the console\n"
        );
        let _ = args::Cli::command().write_help(&mut std::io::stderr());
        return Ok(2);
    }
    lifeboat_console::run(config, config_path, interrupted())
}

/// This binary was built without the console (`--no-default-features`):
/// say so (exit 2) and list the verbs that work.
#[cfg(not(feature = "tui"))]
fn console(_config: Config, _config_path: Option<std::path::PathBuf>) -> Result<i32> {
    use clap::CommandFactory;
    errln!(
        "lifeboat: this build has no console (built without the `tui` feature); \
         run one of the verbs below, or rebuild with default features for the console\n"
    );
    let _ = args::Cli::command().write_help(&mut std::io::stderr());
    Ok(2)
}

#[cfg(feature = "tui")]
fn can_draw() -> bool {
    lifeboat_console::can_draw()
}

#[cfg(not(feature = "tui"))]
fn can_draw() -> bool {
    false
}

/// The exit codes, after restic's: a script can tell "try again later"
/// from "fix the command", "look at the warnings", "this backup is bad" and
/// "wrong key". `health` keeps the Nagios convention (0 OK, 1 WARNING,
/// 2 CRITICAL) because monitoring systems read it.
pub mod exit {
    /// The operation succeeded.
    pub const OK: i32 = 0;
    /// The operation failed (I/O, a missing backup, a refused restore, a
    /// failed tool), or a check found a problem.
    pub const FAILED: i32 = 1;
    /// Bad flags or a bad configuration: fix the command line or the config.
    pub const USAGE: i32 = 2;
    /// Completed with warnings: e.g. a backup that could not read some files.
    pub const WARNINGS: i32 = 3;
    /// Integrity: a backup, manifest, the catalog or the audit log is
    /// damaged, incomplete or tampered with (a failed `verify` among them).
    pub const INTEGRITY: i32 = 4;
    /// The key file is missing, or is not the one the backup was written with.
    pub const KEY: i32 = 5;
    /// A second Ctrl-C (or SIGTERM) ended the process at once.
    pub const INTERRUPTED: i32 = 130;
}

/// Map an engine error to an exit code.
pub fn exit_code(e: &Error) -> i32 {
    kind_code(e.kind)
}

/// The exit code for an error of this kind.
pub(crate) fn kind_code(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::Usage => exit::USAGE,
        ErrorKind::Integrity => exit::INTEGRITY,
        ErrorKind::Key => exit::KEY,
        _ => exit::FAILED,
    }
}

/// One exit code for several outcomes: any failure wins over warnings,
/// warnings over success.
pub(crate) fn combined(codes: impl IntoIterator<Item = i32>) -> i32 {
    codes.into_iter().fold(exit::OK, |acc, c| match (acc, c) {
        (exit::OK, c) | (exit::WARNINGS, c) if c != exit::OK => c,
        (acc, _) => acc,
    })
}

/// The exit code of a job that ended in `state` (a catalog job state).
pub(crate) fn job_state_code(state: JobState) -> i32 {
    match state {
        JobState::Succeeded => exit::OK,
        JobState::SucceededWithWarnings => exit::WARNINGS,
        _ => exit::FAILED,
    }
}

/// After every job this process runs (directly, in a worker, under the
/// daemon or the console): refresh the Prometheus metrics file, when one
/// is configured.
struct RefreshMetrics;

impl ops::jobs::JobObserver for RefreshMetrics {
    fn job_ended(
        &self,
        config: &Config,
        catalog: &lifeboat_engine::catalog::Catalog,
        _job_id: i64,
        _state: JobState,
    ) {
        lifeboat_engine::health::metrics::after_job(config, catalog);
    }
}

/// Run a parsed command line; returns the process exit code. A dispatch
/// table, one arm per verb (long only because there are many verbs): the
/// work is in `verbs`, `worker`, `health` and `demo`.
pub fn run(cli: Cli) -> Result<i32> {
    install_interrupt_handler();
    ops::jobs::install_observer(Box::new(RefreshMetrics));
    let load = || {
        // Whatever stops the configuration from loading (a typo, an
        // unreadable file) is the operator's to fix: exit 2, not 1.
        let config = Config::load_default_env(cli.config.as_deref()).map_err(|mut e| {
            e.kind = ErrorKind::Usage;
            e
        })?;
        lifeboat_engine::logging::open_file(&config);
        let mut config = config;
        if cli.allow_unauthenticated {
            errln!("warning: --allow-unauthenticated: manifests without a MAC are accepted although a key file exists; their content is not proven to be what lifeboat wrote");
            config.encryption.accept_unauthenticated = true;
        }
        Ok::<Config, Error>(config)
    };
    let json = cli.json;
    let Some(command) = cli.command else {
        return console(load()?, cli.config.clone());
    };
    match command {
        Command::Console => console(load()?, cli.config.clone()),
        Command::Demo { no_console } => {
            let code = demo::run(json)?;
            if code == 0 && !no_console && !json && can_draw() {
                let path = demo::config_path()?;
                let config = Config::load_default_env(Some(&path))?;
                return console(config, Some(path));
            }
            Ok(code)
        }
        Command::Config => {
            // The dump starts with its own header (where it came from).
            out!("{}", load()?.dump_effective());
            Ok(0)
        }
        Command::Key {
            command: KeyCommand::Generate { key_file },
        } => verbs::key_generate(load()?, key_file, json),
        Command::Recover {
            dir,
            from,
            at,
            dry_run,
            yes,
            app_stopped,
            queue,
        } => verbs::recover(
            load()?,
            (dir, from),
            at,
            (dry_run, yes, queue, app_stopped),
            json,
        ),
        Command::Health => health::health(&load()?, json),
        Command::Storage => health::storage(&load()?, json),
        Command::Catalog {
            command: CatalogCommand::Rebuild { repository, from },
        } => verbs::catalog_rebuild(load()?, repository, from, json),
        Command::Schedule { count } => {
            let config = load()?;
            let types = config.configured_types();
            let schedule = lifeboat_engine::schedule::Schedule::from_config(&config, &types)?;
            show::print_schedule(&schedule, &types, ops::now(), count, json);
            Ok(0)
        }
        Command::Daemon {
            workers,
            once,
            health_every,
        } => worker::run_daemon(load()?, workers, once, health_every, json, interrupted()),
        Command::Worker { job: Some(id), .. } => worker::run_one(load()?, id, json, interrupted()),
        Command::Worker { workers, once, .. } => {
            worker::run_pool(load()?, workers, once, json, interrupted())
        }
        Command::Backup(a) => with_engine(load()?, json, |e, face| {
            let request = ops::queue::JobRequest::Backup {
                backup_type: a.backup_type,
                all: a.all,
                name: a.name.clone(),
                full: a.full,
            };
            worker::run_request(e, request, a.queue, json, face, interrupted())
        }),
        Command::Verify(a) => with_engine(load()?, json, |e, face| {
            let request = ops::queue::JobRequest::Verify {
                target: a.target.clone(),
                deep: a.deep,
                from: a.from.clone(),
            };
            worker::run_request(e, request, a.queue, json, face, interrupted())
        }),
        Command::Drill { at, keep, queue } => with_engine(load()?, json, |e, face| {
            let at = at.as_deref().map(ops::select::parse_time).transpose()?;
            let request = ops::queue::JobRequest::Drill { at, keep };
            worker::run_request(e, request, queue, json, face, interrupted())
        }),
        Command::Restore(a) => {
            with_engine(load()?, json, |e, face| verbs::restore(e, a, json, face))
        }
        Command::List { backup_type } => {
            with_engine(load()?, json, |e, _| verbs::list(e, backup_type, json))
        }
        Command::Copy {
            id,
            to,
            verify,
            queue,
        } => with_engine(load()?, json, |e, face| {
            verbs::copy(e, (id, to, verify, queue), json, face)
        }),
        Command::Copies { id, all, check } => with_engine(load()?, json, |e, _| {
            verbs::copies(e, id.as_deref(), (all, check), json)
        }),
        Command::Show { id } => with_engine(load()?, json, |e, _| verbs::show(e, &id, json)),
        Command::Cancel { job_id } => {
            with_engine(load()?, json, |e, _| verbs::cancel(e, job_id, json))
        }
        Command::Status { job_id, follow } => {
            with_engine(load()?, json, |e, _| verbs::status(e, job_id, follow, json))
        }
        Command::Prune {
            dry_run,
            yes,
            force,
            queue,
        } => with_engine(load()?, json, |e, face| {
            verbs::prune(e, (dry_run, yes, force, queue), json, face)
        }),
        Command::Report { format, output } => {
            with_engine(load()?, json, |e, _| verbs::report(e, &format, output))
        }
        Command::Alerts { command } => {
            with_engine(load()?, json, |e, _| verbs::alerts(e, command, json))
        }
        Command::Key {
            command: KeyCommand::Rotate { queue },
        } => with_engine(load()?, json, |e, face| {
            let request = ops::queue::JobRequest::KeyRotate;
            worker::run_request(e, request, queue, json, face, interrupted())
        }),
        Command::Key {
            command: KeyCommand::List,
        } => with_engine(load()?, json, |e, _| verbs::key_list(e, json)),
        Command::Key {
            command: KeyCommand::Remove { id },
        } => with_engine(load()?, json, |e, _| verbs::key_remove(e, &id, json)),
        Command::Audit { command } => {
            with_engine(load()?, json, |e, _| verbs::audit(e, command, json))
        }
    }
}

/// Open the engine and run one verb with a progress face, which is closed
/// (its bar cleared) whatever the verb returns.
fn with_engine(
    config: Config,
    json: bool,
    verb: impl FnOnce(&Engine, &CliProgress) -> Result<i32>,
) -> Result<i32> {
    let engine = Engine::open(config)?;
    let face = CliProgress::new(json);
    let code = verb(&engine, &face);
    face.done();
    code
}
