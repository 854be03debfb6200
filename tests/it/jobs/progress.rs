//! Job progress as the catalog records it, after real backups, restores,
//! deep verifications and drills: a finished successful job reads done of
//! done (100%), its totals count what it did (the entries of a tree, the
//! whole of an incremental chain), and no row ever reads more done than
//! its total.

use std::fs;

use lifeboat_engine::sources::database::testing::{test_server, ScratchDb};
use serde_json::Value;

use crate::common::*;

fn num(j: &Value, field: &str) -> Option<u64> {
    j[field].as_u64()
}

/// Done never past a known total, in bytes and in items.
fn assert_within_totals(j: &Value) {
    for (done, total) in [("bytes_done", "bytes_total"), ("items_done", "items_total")] {
        if let (Some(d), Some(t)) = (num(j, done), num(j, total)) {
            assert!(d <= t, "{done} {d} > {total} {t}: {j}");
        }
    }
}

/// A successful job's row: done == total for both counters, and the
/// ratio a face shows is 1.0. Returns (bytes, items).
fn assert_finished_whole(j: &Value) -> (u64, u64) {
    assert_eq!(j["state"], "succeeded", "{j}");
    let bytes = num(j, "bytes_done").unwrap();
    let items = num(j, "items_done").unwrap();
    assert_eq!(num(j, "bytes_total"), Some(bytes), "bytes: {j}");
    // A job that counts no items (a database dump) records no item total.
    let items_total = num(j, "items_total");
    assert_eq!(items_total.unwrap_or(0), items, "items: {j}");
    assert!(bytes > 0, "{j}");
    assert_eq!(bytes as f64 / num(j, "bytes_total").unwrap() as f64, 1.0);
    (bytes, items)
}

fn job_of(sb: &Sandbox, report: &Value) -> Value {
    sb.job(report["job_id"].as_i64().expect("job_id in the report"))
}

fn manifest(backup: &Value) -> Value {
    read_json(&manifest_of(&file_of(backup)))
}

/// The one job of `kind` on `target`.
fn the_job(sb: &Sandbox, kind: &str, target: &str) -> Value {
    let jobs: Vec<Value> = sb
        .jobs()
        .into_iter()
        .filter(|j| j["kind"] == kind && j["target"] == target)
        .collect();
    assert_eq!(jobs.len(), 1, "{kind} {target}: {jobs:?}");
    jobs[0].clone()
}

/// A full and an incremental filesystem backup, then a restore, a deep
/// verification and a drill of that chain. Each backup's totals are its
/// tree (every entry it indexed, directories and symlinks included; every
/// file's bytes, unchanged ones included), and each chain job counts the
/// whole chain once: the sum of its links, not the last link's share.
#[test]
fn finished_jobs_read_done_of_total_across_an_incremental_chain() {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();

    let full = sb.backup("filesystem", &[]);
    let (bytes, items) = assert_finished_whole(&job_of(&sb, &full));
    let files = &manifest(&full)["files"];
    assert!(files["dirs"].as_u64().unwrap() > 0 && files["symlinks"].as_u64().unwrap() > 0);
    assert_eq!(bytes, files["bytes"].as_u64().unwrap(), "{files}");
    assert_eq!(items, files["stored"].as_u64().unwrap(), "{files}");

    fs::write(sb.app.join("uploads/docs/new.txt"), "new since the full").unwrap();
    fs::write(
        sb.app.join("uploads/avatars/u3.json"),
        "{\"user\":3,\"v\":2}\n",
    )
    .unwrap();
    let inc = sb.backup("filesystem", &[]);
    let inc_manifest = manifest(&inc);
    assert_eq!(inc_manifest["kind"], "incremental", "{inc_manifest}");
    let (bytes, items) = assert_finished_whole(&job_of(&sb, &inc));
    let files = &inc_manifest["files"];
    assert!(files["unchanged"].as_u64().unwrap() > 0, "{files}");
    // Unchanged files are not read, but they are done.
    assert_eq!(bytes, files["bytes"].as_u64().unwrap(), "{files}");
    assert_eq!(
        items,
        files["stored"].as_u64().unwrap() + files["unchanged"].as_u64().unwrap(),
        "{files}"
    );

    // The chain as one piece of work: every link's stream and entries.
    let links = [manifest(&full), inc_manifest.clone()];
    let chain_bytes: u64 = links
        .iter()
        .map(|m| m["payload"]["size"].as_u64().unwrap())
        .sum();
    let chain_items: u64 = links
        .iter()
        .map(|m| m["files"]["stored"].as_u64().unwrap())
        .sum();
    let inc_id = id_of(&inc);

    let target = sb.dir.path().join("restored");
    sb.ok(&[
        "restore",
        "--id",
        &inc_id,
        "--target",
        target.to_str().unwrap(),
    ]);
    let restore = sb.job(the_job(&sb, "restore", &inc_id)["id"].as_i64().unwrap());
    assert_eq!(
        assert_finished_whole(&restore),
        (chain_bytes, chain_items),
        "{restore}"
    );

    sb.ok(&["verify", "--deep", &inc_id]);
    let verify = the_job(&sb, "verify", &inc_id);
    assert_eq!(
        assert_finished_whole(&verify),
        (chain_bytes, chain_items),
        "{verify}"
    );

    sb.backup("configuration", &[]);
    let out = sb.run(&["drill"]);
    assert_eq!(out.status.code(), Some(0), "{}", all_text(&out));
    // Its restore of the chain is a job of its own, counted the same way.
    let drilled = sb
        .jobs()
        .into_iter()
        .filter(|j| j["kind"] == "restore" && j["target"] == inc_id.as_str())
        .find(|j| j["parent_job"].is_i64())
        .unwrap_or_else(|| panic!("the drill's restore of {inc_id}: {:?}", sb.jobs()));
    assert_eq!(assert_finished_whole(&drilled), (chain_bytes, chain_items));

    // Every row, finished or not, within its totals; the text agrees.
    for j in sb.jobs() {
        assert_within_totals(&j);
    }
    let text = sb.ok(&["status", &restore["id"].to_string()]);
    assert!(text.contains("(100%)"), "{text}");
}

/// Watched while it runs (a tree big enough to be seen mid-way, with
/// directories enough that counting only files would be passed), a backup
/// never records more done than its totals, and ends at done == total.
#[test]
fn a_running_backup_never_reads_more_done_than_its_total() {
    let sb = Sandbox::with_extra_config(SLOW_COMPRESSION);
    populate(&sb.app);
    for d in 0..40 {
        fs::create_dir_all(sb.app.join(format!("uploads/many/d{d:02}/sub"))).unwrap();
    }
    big_tree(&sb.app.join("uploads/big"), 16);
    sb.generate_key();
    let child = sb.spawn(&["--json", "backup", "--type", "filesystem"]);
    let mut samples = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let job = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no end after {samples:?}"
        );
        let seen = sb.jobs().into_iter().find(|j| j["kind"] == "backup");
        if let Some(j) = seen {
            assert_within_totals(&j);
            if j["state"] != "running" {
                break j;
            }
            samples.push(j);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let (st, text) = wait_child(child, 300, "the backup");
    assert_eq!(st.code(), Some(0), "{text}");
    let (_, items) = assert_finished_whole(&sb.job(job["id"].as_i64().unwrap()));
    // The 80 directories under uploads/many are entries too.
    assert!(items > 80, "{job}");
    // Seen mid-way with its totals counted, not only before and after.
    assert!(
        samples
            .iter()
            .any(|j| num(j, "items_total").is_some_and(|t| num(j, "items_done").unwrap() < t)),
        "never seen running with its totals: {samples:?}"
    );
}

/// A database backup counts what pg_dump wrote: no total it cannot know
/// while it runs (the database's size on disk is not the size of its
/// dump), and at the end done of done, never 0% of a finished job.
#[test]
fn a_finished_database_backup_reads_done_of_total() {
    let Some(admin) = test_server() else { return };
    let db = ScratchDb::create(&admin);
    db.connect()
        .execute(
            "CREATE TABLE t (id int PRIMARY KEY, v text); \
             INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 2000) g;",
        )
        .unwrap();
    let on_disk = db
        .connect()
        .query_one_i64("SELECT pg_database_size(current_database())")
        .unwrap() as u64;
    let sb = Sandbox::with_extra_config(&format!(
        "[sources.database]\nurl = \"{}\"\n",
        pg_url_for(db.name())
    ));
    sb.generate_key();
    let job = job_of(&sb, &sb.backup("database", &[]));
    let (bytes, _) = assert_finished_whole(&job);
    assert!(
        bytes < on_disk,
        "{bytes} dumped of {on_disk} on disk: {job}"
    );
    let text = sb.ok(&["status", &job["id"].to_string()]);
    assert!(text.contains("(100%)"), "{text}");
}
