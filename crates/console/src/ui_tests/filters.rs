//! `/` on the Jobs and Health lists: the rows narrow as the filter is
//! typed, matching the cells as the table shows them; the title and the
//! status line show the filter; Esc clears it; the selection stays on a
//! shown row (its own while it is shown).

use crossterm::event::KeyCode;

use super::*;
use crate::app::{Overlay, Screen};

fn shown_jobs(app: &App) -> Vec<i64> {
    app.jobs_view
        .iter()
        .map(|&i| app.jobs[i as usize].id)
        .collect()
}

#[test]
fn jobs_filter_matches_the_cells_as_shown_and_esc_clears_it() {
    let mut app = app();
    with_jobs(&mut app);
    key(&mut app, '3');
    assert_eq!(app.screen, Screen::Jobs);
    assert_eq!(app.jobs_view.len(), 30);
    // Select job 20 (the one with warnings), then filter.
    for _ in 0..10 {
        key(&mut app, 'j');
    }
    assert_eq!(app.selected_job().map(|j| j.id), Some(20));
    let decided = key(&mut app, '/');
    assert_eq!(app.overlay, Overlay::Filter);
    assert!(decided.is_empty(), "{decided:?}");
    typed(&mut app, "restore");
    assert_eq!(shown_jobs(&app), [30, 20, 10]);
    // The selection stayed on job 20, now the second row.
    assert_eq!(app.selected_job().map(|j| j.id), Some(20));
    assert_eq!(app.jobs_list.selected, 1);
    let f = frame(&app, 80, 24);
    assert!(f.contains("30 recent | filter: /restore (3 shown)"), "{f}");
    assert!(f.contains("filter /restore_"), "the status line: {f}");
    assert!(!f.contains("filesystem"), "{f}");
    code_enter(&mut app);
    assert_eq!(app.overlay, Overlay::None);
    assert_eq!(shown_jobs(&app), [30, 20, 10], "Enter keeps it");

    // The STATE cell as drawn ("warnings", not the catalog's word) and
    // the date as drawn ("11-26 ..."), ignoring case.
    key(&mut app, '/');
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.jobs_view.len(), 30, "Esc clears it");
    assert_eq!(
        app.selected_job().map(|j| j.id),
        Some(20),
        "and keeps the job"
    );
    key(&mut app, '/');
    typed(&mut app, "WARNINGS");
    assert_eq!(shown_jobs(&app), [20]);
    let cell = row_with(&frame(&app, 80, 24), "warnings")
        .split_whitespace()
        .nth(5)
        .expect("the date cell")
        .to_string();
    press(&mut app, KeyCode::Esc);
    key(&mut app, '/');
    typed(&mut app, &cell);
    assert!(
        shown_jobs(&app).contains(&20),
        "/{cell}: {:?}",
        shown_jobs(&app)
    );
    assert!(
        shown_jobs(&app).len() < 30,
        "the date {cell} is on every row?"
    );
    press(&mut app, KeyCode::Esc);

    // Nothing matches: said in place, nothing is selected, keys are safe.
    key(&mut app, '/');
    typed(&mut app, "zzz");
    code_enter(&mut app);
    assert!(app.selected_job().is_none());
    let f = frame(&app, 80, 24);
    assert!(
        f.contains("no job matches /zzz (Esc clears the filter)"),
        "{f}"
    );
    key(&mut app, 'j');
    key(&mut app, 'c');
    assert_eq!(app.overlay, Overlay::None, "nothing to cancel");
    // Esc on the screen clears the filter too.
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.jobs_view.len(), 30);
    assert!(app.selected_job().is_some());
}

fn code_enter(app: &mut App) {
    press(app, KeyCode::Enter);
}

#[test]
fn a_new_jobs_list_keeps_the_filter_and_the_selected_job() {
    let mut app = app();
    with_jobs(&mut app);
    key(&mut app, '3');
    key(&mut app, '/');
    typed(&mut app, "restore");
    code_enter(&mut app);
    key(&mut app, 'j');
    assert_eq!(app.selected_job().map(|j| j.id), Some(20));
    // A new restore job arrives (newest first): the filter holds, the
    // selection stays on job 20 (not on the newest row, so not followed).
    let mut jobs = app.jobs.clone();
    jobs.insert(0, job(31, "restore", "database", JobState::Running, 0));
    let decided = app.jobs_loaded(jobs);
    assert_eq!(decided, Effect::LoadJobLog { changed: true });
    assert_eq!(shown_jobs(&app), [31, 30, 20, 10]);
    assert_eq!(app.selected_job().map(|j| j.id), Some(20));
    // Filtering decides to read the newly selected job's log (each cell
    // is matched alone: "restore31" is in none).
    key(&mut app, '/');
    typed(&mut app, "31");
    assert!(app.jobs_view.is_empty());
    press(&mut app, KeyCode::Esc);
    key(&mut app, '/');
    let decided = key(&mut app, '3');
    assert_eq!(decided, [Effect::LoadJobLog { changed: false }]);
    typed(&mut app, "1");
    assert_eq!(shown_jobs(&app), [31]);
}

#[test]
fn health_filter_matches_the_cells_as_shown_and_esc_clears_it() {
    let mut app = app();
    with_health(&mut app);
    key(&mut app, '4');
    key(&mut app, 'j');
    key(&mut app, 'j');
    assert_eq!(app.selected_check().map(|c| c.id.as_str()), Some("disk"));
    key(&mut app, '/');
    // The STATUS cell is drawn in capitals; the filter ignores case.
    typed(&mut app, "critical");
    let shown: Vec<&str> = app
        .health_view()
        .iter()
        .map(|&i| app.health.as_ref().unwrap().checks[i as usize].id.as_str())
        .collect();
    assert_eq!(shown, ["disk"]);
    assert_eq!(app.selected_check().map(|c| c.id.as_str()), Some("disk"));
    let f = frame(&app, 80, 24);
    assert!(f.contains("filter: /critical (1 shown)"), "{f}");
    assert!(f.contains("filter /critical_"), "{f}");
    assert!(!f.contains("Key file"), "{f}");
    // The VALUE and THRESHOLD cells are searched too.
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.health_view().len(), 5);
    assert_eq!(app.selected_check().map(|c| c.id.as_str()), Some("disk"));
    key(&mut app, '/');
    typed(&mut app, "at most 26h");
    assert_eq!(app.health_view().len(), 2);
    // The selected check is gone from the view: the selection moves to
    // a shown one, never past the end.
    assert_eq!(app.selected_check().map(|c| c.id.as_str()), Some("age-fs"));
    // A new report keeps the filter.
    with_health(&mut app);
    assert_eq!(app.health_view().len(), 2);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.health_view().len(), 5, "Esc on the screen clears it");
}

#[test]
fn audit_filter_matches_the_seq_and_time_cells_and_the_detail() {
    let mut app = app();
    app.audit = vec![
        audit(
            42,
            "root",
            "restore",
            "db-20261126-020000",
            "into panel_restore",
        ),
        audit(41, "ops", "delete", "fs-20261125-020000", "removed 3 files"),
    ];
    app.apply_audit_view();
    key(&mut app, '6');
    key(&mut app, '/');
    typed(&mut app, "42");
    assert_eq!(app.audit_view, [0], "the SEQ cell");
    press(&mut app, KeyCode::Esc);
    // The TIME cell as the table draws it (local time, month first).
    let time = crate::cells::audit_row(&app.audit[1])[1].clone();
    assert!(frame(&app, 80, 24).contains(&time));
    key(&mut app, '/');
    typed(&mut app, &time);
    assert_eq!(app.audit_view, [1], "/{time}");
    press(&mut app, KeyCode::Esc);
    key(&mut app, '/');
    typed(&mut app, "3 FILES");
    assert_eq!(app.audit_view, [1], "the detail pane's text");
}
