//! Where the repository's space goes, and how fast it grows.
//!
//! Built from SQL aggregates over the catalog (stored sizes per type,
//! per target and per day) and one statvfs of the repository's disk. No
//! manifest file is read; of the manifests the catalog keeps, only a
//! filesystem backup's path list is taken, inside the same grouped scan.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::StorageReport;
use crate::archive::manifest::BackupType;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::error::Result;

/// Days shown in `daily_totals`.
pub const HISTORY_DAYS: i64 = 90;
/// Days the growth rate is measured over.
pub const GROWTH_DAYS: i64 = 14;

/// Cumulative stored bytes at the end of each of the last `days` days
/// (the last one is `today`), from the bytes added per day.
pub fn daily_totals(
    per_day: &[(NaiveDate, u64)],
    today: NaiveDate,
    days: i64,
) -> Vec<(NaiveDate, u64)> {
    let first = today - Duration::days(days - 1);
    let mut total: u64 = per_day
        .iter()
        .filter(|(d, _)| *d < first)
        .map(|(_, b)| *b)
        .sum();
    let mut out = Vec::with_capacity(days as usize);
    let mut added = per_day.iter().filter(|(d, _)| *d >= first).peekable();
    let mut day = first;
    while day <= today {
        while let Some((_, b)) = added.next_if(|(d, _)| *d <= day) {
            total = total.saturating_add(*b);
        }
        out.push((day, total));
        day += Duration::days(1);
    }
    out
}

/// Bytes per day the repository grew over the last [`GROWTH_DAYS`] of
/// `totals`, and the days until `free` is used up at that rate (`None`
/// when it is not growing).
pub fn growth(totals: &[(NaiveDate, u64)], free: u64) -> Option<(f64, Option<f64>)> {
    let last = totals.last()?;
    let idx = totals.len().saturating_sub(GROWTH_DAYS as usize + 1);
    let start = totals.get(idx)?;
    let span = (last.0 - start.0).num_days();
    if span <= 0 {
        return None;
    }
    let rate = last.1.saturating_sub(start.1) as f64 / span as f64;
    let days = (rate > 0.0).then(|| free as f64 / rate);
    Some((rate, days))
}

/// A person's name for a usage group: "database panel", "filesystem
/// /srv/uploads, /srv/logs", plus "[name]" for named backups. A
/// filesystem group is named by the paths its backups covered (the
/// manifest's, in `target`), so backups of another path set are another
/// row; the configured paths stand in only when the manifest did not say.
/// Safety copies hold whatever files one restore replaced, so they are one
/// group named as such, not one row per restore.
fn target_label(config: &Config, t: &str, target: &str, name: Option<&str>) -> String {
    let base = match t {
        "database" if !target.is_empty() => format!("database {target}"),
        "database" => {
            let db = &config.sources.database;
            match (db.databases.as_slice(), db.url.as_deref()) {
                ([one], _) => format!("database {one}"),
                ([], Some(url)) => crate::sources::database::ConnInfo::parse(url)
                    .map(|i| format!("database {}", i.dbname))
                    .unwrap_or_else(|_| "database".into()),
                _ => "database".into(),
            }
        }
        "filesystem" if name == Some(crate::catalog::SAFETY_COPY_NAME) => {
            "filesystem safety copies".to_string()
        }
        "filesystem" => {
            let own: Vec<String> = serde_json::from_str(target).unwrap_or_default();
            let paths = if own.is_empty() {
                config
                    .sources
                    .filesystem
                    .paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect()
            } else {
                own
            };
            if paths.is_empty() {
                "filesystem".to_string()
            } else {
                format!("filesystem {}", paths.join(", "))
            }
        }
        "configuration" => "configuration".to_string(),
        other => other.to_string(),
    };
    match name {
        Some(n) => format!("{base} [{n}]"),
        None => base,
    }
}

/// The storage report (see [`super::storage`]).
pub fn report(config: &Config, catalog: &Catalog, now: DateTime<Utc>) -> Result<StorageReport> {
    let usage = catalog.usage()?;
    let mut per_type: Vec<(BackupType, u64, u64)> = Vec::new();
    let mut per_target: Vec<(String, u64, u64)> = Vec::new();
    for u in &usage {
        if let Ok(t) = u.backup_type.parse::<BackupType>() {
            match per_type.iter_mut().find(|p| p.0 == t) {
                Some(p) => {
                    p.1 += u.count;
                    p.2 += u.stored_bytes;
                }
                None => per_type.push((t, u.count, u.stored_bytes)),
            }
        }
        let label = target_label(config, &u.backup_type, &u.target, u.name.as_deref());
        match per_target.iter_mut().find(|p| p.0 == label) {
            Some(p) => {
                p.1 += u.count;
                p.2 += u.stored_bytes;
            }
            None => per_target.push((label, u.count, u.stored_bytes)),
        }
    }
    per_target.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    let space = super::disk::space(&config.repository.path).map_err(|e| {
        crate::error::Error::io(
            "read the free space of the repository's disk",
            &config.repository.path,
            e,
        )
    })?;
    let totals = daily_totals(&catalog.bytes_per_day()?, now.date_naive(), HISTORY_DAYS);
    let days_until_full = growth(&totals, space.free).and_then(|g| g.1);
    Ok(StorageReport {
        repository: config.repository.path.clone(),
        per_type,
        per_target,
        disk_total: space.total,
        disk_free: space.free,
        disk_used: space.used,
        daily_totals: totals,
        targets: if config.targets.is_empty() {
            Vec::new()
        } else {
            super::copies::targets(config, catalog)?
        },
        verdicts: if config.targets.is_empty() {
            Vec::new()
        } else {
            super::copies::verdicts(config, catalog, now)?
        },
        days_until_full,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn daily_totals_are_cumulative_and_start_with_older_bytes() {
        let per_day = vec![
            (d("2026-01-01"), 1000),
            (d("2026-11-20"), 10),
            (d("2026-11-24"), 5),
            (d("2026-11-30"), 999), // after today: not counted
        ];
        let t = daily_totals(&per_day, d("2026-11-26"), 7);
        assert_eq!(t.len(), 7);
        assert_eq!(t[0], (d("2026-11-20"), 1010));
        assert_eq!(t[3], (d("2026-11-23"), 1010));
        assert_eq!(t[4], (d("2026-11-24"), 1015));
        assert_eq!(t[6], (d("2026-11-26"), 1015));
    }

    #[test]
    fn growth_rate_and_days_until_full() {
        let totals: Vec<(NaiveDate, u64)> = (0..30)
            .map(|i| (d("2026-11-01") + Duration::days(i), 1000 + 100 * i as u64))
            .collect();
        let (rate, days) = growth(&totals, 7000).unwrap();
        assert!((rate - 100.0).abs() < 1e-9, "{rate}");
        assert!((days.unwrap() - 70.0).abs() < 1e-9);
        let flat = vec![(d("2026-11-01"), 5), (d("2026-11-02"), 5)];
        assert_eq!(growth(&flat, 100), Some((0.0, None)));
        assert_eq!(growth(&flat[..1], 100), None);
    }
}
