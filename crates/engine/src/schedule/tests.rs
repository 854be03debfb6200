use chrono::{Duration, TimeZone, Utc};

use super::slots;
use super::*;
use crate::archive::manifest::BackupKind;
use crate::catalog::{BackupRecord, BackupStatus, Catalog};
use crate::config::TypeSchedule;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

#[test]
fn plain_forms_become_cron_patterns() {
    let cases = [
        ("every 6h", "0 */6 * * *"),
        ("6h", "0 */6 * * *"),
        ("every 30m", "*/30 * * * *"),
        ("every 24h", "0 0 * * *"),
        ("daily 02:00", "0 2 * * *"),
        ("weekly sun 02:00", "0 2 * * 0"),
        ("Weekly Saturday 23:15", "15 23 * * 6"),
        ("monthly 1 02:00", "0 2 1 * *"),
        ("hourly", "0 * * * *"),
        ("30 2 * * 1-5", "30 2 * * 1-5"),
    ];
    for (text, want) in cases {
        let s = Spec::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(s.cron_pattern, want, "{text}");
    }
}

#[test]
fn bad_forms_say_what_is_wrong() {
    for (text, says) in [
        ("every 90m", "does not divide"),
        ("every 7h", "does not divide"),
        ("daily 25:00", "time of day"),
        ("weekly funday 02:00", "weekday"),
        ("monthly 31 02:00", "1 to 28"),
        ("* * *", "3 fields"),
        ("61 * * * *", ""),
        ("sometimes", "neither"),
    ] {
        let e = Spec::parse(text).expect_err(text);
        assert!(e.contains(says), "{text}: {e}");
    }
}

#[test]
fn runs_follow_the_configured_time_zone_across_dst() {
    let s = Spec::parse("daily 02:30").unwrap();
    let tz: Tz = "Europe/Berlin".parse().unwrap();
    // Winter: 02:30 CET = 01:30 UTC.
    let next = s.next_after(utc(2026, 11, 26, 12, 0), tz).unwrap();
    assert_eq!(next, utc(2026, 11, 27, 1, 30));
    // Summer: 02:30 CEST = 00:30 UTC.
    let next = s.next_after(utc(2026, 7, 1, 12, 0), tz).unwrap();
    assert_eq!(next, utc(2026, 7, 2, 0, 30));
}

fn config_with(types: &[(&str, TypeSchedule)]) -> Config {
    let mut c = Config::default();
    c.schedule.timezone = "UTC".into();
    c.schedule.database = TypeSchedule::default();
    c.schedule.filesystem = TypeSchedule::default();
    c.schedule.configuration = TypeSchedule::default();
    c.schedule.all = TypeSchedule::default();
    for (t, s) in types {
        match *t {
            "database" => c.schedule.database = s.clone(),
            "filesystem" => c.schedule.filesystem = s.clone(),
            "all" => c.schedule.all = s.clone(),
            _ => unreachable!(),
        }
    }
    c
}

fn every(e: &str, full: &[&str]) -> TypeSchedule {
    TypeSchedule {
        cron: None,
        every: Some(e.to_string()),
        full: full.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn seed_schedule_cannot_meet_a_one_hour_rpo() {
    let c = Config::default();
    let s = Schedule::from_config(&c, &[BackupType::Database, BackupType::Filesystem]).unwrap();
    let gap = s
        .worst_gap(BackupType::Database, utc(2026, 11, 26, 0, 0))
        .unwrap();
    assert_eq!(gap, Duration::hours(6));
    let fs = s
        .worst_gap(BackupType::Filesystem, utc(2026, 11, 26, 0, 0))
        .unwrap();
    assert!(fs <= Duration::hours(24), "{fs}");
    // Entries: database regular + daily full, filesystem, all weekly + monthly.
    let ids: Vec<_> = s.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "database",
            "database.full.0",
            "filesystem",
            "all.full.0",
            "all.full.1"
        ]
    );
    let up = s.upcoming(utc(2026, 11, 26, 0, 30), 3);
    assert_eq!(up[0].at, utc(2026, 11, 26, 1, 30));
    assert_eq!(up[0].entry.id, "filesystem");
    assert_eq!(up[1].at, utc(2026, 11, 26, 2, 0));
    assert!(up[1].entry.full);
}

#[test]
fn a_bad_expression_names_its_key() {
    let c = config_with(&[("database", every("every 5x", &[]))]);
    let e = Schedule::from_config(&c, &[BackupType::Database]).unwrap_err();
    assert!(
        e.message.contains("[schedule.database] every"),
        "{}",
        e.message
    );
    let mut c = config_with(&[]);
    c.schedule.filesystem.cron = Some("0 2 * *".into());
    let e = Schedule::from_config(&c, &[BackupType::Filesystem]).unwrap_err();
    assert!(
        e.message.contains("[schedule.filesystem] cron"),
        "{}",
        e.message
    );
    let mut c = config_with(&[]);
    c.schedule.timezone = "Mars/Olympus".into();
    let e = Schedule::from_config(&c, &[]).unwrap_err();
    assert!(e.message.contains("Mars/Olympus"), "{}", e.message);
}

fn catalog() -> (tempfile::TempDir, Catalog) {
    let dir = tempfile::tempdir().unwrap();
    let c = Catalog::open(&dir.path().join("catalog.db")).unwrap();
    (dir, c)
}

fn backup_at(c: &Catalog, t: BackupType, at: DateTime<Utc>) {
    let id = format!("{}-{}", t.as_str(), at.timestamp());
    c.insert_backup(&BackupRecord {
        id: id.clone(),
        backup_type: t,
        name: None,
        kind: BackupKind::Full,
        parent_id: None,
        created_at: at,
        finished_at: Some(at),
        status: BackupStatus::Succeeded,
        size: 1,
        stored_size: 1,
        encrypted: false,
        key_id: None,
        file: format!("/repo/{id}"),
        sha256: None,
        verified_at: None,
        verify_result: None,
        warnings: 0,
        job_id: None,
    })
    .unwrap();
}

fn due_ids(s: &Schedule, c: &Catalog, now: DateTime<Utc>) -> Vec<(String, DateTime<Utc>)> {
    slots::due(s, c, now)
        .unwrap()
        .into_iter()
        .map(|d| (d.entry.id.clone(), d.slot))
        .collect()
}

#[test]
fn downtime_runs_a_missed_slot_once_and_never_twice() {
    let (_d, c) = catalog();
    let cfg = config_with(&[("database", every("every 6h", &[]))]);
    let s = Schedule::from_config(&cfg, &[BackupType::Database]).unwrap();

    // First start ever, a backup was taken after the latest slot: nothing due.
    backup_at(&c, BackupType::Database, utc(2026, 11, 26, 6, 5));
    assert!(due_ids(&s, &c, utc(2026, 11, 26, 7, 0)).is_empty());
    // Next slot passes: due once; claiming it twice wins once.
    let due = due_ids(&s, &c, utc(2026, 11, 26, 12, 0));
    assert_eq!(due, [("database".to_string(), utc(2026, 11, 26, 12, 0))]);
    assert!(slots::claim(&c, "database", due[0].1).unwrap());
    assert!(!slots::claim(&c, "database", due[0].1).unwrap());
    assert!(due_ids(&s, &c, utc(2026, 11, 26, 12, 1)).is_empty());

    // The daemon is down for two days: eight slots pass, one run is due.
    let later = utc(2026, 11, 28, 13, 0);
    let due = slots::due(&s, &c, later).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].slot, utc(2026, 11, 28, 12, 0));
    assert!(due[0].missed);
    assert!(slots::claim(&c, "database", due[0].slot).unwrap());

    // The clock jumps back a day: nothing runs again until time passes the
    // last claimed slot.
    assert!(due_ids(&s, &c, utc(2026, 11, 27, 13, 0)).is_empty());
    assert!(due_ids(&s, &c, utc(2026, 11, 28, 17, 59)).is_empty());
    // And forward a month: exactly one run.
    assert_eq!(due_ids(&s, &c, utc(2026, 12, 28, 13, 0)).len(), 1);
}

#[test]
fn two_catalog_connections_claim_a_slot_once() {
    let (dir, c1) = catalog();
    let c2 = Catalog::open(&dir.path().join("catalog.db")).unwrap();
    let slot = utc(2026, 11, 26, 12, 0);
    let a = slots::claim(&c1, "database", slot).unwrap();
    let b = slots::claim(&c2, "database", slot).unwrap();
    assert!(a ^ b, "exactly one claim wins: {a} {b}");
    assert_eq!(c2.last_slot("database").unwrap(), Some(slot));
}
