//! The job queue and the worker pool seen from outside: the real `lifeboat`
//! binary in separate processes, one real catalog, real files, and the test
//! PostgreSQL server for the busy-resource case. Jobs are queued with
//! `backup --queue` / `verify --queue` and run by `lifeboat worker`.

use std::collections::BTreeMap;
use std::fs;

use crate::common::*;
use lifeboat_engine::sources::database::testing::{test_server, ScratchDb};
use serde_json::Value;

/// Size of the "large" tree in MiB: with `SLOW_COMPRESSION`, enough for a debug build to spend
/// seconds on it, so another process can act while the job runs.
const BIG_MB: usize = 48;

fn big_sandbox() -> Sandbox {
    let sb = Sandbox::with_extra_config(SLOW_COMPRESSION);
    populate(&sb.app);
    big_tree(&sb.app.join("uploads/big"), BIG_MB);
    sb.generate_key();
    sb
}

fn small_sandbox() -> Sandbox {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    sb
}

fn signal(child: &std::process::Child, sig: i32) {
    unsafe { libc::kill(child.id() as i32, sig) };
}

fn log_messages(job: &Value) -> Vec<String> {
    job["log"]
        .as_array()
        .expect("log")
        .iter()
        .map(|l| l["message"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Queue a verb with `--queue --json`; returns the job id.
fn enqueue(sb: &Sandbox, args: &[&str]) -> i64 {
    let mut a = args.to_vec();
    a.push("--queue");
    let q = sb.json(&a);
    assert_eq!(q["state"], "queued", "{q}");
    q["job_id"].as_i64().expect("job_id")
}

/// The `done` line of `worker --json` output.
fn done_line(text: &str) -> Value {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "done")
        .unwrap_or_else(|| panic!("no done line in worker output:\n{text}"))
}

/// How many times a job's log says a worker claimed it.
fn claims(sb: &Sandbox, job: i64) -> usize {
    log_messages(&sb.job(job))
        .iter()
        .filter(|m| m.starts_with("claimed by worker"))
        .count()
}

/// Wait until a queued job is running and has made progress.
fn wait_progress(sb: &Sandbox, job: i64) {
    wait_for(120, &format!("job {job} to run and make progress"), || {
        let j = sb.job(job);
        let st = j["state"].as_str().unwrap_or("").to_string();
        assert!(
            st == "queued" || st == "running",
            "job {job} ended before the test could act: {j}"
        );
        (st == "running" && j["bytes_done"].as_u64().unwrap_or(0) > 0).then_some(())
    });
}

/// Backup rows of the catalog.
fn backups(sb: &Sandbox) -> Vec<Value> {
    sb.json(&["list"]).as_array().unwrap().clone()
}

// ------------------------------------------------------------ enqueue + run

#[test]
fn worker_once_runs_every_queued_backup() {
    let sb = small_sandbox();
    let jobs = [
        enqueue(&sb, &["backup", "--type", "filesystem", "--name", "one"]),
        enqueue(&sb, &["backup", "--type", "configuration", "--name", "two"]),
        enqueue(&sb, &["backup", "--type", "filesystem", "--name", "three"]),
    ];
    // Queued jobs are listed, carry their request, and nothing ran yet.
    let listed = sb.jobs();
    for id in jobs {
        let j = listed.iter().find(|j| j["id"] == id).expect("listed");
        assert_eq!(j["state"], "queued", "{j}");
        assert!(j["started_at"].is_null(), "{j}");
    }
    let detail = sb.job(jobs[1]);
    assert_eq!(detail["request"]["verb"], "backup", "{detail}");
    assert_eq!(detail["request"]["type"], "configuration", "{detail}");
    assert_eq!(detail["request"]["name"], "two", "{detail}");
    let text = sb.ok(&["status"]);
    assert!(text.contains("queued"), "{text}");
    assert!(backups(&sb).is_empty());
    assert!(artifact_like_files(&sb).is_empty());

    let out = sb.run(&["--json", "worker", "--once"]);
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let done = done_line(&text);
    assert_eq!(done["jobs"], 3, "{text}");
    assert_eq!(done["succeeded"], 3, "{text}");
    assert_eq!(done["stopped"], false);

    // Job records and artifacts agree: one good backup per job, its file on
    // disk, made by the job the worker ran.
    let rows = backups(&sb);
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (id, name) in jobs.iter().zip(["one", "two", "three"]) {
        let j = sb.job(*id);
        assert_eq!(j["state"], "succeeded", "{j}");
        assert!(j["started_at"].is_string() && j["finished_at"].is_string());
        assert_ne!(j["pid"], 0, "{j}");
        assert_eq!(claims(&sb, *id), 1);
        let b: Vec<&Value> = rows.iter().filter(|b| b["job_id"] == *id).collect();
        assert_eq!(b.len(), 1, "backups of job {id}: {rows:?}");
        assert_eq!(b[0]["name"], name);
        assert_eq!(b[0]["status"], "succeeded");
        assert!(file_of(b[0]).is_file(), "{:?}", b[0]);
        assert!(manifest_of(&file_of(b[0])).is_file());
        // Progress was persisted up to the end, not left at a sample.
        // (An incremental with nothing changed reads no bytes, but it
        // walked the tree.)
        assert!(j["items_done"].as_u64().unwrap() > 0, "{j}");
    }
    // The artifacts are good ones.
    for b in &rows {
        sb.ok(&["verify", b["id"].as_str().unwrap()]);
    }
    // A second drain finds nothing to do.
    let out = sb.run(&["--json", "worker", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", all_text(&out));
    assert_eq!(done_line(&all_text(&out))["jobs"], 0);
    assert_eq!(backups(&sb).len(), 3);
}

#[test]
fn queued_verify_runs_in_a_worker() {
    let sb = small_sandbox();
    let b = sb.backup("configuration", &[]);
    let bid = id_of(&b);
    let job = enqueue(&sb, &["verify", &bid]);
    // A relative artifact path is made absolute, so a worker started in
    // another directory verifies the same file.
    let rel = file_of(&b)
        .strip_prefix(sb.dir.path())
        .unwrap()
        .to_path_buf();
    let by_path = enqueue(&sb, &["verify", rel.to_str().unwrap()]);
    let req = sb.job(by_path)["request"].clone();
    assert_eq!(req["target"], file_of(&b).to_str().unwrap(), "{req}");

    let text = sb.ok(&["worker", "--once"]);
    assert!(
        text.contains(&format!("job {job} (verify {bid}): succeeded")),
        "{text}"
    );
    assert_eq!(sb.job(job)["state"], "succeeded");
    assert_eq!(sb.job(by_path)["state"], "succeeded");
    let row = backups(&sb)
        .into_iter()
        .find(|r| r["id"] == bid.as_str())
        .unwrap();
    assert_eq!(row["verify_result"], "ok", "{row}");
}

#[test]
fn bad_requests_are_refused_before_they_are_queued() {
    let sb = small_sandbox();
    let err = sb.fails(
        &[
            "backup",
            "--type",
            "filesystem",
            "--name",
            "../x",
            "--queue",
        ],
        2,
    );
    assert!(err.contains("invalid backup name '../x'"), "{err}");
    let err = sb.fails(&["backup", "--type", "database", "--queue"], 2);
    assert!(
        err.contains("nothing is configured for database backups"),
        "{err}"
    );
    let err = sb.fails(&["verify", "no-such-backup", "--queue"], 1);
    assert!(err.contains("no backup with id no-such-backup"), "{err}");
    assert!(sb.jobs().is_empty(), "nothing was queued: {:?}", sb.jobs());

    let err = sb.fails(&["worker", "--workers", "0"], 2);
    assert!(err.contains("--workers"), "{err}");
    fs::write(
        &sb.config,
        fs::read_to_string(&sb.config).unwrap() + "[jobs]\nworkers = 0\n",
    )
    .unwrap();
    let err = sb.fails(&["worker", "--once"], 2);
    assert!(err.contains("[jobs] workers"), "{err}");
    assert!(err.contains("1 to 64"), "{err}");
}

// ------------------------------------------------------------ competing workers

/// Start two `worker --once` processes at the same moment; returns their
/// pids and outputs.
fn race_two_workers(sb: &Sandbox) -> Vec<(u32, String)> {
    let a = sb.spawn(&["--json", "worker", "--once"]);
    let b = sb.spawn(&["--json", "worker", "--once"]);
    let pids = [a.id(), b.id()];
    let (sa, ta) = wait_child(a, 300, "worker A");
    let (sb_, tb) = wait_child(b, 300, "worker B");
    assert_eq!(sa.code(), Some(0), "{ta}");
    assert_eq!(sb_.code(), Some(0), "{tb}");
    vec![(pids[0], ta), (pids[1], tb)]
}

#[test]
fn two_workers_racing_for_one_job_run_it_once() {
    let sb = small_sandbox();
    let job = enqueue(
        &sb,
        &["backup", "--type", "configuration", "--name", "only"],
    );
    let runs = race_two_workers(&sb);
    let total: u64 = runs
        .iter()
        .map(|(_, t)| done_line(t)["jobs"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 1, "{runs:?}");
    let j = sb.job(job);
    assert_eq!(j["state"], "succeeded", "{j}");
    let pid = j["pid"].as_u64().unwrap() as u32;
    let winner = runs
        .iter()
        .find(|(p, _)| *p == pid)
        .expect("pid of a racer");
    assert_eq!(done_line(&winner.1)["jobs"], 1);
    assert_eq!(claims(&sb, job), 1);
    let rows = backups(&sb);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["job_id"], job);
    let payloads: Vec<_> = artifact_like_files(&sb)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".enc"))
        .collect();
    assert_eq!(payloads.len(), 1, "{payloads:?}");
}

#[test]
fn two_workers_racing_for_twenty_jobs_run_each_once() {
    let sb = small_sandbox();
    let names: Vec<String> = (0..20).map(|i| format!("q{i:02}")).collect();
    let jobs: BTreeMap<i64, String> = names
        .iter()
        .map(|n| {
            (
                enqueue(&sb, &["backup", "--type", "configuration", "--name", n]),
                n.clone(),
            )
        })
        .collect();
    let runs = race_two_workers(&sb);
    let pids: Vec<u32> = runs.iter().map(|(p, _)| *p).collect();
    let total: u64 = runs
        .iter()
        .map(|(_, t)| done_line(t)["jobs"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 20, "{runs:?}");

    let rows = backups(&sb);
    assert_eq!(rows.len(), 20, "{rows:?}");
    let repo_files: Vec<String> = sb
        .repo_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for (id, name) in &jobs {
        let j = sb.job(*id);
        assert_eq!(j["state"], "succeeded", "{j}");
        let pid = j["pid"].as_u64().unwrap() as u32;
        assert!(
            pids.contains(&pid),
            "job {id} ran in pid {pid}, not a racer"
        );
        assert_eq!(claims(&sb, *id), 1, "job {id} claimed more than once");
        let mine: Vec<&Value> = rows.iter().filter(|b| b["job_id"] == *id).collect();
        assert_eq!(mine.len(), 1, "backups of job {id}: {rows:?}");
        assert_eq!(mine[0]["name"], name.as_str());
        assert!(file_of(mine[0]).is_file());
        // Exactly one artifact (payload, file index, manifest) carries this name.
        let tag = format!("_{name}.");
        let with_name: Vec<&String> = repo_files.iter().filter(|f| f.contains(&tag)).collect();
        assert_eq!(with_name.len(), 3, "files of {name}: {with_name:?}");
        assert_eq!(
            with_name
                .iter()
                .filter(|f| f.ends_with(".manifest.json"))
                .count(),
            1
        );
    }
}

// ------------------------------------------------------------ cancel

#[test]
fn cancelled_queued_job_is_never_run() {
    let sb = small_sandbox();
    let job = enqueue(&sb, &["backup", "--type", "configuration"]);
    let text = sb.ok(&["cancel", &job.to_string()]);
    assert!(text.contains("cancelled before it started"), "{text}");
    let j = sb.job(job);
    assert_eq!(j["state"], "cancelled", "{j}");
    assert!(j["finished_at"].is_string());

    let out = sb.run(&["--json", "worker", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", all_text(&out));
    assert_eq!(done_line(&all_text(&out))["jobs"], 0);
    let j = sb.job(job);
    assert_eq!(j["state"], "cancelled", "{j}");
    assert!(j["started_at"].is_null(), "never started: {j}");
    assert_eq!(j["pid"], 0);
    assert_eq!(claims(&sb, job), 0);
    assert!(backups(&sb).is_empty());
    assert!(artifact_like_files(&sb).is_empty());
    // Cancelling it again changes nothing.
    let before = sb.job(job);
    let text = sb.ok(&["cancel", &job.to_string()]);
    assert!(text.contains("cancelled before it started"), "{text}");
    assert_eq!(sb.job(job)["finished_at"], before["finished_at"]);
}

#[test]
fn cancel_of_a_running_queued_job_leaves_no_artifact() {
    let sb = big_sandbox();
    let job = enqueue(&sb, &["backup", "--type", "filesystem"]);
    let worker = sb.spawn(&["worker", "--once", "--workers", "1"]);
    wait_progress(&sb, job);
    let text = sb.ok(&["cancel", &job.to_string()]);
    assert!(text.contains("next safe point"), "{text}");
    let (st, text) = wait_child(worker, 120, "the worker");
    assert_eq!(
        st.code(),
        Some(1),
        "a cancelled job is not a success:\n{text}"
    );
    assert!(
        text.contains(&format!("job {job} (backup filesystem): cancelled")),
        "{text}"
    );
    let j = sb.job(job);
    assert_eq!(j["state"], "cancelled", "{j}");
    assert!(
        artifact_like_files(&sb).is_empty(),
        "{:?}",
        artifact_like_files(&sb)
    );
    for r in backups(&sb) {
        assert_ne!(r["status"], "succeeded", "{r}");
        assert!(!file_of(&r).exists(), "{r}");
    }
}

// ------------------------------------------------------------ signals and crashes

#[test]
fn sigterm_stops_claiming_and_cancels_the_running_job() {
    let sb = big_sandbox();
    let big = enqueue(&sb, &["backup", "--type", "filesystem"]);
    let later = enqueue(&sb, &["backup", "--type", "configuration"]);
    let worker = sb.spawn(&["worker", "--workers", "1"]);
    wait_progress(&sb, big);
    signal(&worker, libc::SIGTERM);
    let (st, text) = wait_child(worker, 120, "the stopped worker");
    assert_eq!(st.code(), Some(1), "{text}");
    assert!(text.contains("stopped by a signal"), "{text}");
    let j = sb.job(big);
    assert_eq!(j["state"], "cancelled", "cancelled, not interrupted: {j}");
    assert_eq!(
        sb.job(later)["state"],
        "queued",
        "not claimed after the signal"
    );
    assert_eq!(claims(&sb, later), 0);
    assert!(
        artifact_like_files(&sb).is_empty(),
        "{:?}",
        artifact_like_files(&sb)
    );
}

#[test]
fn idle_worker_picks_up_jobs_queued_later() {
    let sb = small_sandbox();
    let worker = sb.spawn(&["worker", "--workers", "2"]);
    let job = enqueue(&sb, &["backup", "--type", "configuration"]);
    wait_for(120, "the worker to run the new job", || {
        (sb.job(job)["state"] != "queued" && sb.job(job)["state"] != "running").then_some(())
    });
    assert_eq!(sb.job(job)["state"], "succeeded");
    let second = enqueue(&sb, &["backup", "--type", "filesystem"]);
    wait_for(120, "the worker to run the second job", || {
        (sb.job(second)["state"] == "succeeded").then_some(())
    });
    signal(&worker, libc::SIGINT);
    let (st, text) = wait_child(worker, 60, "the idle worker");
    assert_eq!(st.code(), Some(0), "{text}");
    assert!(text.contains("2 job(s) run, 2 succeeded"), "{text}");
    assert!(text.contains("stopped by a signal"), "{text}");
    assert_eq!(backups(&sb).len(), 2);
}

#[test]
fn kill_9_of_a_worker_mid_job_is_interrupted_and_not_retried() {
    let sb = big_sandbox();
    let big = enqueue(&sb, &["backup", "--type", "filesystem"]);
    let other = enqueue(&sb, &["backup", "--type", "configuration"]);
    let worker = sb.spawn(&["worker", "--workers", "1"]);
    wait_progress(&sb, big);
    signal(&worker, libc::SIGKILL);
    let (st, _) = wait_child(worker, 30, "the killed worker");
    assert!(!st.success());

    // The next process to open the catalog settles the dead worker's job.
    let j = sb.job(big);
    assert_eq!(j["state"], "interrupted", "{j}");
    assert!(j["error"].as_str().unwrap_or("").contains("died"), "{j}");
    assert!(partial_files(&sb).is_empty(), "{:?}", partial_files(&sb));
    assert_eq!(sb.job(other)["state"], "queued");

    // A new worker runs what is still queued, and never the interrupted job.
    let out = sb.run(&["--json", "worker", "--once"]);
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(done_line(&text)["jobs"], 1, "{text}");
    assert_eq!(sb.job(other)["state"], "succeeded");
    assert_eq!(sb.job(big)["state"], "interrupted");
    assert_eq!(claims(&sb, big), 1, "not retried");
    let rows = backups(&sb);
    for r in &rows {
        if r["job_id"] == big {
            assert_ne!(r["status"], "succeeded", "{r}");
            assert!(!file_of(r).exists(), "artifact of a killed job: {r}");
        }
    }
    assert_eq!(
        rows.iter().filter(|r| r["status"] == "succeeded").count(),
        1,
        "{rows:?}"
    );
}

// ------------------------------------------------------------ failures

#[test]
fn requests_that_became_invalid_fail_clearly_and_the_worker_goes_on() {
    let sb = small_sandbox();
    let b = sb.backup("configuration", &["--name", "gone"]);
    let gone_file = file_of(&b);
    let verify_gone = enqueue(&sb, &["verify", &id_of(&b)]);
    let fs_job = enqueue(&sb, &["backup", "--type", "filesystem"]);
    let garbled = enqueue(
        &sb,
        &["backup", "--type", "configuration", "--name", "garbled"],
    );
    let good = enqueue(
        &sb,
        &["backup", "--type", "configuration", "--name", "fine"],
    );

    // After queueing: the artifact is deleted, the sources vanish, and a
    // request row is damaged.
    fs::remove_file(&gone_file).unwrap();
    fs::remove_file(manifest_of(&gone_file)).unwrap();
    fs::remove_dir_all(sb.app.join("uploads")).unwrap();
    fs::remove_dir_all(sb.app.join("logs")).unwrap();
    let conn = rusqlite::Connection::open(&sb.catalog).unwrap();
    conn.execute(
        "UPDATE jobs SET request = '{\"verb\":\"backup\",\"type\":' WHERE id = ?1",
        [garbled],
    )
    .unwrap();
    drop(conn);

    let out = sb.run(&["worker", "--once", "--workers", "1"]);
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("4 job(s) run, 1 succeeded, 3 failed"),
        "{text}"
    );

    let j = sb.job(verify_gone);
    assert_eq!(j["state"], "failed", "{j}");
    let err = j["error"].as_str().unwrap();
    assert!(
        err.contains(gone_file.file_name().unwrap().to_str().unwrap()),
        "{err}"
    );
    assert!(log_messages(&j).iter().any(|m| m.contains("gone")), "{j}");

    let j = sb.job(fs_job);
    assert_eq!(j["state"], "failed", "{j}");
    let err = j["error"].as_str().unwrap();
    assert!(
        err.contains(sb.app.join("uploads").to_str().unwrap()),
        "{err}"
    );

    let j = sb.job(garbled);
    assert_eq!(j["state"], "failed", "{j}");
    let err = j["error"].as_str().unwrap();
    assert!(
        err.contains(&format!("request of queued job {garbled} cannot be read")),
        "{err}"
    );
    assert!(err.contains("--queue"), "says what to do: {err}");

    assert_eq!(sb.job(good)["state"], "succeeded");
    let rows = backups(&sb);
    assert!(rows
        .iter()
        .any(|r| r["name"] == "fine" && r["status"] == "succeeded"));
    assert!(!rows.iter().any(|r| r["name"] == "garbled"));
    // The failures are in the audit log too.
    let audit = sb.json(&["audit", "list"]);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["outcome"] == "failed"
                && a["detail"]
                    .as_str()
                    .unwrap_or("")
                    .contains(&format!("job {garbled}"))),
        "{audit}"
    );
}

// ------------------------------------------------------------ busy resource

#[test]
fn queued_job_on_a_busy_database_waits_and_says_so() {
    let Some(server) = test_server() else {
        eprintln!("skipped: no PostgreSQL test server");
        return;
    };
    let db = ScratchDb::create(&server);
    db.connect()
        .execute("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 500) g;")
        .unwrap();
    let sb = Sandbox::with_extra_config(&format!(
        "[sources.database]\nurl = \"{}\"\n",
        pg_url_for(db.name())
    ));
    populate(&sb.app);
    sb.generate_key();

    // A direct backup takes the database and then blocks in pg_dump on a
    // table lock this test holds: it keeps the resource as long as we want.
    let lock = db.connect();
    lock.execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE;")
        .unwrap();
    let holder = sb.spawn(&["backup", "--type", "database"]);
    let first = wait_for(120, "the direct backup holding the database", || {
        sb.jobs().into_iter().find(|j| {
            j["state"] == "running"
                && j["resource"]
                    .as_str()
                    .is_some_and(|r| r.contains(db.name()))
        })
    });
    let first_id = first["id"].as_i64().unwrap();

    let queued = enqueue(&sb, &["backup", "--type", "database"]);
    let worker = sb.spawn(&["worker", "--once"]);
    let waiting = wait_for(120, "the queued job to wait for the database", || {
        let j = sb.job(queued);
        (j["state"] == "running" && j["phase"].as_str().is_some_and(|p| p.contains("waiting")))
            .then_some(j)
    });
    assert!(
        waiting["phase"].as_str().unwrap().contains(db.name()),
        "the phase names the resource: {waiting}"
    );
    let msgs = log_messages(&waiting);
    assert!(
        msgs.iter()
            .any(|m| m.contains("busy") && m.contains(&format!("job {first_id}"))),
        "the log names the holder: {msgs:?}"
    );
    let text = sb.ok(&["status", &queued.to_string()]);
    assert!(text.contains("waiting for database"), "{text}");
    // Still waiting while the holder holds it: no second dump started.
    assert_eq!(sb.job(queued)["state"], "running");
    assert_eq!(
        backups(&sb)
            .iter()
            .filter(|b| b["status"] == "succeeded")
            .count(),
        0
    );

    lock.execute("COMMIT").unwrap();
    drop(lock);
    let (hs, htext) = wait_child(holder, 300, "the direct backup");
    assert!(hs.success(), "{htext}");
    let (ws, wtext) = wait_child(worker, 300, "the worker");
    assert_eq!(ws.code(), Some(0), "{wtext}");
    let j = sb.job(queued);
    assert_eq!(j["state"], "succeeded", "{j}");
    let rows = backups(&sb);
    let dbs: Vec<&Value> = rows.iter().filter(|b| b["type"] == "database").collect();
    assert_eq!(dbs.len(), 2, "{rows:?}");
    assert!(dbs.iter().all(|b| b["status"] == "succeeded"));
    assert!(dbs.iter().any(|b| b["job_id"] == queued));
    assert!(dbs.iter().any(|b| b["job_id"] == first_id));
}

#[test]
fn pool_serializes_jobs_on_one_database_and_runs_independent_ones_in_parallel() {
    let Some(server) = test_server() else {
        eprintln!("skipped: no PostgreSQL test server");
        return;
    };
    let db = ScratchDb::create(&server);
    db.connect()
        .execute("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 500) g;")
        .unwrap();
    let sb = Sandbox::with_extra_config(&format!(
        "[sources.database]\nurl = \"{}\"\n",
        pg_url_for(db.name())
    ));
    populate(&sb.app);
    sb.generate_key();

    // Whichever database job gets the database first blocks in pg_dump on
    // this lock, holding the database until the test lets go.
    let lock = db.connect();
    lock.execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE;")
        .unwrap();
    let d1 = enqueue(&sb, &["backup", "--type", "database"]);
    let d2 = enqueue(&sb, &["backup", "--type", "database"]);
    let files = enqueue(&sb, &["backup", "--type", "filesystem"]);
    let worker = sb.spawn(&["--json", "worker", "--once", "--workers", "3"]);

    // The independent filesystem job finishes while the database is held.
    wait_for(120, "the filesystem job to finish", || {
        let st = sb.job(files)["state"].clone();
        (st != "queued" && st != "running").then_some(())
    });
    assert_eq!(sb.job(files)["state"], "succeeded");
    // One database job holds the database, the other waits and names it.
    let (holder, waiter) = wait_for(120, "one database job waiting for the other", || {
        let (a, b) = (sb.job(d1), sb.job(d2));
        let waits = |j: &Value| j["phase"].as_str().is_some_and(|p| p.contains("waiting"));
        match (waits(&a), waits(&b)) {
            (false, true) if a["resource"].is_string() => Some((a, b)),
            (true, false) if b["resource"].is_string() => Some((b, a)),
            _ => None,
        }
    });
    assert_eq!(holder["state"], "running", "{holder}");
    assert_eq!(waiter["state"], "running", "{waiter}");
    let holder_id = holder["id"].as_i64().unwrap();
    assert!(
        log_messages(&waiter)
            .iter()
            .any(|m| m.contains("busy") && m.contains(&format!("job {holder_id}"))),
        "{waiter}"
    );
    assert_eq!(
        backups(&sb)
            .iter()
            .filter(|b| b["type"] == "database" && b["status"] != "running")
            .count(),
        0,
        "no database backup may finish while the lock is held"
    );

    lock.execute("COMMIT").unwrap();
    drop(lock);
    let (st, text) = wait_child(worker, 300, "the worker");
    assert_eq!(st.code(), Some(0), "{text}");
    assert_eq!(done_line(&text)["succeeded"], 3, "{text}");
    for id in [d1, d2] {
        assert_eq!(sb.job(id)["state"], "succeeded");
        assert_eq!(claims(&sb, id), 1);
    }
    let rows = backups(&sb);
    assert_eq!(
        rows.iter().filter(|b| b["type"] == "database").count(),
        2,
        "{rows:?}"
    );
}

/// The state of a job read straight from the catalog file, without a
/// lifeboat process (which would settle dead jobs as it opens the catalog).
fn raw_state(sb: &Sandbox, job: i64) -> String {
    let conn = rusqlite::Connection::open_with_flags(
        &sb.catalog,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    conn.query_row("SELECT state FROM jobs WHERE id = ?1", [job], |r| r.get(0))
        .unwrap()
}

#[test]
fn an_idle_worker_settles_the_job_of_a_worker_that_died() {
    let sb = big_sandbox();
    let big = enqueue(&sb, &["backup", "--type", "filesystem"]);
    let doomed = sb.spawn(&["worker", "--workers", "1"]);
    wait_progress(&sb, big);
    // A second, idle worker (nothing left to claim) is already running
    // when the first one dies.
    let mut idle = sb.spawn(&["worker", "--workers", "1"]);
    let mut idle_out = std::io::BufReader::new(idle.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut idle_out, &mut first).unwrap();
    assert!(first.starts_with("worker ready"), "{first}");
    signal(&doomed, libc::SIGKILL);
    let (st, _) = wait_child(doomed, 30, "the killed worker");
    assert!(!st.success());
    // No other lifeboat process runs from here on: the idle worker's
    // periodic sweep must find the dead job.
    wait_for(120, "the idle worker to mark the job interrupted", || {
        (raw_state(&sb, big) == "interrupted").then_some(())
    });
    signal(&idle, libc::SIGTERM);
    let (st, _) = wait_child(idle, 60, "the idle worker");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut idle_out, &mut text).unwrap();
    assert_eq!(st.code(), Some(0), "{text}");
    assert!(text.contains("0 job(s) run"), "not retried: {text}");
    assert!(partial_files(&sb).is_empty(), "{:?}", partial_files(&sb));
    let j = sb.job(big);
    assert_eq!(j["state"], "interrupted");
    assert_eq!(claims(&sb, big), 1);
}

#[test]
fn queued_backup_all_becomes_the_parent_of_its_type_jobs() {
    let sb = small_sandbox();
    let parent = enqueue(&sb, &["backup", "--all", "--name", "nightly"]);
    let q = sb.job(parent);
    assert_eq!(q["kind"], "backup-all");
    assert_eq!(q["target"], "configuration+filesystem");
    let out = sb.run(&["--json", "worker", "--once"]);
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(done_line(&text)["jobs"], 1, "{text}");
    let p = sb.job(parent);
    assert_eq!(p["state"], "succeeded", "{p}");
    let jobs = sb.jobs();
    let children: Vec<&Value> = jobs.iter().filter(|j| j["parent_job"] == parent).collect();
    assert_eq!(children.len(), 2, "{jobs:?}");
    assert!(children.iter().all(|c| c["state"] == "succeeded"));
    let rows = backups(&sb);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows
        .iter()
        .all(|r| r["name"] == "nightly" && r["status"] == "succeeded"));
    // One row per job: the queued row became the parent, no extra parent.
    assert_eq!(jobs.iter().filter(|j| j["kind"] == "backup-all").count(), 1);
}

#[test]
fn sigterm_cancels_a_database_job_that_waits_on_a_table_lock() {
    let Some(server) = test_server() else {
        eprintln!("skipped: no PostgreSQL test server");
        return;
    };
    let db = ScratchDb::create(&server);
    db.connect()
        .execute("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 500) g;")
        .unwrap();
    let sb = Sandbox::with_extra_config(&format!(
        "[sources.database]\nurl = \"{}\"\n",
        pg_url_for(db.name())
    ));
    populate(&sb.app);
    sb.generate_key();

    // pg_dump (and the row count) block on this lock and produce nothing.
    let lock = db.connect();
    lock.execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE;")
        .unwrap();
    let job = enqueue(&sb, &["backup", "--type", "database"]);
    let worker = sb.spawn(&["worker", "--workers", "1"]);
    wait_for(120, "the database job to be dumping", || {
        let j = sb.job(job);
        (j["state"] == "running"
            && j["phase"]
                .as_str()
                .is_some_and(|p| p.starts_with("dumping")))
        .then_some(())
    });
    signal(&worker, libc::SIGTERM);
    // The worker ends while the lock is still held.
    let (st, text) = wait_child(worker, 120, "the stopped worker");
    assert_eq!(st.code(), Some(1), "{text}");
    assert!(text.contains("stopped by a signal"), "{text}");
    let j = sb.job(job);
    assert_eq!(j["state"], "cancelled", "{j}");
    assert!(
        artifact_like_files(&sb).is_empty(),
        "{:?}",
        artifact_like_files(&sb)
    );
    assert!(backups(&sb).iter().all(|b| b["status"] != "succeeded"));
    lock.execute("COMMIT").unwrap();
}

// ------------------------------------------------------------ every verb through the queue

/// Run one queued job with `worker --job ID`; returns its final row (with
/// the report its worker recorded under `result`).
fn run_job(sb: &Sandbox, job: i64) -> Value {
    let out = sb.run(&["worker", "--job", &job.to_string()]);
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(0), "job {job}: {text}");
    assert!(text.contains(&format!("job {job} (")), "{text}");
    let j = sb.job(job);
    assert_eq!(j["state"], "succeeded", "{j}");
    assert_eq!(claims(sb, job), 1, "{j}");
    j
}

#[test]
fn every_operation_the_console_starts_can_be_queued_and_run_by_a_worker() {
    let sb = small_sandbox();
    let fs_backup = sb.backup("filesystem", &[]);
    sb.backup("configuration", &[]);
    let before = checksum_tree(&sb.app.join("uploads"));

    // Restore into a new directory, named relative to the working
    // directory of whoever queued it.
    let restore = enqueue(
        &sb,
        &[
            "restore",
            "--type",
            "filesystem",
            "--id",
            &id_of(&fs_backup),
            "--target",
            "restored",
        ],
    );
    let q = sb.job(restore);
    assert_eq!(q["kind"], "restore");
    assert_eq!(q["request"]["verb"], "restore", "{q}");
    assert_eq!(q["request"]["selector"]["id"], id_of(&fs_backup).as_str());
    let target = sb.dir.path().join("restored");
    assert_eq!(q["request"]["target"], target.to_str().unwrap(), "{q}");
    let j = run_job(&sb, restore);
    assert_eq!(j["result"]["id"], id_of(&fs_backup).as_str(), "{j}");
    assert_eq!(
        checksum_tree(&Sandbox::under(&target, &sb.app.join("uploads"))),
        before
    );

    let drill = enqueue(&sb, &["drill"]);
    let j = run_job(&sb, drill);
    assert_eq!(j["result"]["ok"], true, "{j}");
    let report = j["result"]["recovery"]["report_file"].as_str().unwrap();
    assert!(std::path::Path::new(report).is_file(), "{j}");
    let jobs = sb.jobs();
    assert!(
        jobs.iter()
            .filter(|c| c["parent_job"] == drill)
            .all(|c| c["kind"] == "restore" && c["state"] == "succeeded"),
        "{jobs:?}"
    );

    let rotate = enqueue(&sb, &["key", "rotate"]);
    assert_eq!(sb.job(rotate)["kind"], "key-rotate");
    let j = run_job(&sb, rotate);
    assert!(j["result"]["new_key"].is_string(), "{j}");
    assert_eq!(j["result"]["failed"], serde_json::json!([]), "{j}");
    // Backups written before the rotation still restore.
    sb.ok(&[
        "restore",
        "--type",
        "filesystem",
        "--id",
        &id_of(&fs_backup),
        "--target",
        "after-rotate",
    ]);

    let prune = enqueue(&sb, &["prune", "--yes"]);
    let j = run_job(&sb, prune);
    assert!(j["result"]["deleted"].is_array(), "{j}");

    // The whole runbook, over the (sandboxed) live system: the app's files
    // are damaged, the queued recovery puts them back.
    fs::write(sb.app.join("uploads/avatars/u0.json"), b"damaged").unwrap();
    let repo = sb.repo.to_str().unwrap().to_string();
    let recover = enqueue(&sb, &["recover", "--dir", &repo, "--yes"]);
    let j = run_job(&sb, recover);
    assert_eq!(j["kind"], "recover", "{j}");
    assert_eq!(j["result"]["ok"], true, "{j}");
    let children: Vec<Value> = sb
        .jobs()
        .into_iter()
        .filter(|c| c["parent_job"] == recover)
        .collect();
    assert_eq!(children.len(), 2, "one restore per type: {children:?}");
    assert!(children.iter().all(|c| c["state"] == "succeeded"));
    assert_eq!(checksum_tree(&sb.app.join("uploads")), before);
}

#[test]
fn worker_job_runs_only_a_job_that_is_still_queued() {
    let sb = small_sandbox();
    let a = enqueue(&sb, &["backup", "--type", "configuration"]);
    run_job(&sb, a);
    // Again: it has ended, nothing runs twice.
    let text = sb.ok(&["worker", "--job", &a.to_string()]);
    assert!(
        text.contains(&format!("job {a} is succeeded, not queued")),
        "{text}"
    );
    assert_eq!(claims(&sb, a), 1);
    // A cancelled job is never run.
    let b = enqueue(&sb, &["backup", "--type", "configuration"]);
    sb.ok(&["cancel", &b.to_string()]);
    let text = sb.ok(&["worker", "--job", &b.to_string()]);
    assert!(text.contains("is cancelled, not queued"), "{text}");
    assert_eq!(backups(&sb).len(), 1);
    // No such job.
    let err = sb.fails(&["worker", "--job", "9999"], 1);
    assert!(err.contains("no job with id 9999"), "{err}");
    // --job runs one job, not a pool.
    sb.fails(&["worker", "--job", "1", "--workers", "2"], 2);
}

#[test]
fn destructive_work_is_queued_only_when_confirmed() {
    let sb = small_sandbox();
    let b = id_of(&sb.backup("filesystem", &[]));
    let err = sb.fails(&["prune", "--queue"], 2);
    assert!(
        err.contains("a queued prune deletes without asking again"),
        "{err}"
    );
    assert!(err.contains("--dry-run"), "{err}");
    let repo = sb.repo.to_str().unwrap().to_string();
    let err = sb.fails(&["recover", "--dir", &repo, "--queue"], 2);
    assert!(err.contains("without asking again"), "{err}");
    let err = sb.fails(&["recover", "--dir", "no-such-dir", "--yes", "--queue"], 1);
    assert!(err.contains("cannot open backup directory"), "{err}");
    // A plan is read-only: it is never queued.
    sb.fails(
        &[
            "restore",
            "--id",
            &b,
            "--target",
            "x",
            "--dry-run",
            "--queue",
        ],
        2,
    );
    sb.fails(&["prune", "--dry-run", "--queue"], 2);
    let err = sb.fails(
        &[
            "restore",
            "--id",
            "no-such-backup",
            "--target",
            "x",
            "--queue",
        ],
        1,
    );
    assert!(err.contains("no backup with id no-such-backup"), "{err}");
    let err = sb.fails(&["restore", "--target", "x", "--queue"], 2);
    assert!(err.contains("needs --id, --file or --at"), "{err}");
    let err = sb.fails(&["restore", "--id", &b, "--in-place", "--queue"], 2);
    assert!(
        err.contains("replaces live data without asking again"),
        "{err}"
    );
    let err = sb.fails(
        &[
            "restore", "--id", &b, "--target", "x", "--jobs", "0", "--queue",
        ],
        2,
    );
    assert!(err.contains("--jobs"), "{err}");
    let jobs = sb.jobs();
    assert!(jobs.iter().all(|j| j["state"] != "queued"), "{jobs:?}");

    // An unconfirmed recovery is refused before anything is opened: no
    // catalog appears on a machine that has none.
    let fresh = Sandbox::new();
    let err = fresh.fails(&["recover", "--dir", &repo], 1);
    assert!(err.contains("over the live system"), "{err}");
    assert!(!fresh.catalog.exists(), "nothing was created");
}
