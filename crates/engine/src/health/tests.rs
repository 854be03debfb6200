//! Threshold tests: a real SQLite catalog with rows at chosen times, a real
//! repository directory and key file, and the clock passed in.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, TimeZone, Utc};
use rusqlite::params;

use super::*;
use crate::archive::manifest::{BackupKind, BackupType};
use crate::catalog::{ts_to_sql, BackupRecord, BackupStatus, Catalog, JobKind, JobState};
use crate::config::Config;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
}

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    config: Config,
    catalog: Catalog,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let mut config = Config::default();
    config.repository.path = root.join("repo");
    config.catalog.path = root.join("state/catalog.db");
    config.encryption.key_file = root.join("keys/lifeboat.key");
    config.sources.filesystem.paths = vec![root.join("app/uploads")];
    config.sources.configuration.files = vec![root.join("app/config.py")];
    std::fs::create_dir_all(root.join("repo/audit")).unwrap();
    let catalog = Catalog::open(&config.catalog.path).unwrap();
    Env {
        _dir: dir,
        root,
        config,
        catalog,
    }
}

fn backup(
    e: &Env,
    id: &str,
    t: BackupType,
    age: Duration,
    status: BackupStatus,
    name: Option<&str>,
) {
    let created = now() - age;
    e.catalog
        .insert_backup(&BackupRecord {
            id: id.to_string(),
            backup_type: t,
            name: name.map(str::to_string),
            kind: BackupKind::Full,
            parent_id: None,
            created_at: created,
            finished_at: Some(created + Duration::seconds(30)),
            status,
            size: 2000,
            stored_size: 1000,
            encrypted: false,
            key_id: None,
            file: e
                .root
                .join(format!("repo/{}/{}_{id}.tar.zst", t.dir(), t.file_prefix()))
                .display()
                .to_string(),
            sha256: None,
            verified_at: None,
            verify_result: None,
            warnings: 0,
            job_id: None,
        })
        .unwrap();
}

/// A finished job created `age` ago that ran for `secs`.
fn job(e: &Env, kind: &str, state: &str, age: Duration, secs: i64) -> i64 {
    let id = e
        .catalog
        .create_job(&JobKind::from(kind), "t", "host", 1, JobState::Running)
        .unwrap();
    e.catalog
        .finish_job(
            id,
            state.parse().unwrap(),
            (state == "failed").then_some("it broke"),
        )
        .unwrap();
    let start = now() - age;
    e.catalog
        .conn
        .execute(
            "UPDATE jobs SET created_at = ?2, started_at = ?2, finished_at = ?3 WHERE id = ?1",
            params![
                id,
                ts_to_sql(&start),
                ts_to_sql(&(start + Duration::seconds(secs)))
            ],
        )
        .unwrap();
    id
}

fn find<'a>(r: &'a HealthReport, id: &str) -> &'a Check {
    r.checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id} in {:#?}", r.checks))
}

fn eval(e: &Env) -> HealthReport {
    evaluate(&e.config, &e.catalog, now())
}

#[test]
fn backup_age_thresholds() {
    let e = env();
    // Nothing yet: critical, with the command to run.
    let r = eval(&e);
    let c = find(&r, "backup_age.filesystem");
    assert_eq!(c.status, Status::Critical);
    assert!(
        c.advice.contains("lifeboat backup --type filesystem"),
        "{c:?}"
    );
    assert_eq!(r.verdict, Status::Critical);
    // No database configured: no database check.
    assert!(r.checks.iter().all(|c| c.id != "backup_age.database"));

    backup(
        &e,
        "fs-old",
        BackupType::Filesystem,
        Duration::hours(60),
        BackupStatus::Succeeded,
        None,
    );
    assert_eq!(
        find(&eval(&e), "backup_age.filesystem").status,
        Status::Critical
    );
    backup(
        &e,
        "fs-mid",
        BackupType::Filesystem,
        Duration::hours(30),
        BackupStatus::SucceededWithWarnings,
        None,
    );
    let r = eval(&e);
    let c = find(&r, "backup_age.filesystem");
    assert_eq!(c.status, Status::Warning, "{c:?}");
    assert!(c.value.contains("fs-mid"), "{c:?}");
    // Newer rows that are not good backups do not count: failed, a safety
    // copy, and one dated after "now".
    backup(
        &e,
        "fs-failed",
        BackupType::Filesystem,
        Duration::hours(1),
        BackupStatus::Failed,
        None,
    );
    backup(
        &e,
        "fs-safety",
        BackupType::Filesystem,
        Duration::hours(1),
        BackupStatus::Succeeded,
        Some("pre_restore"),
    );
    backup(
        &e,
        "fs-future",
        BackupType::Filesystem,
        Duration::hours(-5),
        BackupStatus::Succeeded,
        None,
    );
    assert_eq!(
        find(&eval(&e), "backup_age.filesystem").status,
        Status::Warning
    );
    // A newer backup whose verification failed is not a good backup either.
    backup(
        &e,
        "fs-unverifiable",
        BackupType::Filesystem,
        Duration::hours(1),
        BackupStatus::Succeeded,
        None,
    );
    e.catalog
        .mark_verified("fs-unverifiable", now(), "failed: payload does not match")
        .unwrap();
    let r = eval(&e);
    let c = find(&r, "backup_age.filesystem");
    assert_eq!(c.status, Status::Warning, "{c:?}");
    assert!(c.value.contains("fs-mid"), "{c:?}");
    backup(
        &e,
        "fs-new",
        BackupType::Filesystem,
        Duration::hours(2),
        BackupStatus::Succeeded,
        None,
    );
    let r = eval(&e);
    let c = find(&r, "backup_age.filesystem");
    assert_eq!(c.status, Status::Ok, "{c:?}");
    assert!(c.advice.is_empty());
    // The threshold comes from the config.
    let mut cfg = e.config.clone();
    cfg.health.max_backup_age_hours = 1.0;
    let r = evaluate(&cfg, &e.catalog, now());
    assert_eq!(find(&r, "backup_age.filesystem").status, Status::Warning);
    // Fractions of an hour count (the newest good backup is 2 hours old).
    for (hours, want, threshold) in [
        (2.5, Status::Ok, "2.5h (critical at 5h)"),
        (1.5, Status::Warning, "1.5h (critical at 3h)"),
        (0.75, Status::Critical, "0.75h (critical at 1.5h)"),
    ] {
        cfg.health.max_backup_age_hours = hours;
        let r = evaluate(&cfg, &e.catalog, now());
        let c = find(&r, "backup_age.filesystem");
        assert_eq!(c.status, want, "{hours}: {c:?}");
        assert_eq!(c.threshold, threshold, "{c:?}");
    }
}

#[test]
fn success_rate_thresholds_count_failed_and_interrupted_but_not_cancelled() {
    let e = env();
    let c = find(&eval(&e), "success_rate").clone();
    assert_eq!(c.status, Status::Ok, "no jobs is not a failure: {c:?}");
    for _ in 0..19 {
        job(&e, "backup", "succeeded", Duration::days(1), 10);
    }
    job(&e, "backup", "failed", Duration::days(2), 10);
    job(&e, "backup", "cancelled", Duration::days(2), 10);
    // Outside the 7-day window, and other kinds: ignored.
    for _ in 0..5 {
        job(&e, "backup", "failed", Duration::days(9), 10);
        job(&e, "restore", "failed", Duration::days(1), 10);
    }
    assert_eq!(find(&eval(&e), "success_rate").status, Status::Ok);
    job(&e, "backup", "interrupted", Duration::days(3), 10);
    // 19 of 21 = 90.5%: below 95%, not below 90%.
    let r = eval(&e);
    let c = find(&r, "success_rate");
    assert_eq!(c.status, Status::Warning, "{c:?}");
    assert!(c.value.contains("19 of 21"), "{c:?}");
    assert!(c.advice.contains("lifeboat status"), "{c:?}");
    job(&e, "backup", "failed", Duration::days(3), 10);
    assert_eq!(find(&eval(&e), "success_rate").status, Status::Critical);
    let mut cfg = e.config.clone();
    cfg.health.min_backup_success_rate = 0.5;
    assert_eq!(
        find(&evaluate(&cfg, &e.catalog, now()), "success_rate").status,
        Status::Ok
    );
    cfg.health.success_window_days = 30;
    // 19 of 27 over 30 days = 70%: still above 50%.
    let c = find(&evaluate(&cfg, &e.catalog, now()), "success_rate").clone();
    assert!(c.value.contains("of 27"), "{c:?}");
}

#[test]
fn verification_and_drill_age() {
    let e = env();
    let r = eval(&e);
    assert_eq!(find(&r, "verify_age").status, Status::Warning);
    assert!(find(&r, "verify_age").value.contains("never"));
    assert_eq!(find(&r, "drill_age").status, Status::Warning);
    assert!(find(&r, "drill_age").advice.contains("lifeboat drill"));

    backup(
        &e,
        "a",
        BackupType::Filesystem,
        Duration::hours(50),
        BackupStatus::Succeeded,
        None,
    );
    backup(
        &e,
        "b",
        BackupType::Filesystem,
        Duration::hours(20),
        BackupStatus::Succeeded,
        None,
    );
    e.catalog
        .mark_verified("a", now() - Duration::days(10), "ok")
        .unwrap();
    assert_eq!(find(&eval(&e), "verify_age").status, Status::Warning);
    e.catalog
        .mark_verified("b", now() - Duration::days(1), "ok")
        .unwrap();
    assert_eq!(find(&eval(&e), "verify_age").status, Status::Ok);
    // The newest verification failed: critical, whatever passed before.
    e.catalog
        .mark_verified("a", now() - Duration::hours(1), "failed: SHA-256 differs")
        .unwrap();
    let r = eval(&e);
    let c = find(&r, "verify_age");
    assert_eq!(c.status, Status::Critical, "{c:?}");
    assert!(
        c.value.contains("SHA-256 differs") && c.advice.contains("lifeboat backup"),
        "{c:?}"
    );

    job(&e, "drill", "succeeded", Duration::days(40), 60);
    assert_eq!(find(&eval(&e), "drill_age").status, Status::Warning);
    job(&e, "drill", "succeeded", Duration::days(2), 60);
    assert_eq!(find(&eval(&e), "drill_age").status, Status::Ok);
    let failed = job(&e, "drill", "failed", Duration::days(1), 60);
    let r = eval(&e);
    let c = find(&r, "drill_age");
    assert_eq!(c.status, Status::Critical, "{c:?}");
    assert!(
        c.advice.contains(&format!("lifeboat status {failed}")),
        "{c:?}"
    );
}

#[test]
fn rpo_and_rto() {
    let mut e = env();
    e.config.sources.database.url = Some("postgres://u@127.0.0.1:1/panel".into());
    let r = evaluate_with(&e.config, Some(&e.catalog), None, now(), Depth::Quick);
    let c = find(&r, "rto");
    assert_eq!(c.status, Status::Warning);
    assert!(
        c.advice
            .contains("never measured: run lifeboat verify --deep or lifeboat drill"),
        "{c:?}"
    );
    assert_eq!(find(&r, "rpo.database").status, Status::Critical);
    // The seed schedule (every 6 hours) cannot meet a 1-hour RPO: said so.
    assert!(
        find(&r, "rpo.database")
            .threshold
            .contains("the schedule achieves 6h 00m at best"),
        "{r:#?}"
    );

    backup(
        &e,
        "db1",
        BackupType::Database,
        Duration::minutes(120),
        BackupStatus::Succeeded,
        None,
    );
    backup(
        &e,
        "fs1",
        BackupType::Filesystem,
        Duration::minutes(120),
        BackupStatus::Succeeded,
        None,
    );
    let r = evaluate_with(&e.config, Some(&e.catalog), None, now(), Depth::Quick);
    assert_eq!(find(&r, "rpo.database").status, Status::Warning);
    assert_eq!(find(&r, "rpo.filesystem").status, Status::Ok);
    assert!(find(&r, "rpo.database").advice.contains("rpo_minutes"));

    // RTO from the newest measurement: a drill of 10 minutes is fine ...
    job(&e, "drill", "succeeded", Duration::days(3), 600);
    let r = evaluate_with(&e.config, Some(&e.catalog), None, now(), Depth::Quick);
    assert_eq!(find(&r, "rto").status, Status::Ok, "{:?}", find(&r, "rto"));
    // ... a newer restore of 5 hours is over 4 hours ...
    job(&e, "restore", "succeeded", Duration::days(2), 5 * 3600);
    let r = evaluate_with(&e.config, Some(&e.catalog), None, now(), Depth::Quick);
    assert_eq!(find(&r, "rto").status, Status::Warning);
    // ... failed ones are not measurements, and 9 hours is critical.
    job(&e, "drill", "failed", Duration::days(1), 60);
    job(&e, "drill", "succeeded", Duration::hours(20), 9 * 3600);
    let r = evaluate_with(&e.config, Some(&e.catalog), None, now(), Depth::Quick);
    assert_eq!(find(&r, "rto").status, Status::Critical);
    assert!(find(&r, "rto").value.contains("drill job"));
    // Quick depth never touches PostgreSQL.
    assert!(r.checks.iter().all(|c| c.id != "postgres"));
}

#[test]
fn rto_reads_deep_verification_sidecars() {
    let e = env();
    backup(
        &e,
        "db1",
        BackupType::Database,
        Duration::hours(3),
        BackupStatus::Succeeded,
        None,
    );
    let file = e.catalog.get_backup("db1").unwrap().unwrap().file;
    std::fs::create_dir_all(Path::new(&file).parent().unwrap()).unwrap();
    let at = now() - Duration::hours(2);
    std::fs::write(
        format!("{file}.verified.json"),
        serde_json::to_vec(&serde_json::json!({
            "at": at, "deep": true, "restore_seconds": 42.0, "result": "ok"
        }))
        .unwrap(),
    )
    .unwrap();
    e.catalog.mark_verified("db1", at, "ok").unwrap();
    let r = eval(&e);
    let c = find(&r, "rto");
    assert_eq!(c.status, Status::Ok, "{c:?}");
    assert!(
        c.value.contains("42s") && c.value.contains("verify --deep"),
        "{c:?}"
    );
}

#[test]
fn key_file_checks() {
    let e = env();
    // No key, no encrypted backups: fine.
    assert_eq!(find(&eval(&e), "key_file").status, Status::Ok);
    // An encrypted backup without its key: critical.
    backup(
        &e,
        "x",
        BackupType::Filesystem,
        Duration::hours(1),
        BackupStatus::Succeeded,
        None,
    );
    let mut rec = e.catalog.get_backup("x").unwrap().unwrap();
    rec.encrypted = true;
    e.catalog.update_backup(&rec).unwrap();
    let r = eval(&e);
    let c = find(&r, "key_file");
    assert_eq!(c.status, Status::Critical, "{c:?}");
    assert!(c.advice.contains("offline copy"), "{c:?}");
    // The key back, 0600: ok; loosened: warning; garbage: critical.
    crate::archive::keys::KeyRing::generate(&e.config.encryption.key_file).unwrap();
    assert_eq!(find(&eval(&e), "key_file").status, Status::Ok);
    let key = &e.config.encryption.key_file;
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = eval(&e);
    let c = find(&r, "key_file");
    assert_eq!(c.status, Status::Warning);
    assert!(c.advice.contains("chmod 600"), "{c:?}");
    let text = std::fs::read_to_string(key).unwrap();
    std::fs::write(key, "not a key file\n").unwrap();
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = eval(&e);
    let c = find(&r, "key_file");
    assert_eq!(c.status, Status::Critical, "{c:?}");
    // Nothing of the real key leaks into the report.
    let json = serde_json::to_string(&r).unwrap();
    for line in text.lines().filter(|l| l.len() > 30) {
        assert!(!json.contains(line.trim()), "key material in the report");
    }
}

#[test]
fn repository_catalog_and_audit() {
    let e = env();
    assert_eq!(find(&eval(&e), "repository").status, Status::Ok);
    let mut cfg = e.config.clone();
    cfg.repository.path = e.root.join("no-such-repo");
    let r = evaluate(&cfg, &e.catalog, now());
    let c = find(&r, "repository");
    assert_eq!(c.status, Status::Critical);
    assert!(c.advice.contains("mount the backup disk"), "{c:?}");
    assert_eq!(r.verdict, Status::Critical);

    // Without a catalog: the catalog check says why, the rest still runs.
    let r = evaluate_without_catalog(&e.config, "file is not a database", now());
    let c = find(&r, "catalog");
    assert_eq!(c.status, Status::Critical);
    assert!(c.value.contains("file is not a database") && c.advice.contains("catalog rebuild"));
    assert_eq!(find(&r, "repository").status, Status::Ok);
    assert!(find(&r, "backup_age.filesystem")
        .value
        .contains("cannot be evaluated"));

    // The audit chain: intact, then a row changed behind lifeboat's back.
    let engine_like = |action: &str| {
        let rec = e
            .catalog
            .append_audit(&crate::catalog::AuditEntry::now(action, "t", "ok", ""))
            .unwrap();
        let line = serde_json::to_string(&rec).unwrap();
        crate::storage::local::Repository {
            root: e.config.repository.path.clone(),
        }
        .append_audit_line(&line)
        .unwrap();
    };
    engine_like("backup");
    engine_like("verify");
    let r = eval(&e);
    assert_eq!(
        find(&r, "audit").status,
        Status::Ok,
        "{:?}",
        find(&r, "audit")
    );
    assert_eq!(find(&r, "catalog").status, Status::Ok);
    e.catalog
        .conn
        .execute("UPDATE audit SET outcome = 'failed' WHERE seq = 1", [])
        .unwrap();
    let r = eval(&e);
    let c = find(&r, "audit");
    assert_eq!(c.status, Status::Critical, "{c:?}");
    assert!(c.value.contains("TAMPERED"));
}

#[test]
fn unreachable_postgres_is_critical_within_the_timeout() {
    let mut e = env();
    e.config.sources.database.url = Some("postgres://panel:hunter2@127.0.0.1:1/panel".into());
    let r = eval(&e);
    let c = find(&r, "postgres");
    assert_eq!(c.status, Status::Critical, "{c:?}");
    assert!(c.value.contains("127.0.0.1:1"), "{c:?}");
    let json = serde_json::to_string(&r).unwrap();
    assert!(!json.contains("hunter2"), "password in the report: {json}");
}

#[test]
fn disk_thresholds_come_from_the_config() {
    let e = env();
    let used = disk::space(&e.config.repository.path)
        .unwrap()
        .used_percent();
    let mut cfg = e.config.clone();
    cfg.health.disk_warn_percent = 100;
    cfg.health.disk_critical_percent = 100;
    let c = find(&evaluate(&cfg, &e.catalog, now()), "disk").clone();
    assert_eq!(c.status, Status::Ok, "{c:?}");
    // A disk always has more than 0% in use, so a 1% limit is exceeded.
    if used >= 1.0 {
        cfg.health.disk_warn_percent = 1;
        let c = find(&evaluate(&cfg, &e.catalog, now()), "disk").clone();
        assert_eq!(c.status, Status::Warning, "{c:?}");
        assert!(c.advice.contains("free space on"), "{c:?}");
        cfg.health.disk_critical_percent = 1;
        let c = find(&evaluate(&cfg, &e.catalog, now()), "disk").clone();
        assert_eq!(c.status, Status::Critical, "{c:?}");
    }
}

/// A filesystem backup's storage row is named by the paths it covered
/// (its manifest's), not by today's configuration: backups of two path
/// sets are two rows, safety copies one row of their own, and a row
/// without a manifest falls back to the configured paths.
#[test]
fn filesystem_storage_rows_name_the_paths_each_backup_covered() {
    let e = env();
    let manifest = |paths: &[&str]| serde_json::json!({"source": {"paths": paths}}).to_string();
    let day = Duration::days(1);
    for (id, name, m) in [
        (
            "fs-a1",
            None,
            Some(manifest(&["/srv/app/uploads", "/srv/app/logs"])),
        ),
        (
            "fs-a2",
            None,
            Some(manifest(&["/srv/app/uploads", "/srv/app/logs"])),
        ),
        ("fs-b", None, Some(manifest(&["/srv/app/uploads"]))),
        ("fs-old", None, None),
        ("fs-broken", None, Some("{not json".to_string())),
        (
            "fs-safe",
            Some("pre_restore"),
            Some(manifest(&["/srv/app/uploads/a.txt"])),
        ),
    ] {
        backup(
            &e,
            id,
            BackupType::Filesystem,
            day,
            BackupStatus::Succeeded,
            name,
        );
        e.catalog
            .conn
            .execute(
                "UPDATE backups SET manifest_json = ?2 WHERE id = ?1",
                params![id, m],
            )
            .unwrap();
    }
    let s = storage(&e.config, &e.catalog, now()).unwrap();
    let count = |label: &str| {
        s.per_target
            .iter()
            .find(|t| t.0 == label)
            .unwrap_or_else(|| panic!("no row {label:?}: {:#?}", s.per_target))
            .1
    };
    assert_eq!(count("filesystem /srv/app/uploads, /srv/app/logs"), 2);
    assert_eq!(count("filesystem /srv/app/uploads"), 1);
    let configured = format!("filesystem {}", e.root.join("app/uploads").display());
    assert_eq!(
        count(&configured),
        2,
        "no manifest, or one that is not JSON"
    );
    assert_eq!(count("filesystem safety copies [pre_restore]"), 1);
    assert_eq!(s.per_target.len(), 4, "{:#?}", s.per_target);
}

#[test]
fn a_hundred_thousand_backups_are_aggregated_in_sql() {
    let e = env();
    // Generated inside SQLite: 100,000 backups over 100 days, database
    // artifacts of two databases (named in the file, as with several).
    e.catalog
        .conn
        .execute_batch(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999) \
             INSERT INTO backups (id, type, name, kind, created_at, status, size, stored_size, encrypted, file) \
             SELECT 'b' || i, \
               CASE i % 4 WHEN 0 THEN 'database' WHEN 1 THEN 'database' WHEN 2 THEN 'filesystem' ELSE 'configuration' END, \
               NULL, 'full', \
               strftime('%Y-%m-%dT%H:%M:%S.000000000Z', '{start}', '+' || (i * 86) || ' seconds'), \
               CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'succeeded' END, 20, 10, 0, \
               '/r/' || CASE i % 4 WHEN 0 THEN 'database/db_backup_panel_' WHEN 1 THEN 'database/db_backup_shop_' \
                 ELSE 'x/y_' END || \
               strftime('%Y%m%d_%H%M%S', '{start}', '+' || (i * 86) || ' seconds') || '.dump.zst' \
             FROM n;",
            start = "2026-08-18T09:00:00"
        ))
        .unwrap();
    let s = storage(&e.config, &e.catalog, now()).unwrap();
    let total: u64 = s.per_type.iter().map(|t| t.1).sum();
    assert_eq!(total, 98_000, "failed backups take no space: {s:?}");
    let panel = s
        .per_target
        .iter()
        .find(|t| t.0 == "database panel")
        .unwrap();
    let shop = s
        .per_target
        .iter()
        .find(|t| t.0 == "database shop")
        .unwrap();
    // Failed rows are i % 50 == 0: even, so database ones are i % 100 == 0.
    assert_eq!(panel.1 + shop.1, 50_000 - 1000);
    assert_eq!(panel.2, panel.1 * 10);
    assert_eq!(s.daily_totals.len(), 90);
    assert!(s.daily_totals.windows(2).all(|w| w[0].1 <= w[1].1));
    assert_eq!(s.daily_totals.last().unwrap().1, 98_000 * 10);
    let r = eval(&e);
    assert_eq!(
        find(&r, "backup_age.filesystem").status,
        Status::Ok,
        "{r:#?}"
    );
}

#[test]
fn health_config_keys_parse_and_bad_values_name_the_key() {
    let c = Config::from_toml_str(
        "[health]\nrto_minutes = 30\ndisk_warn_percent = 70\n[health.rpo_minutes]\ndatabase = 15\n[metrics]\ntextfile = \"\"\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(c.health.rto_minutes, 30);
    assert_eq!(c.health.rpo_minutes.database, 15);
    assert_eq!(c.health.rpo_minutes.filesystem, 1440);
    assert_eq!(c.health.disk_critical_percent, 90);
    assert_eq!(c.metrics_textfile(), None, "empty string turns metrics off");
    assert!(Config::default()
        .metrics_textfile()
        .unwrap()
        .ends_with("metrics/lifeboat.prom"));
    for (text, key) in [
        (
            "[health]\ndisk_warn_percent = 95\ndisk_critical_percent = 90\n",
            "[health] disk_warn_percent",
        ),
        (
            "[health]\ndisk_critical_percent = 101\n",
            "[health] disk_critical_percent",
        ),
        ("[health]\nrpo_minutes = 5\n", "[health] rpo_minutes"),
        (
            "[health.rpo_minutes]\ndatabase = 0\n",
            "[health.rpo_minutes] database",
        ),
        (
            "[health]\nmax_drill_age_days = -1\n",
            "[health] max_drill_age_days",
        ),
        ("[metrics]\ntextfile = 3\n", "[metrics] textfile"),
    ] {
        let e = Config::from_toml_str(text, "t.toml").unwrap_err();
        assert!(e.message.contains(key), "{text}: {}", e.message);
        assert!(e.message.contains("t.toml"), "{}", e.message);
    }
}

#[test]
fn metrics_render_escape_and_carry_over_slow_checks() {
    let e = env();
    backup(
        &e,
        "fs1",
        BackupType::Filesystem,
        Duration::hours(2),
        BackupStatus::Succeeded,
        None,
    );
    let path = e.root.join("state/metrics/lifeboat.prom");
    let full = HealthReport::new(
        now(),
        vec![
            Check {
                id: "audit".into(),
                title: "t".into(),
                status: Status::Critical,
                value: String::new(),
                threshold: String::new(),
                advice: String::new(),
            },
            Check {
                id: "odd \"id\"\\\n".into(),
                title: "t".into(),
                status: Status::Warning,
                value: String::new(),
                threshold: String::new(),
                advice: String::new(),
            },
        ],
    );
    metrics::write(
        &path,
        &metrics::render(&e.config, Some(&e.catalog), &full, &[]),
    )
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains(r#"lifeboat_health_check_status{check="odd \"id\"\\\n"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("lifeboat_last_good_backup_age_seconds{type=\"filesystem\"} 7200\n"),
        "{text}"
    );
    assert!(text.contains("lifeboat_health_status 2\n"), "{text}");
    // A job ends: quick checks only; the critical audit status is carried
    // over (and still makes the overall status critical).
    metrics::after_job(&e.config, &e.catalog);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("lifeboat_health_check_status{check=\"audit\"} 2\n"),
        "{text}"
    );
    assert!(text.contains("lifeboat_health_status 2\n"), "{text}");
    assert!(
        !text.contains("odd"),
        "only the slow checks are carried: {text}"
    );
    assert!(text.contains("check=\"backup_age.filesystem\""), "{text}");
}

#[test]
fn schedule_hook_verdict() {
    use std::time::Duration as StdDuration;
    assert_eq!(checks::schedule_meets_rpo(None, 60), None);
    assert_eq!(
        checks::schedule_meets_rpo(Some(StdDuration::from_secs(3600)), 60),
        Some(true)
    );
    assert_eq!(
        checks::schedule_meets_rpo(Some(StdDuration::from_secs(6 * 3600)), 60),
        Some(false)
    );
    // No scheduler on this branch: the hook says so instead of guessing.
    assert_eq!(
        checks::schedule_best_rpo(&Config::default(), BackupType::Database, now()),
        None
    );
}
