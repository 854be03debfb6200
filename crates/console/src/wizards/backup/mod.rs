//! The backup wizard: choose types, a name, full or incremental, see how
//! the backup will be encrypted, review, then run `lifeboat backup` and
//! follow it.
//!
//! Everything the CLI would refuse is refused on the step where it is
//! chosen (a bad name, a configuration backup without a key), so the
//! operator never reaches the end to learn that the first step was wrong.

mod view;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::Frame;

use crate::wizards::input::TextInput;
use crate::wizards::runner::ChildRun;
use crate::wizards::widgets::{self, nav, step_cursor, Nav, Scroll, BACK, NEXT, SCROLL};
use crate::wizards::{Wizard, WizardContext, WizardStatus};
use lifeboat_engine::archive::manifest::BackupType;
use lifeboat_engine::config::EncryptMode;
use lifeboat_engine::ops::queue::JobRequest;

const STEPS: [&str; 6] = [
    "Types",
    "Name",
    "Full or incremental",
    "Encryption",
    "Summary",
    "Run",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Types,
    Name,
    Mode,
    Encryption,
    Summary,
    Run,
}

impl Step {
    fn index(self) -> usize {
        self as usize
    }
}

/// Valid as the CLI checks it: 1-64 letters, digits, `-` or `_`.
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    if name.len() > 64 {
        return Some(format!(
            "the name is {} characters long; at most 64 are allowed",
            name.len()
        ));
    }
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        .map(|c| {
            format!("'{c}' is not allowed in a name: use letters, digits, '-' or '_' (it becomes part of the file name)")
        })
}

pub struct BackupWizard {
    ctx: WizardContext,
    step: Step,
    /// Configured types; row 0 of the list is "all".
    types: Vec<BackupType>,
    checked: Vec<bool>,
    all: bool,
    cursor: usize,
    name: TextInput,
    full: bool,
    key_exists: bool,
    /// Why Next was refused on this step.
    message: Option<String>,
    queue: Vec<JobRequest>,
    runs: Vec<ChildRun>,
    scroll: Scroll,
}

impl BackupWizard {
    pub fn new(ctx: WizardContext) -> BackupWizard {
        let types = ctx.config.configured_types();
        let key_exists = ctx.config.encryption.key_file.is_file();
        BackupWizard {
            checked: vec![false; types.len()],
            types,
            all: false,
            cursor: 0,
            name: TextInput::default(),
            full: false,
            key_exists,
            message: None,
            queue: Vec::new(),
            runs: Vec::new(),
            scroll: Scroll::default(),
            step: Step::Types,
            ctx,
        }
    }

    fn selected(&self) -> Vec<BackupType> {
        self.types
            .iter()
            .zip(&self.checked)
            .filter(|(_, c)| self.all || **c)
            .map(|(t, _)| *t)
            .collect()
    }

    /// Whether a backup of `t` will be encrypted, or why it is refused.
    fn encryption_of(&self, t: BackupType) -> Result<bool, String> {
        let e = &self.ctx.config.encryption;
        let key = e.key_file.display();
        if t == BackupType::Configuration
            && !self
                .ctx
                .config
                .sources
                .configuration
                .allow_plaintext_secrets
        {
            return if self.key_exists {
                Ok(true)
            } else {
                Err(format!("configuration backups hold secrets and are always encrypted, but there is no key file at {key}: create one with `lifeboat key generate`, or go back and leave configuration out"))
            };
        }
        match e.encrypt {
            EncryptMode::Never => Ok(false),
            EncryptMode::Auto => Ok(self.key_exists),
            EncryptMode::Always if self.key_exists => Ok(true),
            EncryptMode::Always => Err(format!(
                "encrypt = true but there is no key file at {key}: create one with `lifeboat key generate`"
            )),
        }
    }

    fn runs_filesystem(&self) -> bool {
        self.selected().contains(&BackupType::Filesystem)
    }

    /// The command lines this wizard will run, in order.
    /// What a backup of `t` covers, from the configuration.
    fn targets_of(&self, t: BackupType) -> String {
        let c = &self.ctx.config;
        let paths = |v: &[std::path::PathBuf]| {
            v.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match t {
            BackupType::Database => match lifeboat_engine::ops::database::configured_databases(c) {
                Ok(dbs) => format!("databases {}", dbs.join(", ")),
                Err(e) => e.message,
            },
            BackupType::Filesystem => paths(&c.sources.filesystem.paths),
            BackupType::Configuration => {
                let s = &c.sources.configuration;
                let mut v = paths(&s.files);
                if !s.env_files.is_empty() {
                    v.push_str(&format!("; env files {}", paths(&s.env_files)));
                }
                if !s.env_vars.is_empty() {
                    v.push_str(&format!("; variables {}", s.env_vars.join(", ")));
                }
                v
            }
            BackupType::State => "cache and session state".to_string(),
        }
    }

    /// The backups to run, one request per type (or one for "all").
    fn commands(&self) -> Vec<JobRequest> {
        let name = (!self.name.value.is_empty()).then(|| self.name.value.clone());
        if self.all {
            return vec![JobRequest::Backup {
                backup_type: None,
                all: true,
                name,
                full: self.full,
            }];
        }
        self.selected()
            .into_iter()
            .map(|t| JobRequest::Backup {
                backup_type: Some(t),
                all: false,
                name: name.clone(),
                full: self.full && t == BackupType::Filesystem,
            })
            .collect()
    }

    fn next(&mut self) {
        self.message = None;
        self.step = match self.step {
            Step::Types => {
                if self.types.is_empty() {
                    self.message = Some("nothing is configured to back up: fill [sources.database], [sources.filesystem] or [sources.configuration] in the config file".into());
                    return;
                }
                if self.selected().is_empty() {
                    self.message =
                        Some("choose at least one type (Space to tick it), or \"all\"".into());
                    return;
                }
                Step::Name
            }
            Step::Name => {
                if let Some(p) = name_problem(&self.name.value) {
                    self.message = Some(p);
                    return;
                }
                if self.runs_filesystem() {
                    Step::Mode
                } else {
                    Step::Encryption
                }
            }
            Step::Mode => Step::Encryption,
            Step::Encryption => {
                let refused: Vec<String> = self
                    .selected()
                    .into_iter()
                    .filter_map(|t| self.encryption_of(t).err())
                    .collect();
                if let Some(r) = refused.first() {
                    self.message = Some(format!("cannot go on: {r}"));
                    return;
                }
                Step::Summary
            }
            Step::Summary => {
                self.queue = self.commands();
                self.queue.reverse();
                self.start_next();
                Step::Run
            }
            Step::Run => Step::Run,
        };
    }

    fn back(&mut self) -> WizardStatus {
        self.message = None;
        self.step = match self.step {
            Step::Types => return WizardStatus::Closed,
            Step::Name => Step::Types,
            Step::Mode => Step::Name,
            Step::Encryption if self.runs_filesystem() => Step::Mode,
            Step::Encryption => Step::Name,
            Step::Summary => Step::Encryption,
            Step::Run => Step::Run,
        };
        WizardStatus::Open
    }

    fn start_next(&mut self) {
        if let Some(request) = self.queue.pop() {
            self.runs.push(ChildRun::queued(&self.ctx, request));
        }
    }

    fn done(&self) -> bool {
        self.step == Step::Run && self.queue.is_empty() && self.runs.iter().all(|r| r.finished())
    }
}

impl Wizard for BackupWizard {
    fn title(&self) -> String {
        "Backup".into()
    }

    fn render(&self, frame: &mut Frame, area: Rect) {
        let page = widgets::Page {
            title: self.title(),
            steps: &STEPS,
            step: self.step.index(),
            from_top: false,
            body: self.body(),
            keys: self.keys(),
            focus: None,
        };
        widgets::draw_page(frame, area, &self.scroll, page);
    }

    fn handle_key(&mut self, key: KeyEvent) -> WizardStatus {
        if key.kind == crossterm::event::KeyEventKind::Release {
            return WizardStatus::Open;
        }
        match self.step {
            Step::Name => match key.code {
                KeyCode::Esc => return self.back(),
                KeyCode::Enter => self.next(),
                _ => {
                    self.name.handle(&key);
                }
            },
            Step::Run => {
                if self.scroll.handle(&key) {
                    return WizardStatus::Open;
                }
                if self.done() {
                    if matches!(nav(&key), Nav::Next | Nav::Back) {
                        return WizardStatus::Closed;
                    }
                } else if key.code == KeyCode::Char('x') {
                    self.queue.clear();
                    for r in &mut self.runs {
                        r.interrupt();
                    }
                }
            }
            _ => match nav(&key) {
                Nav::Back => return self.back(),
                Nav::Next => self.next(),
                n @ (Nav::Up | Nav::Down) => {
                    if self.step == Step::Types {
                        step_cursor(&mut self.cursor, self.types.len() + 1, n);
                    } else if self.step == Step::Mode {
                        self.full = n == Nav::Down;
                    }
                }
                Nav::Toggle if self.step == Step::Types => {
                    if self.cursor == 0 {
                        self.all = !self.all;
                    } else if !self.all {
                        self.checked[self.cursor - 1] = !self.checked[self.cursor - 1];
                    }
                }
                Nav::Toggle if self.step == Step::Mode => self.full = !self.full,
                _ => {}
            },
        }
        WizardStatus::Open
    }

    fn tick(&mut self, _now: chrono::DateTime<chrono::Utc>) -> bool {
        let mut changed = false;
        for r in &mut self.runs {
            changed |= r.tick();
        }
        if self.step == Step::Run
            && self.runs.last().is_some_and(|r| r.finished())
            && !self.queue.is_empty()
        {
            // The tick is where a wizard's work starts: start it now, not
            // on the next tick (an `x` in between must find it started).
            self.start_next();
            if let Some(r) = self.runs.last_mut() {
                r.tick();
            }
            changed = true;
        }
        changed
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        match self.step {
            Step::Types => vec![("↑/↓", "move"), ("Space", "tick"), NEXT, ("Esc", "close")],
            Step::Name => vec![("type", "name"), ("Enter", "next"), ("Esc", "back")],
            Step::Mode => vec![("↑/↓/Space", "choose"), NEXT, BACK],
            Step::Encryption => vec![NEXT, BACK],
            Step::Summary => vec![("Enter", "run"), BACK],
            Step::Run if self.done() => vec![("Enter/Esc", "close"), SCROLL],
            Step::Run => vec![("x", "cancel (stops at the next safe point)"), SCROLL],
        }
    }

    fn is_running(&self) -> bool {
        self.step == Step::Run && !self.done()
    }

    /// The job that runs goes on after the console quits; the types still
    /// waiting their turn here are started by this wizard's tick, so they
    /// never start if it quits.
    fn underway(&self) -> Vec<super::Underway> {
        let mut v: Vec<super::Underway> = self
            .runs
            .iter()
            .filter_map(|r| r.underway("the backup"))
            .collect();
        if !self.queue.is_empty() {
            v.push(super::Underway {
                what: format!(
                    "{} more backup(s) this wizard would start next: {}",
                    self.queue.len(),
                    self.queue
                        .iter()
                        .rev()
                        .map(JobRequest::command_line)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                outlives_console: false,
            });
        }
        v
    }

    fn wants_text(&self) -> bool {
        self.step == Step::Name
    }
}
