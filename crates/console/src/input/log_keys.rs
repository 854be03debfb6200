//! Keys of the full-screen job log ([`crate::joblog::LogView`]): scroll,
//! follow, search; what they decide comes back as effects like any key's.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::is_ctrl_c;
use crate::app::{App, Effect, Level, Overlay};
use crate::joblog::LogView;
use crate::keymap::Action;

impl App {
    /// What an action means in the full-screen log; false when it means
    /// what it means everywhere (help, palette, screens, Esc, quit...).
    pub(crate) fn log_act(&mut self, action: Action) -> bool {
        let Some(v) = self.log_view.as_mut() else {
            return false;
        };
        let page = v.page.get().max(1);
        match action {
            Action::Up => v.up(1),
            Action::Down => v.down(1),
            Action::PageUp => v.up(page),
            Action::PageDown => v.down(page),
            Action::Top => v.to_start(),
            Action::Bottom => v.to_end(),
            Action::Follow => v.toggle_follow(),
            Action::Search => {
                v.begin_search();
                v.search("");
                self.overlay = Overlay::LogSearch;
            }
            Action::NextMatch | Action::PrevMatch => {
                if !v.next_match(action == Action::NextMatch) {
                    let msg = if v.query.is_empty() {
                        "no search yet: / searches the log".to_string()
                    } else {
                        format!("no line of this log matches /{}", v.query)
                    };
                    self.say(Level::Warn, msg);
                }
            }
            _ => return false,
        }
        true
    }

    /// `l` or Enter on Jobs: the selected job's whole log, following it
    /// while it runs; what it logged is read by the effect.
    pub(crate) fn open_log(&mut self) {
        let Some(j) = self.selected_job() else {
            return self.say(Level::Warn, "no job selected");
        };
        let (id, running) = (j.id, j.is_active());
        self.log_view = Some(LogView::new(id, running));
        self.effects.push(Effect::ReadFullLog(id));
    }

    /// `/` in the full-screen log: the search is refined as it is typed;
    /// Enter keeps it (n/N step through it), Esc clears it.
    pub(crate) fn log_search_key(&mut self, key: KeyEvent) {
        if is_ctrl_c(&key) {
            return self.quit_path();
        }
        let Some(v) = self.log_view.as_mut() else {
            return;
        };
        let mut q = v.query.clone();
        match key.code {
            KeyCode::Enter => {
                if !q.is_empty() && v.matches.is_empty() {
                    self.say(Level::Warn, format!("no line of this log matches /{q}"));
                }
                return;
            }
            KeyCode::Esc => {
                v.search("");
                return;
            }
            KeyCode::Backspace => {
                q.pop();
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => q.push(c),
            _ => {}
        }
        v.search(&q);
        self.overlay = Overlay::LogSearch;
    }
}
