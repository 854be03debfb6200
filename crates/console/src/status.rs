//! The status line's messages and their history.
//!
//! [`App::say`] is how anything tells the operator something: it shows
//! in the status line (an info fades after a while, a warning or an
//! error stays until the next message) and is kept in the history, the
//! last [`HISTORY_CAP`], which `M` or `:messages` opens: newest first,
//! each whole, so an error the status line had to cut can be read to its
//! end. A message repeated in a row (a retry that keeps failing) is one
//! entry with a count.

use std::time::Instant;

use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;

use crate::app::{App, Overlay};
use crate::input::is_ctrl_c;
use crate::keymap::{self, Action};

/// How much a message matters: the status line and the history write
/// "warning:" or "error:" before it (colour only adds to the word).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// One status line message.
#[derive(Debug, Clone)]
pub struct Message {
    pub level: Level,
    pub text: String,
    pub at: Instant,
    /// When it was shown (the history lists it with this time).
    pub when: DateTime<Utc>,
    /// How many times in a row it was shown (a retry that keeps failing
    /// is one entry of the history, not two hundred).
    pub repeats: u32,
}

/// Status line messages kept for the history (`M`), the oldest go first.
pub const HISTORY_CAP: usize = 200;

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
            Some(Action::Back | Action::Messages) => return,
            Some(Action::Quit) => return self.quit_path(),
            Some(Action::Help) => {
                self.overlay = Overlay::Help { scroll: 0 };
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
