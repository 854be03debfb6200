//! Catalog tests against real SQLite files in temp directories.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use tempfile::TempDir;

use super::audit::GENESIS_HASH;
use super::*;
use crate::archive::manifest::{Compression, Manifest, StreamInfo, WrappedKey, MANIFEST_FORMAT};
use crate::error::ErrorKind;

fn cat_path(dir: &TempDir) -> PathBuf {
    dir.path().join("state").join("catalog.db")
}

fn record(id: &str, t: BackupType, minutes: i64) -> BackupRecord {
    BackupRecord {
        id: id.to_string(),
        backup_type: t,
        name: None,
        kind: BackupKind::Full,
        parent_id: None,
        created_at: Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap()
            + Duration::minutes(minutes),
        finished_at: None,
        status: BackupStatus::Running,
        size: 10,
        stored_size: 5,
        encrypted: false,
        key_id: None,
        file: format!("/repo/{}/{id}", t.dir()),
        sha256: None,
        verified_at: None,
        verify_result: None,
        warnings: 0,
        job_id: None,
    }
}

fn manifest(id: &str) -> Manifest {
    Manifest {
        format: MANIFEST_FORMAT.to_string(),
        id: id.to_string(),
        backup_type: BackupType::Database,
        name: Some("before-upgrade".into()),
        kind: BackupKind::Incremental,
        parent_id: Some("db-parent".into()),
        // Nanoseconds on purpose: the catalog must keep them.
        created_at: Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap()
            + Duration::nanoseconds(123_456_789),
        finished_at: Utc.with_ymd_and_hms(2026, 11, 26, 2, 3, 0).unwrap(),
        created_by: "ops@panel".into(),
        tool_version: "0.1.0".into(),
        source: serde_json::json!({"database": "panel"}),
        compression: Compression::Zstd,
        compression_level: 3,
        encrypted: true,
        segment_size: Some(65536),
        key: Some(WrappedKey {
            key_id: "k-2026".into(),
            nonce: "bm9uY2U=".into(),
            ciphertext: "Y3Q=".into(),
        }),
        payload: StreamInfo {
            file: "db_backup_20261126_020000_before-upgrade.dump.zst.enc".into(),
            size: 1_000_000,
            stored_size: 250_000,
            sha256: "ab".repeat(32),
        },
        index: None,
        files: None,
        database: Some(serde_json::json!({"server_version": "16.4"})),
        warnings: vec!["one".into(), "two".into()],
        mac: Some("cd".repeat(32)),
    }
}

fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn open_creates_schema_and_reopen_is_idempotent() {
    let dir = TempDir::new().unwrap();
    let p = cat_path(&dir);
    let c = Catalog::open(&p).unwrap();
    assert_eq!(c.schema_version().unwrap(), schema::current_version());
    let jm: String = c
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(jm, "wal");
    let fk: i64 = c
        .conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
    c.insert_backup(&record("db-1", BackupType::Database, 0))
        .unwrap();
    drop(c);
    let c = Catalog::open(&p).unwrap();
    assert_eq!(c.schema_version().unwrap(), schema::current_version());
    assert!(c.get_backup("db-1").unwrap().is_some(), "reopen keeps data");
    let tables: i64 = c
        .conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('backups','jobs','job_log','audit')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 4);
}

#[test]
fn file_is_0600_and_new_dirs_0700() {
    let dir = TempDir::new().unwrap();
    let p = cat_path(&dir);
    let _c = Catalog::open(&p).unwrap();
    assert_eq!(mode_of(&p), 0o600);
    assert_eq!(mode_of(p.parent().unwrap()), 0o700);
}

#[test]
fn garbage_file_is_reported_damaged_with_rebuild_hint() {
    let dir = TempDir::new().unwrap();
    let p = dir.path().join("catalog.db");
    std::fs::write(
        &p,
        "this is not a database, it is a text file\n".repeat(100),
    )
    .unwrap();
    let err = Catalog::open(&p).err().expect("garbage must not open");
    assert_eq!(err.kind, ErrorKind::Integrity);
    assert!(err.message.contains("is damaged"), "{}", err.message);
    assert!(
        err.message.contains(&p.display().to_string()),
        "{}",
        err.message
    );
    let hint = err.hint.unwrap();
    assert!(
        hint.contains(&format!("mv {0} {0}.broken", p.display())),
        "{hint}"
    );
    assert!(hint.contains("lifeboat catalog rebuild"), "{hint}");
}

#[test]
fn catalog_newer_than_binary_is_refused() {
    let dir = TempDir::new().unwrap();
    let p = cat_path(&dir);
    let c = Catalog::open(&p).unwrap();
    c.conn
        .pragma_update(None, "user_version", schema::current_version() + 1)
        .unwrap();
    drop(c);
    let err = Catalog::open(&p)
        .err()
        .expect("newer schema must be refused");
    assert_eq!(err.kind, ErrorKind::Refused);
    assert!(err.message.contains("schema version"), "{}", err.message);
}

#[test]
fn create_new_refuses_existing_file() {
    let dir = TempDir::new().unwrap();
    let p = cat_path(&dir);
    Catalog::create_new(&p).unwrap();
    let err = Catalog::create_new(&p).err().unwrap();
    assert_eq!(err.kind, ErrorKind::Io);
    assert!(err.message.contains("already exists"), "{}", err.message);
}

#[test]
fn backup_crud_filter_and_order() {
    let dir = TempDir::new().unwrap();
    let c = Catalog::open(&cat_path(&dir)).unwrap();
    c.insert_backup(&record("db-old", BackupType::Database, 0))
        .unwrap();
    c.insert_backup(&record("db-new", BackupType::Database, 10))
        .unwrap();
    c.insert_backup(&record("db-b", BackupType::Database, 5))
        .unwrap();
    c.insert_backup(&record("db-a", BackupType::Database, 5))
        .unwrap();
    c.insert_backup(&record("fs-1", BackupType::Filesystem, 20))
        .unwrap();
    assert!(c
        .insert_backup(&record("fs-1", BackupType::Filesystem, 20))
        .is_err());

    let ids = |v: Vec<BackupRecord>| v.into_iter().map(|b| b.id).collect::<Vec<_>>();
    assert_eq!(
        ids(c.list_backups(Some(BackupType::Database)).unwrap()),
        ["db-new", "db-a", "db-b", "db-old"]
    );
    assert_eq!(
        ids(c.list_backups(None).unwrap()),
        ["fs-1", "db-new", "db-a", "db-b", "db-old"]
    );
    assert!(c.list_backups(Some(BackupType::State)).unwrap().is_empty());

    let mut b = c.get_backup("db-old").unwrap().unwrap();
    assert_eq!(b, record("db-old", BackupType::Database, 0));
    b.status = BackupStatus::SucceededWithWarnings;
    b.warnings = 3;
    b.finished_at = Some(b.created_at + Duration::seconds(90));
    b.job_id = Some(42);
    c.update_backup(&b).unwrap();
    assert_eq!(c.get_backup("db-old").unwrap().unwrap(), b);

    let at = Utc::now();
    c.mark_verified("db-old", at, "ok").unwrap();
    let v = c.get_backup("db-old").unwrap().unwrap();
    assert_eq!(v.verified_at, Some(at));
    assert_eq!(v.verify_result.as_deref(), Some("ok"));

    c.set_backup_status("db-new", BackupStatus::Failed).unwrap();
    assert_eq!(
        c.get_backup("db-new").unwrap().unwrap().status,
        BackupStatus::Failed
    );
    assert_eq!(
        c.set_backup_status("nope", BackupStatus::Failed)
            .unwrap_err()
            .kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        c.update_backup(&record("nope", BackupType::State, 0))
            .unwrap_err()
            .kind,
        ErrorKind::NotFound
    );

    let found = c
        .find_backup_by_file("/repo/filesystem/fs-1")
        .unwrap()
        .unwrap();
    assert_eq!(found.id, "fs-1");
    assert!(c
        .find_backup_by_file(Path::new("/repo/x"))
        .unwrap()
        .is_none());

    assert!(c.delete_backup("db-b").unwrap());
    assert!(!c.delete_backup("db-b").unwrap());
    assert!(c.get_backup("db-b").unwrap().is_none());
}

#[test]
fn upsert_from_manifest_roundtrip_keeps_verification() {
    let dir = TempDir::new().unwrap();
    let c = Catalog::open(&cat_path(&dir)).unwrap();
    let m = manifest("db-20261126-020000");
    let payload = Path::new("/repo/database/db_backup_20261126_020000_before-upgrade.dump.zst.enc");
    let b = c
        .upsert_from_manifest(&m, payload, BackupStatus::Succeeded)
        .unwrap();
    assert_eq!(b.id, m.id);
    assert_eq!(b.backup_type, BackupType::Database);
    assert_eq!(b.kind, BackupKind::Incremental);
    assert_eq!(b.name.as_deref(), Some("before-upgrade"));
    assert_eq!(b.parent_id.as_deref(), Some("db-parent"));
    assert_eq!(b.created_at, m.created_at, "nanoseconds survive");
    assert_eq!(b.finished_at, Some(m.finished_at));
    assert_eq!((b.size, b.stored_size), (1_000_000, 250_000));
    assert_eq!(b.sha256.as_deref(), Some("ab".repeat(32).as_str()));
    assert!(b.encrypted);
    assert_eq!(b.key_id.as_deref(), Some("k-2026"));
    assert_eq!(b.file, payload.to_str().unwrap());
    assert_eq!(b.warnings, 2);
    assert_eq!(b.status, BackupStatus::Succeeded);

    let json = c.get_manifest_json(&m.id).unwrap().unwrap();
    let back: Manifest = serde_json::from_str(&json).unwrap();
    assert_eq!(back, m);

    // Upserting again refreshes manifest facts but keeps the verification.
    c.mark_verified(&m.id, m.finished_at, "ok").unwrap();
    let mut m2 = m.clone();
    m2.warnings.clear();
    let b2 = c
        .upsert_from_manifest(&m2, payload, BackupStatus::Succeeded)
        .unwrap();
    assert_eq!(b2.warnings, 0);
    assert_eq!(b2.verify_result.as_deref(), Some("ok"));
    assert_eq!(c.list_backups(None).unwrap().len(), 1);

    // Rows inserted directly carry no manifest.
    c.insert_backup(&record("x", BackupType::State, 0)).unwrap();
    assert_eq!(c.get_manifest_json("x").unwrap(), None);
    assert_eq!(c.get_manifest_json("missing").unwrap(), None);
}

#[test]
fn replace_backups_from_swaps_the_whole_table() {
    let dir = TempDir::new().unwrap();
    let mut c = Catalog::open(&cat_path(&dir)).unwrap();
    c.insert_backup(&record("stale", BackupType::State, 0))
        .unwrap();
    let m1 = manifest("db-1");
    let mut m2 = manifest("db-2");
    m2.created_at += Duration::hours(1);
    let n = c
        .replace_backups_from(vec![
            (
                m1,
                PathBuf::from("/repo/database/a"),
                BackupStatus::Succeeded,
            ),
            (
                m2,
                PathBuf::from("/repo/database/b"),
                BackupStatus::Succeeded,
            ),
        ])
        .unwrap();
    assert_eq!(n, 2);
    let ids: Vec<_> = c
        .list_backups(None)
        .unwrap()
        .into_iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(ids, ["db-2", "db-1"]);
    assert!(c.get_manifest_json("db-1").unwrap().is_some());

    // A duplicate id rolls back everything: the old table survives.
    let err = c.replace_backups_from(vec![
        (
            manifest("dup"),
            PathBuf::from("/a"),
            BackupStatus::Succeeded,
        ),
        (
            manifest("dup"),
            PathBuf::from("/b"),
            BackupStatus::Succeeded,
        ),
    ]);
    assert!(err.is_err());
    assert_eq!(c.list_backups(None).unwrap().len(), 2);
}

#[test]
fn job_lifecycle_log_and_dead_jobs() {
    let dir = TempDir::new().unwrap();
    let c = Catalog::open(&cat_path(&dir)).unwrap();
    let j1 = c
        .create_job(
            &JobKind::Backup,
            "database",
            "hostA",
            100,
            JobState::Running,
        )
        .unwrap();
    let j2 = c
        .create_job(
            &JobKind::Backup,
            "filesystem",
            "hostA",
            200,
            JobState::Running,
        )
        .unwrap();
    let j3 = c
        .create_job(&JobKind::Verify, "db-1", "hostB", 100, JobState::Running)
        .unwrap();
    let j4 = c
        .create_job(&JobKind::Prune, "all", "hostA", 300, JobState::Queued)
        .unwrap();
    assert!(c
        .create_job(&JobKind::from("x"), "y", "h", 1, JobState::Succeeded)
        .is_err());

    let job = c.get_job(j1).unwrap().unwrap();
    assert_eq!(job.state, JobState::Running);
    assert!(job.started_at.is_some());
    assert!(c.get_job(j4).unwrap().unwrap().started_at.is_none());

    c.set_job_phase(j1, "dumping").unwrap();
    c.update_job_progress(j1, 500, Some(1000), 3, None).unwrap();
    c.add_partial_output(j1, "/repo/database/tmp.part").unwrap();
    c.add_partial_output(j1, Path::new("/repo/database/tmp.part"))
        .unwrap();
    c.add_partial_output(j1, "/repo/database/other.part")
        .unwrap();
    let job = c.get_job(j1).unwrap().unwrap();
    assert_eq!(job.phase.as_deref(), Some("dumping"));
    assert_eq!(
        (
            job.bytes_done,
            job.bytes_total,
            job.items_done,
            job.items_total
        ),
        (500, Some(1000), 3, None)
    );
    assert_eq!(
        job.partial_outputs,
        ["/repo/database/tmp.part", "/repo/database/other.part"]
    );
    assert!(job.updated_at >= job.created_at);
    c.remove_partial_output(j1, "/repo/database/tmp.part")
        .unwrap();
    assert_eq!(
        c.get_job(j1).unwrap().unwrap().partial_outputs,
        ["/repo/database/other.part"]
    );
    c.clear_partial_outputs(j1).unwrap();
    assert!(c.get_job(j1).unwrap().unwrap().partial_outputs.is_empty());
    assert_eq!(
        c.set_job_phase(9999, "x").unwrap_err().kind,
        ErrorKind::NotFound
    );

    c.job_log(j1, "info", "started pg_dump").unwrap();
    c.job_log(j1, "warn", "table x changed during dump")
        .unwrap();
    c.job_log(j2, "info", "other job").unwrap();
    let log = c.get_job_log(j1).unwrap();
    let lines: Vec<_> = log
        .iter()
        .map(|(_, l, m)| (l.as_str(), m.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            ("info", "started pg_dump"),
            ("warn", "table x changed during dump")
        ]
    );
    assert_eq!(
        c.job_log(9999, "info", "x").unwrap_err().kind,
        ErrorKind::NotFound
    );

    // Backup rows belonging to a job follow it when it dies.
    let mut b = record("db-j2", BackupType::Filesystem, 0);
    b.job_id = Some(j2);
    c.insert_backup(&b).unwrap();
    let mut done = record("db-j2-done", BackupType::Filesystem, 1);
    done.job_id = Some(j2);
    done.status = BackupStatus::Succeeded;
    c.insert_backup(&done).unwrap();

    // pid 200 is dead; pid 100 on hostB must not be judged from hostA.
    let alive = |pid: u32| pid != 200 && pid != 300;
    let dead = c.find_dead_jobs("hostA", &alive).unwrap();
    assert_eq!(
        dead.iter().map(|j| j.id).collect::<Vec<_>>(),
        [j2],
        "queued and other-host jobs are not dead"
    );
    assert_eq!(
        c.mark_backups_of_job(j2, BackupStatus::Interrupted)
            .unwrap(),
        1
    );
    assert_eq!(
        c.get_backup("db-j2").unwrap().unwrap().status,
        BackupStatus::Interrupted
    );
    assert_eq!(
        c.get_backup("db-j2-done").unwrap().unwrap().status,
        BackupStatus::Succeeded
    );
    c.finish_job(j2, JobState::Interrupted, Some("process 200 on hostA died"))
        .unwrap();
    let job = c.get_job(j2).unwrap().unwrap();
    assert_eq!(job.state, JobState::Interrupted);
    assert!(job.finished_at.is_some());
    assert_eq!(job.error.as_deref(), Some("process 200 on hostA died"));
    assert!(c.finish_job(j1, JobState::Running, None).is_err());

    let running: Vec<_> = c
        .running_jobs()
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(running, [j1, j3]);
    assert!(c.start_job(j4, "hostA", 400).unwrap());
    assert!(
        !c.start_job(j4, "hostA", 401).unwrap(),
        "a claimed job cannot be claimed twice"
    );
    assert_eq!(c.get_job(j4).unwrap().unwrap().pid, 400);

    let listed: Vec<_> = c.list_jobs(2).unwrap().into_iter().map(|j| j.id).collect();
    assert_eq!(listed, [j4, j3]);
    let _ = j3;
}

fn entry(action: &str, detail: &str) -> AuditEntry {
    AuditEntry {
        ts: Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap() + Duration::nanoseconds(1_234_567),
        actor: "ops@panel".into(),
        action: action.into(),
        target: "database panel".into(),
        outcome: "ok".into(),
        detail: detail.into(),
    }
}

fn audit_catalog(n: usize) -> (TempDir, Catalog) {
    let dir = TempDir::new().unwrap();
    let c = Catalog::open(&cat_path(&dir)).unwrap();
    for i in 1..=n {
        c.append_audit(&entry("backup", &format!("run {i}")))
            .unwrap();
    }
    (dir, c)
}

#[test]
fn audit_append_and_verify_ok() {
    let (_d, c) = audit_catalog(10);
    let check = c.verify_audit().unwrap();
    assert_eq!(
        check,
        AuditCheck {
            rows: 10,
            ok: true,
            problems: vec![]
        }
    );
    let recs = c.list_audit(3, 0).unwrap();
    assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), [10, 9, 8]);
    assert_eq!(
        c.list_audit(3, 8)
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect::<Vec<_>>(),
        [2, 1]
    );
    let first = &c.list_audit(1, 9).unwrap()[0];
    assert_eq!(first.prev_hash, GENESIS_HASH);
    assert_eq!(
        first.entry.ts.timestamp_subsec_nanos(),
        1_234_000,
        "ts kept to microseconds"
    );
    let line = first.to_json_line();
    assert!(!line.contains('\n'));
    assert!(
        line.contains(r#""ts":"2026-11-26T02:00:00.001234Z""#),
        "{line}"
    );
    let back: AuditRecord = serde_json::from_str(&line).unwrap();
    assert_eq!(&back, first);
    assert!(!current_actor().is_empty() && current_actor().contains('@'));
}

#[test]
fn audit_tampered_detail_is_detected() {
    let (_d, c) = audit_catalog(10);
    c.conn
        .execute(
            "UPDATE audit SET detail = 'nothing to see' WHERE seq = 7",
            [],
        )
        .unwrap();
    let check = c.verify_audit().unwrap();
    assert!(!check.ok);
    assert_eq!(
        check.problems,
        ["row 7 was changed (its hash does not match its contents)"]
    );
}

#[test]
fn audit_rewritten_row_breaks_the_link_to_the_next() {
    // A forger who also recomputes row 7's own hash is caught by row 8.
    let (_d, c) = audit_catalog(10);
    let r7 = c.list_audit(1, 3).unwrap().remove(0);
    assert_eq!(r7.seq, 7);
    let mut forged = r7.entry.clone();
    forged.outcome = "failed".into();
    let f = AuditRecord::chain(7, forged, &r7.prev_hash);
    c.conn
        .execute(
            "UPDATE audit SET outcome = ?1, hash = ?2 WHERE seq = 7",
            rusqlite::params![f.entry.outcome, f.hash],
        )
        .unwrap();
    let check = c.verify_audit().unwrap();
    assert!(!check.ok);
    assert_eq!(check.problems.len(), 1, "{:?}", check.problems);
    assert!(
        check.problems[0].starts_with("row 8 does not follow row 7"),
        "{:?}",
        check.problems
    );
}

#[test]
fn audit_deleted_middle_row_is_detected() {
    let (_d, c) = audit_catalog(10);
    c.conn
        .execute("DELETE FROM audit WHERE seq = 7", [])
        .unwrap();
    let check = c.verify_audit().unwrap();
    assert!(!check.ok);
    assert_eq!(check.rows, 9);
    assert_eq!(check.problems, ["row 7 is missing (deleted)"]);
}

#[test]
fn audit_deleted_last_row_is_not_detectable_by_the_chain_alone() {
    // Truncating the end leaves a shorter chain that is still internally
    // valid. Only comparing against the repository's JSONL copy (or a known
    // row count) reveals it; this test pins down that limit.
    let (_d, c) = audit_catalog(10);
    c.conn
        .execute("DELETE FROM audit WHERE seq = 10", [])
        .unwrap();
    let check = c.verify_audit().unwrap();
    assert!(check.ok);
    assert_eq!(check.rows, 9);
}

#[test]
fn verify_chain_detects_reordering() {
    let (_d, c) = audit_catalog(5);
    let mut recs = c.list_audit(10, 0).unwrap();
    recs.reverse();
    assert!(verify_chain(recs.clone()).ok);
    recs.swap(2, 3);
    let check = verify_chain(recs);
    assert!(!check.ok);
    assert!(
        check.problems.iter().any(|p| p.contains("out of order")),
        "{:?}",
        check.problems
    );
}

#[test]
fn verify_jsonl_detects_modified_and_invalid_lines() {
    let (d, c) = audit_catalog(6);
    let mut recs = c.list_audit(10, 0).unwrap();
    recs.reverse();
    let path = d.path().join("audit.jsonl");
    let mut text: String = recs.iter().map(|r| r.to_json_line() + "\n").collect();
    std::fs::write(&path, &text).unwrap();
    let check = verify_jsonl(&path).unwrap();
    assert_eq!(
        check,
        AuditCheck {
            rows: 6,
            ok: true,
            problems: vec![]
        }
    );

    // Change line 3's detail.
    text = text.replacen("run 3", "run 33", 1);
    std::fs::write(&path, &text).unwrap();
    let check = verify_jsonl(&path).unwrap();
    assert_eq!(
        check.problems,
        ["row 3 was changed (its hash does not match its contents)"]
    );

    // Break line 5's JSON.
    let mut lines: Vec<&str> = text.lines().collect();
    lines[4] = "{\"seq\": 5, broken";
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let check = verify_jsonl(&path).unwrap();
    assert!(!check.ok);
    assert!(
        check
            .problems
            .iter()
            .any(|p| p.starts_with("line 5 is not valid")),
        "{:?}",
        check.problems
    );
    assert!(
        check
            .problems
            .iter()
            .any(|p| p == "row 5 is missing (deleted)"),
        "{:?}",
        check.problems
    );

    assert_eq!(
        verify_jsonl(&d.path().join("absent.jsonl"))
            .unwrap_err()
            .kind,
        ErrorKind::Io
    );
}

#[test]
fn concurrent_appends_from_two_connections_keep_one_chain() {
    let dir = TempDir::new().unwrap();
    let p = Arc::new(cat_path(&dir));
    Catalog::open(&p).unwrap();
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let p = Arc::clone(&p);
            std::thread::spawn(move || {
                let c = Catalog::open(&p).unwrap();
                for i in 0..50 {
                    let mut e = entry("backup", &format!("thread {t} entry {i}"));
                    e.ts = Utc::now();
                    c.append_audit(&e).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let c = Catalog::open(&p).unwrap();
    let check = c.verify_audit().unwrap();
    assert_eq!(
        check,
        AuditCheck {
            rows: 100,
            ok: true,
            problems: vec![]
        }
    );
}

#[test]
fn corrupted_pages_are_reported_damaged() {
    let dir = TempDir::new().unwrap();
    let p = cat_path(&dir);
    {
        let c = Catalog::open(&p).unwrap();
        for i in 0..200 {
            c.append_audit(&entry("backup", &format!("{i} {}", "x".repeat(200))))
                .unwrap();
        }
        c.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
    }
    // Scribble over the middle of the file, keeping the header intact.
    let mut bytes = std::fs::read(&p).unwrap();
    assert!(bytes.len() > 16384);
    for b in &mut bytes[8192..16384] {
        *b = 0xA5;
    }
    std::fs::write(&p, &bytes).unwrap();
    let err = Catalog::open(&p)
        .err()
        .expect("corruption must be caught at open");
    assert_eq!(err.kind, ErrorKind::Integrity, "{}", err.message);
    assert!(err.message.contains("is damaged"), "{}", err.message);
}

#[test]
fn concurrent_first_open_applies_migrations_once() {
    let dir = TempDir::new().unwrap();
    let p = Arc::new(cat_path(&dir));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let p = Arc::clone(&p);
            std::thread::spawn(move || Catalog::open(&p).map(|c| c.schema_version().unwrap()))
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap().unwrap(), schema::current_version());
    }
}

#[test]
fn jobs_of_a_process_are_found_after_a_mark() {
    let dir = TempDir::new().unwrap();
    let cat = Catalog::open(&cat_path(&dir)).unwrap();
    assert_eq!(cat.last_job_id().unwrap(), 0);
    let old = cat
        .create_job(&JobKind::Backup, "filesystem", "h1", 42, JobState::Running)
        .unwrap();
    let mark = cat.last_job_id().unwrap();
    assert_eq!(mark, old);
    let mine = cat
        .create_job(&JobKind::Restore, "fs-1", "h1", 42, JobState::Running)
        .unwrap();
    cat.create_job(&JobKind::Backup, "database", "h1", 43, JobState::Running)
        .unwrap();
    cat.create_job(&JobKind::Backup, "database", "h2", 42, JobState::Running)
        .unwrap();
    let found: Vec<i64> = cat
        .jobs_of_process("h1", 42, mark)
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(
        found,
        vec![mine],
        "not the older job of a reused pid, nor other hosts'"
    );
}

/// One damaged job row (a timestamp that does not parse, a state word no
/// lifeboat wrote) is skipped by the lists that screens, reports and alerts
/// read; it does not blank the Jobs screen or silence the alerts.
#[test]
fn a_damaged_job_row_is_skipped_not_fatal_for_lists() {
    let dir = TempDir::new().unwrap();
    let c = Catalog::open(&cat_path(&dir)).unwrap();
    let good = c
        .create_job(&JobKind::Backup, "database", "h", 1, JobState::Running)
        .unwrap();
    c.finish_job(good, JobState::Failed, Some("boom")).unwrap();
    let bad_time = c
        .create_job(&JobKind::Backup, "filesystem", "h", 1, JobState::Running)
        .unwrap();
    c.finish_job(bad_time, JobState::Failed, Some("x")).unwrap();
    let bad_state = c
        .create_job(&JobKind::Verify, "db-1", "h", 1, JobState::Running)
        .unwrap();
    c.conn
        .execute(
            "UPDATE jobs SET created_at = 'yesterday-ish' WHERE id = ?1",
            [bad_time],
        )
        .unwrap();
    c.conn
        .execute(
            "UPDATE jobs SET state = 'exploded', finished_at = created_at WHERE id = ?1",
            [bad_state],
        )
        .unwrap();

    let ids = |v: Vec<JobRecord>| v.into_iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(ids(c.recent_jobs(100).unwrap()), vec![good]);
    assert_eq!(ids(c.list_jobs(100).unwrap()), vec![good]);
    let (latest, unreadable) = c.latest_outcomes().unwrap();
    assert_eq!((ids(latest), unreadable), (vec![good], 1));
    assert!(c.recent_proof_jobs(10).unwrap().is_empty());
    // The strict single-row read still says what is wrong.
    let e = c.get_job(bad_time).unwrap_err();
    assert!(e.to_string().contains("yesterday-ish"), "{e}");
}

#[test]
fn cancelling_a_job_cancels_everything_it_started_and_only_that() {
    let dir = tempfile::tempdir().unwrap();
    let c = Catalog::open(&cat_path(&dir)).unwrap();
    let job = |kind: &str| {
        c.create_job(&JobKind::from(kind), "t", "h", 1, JobState::Running)
            .unwrap()
    };
    let (recover, restore_a, restore_b, grandchild, other) = (
        job("recover"),
        job("restore"),
        job("restore"),
        job("restore"),
        job("backup"),
    );
    c.set_job_links(restore_a, Some(recover), None).unwrap();
    c.set_job_links(restore_b, Some(recover), None).unwrap();
    c.set_job_links(grandchild, Some(restore_b), None).unwrap();
    c.finish_job(restore_a, JobState::Succeeded, None).unwrap();
    let family: Vec<i64> = c
        .job_family(recover)
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(family, [recover, restore_a, restore_b, grandchild]);

    c.request_cancel(recover).unwrap();
    for (id, want) in [
        (recover, true),
        (restore_a, false), // already ended: nothing to stop
        (restore_b, true),
        (grandchild, true),
        (other, false),
    ] {
        assert_eq!(c.cancel_requested(id).unwrap(), want, "job {id}");
    }
    // What a worker recorded is read back whole.
    assert_eq!(c.job_result(recover).unwrap(), None);
    c.set_job_result(recover, r#"{"ok":true}"#).unwrap();
    assert_eq!(
        c.job_result(recover).unwrap().as_deref(),
        Some(r#"{"ok":true}"#)
    );
}

/// The lists read the covering index, never the table with its manifests
/// (100,000 backups: ~13 MB of index pages instead of ~160 MB of rows).
#[test]
fn the_backup_list_and_its_fingerprint_scan_the_covering_index() {
    let dir = TempDir::new().unwrap();
    let c = Catalog::open(&cat_path(&dir)).unwrap();
    for sql in [listing::LISTING_SQL, listing::FINGERPRINT_SQL] {
        let plan: Vec<String> = c
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter()
                .any(|p| p.contains("COVERING INDEX backups_listing")),
            "{sql}: {plan:?}"
        );
    }
}

/// A finished success shows a percentage only when it reads 100%: a row
/// from before totals were settled at the end (16.91 KiB of a 7.47 MiB
/// estimate) would say 0% of a job that did all its work.
#[test]
fn a_percentage_never_contradicts_the_state_of_its_job() {
    let t0 = Utc::now();
    let job = |state: JobState, done: u64, total: Option<u64>| JobRecord {
        id: 1,
        kind: JobKind::Backup,
        target: "database app".into(),
        state,
        phase: None,
        bytes_done: done,
        bytes_total: total,
        items_done: 0,
        items_total: None,
        created_at: t0,
        started_at: Some(t0),
        finished_at: None,
        updated_at: t0,
        error: None,
        host: "h".into(),
        pid: 1,
        partial_outputs: Vec::new(),
        cancel_requested: false,
        parent_job: None,
        resource: None,
    };
    let old_row = job(JobState::Succeeded, 17_315, Some(7_833_115));
    assert!(old_row.ratio().unwrap() < 0.01);
    assert_eq!(old_row.shown_ratio(), None);
    assert_eq!(
        job(JobState::SucceededWithWarnings, 10, Some(100)).shown_ratio(),
        None
    );
    assert_eq!(
        job(JobState::Succeeded, 100, Some(100)).shown_ratio(),
        Some(1.0)
    );
    // Running, or stopped short: where it got to is what it says.
    assert_eq!(
        job(JobState::Running, 25, Some(100)).shown_ratio(),
        Some(0.25)
    );
    assert_eq!(
        job(JobState::Failed, 25, Some(100)).shown_ratio(),
        Some(0.25)
    );
    assert_eq!(
        job(JobState::Cancelled, 50, Some(100)).shown_ratio(),
        Some(0.5)
    );
}

#[test]
fn job_log_tail_reads_only_new_lines_and_counts_what_it_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let c = Catalog::open(&cat_path(&dir)).unwrap();
    let a = c
        .create_job(&JobKind::Backup, "filesystem", "h", 1, JobState::Running)
        .unwrap();
    let b = c
        .create_job(&JobKind::Verify, "x", "h", 1, JobState::Running)
        .unwrap();
    for i in 0..10 {
        c.job_log(a, "info", &format!("line {i}")).unwrap();
        // Another job's lines in between: its positions are not ours.
        c.job_log(b, "info", "other").unwrap();
    }
    let msgs =
        |t: &JobLogTail| -> Vec<String> { t.lines.iter().map(|l| l.message.clone()).collect() };

    // The newest 4, oldest first; the 6 before them were left out.
    let t = c.job_log_tail(a, 0, 4).unwrap();
    assert_eq!(msgs(&t), ["line 6", "line 7", "line 8", "line 9"]);
    assert_eq!(t.skipped, 6);
    // Everything fits: nothing left out.
    let all = c.job_log_tail(a, 0, 100).unwrap();
    assert_eq!(all.lines.len(), 10);
    assert_eq!(all.skipped, 0);
    assert!(all.lines.windows(2).all(|w| w[0].seq < w[1].seq));

    // After the last line read: only what came since.
    let last = t.lines.last().unwrap().seq;
    assert_eq!(c.job_log_tail(a, last, 4).unwrap(), JobLogTail::default());
    c.job_log(a, "warn", "line 10").unwrap();
    let t = c.job_log_tail(a, last, 4).unwrap();
    assert_eq!(msgs(&t), ["line 10"]);
    assert_eq!((t.lines[0].level.as_str(), t.skipped), ("warn", 0));
    // More came than asked for: the newest, and how many were passed over.
    let after_third = all.lines[2].seq;
    let t = c.job_log_tail(a, after_third, 3).unwrap();
    assert_eq!(msgs(&t), ["line 8", "line 9", "line 10"]);
    assert_eq!(t.skipped, 5, "lines 3 to 7");
}
