//! Full disaster recovery (`lifeboat recover --dir DIR`) with the real
//! binary: from a backup directory alone, after the catalog is gone; a
//! missing type, a corrupted newest artifact, a broken incremental chain,
//! and a recovery point before every backup.
//!
//! The database part needs PostgreSQL (see tests/database.rs): without a
//! reachable server it is skipped, unless `LIFEBOAT_REQUIRE_PG=1`.

use std::fs;
use std::time::Duration;

use crate::common::*;
use lifeboat_engine::sources::database::testing::{test_server, unique_name};
use lifeboat_engine::sources::database::{ConnInfo, Pg};
use serde_json::Value;

fn connect(info: &ConnInfo) -> Pg {
    Pg::connect(info, Duration::from_secs(10)).expect("connect to the test server")
}

/// A uniquely named database; dropping it drops it and every database
/// derived from its name (`<name>_*`).
struct Db {
    admin: ConnInfo,
    name: String,
}

impl Db {
    fn create(admin: &ConnInfo) -> Db {
        let name = unique_name("lb_rec");
        connect(admin).create_database(&name, None).unwrap();
        Db {
            admin: admin.clone(),
            name,
        }
    }
    fn pg(&self) -> Pg {
        connect(&self.admin.with_db(&self.name))
    }
    fn exists(&self) -> bool {
        connect(&self.admin)
            .list_databases()
            .unwrap()
            .contains(&self.name)
    }
    fn drop_now(&self) {
        connect(&self.admin).drop_database(&self.name).unwrap();
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let Ok(pg) = Pg::connect(&self.admin, Duration::from_secs(10)) else {
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

fn remove_catalog(sb: &Sandbox) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let p = std::path::PathBuf::from(format!("{}{suffix}", sb.catalog.display()));
        let _ = fs::remove_file(p);
    }
}

fn repo_arg(sb: &Sandbox) -> String {
    sb.repo.to_str().unwrap().to_string()
}

/// Every entry of `want` is in `got`, equal. (An in-place restore does not
/// delete files that appeared after the backup: only what the backup
/// recorded as deleted is removed.)
fn assert_subset(
    want: &std::collections::BTreeMap<String, String>,
    got: &std::collections::BTreeMap<String, String>,
) {
    for (k, v) in want {
        assert_eq!(got.get(k), Some(v), "{k} is not back as it was");
    }
}

fn choice<'a>(r: &'a Value, t: &str) -> Option<&'a Value> {
    r["choices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == t)
}

// ------------------------------------------------------------ the full drill

#[test]
fn full_recovery_after_a_disaster() {
    let Some(admin) = test_server() else { return };
    let db = Db::create(&admin);
    db.pg()
        .execute(
            "CREATE TABLE orders (id int PRIMARY KEY, item text); \
             INSERT INTO orders SELECT g, 'item ' || g FROM generate_series(1, 250) g;",
        )
        .unwrap();
    let sb = Sandbox::with_extra_config(&format!(
        "[sources.database]\nurl = \"{}\"\n",
        pg_url_for(&db.name)
    ));
    populate(&sb.app);
    sb.generate_key();
    let uploads_before = checksum_tree(&sb.app.join("uploads"));
    let logs_before = checksum_tree(&sb.app.join("logs"));
    let config_before = fs::read(sb.app.join("config.py")).unwrap();
    let env_before = fs::read(sb.app.join(".env")).unwrap();

    let all = sb.json(&["backup", "--all"]);
    assert_eq!(all["ok"], true, "{all}");
    let ids: Vec<(String, String)> = all["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["type"].as_str().unwrap().to_string(),
                id_of(&t["backups"][0]),
            )
        })
        .collect();
    assert_eq!(ids.len(), 3, "{all}");

    // The disaster.
    let disaster = |sb: &Sandbox| {
        fs::write(
            sb.app.join("uploads/docs/report.txt"),
            "ransomware was here",
        )
        .unwrap();
        fs::remove_file(sb.app.join("uploads/avatars/u3.json")).unwrap();
        fs::write(sb.app.join("uploads/avatars/new.json"), "{}").unwrap();
        fs::write(sb.app.join("config.py"), "DEBUG = True\n").unwrap();
        fs::remove_file(sb.app.join(".env")).unwrap();
        db.drop_now();
        remove_catalog(sb);
    };
    disaster(&sb);
    let damaged = checksum_tree(&sb.app.join("uploads"));

    // Dry run: the plan, nothing changed.
    let out = sb.run(&["recover", "--dir", &repo_arg(&sb), "--dry-run"]);
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for (t, id) in &ids {
        assert!(
            text.contains(id.as_str()),
            "plan lacks {t} backup {id}:\n{text}"
        );
    }
    assert!(text.contains("Data-loss window"), "{text}");
    assert!(text.contains("nothing was changed"), "{text}");
    // What it would replace, said before anything is.
    assert!(text.contains("Would replace in production:"), "{text}");
    assert!(
        text.contains(&format!("filesystem: {}", sb.app.join("uploads").display())),
        "{text}"
    );
    assert!(text.contains("database: the database '"), "{text}");
    assert_eq!(checksum_tree(&sb.app.join("uploads")), damaged);
    assert_eq!(
        fs::read(sb.app.join("config.py")).unwrap(),
        b"DEBUG = True\n"
    );
    assert!(!sb.app.join(".env").exists());
    assert!(!db.exists(), "dry run created the database");

    // The JSON plan has the same choices.
    let plan = sb.json(&["recover", "--dir", &repo_arg(&sb), "--dry-run"]);
    assert_eq!(plan["dry_run"], true);
    for (t, id) in &ids {
        assert_eq!(choice(&plan, t).unwrap()["id"], id.as_str(), "{plan}");
    }
    assert!(plan["missing"].as_array().unwrap().is_empty());
    assert_eq!(
        plan["overwrites"].as_array().unwrap().len(),
        ids.len(),
        "one line per chosen type: {plan}"
    );

    // Without --yes: refused.
    let text = sb.fails_all(&["recover", "--dir", &repo_arg(&sb)], 1);
    assert!(text.contains("--yes"), "{text}");
    assert_eq!(checksum_tree(&sb.app.join("uploads")), damaged);
    assert!(!db.exists());

    // The real thing.
    let out = sb.run(&["recover", "--dir", &repo_arg(&sb), "--yes"]);
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_subset(&uploads_before, &checksum_tree(&sb.app.join("uploads")));
    assert_eq!(checksum_tree(&sb.app.join("logs")), logs_before);
    assert_eq!(fs::read(sb.app.join("config.py")).unwrap(), config_before);
    assert_eq!(fs::read(sb.app.join(".env")).unwrap(), env_before);
    assert!(db.exists(), "database not recreated:\n{text}");
    assert_eq!(
        db.pg()
            .query_one_i64("SELECT count(*) FROM orders")
            .unwrap(),
        250
    );
    // The engine measures its own run, the time to restore; the RTO (the
    // app's outage) is the runbook's to measure, and the report says no
    // other RTO.
    assert!(text.contains("Time to restore (this run"), "{text}");
    assert!(text.contains("every type restored and verified"), "{text}");
    assert!(!text.contains("RTO"), "{text}");
    let saved = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("(report saved to "))
        .and_then(|l| l.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no report path printed:\n{text}"));
    let md = fs::read_to_string(saved).unwrap();
    assert!(md.contains("Time to restore (this run"), "{md}");
    assert!(!md.contains("RTO"), "{md}");
    assert!(md.contains("## Timeline"), "{md}");
    assert!(md.contains("| restore configuration |"), "{md}");
    assert!(md.contains("| restore database |"), "{md}");
    assert!(md.contains("| restore filesystem |"), "{md}");
    assert!(md.contains("Data-loss window"), "{md}");

    // Again, as JSON, after a second disaster.
    disaster(&sb);
    let r = sb.json(&["recover", "--dir", &repo_arg(&sb), "--yes"]);
    assert_eq!(r["ok"], true, "{r}");
    assert!(r["recovery_seconds"].as_f64().unwrap() > 0.0);
    assert!(r["data_loss_seconds"].as_i64().unwrap() >= 0);
    let tl = r["timeline"].as_array().unwrap();
    assert!(tl.len() >= 4, "{r}");
    assert!(tl
        .iter()
        .all(|p| p["name"].is_string() && p["seconds"].is_f64()));
    assert!(r["report_file"]
        .as_str()
        .is_some_and(|f| std::path::Path::new(f).exists()));
    assert_subset(&uploads_before, &checksum_tree(&sb.app.join("uploads")));
    assert_eq!(
        db.pg()
            .query_one_i64("SELECT count(*) FROM orders")
            .unwrap(),
        250
    );
}

// ------------------------------------------------------------ partial directories

#[test]
fn directory_with_a_missing_type_recovers_what_exists() {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    let before = checksum_tree(&sb.app.join("uploads"));
    let b = sb.backup("filesystem", &[]);
    fs::write(sb.app.join("uploads/docs/report.txt"), "gone").unwrap();
    remove_catalog(&sb);

    let out = sb.run(&["recover", "--dir", &repo_arg(&sb), "--dry-run"]);
    let text = all_text(&out);
    assert!(text.contains(&id_of(&b)), "{text}");
    assert!(text.contains("database: no backup"), "{text}");
    assert!(text.contains("configuration: no backup"), "{text}");

    let out = sb.run(&["recover", "--dir", &repo_arg(&sb), "--yes"]);
    let text = all_text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "incomplete recovery must not exit 0:\n{text}"
    );
    assert!(text.contains("Missing: database"), "{text}");
    assert!(text.contains("Missing: configuration"), "{text}");
    assert!(!text.contains("FAILED filesystem"), "{text}");
    assert_eq!(checksum_tree(&sb.app.join("uploads")), before);
}

#[test]
fn corrupted_newest_artifact_falls_back_to_the_previous_point() {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    let old_tree = checksum_tree(&sb.app.join("uploads"));
    let old = sb.backup("filesystem", &["--full"]);
    std::thread::sleep(Duration::from_millis(1100)); // distinct file names / times
    fs::write(sb.app.join("uploads/docs/report.txt"), "second version").unwrap();
    fs::write(sb.app.join("uploads/extra.txt"), "added later").unwrap();
    let new = sb.backup("filesystem", &["--full"]);
    assert_ne!(id_of(&old), id_of(&new));
    let payload = file_of(&new);
    let len = fs::metadata(&payload).unwrap().len() as usize;
    flip_byte(&payload, len / 2);
    fs::write(sb.app.join("uploads/docs/report.txt"), "third, lost").unwrap();

    let out = sb.run(&["recover", "--dir", &repo_arg(&sb), "--dry-run"]);
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(&id_of(&old)), "{text}");
    assert!(text.contains("does not verify"), "{text}");
    assert!(text.contains("falling back"), "{text}");
    let plan = sb.json(&["recover", "--dir", &repo_arg(&sb), "--dry-run"]);
    let fs_choice = choice(&plan, "filesystem").expect("filesystem chosen");
    assert_eq!(fs_choice["id"], id_of(&old).as_str(), "{plan}");
    assert!(
        fs_choice["skipped"][0]
            .as_str()
            .is_some_and(|s| s.contains(&id_of(&new))),
        "{plan}"
    );

    let out = sb.run(&["--json", "recover", "--dir", &repo_arg(&sb), "--yes"]);
    let text = all_text(&out);
    // Database and configuration have no backups here, so the recovery is
    // incomplete (exit 1); the filesystem part must still be the old point.
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(
        choice(&r, "filesystem").unwrap()["id"],
        id_of(&old).as_str()
    );
    assert!(
        !r["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("FAILED filesystem")),
        "{r}"
    );
    assert!(r["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("falling back")));
    // The in-place restore of the old point leaves extra.txt (restores do
    // not delete files newer than the backup unless the index says so);
    // every file of the old point is back byte for byte.
    assert_subset(&old_tree, &checksum_tree(&sb.app.join("uploads")));
}

#[test]
fn incremental_with_missing_parent_is_refused() {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    let full = sb.backup("filesystem", &["--full"]);
    fs::write(sb.app.join("uploads/docs/report.txt"), "changed").unwrap();
    let inc = sb.backup("filesystem", &[]);
    assert_eq!(inc["kind"], "incremental", "{inc}");
    let payload = file_of(&full);
    fs::remove_file(manifest_of(&payload)).unwrap();
    fs::remove_file(&payload).unwrap();
    remove_catalog(&sb);

    let text = sb.fails_all(&["recover", "--dir", &repo_arg(&sb), "--dry-run"], 1);
    assert!(text.contains(&id_of(&inc)), "{text}");
    assert!(text.contains("chain is broken"), "{text}");
    assert!(
        text.contains(&id_of(&full)),
        "names the missing parent: {text}"
    );
    let changed = fs::read(sb.app.join("uploads/docs/report.txt")).unwrap();
    let text = sb.fails_all(&["recover", "--dir", &repo_arg(&sb), "--yes"], 1);
    assert!(text.contains("chain is broken"), "{text}");
    assert_eq!(
        fs::read(sb.app.join("uploads/docs/report.txt")).unwrap(),
        changed
    );
}

#[test]
fn recovery_point_before_every_backup_is_refused() {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    sb.backup("filesystem", &[]);
    sb.backup("configuration", &[]);
    let text = sb.fails_all(
        &[
            "recover",
            "--dir",
            &repo_arg(&sb),
            "--at",
            "2000-01-01 00:00",
            "--dry-run",
        ],
        1,
    );
    assert!(text.contains("no backup at or before"), "{text}");
    assert!(text.contains("2000-01-01"), "{text}");
}

#[test]
fn recover_from_a_directory_without_backups_is_a_clear_error() {
    let sb = Sandbox::new();
    sb.generate_key();
    let empty = sb.dir.path().join("empty-dir");
    fs::create_dir_all(&empty).unwrap();
    let out = sb.run(&["recover", "--dir", empty.to_str().unwrap(), "--dry-run"]);
    assert_ne!(out.status.code(), Some(0));
    let text = all_text(&out);
    assert!(
        text.contains("no backups")
            || text.contains("not a lifeboat repository")
            || text.contains("repository"),
        "{text}"
    );
    let out = sb.run(&["recover", "--dir", "/nonexistent/lifeboat-dir", "--dry-run"]);
    assert_eq!(out.status.code(), Some(1), "{}", all_text(&out));
    assert!(all_text(&out).contains("/nonexistent/lifeboat-dir"));
}

/// `recover --from` on a machine whose repository and catalog are gone,
/// from a local target (another disk): the recovery's report and the audit
/// log say the backups came from that target, and `catalog rebuild --from
/// --json` says what the target gave.
#[test]
fn recover_from_a_target_says_where_the_backups_came_from() {
    let disk = tempfile::tempdir().unwrap();
    let usb = disk.path().join("usb");
    fs::create_dir(&usb).unwrap();
    let sb = Sandbox::with_extra_config(&format!(
        "[[targets]]\nname = \"usb\"\nkind = \"local\"\npath = \"{}\"\n",
        usb.display()
    ));
    populate(&sb.app);
    sb.generate_key();
    sb.backup("configuration", &[]);
    sb.backup("filesystem", &[]);
    let config_py = fs::read(sb.app.join("config.py")).unwrap();

    crate::offsite::lose_repo_and_catalog(&sb);
    let rebuilt = sb.json(&["catalog", "rebuild", "--from", "usb"]);
    assert_eq!(rebuilt["backups"], 2, "{rebuilt}");
    assert_eq!(rebuilt["pulled"]["target"], "usb", "{rebuilt}");
    assert_eq!(
        rebuilt["pulled"]["fetched"].as_array().unwrap().len(),
        2,
        "{rebuilt}"
    );

    crate::offsite::lose_repo_and_catalog(&sb);
    fs::write(sb.app.join("config.py"), "DEBUG = True\n").unwrap();
    let out = sb.ok(&["recover", "--from", "usb", "--yes"]);
    assert!(out.contains("every type restored and verified"), "{out}");
    assert_eq!(fs::read(sb.app.join("config.py")).unwrap(), config_py);
    let reports: Vec<_> = fs::read_dir(sb.catalog.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("recovery-"))
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let md = fs::read_to_string(&reports[0]).unwrap();
    assert!(
        md.contains(&format!(
            "## Source: target 'usb' (local, {})",
            usb.display()
        )),
        "{md}"
    );
    assert!(
        md.contains("2 fetched") && md.contains("0 already in the repository"),
        "{md}"
    );
    let audit = sb.json(&["audit", "list"]);
    let from: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "recover" && a["outcome"] == "from-target")
        .collect();
    assert_eq!(from.len(), 1, "{audit}");
    assert!(
        from[0]["detail"]
            .as_str()
            .unwrap()
            .contains("backups from target 'usb' (local,"),
        "{audit}"
    );
}
