//! Retention: which backups a policy lets go, with the reason for every
//! decision, and deleting them as an audited job.
//!
//! Safety rules come before the policy: the newest `min_keep` good backups
//! of a type are kept whatever the policy says; a parent that a kept
//! incremental needs is kept; a plan that would delete every good backup of
//! a type is refused; and a type whose newest backup is dated in the future
//! (the clock went back) or older than its whole window (backups stopped, or
//! the clock jumped forward) is not pruned without `--force`.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Datelike, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::archive::manifest::BackupType;
use crate::catalog::{BackupRecord, BackupStatus, JobKind};
use crate::config::{Config, RetentionPolicy};
use crate::error::Result;
use crate::ops::jobs::{check_cancel, Job};
use crate::ops::{Engine, Progress};
use crate::Cancel;

/// Slack for clocks of different hosts before a backup counts as "future".
const FUTURE_SLACK_MINUTES: i64 = 10;

/// One backup and what the plan does with it.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub id: String,
    #[serde(rename = "type")]
    pub backup_type: BackupType,
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub status: BackupStatus,
    pub stored_size: u64,
    pub file: String,
    pub keep: bool,
    /// Why it is kept (every rule that keeps it) or why it goes.
    pub reasons: Vec<String>,
    /// Going from the repository, kept on these targets (their own,
    /// longer keep_days): it lives on there.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept_on: Vec<String>,
    /// It lives on targets only already (the repository let it go).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub offsite_only: bool,
}

/// A type the plan leaves alone, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    #[serde(rename = "type")]
    pub backup_type: BackupType,
    pub reason: String,
}

/// What prune would do.
#[derive(Debug, Clone, Serialize)]
pub struct PrunePlan {
    pub now: DateTime<Utc>,
    pub decisions: Vec<Decision>,
    pub refused: Vec<Refusal>,
    /// Backups on targets only with something left to tidy: files a
    /// killed prune left in the repository, copies a target no longer
    /// keeps. Work for a prune even when nothing is deleted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cleanup: Vec<String>,
}

impl PrunePlan {
    pub fn to_delete(&self) -> impl Iterator<Item = &Decision> {
        self.decisions.iter().filter(|d| !d.keep)
    }
    /// Bytes freed in the repository.
    pub fn bytes_freed(&self) -> u64 {
        self.to_delete()
            .filter(|d| !d.offsite_only)
            .map(|d| d.stored_size)
            .sum()
    }
}

/// What prune did.
#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    pub job_id: i64,
    pub deleted: Vec<String>,
    pub bytes_freed: u64,
    pub refused: Vec<Refusal>,
}

/// Decide, for every backup, whether the policy keeps it. Pure: `backups`
/// and `now` are all it looks at. Calendar buckets (daily, weekly,
/// monthly) are days in `tz`.
pub fn plan(
    config: &Config,
    backups: &[BackupRecord],
    now: DateTime<Utc>,
    tz: Tz,
    force: bool,
) -> PrunePlan {
    plan_with(backups, now, tz, force, &|t| config.retention_policy(t))
}

/// [`plan`] under the policy `policy_of` gives each type.
pub(crate) fn plan_with(
    backups: &[BackupRecord],
    now: DateTime<Utc>,
    tz: Tz,
    force: bool,
    policy_of: &dyn Fn(BackupType) -> RetentionPolicy,
) -> PrunePlan {
    let mut by_type: HashMap<BackupType, Vec<&BackupRecord>> = HashMap::new();
    for b in backups {
        by_type.entry(b.backup_type).or_default().push(b);
    }
    let mut decisions = Vec::new();
    let mut refused = Vec::new();
    let mut types: Vec<_> = by_type.keys().copied().collect();
    types.sort_by_key(|t| t.as_str());
    for t in types {
        let mut list = by_type.remove(&t).unwrap_or_default();
        list.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        let policy = policy_of(t);
        let (mut ds, refusal) = plan_type(t, &list, &policy, now, tz, force);
        if let Some(reason) = refusal {
            for d in &mut ds {
                if !d.keep {
                    d.keep = true;
                    d.reasons = vec![format!("kept: {t} is not pruned ({reason})")];
                }
            }
            refused.push(Refusal {
                backup_type: t,
                reason,
            });
        }
        decisions.extend(ds);
    }
    PrunePlan {
        now,
        decisions,
        refused,
        cleanup: Vec::new(),
    }
}

/// One type, newest first: every keep rule in turn, then the decisions and
/// whether the safety rules let the plan stand (on a refusal, [`plan`] keeps
/// them all).
fn plan_type(
    t: BackupType,
    list: &[&BackupRecord],
    p: &RetentionPolicy,
    now: DateTime<Utc>,
    tz: Tz,
    force: bool,
) -> (Vec<Decision>, Option<String>) {
    let mut plan = TypePlan::new(list, p, now);
    plan.keep_newest_and_recent();
    plan.keep_calendar_periods(tz);
    plan.keep_uncounted_within_window();
    plan.keep_parents_of_kept();
    let refusal = plan.refusal(t, force);
    (plan.into_decisions(), refusal)
}

/// The retention plan of one type under way: its backups newest first,
/// which of them count toward the keep rules, and every reason found so far
/// to keep each one.
///
/// The rules run in order as methods, each adding reasons and none taking
/// one away, so a backup's reasons list every rule that keeps it. The
/// parents of kept incrementals come last, since they follow from all the
/// other rules. A backup with no reason at the end goes, unless the safety
/// rules ([`TypePlan::refusal`]) refuse the whole plan.
struct TypePlan<'a> {
    list: &'a [&'a BackupRecord],
    policy: &'a RetentionPolicy,
    now: DateTime<Utc>,
    /// `keep_days` as a duration.
    window: Duration,
    /// Indexes into `list` of the backups that count toward the keep
    /// rules, newest first.
    good: Vec<usize>,
    /// For each backup in `list`, the rules that keep it; none: it goes.
    keep: Vec<Vec<String>>,
}

impl<'a> TypePlan<'a> {
    /// Find the backups that count, with no reasons yet.
    ///
    /// Only backups that can be relied on count toward the keep rules: a
    /// failed verification, or a safety copy (which holds only what one
    /// restore replaced), never makes an older good backup expendable. An
    /// incremental is only as good as its chain: one whose full failed
    /// verification (or is gone) restores nothing.
    fn new(list: &'a [&'a BackupRecord], policy: &'a RetentionPolicy, now: DateTime<Utc>) -> Self {
        let by_id: HashMap<&str, &BackupRecord> =
            list.iter().map(|b| (b.id.as_str(), *b)).collect();
        let good: Vec<usize> = (0..list.len())
            .filter(|&i| {
                crate::catalog::chain_is_good(list[i], &by_id) && !list[i].is_safety_copy()
            })
            .collect();
        TypePlan {
            list,
            policy,
            now,
            window: Duration::days(i64::from(policy.keep_days)),
            good,
            keep: vec![Vec::new(); list.len()],
        }
    }

    /// Whether some rule keeps backup `i` so far.
    fn kept(&self, i: usize) -> bool {
        !self.keep[i].is_empty()
    }

    /// `min_keep`, `keep_last` and `keep_days`, over the backups that
    /// count: the newest by rank, and those younger than the window.
    fn keep_newest_and_recent(&mut self) {
        let p = self.policy;
        for (rank, &i) in self.good.iter().enumerate() {
            let age = self.now - self.list[i].created_at;
            if rank < p.min_keep as usize {
                self.keep[i].push(format!(
                    "one of the newest {} good backups (min_keep)",
                    p.min_keep
                ));
            }
            if rank < p.keep_last as usize {
                self.keep[i].push(format!("one of the newest {} (keep_last)", p.keep_last));
            }
            if age < self.window {
                self.keep[i].push(format!(
                    "{} old, within keep_days = {}",
                    human_age(age),
                    p.keep_days
                ));
            }
        }
    }

    /// `keep_daily`, `keep_weekly` and `keep_monthly`: the newest backup
    /// that counts in each calendar period, periods being days in `tz`.
    fn keep_calendar_periods(&mut self, tz: Tz) {
        let p = self.policy;
        let (list, good, keep) = (self.list, &self.good, &mut self.keep);
        bucket_keep(list, good, keep, p.keep_daily, "daily", tz, |d| {
            (d.year(), d.ordinal(), 0)
        });
        bucket_keep(list, good, keep, p.keep_weekly, "weekly", tz, |d| {
            let w = d.iso_week();
            (w.year(), w.week(), 0)
        });
        bucket_keep(list, good, keep, p.keep_monthly, "monthly", tz, |d| {
            (d.year(), d.month(), 0)
        });
    }

    /// The backups that do not count: a good one (safety copy, failed
    /// verification, broken chain) or a failed record is kept while it is
    /// within the window, without making any other backup expendable; a
    /// running one is always kept.
    fn keep_uncounted_within_window(&mut self) {
        let p = self.policy;
        let mut counts = vec![false; self.list.len()];
        self.good.iter().for_each(|&i| counts[i] = true);
        for (i, b) in self.list.iter().enumerate() {
            let within = self.now - b.created_at < self.window;
            if b.status.is_good() && !counts[i] {
                if within {
                    self.keep[i].push(format!(
                        "{} within keep_days = {} (does not count toward the keep rules)",
                        why_uncounted(b),
                        p.keep_days
                    ));
                }
            } else if !b.status.is_good() {
                if b.status == BackupStatus::Running {
                    self.keep[i].push("still running".to_string());
                } else if within {
                    self.keep[i].push(format!(
                        "{} record within keep_days = {} (kept for the history)",
                        b.status, p.keep_days
                    ));
                }
            }
        }
    }

    /// A kept incremental needs its whole chain: every ancestor of a backup
    /// some rule keeps is kept too, whatever the rules said of it. A cycle
    /// or a parent that is not in the list ends the walk.
    fn keep_parents_of_kept(&mut self) {
        let list = self.list;
        let index: HashMap<&str, usize> = list
            .iter()
            .enumerate()
            .map(|(i, b)| (b.id.as_str(), i))
            .collect();
        let kept_now: Vec<usize> = (0..list.len()).filter(|&i| self.kept(i)).collect();
        for i in kept_now {
            let child = list[i].id.clone();
            let mut seen = BTreeSet::new();
            let mut cur = list[i].parent_id.as_deref();
            while let Some(pid) = cur {
                if !seen.insert(pid.to_string()) {
                    break;
                }
                let Some(&pi) = index.get(pid) else { break };
                self.keep[pi].push(format!("parent of kept incremental {child}"));
                cur = list[pi].parent_id.as_deref();
            }
        }
    }

    /// The safety rules, once every keep rule has run: why this type must
    /// not be pruned, if it must not. A plan that deletes nothing is never
    /// refused; otherwise, in this order: a clock gone back, a plan that
    /// deletes every backup that counts, and (unless `force`) backups that
    /// stopped or a clock that jumped forward.
    fn refusal(&self, t: BackupType, force: bool) -> Option<String> {
        let deletes = (0..self.list.len()).any(|i| !self.kept(i));
        if !deletes {
            return None;
        }
        if let Some(newest) = self.list.iter().map(|b| b.created_at).max() {
            if newest > self.now + Duration::minutes(FUTURE_SLACK_MINUTES) {
                return Some(format!(
                    "its newest backup is dated {}, in the future: the clock may have gone back; fix the clock, then prune",
                    newest.format("%Y-%m-%d %H:%M UTC")
                ));
            }
        }
        let any_good_kept = self.good.iter().any(|&i| self.kept(i));
        if !self.good.is_empty() && !any_good_kept {
            return Some(format!(
                "the policy would delete every good {t} backup; refusing (set min_keep or keep_last above 0)"
            ));
        }
        if let Some(&newest_good) = self.good.first() {
            let age = self.now - self.list[newest_good].created_at;
            if age >= self.window && !force {
                return Some(format!(
                    "its newest good backup is {} old, older than keep_days = {}: backups have stopped or the clock jumped forward; fix backups first, or prune with --force to apply the policy anyway",
                    human_age(age),
                    self.policy.keep_days
                ));
            }
        }
        None
    }

    /// One decision per backup, in the list's order: kept with every reason
    /// found, or deleted with the one reason it goes.
    fn into_decisions(self) -> Vec<Decision> {
        let (now, p) = (self.now, self.policy);
        self.list
            .iter()
            .zip(self.keep)
            .map(|(b, reasons)| {
                let keep = !reasons.is_empty();
                let reasons = if keep {
                    reasons
                } else {
                    vec![why_deleted(b, now, p)]
                };
                Decision {
                    id: b.id.clone(),
                    backup_type: b.backup_type,
                    name: b.name.clone(),
                    created_at: b.created_at,
                    status: b.status,
                    stored_size: b.stored_size,
                    file: b.file.clone(),
                    keep,
                    reasons,
                    kept_on: Vec::new(),
                    offsite_only: false,
                }
            })
            .collect()
    }
}

/// Why a good backup does not count toward the keep rules.
fn why_uncounted(b: &BackupRecord) -> &'static str {
    if b.is_safety_copy() {
        "safety copy"
    } else if b.verification_failed() {
        "backup that failed its last verification"
    } else {
        "incremental whose chain is not whole and verified"
    }
}

/// The one reason given for a backup no rule keeps: it failed its last
/// verification, or it is a good backup past the window, or the record of
/// a failed, interrupted or cancelled run past the window.
fn why_deleted(b: &BackupRecord, now: DateTime<Utc>, p: &RetentionPolicy) -> String {
    if b.verification_failed() {
        format!(
            "failed its last verification, {} old, past keep_days = {}",
            human_age(now - b.created_at),
            p.keep_days
        )
    } else if b.status.is_good() {
        format!(
            "{} old, past keep_days = {} and no other rule keeps it",
            human_age(now - b.created_at),
            p.keep_days
        )
    } else {
        format!("{} record older than keep_days = {}", b.status, p.keep_days)
    }
}

/// Keep the newest good backup of each of the last `n` buckets that have one.
fn bucket_keep<K: PartialEq>(
    list: &[&BackupRecord],
    good: &[usize],
    keep: &mut [Vec<String>],
    n: u32,
    label: &str,
    tz: Tz,
    key: impl Fn(chrono::NaiveDate) -> K,
) {
    let mut last: Option<K> = None;
    let mut taken = 0;
    for &i in good {
        if taken >= n {
            break;
        }
        let k = key(list[i].created_at.with_timezone(&tz).date_naive());
        if last.as_ref() != Some(&k) {
            keep[i].push(format!("newest of its {label} period (keep_{label} = {n})"));
            last = Some(k);
            taken += 1;
        }
    }
}

fn human_age(d: Duration) -> String {
    let h = d.num_hours();
    if h >= 48 {
        format!("{} days", d.num_days())
    } else if h >= 1 {
        format!("{h}h")
    } else {
        format!("{}m", d.num_minutes().max(0))
    }
}

/// Delete what the plan lets go, as a `prune` job holding the repository.
/// Each deletion is audited. A backup is taken out of the catalog only
/// after its files are gone (manifest first, so a half-deleted backup never
/// looks complete to `catalog rebuild`).
pub fn run(
    engine: &Engine,
    force: bool,
    now: DateTime<Utc>,
    face: &dyn Progress,
    cancel: &Cancel,
) -> Result<PruneReport> {
    crate::ops::jobs::run_job(
        engine,
        JobKind::Prune,
        "repository",
        face,
        cancel,
        crate::ops::jobs::JobEnd::plain(),
        |job, _| prune_job(engine, job, force, now),
    )
}

/// The plan prune carries out: the repository's policy over what it
/// holds; where a target with a longer keep_days keeps a backup the
/// repository lets go, only the repository's copy goes (`kept_on`); and
/// the backups that live on targets only, kept while a target keeps them.
pub fn plan_for(engine: &Engine, now: DateTime<Utc>, tz: Tz, force: bool) -> Result<PrunePlan> {
    plan_all(engine, now, tz, force).map(|(p, _)| p)
}

fn plan_all(
    engine: &Engine,
    now: DateTime<Utc>,
    tz: Tz,
    force: bool,
) -> Result<(PrunePlan, targets::TargetKeeps)> {
    let backups = engine.catalog.list_backups(None)?;
    let offsite = engine.catalog.offsite_only()?;
    let local: Vec<BackupRecord> = backups
        .iter()
        .filter(|b| !offsite.contains_key(&b.id))
        .cloned()
        .collect();
    let mut plan = plan(&engine.config, &local, now, tz, force);
    let keeps = targets::TargetKeeps::plan(engine, &backups, now, tz, force)?;
    for d in plan.decisions.iter_mut().filter(|d| !d.keep) {
        let k = keeps.keepers(&d.id);
        if !k.is_empty() {
            d.reasons.push(format!(
                "only the repository's copy goes: it lives on, kept on {}",
                targets::describe(&k)
            ));
            d.kept_on = k.into_iter().map(|(n, _)| n).collect();
        }
    }
    for b in backups.iter().filter(|b| offsite.contains_key(&b.id)) {
        let k = keeps.keepers(&b.id);
        let since = offsite[&b.id].format("%Y-%m-%d");
        // Gone only when a target's own retention let it go; a copy that
        // stopped counting or a target taken out of the configuration
        // leaves it in the catalog, said so (`copies --check` tells more).
        let expired = k.is_empty() && !keeps.expired_on(&b.id).is_empty();
        let reason = if !k.is_empty() {
            format!(
                "on targets only since {since}: kept on {}",
                targets::describe(&k)
            )
        } else if expired {
            format!("on targets only since {since}, and no target keeps it any longer (past every target's keep_days)")
        } else {
            format!("on targets only since {since}, but no configured target with keep_days holds a good copy of it (a target taken out of the configuration, or its copy gone): kept in the catalog; see `lifeboat copies {}`", b.id)
        };
        if !k.is_empty()
            && (std::path::Path::new(&format!(
                "{}{}",
                b.file,
                crate::archive::manifest::MANIFEST_SUFFIX
            ))
            .exists()
                || !keeps.letting_go(&b.id).is_empty())
        {
            plan.cleanup.push(b.id.clone());
        }
        plan.decisions.push(Decision {
            id: b.id.clone(),
            backup_type: b.backup_type,
            name: b.name.clone(),
            created_at: b.created_at,
            status: b.status,
            stored_size: b.stored_size,
            file: b.file.clone(),
            keep: !expired,
            reasons: vec![reason],
            kept_on: k.into_iter().map(|(n, _)| n).collect(),
            offsite_only: true,
        });
    }
    Ok((plan, keeps))
}

fn prune_job(engine: &Engine, job: &Job, force: bool, now: DateTime<Utc>) -> Result<PruneReport> {
    job.acquire("repository")?;
    let tz = crate::schedule::parse_tz(&engine.config.schedule.timezone)?;
    // Plan under the lock, from the catalog as it is now.
    let (plan, keeps) = plan_all(engine, now, tz, force)?;
    for r in &plan.refused {
        job.log(
            "warning",
            &format!("{} not pruned: {}", r.backup_type, r.reason),
        );
    }
    let doomed: Vec<&Decision> = plan.to_delete().collect();
    // A test freezes a prune here, planned and holding the lock.
    crate::crashpoint::hold("prune.planned", || {
        job.cancel_flag().load(std::sync::atomic::Ordering::Relaxed)
    });
    job.total(Some(plan.bytes_freed()), Some(doomed.len() as u64));
    job.phase("deleting");
    let mut deleted = Vec::new();
    let mut freed = 0u64;
    // Targets that failed a delete in this run: not waited for again.
    let down = std::cell::RefCell::new(Vec::new());
    for d in doomed {
        check_cancel(job.cancel_flag())?;
        let reasons = d.reasons.join("; ");
        // Taken before the row goes: which objects its copies are.
        let keys = engine
            .catalog
            .get_manifest_json(&d.id)?
            .map(|j| crate::ops::copies::keys_of(&j))
            .unwrap_or_default();
        let keepers = keeps.keepers(&d.id);
        if !d.kept_on.is_empty() && !keepers.is_empty() {
            // A target keeps it longer: only the repository lets it go,
            // once a keeper is seen to hold the whole of it now (the
            // catalog's word is not enough: a lifecycle rule, a hand
            // deletion). Otherwise it stays here this time.
            let json = engine.catalog.get_manifest_json(&d.id)?.unwrap_or_default();
            let mut seen = Vec::new();
            for (name, days) in &keepers {
                match targets::holds_whole(engine, name, &json) {
                    Ok(true) => seen.push((name.clone(), *days)),
                    Ok(false) => {
                        engine.catalog.set_copy(
                            &d.id,
                            name,
                            crate::catalog::copies::CopyState::Missing,
                            0,
                            crate::ops::now(),
                            Some("prune found it gone or changed in size on the target"),
                        )?;
                        job.log("warning", &format!("{}: its copy on '{name}' is gone or changed in size: marked missing (the next copy sends it again)", d.id));
                    }
                    Err(e) => job.log("warning", &format!("{}: cannot see its copy on '{name}' ({}); the repository keeps it this time", d.id, e.message)),
                }
            }
            if seen.is_empty() {
                job.log("warning", &format!("kept {} in the repository: no target that keeps it longer could be seen to hold it", d.id));
                continue;
            }
            // Every target whose plan keeps it keeps its copy (one that
            // could not be seen just now included).
            let names: Vec<String> = keepers.iter().map(|(n, _)| n.clone()).collect();
            let keepers = seen;
            let r = crate::ops::delete::leave_repository(engine, &d.id, &|p| job.track_partial(p))
                .map_err(|e| {
                    e.hint(format!(
                        "backup {} was not removed from the repository; fix the problem and prune again",
                        d.id
                    ))
                })?;
            freed += r.freed;
            for l in &r.leftovers {
                job.log("warning", &format!("{}: {l}", d.id));
            }
            let kept = targets::describe(&keepers);
            engine.audit(
                "prune",
                &d.id,
                "deleted from the repository",
                &format!("{reasons}; kept on {kept}"),
            )?;
            job.log(
                "info",
                &format!(
                    "deleted {} from the repository ({reasons}); it lives on, kept on {kept}",
                    d.id
                ),
            );
            for (level, line) in
                crate::ops::copies::delete_copies_except(engine, &d.id, &keys, &names, &down)
            {
                job.log(level, &line);
            }
            deleted.push(d.id.clone());
            job.advance(freed, deleted.len() as u64);
            continue;
        }
        match crate::ops::delete::delete_inner(engine, &d.id, &|p| job.track_partial(p)) {
            Ok(r) => {
                freed += r.freed;
                for l in &r.leftovers {
                    job.log("warning", &format!("{}: {l}", d.id));
                }
            }
            // Another backup (a failed incremental kept for the record)
            // still names it as parent: keep it this time, say so.
            Err(e) if e.kind == crate::error::ErrorKind::Refused => {
                job.log(
                    "warning",
                    &format!("kept {}: {}", d.id, e.display_with_hint()),
                );
                continue;
            }
            Err(e) => {
                return Err(e.hint(format!(
                    "backup {} was not removed; fix the problem and prune again",
                    d.id
                )))
            }
        }
        engine.audit("prune", &d.id, "deleted", &reasons)?;
        job.log("info", &format!("deleted {} ({reasons})", d.id));
        for (level, line) in crate::ops::copies::delete_copies_skipping(engine, &d.id, &keys, &down)
        {
            job.log(level, &line);
        }
        deleted.push(d.id.clone());
        job.advance(freed, deleted.len() as u64);
    }
    // What lives on targets only and is kept: files a killed prune left
    // in the repository go, and copies a target no longer keeps.
    for d in plan
        .decisions
        .iter()
        .filter(|d| d.keep && plan.cleanup.contains(&d.id))
    {
        check_cancel(job.cancel_flag())?;
        if std::path::Path::new(&format!(
            "{}{}",
            d.file,
            crate::archive::manifest::MANIFEST_SUFFIX
        ))
        .exists()
        {
            let r = crate::ops::delete::leave_repository(engine, &d.id, &|p| job.track_partial(p))?;
            freed += r.freed;
        }
        if !keeps.letting_go(&d.id).is_empty() {
            let keys = engine
                .catalog
                .get_manifest_json(&d.id)?
                .map(|j| crate::ops::copies::keys_of(&j))
                .unwrap_or_default();
            for (level, line) in
                crate::ops::copies::delete_copies_except(engine, &d.id, &keys, &d.kept_on, &down)
            {
                job.log(level, &line);
            }
        }
    }
    Ok(PruneReport {
        job_id: job.id,
        deleted,
        bytes_freed: freed,
        refused: plan.refused,
    })
}

mod targets;

#[cfg(test)]
mod tests;
