//! When backups run: per-type schedules from the config, as cron
//! expressions or the plain forms operators write ("every 6h",
//! "daily 02:00", "weekly sun 02:00", "monthly 1 02:00"), in an explicit
//! time zone.
//!
//! Everything here takes `now` as an argument, so schedules, missed runs and
//! clock jumps are testable without waiting.

pub mod slots;

use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use croner::Cron;

use crate::archive::manifest::BackupType;
use crate::config::Config;
use crate::error::{Error, Result};

/// A parsed schedule expression.
#[derive(Debug, Clone)]
pub struct Spec {
    /// What the operator wrote.
    pub text: String,
    /// The equivalent five-field cron pattern.
    pub cron_pattern: String,
    cron: Cron,
}

impl Spec {
    /// Parse a plain form or a five-field cron expression.
    pub fn parse(text: &str) -> std::result::Result<Spec, String> {
        let pattern = to_cron_pattern(text.trim())?;
        let cron = Cron::from_str(&pattern).map_err(|e| format!("{e}"))?;
        Ok(Spec {
            text: text.trim().to_string(),
            cron_pattern: pattern,
            cron,
        })
    }

    /// First run strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&tz), false)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// Latest run at or before `t`.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&t.with_timezone(&tz), true)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }
}

const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// "every 6h" -> "0 */6 * * *", "daily 02:00" -> "0 2 * * *", ...; a cron
/// expression passes through after a field count check.
fn to_cron_pattern(text: &str) -> std::result::Result<String, String> {
    let lower = text.to_ascii_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    let hm = |s: &str| -> std::result::Result<(u32, u32), String> {
        let (h, m) = s
            .split_once(':')
            .ok_or_else(|| format!("\"{s}\" is not a time of day (HH:MM)"))?;
        match (h.parse::<u32>(), m.parse::<u32>()) {
            (Ok(h), Ok(m)) if h < 24 && m < 60 => Ok((h, m)),
            _ => Err(format!(
                "\"{s}\" is not a time of day (HH:MM, 00:00 to 23:59)"
            )),
        }
    };
    match words.as_slice() {
        ["hourly"] => Ok("0 * * * *".into()),
        ["daily"] => Ok("0 0 * * *".into()),
        ["every", n] | [n] if n.ends_with('h') || n.ends_with('m') => {
            let (num, unit) = n.split_at(n.len() - 1);
            let num: u32 = num
                .parse()
                .map_err(|_| format!("\"{n}\" is not an interval like 6h or 30m"))?;
            match unit {
                "h" if num > 0 && 24 % num == 0 => Ok(if num == 24 {
                    "0 0 * * *".into()
                } else {
                    format!("0 */{num} * * *")
                }),
                "m" if num > 0 && 60 % num == 0 => Ok(format!("*/{num} * * * *")),
                _ => Err(format!(
                    "\"every {n}\" does not divide the day evenly, so it cannot be kept aligned to the clock; use hours that divide 24 or minutes that divide 60, or a cron expression"
                )),
            }
        }
        ["daily", t] => {
            let (h, m) = hm(t)?;
            Ok(format!("{m} {h} * * *"))
        }
        ["weekly", day, t] => {
            let d = WEEKDAYS
                .iter()
                .position(|w| day.starts_with(w))
                .ok_or_else(|| format!("\"{day}\" is not a weekday (sun, mon, ... sat)"))?;
            let (h, m) = hm(t)?;
            Ok(format!("{m} {h} * * {d}"))
        }
        ["monthly", day, t] => {
            let d: u32 = day
                .parse()
                .ok()
                .filter(|d| (1..=28).contains(d))
                .ok_or_else(|| {
                    format!("\"{day}\" is not a day of the month from 1 to 28 (later days do not exist in every month)")
                })?;
            let (h, m) = hm(t)?;
            Ok(format!("{m} {h} {d} * *"))
        }
        _ if text.starts_with('@') => Ok(text.to_string()),
        _ => {
            let fields = text.split_whitespace().count();
            if fields == 5 {
                Ok(text.to_string())
            } else {
                Err(format!(
                    "\"{text}\" is neither a plain form (every 6h, daily 02:00, weekly sun 02:00, monthly 1 02:00) nor a five-field cron expression (minute hour day month weekday); it has {fields} fields"
                ))
            }
        }
    }
}

/// What a schedule entry runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    One(BackupType),
    /// `backup --all`.
    All,
}

impl Target {
    pub fn label(self) -> &'static str {
        match self {
            Target::One(t) => t.as_str(),
            Target::All => "all",
        }
    }
}

/// One line of the schedule.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Stable name, also the key of its slots in the catalog
    /// (`database`, `database.full.0`, `all.full.1`).
    pub id: String,
    pub target: Target,
    /// A full backup (filesystem: no incremental).
    pub full: bool,
    pub spec: Spec,
    /// The config key it came from, for messages.
    pub key: String,
}

/// Every entry, in its time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub tz: Tz,
    pub entries: Vec<Entry>,
    /// The types with a configured source (what `all` backs up).
    pub types: Vec<BackupType>,
}

/// One upcoming run.
#[derive(Debug, Clone)]
pub struct Run<'a> {
    pub at: DateTime<Utc>,
    pub entry: &'a Entry,
}

impl Schedule {
    /// The schedule in `config`, for the types that have a source
    /// configured (`configured`). A bad expression is an error naming its key.
    pub fn from_config(config: &Config, configured: &[BackupType]) -> Result<Schedule> {
        let s = &config.schedule;
        let tz = parse_tz(&s.timezone)?;
        let mut entries = Vec::new();
        let mut add = |target: Target, t: &crate::config::TypeSchedule| -> Result<()> {
            let label = target.label();
            // An empty expression means "not scheduled".
            let some = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
            let (cron, every) = (some(&t.cron), some(&t.every));
            let regular = match (&cron, &every) {
                (Some(_), Some(_)) => {
                    return Err(
                        Error::usage(format!("[schedule.{label}] has both cron and every"))
                            .hint("keep one of them"),
                    )
                }
                (Some(c), None) => Some(("cron", c)),
                (None, Some(e)) => Some(("every", e)),
                (None, None) => None,
            };
            if let Some((key, text)) = regular {
                entries.push(Entry {
                    id: label.to_string(),
                    target,
                    full: target == Target::All,
                    spec: spec_for(label, key, text)?,
                    key: format!("[schedule.{label}] {key}"),
                });
            }
            for (i, text) in t.full.iter().filter(|f| !f.trim().is_empty()).enumerate() {
                entries.push(Entry {
                    id: format!("{label}.full.{i}"),
                    target,
                    full: true,
                    spec: spec_for(label, "full", text)?,
                    key: format!("[schedule.{label}] full"),
                });
            }
            Ok(())
        };
        for t in configured {
            if let Some(ts) = s.for_type(*t) {
                add(Target::One(*t), ts)?;
            }
        }
        if !configured.is_empty() {
            add(Target::All, &s.all)?;
        }
        Ok(Schedule {
            tz,
            entries,
            types: configured.to_vec(),
        })
    }

    /// The next `n` runs after `now`, soonest first.
    pub fn upcoming(&self, now: DateTime<Utc>, n: usize) -> Vec<Run<'_>> {
        let mut runs = Vec::new();
        for e in &self.entries {
            let mut t = now;
            for _ in 0..n {
                match e.spec.next_after(t, self.tz) {
                    Some(at) => {
                        runs.push(Run { at, entry: e });
                        t = at;
                    }
                    None => break,
                }
            }
        }
        runs.sort_by_key(|r| r.at);
        runs.truncate(n);
        runs
    }

    /// The next run that backs up `t` (its own entries or `all`).
    pub fn next_for(&self, t: BackupType, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.types.contains(&t) {
            return None;
        }
        self.entries
            .iter()
            .filter(|e| e.target == Target::One(t) || e.target == Target::All)
            .filter_map(|e| e.spec.next_after(now, self.tz))
            .min()
    }

    /// The longest gap between two runs that back up `t`, over the next 62
    /// days: the best recovery point this schedule can promise.
    pub fn worst_gap(&self, t: BackupType, now: DateTime<Utc>) -> Option<Duration> {
        if !self.types.contains(&t) {
            return None;
        }
        let horizon = now + Duration::days(62);
        let mut times = Vec::new();
        for e in self
            .entries
            .iter()
            .filter(|e| e.target == Target::One(t) || e.target == Target::All)
        {
            let mut at = now;
            while let Some(next) = e.spec.next_after(at, self.tz) {
                if next > horizon || times.len() > 20_000 {
                    break;
                }
                times.push(next);
                at = next;
            }
        }
        times.sort();
        times.dedup();
        times.windows(2).map(|w| w[1] - w[0]).max()
    }
}

fn spec_for(label: &str, key: &str, text: &str) -> Result<Spec> {
    Spec::parse(text).map_err(|why| {
        Error::usage(format!(
            "invalid schedule in [schedule.{label}] {key} = \"{text}\": {why}"
        ))
        .hint("examples: every = \"6h\", every = \"daily 02:00\", full = \"weekly sun 02:00\", cron = \"30 2 * * *\"")
    })
}

/// "UTC", or an IANA name such as "Europe/Berlin".
pub fn parse_tz(name: &str) -> Result<Tz> {
    name.parse::<Tz>().map_err(|_| {
        Error::usage(format!(
            "invalid time zone in [schedule] timezone: \"{name}\""
        ))
        .hint("use \"UTC\" or an IANA name such as \"Europe/Berlin\" (see /usr/share/zoneinfo)")
    })
}

#[cfg(test)]
mod tests;
