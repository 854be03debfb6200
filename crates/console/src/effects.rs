//! The console's hands: everything it does to the world outside its own
//! state. Key handling, the timer and background results
//! ([`App::update`], [`App::on_tick`], [`App::on_result`]) only decide,
//! and say what they decided as an [`Effect`]: start work, delete a
//! backup, cancel a job, re-read the catalog, start a background check,
//! read a job's log or a backup's detail. [`Console`] (the [`App`] plus
//! its hands) carries them out. This module holds the only catalog handle and the channel
//! background work answers on ([`Io`], whose fields nothing else can
//! reach), so the rest of the console cannot read or write the world
//! behind the decisions' back, and what a key does is testable without
//! starting anything: `update` a key, look at the effects.
//!
//! A wizard is a small state machine of its own: its key handling decides
//! (a step, a preview or queued work to start), and its tick, run here as
//! [`Effect::TickWizard`] right after the key and on the timer, starts
//! what was decided (through the same `background::launch` as
//! [`Effect::Launch`]) and polls it; `x` only decides too, and the tick
//! sends the stop. (Some of a wizard's steps still act from the key,
//! through its own light catalog handle or a thread: the restore wizard
//! lists the backups of the type just chosen, the recovery wizard's
//! application health probe starts.)

use std::time::{Duration, Instant};

use chrono::Utc;
use crossbeam_channel::{Receiver, Sender};
use lifeboat_engine::catalog::{Catalog, JobState};

use crate::app::{App, AppContext, Effect, Level};
use crate::background::{self, BgResult, Task};
use crate::data;
use crate::joblog::LOG_CAP;
use crate::wizards::{WizardContext, WizardKind};
use crossterm::event::{KeyEvent, MouseEvent};

/// What only effects touch: the catalog handle and the channel the
/// background threads answer on.
pub struct Io {
    catalog: Option<Catalog>,
    /// The light open met an older schema: use the migrating open.
    full_open: bool,
    bg_tx: Sender<BgResult>,
    bg_rx: Receiver<BgResult>,
    /// This host's name: a running job of this host whose process is
    /// gone is dead at once, without waiting for its lease.
    host: String,
    /// Where an OSC 52 clipboard sequence goes: the terminal, when the
    /// console draws into one (none in tests and benchmarks).
    clipboard: Option<Clipboard>,
    /// Turns the terminal's mouse reporting on or off (none without a
    /// terminal).
    mouse: Option<MouseSwitch>,
}

/// Turns the terminal's mouse reporting on (true) or off.
pub type MouseSwitch = Box<dyn FnMut(bool) -> std::io::Result<()>>;

/// Writes a terminal control sequence (the console's stdout).
pub type Clipboard = Box<dyn FnMut(&str) -> std::io::Result<()>>;

/// The OSC 52 sequence that asks the terminal to put `text` on the
/// system clipboard (xterm, iTerm2, kitty, WezTerm, Windows Terminal,
/// tmux with set-clipboard on): it travels through SSH like any output.
pub fn osc52(text: &str) -> String {
    use base64::Engine as _;
    format!(
        "\x1b]52;c;{}\x07",
        base64::engine::general_purpose::STANDARD.encode(text)
    )
}

impl Io {
    pub fn new() -> Io {
        let (bg_tx, bg_rx) = crossbeam_channel::unbounded();
        Io {
            catalog: None,
            full_open: false,
            bg_tx,
            bg_rx,
            host: lifeboat_engine::host::hostname(),
            clipboard: None,
            mouse: None,
        }
    }

    /// The catalog is open (background checks need it).
    pub fn has_catalog(&self) -> bool {
        self.catalog.is_some()
    }
}

impl Default for Io {
    fn default() -> Self {
        Io::new()
    }
}

/// The console: its state ([`App`], which decides) and its hands ([`Io`],
/// which only this module touches). The terminal loop, the tests and the
/// benchmarks drive it through [`Console::handle_key`],
/// [`Console::tick`] and [`Console::apply`], each of which decides and
/// then carries out what was decided; the state reads through `Deref`.
pub struct Console {
    pub app: App,
    io: Io,
}

impl std::ops::Deref for Console {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

impl std::ops::DerefMut for Console {
    fn deref_mut(&mut self) -> &mut App {
        &mut self.app
    }
}

impl Console {
    /// Open the catalog and load every list (the background checks start
    /// with [`Console::start_background`]). Never fails: what cannot be
    /// read is shown in place.
    pub fn new(ctx: AppContext) -> Console {
        let mut console = Console {
            app: App::new(ctx),
            io: Io::new(),
        };
        console.refresh(true);
        console
    }

    /// Handle one key press: decide ([`App::update`]), then do what was
    /// decided.
    pub fn handle_key(&mut self, key: KeyEvent) {
        let decided = self.app.update(key);
        self.app.effects.extend(decided);
        self.run_effects();
    }

    /// Handle one mouse event: decide ([`App::on_mouse`]), then do what
    /// was decided.
    pub fn handle_mouse(&mut self, event: MouseEvent) {
        let decided = self.app.on_mouse(event);
        self.app.effects.extend(decided);
        self.run_effects();
    }

    /// Turn the mouse on or off, as `m` does (the terminal loop turns it
    /// on at the start when `LIFEBOAT_MOUSE=1`).
    pub fn set_mouse(&mut self, on: bool) {
        self.app.set_mouse(on);
        self.run_effects();
    }

    /// The timer: decide ([`App::on_tick`]), then do what was decided.
    /// Returns true when a redraw is due.
    pub fn tick(&mut self) -> bool {
        let decided = self.app.on_tick(Instant::now(), Utc::now());
        self.app.effects.extend(decided);
        self.run_effects();
        self.app.dirty
    }

    /// Apply one background result and do what it calls for.
    pub fn apply(&mut self, r: BgResult) {
        let check_ended = matches!(r.task(), Some(Task::Storage | Task::Health | Task::Restore));
        let decided = self.app.on_result(r);
        self.app.effects.extend(decided);
        self.run_effects();
        if check_ended {
            return_freed_memory();
        }
    }

    /// Send [`Effect::Copy`] to the terminal through `write` (the
    /// terminal loop installs one; without it a copy says it cannot).
    pub fn set_clipboard(&mut self, write: Clipboard) {
        self.io.clipboard = Some(write);
    }

    /// Carry out [`Effect::Mouse`] through `switch` (the terminal loop
    /// installs one; without it the mouse stays off and says why).
    pub fn set_mouse_switch(&mut self, switch: MouseSwitch) {
        self.io.mouse = Some(switch);
    }

    /// Start the background checks (health, storage, audit chain, restore
    /// evidence). The terminal loop calls it after the first frame, so a
    /// large catalog's first frame does not compete with them for CPU.
    pub fn start_background(&mut self) {
        self.app.decide_background(Instant::now());
        self.run_effects();
    }

    /// Carry out every effect decided so far (by the timer, a background
    /// result, or a key handled through [`Console::handle_key`]).
    pub fn run_effects(&mut self) {
        // An effect may call for more (an opened wizard is ticked, a refresh
        // that found new backups starts checks): run until none is left.
        while !self.effects.is_empty() {
            for e in std::mem::take(&mut self.effects) {
                self.run_one(e);
            }
        }
    }

    /// Carry out one effect, and what it calls for in turn (opening a
    /// wizard ticks it); what happened shows in the status line.
    pub fn run_effect(&mut self, effect: Effect) {
        self.effects.push(effect);
        self.run_effects();
    }

    fn run_one(&mut self, effect: Effect) {
        match effect {
            Effect::Launch(request) => {
                let what = request.command_line();
                let result = background::launch_reported(
                    &self.ctx.exe,
                    self.ctx.config_path.as_deref(),
                    &self.ctx.config,
                    request,
                    self.io.bg_tx.clone(),
                );
                match result {
                    Ok(child) => {
                        self.say(
                            Level::Info,
                            format!(
                                "`{what}` is job {} (worker pid {}); it shows on the Jobs screen, c there cancels it",
                                child.job_id, child.pid
                            ),
                        );
                        self.children.push(child);
                    }
                    Err(e) => self.say(Level::Error, format!("cannot start `{what}`: {e}")),
                }
            }
            Effect::Delete(id) => {
                self.say(Level::Info, format!("deleting backup {id}..."));
                self.in_flight.insert(background::Task::Delete);
                background::delete(self.ctx.config.clone(), id, self.io.bg_tx.clone());
            }
            Effect::CancelJob(id) => self.request_cancel(id, 0),
            Effect::RetryCancel { id, tries } => self.request_cancel(id, tries),
            Effect::Refresh { force } => {
                self.refresh(force);
                self.look_for_dead_processes();
                // New backups make health, storage and restore evidence
                // due at once (see reload_from): start them in this pass.
                if self.background {
                    self.periodic_checks(Instant::now());
                }
            }
            Effect::Check(task) => self.start(task),
            Effect::LoadJobLog { changed } => self.load_job_log(changed),
            Effect::ReadFullLog(id) => self.read_full_log(id),
            Effect::LoadDetail(id) => self.load_detail(&id),
            Effect::OpenWizard(kind) => self.open_wizard_now(kind),
            Effect::Copy(text) => self.copy(&text),
            Effect::Mouse(on) => self.switch_mouse(on),
            Effect::TickWizard => {
                let app = &mut self.app;
                let mut ended = None;
                if let Some(w) = app.wizard.as_mut() {
                    let was_running = w.is_running();
                    if w.tick(app.now) {
                        app.dirty = true;
                    }
                    if was_running && !w.is_running() {
                        ended = Some(w.title());
                    }
                }
                // Put aside, its end would pass unseen.
                if let Some(title) = ended.filter(|_| app.wizard_hidden) {
                    app.say(
                        Level::Info,
                        format!("the {title} wizard finished its work: w shows how it ended"),
                    );
                }
            }
        }
    }

    /// Send `text` to the clipboard through the terminal (OSC 52).
    fn copy(&mut self, text: &str) {
        let sent = self.io.clipboard.as_mut().map(|w| w(&osc52(text)));
        match sent {
            Some(Ok(())) => self.say(
                Level::Info,
                format!("copied {text} (through the terminal; if nothing arrived, its clipboard access (OSC 52) is off)"),
            ),
            Some(Err(e)) => self.say(Level::Error, format!("could not copy {text}: {e}")),
            None => self.say(Level::Warn, format!("no terminal to copy through: {text}")),
        }
    }

    /// Ask the terminal to report the mouse, or to stop; when it cannot,
    /// the state goes back to what the terminal does, and says why.
    fn switch_mouse(&mut self, on: bool) {
        let switched = self.io.mouse.as_mut().map(|switch| switch(on));
        let why = match switched {
            Some(Ok(())) => return,
            Some(Err(e)) => format!("the terminal did not take it: {e}"),
            None => "there is no terminal to report it".to_string(),
        };
        self.app.mouse = !on;
        let what = if on { "on" } else { "off" };
        self.say(Level::Error, format!("cannot turn the mouse {what}: {why}"));
    }

    fn open_wizard_now(&mut self, kind: WizardKind) {
        let ctx = WizardContext {
            config: self.ctx.config.clone(),
            config_path: self.ctx.config_path.clone(),
            exe: self.ctx.exe.clone(),
            now: self.now,
        };
        match crate::wizards::open(kind.clone(), ctx) {
            Ok(w) => {
                self.wizard = Some(w);
                self.wizard_hidden = false;
                // Its first tick starts what it opens with (a preview).
                self.effects.push(Effect::TickWizard);
            }
            Err(e) => self.say(
                Level::Error,
                format!("cannot open the {kind:?} wizard: {e}"),
            ),
        }
    }

    /// Read backup `id`'s detail into the detail pane.
    fn load_detail(&mut self, id: &str) {
        let Some(cat) = self.io.catalog.as_ref() else {
            return;
        };
        match data::backup_detail(cat, id) {
            Ok(Some(d)) => self.detail = Some(d),
            Ok(None) => self.say(
                Level::Warn,
                format!("backup {id} is no longer in the catalog (deleted by another process?)"),
            ),
            Err(e) => self.say(
                Level::Error,
                format!("cannot read backup {id}: {}", e.display_with_hint()),
            ),
        }
    }

    /// Where background results arrive (the terminal loop waits on it).
    pub fn results(&self) -> Receiver<BgResult> {
        self.io.bg_rx.clone()
    }

    /// Open the catalog. An existing one is opened light (no integrity
    /// scan, no migration: on a 150 MB catalog `quick_check` alone would
    /// cost more than the whole first frame); a new or older one goes
    /// through the full open, which creates and migrates it.
    fn open_catalog(&mut self) -> bool {
        if self.io.catalog.is_some() {
            return true;
        }
        let path = self.ctx.config.catalog.path.clone();
        let light = || -> lifeboat_engine::error::Result<Option<Catalog>> {
            let c = Catalog::open_existing_light(&path)?;
            Ok((c.schema_version()? > 0).then_some(c))
        };
        let opened = if !path.exists() {
            if !self.ctx.config.repository.path.is_dir() {
                // Creating an empty catalog now would hide the backups of a
                // repository that is only not mounted yet from later runs.
                let text = format!(
                    "catalog {} does not exist yet, and neither does the repository: the first backup creates both",
                    path.display()
                );
                self.set_catalog_error(text);
                self.catalog_open = false;
                return false;
            }
            // The engine creates it and fills it from the repository's
            // manifests, as every verb does when the catalog is missing.
            lifeboat_engine::ops::Engine::open(self.ctx.config.clone()).map(|e| e.catalog)
        } else {
            match (self.io.full_open, light()) {
                (false, Ok(Some(c))) => Ok(c),
                _ => Catalog::open(&path),
            }
        };
        match opened {
            Ok(c) => {
                // Reads never wait long: a busy catalog is retried on the
                // next probe instead of freezing the screen.
                let _ = c.set_busy_timeout(Duration::from_millis(200));
                self.io.catalog = Some(c);
                self.catalog_error = None;
                self.catalog_open = true;
                self.dirty = true;
                true
            }
            Err(e) => {
                let text = describe_catalog_error(&path, &e);
                self.set_catalog_error(text);
                self.catalog_open = false;
                false
            }
        }
    }

    /// Reload what changed in the catalog. `force` reloads everything.
    /// Returns true when anything visible changed.
    pub fn refresh(&mut self, force: bool) -> bool {
        let repo_missing = !self.ctx.config.repository.path.is_dir();
        if repo_missing != self.repository_missing {
            self.repository_missing = repo_missing;
            self.dirty = true;
        }
        if !self.open_catalog() {
            return false;
        }
        let before = self.dirty;
        self.dirty = false;
        match self.reload(force) {
            Ok(backups_changed) => {
                if self.catalog_error.take().is_some() {
                    self.dirty = true;
                }
                if backups_changed {
                    self.health_stale = true;
                }
                let changed = self.dirty;
                self.dirty |= before;
                changed
            }
            Err(e) if e.contains("no such column") || e.contains("no such table") => {
                // An older schema: open it fully once (that migrates it).
                if self.io.full_open {
                    self.set_catalog_error(e);
                    self.dirty = true;
                    return true;
                }
                self.io.full_open = true;
                self.io.catalog = None;
                self.catalog_open = false;
                self.refresh(true)
            }
            Err(e) => {
                self.set_catalog_error(if is_busy(&e) {
                    "catalog busy (another process is writing), retrying".to_string()
                } else {
                    e
                });
                self.dirty = true;
                true
            }
        }
    }

    /// Returns whether the backups changed (health then needs a new look).
    fn reload(&mut self, force: bool) -> Result<bool, String> {
        let cat = self.io.catalog.take().expect("opened above");
        let result = self.reload_from(&cat, force);
        self.io.catalog = Some(cat);
        let (backups_changed, audit_changed, jobs_effect) = result?;
        // Carried out at once, not queued: a refresh's caller (and a
        // test) sees the log of the job now selected.
        if let Some(e) = jobs_effect {
            self.run_one(e);
            // The full-screen log follows its job's new lines.
            if let Some(id) = self.log_view.as_ref().map(|v| v.job) {
                self.read_full_log(id);
            }
        }
        if audit_changed {
            self.start(Task::Audit);
        }
        Ok(backups_changed)
    }

    /// Returns whether the backups and the audit changed, and what the
    /// new jobs list calls for (None when nothing was read).
    fn reload_from(
        &mut self,
        cat: &Catalog,
        force: bool,
    ) -> Result<(bool, bool, Option<Effect>), String> {
        let err = |e: lifeboat_engine::error::Error| e.display_with_hint();
        let version = cat.data_version().map_err(err)?;
        if !force && self.data_version == Some(version) {
            return Ok((false, false, None));
        }
        let now = Instant::now();
        let due_backups = force
            || self
                .last_backups_check
                .is_none_or(|t| now.duration_since(t) >= crate::app::BACKUPS_CHECK_EVERY);
        let mut backups_changed = false;
        if due_backups {
            self.last_backups_check = Some(now);
            // A forced load computes the fingerprint in the same scan.
            let fp = if force {
                None
            } else {
                Some(cat.backups_fingerprint().map_err(err)?)
            };
            if fp.is_none() || self.fingerprint != fp {
                let selected = self.selected_backup_key();
                let (rows, fp) = data::load_backups(cat).map_err(err)?;
                self.backups = rows;
                self.fingerprint = Some(fp);
                self.apply_backup_view_keeping(selected);
                self.last_restore = None;
                self.last_storage = None;
                backups_changed = true;
            }
        }
        let jobs = data::load_jobs(cat).map_err(err)?;
        // The trends: when a backup row changed or a backup job ended (a
        // backup that failed before writing its row changes only its job).
        let trends_key = data::finished_backup_jobs(&jobs);
        if backups_changed || self.trends_key != Some(trends_key) {
            self.trends = data::load_trends(cat).map_err(err)?;
            self.trends_key = Some(trends_key);
        }
        let read_log = self.app.jobs_loaded(jobs);
        let head = cat.audit_head().map_err(err)?;
        let audit_changed = force || self.audit_head != Some(head);
        if audit_changed {
            self.audit = data::load_audit(cat).map_err(err)?;
            self.audit_head = Some(head);
            self.apply_audit_view();
        }
        self.dirty = true;
        // Remember the version only when the backups were looked at too:
        // a throttled check is then retried on the next probe even if the
        // catalog goes quiet. A failed read returns early and is retried.
        self.data_version = due_backups.then_some(version);
        Ok((backups_changed, audit_changed, Some(read_log)))
    }

    /// Which running jobs of this host have lost their process. Asked on
    /// every probe, not only when the catalog changed: a process killed
    /// with -9 writes nothing, so the catalog goes quiet exactly when it
    /// matters. One `kill(pid, 0)` per running job.
    fn look_for_dead_processes(&mut self) {
        let host = &self.io.host;
        let (alive, dead): (Vec<_>, Vec<_>) = self
            .app
            .jobs
            .iter()
            .filter(|j| j.state == JobState::Running && &j.host == host)
            .partition(|j| lifeboat_engine::host::pid_alive(j.pid));
        self.app.dead_here = dead.iter().map(|j| j.id).collect();
        self.app.alive_here = alive.iter().map(|j| j.id).collect();
    }

    /// Re-read the selected job's log (when `changed` or the selection moved).
    pub(crate) fn load_job_log(&mut self, changed: bool) {
        let id = self.selected_job().map(|j| j.id);
        if id == self.job_log_for && !changed {
            return;
        }
        self.job_log_for = id;
        self.job_log = match (id, &self.io.catalog) {
            // Plain text: a message with escapes would draw as garbage.
            (Some(id), Some(cat)) => data::job_log_tail(cat, id, 500)
                .unwrap_or_default()
                .into_iter()
                .map(|(ts, level, msg)| (ts, level, crate::fmt::printable(&msg)))
                .collect(),
            _ => Vec::new(),
        };
        self.dirty = true;
    }

    /// Read what job `id` logged since the full-screen log's last read (if
    /// that log is still open on it); a failed read is said in place and
    /// tried again at the next catalog change.
    fn read_full_log(&mut self, id: i64) {
        let Some(view) = self.app.log_view.as_mut().filter(|v| v.job == id) else {
            return;
        };
        let Some(cat) = self.io.catalog.as_ref() else {
            view.error = Some("the catalog is not open".into());
            return;
        };
        match cat.job_log_tail(id, view.last_seq(), LOG_CAP) {
            Ok(tail) if tail.lines.is_empty() && view.loaded => return,
            Ok(mut tail) => {
                // Plain text, before search and wrapping index into it.
                for l in &mut tail.lines {
                    l.message = crate::fmt::printable(&l.message);
                }
                view.append(tail, LOG_CAP)
            }
            Err(e) => view.error = Some(e.display_with_hint()),
        }
        self.app.dirty = true;
    }
    /// Start a background task unless one of its kind is still running.
    /// Nothing starts without a catalog (`catalog_open` is false then, and
    /// the screens say why instead of waiting).
    pub(crate) fn start(&mut self, task: Task) {
        if !self.background || self.io.catalog.is_none() || !self.in_flight.insert(task) {
            return;
        }
        background::start(task, self.ctx.config.clone(), self.io.bg_tx.clone());
    }

    /// Where the engine's notices go while this console is open: the
    /// status line, not stderr (see `lifeboat_engine::notice`).
    pub fn notice_sink(&self) -> lifeboat_engine::notice::Sink {
        let tx = self.io.bg_tx.clone();
        std::sync::Arc::new(move |level, message: &str| {
            let _ = tx.send(BgResult::Notice {
                warning: level == lifeboat_engine::notice::Level::Warning,
                message: message.to_string(),
            });
        })
    }

    /// Wait (at most `timeout`) until no background task is in flight,
    /// applying results as they come. For tests and benchmarks.
    pub fn settle(&mut self, timeout: Duration) -> bool {
        self.start_background();
        let deadline = Instant::now() + timeout;
        while !self.in_flight.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.io.bg_rx.recv_timeout(left) {
                Ok(r) => self.apply(r),
                Err(_) => return false,
            }
        }
        while let Ok(r) = self.io.bg_rx.try_recv() {
            self.apply(r);
        }
        true
    }

    /// Wait (at most `timeout`) for the next background result and apply it.
    pub fn pump(&mut self, timeout: Duration) -> bool {
        match self.io.bg_rx.recv_timeout(timeout) {
            Ok(r) => {
                self.apply(r);
                true
            }
            Err(_) => false,
        }
    }

    /// Ask job `id` to stop; a busy catalog is retried on the next ticks.
    pub(crate) fn request_cancel(&mut self, id: i64, tries: u32) {
        let Some(cat) = self.io.catalog.as_ref() else {
            return;
        };
        match cat.request_cancel(id) {
            Ok(job) => {
                let msg = match job.state {
                    JobState::Running => format!(
                        "job {id} ({} {}) will stop at its next safe point",
                        job.kind, job.target
                    ),
                    JobState::Cancelled => format!("job {id} was cancelled before it started"),
                    other => format!("job {id} is already {other}; nothing to cancel"),
                };
                let actor = lifeboat_engine::catalog::current_actor();
                let entry = lifeboat_engine::catalog::AuditEntry {
                    ts: Utc::now(),
                    actor,
                    action: "cancel".into(),
                    target: format!("job {id}"),
                    outcome: "requested".into(),
                    detail: msg.clone(),
                };
                let append = || cat.append_audit(&entry).map(|rec| rec.to_json_line());
                if self.ctx.config.repository.path.is_dir() {
                    // Both copies in one order with every other writer.
                    let repo = lifeboat_engine::storage::local::Repository {
                        root: self.ctx.config.repository.path.clone(),
                    };
                    let _ = repo.append_audit_with(append);
                } else {
                    let _ = append();
                }
                self.say(Level::Info, msg);
                self.refresh(true);
            }
            Err(e) if is_busy(&e.message) && tries < 20 => {
                self.pending_cancel = Some((id, tries));
                self.say(
                    Level::Warn,
                    format!("catalog busy, retrying the cancel of job {id}"),
                );
            }
            Err(e) => self.say(
                Level::Error,
                format!("could not cancel job {id}: {}", e.display_with_hint()),
            ),
        }
    }
}

/// SQLite's "database is locked" / "busy": another writer holds the lock.
pub(crate) fn is_busy(text: &str) -> bool {
    let t = text.to_lowercase();
    t.contains("database is locked") || t.contains("database is busy") || t.contains("busy")
}

fn describe_catalog_error(path: &std::path::Path, e: &lifeboat_engine::error::Error) -> String {
    let text = e.display_with_hint();
    if is_busy(&text) {
        format!(
            "catalog {} busy (another process is writing), retrying",
            path.display()
        )
    } else {
        format!("cannot open catalog {}: {text}", path.display())
    }
}

/// Hand memory a finished background check freed back to the system. A
/// storage walk over 100,000 backups reads their manifests on its thread;
/// glibc keeps what that thread freed in its arenas, so the console's
/// resident size would stay at the check's peak for as long as it is open.
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; it takes no
    // pointers and is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn osc52_is_the_text_in_base64_between_its_markers() {
        assert_eq!(super::osc52("abc"), "\x1b]52;c;YWJj\x07");
        assert_eq!(super::osc52(""), "\x1b]52;c;\x07");
    }
}
