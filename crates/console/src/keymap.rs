//! Key bindings: one table per screen plus the global one.
//!
//! The footer hints, the `?` overlay and the key dispatch all read these
//! tables (the gitui habit), so what the console says a key does is what
//! the key does.
//!
//! Keys are read in a [`Context`]: a screen, or the full-screen job log
//! open on the Jobs screen. A context's own keys come first, then the
//! global ones; a key has one meaning per context (a unit test checks).
//! The one global key a context may take for itself is listed in
//! [`YIELDING`] (`l`, next screen elsewhere, opens the log on Jobs as in
//! k9s), and there the footer and help show the context's meaning only.

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
    /// Copy the selected backup's or job's id to the clipboard.
    CopyId,
    /// The selected row with every field whole (what its cells cut).
    Inspect,
    Restore,
    Delete,
    CancelJob,
    /// The selected job's whole log, full screen.
    OpenLog,
    /// The full-screen log: follow the newest line, or stop.
    Follow,
    /// The full-screen log: search it.
    Search,
    NextMatch,
    PrevMatch,
    /// The status line's message history.
    Messages,
    /// Back to the wizard that was put aside.
    ShowWizard,
    /// Re-evaluate health, storage, the audit chain and restore evidence now.
    Recheck,
    /// Turn the mouse on or off.
    ToggleMouse,
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
        help: "this help (it scrolls; / in it searches, n/N step through the matches)",
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
        keys: &[(KeyCode::Right, NONE)],
        label: "→",
        help: "next screen",
        action: Action::NextTab,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE)],
        label: "Esc",
        help: "back: close the pane, log or popup, clear the filter (never quits)",
        action: Action::Back,
        footer: false,
    },
    Binding {
        keys: &[ch('m')],
        label: "m",
        help: "mouse on/off: on, a click picks a tab or a row and the wheel scrolls; off (the default), the terminal selects and copies text (LIFEBOAT_MOUSE=1 starts with it on; while it is on, Shift-drag still selects in most terminals)",
        action: Action::ToggleMouse,
        footer: false,
    },
    Binding {
        keys: &[ch('M')],
        label: "M",
        help: "message history: what the status line said, newest first, whole (:messages too)",
        action: Action::Messages,
        footer: false,
    },
];

/// Global keys a context's own table may take for itself: there they
/// mean what that table says, and elsewhere this.
pub const YIELDING: &[Binding] = &[Binding {
    keys: &[ch('l')],
    label: "l",
    help: "next screen",
    action: Action::NextTab,
    footer: false,
}];

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
    Binding {
        keys: &[ch('y')],
        label: "y",
        help: "copy the selected backup's id to the clipboard (through the terminal, OSC 52: works over SSH in most terminals)",
        action: Action::CopyId,
        footer: false,
    },
    Binding {
        keys: &[ch('i')],
        label: "i",
        help: "the selected row whole: every field, wrapped (a cell cut to its column ends in ~)",
        action: Action::Inspect,
        footer: false,
    },
];

const JOBS: &[Binding] = &[
    Binding {
        keys: &[ch('l'), (KeyCode::Enter, NONE)],
        label: "l/Enter",
        help: "the selected job's whole log, full screen (follows a running job)",
        action: Action::OpenLog,
        footer: true,
    },
    Binding {
        keys: &[ch('/')],
        label: "/",
        help: "filter by job number, kind, target, state, progress, date or time, as the table shows them",
        action: Action::Filter,
        footer: true,
    },
    Binding {
        keys: &[ch('c')],
        label: "c",
        help: "cancel the selected job (asks first; it stops at its next safe point)",
        action: Action::CancelJob,
        footer: true,
    },
    Binding {
        keys: &[ch('y')],
        label: "y",
        help: "copy the selected job's id to the clipboard (through the terminal, OSC 52: works over SSH in most terminals)",
        action: Action::CopyId,
        footer: false,
    },
    Binding {
        keys: &[ch('i')],
        label: "i",
        help: "the selected row whole: every field, wrapped (a cell cut to its column ends in ~)",
        action: Action::Inspect,
        footer: false,
    },
];

/// The full-screen job log (its scrolling is the global ↑/↓, PgUp/PgDn,
/// g/G; Esc closes it).
const JOB_LOG: &[Binding] = &[
    Binding {
        keys: &[ch('f')],
        label: "f",
        help:
            "follow: stay on the newest line as lines arrive (scrolling up stops it, G resumes it)",
        action: Action::Follow,
        footer: true,
    },
    Binding {
        keys: &[ch('/')],
        label: "/",
        help: "search the log (case-insensitive; matches are highlighted)",
        action: Action::Search,
        footer: true,
    },
    Binding {
        keys: &[ch('n')],
        label: "n",
        help: "next match",
        action: Action::NextMatch,
        footer: true,
    },
    Binding {
        keys: &[ch('N')],
        label: "N",
        help: "previous match",
        action: Action::PrevMatch,
        footer: false,
    },
];

const HEALTH: &[Binding] = &[
    Binding {
        keys: &[ch('/')],
        label: "/",
        help: "filter by status, check, value or threshold, as the table shows them",
        action: Action::Filter,
        footer: true,
    },
    Binding {
        keys: &[ch('i'), (KeyCode::Enter, NONE)],
        label: "i/Enter",
        help: "the selected row whole: every field, wrapped (a cell cut to its column ends in ~)",
        action: Action::Inspect,
        footer: true,
    },
];

const AUDIT: &[Binding] = &[
    Binding {
        keys: &[ch('/')],
        label: "/",
        help: "filter by seq, time, actor, action, target, outcome or detail, as the table and the detail pane show them",
        action: Action::Filter,
        footer: true,
    },
    Binding {
        keys: &[ch('i'), (KeyCode::Enter, NONE)],
        label: "i/Enter",
        help: "the selected row whole: every field, wrapped (a cell cut to its column ends in ~)",
        action: Action::Inspect,
        footer: true,
    },
];

/// Where a key is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Screen(Screen),
    /// The full-screen job log, open on the Jobs screen.
    JobLog,
}

/// The keys of one context (without the global ones).
pub fn own_bindings(ctx: Context) -> &'static [Binding] {
    match ctx {
        Context::Screen(Screen::Catalog) => CATALOG,
        Context::Screen(Screen::Jobs) => JOBS,
        Context::Screen(Screen::Health) => HEALTH,
        Context::Screen(Screen::Audit) => AUDIT,
        Context::Screen(Screen::Dashboard | Screen::Storage) => &[],
        Context::JobLog => JOB_LOG,
    }
}

/// The global keys that hold in `ctx`: all of [`GLOBAL`], and those of
/// [`YIELDING`] whose keys `ctx`'s own table does not take.
pub fn global_bindings(ctx: Context) -> impl Iterator<Item = &'static Binding> {
    let own = own_bindings(ctx);
    GLOBAL.iter().chain(YIELDING.iter().filter(move |y| {
        !own.iter()
            .any(|b| b.keys.iter().any(|k| y.keys.contains(k)))
    }))
}

/// Every key of `ctx`: its own first, then the global ones.
pub fn bindings(ctx: Context) -> impl Iterator<Item = &'static Binding> {
    own_bindings(ctx).iter().chain(global_bindings(ctx))
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

/// The action a key has in `ctx`, its own keys first.
pub fn action_for(ctx: Context, key: &KeyEvent) -> Option<Action> {
    let k = normalize(key);
    let b = bindings(ctx).find(|b| b.keys.contains(&k))?;
    Some(match (b.action, k.0) {
        (Action::GoTab(_), KeyCode::Char(c)) => Action::GoTab(c as usize - '1' as usize),
        (a, _) => a,
    })
}

/// The action a key has among the global keys alone (for popups that
/// scroll, where a screen's own keys do not apply).
pub fn global_action_for(key: &KeyEvent) -> Option<Action> {
    let k = normalize(key);
    GLOBAL
        .iter()
        .find(|b| b.keys.contains(&k))
        .map(|b| b.action)
        .filter(|a| !matches!(a, Action::GoTab(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contexts() -> impl Iterator<Item = Context> {
        Screen::ALL
            .into_iter()
            .map(Context::Screen)
            .chain([Context::JobLog])
    }

    #[test]
    fn every_key_has_one_meaning_per_screen() {
        for ctx in contexts() {
            let mut seen = Vec::new();
            for b in bindings(ctx) {
                for k in b.keys {
                    assert!(!seen.contains(k), "{k:?} bound twice in {ctx:?}");
                    seen.push(*k);
                }
            }
        }
        // The yielding keys are bound globally nowhere else.
        for y in YIELDING {
            for k in y.keys {
                assert!(GLOBAL.iter().all(|b| !b.keys.contains(k)), "{k:?}");
            }
        }
    }

    #[test]
    fn l_opens_the_log_on_jobs_and_moves_on_elsewhere() {
        let l = KeyEvent::new(KeyCode::Char('l'), NONE);
        let jobs = Context::Screen(Screen::Jobs);
        assert_eq!(action_for(jobs, &l), Some(Action::OpenLog));
        assert_eq!(
            action_for(Context::Screen(Screen::Dashboard), &l),
            Some(Action::NextTab)
        );
        // The Jobs help lists l once, as the log.
        let ls: Vec<&str> = bindings(jobs)
            .filter(|b| b.keys.contains(&ch('l')))
            .map(|b| b.help)
            .collect();
        assert_eq!(ls.len(), 1);
        assert!(ls[0].contains("log"), "{ls:?}");
        // In the log, / searches and n/N step through the matches.
        let key = |c| KeyEvent::new(KeyCode::Char(c), NONE);
        assert_eq!(action_for(Context::JobLog, &key('/')), Some(Action::Search));
        assert_eq!(
            action_for(
                Context::JobLog,
                &KeyEvent::new(KeyCode::Char('N'), KeyModifiers::SHIFT)
            ),
            Some(Action::PrevMatch)
        );
        assert_eq!(action_for(Context::JobLog, &key('G')), Some(Action::Bottom));
    }

    #[test]
    fn digits_and_shifted_letters() {
        let key = |c, m| KeyEvent::new(KeyCode::Char(c), m);
        let on = Context::Screen;
        assert_eq!(
            action_for(on(Screen::Dashboard), &key('3', NONE)),
            Some(Action::GoTab(2))
        );
        assert_eq!(
            action_for(on(Screen::Catalog), &key('S', KeyModifiers::SHIFT)),
            Some(Action::SortReverse)
        );
        assert_eq!(action_for(on(Screen::Dashboard), &key('d', NONE)), None);
        assert_eq!(
            action_for(on(Screen::Jobs), &key('c', CTRL)),
            Some(Action::Quit)
        );
    }
}
