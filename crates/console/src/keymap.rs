//! Key bindings: one table per screen plus the global one.
//!
//! The footer hints, the `?` overlay and the key dispatch all read these
//! tables (the gitui habit), so what the console says a key does is what
//! the key does.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::Screen;

/// What a key asks the console to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    Palette,
    Filter,
    NextTab,
    PrevTab,
    /// Screen by number (1-based key, 0-based index).
    GoTab(usize),
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Enter,
    Back,
    SortNext,
    SortReverse,
    Verify,
    /// Verify deeply: restore into a scratch place and check everything.
    VerifyDeep,
    Restore,
    Delete,
    CancelJob,
    /// Back to the wizard that was put aside.
    ShowWizard,
    /// Re-evaluate health, storage, the audit chain and restore evidence now.
    Recheck,
}

/// One row of a key table.
pub struct Binding {
    pub keys: &'static [(KeyCode, KeyModifiers)],
    /// How the key is written in the footer and the help.
    pub label: &'static str,
    pub help: &'static str,
    pub action: Action,
    /// Shown in the footer (the rest only in `?`).
    pub footer: bool,
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const CTRL: KeyModifiers = KeyModifiers::CONTROL;

const fn ch(c: char) -> (KeyCode, KeyModifiers) {
    (KeyCode::Char(c), NONE)
}

/// Keys that work on every screen.
pub const GLOBAL: &[Binding] = &[
    Binding {
        keys: &[ch('?'), (KeyCode::F(1), NONE)],
        label: "?",
        help: "this help",
        action: Action::Help,
        footer: true,
    },
    Binding {
        keys: &[ch(':')],
        label: ":",
        help: "command palette (:backup :restore :recover :drill :verify [--deep] ID :quit, screen names)",
        action: Action::Palette,
        footer: true,
    },
    Binding {
        keys: &[ch('q'), (KeyCode::Char('c'), CTRL)],
        label: "q",
        help: "quit (Ctrl-C too; asks first while jobs started here still run)",
        action: Action::Quit,
        footer: true,
    },
    Binding {
        keys: &[ch('R')],
        label: "R",
        help: "re-check health, storage and the audit chain now (they re-run by themselves when backups change, else every few minutes)",
        action: Action::Recheck,
        footer: false,
    },
    Binding {
        keys: &[ch('w')],
        label: "w",
        help: "back to the open wizard (Tab, 1-6 or Esc while it runs leave it working)",
        action: Action::ShowWizard,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Tab, NONE)],
        label: "Tab",
        help: "next screen (Shift-Tab: previous)",
        action: Action::NextTab,
        footer: false,
    },
    Binding {
        keys: &[
            (KeyCode::BackTab, NONE),
            (KeyCode::BackTab, KeyModifiers::SHIFT),
        ],
        label: "S-Tab",
        help: "previous screen",
        action: Action::PrevTab,
        footer: false,
    },
    Binding {
        keys: &[ch('1'), ch('2'), ch('3'), ch('4'), ch('5'), ch('6')],
        label: "1-6",
        help: "Dashboard, Catalog, Jobs, Health, Storage, Audit",
        action: Action::GoTab(0),
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Up, NONE), ch('k')],
        label: "↑/k",
        help: "move up",
        action: Action::Up,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Down, NONE), ch('j')],
        label: "↓/j",
        help: "move down",
        action: Action::Down,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::PageUp, NONE), (KeyCode::Char('b'), CTRL)],
        label: "PgUp",
        help: "page up",
        action: Action::PageUp,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::PageDown, NONE), (KeyCode::Char('f'), CTRL)],
        label: "PgDn",
        help: "page down",
        action: Action::PageDown,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Home, NONE), ch('g')],
        label: "g/Home",
        help: "first row",
        action: Action::Top,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::End, NONE), ch('G')],
        label: "G/End",
        help: "last row",
        action: Action::Bottom,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Left, NONE), ch('h')],
        label: "←/h",
        help: "previous screen",
        action: Action::PrevTab,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Right, NONE), ch('l')],
        label: "→/l",
        help: "next screen",
        action: Action::NextTab,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE)],
        label: "Esc",
        help: "back: close the pane or popup, clear the filter (never quits)",
        action: Action::Back,
        footer: false,
    },
];

const CATALOG: &[Binding] = &[
    Binding {
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        help: "details: manifest summary, parent chain, key",
        action: Action::Enter,
        footer: true,
    },
    Binding {
        keys: &[ch('/')],
        label: "/",
        help: "filter by type (files+incr), name, created date and time, status or id, as the table shows them",
        action: Action::Filter,
        footer: true,
    },
    Binding {
        keys: &[ch('s')],
        label: "s",
        help: "sort by the next column",
        action: Action::SortNext,
        footer: true,
    },
    Binding {
        keys: &[ch('S')],
        label: "S",
        help: "reverse the sort order",
        action: Action::SortReverse,
        footer: false,
    },
    Binding {
        keys: &[ch('v')],
        label: "v",
        help: "verify the selected backup: manifest, checksums, every byte decrypted (`lifeboat verify ID`, as a job)",
        action: Action::Verify,
        footer: true,
    },
    Binding {
        keys: &[ch('V')],
        label: "V",
        help: "deep verify: also restores it into a scratch directory or database and checks every file and row (slower; `lifeboat verify --deep ID`)",
        action: Action::VerifyDeep,
        footer: false,
    },
    Binding {
        keys: &[ch('r')],
        label: "r",
        help: "restore the selected backup (opens the restore wizard)",
        action: Action::Restore,
        footer: true,
    },
    Binding {
        keys: &[ch('d')],
        label: "d",
        help: "delete the selected backup (type its id or name to confirm)",
        action: Action::Delete,
        footer: true,
    },
];

const JOBS: &[Binding] = &[Binding {
    keys: &[ch('c')],
    label: "c",
    help: "cancel the selected job (asks first; it stops at its next safe point)",
    action: Action::CancelJob,
    footer: true,
}];

const AUDIT: &[Binding] = &[Binding {
    keys: &[ch('/')],
    label: "/",
    help: "filter by actor, action, target, outcome or detail",
    action: Action::Filter,
    footer: true,
}];

/// The keys of one screen (without the global ones).
pub fn screen_bindings(screen: Screen) -> &'static [Binding] {
    match screen {
        Screen::Catalog => CATALOG,
        Screen::Jobs => JOBS,
        Screen::Audit => AUDIT,
        Screen::Dashboard | Screen::Health | Screen::Storage => &[],
    }
}

/// Drop SHIFT from characters: `S`, `?` and `:` arrive with it on some
/// terminals and without it on others.
fn normalize(key: &KeyEvent) -> (KeyCode, KeyModifiers) {
    let mut mods = key.modifiers;
    if matches!(key.code, KeyCode::Char(_)) {
        mods.remove(KeyModifiers::SHIFT);
    }
    (key.code, mods)
}

/// The action a key has on `screen`, screen keys first.
pub fn action_for(screen: Screen, key: &KeyEvent) -> Option<Action> {
    let k = normalize(key);
    let b = screen_bindings(screen)
        .iter()
        .chain(GLOBAL.iter())
        .find(|b| b.keys.contains(&k))?;
    Some(match (b.action, k.0) {
        (Action::GoTab(_), KeyCode::Char(c)) => Action::GoTab(c as usize - '1' as usize),
        (a, _) => a,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_one_meaning_per_screen() {
        for screen in Screen::ALL {
            let mut seen = Vec::new();
            for b in screen_bindings(screen).iter().chain(GLOBAL.iter()) {
                for k in b.keys {
                    assert!(!seen.contains(k), "{k:?} bound twice on {}", screen.title());
                    seen.push(*k);
                }
            }
        }
    }

    #[test]
    fn digits_and_shifted_letters() {
        let key = |c, m| KeyEvent::new(KeyCode::Char(c), m);
        assert_eq!(
            action_for(Screen::Dashboard, &key('3', NONE)),
            Some(Action::GoTab(2))
        );
        assert_eq!(
            action_for(Screen::Catalog, &key('S', KeyModifiers::SHIFT)),
            Some(Action::SortReverse)
        );
        assert_eq!(action_for(Screen::Dashboard, &key('d', NONE)), None);
        assert_eq!(
            action_for(Screen::Jobs, &key('c', CTRL)),
            Some(Action::Quit)
        );
    }
}
