//! Retention per target. A target with its own `keep_days` (longer than
//! the repository's) keeps its copies by its own plan: the same rules as
//! the repository's (`min_keep`, `keep_last`, calendar buckets, parents of
//! kept incrementals), over the backups it holds a counting copy of, with
//! its longer window. Prune then takes a backup out of the repository
//! alone while such a target keeps it; the backup lives on there
//! (restore and verify read it from the target) until no target keeps it
//! any longer, and only then does its catalog row go.
//!
//! A copy that does not count (failed, missing) keeps nothing: a backup is
//! never left with no good copy anywhere while its row says otherwise.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::catalog::BackupRecord;
use crate::error::Result;
use crate::ops::Engine;

/// What each target with its own retention keeps.
pub(super) struct TargetKeeps {
    /// Target name → (its keep_days, the ids its plan keeps).
    kept: HashMap<String, (u32, HashSet<String>)>,
    /// Backup id → the targets that hold a copy that counts.
    holders: HashMap<String, Vec<String>>,
}

impl TargetKeeps {
    pub(super) fn plan(
        engine: &Engine,
        backups: &[BackupRecord],
        now: DateTime<Utc>,
        tz: Tz,
        force: bool,
    ) -> Result<TargetKeeps> {
        let mut holders: HashMap<String, Vec<String>> = HashMap::new();
        for c in engine.catalog.all_copies()? {
            if c.state.counts() {
                holders.entry(c.backup_id).or_default().push(c.target);
            }
        }
        let mut kept = HashMap::new();
        for t in &engine.config.targets {
            let Some(days) = t.keep_days else { continue };
            let held: Vec<BackupRecord> = backups
                .iter()
                .filter(|b| holders.get(&b.id).is_some_and(|h| h.contains(&t.name)))
                .cloned()
                .collect();
            let plan = super::plan_with(&held, now, tz, force, &|ty| {
                let mut p = engine.config.retention_policy(ty);
                p.keep_days = p.keep_days.max(days);
                p
            });
            let ids = plan
                .decisions
                .into_iter()
                .filter(|d| d.keep)
                .map(|d| d.id)
                .collect();
            kept.insert(t.name.clone(), (days, ids));
        }
        Ok(TargetKeeps { kept, holders })
    }

    /// The targets that keep backup `id` (a counting copy, and their plan
    /// keeps it), with their keep_days.
    pub(super) fn keepers(&self, id: &str) -> Vec<(String, u32)> {
        let Some(holders) = self.holders.get(id) else {
            return Vec::new();
        };
        holders
            .iter()
            .filter_map(|h| {
                let (days, ids) = self.kept.get(h)?;
                ids.contains(id).then(|| (h.clone(), *days))
            })
            .collect()
    }

    /// Targets with their own retention that hold a counting copy of
    /// `id` and whose plan lets it go: what makes an offsite-only backup
    /// expire (a copy that stopped counting, or a target taken out of the
    /// configuration, does not).
    pub(super) fn expired_on(&self, id: &str) -> Vec<String> {
        self.holders
            .get(id)
            .map(|h| {
                h.iter()
                    .filter(|n| self.kept.get(*n).is_some_and(|(_, ids)| !ids.contains(id)))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The targets that hold a counting copy of `id` but do not keep it.
    pub(super) fn letting_go(&self, id: &str) -> Vec<String> {
        let keepers: Vec<String> = self.keepers(id).into_iter().map(|(n, _)| n).collect();
        self.holders
            .get(id)
            .map(|h| h.iter().filter(|n| !keepers.contains(n)).cloned().collect())
            .unwrap_or_default()
    }
}

/// "kept on target 'offsite' (keep_days = 90)", for the log and audit.
pub(super) fn describe(keepers: &[(String, u32)]) -> String {
    keepers
        .iter()
        .map(|(n, d)| format!("target '{n}' (keep_days = {d})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Does target `name` hold the whole of the backup whose manifest is
/// `manifest_json` (every object there, at its size)? Asked of a keeper
/// before the repository lets its own copy go: the catalog's word is not
/// enough (a lifecycle rule, a hand deletion). `Err`: it cannot be told
/// (unreachable).
pub(super) fn holds_whole(engine: &Engine, name: &str, manifest_json: &str) -> Result<bool> {
    use crate::archive::manifest::Manifest;
    let Ok(m) = serde_json::from_str::<Manifest>(manifest_json) else {
        return Ok(false);
    };
    let target = crate::storage::remote::Target::open(engine.config.target(name)?)?;
    let t = m.backup_type;
    let rel = |f: &str| format!("{}/{f}", t.dir());
    if target
        .size_of(&rel(&Manifest::file_name_for(&m.payload.file)))?
        .is_none()
    {
        return Ok(false);
    }
    for s in std::iter::once(&m.payload).chain(m.index.as_ref()) {
        if target.size_of(&rel(&s.file))? != Some(s.stored_size) {
            return Ok(false);
        }
    }
    Ok(true)
}
