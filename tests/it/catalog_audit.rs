//! The catalog is a cache of the repository; the audit log is a hash chain.

use std::collections::BTreeSet;
use std::fs;

use crate::common::*;

/// A sandbox with a key, two filesystem backups (full + incremental) and a
/// configuration backup. Returns the ids.
fn with_backups() -> (Sandbox, BTreeSet<String>) {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    let mut ids = BTreeSet::new();
    ids.insert(id_of(&sb.backup("filesystem", &[])));
    fs::write(sb.app.join("uploads/new.txt"), "new").unwrap();
    ids.insert(id_of(&sb.backup("filesystem", &[])));
    ids.insert(id_of(&sb.backup("configuration", &[])));
    (sb, ids)
}

fn listed(sb: &Sandbox) -> Vec<serde_json::Value> {
    sb.json(&["list"]).as_array().unwrap().clone()
}

fn ids(rows: &[serde_json::Value]) -> BTreeSet<String> {
    rows.iter().map(id_of).collect()
}

fn remove_catalog(sb: &Sandbox) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(format!("{}{suffix}", sb.catalog.display()));
    }
}

/// `lifeboat list` lines up whatever the ids are: a configuration
/// backup's id (28 characters) is longer than a filesystem backup's (27),
/// and both overflowed the 24-character ID column the table once had,
/// pushing every later column of the row to the right.
#[test]
fn list_columns_line_up_in_every_row() {
    let (sb, ids) = with_backups();
    let text = sb.ok(&["list"]);
    let lines: Vec<&[u8]> = text.lines().map(str::as_bytes).collect();
    assert_eq!(lines.len(), 1 + ids.len(), "{text}");
    assert!(ids.iter().any(|id| id.len() > 24), "{ids:?}");
    let header = std::str::from_utf8(lines[0]).unwrap();
    let at = |name: &str| {
        header
            .find(name)
            .unwrap_or_else(|| panic!("no {name} in the header: {text}"))
    };
    for (row, line) in lines.iter().enumerate() {
        let cell = |i: usize| line.get(i).copied().unwrap_or(b' ');
        let shown = String::from_utf8_lossy(line);
        // The column after ID (and each left-aligned one after it) starts
        // at its header's offset: a space before, the cell's text there.
        for name in ["TYPE", "KIND", "CREATED", "ENC", "VERIFIED", "STATUS"] {
            let p = at(name);
            assert!(
                cell(p - 1) == b' ' && cell(p) != b' ',
                "row {row}: column {name} does not start at offset {p}:\n{shown}\nin:\n{text}"
            );
        }
        // Sizes are right-aligned: they end where their header ends.
        for name in ["SIZE", "STORED"] {
            let end = at(name) + name.len();
            assert!(
                cell(end - 1) != b' ' && cell(end) == b' ',
                "row {row}: column {name} does not end at offset {end}:\n{shown}\nin:\n{text}"
            );
        }
        if row > 0 {
            let id = shown.split(' ').next().unwrap();
            assert!(ids.contains(id), "row {row} starts with {id:?}: {text}");
        }
    }
}

#[test]
fn deleted_catalog_is_rebuilt_from_the_repository() {
    let (sb, expected) = with_backups();
    let before = listed(&sb);
    remove_catalog(&sb);
    sb.ok(&["catalog", "rebuild"]);
    let after = listed(&sb);
    assert_eq!(ids(&after), expected);
    for row in &before {
        let again = after.iter().find(|r| r["id"] == row["id"]).unwrap();
        for k in [
            "type",
            "kind",
            "parent_id",
            "file",
            "size",
            "stored_size",
            "encrypted",
            "status",
            "created_at",
        ] {
            assert_eq!(
                again[k], row[k],
                "{k} differs after rebuild for {}",
                row["id"]
            );
        }
    }
    // The rebuilt catalog is usable: an incremental restore through it works.
    let incr = after.iter().find(|r| r["kind"] == "incremental").unwrap();
    let target = sb.dir.path().join("t");
    sb.ok(&[
        "restore",
        "--id",
        incr["id"].as_str().unwrap(),
        "--target",
        target.to_str().unwrap(),
    ]);
    assert_eq!(
        checksum_tree(&Sandbox::under(&target, &sb.app.join("uploads"))),
        checksum_tree(&sb.app.join("uploads"))
    );
}

#[test]
fn damaged_catalog_gives_a_clear_message_and_rebuild_recovers() {
    let (sb, expected) = with_backups();
    remove_catalog(&sb);
    fs::write(&sb.catalog, noise(64 * 1024, 99)).unwrap();
    for args in [
        &["list"][..],
        &["status"][..],
        &["backup", "--type", "filesystem"][..],
    ] {
        // Exit 4: a damaged catalog is an integrity error, not a passing fault.
        let err = sb.fails(args, 4);
        assert!(
            err.contains("damaged") && err.contains("catalog rebuild"),
            "{args:?}: {err}"
        );
    }
    sb.ok(&["catalog", "rebuild"]);
    assert_eq!(ids(&listed(&sb)), expected);
    // The broken file was moved aside, not deleted.
    let dir = sb.catalog.parent().unwrap();
    let aside: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n != "catalog.db"
                && n.starts_with("catalog.db")
                && !n.ends_with("-wal")
                && !n.ends_with("-shm")
        })
        .collect();
    assert!(!aside.is_empty(), "the damaged catalog was not kept aside");
}

#[test]
fn rebuild_into_another_repository_path_flag() {
    let (sb, expected) = with_backups();
    remove_catalog(&sb);
    sb.ok(&[
        "catalog",
        "rebuild",
        "--repository",
        sb.repo.to_str().unwrap(),
    ]);
    assert_eq!(ids(&listed(&sb)), expected);
}

#[test]
fn audit_verify_detects_a_changed_catalog_row() {
    let (sb, _) = with_backups();
    let out = sb.ok(&["audit", "verify"]);
    assert!(out.contains("intact"), "{out}");
    {
        let db = rusqlite::Connection::open(&sb.catalog).unwrap();
        let n = db
            .execute("UPDATE audit SET detail='x' WHERE seq=2", [])
            .unwrap();
        assert_eq!(n, 1);
    }
    let err = sb.fails_all(&["audit", "verify"], 4);
    assert!(err.contains('2'), "should name row 2: {err}");
    assert!(
        err.to_lowercase().contains("row 2") || err.contains("seq 2") || err.contains("#2"),
        "{err}"
    );
}

#[test]
fn audit_verify_detects_a_deleted_repository_line() {
    let (sb, _) = with_backups();
    sb.ok(&["audit", "verify"]);
    let log = sb.repo.join("audit/audit.jsonl");
    let text = fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 4, "{text}");
    let kept: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    fs::write(&log, kept).unwrap();
    let err = sb.fails_all(&["audit", "verify"], 4);
    assert!(
        err.contains("audit.jsonl") || err.to_lowercase().contains("repository"),
        "{err}"
    );
}

#[test]
fn audit_verify_detects_a_deleted_catalog_row() {
    let (sb, _) = with_backups();
    {
        let db = rusqlite::Connection::open(&sb.catalog).unwrap();
        db.execute("DELETE FROM audit WHERE seq=2", []).unwrap();
    }
    sb.fails_all(&["audit", "verify"], 4);
}

#[test]
fn audit_list_shows_operations() {
    let (sb, _) = with_backups();
    let v = sb.json(&["audit", "list"]);
    let rows = v.as_array().unwrap();
    assert!(rows.len() >= 3, "{v}");
    assert!(
        rows.iter()
            .any(|r| r["action"] == "backup" && r["outcome"] == "succeeded"),
        "{v}"
    );
    assert!(
        rows.iter()
            .all(|r| r["actor"].as_str().unwrap().contains('@')),
        "{v}"
    );
}

#[test]
fn orphan_payload_without_manifest_is_not_a_backup() {
    let (sb, expected) = with_backups();
    // A payload left by a killed run (no manifest): rebuild skips it and
    // restore --file refuses it with a clear message.
    let orphan = sb
        .repo
        .join("filesystem/fs_backup_20200101_000000.tar.zst.enc");
    fs::write(&orphan, noise(1000, 1)).unwrap();
    remove_catalog(&sb);
    sb.ok(&["catalog", "rebuild"]);
    assert_eq!(ids(&listed(&sb)), expected);
    let target = sb.dir.path().join("t");
    let err = sb.fails(
        &[
            "restore",
            "--file",
            orphan.to_str().unwrap(),
            "--target",
            target.to_str().unwrap(),
        ],
        4,
    );
    assert!(err.contains("manifest"), "{err}");
    assert!(!target.exists());
}

#[test]
fn audit_chain_survives_a_catalog_rebuild() {
    let (sb, _) = with_backups();
    sb.ok(&["audit", "verify"]);
    remove_catalog(&sb);
    sb.ok(&["catalog", "rebuild"]);
    let out = sb.ok(&["audit", "verify"]);
    assert!(!out.contains("TAMPERED"), "{out}");
    // And after further operations.
    sb.backup("filesystem", &[]);
    sb.ok(&["audit", "verify"]);
}

/// Many processes writing audit rows at once (verifies here, each audited):
/// the repository's copy keeps the catalog's order, so the chain check
/// finds both copies intact. Each row goes to the catalog and to the
/// repository's log under one lock; without it two processes could append
/// rows 2 and 3 to the catalog and 3 before 2 to the log, which `audit
/// verify` (rightly) reports as tampering.
#[test]
fn concurrent_writers_keep_both_audit_copies_in_one_order() {
    let (sb, ids) = with_backups();
    let id = ids.iter().next().unwrap().clone();
    let log_path = sb.repo.join("audit/audit.jsonl");
    let before = fs::read_to_string(&log_path).unwrap().lines().count();
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| {
                for _ in 0..5 {
                    sb.ok(&["verify", &id]);
                }
            });
        }
    });
    let out = sb.ok(&["audit", "verify"]);
    assert!(out.contains("intact"), "{out}");
    let log = fs::read_to_string(&log_path).unwrap();
    let seqs: Vec<i64> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<lifeboat_engine::catalog::AuditRecord>(l)
                .unwrap()
                .seq
        })
        .collect();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(seqs, sorted, "the repository copy is out of order");
    assert!(
        seqs.len() >= before + 30,
        "{} rows after {before}",
        seqs.len()
    );
}

/// A second catalog rebuilt over the same repository, then both used in
/// turn: each appends after the other's rows (no clashing sequence
/// numbers), so the shared log's chain stays intact for both.
#[test]
fn a_second_catalog_over_one_repository_keeps_the_shared_audit_log_intact() {
    let (sb, _) = with_backups();
    let second = sb.dir.path().join("state/second.db");
    let with_second = |args: &[&str]| {
        let out = sb
            .cmd()
            .env("LIFEBOAT_CATALOG", &second)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", all_text(&out));
        out
    };
    with_second(&["catalog", "rebuild"]);
    sb.backup("configuration", &[]);
    with_second(&["backup", "--type", "configuration"]);
    sb.backup("configuration", &[]);
    let last = file_of(&sb.backup("configuration", &[]));
    with_second(&["verify", last.to_str().unwrap()]);
    let out = sb.run(&["audit", "verify"]);
    assert!(out.status.success(), "first catalog: {}", all_text(&out));
    let out = with_second(&["audit", "verify"]);
    assert!(!all_text(&out).contains("TAMPERED"), "{}", all_text(&out));
}
