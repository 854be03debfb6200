//! `lifeboat health`, `lifeboat storage`, and the drill's report.
//!
//! Neither opens an [`Engine`](lifeboat_engine::ops::Engine): that would create a
//! missing repository or catalog, and a health check must report a missing
//! repository, not paper over it.

use lifeboat_engine::catalog::Catalog;
use lifeboat_engine::config::Config;
use lifeboat_engine::error::{Error, Result};
use lifeboat_engine::health::checks::{bytes, human};
use lifeboat_engine::health::{self, HealthReport, Status};

/// Open the catalog if it exists; `Err` says why it cannot be used.
fn open_catalog(config: &Config) -> std::result::Result<Catalog, String> {
    let p = &config.catalog.path;
    if !p.exists() {
        return Err(format!(
            "{} does not exist (a new installation, or the catalog was lost)",
            p.display()
        ));
    }
    Catalog::open(p).map_err(|e| e.message)
}

/// Evaluate, print, and return the Nagios exit code.
pub fn health(config: &Config, json: bool) -> Result<i32> {
    let now = lifeboat_engine::ops::now();
    let (report, catalog) = match open_catalog(config) {
        Ok(c) => (health::evaluate(config, &c, now), Some(c)),
        Err(why) => (health::evaluate_without_catalog(config, &why, now), None),
    };
    health::metrics::after_health(config, catalog.as_ref(), &report);
    if json {
        super::show::print_json(&report);
    } else {
        print_report(&report);
    }
    Ok(report.verdict.exit_code())
}

fn word(s: Status) -> &'static str {
    match s {
        Status::Ok => "OK",
        Status::Warning => "WARNING",
        Status::Critical => "CRITICAL",
    }
}

fn print_report(r: &HealthReport) {
    let count = |s: Status| r.checks.iter().filter(|c| c.status == s).count();
    outln!(
        "HEALTH {}: {} checks, {} ok, {} warning, {} critical ({})",
        word(r.verdict),
        r.checks.len(),
        count(Status::Ok),
        count(Status::Warning),
        count(Status::Critical),
        r.evaluated_at
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S %Z")
    );
    let width = r.checks.iter().map(|c| c.title.len()).max().unwrap_or(10);
    for c in &r.checks {
        outln!(
            "{:<8} {:<width$}  {}{}",
            word(c.status),
            c.title,
            c.value,
            if c.threshold.is_empty() {
                String::new()
            } else {
                format!("  [limit: {}]", c.threshold)
            }
        );
        if !c.advice.is_empty() {
            outln!("{:<8} {:<width$}  -> {}", "", "", c.advice);
        }
    }
}

/// Print the storage report.
pub fn storage(config: &Config, json: bool) -> Result<i32> {
    let catalog = open_catalog(config).map_err(|why| {
        Error::not_found(format!("cannot read the catalog: {why}"))
            .hint("run `lifeboat catalog rebuild` to rebuild it from the repository")
    })?;
    let r = health::storage(config, &catalog, lifeboat_engine::ops::now())?;
    if json {
        super::show::print_json(&r);
        return Ok(0);
    }
    outln!(
        "repository {}: disk {} free of {} ({:.0}% used)",
        r.repository.display(),
        bytes(r.disk_free),
        bytes(r.disk_total),
        r.disk().used_percent()
    );
    outln!("\n{:<16} {:>8} {:>12}", "TYPE", "BACKUPS", "STORED");
    for (t, n, b) in &r.per_type {
        outln!("{:<16} {:>8} {:>12}", t.as_str(), n, bytes(*b));
    }
    outln!("\n{:<50} {:>8} {:>12}", "TARGET", "BACKUPS", "STORED");
    for (t, n, b) in &r.per_target {
        outln!("{:<50} {:>8} {:>12}", t, n, bytes(*b));
    }
    if !r.targets.is_empty() {
        outln!(
            "\n{:<12} {:>7} {:>12} {:>8} {:>6} {:>7}  WHERE",
            "COPY TARGET",
            "COPIES",
            "STORED",
            "VERIFIED",
            "FAILED",
            "MISSING"
        );
        for t in &r.targets {
            outln!(
                "{:<12} {:>7} {:>12} {:>8} {:>6} {:>7}  {}{}{}",
                t.name,
                t.copies,
                bytes(t.bytes),
                t.verified,
                t.failed,
                t.missing,
                t.location,
                if t.offsite { " (offsite)" } else { "" },
                if t.append_only { " (append-only)" } else { "" }
            );
        }
        for v in &r.verdicts {
            outln!("{:<14} {}", v.backup_type.as_str(), v.verdict);
        }
    }
    let first = r.daily_totals.first().map(|d| d.1).unwrap_or(0);
    let last = r.daily_totals.last().map(|d| d.1).unwrap_or(0);
    outln!(
        "\nstored: {} now, {} {} days ago",
        bytes(last),
        bytes(first),
        r.daily_totals.len().saturating_sub(1)
    );
    match r.days_until_full {
        Some(d) if d > 36_500.0 => outln!(
            "at the growth of the last {} days the disk is full in more than 100 years",
            health::storage::GROWTH_DAYS
        ),
        Some(d) => outln!(
            "at the growth of the last {} days the disk is full in {} ({d:.0} days)",
            health::storage::GROWTH_DAYS,
            human((d * 86_400.0).min(1e12) as i64)
        ),
        None => outln!(
            "not growing over the last {} days: no full-disk date",
            health::storage::GROWTH_DAYS
        ),
    }
    Ok(0)
}
