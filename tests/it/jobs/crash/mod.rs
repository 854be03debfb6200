//! Crash-point tests: the real binary is killed (SIGKILL, from inside, via
//! `LIFEBOAT_CRASH_AT`) at every named step of the commit protocol
//! (docs/FORMAT.md section 9, `lifeboat_engine::crashpoint::POINTS`), and the next
//! start is checked the way an operator would: no row says succeeded
//! without a payload that verifies, no committed backup is lost, no partial
//! or plaintext file is left, a restore target is unchanged or marked, and
//! running the same command again succeeds.
//!
//! Included in the `jobs` test binary (one binary fewer to link).

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

use lifeboat_engine::sources::database::testing::{test_server, ScratchDb};
use lifeboat_engine::sources::database::ConnInfo;
use serde_json::Value;

use crate::common::*;

/// Run `args` with the crash point armed; the process must die by SIGKILL.
fn killed_at(sb: &Sandbox, point: &str, args: &[&str]) {
    killed_at_with(sb, point, args, &[]);
}

fn killed_at_with(sb: &Sandbox, point: &str, args: &[&str], env: &[(&str, &str)]) {
    assert!(
        lifeboat_engine::crashpoint::POINTS.contains(&point),
        "{point} is not a crash point"
    );
    let out = sb
        .cmd()
        .env("LIFEBOAT_CRASH_AT", point)
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGKILL),
        "lifeboat {args:?} was to die at {point}, but ended with {:?}\n{}",
        out.status,
        all_text(&out)
    );
}

/// The error text of the `kind` job the next start marked interrupted.
fn interrupted_error(sb: &Sandbox, kind: &str, point: &str) -> String {
    let job = sb
        .jobs()
        .into_iter()
        .find(|j| j["kind"] == kind && j["state"] == "interrupted")
        .unwrap_or_else(|| panic!("{point}: no interrupted {kind} job"));
    job["error"].as_str().unwrap_or_default().to_string()
}

/// Ids of the backups whose manifest is in the repository.
fn committed(sb: &Sandbox) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    walk(&sb.repo, &mut |p| {
        if p.to_string_lossy().ends_with(".manifest.json") {
            ids.insert(read_json(p)["id"].as_str().unwrap().to_string());
        }
    });
    ids
}

/// What every crash must leave behind, checked after the next start.
/// `before`: backups committed before the crashed command ran.
fn assert_sound(sb: &Sandbox, before: &BTreeSet<String>, point: &str) {
    // The next start settles the dead job.
    let rows = sb.json(&["list"]);
    let rows = rows.as_array().unwrap();
    let now = committed(sb);
    for id in before {
        assert!(now.contains(id), "{point}: committed backup {id} was lost");
    }
    let good: Vec<&Value> = rows
        .iter()
        .filter(|r| {
            matches!(
                r["status"].as_str(),
                Some("succeeded" | "succeeded_with_warnings")
            )
        })
        .collect();
    for r in &good {
        let id = r["id"].as_str().unwrap();
        assert!(
            file_of(r).exists(),
            "{point}: backup {id} says {} but its payload is gone",
            r["status"]
        );
        sb.ok(&["verify", id]);
    }
    // Every committed manifest is a good row: nothing committed is hidden.
    for id in &now {
        assert!(
            good.iter().any(|r| r["id"] == id.as_str()),
            "{point}: backup {id} is committed in the repository but the catalog does not list it as good: {rows:?}"
        );
    }
    assert!(
        rows.iter().all(|r| r["status"] != "running"),
        "{point}: a row is still running: {rows:?}"
    );
    assert!(
        sb.jobs().iter().all(|j| j["state"] != "running"),
        "{point}: a job is still running"
    );
    assert_eq!(
        partial_files(sb),
        Vec::<PathBuf>::new(),
        "{point}: partial files left"
    );
    let scratch = sb.repo.join(".restore-tmp");
    assert!(
        no_files_under(&scratch),
        "{point}: plaintext left under {}",
        scratch.display()
    );
    // Every file in a type directory belongs to a committed backup.
    for f in artifact_like_files(sb) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let owner = if name.ends_with(".manifest.json") || name.ends_with(".verified.json") {
            continue;
        } else if let Some(stem) = name.strip_suffix(".index") {
            manifest_of(&f.with_file_name(stem))
        } else {
            manifest_of(&f)
        };
        assert!(
            owner.exists(),
            "{point}: {} is left without a manifest",
            f.display()
        );
    }
}

fn sandbox() -> Sandbox {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    sb
}

/// A scratch database with a table `t` of `rows` rows.
fn database(server: &ConnInfo, rows: u32) -> ScratchDb {
    let db = ScratchDb::create(server);
    db.connect()
        .execute(&format!("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, {rows}) g;"))
        .unwrap();
    db
}

/// A keyed sandbox whose database source is `db`.
fn db_sandbox(db: &ScratchDb) -> Sandbox {
    let sb = Sandbox::with_extra_config(&format!(
        "[sources.database]\nurl = \"{}\"\n",
        pg_url_for(db.name())
    ));
    sb.generate_key();
    sb
}

const BACKUP_POINTS: &[&str] = &[
    "backup.sealed",
    "backup.payload-published",
    "backup.published",
    "backup.manifest-written",
    "backup.recorded",
];

/// Points from which on the backup is committed (and must be kept).
fn commits(point: &str) -> bool {
    matches!(point, "backup.manifest-written" | "backup.recorded")
}

#[test]
fn a_backup_killed_at_any_commit_step_is_lost_whole_or_kept_whole() {
    for point in BACKUP_POINTS {
        let sb = sandbox();
        sb.backup("filesystem", &[]);
        sb.backup("configuration", &[]);
        fs::write(sb.app.join("uploads/new.txt"), "after the full\n").unwrap();
        let before = committed(&sb);
        killed_at(&sb, point, &["backup", "--type", "filesystem"]);
        assert_sound(&sb, &before, point);
        let after = committed(&sb);
        assert_eq!(
            after.len(),
            before.len() + usize::from(commits(point)),
            "{point}: {before:?} -> {after:?}"
        );
        // The dead job says what happened to its backup.
        let error = interrupted_error(&sb, "backup", point);
        if commits(point) && *point != "backup.recorded" {
            assert!(
                error.contains("committed before the process died"),
                "{point}: {error}"
            );
        }
        // And the next run works, with the new file in it.
        let r = sb.backup("filesystem", &[]);
        assert_eq!(r["status"], "succeeded", "{point}: {r}");
        assert_sound(&sb, &committed(&sb), point);
    }
}

/// The catalog cannot record a committed backup (its disk is full): the
/// job fails saying so, and the backup is taken back whole.
#[test]
fn a_backup_the_catalog_cannot_record_fails_and_is_taken_back() {
    let sb = sandbox();
    sb.backup("filesystem", &[]);
    let before = committed(&sb);
    let out = sb
        .cmd()
        .env("LIFEBOAT_FAIL_AT", "backup.record")
        .args(["backup", "--type", "filesystem", "--full"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", all_text(&out));
    let text = all_text(&out);
    assert!(text.contains("could not record it"), "{text}");
    assert!(text.contains("removed again"), "{text}");
    assert_sound(&sb, &before, "fault backup.record");
    assert_eq!(committed(&sb), before);
    let rows = sb.json(&["list"]);
    assert_eq!(
        rows.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "failed")
            .count(),
        1,
        "{rows}"
    );
}

#[test]
fn a_database_backup_killed_at_any_commit_step_is_lost_whole_or_kept_whole() {
    let Some(server) = test_server() else {
        return;
    };
    let db = database(&server, 500);
    for point in BACKUP_POINTS {
        let sb = db_sandbox(&db);
        let before = committed(&sb);
        killed_at(&sb, point, &["backup", "--type", "database"]);
        assert_sound(&sb, &before, point);
        assert_eq!(committed(&sb).len(), usize::from(commits(point)), "{point}");
        sb.backup("database", &[]);
        assert_sound(&sb, &committed(&sb), point);
    }
}

/// Files of `dir` (relative path -> content hash), ignoring lifeboat's marker.
fn tree(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let mut t = checksum_tree(dir);
    t.remove(".lifeboat-restore-incomplete");
    t
}

#[test]
fn a_restore_over_an_existing_directory_killed_at_any_step_keeps_its_safety_copy() {
    for point in [
        "restore.safety-copy-taken",
        "restore.writing",
        "restore.written",
    ] {
        let sb = sandbox();
        let full = sb.backup("filesystem", &[]);
        let target = sb.dir.path().join("target");
        sb.ok(&[
            "restore",
            "--id",
            &id_of(&full),
            "--target",
            target.to_str().unwrap(),
        ]);
        // The operator changed the restored copy since: the restore will
        // replace these files, so they go into the safety copy first.
        let docs = target
            .join(sb.app.strip_prefix("/").unwrap())
            .join("uploads/docs");
        fs::write(docs.join("report.txt"), "edited by the operator\n").unwrap();
        fs::write(docs.join("photo.png"), "replaced\n").unwrap();
        let edited = tree(&target);
        let before = committed(&sb);
        killed_at(
            &sb,
            point,
            &[
                "restore",
                "--id",
                &id_of(&full),
                "--target",
                target.to_str().unwrap(),
                "--yes",
            ],
        );
        assert_sound(&sb, &before, point);
        // The safety copy was committed before the kill at every point, and
        // it is kept, listed and restorable.
        let safety: Vec<Value> = sb
            .json(&["list"])
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["name"] == "pre_restore")
            .cloned()
            .collect();
        assert_eq!(safety.len(), 1, "{point}: safety copy missing");
        // No temporary file of the dead restore is left in the target.
        let mut temps = Vec::new();
        walk(&target, &mut |p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            if n.starts_with(".lifeboat-") && n.ends_with(".tmp") {
                temps.push(p.to_path_buf());
            }
        });
        assert!(temps.is_empty(), "{point}: temporary files left: {temps:?}");
        let marker = target.join(".lifeboat-restore-incomplete");
        if point == "restore.safety-copy-taken" {
            assert_eq!(
                tree(&target),
                edited,
                "{point}: target changed before writing"
            );
        } else {
            let text = fs::read_to_string(&marker)
                .unwrap_or_else(|_| panic!("{point}: no marker in the half-written target"));
            assert!(
                text.contains(safety[0]["id"].as_str().unwrap()),
                "{point}: {text}"
            );
        }
        let error = interrupted_error(&sb, "restore", point);
        assert!(error.contains(target.to_str().unwrap()), "{point}: {error}");

        // The safety copy gives back the operator's edits.
        let back = sb.dir.path().join("back");
        sb.ok(&[
            "restore",
            "--id",
            &id_of(&safety[0]),
            "--target",
            back.to_str().unwrap(),
        ]);
        let back_docs = back.join(docs.strip_prefix("/").unwrap());
        assert_eq!(
            fs::read_to_string(back_docs.join("report.txt")).unwrap(),
            "edited by the operator\n",
            "{point}"
        );
        // Restoring again completes the target and removes the marker.
        sb.ok(&[
            "restore",
            "--id",
            &id_of(&full),
            "--target",
            target.to_str().unwrap(),
            "--yes",
        ]);
        assert!(
            !marker.exists(),
            "{point}: marker left after a complete restore"
        );
        assert_eq!(
            fs::read_to_string(docs.join("report.txt")).unwrap(),
            "quarterly report\n".repeat(5000),
            "{point}"
        );
    }
}

#[test]
fn a_restore_into_a_new_directory_killed_while_writing_is_marked() {
    let sb = sandbox();
    let full = sb.backup("filesystem", &[]);
    let target = sb.dir.path().join("fresh");
    let before = committed(&sb);
    killed_at(
        &sb,
        "restore.writing",
        &[
            "restore",
            "--id",
            &id_of(&full),
            "--target",
            target.to_str().unwrap(),
        ],
    );
    assert_sound(&sb, &before, "restore.writing (new directory)");
    assert!(target.join(".lifeboat-restore-incomplete").exists());
    let error = interrupted_error(&sb, "restore", "restore.writing (new directory)");
    assert!(error.contains("incomplete"), "{error}");
    sb.ok(&[
        "restore",
        "--id",
        &id_of(&full),
        "--target",
        target.to_str().unwrap(),
        "--yes",
    ]);
    assert!(!target.join(".lifeboat-restore-incomplete").exists());
}

#[test]
fn an_in_place_restore_killed_while_writing_marks_the_roots_and_keeps_the_safety_copy() {
    let sb = sandbox();
    let full = sb.backup("filesystem", &[]);
    fs::write(sb.app.join("uploads/docs/report.txt"), "changed live\n").unwrap();
    let before = committed(&sb);
    killed_at(
        &sb,
        "restore.writing",
        &["restore", "--id", &id_of(&full), "--in-place", "--yes"],
    );
    assert_sound(&sb, &before, "restore.writing (in place)");
    for root in ["uploads", "logs"] {
        assert!(
            sb.app
                .join(root)
                .join(".lifeboat-restore-incomplete")
                .exists(),
            "no marker in {root}"
        );
    }
    let list = sb.json(&["list"]);
    let safety = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pre_restore")
        .expect("safety copy kept")
        .clone();
    // Latest is never the safety copy.
    let plan = sb.json(&["restore", "--type", "filesystem", "--dry-run"]);
    assert_eq!(plan["id"], full["id"], "{plan}");
    sb.ok(&["restore", "--id", &id_of(&safety), "--in-place", "--yes"]);
    assert_eq!(
        fs::read_to_string(sb.app.join("uploads/docs/report.txt")).unwrap(),
        "changed live\n"
    );
}

#[test]
fn a_database_restore_killed_at_any_step_never_leaves_the_app_without_its_database() {
    let Some(server) = test_server() else {
        return;
    };
    for point in [
        "db-restore.loading",
        "db-restore.loaded",
        "db-restore.swapped",
    ] {
        let db = database(&server, 300);
        let sb = db_sandbox(&db);
        let b = sb.backup("database", &[]);
        db.connect()
            .execute("INSERT INTO t VALUES (1000, 'after')")
            .unwrap();
        let before = committed(&sb);
        killed_at(
            &sb,
            point,
            &["restore", "--id", &id_of(&b), "--in-place", "--yes"],
        );
        assert_sound(&sb, &before, point);
        // The live name always holds a whole database that takes connections.
        let rows = db
            .connect()
            .query_one_i64("SELECT count(*) FROM t")
            .unwrap_or_else(|e| panic!("{point}: live database unusable: {e}"));
        let want = if point == "db-restore.swapped" {
            300
        } else {
            301
        };
        assert_eq!(rows, want, "{point}");
        // Run again: it succeeds, and drops what the killed run left
        // half-loaded.
        sb.ok(&["restore", "--id", &id_of(&b), "--in-place", "--yes"]);
        let admin = lifeboat_engine::sources::database::Pg::connect(
            &server,
            std::time::Duration::from_secs(10),
        )
        .unwrap();
        let half = format!("{}_lbrestore_", db.name());
        let leftovers: Vec<String> = admin
            .list_databases()
            .unwrap()
            .into_iter()
            .filter(|n| n.starts_with(&half))
            .collect();
        assert!(leftovers.is_empty(), "{point}: {leftovers:?}");
        // Clean up the kept copies.
        let prefix = format!("{}_", db.name());
        for name in admin.list_databases().unwrap() {
            if name.starts_with(&prefix) {
                let _ = admin.drop_database(&name);
            }
        }
    }
}

#[test]
fn a_parallel_database_restore_killed_after_decrypting_leaves_no_plaintext() {
    let Some(server) = test_server() else {
        return;
    };
    let db = database(&server, 300);
    let sb = db_sandbox(&db);
    let b = sb.backup("database", &[]);
    let target = format!("{}_copy", db.name());
    let before = committed(&sb);
    killed_at(
        &sb,
        "db-restore.spooled",
        &[
            "restore",
            "--id",
            &id_of(&b),
            "--target-db",
            &target,
            "--jobs",
            "2",
        ],
    );
    // The decrypted dump was on disk when the process died.
    assert!(!no_files_under(&sb.repo.join(".restore-tmp")));
    assert_sound(&sb, &before, "db-restore.spooled");
    let admin = lifeboat_engine::sources::database::Pg::connect(
        &server,
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    let _ = admin.drop_database(&target);
}

/// A parallel payload's restore spools its pg_dump part for the post-data
/// section's jobs: killed there, the plaintext goes at the next start, and
/// the backup still restores.
#[test]
fn a_parallel_payload_restore_killed_with_its_post_data_spooled_leaves_no_plaintext() {
    let Some(server) = test_server() else {
        return;
    };
    let db = database(&server, 60_000);
    // (The split is judged from the planner's page counts.)
    db.connect().execute("ANALYZE").unwrap();
    let sb = db_sandbox(&db);
    sb.write_config(&format!(
        "[sources.database]\nurl = \"{}\"\njobs = 2\nsplit_table_mb = 1\n",
        pg_url_for(db.name())
    ));
    let b = sb.backup("database", &[]);
    let m = read_json(&manifest_of(&file_of(&b)));
    assert!(
        m["database"]["parallel"].is_object(),
        "not a parallel payload: {m}"
    );
    let target = format!("{}_copy", db.name());
    let before = committed(&sb);
    killed_at(
        &sb,
        "db-restore.spooled",
        &["restore", "--id", &id_of(&b), "--target-db", &target],
    );
    assert!(!no_files_under(&sb.repo.join(".restore-tmp")));
    assert_sound(&sb, &before, "db-restore.spooled (parallel payload)");
    assert!(no_files_under(&sb.repo.join(".restore-tmp")));
    let admin = lifeboat_engine::sources::database::Pg::connect(
        &server,
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    let _ = admin.drop_database(&target);
    sb.ok(&["restore", "--id", &id_of(&b), "--target-db", &target]);
    let _ = admin.drop_database(&target);
}

#[test]
fn prune_key_rotation_and_rebuild_killed_midway_lose_nothing_committed() {
    let sb = sandbox();
    for _ in 0..3 {
        sb.backup("filesystem", &["--full"]);
    }
    // Prune: keep one; killed after the first deletion's manifest is gone.
    sb.write_config("[retention]\nmin_keep = 1\n[retention.filesystem]\nkeep_days = 1\n");
    let later = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let before = committed(&sb);
    killed_at_with(
        &sb,
        "delete.manifest-removed",
        &["prune", "--yes", "--force"],
        &[("LIFEBOAT_NOW", &later)],
    );
    let after = committed(&sb);
    assert_eq!(
        after.len(),
        before.len() - 1,
        "one deletion done before the kill"
    );
    assert_sound(&sb, &after, "delete.manifest-removed");
    let out = sb
        .cmd()
        .env("LIFEBOAT_NOW", &later)
        .args(["prune", "--yes", "--force"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_text(&out));
    assert_sound(&sb, &committed(&sb), "delete.manifest-removed (rerun)");
    assert_eq!(committed(&sb).len(), 1);

    // Key rotation: killed after re-wrapping one data key of several.
    sb.write_config("");
    sb.backup("filesystem", &["--full"]);
    sb.backup("configuration", &[]);
    let before = committed(&sb);
    killed_at(&sb, "key-rotate.rewrapped-one", &["key", "rotate"]);
    assert_sound(&sb, &before, "key-rotate.rewrapped-one");
    sb.ok(&["key", "rotate"]);
    assert_sound(&sb, &before, "key-rotate.rewrapped-one (rerun)");

    // Catalog rebuild: killed after the rows are in, before verifications
    // and the audit log are.
    killed_at(&sb, "rebuild.filled", &["catalog", "rebuild"]);
    assert_sound(&sb, &before, "rebuild.filled");
    sb.ok(&["catalog", "rebuild"]);
    assert_sound(&sb, &before, "rebuild.filled (rerun)");
    let audit = sb.run(&["audit", "verify"]);
    assert!(audit.status.success(), "{}", all_text(&audit));
}

/// Every crash point is exercised by a test above, or (the offsite ones)
/// in tests/it/offsite_crash.rs.
#[test]
fn every_crash_point_has_a_test() {
    let this = [
        include_str!("mod.rs"),
        include_str!("../../offsite_crash.rs"),
    ]
    .concat();
    for p in lifeboat_engine::crashpoint::POINTS {
        assert!(
            this.contains(&format!("\"{p}\"")),
            "crash point {p} has no test in tests/it/jobs/crash/mod.rs or tests/it/offsite_crash.rs"
        );
    }
}
