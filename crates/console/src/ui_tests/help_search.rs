//! `/` in the key help: the entries holding the text are marked as it is
//! typed and the first is scrolled into sight; Enter keeps the search,
//! n/N step through it (round the end), Esc clears it, a second Esc
//! closes the help.

use crossterm::event::KeyCode;
use ratatui::style::Modifier;

use super::*;
use crate::app::{HelpSearch, Overlay};

/// Whether the first occurrence of `text` in the frame is drawn with
/// `modifier`.
fn drawn_with(app: &App, text: &str, modifier: Modifier) -> bool {
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| app.render(f)).unwrap();
    let buf = t.backend().buffer();
    for y in 0..24 {
        let row: String = (0..80).map(|x| buf[(x, y)].symbol().to_string()).collect();
        if let Some(at) = row.find(text) {
            let x = row[..at].chars().count() as u16;
            return buf[(x, y)].modifier.contains(modifier);
        }
    }
    panic!("{text:?} is not on screen:\n{}", frame(app, 80, 24));
}

fn search(app: &App) -> HelpSearch {
    match &app.overlay {
        Overlay::Help {
            search: Some(s), ..
        } => s.clone(),
        other => panic!("no help search: {other:?}"),
    }
}

fn scroll(app: &App) -> usize {
    match &app.overlay {
        Overlay::Help { scroll, .. } => *scroll,
        other => panic!("the help is not open: {other:?}"),
    }
}

#[test]
fn slash_in_the_help_finds_a_key_below_the_fold_at_80x24() {
    let mut app = app();
    key(&mut app, '2');
    key(&mut app, '?');
    let top = frame(&app, 80, 24);
    assert!(top.contains("more below"), "{top}");
    assert!(!top.contains("message history"), "{top}");

    key(&mut app, '/');
    assert!(search(&app).typing);
    assert!(frame(&app, 80, 24).contains("search help /_"));
    typed(&mut app, "Message HIST");
    // Scrolled to the entry, which is marked (reverse video, not colour).
    assert!(scroll(&app) > 0);
    let f = frame(&app, 80, 24);
    assert!(f.contains("message history"), "{f}");
    assert!(f.contains("/Message HIST: match 1 of 1"), "{f}");
    assert!(
        f.contains("search help /Message HIST_  (1 matching keys"),
        "{f}"
    );
    assert!(drawn_with(&app, "message history", Modifier::REVERSED));
    assert!(!drawn_with(&app, "previous screen", Modifier::REVERSED));
    press(&mut app, KeyCode::Enter);
    assert!(!search(&app).typing);
    let f = frame(&app, 80, 24);
    assert!(
        f.contains("match 1 of 1 (n/N)") && f.contains("n/N next/previous match"),
        "{f}"
    );

    // Esc clears the search and leaves the help open; a second closes it.
    press(&mut app, KeyCode::Esc);
    assert!(matches!(app.overlay, Overlay::Help { search: None, .. }));
    assert!(!drawn_with(&app, "message history", Modifier::REVERSED));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn n_and_shift_n_step_through_the_matches_round_the_end() {
    let mut app = app();
    key(&mut app, '2');
    key(&mut app, '?');
    frame(&app, 80, 24);
    key(&mut app, '/');
    typed(&mut app, "screen");
    press(&mut app, KeyCode::Enter);
    let found = crate::help::matching(&crate::help::entries(&app), "screen");
    assert!(found.len() >= 3, "{found:?}");
    let n = found.len();
    assert!(frame(&app, 80, 24).contains(&format!("match 1 of {n} (n/N)")));
    key(&mut app, 'n');
    assert_eq!(search(&app).at, 1);
    assert!(frame(&app, 80, 24).contains(&format!("match 2 of {n} (n/N)")));
    key(&mut app, 'N');
    key(&mut app, 'N');
    assert_eq!(search(&app).at, n - 1, "N from the first goes to the last");
    // The last match is in sight: the help scrolled down to it.
    let f = frame(&app, 80, 24);
    let (k, _) = &crate::help::entries(&app)[found[n - 1]];
    assert!(scroll(&app) > 0 && f.contains(&format!("{k:>8}")), "{f}");
    key(&mut app, 'n');
    assert_eq!(search(&app).at, 0, "and n from the last to the first");
    // The list keys still scroll while a search is kept.
    let at = scroll(&app);
    key(&mut app, 'G');
    assert!(scroll(&app) >= at);
    assert!(matches!(
        app.overlay,
        Overlay::Help {
            search: Some(_),
            ..
        }
    ));
}

#[test]
fn a_search_that_finds_nothing_says_so() {
    let mut app = app();
    key(&mut app, '3');
    key(&mut app, '?');
    frame(&app, 80, 24);
    key(&mut app, '/');
    typed(&mut app, "zzz");
    assert!(frame(&app, 80, 24).contains("/zzz: no match"));
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        app.message.as_ref().map(|m| m.text.as_str()),
        Some("no key of this help matches /zzz")
    );
    key(&mut app, 'n');
    assert!(
        matches!(app.overlay, Overlay::Help { .. }),
        "n keeps it open"
    );
    // Backspace refines what is typed.
    key(&mut app, '/');
    typed(&mut app, "cancelx");
    press(&mut app, KeyCode::Backspace);
    assert_eq!(search(&app).query, "cancel");
    assert!(frame(&app, 80, 24).contains("/cancel: match 1 of"));
}
