//! The console, headless: a real catalog with real backups made by the
//! real binary, the `Console` driven by key events and drawn into ratatui's
//! `TestBackend`; actions run real child processes. One end-to-end run of
//! the real binary in tmux.

use std::time::Duration;

use crate::common::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lifeboat_console::app::Effect;
use lifeboat_console::app::{ConfirmKind, Overlay};
use lifeboat_console::wizards::WizardKind;
use lifeboat_console::{AppContext, Console, Screen};
use lifeboat_engine::catalog::{JobKind, JobState};
use lifeboat_engine::config::Config;
use lifeboat_engine::ops::queue::JobRequest;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use ratatui::Terminal;
use serde_json::Value;

const SETTLE: Duration = Duration::from_secs(60);

/// Three real backups: a full and an incremental filesystem backup, and a
/// configuration backup named `pre-deploy`.
struct Fixture {
    sb: Sandbox,
    full: Value,
    incr: Value,
    cfg: Value,
}

fn fixture() -> Fixture {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    let full = sb.backup("filesystem", &[]);
    std::fs::write(sb.app.join("uploads/new.txt"), "added later\n").unwrap();
    let incr = sb.backup("filesystem", &[]);
    let cfg = sb.backup("configuration", &["--name", "pre-deploy"]);
    Fixture {
        sb,
        full,
        incr,
        cfg,
    }
}

fn app_for(sb: &Sandbox, no_color: bool) -> Console {
    let config = Config::load(Some(&sb.config), &|_| None, sb.dir.path()).unwrap();
    let mut app = Console::new(AppContext {
        config,
        config_path: Some(sb.config.clone()),
        exe: env!("CARGO_BIN_EXE_lifeboat").into(),
        no_color,
    });
    assert!(app.settle(SETTLE), "background checks did not finish");
    app
}

fn draw(app: &mut Console, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| app.render(f)).unwrap();
    t
}

/// The frame as text, one line per row.
fn text(app: &mut Console, w: u16, h: u16) -> String {
    let t = draw(app, w, h);
    let buf = t.backend().buffer();
    let mut s = String::new();
    for y in 0..h {
        for x in 0..w {
            s.push_str(buf.cell((x, y)).unwrap().symbol());
        }
        s.push('\n');
    }
    s
}

fn key(app: &mut Console, c: char) {
    app.handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
}

fn code(app: &mut Console, c: KeyCode) {
    app.handle_key(KeyEvent::new(c, KeyModifiers::NONE));
}

fn typed(app: &mut Console, s: &str) {
    for c in s.chars() {
        key(app, c);
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn selected_id(app: &Console) -> String {
    let i = app.backup_view[app.catalog_list.selected] as usize;
    app.backups[i].id.to_string()
}

/// Select the backup with this id on the Catalog screen.
fn select_backup(app: &mut Console, id: &str) {
    key(app, '2');
    key(app, 'g');
    for _ in 0..app.backup_view.len() {
        if selected_id(app) == id {
            return;
        }
        key(app, 'j');
    }
    panic!("backup {id} is not in the catalog table");
}

#[test]
fn every_screen_draws_real_data_at_80x24() {
    let f = fixture();
    let mut app = app_for(&f.sb, false);
    assert_eq!(app.backups.len(), 3);

    let dash = text(&mut app, 80, 24);
    assert!(dash.contains("Health:"), "{dash}");
    let files_row = dash.lines().find(|l| l.contains("filesystem")).unwrap();
    assert!(files_row.contains("ok"), "{dash}");
    // The default schedule runs filesystem backups daily at 01:30 UTC.
    assert!(files_row.contains("(in "), "{dash}");
    let db_row = dash.lines().find(|l| l.contains("database")).unwrap();
    assert!(
        db_row.contains("not configured")
            && db_row.contains("n/a")
            && db_row.contains("not scheduled"),
        "{dash}"
    );
    assert!(
        dash.contains("RPO n/a"),
        "no database is configured: {dash}"
    );
    assert!(dash.contains("Running jobs: 0"), "{dash}");

    key(&mut app, '2');
    assert_eq!(app.screen, Screen::Catalog);
    let cat = text(&mut app, 80, 24);
    assert!(cat.contains("Catalog: 3 backups"), "{cat}");
    assert!(cat.contains("files+incr"), "{cat}");
    assert!(cat.contains("pre-deploy"), "{cat}");
    // Newest first: the configuration backup, then the incremental.
    let rows: Vec<&str> = cat.lines().filter(|l| l.contains("succeeded")).collect();
    assert_eq!(rows.len(), 3, "{cat}");
    assert!(
        rows[0].contains("config") && rows[1].contains("files+incr"),
        "{cat}"
    );
    // The id column, which every CLI command takes, at 80 columns too.
    for b in [&f.full, &f.incr, &f.cfg] {
        assert!(cat.contains(&id(b)), "{cat}");
    }
    let wide = text(&mut app, 130, 30);
    assert!(wide.contains(&id(&f.full)), "{wide}");

    key(&mut app, '3');
    let jobs = text(&mut app, 80, 24);
    assert!(jobs.contains("Jobs: 0 active"), "{jobs}");
    assert!(
        jobs.contains("backup") && jobs.contains("succeeded"),
        "{jobs}"
    );
    assert!(jobs.contains("Log of job"), "{jobs}");

    key(&mut app, '4');
    let health = text(&mut app, 80, 24);
    assert!(
        health.contains("Health: OK") || health.contains("Health: "),
        "{health}"
    );

    key(&mut app, '5');
    let storage = text(&mut app, 80, 24);
    assert!(
        storage.contains(&f.sb.repo.display().to_string()[..20]),
        "{storage}"
    );

    key(&mut app, '6');
    let audit = text(&mut app, 80, 24);
    assert!(audit.contains("hash chain: OK"), "{audit}");
    assert!(audit.contains("backup"), "{audit}");
}

/// The configuration has one set of filesystem paths, so filesystem
/// backups differ in target when that set changed between them (or for
/// safety copies). Each Storage row is named by the paths its backups
/// covered, and the screen shows the label whole, even at 80 columns.
#[test]
fn storage_rows_name_each_filesystem_target_whole() {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    sb.backup("filesystem", &[]);
    let uploads = sb.app.join("uploads").display().to_string();
    let logs = sb.app.join("logs").display().to_string();
    let config = std::fs::read_to_string(&sb.config).unwrap();
    let both = format!("paths = [\"{uploads}\", \"{logs}\"]");
    assert!(config.contains(&both), "{config}");
    std::fs::write(
        &sb.config,
        config.replace(&both, &format!("paths = [\"{uploads}\"]")),
    )
    .unwrap();
    sb.backup("filesystem", &[]);

    let mut app = app_for(&sb, false);
    let wide_label = format!("filesystem {uploads}, {logs}");
    let narrow_label = format!("filesystem {uploads}");
    let report = app.storage.clone().unwrap().unwrap();
    let mut labels: Vec<(String, u64)> = report
        .per_target
        .iter()
        .map(|(t, n, _)| (t.clone(), *n))
        .collect();
    labels.sort();
    assert_eq!(
        labels,
        [(narrow_label.clone(), 1), (wide_label.clone(), 1)],
        "one row per path set (sorted)"
    );

    key(&mut app, '5');
    let wide = text(&mut app, 200, 50);
    for label in [&wide_label, &narrow_label] {
        assert!(
            wide.lines().any(|l| l.contains(label.as_str())),
            "{label} whole on one line:\n{wide}"
        );
    }
    // At 80 columns a label wraps in the TARGET column (78 inside the
    // border, less BACKUPS 8, STORED 11 and two gaps); read it back.
    let t = text(&mut app, 80, 24);
    let column = 80 - 2 - 8 - 11 - 2;
    let mut rows: Vec<String> = Vec::new();
    let mut in_table = false;
    for line in t.lines() {
        if line.contains("Per target") {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        if line.starts_with('└') {
            break;
        }
        let cells: String = line.chars().skip(1).collect();
        let target: String = cells.chars().take(column).collect();
        let rest: String = cells.chars().skip(column).collect();
        let target = target.trim();
        if target.is_empty() || target == "TARGET" {
            continue;
        }
        // A row's first line carries its counts; the others continue it.
        if rest.trim_matches(|c| c == ' ' || c == '│').is_empty() {
            let last = rows.last_mut().expect("a continuation follows a row");
            last.push(' ');
            last.push_str(target);
        } else {
            rows.push(target.to_string());
        }
    }
    rows.sort();
    assert_eq!(rows, [narrow_label, wide_label], "{t}");
}

#[test]
fn tabs_switch_with_numbers_tab_and_arrows() {
    let f = fixture();
    let mut app = app_for(&f.sb, false);
    assert_eq!(app.screen, Screen::Dashboard);
    code(&mut app, KeyCode::Tab);
    assert_eq!(app.screen, Screen::Catalog);
    code(&mut app, KeyCode::Tab);
    assert_eq!(app.screen, Screen::Jobs);
    code(&mut app, KeyCode::BackTab);
    assert_eq!(app.screen, Screen::Catalog);
    key(&mut app, '6');
    assert_eq!(app.screen, Screen::Audit);
    code(&mut app, KeyCode::Tab);
    assert_eq!(app.screen, Screen::Dashboard, "Tab wraps around");
    key(&mut app, 'h');
    assert_eq!(app.screen, Screen::Audit);
    key(&mut app, 'l');
    assert_eq!(app.screen, Screen::Dashboard);
    // The palette knows the screens too.
    key(&mut app, ':');
    typed(&mut app, "jobs");
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Jobs);
    let t = text(&mut app, 80, 24);
    assert!(t.contains("c cancel"), "footer shows the Jobs keys: {t}");
}

/// `/` finds what the table shows: the TYPE cell with its kind
/// (`files+incr`) and the CREATED cell as drawn (date, or date and time).
#[test]
fn catalog_filter_matches_the_cells_as_shown() {
    let f = fixture();
    let mut app = app_for(&f.sb, false);
    key(&mut app, '2');
    key(&mut app, '/');
    typed(&mut app, "incr");
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.backup_view.len(), 1);
    assert_eq!(selected_id(&app), id(&f.incr));
    code(&mut app, KeyCode::Esc);
    assert_eq!(app.backup_view.len(), 3);

    // The incremental's CREATED cell, read off the screen (wide enough to
    // show the year; at 80 columns it shows month and day, also searched).
    let t = text(&mut app, 120, 30);
    let row = t.lines().find(|l| l.contains("files+incr")).unwrap();
    let at = row
        .char_indices()
        .map(|(i, _)| i)
        .find(|&i| {
            let b = row.as_bytes();
            row.len() >= i + 16
                && b[i..i + 4].iter().all(u8::is_ascii_digit)
                && b[i + 4] == b'-'
                && b[i + 10] == b' '
                && b[i + 13] == b':'
        })
        .unwrap_or_else(|| panic!("no date and time in {row:?}"));
    let shown = &row[at..at + 16];
    let (date, year) = (&shown[..10], &shown[..5]);
    // Date and time as drawn: the incremental is among what is found, and
    // every row found shows that text.
    key(&mut app, '/');
    typed(&mut app, shown);
    assert!(app
        .backup_view
        .iter()
        .any(|&i| app.backups[i as usize].id.as_ref() == id(&f.incr)));
    let t = text(&mut app, 120, 30);
    let rows: Vec<&str> = t.lines().filter(|l| l.contains("succeeded")).collect();
    assert_eq!(rows.len(), app.backup_view.len(), "{t}");
    assert!(rows.iter().all(|r| r.contains(shown)), "{t}");
    code(&mut app, KeyCode::Esc);
    // The date alone, and the year with its dash ("/2026-").
    for needle in [date, year] {
        key(&mut app, '/');
        typed(&mut app, needle);
        let want = app
            .backups
            .iter()
            .filter(|b| b.created.starts_with(needle))
            .count();
        assert!(want >= 1);
        assert_eq!(app.backup_view.len(), want, "/{needle}");
        code(&mut app, KeyCode::Esc);
    }
    // A type and kind nobody has finds nothing.
    key(&mut app, '/');
    typed(&mut app, "db+incr");
    assert!(app.backup_view.is_empty());
}

#[test]
fn filter_sort_and_detail_pane() {
    let f = fixture();
    let mut app = app_for(&f.sb, false);
    key(&mut app, '2');
    key(&mut app, '/');
    assert_eq!(app.overlay, Overlay::Filter);
    typed(&mut app, "PRE-dep");
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.overlay, Overlay::None);
    assert_eq!(app.backup_view.len(), 1);
    assert_eq!(selected_id(&app), id(&f.cfg));
    let t = text(&mut app, 80, 24);
    assert!(
        t.contains("(1 shown)") && t.contains("filter: /PRE-dep"),
        "{t}"
    );
    assert!(!t.contains("files+incr"), "{t}");
    // A filter that matches nothing says so.
    key(&mut app, '/');
    typed(&mut app, "zzz");
    let t = text(&mut app, 80, 24);
    assert!(t.contains("no backup matches /PRE-depzzz"), "{t}");
    code(&mut app, KeyCode::Esc);
    assert_eq!(app.backup_view.len(), 3, "Esc clears the filter");

    // Sort by type (ascending after a reverse): configuration first,
    // then the two filesystem backups.
    key(&mut app, 's');
    assert_eq!(app.sort.label(), "type");
    let types = |app: &Console| -> Vec<String> {
        app.backup_view
            .iter()
            .map(|&i| app.backups[i as usize].backup_type.as_str().to_string())
            .collect()
    };
    assert_eq!(types(&app), ["filesystem", "filesystem", "configuration"]);
    key(&mut app, 'S');
    assert_eq!(types(&app), ["configuration", "filesystem", "filesystem"]);
    let t = text(&mut app, 80, 24);
    assert!(t.contains("sort: type asc"), "{t}");

    // Detail of the incremental: its parent chain names the full backup.
    select_backup(&mut app, &id(&f.incr));
    code(&mut app, KeyCode::Enter);
    assert!(app.detail.is_some());
    let t = text(&mut app, 100, 40);
    assert!(t.contains("parent chain"), "{t}");
    assert!(t.contains(&id(&f.full)), "{t}");
    assert!(t.contains("files") && t.contains("stored"), "{t}");
    assert!(t.contains("encrypted") && t.contains("key "), "{t}");
    code(&mut app, KeyCode::Esc);
    assert!(app.detail.is_none());
}

#[test]
fn help_overlay_lists_the_screens_keys() {
    let f = fixture();
    let mut app = app_for(&f.sb, false);
    key(&mut app, '2');
    key(&mut app, '?');
    assert_eq!(app.overlay, Overlay::help());
    let t = text(&mut app, 100, 40);
    for k in [
        "verify the selected backup",
        "restore the selected backup",
        "delete the selected backup",
        "sort by the next column",
        "filter by type",
        "command palette",
        "quit",
    ] {
        assert!(t.contains(k), "help lacks {k:?}:\n{t}");
    }
    key(&mut app, 'x');
    assert_eq!(app.overlay, Overlay::None);
    // The Jobs help has the cancel key and not the catalog's.
    key(&mut app, '3');
    key(&mut app, '?');
    let t = text(&mut app, 100, 40);
    assert!(t.contains("cancel the selected job"), "{t}");
    assert!(!t.contains("delete the selected backup"), "{t}");
}

#[test]
fn too_small_terminal_says_what_it_needs() {
    let f = fixture();
    let mut app = app_for(&f.sb, false);
    let t = text(&mut app, 60, 20);
    assert!(
        t.contains("terminal too small (need 80x24, have 60x20)"),
        "{t}"
    );
    // Exactly 80x24 draws the console.
    let t = text(&mut app, 80, 24);
    assert!(t.contains("Dashboard") && !t.contains("too small"), "{t}");
}

#[test]
fn no_color_keeps_words_and_drops_colours() {
    let f = fixture();
    let colours = |app: &mut Console| -> usize {
        key(app, '2');
        let t = draw(app, 100, 30);
        let buf = t.backend().buffer();
        buf.content()
            .iter()
            .filter(|c| c.fg != Color::Reset || c.bg != Color::Reset)
            .count()
    };
    let mut plain = app_for(&f.sb, true);
    let mut coloured = app_for(&f.sb, false);
    assert_eq!(colours(&mut plain), 0, "NO_COLOR frame has colours");
    assert!(colours(&mut coloured) > 0, "colour frame has none");
    let t = text(&mut plain, 100, 30);
    assert!(t.contains("succeeded"), "status words stay: {t}");
    let sel = draw(&mut plain, 100, 30);
    let reversed = sel
        .backend()
        .buffer()
        .content()
        .iter()
        .any(|c| c.modifier.contains(ratatui::style::Modifier::REVERSED));
    assert!(reversed, "the selection is still visible without colour");
}

#[test]
fn delete_needs_the_exact_id_or_name_and_refuses_parents() {
    let f = fixture();
    let mut app = app_for(&f.sb, false);
    let cfg_file = file_of(&f.cfg);
    assert!(cfg_file.exists());

    select_backup(&mut app, &id(&f.cfg));
    key(&mut app, 'd');
    assert!(matches!(
        &app.overlay,
        Overlay::Confirm(c) if matches!(c.kind, ConfirmKind::Delete { .. })
    ));
    let t = text(&mut app, 80, 24);
    assert!(
        t.contains("Delete backup") && t.contains("pre-deploy"),
        "{t}"
    );
    typed(&mut app, "pre-deplo");
    code(&mut app, KeyCode::Enter);
    let t = text(&mut app, 80, 24);
    assert!(t.contains("does not match"), "{t}");
    assert!(cfg_file.exists(), "a wrong confirmation deleted the file");
    // Esc keeps it.
    code(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay, Overlay::None);
    assert!(app
        .message
        .as_ref()
        .unwrap()
        .text
        .contains("nothing was changed"));

    // The name confirms.
    key(&mut app, 'd');
    typed(&mut app, "pre-deploy");
    code(&mut app, KeyCode::Enter);
    assert!(app.settle(SETTLE));
    let msg = app.message.clone().unwrap().text;
    assert!(msg.contains("deleted backup"), "{msg}");
    assert!(!cfg_file.exists());
    assert!(!manifest_of(&cfg_file).exists());
    assert_eq!(app.backups.len(), 2);
    let list = f.sb.json(&["list"]);
    assert_eq!(list.as_array().unwrap().len(), 2);

    // The full backup has an incremental on top: refused, kept.
    select_backup(&mut app, &id(&f.full));
    key(&mut app, 'd');
    typed(&mut app, &id(&f.full));
    code(&mut app, KeyCode::Enter);
    assert!(app.settle(SETTLE));
    let msg = app.message.clone().unwrap().text;
    assert!(
        msg.contains("cannot be deleted") && msg.contains(&id(&f.incr)),
        "{msg}"
    );
    assert!(file_of(&f.full).exists());
    assert_eq!(app.backups.len(), 2);
    let audit = f.sb.json(&["audit", "list"]);
    let outcomes: Vec<String> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "delete")
        .map(|a| a["outcome"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(outcomes, ["refused", "succeeded"]);
}

#[test]
fn verify_runs_as_a_queued_job_and_reports_in_place() {
    let f = fixture();
    let mut app = app_for(&f.sb, false);
    select_backup(&mut app, &id(&f.full));
    key(&mut app, 'v');
    assert_eq!(app.children.len(), 1, "{:?}", app.message);
    // Quitting now asks, and says what happens to the job.
    key(&mut app, 'q');
    assert!(!app.quit);
    let t = text(&mut app, 80, 24);
    assert!(t.contains("keep running as jobs in the catalog"), "{t}");
    assert!(t.contains("lifeboat status --follow"), "{t}");
    key(&mut app, 'n');
    assert!(!app.quit);

    wait_for(120, "the verify child to exit", || {
        app.pump(Duration::from_millis(200));
        app.children.is_empty().then_some(())
    });
    let msg = app.message.clone().unwrap().text;
    assert!(msg.contains("finished ok"), "{msg}");
    let row = app.backups.iter().find(|b| *b.id == id(&f.full)).unwrap();
    assert_eq!(row.verified.as_str(), "yes");
    assert!(app
        .jobs
        .iter()
        .any(|j| j.kind == JobKind::Verify && j.state == JobState::Succeeded));

    // A verify of a backup that does not exist is refused before it is
    // queued, in place; nothing is left in the queue.
    key(&mut app, ':');
    typed(&mut app, "verify fs-does-not-exist");
    code(&mut app, KeyCode::Enter);
    assert!(app.children.is_empty());
    let msg = app.message.clone().unwrap().text;
    assert!(
        msg.contains("cannot start `lifeboat verify fs-does-not-exist`"),
        "{msg}"
    );
    assert!(msg.contains("no backup with id fs-does-not-exist"), "{msg}");
    assert!(f.sb.jobs().iter().all(|j| j["state"] != "queued"));
    // With nothing running, q quits at once.
    key(&mut app, 'q');
    assert!(app.quit);
}

#[test]
fn palette_and_wizard_errors_show_in_place() {
    let f = fixture();
    let mut app = app_for(&f.sb, false);
    key(&mut app, ':');
    typed(&mut app, "frobnicate");
    code(&mut app, KeyCode::Enter);
    let t = text(&mut app, 120, 30);
    assert!(t.contains("unknown command ':frobnicate'"), "{t}");
    key(&mut app, ':');
    typed(&mut app, "verify");
    code(&mut app, KeyCode::Enter);
    assert!(app
        .message
        .as_ref()
        .unwrap()
        .text
        .contains("needs a backup id"));
    // Restore from the catalog opens the wizard or says why it cannot.
    select_backup(&mut app, &id(&f.incr));
    key(&mut app, 'r');
    assert!(
        app.wizard.is_some()
            || app
                .message
                .as_ref()
                .is_some_and(|m| m.text.contains("cannot open the Restore")),
        "{:?}",
        app.message
    );
}

#[test]
fn jobs_of_other_processes_appear_live_and_can_be_cancelled() {
    let sb = Sandbox::with_extra_config(SLOW_COMPRESSION);
    populate(&sb.app);
    big_tree(&sb.app.join("uploads/big"), 48);
    sb.generate_key();
    let mut app = app_for(&sb, false);
    assert!(app.jobs.iter().all(|j| !j.is_active()));

    let child = sb.spawn(&["backup", "--type", "filesystem"]);
    let job = sb.wait_running("backup", 60);
    let job_id = job["id"].as_i64().unwrap();
    // The console notices through its probe, not through a restart.
    wait_for(30, "the console to see the running job", || {
        app.tick();
        app.jobs
            .iter()
            .any(|j| j.id == job_id && j.state == JobState::Running)
            .then_some(())
    });
    let dash = text(&mut app, 100, 30);
    assert!(dash.contains("Running jobs: 1"), "{dash}");
    key(&mut app, '3');
    let i = app.jobs.iter().position(|j| j.id == job_id).unwrap();
    key(&mut app, 'g');
    for _ in 0..i {
        key(&mut app, 'j');
    }
    let t = text(&mut app, 100, 30);
    assert!(t.contains("running") || t.contains("cancelling"), "{t}");
    key(&mut app, 'c');
    let t = text(&mut app, 100, 30);
    assert!(t.contains(&format!("Cancel job {job_id}")), "{t}");
    key(&mut app, 'y');
    let msg = app.message.clone().unwrap().text;
    assert!(msg.contains("next safe point"), "{msg}");
    let (st, out) = wait_child(child, 120, "the cancelled backup");
    assert_eq!(st.code(), Some(1), "{out}");
    wait_for(30, "the console to see the cancel", || {
        app.tick();
        app.jobs
            .iter()
            .any(|j| j.id == job_id && j.state == JobState::Cancelled)
            .then_some(())
    });
    // Cancelling a finished job says so instead of asking.
    key(&mut app, 'c');
    assert_eq!(app.overlay, Overlay::None);
    assert!(app
        .message
        .as_ref()
        .unwrap()
        .text
        .contains("nothing to cancel"));
}

#[test]
fn a_locked_catalog_is_retried_not_fatal() {
    let f = fixture();
    let mut app = app_for(&f.sb, false);
    // A queued job to cancel, then another writer holds the write lock.
    let cat = lifeboat_engine::catalog::Catalog::open(&f.sb.catalog).unwrap();
    let job = cat
        .create_job(
            &JobKind::Backup,
            "filesystem",
            "elsewhere",
            1,
            JobState::Queued,
        )
        .unwrap();
    drop(cat);
    app.refresh(true);
    let locker = rusqlite::Connection::open(&f.sb.catalog).unwrap();
    locker.execute_batch("BEGIN IMMEDIATE").unwrap();

    key(&mut app, '3');
    let i = app.jobs.iter().position(|j| j.id == job).unwrap();
    key(&mut app, 'g');
    for _ in 0..i {
        key(&mut app, 'j');
    }
    key(&mut app, 'c');
    key(&mut app, 'y');
    let t = text(&mut app, 100, 30);
    assert!(t.contains("catalog busy, retrying"), "{t}");
    // Reads still work while the lock is held.
    assert!(app.refresh(true));

    locker.execute_batch("COMMIT").unwrap();
    app.tick();
    let st = app.jobs.iter().find(|j| j.id == job).unwrap().state;
    assert_eq!(st, JobState::Cancelled);
}

#[test]
fn a_missing_repository_is_shown_with_the_fix() {
    let sb = Sandbox::new();
    let mut app = app_for(&sb, false);
    let t = text(&mut app, 120, 30);
    assert!(t.contains("REPOSITORY MISSING"), "{t}");
    assert!(t.contains(&sb.repo.display().to_string()), "{t}");
    assert!(
        !sb.repo.exists(),
        "the console must not invent a repository"
    );
}

#[test]
fn no_verb_without_a_terminal_explains_and_exits_2() {
    let sb = Sandbox::new();
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("console needs a terminal"), "{err}");
    assert!(err.contains("Commands:"), "{err}");
}

fn tmux(socket: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new("tmux")
        .arg("-L")
        .arg(socket)
        .args(args)
        .output()
        .unwrap()
}

/// tmux is here; else the test is skipped (a failure with
/// LIFEBOAT_REQUIRE_TMUX=1, as in CI).
fn have_tmux(test: &str) -> bool {
    if std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok()
    {
        return true;
    }
    assert!(
        std::env::var("LIFEBOAT_REQUIRE_TMUX").as_deref() != Ok("1"),
        "tmux is required (LIFEBOAT_REQUIRE_TMUX=1): apt-get install tmux"
    );
    println!("SKIPPED {test}: tmux is not installed");
    false
}

/// Start `cmdline` in a detached tmux session of that size, in `dir`.
fn new_session(socket: &str, name: &str, (w, h): (u16, u16), dir: &str, cmdline: &str) {
    let (w, h) = (w.to_string(), h.to_string());
    let out = tmux(
        socket,
        &[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            &w,
            "-y",
            &h,
            "-c",
            dir,
            cmdline,
        ],
    );
    assert!(out.status.success(), "{}", all_text(&out));
}

/// What the session's pane shows now.
fn capture(socket: &str, name: &str) -> String {
    String::from_utf8_lossy(&tmux(socket, &["capture-pane", "-p", "-t", name]).stdout).into_owned()
}

/// Kills a test's private tmux server (`-L SOCKET`) however the test ends.
struct KillTmux(String);

impl Drop for KillTmux {
    fn drop(&mut self) {
        let _ = tmux(&self.0, &["kill-server"]);
    }
}

#[test]
fn real_binary_in_tmux_opens_switches_and_quits() {
    if !have_tmux("real_binary_in_tmux_opens_switches_and_quits") {
        return;
    }
    let f = fixture();
    let socket = format!("lifeboat-test-{}", std::process::id());
    // The shell line after the console shows the exit code on the normal
    // screen: proof the terminal was handed back.
    let cmdline = format!(
        "{} --config {}; echo console-exited-$?; sleep 60",
        env!("CARGO_BIN_EXE_lifeboat"),
        f.sb.config.display()
    );
    let dir = f.sb.dir.path().display().to_string();
    new_session(&socket, "console", (120, 40), &dir, &cmdline);
    let capture = || capture(&socket, "console");
    let _kill = KillTmux(socket.clone());
    wait_for(30, "the dashboard", || {
        let s = capture();
        (s.contains("Dashboard") && s.contains("filesystem")).then_some(())
    });
    tmux(&socket, &["send-keys", "-t", "console", "2"]);
    let screen = wait_for(30, "the catalog", || {
        let s = capture();
        s.contains("Catalog: 3 backups").then_some(s)
    });
    assert!(screen.contains("pre-deploy"), "{screen}");
    assert!(screen.contains(&id(&f.incr)), "{screen}");
    tmux(&socket, &["send-keys", "-t", "console", "6"]);
    wait_for(30, "the audit screen", || {
        capture().contains("hash chain: OK").then_some(())
    });
    // Esc never quits; q does, and the terminal comes back.
    tmux(&socket, &["send-keys", "-t", "console", "Escape"]);
    tmux(&socket, &["send-keys", "-t", "console", "q"]);
    let after = wait_for(30, "the console to exit", || {
        let s = capture();
        s.contains("console-exited-").then_some(s)
    });
    assert!(after.contains("console-exited-0"), "{after}");
    assert!(
        !after.contains("Catalog: 3 backups"),
        "alternate screen left: {after}"
    );

    // Ctrl-C is the quit path too.
    new_session(&socket, "ctrlc", (100, 30), &dir, &cmdline);
    let cap2 = || self::capture(&socket, "ctrlc");
    wait_for(30, "the second console", || {
        cap2().contains("Dashboard").then_some(())
    });
    tmux(&socket, &["send-keys", "-t", "ctrlc", "C-c"]);
    let after = wait_for(30, "Ctrl-C to quit", || {
        let s = cap2();
        s.contains("console-exited-").then_some(s)
    });
    assert!(after.contains("console-exited-0"), "{after}");
}

#[test]
fn a_lost_catalog_is_rebuilt_from_the_repository_not_left_empty() {
    let f = fixture();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", f.sb.catalog.display()));
    }
    let app = app_for(&f.sb, false);
    assert_eq!(app.backups.len(), 3, "{:?}", app.catalog_error);
    // The CLI after the console sees them too.
    assert_eq!(f.sb.json(&["list"]).as_array().unwrap().len(), 3);
}

#[test]
fn sigterm_ends_the_console_and_restores_the_terminal() {
    if !have_tmux("sigterm_ends_the_console_and_restores_the_terminal") {
        return;
    }
    let f = fixture();
    let socket = format!("lifeboat-term-{}", std::process::id());
    let _kill = KillTmux(socket.clone());
    let cmdline = format!(
        "{} --config {}; echo console-exited-$?; sleep 60",
        env!("CARGO_BIN_EXE_lifeboat"),
        f.sb.config.display()
    );
    let dir = f.sb.dir.path().display().to_string();
    new_session(&socket, "term", (100, 30), &dir, &cmdline);
    let capture = || capture(&socket, "term");
    wait_for(30, "the console", || {
        capture().contains("Dashboard").then_some(())
    });
    // The pane runs `sh -c`; the console is its child.
    let shell: u32 = String::from_utf8_lossy(
        &tmux(&socket, &["list-panes", "-t", "term", "-F", "#{pane_pid}"]).stdout,
    )
    .trim()
    .parse()
    .unwrap();
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).unwrap();
    let pid: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    assert!(std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        .unwrap()
        .contains("lifeboat"));
    // SAFETY: signals the console process this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let after = wait_for(30, "SIGTERM to end the console", || {
        let s = capture();
        s.contains("console-exited-").then_some(s)
    });
    assert!(after.contains("console-exited-0"), "{after}");
    assert!(
        !after.contains("Dashboard"),
        "alternate screen left: {after}"
    );
}

/// How long a wizard's child (dry run or restore) may take before the test
/// calls it a hang. Generous: the machine is shared.
const WIZARD_CHILD: Duration = Duration::from_secs(180);

/// Tick the console (which polls the wizard's child) until its frame shows
/// `needle`. Fails at once, with the frame, when the wizard reports a
/// failed child or the wizard closed; fails after a generous bound.
fn wait_for_frame(app: &mut Console, needle: &str, what: &str) -> String {
    let deadline = std::time::Instant::now() + WIZARD_CHILD;
    loop {
        app.tick();
        // Apply background results too (and pace the loop).
        app.pump(Duration::from_millis(50));
        let t = text(app, 160, 45);
        if t.contains(needle) {
            return t;
        }
        assert!(
            !t.contains("FAILED: lifeboat"),
            "{what}: the wizard's child failed:\n{t}"
        );
        assert!(
            app.wizard.is_some(),
            "{what}: the wizard closed before showing {needle:?}:\n{t}"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: {needle:?} did not show within {}s; frame:\n{t}",
            WIZARD_CHILD.as_secs()
        );
    }
}

/// The directories the restore wizard created under the catalog's
/// `restores/` (none when it does not exist).
fn restore_dirs(sb: &Sandbox) -> Vec<std::path::PathBuf> {
    let dir = sb.catalog.parent().unwrap().join("restores");
    match std::fs::read_dir(&dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// The target directory of the one succeeded restore of `backup`, as the
/// audit trail records it ("ID -> DIR").
fn audited_restore_target(sb: &Sandbox, backup: &str) -> std::path::PathBuf {
    let audit = sb.json(&["audit", "list"]);
    let rows: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "restore")
        .collect();
    assert_eq!(rows.len(), 1, "one restore in the audit trail: {audit}");
    assert_eq!(rows[0]["outcome"], "succeeded", "{audit}");
    let detail = rows[0]["detail"].as_str().unwrap();
    let dir = detail
        .strip_prefix(&format!("{backup} -> "))
        .unwrap_or_else(|| panic!("audit detail {detail:?} is not `{backup} -> DIR`"));
    std::path::PathBuf::from(dir)
}

/// The restored tree under `target` equals the sandbox's sources, byte
/// for byte (contents, modes, symlinks, empty directories).
fn assert_restored(sb: &Sandbox, target: &std::path::Path) {
    for d in ["uploads", "logs"] {
        let src = sb.app.join(d);
        let restored = Sandbox::under(target, &src);
        assert!(restored.is_dir(), "{} was not restored", restored.display());
        assert_eq!(
            checksum_tree(&restored),
            checksum_tree(&src),
            "{d} restored under {} differs from the source",
            target.display()
        );
    }
}

/// The catalog has exactly one restore job, for `backup`, and it succeeded.
fn assert_restore_job_succeeded(sb: &Sandbox, backup: &str) {
    let jobs = sb.jobs();
    let restores: Vec<&Value> = jobs.iter().filter(|j| j["kind"] == "restore").collect();
    assert_eq!(restores.len(), 1, "one restore job: {jobs:?}");
    assert_eq!(restores[0]["state"], "succeeded", "{:?}", restores[0]);
    assert_eq!(restores[0]["target"], backup, "{:?}", restores[0]);
}

#[test]
fn console_restore_wizard_restores_files() {
    let f = fixture();
    let incr = id(&f.incr);
    let mut app = app_for(&f.sb, false);
    // The incremental: a chain of two, and the source as it is now.
    select_backup(&mut app, &incr);
    assert_eq!(app.screen, Screen::Catalog);
    key(&mut app, 'r');
    assert!(
        app.wizard.is_some(),
        "r opened no wizard: {:?}",
        app.message
    );

    // Opened on the chosen backup, at the target step, new directory first.
    let t = text(&mut app, 160, 45);
    assert!(t.contains("Step 3 of 6: Target"), "{t}");
    assert!(
        t.contains(&format!("Where should backup {incr} go?")),
        "{t}"
    );
    let start = t
        .find("(*) a new directory: ")
        .unwrap_or_else(|| panic!("the new directory is not the default:\n{t}"))
        + "(*) a new directory: ".len();
    let shown = t[start..].split_whitespace().next().unwrap().to_string();
    assert!(
        shown.starts_with(&f.sb.catalog.parent().unwrap().display().to_string()),
        "{shown}"
    );

    // Next: the dry run, which changes nothing.
    code(&mut app, KeyCode::Enter);
    let t = wait_for_frame(&mut app, "OK: lifeboat restore", "the dry run");
    assert!(t.contains("Step 4 of 6: Preview"), "{t}");
    assert!(t.contains("--dry-run"), "{t}");
    assert!(restore_dirs(&f.sb).is_empty(), "the dry run wrote files");

    code(&mut app, KeyCode::Enter);
    let t = text(&mut app, 160, 45);
    assert!(t.contains("Enter restores into the new place"), "{t}");
    code(&mut app, KeyCode::Enter);
    let t = wait_for_frame(&mut app, "Restored to new directory", "the restore");
    assert!(
        t.contains(&shown),
        "the frame names the target {shown}:\n{t}"
    );
    assert!(!app.wizard.as_ref().unwrap().is_running());

    // Where it went: the directory shown, the only one created, the one
    // the audit trail records.
    let dirs = restore_dirs(&f.sb);
    assert_eq!(dirs, [std::path::PathBuf::from(&shown)]);
    assert_eq!(audited_restore_target(&f.sb, &incr), dirs[0]);
    assert_restored(&f.sb, &dirs[0]);
    assert_restore_job_succeeded(&f.sb, &incr);
    // The console sees the job too, and Enter closes the wizard.
    app.refresh(true);
    assert!(
        app.jobs
            .iter()
            .any(|j| j.kind == JobKind::Restore && j.state == JobState::Succeeded),
        "the console does not list the restore job"
    );
    code(&mut app, KeyCode::Enter);
    assert!(
        app.wizard.is_none(),
        "Enter did not close the finished wizard"
    );
    assert_eq!(app.screen, Screen::Catalog);
}

#[test]
fn real_binary_in_tmux_drives_the_restore_wizard() {
    if !have_tmux("real_binary_in_tmux_drives_the_restore_wizard") {
        return;
    }
    let f = fixture();
    let incr = id(&f.incr);
    let socket = format!("lifeboat-restore-{}", std::process::id());
    let _kill = KillTmux(socket.clone());
    // The shell line after the console shows the exit code on the normal
    // screen: proof the terminal was handed back.
    let cmdline = format!(
        "{} --config {}; echo console-exited-$?; sleep 60",
        env!("CARGO_BIN_EXE_lifeboat"),
        f.sb.config.display()
    );
    let dir = f.sb.dir.path().display().to_string();
    new_session(&socket, "restore", (120, 40), &dir, &cmdline);
    let capture = || capture(&socket, "restore");
    let send = |keys: &[&str]| {
        let mut a = vec!["send-keys", "-t", "restore"];
        a.extend_from_slice(keys);
        let out = tmux(&socket, &a);
        assert!(
            out.status.success(),
            "send-keys {keys:?}: {}",
            all_text(&out)
        );
    };
    // Wait for `needle` on the screen; a failed child shows at once.
    let wait_screen = |needle: &str, what: &str| -> String {
        let deadline = std::time::Instant::now() + WIZARD_CHILD;
        loop {
            let s = capture();
            if s.contains(needle) {
                return s;
            }
            assert!(
                !s.contains("FAILED: lifeboat"),
                "{what}: the wizard's child failed:\n{s}"
            );
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: {needle:?} did not show within {}s; screen:\n{s}",
                WIZARD_CHILD.as_secs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };

    wait_screen("Dashboard", "the dashboard");
    // Tab to the Catalog, and find the incremental with the filter.
    send(&["Tab"]);
    wait_screen("Catalog: 3 backups", "the catalog");
    send(&["/"]);
    send(&["-l", &incr]);
    send(&["Enter"]);
    wait_screen("(1 shown)", "the filtered catalog");
    send(&["r"]);
    let s = wait_screen("Step 3 of 6: Target", "the restore wizard");
    assert!(
        s.contains(&format!("Where should backup {incr} go?")),
        "{s}"
    );
    // The directory it will restore into, as shown (one word; the
    // wizard's wrapping may put it on the next row, inside the border).
    let at = s
        .find("(*) a new directory:")
        .unwrap_or_else(|| panic!("the new directory is not the default:\n{s}"))
        + "(*) a new directory:".len();
    let shown = s[at..]
        .split(|c: char| c.is_whitespace() || c == '│')
        .find(|w| !w.is_empty())
        .unwrap()
        .to_string();
    assert!(
        shown.starts_with(&f.sb.catalog.parent().unwrap().display().to_string()),
        "{shown}\n{s}"
    );
    assert!(restore_dirs(&f.sb).is_empty());

    // Next: the dry run.
    send(&["Enter"]);
    let s = wait_screen("OK: lifeboat restore", "the dry run");
    assert!(s.contains("Step 4 of 6: Preview"), "{s}");
    assert!(restore_dirs(&f.sb).is_empty(), "the dry run wrote files");
    send(&["Enter"]);
    wait_screen("Enter restores into the new place", "the confirmation");
    send(&["Enter"]);
    let s = wait_screen("Restored to new directory", "the restore");
    assert!(s.contains("Step 6 of 6: Run"), "{s}");

    // Where it went: the directory shown, the only one created, the one
    // the audit trail records.
    let dirs = restore_dirs(&f.sb);
    assert_eq!(dirs, [std::path::PathBuf::from(&shown)]);
    assert_eq!(audited_restore_target(&f.sb, &incr), dirs[0]);
    assert_restored(&f.sb, &dirs[0]);
    assert_restore_job_succeeded(&f.sb, &incr);

    // Enter closes the finished wizard; q quits and hands the terminal back.
    send(&["Enter"]);
    wait_screen("(1 shown)", "the catalog after the wizard");
    send(&["q"]);
    let after = wait_screen("console-exited-", "the console to exit");
    assert!(after.contains("console-exited-0"), "{after}");
    assert!(
        !after.contains("Catalog: 3 backups") && !after.contains("Restored to"),
        "alternate screen left: {after}"
    );
}

#[test]
fn health_screen_and_lifeboat_health_agree_on_every_check() {
    let f = fixture();
    let out = f.sb.run(&["--json", "health"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = report["checks"].as_array().unwrap();
    assert!(checks.len() >= 8, "{report:#}");
    let mut app = app_for(&f.sb, true);
    key(&mut app, '4');
    let screen = text(&mut app, 240, 80);
    assert!(
        screen.contains(&format!(
            "Health: {}",
            report["verdict"].as_str().unwrap().to_uppercase()
        )),
        "{screen}"
    );
    for c in checks {
        let title = c["title"].as_str().unwrap();
        let status = c["status"].as_str().unwrap().to_uppercase();
        let line = screen
            .lines()
            .find(|l| l.contains(title) && !l.trim_start().starts_with(&format!("{title}:")))
            .unwrap_or_else(|| panic!("check {title} is not on the Health screen:\n{screen}"));
        assert!(
            line.contains(&status),
            "{title}: `lifeboat health` says {status}, the screen says:\n{line}"
        );
    }
}

/// Work started in the console is a queued job run by a worker process of
/// its own: the console can die (here: its terminal goes away, which is
/// what a dropped SSH session does) and the job still ends, and ends well.
#[test]
fn a_restore_started_in_the_console_outlives_the_console() {
    if !have_tmux("a_restore_started_in_the_console_outlives_the_console") {
        return;
    }
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    let backup = id(&sb.backup("filesystem", &[]));
    let socket = format!("lifeboat-outlive-{}", std::process::id());
    let _kill = KillTmux(socket.clone());
    let cmdline = format!(
        "{} --config {}",
        env!("CARGO_BIN_EXE_lifeboat"),
        sb.config.display()
    );
    let dir = sb.dir.path().display().to_string();
    new_session(&socket, "console", (250, 50), &dir, &cmdline);
    let capture = || capture(&socket, "console");
    let keys = |k: &str| {
        tmux(&socket, &["send-keys", "-t", "console", k]);
    };
    wait_for(30, "the dashboard", || {
        capture().contains("Dashboard").then_some(())
    });
    keys("2");
    wait_for(30, "the catalog", || {
        capture().contains(&backup).then_some(())
    });
    keys("r");
    let screen = wait_for(30, "the restore wizard", || {
        let s = capture();
        s.contains("a new directory: ").then_some(s)
    });
    let start = screen.find("a new directory: ").unwrap() + "a new directory: ".len();
    let target: String = screen[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(target.contains(&backup), "{screen}");
    // Another job holds the target: the restore waits, so the console can
    // go away while it runs.
    let lock = crate::wizards::hold_restore_lock(&sb, &target);
    keys("Enter");
    wait_for(60, "the dry run", || {
        capture().contains("nothing was changed").then_some(())
    });
    keys("Enter");
    keys("Enter");
    let job = wait_for(60, "the restore job to wait for its target", || {
        sb.jobs().into_iter().find(|j| {
            j["kind"] == "restore"
                && j["state"] == "running"
                && j["phase"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("waiting for restore target"))
        })
    });
    let id = job["id"].as_i64().unwrap();
    // It is a queued job, run by a worker, not the console's child.
    assert_eq!(sb.job(id)["request"]["verb"], "restore", "{job}");
    assert!(sb.job(id)["log"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("claimed by worker")));
    // The console's terminal goes away: tmux and the console end.
    tmux(&socket, &["kill-server"]);
    wait_for(30, "the console to be gone", || {
        (!tmux(&socket, &["has-session", "-t", "console"])
            .status
            .success())
        .then_some(())
    });
    assert_eq!(
        sb.job(id)["state"],
        "running",
        "the job outlived the console"
    );
    drop(lock);
    let done = wait_for(120, "the restore to end", || {
        let j = sb.job(id);
        (j["state"] != "running").then_some(j)
    });
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_restored(&sb, std::path::Path::new(&target));
    // Its worker's output went to a private log next to the catalog.
    let logs = sb.catalog.parent().unwrap().join("console-logs");
    let log = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains(&format!("-job-{id}-")))
        .expect("the worker's log");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

// ---- snapshots ----

/// A frame with what differs between runs taken out: the sandbox's path,
/// the host and user, the fixture's backup ids (whole or clipped), then
/// every word with a digit in it (times, sizes, counts, ages) as `#`, and
/// runs of spaces as one. What stays is the screen's shape and words.
fn normalized(frame: &str, f: &Fixture) -> String {
    normalized_in(
        frame,
        &f.sb,
        &[(&f.full, "<full>"), (&f.incr, "<incr>"), (&f.cfg, "<cfg>")],
    )
}

/// [`normalized`] for a sandbox of its own, with these backups named.
fn normalized_in(frame: &str, sb: &Sandbox, backups: &[(&Value, &str)]) -> String {
    let mut s = frame.replace(&sb.dir.path().display().to_string(), "<sandbox>");
    let actor = lifeboat_engine::catalog::current_actor();
    let host = lifeboat_engine::ops::hostname();
    s = s.replace(&actor, "<actor>").replace(&host, "<host>");
    for &(v, name) in backups {
        let id = id(v);
        s = s.replace(&id, name);
        for cut in (4..id.len()).rev() {
            s = s.replace(&format!("{}…", &id[..cut]), &format!("{name}…"));
        }
    }
    // A clipped temp path ("/tmp/.tmpXy3k…"), weekday and month names (the
    // next scheduled run), and bars whose length is a measurement.
    let mut t = String::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find("/tmp/.tmp") {
        t.push_str(&rest[..i]);
        t.push_str("<tmp>");
        rest =
            rest[i + "/tmp/.tmp".len()..].trim_start_matches(|c: char| c.is_ascii_alphanumeric());
    }
    t.push_str(rest);
    s = t;
    for name in [
        "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Jan", "Feb", "Mar", "Apr", "May", "Jun",
        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ] {
        s = s.replace(&format!(" {name} "), " <cal> ");
    }
    // "(in 11h 3m)" or "(in 45m)": how long until the next run.
    let mut t = String::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find("(in ") {
        t.push_str(&rest[..i]);
        t.push_str("(in #)");
        rest = &rest[i..];
        rest = rest.find(')').map_or("", |j| &rest[j + 1..]);
    }
    t.push_str(rest);
    s = t;
    s.retain(|c| !"█▉▊▋▌▍▎▏░▒▓▁▂▃▄▅▆▇".contains(c));
    let mut out = String::new();
    for line in s.lines() {
        let words: Vec<String> = line
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(|w| {
                let mut o = String::new();
                let mut run = String::new();
                // A run with a digit, or of hex digits after a '-' (the
                // random tail of a clipped id), is a value.
                let flush = |run: &mut String, o: &mut String| {
                    let hex_tail = o.ends_with('-')
                        && !run.is_empty()
                        && run.chars().all(|c| c.is_ascii_hexdigit());
                    if hex_tail || run.chars().any(|c| c.is_ascii_digit()) {
                        o.push('#');
                    } else {
                        o.push_str(run);
                    }
                    run.clear();
                };
                for c in w.chars() {
                    if c.is_ascii_alphanumeric() {
                        run.push(c);
                    } else {
                        flush(&mut run, &mut o);
                        o.push(c);
                    }
                }
                flush(&mut run, &mut o);
                o
            })
            .collect();
        // "#-#-#", "(cfg-#-" (a clipped id), "# #" (an age in two
        // units): one value each, whatever its width today.
        let mut line = String::new();
        for w in words {
            let w = collapse_values(&w);
            if line.ends_with('#') && w.starts_with('#') {
                line.push_str(&w[1..]);
            } else {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(&w);
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// A run of value characters (`#`, `-`, `:`, `.`) that holds a `#`
/// becomes one `#`.
fn collapse_values(word: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.contains('#') {
            out.push('#');
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in word.chars() {
        if "#-:.".contains(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Compare with `tests/it/snapshots/NAME.txt`; with
/// LIFEBOAT_UPDATE_SNAPSHOTS=1, write it instead (review the diff).
fn assert_snapshot(name: &str, got: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var("LIFEBOAT_UPDATE_SNAPSHOTS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot {}: run with LIFEBOAT_UPDATE_SNAPSHOTS=1 and review it\n{got}",
            path.display()
        )
    });
    if want != got {
        let diff: Vec<String> = want
            .lines()
            .zip(got.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| format!("line {}:\n  want: {a}\n  got:  {b}", i + 1))
            .collect();
        panic!(
            "screen {name} changed ({} lines differ; {} vs {} lines). If the change is meant, run with LIFEBOAT_UPDATE_SNAPSHOTS=1 and review the diff.\n{}\n--- got ---\n{got}",
            diff.len(),
            want.lines().count(),
            got.lines().count(),
            diff.join("\n")
        );
    }
}

#[test]
fn every_screen_matches_its_snapshot_at_80x24_and_200x50() {
    let f = fixture();
    // The disk's use is this machine's, not the screen's: keep it from
    // turning the verdict.
    f.sb.write_config("[health]\ndisk_warn_percent = 99\ndisk_critical_percent = 100\n");
    let mut app = app_for(&f.sb, true);
    // Nor its numbers the Health table's shape: the columns are fitted to
    // the longest value, and whether a value wraps depends on its length
    // (which changes with the free space from run to run).
    let disk = app
        .health
        .as_mut()
        .and_then(|h| h.checks.iter_mut().find(|c| c.id == "disk"))
        .expect("a disk check");
    disk.value = "43% used on / (120.5 GiB free of 250.0 GiB); growing 2.1 KiB/day, \
                  full in more than 100 years"
        .into();
    for (key_char, screen) in ['1', '2', '3', '4', '5', '6'].into_iter().zip(Screen::ALL) {
        key(&mut app, key_char);
        assert_eq!(app.screen, screen);
        for (w, h) in [(80u16, 24u16), (200, 50)] {
            let name = format!("{}-{w}x{h}", format!("{screen:?}").to_lowercase());
            assert_snapshot(&name, &normalized(&text(&mut app, w, h), &f));
        }
    }
}

/// A key's decision, without doing it.
fn decide(app: &mut Console, c: KeyCode) -> Vec<Effect> {
    app.update(KeyEvent::new(c, KeyModifiers::NONE))
}

/// On the newest row the Jobs screen follows new jobs: a job that starts
/// takes the selection and its log is read. A job the operator chose
/// further down stays selected however many jobs start.
#[test]
fn the_jobs_selection_follows_new_jobs_only_from_the_newest_row() {
    let f = fixture();
    let mut app = app_for(&f.sb, false);
    key(&mut app, '3');
    key(&mut app, 'g');
    let first = app.jobs[0].id;
    let cat = lifeboat_engine::catalog::Catalog::open(&f.sb.catalog).unwrap();
    let new = cat
        .create_job(
            &JobKind::Verify,
            "new-target",
            "elsewhere",
            1,
            JobState::Queued,
        )
        .unwrap();
    cat.job_log(new, "info", "first line of the new job")
        .unwrap();
    app.refresh(true);
    assert_eq!(
        app.jobs[app.jobs_list.selected].id, new,
        "moved to the new job"
    );
    assert!(
        app.job_log
            .iter()
            .any(|l| l.2 == "first line of the new job"),
        "{:?}",
        app.job_log
    );
    let t = text(&mut app, 100, 30);
    assert!(
        t.contains(&format!("Log of job {new} (verify new-target)")),
        "{t}"
    );
    assert!(t.contains("first line of the new job"), "{t}");

    // The operator goes down to the older job: it stays selected.
    key(&mut app, 'j');
    assert_eq!(app.jobs[app.jobs_list.selected].id, first);
    let log_before = app.job_log.clone();
    let newer = cat
        .create_job(
            &JobKind::Verify,
            "newer-target",
            "elsewhere",
            1,
            JobState::Queued,
        )
        .unwrap();
    cat.job_log(newer, "info", "the newer job's line").unwrap();
    // The decision alone: the selection keeps its job, its log is re-read.
    let mut jobs = app.jobs.clone();
    jobs.insert(0, cat.get_job(newer).unwrap().unwrap());
    assert_eq!(app.jobs_loaded(jobs), Effect::LoadJobLog { changed: true });
    assert_eq!(app.jobs[app.jobs_list.selected].id, first);
    // And done for real.
    app.refresh(true);
    assert_eq!(app.jobs[0].id, newer);
    assert_eq!(app.jobs[app.jobs_list.selected].id, first, "kept by id");
    assert_eq!(app.job_log, log_before);
    let t = text(&mut app, 100, 30);
    assert!(t.contains(&format!("Log of job {first} ")), "{t}");
    assert!(!t.contains("the newer job's line"), "{t}");
}

/// `V` is the deep verify (a scratch restore, every file or row checked),
/// `v` the quick one; the palette takes `--deep` on either side of the id.
#[test]
fn capital_v_and_verify_deep_in_the_palette_decide_a_deep_verify() {
    let f = fixture();
    let mut app = app_for(&f.sb, true);
    let jobs_before = f.sb.jobs().len();
    let deep = |target: String| {
        vec![Effect::Launch(JobRequest::Verify {
            target,
            deep: true,
            from: None,
        })]
    };
    select_backup(&mut app, &id(&f.full));
    assert_eq!(decide(&mut app, KeyCode::Char('V')), deep(id(&f.full)));
    // Terminals that send the shift with the letter mean the same.
    let shifted = app.update(KeyEvent::new(KeyCode::Char('V'), KeyModifiers::SHIFT));
    assert_eq!(shifted, deep(id(&f.full)));
    assert_eq!(
        decide(&mut app, KeyCode::Char('v')),
        [Effect::Launch(JobRequest::Verify {
            target: id(&f.full),
            deep: false,
            from: None,
        })]
    );

    let palette = |app: &mut Console, line: &str| -> Vec<Effect> {
        assert!(decide(app, KeyCode::Char(':')).is_empty());
        for c in line.chars() {
            assert!(decide(app, KeyCode::Char(c)).is_empty());
        }
        decide(app, KeyCode::Enter)
    };
    let incr = id(&f.incr);
    assert_eq!(
        palette(&mut app, &format!("verify --deep {incr}")),
        deep(incr.clone())
    );
    assert_eq!(
        palette(&mut app, &format!("verify {incr} --deep")),
        deep(incr.clone())
    );
    assert!(palette(&mut app, &format!("verify --fast {incr}")).is_empty());
    let t = text(&mut app, 100, 30);
    assert!(t.contains("knows only --deep, not --fast"), "{t}");
    assert!(palette(&mut app, "verify --deep").is_empty());
    let t = text(&mut app, 100, 30);
    assert!(t.contains("`:verify` needs a backup id"), "{t}");

    // The help says what the deep one does.
    key(&mut app, '?');
    let t = text(&mut app, 100, 40);
    assert!(
        t.contains("deep verify: also restores it into a scratch"),
        "{t}"
    );
    assert!(t.contains("verify [--deep] ID"), "{t}");
    // Decided, not done.
    assert!(app.children.is_empty());
    assert_eq!(f.sb.jobs().len(), jobs_before);
}

#[test]
fn keys_decide_effects_and_nothing_happens_until_they_run() {
    let f = fixture();
    let mut app = app_for(&f.sb, true);
    let jobs_before = f.sb.jobs().len();

    // v: verify the selected backup, as queued work.
    select_backup(&mut app, &id(&f.full));
    let e = decide(&mut app, KeyCode::Char('v'));
    assert_eq!(
        e,
        [Effect::Launch(JobRequest::Verify {
            target: id(&f.full),
            deep: false,
            from: None,
        })]
    );
    // The palette says the same.
    assert!(decide(&mut app, KeyCode::Char(':')).is_empty());
    for c in format!("verify {}", id(&f.incr)).chars() {
        assert!(decide(&mut app, KeyCode::Char(c)).is_empty());
    }
    assert_eq!(
        decide(&mut app, KeyCode::Enter),
        [Effect::Launch(JobRequest::Verify {
            target: id(&f.incr),
            deep: false,
            from: None,
        })]
    );

    // Opening a wizard is decided too: it reads the catalog or starts a
    // preview when it opens, so it opens when the effect runs.
    decide(&mut app, KeyCode::Char(':'));
    for c in "prune".chars() {
        decide(&mut app, KeyCode::Char(c));
    }
    assert_eq!(
        decide(&mut app, KeyCode::Enter),
        [Effect::OpenWizard(WizardKind::Prune)]
    );
    assert!(app.wizard.is_none());

    // d, then the name typed and Enter: delete (a wrong name decides nothing).
    select_backup(&mut app, &id(&f.cfg));
    assert!(decide(&mut app, KeyCode::Char('d')).is_empty());
    for c in "pre-deplo".chars() {
        decide(&mut app, KeyCode::Char(c));
    }
    assert!(decide(&mut app, KeyCode::Enter).is_empty(), "wrong name");
    for c in "pre-deploy".chars() {
        decide(&mut app, KeyCode::Char(c));
    }
    assert_eq!(
        decide(&mut app, KeyCode::Enter),
        [Effect::Delete(id(&f.cfg))]
    );

    // c on an active job, then y: cancel it.
    let cat = lifeboat_engine::catalog::Catalog::open(&f.sb.catalog).unwrap();
    let job = cat
        .create_job(&JobKind::Verify, "x", "elsewhere", 1, JobState::Queued)
        .unwrap();
    drop(cat);
    app.refresh(true);
    decide(&mut app, KeyCode::Char('3'));
    let i = app.jobs.iter().position(|j| j.id == job).unwrap();
    decide(&mut app, KeyCode::Char('g'));
    for _ in 0..i {
        decide(&mut app, KeyCode::Char('j'));
    }
    assert!(decide(&mut app, KeyCode::Char('c')).is_empty());
    assert_eq!(
        decide(&mut app, KeyCode::Char('y')),
        [Effect::CancelJob(job)]
    );

    // Nothing was started, deleted or cancelled: deciding is not doing.
    assert!(app.children.is_empty());
    assert_eq!(app.backups.len(), 3);
    let jobs = f.sb.jobs();
    assert_eq!(
        jobs.len(),
        jobs_before + 1,
        "only the test's own job: {jobs:?}"
    );
    assert_eq!(f.sb.job(job)["state"], "queued");

    // Running the cancel does it.
    app.run_effect(Effect::CancelJob(job));
    assert_eq!(f.sb.job(job)["state"], "cancelled");
}

/// The timer and a background result decide like a key: state changes and
/// effects, nothing read until the effects run. The clock the views draw
/// against is the one the timer was given.
#[test]
fn the_timer_and_results_decide_effects_and_read_nothing_until_they_run() {
    use lifeboat_console::background::{BgResult, Task};
    use std::time::Instant;
    let f = fixture();
    let mut app = app_for(&f.sb, true);
    let t0 = Instant::now();
    let at = chrono::Utc::now() + chrono::Duration::hours(5);
    assert_eq!(
        app.on_tick(t0, at),
        [Effect::Refresh { force: false }],
        "the checks ran when the console opened; only the catalog probe is due"
    );
    assert_eq!(app.now, at);

    // Idle: minutes go by and nothing is re-evaluated (an idle console
    // costs next to nothing); only the cheap catalog probe runs.
    assert_eq!(
        app.on_tick(t0 + Duration::from_secs(170), at),
        [Effect::Refresh { force: false }]
    );

    // Work happens elsewhere; the next tick decides to look, and only the
    // look finds it.
    let jobs_before = app.jobs.len();
    f.sb.backup("configuration", &[]);
    let decided = app.on_tick(t0 + Duration::from_secs(171), at);
    assert_eq!(decided, [Effect::Refresh { force: false }]);
    assert_eq!(app.jobs.len(), jobs_before, "deciding read nothing");
    for e in decided {
        app.run_effect(e);
    }
    assert_eq!(
        app.jobs.len(),
        jobs_before + 1,
        "the refresh read the new job"
    );
    // A new backup changes what health and storage say: both are due at
    // once, not at their backstops (a forced look: the quick one may have
    // skipped the backups, which it reads at most every 2 s).
    app.run_effect(Effect::Refresh { force: true });
    assert!(
        app.in_flight.contains(&Task::Storage),
        "{:?}",
        app.in_flight
    );
    let decided = app.on_tick(t0 + Duration::from_secs(177), at);
    assert!(
        decided.contains(&Effect::Check(Task::Health)),
        "{decided:?}"
    );
    assert!(app.settle(SETTLE));

    // R re-checks everything now.
    let decided = app.update(KeyEvent::new(KeyCode::Char('R'), KeyModifiers::NONE));
    assert_eq!(decided, [Effect::Check(Task::Audit)]);
    let decided = app.on_tick(t0 + Duration::from_secs(178), at);
    for task in [Task::Health, Task::Storage, Task::Restore] {
        assert!(decided.contains(&Effect::Check(task)), "{decided:?}");
    }

    // A finished delete: say so, close the detail, reload everything.
    assert_eq!(
        app.on_result(BgResult::Deleted {
            id: "x".into(),
            result: Ok("deleted backup x".into()),
        }),
        [Effect::Refresh { force: true }]
    );
    assert!(app
        .message
        .as_ref()
        .unwrap()
        .text
        .contains("deleted backup x"));
    assert!(app.settle(SETTLE));
}

/// A job whose process is killed with -9 writes nothing more: the console
/// alone (no CLI command runs after the kill) must see it is dead, settle
/// it as interrupted, and measure its duration to its last sign of life,
/// not to when it noticed.
#[test]
fn a_job_killed_with_9_turns_interrupted_on_screen_without_any_cli_command() {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    let b = sb.backup("filesystem", &[]);
    let target = sb.dir.path().join("killed-target");
    let mut child = sb
        .cmd()
        .env("LIFEBOAT_HOLD_AT", "restore.writing")
        .args(["restore", "--id", &id_of(&b), "--target"])
        .arg(&target)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let job = sb.wait_running("restore", 60)["id"].as_i64().unwrap();
    let mut app = app_for(&sb, false);
    key(&mut app, '3');
    assert_eq!(app.screen, Screen::Jobs);
    let row = |app: &Console| app.jobs.iter().find(|j| j.id == job).cloned();
    assert_eq!(
        row(&app).expect("the job is listed").state,
        JobState::Running
    );

    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let killed_at = chrono::Utc::now();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while row(&app).is_some_and(|j| j.state == JobState::Running) {
        assert!(
            std::time::Instant::now() < deadline,
            "the killed job still shows as running after 60 s:\n{}",
            text(&mut app, 120, 30)
        );
        app.tick();
        app.pump(Duration::from_millis(100));
    }
    let j = row(&app).unwrap();
    assert_eq!(j.state, JobState::Interrupted, "{j:?}");
    assert!(j.error.as_deref().unwrap_or("").contains("died"), "{j:?}");
    let finished = j.finished_at.expect("a finished time");
    assert!(
        finished <= killed_at,
        "the duration runs to the settle ({finished}), not to the death (before {killed_at})"
    );
    let frame = text(&mut app, 120, 30);
    assert!(frame.contains("interrupted"), "{frame}");
}

/// A wizard is a view of its work, not a lock on the console: while its
/// restore runs (held behind another job's lock on the target), 1-6 and
/// Tab go to the screens, Esc puts it aside, the tab bar says it is still
/// working, `w` brings it back, another wizard is refused rather than
/// orphaning the work, and `q` quits once nothing runs.
#[test]
fn a_running_wizard_does_not_lock_the_console() {
    let f = fixture();
    let full = id(&f.full);
    let mut app = app_for(&f.sb, false);
    select_backup(&mut app, &full);
    key(&mut app, 'r');
    let t = text(&mut app, 160, 45);
    let start = t
        .find("(*) a new directory: ")
        .unwrap_or_else(|| panic!("no new-directory target:\n{t}"))
        + "(*) a new directory: ".len();
    let target = t[start..].split_whitespace().next().unwrap().to_string();
    let lock = crate::wizards::hold_restore_lock(&f.sb, &target);
    code(&mut app, KeyCode::Enter);
    wait_for_frame(&mut app, "OK: lifeboat restore", "the dry run");
    code(&mut app, KeyCode::Enter);
    code(&mut app, KeyCode::Enter);
    wait_for_frame(&mut app, "waiting for restore target", "the held restore");
    assert!(app.wizard.as_ref().unwrap().is_running());

    // 3: the Jobs screen, the wizard still open and working.
    key(&mut app, '3');
    assert_eq!(app.screen, Screen::Jobs);
    assert!(app.wizard_hidden && app.wizard.is_some());
    let t = text(&mut app, 160, 45);
    assert!(t.contains("JOB"), "the Jobs screen is drawn:\n{t}");
    assert!(t.contains("working, w shows it"), "{t}");
    app.tick();
    assert!(app.wizard.as_ref().unwrap().is_running());
    // Tab moves between screens as usual while it is aside.
    code(&mut app, KeyCode::Tab);
    assert_eq!(app.screen, Screen::Health);

    // w brings it back; Esc while it runs puts it aside again.
    key(&mut app, 'w');
    assert!(!app.wizard_hidden);
    let t = text(&mut app, 160, 45);
    assert!(t.contains("waiting for restore target"), "{t}");
    code(&mut app, KeyCode::Esc);
    assert!(
        app.wizard_hidden,
        "Esc did not put the running wizard aside"
    );
    assert!(
        app.message
            .as_ref()
            .is_some_and(|m| m.text.contains("w brings it back")),
        "{:?}",
        app.message
    );

    // Another wizard would leave this work without a view: refused.
    key(&mut app, ':');
    typed(&mut app, "backup");
    code(&mut app, KeyCode::Enter);
    assert!(
        app.message
            .as_ref()
            .is_some_and(|m| m.text.contains("still working")),
        "{:?}",
        app.message
    );
    assert!(!app.wizard_hidden, "the refusal shows the working wizard");
    assert!(app.wizard.as_ref().unwrap().title().contains("estore"));

    // Cancel it, then q quits (nothing runs any more).
    key(&mut app, 'x');
    wait_for_frame(
        &mut app,
        "FAILED: lifeboat restore",
        "the cancelled restore",
    );
    drop(lock);
    key(&mut app, 'q');
    assert!(app.quit, "q in a finished wizard quits: {:?}", app.overlay);
}

// ---- the dashboard's problem lines, disk gauge, jobs; screens without a catalog ----

/// A sandbox with an empty repository: the console creates the catalog
/// (as every verb does) and finds no backups.
fn empty_sandbox() -> Sandbox {
    let sb = Sandbox::new();
    std::fs::create_dir_all(&sb.repo).unwrap();
    sb
}

/// The `N` of the disk gauge's label, `disk X used of Y (N%), Z free`.
fn gauge_percent(frame: &str) -> u32 {
    let line = frame
        .lines()
        .find(|l| l.contains("disk ") && l.contains(" used of "))
        .unwrap_or_else(|| panic!("no disk gauge:\n{frame}"));
    let start = line.find(" used of ").unwrap();
    let start = line[start..].find('(').unwrap() + start + 1;
    let end = line[start..].find("%)").unwrap() + start;
    line[start..end]
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {line}"))
}

#[test]
fn the_disk_gauge_shows_the_health_checks_percent() {
    let sb = empty_sandbox();
    let mut app = app_for(&sb, true);
    // Measured on this machine: the gauge and the check read the disk at
    // different moments, so allow one point for what others write meanwhile.
    let check: u32 = {
        let h = app.health.as_ref().expect("health was evaluated");
        let c = h.checks.iter().find(|c| c.id == "disk").unwrap();
        c.value.split('%').next().unwrap().parse().unwrap()
    };
    let dash = text(&mut app, 80, 24);
    assert!(
        gauge_percent(&dash).abs_diff(check) <= 1,
        "the health check says {check}%:\n{dash}"
    );

    // A disk with 10 GiB reserved for root: df (and the health check)
    // count 70 of the 90 GiB anyone may use, 78%; counting the reserve as
    // used would say 80%.
    const GIB: u64 = 1 << 30;
    let mut s = app.storage.clone().unwrap().unwrap();
    s.disk_total = 100 * GIB;
    s.disk_used = 70 * GIB;
    s.disk_free = 20 * GIB;
    let health = lifeboat_engine::health::disk::DiskSpace {
        total: s.disk_total,
        free: s.disk_free,
        used: s.disk_used,
    }
    .used_percent();
    assert_eq!(format!("{health:.0}"), "78");
    app.storage = Some(Ok(s));
    assert_eq!(gauge_percent(&text(&mut app, 80, 24)), 78, "Dashboard");
    key(&mut app, '5');
    assert_eq!(gauge_percent(&text(&mut app, 80, 24)), 78, "Storage screen");
}

#[test]
fn the_dashboard_shows_a_critical_first_and_counts_what_does_not_fit() {
    use lifeboat_engine::health::{Check, HealthReport, Status};
    let sb = empty_sandbox();
    let mut app = app_for(&sb, true);
    let check = |id: &str, title: &str, status, value: &str| Check {
        id: id.into(),
        title: title.into(),
        status,
        value: value.into(),
        threshold: String::new(),
        advice: "do something".into(),
    };
    // In check order: one that could not be evaluated, eight warnings,
    // and PostgreSQL down last.
    let mut checks = vec![check(
        "key_file",
        "Encryption key file",
        Status::Warning,
        "cannot be evaluated: permission denied",
    )];
    for i in 1..=8 {
        checks.push(check(
            &format!("w{i}"),
            &format!("Check w{i}"),
            Status::Warning,
            "too old",
        ));
    }
    checks.push(check(
        "postgres",
        "PostgreSQL reachable",
        Status::Critical,
        "connection refused",
    ));
    app.health = Some(HealthReport::new(chrono::Utc::now(), checks));

    // 80x24: 21 rows for the screen, 14 for the rest, 7 for problems.
    let dash = text(&mut app, 80, 24);
    let rows: Vec<&str> = dash.lines().collect();
    assert!(
        rows[1].starts_with("Health: CRITICAL - 10 of 10 checks"),
        "{dash}"
    );
    assert!(
        rows[2].starts_with("CRITICAL PostgreSQL reachable: connection refused"),
        "the critical comes first:\n{dash}"
    );
    for (row, i) in (3..=7).zip(1..) {
        assert!(
            rows[row].starts_with(&format!("WARNING Check w{i}: too old")),
            "warnings in check order:\n{dash}"
        );
    }
    assert!(
        rows[8].starts_with("+4 more (3 warning, 1 unknown): Health screen (4)"),
        "what does not fit is counted:\n{dash}"
    );
    assert!(rows[9].contains("Backups"), "{dash}");
    assert!(
        !dash.contains("Encryption key file"),
        "the check that could not be evaluated is the least pressing:\n{dash}"
    );

    // A taller terminal shows them all, the unknown one last.
    let tall = text(&mut app, 80, 40);
    assert!(!tall.contains(" more ("), "{tall}");
    let rows: Vec<&str> = tall.lines().collect();
    assert!(rows[2].starts_with("CRITICAL PostgreSQL"), "{tall}");
    assert!(rows[10].starts_with("WARNING Check w8"), "{tall}");
    assert!(
        rows[11].starts_with("WARNING Encryption key file: cannot be evaluated"),
        "{tall}"
    );
}

#[test]
fn a_queued_job_is_counted_as_queued_not_running() {
    let sb = empty_sandbox();
    let mut app = app_for(&sb, true);
    let cat = lifeboat_engine::catalog::Catalog::open(&sb.catalog).unwrap();
    cat.create_job(
        &JobKind::Verify,
        "queued-target",
        "elsewhere",
        1,
        JobState::Queued,
    )
    .unwrap();
    app.refresh(true);
    let dash = text(&mut app, 80, 24);
    assert!(dash.contains("Running jobs: 0 (+1 queued)"), "{dash}");
    assert!(dash.contains("no job is running"), "{dash}");
    assert!(!dash.contains("queued-target"), "{dash}");

    let running = cat
        .create_job(
            &JobKind::Backup,
            "running-target",
            "elsewhere",
            1,
            JobState::Running,
        )
        .unwrap();
    drop(cat);
    app.refresh(true);
    let dash = text(&mut app, 80, 24);
    assert!(dash.contains("Running jobs: 1 (+1 queued)"), "{dash}");
    let row = dash
        .lines()
        .find(|l| l.contains("running-target"))
        .unwrap_or_else(|| panic!("the running job is listed:\n{dash}"));
    assert!(row.contains(&running.to_string()), "{dash}");
    assert!(!dash.contains("queued-target"), "{dash}");
}

/// The words of a frame's screen area (no tabs, status line or footer),
/// borders taken out, so a wrapped sentence reads as one.
fn screen_words(frame: &str) -> String {
    let rows: Vec<&str> = frame.lines().collect();
    rows[1..rows.len() - 2]
        .iter()
        .map(|l| l.replace(['│', '┌', '┐', '└', '┘', '─'], " "))
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn without_catalog_and_repository_the_screens_say_why_not_evaluating() {
    let sb = Sandbox::new();
    let mut app = app_for(&sb, true);
    assert!(!app.catalog_open);
    let why = "does not exist yet, and neither does the repository: the first backup creates both";

    let dash = text(&mut app, 80, 24);
    assert!(
        dash.contains("Health: NOT EVALUATED - no catalog is open (see below)"),
        "{dash}"
    );
    assert!(dash.contains("CATALOG catalog "), "{dash}");
    assert!(dash.contains("storage: not measured"), "{dash}");
    assert!(dash.contains("RTO not measured"), "{dash}");

    for (k, said) in [
        ('4', "no health report without a catalog: catalog "),
        ('5', "no storage report without a catalog: catalog "),
        ('6', "no audit log without a catalog: catalog "),
    ] {
        key(&mut app, k);
        let t = text(&mut app, 80, 24);
        let words = screen_words(&t);
        assert!(words.contains(said), "{t}");
        assert!(words.contains(why), "{t}");
        for waiting in ["evaluating", "measuring", "verifying"] {
            assert!(!t.contains(waiting), "{waiting}:\n{t}");
        }
    }
    let audit = text(&mut app, 80, 24);
    assert!(audit.contains("hash chain: NOT CHECKED"), "{audit}");
    assert!(!sb.repo.exists() && !sb.catalog.exists());
}

#[test]
fn s_and_shift_s_agree_in_the_title_the_status_line_and_the_header() {
    let f = fixture();
    let mut app = app_for(&f.sb, true);
    key(&mut app, '2');
    let header = |t: &str| -> String {
        t.lines()
            .find(|l| l.contains("TYPE") && l.contains("STATUS"))
            .unwrap_or_else(|| panic!("no table header:\n{t}"))
            .to_string()
    };
    let t = text(&mut app, 80, 24);
    assert!(t.contains("sort: created desc"), "{t}");
    assert!(header(&t).contains("CREATED▼"), "{t}");

    key(&mut app, 's');
    let t = text(&mut app, 80, 24);
    assert!(t.contains("sort: type desc"), "{t}");
    assert!(t.contains("sorted by type (descending)"), "{t}");
    let h = header(&t);
    assert!(h.contains("TYPE▼") && !h.contains("CREATED▼"), "{t}");

    key(&mut app, 'S');
    let t = text(&mut app, 80, 24);
    assert!(t.contains("sort: type asc"), "{t}");
    assert!(
        t.contains("sorted by type (ascending)"),
        "the status line follows S as it follows s:\n{t}"
    );
    let h = header(&t);
    assert!(h.contains("TYPE▲") && !h.contains('▼'), "{t}");

    // Every column `s` sorts by is marked, one at a time, and fits.
    for _ in 0..6 {
        key(&mut app, 's');
        let t = text(&mut app, 80, 24);
        let name = match app.sort.label() {
            "verified" => "VERIF".to_string(),
            other => other.to_uppercase(),
        };
        let h = header(&t);
        assert!(h.contains(&format!("{name}▲")), "{t}");
        assert_eq!(h.matches(['▲', '▼']).count(), 1, "{t}");
        assert!(
            t.contains(&format!("sorted by {} (ascending)", app.sort.label())),
            "{t}"
        );
    }
    assert_eq!(app.sort.label(), "created", "s went round every column");
}

/// The quit dialog tells queued jobs (they go on) from what a wizard runs
/// inside the console: the recovery wizard's app stop command is a shell
/// child of the console, abandoned if it quits, and the dialog says so.
#[test]
fn quit_names_the_wizards_stop_command_as_abandoned_not_as_a_job() {
    let root = tempfile::tempdir().unwrap();
    let release = root.path().join("release");
    let sb = Sandbox::new();
    // A stop command that runs until the test lets it end.
    sb.write_config(&format!(
        "[app]\nstop_command = \"while [ ! -f '{}' ]; do sleep 0.1; done\"\n",
        release.display()
    ));
    sb.ok(&["list"]);
    let mut app = app_for(&sb, false);
    key(&mut app, ':');
    typed(&mut app, "recover");
    code(&mut app, KeyCode::Enter);
    assert!(app.wizard.is_some(), "{:?}", app.message);
    code(&mut app, KeyCode::Enter);
    typed(&mut app, "STOP");
    code(&mut app, KeyCode::Enter);
    assert!(app.wizard.as_ref().unwrap().is_running());

    key(&mut app, 'q');
    assert!(!app.quit);
    match &app.overlay {
        Overlay::Confirm(c) => match &c.kind {
            ConfirmKind::Quit { running, abandoned } => {
                assert!(running.is_empty(), "{running:?}");
                assert_eq!(abandoned.len(), 2, "{abandoned:?}");
                assert!(
                    abandoned[0].starts_with("the app stop command `while"),
                    "{abandoned:?}"
                );
                // The runbook itself, part-way through, is lost too.
                assert!(
                    abandoned[1].starts_with("the recovery runbook at step Isolate"),
                    "{abandoned:?}"
                );
            }
            other => panic!("not the quit dialog: {other:?}"),
        },
        other => panic!("q did not ask: {other:?}"),
    }
    let t = text(&mut app, 100, 30);
    let flat = t.replace(['│', '\n'], " ");
    let flat = flat.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("run inside this console and are abandoned if you quit"),
        "{t}"
    );
    assert!(flat.contains("the app stop command `while"), "{t}");
    assert!(flat.contains("(abandoned if you quit)"), "{t}");
    assert!(!flat.contains("keep running as jobs"), "{t}");
    key(&mut app, 'n');
    assert!(!app.quit);

    std::fs::write(&release, "").unwrap();
    wait_for(30, "the stop command to end", || {
        app.tick();
        app.pump(Duration::from_millis(50));
        (!app.wizard.as_ref().unwrap().is_running()).then_some(())
    });
    // Nothing runs any more, but the runbook is part-way (the app is
    // stopped): q still asks, naming only that.
    key(&mut app, 'q');
    assert!(!app.quit);
    match &app.overlay {
        Overlay::Confirm(c) => match &c.kind {
            ConfirmKind::Quit { running, abandoned } => {
                assert!(running.is_empty(), "{running:?}");
                assert_eq!(abandoned.len(), 1, "{abandoned:?}");
                assert!(
                    abandoned[0].contains("the app it stopped is not started again"),
                    "{abandoned:?}"
                );
            }
            other => panic!("not the quit dialog: {other:?}"),
        },
        other => panic!("q did not ask: {other:?}"),
    }
}

/// The dashboard's objectives are the configured ones, also when there is
/// no database backup yet (it used to say "target 1h" whatever the config).
#[test]
fn dashboard_objectives_come_from_the_config() {
    let sb = Sandbox::new();
    sb.write_config(
        "[sources.database]\nurl = \"postgresql://lifeboat@127.0.0.1:1/panel\"\n[health]\nrto_minutes = 90\n[health.rpo_minutes]\ndatabase = 15\n",
    );
    sb.ok(&["list"]);
    let mut app = app_for(&sb, false);
    let t = text(&mut app, 120, 30);
    assert!(t.contains("no database backup yet (target 15m 00s)"), "{t}");
    assert!(t.contains("(target 1h 30m)"), "{t}");
    assert!(!t.contains("target 1h)"), "{t}");
}

// ---- trends ----

/// The frame's row that starts with `label` (a trend row: the type name
/// and its pictures), from its first character.
fn row_of<'a>(frame: &'a str, label: &str) -> &'a str {
    frame
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no row starts with {label:?}:\n{frame}"))
}

/// The colour of the first `symbol` on the row that starts with `label`.
fn colour_of(t: &Terminal<TestBackend>, label: &str, symbol: &str) -> Color {
    let buf = t.backend().buffer();
    let width = buf.area.width;
    (0..buf.area.height)
        .find(|&y| {
            let row: String = (0..width).map(|x| buf[(x, y)].symbol()).collect();
            row.starts_with(label)
        })
        .and_then(|y| {
            (0..width)
                .map(|x| &buf[(x, y)])
                .find(|c| c.symbol() == symbol)
        })
        .unwrap_or_else(|| panic!("no {symbol} on the row of {label:?}"))
        .fg
}

#[test]
fn the_dashboard_draws_each_types_recent_backups() {
    let f = fixture();
    // A third filesystem backup that fails.
    std::fs::remove_dir_all(f.sb.app.join("logs")).unwrap();
    assert!(!f
        .sb
        .run(&["backup", "--type", "filesystem"])
        .status
        .success());
    let mut app = app_for(&f.sb, false);
    let types: Vec<&str> = app.trends.iter().map(|t| t.backup_type.as_str()).collect();
    assert_eq!(types, ["database", "filesystem", "configuration"]);

    // Wide: header, sizes, outcomes, durations and words, oldest left.
    let wide = text(&mut app, 200, 50);
    let header = row_of(&wide, "TREND");
    for word in ["SIZE", "OUTCOME ▪ok ✗failed !warn", "DURATION", "LAST 30"] {
        assert!(header.contains(word), "{word}:\n{wide}");
    }
    let fs = row_of(&wide, "filesystem    ");
    assert!(
        fs.contains("█▁ "),
        "the full backup is the tallest, the incremental the smallest bar:\n{wide}"
    );
    assert!(fs.contains(" ▪▪✗ "), "{wide}");
    assert!(fs.contains("2/3 ok, 1 failed; latest "), "{wide}");
    let cfg = row_of(&wide, "configuration ");
    assert!(
        cfg.contains(" ▪ ") && cfg.contains("1/1 ok; latest "),
        "{wide}"
    );
    assert!(row_of(&wide, "database      ").contains("not configured"));
    // Colour repeats the mark; without colour the mark is still there.
    let t = draw(&mut app, 200, 50);
    assert_eq!(colour_of(&t, "filesystem    ", "✗"), Color::Red);
    assert_eq!(colour_of(&t, "filesystem    ", "▪"), Color::Green);
    let mut plain = app_for(&f.sb, true);
    let t = draw(&mut plain, 200, 50);
    assert_eq!(colour_of(&t, "filesystem    ", "✗"), Color::Reset);
    assert!(row_of(&text(&mut plain, 200, 50), "filesystem    ").contains(" ▪▪✗ "));

    // 80x24 with four problems: the rows without their header, fewer
    // words, and every problem still on screen.
    let narrow = text(&mut app, 80, 24);
    assert!(!narrow.contains("TREND"), "{narrow}");
    let fs = row_of(&narrow, "filesystem    ");
    assert!(
        fs.contains(" ▪▪✗ ") && fs.contains("2/3 ok, 1 failed"),
        "{narrow}"
    );
    assert_eq!(
        narrow
            .lines()
            .filter(|l| l.starts_with("CRITICAL ") || l.starts_with("WARNING "))
            .count(),
        4,
        "{narrow}"
    );
    assert!(!narrow.contains(" more ("), "{narrow}");

    // More problems than rows: the pictures give way, the problems do not.
    use lifeboat_engine::health::{Check, HealthReport, Status};
    let checks = (1..=6)
        .map(|i| Check {
            id: format!("w{i}"),
            title: format!("Check w{i}"),
            status: Status::Warning,
            value: "too old".into(),
            threshold: String::new(),
            advice: String::new(),
        })
        .collect();
    app.health = Some(HealthReport::new(chrono::Utc::now(), checks));
    let crowded = text(&mut app, 80, 24);
    assert!(crowded.contains("WARNING Check w6"), "{crowded}");
    assert!(!crowded.contains("▪▪✗"), "{crowded}");
}

#[test]
fn a_backup_that_failed_before_writing_its_row_shows_in_the_trend() {
    let sb = Sandbox::with_extra_config(
        "[sources.database]\nurl = \"postgresql://lifeboat@127.0.0.1:1/panel\"\n",
    );
    populate(&sb.app);
    sb.generate_key();
    sb.backup("filesystem", &[]);
    let mut app = app_for(&sb, true);
    assert!(row_of(&text(&mut app, 200, 50), "database      ").contains("no backups yet"));
    let backups = app.backups.len();

    // The server is down: the backup fails before it writes a row, so
    // only its job changes.
    assert!(!sb.run(&["backup", "--type", "database"]).status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let frame = loop {
        app.tick();
        let t = text(&mut app, 200, 50);
        if row_of(&t, "database      ").contains("0/1 ok, 1 failed") {
            break t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the failed database backup never showed:\n{t}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(row_of(&frame, "database      ").contains(" ✗ "), "{frame}");
    assert_eq!(app.backups.len(), backups, "no backup row was written");
    let db = &app.trends[0];
    assert_eq!(db.points.len(), 1);
    assert!(db.points[0].backup_id.is_none() && db.points[0].job_id.is_some());
}

#[test]
fn the_detail_pane_marks_the_backup_in_its_types_trend() {
    let f = fixture();
    let mut app = app_for(&f.sb, true);
    select_backup(&mut app, &id(&f.incr));
    code(&mut app, KeyCode::Enter);
    let (trend, at) = app.detail.as_ref().unwrap().trend.clone().unwrap();
    assert_eq!(
        (trend.points.len(), at),
        (2, Some(1)),
        "full, then incremental"
    );
    for (w, h) in [(80u16, 24u16), (200, 50)] {
        let frame = text(&mut app, w, h);
        let outcomes = row_of(&frame, "│outcomes");
        let marker = frame
            .lines()
            .find(|l| l.contains("^ this backup (2 of 2, oldest left)"))
            .unwrap_or_else(|| panic!("no marker:\n{frame}"));
        let strip_at = outcomes.chars().position(|c| c == '▪').unwrap();
        let mark_at = marker.chars().position(|c| c == '^').unwrap();
        assert_eq!(
            mark_at,
            strip_at + 1,
            "the ^ is under the second mark:\n{frame}"
        );
        assert!(row_of(&frame, "│size trend").contains("█▁"), "{frame}");
        assert!(
            frame.contains("filesystem (incremental)"),
            "the details stay:\n{frame}"
        );
    }
    // Another type: its own history.
    code(&mut app, KeyCode::Esc);
    select_backup(&mut app, &id(&f.cfg));
    code(&mut app, KeyCode::Enter);
    let frame = text(&mut app, 80, 24);
    assert!(
        frame.contains("^ this backup (1 of 1, oldest left)"),
        "{frame}"
    );
}

// ---- the palette's Tab completion and history ----

#[test]
fn the_palette_completes_with_tab_and_recalls_with_the_arrows() {
    let f = fixture();
    let mut app = app_for(&f.sb, true);
    // One command starts with "jo".
    key(&mut app, ':');
    typed(&mut app, "jo");
    code(&mut app, KeyCode::Tab);
    match &app.overlay {
        Overlay::Palette(p) => assert_eq!(p.text, "jobs"),
        o => panic!("{o:?}"),
    }
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Jobs);

    // Two start with "re": both shown, Tab steps through them.
    key(&mut app, ':');
    typed(&mut app, "re");
    code(&mut app, KeyCode::Tab);
    for (w, h) in [(80u16, 24u16), (200, 50)] {
        let t = text(&mut app, w, h);
        let status = t.lines().nth(usize::from(h) - 2).unwrap();
        assert!(
            status.contains(":restore_") && status.contains("restore  recover"),
            "{t}"
        );
        assert!(
            t.contains("Tab complete") && t.contains("↑/↓ history"),
            "{t}"
        );
    }
    code(&mut app, KeyCode::Tab);
    assert!(text(&mut app, 80, 24).contains(":recover_"));
    code(&mut app, KeyCode::Esc);

    // The argument of verify completes from the catalog's backup ids.
    let cfg = id(&f.cfg);
    decide(&mut app, KeyCode::Char(':'));
    for c in format!("verify {}", &cfg[..3]).chars() {
        decide(&mut app, KeyCode::Char(c));
    }
    decide(&mut app, KeyCode::Tab);
    assert_eq!(
        decide(&mut app, KeyCode::Enter),
        [Effect::Launch(JobRequest::Verify {
            target: cfg.clone(),
            deep: false,
            from: None,
        })]
    );

    // ↑ walks back through this session's commands, ↓ forward to what
    // was being typed.
    key(&mut app, '1');
    key(&mut app, ':');
    typed(&mut app, "heal");
    code(&mut app, KeyCode::Up);
    assert!(text(&mut app, 80, 24).contains(&format!(":verify {cfg}_")));
    code(&mut app, KeyCode::Up);
    assert!(text(&mut app, 80, 24).contains(":jobs_"));
    code(&mut app, KeyCode::Down);
    code(&mut app, KeyCode::Down);
    assert!(text(&mut app, 80, 24).contains(":heal_"));
    code(&mut app, KeyCode::Up);
    code(&mut app, KeyCode::Up);
    assert_eq!(app.screen, Screen::Dashboard);
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Jobs, "the recalled :jobs ran");
    let unknown = app
        .message
        .as_ref()
        .map(|m| m.text.clone())
        .unwrap_or_default();
    assert!(
        unknown.is_empty() || !unknown.contains("unknown"),
        "{unknown}"
    );
}

// ---- the message history ----

#[test]
fn the_message_history_keeps_what_the_status_line_said_whole() {
    use lifeboat_console::app::Level;
    let sb = empty_sandbox();
    let mut app = app_for(&sb, true);
    app.history.clear();
    // A real error longer than a row: the status line wraps it (up to
    // three rows), and M keeps it whole too.
    key(&mut app, ':');
    typed(&mut app, "frobnicate");
    code(&mut app, KeyCode::Enter);
    let t = text(&mut app, 80, 24);
    let status: String = t.lines().skip(20).take(3).collect::<Vec<_>>().join(" ");
    assert!(status.contains("unknown command ':frobnicate'"), "{t}");
    assert!(status.contains("(Tab completes)"), "{t}");
    app.say(Level::Info, "first, an info");
    app.say(Level::Warn, "then a warning");
    app.say(Level::Warn, "then a warning");

    key(&mut app, 'M');
    assert_eq!(app.overlay, Overlay::Messages);
    for (w, h) in [(80u16, 24u16), (200, 50)] {
        let t = text(&mut app, w, h);
        assert!(t.contains("Messages: 3 (newest first"), "{t}");
        // Newest first, the repeat counted, the error whole (wrapped).
        let warn = t
            .find("warning: then a warning (x2)")
            .unwrap_or_else(|| panic!("{t}"));
        let info = t.find("first, an info").unwrap();
        let err = t.find("error: unknown command ':frobnicate'").unwrap();
        assert!(warn < info && info < err, "{t}");
        assert!(t.contains("completes)"), "the end of the error: {t}");
    }
    code(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay, Overlay::None);

    // The last 200 are kept; the list scrolls and G reaches the oldest.
    for i in 0..250 {
        app.say(Level::Info, format!("message number {i}"));
    }
    assert_eq!(app.history.len(), 200);
    assert_eq!(app.history[0].text, "message number 50");
    key(&mut app, ':');
    typed(&mut app, "messages");
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.overlay, Overlay::Messages);
    // The popup's rows (the status line below says the newest too).
    let popup = |app: &mut Console| -> String {
        let t = text(app, 80, 24);
        t.lines().take(22).collect::<Vec<_>>().join("\n")
    };
    let t = popup(&mut app);
    assert!(
        t.contains("message number 249") && !t.contains("message number 50 "),
        "{t}"
    );
    key(&mut app, 'G');
    let t = popup(&mut app);
    assert!(t.contains("message number 50 "), "the oldest kept: {t}");
    assert!(!t.contains("message number 249"), "{t}");
    assert!(t.contains("entries 185-200 of 200"), "{t}");
    code(&mut app, KeyCode::PageUp);
    assert!(popup(&mut app).contains("entries 169-184 of 200"));
    key(&mut app, 'k');
    assert!(popup(&mut app).contains("entries 168-183 of 200"));
    key(&mut app, 'g');
    assert!(popup(&mut app).contains("message number 249"));
    key(&mut app, 'M');
    assert_eq!(app.overlay, Overlay::None, "M closes it too");
}

// ---- the full-screen job log ----

/// A job of another host, written straight into the sandbox's catalog,
/// with `lines` log lines: "step N: copied uploads/file-N.bin", every 40th
/// a warning, step 7 with a word to search for. Running, or `finished`
/// in that state.
fn job_with_log(sb: &Sandbox, finished: Option<JobState>, lines: usize) -> i64 {
    let cat = lifeboat_engine::catalog::Catalog::open(&sb.catalog).unwrap();
    let job = cat
        .create_job(
            &JobKind::Backup,
            "filesystem",
            "elsewhere",
            1,
            JobState::Running,
        )
        .unwrap();
    for i in 1..=lines {
        let level = if i % 40 == 0 { "warn" } else { "info" };
        let extra = if i == 7 {
            " (Needle in a haystack)"
        } else {
            ""
        };
        cat.job_log(
            job,
            level,
            &format!("step {i}: copied uploads/file-{i}.bin{extra}"),
        )
        .unwrap();
    }
    if let Some(state) = finished {
        cat.finish_job(job, state, None).unwrap();
    }
    job
}

fn log_line(sb: &Sandbox, job: i64, msg: &str) {
    let cat = lifeboat_engine::catalog::Catalog::open(&sb.catalog).unwrap();
    cat.job_log(job, "info", msg).unwrap();
    cat.heartbeat(job).unwrap();
}

/// The rows of the frame that hold log lines ("step N: ...").
fn steps_shown(frame: &str) -> Vec<u32> {
    frame
        .lines()
        .filter_map(|l| {
            let i = l.find("step ")?;
            l[i + 5..].split(':').next()?.parse().ok()
        })
        .collect()
}

fn open_log_of(app: &mut Console, job: i64) {
    key(app, '3');
    let i = app.jobs.iter().position(|j| j.id == job).unwrap();
    key(app, 'g');
    for _ in 0..i {
        key(app, 'j');
    }
    // Decided by the key, read by the effect.
    let decided = app.update(KeyEvent::new(KeyCode::Char('l'), KeyModifiers::NONE));
    assert_eq!(decided, [Effect::ReadFullLog(job)]);
    let v = app.log_view.as_ref().expect("the key opened the view");
    assert!(v.lines.is_empty() && !v.loaded, "the key read nothing");
    assert!(text(app, 80, 24).contains("reading the log"));
    for e in decided {
        app.run_effect(e);
    }
}

#[test]
fn the_job_log_opens_full_screen_follows_a_running_job_and_scrolls() {
    let sb = empty_sandbox();
    let job = job_with_log(&sb, None, 120);
    let mut app = app_for(&sb, true);
    open_log_of(&mut app, job);

    // Full screen, at the end, following: the newest lines fill the
    // screen above the position line.
    for (w, h) in [(80u16, 24u16), (200, 50)] {
        let t = text(&mut app, w, h);
        assert!(
            t.contains(&format!("Log of job {job} (backup filesystem, running)")),
            "{t}"
        );
        assert!(!t.contains("PROGRESS"), "the jobs table is not drawn: {t}");
        let steps = steps_shown(&t);
        assert_eq!(steps.last(), Some(&120), "{t}");
        // The body: 24 rows less the tab bar, status, footer, borders and
        // the position line.
        let room = usize::from(h) - 6;
        assert_eq!(steps.len(), room, "{t}");
        assert!(
            t.contains(&format!("following  lines {}-120 of 120", 121 - room)),
            "{t}"
        );
        assert!(
            t.contains("Esc close") && t.contains("f follow") && t.contains("/ search"),
            "{t}"
        );
    }

    // New lines show as the job logs them (the catalog probe reads only
    // what is new).
    log_line(&sb, job, "step 121: copied uploads/late.bin");
    app.tick();
    let t = text(&mut app, 80, 24);
    assert_eq!(steps_shown(&t).last(), Some(&121), "{t}");

    // Scrolling up stops following: new lines do not move the screen.
    code(&mut app, KeyCode::Up);
    let v = app.log_view.as_ref().unwrap();
    assert!(!v.follow);
    let t = text(&mut app, 80, 24);
    assert_eq!(steps_shown(&t).last(), Some(&120), "{t}");
    assert!(t.contains("paused (f or G follows)"), "{t}");
    log_line(&sb, job, "step 122: copied uploads/later.bin");
    app.tick();
    let t = text(&mut app, 80, 24);
    assert_eq!(steps_shown(&t).last(), Some(&120), "stays put: {t}");
    assert!(t.contains("of 122"), "{t}");
    // G follows again; g goes to the first line; PgDn a screenful on.
    key(&mut app, 'G');
    assert_eq!(steps_shown(&text(&mut app, 80, 24)).last(), Some(&122));
    key(&mut app, 'g');
    let t = text(&mut app, 80, 24);
    assert_eq!(steps_shown(&t)[..2], [1, 2], "{t}");
    code(&mut app, KeyCode::PageDown);
    assert_eq!(steps_shown(&text(&mut app, 80, 24))[0], 19);
    code(&mut app, KeyCode::PageUp);
    key(&mut app, 'j');
    assert_eq!(steps_shown(&text(&mut app, 80, 24))[0], 2);
    // f toggles following.
    key(&mut app, 'f');
    assert!(app.log_view.as_ref().unwrap().follow);
    assert_eq!(steps_shown(&text(&mut app, 80, 24)).last(), Some(&122));
    key(&mut app, 'f');
    assert!(!app.log_view.as_ref().unwrap().follow);

    // The help names the log's keys.
    key(&mut app, '?');
    let t = text(&mut app, 100, 40);
    assert!(
        t.contains("Keys: job log") && t.contains("follow: stay on the newest line"),
        "{t}"
    );
    assert!(
        t.contains("close the log") && t.contains("previous match"),
        "{t}"
    );
    key(&mut app, 'x');

    // Esc closes it, back to the Jobs screen (it never quits).
    code(&mut app, KeyCode::Esc);
    assert!(app.log_view.is_none());
    assert!(!app.quit);
    let t = text(&mut app, 80, 24);
    assert!(t.contains("PROGRESS") && t.contains("l/Enter log"), "{t}");
    // Enter opens it too; a screen key leaves it.
    code(&mut app, KeyCode::Enter);
    assert!(app.log_view.is_some());
    key(&mut app, '1');
    assert_eq!(app.screen, Screen::Dashboard);
    assert!(app.log_view.is_none());
}

#[test]
fn the_job_log_of_a_finished_job_starts_at_the_top_and_searches() {
    let sb = empty_sandbox();
    let job = job_with_log(&sb, Some(JobState::Succeeded), 120);
    let mut app = app_for(&sb, true);
    open_log_of(&mut app, job);
    let v = app.log_view.as_ref().unwrap();
    assert!(!v.follow, "a finished job is read from its start");
    let t = text(&mut app, 80, 24);
    assert_eq!(steps_shown(&t)[0], 1, "{t}");

    // / searches as it is typed (case-insensitive), from the screen on.
    key(&mut app, 'G');
    key(&mut app, '/');
    assert_eq!(app.overlay, Overlay::LogSearch);
    typed(&mut app, "NEEDLE");
    let t = text(&mut app, 80, 24);
    assert!(
        t.contains("search /NEEDLE_") && t.contains("1 matching lines"),
        "{t}"
    );
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.overlay, Overlay::None);
    assert_eq!(app.log_view.as_ref().unwrap().current, Some(6));
    // The match is on screen and drawn reversed (not by colour alone).
    let term = draw(&mut app, 80, 24);
    let buf = term.backend().buffer();
    let t = text(&mut app, 80, 24);
    assert!(t.contains("/NEEDLE: match 1 of 1"), "{t}");
    let (y, row) = t
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("Needle"))
        .unwrap_or_else(|| panic!("{t}"));
    // A column is a character (the border is one, of three bytes).
    let x = row[..row.find("Needle").unwrap()].chars().count();
    let cell = buf.cell((x as u16, y as u16)).unwrap();
    assert!(
        cell.modifier.contains(ratatui::style::Modifier::REVERSED),
        "{cell:?}"
    );
    let before = buf.cell((x as u16 - 2, y as u16)).unwrap();
    assert!(!before.modifier.contains(ratatui::style::Modifier::REVERSED));

    // The level is searched too: three warnings, n and N step and wrap.
    key(&mut app, '/');
    typed(&mut app, "warn");
    code(&mut app, KeyCode::Enter);
    let at = |app: &Console| app.log_view.as_ref().unwrap().current;
    let first = at(&app).unwrap();
    key(&mut app, 'n');
    assert_eq!(at(&app), Some((first + 40) % 120));
    key(&mut app, 'N');
    key(&mut app, 'N');
    assert_eq!(at(&app), Some((first + 80) % 120), "wrapped to the last");
    let t = text(&mut app, 200, 50);
    assert!(t.contains("/warn: match 3 of 3"), "{t}");
    // Nothing matches: said, not a silent no-op.
    key(&mut app, '/');
    typed(&mut app, "zzz");
    code(&mut app, KeyCode::Enter);
    assert!(app.message.as_ref().unwrap().text.contains("matches /zzz"));
    // Esc on the search line clears the search, the log stays open.
    key(&mut app, '/');
    code(&mut app, KeyCode::Esc);
    assert!(app.log_view.as_ref().unwrap().query.is_empty());
    key(&mut app, 'n');
    assert!(app
        .message
        .as_ref()
        .unwrap()
        .text
        .contains("/ searches the log"));
}

#[test]
fn the_job_log_keeps_the_newest_ten_thousand_lines_and_says_so() {
    let sb = empty_sandbox();
    let job = job_with_log(&sb, None, 10_050);
    let mut app = app_for(&sb, true);
    open_log_of(&mut app, job);
    let v = app.log_view.as_ref().unwrap();
    assert_eq!((v.lines.len(), v.dropped), (10_000, 50));
    for (w, h) in [(80u16, 24u16), (200, 50)] {
        let t = text(&mut app, w, h);
        assert!(
            t.contains(&format!(
                "newest 10,000 lines kept; `lifeboat status {job}` prints all 10,050"
            )),
            "{t}"
        );
        assert!(t.contains("of 10,050"), "{t}");
    }
    // More arrive: still 10,000 held, the oldest let go.
    for i in 0..5 {
        log_line(&sb, job, &format!("step {}: more", 10_051 + i));
    }
    app.tick();
    let v = app.log_view.as_ref().unwrap();
    assert_eq!((v.lines.len(), v.dropped), (10_000, 55));
    assert!(
        v.lines[0].message.starts_with("step 56:"),
        "{:?}",
        v.lines[0]
    );
    let t = text(&mut app, 80, 24);
    assert_eq!(steps_shown(&t).last(), Some(&10_055), "{t}");
    key(&mut app, 'g');
    let t = text(&mut app, 80, 24);
    assert_eq!(steps_shown(&t)[0], 56, "{t}");
    assert!(t.contains("lines 56-"), "{t}");
}

#[test]
fn the_job_log_and_the_message_history_match_their_snapshots() {
    use lifeboat_console::app::Level;
    let sb = empty_sandbox();
    let job = job_with_log(&sb, None, 120);
    let mut app = app_for(&sb, true);
    app.history.clear();
    open_log_of(&mut app, job);
    key(&mut app, '/');
    typed(&mut app, "needle");
    code(&mut app, KeyCode::Enter);
    for (w, h) in [(80u16, 24u16), (200, 50)] {
        let frame = normalized_in(&text(&mut app, w, h), &sb, &[]);
        assert_snapshot(&format!("joblog-{w}x{h}"), &frame);
    }
    app.say(Level::Info, "verify is job 7 (worker pid 4242)");
    app.say(
        Level::Error,
        format!(
            "cannot start `lifeboat verify x`: {}",
            "the repository is not mounted; mount it and try again ".repeat(4)
        ),
    );
    key(&mut app, 'M');
    for (w, h) in [(80u16, 24u16), (200, 50)] {
        let frame = normalized_in(&text(&mut app, w, h), &sb, &[]);
        assert_snapshot(&format!("messages-{w}x{h}"), &frame);
    }
}

// ---- text that must not be cut at common sizes ----

/// The words inside the bordered box titled `title` (between its side
/// borders, from the row under its top border to the row of its bottom
/// border), so that wrapped text reads as one line.
fn box_words(frame: &str, title: &str) -> String {
    let rows: Vec<Vec<char>> = frame.lines().map(|l| l.chars().collect()).collect();
    let head = format!("┌ {title} ");
    let (top, left) = rows
        .iter()
        .enumerate()
        .find_map(|(y, r)| {
            let line: String = r.iter().collect();
            line.find(&head).map(|i| (y, line[..i].chars().count()))
        })
        .unwrap_or_else(|| panic!("no box titled {title:?}:\n{frame}"));
    let right = left
        + rows[top][left..]
            .iter()
            .position(|&c| c == '┐')
            .unwrap_or_else(|| panic!("box {title:?} has no right corner:\n{frame}"));
    rows[top + 1..]
        .iter()
        .take_while(|r| r[left] != '└')
        .map(|r| r[left + 1..right].iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The VALUE and THRESHOLD cells of the Health table's row for `title`,
/// the lines of a wrapped cell joined with spaces.
fn health_cells(frame: &str, title: &str) -> (String, String) {
    let rows: Vec<Vec<char>> = frame.lines().map(|l| l.chars().collect()).collect();
    let line = |r: &[char]| r.iter().collect::<String>();
    let header = rows
        .iter()
        .position(|r| line(r).contains("THRESHOLD"))
        .unwrap_or_else(|| panic!("no table header:\n{frame}"));
    let head = line(&rows[header]);
    let column = |name: &str| head[..head.find(name).unwrap()].chars().count();
    let (value_at, threshold_at) = (column("VALUE"), column("THRESHOLD"));
    let first = header
        + rows[header..]
            .iter()
            .position(|r| line(r).contains(title))
            .unwrap_or_else(|| panic!("no row for {title:?}:\n{frame}"));
    let (mut value, mut threshold) = (Vec::new(), Vec::new());
    for (i, r) in rows[first..].iter().enumerate() {
        let inside = line(&r[1..r.len() - 1]);
        // Its rows end at the next check (a status word) or a blank row.
        if inside.trim().is_empty() || r[0] != '│' || (i > 0 && !line(&r[1..9]).trim().is_empty())
        {
            break;
        }
        value.push(line(&r[value_at..threshold_at]));
        threshold.push(line(&r[threshold_at..r.len() - 1]));
    }
    let words = |v: Vec<String>| v.join(" ").split_whitespace().collect::<Vec<_>>().join(" ");
    (words(value), words(threshold))
}

#[test]
fn health_values_and_thresholds_are_whole_at_200_columns_and_in_the_advice_pane_at_80() {
    use lifeboat_engine::health::{Check, HealthReport, Status};
    let sb = empty_sandbox();
    let mut app = app_for(&sb, true);
    let check = |title: &str, value: &str, threshold: &str, advice: &str| Check {
        id: title.to_lowercase().replace(' ', "_"),
        title: title.into(),
        status: Status::Warning,
        value: value.into(),
        threshold: threshold.into(),
        advice: advice.into(),
    };
    let checks = vec![
        check(
            "Recovery point objective (configuration)",
            "26h 40m of data at risk since the last good configuration backup",
            "24h; the schedule runs it daily at 01:30 UTC",
            "run lifeboat backup --type configuration now, then see why the schedule missed it",
        ),
        check(
            "Repository disk space",
            "91% used on /var/lib/lifeboat (12.3 GiB free of 140 GiB)",
            "85% used (critical at 95%)",
            "free some space or move the repository to a larger disk",
        ),
        // Longer than one row of 200 columns leaves it.
        check(
            "Repository disk space (growth)",
            "43% used on /srv/backups (120.5 GiB free of 250.0 GiB); growing 12.3 KiB/day, full in more than 100 years",
            "80% used (critical at 90%); 30 days left (critical at 7)",
            "nothing yet; watch the growth",
        ),
    ];
    app.health = Some(HealthReport::new(chrono::Utc::now(), checks.clone()));
    key(&mut app, '4');
    assert_eq!(app.screen, Screen::Health);

    // 200 columns: every value and threshold whole in its check's row
    // (one that does not fit on one line wraps within its cell).
    let wide = text(&mut app, 200, 50);
    for c in &checks {
        assert_eq!(
            health_cells(&wide, &c.title),
            (c.value.clone(), c.threshold.clone()),
            "{:?} is cut:\n{wide}",
            c.title
        );
    }
    for c in &checks[..2] {
        let row = wide.lines().find(|l| l.contains(&c.title)).unwrap();
        assert!(
            row.contains(&c.value) && row.contains(&c.threshold),
            "what fits keeps to one line:\n{wide}"
        );
    }

    // 80 columns: the table cuts, the advice pane shows the selected
    // check whole.
    for (i, c) in checks.iter().enumerate() {
        if i > 0 {
            key(&mut app, 'j');
        }
        let narrow = text(&mut app, 80, 24);
        let pane = box_words(&narrow, "Advice");
        for want in [&c.title, &c.value, &c.threshold, &c.advice] {
            assert!(
                pane.contains(want.as_str()),
                "{want:?} is not whole in the advice pane:\n{narrow}"
            );
        }
    }
}

#[test]
fn a_long_error_wraps_in_the_status_line_instead_of_being_cut() {
    use lifeboat_console::app::Level;
    let sb = empty_sandbox();
    let mut app = app_for(&sb, true);
    key(&mut app, ':');
    typed(&mut app, "frobnicate");
    code(&mut app, KeyCode::Enter);
    let msg = app.message.clone().unwrap().text;
    assert!(msg.len() > 100, "{msg}");
    let t = text(&mut app, 80, 24);
    let rows: Vec<&str> = t.lines().collect();
    let first = rows
        .iter()
        .position(|l| l.starts_with("error: unknown command"))
        .unwrap_or_else(|| panic!("no error in the status line:\n{t}"));
    // Its rows run down to the footer, which stays on the last row.
    let said = rows[first..23].join(" ");
    let said = said.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(said, format!("error: {msg}"), "\n{t}");
    assert!(rows[23].contains("? help"), "the footer:\n{t}");
    assert!(rows[0].contains("Dashboard"), "the tabs:\n{t}");

    // Longer than three rows: three rows, the cut said with an ellipsis.
    let long = format!(
        "the repository at {} is {}",
        "/x".repeat(20),
        "very ".repeat(60)
    );
    app.say(Level::Warn, long);
    let t = text(&mut app, 80, 24);
    let rows: Vec<&str> = t.lines().collect();
    assert!(
        rows[20].starts_with("warning: the repository at /x/x"),
        "{t}"
    );
    assert!(
        rows[22].trim_end().ends_with("… (M: whole message)"),
        "cut with where to read it whole:\n{t}"
    );
    assert!(rows[23].contains("? help"), "the footer:\n{t}");
    // An info message keeps to one row.
    app.say(Level::Info, "x ".repeat(100));
    let t = text(&mut app, 80, 24);
    assert!(t.lines().nth(22).unwrap().starts_with("x x x"), "{t}");
}

#[test]
fn the_catalog_shows_the_id_at_80x24_whatever_the_sort() {
    let f = fixture();
    let mut app = app_for(&f.sb, true);
    key(&mut app, '2');
    for _ in 0..7 {
        let t = text(&mut app, 80, 24);
        for b in [&f.full, &f.incr, &f.cfg] {
            let row = t.lines().find(|l| l.contains(&id(b))).unwrap_or_else(|| {
                panic!("{} is not shown (sort {}):\n{t}", id(b), app.sort.label())
            });
            assert!(row.contains("succeeded"), "{t}");
        }
        key(&mut app, 's');
    }
}

#[test]
fn the_help_scrolls_to_its_last_row_at_80x24() {
    let sb = empty_sandbox();
    let mut app = app_for(&sb, true);
    key(&mut app, '2');
    key(&mut app, '?');
    let top = text(&mut app, 80, 24);
    assert!(top.contains("more below"), "{top}");
    assert!(
        !top.contains("audit, help"),
        "the help fits after all:\n{top}"
    );
    let words = box_words(&top, "Keys: Catalog");
    assert!(words.starts_with("Enter details:"), "{top}");

    // j scrolls a row (the help stays open), G to the end.
    key(&mut app, 'j');
    assert!(
        matches!(app.overlay, Overlay::Help { scroll: 1, .. }),
        "{:?}",
        app.overlay
    );
    let t = text(&mut app, 80, 24);
    let words = box_words(&t, "Keys: Catalog");
    assert!(words.starts_with("/ filter by type"), "{t}");
    key(&mut app, 'G');
    let end = text(&mut app, 80, 24);
    let words = box_words(&end, "Keys: Catalog");
    assert!(
        words.contains("palette: backup, restore [ID],")
            && words.ends_with("(Tab completes, ↑/↓ recall)"),
        "the last row is not reachable:\n{end}"
    );
    assert!(
        end.contains("more above") && !end.contains("more below"),
        "{end}"
    );
    // Further down stays at the end; g goes back to the top.
    code(&mut app, KeyCode::PageDown);
    assert_eq!(text(&mut app, 80, 24), end);
    key(&mut app, 'g');
    assert_eq!(text(&mut app, 80, 24), top);
    // Esc closes it, and so does q (which does not quit here).
    code(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay, Overlay::None);
    key(&mut app, '?');
    key(&mut app, 'q');
    assert_eq!(app.overlay, Overlay::None);
    assert!(!app.quit);
}

/// A wizard part-way through is not lost by a stray key: ←/→ stay its
/// Back/Next (they do not leave it), reopening its kind brings the same
/// one back instead of a fresh one, and `q` asks first, naming what is
/// lost.
#[test]
fn a_wizard_part_way_through_is_not_dropped_by_a_key() {
    let f = fixture();
    let mut app = app_for(&f.sb, true);
    key(&mut app, ':');
    typed(&mut app, "recover");
    code(&mut app, KeyCode::Enter);
    assert!(app.wizard.is_some(), "{:?}", app.message);
    code(&mut app, KeyCode::Enter);
    let t = text(&mut app, 120, 40);
    assert!(t.contains("Step 2 of 7: Isolate"), "{t}");
    // ← is the wizard's Back, → its Next: never a screen switch.
    code(&mut app, KeyCode::Left);
    assert!(!app.wizard_hidden);
    assert!(text(&mut app, 120, 40).contains("Step 1 of 7: Assess"));
    code(&mut app, KeyCode::Right);
    assert!(!app.wizard_hidden);
    assert!(text(&mut app, 120, 40).contains("Step 2 of 7: Isolate"));

    // Aside, then :recover again: the same runbook, not a new one.
    key(&mut app, '2');
    assert!(app.wizard_hidden);
    let t = text(&mut app, 80, 24);
    assert!(t.contains("w Disaster recovery wizard (open)"), "{t}");
    key(&mut app, ':');
    typed(&mut app, "recover");
    code(&mut app, KeyCode::Enter);
    assert!(!app.wizard_hidden, "the runbook is shown again");
    assert!(text(&mut app, 120, 40).contains("Step 2 of 7: Isolate"));
    assert!(
        app.message
            .as_ref()
            .is_some_and(|m| m.text.contains("recovery runbook at step Isolate")),
        "{:?}",
        app.message
    );

    // q asks, and says the runbook would be lost.
    key(&mut app, 'q');
    assert!(!app.quit);
    match &app.overlay {
        Overlay::Confirm(c) => match &c.kind {
            ConfirmKind::Quit { abandoned, .. } => assert!(
                abandoned
                    .iter()
                    .any(|a| a.starts_with("the recovery runbook at step Isolate")),
                "{abandoned:?}"
            ),
            other => panic!("not the quit dialog: {other:?}"),
        },
        other => panic!("q did not ask: {other:?}"),
    }
}

/// `y` copies the selected backup's (or job's) id through the terminal
/// (OSC 52, which travels through SSH); without a terminal it says so.
#[test]
fn y_copies_the_selected_id_through_the_terminal() {
    use std::cell::RefCell;
    use std::rc::Rc;
    let f = fixture();
    let mut app = app_for(&f.sb, true);
    select_backup(&mut app, &id(&f.cfg));
    let decided = app.update(KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE));
    assert_eq!(decided, [Effect::Copy(id(&f.cfg))]);
    // No terminal (a test): nothing is written, and it says so.
    app.run_effect(Effect::Copy(id(&f.cfg)));
    assert!(
        app.message
            .as_ref()
            .is_some_and(|m| m.text.contains("no terminal to copy through")),
        "{:?}",
        app.message
    );
    // With one: the OSC 52 sequence, the id in base64.
    let sent = Rc::new(RefCell::new(Vec::new()));
    let sink = sent.clone();
    app.set_clipboard(Box::new(move |s| {
        sink.borrow_mut().push(s.to_string());
        Ok(())
    }));
    key(&mut app, 'y');
    assert_eq!(
        *sent.borrow(),
        [lifeboat_console::effects::osc52(&id(&f.cfg))]
    );
    assert!(sent.borrow()[0].starts_with("\x1b]52;c;"));
    // On Jobs: the selected job's id.
    key(&mut app, '3');
    let job = app.jobs[app.jobs_list.selected].id.to_string();
    assert_eq!(
        app.update(KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE)),
        [Effect::Copy(job)]
    );
}

/// A job's log line with terminal escapes and tabs (a tool's coloured
/// output it recorded) shows as plain text in the Jobs pane and the
/// full-screen log, never as `[1;31m` garbage.
#[test]
fn job_log_lines_are_shown_as_plain_text() {
    let sb = empty_sandbox();
    let job = job_with_log(&sb, Some(JobState::Failed), 3);
    log_line(&sb, job, "\u{1b}[1;31mERROR\u{1b}[0m\tdisk full");
    let mut app = app_for(&sb, true);
    key(&mut app, '3');
    let t = text(&mut app, 120, 30);
    assert!(t.contains("ERROR   disk full"), "{t}");
    assert!(!t.contains("[1;31m") && !t.contains("[0m"), "{t}");
    open_log_of(&mut app, job);
    let t = text(&mut app, 120, 30);
    assert!(t.contains("ERROR   disk full"), "{t}");
    assert!(!t.contains("[1;31m"), "{t}");
}

// ---- the mouse ----

/// `m` turns the mouse on through the terminal (a switch the terminal loop
/// installs); without one it says why and the mouse stays off. A click
/// then goes through `handle_mouse` like a key through `handle_key`.
#[test]
fn m_switches_the_mouse_through_the_terminal_and_a_click_picks_a_tab() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    use std::cell::RefCell;
    use std::rc::Rc;
    let sb = empty_sandbox();
    let mut app = app_for(&sb, true);
    key(&mut app, 'm');
    assert!(!app.mouse, "no terminal: it stays off");
    assert!(
        app.message.as_ref().is_some_and(
            |m| m.text == "cannot turn the mouse on: there is no terminal to report it"
        ),
        "{:?}",
        app.message
    );
    let switched = Rc::new(RefCell::new(Vec::new()));
    let sink = switched.clone();
    app.set_mouse_switch(Box::new(move |on| {
        sink.borrow_mut().push(on);
        Ok(())
    }));
    key(&mut app, 'm');
    assert!(app.mouse);
    assert_eq!(*switched.borrow(), [true]);
    let t = text(&mut app, 80, 24);
    let (row, line) = t
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("6 Audit"))
        .unwrap();
    let column = line[..line.find("6 Audit").unwrap()].chars().count() as u16;
    app.handle_mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column,
        row: row as u16,
        modifiers: KeyModifiers::NONE,
    });
    assert_eq!(app.screen, Screen::Audit);
    key(&mut app, 'm');
    assert!(!app.mouse);
    assert_eq!(*switched.borrow(), [true, false]);
}

/// The pane's mouse modes as tmux sees them: (any reporting, SGR form,
/// every motion).
fn pane_mouse(socket: &str, name: &str) -> (bool, bool, bool) {
    let out = tmux(
        socket,
        &[
            "display",
            "-p",
            "-t",
            name,
            "#{mouse_any_flag} #{mouse_sgr_flag} #{mouse_all_flag}",
        ],
    );
    let s = String::from_utf8_lossy(&out.stdout);
    let f: Vec<bool> = s.split_whitespace().map(|w| w == "1").collect();
    assert_eq!(f.len(), 3, "{s:?}");
    (f[0], f[1], f[2])
}

/// LIFEBOAT_MOUSE=1 in a real terminal: the console asks for clicks (not
/// for every motion), a click on a tab switches the screen, `m` gives the
/// mouse back to the terminal and takes it again, and quitting gives it
/// back for good (tmux keeps a pane's mouse mode after its program exits,
/// so a console that forgot would leave the shell reporting clicks).
/// Without the variable the mouse stays the terminal's.
#[test]
fn real_binary_in_tmux_takes_clicks_with_lifeboat_mouse_and_gives_the_mouse_back() {
    if !have_tmux("real_binary_in_tmux_takes_clicks_with_lifeboat_mouse_and_gives_the_mouse_back") {
        return;
    }
    let sb = empty_sandbox();
    let socket = format!("lifeboat-mouse-{}", std::process::id());
    let _kill = KillTmux(socket.clone());
    let dir = sb.dir.path().display().to_string();
    let cmdline = |env: &str| {
        format!(
            "{env} {} --config {}; echo console-exited-$?; sleep 60",
            env!("CARGO_BIN_EXE_lifeboat"),
            sb.config.display()
        )
    };
    new_session(
        &socket,
        "mouse",
        (100, 30),
        &dir,
        &cmdline("LIFEBOAT_MOUSE=1"),
    );
    let capture = || capture(&socket, "mouse");
    let screen = wait_for(30, "the console", || {
        let s = capture();
        s.contains("Dashboard").then_some(s)
    });
    wait_for(30, "mouse reporting on", || {
        (pane_mouse(&socket, "mouse") == (true, true, false)).then_some(())
    });
    assert!(!screen.contains("Audit log"), "{screen}");
    // A click on the Audit tab, as the terminal reports it (SGR, 1-based).
    let line = screen.lines().position(|l| l.contains("6 Audit")).unwrap();
    let l = screen.lines().nth(line).unwrap();
    let column = l[..l.find("6 Audit").unwrap()].chars().count() + 2;
    let (x, y) = (column + 1, line + 1);
    for report in [format!("\x1b[<0;{x};{y}M"), format!("\x1b[<0;{x};{y}m")] {
        tmux(&socket, &["send-keys", "-t", "mouse", "-l", &report]);
    }
    wait_for(30, "the click to open the Audit screen", || {
        capture().contains("Audit log").then_some(())
    });
    tmux(&socket, &["send-keys", "-t", "mouse", "m"]);
    wait_for(30, "m to give the mouse back", || {
        (pane_mouse(&socket, "mouse") == (false, false, false)).then_some(())
    });
    tmux(&socket, &["send-keys", "-t", "mouse", "m"]);
    wait_for(30, "m to take it again", || {
        pane_mouse(&socket, "mouse").0.then_some(())
    });
    tmux(&socket, &["send-keys", "-t", "mouse", "q"]);
    let after = wait_for(30, "the console to exit", || {
        let s = capture();
        s.contains("console-exited-").then_some(s)
    });
    assert!(after.contains("console-exited-0"), "{after}");
    assert_eq!(pane_mouse(&socket, "mouse"), (false, false, false));

    // Off by default.
    new_session(&socket, "plain", (100, 30), &dir, &cmdline(""));
    wait_for(30, "the second console", || {
        self::capture(&socket, "plain")
            .contains("Dashboard")
            .then_some(())
    });
    assert_eq!(pane_mouse(&socket, "plain"), (false, false, false));
}
