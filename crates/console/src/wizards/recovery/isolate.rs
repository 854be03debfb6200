//! Isolate: stopping the production app is a deliberate act, so the stop
//! command runs only once STOP is typed (a bare Enter runs nothing), and
//! an app that is already down is said to be so by typing SKIP, which goes
//! on without running it and leaves "skipped" in the report. Both are
//! typed words rather than single keys because the step takes text: a
//! letter key would be typed into the confirmation instead.
//!
//! Only the first run needs the word: `r` runs a stop command that has
//! already run (or failed) again, and the start command on Resume stays on
//! Enter.

use ratatui::text::Line;

use super::{RecoveryWizard, Step};
use crate::wizards::input::Confirm;
use crate::wizards::widgets::text;

/// What the operator types to run the app's stop command.
pub(super) const STOP_WORD: &str = "STOP";
/// What the operator types to go on without it: the app is already down.
pub(super) const SKIP_WORD: &str = "SKIP";

impl RecoveryWizard {
    /// The stop command waits for a typed STOP (or SKIP): it is configured
    /// and has not run.
    pub(super) fn stop_needs_word(&self) -> bool {
        self.stop.configured() && self.stop.run.is_none()
    }

    /// Enter while the stop command waits for its word: STOP runs it, SKIP
    /// goes on without it, an empty line goes on once it was skipped;
    /// anything else runs nothing and says what would.
    pub(super) fn isolate_enter(&mut self) {
        let typed = self.stop_confirm.input.value.trim().to_string();
        if typed == STOP_WORD {
            self.stop_confirm = Confirm::new(STOP_WORD);
            self.stop.start();
        } else if typed == SKIP_WORD {
            self.stop.skip();
            self.stop_confirm = Confirm::new(STOP_WORD);
            self.leave(Step::Point);
        } else if typed.is_empty() && self.stop.skipped {
            self.leave(Step::Point);
        } else {
            self.stop_confirm.refused = Some(if typed.is_empty() {
                format!("nothing was run: type {STOP_WORD} and Enter to run the stop command, or {SKIP_WORD} and Enter if the app is already down")
            } else {
                format!("'{typed}' does not match: type {STOP_WORD} to run the stop command, or {SKIP_WORD} if the app is already down; Esc goes back")
            });
        }
    }

    pub(super) fn isolate_keys(&self) -> Vec<(&'static str, &'static str)> {
        if self.stop.skipped {
            vec![
                ("Enter", "go on (stop skipped)"),
                ("STOP+Enter", "run it after all"),
                ("Esc", "back"),
            ]
        } else {
            vec![
                ("STOP+Enter", "run the stop command"),
                ("SKIP+Enter", "skip: app already down"),
                ("Esc", "back"),
            ]
        }
    }

    /// The step's body: the command and the word it waits for, or (once it
    /// ran) its outcome.
    pub(super) fn isolate_lines(&self) -> Vec<Line<'static>> {
        if !self.stop_needs_word() {
            return self.stop.lines();
        }
        let mut v = vec![text(format!("Stop command: {}", self.stop.command))];
        if self.stop.skipped {
            v.push(text(
                "Skipped: not run, the app is already down (the report says so). Enter goes on.",
            ));
        }
        v.push(text(format!(
            "Stopping the production app is deliberate: type {STOP_WORD} and press Enter to run the stop command now."
        )));
        v.push(text(format!(
            "If the app is already down, type {SKIP_WORD} and press Enter to go on without running it (the report says it was skipped)."
        )));
        v.push(
            self.stop_confirm
                .input
                .line(&format!("Type {STOP_WORD} or {SKIP_WORD}:")),
        );
        if let Some(r) = &self.stop_confirm.refused {
            v.push(text(format!("Refused: {r}")));
        }
        v
    }
}
