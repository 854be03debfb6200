//! The app around a restore (`[app]` stop, start, health) and the hooks
//! around a backup (`[hooks.<type>]`), through the real binary: the
//! commands are real shell commands that write what they saw to a log.

use std::fs;
use std::path::Path;

use crate::common::*;

/// An `[app]` section whose commands append to `log`; `health` is the
/// health command.
fn app_config(log: &Path, stop: &str, health: &str) -> String {
    format!(
        "[app]\nstop_command = \"{stop}\"\nstart_command = \"echo start >> {log}\"\nhealth_command = \"{health}\"\nhealth_timeout_seconds = 2\n",
        log = log.display()
    )
}

fn lines(log: &Path) -> Vec<String> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn restore_in_place(sb: &Sandbox, id: &str, extra: &[&str], code: i32) -> String {
    let mut args = vec!["restore", "--id", id, "--in-place", "--yes"];
    args.extend_from_slice(extra);
    let out = sb.run(&args);
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(code), "{text}");
    text
}

#[test]
fn a_restore_in_place_stops_the_app_first_and_starts_and_checks_it_after() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    // The stop command records what the file held when the app stopped:
    // the restore had not touched it yet.
    let probe = "/uploads/docs/report.txt";
    let stop = format!("echo stop $(wc -c < $APP{probe}) >> {}", log.display());
    let health = format!("echo health >> {}", log.display());
    let sb = Sandbox::with_extra_config(&app_config(&log, &stop, &health));
    populate(&sb.app);
    let b = sb.backup("filesystem", &[]);
    fs::write(sb.app.join("uploads/docs/report.txt"), "changed").unwrap();
    let out = sb
        .cmd()
        .env("APP", &sb.app)
        .args([
            "restore",
            "--id",
            &id_of(&b),
            "--in-place",
            "--yes",
            "--json",
        ])
        .output()
        .unwrap();
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(lines(&log), ["stop 7", "start", "health"], "{text}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let notes = report["notes"].to_string();
    for step in [
        "stop app: [app] stop_command succeeded",
        "start app: [app] start_command succeeded",
        "app health: [app] health_command succeeded",
    ] {
        assert!(notes.contains(step), "{step} not in {notes}");
    }
    assert_ne!(
        fs::read_to_string(sb.app.join("uploads/docs/report.txt")).unwrap(),
        "changed"
    );
    // The job log has each step.
    let jobs = sb.json(&["status"]);
    let id = jobs.as_array().unwrap()[0]["id"].as_i64().unwrap();
    let shown = sb.ok(&["status", &id.to_string()]);
    assert!(shown.contains("stop app:"), "{shown}");
    assert!(shown.contains("app health:"), "{shown}");
}

#[test]
fn an_app_that_will_not_stop_means_nothing_is_restored() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let sb = Sandbox::with_extra_config(&app_config(&log, "echo busy; exit 4", "true"));
    populate(&sb.app);
    let b = sb.backup("filesystem", &[]);
    fs::write(sb.app.join("uploads/docs/report.txt"), "changed").unwrap();
    let text = restore_in_place(&sb, &id_of(&b), &[], 1);
    assert!(
        text.contains("the app could not be stopped, so nothing was restored"),
        "{text}"
    );
    assert!(text.contains("exited with status 4"), "{text}");
    assert!(text.contains("busy"), "{text}");
    assert!(text.contains("--app-stopped"), "{text}");
    assert_eq!(
        fs::read_to_string(sb.app.join("uploads/docs/report.txt")).unwrap(),
        "changed"
    );
    assert!(lines(&log).is_empty());
    // The operator stopped it by hand: the stop command is not run, the
    // app is started after.
    restore_in_place(&sb, &id_of(&b), &["--app-stopped"], 0);
    assert_eq!(lines(&log), ["start"]);
    assert_ne!(
        fs::read_to_string(sb.app.join("uploads/docs/report.txt")).unwrap(),
        "changed"
    );
}

#[test]
fn a_failed_restore_leaves_the_app_stopped_and_an_unhealthy_app_fails_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let stop = format!("echo stop >> {}", log.display());
    let sb = Sandbox::with_extra_config(&app_config(&log, &stop, "echo not yet; exit 1"));
    populate(&sb.app);
    sb.generate_key();
    let b = sb.backup("filesystem", &[]);
    // Restored data, but the app never answers healthy (2 s).
    let text = restore_in_place(&sb, &id_of(&b), &[], 1);
    assert!(
        text.contains("the restore succeeded, but the app did not come back (app health)"),
        "{text}"
    );
    assert!(text.contains("not healthy within 2s"), "{text}");
    assert!(text.contains("not yet"), "{text}");
    assert_eq!(lines(&log), ["stop", "start"]);
    // A backup damaged before the restore: found before the app is touched.
    fs::remove_file(&log).unwrap();
    let payload = file_of(&b);
    let good = fs::read(&payload).unwrap();
    flip_byte(&payload, 200);
    let text = restore_in_place(&sb, &id_of(&b), &[], 4);
    assert!(text.contains("does not match its manifest"), "{text}");
    assert!(lines(&log).is_empty(), "{text}");
    // Damaged while the app stops (after the backup was checked): the
    // restore fails part way, and the app is left stopped, saying so.
    fs::write(&payload, &good).unwrap();
    let stop = format!(
        "echo stop >> {} && printf Z | dd of={} bs=1 seek=200 conv=notrunc 2>/dev/null",
        log.display(),
        payload.display()
    );
    sb.write_config(&app_config(&log, &stop, "true"));
    let text = restore_in_place(&sb, &id_of(&b), &[], 4);
    assert!(text.contains("is left stopped"), "{text}");
    assert_eq!(lines(&log), ["stop"]);
}

#[test]
fn recovery_stops_and_starts_the_app_and_the_drill_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let stop = format!("echo stop >> {}", log.display());
    let health = format!("echo health >> {}", log.display());
    let sb = Sandbox::with_extra_config(&app_config(&log, &stop, &health));
    populate(&sb.app);
    sb.generate_key();
    sb.ok(&["backup", "--all"]);
    let drill = sb.json(&["drill"]);
    assert!(
        lines(&log).is_empty(),
        "the drill ran app commands: {drill}"
    );
    let r = sb.json(&["recover", "--dir", sb.repo.to_str().unwrap(), "--yes"]);
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(lines(&log), ["stop", "start", "health"]);
    let phases: Vec<&str> = r["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    let at = |name: &str| phases.iter().position(|p| *p == name).unwrap();
    assert!(at("stop app") < at("restore configuration"), "{phases:?}");
    assert!(at("verify") < at("start app"), "{phases:?}");
    assert!(at("start app") < at("app health"), "{phases:?}");
}

#[test]
fn hooks_run_around_each_backup_and_a_failing_or_hanging_one_fails_it_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("hooks.log");
    let hooks = |before: &str, after: &str| {
        format!(
            "[hooks.configuration]\nbefore = \"{before}\"\nafter = \"{after}\"\ntimeout_seconds = 1\n"
        )
    };
    let record = format!(
        "echo $LIFEBOAT_HOOK $LIFEBOAT_BACKUP_TYPE $LIFEBOAT_OUTCOME >> {}",
        log.display()
    );
    let sb = Sandbox::with_extra_config(&hooks(&record, &record));
    populate(&sb.app);
    sb.generate_key();
    sb.backup("configuration", &[]);
    assert_eq!(
        lines(&log),
        ["before configuration", "after configuration succeeded"]
    );

    // A before hook that fails: no backup, the hook's words shown.
    sb.write_config(&hooks("echo maintenance mode refused; exit 2", &record));
    let before = sb.json(&["list"]).as_array().unwrap().len();
    let text = sb.fails(&["backup", "--type", "configuration"], 1);
    assert!(
        text.contains(
            "the configuration before hook ([hooks.configuration] before) exited with status 2"
        ),
        "{text}"
    );
    assert!(
        !text.contains("echo maintenance"),
        "named by its key: {text}"
    );
    assert!(text.contains("maintenance mode refused"), "{text}");
    assert!(text.contains("the backup was not started"), "{text}");
    assert_eq!(sb.json(&["list"]).as_array().unwrap().len(), before);

    // One that hangs is killed at its timeout.
    sb.write_config(&hooks("sleep 30", ""));
    let text = sb.fails(&["backup", "--type", "configuration"], 1);
    assert!(
        text.contains("still running after 1.0s; it was killed"),
        "{text}"
    );

    // An after hook that fails: the backup is good, the job says the rest.
    sb.write_config(&hooks("", "exit 3"));
    let text = sb.fails(&["backup", "--type", "configuration"], 1);
    assert!(
        text.contains("the backup was written and is good, but the configuration after hook"),
        "{text}"
    );
    let list = sb.json(&["list"]);
    assert_eq!(list.as_array().unwrap().len(), before + 1, "{list}");
    assert_eq!(list[0]["status"], "succeeded", "{list}");
}
