//! `lifeboat health` and `lifeboat storage` with the real binary: exit codes
//! (Nagios: 0 ok, 1 warning, 2 critical), JSON output, a missing
//! repository, a missing key, PostgreSQL down.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::common::*;
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

/// One sample: name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

/// Parse one sample line `name{k="v",...} value` strictly.
fn parse_sample(line: &str) -> Sample {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or_else(|| panic!("no value: {line}"));
    let name = &line[..name_end];
    assert!(
        !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()),
        "bad name: {line}"
    );
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        let close = r
            .find("} ")
            .unwrap_or_else(|| panic!("unclosed labels: {line}"));
        for pair in r[..close].split("\",") {
            let (k, v) = pair
                .split_once("=\"")
                .unwrap_or_else(|| panic!("bad label {pair:?}: {line}"));
            assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
            labels.push((k.to_string(), v.trim_end_matches('"').to_string()));
        }
        rest = &r[close + 1..];
    }
    let value = rest
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("no space before value: {line}"))
        .parse::<f64>()
        .unwrap_or_else(|e| panic!("bad value ({e}): {line}"));
    (name.to_string(), labels, value)
}

fn metrics(path: &std::path::Path) -> Vec<Sample> {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("metrics file {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(parse_sample)
        .collect()
}

fn value(m: &[Sample], name: &str, label: Option<(&str, &str)>) -> f64 {
    m.iter()
        .find(|(n, l, _)| {
            n == name && label.is_none_or(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .unwrap_or_else(|| panic!("no {name} {label:?} in {m:?}"))
        .2
}

#[test]
fn metrics_textfile_is_written_after_jobs_and_health() {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    let prom = sb.catalog.parent().unwrap().join("metrics/lifeboat.prom");
    sb.backup("filesystem", &[]);
    // Written when the job finished, with the quick checks.
    let m = metrics(&prom);
    let ts = value(
        &m,
        "lifeboat_last_good_backup_timestamp_seconds",
        Some(("type", "filesystem")),
    );
    let now = chrono::Utc::now().timestamp() as f64;
    assert!(ts > now - 600.0 && ts <= now + 1.0, "{ts} vs {now}");
    assert_eq!(
        value(
            &m,
            "lifeboat_last_good_backup_timestamp_seconds",
            Some(("type", "configuration"))
        ),
        0.0,
        "configured but never backed up"
    );
    assert!(
        value(
            &m,
            "lifeboat_last_backup_size_bytes",
            Some(("type", "filesystem"))
        ) > 0.0
    );
    assert_eq!(value(&m, "lifeboat_backup_success_ratio", None), 1.0);
    assert_eq!(
        value(
            &m,
            "lifeboat_health_check_status",
            Some(("check", "backup_age.configuration"))
        ),
        2.0
    );
    assert_eq!(value(&m, "lifeboat_health_status", None), 2.0);
    assert_eq!(
        value(&m, "lifeboat_last_drill_timestamp_seconds", None),
        0.0
    );
    assert!(
        !m.iter()
            .any(|(n, l, _)| n == "lifeboat_health_check_status"
                && l.iter().any(|(_, v)| v == "audit")),
        "the audit chain is only walked by a full health run"
    );
    // After `health`: every check, including the slow ones.
    sb.backup("configuration", &[]);
    sb.run(&["health"]);
    let m = metrics(&prom);
    assert_eq!(
        value(&m, "lifeboat_health_check_status", Some(("check", "audit"))),
        0.0
    );
    assert_eq!(
        value(
            &m,
            "lifeboat_health_check_status",
            Some(("check", "catalog"))
        ),
        0.0
    );
    assert_eq!(
        value(
            &m,
            "lifeboat_health_check_status",
            Some(("check", "backup_age.configuration"))
        ),
        0.0
    );
    // A verification: its time appears, and the slow checks are carried over.
    let id = sb.json(&["list", "--type", "filesystem"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    sb.ok(&["verify", &id]);
    let m = metrics(&prom);
    assert!(value(&m, "lifeboat_last_verify_timestamp_seconds", None) > now - 600.0);
    assert_eq!(
        value(&m, "lifeboat_health_check_status", Some(("check", "audit"))),
        0.0
    );
    assert_eq!(
        fs::metadata(&prom).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // No temp files left beside it.
    let names: Vec<String> = fs::read_dir(prom.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["lifeboat.prom".to_string()]);
}

#[test]
fn metrics_textfile_path_and_off_switch() {
    let sb = Sandbox::with_extra_config("[metrics]\ntextfile = \"node/lifeboat.prom\"\n");
    populate(&sb.app);
    sb.generate_key();
    sb.backup("filesystem", &[]);
    let custom = sb.dir.path().join("node/lifeboat.prom");
    assert!(!metrics(&custom).is_empty());
    assert!(!sb.catalog.parent().unwrap().join("metrics").exists());

    let off = Sandbox::with_extra_config("[metrics]\ntextfile = \"\"\n");
    populate(&off.app);
    off.generate_key();
    off.backup("filesystem", &[]);
    off.run(&["health"]);
    assert!(!off.catalog.parent().unwrap().join("metrics").exists());
}

#[test]
fn damaged_catalog_is_critical_and_the_other_checks_still_run() {
    let sb = fresh_sandbox();
    for suffix in ["-wal", "-shm"] {
        let _ = fs::remove_file(format!("{}{suffix}", sb.catalog.display()));
    }
    fs::write(&sb.catalog, vec![0x42u8; 8192]).unwrap();
    let (code, r) = health(&sb);
    assert_eq!(code, 2, "{r:#}");
    let c = check(&r, "catalog");
    assert_eq!(c["status"], "critical", "{c}");
    assert!(
        c["advice"]
            .as_str()
            .unwrap()
            .contains("lifeboat catalog rebuild"),
        "{c}"
    );
    assert_eq!(check(&r, "repository")["status"], "ok");
    assert_eq!(check(&r, "key_file")["status"], "ok");
    assert!(check(&r, "backup_age.filesystem")["value"]
        .as_str()
        .unwrap()
        .contains("cannot be evaluated"));
    // storage cannot work without the catalog: a clear error, exit 1.
    let text = sb.fails_all(&["storage"], 1);
    assert!(text.contains("catalog"), "{text}");
}

#[test]
fn a_disk_filling_up_warns_then_turns_critical() {
    let mut sb = Sandbox::new();
    let mnt = sb.dir.path().join("smallfs");
    let Some(_guard) = SmallDisk::mount(&mnt, "4m") else {
        println!("SKIP: cannot mount a tmpfs (not root?)");
        return;
    };
    sb.repo = mnt.join("repo");
    sb.write_config("");
    populate(&sb.app);
    sb.backup("filesystem", &[]);
    let (_, h) = health(&sb);
    assert_eq!(check(&h, "disk")["status"], "ok", "{h:#}");
    // Something else fills the backup disk: 85% used (warning at 80).
    let filler = mnt.join("other-data");
    let fill_to = |percent: u64| {
        let total = 4u64 << 20;
        let used_now = {
            let out = std::process::Command::new("df")
                .args(["-B1", "--output=used"])
                .arg(&mnt)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .nth(1)
                .unwrap()
                .trim()
                .parse::<u64>()
                .unwrap()
        };
        let want = total * percent / 100;
        let have = fs::metadata(&filler).map(|m| m.len()).unwrap_or(0);
        let len = (have + want.saturating_sub(used_now)) as usize;
        fs::write(&filler, vec![7u8; len]).unwrap();
    };
    fill_to(85);
    let (code, h) = health(&sb);
    let disk = check(&h, "disk");
    assert_eq!(disk["status"], "warning", "{disk:#}");
    assert!(code >= 1);
    fill_to(95);
    let (code, h) = health(&sb);
    let disk = check(&h, "disk");
    assert_eq!(disk["status"], "critical", "{disk:#}");
    assert_eq!(code, 2);
    assert!(!disk["advice"].as_str().unwrap().is_empty(), "{disk:#}");
}
