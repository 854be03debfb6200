//! The mouse, when it is on (`m`, or `LIFEBOAT_MOUSE=1`; off by default so
//! that the terminal selects text): a left click on a tab goes to that
//! screen, on a row of the list selects it; the wheel scrolls the list,
//! the full-screen log, the help, the row popup or the message history.
//! A click means what the last frame drew under it ([`crate::app::Hits`]);
//! what it decides comes back as effects like a key's. A click never
//! lands through a popup or a question: with one open only the wheel
//! works, and only on what scrolls.

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};

use crate::app::{App, Effect, Hit, Level, Overlay};
use crate::keymap::Action;

/// Rows one notch of the wheel moves (what terminals scroll by).
pub const WHEEL_ROWS: usize = 3;

impl App {
    /// What one mouse event changes, and what it asks of the world
    /// outside (a log to read for a job selected by a click). Motion and
    /// the other buttons mean nothing, and do not cost a frame.
    pub fn on_mouse(&mut self, m: MouseEvent) -> Vec<Effect> {
        if !self.mouse {
            return Vec::new();
        }
        match m.kind {
            MouseEventKind::ScrollUp => self.wheel(false),
            MouseEventKind::ScrollDown => self.wheel(true),
            MouseEventKind::Down(MouseButton::Left) => self.click(m.column, m.row),
            _ => return Vec::new(),
        }
        self.dirty = true;
        std::mem::take(&mut self.effects)
    }

    /// Turn the mouse on or off (the terminal is told by the effect).
    pub fn set_mouse(&mut self, on: bool) {
        self.mouse = on;
        self.effects.push(Effect::Mouse(on));
        self.say(
            Level::Info,
            if on {
                "mouse on: click a tab or a row, the wheel scrolls (m turns it off to select text)"
            } else {
                "mouse off: the terminal selects text again (m turns it back on)"
            },
        );
    }

    fn wheel(&mut self, down: bool) {
        let step = |at: usize, max: usize| {
            if down {
                (at + WHEEL_ROWS).min(max)
            } else {
                at.saturating_sub(WHEEL_ROWS)
            }
        };
        let wizard = self.shown_wizard().is_some();
        match &mut self.overlay {
            Overlay::Help { scroll, .. } => {
                *scroll = step(*scroll, self.help_room.max_scroll.get());
            }
            Overlay::Row { scroll } => *scroll = step(*scroll, self.row_room.max_scroll.get()),
            Overlay::Messages => {
                let rows = WHEEL_ROWS as isize;
                self.history_scroll.by(if down { rows } else { -rows });
            }
            Overlay::None if !wizard => match self.log_view.as_mut() {
                // Scrolling the log up stops following it, as ↑ does.
                Some(v) if down => v.down(WHEEL_ROWS),
                Some(v) => v.up(WHEEL_ROWS),
                None => self.move_selection(|s, _, _| step(s, usize::MAX)),
            },
            // A question, a line being typed, a wizard: not scrolled.
            _ => {}
        }
    }

    fn click(&mut self, x: u16, y: u16) {
        if self.overlay != Overlay::None {
            return;
        }
        match self.hits.at(x, y) {
            Some(Hit::Tab(screen)) => {
                // As Tab and 1-6 do: a wizard on screen keeps working aside.
                if self.shown_wizard().is_some() {
                    self.wizard_hidden = true;
                }
                self.act(Action::GoTab(screen.index()));
            }
            Some(Hit::Row(i)) if self.shown_wizard().is_none() && self.log_view.is_none() => {
                self.move_selection(|_, _, _| i);
            }
            _ => {}
        }
    }
}
