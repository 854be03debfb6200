//! The console's guided wizards (backup, restore, disaster recovery,
//! drill). Each is a state machine of steps with Back/Next, a summary before
//! anything runs and type-to-confirm for destructive actions.
//!
//! A wizard never calls the engine on the console's thread: when it runs
//! something it starts the real `lifeboat` binary as a child process (so the
//! work is an ordinary job in the catalog that every other console, CLI and
//! daemon sees, and that `lifeboat cancel` can stop) and follows its output.
//! Live progress comes from the job rows the child writes to the catalog,
//! found by the child's pid; read-only data for the steps (the backups to
//! choose from) comes from cheap catalog queries.
//!
//! Layout: one file (or directory) per wizard; `runner` is the child
//! process with its job progress, `widgets` the frame, step header, rows
//! and scrolling every wizard draws with, `input` text input and
//! type-to-confirm, `app` the Panel app's stop/start/health
//! commands and health URL.

mod app;
mod backup;
mod drill;
pub mod input;
mod prune;
mod recovery;
mod restore;
mod runner;
pub mod widgets;

use std::path::PathBuf;

use crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::Frame;

use lifeboat_engine::config::Config;

/// What a wizard needs from the console.
#[derive(Debug, Clone)]
pub struct WizardContext {
    pub config: Config,
    /// The `--config` the console was started with, passed on to children.
    pub config_path: Option<PathBuf>,
    /// The `lifeboat` binary to run for the work (normally current_exe).
    pub exe: PathBuf,
    /// The console's clock when the wizard opened; `tick` brings it on.
    pub now: chrono::DateTime<chrono::Utc>,
}

/// Which wizard to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WizardKind {
    Backup,
    /// Restore, optionally starting from a backup chosen in the Catalog.
    Restore {
        backup_id: Option<String>,
    },
    Recovery,
    Drill,
    /// Retention: preview, confirm, prune.
    Prune,
}

/// What the console should do after a key went to the wizard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WizardStatus {
    /// Keep showing the wizard.
    Open,
    /// The operator closed it (Esc on the first step, or done).
    Closed,
}

/// Something a wizard has under way, as the quit dialog names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Underway {
    /// What it is, for people: "the app stop command `systemctl stop panel`".
    pub what: String,
    /// Queued work with a worker of its own, which goes on after the
    /// console quits; otherwise it runs inside the console (an operator's
    /// shell command, a read-only look, a record being written) and is
    /// abandoned when it quits.
    pub outlives_console: bool,
}

/// A wizard as the console sees it.
pub trait Wizard {
    fn title(&self) -> String;
    /// Draw the current step into `area`.
    fn render(&self, frame: &mut Frame, area: Rect);
    fn handle_key(&mut self, key: KeyEvent) -> WizardStatus;
    /// Called on every console tick with the console's clock (a wizard's
    /// views read the time from here, never from the system): poll child
    /// processes, advance timers. Returns true when a redraw is due.
    fn tick(&mut self, _now: chrono::DateTime<chrono::Utc>) -> bool {
        false
    }
    /// The keys that apply on the current step, for the footer and `?`.
    fn keys(&self) -> Vec<(&'static str, &'static str)>;
    /// A child process started by this wizard is still running.
    fn is_running(&self) -> bool {
        false
    }
    /// What is under way, for the quit dialog. By default: while the
    /// wizard runs, its work, queued as a job that outlives the console.
    fn underway(&self) -> Vec<Underway> {
        if self.is_running() {
            vec![Underway {
                what: format!("the job of the {} wizard", self.title()),
                outlives_console: true,
            }]
        } else {
            Vec::new()
        }
    }
    /// Text input is active (the console must not treat letters as commands).
    fn wants_text(&self) -> bool {
        false
    }
    /// Part-way through with state that matters beyond its running work
    /// (the recovery runbook stopped the app and has not started it): what
    /// quitting or opening another wizard would lose, for the question the
    /// console asks first. None when closing it loses nothing.
    fn mid_way(&self) -> Option<String> {
        None
    }
}

/// Open a wizard. Errors (no catalog, bad config) are shown by the console.
pub fn open(kind: WizardKind, ctx: WizardContext) -> Result<Box<dyn Wizard>, String> {
    match kind {
        WizardKind::Backup => Ok(Box::new(backup::BackupWizard::new(ctx))),
        WizardKind::Restore { backup_id } => {
            Ok(Box::new(restore::RestoreWizard::new(ctx, backup_id)?))
        }
        WizardKind::Recovery => Ok(Box::new(recovery::RecoveryWizard::new(ctx))),
        WizardKind::Drill => Ok(Box::new(drill::DrillWizard::new(ctx))),
        WizardKind::Prune => Ok(Box::new(prune::PruneWizard::new(ctx))),
    }
}
