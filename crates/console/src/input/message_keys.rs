//! [`App::say`] and the keys of the message history (`M`): see
//! [`crate::status`] for what is kept.

use std::time::Instant;

use chrono::Utc;
use crossterm::event::KeyEvent;

use super::is_ctrl_c;
use crate::app::{App, Overlay};
use crate::keymap::{self, Action};
use crate::status::{Level, Message, HISTORY_CAP};

impl App {
    /// Show a message in the status line (and keep it in the history).
    pub fn say(&mut self, level: Level, text: impl Into<String>) {
        let m = Message {
            level,
            text: text.into(),
            at: Instant::now(),
            when: Utc::now(),
            repeats: 1,
        };
        self.remember(&m);
        self.message = Some(m);
        self.dirty = true;
    }

    /// Keep `m` in the history: the same message again counts as a repeat.
    fn remember(&mut self, m: &Message) {
        if let Some(last) = self
            .history
            .back_mut()
            .filter(|l| l.level == m.level && l.text == m.text)
        {
            last.repeats += 1;
            last.when = m.when;
            return;
        }
        if self.history.len() == HISTORY_CAP {
            self.history.pop_front();
        }
        self.history.push_back(m.clone());
        // Scrolled down the history: the same entries stay on screen.
        let s = &mut self.history_scroll;
        if s.top > 0 {
            s.top = (s.top + 1).min(s.max_top.get() + 1);
        }
    }

    /// The catalog cannot be read: the status line says why when no
    /// message covers it, and the history keeps it (once per new reason).
    pub(crate) fn set_catalog_error(&mut self, text: String) {
        if self.catalog_error.as_ref() == Some(&text) {
            return;
        }
        self.remember(&Message {
            level: Level::Error,
            text: format!("catalog: {text}"),
            at: Instant::now(),
            when: Utc::now(),
            repeats: 1,
        });
        self.catalog_error = Some(text);
        self.dirty = true;
    }

    /// The message history, from the newest.
    pub fn open_messages(&mut self) {
        self.history_scroll.top = 0;
        self.overlay = Overlay::Messages;
    }

    /// The message history: the global scrolling keys move it, Esc (or
    /// M again) closes it.
    pub(crate) fn messages_key(&mut self, key: KeyEvent) {
        if is_ctrl_c(&key) {
            return self.quit_path();
        }
        let s = &mut self.history_scroll;
        let page = s.page.get().max(1) as isize;
        match keymap::global_action_for(&key) {
            // q closes it, as it closes the help (Ctrl-C still quits).
            Some(Action::Back | Action::Messages | Action::Quit) => return,
            Some(Action::Help) => {
                self.overlay = Overlay::help();
                return;
            }
            Some(Action::Up) => s.by(-1),
            Some(Action::Down) => s.by(1),
            Some(Action::PageUp) => s.by(-page),
            Some(Action::PageDown) => s.by(page),
            Some(Action::Top) => s.top = 0,
            Some(Action::Bottom) => s.top = s.max_top.get(),
            _ => {}
        }
        self.overlay = Overlay::Messages;
    }
}
