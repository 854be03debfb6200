//! The restore wizard: type, then a point on the timeline of that type's
//! backups, then where to (a new place by default), a dry-run preview,
//! a confirmation, and the restore itself followed live.
//!
//! The timeline lists only backups that can be restored (succeeded, with
//! or without warnings), with a line saying how many others it leaves out
//! (`a` lists them too), and starts on the newest good one: a failed or
//! interrupted backup is never the default.
//!
//! A new directory or a new database is the default because a restore
//! that goes wrong there costs nothing; its path or name can be edited,
//! and is checked ([`target`]) before the dry run. In place is offered,
//! but the preview then shows exactly what will be replaced and the
//! confirmation asks for the target's name to be typed.

mod target;
mod view;

use chrono::Utc;
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::Frame;

use crate::wizards::input::{Confirm, TextInput};
use crate::wizards::runner::ChildRun;
use crate::wizards::widgets::{self, nav, step_cursor, Nav, Scroll, BACK, NEXT, SCROLL};
use crate::wizards::{Underway, Wizard, WizardContext, WizardStatus};
use lifeboat_engine::archive::manifest::{BackupKind, BackupType};
use lifeboat_engine::catalog::{BackupRecord, BackupStatus, Catalog};
use lifeboat_engine::ops::queue::JobRequest;
use lifeboat_engine::ops::restore::RestoreRequest;
use lifeboat_engine::ops::select::Selector;

const STEPS: [&str; 6] = ["Type", "Point", "Target", "Preview", "Confirm", "Run"];

/// Types a restore can put back.
const RESTORABLE: [BackupType; 3] = [
    BackupType::Database,
    BackupType::Filesystem,
    BackupType::Configuration,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd)]
enum Step {
    Type,
    Point,
    Target,
    Preview,
    Confirm,
    Run,
}

pub struct RestoreWizard {
    ctx: WizardContext,
    catalog: Catalog,
    step: Step,
    /// Restorable types with how many of their backups can be restored,
    /// and how many cannot (failed, interrupted, cancelled, running).
    types: Vec<(BackupType, usize, usize)>,
    type_cursor: usize,
    /// Every backup of the chosen type, newest first.
    backups: Vec<BackupRecord>,
    /// The timeline: indices into `backups` of the ones listed.
    shown: Vec<usize>,
    /// List the backups that cannot be restored too (`a`).
    show_all: bool,
    /// Position in `shown`.
    point_cursor: usize,
    in_place: bool,
    /// The new directory (files) or new database name: proposed when the
    /// Target step is entered, editable there, checked on Enter, then
    /// fixed so preview and restore agree.
    new_target: TextInput,
    /// The live database a database backup came from.
    source_db: Option<String>,
    preview: Option<ChildRun>,
    confirm: Confirm,
    run: Option<ChildRun>,
    message: Option<String>,
    scroll: Scroll,
    /// The console's clock at the last tick (a backup's age on the Point step).
    now: chrono::DateTime<chrono::Utc>,
}

impl RestoreWizard {
    pub fn new(ctx: WizardContext, backup_id: Option<String>) -> Result<RestoreWizard, String> {
        let path = &ctx.config.catalog.path;
        if !path.exists() {
            return Err(format!(
                "there is no catalog at {}: nothing was backed up with this configuration yet, or the catalog was lost (`lifeboat catalog rebuild` rebuilds it from the repository)",
                path.display()
            ));
        }
        // A light handle: no integrity check or migration on the console's
        // thread, just the cheap reads the steps need.
        let catalog = Catalog::open_existing_light(path).map_err(|e| e.display_with_hint())?;
        let all = catalog
            .list_backups(None)
            .map_err(|e| e.display_with_hint())?;
        let types = RESTORABLE
            .iter()
            .map(|t| {
                let of_type = all.iter().filter(|b| b.backup_type == *t);
                let good = of_type.clone().filter(|b| b.status.is_good()).count();
                (*t, good, of_type.count() - good)
            })
            .collect();
        let ctx_now = ctx.now;
        let mut w = RestoreWizard {
            ctx,
            catalog,
            step: Step::Type,
            types,
            type_cursor: 0,
            backups: Vec::new(),
            shown: Vec::new(),
            show_all: false,
            point_cursor: 0,
            in_place: false,
            new_target: TextInput::default(),
            source_db: None,
            preview: None,
            confirm: Confirm::new(""),
            run: None,
            message: None,
            scroll: Scroll::default(),
            now: ctx_now,
        };
        if let Some(id) = backup_id {
            let b = all.iter().find(|b| b.id == id).ok_or_else(|| {
                format!("backup {id} is not in the catalog {}: choose one from the Catalog screen, or rebuild the catalog with `lifeboat catalog rebuild` if it should be there", w.ctx.config.catalog.path.display())
            })?;
            let Some(ti) = w.types.iter().position(|(t, ..)| *t == b.backup_type) else {
                return Err(format!(
                    "backup {id} is a {} backup, which cannot be restored in this version",
                    b.backup_type
                ));
            };
            w.type_cursor = ti;
            w.load_points()?;
            // Chosen on the Catalog screen: on the timeline even when it
            // cannot be restored, so the refusal below names it.
            if !b.status.is_good() {
                w.show_all = true;
                w.list_points();
            }
            w.point_cursor = w
                .shown
                .iter()
                .position(|&i| w.backups[i].id == id)
                .unwrap_or(0);
            // The same checks as choosing it on the timeline: a failed
            // backup or a broken chain stops there, saying why.
            w.step = Step::Point;
            w.next();
        }
        Ok(w)
    }

    fn chosen_type(&self) -> BackupType {
        self.types[self.type_cursor].0
    }

    fn chosen(&self) -> Option<&BackupRecord> {
        self.shown
            .get(self.point_cursor)
            .and_then(|&i| self.backups.get(i))
    }

    /// Read the chosen type's backups and list them, the cursor on the
    /// newest good one.
    fn load_points(&mut self) -> Result<(), String> {
        self.backups = self
            .catalog
            .list_backups(Some(self.chosen_type()))
            .map_err(|e| e.display_with_hint())?;
        self.show_all = false;
        self.list_points();
        self.point_cursor = self.newest_good();
        Ok(())
    }

    /// Which backups the timeline lists: the restorable ones, or all.
    fn list_points(&mut self) {
        self.shown = (0..self.backups.len())
            .filter(|&i| self.show_all || self.backups[i].status.is_good())
            .collect();
    }

    /// The listed backup a restore should start from: the newest that
    /// succeeded, passed its last verification and has its whole chain.
    fn newest_good(&self) -> usize {
        self.shown
            .iter()
            .position(|&i| {
                let b = &self.backups[i];
                b.is_good() && self.chain_len(b).is_some()
            })
            .unwrap_or(0)
    }

    /// `a`: list every backup, or only the restorable ones again; the
    /// cursor stays on its backup while it is listed.
    fn toggle_all(&mut self) {
        let at = self.chosen().map(|b| b.id.clone());
        self.show_all = !self.show_all;
        self.list_points();
        self.point_cursor = at
            .and_then(|id| self.shown.iter().position(|&i| self.backups[i].id == id))
            .unwrap_or_else(|| self.newest_good());
    }

    /// The backups of the chosen type the timeline leaves out, by status:
    /// `1 failed, 2 interrupted`. Empty when none is left out.
    fn hidden_summary(&self) -> String {
        let count = |s: BackupStatus| self.backups.iter().filter(|b| b.status == s).count();
        [
            (BackupStatus::Failed, "failed"),
            (BackupStatus::Interrupted, "interrupted"),
            (BackupStatus::Cancelled, "cancelled"),
            (BackupStatus::Running, "still running"),
        ]
        .into_iter()
        .filter_map(|(s, word)| match count(s) {
            0 => None,
            n => Some(format!("{n} {word}")),
        })
        .collect::<Vec<_>>()
        .join(", ")
    }

    /// Links from the full backup to `b` (1 for a full), or None when a
    /// parent is not in the catalog.
    fn chain_len(&self, b: &BackupRecord) -> Option<usize> {
        let mut n = 1;
        let mut cur = b;
        while cur.kind == BackupKind::Incremental {
            let parent = cur.parent_id.as_deref()?;
            cur = self.backups.iter().find(|x| x.id == parent)?;
            n += 1;
            if n > 10_000 {
                return None;
            }
        }
        Some(n)
    }

    fn enter_target(&mut self) {
        let b = self.chosen().cloned().expect("a point was chosen");
        let stamp = Utc::now().format("%Y%m%d_%H%M%S");
        if b.backup_type == BackupType::Database {
            let db = self
                .catalog
                .get_manifest_json(&b.id)
                .ok()
                .flatten()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
                .and_then(|m| m["database"]["database"].as_str().map(str::to_string));
            self.new_target = TextInput::new(&format!(
                "{}_restored_{stamp}",
                db.clone().unwrap_or_else(|| "database".into())
            ));
            self.source_db = db;
        } else {
            let dir = self
                .ctx
                .config
                .catalog
                .path
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .join("restores")
                .join(format!("{}_{stamp}", b.id));
            self.new_target = TextInput::new(&dir.display().to_string());
            self.source_db = None;
        }
        self.step = Step::Target;
    }

    /// What the operator types to confirm an in-place restore.
    fn in_place_name(&self) -> String {
        match (&self.source_db, self.chosen_type()) {
            (Some(db), BackupType::Database) => db.clone(),
            (_, t) => t.as_str().to_string(),
        }
    }

    fn args(&self, dry_run: bool) -> Vec<String> {
        let b = self.chosen().expect("a point was chosen");
        let mut a: Vec<String> = vec![
            "restore".into(),
            "--type".into(),
            b.backup_type.as_str().into(),
            "--id".into(),
            b.id.clone(),
        ];
        if self.in_place {
            a.push("--in-place".into());
            if !dry_run {
                a.push("--yes".into());
            }
        } else if b.backup_type == BackupType::Database {
            a.extend(["--target-db".into(), self.new_target.value.clone()]);
        } else {
            a.extend(["--target".into(), self.new_target.value.clone()]);
        }
        if dry_run {
            a.push("--dry-run".into());
        }
        a
    }

    /// The restore to queue: what `args(false)` says on a command line.
    fn request(&self) -> JobRequest {
        let b = self.chosen().expect("a point was chosen");
        let database = b.backup_type == BackupType::Database;
        JobRequest::Restore(RestoreRequest {
            backup_type: Some(b.backup_type),
            selector: Selector::Id(b.id.clone()),
            target: (!self.in_place && !database)
                .then(|| std::path::PathBuf::from(&self.new_target.value)),
            in_place: self.in_place,
            dry_run: false,
            yes: self.in_place,
            target_db: (!self.in_place && database).then(|| self.new_target.value.clone()),
            jobs: 1,
            no_owner: false,
            role: None,
            update_roles: false,
            check_content: false,
            from: None,
            app: Default::default(),
        })
    }

    fn next(&mut self) {
        self.message = None;
        match self.step {
            Step::Type => {
                let (t, n, hidden) = self.types[self.type_cursor];
                if n == 0 && hidden > 0 {
                    self.message = Some(format!(
                        "no {t} backup can be restored: all {hidden} failed, were interrupted or cancelled, or are still running; take a new one (the Backup wizard)"
                    ));
                    return;
                }
                if n == 0 {
                    self.message = Some(format!(
                        "there are no {t} backups in the catalog: take one first (the Backup wizard), or rebuild the catalog with `lifeboat catalog rebuild`"
                    ));
                    return;
                }
                if let Err(e) = self.load_points() {
                    self.message = Some(e);
                    return;
                }
                self.step = Step::Point;
            }
            Step::Point => {
                let Some(b) = self.chosen().cloned() else {
                    return;
                };
                if !b.status.is_good() {
                    self.message = Some(format!(
                        "backup {} is {}: it has no usable artifact; choose a succeeded one",
                        b.id, b.status
                    ));
                    return;
                }
                if b.verification_failed() {
                    self.message = Some(format!(
                        "backup {} failed its last verification: choose another one (or verify it again from the catalog with v)",
                        b.id
                    ));
                    return;
                }
                if self.chain_len(&b).is_none() {
                    self.message = Some(format!(
                        "backup {} is incremental and a parent is missing from the catalog: choose a full backup or a complete chain",
                        b.id
                    ));
                    return;
                }
                self.enter_target();
            }
            Step::Target => {
                if !self.in_place {
                    self.new_target = TextInput::new(self.new_target.value.trim());
                    if let Some(why) = self.target_problem() {
                        self.message = Some(format!("Refused: {why}"));
                        return;
                    }
                }
                self.preview = Some(ChildRun::lifeboat(&self.ctx, &self.args(true)));
                self.step = Step::Preview;
            }
            Step::Preview => {
                let Some(p) = &self.preview else { return };
                if !p.finished() {
                    self.message = Some("the preview is still running".into());
                    return;
                }
                if !p.succeeded() {
                    self.message = Some(
                        "the dry run failed (see above): go back and choose another point or target, or press r to run it again".into(),
                    );
                    return;
                }
                self.confirm = Confirm::new(&self.in_place_name());
                self.step = Step::Confirm;
            }
            Step::Confirm => {
                if self.in_place && !self.confirm.submit() {
                    return;
                }
                self.run = Some(ChildRun::queued(&self.ctx, self.request()));
                self.step = Step::Run;
            }
            Step::Run => {}
        }
    }

    /// Why the typed new directory or database name cannot be used.
    fn target_problem(&self) -> Option<String> {
        let typed = &self.new_target.value;
        if self.chosen_type() == BackupType::Database {
            return target::database_problem(typed, self.source_db.as_deref());
        }
        target::directory_problem(typed, &self.live_paths(), &self.ctx.config.repository.path)
    }

    /// The live paths a restore of the chosen backup must stay out of:
    /// the ones its manifest says it covered, and the configured ones.
    fn live_paths(&self) -> Vec<std::path::PathBuf> {
        let mut paths: Vec<std::path::PathBuf> = self
            .chosen()
            .and_then(|b| self.catalog.get_manifest_json(&b.id).ok().flatten())
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|m| {
                m["source"]["paths"].as_array().map(|a| {
                    a.iter()
                        .filter_map(|p| p.as_str().map(std::path::PathBuf::from))
                        .collect()
                })
            })
            .unwrap_or_default();
        let sources = &self.ctx.config.sources;
        match self.chosen_type() {
            BackupType::Filesystem => paths.extend(sources.filesystem.paths.iter().cloned()),
            BackupType::Configuration => paths.extend(
                sources
                    .configuration
                    .files
                    .iter()
                    .chain(&sources.configuration.env_files)
                    .cloned(),
            ),
            _ => {}
        }
        paths
    }

    fn back(&mut self) -> WizardStatus {
        self.message = None;
        self.step = match self.step {
            Step::Type => return WizardStatus::Closed,
            Step::Point => Step::Type,
            Step::Target => Step::Point,
            Step::Preview => {
                if self.preview.as_ref().is_some_and(|p| !p.finished()) {
                    self.message = Some("wait for the preview to finish".into());
                    return WizardStatus::Open;
                }
                Step::Target
            }
            Step::Confirm => Step::Preview,
            Step::Run => Step::Run,
        };
        WizardStatus::Open
    }

    fn running(&self) -> bool {
        self.preview.as_ref().is_some_and(|p| !p.finished())
            || self.run.as_ref().is_some_and(|p| !p.finished())
    }
}

impl Wizard for RestoreWizard {
    fn title(&self) -> String {
        "Restore".into()
    }

    fn render(&self, frame: &mut Frame, area: Rect) {
        let page = widgets::Page {
            title: self.title(),
            steps: &STEPS,
            step: self.step as usize,
            from_top: false,
            body: self.body(),
            keys: self.keys(),
            focus: self.focus(),
        };
        widgets::draw_page(frame, area, &self.scroll, page);
    }

    fn handle_key(&mut self, key: KeyEvent) -> WizardStatus {
        if key.kind == crossterm::event::KeyEventKind::Release {
            return WizardStatus::Open;
        }
        if matches!(self.step, Step::Preview | Step::Run) && self.scroll.handle(&key) {
            return WizardStatus::Open;
        }
        match self.step {
            Step::Confirm if self.in_place => match key.code {
                KeyCode::Esc => return self.back(),
                KeyCode::Enter => self.next(),
                _ => {
                    self.confirm.input.handle(&key);
                }
            },
            Step::Run => {
                let done = self.run.as_ref().is_none_or(|r| r.finished());
                if done && matches!(nav(&key), Nav::Next | Nav::Back) {
                    return WizardStatus::Closed;
                }
                if !done && key.code == KeyCode::Char('x') {
                    if let Some(r) = &mut self.run {
                        r.interrupt();
                    }
                }
            }
            Step::Target if !self.in_place => match key.code {
                KeyCode::Esc => return self.back(),
                KeyCode::Enter => self.next(),
                KeyCode::Up => self.in_place = false,
                KeyCode::Down => self.in_place = true,
                _ => {
                    if self.new_target.handle(&key) {
                        self.message = None;
                    }
                }
            },
            Step::Point if key.code == KeyCode::Char('a') => self.toggle_all(),
            Step::Preview if key.code == KeyCode::Char('r') && !self.running() => {
                self.message = None;
                self.preview = Some(ChildRun::lifeboat(&self.ctx, &self.args(true)));
            }
            _ => match nav(&key) {
                Nav::Back => return self.back(),
                Nav::Next => self.next(),
                n @ (Nav::Up | Nav::Down) => match self.step {
                    Step::Type => {
                        step_cursor(&mut self.type_cursor, self.types.len(), n);
                    }
                    Step::Point => {
                        step_cursor(&mut self.point_cursor, self.shown.len(), n);
                    }
                    Step::Target => self.in_place = n == Nav::Down,
                    _ => {}
                },
                Nav::Toggle if self.step == Step::Target => self.in_place = !self.in_place,
                _ => {}
            },
        }
        WizardStatus::Open
    }

    fn tick(&mut self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.now = now;
        let mut changed = false;
        if let Some(p) = &mut self.preview {
            changed |= p.tick();
        }
        if let Some(r) = &mut self.run {
            changed |= r.tick();
        }
        changed
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        match self.step {
            Step::Type => vec![("↑/↓", "move"), NEXT, ("Esc", "close")],
            Step::Point if self.show_all => {
                vec![("↑/↓", "move"), NEXT, ("a", "only restorable ones"), BACK]
            }
            Step::Point if !self.hidden_summary().is_empty() => {
                vec![("↑/↓", "move"), NEXT, ("a", "list all"), BACK]
            }
            Step::Point => vec![("↑/↓", "move"), NEXT, BACK],
            Step::Target if !self.in_place => vec![
                (
                    "type",
                    if self.chosen_type() == BackupType::Database {
                        "the new database's name"
                    } else {
                        "the new directory"
                    },
                ),
                ("↑/↓", "new place or in place"),
                ("Enter", "dry run"),
                ("Esc", "back"),
            ],
            Step::Target => vec![("↑/↓/Space", "new place or in place"), NEXT, BACK],
            Step::Preview if self.running() => vec![("wait", "dry run running")],
            Step::Preview => vec![NEXT, ("r", "run the dry run again"), BACK, SCROLL],
            Step::Confirm if self.in_place => vec![
                ("type", "the name shown"),
                ("Enter", "restore"),
                ("Esc", "back"),
            ],
            Step::Confirm => vec![("Enter", "restore"), BACK],
            Step::Run if self.running() => {
                vec![("x", "cancel (stops at the next safe point)"), SCROLL]
            }
            Step::Run => vec![("Enter/Esc", "close"), SCROLL],
        }
    }

    fn is_running(&self) -> bool {
        self.running()
    }

    fn underway(&self) -> Vec<Underway> {
        let preview = self
            .preview
            .as_ref()
            .and_then(|p| p.underway("the restore preview"));
        let run = self.run.as_ref().and_then(|r| r.underway("the restore"));
        preview.into_iter().chain(run).collect()
    }

    fn wants_text(&self) -> bool {
        // The new place's path or name is typed; in place is confirmed
        // by typing the target's name.
        match self.step {
            Step::Target => !self.in_place,
            Step::Confirm => self.in_place,
            _ => false,
        }
    }
}
