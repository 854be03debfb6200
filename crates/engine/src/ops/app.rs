//! The Panel app around a restore, and the hooks around a backup.
//!
//! `restore --in-place` and `recover` stop the app (`[app] stop_command`)
//! before the first byte is replaced, start it after (`start_command`) and
//! wait until it is healthy (`health_command` or `health_url`), each step
//! in the job log and the report. A restore that fails leaves the app
//! stopped and says so: starting it over half-restored data would be worse.
//!
//! `[hooks.<type>]` run before and after each backup job of a type. A
//! failing or hanging `before` fails the job before anything is read;
//! `after` runs whatever happened (it undoes what `before` did).
//!
//! Commands run with `sh -c` in their own process group, stdin closed,
//! stdout and stderr into one unlinked temporary file (not a pipe: a start
//! command that leaves the app running in the background must not find
//! its output closed when lifeboat exits). A command that outlives its
//! timeout is killed with its whole group.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::archive::manifest::BackupType;
use crate::config::AppConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::ops::jobs::Job;
use crate::ops::{Engine, Progress};

/// How much of a command's output is kept (its end).
const OUTPUT_TAIL: u64 = 8 * 1024;
/// How long one health probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Between health probes.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Who takes care of the app around a restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppControl {
    /// Stop it before, start it after, wait until it is healthy.
    #[default]
    Manage,
    /// The operator says it is stopped already (`--app-stopped`): start it
    /// after and check it.
    AlreadyStopped,
    /// The caller does it (the console's recovery wizard, step by step).
    Leave,
}

impl AppControl {
    pub fn is_default(&self) -> bool {
        *self == AppControl::Manage
    }
}

/// A command that ran to a zero exit.
#[derive(Debug, Clone)]
pub struct Ran {
    pub seconds: f64,
    /// The end of what it printed (stdout and stderr together).
    pub output: String,
}

/// Run `command` with `sh -c`, for at most `timeout`. A non-zero exit, a
/// signal, the timeout or a cancel is an error that says which, names
/// `what`, and shows the end of the command's output.
pub fn run_shell(
    what: &str,
    command: &str,
    env: &[(&str, String)],
    timeout: Duration,
    cancel: Option<&AtomicBool>,
) -> Result<Ran> {
    run_shell_into(what, command, env, timeout, cancel, None)
}

/// [`run_shell`], its output into the file `capture` (created or
/// truncated, 0600) instead of an unlinked temporary one: for a command
/// that leaves a process running with that output (a start command that
/// puts the app in the background), so what it writes later stays
/// visible there and does not fill a deleted file.
pub fn run_shell_into(
    what: &str,
    command: &str,
    env: &[(&str, String)],
    timeout: Duration,
    cancel: Option<&AtomicBool>,
    capture: Option<&std::path::Path>,
) -> Result<Ran> {
    let started = Instant::now();
    let mut out = match capture {
        None => capture_file()?,
        Some(p) => {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(p)
                .map_err(|e| Error::io("cannot create", p, e))?
        }
    };
    let writer = out.try_clone().map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("cannot capture {what}'s output: {e}"),
        )
    })?;
    let writer2 = writer.try_clone().map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("cannot capture {what}'s output: {e}"),
        )
    })?;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(writer2))
        .process_group(0);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|e| {
        Error::new(ErrorKind::External, format!("cannot run {what}: {e}"))
            .hint("check that sh exists and the command is spelled right")
    })?;
    drop(cmd);
    let pid = child.id() as i32;
    let deadline = started + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) => {}
            Err(e) => break Err(format!("cannot wait for it: {e}")),
        }
        let cancelled = cancel.is_some_and(|c| c.load(Ordering::Relaxed));
        if cancelled || Instant::now() >= deadline {
            // The whole group: a shell's children too.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
            let _ = child.wait();
            break Err(if cancelled {
                "cancelled by the operator; it was killed".to_string()
            } else {
                format!(
                    "still running after {:.1}s; it was killed",
                    timeout.as_secs_f64()
                )
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = tail(&mut out);
    let seconds = started.elapsed().as_secs_f64();
    let failure = match status {
        Ok(s) if s.success() => None,
        Ok(s) => Some(
            match (s.code(), std::os::unix::process::ExitStatusExt::signal(&s)) {
                (Some(c), _) => format!("exited with status {c}"),
                (None, Some(sig)) => format!("was killed by signal {sig}"),
                _ => format!("ended with {s}"),
            },
        ),
        Err(why) => Some(why),
    };
    match failure {
        None => Ok(Ran { seconds, output }),
        Some(why) => {
            let shown = if output.trim().is_empty() {
                "no output".to_string()
            } else {
                format!("its output ends: {}", output.trim())
            };
            let kind = if why.starts_with("cancelled") {
                ErrorKind::Cancelled
            } else {
                ErrorKind::External
            };
            Err(Error::new(
                kind,
                format!("{what} {why} after {seconds:.1}s; {shown}"),
            ))
        }
    }
}

/// An unlinked file in the temporary directory, 0600.
fn capture_file() -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::env::temp_dir();
    for _ in 0..8 {
        let p = dir.join(format!(
            ".lifeboat-cmd-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&p)
        {
            Ok(f) => {
                let _ = std::fs::remove_file(&p);
                return Ok(f);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io("cannot create a capture file in", &dir, e)),
        }
    }
    Err(Error::new(
        ErrorKind::Io,
        format!("cannot create a capture file in {}", dir.display()),
    ))
}

fn tail(f: &mut std::fs::File) -> String {
    let len = f.seek(SeekFrom::End(0)).unwrap_or(0);
    let start = len.saturating_sub(OUTPUT_TAIL);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = f.take(OUTPUT_TAIL).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    if start > 0 {
        format!("…{text}")
    } else {
        text
    }
}

/// One step taken with the app, for the job log and the report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppStep {
    /// "stop app", "start app", "app health".
    pub name: String,
    pub ok: bool,
    pub outcome: String,
    #[serde(skip)]
    pub seconds: u64,
}

fn step(name: &str, started: Instant, r: std::result::Result<String, String>) -> AppStep {
    let (ok, outcome) = match r {
        Ok(s) => (true, s),
        Err(s) => (false, s),
    };
    AppStep {
        name: name.to_string(),
        ok,
        outcome,
        seconds: started.elapsed().as_secs(),
    }
}

/// Stop the app. `None` when there is nothing to do (the caller handles
/// it, or the operator stopped it).
pub fn stop(app: &AppConfig, control: AppControl, cancel: Option<&AtomicBool>) -> Option<AppStep> {
    let t0 = Instant::now();
    match control {
        AppControl::Leave => None,
        AppControl::AlreadyStopped => Some(step(
            "stop app",
            t0,
            Ok("not run: the app was stopped already, the operator said (--app-stopped)".into()),
        )),
        AppControl::Manage if app.stop_command.trim().is_empty() => Some(step(
            "stop app",
            t0,
            Ok(
                "no [app] stop_command configured: stop the app by hand before a restore over it"
                    .into(),
            ),
        )),
        AppControl::Manage => {
            let timeout = Duration::from_secs(app.command_timeout_seconds as u64);
            // The command is named by its key, never echoed: it may hold
            // a credential, and these lines reach the audit log.
            let r = run_shell(
                "the app's stop command ([app] stop_command)",
                &app.stop_command,
                &[],
                timeout,
                cancel,
            );
            Some(step(
                "stop app",
                t0,
                r.map(|ran| format!("[app] stop_command succeeded ({:.1}s)", ran.seconds))
                    .map_err(|e| e.message),
            ))
        }
    }
}

/// Start the app and wait until it is healthy: the steps taken.
pub fn start_and_check(
    app: &AppConfig,
    control: AppControl,
    cancel: Option<&AtomicBool>,
    output: Option<&std::path::Path>,
) -> Vec<AppStep> {
    if control == AppControl::Leave {
        return Vec::new();
    }
    let t0 = Instant::now();
    let mut steps = Vec::new();
    if app.start_command.trim().is_empty() {
        steps.push(step(
            "start app",
            t0,
            Ok("no [app] start_command configured: start the app by hand".into()),
        ));
    } else {
        let timeout = Duration::from_secs(app.command_timeout_seconds as u64);
        let r = run_shell_into(
            "the app's start command ([app] start_command)",
            &app.start_command,
            &[],
            timeout,
            cancel,
            output,
        );
        let failed = r.is_err();
        steps.push(step(
            "start app",
            t0,
            r.map(|ran| {
                format!(
                    "[app] start_command succeeded ({:.1}s){}",
                    ran.seconds,
                    output
                        .map(|p| format!("; its output is in {}", p.display()))
                        .unwrap_or_default()
                )
            })
            .map_err(|e| e.message),
        ));
        if failed {
            return steps;
        }
    }
    let t0 = Instant::now();
    steps.push(step("app health", t0, wait_healthy(app, cancel)));
    steps
}

/// Probe the app until it answers healthy or `health_timeout_seconds` pass.
pub fn wait_healthy(
    app: &AppConfig,
    cancel: Option<&AtomicBool>,
) -> std::result::Result<String, String> {
    let command = app.health_command.trim();
    let url = app.health_url.trim();
    if command.is_empty() && url.is_empty() {
        return Ok(
            "no [app] health_command or health_url configured: check the app by hand".into(),
        );
    }
    let t0 = Instant::now();
    let limit = Duration::from_secs(app.health_timeout_seconds as u64);
    let mut tries = 0u32;
    loop {
        tries += 1;
        let last = if !command.is_empty() {
            let left = limit
                .saturating_sub(t0.elapsed())
                .max(Duration::from_secs(1));
            match run_shell(
                "the health command ([app] health_command)",
                command,
                &[],
                PROBE_TIMEOUT.min(left),
                cancel,
            ) {
                Ok(_) => {
                    return Ok(format!(
                        "[app] health_command succeeded after {:.1}s ({tries} probe(s))",
                        t0.elapsed().as_secs_f64()
                    ))
                }
                Err(e) if e.kind == ErrorKind::Cancelled => return Err(e.message),
                Err(e) => e.message,
            }
        } else {
            let left = limit
                .saturating_sub(t0.elapsed())
                .max(Duration::from_secs(1));
            match crate::health::probe::http_status(url, PROBE_TIMEOUT.min(left)) {
                Ok(code) if (200..300).contains(&code) => {
                    return Ok(format!(
                        "{} answered {code} after {:.1}s ({tries} probe(s))",
                        crate::config::mask_database_url(url),
                        t0.elapsed().as_secs_f64()
                    ))
                }
                Ok(code) => format!("{} answered {code}", crate::config::mask_database_url(url)),
                Err(e) => e,
            }
        };
        if t0.elapsed() + PROBE_INTERVAL > limit
            || cancel.is_some_and(|c| c.load(Ordering::Relaxed))
        {
            return Err(format!(
                "the app was not healthy within {}s ({tries} probe(s)); the last: {last}",
                app.health_timeout_seconds
            ));
        }
        std::thread::sleep(PROBE_INTERVAL);
    }
}

/// Log a step into a job's log.
pub fn log_step(job: &Job, s: &AppStep) {
    let level = if s.ok { "info" } else { "error" };
    job.log(level, &format!("{}: {}", s.name, s.outcome));
}

/// A restore over the live app: stop it, restore, start it, check it.
/// Returns the body's result and the notes to add to its report. A
/// failed stop fails before anything is touched; a failed restore leaves
/// the app stopped and says so; a failed start or health check after a
/// good restore fails the job, saying the data is back.
pub fn around_restore<T>(
    engine: &Engine,
    control: AppControl,
    job: &Job,
    body: impl FnOnce() -> Result<T>,
) -> Result<(T, Vec<String>)> {
    let app = &engine.config.app;
    if control == AppControl::Leave || (control == AppControl::Manage && !app.configured()) {
        return body().map(|t| (t, Vec::new()));
    }
    let cancel = Some(job.cancel_flag());
    let mut notes = Vec::new();
    if let Some(s) = stop(app, control, cancel) {
        job.phase("stopping the app");
        log_step(job, &s);
        if !s.ok {
            return Err(Error::new(
                ErrorKind::External,
                format!(
                    "the app could not be stopped, so nothing was restored: {}",
                    s.outcome
                ),
            )
            .hint(
                "stop it by hand, then run again with --app-stopped; or fix [app] stop_command",
            ));
        }
        notes.push(format!("{}: {}", s.name, s.outcome));
    }
    let value = match body() {
        Ok(v) => v,
        Err(e) => {
            let msg = if control == AppControl::Manage && !app.stop_command.trim().is_empty() {
                "the app was stopped for the restore and is left stopped"
            } else {
                "the app was not started"
            };
            job.log("error", &format!("{msg}: the restore failed"));
            let hint = format!(
                "{}{msg}; start it when the data is right{}",
                e.hint
                    .as_deref()
                    .map(|h| format!("{h}; "))
                    .unwrap_or_default(),
                if app.start_command.trim().is_empty() {
                    ""
                } else {
                    " ([app] start_command)"
                }
            );
            return Err(e.hint(hint));
        }
    };
    job.phase("starting the app");
    let steps = start_and_check(app, control, cancel, Some(&start_output(engine)));
    for s in &steps {
        log_step(job, s);
        notes.push(format!("{}: {}", s.name, s.outcome));
    }
    if let Some(bad) = steps.iter().find(|s| !s.ok) {
        return Err(Error::new(
            ErrorKind::External,
            format!(
                "the restore succeeded, but the app did not come back ({}): {}",
                bad.name, bad.outcome
            ),
        )
        .hint("the data is restored; look at the app's own logs, fix it, and start it by hand"));
    }
    Ok((value, notes))
}

/// Where the start command's output goes: beside the catalog, kept (the
/// app it leaves running may go on writing to it).
pub fn start_output(engine: &Engine) -> std::path::PathBuf {
    start_output_for(&engine.config)
}

pub fn start_output_for(config: &crate::config::Config) -> std::path::PathBuf {
    config
        .catalog
        .path
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("app-start.log")
}

/// A backup job inside its type's hooks.
pub fn with_hooks<T>(
    engine: &Engine,
    t: BackupType,
    job: &Job,
    body: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let hook = engine.config.hooks.of(t);
    let timeout = Duration::from_secs(hook.timeout_seconds as u64);
    let cancel = Some(job.cancel_flag());
    let env = |when: &str, outcome: &str| {
        vec![
            ("LIFEBOAT_BACKUP_TYPE", t.as_str().to_string()),
            ("LIFEBOAT_HOOK", when.to_string()),
            ("LIFEBOAT_OUTCOME", outcome.to_string()),
        ]
    };
    let before = if hook.before.trim().is_empty() {
        Ok(())
    } else {
        job.phase("running the before hook");
        let what = format!("the {t} before hook ([hooks.{t}] before)");
        run_shell(&what, &hook.before, &env("before", ""), timeout, cancel)
            .map(|ran| {
                job.log(
                    "info",
                    &format!(
                        "{what} succeeded ({:.1}s){}",
                        ran.seconds,
                        shown(&ran.output)
                    ),
                )
            })
            .map_err(|e| {
                Error::new(e.kind, format!("{}; the backup was not started", e.message)).hint(
                    format!("fix [hooks.{t}] before, or run it by hand to see why"),
                )
            })
    };
    let result = before.and_then(|()| body());
    if hook.after.trim().is_empty() {
        return result;
    }
    // The after hook undoes what the before hook did (or began to): it runs
    // whatever happened, and a cancelled job does not cut it short (only
    // its own timeout does).
    job.phase("running the after hook");
    let what = format!("the {t} after hook ([hooks.{t}] after)");
    let outcome = if result.is_ok() {
        "succeeded"
    } else {
        "failed"
    };
    match run_shell(&what, &hook.after, &env("after", outcome), timeout, None) {
        Ok(ran) => {
            job.log(
                "info",
                &format!("{what} succeeded ({:.1}s){}", ran.seconds, shown(&ran.output)),
            );
            result
        }
        Err(e) => match result {
            // The backup's own failure comes first; the hook's is logged.
            Err(be) => {
                job.log("error", &e.message);
                Err(be)
            }
            Ok(_) => Err(Error::new(
                ErrorKind::External,
                format!("the backup was written and is good, but {}", e.message),
            )
            .hint(format!(
                "whatever [hooks.{t}] before paused may still be paused: undo it by hand, then fix [hooks.{t}] after"
            ))),
        },
    }
}

fn shown(output: &str) -> String {
    let o = output.trim();
    if o.is_empty() {
        String::new()
    } else {
        format!(": {o}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_says_how_it_ended_and_what_it_printed() {
        let r = run_shell(
            "test",
            "echo out; echo err >&2",
            &[],
            Duration::from_secs(5),
            None,
        )
        .unwrap();
        assert_eq!(r.output, "out\nerr\n");
        let e = run_shell(
            "the hook",
            "echo nope; exit 3",
            &[],
            Duration::from_secs(5),
            None,
        )
        .unwrap_err();
        assert!(
            e.message.contains("the hook exited with status 3"),
            "{}",
            e.message
        );
        assert!(e.message.contains("its output ends: nope"), "{}", e.message);
        let e = run_shell(
            "env",
            "test \"$X\" = y",
            &[("X", "n".into())],
            Duration::from_secs(5),
            None,
        )
        .unwrap_err();
        assert!(e.message.contains("status 1"), "{}", e.message);
    }

    #[test]
    fn a_hanging_command_is_killed_with_its_children() {
        let marker = std::env::temp_dir().join(format!("lb-hang-{}", std::process::id()));
        let cmd = format!("(sleep 30; touch {}) & sleep 30", marker.display());
        let t0 = Instant::now();
        let e = run_shell("the hook", &cmd, &[], Duration::from_millis(300), None).unwrap_err();
        assert!(
            e.message
                .contains("still running after 0.3s; it was killed"),
            "{}",
            e.message
        );
        assert!(t0.elapsed() < Duration::from_secs(20));
        // The background child was in the group: it is gone too.
        assert!(!marker.exists());
    }

    #[test]
    fn a_command_that_leaves_a_child_running_does_not_hold_us() {
        // A start command that puts the app in the background returns at once.
        let r = run_shell(
            "start",
            "sleep 30 & echo started",
            &[],
            Duration::from_secs(10),
            None,
        )
        .unwrap();
        assert_eq!(r.output.trim(), "started");
        assert!(r.seconds < 10.0);
    }
}
