use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::archive::manifest::BackupKind;
use crate::config::TypeRetention;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
}

fn b(id: &str, t: BackupType, days_ago: i64, parent: Option<&str>) -> BackupRecord {
    BackupRecord {
        id: id.to_string(),
        backup_type: t,
        name: None,
        kind: if parent.is_some() {
            BackupKind::Incremental
        } else {
            BackupKind::Full
        },
        parent_id: parent.map(str::to_string),
        created_at: now() - Duration::days(days_ago),
        finished_at: None,
        status: BackupStatus::Succeeded,
        size: 100,
        stored_size: 10,
        encrypted: false,
        key_id: None,
        file: format!("/repo/{id}"),
        sha256: None,
        verified_at: None,
        verify_result: None,
        warnings: 0,
        job_id: None,
    }
}

fn utc_tz() -> Tz {
    "UTC".parse().unwrap()
}

fn kept(plan: &PrunePlan) -> Vec<&str> {
    plan.decisions
        .iter()
        .filter(|d| d.keep)
        .map(|d| d.id.as_str())
        .collect()
}

fn deleted(plan: &PrunePlan) -> Vec<&str> {
    plan.to_delete().map(|d| d.id.as_str()).collect()
}

fn daily_db(days: std::ops::Range<i64>) -> Vec<BackupRecord> {
    days.map(|d| b(&format!("db{d}"), BackupType::Database, d, None))
        .collect()
}

#[test]
fn keep_days_deletes_what_is_older_and_says_why() {
    let c = Config::default(); // database 30 days, min_keep 3
    let plan = plan(&c, &daily_db(0..40), now(), utc_tz(), false);
    assert!(plan.refused.is_empty());
    assert_eq!(deleted(&plan).len(), 10);
    assert!(deleted(&plan).contains(&"db30"));
    assert!(kept(&plan).contains(&"db29"));
    let d = plan.decisions.iter().find(|d| d.id == "db35").unwrap();
    assert!(
        d.reasons[0].contains("past keep_days = 30"),
        "{:?}",
        d.reasons
    );
    let k = plan.decisions.iter().find(|d| d.id == "db0").unwrap();
    assert!(
        k.reasons.iter().any(|r| r.contains("min_keep")),
        "{:?}",
        k.reasons
    );
    assert_eq!(plan.bytes_freed(), 100);
}

#[test]
fn min_keep_wins_over_a_short_window() {
    let mut c = Config::default();
    c.retention.database.keep_days = Some(1);
    // Backups 0.. 9 days old; only db0 is within 1 day, but 3 are kept.
    let plan = plan(&c, &daily_db(0..10), now(), utc_tz(), false);
    assert_eq!(kept(&plan), ["db0", "db1", "db2"]);
}

#[test]
fn a_policy_that_would_delete_everything_is_refused() {
    let mut c = Config::default();
    c.retention.min_keep = 0;
    c.retention.database.keep_days = Some(1);
    let list: Vec<_> = daily_db(5..9);
    let plan = plan(&c, &list, now(), utc_tz(), true);
    assert!(deleted(&plan).is_empty());
    assert_eq!(plan.refused.len(), 1);
    assert!(plan.refused[0]
        .reason
        .contains("every good database backup"));
}

#[test]
fn stopped_backups_or_a_clock_jump_forward_do_not_mass_delete() {
    let c = Config::default();
    // All backups are older than the 30-day window (the clock jumped a
    // year forward, or backups stopped): refused unless forced.
    let list = daily_db(400..420);
    let p = plan(&c, &list, now(), utc_tz(), false);
    assert!(deleted(&p).is_empty());
    assert!(
        p.refused[0].reason.contains("--force"),
        "{}",
        p.refused[0].reason
    );
    let forced = plan(&c, &list, now(), utc_tz(), true);
    assert_eq!(deleted(&forced).len(), 17, "min_keep still keeps 3");
}

#[test]
fn a_clock_gone_back_does_not_prune() {
    let c = Config::default();
    let mut list = daily_db(0..40);
    list.push(b("future", BackupType::Database, -30, None));
    let p = plan(&c, &list, now(), utc_tz(), true);
    assert!(deleted(&p).is_empty());
    assert!(p.refused[0].reason.contains("future"));
}

#[test]
fn parents_of_kept_incrementals_stay() {
    let c = Config::default(); // filesystem 90 days
    let list = vec![
        b("full-old", BackupType::Filesystem, 200, None),
        b("inc1", BackupType::Filesystem, 150, Some("full-old")),
        b("inc2", BackupType::Filesystem, 10, Some("inc1")),
        b("full-older", BackupType::Filesystem, 300, None),
    ];
    let p = plan(&c, &list, now(), utc_tz(), false);
    assert_eq!(deleted(&p), ["full-older"]);
    let d = p.decisions.iter().find(|d| d.id == "full-old").unwrap();
    assert!(
        d.reasons
            .iter()
            .any(|r| r.contains("parent of kept incremental inc2")),
        "{:?}",
        d.reasons
    );
}

#[test]
fn calendar_rules_keep_one_per_period() {
    let mut c = Config::default();
    c.retention.min_keep = 0;
    c.retention.database = TypeRetention {
        keep_days: Some(1),
        keep_daily: Some(7),
        keep_weekly: Some(4),
        keep_monthly: Some(3),
        ..TypeRetention::default()
    };
    // Four backups a day for 120 days.
    let mut list = Vec::new();
    for d in 0..120 {
        for h in 0..4 {
            let mut x = b(&format!("db{d}-{h}"), BackupType::Database, d, None);
            x.created_at -= Duration::hours(h);
            list.push(x);
        }
    }
    let p = plan(&c, &list, now(), utc_tz(), false);
    let kept = kept(&p);
    // 7 daily + weekly and monthly picks (some coincide) + the last day.
    assert!(
        kept.len() >= 10 && kept.len() <= 7 + 4 + 3 + 4,
        "{}",
        kept.len()
    );
    assert!(kept.contains(&"db0-0"));
    assert!(kept.contains(&"db6-0"));
    assert!(!kept.contains(&"db8-0") || kept.len() > 7);
    // Never more than one backup of a day is kept by the daily rule.
    let daily_kept = p
        .decisions
        .iter()
        .filter(|d| d.reasons.iter().any(|r| r.contains("daily")))
        .count();
    assert_eq!(daily_kept, 7);
}

#[test]
fn failed_records_go_with_the_window_and_running_ones_stay() {
    let c = Config::default();
    let mut list = daily_db(0..5);
    let mut f = b("failed-old", BackupType::Database, 50, None);
    f.status = BackupStatus::Failed;
    let mut r = b("running-old", BackupType::Database, 50, None);
    r.status = BackupStatus::Running;
    list.push(f);
    list.push(r);
    let p = plan(&c, &list, now(), utc_tz(), false);
    assert_eq!(deleted(&p), ["failed-old"]);
}

/// Newer backups that failed verification, and incrementals standing on a
/// full that failed it, do not use up `min_keep`: the older whole, verified
/// chain is what stays.
#[test]
fn only_whole_verified_chains_count_toward_min_keep() {
    let mut c = Config::default();
    c.retention.min_keep = 2;
    c.retention.filesystem.keep_days = Some(1);
    let mut bad_full = b("full-new", BackupType::Filesystem, 3, None);
    bad_full.verify_result = Some("failed: payload does not match".into());
    let list = vec![
        b("inc-new", BackupType::Filesystem, 2, Some("full-new")),
        bad_full,
        b("inc-old", BackupType::Filesystem, 5, Some("full-old")),
        b("full-old", BackupType::Filesystem, 6, None),
        b("full-older", BackupType::Filesystem, 9, None),
    ];
    let p = plan(&c, &list, now(), utc_tz(), true);
    let k = kept(&p);
    for id in ["inc-old", "full-old"] {
        assert!(k.contains(&id), "{id} must stay: {:?}", p.decisions);
    }
    for id in ["inc-new", "full-new", "full-older"] {
        assert!(!k.contains(&id), "{id} should go: {:?}", p.decisions);
    }
}
