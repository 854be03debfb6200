//! Keys of the key help (`?`): it scrolls with the list keys, and `/`
//! searches it the way the full-screen log is searched: the entries
//! holding the text are marked as it is typed and the first is scrolled
//! into sight; Enter keeps the search, n/N step through what it found,
//! Esc clears it (and a second Esc closes the help).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::is_ctrl_c;
use crate::app::{App, HelpSearch, Level, Overlay};
use crate::help;

impl App {
    /// A key while the help is open. Any key that means nothing here
    /// closes it (`q` and `?` among them); Ctrl-C still quits.
    pub(crate) fn help_key(&mut self, scroll: usize, search: Option<HelpSearch>, key: KeyEvent) {
        if is_ctrl_c(&key) {
            return self.quit_path();
        }
        if let Some(s) = search.clone().filter(|s| s.typing) {
            return self.help_search_key(scroll, s, key);
        }
        let (scroll, search) = match (key.code, search) {
            (KeyCode::Char('/'), _) => (
                scroll,
                Some(HelpSearch {
                    typing: true,
                    ..HelpSearch::default()
                }),
            ),
            (KeyCode::Char(c @ ('n' | 'N')), Some(s)) => {
                let s = self.step_help_search(s, c == 'n');
                (self.help_scroll_to(scroll, &s), Some(s))
            }
            (KeyCode::Esc, Some(_)) => (scroll, None),
            (code, search) => match self.help_room.scrolled(scroll, code) {
                Some(scroll) => (scroll, search),
                None => return,
            },
        };
        self.overlay = Overlay::Help { scroll, search };
    }

    /// Typing the help's search: each key refines it and brings its first
    /// match into sight; Enter keeps it, Esc clears it.
    fn help_search_key(&mut self, scroll: usize, mut s: HelpSearch, key: KeyEvent) {
        match key.code {
            KeyCode::Enter => {
                s.typing = false;
                if !s.query.is_empty() && self.help_matches(&s.query).is_empty() {
                    self.say(
                        Level::Warn,
                        format!("no key of this help matches /{}", s.query),
                    );
                }
            }
            KeyCode::Esc => {
                self.overlay = Overlay::Help {
                    scroll,
                    search: None,
                };
                return;
            }
            KeyCode::Backspace => {
                s.query.pop();
                s.at = 0;
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                s.query.push(c);
                s.at = 0;
            }
            _ => {}
        }
        let scroll = self.help_scroll_to(scroll, &s);
        self.overlay = Overlay::Help {
            scroll,
            search: Some(s),
        };
    }

    fn help_matches(&self, query: &str) -> Vec<usize> {
        help::matching(&help::entries(self), query)
    }

    /// The next (or previous) match, round the end; said when none.
    fn step_help_search(&mut self, mut s: HelpSearch, forward: bool) -> HelpSearch {
        let n = self.help_matches(&s.query).len();
        if n == 0 {
            self.say(
                Level::Warn,
                format!("no key of this help matches /{}", s.query),
            );
            return s;
        }
        s.at = if forward {
            (s.at + 1) % n
        } else {
            (s.at + n - 1) % n
        };
        s
    }

    /// Where the help scrolls so that the current match is in sight (it
    /// stays put when the match already is): from the rows each entry
    /// started on in the last frame.
    fn help_scroll_to(&self, scroll: usize, s: &HelpSearch) -> usize {
        let matches = self.help_matches(&s.query);
        let Some(&entry) = matches.get(s.at.min(matches.len().saturating_sub(1))) else {
            return scroll;
        };
        let Some(&row) = self.help_room.entry_rows.borrow().get(entry) else {
            return scroll;
        };
        let page = self.help_room.page.get().max(1);
        if row >= scroll && row < scroll + page {
            scroll
        } else {
            row.min(self.help_room.max_scroll.get())
        }
    }
}
