//! Environment overrides, applied after the file and before use.
//!
//! The `BACKUP_*` / `MAX_*` / `MIN_*` names are the seed scripts' variables,
//! kept so existing cron lines and `.env` files keep working; `LIFEBOAT_*`
//! are lifeboat's own. Empty values count as unset. Paths are relative to the
//! working directory, as a shell user would expect.

use std::path::Path;
use std::str::FromStr;

use crate::archive::manifest::Compression;
use crate::error::{Error, Result};

use super::check::{age_hours_ok, email_ok, level_allowed, level_ok, AGE_HOURS_ALLOWED};
use super::{normalize, Config, EncryptMode};

fn bad(var: &str, value: &str, allowed: &str) -> Error {
    Error::usage(format!(
        "invalid {var} from the environment: {value:?} (allowed: {allowed})"
    ))
    .hint(format!("fix or unset the environment variable {var}"))
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

pub(crate) fn apply(
    config: &mut Config,
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
) -> Result<()> {
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());

    if let Some(v) = get("LIFEBOAT_REPOSITORY") {
        config.repository.path = normalize(Path::new(v.trim()), cwd);
    }
    if let Some(v) = get("LIFEBOAT_CATALOG") {
        config.catalog.path = normalize(Path::new(v.trim()), cwd);
    }
    if let Some(v) = get("LIFEBOAT_KEY_FILE") {
        config.encryption.key_file = normalize(Path::new(v.trim()), cwd);
    }
    if let Some(v) = get("LIFEBOAT_ENCRYPT") {
        config.encryption.encrypt = EncryptMode::from_str(&v)
            .map_err(|_| bad("LIFEBOAT_ENCRYPT", &v, "auto, true or false"))?;
    }
    if let Some(v) = get("BACKUP_COMPRESSION") {
        let alg = Compression::from_str(v.trim())
            .map_err(|_| bad("BACKUP_COMPRESSION", &v, "gzip, gz, zstd, bz2, none"))?;
        let c = &mut config.compression;
        // The file's level belongs to the file's algorithm: keep it only if it
        // was deliberately set and still fits the new one.
        if alg != c.algorithm
            && (c.level == c.algorithm.default_level() || !level_ok(alg, c.level.into()))
        {
            c.level = alg.default_level();
        }
        c.algorithm = alg;
    }
    if let Some(v) = get("LIFEBOAT_COMPRESSION_LEVEL") {
        let alg = config.compression.algorithm;
        config.compression.level = v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| level_ok(alg, *n))
            .map(|n| n as i32)
            .ok_or_else(|| bad("LIFEBOAT_COMPRESSION_LEVEL", &v, &level_allowed(alg)))?;
    }
    if let Some(v) = get("MAX_BACKUP_AGE_HOURS") {
        config.health.max_backup_age_hours = v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|h| age_hours_ok(*h))
            .ok_or_else(|| bad("MAX_BACKUP_AGE_HOURS", &v, AGE_HOURS_ALLOWED))?;
    }
    if let Some(v) = get("MIN_BACKUP_SUCCESS_RATE") {
        config.health.min_backup_success_rate = v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| (0.0..=1.0).contains(n))
            .ok_or_else(|| bad("MIN_BACKUP_SUCCESS_RATE", &v, "a number from 0 to 1"))?;
    }
    if let Some(v) = get("BACKUP_EMAIL_ALERTS") {
        config.alerts.email.enabled = parse_bool(&v)
            .ok_or_else(|| bad("BACKUP_EMAIL_ALERTS", &v, "true, false, 1, 0, yes, no"))?;
    }
    if let Some(v) = get("BACKUP_ALERT_EMAILS") {
        let emails: Vec<String> = v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        if !emails.iter().all(|e| email_ok(e)) {
            return Err(bad(
                "BACKUP_ALERT_EMAILS",
                &v,
                "comma-separated email addresses",
            ));
        }
        config.alerts.email.recipients = emails;
    }
    if let Some(v) = get("LIFEBOAT_DATABASE_URL") {
        config.sources.database.url = Some(v.trim().to_string());
    }
    Ok(())
}
