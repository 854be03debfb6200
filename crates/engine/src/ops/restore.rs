//! Restores of filesystem and configuration backups.
//!
//! Safety rules, in the order they apply: the whole chain is verified
//! (manifest authentication and SHA-256 of every stored byte) before a
//! single byte reaches the target; the default target is a new directory;
//! anything that would overwrite or delete existing files needs `--yes` and
//! first gets a safety copy, itself an ordinary backup that `restore` can
//! put back; `--dry-run` shows the plan and changes nothing.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use chrono::Utc;

use crate::archive::crypto::DataKey;
use crate::archive::manifest::BackupType;
use crate::archive::pipeline;
use crate::error::{Error, Result};
use crate::ops::app::AppControl;
use crate::ops::backup::{self, BackupReport};
use crate::ops::chain_progress::{ChainProgress, Counted};
use crate::ops::integrity::check_integrity;
use crate::ops::jobs::Job;
use crate::ops::select::{self, Artifact, Selector};
use crate::ops::{Engine, Progress};
use crate::sources::filesystem::{self, Dest, ExtractOutcome, RestorePlan};
use crate::Cancel;

/// What the operator asked for (also the JSON of a queued restore: the
/// flags are optional there and mean what the CLI's flags mean).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RestoreRequest {
    #[serde(rename = "type", default)]
    pub backup_type: Option<BackupType>,
    pub selector: Selector,
    /// Restore under this directory (created if needed).
    #[serde(default)]
    pub target: Option<PathBuf>,
    /// Write to the original paths.
    #[serde(default)]
    pub in_place: bool,
    #[serde(default)]
    pub dry_run: bool,
    /// Allow overwriting/deleting existing files (after a safety copy).
    #[serde(default)]
    pub yes: bool,
    /// Database restores: new database name.
    #[serde(default)]
    pub target_db: Option<String>,
    /// Database restores: pg_restore --jobs.
    #[serde(default = "one")]
    pub jobs: u32,
    /// Database restores: skip ownership (pg_restore --no-owner).
    #[serde(default)]
    pub no_owner: bool,
    /// Database restores: run as this role.
    #[serde(default)]
    pub role: Option<String>,
    /// Database restores: give existing roles the recorded attributes.
    #[serde(default)]
    pub update_roles: bool,
    /// Database restores: compare the restored contents with the backup's
    /// digests (tables, sequences, large objects, properties).
    #[serde(default)]
    pub check_content: bool,
    /// Read the backup from this copy target, not the repository (`--from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// In place: who stops the app before and starts it after
    /// (`--app-stopped`: the operator did stop it).
    #[serde(default, skip_serializing_if = "AppControl::is_default")]
    pub app: AppControl,
}

fn one() -> u32 {
    1
}

/// Either kind of restore report.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum AnyRestoreReport {
    Tree(RestoreReport),
    Database(crate::ops::database::DbRestoreReport),
}

/// What a restore did (or, for a dry run, would do).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreReport {
    pub id: String,
    /// Ids applied, full backup first.
    pub chain: Vec<String>,
    /// Where files went ("/" for in place).
    pub target: PathBuf,
    pub dry_run: bool,
    pub plan: RestorePlan,
    pub outcome: Option<ExtractOutcome>,
    /// Backup id of the safety copy of what was overwritten.
    pub safety_copy: Option<String>,
    pub notes: Vec<String>,
    pub seconds: f64,
}

pub fn run(
    engine: &Engine,
    req: &RestoreRequest,
    face: &dyn Progress,
    cancel: &Cancel,
) -> Result<AnyRestoreReport> {
    run_from(engine, req, face, cancel).map_err(|e| {
        if req.from.is_some() {
            return e;
        }
        match &req.selector {
            Selector::Id(id) => crate::ops::select::locate::point_at_copies(engine, id, e),
            _ => e,
        }
    })
}

fn run_from(
    engine: &Engine,
    req: &RestoreRequest,
    face: &dyn Progress,
    cancel: &Cancel,
) -> Result<AnyRestoreReport> {
    let artifact =
        select::resolve_from(engine, req.backup_type, &req.selector, req.from.as_deref())?;
    match artifact.manifest.backup_type {
        BackupType::Filesystem | BackupType::Configuration => {}
        BackupType::Database => {
            if req.target.is_some() {
                return Err(Error::usage(
                    "--target is for files; a database restore takes --target-db NAME",
                ));
            }
            let selector = match &req.selector {
                sel @ select::Selector::File(_) => sel.clone(),
                _ => select::Selector::Id(artifact.manifest.id.clone()),
            };
            let db_req = crate::ops::database::DbRestoreRequest {
                selector,
                target_db: req.target_db.clone(),
                in_place: req.in_place,
                yes: req.yes,
                dry_run: req.dry_run,
                jobs: req.jobs,
                no_owner: req.no_owner,
                role: req.role.clone(),
                update_roles: req.update_roles,
                check_content: req.check_content,
                from: req.from.clone(),
                app: req.app,
            };
            return crate::ops::database::restore(engine, &db_req, face, cancel)
                .map(AnyRestoreReport::Database);
        }
        other => {
            return Err(Error::usage(format!(
                "restoring {other} backups is not available in this version"
            )));
        }
    }
    if req.target_db.is_some()
        || req.role.is_some()
        || req.no_owner
        || req.update_roles
        || req.check_content
    {
        return Err(Error::usage(
            "--target-db, --role, --no-owner, --update-roles and --check-content apply to database restores only",
        ));
    }
    crate::ops::jobs::run_restore_job(
        engine,
        &artifact.manifest.id,
        req.dry_run,
        face,
        cancel,
        |job, cancel| restore_tree(engine, req, &artifact, job, cancel),
        |r| {
            format!(
                "{} -> {}{}",
                r.id,
                r.target.display(),
                r.safety_copy
                    .as_ref()
                    .map(|s| format!(" (safety copy {s})"))
                    .unwrap_or_default()
            )
        },
    )
    .map(AnyRestoreReport::Tree)
}

/// Where a restore writes.
fn destination(engine: &Engine, req: &RestoreRequest, artifact: &Artifact) -> Result<Dest> {
    if req.in_place {
        if req.target.is_some() {
            return Err(Error::usage("--in-place and --target are exclusive"));
        }
        return Ok(Dest::InPlace);
    }
    let dir = match &req.target {
        Some(t) => t.clone(),
        None => engine
            .config
            .catalog
            .path
            .parent()
            .unwrap_or(Path::new("."))
            .join("restores")
            .join(format!(
                "{}_{}",
                artifact.manifest.id,
                Utc::now().format("%Y%m%d_%H%M%S")
            )),
    };
    // One directory, one name: `x/../x`, `./x` and `link/x` all become the
    // same path, so the target's lock holds however the path was written,
    // and `/tmp/..` is recognised as `/` (an in-place restore).
    let dir = canonical_target(&dir)?;
    if dir == Path::new("/") {
        return Ok(Dest::InPlace);
    }
    Ok(Dest::Under(dir))
}

/// An error when the file system holding `dir` has less free space (as
/// this user may use it) than `needs`; None when it fits or cannot be told.
fn short_of_space(dir: &Path, needs: u64) -> Option<Error> {
    let free = crate::health::disk::space(dir).ok()?.free;
    if needs <= free {
        return None;
    }
    let size = crate::units::size;
    Some(
        Error::refused(format!(
            "not enough space for this restore under {}: it needs about {} and its file system has {} free; nothing was written",
            dir.display(),
            size(needs),
            size(free)
        ))
        .hint(format!(
            "free at least {} on {}, or restore to a directory on a larger file system with --target DIR",
            size(needs - free),
            crate::health::disk::mount_point(dir).display()
        )),
    )
}

/// The one absolute name of a restore target. The longest part that exists
/// is resolved by the kernel (symlinks and `..` as the kernel follows them);
/// the rest does not exist yet, so it is made of plain directories the
/// restore will create, and its `.` and `..` are removed lexically. Public
/// so a face checks a typed target by the same name the restore will use.
pub fn canonical_target(dir: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(dir).map_err(|e| Error::io("cannot resolve", dir, e))?;
    for existing in abs.ancestors() {
        let Ok(mut resolved) = std::fs::canonicalize(existing) else {
            continue;
        };
        let rest = abs.strip_prefix(existing).unwrap_or(Path::new(""));
        for c in rest.components() {
            match c {
                std::path::Component::ParentDir => {
                    resolved.pop();
                }
                std::path::Component::Normal(n) => resolved.push(n),
                _ => {}
            }
        }
        return Ok(resolved);
    }
    Ok(abs)
}

/// A filesystem or configuration restore, in the order it must run: the
/// target is claimed ([`Target::claim`]), every link of the chain verified
/// and the restore planned before anything reaches the target; a dry run
/// stops there. A real one refuses what it may not replace, takes the safety
/// copy, marks what it writes into as incomplete, writes the chain, and
/// only then unmarks and keeps its target ([`TreeRestore::finish`]).
fn restore_tree(
    engine: &Engine,
    req: &RestoreRequest,
    artifact: &Artifact,
    job: &Job,
    cancel: &AtomicBool,
) -> Result<RestoreReport> {
    let mut notes = Vec::new();
    let mut run = TreeRestore::start(engine, req, artifact, job, cancel, &mut notes)?;
    run.check_space(&mut notes)?;
    if req.dry_run {
        return Ok(run.report(None, None, notes));
    }
    // In place, the app is stopped before the safety copy (which then
    // holds what the app left) and started after the last file.
    let control = match run.target.dest {
        Dest::InPlace => req.app,
        _ => AppControl::Leave,
    };
    let (mut report, app_notes) = crate::ops::app::around_restore(engine, control, job, || {
        let safety_copy = run.take_safety_copy(&mut notes)?;
        crate::crashpoint::hit("restore.safety-copy-taken");
        let superseded = superseded_by_later_links(&run.chain.links, &run.chain.keys)?;
        let marking = run.mark_incomplete(safety_copy.as_ref())?;
        let total = run.write(&superseded, safety_copy.as_ref())?;
        crate::crashpoint::hit("restore.written");
        run.finish(&total, marking, &mut notes)?;
        Ok(run.report(
            Some(total),
            safety_copy.map(|s: BackupReport| s.id),
            std::mem::take(&mut notes),
        ))
    })?;
    report.notes.extend(app_notes);
    Ok(report)
}

/// Where a restore writes, claimed for this restore: the destination, its
/// one path (locked for the job), and the directory the restore created
/// for it, if it did.
struct Target {
    dest: Dest,
    /// The target directory, or `/` in place.
    path: PathBuf,
    /// The target directory when this restore created it: removed whole,
    /// when this is dropped, unless the restore finished ([`Target::keep`]).
    new_dir: Option<NewDir>,
}

impl Target {
    /// Resolve the destination, lock it, and create a target directory that
    /// does not exist yet. A dry run does neither of the last two.
    fn claim(
        engine: &Engine,
        req: &RestoreRequest,
        artifact: &Artifact,
        job: &Job,
    ) -> Result<Target> {
        let dest = destination(engine, req, artifact)?;
        let path = match &dest {
            Dest::Under(d) => d.clone(),
            Dest::InPlace => PathBuf::from("/"),
        };
        if !req.dry_run {
            // `destination` made the path absolute and canonical, so the
            // lock matches however the path was written and a later process
            // can find the target if this one dies.
            job.acquire(&format!("restore target {}", path.display()))?;
        }
        // A target directory that does not exist yet is created now,
        // atomically, so it is known to be this restore's own: if the
        // restore does not finish it is removed whole (a half-restored tree
        // is a trap), and nothing else is ever removed.
        let new_dir = match (&dest, req.dry_run) {
            (Dest::Under(d), false) => NewDir::claim(d)?,
            _ => None,
        };
        Ok(Target {
            dest,
            path,
            new_dir,
        })
    }

    /// Whether the files go into a new, empty directory: one this restore
    /// created, or for a dry run, one that does not exist yet.
    fn is_fresh(&self, dry_run: bool) -> bool {
        match &self.dest {
            Dest::Under(d) => self.new_dir.is_some() || (dry_run && !d.exists()),
            Dest::InPlace => false,
        }
    }

    /// The error a failed extraction returns, saying what it left: a new
    /// directory is removed now, whole; an existing target may be partly
    /// restored, and the safety copy holds what it replaced. A full disk
    /// gets a hint with the room the tree needs (`bytes`).
    fn write_failed(&mut self, e: Error, bytes: u64, safety_copy: Option<&BackupReport>) -> Error {
        let hint = if is_disk_full(&e) {
            format!(
                "the restored tree needs about {} under {}: free space on that filesystem, or restore to a directory on a larger one (--target DIR)",
                crate::units::size(bytes),
                self.path.display()
            )
        } else {
            e.hint.clone().unwrap_or_default()
        };
        if let Some(nd) = self.new_dir.as_mut() {
            return Error::new(e.kind, format!("{}; {}", e.message, nd.remove_and_say()))
                .hint(hint);
        }
        let state = match safety_copy {
            Some(s) => format!(
                "the target {} may be partly restored; its previous contents are in safety copy {} (lifeboat restore --id {} --in-place --yes)",
                self.path.display(),
                s.id,
                s.id
            ),
            None => format!("the target {} may be partly restored; nothing existing was replaced", self.path.display()),
        };
        Error::new(e.kind, format!("{}; {state}", e.message)).hint(hint)
    }

    /// The restore has finished: a directory it created stays.
    fn keep(&mut self) {
        if let Some(nd) = self.new_dir.take() {
            nd.keep();
        }
    }
}

/// A backup's chain, full backup first, every link verified.
struct VerifiedChain {
    links: Vec<Artifact>,
    /// Each link's data key, opened by its check.
    keys: Vec<Option<DataKey>>,
    /// The stored bytes are checked as they are extracted, in one pass
    /// (see [`VerifiedChain::verify`]).
    one_pass: bool,
}

impl VerifiedChain {
    /// Find the chain of `artifact` and verify every link.
    fn verify(
        engine: &Engine,
        artifact: &Artifact,
        target: &Target,
        dry_run: bool,
    ) -> Result<VerifiedChain> {
        let links = select::chain(Some(engine), artifact)?;
        let ring = engine.ring_for(&links.iter().map(|l| &l.manifest).collect::<Vec<_>>())?;
        // Every link is verified before anything reaches the target. Into a
        // new, empty directory an encrypted and authenticated chain is
        // checked in the same pass that decodes it (segments are
        // authenticated before they are released, the SHA-256 is compared
        // at the end), and the whole directory is removed if anything fails:
        // one read instead of two.
        let fresh_dir = target.is_fresh(dry_run);
        let one_pass = fresh_dir
            && links
                .iter()
                .all(|l| l.manifest.encrypted && l.manifest.mac.is_some());
        let mut keys = Vec::new();
        for link in &links {
            keys.push(if one_pass {
                crate::ops::integrity::check_integrity_streaming(link, ring.as_ref())?
            } else {
                check_integrity(link, ring.as_ref())?
            });
        }
        Ok(VerifiedChain {
            links,
            keys,
            one_pass,
        })
    }
}

/// A filesystem restore once its target is claimed, its chain verified and
/// its plan made. Its steps are methods, called by [`restore_tree`] in the
/// order they must run; dropped before [`TreeRestore::finish`], it removes
/// a target directory it created.
struct TreeRestore<'a> {
    engine: &'a Engine,
    req: &'a RestoreRequest,
    artifact: &'a Artifact,
    job: &'a Job<'a>,
    cancel: &'a AtomicBool,
    /// When the restore started: the report's time counts from here.
    started: std::time::Instant,
    target: Target,
    chain: VerifiedChain,
    /// What the restore creates, overwrites and deletes at the target.
    plan: RestorePlan,
}

impl<'a> TreeRestore<'a> {
    /// Claim the target, verify the chain and plan the restore: nothing is
    /// written to the target yet, a new directory stays empty.
    fn start(
        engine: &'a Engine,
        req: &'a RestoreRequest,
        artifact: &'a Artifact,
        job: &'a Job<'a>,
        cancel: &'a AtomicBool,
        notes: &mut Vec<String>,
    ) -> Result<TreeRestore<'a>> {
        let started = std::time::Instant::now();
        let target = Target::claim(engine, req, artifact, job)?;

        job.phase("checking the backup");
        let chain = VerifiedChain::verify(engine, artifact, &target, req.dry_run)?;
        let links = &chain.links;
        if links.len() > 1 {
            notes.push(format!(
                "applying a chain of {} backups: {}",
                links.len(),
                links
                    .iter()
                    .map(|l| l.manifest.id.as_str())
                    .collect::<Vec<_>>()
                    .join(" -> ")
            ));
        }

        job.phase("planning");
        let last = links.last().unwrap();
        let plan = {
            let mut index = last.open_index(chain.keys.last().unwrap().as_ref())?;
            filesystem::plan_restore(&mut index, &target.dest)?
        };
        Ok(TreeRestore {
            engine,
            req,
            artifact,
            job,
            cancel,
            started,
            target,
            chain,
            plan,
        })
    }

    /// What the restore did, with `notes`; its time counts to now.
    fn report(
        &self,
        outcome: Option<ExtractOutcome>,
        safety_copy: Option<String>,
        notes: Vec<String>,
    ) -> RestoreReport {
        RestoreReport {
            id: self.artifact.manifest.id.clone(),
            chain: self
                .chain
                .links
                .iter()
                .map(|l| l.manifest.id.clone())
                .collect(),
            target: self.target.path.clone(),
            dry_run: self.req.dry_run,
            plan: self.plan.clone(),
            outcome,
            safety_copy,
            notes,
            seconds: self.started.elapsed().as_secs_f64(),
        }
    }

    /// Refuse before anything is written (no safety copy, no half-restored
    /// target) when the tree cannot fit; a dry run only says it would be
    /// refused. In place, the files go back to many file systems; the check
    /// is for a target directory.
    fn check_space(&self, notes: &mut Vec<String>) -> Result<()> {
        if let Dest::Under(d) = &self.target.dest {
            if let Some(e) = short_of_space(d, self.plan.needs) {
                if !self.req.dry_run {
                    return Err(e);
                }
                notes.push(format!("a real restore would be refused: {}", e.message));
            }
        }
        Ok(())
    }

    /// Anything that overwrites or deletes existing paths, and any restore
    /// in place, needs `--yes`; what will be replaced is first put in a
    /// safety copy (an ordinary backup), which the notes and the job's log
    /// name with the command that puts it back.
    fn take_safety_copy(&self, notes: &mut Vec<String>) -> Result<Option<BackupReport>> {
        let (job, plan) = (self.job, &self.plan);
        let at_risk = plan.overwrite_paths().to_vec();
        if (!at_risk.is_empty() || matches!(self.target.dest, Dest::InPlace)) && !self.req.yes {
            return Err(Error::refused(format!(
                "this restore would overwrite or delete {} existing path(s) under {}",
                at_risk.len(),
                self.target.path.display()
            ))
            .hint("look first with --dry-run; then add --yes to go ahead (a safety copy of everything replaced is taken first), or restore to a new directory with --target DIR"));
        }
        if at_risk.is_empty() {
            return Ok(None);
        }
        job.phase("taking a safety copy of what will be replaced");
        let backup_type = self.artifact.manifest.backup_type;
        let safety = backup::safety_copy(self.engine, backup_type, at_risk, job, self.cancel)?;
        notes.push(format!(
            "safety copy {} holds the {} path(s) this restore replaces; undo with: lifeboat restore --id {} --in-place --yes",
            safety.id,
            plan.overwrite_paths().len(),
            safety.id
        ));
        job.log(
            "info",
            &format!(
                "safety copy {} holds the {} path(s) this restore replaces (undo: lifeboat restore --id {} --in-place --yes)",
                safety.id,
                plan.overwrite_paths().len(),
                safety.id
            ),
        );
        Ok(Some(safety))
    }

    /// Until the restore has finished, every directory it writes into says
    /// so (and which safety copy holds what it replaced): if this process is
    /// killed, what it leaves is marked as half-written. A marker an earlier,
    /// interrupted restore left is taken over; it goes when this one finishes.
    fn mark_incomplete(&self, safety_copy: Option<&BackupReport>) -> Result<Marking> {
        let target = &self.target;
        let stale = match (&target.new_dir, &target.dest) {
            (None, Dest::Under(d)) => IncompleteMarker::clear_stale(d),
            _ => None,
        };
        let safety_id = safety_copy.map(|s| s.id.as_str());
        let mut markers = Vec::new();
        for dir in marked_roots(&target.dest, self.artifact) {
            markers.push(IncompleteMarker::write(
                &dir,
                &self.artifact.manifest.id,
                self.job.id,
                safety_id,
                target.new_dir.is_some(),
            )?);
        }
        Ok(Marking { markers, stale })
    }

    /// Extract the links in order, full backup first, as one job's
    /// progress; their outcomes added up. A failure says what it left
    /// ([`Target::write_failed`]).
    fn write(
        &mut self,
        superseded: &[std::collections::HashSet<Vec<u8>>],
        safety_copy: Option<&BackupReport>,
    ) -> Result<ExtractOutcome> {
        let (job, cancel, links) = (self.job, self.cancel, &self.chain.links);
        let one_pass = self.chain.one_pass;
        let mut total = ExtractOutcome::default();
        // In place, a symlink one link of the chain made is never followed by
        // a later one.
        let links_made = std::cell::RefCell::new(std::collections::HashSet::new());
        // One total for the chain, counted across its links.
        let chain = ChainProgress::start(job, links);
        for (i, (link, dk)) in links.iter().zip(&self.chain.keys).enumerate() {
            job.phase(&format!(
                "restoring {} ({}/{})",
                link.manifest.id,
                i + 1,
                links.len()
            ));
            let opts = filesystem::ExtractOptions {
                superseded: Some(&superseded[i]),
                // The last link stores every directory of the final tree again.
                dir_metadata: i + 1 == links.len(),
                hard_links: i + 1 == links.len(),
                // Removed whole if anything fails (below). Only where every
                // byte is authenticated as it is read, though: elsewhere a file
                // is checked against its hash before it takes its name.
                fresh_target: one_pass,
                links_made: Some(&links_made),
                // Its manifest's MAC was checked: setuid/setgid come back.
                authenticated: dk.is_some(),
                ..Default::default()
            };
            let progress = CrashWhenWriting(&chain, cancel);
            let outcome = extract_link_checked(
                link,
                dk.as_ref(),
                &self.target.dest,
                &progress,
                cancel,
                one_pass,
                opts,
            )
            .map_err(|e| self.target.write_failed(e, self.plan.bytes, safety_copy))?;
            total.add(&outcome);
            chain.link_done(link);
        }
        Ok(total)
    }

    /// The tree is written: log its warnings, remove the markers, keep a
    /// target directory the restore created, and for a configuration
    /// restored in place, move its captured environment aside.
    fn finish(
        &mut self,
        total: &ExtractOutcome,
        marking: Marking,
        notes: &mut Vec<String>,
    ) -> Result<()> {
        for w in total.warning_lines() {
            self.job.log("warning", &w);
            notes.push(w);
        }
        marking.remove(notes);
        self.target.keep();
        if self.artifact.manifest.backup_type == BackupType::Configuration {
            if let Some(note) = relocate_config_extras(self.engine, &self.target.dest)? {
                notes.push(note);
            }
        }
        Ok(())
    }
}

/// The incomplete markers a restore keeps while it writes, and what it
/// says of the one an earlier, interrupted restore left in its target.
struct Marking {
    markers: Vec<IncompleteMarker>,
    stale: Option<String>,
}

impl Marking {
    /// The restore has finished: remove its markers (saying which could not
    /// be), then pass on what was said of the earlier restore's.
    fn remove(self, notes: &mut Vec<String>) {
        for m in &self.markers {
            if let Err(e) = m.remove() {
                notes.push(format!(
                    "the restore finished but {} could not be removed ({e}); remove it by hand",
                    m.path.display()
                ));
            }
        }
        notes.extend(self.stale);
    }
}

/// The directories a restore marks as incomplete while it writes: the
/// target directory, or in place, the backed-up roots that are directories.
fn marked_roots(dest: &Dest, artifact: &Artifact) -> Vec<PathBuf> {
    match dest {
        Dest::Under(d) => vec![d.clone()],
        Dest::InPlace => restored_roots(artifact)
            .into_iter()
            .filter(|p| p.symlink_metadata().is_ok_and(|m| m.is_dir()))
            .collect(),
    }
}

/// The source roots an artifact's manifest names (`source.paths`).
pub fn restored_roots(artifact: &Artifact) -> Vec<PathBuf> {
    artifact
        .manifest
        .source
        .get("paths")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(PathBuf::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Progress that passes through, and is the `restore.writing` crash point:
/// the first restored entry is where a kill leaves a half-written target.
/// It is also the `restore.writing` hold point: held, the restore waits
/// there until its job is cancelled.
struct CrashWhenWriting<'a>(&'a dyn Progress, &'a AtomicBool);

impl Progress for CrashWhenWriting<'_> {
    fn phase(&self, name: &str) {
        self.0.phase(name)
    }
    fn total(&self, bytes: Option<u64>, items: Option<u64>) {
        self.0.total(bytes, items)
    }
    fn advance(&self, bytes_done: u64, items_done: u64) {
        if items_done > 0 {
            crate::crashpoint::hit("restore.writing");
            crate::crashpoint::hold("restore.writing", || {
                self.1.load(std::sync::atomic::Ordering::Relaxed)
            });
        }
        self.0.advance(bytes_done, items_done)
    }
    fn note(&self, message: &str) {
        self.0.note(message)
    }
}

/// Remove the temporary files (`.lifeboat-<pid>-<n>.tmp`) a killed restore
/// process `pid` left under `root`, without following symlinks. Returns
/// how many were removed.
pub fn remove_stray_temps(root: &Path, pid: u32) -> usize {
    let prefix = format!(".lifeboat-{pid}-");
    let mut removed = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
                continue;
            }
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(&prefix)
                && name.ends_with(".tmp")
                && std::fs::remove_file(e.path()).is_ok()
            {
                removed += 1;
            }
        }
    }
    removed
}

/// Whether `e` comes from a full filesystem.
fn is_disk_full(e: &Error) -> bool {
    e.source
        .as_ref()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .and_then(|io| io.raw_os_error())
        == Some(libc::ENOSPC)
}

/// The file a restore into a new directory keeps at its top until it has
/// finished, so a directory left by a killed restore says what it is.
pub const INCOMPLETE_MARKER: &str = ".lifeboat-restore-incomplete";

/// How every marker's text begins (the job id follows).
const MARKER_LEAD: &str = "lifeboat restore job ";

/// The line a marker in a directory the restore created carries.
const NEW_DIR_LINE: &str = "The restore created this directory.";

/// Whether `dir` holds the marker written by restore job `job_id`.
pub fn marked_incomplete_by(dir: &Path, job_id: i64) -> bool {
    std::fs::read_to_string(dir.join(INCOMPLETE_MARKER))
        .is_ok_and(|t| t.starts_with(&format!("{MARKER_LEAD}{job_id} ")))
}

/// Whether the marker in `dir` says the restore created the directory.
pub fn marked_as_new(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join(INCOMPLETE_MARKER)).is_ok_and(|t| t.contains(NEW_DIR_LINE))
}

struct IncompleteMarker {
    path: PathBuf,
    text: String,
}

impl IncompleteMarker {
    fn write(
        dir: &Path,
        backup_id: &str,
        job_id: i64,
        safety_copy: Option<&str>,
        new_dir: bool,
    ) -> Result<IncompleteMarker> {
        let path = dir.join(INCOMPLETE_MARKER);
        let undo = match safety_copy {
            _ if new_dir => format!("{NEW_DIR_LINE}\nRemove the directory and restore again.\n"),
            Some(s) => format!(
                "What it replaced is in safety copy {s}: put it back with `lifeboat restore --id {s} --in-place --yes`,\n\
                 or run the restore again to complete this directory.\n"
            ),
            None => "Remove the directory and restore again (or run the restore again to complete it).\n".to_string(),
        };
        let text = format!(
            "{MARKER_LEAD}{job_id} of backup {backup_id} into this directory started at {} and has not finished.\n\
             If no restore is running (lifeboat status), it was stopped part way: this directory may be incomplete.\n{undo}",
            Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        // Written in place, not through a temp file: a process killed
        // while writing it leaves the marker (perhaps cut short), never an
        // unmarked temp file in the operator's directory.
        std::fs::write(&path, &text).map_err(|e| Error::io("cannot write", &path, e))?;
        Ok(IncompleteMarker { path, text })
    }

    /// Remove the marker, unless the restore itself put a file of that name
    /// there (then it is restored content, not ours).
    fn remove(&self) -> std::io::Result<()> {
        match std::fs::read(&self.path) {
            Ok(b) if b == self.text.as_bytes() => std::fs::remove_file(&self.path),
            _ => Ok(()),
        }
    }

    /// After a restore into an existing directory has finished: remove the
    /// marker an earlier, interrupted restore into it left, and say so.
    fn clear_stale(dir: &Path) -> Option<String> {
        let path = dir.join(INCOMPLETE_MARKER);
        let text = std::fs::read_to_string(&path).ok()?;
        if !text.starts_with(MARKER_LEAD) {
            return None;
        }
        Some(match std::fs::remove_file(&path) {
            Ok(()) => format!(
                "removed {} left by an interrupted earlier restore: this restore completed the directory",
                path.display()
            ),
            Err(e) => format!(
                "{} (left by an interrupted earlier restore) could not be removed ({e}); this restore completed the directory, remove it by hand",
                path.display()
            ),
        })
    }
}

/// A restore target directory this restore created: removed again, whole,
/// unless the restore finishes ([`NewDir::keep`]).
struct NewDir {
    path: PathBuf,
    armed: bool,
}

impl NewDir {
    /// Create `dir` (and its missing parents); `None` when it already exists.
    fn claim(dir: &Path) -> Result<Option<NewDir>> {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::storage::local::create_dir_all_private(parent)?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => Ok(Some(NewDir {
                path: dir.to_path_buf(),
                armed: true,
            })),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(Error::io("cannot create restore target", dir, e)),
        }
    }

    /// Remove the directory, read-only subdirectories included.
    fn remove(&mut self) -> std::io::Result<()> {
        self.armed = false;
        crate::storage::local::remove_tree(&self.path)
    }

    /// Remove the directory; what happened, for an error message.
    fn remove_and_say(&mut self) -> String {
        match self.remove() {
            Ok(()) => format!(
                "the new directory {} was removed, nothing else was touched",
                self.path.display()
            ),
            Err(e) => format!(
                "the new directory {} could not be removed ({e}) and is incomplete: remove it by hand; nothing else was touched",
                self.path.display()
            ),
        }
    }

    fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for NewDir {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.remove();
        }
    }
}

/// For each link of a chain, the files that a later link stores again or
/// deletes: writing them would be wasted (a log that grew is in every
/// incremental whole). Holds only changed paths, not the whole tree.
fn superseded_by_later_links(
    links: &[Artifact],
    keys: &[Option<DataKey>],
) -> Result<Vec<std::collections::HashSet<Vec<u8>>>> {
    let mut sets = vec![std::collections::HashSet::new(); links.len()];
    let mut later = std::collections::HashSet::new();
    for i in (0..links.len()).rev() {
        sets[i] = later.clone();
        if i == 0 {
            break;
        }
        let link = &links[i];
        for e in link.open_index(keys[i].as_ref())? {
            let e = e?;
            let replaced = (e.kind == filesystem::EntryKind::File && e.stored)
                || e.kind == filesystem::EntryKind::Deleted;
            if replaced {
                later.insert(e.path);
            }
        }
    }
    Ok(sets)
}

/// Extract one link; with `hash_as_read`, also check the stored bytes'
/// SHA-256 and length against the manifest once the stream is consumed
/// (and leave out the per-file hashes where that authenticates every byte).
/// `progress` gets the bytes of the link's stream read so far and its
/// entries extracted; a `ChainProgress` makes that a chain's progress.
pub fn extract_link_checked(
    link: &Artifact,
    dk: Option<&DataKey>,
    dest: &Dest,
    progress: &dyn Progress,
    cancel: &AtomicBool,
    hash_as_read: bool,
    opts: filesystem::ExtractOptions,
) -> Result<ExtractOutcome> {
    let file = link.open_file(&link.manifest.payload.file)?;
    let dk_payload = if link.manifest.encrypted { dk } else { None };
    // An encrypted stream is authenticated segment by segment (AES-GCM,
    // with the header and the end-of-stream flag bound in), under a key
    // that only opens for this manifest: hashing its bytes again would add
    // nothing but a core's worth of work. Unencrypted streams are hashed.
    let hash_stored = !link.manifest.encrypted;
    let (source, digest) = pipeline::HashingReader::new_optional(file, hash_as_read && hash_stored);
    let stream = pipeline::open_stream_from(
        source,
        link.manifest.compression,
        dk_payload,
        Some(link.manifest.payload.size),
    )
    .map_err(|e| link.about(&link.manifest.payload.file, e))?;
    // Progress is how far into the stream the extraction is: what a
    // chain's total counts (see `chain_progress`), the caller's to set.
    let read = std::cell::Cell::new(0);
    let mut stream = Counted {
        inner: pipeline::ReadAhead::new(stream),
        read: &read,
    };
    let mut index = link.open_index(dk)?;
    let cb = |_written: u64, items: u64| progress.advance(read.get(), items);
    // Files are checked against their SHA-256 in the index before they go
    // into place (on the extractor's own file thread), except where the
    // stream is encrypted and read in one pass: there AES-GCM has
    // authenticated every byte before the extractor sees it (the index
    // hashes were computed from those same bytes), so hashing again would
    // only repeat that, at about 0.75 s of CPU per GiB. `verify --deep`
    // still checks every restored file against the index.
    let opts = filesystem::ExtractOptions {
        check_hashes: opts.check_hashes && !(hash_as_read && link.manifest.encrypted),
        ..opts
    };
    let outcome = filesystem::extract_with(&mut stream, &mut index, dest, &cb, cancel, opts)?;
    if hash_as_read {
        // Read what the tar reader left (end-of-archive padding), so the
        // whole stored stream is authenticated: the last segment carries
        // the end-of-stream flag, which is what proves nothing was cut off.
        std::io::copy(&mut stream, &mut std::io::sink()).map_err(|e| link.payload_read_error(e))?;
        let (sha, len) = digest.finish();
        let sha_ok = !hash_stored || sha == link.manifest.payload.sha256;
        if len != link.manifest.payload.stored_size || !sha_ok {
            return Err(Error::integrity(format!(
                "payload {} of backup {} does not match its manifest (SHA-256 or length differ)",
                link.describe(&link.manifest.payload.file),
                link.manifest.id
            ))
            .hint("this backup cannot be trusted; use another one (`lifeboat list`)"));
        }
    }
    Ok(outcome)
}

/// In-place configuration restores put the captured environment and version
/// (`.lifeboat-config/`) next to the catalog instead of at `/`.
fn relocate_config_extras(engine: &Engine, dest: &Dest) -> Result<Option<String>> {
    let Dest::InPlace = dest else {
        return Ok(None);
    };
    let extras = Path::new("/.lifeboat-config");
    if !extras.exists() {
        return Ok(None);
    }
    let to = engine
        .config
        .catalog
        .path
        .parent()
        .unwrap_or(Path::new("."))
        .join("restores")
        .join(format!(
            "config-extras-{}",
            Utc::now().format("%Y%m%d_%H%M%S")
        ));
    crate::storage::local::create_dir_all_private(to.parent().unwrap())?;
    std::fs::rename(extras, &to)
        .map_err(|e| Error::io("cannot move restored environment to", &to, e))?;
    Ok(Some(format!(
        "captured environment variables and version were written to {} (they are not applied to running processes)",
        to.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::canonical_target;

    #[test]
    fn a_target_has_one_name_however_it_is_written() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::create_dir(root.join("real")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        let want = root.join("real/t");
        for written in [
            "real/t",
            "real/../real/t",
            "real/./t/",
            "link/t",
            "link/../real/t",
            "real/t/../t",
            "real/new/../t",
        ] {
            assert_eq!(
                canonical_target(&root.join(written)).unwrap(),
                want,
                "{written}"
            );
        }
        // Existing or not, the target itself resolves the same way.
        std::fs::create_dir(&want).unwrap();
        assert_eq!(canonical_target(&root.join("link/t/../t")).unwrap(), want);
        assert_eq!(
            canonical_target(&root.join("real/..")).unwrap(),
            root,
            "`..` of an existing directory is its parent"
        );
    }
}
