//! The individual checks. Each one turns a fact (from the catalog, the
//! repository's disk, the key file, PostgreSQL) into a [`Check`] with a
//! status, what was measured, the threshold, and what to do about it.
//!
//! None of them returns an error: a fact that cannot be read becomes a
//! check that says why, so one broken part never hides the others.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Check, Status};
use crate::archive::manifest::BackupType;
use crate::catalog::{Catalog, JobKind, JobState};
use crate::config::{Config, EncryptMode};

/// Longest a health run waits for PostgreSQL.
pub const PG_TIMEOUT: Duration = Duration::from_secs(3);
/// Disk days-left below this is critical.
pub const DAYS_LEFT_CRITICAL: f64 = 7.0;
/// Disk days-left below this is a warning.
pub const DAYS_LEFT_WARNING: f64 = 30.0;

/// How much to evaluate. `Quick` skips what is slow or touches other
/// systems (PostgreSQL, `quick_check`, the audit chains): it is what runs
/// after every job to refresh the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    Full,
    Quick,
}

/// Ids of the checks that only a full evaluation runs.
pub const FULL_ONLY: [&str; 3] = ["catalog", "audit", "postgres"];

/// What every check reads.
pub struct Ctx<'a> {
    pub config: &'a Config,
    pub catalog: Option<&'a Catalog>,
    pub now: DateTime<Utc>,
}

fn check(
    id: &str,
    title: &str,
    status: Status,
    value: impl Into<String>,
    threshold: impl Into<String>,
    advice: impl Into<String>,
) -> Check {
    Check {
        id: id.to_string(),
        title: title.to_string(),
        status,
        value: value.into(),
        threshold: threshold.into(),
        advice: if status == Status::Ok {
            String::new()
        } else {
            advice.into()
        },
    }
}

/// A check whose facts could not be read: a warning that says why.
fn unknown(id: &str, title: &str, why: &str, advice: &str) -> Check {
    check(
        id,
        title,
        Status::Warning,
        format!("{}{why}", super::CANNOT_EVALUATE),
        "",
        advice,
    )
}

/// "3d 4h", "5h 02m", "12m 00s", "40s".
pub fn human(secs: i64) -> String {
    crate::units::duration(secs)
}

/// Bytes as "1.2 GiB".
pub fn bytes(n: u64) -> String {
    crate::units::size(n)
}

/// The catalog, or the check that says it is not there.
#[allow(clippy::result_large_err)] // built once per check, never propagated far
fn need_catalog<'a>(ctx: &Ctx<'a>, id: &str, title: &str) -> Result<&'a Catalog, Check> {
    ctx.catalog.ok_or_else(|| {
        unknown(
            id,
            title,
            "the catalog is not available (see the catalog check)",
            "fix the catalog first",
        )
    })
}

// ---------------------------------------------------------------- freshness

/// Last good backup of each configured type against `max_backup_age_hours`.
pub fn backup_age(ctx: &Ctx, types: &[BackupType]) -> Vec<Check> {
    let max_h = ctx.config.health.max_backup_age_hours;
    // In seconds, so a fraction of an hour (0.5: 30 minutes) counts.
    let max_secs = (max_h * 3600.0).round() as i64;
    if types.is_empty() {
        return vec![check(
            "backup_age",
            "Backups configured",
            Status::Warning,
            "nothing is configured to back up",
            "",
            "configure [sources.database], [sources.filesystem] or [sources.configuration] in the config file",
        )];
    }
    types
        .iter()
        .map(|&t| {
            let id = format!("backup_age.{t}");
            let title = format!("Last good {t} backup");
            let catalog = match need_catalog(ctx, &id, &title) {
                Ok(c) => c,
                Err(c) => return c,
            };
            let threshold = format!("{max_h}h (critical at {}h)", 2.0 * max_h);
            match catalog.last_good_backup(t, ctx.now) {
                Err(e) => unknown(&id, &title, &e.message, "run `lifeboat list` to see the catalog's error"),
                Ok(None) => check(
                    &id,
                    &title,
                    Status::Critical,
                    "none",
                    threshold,
                    format!("there is no good {t} backup: run `lifeboat backup --type {t}`"),
                ),
                Ok(Some(b)) => {
                    let age = (ctx.now - b.created_at).num_seconds();
                    let status = if age > 2 * max_secs {
                        Status::Critical
                    } else if age > max_secs {
                        Status::Warning
                    } else {
                        Status::Ok
                    };
                    check(
                        &id,
                        &title,
                        status,
                        format!("{} ago ({})", human(age), b.id),
                        threshold,
                        format!(
                            "the newest good {t} backup is {} old: run `lifeboat backup --type {t}` and check why scheduled backups stopped (`lifeboat status`)",
                            human(age)
                        ),
                    )
                }
            }
        })
        .collect()
}

/// Success rate of backup jobs over the window.
pub fn success_rate(ctx: &Ctx) -> Check {
    let (id, title) = ("success_rate", "Backup success rate");
    let h = &ctx.config.health;
    let catalog = match need_catalog(ctx, id, title) {
        Ok(c) => c,
        Err(c) => return c,
    };
    let days = i64::from(h.success_window_days);
    let since = ctx.now - chrono::Duration::days(days);
    let threshold = format!("{:.0}% over {days} days", h.min_backup_success_rate * 100.0);
    let o = match catalog.job_outcomes(&JobKind::Backup, None, since, ctx.now) {
        Ok(o) => o,
        Err(e) => {
            return unknown(
                id,
                title,
                &e.message,
                "run `lifeboat status` to see the catalog's error",
            )
        }
    };
    let Some(rate) = o.rate() else {
        return check(
            id,
            title,
            Status::Ok,
            format!("no backup jobs in the last {days} days"),
            threshold,
            "",
        );
    };
    let failed = o.failed + o.interrupted;
    // Twice the allowed failure share is critical (0.95 -> below 0.90).
    let critical_below = 1.0 - 2.0 * (1.0 - h.min_backup_success_rate);
    let status = if rate + 1e-9 < critical_below {
        Status::Critical
    } else if rate + 1e-9 < h.min_backup_success_rate {
        Status::Warning
    } else {
        Status::Ok
    };
    check(
        id,
        title,
        status,
        format!(
            "{:.1}% ({} of {} jobs succeeded, {failed} failed or interrupted)",
            rate * 100.0,
            o.counted() - failed,
            o.counted()
        ),
        threshold,
        format!(
            "{failed} backup job(s) failed or were interrupted in the last {days} days: read their errors with `lifeboat status` and `lifeboat status JOB_ID`"
        ),
    )
}

// ---------------------------------------------------------------- objectives

/// What the schedule can achieve at best for a type (the interval between
/// two scheduled backups): the longest gap between two scheduled runs that
/// back up `t`. `None` when the type is not scheduled or the schedule is
/// invalid (`lifeboat schedule` says why).
pub fn schedule_best_rpo(config: &Config, t: BackupType, now: DateTime<Utc>) -> Option<Duration> {
    let types = config.configured_types();
    let schedule = crate::schedule::Schedule::from_config(config, &types).ok()?;
    schedule.worst_gap(t, now)?.to_std().ok()
}

/// Whether a schedule that leaves `gap` between two backups can meet an
/// RPO of `rpo_minutes` (`None`: not known, so no verdict).
pub fn schedule_meets_rpo(gap: Option<Duration>, rpo_minutes: u32) -> Option<bool> {
    gap.map(|g| g.as_secs() <= u64::from(rpo_minutes) * 60)
}

/// Newest good backup age against each type's RPO.
pub fn rpo(ctx: &Ctx, types: &[BackupType]) -> Vec<Check> {
    types
        .iter()
        .filter_map(|&t| ctx.config.health.rpo_minutes.minutes(t).map(|m| (t, m)))
        .map(|(t, minutes)| {
            let id = format!("rpo.{t}");
            let title = format!("Recovery point objective ({t})");
            let catalog = match need_catalog(ctx, &id, &title) {
                Ok(c) => c,
                Err(c) => return c,
            };
            let gap = schedule_best_rpo(ctx.config, t, ctx.now);
            let schedule = match gap {
                Some(d) => format!("; the schedule achieves {} at best", human(d.as_secs() as i64)),
                None => "; not scheduled (see `lifeboat schedule`)".into(),
            };
            let threshold = format!("{}{schedule}", human(i64::from(minutes) * 60));
            match catalog.last_good_backup(t, ctx.now) {
                Err(e) => unknown(&id, &title, &e.message, "run `lifeboat list` to see the catalog's error"),
                Ok(None) => check(
                    &id,
                    &title,
                    Status::Critical,
                    "no good backup: everything would be lost",
                    threshold,
                    format!("run `lifeboat backup --type {t}`"),
                ),
                Ok(Some(b)) => {
                    let age = (ctx.now - b.created_at).num_seconds();
                    let late = age > i64::from(minutes) * 60;
                    let schedule_short = schedule_meets_rpo(gap, minutes) == Some(false);
                    let status = if late || schedule_short {
                        Status::Warning
                    } else {
                        Status::Ok
                    };
                    let advice = if late {
                        format!(
                            "a disaster now would lose {} of {t} changes: back up {t} more often (`lifeboat backup --type {t}` from cron) or raise [health.rpo_minutes] {t}",
                            human(age)
                        )
                    } else {
                        format!(
                            "the schedule leaves up to {} between {t} backups, more than the objective: schedule {t} backups at least every {} or raise [health.rpo_minutes] {t}",
                            human(gap.map(|g| g.as_secs() as i64).unwrap_or(0)),
                            human(i64::from(minutes) * 60)
                        )
                    };
                    check(
                        &id,
                        &title,
                        status,
                        format!("{} of data at risk", human(age)),
                        threshold,
                        advice,
                    )
                }
            }
        })
        .collect()
}

/// Last measured recovery time against `rto_minutes`.
pub fn rto(ctx: &Ctx) -> Check {
    let (id, title) = ("rto", "Recovery time objective");
    let catalog = match need_catalog(ctx, id, title) {
        Ok(c) => c,
        Err(c) => return c,
    };
    let limit = i64::from(ctx.config.health.rto_minutes) * 60;
    let threshold = format!("{} (critical at {})", human(limit), human(2 * limit));
    let mut measured: Vec<(DateTime<Utc>, f64, String)> = Vec::new();
    let mut errors = Vec::new();
    for kind in [JobKind::Drill, JobKind::Restore] {
        match catalog.last_finished_job(&kind, &JobState::GOOD, ctx.now) {
            Ok(Some(j)) => {
                if let (Some(at), Some(s)) = (j.finished_at, j.seconds()) {
                    measured.push((at, s, format!("{kind} job {}", j.id)));
                }
            }
            Ok(None) => {}
            Err(e) => errors.push(e.message),
        }
    }
    match catalog.recently_verified(BackupType::Database, 20, ctx.now) {
        Ok(files) => {
            if let Some((at, secs)) = files.iter().find_map(|(file, _)| {
                crate::storage::sidecar::read_sidecar(Path::new(file))
                    .and_then(|v| v.restore_seconds.map(|s| (v.at, s)))
            }) {
                measured.push((at, secs, "verify --deep of a database backup".into()));
            }
        }
        Err(e) => errors.push(e.message),
    }
    let Some((at, secs, source)) = measured.into_iter().max_by_key(|m| m.0) else {
        if !errors.is_empty() {
            return unknown(
                id,
                title,
                &errors.join("; "),
                "run `lifeboat status` to see the catalog's error",
            );
        }
        return check(
            id,
            title,
            Status::Warning,
            "never measured",
            threshold,
            "never measured: run lifeboat verify --deep or lifeboat drill",
        );
    };
    let s = secs.round() as i64;
    let status = if s > 2 * limit {
        Status::Critical
    } else if s > limit {
        Status::Warning
    } else {
        Status::Ok
    };
    check(
        id,
        title,
        status,
        format!("{} (by {source}, {} ago)", human(s), human((ctx.now - at).num_seconds())),
        threshold,
        format!(
            "the last measured recovery took {}, longer than the objective: restore in parallel (`restore --jobs`), move the repository to faster storage, or raise [health] rto_minutes",
            human(s)
        ),
    )
}

// ---------------------------------------------------------------- evidence

/// Newest successful verification, and whether the newest one failed.
pub fn verify_age(ctx: &Ctx) -> Check {
    let (id, title) = ("verify_age", "Last verification");
    let catalog = match need_catalog(ctx, id, title) {
        Ok(c) => c,
        Err(c) => return c,
    };
    let days = i64::from(ctx.config.health.max_verify_age_days);
    let threshold = format!("{days}d");
    let newest = catalog.last_verification(false, ctx.now);
    let good = catalog.last_verification(true, ctx.now);
    let (newest, good) = match (newest, good) {
        (Ok(n), Ok(g)) => (n, g),
        (Err(e), _) | (_, Err(e)) => {
            return unknown(
                id,
                title,
                &e.message,
                "run `lifeboat list` to see the catalog's error",
            )
        }
    };
    if let Some(n) = newest.as_ref().filter(|n| n.result != "ok") {
        return check(
            id,
            title,
            Status::Critical,
            format!(
                "backup {} FAILED verification {} ago: {}",
                n.id,
                human((ctx.now - n.at).num_seconds()),
                n.result
            ),
            threshold,
            format!(
                "backup {} cannot be trusted: take a new {} backup (`lifeboat backup --type {}`), then find out what damaged it (disk errors, tampering: `lifeboat audit verify`)",
                n.id, n.backup_type, n.backup_type
            ),
        );
    }
    let good = good.map(|v| (v.at, v.id));
    let never = (
        "never verified",
        "no backup was ever verified: run `lifeboat verify ID` (ids from `lifeboat list`), or `lifeboat drill`",
    );
    evidence_age(ctx, (id, title), days, good, never, |age| {
        format!("the last successful verification was {age} ago: run `lifeboat verify ID` on the newest backups")
    })
}

/// The newest good piece of evidence (`at`, what it was) against a limit of
/// `days`: ok while younger, a warning when older or when there is none.
fn evidence_age(
    ctx: &Ctx,
    (id, title): (&str, &str),
    days: i64,
    good: Option<(DateTime<Utc>, String)>,
    (never_value, never_advice): (&str, &str),
    stale_advice: impl Fn(&str) -> String,
) -> Check {
    let threshold = format!("{days}d");
    let Some((at, what)) = good else {
        return check(
            id,
            title,
            Status::Warning,
            never_value,
            threshold,
            never_advice,
        );
    };
    let age = (ctx.now - at).num_seconds();
    let status = if age > days * 86_400 {
        Status::Warning
    } else {
        Status::Ok
    };
    check(
        id,
        title,
        status,
        format!("{} ago ({what})", human(age)),
        threshold,
        stale_advice(&human(age)),
    )
}

/// Newest successful drill, and whether the newest one failed.
pub fn drill_age(ctx: &Ctx) -> Check {
    let (id, title) = ("drill_age", "Last recovery drill");
    let catalog = match need_catalog(ctx, id, title) {
        Ok(c) => c,
        Err(c) => return c,
    };
    let days = i64::from(ctx.config.health.max_drill_age_days);
    let threshold = format!("{days}d");
    let newest = catalog.last_finished_job(
        &JobKind::Drill,
        &[
            JobState::Succeeded,
            JobState::SucceededWithWarnings,
            JobState::Failed,
            JobState::Interrupted,
        ],
        ctx.now,
    );
    let good = catalog.last_finished_job(&JobKind::Drill, &JobState::GOOD, ctx.now);
    let (newest, good) = match (newest, good) {
        (Ok(n), Ok(g)) => (n, g),
        (Err(e), _) | (_, Err(e)) => {
            return unknown(
                id,
                title,
                &e.message,
                "run `lifeboat status` to see the catalog's error",
            )
        }
    };
    if let Some(n) = newest.as_ref().filter(|n| !n.state.is_success()) {
        let when = n
            .finished_at
            .map(|f| human((ctx.now - f).num_seconds()))
            .unwrap_or_default();
        return check(
            id,
            title,
            Status::Critical,
            format!(
                "drill job {} {} {when} ago: {}",
                n.id,
                n.state,
                n.error.clone().unwrap_or_default()
            ),
            threshold,
            format!(
                "the last recovery drill did not succeed, so a real recovery may not either: read `lifeboat status {}`, fix the cause, and run `lifeboat drill` again",
                n.id
            ),
        );
    }
    let good = good.map(|j| (j.finished_at.unwrap_or(ctx.now), format!("job {}", j.id)));
    let never = (
        "never drilled",
        "recovery was never rehearsed: run `lifeboat drill` (it restores into a sandbox, never over production)",
    );
    evidence_age(ctx, (id, title), days, good, never, |age| {
        format!("the last recovery drill was {age} ago: run `lifeboat drill`")
    })
}

// ---------------------------------------------------------------- places

/// Repository directory present and writable.
pub fn repository(ctx: &Ctx) -> Check {
    let (id, title) = ("repository", "Repository");
    let root = &ctx.config.repository.path;
    let shown = root.display();
    match std::fs::metadata(root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => check(
            id,
            title,
            Status::Critical,
            format!("{shown} does not exist"),
            "present and writable",
            format!(
                "the repository {shown} is missing: mount the backup disk, or fix [repository] path in the config; if this is a new installation, `lifeboat backup --all` creates it"
            ),
        ),
        Err(e) => check(
            id,
            title,
            Status::Critical,
            format!("{shown} cannot be read: {e}"),
            "present and writable",
            format!("check the permissions of {shown} and the user lifeboat runs as"),
        ),
        Ok(m) if !m.is_dir() => check(
            id,
            title,
            Status::Critical,
            format!("{shown} is not a directory"),
            "present and writable",
            "point [repository] path at a directory",
        ),
        Ok(_) => {
            let c = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(root.as_os_str()));
            // SAFETY: access only reads the NUL-terminated path.
            let writable = c.is_ok_and(|c| unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0);
            if writable {
                check(id, title, Status::Ok, format!("{shown} is writable"), "present and writable", "")
            } else {
                check(
                    id,
                    title,
                    Status::Critical,
                    format!("{shown} is not writable: {}", std::io::Error::last_os_error()),
                    "present and writable",
                    format!("backups cannot be written: remount {shown} read-write or fix its owner and permissions"),
                )
            }
        }
    }
}

/// Free space on the repository's disk and days left at the current growth.
pub fn disk(ctx: &Ctx, growth: Option<(f64, Option<f64>)>) -> Check {
    let (id, title) = ("disk", "Repository disk space");
    let h = &ctx.config.health;
    let root = &ctx.config.repository.path;
    let mount = super::disk::mount_point(root);
    let threshold = format!(
        "{}% used (critical at {}%); {} days left (critical at {})",
        h.disk_warn_percent, h.disk_critical_percent, DAYS_LEFT_WARNING, DAYS_LEFT_CRITICAL
    );
    let space = match super::disk::space(root) {
        Ok(s) => s,
        Err(e) => {
            return unknown(
                id,
                title,
                &format!("statvfs {}: {e}", root.display()),
                "check that the repository's disk is mounted",
            )
        }
    };
    let used = space.used_percent();
    let mut status = if used >= f64::from(h.disk_critical_percent) {
        Status::Critical
    } else if used >= f64::from(h.disk_warn_percent) {
        Status::Warning
    } else {
        Status::Ok
    };
    let days_left = growth.and_then(|g| g.1);
    if let Some(d) = days_left {
        if d < DAYS_LEFT_CRITICAL {
            status = status.max(Status::Critical);
        } else if d < DAYS_LEFT_WARNING {
            status = status.max(Status::Warning);
        }
    }
    let left = match (growth, days_left) {
        (Some((rate, _)), Some(d)) if d > 36_500.0 => format!(
            "; growing {}/day, full in more than 100 years",
            bytes(rate as u64)
        ),
        (Some((rate, _)), Some(d)) => {
            format!("; full in {d:.0} days at {}/day", bytes(rate as u64))
        }
        (Some(_), None) => "; not growing".to_string(),
        (None, _) => String::new(),
    };
    check(
        id,
        title,
        status,
        format!(
            "{used:.0}% used on {} ({} free of {}){left}",
            mount.display(),
            bytes(space.free),
            bytes(space.total)
        ),
        threshold,
        format!(
            "free space on {} or lower retention ([retention] in the config; `lifeboat storage` shows what uses the space)",
            mount.display()
        ),
    )
}

/// Key file present, loadable and 0600 when encryption is in use.
pub fn key_file(ctx: &Ctx) -> Check {
    let (id, title) = ("key_file", "Encryption key file");
    let path = &ctx.config.encryption.key_file;
    let shown = path.display();
    let encrypted_backups = ctx
        .catalog
        .map(|c| c.has_encrypted_backups().unwrap_or(true))
        .unwrap_or(false);
    let needed = ctx.config.encryption.encrypt == EncryptMode::Always || encrypted_backups;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return if needed {
                check(
                    id,
                    title,
                    Status::Critical,
                    format!("{shown} is missing"),
                    "present, readable, mode 0600",
                    format!(
                        "{}: put the key file back at {shown} from your offline copy (it is never stored in the repository)",
                        if encrypted_backups {
                            "encrypted backups cannot be restored without it"
                        } else {
                            "encryption is required ([encryption] encrypt = true) and backups will fail"
                        }
                    ),
                )
            } else {
                check(id, title, Status::Ok, "no encryption in use (no key file, no encrypted backups)", "present when encryption is used", "")
            };
        }
        Err(e) => {
            return check(
                id,
                title,
                if needed { Status::Critical } else { Status::Warning },
                format!("{shown} cannot be read: {e}"),
                "present, readable, mode 0600",
                format!("fix the permissions of {shown} so that the user lifeboat runs as can read it (mode 0600)"),
            )
        }
    };
    if let Err(e) = crate::archive::keys::KeyRing::load(path) {
        return check(
            id,
            title,
            Status::Critical,
            format!("{shown} is not usable: {}", e.message),
            "present, readable, mode 0600",
            e.hint
                .unwrap_or_else(|| format!("restore {shown} from your offline copy")),
        );
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return check(
            id,
            title,
            Status::Warning,
            format!("{shown} has mode {mode:04o}: other users can read it"),
            "mode 0600",
            format!("run `chmod 600 {shown}`"),
        );
    }
    check(
        id,
        title,
        Status::Ok,
        format!("{shown} (mode {mode:04o})"),
        "present, readable, mode 0600",
        "",
    )
}

// ---------------------------------------------------------------- integrity

/// `PRAGMA quick_check` of the catalog.
pub fn catalog(ctx: &Ctx, open_error: Option<&str>) -> Check {
    let (id, title) = ("catalog", "Catalog integrity");
    let p = ctx.config.catalog.path.display();
    let rebuild = format!(
        "move it aside (mv {p} {p}.broken) and run `lifeboat catalog rebuild` to rebuild it from the repository's manifests"
    );
    if let Some(err) = open_error {
        return check(
            id,
            title,
            Status::Critical,
            format!("cannot open {p}: {err}"),
            "quick_check ok",
            rebuild,
        );
    }
    let Some(catalog) = ctx.catalog else {
        return unknown(
            id,
            title,
            "the catalog was not opened",
            "run `lifeboat health` again; if it persists, run `lifeboat catalog rebuild`",
        );
    };
    match catalog.quick_check() {
        Ok(s) if s == "ok" => check(
            id,
            title,
            Status::Ok,
            "quick_check ok",
            "quick_check ok",
            "",
        ),
        Ok(s) => check(
            id,
            title,
            Status::Critical,
            format!("damaged: {s}"),
            "quick_check ok",
            rebuild,
        ),
        Err(e) => check(
            id,
            title,
            Status::Critical,
            format!("cannot be checked: {}", e.message),
            "quick_check ok",
            rebuild,
        ),
    }
}

/// Hash chains of the catalog's audit log and of the repository's copy.
pub fn audit(ctx: &Ctx) -> Check {
    let (id, title) = ("audit", "Audit log hash chain");
    let catalog = match need_catalog(ctx, id, title) {
        Ok(c) => c,
        Err(c) => return c,
    };
    let threshold = "both copies intact and equal";
    let advice_tamper = "the audit log was changed after it was written: run `lifeboat audit verify` for the rows concerned and investigate who had write access";
    let cat = match catalog.verify_audit() {
        Ok(c) => c,
        Err(e) => return unknown(id, title, &e.message, "run `lifeboat audit verify`"),
    };
    if !cat.ok {
        return check(
            id,
            title,
            Status::Critical,
            format!(
                "catalog copy TAMPERED: {}",
                cat.problems
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            threshold,
            advice_tamper,
        );
    }
    let repo = crate::storage::local::Repository {
        root: ctx.config.repository.path.clone(),
    };
    let path = repo.audit_log_path();
    if !path.exists() {
        if cat.rows == 0 {
            return check(id, title, Status::Ok, "empty", threshold, "");
        }
        return check(
            id,
            title,
            Status::Warning,
            format!("catalog copy intact ({} rows); the repository copy {} is missing", cat.rows, path.display()),
            threshold,
            "the repository's copy of the audit log is gone (repository replaced or not mounted?): check [repository] path; `lifeboat audit verify` compares both",
        );
    }
    let jl = match crate::catalog::verify_jsonl(&path) {
        Ok(c) => c,
        Err(e) => return unknown(id, title, &e.message, "run `lifeboat audit verify`"),
    };
    if !jl.ok {
        return check(
            id,
            title,
            Status::Critical,
            format!(
                "repository copy TAMPERED: {}",
                jl.problems
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            threshold,
            advice_tamper,
        );
    }
    if jl.rows != cat.rows {
        return check(
            id,
            title,
            Status::Critical,
            format!(
                "the copies differ: catalog {} rows, repository {} rows",
                cat.rows, jl.rows
            ),
            threshold,
            "rows were removed from one copy: run `lifeboat audit verify` and investigate",
        );
    }
    check(
        id,
        title,
        Status::Ok,
        format!("{} rows, intact in both copies", cat.rows),
        threshold,
        "",
    )
}

/// PostgreSQL reachable (and the configured databases present).
pub fn postgres(ctx: &Ctx) -> Option<Check> {
    let (id, title) = ("postgres", "PostgreSQL reachable");
    let db = &ctx.config.sources.database;
    let url = db.url.as_deref()?;
    let threshold = format!("answers within {}s", PG_TIMEOUT.as_secs());
    let info = match crate::sources::database::ConnInfo::parse(url) {
        Ok(i) => i,
        Err(e) => {
            return Some(check(
                id,
                title,
                Status::Critical,
                e.message,
                threshold,
                e.hint
                    .unwrap_or_else(|| "fix [sources.database] url".into()),
            ))
        }
    };
    let pg = match crate::sources::database::Pg::connect(&info, PG_TIMEOUT) {
        Ok(pg) => pg,
        Err(e) => {
            return Some(check(
                id,
                title,
                Status::Critical,
                e.message.clone(),
                threshold,
                format!(
                    "database backups will fail: {}",
                    e.hint
                        .unwrap_or_else(|| "check that PostgreSQL is running and reachable".into())
                ),
            ))
        }
    };
    let version = pg
        .server_version()
        .map(|v| v.text)
        .unwrap_or_else(|_| "unknown version".into());
    if !db.databases.is_empty() {
        match pg.list_databases() {
            Ok(all) => {
                let missing: Vec<&String> =
                    db.databases.iter().filter(|d| !all.contains(d)).collect();
                if !missing.is_empty() {
                    return Some(check(
                        id,
                        title,
                        Status::Critical,
                        format!(
                            "{} answers, but database(s) {} do not exist",
                            info.server(),
                            missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                        threshold,
                        "fix [sources.database] databases, or recover the missing database (`lifeboat restore --type database`)",
                    ));
                }
            }
            Err(e) => {
                return Some(unknown(
                    id,
                    title,
                    &e.message,
                    "check the permissions of the configured user",
                ))
            }
        }
    }
    Some(check(
        id,
        title,
        Status::Ok,
        format!("{} answers (PostgreSQL {version})", info.describe()),
        threshold,
        "",
    ))
}

/// Copies: each type's newest good backup has the copies its `[copies]`
/// policy requires (the repository's counted). Only with `[[targets]]`.
pub fn copies(ctx: &Ctx, types: &[BackupType]) -> Option<Check> {
    let (id, title) = ("copies", "Offsite copies");
    if ctx.config.targets.is_empty() {
        return None;
    }
    let Some(catalog) = ctx.catalog else {
        return Some(unknown(
            id,
            title,
            "no catalog",
            "rebuild the catalog (`lifeboat catalog rebuild`)",
        ));
    };
    let mut parts = Vec::new();
    let mut short = Vec::new();
    for &t in types {
        let required = ctx.config.required_copies(t);
        let newest = match catalog.last_good_backup(t, ctx.now) {
            Ok(Some(b)) => b,
            Ok(None) => continue,
            Err(e) => return Some(unknown(id, title, &e.message, "check the catalog")),
        };
        let copies = match catalog.copies_of(&newest.id) {
            Ok(c) => c,
            Err(e) => return Some(unknown(id, title, &e.message, "check the catalog")),
        };
        let have = 1 + copies
            .iter()
            .filter(|c| c.state.counts() && ctx.config.targets.iter().any(|t| t.name == c.target))
            .count() as u32;
        parts.push(format!("{t} {have}/{required}"));
        if have < required {
            let why: Vec<String> = copies
                .iter()
                .filter(|c| !c.state.counts())
                .map(|c| format!("{} {}", c.target, c.state.as_str()))
                .collect();
            short.push(format!(
                "{t} backup {} has {have} of {required} copies{}",
                newest.id,
                if why.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", why.join(", "))
                }
            ));
        }
    }
    let value = if parts.is_empty() {
        "no backups yet".to_string()
    } else {
        parts.join(", ")
    };
    let status = if short.is_empty() {
        Status::Ok
    } else {
        Status::Warning
    };
    Some(check(
        id,
        title,
        status,
        if short.is_empty() { value } else { short.join("; ") },
        "each type's newest backup has its [copies] required copies",
        "`lifeboat copies` shows where each copy is and why one failed; fix the target, then `lifeboat copy` (the daemon retries by itself)",
    ))
}
