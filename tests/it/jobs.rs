//! The job engine seen from outside: the real `lifeboat` binary in separate
//! processes. Job rows, cancel (from another process and by Ctrl-C), a
//! process killed mid-restore, two jobs on one busy resource, `status
//! --follow`, and `backup --all` with parent and child jobs.

mod crash;
mod progress;

use std::fs;

use crate::common::*;
use lifeboat_engine::sources::database::testing::{test_server, ScratchDb};
use serde_json::Value;

/// Size of the "large" tree in MiB: with `SLOW_COMPRESSION`, enough for a debug build to spend
/// several seconds on it, so another process can act while it runs.
const BIG_MB: usize = 48;

fn big_sandbox() -> Sandbox {
    let sb = Sandbox::with_extra_config(SLOW_COMPRESSION);
    populate(&sb.app);
    big_tree(&sb.app.join("uploads/big"), BIG_MB);
    sb.generate_key();
    sb
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().expect("job id")
}

fn sigkill(child: &std::process::Child) {
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
}

fn sigint(child: &std::process::Child) {
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
}

fn spawn_held_restore(sb: &Sandbox, bid: &str, target: &str) -> std::process::Child {
    sb.cmd()
        .env("LIFEBOAT_HOLD_AT", "restore.writing")
        .args(["restore", "--id", bid, "--target", target])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn log_messages(job: &Value) -> Vec<String> {
    job["log"]
        .as_array()
        .expect("log")
        .iter()
        .map(|l| l["message"].as_str().unwrap_or("").to_string())
        .collect()
}

// ------------------------------------------------------------ status

#[test]
fn status_lists_jobs_with_state_phase_progress_and_log() {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    let b = sb.backup("filesystem", &[]);
    let job_id = b["job_id"].as_i64().expect("backup report has job_id");

    let jobs = sb.jobs();
    let j = jobs
        .iter()
        .find(|j| id(j) == job_id)
        .unwrap_or_else(|| panic!("job {job_id} not in status list: {jobs:?}"));
    assert_eq!(j["kind"], "backup");
    assert_eq!(j["target"], "filesystem");
    assert_eq!(j["state"], "succeeded");
    assert!(j["phase"].is_string(), "phase: {j}");
    assert!(j["bytes_done"].is_u64() && j["items_done"].is_u64(), "{j}");
    assert!(j.get("bytes_total").is_some() && j.get("items_total").is_some());
    assert!(j["started_at"].is_string() && j["finished_at"].is_string());
    assert!(j["error"].is_null());

    let detail = sb.job(job_id);
    assert_eq!(detail["state"], "succeeded");
    let msgs = log_messages(&detail);
    assert!(
        msgs.iter().filter(|m| m.starts_with("phase: ")).count() >= 2,
        "phase changes in the job log: {msgs:?}"
    );

    // Text forms work too.
    let text = sb.ok(&["status"]);
    assert!(text.contains(&job_id.to_string()), "{text}");
    let text = sb.ok(&["status", &job_id.to_string()]);
    assert!(text.contains("succeeded"), "{text}");
}

#[test]
fn status_of_unknown_job_is_a_clear_error() {
    let sb = Sandbox::new();
    sb.generate_key();
    let err = sb.fails_all(&["status", "987654"], 1);
    assert!(err.contains("no job with id 987654"), "{err}");
}

// ------------------------------------------------------------ cancel

#[test]
fn cancel_of_a_running_backup_leaves_no_artifact() {
    let sb = big_sandbox();
    let child = sb.spawn(&["backup", "--type", "filesystem"]);
    let job = sb.wait_running("backup", 60);
    let job_id = id(&job);

    let out = sb.run(&["cancel", &job_id.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", all_text(&out));
    assert!(
        all_text(&out).contains("next safe point"),
        "{}",
        all_text(&out)
    );

    let (st, text) = wait_child(child, 120, "the cancelled backup");
    assert_eq!(
        st.code(),
        Some(1),
        "cancelled backup exit code; output:\n{text}"
    );
    assert!(text.contains("cancelled"), "{text}");

    // Before any other lifeboat process gets to clean up: nothing left.
    assert!(
        artifact_like_files(&sb).is_empty(),
        "files left in the repository: {:?}",
        artifact_like_files(&sb)
    );
    assert!(partial_files(&sb).is_empty());

    let j = sb.job(job_id);
    assert_eq!(j["state"], "cancelled", "{j}");
    let list = sb.json(&["list"]);
    assert!(
        !list
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["status"] == "succeeded"),
        "a succeeded backup row after cancel: {list}"
    );
    assert!(artifact_like_files(&sb).is_empty());
}

#[test]
fn cancel_of_finished_and_unknown_jobs() {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    let b = sb.backup("configuration", &[]);
    let job_id = b["job_id"].as_i64().unwrap();

    let text = sb.fails_all(&["cancel", &job_id.to_string()], 1);
    assert!(text.contains("already succeeded"), "{text}");
    assert!(text.contains("nothing to cancel"), "{text}");
    assert_eq!(sb.job(job_id)["state"], "succeeded");
    assert_eq!(sb.job(job_id)["cancel_requested"], false);

    let text = sb.fails_all(&["cancel", "424242"], 1);
    assert!(text.contains("job 424242 is not in the catalog"), "{text}");
}

/// A cancel that reaches a backup past its last safe point (held at
/// `backup.sealed`: sealed, about to commit) cannot stop it. The backup is
/// completed and kept, and the job says the cancel came too late instead
/// of ignoring it without a word.
#[test]
fn a_cancel_past_the_last_safe_point_keeps_the_backup_and_says_so() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let child = sb
        .cmd()
        .env("LIFEBOAT_HOLD_AT", "backup.sealed")
        .args(["backup", "--type", "filesystem"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let job_id = id(&sb.wait_running("backup", 60));
    // Publishing: the payload is sealed and no safe point is left.
    wait_for(60, "the backup to start publishing", || {
        (sb.job(job_id)["phase"] == "publishing").then_some(())
    });
    let out = sb.run(&["cancel", &job_id.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", all_text(&out));

    let (st, text) = wait_child(child, 120, "the backup cancelled too late");
    assert_eq!(st.code(), Some(0), "{text}");
    assert_eq!(text.matches("cancel came too late").count(), 1, "{text}");
    assert!(
        text.contains(&format!(
            "job {job_id} (backup filesystem): cancel came too late (during publishing): the backup was completed and kept"
        )),
        "{text}"
    );
    let j = sb.job(job_id);
    assert_eq!(j["state"], "succeeded", "{j}");
    assert!(
        log_messages(&j)
            .iter()
            .any(|m| m.contains("cancel came too late")),
        "{j}"
    );
    let list = sb.json(&["list"]);
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{list}");
    assert_eq!(rows[0]["status"], "succeeded", "{list}");
    assert!(file_of(&rows[0]).exists(), "{list}");
    sb.ok(&["verify", &id_of(&rows[0])]);
}

#[test]
fn ctrl_c_cancels_a_running_backup() {
    let sb = big_sandbox();
    let child = sb.spawn(&["backup", "--type", "filesystem"]);
    let job = sb.wait_running("backup", 60);
    // Let it get into the file walk.
    wait_for(60, "progress", || {
        let j = sb.job(id(&job));
        (j["bytes_done"].as_u64().unwrap_or(0) > 0 || j["state"] != "running").then_some(())
    });
    sigint(&child);
    let (st, text) = wait_child(child, 120, "the interrupted backup");
    assert!(!st.success(), "backup survived Ctrl-C:\n{text}");
    assert!(text.contains("cancelled"), "{text}");
    assert!(
        artifact_like_files(&sb).is_empty(),
        "{:?}",
        artifact_like_files(&sb)
    );
    let j = sb.job(id(&job));
    assert_eq!(j["state"], "cancelled", "{j}");
    // The backup row may stay, but never as succeeded and never with a file.
    let list = sb.json(&["list"]);
    for r in list.as_array().unwrap() {
        assert_ne!(r["status"], "succeeded", "{list}");
        assert!(!file_of(r).exists(), "{list}");
    }
}

#[test]
fn a_second_ctrl_c_ends_the_process_at_once_with_130() {
    // The backup is held inside its lock, reading a FIFO: the first Ctrl-C
    // only asks it to stop at a safe point it cannot reach; the second
    // means it.
    let (sb, gate) = gated_sandbox();
    let _guard = GateGuard(gate.clone());
    let child = sb.spawn(&["backup", "--type", "configuration"]);
    let job = holding_its_sources(&sb);
    let mut child = child;
    // Signals that arrive together merge into one, and there is nothing
    // to wait on between them: repeat until the process is gone (it cannot
    // leave on its own while the gate is shut).
    for _ in 0..100 {
        sigint(&child);
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (st, text) = wait_child(child, 60, "the twice-interrupted backup");
    assert_eq!(st.code(), Some(130), "{text}");
    // The next command finds the dead process's job and settles it.
    assert_eq!(sb.job(id(&job))["state"], "interrupted");
    assert!(artifact_like_files(&sb).is_empty());
}

// ------------------------------------------------------------ crash

/// A restored file under `target` (not just the restore's own marker).
/// The restore has written at least one entry (a file or a directory) into
/// `target`, besides its incomplete-marker.
fn restored_something(target: &std::path::Path) -> bool {
    fs::read_dir(target).is_ok_and(|rd| {
        rd.flatten()
            .any(|e| e.file_name() != ".lifeboat-restore-incomplete")
    })
}

#[test]
fn kill_9_mid_restore_marks_the_job_interrupted() {
    let sb = big_sandbox();
    let b = sb.backup("filesystem", &[]);
    let bid = id_of(&b);
    let target = sb.dir.path().join("restore-target");
    let t = target.to_str().unwrap().to_string();
    // Held after its first entry (until cancelled or killed), so that a
    // fast machine cannot finish the restore before the test acts.
    let child = spawn_held_restore(&sb, &bid, &t);
    let job = sb.wait_running("restore", 60);
    wait_for(120, "restored files under the target", || {
        restored_something(&target).then_some(())
    });
    sigkill(&child);
    let (st, _) = wait_child(child, 30, "the killed restore");
    assert!(!st.success());

    // The very next command settles the dead job.
    let j = sb
        .jobs()
        .into_iter()
        .find(|j| id(j) == id(&job))
        .expect("restore job listed");
    assert_eq!(j["state"], "interrupted", "{j}");
    let err = j["error"].as_str().unwrap_or("");
    assert!(
        err.contains("died"),
        "error should say the process died: {err}"
    );
    // It says what it may have left half-written, and the directory says
    // so too.
    assert!(
        err.contains(&format!(
            "restore target {t} was a new directory and is incomplete"
        )),
        "error should name the half-written target: {err}"
    );
    let marker = target.join(".lifeboat-restore-incomplete");
    let text = fs::read_to_string(&marker).expect("the killed restore's directory is marked");
    assert!(
        text.contains(&bid) && text.contains("has not finished"),
        "{text}"
    );
    let detail = sb.job(id(&job));
    assert!(
        log_messages(&detail).iter().any(|m| m.contains("died")),
        "{detail}"
    );
    // The backup itself is untouched and still verifies, and a restore
    // into a new directory finishes without the marker.
    sb.ok(&["verify", &bid]);
    let again = sb.dir.path().join("restore-again");
    sb.ok(&["restore", "--id", &bid, "--target", again.to_str().unwrap()]);
    assert!(again.is_dir());
    assert!(!again.join(".lifeboat-restore-incomplete").exists());
    // Restoring again over the leftover directory completes it, and the
    // stale marker goes, with a word about it.
    let out = sb.ok(&["restore", "--id", &bid, "--target", &t, "--yes"]);
    assert!(!marker.exists(), "{out}");
    assert!(out.contains("interrupted earlier restore"), "{out}");
    assert_eq!(checksum_tree(&target).len(), checksum_tree(&again).len());
}

// ------------------------------------------------------------ busy resource

#[test]
fn second_restore_into_the_same_target_waits_and_says_so() {
    let sb = big_sandbox();
    let b = sb.backup("filesystem", &[]);
    let bid = id_of(&b);
    let target = sb.dir.path().join("shared-target");
    let t = target.to_str().unwrap().to_string();

    let first = sb.spawn(&["restore", "--id", &bid, "--target", &t]);
    // Wait until the first holds the target.
    let j1 = wait_for(60, "first restore holding the target", || {
        sb.jobs().into_iter().find(|j| {
            j["kind"] == "restore"
                && j["state"] == "running"
                && j["resource"]
                    .as_str()
                    .is_some_and(|r| r.contains("shared-target"))
        })
    });
    let second = sb.spawn(&["restore", "--id", &bid, "--target", &t]);
    // The second one shows up waiting (its phase says so) while the first runs.
    let waiting = wait_for(60, "second restore waiting", || {
        sb.jobs().into_iter().find(|j| {
            j["kind"] == "restore"
                && id(j) != id(&j1)
                && j["state"] == "running"
                && j["phase"].as_str().is_some_and(|p| p.contains("waiting"))
        })
    });
    assert_ne!(id(&waiting), id(&j1));

    let (st1, text1) = wait_child(first, 300, "first restore");
    let (st2, text2) = wait_child(second, 300, "second restore");
    assert!(st1.success(), "first restore failed:\n{text1}");
    assert!(
        matches!(st2.code(), Some(0) | Some(1)),
        "second restore: {st2:?}\n{text2}"
    );
    assert!(text2.contains("waiting"), "{text2}");
    assert!(text2.contains("busy"), "{text2}");
    assert!(
        text2.contains(&format!("job {}", id(&j1))),
        "names the holder: {text2}"
    );
    // The job log of the waiter keeps the note.
    let w = sb.job(id(&waiting));
    assert!(log_messages(&w).iter().any(|m| m.contains("busy")), "{w}");
    // The first restore's result is complete.
    let src = checksum_tree(&sb.app.join("uploads"));
    let got = checksum_tree(&Sandbox::under(&target, &sb.app.join("uploads")));
    assert_eq!(src, got);
}

#[test]
fn a_restore_target_locks_under_one_name_however_it_is_written() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let bid = id_of(&sb.backup("filesystem", &[]));
    let root = fs::canonicalize(sb.dir.path()).unwrap();
    fs::create_dir(root.join("real")).unwrap();
    std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
    let want = format!("restore target {}", root.join("real/t").display());
    for (n, written) in ["real/t/../t", "link/t"].into_iter().enumerate() {
        sb.ok(&["restore", "--id", &bid, "--target", written, "--yes"]);
        let job = sb
            .jobs()
            .into_iter()
            .filter(|j| j["kind"] == "restore")
            .max_by_key(id)
            .expect("a restore job");
        assert_eq!(job["resource"], want.as_str(), "--target {written}: {job}");
        let restored = Sandbox::under(&root.join("real/t"), &sb.app.join("uploads"));
        assert_eq!(
            checksum_tree(&restored),
            checksum_tree(&sb.app.join("uploads")),
            "--target {written}"
        );
        if n == 0 {
            // The first restore created real/t; the second must see it as
            // the same, existing directory.
            assert!(root.join("real/t").is_dir());
        }
    }
}

/// Open the FIFO `gate` for writing (which waits for its reader) and give
/// the reader a version string: lets one blocked backup go on.
fn open_gate(gate: &std::path::Path) {
    fs::write(gate, "1.2.3\n").expect("write to the gate FIFO");
}

/// Lets every reader still blocked on the gate go when a test fails, so no
/// backup is left hanging after it.
struct GateGuard(std::path::PathBuf);

impl Drop for GateGuard {
    fn drop(&mut self) {
        use std::os::unix::fs::OpenOptionsExt;
        for _ in 0..2 {
            let _ = fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&self.0);
        }
    }
}

/// A sandbox whose configuration backup reads its version file from a
/// FIFO (returned): the backup takes its sources' lock, then blocks there
/// until the test opens the gate. No timing involved.
fn gated_sandbox() -> (Sandbox, std::path::PathBuf) {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    let gate = sb.dir.path().join("version-gate");
    let c = std::ffi::CString::new(gate.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    sb.write_config(&format!("version_file = \"{}\"", gate.display()));
    (sb, gate)
}

/// The running configuration backup that holds its sources' lock.
fn holding_its_sources(sb: &Sandbox) -> Value {
    wait_for(60, "a backup holding its sources", || {
        sb.jobs().into_iter().find(|j| {
            j["kind"] == "backup"
                && j["state"] == "running"
                && j["resource"]
                    .as_str()
                    .is_some_and(|r| r.contains("configuration backup"))
        })
    })
}

#[test]
fn second_backup_of_the_same_sources_waits_for_the_first_and_says_so() {
    // The configuration backup reads its version_file after taking the
    // source's lock; a FIFO there holds a backup inside the lock until the
    // test writes to it: no timing involved.
    let (sb, gate) = gated_sandbox();
    let _guard = GateGuard(gate.clone());

    let first = sb.spawn(&["backup", "--type", "configuration"]);
    let j1 = holding_its_sources(&sb);
    let second = sb.spawn(&["backup", "--type", "configuration"]);
    let waiting = wait_for(60, "second backup waiting", || {
        sb.jobs().into_iter().find(|j| {
            j["kind"] == "backup"
                && id(j) != id(&j1)
                && j["state"] == "running"
                && j["phase"].as_str().is_some_and(|p| p.contains("waiting"))
        })
    });
    // While it waits, the first is the only backup in progress.
    let w = sb.job(id(&waiting));
    assert!(
        log_messages(&w)
            .iter()
            .any(|m| m.contains("busy") && m.contains(&format!("job {}", id(&j1)))),
        "the waiter's log names the holder: {w}"
    );
    open_gate(&gate);
    let (st1, text1) = wait_child(first, 300, "first backup");
    assert_eq!(st1.code(), Some(0), "first backup:\n{text1}");
    // Now the second holds the sources and reads the gate in turn.
    open_gate(&gate);
    let (st2, text2) = wait_child(second, 300, "second backup");
    assert_eq!(st2.code(), Some(0), "second backup:\n{text2}");
    assert!(
        text2.contains("busy") && text2.contains(&format!("job {}", id(&j1))),
        "the second backup says who it waited for: {text2}"
    );
    assert_eq!(sb.job(id(&j1))["state"], "succeeded");
    assert_eq!(sb.job(id(&waiting))["state"], "succeeded");
}

// ------------------------------------------------------------ follow

#[test]
fn status_follow_streams_until_the_job_ends() {
    let sb = big_sandbox();
    let child = sb.spawn(&["backup", "--type", "filesystem"]);
    let job = sb.wait_running("backup", 60);
    let job_id = id(&job);
    let follow = sb.spawn(&["status", "--follow", &job_id.to_string()]);
    let (st, text) = wait_child(follow, 300, "status --follow");
    let (bst, btext) = wait_child(child, 60, "the followed backup");
    assert!(bst.success(), "{btext}");
    assert_eq!(st.code(), Some(0), "{text}");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(&format!("job {job_id} ")))
        .collect();
    assert!(lines.len() >= 2, "progress lines: {text}");
    assert!(lines.first().unwrap().contains("running"), "{text}");
    assert!(lines.last().unwrap().contains("succeeded"), "{text}");
    assert_eq!(sb.job(job_id)["state"], "succeeded");
}

#[test]
fn status_follow_of_a_failed_job_exits_1() {
    let sb = Sandbox::new();
    sb.generate_key();
    // The configured filesystem paths do not exist: the backup fails.
    fs::remove_dir_all(sb.app.join("uploads")).unwrap();
    fs::remove_dir_all(sb.app.join("logs")).unwrap();
    let out = sb.run(&["--json", "backup", "--type", "filesystem"]);
    assert_eq!(out.status.code(), Some(1), "{}", all_text(&out));
    let j = sb
        .jobs()
        .into_iter()
        .find(|j| j["kind"] == "backup")
        .expect("backup job");
    assert_eq!(j["state"], "failed");
    let text = sb.fails_all(&["status", "--follow", &id(&j).to_string()], 1);
    assert!(text.contains("failed"), "{text}");
}

// ------------------------------------------------------------ backup --all

fn backup_all_sandbox(db_url: Option<&str>) -> Sandbox {
    let extra = db_url
        .map(|u| format!("[sources.database]\nurl = \"{u}\"\n"))
        .unwrap_or_default();
    let sb = Sandbox::with_extra_config(&extra);
    populate(&sb.app);
    sb.generate_key();
    sb
}

#[test]
fn backup_all_runs_every_type_as_child_jobs() {
    let server = test_server();
    let db = server.as_ref().map(ScratchDb::create);
    if let Some(db) = &db {
        db.connect()
            .execute("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 100) g;")
            .unwrap();
    }
    let url = db.as_ref().map(|d| pg_url_for(d.name()));
    let sb = backup_all_sandbox(url.as_deref());
    let r = sb.json(&["backup", "--all"]);
    assert_eq!(r["ok"], true, "{r}");
    let parent = r["job_id"].as_i64().expect("job_id");
    let types = r["types"].as_array().unwrap();
    let mut names: Vec<&str> = types.iter().map(|t| t["type"].as_str().unwrap()).collect();
    names.sort();
    let mut want = vec!["configuration", "filesystem"];
    if db.is_some() {
        want.push("database");
        want.sort();
    }
    assert_eq!(names, want, "{r}");
    for t in types {
        assert_eq!(t["ok"], true, "{t}");
        assert!(!t["backups"].as_array().unwrap().is_empty(), "{t}");
        assert!(t["error"].is_null());
    }

    let jobs = sb.jobs();
    let p = jobs.iter().find(|j| id(j) == parent).expect("parent job");
    assert_eq!(p["kind"], "backup-all");
    assert_eq!(p["state"], "succeeded");
    let children: Vec<&Value> = jobs
        .iter()
        .filter(|j| j["parent_job"].as_i64() == Some(parent))
        .collect();
    assert_eq!(children.len(), want.len(), "child jobs: {jobs:?}");
    assert!(children
        .iter()
        .all(|c| c["kind"] == "backup" && c["state"] == "succeeded"));
    assert_eq!(jobs.iter().filter(|j| j["kind"] == "backup-all").count(), 1);

    // The catalog lists one succeeded backup per type.
    let list = sb.json(&["list"]);
    for w in &want {
        assert!(
            list.as_array()
                .unwrap()
                .iter()
                .any(|b| b["type"] == *w && b["status"] == "succeeded"),
            "no {w} backup in {list}"
        );
    }
    let detail = sb.job(parent);
    assert!(
        log_messages(&detail)
            .iter()
            .any(|m| m.contains("filesystem succeeded")),
        "{detail}"
    );
}

#[test]
fn backup_all_with_one_failing_type_keeps_the_others() {
    let sb = backup_all_sandbox(None);
    let text = fs::read_to_string(&sb.config).unwrap();
    let missing = sb.dir.path().join("no-such-dir");
    let text = text
        .lines()
        .map(|l| {
            if l.starts_with("paths = ") {
                format!("paths = [\"{}\"]", missing.display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    fs::write(&sb.config, text).unwrap();

    let out = sb.run(&["--json", "backup", "--all"]);
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(r["ok"], false);
    let fs_t = r["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "filesystem")
        .unwrap();
    assert_eq!(fs_t["ok"], false);
    assert!(fs_t["error"].as_str().is_some_and(|e| !e.is_empty()));
    let cfg = r["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "configuration")
        .unwrap();
    assert_eq!(cfg["ok"], true, "{cfg}");

    // Text form names the failed type.
    let out = sb.run(&["backup", "--all"]);
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("filesystem backup FAILED"), "{text}");

    let list = sb.json(&["list"]);
    let rows = list.as_array().unwrap();
    assert!(rows
        .iter()
        .any(|b| b["type"] == "configuration" && b["status"] == "succeeded"));
    assert!(!rows
        .iter()
        .any(|b| b["type"] == "filesystem" && b["status"] == "succeeded"));
    let parent = r["job_id"].as_i64().unwrap();
    let p = sb.job(parent);
    assert_eq!(p["state"], "failed", "{p}");
    assert!(
        p["error"].as_str().unwrap_or("").contains("filesystem"),
        "{p}"
    );
}

#[test]
fn kill_9_mid_backup_leaves_no_partial_artifact() {
    let sb = big_sandbox();
    let child = sb.spawn(&["backup", "--type", "filesystem"]);
    let job = sb.wait_running("backup", 60);
    wait_for(60, "backup progress", || {
        let j = sb.job(id(&job));
        (j["bytes_done"].as_u64().unwrap_or(0) > 0 || j["state"] != "running").then_some(())
    });
    sigkill(&child);
    let (st, _) = wait_child(child, 30, "the killed backup");
    assert!(!st.success());

    let j = sb.job(id(&job));
    assert_eq!(j["state"], "interrupted", "{j}");
    assert!(j["error"].as_str().unwrap_or("").contains("died"), "{j}");
    assert!(
        partial_files(&sb).is_empty(),
        "partial files left after the next start: {:?}",
        partial_files(&sb)
    );
    let list = sb.json(&["list"]);
    for r in list.as_array().unwrap() {
        assert_ne!(r["status"], "succeeded", "{list}");
        assert!(!file_of(r).exists(), "artifact of a killed backup: {list}");
    }
    // A new backup works afterwards.
    let b = sb.backup("filesystem", &[]);
    assert_eq!(b["status"], "succeeded");
}

#[test]
fn cancel_of_a_running_restore_reports_the_target_state() {
    let sb = big_sandbox();
    let b = sb.backup("filesystem", &[]);
    let bid = id_of(&b);
    let target = sb.dir.path().join("cancelled-target");
    let t = target.to_str().unwrap().to_string();
    // Held after its first entry (until cancelled or killed), so that a
    // fast machine cannot finish the restore before the test acts.
    let child = spawn_held_restore(&sb, &bid, &t);
    let job = sb.wait_running("restore", 60);
    wait_for(120, "restored files under the target", || {
        restored_something(&target).then_some(())
    });
    let out = sb.run(&["cancel", &id(&job).to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", all_text(&out));
    let (st, text) = wait_child(child, 120, "the cancelled restore");
    assert_eq!(st.code(), Some(1), "{text}");
    assert!(text.contains("cancelled"), "{text}");
    // Into a new directory: it is removed, and the message says so.
    assert!(text.contains(&t), "names the target: {text}");
    assert!(!target.exists() || no_files_under(&target), "{text}");
    assert_eq!(sb.job(id(&job))["state"], "cancelled");
}

#[test]
fn cancelling_a_parent_job_cancels_the_children_it_started() {
    // A configuration backup held inside its sources' lock (a FIFO as its
    // version file), then a queued `backup --all` whose configuration
    // child must wait for that lock: cancelling the parent stops the child.
    let (sb, gate) = gated_sandbox();
    let _guard = GateGuard(gate.clone());
    let first = sb.spawn(&["backup", "--type", "configuration"]);
    holding_its_sources(&sb);
    let q = sb.json(&["backup", "--all", "--queue"]);
    let parent = q["job_id"].as_i64().unwrap();
    let worker = sb.spawn(&["worker", "--job", &parent.to_string()]);
    let child = wait_for(60, "the queued backup's child waiting", || {
        sb.jobs().into_iter().find(|j| {
            j["parent_job"] == parent
                && j["state"] == "running"
                && j["phase"].as_str().is_some_and(|p| p.contains("waiting"))
        })
    });
    sb.ok(&["cancel", &parent.to_string()]);
    let (st, text) = wait_child(worker, 120, "the worker of the cancelled job");
    assert_ne!(st.code(), Some(0), "{text}");
    assert_eq!(sb.job(id(&child))["state"], "cancelled", "{text}");
    let p = sb.job(parent);
    assert!(
        p["state"] == "cancelled" || p["state"] == "failed",
        "the parent did not succeed: {p}"
    );
    // The first backup was never disturbed.
    open_gate(&gate);
    let (st1, text1) = wait_child(first, 300, "first backup");
    assert_eq!(st1.code(), Some(0), "{text1}");
}
