//! Offsite copies as health and the Storage screen see them: each type's
//! 3-2-1 verdict and each target's share, from the catalog alone (no
//! request to any target).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::archive::manifest::BackupType;
use crate::catalog::copies::{CopyRecord, CopyState};
use crate::catalog::Catalog;
use crate::config::{Config, TargetConfig};
use crate::error::Result;

/// The 3-2-1 verdict of a type, judged on its newest good backup.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeVerdict {
    #[serde(rename = "type")]
    pub backup_type: BackupType,
    pub newest: Option<String>,
    pub copies: u32,
    pub required: u32,
    pub media: u32,
    pub offsite: u32,
    pub meets_policy: bool,
    pub meets_3_2_1: bool,
    /// In words: "3-2-1 met", or what is lacking.
    pub verdict: String,
}

pub fn verdict(
    config: &Config,
    t: BackupType,
    newest: Option<(&str, u32)>,
    recorded: &[CopyRecord],
) -> TypeVerdict {
    let required = config.required_copies(t);
    let Some((id, copies)) = newest else {
        return TypeVerdict {
            backup_type: t,
            newest: None,
            copies: 0,
            required,
            media: 0,
            offsite: 0,
            meets_policy: false,
            meets_3_2_1: false,
            verdict: format!("no {t} backup yet"),
        };
    };
    let held: Vec<&TargetConfig> = recorded
        .iter()
        .filter(|c| c.backup_id == id && c.state.counts())
        .filter_map(|c| config.targets.iter().find(|t| t.name == c.target))
        .collect();
    let mut media: Vec<&str> = vec!["local"];
    for t in &held {
        if !media.contains(&t.kind.as_str()) {
            media.push(t.kind.as_str());
        }
    }
    let offsite = held.iter().filter(|t| t.is_offsite()).count() as u32;
    let meets_policy = copies >= required;
    let meets = copies >= 3 && media.len() >= 2 && offsite >= 1;
    let mut lacking = Vec::new();
    if copies < 3 {
        lacking.push(format!("{copies} of 3 copies"));
    }
    if media.len() < 2 {
        lacking.push(format!("{} of 2 media", media.len()));
    }
    if offsite == 0 {
        lacking.push("no offsite copy".to_string());
    }
    let mut verdict = if meets {
        "3-2-1 met".to_string()
    } else {
        format!("3-2-1 not met: {}", lacking.join(", "))
    };
    if !meets_policy {
        verdict.push_str(&format!(
            "; below policy: {copies} of {required} required copies"
        ));
    }
    TypeVerdict {
        backup_type: t,
        newest: Some(id.to_string()),
        copies,
        required,
        media: media.len() as u32,
        offsite,
        meets_policy,
        meets_3_2_1: meets,
        verdict,
    }
}

/// One target's share of the copies, as the catalog records them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetCopies {
    pub name: String,
    pub location: String,
    pub offsite: bool,
    pub append_only: bool,
    /// Copies that count (copied or verified), and their bytes.
    pub copies: u64,
    pub bytes: u64,
    pub verified: u64,
    pub failed: u64,
    pub missing: u64,
    /// When `copies --check` last listed it.
    pub listed_at: Option<DateTime<Utc>>,
}

/// Every target's share, in config order.
pub fn targets(config: &Config, catalog: &Catalog) -> Result<Vec<TargetCopies>> {
    let all = catalog.all_copies()?;
    let mut out = Vec::new();
    for t in &config.targets {
        let mine: Vec<&CopyRecord> = all.iter().filter(|c| c.target == t.name).collect();
        let count = |s: CopyState| mine.iter().filter(|c| c.state == s).count() as u64;
        out.push(TargetCopies {
            name: t.name.clone(),
            location: t.location(),
            offsite: t.is_offsite(),
            append_only: t.append_only,
            copies: mine.iter().filter(|c| c.state.counts()).count() as u64,
            bytes: mine
                .iter()
                .filter(|c| c.state.counts())
                .map(|c| c.bytes)
                .sum(),
            verified: count(CopyState::Verified),
            failed: count(CopyState::Failed),
            missing: count(CopyState::Missing),
            listed_at: catalog.listing_time(&t.name)?,
        });
    }
    Ok(out)
}

/// Each configured type's verdict, on its newest good backup.
pub fn verdicts(
    config: &Config,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Result<Vec<TypeVerdict>> {
    let mut out = Vec::new();
    for t in config.configured_types() {
        let Some(b) = catalog.last_good_backup(t, now)? else {
            out.push(verdict(config, t, None, &[]));
            continue;
        };
        let copies = catalog.copies_of(&b.id)?;
        let n = 1 + copies
            .iter()
            .filter(|c| c.state.counts() && config.targets.iter().any(|t| t.name == c.target))
            .count() as u32;
        out.push(verdict(config, t, Some((&b.id, n)), &copies));
    }
    Ok(out)
}
