//! Keys of the `:` palette ([`crate::palette::Palette`]): editing, Tab
//! completion, history, and handing the line to `run_command`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::is_ctrl_c;
use crate::app::{App, Overlay};
use crate::palette::{remember, Palette};

impl App {
    /// A key in the palette: edit, complete (Tab), recall (↑/↓), run
    /// (Enter) or close (Esc, Backspace on an empty line).
    pub(crate) fn palette_key(&mut self, mut p: Palette, key: KeyEvent) {
        match key.code {
            KeyCode::Esc => return,
            KeyCode::Enter => {
                let line = p.text.trim().to_string();
                remember(&mut self.palette_history, &line);
                return self.run_command(&line);
            }
            // Backspace on an empty palette closes it, as in vim.
            KeyCode::Backspace if p.text.is_empty() => return,
            KeyCode::Backspace => {
                p.text.pop();
                p.edited();
            }
            KeyCode::Tab => {
                let ids: Vec<&str> = self.backups.iter().map(|b| &*b.id).collect();
                p.complete(&ids);
            }
            KeyCode::Up => p.walk(&self.palette_history, true),
            KeyCode::Down => p.walk(&self.palette_history, false),
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                p.text.push(c);
                p.edited();
            }
            _ if is_ctrl_c(&key) => return self.quit_path(),
            _ => {}
        }
        self.overlay = Overlay::Palette(p);
    }
}
