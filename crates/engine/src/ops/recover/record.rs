//! What the recovery's own run cannot know, recorded after it: the app's
//! health once it is started again ([`record_app_health`]) and where the
//! backups came from when they were brought back from a copy target first
//! ([`record_source`]). Each goes in two places: a section appended to the
//! recovery's Markdown report, for the post-incident review, and an audit
//! record, which travels with the repository and cannot be edited quietly.
//!
//! Both are called by whoever knows the answer: the console's recovery
//! wizard (it checks the app, and it may fetch from a target before it
//! plans), and `lifeboat recover --from`.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::ops::copies::PullReport;
use crate::ops::Engine;

/// Where a recovery's backups came from when a copy target filled the
/// repository first (`recover --from`, the wizard's source choice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoverySource {
    /// The `[[targets]]` name.
    pub target: String,
    /// `s3`, `gcs`, `azure` or `local`.
    pub kind: String,
    /// Where it is, for people: `s3://panel-backups/lifeboat/`.
    pub location: String,
    /// Backups fetched into the repository.
    pub fetched: usize,
    /// Backups the repository already had.
    pub present: usize,
    /// Bytes fetched.
    pub bytes: u64,
    /// Objects that were not used, and why.
    pub not_used: Vec<String>,
}

impl RecoverySource {
    /// What `pull` brought back, with the target's kind and place from
    /// `config` (left empty for a target no longer configured).
    pub fn from_pull(config: &Config, pull: &PullReport) -> RecoverySource {
        let target = config.target(&pull.target).ok();
        RecoverySource {
            target: pull.target.clone(),
            kind: target
                .map(|t| t.kind.as_str().to_string())
                .unwrap_or_default(),
            location: target.map(|t| t.location()).unwrap_or_default(),
            fetched: pull.fetched.len(),
            present: pull.present.len(),
            bytes: pull.bytes,
            not_used: pull.skipped.clone(),
        }
    }

    /// "target 'offsite' (s3, s3://panel-backups/lifeboat/)".
    pub fn describe(&self) -> String {
        let place: Vec<&str> = [self.kind.as_str(), self.location.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        if place.is_empty() {
            format!("target '{}'", self.target)
        } else {
            format!("target '{}' ({})", self.target, place.join(", "))
        }
    }

    /// "3 fetched (12.0 MiB), 1 already in the repository, 0 not used".
    pub fn counts(&self) -> String {
        format!(
            "{} fetched ({}), {} already in the repository, {} not used",
            self.fetched,
            crate::units::size(self.bytes),
            self.present,
            self.not_used.len()
        )
    }
}

/// Record how the app answered its health check after a recovery, at `at`:
/// an "App health after recovery" section appended to the recovery's
/// Markdown report (`report_file`, when the recovery saved one) and an
/// audit record (`recover`, outcome `app-healthy` or `app-unhealthy`)
/// against the repository `engine` is over. `detail` says what was checked
/// and what it answered.
///
/// A recovery restores data; whether the app came back is known only to
/// whoever runs the app's checks (the console's recovery wizard), and a
/// report that said "restored" while the app was down would mislead the
/// post-incident review. Both records are attempted; the first error is
/// returned.
pub fn record_app_health(
    engine: &Engine,
    report_file: Option<&Path>,
    healthy: bool,
    detail: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let word = if healthy { "OK" } else { "FAILED" };
    let audited = engine.audit(
        "recover",
        &repository_target(engine),
        if healthy {
            "app-healthy"
        } else {
            "app-unhealthy"
        },
        &format!("app health after recovery: {word} ({detail})"),
    );
    let written = match report_file {
        Some(f) => append_section(f, &app_health_section(healthy, detail, at)),
        None => Ok(()),
    };
    audited.and(written)
}

/// The report's "App health after recovery" section.
fn app_health_section(healthy: bool, detail: &str, at: DateTime<Utc>) -> String {
    format!(
        "\n## App health after recovery: {} ({detail})\n\n- Checked at {}\n- {}\n",
        if healthy { "OK" } else { "FAILED" },
        at.format("%Y-%m-%d %H:%M:%S UTC"),
        if healthy {
            "The app answered its health check after the restore."
        } else {
            "The backups were restored, but the app is NOT healthy: the recovery is not complete until it is."
        }
    )
}

/// Record that the backups a recovery used were brought back from a copy
/// target at `at`: a "Source" section appended to the recovery's Markdown
/// report (`report_file`, when the recovery saved one) and an audit record
/// (`recover`, outcome `from-target`) against the repository `engine` is
/// over.
///
/// The recovery itself reads only the repository, so its report would say
/// the backups came from there; a review needs to know they crossed from
/// offsite first, and which copies were refused on the way. Both records
/// are attempted; the first error is returned.
pub fn record_source(
    engine: &Engine,
    report_file: Option<&Path>,
    source: &RecoverySource,
    at: DateTime<Utc>,
) -> Result<()> {
    let audited = engine.audit(
        "recover",
        &repository_target(engine),
        "from-target",
        &format!("backups from {}: {}", source.describe(), source.counts()),
    );
    let written = match report_file {
        Some(f) => append_section(f, &source_section(source, at)),
        None => Ok(()),
    };
    audited.and(written)
}

/// The report's "Source" section.
fn source_section(source: &RecoverySource, at: DateTime<Utc>) -> String {
    let mut s = format!(
        "\n## Source: {}\n\n- Brought back into the repository before the recovery, at {}: {}\n- Each backup was checked before it was used: its manifest parsed (and authenticated when a key file exists), every file's size and SHA-256 matched the manifest\n",
        source.describe(),
        at.format("%Y-%m-%d %H:%M:%S UTC"),
        source.counts()
    );
    for n in &source.not_used {
        s.push_str(&format!("- Not used: {n}\n"));
    }
    s
}

/// The repository as the recovery's own audit record names it.
fn repository_target(engine: &Engine) -> String {
    let repo = &engine.config.repository.path;
    std::fs::canonicalize(repo)
        .unwrap_or_else(|_| repo.clone())
        .display()
        .to_string()
}

/// Append `section` to the report file (rewritten whole, atomically).
fn append_section(file: &Path, section: &str) -> Result<()> {
    let mut md = std::fs::read_to_string(file)
        .map_err(|e| Error::io("cannot read the recovery report", file, e))?;
    if !md.ends_with('\n') {
        md.push('\n');
    }
    md.push_str(section);
    crate::storage::local::write_atomic(file, md.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> RecoverySource {
        RecoverySource {
            target: "offsite".into(),
            kind: "s3".into(),
            location: "s3://panel-backups/lb/".into(),
            fetched: 2,
            present: 1,
            bytes: 3 << 20,
            not_used: vec!["filesystem/x.tar.zst on target 'offsite': altered".into()],
        }
    }

    #[test]
    fn the_source_is_named_with_its_kind_place_and_counts() {
        let s = source();
        assert_eq!(
            s.describe(),
            "target 'offsite' (s3, s3://panel-backups/lb/)"
        );
        assert_eq!(
            s.counts(),
            "2 fetched (3 MiB), 1 already in the repository, 1 not used"
        );
        let gone = RecoverySource {
            kind: String::new(),
            location: String::new(),
            ..s
        };
        assert_eq!(gone.describe(), "target 'offsite'");
    }

    /// The report gets a Source section after what it had, the refused
    /// copies listed; the audit log a `recover` / `from-target` record.
    #[test]
    fn record_source_appends_a_section_and_audits_it() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("lifeboat.toml"),
            format!(
                "[repository]\npath = \"{0}/repo\"\n[catalog]\npath = \"{0}/catalog.db\"\n",
                d.display()
            ),
        )
        .unwrap();
        let config = Config::load(Some(&d.join("lifeboat.toml")), &|_| None, d).unwrap();
        let engine = Engine::open(config).unwrap();
        let report = d.join("recovery.md");
        std::fs::write(&report, "# Recovery report\n- Outcome: ok").unwrap();
        let at = "2026-12-05T18:00:00Z".parse().unwrap();
        record_source(&engine, Some(&report), &source(), at).unwrap();
        let md = std::fs::read_to_string(&report).unwrap();
        assert!(
            md.starts_with("# Recovery report\n- Outcome: ok\n\n## Source: target 'offsite' (s3, s3://panel-backups/lb/)\n"),
            "{md}"
        );
        assert!(
            md.contains("at 2026-12-05 18:00:00 UTC: 2 fetched (3 MiB), 1 already in the repository, 1 not used"),
            "{md}"
        );
        assert!(
            md.contains("- Not used: filesystem/x.tar.zst on target 'offsite': altered\n"),
            "{md}"
        );
        let newest = engine.catalog.list_audit(1, 0).unwrap().remove(0).entry;
        assert_eq!(
            (newest.action.as_str(), newest.outcome.as_str()),
            ("recover", "from-target")
        );
        assert!(
            newest
                .detail
                .contains("backups from target 'offsite' (s3, s3://panel-backups/lb/): 2 fetched"),
            "{}",
            newest.detail
        );
        // Without a report file, the audit record alone.
        let before = engine.catalog.audit_count().unwrap();
        record_source(&engine, None, &source(), at).unwrap();
        assert_eq!(engine.catalog.audit_count().unwrap(), before + 1);
    }
}
