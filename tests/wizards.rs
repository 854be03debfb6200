//! The console's wizards, driven through the library API with key events
//! and read back from ratatui's TestBackend, against a sandbox with a real
//! catalog and real backups made by the real binary (which the wizards
//! also run, as child processes).

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lifeboat::config::Config;
use lifeboat::wizards::{self, Wizard, WizardContext, WizardKind, WizardStatus};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn ctx(sb: &Sandbox) -> WizardContext {
    let config = Config::load(Some(&sb.config), &|_| None, sb.dir.path()).unwrap();
    WizardContext {
        config,
        config_path: Some(sb.config.clone()),
        exe: PathBuf::from(env!("CARGO_BIN_EXE_lifeboat")),
    }
}

fn open(sb: &Sandbox, kind: WizardKind) -> Box<dyn Wizard> {
    wizards::open(kind, ctx(sb)).unwrap_or_else(|e| panic!("wizard did not open: {e}"))
}

fn press(w: &mut dyn Wizard, code: KeyCode) -> WizardStatus {
    w.handle_key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn typed(w: &mut dyn Wizard, s: &str) {
    for c in s.chars() {
        press(w, KeyCode::Char(c));
    }
}

/// The wizard drawn at 110x45, as text.
fn screen(w: &mut dyn Wizard) -> String {
    let mut term = Terminal::new(TestBackend::new(110, 45)).unwrap();
    term.draw(|f| w.render(f, f.area())).unwrap();
    let buf = term.backend().buffer().clone();
    let mut s = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            s.push_str(buf[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}

/// Tick until no child runs any more; a generous bound against hangs.
fn wait_idle(w: &mut dyn Wizard, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        w.tick();
        if !w.is_running() {
            w.tick();
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{what}: the wizard's child did not finish within 180s; screen:\n{}",
                screen(w)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_shows(w: &mut dyn Wizard, needle: &str) -> String {
    let s = screen(w);
    assert!(s.contains(needle), "expected {needle:?} on screen:\n{s}");
    s
}

// ---- backup wizard ----

#[test]
fn backup_wizard_run_to_the_end_creates_the_backup() {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    let mut w = open(&sb, WizardKind::Backup);
    let w = w.as_mut();
    assert_shows(w, "Step 1 of 6: Types");
    // Rows: all, configuration, filesystem.
    press(w, KeyCode::Down);
    press(w, KeyCode::Down);
    press(w, KeyCode::Char(' '));
    assert_shows(w, "[x] filesystem");
    press(w, KeyCode::Enter);
    assert!(w.wants_text());
    typed(w, "wiz-1");
    press(w, KeyCode::Enter);
    assert_shows(w, "Full or incremental");
    press(w, KeyCode::Down);
    press(w, KeyCode::Enter);
    let s = assert_shows(w, "filesystem: encrypted");
    assert!(s.contains("(present)"), "{s}");
    press(w, KeyCode::Enter);
    assert_shows(w, "lifeboat backup --type filesystem --name wiz-1 --full");
    press(w, KeyCode::Enter);
    assert!(w.is_running() || w.tick());
    wait_idle(w, "backup wizard");
    let s = assert_shows(w, "OK: lifeboat backup --type filesystem");
    assert!(s.contains("succeeded"), "job state shown:\n{s}");
    assert!(s.contains("1 of 1 backup command(s) succeeded"), "{s}");

    let list = sb.json(&["list"]);
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{list}");
    assert_eq!(rows[0]["type"], "filesystem");
    assert_eq!(rows[0]["name"], "wiz-1");
    assert_eq!(rows[0]["kind"], "full");
    assert_eq!(rows[0]["status"], "succeeded");
    assert!(file_of(&rows[0]).is_file());
    assert_eq!(press(w, KeyCode::Enter), WizardStatus::Closed);
}

#[test]
fn backup_wizard_back_and_next_keep_choices_and_refuse_bad_input() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let mut w = open(&sb, WizardKind::Backup);
    let w = w.as_mut();
    // Next with nothing ticked is refused on the step.
    press(w, KeyCode::Enter);
    assert_shows(w, "choose at least one type");
    assert_shows(w, "Step 1 of 6");
    // Configuration without a key is marked on the list already.
    assert_shows(w, "configuration  (refused");
    press(w, KeyCode::Down);
    press(w, KeyCode::Char(' '));
    press(w, KeyCode::Right);
    assert_shows(w, "Step 2 of 6: Name");
    // A name the CLI would refuse is refused here.
    typed(w, "bad name!");
    press(w, KeyCode::Enter);
    let s = assert_shows(w, "' ' is not allowed in a name");
    assert!(s.contains("Step 2 of 6"), "{s}");
    for _ in 0..9 {
        press(w, KeyCode::Backspace);
    }
    // Esc goes back one step and keeps the tick.
    press(w, KeyCode::Esc);
    assert_shows(w, "[x] configuration");
    press(w, KeyCode::Enter);
    press(w, KeyCode::Enter);
    // No filesystem: the full/incremental step is skipped.
    let s = assert_shows(w, "Step 4 of 6: Encryption");
    assert!(s.contains("key file") && s.contains("MISSING"), "{s}");
    assert!(s.contains("configuration: REFUSED"), "{s}");
    press(w, KeyCode::Enter);
    let s = assert_shows(w, "cannot go on");
    assert!(s.contains("lifeboat key generate"), "{s}");
    assert!(s.contains("Step 4 of 6"), "{s}");
    // Back from Encryption lands on Name (Mode was skipped), then Types,
    // then Esc on the first step closes.
    assert_eq!(press(w, KeyCode::Char('b')), WizardStatus::Open);
    assert_shows(w, "Step 2 of 6");
    press(w, KeyCode::Esc);
    assert_shows(w, "Step 1 of 6");
    assert_eq!(press(w, KeyCode::Esc), WizardStatus::Closed);
    assert!(sb.json(&["list"]).as_array().unwrap().is_empty());
}

#[test]
fn backup_wizard_shows_a_failing_child_error_in_place() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let mut w = open(&sb, WizardKind::Backup);
    let w = w.as_mut();
    press(w, KeyCode::Down);
    press(w, KeyCode::Down);
    press(w, KeyCode::Char(' '));
    for _ in 0..4 {
        press(w, KeyCode::Enter);
    }
    assert_shows(w, "Step 5 of 6: Summary");
    // The config file breaks between opening the wizard and running it:
    // the child refuses it, and the wizard says why.
    sb.write_config("[compression]\nlevel = 99\n");
    press(w, KeyCode::Enter);
    wait_idle(w, "failing backup");
    let s = assert_shows(w, "FAILED: lifeboat backup --type filesystem");
    assert!(s.contains("exit 2"), "{s}");
    assert!(s.contains("invalid value for [compression] level"), "{s}");
    assert!(s.contains("0 of 1 backup command(s) succeeded"), "{s}");
}
