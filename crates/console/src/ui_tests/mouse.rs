//! The mouse (off until `m`): a click on a tab or a row means what the
//! last frame drew there; the wheel scrolls the list, the log, the help
//! and the row popup; a click never lands through a popup.

use crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use super::*;
use crate::app::{Overlay, Screen};
use crate::input::mouse::WHEEL_ROWS;

fn mouse(app: &mut App, kind: MouseEventKind, column: u16, row: u16) -> Vec<Effect> {
    app.on_mouse(MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    })
}

fn click(app: &mut App, column: u16, row: u16) -> Vec<Effect> {
    mouse(app, MouseEventKind::Down(MouseButton::Left), column, row)
}

/// Where `text` starts in the frame: (column, row).
fn find(frame: &str, text: &str) -> (u16, u16) {
    for (y, line) in frame.lines().enumerate() {
        if let Some(at) = line.find(text) {
            return (line[..at].chars().count() as u16, y as u16);
        }
    }
    panic!("{text:?} is not on screen:\n{frame}");
}

fn mouse_on(app: &mut App) {
    assert_eq!(key(app, 'm'), [Effect::Mouse(true)]);
    assert!(app.mouse);
}

#[test]
fn the_mouse_is_off_until_m_and_m_switches_the_terminal() {
    let mut app = app();
    let f = frame(&app, 80, 24);
    let (x, y) = find(&f, "4 Health");
    // Off by default: the terminal selects text, a click means nothing.
    assert!(click(&mut app, x, y).is_empty());
    assert_eq!(app.screen, Screen::Dashboard);
    mouse_on(&mut app);
    assert!(app
        .message
        .as_ref()
        .is_some_and(|m| m.text.starts_with("mouse on")));
    assert!(click(&mut app, x + 2, y).is_empty());
    assert_eq!(app.screen, Screen::Health);
    assert_eq!(key(&mut app, 'm'), [Effect::Mouse(false)]);
    assert!(!app.mouse);
    assert!(app
        .message
        .as_ref()
        .is_some_and(|m| m.text.starts_with("mouse off")));
    // The help lists the key.
    key(&mut app, '?');
    press(&mut app, KeyCode::End);
    let mut help = frame(&app, 200, 50);
    if !help.contains("mouse on/off") {
        key(&mut app, 'G');
        help = frame(&app, 200, 50);
    }
    assert!(help.contains("mouse on/off"), "{help}");
}

#[test]
fn a_click_on_a_tab_or_a_row_picks_it_at_80x24() {
    let mut app = app();
    with_jobs(&mut app);
    mouse_on(&mut app);
    let f = frame(&app, 80, 24);
    let (x, y) = find(&f, "3 Jobs");
    click(&mut app, x, y);
    assert_eq!(app.screen, Screen::Jobs);
    // The brand left of the tabs is not a tab.
    click(&mut app, 2, 0);
    assert_eq!(app.screen, Screen::Jobs);

    let f = frame(&app, 80, 24);
    let (_, y) = find(&f, "│25 ");
    let decided = click(&mut app, 40, y);
    assert_eq!(app.selected_job().map(|j| j.id), Some(25));
    assert_eq!(decided, [Effect::LoadJobLog { changed: false }]);
    // The header and the log pane are not rows.
    let (x, y) = find(&f, "JOB ");
    click(&mut app, x, y);
    let (x, y) = find(&f, "Log of job");
    click(&mut app, x, y + 1);
    assert_eq!(app.selected_job().map(|j| j.id), Some(25));

    // Scrolled: the rows are where the new frame drew them.
    press(&mut app, KeyCode::End);
    let f = frame(&app, 80, 24);
    let (_, y) = find(&f, "│3 ");
    click(&mut app, 10, y);
    assert_eq!(app.selected_job().map(|j| j.id), Some(3));
}

#[test]
fn a_click_on_a_tall_health_row_selects_that_check() {
    let mut app = app();
    let long = "very long value ".repeat(12);
    app.health = Some(lifeboat_engine::health::HealthReport::new(
        now(),
        vec![
            check(
                "a",
                "First",
                lifeboat_engine::health::Status::Ok,
                &long,
                "x",
            ),
            check(
                "b",
                "Second",
                lifeboat_engine::health::Status::Ok,
                "short",
                "y",
            ),
        ],
    ));
    mouse_on(&mut app);
    key(&mut app, '4');
    let f = frame(&app, 80, 24);
    // The first check wraps over several rows: its last row is still it.
    let (_, first) = find(&f, "First");
    let (_, second) = find(&f, "Second");
    assert!(second > first + 1, "the first row is not tall:\n{f}");
    click(&mut app, 30, second - 1);
    assert_eq!(app.selected_check().map(|c| c.id.as_str()), Some("a"));
    click(&mut app, 30, second);
    assert_eq!(app.selected_check().map(|c| c.id.as_str()), Some("b"));
}

#[test]
fn the_wheel_scrolls_the_list_the_help_the_popup_and_the_log() {
    let mut app = app();
    with_jobs(&mut app);
    mouse_on(&mut app);
    key(&mut app, '3');
    frame(&app, 80, 24);
    let decided = mouse(&mut app, MouseEventKind::ScrollDown, 40, 5);
    assert_eq!(app.jobs_list.selected, WHEEL_ROWS);
    assert_eq!(decided, [Effect::LoadJobLog { changed: false }]);
    mouse(&mut app, MouseEventKind::ScrollUp, 40, 5);
    mouse(&mut app, MouseEventKind::ScrollUp, 40, 5);
    assert_eq!(app.jobs_list.selected, 0);

    // The help: three rows a notch, not past its end.
    key(&mut app, '?');
    let top = frame(&app, 80, 24);
    mouse(&mut app, MouseEventKind::ScrollDown, 40, 5);
    assert!(matches!(app.overlay, Overlay::Help { scroll, .. } if scroll == WHEEL_ROWS));
    assert_ne!(frame(&app, 80, 24), top);
    for _ in 0..50 {
        mouse(&mut app, MouseEventKind::ScrollDown, 40, 5);
    }
    let max = app.help_room.max_scroll.get();
    assert!(matches!(app.overlay, Overlay::Help { scroll, .. } if scroll == max));
    // A click does not land through it on the tab under it.
    let (x, y) = find(&top, "2 Catalog");
    click(&mut app, x, y);
    assert_eq!(app.screen, Screen::Jobs);
    press(&mut app, KeyCode::Esc);

    // The row popup of an audit row taller than the screen.
    let detail: String = (1..=40).map(|i| format!("line {i}\n")).collect();
    app.audit = vec![audit(1, "root", "restore", "db", &detail)];
    app.apply_audit_view();
    key(&mut app, '6');
    key(&mut app, 'i');
    frame(&app, 80, 24);
    mouse(&mut app, MouseEventKind::ScrollDown, 40, 5);
    assert_eq!(app.overlay, Overlay::Row { scroll: WHEEL_ROWS });
    press(&mut app, KeyCode::Esc);

    // The full-screen log: the wheel up stops following, as ↑ does.
    key(&mut app, '3');
    app.log_view = Some(crate::joblog::LogView::new(30, true));
    assert!(app.log_view.as_ref().unwrap().follow);
    mouse(&mut app, MouseEventKind::ScrollUp, 40, 5);
    assert!(!app.log_view.as_ref().unwrap().follow);
    assert_eq!(app.jobs_list.selected, 0, "the list under it did not move");
}

#[test]
fn motion_and_other_buttons_cost_no_frame() {
    let mut app = app();
    mouse_on(&mut app);
    frame(&app, 80, 24);
    app.dirty = false;
    assert!(mouse(&mut app, MouseEventKind::Moved, 10, 0).is_empty());
    assert!(mouse(&mut app, MouseEventKind::Down(MouseButton::Right), 10, 0).is_empty());
    assert!(!app.dirty);
}
