//! The console's wizards, driven through the library API with key events
//! and read back from ratatui's TestBackend, against a sandbox with a real
//! catalog and real backups made by the real binary (which the wizards
//! also run, as child processes).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lifeboat_console::wizards::{self, Wizard, WizardContext, WizardKind, WizardStatus};
use lifeboat_engine::config::Config;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn ctx(sb: &Sandbox) -> WizardContext {
    let config = Config::load(Some(&sb.config), &|_| None, sb.dir.path()).unwrap();
    WizardContext {
        config,
        config_path: Some(sb.config.clone()),
        exe: PathBuf::from(env!("CARGO_BIN_EXE_lifeboat")),
        now: chrono::Utc::now(),
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
    screen_at(w, 110, 45)
}

fn screen_at(w: &mut dyn Wizard, width: u16, height: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(width, height)).unwrap();
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

/// The screen's words in one line: borders gone, wrapped lines joined.
fn flat(screen: &str) -> String {
    screen
        .replace(['│', '\n'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Tick until no child runs any more; a generous bound against hangs.
fn wait_idle(w: &mut dyn Wizard, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        w.tick(chrono::Utc::now());
        if !w.is_running() {
            w.tick(chrono::Utc::now());
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

/// Tick until the screen shows `needle`; a generous bound against hangs.
fn wait_screen(w: &mut dyn Wizard, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        w.tick(chrono::Utc::now());
        let s = screen(w);
        if s.contains(needle) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{needle:?} did not appear within 120s; screen:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_shows(w: &mut dyn Wizard, needle: &str) -> String {
    let s = screen(w);
    if std::env::var_os("WIZARD_SCREENS").is_some() {
        eprintln!("{s}");
    }
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
    let summary = assert_shows(w, "lifeboat backup --type filesystem --name wiz-1 --full");
    // The summary names what the backup covers.
    let uploads = sb.app.join("uploads").display().to_string();
    assert!(
        summary.contains("filesystem: ") && summary.contains(&uploads),
        "{summary}"
    );
    press(w, KeyCode::Enter);
    // The key only decided: nothing is queued until the wizard's tick
    // (which the console runs as an effect right after the key).
    assert!(sb.jobs().is_empty(), "the key alone queued nothing");
    assert!(w.is_running(), "decided work counts as running");
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
    // The worker loads the config and refuses it before it claims the job.
    let s = assert_shows(w, "FAILED: lifeboat backup --type filesystem");
    let text = flat(&s);
    assert!(
        text.contains("exited (exit 2) before it ran the job"),
        "{s}"
    );
    assert!(
        text.contains("invalid value for [compression] level"),
        "{s}"
    );
    assert!(text.contains("the job was taken out of the queue"), "{s}");
    let job = lifeboat_engine::catalog::Catalog::open_existing_light(&sb.catalog)
        .and_then(|c| c.get_job(1))
        .unwrap()
        .unwrap();
    assert_eq!(job.state.as_str(), "cancelled", "nothing is left queued");
    assert!(s.contains("0 of 1 backup command(s) succeeded"), "{s}");
}

// ---- restore wizard ----

/// The one directory the restore wizard created under the catalog's
/// `restores/`.
fn restored_dir(sb: &Sandbox) -> PathBuf {
    let dir = sb.catalog.parent().unwrap().join("restores");
    let entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no restores directory {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

#[test]
fn restore_wizard_restores_into_a_new_directory() {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    let older = id_of(&sb.backup("filesystem", &["--full"]));
    std::fs::write(sb.app.join("uploads/docs/new.txt"), "added later\n").unwrap();
    let newer = id_of(&sb.backup("filesystem", &[]));
    let mut w = open(&sb, WizardKind::Restore { backup_id: None });
    let w = w.as_mut();
    let s = assert_shows(w, "Step 1 of 6: Type");
    assert!(s.contains("filesystem  (2 backups)"), "{s}");
    press(w, KeyCode::Down);
    press(w, KeyCode::Enter);
    // The timeline: newest first, with the chain of the incremental.
    let s = assert_shows(w, "Step 2 of 6: Point");
    let (a, b) = (s.find(&newer).unwrap(), s.find(&older).unwrap());
    assert!(a < b, "newest first:\n{s}");
    assert!(s.contains("incremental, chain of 2"), "{s}");
    press(w, KeyCode::Enter);
    let s = assert_shows(w, "Step 3 of 6: Target");
    assert!(s.contains("(*) a new directory"), "{s}");
    press(w, KeyCode::Enter);
    wait_idle(w, "restore dry run");
    let s = assert_shows(w, "dry run: restoring backup");
    assert!(s.contains("nothing was changed"), "{s}");
    assert!(!sb.catalog.parent().unwrap().join("restores").exists());
    press(w, KeyCode::Enter);
    assert_shows(w, "Enter restores into the new place");
    press(w, KeyCode::Enter);
    wait_idle(w, "restore");
    let s = assert_shows(w, "OK: lifeboat restore");
    assert!(s.contains(&format!("restored backup {newer} into")), "{s}");
    assert!(s.contains("applying a chain of 2 backups"), "{s}");
    let target = restored_dir(&sb);
    for d in ["uploads", "logs"] {
        let src = sb.app.join(d);
        assert_eq!(
            checksum_tree(&Sandbox::under(&target, &src)),
            checksum_tree(&src),
            "{d} differs"
        );
    }
    assert_eq!(press(w, KeyCode::Enter), WizardStatus::Closed);
}

#[test]
fn restore_wizard_in_place_needs_the_typed_name_and_takes_a_safety_copy() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let id = id_of(&sb.backup("filesystem", &[]));
    let report = sb.app.join("uploads/docs/report.txt");
    let original = std::fs::read(&report).unwrap();
    std::fs::write(&report, "damaged\n").unwrap();

    // Opened from the Catalog with a backup chosen: starts at the target.
    let mut w = open(
        &sb,
        WizardKind::Restore {
            backup_id: Some(id.clone()),
        },
    );
    let w = w.as_mut();
    assert_shows(w, "Step 3 of 6: Target");
    assert_shows(w, &format!("Where should backup {id} go?"));
    press(w, KeyCode::Down);
    assert_shows(w, "(*) in place");
    press(w, KeyCode::Enter);
    wait_idle(w, "in-place dry run");
    let s = assert_shows(w, "overwrite");
    assert!(s.contains(&report.display().to_string()), "{s}");
    assert!(s.contains("A safety copy of them is taken first"), "{s}");
    press(w, KeyCode::Enter);
    assert!(w.wants_text());
    typed(w, "files");
    press(w, KeyCode::Enter);
    let s = assert_shows(
        w,
        "Refused: 'files' does not match: type filesystem exactly",
    );
    assert!(s.contains("Step 5 of 6"), "{s}");
    assert!(!w.is_running());
    assert_eq!(std::fs::read(&report).unwrap(), b"damaged\n");
    for _ in 0..5 {
        press(w, KeyCode::Backspace);
    }
    typed(w, "filesystem");
    press(w, KeyCode::Enter);
    wait_idle(w, "in-place restore");
    let s = assert_shows(w, "OK: lifeboat restore");
    assert!(s.contains("safety copy"), "{s}");
    assert_eq!(std::fs::read(&report).unwrap(), original);
    let list = sb.json(&["list"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|b| b["name"] == "pre_restore"),
        "a safety copy was taken: {list}"
    );
}

/// Copy `id`'s catalog row as another backup that `status` left
/// unusable: no bytes, created `secs` after the original.
fn unusable_copy(sb: &Sandbox, id: &str, new_id: &str, status: &str, secs: i64) {
    let cat = lifeboat_engine::catalog::Catalog::open(&sb.catalog).unwrap();
    let mut b = cat.get_backup(id).unwrap().unwrap();
    b.id = new_id.to_string();
    b.status = status.parse().unwrap();
    b.created_at += chrono::Duration::seconds(secs);
    b.finished_at = None;
    b.size = 0;
    b.stored_size = 0;
    b.file = format!("{}.{status}", b.file);
    cat.insert_backup(&b).unwrap();
}

/// The timeline lists what can be restored: failed, interrupted and
/// cancelled backups are left out (a line says how many; `a` lists them),
/// and the cursor starts on the newest good one, not on the newest row.
#[test]
fn restore_wizard_lists_restorable_backups_and_starts_on_the_newest_good_one() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let full = id_of(&sb.backup("filesystem", &["--full"]));
    std::fs::write(sb.app.join("uploads/later.txt"), "later\n").unwrap();
    let incr = id_of(&sb.backup("filesystem", &[]));
    // Newer than both: three that left no artifact, and one that
    // succeeded but failed its last verification (listed, not the default).
    unusable_copy(&sb, &incr, "fs-interrupted", "interrupted", 60);
    unusable_copy(&sb, &incr, "fs-cancelled", "cancelled", 70);
    unusable_copy(&sb, &incr, "fs-failed", "failed", 80);
    let cat = lifeboat_engine::catalog::Catalog::open(&sb.catalog).unwrap();
    let mut bad = cat.get_backup(&full).unwrap().unwrap();
    bad.id = "fs-verify-failed".into();
    bad.created_at += chrono::Duration::seconds(90);
    bad.verified_at = Some(bad.created_at);
    bad.verify_result = Some("sha256 mismatch".into());
    cat.insert_backup(&bad).unwrap();
    drop(cat);

    let mut w = open(&sb, WizardKind::Restore { backup_id: None });
    let w = w.as_mut();
    let s = assert_shows(w, "filesystem  (3 backups; 3 more cannot be restored)");
    assert!(s.contains("configuration  (0 backups)"), "{s}");
    press(w, KeyCode::Down);
    press(w, KeyCode::Enter);
    let s = assert_shows(w, "Step 2 of 6: Point");
    for hidden in ["fs-interrupted", "fs-cancelled", "fs-failed"] {
        assert!(!s.contains(hidden), "{hidden} is listed:\n{s}");
    }
    assert!(
        s.contains("Not listed: 1 failed, 1 interrupted, 1 cancelled (they cannot be restored; a lists them)"),
        "{s}"
    );
    let cursor = s.lines().find(|l| l.contains("> ")).unwrap();
    assert!(cursor.contains(&incr), "the newest good one:\n{s}");
    assert!(s.contains("fs-verify-failed"), "{s}");
    // `a` lists them all, the cursor staying on its backup; `a` again hides them.
    press(w, KeyCode::Char('a'));
    let s = screen(w);
    for hidden in ["fs-interrupted", "fs-cancelled", "fs-failed"] {
        assert!(s.contains(hidden), "{hidden} is not listed:\n{s}");
    }
    assert!(s.contains("Listed too: 1 failed"), "{s}");
    assert!(
        s.lines()
            .find(|l| l.contains("> "))
            .unwrap()
            .contains(&incr),
        "{s}"
    );
    press(w, KeyCode::Char('a'));
    assert!(!screen(w).contains("fs-failed"));
    press(w, KeyCode::Enter);
    assert_shows(w, &format!("Where should backup {incr} go?"));

    // Chosen on the Catalog screen, an unusable one is shown and refused.
    let mut w = open(
        &sb,
        WizardKind::Restore {
            backup_id: Some("fs-interrupted".into()),
        },
    );
    let s = assert_shows(w.as_mut(), "Step 2 of 6: Point");
    assert!(
        s.contains("backup fs-interrupted is interrupted: it has no usable artifact"),
        "{s}"
    );
    assert!(s
        .lines()
        .find(|l| l.contains("> "))
        .unwrap()
        .contains("fs-interrupted"));
}

/// On the Target step the new directory is typed (the keys are text, not
/// navigation), checked on Enter, and the restore goes where it says.
#[test]
fn restore_wizard_target_directory_is_edited_and_checked() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let id = id_of(&sb.backup("filesystem", &[]));
    let mut w = open(
        &sb,
        WizardKind::Restore {
            backup_id: Some(id.clone()),
        },
    );
    let w = w.as_mut();
    assert_shows(w, "Step 3 of 6: Target");
    assert!(w.wants_text());
    let clear = |w: &mut dyn Wizard| {
        w.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    };
    clear(w);
    typed(w, "restores/here");
    press(w, KeyCode::Enter);
    assert_shows(w, "Refused: 'restores/here' is not an absolute path");
    // Backspace edits; it does not go back a step.
    press(w, KeyCode::Backspace);
    assert_shows(w, "Step 3 of 6: Target");
    assert!(!screen(w).contains("Refused"), "an edit clears the refusal");

    clear(w);
    let inside = sb.app.join("uploads/restored");
    typed(w, &inside.display().to_string());
    press(w, KeyCode::Enter);
    let s = flat(&screen(w));
    assert!(
        s.contains(&format!(
            "Refused: '{}' is inside the live source {}",
            inside.display(),
            sb.app.join("uploads").display()
        )),
        "{s}"
    );
    assert!(!w.is_running(), "no dry run for a refused target");

    // j, k, b and spaces are text here.
    clear(w);
    let chosen = sb.dir.path().join("jobs back");
    typed(w, &format!("  {}  ", chosen.display()));
    press(w, KeyCode::Enter);
    assert_shows(w, "Step 4 of 6: Preview");
    wait_idle(w, "dry run into the typed directory");
    let s = flat(&screen(w));
    assert!(s.contains(&chosen.display().to_string()), "{s}");
    press(w, KeyCode::Enter);
    press(w, KeyCode::Enter);
    wait_idle(w, "restore into the typed directory");
    assert_shows(w, "OK: lifeboat restore");
    for d in ["uploads", "logs"] {
        let src = sb.app.join(d);
        assert_eq!(
            checksum_tree(&Sandbox::under(&chosen, &src)),
            checksum_tree(&src),
            "{d} differs"
        );
    }
    assert!(
        !sb.catalog.parent().unwrap().join("restores").exists(),
        "the proposed directory was not used"
    );
}

#[test]
fn restore_wizard_refuses_an_unknown_backup_id_with_a_next_step() {
    let sb = Sandbox::new();
    let e = match wizards::open(WizardKind::Restore { backup_id: None }, ctx(&sb)) {
        Ok(_) => panic!("opened without a catalog"),
        Err(e) => e,
    };
    assert!(e.contains("there is no catalog at"), "{e}");
    assert!(e.contains("lifeboat catalog rebuild"), "{e}");
    sb.ok(&["list"]);
    let e = match wizards::open(
        WizardKind::Restore {
            backup_id: Some("fs_nope".into()),
        },
        ctx(&sb),
    ) {
        Ok(_) => panic!("opened with an unknown backup"),
        Err(e) => e,
    };
    assert!(e.contains("backup fs_nope is not in the catalog"), "{e}");
    assert!(e.contains("lifeboat catalog rebuild"), "{e}");
}

// ---- recovery wizard ----

#[test]
fn recovery_isolate_without_a_stop_command_shows_the_instruction() {
    let sb = Sandbox::new();
    // Without a catalog the assessment says so and how to get it back.
    let mut w = open(&sb, WizardKind::Recovery);
    wait_screen(w.as_mut(), "[critical] Catalog");
    let s = assert_shows(w.as_mut(), "Step 1 of 7: Assess");
    assert!(
        s.contains("is gone") && s.contains("lifeboat catalog rebuild"),
        "{s}"
    );
    assert!(
        s.contains("[critical] Catalog: there is no catalog at"),
        "{s}"
    );
    assert!(!sb.catalog.exists(), "looking did not create a catalog");
    sb.ok(&["list"]);
    let mut w = open(&sb, WizardKind::Recovery);
    let w = w.as_mut();
    let s = assert_shows(w, "Step 1 of 7: Assess");
    assert!(s.contains("filesystem: MISSING - no good backup"), "{s}");
    press(w, KeyCode::Enter);
    let s = assert_shows(w, "No stop command is configured ([app] stop_command");
    assert!(s.contains("Stop the Panel app by hand"), "{s}");
    assert!(!w.is_running());
    press(w, KeyCode::Enter);
    assert_shows(w, "Step 3 of 7: Recovery point");
    // Nothing to recover from: the plan fails in place and the wizard
    // does not go on to execute.
    press(w, KeyCode::Enter);
    wait_idle(w, "recovery plan");
    let s = assert_shows(w, "FAILED: lifeboat --json recover");
    assert!(s.contains("error: no backups (manifests) found in"), "{s}");
    assert!(s.contains("No usable plan"), "{s}");
    press(w, KeyCode::Enter);
    wait_idle(w, "recovery plan again");
    assert_shows(w, "Step 3 of 7: Recovery point");
    // Back twice and Esc on the first step closes.
    press(w, KeyCode::Esc);
    assert_shows(w, "Step 2 of 7: Isolate");
    press(w, KeyCode::Esc);
    assert_eq!(press(w, KeyCode::Esc), WizardStatus::Closed);
}

#[test]
fn recovery_wizard_runs_the_whole_runbook() {
    let root = tempfile::tempdir().unwrap();
    let stopped = root.path().join("app-stopped");
    let started = root.path().join("app-started");
    // The app's health URL: a real listener that answers 200 twice (at
    // Verify, and again once Resume started the app).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut first = String::new();
        for _ in 0..2 {
            let (mut c, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = c.read(&mut buf).unwrap();
            c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
            if first.is_empty() {
                first = String::from_utf8_lossy(&buf[..n]).to_string();
            }
        }
        first
    });
    let sb = Sandbox::new();
    sb.write_config(&format!(
        "[app]\nstop_command = \"touch '{}'\"\nstart_command = \"touch '{}'\"\nhealth_command = \"test -f '{}'\"\nhealth_url = \"http://127.0.0.1:{port}/health\"\n",
        stopped.display(),
        started.display(),
        sb.app.join("uploads/docs/report.txt").display()
    ));
    populate(&sb.app);
    sb.generate_key();
    sb.backup("configuration", &[]);
    sb.backup("filesystem", &[]);
    let report = sb.app.join("uploads/docs/report.txt");
    let original = std::fs::read(&report).unwrap();
    std::fs::remove_file(&report).unwrap();
    std::fs::write(sb.app.join("config.py"), "DEBUG = True\n").unwrap();

    let mut w = open(&sb, WizardKind::Recovery);
    let w = w.as_mut();
    let s = wait_screen(w, "Health (evaluated");
    assert!(s.contains("filesystem: newest good backup fs-"), "{s}");
    press(w, KeyCode::Enter);
    // 2 isolate: the configured stop command really runs, once STOP is typed.
    assert_shows(w, "Stop command: touch");
    assert!(!stopped.exists());
    typed(w, "STOP");
    press(w, KeyCode::Enter);
    wait_idle(w, "stop command");
    assert!(stopped.exists(), "the stop command ran");
    assert_shows(w, "OK: touch");
    press(w, KeyCode::Enter);
    // 3 recovery point: the plan from recover --dry-run.
    assert!(w.wants_text());
    press(w, KeyCode::Enter);
    wait_idle(w, "recovery plan");
    let s = assert_shows(w, "Recovery set:");
    assert!(
        s.contains("filesystem") && s.contains("configuration"),
        "{s}"
    );
    // What it will overwrite, before anything is: the live paths.
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("It will overwrite, in production:"), "{s}");
    assert!(
        flat.contains(&format!("filesystem: {}", sb.app.join("uploads").display())),
        "{s}"
    );
    // Each type against its own objective: the defaults, a day for both.
    assert!(s.contains("Data-loss window per type"), "{s}");
    assert!(s.contains("objective 1d 0h: MET"), "{s}");
    assert!(!report.exists(), "planning changes nothing");
    press(w, KeyCode::Enter);
    // 4 execute: a wrong confirmation is refused and nothing runs.
    assert_shows(w, "Step 4 of 7: Execute");
    typed(w, "recover");
    press(w, KeyCode::Enter);
    assert_shows(w, "Refused: 'recover' does not match: type RECOVER exactly");
    assert!(!w.is_running());
    assert!(!report.exists());
    for _ in 0..7 {
        press(w, KeyCode::Backspace);
    }
    typed(w, "RECOVER");
    press(w, KeyCode::Enter);
    wait_idle(w, "recover");
    let s = assert_shows(w, "Recovery finished.");
    assert!(s.contains("OK: lifeboat recover --dir"), "{s}");
    assert!(s.contains("succeeded"), "{s}");
    assert!(
        !s.contains("\"report_file\""),
        "JSON is parsed, not shown:\n{s}"
    );
    assert_eq!(std::fs::read(&report).unwrap(), original);
    assert_eq!(
        std::fs::read_to_string(sb.app.join("config.py")).unwrap(),
        "DEBUG = False\n"
    );
    press(w, KeyCode::Enter);
    // 5 verify: recover's own checks and the app's health command.
    wait_idle(w, "health command");
    let s = assert_shows(w, "Recovery: OK");
    assert!(s.contains("match the index"), "{s}");
    assert!(s.contains("OK: test -f"), "{s}");
    assert!(
        s.contains(&format!(
            "OK: GET http://127.0.0.1:{port}/health answered 200"
        )),
        "{s}"
    );
    press(w, KeyCode::Enter);
    // 6 resume: the start command, then the app's health again (the
    // check at Verify saw it stopped; the verdict is this one).
    assert!(!started.exists());
    press(w, KeyCode::Enter);
    wait_idle(w, "start command");
    assert!(started.exists(), "the start command ran");
    press(w, KeyCode::Enter);
    wait_idle(w, "health after start");
    let s = assert_shows(w, "App health now that it runs:");
    assert!(s.contains("answered 200"), "{s}");
    assert!(server.join().unwrap().starts_with("GET /health HTTP/1.1"));
    press(w, KeyCode::Enter);
    // 7 report: timeline, objectives, the Markdown report.
    let s = assert_shows(w, "Step 7 of 7: Report");
    assert!(
        s.contains("Verdict: RECOVERED: every type restored and verified, and the app is healthy"),
        "{s}"
    );
    assert!(
        s.contains("Achieved RTO") && s.contains("objective 4h 00m: MET"),
        "{s}"
    );
    assert!(s.contains("objective 1d 0h: MET"), "{s}");
    assert!(s.contains("# Recovery report"), "{s}");
    // A long report starts at its top and scrolls to its end.
    let s = screen_at(w, 100, 20);
    assert!(
        s.contains("Runbook timeline") && !s.contains("Enter closes."),
        "{s}"
    );
    press(w, KeyCode::Char('G'));
    let s = screen_at(w, 100, 20);
    assert!(
        !s.contains("Runbook timeline") && s.contains("Enter closes."),
        "{s}"
    );
    assert_eq!(press(w, KeyCode::Enter), WizardStatus::Closed);
}

/// Tick for a moment: long enough for anything a key decided to start.
fn settle(w: &mut dyn Wizard) {
    for _ in 0..10 {
        w.tick(chrono::Utc::now());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stopping the production app is deliberate: a bare Enter (or anything
/// but STOP) runs nothing; STOP and Enter runs the stop command; SKIP and
/// Enter goes on without it, for an app that is already down.
#[test]
fn recovery_isolate_runs_the_stop_command_only_after_stop_is_typed() {
    let root = tempfile::tempdir().unwrap();
    let stopped = root.path().join("stopped");
    let sb = Sandbox::new();
    sb.write_config(&format!(
        "[app]\nstop_command = \"touch '{}'\"\n",
        stopped.display()
    ));
    sb.ok(&["list"]);
    let mut w = open(&sb, WizardKind::Recovery);
    let w = w.as_mut();
    assert_shows(w, "Step 1 of 7: Assess");
    press(w, KeyCode::Enter);
    let s = flat(&assert_shows(w, "Stop command: touch"));
    assert!(
        s.contains("STOP+Enter run the stop command")
            && s.contains("SKIP+Enter skip: app already down"),
        "the footer says how: {s}"
    );
    assert!(w.wants_text(), "letters are typed, not taken as commands");

    press(w, KeyCode::Enter);
    settle(w);
    assert!(!stopped.exists(), "a bare Enter ran the stop command");
    assert!(!w.is_running());
    let s = assert_shows(w, "Step 2 of 7: Isolate");
    assert!(s.contains("Refused: nothing was run"), "{s}");

    typed(w, "stop");
    press(w, KeyCode::Enter);
    settle(w);
    assert!(!stopped.exists(), "'stop' ran the stop command");
    assert_shows(w, "'stop' does not match");

    for _ in 0..4 {
        press(w, KeyCode::Backspace);
    }
    typed(w, "STOP");
    press(w, KeyCode::Enter);
    wait_idle(w, "stop command");
    assert!(
        stopped.exists(),
        "STOP and Enter did not run the stop command"
    );
    assert_shows(w, "OK: touch");
    press(w, KeyCode::Enter);
    assert_shows(w, "Step 3 of 7: Recovery point");

    // The app is already down: SKIP goes on without running the command,
    // and the step says it was skipped when the operator comes back to it.
    std::fs::remove_file(&stopped).unwrap();
    let mut w = open(&sb, WizardKind::Recovery);
    let w = w.as_mut();
    press(w, KeyCode::Enter);
    typed(w, "SKIP");
    press(w, KeyCode::Enter);
    assert_shows(w, "Step 3 of 7: Recovery point");
    settle(w);
    assert!(!stopped.exists(), "SKIP ran the stop command");
    press(w, KeyCode::Esc);
    let s = flat(&assert_shows(w, "Step 2 of 7: Isolate"));
    assert!(
        s.contains("Skipped: not run, the app is already down"),
        "{s}"
    );
    press(w, KeyCode::Enter);
    assert_shows(w, "Step 3 of 7: Recovery point");
    assert!(!stopped.exists());
}

/// The objectives are the configured ones (RTO 90 min; RPO per type), the
/// report has one RTO, and an app whose health check fails is not called
/// recovered: the report file and the audit log say its health FAILED.
#[test]
fn recovery_wizard_records_a_failed_app_health_against_the_configured_objectives() {
    let root = tempfile::tempdir().unwrap();
    let stopped = root.path().join("app-stopped");
    let started = root.path().join("app-started");
    let sb = Sandbox::new();
    sb.write_config(&format!(
        "[health]\nrto_minutes = 90\n[health.rpo_minutes]\nfilesystem = 30\nconfiguration = 2880\n[app]\nstop_command = \"touch '{}'\"\nstart_command = \"touch '{}'\"\nhealth_command = \"echo panel answers 503 >&2; exit 3\"\n",
        stopped.display(),
        started.display(),
    ));
    populate(&sb.app);
    sb.generate_key();
    sb.backup("configuration", &[]);
    sb.backup("filesystem", &[]);

    let mut w = open(&sb, WizardKind::Recovery);
    let w = w.as_mut();
    wait_screen(w, "Health (evaluated");
    press(w, KeyCode::Enter);
    // 2: the app is already down.
    typed(w, "SKIP");
    press(w, KeyCode::Enter);
    // 3: each type's data-loss window against its own objective.
    press(w, KeyCode::Enter);
    wait_idle(w, "recovery plan");
    let s = assert_shows(w, "Recovery set:");
    let loss = |s: &str, t: &str| {
        s.lines()
            .find(|l| l.trim_start_matches(['│', ' ']).starts_with(t) && l.contains("objective"))
            .unwrap_or_else(|| panic!("no data-loss line for {t}:\n{s}"))
            .to_string()
    };
    assert!(
        loss(&s, "filesystem").contains("objective 30m 00s: MET"),
        "{s}"
    );
    assert!(
        loss(&s, "configuration").contains("objective 2d 0h: MET"),
        "{s}"
    );
    press(w, KeyCode::Enter);
    // 4: execute.
    typed(w, "RECOVER");
    press(w, KeyCode::Enter);
    wait_idle(w, "recover");
    assert_shows(w, "Recovery finished.");
    press(w, KeyCode::Enter);
    // 5: the app's health check fails, and that is recorded.
    wait_idle(w, "health command");
    assert_shows(w, "The app is not healthy yet");
    let s = wait_screen(w, "recorded in the recovery report and the audit log");
    assert!(s.contains("App health after recovery (FAILED)"), "{s}");

    let reports: Vec<PathBuf> = std::fs::read_dir(sb.catalog.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("recovery-")
        })
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let md = std::fs::read_to_string(&reports[0]).unwrap();
    assert!(
        md.contains(
            "## App health after recovery: FAILED (`echo panel answers 503 >&2; exit 3` exit 3)"
        ),
        "{md}"
    );
    assert!(md.contains("the app is NOT healthy"), "{md}");
    assert!(!md.contains("**recovered**"), "{md}");
    let audit = sb.json(&["audit", "list"]);
    let health: Vec<&serde_json::Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "recover" && a["outcome"] != "succeeded")
        .collect();
    assert_eq!(health.len(), 1, "{audit}");
    assert_eq!(health[0]["outcome"], "app-unhealthy", "{audit}");
    assert!(
        health[0]["detail"].as_str().unwrap().contains("exit 3"),
        "{audit}"
    );

    press(w, KeyCode::Enter);
    // 6: the start command still runs on Enter; then the app's health is
    // checked again, now that it runs (still failing here).
    press(w, KeyCode::Enter);
    wait_idle(w, "start command");
    assert!(started.exists());
    press(w, KeyCode::Enter);
    wait_idle(w, "health after start");
    assert_shows(w, "App health now that it runs:");
    press(w, KeyCode::Enter);
    // 7: the whole report.
    let s = screen_at(w, 220, 120);
    let verdict = s
        .lines()
        .find(|l| l.contains("Verdict:"))
        .unwrap_or_else(|| panic!("no verdict:\n{s}"));
    assert!(verdict.contains("the app is NOT healthy"), "{verdict}");
    assert!(!verdict.to_lowercase().contains("recovered"), "{verdict}");
    let s = flat(&s);
    assert_eq!(s.matches("RTO").count(), 1, "one RTO in the report: {s}");
    assert!(
        s.contains("Achieved RTO (isolation to app started; the app was already down")
            && s.contains("objective 1h 30m: MET only if the app went down less than"),
        "{s}"
    );
    assert!(s.contains("time to restore"), "{s}");
    assert!(s.contains("Time to restore (this run"), "{s}");
    assert!(s.contains("isolate: skipped: `touch"), "{s}");
    assert!(s.contains("App health after recovery: FAILED"), "{s}");
    assert!(
        s.contains("## App health after recovery: FAILED"),
        "the report on screen has the recorded section: {s}"
    );
    assert!(!stopped.exists(), "the skipped stop command never ran");
}

// ---- recovery wizard: where the backups come from ----

/// `[[targets]]` entries: local directories (another disk), by name.
fn local_targets(targets: &[(&str, &std::path::Path)]) -> String {
    targets
        .iter()
        .map(|(name, path)| {
            format!(
                "[[targets]]\nname = \"{name}\"\nkind = \"local\"\npath = \"{}\"\n",
                path.display()
            )
        })
        .collect()
}

/// The ids of the backups in the catalog.
fn backup_ids(sb: &Sandbox) -> Vec<String> {
    let list = sb.json(&["list"]);
    list.as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect()
}

/// From Assess to the recovery point (no stop command configured).
fn to_recovery_point(w: &mut dyn Wizard) -> String {
    press(w, KeyCode::Enter);
    press(w, KeyCode::Enter);
    assert_shows(w, "Step 3 of 7: Recovery point")
}

/// A machine that has lost its repository and catalog, with one target
/// holding copies: the wizard starts on that target and says why, brings
/// its backups back, plans over them and recovers; the report and the
/// audit log say the backups came from the target.
#[test]
fn recovery_wizard_on_a_bare_machine_recovers_from_a_target() {
    let disk = tempfile::tempdir().unwrap();
    let usb = disk.path().join("usb");
    std::fs::create_dir(&usb).unwrap();
    let sb = Sandbox::new();
    sb.write_config(&local_targets(&[("usb", &usb)]));
    populate(&sb.app);
    sb.generate_key();
    sb.backup("configuration", &[]);
    sb.backup("filesystem", &[]);
    let ids = backup_ids(&sb);
    assert_eq!(ids.len(), 2);
    let config_py = std::fs::read(sb.app.join("config.py")).unwrap();
    crate::offsite::lose_repo_and_catalog(&sb);
    std::fs::write(sb.app.join("config.py"), "DEBUG = True\n").unwrap();

    let mut w = open(&sb, WizardKind::Recovery);
    let w = w.as_mut();
    let s = flat(&to_recovery_point(w));
    assert!(s.contains("Where the backups come from"), "{s}");
    assert!(s.contains("local repository"), "{s}");
    assert!(
        s.contains(&format!("> usb (local: {})", usb.display())),
        "the target is chosen: {s}"
    );
    assert!(
        s.contains("this looks like a bare machine, so target 'usb'"),
        "and the step says why: {s}"
    );
    assert!(
        s.contains("Enter brings the backups back from target 'usb'"),
        "{s}"
    );
    press(w, KeyCode::Enter);
    wait_idle(w, "fetch and plan");
    let s = assert_shows(w, "Recovery set:");
    for id in &ids {
        assert!(s.contains(id.as_str()), "the plan lists {id}:\n{s}");
    }
    let f = flat(&s);
    assert!(
        f.contains("usb (local: ") && f.contains("fetched: 2 fetched"),
        "{s}"
    );
    assert!(
        f.contains("OK: lifeboat --json catalog rebuild --from usb"),
        "{s}"
    );
    assert!(!f.contains("waiting for the job"), "{s}");
    assert!(sb.catalog.exists(), "the catalog was rebuilt");
    assert_eq!(backup_ids(&sb).len(), 2);

    press(w, KeyCode::Enter);
    typed(w, "RECOVER");
    press(w, KeyCode::Enter);
    wait_idle(w, "recover");
    assert_shows(w, "Recovery finished.");
    assert_eq!(std::fs::read(sb.app.join("config.py")).unwrap(), config_py);
    press(w, KeyCode::Enter);
    let s = flat(&wait_screen(w, "is recorded in the recovery report"));
    assert!(
        s.contains(&format!(
            "Where the backups came from (target 'usb' (local, {})) is recorded",
            usb.display()
        )),
        "{s}"
    );
    let reports: Vec<_> = std::fs::read_dir(sb.catalog.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("recovery-"))
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let md = std::fs::read_to_string(&reports[0]).unwrap();
    assert!(
        md.contains(&format!(
            "## Source: target 'usb' (local, {})",
            usb.display()
        )),
        "{md}"
    );
    assert!(md.contains(": 2 fetched ("), "{md}");
    let audit = sb.json(&["audit", "list"]);
    let from: Vec<&serde_json::Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "recover" && a["outcome"] == "from-target")
        .collect();
    assert_eq!(from.len(), 1, "{audit}");
}

/// The source list names every target with its kind, and starts on the
/// repository while it holds backups. A target that cannot be reached (a
/// disk not mounted) fails in place, named, and another can be chosen.
#[test]
fn recovery_wizard_names_an_unreachable_target_and_lets_another_be_chosen() {
    let disk = tempfile::tempdir().unwrap();
    let usb = disk.path().join("usb");
    let gone = disk.path().join("not-mounted");
    std::fs::create_dir(&usb).unwrap();
    let sb = Sandbox::new();
    sb.write_config(&local_targets(&[("usb", &usb)]));
    populate(&sb.app);
    sb.generate_key();
    sb.backup("configuration", &[]);
    let ids = backup_ids(&sb);
    sb.write_config(&local_targets(&[("gone", &gone), ("usb", &usb)]));

    // Backups here: the repository is chosen, the targets are offered.
    let mut w = open(&sb, WizardKind::Recovery);
    let s = flat(&to_recovery_point(w.as_mut()));
    assert!(s.contains("> local repository"), "{s}");
    assert!(
        s.contains(&format!("gone (local: {})", gone.display()))
            && s.contains(&format!("usb (local: {})", usb.display())),
        "{s}"
    );
    assert!(!s.contains("bare machine"), "{s}");
    assert!(s.contains("↑/↓ source"), "the footer says how: {s}");

    // Gone: the first target is chosen, and cannot be reached.
    crate::offsite::lose_repo_and_catalog(&sb);
    let mut w = open(&sb, WizardKind::Recovery);
    let w = w.as_mut();
    let s = flat(&to_recovery_point(w));
    assert!(s.contains("> gone (local: "), "{s}");
    press(w, KeyCode::Enter);
    wait_idle(w, "fetch from an unmounted disk");
    let s = flat(&assert_shows(w, "Step 3 of 7: Recovery point"));
    assert!(
        s.contains(&format!(
            "FAILED: could not bring the backups back from target 'gone' (local, {})",
            gone.display()
        )),
        "{s}"
    );
    assert!(s.contains("is its disk mounted?"), "what it said: {s}");
    assert!(s.contains("Choose another source"), "{s}");
    assert!(!s.contains("Recovery set:"), "{s}");
    // Enter again tries the same target again.
    press(w, KeyCode::Enter);
    wait_idle(w, "fetch again");
    assert_shows(w, "could not bring the backups back from target 'gone'");

    press(w, KeyCode::Down);
    let s = flat(&assert_shows(w, "> usb"));
    assert!(
        s.contains("Enter brings the backups back from target 'usb'"),
        "{s}"
    );
    press(w, KeyCode::Enter);
    wait_idle(w, "fetch from usb and plan");
    let s = assert_shows(w, "Recovery set:");
    assert!(s.contains(ids[0].as_str()), "{s}");
    assert!(!flat(&s).contains("could not bring"), "{s}");
    press(w, KeyCode::Enter);
    assert_shows(w, "Step 4 of 7: Execute");
}

// ---- drill wizard ----

#[test]
fn drill_wizard_shows_a_failing_drill_in_place() {
    let sb = Sandbox::new();
    let mut w = open(&sb, WizardKind::Drill);
    let w = w.as_mut();
    let s = assert_shows(w, "never touches production");
    assert!(s.contains("Enter runs: lifeboat drill"), "{s}");
    // A config broken after the console started makes the drill's worker
    // fail before it claims the job: the wizard says why in place.
    sb.write_config("[compression]\nlevel = 99\n");
    press(w, KeyCode::Enter);
    wait_idle(w, "drill");
    let s = assert_shows(w, "Drill FAILED");
    let text = flat(&s);
    assert!(
        text.contains("FAILED: lifeboat drill (the worker for job"),
        "{s}"
    );
    assert!(
        text.contains("exited (exit 2) before it ran the job"),
        "{s}"
    );
    assert!(
        text.contains("invalid value for [compression] level"),
        "{s}"
    );
    assert_eq!(press(w, KeyCode::Enter), WizardStatus::Closed);
}

// ---- restore wizard, database ----

/// A uniquely named database, dropped with everything derived from its
/// name (`<name>_restored_*`) however the test ends.
struct TestDb {
    admin: lifeboat_engine::sources::database::ConnInfo,
    name: String,
}

impl TestDb {
    fn pg(&self, db: &str) -> lifeboat_engine::sources::database::Pg {
        lifeboat_engine::sources::database::Pg::connect(
            &self.admin.with_db(db),
            Duration::from_secs(10),
        )
        .expect("connect to the test server")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Ok(pg) =
            lifeboat_engine::sources::database::Pg::connect(&self.admin, Duration::from_secs(10))
        else {
            return;
        };
        let p = format!("{}_", self.name);
        let mut names = vec![self.name.clone()];
        if let Ok(all) = pg.list_databases() {
            names.extend(all.into_iter().filter(|n| n.starts_with(&p)));
        }
        for n in names {
            let _ = pg.drop_database(&n);
        }
    }
}

#[test]
fn restore_wizard_restores_a_database_into_a_new_database() {
    use lifeboat_engine::sources::database::testing::{test_server, unique_name};
    let Some(admin) = test_server() else { return };
    let db = TestDb {
        name: unique_name("lb_wiz"),
        admin,
    };
    db.pg("postgres").create_database(&db.name, None).unwrap();
    db.pg(&db.name)
        .execute("CREATE TABLE users (id int primary key, name text); INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 250) g;")
        .unwrap();
    let sb = Sandbox::with_extra_config(&format!(
        "[sources.database]\nurl = \"{}\"\n",
        pg_url_for(&db.name)
    ));
    let id = id_of(&sb.backup("database", &[]));
    db.pg(&db.name)
        .execute("DELETE FROM users WHERE id > 100")
        .unwrap();

    let mut w = open(&sb, WizardKind::Restore { backup_id: None });
    let w = w.as_mut();
    assert_shows(w, "database  (1 backups)");
    press(w, KeyCode::Enter);
    assert_shows(w, &id);
    press(w, KeyCode::Enter);
    assert_shows(w, &format!("(*) a new database: {}_restored_", db.name));
    // The proposed name can be changed; a bad one is refused before any
    // dry run, saying why.
    assert!(w.wants_text());
    let clear = |w: &mut dyn Wizard| {
        w.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    };
    clear(w);
    typed(w, "new copy");
    press(w, KeyCode::Enter);
    assert_shows(w, "Refused: 'new copy' has ' ' in it");
    clear(w);
    typed(w, &db.name);
    press(w, KeyCode::Enter);
    assert_shows(w, "is the live database this backup came from");
    assert_shows(w, "Step 3 of 6: Target");
    assert!(!w.is_running());
    clear(w);
    let target = format!("{}_edited", db.name);
    typed(w, &target);
    press(w, KeyCode::Enter);
    wait_idle(w, "database dry run");
    let s = assert_shows(w, "would go into");
    assert!(
        s.matches(&target).count() >= 2,
        "preview names {target}:\n{s}"
    );
    assert!(!db.pg("postgres").database_exists(&target).unwrap());
    press(w, KeyCode::Enter);
    press(w, KeyCode::Enter);
    wait_idle(w, "database restore");
    let s = assert_shows(w, "OK: lifeboat restore --type database");
    assert!(
        s.contains("rows match the backup"),
        "verification shown:\n{s}"
    );
    assert_eq!(
        db.pg(&target)
            .query_one_i64("SELECT count(*) FROM users")
            .unwrap(),
        250
    );
    assert_eq!(
        db.pg(&db.name)
            .query_one_i64("SELECT count(*) FROM users")
            .unwrap(),
        100,
        "the live database was not touched"
    );
}

// ---- live progress and cancel ----

/// Hold the lock a restore into `target` takes, the way another job would
/// (same file, same flock), until dropped.
pub(crate) fn hold_restore_lock(sb: &Sandbox, target: &str) -> std::fs::File {
    use sha2::Digest;
    use std::os::unix::io::AsRawFd;
    let resource = format!("restore target {target}");
    let dir = sb.catalog.parent().unwrap().join("locks");
    std::fs::create_dir_all(&dir).unwrap();
    let safe: String = resource
        .chars()
        .take(60)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let digest = hex::encode(&sha2::Sha256::digest(resource.as_bytes())[..6]);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{safe}-{digest}.lock")))
        .unwrap();
    // SAFETY: flock on a descriptor we own.
    assert_eq!(
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    f
}

#[test]
fn a_running_restore_shows_its_job_live_and_x_cancels_it() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let id = id_of(&sb.backup("filesystem", &[]));
    let mut w = open(
        &sb,
        WizardKind::Restore {
            backup_id: Some(id.clone()),
        },
    );
    let w = w.as_mut();
    let s = screen_at(w, 300, 30);
    let start = s.find("a new directory: ").expect("target shown") + "a new directory: ".len();
    let target: String = s[start..].chars().take_while(|c| *c != ' ').collect();
    assert!(target.contains(&id), "{target}");
    // Another job holds the target: the wizard's restore waits for it.
    let lock = hold_restore_lock(&sb, &target);
    press(w, KeyCode::Enter);
    wait_idle(w, "dry run");
    press(w, KeyCode::Enter);
    press(w, KeyCode::Enter);
    assert!(w.is_running());
    let deadline = Instant::now() + Duration::from_secs(120);
    let s = loop {
        w.tick(chrono::Utc::now());
        let s = screen_at(w, 300, 40);
        if s.contains("running (waiting for restore target") {
            break s;
        }
        assert!(
            w.is_running() && Instant::now() < deadline,
            "the restore's job never showed as waiting in the wizard:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(s.contains(&format!("restore {id}: running")), "{s}");
    assert!(s.contains("Running: lifeboat restore"), "{s}");
    assert!(s.contains("x cancel"), "{s}");
    press(w, KeyCode::Char('x'));
    wait_idle(w, "cancelled restore");
    let s = assert_shows(w, "FAILED: lifeboat restore");
    assert!(s.contains(&format!("restore {id}: cancelled")), "{s}");
    assert!(
        !std::path::Path::new(&target).exists(),
        "nothing was restored"
    );
    drop(lock);
}

// ---- small terminals and "all" ----

#[test]
fn every_wizard_draws_at_80x24_and_says_when_the_terminal_is_too_small() {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.backup("filesystem", &[]);
    for (kind, first) in [
        (WizardKind::Backup, "Step 1 of 6: Types"),
        (WizardKind::Restore { backup_id: None }, "Step 1 of 6: Type"),
        (WizardKind::Recovery, "Step 1 of 7: Assess"),
        (WizardKind::Drill, "Step 1 of 3: Plan"),
    ] {
        let mut w = open(&sb, kind.clone());
        let s = screen_at(w.as_mut(), 80, 24);
        assert!(s.contains(first), "{kind:?} at 80x24:\n{s}");
        // The key hints of the step are on screen, from the same list.
        let (k, what) = w.keys()[0];
        assert!(s.contains(&format!("{k} {what}")), "{kind:?} hints:\n{s}");
        let s = screen_at(w.as_mut(), 22, 6);
        assert!(s.contains("needs at"), "{kind:?} at 22x6:\n{s}");
    }
}

#[test]
fn backup_wizard_all_runs_backup_all() {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    let mut w = open(&sb, WizardKind::Backup);
    let w = w.as_mut();
    press(w, KeyCode::Char(' '));
    let s = assert_shows(w, "[x] all configured types");
    assert!(
        s.contains("[x] configuration") && s.contains("[x] filesystem"),
        "{s}"
    );
    press(w, KeyCode::Enter);
    typed(w, "all_1");
    for _ in 0..3 {
        press(w, KeyCode::Enter);
    }
    assert_shows(w, "lifeboat backup --all --name all_1");
    press(w, KeyCode::Enter);
    wait_idle(w, "backup --all");
    assert_shows(w, "OK: lifeboat backup --all");
    let list = sb.json(&["list"]);
    let mut types: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["name"] == "all_1" && b["status"] == "succeeded")
        .map(|b| b["type"].as_str().unwrap().to_string())
        .collect();
    types.sort();
    assert_eq!(types, ["configuration", "filesystem"], "{list}");
}

#[test]
fn restore_wizard_stops_at_the_timeline_for_a_broken_chain() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let full = id_of(&sb.backup("filesystem", &["--full"]));
    std::fs::write(sb.app.join("uploads/later.txt"), "later\n").unwrap();
    let inc = id_of(&sb.backup("filesystem", &[]));
    let cat = lifeboat_engine::catalog::Catalog::open(&sb.catalog).unwrap();
    assert!(cat.delete_backup(&full).unwrap());
    drop(cat);
    let mut w = open(
        &sb,
        WizardKind::Restore {
            backup_id: Some(inc.clone()),
        },
    );
    let w = w.as_mut();
    let s = assert_shows(w, "Step 2 of 6: Point");
    assert!(s.contains("incremental, chain BROKEN"), "{s}");
    assert!(
        s.contains(&format!(
            "backup {inc} is incremental and a parent is missing"
        )),
        "{s}"
    );
    press(w, KeyCode::Enter);
    assert_shows(w, "Step 2 of 6: Point");
    assert!(!w.is_running());
}

#[test]
fn restore_wizard_replaces_a_database_in_place_after_its_name_is_typed() {
    use lifeboat_engine::sources::database::testing::{test_server, unique_name};
    let Some(admin) = test_server() else { return };
    let db = TestDb {
        name: unique_name("lb_wiz"),
        admin,
    };
    db.pg("postgres").create_database(&db.name, None).unwrap();
    db.pg(&db.name)
        .execute("CREATE TABLE users (id int primary key); INSERT INTO users SELECT generate_series(1, 40);")
        .unwrap();
    let sb = Sandbox::with_extra_config(&format!(
        "[sources.database]\nurl = \"{}\"\n",
        pg_url_for(&db.name)
    ));
    let id = id_of(&sb.backup("database", &[]));
    db.pg(&db.name).execute("DELETE FROM users").unwrap();

    let mut w = open(
        &sb,
        WizardKind::Restore {
            backup_id: Some(id),
        },
    );
    let w = w.as_mut();
    press(w, KeyCode::Down);
    assert_shows(w, "(*) in place, over the live database");
    press(w, KeyCode::Enter);
    wait_idle(w, "in-place dry run");
    let s = assert_shows(w, "(in place)");
    assert!(s.contains("A safety copy of them is taken first"), "{s}");
    press(w, KeyCode::Enter);
    assert_shows(w, &format!("Type {} to confirm", db.name));
    typed(w, "postgres");
    press(w, KeyCode::Enter);
    assert_shows(w, "Refused: 'postgres' does not match");
    assert!(!w.is_running());
    assert_eq!(
        db.pg(&db.name)
            .query_one_i64("SELECT count(*) FROM users")
            .unwrap(),
        0
    );
    for _ in 0..8 {
        press(w, KeyCode::Backspace);
    }
    typed(w, &db.name);
    press(w, KeyCode::Enter);
    wait_idle(w, "in-place database restore");
    let s = assert_shows(w, "OK: lifeboat restore --type database");
    assert!(s.contains("--in-place --yes"), "{s}");
    assert_eq!(
        db.pg(&db.name)
            .query_one_i64("SELECT count(*) FROM users")
            .unwrap(),
        40
    );
}

#[test]
fn prune_wizard_previews_confirms_and_deletes_what_the_policy_lets_go() {
    let sb = Sandbox::with_extra_config("[retention]\nmin_keep = 1\n");
    populate(&sb.app);
    let mut made = Vec::new();
    for i in 0..3 {
        std::fs::write(sb.app.join(format!("uploads/p{i}.txt")), format!("{i}")).unwrap();
        made.push(sb.backup("filesystem", &["--full"]));
    }
    // The two older backups were made 200 days ago (beyond the 90-day window).
    {
        let db = rusqlite::Connection::open(&sb.catalog).unwrap();
        let old = (chrono::Utc::now() - chrono::Duration::days(200))
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        for b in &made[..2] {
            db.execute(
                "UPDATE backups SET created_at = ?1 WHERE id = ?2",
                rusqlite::params![old, id_of(b)],
            )
            .unwrap();
        }
    }
    let mut w = open(&sb, WizardKind::Prune);
    let preview = wait_screen(w.as_mut(), "Enter: confirm");
    assert_eq!(
        preview.matches("DELETE  filesystem").count(),
        2,
        "{preview}"
    );
    assert!(preview.contains("past keep_days = 90"), "{preview}");
    press(w.as_mut(), KeyCode::Enter);
    // A wrong confirmation is refused and deletes nothing.
    typed(w.as_mut(), "yes");
    press(w.as_mut(), KeyCode::Enter);
    assert_shows(w.as_mut(), "Refused");
    assert!(file_of(&made[0]).exists());
    for _ in 0..3 {
        press(w.as_mut(), KeyCode::Backspace);
    }
    typed(w.as_mut(), "prune");
    press(w.as_mut(), KeyCode::Enter);
    wait_idle(w.as_mut(), "prune");
    assert_shows(w.as_mut(), "Prune finished.");
    for b in &made[..2] {
        assert!(!file_of(b).exists(), "{} still there", file_of(b).display());
    }
    assert!(file_of(&made[2]).exists());
    let left = sb.json(&["list"]);
    assert_eq!(left.as_array().unwrap().len(), 1, "{left:#}");
    assert_eq!(press(w.as_mut(), KeyCode::Enter), WizardStatus::Closed);
}

/// At 80x24 a list longer than the screen keeps its cursor in sight: the
/// chosen backup is never scrolled away, whether it is the newest (the
/// top) or the cursor walked to the oldest (the bottom).
#[test]
fn restore_wizard_keeps_the_chosen_backup_in_sight_at_80x24() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let full = id_of(&sb.backup("filesystem", &["--full"]));
    let cat = lifeboat_engine::catalog::Catalog::open(&sb.catalog).unwrap();
    let base = cat.get_backup(&full).unwrap().unwrap();
    for i in 0..30 {
        let mut b = base.clone();
        b.id = format!("fs-copy-{i:02}");
        b.created_at += chrono::Duration::seconds(60 + i);
        cat.insert_backup(&b).unwrap();
    }
    drop(cat);
    let mut w = open(&sb, WizardKind::Restore { backup_id: None });
    let w = w.as_mut();
    assert_shows(w, "filesystem  (31 backups");
    press(w, KeyCode::Down);
    press(w, KeyCode::Enter);
    let s = screen_at(w, 80, 24);
    let cursor = s.lines().find(|l| l.contains("> ")).unwrap_or_else(|| {
        panic!("the chosen backup is off screen:\n{s}");
    });
    assert!(cursor.contains("fs-copy-29"), "the newest:\n{s}");
    for _ in 0..30 {
        press(w, KeyCode::Down);
    }
    let s = screen_at(w, 80, 24);
    let cursor = s.lines().find(|l| l.contains("> ")).unwrap_or_else(|| {
        panic!("the chosen backup is off screen:\n{s}");
    });
    assert!(cursor.contains(&full), "the oldest:\n{s}");
}
