//! Offsite copies: each backup goes to its primary place (the repository)
//! and is copied to the `[[targets]]` its type's `[copies]` policy names
//! (every target when there is no policy). `lifeboat copy` sends what is
//! missing, `lifeboat copies` says where each backup's copies are and
//! whether each type meets the 3-2-1 rule, and `pull` brings a target's
//! artifacts back into an empty repository (`catalog rebuild --from`,
//! `recover --from`).
//!
//! A copy is written in the repository's own commit order (payload, index,
//! manifest last) and counted only when its manifest is there with every
//! size right; `--verify` also reads it back and checks its SHA-256.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::archive::manifest::{BackupType, Manifest, MANIFEST_SUFFIX};
use crate::catalog::copies::{CopyRecord, CopyState};
use crate::catalog::{BackupStatus, JobKind};
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
pub use crate::health::copies::{verdict, TypeVerdict};
use crate::ops::fetch::{altered, fetch_into, hash_stream, holds_whole, rel, AUDIT_KEY};
use crate::ops::jobs::{run_job, Job, JobEnd};
use crate::ops::select::Artifact;
use crate::ops::{Engine, Progress};
use crate::storage::local::{self, Repository};
use crate::storage::remote::Target;
use crate::Cancel;

/// One backup's copy to one target, as a copy job left it.
#[derive(Debug, Clone, Serialize)]
pub struct CopyOutcome {
    pub backup_id: String,
    #[serde(rename = "type")]
    pub backup_type: BackupType,
    pub target: String,
    pub state: CopyState,
    /// Bytes sent (0 when the copy was already there).
    pub bytes: u64,
    /// It was already there, complete: nothing was sent.
    pub already_there: bool,
    pub seconds: f64,
    pub error: Option<String>,
}

/// What `lifeboat copy` did.
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    pub job_id: i64,
    pub ok: bool,
    pub copies: Vec<CopyOutcome>,
}

/// Which backups to copy where.
#[derive(Debug, Clone, Default)]
pub struct CopyRequest {
    /// One backup; `None`: every good backup that lacks a copy its policy asks for.
    pub id: Option<String>,
    /// One target; `None`: the targets each backup's policy names.
    pub to: Option<String>,
    /// Read each copy back and check its SHA-256 (copies already there too).
    pub verify: bool,
}

/// Run a copy as a job. A copy that fails leaves the others going; the
/// job fails when any did, naming each.
pub fn run(
    engine: &Engine,
    req: &CopyRequest,
    face: &dyn Progress,
    cancel: &Cancel,
) -> Result<CopyReport> {
    // Mistakes (no target configured, no such backup) fail before a job starts.
    wanted(engine, req)?;
    let target_text = match (&req.id, &req.to) {
        (Some(id), Some(t)) => format!("{id} to {t}"),
        (Some(id), None) => id.clone(),
        (None, Some(t)) => format!("missing to {t}"),
        (None, None) => "missing".into(),
    };
    let success = |r: &CopyReport| {
        (
            "succeeded".to_string(),
            format!("{} copies checked or sent", r.copies.len()),
        )
    };
    let audit = crate::ops::jobs::AuditAs {
        action: "copy",
        target: &target_text,
        success: &success,
    };
    run_job(
        engine,
        JobKind::Copy,
        &target_text,
        face,
        cancel,
        JobEnd {
            warnings: |_| 0,
            audit: Some(audit),
        },
        |job, _| {
            // One at a time with prune, delete and key rotation (the
            // repository lock): nothing this job sends is deleted under
            // it, and what to send is planned once the lock is held, so a
            // backup pruned while this job waited is not sent.
            job.acquire("repository")?;
            let plan = plan(engine, req)?;
            copy_all(engine, job, plan, req.verify)
        },
    )
}

/// The (backup, target) pairs a request means, opened.
fn plan(engine: &Engine, req: &CopyRequest) -> Result<Plan> {
    let mut plan = Plan::default();
    let mut opened: Vec<(String, Target)> = Vec::new();
    // A copy that counts is never marked failed because the repository
    // cannot read its own files (they may be what went wrong).
    let counting: std::collections::HashSet<(String, String)> = engine
        .catalog
        .all_copies()?
        .into_iter()
        .filter(|c| c.state.counts())
        .map(|c| (c.backup_id, c.target))
        .collect();
    for (rec, name) in wanted(engine, req)? {
        let target = match opened.iter().find(|(n, _)| *n == name) {
            Some((_, t)) => t.clone(),
            None => {
                let t = Target::open(engine.config.target(&name)?)?;
                opened.push((name.clone(), t.clone()));
                t
            }
        };
        // One unreadable backup fails its own copy, not everyone's.
        match Artifact::from_file(Path::new(&rec.file)) {
            Ok(a) => plan.pairs.push((a, target)),
            Err(e) if counting.contains(&(rec.id.clone(), name.clone())) => {
                plan.skipped.push(format!(
                    "{} to '{name}': its copy there stays as it was recorded; the repository's own files cannot be read ({})",
                    rec.id, e.message
                ));
            }
            Err(e) => plan.unreadable.push(CopyOutcome {
                backup_id: rec.id.clone(),
                backup_type: rec.backup_type,
                target: name,
                state: CopyState::Failed,
                bytes: 0,
                already_there: false,
                seconds: 0.0,
                error: Some(format!(
                    "the backup cannot be read from the repository: {}",
                    e.display_with_hint()
                )),
            }),
        }
    }
    Ok(plan)
}

/// What a copy job will do: the pairs to send, and those that failed
/// before anything was sent.
#[derive(Default)]
struct Plan {
    pairs: Vec<(Artifact, Target)>,
    unreadable: Vec<CopyOutcome>,
    /// Left alone, and why (for the job log).
    skipped: Vec<String>,
}

/// How many copies the policies ask for that are not there (what the
/// daemon retries); 0 without targets.
pub fn missing_count(engine: &Engine) -> Result<usize> {
    if engine.config.targets.is_empty() {
        return Ok(0);
    }
    Ok(wanted(engine, &CopyRequest::default())?.len())
}

/// The (backup, target name) pairs a request means: one backup to its
/// targets (or `to`), or every copy a policy asks for that is not there.
fn wanted(
    engine: &Engine,
    req: &CopyRequest,
) -> Result<Vec<(crate::catalog::BackupRecord, String)>> {
    let config = &engine.config;
    if config.targets.is_empty() {
        return Err(Error::usage("no copy targets are configured").hint(
            "add a [[targets]] entry (s3, gcs, azure or local) to the configuration; see config.example.toml",
        ));
    }
    if let Some(t) = &req.to {
        config.target(t)?;
    }
    // What lives on targets only (pruned from the repository) has nothing
    // here to send from: it is never sent, and its copies are left alone.
    let offsite = engine.catalog.offsite_only()?;
    let backups = match &req.id {
        Some(id) => {
            let rec = engine.catalog.get_backup(id)?.ok_or_else(|| {
                Error::not_found(format!("no backup with id {id}"))
                    .hint("`lifeboat list` shows the backups and their ids")
            })?;
            if offsite.contains_key(id) {
                return Err(Error::refused(format!(
                    "backup {id} lives on its targets only (prune removed it from the repository while a target keeps it): there is nothing here to send"
                ))
                .hint("`lifeboat copies ID` shows where it is"));
            }
            if !rec.status.is_good() {
                return Err(Error::refused(format!(
                    "backup {id} is {}: only a finished backup is copied",
                    rec.status
                ))
                .hint("copy a backup that succeeded (see `lifeboat list`)"));
            }
            // An incremental is restorable from a target only with its
            // parents there: they come first.
            let mut chain = vec![rec];
            while let Some(pid) = chain[0].parent_id.clone() {
                match engine.catalog.get_backup(&pid)? {
                    Some(p) if chain.len() < 10_000 => chain.insert(0, p),
                    _ => break,
                }
            }
            chain.retain(|b| !offsite.contains_key(&b.id));
            chain
        }
        // Oldest first: a parent is on the target before its incrementals.
        None => {
            let mut all = copyable_backups(engine)?;
            all.retain(|b| !offsite.contains_key(&b.id));
            all.reverse();
            all
        }
    };
    let have: std::collections::HashSet<(String, String)> = engine
        .catalog
        .all_copies()?
        .into_iter()
        .filter(|c| c.state.counts() && (!req.verify || c.state == CopyState::Verified))
        .map(|c| (c.backup_id, c.target))
        .collect();
    let mut out = Vec::new();
    for rec in backups {
        let names: Vec<String> = match &req.to {
            Some(t) => vec![t.clone()],
            None => config
                .copy_targets(rec.backup_type)
                .iter()
                .map(|t| t.name.clone())
                .collect(),
        };
        for name in names {
            // The named backup is always looked at; its parents and every
            // other backup only when their copy is not there.
            let named = req.id.as_deref() == Some(rec.id.as_str());
            if !named && have.contains(&(rec.id.clone(), name.clone())) {
                continue;
            }
            out.push((rec.clone(), name));
        }
    }
    Ok(out)
}

fn copy_all(engine: &Engine, job: &Job, plan: Plan, verify: bool) -> Result<CopyReport> {
    let Plan {
        pairs,
        unreadable,
        skipped,
    } = plan;
    for s in &skipped {
        job.log("warning", s);
    }
    let now = crate::ops::now();
    for c in &unreadable {
        engine.catalog.set_copy(
            &c.backup_id,
            &c.target,
            CopyState::Failed,
            0,
            now,
            c.error.as_deref(),
        )?;
        job.log(
            "error",
            &format!(
                "{} to '{}': {}",
                c.backup_id,
                c.target,
                c.error.as_deref().unwrap_or("")
            ),
        );
    }
    let total: u64 = pairs.iter().map(|(a, _)| stored_bytes(a)).sum();
    job.total(Some(total), Some(pairs.len() as u64));
    job.phase(if verify {
        "copying and verifying"
    } else {
        "copying"
    });
    // Copies a check or a read-back found altered: never trusted by size again.
    let altered_before: std::collections::HashSet<(String, String)> = engine
        .catalog
        .all_copies()?
        .into_iter()
        .filter(|c| c.state == CopyState::Missing)
        .map(|c| (c.backup_id, c.target))
        .collect();
    let mut done = 0u64;
    let mut copies = unreadable;
    for (i, (art, target)) in pairs.iter().enumerate() {
        crate::ops::jobs::check_cancel(job.cancel_flag())?;
        let started = Instant::now();
        let base = done;
        let advance = |n: u64| job.advance(base + n, i as u64);
        let cancelled = || job.cancel_flag().load(std::sync::atomic::Ordering::Relaxed);
        let force = altered_before.contains(&(art.manifest.id.clone(), target.name().to_string()));
        let result = copy_one(art, target, (verify, force), &advance, &cancelled);
        done = base + stored_bytes(art);
        job.advance(done, i as u64 + 1);
        let now = crate::ops::now();
        let id = &art.manifest.id;
        let outcome = match result {
            Ok((bytes, already_there)) => {
                let state = if verify {
                    CopyState::Verified
                } else {
                    CopyState::Copied
                };
                engine
                    .catalog
                    .set_copy(id, target.name(), state, stored_bytes(art), now, None)?;
                job.log(
                    "info",
                    &format!(
                        "{id}: {} on '{}'",
                        if already_there { "already" } else { "copied" },
                        target.name()
                    ),
                );
                CopyOutcome {
                    backup_id: id.clone(),
                    backup_type: art.manifest.backup_type,
                    target: target.name().into(),
                    state,
                    bytes,
                    already_there,
                    seconds: started.elapsed().as_secs_f64(),
                    error: None,
                }
            }
            Err(e) if e.kind == ErrorKind::Cancelled => return Err(e),
            Err(e) => {
                // A copy found altered is drift; one that never got there failed.
                let state = if e.kind == ErrorKind::Integrity {
                    CopyState::Missing
                } else {
                    CopyState::Failed
                };
                let text = e.display_with_hint();
                engine
                    .catalog
                    .set_copy(id, target.name(), state, 0, now, Some(&text))?;
                job.log("error", &format!("{id} to '{}': {text}", target.name()));
                CopyOutcome {
                    backup_id: id.clone(),
                    backup_type: art.manifest.backup_type,
                    target: target.name().into(),
                    state,
                    bytes: 0,
                    already_there: false,
                    seconds: started.elapsed().as_secs_f64(),
                    error: Some(text),
                }
            }
        };
        copies.push(outcome);
    }
    send_audit_log(engine, job, &pairs);
    let failed: Vec<&CopyOutcome> = copies.iter().filter(|c| c.error.is_some()).collect();
    if let Some(first) = failed.first() {
        let kind = if failed.iter().any(|c| c.state == CopyState::Missing) {
            ErrorKind::Integrity
        } else {
            ErrorKind::Io
        };
        return Err(Error::new(
            kind,
            format!(
                "{} of {} copies failed; first: backup {} to '{}': {}",
                failed.len(),
                copies.len(),
                first.backup_id,
                first.target,
                first.error.as_deref().unwrap_or("")
            ),
        )
        .hint("`lifeboat copies` shows each copy's state; fix the target and run `lifeboat copy` again (the daemon retries by itself)"));
    }
    Ok(CopyReport {
        job_id: job.id,
        ok: true,
        copies,
    })
}

/// The repository's audit log travels with the copies (`audit/audit.jsonl`
/// on each target written to), so a rebuild from a bucket alone has the
/// history too. A failure is logged, not fatal: the copies stand.
fn send_audit_log(engine: &Engine, job: &Job, pairs: &[(Artifact, Target)]) {
    let log = engine.repo.audit_log_path();
    if !log.exists() {
        return;
    }
    let mut sent: Vec<&str> = Vec::new();
    for (_, target) in pairs {
        if sent.contains(&target.name()) {
            continue;
        }
        sent.push(target.name());
        if let Err(e) = target.put_file(AUDIT_KEY, &log, &|_| {}, &|| false) {
            job.log(
                "warning",
                &format!(
                    "the audit log was not copied to '{}': {}",
                    target.name(),
                    e.message
                ),
            );
        }
    }
}

fn stored_bytes(a: &Artifact) -> u64 {
    a.manifest.payload.stored_size + a.manifest.index.as_ref().map_or(0, |i| i.stored_size)
}

/// Send one artifact to one target: payload and index first, the manifest
/// last (the copy's commit point), each checked by size once it is there.
/// An artifact whose manifest is already there, with every size right, is
/// not sent again. Returns the bytes sent and whether it was there.
fn copy_one(
    art: &Artifact,
    target: &Target,
    (verify, force): (bool, bool),
    progress: &dyn Fn(u64),
    cancel: &dyn Fn() -> bool,
) -> Result<(u64, bool)> {
    let t = art.manifest.backup_type;
    let manifest_name = Manifest::file_name_for(&art.manifest.payload.file);
    let manifest_bytes = std::fs::read(&art.manifest_path)
        .map_err(|e| Error::io("cannot read manifest", &art.manifest_path, e))?;
    let files = files_of(art);
    // "There" is the manifest byte for byte (a re-keyed manifest, or one
    // from another backup, is sent again) and every file at its size. A
    // copy once found altered (`force`) is sent again whatever it looks like.
    let manifest_rel = rel(t, &manifest_name);
    let there = !force
        && target.size_of(&manifest_rel)? == Some(manifest_bytes.len() as u64)
        && target.get_bytes(&manifest_rel)? == manifest_bytes
        && files.iter().try_fold(true, |ok, (name, size, _)| {
            Ok::<_, Error>(ok && target.size_of(&rel(t, name))? == Some(*size))
        })?;
    let mut sent = 0u64;
    if !there {
        // A test freezes a copy here, mid-send and holding the lock.
        crate::crashpoint::hold("copy.sending", cancel);
        for (name, size, _) in &files {
            let local = art.dir().join(name);
            let base = sent;
            let n = target.put_file(&rel(t, name), &local, &|n| progress(base + n), cancel)?;
            check_size(target, &rel(t, name), *size)?;
            sent += n;
        }
        target.put_bytes(&rel(t, &manifest_name), manifest_bytes.clone())?;
        check_size(target, &rel(t, &manifest_name), manifest_bytes.len() as u64)?;
    }
    if verify {
        verify_one(art, target, &manifest_bytes)?;
    }
    Ok((sent, there))
}

/// (file name, stored size, SHA-256 of the stored bytes) of an artifact's
/// data files.
fn files_of(art: &Artifact) -> Vec<(String, u64, String)> {
    std::iter::once(&art.manifest.payload)
        .chain(art.manifest.index.as_ref())
        .map(|s| (s.file.clone(), s.stored_size, s.sha256.clone()))
        .collect()
}

fn check_size(target: &Target, rel: &str, want: u64) -> Result<()> {
    match target.size_of(rel)? {
        Some(n) if n == want => Ok(()),
        got => Err(Error::integrity(format!(
            "{rel} on target '{}' is {} after the upload, but {want} bytes were sent",
            target.name(),
            got.map_or("missing".to_string(), |n| format!("{n} bytes")),
        ))
        .hint(
            "the target did not keep what was sent; check its quota and run `lifeboat copy` again",
        )),
    }
}

/// Read a copy back: its manifest must be ours byte for byte, and each
/// data file's SHA-256 and size those the manifest records.
fn verify_one(art: &Artifact, target: &Target, manifest_bytes: &[u8]) -> Result<()> {
    let t = art.manifest.backup_type;
    let manifest_name = Manifest::file_name_for(&art.manifest.payload.file);
    let remote = target.get_bytes(&rel(t, &manifest_name))?;
    if remote != manifest_bytes {
        return Err(altered(
            target,
            &rel(t, &manifest_name),
            "its manifest differs",
        ));
    }
    for (name, size, sha) in files_of(art) {
        let mut reader = target.reader(&rel(t, &name))?;
        let (got_sha, got_len) = hash_stream(&mut reader, &mut std::io::sink())
            .map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?;
        if got_len != size || got_sha != sha {
            return Err(altered(
                target,
                &rel(t, &name),
                &format!("{got_len} bytes with SHA-256 {got_sha}, the manifest says {size} bytes with {sha}"),
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Where the copies are: `lifeboat copies`.

/// A target as `copies` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct TargetInfo {
    pub name: String,
    pub kind: String,
    pub location: String,
    pub offsite: bool,
}

/// One backup's copies.
#[derive(Debug, Clone, Serialize)]
pub struct BackupCopies {
    pub id: String,
    #[serde(rename = "type")]
    pub backup_type: BackupType,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Copies that count, the repository's included.
    pub copies: u32,
    /// The repository holds it (false: prune removed it from there while
    /// a target with a longer keep_days keeps its copy).
    pub in_repository: bool,
    pub required: u32,
    /// One per target its policy names (and any other holding a copy).
    pub targets: Vec<CopyRecordView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CopyRecordView {
    pub target: String,
    /// `none` when no copy was ever attempted.
    pub state: String,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
    pub verified_at: Option<chrono::DateTime<chrono::Utc>>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CopiesStatus {
    pub targets: Vec<TargetInfo>,
    pub types: Vec<TypeVerdict>,
    pub backups: Vec<BackupCopies>,
}

/// Where each backup's copies are (one backup with `id`), and the 3-2-1
/// verdict of every type that has backups.
pub fn status(engine: &Engine, id: Option<&str>) -> Result<CopiesStatus> {
    let config = &engine.config;
    let recorded = engine.catalog.all_copies()?;
    let mut backups = Vec::new();
    let records = match id {
        Some(id) => vec![engine.catalog.get_backup(id)?.ok_or_else(|| {
            Error::not_found(format!("no backup with id {id}"))
                .hint("`lifeboat list` shows the backups and their ids")
        })?],
        None => copyable_backups(engine)?,
    };
    let mut by_backup: std::collections::HashMap<&str, Vec<&CopyRecord>> =
        std::collections::HashMap::new();
    for c in &recorded {
        by_backup.entry(c.backup_id.as_str()).or_default().push(c);
    }
    let offsite = engine.catalog.offsite_only()?;
    for rec in records {
        let mine = by_backup.get(rec.id.as_str()).cloned().unwrap_or_default();
        backups.push(backup_copies(
            config,
            (&rec.id, !offsite.contains_key(&rec.id)),
            rec.backup_type,
            rec.created_at,
            &mine,
        ));
    }
    let mut types = Vec::new();
    for t in BackupType::ALL {
        let newest = backups
            .iter()
            .filter(|b| b.backup_type == t)
            .max_by_key(|b| b.created_at);
        if newest.is_none() && id.is_some() {
            continue;
        }
        if newest.is_none() && !config.configured_types().contains(&t) {
            continue;
        }
        let newest = newest.map(|b| (b.id.as_str(), b.copies));
        types.push(verdict(config, t, newest, &recorded));
    }
    Ok(CopiesStatus {
        targets: config
            .targets
            .iter()
            .map(|t| TargetInfo {
                name: t.name.clone(),
                kind: t.kind.as_str().into(),
                location: t.location(),
                offsite: t.is_offsite(),
            })
            .collect(),
        types,
        backups,
    })
}

fn backup_copies(
    config: &Config,
    (id, in_repository): (&str, bool),
    t: BackupType,
    created_at: chrono::DateTime<chrono::Utc>,
    mine: &[&CopyRecord],
) -> BackupCopies {
    let mut names: Vec<String> = config
        .copy_targets(t)
        .iter()
        .map(|c| c.name.clone())
        .collect();
    for c in mine {
        if !names.contains(&c.target) {
            names.push(c.target.clone());
        }
    }
    let targets: Vec<CopyRecordView> = names
        .iter()
        .map(|n| match mine.iter().find(|c| &c.target == n) {
            Some(c) => CopyRecordView {
                target: n.clone(),
                state: c.state.as_str().into(),
                updated_at: Some(c.updated_at),
                verified_at: c.verified_at,
                error: c.error.clone(),
            },
            None => CopyRecordView {
                target: n.clone(),
                state: "none".into(),
                updated_at: None,
                verified_at: None,
                error: None,
            },
        })
        .collect();
    // A target no longer configured holds nothing the operator can use.
    let copies = u32::from(in_repository)
        + mine
            .iter()
            .filter(|c| c.state.counts() && config.targets.iter().any(|t| t.name == c.target))
            .count() as u32;
    BackupCopies {
        id: id.to_string(),
        backup_type: t,
        created_at,
        copies,
        in_repository,
        required: config.required_copies(t),
        targets,
    }
}

// ---------------------------------------------------------------------------
// Back from a target: `catalog rebuild --from`, `recover --from`.

/// What a pull brought back.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PullReport {
    pub target: String,
    /// Backups fetched into the repository.
    pub fetched: Vec<String>,
    /// Backups the repository already had.
    pub present: Vec<String>,
    /// Of those, the ones the target holds whole (its manifest the
    /// repository's byte for byte, every file at its size): a pull run
    /// again after one that was killed records their copies too.
    #[serde(default)]
    pub whole_on_target: Vec<String>,
    /// Objects that could not be used, and why.
    pub skipped: Vec<String>,
    pub bytes: u64,
}

/// Bring every artifact on `target` that the repository lacks into it, in
/// the repository's commit order, each checked before it gets its name:
/// the manifest parsed and (keyed repositories) authenticated, every data
/// file's SHA-256 and size those the manifest records. Streams: nothing is
/// held in memory or in a temp file beyond the repository's own partials.
pub fn pull(
    config: &Config,
    target_name: &str,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<PullReport> {
    let target = Target::open(config.target(target_name)?)?;
    let repo = Repository::open(&config.repository.path)?;
    let ring = if config.encryption.key_file.exists() {
        let mut r = crate::archive::keys::KeyRing::load(&config.encryption.key_file)?;
        r.accept_unauthenticated = config.encryption.accept_unauthenticated;
        Some(r)
    } else {
        None
    };
    let mut report = PullReport {
        target: target_name.into(),
        ..Default::default()
    };
    progress.phase(&format!("reading the listing of target '{target_name}'"));
    let local_log = repo.audit_log_path();
    if !local_log.exists() && target.size_of(AUDIT_KEY)?.is_some() {
        if let Some(problem) = pull_audit_log(&target, &local_log)? {
            report.skipped.push(problem);
        }
    }
    for t in BackupType::ALL {
        let objects = target.list(t.dir())?;
        for m in objects.iter().filter(|o| o.key.ends_with(MANIFEST_SUFFIX)) {
            if cancel.is_cancelled() {
                return Err(Error::cancelled(
                    "the pull was cancelled; what was fetched is complete and stays",
                ));
            }
            let name = m.key.rsplit('/').next().unwrap_or(&m.key);
            let local_manifest = repo.type_dir(t).join(name);
            if local_manifest.exists() {
                if let Ok(lm) = local::read_manifest(&local_manifest) {
                    if holds_whole(&target, &objects, &m.key, &local_manifest, &lm) {
                        report.whole_on_target.push(lm.id.clone());
                    }
                    report.present.push(lm.id);
                }
                continue;
            }
            match fetch_into(
                &target,
                &repo,
                t,
                &m.key,
                &local_manifest,
                ring.as_ref(),
                progress,
                cancel,
            ) {
                Ok((id, bytes)) => {
                    report.bytes += bytes;
                    progress.phase(&format!("fetched {id}"));
                    report.fetched.push(id);
                }
                Err(e) if e.kind == ErrorKind::Cancelled => return Err(e),
                Err(e) => report
                    .skipped
                    .push(format!("{}: {}", m.key, e.display_with_hint())),
            }
        }
    }
    Ok(report)
}

/// Stream the target's audit log next to where it belongs, check its hash
/// chain, and only then give it its name (the catalog imports it). A log
/// whose chain breaks is kept aside, never imported: what it says is
/// returned for the report.
fn pull_audit_log(target: &Target, local_log: &Path) -> Result<Option<String>> {
    let dir = local_log.parent().unwrap_or(Path::new("."));
    local::create_dir_all_private(dir)?;
    let partial = dir.join(format!(".audit.jsonl.from-{}.partial", target.name()));
    let mut reader = target.reader(AUDIT_KEY)?;
    let written = std::fs::File::create(&partial)
        .and_then(|mut f| {
            std::io::copy(&mut reader, &mut f)?;
            f.sync_all()
        })
        .map_err(|e| Error::io("cannot fetch the audit log to", &partial, e));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    let check = crate::catalog::audit::verify_jsonl(&partial)?;
    if check.ok {
        std::fs::rename(&partial, local_log)
            .map_err(|e| Error::io("cannot move the audit log to", local_log, e))?;
        return Ok(None);
    }
    let aside = dir.join(format!("audit.jsonl.from-{}.broken", target.name()));
    let _ = std::fs::rename(&partial, &aside);
    Ok(Some(format!(
        "{AUDIT_KEY}: its hash chain is broken ({}); kept aside at {}, not imported",
        check
            .problems
            .first()
            .map(String::as_str)
            .unwrap_or("unknown"),
        aside.display()
    )))
}

/// After a rebuild from a target: what the pull found there is a copy.
pub fn record_pulled(engine: &Engine, report: &PullReport) -> Result<()> {
    // Only what was read from the target and checked is a verified copy.
    // What the repository already had and the target holds whole is a
    // copy by size (a pull killed after it committed one, run again),
    // unless the catalog already says something of that copy: one found
    // altered is never recorded back by size.
    let now = crate::ops::now();
    for id in &report.whole_on_target {
        let known = engine
            .catalog
            .copies_of(id)?
            .iter()
            .any(|c| c.target == report.target);
        if known {
            continue;
        }
        if let Some(rec) = engine.catalog.get_backup(id)? {
            engine.catalog.set_copy(
                id,
                &report.target,
                CopyState::Copied,
                rec.stored_size,
                now,
                None,
            )?;
        }
    }
    for id in report.fetched.iter() {
        if let Some(rec) = engine.catalog.get_backup(id)? {
            engine.catalog.set_copy(
                id,
                &report.target,
                CopyState::Verified,
                rec.stored_size,
                now,
                None,
            )?;
        }
    }
    Ok(())
}

/// Good backups that are worth a copy (a restore's safety copy is not),
/// newest first.
fn copyable_backups(engine: &Engine) -> Result<Vec<crate::catalog::BackupRecord>> {
    let mut all = engine.catalog.list_backups(None)?;
    all.retain(|b| copyable(b.status, b.name.as_deref()));
    Ok(all)
}

fn copyable(status: BackupStatus, name: Option<&str>) -> bool {
    status.is_good() && name != Some(crate::catalog::SAFETY_COPY_NAME)
}

// ---------------------------------------------------------------------------
// Prune: a backup deleted from the repository goes from the targets too.

/// The files of a backup as object keys, manifest first (the order they
/// are deleted in: without its manifest a copy no longer counts).
pub fn keys_of(manifest_json: &str) -> Vec<String> {
    let Ok(m) = serde_json::from_str::<Manifest>(manifest_json) else {
        return Vec::new();
    };
    let t = m.backup_type;
    std::iter::once(rel(t, &Manifest::file_name_for(&m.payload.file)))
        .chain(std::iter::once(rel(t, &m.payload.file)))
        .chain(m.index.as_ref().map(|i| rel(t, &i.file)))
        .collect()
}

/// Delete a pruned backup's copies from every target that holds one
/// (`keys` from [`keys_of`], taken before the backup's row went). An
/// append-only target keeps its copy (its retention rules expire it).
/// Returns what the prune job should log, as (level, line).
pub fn delete_copies(engine: &Engine, id: &str, keys: &[String]) -> Vec<(&'static str, String)> {
    delete_copies_skipping(engine, id, keys, &std::cell::RefCell::new(Vec::new()))
}

/// [`delete_copies`], skipping the targets in `down` and adding to it a
/// target that fails: a prune of many backups waits for an unreachable
/// target once, not once per backup.
pub fn delete_copies_skipping(
    engine: &Engine,
    id: &str,
    keys: &[String],
    down: &std::cell::RefCell<Vec<String>>,
) -> Vec<(&'static str, String)> {
    delete_copies_except(engine, id, keys, &[], down)
}

/// [`delete_copies_skipping`], leaving the copies on the targets in `keep`
/// alone (a target whose own retention keeps them longer).
pub fn delete_copies_except(
    engine: &Engine,
    id: &str,
    keys: &[String],
    keep: &[String],
    down: &std::cell::RefCell<Vec<String>>,
) -> Vec<(&'static str, String)> {
    let mut notes = Vec::new();
    let copies = engine.catalog.copies_of(id).unwrap_or_default();
    for c in copies {
        if keep.contains(&c.target) {
            continue;
        }
        if down.borrow().contains(&c.target) {
            notes.push((
                "warning",
                format!(
                    "{id}: its copy on '{}' was left (the target failed earlier in this run); `lifeboat copies --check` lists what is left there",
                    c.target
                ),
            ));
            continue;
        }
        let Ok(cfg) = engine.config.target(&c.target) else {
            let _ = engine.catalog.forget_copy(id, &c.target);
            continue;
        };
        if cfg.append_only {
            notes.push((
                "info",
                format!(
                    "{id}: its copy on append-only target '{}' stays until the target's own retention expires it",
                    c.target
                ),
            ));
            let _ = engine.catalog.forget_copy(id, &c.target);
            continue;
        }
        let result = Target::open(cfg).and_then(|t| keys.iter().try_for_each(|k| t.delete(k)));
        match result {
            Ok(()) => {
                let _ = engine.catalog.forget_copy(id, &c.target);
                notes.push(("info", format!("{id}: deleted its copy on '{}'", c.target)));
            }
            Err(e) => {
                down.borrow_mut().push(c.target.clone());
                notes.push((
                    "warning",
                    format!(
                        "{id}: its copy on '{}' was not deleted ({}); `lifeboat copies --check` lists what is left there",
                        c.target,
                        e.display_with_hint()
                    ),
                ));
            }
        }
    }
    notes
}
