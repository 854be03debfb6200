//! What a wizard runs and follows:
//!
//! - **work** (backup, restore, recovery, drill, prune): a request put in
//!   the job queue and run by a `lifeboat worker --job ID` process of its
//!   own ([`ChildRun::queued`], through [`crate::background::launch`]), so
//!   it outlives the console, shows on every face and can be cancelled from
//!   any of them. What the wizard shows comes from the catalog: the job and
//!   the jobs it started, its log, and the report the worker recorded;
//! - **a read-only look** (a restore's or a recovery's plan, a prune's
//!   preview): the real `lifeboat` binary run as a child and read;
//! - an operator's **shell command** (stop, start and health of the app).
//!
//! Creating a run does nothing outside the wizard: it records what to
//! start ([`Start`]), and the run's first [`ChildRun::tick`] starts it. A
//! wizard's key handling decides what to run; the console runs the wizard's tick
//! as an effect right after the key (and on its timer), which is where the
//! queue is written and processes start.
//!
//! Output is read line by line on two reader threads into a channel that
//! [`ChildRun::tick`] drains, so the console thread never blocks on a pipe.
//! Live progress does not come from the output at all: it comes from the
//! job rows that the child's pid wrote to the catalog (phase, bytes and
//! items done and total), which is what `lifeboat status` shows too.

use crate::fmt::printable;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant};

use ratatui::text::Line;

use super::widgets::{bar, duration, size, text};
use super::{Underway, WizardContext};
use chrono::Utc;
use lifeboat_engine::catalog::{Catalog, JobRecord, JobState};
use lifeboat_engine::ops::jobs::LEASE;
use lifeboat_engine::ops::queue::JobRequest;

/// Lines of output kept (the newest); older ones are dropped.
const KEEP_LINES: usize = 2000;
/// Bytes of stdout kept whole, for parsing `--json` reports.
const KEEP_STDOUT: usize = 4 << 20;
/// How often the catalog is asked for the child's jobs.
const POLL_JOBS: Duration = Duration::from_millis(300);

enum Msg {
    Out(String),
    Err(String),
}

/// What a run starts on its first tick.
enum Start {
    /// Put this request in the queue and start a worker for it.
    Queued {
        exe: PathBuf,
        config_path: Option<PathBuf>,
        config: Box<lifeboat_engine::config::Config>,
        request: JobRequest,
    },
    /// Run this command and read its output.
    Command(Command),
}

/// One child process and what it has said and done so far.
pub struct ChildRun {
    /// Decided, not started yet (the next tick starts it).
    pending: Option<Start>,
    /// What was run, for people ("lifeboat backup --type filesystem").
    pub label: String,
    child: Option<Child>,
    pub pid: u32,
    started: Instant,
    pub ended_after: Option<Duration>,
    rx: Option<Receiver<Msg>>,
    /// stdout and stderr lines, interleaved as they arrived (stderr marked).
    pub lines: VecDeque<String>,
    /// The whole stdout (up to a cap), for `--json` output.
    pub stdout: String,
    /// stdout is a JSON document for the wizard, not lines for people:
    /// keep it out of `lines` (stderr, with any error, still shows).
    json: bool,
    pub status: Option<ExitStatus>,
    /// The process could not be started at all.
    pub spawn_error: Option<String>,
    catalog_path: Option<PathBuf>,
    catalog: Option<Catalog>,
    catalog_error: Option<String>,
    /// The newest job id before the child started: its jobs come after.
    after_job: i64,
    /// Work in the queue: the job this run follows (and its worker's log).
    job_id: Option<i64>,
    log: Option<PathBuf>,
    /// When the followed job was first seen ended (its report follows).
    ended_seen: Option<Instant>,
    host: String,
    last_poll: Option<Instant>,
    /// The child's job rows, oldest first.
    pub jobs: Vec<JobRecord>,
    /// `x` was pressed: the next tick asks the work to stop.
    stop_asked: bool,
}

impl ChildRun {
    /// Start `lifeboat ARGS` (with the console's `--config`) and follow its
    /// jobs in the catalog.
    pub fn lifeboat(ctx: &WizardContext, args: &[String]) -> ChildRun {
        let mut cmd = Command::new(&ctx.exe);
        if let Some(c) = &ctx.config_path {
            cmd.arg("--config").arg(c);
        }
        cmd.args(args);
        let label = format!("lifeboat {}", args.join(" "));
        let mut run = Self::idle(label, Some(ctx.config.catalog.path.clone()));
        run.pending = Some(Start::Command(cmd));
        run
    }

    /// Like [`ChildRun::lifeboat`] for a run with `--json`: its stdout is
    /// parsed by the wizard, not shown.
    pub fn lifeboat_json(ctx: &WizardContext, args: &[String]) -> ChildRun {
        let mut a = vec!["--json".to_string()];
        a.extend_from_slice(args);
        let mut run = Self::lifeboat(ctx, &a);
        run.json = true;
        run
    }

    /// A child that writes no job row (a plan, `catalog rebuild`): its
    /// output is all there is to follow, so nothing waits for a job to
    /// appear in the catalog, and the catalog is not opened for it (it may
    /// not exist yet, or be what the child rebuilds).
    pub fn without_jobs(mut self) -> ChildRun {
        self.catalog_path = None;
        self
    }

    /// Queue `request` and start a worker process for it (see
    /// [`crate::background::launch`]); follow the job in the catalog. A
    /// request the queue refuses (a backup that no longer exists, nothing
    /// configured) ends at once with the reason.
    pub fn queued(ctx: &WizardContext, request: JobRequest) -> ChildRun {
        let label = request.command_line();
        let mut run = Self::idle(label, Some(ctx.config.catalog.path.clone()));
        run.pending = Some(Start::Queued {
            exe: ctx.exe.clone(),
            config_path: ctx.config_path.clone(),
            config: Box::new(ctx.config.clone()),
            request,
        });
        run
    }

    /// Start what was decided: queue the request and start its worker, or
    /// spawn the command.
    fn begin(&mut self, start: Start) {
        self.started = Instant::now();
        match start {
            Start::Queued {
                exe,
                config_path,
                config,
                request,
            } => match crate::background::launch(&exe, config_path.as_deref(), &config, request) {
                Ok(l) => {
                    self.pid = l.child.id();
                    self.child = Some(l.child);
                    self.job_id = Some(l.job_id);
                    self.log = Some(l.log);
                    self.label = l.label;
                }
                Err(e) => {
                    self.spawn_error = Some(format!("cannot start `{}`: {e}", self.label));
                    self.ended_after = Some(Duration::ZERO);
                }
            },
            Start::Command(cmd) => self.spawn(cmd),
        }
    }

    /// A run that could not start, with the reason (shown as its outcome).
    pub fn failed(label: String, why: String) -> ChildRun {
        let mut run = Self::idle(label, None);
        run.spawn_error = Some(why);
        run.ended_after = Some(Duration::ZERO);
        run
    }

    /// Start an operator's shell command (`sh -c COMMAND`).
    pub fn shell(command: &str) -> ChildRun {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(command);
        let mut run = Self::idle(command.to_string(), None);
        run.pending = Some(Start::Command(cmd));
        run
    }

    fn idle(label: String, catalog_path: Option<PathBuf>) -> ChildRun {
        ChildRun {
            pending: None,
            label,
            child: None,
            pid: 0,
            started: Instant::now(),
            ended_after: None,
            rx: None,
            lines: VecDeque::new(),
            stdout: String::new(),
            json: false,
            status: None,
            spawn_error: None,
            catalog_path,
            catalog: None,
            catalog_error: None,
            after_job: 0,
            job_id: None,
            log: None,
            ended_seen: None,
            host: lifeboat_engine::ops::hostname(),
            last_poll: None,
            jobs: Vec::new(),
            stop_asked: false,
        }
    }

    fn spawn(&mut self, mut cmd: Command) {
        let run = self;
        // Mark the job history before the child can add to it.
        if let Some(path) = run.catalog_path.as_deref().filter(|p| p.exists()) {
            if let Ok(c) = Catalog::open_existing_light(path) {
                match c.last_job_id() {
                    Ok(id) => {
                        run.after_job = id;
                        run.catalog = Some(c);
                    }
                    Err(e) => run.catalog_error = Some(e.message),
                }
            }
        }
        // Its output is read into the wizard, not drawn by a terminal: ask
        // for plain text (`printable` takes out what is sent anyway).
        cmd.env("NO_COLOR", "1")
            .env("TERM", "dumb")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match cmd.spawn() {
            Ok(mut child) => {
                run.pid = child.id();
                let (tx, rx) = mpsc::channel();
                if let Some(out) = child.stdout.take() {
                    let tx = tx.clone();
                    std::thread::spawn(move || read_lines(out, |l| tx.send(Msg::Out(l)).is_ok()));
                }
                if let Some(err) = child.stderr.take() {
                    std::thread::spawn(move || read_lines(err, |l| tx.send(Msg::Err(l)).is_ok()));
                }
                run.rx = Some(rx);
                run.child = Some(child);
            }
            Err(e) => {
                run.spawn_error = Some(format!(
                    "cannot start {} for `{}`: {e}",
                    cmd.get_program().to_string_lossy(),
                    run.label
                ));
                run.ended_after = Some(Duration::ZERO);
            }
        }
    }

    /// Drain output, reap the process, refresh its jobs. True when
    /// anything changed.
    pub fn tick(&mut self) -> bool {
        if let Some(start) = self.pending.take() {
            self.begin(start);
            return true;
        }
        if std::mem::take(&mut self.stop_asked) {
            self.send_stop();
        }
        if self.job_id.is_some() {
            return self.tick_job();
        }
        let mut changed = false;
        if let Some(rx) = &self.rx {
            loop {
                match rx.try_recv() {
                    Ok(Msg::Out(l)) => {
                        if self.stdout.len() + l.len() < KEEP_STDOUT {
                            self.stdout.push_str(&l);
                            self.stdout.push('\n');
                        }
                        if !self.json {
                            push_line(&mut self.lines, &l);
                        }
                        changed = true;
                    }
                    Ok(Msg::Err(l)) => {
                        push_line(&mut self.lines, &l);
                        changed = true;
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        self.rx = None;
                        changed = true;
                        break;
                    }
                }
            }
        }
        if self.status.is_none() {
            if let Some(child) = &mut self.child {
                match child.try_wait() {
                    Ok(Some(st)) => {
                        self.status = Some(st);
                        changed = true;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        self.spawn_error = Some(format!("lost track of {}: {e}", self.label));
                        self.status = None;
                        self.child = None;
                        changed = true;
                    }
                }
            }
        }
        let exited = self.status.is_some() || self.child.is_none();
        let due = self.last_poll.is_none_or(|t| t.elapsed() >= POLL_JOBS);
        if self.catalog_path.is_some() && (due || exited) && self.ended_after.is_none() {
            changed |= self.poll_jobs();
        }
        if exited && self.rx.is_none() && self.ended_after.is_none() {
            // Once more after the exit: the job rows' final states.
            self.poll_jobs();
            self.ended_after = Some(self.started.elapsed());
            changed = true;
        }
        changed
    }

    /// Queued work: reap the worker, follow the job and what it started,
    /// its log, and when it has ended, the report the worker recorded. The
    /// run is finished once the job has ended and its report is in (or its
    /// worker is gone, or it has been a few seconds: a daemon's worker may
    /// have run it, or the job may have failed before any report).
    fn tick_job(&mut self) -> bool {
        if self.ended_after.is_some() {
            return false;
        }
        let mut changed = false;
        if self.status.is_none() {
            if let Some(child) = &mut self.child {
                if let Ok(Some(st)) = child.try_wait() {
                    self.status = Some(st);
                    changed = true;
                }
            }
        }
        let due = self.last_poll.is_none_or(|t| t.elapsed() >= POLL_JOBS);
        if !due {
            return changed;
        }
        changed |= self.poll_jobs();
        let id = self.job_id.expect("job mode");
        changed |= self.refresh_log(id);
        let Some(cat) = self.catalog.as_ref() else {
            return changed;
        };
        let Some(job) = self.jobs.iter().find(|j| j.id == id).cloned() else {
            return changed;
        };
        let log = self.log.clone().unwrap_or_default();
        let end = |run: &mut ChildRun, why: String| {
            run.spawn_error = Some(why);
            run.ended_after = Some(run.started.elapsed());
            true
        };
        match job.state {
            // A worker that exited before it claimed the job leaves it
            // queued: nobody will run it now, so it leaves the queue.
            JobState::Queued if self.status.is_some_and(|s| !s.success()) => {
                let reason = format!(
                    "its worker exited ({}) before it ran the job",
                    self.exit_text()
                );
                let _ = cat.cancel_if_queued(id, &reason);
                let why = format!(
                    "the worker for job {id} exited ({}) before it ran the job: {} (its output is in {}); the job was taken out of the queue",
                    self.exit_text(),
                    crate::background::last_words(&log),
                    log.display()
                );
                end(self, why)
            }
            JobState::Queued => changed,
            JobState::Running => {
                let ours_died =
                    self.status.is_some() && self.catalog_error.is_none() && job.pid == self.pid;
                let silent = Utc::now() - job.updated_at;
                if ours_died {
                    let why = format!(
                        "the worker running job {id} (pid {}) ended ({}) without closing the job; the next `lifeboat` command marks it interrupted; its output is in {}",
                        self.pid,
                        self.exit_text(),
                        log.display()
                    );
                    end(self, why)
                } else if silent.to_std().is_ok_and(|d| d > 2 * LEASE) {
                    // Run by another worker (a daemon's) that stopped
                    // renewing its lease: dead or hung.
                    let why = format!(
                        "job {id} has not renewed its lease for {}s: its worker (pid {} on {}) died or hangs; the next `lifeboat` command on that host marks it interrupted",
                        silent.num_seconds(),
                        job.pid,
                        job.host
                    );
                    end(self, why)
                } else {
                    changed
                }
            }
            _ => {
                // Ended. The worker records the report just after: wait
                // for it while the worker lives (30 s at most).
                let since = *self.ended_seen.get_or_insert_with(Instant::now);
                let result = cat.job_result(id).ok().flatten();
                let worker_gone = job.host == self.host && !process_alive(job.pid);
                if result.is_some() || worker_gone || since.elapsed() >= Duration::from_secs(30) {
                    self.stdout = result.unwrap_or_default();
                    // The report's lines came with it: read the log once more.
                    self.last_poll = None;
                    self.refresh_log(id);
                    self.ended_after = Some(self.started.elapsed());
                    true
                } else {
                    changed
                }
            }
        }
    }

    /// The job's log as lines for people (info lines as they are).
    fn refresh_log(&mut self, id: i64) -> bool {
        let Some(cat) = self.catalog.as_ref() else {
            return false;
        };
        let Ok(log) = cat.get_job_log(id) else {
            return false;
        };
        let lines: VecDeque<String> = log
            .iter()
            .skip(log.len().saturating_sub(KEEP_LINES))
            .map(|(_, level, msg)| match level.as_str() {
                "info" => printable(msg),
                _ => printable(&format!("{level}: {msg}")),
            })
            .collect();
        let changed = lines != self.lines;
        self.lines = lines;
        changed
    }

    fn poll_jobs(&mut self) -> bool {
        self.last_poll = Some(Instant::now());
        if self.pid == 0 {
            return false;
        }
        if self.catalog.is_none() {
            let Some(path) = self.catalog_path.as_deref() else {
                return false;
            };
            if !path.exists() {
                return false;
            }
            match Catalog::open_existing_light(path) {
                Ok(c) => self.catalog = Some(c),
                Err(e) => {
                    self.catalog_error = Some(e.message);
                    return false;
                }
            }
        }
        let cat = self.catalog.as_ref().expect("opened above");
        let jobs = match self.job_id {
            Some(id) => cat.job_family(id),
            None => cat.jobs_of_process(&self.host, self.pid, self.after_job),
        };
        match jobs {
            Ok(jobs) => {
                self.catalog_error = None;
                let changed = jobs != self.jobs;
                self.jobs = jobs;
                changed
            }
            Err(e) => {
                // A catalog not yet migrated by the child, or busy: try again.
                self.catalog_error = Some(e.message);
                false
            }
        }
    }

    /// The process has ended and all its output has been read.
    pub fn finished(&self) -> bool {
        self.ended_after.is_some()
    }

    /// Queued work, run by a worker of its own that outlives the console;
    /// otherwise a child of the console, whose output nobody reads once
    /// the console has quit.
    pub fn outlives_console(&self) -> bool {
        self.job_id.is_some() || matches!(self.pending, Some(Start::Queued { .. }))
    }

    /// While it runs: this run as the quit dialog names it, `what` first
    /// ("the restore preview: lifeboat restore ... --dry-run").
    pub fn underway(&self, what: &str) -> Option<Underway> {
        (!self.finished()).then(|| Underway {
            what: format!("{what}: {}", self.label),
            outlives_console: self.outlives_console(),
        })
    }

    /// Ended with exit status 0 (queued work: the job succeeded).
    pub fn succeeded(&self) -> bool {
        if let Some(id) = self.job_id {
            return self.finished()
                && self.spawn_error.is_none()
                && self.jobs.iter().any(|j| j.id == id && j.state.is_success());
        }
        self.finished() && self.status.is_some_and(|s| s.success())
    }

    /// Ask the work to stop at its next safe point (a decision, like a
    /// key's: the next tick, which the console runs right after the key,
    /// sends it). Work decided but not started yet is dropped: it never
    /// starts.
    pub fn interrupt(&mut self) {
        if self.pending.take().is_some() {
            self.spawn_error = Some(format!("`{}` was cancelled before it started", self.label));
            self.ended_after = Some(Duration::ZERO);
            return;
        }
        self.stop_asked = true;
    }

    /// Send the stop: queued work through the catalog (as `lifeboat
    /// cancel` does), a child with SIGINT.
    fn send_stop(&mut self) {
        if let (Some(id), false) = (self.job_id, self.finished()) {
            if let Some(cat) = &self.catalog {
                let _ = cat.request_cancel(id);
            } else if let Some(path) = &self.catalog_path {
                let _ = Catalog::open_existing_light(path).and_then(|c| c.request_cancel(id));
            }
            return;
        }
        if self.pid != 0 && !self.finished() {
            // SAFETY: kill only sends a signal to our own child's pid.
            unsafe {
                libc::kill(self.pid as libc::pid_t, libc::SIGINT);
            }
        }
    }

    /// "exit 0", "exit 1", "killed by signal 9", "could not start"; for
    /// queued work, "job 12 succeeded".
    pub fn status_text(&self) -> String {
        if let Some(e) = &self.spawn_error {
            return e.clone();
        }
        if let Some(id) = self.job_id {
            let state = self
                .jobs
                .iter()
                .find(|j| j.id == id)
                .map_or("queued", |j| j.state.as_str());
            return format!("job {id} {state}");
        }
        self.exit_text()
    }

    fn exit_text(&self) -> String {
        match self.status {
            None => "running".into(),
            Some(s) => match s.code() {
                Some(c) => format!("exit {c}"),
                None => {
                    use std::os::unix::process::ExitStatusExt;
                    format!("killed by signal {}", s.signal().unwrap_or(0))
                }
            },
        }
    }

    /// Live view: the command, elapsed time, each job's phase with a bar,
    /// throughput and ETA, and the newest output lines.
    pub fn progress_lines(&self, tail: usize) -> Vec<Line<'static>> {
        let who = match self.job_id {
            Some(id) => format!("job {id}, worker pid {}", self.pid),
            None => format!("pid {}", self.pid),
        };
        let mut v = vec![text(format!(
            "Running: {} ({who}, {} so far)",
            self.label,
            duration(self.started.elapsed().as_secs() as i64)
        ))];
        for j in &self.jobs {
            v.extend(job_lines(j));
        }
        if self.jobs.is_empty() && self.catalog_path.is_some() {
            v.push(text("  waiting for the job to appear in the catalog..."));
        }
        v.push(text(""));
        v.extend(self.tail(tail));
        v
    }

    /// Finished view: exit status, each job's final state and error, and
    /// the last lines of output.
    pub fn outcome_lines(&self, tail: usize) -> Vec<Line<'static>> {
        let verdict = if self.succeeded() {
            "OK"
        } else if self.finished() {
            "FAILED"
        } else {
            "RUNNING"
        };
        let took = self
            .ended_after
            .map(|d| format!(" after {}", duration(d.as_secs() as i64)))
            .unwrap_or_default();
        let mut v = vec![text(format!(
            "{verdict}: {} ({}{took})",
            self.label,
            self.status_text()
        ))];
        for j in &self.jobs {
            let mut s = format!("  job {} {} {}: {}", j.id, j.kind, j.target, j.state);
            if let Some(e) = &j.error {
                s.push_str(&format!(" - {e}"));
            }
            v.push(text(s));
        }
        v.extend(self.tail(tail));
        v
    }

    /// The last `n` output lines, indented.
    pub fn tail(&self, n: usize) -> Vec<Line<'static>> {
        let skip = self.lines.len().saturating_sub(n);
        self.lines
            .iter()
            .skip(skip)
            .map(|l| text(format!("  | {l}")))
            .collect()
    }
}

impl Drop for ChildRun {
    fn drop(&mut self) {
        // The wizard was closed while the child ran: let it finish (it is
        // an ordinary job, visible in the catalog), but reap it so it does
        // not linger as a zombie.
        if let Some(mut child) = self.child.take() {
            if self.status.is_none() {
                // Queued work whose worker exits before it claimed the job
                // leaves the queue then, as if the wizard were still open.
                let queued = self.job_id.zip(self.catalog_path.clone());
                std::thread::spawn(move || {
                    let status = child.wait();
                    if let (Some((id, path)), Ok(st)) = (queued, status) {
                        if !st.success() {
                            let _ = Catalog::open_existing_light(&path).and_then(|c| {
                                c.cancel_if_queued(id, "its worker exited before it ran the job")
                            });
                        }
                    }
                });
            }
        }
    }
}

/// Two lines for one job: what it is doing, and a bar with rate and ETA.
pub fn job_lines(j: &JobRecord) -> Vec<Line<'static>> {
    let mut head = format!("  job {} {} {}: {}", j.id, j.kind, j.target, j.state);
    if let Some(p) = &j.phase {
        head.push_str(&format!(" ({p})"));
    }
    if j.cancel_requested && j.state == JobState::Running {
        head.push_str(", cancel requested");
    }
    let mut v = vec![text(head)];
    // A settled dead job's updated_at is when it was settled; it ended at
    // finished_at.
    let last = j.finished_at.unwrap_or(j.updated_at);
    let secs = (last - j.started_at.unwrap_or(j.created_at)).num_milliseconds() as f64 / 1000.0;
    let rate = (secs > 0.2 && j.bytes_done > 0).then(|| j.bytes_done as f64 / secs);
    let mut line = match shown_total(j, j.bytes_done, j.bytes_total) {
        Some(t) => format!(
            "    {} {} of {}",
            bar(j.bytes_done, t, 24),
            size(j.bytes_done),
            size(t)
        ),
        None => format!("    {} done", size(j.bytes_done)),
    };
    if j.items_done > 0 {
        match shown_total(j, j.items_done, j.items_total) {
            Some(t) => line.push_str(&format!(", {}/{} items", j.items_done, t)),
            None => line.push_str(&format!(", {} items", j.items_done)),
        }
    }
    if let Some(r) = rate {
        line.push_str(&format!(", {}/s", size(r as u64)));
        if let Some(t) = j.bytes_total.filter(|t| *t > j.bytes_done) {
            if j.state == JobState::Running {
                line.push_str(&format!(
                    ", eta {}",
                    duration(((t - j.bytes_done) as f64 / r) as i64)
                ));
            }
        }
    }
    v.push(text(line));
    if let Some(e) = &j.error {
        v.push(text(format!("    error: {e}")));
    }
    v
}

/// The total to show `done` against: none when unknown, and none for a
/// finished success whose row does not read done == total (written before
/// totals were settled at the end): a bar at 37% would contradict its
/// state, so it reads "done" with the final amount instead.
fn shown_total(j: &JobRecord, done: u64, total: Option<u64>) -> Option<u64> {
    total.filter(|t| *t > 0 && !(j.state.is_success() && *t != done))
}

/// A process of this host is alive (or a zombie not yet reaped).
fn process_alive(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the pid exists.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Keep `l` (made printable) as the newest output line.
fn push_line(lines: &mut VecDeque<String>, l: &str) {
    if lines.len() >= KEEP_LINES {
        lines.pop_front();
    }
    lines.push_back(printable(l));
}

/// Read `r` line by line (lossy UTF-8, long lines cut) until EOF or until
/// `send` says nobody listens any more.
fn read_lines(r: impl Read, mut send: impl FnMut(String) -> bool) {
    let mut r = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    buf.pop();
                }
                buf.truncate(4096);
                // Progress bars redraw with \r: keep what was drawn last.
                let s = String::from_utf8_lossy(&buf);
                let s = s.rsplit('\r').next().unwrap_or("").to_string();
                if !send(s) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn job(state: &str, done: u64, total: Option<u64>, secs: i64) -> JobRecord {
        let t0 = Utc::now() - chrono::Duration::seconds(60);
        JobRecord {
            id: 7,
            kind: "backup".into(),
            target: "filesystem".into(),
            state: state.parse().unwrap(),
            phase: Some("reading files".into()),
            bytes_done: done,
            bytes_total: total,
            items_done: 3,
            items_total: Some(10),
            created_at: t0,
            started_at: Some(t0),
            finished_at: None,
            updated_at: t0 + chrono::Duration::seconds(secs),
            error: None,
            host: "h".into(),
            pid: 1,
            partial_outputs: Vec::new(),
            cancel_requested: false,
            parent_job: None,
            resource: None,
        }
    }

    fn render(lines: Vec<Line<'static>>) -> String {
        lines
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_running_job_shows_bar_throughput_and_eta() {
        // 25 MiB of 100 MiB in 10 s: 2.5 MiB/s, 30 s left.
        let s = render(job_lines(&job("running", 25 << 20, Some(100 << 20), 10)));
        assert!(
            s.contains("job 7 backup filesystem: running (reading files)"),
            "{s}"
        );
        assert!(s.contains("[######..................]  25%"), "{s}");
        assert!(s.contains("2.50 MiB/s"), "{s}");
        assert!(s.contains("eta 30s"), "{s}");
        assert!(s.contains("3/10 items"), "{s}");
    }

    #[test]
    fn a_failed_job_shows_its_error_and_no_eta() {
        let mut j = job("failed", 10, Some(100), 10);
        j.error = Some("disk full on /repo".into());
        let s = render(job_lines(&j));
        assert!(!s.contains("eta"), "{s}");
        assert!(s.contains("error: disk full on /repo"), "{s}");
    }

    /// A drill's restore recorded before chain totals were set once
    /// (71 B of one link's 193 B): finished, it reads as done, with no
    /// percentage; a consistent finished row keeps its full bar.
    #[test]
    fn a_finished_job_never_shows_a_percentage_its_state_contradicts() {
        let mut j = job("succeeded", 71, Some(193), 10);
        j.items_total = Some(11);
        let s = render(job_lines(&j));
        assert!(!s.contains('%'), "{s}");
        assert!(s.contains("71 B done, 3 items"), "{s}");
        assert!(!s.contains("of 193 B") && !s.contains("/11"), "{s}");

        let mut j = job("succeeded", 193, Some(193), 10);
        j.items_total = Some(3);
        let s = render(job_lines(&j));
        assert!(s.contains("100%") && s.contains("193 B of 193 B"), "{s}");
        assert!(s.contains("3/3 items"), "{s}");

        // Stopped short, it says where it stopped.
        let s = render(job_lines(&job("cancelled", 71, Some(193), 10)));
        assert!(s.contains("37%") && s.contains("71 B of 193 B"), "{s}");
    }

    #[test]
    fn a_command_that_cannot_start_says_so() {
        let ctx = WizardContext {
            config: lifeboat_engine::config::Config::default(),
            config_path: None,
            exe: PathBuf::from("/nonexistent/lifeboat"),
            now: chrono::Utc::now(),
        };
        let mut r = ChildRun::lifeboat(&ctx, &["list".into()]);
        r.tick();
        assert!(r.finished() && !r.succeeded());
        let s = render(r.outcome_lines(5));
        assert!(s.contains("FAILED: lifeboat list"), "{s}");
        assert!(
            s.contains("cannot start /nonexistent/lifeboat for `lifeboat list`"),
            "{s}"
        );
    }

    /// A child without a job row is not shown waiting for one.
    #[test]
    fn a_child_without_jobs_does_not_wait_for_a_job() {
        let ctx = WizardContext {
            config: lifeboat_engine::config::Config::default(),
            config_path: None,
            exe: PathBuf::from("/bin/sleep"),
            now: chrono::Utc::now(),
        };
        let waiting = "waiting for the job to appear";
        let mut r = ChildRun::lifeboat(&ctx, &["5".into()]);
        r.tick();
        assert!(render(r.progress_lines(3)).contains(waiting));
        r.interrupt();
        r.tick();
        let mut r = ChildRun::lifeboat(&ctx, &["5".into()]).without_jobs();
        r.tick();
        let s = render(r.progress_lines(3));
        assert!(
            s.contains("Running: lifeboat 5") && !s.contains(waiting),
            "{s}"
        );
        r.interrupt();
        r.tick();
    }

    #[test]
    fn output_is_made_printable() {
        // Colours and erase-line (CSI), a title and a hyperlink (OSC, ended
        // by BEL and by ST), a charset switch (nF), a keypad mode (ESC =).
        assert_eq!(printable("\u{1b}[1;32mOK\u{1b}[0m done\u{1b}[K"), "OK done");
        assert_eq!(
            printable("\u{1b}]0;title\u{7}see \u{1b}]8;;http://x\u{1b}\\docs\u{1b}]8;;\u{1b}\\"),
            "see docs"
        );
        assert_eq!(printable("\u{1b}(Bplain\u{1b}=!"), "plain!");
        // The one-character C1 forms, and a DCS string.
        assert_eq!(
            printable("\u{9b}31mred\u{9b}0m \u{1b}Pq#0\u{1b}\\x"),
            "red x"
        );
        // Tabs to the next 8-column stop; other controls dropped.
        assert_eq!(printable("a\tbc\td"), "a       bc      d");
        assert_eq!(printable("\tx"), "        x");
        assert_eq!(
            printable("bell\u{7} back\u{8}space\u{7f} nul\u{0}"),
            "bell backspace nul"
        );
        // An escape cut off at the end of the line takes nothing else.
        assert_eq!(printable("50%\u{1b}[3"), "50%");
        assert_eq!(printable("end\u{1b}"), "end");
        // Text that needs nothing stays as it is, wide characters too.
        assert_eq!(printable("größe 10 MiB ✓ 日本"), "größe 10 MiB ✓ 日本");
    }

    /// A child's output reaches the lines plain, and the child was asked
    /// for plain output (NO_COLOR=1, TERM=dumb) in the first place.
    #[test]
    fn a_childs_output_lines_are_plain() {
        let mut r = ChildRun::shell(
            "printf 'env %s %s\\n' \"$NO_COLOR\" \"$TERM\"; \
             printf '\\033[31mred\\033[0m\\tcol\\n'; printf '\\033[1mwarn\\033[0m\\n' >&2",
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while !r.finished() {
            assert!(Instant::now() < deadline, "the shell did not end");
            r.tick();
            std::thread::sleep(Duration::from_millis(20));
        }
        let lines: Vec<&str> = r.lines.iter().map(String::as_str).collect();
        assert!(lines.contains(&"env 1 dumb"), "{lines:?}");
        assert!(lines.contains(&"red     col"), "{lines:?}");
        assert!(lines.contains(&"warn"), "{lines:?}");
    }

    /// Work decided but not started yet, then cancelled: it never starts
    /// (its tick does not queue it) and says so.
    #[test]
    fn work_cancelled_before_its_first_tick_never_starts() {
        let ctx = WizardContext {
            config: lifeboat_engine::config::Config::default(),
            config_path: None,
            exe: PathBuf::from("/nonexistent/lifeboat"),
            now: chrono::Utc::now(),
        };
        let mut r = ChildRun::queued(&ctx, JobRequest::Prune { force: false });
        assert!(!r.finished(), "decided work counts as running");
        r.interrupt();
        assert!(r.finished() && !r.succeeded());
        r.tick();
        assert_eq!(
            (r.job_id, r.pid),
            (None, 0),
            "nothing was queued or started"
        );
        let s = render(r.outcome_lines(5));
        assert!(s.contains("was cancelled before it started"), "{s}");
    }

    /// `x` only decides: the key sends nothing, the tick after it (which
    /// the console runs right away) sends the stop.
    #[test]
    fn interrupt_decides_and_the_next_tick_sends_the_stop() {
        // `exec` so the pid is the sleeping process itself.
        let mut r = ChildRun::shell("exec sleep 30");
        r.tick();
        assert!(r.pid != 0 && !r.finished());
        r.interrupt();
        assert!(r.stop_asked, "the stop is decided, not sent");
        r.tick();
        assert!(!r.stop_asked, "the tick sent it");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !r.finished() {
            assert!(Instant::now() < deadline, "the stop never arrived");
            std::thread::sleep(Duration::from_millis(20));
            r.tick();
        }
        assert!(!r.succeeded());
    }
}
