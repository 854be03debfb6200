//! The verbs that work on an open engine, one function each: what the
//! CLI prints for them and the exit code. `cli::run` parses, opens the
//! engine and calls one of these.

use lifeboat_engine::archive::manifest::BackupType;
use lifeboat_engine::catalog::JobState;
use lifeboat_engine::config::Config;
use lifeboat_engine::error::{Error, Result};
use lifeboat_engine::ops::{self, Engine};

use super::args::{AlertsCommand, AuditCommand, RestoreArgs};
use super::progress::{self, CliProgress};
use std::sync::atomic::Ordering;

use super::{combined, exit, interrupted, job_state_code, show, worker};

pub(super) fn list(engine: &Engine, backup_type: Option<BackupType>, json: bool) -> Result<i32> {
    let rows = engine.catalog.list_backups(backup_type)?;
    // Backups prune took out of the repository while a target keeps them.
    let offsite = engine.catalog.offsite_only()?;
    if json {
        let mut v = serde_json::to_value(&rows).expect("rows serialize");
        for row in v.as_array_mut().into_iter().flatten() {
            if row["id"]
                .as_str()
                .is_some_and(|id| offsite.contains_key(id))
            {
                row["offsite_only"] = true.into();
            }
        }
        show::print_json(&v);
    } else {
        show::print_backup_table(&rows, &|id| offsite.contains_key(id));
    }
    Ok(0)
}

pub(super) fn show(engine: &Engine, id: &str, json: bool) -> Result<i32> {
    let rec = engine.catalog.get_backup(id)?.ok_or_else(|| {
        Error::not_found(format!("no backup with id {id}")).hint("`lifeboat list` shows the ids")
    })?;
    let manifest: Option<serde_json::Value> = engine
        .catalog
        .get_manifest_json(id)?
        .and_then(|s: String| serde_json::from_str(&s).ok());
    if json {
        let mut v = serde_json::to_value(&rec).unwrap();
        v["manifest"] = manifest.unwrap_or(serde_json::Value::Null);
        show::print_json(&v);
    } else {
        show::print_backup_detail(&rec, manifest.as_ref());
    }
    Ok(0)
}

pub(super) fn cancel(engine: &Engine, job_id: i64, json: bool) -> Result<i32> {
    let job = engine.catalog.request_cancel(job_id)?;
    let msg = match job.state {
        JobState::Cancelled if job.finished_at.is_some() && !job.cancel_requested => format!("job {job_id} was cancelled before it started"),
        JobState::Running => format!("job {job_id} ({} {}) will stop at its next safe point; follow it with `lifeboat status --follow {job_id}`", job.kind, job.target),
        other => format!("job {job_id} is already {other}; nothing to cancel"),
    };
    engine.audit("cancel", &format!("job {job_id}"), "requested", &msg)?;
    if json {
        show::print_json(&serde_json::json!({"job": job, "message": msg}));
    } else {
        outln!("{msg}");
    }
    Ok(
        if matches!(
            job.state,
            JobState::Running | JobState::Cancelled | JobState::Queued
        ) {
            0
        } else {
            1
        },
    )
}

pub(super) fn status(
    engine: &Engine,
    job_id: Option<i64>,
    follow: bool,
    json: bool,
) -> Result<i32> {
    if follow {
        return follow_jobs(engine, job_id, json);
    }
    match job_id {
        Some(id) => {
            let job = engine.catalog.get_job(id)?.ok_or_else(|| {
                Error::not_found(format!("no job with id {id}"))
                    .hint("`lifeboat status` lists recent jobs")
            })?;
            let log = engine.catalog.get_job_log(id)?;
            let request = engine.catalog.job_request(id)?;
            let result = engine.catalog.job_result(id)?;
            if json {
                let mut v = serde_json::to_value(&job).unwrap();
                v["request"] = request
                    .and_then(|r| serde_json::from_str(&r).ok())
                    .unwrap_or_default();
                // The report a worker recorded (what --json printed
                // had the verb run here).
                v["result"] = result
                    .and_then(|r| serde_json::from_str(&r).ok())
                    .unwrap_or_default();
                v["log"] = serde_json::json!(log
                    .iter()
                    .map(|(ts, level, msg)| serde_json::json!({"ts": ts, "level": level, "message": msg}))
                    .collect::<Vec<_>>());
                show::print_json(&v);
            } else {
                show::print_job_detail(&job, &log);
                if let Some(r) = request {
                    outln!("request:  {r}");
                }
                if result.is_some() {
                    outln!(
                        "report:   recorded by its worker (`lifeboat --json status {id}` shows it)"
                    );
                }
            }
            Ok(0)
        }
        None => {
            let jobs = engine.catalog.list_jobs(30)?;
            if json {
                show::print_json(&jobs);
            } else {
                show::print_job_table(&jobs);
            }
            Ok(0)
        }
    }
}

pub(super) fn prune(
    engine: &Engine,
    (dry_run, yes, force, queue): (bool, bool, bool, bool),
    json: bool,
    face: &CliProgress,
) -> Result<i32> {
    if queue {
        if !yes {
            return Err(
                Error::usage("a queued prune deletes without asking again").hint(
                    "look at the plan with `lifeboat prune --dry-run`, then queue it with --yes",
                ),
            );
        }
        let request = ops::queue::JobRequest::Prune { force };
        return worker::run_request(engine, request, true, json, face, interrupted());
    }
    let now = ops::now();
    let tz = lifeboat_engine::schedule::parse_tz(&engine.config.schedule.timezone)?;
    let plan = ops::prune::plan_for(engine, now, tz, force)?;
    // Tidying what lives on targets only is work too (files a killed
    // prune left, copies a target no longer keeps).
    let doomed = plan.to_delete().count();
    if dry_run || (doomed == 0 && plan.cleanup.is_empty()) || !yes {
        if json {
            show::print_json(&plan);
        } else {
            show::print_prune_plan(&plan);
            if doomed > 0 && !dry_run {
                outln!(
                    "nothing deleted: run `lifeboat prune --yes` to delete these {doomed} backups"
                );
            }
        }
        return Ok(if doomed > 0 && !dry_run { 1 } else { 0 });
    }
    worker::run_request(
        engine,
        ops::queue::JobRequest::Prune { force },
        false,
        json,
        face,
        interrupted(),
    )
}

pub(super) fn report(
    engine: &Engine,
    format: &str,
    output: Option<std::path::PathBuf>,
) -> Result<i32> {
    let r = lifeboat_engine::health::report::build(&engine.config, &engine.catalog, ops::now())?;
    let text = match format {
        "html" => lifeboat_engine::health::report::html(&r),
        "json" => serde_json::to_string_pretty(&r).expect("report serializes") + "\n",
        _ => lifeboat_engine::health::report::markdown(&r),
    };
    match output {
        Some(path) => {
            lifeboat_engine::storage::local::write_atomic(&path, text.as_bytes())?;
            errln!("wrote {} ({} report)", path.display(), format);
        }
        None => out!("{text}"),
    }
    Ok(0)
}

pub(super) fn alerts(engine: &Engine, command: AlertsCommand, json: bool) -> Result<i32> {
    let chans = lifeboat_engine::alerts::channels(&engine.config.alerts);
    if chans.is_empty() {
        return Err(lifeboat_engine::error::Error::usage(
            "no alert channel is configured".to_string(),
        )
        .hint("set [alerts.email] enabled = true with recipients, or [alerts.webhook] url"));
    }
    let now = ops::now();
    let sent = match command {
        AlertsCommand::Run => lifeboat_engine::alerts::run(&engine.config, &engine.catalog, now)?.1,
        AlertsCommand::Test => {
            let msg = lifeboat_engine::alerts::Message {
                key: "test".into(),
                status: "test".into(),
                title: "test alert".into(),
                detail: "This is a test message from `lifeboat alerts test`.".into(),
                host: ops::hostname(),
                at: now,
            };
            chans
                .iter()
                .map(|c| lifeboat_engine::alerts::Sent {
                    key: msg.key.clone(),
                    status: msg.status.clone(),
                    channel: c.name().to_string(),
                    error: c.send(&msg).err(),
                })
                .collect()
        }
    };
    let failed = sent.iter().filter(|s| s.error.is_some()).count();
    if json {
        show::print_json(&sent);
    } else {
        for s in &sent {
            match &s.error {
                None => outln!("sent {} {} via {}", s.status, s.key, s.channel),
                Some(e) => outln!("FAILED {} {} via {}: {e}", s.status, s.key, s.channel),
            }
        }
        if sent.is_empty() {
            outln!("nothing to send: no condition is new, changed, due for repeat or resolved");
        }
        if failed > 0 {
            errln!("error: {failed} alert deliveries failed; they are retried at the next run");
        }
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

pub(super) fn restore(
    engine: &Engine,
    a: RestoreArgs,
    json: bool,
    face: &CliProgress,
) -> Result<i32> {
    if a.undo {
        let msg = ops::database::undo(engine, a.db.as_deref(), a.yes)?;
        if json {
            show::print_json(&serde_json::json!({"undone": true, "message": msg}));
        } else {
            outln!("{msg}");
        }
        return Ok(0);
    }
    let selector = match (&a.id, &a.file, &a.at) {
        (Some(id), _, _) => ops::select::Selector::Id(id.clone()),
        (_, Some(f), _) => ops::select::Selector::File(f.clone()),
        (_, _, Some(at)) => ops::select::Selector::At(ops::select::parse_time(at)?),
        _ => {
            if a.backup_type.is_none() {
                return Err(Error::usage(
                    "restore needs --id, --file or --at (or --type for the latest)",
                )
                .hint("`lifeboat list` shows the backups to choose from"));
            }
            ops::select::Selector::Latest
        }
    };
    let req = ops::restore::RestoreRequest {
        backup_type: a.backup_type,
        selector,
        target: a.target.clone(),
        in_place: a.in_place,
        dry_run: a.dry_run,
        yes: a.yes,
        target_db: a.target_db.clone(),
        jobs: a.jobs,
        no_owner: a.no_owner,
        role: a.role.clone(),
        update_roles: a.update_roles,
        check_content: a.check_content,
        from: a.from.clone(),
        app: if a.app_stopped {
            ops::app::AppControl::AlreadyStopped
        } else {
            ops::app::AppControl::Manage
        },
    };
    let request = ops::queue::JobRequest::Restore(req);
    worker::run_request(engine, request, a.queue, json, face, interrupted())
}

pub(super) fn key_list(engine: &Engine, json: bool) -> Result<i32> {
    let keys = ops::keys::list(engine)?;
    if json {
        show::print_json(&keys);
    } else {
        outln!("{:<20} {:<20} {:<7} BACKUPS", "KEY", "CREATED", "ACTIVE");
        for k in keys {
            outln!(
                "{:<20} {:<20} {:<7} {}",
                k.id,
                k.created_at.format("%Y-%m-%d %H:%M:%S"),
                if k.active { "yes" } else { "no" },
                k.artifacts
            );
        }
    }
    Ok(0)
}

pub(super) fn key_remove(engine: &Engine, id: &str, json: bool) -> Result<i32> {
    ops::keys::remove(engine, id)?;
    if !json {
        outln!("removed key {id}");
    }
    Ok(0)
}

pub(super) fn audit(engine: &Engine, command: AuditCommand, json: bool) -> Result<i32> {
    match command {
        AuditCommand::Verify => {
            // The catalog's copy is a cache of the repository's log:
            // take in what other catalogs over this repository appended.
            engine
                .catalog
                .catch_up_audit(&engine.repo.audit_log_path())?;
            let cat = engine.catalog.verify_audit()?;
            let repo =
                lifeboat_engine::catalog::audit::verify_jsonl(&engine.repo.audit_log_path())?;
            let ok = cat.ok && repo.ok && cat.rows == repo.rows;
            if json {
                show::print_json(
                    &serde_json::json!({"ok": ok, "catalog": cat, "repository": repo}),
                );
            } else {
                outln!(
                    "catalog audit log: {} rows, {}",
                    cat.rows,
                    if cat.ok {
                        "hash chain intact"
                    } else {
                        "TAMPERED"
                    }
                );
                for p in &cat.problems {
                    outln!("  {p}");
                }
                outln!(
                    "repository audit log {}: {} rows, {}",
                    engine.repo.audit_log_path().display(),
                    repo.rows,
                    if repo.ok {
                        "hash chain intact"
                    } else {
                        "TAMPERED"
                    }
                );
                for p in &repo.problems {
                    outln!("  {p}");
                }
                if cat.ok && repo.ok && cat.rows != repo.rows {
                    outln!("  the two copies differ in length ({} vs {} rows): rows were removed from one of them", cat.rows, repo.rows);
                }
            }
            Ok(if ok { exit::OK } else { exit::INTEGRITY })
        }
        AuditCommand::List { limit } => {
            let rows = engine.catalog.list_audit(limit as usize, 0)?;
            if json {
                show::print_json(&rows);
            } else {
                show::print_audit_table(&rows);
            }
            Ok(0)
        }
    }
}

/// Print progress of one job (or all running jobs) until it ends; the exit
/// code is the job's, as if it had run in this process (0, 3 or 1).
fn follow_jobs(engine: &Engine, job_id: Option<i64>, json: bool) -> Result<i32> {
    let mut last_line = String::new();
    loop {
        let jobs: Vec<lifeboat_engine::catalog::JobRecord> = match job_id {
            Some(id) => vec![engine.catalog.get_job(id)?.ok_or_else(|| {
                Error::not_found(format!("no job with id {id}"))
                    .hint("`lifeboat status` lists recent jobs")
            })?],
            None => engine.catalog.running_jobs()?,
        };
        for j in &jobs {
            let line = show::job_line(j);
            if line != last_line {
                if json {
                    outln!("{}", serde_json::to_string(j).expect("serializes"));
                } else {
                    outln!("{line}");
                }
                last_line = line;
            }
        }
        let running = jobs.iter().any(|j| j.state.is_active());
        if !running || interrupted().load(Ordering::Relaxed) {
            return Ok(combined(jobs.iter().map(|j| job_state_code(j.state))));
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// `lifeboat key generate`: before any engine, since encrypted backups
/// need the key first.
pub(super) fn key_generate(
    config: Config,
    key_file: Option<std::path::PathBuf>,
    json: bool,
) -> Result<i32> {
    let path = key_file.unwrap_or(config.encryption.key_file.clone());
    let info = ops::keys::generate(&path)?;
    if json {
        show::print_json(&info);
    } else {
        outln!(
            "created key file {} with key {} (mode 0600)",
            path.display(),
            info.id
        );
        outln!("keep a copy of this file somewhere safe and offline: without it, encrypted backups cannot be restored");
    }
    if let Ok(engine) = Engine::open(config) {
        let _ = engine.audit(
            "key-generate",
            &info.id,
            "succeeded",
            &path.display().to_string(),
        );
    }
    Ok(0)
}

/// `lifeboat recover`: the plan (`--dry-run`, read-only, no catalog
/// needed) or the recovery, as one job over the repository it reads.
pub(super) fn recover(
    mut config: Config,
    (dir, from): (Option<std::path::PathBuf>, Option<String>),
    at: Option<String>,
    (dry_run, yes, queue, app_stopped): (bool, bool, bool, bool),
    json: bool,
) -> Result<i32> {
    let at = at.as_deref().map(ops::select::parse_time).transpose()?;
    if from.is_some() && queue {
        return Err(Error::usage("--from and --queue do not go together").hint(
            "run `lifeboat recover --from TARGET` directly (a bare machine has no worker yet)",
        ));
    }
    if from.is_some() && dry_run {
        // A plan must change nothing, and fetching fills the repository.
        return Err(Error::usage(
            "--from fetches the backups into the repository, which a dry run must not change",
        )
        .hint("run `lifeboat catalog rebuild --from TARGET` first (it fills the repository, not the live system), then `lifeboat recover --dry-run`"));
    }
    if from.is_some() && !yes {
        return Err(
            Error::refused("recovery restores every type in place, over the live system")
                .hint("look at the plan first (`lifeboat catalog rebuild --from TARGET`, then `lifeboat recover --dry-run`), then run again with --yes"),
        );
    }
    let (dir, pulled) = match &from {
        Some(name) => (
            config.repository.path.clone(),
            Some((pull_and_rebuild(&config, name, json)?, ops::now())),
        ),
        None => (dir.unwrap_or(config.repository.path.clone()), None),
    };
    let face = CliProgress::new(json);
    if !dry_run && !yes {
        // Refused before anything is opened (or created).
        return Err(if queue {
            Error::usage("a queued recovery restores over the live system without asking again")
                .hint(
                    "look at the plan with `lifeboat recover --dry-run`, then queue it with --yes",
                )
        } else {
            Error::refused("recovery restores every type in place, over the live system")
                .hint("look at the plan with --dry-run first, then run again with --yes")
        });
    }
    if !dry_run {
        // A recovery is a job in the catalog, over the repository
        // it recovers from.
        config.repository.path = std::fs::canonicalize(&dir)
            .map_err(|e| Error::io("cannot open backup directory", &dir, e))?;
        let engine = Engine::open(config)?;
        let request = ops::queue::JobRequest::Recover {
            dir: dir.clone(),
            at,
            yes,
            app: if app_stopped {
                ops::app::AppControl::AlreadyStopped
            } else {
                ops::app::AppControl::Manage
            },
        };
        let source = pulled.map(|(p, at)| {
            (
                ops::recover::RecoverySource::from_pull(&engine.config, &p),
                at,
            )
        });
        let record = |outcome: &ops::queue::JobOutcome| {
            // The recovery read the repository; its report and the audit
            // log say the backups came from the target first.
            let (Some((source, at)), ops::queue::JobOutcome::Recover(r)) = (&source, outcome)
            else {
                return;
            };
            let recorded =
                ops::recover::record_source(&engine, r.report_file.as_deref(), source, *at);
            if let Err(e) = recorded {
                errln!(
                    "warning: could not record the source ({}) in the recovery report and the audit log: {}",
                    source.describe(),
                    e.display_with_hint()
                );
            }
        };
        let code = worker::run_request_then(
            &engine,
            request,
            (queue, json),
            &face,
            interrupted(),
            record,
        );
        face.done();
        return code;
    }
    let faces = |t: lifeboat_engine::archive::manifest::BackupType| -> Box<dyn ops::Progress> {
        Box::new(progress::TaggedLines::new(t.as_str(), json))
    };
    let report = ops::recover::run(&config, &dir, at, true, yes, &face, &faces, interrupted());
    face.done();
    let report = report?;
    if json {
        show::print_json(&report);
    } else {
        show::print_recovery(&report);
        outln!("\nnothing was changed; run again with --yes to recover");
    }
    Ok(if report.ok { 0 } else { 1 })
}

/// Bring a target's backups into the repository, rebuild the catalog
/// from them and record where they came from. What could not be used is
/// listed; a target with no usable backup at all is an error.
fn pull_and_rebuild(config: &Config, name: &str, json: bool) -> Result<ops::copies::PullReport> {
    let face = CliProgress::new(json);
    let report = ops::copies::pull(config, name, &face, interrupted());
    face.done();
    let report = report?;
    let say = |line: String| {
        if json {
            errln!("{line}");
        } else {
            outln!("{line}");
        }
    };
    say(format!(
        "from target '{name}': fetched {} backup(s) ({}), {} already in the repository",
        report.fetched.len(),
        lifeboat_engine::units::size(report.bytes),
        report.present.len()
    ));
    for s in &report.skipped {
        say(format!("  not used: {s}"));
    }
    if report.fetched.is_empty() && report.present.is_empty() {
        return Err(Error::not_found(format!(
            "target '{name}' holds no usable backup{}",
            if report.skipped.is_empty() {
                ""
            } else {
                " (see above)"
            }
        ))
        .hint("check the target's bucket and prefix (`lifeboat config`) and its credentials"));
    }
    ops::rebuild::run(&config.catalog.path, &config.repository.path)?;
    let engine = Engine::open(config.clone())?;
    ops::copies::record_pulled(&engine, &report)?;
    let _ = engine.audit(
        "pull",
        name,
        "succeeded",
        &format!(
            "{} fetched, {} present, {} not used",
            report.fetched.len(),
            report.present.len(),
            report.skipped.len()
        ),
    );
    Ok(report)
}

/// `lifeboat copy`: send copies, as a job.
pub(super) fn copy(
    engine: &Engine,
    (id, to, verify, queue): (Option<String>, Option<String>, bool, bool),
    json: bool,
    face: &CliProgress,
) -> Result<i32> {
    let request = ops::queue::JobRequest::Copy { id, to, verify };
    worker::run_request(engine, request, queue, json, face, interrupted())
}

/// `lifeboat copies`: where each backup's copies are, and each type's
/// 3-2-1 verdict. Exit 1 when a type is below its copy policy.
pub(super) fn copies(
    engine: &Engine,
    id: Option<&str>,
    (all, check): (bool, bool),
    json: bool,
) -> Result<i32> {
    let drift = if check {
        ops::drift::check(engine, None)?
    } else {
        Vec::new()
    };
    let mut st = ops::copies::status(engine, id)?;
    if id.is_none() && !all {
        // The newest of each type: what the verdicts are about.
        let mut seen = Vec::new();
        st.backups.retain(|b| {
            let first = !seen.contains(&b.backup_type);
            seen.push(b.backup_type);
            first
        });
    }
    if json {
        if check {
            show::print_json(&serde_json::json!({"status": st, "check": drift}));
        } else {
            show::print_json(&st);
        }
    } else {
        show::print_copies(&st);
        if check {
            show::print_drift(&drift);
        }
    }
    // A type with no backup yet is health's to report, not a copy problem.
    let ok = st
        .types
        .iter()
        .all(|t| t.newest.is_none() || t.meets_policy)
        && drift.iter().all(|d| d.clean());
    Ok(if ok { 0 } else { 1 })
}

/// `lifeboat catalog rebuild`: from the repository's manifests, before
/// any engine (the catalog may be what is broken).
pub(super) fn catalog_rebuild(
    config: Config,
    repository: Option<std::path::PathBuf>,
    from: Option<String>,
    json: bool,
) -> Result<i32> {
    let pulled = match &from {
        Some(name) => Some(pull_and_rebuild(&config, name, json)?),
        None => None,
    };
    let repo = repository.unwrap_or(config.repository.path.clone());
    let report = ops::rebuild::run(&config.catalog.path, &repo)?;
    if json {
        // With --from, what the target gave (the console's recovery
        // wizard records it as the recovery's source).
        let mut v = serde_json::to_value(&report).expect("the rebuild report serializes");
        if let Some(p) = pulled {
            v["pulled"] = serde_json::to_value(p).expect("the pull report serializes");
        }
        show::print_json(&v);
    } else {
        if let Some(a) = &report.moved_aside {
            outln!("the damaged catalog was moved aside to {}", a.display());
        }
        outln!(
            "rebuilt catalog {} from {}: {} backups",
            report.catalog.display(),
            report.repository.display(),
            report.backups
        );
        for s in &report.skipped {
            outln!("  skipped: {s}");
        }
    }
    if let Ok(engine) = Engine::open(config) {
        let _ = engine.audit(
            "catalog-rebuild",
            &repo.display().to_string(),
            "succeeded",
            &format!("{} backups", report.backups),
        );
    }
    Ok(0)
}
