//! The key help's content and its search. `?` shows every key of what
//! is on screen (a wizard, the full-screen log or a screen), generated
//! from the key tables like the footer, and the palette's commands; `/`
//! there finds the entries holding a text, and the help scrolls to them.

use crate::app::{App, Screen};
use crate::keymap::{self, Binding, Context};

/// The keys of the wizard, the log or the screen, whatever overlay is
/// open: (label, what it does).
pub fn keys(app: &App) -> Vec<(String, String)> {
    let pairs = |bs: &mut dyn Iterator<Item = &Binding>| -> Vec<(String, String)> {
        bs.map(|b| (b.label.to_string(), b.help.to_string()))
            .collect()
    };
    if let Some(w) = app.shown_wizard() {
        let mut keys: Vec<(String, String)> = w
            .keys()
            .into_iter()
            .map(|(k, d)| (k.to_string(), d.to_string()))
            .collect();
        if !w.wants_text() {
            keys.push(("?".into(), "help".into()));
        }
        if !w.wants_text() {
            keys.push((
                "Tab/1-6".into(),
                "go to a screen (the wizard keeps working)".into(),
            ));
            if w.is_running() {
                keys.push(("Esc".into(), "put aside while it works (w returns)".into()));
            }
            keys.push(("q".into(), "quit".into()));
        }
        keys.push(("Ctrl-C".into(), "quit".into()));
        return keys;
    }
    let ctx = app.key_context();
    let mut v = pairs(&mut keymap::own_bindings(ctx).iter());
    if app.screen == Screen::Catalog && app.detail.is_some() {
        v.insert(0, ("Esc".into(), "close details".into()));
    }
    if ctx == Context::JobLog {
        v.insert(0, ("Esc".into(), "close the log".into()));
    }
    v.extend(pairs(&mut keymap::global_bindings(ctx)));
    v
}

/// Every entry of the help, in its order: the keys, then the palette's
/// commands (label empty).
pub fn entries(app: &App) -> Vec<(String, String)> {
    let mut v = keys(app);
    v.push((
        String::new(),
        format!(
            "palette: {} (Tab completes, ↑/↓ recall)",
            crate::palette::commands_text()
        ),
    ));
    v
}

/// The entries whose label or text holds `query` (ignoring case), by
/// index; none for an empty query.
pub fn matching(entries: &[(String, String)], query: &str) -> Vec<usize> {
    let q = query.to_lowercase();
    if q.is_empty() {
        return Vec::new();
    }
    entries
        .iter()
        .enumerate()
        .filter(|(_, (k, d))| k.to_lowercase().contains(&q) || d.to_lowercase().contains(&q))
        .map(|(i, _)| i)
        .collect()
}
