//! The console's state and its decisions.
//!
//! [`App`] holds what the screens show and decides what each input means:
//! [`App::update`] (a key), [`App::on_tick`] (the timer) and
//! [`App::on_result`] (a background result) change the state and return
//! [`Effect`]s, the things to do outside it, without doing them. It holds
//! no catalog handle and no channel; [`crate::effects::Console`] wraps it
//! with those and carries the effects out (a probe of an unchanged catalog
//! costs one pragma). Rendering reads the state only. (A wizard's few
//! exceptions are listed in [`crate::effects`].)

use std::cell::{Cell, RefCell};
use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ratatui::layout::Rect;

use super::background::{AuditStatus, BgResult, ChildInfo, RestoreEvidence, Task};
use super::data::{self, BackupDetail, BackupRow, SortColumn, Trend};
use crate::joblog::LogView;
use crate::palette::Palette;
pub use crate::status::{Level, Message, HISTORY_CAP};
use crate::wizards::{Wizard, WizardKind};
use lifeboat_engine::catalog::{AuditRecord, JobRecord};
use lifeboat_engine::config::Config;
use lifeboat_engine::health::{HealthReport, StorageReport};
use lifeboat_engine::ops::queue::JobRequest;

/// One thing to do outside the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Queue this work and start a worker process for it
    /// (`background::launch`): it outlives the console.
    Launch(JobRequest),
    /// Delete this backup (audited), on a helper thread.
    Delete(String),
    /// Ask this job (and what it started) to stop at its next safe point.
    CancelJob(i64),
    /// The catalog was busy for that request: try again (`tries` so far).
    RetryCancel { id: i64, tries: u32 },
    /// Re-read what changed in the catalog (`force`: all of it).
    Refresh { force: bool },
    /// Start this background check unless one of its kind is running.
    Check(Task),
    /// Read the selected job's log: again when `changed`, else only if
    /// the selection moved to another job.
    LoadJobLog { changed: bool },
    /// Read what job `id` logged since the full-screen log's last read
    /// (the newest lines up to [`crate::joblog::LOG_CAP`] when it opens).
    ReadFullLog(i64),
    /// Read this backup's detail for the detail pane.
    LoadDetail(String),
    /// Open this wizard (it may read the catalog or start a preview).
    OpenWizard(WizardKind),
    /// Let the open wizard start what it decided and poll what it runs.
    TickWizard,
    /// Put this text on the operator's clipboard (through the terminal).
    Copy(String),
    /// Ask the terminal to report the mouse (clicks and the wheel), or to
    /// stop so that it selects text again.
    Mouse(bool),
}

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
    /// The key help, scrolled down by `scroll` rows (kept within what the
    /// last frame showed, [`App::help_room`]), and what `/` searches in it.
    Help {
        scroll: usize,
        search: Option<HelpSearch>,
    },
    Palette(Palette),
    /// Editing the current screen's filter.
    Filter,
    /// Typing what to search for in the full-screen job log.
    LogSearch,
    /// The status line's history, newest first.
    Messages,
    /// The selected row with every field whole, scrolled down by
    /// `scroll` rows (kept within [`App::row_room`]).
    Row {
        scroll: usize,
    },
    Confirm(Confirm),
}

impl Overlay {
    /// The help from its top, no search.
    pub fn help() -> Overlay {
        Overlay::Help {
            scroll: 0,
            search: None,
        }
    }
}

/// A search of the key help (`/` in it): the entries holding `query`
/// ([`crate::help::matching`]) are marked, and the current one is
/// scrolled into sight.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HelpSearch {
    pub query: String,
    /// The query is being typed (keys go to it).
    pub typing: bool,
    /// Which of the matching entries is the current one (n/N step).
    pub at: usize,
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
    /// `y` quits although work started here is under way: `running`, jobs
    /// that go on after the console quits; `abandoned`, what runs inside
    /// the console (a wizard's shell command, a preview) and does not.
    Quit {
        running: Vec<String>,
        abandoned: Vec<String>,
    },
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

/// What a scrolling popup's last frame had room for (the help, the row
/// popup), set by the view (as [`ListState::page`] is), so that PgDn and
/// `G` stop at its last row.
#[derive(Debug, Default)]
pub struct PopupRoom {
    /// Rows of text the frame showed.
    pub page: Cell<usize>,
    /// The furthest the popup can scroll: its rows less `page`.
    pub max_scroll: Cell<usize>,
    /// The row each entry starts on (the help's, so that a search can
    /// bring the entry it found into sight).
    pub entry_rows: RefCell<Vec<usize>>,
}

impl PopupRoom {
    /// Where `key` scrolls a popup at `scroll` (None: not a scrolling key).
    pub fn scrolled(&self, scroll: usize, key: crossterm::event::KeyCode) -> Option<usize> {
        use crossterm::event::KeyCode;
        let max = self.max_scroll.get();
        let page = self.page.get().max(1);
        let scroll = scroll.min(max);
        Some(match key {
            KeyCode::Up | KeyCode::Char('k') => scroll.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => (scroll + 1).min(max),
            KeyCode::PageUp => scroll.saturating_sub(page),
            KeyCode::PageDown => (scroll + page).min(max),
            KeyCode::Home | KeyCode::Char('g') => 0,
            KeyCode::End | KeyCode::Char('G') => max,
            _ => return None,
        })
    }
}

/// A scroll position over items that wrap to several rows: the first item
/// shown. The renderer records how many items the last frame showed whole
/// and the first item from which the rest still fills the screen (where
/// scrolling down stops).
#[derive(Debug, Default)]
pub struct Scroll {
    pub top: usize,
    pub page: Cell<usize>,
    pub max_top: Cell<usize>,
}

impl Scroll {
    /// Move by `delta` items (negative: up), within what there is to show.
    pub fn by(&mut self, delta: isize) {
        self.top = self
            .top
            .saturating_add_signed(delta)
            .min(self.max_top.get());
    }
}

/// Where the last frame drew what a click can land on, recorded by the
/// views as they draw (as [`ListState::page`] is), so that a click means
/// what is under it: a tab, or a row of the list on screen.
#[derive(Debug, Default)]
pub struct Hits {
    pub tabs: RefCell<Vec<(Rect, Screen)>>,
    /// A row of the list on screen and its index in the list's view.
    pub rows: RefCell<Vec<(Rect, usize)>>,
}

impl Hits {
    /// Forget the last frame's (a new one is being drawn).
    pub fn clear(&self) {
        self.tabs.borrow_mut().clear();
        self.rows.borrow_mut().clear();
    }

    /// Rows `first..` of a list drawn from `top` down in `area`, each as
    /// tall as `heights` says (rows below the area are not recorded).
    pub fn record_rows(&self, area: Rect, first: usize, heights: impl IntoIterator<Item = u16>) {
        let mut rows = self.rows.borrow_mut();
        let mut y = area.y;
        for (i, h) in heights.into_iter().enumerate() {
            if y >= area.bottom() {
                break;
            }
            let height = h.min(area.bottom() - y);
            rows.push((Rect::new(area.x, y, area.width, height), first + i));
            y += h;
        }
    }

    /// What is at column `x`, row `y` of the last frame.
    pub fn at(&self, x: u16, y: u16) -> Option<Hit> {
        let p = ratatui::layout::Position::new(x, y);
        if let Some((_, s)) = self.tabs.borrow().iter().find(|(r, _)| r.contains(p)) {
            return Some(Hit::Tab(*s));
        }
        self.rows
            .borrow()
            .iter()
            .find(|(r, _)| r.contains(p))
            .map(|(_, i)| Hit::Row(*i))
    }
}

/// What a click landed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    Tab(Screen),
    Row(usize),
}

/// How often the catalog is probed for changes.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);
pub(crate) const BACKUPS_CHECK_EVERY: Duration = Duration::from_secs(2);
/// Health and storage are re-evaluated when the backups change (see
/// `health_stale`, and the reload that makes storage due); these are only
/// the backstops for what changes without the catalog (a database that
/// went down, a disk filling up, a backup growing late). An idle console
/// must cost next to nothing: at 100,000 backups one health evaluation
/// costs ~0.3 s of CPU and a storage walk ~1.2 s. `R` re-checks at once.
const HEALTH_EVERY: Duration = Duration::from_secs(180);
const STORAGE_EVERY: Duration = Duration::from_secs(900);
const MESSAGE_FOR: Duration = Duration::from_secs(15);
const AGE_REDRAW: Duration = Duration::from_secs(30);
/// How often a dead job's settle is tried again (it failed, or another
/// host's job is still within reach of its owner).
const SETTLE_EVERY: Duration = Duration::from_secs(5);
/// The same jobs still look dead after a settle (it failed, or their owner
/// on another host is not within reach): try again only this often, since
/// a settle opens the engine (an integrity check, a repository sweep).
const SETTLE_AGAIN: Duration = Duration::from_secs(60);

/// The console.
pub struct App {
    pub ctx: AppContext,
    /// What the key being handled asks of the outside world (see
    /// [`crate::effects`]); taken by [`App::update`].
    pub(crate) effects: Vec<Effect>,
    /// The time the views draw against ("3 minutes ago", rates, ETAs):
    /// data like the rest, set by [`App::on_tick`], so a frame depends only
    /// on the state (and a test can fix it).
    pub now: DateTime<Utc>,
    /// Why the catalog cannot be read right now (shown in place).
    pub catalog_error: Option<String>,
    /// A catalog is open. Without one the background checks (health,
    /// storage, audit chain, restore evidence) cannot run, so the screens
    /// that show them say why (`catalog_error`) instead of waiting.
    pub catalog_open: bool,
    pub screen: Screen,
    pub overlay: Overlay,
    pub help_room: PopupRoom,
    /// The mouse is on: the terminal reports clicks and the wheel (off by
    /// default, so that the terminal selects text; `m` switches it).
    pub mouse: bool,
    /// What the last frame drew where, for the mouse.
    pub hits: Hits,
    /// What the row popup (`i`) had room for.
    pub row_room: PopupRoom,
    pub message: Option<Message>,
    /// Every message the status line showed, oldest first (at most
    /// [`HISTORY_CAP`]), for the message history.
    pub history: VecDeque<Message>,
    /// Where the message history is scrolled (entry 0: the newest).
    pub history_scroll: Scroll,
    /// Palette commands run in this session, oldest first (↑/↓ walk them).
    pub palette_history: Vec<String>,

    pub backups: Vec<BackupRow>,
    pub backup_view: Vec<u32>,
    pub catalog_filter: String,
    pub sort: SortColumn,
    pub descending: bool,
    pub catalog_list: ListState,
    pub detail: Option<BackupDetail>,
    /// The recent attempts of each type the Dashboard draws, re-read when
    /// the backups change or a backup job ends (see `trends_key`).
    pub trends: Vec<Trend>,

    pub jobs: Vec<JobRecord>,
    /// The jobs the table shows (the filter's), as indices into `jobs`.
    pub jobs_view: Vec<u32>,
    pub jobs_filter: String,
    pub jobs_list: ListState,
    pub job_log: Vec<(DateTime<Utc>, String, String)>,
    pub(crate) job_log_for: Option<i64>,
    /// The selected job's whole log, full screen (`l` or Enter on Jobs).
    pub log_view: Option<LogView>,

    pub health: Option<HealthReport>,
    /// The Health table's filter (a report has a few dozen checks at
    /// most: its view is worked out when asked, [`App::health_view`]).
    pub health_filter: String,
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
    /// The open wizard is out of sight (the operator moved to a screen
    /// while it works): it keeps ticking, `w` brings it back.
    pub wizard_hidden: bool,
    pub quit: bool,
    /// Something changed since the last frame.
    pub dirty: bool,

    pub(crate) data_version: Option<i64>,
    pub(crate) fingerprint: Option<data::Fingerprint>,
    /// [`data::finished_backup_jobs`] when the trends were last read.
    pub(crate) trends_key: Option<(usize, i64)>,
    pub(crate) audit_head: Option<i64>,
    pub(crate) last_backups_check: Option<Instant>,
    pub(crate) last_health: Option<Instant>,
    pub(crate) last_storage: Option<Instant>,
    pub(crate) last_restore: Option<Instant>,
    /// The catalog changed since health was last evaluated.
    pub(crate) health_stale: bool,
    pub(crate) pending_cancel: Option<(i64, u32)>,
    /// Background checks may start (after the first frame).
    pub(crate) background: bool,
    last_age_redraw: Option<Instant>,
    pub in_flight: HashSet<Task>,
    /// Running jobs of this host whose process is gone (found by the last
    /// catalog read): dead before their lease says so.
    pub(crate) dead_here: HashSet<i64>,
    /// Running jobs of this host whose process is alive: a silent one is
    /// hung or stopped (Ctrl-Z), not dead, and the engine will not settle it.
    pub(crate) alive_here: HashSet<i64>,
    /// When a settle was last asked for, and for which jobs.
    pub(crate) last_settle: Option<(Instant, Vec<i64>)>,
    /// The last settle error shown (a repeat is not shown again).
    pub(crate) settle_error: Option<String>,
}

impl App {
    /// The state before anything is read (the catalog is opened and read
    /// by [`crate::effects::Console::new`]). Never fails: a schedule that
    /// cannot be read is shown in place.
    pub fn new(ctx: AppContext) -> App {
        let types = ctx.config.configured_types();
        let schedule = lifeboat_engine::schedule::Schedule::from_config(&ctx.config, &types)
            .map_err(|e| e.message);
        App {
            effects: Vec::new(),
            now: Utc::now(),
            ctx,
            catalog_error: None,
            catalog_open: false,
            screen: Screen::Dashboard,
            overlay: Overlay::None,
            help_room: PopupRoom::default(),
            mouse: false,
            hits: Hits::default(),
            row_room: PopupRoom::default(),
            message: None,
            history: VecDeque::new(),
            history_scroll: Scroll::default(),
            palette_history: Vec::new(),
            backups: Vec::new(),
            backup_view: Vec::new(),
            catalog_filter: String::new(),
            sort: SortColumn::Created,
            descending: true,
            catalog_list: ListState::default(),
            detail: None,
            trends: Vec::new(),
            jobs: Vec::new(),
            jobs_view: Vec::new(),
            jobs_filter: String::new(),
            jobs_list: ListState::default(),
            job_log: Vec::new(),
            job_log_for: None,
            log_view: None,
            health: None,
            health_filter: String::new(),
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
            wizard_hidden: false,
            quit: false,
            dirty: true,
            data_version: None,
            fingerprint: None,
            trends_key: None,
            audit_head: None,
            last_backups_check: None,
            last_health: None,
            last_storage: None,
            last_restore: None,
            health_stale: true,
            pending_cancel: None,
            background: false,
            last_age_redraw: Some(Instant::now()),
            in_flight: HashSet::new(),
            dead_here: HashSet::new(),
            alive_here: HashSet::new(),
            last_settle: None,
            settle_error: None,
        }
    }

    pub(crate) fn decide_background(&mut self, now: Instant) {
        if self.background {
            return;
        }
        self.background = true;
        self.effects.push(Effect::Check(Task::Audit));
        self.periodic_checks(now);
    }

    pub(crate) fn periodic_checks(&mut self, now: Instant) {
        let due = |t: Option<Instant>, every: Duration| t.is_none_or(|t| now - t >= every);
        if due(self.last_health, HEALTH_EVERY)
            || (self.health_stale && due(self.last_health, Duration::from_secs(5)))
        {
            self.last_health = Some(now);
            self.health_stale = false;
            self.effects.push(Effect::Check(Task::Health));
        }
        if due(self.last_storage, STORAGE_EVERY) {
            self.last_storage = Some(now);
            self.effects.push(Effect::Check(Task::Storage));
        }
        if due(self.last_restore, STORAGE_EVERY) {
            self.last_restore = Some(now);
            self.effects.push(Effect::Check(Task::Restore));
        }
    }

    /// What the timer decides at `now` (`utc` is the clock the views draw
    /// against): probe the catalog, start the checks that are due, retry a
    /// cancel the busy catalog refused, let an open wizard poll what it
    /// runs, redraw moving ages, expire the
    /// status line. Returned, not done: nothing is read or started here.
    pub fn on_tick(&mut self, now: Instant, utc: DateTime<Utc>) -> Vec<Effect> {
        self.now = utc;
        self.effects.push(Effect::Refresh { force: false });
        self.decide_background(now);
        if let Some((id, tries)) = self.pending_cancel.take() {
            self.effects.push(Effect::RetryCancel {
                id,
                tries: tries + 1,
            });
        }
        self.periodic_checks(now);
        self.decide_settle(now, utc);
        if self.wizard.is_some() {
            self.effects.push(Effect::TickWizard);
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
        std::mem::take(&mut self.effects)
    }

    /// A job shown as running is dead (its process on this host is gone,
    /// or its lease ran out): settle it the way every CLI verb would, so
    /// it turns interrupted within seconds instead of running forever.
    /// A job whose process here is alive is never a candidate, however
    /// silent (the engine's own rule); the same candidates again are
    /// retried only every [`SETTLE_AGAIN`].
    fn decide_settle(&mut self, now: Instant, utc: DateTime<Utc>) {
        let dead: Vec<i64> = self
            .jobs
            .iter()
            .filter(|j| {
                self.dead_here.contains(&j.id)
                    || (j.silent_for(utc).is_some() && !self.alive_here.contains(&j.id))
            })
            .map(|j| j.id)
            .collect();
        if dead.is_empty() {
            return;
        }
        let due = match &self.last_settle {
            None => true,
            Some((t, same)) if *same == dead => now - *t >= SETTLE_AGAIN,
            Some((t, _)) => now - *t >= SETTLE_EVERY,
        };
        if due {
            self.last_settle = Some((now, dead));
            self.effects.push(Effect::Check(Task::Settle));
        }
    }

    /// The wizard on screen, if one is open and not put aside.
    pub fn shown_wizard(&self) -> Option<&dyn Wizard> {
        self.wizard.as_deref().filter(|_| !self.wizard_hidden)
    }

    /// Jobs are running: elapsed times and ETAs move, redraw once a second.
    pub fn has_active_jobs(&self) -> bool {
        self.jobs.iter().any(|j| j.is_active()) || !self.children.is_empty()
    }

    /// What one background result changes, and what it calls for
    /// (returned, like a key's).
    pub fn on_result(&mut self, r: BgResult) -> Vec<Effect> {
        if let Some(t) = r.task() {
            self.in_flight.remove(&t);
        }
        self.dirty = true;
        match r {
            BgResult::Health(h) => {
                let keep = self.selected_check().map(|c| c.id.clone());
                self.health = Some(h);
                self.apply_health_view_keeping(keep);
            }
            BgResult::Storage(s) => self.storage = Some(s),
            BgResult::Audit(a) => self.audit_status = Some(a),
            BgResult::Restore(r) => self.restore_evidence = Some(r),
            // What a settle changed shows through data_version: no need to
            // reload everything (and re-run every check) for it.
            BgResult::Settled(Ok(())) => {
                self.settle_error = None;
                self.effects.push(Effect::Refresh { force: false });
            }
            BgResult::Settled(Err(e)) => {
                if self.settle_error.as_ref() != Some(&e) {
                    self.say(
                        Level::Warn,
                        format!("a job looks dead but could not be settled: {e}"),
                    );
                    self.settle_error = Some(e);
                }
            }
            BgResult::Deleted { id, result } => {
                match result {
                    Ok(msg) => self.say(Level::Info, msg),
                    Err(e) => self.say(Level::Error, format!("could not delete {id}: {e}")),
                }
                self.detail = None;
                self.effects.push(Effect::Refresh { force: true });
            }
            BgResult::ChildExited {
                pid, ok, message, ..
            } => {
                self.children.retain(|c| c.pid != pid);
                self.say(if ok { Level::Info } else { Level::Error }, message);
                self.effects.push(Effect::Refresh { force: true });
            }
            BgResult::Notice { warning, message } => self.notice(warning, message),
        }
        std::mem::take(&mut self.effects)
    }

    /// Show one of the engine's notices in the status line.
    pub fn notice(&mut self, warning: bool, message: String) {
        self.say(if warning { Level::Warn } else { Level::Info }, message);
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
