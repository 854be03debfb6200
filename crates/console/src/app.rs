//! The console's state and how it is kept fresh.
//!
//! [`App`] is driven from outside: the terminal loop (or a test) feeds it
//! keys through [`App::handle_key`], calls [`App::tick`] on a timer,
//! applies background results with [`App::apply`], and draws it with
//! [`App::render`] into any ratatui backend. Rendering reads state only;
//! all catalog reads happen in [`App::refresh`], which costs one pragma when
//! nothing changed.

use std::cell::Cell;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossbeam_channel::{Receiver, Sender};

use super::background::{self, AuditStatus, BgResult, ChildInfo, RestoreEvidence, Task};
use super::data::{self, BackupDetail, BackupRow, SortColumn};
use crate::wizards::Wizard;
use lifeboat_engine::catalog::{AuditRecord, Catalog, JobRecord, JobState};
use lifeboat_engine::config::Config;
use lifeboat_engine::health::{HealthReport, StorageReport};

/// What the console is started with.
#[derive(Debug, Clone)]
pub struct AppContext {
    pub config: Config,
    /// The `--config` file, passed on to child processes and wizards.
    pub config_path: Option<PathBuf>,
    /// The `lifeboat` binary that runs actions (normally this one).
    pub exe: PathBuf,
    /// `NO_COLOR` is set: attributes only, no colours.
    pub no_color: bool,
}

/// The console's screens, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Dashboard,
    Catalog,
    Jobs,
    Health,
    Storage,
    Audit,
}

impl Screen {
    pub const ALL: [Screen; 6] = [
        Screen::Dashboard,
        Screen::Catalog,
        Screen::Jobs,
        Screen::Health,
        Screen::Storage,
        Screen::Audit,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Dashboard => "Dashboard",
            Screen::Catalog => "Catalog",
            Screen::Jobs => "Jobs",
            Screen::Health => "Health",
            Screen::Storage => "Storage",
            Screen::Audit => "Audit",
        }
    }

    pub fn index(self) -> usize {
        Self::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    /// A screen by palette name (`:catalog`, `:jobs`, ...).
    pub fn by_name(name: &str) -> Option<Screen> {
        Some(match name {
            "dashboard" | "dash" | "home" => Screen::Dashboard,
            "catalog" | "backups" | "list" => Screen::Catalog,
            "jobs" | "status" => Screen::Jobs,
            "health" => Screen::Health,
            "storage" => Screen::Storage,
            "audit" => Screen::Audit,
            _ => return None,
        })
    }
}

/// A popup or input line on top of the screen.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    None,
    Help,
    Palette(String),
    /// Editing the current screen's filter.
    Filter,
    Confirm(Confirm),
}

/// A question the operator must answer before something happens.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub kind: ConfirmKind,
    /// Typed text (type-to-confirm).
    pub input: String,
    /// Why the last answer was not accepted.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConfirmKind {
    /// Type the backup's id (or name) to delete it.
    Delete { id: String, name: Option<String> },
    /// `y` cancels the job.
    CancelJob { id: i64, what: String },
    /// `y` quits although jobs started here still run.
    Quit { running: Vec<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// The status line.
#[derive(Debug, Clone)]
pub struct Message {
    pub level: Level,
    pub text: String,
    pub at: Instant,
}

/// Selection in a list; the scroll offset is kept by the renderer.
#[derive(Debug, Default)]
pub struct ListState {
    pub selected: usize,
    pub offset: Cell<usize>,
    /// Rows the last frame showed (for PgUp/PgDn).
    pub page: Cell<usize>,
}

impl ListState {
    /// First row to draw so that the selection is visible in `height` rows.
    pub fn window(&self, len: usize, height: usize) -> usize {
        self.page.set(height.max(1));
        let mut off = self.offset.get().min(len.saturating_sub(1));
        if self.selected < off {
            off = self.selected;
        } else if height > 0 && self.selected >= off + height {
            off = self.selected + 1 - height;
        }
        self.offset.set(off);
        off
    }
}

/// How often the catalog is probed for changes.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);
const BACKUPS_CHECK_EVERY: Duration = Duration::from_secs(2);
const HEALTH_EVERY: Duration = Duration::from_secs(30);
const STORAGE_EVERY: Duration = Duration::from_secs(60);
const MESSAGE_FOR: Duration = Duration::from_secs(15);
const AGE_REDRAW: Duration = Duration::from_secs(30);

/// The console.
pub struct App {
    pub ctx: AppContext,
    /// What the key being handled asks of the outside world (see
    /// [`crate::effects`]); taken by [`App::update`].
    pub(crate) effects: Vec<crate::effects::Effect>,
    /// The time the views draw against ("3 minutes ago", rates, ETAs):
    /// data like the rest, set by [`App::tick`], so a frame depends only
    /// on the state (and a test can fix it).
    pub now: DateTime<Utc>,
    pub catalog: Option<Catalog>,
    /// Why the catalog cannot be read right now (shown in place).
    pub catalog_error: Option<String>,
    pub screen: Screen,
    pub overlay: Overlay,
    pub message: Option<Message>,

    pub backups: Vec<BackupRow>,
    pub backup_view: Vec<u32>,
    pub catalog_filter: String,
    pub sort: SortColumn,
    pub descending: bool,
    pub catalog_list: ListState,
    pub detail: Option<BackupDetail>,

    pub jobs: Vec<JobRecord>,
    pub jobs_list: ListState,
    pub job_log: Vec<(DateTime<Utc>, String, String)>,
    job_log_for: Option<i64>,

    pub health: Option<HealthReport>,
    pub health_list: ListState,
    pub storage: Option<Result<StorageReport, String>>,
    pub restore_evidence: Option<Result<Option<RestoreEvidence>, String>>,

    pub audit: Vec<AuditRecord>,
    pub audit_view: Vec<u32>,
    pub audit_filter: String,
    pub audit_list: ListState,
    pub audit_status: Option<Result<AuditStatus, String>>,

    pub repository_missing: bool,
    /// The backup schedule, or why it cannot be read (for NEXT RUN).
    pub schedule: Result<lifeboat_engine::schedule::Schedule, String>,
    /// Child processes this console started that have not exited.
    pub children: Vec<ChildInfo>,
    pub wizard: Option<Box<dyn Wizard>>,
    pub quit: bool,
    /// Something changed since the last frame.
    pub dirty: bool,

    data_version: Option<i64>,
    fingerprint: Option<data::Fingerprint>,
    audit_head: Option<i64>,
    last_backups_check: Option<Instant>,
    last_health: Option<Instant>,
    last_storage: Option<Instant>,
    last_restore: Option<Instant>,
    /// The catalog changed since health was last evaluated.
    health_stale: bool,
    pending_cancel: Option<(i64, u32)>,
    /// The light open met an older schema: use the migrating open.
    full_open: bool,
    /// Background checks may start (after the first frame).
    background: bool,
    last_age_redraw: Option<Instant>,
    pub(super) in_flight: HashSet<Task>,
    pub(super) bg_tx: Sender<BgResult>,
    bg_rx: Receiver<BgResult>,
}

impl App {
    /// Open the catalog, load every list and start the background checks.
    /// Never fails: what cannot be read is shown in place.
    pub fn new(ctx: AppContext) -> App {
        let (bg_tx, bg_rx) = crossbeam_channel::unbounded();
        let types = ctx.config.configured_types();
        let schedule = lifeboat_engine::schedule::Schedule::from_config(&ctx.config, &types)
            .map_err(|e| e.message);
        let mut app = App {
            effects: Vec::new(),
            now: Utc::now(),
            ctx,
            catalog: None,
            catalog_error: None,
            screen: Screen::Dashboard,
            overlay: Overlay::None,
            message: None,
            backups: Vec::new(),
            backup_view: Vec::new(),
            catalog_filter: String::new(),
            sort: SortColumn::Created,
            descending: true,
            catalog_list: ListState::default(),
            detail: None,
            jobs: Vec::new(),
            jobs_list: ListState::default(),
            job_log: Vec::new(),
            job_log_for: None,
            health: None,
            health_list: ListState::default(),
            storage: None,
            restore_evidence: None,
            audit: Vec::new(),
            audit_view: Vec::new(),
            audit_filter: String::new(),
            audit_list: ListState::default(),
            audit_status: None,
            repository_missing: false,
            schedule,
            children: Vec::new(),
            wizard: None,
            quit: false,
            dirty: true,
            data_version: None,
            fingerprint: None,
            audit_head: None,
            last_backups_check: None,
            last_health: None,
            last_storage: None,
            last_restore: None,
            health_stale: true,
            pending_cancel: None,
            full_open: false,
            background: false,
            last_age_redraw: Some(Instant::now()),
            in_flight: HashSet::new(),
            bg_tx,
            bg_rx,
        };
        app.refresh(true);
        app
    }

    /// Start the background checks (health, storage, audit chain, restore
    /// evidence). The terminal loop calls it after the first frame, so a
    /// large catalog's first frame does not compete with them for CPU.
    pub fn start_background(&mut self) {
        if self.background {
            return;
        }
        self.background = true;
        self.start(Task::Audit);
        self.start_periodic(Instant::now());
    }

    /// Where background results arrive (the terminal loop waits on it).
    pub fn results(&self) -> Receiver<BgResult> {
        self.bg_rx.clone()
    }

    pub fn say(&mut self, level: Level, text: impl Into<String>) {
        self.message = Some(Message {
            level,
            text: text.into(),
            at: Instant::now(),
        });
        self.dirty = true;
    }

    /// Open the catalog. An existing one is opened light (no integrity
    /// scan, no migration: on a 150 MB catalog `quick_check` alone would
    /// cost more than the whole first frame); a new or older one goes
    /// through the full open, which creates and migrates it.
    fn open_catalog(&mut self) -> bool {
        if self.catalog.is_some() {
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
                if self.catalog_error.as_ref() != Some(&text) {
                    self.catalog_error = Some(text);
                    self.dirty = true;
                }
                return false;
            }
            // The engine creates it and fills it from the repository's
            // manifests, as every verb does when the catalog is missing.
            lifeboat_engine::ops::Engine::open(self.ctx.config.clone()).map(|e| e.catalog)
        } else {
            match (self.full_open, light()) {
                (false, Ok(Some(c))) => Ok(c),
                _ => Catalog::open(&path),
            }
        };
        match opened {
            Ok(c) => {
                // Reads never wait long: a busy catalog is retried on the
                // next probe instead of freezing the screen.
                let _ = c.set_busy_timeout(Duration::from_millis(200));
                self.catalog = Some(c);
                self.catalog_error = None;
                true
            }
            Err(e) => {
                let text = describe_catalog_error(&path, &e);
                if self.catalog_error.as_ref() != Some(&text) {
                    self.catalog_error = Some(text);
                    self.dirty = true;
                }
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
                if self.full_open {
                    self.catalog_error = Some(e);
                    self.dirty = true;
                    return true;
                }
                self.full_open = true;
                self.catalog = None;
                self.refresh(true)
            }
            Err(e) => {
                self.dirty = true;
                self.catalog_error = Some(if is_busy(&e) {
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
        let cat = self.catalog.take().expect("opened above");
        let result = self.reload_from(&cat, force);
        self.catalog = Some(cat);
        let (backups_changed, audit_changed, any) = result?;
        if any {
            self.load_job_log(true);
        }
        if audit_changed {
            self.start(Task::Audit);
        }
        Ok(backups_changed)
    }

    fn reload_from(&mut self, cat: &Catalog, force: bool) -> Result<(bool, bool, bool), String> {
        let err = |e: lifeboat_engine::error::Error| e.display_with_hint();
        let version = cat.data_version().map_err(err)?;
        if !force && self.data_version == Some(version) {
            return Ok((false, false, false));
        }
        let now = Instant::now();
        let due_backups = force
            || self
                .last_backups_check
                .is_none_or(|t| now.duration_since(t) >= BACKUPS_CHECK_EVERY);
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
                let (rows, fp) = cat.backup_rows().map_err(err)?;
                self.backups = rows;
                self.fingerprint = Some(fp);
                self.apply_backup_view_keeping(selected);
                self.last_restore = None;
                self.last_storage = None;
                backups_changed = true;
            }
        }
        let jobs = data::load_jobs(cat).map_err(err)?;
        let selected_id = self.jobs.get(self.jobs_list.selected).map(|j| j.id);
        self.jobs = jobs;
        if let Some(i) = selected_id.and_then(|id| self.jobs.iter().position(|j| j.id == id)) {
            self.jobs_list.selected = i;
        }
        self.jobs_list.selected = self
            .jobs_list
            .selected
            .min(self.jobs.len().saturating_sub(1));
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
        Ok((backups_changed, audit_changed, true))
    }

    /// Re-read the selected job's log (when `changed` or the selection moved).
    pub(super) fn load_job_log(&mut self, changed: bool) {
        let id = self.jobs.get(self.jobs_list.selected).map(|j| j.id);
        if id == self.job_log_for && !changed {
            return;
        }
        self.job_log_for = id;
        self.job_log = match (id, &self.catalog) {
            (Some(id), Some(cat)) => data::job_log_tail(cat, id, 500).unwrap_or_default(),
            _ => Vec::new(),
        };
        self.dirty = true;
    }

    fn selected_backup_key(&self) -> Option<Box<str>> {
        self.backup_view
            .get(self.catalog_list.selected)
            .and_then(|&i| self.backups.get(i as usize))
            .map(|b| b.id.clone())
    }

    pub(super) fn apply_backup_view(&mut self) {
        let selected = self.selected_backup_key();
        self.apply_backup_view_keeping(selected);
    }

    /// Recompute the view, keeping the selection on backup `selected_id`.
    fn apply_backup_view_keeping(&mut self, selected_id: Option<Box<str>>) {
        self.backup_view = data::backup_view(
            &self.backups,
            &self.catalog_filter,
            self.sort,
            self.descending,
        );
        self.catalog_list.selected = selected_id
            .and_then(|id| {
                self.backup_view
                    .iter()
                    .position(|&i| self.backups[i as usize].id == id)
            })
            .unwrap_or(0);
        self.dirty = true;
    }

    pub(super) fn apply_audit_view(&mut self) {
        self.audit_view = data::audit_view(&self.audit, &self.audit_filter);
        self.audit_list.selected = self
            .audit_list
            .selected
            .min(self.audit_view.len().saturating_sub(1));
        self.dirty = true;
    }

    /// Start a background task unless one of its kind is still running.
    pub(super) fn start(&mut self, task: Task) {
        if !self.background || self.catalog.is_none() || !self.in_flight.insert(task) {
            return;
        }
        background::start(task, self.ctx.config.clone(), self.bg_tx.clone());
    }

    fn start_periodic(&mut self, now: Instant) {
        let due = |t: Option<Instant>, every: Duration| t.is_none_or(|t| now - t >= every);
        if due(self.last_health, HEALTH_EVERY)
            || (self.health_stale && due(self.last_health, Duration::from_secs(5)))
        {
            self.last_health = Some(now);
            self.health_stale = false;
            self.start(Task::Health);
        }
        if due(self.last_storage, STORAGE_EVERY) {
            self.last_storage = Some(now);
            self.start(Task::Storage);
        }
        if due(self.last_restore, STORAGE_EVERY) {
            self.last_restore = Some(now);
            self.start(Task::Restore);
        }
    }

    /// The timer: probe the catalog, start due checks, let a wizard poll its
    /// child, expire the status line. Returns true when a redraw is due.
    pub fn tick(&mut self) -> bool {
        let now = Instant::now();
        self.now = Utc::now();
        self.refresh(false);
        self.start_background();
        if let Some((id, tries)) = self.pending_cancel.take() {
            self.request_cancel(id, tries + 1);
        }
        self.start_periodic(now);
        if let Some(w) = self.wizard.as_mut() {
            if w.tick(self.now) {
                self.dirty = true;
            }
        }
        // Ages on the Dashboard move even when nothing else does.
        if self.last_age_redraw.is_none_or(|t| now - t >= AGE_REDRAW) {
            self.last_age_redraw = Some(now);
            self.dirty = true;
        }
        if self
            .message
            .as_ref()
            .is_some_and(|m| m.level == Level::Info && now - m.at > MESSAGE_FOR)
        {
            self.message = None;
            self.dirty = true;
        }
        self.dirty
    }

    /// Jobs are running: elapsed times and ETAs move, redraw once a second.
    pub fn has_active_jobs(&self) -> bool {
        self.jobs.iter().any(|j| j.is_active()) || !self.children.is_empty()
    }

    /// Apply one background result.
    pub fn apply(&mut self, r: BgResult) {
        if let Some(t) = r.task() {
            self.in_flight.remove(&t);
        }
        self.dirty = true;
        match r {
            BgResult::Health(h) => {
                self.health_list.selected = self
                    .health_list
                    .selected
                    .min(h.checks.len().saturating_sub(1));
                self.health = Some(h);
            }
            BgResult::Storage(s) => self.storage = Some(s),
            BgResult::Audit(a) => self.audit_status = Some(a),
            BgResult::Restore(r) => self.restore_evidence = Some(r),
            BgResult::Deleted { id, result } => {
                match result {
                    Ok(msg) => self.say(Level::Info, msg),
                    Err(e) => self.say(Level::Error, format!("could not delete {id}: {e}")),
                }
                self.detail = None;
                self.refresh(true);
            }
            BgResult::ChildExited {
                pid, ok, message, ..
            } => {
                self.children.retain(|c| c.pid != pid);
                self.say(if ok { Level::Info } else { Level::Error }, message);
                self.refresh(true);
            }
            BgResult::Notice { warning, message } => self.notice(warning, message),
        }
    }

    /// Show one of the engine's notices in the status line.
    pub fn notice(&mut self, warning: bool, message: String) {
        self.say(if warning { Level::Warn } else { Level::Info }, message);
    }

    /// Where the engine's notices go while this console is open: the
    /// status line, not stderr (see `lifeboat_engine::notice`).
    pub fn notice_sink(&self) -> lifeboat_engine::notice::Sink {
        let tx = self.bg_tx.clone();
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
            match self.bg_rx.recv_timeout(left) {
                Ok(r) => self.apply(r),
                Err(_) => return false,
            }
        }
        while let Ok(r) = self.bg_rx.try_recv() {
            self.apply(r);
        }
        true
    }

    /// Wait (at most `timeout`) for the next background result and apply it.
    pub fn pump(&mut self, timeout: Duration) -> bool {
        match self.bg_rx.recv_timeout(timeout) {
            Ok(r) => {
                self.apply(r);
                true
            }
            Err(_) => false,
        }
    }

    /// Ask job `id` to stop; a busy catalog is retried on the next ticks.
    pub(super) fn request_cancel(&mut self, id: i64, tries: u32) {
        let Some(cat) = self.catalog.as_ref() else {
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
pub(super) fn is_busy(text: &str) -> bool {
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

impl App {
    /// Carry out one effect; what happened shows in the status line.
    pub fn run_effect(&mut self, effect: crate::effects::Effect) {
        use crate::effects::Effect;
        match effect {
            Effect::Launch(request) => {
                let what = request.command_line();
                let result = background::launch_reported(
                    &self.ctx.exe,
                    self.ctx.config_path.as_deref(),
                    &self.ctx.config,
                    request,
                    self.bg_tx.clone(),
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
                background::delete(self.ctx.config.clone(), id, self.bg_tx.clone());
            }
            Effect::CancelJob(id) => self.request_cancel(id, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ListState;

    #[test]
    fn the_window_follows_the_selection() {
        let l = ListState::default();
        assert_eq!(l.window(100, 10), 0);
        let l = ListState {
            selected: 25,
            ..Default::default()
        };
        assert_eq!(l.window(100, 10), 16, "selection on the last visible row");
        let l = ListState { selected: 20, ..l };
        assert_eq!(l.window(100, 10), 16, "no scroll while it stays visible");
        let l = ListState { selected: 3, ..l };
        assert_eq!(l.window(100, 10), 3);
        assert_eq!(l.page.get(), 10);
    }
}
