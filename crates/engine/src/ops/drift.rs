//! Drift: `lifeboat copies --check` lists every target and compares the
//! listing with the copies the catalog records there. What it found (the
//! listing and every copy's new state) is recorded in one catalog
//! transaction, so a check killed half-way leaves the previous check's
//! listing and states, never a listing that disagrees with them.
//! Nothing on a target is ever removed here.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::archive::manifest::Manifest;
use crate::catalog::copies::{CheckFinding, CopyRecord, CopyState, ListedObject};
use crate::error::Result;
use crate::ops::fetch::{rel, AUDIT_KEY};
use crate::ops::Engine;
use crate::storage::remote::Target;

/// What a listing of one target found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TargetDrift {
    pub target: String,
    pub objects: usize,
    pub bytes: u64,
    /// Copies on record that the listing does not hold whole: "ID: why".
    pub missing: Vec<String>,
    /// Objects no backup in the catalog claims (drift: never removed here).
    pub unclaimed: Vec<String>,
    /// On an append-only target, the copies of backups pruned locally,
    /// which the target's own retention keeps (not drift).
    pub retained: Vec<String>,
    /// Complete copies found that were not on record (now recorded).
    pub found: Vec<String>,
    /// The target could not be listed.
    pub error: Option<String>,
}

impl TargetDrift {
    pub fn clean(&self) -> bool {
        self.missing.is_empty() && self.unclaimed.is_empty() && self.error.is_none()
    }
}

/// The files of every backup in the catalog, by object key: (backup id,
/// stored size). From the manifests the catalog keeps (no disk reads).
fn claimed_keys(engine: &Engine) -> Result<HashMap<String, (String, u64)>> {
    let mut out = HashMap::new();
    for rec in engine.catalog.list_backups(None)? {
        let Some(m) = engine
            .catalog
            .get_manifest_json(&rec.id)?
            .and_then(|j| serde_json::from_str::<Manifest>(&j).ok())
        else {
            continue;
        };
        let t = m.backup_type;
        for s in std::iter::once(&m.payload).chain(m.index.as_ref()) {
            out.insert(rel(t, &s.file), (rec.id.clone(), s.stored_size));
        }
        // The manifest's size is not in the manifest: any size claims it.
        out.insert(
            rel(t, &Manifest::file_name_for(&m.payload.file)),
            (rec.id.clone(), u64::MAX),
        );
    }
    Ok(out)
}

/// List every target (or one), keep the listing in the catalog, and
/// compare it with what the catalog says is there. A copy not there whole
/// becomes `missing`; an object no backup claims is reported, never
/// deleted; a whole copy not on record is recorded. Each target's listing
/// and findings are recorded together ([`crate::catalog::Catalog::record_check`]).
pub fn check(engine: &Engine, only: Option<&str>) -> Result<Vec<TargetDrift>> {
    if let Some(n) = only {
        engine.config.target(n)?;
    }
    let claimed = claimed_keys(engine)?;
    let recorded = engine.catalog.all_copies()?;
    let mut out = Vec::new();
    for cfg in &engine.config.targets {
        if only.is_some_and(|n| n != cfg.name) {
            continue;
        }
        let mut d = TargetDrift {
            target: cfg.name.clone(),
            ..Default::default()
        };
        let listing = Target::open(cfg).and_then(|t| t.list(""));
        let objects = match listing {
            Ok(o) => o,
            Err(e) => {
                d.error = Some(e.display_with_hint());
                out.push(d);
                continue;
            }
        };
        let now = crate::ops::now();
        let listed: Vec<ListedObject> = objects
            .iter()
            .map(|o| ListedObject {
                key: o.key.clone(),
                size: o.size,
                modified: o.modified,
            })
            .collect();
        d.objects = objects.len();
        d.bytes = objects.iter().map(|o| o.size).sum();
        let have: HashMap<&str, u64> = objects.iter().map(|o| (o.key.as_str(), o.size)).collect();
        let findings = compare(cfg, &claimed, &recorded, &have, &mut d);
        engine
            .catalog
            .record_check(&cfg.name, &listed, &findings, now)?;
        out.push(d);
    }
    Ok(out)
}

/// What the listing `have` says of each backup's copy on `cfg`: the
/// copies whose state changes (the report `d` says the same in words).
fn compare(
    cfg: &crate::config::TargetConfig,
    claimed: &HashMap<String, (String, u64)>,
    recorded: &[CopyRecord],
    have: &HashMap<&str, u64>,
    d: &mut TargetDrift,
) -> Vec<CheckFinding> {
    let mut findings = Vec::new();
    // Per backup: its files' keys and sizes.
    let mut files: HashMap<&str, Vec<(&str, u64)>> = HashMap::new();
    for (key, (id, size)) in claimed {
        files
            .entry(id.as_str())
            .or_default()
            .push((key.as_str(), *size));
    }
    let on_record: HashSet<&str> = recorded
        .iter()
        .filter(|c| c.target == cfg.name && c.state.counts())
        .map(|c| c.backup_id.as_str())
        .collect();
    // Any record at all: a copy found altered stays so until it is sent again.
    let any_record: HashSet<&str> = recorded
        .iter()
        .filter(|c| c.target == cfg.name)
        .map(|c| c.backup_id.as_str())
        .collect();
    for (id, fs) in &files {
        let problems: Vec<String> = fs
            .iter()
            .filter_map(|(key, size)| match have.get(key) {
                None => Some(format!("{key} is gone")),
                Some(n) if *size != u64::MAX && n != size => {
                    Some(format!("{key} is {n} bytes, the manifest says {size}"))
                }
                _ => None,
            })
            .collect();
        if on_record.contains(id) && !problems.is_empty() {
            let why = format!("not on the target whole: {}", problems.join("; "));
            d.missing.push(format!("{id}: {why}"));
            findings.push(CheckFinding {
                backup_id: id.to_string(),
                state: CopyState::Missing,
                bytes: 0,
                error: Some(why),
            });
        } else if !any_record.contains(id) && problems.is_empty() {
            let bytes = fs
                .iter()
                .filter(|(_, s)| *s != u64::MAX)
                .map(|(_, s)| s)
                .sum();
            d.found.push(id.to_string());
            findings.push(CheckFinding {
                backup_id: id.to_string(),
                state: CopyState::Copied,
                bytes,
                error: None,
            });
        }
    }
    for key in have.keys() {
        if claimed.contains_key(*key) || *key == AUDIT_KEY {
            continue;
        }
        if cfg.append_only {
            d.retained.push(key.to_string());
        } else {
            d.unclaimed.push(key.to_string());
        }
    }
    d.unclaimed.sort();
    d.retained.sort();
    d.missing.sort();
    d.found.sort();
    findings.sort_by(|a, b| a.backup_id.cmp(&b.backup_id));
    findings
}
