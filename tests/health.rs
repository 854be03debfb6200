//! `lifeboat health` and `lifeboat storage` with the real binary: exit codes
//! (Nagios: 0 ok, 1 warning, 2 critical), JSON output, a missing
//! repository, a missing key, PostgreSQL down.

mod common;

use std::fs;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// Run `health --json`; returns (exit code, report).
fn health(sb: &Sandbox) -> (i32, Value) {
    let child = sb.spawn(&["--json", "health"]);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "health --json is not JSON ({e}):\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), v)
}

fn check<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {r:#}"))
}

/// Move every backup, verification and job `hours` into the past, as if
/// the sandbox had stopped backing up that long ago.
fn age_everything(sb: &Sandbox, hours: i64) {
    let conn = rusqlite::Connection::open(&sb.catalog).unwrap();
    let shift = format!("-{hours} hours");
    for (table, cols) in [
        ("backups", &["created_at", "finished_at", "verified_at"][..]),
        ("jobs", &["created_at", "started_at", "finished_at"][..]),
    ] {
        for col in cols {
            conn.execute(
                &format!(
                    "UPDATE {table} SET {col} = strftime('%Y-%m-%dT%H:%M:%S.000000000Z', {col}, ?1) \
                     WHERE {col} IS NOT NULL"
                ),
                [&shift],
            )
            .unwrap();
        }
    }
}

fn fresh_sandbox() -> Sandbox {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    let all = sb.json(&["backup", "--all"]);
    assert_eq!(all["ok"], true, "{all}");
    sb
}

#[test]
fn no_backups_at_all_is_critical_and_says_what_to_run() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let (code, r) = health(&sb);
    assert_eq!(code, 2, "{r:#}");
    assert_eq!(r["verdict"], "critical");
    // No catalog yet: reported as a check, not an error.
    assert_eq!(check(&r, "catalog")["status"], "critical");
    assert!(
        check(&r, "repository")["advice"]
            .as_str()
            .unwrap()
            .contains("does not exist")
            || check(&r, "repository")["value"]
                .as_str()
                .unwrap()
                .contains("does not exist")
    );
    // With a catalog but no backups: every configured type is critical.
    sb.ok(&["list"]);
    let (code, r) = health(&sb);
    assert_eq!(code, 2, "{r:#}");
    for t in ["filesystem", "configuration"] {
        let c = check(&r, &format!("backup_age.{t}"));
        assert_eq!(c["status"], "critical", "{c}");
        assert!(
            c["advice"]
                .as_str()
                .unwrap()
                .contains(&format!("lifeboat backup --type {t}")),
            "{c}"
        );
    }
    // The human output has the verdict, the words and the advice.
    let out = sb.run(&["health"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HEALTH CRITICAL"), "{text}");
    assert!(
        text.contains("-> there is no good filesystem backup"),
        "{text}"
    );
}

#[test]
fn fresh_backups_without_drill_warn_and_old_backups_stay_warning_then_critical() {
    let sb = fresh_sandbox();
    let (code, r) = health(&sb);
    // Fresh backups, but recovery never proven: warnings only.
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(check(&r, "backup_age.filesystem")["status"], "ok");
    assert_eq!(check(&r, "success_rate")["status"], "ok");
    assert_eq!(check(&r, "key_file")["status"], "ok");
    assert_eq!(check(&r, "audit")["status"], "ok", "{r:#}");
    assert_eq!(check(&r, "catalog")["status"], "ok");
    assert_eq!(check(&r, "drill_age")["status"], "warning");
    assert_eq!(
        check(&r, "rto")["advice"],
        "never measured: run lifeboat verify --deep or lifeboat drill"
    );

    // 30 hours later: over 25h, a warning.
    age_everything(&sb, 30);
    let (code, r) = health(&sb);
    assert_eq!(code, 1, "{r:#}");
    let c = check(&r, "backup_age.filesystem");
    assert_eq!(c["status"], "warning", "{c}");
    assert!(c["value"].as_str().unwrap().contains("ago"), "{c}");
    // 30 more: over twice the limit, critical.
    age_everything(&sb, 30);
    let (code, r) = health(&sb);
    assert_eq!(code, 2, "{r:#}");
    assert_eq!(check(&r, "backup_age.filesystem")["status"], "critical");
}

#[test]
fn missing_repository_is_critical() {
    let sb = fresh_sandbox();
    let moved = sb.dir.path().join("repo-elsewhere");
    fs::rename(&sb.repo, &moved).unwrap();
    let (code, r) = health(&sb);
    assert_eq!(code, 2, "{r:#}");
    let c = check(&r, "repository");
    assert_eq!(c["status"], "critical");
    assert!(
        c["advice"]
            .as_str()
            .unwrap()
            .contains("mount the backup disk"),
        "{c}"
    );
    assert!(!sb.repo.exists(), "health must not create the repository");
}

#[test]
fn missing_key_file_is_critical_when_backups_are_encrypted() {
    let sb = fresh_sandbox();
    fs::remove_file(&sb.key).unwrap();
    let (code, r) = health(&sb);
    assert_eq!(code, 2, "{r:#}");
    let c = check(&r, "key_file");
    assert_eq!(c["status"], "critical", "{c}");
    assert!(
        c["value"]
            .as_str()
            .unwrap()
            .contains(sb.key.to_str().unwrap()),
        "{c}"
    );
}

#[test]
fn postgres_down_is_critical_without_hanging() {
    let sb = Sandbox::with_extra_config(
        "[sources.database]\nurl = \"postgres://panel:topsecret@127.0.0.1:1/panel\"\n",
    );
    populate(&sb.app);
    let child = sb.spawn(&["--json", "health"]);
    let (status, text) = wait_child(child, 60, "lifeboat health with PostgreSQL down");
    assert_eq!(status.code(), Some(2), "{text}");
    assert!(!text.contains("topsecret"), "password leaked:\n{text}");
    let json_end = text.rfind('}').unwrap();
    let r: Value = serde_json::from_str(&text[..=json_end]).unwrap();
    let c = check(&r, "postgres");
    assert_eq!(c["status"], "critical", "{c}");
    assert!(c["value"].as_str().unwrap().contains("127.0.0.1:1"), "{c}");
}

#[test]
fn storage_reports_usage_per_type_and_target() {
    let sb = fresh_sandbox();
    std::thread::sleep(Duration::from_millis(1100));
    fs::write(sb.app.join("uploads/new.bin"), noise(100_000, 3)).unwrap();
    sb.backup("filesystem", &["--full"]);
    let r = sb.json(&["storage"]);
    let per_type = r["per_type"].as_array().unwrap();
    let fs_row = per_type
        .iter()
        .find(|t| t[0] == "filesystem")
        .unwrap_or_else(|| panic!("{r:#}"));
    assert_eq!(fs_row[1], 2, "{r:#}");
    let listed: u64 = sb
        .json(&["list", "--type", "filesystem"])
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["stored_size"].as_u64().unwrap())
        .sum();
    assert_eq!(fs_row[2].as_u64().unwrap(), listed);
    let targets = r["per_target"].as_array().unwrap();
    assert!(
        targets.iter().any(|t| t[0]
            .as_str()
            .unwrap()
            .contains(sb.app.join("uploads").to_str().unwrap())),
        "{r:#}"
    );
    assert!(r["disk_total"].as_u64().unwrap() >= r["disk_free"].as_u64().unwrap());
    assert!(r["disk_free"].as_u64().unwrap() > 0);
    let daily = r["daily_totals"].as_array().unwrap();
    assert_eq!(daily.len(), 90);
    let total: u64 = per_type.iter().map(|t| t[2].as_u64().unwrap()).sum();
    assert_eq!(daily.last().unwrap()[1].as_u64().unwrap(), total);
    // Human output names the repository.
    let text = sb.ok(&["storage"]);
    assert!(text.contains(sb.repo.to_str().unwrap()), "{text}");
}
