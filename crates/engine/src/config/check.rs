//! Value checks on the parsed TOML table, before serde.
//!
//! Serde's messages ("invalid value: integer `-5`, expected u32") do not name
//! the key, so the values an operator is likely to get wrong are checked here
//! first and reported as `invalid value for [section] key in FILE: VALUE
//! (allowed: ...)`. Wrong types of other keys and unknown keys are left to
//! serde, whose messages carry the line and column.

use std::str::FromStr;

use toml::{Table, Value};

use crate::archive::manifest::Compression;
use crate::error::{Error, Result};

use super::EncryptMode;

/// Text for "allowed" of a compression level.
pub(crate) fn level_allowed(alg: Compression) -> String {
    let (lo, hi) = alg.level_range();
    if lo == hi {
        format!("{lo} for {alg}")
    } else {
        format!("an integer from {lo} to {hi} for {alg}")
    }
}

pub(crate) fn level_ok(alg: Compression, level: i64) -> bool {
    let (lo, hi) = alg.level_range();
    (i64::from(lo)..=i64::from(hi)).contains(&level)
}

/// What `[health] max_backup_age_hours` and `MAX_BACKUP_AGE_HOURS` accept.
pub(crate) const AGE_HOURS_ALLOWED: &str =
    "a number of hours above 0 and up to 100000; decimals allowed, e.g. 0.5 for 30 minutes";

pub(crate) fn age_hours_ok(h: f64) -> bool {
    h.is_finite() && h > 0.0 && h <= 100_000.0
}

pub(crate) fn email_ok(s: &str) -> bool {
    let s = s.trim();
    matches!(s.split_once('@'), Some((u, d)) if !u.is_empty() && !d.is_empty() && !s.contains(char::is_whitespace))
}

fn get<'a>(table: &'a Table, section: &str, key: &str) -> Option<&'a Value> {
    let mut t = table;
    for part in section.split('.') {
        t = t.get(part)?.as_table()?;
    }
    t.get(key)
}

fn bad(section: &str, key: &str, origin: &str, value: &Value, allowed: &str) -> Error {
    Error::usage(format!(
        "invalid value for [{section}] {key} in {origin}: {value} (allowed: {allowed})"
    ))
    .hint(format!(
        "edit [{section}] {key} in {origin}; see config.example.toml"
    ))
}

/// Integer keys and their inclusive ranges.
const INT_KEYS: &[(&str, &str, i64, i64)] = &[
    ("compression", "threads", 0, 256),
    ("retention", "database_days", 1, 36_500),
    ("retention", "filesystem_days", 1, 36_500),
    ("retention", "configuration_days", 1, 36_500),
    ("retention", "state_days", 1, 36_500),
    ("retention", "min_keep", 0, 100_000),
    ("retention.database", "keep_days", 1, 36_500),
    ("retention.database", "keep_last", 0, 100_000),
    ("retention.database", "keep_daily", 0, 100_000),
    ("retention.database", "keep_weekly", 0, 100_000),
    ("retention.database", "keep_monthly", 0, 100_000),
    ("retention.database", "min_keep", 0, 100_000),
    ("retention.filesystem", "keep_days", 1, 36_500),
    ("retention.filesystem", "keep_last", 0, 100_000),
    ("retention.filesystem", "keep_daily", 0, 100_000),
    ("retention.filesystem", "keep_weekly", 0, 100_000),
    ("retention.filesystem", "keep_monthly", 0, 100_000),
    ("retention.filesystem", "min_keep", 0, 100_000),
    ("retention.configuration", "keep_days", 1, 36_500),
    ("retention.configuration", "keep_last", 0, 100_000),
    ("retention.configuration", "keep_daily", 0, 100_000),
    ("retention.configuration", "keep_weekly", 0, 100_000),
    ("retention.configuration", "keep_monthly", 0, 100_000),
    ("retention.configuration", "min_keep", 0, 100_000),
    ("retention.state", "keep_days", 1, 36_500),
    ("retention.state", "keep_last", 0, 100_000),
    ("retention.state", "keep_daily", 0, 100_000),
    ("retention.state", "keep_weekly", 0, 100_000),
    ("retention.state", "keep_monthly", 0, 100_000),
    ("retention.state", "min_keep", 0, 100_000),
    ("health", "success_window_days", 1, 3_650),
    ("health.rpo_minutes", "database", 1, 5_256_000),
    ("health.rpo_minutes", "filesystem", 1, 5_256_000),
    ("health.rpo_minutes", "configuration", 1, 5_256_000),
    ("health", "rto_minutes", 1, 525_600),
    ("health", "max_verify_age_days", 1, 3_650),
    ("health", "max_drill_age_days", 1, 3_650),
    ("health", "disk_warn_percent", 1, 100),
    ("health", "disk_critical_percent", 1, 100),
    ("alerts", "repeat_minutes", 1, 1_000_000),
    ("alerts.email", "timeout_seconds", 1, 600),
    ("alerts.webhook", "timeout_seconds", 1, 600),
    ("backup", "full_every_days", 1, 36_500),
    ("logging", "max_size_mb", 1, 100_000),
    ("logging", "keep", 0, 1_000),
    ("jobs", "workers", 1, 64),
    ("sources.database", "jobs", 1, 64),
    ("sources.database", "split_table_mb", 1, 100_000_000),
];

const BOOL_KEYS: &[(&str, &str)] = &[
    ("sources.configuration", "allow_plaintext_secrets"),
    ("alerts.email", "enabled"),
    ("backup", "incremental"),
];

pub(crate) fn check_table(table: &Table, origin: &str) -> Result<()> {
    // Misplaced key the contract moved: say where it lives now.
    if let Some(v) = get(table, "encryption", "allow_plaintext_secrets") {
        return Err(Error::usage(format!(
            "unknown key [encryption] allow_plaintext_secrets in {origin} (= {v})"
        ))
        .hint("it lives in [sources.configuration] allow_plaintext_secrets"));
    }

    let mut alg = Compression::Zstd;
    if let Some(v) = get(table, "compression", "algorithm") {
        alg = v
            .as_str()
            .and_then(|s| Compression::from_str(s).ok())
            .ok_or_else(|| {
                bad(
                    "compression",
                    "algorithm",
                    origin,
                    v,
                    "zstd, gzip, bz2, none",
                )
            })?;
    }
    if let Some(v) = get(table, "compression", "level") {
        match v.as_integer() {
            Some(n) if level_ok(alg, n) => {}
            _ => return Err(bad("compression", "level", origin, v, &level_allowed(alg))),
        }
    }
    for &(section, key, lo, hi) in INT_KEYS {
        if let Some(v) = get(table, section, key) {
            match v.as_integer() {
                Some(n) if (lo..=hi).contains(&n) => {}
                _ => {
                    let allowed = format!("a whole number from {lo} to {hi}");
                    return Err(bad(section, key, origin, v, &allowed));
                }
            }
        }
    }
    for &(section, key) in BOOL_KEYS {
        if let Some(v) = get(table, section, key) {
            if !v.is_bool() {
                return Err(bad(section, key, origin, v, "true or false"));
            }
        }
    }
    if let Some(v) = get(table, "health", "max_backup_age_hours") {
        // An integer (the files written before decimals were allowed) or a float.
        let n = v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
        if !n.is_some_and(age_hours_ok) {
            return Err(bad(
                "health",
                "max_backup_age_hours",
                origin,
                v,
                AGE_HOURS_ALLOWED,
            ));
        }
    }
    if let Some(v) = get(table, "health", "min_backup_success_rate") {
        let n = v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
        if !n.is_some_and(|n| (0.0..=1.0).contains(&n)) {
            return Err(bad(
                "health",
                "min_backup_success_rate",
                origin,
                v,
                "a number from 0 to 1",
            ));
        }
    }
    let percent = |key: &str, default: i64| {
        get(table, "health", key)
            .and_then(Value::as_integer)
            .unwrap_or(default)
    };
    if percent("disk_warn_percent", 80) > percent("disk_critical_percent", 90) {
        let v = get(table, "health", "disk_warn_percent")
            .or_else(|| get(table, "health", "disk_critical_percent"))
            .expect("one of them is set when they disagree");
        return Err(bad(
            "health",
            "disk_warn_percent",
            origin,
            v,
            "a percentage no higher than disk_critical_percent",
        ));
    }
    if let Some(v) = get(table, "health", "rpo_minutes") {
        if !v.is_table() {
            return Err(bad(
                "health",
                "rpo_minutes",
                origin,
                v,
                "a table such as { database = 60, filesystem = 1440, configuration = 1440 }",
            ));
        }
    }
    if let Some(v) = get(table, "metrics", "textfile") {
        if !v.is_str() {
            return Err(bad(
                "metrics",
                "textfile",
                origin,
                v,
                "a file path, or \"\" to turn metrics off",
            ));
        }
    }
    if let Some(v) = get(table, "encryption", "encrypt") {
        let ok = v.is_bool() || v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("auto"));
        if !ok {
            return Err(bad(
                "encryption",
                "encrypt",
                origin,
                v,
                EncryptMode::ALLOWED,
            ));
        }
    }
    if let Some(v) = get(table, "sources.database", "format") {
        if !matches!(v.as_str(), Some("custom" | "plain")) {
            return Err(bad(
                "sources.database",
                "format",
                origin,
                v,
                "\"custom\" or \"plain\"",
            ));
        }
    }
    if let Some(v) = get(table, "sources.database", "url") {
        if v.as_str().is_none_or(|s| s.trim().is_empty()) {
            return Err(bad(
                "sources.database",
                "url",
                origin,
                v,
                "a PostgreSQL connection URL such as \"postgres://panel@127.0.0.1:5432/panel\"",
            ));
        }
    }
    if let Some(v) = get(table, "app", "health_url") {
        // Never echo a URL that carries credentials back into an error.
        let authority = v
            .as_str()
            .and_then(|s| s.strip_prefix("http://"))
            .map(|s| s.split('/').next().unwrap_or(""));
        if authority.is_some_and(|a| a.contains('@')) {
            return Err(Error::usage(format!(
                "[app] health_url in {origin} carries credentials (user:password@host), which the health check does not send"
            ))
            .hint("point it at an endpoint that answers without authentication, e.g. http://127.0.0.1:8000/health"));
        }
        let ok = v
            .as_str()
            .is_some_and(|s| s.is_empty() || s.starts_with("http://"));
        if !ok {
            return Err(bad(
                "app",
                "health_url",
                origin,
                v,
                "\"\" or a plain http:// URL such as \"http://127.0.0.1:8000/health\"",
            ));
        }
    }
    for (old, new) in [("email_enabled", "enabled"), ("emails", "recipients")] {
        if let Some(v) = get(table, "alerts", old) {
            return Err(Error::usage(format!(
                "[alerts] {old} in {origin} (= {v}) has moved to [alerts.email] {new}"
            ))
            .hint(format!("write it as:\n  [alerts.email]\n  {new} = {v}")));
        }
    }
    if let Some(v) = get(table, "alerts.email", "recipients") {
        let ok = v
            .as_array()
            .is_some_and(|a| a.iter().all(|e| e.as_str().is_some_and(email_ok)));
        if !ok {
            return Err(bad(
                "alerts.email",
                "recipients",
                origin,
                v,
                "a list of email addresses",
            ));
        }
    }
    Ok(())
}
