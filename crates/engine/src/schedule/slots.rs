//! Which scheduled runs are due, and claiming them in the catalog so that
//! each slot runs once: not twice when two daemons share a catalog, not once
//! per missed slot after downtime, and not again when the clock jumps back.

use chrono::{DateTime, Utc};

use crate::catalog::Catalog;
use crate::error::Result;
use crate::schedule::{Entry, Schedule, Target};

/// A slot that should run now.
#[derive(Debug, Clone)]
pub struct Due<'a> {
    pub entry: &'a Entry,
    /// The scheduled time (the latest one at or before now).
    pub slot: DateTime<Utc>,
    /// Slots of this entry that passed without a run (downtime); only the
    /// latest one runs.
    pub missed: bool,
}

/// Slots due at `now`. For each entry only its latest slot at or before
/// `now` is considered, so downtime yields one run, not one per missed slot.
/// A slot at or before the entry's last claimed slot is never due again
/// (the clock went back). An entry that never ran is due only when no
/// backup of its type was made since its latest slot.
pub fn due<'a>(
    schedule: &'a Schedule,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Result<Vec<Due<'a>>> {
    let mut out = Vec::new();
    for entry in &schedule.entries {
        let Some(slot) = entry.spec.latest_at_or_before(now, schedule.tz) else {
            continue;
        };
        match catalog.last_slot(&entry.id)? {
            Some(last) if last >= slot => continue,
            Some(last) => {
                let missed = entry
                    .spec
                    .next_after(last, schedule.tz)
                    .is_some_and(|first| first < slot);
                out.push(Due {
                    entry,
                    slot,
                    missed,
                });
            }
            None => {
                if !covered_since(catalog, schedule, entry.target, slot, now)? {
                    out.push(Due {
                        entry,
                        slot,
                        missed: slot < now - chrono::Duration::minutes(1),
                    });
                }
            }
        }
    }
    out.sort_by_key(|d| d.slot);
    Ok(out)
}

/// Claim a slot: true for exactly one caller across processes.
pub fn claim(catalog: &Catalog, entry: &str, slot: DateTime<Utc>) -> Result<bool> {
    catalog.claim_slot(
        entry,
        slot,
        Utc::now(),
        &crate::host::hostname(),
        std::process::id(),
    )
}

/// Whether a good backup of the target's type(s) was made between the slot
/// and `now` (so a first daemon start does not repeat it).
fn covered_since(
    catalog: &Catalog,
    schedule: &Schedule,
    target: Target,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let types = match target {
        Target::One(t) => vec![t],
        Target::All => schedule.types.clone(),
    };
    for t in types {
        if catalog
            .last_good_backup(t, now)?
            .is_some_and(|b| b.created_at >= since)
        {
            return Ok(true);
        }
    }
    Ok(false)
}
