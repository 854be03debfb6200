//! `i` (and Enter on Health and Audit): the selected row with every field
//! whole, for what a table cuts to its column (a cut cell ends in `~`).

use crossterm::event::KeyCode;

use super::*;
use crate::app::{Overlay, Screen};

const LONG_TARGET: &str =
    "filesystem /srv/panel/uploads, /srv/panel/config, /var/lib/panel/sessions-archive-2026";

/// The text inside the popup titled `title`: its rows' text after the
/// left border, up to the right one.
fn popup_text(frame: &str, title: &str) -> String {
    let mut inside = false;
    let mut out = Vec::new();
    for line in frame.lines() {
        if let Some(at) = line.find(&format!("┌ {title} ")) {
            inside = true;
            let col = line[..at].chars().count();
            out.push(format!("@{col}"));
            continue;
        }
        if inside {
            let col: usize = out[0][1..].parse().unwrap();
            let row: String = line.chars().skip(col).collect();
            if row.starts_with('└') {
                break;
            }
            out.push(
                row.trim_start_matches('│')
                    .split('│')
                    .next()
                    .unwrap()
                    .to_string(),
            );
        }
    }
    assert!(inside, "no popup {title:?}:\n{frame}");
    out.remove(0);
    out.join("\n")
}

fn words(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn i_shows_a_jobs_cut_cells_whole_at_80x24() {
    let mut app = app();
    let mut failed = job(7, "backup", LONG_TARGET, JobState::Failed, 30);
    failed.error = Some(
        "pg_dump: error: connection to server at \"127.0.0.1\", port 5432 failed\nFATAL: password authentication failed for user \"panel\"".into(),
    );
    failed.phase = Some("dumping the database".into());
    let _ = app.jobs_loaded(vec![failed]);
    key(&mut app, '3');
    let table = frame(&app, 80, 24);
    // The table cuts the target, and says so with ~.
    let row = row_with(&table, "backup");
    assert!(row.contains("filesystem /srv/pane~"), "{table}");
    assert!(!table.contains("sessions-archive-2026"), "{table}");

    let decided = key(&mut app, 'i');
    assert!(decided.is_empty(), "{decided:?}");
    assert_eq!(app.overlay, Overlay::Row { scroll: 0 });
    let f = frame(&app, 80, 24);
    let text = words(&popup_text(&f, "Job 7"));
    assert!(text.contains(&format!("target {LONG_TARGET}")), "{f}");
    assert!(text.contains("state failed"), "{f}");
    assert!(text.contains("phase dumping the database"), "{f}");
    // A field's own line breaks are kept: both lines of the error.
    let raw = popup_text(&f, "Job 7");
    assert!(raw.contains("error  pg_dump: error: connection"), "{f}");
    assert!(
        raw.lines()
            .any(|l| l.trim_start().starts_with("FATAL: password authentication")),
        "{f}"
    );
    assert!(f.contains("y copy the id"), "the footer: {f}");
    // y copies the job's id and leaves the popup open.
    assert_eq!(key(&mut app, 'y'), [Effect::Copy("7".into())]);
    assert_eq!(app.overlay, Overlay::Row { scroll: 0 });
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn enter_on_health_and_audit_shows_the_row_whole_and_a_tall_one_scrolls() {
    let mut app = app();
    with_health(&mut app);
    key(&mut app, '4');
    key(&mut app, 'j');
    key(&mut app, 'j');
    press(&mut app, KeyCode::Enter);
    let f = frame(&app, 80, 24);
    let text = words(&popup_text(&f, "Check: Repository disk"));
    assert!(
        text.contains("status CRITICAL") && text.contains("value 97% used"),
        "{f}"
    );
    assert!(
        text.contains("advice what to do about Repository disk"),
        "{f}"
    );
    assert!(!f.contains("y copy"), "nothing to copy here: {f}");
    key(&mut app, 'q');
    assert_eq!(app.overlay, Overlay::None);
    assert!(!app.quit, "q closes the popup, not the console");

    // An audit row whose detail is taller than the screen: the popup
    // scrolls to its last line.
    let detail: String = (1..=40)
        .map(|i| format!("line {i} of the detail\n"))
        .collect();
    app.audit = vec![audit(3, "root", "restore", "db-20261126-020000", &detail)];
    app.apply_audit_view();
    key(&mut app, '6');
    assert_eq!(app.screen, Screen::Audit);
    key(&mut app, 'i');
    let top = frame(&app, 80, 24);
    assert!(top.contains("more below"), "{top}");
    assert!(!top.contains("line 40 of"), "{top}");
    key(&mut app, 'G');
    let end = frame(&app, 80, 24);
    assert!(end.contains("line 40 of the detail"), "{end}");
    assert!(
        end.contains("more above") && !end.contains("more below"),
        "{end}"
    );
    key(&mut app, 'g');
    assert_eq!(frame(&app, 80, 24), top);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn i_with_no_row_says_so() {
    let mut app = app();
    key(&mut app, '3');
    key(&mut app, 'i');
    assert_eq!(app.overlay, Overlay::None);
    assert_eq!(
        app.message.as_ref().map(|m| m.text.as_str()),
        Some("no row selected")
    );
}
