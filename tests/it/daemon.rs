//! The scheduler daemon through the real binary: due slots become queued
//! jobs that its worker pool runs, once each, across restarts, clock jumps
//! and two daemons on one catalog.

use crate::common::*;
use chrono::Utc;

fn schedule(extra: &str) -> Sandbox {
    Sandbox::with_extra_config(&format!(
        "[schedule]\ntimezone = \"UTC\"\n[schedule.filesystem]\nevery = \"daily 02:00\"\n[schedule.configuration]\nevery = \"\"\n[schedule.all]\nfull = []\n{extra}"
    ))
}

fn daemon_once(sb: &Sandbox, now: &str) -> std::process::Output {
    sb.cmd()
        .env("LIFEBOAT_NOW", now)
        .args(["daemon", "--once"])
        .output()
        .unwrap()
}

fn fs_backups(sb: &Sandbox) -> usize {
    sb.json(&["list", "--type", "filesystem"])
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn a_due_slot_runs_once_across_restarts_downtime_and_clock_jumps() {
    let sb = schedule("");
    populate(&sb.app);
    let now = Utc::now();
    // First start: nothing was ever backed up since the latest 02:00 slot,
    // so that slot runs now.
    let out = daemon_once(&sb, &now.to_rfc3339());
    assert!(out.status.success(), "{}", all_text(&out));
    assert!(all_text(&out).contains("queued job"), "{}", all_text(&out));
    assert_eq!(fs_backups(&sb), 1);
    // Again: the slot is taken.
    let out = daemon_once(&sb, &(now + chrono::Duration::minutes(5)).to_rfc3339());
    assert!(out.status.success(), "{}", all_text(&out));
    assert_eq!(fs_backups(&sb), 1);
    // Down for three days: the latest missed slot runs once, not three times.
    let later = now + chrono::Duration::days(3);
    let out = daemon_once(&sb, &later.to_rfc3339());
    assert!(out.status.success(), "{}", all_text(&out));
    assert!(all_text(&out).contains("missed"), "{}", all_text(&out));
    assert_eq!(fs_backups(&sb), 2);
    // The clock goes back a day: no run repeats.
    let out = daemon_once(&sb, &(later - chrono::Duration::days(1)).to_rfc3339());
    assert!(out.status.success(), "{}", all_text(&out));
    assert_eq!(fs_backups(&sb), 2);
    // The job log says why it ran.
    let jobs = sb.json(&["status"]);
    let scheduled = jobs
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["kind"] == "backup")
        .count();
    assert_eq!(scheduled, 2);
}

#[test]
fn two_daemons_on_one_catalog_run_a_slot_once() {
    let sb = schedule("");
    populate(&sb.app);
    let now = Utc::now().to_rfc3339();
    let spawn = || {
        sb.cmd()
            .env("LIFEBOAT_NOW", &now)
            .args(["daemon", "--once"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", all_text(&a));
    assert!(b.status.success(), "{}", all_text(&b));
    assert_eq!(
        fs_backups(&sb),
        1,
        "{}\n---\n{}",
        all_text(&a),
        all_text(&b)
    );
}

#[test]
fn an_invalid_schedule_stops_the_daemon_with_the_key_named() {
    let sb = Sandbox::with_extra_config("[schedule.filesystem]\ncron = \"99 * * * *\"\n");
    let err = sb.fails(&["daemon", "--once"], 2);
    assert!(err.contains("[schedule.filesystem] cron"), "{err}");
}

#[test]
fn the_resident_daemon_runs_a_short_schedule_and_stops_on_sigterm() {
    // Every minute; the first slot runs at start-up (nothing backed up yet).
    let sb = Sandbox::with_extra_config(
        "[schedule]\ntimezone = \"UTC\"\n[schedule.filesystem]\ncron = \"* * * * *\"\n[schedule.configuration]\nevery = \"\"\n[schedule.all]\nfull = []\n",
    );
    populate(&sb.app);
    let child = sb
        .cmd()
        .args(["daemon", "--health-every", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    wait_for(60, "the first scheduled backup", || {
        (fs_backups(&sb) >= 1).then_some(())
    });
    std::fs::write(sb.app.join("uploads/new.txt"), "changed").unwrap();
    wait_for(130, "the next minute's backup", || {
        (fs_backups(&sb) >= 2).then_some(())
    });
    // SIGTERM: stops cleanly.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let (status, err) = wait_child(child, 60, "the daemon to stop");
    assert!(status.success(), "{err}");
    assert!(err.contains("daemon stopped"), "{err}");
    assert!(err.contains("job") && err.contains("succeeded"), "{err}");
    // Every scheduled job ended; none is left running.
    let jobs = sb.json(&["status"]);
    assert!(
        jobs.as_array()
            .unwrap()
            .iter()
            .all(|j| j["state"] != "running" && j["state"] != "queued"),
        "{jobs:#}"
    );
}
